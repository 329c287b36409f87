/* Portable C forward kernels: LayerNorm (two-pass and Welford), RMSNorm,
 * pRMSNorm and CRMSNorm for f32 (f32 or f64 accumulation), f64, f16 and
 * bf16 storage; registry lines in kernels/registry.def. */
#include <float.h>
#include <math.h>

#include "kernels/nb_kernels.h"
#include "kernels/portable/nb_portable.h"

/*
 * RMS family (RMSNorm, pRMSNorm, CRMSNorm), per row:
 *   r = 1/sqrt(ms + eps)  (eps inside, default)  or  1/(sqrt(ms) + eps)
 *   RMSNorm   ms = sum_{j<n} x_j^2 / n
 *   pRMSNorm  ms = sum_{j<k} x_j^2 / k, all n outputs scaled by r
 *   CRMSNorm  the row stores n = d-1 elements x'; ms = (sum x'^2 +
 *             (sum x')^2) / d  (divisor d: x = [x', -sum x'])
 *   y_j = (x_j r) g_j (+ b_j when bias is not NULL)
 * LayerNorm: mu = sum x / n, var = sum (x - mu)^2 / n (two-pass, never
 *   E[x^2] - mu^2), r as above with var for ms, y_j = ((x_j - mu) r) g_j (+ b_j),
 *   mu carried as mu_hi + mu_lo by the mean scheme (nb_portable_tmpl.h,
 *   kernels/nb_kernels.h), so |mu|/sigma costs only u|mu| in the variance.
 * LayerNorm Welford: mean and M2 by Welford's update in 8 interleaved lanes,
 *   merged by Chan's formula in a fixed order; then the same write pass.
 *
 * Accumulation: the kernel's acc type (float for f32/f16/bf16 storage, double
 * for f64 and the f32acc64 entries), 8 independent accumulators per sum in a
 * fixed lane tree (NB_LANES), so the result never depends on threads or on
 * alignment. 16-bit values are widened exactly on load; outputs are rounded
 * once to the storage type (round to nearest even).
 * Passes over x per row: RMS family 2 (sums, write), LayerNorm 3 (mean,
 * deviations, write), Welford 2.
 * Aliasing: y may equal x (in place): each y_j depends on x_j and on row
 * scalars computed before the write pass. gain/bias must not overlap y.
 * Any alignment (byte offsets too): elements are read and written by memcpy.
 *
 * Special values (the same for every entry; see scaled.c):
 *   - a zero row (LayerNorm: a constant row) with eps > 0 gives y = 0 (+ b);
 *     with eps = 0 it gives NaN (0 * inf);
 *   - a row with a NaN or Inf among the elements that set the statistic gives
 *     NaN in all of that row's outputs; other rows are unaffected; pRMSNorm
 *     elements past k give x_j r g_j (NaN -> NaN, Inf -> +-Inf);
 *   - finite rows whose sums overflow the accumulation type (f32: values
 *     above ~1e19, bf16 alike), or whose squares underflowed while eps is
 *     tiny (NB_TINY_*), are detected once per row and recomputed by
 *     nb_portable_fwd_row_scaled: double arithmetic on x scaled by a power of
 *     two, which gives the correctly scaled result.
 * Calling a kernel for a single row [i, i+1) is valid (the ISA kernels do so
 * for the rows they hand back).
 */

/* The arithmetic, once per accumulation type: nb_*_f (float) and nb_*_d
 * (double). */
#define NB_ACC_F64 0
#include "kernels/portable/forward_tmpl.h"
#undef NB_ACC_F64
#define NB_ACC_F64 1
#include "kernels/portable/forward_tmpl.h"
#undef NB_ACC_F64

/*
 * LayerNorm f32, Welford: lane l runs Welford's update over elements
 * j = l, l+8, l+16, ... (mean += delta / c; M2 += delta (x - mean)); all
 * lanes share the count c of a full step, so one division serves 8 lanes.
 * A partial last step gives lanes [0, rem) one more element. The lanes are
 * merged pairwise by Chan's formula (n_ab = n_a + n_b, delta = mean_b -
 * mean_a, mean = mean_a + delta n_b / n_ab, M2 = M2_a + M2_b + delta^2 n_a
 * n_b / n_ab) in the fixed tree ((0,1),(2,3)),((4,5),(6,7)). var = M2 / n.
 * The update runs on x_j - c, c = x_0 (the shift bounds the mean's error by
 * max|x - x_0| instead of max|x|); the mean m_s of the shifted row gives
 * mu = c + m_s split exactly by TwoSum into mu_hi + mu_lo, and the write pass
 * is ((x - mu_hi) - mu_lo) r (the mean scheme, nb_portable_tmpl.h).
 * f32 accumulation, 2 passes over x (statistics, write); in place allowed.
 */
struct nb_welford {
	float n, mean, m2;
};

static struct nb_welford nb_chan(struct nb_welford a, struct nb_welford b)
{
	struct nb_welford o;
	float delta;

	if (a.n == 0.0f)
		return b;
	if (b.n == 0.0f)
		return a;
	o.n = a.n + b.n;
	delta = b.mean - a.mean;
	o.mean = a.mean + delta * (b.n / o.n);
	o.m2 = (a.m2 + b.m2) + delta * delta * (a.n * b.n / o.n);
	return o;
}

static void nb_ln_welford_f32(const struct nb_problem *p, size_t row_begin, size_t row_end)
{
	const enum nb_dtype t = NB_DTYPE_F32;
	size_t n = p->n;
	size_t stride = n * sizeof(float);

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		float mean[NB_LANES] = { 0 }, m2[NB_LANES] = { 0 };
		struct nb_welford w[NB_LANES];
		size_t steps = n / NB_LANES, rem = n % NB_LANES;
		float shift = nb_ldf(t, x, 0), mu_hi, mu_lo, r;

		for (size_t s = 0; s < steps; s++) {
			float c = (float)(s + 1);
			for (size_t l = 0; l < NB_LANES; l++) {
				float v = nb_ldf(t, x, s * NB_LANES + l) - shift;
				float delta = v - mean[l];
				mean[l] += delta / c;
				m2[l] += delta * (v - mean[l]);
			}
		}
		for (size_t l = 0; l < rem; l++) {
			float v = nb_ldf(t, x, steps * NB_LANES + l) - shift;
			float delta = v - mean[l];
			mean[l] += delta / (float)(steps + 1);
			m2[l] += delta * (v - mean[l]);
		}
		for (size_t l = 0; l < NB_LANES; l++) {
			w[l].n = (float)(steps + (l < rem ? 1 : 0));
			w[l].mean = mean[l];
			w[l].m2 = m2[l];
		}
		w[0] = nb_chan(nb_chan(nb_chan(w[0], w[1]), nb_chan(w[2], w[3])),
			       nb_chan(nb_chan(w[4], w[5]), nb_chan(w[6], w[7])));
		nb_two_sum_f(shift, w[0].mean, &mu_hi, &mu_lo);
		if (!(fabsf(mu_hi) <= FLT_MAX) || !nb_r_of_f(w[0].m2, n, &p->conv, &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		nb_ln_write_f(p, t, x, y, mu_hi, mu_lo, r);
	}
}

/* ---- FlashNorm's r ---- */

float nb_portable_rms_r_f32(const struct nb_problem *p, const void *x_row)
{
	return nb_flash_r_f(p, x_row);
}

double nb_portable_rms_r_f64(const struct nb_problem *p, const void *x_row)
{
	return nb_flash_r_d(p, x_row);
}

/* ---- registry entry points ---- */

#define NB_FWD_ENTRY(fn, body) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part) \
	{ \
		(void)dgain_part; \
		(void)dbias_part; \
		body; \
	}

NB_FWD_ENTRY(nb_layernorm_fwd_f32_portable, nb_ln_fwd_f(p, NB_DTYPE_F32, row_begin, row_end))
NB_FWD_ENTRY(nb_layernorm_fwd_f32acc64_portable, nb_ln_fwd_d(p, NB_DTYPE_F32, row_begin, row_end))
NB_FWD_ENTRY(nb_layernorm_fwd_f32_welford_portable, nb_ln_welford_f32(p, row_begin, row_end))
NB_FWD_ENTRY(nb_layernorm_fwd_f64_portable, nb_ln_fwd_d(p, NB_DTYPE_F64, row_begin, row_end))
NB_FWD_ENTRY(nb_layernorm_fwd_f16_portable, nb_ln_fwd_f(p, NB_DTYPE_F16, row_begin, row_end))
NB_FWD_ENTRY(nb_layernorm_fwd_bf16_portable, nb_ln_fwd_f(p, NB_DTYPE_BF16, row_begin, row_end))

/* RMSNorm, pRMSNorm and CRMSNorm share one body, specialised by the
 * variant constant (nb_kernel_prepare guarantees p->variant matches). */
NB_FWD_ENTRY(nb_rmsnorm_fwd_f32_portable, nb_rms_fwd_f(p, NB_DTYPE_F32, NB_VARIANT_RMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_rmsnorm_fwd_f32acc64_portable, nb_rms_fwd_d(p, NB_DTYPE_F32, NB_VARIANT_RMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_rmsnorm_fwd_f64_portable, nb_rms_fwd_d(p, NB_DTYPE_F64, NB_VARIANT_RMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_rmsnorm_fwd_f16_portable, nb_rms_fwd_f(p, NB_DTYPE_F16, NB_VARIANT_RMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_rmsnorm_fwd_bf16_portable, nb_rms_fwd_f(p, NB_DTYPE_BF16, NB_VARIANT_RMSNORM, row_begin, row_end))

NB_FWD_ENTRY(nb_prmsnorm_fwd_f32_portable, nb_rms_fwd_f(p, NB_DTYPE_F32, NB_VARIANT_PRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_prmsnorm_fwd_f32acc64_portable, nb_rms_fwd_d(p, NB_DTYPE_F32, NB_VARIANT_PRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_prmsnorm_fwd_f64_portable, nb_rms_fwd_d(p, NB_DTYPE_F64, NB_VARIANT_PRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_prmsnorm_fwd_f16_portable, nb_rms_fwd_f(p, NB_DTYPE_F16, NB_VARIANT_PRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_prmsnorm_fwd_bf16_portable, nb_rms_fwd_f(p, NB_DTYPE_BF16, NB_VARIANT_PRMSNORM, row_begin, row_end))

NB_FWD_ENTRY(nb_crmsnorm_fwd_f32_portable, nb_rms_fwd_f(p, NB_DTYPE_F32, NB_VARIANT_CRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_crmsnorm_fwd_f32acc64_portable, nb_rms_fwd_d(p, NB_DTYPE_F32, NB_VARIANT_CRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_crmsnorm_fwd_f64_portable, nb_rms_fwd_d(p, NB_DTYPE_F64, NB_VARIANT_CRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_crmsnorm_fwd_f16_portable, nb_rms_fwd_f(p, NB_DTYPE_F16, NB_VARIANT_CRMSNORM, row_begin, row_end))
NB_FWD_ENTRY(nb_crmsnorm_fwd_bf16_portable, nb_rms_fwd_f(p, NB_DTYPE_BF16, NB_VARIANT_CRMSNORM, row_begin, row_end))
