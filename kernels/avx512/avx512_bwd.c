/* AVX-512 backward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm for
 * f32, bf16 and f16 storage, all accumulating in f32: dx, and the partial sums
 * dgain = sum dy * xhat and dbias = sum dy over the given rows (SPEC §1, the
 * portable kernels' semantics). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
	!defined(__AVX512DQ__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx512 must be compiled with the AVX-512 flags of the Makefile (AVX512_FLAGS)"
#endif

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/avx512/nb_avx512.h"
#include "kernels/nb_bwd_row.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_prefetch.h"

/*
 * The formulas and the row algebra: kernels/nb_bwd_row.h (shared with the
 * AVX2 kernels).
 *
 * Per row: one pass for the sums (LayerNorm: two, the mean first), then one
 * pass writing dx and adding dy * xhat and dy to the partials, from the end
 * of the row down (its lines still in L1 from the sums pass come first);
 * rows go in pairs through that pass where they can (nb_bwd_rows). Sums use
 * four 16-lane f32 accumulators each with explicit FMA and a fixed reduction
 * tree. For problems beyond the last-level cache (nb_stream_wanted) dx goes
 * out by streaming stores and x and dy are prefetched ahead
 * (kernels/nb_prefetch.h); the results are the same bits either way.
 * dx must not alias x, dy or the partials. A row whose sums or scalars are not
 * finite (NaN/Inf inside, or overflow of f32 sums), or whose statistic
 * underflowed with a tiny eps (NB_BWD_TINY), is computed by the portable
 * kernel and its partial contributions added in row order.
 *
 * 16-bit storage (bf16, f16): the same code with the storage type t a
 * compile-time constant. x and dy are widened exactly to f32 as they are
 * loaded, the gain once per call into an f32 copy (nb_bwd16_rows); every sum,
 * scalar and product is then the f32 kernel's operation on the same f32
 * values, and dx is rounded once to t, to nearest even, by the converters of
 * kernels/avx512/nb_avx512.h (bit for bit the portable converter's,
 * subnormals kept). So a 16-bit kernel's dx is exactly the f32 kernel's dx
 * on the widened inputs rounded by nb_f32_to_bf16 / nb_f32_to_f16, and its
 * dgain/dbias partials (f32) are exactly the f32 kernel's
 * (tests/test_bwd16.c checks both, bit for bit).
 */

#define NB_UNROLL ((size_t)4 * NB_AVX512_LANES)

NB_AVX512_INLINE size_t nb_es(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* Element j of a row of dtype t, as a byte address. */
NB_AVX512_INLINE const void *nb_cat(const void *base, size_t j, enum nb_dtype t)
{
	return (const char *)base + j * nb_es(t);
}

NB_AVX512_INLINE void *nb_at(void *base, size_t j, enum nb_dtype t)
{
	return (char *)base + j * nb_es(t);
}

NB_AVX512_INLINE float nb_reduce4(__m512 a0, __m512 a1, __m512 a2, __m512 a3)
{
	return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1),
						  _mm512_add_ps(a2, a3)));
}

struct nb_acc {
	__m512 sum, sq, dy, dot;
};

/* Adds one vector (lanes outside m are zero in x and dy, so they add 0). */
NB_AVX512_INLINE void nb_acc_step(struct nb_acc *a, int what, __m512 x, __m512 dy,
				  __m512 g, __m512 vmu, __mmask16 m)
{
	__m512 xc = x;

	if (what & NB_M_CENTER)
		xc = _mm512_maskz_sub_ps(m, x, vmu);
	if (what & NB_M_SUM)
		a->sum = _mm512_add_ps(a->sum, xc);
	if (what & NB_M_SQ)
		a->sq = _mm512_fmadd_ps(xc, xc, a->sq);
	if (what & (NB_M_DY | NB_M_DOT)) {
		__m512 dyh = _mm512_mul_ps(dy, g);

		if (what & NB_M_DY)
			a->dy = _mm512_add_ps(a->dy, dyh);
		if (what & NB_M_DOT)
			a->dot = _mm512_fmadd_ps(dyh, xc, a->dot);
	}
}

/* One full vector at offset o into accumulator a. */
NB_AVX512_INLINE void nb_acc_at(struct nb_acc *a, int what, enum nb_dtype t, const void *x,
				const void *dy, const float *g, size_t o, __m512 vmu)
{
	__m512 zero = _mm512_setzero_ps();
	bool need_dy = what & (NB_M_DY | NB_M_DOT);

	__m512 vx = nb_avx512_load(t, x, o);
	__m512 vdy = need_dy ? nb_avx512_load(t, dy, o) : zero;

	/* one load of each vector: GCC would otherwise fold a load into each
	 * of its uses, which costs bandwidth on rows not 64-byte aligned */
	__asm__("" : "+v"(vx), "+v"(vdy));
	nb_acc_step(a, what, vx, vdy, need_dy ? _mm512_loadu_ps(g + o) : zero, vmu,
		    (__mmask16)0xffff);
}

NB_AVX512_INLINE float nb_acc_sum(const struct nb_acc *a0, const struct nb_acc *a1,
				  const struct nb_acc *a2, const struct nb_acc *a3, int which)
{
	switch (which) {
	case NB_M_SUM: return nb_reduce4(a0->sum, a1->sum, a2->sum, a3->sum);
	case NB_M_SQ: return nb_reduce4(a0->sq, a1->sq, a2->sq, a3->sq);
	case NB_M_DY: return nb_reduce4(a0->dy, a1->dy, a2->dy, a3->dy);
	default: return nb_reduce4(a0->dot, a1->dot, a2->dot, a3->dot);
	}
}

/* The sums of `what` over [0, len) of x, dy (dtype t) and g (f32). */
NB_AVX512_INLINE struct nb_moments nb_moments(int what, enum nb_dtype t, const void *x,
					      const void *dy, const float *g, size_t len,
					      float mu, struct nb_pf2 *pf)
{
	__m512 zero = _mm512_setzero_ps();
	struct nb_acc a0 = { zero, zero, zero, zero };
	struct nb_acc a1 = a0, a2 = a0, a3 = a0;
	__m512 vmu = _mm512_set1_ps(mu);
	struct nb_moments out = { 0.0f, 0.0f, 0.0f, 0.0f };
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf2_step(pf);
		nb_acc_at(&a0, what, t, x, dy, g, j, vmu);
		nb_acc_at(&a1, what, t, x, dy, g, j + 16, vmu);
		nb_acc_at(&a2, what, t, x, dy, g, j + 32, vmu);
		nb_acc_at(&a3, what, t, x, dy, g, j + 48, vmu);
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES)
		nb_acc_at(&a0, what, t, x, dy, g, j, vmu);
	if (j < len) {
		__mmask16 m = nb_avx512_tail_mask(len - j);
		bool need_dy = what & (NB_M_DY | NB_M_DOT);

		nb_acc_step(&a1, what, nb_avx512_load_mask(t, x, j, m),
			    need_dy ? nb_avx512_load_mask(t, dy, j, m) : zero,
			    need_dy ? _mm512_maskz_loadu_ps(m, g + j) : zero, vmu, m);
	}
	if (what & NB_M_SUM)
		out.sum = nb_acc_sum(&a0, &a1, &a2, &a3, NB_M_SUM);
	if (what & NB_M_SQ)
		out.sq = nb_acc_sum(&a0, &a1, &a2, &a3, NB_M_SQ);
	if (what & NB_M_DY)
		out.dy = nb_acc_sum(&a0, &a1, &a2, &a3, NB_M_DY);
	if (what & NB_M_DOT)
		out.dot = nb_acc_sum(&a0, &a1, &a2, &a3, NB_M_DOT);
	return out;
}

/* Where one row's write pass puts dx (dtype t) and the f32 partials. */
struct nb_bwd_out {
	void *dx;
	float *dg, *db;
};

/* dx and xhat of one vector of a row (the lanes outside the loads' mask
 * are 0 in x, dy and g, so they give 0 in xhat * dy and dy). */
NB_AVX512_INLINE __m512 nb_bwd_core(__m512 vx, __m512 vdy, __m512 vg,
				    const struct nb_bwd_row *s, bool center, bool use_mdy,
				    bool use_shat, bool correct, __m512 *xhat)
{
	__m512 vr = _mm512_set1_ps(s->r);
	__m512 dyh = _mm512_mul_ps(vdy, vg);
	__m512 xh = center ? _mm512_fmsub_ps(_mm512_sub_ps(vx, _mm512_set1_ps(s->mu)), vr,
					     _mm512_set1_ps(s->mlr))
			   : _mm512_mul_ps(vx, vr);

	if (use_mdy)
		dyh = _mm512_sub_ps(dyh, _mm512_set1_ps(s->mdy));
	if (correct) {
		__m512 xs = use_shat ? _mm512_add_ps(xh, _mm512_set1_ps(s->shat)) : xh;

		dyh = _mm512_fnmadd_ps(xs, _mm512_set1_ps(s->coef), dyh);
	}
	*xhat = xh;
	return _mm512_mul_ps(vr, dyh);
}

/* 16 lanes rounded to the 16-bit type t, as nb_avx512_store rounds them. */
NB_AVX512_INLINE __m256i nb_bwd_to16(enum nb_dtype t, __m512 v)
{
	return t == NB_DTYPE_BF16 ? nb_avx512_ps_to_bf16(v) : nb_avx512_ps_to_f16(v);
}

/* dx at element j: a streaming store (all lanes; f32: dx + j 64-byte
 * aligned, 16-bit: 32-byte aligned, the two halves of a line written one
 * after the other) or an ordinary masked one. */
NB_AVX512_INLINE void nb_bwd_store(enum nb_dtype t, void *dx, size_t j, __mmask16 m,
				   __m512 v, bool stream)
{
	if (t == NB_DTYPE_F32) {
		if (stream)
			_mm512_stream_ps((float *)dx + j, v);
		else
			_mm512_mask_storeu_ps((float *)dx + j, m, v);
	} else if (stream) {
		_mm256_stream_si256((__m256i *)((uint16_t *)dx + j), nb_bwd_to16(t, v));
	} else {
		nb_avx512_store_mask(t, dx, j, v, m);
	}
}

/* One vector of the write pass at offset j, lanes m; dx by an ordinary
 * (masked) store, or by a streaming store when stream (m full, dx + j
 * aligned as nb_bwd_store needs). */
NB_AVX512_INLINE void nb_bwd_vec(enum nb_dtype t, const void *x, const void *dy,
				 const float *g, struct nb_bwd_out o, size_t j, __mmask16 m,
				 const struct nb_bwd_row *s, bool center, bool use_mdy,
				 bool use_shat, bool correct, bool stream)
{
	__m512 vdy = nb_avx512_load_mask(t, dy, j, m);
	__m512 xh;
	__m512 dx = nb_bwd_core(nb_avx512_load_mask(t, x, j, m), vdy,
				_mm512_maskz_loadu_ps(m, g + j), s, center, use_mdy, use_shat,
				correct, &xh);

	nb_bwd_store(t, o.dx, j, m, dx, stream);
	_mm512_mask_storeu_ps(o.dg + j, m,
			      _mm512_fmadd_ps(vdy, xh, _mm512_maskz_loadu_ps(m, o.dg + j)));
	if (o.db)
		_mm512_mask_storeu_ps(o.db + j, m,
				      _mm512_add_ps(_mm512_maskz_loadu_ps(m, o.db + j), vdy));
}

/* Two rows a, b at once: dx of each, and their dy * xhat and dy added to
 * the partials in row order (a then b, each product fused as in nb_bwd_vec),
 * so the partials are those of doing a and then b; gain and the partials
 * are loaded and stored once for both rows. */
NB_AVX512_INLINE void nb_bwd_vec2(enum nb_dtype t, const void *xa, const void *dya,
				  const void *xb, const void *dyb, const float *g, void *dxa,
				  void *dxb, struct nb_bwd_out o, size_t j, __mmask16 m,
				  const struct nb_bwd_row *sa, const struct nb_bwd_row *sb,
				  bool center, bool use_mdy, bool use_shat, bool correct,
				  bool stream, bool has_db)
{
	__m512 vg = _mm512_maskz_loadu_ps(m, g + j);
	__m512 vdya = nb_avx512_load_mask(t, dya, j, m);
	__m512 vdyb = nb_avx512_load_mask(t, dyb, j, m);
	__m512 xha, xhb;
	__m512 dx_a = nb_bwd_core(nb_avx512_load_mask(t, xa, j, m), vdya, vg, sa, center,
				  use_mdy, use_shat, correct, &xha);
	__m512 dx_b = nb_bwd_core(nb_avx512_load_mask(t, xb, j, m), vdyb, vg, sb, center,
				  use_mdy, use_shat, correct, &xhb);

	nb_bwd_store(t, dxa, j, m, dx_a, stream);
	nb_bwd_store(t, dxb, j, m, dx_b, stream);
	_mm512_mask_storeu_ps(o.dg + j, m,
			      _mm512_fmadd_ps(vdyb, xhb,
					      _mm512_fmadd_ps(vdya, xha,
							      _mm512_maskz_loadu_ps(m, o.dg + j))));
	if (has_db)
		_mm512_mask_storeu_ps(o.db + j, m,
				      _mm512_add_ps(_mm512_add_ps(_mm512_maskz_loadu_ps(m, o.db + j),
								  vdya),
						    vdyb));
}

/* Elements before dx's first 64-byte line boundary (at most len): written
 * by ordinary stores when the rest is streamed. */
NB_AVX512_INLINE size_t nb_bwd_head(enum nb_dtype t, const void *dx, size_t len, bool stream)
{
	size_t head;

	if (!stream)
		return 0;
	head = ((64 - ((uintptr_t)dx & 63)) & 63) / nb_es(t);
	return head > len ? len : head;
}

/*
 * The body of nb_bwd_pass2, stream and has_db (o.db != NULL) constants.
 * Order: the unstreamed head, then the whole vectors from the end of the
 * row down (the statistics pass just went up the row, so its most recent
 * lines, still in L1, are used first: 16% less time at 8 x 4096 than
 * going up again), then the tail. Each element's sums and dx do not depend
 * on the order.
 */
NB_AVX512_INLINE void nb_bwd_pass2_body(enum nb_dtype t, const void *xa, const void *dya,
					const void *xb, const void *dyb, const float *g,
					void *dxa, void *dxb, struct nb_bwd_out o, size_t len,
					const struct nb_bwd_row *sa, const struct nb_bwd_row *sb,
					bool center, bool use_mdy, bool use_shat, bool correct,
					bool stream, bool has_db, struct nb_pf2 *pf)
{
	size_t head = nb_bwd_head(t, dxa, len, stream), hi, e;

	for (size_t j = 0; j < head; j += NB_AVX512_LANES) {
		size_t cnt = head - j < NB_AVX512_LANES ? head - j : NB_AVX512_LANES;

		nb_bwd_vec2(t, xa, dya, xb, dyb, g, dxa, dxb, o, j,
			    nb_avx512_tail_mask_full(cnt), sa, sb, center, use_mdy, use_shat,
			    correct, false, has_db);
	}
	hi = head + (len - head) / NB_AVX512_LANES * NB_AVX512_LANES;
	for (e = hi; e >= head + 2 * NB_AVX512_LANES; e -= 2 * NB_AVX512_LANES) {
		nb_pf2_step(pf);
		nb_bwd_vec2(t, xa, dya, xb, dyb, g, dxa, dxb, o, e - NB_AVX512_LANES,
			    (__mmask16)0xffff, sa, sb, center, use_mdy, use_shat, correct, stream,
			    has_db);
		nb_bwd_vec2(t, xa, dya, xb, dyb, g, dxa, dxb, o, e - 2 * NB_AVX512_LANES,
			    (__mmask16)0xffff, sa, sb, center, use_mdy, use_shat, correct, stream,
			    has_db);
	}
	if (e > head)
		nb_bwd_vec2(t, xa, dya, xb, dyb, g, dxa, dxb, o, head, (__mmask16)0xffff, sa, sb,
			    center, use_mdy, use_shat, correct, stream, has_db);
	if (hi < len)
		nb_bwd_vec2(t, xa, dya, xb, dyb, g, dxa, dxb, o, hi,
			    nb_avx512_tail_mask(len - hi), sa, sb, center, use_mdy, use_shat,
			    correct, false, has_db);
}

/* The pair write pass over [0, len): as nb_bwd_pass for rows a and b,
 * whose dx rows have the same alignment (stream). */
NB_AVX512_INLINE void nb_bwd_pass2(enum nb_dtype t, const void *xa, const void *dya,
				   const void *xb, const void *dyb, const float *g, void *dxa,
				   void *dxb, struct nb_bwd_out o, size_t len,
				   const struct nb_bwd_row *sa, const struct nb_bwd_row *sb,
				   bool center, bool use_mdy, bool use_shat, bool correct,
				   bool stream, struct nb_pf2 *pf)
{
	if (stream && o.db)
		nb_bwd_pass2_body(t, xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center,
				  use_mdy, use_shat, correct, true, true, pf);
	else if (stream)
		nb_bwd_pass2_body(t, xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center,
				  use_mdy, use_shat, correct, true, false, pf);
	else if (o.db)
		nb_bwd_pass2_body(t, xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center,
				  use_mdy, use_shat, correct, false, true, pf);
	else
		nb_bwd_pass2_body(t, xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center,
				  use_mdy, use_shat, correct, false, false, pf);
}

/* [j0, j1) by ordinary stores, 16 lanes at a time. */
NB_AVX512_INLINE void nb_bwd_range(enum nb_dtype t, const void *x, const void *dy,
				   const float *g, struct nb_bwd_out o, size_t j0, size_t j1,
				   const struct nb_bwd_row *s, bool center, bool use_mdy,
				   bool use_shat, bool correct)
{
	for (size_t j = j0; j < j1; j += NB_AVX512_LANES) {
		size_t cnt = j1 - j < NB_AVX512_LANES ? j1 - j : NB_AVX512_LANES;

		nb_bwd_vec(t, x, dy, g, o, j, nb_avx512_tail_mask_full(cnt), s, center,
			   use_mdy, use_shat, correct, false);
	}
}

/* The write pass over [0, len) of one row: the head (unstreamed), the
 * whole vectors from the end down (see nb_bwd_pass2_body), the tail.
 * stream: dx's whole vectors by non-temporal stores (dx must be
 * element-aligned); the values are the same either way. */
NB_AVX512_INLINE void nb_bwd_pass(enum nb_dtype t, const void *x, const void *dy,
				  const float *g, struct nb_bwd_out o, size_t len,
				  const struct nb_bwd_row *s, bool center, bool use_mdy,
				  bool use_shat, bool correct, bool stream, struct nb_pf2 *pf)
{
	size_t head = nb_bwd_head(t, o.dx, len, stream), hi, e;

	nb_bwd_range(t, x, dy, g, o, 0, head, s, center, use_mdy, use_shat, correct);
	hi = head + (len - head) / NB_AVX512_LANES * NB_AVX512_LANES;
	for (e = hi; e >= head + 2 * NB_AVX512_LANES; e -= 2 * NB_AVX512_LANES) {
		nb_pf2_step(pf);
		nb_bwd_vec(t, x, dy, g, o, e - NB_AVX512_LANES, (__mmask16)0xffff, s, center,
			   use_mdy, use_shat, correct, stream);
		nb_bwd_vec(t, x, dy, g, o, e - 2 * NB_AVX512_LANES, (__mmask16)0xffff, s, center,
			   use_mdy, use_shat, correct, stream);
	}
	if (e > head)
		nb_bwd_vec(t, x, dy, g, o, head, (__mmask16)0xffff, s, center, use_mdy, use_shat,
			   correct, stream);
	nb_bwd_range(t, x, dy, g, o, hi, len, s, center, use_mdy, use_shat, correct);
}

/* The row's sums, then its scalars (nb_bwd_row_scalars); false when the
 * portable kernel must take the row. */
NB_AVX512_INLINE bool nb_bwd_stats(const struct nb_problem *p, enum nb_variant v,
				   enum nb_dtype t, const void *x, const void *dy, const float *g,
				   struct nb_bwd_row *s, struct nb_pf2 *pf)
{
	size_t es = nb_es(t);
	size_t nb = p->n * es, work = nb_bwd_work(p, v) * es;
	size_t iter = NB_UNROLL * es;
	struct nb_moments mo;

	switch (v) {
	case NB_VARIANT_LAYERNORM: {
		/* the mean scheme (kernels/nb_kernels.h): shifted sum, then S1,
		 * S2, sum dyh and sum dyh (x - mu_hi); c = x_0 widened */
		float c = _mm_cvtss_f32(
			_mm512_castps512_ps128(nb_avx512_load_mask(t, x, 0, (__mmask16)1)));

		nb_pf2_pass(pf, x, dy, nb / 3, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_CENTER, t, x, dy, g, p->n, c, pf);
		if (!nb_bwd_ln_mean(c, mo.sum, p->n, s))
			return false;
		nb_pf2_pass(pf, x, dy, 2 * nb / 3, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_SQ | NB_M_DY | NB_M_DOT | NB_M_CENTER, t, x, dy,
				g, p->n, s->mu, pf);
		break;
	}
	case NB_VARIANT_PRMSNORM: {
		struct nb_moments rest;

		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SQ | NB_M_DOT, t, x, dy, g, p->k, 0.0f, pf);
		rest = nb_moments(NB_M_DOT, t, nb_cat(x, p->k, t), nb_cat(dy, p->k, t), g + p->k,
				  p->n - p->k, 0.0f, pf);
		mo.dot += rest.dot;
		break;
	}
	case NB_VARIANT_CRMSNORM:
		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_SQ | NB_M_DOT, t, x, dy, g, p->n, 0.0f, pf);
		break;
	default:
		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SQ | NB_M_DOT, t, x, dy, g, p->n, 0.0f, pf);
		break;
	}
	return nb_bwd_row_scalars(p, v, mo, s);
}

NB_AVX512_INLINE void nb_add_into(float *dst, const float *src, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX512_LANES <= n; j += NB_AVX512_LANES)
		_mm512_storeu_ps(dst + j, _mm512_add_ps(_mm512_loadu_ps(dst + j),
							_mm512_loadu_ps(src + j)));
	if (j < n) {
		__mmask16 m = nb_avx512_tail_mask(n - j);

		_mm512_mask_storeu_ps(dst + j, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst + j),
								_mm512_maskz_loadu_ps(m, src + j)));
	}
}

/* The write pass of one row (both sub-ranges for pRMSNorm). */
NB_AVX512_INLINE void nb_bwd_write1(const struct nb_problem *p, enum nb_variant v,
				    enum nb_dtype t, const void *x, const void *dy,
				    const float *g, struct nb_bwd_out o,
				    const struct nb_bwd_row *s, bool stream, struct nb_pf2 *pf)
{
	bool center = v == NB_VARIANT_LAYERNORM;
	size_t k = p->k;

	if (v == NB_VARIANT_PRMSNORM) {
		struct nb_bwd_out rest = { nb_at(o.dx, k, t), o.dg + k, o.db ? o.db + k : NULL };

		nb_bwd_pass(t, x, dy, g, o, k, s, false, false, false, true, stream, pf);
		nb_bwd_pass(t, nb_cat(x, k, t), nb_cat(dy, k, t), g + k, rest, p->n - k, s, false,
			    false, false, false, stream, pf);
	} else {
		nb_bwd_pass(t, x, dy, g, o, p->n, s, center, center, v == NB_VARIANT_CRMSNORM,
			    true, stream, pf);
	}
}

/* The write pass of rows a and b = a + 1 together. */
NB_AVX512_INLINE void nb_bwd_write2(const struct nb_problem *p, enum nb_variant v,
				    enum nb_dtype t, const void *xa, const void *dya,
				    const float *g, void *dxa, const struct nb_bwd_row *sa,
				    const struct nb_bwd_row *sb, struct nb_bwd_out o, bool stream,
				    struct nb_pf2 *pf)
{
	size_t n = p->n, k = p->k;
	bool center = v == NB_VARIANT_LAYERNORM;
	const void *xb = nb_cat(xa, n, t), *dyb = nb_cat(dya, n, t);
	void *dxb = nb_at(dxa, n, t);

	if (v == NB_VARIANT_PRMSNORM) {
		struct nb_bwd_out rest = { NULL, o.dg + k, o.db ? o.db + k : NULL };

		nb_bwd_pass2(t, xa, dya, xb, dyb, g, dxa, dxb, o, k, sa, sb, false, false, false,
			     true, stream, pf);
		nb_bwd_pass2(t, nb_cat(xa, k, t), nb_cat(dya, k, t), nb_cat(xb, k, t),
			     nb_cat(dyb, k, t), g + k, nb_at(dxa, k, t), nb_at(dxb, k, t), rest,
			     n - k, sa, sb, false, false, false, false, stream, pf);
	} else {
		nb_bwd_pass2(t, xa, dya, xb, dyb, g, dxa, dxb, o, n, sa, sb, center, center,
			     v == NB_VARIANT_CRMSNORM, true, stream, pf);
	}
}

/*
 * Rows go in pairs where both rows' statistics are finite: the write pass
 * of a pair loads gain and the partials once and updates the partials once
 * for both rows (in row order, so the sums are those of one row after the
 * other). The partials' read-modify-write is a large part of a backward
 * row's L1 traffic: pairing took RMSNorm backward of 16 x 4096 (in L2) from
 * 14.6 to 11.9 us (docs/performance.md, historical section). A pair streams only when
 * its two dx rows have the same alignment (a row a multiple of 64 bytes);
 * otherwise the rows go one by one. g: the gain in f32 (for 16-bit storage
 * the widened copy of nb_bwd16_rows).
 */
NB_AVX512_INLINE void nb_bwd_rows(const struct nb_problem *p, size_t row_begin,
				  size_t row_end, void *dgain_part, void *dbias_part,
				  enum nb_variant v, enum nb_dtype t, const float *g,
				  nb_rows_fn portable)
{
	size_t n = p->n, es = nb_es(t);
	struct nb_bwd_out o = { NULL, dgain_part, dbias_part };
	float *tmp = NULL;
	size_t nb = n * es, work = nb_bwd_work(p, v) * es;
	bool stream = nb_stream_wanted(3 * p->rows * nb) && (uintptr_t)p->dx % es == 0;
	bool pairs = !stream || nb % 64 == 0;
	size_t iter = 2 * NB_AVX512_LANES * es;
	struct nb_pf2 pf = { nb_pf_init(p->x, nb, row_begin, row_end, stream),
			     nb_pf_init(p->dy, nb, row_begin, row_end, stream) };

	/* the partials are written: sums over these rows only, from zero */
	memset(o.dg, 0, n * sizeof(float));
	if (o.db)
		memset(o.db, 0, n * sizeof(float));
	for (size_t i = row_begin; i < row_end;) {
		const void *x = nb_cat(p->x, i * n, t);
		const void *dy = nb_cat(p->dy, i * n, t);
		struct nb_bwd_row s[2];
		size_t done = 1;
		bool ok = nb_bwd_stats(p, v, t, x, dy, g, &s[0], &pf);
		bool ok2 = false;

		if (ok && pairs && i + 1 < row_end) {
			ok2 = nb_bwd_stats(p, v, t, nb_cat(x, n, t), nb_cat(dy, n, t), g, &s[1],
					   &pf);
			done = 2;
		}
		o.dx = nb_at(p->dx, i * n, t);
		if (ok && ok2) {
			nb_pf2_pass(&pf, nb_cat(x, n, t), nb_cat(dy, n, t), nb, iter, nb, work);
			nb_bwd_write2(p, v, t, x, dy, g, o.dx, &s[0], &s[1], o, stream, &pf);
			i += 2;
			continue;
		}
		if (ok) {
			nb_pf2_pass(&pf, x, dy, nb, iter, nb, work);
			nb_bwd_write1(p, v, t, x, dy, g, o, &s[0], stream, &pf);
		}
		/* the rows that go to the portable kernel, their contributions
		 * added in row order after the rows before them */
		for (size_t r = ok ? 1 : 0; r < done; r++) {
			if (!tmp)
				tmp = malloc(2 * n * sizeof(float));
			if (!tmp) {
				/* no memory for one row: the whole range goes portable
				 * (after the streamed rows are ordered before it) */
				if (stream)
					_mm_sfence();
				portable(p, row_begin, row_end, dgain_part, dbias_part);
				return;
			}
			portable(p, i + r, i + r + 1, tmp, o.db ? tmp + n : NULL);
			nb_add_into(o.dg, tmp, n);
			if (o.db)
				nb_add_into(o.db, tmp + n, n);
		}
		i += done;
	}
	if (stream)
		_mm_sfence();
	free(tmp);
}

#define NB_BWD_KERNEL(fn, variant, portable) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		nb_bwd_rows(p, row_begin, row_end, dgain_part, dbias_part, variant, \
			    NB_DTYPE_F32, p->gain, portable); \
	}

/*
 * 16-bit storage: the gain widened to f32 once per call (a call is at most
 * one 64-row chunk), into the caller's stack buffer of NB_GAIN_STACK floats
 * when it fits, else into an aligned heap copy; 64-byte aligned, so the
 * write pass's gain loads never cross a line. Without memory for the copy
 * the range goes to the portable kernel (a different summation order: the
 * results then differ from this kernel's by rounding, within the same
 * bounds).
 */
#define NB_GAIN_STACK ((size_t)4096)

NB_AVX512_INLINE void nb_bwd16_rows(const struct nb_problem *p, size_t row_begin,
				    size_t row_end, void *dgain_part, void *dbias_part,
				    enum nb_variant v, enum nb_dtype t, nb_rows_fn portable,
				    float *stack)
{
	size_t n = p->n;
	float *heap = NULL, *g = stack;

	if (n > NB_GAIN_STACK) {
		heap = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
		if (!heap) {
			portable(p, row_begin, row_end, dgain_part, dbias_part);
			return;
		}
		g = heap;
	}
	for (size_t j = 0; j < n; j += NB_AVX512_LANES) {
		size_t cnt = n - j < NB_AVX512_LANES ? n - j : NB_AVX512_LANES;
		__mmask16 m = nb_avx512_tail_mask_full(cnt);

		_mm512_mask_storeu_ps(g + j, m, nb_avx512_load_mask(t, p->gain, j, m));
	}
	nb_bwd_rows(p, row_begin, row_end, dgain_part, dbias_part, v, t, g, portable);
	free(heap);
}

#define NB_BWD16_KERNEL(fn, variant, t, portable) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		float stack[NB_GAIN_STACK] __attribute__((aligned(64))); \
		nb_bwd16_rows(p, row_begin, row_end, dgain_part, dbias_part, variant, t, \
			      portable, stack); \
	}

/* LayerNorm backward: dx = r ((dyh - mean(dyh)) - xhat * coef); 3 passes over x
 * (mean; squared deviations with sum dyh and sum dyh (x - mu); write).
 * f32, bf16 and f16 storage, f32 accumulation, f32 partials; 16-bit dx is
 * the f32 value rounded once to nearest even (see the head comment). */
NB_BWD_KERNEL(nb_layernorm_bwd_f32_avx512, NB_VARIANT_LAYERNORM,
	      nb_layernorm_bwd_f32_portable)
NB_BWD16_KERNEL(nb_layernorm_bwd_bf16_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
		nb_layernorm_bwd_bf16_portable)
NB_BWD16_KERNEL(nb_layernorm_bwd_f16_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
		nb_layernorm_bwd_f16_portable)
/* RMSNorm backward: dx = r (dyh - xhat * coef); 2 passes (sum x^2 with
 * sum dyh x; write). f32, bf16, f16 as LayerNorm's. */
NB_BWD_KERNEL(nb_rmsnorm_bwd_f32_avx512, NB_VARIANT_RMSNORM, nb_rmsnorm_bwd_f32_portable)
NB_BWD16_KERNEL(nb_rmsnorm_bwd_bf16_avx512, NB_VARIANT_RMSNORM, NB_DTYPE_BF16,
		nb_rmsnorm_bwd_bf16_portable)
NB_BWD16_KERNEL(nb_rmsnorm_bwd_f16_avx512, NB_VARIANT_RMSNORM, NB_DTYPE_F16,
		nb_rmsnorm_bwd_f16_portable)
/* pRMSNorm backward: as RMSNorm, the correction on the first k elements, its
 * sum over all n divided by k; 2 passes. f32, bf16, f16 as LayerNorm's. */
NB_BWD_KERNEL(nb_prmsnorm_bwd_f32_avx512, NB_VARIANT_PRMSNORM,
	      nb_prmsnorm_bwd_f32_portable)
NB_BWD16_KERNEL(nb_prmsnorm_bwd_bf16_avx512, NB_VARIANT_PRMSNORM, NB_DTYPE_BF16,
		nb_prmsnorm_bwd_bf16_portable)
NB_BWD16_KERNEL(nb_prmsnorm_bwd_f16_avx512, NB_VARIANT_PRMSNORM, NB_DTYPE_F16,
		nb_prmsnorm_bwd_f16_portable)
/* CRMSNorm backward: dx' = r (dyh' - (xhat' + s r) * coef) with m = d; 2 passes
 * (sum x', sum x'^2, sum dyh' x' together; write). f32, bf16, f16 as
 * LayerNorm's. */
NB_BWD_KERNEL(nb_crmsnorm_bwd_f32_avx512, NB_VARIANT_CRMSNORM,
	      nb_crmsnorm_bwd_f32_portable)
NB_BWD16_KERNEL(nb_crmsnorm_bwd_bf16_avx512, NB_VARIANT_CRMSNORM, NB_DTYPE_BF16,
		nb_crmsnorm_bwd_bf16_portable)
NB_BWD16_KERNEL(nb_crmsnorm_bwd_f16_avx512, NB_VARIANT_CRMSNORM, NB_DTYPE_F16,
		nb_crmsnorm_bwd_f16_portable)
