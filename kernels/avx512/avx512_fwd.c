/* AVX-512 forward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm for
 * f32, bf16 and f16 storage, all accumulating in f32 (SPEC §1 semantics, the
 * same as the portable kernels'; registry lines in kernels/registry.def). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
	!defined(__AVX512DQ__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx512 must be compiled with the AVX-512 flags of the Makefile (AVX512_FLAGS)"
#endif

#include <float.h>
#include <stddef.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "kernels/avx512/nb_avx512.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_prefetch.h"

/*
 * Shared shape of every kernel here, per row:
 *   sums   one pass over x (LayerNorm: two, sum then squared deviations from
 *          the mean, never E[x^2] - mu^2), eight independent 16-lane f32
 *          accumulators fed by explicit FMA (element j goes to accumulator
 *          (j / 16) mod 8 of the unrolled loop; after it one step of four
 *          vectors to the first four when 64 elements are left, the last
 *          full vectors to the first, a masked tail to the second), then a
 *          fixed reduction tree,
 *          so a row's result depends on that row's length and values alone
 *          (never on alignment, the row range or the thread count);
 *   check  a non-finite sum or scale (a NaN/Inf in the row, or finite values
 *          whose squares or sums overflow f32), or squares that underflowed
 *          with a tiny eps (NB_TINY), sends that one row to the portable
 *          kernel, whose (rescaled) result it then is;
 *   scale  y = ((x - mu) * r) * g (+ b, by FMA), one pass, a 64-byte line
 *          of y at a time through nb_avx512_store_line: non-temporal stores
 *          for problems beyond the last-level cache (nb_stream_wanted),
 *          ordinary ones below (16-bit types: round to nearest even either
 *          way; the same bits). A 16-bit problem of several rows widens
 *          gain and bias to f32 once per call (nb_widen_params).
 * y may alias x exactly (in place): every pass reads element j before the
 * scale pass writes element j, and nothing else is read after.
 *
 * Memory: the passes after the first reread the row from L1/L2. While a row
 * is processed, its thread prefetches the x lines NB_PF_AHEAD bytes ahead,
 * spread over all passes in proportion to their work (kernels/nb_prefetch.h),
 * so reading from DRAM does not stop while the row is computed.
 */

/*
 * Tuning notes (4096 x 4096 unless named, one thread, fraction of the
 * streaming-store copy measured in the same interleaved run; README,
 * performance section, has the full tables and the method):
 *   streaming stores for y beyond 32 MiB       RMSNorm 66% -> 83%, pRMSNorm 75% -> 95%
 *   prefetch cursor 16 KiB ahead, spread       +5..10 points (8 KiB, 24 KiB, 32 KiB
 *     over the passes                            and T1 hints: worse or equal)
 *   ... but only when streaming                256 x 4096 RMSNorm: 45% -> 60% of copy
 *   one load per vector (NB_SUMSQ_STEP)        CRMSNorm 29 -> 48 GB/s
 *   bf16: VCVTNE2PS2BF16 + subnormal check     one row of bf16: 0.41 -> 0.27 us
 *   16-bit: gain/bias widened once per call    LayerNorm bf16 34% -> 50%
 *   8 accumulators (was 4)                     no change beyond the noise (kept:
 *                                              2 FMA pipes x 4-cycle latency)
 *   tried, no gain: row blocks with column chunks (g, b reused across 2..8
 *   rows: 65-75% against 72-83% row by row), the write pass backwards.
 * Not reached: LayerNorm ~72% (x, gain and bias fill L1 with the lines
 * prefetched for the next row; with bias = gain it reaches ~83%), rows that
 * are not whole 64-byte lines (CRMSNorm, n = d - 1) ~55-60%.
 */

/* 8 accumulators of 16 lanes: 128 elements per unrolled iteration */
#define NB_UNROLL ((size_t)8 * NB_AVX512_LANES)
/* the scale pass: 4 vectors per iteration */
#define NB_SCALE_UNROLL ((size_t)4 * NB_AVX512_LANES)

NB_AVX512_INLINE size_t nb_elem_size(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)), then the lanes in
 * _mm512_reduce_add_ps's fixed order */
NB_AVX512_INLINE float nb_reduce8(__m512 a0, __m512 a1, __m512 a2, __m512 a3, __m512 a4,
				  __m512 a5, __m512 a6, __m512 a7)
{
	__m512 lo = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
	__m512 hi = _mm512_add_ps(_mm512_add_ps(a4, a5), _mm512_add_ps(a6, a7));

	return _mm512_reduce_add_ps(_mm512_add_ps(lo, hi));
}

/* sum of x[0, len) */
NB_AVX512_INLINE float nb_sum(enum nb_dtype t, const void *x, size_t len, struct nb_pf *pf)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	__m512 a4 = a0, a5 = a0, a6 = a0, a7 = a0;
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf_step(pf);
		a0 = _mm512_add_ps(a0, nb_avx512_load(t, x, j));
		a1 = _mm512_add_ps(a1, nb_avx512_load(t, x, j + 16));
		a2 = _mm512_add_ps(a2, nb_avx512_load(t, x, j + 32));
		a3 = _mm512_add_ps(a3, nb_avx512_load(t, x, j + 48));
		a4 = _mm512_add_ps(a4, nb_avx512_load(t, x, j + 64));
		a5 = _mm512_add_ps(a5, nb_avx512_load(t, x, j + 80));
		a6 = _mm512_add_ps(a6, nb_avx512_load(t, x, j + 96));
		a7 = _mm512_add_ps(a7, nb_avx512_load(t, x, j + 112));
	}
	if (j + NB_UNROLL / 2 <= len) {
		a0 = _mm512_add_ps(a0, nb_avx512_load(t, x, j));
		a1 = _mm512_add_ps(a1, nb_avx512_load(t, x, j + 16));
		a2 = _mm512_add_ps(a2, nb_avx512_load(t, x, j + 32));
		a3 = _mm512_add_ps(a3, nb_avx512_load(t, x, j + 48));
		j += NB_UNROLL / 2;
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES)
		a0 = _mm512_add_ps(a0, nb_avx512_load(t, x, j));
	if (j < len)
		a1 = _mm512_add_ps(a1, nb_avx512_load_mask(t, x, j, nb_avx512_tail_mask(len - j)));
	return nb_reduce8(a0, a1, a2, a3, a4, a5, a6, a7);
}

/* v - mu when center (LayerNorm), else v; then acc + v * v */
NB_AVX512_INLINE __m512 nb_sq_step(__m512 acc, __m512 v, __m512 vmu, bool center)
{
	if (center)
		v = _mm512_sub_ps(v, vmu);
	return _mm512_fmadd_ps(v, v, acc);
}

/* sum of (x - mu)^2 over x[0, len) when center, else sum of x^2 */
NB_AVX512_INLINE float nb_sumsq(enum nb_dtype t, const void *x, size_t len, float mu,
				bool center, struct nb_pf *pf)
{
	__m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
	__m512 a4 = a0, a5 = a0, a6 = a0, a7 = a0;
	__m512 vmu = _mm512_set1_ps(mu);
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf_step(pf);
		a0 = nb_sq_step(a0, nb_avx512_load(t, x, j), vmu, center);
		a1 = nb_sq_step(a1, nb_avx512_load(t, x, j + 16), vmu, center);
		a2 = nb_sq_step(a2, nb_avx512_load(t, x, j + 32), vmu, center);
		a3 = nb_sq_step(a3, nb_avx512_load(t, x, j + 48), vmu, center);
		a4 = nb_sq_step(a4, nb_avx512_load(t, x, j + 64), vmu, center);
		a5 = nb_sq_step(a5, nb_avx512_load(t, x, j + 80), vmu, center);
		a6 = nb_sq_step(a6, nb_avx512_load(t, x, j + 96), vmu, center);
		a7 = nb_sq_step(a7, nb_avx512_load(t, x, j + 112), vmu, center);
	}
	if (j + NB_UNROLL / 2 <= len) {
		a0 = nb_sq_step(a0, nb_avx512_load(t, x, j), vmu, center);
		a1 = nb_sq_step(a1, nb_avx512_load(t, x, j + 16), vmu, center);
		a2 = nb_sq_step(a2, nb_avx512_load(t, x, j + 32), vmu, center);
		a3 = nb_sq_step(a3, nb_avx512_load(t, x, j + 48), vmu, center);
		j += NB_UNROLL / 2;
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES)
		a0 = nb_sq_step(a0, nb_avx512_load(t, x, j), vmu, center);
	if (j < len) {
		__mmask16 m = nb_avx512_tail_mask(len - j);
		__m512 v = nb_avx512_load_mask(t, x, j, m);

		/* the lanes past the row must stay 0, not -mu */
		if (center)
			v = _mm512_maskz_sub_ps(m, v, vmu);
		a1 = _mm512_fmadd_ps(v, v, a1);
	}
	return nb_reduce8(a0, a1, a2, a3, a4, a5, a6, a7);
}

/* s + v and q + v * v, v loaded once: without the empty asm GCC folds the
 * load into the add and loads the vector a second time for the FMA, which
 * costs a quarter of the bandwidth on rows that are not 64-byte aligned */
#define NB_SUMSQ_STEP(s, q, v) \
	do { \
		__m512 v_ = (v); \
		__asm__("" : "+v"(v_)); \
		s = _mm512_add_ps(s, v_); \
		q = _mm512_fmadd_ps(v_, v_, q); \
	} while (0)

/* sum of x and sum of x^2 over x[0, len) in one pass (CRMSNorm): the sum in
 * s0..s7 and the squares in q0..q7, by the same element-to-accumulator map */
NB_AVX512_INLINE void nb_sum_sumsq(enum nb_dtype t, const void *x, size_t len, float *sum,
				   float *sumsq, struct nb_pf *pf)
{
	__m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
	__m512 s4 = s0, s5 = s0, s6 = s0, s7 = s0;
	__m512 q0 = s0, q1 = s0, q2 = s0, q3 = s0, q4 = s0, q5 = s0, q6 = s0, q7 = s0;
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf_step(pf);
		NB_SUMSQ_STEP(s0, q0, nb_avx512_load(t, x, j));
		NB_SUMSQ_STEP(s1, q1, nb_avx512_load(t, x, j + 16));
		NB_SUMSQ_STEP(s2, q2, nb_avx512_load(t, x, j + 32));
		NB_SUMSQ_STEP(s3, q3, nb_avx512_load(t, x, j + 48));
		NB_SUMSQ_STEP(s4, q4, nb_avx512_load(t, x, j + 64));
		NB_SUMSQ_STEP(s5, q5, nb_avx512_load(t, x, j + 80));
		NB_SUMSQ_STEP(s6, q6, nb_avx512_load(t, x, j + 96));
		NB_SUMSQ_STEP(s7, q7, nb_avx512_load(t, x, j + 112));
	}
	if (j + NB_UNROLL / 2 <= len) {
		NB_SUMSQ_STEP(s0, q0, nb_avx512_load(t, x, j));
		NB_SUMSQ_STEP(s1, q1, nb_avx512_load(t, x, j + 16));
		NB_SUMSQ_STEP(s2, q2, nb_avx512_load(t, x, j + 32));
		NB_SUMSQ_STEP(s3, q3, nb_avx512_load(t, x, j + 48));
		j += NB_UNROLL / 2;
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES)
		NB_SUMSQ_STEP(s0, q0, nb_avx512_load(t, x, j));
	if (j < len)
		NB_SUMSQ_STEP(s1, q1, nb_avx512_load_mask(t, x, j, nb_avx512_tail_mask(len - j)));
	*sum = nb_reduce8(s0, s1, s2, s3, s4, s5, s6, s7);
	*sumsq = nb_reduce8(q0, q1, q2, q3, q4, q5, q6, q7);
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

/* The scalars and arrays of one row's write pass. */
struct nb_row_out {
	const void *x, *g, *b;
	void *y;
	__m512 vmu, vr;
};

/* Output vector at element j, the lanes in m (the others are not read). */
NB_AVX512_INLINE __m512 nb_out_vec(enum nb_dtype t, enum nb_dtype gt,
				   const struct nb_row_out *o, size_t j,
				   __mmask16 m, bool center, bool bias)
{
	__m512 vb = bias ? nb_avx512_load_mask(gt, o->b, j, m) : _mm512_setzero_ps();

	return nb_norm_vec(nb_avx512_load_mask(t, o->x, j, m), o->vmu, o->vr,
			   nb_avx512_load_mask(gt, o->g, j, m), vb, center, bias);
}

NB_AVX512_INLINE __m512 nb_out_full(enum nb_dtype t, enum nb_dtype gt,
				    const struct nb_row_out *o, size_t j,
				    bool center, bool bias)
{
	__m512 vb = bias ? nb_avx512_load(gt, o->b, j) : _mm512_setzero_ps();

	return nb_norm_vec(nb_avx512_load(t, o->x, j), o->vmu, o->vr,
			   nb_avx512_load(gt, o->g, j), vb, center, bias);
}

/* p moved by off elements of size es; off may be negative: the address of
 * a lane that a mask leaves out, never dereferenced (AVX-512 masked loads
 * and stores touch only their lanes), so it is formed by integer
 * arithmetic rather than pointer arithmetic outside the array. */
NB_AVX512_INLINE const void *nb_shift(const void *p, ptrdiff_t off, size_t es)
{
	return (const void *)((uintptr_t)p + (uintptr_t)(off * (ptrdiff_t)es));
}

/*
 * The row's elements [lo, hi) that fall in the 64-byte line of y starting
 * at element e0 (negative for the line the row shares with the row before)
 * as f32 lanes: v0 holds elements e0..e0+15 (lanes m0), v1 e0+16..e0+31
 * (lanes m1, 16-bit types only). The other lanes are 0 and their memory is
 * not touched.
 */
/* The row's elements [lo, hi) among b..b+15 as lanes of one vector. */
NB_AVX512_INLINE __m512 nb_part_vec(enum nb_dtype t, enum nb_dtype gt,
				    const struct nb_row_out *o, ptrdiff_t b, ptrdiff_t lo,
				    ptrdiff_t hi, bool center, bool bias, __mmask16 *mask)
{
	size_t es = nb_elem_size(t), gs = nb_dtype_traits[gt].size;
	ptrdiff_t lanes = (ptrdiff_t)NB_AVX512_LANES;
	ptrdiff_t from = lo > b ? lo - b : 0, to = hi < b + lanes ? hi - b : lanes;
	struct nb_row_out s = *o;
	__mmask16 m = 0;

	if (from < to)
		m = (__mmask16)(((1u << to) - 1u) & ~((1u << from) - 1u));
	*mask = m;
	if (!m)
		return _mm512_setzero_ps();
	s.x = nb_shift(o->x, b, es);
	s.g = nb_shift(o->g, b, gs);
	s.b = bias ? nb_shift(o->b, b, gs) : NULL;
	return nb_out_vec(t, gt, &s, 0, m, center, bias);
}

NB_AVX512_INLINE void nb_line_part(enum nb_dtype t, enum nb_dtype gt,
				   const struct nb_row_out *o, ptrdiff_t e0, ptrdiff_t lo,
				   ptrdiff_t hi, bool center, bool bias, __m512 *v0, __mmask16 *m0,
				   __m512 *v1, __mmask16 *m1)
{
	*v0 = nb_part_vec(t, gt, o, e0, lo, hi, center, bias, m0);
	*v1 = _mm512_setzero_ps();
	*m1 = 0;
	if (t != NB_DTYPE_F32)
		*v1 = nb_part_vec(t, gt, o, e0 + (ptrdiff_t)NB_AVX512_LANES, lo, hi, center, bias,
				  m1);
}

/*
 * The 64-byte line of y that two rows share when the row width is not a
 * multiple of a line: with streaming stores, the elements of the earlier
 * row (its tail) wait here until the next row's head completes the line,
 * which is then streamed whole, like every other line of y. Stored in two
 * parts by ordinary stores instead, the line would be read from memory for
 * ownership once per row. (Measured: no gain or loss within the noise at
 * 4096 x 4095 f32, where such rows stay at about 45-55% of the copy
 * bandwidth against 80% for rows of whole lines; README, performance
 * section.) line: the line's address, NULL when nothing waits.
 */
struct nb_edge {
	__m512 v0, v1;
	__mmask16 m0, m1;
	char *line;
};

/* Stores what waits in e by ordinary masked stores, and empties it. */
NB_AVX512_INLINE void nb_edge_flush(enum nb_dtype t, struct nb_edge *e)
{
	if (!e->line)
		return;
	nb_avx512_store_mask(t, e->line, 0, e->v0, e->m0);
	if (t != NB_DTYPE_F32)
		nb_avx512_store_mask(t, e->line, NB_AVX512_LANES, e->v1, e->m1);
	e->line = NULL;
}

/* One 64-byte line of y at element j (16 or 32 elements). */
NB_AVX512_INLINE void nb_out_line(enum nb_dtype t, enum nb_dtype gt,
				  const struct nb_row_out *o, size_t j,
				  bool center, bool bias, bool stream)
{
	__m512 v0 = nb_out_full(t, gt, o, j, center, bias);
	__m512 v1 = nb_elem_size(t) == sizeof(float)
		? v0 : nb_out_full(t, gt, o, j + NB_AVX512_LANES, center, bias);

	nb_avx512_store_line(t, o->y, j, v0, v1, stream);
}

/*
 * The write pass over y[0, n) of one row, the one store loop of the
 * forward kernels, a 64-byte line of y at a time (y element-aligned): the
 * row's part of the line it shares with the row before (its first head
 * elements), then the whole lines, then its part of the line it shares with
 * the row after. The lines go out with non-temporal stores when stream;
 * the shared lines then wait in edge (see struct nb_edge). Partial lines
 * are stored with masked stores based at the line's start, so no store
 * reaches into a line that is streamed. The values stored are the same
 * either way.
 */
NB_AVX512_INLINE void nb_scale_row(enum nb_dtype t, enum nb_dtype gt,
				   const struct nb_row_out *o, size_t n, size_t head,
				   bool center, bool bias, bool stream, struct nb_edge *edge,
				   struct nb_pf *pf)
{
	size_t es = nb_elem_size(t);
	size_t line = 64 / es;
	size_t lo = head < n ? head : n;
	size_t hi = lo + (n - lo) / line * line;
	size_t j;
	__m512 v0, v1;
	__mmask16 m0, m1;

	if (lo > 0) {
		ptrdiff_t e0 = (ptrdiff_t)head - (ptrdiff_t)line;
		char *ln = (char *)(uintptr_t)nb_shift(o->y, e0, es);

		nb_line_part(t, gt, o, e0, 0, (ptrdiff_t)lo, center, bias, &v0, &m0, &v1, &m1);
		if (stream && edge->line == ln && lo == head) {
			v0 = _mm512_mask_blend_ps(m0, edge->v0, v0);
			v1 = _mm512_mask_blend_ps(m1, edge->v1, v1);
			nb_avx512_store_line(t, ln, 0, v0, v1, true);
			edge->line = NULL;
		} else {
			nb_edge_flush(t, edge);
			nb_avx512_store_mask(t, ln, 0, v0, m0);
			if (t != NB_DTYPE_F32)
				nb_avx512_store_mask(t, ln, NB_AVX512_LANES, v1, m1);
		}
	}
	for (j = lo; j + NB_SCALE_UNROLL <= hi; j += NB_SCALE_UNROLL) {
		nb_pf_step(pf);
		for (size_t l = 0; l < NB_SCALE_UNROLL; l += line)
			nb_out_line(t, gt, o, j + l, center, bias, stream);
	}
	for (; j < hi; j += line)
		nb_out_line(t, gt, o, j, center, bias, stream);
	if (hi < n) {
		nb_line_part(t, gt, o, (ptrdiff_t)hi, (ptrdiff_t)hi, (ptrdiff_t)n, center, bias,
			     &v0, &m0, &v1, &m1);
		nb_edge_flush(t, edge);
		edge->v0 = v0;
		edge->v1 = v1;
		edge->m0 = m0;
		edge->m1 = m1;
		edge->line = (char *)o->y + hi * es;
		if (!stream)
			nb_edge_flush(t, edge);
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

/* Elements one row's passes visit, all passes together (the prefetch shares). */
NB_AVX512_INLINE size_t nb_row_work(const struct nb_problem *p, enum nb_variant v)
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
NB_AVX512_INLINE bool nb_row_stats(const struct nb_problem *p, enum nb_dtype t,
				   enum nb_variant v, const void *x, float *mu, float *r,
				   struct nb_pf *pf, const char *pf_row)
{
	float eps = (float)p->conv.eps;
	size_t es = nb_elem_size(t);
	size_t nb = p->n * es, work = nb_row_work(p, v) * es;
	size_t iter = NB_UNROLL * es;
	float total, div, ms;

	*mu = 0.0f;
	switch (v) {
	case NB_VARIANT_LAYERNORM:
		nb_pf_pass(pf, pf_row + nb / 3, iter, nb, work);
		*mu = nb_sum(t, x, p->n, pf) / (float)p->n;
		if (!isfinite(*mu))
			return false;
		nb_pf_pass(pf, pf_row + 2 * nb / 3, iter, nb, work);
		total = nb_sumsq(t, x, p->n, *mu, true, pf);
		div = (float)p->n;
		break;
	case NB_VARIANT_PRMSNORM:
		nb_pf_pass(pf, pf->pos < pf->end ? pf_row + nb * p->k / (p->k + p->n) : pf_row,
			   iter, nb, work);
		total = nb_sumsq(t, x, p->k, 0.0f, false, pf);
		div = (float)p->k;
		break;
	case NB_VARIANT_CRMSNORM: {
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		float s;

		nb_pf_pass(pf, pf_row + nb / 2, iter, nb, work);
		nb_sum_sumsq(t, x, p->n, &s, &total, pf);
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

/* Floats from the widened gain to the widened bias: n rounded up to a line. */
NB_AVX512_INLINE size_t nb_wide_stride(size_t n)
{
	return (n + NB_AVX512_LANES - 1) / NB_AVX512_LANES * NB_AVX512_LANES;
}

/*
 * The gain (and bias) of a 16-bit problem widened to f32 once per call, so
 * the write pass of every row loads them without converting: NULL for f32,
 * for a single row (the conversion would cost what it saves), or when there
 * is no memory (the rows then convert as they go: the same values).
 */
NB_AVX512_INLINE float *nb_widen_params(const struct nb_problem *p, enum nb_dtype t,
					size_t rows)
{
	size_t n = p->n;
	float *w;

	if (t == NB_DTYPE_F32 || rows < 2)
		return NULL;
	/* 64-byte aligned, each array starting on a line: the write pass loads
	 * them 64 bytes at a time (malloc's 16-byte alignment made three loads
	 * in four cross a line, which cost a third of f16 CRMSNorm's speed) */
	w = aligned_alloc(64, (p->bias ? 2 : 1) * nb_wide_stride(n) * sizeof(float));
	if (!w)
		return NULL;
	for (size_t j = 0; j < n; j += NB_AVX512_LANES) {
		size_t cnt = n - j < NB_AVX512_LANES ? n - j : NB_AVX512_LANES;
		__mmask16 m = nb_avx512_tail_mask_full(cnt);

		_mm512_mask_storeu_ps(w + j, m, nb_avx512_load_mask(t, p->gain, j, m));
		if (p->bias)
			_mm512_mask_storeu_ps(w + nb_wide_stride(n) + j, m,
					      nb_avx512_load_mask(t, p->bias, j, m));
	}
	return w;
}

NB_AVX512_INLINE void nb_fwd_rows(const struct nb_problem *p, size_t row_begin,
				  size_t row_end, enum nb_dtype t, enum nb_variant v,
				  nb_rows_fn portable)
{
	size_t n = p->n;
	size_t es = nb_elem_size(t);
	size_t stride = n * es;
	bool center = v == NB_VARIANT_LAYERNORM;
	bool aligned = (uintptr_t)p->y % es == 0;
	/* rows that are not a whole number of 64-byte lines are not streamed:
	 * measured at 4096 x 4095, f32 ordinary stores from the row start gave
	 * 36 GB/s against 31 for streamed lines (bf16, f16: the same within
	 * the noise); see struct nb_edge */
	bool stream = nb_stream_wanted(2 * p->rows * stride) && aligned && stride % 64 == 0;
	const char *x0 = p->x;
	float *wide = nb_widen_params(p, t, row_end - row_begin);
	const void *g = wide ? (const void *)wide : p->gain;
	const void *b = wide ? (const void *)(wide + nb_wide_stride(n)) : p->bias;
	struct nb_pf pf = nb_pf_init(x0, stride, row_begin, row_end, stream);
	struct nb_edge edge = { _mm512_setzero_ps(), _mm512_setzero_ps(), 0, 0, NULL };

	for (size_t i = row_begin; i < row_end; i++) {
		const char *pf_row = nb_pf_row(x0, stride, i);
		struct nb_row_out o = { x0 + i * stride, g, b, (char *)p->y + i * stride,
					_mm512_setzero_ps(), _mm512_setzero_ps() };
		/* streamed, the whole lines start at y's first line boundary;
		 * otherwise at the row start */
		size_t head = stream ? ((64 - ((uintptr_t)o.y & 63)) & 63) / es : 0;
		float mu, r;

		if (!nb_row_stats(p, t, v, o.x, &mu, &r, &pf, pf_row)) {
			nb_edge_flush(t, &edge);
			portable(p, i, i + 1, NULL, NULL);
			continue;
		}
		o.vmu = _mm512_set1_ps(mu);
		o.vr = _mm512_set1_ps(r);
		nb_pf_pass(&pf, pf_row + stride, NB_SCALE_UNROLL * es, stride,
			   nb_row_work(p, v) * es);
		if (wide && p->bias)
			nb_scale_row(t, NB_DTYPE_F32, &o, n, head, center, true, stream, &edge, &pf);
		else if (wide)
			nb_scale_row(t, NB_DTYPE_F32, &o, n, head, center, false, stream, &edge, &pf);
		else if (p->bias)
			nb_scale_row(t, t, &o, n, head, center, true, stream, &edge, &pf);
		else
			nb_scale_row(t, t, &o, n, head, center, false, stream, &edge, &pf);
	}
	nb_edge_flush(t, &edge);
	if (stream)
		_mm_sfence();
	free(wide);
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
