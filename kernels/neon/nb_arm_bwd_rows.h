/* The per-row driver of the arm64 backward kernels (kernels/neon/neon_bwd.c
 * and kernels/sve/sve_bwd.c), f32 accumulation for f32, bf16 and f16
 * storage: the scalar part (statistics, fallback, r and the correction
 * coefficient), around the two vector loops the including file defines.
 * Plain C: any arm64 ISA file may include it. */
#ifndef NB_ARM_BWD_ROWS_H
#define NB_ARM_BWD_ROWS_H

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/nb_dtype.h"

#include "kernels/nb_kernels.h"
#include "kernels/portable/nb_portable.h"

/*
 * The including file defines, before including this header (t: the storage
 * dtype of x, dy, g and dx, a compile-time constant after inlining; the
 * elements are converted to f32 exactly on load):
 *   void nb_row_sums(enum nb_dtype t, const void *x, const void *dy,
 *                    const void *g, size_t j0, size_t j1, float c,
 *                    unsigned what, float s[4])
 *     the sums of one row over [j0, j1), with xc = x - c: s[0] = sum xc,
 *     s[1] = sum xc^2, s[2] = sum dyh, s[3] = sum dyh * xc (dyh = dy * g);
 *     only those in `what` (bit i: s[i]), in a fixed order per row;
 *   void nb_write(enum nb_dtype t, const void *x, const void *dy,
 *                 const void *g, void *dx, float *dg, float *db, size_t j0,
 *                 size_t j1, float c, float mlr, float r, float mdy,
 *                 float shat, float coef)
 *     over [j0, j1): xhat = fma(x - c, r, -mlr), dx = r * ((dyh - mdy) -
 *     (xhat + shat) * coef) (16-bit dx rounded to nearest even, as the
 *     scalar converters), dg += dy * xhat (FMA), db += dy (db may be NULL;
 *     the partials are f32 for every storage dtype, nb_grad_dtype).
 *
 * Per row, with coef = q * (sum dyh xhat) / m (m: n, k for pRMSNorm, d for
 * CRMSNorm; q = 1 for eps inside the root, (sqrt(ms) + eps) / sqrt(ms)
 * outside, 0 at ms = 0):
 *   LayerNorm: the mean scheme of kernels/nb_kernels.h (docs/verification.md):
 *              c = x_0, mu_hi = c + sum (x - c) / n; t = x - mu_hi, mu_lo =
 *              S1 / n, M2 = max(0, S2 - S1 mu_lo) (S1 = sum t, S2 = sum t^2,
 *              nb_mean_residual_f), var = M2 / n; sum dyh (x - mu) = sum dyh
 *              t - mu_lo sum dyh; xhat = fma(t, r, -(mu_lo r)); mdy =
 *              mean(dyh), shat = 0
 *   RMSNorm:   xhat = x r, mdy = 0, shat = 0
 *   pRMSNorm:  r and the correction from x[0, k) only (dyh x summed over n)
 *   CRMSNorm:  shat = (sum x') r, m = d
 * The partials dgain/dbias are zeroed, then every row adds to them in row
 * order (the driver's fixed chunks), so they do not depend on the thread
 * count. A row whose sums or scalars are not finite, or whose statistic
 * underflowed with a tiny eps (NB_ARM_BWD_TINY, the portable kernels'
 * NB_TINY_F32), goes to the portable scaled fallback, which adds its
 * contributions to the partials in the same row order.
 */

#define NB_ARM_BWD_TINY NB_TINY_F32

/* Element 0 of a row of dtype t as f32 (exact) */
static inline __attribute__((always_inline)) float nb_arm_bwd_first(enum nb_dtype t,
								    const void *x)
{
	struct nb_bf16 b;
	struct nb_f16 h;
	float f;

	switch (t) {
	case NB_DTYPE_BF16:
		memcpy(&b, x, sizeof(b));
		return nb_bf16_to_f32(b);
	case NB_DTYPE_F16:
		memcpy(&h, x, sizeof(h));
		return nb_f16_to_f32(h);
	default:
		memcpy(&f, x, sizeof(f));
		return f;
	}
}

/* r and q from the statistic ms (as the portable kernels' bwd_r_q) */
static inline __attribute__((always_inline)) void
nb_arm_bwd_r_q(const struct nb_problem *p, float ms, float *r, float *q)
{
	float eps = (float)p->conv.eps, rho = sqrtf(ms);

	if (p->conv.eps_mode == NB_EPS_INSIDE) {
		*r = 1.0f / sqrtf(ms + eps);
		*q = 1.0f;
	} else {
		*r = 1.0f / (rho + eps);
		*q = rho > 0.0f ? 1.0f + eps / rho : 0.0f;
	}
}

static inline __attribute__((always_inline)) void
nb_arm_bwd_rows(const struct nb_problem *p, size_t row_begin, size_t row_end, float *dg,
		float *db, enum nb_variant v, enum nb_dtype t)
{
	size_t n = p->n;
	size_t stride = n * (t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t));
	size_t nstat = v == NB_VARIANT_PRMSNORM ? p->k : n;
	float div = (float)(v == NB_VARIANT_PRMSNORM ? p->k
			    : v == NB_VARIANT_CRMSNORM ? p->d : n);
	float eps = (float)p->conv.eps;
	const void *g = p->gain;

	for (size_t j = 0; j < n; j++)
		dg[j] = 0.0f;
	if (db)
		for (size_t j = 0; j < n; j++)
			db[j] = 0.0f;
	for (size_t i = row_begin; i < row_end; i++) {
		const char *x = (const char *)p->x + i * stride;
		const char *dy = (const char *)p->dy + i * stride;
		char *dx = (char *)p->dx + i * stride;
		float s[4], s_tail[4], mu_hi = 0.0f, mu_lo = 0.0f, mdy = 0.0f, shat = 0.0f;
		float total, sdot, r, q;
		bool ok;

		if (v == NB_VARIANT_LAYERNORM) {
			/* the mean scheme (kernels/nb_kernels.h) */
			float c = nb_arm_bwd_first(t, x);

			nb_row_sums(t, x, dy, g, 0, n, c, 1, s);
			mu_hi = c + s[0] / (float)n;
			nb_row_sums(t, x, dy, g, 0, n, mu_hi, 15, s);
			total = nb_mean_residual_f(s[0], s[1], (float)n, &mu_lo);
			mdy = s[2] / (float)n;
			/* sum dyh (x - mu) */
			sdot = fmaf(-mu_lo, s[2], s[3]);
			ok = isfinite(mu_hi) && isfinite(mu_lo) && isfinite(s[2]) && isfinite(sdot);
		} else {
			/* x (and its sum for CRMSNorm) over [0, nstat); dyh x over n */
			nb_row_sums(t, x, dy, g, 0, nstat, 0.0f, v == NB_VARIANT_CRMSNORM ? 11 : 10,
				    s);
			nb_row_sums(t, x, dy, g, nstat, n, 0.0f, 8, s_tail);
			total = s[1];
			if (v == NB_VARIANT_CRMSNORM) {
				total = fmaf(s[0], s[0], total);
				shat = s[0];
			}
			sdot = nstat < n ? s[3] + s_tail[3] : s[3];
			ok = isfinite(sdot) && isfinite(shat);
		}
		if (!ok || !(total <= FLT_MAX) ||
		    (total < NB_ARM_BWD_TINY && eps * div < NB_ARM_BWD_TINY)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F32, dg, db);
			continue;
		}
		nb_arm_bwd_r_q(p, total / div, &r, &q);
		if (!isfinite(r) || !isfinite(mu_lo * r)) {
			nb_portable_bwd_row_scaled(p, i, NB_DTYPE_F32, dg, db);
			continue;
		}
		{
			float coef = q * (sdot * r) / div;

			shat *= r;
			nb_write(t, x, dy, g, dx, dg, db, 0, nstat, mu_hi, mu_lo * r, r, mdy, shat,
				 coef);
			if (nstat < n)
				nb_write(t, x, dy, g, dx, dg, db, nstat, n, 0.0f, 0.0f, r, 0.0f,
					 0.0f, 0.0f);
		}
	}
}

/* One registry kernel: the rows of variant `variant`, storage dtype
 * `dtype`, through the driver. */
#define NB_ARM_BWD_KERNEL(fn, variant, dtype) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		nb_arm_bwd_rows(p, row_begin, row_end, dgain_part, dbias_part, variant, \
				dtype); \
	}

#endif
