/* Kernel accuracy against the long-double reference: the derived per-element
 * error bounds (one derivation per variant and direction, written next to its
 * code) and the element-by-element judge with ULPs and the worst element. */
#include "verify/nb_accuracy.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/nb_ref.h"

/*
 * Notation used in every derivation below.
 *
 *   u       unit roundoff of the arithmetic that performs an operation:
 *           fl(a op b) = (a op b)(1 + delta) + eta, |delta| <= u, and
 *           |eta| <= half the smallest subnormal (products and quotients
 *           only: a sum that lands in the subnormal range is exact).
 *   gamma_n = n u / (1 - n u): (1+delta_1)...(1+delta_n) lies in
 *           [1 - gamma_n, 1 + gamma_n] (Higham, Accuracy and Stability,
 *           Lemma 3.1).
 *   Summing T terms recursively, in ANY order and any blocking (SIMD lanes,
 *   unrolled accumulators, row chunks), has error <= gamma_{T-1} sum|terms|
 *   (Higham (4.4)); pairwise summation (a kernel of algorithm
 *   NB_ALGO_PAIRWISE) has gamma_{ceil(log2 T)}.
 *
 * Every quantity is carried as a pair (m, e): m = |exact value| and e = a
 * bound on |computed - exact| (struct nb_ev). The rules:
 *   product  (m_a m_b, m_a e_b + m_b e_a + e_a e_b + u(m + that) + eta)
 *   sum      (|exact sum|, e_a + e_b + u(|exact sum| + e_a + e_b))
 *   quotient a/b: |a'/b' - a/b| <= (e_a m_b + m_a e_b) / (m_b (m_b - e_b)),
 *            then one rounding
 *   sqrt     max(sqrt(m+e) - sqrt(m), sqrt(m) - sqrt(max(0, m-e))), then one
 *            rounding
 * These are rigorous, not first-order; the exact magnitudes come from the
 * problem's own data evaluated here in long double.
 *
 * What is u for which operation (struct nb_round_model):
 *   acc   the row sums and the per-row statistics (mean, variance, r): the
 *         registry's accumulation type;
 *   el    the per-element work after the statistics (x*r, *g, +b, the
 *         backward tail). A kernel may run it in the accumulation type, then
 *         round once into storage (model A), or in the storage's working type
 *         (f32 for f16/bf16/f32, f64 for f64) after rounding its statistics
 *         into that type (model B). Both differ only for f32 kernels that
 *         accumulate in f64; the bound is the larger of the two.
 *   store the final rounding into a storage type different from the type
 *         the last operation ran in: one more u_s.
 *
 * The reference is modelled the same way with u = 2^-64 (long double) for
 * everything and no storage rounding, assuming only recursive summation (its
 * compensated sums do better). Long double has only 11 more bits than f64:
 * for f64 kernels this term is 1/2048 of the kernel's own and is included
 * rather than neglected, so an f64 result may sit up to ~0.0005 ulp away
 * from the true value on account of the oracle alone.
 */

#define NB_U_LD NB_REF_UNIT_ROUNDOFF

struct nb_ev {
	long double m;  /* |exact value| */
	long double e;  /* bound on |computed - exact| */
};

struct nb_arith {
	long double u;    /* unit roundoff (0: exact, no rounding) */
	long double eta;  /* half the smallest subnormal */
};

/* How a kernel rounds, stage by stage, and how it sums: what its bounds are
 * derived from (not the transformer of verify/nb_model.h). */
struct nb_round_model {
	struct nb_arith acc;
	struct nb_arith el;
	struct nb_arith grad;
	struct nb_arith store;
	bool round_stats;  /* mean, r, s, ... rounded from acc into el first */
	bool welford;
	bool pairwise;
	bool mean_pair;    /* LayerNorm's mean scheme (kernels/nb_kernels.h):
			    * shifted first pass, mu = mu_hi + mu_lo */
};

static const char *const nb_output_names[NB_OUT_COUNT] = {
	[NB_OUT_Y] = "y",
	[NB_OUT_DX] = "dx",
	[NB_OUT_DGAIN] = "dgain",
	[NB_OUT_DBIAS] = "dbias",
	[NB_OUT_Z] = "z",
};

const char *nb_output_name(enum nb_output out)
{
	return (unsigned)out < NB_OUT_COUNT ? nb_output_names[out] : "?";
}

/* ---- the error calculus ---- */

static long double nb_gamma(long double n, long double u)
{
	long double nu = n * u;

	return nu < 1.0L ? nu / (1.0L - nu) : HUGE_VALL;
}

/* A product of magnitudes in which 0 * inf is 0: an exact zero times an
 * unbounded error contributes nothing (it would otherwise turn a bound
 * into NaN). */
static long double nb_pm(long double a, long double b)
{
	return (a == 0.0L || b == 0.0L) ? 0.0L : a * b;
}

/* The same for signed exact values (a zero factor wins over an infinite
 * one: the eps-outside factor rho is infinite on a zero-variance row, where
 * the term it multiplies is exactly zero). */
static long double nb_sp(long double a, long double b)
{
	return (a == 0.0L || b == 0.0L) ? 0.0L : a * b;
}

static struct nb_ev nb_ev_exact(long double v)
{
	return (struct nb_ev){ fabsl(v), 0.0L };
}

/* one more rounding of an already computed value */
static struct nb_ev nb_ev_round(struct nb_ev a, struct nb_arith ar)
{
	/* an exact zero (a zero row's sum, a constant row's deviations) is
	 * computed exactly: no rounding, no underflow */
	if (ar.u == 0.0L || (a.m == 0.0L && a.e == 0.0L))
		return a;
	return (struct nb_ev){ a.m, a.e + ar.u * (a.m + a.e) + ar.eta };
}

static struct nb_ev nb_ev_mul(struct nb_ev a, struct nb_ev b, struct nb_arith ar)
{
	struct nb_ev r = { nb_pm(a.m, b.m),
			   nb_pm(a.m, b.e) + nb_pm(b.m, a.e) + nb_pm(a.e, b.e) };

	return nb_ev_round(r, ar);
}

/* a + b or a - b whose exact result has magnitude m */
static struct nb_ev nb_ev_add(struct nb_ev a, struct nb_ev b, long double m,
			      struct nb_arith ar)
{
	long double e = a.e + b.e;

	return (struct nb_ev){ m, e + ar.u * (m + e) };
}

static struct nb_ev nb_ev_div(struct nb_ev a, struct nb_ev b, struct nb_arith ar)
{
	struct nb_ev r;

	if (!(b.e < b.m))
		return (struct nb_ev){ b.m > 0.0L ? a.m / b.m : HUGE_VALL, HUGE_VALL };
	r.m = a.m / b.m;
	r.e = (a.e * b.m + a.m * b.e) / (b.m * (b.m - b.e));
	return nb_ev_round(r, ar);
}

static struct nb_ev nb_ev_sqrt(struct nb_ev a, struct nb_arith ar)
{
	long double m = sqrtl(a.m);
	long double up = sqrtl(a.m + a.e) - m;
	long double down = m - sqrtl(fmaxl(0.0L, a.m - a.e));
	struct nb_ev r = { m, up > down ? up : down };

	/* sqrt never underflows: no eta */
	return (struct nb_ev){ r.m, r.e + ar.u * (r.m + r.e) };
}

/* a * (1/N) for an integer N: two roundings (1/N, then the product; a
 * division a/N has one and is covered). For N a power of two both are
 * exact (no underflow: N <= 2^34 and a is a sum of squares or of |x|). */
static struct nb_ev nb_ev_div_n(struct nb_ev a, size_t n, struct nb_arith ar)
{
	long double ln = (long double)n;

	if ((n & (n - 1)) == 0)
		return (struct nb_ev){ a.m / ln, a.e / ln };
	return nb_ev_mul(a, (struct nb_ev){ 1.0L / ln, ar.u / ln }, ar);
}

/* The summation depth of T terms: the number of additions any one term
 * passes through. */
static long double nb_depth(const struct nb_round_model *md, size_t t)
{
	if (t <= 1)
		return 0.0L;
	if (md->pairwise)
		return ceill(log2l((long double)t));
	return (long double)(t - 1);
}

/* A sum of computed terms (their magnitudes sum_m, errors sum_e) with exact
 * magnitude m: error <= sum_e + gamma_depth (sum_m + sum_e). */
static struct nb_ev nb_ev_sum(const struct nb_round_model *md, long double m, long double sum_m,
			      long double sum_e, size_t terms)
{
	return (struct nb_ev){ m, sum_e + nb_gamma(nb_depth(md, terms), md->acc.u) *
				      (sum_m + sum_e) };
}

/* ---- rounding models ---- */

static struct nb_arith nb_arith_of(enum nb_dtype t)
{
	const struct nb_dtype_traits *tr = &nb_dtype_traits[t];

	/* the smallest subnormal is min_normal * 2^-(p-1); eta is half of it */
	return (struct nb_arith){ (long double)tr->unit_roundoff,
				  ldexpl((long double)tr->min_normal, -tr->mantissa_bits) };
}

static const struct nb_arith nb_arith_none = { 0.0L, 0.0L };

static enum nb_dtype nb_work_dtype(enum nb_dtype t)
{
	return t == NB_DTYPE_F64 ? NB_DTYPE_F64 : NB_DTYPE_F32;
}

static void nb_algo_flags(const struct nb_kernel *k, struct nb_round_model *md)
{
	md->welford = nb_kernel_algo(k) == NB_ALGO_WELFORD;
	md->pairwise = nb_kernel_algo(k) == NB_ALGO_PAIRWISE;
}

/* Model A: everything in the accumulation type, one rounding into storage. */
static struct nb_round_model nb_round_model_acc(const struct nb_kernel *k)
{
	struct nb_round_model md;

	md.acc = nb_arith_of(k->acc);
	md.el = md.acc;
	md.grad = nb_arith_of(nb_grad_dtype(k->dtype, k->acc));
	md.store = k->dtype == k->acc ? nb_arith_none : nb_arith_of(k->dtype);
	md.round_stats = false;
	nb_algo_flags(k, &md);
	md.mean_pair = k->variant == NB_VARIANT_LAYERNORM;
	return md;
}

/* Model B: statistics in the accumulation type, rounded into the storage's
 * working type, the per-element work in that type. Only differs from A when
 * the working type is not the accumulation type (f32 data, f64 sums). */
static bool nb_round_model_work(const struct nb_kernel *k, struct nb_round_model *md)
{
	enum nb_dtype work = nb_work_dtype(k->dtype);

	/* LayerNorm's mean pair (mu_hi, mu_lo) cannot be rounded into a
	 * narrower working type without losing u_work |mu|: a LayerNorm kernel
	 * that accumulates in f64 does its element work in f64 (model A) */
	if (work == k->acc || k->variant == NB_VARIANT_LAYERNORM)
		return false;
	md->acc = nb_arith_of(k->acc);
	md->el = nb_arith_of(work);
	md->grad = nb_arith_of(nb_grad_dtype(k->dtype, k->acc));
	md->store = k->dtype == work ? nb_arith_none : nb_arith_of(k->dtype);
	md->round_stats = true;
	nb_algo_flags(k, md);
	md->mean_pair = false;
	return true;
}

static struct nb_round_model nb_round_model_ref(void)
{
	struct nb_round_model md;
	struct nb_arith ld = { NB_U_LD, ldexpl(1.0L, -16446) };

	md.acc = ld;
	md.el = ld;
	md.grad = ld;
	md.store = nb_arith_none;
	md.round_stats = false;
	md.welford = false;
	md.pairwise = false;
	md.mean_pair = false;
	return md;
}

/* ---- per-row statistics ---- */

struct nb_stats {
	long double mu, r, rho, s;        /* exact: mean (LN), r, rho, sum x' (CRMS) */
	struct nb_ev mu_e, r_e, rho_e, s_e; /* as the per-element work sees them */
	/* the mean scheme: |mu_hi - mu| <= e1 (what x - mu_hi carries before
	 * mu_lo is taken off), |mu_hi + mu_lo - mu| <= mu_e.e */
	long double e1;
};

/*
 * r from v (the variance for LayerNorm, the mean square otherwise), given v's
 * computed error:
 *   inside:  w = v + eps (eps converted to acc: u eps), r = 1 / sqrt(w):
 *            add, sqrt, divide: three roundings on top of v's error.
 *   outside: q = sqrt(v), w = q + eps, r = 1 / w: the same three.
 * rho = (sqrt(v) + eps) / sqrt(v) is the factor the eps-outside backward
 * puts on its correction term (1 inside).
 */
static void nb_scale(const struct nb_problem *p, const struct nb_round_model *md, struct nb_ev v,
		     long double v_exact, struct nb_stats *st)
{
	long double eps = (long double)p->conv.eps;
	struct nb_ev eps_e = { eps, md->acc.u * eps };

	if (p->conv.eps_mode == NB_EPS_INSIDE) {
		struct nb_ev w = nb_ev_add(v, eps_e, v_exact + eps, md->acc);

		st->r_e = nb_ev_div(nb_ev_exact(1.0L), nb_ev_sqrt(w, md->acc), md->acc);
		st->r = 1.0L / sqrtl(v_exact + eps);
		st->rho = 1.0L;
		st->rho_e = nb_ev_exact(1.0L);
	} else {
		struct nb_ev q = nb_ev_sqrt(v, md->acc);
		long double qv = sqrtl(v_exact);
		struct nb_ev w = nb_ev_add(q, eps_e, qv + eps, md->acc);

		st->r_e = nb_ev_div(nb_ev_exact(1.0L), w, md->acc);
		st->r = 1.0L / (qv + eps);
		st->rho_e = nb_ev_div(w, q, md->acc);
		st->rho = qv > 0.0L ? (qv + eps) / qv : HUGE_VALL;
	}
	if (md->round_stats) {
		st->r_e = nb_ev_round(st->r_e, md->el);
		st->rho_e = nb_ev_round(st->rho_e, md->el);
	}
}

/*
 * LayerNorm statistics of one row x[0..n).
 *
 * Mean, two-pass: sum x (gamma_{n-1} sum|x|), times 1/n (two roundings):
 *   dmu <= gamma_{n+1} mean|x| in effect (the calculus carries it exactly).
 * Mean, Welford/Chan (updates m += (x - m)/k and merges m = m_a + (m_b -
 *   m_a) n_b/n in any tree): each of the n-1 operations makes a local error
 *   <= u(3|m_b - m_a| f + |m|) <= 7 u M (M = max|x|, f = n_b/n <= 1), which
 *   reaches the final mean with weight n_op/n; summing over operations,
 *   sum n_op <= n(n+1)/2, gives dmu <= 3.5 (n+1) u M (first order; taken as
 *   gamma_{ceil(3.5(n+1))} M).
 * Variance, two-pass: c^_i = fl(x_i - mu^) = (c_i - dmu)(1 + d_i) and
 *   S^ = sum c^_i^2 (1 + t_i), |t_i| <= gamma_n. Since sum c_i = 0,
 *   sum (c_i - dmu)^2 = S + n dmu^2 exactly, so
 *   |S^ - S| <= [(1+u)^3 (1+gamma_{n-1}) - 1](S + n dmu^2) + n dmu^2:
 *   the mean's error enters only squared (Chan, Golub & LeVeque 1983).
 * Variance, Welford/Chan: every M2 increment (d^2 n_a n_b/n, or the update
 *   form d (x - m_new)) is non-negative and they sum to S exactly; an
 *   increment moves by <= 4 dmu |d| w + 4 dmu^2 w through the means' errors
 *   (w = n_a n_b / n >= 1/2 for an update), and by Cauchy-Schwarz
 *   sum |d| w <= sqrt(S W), W = sum w <= (n/2) log2 n (each element is on
 *   the smaller side of a merge at most log2 n times). Roundings: 4 per
 *   increment and 2 additions per level of at most n-1 levels. So
 *   |S^ - S| <= dSm + gamma_{2n+2} (S + dSm), dSm = 4 dmu sqrt(S W) +
 *   4 dmu^2 W: relative n u (M/sigma) sqrt(log n) -- the condition number
 *   of the updating algorithm (CGL 1983), looser than two-pass on rows with
 *   |mu| >> sigma, as it should be.
 * var = S * (1/n): two roundings.
 */
static void nb_stats_layernorm_pair(const struct nb_problem *p, const struct nb_round_model *md,
				    const long double *x, struct nb_stats *st);

static void nb_stats_layernorm(const struct nb_problem *p, const struct nb_round_model *md,
			       const long double *x, struct nb_stats *st)
{
	size_t n = p->n;
	long double ln = (long double)n;
	long double sum = 0.0L, sum_abs = 0.0L, max_abs = 0.0L, s2 = 0.0L;
	long double dmu, ds;
	struct nb_ev var;

	if (md->mean_pair) {
		nb_stats_layernorm_pair(p, md, x, st);
		return;
	}
	st->e1 = 0.0L;
	for (size_t j = 0; j < n; j++) {
		sum += x[j];
		sum_abs += fabsl(x[j]);
		if (fabsl(x[j]) > max_abs)
			max_abs = fabsl(x[j]);
	}
	st->mu = sum / ln;
	for (size_t j = 0; j < n; j++)
		s2 += (x[j] - st->mu) * (x[j] - st->mu);

	if (md->welford) {
		long double w = n > 1 ? 0.5L * ln * log2l(ln) : 0.0L;
		long double dsm;

		dmu = nb_gamma(ceill(3.5L * (ln + 1.0L)), md->acc.u) * max_abs;
		dsm = 4.0L * dmu * sqrtl(s2 * w) + 4.0L * dmu * dmu * w;
		ds = dsm + nb_gamma(2.0L * ln + 2.0L, md->acc.u) * (s2 + dsm) +
		     4.0L * ln * md->acc.eta;
		st->mu_e = (struct nb_ev){ fabsl(st->mu), dmu };
		if (md->round_stats)
			st->mu_e = nb_ev_round(st->mu_e, md->el);
	} else {
		struct nb_ev sx = nb_ev_sum(md, fabsl(sum), sum_abs, 0.0L, n);
		long double g;

		st->mu_e = nb_ev_div_n(sx, n, md->acc);
		if (md->round_stats)
			st->mu_e = nb_ev_round(st->mu_e, md->el);
		dmu = st->mu_e.e;
		g = (1.0L + md->el.u) * (1.0L + md->el.u) * (1.0L + md->el.u) *
		    (1.0L + nb_gamma(nb_depth(md, n), md->acc.u)) - 1.0L;
		ds = g * (s2 + ln * dmu * dmu) + ln * dmu * dmu + ln * md->el.eta;
	}
	var = nb_ev_div_n((struct nb_ev){ s2, ds }, n, md->acc);
	nb_scale(p, md, var, s2 / ln, st);
}

/*
 * LayerNorm statistics under the mean scheme every LayerNorm kernel follows
 * (kernels/nb_kernels.h; docs/verification.md derives this at length).
 * Exact row data (long double): mu, c = x_0, A0 = mean|x - c|, MAD =
 * mean|x - mu|, S = sum (x - mu)^2, M0 = max|x - c|.
 *
 * Two-pass.
 *   pass 1: S0 = sum fl(x_j - c): each difference one rounding, the sum
 *     gamma_{n-1}: |S0^ - S0| <= gamma_n n A0; q = S0/n, mu_hi = fl(c + q):
 *     the calculus carries it, e1 = |mu_hi - mu| bound. e1 <= u|mu| +
 *     gamma_{n+2} A0 and A0 <= MAD + |x_0 - mu| <= (1 + sqrt(n-1)) sigma:
 *     no |mu|/sigma amplification beyond the one rounding u|mu|.
 *   pass 2: t_j = fl(x_j - mu_hi), |t_j - (x_j - mu_hi)| <= u(|c_j| + e1)
 *     (c_j = x_j - mu). S1 = sum t_j estimates n delta, delta = mu - mu_hi:
 *     E1 = |S1^ - n delta| <= gamma_n n (MAD + e1); mu_lo = S1/n (one
 *     rounding on <= e1 + E1/n): e2 = |mu_hi + mu_lo - mu| (mu_e.e).
 *     S2 = sum t_j^2 = S + n delta^2 exactly (sum c_j = 0); computed with
 *     error <= g (S + n e1^2), g = (1+u)^3 (1 + gamma_{n-1}) - 1.
 *     M2 = S2 - S1 mu_lo: S1 mu_lo = S1^2/n (1+th)^2 and S1^2/n = n delta^2
 *     + 2 delta E + E^2/n, so |M2^ - S| <= g (S + n e1^2) + 2 e1 E1 +
 *     E1^2/n + gamma_2 n (e1 + E1/n)^2, plus the subtraction's u on the
 *     result. The clamp at 0 only moves M2^ toward S.
 * Welford/Chan on v = fl(x - c): the updating bound of the plain Welford
 *   derivation above with M = M0 (the shifted data), plus the data's own
 *   rounding: ||v^ - v||_2 <= u ||x - c||_2 moves the mean by <= u A0 and
 *   sqrt(M2) by at most that norm (the centring projection is a
 *   contraction). TwoSum splits c + m_s exactly, so e2 = dmu_s + u A0 and
 *   e1 <= e2 + u (|mu| + e2).
 * Nothing here grows with |mu|/sigma except e1's one rounding u|mu|, which
 * enters M2 only squared and the deviations only through u e1.
 */
static void nb_stats_layernorm_pair(const struct nb_problem *p, const struct nb_round_model *md,
				    const long double *x, struct nb_stats *st)
{
	size_t n = p->n;
	long double ln = (long double)n, u = md->acc.u;
	long double c = x[0], sum = 0.0L, a0 = 0.0L, mad = 0.0L, s2 = 0.0L, m0 = 0.0L,
		    q0 = 0.0L;
	long double e1, e2, dm2;
	struct nb_ev var;

	for (size_t j = 0; j < n; j++)
		sum += x[j];
	st->mu = sum / ln;
	for (size_t j = 0; j < n; j++) {
		long double cj = x[j] - st->mu, vj = x[j] - c;

		a0 += fabsl(vj);
		q0 += vj * vj;
		if (fabsl(vj) > m0)
			m0 = fabsl(vj);
		mad += fabsl(cj);
		s2 += cj * cj;
	}
	a0 /= ln;
	mad /= ln;
	if (md->welford) {
		long double w = n > 1 ? 0.5L * ln * log2l(ln) : 0.0L;
		long double dmu = nb_gamma(ceill(3.5L * (ln + 1.0L)), u) * m0;
		long double dsm = 4.0L * dmu * sqrtl(s2 * w) + 4.0L * dmu * dmu * w;
		long double dv = u * sqrtl(q0);  /* ||v^ - v||_2 */
		long double ds = dsm + nb_gamma(2.0L * ln + 2.0L, u) * (s2 + dsm) +
				 4.0L * ln * md->acc.eta;

		ds += 2.0L * sqrtl(s2 + ds) * dv + dv * dv;
		e2 = dmu + u * a0;
		/* a constant row (m0 = 0): c + 0 is exact */
		e1 = m0 > 0.0L ? e2 + u * (fabsl(st->mu) + e2) : 0.0L;
		dm2 = ds;
	} else {
		struct nb_ev s0 = { ln * a0, nb_gamma((long double)n, u) * ln * a0 };
		struct nb_ev q = nb_ev_div_n(s0, n, md->acc);
		struct nb_ev mu_hi = nb_ev_add(nb_ev_exact(c), q, fabsl(st->mu), md->acc);
		long double big_e1, g;
		struct nb_ev mu_lo;

		/* a constant row (A0 = 0): S0 = 0 and c + 0 are exact */
		e1 = a0 > 0.0L ? mu_hi.e : 0.0L;
		big_e1 = nb_gamma((long double)n, u) * ln * (mad + e1);
		mu_lo = nb_ev_div_n((struct nb_ev){ ln * e1, big_e1 }, n, md->acc);
		e2 = mu_lo.e;
		g = (1.0L + u) * (1.0L + u) * (1.0L + u) *
		    (1.0L + nb_gamma(nb_depth(md, n), u)) - 1.0L;
		dm2 = g * (s2 + ln * e1 * e1) + 2.0L * e1 * big_e1 + big_e1 * big_e1 / ln +
		      nb_gamma(2.0L, u) * ln * (e1 + big_e1 / ln) * (e1 + big_e1 / ln) +
		      ln * md->acc.eta;
		dm2 += u * (s2 + dm2);
	}
	st->e1 = e1;
	st->mu_e = (struct nb_ev){ fabsl(st->mu), e2 };
	var = nb_ev_div_n((struct nb_ev){ s2, dm2 }, n, md->acc);
	nb_scale(p, md, var, s2 / ln, st);
}

/*
 * The deviation x_j - mu as the per-element work computes it: under the
 * mean scheme t = fl(x_j - mu_hi) (u(|c| + e1)), then t - mu_lo (mu_lo's
 * error e2, one rounding), or fma(t, r, -fl(mu_lo r)) whose extra rounding
 * u |mu_lo| r is covered by the u (e1 + e2) term; otherwise x_j - mu^ with
 * one rounding.
 */
static struct nb_ev nb_ln_dev(const struct nb_round_model *md, const struct nb_stats *st,
			      long double xj)
{
	long double cv = fabsl(xj - st->mu), u = md->el.u, et;

	if (!md->mean_pair)
		return nb_ev_add(nb_ev_exact(xj), st->mu_e, cv, md->el);
	et = u * (cv + st->e1);
	return (struct nb_ev){ cv, et + st->mu_e.e + u * (cv + et + st->mu_e.e) +
				       u * (st->e1 + st->mu_e.e) };
}

/*
 * RMSNorm, pRMSNorm, FlashNorm and CRMSNorm statistics of one row.
 *
 * Mean square: T squares (one rounding each) summed (gamma_{T-1}), times
 *   1/N (two roundings); all terms are non-negative, so the relative error
 *   of the sum is gamma_T: no cancellation, no condition number. T = N = n
 *   (RMSNorm, FlashNorm), T = N = k (pRMSNorm).
 * CRMSNorm: ms = (sum x'^2 + s^2)/d, s = sum x' (n = d-1 terms, signed):
 *   |ds| <= gamma_{n-1} sum|x'|, s^2 gets (2|s| + ds) ds plus a rounding,
 *   the add one rounding; the row's condition enters through
 *   |s| sum|x'| / (sum x'^2 + s^2) <= sqrt(n) (Cauchy-Schwarz), so the
 *   bound stays finite for every row.
 */
static void nb_stats_rms(const struct nb_problem *p, const struct nb_round_model *md,
			 const long double *x, struct nb_stats *st)
{
	size_t t = p->variant == NB_VARIANT_PRMSNORM ? p->k : p->n;
	size_t nd = p->variant == NB_VARIANT_PRMSNORM ? p->k
		  : p->variant == NB_VARIANT_CRMSNORM ? p->d : p->n;
	long double q = 0.0L;
	struct nb_ev qe, ms;

	for (size_t j = 0; j < t; j++)
		q += x[j] * x[j];
	qe = nb_ev_sum(md, q, q, md->el.u * q + (long double)t * md->el.eta, t);
	st->mu = 0.0L;
	st->mu_e = nb_ev_exact(0.0L);
	st->s = 0.0L;
	st->s_e = nb_ev_exact(0.0L);
	if (p->variant == NB_VARIANT_CRMSNORM) {
		long double s = 0.0L, sa = 0.0L;

		for (size_t j = 0; j < p->n; j++) {
			s += x[j];
			sa += fabsl(x[j]);
		}
		st->s = s;
		st->s_e = nb_ev_sum(md, fabsl(s), sa, 0.0L, p->n);
		qe = nb_ev_add(qe, nb_ev_mul(st->s_e, st->s_e, md->acc), q + s * s, md->acc);
		q += s * s;
		if (md->round_stats)
			st->s_e = nb_ev_round(st->s_e, md->el);
	}
	ms = nb_ev_div_n(qe, nd, md->acc);
	nb_scale(p, md, ms, q / (long double)nd, st);
}

static void nb_stats(const struct nb_problem *p, const struct nb_round_model *md,
		     const long double *x, struct nb_stats *st)
{
	if (p->variant == NB_VARIANT_LAYERNORM)
		nb_stats_layernorm(p, md, x, st);
	else
		nb_stats_rms(p, md, x, st);
}

static struct nb_ev nb_ev_store(struct nb_ev a, const struct nb_round_model *md)
{
	return nb_ev_round(a, md->store);
}

static void nb_load_row(enum nb_dtype t, const void *buf, size_t row, size_t n, long double *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = nb_ref_load(t, buf, row * n + j);
}

/*
 * Forward, per element: y_i = g_i * (c_i * r) (+ b_i), c_i = x_i - mu^
 * (LayerNorm: the subtraction adds dmu + u|c_i|, the mean-error term that
 * makes |mu|/sigma the row's condition number) or x_i (exact): two products
 * carrying r's error, the bias add (one rounding on |y_i|, the only place
 * the bias's cancellation enters), and the storage rounding.
 */
static void nb_bounds_forward(const struct nb_problem *p, const struct nb_round_model *md,
			      long double *x, long double *bound)
{
	for (size_t row = 0; row < p->rows; row++) {
		struct nb_stats st;

		nb_load_row(p->dtype, p->x, row, p->n, x);
		nb_stats(p, md, x, &st);
		for (size_t i = 0; i < p->n; i++) {
			long double g = nb_ref_load(p->dtype, p->gain, i);
			long double cv = x[i] - st.mu;
			struct nb_ev c = p->variant == NB_VARIANT_LAYERNORM
				? nb_ln_dev(md, &st, x[i]) : nb_ev_exact(x[i]);
			struct nb_ev y = nb_ev_mul(nb_ev_mul(c, st.r_e, md->el),
						   nb_ev_exact(g), md->el);

			if (p->bias) {
				long double b = nb_ref_load(p->dtype, p->bias, i);

				y = nb_ev_add(y, nb_ev_exact(b), fabsl(g * cv * st.r + b), md->el);
			}
			bound[row * p->n + i] = nb_ev_store(y, md).e;
		}
	}
}

/*
 * Backward, per row, in the common form of all four variants:
 *   dx_i = r (dyh_i - a - z_i b rho),  dyh = dy*g,  xh_j = p_j r,
 *   b = (1/N) sum_j dyh_j xh_j (all n columns),  a = mean(dyh) (LayerNorm
 *   only, else 0), rho = 1 (eps inside) or (rms+eps)/rms (eps outside),
 * with p_j = x_j - mu (LayerNorm, N = n), x_j (RMSNorm N = n; pRMSNorm N = k
 * and z_i = 0 for i >= k), x'_j (CRMSNorm, N = d, z_i = (x'_i + s) r).
 * Expanding gives SPEC's formulas and, for eps outside, the exact
 * derivative r dyh_i - r^2 p_i sum(dyh p) / (N rms).
 * Error: dyh, xh, each product dyh xh (one rounding each, on top of r's
 * and the mean's errors), the sum gamma_{n-1} sum|dyh xh| -- the row's
 * condition |dyh_i| + |xh_i| mean|dyh xh| appears as the magnitude of the
 * two terms subtracted in dx_i -- the mean a likewise, then the tail: z b,
 * *rho, two subtractions (one rounding each on the exact magnitudes), *r,
 * storage.
 * dgain_j = sum_rows dy xh, dbias_j = sum_rows dy: recursive sums over the
 * rows in the gradient type (the row chunks of the driver are still one
 * recursive sum): gamma_{rows-1} sum|terms| plus each term's own error.
 */
struct nb_bwd_scratch {
	long double *x, *dyh_v, *xh_v;
	struct nb_ev *dyh, *xh;
	long double *gm, *ge, *gv, *bm, *bv;
};

static void nb_bounds_backward(const struct nb_problem *p, const struct nb_round_model *md,
			       struct nb_bwd_scratch *w, long double *b_dx, long double *b_dg,
			       long double *b_db)
{
	size_t n = p->n;
	size_t nd = p->variant == NB_VARIANT_PRMSNORM ? p->k
		  : p->variant == NB_VARIANT_CRMSNORM ? p->d : n;

	for (size_t j = 0; j < n; j++)
		w->gm[j] = w->ge[j] = w->gv[j] = w->bm[j] = w->bv[j] = 0.0L;
	for (size_t row = 0; row < p->rows; row++) {
		struct nb_stats st;
		long double tm = 0.0L, te = 0.0L, tv = 0.0L, am = 0.0L, ae = 0.0L, av = 0.0L;
		struct nb_ev be, ae_ev = nb_ev_exact(0.0L);
		long double bval, aval = 0.0L;

		nb_load_row(p->dtype, p->x, row, n, w->x);
		nb_stats(p, md, w->x, &st);
		for (size_t j = 0; j < n; j++) {
			long double dy = nb_ref_load(p->dtype, p->dy, row * n + j);
			long double g = nb_ref_load(p->dtype, p->gain, j);
			long double pv = w->x[j] - st.mu;
			struct nb_ev pe = p->variant == NB_VARIANT_LAYERNORM
				? nb_ln_dev(md, &st, w->x[j]) : nb_ev_exact(w->x[j]);
			struct nb_ev t, gt;

			w->dyh[j] = nb_ev_mul(nb_ev_exact(dy), nb_ev_exact(g), md->el);
			w->dyh_v[j] = dy * g;
			w->xh[j] = nb_ev_mul(pe, st.r_e, md->el);
			w->xh_v[j] = pv * st.r;
			t = nb_ev_mul(w->dyh[j], w->xh[j], md->el);
			tm += t.m;
			te += t.e;
			tv += w->dyh_v[j] * w->xh_v[j];
			am += w->dyh[j].m;
			ae += w->dyh[j].e;
			av += w->dyh_v[j];
			gt = nb_ev_mul(nb_ev_exact(dy), w->xh[j], md->grad);
			w->gm[j] += gt.m;
			w->ge[j] += gt.e;
			w->gv[j] += dy * w->xh_v[j];
			w->bm[j] += fabsl(dy);
			w->bv[j] += dy;
		}
		/* the mean scheme's sum dyh t - mu_lo sum dyh: its terms are
		 * |dyh| (|c| + e1), not |dyh| |c|, and mu_lo sum dyh carries
		 * mu_lo's error on sum|dyh|: products (3u), the sum
		 * (gamma_{n-1}), the product and subtraction (2u) on
		 * sum|dyh| (e1 + e2), scaled by r: 3 gamma_{n+3} covers all */
		if (md->mean_pair)
			te += (st.r + st.r_e.e) * am * (st.e1 + st.mu_e.e) * 3.0L *
			      nb_gamma((long double)n + 3.0L, md->acc.u);
		be = nb_ev_div_n(nb_ev_sum(md, fabsl(tv), tm, te, n), nd, md->acc);
		bval = tv / (long double)nd;
		if (p->variant == NB_VARIANT_LAYERNORM) {
			ae_ev = nb_ev_div_n(nb_ev_sum(md, fabsl(av), am, ae, n), n, md->acc);
			aval = av / (long double)n;
		}
		if (md->round_stats) {
			be = nb_ev_round(be, md->el);
			ae_ev = nb_ev_round(ae_ev, md->el);
		}
		for (size_t i = 0; b_dx && i < n; i++) {
			long double inner_v = w->dyh_v[i];
			struct nb_ev inner = w->dyh[i];
			bool corr = !(p->variant == NB_VARIANT_PRMSNORM && i >= p->k);

			if (p->variant == NB_VARIANT_LAYERNORM) {
				inner_v -= aval;
				inner = nb_ev_add(inner, ae_ev, fabsl(inner_v), md->el);
			}
			if (corr) {
				struct nb_ev z = w->xh[i], c;
				long double zv = w->xh_v[i], cv;

				if (p->variant == NB_VARIANT_CRMSNORM) {
					long double xs = w->x[i] + st.s;

					z = nb_ev_mul(nb_ev_add(nb_ev_exact(w->x[i]), st.s_e,
								fabsl(xs), md->el),
						      st.r_e, md->el);
					zv = xs * st.r;
				}
				c = nb_ev_mul(z, be, md->el);
				cv = nb_sp(zv, bval);
				if (p->conv.eps_mode == NB_EPS_OUTSIDE) {
					c = nb_ev_mul(c, st.rho_e, md->el);
					cv = nb_sp(cv, st.rho);
				}
				inner_v -= cv;
				inner = nb_ev_add(inner, c, fabsl(inner_v), md->el);
			}
			b_dx[row * n + i] = nb_ev_store(nb_ev_mul(inner, st.r_e, md->el), md).e;
		}
	}
	for (size_t j = 0; j < n; j++) {
		struct nb_round_model gmd = *md;

		/* the row sums run in the gradient type */
		gmd.acc = md->grad;
		if (b_dg)
			b_dg[j] = nb_ev_sum(&gmd, fabsl(w->gv[j]), w->gm[j], w->ge[j], p->rows).e;
		if (b_db)
			b_db[j] = nb_ev_sum(&gmd, fabsl(w->bv[j]), w->bm[j], 0.0L, p->rows).e;
	}
}

/*
 * FlashNorm: z_j = r sum_i x_i W*_ij (+ c_j), W* = fl(diag(g) W) (one
 * rounding per weight, nb_flashnorm_fold). The GEMM is a dot product of n
 * terms in any order and blocking (with or without FMA): componentwise
 * error gamma_n sum_i |x_i||W*_ij|, and the fold adds u, so
 * |dz_j| <= [(1+u)(1+gamma_n) - 1] r sum_i |x_i g_i W_ij| + r's error on
 * |z_j| + the final scaling, bias add and storage roundings. The unfused
 * baseline (y = RMSNorm(x), z = y W) has the same terms in another order.
 */
static enum nb_status nb_bounds_flashnorm(const struct nb_problem *p, const struct nb_round_model *md,
					  long double *x, long double *bound)
{
	size_t n = p->n, m = p->m;
	long double *pm, *vm;

	if (!p->w)
		return nb_fail(NB_ERR_INVALID, "judging FlashNorm needs the unfolded W");
	pm = malloc(2 * m * sizeof(*pm));
	if (!pm)
		return nb_fail(NB_ERR_NOMEM, "no memory for FlashNorm bounds");
	vm = pm + m;
	for (size_t row = 0; row < p->rows; row++) {
		struct nb_stats st;
		long double fold = (1.0L + md->el.u) * (1.0L + nb_gamma((long double)n, md->acc.u)) -
				   1.0L;

		nb_load_row(p->dtype, p->x, row, n, x);
		nb_stats(p, md, x, &st);
		for (size_t j = 0; j < m; j++)
			pm[j] = vm[j] = 0.0L;
		for (size_t i = 0; i < n; i++) {
			long double xg = x[i] * nb_ref_load(p->dtype, p->gain, i);

			for (size_t j = 0; j < m; j++) {
				long double t = xg * nb_ref_load(p->dtype, p->w, i * m + j);

				pm[j] += fabsl(t);
				vm[j] += t;
			}
		}
		for (size_t j = 0; j < m; j++) {
			struct nb_ev g = { fabsl(vm[j]), fold * pm[j] + (long double)n * md->acc.eta };
			struct nb_ev z = nb_ev_mul(g, st.r_e, md->el);

			if (p->out_bias) {
				long double c = nb_ref_load(p->dtype, p->out_bias, j);

				z = nb_ev_add(z, nb_ev_exact(c), fabsl(vm[j] * st.r + c), md->el);
			}
			bound[row * m + j] = nb_ev_store(z, md).e;
		}
	}
	free(pm);
	return NB_OK;
}

/* bounds[out] non-NULL: fill that output's bound under model md */
static enum nb_status nb_bounds_model(const struct nb_problem *p, const struct nb_round_model *md,
				      long double *const bounds[NB_OUT_COUNT])
{
	size_t n = p->n;
	enum nb_status st = NB_OK;
	struct nb_bwd_scratch w;
	long double *mem;
	struct nb_ev *evs;

	mem = malloc(8 * n * sizeof(*mem));
	evs = malloc(2 * n * sizeof(*evs));
	if (!mem || !evs) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for accuracy bounds (n = %zu)", n);
		goto free_mem;
	}
	w = (struct nb_bwd_scratch){ .x = mem, .dyh_v = mem + n, .xh_v = mem + 2 * n,
				     .gm = mem + 3 * n, .ge = mem + 4 * n, .gv = mem + 5 * n,
				     .bm = mem + 6 * n, .bv = mem + 7 * n,
				     .dyh = evs, .xh = evs + n };
	if (bounds[NB_OUT_Z])
		st = nb_bounds_flashnorm(p, md, w.x, bounds[NB_OUT_Z]);
	if (bounds[NB_OUT_Y])
		nb_bounds_forward(p, md, w.x, bounds[NB_OUT_Y]);
	if (bounds[NB_OUT_DX] || bounds[NB_OUT_DGAIN] || bounds[NB_OUT_DBIAS])
		nb_bounds_backward(p, md, &w, bounds[NB_OUT_DX], bounds[NB_OUT_DGAIN],
				   bounds[NB_OUT_DBIAS]);
free_mem:
	free(evs);
	free(mem);
	return st;
}

static size_t nb_output_count(const struct nb_problem *p, enum nb_output out)
{
	switch (out) {
	case NB_OUT_Y:
	case NB_OUT_DX: return p->rows * p->n;
	case NB_OUT_DGAIN:
	case NB_OUT_DBIAS: return p->n;
	case NB_OUT_Z: return p->rows * p->m;
	case NB_OUT_COUNT: break;
	}
	return 0;
}

static enum nb_direction nb_output_dir(enum nb_output out)
{
	return (out == NB_OUT_Y || out == NB_OUT_Z) ? NB_DIR_FORWARD : NB_DIR_BACKWARD;
}

/* The kernel's bound is the larger of models A and B; the reference's is
 * its one model. */
static enum nb_status nb_bounds_all(const struct nb_problem *p, const struct nb_kernel *k,
				    long double *const bounds[NB_OUT_COUNT])
{
	struct nb_round_model md;
	long double *extra[NB_OUT_COUNT] = { NULL };
	long double *mem = NULL;
	size_t total = 0;
	enum nb_status st;

	if (!k) {
		md = nb_round_model_ref();
		return nb_bounds_model(p, &md, bounds);
	}
	md = nb_round_model_acc(k);
	st = nb_bounds_model(p, &md, bounds);
	if (st != NB_OK || !nb_round_model_work(k, &md))
		return st;
	for (int o = 0; o < NB_OUT_COUNT; o++)
		if (bounds[o])
			total += nb_output_count(p, (enum nb_output)o);
	mem = malloc((total ? total : 1) * sizeof(*mem));
	if (!mem)
		return nb_fail(NB_ERR_NOMEM, "no memory for accuracy bounds");
	total = 0;
	for (int o = 0; o < NB_OUT_COUNT; o++)
		if (bounds[o]) {
			extra[o] = mem + total;
			total += nb_output_count(p, (enum nb_output)o);
		}
	st = nb_bounds_model(p, &md, extra);
	for (int o = 0; st == NB_OK && o < NB_OUT_COUNT; o++)
		for (size_t i = 0; extra[o] && i < nb_output_count(p, (enum nb_output)o); i++)
			if (!(bounds[o][i] >= extra[o][i]))
				bounds[o][i] = extra[o][i];
	free(mem);
	return st;
}

enum nb_status nb_accuracy_bounds(const struct nb_problem *p, const struct nb_kernel *k,
				  enum nb_output out, long double *bound)
{
	struct nb_problem q;
	long double *bounds[NB_OUT_COUNT] = { NULL };
	enum nb_status st;

	if (!p || !bound || (unsigned)out >= NB_OUT_COUNT)
		return nb_fail(NB_ERR_INVALID, "nb_accuracy_bounds: missing argument");
	q = *p;
	st = nb_problem_check(&q, (int)nb_output_dir(out));
	if (st != NB_OK)
		return st;
	if ((out == NB_OUT_Z) != (q.variant == NB_VARIANT_FLASHNORM))
		return nb_fail(NB_ERR_INVALID, "output %s does not belong to %s",
			       nb_output_name(out), nb_variant_name(q.variant));
	if (k && (k->variant != q.variant || k->dtype != q.dtype))
		return nb_fail(NB_ERR_INVALID, "kernel %s does not run %s/%s", k->name,
			       nb_variant_name(q.variant), nb_dtype_traits[q.dtype].name);
	bounds[out] = bound;
	return nb_bounds_all(&q, k, bounds);
}

/* ---- ULPs ---- */

long double nb_ulp_of(enum nb_dtype t, long double ref)
{
	const struct nb_dtype_traits *tr = &nb_dtype_traits[t];
	int emin = ilogb(tr->min_normal);
	int emax = ilogb(tr->max_finite);
	int e = emin;

	if (isfinite(ref) && ref != 0.0L)
		e = ilogbl(fabsl(ref));
	if (e < emin)
		e = emin;
	if (e > emax)
		e = emax;
	return ldexpl(1.0L, e - (tr->mantissa_bits - 1));
}

/* signbit's nonzero value differs between float types: compare truth */
static bool nb_same_sign(long double a, long double b)
{
	return (signbit(a) != 0) == (signbit(b) != 0);
}

/* The smallest magnitude that rounds to infinity in t: max + ulp(max)/2. */
static long double nb_overflow_threshold(enum nb_dtype t)
{
	const struct nb_dtype_traits *tr = &nb_dtype_traits[t];

	return (long double)tr->max_finite + 0.5L * nb_ulp_of(t, (long double)tr->max_finite);
}

double nb_ulp_error(enum nb_dtype t, double value, long double ref)
{
	long double v = value;

	if (isnan(ref))
		return isnan(value) ? 0.0 : HUGE_VAL;
	if (isnan(value))
		return HUGE_VAL;
	if (isinf(ref))
		return (isinf(value) && nb_same_sign(value, ref)) ? 0.0 : HUGE_VAL;
	if (isinf(value)) {
		if (nb_same_sign(value, ref) && fabsl(ref) >= nb_overflow_threshold(t))
			return 0.0;
		v = copysignl(ldexpl(1.0L, ilogb(nb_dtype_traits[t].max_finite) + 1), v);
	}
	return (double)(fabsl(v - ref) / nb_ulp_of(t, ref));
}

/* ---- the judge ---- */

static void nb_part_init(struct nb_accuracy_part *pt, enum nb_output out, enum nb_dtype dt)
{
	memset(pt, 0, sizeof(*pt));
	pt->out = out;
	pt->dtype = dt;
	pt->max_ratio = -1.0;
	pt->pass = true;
}

static void nb_part_element(struct nb_accuracy_part *pt, size_t row, size_t col, double v,
			    long double ref, long double bound)
{
	long double err;
	double ratio;
	bool ok;

	if (isnan(ref)) {
		ok = isnan(v);
		err = ok ? 0.0L : HUGE_VALL;
	} else if (isnan(v)) {
		ok = false;
		err = HUGE_VALL;
	} else if (isinf(ref)) {
		ok = (long double)v == ref;
		err = ok ? 0.0L : HUGE_VALL;
	} else if (isinf(v)) {
		/* the infinity the (bounded) exact result rounds to */
		ok = nb_same_sign(v, ref) &&
		     fabsl(ref) + bound >= nb_overflow_threshold(pt->dtype);
		err = ok ? 0.0L : HUGE_VALL;
	} else {
		err = fabsl((long double)v - ref);
		ok = err <= bound;
	}
	/* a finite reference with no finite bound derived for it: nothing
	 * is guaranteed there, so it is a failure (never a silent pass) */
	if (isfinite(ref) && !(bound >= 0.0L && bound <= LDBL_MAX)) {
		ok = false;
		if (!pt->unbounded++)
			pt->first_unbounded_row = row;
	}
	if (err == 0.0L)
		ratio = 0.0;
	else if (!ok)
		ratio = bound > 0.0L && isfinite(err) ? (double)(err / bound) : HUGE_VAL;
	else
		ratio = isinf(bound) ? 0.0 : (double)(err / bound);
	pt->count++;
	if (!ok) {
		pt->failed++;
		pt->pass = false;
	}
	if ((double)err > pt->max_abs)
		pt->max_abs = (double)err;
	if (isfinite(ref) && ref != 0.0L && (double)(err / fabsl(ref)) > pt->max_rel)
		pt->max_rel = (double)(err / fabsl(ref));
	{
		double ulps = nb_ulp_error(pt->dtype, v, ref);

		if (ulps > pt->max_ulps)
			pt->max_ulps = ulps;
		if (ratio > pt->max_ratio) {
			pt->max_ratio = ratio;
			pt->worst_row = row;
			pt->worst_col = col;
			pt->worst_value = v;
			pt->worst_ref = ref;
			pt->worst_bound = (double)bound;
			pt->worst_ulps = ulps;
		}
	}
}

/*
 * The normwise view of each row (the and docs/verification.md's
 * "normwise ulps"): max_j |err_j| / ulp(max_j |ref_j|) over the row's
 * finite references, against max_j bound_j in the same unit. The worst row
 * is the one with the largest error in that unit. A row whose references
 * are all zero counts in units of the dtype's smallest subnormal spacing.
 */
static void nb_part_rows(struct nb_accuracy_part *pt, enum nb_dtype dt, const void *buf,
			 const long double *ref, size_t count, size_t cols,
			 const long double *kb, const long double *rb, const long double *extra)
{
	pt->max_row_ulps = -1.0;
	for (size_t r0 = 0; r0 < count; r0 += cols) {
		long double big = 0.0L, err = 0.0L, bnd = 0.0L, unit;

		for (size_t i = r0; i < r0 + cols; i++) {
			long double v = nb_dtype_load(dt, buf, i);
			long double b = NB_ACCURACY_SLACK * (kb[i] + rb[i]) +
					(extra ? extra[i] : 0.0L);

			if (!isfinite(ref[i]))
				continue;
			if (fabsl(ref[i]) > big)
				big = fabsl(ref[i]);
			if (!isfinite(v) || fabsl(v - ref[i]) > err)
				err = isfinite(v) ? fabsl(v - ref[i]) : HUGE_VALL;
			if (!(b <= bnd))
				bnd = b;
		}
		unit = nb_ulp_of(dt, big);
		if ((double)(err / unit) > pt->max_row_ulps) {
			pt->max_row_ulps = (double)(err / unit);
			pt->row_bound_ulps = (double)(bnd / unit);
			pt->worst_norm_row = r0 / cols;
		}
	}
	if (pt->max_row_ulps < 0.0)
		pt->max_row_ulps = 0.0;
}

static const void *nb_output_buf(const struct nb_problem *p, enum nb_output out)
{
	switch (out) {
	case NB_OUT_Y: return p->y;
	case NB_OUT_DX: return p->dx;
	case NB_OUT_DGAIN: return p->dgain;
	case NB_OUT_DBIAS: return p->dbias;
	case NB_OUT_Z: return p->z;
	case NB_OUT_COUNT: break;
	}
	return NULL;
}

enum nb_status nb_accuracy_judge(const struct nb_kernel *k, const struct nb_problem *p,
				 const struct nb_accuracy_ref *ref,
				 struct nb_accuracy_report *rep)
{
	struct nb_problem q;
	enum nb_output outs[3];
	size_t nouts = 0, total = 0;
	long double *kb[NB_OUT_COUNT] = { NULL }, *rb[NB_OUT_COUNT] = { NULL };
	long double *mem = NULL;
	enum nb_status st;

	if (!k || !p || !ref || !rep)
		return nb_fail(NB_ERR_INVALID, "nb_accuracy_judge: missing argument");
	q = *p;
	st = nb_problem_check(&q, (int)k->dir);
	if (st != NB_OK)
		return st;
	if (q.variant != k->variant || q.dtype != k->dtype)
		return nb_fail(NB_ERR_INVALID, "kernel %s does not run %s/%s", k->name,
			       nb_variant_name(q.variant), nb_dtype_traits[q.dtype].name);
	if (q.variant == NB_VARIANT_FLASHNORM) {
		outs[nouts++] = NB_OUT_Z;
	} else if (k->dir == NB_DIR_FORWARD) {
		outs[nouts++] = NB_OUT_Y;
	} else {
		outs[nouts++] = NB_OUT_DX;
		outs[nouts++] = NB_OUT_DGAIN;
		if (q.dbias)
			outs[nouts++] = NB_OUT_DBIAS;
	}
	for (size_t o = 0; o < nouts; o++) {
		if (!ref->val[outs[o]])
			return nb_fail(NB_ERR_INVALID, "no reference values for %s",
				       nb_output_name(outs[o]));
		total += nb_output_count(&q, outs[o]);
	}
	mem = malloc(2 * total * sizeof(*mem));
	if (!mem)
		return nb_fail(NB_ERR_NOMEM, "no memory to judge %s", k->name);
	total = 0;
	for (size_t o = 0; o < nouts; o++) {
		size_t c = nb_output_count(&q, outs[o]);

		kb[outs[o]] = mem + total;
		rb[outs[o]] = mem + total + c;
		total += 2 * c;
	}
	st = nb_bounds_all(&q, k, kb);
	if (st == NB_OK)
		st = nb_bounds_all(&q, NULL, rb);
	if (st != NB_OK)
		goto free_mem;

	memset(rep, 0, sizeof(*rep));
	rep->nparts = nouts;
	rep->pass = true;
	rep->max_ratio = -1.0;
	for (size_t o = 0; o < nouts; o++) {
		enum nb_output out = outs[o];
		struct nb_accuracy_part *pt = &rep->part[o];
		enum nb_dtype dt = (out == NB_OUT_DGAIN || out == NB_OUT_DBIAS)
			? nb_grad_dtype(q.dtype, k->acc) : q.dtype;
		size_t cols = out == NB_OUT_Z ? q.m : q.n;
		size_t c = nb_output_count(&q, out);
		const void *buf = nb_output_buf(&q, out);

		nb_part_init(pt, out, dt);
		for (size_t i = 0; i < c; i++) {
			long double bound = NB_ACCURACY_SLACK * (kb[out][i] + rb[out][i]);

			if (ref->err[out])
				bound += ref->err[out][i];
			size_t before = pt->unbounded;

			nb_part_element(pt, i / cols, i % cols, nb_dtype_load(dt, buf, i),
					ref->val[out][i], bound);
			if (pt->unbounded > before && ref->unjudged_rows &&
			    (out == NB_OUT_Y || out == NB_OUT_DX || out == NB_OUT_Z))
				ref->unjudged_rows[i / cols] = true;
		}
		nb_part_rows(pt, dt, buf, ref->val[out], c, cols, kb[out], rb[out], ref->err[out]);
		if (pt->max_ratio < 0.0)
			pt->max_ratio = 0.0;
		if (!pt->pass)
			rep->pass = false;
		if (pt->max_ulps > rep->max_ulps)
			rep->max_ulps = pt->max_ulps;
		if (pt->max_ratio > rep->max_ratio) {
			rep->max_ratio = pt->max_ratio;
			rep->worst_part = o;
		}
	}
free_mem:
	free(mem);
	return st;
}

enum nb_status nb_accuracy_check(const struct nb_kernel *k, const struct nb_problem *p,
				 struct nb_accuracy_report *rep)
{
	struct nb_problem q;
	struct nb_accuracy_ref ref;
	long double *mem = NULL;
	size_t rn;
	enum nb_status st;

	if (!k || !p || !rep)
		return nb_fail(NB_ERR_INVALID, "nb_accuracy_check: missing argument");
	q = *p;
	st = nb_problem_check(&q, (int)k->dir);
	if (st != NB_OK)
		return st;
	memset(&ref, 0, sizeof(ref));
	if (q.variant == NB_VARIANT_FLASHNORM) {
		if (!q.w)
			return nb_fail(NB_ERR_INVALID, "judging FlashNorm needs the unfolded W");
		mem = malloc(q.rows * q.m * sizeof(*mem));
		if (!mem)
			return nb_fail(NB_ERR_NOMEM, "no memory for the reference");
		st = nb_ref_flashnorm(&q, mem);
		ref.val[NB_OUT_Z] = mem;
	} else if (k->dir == NB_DIR_FORWARD) {
		mem = malloc(q.rows * q.n * sizeof(*mem));
		if (!mem)
			return nb_fail(NB_ERR_NOMEM, "no memory for the reference");
		st = nb_ref_forward(&q, mem, NULL, NULL);
		ref.val[NB_OUT_Y] = mem;
	} else {
		rn = q.rows * q.n;
		mem = malloc((rn + 2 * q.n) * sizeof(*mem));
		if (!mem)
			return nb_fail(NB_ERR_NOMEM, "no memory for the reference");
		ref.val[NB_OUT_DX] = mem;
		ref.val[NB_OUT_DGAIN] = mem + rn;
		ref.val[NB_OUT_DBIAS] = q.dbias ? mem + rn + q.n : NULL;
		st = nb_ref_backward(&q, mem, mem + rn, q.dbias ? mem + rn + q.n : NULL);
	}
	if (st == NB_OK)
		st = nb_accuracy_judge(k, &q, &ref, rep);
	free(mem);
	return st;
}

void nb_accuracy_print(FILE *out, const struct nb_kernel *k, const struct nb_problem *p,
		       const struct nb_accuracy_report *rep)
{
	fprintf(out, "%s: %s (%s, %zu rows x d %zu", k->name, rep->pass ? "pass" : "FAIL",
		nb_dtype_traits[k->dtype].name, p->rows, p->d);
	if (p->variant == NB_VARIANT_PRMSNORM)
		fprintf(out, ", k %zu", p->k);
	if (p->variant == NB_VARIANT_FLASHNORM)
		fprintf(out, ", m %zu", p->m);
	fprintf(out, ", eps %g %s%s)\n", p->conv.eps,
		p->conv.eps_mode == NB_EPS_INSIDE ? "inside" : "outside",
		(p->bias || p->out_bias) ? ", bias" : "");
	for (size_t o = 0; o < rep->nparts; o++) {
		const struct nb_accuracy_part *pt = &rep->part[o];
		int digits = pt->dtype == NB_DTYPE_F64 ? 17 : 9;

		fprintf(out, "  %-5s %zu elements, %zu beyond bound%s; max abs %.3g, max rel %.3g, "
			"max %.3g ulp (%s), max err/bound %.3g\n",
			nb_output_name(pt->out), pt->count, pt->failed,
			pt->unbounded ? " (some unbounded)" : "", pt->max_abs, pt->max_rel,
			pt->max_ulps, nb_dtype_traits[pt->dtype].name, pt->max_ratio);
		fprintf(out, "        worst at row %zu, col %zu: kernel %.*g, ref %.*Lg, "
			"|err| %.3g = %.3g ulp, bound %.3g\n",
			pt->worst_row, pt->worst_col, digits, pt->worst_value, digits + 3,
			pt->worst_ref, (double)fabsl((long double)pt->worst_value - pt->worst_ref),
			pt->worst_ulps, pt->worst_bound);
		fprintf(out, "        normwise: worst row %zu, %.3g ulp of its max|ref| "
			"(bound %.3g)\n", pt->worst_norm_row, pt->max_row_ulps,
			pt->row_bound_ulps);
	}
}
