/* The report's tables from the inputs: timing and speedup against the
 * baseline (kernel suite), the end-to-end block (block suite), bandwidth
 * against the machine's limit, and the verification tables. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_format.h"
#include "bench/nb_stats.h"
#include "common/nb_dtype.h"
#include "reports/nb_report.h"

/* Value column i, and the next CSV column, of the builder's row for machine
 * mi, unless an earlier call failed: they use the locals t, row, mi, col, st. */
#define NB_VAL(i, ...) \
	do { if (st == NB_OK) st = nb_report_set_val(t, row, mi, (i), __VA_ARGS__); } while (0)
#define NB_CSV(...) \
	do { if (st == NB_OK) st = nb_report_set_csv(t, row, mi, col++, __VA_ARGS__); } while (0)

/* ------------------------------------------------------------ formatting */

/* x with sig significant digits in fixed notation ("-" when not finite). */
static const char *nb_rep_sig(double x, int sig, char *buf, size_t size)
{
	int dec;

	if (!isfinite(x)) {
		snprintf(buf, size, "–");
		return buf;
	}
	dec = x == 0 ? sig - 1 : sig - 1 - (int)floor(log10(fabs(x)));
	if (dec < 0)
		dec = 0;
	if (dec > 9)
		dec = 9;
	snprintf(buf, size, "%.*f", dec, x);
	return buf;
}

/* A CSV number at full precision (reads back bit-exact); "" when NaN. */
static const char *nb_rep_num(double x, char *buf, size_t size)
{
	if (isnan(x))
		snprintf(buf, size, "%s", "");
	else
		snprintf(buf, size, "%.17g", x);
	return buf;
}

/* The table's row with this id (nb_report_table_row), or NB_ERR_NOMEM. */
static enum nb_status nb_rep_row(struct nb_report_table *t, const char *id,
				 const char *const *key, struct nb_report_row **row)
{
	*row = nb_report_table_row(t, id, key);
	return *row ? NB_OK : nb_fail(NB_ERR_NOMEM, "out of memory for the report");
}

/* ----------------------------------------------------- ratios and CIs */

enum nb_status nb_report_ratio(const struct nb_results *r, size_t a, size_t b,
			       struct nb_report_ratio *out)
{
	const struct nb_cell_row *ca = &r->cells[a], *cb = &r->cells[b];
	const struct nb_sample_row *sa, *sb;
	size_t na, nb;
	double *xa = NULL, *xb = NULL;
	enum nb_status st = NB_OK;

	out->ratio = out->lo = out->hi = NAN;
	out->method = NB_REPORT_CI_NONE;
	if (!(ca->median_s > 0) || !(cb->median_s > 0))
		return nb_fail(NB_ERR_INVALID, "a median time is not positive");
	out->ratio = cb->median_s / ca->median_s;
	if (a == b) {
		out->lo = out->hi = 1.0;
		out->method = NB_REPORT_CI_BOOTSTRAP;
		return NB_OK;
	}
	sa = nb_results_cell_samples(r, a, &na);
	sb = nb_results_cell_samples(r, b, &nb);
	if (sa && sb && na >= 2 && nb >= 2) {
		double ratio, lo, hi;
		xa = malloc(na * sizeof(*xa));
		xb = malloc(nb * sizeof(*xb));
		if (!xa || !xb) {
			st = nb_fail(NB_ERR_NOMEM, "out of memory for the bootstrap");
			goto free_samples;
		}
		for (size_t i = 0; i < na; i++)
			xa[i] = sa[i].seconds;
		for (size_t i = 0; i < nb; i++)
			xb[i] = sb[i].seconds;
		/* a fixed seed per cell pair: the same file gives the same report */
		if (nb_bootstrap_ratio_ci(xa, na, xb, nb,
					  NB_REPORT_SEED ^ ((uint64_t)a * 0x9e3779b97f4a7c15ull) ^ b,
					  NB_REPORT_RESAMPLES, NB_CI_LEVEL, &ratio, &lo, &hi) == NB_OK) {
			out->lo = lo;
			out->hi = hi;
			out->method = NB_REPORT_CI_BOOTSTRAP;
			goto free_samples;
		}
	}
	/* no raw samples: the ratio of two quantities each inside its CI lies
	 * within [lo_b / hi_a, hi_b / lo_a] (coverage at least 0.95^2 ~ 0.90 when
	 * independent: conservative in width, stated in the caption) */
	if (ca->ci_lo_s > 0 && ca->ci_hi_s > 0 && cb->ci_lo_s > 0 && cb->ci_hi_s > 0) {
		out->lo = cb->ci_lo_s / ca->ci_hi_s;
		out->hi = cb->ci_hi_s / ca->ci_lo_s;
		out->method = NB_REPORT_CI_CELLS;
	}
free_samples:
	free(xa);
	free(xb);
	return st;
}

static const char *nb_rep_ci_method_name(enum nb_report_ci_method m)
{
	switch (m) {
	case NB_REPORT_CI_BOOTSTRAP: return "bootstrap";
	case NB_REPORT_CI_CELLS: return "cell-cis";
	case NB_REPORT_CI_NONE: break;
	}
	return "none";
}

/* ------------------------------------------------------------- entries */

/* Suites whose cells are single kernels (the norm-projection pair of the
 * block benchmark runs FlashNorm's kernels): named and compared alike. */
static bool nb_rep_kernel_like(const char *suite)
{
	return strcmp(suite, "kernel") == 0 || strcmp(suite, "normproj") == 0;
}

const char *nb_report_series_name(const char *suite, const char *variant, const char *algo,
				  int *order)
{
	static const struct { const char *suite, *variant, *algo, *name; int order; } names[] = {
		{ "kernel", "layernorm", NULL, "LayerNorm", 0 },
		{ "kernel", "rmsnorm", NULL, "RMSNorm", 1 },
		{ "kernel", "prmsnorm", NULL, "pRMSNorm", 2 },
		{ "kernel", "crmsnorm", NULL, "CRMSNorm", 3 },
		{ "kernel", "flashnorm", "unfused", "RMSNorm+GEMM (unfused)", 4 },
		{ "kernel", "flashnorm", "fused", "FlashNorm (fused)", 5 },
		{ "kernel", "flashnorm", NULL, "FlashNorm", 6 },
		{ "block", "layernorm", NULL, "Pre-LN", 0 },
		{ "block", "preln", NULL, "Pre-LN", 0 },
		{ "block", "prermsnorm", NULL, "Pre-RMSNorm", 1 },
		{ "block", "rmsnorm", NULL, "Pre-RMSNorm", 1 },
		{ "block", "precrmsnorm", NULL, "Pre-CRMSNorm", 2 },
		{ "block", "crmsnorm", NULL, "Pre-CRMSNorm", 2 },
		{ "block", "prmsnorm", NULL, "Pre-pRMSNorm", 3 },
		{ "block", "flashnorm", NULL, "FlashNorm", 4 },
		{ "block", "none", NULL, "no normalization", 8 },
		{ "block", "nonorm", NULL, "no normalization", 8 },
	};
	const char *as = nb_rep_kernel_like(suite) ? "kernel" : suite;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(names[i].suite, as) == 0 && strcmp(names[i].variant, variant) == 0 &&
		    (!names[i].algo || (algo && strcmp(names[i].algo, algo) == 0))) {
			if (order)
				*order = names[i].order;
			return names[i].name;
		}
	if (order)
		*order = 9;
	return variant;
}

static int nb_rep_dtype_order(const char *dtype)
{
	return (int)nb_dtype_from_name(dtype);
}

void nb_report_config_id(const struct nb_cell_row *c, char *buf, size_t size)
{
	/* the block suite's algo is the FFN kind: part of the configuration */
	snprintf(buf, size, "%d|%02d|%-8s|%012llu|%012llu|%05d|%d|%-8s|%012llu|%-8s|%s|%012llu",
		 strcmp(c->dir, "fwd") == 0 ? 0 : strcmp(c->dir, "bwd") == 0 ? 1 : 2,
		 nb_rep_dtype_order(c->dtype), c->dtype, (unsigned long long)c->d,
		 (unsigned long long)c->rows, (int)c->threads,
		 strcmp(c->cache, "hot") == 0 ? 0 : 1, c->cache, (unsigned long long)c->m,
		 c->dir, strcmp(c->suite, "block") == 0 ? c->algo : "",
		 (unsigned long long)c->context);
}

/* The series a kernel-suite cell belongs to: FlashNorm's algorithms are
 * separate series; for the block suite the arrangement alone. */
const char *nb_report_series_algo(const char *suite, const struct nb_cell_row *c)
{
	return nb_rep_kernel_like(suite) && strcmp(c->variant, "flashnorm") == 0
		? c->algo : NULL;
}

static bool nb_rep_better(const struct nb_cell_row *cand, const struct nb_cell_row *best)
{
	/* a verified (or unchecked) cell always beats one that failed its check */
	if ((cand->verified != 0) != (best->verified != 0))
		return cand->verified != 0;
	return cand->median_s < best->median_s;
}

static int nb_rep_entry_cmp(const void *pa, const void *pb)
{
	const struct nb_report_entry *a = pa, *b = pb;
	int c = strcmp(a->config, b->config);

	if (c)
		return c;
	if (a->series_order != b->series_order)
		return a->series_order < b->series_order ? -1 : 1;
	return strcmp(a->series, b->series);
}

/* Baseline series of a configuration: LayerNorm / Pre-LN (order 0), and for
 * FlashNorm fused its unfused algorithm. */
static bool nb_rep_is_base_for(const char *suite, const struct nb_report_entry *cand,
			       const struct nb_report_entry *e)
{
	if (nb_rep_kernel_like(suite) && (strcmp(e->series, "FlashNorm (fused)") == 0 ||
					  strcmp(e->series, "RMSNorm+GEMM (unfused)") == 0))
		return strcmp(cand->series, "RMSNorm+GEMM (unfused)") == 0;
	if (nb_rep_kernel_like(suite) && e->series_order >= 4)
		return false; /* FlashNorm includes a GEMM: never against LayerNorm */
	return cand->series_order == 0;
}

enum nb_status nb_report_entries(const struct nb_results *r, const char *suite,
				 struct nb_report_entry **out, size_t *n)
{
	struct nb_report_entry *e = NULL;
	size_t ne = 0;
	enum nb_status st = NB_OK;

	*out = NULL;
	*n = 0;
	if (r->ncells == 0)
		return NB_OK;
	e = calloc(r->ncells, sizeof(*e));
	if (!e)
		return nb_fail(NB_ERR_NOMEM, "out of memory for the report");
	/* the best cell per (configuration, series) */
	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		char id[sizeof(e->config)];
		int order;
		const char *name;
		size_t j;

		if (strcmp(c->suite, suite) != 0 || !(c->median_s > 0))
			continue;
		name = nb_report_series_name(suite, c->variant, nb_report_series_algo(suite, c),
					     &order);
		nb_report_config_id(c, id, sizeof(id));
		for (j = 0; j < ne; j++)
			if (strcmp(e[j].config, id) == 0 && strcmp(e[j].series, name) == 0)
				break;
		if (j == ne) {
			e[ne].cell = i;
			e[ne].series_order = order;
			nb_res_strcpy(e[ne].series, sizeof(e[ne].series), name);
			memcpy(e[ne].config, id, sizeof(id));
			ne++;
		} else if (nb_rep_better(c, &r->cells[e[j].cell])) {
			e[j].cell = i;
		}
	}
	qsort(e, ne, sizeof(*e), nb_rep_entry_cmp);
	/* baselines and the no-normalization bound, within a configuration
	 * (contiguous after the sort) */
	for (size_t i = 0; i < ne; i++) {
		size_t lo = i, hi = i;
		while (lo > 0 && strcmp(e[lo - 1].config, e[i].config) == 0)
			lo--;
		while (hi + 1 < ne && strcmp(e[hi + 1].config, e[i].config) == 0)
			hi++;
		for (size_t j = lo; j <= hi; j++) {
			if (!e[i].has_base && nb_rep_is_base_for(suite, &e[j], &e[i])) {
				e[i].base = e[j].cell;
				e[i].has_base = true;
			}
			if (strcmp(suite, "block") == 0 && e[j].series_order == 8) {
				e[i].none = e[j].cell;
				e[i].has_none = true;
			}
		}
		if (e[i].has_base) {
			st = nb_report_ratio(r, e[i].cell, e[i].base, &e[i].speedup);
			if (st != NB_OK)
				goto fail;
		} else {
			e[i].speedup.ratio = e[i].speedup.lo = e[i].speedup.hi = NAN;
			e[i].speedup.method = NB_REPORT_CI_NONE;
		}
	}
	*out = e;
	*n = ne;
	return NB_OK;
fail:
	free(e);
	return st;
}

/* ------------------------------------------------------- timing table */

/* Markers after a time: unstable, failed accuracy check, not checked, then
 * the harness's notes (busy vCPU, above the limit). One static buffer: the
 * caller prints it before the next call. */
static const char *nb_rep_marks(const struct nb_cell_row *c)
{
	static char marks[32];
	const char *base = c->verified == 0 ? (c->unstable ? "†‡" : "‡")
			 : c->verified < 0 ? (c->unstable ? "†§" : "§")
			 : c->unstable ? "†" : "";

	snprintf(marks, sizeof(marks), "%s%s%s%s", base,
		 strstr(c->notes, "busy") && !strstr(c->notes, "busy unknown") ? "°" : "",
		 c->oversubscribed == 1 ? "¤" : "",
		 strstr(c->notes, "above limit") ? "!" : "");
	return marks;
}

static enum nb_status nb_rep_time_csv(struct nb_report_table *t, struct nb_report_row *row,
				      size_t mi, const struct nb_results *r,
				      const struct nb_report_entry *e, size_t *next_col)
{
	const struct nb_cell_row *c = &r->cells[e->cell];
	char b[64];
	size_t col = *next_col;
	enum nb_status st = NB_OK;
	NB_CSV("%s", c->suite);
	NB_CSV("%llu", (unsigned long long)c->rows);
	NB_CSV("%llu", (unsigned long long)c->d);
	NB_CSV("%s", c->dtype);
	NB_CSV("%s", c->acc);
	NB_CSV("%s", c->dir);
	NB_CSV("%d", (int)c->threads);
	NB_CSV("%s", c->cache);
	NB_CSV("%s", c->variant);
	NB_CSV("%s", c->algo);
	NB_CSV("%s", e->series);
	NB_CSV("%s", c->impl);
	NB_CSV("%s", c->isa);
	NB_CSV("%u", (unsigned)c->samples);
	NB_CSV("%s", nb_rep_num(c->median_s, b, sizeof(b)));
	NB_CSV("%s", nb_rep_num(c->ci_lo_s, b, sizeof(b)));
	NB_CSV("%s", nb_rep_num(c->ci_hi_s, b, sizeof(b)));
	NB_CSV("%d", (int)c->unstable);
	NB_CSV("%d", (int)c->verified);
	if (e->has_base) {
		const struct nb_cell_row *bc = &r->cells[e->base];
		const struct nb_report_ratio *q = &e->speedup;
		int order;
		NB_CSV("%s", nb_report_series_name(c->suite, bc->variant,
						   nb_report_series_algo(c->suite, bc), &order));
		NB_CSV("%s", bc->impl);
		NB_CSV("%s", nb_rep_num(bc->median_s, b, sizeof(b)));
		NB_CSV("%s", nb_rep_num(q->ratio, b, sizeof(b)));
		NB_CSV("%s", nb_rep_num(q->lo, b, sizeof(b)));
		NB_CSV("%s", nb_rep_num(q->hi, b, sizeof(b)));
		NB_CSV("%s", nb_rep_num((1 - 1 / q->ratio) * 100, b, sizeof(b)));
		NB_CSV("%s", nb_rep_num((1 - 1 / q->lo) * 100, b, sizeof(b)));
		NB_CSV("%s", nb_rep_num((1 - 1 / q->hi) * 100, b, sizeof(b)));
		NB_CSV("%s", nb_rep_ci_method_name(q->method));
	} else {
		for (int i = 0; i < 10; i++)
			NB_CSV("%s", "");
	}
	*next_col = col;
	return st;
}

static const char *const nb_rep_time_csv_cols[] = {
	"suite", "rows", "d", "dtype", "acc", "dir", "threads", "cache", "variant", "algo",
	"series", "impl", "isa", "samples", "median_s", "ci_lo_s", "ci_hi_s", "unstable",
	"verified", "baseline", "baseline_impl", "baseline_median_s", "speedup",
	"speedup_lo", "speedup_hi", "reduction_pct", "reduction_lo_pct", "reduction_hi_pct",
	"ci_method",
};

/* Speedup "1.41× [1.30, 1.52]" and reduction "29.1% [23.1, 34.2]". */
static void nb_rep_fmt_ratio(const struct nb_report_ratio *q, char *sp, size_t sps,
			     char *red, size_t reds)
{
	if (q->method == NB_REPORT_CI_NONE || !isfinite(q->lo)) {
		snprintf(sp, sps, "%.2f×", q->ratio);
		snprintf(red, reds, "%.1f%%", (1 - 1 / q->ratio) * 100);
	} else {
		snprintf(sp, sps, "%.2f× [%.2f, %.2f]", q->ratio, q->lo, q->hi);
		snprintf(red, reds, "%.1f%% [%.1f, %.1f]", (1 - 1 / q->ratio) * 100,
			 (1 - 1 / q->lo) * 100, (1 - 1 / q->hi) * 100);
	}
}

static void nb_rep_fmt_time(const struct nb_cell_row *c, double scale, char *buf, size_t size)
{
	char m[32], lo[32], hi[32];

	snprintf(buf, size, "%s [%s, %s]%s", nb_rep_sig(c->median_s * scale, 3, m, sizeof(m)),
		 nb_rep_sig(c->ci_lo_s * scale, 3, lo, sizeof(lo)),
		 nb_rep_sig(c->ci_hi_s * scale, 3, hi, sizeof(hi)), nb_rep_marks(c));
}

static const char nb_rep_marks_note[] =
	"† unstable cell (spread too large: see the run's unstable_rule); ‡ the kernel "
	"failed its accuracy check after timing; § accuracy not checked; ° measured "
	"while another process was runnable (busy); ¤ oversubscribed (more runnable threads "
	"of its own than the cell's threads); ! faster than its bandwidth limit "
	"(the limit is suspect).";

static void nb_rep_shape(const struct nb_cell_row *c, char *buf, size_t size)
{
	snprintf(buf, size, "%llu×%llu", (unsigned long long)c->rows, (unsigned long long)c->d);
}

/* The timing rows of one suite of machine mi. */
static enum nb_status nb_rep_timing_suite(struct nb_report_table *t, size_t mi,
					  const struct nb_results *r, const char *suite)
{
	struct nb_report_entry *e;
	size_t ne;
	enum nb_status st = nb_report_entries(r, suite, &e, &ne);

	for (size_t i = 0; i < ne && st == NB_OK; i++) {
		const struct nb_cell_row *c = &r->cells[e[i].cell];
		char id[256], shape[64], thr[16], v[128], sp[96], red[96], series[80];
		const char *key[6];
		struct nb_report_row *row;
		size_t col = 0;

		snprintf(id, sizeof(id), "%s|%s|%d|%s", suite, e[i].config, e[i].series_order,
			 e[i].series);
		nb_rep_shape(c, shape, sizeof(shape));
		snprintf(thr, sizeof(thr), "%d", (int)c->threads);
		snprintf(series, sizeof(series), "%s%s", e[i].series,
			 strcmp(suite, "kernel") ? " [norm+proj]" : "");
		key[0] = shape; key[1] = c->dtype; key[2] = c->dir; key[3] = thr;
		key[4] = c->cache; key[5] = series;
		st = nb_rep_row(t, id, key, &row);
		if (st != NB_OK)
			break;
		nb_rep_fmt_time(c, 1e6, v, sizeof(v));
		NB_VAL(0, "%s", v);
		if (e[i].has_base && e[i].base == e[i].cell) {
			NB_VAL(1, "baseline");
			NB_VAL(2, "–");
		} else if (e[i].has_base) {
			nb_rep_fmt_ratio(&e[i].speedup, sp, sizeof(sp), red, sizeof(red));
			NB_VAL(1, "%s", sp);
			NB_VAL(2, "%s", red);
		} else {
			NB_VAL(1, "no baseline");
		}
		NB_VAL(3, "%s", c->isa);
		if (st == NB_OK)
			st = nb_rep_time_csv(t, row, mi, r, &e[i], &col);
	}
	free(e);
	return st;
}

enum nb_status nb_report_build_timing(const struct nb_report_input *in, size_t n,
				      struct nb_report_table *t)
{
	static const struct nb_report_col keys[] = {
		{ "rows×d", true }, { "dtype", false }, { "dir", false }, { "threads", true },
		{ "cache", false }, { "variant", false },
	};
	static const struct nb_report_col vals[] = {
		{ "time µs [95% CI]", true }, { "speedup [95% CI]", true },
		{ "reduction [95% CI]", true }, { "ISA", false },
	};
	enum nb_status st = NB_OK;

	nb_report_table_init(t, "timing", "Time per call and speedup against LayerNorm", in, n);
	t->timed = true;
	nb_report_table_columns(t, keys, NB_REPORT_COUNT(keys), 5, vals, NB_REPORT_COUNT(vals),
				nb_rep_time_csv_cols, NB_REPORT_COUNT(nb_rep_time_csv_cols));
	snprintf(t->caption, sizeof(t->caption),
		 "Median time of one call (all rows) in µs with its bootstrap 95%% CI; the "
		 "fastest verified implementation of each variant (ISA column; every "
		 "implementation is in the bandwidth table). Speedup = t(LayerNorm) / "
		 "t(variant) of the same shape, dtype, direction, threads and cache state, with "
		 "the 95%% percentile-bootstrap CI of the ratio of medians (%zu resamples of the "
		 "raw samples, each cell resampled independently; from the two cells' CIs when "
		 "raw samples are missing). Reduction = 1 − t(variant)/t(LayerNorm), the RMSNorm "
		 "paper's figure. FlashNorm (fused) is compared with RMSNorm then the same GEMM "
		 "(unfused), never with LayerNorm. %s", NB_REPORT_RESAMPLES, nb_rep_marks_note);
	/* the norm-projection pair of the block benchmark (suite "normproj")
	 * follows the kernels, its rows marked */
	for (size_t mi = 0; mi < n && st == NB_OK; mi++)
		for (int su = 0; su < 2 && st == NB_OK; su++) {
			const char *suite = su ? "normproj" : "kernel";
			if (in[mi].has_run)
				st = nb_rep_timing_suite(t, mi, &in[mi].res, suite);
		}
	nb_report_table_sort(t);
	return st;
}

/* -------------------------------------------------------- block table */

enum nb_status nb_report_build_block(const struct nb_report_input *in, size_t n,
				     struct nb_report_table *t)
{
	static const struct nb_report_col keys[] = {
		{ "tokens×d", true }, { "FFN", false }, { "dtype", false }, { "dir", false },
		{ "threads", true }, { "cache", false }, { "normalization", false },
	};
	static const struct nb_report_col vals[] = {
		{ "time per layer ms [95% CI]", true }, { "reduction vs Pre-LN [95% CI]", true },
		{ "share in normalization", true },
	};
	enum nb_status st = NB_OK;

	nb_report_table_init(t, "block", "End-to-end transformer layer: time per layer per "
			     "normalization arrangement", in, n);
	t->timed = true;
	nb_report_table_columns(t, keys, NB_REPORT_COUNT(keys), 6, vals, NB_REPORT_COUNT(vals),
				nb_rep_time_csv_cols, NB_REPORT_COUNT(nb_rep_time_csv_cols));
	t->csv[t->ncsv++] = "none_median_s";
	t->csv[t->ncsv++] = "norm_share";
	snprintf(t->caption, sizeof(t->caption),
		 "Median time of one layer forward pass over all tokens in ms with its bootstrap "
		 "95%% CI. Reduction = 1 − t(arrangement)/t(Pre-LN) with the 95%% bootstrap CI "
		 "of the ratio of medians. Share in normalization = (t − t(no normalization)) / "
		 "t of the same configuration (the no-normalization layer is the bound of what "
		 "any normalization change can win); a point estimate. %s", nb_rep_marks_note);
	for (size_t mi = 0; mi < n && st == NB_OK; mi++) {
		const struct nb_results *r = &in[mi].res;
		struct nb_report_entry *e;
		size_t ne;

		if (!in[mi].has_run)
			continue;
		st = nb_report_entries(r, "block", &e, &ne);
		for (size_t i = 0; i < ne && st == NB_OK; i++) {
			const struct nb_cell_row *c = &r->cells[e[i].cell];
			char id[256], shape[64], thr[16], v[128], sp[96], red[96], b[64];
			const char *key[7];
			struct nb_report_row *row;
			size_t col = 0;
			double share = NAN, tnone = NAN;

			snprintf(id, sizeof(id), "%s|%d|%s", e[i].config, e[i].series_order,
				 e[i].series);
			nb_rep_shape(c, shape, sizeof(shape));
			snprintf(thr, sizeof(thr), "%d", (int)c->threads);
			key[0] = shape; key[1] = c->algo; key[2] = c->dtype; key[3] = c->dir;
			key[4] = thr; key[5] = c->cache; key[6] = e[i].series;
			st = nb_rep_row(t, id, key, &row);
			if (st != NB_OK)
				break;
			nb_rep_fmt_time(c, 1e3, v, sizeof(v));
			NB_VAL(0, "%s", v);
			if (e[i].has_base && e[i].base == e[i].cell) {
				NB_VAL(1, "baseline");
			} else if (e[i].has_base) {
				nb_rep_fmt_ratio(&e[i].speedup, sp, sizeof(sp), red, sizeof(red));
				NB_VAL(1, "%s", red);
			}
			if (e[i].has_none && e[i].none != e[i].cell) {
				tnone = r->cells[e[i].none].median_s;
				share = (c->median_s - tnone) / c->median_s;
				NB_VAL(2, "%.1f%%", share * 100);
			} else {
				NB_VAL(2, "–");
			}
			if (st == NB_OK)
				st = nb_rep_time_csv(t, row, mi, r, &e[i], &col);
			NB_CSV("%s", nb_rep_num(tnone, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(share, b, sizeof(b)));
		}
		free(e);
	}
	nb_report_table_sort(t);
	return st;
}

/* ---------------------------------------------------- bandwidth table */

enum nb_status nb_report_build_bandwidth(const struct nb_report_input *in, size_t n,
					 struct nb_report_table *t)
{
	static const struct nb_report_col keys[] = {
		{ "rows×d", true }, { "dtype", false }, { "dir", false }, { "threads", true },
		{ "cache", false }, { "variant", false }, { "implementation", false },
	};
	static const struct nb_report_col vals[] = {
		{ "GB/s [95% CI]", true }, { "limit GB/s", true }, { "of limit", true },
		{ "working set", true },
	};
	static const char *const csv[] = {
		"suite", "rows", "d", "dtype", "acc", "dir", "threads", "cache", "variant", "algo",
		"impl", "isa", "median_s", "bytes", "flops", "working_set_bytes", "gbps",
		"gbps_lo", "gbps_hi", "gflops", "limit_gbps", "fraction", "unstable", "verified",
	};
	enum nb_status st = NB_OK;

	nb_report_table_init(t, "bandwidth", "Achieved bandwidth against the machine's "
			     "measured limit", in, n);
	t->timed = true;
	nb_report_table_columns(t, keys, NB_REPORT_COUNT(keys), 5, vals,
				NB_REPORT_COUNT(vals), csv, NB_REPORT_COUNT(csv));
	snprintf(t->caption, sizeof(t->caption),
		 "Every timed kernel cell. GB/s = bytes the algorithm must move per call "
		 "(STREAM counting: read x, write y, parameters once; 1 GB = 1e9 bytes) / median "
		 "time; its CI from the time's CI. Limit = the best STREAM copy (ordinary or "
		 "non-temporal stores) this machine measured in the same run for the cell's thread "
		 "count at the smallest cache level holding its working set. %s",
		 nb_rep_marks_note);
	for (size_t mi = 0; mi < n && st == NB_OK; mi++) {
		const struct nb_results *r = &in[mi].res;

		if (!in[mi].has_run)
			continue;
		for (size_t i = 0; i < r->ncells && st == NB_OK; i++) {
			const struct nb_cell_row *c = &r->cells[i];
			char id[320], cfg[160], shape[64], thr[16], b[64], ws[32];
			char g[32], glo[32], ghi[32];
			const char *key[7], *name;
			struct nb_report_row *row;
			int order;
			size_t col = 0;
			double lo = c->ci_hi_s > 0 ? c->bytes / c->ci_hi_s / 1e9 : (double)NAN;
			double hi = c->ci_lo_s > 0 ? c->bytes / c->ci_lo_s / 1e9 : (double)NAN;

			if (strcmp(c->suite, "kernel") != 0)
				continue;
			name = nb_report_series_name(c->suite, c->variant,
						     nb_report_series_algo(c->suite, c), &order);
			nb_report_config_id(c, cfg, sizeof(cfg));
			snprintf(id, sizeof(id), "%s|%d|%s|%s", cfg, order, name, c->impl);
			nb_rep_shape(c, shape, sizeof(shape));
			snprintf(thr, sizeof(thr), "%d", (int)c->threads);
			key[0] = shape; key[1] = c->dtype; key[2] = c->dir; key[3] = thr;
			key[4] = c->cache; key[5] = name; key[6] = c->impl;
			st = nb_rep_row(t, id, key, &row);
			if (st != NB_OK)
				break;
			NB_VAL(0, "%s [%s, %s]%s", nb_rep_sig(c->gbps, 3, g, sizeof(g)),
			       nb_rep_sig(lo, 3, glo, sizeof(glo)), nb_rep_sig(hi, 3, ghi, sizeof(ghi)),
			       nb_rep_marks(c));
			NB_VAL(1, "%s", nb_rep_sig(c->limit_gbps, 3, g, sizeof(g)));
			if (isfinite(c->fraction))
				NB_VAL(2, "%.0f%%", c->fraction * 100);
			else
				NB_VAL(2, "–");
			NB_VAL(3, "%s", nb_fmt_bytes(c->working_set_bytes, ws, sizeof(ws)));
			NB_CSV("%s", c->suite);
			NB_CSV("%llu", (unsigned long long)c->rows);
			NB_CSV("%llu", (unsigned long long)c->d);
			NB_CSV("%s", c->dtype);
			NB_CSV("%s", c->acc);
			NB_CSV("%s", c->dir);
			NB_CSV("%d", (int)c->threads);
			NB_CSV("%s", c->cache);
			NB_CSV("%s", c->variant);
			NB_CSV("%s", c->algo);
			NB_CSV("%s", c->impl);
			NB_CSV("%s", c->isa);
			NB_CSV("%s", nb_rep_num(c->median_s, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->bytes, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->flops, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->working_set_bytes, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->gbps, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(lo, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(hi, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->gflops, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->limit_gbps, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(c->fraction, b, sizeof(b)));
			NB_CSV("%d", (int)c->unstable);
			NB_CSV("%d", (int)c->verified);
		}
	}
	nb_report_table_sort(t);
	return st;
}

/* ------------------------------------------------ verification tables */

static double nb_rep_claim_ratio(const struct nb_verify_claim_row *c)
{
	if (c->bound > 0)
		return c->observed / c->bound;
	return c->observed > 0 ? INFINITY : 0;
}

/* One row of the claims table per claim, name, dtype and kind. */
static bool nb_rep_claim_same(const struct nb_verify_claim_row *a,
			      const struct nb_verify_claim_row *b)
{
	return strcmp(a->claim, b->claim) == 0 && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->dtype, b->dtype) == 0 && a->control == b->control;
}

static const char *nb_rep_claim_verdict(bool control, bool all_pass)
{
	if (control)
		return all_pass ? "fails, as it must" : "HOLDS: control blind";
	return all_pass ? "holds" : "FAILS";
}

enum nb_status nb_report_build_claims(const struct nb_report_input *in, size_t n,
				      struct nb_report_table *t)
{
	static const struct nb_report_col keys[] = {
		{ "claim", false }, { "what", false }, { "dtype", false }, { "control", false },
	};
	static const struct nb_report_col vals[] = {
		{ "instances", true }, { "observed (worst)", true }, { "bound", true },
		{ "verdict", false },
	};
	static const char *const csv[] = {
		"claim", "name", "dtype", "control", "instances", "failed", "observed", "bound",
		"observed_to_bound", "err_a", "err_b", "seed", "depth", "heads", "d", "seq",
		"param", "verdict",
	};
	enum nb_status st = NB_OK;

	nb_report_table_init(t, "claims", "Equivalence claims: observed difference against "
			     "its derived bound", in, n);
	nb_report_table_columns(t, keys, NB_REPORT_COUNT(keys), 1, vals,
				NB_REPORT_COUNT(vals), csv, NB_REPORT_COUNT(csv));
	snprintf(t->caption, sizeof(t->caption),
		 "One row per claim, dtype and kind (the instances: seeds, depths, widths). "
		 "Observed = the difference between the two sides, normwise relative to the "
		 "long-double truth, of the worst instance (largest observed/bound; for a control "
		 "the smallest); bound = that instance's derived bound. A negative control (ctl) "
		 "breaks the equivalence on purpose and must exceed its bound: its verdict is "
		 "\"fails, as it must\"; a control that holds means the check is blind.");
	for (size_t mi = 0; mi < n && st == NB_OK; mi++) {
		const struct nb_verify_tables *v = &in[mi].ver;

		if (!in[mi].has_verify)
			continue;
		for (size_t i = 0; i < v->nclaims && st == NB_OK; i++) {
			const struct nb_verify_claim_row *c = &v->claims[i];
			size_t worst = i, count = 0, failed = 0;
			char id[256], b[64];
			const char *key[4];
			struct nb_report_row *row;
			bool seen = false;
			size_t col = 0;

			for (size_t j = 0; j < i && !seen; j++)
				seen = nb_rep_claim_same(&v->claims[j], c);
			if (seen)
				continue;
			for (size_t j = i; j < v->nclaims; j++) {
				const struct nb_verify_claim_row *x = &v->claims[j];
				if (!nb_rep_claim_same(x, c))
					continue;
				count++;
				failed += x->pass == 0;
				if (c->control ? nb_rep_claim_ratio(x) < nb_rep_claim_ratio(&v->claims[worst])
					       : nb_rep_claim_ratio(x) > nb_rep_claim_ratio(&v->claims[worst]))
					worst = j;
			}
			/* claim id first, then the order verify wrote them in */
			snprintf(id, sizeof(id), "%-8s|%08zu|%s|%s|%d", c->claim, i, c->name, c->dtype,
				 (int)c->control);
			{
				/* the same claim row of an earlier machine keeps its place */
				for (size_t r = 0; r < t->nrows; r++)
					if (strcmp(t->rows[r].key[0], c->claim) == 0 &&
					    strcmp(t->rows[r].key[1], c->name) == 0 &&
					    strcmp(t->rows[r].key[2], c->dtype) == 0 &&
					    strcmp(t->rows[r].key[3], c->control ? "ctl" : "") == 0) {
						snprintf(id, sizeof(id), "%s", t->rows[r].id);
						break;
					}
			}
			key[0] = c->claim; key[1] = c->name; key[2] = c->dtype;
			key[3] = c->control ? "ctl" : "";
			st = nb_rep_row(t, id, key, &row);
			if (st != NB_OK)
				break;
			const struct nb_verify_claim_row *w = &v->claims[worst];
			NB_VAL(0, "%zu", count);
			NB_VAL(1, "%.3g", w->observed);
			NB_VAL(2, "%.3g", w->bound);
			NB_VAL(3, "%s", nb_rep_claim_verdict(c->control, failed == 0));
			NB_CSV("%s", c->claim);
			NB_CSV("%s", c->name);
			NB_CSV("%s", c->dtype);
			NB_CSV("%d", (int)c->control);
			NB_CSV("%zu", count);
			NB_CSV("%zu", failed);
			NB_CSV("%s", nb_rep_num(w->observed, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(w->bound, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(nb_rep_claim_ratio(w), b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(w->err_a, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(w->err_b, b, sizeof(b)));
			NB_CSV("%llu", (unsigned long long)w->seed);
			NB_CSV("%llu", (unsigned long long)w->depth);
			NB_CSV("%llu", (unsigned long long)w->heads);
			NB_CSV("%llu", (unsigned long long)w->d);
			NB_CSV("%llu", (unsigned long long)w->seq);
			NB_CSV("%s", nb_rep_num(w->param, b, sizeof(b)));
			NB_CSV("%s", nb_rep_claim_verdict(c->control, failed == 0));
		}
	}
	nb_report_table_sort(t);
	return st;
}

/* One row of the accuracy table per kernel and output. */
static bool nb_rep_kernel_same(const struct nb_verify_kernel_row *a,
			       const struct nb_verify_kernel_row *b)
{
	return strcmp(a->kernel, b->kernel) == 0 && strcmp(a->output, b->output) == 0;
}

static int nb_rep_variant_order(const char *v)
{
	static const char *const order[] = { "layernorm", "rmsnorm", "prmsnorm", "crmsnorm",
					     "flashnorm" };
	for (int i = 0; i < 5; i++)
		if (strcmp(order[i], v) == 0)
			return i;
	return 9;
}

static int nb_rep_output_order(const char *o)
{
	static const char *const order[] = { "y", "z", "dx", "dgain", "dbias" };
	for (int i = 0; i < 5; i++)
		if (strcmp(order[i], o) == 0)
			return i;
	return 9;
}

enum nb_status nb_report_build_accuracy(const struct nb_report_input *in, size_t n,
					struct nb_report_table *t)
{
	static const struct nb_report_col keys[] = {
		{ "kernel", false }, { "output", false }, { "dtype", false }, { "acc", false },
		{ "ISA", false },
	};
	static const struct nb_report_col vals[] = {
		{ "runs", true }, { "max ULPs", true }, { "max err/bound", true },
		{ "verdict", false },
	};
	static const char *const csv[] = {
		"kernel", "variant", "dir", "output", "dtype", "acc", "isa", "runs", "failed",
		"max_ulps", "max_err_to_bound", "max_abs_err", "max_rel_err", "worst_data",
		"worst_rows", "worst_d", "worst_eps_mode", "worst_row", "worst_col", "verdict",
	};
	enum nb_status st = NB_OK;

	nb_report_table_init(t, "accuracy", "Kernel accuracy against the long-double "
			     "reference", in, n);
	nb_report_table_columns(t, keys, NB_REPORT_COUNT(keys), 1, vals,
				NB_REPORT_COUNT(vals), csv, NB_REPORT_COUNT(csv));
	snprintf(t->caption, sizeof(t->caption),
		 "One row per kernel and output array over all its runs (shapes, seeds, data "
		 "kinds, eps conventions). Max ULPs in the kernel's storage dtype; err/bound = "
		 "the largest |error| over the derived error bound (≤ 1 holds). Verdict: holds "
		 "when every run holds.");
	for (size_t mi = 0; mi < n && st == NB_OK; mi++) {
		const struct nb_verify_tables *v = &in[mi].ver;

		if (!in[mi].has_verify)
			continue;
		for (size_t i = 0; i < v->nkernels && st == NB_OK; i++) {
			const struct nb_verify_kernel_row *k = &v->kernels[i];
			size_t count = 0, failed = 0, worst = i;
			double ulps = 0, abs_err = 0, rel_err = 0;
			char id[256], b[64], u[32];
			const char *key[5];
			struct nb_report_row *row;
			bool seen = false;
			size_t col = 0;

			for (size_t j = 0; j < i && !seen; j++)
				seen = nb_rep_kernel_same(&v->kernels[j], k);
			if (seen)
				continue;
			for (size_t j = i; j < v->nkernels; j++) {
				const struct nb_verify_kernel_row *x = &v->kernels[j];
				if (!nb_rep_kernel_same(x, k))
					continue;
				count++;
				failed += x->pass == 0;
				ulps = fmax(ulps, x->max_ulps);
				abs_err = fmax(abs_err, x->max_abs_err);
				rel_err = fmax(rel_err, x->max_rel_err);
				if (!(x->err_to_bound <= v->kernels[worst].err_to_bound))
					worst = j;
			}
			const struct nb_verify_kernel_row *w = &v->kernels[worst];
			snprintf(id, sizeof(id), "%d|%d|%02d|%-8s|%-8s|%s|%d|%s",
				 nb_rep_variant_order(k->variant), strcmp(k->dir, "fwd") != 0,
				 nb_rep_dtype_order(k->dtype), k->acc, k->isa, k->kernel,
				 nb_rep_output_order(k->output), k->output);
			key[0] = k->kernel; key[1] = k->output; key[2] = k->dtype; key[3] = k->acc;
			key[4] = k->isa;
			st = nb_rep_row(t, id, key, &row);
			if (st != NB_OK)
				break;
			NB_VAL(0, "%zu", count);
			NB_VAL(1, "%s", nb_rep_sig(ulps, 3, u, sizeof(u)));
			NB_VAL(2, "%.3f", w->err_to_bound);
			NB_VAL(3, "%s", failed ? "FAILS" : "holds");
			NB_CSV("%s", k->kernel);
			NB_CSV("%s", k->variant);
			NB_CSV("%s", k->dir);
			NB_CSV("%s", k->output);
			NB_CSV("%s", k->dtype);
			NB_CSV("%s", k->acc);
			NB_CSV("%s", k->isa);
			NB_CSV("%zu", count);
			NB_CSV("%zu", failed);
			NB_CSV("%s", nb_rep_num(ulps, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(w->err_to_bound, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(abs_err, b, sizeof(b)));
			NB_CSV("%s", nb_rep_num(rel_err, b, sizeof(b)));
			NB_CSV("%s", w->data);
			NB_CSV("%llu", (unsigned long long)w->rows);
			NB_CSV("%llu", (unsigned long long)w->d);
			NB_CSV("%s", w->eps_mode);
			NB_CSV("%lld", (long long)w->worst_row);
			NB_CSV("%lld", (long long)w->worst_col);
			NB_CSV("%s", failed ? "FAILS" : "holds");
		}
	}
	nb_report_table_sort(t);
	return st;
}
