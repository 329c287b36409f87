/* NEON forward kernels of LayerNorm (two-pass and Welford), RMSNorm, pRMSNorm and
 * CRMSNorm for f32, bf16 and f16 storage, all accumulating in f32 (SPEC §1
 * semantics, the same as the portable and x86 kernels'; registry lines in
 * the arm64 section of kernels/registry.def). */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "kernels/neon must be compiled for arm64 with the NEON flags of the Makefile (NEON_FLAGS)"
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/nb_kernels.h"
#include "kernels/nb_welford.h"
#include "kernels/neon/nb_neon.h"

/*
 * Shared shape of every kernel here, per row:
 *   sums   four independent 4-lane f32 accumulators fed by explicit FMA;
 *          element j goes to accumulator (j / 4) mod 4 of the unrolled
 *          loop, the last full vectors to the first, the tail (< 4
 *          elements, loaded with zeros in the missing lanes) to the second;
 *          then a fixed reduction order, so a row's result depends on that
 *          row's length and values alone (never on the thread count);
 *   LayerNorm  the mean scheme of kernels/nb_kernels.h (derivation and
 *          bounds: docs/verification.md): c = x_0, pass 1 sums x - c and
 *          mu_hi = c + that / n; pass 2 sums t = x - mu_hi and t^2
 *          together, mu_lo = S1 / n, M2 = max(0, S2 - S1 mu_lo)
 *          (nb_mean_residual_f; never E[x^2] - mu^2), var = M2 / n; write
 *          fma(x - mu_hi, r, -(mu_lo r)) * g (+ b): accurate on rows whose
 *          |mean| / std reaches 1e6 (the shift keeps |mu| out of pass 1's
 *          error, so mu_lo stays far below sigma);
 *   Welford LayerNorm  one statistics pass over v = x - c, c = x_0: 16
 *          lane states (4 vectors of 4 lanes; element j to lane j mod 16),
 *          each Welford's plain update, the tail (< 16 elements) one scalar
 *          state, merged by Chan's formula in a fixed tree
 *          (kernels/nb_welford.h); c + mean split exactly into mu_hi +
 *          mu_lo by nb_two_sum_f, var = M2 / n, and the same write pass;
 *   check  a non-finite sum or scale (a NaN/Inf in the row, or finite values
 *          whose squares or sums overflow f32), or squares that underflowed
 *          with a tiny eps (NB_TINY), sends that one row to the portable
 *          kernel, whose (rescaled) result it then is;
 *   scale  y = (x * r) * g (+ b, by FMA; LayerNorm: the write above), one
 *          pass, 16-bit types rounded
 *          to nearest even exactly as the scalar converters.
 * Stores are ordinary: armv8 has a non-temporal store pair (STNP), but it
 * is only a hint and not measured here (docs/arm64.md); no software
 * prefetch (the x86 kernels' nb_pf): Arm cores prefetch sequential rows.
 * y may alias x exactly (in place): every pass reads element j before the
 * scale pass writes element j, and nothing else is read after.
 */

/* 4 accumulators of 4 lanes: 16 elements per unrolled iteration */
#define NB_UNROLL ((size_t)4 * NB_NEON_LANES)

/* see kernels/avx2/avx2_fwd.c: the portable kernels' underflow guard */
#define NB_TINY 0x1p-80f

NB_NEON_INLINE float nb_reduce4(float32x4_t a0, float32x4_t a1, float32x4_t a2,
				float32x4_t a3)
{
	return nb_neon_hsum(vaddq_f32(vaddq_f32(a0, a1), vaddq_f32(a2, a3)));
}

/* Lanes [0, rem) all ones, the others zero. */
NB_NEON_INLINE uint32x4_t nb_tail_mask(size_t rem)
{
	static const uint32_t idx[4] = { 0, 1, 2, 3 };

	return vcltq_u32(vld1q_u32(idx), vdupq_n_u32((uint32_t)rem));
}

/* x - c with the lanes [rem, 4) zero (a tail vector's lanes past the row
 * must stay 0, not -c) */
NB_NEON_INLINE float32x4_t nb_tail_centred(enum nb_dtype t, const void *x, size_t j,
					   size_t rem, float32x4_t vc)
{
	float32x4_t v = vsubq_f32(nb_neon_load_tail(t, x, j, rem), vc);

	return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(v), nb_tail_mask(rem)));
}

/* sum of x - c over x[0, len) (LayerNorm's shifted first pass, c = x_0) */
NB_NEON_INLINE float nb_sum(enum nb_dtype t, const void *x, size_t len, float c)
{
	float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
	float32x4_t vc = vdupq_n_f32(c);
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		a0 = vaddq_f32(a0, vsubq_f32(nb_neon_load(t, x, j), vc));
		a1 = vaddq_f32(a1, vsubq_f32(nb_neon_load(t, x, j + 4), vc));
		a2 = vaddq_f32(a2, vsubq_f32(nb_neon_load(t, x, j + 8), vc));
		a3 = vaddq_f32(a3, vsubq_f32(nb_neon_load(t, x, j + 12), vc));
	}
	for (; j + NB_NEON_LANES <= len; j += NB_NEON_LANES)
		a0 = vaddq_f32(a0, vsubq_f32(nb_neon_load(t, x, j), vc));
	if (j < len)
		a1 = vaddq_f32(a1, nb_tail_centred(t, x, j, len - j, vc));
	return nb_reduce4(a0, a1, a2, a3);
}

/* x_0 as f32 (the shift c of the mean scheme) */
NB_NEON_INLINE float nb_first(enum nb_dtype t, const void *x)
{
	return vgetq_lane_f32(nb_neon_load_tail(t, x, 0, 1), 0);
}

/* sum of x^2 over x[0, len) */
NB_NEON_INLINE float nb_sumsq(enum nb_dtype t, const void *x, size_t len)
{
	float32x4_t a0 = vdupq_n_f32(0.0f), a1 = a0, a2 = a0, a3 = a0;
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		float32x4_t v0 = nb_neon_load(t, x, j), v1 = nb_neon_load(t, x, j + 4);
		float32x4_t v2 = nb_neon_load(t, x, j + 8), v3 = nb_neon_load(t, x, j + 12);

		a0 = vfmaq_f32(a0, v0, v0);
		a1 = vfmaq_f32(a1, v1, v1);
		a2 = vfmaq_f32(a2, v2, v2);
		a3 = vfmaq_f32(a3, v3, v3);
	}
	for (; j + NB_NEON_LANES <= len; j += NB_NEON_LANES) {
		float32x4_t v = nb_neon_load(t, x, j);

		a0 = vfmaq_f32(a0, v, v);
	}
	if (j < len) {
		float32x4_t v = nb_neon_load_tail(t, x, j, len - j);

		a1 = vfmaq_f32(a1, v, v);
	}
	return nb_reduce4(a0, a1, a2, a3);
}

/* s + v and q + v * v (v = x, or x - c when the caller centred it) */
#define NB_SQ_STEP(s, q, v) \
	do { \
		float32x4_t v_ = (v); \
		s = vaddq_f32(s, v_); \
		q = vfmaq_f32(q, v_, v_); \
	} while (0)

/* sum of (x - c) and of (x - c)^2 over x[0, len) in one pass (LayerNorm's
 * deviation pass with c = mu_hi; CRMSNorm's joint pass with c = 0) */
NB_NEON_INLINE void nb_sum_sumsq(enum nb_dtype t, const void *x, size_t len, float c,
				 float *sum, float *sumsq)
{
	float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
	float32x4_t q0 = s0, q1 = s0, q2 = s0, q3 = s0;
	float32x4_t vc = vdupq_n_f32(c);
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		NB_SQ_STEP(s0, q0, vsubq_f32(nb_neon_load(t, x, j), vc));
		NB_SQ_STEP(s1, q1, vsubq_f32(nb_neon_load(t, x, j + 4), vc));
		NB_SQ_STEP(s2, q2, vsubq_f32(nb_neon_load(t, x, j + 8), vc));
		NB_SQ_STEP(s3, q3, vsubq_f32(nb_neon_load(t, x, j + 12), vc));
	}
	for (; j + NB_NEON_LANES <= len; j += NB_NEON_LANES)
		NB_SQ_STEP(s0, q0, vsubq_f32(nb_neon_load(t, x, j), vc));
	if (j < len)
		NB_SQ_STEP(s1, q1, nb_tail_centred(t, x, j, len - j, vc));
	*sum = nb_reduce4(s0, s1, s2, s3);
	*sumsq = nb_reduce4(q0, q1, q2, q3);
}

/* One Welford update of 4 lane states (all with the count vc after this
 * element), as nb_wstate_add, on v = x - c. */
NB_NEON_INLINE void nb_welford_step(float32x4_t *mean, float32x4_t *m2, float32x4_t v,
				    float32x4_t vc)
{
	float32x4_t delta = vsubq_f32(v, *mean);

	*mean = vaddq_f32(*mean, vdivq_f32(delta, vc));
	*m2 = vaddq_f32(*m2, vmulq_f32(delta, vsubq_f32(v, *mean)));
}

/* The Welford statistics of x[0, len) - c: the merged state in *w. */
NB_NEON_INLINE void nb_welford(enum nb_dtype t, const void *x, size_t len, float c,
			       struct nb_wstate *w)
{
	float32x4_t z = vdupq_n_f32(0.0f), vshift = vdupq_n_f32(c);
	float32x4_t mean[4] = { z, z, z, z }, m2[4] = { z, z, z, z };
	struct nb_wstate lanes[16], tail = { 0.0f, 0.0f, 0.0f };
	float count = 0.0f;
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		float32x4_t vc;

		count += 1.0f;
		vc = vdupq_n_f32(count);
		for (size_t a = 0; a < 4; a++)
			nb_welford_step(&mean[a], &m2[a],
					vsubq_f32(nb_neon_load(t, x, j + 4 * a), vshift), vc);
	}
	for (size_t a = 0; a < 4; a++) {
		float mu[4], q[4];

		vst1q_f32(mu, mean[a]);
		vst1q_f32(q, m2[a]);
		for (size_t k = 0; k < 4; k++)
			lanes[4 * a + k] = (struct nb_wstate){ count, mu[k], q[k] };
	}
	nb_wstate_tree(lanes, 16);
	for (; j < len; j++)
		nb_wstate_add(&tail, nb_first(t, (const char *)x + j * nb_neon_elem_size(t)) - c);
	nb_wstate_merge(&lanes[0], &tail);
	*w = lanes[0];
}

/* The scalars and arrays of one row's write pass. */
struct nb_row_out {
	const void *x, *g, *b;
	void *y;
	float mu_hi, mlr, r; /* mlr = mu_lo r (LayerNorm) */
};

/* One output vector: fma(x - mu_hi, r, -(mu_lo r)) * g (+ b) (LayerNorm,
 * the mean scheme), else (x * r) * g (+ b). */
NB_NEON_INLINE float32x4_t nb_norm_vec(const struct nb_row_out *o, float32x4_t v,
				       float32x4_t g, float32x4_t b, bool center, bool bias)
{
	if (center)
		v = vfmaq_f32(vdupq_n_f32(-o->mlr), vsubq_f32(v, vdupq_n_f32(o->mu_hi)),
			      vdupq_n_f32(o->r));
	else
		v = vmulq_f32(v, vdupq_n_f32(o->r));
	return bias ? vfmaq_f32(b, v, g) : vmulq_f32(v, g);
}

/* The write pass: y[0, len) from x[0, len). */
NB_NEON_INLINE void nb_scale_pass(enum nb_dtype t, const struct nb_row_out *o, size_t len,
				  bool center, bool bias)
{
	size_t j = 0;

	for (; j + NB_NEON_LANES <= len; j += NB_NEON_LANES) {
		float32x4_t vb = bias ? nb_neon_load(t, o->b, j) : vdupq_n_f32(0.0f);

		nb_neon_store(t, o->y, j,
			      nb_norm_vec(o, nb_neon_load(t, o->x, j), nb_neon_load(t, o->g, j),
					  vb, center, bias));
	}
	if (j < len) {
		size_t rem = len - j;
		float32x4_t vb = bias ? nb_neon_load_tail(t, o->b, j, rem) : vdupq_n_f32(0.0f);

		nb_neon_store_tail(t, o->y, j,
				   nb_norm_vec(o, nb_neon_load_tail(t, o->x, j, rem),
					       nb_neon_load_tail(t, o->g, j, rem), vb, center,
					       bias),
				   rem);
	}
}

/* mu_hi, mu_lo r (LayerNorm, else 0) and r of one row; false when a statistic
 * is not finite or underflowed (see NB_TINY), and the row must go to the
 * portable kernel. */
NB_NEON_INLINE bool nb_row_stats(const struct nb_problem *p, enum nb_dtype t,
				 enum nb_variant v, bool welford, const void *x,
				 struct nb_row_out *o)
{
	float eps = (float)p->conv.eps;
	float total, div, ms, mu_lo = 0.0f;

	o->mu_hi = 0.0f;
	o->mlr = 0.0f;
	if (welford) {
		struct nb_wstate w;
		float c = nb_first(t, x);

		nb_welford(t, x, p->n, c, &w);
		nb_two_sum_f(c, w.mean, &o->mu_hi, &mu_lo);
		if (!isfinite(o->mu_hi) || !isfinite(mu_lo))
			return false;
		total = w.m2;
		div = (float)p->n;
		if (!(total <= FLT_MAX) || (total < NB_TINY && eps * div < NB_TINY))
			return false;
		/* M2 is a sum of products d * d' that may round below 0 */
		ms = total > 0.0f ? total / div : 0.0f;
		o->r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
							 : 1.0f / (sqrtf(ms) + eps);
		o->mlr = mu_lo * o->r;
		return isfinite(o->r);
	}
	switch (v) {
	case NB_VARIANT_LAYERNORM: {
		/* the mean scheme (kernels/nb_kernels.h) */
		float c = nb_first(t, x), s1, s2;

		div = (float)p->n;
		o->mu_hi = c + nb_sum(t, x, p->n, c) / div;
		if (!isfinite(o->mu_hi))
			return false;
		nb_sum_sumsq(t, x, p->n, o->mu_hi, &s1, &s2);
		total = nb_mean_residual_f(s1, s2, div, &mu_lo);
		break;
	}
	case NB_VARIANT_PRMSNORM:
		total = nb_sumsq(t, x, p->k);
		div = (float)p->k;
		break;
	case NB_VARIANT_CRMSNORM: {
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		float s;

		nb_sum_sumsq(t, x, p->n, 0.0f, &s, &total);
		total = fmaf(s, s, total);
		div = (float)p->d;
		break;
	}
	default:
		total = nb_sumsq(t, x, p->n);
		div = (float)p->n;
		break;
	}
	if (!(total <= FLT_MAX) || !isfinite(mu_lo) ||
	    (total < NB_TINY && eps * div < NB_TINY))
		return false;
	ms = total / div;
	o->r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
						 : 1.0f / (sqrtf(ms) + eps);
	o->mlr = mu_lo * o->r;
	return isfinite(o->r) && isfinite(o->mlr);
}

NB_NEON_INLINE void nb_fwd_rows(const struct nb_problem *p, size_t row_begin,
				size_t row_end, enum nb_dtype t, enum nb_variant v,
				bool welford, nb_rows_fn portable)
{
	size_t stride = p->n * nb_neon_elem_size(t);
	bool center = v == NB_VARIANT_LAYERNORM;

	for (size_t i = row_begin; i < row_end; i++) {
		struct nb_row_out o = { (const char *)p->x + i * stride, p->gain, p->bias,
					(char *)p->y + i * stride, 0.0f, 0.0f, 0.0f };

		if (!nb_row_stats(p, t, v, welford, o.x, &o)) {
			portable(p, i, i + 1, NULL, NULL);
			continue;
		}
		if (center && p->bias)
			nb_scale_pass(t, &o, p->n, true, true);
		else if (center)
			nb_scale_pass(t, &o, p->n, true, false);
		else if (p->bias)
			nb_scale_pass(t, &o, p->n, false, true);
		else
			nb_scale_pass(t, &o, p->n, false, false);
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

/*
 * LayerNorm: y = g * (x - mu) * r (+ b), mu = sum x / n (as mu_hi + mu_lo,
 * the mean scheme above), r = 1/sqrt(var + eps) (or 1/(sqrt(var) + eps)).
 * f32 accumulation; 3 passes over x (shifted sum; deviations and their
 * squares; write).
 */
NB_FWD_KERNEL(nb_layernorm_fwd_f32_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
	      nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_bf16_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
	      nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_f16_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
	      nb_layernorm_fwd_f16_portable)

/* Welford LayerNorm: the same output from one shifted Welford statistics
 * pass (above); 2 passes over x (statistics, write). A row it cannot do goes
 * to the portable two-pass kernel of its dtype (the portable Welford kernel
 * is f32 only; both compute the same LayerNorm, rescaled). */
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_f32_welford_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
		   true, nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_bf16_welford_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
		   true, nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_f16_welford_neon, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
		   true, nb_layernorm_fwd_f16_portable)

/* RMSNorm: y = g * x * r (+ b), r = 1/sqrt(sum x^2 / n + eps) (or
 * 1/(sqrt(.) + eps)). f32 accumulation; 2 passes over x. */
NB_FWD_KERNEL(nb_rmsnorm_fwd_f32_neon, NB_VARIANT_RMSNORM, NB_DTYPE_F32,
	      nb_rmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_bf16_neon, NB_VARIANT_RMSNORM, NB_DTYPE_BF16,
	      nb_rmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_f16_neon, NB_VARIANT_RMSNORM, NB_DTYPE_F16,
	      nb_rmsnorm_fwd_f16_portable)

/* pRMSNorm: as RMSNorm with r from the first k = p->k elements only; all n
 * outputs scaled. f32 accumulation; 2 passes (the first over k elements). */
NB_FWD_KERNEL(nb_prmsnorm_fwd_f32_neon, NB_VARIANT_PRMSNORM, NB_DTYPE_F32,
	      nb_prmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_bf16_neon, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16,
	      nb_prmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_f16_neon, NB_VARIANT_PRMSNORM, NB_DTYPE_F16,
	      nb_prmsnorm_fwd_f16_portable)

/* CRMSNorm: rows hold n = d-1 elements x'; s = sum x', r = 1/sqrt((sum x'^2
 * + s^2) / d + eps) (or 1/(sqrt(.) + eps)), y' = g' * x' * r (+ b'). f32
 * accumulation; 2 passes (s and the squares together, write). */
NB_FWD_KERNEL(nb_crmsnorm_fwd_f32_neon, NB_VARIANT_CRMSNORM, NB_DTYPE_F32,
	      nb_crmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_bf16_neon, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16,
	      nb_crmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_f16_neon, NB_VARIANT_CRMSNORM, NB_DTYPE_F16,
	      nb_crmsnorm_fwd_f16_portable)
