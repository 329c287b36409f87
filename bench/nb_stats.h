/* Statistics of timing samples: quantiles, bootstrap confidence intervals of
 * the median and of a ratio of medians, the Mann-Whitney rank test and the
 * geometric mean. Used per cell by `run` and per cell pair by `compare`. */
#ifndef NB_STATS_H
#define NB_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_status.h"

/* Bootstrap resamples nb_summarize draws for the CI of the median. */
#define NB_BOOTSTRAP_RESAMPLES ((size_t)2000)
/* Confidence level of every interval nb_summarize reports. */
#define NB_CI_LEVEL 0.95

/*
 * The unstable rule: a cell is unstable when
 *   iqr > NB_UNSTABLE_IQR_FRAC * median            (IQR over 10% of the median)
 *   or (ci_hi - ci_lo) / 2 > NB_UNSTABLE_CI_FRAC * median
 *                                                  (CI half-width over 5%)
 *   or n < NB_UNSTABLE_MIN_N                       (too few samples to judge).
 * Why these: a CI gate with a 5% minimum effect (SPEC §7) cannot decide
 * anything about a cell whose own median is only known to +-5%, and an IQR
 * of 10% means a quarter of the samples sit 5% or more from the median.
 */
#define NB_UNSTABLE_IQR_FRAC 0.10
#define NB_UNSTABLE_CI_FRAC 0.05
#define NB_UNSTABLE_MIN_N ((size_t)5)

struct nb_summary {
	size_t n;
	double median, min, max;
	double q1, q3, iqr;     /* type-7 quartiles, iqr = q3 - q1 */
	double mean;
	double ci_lo, ci_hi;    /* bootstrap 95% CI of the median (percentile) */
	bool unstable;          /* the rule above */
};

/*
 * Summarizes n samples x (any order; x is not modified). The CI is the
 * percentile bootstrap over NB_BOOTSTRAP_RESAMPLES resamples drawn with
 * nb_rng seeded by seed, so the same samples and seed give the same CI.
 * n == 0 or x == NULL: NB_ERR_INVALID and every field of *out NaN (n = 0).
 * NaN samples: NB_ERR_INVALID. n == 1: CI is [x, x], unstable (n < min).
 */
enum nb_status nb_summarize(const double *x, size_t n, uint64_t seed,
			    struct nb_summary *out);

/* The unstable rule above applied to a filled summary (its CI may have
 * been replaced, e.g. by one that resamples processes). */
bool nb_summary_unstable(const struct nb_summary *s);

/* Type-7 quantile (R's default, numpy's "linear") of ascending data:
 * h = (n-1) q, result = x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * q outside [0, 1] is clamped; n == 0 gives NaN. */
double nb_quantile_sorted(const double *sorted, size_t n, double q);

/* Sorts n doubles ascending in place (NaNs last). */
void nb_sort_doubles(double *x, size_t n);

/* Median (type 7) of x, not modified; NaN when n == 0 or out of memory. */
double nb_median(const double *x, size_t n);

/* Which shift a rank test looks for. Samples are times: "GREATER" means b
 * tends to be larger (slower) than a. */
enum nb_alternative {
	NB_ALT_TWO_SIDED,
	NB_ALT_GREATER,   /* H1: b stochastically greater than a */
	NB_ALT_LESS,      /* H1: b stochastically less than a */
};

struct nb_rank_test {
	double u;        /* U of b: #{(i,j): b_j > a_i} + 0.5 #{b_j == a_i} */
	double z;        /* normal score (with continuity correction); NaN if exact */
	double p;        /* p-value for the alternative asked */
	bool exact;      /* exact null distribution (no ties, na < 50, nb < 50) */
};

/*
 * Mann-Whitney U (Wilcoxon rank-sum) test of a against b, the same numbers
 * as R's wilcox.test(b, a, alternative = ..., exact = NULL, correct = TRUE):
 * exact distribution of U when both samples have fewer than 50 values and
 * there are no ties; otherwise the normal approximation with the tie
 * correction of the variance and a continuity correction of 0.5.
 * Empty samples or NaNs: NB_ERR_INVALID. All values tied: p = 1.
 */
enum nb_status nb_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
			       enum nb_alternative alt, struct nb_rank_test *out);
/* Only the p-value of nb_mann_whitney; NaN on invalid input. */
double nb_mann_whitney_p(const double *a, size_t na, const double *b, size_t nb,
			 enum nb_alternative alt);

/*
 * ratio = median(b) / median(a) (b over a: > 1 means b is slower when the
 * samples are times) and its percentile-bootstrap CI at the given level
 * (e.g. 0.95): a and b are resampled independently, `resamples` times
 * (>= 100; 2000 or more recommended) with nb_rng seeded by seed.
 * NB_ERR_INVALID for empty samples, NaNs, a level outside (0, 1), too few
 * resamples, or a median(a) that is not > 0.
 */
enum nb_status nb_bootstrap_ratio_ci(const double *a, size_t na, const double *b,
				     size_t nb, uint64_t seed, size_t resamples,
				     double level, double *ratio, double *lo, double *hi);

/* exp(mean(log x)); NaN when n == 0 or some x <= 0 or NaN. */
double nb_geomean(const double *x, size_t n);

/* Standard normal CDF, accurate in the tails (erfc based). */
double nb_norm_cdf(double z);

/* Student's t distribution with df > 0 degrees of freedom (df need not be
 * an integer: Welch): the CDF through the regularized incomplete beta, and
 * its inverse by bisection. NaN for bad arguments. */
double nb_student_t_cdf(double t, double df);
double nb_student_t_quantile(double p, double df);

/*
 * The gate's statistic (docs/gate.md): a and b are one number per process
 * (its level, seconds), na and nb processes. The Hodges-Lehmann estimate and
 * the distribution-free interval that inverts the Mann-Whitney test: with
 * D_(1) <= ... <= D_(na nb) the sorted pairwise log ratios log b_j - log a_i,
 *   ratio = exp(median D),  [lo, hi] = [exp D_(k), exp D_(na nb + 1 - k)],
 * k the largest order with P(U <= k - 1) <= alpha under "same distribution"
 * (nb_rank_interval_order), so lo alone is a one-sided >= 1 - alpha lower
 * confidence bound for the shift and hi an upper one. No assumption on the
 * shape of the between-process spread: a few slow processes (a state that
 * lasts a whole process) move the interval by a few order statistics, not
 * by their size. When k is 0 (too few processes for this alpha: fewer than
 * 5 a side at 0.01) lo and hi stay NaN. p_slower and p_faster are the
 * one-sided Mann-Whitney p-values on the same levels. sd_log: the pooled
 * SD of log levels, for information.
 */
struct nb_process_test {
	size_t na, nb;
	double ratio, lo, hi;
	double p_slower, p_faster;
	size_t order;         /* k above; 0 when no interval */
	double sd_log;
};
enum nb_status nb_process_ratio(const double *a, size_t na, const double *b, size_t nb,
				double alpha, struct nb_process_test *out);

/* The order k of the rank interval above: the largest k with
 * P(U <= k - 1) <= alpha for the Mann-Whitney U of na against nb values
 * (exact below 50 a side, else the normal approximation); 0 when even
 * P(U = 0) = 1 / C(na + nb, na) exceeds alpha. */
enum nb_status nb_rank_interval_order(size_t na, size_t nb, double alpha, size_t *k);

/* Percentile-bootstrap CI (level, e.g. 0.95) of the median of all samples
 * of nruns processes (runs[r] holds n[r] samples), the process as the unit:
 * each resample draws nruns processes with replacement, then each drawn
 * process's samples with replacement. */
enum nb_status nb_bootstrap_median_ci_runs(const double *const *runs, const size_t *n,
					   size_t nruns, uint64_t seed, size_t resamples,
					   double level, double *lo, double *hi);

#endif
