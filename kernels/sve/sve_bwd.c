/* SVE backward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm for f32,
 * bf16 and f16 storage with f32 accumulation, vector-length agnostic: dx,
 * and the partial sums dgain = sum dy * xhat and dbias = sum dy (f32) over
 * the given rows (SPEC §1, the portable kernels' semantics:
 * kernels/portable/backward_tmpl.h; the same contract as the NEON ones,
 * kernels/neon/neon_bwd.c). */
#if !defined(__aarch64__) || !defined(__ARM_FEATURE_SVE)
#error "kernels/sve must be compiled for arm64 with the SVE flags of the Makefile (SVE_FLAGS)"
#endif

#include "kernels/nb_kernels.h"
#include "kernels/sve/nb_sve.h"

/*
 * The per-row driver (statistics, the portable scaled fallback for rows
 * with non-finite or underflowed statistics, r and the correction
 * coefficient; the formulas per variant) is the NEON kernels' one,
 * kernels/neon/nb_arm_bwd_rows.h; this file gives it its two SVE loops
 * (VL = svcntw() f32 lanes, 4 at 128 bits to 64 at 2048 bits):
 *   sums   four VL-lane accumulators per sum, element j to lane j mod VL
 *          of accumulator (j / VL) mod 4 while whole groups of 4 vectors
 *          last; the remaining vectors (the last one partial, under a
 *          WHILELT predicate: the missing lanes are neither loaded nor
 *          added, merging forms) go to the first; then (a0 + a1) + (a2 +
 *          a3) and the lanes by FADDV. Products by explicit FMA (FMLA).
 *   write  one predicated pass: dx = r ((dyh - mdy) - (xhat + shat) coef),
 *          xhat = fma(x - c, r, -(mu_lo r)), dgain += dy xhat (FMA),
 *          dbias += dy; ordinary stores.
 * Dependence on the vector length: the row sums (and so r, mu and every
 * output of the row) DO depend on VL, for the reasons of kernels/sve/
 * sve_fwd.c (which elements share a lane and the reduction tree change
 * with it); acceptable because the bounds verify/ applies hold for any
 * summation order of the n terms and check-arm64 runs them at 128, 256,
 * 512 and 2048 bits, VL never changes within a process, and nothing
 * depends on the thread count: one thread sums a row, and the partials
 * are added per element in row order over the driver's fixed chunks.
 * dx must not alias x or dy (the registry says so: in-place not allowed).
 */

/* The sums of one row over [j0, j1) (see kernels/neon/nb_arm_bwd_rows.h):
 * xc = x - c; s[0] = sum xc, s[1] = sum xc^2, s[2] = sum dyh, s[3] = sum
 * dyh xc; only those in `what` (bit i: s[i]). */
NB_SVE_INLINE void nb_row_sums(enum nb_dtype t, const void *x, const void *dy,
			       const void *g, size_t j0, size_t j1, float c, unsigned what,
			       float s[4])
{
	size_t vl = svcntw(), j = j0;
	svbool_t all = svptrue_b32();
	svfloat32_t z = svdup_n_f32(0.0f), vc = svdup_n_f32(c);
	/* sizeless SVE types cannot form arrays: per sum (x, xx, d, dx) and
	 * accumulator (0-3) one variable */
	svfloat32_t x0 = z, x1 = z, x2 = z, x3 = z, xx0 = z, xx1 = z, xx2 = z, xx3 = z;
	svfloat32_t d0 = z, d1 = z, d2 = z, d3 = z, dx0 = z, dx1 = z, dx2 = z, dx3 = z;

#define NB_BSTEP(a, pg, jj) \
	do { \
		svfloat32_t xc_ = svsub_f32_x(pg, nb_sve_load(t, pg, x, jj), vc); \
		if (what & 1) \
			x##a = svadd_f32_m(pg, x##a, xc_); \
		if (what & 2) \
			xx##a = svmla_f32_m(pg, xx##a, xc_, xc_); \
		if (what & 12) { \
			svfloat32_t dyh_ = svmul_f32_x(pg, nb_sve_load(t, pg, dy, jj), \
						       nb_sve_load(t, pg, g, jj)); \
			if (what & 4) \
				d##a = svadd_f32_m(pg, d##a, dyh_); \
			if (what & 8) \
				dx##a = svmla_f32_m(pg, dx##a, dyh_, xc_); \
		} \
	} while (0)

	for (; j + 4 * vl <= j1; j += 4 * vl) {
		NB_BSTEP(0, all, j);
		NB_BSTEP(1, all, j + vl);
		NB_BSTEP(2, all, j + 2 * vl);
		NB_BSTEP(3, all, j + 3 * vl);
	}
	for (; j < j1; j += vl) {
		svbool_t pg = svwhilelt_b32_u64(j, j1);

		NB_BSTEP(0, pg, j);
	}
#undef NB_BSTEP
	s[0] = nb_sve_reduce4(x0, x1, x2, x3);
	s[1] = nb_sve_reduce4(xx0, xx1, xx2, xx3);
	s[2] = nb_sve_reduce4(d0, d1, d2, d3);
	s[3] = nb_sve_reduce4(dx0, dx1, dx2, dx3);
}

/* dx over [j0, j1) = r * ((dyh - mdy) - (xhat + shat) * coef), xhat =
 * fma(x - c, r, -mlr) (mlr = mu_lo r, 0 for the RMS family); dg += dy *
 * xhat, db += dy (db may be NULL). */
NB_SVE_INLINE void nb_write(enum nb_dtype t, const void *x, const void *dy, const void *g,
			    void *dx, float *dg, float *db, size_t j0, size_t j1, float c,
			    float mlr, float r, float mdy, float shat, float coef)
{
	size_t vl = svcntw();
	svfloat32_t vc = svdup_n_f32(c), vmlr = svdup_n_f32(-mlr), vr = svdup_n_f32(r);
	svfloat32_t vmdy = svdup_n_f32(mdy), vshat = svdup_n_f32(shat);
	svfloat32_t vcoef = svdup_n_f32(coef);

	for (size_t j = j0; j < j1; j += vl) {
		svbool_t pg = svwhilelt_b32_u64(j, j1);
		svfloat32_t vdy = nb_sve_load(t, pg, dy, j);
		svfloat32_t xh = svmla_f32_x(pg, vmlr, svsub_f32_x(pg, nb_sve_load(t, pg, x, j), vc),
					     vr);
		svfloat32_t dyh = svmul_f32_x(pg, vdy, nb_sve_load(t, pg, g, j));
		svfloat32_t corr = svmul_f32_x(pg, svadd_f32_x(pg, xh, vshat), vcoef);
		svfloat32_t out = svmul_f32_x(pg, vr, svsub_f32_x(pg, svsub_f32_x(pg, dyh, vmdy),
								    corr));

		nb_sve_store(t, pg, dx, j, out);
		svst1_f32(pg, dg + j, svmla_f32_x(pg, svld1_f32(pg, dg + j), vdy, xh));
		if (db)
			svst1_f32(pg, db + j, svadd_f32_x(pg, svld1_f32(pg, db + j), vdy));
	}
}

#include "kernels/neon/nb_arm_bwd_rows.h"

/* LayerNorm backward, f32; 3 passes over x (shifted sum; sums; write). */
NB_ARM_BWD_KERNEL(nb_layernorm_bwd_f32_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_F32)
/* RMSNorm backward, f32; 2 passes. */
NB_ARM_BWD_KERNEL(nb_rmsnorm_bwd_f32_sve, NB_VARIANT_RMSNORM, NB_DTYPE_F32)
/* pRMSNorm backward, f32; 2 passes (r and the correction from x[0, k)). */
NB_ARM_BWD_KERNEL(nb_prmsnorm_bwd_f32_sve, NB_VARIANT_PRMSNORM, NB_DTYPE_F32)
/* CRMSNorm backward, f32; 2 passes. */
NB_ARM_BWD_KERNEL(nb_crmsnorm_bwd_f32_sve, NB_VARIANT_CRMSNORM, NB_DTYPE_F32)

/* The same for bf16 and f16 storage: x, dy, g loaded and converted to f32
 * exactly, f32 sums, dx rounded to nearest even on store (the scalar
 * converters' bits), dgain/dbias partials in f32 (nb_grad_dtype). */
NB_ARM_BWD_KERNEL(nb_layernorm_bwd_bf16_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_layernorm_bwd_f16_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_F16)
NB_ARM_BWD_KERNEL(nb_rmsnorm_bwd_bf16_sve, NB_VARIANT_RMSNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_rmsnorm_bwd_f16_sve, NB_VARIANT_RMSNORM, NB_DTYPE_F16)
NB_ARM_BWD_KERNEL(nb_prmsnorm_bwd_bf16_sve, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_prmsnorm_bwd_f16_sve, NB_VARIANT_PRMSNORM, NB_DTYPE_F16)
NB_ARM_BWD_KERNEL(nb_crmsnorm_bwd_bf16_sve, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16)
NB_ARM_BWD_KERNEL(nb_crmsnorm_bwd_f16_sve, NB_VARIANT_CRMSNORM, NB_DTYPE_F16)
