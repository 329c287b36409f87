/* NEON backward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm for f32,
 * bf16 and f16 storage with f32 accumulation: dx, and the partial sums
 * dgain = sum dy * xhat and dbias = sum dy (f32) over the given rows (SPEC
 * §1, the portable kernels' semantics: kernels/portable/backward_tmpl.h,
 * kernels/avx2/avx2_bwd.c). */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "kernels/neon must be compiled for arm64 with the NEON flags of the Makefile (NEON_FLAGS)"
#endif

#include "kernels/nb_kernels.h"
#include "kernels/neon/nb_neon.h"

/*
 * The per-row driver (statistics, the portable fallback, r and the
 * correction coefficient; the formulas per variant) is shared with the SVE
 * kernels: kernels/neon/nb_arm_bwd_rows.h. This file gives it its two NEON
 * loops. Passes: the sums (LayerNorm: the mean first), then one pass writing
 * dx and adding dy * xhat and dy to the partials, in row order, so
 * dgain/dbias do not depend on the thread count. Sums: four 4-lane
 * accumulators, element j to accumulator (j / 4) mod 4, the last vectors to
 * the first, the tail (zeros in the missing lanes) to the second, then a
 * fixed reduction.
 */

#define NB_UNROLL ((size_t)4 * NB_NEON_LANES)

NB_NEON_INLINE float nb_reduce4(float32x4_t a0, float32x4_t a1, float32x4_t a2,
				float32x4_t a3)
{
	return nb_neon_hsum(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
}

/* x[j..j+3] of dtype t (the rem first elements when rem < 4, zeros after)
 * as f32 */
NB_NEON_INLINE float32x4_t nb_ld(enum nb_dtype t, const void *x, size_t j, size_t rem)
{
	return rem >= NB_NEON_LANES ? nb_neon_load(t, x, j) : nb_neon_load_tail(t, x, j, rem);
}

/* The sums of one row over [j0, j1): with c the centre (LayerNorm's mu_hi,
 * else 0) and xc = x - c (0 past the row): s[0] += xc, s[1] += xc^2,
 * s[2] += dyh, s[3] += dyh * xc; only those in `what` (bit i: s[i]). */
NB_NEON_INLINE void nb_row_sums(enum nb_dtype t, const void *x, const void *dy,
				const void *g, size_t j0, size_t j1, float c, unsigned what,
				float s[4])
{
	float32x4_t z = vdupq_n_f32(0.0f), vc = vdupq_n_f32(c);
	float32x4_t a[4][4] = { { z, z, z, z }, { z, z, z, z }, { z, z, z, z }, { z, z, z, z } };
	size_t j = j0;

#define NB_BSTEP(acc, jj, rem) \
	do { \
		float32x4_t xc_ = vsubq_f32(nb_ld(t, x, jj, rem), vc); \
		if ((rem) < NB_NEON_LANES) \
			xc_ = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(xc_), \
				vcltq_u32(vld1q_u32(nb_lane_idx), vdupq_n_u32((uint32_t)(rem))))); \
		if (what & 1) \
			a[0][acc] = vaddq_f32(a[0][acc], xc_); \
		if (what & 2) \
			a[1][acc] = vfmaq_f32(a[1][acc], xc_, xc_); \
		if (what & 12) { \
			float32x4_t dyh_ = vmulq_f32(nb_ld(t, dy, jj, rem), nb_ld(t, g, jj, rem)); \
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
NB_NEON_INLINE void nb_write(enum nb_dtype t, const void *x, const void *dy, const void *g,
			     void *dx, float *dg, float *db, size_t j0, size_t j1, float c,
			     float mlr, float r, float mdy, float shat, float coef)
{
	float32x4_t vc = vdupq_n_f32(c), vmlr = vdupq_n_f32(-mlr), vr = vdupq_n_f32(r);
	float32x4_t vmdy = vdupq_n_f32(mdy), vshat = vdupq_n_f32(shat);
	float32x4_t vcoef = vdupq_n_f32(coef);

	for (size_t j = j0; j < j1; j += NB_NEON_LANES) {
		size_t rem = j1 - j;
		float32x4_t vdy = nb_ld(t, dy, j, rem);
		float32x4_t xh = vfmaq_f32(vmlr, vsubq_f32(nb_ld(t, x, j, rem), vc), vr);
		float32x4_t dyh = vmulq_f32(vdy, nb_ld(t, g, j, rem));
		float32x4_t out = vmulq_f32(vr, vsubq_f32(vsubq_f32(dyh, vmdy),
							 vmulq_f32(vaddq_f32(xh, vshat), vcoef)));
		float32x4_t vdg = vfmaq_f32(nb_ld(NB_DTYPE_F32, dg, j, rem), vdy, xh);

		if (rem >= NB_NEON_LANES) {
			nb_neon_store(t, dx, j, out);
			vst1q_f32(dg + j, vdg);
			if (db)
				vst1q_f32(db + j, vaddq_f32(vld1q_f32(db + j), vdy));
		} else {
			nb_neon_store_tail(t, dx, j, out, rem);
			nb_neon_store_tail(NB_DTYPE_F32, dg, j, vdg, rem);
			if (db)
				nb_neon_store_tail(NB_DTYPE_F32, db, j,
						   vaddq_f32(nb_ld(NB_DTYPE_F32, db, j, rem), vdy),
						   rem);
		}
	}
}

#include "kernels/neon/nb_arm_bwd_rows.h"

/* LayerNorm backward, f32; 3 passes over x (shifted sum; sums; write). */
NB_ARM_BWD_KERNEL(nb_layernorm_bwd_f32_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_F32)
/* RMSNorm backward, f32; 2 passes. */
NB_ARM_BWD_KERNEL(nb_rmsnorm_bwd_f32_neon, NB_VARIANT_RMSNORM, NB_DTYPE_F32)
/* pRMSNorm backward, f32; 2 passes (r and the correction from x[0, k)). */
NB_ARM_BWD_KERNEL(nb_prmsnorm_bwd_f32_neon, NB_VARIANT_PRMSNORM, NB_DTYPE_F32)
/* CRMSNorm backward, f32; 2 passes. */
NB_ARM_BWD_KERNEL(nb_crmsnorm_bwd_f32_neon, NB_VARIANT_CRMSNORM, NB_DTYPE_F32)

/* The same for bf16 and f16 storage: x, dy, g loaded and converted to f32
 * exactly, f32 sums, dx rounded to nearest even on store (the scalar
 * converters' bits), dgain/dbias partials in f32 (nb_grad_dtype). */
NB_ARM_BWD_KERNEL(nb_layernorm_bwd_bf16_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_layernorm_bwd_f16_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_F16)
NB_ARM_BWD_KERNEL(nb_rmsnorm_bwd_bf16_neon, NB_VARIANT_RMSNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_rmsnorm_bwd_f16_neon, NB_VARIANT_RMSNORM, NB_DTYPE_F16)
NB_ARM_BWD_KERNEL(nb_prmsnorm_bwd_bf16_neon, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_prmsnorm_bwd_f16_neon, NB_VARIANT_PRMSNORM, NB_DTYPE_F16)
NB_ARM_BWD_KERNEL(nb_crmsnorm_bwd_bf16_neon, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_crmsnorm_bwd_f16_neon, NB_VARIANT_CRMSNORM, NB_DTYPE_F16)
