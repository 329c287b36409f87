/* The regression gate: its decision rule on hand-made samples with textbook
 * p-values, the run-level bootstrap, synthetic results files with known
 * shifts and realistic noise, matching, machine keys, verification
 * failures, and the exit codes and messages of `normbench compare`. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_compare.h"
#include "bench/nb_results.h"
#include "bench/nb_stats.h"
#include "common/nb_rng.h"
#include "tests/nb_test.h"
#include "verify/nb_verify_file.h"

/* ------------------------------------------------ temporary folder */

static const char *nb_tmp(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s", nb_test_path("compare", name));
	return buf;
}

/* ------------------------------------------------ the decision rule */

static struct nb_compare_opts nb_defaults(void)
{
	struct nb_compare_opts o;

	nb_compare_opts_default(&o);
	return o;
}

/* One side of processes with one sample each: the number a process
 * contributes (the lower quartile of its samples) is that sample. */
static struct nb_compare_side nb_side1(const double *x, size_t n, const double **runs,
				       size_t *ns)
{
	for (size_t i = 0; i < n; i++) {
		runs[i] = x + i;
		ns[i] = 1;
	}
	return (struct nb_compare_side){ runs, ns, n };
}

/*
 * The rule on process levels, by hand: six processes a side whose log
 * levels deviate from their side's centre by d = {-2, -1, 0, 1, 2, 0} %
 * (NEW's in another order). The 36 pairwise log ratios are log(ratio) +
 * d_j - d_i; for 6 against 6 at alpha 0.01 the rank interval takes the 4th
 * smallest and the 33rd (exact U null: P(U <= 3) = 7/924 <= 0.01 <
 * P(U <= 4) = 12/924), and the 4th smallest d_j - d_i is -2 %, the 33rd
 * +2 % (counted by enumeration): the interval is ratio * exp(-+0.02), the
 * estimate the ratio itself. At ratio 1.10 its low end 1.0782 clears 1.05:
 * REGRESSED; at 1.06 it holds 1.05 ([1.0390, 1.0814]): INCONCLUSIVE; at
 * 1.025 its top 1.0457 stays below 1.05 and the one-sided rank test gives
 * U = 33, p = 7/924 <= 0.01: "slower"; at 1.02 (U = 28, p = 0.066): "same".
 * Each mirrors to the other side (the improvement line is 1/1.05).
 */
START_TEST(test_rule_textbook_rank)
{
	static const double dev[6] = { -0.02, -0.01, 0.0, 0.01, 0.02, 0.0 };
	static const struct { double ratio; enum nb_verdict v, mirror; } cases[] = {
		{ 1.10, NB_VERDICT_REGRESSED, NB_VERDICT_IMPROVED },
		{ 1.06, NB_VERDICT_INCONCLUSIVE, NB_VERDICT_FASTER },
		{ 1.025, NB_VERDICT_SLOWER, NB_VERDICT_FASTER },
		{ 1.02, NB_VERDICT_SAME, NB_VERDICT_SAME },
	};
	const double half = 0.02;
	struct nb_compare_opts o = nb_defaults();

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		double a[6], b[6];
		const double *ra[6], *rb[6];
		size_t na[6], nb[6];
		struct nb_compare_side sa, sb;
		struct nb_compare_stat s;

		for (int i = 0; i < 6; i++) {
			a[i] = 1e-3 * exp(dev[i]);
			b[i] = 1e-3 * cases[c].ratio * exp(dev[(i + 2) % 6]);
		}
		sa = nb_side1(a, 6, ra, na);
		sb = nb_side1(b, 6, rb, nb);
		ck_assert_int_eq(nb_compare_runs(&sa, &sb, &o, 1, &s), NB_OK);
		ck_assert_uint_eq(s.runs_base, 6);
		ck_assert_double_eq_tol(s.ratio, cases[c].ratio, 1e-12);
		ck_assert_double_eq_tol(s.ci_lo, cases[c].ratio * exp(-half), 1e-12);
		ck_assert_double_eq_tol(s.ci_hi, cases[c].ratio * exp(half), 1e-12);
		ck_assert_double_eq_tol(s.sd_log, sqrt(2e-4), 1e-12);
		ck_assert_msg(s.verdict == cases[c].v, "ratio %g: %s", cases[c].ratio,
			      nb_verdict_name(s.verdict));
		ck_assert_int_eq(nb_compare_runs(&sb, &sa, &o, 1, &s), NB_OK);
		ck_assert_msg(s.verdict == cases[c].mirror, "1/%g: %s", cases[c].ratio,
			      nb_verdict_name(s.verdict));
	}
}
END_TEST

/* An inconclusive cell says why and how many processes would decide it:
 * with one process a side there is no interval (the suggestion is the
 * minimum); at ratio 1.06 above (same deviations on both sides, so again
 * the interval ratio * exp(-+0.02)), the half-width h = 0.02 shrinks as
 * 1/sqrt(n): n = 6 (h / gap)^2 with gap = log(1.06/1.05) = 0.009479:
 * 26.7 -> 27. */
START_TEST(test_rule_inconclusive_reason)
{
	static const double dev[6] = { -0.02, -0.01, 0.0, 0.01, 0.02, 0.0 };
	const double a[1] = { 1e-3 }, b[1] = { 2e-3 };
	double x[6], y[6];
	const double *rx[6], *ry[6];
	size_t nx[6], ny[6];
	struct nb_compare_side sx, sy;
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_stat s;

	/* one process a side: even a 2x slowdown is not a verdict */
	ck_assert_int_eq(nb_compare_samples(a, 1, b, 1, &o, 1, &s), NB_OK);
	ck_assert_int_eq(s.verdict, NB_VERDICT_INCONCLUSIVE);
	ck_assert_ptr_nonnull(strstr(s.reason, "needs at least 5 a side"));
	ck_assert_int_eq(s.suggest_processes, NB_COMPARE_MIN_PROCESSES);
	ck_assert_double_eq_tol(s.ratio, 2.0, 1e-12);

	for (int i = 0; i < 6; i++) {
		x[i] = 1e-3 * exp(dev[i]);
		y[i] = 1.06e-3 * exp(dev[i]);
	}
	sx = nb_side1(x, 6, rx, nx);
	sy = nb_side1(y, 6, ry, ny);
	ck_assert_int_eq(nb_compare_runs(&sx, &sy, &o, 1, &s), NB_OK);
	ck_assert_int_eq(s.verdict, NB_VERDICT_INCONCLUSIVE);
	ck_assert_ptr_nonnull(strstr(s.reason, "neither shown nor excluded"));
	ck_assert_int_eq(s.suggest_processes, 27);
	/* right at the threshold no process count would do */
	for (int i = 0; i < 6; i++)
		y[i] = 1.05e-3 * exp(dev[i]);
	ck_assert_int_eq(nb_compare_runs(&sx, &sy, &o, 1, &s), NB_OK);
	ck_assert_int_eq(s.verdict, NB_VERDICT_INCONCLUSIVE);
	ck_assert_int_gt(s.suggest_processes, NB_COMPARE_MAX_SUGGEST);
}
END_TEST

/* An empty side is "no data"; NaN samples and bad settings are refused;
 * the medians shown are those of all samples. */
START_TEST(test_rule_wiring_and_edges)
{
	double a[15], b[15];
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_stat s;
	struct nb_rng rng;

	nb_rng_seed(&rng, 11);
	for (int i = 0; i < 15; i++) {
		a[i] = 1e-4 * exp(0.05 * nb_rng_normal(&rng));
		b[i] = 1.1e-4 * exp(0.05 * nb_rng_normal(&rng));
	}
	ck_assert_int_eq(nb_compare_samples(a, 15, b, 15, &o, 99, &s), NB_OK);
	ck_assert(s.base_median == nb_median(a, 15) && s.new_median == nb_median(b, 15));
	ck_assert_int_eq(nb_compare_samples(a, 15, b, 0, &o, 1, &s), NB_OK);
	ck_assert_int_eq(s.verdict, NB_VERDICT_NODATA);
	ck_assert(isnan(s.ratio));
	a[3] = NAN;
	ck_assert_int_eq(nb_compare_samples(a, 15, b, 15, &o, 1, &s), NB_ERR_INVALID);
	a[3] = 1e-4;
	o.alpha = 0.5;
	ck_assert_int_eq(nb_compare_samples(a, 15, b, 15, &o, 1, &s), NB_ERR_INVALID);
	o = nb_defaults();
	o.min_effect = -0.1;
	ck_assert_int_eq(nb_compare_samples(a, 15, b, 15, &o, 1, &s), NB_ERR_INVALID);
}
END_TEST

/*
 * Why the process is the unit: three base processes of 100 samples sit at
 * 0.8, 1.0 and 1.2 (a process-level effect of +-20%: load, page
 * placement), the new ones at the same levels times 1.06. Pooled, the
 * samples look like a certain 6% slowdown: a sample-level bootstrap keeps
 * its whole 98% interval inside [1.06 / 1.00099, 1.06105] > 1.05 (each
 * pooled median stays in the middle cluster unless >= 150 of 300 draws come
 * from one outer cluster, 6 standard deviations out). On process levels
 * (lower quartiles, here two processes at each level a side) the ratio is
 * still 1.06, but the rank interval's ends are pairs of opposite outer
 * levels, 1.06 * 0.8/1.2 and 1.06 * 1.2/0.8: INCONCLUSIVE, no false alarm.
 */
START_TEST(test_runs_process_unit)
{
	enum { N = 100 };
	static const double level[6] = { 1.0, 1.2, 0.8, 1.0, 1.2, 0.8 };
	static double base[6][N], cand[6][N], pb[3 * N], pn[3 * N];
	const double *br[6] = { base[0], base[1], base[2], base[3], base[4], base[5] };
	const double *cr[6] = { cand[0], cand[1], cand[2], cand[3], cand[4], cand[5] };
	size_t n[6] = { N, N, N, N, N, N };
	struct nb_compare_side bs = { br, n, 6 }, cs = { cr, n, 6 };
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_stat s;
	double r, lo, hi;

	for (int k = 0; k < 6; k++)
		for (int i = 0; i < N; i++) {
			base[k][i] = level[k] * (1.0 + i * 1e-5);
			cand[k][i] = 1.06 * base[k][i];
			if (k < 3) {
				pb[N * k + i] = base[k][i];
				pn[N * k + i] = cand[k][i];
			}
		}
	ck_assert_int_eq(nb_bootstrap_ratio_ci(pb, 3 * N, pn, 3 * N, 5, 2000, 0.98, &r, &lo,
					       &hi), NB_OK);
	ck_assert_msg(lo >= 1.06 / 1.00099 - 1e-9 && hi <= 1.06105 + 1e-9,
		      "pooled sample-level interval [%g, %g]", lo, hi);

	ck_assert_int_eq(nb_compare_runs(&bs, &cs, &o, 5, &s), NB_OK);
	ck_assert_uint_eq(s.runs_base, 6);
	ck_assert_uint_eq(s.n_new, 6 * N);
	ck_assert_double_eq_tol(s.ratio, 1.06, 1e-9);
	ck_assert_msg(s.ci_lo < 0.8 && s.ci_hi > 1.3, "[%g, %g]", s.ci_lo, s.ci_hi);
	ck_assert_int_eq(s.verdict, NB_VERDICT_INCONCLUSIVE);
}
END_TEST

/*
 * The false-alarm rate and the power by simulation, with a known
 * between-process component (docs/gate.md): each simulated process has a
 * lognormal offset of SD sb, and its 8 samples a lognormal jitter of SD 2%
 * (for the false alarms also one sample in 8 preempted, x 1.3 .. 3, at
 * random). Seeded: the same numbers every run, a few milliseconds.
 *  - A/A with --min-effect 0: REGRESSED then means "ci_lo > 1", a one-sided
 *    rank test at alpha 0.01 on the process levels; for 6 against 6 its
 *    exact size is P(U <= 3) = 7/924 = 0.76%, so about 30 of 4000
 *    comparisons regress: at most 1% + 3 binomial SDs (1.47%), and,
 *    without preempted samples, at least 0.4% (the rule is not silent: a
 *    test that never fires proves nothing). Taking every sample as its own
 *    unit instead flags far more: sb = 5% dwarfs the 2% jitter, the samples
 *    of a process are 86% correlated, and the SE is underestimated ~2.6x.
 *  - With the default 5% effect an A/A alarm needs the 4th smallest of 36
 *    pairwise ratios above 1.05, about 3 SDs of a level: none in 4000.
 *  - A real 10% slowdown, 10 processes a side, sb = 1.5%: the lower
 *    quartile of 8 normal samples has an SD of sqrt(0.25 * 0.75 / 8) /
 *    phi(z_0.25) = 0.48 sigma, so a process level has an SD of
 *    sqrt(0.015^2 + (0.48 * 0.02)^2) = 1.78%, the log ratio an SE of
 *    sqrt(2/10) * 0.0178 = 0.0080; for normal levels the rank interval is
 *    about as wide as a t interval (relative efficiency 3/pi: ~2% wider),
 *    so its low end sits near 1.10 exp(-2.6 * 0.0080) = 1.078, 3.4 SEs
 *    above 1.05: at least 95% of
 *    1000 comparisons must regress (the preempted samples stay out here).
 */
static size_t nb_simulate(size_t trials, int procs, double sb, double ratio,
			  double min_effect, bool preempted, uint64_t seed)
{
	enum { S = 8, P = 16 };
	static double x[2][P][S];
	const double *runs[2][P];
	size_t ns[P];
	struct nb_compare_opts o = nb_defaults();
	struct nb_rng rng;
	size_t regressed = 0;

	o.min_effect = min_effect;
	nb_rng_seed(&rng, seed);
	for (int p = 0; p < P; p++)
		ns[p] = S;
	for (size_t t = 0; t < trials; t++) {
		struct nb_compare_side side[2];
		struct nb_compare_stat st;

		for (int k = 0; k < 2; k++) {
			for (int p = 0; p < procs; p++) {
				double off = exp(sb * nb_rng_normal(&rng)) * (k ? ratio : 1.0);
				for (int i = 0; i < S; i++) {
					x[k][p][i] = 1e-5 * off * exp(0.02 * nb_rng_normal(&rng));
					if (preempted && nb_rng_below(&rng, S) == 0)
						x[k][p][i] *= 1.3 + 1.7 * nb_rng_uniform(&rng);
				}
				runs[k][p] = x[k][p];
			}
			side[k] = (struct nb_compare_side){ runs[k], ns, (size_t)procs };
		}
		ck_assert_int_eq(nb_compare_runs(&side[0], &side[1], &o, 1, &st), NB_OK);
		regressed += st.verdict == NB_VERDICT_REGRESSED;
	}
	return regressed;
}

START_TEST(test_simulated_false_alarms)
{
	size_t zero = nb_simulate(4000, 6, 0.05, 1.0, 0.0, false, 2024);
	size_t noisy = nb_simulate(4000, 6, 0.05, 1.0, 0.0, true, 2026);
	size_t gate = nb_simulate(4000, 6, 0.05, 1.0, 0.05, true, 2025);

	ck_assert_msg(zero <= 59 && zero >= 16, "A/A at min-effect 0: %zu of 4000", zero);
	ck_assert_msg(noisy <= 59, "A/A at min-effect 0, preempted samples: %zu of 4000", noisy);
	ck_assert_msg(gate == 0, "A/A at min-effect 5%%: %zu of 4000", gate);
}
END_TEST

START_TEST(test_simulated_detection)
{
	size_t hit = nb_simulate(1000, 10, 0.015, 1.10, 0.05, false, 77);

	ck_assert_msg(hit >= 950, "10%% slowdown caught in %zu of 1000", hit);
}
END_TEST

/* ------------------------------------------------ synthetic results */

static const char *const nb_variants[4] = { "layernorm", "rmsnorm", "prmsnorm", "crmsnorm" };
static const uint64_t nb_rows[3] = { 1, 64, 512 };

/* Noise of one file: lognormal jitter of sigma, and `outliers` preempted
 * samples per cell (x 1.3 .. 3, at random places) that carry ctx_switches
 * = 1 when marked, else the events read "unavailable" (-1) and nothing
 * tells them apart from the others. */
struct nb_syn {
	double shift;          /* every time x (1 + shift) */
	double sigma;
	size_t outliers;
	bool marked;
	size_t samples;
	uint64_t seed;
	const char *isa;       /* kernel suffix and ISA of the cells */
	int processes;         /* worker processes (0: 1), samples split evenly */
	double between;        /* lognormal SD of each process's offset */
};

static void nb_syn_meta(struct nb_results *r)
{
	struct nb_results_meta *m = &r->meta;

	m->complete = 1;
	nb_res_strcpy(m->normbench_version, sizeof(m->normbench_version), NB_VERSION);
	nb_res_strcpy(m->git_rev, sizeof(m->git_rev), "0123456789ab");
	nb_res_strcpy(m->utc_time, sizeof(m->utc_time), "2024-01-01T00:00:00Z");
	nb_res_strcpy(m->cpu_model, sizeof(m->cpu_model), "Test CPU 9000");
	nb_res_strcpy(m->cpu_flags, sizeof(m->cpu_flags), "fpu sse2 avx2 avx512f");
	m->cores = 2;
	nb_res_strcpy(m->machine_key, sizeof(m->machine_key), "00000000feedbeef");
	nb_res_strcpy(m->preset, sizeof(m->preset), "ci");
	nb_res_strcpy(m->isa_cap, sizeof(m->isa_cap), "avx512");
	m->eps = 1e-5;
	nb_res_strcpy(m->eps_mode, sizeof(m->eps_mode), "inside");
	m->prms_p = 0.0625;
	nb_res_strcpy(m->prms_round, sizeof(m->prms_round), "ceil");
}

/* Adds one cell with its samples: variant v, rows, base time t0. */
static void nb_syn_cell(struct nb_results *r, const char *variant, uint64_t rows,
			uint64_t d, const char *isa, double t0, const struct nb_syn *s,
			struct nb_rng *rng)
{
	struct nb_cell_row c;
	double *x = malloc(s->samples * sizeof(*x));

	ck_assert_ptr_nonnull(x);
	memset(&c, 0, sizeof(c));
	nb_res_strcpy(c.suite, sizeof(c.suite), "kernel");
	nb_res_strcpy(c.variant, sizeof(c.variant), variant);
	snprintf(c.impl, sizeof(c.impl), "%s_fwd_f32_%s", variant, isa);
	nb_res_strcpy(c.isa, sizeof(c.isa), isa);
	nb_res_strcpy(c.dtype, sizeof(c.dtype), "f32");
	nb_res_strcpy(c.acc, sizeof(c.acc), "f32");
	nb_res_strcpy(c.dir, sizeof(c.dir), "fwd");
	nb_res_strcpy(c.algo, sizeof(c.algo), "twopass");
	nb_res_strcpy(c.cache, sizeof(c.cache), "hot");
	c.rows = rows;
	c.d = d;
	c.n = d;
	c.k = d;
	c.threads = 1;
	c.samples = (uint32_t)s->samples;
	c.first_sample = r->nsamples;
	c.iterations = 100;
	c.verified = 1;
	c.err_ratio = 0.25;
	c.processes = s->processes > 1 ? s->processes : 1;
	for (size_t i = 0, left = s->outliers, procs = (size_t)c.processes; i < s->samples; i++) {
		struct nb_sample_row row = { .cell = r->ncells, .round = (uint32_t)i,
					     .iterations = 100, .ctx_switches = s->marked ? 0 : -1,
					     .migrations = s->marked ? 0 : -1, .page_faults = 0,
					     .process = (int32_t)(i * procs / s->samples) };
		static double offset;
		if (i == 0 || row.process != r->samples[r->nsamples - 1].process)
			offset = exp(s->between * nb_rng_normal(rng));
		row.seconds = t0 * (1.0 + s->shift) * offset * exp(s->sigma * nb_rng_normal(rng));
		/* selection sampling: exactly `outliers` of the samples */
		if (left && nb_rng_uniform(rng) * (double)(s->samples - i) < (double)left) {
			left--;
			row.seconds *= 1.3 + 1.7 * nb_rng_uniform(rng);
			if (s->marked)
				row.ctx_switches = 1;
		}
		x[i] = row.seconds;
		ck_assert_int_eq(nb_results_add_sample(r, &row), NB_OK);
	}
	c.median_s = nb_median(x, s->samples);
	ck_assert_int_eq(nb_results_add_cell(r, &c), NB_OK);
	free(x);
}

/* The twelve cells of a small CI sweep: 4 variants x rows 1, 64, 512. */
static void nb_syn_results(struct nb_results *r, const struct nb_syn *s)
{
	struct nb_rng rng;

	nb_results_init(r);
	nb_syn_meta(r);
	nb_rng_seed(&rng, s->seed);
	for (int v = 0; v < 4; v++)
		for (int k = 0; k < 3; k++)
			nb_syn_cell(r, nb_variants[v], nb_rows[k], 4096, s->isa ? s->isa : "avx512",
				    1e-7 * (double)(1 + nb_rows[k]) * (1.0 + 0.1 * v), s, &rng);
}

static void nb_syn_write(const char *path, const struct nb_syn *s)
{
	struct nb_results r;

	nb_syn_results(&r, s);
	ck_assert_int_eq(nb_results_write(path, &r, true), NB_OK);
	nb_results_free(&r);
}

/* 10 processes of 6 samples, each process offset by a lognormal 1% and
 * each sample jittered by 2%, 2 unmarked outliers per cell: a process
 * level (lower quartile of 6) has an SD of about
 * sqrt((0.48 * 0.02 * sqrt(8/6))^2 + 0.01^2) = 1.5%, the log ratio of two
 * sides of 10 sqrt(2/10) times that, 0.67%, and the 98% rank interval
 * (about as wide as a t interval with df 18, t = 2.55, for normal levels)
 * reaches about 1.7% either side of the estimate. */
static struct nb_syn nb_noise(double shift, uint64_t seed)
{
	return (struct nb_syn){ .shift = shift, .sigma = 0.02, .outliers = 2,
				.marked = false, .samples = 60, .seed = seed,
				.processes = 10, .between = 0.01 };
}

/* Runs the gate in memory on one synthetic file a side. */
static enum nb_status nb_gate(const struct nb_syn *base, const struct nb_syn *cand,
			      const struct nb_compare_opts *o, struct nb_compare_report *rep)
{
	struct nb_results rb, rn;
	struct nb_compare_input ib = { "base.h5", &rb, NULL }, in = { "new.h5", &rn, NULL };
	enum nb_status st;

	nb_syn_results(&rb, base);
	nb_syn_results(&rn, cand);
	st = nb_compare_results(&ib, 1, &in, 1, o, rep);
	nb_results_free(&rb);
	nb_results_free(&rn);
	return st;
}

/*
 * Known shifts with realistic noise (nb_noise): a cell regresses when the
 * estimate exceeds 1.05 + 1.6%. Without a shift that is a ~10 standard-error
 * excursion, with 2% one of ~7: none of the 12 cells may regress. Without a
 * shift the top of the interval (1.016) is 5 SEs below 1.05: every cell is
 * decided, exit 0; at 2% it sits ~2 SEs below, so a cell may come out
 * INCONCLUSIVE (exit 0 or 4). At 10% the estimate sits ~5 standard errors
 * above the line and at 30% far above: every cell regresses, exit 3. Same
 * seeds every time: the test is deterministic, and these margins say it
 * does not pass by luck.
 */
START_TEST(test_shifts)
{
	static const struct { double shift; size_t regressed; int exit_code; } cases[] = {
		{ 0.00, 0, NB_EXIT_OK }, { 0.02, 0, -1 },
		{ 0.10, 12, NB_EXIT_REGRESSION }, { 0.30, 12, NB_EXIT_REGRESSION },
	};
	struct nb_compare_opts o = nb_defaults();

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct nb_syn b = nb_noise(0, 100 + c), n = nb_noise(cases[c].shift, 200 + c);
		struct nb_compare_report rep;
		double lo = 1.0 + cases[c].shift - 0.04, hi = 1.0 + cases[c].shift + 0.04;

		nb_compare_report_init(&rep);
		ck_assert_int_eq(nb_gate(&b, &n, &o, &rep), NB_OK);
		ck_assert_uint_eq(rep.nrows, 12);
		ck_assert_msg(rep.counts[NB_VERDICT_REGRESSED] == cases[c].regressed,
			      "shift %g: %zu regressed", cases[c].shift,
			      rep.counts[NB_VERDICT_REGRESSED]);
		ck_assert_int_eq(rep.counts[NB_VERDICT_IMPROVED], 0);
		if (cases[c].exit_code >= 0)
			ck_assert_int_eq(rep.exit_code, cases[c].exit_code);
		else
			ck_assert(rep.exit_code == NB_EXIT_OK ||
				  rep.exit_code == NB_EXIT_INCONCLUSIVE);
		/* geometric mean of the ratios near the true shift (each ratio has
		 * a standard error ~0.8%, the mean of 12 less) */
		ck_assert_str_eq(rep.geo[rep.ngeo - 1].variant, "all");
		ck_assert_uint_eq(rep.geo[rep.ngeo - 1].cells, 12);
		ck_assert_msg(rep.geo[rep.ngeo - 1].ratio > lo && rep.geo[rep.ngeo - 1].ratio < hi,
			      "shift %g: geomean %g", cases[c].shift, rep.geo[rep.ngeo - 1].ratio);
		/* worst first: regressions lead, ratios descend after them */
		for (size_t i = 1; i < rep.nrows; i++)
			ck_assert(rep.rows[i - 1].s.verdict == NB_VERDICT_REGRESSED ||
				  rep.rows[i].s.verdict != NB_VERDICT_REGRESSED);
		for (size_t i = 1; i < rep.nrows; i++)
			if (rep.rows[i - 1].s.verdict == rep.rows[i].s.verdict)
				ck_assert(rep.rows[i - 1].s.ratio >= rep.rows[i].s.ratio);
		nb_compare_report_free(&rep);
	}
}
END_TEST

/* Improvements are judged the same way, and swapping the files swaps the
 * verdicts exactly (the improvement line is 1/1.05, the mirror of 1.05). */
START_TEST(test_improvements_and_symmetry)
{
	struct nb_syn b = nb_noise(0, 7), n = nb_noise(0.30, 8);
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_report fwd, back;

	nb_compare_report_init(&fwd);
	nb_compare_report_init(&back);
	ck_assert_int_eq(nb_gate(&b, &n, &o, &fwd), NB_OK);
	ck_assert_int_eq(nb_gate(&n, &b, &o, &back), NB_OK);
	ck_assert_uint_eq(fwd.counts[NB_VERDICT_REGRESSED], 12);
	ck_assert_uint_eq(back.counts[NB_VERDICT_IMPROVED], 12);
	ck_assert_int_eq(back.exit_code, NB_EXIT_OK);
	for (int v = 0; v <= NB_VERDICT_IMPROVED; v++) {
		int mirror = NB_VERDICT_IMPROVED - v;  /* REGRESSED<->IMPROVED, ... */
		ck_assert_uint_eq(fwd.counts[v], back.counts[mirror]);
	}
	nb_compare_report_free(&fwd);
	nb_compare_report_free(&back);
}
END_TEST

/* Samples marked as preempted (ctx_switches > 0) are left out on both sides
 * when every process keeps >= NB_COMPARE_MIN_CLEAN clean ones. Five
 * processes (the fewest the rank interval needs) of 20 samples a side; in NEW 15 of each process's 20 are
 * preempted (x 3): with them every process's lower quartile lies between
 * its 5th and 6th smallest samples, 1 and 3 (x 2.5: a certain regression);
 * the 5 clean ones say there is none. With 16
 * preempted only 4 clean remain: both sides keep every sample. */
static void nb_preempted_cell(struct nb_results *r, size_t preempted, uint64_t seed)
{
	struct nb_syn s = { .sigma = 0.01, .samples = 100, .seed = seed, .marked = true,
			    .processes = 5 };
	struct nb_rng rng;

	nb_results_init(r);
	nb_syn_meta(r);
	nb_rng_seed(&rng, seed);
	nb_syn_cell(r, "rmsnorm", 64, 4096, "avx512", 1e-5, &s, &rng);
	for (size_t i = 0; i < r->nsamples; i++)
		if (i % 20 < preempted) {
			r->samples[i].seconds *= 3.0;
			r->samples[i].ctx_switches = 1;
		}
}

START_TEST(test_preempted_samples)
{
	struct nb_results rb, rn;
	struct nb_compare_input ib = { "b", &rb, NULL }, in = { "n", &rn, NULL };
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_report rep;

	nb_compare_report_init(&rep);
	nb_preempted_cell(&rb, 0, 1);
	nb_preempted_cell(&rn, 15, 2);
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert(rep.rows[0].filtered);
	ck_assert_uint_eq(rep.rows[0].s.n_new, 25);
	ck_assert_uint_eq(rep.rows[0].new_total, 100);
	ck_assert_int_ne(rep.rows[0].s.verdict, NB_VERDICT_REGRESSED);
	o.all_samples = true;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert(!rep.rows[0].filtered);
	ck_assert_uint_eq(rep.rows[0].s.n_new, 100);
	ck_assert_int_eq(rep.rows[0].s.verdict, NB_VERDICT_REGRESSED);
	nb_results_free(&rn);

	o.all_samples = false;
	nb_preempted_cell(&rn, 16, 2);
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert(!rep.rows[0].filtered);
	ck_assert_uint_eq(rep.rows[0].s.n_base, 100);
	ck_assert_int_eq(rep.rows[0].s.verdict, NB_VERDICT_REGRESSED);
	ck_assert_int_eq(rep.exit_code, NB_EXIT_REGRESSION);
	nb_compare_report_free(&rep);
	nb_results_free(&rn);
	nb_results_free(&rb);
}
END_TEST

/* One rmsnorm cell whose 20 samples are level * 10 us * (1 + i 1e-4). */
static void nb_level_cell(struct nb_results *r, double level)
{
	struct nb_syn s = { .sigma = 0, .samples = 20, .seed = 1, .marked = true };
	struct nb_rng rng;

	nb_results_init(r);
	nb_syn_meta(r);
	nb_rng_seed(&rng, 1);
	nb_syn_cell(r, "rmsnorm", 64, 4096, "avx512", 1e-5 * level, &s, &rng);
	for (size_t i = 0; i < r->nsamples; i++)
		r->samples[i].seconds *= 1.0 + (double)i * 1e-4;
}

/* Two old-style files (one process each) a side; BASE's second run was
 * disturbed (2x). Pooled, two processes a side are too few for the rank
 * interval (5 at alpha 0.01): INCONCLUSIVE, never REGRESSED, though the
 * undisturbed runs alone would read 1.3. --runs best keeps one
 * process a side (BASE's fast one, pick 0; NEW's fastest, pick 1), and one
 * process says nothing of their spread: INCONCLUSIVE too. */
START_TEST(test_runs_best)
{
	struct nb_results rb[2], rn[2];
	struct nb_compare_input ib[2] = { { "b1", &rb[0], NULL }, { "b2", &rb[1], NULL } };
	struct nb_compare_input in[2] = { { "n1", &rn[0], NULL }, { "n2", &rn[1], NULL } };
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_report rep;

	nb_compare_report_init(&rep);
	nb_level_cell(&rb[0], 1.0);
	nb_level_cell(&rb[1], 2.0);
	nb_level_cell(&rn[0], 1.31);
	nb_level_cell(&rn[1], 1.3);
	ck_assert_int_eq(nb_compare_results(ib, 2, in, 2, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.rows[0].base_runs, 2);
	ck_assert_int_eq(rep.rows[0].base_pick, -1);
	ck_assert_uint_eq(rep.rows[0].s.n_base, 40);
	ck_assert(isnan(rep.rows[0].s.ci_lo));
	ck_assert_int_eq(rep.rows[0].s.verdict, NB_VERDICT_INCONCLUSIVE);
	o.runs = NB_RUNS_BEST;
	ck_assert_int_eq(nb_compare_results(ib, 2, in, 2, &o, &rep), NB_OK);
	ck_assert_int_eq(rep.rows[0].base_pick, 0);
	ck_assert_int_eq(rep.rows[0].new_pick, 1);
	ck_assert_uint_eq(rep.rows[0].s.n_base, 20);
	ck_assert_int_eq(rep.rows[0].s.verdict, NB_VERDICT_INCONCLUSIVE);
	ck_assert_int_eq(rep.exit_code, NB_EXIT_INCONCLUSIVE);
	nb_compare_report_free(&rep);
	for (int i = 0; i < 2; i++) {
		nb_results_free(&rb[i]);
		nb_results_free(&rn[i]);
	}
}
END_TEST

/* Cells in one file only are listed, not dropped; a slot whose best kernel
 * changed (another ISA) pairs with its counterpart unless exact. */
START_TEST(test_matching)
{
	struct nb_syn s = nb_noise(0, 3);
	struct nb_results rb, rn;
	struct nb_compare_input ib = { "b", &rb, NULL }, in = { "n", &rn, NULL };
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_report rep;
	struct nb_rng rng;

	nb_compare_report_init(&rep);
	nb_syn_results(&rb, &s);
	s.seed = 4;
	nb_syn_results(&rn, &s);
	/* NEW loses rmsnorm 512x4096 (cell 5) and gains a 64x8192 cell */
	nb_rng_seed(&rng, 5);
	nb_syn_cell(&rn, "rmsnorm", 64, 8192, "avx512", 1e-5, &s, &rng);
	rn.cells[5].d = 2048;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nrows, 11);
	ck_assert_uint_eq(rep.nonly_base, 1);
	ck_assert_str_eq(rep.only_base[0], "kernel/rmsnorm/rmsnorm_fwd_f32_avx512/f32/fwd/512x4096/t1/hot");
	ck_assert_uint_eq(rep.nonly_new, 2);
	ck_assert_str_eq(rep.only_new[0], "kernel/rmsnorm/rmsnorm_fwd_f32_avx512/f32/fwd/512x2048/t1/hot");
	ck_assert_str_eq(rep.only_new[1], "kernel/rmsnorm/rmsnorm_fwd_f32_avx512/f32/fwd/64x8192/t1/hot");
	ck_assert_int_eq(rep.exit_code, NB_EXIT_OK);
	nb_results_free(&rn);

	/* NEW runs the portable kernels of layernorm: same slots */
	s.seed = 6;
	nb_syn_results(&rn, &s);
	for (size_t i = 0; i < 3; i++) {
		nb_res_strcpy(rn.cells[i].impl, sizeof(rn.cells[i].impl), "layernorm_fwd_f32_portable");
		nb_res_strcpy(rn.cells[i].isa, sizeof(rn.cells[i].isa), "portable");
	}
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nrows, 12);
	ck_assert_uint_eq(rep.nonly_base + rep.nonly_new, 0);
	{
		size_t changed = 0;
		for (size_t i = 0; i < rep.nrows; i++)
			if (rep.rows[i].impl_changed) {
				changed++;
				ck_assert_str_eq(rep.rows[i].new_impl, "layernorm_fwd_f32_portable");
				ck_assert_ptr_nonnull(strstr(rep.rows[i].key, "/layernorm_fwd_f32_avx512->"
							     "layernorm_fwd_f32_portable/f32/"));
			}
		ck_assert_uint_eq(changed, 3);
	}
	o.exact = true;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nrows, 9);
	ck_assert_uint_eq(rep.nonly_base, 3);
	ck_assert_uint_eq(rep.nonly_new, 3);

	/* nothing in common is an error, not a green gate */
	for (size_t i = 0; i < rn.ncells; i++)
		rn.cells[i].threads = 2;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "no cell of NEW matches"));
	ck_assert_int_eq(rep.exit_code, NB_EXIT_ERROR);
	nb_compare_report_free(&rep);
	nb_results_free(&rn);
	nb_results_free(&rb);
}
END_TEST

/* Another machine is refused unless forced; the same CPU whose key differs
 * only through the measured cache sizes is compared with a warning. */
START_TEST(test_machine_keys)
{
	struct nb_syn s = nb_noise(0, 9);
	struct nb_results rb, rn;
	struct nb_compare_input ib = { "b.h5", &rb, NULL }, in = { "n.h5", &rn, NULL };
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_report rep;
	bool warned = false;

	nb_compare_report_init(&rep);
	nb_syn_results(&rb, &s);
	nb_syn_results(&rn, &s);
	nb_res_strcpy(rn.meta.machine_key, sizeof(rn.meta.machine_key), "1111111111111111");
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	for (size_t i = 0; i < rep.nwarnings; i++)
		warned = warned || strstr(rep.warnings[i], "only the measured cache sizes") != NULL;
	ck_assert(warned);

	nb_res_strcpy(rn.meta.cpu_model, sizeof(rn.meta.cpu_model), "Other CPU 1");
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "machine keys differ"));
	ck_assert_ptr_nonnull(strstr(nb_error(), "--force"));
	o.force = true;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_int_eq(rep.exit_code, NB_EXIT_OK);
	nb_compare_report_free(&rep);
	nb_results_free(&rn);
	nb_results_free(&rb);
}
END_TEST

/* A failed accuracy check in NEW, or an error beyond its bound whatever the
 * flag says, is exit 2, which wins over a regression; in BASE it is only a
 * warning. */
START_TEST(test_verification_failures)
{
	struct nb_syn sb = nb_noise(0, 21), sn = nb_noise(0.3, 22);
	struct nb_results rb, rn;
	struct nb_compare_input ib = { "b", &rb, NULL }, in = { "n", &rn, NULL };
	struct nb_compare_opts o = nb_defaults();
	struct nb_compare_report rep;
	struct nb_verify_tables t;
	struct nb_verify_kernel_row k;

	nb_compare_report_init(&rep);
	nb_syn_results(&rb, &sb);
	nb_syn_results(&rn, &sn);
	rn.cells[4].verified = 0;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.counts[NB_VERDICT_REGRESSED], 12);
	ck_assert_uint_eq(rep.nfailures, 1);
	ck_assert_str_eq(rep.failures[0].what, "kernel/rmsnorm/rmsnorm_fwd_f32_avx512/f32/fwd/64x4096/t1/hot");
	ck_assert_int_eq(rep.exit_code, NB_EXIT_VERIFY_FAILED);

	rn.cells[4].verified = 1;
	rn.cells[4].err_ratio = 1.5;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nfailures, 1);
	ck_assert_ptr_nonnull(strstr(rep.failures[0].detail, "error/bound 1.5 (base 0.25)"));
	ck_assert_int_eq(rep.exit_code, NB_EXIT_VERIFY_FAILED);

	/* exactly at the bound still passes */
	rn.cells[4].err_ratio = 1.0;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nfailures, 0);
	ck_assert_int_eq(rep.exit_code, NB_EXIT_REGRESSION);

	/* a failing /verify row of NEW */
	nb_verify_tables_init(&t);
	memset(&k, 0, sizeof(k));
	nb_vf_strcpy(k.kernel, sizeof(k.kernel), "rmsnorm_fwd_f32_avx512");
	nb_vf_strcpy(k.output, sizeof(k.output), "y");
	nb_vf_strcpy(k.data, sizeof(k.data), "gauss");
	k.err_to_bound = 3.0;
	k.pass = 0;
	ck_assert_int_eq(nb_verify_add_kernel(&t, &k), NB_OK);
	in.verify = &t;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nfailures, 1);
	ck_assert_ptr_nonnull(strstr(rep.failures[0].what, "verify/kernels rmsnorm_fwd_f32_avx512"));
	ck_assert_int_eq(rep.exit_code, NB_EXIT_VERIFY_FAILED);
	in.verify = NULL;
	nb_verify_tables_free(&t);

	/* BASE's failure does not gate */
	rb.cells[0].verified = 0;
	ck_assert_int_eq(nb_compare_results(&ib, 1, &in, 1, &o, &rep), NB_OK);
	ck_assert_uint_eq(rep.nfailures, 0);
	ck_assert_int_eq(rep.exit_code, NB_EXIT_REGRESSION);
	ck_assert_uint_ge(rep.nwarnings, 1);
	nb_compare_report_free(&rep);
	nb_results_free(&rn);
	nb_results_free(&rb);
}
END_TEST

/* ------------------------------------------------ the command ($NB_BIN) */

/* Runs "$NB_BIN compare ARGS" in the test folder with stdout and stderr
 * into files; returns the exit status. */
static int nb_run(const char *args, char **out, char **err)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "compare %s", args);
	return nb_test_run_bin("compare", true, NULL, cmd, out, err);
}

START_TEST(test_cli_exit_codes)
{
	char p[512], *out = NULL, *err = NULL, *md, *json;
	struct nb_syn s;

	s = nb_noise(0, 31);
	nb_syn_write(nb_tmp(p, sizeof(p), "base.h5"), &s);
	s = nb_noise(0, 32);
	nb_syn_write(nb_tmp(p, sizeof(p), "same.h5"), &s);
	s = nb_noise(0.30, 33);
	nb_syn_write(nb_tmp(p, sizeof(p), "slow.h5"), &s);

	ck_assert_int_eq(nb_run("base.h5 same.h5", &out, &err), NB_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out, "0 REGRESSED"));
	ck_assert_ptr_nonnull(strstr(out, "result: exit 0 (no regression)"));
	free(out);
	free(err);

	ck_assert_int_eq(nb_run("base.h5 slow.h5 --md gate.md --json gate.json", &out, &err),
			 NB_EXIT_REGRESSION);
	ck_assert_ptr_nonnull(strstr(out, "12 REGRESSED"));
	ck_assert_ptr_nonnull(strstr(out, "kernel/crmsnorm/crmsnorm_fwd_f32_avx512/f32/fwd/"));
	ck_assert_ptr_nonnull(strstr(out, "geometric mean of new/base: layernorm 1."));
	md = nb_test_slurp(nb_tmp(p, sizeof(p), "gate.md"), NULL);
	ck_assert_ptr_nonnull(md);
	ck_assert_ptr_nonnull(strstr(md, "**performance regression**"));
	ck_assert_ptr_nonnull(strstr(md, "| cell | base | new |"));
	ck_assert_ptr_nonnull(strstr(md, "**REGRESSED**"));
	json = nb_test_slurp(nb_tmp(p, sizeof(p), "gate.json"), NULL);
	ck_assert_ptr_nonnull(json);
	ck_assert_ptr_nonnull(strstr(json, "\"exit_code\": 3,"));
	ck_assert_ptr_nonnull(strstr(json, "\"REGRESSED\": 12"));
	ck_assert_ptr_nonnull(strstr(json, "\"verdict\": \"REGRESSED\""));
	free(json);
	free(md);
	free(out);
	free(err);

	/* --quiet: no table; improvements exit 0 */
	ck_assert_int_eq(nb_run("--quiet slow.h5 base.h5", &out, &err), NB_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out, "12 improved"));
	ck_assert_ptr_null(strstr(out, "kernel/"));
	free(out);
	free(err);

	/* several runs a side, pooled */
	ck_assert_int_eq(nb_run("--base base.h5 --base same.h5 --new slow.h5 --new slow.h5 "
				"--json -", &out, &err), NB_EXIT_REGRESSION);
	ck_assert_ptr_nonnull(strstr(out, "\"base_runs\": 20, \"new_runs\": 20"));
	free(out);
	free(err);

	/* --inject-slowdown turns an A/A pair into a 30% regression */
	ck_assert_int_eq(nb_run("--inject-slowdown 0.3 base.h5 same.h5", &out, &err),
			 NB_EXIT_REGRESSION);
	ck_assert_ptr_nonnull(strstr(out, "--inject-slowdown"));
	free(out);
	free(err);
}
END_TEST

START_TEST(test_cli_errors)
{
	char p[512], *out = NULL, *err = NULL;
	struct nb_syn s = nb_noise(0, 41);
	struct nb_results r;
	FILE *f;

	nb_syn_write(nb_tmp(p, sizeof(p), "base.h5"), &s);
	/* usage errors */
	ck_assert_int_eq(nb_run("base.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "is not an A/B run"));
	free(out);
	free(err);
	ck_assert_int_eq(nb_run("--alpha 0.5 base.h5 base.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "--alpha"));
	free(out);
	free(err);
	ck_assert_int_eq(nb_run("--min-effect -1 base.h5 base.h5", &out, &err), NB_EXIT_ERROR);
	free(out);
	free(err);
	ck_assert_int_eq(nb_run("--bogus base.h5 base.h5", &out, &err), NB_EXIT_ERROR);
	free(out);
	free(err);
	ck_assert_int_eq(nb_run("a.h5 b.h5 c.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "too many files"));
	free(out);
	free(err);

	/* missing, not HDF5, damaged */
	ck_assert_int_eq(nb_run("base.h5 missing.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "missing.h5"));
	free(out);
	free(err);
	f = fopen(nb_tmp(p, sizeof(p), "text.h5"), "w");
	ck_assert_ptr_nonnull(f);
	fputs("this is not an HDF5 file\n", f);
	fclose(f);
	ck_assert_int_eq(nb_run("base.h5 text.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "text.h5"));
	free(out);
	free(err);
	{
		char cmd[1200];
		snprintf(cmd, sizeof(cmd), "head -c 3000 '%s/base.h5' > '%s/cut.h5'",
			 nb_test_dir("compare"), nb_test_dir("compare"));
		ck_assert_int_eq(system(cmd), 0);
	}
	ck_assert_int_eq(nb_run("base.h5 cut.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "cut.h5"));
	free(out);
	free(err);

	/* another machine: refused, then forced */
	nb_syn_results(&r, &s);
	nb_res_strcpy(r.meta.machine_key, sizeof(r.meta.machine_key), "2222222222222222");
	nb_res_strcpy(r.meta.cpu_model, sizeof(r.meta.cpu_model), "Other CPU 2");
	ck_assert_int_eq(nb_results_write(nb_tmp(p, sizeof(p), "other.h5"), &r, true), NB_OK);
	nb_results_free(&r);
	ck_assert_int_eq(nb_run("base.h5 other.h5", &out, &err), NB_EXIT_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "machine keys differ"));
	free(out);
	free(err);
	ck_assert_int_eq(nb_run("--force base.h5 other.h5", &out, &err), NB_EXIT_OK);
	ck_assert_ptr_nonnull(strstr(out, "compared because of --force"));
	free(out);
	free(err);
}
END_TEST

/* A NEW file whose recorded verification failed: exit 2, also when it is
 * slower too; via the cells and via a /verify group added to the file. */
START_TEST(test_cli_verification)
{
	char p[512], *out = NULL, *err = NULL;
	struct nb_syn s = nb_noise(0, 51);
	struct nb_results r;
	struct nb_verify_tables t;
	struct nb_verify_claim_row c;
	struct nb_verify_meta m = { .command_line = "test", .mode = "quick", .input = NULL,
				    .seed = 1, .conv = NB_CONVENTIONS_DEFAULT, .seconds = 0 };

	nb_syn_write(nb_tmp(p, sizeof(p), "base.h5"), &s);
	s = nb_noise(0.3, 52);
	nb_syn_results(&r, &s);
	r.cells[2].verified = 0;
	nb_res_strcpy(r.cells[2].verify_note, sizeof(r.cells[2].verify_note), "y[3][7] off");
	ck_assert_int_eq(nb_results_write(nb_tmp(p, sizeof(p), "bad.h5"), &r, true), NB_OK);
	nb_results_free(&r);
	ck_assert_int_eq(nb_run("base.h5 bad.h5", &out, &err), NB_EXIT_VERIFY_FAILED);
	ck_assert_ptr_nonnull(strstr(out, "verification failures in NEW (1)"));
	ck_assert_ptr_nonnull(strstr(out, "y[3][7] off"));
	ck_assert_ptr_nonnull(strstr(out, "12 REGRESSED"));
	free(out);
	free(err);

	s = nb_noise(0, 53);
	nb_syn_write(nb_tmp(p, sizeof(p), "claims.h5"), &s);
	nb_verify_tables_init(&t);
	memset(&c, 0, sizeof(c));
	nb_vf_strcpy(c.claim, sizeof(c.claim), "E3");
	nb_vf_strcpy(c.name, sizeof(c.name), "flashnorm");
	nb_vf_strcpy(c.dtype, sizeof(c.dtype), "f32");
	c.observed = 1e-2;
	c.bound = 1e-5;
	c.pass = 0;
	ck_assert_int_eq(nb_verify_add_claim(&t, &c), NB_OK);
	ck_assert_int_eq(nb_verify_write_into(nb_tmp(p, sizeof(p), "claims.h5"), &t, &m, false),
			 NB_OK);
	nb_verify_tables_free(&t);
	ck_assert_int_eq(nb_run("base.h5 claims.h5", &out, &err), NB_EXIT_VERIFY_FAILED);
	ck_assert_ptr_nonnull(strstr(out, "verify/claims E3 flashnorm f32"));
	free(out);
	free(err);
	/* the same file as BASE does not gate */
	ck_assert_int_eq(nb_run("claims.h5 base.h5", &out, &err), NB_EXIT_OK);
	free(out);
	free(err);
}
END_TEST

Suite *nb_suite_compare(void)
{
	Suite *s = suite_create("compare");
	TCase *rule = tcase_create("rule");
	TCase *files = tcase_create("files");
	TCase *cli = tcase_create("cli");

	tcase_add_test(rule, test_rule_textbook_rank);
	tcase_add_test(rule, test_rule_inconclusive_reason);
	tcase_add_test(rule, test_rule_wiring_and_edges);
	tcase_add_test(rule, test_runs_process_unit);
	tcase_add_test(rule, test_simulated_false_alarms);
	tcase_add_test(rule, test_simulated_detection);
	suite_add_tcase(s, rule);

	tcase_add_test(files, test_shifts);
	tcase_add_test(files, test_improvements_and_symmetry);
	tcase_add_test(files, test_preempted_samples);
	tcase_add_test(files, test_runs_best);
	tcase_add_test(files, test_matching);
	tcase_add_test(files, test_machine_keys);
	tcase_add_test(files, test_verification_failures);
	suite_add_tcase(s, files);

	tcase_add_checked_fixture(cli, NULL, nb_test_teardown);
	tcase_add_test(cli, test_cli_exit_codes);
	tcase_add_test(cli, test_cli_errors);
	tcase_add_test(cli, test_cli_verification);
	suite_add_tcase(s, cli);
	return s;
}
