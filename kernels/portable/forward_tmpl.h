/* The portable forward kernels' arithmetic, written once for an accumulation
 * type: kernels/portable/forward.c includes this file with NB_ACC_F64 0
 * (float) and 1 (double). Not a public header. */
#include "kernels/portable/nb_portable_tmpl.h"

/* r from a row statistic (sum of squares, LayerNorm squared deviations)
 * and its divisor; false when the row must go to the scaled fallback. */
NB_PORTABLE_INLINE bool NB_FN(r_of)(NB_T total, size_t div, const struct nb_conventions *conv,
				    NB_T *r)
{
	NB_T eps = (NB_T)conv->eps;
	NB_T ms;

	if (!(total <= NB_T_MAX) || (total < NB_T_TINY && eps * (NB_T)div < NB_T_TINY))
		return false;
	ms = total / (NB_T)div;
	*r = conv->eps_mode == NB_EPS_INSIDE ? NB_LIT(1.0) / NB_SQRT(ms + eps)
					     : NB_LIT(1.0) / (NB_SQRT(ms) + eps);
	return true;
}

/* ---- RMS family ---- */

/* r of one row; false when the row must go to the scaled fallback. */
NB_PORTABLE_INLINE bool NB_FN(rms_r)(enum nb_dtype t, const void *x,
				     const struct nb_rms_shape *sh,
				     const struct nb_conventions *conv, NB_T *r)
{
	NB_T a[NB_LANES] = { 0 }, c[NB_LANES] = { 0 };
	NB_T total;
	size_t j = 0;

	for (; j + NB_LANES <= sh->nstat; j += NB_LANES)
		for (size_t l = 0; l < NB_LANES; l++) {
			NB_T v = NB_LD(t, x, j + l);
			a[l] += v * v;
			c[l] += v;
		}
	for (size_t l = 0; j + l < sh->nstat; l++) {
		NB_T v = NB_LD(t, x, j + l);
		a[l] += v * v;
		c[l] += v;
	}
	total = NB_LANE_SUM(a);
	if (sh->crms) {
		NB_T s = NB_LANE_SUM(c);
		total += s * s;
	}
	return NB_FN(r_of)(total, sh->div, conv, r);
}

NB_PORTABLE_INLINE void NB_FN(rms_fwd)(const struct nb_problem *p, enum nb_dtype t,
				       enum nb_variant v, size_t row_begin, size_t row_end)
{
	struct nb_rms_shape sh = nb_rms_shape_v(p, v);
	size_t stride = sh.n * nb_pt_size(t);

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		NB_T r;

		if (!NB_FN(rms_r)(t, x, &sh, &p->conv, &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		if (p->bias)
			for (size_t j = 0; j < sh.n; j++)
				NB_ST(t, y, j, (NB_LD(t, x, j) * r) * NB_LD(t, p->gain, j) +
					       NB_LD(t, p->bias, j));
		else
			for (size_t j = 0; j < sh.n; j++)
				NB_ST(t, y, j, (NB_LD(t, x, j) * r) * NB_LD(t, p->gain, j));
	}
}

/* ---- LayerNorm ---- */

/* The write pass (the Welford kernel shares it): ((x - mu_hi) - mu_lo) r,
 * see the mean scheme in nb_portable_tmpl.h. */
NB_PORTABLE_INLINE void NB_FN(ln_write)(const struct nb_problem *p, enum nb_dtype t,
					const void *x, void *y, NB_T mu_hi, NB_T mu_lo, NB_T r)
{
	if (p->bias)
		for (size_t j = 0; j < p->n; j++)
			NB_ST(t, y, j, (((NB_LD(t, x, j) - mu_hi) - mu_lo) * r) *
					       NB_LD(t, p->gain, j) + NB_LD(t, p->bias, j));
	else
		for (size_t j = 0; j < p->n; j++)
			NB_ST(t, y, j, (((NB_LD(t, x, j) - mu_hi) - mu_lo) * r) *
					       NB_LD(t, p->gain, j));
}

NB_PORTABLE_INLINE void NB_FN(ln_fwd)(const struct nb_problem *p, enum nb_dtype t,
				      size_t row_begin, size_t row_end)
{
	size_t n = p->n;
	size_t stride = n * nb_pt_size(t);

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		NB_T mu = NB_FN(mean_hi)(t, x, n), mu_lo, sums[4], r;

		if (!(NB_FABS(mu) <= NB_T_MAX)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		NB_FN(ln_sums)(t, x, NULL, NULL, n, mu, false, sums);
		mu_lo = sums[0] / (NB_T)n;
		if (!NB_FN(r_of)(NB_FN(m2_of)(sums[0], sums[1], mu_lo), n, &p->conv, &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		NB_FN(ln_write)(p, t, x, y, mu, mu_lo, r);
	}
}

/* FlashNorm's r of one row: the RMSNorm kernel's, fallback included. */
NB_PORTABLE_INLINE NB_T NB_FN(flash_r)(const struct nb_problem *p, const void *x_row)
{
	struct nb_rms_shape sh = { .n = p->n, .nstat = p->n, .div = p->n, .crms = false };
	NB_T r;
	int se;
	double rs;

	if (NB_FN(rms_r)(NB_T_DTYPE, x_row, &sh, &p->conv, &r))
		return r;
	rs = nb_portable_rms_r_scaled(NB_T_DTYPE, x_row, p->n, &p->conv, &se);
	return (NB_T)ldexp(rs, se);
}
