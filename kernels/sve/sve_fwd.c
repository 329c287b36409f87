/* SVE forward kernels of LayerNorm (two-pass and Welford), RMSNorm, pRMSNorm and
 * CRMSNorm for f32, bf16 and f16 storage, all accumulating in f32,
 * vector-length agnostic (SPEC §1 semantics, the same as the portable,
 * x86 and NEON kernels'; registry lines in the arm64 section of
 * kernels/registry.def). */
#if !defined(__aarch64__) || !defined(__ARM_FEATURE_SVE)
#error "kernels/sve must be compiled for arm64 with the SVE flags of the Makefile (SVE_FLAGS)"
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/nb_kernels.h"
#include "kernels/nb_welford.h"
#include "kernels/sve/nb_sve.h"

/*
 * Shared shape of every kernel here, per row (VL = svcntw() f32 lanes, 4
 * at 128 bits to 64 at 2048 bits):
 *   sums   four independent VL-lane f32 accumulators fed by explicit FMA;
 *          element j goes to lane j mod VL of accumulator (j / VL) mod 4 of
 *          the unrolled loop; the last vectors (the final one partial,
 *          under a WHILELT predicate: the missing lanes are neither loaded
 *          nor added) go to the first; then the four are added pairwise
 *          and the lanes by FADDV (a fixed tree).
 *   Dependence on the vector length: the row sums DO depend on VL (which
 *          elements share a lane, and the reduction tree, change with it),
 *          so the same row can round differently on a 128-bit and on a
 *          512-bit machine. That is acceptable because (1) the accuracy
 *          bounds the tests and `normbench verify` apply (verify/) are
 *          derived for any summation order of n terms, and check-arm64
 *          runs them at 128, 256, 512 and 2048 bits; (2) VL is fixed for
 *          a process on a given machine (we never change it), so results
 *          are reproducible there; (3) they never depend on the thread
 *          count: a row is summed by one thread, in the order above.
 *   LayerNorm  the mean scheme of kernels/nb_kernels.h (derivation and
 *          bounds: docs/verification.md): c = x_0, pass 1 sums x - c and
 *          mu_hi = c + that / n; pass 2 sums t = x - mu_hi and t^2
 *          together, mu_lo = S1 / n, M2 = max(0, S2 - S1 mu_lo)
 *          (nb_mean_residual_f; never E[x^2] - mu^2), var = M2 / n; write
 *          fma(x - mu_hi, r, -(mu_lo r)) * g (+ b): accurate on rows whose
 *          |mean| / std reaches 1e6;
 *   Welford LayerNorm  one statistics pass over v = x - c, c = x_0: 4 x VL
 *          lane states (element j to lane j mod 4VL while whole groups of 4
 *          vectors last), each Welford's plain update, the rest (< 4 VL
 *          elements) one scalar state, merged by Chan's formula in a fixed
 *          tree (kernels/nb_welford.h): it too depends on VL, for the
 *          reasons above; c + mean split exactly into mu_hi + mu_lo by
 *          nb_two_sum_f, var = M2 / n, and the same write pass;
 *   check  a non-finite sum or scale (a NaN/Inf in the row, or finite values
 *          whose squares or sums overflow f32), or squares that underflowed
 *          with a tiny eps (NB_TINY), sends that one row to the portable
 *          kernel, whose (rescaled) result it then is;
 *   scale  y = (x * r) * g (+ b, by FMA; LayerNorm: the write above), one
 *          predicated pass, 16-bit
 *          types rounded to nearest even exactly as the scalar converters;
 *          ordinary stores (docs/arm64.md).
 * y may alias x exactly (in place): every pass reads element j before the
 * scale pass writes element j, and nothing else is read after.
 */

/* see kernels/avx2/avx2_fwd.c: the portable kernels' underflow guard */
#define NB_TINY 0x1p-80f

/*
 * The one loop of the statistics passes: over x[0, len), v = x - c (c = 0:
 * v = x); s += v (when want_s) and q += v * v (when want_q). Inactive lanes
 * of the last, predicated vector keep their accumulators (merging forms).
 */
NB_SVE_INLINE void nb_stats_pass(enum nb_dtype t, const void *x, size_t len, float c,
				 bool center, bool want_s, bool want_q, float *s_out,
				 float *q_out)
{
	size_t vl = svcntw();
	svbool_t all = svptrue_b32();
	svfloat32_t z = svdup_n_f32(0.0f);
	svfloat32_t s0 = z, s1 = z, s2 = z, s3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
	svfloat32_t vc = svdup_n_f32(c);
	size_t j = 0;

#define NB_STEP(s, q, pg, jj) \
	do { \
		svfloat32_t v_ = nb_sve_load(t, pg, x, jj); \
		if (center) \
			v_ = svsub_f32_x(pg, v_, vc); \
		if (want_s) \
			s = svadd_f32_m(pg, s, v_); \
		if (want_q) \
			q = svmla_f32_m(pg, q, v_, v_); \
	} while (0)

	for (; j + 4 * vl <= len; j += 4 * vl) {
		NB_STEP(s0, q0, all, j);
		NB_STEP(s1, q1, all, j + vl);
		NB_STEP(s2, q2, all, j + 2 * vl);
		NB_STEP(s3, q3, all, j + 3 * vl);
	}
	for (; j < len; j += vl) {
		svbool_t pg = svwhilelt_b32_u64(j, len);

		NB_STEP(s0, q0, pg, j);
	}
#undef NB_STEP
	if (want_s)
		*s_out = nb_sve_reduce4(s0, s1, s2, s3);
	if (want_q)
		*q_out = nb_sve_reduce4(q0, q1, q2, q3);
}

/* x_0 as f32 (the shift c of the mean scheme) */
NB_SVE_INLINE float nb_first(enum nb_dtype t, const void *x)
{
	svbool_t one = svwhilelt_b32_u64(0, 1);

	return svlastb_f32(one, nb_sve_load(t, one, x, 0));
}

/* The Welford statistics of x[0, len) - c (see the head comment) into *w. */
NB_SVE_INLINE void nb_welford(enum nb_dtype t, const void *x, size_t len, float c,
			      struct nb_wstate *w)
{
	size_t vl = svcntw();
	svbool_t all = svptrue_b32();
	svfloat32_t z = svdup_n_f32(0.0f), vshift = svdup_n_f32(c);
	svfloat32_t u0 = z, u1 = z, u2 = z, u3 = z, q0 = z, q1 = z, q2 = z, q3 = z;
	/* 4 vectors of at most 64 lanes (2048 bits) */
	struct nb_wstate lanes[4 * 64];
	float ubuf[64], qbuf[64];
	struct nb_wstate tail = { 0.0f, 0.0f, 0.0f };
	float count = 0.0f;
	size_t j = 0;

#define NB_WSTEP(mean, m2, jj) \
	do { \
		svfloat32_t v_ = svsub_f32_x(all, nb_sve_load(t, all, x, jj), vshift); \
		svfloat32_t d_ = svsub_f32_x(all, v_, mean); \
		mean = svadd_f32_x(all, mean, svdiv_f32_x(all, d_, vc)); \
		m2 = svadd_f32_x(all, m2, svmul_f32_x(all, d_, svsub_f32_x(all, v_, mean))); \
	} while (0)

	for (; j + 4 * vl <= len; j += 4 * vl) {
		svfloat32_t vc;

		count += 1.0f;
		vc = svdup_n_f32(count);
		NB_WSTEP(u0, q0, j);
		NB_WSTEP(u1, q1, j + vl);
		NB_WSTEP(u2, q2, j + 2 * vl);
		NB_WSTEP(u3, q3, j + 3 * vl);
	}
#undef NB_WSTEP
#define NB_WLANES(a, mean, m2) \
	do { \
		svst1_f32(all, ubuf, mean); \
		svst1_f32(all, qbuf, m2); \
		for (size_t k = 0; k < vl; k++) \
			lanes[(a) * vl + k] = (struct nb_wstate){ count, ubuf[k], qbuf[k] }; \
	} while (0)
	NB_WLANES(0, u0, q0);
	NB_WLANES(1, u1, q1);
	NB_WLANES(2, u2, q2);
	NB_WLANES(3, u3, q3);
#undef NB_WLANES
	/* lanes[a * vl + k] holds elements = a * vl + k mod 4 vl: the tree
	 * merges lanes in element order */
	nb_wstate_tree(lanes, 4 * vl);
	for (; j < len; j++)
		nb_wstate_add(&tail, nb_first(t, (const char *)x + j * nb_sve_elem_size(t)) - c);
	nb_wstate_merge(&lanes[0], &tail);
	*w = lanes[0];
}

/* The write pass: y[0, len) = fma(x - mu_hi, r, -mlr) * g (+ b) (LayerNorm,
 * mlr = mu_lo r), else (x * r) * g (+ b). */
NB_SVE_INLINE void nb_scale_pass(enum nb_dtype t, const void *x, const void *g,
				 const void *b, void *y, size_t len, float mu_hi,
				 float mlr, float r, bool center, bool bias)
{
	size_t vl = svcntw();
	svfloat32_t vhi = svdup_n_f32(mu_hi), vmlr = svdup_n_f32(-mlr);
	svfloat32_t vr = svdup_n_f32(r);

	for (size_t j = 0; j < len; j += vl) {
		svbool_t pg = svwhilelt_b32_u64(j, len);
		svfloat32_t v = nb_sve_load(t, pg, x, j);

		if (center)
			v = svmla_f32_x(pg, vmlr, svsub_f32_x(pg, v, vhi), vr);
		else
			v = svmul_f32_x(pg, v, vr);
		if (bias)
			v = svmla_f32_x(pg, nb_sve_load(t, pg, b, j), v, nb_sve_load(t, pg, g, j));
		else
			v = svmul_f32_x(pg, v, nb_sve_load(t, pg, g, j));
		nb_sve_store(t, pg, y, j, v);
	}
}

/* mu_hi, mlr = mu_lo r (LayerNorm, else 0) and r of one row; false when a
 * statistic is not finite or underflowed (see NB_TINY), and the row must go
 * to the portable kernel. */
NB_SVE_INLINE bool nb_row_stats(const struct nb_problem *p, enum nb_dtype t,
				enum nb_variant v, bool welford, const void *x, float *mu_hi,
				float *mlr, float *r)
{
	float eps = (float)p->conv.eps;
	float total = 0.0f, div, ms, s = 0.0f, s2 = 0.0f, mu_lo = 0.0f;

	*mu_hi = 0.0f;
	*mlr = 0.0f;
	if (welford) {
		struct nb_wstate w;
		float c = nb_first(t, x);

		nb_welford(t, x, p->n, c, &w);
		nb_two_sum_f(c, w.mean, mu_hi, &mu_lo);
		if (!isfinite(*mu_hi) || !isfinite(mu_lo))
			return false;
		total = w.m2;
		div = (float)p->n;
		if (!(total <= FLT_MAX) || (total < NB_TINY && eps * div < NB_TINY))
			return false;
		/* M2 is a sum of products d * d' that may round below 0 */
		ms = total > 0.0f ? total / div : 0.0f;
		*r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
						       : 1.0f / (sqrtf(ms) + eps);
		*mlr = mu_lo * *r;
		return isfinite(*r) && isfinite(*mlr);
	}
	switch (v) {
	case NB_VARIANT_LAYERNORM: {
		/* the mean scheme (kernels/nb_kernels.h) */
		float c = nb_first(t, x);

		div = (float)p->n;
		nb_stats_pass(t, x, p->n, c, true, true, false, &s, NULL);
		*mu_hi = c + s / div;
		if (!isfinite(*mu_hi))
			return false;
		nb_stats_pass(t, x, p->n, *mu_hi, true, true, true, &s, &s2);
		total = nb_mean_residual_f(s, s2, div, &mu_lo);
		break;
	}
	case NB_VARIANT_PRMSNORM:
		nb_stats_pass(t, x, p->k, 0.0f, false, false, true, NULL, &total);
		div = (float)p->k;
		break;
	case NB_VARIANT_CRMSNORM:
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		nb_stats_pass(t, x, p->n, 0.0f, false, true, true, &s, &total);
		total = fmaf(s, s, total);
		div = (float)p->d;
		break;
	default:
		nb_stats_pass(t, x, p->n, 0.0f, false, false, true, NULL, &total);
		div = (float)p->n;
		break;
	}
	if (!(total <= FLT_MAX) || !isfinite(mu_lo) ||
	    (total < NB_TINY && eps * div < NB_TINY))
		return false;
	ms = total / div;
	*r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
					       : 1.0f / (sqrtf(ms) + eps);
	*mlr = mu_lo * *r;
	return isfinite(*r) && isfinite(*mlr);
}

NB_SVE_INLINE void nb_fwd_rows(const struct nb_problem *p, size_t row_begin,
			       size_t row_end, enum nb_dtype t, enum nb_variant v,
			       bool welford, nb_rows_fn portable)
{
	size_t stride = p->n * nb_sve_elem_size(t);
	bool center = v == NB_VARIANT_LAYERNORM;

	for (size_t i = row_begin; i < row_end; i++) {
		const char *x = (const char *)p->x + i * stride;
		char *y = (char *)p->y + i * stride;
		float mu_hi, mlr, r;

		if (!nb_row_stats(p, t, v, welford, x, &mu_hi, &mlr, &r)) {
			portable(p, i, i + 1, NULL, NULL);
			continue;
		}
		if (center && p->bias)
			nb_scale_pass(t, x, p->gain, p->bias, y, p->n, mu_hi, mlr, r, true, true);
		else if (center)
			nb_scale_pass(t, x, p->gain, NULL, y, p->n, mu_hi, mlr, r, true, false);
		else if (p->bias)
			nb_scale_pass(t, x, p->gain, p->bias, y, p->n, 0.0f, 0.0f, r, false, true);
		else
			nb_scale_pass(t, x, p->gain, NULL, y, p->n, 0.0f, 0.0f, r, false, false);
	}
}

#define NB_FWD_KERNEL_ALGO(fn, variant, dtype, welford, portable) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		(void)dgain_part; \
		(void)dbias_part; \
		nb_fwd_rows(p, row_begin, row_end, dtype, variant, welford, portable); \
	}
#define NB_FWD_KERNEL(fn, variant, dtype, portable) \
	NB_FWD_KERNEL_ALGO(fn, variant, dtype, false, portable)

/* LayerNorm: y = g * (x - mu) * r (+ b), mu = mu_hi + mu_lo (the mean
 * scheme above), r = 1/sqrt(var + eps) (or 1/(sqrt(var) + eps)). 3 passes
 * over x (shifted sum; deviations and their squares; write). */
NB_FWD_KERNEL(nb_layernorm_fwd_f32_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
	      nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_bf16_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
	      nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_f16_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
	      nb_layernorm_fwd_f16_portable)

/* Welford LayerNorm: the same output from one shifted Welford statistics
 * pass; 2 passes over x. Rows it cannot do go to the portable two-pass
 * kernel of their dtype. */
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_f32_welford_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
		   true, nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_bf16_welford_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
		   true, nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_f16_welford_sve, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
		   true, nb_layernorm_fwd_f16_portable)

/* RMSNorm: y = g * x * r (+ b), r = 1/sqrt(sum x^2 / n + eps) (or
 * 1/(sqrt(.) + eps)). 2 passes over x. */
NB_FWD_KERNEL(nb_rmsnorm_fwd_f32_sve, NB_VARIANT_RMSNORM, NB_DTYPE_F32,
	      nb_rmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_bf16_sve, NB_VARIANT_RMSNORM, NB_DTYPE_BF16,
	      nb_rmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_f16_sve, NB_VARIANT_RMSNORM, NB_DTYPE_F16,
	      nb_rmsnorm_fwd_f16_portable)

/* pRMSNorm: as RMSNorm with r from the first k = p->k elements only. */
NB_FWD_KERNEL(nb_prmsnorm_fwd_f32_sve, NB_VARIANT_PRMSNORM, NB_DTYPE_F32,
	      nb_prmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_bf16_sve, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16,
	      nb_prmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_f16_sve, NB_VARIANT_PRMSNORM, NB_DTYPE_F16,
	      nb_prmsnorm_fwd_f16_portable)

/* CRMSNorm: rows of n = d-1 elements x'; s = sum x', r = 1/sqrt((sum x'^2
 * + s^2) / d + eps) (or 1/(sqrt(.) + eps)), y' = g' * x' * r (+ b'). */
NB_FWD_KERNEL(nb_crmsnorm_fwd_f32_sve, NB_VARIANT_CRMSNORM, NB_DTYPE_F32,
	      nb_crmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_bf16_sve, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16,
	      nb_crmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_f16_sve, NB_VARIANT_CRMSNORM, NB_DTYPE_F16,
	      nb_crmsnorm_fwd_f16_portable)
