/* Portable C backward kernels: dx, dgain and dbias of LayerNorm, RMSNorm,
 * pRMSNorm and CRMSNorm for f32, f64, f16 and bf16 storage; registry lines
 * in kernels/registry.def. */
#include <float.h>
#include <math.h>

#include "kernels/nb_kernels.h"
#include "kernels/portable/nb_portable.h"

/*
 * Notation per row: dyh = dy * g, xhat = the normalized input (x r, LayerNorm
 * (x - mu) r), S = sum_{j<n} dyh_j xhat_j, D = the statistic's divisor
 * (RMSNorm n, pRMSNorm k, CRMSNorm d, LayerNorm n).
 *
 *   RMSNorm   dx_j = r (dyh_j - q xhat_j S / n)
 *   pRMSNorm  dx_j = r (dyh_j - q xhat_j S / k) for j < k, r dyh_j for j >= k
 *   CRMSNorm  dx'_j = r (dyh'_j - q (xhat'_j + shat) S / d), shat = r sum x'
 *             (= r dy'_j - r^3 (x'_j + s)/d sum dyh'_i x'_i for eps inside)
 *   LayerNorm dx_j = r (dyh_j - mean(dyh) - q xhat_j S / n)
 *   q = 1 for eps inside; q = (rho + eps) / rho for eps outside, rho = sqrt(ms)
 *
 * Derivation of q. Write the statistic ms (LayerNorm: var) and u_j its
 * derivative's shape: d ms / d x_j = 2 u_j / D with u_j = x_j (RMS, j < k;
 * 0 for j >= k), x'_j + s (CRMS: ms = (sum x'^2 + s^2)/d, s = sum x'), or
 * x_j - mu (LayerNorm: the mu terms cancel because sum (x - mu) = 0). With
 * y_i = g_i v_i r (v = x, or x - mu whose own derivative gives the
 * mean(dyh) term), dL/dx_j = r dyh_j [- r mean(dyh)] + (sum_i dyh_i v_i)
 * dr/dms 2 u_j / D, and sum_i dyh_i v_i = S / r.
 *   eps inside:  r = (ms + eps)^(-1/2), dr/dms = -r^3 / 2, so the term is
 *                -(S/r) r^3 u_j / D = -r (r u_j) S / D.
 *   eps outside: r = 1/(rho + eps), rho = sqrt(ms), dr/dms = -r^2/(2 rho),
 *                so the term is -(S/r) r^2 u_j / (rho D) = -r (u_j / rho) S / D
 *                = -r (r u_j) q S / D with q = 1/(r rho) = (rho + eps)/rho.
 * r u_j is xhat_j (CRMS: xhat'_j + shat). At rho = 0 (a zero row, LayerNorm
 * a constant row) eps-outside r is 1/eps but rho is not differentiable; the
 * correction's limit as x -> 0 is 0 (|u_j / rho| <= sqrt(D) stays bounded
 * while S -> 0), so q is taken as 0 there: dx = r dyh [- r mean(dyh)].
 *
 * dgain_part_j = sum over the rows, in row order, of dy_j xhat_j; dbias_part_j
 * = sum of dy_j (skipped when NULL). Both are written, not accumulated, in
 * the gradient dtype (f32 for f32/f16/bf16, f64 for f64).
 *
 * Accumulation: float for f32/f16/bf16 storage, double for f64; 8 independent
 * accumulators per sum in a fixed lane tree. Passes over x per row: RMS
 * family 2 (the sums of squares and S/r = sum dyh x together, then the write
 * pass), LayerNorm 3 (mean; squared deviations, sum dyh and sum dyh (x - mu);
 * write). Aliasing: dx must not overlap x, dy, gain or the partials
 * (nb_kernel_prepare refuses dx == x and dx == dy). Any alignment.
 *
 * Special values: a NaN/Inf among the statistic's elements of x gives a NaN
 * dx row and NaN in every element of dgain_part (dbias_part still gets dy);
 * a zero row (LayerNorm constant row) with eps > 0 gives the finite dx =
 * r dyh [- r mean(dyh)]; with eps = 0 it gives NaN. Finite rows whose sums
 * overflow (x, or dy and g) or underflow with a tiny eps are recomputed by
 * nb_portable_bwd_row_scaled (double, power-of-two scaling of x, dy and g).
 */

NB_PORTABLE_INLINE void nb_zero_parts_f(float *dg, float *db, size_t n)
{
	for (size_t j = 0; j < n; j++)
		dg[j] = 0.0f;
	if (db)
		for (size_t j = 0; j < n; j++)
			db[j] = 0.0f;
}

NB_PORTABLE_INLINE void nb_zero_parts_d(double *dg, double *db, size_t n)
{
	for (size_t j = 0; j < n; j++)
		dg[j] = 0.0;
	if (db)
		for (size_t j = 0; j < n; j++)
			db[j] = 0.0;
}

/* ---- RMS family, float accumulation ---- */

/* The write pass: elements [0, nstat) get the correction, the rest not. */
NB_PORTABLE_INLINE void nb_rms_bwd_write_f(const struct nb_problem *p, enum nb_dtype t,
					   const struct nb_rms_shape *sh,
					   const void *x, const void *dy, void *dx,
					   float r, float shat, float coef,
					   float *restrict dg, float *restrict db, bool has_db)
{
	for (size_t j = 0; j < sh->nstat; j++) {
		float dyj = nb_ldf(t, dy, j);
		float xh = nb_ldf(t, x, j) * r;
		float dyh = dyj * nb_ldf(t, p->gain, j);

		nb_stf(t, dx, j, r * (dyh - (xh + shat) * coef));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
	for (size_t j = sh->nstat; j < sh->n; j++) {
		float dyj = nb_ldf(t, dy, j);
		float xh = nb_ldf(t, x, j) * r;

		nb_stf(t, dx, j, r * (dyj * nb_ldf(t, p->gain, j)));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
}

NB_PORTABLE_INLINE void nb_rms_bwd_f(const struct nb_problem *p, enum nb_dtype t,
				     enum nb_variant v, size_t row_begin, size_t row_end,
				     void *dgain_part, void *dbias_part)
{
	struct nb_rms_shape sh = nb_rms_shape_v(p, v);
	size_t stride = sh.n * nb_pt_size(t);
	float eps = (float)p->conv.eps;
	float *dg = dgain_part, *db = dbias_part;

	nb_zero_parts_f(dg, db, sh.n);
	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		const unsigned char *dy = (const unsigned char *)p->dy + i * stride;
		unsigned char *dx = (unsigned char *)p->dx + i * stride;
		float a[NB_LANES] = { 0 }, c[NB_LANES] = { 0 }, e[NB_LANES] = { 0 };
		float total, sx, s = 0.0f, ms, rho, r, q, coef;
		size_t j = 0;

		for (; j + NB_LANES <= sh.nstat; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				float xv = nb_ldf(t, x, j + l);
				a[l] += xv * xv;
				if (sh.crms)
					c[l] += xv;
				e[l] += (nb_ldf(t, dy, j + l) * nb_ldf(t, p->gain, j + l)) * xv;
			}
		for (size_t l = 0; j + l < sh.nstat; l++) {
			float xv = nb_ldf(t, x, j + l);
			a[l] += xv * xv;
			if (sh.crms)
				c[l] += xv;
			e[l] += (nb_ldf(t, dy, j + l) * nb_ldf(t, p->gain, j + l)) * xv;
		}
		/* pRMSNorm's tail only enters S */
		for (j = sh.nstat; j + NB_LANES <= sh.n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				e[l] += (nb_ldf(t, dy, j + l) * nb_ldf(t, p->gain, j + l)) *
					nb_ldf(t, x, j + l);
		for (size_t l = 0; j + l < sh.n; l++)
			e[l] += (nb_ldf(t, dy, j + l) * nb_ldf(t, p->gain, j + l)) *
				nb_ldf(t, x, j + l);
		total = nb_lanes_f(a);
		if (sh.crms) {
			s = nb_lanes_f(c);
			total += s * s;
		}
		sx = nb_lanes_f(e);
		if (!(total <= FLT_MAX) || !(fabsf(sx) <= FLT_MAX) ||
		    (total < NB_TINY_F32 && eps * (float)sh.div < NB_TINY_F32)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F32, dg, db);
			continue;
		}
		ms = total / (float)sh.div;
		rho = sqrtf(ms);
		if (p->conv.eps_mode == NB_EPS_INSIDE) {
			r = 1.0f / sqrtf(ms + eps);
			q = 1.0f;
		} else {
			r = 1.0f / (rho + eps);
			q = rho > 0.0f ? 1.0f + eps / rho : 0.0f;
		}
		/* S = sum dyh xhat = r sum dyh x */
		coef = q * (sx * r) / (float)sh.div;
		if (db)
			nb_rms_bwd_write_f(p, t, &sh, x, dy, dx, r, s * r, coef, dg, db, true);
		else
			nb_rms_bwd_write_f(p, t, &sh, x, dy, dx, r, s * r, coef, dg, NULL, false);
	}
}

/* ---- RMS family, double accumulation (f64) ---- */

NB_PORTABLE_INLINE void nb_rms_bwd_write_d(const struct nb_problem *p, enum nb_dtype t,
					   const struct nb_rms_shape *sh,
					   const void *x, const void *dy, void *dx,
					   double r, double shat, double coef,
					   double *restrict dg, double *restrict db, bool has_db)
{
	for (size_t j = 0; j < sh->nstat; j++) {
		double dyj = nb_ldd(t, dy, j);
		double xh = nb_ldd(t, x, j) * r;
		double dyh = dyj * nb_ldd(t, p->gain, j);

		nb_std(t, dx, j, r * (dyh - (xh + shat) * coef));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
	for (size_t j = sh->nstat; j < sh->n; j++) {
		double dyj = nb_ldd(t, dy, j);
		double xh = nb_ldd(t, x, j) * r;

		nb_std(t, dx, j, r * (dyj * nb_ldd(t, p->gain, j)));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
}

NB_PORTABLE_INLINE void nb_rms_bwd_d(const struct nb_problem *p, enum nb_dtype t,
				     enum nb_variant v, size_t row_begin, size_t row_end,
				     void *dgain_part, void *dbias_part)
{
	struct nb_rms_shape sh = nb_rms_shape_v(p, v);
	size_t stride = sh.n * nb_pt_size(t);
	double eps = p->conv.eps;
	double *dg = dgain_part, *db = dbias_part;

	nb_zero_parts_d(dg, db, sh.n);
	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		const unsigned char *dy = (const unsigned char *)p->dy + i * stride;
		unsigned char *dx = (unsigned char *)p->dx + i * stride;
		double a[NB_LANES] = { 0 }, c[NB_LANES] = { 0 }, e[NB_LANES] = { 0 };
		double total, sx, s = 0.0, ms, rho, r, q, coef;
		size_t j = 0;

		for (; j + NB_LANES <= sh.nstat; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				double xv = nb_ldd(t, x, j + l);
				a[l] += xv * xv;
				if (sh.crms)
					c[l] += xv;
				e[l] += (nb_ldd(t, dy, j + l) * nb_ldd(t, p->gain, j + l)) * xv;
			}
		for (size_t l = 0; j + l < sh.nstat; l++) {
			double xv = nb_ldd(t, x, j + l);
			a[l] += xv * xv;
			if (sh.crms)
				c[l] += xv;
			e[l] += (nb_ldd(t, dy, j + l) * nb_ldd(t, p->gain, j + l)) * xv;
		}
		for (j = sh.nstat; j + NB_LANES <= sh.n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				e[l] += (nb_ldd(t, dy, j + l) * nb_ldd(t, p->gain, j + l)) *
					nb_ldd(t, x, j + l);
		for (size_t l = 0; j + l < sh.n; l++)
			e[l] += (nb_ldd(t, dy, j + l) * nb_ldd(t, p->gain, j + l)) *
				nb_ldd(t, x, j + l);
		total = nb_lanes_d(a);
		if (sh.crms) {
			s = nb_lanes_d(c);
			total += s * s;
		}
		sx = nb_lanes_d(e);
		if (!(total <= DBL_MAX) || !(fabs(sx) <= DBL_MAX) ||
		    (total < NB_TINY_F64 && eps * (double)sh.div < NB_TINY_F64)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F64, dg, db);
			continue;
		}
		ms = total / (double)sh.div;
		rho = sqrt(ms);
		if (p->conv.eps_mode == NB_EPS_INSIDE) {
			r = 1.0 / sqrt(ms + eps);
			q = 1.0;
		} else {
			r = 1.0 / (rho + eps);
			q = rho > 0.0 ? 1.0 + eps / rho : 0.0;
		}
		coef = q * (sx * r) / (double)sh.div;
		if (db)
			nb_rms_bwd_write_d(p, t, &sh, x, dy, dx, r, s * r, coef, dg, db, true);
		else
			nb_rms_bwd_write_d(p, t, &sh, x, dy, dx, r, s * r, coef, dg, NULL, false);
	}
}

/* ---- LayerNorm, float accumulation ---- */

NB_PORTABLE_INLINE void nb_ln_bwd_write_f(const struct nb_problem *p, enum nb_dtype t,
					  const void *x, const void *dy, void *dx,
					  float mu, float r, float mdy, float coef,
					  float *restrict dg, float *restrict db, bool has_db)
{
	for (size_t j = 0; j < p->n; j++) {
		float dyj = nb_ldf(t, dy, j);
		float xh = (nb_ldf(t, x, j) - mu) * r;
		float dyh = dyj * nb_ldf(t, p->gain, j);

		nb_stf(t, dx, j, r * ((dyh - mdy) - xh * coef));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
}

NB_PORTABLE_INLINE void nb_ln_bwd_f(const struct nb_problem *p, enum nb_dtype t,
				    size_t row_begin, size_t row_end,
				    void *dgain_part, void *dbias_part)
{
	size_t n = p->n;
	size_t stride = n * nb_pt_size(t);
	float eps = (float)p->conv.eps;
	float *dg = dgain_part, *db = dbias_part;

	nb_zero_parts_f(dg, db, n);
	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		const unsigned char *dy = (const unsigned char *)p->dy + i * stride;
		unsigned char *dx = (unsigned char *)p->dx + i * stride;
		float a[NB_LANES] = { 0 }, v[NB_LANES] = { 0 }, b[NB_LANES] = { 0 };
		float e[NB_LANES] = { 0 };
		float sum, mu, vs, sdy, sdot, var, rho, r, q;
		size_t j = 0;

		for (; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				a[l] += nb_ldf(t, x, j + l);
		for (size_t l = 0; j + l < n; l++)
			a[l] += nb_ldf(t, x, j + l);
		sum = nb_lanes_f(a);
		mu = sum / (float)n;
		for (j = 0; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				float dv = nb_ldf(t, x, j + l) - mu;
				float dyh = nb_ldf(t, dy, j + l) * nb_ldf(t, p->gain, j + l);
				v[l] += dv * dv;
				b[l] += dyh;
				e[l] += dyh * dv;
			}
		for (size_t l = 0; j + l < n; l++) {
			float dv = nb_ldf(t, x, j + l) - mu;
			float dyh = nb_ldf(t, dy, j + l) * nb_ldf(t, p->gain, j + l);
			v[l] += dv * dv;
			b[l] += dyh;
			e[l] += dyh * dv;
		}
		vs = nb_lanes_f(v);
		sdy = nb_lanes_f(b);
		sdot = nb_lanes_f(e);
		if (!(fabsf(sum) <= FLT_MAX) || !(vs <= FLT_MAX) || !(fabsf(sdy) <= FLT_MAX) ||
		    !(fabsf(sdot) <= FLT_MAX) ||
		    (vs < NB_TINY_F32 && eps * (float)n < NB_TINY_F32)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F32, dg, db);
			continue;
		}
		var = vs / (float)n;
		rho = sqrtf(var);
		if (p->conv.eps_mode == NB_EPS_INSIDE) {
			r = 1.0f / sqrtf(var + eps);
			q = 1.0f;
		} else {
			r = 1.0f / (rho + eps);
			q = rho > 0.0f ? 1.0f + eps / rho : 0.0f;
		}
		if (db)
			nb_ln_bwd_write_f(p, t, x, dy, dx, mu, r, sdy / (float)n,
					  q * (sdot * r) / (float)n, dg, db, true);
		else
			nb_ln_bwd_write_f(p, t, x, dy, dx, mu, r, sdy / (float)n,
					  q * (sdot * r) / (float)n, dg, NULL, false);
	}
}

/* ---- LayerNorm, double accumulation (f64) ---- */

NB_PORTABLE_INLINE void nb_ln_bwd_write_d(const struct nb_problem *p, enum nb_dtype t,
					  const void *x, const void *dy, void *dx,
					  double mu, double r, double mdy, double coef,
					  double *restrict dg, double *restrict db, bool has_db)
{
	for (size_t j = 0; j < p->n; j++) {
		double dyj = nb_ldd(t, dy, j);
		double xh = (nb_ldd(t, x, j) - mu) * r;
		double dyh = dyj * nb_ldd(t, p->gain, j);

		nb_std(t, dx, j, r * ((dyh - mdy) - xh * coef));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
}

NB_PORTABLE_INLINE void nb_ln_bwd_d(const struct nb_problem *p, enum nb_dtype t,
				    size_t row_begin, size_t row_end,
				    void *dgain_part, void *dbias_part)
{
	size_t n = p->n;
	size_t stride = n * nb_pt_size(t);
	double eps = p->conv.eps;
	double *dg = dgain_part, *db = dbias_part;

	nb_zero_parts_d(dg, db, n);
	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		const unsigned char *dy = (const unsigned char *)p->dy + i * stride;
		unsigned char *dx = (unsigned char *)p->dx + i * stride;
		double a[NB_LANES] = { 0 }, v[NB_LANES] = { 0 }, b[NB_LANES] = { 0 };
		double e[NB_LANES] = { 0 };
		double sum, mu, vs, sdy, sdot, var, rho, r, q;
		size_t j = 0;

		for (; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				a[l] += nb_ldd(t, x, j + l);
		for (size_t l = 0; j + l < n; l++)
			a[l] += nb_ldd(t, x, j + l);
		sum = nb_lanes_d(a);
		mu = sum / (double)n;
		for (j = 0; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				double dv = nb_ldd(t, x, j + l) - mu;
				double dyh = nb_ldd(t, dy, j + l) * nb_ldd(t, p->gain, j + l);
				v[l] += dv * dv;
				b[l] += dyh;
				e[l] += dyh * dv;
			}
		for (size_t l = 0; j + l < n; l++) {
			double dv = nb_ldd(t, x, j + l) - mu;
			double dyh = nb_ldd(t, dy, j + l) * nb_ldd(t, p->gain, j + l);
			v[l] += dv * dv;
			b[l] += dyh;
			e[l] += dyh * dv;
		}
		vs = nb_lanes_d(v);
		sdy = nb_lanes_d(b);
		sdot = nb_lanes_d(e);
		if (!(fabs(sum) <= DBL_MAX) || !(vs <= DBL_MAX) || !(fabs(sdy) <= DBL_MAX) ||
		    !(fabs(sdot) <= DBL_MAX) ||
		    (vs < NB_TINY_F64 && eps * (double)n < NB_TINY_F64)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F64, dg, db);
			continue;
		}
		var = vs / (double)n;
		rho = sqrt(var);
		if (p->conv.eps_mode == NB_EPS_INSIDE) {
			r = 1.0 / sqrt(var + eps);
			q = 1.0;
		} else {
			r = 1.0 / (rho + eps);
			q = rho > 0.0 ? 1.0 + eps / rho : 0.0;
		}
		if (db)
			nb_ln_bwd_write_d(p, t, x, dy, dx, mu, r, sdy / (double)n,
					  q * (sdot * r) / (double)n, dg, db, true);
		else
			nb_ln_bwd_write_d(p, t, x, dy, dx, mu, r, sdy / (double)n,
					  q * (sdot * r) / (double)n, dg, NULL, false);
	}
}

/* ---- registry entry points ---- */

#define NB_BWD_ENTRY(fn, body) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		body; \
	}

NB_BWD_ENTRY(nb_layernorm_bwd_f32_portable,
	     nb_ln_bwd_f(p, NB_DTYPE_F32, row_begin, row_end, dgain_part, dbias_part))
NB_BWD_ENTRY(nb_layernorm_bwd_f64_portable,
	     nb_ln_bwd_d(p, NB_DTYPE_F64, row_begin, row_end, dgain_part, dbias_part))
NB_BWD_ENTRY(nb_layernorm_bwd_f16_portable,
	     nb_ln_bwd_f(p, NB_DTYPE_F16, row_begin, row_end, dgain_part, dbias_part))
NB_BWD_ENTRY(nb_layernorm_bwd_bf16_portable,
	     nb_ln_bwd_f(p, NB_DTYPE_BF16, row_begin, row_end, dgain_part, dbias_part))

#define NB_RMS_BWD_ENTRIES(name, variant) \
	NB_BWD_ENTRY(nb_##name##_bwd_f32_portable, \
		     nb_rms_bwd_f(p, NB_DTYPE_F32, variant, row_begin, row_end, \
				  dgain_part, dbias_part)) \
	NB_BWD_ENTRY(nb_##name##_bwd_f64_portable, \
		     nb_rms_bwd_d(p, NB_DTYPE_F64, variant, row_begin, row_end, \
				  dgain_part, dbias_part)) \
	NB_BWD_ENTRY(nb_##name##_bwd_f16_portable, \
		     nb_rms_bwd_f(p, NB_DTYPE_F16, variant, row_begin, row_end, \
				  dgain_part, dbias_part)) \
	NB_BWD_ENTRY(nb_##name##_bwd_bf16_portable, \
		     nb_rms_bwd_f(p, NB_DTYPE_BF16, variant, row_begin, row_end, \
				  dgain_part, dbias_part))

NB_RMS_BWD_ENTRIES(rmsnorm, NB_VARIANT_RMSNORM)
NB_RMS_BWD_ENTRIES(prmsnorm, NB_VARIANT_PRMSNORM)
NB_RMS_BWD_ENTRIES(crmsnorm, NB_VARIANT_CRMSNORM)
