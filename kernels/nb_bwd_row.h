/* The backward kernels' row algebra, the same for every ISA: from a row's
 * sums (taken by each ISA's own vector loops) to the scalars of its write
 * pass. Plain scalar f32 C: included by kernels/avx2 and kernels/avx512. */
#ifndef NB_BWD_ROW_H
#define NB_BWD_ROW_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/nb_problem.h"
#include "kernels/nb_kernels.h"

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
 * (kernels/portable/backward.c derives q.)
 */

/* Which sums a moments pass takes. */
enum {
	NB_M_SUM = 1,     /* sum x (with NB_M_CENTER: sum (x - mu)) */
	NB_M_SQ = 2,      /* sum (x - mu)^2 */
	NB_M_DY = 4,      /* sum dyh */
	NB_M_DOT = 8,     /* sum dyh (x - mu) */
	NB_M_CENTER = 16, /* subtract mu */
};

/* The sums of one row's statistics pass(es), in f32. */
struct nb_moments {
	float sum, sq, dy, dot;
};

/* The scalars of one row's write pass. */
struct nb_bwd_row {
	float mu, r, mdy, shat, coef;
	float mlr;  /* LayerNorm: mu_lo r (the mean scheme) */
};

/*
 * The portable kernels' underflow guard (NB_TINY_F32 of
 * kernels/portable/nb_portable.h): a statistic below 2^-80 while eps times
 * its divisor is below 2^-80 too may have lost squares to underflow, and the
 * row goes to the portable kernel (which rescales it).
 */
#define NB_BWD_TINY 0x1p-80f

/* Elements one row's passes visit, all passes together (the prefetch shares). */
static inline size_t nb_bwd_work(const struct nb_problem *p, enum nb_variant v)
{
	return (v == NB_VARIANT_LAYERNORM ? 3 : 2) * p->n;
}

/* LayerNorm after its first pass: mu_hi = c + S0 / n, S0 = sum (x - c),
 * c = x_0, into s->mu; false when it is not finite. */
static inline bool nb_bwd_ln_mean(float c, float s0, size_t n, struct nb_bwd_row *s)
{
	s->mu = c + s0 / (float)n;
	return isfinite(s->mu);
}

/*
 * The row's scalars from its sums; false when a sum or scalar is not finite
 * or the statistic underflowed (NB_BWD_TINY): the portable kernel takes the
 * row. mo holds, per variant: LayerNorm, the deviation pass's sum, sq, dy and
 * dot around mu_hi (s->mu, set by nb_bwd_ln_mean); RMSNorm sq and dot;
 * pRMSNorm sq over [0, k) and dot over all n; CRMSNorm sum, sq and dot.
 */
static inline bool nb_bwd_row_scalars(const struct nb_problem *p, enum nb_variant v,
				      struct nb_moments mo, struct nb_bwd_row *s)
{
	float eps = (float)p->conv.eps;
	float total, m, ms, c, q, sigma, mu_lo = 0.0f;

	s->mdy = s->shat = 0.0f;
	switch (v) {
	case NB_VARIANT_LAYERNORM:
		/* sum dyh (x - mu) = sum dyh (x - mu_hi) - mu_lo sum dyh */
		m = (float)p->n;
		total = nb_mean_residual_f(mo.sum, mo.sq, m, &mu_lo);
		mo.dot -= mu_lo * mo.dy;
		s->mdy = mo.dy / m;
		if (!isfinite(s->mdy))
			return false;
		break;
	case NB_VARIANT_PRMSNORM:
		s->mu = 0.0f;
		m = (float)p->k;
		total = mo.sq;
		break;
	case NB_VARIANT_CRMSNORM:
		s->mu = 0.0f;
		m = (float)p->d;
		total = mo.sq + mo.sum * mo.sum;
		break;
	default:
		s->mu = 0.0f;
		m = (float)p->n;
		total = mo.sq;
		break;
	}
	if (!(total <= FLT_MAX) || !isfinite(mo.dot) ||
	    (total < NB_BWD_TINY && eps * m < NB_BWD_TINY))
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

#endif
