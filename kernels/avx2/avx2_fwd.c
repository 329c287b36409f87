/* AVX2 forward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm for f32,
 * bf16 and f16 storage, all accumulating in f32 (SPEC §1 semantics, the same
 * as the portable kernels'; registry lines in kernels/registry.def). */
#if !defined(__AVX2__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx2 must be compiled with the AVX2 flags of the Makefile (AVX2_FLAGS)"
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "kernels/avx2/nb_avx2.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_prefetch.h"

/*
 * Shared shape of every kernel here, per row:
 *   sums   one pass over x (LayerNorm: two, sum then squared deviations from
 *          the mean, never E[x^2] - mu^2), eight independent 8-lane f32
 *          accumulators fed by explicit FMA (CRMSNorm: four for the sum and
 *          four for the squares, all 16 registers otherwise); element j goes
 *          to accumulator (j / 8) mod 8 (CRMSNorm: mod 4) of the unrolled
 *          loop, the last full vectors to the first, the tail (< 8 elements,
 *          loaded with zeros in the missing lanes) to the second; then a
 *          fixed reduction order, so a row's result depends on that row's
 *          length and values alone;
 *   check  a non-finite sum or scale (a NaN/Inf in the row, or finite values
 *          whose squares or sums overflow f32), or squares that underflowed
 *          with a tiny eps (NB_TINY), sends that one row to the portable
 *          kernel, whose (rescaled) result it then is;
 *   scale  y = ((x - mu) * r) * g (+ b, by FMA), one pass (LayerNorm:
 *          fma(x - mu_hi, r, -(mu_lo r)), the mean scheme), stored through
 *          nb_avx2_store or, for problems beyond the last-level cache
 *          (nb_stream_wanted), nb_avx2_stream_line (16-bit types: round to
 *          nearest even either way; the same bits).
 * y may alias x exactly (in place): every pass reads element j before the
 * scale pass writes element j, and nothing else is read after.
 * Memory: as the AVX-512 kernels (kernels/avx512/avx512_fwd.c): the x lines
 * NB_PF_AHEAD bytes ahead are prefetched, spread over the passes.
 */

/* 8 accumulators of 8 lanes: 64 elements per unrolled iteration */
#define NB_UNROLL ((size_t)8 * NB_AVX2_LANES)
/* CRMSNorm's joint pass: 4 + 4 accumulators, 32 elements per iteration */
#define NB_UNROLL_CRMS ((size_t)4 * NB_AVX2_LANES)
/* the ordinary scale pass: 4 vectors per iteration */
#define NB_SCALE_UNROLL ((size_t)4 * NB_AVX2_LANES)

NB_AVX2_INLINE size_t nb_elem_size(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

NB_AVX2_INLINE float nb_reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
	return nb_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

/* ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)), then nb_avx2_hsum */
NB_AVX2_INLINE float nb_reduce8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4,
				__m256 a5, __m256 a6, __m256 a7)
{
	__m256 lo = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
	__m256 hi = _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7));

	return nb_avx2_hsum(_mm256_add_ps(lo, hi));
}

/* sum of x - c over x[0, len) (LayerNorm's shifted first pass: the mean
 * scheme of kernels/nb_kernels.h) */
NB_AVX2_INLINE float nb_sum(enum nb_dtype t, const void *x, size_t len, float c,
			    struct nb_pf *pf)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	__m256 a4 = a0, a5 = a0, a6 = a0, a7 = a0;
	__m256 vc = _mm256_set1_ps(c);
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf_step(pf);
		a0 = _mm256_add_ps(a0, _mm256_sub_ps(nb_avx2_load(t, x, j), vc));
		a1 = _mm256_add_ps(a1, _mm256_sub_ps(nb_avx2_load(t, x, j + 8), vc));
		a2 = _mm256_add_ps(a2, _mm256_sub_ps(nb_avx2_load(t, x, j + 16), vc));
		a3 = _mm256_add_ps(a3, _mm256_sub_ps(nb_avx2_load(t, x, j + 24), vc));
		a4 = _mm256_add_ps(a4, _mm256_sub_ps(nb_avx2_load(t, x, j + 32), vc));
		a5 = _mm256_add_ps(a5, _mm256_sub_ps(nb_avx2_load(t, x, j + 40), vc));
		a6 = _mm256_add_ps(a6, _mm256_sub_ps(nb_avx2_load(t, x, j + 48), vc));
		a7 = _mm256_add_ps(a7, _mm256_sub_ps(nb_avx2_load(t, x, j + 56), vc));
	}
	for (; j + NB_AVX2_LANES <= len; j += NB_AVX2_LANES)
		a0 = _mm256_add_ps(a0, _mm256_sub_ps(nb_avx2_load(t, x, j), vc));
	/* the lanes past the row must stay 0, not -c */
	if (j < len)
		a1 = _mm256_add_ps(a1, _mm256_and_ps(_mm256_sub_ps(nb_avx2_load_tail(t, x, j,
										     len - j),
								     vc),
						     _mm256_castsi256_ps(nb_avx2_tail_mask(len - j))));
	return nb_reduce8(a0, a1, a2, a3, a4, a5, a6, a7);
}

/* v - mu when center (LayerNorm), else v; then acc + v * v */
NB_AVX2_INLINE __m256 nb_sq_step(__m256 acc, __m256 v, __m256 vmu, bool center)
{
	if (center)
		v = _mm256_sub_ps(v, vmu);
	return _mm256_fmadd_ps(v, v, acc);
}

/* sum of (x - mu)^2 over x[0, len) when center, else sum of x^2 */
NB_AVX2_INLINE float nb_sumsq(enum nb_dtype t, const void *x, size_t len, float mu,
			      bool center, struct nb_pf *pf)
{
	__m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	__m256 a4 = a0, a5 = a0, a6 = a0, a7 = a0;
	__m256 vmu = _mm256_set1_ps(mu);
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf_step(pf);
		a0 = nb_sq_step(a0, nb_avx2_load(t, x, j), vmu, center);
		a1 = nb_sq_step(a1, nb_avx2_load(t, x, j + 8), vmu, center);
		a2 = nb_sq_step(a2, nb_avx2_load(t, x, j + 16), vmu, center);
		a3 = nb_sq_step(a3, nb_avx2_load(t, x, j + 24), vmu, center);
		a4 = nb_sq_step(a4, nb_avx2_load(t, x, j + 32), vmu, center);
		a5 = nb_sq_step(a5, nb_avx2_load(t, x, j + 40), vmu, center);
		a6 = nb_sq_step(a6, nb_avx2_load(t, x, j + 48), vmu, center);
		a7 = nb_sq_step(a7, nb_avx2_load(t, x, j + 56), vmu, center);
	}
	for (; j + NB_AVX2_LANES <= len; j += NB_AVX2_LANES)
		a0 = nb_sq_step(a0, nb_avx2_load(t, x, j), vmu, center);
	if (j < len) {
		__m256 v = nb_avx2_load_tail(t, x, j, len - j);

		/* the lanes past the row must stay 0, not -mu */
		if (center)
			v = _mm256_and_ps(_mm256_sub_ps(v, vmu),
					  _mm256_castsi256_ps(nb_avx2_tail_mask(len - j)));
		a1 = _mm256_fmadd_ps(v, v, a1);
	}
	return nb_reduce8(a0, a1, a2, a3, a4, a5, a6, a7);
}

/* s + v and q + v * v, v loaded once (GCC would otherwise fold the load
 * into the add and load the vector a second time for the FMA) */
#define NB_SUMSQ_STEP(s, q, v) \
	do { \
		__m256 v_ = (v); \
		__asm__("" : "+x"(v_)); \
		s = _mm256_add_ps(s, v_); \
		q = _mm256_fmadd_ps(v_, v_, q); \
	} while (0)

/* v - mu when center, else v */
NB_AVX2_INLINE __m256 nb_centered(__m256 v, __m256 vmu, bool center)
{
	return center ? _mm256_sub_ps(v, vmu) : v;
}

/* sum of x and sum of x^2 over x[0, len) in one pass (CRMSNorm), or with
 * center of x - mu and (x - mu)^2 (LayerNorm's deviation pass, the S1 and
 * S2 of the mean scheme) */
NB_AVX2_INLINE void nb_sum_sumsq(enum nb_dtype t, const void *x, size_t len, float mu,
				 bool center, float *sum, float *sumsq, struct nb_pf *pf)
{
	__m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	__m256 q0 = s0, q1 = s0, q2 = s0, q3 = s0;
	__m256 vmu = _mm256_set1_ps(mu);
	size_t j = 0;

	for (; j + NB_UNROLL_CRMS <= len; j += NB_UNROLL_CRMS) {
		nb_pf_step(pf);
		NB_SUMSQ_STEP(s0, q0, nb_centered(nb_avx2_load(t, x, j), vmu, center));
		NB_SUMSQ_STEP(s1, q1, nb_centered(nb_avx2_load(t, x, j + 8), vmu, center));
		NB_SUMSQ_STEP(s2, q2, nb_centered(nb_avx2_load(t, x, j + 16), vmu, center));
		NB_SUMSQ_STEP(s3, q3, nb_centered(nb_avx2_load(t, x, j + 24), vmu, center));
	}
	for (; j + NB_AVX2_LANES <= len; j += NB_AVX2_LANES)
		NB_SUMSQ_STEP(s0, q0, nb_centered(nb_avx2_load(t, x, j), vmu, center));
	/* the lanes past the row must stay 0, not -mu */
	if (j < len)
		NB_SUMSQ_STEP(s1, q1,
			      _mm256_and_ps(nb_centered(nb_avx2_load_tail(t, x, j, len - j), vmu,
							center),
					    _mm256_castsi256_ps(nb_avx2_tail_mask(len - j))));
	*sum = nb_reduce4(s0, s1, s2, s3);
	*sumsq = nb_reduce4(q0, q1, q2, q3);
}

/* One output vector: fma(x - mu_hi, r, -(mu_lo r)) * g (+ b) (LayerNorm,
 * the mean scheme), else (x * r) * g (+ b). */
NB_AVX2_INLINE __m256 nb_norm_vec(__m256 v, __m256 vmu, __m256 vr, __m256 vml, __m256 g,
				  __m256 b, bool center, bool bias)
{
	if (center)
		v = _mm256_fmsub_ps(_mm256_sub_ps(v, vmu), vr, vml);
	else
		v = _mm256_mul_ps(v, vr);
	return bias ? _mm256_fmadd_ps(v, g, b) : _mm256_mul_ps(v, g);
}

/* The scalars and arrays of one row's write pass (vml = mu_lo r). */
struct nb_row_out {
	const void *x, *g, *b;
	void *y;
	__m256 vmu, vr, vml;
};

NB_AVX2_INLINE __m256 nb_out_full(enum nb_dtype t, const struct nb_row_out *o, size_t j,
				  bool center, bool bias)
{
	__m256 vb = bias ? nb_avx2_load(t, o->b, j) : _mm256_setzero_ps();

	return nb_norm_vec(nb_avx2_load(t, o->x, j), o->vmu, o->vr, o->vml,
			   nb_avx2_load(t, o->g, j),
			   vb, center, bias);
}

/* y[j0, j1) with ordinary stores, 8 lanes at a time (a partial group by
 * the tail loads and stores, which touch no memory past j1). */
NB_AVX2_INLINE void nb_out_range(enum nb_dtype t, const struct nb_row_out *o, size_t j0,
				 size_t j1, bool center, bool bias)
{
	size_t j = j0;

	for (; j + NB_AVX2_LANES <= j1; j += NB_AVX2_LANES)
		nb_avx2_store(t, o->y, j, nb_out_full(t, o, j, center, bias));
	if (j < j1) {
		size_t rem = j1 - j;
		__m256 vb = bias ? nb_avx2_load_tail(t, o->b, j, rem) : _mm256_setzero_ps();

		nb_avx2_store_tail(t, o->y, j,
				   nb_norm_vec(nb_avx2_load_tail(t, o->x, j, rem), o->vmu, o->vr, o->vml,
					       nb_avx2_load_tail(t, o->g, j, rem), vb, center,
					       bias),
				   rem);
	}
}

/* One streamed 64-byte line of y at element j (16 or 32 elements). */
NB_AVX2_INLINE void nb_out_line(enum nb_dtype t, const struct nb_row_out *o, size_t j,
				bool center, bool bias)
{
	__m256 v0 = nb_out_full(t, o, j, center, bias);
	__m256 v1 = nb_out_full(t, o, j + 8, center, bias);
	__m256 v2 = v0, v3 = v1;

	if (nb_elem_size(t) != sizeof(float)) {
		v2 = nb_out_full(t, o, j + 16, center, bias);
		v3 = nb_out_full(t, o, j + 24, center, bias);
	}
	nb_avx2_stream_line(t, o->y, j, v0, v1, v2, v3);
}

/*
 * The write pass: y[0, len) from x[0, len), the one store loop of the
 * forward kernels. stream: whole 64-byte lines of y go out with
 * non-temporal stores (the elements before y's first line boundary and
 * after its last are stored ordinarily; y must be element-aligned). The
 * values stored are the same either way.
 */
NB_AVX2_INLINE void nb_scale_pass(enum nb_dtype t, const struct nb_row_out *o, size_t len,
				  bool center, bool bias, bool stream, struct nb_pf *pf)
{
	size_t es = nb_elem_size(t);
	size_t j = 0;

	if (stream) {
		size_t line = 64 / es;
		size_t head = ((64 - ((uintptr_t)o->y & 63)) & 63) / es;

		if (head > len)
			head = len;
		nb_out_range(t, o, 0, head, center, bias);
		for (j = head; j + line <= len; j += line) {
			nb_pf_step(pf);
			nb_out_line(t, o, j, center, bias);
		}
	} else {
		for (; j + NB_SCALE_UNROLL <= len; j += NB_SCALE_UNROLL) {
			nb_pf_step(pf);
			for (size_t l = 0; l < NB_SCALE_UNROLL; l += NB_AVX2_LANES)
				nb_avx2_store(t, o->y, j + l, nb_out_full(t, o, j + l, center, bias));
		}
	}
	nb_out_range(t, o, j, len, center, bias);
}

/*
 * The portable kernels' underflow guard (NB_TINY_F32 of
 * kernels/portable/nb_portable.h): a statistic below 2^-80 while eps times
 * its divisor is below 2^-80 too may have lost squares to underflow, and the
 * row goes to the portable kernel (which rescales it). Above it, the lost
 * part is under 2^-35 relative, far below f32 rounding.
 */
#define NB_TINY 0x1p-80f

/* Elements one row's passes visit, all passes together (the prefetch shares). */
NB_AVX2_INLINE size_t nb_row_work(const struct nb_problem *p, enum nb_variant v)
{
	switch (v) {
	case NB_VARIANT_LAYERNORM: return 3 * p->n;
	case NB_VARIANT_PRMSNORM: return p->k + p->n;
	default: return 2 * p->n;
	}
}

/* mu (LayerNorm, else 0) and r of one row; false when the statistic is not
 * finite or underflowed (see NB_TINY), and the row must go to the portable
 * kernel. pf_row: the prefetch position of this row's start. */
NB_AVX2_INLINE bool nb_row_stats(const struct nb_problem *p, enum nb_dtype t,
				 enum nb_variant v, const void *x, float mu[2], float *r,
				 struct nb_pf *pf, const char *pf_row)
{
	float eps = (float)p->conv.eps;
	size_t es = nb_elem_size(t);
	size_t nb = p->n * es, work = nb_row_work(p, v) * es;
	size_t iter = NB_UNROLL * es;
	float total, div, ms;

	mu[0] = mu[1] = 0.0f;
	switch (v) {
	case NB_VARIANT_LAYERNORM: {
		/* the mean scheme (kernels/nb_kernels.h) */
		float c = _mm256_cvtss_f32(nb_avx2_load_tail(t, x, 0, 1)), s1, s2;

		div = (float)p->n;
		nb_pf_pass(pf, pf_row + nb / 3, iter, nb, work);
		mu[0] = c + nb_sum(t, x, p->n, c, pf) / div;
		if (!isfinite(mu[0]))
			return false;
		nb_pf_pass(pf, pf_row + 2 * nb / 3, NB_UNROLL_CRMS * es, nb, work);
		nb_sum_sumsq(t, x, p->n, mu[0], true, &s1, &s2, pf);
		total = nb_mean_residual_f(s1, s2, div, &mu[1]);
		break;
	}
	case NB_VARIANT_PRMSNORM:
		nb_pf_pass(pf, pf_row + nb * p->k / (p->k + p->n), iter, nb, work);
		total = nb_sumsq(t, x, p->k, 0.0f, false, pf);
		div = (float)p->k;
		break;
	case NB_VARIANT_CRMSNORM: {
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		float s;

		nb_pf_pass(pf, pf_row + nb / 2, NB_UNROLL_CRMS * es, nb, work);
		nb_sum_sumsq(t, x, p->n, 0.0f, false, &s, &total, pf);
		total += s * s;
		div = (float)p->d;
		break;
	}
	default:
		nb_pf_pass(pf, pf_row + nb / 2, iter, nb, work);
		total = nb_sumsq(t, x, p->n, 0.0f, false, pf);
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

NB_AVX2_INLINE void nb_fwd_rows(const struct nb_problem *p, size_t row_begin,
				size_t row_end, enum nb_dtype t, enum nb_variant v,
				nb_rows_fn portable)
{
	size_t n = p->n;
	size_t es = nb_elem_size(t);
	size_t stride = n * es;
	bool center = v == NB_VARIANT_LAYERNORM;
	/* as the AVX-512 kernels: rows of whole 64-byte lines only */
	bool stream = nb_stream_wanted(2 * p->rows * stride) && (uintptr_t)p->y % es == 0 &&
		      stride % 64 == 0;
	size_t iter = stream ? 64 : NB_SCALE_UNROLL * es;
	const char *x0 = p->x;
	struct nb_pf pf = nb_pf_init(x0, stride, row_begin, row_end, stream);

	for (size_t i = row_begin; i < row_end; i++) {
		const char *pf_row = nb_pf_row(x0, stride, i);
		struct nb_row_out o = { x0 + i * stride, p->gain, p->bias,
					(char *)p->y + i * stride, _mm256_setzero_ps(),
					_mm256_setzero_ps(), _mm256_setzero_ps() };
		float mu[2], r;

		if (!nb_row_stats(p, t, v, o.x, mu, &r, &pf, pf_row)) {
			portable(p, i, i + 1, NULL, NULL);
			continue;
		}
		o.vmu = _mm256_set1_ps(mu[0]);
		o.vr = _mm256_set1_ps(r);
		o.vml = _mm256_set1_ps(mu[1] * r);
		nb_pf_pass(&pf, pf_row + stride, iter, stride, nb_row_work(p, v) * es);
		if (p->bias)
			nb_scale_pass(t, &o, n, center, true, stream, &pf);
		else
			nb_scale_pass(t, &o, n, center, false, stream, &pf);
	}
	if (stream)
		_mm_sfence();
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
 * r = 1/sqrt(sum (x - mu)^2 / n + eps) (or 1/(sqrt(.) + eps)), by the mean
 * scheme of kernels/nb_kernels.h: pass 1 sums x - x_0 (mu_hi = x_0 + that
 * / n), pass 2 sums t = x - mu_hi and t^2 (mu_lo = S1 / n, M2 = S2 - S1
 * mu_lo), the write is fma(x - mu_hi, r, -(mu_lo r)) * g (+ b); the bound
 * (verify/nb_accuracy.c, docs/verification.md) grows with |mu|/sigma only
 * through u|mu|.
 * f32 accumulation; 3 passes over x (sum, squared deviations, write).
 */
NB_FWD_KERNEL(nb_layernorm_fwd_f32_avx2, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
	      nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_bf16_avx2, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
	      nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_f16_avx2, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
	      nb_layernorm_fwd_f16_portable)

/*
 * RMSNorm: y = g * x * r (+ b), r = 1/sqrt(sum x^2 / n + eps) (or
 * 1/(sqrt(.) + eps)). f32 accumulation; 2 passes over x (squares, write).
 */
NB_FWD_KERNEL(nb_rmsnorm_fwd_f32_avx2, NB_VARIANT_RMSNORM, NB_DTYPE_F32,
	      nb_rmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_bf16_avx2, NB_VARIANT_RMSNORM, NB_DTYPE_BF16,
	      nb_rmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_rmsnorm_fwd_f16_avx2, NB_VARIANT_RMSNORM, NB_DTYPE_F16,
	      nb_rmsnorm_fwd_f16_portable)

/*
 * pRMSNorm: as RMSNorm with r from the first k = p->k elements only
 * (sum over x[0, k) divided by k); all n outputs scaled. f32 accumulation;
 * 2 passes (the first over k elements only).
 */
NB_FWD_KERNEL(nb_prmsnorm_fwd_f32_avx2, NB_VARIANT_PRMSNORM, NB_DTYPE_F32,
	      nb_prmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_bf16_avx2, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16,
	      nb_prmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_prmsnorm_fwd_f16_avx2, NB_VARIANT_PRMSNORM, NB_DTYPE_F16,
	      nb_prmsnorm_fwd_f16_portable)

/*
 * CRMSNorm: rows hold n = d-1 elements x'; s = sum x',
 * r = 1/sqrt((sum x'^2 + s^2) / d + eps) (or 1/(sqrt(.) + eps)),
 * y' = g' * x' * r (+ b'). f32 accumulation; 2 passes (s and the squares
 * together, write).
 */
NB_FWD_KERNEL(nb_crmsnorm_fwd_f32_avx2, NB_VARIANT_CRMSNORM, NB_DTYPE_F32,
	      nb_crmsnorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_bf16_avx2, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16,
	      nb_crmsnorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_crmsnorm_fwd_f16_avx2, NB_VARIANT_CRMSNORM, NB_DTYPE_F16,
	      nb_crmsnorm_fwd_f16_portable)
