/* Statistics of timing samples: type-7 quantiles, percentile bootstrap of the
 * median and of a ratio of medians, Mann-Whitney U (as R's wilcox.test). */
#include "bench/nb_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_rng.h"

static int nb_cmp_double(const void *pa, const void *pb)
{
	double a = *(const double *)pa, b = *(const double *)pb;

	if (isnan(a) || isnan(b))
		return isnan(a) - isnan(b);
	return (a > b) - (a < b);
}

void nb_sort_doubles(double *x, size_t n)
{
	if (n > 1)
		qsort(x, n, sizeof(*x), nb_cmp_double);
}

double nb_quantile_sorted(const double *sorted, size_t n, double q)
{
	double h, fl;
	size_t lo;

	if (n == 0 || !sorted || isnan(q))
		return NAN;
	if (q <= 0.0)
		return sorted[0];
	if (q >= 1.0)
		return sorted[n - 1];
	h = (double)(n - 1) * q;
	fl = floor(h);
	lo = (size_t)fl;
	if (lo + 1 >= n)
		return sorted[n - 1];
	return sorted[lo] + (h - fl) * (sorted[lo + 1] - sorted[lo]);
}

static bool nb_any_nan(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isnan(x[i]))
			return true;
	return false;
}

double nb_median(const double *x, size_t n)
{
	double *s, m;

	if (n == 0 || !x)
		return NAN;
	s = malloc(n * sizeof(*s));
	if (!s)
		return NAN;
	memcpy(s, x, n * sizeof(*s));
	nb_sort_doubles(s, n);
	m = nb_quantile_sorted(s, n, 0.5);
	free(s);
	return m;
}

/*
 * The type-7 median of one bootstrap resample of sorted[0..n), drawn as n
 * indices with replacement. Since sorted is ascending, the resample's order
 * statistics are sorted[i] for the drawn indices i in ascending order: count
 * how often each index was drawn and walk the counts to the two order
 * statistics the median needs. O(n) per resample instead of a sort.
 */
static double nb_resample_median(const double *sorted, size_t n, unsigned *counts,
				 struct nb_rng *rng)
{
	size_t want_lo = (n - 1) / 2;          /* 0-based rank floor((n-1)/2) */
	size_t want_hi = n / 2;                /* equals want_lo when n is odd */
	size_t seen = 0;
	double vlo = NAN, vhi = NAN;

	memset(counts, 0, n * sizeof(*counts));
	for (size_t i = 0; i < n; i++)
		counts[nb_rng_below(rng, n)]++;
	for (size_t i = 0; i < n; i++) {
		if (!counts[i])
			continue;
		/* ranks seen .. seen + counts[i] - 1 hold sorted[i] */
		if (want_lo >= seen && want_lo < seen + counts[i])
			vlo = sorted[i];
		if (want_hi >= seen && want_hi < seen + counts[i]) {
			vhi = sorted[i];
			break;
		}
		seen += counts[i];
	}
	/* type 7 at q = 0.5: h = (n-1)/2, so the weight of the upper one is
	 * 0 (n odd) or 1/2 (n even) */
	return want_lo == want_hi ? vlo : vlo + 0.5 * (vhi - vlo);
}

/* Percentile CI from `resamples` medians (sorted here). */
static void nb_percentile_ci(double *meds, size_t resamples, double level,
			     double *lo, double *hi)
{
	nb_sort_doubles(meds, resamples);
	*lo = nb_quantile_sorted(meds, resamples, (1.0 - level) / 2.0);
	*hi = nb_quantile_sorted(meds, resamples, (1.0 + level) / 2.0);
}

enum nb_status nb_summarize(const double *x, size_t n, uint64_t seed,
			    struct nb_summary *out)
{
	enum nb_status st = NB_OK;
	double *sorted = NULL, *meds = NULL;
	unsigned *counts = NULL;
	struct nb_rng rng;
	double sum = 0.0;

	*out = (struct nb_summary){ .n = 0, .median = NAN, .min = NAN, .max = NAN,
		.q1 = NAN, .q3 = NAN, .iqr = NAN, .mean = NAN, .ci_lo = NAN,
		.ci_hi = NAN, .unstable = true };
	if (!x || n == 0)
		return nb_fail(NB_ERR_INVALID, "no samples to summarize");
	if (nb_any_nan(x, n))
		return nb_fail(NB_ERR_INVALID, "a sample is NaN");
	sorted = malloc(n * sizeof(*sorted));
	counts = malloc(n * sizeof(*counts));
	meds = malloc(NB_BOOTSTRAP_RESAMPLES * sizeof(*meds));
	if (!sorted || !counts || !meds) {
		st = nb_fail(NB_ERR_NOMEM, "no memory to summarize %zu samples", n);
		goto free_all;
	}
	memcpy(sorted, x, n * sizeof(*sorted));
	nb_sort_doubles(sorted, n);
	for (size_t i = 0; i < n; i++)
		sum += sorted[i];

	out->n = n;
	out->min = sorted[0];
	out->max = sorted[n - 1];
	out->median = nb_quantile_sorted(sorted, n, 0.5);
	out->q1 = nb_quantile_sorted(sorted, n, 0.25);
	out->q3 = nb_quantile_sorted(sorted, n, 0.75);
	out->iqr = out->q3 - out->q1;
	out->mean = sum / (double)n;

	nb_rng_seed(&rng, seed);
	for (size_t r = 0; r < NB_BOOTSTRAP_RESAMPLES; r++)
		meds[r] = nb_resample_median(sorted, n, counts, &rng);
	nb_percentile_ci(meds, NB_BOOTSTRAP_RESAMPLES, NB_CI_LEVEL, &out->ci_lo,
			 &out->ci_hi);

	out->unstable = nb_summary_unstable(out);
free_all:
	free(meds);
	free(counts);
	free(sorted);
	return st;
}

bool nb_summary_unstable(const struct nb_summary *s)
{
	double m = fabs(s->median);

	return s->n < NB_UNSTABLE_MIN_N || s->iqr > NB_UNSTABLE_IQR_FRAC * m ||
	       (s->ci_hi - s->ci_lo) / 2.0 > NB_UNSTABLE_CI_FRAC * m;
}

double nb_norm_cdf(double z)
{
	return 0.5 * erfc(-z / sqrt(2.0));
}

/* Ranks with ties averaged, of the pooled sample a then b; returns the rank
 * sum of b and sum over tie groups of (t^3 - t) for the variance. */
struct nb_pooled { double v; int from_b; };

static int nb_cmp_pooled(const void *pa, const void *pb)
{
	const struct nb_pooled *a = pa, *b = pb;

	return (a->v > b->v) - (a->v < b->v);
}

/*
 * Exact null distribution of U: P(U <= u) and P(U >= u) for U the
 * Mann-Whitney statistic of a sample of size m against one of size n
 * (U = rank sum of the m-sample minus m(m+1)/2). Counts subsets of size m
 * of the ranks {1..m+n} by their sum with the usual 0/1-knapsack recursion
 * (all additions of nonnegative numbers: no cancellation), in double (the
 * counts reach C(98, 49) ~ 2.5e28; each is a sum of exact-ish terms, so
 * the relative error stays ~1e-15). u is an integer here (no ties).
 */
static enum nb_status nb_exact_u_counts(size_t m, size_t n, double **counts)
{
	size_t umax = m * n;
	size_t N = m + n;
	/* f[j][s]: subsets of size j of the ranks seen so far with U-sum s,
	 * where a subset's U-sum is its rank sum minus j(j+1)/2 */
	double *f = calloc((m + 1) * (umax + 1), sizeof(*f));

	*counts = NULL;
	if (!f)
		return nb_fail(NB_ERR_NOMEM, "no memory for the exact U distribution");
	f[0] = 1.0;
	/* adding rank k as the j-th chosen element adds k - j to the U-sum */
	for (size_t k = 1; k <= N; k++) {
		size_t jmax = k < m ? k : m;
		for (size_t j = jmax; j >= 1; j--) {
			size_t add = k - j;
			double *dst = f + j * (umax + 1);
			const double *src = f + (j - 1) * (umax + 1);
			if (add > umax)
				continue;
			for (size_t s = umax + 1; s-- > add;)
				dst[s] += src[s - add];
		}
	}
	/* the counts of size-m subsets: move them to the front */
	memmove(f, f + m * (umax + 1), (umax + 1) * sizeof(*f));
	*counts = f;
	return NB_OK;
}

static enum nb_status nb_exact_u_tails(size_t m, size_t n, double u, double *p_le,
				       double *p_ge)
{
	double *c, total = 0.0, le = 0.0, ge = 0.0;
	enum nb_status st = nb_exact_u_counts(m, n, &c);

	if (st != NB_OK)
		return st;
	for (size_t s = 0; s <= m * n; s++) {
		total += c[s];
		if ((double)s <= u)
			le += c[s];
		if ((double)s >= u)
			ge += c[s];
	}
	free(c);
	*p_le = le / total;
	*p_ge = ge / total;
	return NB_OK;
}

enum nb_status nb_rank_interval_order(size_t na, size_t nb, double alpha, size_t *k)
{
	*k = 0;
	if (na == 0 || nb == 0 || !(alpha > 0.0 && alpha < 0.5))
		return nb_fail(NB_ERR_INVALID, "rank interval: empty side or alpha outside (0, 0.5)");
	if (na < 50 && nb < 50) {
		double *c, total = 0.0, cum = 0.0;
		enum nb_status st = nb_exact_u_counts(na, nb, &c);

		if (st != NB_OK)
			return st;
		for (size_t s = 0; s <= na * nb; s++)
			total += c[s];
		/* the largest k with P(U <= k - 1) <= alpha */
		for (size_t s = 0; s <= na * nb; s++) {
			cum += c[s];
			if (cum / total > alpha * (1.0 + 1e-12))
				break;
			*k = s + 1;
		}
		free(c);
		return NB_OK;
	}
	{
		/* normal approximation with continuity correction (Hollander &
		 * Wolfe): k = floor(mn/2 - z sqrt(mn(m+n+1)/12) + 1/2) */
		double mn = (double)na * (double)nb, lo = 0.0, hi = 40.0, z, kk;

		for (int i = 0; i < 200; i++) {
			z = 0.5 * (lo + hi);
			if (nb_norm_cdf(-z) > alpha)
				lo = z;
			else
				hi = z;
		}
		z = hi;
		kk = floor(mn / 2.0 - z * sqrt(mn * ((double)(na + nb) + 1.0) / 12.0) + 0.5);
		*k = kk > 0.0 ? (size_t)kk : 0;
		return NB_OK;
	}
}

enum nb_status nb_mann_whitney(const double *a, size_t na, const double *b, size_t nb,
			       enum nb_alternative alt, struct nb_rank_test *out)
{
	struct nb_pooled *pool;
	size_t N = na + nb;
	double rank_sum_b = 0.0, tie_term = 0.0;
	bool ties = false;
	enum nb_status st = NB_OK;

	*out = (struct nb_rank_test){ .u = NAN, .z = NAN, .p = NAN, .exact = false };
	if (!a || !b || na == 0 || nb == 0)
		return nb_fail(NB_ERR_INVALID, "rank test needs two non-empty samples");
	if (nb_any_nan(a, na) || nb_any_nan(b, nb))
		return nb_fail(NB_ERR_INVALID, "rank test: a sample is NaN");
	if (alt != NB_ALT_TWO_SIDED && alt != NB_ALT_GREATER && alt != NB_ALT_LESS)
		return nb_fail(NB_ERR_INVALID, "unknown alternative %d", (int)alt);
	pool = malloc(N * sizeof(*pool));
	if (!pool)
		return nb_fail(NB_ERR_NOMEM, "no memory for the rank test");
	for (size_t i = 0; i < na; i++)
		pool[i] = (struct nb_pooled){ a[i], 0 };
	for (size_t j = 0; j < nb; j++)
		pool[na + j] = (struct nb_pooled){ b[j], 1 };
	qsort(pool, N, sizeof(*pool), nb_cmp_pooled);
	for (size_t i = 0; i < N;) {
		size_t e = i + 1;
		double t, mid;
		while (e < N && pool[e].v == pool[i].v)
			e++;
		t = (double)(e - i);
		mid = ((double)(i + 1) + (double)e) / 2.0;   /* average of ranks i+1..e */
		for (size_t k = i; k < e; k++)
			if (pool[k].from_b)
				rank_sum_b += mid;
		if (e - i > 1) {
			ties = true;
			tie_term += t * t * t - t;
		}
		i = e;
	}
	free(pool);
	out->u = rank_sum_b - (double)nb * ((double)nb + 1.0) / 2.0;

	if (!ties && na < 50 && nb < 50) {
		double p_le = NAN, p_ge = NAN;
		/* U of b against a: b plays the role of the m-sample */
		st = nb_exact_u_tails(nb, na, out->u, &p_le, &p_ge);
		if (st != NB_OK)
			return st;
		out->exact = true;
		switch (alt) {
		case NB_ALT_GREATER:
			out->p = p_ge;
			break;
		case NB_ALT_LESS:
			out->p = p_le;
			break;
		case NB_ALT_TWO_SIDED:
			/* R: p = 2 P(U >= u) above the centre, 2 P(U <= u) below */
			out->p = out->u > (double)na * (double)nb / 2.0 ? p_ge : p_le;
			out->p = fmin(1.0, 2.0 * out->p);
			break;
		}
		return NB_OK;
	}
	{
		double mn = (double)na * (double)nb;
		double zc = out->u - mn / 2.0;
		double Nd = (double)N;
		double sigma = sqrt(mn / 12.0 * ((Nd + 1.0) - tie_term / (Nd * (Nd - 1.0))));
		double corr = 0.0;

		if (!(sigma > 0.0)) {
			/* every value tied: no evidence either way */
			out->z = 0.0;
			out->p = 1.0;
			return NB_OK;
		}
		switch (alt) {
		case NB_ALT_TWO_SIDED:
			corr = zc > 0.0 ? 0.5 : (zc < 0.0 ? -0.5 : 0.0);
			break;
		case NB_ALT_GREATER:
			corr = 0.5;
			break;
		case NB_ALT_LESS:
			corr = -0.5;
			break;
		}
		out->z = (zc - corr) / sigma;
		switch (alt) {
		case NB_ALT_GREATER:
			out->p = nb_norm_cdf(-out->z);
			break;
		case NB_ALT_LESS:
			out->p = nb_norm_cdf(out->z);
			break;
		case NB_ALT_TWO_SIDED:
			out->p = fmin(1.0, 2.0 * fmin(nb_norm_cdf(out->z), nb_norm_cdf(-out->z)));
			break;
		}
	}
	return NB_OK;
}

double nb_mann_whitney_p(const double *a, size_t na, const double *b, size_t nb,
			 enum nb_alternative alt)
{
	struct nb_rank_test t;

	if (nb_mann_whitney(a, na, b, nb, alt, &t) != NB_OK)
		return NAN;
	return t.p;
}

enum nb_status nb_bootstrap_ratio_ci(const double *a, size_t na, const double *b,
				     size_t nb, uint64_t seed, size_t resamples,
				     double level, double *ratio, double *lo, double *hi)
{
	enum nb_status st = NB_OK;
	double *sa = NULL, *sb = NULL, *ratios = NULL;
	unsigned *counts = NULL;
	struct nb_rng rng;
	double ma, mb;
	size_t used = 0;

	*ratio = *lo = *hi = NAN;
	if (!a || !b || na == 0 || nb == 0)
		return nb_fail(NB_ERR_INVALID, "ratio CI needs two non-empty samples");
	if (nb_any_nan(a, na) || nb_any_nan(b, nb))
		return nb_fail(NB_ERR_INVALID, "ratio CI: a sample is NaN");
	if (!(level > 0.0 && level < 1.0))
		return nb_fail(NB_ERR_INVALID, "confidence level %g is not in (0, 1)", level);
	if (resamples < 100)
		return nb_fail(NB_ERR_INVALID, "%zu bootstrap resamples are too few (>= 100)",
			       resamples);
	sa = malloc(na * sizeof(*sa));
	sb = malloc(nb * sizeof(*sb));
	counts = malloc((na > nb ? na : nb) * sizeof(*counts));
	ratios = malloc(resamples * sizeof(*ratios));
	if (!sa || !sb || !counts || !ratios) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for the bootstrap");
		goto free_all;
	}
	memcpy(sa, a, na * sizeof(*sa));
	memcpy(sb, b, nb * sizeof(*sb));
	nb_sort_doubles(sa, na);
	nb_sort_doubles(sb, nb);
	ma = nb_quantile_sorted(sa, na, 0.5);
	mb = nb_quantile_sorted(sb, nb, 0.5);
	if (!(ma > 0.0)) {
		st = nb_fail(NB_ERR_INVALID, "ratio CI: the median of the base is %g, not > 0",
			     ma);
		goto free_all;
	}
	*ratio = mb / ma;
	nb_rng_seed(&rng, seed);
	for (size_t r = 0; r < resamples; r++) {
		double ra = nb_resample_median(sa, na, counts, &rng);
		double rb = nb_resample_median(sb, nb, counts, &rng);
		/* a resampled base median of 0 (data with zeros) has no ratio:
		 * leave that resample out rather than poison the interval */
		if (ra > 0.0)
			ratios[used++] = rb / ra;
	}
	if (used == 0) {
		st = nb_fail(NB_ERR_INVALID, "ratio CI: every resampled base median is 0");
		*ratio = NAN;
		goto free_all;
	}
	nb_percentile_ci(ratios, used, level, lo, hi);
free_all:
	free(ratios);
	free(counts);
	free(sb);
	free(sa);
	return st;
}

double nb_geomean(const double *x, size_t n)
{
	double s = 0.0;

	if (!x || n == 0)
		return NAN;
	for (size_t i = 0; i < n; i++) {
		if (!(x[i] > 0.0))
			return NAN;
		s += log(x[i]);
	}
	return exp(s / (double)n);
}

/* ---- the process as the unit (docs/gate.md) ---- */

/* Continued fraction of the regularized incomplete beta (modified Lentz,
 * as in Numerical Recipes' betacf), valid for x < (a + 1) / (a + b + 2). */
static double nb_betacf(double a, double b, double x)
{
	const double tiny = 1e-300;
	double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0), h;

	if (fabs(d) < tiny)
		d = tiny;
	d = 1.0 / d;
	h = d;
	for (int m = 1; m <= 300; m++) {
		double m2 = 2.0 * m;
		double aa = m * (b - m) * x / ((a - 1.0 + m2) * (a + m2));
		double del;

		d = 1.0 + aa * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1.0 + aa / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1.0 / d;
		h *= d * c;
		aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + 1.0 + m2));
		d = 1.0 + aa * d;
		d = fabs(d) < tiny ? tiny : d;
		c = 1.0 + aa / c;
		c = fabs(c) < tiny ? tiny : c;
		d = 1.0 / d;
		del = d * c;
		h *= del;
		if (fabs(del - 1.0) < 1e-15)
			break;
	}
	return h;
}

/* I_x(a, b), the regularized incomplete beta function. */
static double nb_beta_reg(double a, double b, double x)
{
	double front;

	if (x <= 0.0)
		return 0.0;
	if (x >= 1.0)
		return 1.0;
	front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
	if (x < (a + 1.0) / (a + b + 2.0))
		return front * nb_betacf(a, b, x) / a;
	return 1.0 - front * nb_betacf(b, a, 1.0 - x) / b;
}

double nb_student_t_cdf(double t, double df)
{
	double tail;

	if (isnan(t) || !(df > 0))
		return NAN;
	if (isinf(t))
		return t > 0 ? 1.0 : 0.0;
	/* P(T > |t|) = I_{df/(df+t^2)}(df/2, 1/2) / 2 */
	tail = 0.5 * nb_beta_reg(df / 2.0, 0.5, df / (df + t * t));
	return t > 0 ? 1.0 - tail : tail;
}

double nb_student_t_quantile(double p, double df)
{
	double lo = 0.0, hi = 1.0;

	if (!(p > 0.0 && p < 1.0) || !(df > 0))
		return NAN;
	if (p < 0.5)
		return -nb_student_t_quantile(1.0 - p, df);
	while (nb_student_t_cdf(hi, df) < p && hi < 1e12)
		hi *= 2.0;
	for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++) {
		double mid = 0.5 * (lo + hi);
		if (nb_student_t_cdf(mid, df) < p)
			lo = mid;
		else
			hi = mid;
	}
	return 0.5 * (lo + hi);
}

static void nb_log_mean_var(const double *x, size_t n, double *mean, double *var)
{
	double s = 0.0, ss = 0.0;

	for (size_t i = 0; i < n; i++)
		s += log(x[i]);
	*mean = s / (double)n;
	for (size_t i = 0; i < n; i++) {
		double dv = log(x[i]) - *mean;
		ss += dv * dv;
	}
	*var = n > 1 ? ss / (double)(n - 1) : (double)NAN;
}

enum nb_status nb_process_ratio(const double *a, size_t na, const double *b, size_t nb,
				double alpha, struct nb_process_test *out)
{
	double ma, va, mb, vb, *d;
	size_t n, k;
	enum nb_status st;
	struct nb_rank_test rt;

	*out = (struct nb_process_test){ .na = na, .nb = nb, .ratio = NAN, .lo = NAN,
		.hi = NAN, .p_slower = NAN, .p_faster = NAN, .sd_log = NAN };
	if (!a || !b || na == 0 || nb == 0 || !(alpha > 0.0 && alpha < 0.5))
		return nb_fail(NB_ERR_INVALID, "process test: empty side or alpha outside (0, 0.5)");
	for (size_t i = 0; i < na; i++)
		if (!(a[i] > 0.0) || !isfinite(a[i]))
			return nb_fail(NB_ERR_INVALID, "process test: a BASE level is not > 0");
	for (size_t i = 0; i < nb; i++)
		if (!(b[i] > 0.0) || !isfinite(b[i]))
			return nb_fail(NB_ERR_INVALID, "process test: a NEW level is not > 0");
	n = na * nb;
	d = malloc(n * sizeof(*d));
	if (!d)
		return nb_fail(NB_ERR_NOMEM, "process test: out of memory");
	/* every pairwise log ratio new/base (the Hodges-Lehmann differences) */
	for (size_t i = 0; i < na; i++)
		for (size_t j = 0; j < nb; j++)
			d[i * nb + j] = log(b[j]) - log(a[i]);
	nb_sort_doubles(d, n);
	out->ratio = exp(nb_quantile_sorted(d, n, 0.5));
	nb_log_mean_var(a, na, &ma, &va);
	nb_log_mean_var(b, nb, &mb, &vb);
	if (na >= 2 && nb >= 2)
		out->sd_log = sqrt(((double)(na - 1) * va + (double)(nb - 1) * vb) /
				   (double)(na + nb - 2));
	st = nb_rank_interval_order(na, nb, alpha, &k);
	if (st == NB_OK && k >= 1) {
		out->order = k;
		out->lo = exp(d[k - 1]);
		out->hi = exp(d[n - k]);
	}
	free(d);
	if (st != NB_OK)
		return st;
	/* one-sided rank tests of "no difference" on the same levels */
	if ((st = nb_mann_whitney(a, na, b, nb, NB_ALT_GREATER, &rt)) != NB_OK)
		return st;
	out->p_slower = rt.p;
	if ((st = nb_mann_whitney(a, na, b, nb, NB_ALT_LESS, &rt)) != NB_OK)
		return st;
	out->p_faster = rt.p;
	return NB_OK;
}

enum nb_status nb_bootstrap_median_ci_runs(const double *const *runs, const size_t *n,
					   size_t nruns, uint64_t seed, size_t resamples,
					   double level, double *lo, double *hi)
{
	size_t largest = 0;
	double *buf, *meds;
	struct nb_rng rng;
	enum nb_status st = NB_OK;

	*lo = *hi = NAN;
	for (size_t r = 0; r < nruns; r++)
		largest = n[r] > largest ? n[r] : largest;
	if (nruns == 0 || largest == 0 || resamples < 100 || !(level > 0 && level < 1))
		return nb_fail(NB_ERR_INVALID, "median CI: no samples, or bad settings");
	buf = malloc(nruns * largest * sizeof(*buf));
	meds = malloc(resamples * sizeof(*meds));
	if (!buf || !meds) {
		st = nb_fail(NB_ERR_NOMEM, "median CI: out of memory");
		goto free_all;
	}
	nb_rng_seed(&rng, seed);
	for (size_t k = 0; k < resamples; k++) {
		size_t m = 0;
		/* the processes with replacement, then each one's samples */
		for (size_t r = 0; r < nruns; r++) {
			size_t pick = (size_t)nb_rng_below(&rng, nruns);
			for (size_t i = 0; i < n[pick]; i++)
				buf[m++] = runs[pick][nb_rng_below(&rng, n[pick])];
		}
		nb_sort_doubles(buf, m);
		meds[k] = m ? nb_quantile_sorted(buf, m, 0.5) : (double)NAN;
	}
	nb_sort_doubles(meds, resamples);
	*lo = nb_quantile_sorted(meds, resamples, (1.0 - level) / 2.0);
	*hi = nb_quantile_sorted(meds, resamples, (1.0 + level) / 2.0);
free_all:
	free(meds);
	free(buf);
	return st;
}
