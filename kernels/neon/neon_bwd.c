/* NEON backward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm in f32
 * with f32 accumulation: dx, and the partial sums dgain = sum dy * xhat and
 * dbias = sum dy over the given rows (SPEC §1, the portable kernels'
 * semantics: kernels/portable/backward_tmpl.h, kernels/avx2/avx2_bwd.c). */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "kernels/neon must be compiled for arm64 with the NEON flags of the Makefile (NEON_FLAGS)"
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>

#include "kernels/nb_kernels.h"
#include "kernels/neon/nb_neon.h"
#include "kernels/portable/nb_portable.h"

/*
 * Per row, with dyh = dy * g, xhat the normalized input, r the scale and
 * coef = q * (sum dyh xhat) / m (m: n, k for pRMSNorm, d for CRMSNorm; q = 1
 * for eps inside the root, (sqrt(ms) + eps) / sqrt(ms) outside, 0 at ms = 0):
 *   dx_j = r * ((dyh_j - mdy) - (xhat_j + shat) * coef)
 *   LayerNorm: the mean scheme of kernels/nb_kernels.h (docs/verification.md):
 *              c = x_0, mu_hi = c + sum (x - c) / n; t = x - mu_hi, mu_lo =
 *              S1 / n, M2 = max(0, S2 - S1 mu_lo) (S1 = sum t, S2 = sum t^2,
 *              nb_mean_residual_f), var = M2 / n; sum dyh (x - mu) = sum dyh
 *              t - mu_lo sum dyh; xhat = fma(t, r, -(mu_lo r)); mdy =
 *              mean(dyh), shat = 0
 *   RMSNorm:   xhat = x r, mdy = 0, shat = 0
 *   pRMSNorm:  r and the correction from x[0, k) only (dyh x summed over n)
 *   CRMSNorm:  shat = (sum x') r, m = d
 * Passes: the sums (LayerNorm: the mean first), then one pass writing dx and
 * adding dy * xhat and dy to the partials (which the call first zeroes), in
 * row order, so dgain/dbias do not depend on the thread count (the driver's
 * fixed chunks). Sums: four 4-lane accumulators, element j to accumulator
 * (j / 4) mod 4, the last vectors to the first, the tail (zeros in the
 * missing lanes) to the second, then a fixed reduction. A row whose sums
 * or scalars are not finite, or whose statistic underflowed with a tiny eps
 * (NB_TINY), goes to the portable scaled fallback, which adds its
 * contributions to the partials in the same row order.
 */

#define NB_UNROLL ((size_t)4 * NB_NEON_LANES)
#define NB_TINY 0x1p-80f

NB_NEON_INLINE float nb_reduce4(float32x4_t a0, float32x4_t a1, float32x4_t a2,
				float32x4_t a3)
{
	return nb_neon_hsum(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
}

/* x[j..j+3] (the rem first elements when rem < 4, zeros after) as f32 */
NB_NEON_INLINE float32x4_t nb_ld(const float *x, size_t j, size_t rem)
{
	return rem >= NB_NEON_LANES ? vld1q_f32(x + j) : nb_neon_load_tail(NB_DTYPE_F32, x, j, rem);
}

/* The sums of one row over [j0, j1): with c the centre (LayerNorm's mu_hi,
 * else 0) and xc = x - c (0 past the row): s[0] += xc, s[1] += xc^2,
 * s[2] += dyh, s[3] += dyh * xc; only those in `what` (bit i: s[i]). */
NB_NEON_INLINE void nb_row_sums(const float *x, const float *dy, const float *g, size_t j0,
				size_t j1, float c, unsigned what, float s[4])
{
	float32x4_t z = vdupq_n_f32(0.0f), vc = vdupq_n_f32(c);
	float32x4_t a[4][4] = { { z, z, z, z }, { z, z, z, z }, { z, z, z, z }, { z, z, z, z } };
	size_t j = j0;

#define NB_BSTEP(acc, jj, rem) \
	do { \
		float32x4_t xc_ = vsubq_f32(nb_ld(x, jj, rem), vc); \
		if ((rem) < NB_NEON_LANES) \
			xc_ = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(xc_), \
				vcltq_u32(vld1q_u32(nb_lane_idx), vdupq_n_u32((uint32_t)(rem))))); \
		if (what & 1) \
			a[0][acc] = vaddq_f32(a[0][acc], xc_); \
		if (what & 2) \
			a[1][acc] = vfmaq_f32(a[1][acc], xc_, xc_); \
		if (what & 12) { \
			float32x4_t dyh_ = vmulq_f32(nb_ld(dy, jj, rem), nb_ld(g, jj, rem)); \
			if (what & 4) \
				a[2][acc] = vaddq_f32(a[2][acc], dyh_); \
			if (what & 8) \
				a[3][acc] = vfmaq_f32(a[3][acc], dyh_, xc_); \
		} \
	} while (0)
	static const uint32_t nb_lane_idx[4] = { 0, 1, 2, 3 };

	for (; j + NB_UNROLL <= j1; j += NB_UNROLL) {
		NB_BSTEP(0, j, NB_NEON_LANES);
		NB_BSTEP(1, j + 4, NB_NEON_LANES);
		NB_BSTEP(2, j + 8, NB_NEON_LANES);
		NB_BSTEP(3, j + 12, NB_NEON_LANES);
	}
	for (; j + NB_NEON_LANES <= j1; j += NB_NEON_LANES)
		NB_BSTEP(0, j, NB_NEON_LANES);
	if (j < j1)
		NB_BSTEP(1, j, j1 - j);
#undef NB_BSTEP
	for (size_t i = 0; i < 4; i++)
		s[i] = nb_reduce4(a[i][0], a[i][1], a[i][2], a[i][3]);
}

/* dx over [j0, j1) = r * ((dyh - mdy) - (xhat + shat) * coef), xhat =
 * fma(x - c, r, -mlr) (mlr = mu_lo r, 0 for the RMS family); dg += dy *
 * xhat, db += dy (db may be NULL). */
NB_NEON_INLINE void nb_write(const float *x, const float *dy, const float *g, float *dx,
			     float *dg, float *db, size_t j0, size_t j1, float c, float mlr,
			     float r, float mdy, float shat, float coef)
{
	float32x4_t vc = vdupq_n_f32(c), vmlr = vdupq_n_f32(-mlr), vr = vdupq_n_f32(r);
	float32x4_t vmdy = vdupq_n_f32(mdy), vshat = vdupq_n_f32(shat);
	float32x4_t vcoef = vdupq_n_f32(coef);

	for (size_t j = j0; j < j1; j += NB_NEON_LANES) {
		size_t rem = j1 - j;
		float32x4_t vdy = nb_ld(dy, j, rem);
		float32x4_t xh = vfmaq_f32(vmlr, vsubq_f32(nb_ld(x, j, rem), vc), vr);
		float32x4_t dyh = vmulq_f32(vdy, nb_ld(g, j, rem));
		float32x4_t out = vmulq_f32(vr, vsubq_f32(vsubq_f32(dyh, vmdy),
							 vmulq_f32(vaddq_f32(xh, vshat), vcoef)));
		float32x4_t vdg = vfmaq_f32(nb_ld(dg, j, rem), vdy, xh);

		if (rem >= NB_NEON_LANES) {
			vst1q_f32(dx + j, out);
			vst1q_f32(dg + j, vdg);
			if (db)
				vst1q_f32(db + j, vaddq_f32(vld1q_f32(db + j), vdy));
		} else {
			nb_neon_store_tail(NB_DTYPE_F32, dx, j, out, rem);
			nb_neon_store_tail(NB_DTYPE_F32, dg, j, vdg, rem);
			if (db)
				nb_neon_store_tail(NB_DTYPE_F32, db, j,
						   vaddq_f32(nb_ld(db, j, rem), vdy), rem);
		}
	}
}

/* r and q from the statistic ms (as the portable kernels' bwd_r_q) */
NB_NEON_INLINE void nb_r_q(const struct nb_problem *p, float ms, float *r, float *q)
{
	float eps = (float)p->conv.eps, rho = sqrtf(ms);

	if (p->conv.eps_mode == NB_EPS_INSIDE) {
		*r = 1.0f / sqrtf(ms + eps);
		*q = 1.0f;
	} else {
		*r = 1.0f / (rho + eps);
		*q = rho > 0.0f ? 1.0f + eps / rho : 0.0f;
	}
}

NB_NEON_INLINE void nb_bwd_rows(const struct nb_problem *p, size_t row_begin, size_t row_end,
				float *dg, float *db, enum nb_variant v)
{
	size_t n = p->n;
	size_t nstat = v == NB_VARIANT_PRMSNORM ? p->k : n;
	float div = (float)(v == NB_VARIANT_PRMSNORM ? p->k
			    : v == NB_VARIANT_CRMSNORM ? p->d : n);
	float eps = (float)p->conv.eps;
	const float *g = p->gain;

	for (size_t j = 0; j < n; j++)
		dg[j] = 0.0f;
	if (db)
		for (size_t j = 0; j < n; j++)
			db[j] = 0.0f;
	for (size_t i = row_begin; i < row_end; i++) {
		const float *x = (const float *)p->x + i * n;
		const float *dy = (const float *)p->dy + i * n;
		float *dx = (float *)p->dx + i * n;
		float s[4], t[4], mu_hi = 0.0f, mu_lo = 0.0f, mdy = 0.0f, shat = 0.0f;
		float total, sdot, r, q;
		bool ok;

		if (v == NB_VARIANT_LAYERNORM) {
			/* the mean scheme (kernels/nb_kernels.h) */
			nb_row_sums(x, dy, g, 0, n, x[0], 1, s);
			mu_hi = x[0] + s[0] / (float)n;
			nb_row_sums(x, dy, g, 0, n, mu_hi, 15, s);
			total = nb_mean_residual_f(s[0], s[1], (float)n, &mu_lo);
			mdy = s[2] / (float)n;
			/* sum dyh (x - mu) */
			sdot = fmaf(-mu_lo, s[2], s[3]);
			ok = isfinite(mu_hi) && isfinite(mu_lo) && isfinite(s[2]) && isfinite(sdot);
		} else {
			/* x (and its sum for CRMSNorm) over [0, nstat); dyh x over n */
			nb_row_sums(x, dy, g, 0, nstat, 0.0f, v == NB_VARIANT_CRMSNORM ? 11 : 10, s);
			nb_row_sums(x, dy, g, nstat, n, 0.0f, 8, t);
			total = s[1];
			if (v == NB_VARIANT_CRMSNORM) {
				total = fmaf(s[0], s[0], total);
				shat = s[0];
			}
			sdot = nstat < n ? s[3] + t[3] : s[3];
			ok = isfinite(sdot) && isfinite(shat);
		}
		if (!ok || !(total <= FLT_MAX) || (total < NB_TINY && eps * div < NB_TINY)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F32, dg, db);
			continue;
		}
		nb_r_q(p, total / div, &r, &q);
		if (!isfinite(r) || !isfinite(mu_lo * r)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F32, dg, db);
			continue;
		}
		{
			float coef = q * (sdot * r) / div;

			shat *= r;
			nb_write(x, dy, g, dx, dg, db, 0, nstat, mu_hi, mu_lo * r, r, mdy, shat,
				 coef);
			if (nstat < n)
				nb_write(x, dy, g, dx, dg, db, nstat, n, 0.0f, 0.0f, r, 0.0f, 0.0f,
					 0.0f);
		}
	}
}

#define NB_BWD_KERNEL(fn, variant) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		nb_bwd_rows(p, row_begin, row_end, dgain_part, dbias_part, variant); \
	}

/* LayerNorm backward, f32; 3 passes over x (shifted sum; sums; write). */
NB_BWD_KERNEL(nb_layernorm_bwd_f32_neon, NB_VARIANT_LAYERNORM)
/* RMSNorm backward, f32; 2 passes. */
NB_BWD_KERNEL(nb_rmsnorm_bwd_f32_neon, NB_VARIANT_RMSNORM)
/* pRMSNorm backward, f32; 2 passes (r and the correction from x[0, k)). */
NB_BWD_KERNEL(nb_prmsnorm_bwd_f32_neon, NB_VARIANT_PRMSNORM)
/* CRMSNorm backward, f32; 2 passes. */
NB_BWD_KERNEL(nb_crmsnorm_bwd_f32_neon, NB_VARIANT_CRMSNORM)
