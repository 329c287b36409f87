/* The portable kernels' row fallback: a row whose fast-path statistics are
 * not finite or underflowed is recomputed here in double, on x (and dy, g)
 * scaled by powers of two, which is exact. */
#include <limits.h>
#include <math.h>

#include "kernels/portable/nb_portable.h"

/*
 * Scaling. A row x with max |x| = m in [2^E, 2^(E+1)) is used as x s with
 * s = 2^se, se = -E, so every |x_j s| < 2: no square or sum of at most 2^34
 * such terms overflows or loses a subnormal, in any dtype. The statistic of
 * x s is ms' = ms s^2 and
 *     eps inside:  r = 1/sqrt(ms + eps)  = s / sqrt(ms' + eps s^2) = s r'
 *     eps outside: r = 1/(sqrt(ms) + eps) = s / (sqrt(ms') + eps s) = s r'
 * so y = x r g = ((x s) r') g with no scale factor left over. The eps term
 * eps s^2 (eps s) must not overflow when s scales up a tiny row: se is capped
 * so that it stays <= 1; where the cap binds, eps s^2 >= 1/4 dominates ms'
 * (ms' < 4 n / div, and what underflowed in it is below 2^-1074 / 2^-2), so
 * r' is still right to rounding.
 *
 * Special rows: a NaN or Inf among the elements that set the statistic gives
 * a row of NaN (r = NaN; Inf gives inf/inf); a row of zeros (LayerNorm: a
 * constant row) with eps = 0 has r' = inf and gives NaN too (0 * inf); with
 * eps > 0 it gives y = 0 (+ b). pRMSNorm's elements past k do not set the
 * statistic: their outputs are x_j r g_j as they come (NaN -> NaN, Inf ->
 * +-Inf).
 */

/* se = -E for m in [2^E, 2^(E+1)); 0 for m = 0. */
static int nb_scale_exp(double m)
{
	return m > 0.0 ? -ilogb(m) : 0;
}

/* Largest c with eps 2^(2c) <= 1 (inside) or eps 2^c <= 1 (outside). */
static int nb_eps_cap(const struct nb_conventions *conv)
{
	int l1;

	if (!(conv->eps > 0.0))
		return INT_MAX;
	l1 = ilogb(conv->eps) + 1;      /* eps < 2^l1 */
	if (conv->eps_mode == NB_EPS_OUTSIDE)
		return -l1;
	/* floor(-l1 / 2) */
	return -l1 >= 0 ? -l1 / 2 : -((l1 + 1) / 2);
}

static int nb_min_int(int a, int b)
{
	return a < b ? a : b;
}

/* r' from the scaled statistic ms' (see the head comment); also rho' =
 * sqrt(ms'), which the eps-outside backward needs. */
static double nb_scaled_r(double ms, int se, const struct nb_conventions *conv,
			  double *rho)
{
	*rho = sqrt(ms);
	if (conv->eps_mode == NB_EPS_INSIDE)
		return 1.0 / sqrt(ms + ldexp(conv->eps, 2 * se));
	return 1.0 / (*rho + ldexp(conv->eps, se));
}

/* x r for an element outside the scaled set (pRMSNorm's tail), r = 2^se r',
 * in the order that neither overflows nor loses bits before the result
 * itself would. */
static double nb_mul_pow2(double x, double r, int se)
{
	return se <= 0 ? ldexp(x, se) * r : ldexp(x * r, se);
}

/* eps-outside factor q = (rho + eps)/rho of the backward (1 inside); 0 for
 * rho = 0, where the correction's limit is 0 (see backward.c). */
static double nb_outside_q(const struct nb_conventions *conv, double rho, int se)
{
	if (conv->eps_mode == NB_EPS_INSIDE)
		return 1.0;
	return rho > 0.0 ? 1.0 + ldexp(conv->eps, se) / rho : 0.0;
}

/* Largest |v| over n elements of dtype t, and whether all are finite. */
static double nb_maxabs(enum nb_dtype t, const void *v, size_t n, bool *finite)
{
	double m = 0.0;

	*finite = true;
	for (size_t j = 0; j < n; j++) {
		double a = fabs(nb_ldd(t, v, j));
		if (!isfinite(a))
			*finite = false;
		else if (a > m)
			m = a;
	}
	return m;
}

/* Scaled statistics of one row. */
struct nb_scaled_stats {
	bool ok;        /* false: NaN/Inf in the statistic's elements, or r' = inf */
	int se;         /* total scale exponent: x s = x 2^se */
	int s1;         /* LayerNorm: exponent of the first (pre-centring) scale */
	double mu;      /* LayerNorm: mean of x 2^s1 */
	double r;       /* r' */
	double rho;     /* sqrt(ms') */
	double shat;    /* CRMSNorm: (sum x') r; else 0 */
};

static struct nb_scaled_stats nb_rms_stats(enum nb_dtype t, const void *x,
					   const struct nb_rms_shape *sh,
					   const struct nb_conventions *conv)
{
	struct nb_scaled_stats st = { .ok = false };
	double m, ss = 0.0, sm = 0.0, total;
	bool finite;

	m = nb_maxabs(t, x, sh->nstat, &finite);
	if (!finite)
		return st;
	st.se = nb_min_int(nb_scale_exp(m), nb_eps_cap(conv));
	for (size_t j = 0; j < sh->nstat; j++) {
		double v = ldexp(nb_ldd(t, x, j), st.se);
		ss += v * v;
		sm += v;
	}
	total = sh->crms ? ss + sm * sm : ss;
	st.r = nb_scaled_r(total / (double)sh->div, st.se, conv, &st.rho);
	st.shat = sh->crms ? sm * st.r : 0.0;
	st.ok = isfinite(st.r);
	return st;
}

static struct nb_scaled_stats nb_ln_stats(enum nb_dtype t, const void *x, size_t n,
					  const struct nb_conventions *conv)
{
	struct nb_scaled_stats st = { .ok = false };
	double m, sum = 0.0, mdev = 0.0, vs = 0.0;
	bool finite;
	int s2;

	m = nb_maxabs(t, x, n, &finite);
	if (!finite)
		return st;
	/* first scale for the mean, uncapped (eps does not enter the mean) */
	st.s1 = nb_scale_exp(m);
	for (size_t j = 0; j < n; j++)
		sum += ldexp(nb_ldd(t, x, j), st.s1);
	st.mu = sum / (double)n;
	/* then scale the deviations, the total capped for eps */
	for (size_t j = 0; j < n; j++) {
		double dv = fabs(ldexp(nb_ldd(t, x, j), st.s1) - st.mu);
		if (dv > mdev)
			mdev = dv;
	}
	st.se = nb_min_int(st.s1 + nb_scale_exp(mdev), nb_eps_cap(conv));
	s2 = st.se - st.s1;
	for (size_t j = 0; j < n; j++) {
		double dv = ldexp(ldexp(nb_ldd(t, x, j), st.s1) - st.mu, s2);
		vs += dv * dv;
	}
	st.r = nb_scaled_r(vs / (double)n, st.se, conv, &st.rho);
	st.ok = isfinite(st.r);
	return st;
}

/* xhat_j of element x from the scaled statistics: LayerNorm ((x - mu)
 * 2^se) r', an element of the statistic (x 2^se) r', any other (pRMSNorm's
 * tail) by nb_mul_pow2. */
static double nb_scaled_xhat(const struct nb_scaled_stats *st, bool ln, bool in_stat,
			     double x)
{
	if (ln)
		return ldexp(ldexp(x, st->s1) - st->mu, st->se - st->s1) * st->r;
	if (in_stat)
		return ldexp(x, st->se) * st->r;
	return nb_mul_pow2(x, st->r, st->se);
}

double nb_portable_rms_r_scaled(enum nb_dtype t, const void *x, size_t n,
				const struct nb_conventions *conv, int *se)
{
	struct nb_rms_shape sh = { .n = n, .nstat = n, .div = n, .crms = false };
	struct nb_scaled_stats st = nb_rms_stats(t, x, &sh, conv);

	*se = st.se;
	return st.ok ? st.r : (double)NAN;
}

/* Row i of y = NaN (a NaN/Inf row, or eps = 0 on a zero-variance row). */
static void nb_nan_row(enum nb_dtype t, void *row, size_t n)
{
	for (size_t j = 0; j < n; j++)
		nb_std(t, row, j, (double)NAN);
}

void nb_portable_fwd_row_scaled(const struct nb_problem *p, size_t i)
{
	enum nb_dtype t = p->dtype;
	size_t n = p->n;
	size_t es = nb_pt_size(t);
	const unsigned char *x = (const unsigned char *)p->x + i * n * es;
	unsigned char *y = (unsigned char *)p->y + i * n * es;
	struct nb_scaled_stats st;
	size_t nstat = n;

	if (p->variant == NB_VARIANT_LAYERNORM) {
		st = nb_ln_stats(t, x, n, &p->conv);
	} else {
		struct nb_rms_shape sh = nb_rms_shape_of(p);
		st = nb_rms_stats(t, x, &sh, &p->conv);
		nstat = sh.nstat;
	}
	if (!st.ok) {
		nb_nan_row(t, y, n);
		return;
	}
	/* y_j depends on x_j and the row's scalars only: in place is fine */
	for (size_t j = 0; j < n; j++) {
		double xh = nb_scaled_xhat(&st, p->variant == NB_VARIANT_LAYERNORM, j < nstat,
					   nb_ldd(t, x, j));
		double v = xh * nb_ldd(t, p->gain, j);

		if (p->bias)
			v += nb_ldd(t, p->bias, j);
		nb_std(t, y, j, v);
	}
}

/* Adds v to element j of a partial-sum vector of dtype gt (f32 or f64),
 * in the partial's own precision. */
static void nb_add_part(enum nb_dtype gt, void *part, size_t j, double v)
{
	if (gt == NB_DTYPE_F64) {
		double *d = part;
		d[j] += v;
	} else {
		float *f = part;
		f[j] += (float)v;
	}
}

/*
 * Backward of one row, scaled: dx is linear in dyh = dy g, so dy and g are
 * scaled by 2^te and 2^ge as well (dyh' = dyh 2^(te+ge), every |dyh'| < 1)
 * and dx = 2^(se - te - ge) r' (dyh' - correction'), the correction built
 * from xhat (scale-free: xhat = (x s) r') and S' = sum dyh' xhat. The
 * formulas are backward.c's; a NaN/Inf among x's statistic elements (or
 * r' = inf) gives a NaN dx row and NaN in every dgain_part element.
 */
void nb_portable_bwd_row_scaled(const struct nb_problem *p, size_t i, enum nb_dtype gt,
				void *dgain_part, void *dbias_part)
{
	enum nb_dtype t = p->dtype;
	size_t n = p->n;
	size_t es = nb_pt_size(t);
	const unsigned char *x = (const unsigned char *)p->x + i * n * es;
	const unsigned char *dy = (const unsigned char *)p->dy + i * n * es;
	unsigned char *dx = (unsigned char *)p->dx + i * n * es;
	bool ln = p->variant == NB_VARIANT_LAYERNORM;
	struct nb_rms_shape sh = nb_rms_shape_of(p);
	struct nb_scaled_stats st;
	double q, sdy = 0.0, sdot = 0.0, mdy = 0.0, coef;
	bool dy_finite, g_finite;
	int te, ge, out_exp;

	st = ln ? nb_ln_stats(t, x, n, &p->conv) : nb_rms_stats(t, x, &sh, &p->conv);
	if (!st.ok) {
		for (size_t j = 0; j < n; j++) {
			double dyj = nb_ldd(t, dy, j);
			nb_std(t, dx, j, (double)NAN);
			nb_add_part(gt, dgain_part, j, dyj * (double)NAN);
			if (dbias_part)
				nb_add_part(gt, dbias_part, j, dyj);
		}
		return;
	}
	/* non-finite dy or g are not scaled: they propagate as they would */
	te = nb_scale_exp(nb_maxabs(t, dy, n, &dy_finite));
	ge = nb_scale_exp(nb_maxabs(t, p->gain, n, &g_finite));
	if (!dy_finite)
		te = 0;
	if (!g_finite)
		ge = 0;
	q = nb_outside_q(&p->conv, st.rho, st.se);

	for (size_t j = 0; j < n; j++) {
		double dyh = ldexp(nb_ldd(t, dy, j), te) * ldexp(nb_ldd(t, p->gain, j), ge);
		double xh = nb_scaled_xhat(&st, ln, j < sh.nstat, nb_ldd(t, x, j));

		sdy += dyh;
		sdot += dyh * xh;
	}
	if (ln) {
		mdy = sdy / (double)n;
		coef = q * sdot / (double)n;
	} else {
		coef = q * sdot / (double)sh.div;
	}
	out_exp = st.se - te - ge;

	for (size_t j = 0; j < n; j++) {
		double dyj = nb_ldd(t, dy, j);
		double dyh = ldexp(dyj, te) * ldexp(nb_ldd(t, p->gain, j), ge);
		double xh = nb_scaled_xhat(&st, ln, j < sh.nstat, nb_ldd(t, x, j));
		double inner;

		if (ln)
			inner = (dyh - mdy) - xh * coef;
		else if (j < sh.nstat)
			inner = dyh - (xh + st.shat) * coef;
		else
			inner = dyh;
		nb_std(t, dx, j, ldexp(st.r * inner, out_exp));
		if (gt == NB_DTYPE_F64)
			nb_add_part(gt, dgain_part, j, dyj * xh);
		else
			nb_add_part(gt, dgain_part, j, (double)((float)dyj * (float)xh));
		if (dbias_part)
			nb_add_part(gt, dbias_part, j, dyj);
	}
}
