/* Statistics against values worked out by hand: type-7 quantiles, the exact
 * Mann-Whitney distribution (counted partitions), the tie-corrected normal
 * approximation (R's wilcox.test formula), bootstrap coverage, geomean. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_stats.h"
#include "common/nb_rng.h"
#include "tests/nb_test.h"

/* |got - want| <= rel * |want| */
#define NB_CK_REL(got, want, rel)                                                   \
	ck_assert_msg(fabs((got) - (want)) <= (rel) * fabs(want),                    \
		      "%s = %.17g, want %.17g (rel %g)", #got, (double)(got),          \
		      (double)(want), (double)(rel))

/* |got - want| <= abs */
#define NB_CK_ABS(got, want, abs)                                                   \
	ck_assert_msg(fabs((got) - (want)) <= (abs), "%s = %.17g, want %.17g (abs %g)",  \
		      #got, (double)(got), (double)(want), (double)(abs))

/* u = 2^-53; the quantile is x[lo] + f (x[hi] - x[lo]): h = (n-1) q, its
 * fraction f, the difference, the product and the sum each round once, so
 * the relative error is below 5u ~ 5.6e-16 for these positive data; 1e-15
 * leaves room for that and nothing else. */
#define NB_Q_REL 1e-15

START_TEST(test_quantile_type7_by_hand)
{
	/* n = 5, sorted {1, 3, 4, 8, 10}: h = 4q.
	 * q = .25: h = 1 -> x[1] = 3; q = .5: h = 2 -> 4; q = .75: h = 3 -> 8;
	 * q = .1: h = 0.4 -> 1 + 0.4 (3 - 1) = 1.8; q = 0 -> 1; q = 1 -> 10 */
	const double x5[] = { 1, 3, 4, 8, 10 };
	/* n = 4, sorted {1, 2, 4, 8}: h = 3q.
	 * q = .25: h = .75 -> 1 + .75 (2 - 1) = 1.75; q = .5: h = 1.5 ->
	 * 2 + .5 (4 - 2) = 3; q = .75: h = 2.25 -> 4 + .25 (8 - 4) = 5 */
	const double x4[] = { 1, 2, 4, 8 };

	NB_CK_REL(nb_quantile_sorted(x5, 5, 0.25), 3.0, NB_Q_REL);
	NB_CK_REL(nb_quantile_sorted(x5, 5, 0.5), 4.0, NB_Q_REL);
	NB_CK_REL(nb_quantile_sorted(x5, 5, 0.75), 8.0, NB_Q_REL);
	NB_CK_REL(nb_quantile_sorted(x5, 5, 0.1), 1.8, NB_Q_REL);
	ck_assert(nb_quantile_sorted(x5, 5, 0.0) == 1.0);
	ck_assert(nb_quantile_sorted(x5, 5, 1.0) == 10.0);
	/* outside [0, 1]: clamped */
	ck_assert(nb_quantile_sorted(x5, 5, -3.0) == 1.0);
	ck_assert(nb_quantile_sorted(x5, 5, 7.0) == 10.0);
	NB_CK_REL(nb_quantile_sorted(x4, 4, 0.25), 1.75, NB_Q_REL);
	NB_CK_REL(nb_quantile_sorted(x4, 4, 0.5), 3.0, NB_Q_REL);
	NB_CK_REL(nb_quantile_sorted(x4, 4, 0.75), 5.0, NB_Q_REL);
	ck_assert(nb_quantile_sorted(x4, 1, 0.5) == 1.0);
	ck_assert(isnan(nb_quantile_sorted(x4, 0, 0.5)));
}
END_TEST

START_TEST(test_summary_by_hand)
{
	/* {5, 1, 4, 2, 3}: sorted 1..5, median 3, q1 2, q3 4, iqr 2, mean 3;
	 * iqr = 2 > 10% of 3: unstable */
	const double x[] = { 5, 1, 4, 2, 3 };
	double copy[5];
	struct nb_summary s;

	memcpy(copy, x, sizeof(x));
	ck_assert_int_eq(nb_summarize(copy, 5, 1, &s), NB_OK);
	ck_assert_int_eq(memcmp(copy, x, sizeof(x)), 0);   /* input untouched */
	ck_assert_uint_eq(s.n, 5);
	ck_assert(s.median == 3.0 && s.min == 1.0 && s.max == 5.0);
	ck_assert(s.q1 == 2.0 && s.q3 == 4.0 && s.iqr == 2.0 && s.mean == 3.0);
	/* a bootstrap median of 5 values is always one of them */
	ck_assert(s.ci_lo >= 1.0 && s.ci_lo <= s.median && s.ci_hi >= s.median &&
		  s.ci_hi <= 5.0);
	ck_assert(s.unstable);
}
END_TEST

START_TEST(test_summary_stable_and_unstable_rule)
{
	double x[41];
	struct nb_summary s;

	/* 100 + 0.05 k for k = -20..20: median 100, q1 = 99.5, q3 = 100.5
	 * (h = 10 and 30 exactly), iqr 1 = 1% of the median; a resampled
	 * median is a data value (or the mean of two), so the CI lies in the
	 * data range [99, 101], half-width < 1%: stable */
	for (int k = -20; k <= 20; k++)
		x[k + 20] = 100.0 + 0.05 * k;
	ck_assert_int_eq(nb_summarize(x, 41, 7, &s), NB_OK);
	NB_CK_REL(s.median, 100.0, 1e-15);
	NB_CK_REL(s.iqr, 1.0, 1e-13);
	ck_assert(s.ci_lo >= 99.0 && s.ci_hi <= 101.0);
	ck_assert(!s.unstable);

	/* spread the upper half: q3 = x[30] = 100 + 1.25 * 10 = 112.5, iqr
	 * = 13 = 13% of the median 100 -> unstable by the IQR rule alone */
	for (int k = 1; k <= 20; k++)
		x[k + 20] = 100.0 + 1.25 * k;
	ck_assert_int_eq(nb_summarize(x, 41, 7, &s), NB_OK);
	NB_CK_REL(s.iqr, 13.0, 1e-14);
	ck_assert(s.unstable);

	/* four tight samples: stable spread, but fewer than the minimum n */
	ck_assert_int_eq(nb_summarize(x, NB_UNSTABLE_MIN_N - 1, 7, &s), NB_OK);
	ck_assert(s.unstable);
}
END_TEST

START_TEST(test_summary_rejects_bad_input)
{
	double x[3] = { 1, NAN, 2 };
	struct nb_summary s;

	ck_assert_int_eq(nb_summarize(x, 0, 1, &s), NB_ERR_INVALID);
	ck_assert(isnan(s.median) && s.n == 0);
	ck_assert_int_eq(nb_summarize(NULL, 3, 1, &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_summarize(x, 3, 1, &s), NB_ERR_INVALID);
	/* n = 1: a point, unstable */
	ck_assert_int_eq(nb_summarize(x, 1, 1, &s), NB_OK);
	ck_assert(s.median == 1.0 && s.ci_lo == 1.0 && s.ci_hi == 1.0 && s.unstable);
}
END_TEST

START_TEST(test_bootstrap_is_seeded)
{
	double x[30];
	struct nb_rng rng;
	struct nb_summary s1, s2, s3;

	nb_rng_seed(&rng, 5);
	for (int i = 0; i < 30; i++)
		x[i] = nb_rng_uniform(&rng);
	ck_assert_int_eq(nb_summarize(x, 30, 11, &s1), NB_OK);
	ck_assert_int_eq(nb_summarize(x, 30, 11, &s2), NB_OK);
	ck_assert_int_eq(nb_summarize(x, 30, 12, &s3), NB_OK);
	ck_assert(s1.ci_lo == s2.ci_lo && s1.ci_hi == s2.ci_hi);
	/* another seed draws other resamples: with 30 distinct values the two
	 * interval ends both coinciding would take a very unlikely accident */
	ck_assert(s1.ci_lo != s3.ci_lo || s1.ci_hi != s3.ci_hi);
}
END_TEST

/*
 * Coverage: 200 data sets of 51 standard normals (true median 0). Each 95%
 * CI should hold 0 about 95% of the time: 190 of 200 expected, binomial
 * sd = sqrt(200 .95 .05) = 3.1. The percentile bootstrap of a median is a
 * little off its nominal level for n = 51 (the resampled medians take few
 * distinct values), so accept 175..200: 4.9 sd below the expected count;
 * an interval that is too narrow (e.g. a CI of the mean of resample
 * indices, or one resample only) lands far below.
 */
START_TEST(test_bootstrap_covers_true_median)
{
	enum { SETS = 200, N = 51 };
	double x[N];
	struct nb_rng rng;
	int covered = 0;

	nb_rng_seed(&rng, 2024);
	for (int s = 0; s < SETS; s++) {
		struct nb_summary sum;
		for (int i = 0; i < N; i++)
			x[i] = nb_rng_normal(&rng);
		ck_assert_int_eq(nb_summarize(x, N, (uint64_t)s, &sum), NB_OK);
		ck_assert(sum.ci_lo <= sum.median && sum.median <= sum.ci_hi);
		covered += sum.ci_lo <= 0.0 && 0.0 <= sum.ci_hi;
	}
	ck_assert_msg(covered >= 175 && covered <= 200, "covered %d of %d", covered, SETS);
}
END_TEST

/* exact p-values are ratios of subset counts; the DP sums counts in double
 * and divides once: relative error ~ a few u; 1e-13 is generous and still
 * far below the differences between neighbouring p-values (> 1e-3 here) */
#define NB_P_EXACT_REL 1e-13

START_TEST(test_mann_whitney_exact_by_hand)
{
	/* a = {1,2,3}, b = {4,5,6}: every b above every a, U = 9 = max; of
	 * the C(6,3) = 20 equally likely rank sets only one reaches it:
	 * P(U >= 9) = 1/20 (R: wilcox.test(b, a, "greater") p = 0.05) */
	const double a1[] = { 1, 2, 3 }, b1[] = { 4, 5, 6 };
	/* a = {1,3,5,7}, b = {2,4,6,8,9}: U = 1+2+3+4+4 = 14 of mn = 20.
	 * By symmetry P(U >= 14) = P(U <= 6); the number of rank sets with
	 * U = u is the number of partitions of u into at most 5 parts each
	 * at most 4: u = 0..6 gives 1, 1, 2, 3, 5, 6, 8 (u = 6: 42, 411, 33,
	 * 321, 3111, 222, 2211, 21111), total 26 of C(9,4) = 126:
	 * greater p = 26/126, two-sided p = 52/126, less p = P(U <= 14) =
	 * 1 - P(U >= 15) = 1 - P(U <= 5) = 1 - 18/126 = 108/126 */
	const double a2[] = { 1, 3, 5, 7 }, b2[] = { 2, 4, 6, 8, 9 };
	struct nb_rank_test t;

	ck_assert_int_eq(nb_mann_whitney(a1, 3, b1, 3, NB_ALT_GREATER, &t), NB_OK);
	ck_assert(t.exact && t.u == 9.0);
	NB_CK_REL(t.p, 1.0 / 20.0, NB_P_EXACT_REL);
	NB_CK_REL(nb_mann_whitney_p(a1, 3, b1, 3, NB_ALT_TWO_SIDED), 2.0 / 20.0, NB_P_EXACT_REL);
	NB_CK_REL(nb_mann_whitney_p(a1, 3, b1, 3, NB_ALT_LESS), 1.0, NB_P_EXACT_REL);
	/* swapping the samples mirrors the alternatives */
	NB_CK_REL(nb_mann_whitney_p(b1, 3, a1, 3, NB_ALT_LESS), 1.0 / 20.0, NB_P_EXACT_REL);

	ck_assert_int_eq(nb_mann_whitney(a2, 4, b2, 5, NB_ALT_GREATER, &t), NB_OK);
	ck_assert(t.exact && t.u == 14.0);
	NB_CK_REL(t.p, 26.0 / 126.0, NB_P_EXACT_REL);
	NB_CK_REL(nb_mann_whitney_p(a2, 4, b2, 5, NB_ALT_TWO_SIDED), 52.0 / 126.0,
		  NB_P_EXACT_REL);
	NB_CK_REL(nb_mann_whitney_p(a2, 4, b2, 5, NB_ALT_LESS), 108.0 / 126.0, NB_P_EXACT_REL);
}
END_TEST

START_TEST(test_mann_whitney_exact_larger)
{
	/* a = 1..10, b = 11..20: U = 100, only one of C(20,10) = 184756 rank
	 * sets: p = 1/184756 */
	double a[10], b[10];
	/* 7 vs 8 values without ties: U = 43, and counting all C(15,7) = 6435
	 * rank sets of b by U (a brute-force enumeration, written out once):
	 * P(U >= 43) = 302/6435, P(U <= 43) = 6203/6435, two-sided 604/6435 */
	const double a2[] = { 1.5, 2.25, 3.0, 4.75, 6.0, 7.5, 9.25 };
	const double b2[] = { 2.0, 5.0, 6.5, 8.0, 8.5, 10.0, 11.0, 12.5 };
	struct nb_rank_test t;

	for (int i = 0; i < 10; i++) {
		a[i] = i + 1;
		b[i] = i + 11;
	}
	NB_CK_REL(nb_mann_whitney_p(a, 10, b, 10, NB_ALT_GREATER), 1.0 / 184756.0,
		  NB_P_EXACT_REL);
	ck_assert_int_eq(nb_mann_whitney(a2, 7, b2, 8, NB_ALT_GREATER, &t), NB_OK);
	ck_assert(t.exact && t.u == 43.0);
	NB_CK_REL(t.p, 302.0 / 6435.0, NB_P_EXACT_REL);
	NB_CK_REL(nb_mann_whitney_p(a2, 7, b2, 8, NB_ALT_LESS), 6203.0 / 6435.0, NB_P_EXACT_REL);
	NB_CK_REL(nb_mann_whitney_p(a2, 7, b2, 8, NB_ALT_TWO_SIDED), 604.0 / 6435.0,
		  NB_P_EXACT_REL);
}
END_TEST

/* normal approximation: z goes through a sqrt and erfc (relative error a
 * few u each); the condition number of the upper tail at z ~ 1.6..6 is
 * z phi(z) / Q(z) < 40, so the p-value carries < 40 * 10u ~ 1e-13 */
#define NB_P_NORMAL_REL 1e-12

START_TEST(test_mann_whitney_ties_normal)
{
	/* a = {1,2,2,3}, b = {2,3,3,4,5}. Pooled: 1 | 2 2 2 | 3 3 3 | 4 | 5,
	 * ranks 1 | 3 3 3 | 6 6 6 | 8 | 9. Rank sum of b = 3+6+6+8+9 = 32,
	 * U = 32 - 5*6/2 = 17, mn/2 = 10. Ties -> normal approximation.
	 * Tie term sum(t^3 - t) = 24 + 24 = 48;
	 * sigma^2 = mn/12 ((N+1) - 48/(N(N-1))) = 20/12 (10 - 48/72) = 140/9.
	 * greater: z = (17 - 10 - 0.5)/sqrt(140/9) = 1.648051, p = Q(z) =
	 * 0.04967112392673263; less: z = 7.5/sigma, p = Phi(-z) ... =
	 * 0.9713880745611612; two-sided 2 Q((7 - 0.5)/sigma) = 0.09934224785346527
	 * (the same numbers as R's wilcox.test(b, a, correct = TRUE)) */
	const double a[] = { 1, 2, 2, 3 }, b[] = { 2, 3, 3, 4, 5 };
	struct nb_rank_test t;

	ck_assert_int_eq(nb_mann_whitney(a, 4, b, 5, NB_ALT_GREATER, &t), NB_OK);
	ck_assert(!t.exact && t.u == 17.0);
	/* z: a sqrt, a division, the variance terms: < 8u */
	NB_CK_REL(t.z, 6.5 / sqrt(140.0 / 9.0), 1e-15);
	NB_CK_REL(t.p, 0.04967112392673263, NB_P_NORMAL_REL);
	NB_CK_REL(nb_mann_whitney_p(a, 4, b, 5, NB_ALT_LESS), 0.9713880745611612,
		  NB_P_NORMAL_REL);
	NB_CK_REL(nb_mann_whitney_p(a, 4, b, 5, NB_ALT_TWO_SIDED), 0.09934224785346527,
		  NB_P_NORMAL_REL);
}
END_TEST

START_TEST(test_mann_whitney_large_normal)
{
	/* 60 vs 60, no ties: a = 0..59, b = 20.5..79.5. b_j = j + 20.5 beats
	 * the a_i < j + 20.5, i.e. min(60, j + 21) of them:
	 * U = sum_{j=0}^{39} (j + 21) + 20 * 60 = 1620 + 1200 = 2820;
	 * mn/2 = 1800, sigma^2 = 3600/12 * 121 = 36300;
	 * greater: z = (1020 - 0.5)/sqrt(36300) = 5.35092..., p =
	 * 4.373783861446777e-08, two-sided 8.747567722893554e-08 */
	double a[60], b[60];
	struct nb_rank_test t;

	for (int i = 0; i < 60; i++) {
		a[i] = i;
		b[i] = i + 20.5;
	}
	ck_assert_int_eq(nb_mann_whitney(a, 60, b, 60, NB_ALT_GREATER, &t), NB_OK);
	ck_assert(!t.exact && t.u == 2820.0);
	NB_CK_REL(t.p, 4.373783861446777e-08, NB_P_NORMAL_REL);
	NB_CK_REL(nb_mann_whitney_p(a, 60, b, 60, NB_ALT_TWO_SIDED), 8.747567722893554e-08,
		  NB_P_NORMAL_REL);
}
END_TEST

START_TEST(test_mann_whitney_degenerate)
{
	const double same[] = { 2, 2, 2 }, a[] = { 1, 2 }, nan1[] = { NAN };
	struct nb_rank_test t;

	/* all tied: no evidence, p = 1 */
	ck_assert_int_eq(nb_mann_whitney(same, 3, same, 3, NB_ALT_TWO_SIDED, &t), NB_OK);
	ck_assert(t.p == 1.0);
	ck_assert_int_eq(nb_mann_whitney(a, 0, a, 2, NB_ALT_GREATER, &t), NB_ERR_INVALID);
	ck_assert_int_eq(nb_mann_whitney(a, 2, nan1, 1, NB_ALT_GREATER, &t), NB_ERR_INVALID);
	ck_assert(isnan(nb_mann_whitney_p(a, 2, a, 0, NB_ALT_LESS)));
}
END_TEST

START_TEST(test_ratio_ci)
{
	enum { N = 101 };
	double a[N], b[N], same_lo, same_hi;
	double ratio, lo, hi;
	struct nb_rng rng;

	nb_rng_seed(&rng, 99);
	/* a ~ 1 + 0.01 N(0,1); b = 1.2 a exactly: the ratio of medians is 1.2
	 * up to rounding (every resample pair shares no indices, so the CI is
	 * not a point, but medians of 101 values with 1% spread move by about
	 * 1.25 * 0.01 / sqrt(101) = 0.12%: the 95% CI is well inside
	 * 1.2 (1 +- 1%)) */
	for (int i = 0; i < N; i++) {
		a[i] = 1.0 + 0.01 * nb_rng_normal(&rng);
		b[i] = 1.2 * a[i];
	}
	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, N, b, N, 3, 2000, 0.95, &ratio, &lo, &hi),
			 NB_OK);
	/* b's median is fl(1.2 m) for a's median m (scaling keeps the order),
	 * and 1.2 itself is rounded: three roundings, < 3.5e-16 relative */
	NB_CK_REL(ratio, 1.2, 4e-16);
	ck_assert(lo < ratio && ratio < hi);
	ck_assert(lo > 1.2 * 0.99 && hi < 1.2 * 1.01);
	/* the same sample against itself: the CI holds 1 */
	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, N, a, N, 3, 2000, 0.95, &ratio, &same_lo,
					       &same_hi), NB_OK);
	ck_assert(ratio == 1.0 && same_lo < 1.0 && same_hi > 1.0);
	/* a wider level gives a wider interval from the same resamples */
	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, N, b, N, 3, 2000, 0.99, &ratio, &same_lo,
					       &same_hi), NB_OK);
	ck_assert(same_lo <= lo && same_hi >= hi);

	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, N, b, N, 3, 2000, 1.5, &ratio, &lo, &hi),
			 NB_ERR_INVALID);
	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, N, b, N, 3, 10, 0.95, &ratio, &lo, &hi),
			 NB_ERR_INVALID);
	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, 0, b, N, 3, 2000, 0.95, &ratio, &lo, &hi),
			 NB_ERR_INVALID);
	for (int i = 0; i < N; i++)
		a[i] = -1.0;
	ck_assert_int_eq(nb_bootstrap_ratio_ci(a, N, b, N, 3, 2000, 0.95, &ratio, &lo, &hi),
			 NB_ERR_INVALID);
	ck_assert(isnan(ratio));
}
END_TEST

START_TEST(test_geomean)
{
	const double x[] = { 1, 4, 16 }, y[] = { 2, 8 }, bad[] = { 1, 0 }, neg[] = { 1, -2 };

	/* (1 * 4 * 16)^(1/3) = 64^(1/3) = 4; (2 * 8)^(1/2) = 4. Three logs
	 * (error < u |log x| each, |log x| <= 2.8), a sum, a division and exp
	 * (whose relative error is the argument's absolute error + u): the
	 * result is within ~12u ~ 1.4e-15 relative; 4e-15 bounds it */
	NB_CK_REL(nb_geomean(x, 3), 4.0, 4e-15);
	NB_CK_REL(nb_geomean(y, 2), 4.0, 4e-15);
	ck_assert(isnan(nb_geomean(bad, 2)));
	ck_assert(isnan(nb_geomean(neg, 2)));
	ck_assert(isnan(nb_geomean(x, 0)));
}
END_TEST

/* Student's t against closed forms: df = 1 is Cauchy, F(t) = 1/2 +
 * atan(t)/pi; df = 2 has F(t) = 1/2 + t / (2 sqrt(2 + t^2)). The quantile
 * inverts the CDF (bisection to 1e-12 relative): F(Q(p)) = p, and Q(0.975)
 * at df 1 is tan(0.475 pi). The continued fraction converges to ~1e-15; the
 * bisection stops at 1e-12 relative in t, where F changes by at most
 * f(t) * 1e-12 * t <= 1e-12. */
START_TEST(test_student_t_closed_forms)
{
	static const double ts[] = { -30, -3.5, -1, -0.2, 0, 0.3, 1, 2.5, 12.7 };

	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		double t = ts[i];
		NB_CK_ABS(nb_student_t_cdf(t, 1.0), 0.5 + atan(t) / M_PI, 1e-13);
		NB_CK_ABS(nb_student_t_cdf(t, 2.0), 0.5 + t / (2.0 * sqrt(2.0 + t * t)), 1e-13);
	}
	NB_CK_REL(nb_student_t_quantile(0.975, 1.0), tan(0.475 * M_PI), 1e-10);
	for (double df = 1.5; df < 200; df *= 2.3)
		for (double p = 0.01; p < 1.0; p += 0.07)
			NB_CK_ABS(nb_student_t_cdf(nb_student_t_quantile(p, df), df), p, 1e-11);
	/* large df: the normal limit (the t quantile exceeds z by about
	 * z (1 + z^2) / (4 df): 3.8e-5 at df 1e5, z = 2.326) */
	NB_CK_ABS(nb_student_t_quantile(0.99, 1e5), 2.3263479, 1e-4);
	ck_assert(isnan(nb_student_t_cdf(1.0, 0.0)));
	ck_assert(isnan(nb_student_t_quantile(1.0, 5.0)));
	ck_assert(isnan(nb_student_t_quantile(0.5, -1.0)));
}
END_TEST

/* nb_process_ratio by hand: base log levels {0, .01, .02, .03, .04}, new
 * the same plus 0.1. The 25 pairwise log ratios are 0.1 + 0.01 (j - i):
 * 0.06 once, 0.07 twice, ... 0.10 five times, ... 0.14 once, so the
 * Hodges-Lehmann estimate (13th) is 0.10. For 5 against 5 the exact null
 * distribution of U has P(U <= 0) = 1/252, P(U <= 1) = 2/252 <= 0.01 <
 * P(U <= 2) = 4/252: order k = 2, the interval [D_(2), D_(24)] =
 * [0.07, 0.13]. Every new level is above every base level: U = 25,
 * one-sided p = 1/252. */
START_TEST(test_process_ratio_by_hand)
{
	double a[5], b[5];
	const double one[1] = { 1.0 }, bad[2] = { 1.0, 0.0 };
	struct nb_process_test t;

	for (int i = 0; i < 5; i++) {
		a[i] = exp(0.01 * i);
		b[i] = exp(0.1 + 0.01 * i);
	}
	ck_assert_int_eq(nb_process_ratio(a, 5, b, 5, 0.01, &t), NB_OK);
	ck_assert_uint_eq(t.order, 2);
	NB_CK_REL(t.ratio, exp(0.10), 1e-13);
	NB_CK_REL(t.lo, exp(0.07), 1e-13);
	NB_CK_REL(t.hi, exp(0.13), 1e-13);
	NB_CK_REL(t.p_slower, 1.0 / 252.0, 1e-12);
	NB_CK_ABS(t.p_faster, 1.0, 1e-12);
	/* at alpha 0.05 the order is 5 (P(U <= 4) = 12/252 <= 0.05 < 19/252):
	 * [D_(5), D_(21)] = [0.08, 0.12] */
	ck_assert_int_eq(nb_process_ratio(a, 5, b, 5, 0.05, &t), NB_OK);
	ck_assert_uint_eq(t.order, 5);
	NB_CK_REL(t.lo, exp(0.08), 1e-13);
	NB_CK_REL(t.hi, exp(0.12), 1e-13);
	/* one slow process on the base side (x 1.5) moves the interval by one
	 * order statistic, not by its size: the pairs with it are the 5
	 * smallest ratios, so D_(2) is one of them, but D_(24) is unchanged */
	a[4] = exp(0.04) * 1.5;
	ck_assert_int_eq(nb_process_ratio(a, 5, b, 5, 0.01, &t), NB_OK);
	NB_CK_REL(t.hi, exp(0.13), 1e-13);
	ck_assert(t.lo < 1.0);
	/* one process: only the ratio */
	ck_assert_int_eq(nb_process_ratio(one, 1, b, 2, 0.01, &t), NB_OK);
	NB_CK_REL(t.ratio, exp(0.105), 1e-13);
	ck_assert(isnan(t.lo) && isnan(t.hi) && t.order == 0);
	ck_assert_int_eq(nb_process_ratio(bad, 2, b, 2, 0.01, &t), NB_ERR_INVALID);
	ck_assert_int_eq(nb_process_ratio(a, 2, b, 2, 0.5, &t), NB_ERR_INVALID);
	ck_assert_int_eq(nb_process_ratio(a, 0, b, 2, 0.01, &t), NB_ERR_INVALID);
}
END_TEST

/* The interval's order against the exact Mann-Whitney null, computed
 * independently (by enumeration in Python) for these sizes: n a side at
 * one-sided 0.01 and 0.025. 4 a side cannot reach 0.01 (P(U = 0) =
 * 1/70). Beyond 49 a side the normal approximation: 913 at 50, the exact
 * value being 914. */
START_TEST(test_rank_interval_order)
{
	static const struct { size_t n, k01, k025; } t[] = {
		{ 4, 0, 1 }, { 5, 2, 3 }, { 6, 4, 6 }, { 10, 20, 24 }, { 16, 67, 76 },
		{ 20, 115, 128 }, { 49, 874, 925 },
	};
	size_t k;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ck_assert_int_eq(nb_rank_interval_order(t[i].n, t[i].n, 0.01, &k), NB_OK);
		ck_assert_msg(k == t[i].k01, "n %zu: order %zu, want %zu", t[i].n, k, t[i].k01);
		ck_assert_int_eq(nb_rank_interval_order(t[i].n, t[i].n, 0.025, &k), NB_OK);
		ck_assert_msg(k == t[i].k025, "n %zu: order %zu, want %zu", t[i].n, k, t[i].k025);
	}
	ck_assert_int_eq(nb_rank_interval_order(50, 50, 0.01, &k), NB_OK);
	ck_assert_uint_eq(k, 913);
	ck_assert_int_eq(nb_rank_interval_order(0, 5, 0.01, &k), NB_ERR_INVALID);
	ck_assert_int_eq(nb_rank_interval_order(5, 5, 0.5, &k), NB_ERR_INVALID);
}
END_TEST

/* The median's CI with the process as the unit: three processes at 1, 2
 * and 3 (10 equal samples each). A resample's median is one of the three
 * levels, set by which processes were drawn; it is 1 when two or three of
 * the draws are the first process (P = 7/27 > 2.5%), 3 likewise: the 95%
 * interval is [1, 3]. The sample-level bootstrap of all 30 samples keeps
 * the median at 2 (it would need >= 15 of 30 draws from one outer level). */
START_TEST(test_median_ci_by_process)
{
	static double x[3][10];
	const double *runs[3] = { x[0], x[1], x[2] };
	size_t n[3] = { 10, 10, 10 };
	double lo, hi;

	for (int k = 0; k < 3; k++)
		for (int i = 0; i < 10; i++)
			x[k][i] = 1.0 + k;
	ck_assert_int_eq(nb_bootstrap_median_ci_runs(runs, n, 3, 9, 2000, 0.95, &lo, &hi),
			 NB_OK);
	ck_assert(lo == 1.0 && hi == 3.0);
	ck_assert_int_eq(nb_bootstrap_median_ci_runs(runs, n, 0, 9, 2000, 0.95, &lo, &hi),
			 NB_ERR_INVALID);
}
END_TEST

Suite *nb_suite_stats(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_quantile_type7_by_hand);
	tcase_add_test(tc, test_summary_by_hand);
	tcase_add_test(tc, test_summary_stable_and_unstable_rule);
	tcase_add_test(tc, test_summary_rejects_bad_input);
	tcase_add_test(tc, test_bootstrap_is_seeded);
	tcase_add_test(tc, test_bootstrap_covers_true_median);
	tcase_add_test(tc, test_mann_whitney_exact_by_hand);
	tcase_add_test(tc, test_mann_whitney_exact_larger);
	tcase_add_test(tc, test_mann_whitney_ties_normal);
	tcase_add_test(tc, test_mann_whitney_large_normal);
	tcase_add_test(tc, test_mann_whitney_degenerate);
	tcase_add_test(tc, test_ratio_ci);
	tcase_add_test(tc, test_geomean);
	tcase_add_test(tc, test_student_t_closed_forms);
	tcase_add_test(tc, test_process_ratio_by_hand);
	tcase_add_test(tc, test_rank_interval_order);
	tcase_add_test(tc, test_median_ci_by_process);
	suite_add_tcase(s, tc);
	return s;
}
