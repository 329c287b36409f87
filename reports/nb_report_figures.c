/* The report's figures: per machine, the speedup bars, GB/s against d with
 * the copy roof, thread scaling and the end-to-end block per (dtype,
 * direction), and the accuracy bars; data files written here, images drawn
 * by the external gnuplot running reports/<figure>.gp. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/nb_dtype.h"
#include "reports/nb_report_fig.h"

void nb_report_figures_free(struct nb_report_figures *f)
{
	free(f->fig);
	f->fig = NULL;
	f->n = f->cap = 0;
}

void nb_report_gp_quote(const char *s, char *out, size_t size)
{
	size_t j = 0;

	if (size < 3) {
		if (size)
			out[0] = '\0';
		return;
	}
	out[j++] = '\'';
	for (; *s && j + 3 < size; s++) {
		if (*s == '\'')
			out[j++] = '\'';
		if (*s == '\n' || *s == '\r')
			out[j++] = ' ';
		else
			out[j++] = *s;
	}
	out[j++] = '\'';
	out[j] = '\0';
}

/* A new figure with its data file open for writing (NULL on failure). */
static FILE *nb_rep_fig_new(struct nb_report_figures *f, const char *dir,
			    const struct nb_report_input *in, size_t machine,
			    enum nb_report_section sec, const char *script, const char *what,
			    const char *suffix, struct nb_report_figure **out)
{
	struct nb_report_figure *g;
	char path[PATH_MAX];
	FILE *fp;

	if (f->n == f->cap) {
		size_t cap = f->cap ? 2 * f->cap : 16;
		struct nb_report_figure *p = realloc(f->fig, cap * sizeof(*p));
		if (!p) {
			nb_fail(NB_ERR_NOMEM, "out of memory for the figures");
			return NULL;
		}
		f->fig = p;
		f->cap = cap;
	}
	g = &f->fig[f->n];
	memset(g, 0, sizeof(*g));
	snprintf(g->stem, sizeof(g->stem), "fig-%s-%s%s%s", script, in[machine].slug,
		 suffix[0] ? "-" : "", suffix);
	nb_res_strcpy(g->script, sizeof(g->script), script);
	snprintf(g->title, sizeof(g->title), "%s, %s: %s", in[machine].label,
		 in[machine].res.meta.utc_time[0] ? in[machine].res.meta.utc_time : "undated",
		 what);
	g->section = sec;
	g->machine = machine;
	if (snprintf(path, sizeof(path), "%s/%s.dat", dir, g->stem) >= (int)sizeof(path)) {
		nb_fail(NB_ERR_INVALID, "output folder name too long");
		return NULL;
	}
	fp = fopen(path, "w");
	if (!fp) {
		nb_fail(NB_ERR_IO, "cannot create %s: %s", path, strerror(errno));
		return NULL;
	}
	fprintf(fp, "# normbench report: %s\n", g->title);
	f->n++;
	*out = g;
	return fp;
}

static enum nb_status nb_rep_fig_close(FILE *fp, const struct nb_report_figure *g)
{
	bool bad = ferror(fp) != 0;

	if (fclose(fp) != 0 || bad)
		return nb_fail(NB_ERR_IO, "cannot write %s.dat", g->stem);
	return NB_OK;
}

/* Data values: "?" is gnuplot's missing value here. */
static void nb_rep_dat_num(FILE *fp, double x)
{
	if (isfinite(x))
		fprintf(fp, "\t%.9g", x);
	else
		fputs("\t?", fp);
}

static void nb_rep_cfg_label(const struct nb_cell_row *c, bool threads, char *buf, size_t size)
{
	int len = snprintf(buf, size, "%llux%llu", (unsigned long long)c->rows,
			   (unsigned long long)c->d);
	if (threads && len > 0 && (size_t)len < size)
		len += snprintf(buf + len, size - (size_t)len, " t%d", (int)c->threads);
	if (strcmp(c->cache, "hot") != 0 && len > 0 && (size_t)len < size)
		snprintf(buf + len, size - (size_t)len, " %s", c->cache);
}

static int nb_rep_clampi(int x, int lo, int hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/* The distinct series names of entries [lo, hi) with keep(), in order. */
struct nb_rep_series {
	const char *name[32];
	size_t n;
};

static void nb_rep_series_add(struct nb_rep_series *s, const struct nb_report_entry *e)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->name[i], e->series) == 0)
			return;
	if (s->n < 32)
		s->name[s->n++] = e->series;
}

/* Sorts the series by their entries' order (insertion sort, few). */
static void nb_rep_series_sort(struct nb_rep_series *s, const struct nb_report_entry *e,
			       size_t ne)
{
	int ord[32];

	for (size_t i = 0; i < s->n; i++) {
		ord[i] = 99;
		for (size_t j = 0; j < ne; j++)
			if (strcmp(e[j].series, s->name[i]) == 0) {
				ord[i] = e[j].series_order;
				break;
			}
	}
	for (size_t i = 1; i < s->n; i++)
		for (size_t j = i; j > 0 && ord[j - 1] > ord[j]; j--) {
			const char *t = s->name[j];
			int o = ord[j];
			s->name[j] = s->name[j - 1];
			ord[j] = ord[j - 1];
			s->name[j - 1] = t;
			ord[j - 1] = o;
		}
}

static bool nb_rep_same_slice(const struct nb_cell_row *a, const struct nb_cell_row *b)
{
	return strcmp(a->dtype, b->dtype) == 0 && strcmp(a->dir, b->dir) == 0;
}

/* ------------------------------------------------------ speedup bars */

static enum nb_status nb_rep_fig_speedup(const struct nb_report_input *in, size_t mi,
					 const struct nb_report_entry *e, size_t lo, size_t hi,
					 const char *dir, struct nb_report_figures *f)
{
	const struct nb_results *r = &in[mi].res;
	const struct nb_cell_row *c0 = &r->cells[e[lo].cell];
	struct nb_rep_series s = { .n = 0 };
	struct nb_report_figure *g;
	char what[160], suffix[64];
	size_t nrows = 0;
	bool flash = false;
	double ymin = INFINITY, ymax = 0;
	FILE *fp;

	for (size_t i = lo; i < hi; i++)
		if (e[i].has_base && e[i].base != e[i].cell) {
			nb_rep_series_add(&s, &e[i]);
			flash |= e[i].series_order >= 4;
		}
	if (s.n == 0)
		return NB_OK;
	nb_rep_series_sort(&s, e + lo, hi - lo);
	snprintf(what, sizeof(what), "speedup over LayerNorm, %s %s", c0->dtype, c0->dir);
	snprintf(suffix, sizeof(suffix), "%s-%s", c0->dtype, c0->dir);
	fp = nb_rep_fig_new(f, dir, in, mi, NB_REPORT_SEC_SPEEDUP, "speedup", what, suffix, &g);
	if (!fp)
		return NB_ERR_IO;
	fputs("config", fp);
	for (size_t k = 0; k < s.n; k++)
		fprintf(fp, "\t%s\tlo\thi", s.name[k]);
	fputc('\n', fp);
	for (size_t i = lo; i < hi; i++) {
		char label[96];
		if (i > lo && strcmp(e[i].config, e[i - 1].config) == 0)
			continue;
		nb_rep_cfg_label(&r->cells[e[i].cell], true, label, sizeof(label));
		fputs(label, fp);
		for (size_t k = 0; k < s.n; k++) {
			const struct nb_report_entry *x = NULL;
			for (size_t j = i; j < hi && strcmp(e[j].config, e[i].config) == 0; j++)
				if (strcmp(e[j].series, s.name[k]) == 0 && e[j].has_base &&
				    e[j].base != e[j].cell)
					x = &e[j];
			if (x) {
				double a = isfinite(x->speedup.lo) ? x->speedup.lo : x->speedup.ratio;
				double b = isfinite(x->speedup.hi) ? x->speedup.hi : x->speedup.ratio;
				ymin = fmin(ymin, a);
				ymax = fmax(ymax, b);
			}
			nb_rep_dat_num(fp, x ? x->speedup.ratio : (double)NAN);
			nb_rep_dat_num(fp, x ? (isfinite(x->speedup.lo) ? x->speedup.lo
						: x->speedup.ratio) : (double)NAN);
			nb_rep_dat_num(fp, x ? (isfinite(x->speedup.hi) ? x->speedup.hi
						: x->speedup.ratio) : (double)NAN);
		}
		fputc('\n', fp);
		nrows++;
	}
	/* a log axis when the ratios span more than a decade */
	snprintf(g->vars, sizeof(g->vars), "nseries=%zu; nrows=%zu; width=%d; logy=%d", s.n,
		 nrows, nb_rep_clampi(220 + (int)(nrows * (s.n * 22 + 30)), 720, 3000),
		 ymin > 0 && ymax / ymin > 10);
	snprintf(g->caption, sizeof(g->caption),
		 "Speedup t(LayerNorm)/t(variant) of the fastest verified implementations, %s %s, "
		 "per shape (rows x d) and thread count; bars = ratio of medians, whiskers = its "
		 "95%% bootstrap CI; the dashed line at 1 is LayerNorm.%s", c0->dtype, c0->dir,
		 flash ? " FlashNorm (fused) is over RMSNorm then the same GEMM (unfused)." : "");
	return nb_rep_fig_close(fp, g);
}

/* ------------------------------------------------- GB/s against d */

static double nb_rep_dram_copy(const struct nb_results_meta *m, int threads)
{
	double best = NAN;

	for (int i = 0; i < m->stream_count && i < NB_RES_MAX_STREAM; i++)
		if (m->stream_threads[i] == threads) {
			double a = m->stream_copy_gbps[i], b = m->stream_copy_nt_gbps[i];
			best = isfinite(b) && !(b <= a) ? b : a;
		}
	return best;
}

static enum nb_status nb_rep_fig_gbps(const struct nb_report_input *in, size_t mi,
				      const struct nb_report_entry *e, size_t lo, size_t hi,
				      const char *dir, struct nb_report_figures *f)
{
	const struct nb_results *r = &in[mi].res;
	const struct nb_cell_row *c0 = &r->cells[e[lo].cell];
	struct nb_rep_series s = { .n = 0 };
	struct nb_report_figure *g;
	char what[160], suffix[64];
	const char *cache = NULL;
	int tmin = INT_MAX;
	uint64_t ds[256];
	size_t nd = 0, written = 0;
	double dram;
	FILE *fp;

	for (size_t i = lo; i < hi; i++)
		if (r->cells[e[i].cell].threads < tmin)
			tmin = r->cells[e[i].cell].threads;
	for (size_t i = lo; i < hi; i++) {
		const struct nb_cell_row *c = &r->cells[e[i].cell];
		if (c->threads == tmin && (!cache || (strcmp(c->cache, "hot") == 0)))
			cache = c->cache;
	}
	for (size_t i = lo; i < hi; i++) {
		const struct nb_cell_row *c = &r->cells[e[i].cell];
		bool seen = false;
		if (c->threads != tmin || strcmp(c->cache, cache) != 0)
			continue;
		nb_rep_series_add(&s, &e[i]);
		for (size_t k = 0; k < nd && !seen; k++)
			seen = ds[k] == c->d;
		if (!seen && nd < sizeof(ds) / sizeof(ds[0]))
			ds[nd++] = c->d;
	}
	if (s.n == 0)
		return NB_OK;
	nb_rep_series_sort(&s, e + lo, hi - lo);
	for (size_t i = 1; i < nd; i++)
		for (size_t j = i; j > 0 && ds[j - 1] > ds[j]; j--) {
			uint64_t t = ds[j];
			ds[j] = ds[j - 1];
			ds[j - 1] = t;
		}
	snprintf(what, sizeof(what), "bandwidth against d, %s %s, %d thread%s%s%s", c0->dtype,
		 c0->dir, tmin, tmin == 1 ? "" : "s", strcmp(cache, "hot") ? ", " : "",
		 strcmp(cache, "hot") ? cache : "");
	snprintf(suffix, sizeof(suffix), "%s-%s", c0->dtype, c0->dir);
	fp = nb_rep_fig_new(f, dir, in, mi, NB_REPORT_SEC_BANDWIDTH, "gbps", what, suffix, &g);
	if (!fp)
		return NB_ERR_IO;
	double roof[256];
	for (size_t k = 0; k < nd; k++)
		roof[k] = NAN;
	for (size_t k = 0; k < s.n; k++) {
		bool header = false;
		for (size_t di = 0; di < nd; di++) {
			const struct nb_cell_row *best = NULL;
			for (size_t i = lo; i < hi; i++) {
				const struct nb_cell_row *c = &r->cells[e[i].cell];
				if (strcmp(e[i].series, s.name[k]) != 0 || c->threads != tmin ||
				    strcmp(c->cache, cache) != 0 || c->d != ds[di])
					continue;
				if (!best || c->rows > best->rows)
					best = c;
			}
			if (!best)
				continue;
			if (!header) {
				fprintf(fp, "%s%s\n", written ? "\n\n" : "", s.name[k]);
				header = true;
				written++;
			}
			fprintf(fp, "%llu", (unsigned long long)best->d);
			nb_rep_dat_num(fp, best->gbps);
			nb_rep_dat_num(fp, best->ci_hi_s > 0 ? best->bytes / best->ci_hi_s / 1e9
				       : best->gbps);
			nb_rep_dat_num(fp, best->ci_lo_s > 0 ? best->bytes / best->ci_lo_s / 1e9
				       : best->gbps);
			fprintf(fp, "\t%llu\n", (unsigned long long)best->rows);
			if (isfinite(best->limit_gbps) && !(best->limit_gbps <= roof[di]))
				roof[di] = best->limit_gbps;
		}
	}
	/* the roof is a step function of d: each measured d holds its limit
	 * up to the geometric middle towards its neighbours (half an octave
	 * beyond the ends) */
	fprintf(fp, "\n\ncopy roof (STREAM copy at the working set's level)\n");
	for (size_t di = 0; di < nd; di++) {
		double d = (double)ds[di];
		double left = di > 0 ? sqrt((double)ds[di - 1] * d) : d / sqrt(2.0);
		double right = di + 1 < nd ? sqrt((double)ds[di + 1] * d) : d * sqrt(2.0);
		fprintf(fp, "%.9g", left);
		nb_rep_dat_num(fp, roof[di]);
		fprintf(fp, "\n%.9g", right);
		nb_rep_dat_num(fp, roof[di]);
		fputc('\n', fp);
	}
	dram = nb_rep_dram_copy(&r->meta, tmin);
	snprintf(g->vars, sizeof(g->vars), "nseries=%zu; dram=%.6g", written,
		 isfinite(dram) ? dram : 0.0);
	snprintf(g->caption, sizeof(g->caption),
		 "Achieved GB/s (STREAM counting, 1 GB = 1e9 bytes) of the fastest verified "
		 "implementation of each variant over the model width d, %s %s, %d thread%s, the "
		 "largest row count measured at each d; whiskers from the time's 95%% CI. Roof: "
		 "the best STREAM copy this machine measured at the cache level holding the "
		 "working set%s.", c0->dtype, c0->dir, tmin, tmin == 1 ? "" : "s",
		 isfinite(dram) ? "; dotted: the copy bandwidth beyond the caches (DRAM)" : "");
	return nb_rep_fig_close(fp, g);
}

/* ----------------------------------------------------- thread scaling */

static bool nb_rep_same_but_threads(const struct nb_cell_row *a, const struct nb_cell_row *b)
{
	return a->rows == b->rows && a->d == b->d && a->m == b->m &&
		strcmp(a->cache, b->cache) == 0 && nb_rep_same_slice(a, b);
}

static enum nb_status nb_rep_fig_threads(const struct nb_report_input *in, size_t mi,
					 const struct nb_report_entry *e, size_t lo, size_t hi,
					 const char *dir, struct nb_report_figures *f)
{
	const struct nb_results *r = &in[mi].res;
	const struct nb_cell_row *pick = NULL;
	struct nb_rep_series s = { .n = 0 };
	struct nb_report_figure *g;
	char what[200], suffix[64], shape[64];
	size_t written = 0;
	int maxthreads = 1;
	FILE *fp;

	/* the largest shape (hot first) measured at two or more thread counts */
	for (size_t i = lo; i < hi; i++) {
		const struct nb_cell_row *c = &r->cells[e[i].cell];
		bool other = false;
		for (size_t j = lo; j < hi && !other; j++)
			other = nb_rep_same_but_threads(c, &r->cells[e[j].cell]) &&
				r->cells[e[j].cell].threads != c->threads;
		if (!other)
			continue;
		if (!pick) {
			pick = c;
			continue;
		}
		bool hot = strcmp(c->cache, "hot") == 0, phot = strcmp(pick->cache, "hot") == 0;
		if (hot != phot ? hot : (double)c->rows * (double)c->d >
		    (double)pick->rows * (double)pick->d)
			pick = c;
	}
	if (!pick)
		return NB_OK;
	for (size_t i = lo; i < hi; i++)
		if (nb_rep_same_but_threads(pick, &r->cells[e[i].cell]))
			nb_rep_series_add(&s, &e[i]);
	nb_rep_series_sort(&s, e + lo, hi - lo);
	nb_rep_cfg_label(pick, false, shape, sizeof(shape));
	snprintf(what, sizeof(what), "thread scaling, %s %s %s", shape, pick->dtype, pick->dir);
	snprintf(suffix, sizeof(suffix), "%s-%s", pick->dtype, pick->dir);
	fp = nb_rep_fig_new(f, dir, in, mi, NB_REPORT_SEC_THREADS, "threads", what, suffix, &g);
	if (!fp)
		return NB_ERR_IO;
	for (size_t k = 0; k < s.n; k++) {
		size_t idx[64], ni = 0, base;
		for (size_t i = lo; i < hi && ni < 64; i++)
			if (strcmp(e[i].series, s.name[k]) == 0 &&
			    nb_rep_same_but_threads(pick, &r->cells[e[i].cell]))
				idx[ni++] = e[i].cell;
		if (ni < 2)
			continue;
		for (size_t i = 1; i < ni; i++)
			for (size_t j = i; j > 0 && r->cells[idx[j - 1]].threads >
			     r->cells[idx[j]].threads; j--) {
				size_t t = idx[j];
				idx[j] = idx[j - 1];
				idx[j - 1] = t;
			}
		base = idx[0];
		fprintf(fp, "%s%s\n", written ? "\n\n" : "", s.name[k]);
		written++;
		for (size_t i = 0; i < ni; i++) {
			struct nb_report_ratio q;
			enum nb_status st = nb_report_ratio(r, idx[i], base, &q);
			if (st != NB_OK) {
				fclose(fp);
				return st;
			}
			fprintf(fp, "%d", (int)r->cells[idx[i]].threads);
			nb_rep_dat_num(fp, q.ratio);
			nb_rep_dat_num(fp, isfinite(q.lo) ? q.lo : q.ratio);
			nb_rep_dat_num(fp, isfinite(q.hi) ? q.hi : q.ratio);
			fputc('\n', fp);
			if (r->cells[idx[i]].threads > maxthreads)
				maxthreads = r->cells[idx[i]].threads;
		}
	}
	snprintf(g->vars, sizeof(g->vars), "nseries=%zu; maxthreads=%d", written, maxthreads);
	snprintf(g->caption, sizeof(g->caption),
		 "Speedup over the fewest threads measured, t(min threads)/t(N threads), of each "
		 "variant's fastest verified implementation at %s %s %s; whiskers: 95%% bootstrap "
		 "CI of the ratio; dashed: linear scaling.", shape, pick->dtype, pick->dir);
	return nb_rep_fig_close(fp, g);
}

/* ------------------------------------------------- end-to-end block */

/* Block cells drawn in one figure: same dtype, dir, threads, cache, FFN. */
static bool nb_rep_same_block(const struct nb_cell_row *a, const struct nb_cell_row *b)
{
	return nb_rep_same_slice(a, b) && a->threads == b->threads &&
		strcmp(a->cache, b->cache) == 0 && strcmp(a->algo, b->algo) == 0;
}

static enum nb_status nb_rep_fig_block(const struct nb_report_input *in, size_t mi,
				       const struct nb_report_entry *e, size_t ne,
				       const char *dir, struct nb_report_figures *f)
{
	const struct nb_results *r = &in[mi].res;
	bool *done = calloc(ne + 1, sizeof(*done));
	enum nb_status st = NB_OK;

	if (!done)
		return nb_fail(NB_ERR_NOMEM, "out of memory for the figures");
	for (size_t i0 = 0; i0 < ne && st == NB_OK; i0++) {
		const struct nb_cell_row *c0 = &r->cells[e[i0].cell];
		struct nb_rep_series s = { .n = 0 };
		struct nb_report_figure *g;
		char what[256], suffix[160];
		uint64_t ds[16];
		size_t nd = 0, written = 0;
		/* colour per arrangement, dash per width: gnuplot's word lists */
		char lcs[256] = "", dts[256] = "";
		FILE *fp;

		if (done[i0])
			continue;
		/* one figure per (dtype, dir, threads, cache, FFN kind): lines over
		 * tokens */
		for (size_t i = i0; i < ne; i++) {
			const struct nb_cell_row *c = &r->cells[e[i].cell];
			bool seen = false;
			if (!nb_rep_same_block(c, c0))
				continue;
			done[i] = true;
			nb_rep_series_add(&s, &e[i]);
			for (size_t k = 0; k < nd && !seen; k++)
				seen = ds[k] == c->d;
			if (!seen && nd < 16)
				ds[nd++] = c->d;
		}
		nb_rep_series_sort(&s, e, ne);
		snprintf(what, sizeof(what), "transformer layer time, %s FFN, %s %s, %d thread%s%s%s",
			 c0->algo, c0->dtype, c0->dir, (int)c0->threads, c0->threads == 1 ? "" : "s",
			 strcmp(c0->cache, "hot") ? ", " : "", strcmp(c0->cache, "hot") ? c0->cache : "");
		snprintf(suffix, sizeof(suffix), "%s-%s-%s-t%d-%s", c0->algo, c0->dtype, c0->dir,
			 (int)c0->threads, c0->cache);
		fp = nb_rep_fig_new(f, dir, in, mi, NB_REPORT_SEC_BLOCK, "block", what, suffix, &g);
		if (!fp) {
			st = NB_ERR_IO;
			break;
		}
		for (size_t di = 0; di < nd; di++)
			for (size_t k = 0; k < s.n; k++) {
				size_t idx[256], ni = 0;
				for (size_t i = i0; i < ne && ni < 256; i++) {
					const struct nb_cell_row *c = &r->cells[e[i].cell];
					if (strcmp(e[i].series, s.name[k]) == 0 && c->d == ds[di] &&
					    nb_rep_same_block(c, c0))
						idx[ni++] = e[i].cell;
				}
				if (ni == 0)
					continue;
				for (size_t i = 1; i < ni; i++)
					for (size_t j = i; j > 0 && r->cells[idx[j - 1]].rows >
					     r->cells[idx[j]].rows; j--) {
						size_t t = idx[j];
						idx[j] = idx[j - 1];
						idx[j - 1] = t;
					}
				if (nd > 1)
					fprintf(fp, "%s%s d=%llu\n", written ? "\n\n" : "", s.name[k],
						(unsigned long long)ds[di]);
				else
					fprintf(fp, "%s%s\n", written ? "\n\n" : "", s.name[k]);
				written++;
				if (strlen(lcs) + 8 < sizeof(lcs) && strlen(dts) + 8 < sizeof(dts)) {
					snprintf(lcs + strlen(lcs), sizeof(lcs) - strlen(lcs), "%s%zu",
						 written > 1 ? " " : "", k % 8 + 1);
					snprintf(dts + strlen(dts), sizeof(dts) - strlen(dts), "%s%zu",
						 written > 1 ? " " : "", di % 5 + 1);
				}
				for (size_t i = 0; i < ni; i++) {
					const struct nb_cell_row *c = &r->cells[idx[i]];
					fprintf(fp, "%llu", (unsigned long long)c->rows);
					nb_rep_dat_num(fp, c->median_s * 1e3);
					nb_rep_dat_num(fp, c->ci_lo_s > 0 ? c->ci_lo_s * 1e3 : c->median_s * 1e3);
					nb_rep_dat_num(fp, c->ci_hi_s > 0 ? c->ci_hi_s * 1e3 : c->median_s * 1e3);
					fputc('\n', fp);
				}
			}
		snprintf(g->vars, sizeof(g->vars), "nseries=%zu; lcs='%s'; dts='%s'", written, lcs,
			 dts);
		snprintf(g->caption, sizeof(g->caption),
			 "Median time of one pre-norm transformer layer forward pass over the "
			 "sequence length (tokens) per normalization arrangement, %s FFN, %s %s, %d "
			 "thread%s; whiskers: the 95%% bootstrap CI of the median.", c0->algo,
			 c0->dtype, c0->dir,
			 (int)c0->threads, c0->threads == 1 ? "" : "s");
		st = nb_rep_fig_close(fp, g);
	}
	free(done);
	return st;
}

/* ------------------------------------------------------ accuracy bars */

static int nb_rep_fam_order(const char *variant, const char *dirn)
{
	static const char *const order[] = { "layernorm", "rmsnorm", "prmsnorm", "crmsnorm",
					     "flashnorm" };
	int v = 9;
	for (int i = 0; i < 5; i++)
		if (strcmp(order[i], variant) == 0)
			v = i;
	return 2 * v + (strcmp(dirn, "fwd") != 0);
}

static enum nb_status nb_rep_fig_accuracy(const struct nb_report_input *in, size_t mi,
					  const char *dir, struct nb_report_figures *f)
{
	const struct nb_verify_tables *v = &in[mi].ver;
	const char *fam_v[32], *fam_d[32];
	int dts[NB_DTYPE_COUNT + 8];
	const char *dtn[NB_DTYPE_COUNT + 8];
	size_t nf = 0, nt = 0;
	struct nb_report_figure *g;
	bool zero = false;
	FILE *fp;

	for (size_t i = 0; i < v->nkernels; i++) {
		const struct nb_verify_kernel_row *k = &v->kernels[i];
		bool seen = false;
		for (size_t j = 0; j < nf && !seen; j++)
			seen = strcmp(fam_v[j], k->variant) == 0 && strcmp(fam_d[j], k->dir) == 0;
		if (!seen && nf < 32) {
			fam_v[nf] = k->variant;
			fam_d[nf++] = k->dir;
		}
		seen = false;
		for (size_t j = 0; j < nt && !seen; j++)
			seen = strcmp(dtn[j], k->dtype) == 0;
		if (!seen && nt < sizeof(dtn) / sizeof(dtn[0])) {
			dtn[nt] = k->dtype;
			dts[nt++] = (int)nb_dtype_from_name(k->dtype);
		}
	}
	if (nf == 0)
		return NB_OK;
	for (size_t i = 1; i < nf; i++)
		for (size_t j = i; j > 0 && nb_rep_fam_order(fam_v[j - 1], fam_d[j - 1]) >
		     nb_rep_fam_order(fam_v[j], fam_d[j]); j--) {
			const char *a = fam_v[j], *b = fam_d[j];
			fam_v[j] = fam_v[j - 1];
			fam_d[j] = fam_d[j - 1];
			fam_v[j - 1] = a;
			fam_d[j - 1] = b;
		}
	for (size_t i = 1; i < nt; i++)
		for (size_t j = i; j > 0 && dts[j - 1] > dts[j]; j--) {
			const char *a = dtn[j];
			int o = dts[j];
			dtn[j] = dtn[j - 1];
			dts[j] = dts[j - 1];
			dtn[j - 1] = a;
			dts[j - 1] = o;
		}
	fp = nb_rep_fig_new(f, dir, in, mi, NB_REPORT_SEC_ACCURACY, "accuracy",
			    "kernel accuracy (max ULPs)", "", &g);
	if (!fp)
		return NB_ERR_IO;
	fputs("kernel", fp);
	for (size_t t = 0; t < nt; t++)
		fprintf(fp, "\t%s", dtn[t]);
	fputc('\n', fp);
	for (size_t fi = 0; fi < nf; fi++) {
		fprintf(fp, "%s %s", fam_v[fi], fam_d[fi]);
		for (size_t t = 0; t < nt; t++) {
			double worst = NAN;
			for (size_t i = 0; i < v->nkernels; i++) {
				const struct nb_verify_kernel_row *k = &v->kernels[i];
				if (strcmp(k->variant, fam_v[fi]) == 0 && strcmp(k->dir, fam_d[fi]) == 0 &&
				    strcmp(k->dtype, dtn[t]) == 0 && !(k->max_ulps <= worst))
					worst = k->max_ulps;
			}
			/* log scale: an exact kernel (0 ULPs) is drawn at 0.5 */
			if (worst == 0) {
				worst = 0.5;
				zero = true;
			}
			nb_rep_dat_num(fp, worst);
		}
		fputc('\n', fp);
	}
	snprintf(g->vars, sizeof(g->vars), "nseries=%zu; nrows=%zu; width=%d", nt, nf,
		 nb_rep_clampi(220 + (int)(nf * (nt * 20 + 30)), 720, 3000));
	snprintf(g->caption, sizeof(g->caption),
		 "The largest error in ULPs of the storage dtype over every run of `normbench "
		 "verify`, per kernel family (all ISA implementations and output arrays) and "
		 "dtype, log scale.%s Whether an error is acceptable is judged against its derived "
		 "bound (the accuracy table), not against a ULP count.",
		 zero ? " Exact results (0 ULPs) are drawn at 0.5." : "");
	return nb_rep_fig_close(fp, g);
}

/* --------------------------------------------------------------- plan */

enum nb_status nb_report_figures_plan(const struct nb_report_input *in, size_t n,
				      const char *dir, struct nb_report_figures *f)
{
	enum nb_status st = NB_OK;

	for (size_t mi = 0; mi < n && st == NB_OK; mi++) {
		struct nb_report_entry *e = NULL;
		size_t ne = 0;

		if (in[mi].has_run) {
			st = nb_report_entries(&in[mi].res, "kernel", &e, &ne);
			/* entries are sorted by configuration: dir and dtype lead */
			for (size_t lo = 0; lo < ne && st == NB_OK;) {
				size_t hi = lo + 1;
				while (hi < ne && nb_rep_same_slice(&in[mi].res.cells[e[lo].cell],
								   &in[mi].res.cells[e[hi].cell]))
					hi++;
				st = nb_rep_fig_speedup(in, mi, e, lo, hi, dir, f);
				if (st == NB_OK)
					st = nb_rep_fig_gbps(in, mi, e, lo, hi, dir, f);
				if (st == NB_OK)
					st = nb_rep_fig_threads(in, mi, e, lo, hi, dir, f);
				lo = hi;
			}
			free(e);
			e = NULL;
			if (st == NB_OK)
				st = nb_report_entries(&in[mi].res, "block", &e, &ne);
			if (st == NB_OK && ne > 0)
				st = nb_rep_fig_block(in, mi, e, ne, dir, f);
			free(e);
		}
		if (st == NB_OK && in[mi].has_verify)
			st = nb_rep_fig_accuracy(in, mi, dir, f);
	}
	return st;
}

/* --------------------------------------------------------------- draw */

static bool nb_rep_nonempty(const char *dir, const char *stem, const char *ext)
{
	char path[PATH_MAX];
	struct stat sb;

	snprintf(path, sizeof(path), "%s/%s.%s", dir, stem, ext);
	return stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
}

static void nb_rep_unlink(const char *dir, const char *stem, const char *ext)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s.%s", dir, stem, ext);
	unlink(path);
}

enum nb_status nb_report_figures_draw(struct nb_report_figures *f, const char *dir,
				      const char *gnuplot, const char *scripts, size_t *failed)
{
	*failed = 0;
	for (size_t i = 0; i < f->n; i++) {
		struct nb_report_figure *g = &f->fig[i];
		char script[PATH_MAX], expr[4096], qd[400], qo[400], qt[1100];
		pid_t pid;
		int status;

		/* never show an image of an earlier report as this one's */
		nb_rep_unlink(dir, g->stem, "png");
		nb_rep_unlink(dir, g->stem, "svg");
		snprintf(script, sizeof(script), "%s/%s.gp", scripts, g->script);
		nb_report_gp_quote(g->stem, qo, sizeof(qo));
		snprintf(expr, sizeof(expr), "%s.dat", g->stem);
		nb_report_gp_quote(expr, qd, sizeof(qd));
		nb_report_gp_quote(g->title, qt, sizeof(qt));
		snprintf(expr, sizeof(expr), "datafile=%s; out=%s; title=%s; %s", qd, qo, qt,
			 g->vars);
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			return nb_fail(NB_ERR_IO, "cannot start gnuplot: %s", strerror(errno));
		if (pid == 0) {
			int log;
			if (chdir(dir) != 0)
				_exit(126);
			log = open("gnuplot.log", O_WRONLY | O_CREAT | O_APPEND, 0666);
			if (log >= 0) {
				dprintf(log, "# %s -e \"%s\" %s\n", gnuplot, expr, script);
				dup2(log, STDOUT_FILENO);
				dup2(log, STDERR_FILENO);
				close(log);
			}
			execl(gnuplot, gnuplot, "-e", expr, script, (char *)NULL);
			dprintf(STDERR_FILENO, "cannot run %s: %s\n", gnuplot, strerror(errno));
			_exit(127);
		}
		while (waitpid(pid, &status, 0) < 0)
			if (errno != EINTR)
				return nb_fail(NB_ERR_IO, "waiting for gnuplot: %s", strerror(errno));
		g->drawn = WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
			nb_rep_nonempty(dir, g->stem, "png") && nb_rep_nonempty(dir, g->stem, "svg");
		if (!g->drawn)
			(*failed)++;
	}
	return NB_OK;
}
