/* The software-prefetch cursor the ISA kernels share: it walks through a
 * thread's rows of x a fixed distance ahead of the row being processed. */
#ifndef NB_PREFETCH_H
#define NB_PREFETCH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * How far ahead of the row being processed the cursor runs, in bytes:
 * far enough to cover the DRAM latency at full bandwidth (a few KiB), near
 * enough that the lines are still in L1/L2 when the row gets there
 * (measured on the development machine: docs/performance.md, historical section;
 * -DNB_PF_AHEAD=BYTES overrides it for such an experiment).
 */
#ifndef NB_PF_AHEAD
#define NB_PF_AHEAD ((size_t)16384)
#endif
/* __builtin_prefetch's locality: 3 = PREFETCHT0 (-DNB_PF_LOCALITY=N for an
 * experiment) */
#ifndef NB_PF_LOCALITY
#define NB_PF_LOCALITY 3
#endif

/*
 * The cursor of one thread's rows: pos walks through x (rows are
 * contiguous in memory, so "ahead" runs on into the next rows) and stops at
 * end, the end of the thread's rows. Each pass over a row may advance it up
 * to limit, k lines per loop iteration: a pass's limit is its share of the
 * row in proportion to the elements it visits, so the requests are spread
 * evenly over the row's time and DRAM keeps reading while the passes that
 * work from L1 run. A prefetch never faults and changes no result.
 */
struct nb_pf {
	const char *pos, *limit, *end;
	size_t k;
};

/*
 * The cursor for rows [row_begin, row_end) of stride bytes at x; on false
 * gives a cursor that never prefetches. The kernels turn it on only for
 * problems beyond the last-level cache (those they stream): for data in
 * L2 or L3 the hardware prefetchers keep up, and the extra instructions
 * and the lines brought into L1 early cost time (256 x 4096 f32 RMSNorm:
 * 45% of the same-level copy with the cursor, 60% without).
 */
static inline struct nb_pf nb_pf_init(const void *x, size_t stride, size_t row_begin,
				      size_t row_end, bool on)
{
	struct nb_pf pf;

	pf.pos = (const char *)x + row_begin * stride + NB_PF_AHEAD;
	pf.end = on ? (const char *)x + row_end * stride : pf.pos;
	pf.limit = pf.pos;
	pf.k = 0;
	return pf;
}

/* Where the cursor stands when row i starts (its passes' shares add to it). */
static inline const char *nb_pf_row(const void *x, size_t stride, size_t i)
{
	return (const char *)x + i * stride + NB_PF_AHEAD;
}

/* One loop iteration's prefetches. */
static inline __attribute__((always_inline)) void nb_pf_step(struct nb_pf *pf)
{
	for (size_t i = 0; i < pf->k && pf->pos < pf->limit; i++, pf->pos += 64)
		__builtin_prefetch(pf->pos, 0, NB_PF_LOCALITY);
}

/*
 * Opens a pass whose share ends at until (clamped to the end): each of its
 * loop iterations visits iter_bytes of a row of row_bytes, and a row's
 * passes visit work_bytes in all, so k = ceil(lines per iteration *
 * row_bytes / work_bytes) keeps the cursor moving at the row's pace.
 */
static inline void nb_pf_pass(struct nb_pf *pf, const char *until, size_t iter_bytes,
			      size_t row_bytes, size_t work_bytes)
{
	size_t lines = (iter_bytes + 63) / 64;

	/* a cursor that is off (or done) costs no division per pass */
	if (pf->pos >= pf->end) {
		pf->limit = pf->end;
		pf->k = 0;
		return;
	}
	pf->limit = until < pf->end ? until : pf->end;
	pf->k = (lines * row_bytes + work_bytes - 1) / work_bytes;
}

/* The cursors of the two row streams a backward pass reads (x and dy). */
struct nb_pf2 {
	struct nb_pf x, dy;
};

static inline __attribute__((always_inline)) void nb_pf2_step(struct nb_pf2 *pf)
{
	nb_pf_step(&pf->x);
	nb_pf_step(&pf->dy);
}

/* Opens a pass of both cursors: until is the offset of the share's end from
 * the row start (plus NB_PF_AHEAD, as nb_pf_row). */
static inline __attribute__((always_inline)) void
nb_pf2_pass(struct nb_pf2 *pf, const float *x, const float *dy, size_t until,
	    size_t iter_bytes, size_t row_bytes, size_t work_bytes)
{
	nb_pf_pass(&pf->x, (const char *)x + NB_PF_AHEAD + until, iter_bytes, row_bytes,
		   work_bytes);
	nb_pf_pass(&pf->dy, (const char *)dy + NB_PF_AHEAD + until, iter_bytes, row_bytes,
		   work_bytes);
}

#endif
