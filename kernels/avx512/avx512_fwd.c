/* AVX-512 forward kernels of LayerNorm (two-pass and Welford), RMSNorm,
 * pRMSNorm and CRMSNorm for f32, bf16 and f16 storage, all accumulating in
 * f32 (SPEC §1 semantics, the same as the portable kernels'; registry lines
 * in kernels/registry.def). */
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
 *   sums   one pass over x (two-pass LayerNorm: two, sum then squared
 *          deviations from the mean, never E[x^2] - mu^2; Welford LayerNorm:
 *          one, a running mean and M2 per lane), eight independent 16-lane f32
 *          accumulators fed by explicit FMA (element j goes to accumulator
 *          (j / 16) mod 8 of the unrolled loop; after it one step of four
 *          vectors to the first four when 64 elements are left, the last
 *          full vectors to the first, a masked tail to the second), then a
 *          fixed reduction tree,
 *          so a row's result depends on that row's length and values alone
 *          (never on alignment, the row range or the thread count); for
 *          RMSNorm, Welford LayerNorm and 16-bit CRMSNorm rows of up to
 *          NB_FUSE_MAX_ROW_BYTES this pass runs inside the write pass of
 *          the row before (fused rows, struct nb_job), the same sums;
 *   check  a non-finite sum or scale (a NaN/Inf in the row, or finite values
 *          whose squares or sums overflow f32), or squares that underflowed
 *          with a tiny eps (NB_TINY), sends that one row to the portable
 *          kernel, whose (rescaled) result it then is;
 *   scale  y = ((x - mu) * r) * g (+ b, by FMA), one pass (LayerNorm:
 *          fma(x - mu_hi, r, -(mu_lo r)), the mean scheme), a 64-byte line
 *          of y at a time through nb_avx512_store_line: non-temporal stores
 *          for problems beyond the last-level cache (nb_stream_wanted),
 *          ordinary ones below (16-bit types: round to nearest even either
 *          way; the same bits). A 16-bit problem of several rows widens
 *          gain and bias to f32 once per call (nb_widen_params).
 * y may alias x exactly (in place): every pass reads element j before the
 * scale pass writes element j, and nothing else is read after (a fused
 * write pass reads the next row, which no store of its own row touches).
 *
 * Memory: the passes after the first reread the row from L1/L2. While a row
 * is processed, its thread prefetches the x lines NB_PF_AHEAD bytes ahead,
 * spread over all passes in proportion to their work (kernels/nb_prefetch.h),
 * so reading from DRAM does not stop while the row is computed. Fused rows
 * need no cursor: their one loop reads the next row from memory while it
 * writes this one.
 */

/*
 * Tuning notes (4096 x 4096 unless named, one thread, fraction of the
 * streaming-store copy measured in the same interleaved run;
 * docs/performance.md, historical section, has the full tables and the
 * method):
 *   streaming stores for y beyond 32 MiB       RMSNorm 66% -> 83%, pRMSNorm 75% -> 95%
 *   prefetch cursor 16 KiB ahead, spread       +5..10 points (8 KiB, 24 KiB, 32 KiB
 *     over the passes                            and T1 hints: worse or equal)
 *   ... but only when streaming                256 x 4096 RMSNorm: 45% -> 60% of copy
 *   one load per vector (NB_SUMSQ_STEP)        CRMSNorm 29 -> 48 GB/s
 *   bf16: VCVTNE2PS2BF16 + subnormal check     one row of bf16: 0.41 -> 0.27 us
 *   16-bit: gain/bias widened once per call    LayerNorm bf16 34% -> 50%
 *   8 accumulators (was 4)                     no change beyond the noise (kept:
 *                                              2 FMA pipes x 4-cycle latency)
 *   fused rows (struct nb_job): row i's     RMSNorm f32 8192 x 2048: 78% -> 87-90%,
 *     write pass carries row i+1's sums        64 x 1024 (in cache): 4.9-5.6 -> 3.2-3.3 us;
 *                                              16-bit CRMSNorm 4096^2: 42-50% -> 51-55%;
 *                                              RMSNorm f32 4096^2: 69-80% (no gain:
 *                                              x(i), x(i+1) and g fill the 48 KiB L1)
 *   tried, no gain: row blocks with column chunks (g, b reused across 2..8
 *   rows: 65-75% against 72-83% row by row), the write pass backwards;
 *   fused LayerNorm (58-67% against 65-77%: its deviation pass runs with
 *   no memory stream under it), fused pRMSNorm (the cursor does better),
 *   fused f32 CRMSNorm (55% against 60%).
 * Not reached: LayerNorm ~72% (x, gain and bias fill L1 with the lines
 * prefetched for the next row; with bias = gain it reaches ~83%), rows that
 * are not whole 64-byte lines (CRMSNorm, n = d - 1) ~55-60%.
 */

/*
 * Fused rows (struct nb_job): the write pass of row i carries the first
 * statistics pass of row i + 1, for RMSNorm, Welford LayerNorm and 16-bit
 * CRMSNorm rows of at most NB_FUSE_MAX_ROW_BYTES. Longer rows, two-pass
 * LayerNorm (whose second pass then ran without a memory stream under it),
 * pRMSNorm (k elements only, the prefetch cursor does better) and f32
 * CRMSNorm (16 sums) were slower fused; see the tuning notes below.
 * -DNB_FUSE_MAX_ROW_BYTES=0 turns it off for an experiment.
 */
#ifndef NB_FUSE_MAX_ROW_BYTES
#define NB_FUSE_MAX_ROW_BYTES ((size_t)8192)
#endif
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
NB_AVX512_INLINE float nb_reduce8(const __m512 a[8])
{
	__m512 lo = _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3]));
	__m512 hi = _mm512_add_ps(_mm512_add_ps(a[4], a[5]), _mm512_add_ps(a[6], a[7]));

	return _mm512_reduce_add_ps(_mm512_add_ps(lo, hi));
}

/*
 * What a row's statistics pass sums (a compile-time constant after
 * inlining): x (LayerNorm's mean), x^2 (RMSNorm, pRMSNorm), (x - mu)^2
 * (LayerNorm's second pass), x and x^2 together (CRMSNorm), or the running
 * mean and M2 of Welford's update (LayerNorm, one pass; see
 * nb_welford_merge).
 */
enum nb_stat {
	NB_STAT_SUM,
	NB_STAT_SUMSQ,
	NB_STAT_DEV,
	NB_STAT_SUM_SUMSQ,
	NB_STAT_WELFORD,
};

/*
 * The running sums of one statistics pass: s[] the sum, q[] the squares.
 * Element j of the row goes to accumulator (j / 16) mod 8 while whole
 * 128-element blocks remain; then one step of four vectors to the first
 * four when 64 elements are left, the last full vectors to the first, a
 * masked tail to the second. The pass may be cut into pieces (the fused
 * write pass of the row before runs a prefix of its blocks, nb_stats_rest
 * the rest): every element still meets the same accumulator in the same
 * order, so the result depends on the row's length and values alone.
 */
struct nb_acc {
	__m512 s[8], q[8];
	/* the value subtracted from every element: LayerNorm's shift c = x_0
	 * (first pass, sum and Welford) or mu_hi (deviation pass); see the mean
	 * scheme in the kernel's head comment */
	__m512 vmu;
	/* Welford: s[] the running means, q[] the M2s, vinv 1/c of the
	 * element being added (set by nb_acc_count before each step) */
	__m512 vinv;
};

NB_AVX512_INLINE void nb_acc_init(struct nb_acc *a, float mu)
{
	__m512 zero = _mm512_setzero_ps();

	/* written out (no loop): the sums must stay in registers, which needs
	 * constant indices at every optimisation level */
	a->s[0] = a->s[1] = a->s[2] = a->s[3] = zero;
	a->s[4] = a->s[5] = a->s[6] = a->s[7] = zero;
	a->q[0] = a->q[1] = a->q[2] = a->q[3] = zero;
	a->q[4] = a->q[5] = a->q[6] = a->q[7] = zero;
	a->vmu = _mm512_set1_ps(mu);
	a->vinv = zero;
}

/*
 * Welford: the next vector(s) added to an accumulator are its c-th
 * elements in every lane they touch. In the whole-block loop all lanes of
 * all accumulators share c = block index + 1, so one rounded reciprocal
 * serves the block (its error is counted in the kernel's head comment).
 */
NB_AVX512_INLINE void nb_acc_count(struct nb_acc *a, enum nb_stat k, size_t c)
{
	if (k == NB_STAT_WELFORD)
		a->vinv = _mm512_set1_ps(1.0f / (float)c);
}

/* v into accumulator i. CRMSNorm's v is loaded once: without the empty asm
 * GCC folds the load into the add and loads the vector a second time for
 * the FMA, which costs a quarter of the bandwidth on rows that are not
 * 64-byte aligned. */
NB_AVX512_INLINE void nb_acc_vec(struct nb_acc *a, enum nb_stat k, int i, __m512 v)
{
	switch (k) {
	case NB_STAT_SUM:
		a->s[i] = _mm512_add_ps(a->s[i], _mm512_sub_ps(v, a->vmu));
		break;
	case NB_STAT_SUMSQ:
		a->q[i] = _mm512_fmadd_ps(v, v, a->q[i]);
		break;
	case NB_STAT_DEV:
		v = _mm512_sub_ps(v, a->vmu);
		a->s[i] = _mm512_add_ps(a->s[i], v);
		a->q[i] = _mm512_fmadd_ps(v, v, a->q[i]);
		break;
	case NB_STAT_SUM_SUMSQ:
		__asm__("" : "+v"(v));
		a->s[i] = _mm512_add_ps(a->s[i], v);
		a->q[i] = _mm512_fmadd_ps(v, v, a->q[i]);
		break;
	case NB_STAT_WELFORD: {
		/* delta = x - m; m += delta / c; M2 += delta (x - m_new) */
		__m512 d;

		__asm__("" : "+v"(v));
		v = _mm512_sub_ps(v, a->vmu);
		d = _mm512_sub_ps(v, a->s[i]);
		a->s[i] = _mm512_fmadd_ps(d, a->vinv, a->s[i]);
		a->q[i] = _mm512_fmadd_ps(d, _mm512_sub_ps(v, a->s[i]), a->q[i]);
		break;
	}
	}
}

/* Vector i (a constant) of the block at j into accumulator i. */
NB_AVX512_INLINE void nb_acc_at(struct nb_acc *a, enum nb_stat k, enum nb_dtype t,
				const void *x, size_t j, int i)
{
	nb_acc_vec(a, k, i, nb_avx512_load(t, x, j + (size_t)i * NB_AVX512_LANES));
}

/* One whole block x[j, j + 128). */
NB_AVX512_INLINE void nb_acc_block(struct nb_acc *a, enum nb_stat k, enum nb_dtype t,
				   const void *x, size_t j)
{
	nb_acc_at(a, k, t, x, j, 0);
	nb_acc_at(a, k, t, x, j, 1);
	nb_acc_at(a, k, t, x, j, 2);
	nb_acc_at(a, k, t, x, j, 3);
	nb_acc_at(a, k, t, x, j, 4);
	nb_acc_at(a, k, t, x, j, 5);
	nb_acc_at(a, k, t, x, j, 6);
	nb_acc_at(a, k, t, x, j, 7);
}

/* The pass over x[j, len) from block boundary j on: the remaining whole
 * blocks, then the short steps and the masked tail. */
NB_AVX512_INLINE void nb_acc_rest(struct nb_acc *a, enum nb_stat k, enum nb_dtype t,
				  const void *x, size_t j, size_t len, struct nb_pf *pf)
{
	/* Welford counts: c0, c1 the elements accumulators 0 and 1 hold */
	size_t c0, c1;

	for (; j + NB_UNROLL <= len; j += NB_UNROLL) {
		nb_pf_step(pf);
		nb_acc_count(a, k, j / NB_UNROLL + 1);
		nb_acc_block(a, k, t, x, j);
	}
	c0 = c1 = j / NB_UNROLL;
	if (j + NB_UNROLL / 2 <= len) {
		c0 = c1 = c0 + 1;
		nb_acc_count(a, k, c0);
		nb_acc_at(a, k, t, x, j, 0);
		nb_acc_at(a, k, t, x, j, 1);
		nb_acc_at(a, k, t, x, j, 2);
		nb_acc_at(a, k, t, x, j, 3);
		j += NB_UNROLL / 2;
	}
	for (; j + NB_AVX512_LANES <= len; j += NB_AVX512_LANES) {
		nb_acc_count(a, k, ++c0);
		nb_acc_vec(a, k, 0, nb_avx512_load(t, x, j));
	}
	if (j < len) {
		__mmask16 m = nb_avx512_tail_mask(len - j);
		__m512 v = nb_avx512_load_mask(t, x, j, m);

		/* the lanes past the row must stay 0, not -mu ... */
		if (k == NB_STAT_DEV) {
			v = _mm512_maskz_sub_ps(m, v, a->vmu);
			a->s[1] = _mm512_add_ps(a->s[1], v);
			a->q[1] = _mm512_fmadd_ps(v, v, a->q[1]);
		} else if (k == NB_STAT_SUM) {
			a->s[1] = _mm512_add_ps(a->s[1], _mm512_maskz_sub_ps(m, v, a->vmu));
		} else if (k == NB_STAT_WELFORD) {
			/* ... and keep their mean, M2 and count */
			__m512 d;

			v = _mm512_sub_ps(v, a->vmu);
			d = _mm512_sub_ps(v, a->s[1]);

			nb_acc_count(a, k, c1 + 1);
			a->s[1] = _mm512_mask3_fmadd_ps(d, a->vinv, a->s[1], m);
			a->q[1] = _mm512_mask3_fmadd_ps(d, _mm512_sub_ps(v, a->s[1]), a->q[1], m);
		} else {
			nb_acc_vec(a, k, 1, v);
		}
	}
}

/*
 * Welford's accumulators merged by Chan's formula (n_ab = n_a + n_b,
 * delta = m_b - m_a, m = m_a + delta (n_b / n_ab), M2 = (M2_a + M2_b) +
 * delta^2 (n_a (n_b / n_ab)), the last by FMA; an empty side gives the other
 * unchanged) in a fixed tree: accumulators ((0,1),(2,3)),((4,5),(6,7)), then
 * lane l with lane l+8, l+4, l+2, l+1. The counts depend on the row length
 * alone, so the weights n_b / n_ab and n_a n_b / n_ab of the 11 merges are
 * computed once per call (nb_welford_plan); a row's merge is then only its
 * data path.
 */
#define NB_CHAN_MERGES 11

struct nb_wplan {
	__m512 f[NB_CHAN_MERGES], w[NB_CHAN_MERGES];
	__mmask16 ea[NB_CHAN_MERGES], eb[NB_CHAN_MERGES];
};

/* Lane l + 8, l + 4, l + 2, l + 1 moved to lane l (level 0..3). */
NB_AVX512_INLINE __m512 nb_lane_partner(__m512 v, int level)
{
	switch (level) {
	case 0: return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(1, 0, 3, 2));
	case 1: return _mm512_shuffle_f32x4(v, v, _MM_SHUFFLE(2, 3, 0, 1));
	case 2: return _mm512_permute_ps(v, _MM_SHUFFLE(1, 0, 3, 2));
	default: return _mm512_permute_ps(v, _MM_SHUFFLE(2, 3, 0, 1));
	}
}

/* Merge i's weights from the counts na, nb; returns n_a + n_b. */
static __m512 nb_chan_plan(struct nb_wplan *wp, int i, __m512 na, __m512 nb)
{
	__m512 zero = _mm512_setzero_ps();
	__m512 n = _mm512_add_ps(na, nb);
	__mmask16 nz = _mm512_cmp_ps_mask(n, zero, _CMP_NEQ_OQ);

	wp->f[i] = _mm512_maskz_div_ps(nz, nb, n);
	wp->w[i] = _mm512_mul_ps(na, wp->f[i]);
	wp->ea[i] = _mm512_cmp_ps_mask(na, zero, _CMP_EQ_OQ);
	wp->eb[i] = _mm512_cmp_ps_mask(nb, zero, _CMP_EQ_OQ);
	return n;
}

/* The plan of a row of len elements: the counts nb_acc_rest leaves in each
 * accumulator's lanes (128-element blocks, the 4-vector step, single vectors
 * to accumulator 0, the masked tail to accumulator 1). */
static void nb_welford_plan(struct nb_wplan *wp, size_t len)
{
	size_t blocks = len / NB_UNROLL, rem = len % NB_UNROLL;
	size_t half = rem >= NB_UNROLL / 2 ? 1 : 0;
	size_t singles = (rem - half * (NB_UNROLL / 2)) / NB_AVX512_LANES;
	size_t tail = (rem - half * (NB_UNROLL / 2)) % NB_AVX512_LANES;
	__m512 c[8];

	for (int i = 0; i < 8; i++)
		c[i] = _mm512_set1_ps((float)(blocks + (i < 4 ? half : 0) +
					      (i == 0 ? singles : 0)));
	if (tail)
		c[1] = _mm512_mask_add_ps(c[1], nb_avx512_tail_mask(tail), c[1],
					  _mm512_set1_ps(1.0f));
	c[0] = nb_chan_plan(wp, 0, c[0], c[1]);
	c[2] = nb_chan_plan(wp, 1, c[2], c[3]);
	c[4] = nb_chan_plan(wp, 2, c[4], c[5]);
	c[6] = nb_chan_plan(wp, 3, c[6], c[7]);
	c[0] = nb_chan_plan(wp, 4, c[0], c[2]);
	c[4] = nb_chan_plan(wp, 5, c[4], c[6]);
	c[0] = nb_chan_plan(wp, 6, c[0], c[4]);
	for (int l = 0; l < 4; l++)
		c[0] = nb_chan_plan(wp, 7 + l, c[0], nb_lane_partner(c[0], l));
}

/* Merge i of (ma, qa) and (mb, qb) into (*ma, *qa). */
NB_AVX512_INLINE void nb_chan_vec(const struct nb_wplan *wp, int i, __m512 *ma, __m512 *qa,
				  __m512 mb, __m512 qb)
{
	__m512 d = _mm512_sub_ps(mb, *ma);
	__m512 m = _mm512_fmadd_ps(d, wp->f[i], *ma);
	__m512 q = _mm512_fmadd_ps(_mm512_mul_ps(d, d), wp->w[i], _mm512_add_ps(*qa, qb));

	m = _mm512_mask_blend_ps(wp->eb[i], m, *ma);
	q = _mm512_mask_blend_ps(wp->eb[i], q, *qa);
	*ma = _mm512_mask_blend_ps(wp->ea[i], m, mb);
	*qa = _mm512_mask_blend_ps(wp->ea[i], q, qb);
}

/* The row's mean and M2 from its Welford accumulators (tree above). */
NB_AVX512_INLINE void nb_welford_merge(struct nb_acc *a, const struct nb_wplan *wp,
				       float *mean, float *m2)
{
	nb_chan_vec(wp, 0, &a->s[0], &a->q[0], a->s[1], a->q[1]);
	nb_chan_vec(wp, 1, &a->s[2], &a->q[2], a->s[3], a->q[3]);
	nb_chan_vec(wp, 2, &a->s[4], &a->q[4], a->s[5], a->q[5]);
	nb_chan_vec(wp, 3, &a->s[6], &a->q[6], a->s[7], a->q[7]);
	nb_chan_vec(wp, 4, &a->s[0], &a->q[0], a->s[2], a->q[2]);
	nb_chan_vec(wp, 5, &a->s[4], &a->q[4], a->s[6], a->q[6]);
	nb_chan_vec(wp, 6, &a->s[0], &a->q[0], a->s[4], a->q[4]);
	nb_chan_vec(wp, 7, &a->s[0], &a->q[0], nb_lane_partner(a->s[0], 0),
		    nb_lane_partner(a->q[0], 0));
	nb_chan_vec(wp, 8, &a->s[0], &a->q[0], nb_lane_partner(a->s[0], 1),
		    nb_lane_partner(a->q[0], 1));
	nb_chan_vec(wp, 9, &a->s[0], &a->q[0], nb_lane_partner(a->s[0], 2),
		    nb_lane_partner(a->q[0], 2));
	nb_chan_vec(wp, 10, &a->s[0], &a->q[0], nb_lane_partner(a->s[0], 3),
		    nb_lane_partner(a->q[0], 3));
	*mean = _mm512_cvtss_f32(a->s[0]);
	*m2 = _mm512_cvtss_f32(a->q[0]);
}

/* One output vector: fma(x - mu_hi, r, -(mu_lo r)) * g (+ b) (LayerNorm,
 * the mean scheme), else (x * r) * g (+ b). */
NB_AVX512_INLINE __m512 nb_norm_vec(__m512 v, __m512 vmu, __m512 vr, __m512 vml, __m512 g,
				    __m512 b, bool center, bool bias)
{
	if (center)
		v = _mm512_fmsub_ps(_mm512_sub_ps(v, vmu), vr, vml);
	else
		v = _mm512_mul_ps(v, vr);
	return bias ? _mm512_fmadd_ps(v, g, b) : _mm512_mul_ps(v, g);
}

/* The scalars and arrays of one row's write pass (vml = mu_lo r). */
struct nb_row_out {
	const void *x, *g, *b;
	void *y;
	__m512 vmu, vr, vml;
};

/* Output vector at element j, the lanes in m (the others are not read). */
NB_AVX512_INLINE __m512 nb_out_vec(enum nb_dtype t, enum nb_dtype gt,
				   const struct nb_row_out *o, size_t j,
				   __mmask16 m, bool center, bool bias)
{
	__m512 vb = bias ? nb_avx512_load_mask(gt, o->b, j, m) : _mm512_setzero_ps();

	return nb_norm_vec(nb_avx512_load_mask(t, o->x, j, m), o->vmu, o->vr, o->vml,
			   nb_avx512_load_mask(gt, o->g, j, m), vb, center, bias);
}

NB_AVX512_INLINE __m512 nb_out_full(enum nb_dtype t, enum nb_dtype gt,
				    const struct nb_row_out *o, size_t j,
				    bool center, bool bias)
{
	__m512 vb = bias ? nb_avx512_load(gt, o->b, j) : _mm512_setzero_ps();

	return nb_norm_vec(nb_avx512_load(t, o->x, j), o->vmu, o->vr, o->vml,
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
 * bandwidth against 80% for rows of whole lines; docs/performance.md,
 * historical section.) line: the line's address, NULL when nothing waits.
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
 * The first statistics pass of the next row, carried along by a row's write
 * pass (fused): x the next row, len the elements the pass sums, j how far
 * it got (a block boundary). The write pass reads its row from L1 while the
 * next row streams in from memory, so memory never waits for a pass that
 * works from cache (see the tuning notes at the top).
 */
struct nb_job {
	struct nb_acc acc;
	const void *x;
	size_t len, j;
};

/* Line l (a constant) of the fused block at j: one line of y, then the
 * next row's vectors of as many elements (one for f32, two for 16-bit
 * types), so the loads from memory spread over the loop. */
NB_AVX512_INLINE void nb_fused_line(enum nb_dtype t, enum nb_dtype gt,
				    const struct nb_row_out *o, size_t j, bool center, bool bias,
				    bool stream, struct nb_job *job, enum nb_stat k, size_t js,
				    int l)
{
	size_t line = 64 / nb_elem_size(t);
	int per = (int)(line / NB_AVX512_LANES);

	nb_out_line(t, gt, o, j + (size_t)l * line, center, bias, stream);
	nb_acc_at(&job->acc, k, t, job->x, js, l * per);
	if (per == 2)
		nb_acc_at(&job->acc, k, t, job->x, js, l * per + 1);
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
				   struct nb_pf *pf, bool fuse, struct nb_job *job,
				   enum nb_stat k)
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
	j = lo;
	if (fuse) {
		size_t js = job->j;

		for (; j + NB_UNROLL <= hi && js + NB_UNROLL <= job->len;
		     j += NB_UNROLL, js += NB_UNROLL) {
			nb_pf_step(pf);
			nb_acc_count(&job->acc, k, js / NB_UNROLL + 1);
			nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 0);
			nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 1);
			nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 2);
			nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 3);
			if (line == NB_AVX512_LANES) {
				nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 4);
				nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 5);
				nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 6);
				nb_fused_line(t, gt, o, j, center, bias, stream, job, k, js, 7);
			}
		}
		job->j = js;
	}
	for (; j + NB_SCALE_UNROLL <= hi; j += NB_SCALE_UNROLL) {
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

/* Elements one row's passes visit, all passes together (the prefetch
 * shares). welford: LayerNorm by one Welford statistics pass. */
NB_AVX512_INLINE size_t nb_row_work(const struct nb_problem *p, enum nb_variant v,
				    bool welford)
{
	switch (v) {
	case NB_VARIANT_LAYERNORM: return welford ? 2 * p->n : 3 * p->n;
	case NB_VARIANT_PRMSNORM: return p->k + p->n;
	default: return 2 * p->n;
	}
}

/* The first statistics pass of a row of variant v: what it sums ... */
NB_AVX512_INLINE enum nb_stat nb_first_stat(enum nb_variant v, bool welford)
{
	switch (v) {
	case NB_VARIANT_LAYERNORM: return welford ? NB_STAT_WELFORD : NB_STAT_SUM;
	case NB_VARIANT_CRMSNORM: return NB_STAT_SUM_SUMSQ;
	default: return NB_STAT_SUMSQ;
	}
}

/* ... and over how many elements (pRMSNorm: the first k). */
NB_AVX512_INLINE size_t nb_first_len(const struct nb_problem *p, enum nb_variant v)
{
	return v == NB_VARIANT_PRMSNORM ? p->k : p->n;
}

/*
 * mu (LayerNorm, else 0) and r of one row from its completed first pass a
 * (two-pass LayerNorm's second pass, the squared deviations, runs here;
 * Welford LayerNorm merges its accumulators by wp); false when the statistic
 * is not finite or underflowed (see NB_TINY), and the row must go to the
 * portable kernel. pf_row: the prefetch position of this row's start.
 */
NB_AVX512_INLINE bool nb_row_finish(const struct nb_problem *p, enum nb_dtype t,
				    enum nb_variant v, bool welford, const struct nb_wplan *wp,
				    const void *x, struct nb_acc *a,
				    float mu[2], float *r, struct nb_pf *pf, const char *pf_row)
{
	float eps = (float)p->conv.eps;
	size_t es = nb_elem_size(t);
	size_t nb = p->n * es, work = nb_row_work(p, v, welford) * es;
	float shift = _mm512_cvtss_f32(a->vmu);
	float total, div, ms;

	mu[0] = mu[1] = 0.0f;
	switch (v) {
	case NB_VARIANT_LAYERNORM:
		div = (float)p->n;
		if (welford) {
			float mean;

			nb_welford_merge(a, wp, &mean, &total);
			nb_two_sum_f(shift, mean, &mu[0], &mu[1]);
			if (!isfinite(mu[0]))
				return false;
			break;
		}
		mu[0] = shift + nb_reduce8(a->s) / div;
		if (!isfinite(mu[0]))
			return false;
		nb_pf_pass(pf, pf_row + 2 * nb / 3, NB_UNROLL * es, nb, work);
		nb_acc_init(a, mu[0]);
		nb_acc_rest(a, NB_STAT_DEV, t, x, 0, p->n, pf);
		total = nb_mean_residual_f(nb_reduce8(a->s), nb_reduce8(a->q), div, &mu[1]);
		break;
	case NB_VARIANT_PRMSNORM:
		total = nb_reduce8(a->q);
		div = (float)p->k;
		break;
	case NB_VARIANT_CRMSNORM: {
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		float s = nb_reduce8(a->s);

		total = nb_reduce8(a->q) + s * s;
		div = (float)p->d;
		break;
	}
	default:
		total = nb_reduce8(a->q);
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

/* LayerNorm's shift c = x_0 of a row's first pass (the mean scheme), 0 for
 * the other variants. */
NB_AVX512_INLINE float nb_first_shift(enum nb_dtype t, enum nb_variant v, const void *x)
{
	if (v != NB_VARIANT_LAYERNORM)
		return 0.0f;
	return _mm512_cvtss_f32(nb_avx512_load_mask(t, x, 0, (__mmask16)1));
}

/* mu and r of one row by itself (no fused write pass before it), as
 * nb_row_finish. */
NB_AVX512_INLINE bool nb_row_stats(const struct nb_problem *p, enum nb_dtype t,
				   enum nb_variant v, bool welford, const struct nb_wplan *wp,
				   const void *x, float mu[2], float *r,
				   struct nb_pf *pf, const char *pf_row)
{
	size_t es = nb_elem_size(t);
	size_t nb = p->n * es, work = nb_row_work(p, v, welford) * es;
	const char *until;
	struct nb_acc a;

	switch (v) {
	case NB_VARIANT_LAYERNORM: until = pf_row + (welford ? nb / 2 : nb / 3); break;
	case NB_VARIANT_PRMSNORM:
		until = pf->pos < pf->end ? pf_row + nb * p->k / (p->k + p->n) : pf_row;
		break;
	default: until = pf_row + nb / 2; break;
	}
	nb_pf_pass(pf, until, NB_UNROLL * es, nb, work);
	nb_acc_init(&a, nb_first_shift(t, v, x));
	nb_acc_rest(&a, nb_first_stat(v, welford), t, x, 0, nb_first_len(p, v), pf);
	return nb_row_finish(p, t, v, welford, wp, x, &a, mu, r, pf, pf_row);
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
				  bool welford, nb_rows_fn portable)
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
	bool fuse = (v == NB_VARIANT_RMSNORM || welford ||
		     (v == NB_VARIANT_CRMSNORM && t != NB_DTYPE_F32)) &&
		    stride <= NB_FUSE_MAX_ROW_BYTES;
	struct nb_pf pf = nb_pf_init(x0, stride, row_begin, row_end, stream && !fuse);
	struct nb_edge edge = { _mm512_setzero_ps(), _mm512_setzero_ps(), 0, 0, NULL };
	enum nb_stat first = nb_first_stat(v, welford);
	struct nb_job job = { .x = x0, .len = 0, .j = 0 };
	struct nb_wplan wplan, *wp = NULL;
	float mu[2] = { 0.0f, 0.0f }, r = 0.0f;
	bool ok;

	if (welford) {
		nb_welford_plan(&wplan, n);
		wp = &wplan;
	}
	ok = row_begin < row_end &&
	     nb_row_stats(p, t, v, welford, wp, x0 + row_begin * stride, mu, &r, &pf,
			  nb_pf_row(x0, stride, row_begin));

	for (size_t i = row_begin; i < row_end; i++) {
		const char *pf_row = nb_pf_row(x0, stride, i);
		const char *next = fuse && i + 1 < row_end ? x0 + (i + 1) * stride : NULL;
		struct nb_row_out o = { x0 + i * stride, g, b, (char *)p->y + i * stride,
					_mm512_set1_ps(mu[0]), _mm512_set1_ps(r),
					_mm512_set1_ps(mu[1] * r) };
		/* streamed, the whole lines start at y's first line boundary;
		 * otherwise at the row start */
		size_t head = stream ? ((64 - ((uintptr_t)o.y & 63)) & 63) / es : 0;

		if (!ok) {
			/* the portable kernel takes the row; the next one's sums
			 * then run by themselves */
			nb_edge_flush(t, &edge);
			portable(p, i, i + 1, NULL, NULL);
			next = NULL;
		} else {
			if (next) {
				nb_acc_init(&job.acc, nb_first_shift(t, v, next));
				job.x = next;
				job.len = nb_first_len(p, v);
				job.j = 0;
			}
			nb_pf_pass(&pf, pf_row + stride, NB_SCALE_UNROLL * es, stride,
				   nb_row_work(p, v, welford) * es);
			if (wide && p->bias)
				nb_scale_row(t, NB_DTYPE_F32, &o, n, head, center, true, stream,
					     &edge, &pf, next != NULL, &job, first);
			else if (wide)
				nb_scale_row(t, NB_DTYPE_F32, &o, n, head, center, false, stream,
					     &edge, &pf, next != NULL, &job, first);
			else if (p->bias)
				nb_scale_row(t, t, &o, n, head, center, true, stream, &edge, &pf,
					     next != NULL, &job, first);
			else
				nb_scale_row(t, t, &o, n, head, center, false, stream, &edge, &pf,
					     next != NULL, &job, first);
		}
		if (next) {
			nb_acc_rest(&job.acc, first, t, next, job.j, job.len, &pf);
			ok = nb_row_finish(p, t, v, welford, wp, next, &job.acc, mu, &r, &pf,
					   nb_pf_row(x0, stride, i + 1));
		} else if (i + 1 < row_end) {
			ok = nb_row_stats(p, t, v, welford, wp, x0 + (i + 1) * stride, mu, &r,
					  &pf, nb_pf_row(x0, stride, i + 1));
		}
	}
	nb_edge_flush(t, &edge);
	if (stream)
		_mm_sfence();
	free(wide);
}

#define NB_FWD_KERNEL_ALGO(fn, variant, welford, dtype, portable) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		(void)dgain_part; \
		(void)dbias_part; \
		nb_fwd_rows(p, row_begin, row_end, dtype, variant, welford, portable); \
	}
#define NB_FWD_KERNEL(fn, variant, dtype, portable) \
	NB_FWD_KERNEL_ALGO(fn, variant, false, dtype, portable)

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
NB_FWD_KERNEL(nb_layernorm_fwd_f32_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_F32,
	      nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_bf16_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_BF16,
	      nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL(nb_layernorm_fwd_f16_avx512, NB_VARIANT_LAYERNORM, NB_DTYPE_F16,
	      nb_layernorm_fwd_f16_portable)

/*
 * LayerNorm, Welford ("welford"): the same y, mu and r (eps inside or
 * outside), with mean and M2 = sum (x - mu)^2 from one statistics pass:
 * each lane of the 8 x 16 accumulators runs Welford's update
 *   delta = x - m;  m += delta * (1/c);  M2 += delta * (x - m_new)
 * (both by FMA; c the lane's count, 1/c one rounded reciprocal per step,
 * shared by every lane of the step), then Chan's merges in a fixed tree
 * (nb_welford_merge); var = M2 / n. The update runs on x - x_0 (the shift
 * c = x_0 of the mean scheme, kernels/nb_kernels.h; a fused row carries the
 * next row's c in its accumulator), and TwoSum(c, mean) gives mu_hi + mu_lo
 * exactly for the write fma(x - mu_hi, r, -(mu_lo r)). f32 accumulation;
 * 2 passes over x (statistics, write), so rows of at most
 * NB_FUSE_MAX_ROW_BYTES are fused like RMSNorm's. In place allowed.
 * Error contract (verify/nb_accuracy.c, nb_stats_layernorm_pair, algorithm
 * "welford": each update or merge makes a local error <= 7 u M in the mean,
 * M = max|x - x_0|): an update's is <= 3u |x - m| / c + u |m| (delta, the
 * reciprocal and the FMA: one rounding each), a merge's <= 3u |m_b - m_a|
 * n_b/n + u |m| (delta, n_b/n, the FMA); |x - m|, |m_b - m_a| <= 2M, so both
 * stay within 7 u M. M2: an update's increment delta (x - m_new) rounds
 * x - m_new only (the FMA's rounding is the addition's); a merge's
 * delta^2 (n_a (n_b / n)) rounds delta^2, n_b / n and n_a (n_b / n), one
 * rounding fewer than the portable Welford kernel's delta*delta*(n_a*n_b/n)
 * that the model's 4 roundings per increment cover (delta's own rounding
 * aside, the same in both); the additions are the model's 2 per level.
 * Non-finite mean or M2, overflow and the NB_TINY underflow guard send the
 * row to the two-pass portable kernel of its dtype, as for the two-pass
 * kernel.
 */
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_f32_welford_avx512, NB_VARIANT_LAYERNORM, true,
		   NB_DTYPE_F32, nb_layernorm_fwd_f32_portable)
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_bf16_welford_avx512, NB_VARIANT_LAYERNORM, true,
		   NB_DTYPE_BF16, nb_layernorm_fwd_bf16_portable)
NB_FWD_KERNEL_ALGO(nb_layernorm_fwd_f16_welford_avx512, NB_VARIANT_LAYERNORM, true,
		   NB_DTYPE_F16, nb_layernorm_fwd_f16_portable)

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
