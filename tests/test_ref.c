/* The long-double references judged on their own: backward against finite
 * differences of the forward, exact identities between variants, the 16-bit
 * decoding (all 65536 inputs), non-finite rows and the extremes of range. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_problem.h"
#include "common/nb_rng.h"
#include "ref/nb_ref.h"
#include "ref/nb_ref_sum.h"
#include "tests/nb_test.h"

#define U NB_REF_UNIT_ROUNDOFF

/*
 * Accuracy lemma used by every bound below (u = 2^-64; the Sum2 bound of
 * ref/nb_ref_sum.h gives each compensated sum u|sum| + gamma_{n-1}^2 sum|a|,
 * the second part below d^2 u^2 <= d u * 2^-54, folded into the d/2 terms):
 * for one row, the computed mean square (LayerNorm: variance) is within 12u
 * relative (squares u, sum u, division u; LayerNorm's centred c_j carry
 * 2u|c_j| + u mean|c| each, which moves the variance by <= 10u of itself),
 * so r is within 7u (half of that through the square root, plus the eps
 * add, sqrt and division). Each output y_j = g_j (c_j r) + b_j then has
 *     |y^_j - y_j| <= C_OUT(d) u Phi_j,  Phi_j = |g_j| (|xhat_j| + 1) + |b_j|,
 * C_OUT(d) = 12 + d/2: 7u (r) + 2u (c_j, LayerNorm) + 2u (two products)
 * + u (bias add) relative to |g xhat| or |y|, and the absolute part u|g|
 * mean|c| r <= u|g| of LayerNorm's centring (mean|c| <= sigma <= 1/r).
 */
#define C_OUT(d) (12.0L + (long double)(d) / 2.0L)
/*
 * The loss L = sum dy.*y computed as one compensated sum of rounded products:
 * sum |dy| |y^ - y| <= C_OUT u Lambda, products u Lambda, sum u|L| + ...
 * <= u Lambda, with Lambda = sum |dy_j| Phi_j: |L^ - L| <= C_LOSS u Lambda.
 */
#define C_LOSS(d) (C_OUT(d) + 3.0L)
/*
 * The backward's own error: dx_i = r (dyh_i - mdy) - kappa w_i S.
 * First term: r 7u, dyh u, mdy 3u, subtraction and product 2u (13u).
 * Second: kappa = r^3/D or r^2/(sigma D) carries 3 x 7u + 3u = 24u, S (the
 * products rounded, not compensated, and c's 3u) 5u relative to
 * sum |dyh_j c_j|, the products coef*w_i and the subtraction 3u, w_i 3u:
 * 35u of K_i = kappa |w_i| sum |dyh_j c_j|. So
 *     |dx^_i - dx_i| <= C_DX(d) u (r (|dyh_i| + |mdy|) + K_i),
 * C_DX(d) = 40 + d.
 */
#define C_DX(d) (40.0L + (long double)(d))

/* ------------------------------------------------------------------ data */

/* Stores v in dtype t: as is for f64, through f32 for the others (so the
 * 16-bit converters see an f32 value, as nb_dtype_store requires). */
static void nb_t_store(enum nb_dtype t, void *buf, size_t i, double v)
{
	nb_dtype_store(t, buf, i, t == NB_DTYPE_F64 ? v : (double)(float)v);
}

/* A problem in f64 with every array the tests need. bias is always
 * allocated (zeros without bias) so the bias gradient can be differenced;
 * p.bias points to it only when the case has a bias. */
struct nb_tdata {
	struct nb_problem p;
	size_t n;
	double *x, *gain, *bias, *dy, *scratch;
	long double *y, *rr, *rm;
};

/* Uniform m * 2^exp with m an integer in [-2^bits, 2^bits): few significant
 * bits, so x + h and x - h are exact in f64 for the steps used below. */
static double nb_t_dyadic(struct nb_rng *rng, int bits, int exp)
{
	int64_t m = (int64_t)nb_rng_below(rng, (uint64_t)1 << (bits + 1)) -
		    ((int64_t)1 << bits);

	return ldexp((double)m, exp);
}

/* Row i of x is scaled by 2^row_exp[i % 4]: rows of very different
 * magnitude in one problem. */
static const int nb_t_row_exp[4] = { 0, 7, -9, 3 };

static void nb_t_make(struct nb_tdata *t, enum nb_variant v, size_t rows,
		      size_t d, struct nb_conventions conv, bool with_bias,
		      uint64_t seed)
{
	struct nb_rng rng;
	size_t n = v == NB_VARIANT_CRMSNORM ? d - 1 : d;

	memset(t, 0, sizeof(*t));
	nb_rng_seed(&rng, seed);
	t->n = n;
	t->x = calloc(rows * n, sizeof(double));
	t->dy = calloc(rows * n, sizeof(double));
	t->scratch = calloc(rows * n, sizeof(double));
	t->gain = calloc(n, sizeof(double));
	t->bias = calloc(n, sizeof(double));
	t->y = calloc(rows * n, sizeof(long double));
	t->rr = calloc(rows, sizeof(long double));
	t->rm = calloc(rows, sizeof(long double));
	ck_assert(t->x && t->dy && t->scratch && t->gain && t->bias && t->y &&
		  t->rr && t->rm);
	for (size_t i = 0; i < rows; i++)
		for (size_t j = 0; j < n; j++) {
			t->x[i * n + j] = nb_t_dyadic(&rng, 22, nb_t_row_exp[i % 4] - 20);
			t->dy[i * n + j] = nb_rng_normal(&rng);
		}
	for (size_t j = 0; j < n; j++) {
		/* |g| in [0.5, 1.5) on a 2^-21 grid, either sign */
		double g = ldexp((double)((1u << 20) + nb_rng_below(&rng, 1u << 21)), -21);

		t->gain[j] = nb_rng_below(&rng, 2) ? -g : g;
		t->bias[j] = with_bias ? nb_t_dyadic(&rng, 21, -20) : 0.0;
	}
	t->p = nb_problem_init(v, NB_DTYPE_F64, rows, d);
	t->p.conv = conv;
	t->p.x = t->x;
	t->p.gain = t->gain;
	t->p.bias = with_bias ? t->bias : NULL;
	t->p.dy = t->dy;
	t->p.y = t->scratch;
	t->p.dx = t->scratch;
	t->p.dgain = t->scratch;
	ck_assert_int_eq(nb_problem_check(&t->p, NB_DIR_BACKWARD), NB_OK);
	ck_assert_uint_eq(t->p.n, n);
}

static void nb_t_free(struct nb_tdata *t)
{
	free(t->x);
	free(t->dy);
	free(t->scratch);
	free(t->gain);
	free(t->bias);
	free(t->y);
	free(t->rr);
	free(t->rm);
}

static long double *nb_t_ld(size_t count)
{
	long double *v = calloc(count ? count : 1, sizeof(long double));

	ck_assert_ptr_nonnull(v);
	return v;
}

/* --------------------------------------------- finite differences (1) */

/*
 * Runs the forward of p (with x, gain, bias as they are now) and returns
 * the loss L = sum dy.*y (one compensated sum of the products) over rows
 * [r0, r1) and Lambda = sum |dy_j| Phi_j over the same rows, Phi as in the
 * accuracy lemma (xhat from the reference's own r and mean).
 */
static void nb_t_loss(struct nb_tdata *t, const struct nb_problem *p,
		      size_t r0, size_t r1, long double *loss, long double *lam)
{
	struct nb_ref_sum acc = NB_REF_SUM_ZERO;
	long double l = 0.0L;
	size_t n = t->n;

	ck_assert_int_eq(nb_ref_forward(p, t->y, t->rr, t->rm), NB_OK);
	for (size_t i = r0; i < r1; i++)
		for (size_t j = 0; j < n; j++) {
			long double dyv = t->dy[i * n + j];
			long double xh = ((long double)t->x[i * n + j] - t->rm[i]) * t->rr[i];
			long double b = p->bias ? (long double)((const double *)p->bias)[j] : 0.0L;

			nb_ref_sum_add(&acc, dyv * t->y[i * n + j]);
			l += fabsl(dyv) * (fabsl((long double)t->gain[j]) * (fabsl(xh) + 1.0L) +
					   fabsl(b));
		}
	*loss = nb_ref_sum_value(&acc);
	*lam = l;
}

/* What the bounds need to know of one row, computed here by plain long
 * double sums (only magnitudes: a few u of error does not matter). */
struct nb_trow {
	long double alpha;  /* ms(0) without eps (LayerNorm: variance) */
	long double sigma;  /* sqrt(alpha) */
	long double r;      /* the scale, both conventions */
	long double mean;   /* LayerNorm mean, else 0 */
	long double s;      /* CRMSNorm sum x' */
	long double denom;  /* D: n, k or d */
	long double mdy;    /* LayerNorm mean(dy*g), else 0 */
	long double sdc;    /* sum |dyh_j c_j| */
};

static void nb_t_row(const struct nb_tdata *t, const struct nb_problem *p,
		     size_t i, struct nb_trow *q)
{
	const double *x = t->x + i * t->n;
	const double *dy = t->dy + i * t->n;
	size_t n = t->n, nk = p->variant == NB_VARIANT_PRMSNORM ? p->k : n;
	long double sum = 0.0L, sq = 0.0L, eps = (long double)p->conv.eps;

	memset(q, 0, sizeof(*q));
	for (size_t j = 0; j < n; j++)
		sum += x[j];
	if (p->variant == NB_VARIANT_LAYERNORM)
		q->mean = sum / (long double)n;
	if (p->variant == NB_VARIANT_CRMSNORM)
		q->s = sum;
	for (size_t j = 0; j < nk; j++)
		sq += ((long double)x[j] - q->mean) * ((long double)x[j] - q->mean);
	q->denom = p->variant == NB_VARIANT_CRMSNORM ? (long double)p->d : (long double)nk;
	if (p->variant == NB_VARIANT_CRMSNORM)
		sq += q->s * q->s;
	q->alpha = sq / q->denom;
	q->sigma = sqrtl(q->alpha);
	q->r = p->conv.eps_mode == NB_EPS_OUTSIDE ? 1.0L / (q->sigma + eps)
						  : 1.0L / sqrtl(q->alpha + eps);
	for (size_t j = 0; j < n; j++) {
		long double dyh = (long double)dy[j] * (long double)t->gain[j];

		q->mdy += dyh;
		q->sdc += fabsl(dyh * ((long double)x[j] - q->mean));
	}
	q->mdy = p->variant == NB_VARIANT_LAYERNORM ? q->mdy / (long double)n : 0.0L;
}

/* w_i = (D/2) dms/dx_i (see ref/nb_ref.c's backward) and t's leading
 * coefficient gamma of ms(x + t e_i), a quadratic in t. */
static void nb_t_coord(const struct nb_tdata *t, const struct nb_problem *p,
		       const struct nb_trow *q, size_t i, size_t j,
		       long double *w, long double *gamma)
{
	long double xj = t->x[i * t->n + j];
	long double n = (long double)t->n;

	switch (p->variant) {
	case NB_VARIANT_LAYERNORM:
		*w = xj - q->mean;
		*gamma = (1.0L - 1.0L / n) / n;
		break;
	case NB_VARIANT_CRMSNORM:
		*w = xj + q->s;
		*gamma = 2.0L / q->denom;
		break;
	case NB_VARIANT_PRMSNORM:
		*w = j < p->k ? xj : 0.0L;
		*gamma = j < p->k ? 1.0L / q->denom : 0.0L;
		break;
	default:
		*w = xj;
		*gamma = 1.0L / n;
		break;
	}
}

/* The step for a value of magnitude about |v|: h = 2^-21 * 2^floor(log2|v|),
 * a power of two near cbrt(u) |v| (cbrt(2^-64) = 2^-21.3), which balances
 * truncation ~h^2 and rounding ~u/h. */
static long double nb_t_step(double v)
{
	int e;

	frexp(v != 0.0 ? v : 1.0, &e);
	return ldexpl(1.0L, e - 1 - 21);
}

struct nb_tworst {
	long double ratio;
	char where[160];
};

static void nb_t_record(struct nb_tworst *w, long double err, long double tol,
			const char *what, size_t i, size_t j, long double fd,
			long double an)
{
	long double ratio = isnan(err) ? (long double)INFINITY : err / tol;

	if (ratio > w->ratio || w->where[0] == '\0') {
		w->ratio = ratio;
		snprintf(w->where, sizeof(w->where),
			 "%s[%zu][%zu]: fd %.12Lg analytic %.12Lg err %.3Lg tol %.3Lg",
			 what, i, j, fd, an, err, tol);
	}
}

/* (L(v + h) - L(v - h)) / 2h for the value *v of t's problem (x, gain or
 * bias), rows [r0, r1) of the loss; both steps must be exact. *lam gets
 * Lambda(+) + Lambda(-). */
static long double nb_t_central(struct nb_tdata *t, double *v, long double h,
				size_t r0, size_t r1, long double *lam)
{
	double v0 = *v;
	long double lp, lm, lamp, lamm;

	*v = (double)((long double)v0 + h);
	ck_assert((long double)*v - (long double)v0 == h);
	nb_t_loss(t, &t->p, r0, r1, &lp, &lamp);
	*v = (double)((long double)v0 - h);
	ck_assert((long double)v0 - (long double)*v == h);
	nb_t_loss(t, &t->p, r0, r1, &lm, &lamm);
	*v = v0;
	*lam = lamp + lamm;
	return (lp - lm) / (2.0L * h);
}

/* The truncation bound h^2 M / (R - h)^3 for x[i][j] (see nb_t_fd), after
 * halving *h until h <= R/2; 0 when gamma = 0 (L linear in x_ij). */
static long double nb_t_trunc(const struct nb_tdata *t, const struct nb_trow *q,
			      size_t i, size_t j, long double gamma, long double *h)
{
	const struct nb_problem *p = &t->p;
	size_t n = t->n;
	long double rad, m = 0.0L;
	long double shift = p->variant == NB_VARIANT_LAYERNORM ? 1.0L / (long double)n : 0.0L;

	if (gamma == 0.0L)
		return 0.0L;
	rad = sqrtl(q->alpha / gamma) / 2.0L;
	ck_assert(rad > 0.0L);
	while (*h > rad / 2.0L)
		*h /= 2.0L;
	for (size_t o = 0; o < n; o++) {
		long double c = (long double)t->x[i * n + o] - q->mean;
		long double slope = (o == j ? 1.0L : 0.0L) - shift;
		long double dyh = (long double)t->dy[i * n + o] * (long double)t->gain[o];

		m += fabsl(dyh) * (fabsl(c) + rad * fabsl(slope));
	}
	m *= 3.0L * q->r;
	return *h * *h * m / ((rad - *h) * (rad - *h) * (rad - *h));
}

/*
 * Central differences of the loss against the analytic dx, dgain, dbias
 * (computed by the caller, possibly from a deliberately wrong problem).
 * Returns the worst |fd - analytic| / tol.
 *
 * The bound for dx[i][j] (t is the step along x_ij, L(t) the loss of row i):
 * - Truncation. L(t) - const = sum_o dyh_o c_o(t) r(ms(t)) with c_o affine
 *   in t (slope c'_o = delta_oj - [LayerNorm] 1/n) and ms(t) = alpha +
 *   beta t + gamma t^2 a real quadratic >= 0 on the reals, so its roots are
 *   a conjugate pair of modulus sqrt(alpha/gamma) (those of ms + eps:
 *   sqrt((alpha + eps)/gamma), farther). On the disc |t| <= R =
 *   sqrt(alpha/gamma)/2 every factor (1 - t/t_root) lies in the disc of
 *   centre 1 and radius 1/2, so |ms + eps| >= (alpha + eps)/4 (inside:
 *   |r| <= 2 r0) and ms stays in the sector |arg| <= 60 degrees, so
 *   sqrt(ms) has real part >= 0 and |sqrt(ms)| >= sqrt(alpha)/2, whence
 *   |sqrt(ms) + eps| >= (sqrt(alpha) + eps)/(2 sqrt 2) (outside:
 *   |r| <= 2.83 r0). L is analytic there with
 *       |L - const| <= M = 3 r0 sum_o |dyh_o| (|c_o| + R |c'_o|),
 *   and Cauchy's estimate on the disc of radius R - h around any real
 *   |xi| <= h gives |L'''(xi)| <= 6 M/(R - h)^3; the central difference
 *   is off by at most h^2/6 sup|L'''| <= h^2 M/(R - h)^3. (gamma = 0:
 *   L is linear in t and the truncation is 0; so also for gain and bias.)
 * - Rounding. x_ij +- h are exact (checked), each L is within
 *   C_LOSS u Lambda(+-) (accuracy lemma), the difference and the division
 *   by 2h (a power of two) add u|D|: C_LOSS u (Lambda+ + Lambda-)/(2h)
 *   + 2u|D|.
 * - The analytic side's own error, C_DX u (r (|dyh| + |mdy|) + K),
 *   K = kappa |w| sum |dyh c| = (r/D) rho |r w| r sum|dyh c|, rho = 1
 *   (inside) or (sigma + eps)/sigma (outside).
 * With h ~ 2^-21 |x| the truncation is ~2^-42 and the rounding ~2^-43
 * relative to the row's derivatives: any error in a formula is O(1).
 */
static long double nb_t_fd(struct nb_tdata *t, const long double *dx,
			   const long double *dg, const long double *db,
			   struct nb_tworst *worst)
{
	struct nb_problem *p = &t->p;
	const void *bias_saved = p->bias;
	size_t n = t->n;
	long double eps = (long double)p->conv.eps;

	worst->ratio = 0.0L;
	worst->where[0] = '\0';
	for (size_t i = 0; i < p->rows; i++) {
		struct nb_trow q;
		double xmax = 0.0;
		long double rho;

		nb_t_row(t, p, i, &q);
		rho = p->conv.eps_mode == NB_EPS_OUTSIDE ? (q.sigma + eps) / q.sigma : 1.0L;
		for (size_t j = 0; j < n; j++)
			xmax = fmax(xmax, fabs(t->x[i * n + j]));
		for (size_t j = 0; j < n; j++) {
			long double w, gamma, h = nb_t_step(xmax), trunc, lam, fd, tol, kk;
			long double dyh = (long double)t->dy[i * n + j] * (long double)t->gain[j];

			nb_t_coord(t, p, &q, i, j, &w, &gamma);
			trunc = nb_t_trunc(t, &q, i, j, gamma, &h);
			fd = nb_t_central(t, &t->x[i * n + j], h, i, i + 1, &lam);
			/* w = 0: no correction term (and sigma may be 0) */
			kk = w == 0.0L ? 0.0L : q.r / q.denom * rho * fabsl(q.r * w) * q.r * q.sdc;
			tol = trunc + C_LOSS(p->d) * U * lam / (2.0L * h) + 2.0L * U * fabsl(fd) +
			      C_DX(p->d) * U * (q.r * (fabsl(dyh) + fabsl(q.mdy)) + kk);
			nb_t_record(worst, fabsl(fd - dx[i * n + j]), tol, "dx", i, j, fd,
				    dx[i * n + j]);
		}
	}

	/* gain and bias: the loss is linear in each, so the central difference
	 * has no truncation error; only the rounding terms, plus the analytic
	 * sums' own error: dgain C_OUT u sum |dy| (|xhat| + 1), dbias (exact
	 * addends, one compensated sum) 2u sum |dy|. */
	for (size_t j = 0; j < n; j++) {
		long double fd, tol, lam, sdx = 0.0L, sdy = 0.0L, h;

		for (size_t i = 0; i < p->rows; i++) {
			struct nb_trow q;
			long double xh, dyv = fabsl((long double)t->dy[i * n + j]);

			nb_t_row(t, p, i, &q);
			xh = ((long double)t->x[i * n + j] - q.mean) * q.r;
			sdx += dyv * (fabsl(xh) + 1.0L);
			sdy += dyv;
		}
		h = nb_t_step(t->gain[j]);
		fd = nb_t_central(t, &t->gain[j], h, 0, p->rows, &lam);
		tol = C_LOSS(p->d) * U * lam / (2.0L * h) + 2.0L * U * fabsl(fd) +
		      C_OUT(p->d) * U * sdx;
		nb_t_record(worst, fabsl(fd - dg[j]), tol, "dgain", 0, j, fd, dg[j]);

		/* the bias array exists (zeros) even when the case has none; b is
		 * on a 2^-20 grid with |b| < 2, so b +- 2^-20 is exact */
		p->bias = t->bias;
		h = 0x1p-20L;
		fd = nb_t_central(t, &t->bias[j], h, 0, p->rows, &lam);
		p->bias = bias_saved;
		tol = C_LOSS(p->d) * U * lam / (2.0L * h) + 2.0L * U * fabsl(fd) +
		      2.0L * U * sdy;
		nb_t_record(worst, fabsl(fd - db[j]), tol, "dbias", 0, j, fd, db[j]);
	}
	return worst->ratio;
}

static const struct { size_t d, rows; } nb_t_shapes[] = {
	{ 1, 1 }, { 2, 2 }, { 3, 3 }, { 7, 4 }, { 7, 1 }, { 16, 1 }, { 33, 2 }, { 33, 4 },
};

static const enum nb_variant nb_t_norms[4] = {
	NB_VARIANT_LAYERNORM, NB_VARIANT_RMSNORM, NB_VARIANT_PRMSNORM, NB_VARIANT_CRMSNORM,
};

/* pRMSNorm in these tests: p = 0.3, ceil (k = 1, 1, 1, 3, 5, 10 for d = 1,
 * 2, 3, 7, 16, 33) or floor (k = 1, 1, 1, 2, 4, 9): k < n from d = 2. */
static struct nb_conventions nb_t_conv(enum nb_eps_mode mode, double eps,
				       enum nb_prms_round round)
{
	struct nb_conventions conv = NB_CONVENTIONS_DEFAULT;

	conv.eps_mode = mode;
	conv.eps = eps;
	conv.prms_p = 0.3;
	conv.prms_round = round;
	return conv;
}

/* One finite-difference case; fails with the worst entry's location. */
static void nb_t_fd_case(enum nb_variant v, struct nb_conventions conv,
			 bool with_bias, size_t d, size_t rows, uint64_t seed)
{
	struct nb_tdata t;
	struct nb_tworst worst;
	long double *dx, *dg, *db;

	nb_t_make(&t, v, rows, d, conv, with_bias, seed);
	if (v == NB_VARIANT_PRMSNORM && d >= 2)
		ck_assert_uint_lt(t.p.k, t.p.n);
	dx = nb_t_ld(rows * t.n);
	dg = nb_t_ld(t.n);
	db = nb_t_ld(t.n);
	ck_assert_int_eq(nb_ref_backward(&t.p, dx, dg, db), NB_OK);
	nb_t_fd(&t, dx, dg, db, &worst);
	ck_assert_msg(worst.ratio <= 1.0L,
		      "%s %s eps %g bias %d d %zu rows %zu: worst %.3Lg x tol at %s",
		      nb_variant_name(v),
		      conv.eps_mode == NB_EPS_OUTSIDE ? "outside" : "inside",
		      conv.eps, with_bias, d, rows, worst.ratio, worst.where);
	free(dx);
	free(dg);
	free(db);
	nb_t_free(&t);
}

/* (1) every variant x both eps conventions x eps 1e-5 and 0.25 (where the
 * conventions differ by O(1)) x with/without bias x the shapes. */
START_TEST(test_backward_vs_finite_differences)
{
	enum nb_variant v = nb_t_norms[_i];
	uint64_t seed = 1000 * (uint64_t)_i;
	size_t nshapes = sizeof(nb_t_shapes) / sizeof(nb_t_shapes[0]);

	for (int c = 0; c < 8; c++) {
		bool outside = c & 1, big_eps = c & 2, with_bias = c & 4;
		struct nb_conventions conv = nb_t_conv(
			outside ? NB_EPS_OUTSIDE : NB_EPS_INSIDE, big_eps ? 0.25 : 1e-5,
			big_eps ? NB_PRMS_FLOOR : NB_PRMS_CEIL);

		for (size_t s = 0; s < nshapes; s++) {
			if (v == NB_VARIANT_CRMSNORM && nb_t_shapes[s].d < 2)
				continue;
			nb_t_fd_case(v, conv, with_bias, nb_t_shapes[s].d,
				     nb_t_shapes[s].rows, ++seed);
		}
	}
}
END_TEST

/* Negative controls: the same check must reject a backward of the wrong
 * convention (eps = 0.25: r differs by O(1)) and pRMSNorm's gradient taken
 * as if k = n (RMSNorm), by orders of magnitude. */
START_TEST(test_finite_differences_reject_wrong_gradients)
{
	for (int vi = 0; vi < 4; vi++) {
		struct nb_tdata t;
		struct nb_tworst worst;
		struct nb_problem wrong;
		long double *dx, *dg, *db;

		nb_t_make(&t, nb_t_norms[vi], 3, 7,
			  nb_t_conv(NB_EPS_INSIDE, 0.25, NB_PRMS_CEIL), true, 77 + (uint64_t)vi);
		dx = nb_t_ld(3 * t.n);
		dg = nb_t_ld(t.n);
		db = nb_t_ld(t.n);
		wrong = t.p;
		wrong.conv.eps_mode = NB_EPS_OUTSIDE;
		ck_assert_int_eq(nb_ref_backward(&wrong, dx, dg, db), NB_OK);
		nb_t_fd(&t, dx, dg, db, &worst);
		ck_assert_msg(worst.ratio > 100.0L, "%s: wrong convention passed (%.3Lg)",
			      nb_variant_name(nb_t_norms[vi]), worst.ratio);
		if (nb_t_norms[vi] == NB_VARIANT_PRMSNORM) {
			wrong = t.p;
			wrong.variant = NB_VARIANT_RMSNORM;
			wrong.k = wrong.n;
			ck_assert_int_eq(nb_ref_backward(&wrong, dx, dg, db), NB_OK);
			nb_t_fd(&t, dx, dg, db, &worst);
			ck_assert_msg(worst.ratio > 100.0L, "pRMSNorm with k = n passed (%.3Lg)",
				      worst.ratio);
		}
		free(dx);
		free(dg);
		free(db);
		nb_t_free(&t);
	}
}
END_TEST

/* ------------------------------------------------ compensated summation */

/* The accumulator keeps what a plain long-double sum loses: 1 + 2^-10
 * beside +-2^70 (the exact result, representable), and Neumaier's case
 * where the addend is larger than the running sum ([1, 2^100, 1, -2^100]:
 * Kahan's original loses both ones, plain summation too). */
START_TEST(test_compensated_sum)
{
	static const long double a[] = { 0x1p70L, 1.0L, 0x1p-10L, -0x1p70L };
	static const long double b[] = { 1.0L, 0x1p100L, 1.0L, -0x1p100L };
	struct nb_ref_sum sa = NB_REF_SUM_ZERO, sb = NB_REF_SUM_ZERO;
	struct nb_ref_sum si = NB_REF_SUM_ZERO, sn = NB_REF_SUM_ZERO;
	long double plain = 0.0L;

	for (size_t i = 0; i < 4; i++) {
		nb_ref_sum_add(&sa, a[i]);
		nb_ref_sum_add(&sb, b[i]);
		plain += b[i];
	}
	ck_assert(nb_ref_sum_value(&sa) == 1.0L + 0x1p-10L);
	ck_assert(nb_ref_sum_value(&sb) == 2.0L);
	ck_assert(plain != 2.0L);   /* the case really needs compensation */
	nb_ref_sum_add(&si, 1.0L);
	nb_ref_sum_add(&si, (long double)INFINITY);
	ck_assert(isinf(nb_ref_sum_value(&si)) && nb_ref_sum_value(&si) > 0.0L);
	nb_ref_sum_add(&si, -(long double)INFINITY);
	ck_assert(isnan(nb_ref_sum_value(&si)));
	nb_ref_sum_add(&sn, (long double)NAN);
	nb_ref_sum_add(&sn, 1.0L);
	ck_assert(isnan(nb_ref_sum_value(&sn)));
}
END_TEST

/* The references use it: LayerNorm's mean of [2^60, 1, -2^60] is 1/3
 * (a plain sum gives 0), and dbias over rows with dy = 2^70, 1, -2^70 is
 * exactly 1 (a plain sum gives 0). */
START_TEST(test_reference_sums_are_compensated)
{
	double x[3] = { 0x1p60, 1.0, -0x1p60 }, g[3] = { 1.0, 1.0, 1.0 };
	double xb[3 * 2] = { 1, 2, 3, 4, 5, 6 }, dy[3 * 2] = { 0x1p70, 1, 1, 1, -0x1p70, 1 };
	long double y[6], r[3], mean, dx[6], dg[2], db[2];
	struct nb_problem p = nb_problem_init(NB_VARIANT_LAYERNORM, NB_DTYPE_F64, 1, 3);

	p.x = x;
	p.gain = g;
	p.y = x;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_int_eq(nb_ref_forward(&p, y, r, &mean), NB_OK);
	/* exact sum 1, one rounding in the division: |error| <= u/3 */
	ck_assert(fabsl(mean - 1.0L / 3.0L) <= U / 3.0L);

	p = nb_problem_init(NB_VARIANT_RMSNORM, NB_DTYPE_F64, 3, 2);
	p.x = xb;
	p.gain = g;
	p.dy = dy;
	p.dx = p.dgain = xb;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_BACKWARD), NB_OK);
	ck_assert_int_eq(nb_ref_backward(&p, dx, dg, db), NB_OK);
	ck_assert(db[0] == 1.0L);
	ck_assert(db[1] == 3.0L);
}
END_TEST

/* -------------------------------------------------------- identities (2) */

/* |a - b| <= bound with the first violation reported. */
static void nb_t_close(const char *what, size_t i, size_t j, long double a,
		       long double b, long double bound)
{
	ck_assert_msg(fabsl(a - b) <= bound,
		      "%s [%zu][%zu]: %.21Lg vs %.21Lg, diff %.3Lg > bound %.3Lg",
		      what, i, j, a, b, fabsl(a - b), bound);
}

/* Phi_j of the accuracy lemma, from a forward's own r and mean. */
static long double nb_t_phi(const struct nb_tdata *t, const struct nb_problem *p,
			    size_t i, size_t j, const long double *rr, const long double *rm)
{
	long double xh = ((long double)t->x[i * t->n + j] - rm[i]) * rr[i];
	long double b = p->bias ? (long double)t->bias[j] : 0.0L;

	return fabsl((long double)t->gain[j]) * (fabsl(xh) + 1.0L) + fabsl(b);
}

/* Rows of pairs +-a (full 53-bit a, shuffled; a 0 for odd n): mean 0. */
static void nb_t_zero_mean_rows(struct nb_rng *rng, double *x, size_t rows,
				size_t d)
{
	for (size_t i = 0; i < rows; i++, x += d) {
		for (size_t j = 0; j + 1 < d; j += 2) {
			x[j] = ldexp(nb_rng_normal(rng), nb_t_row_exp[i % 4]);
			x[j + 1] = -x[j];
		}
		if (d % 2)
			x[d - 1] = 0.0;
		for (size_t j = d; j > 1; j--) {
			size_t o = (size_t)nb_rng_below(rng, j);
			double tmp = x[j - 1];

			x[j - 1] = x[o];
			x[o] = tmp;
		}
	}
}

/* max over the elements of |y_LN - y_RMS| / ((24 + d) u Phi_j) */
static long double nb_t_e6_ratio(struct nb_tdata *t, const struct nb_problem *rms,
				 long double *yl, long double *rl, long double *ml)
{
	size_t d = t->n;
	long double worst = 0.0L;

	ck_assert_int_eq(nb_ref_forward(&t->p, yl, rl, ml), NB_OK);
	ck_assert_int_eq(nb_ref_forward(rms, t->y, t->rr, t->rm), NB_OK);
	for (size_t i = 0; i < t->p.rows * d; i++) {
		long double bound = 2.0L * C_OUT(d) * U *
				    nb_t_phi(t, rms, i / d, i % d, t->rr, t->rm);

		worst = fmaxl(worst, fabsl(yl[i] - t->y[i]) / bound);
	}
	return worst;
}

/*
 * E6: LayerNorm(x) == RMSNorm(x) on zero-mean x, eps included. The exact
 * mean is 0 and the exact variance is the mean square: the two agree in
 * exact arithmetic and each side is within C_OUT u Phi_j (accuracy lemma),
 * so |y_LN - y_RMS| <= 2 C_OUT(d) u Phi_j = (24 + d) u Phi_j.
 * Control: shifting x by 2^-20 of its scale makes the difference exceed the
 * bound.
 */
START_TEST(test_layernorm_equals_rmsnorm_on_zero_mean)
{
	static const size_t ds[] = { 1, 2, 3, 7, 16, 33, 128 };
	struct nb_rng rng;

	nb_rng_seed(&rng, 606);
	for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++)
		for (int c = 0; c < 4; c++) {
			size_t d = ds[di], rows = 3;
			struct nb_conventions conv = nb_t_conv(
				(c & 1) ? NB_EPS_OUTSIDE : NB_EPS_INSIDE,
				(c & 2) ? 0.25 : 1e-5, NB_PRMS_CEIL);
			struct nb_tdata t;
			struct nb_problem rms;
			long double *yl = nb_t_ld(rows * d), *rl = nb_t_ld(rows);
			long double *ml = nb_t_ld(rows), ratio;

			nb_t_make(&t, NB_VARIANT_LAYERNORM, rows, d, conv, true,
				  7000 + 10 * di + (size_t)c);
			nb_t_zero_mean_rows(&rng, t.x, rows, d);
			rms = t.p;
			rms.variant = NB_VARIANT_RMSNORM;
			ratio = nb_t_e6_ratio(&t, &rms, yl, rl, ml);
			ck_assert_msg(ratio <= 1.0L, "E6 d = %zu case %d: %.3Lg x bound",
				      d, c, ratio);
			if (d >= 2) {
				for (size_t i = 0; i < rows * d; i++)
					t.x[i] += ldexp(1.0, nb_t_row_exp[i / d] - 20);
				ratio = nb_t_e6_ratio(&t, &rms, yl, rl, ml);
				ck_assert_msg(ratio > 100.0L, "E6 control passed: d = %zu, %.3Lg",
					      d, ratio);
			}
			free(yl);
			free(rl);
			free(ml);
			nb_t_free(&t);
		}
}
END_TEST

/*
 * LayerNorm is shift invariant: LN(C + t) == LN(t). With C = 3 * 2^40 and t
 * on a 2^-10 grid (|t| < 2), C + t is exact in f64 and |mean| / sigma is
 * about 2^41. The two-step centring of ref/ keeps each side within the
 * accuracy lemma's C_OUT u Phi_j (the mean's own rounding, ~u|C|, is
 * recovered by the correction delta), so |diff| <= (24 + d) u Phi_j; a
 * centring by the rounded mean alone would be off by ~2^-22 here.
 */
START_TEST(test_layernorm_shift_invariance)
{
	static const size_t ds[] = { 2, 7, 33, 256 };
	const double shift = 3.0 * 0x1p40;
	struct nb_rng rng;

	nb_rng_seed(&rng, 515);
	for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++)
		for (int mode = 0; mode < 2; mode++) {
			size_t d = ds[di], rows = 2;
			struct nb_conventions conv = nb_t_conv(mode ? NB_EPS_OUTSIDE : NB_EPS_INSIDE,
							       1e-5, NB_PRMS_CEIL);
			struct nb_tdata t, c;

			nb_t_make(&t, NB_VARIANT_LAYERNORM, rows, d, conv, true, 5150 + di);
			nb_t_make(&c, NB_VARIANT_LAYERNORM, rows, d, conv, true, 5150 + di);
			for (size_t i = 0; i < rows * d; i++) {
				t.x[i] = nb_t_dyadic(&rng, 11, -10);
				c.x[i] = shift + t.x[i];
				ck_assert(c.x[i] - shift == t.x[i]);
			}
			ck_assert_int_eq(nb_ref_forward(&t.p, t.y, t.rr, t.rm), NB_OK);
			ck_assert_int_eq(nb_ref_forward(&c.p, c.y, c.rr, c.rm), NB_OK);
			for (size_t i = 0; i < rows; i++)
				for (size_t j = 0; j < d; j++)
					nb_t_close("LN shift", i, j, c.y[i * d + j],
						   t.y[i * d + j], 2.0L * C_OUT(d) * U *
						   nb_t_phi(&t, &t.p, i, j, t.rr, t.rm));
			nb_t_free(&t);
			nb_t_free(&c);
		}
}
END_TEST

/*
 * CRMSNorm(x') == the first d-1 outputs of RMSNorm([x', -sum x']) with the
 * gain and bias extended by one (arbitrary) element. x' has 31 significant
 * bits, so -sum x' is exact in f64: both sides compute the same exact
 * function, each within C_OUT u Phi_j: |diff| <= (24 + d) u Phi_j.
 */
START_TEST(test_crmsnorm_equals_rmsnorm_of_completed_row)
{
	static const size_t ds[] = { 2, 3, 7, 16, 33, 100 };
	struct nb_rng rng;

	nb_rng_seed(&rng, 808);
	for (size_t di = 0; di < sizeof(ds) / sizeof(ds[0]); di++)
		for (int mode = 0; mode < 2; mode++) {
			size_t d = ds[di], n = d - 1, rows = 4;
			struct nb_conventions conv = nb_t_conv(mode ? NB_EPS_OUTSIDE : NB_EPS_INSIDE,
							       mode ? 0.25 : 1e-5, NB_PRMS_CEIL);
			struct nb_tdata c, r;

			nb_t_make(&c, NB_VARIANT_CRMSNORM, rows, d, conv, true, 900 + di);
			nb_t_make(&r, NB_VARIANT_RMSNORM, rows, d, conv, true, 950 + di);
			for (size_t i = 0; i < rows; i++) {
				double sum = 0.0;

				for (size_t j = 0; j < n; j++) {
					c.x[i * n + j] = nb_t_dyadic(&rng, 30, nb_t_row_exp[i] - 30);
					r.x[i * d + j] = c.x[i * n + j];
					sum += c.x[i * n + j];   /* exact: <= 37 bits */
				}
				r.x[i * d + n] = -sum;
			}
			for (size_t j = 0; j < n; j++) {
				r.gain[j] = c.gain[j];
				r.bias[j] = c.bias[j];
			}
			ck_assert_int_eq(nb_ref_forward(&c.p, c.y, c.rr, c.rm), NB_OK);
			ck_assert_int_eq(nb_ref_forward(&r.p, r.y, r.rr, r.rm), NB_OK);
			for (size_t i = 0; i < rows; i++) {
				nb_t_close("CRMS r", i, 0, c.rr[i], r.rr[i],
					   2.0L * 7.0L * U * r.rr[i]);
				for (size_t j = 0; j < n; j++)
					nb_t_close("CRMS vs RMS", i, j, c.y[i * n + j],
						   r.y[i * d + j], 2.0L * C_OUT(d) * U *
						   nb_t_phi(&r, &r.p, i, j, r.rr, r.rm));
			}
			nb_t_free(&c);
			nb_t_free(&r);
		}
}
END_TEST

/*
 * pRMSNorm with p = 1 (k = n under both rounding rules) is RMSNorm: same
 * exact function, forward within 2 C_OUT u Phi_j, backward within
 * 2 C_DX u (...) as in the finite-difference bound (here with K_i bounded
 * the same way), dgain within 2 C_OUT u sum |dy|(|xhat|+1).
 */
START_TEST(test_prmsnorm_p1_equals_rmsnorm)
{
	for (int round = 0; round < 2; round++)
		for (int mode = 0; mode < 2; mode++) {
			size_t d = 33, rows = 4, n = d;
			struct nb_conventions conv = nb_t_conv(mode ? NB_EPS_OUTSIDE : NB_EPS_INSIDE,
							       0.25, round ? NB_PRMS_FLOOR : NB_PRMS_CEIL);
			struct nb_tdata t;
			struct nb_problem rms;
			long double *y2 = nb_t_ld(rows * n), *r2 = nb_t_ld(rows), *m2 = nb_t_ld(rows);
			long double *dx1 = nb_t_ld(rows * n), *dx2 = nb_t_ld(rows * n);
			long double *dg1 = nb_t_ld(n), *dg2 = nb_t_ld(n);

			conv.prms_p = 1.0;
			nb_t_make(&t, NB_VARIANT_PRMSNORM, rows, d, conv, true, 1200 + (uint64_t)round);
			ck_assert_uint_eq(t.p.k, n);
			rms = t.p;
			rms.variant = NB_VARIANT_RMSNORM;
			ck_assert_int_eq(nb_problem_check(&rms, NB_DIR_BACKWARD), NB_OK);
			ck_assert_int_eq(nb_ref_forward(&t.p, t.y, t.rr, t.rm), NB_OK);
			ck_assert_int_eq(nb_ref_forward(&rms, y2, r2, m2), NB_OK);
			ck_assert_int_eq(nb_ref_backward(&t.p, dx1, dg1, NULL), NB_OK);
			ck_assert_int_eq(nb_ref_backward(&rms, dx2, dg2, NULL), NB_OK);
			for (size_t i = 0; i < rows; i++) {
				struct nb_trow q;

				nb_t_row(&t, &rms, i, &q);
				for (size_t j = 0; j < n; j++) {
					long double dyh = fabsl((long double)t.dy[i * n + j] * t.gain[j]);
					long double xh = (long double)t.x[i * n + j] * q.r;
					long double rho = mode ? (q.sigma + 0.25L) / q.sigma : 1.0L;
					long double kk = q.r / q.denom * rho * fabsl(xh) * q.r * q.sdc;

					nb_t_close("pRMS(p=1) fwd", i, j, t.y[i * n + j],
						   y2[i * n + j], 2.0L * C_OUT(d) * U *
						   nb_t_phi(&t, &rms, i, j, r2, m2));
					nb_t_close("pRMS(p=1) dx", i, j, dx1[i * n + j], dx2[i * n + j],
						   2.0L * C_DX(d) * U * (q.r * dyh + kk));
				}
			}
			for (size_t j = 0; j < n; j++) {
				long double s = 0.0L;

				for (size_t i = 0; i < rows; i++)
					s += fabsl((long double)t.dy[i * n + j]) *
					     (fabsl((long double)t.x[i * n + j] * r2[i]) + 1.0L);
				nb_t_close("pRMS(p=1) dgain", 0, j, dg1[j], dg2[j],
					   2.0L * C_OUT(d) * U * s);
			}
			free(y2);
			free(r2);
			free(m2);
			free(dx1);
			free(dx2);
			free(dg1);
			free(dg2);
			nb_t_free(&t);
		}
}
END_TEST

/*
 * eps = 0: 1/sqrt(ms + 0) and 1/(sqrt(ms) + 0) are the same function, and
 * so are the two backward formulas (kappa = r^3/D = r^2/(sigma D) when
 * r = 1/sigma): forward within 2 C_OUT u Phi_j, dx within
 * 2 C_DX u (r (|dyh| + |mdy|) + K), dgain within 2 C_OUT u sum|dy|(|xhat|+1),
 * for every variant.
 */
START_TEST(test_eps_zero_conventions_agree)
{
	for (int vi = 0; vi < 4; vi++) {
		enum nb_variant v = nb_t_norms[vi];
		size_t d = 16, rows = 4;
		struct nb_tdata t;
		struct nb_problem out;
		long double *y2, *r2, *m2, *dx1, *dx2, *dg1, *dg2, *db1, *db2;
		size_t n;

		nb_t_make(&t, v, rows, d, nb_t_conv(NB_EPS_INSIDE, 0.0, NB_PRMS_CEIL), true,
			  1300 + (uint64_t)vi);
		n = t.n;
		y2 = nb_t_ld(rows * n);
		r2 = nb_t_ld(rows);
		m2 = nb_t_ld(rows);
		dx1 = nb_t_ld(rows * n);
		dx2 = nb_t_ld(rows * n);
		dg1 = nb_t_ld(n);
		dg2 = nb_t_ld(n);
		db1 = nb_t_ld(n);
		db2 = nb_t_ld(n);
		out = t.p;
		out.conv.eps_mode = NB_EPS_OUTSIDE;
		ck_assert_int_eq(nb_ref_forward(&t.p, t.y, t.rr, t.rm), NB_OK);
		ck_assert_int_eq(nb_ref_forward(&out, y2, r2, m2), NB_OK);
		ck_assert_int_eq(nb_ref_backward(&t.p, dx1, dg1, db1), NB_OK);
		ck_assert_int_eq(nb_ref_backward(&out, dx2, dg2, db2), NB_OK);
		for (size_t i = 0; i < rows; i++) {
			struct nb_trow q;

			nb_t_row(&t, &t.p, i, &q);
			nb_t_close("eps0 r", i, 0, t.rr[i], r2[i], 2.0L * 7.0L * U * t.rr[i]);
			for (size_t j = 0; j < n; j++) {
				long double w, gamma, kk;
				long double dyh = fabsl((long double)t.dy[i * n + j] * t.gain[j]);

				nb_t_coord(&t, &t.p, &q, i, j, &w, &gamma);
				kk = q.r / q.denom * fabsl(q.r * w) * q.r * q.sdc;
				nb_t_close("eps0 fwd", i, j, t.y[i * n + j], y2[i * n + j],
					   2.0L * C_OUT(d) * U * nb_t_phi(&t, &t.p, i, j, t.rr, t.rm));
				nb_t_close("eps0 dx", i, j, dx1[i * n + j], dx2[i * n + j],
					   2.0L * C_DX(d) * U * (q.r * (dyh + fabsl(q.mdy)) + kk));
			}
		}
		for (size_t j = 0; j < n; j++) {
			long double s = 0.0L;

			for (size_t i = 0; i < rows; i++)
				s += fabsl((long double)t.dy[i * n + j]) *
				     (fabsl(((long double)t.x[i * n + j] - t.rm[i]) * t.rr[i]) + 1.0L);
			nb_t_close("eps0 dgain", 0, j, dg1[j], dg2[j], 2.0L * C_OUT(d) * U * s);
			ck_assert(db1[j] == db2[j]);   /* the same sum of the same dy */
		}
		free(y2);
		free(r2);
		free(m2);
		free(dx1);
		free(dx2);
		free(dg1);
		free(dg2);
		free(db1);
		free(db2);
		nb_t_free(&t);
	}
}
END_TEST

/*
 * FlashNorm's reference == RMSNorm (nb_ref_forward, no bias) followed by a
 * plain long-double matmul written here: z_o = sum_j y_j W[j][o] + c_o.
 * The plain recursive sum of n products and the bias is within
 * gamma_{n+1} sum(|y W| + |c|) <= (n + 1.01) u (...), the reference's
 * compensated sum within 2u (...) (products u, sum u|z| + u^2 terms); the
 * two y's are each within C_OUT u Phi_j (equal in practice, the same
 * operations). So
 *     |z_ref - z_here| <= (d + 4) u (sum_j |y_j W_jo| + |c_o|)
 *                         + 2 C_OUT(d) u sum_j Phi_j |W_jo|.
 */
/* Fills buf (count elements of dtype dt) with scale * N(0, 1) (or
 * base + U(0, 1) when base > 0). */
static void nb_t_fill(struct nb_rng *rng, enum nb_dtype dt, void *buf,
		      size_t count, double base, size_t row_len)
{
	for (size_t i = 0; i < count; i++) {
		double v = base > 0.0 ? base + nb_rng_uniform(rng)
				      : ldexp(nb_rng_normal(rng),
					      row_len ? nb_t_row_exp[(i / row_len) % 4] : 0);

		nb_t_store(dt, buf, i, v);
	}
}

/* One FlashNorm case of the test below. */
static void nb_t_flash_case(struct nb_rng *rng, enum nb_dtype dt, size_t d,
			    size_t m, enum nb_eps_mode mode, bool with_c)
{
	size_t rows = 3, es = nb_dtype_traits[dt].size;
	unsigned char *x = malloc(rows * d * es), *g = malloc(d * es);
	unsigned char *w = malloc(d * m * es), *c = malloc(m * es);
	long double *z = nb_t_ld(rows * m), *y = nb_t_ld(rows * d);
	long double *rr = nb_t_ld(rows), *rm = nb_t_ld(rows);
	struct nb_problem fp = nb_problem_init(NB_VARIANT_FLASHNORM, dt, rows, d);
	struct nb_problem rp = nb_problem_init(NB_VARIANT_RMSNORM, dt, rows, d);

	ck_assert(x && g && w && c);
	nb_t_fill(rng, dt, x, rows * d, 0.0, d);
	nb_t_fill(rng, dt, g, d, 0.5, 0);
	nb_t_fill(rng, dt, w, d * m, 0.0, 0);
	nb_t_fill(rng, dt, c, m, 0.0, 0);
	fp.conv = nb_t_conv(mode, 1e-5, NB_PRMS_CEIL);
	fp.x = x;
	fp.gain = g;
	fp.w = w;
	fp.out_bias = with_c ? c : NULL;
	fp.m = m;
	fp.z = x;   /* the reference writes its long doubles to its argument */
	ck_assert_int_eq(nb_problem_check(&fp, NB_DIR_FORWARD), NB_OK);
	rp.conv = fp.conv;
	rp.x = x;
	rp.gain = g;
	rp.y = x;
	ck_assert_int_eq(nb_problem_check(&rp, NB_DIR_FORWARD), NB_OK);

	ck_assert_int_eq(nb_ref_flashnorm(&fp, z), NB_OK);
	ck_assert_int_eq(nb_ref_forward(&rp, y, rr, rm), NB_OK);
	for (size_t i = 0; i < rows; i++)
		for (size_t o = 0; o < m; o++) {
			long double acc = 0.0L, mag = 0.0L, phis = 0.0L;
			long double co = with_c ? nb_ref_load(dt, c, o) : 0.0L;

			for (size_t j = 0; j < d; j++) {
				long double wj = nb_ref_load(dt, w, j * m + o);
				long double gj = nb_ref_load(dt, g, j);
				long double xh = nb_ref_load(dt, x, i * d + j) * rr[i];

				acc += y[i * d + j] * wj;
				mag += fabsl(y[i * d + j] * wj);
				phis += fabsl(gj) * (fabsl(xh) + 1.0L) * fabsl(wj);
			}
			acc += co;
			nb_t_close("flashnorm", i, o, z[i * m + o], acc,
				   ((long double)d + 4.0L) * U * (mag + fabsl(co)) +
				   2.0L * C_OUT(d) * U * phis);
		}
	free(x);
	free(g);
	free(w);
	free(c);
	free(z);
	free(y);
	free(rr);
	free(rm);
}

START_TEST(test_flashnorm_equals_rmsnorm_then_matmul)
{
	static const size_t ds[] = { 1, 7, 33, 64 };
	static const size_t ms[] = { 1, 5, 17 };
	static const enum nb_dtype dts[] = { NB_DTYPE_F32, NB_DTYPE_F64, NB_DTYPE_BF16 };
	struct nb_rng rng;

	nb_rng_seed(&rng, 4242);
	for (size_t ti = 0; ti < 3; ti++)
		for (size_t di = 0; di < 4; di++)
			for (size_t mi = 0; mi < 3; mi++)
				for (int c = 0; c < 4; c++)
					nb_t_flash_case(&rng, dts[ti], ds[di], ms[mi],
							(c & 1) ? NB_EPS_OUTSIDE : NB_EPS_INSIDE,
							c & 2);
}
END_TEST

/* ---------------------------------------------------- 16-bit decoding (3) */

/* nb_ref_load's own decoding against common/'s converters, every input:
 * the same value (both exact, so ==) with the same sign, or both NaN. */
static void nb_t_load_exhaustive(enum nb_dtype t)
{
	const char *name = nb_dtype_traits[t].name;

	for (uint32_t b = 0; b < 65536; b++) {
		uint16_t bits = (uint16_t)b;
		float f = t == NB_DTYPE_F16 ? nb_f16_to_f32((struct nb_f16){ bits })
					    : nb_bf16_to_f32((struct nb_bf16){ bits });
		long double v = nb_ref_load(t, &bits, 0);

		if (isnan(f))
			ck_assert_msg(isnan(v), "%s 0x%04x: NaN expected, got %Lg", name, b, v);
		else
			ck_assert_msg(v == (long double)f, "%s 0x%04x: %.10Lg vs %.10g", name, b,
				      v, (double)f);
		ck_assert_msg(!signbit(v) == !signbit(f), "%s 0x%04x: sign", name, b);
	}
}

START_TEST(test_load_f16_exhaustive)
{
	nb_t_load_exhaustive(NB_DTYPE_F16);
}
END_TEST

START_TEST(test_load_bf16_exhaustive)
{
	nb_t_load_exhaustive(NB_DTYPE_BF16);
}
END_TEST

START_TEST(test_load_wide_and_indexing)
{
	const float f[3] = { 1.0f, -0x1p-149f, FLT_MAX };
	const double d[3] = { 0.1, -DBL_MAX, 0x1p-1074 };
	const struct nb_f16 h[2] = { { 0x3c00 }, { 0x0001 } };   /* 1, 2^-24 */
	const struct nb_bf16 bh[2] = { { 0x3f80 }, { 0x7f7f } };  /* 1, max */

	for (size_t i = 0; i < 3; i++) {
		ck_assert(nb_ref_load(NB_DTYPE_F32, f, i) == (long double)f[i]);
		ck_assert(nb_ref_load(NB_DTYPE_F64, d, i) == (long double)d[i]);
	}
	ck_assert(nb_ref_load(NB_DTYPE_F16, h, 0) == 1.0L);
	ck_assert(nb_ref_load(NB_DTYPE_F16, h, 1) == 0x1p-24L);
	ck_assert(nb_ref_load(NB_DTYPE_BF16, bh, 0) == 1.0L);
	ck_assert(nb_ref_load(NB_DTYPE_BF16, bh, 1) == 0x1.fep127L);
	ck_assert(isnan(nb_ref_load(NB_DTYPE_COUNT, d, 0)));
}
END_TEST

/* --------------------------------------------- special inputs, errors (4) */

/*
 * A NaN or +-Inf anywhere in a row (for pRMSNorm also beyond k) makes every
 * output of that row NaN, r and mean too, and leaves the other rows exactly
 * as the same rows alone give them (rows are independent: the same
 * operations on the same data). Backward: NaN dx for such rows and for a
 * row with a non-finite dy; dgain is NaN where a NaN xhat or dy reaches it.
 */
START_TEST(test_nonfinite_rows)
{
	static const size_t bad_col[3] = { 3, 0, 15 };
	static const double bad_val[3] = { NAN, INFINITY, -INFINITY };

	for (int vi = 0; vi < 4; vi++) {
		size_t d = 17, rows = 5;
		struct nb_tdata t, g;
		long double *dx = nb_t_ld(rows * d), *dg = nb_t_ld(d), *db = nb_t_ld(d);
		long double *gy = nb_t_ld(2 * d), *gdx = nb_t_ld(2 * d), *gdg = nb_t_ld(d);
		size_t n;

		nb_t_make(&t, nb_t_norms[vi], rows, d, nb_t_conv(NB_EPS_INSIDE, 1e-5, NB_PRMS_CEIL),
			  true, 1500 + (uint64_t)vi);
		nb_t_make(&g, nb_t_norms[vi], 2, d, t.p.conv, true, 1500 + (uint64_t)vi);
		n = t.n;
		/* rows 0 and 4 stay finite; copy them into the two-row problem */
		memcpy(g.gain, t.gain, n * sizeof(double));
		memcpy(g.bias, t.bias, n * sizeof(double));
		memcpy(g.x, t.x, n * sizeof(double));
		memcpy(g.x + n, t.x + 4 * n, n * sizeof(double));
		memcpy(g.dy, t.dy, n * sizeof(double));
		memcpy(g.dy + n, t.dy + 4 * n, n * sizeof(double));
		for (size_t b = 0; b < 3; b++)
			t.x[(b + 1) * n + (bad_col[b] < n ? bad_col[b] : n - 1)] = bad_val[b];

		ck_assert_int_eq(nb_ref_forward(&t.p, t.y, t.rr, t.rm), NB_OK);
		ck_assert_int_eq(nb_ref_forward(&g.p, gy, g.rr, g.rm), NB_OK);
		for (size_t i = 1; i <= 3; i++) {
			ck_assert(isnan(t.rr[i]) && isnan(t.rm[i]));
			for (size_t j = 0; j < n; j++)
				ck_assert_msg(isnan(t.y[i * n + j]), "%s row %zu col %zu not NaN",
					      nb_variant_name(nb_t_norms[vi]), i, j);
		}
		for (size_t j = 0; j < n; j++) {
			ck_assert(t.y[j] == gy[j]);
			ck_assert(t.y[4 * n + j] == gy[n + j]);
		}
		ck_assert(t.rr[0] == g.rr[0] && t.rr[4] == g.rr[1]);

		ck_assert_int_eq(nb_ref_backward(&t.p, dx, dg, db), NB_OK);
		ck_assert_int_eq(nb_ref_backward(&g.p, gdx, gdg, NULL), NB_OK);
		for (size_t j = 0; j < n; j++) {
			for (size_t i = 1; i <= 3; i++)
				ck_assert(isnan(dx[i * n + j]));
			ck_assert(dx[j] == gdx[j]);
			ck_assert(dx[4 * n + j] == gdx[n + j]);
			ck_assert(isnan(dg[j]));   /* NaN xhat of the bad rows */
			ck_assert(isfinite(db[j]));  /* dy is finite everywhere */
		}

		/* a non-finite dy: its row's dx is NaN, the other rows as before */
		g.dy[2] = INFINITY;
		ck_assert_int_eq(nb_ref_backward(&g.p, dx, dg, db), NB_OK);
		for (size_t j = 0; j < n; j++) {
			ck_assert(isnan(dx[j]));
			ck_assert(dx[n + j] == gdx[n + j]);
		}
		ck_assert(isinf(db[2]) && isfinite(db[1]));

		free(dx);
		free(dg);
		free(db);
		free(gy);
		free(gdx);
		free(gdg);
		nb_t_free(&t);
		nb_t_free(&g);
	}
}
END_TEST

START_TEST(test_flashnorm_nonfinite_row)
{
	double x[2 * 4] = { 1, 2, 3, 4, 1, NAN, 3, 4 };
	double g[4] = { 1, 1, 1, 1 }, w[4 * 3], z[2 * 3];
	long double zl[2 * 3];
	struct nb_problem p = nb_problem_init(NB_VARIANT_FLASHNORM, NB_DTYPE_F64, 2, 4);

	for (size_t i = 0; i < 12; i++)
		w[i] = (double)i - 5.0;
	p.x = x;
	p.gain = g;
	p.w = w;
	p.m = 3;
	p.z = z;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_int_eq(nb_ref_flashnorm(&p, zl), NB_OK);
	for (size_t o = 0; o < 3; o++) {
		ck_assert(isfinite(zl[o]));
		ck_assert(isnan(zl[3 + o]));
	}
}
END_TEST

/* Outputs of one extreme-range run. */
struct nb_text {
	long double *y, *r, *dx, *dg;
};

static void nb_t_ext_run(const struct nb_problem *p, struct nb_text *o)
{
	ck_assert_int_eq(nb_ref_forward(p, o->y, o->r, NULL), NB_OK);
	ck_assert_int_eq(nb_ref_backward(p, o->dx, o->dg, NULL), NB_OK);
}

/* One variant, dtype and convention of the test below. */
static void nb_t_ext_case(struct nb_rng *rng, enum nb_variant v,
			  enum nb_dtype type, enum nb_eps_mode mode)
{
	const int shifts[2] = { type == NB_DTYPE_F64 ? 1024 : 128,
				type == NB_DTYPE_F64 ? -1054 : -129 };
	size_t d = 9, rows = 2, n = v == NB_VARIANT_CRMSNORM ? d - 1 : d;
	size_t es = nb_dtype_traits[type].size, cnt = rows * n;
	unsigned char *x0 = malloc(cnt * es), *xs = malloc(cnt * es);
	unsigned char *gn = malloc(n * es), *dy = malloc(cnt * es);
	struct nb_text b = { nb_t_ld(cnt), nb_t_ld(rows), nb_t_ld(cnt), nb_t_ld(n) };
	struct nb_text s = { nb_t_ld(cnt), nb_t_ld(rows), nb_t_ld(cnt), nb_t_ld(n) };
	struct nb_problem p = nb_problem_init(v, type, rows, d);

	ck_assert(x0 && xs && gn && dy);
	/* x = m 2^-20 with |m| < 2^20 (the first one 2^20 - 1): |x| < 1, and
	 * x 2^128 (f32) or x 2^1024 (f64) is finite */
	for (size_t i = 0; i < cnt; i++) {
		nb_t_store(type, x0, i, i == 0 ? ldexp(0xfffff, -20) : nb_t_dyadic(rng, 19, -20));
		nb_t_store(type, dy, i, nb_rng_normal(rng));
	}
	nb_t_fill(rng, type, gn, n, 0.5, 0);
	p.conv = nb_t_conv(mode, 0.0, NB_PRMS_CEIL);
	p.x = x0;
	p.gain = gn;
	p.dy = dy;
	p.y = p.dx = p.dgain = dy;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_BACKWARD), NB_OK);
	nb_t_ext_run(&p, &b);
	for (int si = 0; si < 2; si++) {
		int sh = shifts[si];

		for (size_t i = 0; i < cnt; i++) {
			nb_dtype_store(type, xs, i, ldexp(nb_dtype_load(type, x0, i), sh));
			/* the scaled input is exact: a subnormal or a huge value */
			ck_assert(nb_ref_load(type, xs, i) == ldexpl(nb_ref_load(type, x0, i), sh));
		}
		p.x = xs;
		p.conv.eps = 0.0;
		nb_t_ext_run(&p, &s);
		for (size_t i = 0; i < rows; i++)
			ck_assert(s.r[i] == ldexpl(b.r[i], -sh));
		for (size_t i = 0; i < cnt; i++) {
			ck_assert_msg(s.y[i] == b.y[i], "%s %s shift %d: y[%zu] %Lg vs %Lg",
				      nb_variant_name(v), nb_dtype_traits[type].name, sh, i,
				      s.y[i], b.y[i]);
			ck_assert(s.dx[i] == ldexpl(b.dx[i], -sh));
		}
		for (size_t j = 0; j < n; j++)
			ck_assert(s.dg[j] == b.dg[j]);
		if (sh > 0) {
			/* ms >= 2^200 here: ms + 1e-5 == ms, sqrt(ms) + 1e-5 ==
			 * sqrt(ms) in long double */
			p.conv.eps = 1e-5;
			nb_t_ext_run(&p, &s);
			for (size_t i = 0; i < cnt; i++)
				ck_assert(s.y[i] == b.y[i]);
		}
		p.x = x0;
	}
	free(x0);
	free(xs);
	free(gn);
	free(dy);
	free(b.y);
	free(b.r);
	free(b.dx);
	free(b.dg);
	free(s.y);
	free(s.r);
	free(s.dx);
	free(s.dg);
}

/*
 * Range: with eps = 0 every variant is invariant under x -> 2^s x, and in
 * long double the scaling is exact through every operation (no overflow or
 * underflow: see ref/nb_ref.c), so rows at the dtype's largest finite
 * values and at its subnormals give bit-identical y (and r scaled by 2^-s,
 * dx by 2^-s, dgain equal). With the default eps 1e-5 the huge rows give
 * the same y exactly.
 */
START_TEST(test_extreme_ranges_exact)
{
	struct nb_rng rng;

	nb_rng_seed(&rng, 31337);
	for (int vi = 0; vi < 4; vi++)
		for (int c = 0; c < 4; c++)
			nb_t_ext_case(&rng, nb_t_norms[vi],
				      (c & 1) ? NB_DTYPE_F64 : NB_DTYPE_F32,
				      (c & 2) ? NB_EPS_OUTSIDE : NB_EPS_INSIDE);
}
END_TEST

/* bias NULL and a bias of zeros give the same y (x + 0 == x for every
 * nonzero x, and -0 == +0); dbias NULL or not leaves dx and dgain alone. */
START_TEST(test_bias_null_equals_zero_bias)
{
	for (int vi = 0; vi < 4; vi++) {
		size_t d = 12, rows = 3;
		struct nb_tdata t;
		struct nb_problem zb;
		long double *y2 = nb_t_ld(rows * d), *r2 = nb_t_ld(rows), *m2 = nb_t_ld(rows);
		long double *dx1 = nb_t_ld(rows * d), *dx2 = nb_t_ld(rows * d);
		long double *dg1 = nb_t_ld(d), *dg2 = nb_t_ld(d), *db = nb_t_ld(d);

		nb_t_make(&t, nb_t_norms[vi], rows, d, nb_t_conv(NB_EPS_INSIDE, 1e-5, NB_PRMS_CEIL),
			  false, 1600 + (uint64_t)vi);
		zb = t.p;
		zb.bias = t.bias;   /* all zeros */
		ck_assert_ptr_null(t.p.bias);
		ck_assert_int_eq(nb_ref_forward(&t.p, t.y, t.rr, t.rm), NB_OK);
		ck_assert_int_eq(nb_ref_forward(&zb, y2, r2, m2), NB_OK);
		for (size_t i = 0; i < rows * t.n; i++)
			ck_assert(t.y[i] == y2[i]);
		for (size_t i = 0; i < rows; i++)
			ck_assert(t.rr[i] == r2[i] && t.rm[i] == m2[i]);
		ck_assert_int_eq(nb_ref_backward(&t.p, dx1, dg1, NULL), NB_OK);
		ck_assert_int_eq(nb_ref_backward(&zb, dx2, dg2, db), NB_OK);
		for (size_t i = 0; i < rows * t.n; i++)
			ck_assert(dx1[i] == dx2[i]);
		for (size_t j = 0; j < t.n; j++)
			ck_assert(dg1[j] == dg2[j]);
		free(y2);
		free(r2);
		free(m2);
		free(dx1);
		free(dx2);
		free(dg1);
		free(dg2);
		free(db);
		nb_t_free(&t);
	}
}
END_TEST

/* Outputs the header promises: LayerNorm's row mean, 0 for the others. */
START_TEST(test_row_outputs)
{
	double x[4] = { 1.0, 2.0, 3.0, 6.0 }, g[4] = { 1, 1, 1, 1 };
	long double y[4], r, mean;
	struct nb_problem p = nb_problem_init(NB_VARIANT_LAYERNORM, NB_DTYPE_F64, 1, 4);

	p.conv.eps = 0.0;
	p.x = x;
	p.gain = g;
	p.y = x;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_int_eq(nb_ref_forward(&p, y, &r, &mean), NB_OK);
	ck_assert(mean == 3.0L);
	/* variance (4 + 1 + 0 + 9)/4 = 3.5: r = 1/sqrt(3.5) within 2u */
	ck_assert(fabsl(r * sqrtl(3.5L) - 1.0L) <= 4.0L * U);
	ck_assert(fabsl(y[3] - 3.0L / sqrtl(3.5L)) <= 8.0L * U * fabsl(y[3]));
	p.variant = NB_VARIANT_RMSNORM;
	ck_assert_int_eq(nb_ref_forward(&p, y, &r, &mean), NB_OK);
	ck_assert(mean == 0.0L);
	ck_assert(fabsl(r * sqrtl(12.5L) - 1.0L) <= 4.0L * U);
}
END_TEST

START_TEST(test_invalid_calls)
{
	double x[8] = { 0 }, g[8] = { 0 }, w[8] = { 0 };
	long double out[8];
	struct nb_problem p = nb_problem_init(NB_VARIANT_FLASHNORM, NB_DTYPE_F64, 1, 4);

	p.x = x;
	p.gain = g;
	p.w = w;
	p.m = 2;
	p.z = x;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_int_eq(nb_ref_forward(&p, out, NULL, NULL), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "flashnorm"));
	p.dy = x;
	ck_assert_int_eq(nb_ref_backward(&p, out, out, NULL), NB_ERR_INVALID);
	p.w = NULL;
	ck_assert_int_eq(nb_ref_flashnorm(&p, out), NB_ERR_INVALID);

	p = nb_problem_init(NB_VARIANT_LAYERNORM, NB_DTYPE_F64, 1, 4);
	p.x = x;
	p.gain = g;
	ck_assert_int_eq(nb_ref_forward(&p, out, NULL, NULL), NB_ERR_INVALID); /* unchecked */
	ck_assert_ptr_nonnull(strstr(nb_error(), "nb_problem_check"));
	p.y = x;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_int_eq(nb_ref_forward(&p, NULL, NULL, NULL), NB_ERR_INVALID);
	ck_assert_int_eq(nb_ref_backward(&p, out, out, NULL), NB_ERR_INVALID); /* no dy */
	p.m = 2;
	p.w = w;
	ck_assert_int_eq(nb_ref_flashnorm(&p, out), NB_ERR_INVALID);
	ck_assert_int_eq(nb_ref_forward(NULL, out, NULL, NULL), NB_ERR_INVALID);
}
END_TEST

Suite *nb_suite_ref(void)
{
	Suite *s = suite_create("ref");
	TCase *fd = tcase_create("finite_differences");
	TCase *id = tcase_create("identities");
	TCase *ld = tcase_create("load");
	TCase *sp = tcase_create("special");

	tcase_add_loop_test(fd, test_backward_vs_finite_differences, 0, 4);
	tcase_add_test(fd, test_finite_differences_reject_wrong_gradients);
	tcase_add_test(id, test_compensated_sum);
	tcase_add_test(id, test_reference_sums_are_compensated);
	tcase_add_test(id, test_layernorm_equals_rmsnorm_on_zero_mean);
	tcase_add_test(id, test_layernorm_shift_invariance);
	tcase_add_test(id, test_crmsnorm_equals_rmsnorm_of_completed_row);
	tcase_add_test(id, test_prmsnorm_p1_equals_rmsnorm);
	tcase_add_test(id, test_eps_zero_conventions_agree);
	tcase_add_test(id, test_flashnorm_equals_rmsnorm_then_matmul);
	tcase_add_test(ld, test_load_f16_exhaustive);
	tcase_add_test(ld, test_load_bf16_exhaustive);
	tcase_add_test(ld, test_load_wide_and_indexing);
	tcase_add_test(sp, test_nonfinite_rows);
	tcase_add_test(sp, test_flashnorm_nonfinite_row);
	tcase_add_test(sp, test_extreme_ranges_exact);
	tcase_add_test(sp, test_bias_null_equals_zero_bias);
	tcase_add_test(sp, test_row_outputs);
	tcase_add_test(sp, test_invalid_calls);
	suite_add_tcase(s, fd);
	suite_add_tcase(s, id);
	suite_add_tcase(s, ld);
	suite_add_tcase(s, sp);
	return s;
}
