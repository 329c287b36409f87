/* Portable C backward kernels: dx, dgain and dbias of LayerNorm, RMSNorm,
 * pRMSNorm and CRMSNorm for f32, f64, f16 and bf16 storage; registry lines
 * in kernels/registry.def. */
#include <float.h>
#include <math.h>

#include "kernels/nb_kernels.h"
#include "kernels/portable/nb_portable.h"

/*
 * Notation per row: dyh = dy * g, xhat = the normalized input (x r, LayerNorm
 * (x - mu) r), S = sum_{j<n} dyh_j xhat_j, D = the statistic's divisor
 * (RMSNorm n, pRMSNorm k, CRMSNorm d, LayerNorm n).
 *
 *   RMSNorm   dx_j = r (dyh_j - q xhat_j S / n)
 *   pRMSNorm  dx_j = r (dyh_j - q xhat_j S / k) for j < k, r dyh_j for j >= k
 *   CRMSNorm  dx'_j = r (dyh'_j - q (xhat'_j + shat) S / d), shat = r sum x'
 *             (= r dy'_j - r^3 (x'_j + s)/d sum dyh'_i x'_i for eps inside)
 *   LayerNorm dx_j = r (dyh_j - mean(dyh) - q xhat_j S / n)
 *   q = 1 for eps inside; q = (rho + eps) / rho for eps outside, rho = sqrt(ms)
 *
 * Derivation of q. Write the statistic ms (LayerNorm: var) and u_j its
 * derivative's shape: d ms / d x_j = 2 u_j / D with u_j = x_j (RMS, j < k;
 * 0 for j >= k), x'_j + s (CRMS: ms = (sum x'^2 + s^2)/d, s = sum x'), or
 * x_j - mu (LayerNorm: the mu terms cancel because sum (x - mu) = 0). With
 * y_i = g_i v_i r (v = x, or x - mu whose own derivative gives the
 * mean(dyh) term), dL/dx_j = r dyh_j [- r mean(dyh)] + (sum_i dyh_i v_i)
 * dr/dms 2 u_j / D, and sum_i dyh_i v_i = S / r.
 *   eps inside:  r = (ms + eps)^(-1/2), dr/dms = -r^3 / 2, so the term is
 *                -(S/r) r^3 u_j / D = -r (r u_j) S / D.
 *   eps outside: r = 1/(rho + eps), rho = sqrt(ms), dr/dms = -r^2/(2 rho),
 *                so the term is -(S/r) r^2 u_j / (rho D) = -r (u_j / rho) S / D
 *                = -r (r u_j) q S / D with q = 1/(r rho) = (rho + eps)/rho.
 * r u_j is xhat_j (CRMS: xhat'_j + shat). At rho = 0 (a zero row, LayerNorm
 * a constant row) eps-outside r is 1/eps but rho is not differentiable; the
 * correction's limit as x -> 0 is 0 (|u_j / rho| <= sqrt(D) stays bounded
 * while S -> 0), so q is taken as 0 there: dx = r dyh [- r mean(dyh)].
 *
 * dgain_part_j = sum over the rows, in row order, of dy_j xhat_j; dbias_part_j
 * = sum of dy_j (skipped when NULL). Both are written, not accumulated, in
 * the gradient dtype (f32 for f32/f16/bf16, f64 for f64).
 *
 * Accumulation: float for f32/f16/bf16 storage, double for f64; 8 independent
 * accumulators per sum in a fixed lane tree. Passes over x per row: RMS
 * family 2 (the sums of squares and S/r = sum dyh x together, then the write
 * pass), LayerNorm 3 (mean; squared deviations, sum dyh and sum dyh (x - mu);
 * write), with the mean scheme of nb_portable_tmpl.h (mu = mu_hi + mu_lo). Aliasing: dx must not overlap x, dy, gain or the partials
 * (nb_kernel_prepare refuses dx == x and dx == dy). Any alignment.
 *
 * Special values: a NaN/Inf among the statistic's elements of x gives a NaN
 * dx row and NaN in every element of dgain_part (dbias_part still gets dy);
 * a zero row (LayerNorm constant row) with eps > 0 gives the finite dx =
 * r dyh [- r mean(dyh)]; with eps = 0 it gives NaN. Finite rows whose sums
 * overflow (x, or dy and g) or underflow with a tiny eps are recomputed by
 * nb_portable_bwd_row_scaled (double, power-of-two scaling of x, dy and g).
 */

/* The arithmetic, once per accumulation type: nb_*_f (float) and nb_*_d
 * (double). */
#define NB_ACC_F64 0
#include "kernels/portable/backward_tmpl.h"
#undef NB_ACC_F64
#define NB_ACC_F64 1
#include "kernels/portable/backward_tmpl.h"
#undef NB_ACC_F64

/* ---- registry entry points ---- */

#define NB_BWD_ENTRY(fn, body) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		body; \
	}

NB_BWD_ENTRY(nb_layernorm_bwd_f32_portable,
	     nb_ln_bwd_f(p, NB_DTYPE_F32, row_begin, row_end, dgain_part, dbias_part))
NB_BWD_ENTRY(nb_layernorm_bwd_f64_portable,
	     nb_ln_bwd_d(p, NB_DTYPE_F64, row_begin, row_end, dgain_part, dbias_part))
NB_BWD_ENTRY(nb_layernorm_bwd_f16_portable,
	     nb_ln_bwd_f(p, NB_DTYPE_F16, row_begin, row_end, dgain_part, dbias_part))
NB_BWD_ENTRY(nb_layernorm_bwd_bf16_portable,
	     nb_ln_bwd_f(p, NB_DTYPE_BF16, row_begin, row_end, dgain_part, dbias_part))

#define NB_RMS_BWD_ENTRIES(name, variant) \
	NB_BWD_ENTRY(nb_##name##_bwd_f32_portable, \
		     nb_rms_bwd_f(p, NB_DTYPE_F32, variant, row_begin, row_end, \
				  dgain_part, dbias_part)) \
	NB_BWD_ENTRY(nb_##name##_bwd_f64_portable, \
		     nb_rms_bwd_d(p, NB_DTYPE_F64, variant, row_begin, row_end, \
				  dgain_part, dbias_part)) \
	NB_BWD_ENTRY(nb_##name##_bwd_f16_portable, \
		     nb_rms_bwd_f(p, NB_DTYPE_F16, variant, row_begin, row_end, \
				  dgain_part, dbias_part)) \
	NB_BWD_ENTRY(nb_##name##_bwd_bf16_portable, \
		     nb_rms_bwd_f(p, NB_DTYPE_BF16, variant, row_begin, row_end, \
				  dgain_part, dbias_part))

NB_RMS_BWD_ENTRIES(rmsnorm, NB_VARIANT_RMSNORM)
NB_RMS_BWD_ENTRIES(prmsnorm, NB_VARIANT_PRMSNORM)
NB_RMS_BWD_ENTRIES(crmsnorm, NB_VARIANT_CRMSNORM)
