/* The report's table model (key columns, machines side by side) and its four
 * writers: Markdown, LaTeX (booktabs), tidy CSV and an HTML fragment. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "reports/nb_report.h"

void nb_report_table_init(struct nb_report_table *t, const char *name, const char *title,
			  const struct nb_report_input *mach, size_t nmach)
{
	memset(t, 0, sizeof(*t));
	nb_res_strcpy(t->name, sizeof(t->name), name);
	nb_res_strcpy(t->title, sizeof(t->title), title);
	t->mach = mach;
	t->nmach = nmach;
}

void nb_report_table_columns(struct nb_report_table *t, const struct nb_report_col *key,
			     size_t nkey, size_t ngroup, const struct nb_report_col *val,
			     size_t nval, const char *const *csv, size_t ncsv)
{
	t->nkey = nkey;
	t->ngroup = ngroup;
	memcpy(t->key, key, nkey * sizeof(*key));
	t->nval = nval;
	memcpy(t->val, val, nval * sizeof(*val));
	t->ncsv = ncsv;
	memcpy(t->csv, csv, ncsv * sizeof(*csv));
}

static void nb_rep_row_free(const struct nb_report_table *t, struct nb_report_row *r)
{
	free(r->id);
	for (size_t k = 0; k < t->nkey; k++)
		free(r->key[k]);
	for (size_t i = 0; r->val && i < t->nmach * t->nval; i++)
		free(r->val[i]);
	for (size_t i = 0; r->csv && i < t->nmach * t->ncsv; i++)
		free(r->csv[i]);
	free(r->val);
	free(r->csv);
}

void nb_report_table_free(struct nb_report_table *t)
{
	for (size_t i = 0; i < t->nrows; i++)
		nb_rep_row_free(t, &t->rows[i]);
	free(t->rows);
	t->rows = NULL;
	t->nrows = t->cap = 0;
}

struct nb_report_row *nb_report_table_row(struct nb_report_table *t, const char *id,
					  const char *const *key)
{
	struct nb_report_row *r;

	for (size_t i = t->nrows; i-- > 0;)
		if (strcmp(t->rows[i].id, id) == 0)
			return &t->rows[i];
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? 2 * t->cap : 64;
		struct nb_report_row *rows = realloc(t->rows, cap * sizeof(*rows));
		if (!rows)
			return NULL;
		t->rows = rows;
		t->cap = cap;
	}
	r = &t->rows[t->nrows];
	memset(r, 0, sizeof(*r));
	r->order = t->nrows;
	r->id = strdup(id);
	r->val = calloc(t->nmach * t->nval + 1, sizeof(char *));
	r->csv = calloc(t->nmach * t->ncsv + 1, sizeof(char *));
	bool ok = r->id && r->val && r->csv;
	for (size_t k = 0; k < t->nkey && ok; k++)
		ok = (r->key[k] = strdup(key[k] ? key[k] : "")) != NULL;
	if (!ok) {
		nb_rep_row_free(t, r);
		return NULL;
	}
	t->nrows++;
	return r;
}

static enum nb_status nb_rep_vset(char **slot, const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return nb_fail(NB_ERR_NOMEM, "out of memory writing a table");
	free(*slot);
	*slot = s;
	return NB_OK;
}

enum nb_status nb_report_set_val(struct nb_report_table *t, struct nb_report_row *row,
				 size_t m, size_t col, const char *fmt, ...)
{
	va_list ap;
	enum nb_status st;

	va_start(ap, fmt);
	st = nb_rep_vset(&row->val[m * t->nval + col], fmt, ap);
	va_end(ap);
	return st;
}

enum nb_status nb_report_set_csv(struct nb_report_table *t, struct nb_report_row *row,
				 size_t m, size_t col, const char *fmt, ...)
{
	va_list ap;
	enum nb_status st;

	va_start(ap, fmt);
	st = nb_rep_vset(&row->csv[m * t->ncsv + col], fmt, ap);
	va_end(ap);
	return st;
}

static int nb_rep_row_cmp(const void *a, const void *b)
{
	const struct nb_report_row *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

void nb_report_table_sort(struct nb_report_table *t)
{
	if (t->nrows > 1)
		qsort(t->rows, t->nrows, sizeof(*t->rows), nb_rep_row_cmp);
}

static bool nb_rep_has(const struct nb_report_table *t, const struct nb_report_row *r,
		       size_t m)
{
	for (size_t c = 0; c < t->nval; c++)
		if (r->val[m * t->nval + c])
			return true;
	return false;
}

/* Machines without a single row in this table get no columns in the
 * side-by-side forms (e.g. a verify-only file in the timing table). */
static bool nb_rep_mach_used(const struct nb_report_table *t, size_t m)
{
	for (size_t i = 0; i < t->nrows; i++)
		if (nb_rep_has(t, &t->rows[i], m))
			return true;
	return false;
}

static size_t nb_rep_nused(const struct nb_report_table *t)
{
	size_t k = 0;

	for (size_t m = 0; m < t->nmach; m++)
		k += nb_rep_mach_used(t, m);
	return k;
}

/* Whether key column k of row i is printed: the grouping columns are left
 * blank while they and every column before them repeat the row above. */
static bool nb_rep_key_shown(const struct nb_report_table *t, size_t i, size_t k)
{
	if (i == 0 || k >= t->ngroup)
		return true;
	for (size_t j = 0; j <= k; j++)
		if (strcmp(t->rows[i].key[j], t->rows[i - 1].key[j]) != 0)
			return true;
	return false;
}

/* A new group starts at row i (LaTeX: a little space above it). */
static bool nb_rep_group_starts(const struct nb_report_table *t, size_t i)
{
	return i > 0 && t->ngroup > 0 && nb_rep_key_shown(t, i, t->ngroup - 1);
}

/* Whether machine m's values in t are timings (or derived from timings) of
 * an emulated run: they measure the emulator, not a CPU. */
static bool nb_rep_emulated(const struct nb_report_table *t, size_t m)
{
	return t->timed && t->mach[m].res.meta.emulated[0] != '\0';
}

/* The mark an emulated machine's timing columns carry in every format. */
#define NB_REP_EMULATED_MARK " (EMULATED)"

/* The header of value column c of machine m: "label: name" when the
 * machines are labelled, the emulation mark after the label (or after the
 * name when there is none). */
static void nb_rep_val_header(const struct nb_report_table *t, size_t m, size_t c,
			      bool label, char *h, size_t size)
{
	const char *mark = nb_rep_emulated(t, m) ? NB_REP_EMULATED_MARK : "";

	if (label)
		snprintf(h, size, "%s%s: %s", t->mach[m].label, mark, t->val[c].name);
	else
		snprintf(h, size, "%s%s", t->val[c].name, mark);
}

/* One note per emulated machine with columns in t: pre, the text escaped
 * by esc, post. */
static void nb_rep_emulation_notes(const struct nb_report_table *t, FILE *out,
				   void (*esc)(const char *, FILE *), const char *pre,
				   const char *post)
{
	for (size_t m = 0; m < t->nmach; m++) {
		char note[1024];

		if (!nb_rep_emulated(t, m) || !nb_rep_mach_used(t, m))
			continue;
		snprintf(note, sizeof(note), "%s was an emulated run: %s. Timings are not "
			 "hardware figures: its times, speedups and bandwidths measure the "
			 "emulator, not a CPU.", t->mach[m].label, t->mach[m].res.meta.emulated);
		fputs(pre, out);
		esc(note, out);
		fputs(post, out);
	}
}

/* ------------------------------------------------------------- Markdown */

static void nb_rep_md_text(const char *s, FILE *out)
{
	fputs(s, out);
}

static void nb_rep_md_cell(const char *s, FILE *out)
{
	fputc(' ', out);
	for (; s && *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else if (*s == '\n')
			fputc(' ', out);
		else
			fputc(*s, out);
	}
	fputs(" |", out);
}

enum nb_status nb_report_write_markdown(const struct nb_report_table *t, FILE *out)
{
	bool label = t->nmach > 1;  /* several inputs: say whose columns */

	fprintf(out, "### %s\n\n", t->title);
	if (t->nrows == 0) {
		fprintf(out, "(no data in the input files)\n\n");
		return NB_OK;
	}
	nb_rep_emulation_notes(t, out, nb_rep_md_text, "**EMULATED**: ", "\n\n");
	fputc('|', out);
	for (size_t k = 0; k < t->nkey; k++)
		nb_rep_md_cell(t->key[k].name, out);
	for (size_t m = 0; m < t->nmach; m++) {
		if (!nb_rep_mach_used(t, m))
			continue;
		for (size_t c = 0; c < t->nval; c++) {
			char h[512];
			nb_rep_val_header(t, m, c, label, h, sizeof(h));
			nb_rep_md_cell(h, out);
		}
	}
	fputs("\n|", out);
	for (size_t k = 0; k < t->nkey; k++)
		fputs(t->key[k].right ? "---:|" : "---|", out);
	for (size_t m = 0; m < t->nmach; m++) {
		if (!nb_rep_mach_used(t, m))
			continue;
		for (size_t c = 0; c < t->nval; c++)
			fputs(t->val[c].right ? "---:|" : "---|", out);
	}
	fputc('\n', out);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct nb_report_row *r = &t->rows[i];
		fputc('|', out);
		for (size_t k = 0; k < t->nkey; k++)
			nb_rep_md_cell(nb_rep_key_shown(t, i, k) ? r->key[k] : "", out);
		for (size_t m = 0; m < t->nmach; m++) {
			if (!nb_rep_mach_used(t, m))
				continue;
			for (size_t c = 0; c < t->nval; c++) {
				const char *v = r->val[m * t->nval + c];
				nb_rep_md_cell(v ? v : (nb_rep_has(t, r, m) ? "" : "–"), out);
			}
		}
		fputc('\n', out);
	}
	if (t->caption[0])
		fprintf(out, "\n%s\n", t->caption);
	fputc('\n', out);
	return ferror(out) ? nb_fail(NB_ERR_IO, "cannot write the %s table", t->name) : NB_OK;
}

/* ---------------------------------------------------------------- LaTeX */

/* UTF-8 symbols of the tables and their LaTeX spelling (text mode). */
static const struct { const char *utf8, *latex; } nb_rep_latex_map[] = {
	{ "\xc3\x97", "$\\times$" },          /* × */
	{ "\xc2\xb5", "$\\mu$" },             /* µ */
	{ "\xce\xbc", "$\\mu$" },             /* μ */
	{ "\xe2\x80\xa0", "$^\\dagger$" },    /* † */
	{ "\xe2\x80\xa1", "$^\\ddagger$" },   /* ‡ */
	{ "\xc2\xa7", "$^\\S$" },             /* § */
	{ "\xe2\x80\x93", "--" },             /* – */
	{ "\xe2\x80\x94", "---" },            /* — */
	{ "\xe2\x88\x92", "$-$" },            /* − */
	{ "\xe2\x89\xa4", "$\\le$" },         /* ≤ */
	{ "\xe2\x89\xa5", "$\\ge$" },         /* ≥ */
	{ "\xe2\x86\x92", "$\\to$" },         /* → */
	{ "\xc2\xb1", "$\\pm$" },             /* ± */
	{ "\xe2\x89\x88", "$\\approx$" },     /* ≈ */
};

void nb_report_latex_escape(const char *s, FILE *out)
{
	for (const char *p = s; p && *p;) {
		bool mapped = false;
		for (size_t i = 0; i < sizeof(nb_rep_latex_map) / sizeof(nb_rep_latex_map[0]); i++) {
			size_t len = strlen(nb_rep_latex_map[i].utf8);
			if (strncmp(p, nb_rep_latex_map[i].utf8, len) == 0) {
				fputs(nb_rep_latex_map[i].latex, out);
				p += len;
				mapped = true;
				break;
			}
		}
		if (mapped)
			continue;
		switch (*p) {
		case '\\': fputs("\\textbackslash{}", out); break;
		case '&': case '%': case '$': case '#': case '_': case '{': case '}':
			fputc('\\', out);
			fputc(*p, out);
			break;
		case '~': fputs("\\textasciitilde{}", out); break;
		case '^': fputs("\\textasciicircum{}", out); break;
		case '<': fputs("\\textless{}", out); break;
		case '>': fputs("\\textgreater{}", out); break;
		case '-':
			/* a minus sign of a number, not a hyphen */
			if (p[1] >= '0' && p[1] <= '9' && (p == s || p[-1] == ' ' || p[-1] == '['
							   || p[-1] == '('))
				fputs("$-$", out);
			else
				fputc('-', out);
			break;
		default: fputc(*p, out);
		}
		p++;
	}
}

enum nb_status nb_report_write_latex(const struct nb_report_table *t, FILE *out)
{
	size_t nused = nb_rep_nused(t), ncols = t->nkey + nused * t->nval, used = 0;

	fprintf(out, "%% normbench report: %s. Needs \\usepackage{booktabs} in the preamble.\n"
		"%% Long tables: replace table/tabular by longtable (package longtable).\n",
		t->title);
	fprintf(out, "\\begin{table}[htbp]\n\\centering\n\\small\n\\caption{");
	nb_report_latex_escape(t->title, out);
	fprintf(out, "}\n\\label{tab:normbench-%s}\n", t->name);
	if (t->nrows == 0) {
		fprintf(out, "(no data in the input files)\n\\end{table}\n");
		return NB_OK;
	}
	fprintf(out, "\\begin{tabular}{");
	for (size_t k = 0; k < t->nkey; k++)
		fputc(t->key[k].right ? 'r' : 'l', out);
	for (size_t m = 0; m < nused; m++) {
		fputc(' ', out);
		for (size_t c = 0; c < t->nval; c++)
			fputc(t->val[c].right ? 'r' : 'l', out);
	}
	fprintf(out, "}\n\\toprule\n");
	if (t->nmach > 1) {
		for (size_t k = 0; k < t->nkey; k++)
			fputs(" & ", out);
		for (size_t m = 0; m < t->nmach; m++) {
			if (!nb_rep_mach_used(t, m))
				continue;
			fprintf(out, "\\multicolumn{%zu}{c}{", t->nval);
			nb_report_latex_escape(t->mach[m].label, out);
			if (nb_rep_emulated(t, m))
				fputs(NB_REP_EMULATED_MARK, out);
			fprintf(out, "}%s", ++used < nused ? " & " : " \\\\\n");
		}
		for (size_t u = 0; u < nused; u++)
			fprintf(out, "\\cmidrule(lr){%zu-%zu}", t->nkey + u * t->nval + 1,
				t->nkey + (u + 1) * t->nval);
		fputc('\n', out);
	}
	for (size_t col = 0; col < ncols; col++) {
		const struct nb_report_col *c = col < t->nkey ? &t->key[col]
			: &t->val[(col - t->nkey) % t->nval];
		nb_report_latex_escape(c->name, out);
		/* one machine: no machine row above, the names carry the mark */
		if (col >= t->nkey && t->nmach == 1 && nb_rep_emulated(t, 0))
			fputs(NB_REP_EMULATED_MARK, out);
		fputs(col + 1 < ncols ? " & " : " \\\\\n", out);
	}
	fputs("\\midrule\n", out);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct nb_report_row *r = &t->rows[i];
		size_t col = t->nkey;
		if (nb_rep_group_starts(t, i))
			fputs("\\addlinespace\n", out);
		for (size_t k = 0; k < t->nkey; k++) {
			if (nb_rep_key_shown(t, i, k))
				nb_report_latex_escape(r->key[k], out);
			fputs(k + 1 < ncols ? " & " : "", out);
		}
		for (size_t m = 0; m < t->nmach; m++) {
			if (!nb_rep_mach_used(t, m))
				continue;
			for (size_t c = 0; c < t->nval; c++) {
				const char *v = r->val[m * t->nval + c];
				nb_report_latex_escape(v ? v : (nb_rep_has(t, r, m) ? "" : "--"), out);
				fputs(++col < ncols ? " & " : "", out);
			}
		}
		fputs(" \\\\\n", out);
	}
	fputs("\\bottomrule\n\\end{tabular}\n", out);
	if (t->caption[0]) {
		fputs("\\par\\smallskip\\footnotesize ", out);
		nb_report_latex_escape(t->caption, out);
		fputc('\n', out);
	}
	nb_rep_emulation_notes(t, out, nb_report_latex_escape,
			       "\\par\\smallskip\\footnotesize\\textbf{EMULATED}: ", "\n");
	fputs("\\end{table}\n", out);
	return ferror(out) ? nb_fail(NB_ERR_IO, "cannot write the %s table", t->name) : NB_OK;
}

/* ------------------------------------------------------------------ CSV */

void nb_report_csv_field(const char *s, FILE *out)
{
	if (!s)
		s = "";
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

enum nb_status nb_report_write_csv(const struct nb_report_table *t, FILE *out)
{
	fputs("machine,host,file,emulated", out);
	for (size_t c = 0; c < t->ncsv; c++) {
		fputc(',', out);
		nb_report_csv_field(t->csv[c], out);
	}
	fputc('\n', out);
	for (size_t m = 0; m < t->nmach; m++)
		for (size_t i = 0; i < t->nrows; i++) {
			const struct nb_report_row *r = &t->rows[i];
			if (!nb_rep_has(t, r, m))
				continue;
			nb_report_csv_field(t->mach[m].label, out);
			fputc(',', out);
			nb_report_csv_field(t->mach[m].res.meta.host, out);
			fputc(',', out);
			nb_report_csv_field(t->mach[m].path, out);
			fputc(',', out);
			nb_report_csv_field(t->mach[m].res.meta.emulated, out);
			for (size_t c = 0; c < t->ncsv; c++) {
				fputc(',', out);
				nb_report_csv_field(r->csv[m * t->ncsv + c], out);
			}
			fputc('\n', out);
		}
	return ferror(out) ? nb_fail(NB_ERR_IO, "cannot write the %s table", t->name) : NB_OK;
}

/* ----------------------------------------------------------------- HTML */

void nb_report_html_escape(const char *s, FILE *out)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out);
		}
	}
}

enum nb_status nb_report_write_html_table(const struct nb_report_table *t, FILE *out)
{
	if (t->nrows == 0) {
		fputs("<p class=\"note\">(no data in the input files)</p>\n", out);
		return NB_OK;
	}
	nb_rep_emulation_notes(t, out, nb_report_html_escape,
			       "<p class=\"warn\"><b>EMULATED</b>: ", "</p>\n");
	fputs("<div class=\"tablewrap\"><table>\n<thead>\n", out);
	if (t->nmach > 1) {
		fprintf(out, "<tr><th colspan=\"%zu\"></th>", t->nkey);
		for (size_t m = 0; m < t->nmach; m++) {
			if (!nb_rep_mach_used(t, m))
				continue;
			fprintf(out, "<th colspan=\"%zu\" class=\"mach\">", t->nval);
			nb_report_html_escape(t->mach[m].label, out);
			if (nb_rep_emulated(t, m))
				fputs(NB_REP_EMULATED_MARK, out);
			fputs("</th>", out);
		}
		fputs("</tr>\n", out);
	}
	fputs("<tr>", out);
	for (size_t k = 0; k < t->nkey; k++) {
		fputs("<th>", out);
		nb_report_html_escape(t->key[k].name, out);
		fputs("</th>", out);
	}
	for (size_t m = 0; m < t->nmach; m++) {
		if (!nb_rep_mach_used(t, m))
			continue;
		for (size_t c = 0; c < t->nval; c++) {
			fputs(c == 0 ? "<th class=\"first\">" : "<th>", out);
			nb_report_html_escape(t->val[c].name, out);
			if (t->nmach == 1 && nb_rep_emulated(t, m))
				fputs(NB_REP_EMULATED_MARK, out);
			fputs("</th>", out);
		}
	}
	fputs("</tr>\n</thead>\n<tbody>\n", out);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct nb_report_row *r = &t->rows[i];
		fputs(nb_rep_group_starts(t, i) ? "<tr class=\"group\">" : "<tr>", out);
		for (size_t k = 0; k < t->nkey; k++) {
			fputs(t->key[k].right ? "<td class=\"r\">" : "<td>", out);
			if (nb_rep_key_shown(t, i, k))
				nb_report_html_escape(r->key[k], out);
			fputs("</td>", out);
		}
		for (size_t m = 0; m < t->nmach; m++) {
			if (!nb_rep_mach_used(t, m))
				continue;
			for (size_t c = 0; c < t->nval; c++) {
				const char *v = r->val[m * t->nval + c];
				const char *cls = t->val[c].right ? (c == 0 ? "r first" : "r")
					: (c == 0 ? "first" : "");
				fprintf(out, "<td class=\"%s\">", cls);
				nb_report_html_escape(v ? v : (nb_rep_has(t, r, m) ? "" : "–"), out);
				fputs("</td>", out);
			}
		}
		fputs("</tr>\n", out);
	}
	fputs("</tbody>\n</table></div>\n", out);
	if (t->caption[0]) {
		fputs("<p class=\"caption\">", out);
		nb_report_html_escape(t->caption, out);
		fputs("</p>\n", out);
	}
	return ferror(out) ? nb_fail(NB_ERR_IO, "cannot write the %s table", t->name) : NB_OK;
}
