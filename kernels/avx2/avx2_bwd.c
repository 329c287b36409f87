/* AVX2 backward kernels of LayerNorm, RMSNorm, pRMSNorm and CRMSNorm in f32
 * with f32 accumulation: dx, and the partial sums dgain = sum dy * xhat and
 * dbias = sum dy over the given rows (SPEC §1, the portable kernels' semantics). */
#if !defined(__AVX2__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx2 must be compiled with the AVX2 flags of the Makefile (AVX2_FLAGS)"
#endif

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/avx2/nb_avx2.h"
#include "kernels/nb_bwd_row.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_prefetch.h"

/*
 * The formulas and the row algebra: kernels/nb_bwd_row.h (shared with the
 * AVX-512 kernels).
 *
 * Per row: one pass for the sums (LayerNorm: two, the mean first), then one
 * pass writing dx and adding dy * xhat and dy to the partials, from the end
 * of the row down (its lines still in L1 from the sums pass come first); for
 * problems beyond the last-level cache (nb_stream_wanted) dx goes out by
 * streaming stores and x and dy are prefetched ahead (kernels/nb_prefetch.h),
 * the same bits either way. (Row pairs, as in the AVX-512 kernels, are not
 * done here.) Sums use
 * independent 8-lane f32 accumulators (four per sum, two when a pass takes
 * three sums, to stay within 16 registers) with explicit FMA and a fixed
 * reduction order. dx must not alias x, dy or the partials. A row whose sums
 * or scalars are not finite (NaN/Inf inside, or overflow of f32 sums), or
 * whose statistic underflowed with a tiny eps (NB_BWD_TINY), is computed by the
 * portable kernel and its partial contributions added in row order.
 */

NB_AVX2_INLINE float nb_reduce4(__m256 a0, __m256 a1, __m256 a2, __m256 a3)
{
	return nb_avx2_hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

struct nb_acc {
	__m256 sum, sq, dy, dot;
};

/* Adds one vector; x and dy are zero in the lanes past a tail, and keep
 * (all ones in the row's lanes) zeroes x - mu there. */
NB_AVX2_INLINE void nb_acc_step(struct nb_acc *a, int what, __m256 x, __m256 dy, __m256 g,
				__m256 vmu, bool tail, __m256 keep)
{
	__m256 xc = x;

	if (what & NB_M_CENTER) {
		xc = _mm256_sub_ps(x, vmu);
		if (tail)
			xc = _mm256_and_ps(xc, keep);
	}
	if (what & NB_M_SUM)
		a->sum = _mm256_add_ps(a->sum, xc);
	if (what & NB_M_SQ)
		a->sq = _mm256_fmadd_ps(xc, xc, a->sq);
	if (what & (NB_M_DY | NB_M_DOT)) {
		__m256 dyh = _mm256_mul_ps(dy, g);

		if (what & NB_M_DY)
			a->dy = _mm256_add_ps(a->dy, dyh);
		if (what & NB_M_DOT)
			a->dot = _mm256_fmadd_ps(dyh, xc, a->dot);
	}
}

/* One full vector at offset o into accumulator a. */
NB_AVX2_INLINE void nb_acc_at(struct nb_acc *a, int what, const float *x, const float *dy,
			      const float *g, size_t o, __m256 vmu)
{
	__m256 zero = _mm256_setzero_ps();
	bool need_dy = what & (NB_M_DY | NB_M_DOT);

	__m256 vx = _mm256_loadu_ps(x + o);
	__m256 vdy = need_dy ? _mm256_loadu_ps(dy + o) : zero;

	/* one load of each vector: GCC would otherwise fold a load into each
	 * of its uses */
	__asm__("" : "+x"(vx), "+x"(vdy));
	nb_acc_step(a, what, vx, vdy, need_dy ? _mm256_loadu_ps(g + o) : zero, vmu, false, zero);
}

NB_AVX2_INLINE float nb_acc_sum(const struct nb_acc *a0, const struct nb_acc *a1,
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
NB_AVX2_INLINE struct nb_moments nb_moments(int what, const float *x, const float *dy,
					    const float *g, size_t len, float mu,
					    struct nb_pf2 *pf)
{
	__m256 zero = _mm256_setzero_ps();
	struct nb_acc a0 = { zero, zero, zero, zero };
	struct nb_acc a1 = a0, a2 = a0, a3 = a0;
	__m256 vmu = _mm256_set1_ps(mu);
	struct nb_moments out = { 0.0f, 0.0f, 0.0f, 0.0f };
	size_t j = 0;

	if (__builtin_popcount((unsigned)what & 15u) <= 2) {
		for (; j + 4 * NB_AVX2_LANES <= len; j += 4 * NB_AVX2_LANES) {
			nb_pf2_step(pf);
			nb_acc_at(&a0, what, x, dy, g, j, vmu);
			nb_acc_at(&a1, what, x, dy, g, j + 8, vmu);
			nb_acc_at(&a2, what, x, dy, g, j + 16, vmu);
			nb_acc_at(&a3, what, x, dy, g, j + 24, vmu);
		}
	} else {
		for (; j + 2 * NB_AVX2_LANES <= len; j += 2 * NB_AVX2_LANES) {
			if (j % (4 * NB_AVX2_LANES) == 0)
				nb_pf2_step(pf);
			nb_acc_at(&a0, what, x, dy, g, j, vmu);
			nb_acc_at(&a1, what, x, dy, g, j + 8, vmu);
		}
	}
	for (; j + NB_AVX2_LANES <= len; j += NB_AVX2_LANES)
		nb_acc_at(&a0, what, x, dy, g, j, vmu);
	if (j < len) {
		__m256i m = nb_avx2_tail_mask(len - j);
		bool need_dy = what & (NB_M_DY | NB_M_DOT);

		nb_acc_step(&a1, what, _mm256_maskload_ps(x + j, m),
			    need_dy ? _mm256_maskload_ps(dy + j, m) : zero,
			    need_dy ? _mm256_maskload_ps(g + j, m) : zero, vmu, true,
			    _mm256_castsi256_ps(m));
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

struct nb_bwd_out {
	float *dx, *dg, *db;
};

/* One vector of the write pass at offset j: all 8 lanes (tail false) or the
 * lanes of mask m. */
NB_AVX2_INLINE void nb_bwd_vec(const float *x, const float *dy, const float *g,
			       struct nb_bwd_out o, size_t j, bool tail, __m256i m,
			       const struct nb_bwd_row *s, bool center, bool use_mdy,
			       bool use_shat, bool correct, bool stream)
{
	__m256 vx = tail ? _mm256_maskload_ps(x + j, m) : _mm256_loadu_ps(x + j);
	__m256 vdy = tail ? _mm256_maskload_ps(dy + j, m) : _mm256_loadu_ps(dy + j);
	__m256 vg = tail ? _mm256_maskload_ps(g + j, m) : _mm256_loadu_ps(g + j);
	__m256 vdg = tail ? _mm256_maskload_ps(o.dg + j, m) : _mm256_loadu_ps(o.dg + j);
	__m256 vr = _mm256_set1_ps(s->r);
	__m256 dyh = _mm256_mul_ps(vdy, vg);
	__m256 xh = center ? _mm256_fmsub_ps(_mm256_sub_ps(vx, _mm256_set1_ps(s->mu)), vr,
					     _mm256_set1_ps(s->mlr))
			   : _mm256_mul_ps(vx, vr);
	__m256 dx;

	if (use_mdy)
		dyh = _mm256_sub_ps(dyh, _mm256_set1_ps(s->mdy));
	if (correct) {
		__m256 xs = use_shat ? _mm256_add_ps(xh, _mm256_set1_ps(s->shat)) : xh;

		dyh = _mm256_fnmadd_ps(xs, _mm256_set1_ps(s->coef), dyh);
	}
	dx = _mm256_mul_ps(vr, dyh);
	vdg = _mm256_fmadd_ps(vdy, xh, vdg);
	if (tail) {
		_mm256_maskstore_ps(o.dx + j, m, dx);
		_mm256_maskstore_ps(o.dg + j, m, vdg);
	} else {
		if (stream)
			_mm256_stream_ps(o.dx + j, dx);
		else
			_mm256_storeu_ps(o.dx + j, dx);
		_mm256_storeu_ps(o.dg + j, vdg);
	}
	if (o.db) {
		__m256 vdb = tail ? _mm256_maskload_ps(o.db + j, m) : _mm256_loadu_ps(o.db + j);

		vdb = _mm256_add_ps(vdb, vdy);
		if (tail)
			_mm256_maskstore_ps(o.db + j, m, vdb);
		else
			_mm256_storeu_ps(o.db + j, vdb);
	}
}

/* [j0, j1) by ordinary stores, 8 lanes at a time (a partial group by the
 * masked loads and stores). */
NB_AVX2_INLINE void nb_bwd_range(const float *x, const float *dy, const float *g,
				 struct nb_bwd_out o, size_t j0, size_t j1,
				 const struct nb_bwd_row *s, bool center, bool use_mdy,
				 bool use_shat, bool correct)
{
	__m256i all = _mm256_set1_epi32(-1);
	size_t j = j0;

	for (; j + NB_AVX2_LANES <= j1; j += NB_AVX2_LANES)
		nb_bwd_vec(x, dy, g, o, j, false, all, s, center, use_mdy, use_shat, correct,
			   false);
	if (j < j1)
		nb_bwd_vec(x, dy, g, o, j, true, nb_avx2_tail_mask(j1 - j), s, center, use_mdy,
			   use_shat, correct, false);
}

/*
 * The write pass over [0, len): the one store loop of the backward kernels.
 * The elements before dx's first 64-byte line boundary (stream only), then
 * the whole vectors from the end of the row down (the statistics pass just
 * went up the row, so its most recent lines, still in L1, come first), then
 * the tail. stream: the whole vectors by non-temporal stores (dx must be
 * element-aligned); the values are the same either way.
 */
NB_AVX2_INLINE void nb_bwd_pass(const float *x, const float *dy, const float *g,
				struct nb_bwd_out o, size_t len, const struct nb_bwd_row *s,
				bool center, bool use_mdy, bool use_shat, bool correct,
				bool stream, struct nb_pf2 *pf)
{
	__m256i all = _mm256_set1_epi32(-1);
	size_t head = 0, hi, e;

	if (stream) {
		head = ((64 - ((uintptr_t)o.dx & 63)) & 63) / sizeof(float);
		if (head > len)
			head = len;
	}
	nb_bwd_range(x, dy, g, o, 0, head, s, center, use_mdy, use_shat, correct);
	hi = head + (len - head) / NB_AVX2_LANES * NB_AVX2_LANES;
	for (e = hi; e >= head + 2 * NB_AVX2_LANES; e -= 2 * NB_AVX2_LANES) {
		nb_pf2_step(pf);
		nb_bwd_vec(x, dy, g, o, e - NB_AVX2_LANES, false, all, s, center, use_mdy,
			   use_shat, correct, stream);
		nb_bwd_vec(x, dy, g, o, e - 2 * NB_AVX2_LANES, false, all, s, center, use_mdy,
			   use_shat, correct, stream);
	}
	if (e > head)
		nb_bwd_vec(x, dy, g, o, head, false, all, s, center, use_mdy, use_shat, correct,
			   stream);
	nb_bwd_range(x, dy, g, o, hi, len, s, center, use_mdy, use_shat, correct);
}

/* The row's sums, then its scalars (nb_bwd_row_scalars); false when the
 * portable kernel must take the row. */
NB_AVX2_INLINE bool nb_bwd_stats(const struct nb_problem *p, enum nb_variant v,
				 const float *x, const float *dy, struct nb_bwd_row *s,
				 struct nb_pf2 *pf)
{
	const float *g = p->gain;
	size_t nb = p->n * sizeof(float), work = nb_bwd_work(p, v) * sizeof(float);
	size_t iter = 4 * NB_AVX2_LANES * sizeof(float);
	struct nb_moments mo;

	switch (v) {
	case NB_VARIANT_LAYERNORM:
		/* the mean scheme (kernels/nb_kernels.h): shifted sum, then S1,
		 * S2, sum dyh and sum dyh (x - mu_hi) */
		nb_pf2_pass(pf, x, dy, nb / 3, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_CENTER, x, dy, g, p->n, x[0], pf);
		if (!nb_bwd_ln_mean(x[0], mo.sum, p->n, s))
			return false;
		nb_pf2_pass(pf, x, dy, 2 * nb / 3, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_SQ | NB_M_DY | NB_M_DOT | NB_M_CENTER, x, dy, g,
				p->n, s->mu, pf);
		break;
	case NB_VARIANT_PRMSNORM: {
		struct nb_moments rest;

		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SQ | NB_M_DOT, x, dy, g, p->k, 0.0f, pf);
		rest = nb_moments(NB_M_DOT, x + p->k, dy + p->k, g + p->k, p->n - p->k, 0.0f,
				  pf);
		mo.dot += rest.dot;
		break;
	}
	case NB_VARIANT_CRMSNORM:
		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SUM | NB_M_SQ | NB_M_DOT, x, dy, g, p->n, 0.0f, pf);
		break;
	default:
		nb_pf2_pass(pf, x, dy, nb / 2, iter, nb, work);
		mo = nb_moments(NB_M_SQ | NB_M_DOT, x, dy, g, p->n, 0.0f, pf);
		break;
	}
	return nb_bwd_row_scalars(p, v, mo, s);
}

NB_AVX2_INLINE void nb_add_into(float *dst, const float *src, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX2_LANES <= n; j += NB_AVX2_LANES)
		_mm256_storeu_ps(dst + j, _mm256_add_ps(_mm256_loadu_ps(dst + j),
							_mm256_loadu_ps(src + j)));
	if (j < n) {
		__m256i m = nb_avx2_tail_mask(n - j);

		_mm256_maskstore_ps(dst + j, m, _mm256_add_ps(_mm256_maskload_ps(dst + j, m),
							      _mm256_maskload_ps(src + j, m)));
	}
}

NB_AVX2_INLINE void nb_bwd_rows(const struct nb_problem *p, size_t row_begin,
				size_t row_end, void *dgain_part, void *dbias_part,
				enum nb_variant v, nb_rows_fn portable)
{
	size_t n = p->n;
	bool center = v == NB_VARIANT_LAYERNORM;
	bool use_mdy = v == NB_VARIANT_LAYERNORM;
	bool use_shat = v == NB_VARIANT_CRMSNORM;
	struct nb_bwd_out o = { NULL, dgain_part, dbias_part };
	float *tmp = NULL;
	size_t nb = n * sizeof(float), work = nb_bwd_work(p, v) * sizeof(float);
	bool stream = nb_stream_wanted(3 * p->rows * nb) && (uintptr_t)p->dx % sizeof(float) == 0;
	struct nb_pf2 pf = { nb_pf_init(p->x, nb, row_begin, row_end, stream),
			     nb_pf_init(p->dy, nb, row_begin, row_end, stream) };

	/* the partials are written: sums over these rows only, from zero */
	memset(o.dg, 0, n * sizeof(float));
	if (o.db)
		memset(o.db, 0, n * sizeof(float));
	for (size_t i = row_begin; i < row_end; i++) {
		const float *x = (const float *)p->x + i * n;
		const float *dy = (const float *)p->dy + i * n;
		struct nb_bwd_row s;

		o.dx = (float *)p->dx + i * n;
		if (!nb_bwd_stats(p, v, x, dy, &s, &pf)) {
			/* the portable kernel's row, its contributions added */
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
			portable(p, i, i + 1, tmp, o.db ? tmp + n : NULL);
			nb_add_into(o.dg, tmp, n);
			if (o.db)
				nb_add_into(o.db, tmp + n, n);
			continue;
		}
		nb_pf2_pass(&pf, x, dy, nb, 2 * NB_AVX2_LANES * sizeof(float), nb, work);
		if (v == NB_VARIANT_PRMSNORM) {
			struct nb_bwd_out rest = { o.dx + p->k, o.dg + p->k,
						   o.db ? o.db + p->k : NULL };

			nb_bwd_pass(x, dy, p->gain, o, p->k, &s, false, false, false, true, stream,
				    &pf);
			nb_bwd_pass(x + p->k, dy + p->k, (const float *)p->gain + p->k, rest,
				    n - p->k, &s, false, false, false, false, stream, &pf);
		} else {
			nb_bwd_pass(x, dy, p->gain, o, n, &s, center, use_mdy, use_shat, true,
				    stream, &pf);
		}
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
NB_BWD_KERNEL(nb_layernorm_bwd_f32_avx2, NB_VARIANT_LAYERNORM, nb_layernorm_bwd_f32_portable)
/* RMSNorm backward: dx = r (dyh - xhat * coef); 2 passes (sum x^2 with
 * sum dyh x; write). */
NB_BWD_KERNEL(nb_rmsnorm_bwd_f32_avx2, NB_VARIANT_RMSNORM, nb_rmsnorm_bwd_f32_portable)
/* pRMSNorm backward: as RMSNorm, the correction on the first k elements, its
 * sum over all n divided by k; 2 passes. */
NB_BWD_KERNEL(nb_prmsnorm_bwd_f32_avx2, NB_VARIANT_PRMSNORM, nb_prmsnorm_bwd_f32_portable)
/* CRMSNorm backward: dx' = r (dyh' - (xhat' + s r) * coef) with m = d; 2 passes
 * (sum x', sum x'^2, sum dyh' x' together; write). */
NB_BWD_KERNEL(nb_crmsnorm_bwd_f32_avx2, NB_VARIANT_CRMSNORM, nb_crmsnorm_bwd_f32_portable)
