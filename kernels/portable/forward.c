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
 *   E[x^2] - mu^2), r as above with var for ms, y_j = ((x_j - mu) r) g_j (+ b_j).
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

/* ---- RMS family ---- */

/* r of one row in float, false when the row must go to the scaled
 * fallback. */
NB_PORTABLE_INLINE bool nb_rms_r_f(enum nb_dtype t, const void *x,
				   const struct nb_rms_shape *sh,
				   const struct nb_conventions *conv, float *r)
{
	float a[NB_LANES] = { 0 }, c[NB_LANES] = { 0 };
	float eps = (float)conv->eps;
	float total, ms;
	size_t j = 0;

	for (; j + NB_LANES <= sh->nstat; j += NB_LANES)
		for (size_t l = 0; l < NB_LANES; l++) {
			float v = nb_ldf(t, x, j + l);
			a[l] += v * v;
			c[l] += v;
		}
	for (size_t l = 0; j + l < sh->nstat; l++) {
		float v = nb_ldf(t, x, j + l);
		a[l] += v * v;
		c[l] += v;
	}
	total = nb_lanes_f(a);
	if (sh->crms) {
		float s = nb_lanes_f(c);
		total += s * s;
	}
	if (!(total <= FLT_MAX) ||
	    (total < NB_TINY_F32 && eps * (float)sh->div < NB_TINY_F32))
		return false;
	ms = total / (float)sh->div;
	*r = conv->eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
					     : 1.0f / (sqrtf(ms) + eps);
	return true;
}

NB_PORTABLE_INLINE bool nb_rms_r_d(enum nb_dtype t, const void *x,
				   const struct nb_rms_shape *sh,
				   const struct nb_conventions *conv, double *r)
{
	double a[NB_LANES] = { 0 }, c[NB_LANES] = { 0 };
	double eps = conv->eps;
	double total, ms;
	size_t j = 0;

	for (; j + NB_LANES <= sh->nstat; j += NB_LANES)
		for (size_t l = 0; l < NB_LANES; l++) {
			double v = nb_ldd(t, x, j + l);
			a[l] += v * v;
			c[l] += v;
		}
	for (size_t l = 0; j + l < sh->nstat; l++) {
		double v = nb_ldd(t, x, j + l);
		a[l] += v * v;
		c[l] += v;
	}
	total = nb_lanes_d(a);
	if (sh->crms) {
		double s = nb_lanes_d(c);
		total += s * s;
	}
	if (!(total <= DBL_MAX) ||
	    (total < NB_TINY_F64 && eps * (double)sh->div < NB_TINY_F64))
		return false;
	ms = total / (double)sh->div;
	*r = conv->eps_mode == NB_EPS_INSIDE ? 1.0 / sqrt(ms + eps)
					     : 1.0 / (sqrt(ms) + eps);
	return true;
}

NB_PORTABLE_INLINE void nb_rms_fwd_f(const struct nb_problem *p, enum nb_dtype t,
				     enum nb_variant v, size_t row_begin, size_t row_end)
{
	struct nb_rms_shape sh = nb_rms_shape_v(p, v);
	size_t stride = sh.n * nb_pt_size(t);

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		float r;

		if (!nb_rms_r_f(t, x, &sh, &p->conv, &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		if (p->bias)
			for (size_t j = 0; j < sh.n; j++)
				nb_stf(t, y, j, (nb_ldf(t, x, j) * r) * nb_ldf(t, p->gain, j) +
					       nb_ldf(t, p->bias, j));
		else
			for (size_t j = 0; j < sh.n; j++)
				nb_stf(t, y, j, (nb_ldf(t, x, j) * r) * nb_ldf(t, p->gain, j));
	}
}

NB_PORTABLE_INLINE void nb_rms_fwd_d(const struct nb_problem *p, enum nb_dtype t,
				     enum nb_variant v, size_t row_begin, size_t row_end)
{
	struct nb_rms_shape sh = nb_rms_shape_v(p, v);
	size_t stride = sh.n * nb_pt_size(t);

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		double r;

		if (!nb_rms_r_d(t, x, &sh, &p->conv, &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		if (p->bias)
			for (size_t j = 0; j < sh.n; j++)
				nb_std(t, y, j, (nb_ldd(t, x, j) * r) * nb_ldd(t, p->gain, j) +
					       nb_ldd(t, p->bias, j));
		else
			for (size_t j = 0; j < sh.n; j++)
				nb_std(t, y, j, (nb_ldd(t, x, j) * r) * nb_ldd(t, p->gain, j));
	}
}

/* ---- LayerNorm ---- */

/* The write pass shared by the two-pass and the Welford kernels. */
NB_PORTABLE_INLINE void nb_ln_write_f(const struct nb_problem *p, enum nb_dtype t,
				      const void *x, void *y, float mu, float r)
{
	if (p->bias)
		for (size_t j = 0; j < p->n; j++)
			nb_stf(t, y, j, ((nb_ldf(t, x, j) - mu) * r) * nb_ldf(t, p->gain, j) +
				       nb_ldf(t, p->bias, j));
	else
		for (size_t j = 0; j < p->n; j++)
			nb_stf(t, y, j, ((nb_ldf(t, x, j) - mu) * r) * nb_ldf(t, p->gain, j));
}

/* r from var = vs / n in float; false: the row goes to the fallback. */
NB_PORTABLE_INLINE bool nb_ln_r_f(const struct nb_problem *p, float vs, float *r)
{
	float eps = (float)p->conv.eps;
	float var;

	if (!(vs <= FLT_MAX) || (vs < NB_TINY_F32 && eps * (float)p->n < NB_TINY_F32))
		return false;
	var = vs / (float)p->n;
	*r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(var + eps)
					       : 1.0f / (sqrtf(var) + eps);
	return true;
}

NB_PORTABLE_INLINE void nb_ln_fwd_f(const struct nb_problem *p, enum nb_dtype t,
				    size_t row_begin, size_t row_end)
{
	size_t n = p->n;
	size_t stride = n * nb_pt_size(t);

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		float a[NB_LANES] = { 0 }, v[NB_LANES] = { 0 };
		float sum, mu, r;
		size_t j = 0;

		for (; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				a[l] += nb_ldf(t, x, j + l);
		for (size_t l = 0; j + l < n; l++)
			a[l] += nb_ldf(t, x, j + l);
		sum = nb_lanes_f(a);
		if (!(fabsf(sum) <= FLT_MAX)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		mu = sum / (float)n;
		for (j = 0; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				float dv = nb_ldf(t, x, j + l) - mu;
				v[l] += dv * dv;
			}
		for (size_t l = 0; j + l < n; l++) {
			float dv = nb_ldf(t, x, j + l) - mu;
			v[l] += dv * dv;
		}
		if (!nb_ln_r_f(p, nb_lanes_f(v), &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		nb_ln_write_f(p, t, x, y, mu, r);
	}
}

NB_PORTABLE_INLINE void nb_ln_fwd_d(const struct nb_problem *p, enum nb_dtype t,
				    size_t row_begin, size_t row_end)
{
	size_t n = p->n;
	size_t stride = n * nb_pt_size(t);
	double eps = p->conv.eps;

	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		unsigned char *y = (unsigned char *)p->y + i * stride;
		double a[NB_LANES] = { 0 }, v[NB_LANES] = { 0 };
		double sum, mu, vs, var, r;
		size_t j = 0;

		for (; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				a[l] += nb_ldd(t, x, j + l);
		for (size_t l = 0; j + l < n; l++)
			a[l] += nb_ldd(t, x, j + l);
		sum = nb_lanes_d(a);
		if (!(fabs(sum) <= DBL_MAX)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		mu = sum / (double)n;
		for (j = 0; j + NB_LANES <= n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				double dv = nb_ldd(t, x, j + l) - mu;
				v[l] += dv * dv;
			}
		for (size_t l = 0; j + l < n; l++) {
			double dv = nb_ldd(t, x, j + l) - mu;
			v[l] += dv * dv;
		}
		vs = nb_lanes_d(v);
		if (!(vs <= DBL_MAX) || (vs < NB_TINY_F64 && eps * (double)n < NB_TINY_F64)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		var = vs / (double)n;
		r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0 / sqrt(var + eps)
						      : 1.0 / (sqrt(var) + eps);
		if (p->bias)
			for (j = 0; j < n; j++)
				nb_std(t, y, j, ((nb_ldd(t, x, j) - mu) * r) * nb_ldd(t, p->gain, j) +
					       nb_ldd(t, p->bias, j));
		else
			for (j = 0; j < n; j++)
				nb_std(t, y, j, ((nb_ldd(t, x, j) - mu) * r) * nb_ldd(t, p->gain, j));
	}
}

/*
 * LayerNorm f32, Welford: lane l runs Welford's update over elements
 * j = l, l+8, l+16, ... (mean += delta / c; M2 += delta (x - mean)); all
 * lanes share the count c of a full step, so one division serves 8 lanes.
 * A partial last step gives lanes [0, rem) one more element. The lanes are
 * merged pairwise by Chan's formula (n_ab = n_a + n_b, delta = mean_b -
 * mean_a, mean = mean_a + delta n_b / n_ab, M2 = M2_a + M2_b + delta^2 n_a
 * n_b / n_ab) in the fixed tree ((0,1),(2,3)),((4,5),(6,7)). var = M2 / n.
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
		float r;

		for (size_t s = 0; s < steps; s++) {
			float c = (float)(s + 1);
			for (size_t l = 0; l < NB_LANES; l++) {
				float v = nb_ldf(t, x, s * NB_LANES + l);
				float delta = v - mean[l];
				mean[l] += delta / c;
				m2[l] += delta * (v - mean[l]);
			}
		}
		for (size_t l = 0; l < rem; l++) {
			float v = nb_ldf(t, x, steps * NB_LANES + l);
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
		if (!(fabsf(w[0].mean) <= FLT_MAX) || !nb_ln_r_f(p, w[0].m2, &r)) {
			nb_portable_fwd_row_scaled(p, i);
			continue;
		}
		nb_ln_write_f(p, t, x, y, w[0].mean, r);
	}
}

/* ---- FlashNorm's r ---- */

float nb_portable_rms_r_f32(const struct nb_problem *p, const void *x_row)
{
	struct nb_rms_shape sh = { .n = p->n, .nstat = p->n, .div = p->n, .crms = false };
	float r;
	int se;

	double rs;

	if (nb_rms_r_f(NB_DTYPE_F32, x_row, &sh, &p->conv, &r))
		return r;
	rs = nb_portable_rms_r_scaled(NB_DTYPE_F32, x_row, p->n, &p->conv, &se);
	return (float)ldexp(rs, se);
}

double nb_portable_rms_r_f64(const struct nb_problem *p, const void *x_row)
{
	struct nb_rms_shape sh = { .n = p->n, .nstat = p->n, .div = p->n, .crms = false };
	double r;
	int se;

	double rs;

	if (nb_rms_r_d(NB_DTYPE_F64, x_row, &sh, &p->conv, &r))
		return r;
	rs = nb_portable_rms_r_scaled(NB_DTYPE_F64, x_row, p->n, &p->conv, &se);
	return ldexp(rs, se);
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
