/* `normbench report` as a whole: load the inputs, write the tables, draw the
 * figures and the self-contained index.html, and keep the output folder
 * free of stale files of an earlier report (manifest.txt). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "reports/nb_report.h"
#include "reports/nb_report_fig.h"
#include "reports/nb_report_html.h"

/* ----------------------------------------------------- finding things */

bool nb_report_find_program(const char *name, char *out, size_t size)
{
	const char *path;
	struct stat sb;

	if (!name || !*name)
		return false;
	if (strchr(name, '/')) {
		if (stat(name, &sb) != 0 || !S_ISREG(sb.st_mode) || access(name, X_OK) != 0)
			return false;
		nb_res_strcpy(out, size, name);
		return true;
	}
	path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *end = strchr(path, ':');
		size_t len = end ? (size_t)(end - path) : strlen(path);
		char cand[PATH_MAX];
		if (len == 0)
			snprintf(cand, sizeof(cand), "./%s", name);
		else
			snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, path, name);
		if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode) && access(cand, X_OK) == 0) {
			nb_res_strcpy(out, size, cand);
			return true;
		}
		if (!end)
			break;
		path = end + 1;
	}
	return false;
}

static bool nb_rep_has_scripts(const char *dir, char *out, size_t size)
{
	char probe[PATH_MAX], real[PATH_MAX];

	if (snprintf(probe, sizeof(probe), "%s/speedup.gp", dir) >= (int)sizeof(probe) ||
	    access(probe, R_OK) != 0 || !realpath(dir, real))
		return false;
	nb_res_strcpy(out, size, real);
	return true;
}

enum nb_status nb_report_find_scripts(const char *dir, char *out, size_t size)
{
	static const char *const rel[] = { "../../reports", "../reports", "reports",
					   "../share/normbench/reports" };
	char exe[PATH_MAX], tried[4 * PATH_MAX] = "";
	ssize_t len;

	if (dir) {
		if (nb_rep_has_scripts(dir, out, size))
			return NB_OK;
		return nb_fail(NB_ERR_NOTFOUND, "--scripts %s: no speedup.gp there (the gnuplot "
			       "scripts are in the source tree's reports/ folder)", dir);
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		char *slash;
		exe[len] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			char cand[PATH_MAX + 64];
			size_t tl = strlen(tried);
			snprintf(cand, sizeof(cand), "%s/%s", exe, rel[i]);
			if (nb_rep_has_scripts(cand, out, size))
				return NB_OK;
			snprintf(tried + tl, sizeof(tried) - tl, "%s%s", tl ? ", " : "", cand);
		}
	}
	if (nb_rep_has_scripts("reports", out, size))
		return NB_OK;
	return nb_fail(NB_ERR_NOTFOUND, "cannot find the gnuplot scripts (speedup.gp, ...): "
		       "tried %s and ./reports; pass --scripts DIR (the source tree's reports/)",
		       tried[0] ? tried : "(no /proc/self/exe)");
}

/* --------------------------------------------------------- the files */

/* The names written by this report, for the manifest. */
struct nb_rep_written {
	char **name;
	size_t n, cap;
};

static enum nb_status nb_rep_note(struct nb_rep_written *w, const char *name)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 64;
		char **p = realloc(w->name, cap * sizeof(*p));
		if (!p)
			return nb_fail(NB_ERR_NOMEM, "out of memory");
		w->name = p;
		w->cap = cap;
	}
	if (!(w->name[w->n] = strdup(name)))
		return nb_fail(NB_ERR_NOMEM, "out of memory");
	w->n++;
	return NB_OK;
}

static void nb_rep_written_free(struct nb_rep_written *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->name[i]);
	free(w->name);
}

/* One output file, written under a temporary name and renamed. */
struct nb_rep_out {
	FILE *fp;
	char path[PATH_MAX];
	char tmp[PATH_MAX + 32];
};

static enum nb_status nb_rep_open(const char *dir, const char *name, struct nb_rep_out *o)
{
	if (snprintf(o->path, sizeof(o->path), "%s/%s", dir, name) >= (int)sizeof(o->path))
		return nb_fail(NB_ERR_INVALID, "output folder name too long");
	snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.%ld", o->path, (long)getpid());
	o->fp = fopen(o->tmp, "w");
	if (!o->fp)
		return nb_fail(NB_ERR_IO, "cannot create %s: %s", o->tmp, strerror(errno));
	return NB_OK;
}

static enum nb_status nb_rep_close(struct nb_rep_out *o, enum nb_status st,
				   struct nb_rep_written *w, const char *name)
{
	bool bad = ferror(o->fp) != 0;

	if (fclose(o->fp) != 0 || bad) {
		if (st == NB_OK)
			st = nb_fail(NB_ERR_IO, "cannot write %s: %s", o->tmp, strerror(errno));
	}
	if (st == NB_OK && rename(o->tmp, o->path) != 0)
		st = nb_fail(NB_ERR_IO, "cannot rename %s to %s: %s", o->tmp, o->path,
			     strerror(errno));
	if (st != NB_OK)
		unlink(o->tmp);
	else
		st = nb_rep_note(w, name);
	return st;
}

static enum nb_status nb_rep_write_table(const struct nb_report_table *t, const char *dir,
					 struct nb_rep_written *w)
{
	static const char *const ext[] = { "md", "tex", "csv" };
	enum nb_status st = NB_OK;

	for (size_t i = 0; i < 3 && st == NB_OK; i++) {
		struct nb_rep_out o;
		char name[64];
		snprintf(name, sizeof(name), "%s.%s", t->name, ext[i]);
		st = nb_rep_open(dir, name, &o);
		if (st != NB_OK)
			break;
		st = i == 0 ? nb_report_write_markdown(t, o.fp)
			: i == 1 ? nb_report_write_latex(t, o.fp) : nb_report_write_csv(t, o.fp);
		st = nb_rep_close(&o, st, w, name);
	}
	return st;
}

/* Removes the files the previous report listed in its manifest that this
 * one did not write again, then writes the new manifest. */
static enum nb_status nb_rep_manifest(const char *dir, struct nb_rep_written *w)
{
	char path[PATH_MAX], line[PATH_MAX];
	struct nb_rep_out o;
	enum nb_status st;
	FILE *old;

	snprintf(path, sizeof(path), "%s/manifest.txt", dir);
	old = fopen(path, "r");
	while (old && fgets(line, sizeof(line), old)) {
		bool keep = false;
		line[strcspn(line, "\r\n")] = '\0';
		/* only plain names in this folder, never a path */
		if (!line[0] || line[0] == '#' || strchr(line, '/') || strcmp(line, "..") == 0 ||
		    strcmp(line, ".") == 0)
			continue;
		for (size_t i = 0; i < w->n && !keep; i++)
			keep = strcmp(w->name[i], line) == 0;
		if (!keep) {
			char stale[PATH_MAX + 256];
			snprintf(stale, sizeof(stale), "%s/%s", dir, line);
			unlink(stale);
		}
	}
	if (old)
		fclose(old);
	st = nb_rep_open(dir, "manifest.txt", &o);
	if (st != NB_OK)
		return st;
	fprintf(o.fp, "# files written by normbench report (removed or replaced by the next "
		"report into this folder)\n");
	for (size_t i = 0; i < w->n; i++)
		fprintf(o.fp, "%s\n", w->name[i]);
	fprintf(o.fp, "manifest.txt\n");
	return nb_rep_close(&o, NB_OK, w, "manifest.txt");
}

/* The whole Markdown report: machines and every table, one file. */
static enum nb_status nb_rep_write_all_md(struct nb_report_table *const *tabs, size_t ntabs,
					  const char *dir, struct nb_rep_written *w)
{
	struct nb_rep_out o;
	enum nb_status st = nb_rep_open(dir, "report.md", &o);

	if (st != NB_OK)
		return st;
	fprintf(o.fp, "# normbench report\n\n");
	for (size_t i = 0; i < ntabs && st == NB_OK; i++)
		if (tabs[i]->nrows > 0)
			st = nb_report_write_markdown(tabs[i], o.fp);
	return nb_rep_close(&o, st, w, "report.md");
}

/* ---------------------------------------------------------- the whole */

enum nb_status nb_report_generate(const struct nb_report_options *o,
				  struct nb_report_summary *summary)
{
	struct nb_report_input *in;
	/* zeroed: a table a failed build never reached frees as empty */
	struct nb_report_table machines = { 0 }, timing = { 0 }, block = { 0 },
		bandwidth = { 0 }, claims = { 0 }, accuracy = { 0 };
	struct nb_report_table *tabs[] = { &machines, &timing, &block, &bandwidth, &claims,
					   &accuracy };
	struct nb_report_figures figs = { 0 };
	struct nb_rep_written written = { 0 };
	struct nb_report_html_info info = { 0 };
	char gnuplot[PATH_MAX] = "", scripts[PATH_MAX] = "", probe[PATH_MAX + 8];
	char fig_msg[1024] = "";
	enum nb_status st = NB_OK, fig_st = NB_OK;
	size_t loaded = 0, ntabs = sizeof(tabs) / sizeof(tabs[0]);

	memset(summary, 0, sizeof(*summary));
	if (o->nfiles == 0)
		return nb_fail(NB_ERR_INVALID, "no input file");
	in = calloc(o->nfiles, sizeof(*in));
	if (!in)
		return nb_fail(NB_ERR_NOMEM, "out of memory for the inputs");
	for (; loaded < o->nfiles; loaded++) {
		st = nb_report_load(o->files[loaded], &in[loaded]);
		if (st != NB_OK) {
			loaded++;
			goto free_inputs;
		}
	}
	nb_report_label_inputs(in, o->nfiles);

	/* the programs first: a missing script folder is an error before
	 * anything is written, a missing gnuplot only skips the figures */
	if (o->figures) {
		st = nb_report_find_scripts(o->scripts_dir, scripts, sizeof(scripts));
		if (st != NB_OK)
			goto free_inputs;
		summary->gnuplot_missing = !nb_report_find_program(o->gnuplot ? o->gnuplot
								   : "gnuplot", gnuplot,
								   sizeof(gnuplot));
	}
	snprintf(probe, sizeof(probe), "%s/x", o->out_dir);
	st = nb_results_make_parent_dirs(probe);
	if (st != NB_OK)
		goto free_inputs;

	st = nb_report_build_machines(in, o->nfiles, &machines);
	if (st == NB_OK)
		st = nb_report_build_timing(in, o->nfiles, &timing);
	if (st == NB_OK)
		st = nb_report_build_block(in, o->nfiles, &block);
	if (st == NB_OK)
		st = nb_report_build_bandwidth(in, o->nfiles, &bandwidth);
	if (st == NB_OK)
		st = nb_report_build_claims(in, o->nfiles, &claims);
	if (st == NB_OK)
		st = nb_report_build_accuracy(in, o->nfiles, &accuracy);
	for (size_t i = 0; i < ntabs && st == NB_OK; i++)
		if (tabs[i]->nrows > 0) {
			st = nb_rep_write_table(tabs[i], o->out_dir, &written);
			summary->tables++;
		}
	if (st == NB_OK)
		st = nb_rep_write_all_md(tabs, ntabs, o->out_dir, &written);
	if (st != NB_OK)
		goto free_tables;

	if (o->figures && !summary->gnuplot_missing) {
		st = nb_report_figures_plan(in, o->nfiles, o->out_dir, &figs);
		summary->figures_planned = figs.n;
		if (st == NB_OK && !o->quiet && figs.n > 0) {
			printf("drawing %zu figure%s with %s ...\n", figs.n, figs.n == 1 ? "" : "s",
			       gnuplot);
			fflush(stdout);
		}
		if (st == NB_OK)
			st = nb_report_figures_draw(&figs, o->out_dir, gnuplot, scripts,
						    &summary->figures_failed);
		for (size_t i = 0; i < figs.n && st == NB_OK; i++) {
			char name[sizeof(figs.fig[i].stem) + 8];
			snprintf(name, sizeof(name), "%s.dat", figs.fig[i].stem);
			st = nb_rep_note(&written, name);
			if (figs.fig[i].drawn) {
				summary->figures++;
				snprintf(name, sizeof(name), "%s.png", figs.fig[i].stem);
				if (st == NB_OK)
					st = nb_rep_note(&written, name);
				snprintf(name, sizeof(name), "%s.svg", figs.fig[i].stem);
				if (st == NB_OK)
					st = nb_rep_note(&written, name);
			}
		}
		if (st == NB_OK && figs.n > 0)
			st = nb_rep_note(&written, "gnuplot.log");
		if (st != NB_OK)
			goto free_figures;
		if (summary->figures_failed)
			fig_st = nb_fail(NB_ERR_IO, "gnuplot failed on %zu of %zu figures (see %s/"
					 "gnuplot.log)", summary->figures_failed, figs.n, o->out_dir);
		nb_res_strcpy(fig_msg, sizeof(fig_msg), nb_error());
	} else if (o->figures) {
		fig_st = nb_fail(NB_ERR_UNSUPPORTED, "gnuplot not found (looked for '%s'%s): "
				 "figures not drawn; the tables and index.html were written. "
				 "Install gnuplot (e.g. apt-get install gnuplot-nox) or pass "
				 "--no-figures", o->gnuplot ? o->gnuplot : "gnuplot",
				 o->gnuplot && strchr(o->gnuplot, '/') ? "" : " in PATH");
		nb_res_strcpy(fig_msg, sizeof(fig_msg), nb_error());
	}

	info.figures_wanted = o->figures;
	info.gnuplot_missing = summary->gnuplot_missing;
	info.figures_failed = summary->figures_failed;
	st = nb_report_write_html(in, o->out_dir, o->nfiles, tabs, ntabs, &figs, &info,
				  summary->index, sizeof(summary->index));
	if (st == NB_OK)
		st = nb_rep_note(&written, "index.html");
	if (st == NB_OK)
		st = nb_rep_manifest(o->out_dir, &written);
	if (st == NB_OK && fig_st != NB_OK)
		st = nb_fail(fig_st, "%s", fig_msg);
free_figures:
	nb_report_figures_free(&figs);
free_tables:
	for (size_t i = 0; i < ntabs; i++)
		nb_report_table_free(tabs[i]);
	nb_rep_written_free(&written);
free_inputs:
	for (size_t i = 0; i < loaded; i++)
		nb_report_input_free(&in[i]);
	free(in);
	return st;
}
