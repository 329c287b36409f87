/* AVX-512 forward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm for
 * f32, bf16 and f16 storage, all accumulating in f32 (SPEC §1 semantics, the
 * same as the portable kernels'; registry lines in kernels/registry.def). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
	!defined(__AVX512DQ__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx512 must be compiled with the AVX-512 flags of the Makefile (AVX512_FLAGS)"
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>

#include "kernels/avx512/nb_avx512.h"
#include "kernels/nb_kernels.h"

/*
 * Shared shape of every kernel here, per row:
 *   sums   one pass over x (LayerNorm: two, sum then squared deviations from
 *          the mean, never E[x^2] - mu^2), four independent 16-lane f32
 *          accumulators fed by explicit FMA, a masked tail, then a fixed
 *          reduction tree, so a row's result depends on that row alone;
 *   check  a non-finite sum or scale (a NaN/Inf in the row, or finite values
 *          whose squares or sums overflow f32), or squares that underflowed
 *          with a tiny eps (NB_TINY), sends that one row to the portable
 *          kernel, whose (rescaled) result it then is;
 *   scale  y = ((x - mu) * r) * g (+ b, by FMA), one pass, stored through
 *          nb_avx512_store (16-bit types: round to nearest even).
 * y may alias x exactly (in place): every pass reads element j before the
 * scale pass writes element j, and nothing else is read after.
 */

#define NB_UNROLL ((size_t)4 * NB_AVX512_LANES)

NB_AVX512_INLINE size_t nb_elem_size(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

NB_AVX512_INLINE float nb_reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1),
						  _mm512_add_ps(a2, a3)));
}

/* sum of x[0, len) */
NB_AVX512_INLINE float nb_sum(enum nb_dtype t, const void *x, size_t len)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		a0 = _mm512_add_ps(a0, nb_avx512_load(t, x, j));
		a1 = _mm512_add_ps(a1, nb_avx512_load(t, x, j + 16));
		a2 = _mm512_add_ps(a2, nb_avx512_load(t, x, j + 32));
		a3 = _mm512_add_ps(a3, nb_avx512_load(t, x, j + 48));
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES)
		a0 = _mm512_add_ps(a0, nb_avx512_load(t, x, j));
	if (j < len)
		a1 = _mm512_add_ps(a1, nb_avx512_load_mask(t, x, j, nb_avx512_tail_mask(len - j)));
	return nb_reduce4(a0, a1, a2, a3);
}

/* sum of (x - mu)^2 over x[0, len) when center, else sum of x^2 */
NB_AVX512_INLINE float nb_sumsq(enum nb_dtype t, const void *x, size_t len, float mu,
				bool center)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	__m512 vmu = _mm512_set1_ps(mu);
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		__m512 v0 = nb_avx512_load(t, x, j);
		__m512 v1 = nb_avx512_load(t, x, j + 16);
		__m512 v2 = nb_avx512_load(t, x, j + 32);
		__m512 v3 = nb_avx512_load(t, x, j + 48);

		if (center) {
			v0 = _mm512_sub_ps(v0, vmu);
			v1 = _mm512_sub_ps(v1, vmu);
			v2 = _mm512_sub_ps(v2, vmu);
			v3 = _mm512_sub_ps(v3, vmu);
		}
		a0 = _mm512_fmadd_ps(v0, v0, a0);
		a1 = _mm512_fmadd_ps(v1, v1, a1);
		a2 = _mm512_fmadd_ps(v2, v2, a2);
		a3 = _mm512_fmadd_ps(v3, v3, a3);
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES) {
		__m512 v = nb_avx512_load(t, x, j);

		if (center)
			v = _mm512_sub_ps(v, vmu);
		a0 = _mm512_fmadd_ps(v, v, a0);
	}
	if (j < len) {
		__mmask16 m = nb_avx512_tail_mask(len - j);
		__m512 v = nb_avx512_load_mask(t, x, j, m);

		/* the lanes past the row must stay 0, not -mu */
		if (center)
			v = _mm512_maskz_sub_ps(m, v, vmu);
		a1 = _mm512_fmadd_ps(v, v, a1);
	}
	return nb_reduce4(a0, a1, a2, a3);
}

/* sum of x and sum of x^2 over x[0, len) in one pass (CRMSNorm) */
NB_AVX512_INLINE void nb_sum_sumsq(enum nb_dtype t, const void *x, size_t len,
				   float *sum, float *sumsq)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	__m512 q0 = s0, q1 = s0, q2 = s0, q3 = s0;
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		__m512 v0 = nb_avx512_load(t, x, j);
		__m512 v1 = nb_avx512_load(t, x, j + 16);
		__m512 v2 = nb_avx512_load(t, x, j + 32);
		__m512 v3 = nb_avx512_load(t, x, j + 48);

		s0 = _mm512_add_ps(s0, v0);
		s1 = _mm512_add_ps(s1, v1);
		s2 = _mm512_add_ps(s2, v2);
		s3 = _mm512_add_ps(s3, v3);
		q0 = _mm512_fmadd_ps(v0, v0, q0);
		q1 = _mm512_fmadd_ps(v1, v1, q1);
		q2 = _mm512_fmadd_ps(v2, v2, q2);
		q3 = _mm512_fmadd_ps(v3, v3, q3);
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES) {
		__m512 v = nb_avx512_load(t, x, j);

		s0 = _mm512_add_ps(s0, v);
		q0 = _mm512_fmadd_ps(v, v, q0);
	}
	if (j < len) {
		__m512 v = nb_avx512_load_mask(t, x, j, nb_avx512_tail_mask(len - j));

		s1 = _mm512_add_ps(s1, v);
		q1 = _mm512_fmadd_ps(v, v, q1);
	}
	*sum = nb_reduce4(s0, s1, s2, s3);
	*sumsq = nb_reduce4(q0, q1, q2, q3);
}

/* One output vector: ((x - mu) * r) * g (+ b). */
NB_AVX512_INLINE __m512 nb_norm_vec(__m512 v, __m512 vmu, __m512 vr, __m512 g, __m512 b,
				    bool center, bool bias)
{
	if (center)
		v = _mm512_sub_ps(v, vmu);
	v = _mm512_mul_ps(v, vr);
	return bias ? _mm512_fmadd_ps(v, g, b) : _mm512_mul_ps(v, g);
}

/* The write pass: y[0, len) from x[0, len), the one store loop of the
 * forward kernels. */
NB_AVX512_INLINE void nb_scale_pass(enum nb_dtype t, const void *x, void *y, const void *g,
				    const void *b, size_t len, float mu, float r,
				    bool center, bool bias)
{
	__m512 vmu = _mm512_set1_ps(mu), vr = _mm512_set1_ps(r);
	__m512 zero = _mm512_setzero_ps();
	size_t j = 0;

	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES) {
		__m512 vb = bias ? nb_avx512_load(t, b, j) : zero;

		nb_avx512_store(t, y, j, nb_norm_vec(nb_avx512_load(t, x, j), vmu, vr,
						     nb_avx512_load(t, g, j), vb,
						     center, bias));
	}
	if (j < len) {
		__mmask16 m = nb_avx512_tail_mask(len - j);
		__m512 vb = bias ? nb_avx512_load_mask(t, b, j, m) : zero;

		nb_avx512_store_mask(t, y, j,
				     nb_norm_vec(nb_avx512_load_mask(t, x, j, m), vmu, vr,
						 nb_avx512_load_mask(t, g, j, m), vb,
						 center, bias), m);
	}
}

/*
 * The portable kernels' underflow guard (NB_TINY_F32 of
 * kernels/portable/nb_portable.h): a statistic below 2^-80 while eps times
 * its divisor is below 2^-80 too may have lost squares to underflow, and the
 * row goes to the portable kernel (which rescales it). Above it, the lost
 * part is under 2^-35 relative, far below f32 rounding.
 */
#define NB_TINY 0x1p-80f

/* mu (LayerNorm, else 0) and r of one row; false when the statistic is not
 * finite or underflowed (see NB_TINY), and the row must go to the portable
 * kernel. */
NB_AVX512_INLINE bool nb_row_stats(const struct nb_problem *p, enum nb_dtype t,
				   enum nb_variant v, const void *x, float *mu, float *r)
{
	float eps = (float)p->conv.eps;
	float total, div, ms;

	*mu = 0.0f;
	switch (v) {
	case NB_VARIANT_LAYERNORM:
		*mu = nb_sum(t, x, p->n) / (float)p->n;
		if (!isfinite(*mu))
			return false;
		total = nb_sumsq(t, x, p->n, *mu, true);
		div = (float)p->n;
		break;
	case NB_VARIANT_PRMSNORM:
		total = nb_sumsq(t, x, p->k, 0.0f, false);
		div = (float)p->k;
		break;
	case NB_VARIANT_CRMSNORM: {
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		float s;

		nb_sum_sumsq(t, x, p->n, &s, &total);
		total += s * s;
		div = (float)p->d;
		break;
	}
	default:
		total = nb_sumsq(t, x, p->n, 0.0f, false);
		div = (float)p->n;
		break;
	}
	if (!(total <= FLT_MAX) || (total < NB_TINY && eps * div < NB_TINY))
		return false;
	ms = total / div;
	*r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
					       : 1.0f / (sqrtf(ms) + eps);
	return isfinite(*r);
}

NB_AVX512_INLINE void nb_fwd_rows(const struct nb_problem *p, size_t row_begin,
				  size_t row_end, enum nb_dtype t, enum nb_variant v,
				  nb_rows_fn portable)
{
	size_t n = p->n;
	size_t stride = n * nb_elem_size(t);
	bool center = v == NB_VARIANT_LAYERNORM;

	for (size_t i = row_begin; i < row_end; i++) {
		const char *x = (const char *)p->x + i * stride;
		char *y = (char *)p->y + i * stride;
		float mu, r;

		if (!nb_row_stats(p, t, v, x, &mu, &r)) {
			portable(p, i, i + 1, NULL, NULL);
			continue;
		}
		if (p->bias)
			nb_scale_pass(t, x, y, p->gain, p->bias, n, mu, r, center, true);
		else
			nb_scale_pass(t, x, y, p->gain, NULL, n, mu, r, center, false);
	}
}

#define NB_FWD_KERNEL(fn, variant, dtype, portable) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		(void)dgain_part; \
		(void)dbias_part; \
		nb_fwd_rows(p, row_begin, row_end, dtype, variant, portable); \
	}

/*
 * LayerNorm: y = g * (x - mu) * r (+ b), mu = sum x / n,
 * r = 1/sqrt(sum (x - mu)^2 / n + eps) (or 1/(sqrt(.) + eps)).
 * f32 accumulation; 3 passes over x (sum, squared deviations, write).
 */
NB_FWD_KERNEL(nb_layernorm_fwd_f32_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
	      nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_bf16_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
	      nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_f16_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
	      nb_layernorm_fwd_f16_portable)

/*
 * RMSNorm: y = g * x * r (+ b), r = 1/sqrt(sum x^2 / n + eps) (or
 * 1/(sqrt(.) + eps)). f32 accumulation; 2 passes over x (squares, write).
 */
NB_FWD_KERNEL(nb_rmsnorm_fwd_f32_avx512, NB_VARIANT_RMSNORM, NB_DTYPE_F32,
	      nb_rmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_bf16_avx512, NB_VARIANT_RMSNORM, NB_DTYPE_BF16,
	      nb_rmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_f16_avx512, NB_VARIANT_RMSNORM, NB_DTYPE_F16,
	      nb_rmsnorm_fwd_f16_portable)

/*
 * pRMSNorm: as RMSNorm with r from the first k = p->k elements only
 * (sum over x[0, k) divided by k); all n outputs scaled. f32 accumulation;
 * 2 passes (the first over k elements only).
 */
NB_FWD_KERNEL(nb_prmsnorm_fwd_f32_avx512, NB_VARIANT_PRMSNORM, NB_DTYPE_F32,
	      nb_prmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_bf16_avx512, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16,
	      nb_prmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_f16_avx512, NB_VARIANT_PRMSNORM, NB_DTYPE_F16,
	      nb_prmsnorm_fwd_f16_portable)

/*
 * CRMSNorm: rows hold n = d-1 elements x'; s = sum x',
 * r = 1/sqrt((sum x'^2 + s^2) / d + eps) (or 1/(sqrt(.) + eps)),
 * y' = g' * x' * r (+ b'). f32 accumulation; 2 passes (s and the squares
 * together, write).
 */
NB_FWD_KERNEL(nb_crmsnorm_fwd_f32_avx512, NB_VARIANT_CRMSNORM, NB_DTYPE_F32,
	      nb_crmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_bf16_avx512, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16,
	      nb_crmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_f16_avx512, NB_VARIANT_CRMSNORM, NB_DTYPE_F16,
	      nb_crmsnorm_fwd_f16_portable)
