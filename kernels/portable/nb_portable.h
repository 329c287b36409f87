/* Private to the portable kernels (kernels/portable/) and FlashNorm: element
 * access for every storage dtype through memcpy (any alignment, even a byte
 * offset), and the power-of-two-scaled row fallbacks in double. */
#ifndef NB_PORTABLE_H
#define NB_PORTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_problem.h"

#define NB_PORTABLE_INLINE static inline __attribute__((always_inline))

/* Independent accumulators per row sum: lane l takes elements j = l mod 8,
 * the lanes are added in the fixed tree ((0+1)+(2+3))+((4+5)+(6+7)), so a
 * row's sums depend on its length alone (never on threads or alignment). */
#define NB_LANES ((size_t)8)

/*
 * When the fast path gives up on a row and hands it to the scaled fallback
 * (nb_portable_*_row_scaled): a row statistic T (sum of squares, squared
 * deviations; the dot product of the backward) that is not finite (a NaN or
 * Inf in the row, or finite values whose squares or sums overflow), or that
 * is below NB_TINY_* while eps * divisor is below it too. The second case is
 * squares that underflowed: each lost term is below the smallest subnormal
 * (2^-149 f32, 2^-1074 f64), n of them are at most n 2^-149 <= 2^-115 for
 * n <= 2^34, i.e. under 2^-35 relative to T >= 2^-80 (f32; 2^-274 relative
 * for f64 at 2^-800) — below u, so a larger T (or an eps that large) keeps
 * the fast path and its result.
 */
#define NB_TINY_F32 0x1p-80f
#define NB_TINY_F64 0x1p-800

NB_PORTABLE_INLINE size_t nb_pt_size(enum nb_dtype t)
{
	return t == NB_DTYPE_F64 ? 8 : t == NB_DTYPE_F32 ? 4 : 2;
}

/* Element i of a row of dtype t widened to float (f64 storage never comes
 * here). t is a compile-time constant after inlining. */
NB_PORTABLE_INLINE float nb_ldf(enum nb_dtype t, const void *base, size_t i)
{
	const unsigned char *b = base;

	switch (t) {
	case NB_DTYPE_F16: {
		struct nb_f16 h;
		memcpy(&h, b + 2 * i, sizeof(h));
		return nb_f16_to_f32(h);
	}
	case NB_DTYPE_BF16: {
		struct nb_bf16 h;
		memcpy(&h, b + 2 * i, sizeof(h));
		return nb_bf16_to_f32(h);
	}
	case NB_DTYPE_F64: {
		double v;
		memcpy(&v, b + 8 * i, sizeof(v));
		return (float)v;
	}
	default: {
		float v;
		memcpy(&v, b + 4 * i, sizeof(v));
		return v;
	}
	}
}

/* Element i of a row of dtype t widened exactly to double. */
NB_PORTABLE_INLINE double nb_ldd(enum nb_dtype t, const void *base, size_t i)
{
	const unsigned char *b = base;

	if (t == NB_DTYPE_F64) {
		double v;
		memcpy(&v, b + 8 * i, sizeof(v));
		return v;
	}
	return (double)nb_ldf(t, base, i);
}

/* Stores v rounded once (round to nearest even) to dtype t. */
NB_PORTABLE_INLINE void nb_stf(enum nb_dtype t, void *base, size_t i, float v)
{
	unsigned char *b = base;

	switch (t) {
	case NB_DTYPE_F16: {
		struct nb_f16 h = nb_f32_to_f16(v);
		memcpy(b + 2 * i, &h, sizeof(h));
		break;
	}
	case NB_DTYPE_BF16: {
		struct nb_bf16 h = nb_f32_to_bf16(v);
		memcpy(b + 2 * i, &h, sizeof(h));
		break;
	}
	case NB_DTYPE_F64: {
		double w = (double)v;
		memcpy(b + 8 * i, &w, sizeof(w));
		break;
	}
	default:
		memcpy(b + 4 * i, &v, sizeof(v));
		break;
	}
}

/* Stores a double result: f64 as is, f32 rounded once, the 16-bit types
 * through f32 (the value an f32-accumulating kernel would hold). */
NB_PORTABLE_INLINE void nb_std(enum nb_dtype t, void *base, size_t i, double v)
{
	if (t == NB_DTYPE_F64) {
		memcpy((unsigned char *)base + 8 * i, &v, sizeof(v));
		return;
	}
	nb_stf(t, base, i, (float)v);
}

/* The fixed lane tree of NB_LANES float or double accumulators. */
NB_PORTABLE_INLINE float nb_lanes_f(const float *a)
{
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

NB_PORTABLE_INLINE double nb_lanes_d(const double *a)
{
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* The row's shape for the RMS family: the first nstat elements set the
 * statistic, which is divided by div (RMSNorm n, pRMSNorm k, CRMSNorm d,
 * FlashNorm n); crms adds (sum x')^2 to the sum of squares. */
struct nb_rms_shape {
	size_t n, nstat;
	size_t div;
	bool crms;
};

/* v is a compile-time constant in the kernels, so crms and the divisor fold. */
NB_PORTABLE_INLINE struct nb_rms_shape nb_rms_shape_v(const struct nb_problem *p,
						      enum nb_variant v)
{
	struct nb_rms_shape s = { .n = p->n, .nstat = p->n, .div = p->n, .crms = false };

	if (v == NB_VARIANT_PRMSNORM) {
		s.nstat = p->k;
		s.div = p->k;
	} else if (v == NB_VARIANT_CRMSNORM) {
		s.div = p->d;
		s.crms = true;
	}
	return s;
}

NB_PORTABLE_INLINE struct nb_rms_shape nb_rms_shape_of(const struct nb_problem *p)
{
	return nb_rms_shape_v(p, p->variant);
}

/*
 * Scaled fallbacks, one row at a time, in double with power-of-two scaling
 * (exact): the fast paths send a row here when its statistics are not finite
 * or underflowed (see NB_TINY_*). They write row i of y (forward) or dx and
 * add the row's dy*xhat and dy into dgain_part/dbias_part (backward, gt the
 * partials' dtype; dbias_part may be NULL). Semantics in scaled.c.
 */
void nb_portable_fwd_row_scaled(const struct nb_problem *p, size_t i);
void nb_portable_bwd_row_scaled(const struct nb_problem *p, size_t i, enum nb_dtype gt,
				void *dgain_part, void *dbias_part);

/* r = 1/sqrt(mean(x^2) + eps) (or 1/(rms + eps)) of one row of n elements
 * of dtype t, scaled (2^se r' with se returned through *se) so that it
 * never over- or underflows; NaN when the row holds a NaN or an Inf. */
double nb_portable_rms_r_scaled(enum nb_dtype t, const void *x, size_t n,
				const struct nb_conventions *conv, int *se);

/* FlashNorm's r of one row (n = p->n elements of x_row), computed exactly as
 * the f32 (f64) RMSNorm kernel computes it, fallback included. */
float nb_portable_rms_r_f32(const struct nb_problem *p, const void *x_row);
double nb_portable_rms_r_f64(const struct nb_problem *p, const void *x_row);

#endif
