/* Long-double references (64-bit mantissa on x86) with compensated summation:
 * the oracles every kernel is judged against. ref/ never includes kernels/. */
#ifndef NB_REF_H
#define NB_REF_H

#include <float.h>
#include <stddef.h>

#include "common/nb_problem.h"

/* Unit roundoff of ref/'s arithmetic: 2^-64 on x86 (64-bit mantissa), only
 * 2^-11 below f64's: where f64 kernels are judged, the reference's own error
 * is not negligible and bounds must include it. */
#define NB_REF_UNIT_ROUNDOFF (LDBL_EPSILON / 2.0L)

/* Element i of a buffer of dtype t as a long double. The 16-bit formats are
 * decoded here from their bit fields by ref/'s own arithmetic, not by the
 * converters the kernels use. */
long double nb_ref_load(enum nb_dtype t, const void *buf, size_t i);

/* Forward of p->variant (LayerNorm, RMSNorm, pRMSNorm, CRMSNorm) on every
 * row: y (rows x n). Optional per-row outputs (NULL: not wanted): r, the
 * reciprocal scale (1/sqrt(ms+eps) or 1/(sqrt(ms)+eps)), and for LayerNorm
 * the mean. p must have passed nb_problem_check (n and k filled); y, dx,
 * z... in p are ignored. */
enum nb_status nb_ref_forward(const struct nb_problem *p, long double *y,
			      long double *row_r, long double *row_mean);

/* Backward: dx (rows x n), dgain and dbias (n each; dbias may be NULL) from
 * p->x, p->gain, p->dy, exact derivatives of nb_ref_forward (both eps
 * conventions). */
enum nb_status nb_ref_backward(const struct nb_problem *p, long double *dx,
			       long double *dgain, long double *dbias);

/* FlashNorm's reference: RMSNorm (eps per p->conv, no bias) of x with
 * p->gain, then times the unfolded p->w (n x m), plus p->out_bias:
 * z (rows x m). */
enum nb_status nb_ref_flashnorm(const struct nb_problem *p, long double *z);

/* Behaviour common to the calls above:
 * - accuracy: each output within a few u (NB_REF_UNIT_ROUNDOFF) of
 *   |g*xhat| + |g| + |b| (tests/test_ref.c derives (12 + d/2) u); every
 *   sum is compensated (ref/nb_ref_sum.h); no scaling is needed for any
 *   finite f32/f64 input (long double's range covers every square).
 * - a NaN or +-Inf among a row's n stored x (or, backward, its dy) makes
 *   that row's outputs NaN (y or dx, and r and mean); other rows are
 *   unaffected. dgain/dbias get what the arithmetic gives.
 * - row_mean is 0 for the variants without one; a FlashNorm problem given
 *   to nb_ref_forward/nb_ref_backward, a missing output or a problem that
 *   has not passed nb_problem_check is NB_ERR_INVALID; NB_ERR_NOMEM when
 *   the row buffers cannot be allocated. */

#endif
