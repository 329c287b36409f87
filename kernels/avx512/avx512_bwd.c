/* AVX-512 backward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm in
 * f32 with f32 accumulation: dx, and the partial sums dgain = sum dy * xhat and
 * dbias = sum dy over the given rows (SPEC §1, the portable kernels' semantics). */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
	!defined(__AVX512DQ__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx512 must be compiled with the AVX-512 flags of the Makefile (AVX512_FLAGS)"
#endif

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/avx512/nb_avx512.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_prefetch.h"

/*
 * The formulas, with dyh = dy * g, xhat the normalized input, r the scale and
 * c = (1/m) sum_i dyh_i xhat_i (m: n, k for pRMSNorm, d for CRMSNorm):
 *
 *   dx_j = r * ((dyh_j - mdy) - (xhat_j + shat) * coef)
 *
 *   eps inside,  r = 1/sqrt(ms + eps):  coef = c
 *   eps outside, r = 1/(sqrt(ms) + eps): coef = q c, q = (sqrt(ms) + eps) /
 *     sqrt(ms) = 1/(r sqrt(ms)), because d r / d ms = -r^2 / (2 sqrt(ms))
 *     instead of -r^3 / 2; at ms = 0 the row is zero (LayerNorm: constant),
 *     c = 0, and the correction's limit is 0, so q = 0 there
 *
 *   LayerNorm: xhat = (x - mu) r, mdy = mean(dyh), shat = 0, with the mean
 *              scheme of kernels/nb_kernels.h: mu = mu_hi + mu_lo (shifted
 *              first pass; S1, S2 in the deviation pass), xhat =
 *              fma(x - mu_hi, r, -(mu_lo r)), sum dyh (x - mu) = sum dyh
 *              (x - mu_hi) - mu_lo sum dyh
 *   RMSNorm:   xhat = x r, mdy = 0, shat = 0
 *   pRMSNorm:  as RMSNorm, r and c from ms of x[0, k) and 1/k, the
 *              correction term only on j < k (dyh and xhat summed over all n)
 *   CRMSNorm:  xhat = x' r, s = sum x', shat = s r, m = d: d ms/d x'_j =
 *              2 (x'_j + s) / d
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
 * underflowed with a tiny eps (NB_TINY), is computed by the portable kernel
 * and its partial contributions added in row order.
 */

#define NB_UNROLL ((size_t)4 * NB_AVX512_LANES)

/* Which sums a moments pass takes. */
enum {
	NB_M_SUM = 1,     /* sum x (with NB_M_CENTER: sum (x - mu)) */
	NB_M_SQ = 2,      /* sum (x - mu)^2 */
	NB_M_DY = 4,      /* sum dyh */
	NB_M_DOT = 8,     /* sum dyh (x - mu) */
	NB_M_CENTER = 16, /* subtract mu */
};

struct nb_moments {
	float sum, sq, dy, dot;
};

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
NB_AVX512_INLINE void nb_acc_at(struct nb_acc *a, int what, const float *x, const float *dy,
				const float *g, size_t o, __m512 vmu)
{
	__m512 zero = _mm512_setzero_ps();
	bool need_dy = what & (NB_M_DY | NB_M_DOT);

	__m512 vx = _mm512_loadu_ps(x + o);
	__m512 vdy = need_dy ? _mm512_loadu_ps(dy + o) : zero;

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

/* The sums of `what` over [0, len) of x, dy, g. */
NB_AVX512_INLINE struct nb_moments nb_moments(int what, const float *x, const float *dy,
					      const float *g, size_t len, float mu,
					      struct nb_pf2 *pf)
{
	__m512 zero = _mm512_setzero_ps();
	struct nb_acc a0 = { zero, zero, zero, zero };
	struct nb_acc a1 = a0, a2 = a0, a3 = a0;
	__m512 vmu = _mm512_set1_ps(mu);
	struct nb_moments out = { 0.0f, 0.0f, 0.0f, 0.0f };
	size_t j = 0;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf2_step(pf);
		nb_acc_at(&a0, what, x, dy, g, j, vmu);
		nb_acc_at(&a1, what, x, dy, g, j + 16, vmu);
		nb_acc_at(&a2, what, x, dy, g, j + 32, vmu);
		nb_acc_at(&a3, what, x, dy, g, j + 48, vmu);
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES)
		nb_acc_at(&a0, what, x, dy, g, j, vmu);
	if (j < len) {
		__mmask16 m = nb_avx512_tail_mask(len - j);
		bool need_dy = what & (NB_M_DY | NB_M_DOT);

		nb_acc_step(&a1, what, _mm512_maskz_loadu_ps(m, x + j),
			    need_dy ? _mm512_maskz_loadu_ps(m, dy + j) : zero,
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

/* The scalars of one row's write pass. */
struct nb_bwd_row {
	float mu, r, mdy, shat, coef;
	float mlr;  /* LayerNorm: mu_lo r (the mean scheme) */
};

struct nb_bwd_out {
	float *dx, *dg, *db;
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

/* dx at j: a streaming store (all lanes, dx + j 64-byte aligned) or an
 * ordinary masked one. */
NB_AVX512_INLINE void nb_bwd_store(float *dx, size_t j, __mmask16 m, __m512 v, bool stream)
{
	if (stream)
		_mm512_stream_ps(dx + j, v);
	else
		_mm512_mask_storeu_ps(dx + j, m, v);
}

/* One vector of the write pass at offset j, lanes m; dx by an ordinary
 * (masked) store, or by a streaming store when stream (m full, dx + j
 * 64-byte aligned). */
NB_AVX512_INLINE void nb_bwd_vec(const float *x, const float *dy, const float *g,
				 struct nb_bwd_out o, size_t j, __mmask16 m,
				 const struct nb_bwd_row *s, bool center, bool use_mdy,
				 bool use_shat, bool correct, bool stream)
{
	__m512 vdy = _mm512_maskz_loadu_ps(m, dy + j);
	__m512 xh;
	__m512 dx = nb_bwd_core(_mm512_maskz_loadu_ps(m, x + j), vdy,
				_mm512_maskz_loadu_ps(m, g + j), s, center, use_mdy, use_shat,
				correct, &xh);

	nb_bwd_store(o.dx, j, m, dx, stream);
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
NB_AVX512_INLINE void nb_bwd_vec2(const float *xa, const float *dya, const float *xb,
				  const float *dyb, const float *g, float *dxa, float *dxb,
				  struct nb_bwd_out o, size_t j, __mmask16 m,
				  const struct nb_bwd_row *sa, const struct nb_bwd_row *sb,
				  bool center, bool use_mdy, bool use_shat, bool correct,
				  bool stream, bool has_db)
{
	__m512 vg = _mm512_maskz_loadu_ps(m, g + j);
	__m512 vdya = _mm512_maskz_loadu_ps(m, dya + j);
	__m512 vdyb = _mm512_maskz_loadu_ps(m, dyb + j);
	__m512 xha, xhb;
	__m512 dx_a = nb_bwd_core(_mm512_maskz_loadu_ps(m, xa + j), vdya, vg, sa, center,
				  use_mdy, use_shat, correct, &xha);
	__m512 dx_b = nb_bwd_core(_mm512_maskz_loadu_ps(m, xb + j), vdyb, vg, sb, center,
				  use_mdy, use_shat, correct, &xhb);

	nb_bwd_store(dxa, j, m, dx_a, stream);
	nb_bwd_store(dxb, j, m, dx_b, stream);
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

/*
 * The body of nb_bwd_pass2, stream and has_db (o.db != NULL) constants.
 * Order: the unstreamed head, then the whole vectors from the end of the
 * row down (the statistics pass just went up the row, so its most recent
 * lines, still in L1, are used first: 16% less time at 8 x 4096 than
 * going up again), then the tail. Each element's sums and dx do not depend
 * on the order.
 */
NB_AVX512_INLINE void nb_bwd_pass2_body(const float *xa, const float *dya, const float *xb,
					const float *dyb, const float *g, float *dxa, float *dxb,
					struct nb_bwd_out o, size_t len,
					const struct nb_bwd_row *sa, const struct nb_bwd_row *sb,
					bool center, bool use_mdy, bool use_shat, bool correct,
					bool stream, bool has_db, struct nb_pf2 *pf)
{
	size_t head = 0, hi, e;

	if (stream) {
		head = ((64 - ((uintptr_t)dxa & 63)) & 63) / sizeof(float);
		if (head > len)
			head = len;
	}
	for (size_t j = 0; j < head; j += NB_AVX512_LANES) {
		size_t cnt = head - j < NB_AVX512_LANES ? head - j : NB_AVX512_LANES;

		nb_bwd_vec2(xa, dya, xb, dyb, g, dxa, dxb, o, j, nb_avx512_tail_mask_full(cnt),
			    sa, sb, center, use_mdy, use_shat, correct, false, has_db);
	}
	hi = head + (len - head) / NB_AVX512_LANES * NB_AVX512_LANES;
	for (e = hi; e >= head + 2 * NB_AVX512_LANES; e -= 2 * NB_AVX512_LANES) {
		nb_pf2_step(pf);
		nb_bwd_vec2(xa, dya, xb, dyb, g, dxa, dxb, o, e - NB_AVX512_LANES,
			    (__mmask16)0xffff, sa, sb, center, use_mdy, use_shat, correct, stream,
			    has_db);
		nb_bwd_vec2(xa, dya, xb, dyb, g, dxa, dxb, o, e - 2 * NB_AVX512_LANES,
			    (__mmask16)0xffff, sa, sb, center, use_mdy, use_shat, correct, stream,
			    has_db);
	}
	if (e > head)
		nb_bwd_vec2(xa, dya, xb, dyb, g, dxa, dxb, o, head, (__mmask16)0xffff, sa, sb,
			    center, use_mdy, use_shat, correct, stream, has_db);
	if (hi < len)
		nb_bwd_vec2(xa, dya, xb, dyb, g, dxa, dxb, o, hi,
			    nb_avx512_tail_mask(len - hi), sa, sb, center, use_mdy, use_shat,
			    correct, false, has_db);
}

/* The pair write pass over [0, len): as nb_bwd_pass for rows a and b,
 * whose dx rows have the same alignment (stream). */
NB_AVX512_INLINE void nb_bwd_pass2(const float *xa, const float *dya, const float *xb,
				   const float *dyb, const float *g, float *dxa, float *dxb,
				   struct nb_bwd_out o, size_t len, const struct nb_bwd_row *sa,
				   const struct nb_bwd_row *sb, bool center, bool use_mdy,
				   bool use_shat, bool correct, bool stream, struct nb_pf2 *pf)
{
	if (stream && o.db)
		nb_bwd_pass2_body(xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center, use_mdy,
				  use_shat, correct, true, true, pf);
	else if (stream)
		nb_bwd_pass2_body(xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center, use_mdy,
				  use_shat, correct, true, false, pf);
	else if (o.db)
		nb_bwd_pass2_body(xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center, use_mdy,
				  use_shat, correct, false, true, pf);
	else
		nb_bwd_pass2_body(xa, dya, xb, dyb, g, dxa, dxb, o, len, sa, sb, center, use_mdy,
				  use_shat, correct, false, false, pf);
}

/* [j0, j1) by ordinary stores, 16 lanes at a time. */
NB_AVX512_INLINE void nb_bwd_range(const float *x, const float *dy, const float *g,
				   struct nb_bwd_out o, size_t j0, size_t j1,
				   const struct nb_bwd_row *s, bool center, bool use_mdy,
				   bool use_shat, bool correct)
{
	for (size_t j = j0; j < j1; j += NB_AVX512_LANES) {
		size_t cnt = j1 - j < NB_AVX512_LANES ? j1 - j : NB_AVX512_LANES;

		nb_bwd_vec(x, dy, g, o, j, nb_avx512_tail_mask_full(cnt), s, center, use_mdy,
			   use_shat, correct, false);
	}
}

/* The write pass over [0, len) of one row: the head (unstreamed), the
 * whole vectors from the end down (see nb_bwd_pass2_body), the tail.
 * stream: dx's whole 64-byte lines by non-temporal stores (dx must be
 * element-aligned); the values are the same either way. */
NB_AVX512_INLINE void nb_bwd_pass(const float *x, const float *dy, const float *g,
				  struct nb_bwd_out o, size_t len, const struct nb_bwd_row *s,
				  bool center, bool use_mdy, bool use_shat, bool correct,
				  bool stream, struct nb_pf2 *pf)
{
	size_t head = 0, hi, e;

	if (stream) {
		head = ((64 - ((uintptr_t)o.dx & 63)) & 63) / sizeof(float);
		if (head > len)
			head = len;
	}
	nb_bwd_range(x, dy, g, o, 0, head, s, center, use_mdy, use_shat, correct);
	hi = head + (len - head) / NB_AVX512_LANES * NB_AVX512_LANES;
	for (e = hi; e >= head + 2 * NB_AVX512_LANES; e -= 2 * NB_AVX512_LANES) {
		nb_pf2_step(pf);
		nb_bwd_vec(x, dy, g, o, e - NB_AVX512_LANES, (__mmask16)0xffff, s, center,
			   use_mdy, use_shat, correct, stream);
		nb_bwd_vec(x, dy, g, o, e - 2 * NB_AVX512_LANES, (__mmask16)0xffff, s, center,
			   use_mdy, use_shat, correct, stream);
	}
	if (e > head)
		nb_bwd_vec(x, dy, g, o, head, (__mmask16)0xffff, s, center, use_mdy, use_shat,
			   correct, stream);
	nb_bwd_range(x, dy, g, o, hi, len, s, center, use_mdy, use_shat, correct);
}

/*
 * The portable kernels' underflow guard (NB_TINY_F32 of
 * kernels/portable/nb_portable.h): a statistic below 2^-80 while eps times
 * its divisor is below 2^-80 too may have lost squares to underflow, and the
 * row goes to the portable kernel (which rescales it).
 */
#define NB_TINY 0x1p-80f

/* Elements one row's passes visit, all passes together (the prefetch shares). */
NB_AVX512_INLINE size_t nb_bwd_work(const struct nb_problem *p, enum nb_variant v)
{
	return (v == NB_VARIANT_LAYERNORM ? 3 : 2) * p->n;
}

/* The row's scalars; false when a sum or scalar is not finite or the
 * statistic underflowed (NB_TINY): the portable kernel takes the row. */
NB_AVX512_INLINE bool nb_bwd_stats(const struct nb_problem *p, enum nb_variant v,
				   const float *x, const float *dy, struct nb_bwd_row *s,
				   struct nb_pf2 *pf)
{
	const float *g = p->gain;
	size_t nb = p->n * sizeof(float), work = nb_bwd_work(p, v) * sizeof(float);
	size_t iter = NB_UNROLL * sizeof(float);
	float eps = (float)p->conv.eps;
	float total, m, ms, c, q, sigma, mu_lo = 0.0f;
	struct nb_moments mo;

	s->mu = s->mdy = s->shat = 0.0f;
	switch (v) {
	case NB_VARIANT_LAYERNORM:
		/* the mean scheme (kernels/nb_kernels.h): shifted sum, then S1,
		 * S2 and sum dyh (x - mu) = sum dyh (x - mu_hi) - mu_lo sum dyh */
		m = (float)p->n;
		nb_pf2_pass(pf, x, dy, nb / 3, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_CENTER, x, dy, g, p->n, x[0], pf);
		s->mu = x[0] + mo.sum / m;
		if (!isfinite(s->mu))
			return false;
		nb_pf2_pass(pf, x, dy, 2 * nb / 3, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_SQ | NB_M_DY | NB_M_DOT | NB_M_CENTER, x, dy, g,
				p->n, s->mu, pf);
		total = nb_mean_residual_f(mo.sum, mo.sq, m, &mu_lo);
		mo.dot -= mu_lo * mo.dy;
		s->mdy = mo.dy / m;
		if (!isfinite(s->mdy))
			return false;
		break;
	case NB_VARIANT_PRMSNORM: {
		struct nb_moments rest;

		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SQ | NB_M_DOT, x, dy, g, p->k, 0.0f, pf);
		rest = nb_moments(NB_M_DOT, x + p->k, dy + p->k, g + p->k, p->n - p->k, 0.0f,
				  pf);
		mo.dot += rest.dot;
		m = (float)p->k;
		total = mo.sq;
		break;
	}
	case NB_VARIANT_CRMSNORM:
		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_SQ | NB_M_DOT, x, dy, g, p->n, 0.0f, pf);
		m = (float)p->d;
		total = mo.sq + mo.sum * mo.sum;
		break;
	default:
		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SQ | NB_M_DOT, x, dy, g, p->n, 0.0f, pf);
		m = (float)p->n;
		total = mo.sq;
		break;
	}
	if (!(total <= FLT_MAX) || !isfinite(mo.dot) || (total < NB_TINY && eps * m < NB_TINY))
		return false;
	ms = total / m;
	sigma = sqrtf(ms);
	if (p->conv.eps_mode == NB_EPS_INSIDE) {
		s->r = 1.0f / sqrtf(ms + eps);
		q = 1.0f;
	} else {
		s->r = 1.0f / (sigma + eps);
		q = sigma > 0.0f ? 1.0f + eps / sigma : 0.0f;
	}
	/* c = S / m with S = sum dyh xhat = r sum dyh (x - mu) */
	c = mo.dot * s->r / m;
	s->coef = q * c;
	s->mlr = mu_lo * s->r;
	if (v == NB_VARIANT_CRMSNORM)
		s->shat = mo.sum * s->r;
	return isfinite(s->r) && isfinite(c) && isfinite(s->coef) && isfinite(s->shat);
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
				    const float *x, const float *dy, struct nb_bwd_out o,
				    const struct nb_bwd_row *s, bool stream, struct nb_pf2 *pf)
{
	bool center = v == NB_VARIANT_LAYERNORM;

	if (v == NB_VARIANT_PRMSNORM) {
		struct nb_bwd_out rest = { o.dx + p->k, o.dg + p->k, o.db ? o.db + p->k : NULL };

		nb_bwd_pass(x, dy, p->gain, o, p->k, s, false, false, false, true, stream, pf);
		nb_bwd_pass(x + p->k, dy + p->k, (const float *)p->gain + p->k, rest, p->n - p->k,
			    s, false, false, false, false, stream, pf);
	} else {
		nb_bwd_pass(x, dy, p->gain, o, p->n, s, center, center,
			    v == NB_VARIANT_CRMSNORM, true, stream, pf);
	}
}

/* The write pass of rows a and b = a + 1 together. */
NB_AVX512_INLINE void nb_bwd_write2(const struct nb_problem *p, enum nb_variant v,
				    const float *xa, const float *dya, float *dxa,
				    const struct nb_bwd_row *sa, const struct nb_bwd_row *sb,
				    struct nb_bwd_out o, bool stream, struct nb_pf2 *pf)
{
	size_t n = p->n, k = p->k;
	bool center = v == NB_VARIANT_LAYERNORM;
	const float *g = p->gain;

	if (v == NB_VARIANT_PRMSNORM) {
		struct nb_bwd_out rest = { NULL, o.dg + k, o.db ? o.db + k : NULL };

		nb_bwd_pass2(xa, dya, xa + n, dya + n, g, dxa, dxa + n, o, k, sa, sb, false,
			     false, false, true, stream, pf);
		nb_bwd_pass2(xa + k, dya + k, xa + n + k, dya + n + k, g + k, dxa + k,
			     dxa + n + k, rest, n - k, sa, sb, false, false, false, false, stream,
			     pf);
	} else {
		nb_bwd_pass2(xa, dya, xa + n, dya + n, g, dxa, dxa + n, o, n, sa, sb, center,
			     center, v == NB_VARIANT_CRMSNORM, true, stream, pf);
	}
}

/*
 * Rows go in pairs where both rows' statistics are finite: the write pass
 * of a pair loads gain and the partials once and updates the partials once
 * for both rows (in row order, so the sums are those of one row after the
 * other). The partials' read-modify-write is a large part of a backward
 * row's L1 traffic: pairing took RMSNorm backward of 16 x 4096 (in L2) from
 * 14.6 to 11.9 us (README, performance section). A pair streams only when
 * its two dx rows have the same alignment (n * 4 a multiple of 64);
 * otherwise the rows go one by one.
 */
NB_AVX512_INLINE void nb_bwd_rows(const struct nb_problem *p, size_t row_begin,
				  size_t row_end, void *dgain_part, void *dbias_part,
				  enum nb_variant v, nb_rows_fn portable)
{
	size_t n = p->n;
	struct nb_bwd_out o = { NULL, dgain_part, dbias_part };
	float *tmp = NULL;
	size_t nb = n * sizeof(float), work = nb_bwd_work(p, v) * sizeof(float);
	bool stream = nb_stream_wanted(3 * p->rows * nb) && (uintptr_t)p->dx % sizeof(float) == 0;
	bool pairs = !stream || nb % 64 == 0;
	size_t iter = 2 * NB_AVX512_LANES * sizeof(float);
	struct nb_pf2 pf = { nb_pf_init(p->x, nb, row_begin, row_end, stream),
			     nb_pf_init(p->dy, nb, row_begin, row_end, stream) };

	/* the partials are written: sums over these rows only, from zero */
	memset(o.dg, 0, n * sizeof(float));
	if (o.db)
		memset(o.db, 0, n * sizeof(float));
	for (size_t i = row_begin; i < row_end;) {
		const float *x = (const float *)p->x + i * n;
		const float *dy = (const float *)p->dy + i * n;
		struct nb_bwd_row s[2];
		size_t done = 1;
		bool ok = nb_bwd_stats(p, v, x, dy, &s[0], &pf);
		bool ok2 = false;

		if (ok && pairs && i + 1 < row_end) {
			ok2 = nb_bwd_stats(p, v, x + n, dy + n, &s[1], &pf);
			done = 2;
		}
		o.dx = (float *)p->dx + i * n;
		if (ok && ok2) {
			nb_pf2_pass(&pf, x + n, dy + n, nb, iter, nb, work);
			nb_bwd_write2(p, v, x, dy, o.dx, &s[0], &s[1], o, stream, &pf);
			i += 2;
			continue;
		}
		if (ok) {
			nb_pf2_pass(&pf, x, dy, nb, iter, nb, work);
			nb_bwd_write1(p, v, x, dy, o, &s[0], stream, &pf);
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
		nb_bwd_rows(p, row_begin, row_end, dgain_part, dbias_part, variant, portable); \
	}

/* LayerNorm backward: dx = r ((dyh - mean(dyh)) - xhat * coef); 3 passes over x
 * (mean; squared deviations with sum dyh and sum dyh (x - mu); write). */
NB_BWD_KERNEL(nb_layernorm_bwd_f32_avx512, NB_VARIANT_LAYERNORM,
	      nb_layernorm_bwd_f32_portable)
/* RMSNorm backward: dx = r (dyh - xhat * coef); 2 passes (sum x^2 with
 * sum dyh x; write). */
NB_BWD_KERNEL(nb_rmsnorm_bwd_f32_avx512, NB_VARIANT_RMSNORM, nb_rmsnorm_bwd_f32_portable)
/* pRMSNorm backward: as RMSNorm, the correction on the first k elements, its
 * sum over all n divided by k; 2 passes. */
NB_BWD_KERNEL(nb_prmsnorm_bwd_f32_avx512, NB_VARIANT_PRMSNORM,
	      nb_prmsnorm_bwd_f32_portable)
/* CRMSNorm backward: dx' = r (dyh' - (xhat' + s r) * coef) with m = d; 2 passes
 * (sum x', sum x'^2, sum dyh' x' together; write). */
NB_BWD_KERNEL(nb_crmsnorm_bwd_f32_avx512, NB_VARIANT_CRMSNORM,
	      nb_crmsnorm_bwd_f32_portable)
