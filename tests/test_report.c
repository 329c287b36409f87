/* `normbench report` ($NB_BIN, set by `make check`): its tables are computed
 * from a results file made here with known medians and a /verify group and
 * checked number by number against that file; gnuplot really draws PNG and
 * SVG images; a missing gnuplot, a damaged or foreign input fail with a
 * message and status 1; index.html references only files that exist. No
 * timing is measured or asserted anywhere. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5.h>

#include "bench/nb_results.h"
#include "bench/nb_stats.h"
#include "reports/nb_report.h"
#include "tests/nb_test.h"
#include "verify/nb_verify_file.h"

/* ------------------------------------------------------------ helpers */

static const char *nb_path(const char *name)
{
	return nb_test_path("report", name);
}

/* Runs "ENV $NB_BIN report ARGS" through sh; stdout and stderr into the
 * returned strings (caller frees). Returns the exit status. */
static int nb_report_cmd(const char *env, const char *args, char **out, char **err)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "report %s", args);
	return nb_test_run_bin("report", false, env, cmd, out, err);
}

/* ------------------------------------------------------ a tiny CSV reader */

struct nb_csv {
	size_t ncols, nrows;
	char **cell;     /* (nrows + 1) x ncols: the header first */
};

static void nb_csv_free(struct nb_csv *c)
{
	for (size_t i = 0; i < (c->nrows + 1) * c->ncols; i++)
		free(c->cell[i]);
	free(c->cell);
}

/* RFC 4180: fields may be quoted ("" is a quote); every line has the
 * header's number of fields (asserted). */
static struct nb_csv nb_csv_read(const char *path)
{
	struct nb_csv c = { 0 };
	char *s = nb_test_slurp(path, NULL), *p;
	size_t cap = 0, n = 0, fields = 0;

	ck_assert_msg(s != NULL, "%s missing", path);
	for (p = s; *p;) {
		char *f = malloc(strlen(p) + 1);
		size_t j = 0;
		ck_assert_ptr_nonnull(f);
		if (*p == '"') {
			for (p++; *p; p++) {
				if (*p == '"' && p[1] == '"') {
					f[j++] = '"';
					p++;
				} else if (*p == '"') {
					p++;
					break;
				} else {
					f[j++] = *p;
				}
			}
		} else {
			while (*p && *p != ',' && *p != '\n')
				f[j++] = *p++;
		}
		f[j] = '\0';
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			c.cell = realloc(c.cell, cap * sizeof(char *));
			ck_assert_ptr_nonnull(c.cell);
		}
		c.cell[n++] = f;
		fields++;
		if (*p == ',') {
			p++;
		} else {
			ck_assert_msg(*p == '\n' || *p == '\0', "%s: junk after a quoted field", path);
			if (*p)
				p++;
			if (c.ncols == 0)
				c.ncols = fields;
			ck_assert_msg(fields == c.ncols, "%s: a line of %zu fields, header has %zu",
				      path, fields, c.ncols);
			fields = 0;
		}
	}
	ck_assert_int_eq(fields, 0);
	ck_assert_uint_gt(c.ncols, 0);
	c.nrows = n / c.ncols - 1;
	free(s);
	return c;
}

static size_t nb_csv_col(const struct nb_csv *c, const char *name)
{
	for (size_t i = 0; i < c->ncols; i++)
		if (strcmp(c->cell[i], name) == 0)
			return i;
	ck_abort_msg("CSV has no column %s", name);
	return 0;
}

static const char *nb_csv_get(const struct nb_csv *c, size_t row, const char *name)
{
	return c->cell[(row + 1) * c->ncols + nb_csv_col(c, name)];
}

static double nb_csv_num(const struct nb_csv *c, size_t row, const char *name)
{
	const char *s = nb_csv_get(c, row, name);
	char *end;
	double x = strtod(s, &end);
	ck_assert_msg(*s && *end == '\0', "column %s row %zu: '%s' is not a number", name, row, s);
	return x;
}

/* ------------------------------------------- the results file of a test */

/* One cell (algo: the block suite's FFN kind) with 9 samples m*(1 + k/100), k = -4..4: their median is m
 * exactly (the middle sample; no interpolation with an odd count). */
static void nb_add_cell(struct nb_results *r, const char *suite, const char *variant,
			const char *algo, const char *impl, const char *isa, uint64_t rows, uint64_t d,
			int threads, double median, int verified)
{
	struct nb_cell_row c;
	double x[9];
	struct nb_summary s;

	memset(&c, 0, sizeof(c));
	nb_res_strcpy(c.suite, sizeof(c.suite), suite);
	nb_res_strcpy(c.variant, sizeof(c.variant), variant);
	nb_res_strcpy(c.impl, sizeof(c.impl), impl);
	nb_res_strcpy(c.isa, sizeof(c.isa), isa);
	nb_res_strcpy(c.dtype, sizeof(c.dtype), "f32");
	nb_res_strcpy(c.acc, sizeof(c.acc), "f32");
	nb_res_strcpy(c.dir, sizeof(c.dir), "fwd");
	nb_res_strcpy(c.algo, sizeof(c.algo), algo);
	nb_res_strcpy(c.cache, sizeof(c.cache), "hot");
	c.rows = rows;
	c.d = c.n = c.k = d;
	c.threads = threads;
	c.samples = 9;
	c.first_sample = r->nsamples;
	c.iterations = 100;
	for (int k = 0; k < 9; k++) {
		struct nb_sample_row sr = { 0 };
		x[k] = median * (1 + (k - 4) / 100.0);
		sr.cell = r->ncells;
		sr.round = (uint32_t)k;
		sr.seconds = x[k];
		sr.iterations = 100;
		ck_assert_int_eq(nb_results_add_sample(r, &sr), NB_OK);
	}
	ck_assert_int_eq(nb_summarize(x, 9, 7, &s), NB_OK);
	ck_assert(s.median == median);
	c.median_s = s.median;
	c.mean_s = s.mean;
	c.min_s = s.min;
	c.max_s = s.max;
	c.q1_s = s.q1;
	c.q3_s = s.q3;
	c.iqr_s = s.iqr;
	c.ci_lo_s = s.ci_lo;
	c.ci_hi_s = s.ci_hi;
	c.unstable = s.unstable;
	c.bytes = 2.0 * 4 * (double)(rows * d);
	c.working_set_bytes = c.bytes;
	c.gbps = c.bytes / median / 1e9;
	c.limit_gbps = threads == 1 ? 100.0 : 150.0;
	c.fraction = c.gbps / c.limit_gbps;
	c.verified = verified;
	ck_assert_int_eq(nb_results_add_cell(r, &c), NB_OK);
}

/* Known medians (seconds) of the kernel cells: [shape][threads][variant]. */
static const char *const nb_variants[4] = { "layernorm", "rmsnorm", "prmsnorm", "crmsnorm" };
static const double nb_medians[2][2][4] = {
	{ { 10.0e-6, 8.00e-6, 5.00e-6, 9.50e-6 }, { 6.00e-6, 4.00e-6, 3.00e-6, 5.00e-6 } },
	{ { 40.0e-6, 25.0e-6, 20.0e-6, 38.0e-6 }, { 22.0e-6, 13.0e-6, 11.0e-6, 21.0e-6 } },
};
static const uint64_t nb_rows[2] = { 64, 16 }, nb_d[2] = { 1024, 4096 };

/* A results file of host `host`: the kernel cells above (the best
 * implementation of each variant, a slower portable RMSNorm and a faster
 * RMSNorm that failed its accuracy check, which must never be picked),
 * optionally end-to-end block cells, and a /verify group; `emulated` (NULL:
 * native) is the run's emulation attribute. */
static void nb_make_run_file(const char *path, const char *host, bool block, bool verify,
			     const char *emulated)
{
	struct nb_results r;

	nb_results_init(&r);
	nb_res_strcpy(r.meta.kind, sizeof(r.meta.kind), "run");
	r.meta.complete = 1;
	nb_res_strcpy(r.meta.host, sizeof(r.meta.host), host);
	if (emulated)
		nb_res_strcpy(r.meta.emulated, sizeof(r.meta.emulated), emulated);
	nb_res_strcpy(r.meta.utc_time, sizeof(r.meta.utc_time), "2030-01-02T03:04:05Z");
	nb_res_strcpy(r.meta.cpu_model, sizeof(r.meta.cpu_model), "Test CPU 9000 <&>");
	nb_res_strcpy(r.meta.caches, sizeof(r.meta.caches), "L1d 48K L2 1M L3 32M");
	nb_res_strcpy(r.meta.eps_mode, sizeof(r.meta.eps_mode), "inside");
	nb_res_strcpy(r.meta.prms_round, sizeof(r.meta.prms_round), "ceil");
	nb_res_strcpy(r.meta.git_rev, sizeof(r.meta.git_rev), "0123456789ab");
	nb_res_strcpy(r.meta.compiler, sizeof(r.meta.compiler), "gcc test");
	r.meta.eps = 1e-5;
	r.meta.prms_p = 0.0625;
	r.meta.cores = 2;
	r.meta.stream_count = 2;
	for (int i = 0; i < 2; i++) {
		r.meta.stream_threads[i] = i + 1;
		r.meta.stream_read_gbps[i] = 40.0 + i;
		r.meta.stream_copy_gbps[i] = 25.0 + 10 * i;
		r.meta.stream_copy_nt_gbps[i] = 27.5 + 10 * i;
	}
	for (int s = 0; s < 2; s++)
		for (int t = 0; t < 2; t++)
			for (int v = 0; v < 4; v++) {
				char impl[64];
				snprintf(impl, sizeof(impl), "%s_fwd_f32_avx512", nb_variants[v]);
				nb_add_cell(&r, "kernel", nb_variants[v], "twopass", impl, "avx512", nb_rows[s],
					    nb_d[s], t + 1, nb_medians[s][t][v], 1);
				if (v == 1) {
					nb_add_cell(&r, "kernel", "rmsnorm", "twopass",
						    "rmsnorm_fwd_f32_portable",
						    "portable", nb_rows[s], nb_d[s], t + 1,
						    nb_medians[s][t][v] * 3, 1);
					nb_add_cell(&r, "kernel", "rmsnorm", "twopass",
						    "rmsnorm_fwd_f32_broken",
						    "avx2", nb_rows[s], nb_d[s], t + 1,
						    nb_medians[s][t][v] / 4, 0);
				}
			}
	if (block) {
		/* the arrangements as the block benchmark names them (bench/
		 * nb_block.c). GELU, 64 tokens: Pre-LN 2 ms, Pre-RMSNorm 1.8 ms, no
		 * normalization 1.5 ms (reduction 10%, shares 25% and 1/6); 1
		 * token: 0.2, 0.19, 0.15 ms. SwiGLU, 64 tokens: 3, 2.4, 2 ms. */
		static const struct { const char *arr, *ffn; uint64_t seq; double t; } bl[] = {
			{ "preln", "gelu", 64, 2.0e-3 }, { "prermsnorm", "gelu", 64, 1.8e-3 },
			{ "nonorm", "gelu", 64, 1.5e-3 }, { "preln", "gelu", 1, 0.2e-3 },
			{ "prermsnorm", "gelu", 1, 0.19e-3 }, { "nonorm", "gelu", 1, 0.15e-3 },
			{ "preln", "swiglu", 64, 3.0e-3 }, { "prermsnorm", "swiglu", 64, 2.4e-3 },
			{ "nonorm", "swiglu", 64, 2.0e-3 },
		};
		for (size_t i = 0; i < sizeof(bl) / sizeof(bl[0]); i++)
			nb_add_cell(&r, "block", bl[i].arr, bl[i].ffn, "layernorm_fwd_f32_avx512",
				    "avx512", bl[i].seq, 256, 1, bl[i].t, 1);
	}
	ck_assert_int_eq(nb_results_write(path, &r, true), NB_OK);
	nb_results_free(&r);
	if (verify) {
		struct nb_verify_tables t;
		struct nb_verify_meta m = { 0 };
		/* two instances of one claim (the worst is the larger observed /
		 * bound), its control, and one failing claim */
		static const struct { const char *claim, *name, *dtype; int control;
				      double observed, bound; int pass; } cl[] = {
			{ "E1", "Pre-LN == Pre-RMSNorm (gelu)", "f32", 0, 2e-7, 5e-5, 1 },
			{ "E1", "Pre-LN == Pre-RMSNorm (gelu)", "f32", 0, 4e-7, 5e-5, 1 },
			{ "E1", "control: no recentring", "f32", 1, 0.8, 5e-5, 1 },
			{ "E3", "FlashNorm == RMSNorm then linear", "f64", 0, 3e-13, 2e-13, 0 },
		};
		/* rmsnorm_fwd_f32_avx512 y: 3 runs, max ULPs 12.5, worst err/bound
		 * 0.75; layernorm_bwd_f32_portable dx: 1 failing run */
		static const struct { const char *kernel, *variant, *dir, *output, *isa;
				      double ulps, ratio; int pass; } kr[] = {
			{ "rmsnorm_fwd_f32_avx512", "rmsnorm", "fwd", "y", "avx512", 3.0, 0.25, 1 },
			{ "rmsnorm_fwd_f32_avx512", "rmsnorm", "fwd", "y", "avx512", 12.5, 0.75, 1 },
			{ "rmsnorm_fwd_f32_avx512", "rmsnorm", "fwd", "y", "avx512", 7.0, 0.5, 1 },
			{ "layernorm_bwd_f32_portable", "layernorm", "bwd", "dx", "portable", 900.0,
			  1.5, 0 },
		};
		nb_verify_tables_init(&t);
		for (size_t i = 0; i < sizeof(cl) / sizeof(cl[0]); i++) {
			struct nb_verify_claim_row c;
			memset(&c, 0, sizeof(c));
			nb_vf_strcpy(c.claim, sizeof(c.claim), cl[i].claim);
			nb_vf_strcpy(c.name, sizeof(c.name), cl[i].name);
			nb_vf_strcpy(c.dtype, sizeof(c.dtype), cl[i].dtype);
			c.control = cl[i].control;
			c.observed = cl[i].observed;
			c.bound = cl[i].bound;
			c.pass = cl[i].pass;
			c.seed = 100 + i;
			ck_assert_int_eq(nb_verify_add_claim(&t, &c), NB_OK);
		}
		for (size_t i = 0; i < sizeof(kr) / sizeof(kr[0]); i++) {
			struct nb_verify_kernel_row k;
			memset(&k, 0, sizeof(k));
			nb_vf_strcpy(k.kernel, sizeof(k.kernel), kr[i].kernel);
			nb_vf_strcpy(k.variant, sizeof(k.variant), kr[i].variant);
			nb_vf_strcpy(k.dir, sizeof(k.dir), kr[i].dir);
			nb_vf_strcpy(k.output, sizeof(k.output), kr[i].output);
			nb_vf_strcpy(k.dtype, sizeof(k.dtype), "f32");
			nb_vf_strcpy(k.acc, sizeof(k.acc), "f32");
			nb_vf_strcpy(k.isa, sizeof(k.isa), kr[i].isa);
			nb_vf_strcpy(k.data, sizeof(k.data), "gauss");
			nb_vf_strcpy(k.eps_mode, sizeof(k.eps_mode), "inside");
			k.rows = 4;
			k.d = 64;
			k.max_ulps = kr[i].ulps;
			k.err_to_bound = kr[i].ratio;
			k.pass = kr[i].pass;
			ck_assert_int_eq(nb_verify_add_kernel(&t, &k), NB_OK);
		}
		m.command_line = "normbench verify (test)";
		m.mode = "quick";
		m.seed = 1;
		m.conv = NB_CONVENTIONS_DEFAULT;
		ck_assert_int_eq(nb_verify_write_into(path, &t, &m, true), NB_OK);
		nb_verify_tables_free(&t);
	}
}

static void nb_make_file(const char *path, const char *host, bool block, bool verify)
{
	nb_make_run_file(path, host, block, verify, NULL);
}

/* The CSV row of timing.csv for a machine, shape, threads and series. */
static size_t nb_timing_row(const struct nb_csv *c, const char *host, uint64_t rows,
			    int threads, const char *variant)
{
	for (size_t i = 0; i < c->nrows; i++)
		if (strcmp(nb_csv_get(c, i, "host"), host) == 0 &&
		    (uint64_t)nb_csv_num(c, i, "rows") == rows &&
		    (int)nb_csv_num(c, i, "threads") == threads &&
		    strcmp(nb_csv_get(c, i, "variant"), variant) == 0)
			return i;
	ck_abort_msg("timing.csv: no row %s %llu t%d %s", host, (unsigned long long)rows,
		     threads, variant);
	return 0;
}

/* ------------------------------------------------------------- tests */

/* The timing table: every speedup is median(LayerNorm)/median(variant) of
 * the file, bit for bit in the CSV and to the printed precision in the
 * Markdown; the CI brackets it; the fastest verified implementation is
 * used; two machines sit side by side, labelled by host. */
START_TEST(test_timing_numbers)
{
	const char *a = nb_path("a.h5"), *b = nb_path("b.h5"), *out = nb_path("rep");
	char args[2048], *o, *e, *md, *tex;
	struct nb_csv c;

	nb_make_file(a, "alpha", false, true);
	nb_make_file(b, "beta", false, false);
	snprintf(args, sizeof(args), "'%s' '%s' --out '%s' --no-figures", a, b, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	ck_assert_msg(strstr(o, "index.html") != NULL, "stdout: %s", o);
	free(o);
	free(e);

	c = nb_csv_read(nb_path("rep/timing.csv"));
	md = nb_test_slurp(nb_path("rep/timing.md"), NULL);
	tex = nb_test_slurp(nb_path("rep/timing.tex"), NULL);
	ck_assert_ptr_nonnull(md);
	ck_assert_ptr_nonnull(tex);
	/* 2 machines x 2 shapes x 2 thread counts x 4 variants */
	ck_assert_uint_eq(c.nrows, 32);
	for (int h = 0; h < 2; h++)
		for (int s = 0; s < 2; s++)
			for (int t = 0; t < 2; t++)
				for (int v = 0; v < 4; v++) {
					const char *host = h ? "beta" : "alpha";
					size_t i = nb_timing_row(&c, host, nb_rows[s], t + 1,
								 nb_variants[v]);
					double med = nb_csv_num(&c, i, "median_s");
					char impl[64], cell[128];

					/* the file's own median, the fastest verified kernel */
					ck_assert(med == nb_medians[s][t][v]);
					snprintf(impl, sizeof(impl), "%s_fwd_f32_avx512", nb_variants[v]);
					ck_assert_str_eq(nb_csv_get(&c, i, "impl"), impl);
					ck_assert_uint_eq((uint64_t)nb_csv_num(&c, i, "d"), nb_d[s]);
					if (v == 0) {
						ck_assert(nb_csv_num(&c, i, "speedup") == 1.0);
						continue;
					}
					double sp = nb_csv_num(&c, i, "speedup");
					double lo = nb_csv_num(&c, i, "speedup_lo");
					double hi = nb_csv_num(&c, i, "speedup_hi");
					double red = nb_csv_num(&c, i, "reduction_pct");
					/* the same division of the same two doubles */
					ck_assert(sp == nb_medians[s][t][0] / nb_medians[s][t][v]);
					ck_assert(lo <= sp && sp <= hi);
					ck_assert_str_eq(nb_csv_get(&c, i, "ci_method"), "bootstrap");
					/* samples within +-4% of each median: a ratio of two
					 * resampled medians lies within (0.96/1.04, 1.04/0.96)
					 * times the ratio of the medians */
					ck_assert(lo >= sp * 0.96 / 1.04 && hi <= sp * 1.04 / 0.96);
					ck_assert(fabs(red - (1 - 1 / sp) * 100) <= 1e-9 * fabs(red) + 1e-12);
					/* the Markdown shows these numbers as printed */
					snprintf(cell, sizeof(cell), "| %.2f× [%.2f, %.2f] | %.1f%% [%.1f, %.1f]",
						 sp, lo, hi, red, (1 - 1 / lo) * 100, (1 - 1 / hi) * 100);
					ck_assert_msg(strstr(md, cell) != NULL, "timing.md lacks '%s'", cell);
					snprintf(cell, sizeof(cell), "%.2f$\\times$ [%.2f, %.2f]", sp, lo, hi);
					ck_assert_msg(strstr(tex, cell) != NULL, "timing.tex lacks '%s'", cell);
				}
	/* times in µs, 3 significant digits: 10.0 and 8.00 us */
	ck_assert_msg(strstr(md, "| 10.0 [") && strstr(md, "| 8.00 ["), "%s", md);
	/* side by side: both machines' columns, labelled by host */
	ck_assert(strstr(md, "alpha: time µs [95% CI]") && strstr(md, "beta: time µs [95% CI]"));
	ck_assert(strstr(tex, "\\toprule") && strstr(tex, "\\midrule") &&
		  strstr(tex, "\\bottomrule") && strstr(tex, "\\multicolumn{4}{c}{alpha}"));
	nb_csv_free(&c);
	free(md);
	free(tex);

	/* bandwidth: every cell of both files, with its GB/s and fraction */
	c = nb_csv_read(nb_path("rep/bandwidth.csv"));
	ck_assert_uint_eq(c.nrows, 2 * 2 * 2 * 6);
	for (size_t i = 0; i < c.nrows; i++) {
		double bytes = nb_csv_num(&c, i, "bytes"), med = nb_csv_num(&c, i, "median_s");
		double gbps = nb_csv_num(&c, i, "gbps");
		ck_assert(gbps == bytes / med / 1e9);
		ck_assert(nb_csv_num(&c, i, "fraction") == gbps / nb_csv_num(&c, i, "limit_gbps"));
	}
	nb_csv_free(&c);

	/* verification: only alpha has it; the worst of the two E1 instances,
	 * the control's verdict, the failing claim and kernel */
	c = nb_csv_read(nb_path("rep/claims.csv"));
	ck_assert_uint_eq(c.nrows, 3);
	ck_assert_str_eq(nb_csv_get(&c, 0, "host"), "alpha");
	ck_assert(nb_csv_num(&c, 0, "observed") == 4e-7 && nb_csv_num(&c, 0, "instances") == 2);
	ck_assert_str_eq(nb_csv_get(&c, 0, "verdict"), "holds");
	ck_assert_str_eq(nb_csv_get(&c, 1, "control"), "1");
	ck_assert_str_eq(nb_csv_get(&c, 1, "verdict"), "fails, as it must");
	ck_assert_str_eq(nb_csv_get(&c, 2, "claim"), "E3");
	ck_assert_str_eq(nb_csv_get(&c, 2, "verdict"), "FAILS");
	nb_csv_free(&c);
	c = nb_csv_read(nb_path("rep/accuracy.csv"));
	ck_assert_uint_eq(c.nrows, 2);
	for (size_t i = 0; i < c.nrows; i++) {
		if (strcmp(nb_csv_get(&c, i, "kernel"), "rmsnorm_fwd_f32_avx512") == 0) {
			ck_assert(nb_csv_num(&c, i, "runs") == 3);
			ck_assert(nb_csv_num(&c, i, "max_ulps") == 12.5);
			ck_assert(nb_csv_num(&c, i, "max_err_to_bound") == 0.75);
			ck_assert_str_eq(nb_csv_get(&c, i, "verdict"), "holds");
		} else {
			ck_assert_str_eq(nb_csv_get(&c, i, "kernel"), "layernorm_bwd_f32_portable");
			ck_assert_str_eq(nb_csv_get(&c, i, "verdict"), "FAILS");
		}
	}
	nb_csv_free(&c);
	md = nb_test_slurp(nb_path("rep/accuracy.md"), NULL);
	ck_assert_msg(strstr(md, "| 3 | 12.5 | 0.750 | holds |") != NULL, "%s", md);
	/* beta has no /verify: no columns of its own in the verification tables */
	ck_assert_msg(strstr(md, "alpha: verdict") && !strstr(md, "beta:"), "%s", md);
	free(md);
	/* no block cells: no block table */
	ck_assert(!nb_test_exists(nb_path("rep/block.md")));
}
END_TEST

/* The end-to-end block table: reduction against Pre-LN and the share of
 * the layer's time in normalization, from the no-normalization cell. */
START_TEST(test_block_table)
{
	const char *a = nb_path("a.h5"), *out = nb_path("rep");
	char args[2048], *o, *e;
	struct nb_csv c;
	size_t seen = 0;

	nb_make_file(a, "alpha", true, false);
	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", a, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	c = nb_csv_read(nb_path("rep/block.csv"));
	ck_assert_uint_eq(c.nrows, 9);
	for (size_t i = 0; i < c.nrows; i++) {
		double t = nb_csv_num(&c, i, "median_s");
		bool swiglu = strcmp(nb_csv_get(&c, i, "algo"), "swiglu") == 0;
		bool many = (uint64_t)nb_csv_num(&c, i, "rows") == 64;
		double none = swiglu ? 2.0e-3 : many ? 1.5e-3 : 0.15e-3;
		double pre = swiglu ? 3.0e-3 : many ? 2.0e-3 : 0.2e-3;
		if (strcmp(nb_csv_get(&c, i, "variant"), "nonorm") == 0)
			continue;
		ck_assert(nb_csv_num(&c, i, "none_median_s") == none);
		ck_assert(nb_csv_num(&c, i, "norm_share") == (t - none) / t);
		ck_assert(nb_csv_num(&c, i, "speedup") == pre / t);
		seen++;
	}
	ck_assert_uint_eq(seen, 6);
	nb_csv_free(&c);
	char *md = nb_test_slurp(nb_path("rep/block.md"), NULL);
	/* GELU, 64 tokens: Pre-RMSNorm 1.80 ms, 10.0% less than Pre-LN, 16.7% of
	 * the layer in normalization; Pre-LN 25.0%; SwiGLU Pre-RMSNorm 20.0% */
	ck_assert_msg(strstr(md, "| Pre-RMSNorm | 1.80 [") && strstr(md, "| 10.0% [") &&
		      strstr(md, "| 16.7% |") && strstr(md, "| 25.0% |") &&
		      strstr(md, "| 20.0% [") && strstr(md, "| swiglu |"), "%s", md);
	free(md);
	ck_assert(nb_test_exists(nb_path("rep/timing.md")));
}
END_TEST

static bool nb_is_png(const char *path)
{
	size_t n = 0;
	char *s = nb_test_slurp(path, &n);
	bool ok = s && n > 100 && memcmp(s, "\x89PNG\r\n\x1a\n", 8) == 0;
	free(s);
	return ok;
}

static bool nb_is_svg(const char *path)
{
	size_t n = 0;
	char *s = nb_test_slurp(path, &n);
	bool ok = s && n > 100 && strstr(s, "<svg") != NULL && strstr(s, "</svg>") != NULL;
	free(s);
	return ok;
}

/* gnuplot draws every figure as PNG and SVG; index.html shows each one and
 * refers only to files that exist in the report folder. */
START_TEST(test_figures_and_html)
{
	const char *a = nb_path("a.h5"), *out = nb_path("rep");
	static const char *const figs[] = { "fig-speedup-alpha-f32-fwd", "fig-gbps-alpha-f32-fwd",
					    "fig-threads-alpha-f32-fwd", "fig-accuracy-alpha",
					    "fig-block-alpha-gelu-f32-fwd-t1-hot",
					    "fig-block-alpha-swiglu-f32-fwd-t1-hot" };
	char args[2048], *o, *e, *html, *p;
	size_t refs = 0;

	nb_make_file(a, "alpha", true, true);
	snprintf(args, sizeof(args), "'%s' --out '%s'", a, out);
	ck_assert_msg(nb_report_cmd(NULL, args, &o, &e) == 0, "stderr: %s", e);
	ck_assert_msg(strstr(o, "6 figures") != NULL, "stdout: %s", o);
	free(o);
	free(e);
	html = nb_test_slurp(nb_path("rep/index.html"), NULL);
	ck_assert_ptr_nonnull(html);
	for (size_t i = 0; i < sizeof(figs) / sizeof(figs[0]); i++) {
		char name[256];
		snprintf(name, sizeof(name), "rep/%s.png", figs[i]);
		ck_assert_msg(nb_is_png(nb_path(name)), "%s is not a PNG", name);
		snprintf(name, sizeof(name), "rep/%s.svg", figs[i]);
		ck_assert_msg(nb_is_svg(nb_path(name)), "%s is not an SVG", name);
		snprintf(name, sizeof(name), "src=\"%s.png\"", figs[i]);
		ck_assert_msg(strstr(html, name) != NULL, "index.html does not show %s", figs[i]);
	}
	/* every src= and href= is a file of the folder (or an anchor) */
	for (p = html; (p = strpbrk(p, "sh")) != NULL; p++) {
		const char *q;
		char ref[512], path[1024];
		size_t len;
		if (strncmp(p, "src=\"", 5) == 0)
			q = p + 5;
		else if (strncmp(p, "href=\"", 6) == 0)
			q = p + 6;
		else
			continue;
		len = strcspn(q, "\"");
		ck_assert_uint_lt(len, sizeof(ref));
		memcpy(ref, q, len);
		ref[len] = '\0';
		if (ref[0] == '#')
			continue;
		ck_assert_msg(!strchr(ref, ':') && ref[0] != '/' && !strstr(ref, ".."),
			      "index.html refers outside its folder: %s", ref);
		snprintf(path, sizeof(path), "%s/%s", out, ref);
		struct stat sb;
		ck_assert_msg(stat(path, &sb) == 0 && sb.st_size > 0, "index.html refers to %s, "
			      "which does not exist", ref);
		refs++;
	}
	ck_assert_uint_gt(refs, 20);
	/* the machine description, escaped */
	ck_assert(strstr(html, "Test CPU 9000 &lt;&amp;&gt;") != NULL);
	ck_assert(strstr(html, "STREAM, 2 threads") != NULL);
	ck_assert(strstr(html, "<script") == NULL && strstr(html, "http") == NULL);
	free(html);
}
END_TEST

/* A missing gnuplot: a clear message, status 1, the tables and the page
 * still written, no image and no image referenced. Both a --gnuplot path
 * that does not exist and a PATH without gnuplot. */
START_TEST(test_missing_gnuplot)
{
	const char *a = nb_path("a.h5");
	char args[2048], *o, *e;

	nb_make_file(a, "alpha", false, true);
	snprintf(args, sizeof(args), "'%s' --out '%s' --gnuplot /nonexistent/gnuplot", a,
		 nb_path("rep1"));
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 1);
	ck_assert_msg(strstr(e, "gnuplot not found") && strstr(e, "figures not drawn"),
		      "stderr: %s", e);
	free(o);
	free(e);
	ck_assert(nb_test_exists(nb_path("rep1/timing.md")) &&
	          nb_test_exists(nb_path("rep1/index.html")));
	ck_assert(!nb_test_exists(nb_path("rep1/fig-speedup-alpha-f32-fwd.png")));
	char *html = nb_test_slurp(nb_path("rep1/index.html"), NULL);
	ck_assert(strstr(html, "gnuplot was not found") && !strstr(html, ".png"));
	free(html);

	snprintf(args, sizeof(args), "'%s' --out '%s'", a, nb_path("rep2"));
	ck_assert_int_eq(nb_report_cmd("PATH=/nonexistent", args, &o, &e), 1);
	ck_assert_msg(strstr(e, "gnuplot not found") != NULL, "stderr: %s", e);
	free(o);
	free(e);
	/* --no-figures: no gnuplot needed, status 0 */
	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", a, nb_path("rep3"));
	ck_assert_int_eq(nb_report_cmd("PATH=/nonexistent", args, &o, &e), 0);
	free(o);
	free(e);
}
END_TEST

/* Damaged, foreign and missing inputs: status 1, a message naming the
 * file, nothing written (not even the output folder). */
START_TEST(test_bad_inputs)
{
	const char *good = nb_path("good.h5"), *text = nb_path("text.h5");
	const char *foreign = nb_path("foreign.h5"), *trunc = nb_path("trunc.h5");
	const char *cases[][2] = {
		{ text, "text.h5" }, { foreign, "foreign.h5" }, { trunc, "trunc.h5" },
		{ "/nonexistent/x.h5", "/nonexistent/x.h5" },
	};
	FILE *f;
	hid_t h;

	nb_make_file(good, "alpha", false, false);
	f = fopen(text, "w");
	ck_assert_ptr_nonnull(f);
	fputs("time,median\n1,2\n", f);
	fclose(f);
	h = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(h, 0);
	H5Gclose(H5Gcreate2(h, "/data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
	H5Fclose(h);
	{
		size_t n;
		char *s = nb_test_slurp(good, &n);
		f = fopen(trunc, "wb");
		ck_assert_uint_eq(fwrite(s, 1, n / 2, f), n / 2);
		fclose(f);
		free(s);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char args[2048], *o, *e, outdir[64];
		snprintf(outdir, sizeof(outdir), "bad%zu", i);
		/* alone, and after a good file: nothing is written either way */
		snprintf(args, sizeof(args), "'%s' '%s' --out '%s'", good, cases[i][0],
			 nb_path(outdir));
		ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 1);
		ck_assert_msg(strstr(e, cases[i][1]) != NULL, "stderr does not name the file: %s",
			      e);
		ck_assert(!nb_test_exists(nb_path(outdir)));
		free(o);
		free(e);
	}
	{
		char *o, *e;
		ck_assert_int_eq(nb_report_cmd(NULL, "--out /tmp/nowhere-nb", &o, &e), 1);
		ck_assert(strstr(e, "results file") != NULL);
		free(o);
		free(e);
		ck_assert_int_eq(nb_report_cmd(NULL, "x.h5 --bogus", &o, &e), 1);
		ck_assert(strstr(e, "unknown option") != NULL);
		free(o);
		free(e);
	}
}
END_TEST

/* A standalone verify file is an input too; the report replaces its own
 * files, removes its earlier ones it does not write again (manifest) and
 * leaves other files alone. Two files of one host are labelled by file. */
START_TEST(test_verify_file_and_manifest)
{
	const char *a = nb_path("a.h5"), *b = nb_path("b.h5"), *v = nb_path("v.h5");
	const char *out = nb_path("rep");
	struct nb_verify_tables t;
	struct nb_verify_meta m = { 0 };
	struct nb_verify_claim_row c;
	char args[2048], *o, *e, *md;
	FILE *f;

	nb_verify_tables_init(&t);
	memset(&c, 0, sizeof(c));
	nb_vf_strcpy(c.claim, sizeof(c.claim), "E2");
	nb_vf_strcpy(c.name, sizeof(c.name), "Pre-RMSNorm == Pre-CRMSNorm");
	nb_vf_strcpy(c.dtype, sizeof(c.dtype), "f64");
	c.observed = 1e-16;
	c.bound = 1e-13;
	c.pass = 1;
	ck_assert_int_eq(nb_verify_add_claim(&t, &c), NB_OK);
	m.command_line = "normbench verify (test)";
	m.mode = "quick";
	m.conv = NB_CONVENTIONS_DEFAULT;
	ck_assert_int_eq(nb_verify_write_file(v, &t, &m, true), NB_OK);
	nb_verify_tables_free(&t);

	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", v, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	ck_assert(nb_test_exists(nb_path("rep/claims.csv")) &&
	          !nb_test_exists(nb_path("rep/timing.md")));

	/* a user's file beside the report, then a report with block cells,
	 * then one without: block.* goes, the user's file stays */
	f = fopen(nb_path("rep/notes.txt"), "w");
	fputs("mine\n", f);
	fclose(f);
	nb_make_file(a, "same", true, false);
	nb_make_file(b, "same", false, false);
	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", a, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	ck_assert(nb_test_exists(nb_path("rep/block.md")) &&
	          !nb_test_exists(nb_path("rep/claims.csv")));
	snprintf(args, sizeof(args), "'%s' '%s' --out '%s' --no-figures", a, b, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	ck_assert(nb_test_exists(nb_path("rep/block.md")));
	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", b, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	ck_assert(!nb_test_exists(nb_path("rep/block.md")) &&
	          !nb_test_exists(nb_path("rep/block.csv")));
	ck_assert(nb_test_exists(nb_path("rep/notes.txt")) &&
	          nb_test_exists(nb_path("rep/timing.md")));

	/* the same host twice: columns labelled "host (file)" */
	snprintf(args, sizeof(args), "'%s' '%s' --out '%s' --no-figures", a, b, out);
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	md = nb_test_slurp(nb_path("rep/timing.md"), NULL);
	ck_assert_msg(strstr(md, "same (a): time") && strstr(md, "same (b): time"), "%s", md);
	free(md);
}
END_TEST

/* The report's emulation mark: an emulated run's timing columns (timing,
 * block and bandwidth tables) say EMULATED in the Markdown, LaTeX and HTML
 * headers with a note that its timings are not hardware figures, and its
 * CSV rows carry the emulation in the `emulated` column; a native machine
 * beside it, and a report of native runs only, carry no mark (no false
 * alarm). Accuracy is not a timing: the verification tables stay unmarked. */
static void nb_check_emulated_tables(const char *dir, const char *emu_host, bool side_by_side)
{
	static const char *const timed[] = { "timing", "block", "bandwidth" };
	static const char *const untimed[] = { "claims", "accuracy" };
	const char *note = "Timings are not hardware figures";

	for (size_t i = 0; i < 3; i++) {
		char name[128], mark[256];
		char *md, *tex;
		struct nb_csv c;
		size_t emu_rows = 0;

		snprintf(name, sizeof(name), "%s/%s.md", dir, timed[i]);
		md = nb_test_slurp(nb_path(name), NULL);
		snprintf(name, sizeof(name), "%s/%s.tex", dir, timed[i]);
		tex = nb_test_slurp(nb_path(name), NULL);
		ck_assert_msg(md && tex, "%s: %s tables missing", dir, timed[i]);
		if (side_by_side) {
			snprintf(mark, sizeof(mark), "| %s (EMULATED): ", emu_host);
			ck_assert_msg(strstr(md, mark), "%s.md lacks '%s':\n%s", timed[i], mark, md);
			snprintf(mark, sizeof(mark), "{%s (EMULATED)}", emu_host);
			ck_assert_msg(strstr(tex, mark), "%s.tex lacks '%s'", timed[i], mark);
			/* the native machine beside it is not marked */
			ck_assert_msg(!strstr(md, "beta (EMULATED)") && strstr(md, "| beta: "),
				      "%s.md marks beta:\n%s", timed[i], md);
		} else {
			ck_assert_msg(strstr(md, "[95% CI] (EMULATED) |"), "%s.md:\n%s", timed[i],
				      md);
			ck_assert_msg(strstr(tex, "[95\\% CI] (EMULATED) &"), "%s.tex:\n%s",
				      timed[i], tex);
		}
		snprintf(mark, sizeof(mark), "**EMULATED**: %s was an emulated run: "
			 "user-mode emulation (qemu-user): test.", emu_host);
		ck_assert_msg(strstr(md, mark) && strstr(md, note), "%s.md lacks the note:\n%s",
			      timed[i], md);
		ck_assert_msg(strstr(tex, "\\textbf{EMULATED}") && strstr(tex, note),
			      "%s.tex lacks the note:\n%s", timed[i], tex);
		free(md);
		free(tex);
		snprintf(name, sizeof(name), "%s/%s.csv", dir, timed[i]);
		c = nb_csv_read(nb_path(name));
		ck_assert_uint_gt(c.nrows, 0);
		for (size_t r = 0; r < c.nrows; r++) {
			bool emu = strcmp(nb_csv_get(&c, r, "host"), emu_host) == 0;
			ck_assert_str_eq(nb_csv_get(&c, r, "emulated"),
					 emu ? "user-mode emulation (qemu-user): test" : "");
			emu_rows += emu;
		}
		ck_assert_uint_gt(emu_rows, 0);
		nb_csv_free(&c);
	}
	for (size_t i = 0; i < 2; i++) {
		char name[128], *md;

		snprintf(name, sizeof(name), "%s/%s.md", dir, untimed[i]);
		md = nb_test_slurp(nb_path(name), NULL);
		ck_assert_msg(md && !strstr(md, "EMULATED"), "%s.md is marked:\n%s", untimed[i],
			      md ? md : "(missing)");
		free(md);
	}
}

START_TEST(test_emulated_marked)
{
	const char *a = nb_path("a.h5"), *b = nb_path("b.h5");
	const char *emu = "user-mode emulation (qemu-user): test";
	static const char *const tables[] = { "timing", "block", "bandwidth" };
	char args[2048], *o, *e;

	nb_make_run_file(a, "alpha", true, true, emu);
	nb_make_run_file(b, "beta", true, true, NULL);
	/* side by side with a native machine */
	snprintf(args, sizeof(args), "'%s' '%s' --out '%s' --no-figures", a, b, nb_path("rep2"));
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	nb_check_emulated_tables("rep2", "alpha", true);
	/* alone: the column names carry the mark */
	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", a, nb_path("rep1"));
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	nb_check_emulated_tables("rep1", "alpha", false);
	/* native only: no mark anywhere, the column empty */
	snprintf(args, sizeof(args), "'%s' --out '%s' --no-figures", b, nb_path("rep0"));
	ck_assert_int_eq(nb_report_cmd(NULL, args, &o, &e), 0);
	free(o);
	free(e);
	for (size_t i = 0; i < 3; i++) {
		char name[128], *md, *tex;
		struct nb_csv c;

		snprintf(name, sizeof(name), "rep0/%s.md", tables[i]);
		md = nb_test_slurp(nb_path(name), NULL);
		snprintf(name, sizeof(name), "rep0/%s.tex", tables[i]);
		tex = nb_test_slurp(nb_path(name), NULL);
		ck_assert_msg(md && tex && !strstr(md, "EMULATED") && !strstr(tex, "EMULATED"),
			      "native %s marked", tables[i]);
		free(md);
		free(tex);
		snprintf(name, sizeof(name), "rep0/%s.csv", tables[i]);
		c = nb_csv_read(nb_path(name));
		for (size_t r = 0; r < c.nrows; r++)
			ck_assert_str_eq(nb_csv_get(&c, r, "emulated"), "");
		nb_csv_free(&c);
	}
}
END_TEST

/* In-process: the ratio CI falls back to the cells' CIs without samples,
 * and the LaTeX escaping of the table symbols. */
START_TEST(test_ratio_and_escape)
{
	struct nb_results r;
	struct nb_cell_row c;
	struct nb_report_ratio q;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	nb_results_init(&r);
	memset(&c, 0, sizeof(c));
	c.median_s = 4.0;
	c.ci_lo_s = 3.0;
	c.ci_hi_s = 5.0;
	ck_assert_int_eq(nb_results_add_cell(&r, &c), NB_OK);
	c.median_s = 8.0;
	c.ci_lo_s = 6.0;
	c.ci_hi_s = 10.0;
	ck_assert_int_eq(nb_results_add_cell(&r, &c), NB_OK);
	ck_assert_int_eq(nb_report_ratio(&r, 0, 1, &q), NB_OK);
	ck_assert(q.ratio == 2.0 && q.method == NB_REPORT_CI_CELLS);
	/* [lo_b / hi_a, hi_b / lo_a] = [6/5, 10/3] */
	ck_assert(q.lo == 6.0 / 5.0 && q.hi == 10.0 / 3.0);
	r.cells[0].median_s = 0;
	ck_assert_int_eq(nb_report_ratio(&r, 0, 1, &q), NB_ERR_INVALID);
	nb_results_free(&r);

	f = open_memstream(&buf, &len);
	nb_report_latex_escape("a_b 1.25× µs -3.5% † x-y & #", f);
	fclose(f);
	ck_assert_str_eq(buf, "a\\_b 1.25$\\times$ $\\mu$s $-$3.5\\% $^\\dagger$ x-y \\& \\#");
	free(buf);
}
END_TEST

Suite *nb_suite_report(void)
{
	Suite *s = suite_create("report");
	TCase *tc = tcase_create("report");

	tcase_add_checked_fixture(tc, NULL, nb_test_teardown);
	tcase_add_test(tc, test_timing_numbers);
	tcase_add_test(tc, test_block_table);
	tcase_add_test(tc, test_figures_and_html);
	tcase_add_test(tc, test_missing_gnuplot);
	tcase_add_test(tc, test_bad_inputs);
	tcase_add_test(tc, test_verify_file_and_manifest);
	tcase_add_test(tc, test_ratio_and_escape);
	tcase_add_test(tc, test_emulated_marked);
	suite_add_tcase(s, tc);
	return s;
}
