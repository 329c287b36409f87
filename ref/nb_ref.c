/* The long-double references (oracles) of LayerNorm, RMSNorm, pRMSNorm and
 * CRMSNorm, forward and backward, and of FlashNorm (RMSNorm, then the
 * unfolded linear layer). Every sum is compensated (ref/nb_ref_sum.h). */
#include "ref/nb_ref.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "ref/nb_ref_sum.h"

_Static_assert(LDBL_MANT_DIG >= 64,
	       "ref/ needs a long double with at least a 64-bit significand");

/*
 * Range: no power-of-two scaling is needed. The largest finite input of any
 * dtype is DBL_MAX < 2^1024, so a square is < 2^2048 and a sum of at most
 * 2^34 squares (nb_problem_check's limit) < 2^2082; the smallest nonzero
 * input, 2^-1074, squares to 2^-2148. Long double spans 2^-16382 (normal)
 * to 2^16384, so sums of squares neither overflow nor underflow; r lies in
 * (2^-1042, 2^1092), the backward's r^3 below 2^3276, and every product of
 * the backward (kappa * sum dy*g*c * w) below 2^6400. Every finite input
 * therefore gets a finite, accurate result; only the working dtypes need
 * care near their limits.
 *
 * Accuracy of one row (u = 2^-64, Sum2 bound of nb_ref_sum.h): the mean
 * square is within ~3u of exact (squares, sum, division), r within ~4u,
 * y = g*(x*r) + b within ~6u of |g*xhat| plus u|y|; LayerNorm's centring
 * adds ~2u relative (see nb_ref_row_stats), whatever |mean|/sigma.
 */

/* One row's statistics. */
struct nb_ref_row {
	long double mean;  /* LayerNorm: the row mean; 0 for the others */
	long double s;     /* CRMSNorm: sum x' (the dropped element is -s) */
	long double ms;    /* what the scale comes from (LayerNorm: variance) */
	long double sigma; /* sqrt(ms) */
	long double r;     /* 1/sqrt(ms + eps) or 1/(sqrt(ms) + eps) */
	long double denom; /* ms = (sum of squares) / denom: n, k or d */
	bool finite;       /* every stored x of the row is finite */
};

static bool nb_ref_is_norm(enum nb_variant v)
{
	return v == NB_VARIANT_LAYERNORM || v == NB_VARIANT_RMSNORM ||
	       v == NB_VARIANT_PRMSNORM || v == NB_VARIANT_CRMSNORM;
}

/* The sizes nb_problem_check fills: refuse a problem that has not passed it
 * rather than read out of bounds. */
static enum nb_status nb_ref_check_sizes(const struct nb_problem *p,
					 const char *who)
{
	size_t n_want;

	if (!p)
		return nb_fail(NB_ERR_INVALID, "%s: no problem given", who);
	n_want = nb_variant_stored(p->variant, p->d);
	if ((unsigned)p->dtype >= NB_DTYPE_COUNT || p->rows == 0 || p->d == 0 ||
	    p->n == 0 || p->n != n_want || p->k == 0 || p->k > p->n ||
	    !p->x || !p->gain)
		return nb_fail(NB_ERR_INVALID,
			       "%s: the problem has not passed nb_problem_check", who);
	return NB_OK;
}

static void nb_ref_load_vec(enum nb_dtype t, const void *buf, size_t offset,
			    size_t n, long double *out)
{
	for (size_t j = 0; j < n; j++)
		out[j] = nb_ref_load(t, buf, offset + j);
}

static void nb_ref_fill_nan(long double *out, size_t n)
{
	for (size_t j = 0; j < n; j++)
		out[j] = (long double)NAN;
}

/*
 * Statistics of the row x (n stored elements) and c, the input the scale
 * multiplies: x - mean for LayerNorm, x itself for the others.
 *
 * LayerNorm centres with the mean carried in two parts, so neither the
 * mean's own rounding (~u|mean|, an absolute error in every c_j that
 * matters when |mean| >> sigma) nor the rounding of x_j - mu leaks into c:
 * mu = sum(x)/n (compensated), x_j - mu = t_j + e_j exactly (TwoSum), the
 * correction delta = sum(t_j + e_j)/n (compensated: the part of the mean
 * mu could not represent), and c_j = (t_j - delta) + e_j, within
 * 2u|c_j| + 2u^2|mean| of x_j - mean. The mean reported is mu + delta
 * (within ~u|mean|). The variance is then the second pass sum(c^2)/n,
 * never E[x^2] - mu^2.
 */
static void nb_ref_row_stats(const struct nb_problem *p, const long double *x,
			     long double *c, struct nb_ref_row *st)
{
	size_t n = p->n;
	long double eps = (long double)p->conv.eps;
	struct nb_ref_sum sq = NB_REF_SUM_ZERO;

	st->mean = 0.0L;
	st->s = 0.0L;
	st->finite = true;
	for (size_t j = 0; j < n; j++)
		if (!isfinite(x[j]))
			st->finite = false;
	if (!st->finite) {
		st->mean = st->s = st->ms = st->sigma = st->r = (long double)NAN;
		st->denom = (long double)n;
		nb_ref_fill_nan(c, n);
		return;
	}

	switch (p->variant) {
	case NB_VARIANT_LAYERNORM: {
		struct nb_ref_sum sx = NB_REF_SUM_ZERO, sr = NB_REF_SUM_ZERO;
		long double mu, delta, t, e;

		for (size_t j = 0; j < n; j++)
			nb_ref_sum_add(&sx, x[j]);
		mu = nb_ref_sum_value(&sx) / (long double)n;
		for (size_t j = 0; j < n; j++) {
			nb_ref_two_sum(x[j], -mu, &t, &e);
			nb_ref_sum_add(&sr, t);
			nb_ref_sum_add(&sr, e);
		}
		delta = nb_ref_sum_value(&sr) / (long double)n;
		for (size_t j = 0; j < n; j++) {
			nb_ref_two_sum(x[j], -mu, &t, &e);
			c[j] = (t - delta) + e;
			nb_ref_sum_add(&sq, c[j] * c[j]);
		}
		st->mean = mu + delta;
		st->denom = (long double)n;
		break;
	}
	case NB_VARIANT_CRMSNORM: {
		/* x = [x', -s]: sum x^2 = sum x'^2 + s^2, divided by d */
		struct nb_ref_sum sx = NB_REF_SUM_ZERO;

		for (size_t j = 0; j < n; j++) {
			c[j] = x[j];
			nb_ref_sum_add(&sx, x[j]);
			nb_ref_sum_add(&sq, x[j] * x[j]);
		}
		st->s = nb_ref_sum_value(&sx);
		nb_ref_sum_add(&sq, st->s * st->s);
		st->denom = (long double)p->d;
		break;
	}
	case NB_VARIANT_PRMSNORM:
		for (size_t j = 0; j < n; j++)
			c[j] = x[j];
		for (size_t j = 0; j < p->k; j++)
			nb_ref_sum_add(&sq, x[j] * x[j]);
		st->denom = (long double)p->k;
		break;
	case NB_VARIANT_RMSNORM:
	case NB_VARIANT_FLASHNORM:
	case NB_VARIANT_COUNT:
		for (size_t j = 0; j < n; j++) {
			c[j] = x[j];
			nb_ref_sum_add(&sq, x[j] * x[j]);
		}
		st->denom = (long double)n;
		break;
	}
	st->ms = nb_ref_sum_value(&sq) / st->denom;
	st->sigma = sqrtl(st->ms);
	st->r = p->conv.eps_mode == NB_EPS_OUTSIDE
		? 1.0L / (st->sigma + eps)
		: 1.0L / sqrtl(st->ms + eps);
}

/*
 * Forward, one pass per row over loaded long doubles: y_j = g_j*(c_j*r)
 * (+ b_j), c as in nb_ref_row_stats. A row with a NaN or Inf among its n
 * stored elements gives NaN for all its outputs, r and mean (a plain
 * computation would give a mix of NaN and 0).
 */
enum nb_status nb_ref_forward(const struct nb_problem *p, long double *y,
			      long double *row_r, long double *row_mean)
{
	enum nb_status st = nb_ref_check_sizes(p, "nb_ref_forward");
	long double *buf, *gain, *bias, *x, *c;
	size_t n;

	if (st != NB_OK)
		return st;
	if (!nb_ref_is_norm(p->variant))
		return nb_fail(NB_ERR_INVALID,
			       "nb_ref_forward: no plain forward for %s "
			       "(FlashNorm: nb_ref_flashnorm)", nb_variant_name(p->variant));
	if (!y)
		return nb_fail(NB_ERR_INVALID, "nb_ref_forward: y must not be NULL");
	n = p->n;
	buf = malloc(4 * n * sizeof(*buf));
	if (!buf)
		return nb_fail(NB_ERR_NOMEM, "nb_ref_forward: no memory for %zu elements",
			       4 * n);
	gain = buf;
	bias = gain + n;
	x = bias + n;
	c = x + n;

	nb_ref_load_vec(p->dtype, p->gain, 0, n, gain);
	if (p->bias)
		nb_ref_load_vec(p->dtype, p->bias, 0, n, bias);
	for (size_t i = 0; i < p->rows; i++) {
		struct nb_ref_row row;
		long double *yi = y + i * n;

		nb_ref_load_vec(p->dtype, p->x, i * n, n, x);
		nb_ref_row_stats(p, x, c, &row);
		if (!row.finite) {
			nb_ref_fill_nan(yi, n);
		} else if (p->bias) {
			for (size_t j = 0; j < n; j++)
				yi[j] = gain[j] * (c[j] * row.r) + bias[j];
		} else {
			for (size_t j = 0; j < n; j++)
				yi[j] = gain[j] * (c[j] * row.r);
		}
		if (row_r)
			row_r[i] = row.r;
		if (row_mean)
			row_mean[i] = row.mean;
	}
	free(buf);
	return NB_OK;
}

/*
 * Backward: exact derivatives of nb_ref_forward's mathematics.
 *
 * All four variants are y_j = g_j*xhat_j + b_j with xhat_j = c_j*r(ms),
 * where ms = (1/D) sum_{i in R} c_i^2 over the rms set R:
 *   LayerNorm  c = x - mean(x), R = all n, D = n;
 *   RMSNorm    c = x, R = all n, D = n;
 *   pRMSNorm   c = x, R = the first k, D = k (all n outputs use r);
 *   CRMSNorm   c = x' and ms = (sum x'^2 + s^2)/d, s = sum x', D = d.
 * With dyh = dy*g and L the loss, dL/dx_i = sum_j dyh_j d(xhat_j)/dx_i and
 *   d(xhat_j)/dx_i = r dc_j/dx_i + c_j r'(ms) dms/dx_i,
 *   dc_j/dx_i = delta_ij - [LayerNorm] 1/n,
 *   dms/dx_i = (2/D) w_i with w_i = c_i (LayerNorm: the -1/n parts of dc
 *     cancel because sum c = 0), x_i (RMSNorm; pRMSNorm for i < k, 0 for
 *     i >= k), x'_i + s (CRMSNorm: d(s^2)/dx'_i = 2s).
 * So dx_i = r (dyh_i - [LayerNorm] mean(dyh)) - kappa w_i S with
 *   S = sum_{j over all n} dyh_j c_j and kappa = -2 r'(ms)/D.
 *
 * eps inside, r = (ms + eps)^(-1/2): r' = -(1/2)(ms + eps)^(-3/2) = -r^3/2,
 *   kappa = r^3/D; for RMSNorm dx = r (dyh - xhat mean(dyh xhat)) and the
 *   other forms of SPEC §1.
 * eps outside, r = 1/(sigma + eps), sigma = sqrt(ms): dr/dsigma = -r^2 and
 *   dsigma/dms = 1/(2 sigma), so r' = -r^2/(2 sigma) and
 *   kappa = r^2/(sigma D) = (r^3/D) (sigma + eps)/sigma,
 *   i.e. dx = r dyh - (1/sigma) xhat mean_D(dyh xhat) for RMSNorm: the
 *   correction is scaled by 1/sigma instead of r. With eps = 0 both agree.
 *   At sigma = 0 (every w_i = 0: the rms set is all zero) r is not
 *   differentiable for eps outside, but the correction kappa w_i S -> 0 as
 *   x -> 0 except for pRMSNorm's outputs beyond k, where no derivative
 *   exists; we return the limit along w = 0, kappa w S = 0, in both cases.
 *
 * dgain_j = sum_rows dy_j xhat_j, dbias_j = sum_rows dy_j, each one
 * compensated sum over the rows. A row with a non-finite x or dy gets a NaN
 * dx row; its NaN xhat (x) or dy also reaches dgain/dbias, as in the math.
 */
enum nb_status nb_ref_backward(const struct nb_problem *p, long double *dx,
			       long double *dgain, long double *dbias)
{
	enum nb_status st = nb_ref_check_sizes(p, "nb_ref_backward");
	bool outside, ln;
	long double *buf, *gain, *x, *c, *dy, *dyh;
	struct nb_ref_sum *acc_g, *acc_b;
	size_t n;

	if (st != NB_OK)
		return st;
	if (!nb_ref_is_norm(p->variant))
		return nb_fail(NB_ERR_INVALID, "nb_ref_backward: no backward for %s",
			       nb_variant_name(p->variant));
	if (!p->dy || !dx || !dgain)
		return nb_fail(NB_ERR_INVALID,
			       "nb_ref_backward: needs p->dy, dx and dgain");
	n = p->n;
	buf = malloc(5 * n * sizeof(*buf));
	acc_g = malloc(2 * n * sizeof(*acc_g));
	if (!buf || !acc_g) {
		st = nb_fail(NB_ERR_NOMEM, "nb_ref_backward: no memory for %zu elements",
			     9 * n);
		goto free_bufs;
	}
	acc_b = acc_g + n;
	gain = buf;
	x = gain + n;
	c = x + n;
	dy = c + n;
	dyh = dy + n;
	outside = p->conv.eps_mode == NB_EPS_OUTSIDE;
	ln = p->variant == NB_VARIANT_LAYERNORM;

	nb_ref_load_vec(p->dtype, p->gain, 0, n, gain);
	for (size_t j = 0; j < n; j++)
		acc_g[j] = acc_b[j] = NB_REF_SUM_ZERO;

	for (size_t i = 0; i < p->rows; i++) {
		struct nb_ref_row row;
		struct nb_ref_sum ss = NB_REF_SUM_ZERO, sdy = NB_REF_SUM_ZERO;
		long double *dxi = dx + i * n;
		long double mdy = 0.0L, kappa, coef;
		bool finite;

		nb_ref_load_vec(p->dtype, p->x, i * n, n, x);
		nb_ref_load_vec(p->dtype, p->dy, i * n, n, dy);
		nb_ref_row_stats(p, x, c, &row);
		finite = row.finite;
		for (size_t j = 0; j < n; j++) {
			/* c is NaN for a non-finite x row: xhat NaN */
			nb_ref_sum_add(&acc_g[j], dy[j] * (c[j] * row.r));
			nb_ref_sum_add(&acc_b[j], dy[j]);
			if (!isfinite(dy[j]))
				finite = false;
		}
		if (!finite) {
			nb_ref_fill_nan(dxi, n);
			continue;
		}
		for (size_t j = 0; j < n; j++) {
			dyh[j] = dy[j] * gain[j];
			nb_ref_sum_add(&ss, dyh[j] * c[j]);
			nb_ref_sum_add(&sdy, dyh[j]);
		}
		if (ln)
			mdy = nb_ref_sum_value(&sdy) / (long double)n;
		if (!outside)
			kappa = row.r * row.r * row.r / row.denom;
		else if (row.sigma > 0.0L)
			kappa = row.r * row.r / (row.sigma * row.denom);
		else
			kappa = 0.0L;
		coef = kappa * nb_ref_sum_value(&ss);

		switch (p->variant) {
		case NB_VARIANT_CRMSNORM:
			for (size_t j = 0; j < n; j++)
				dxi[j] = row.r * dyh[j] - coef * (c[j] + row.s);
			break;
		case NB_VARIANT_PRMSNORM:
			for (size_t j = 0; j < n; j++)
				dxi[j] = j < p->k ? row.r * dyh[j] - coef * c[j]
						  : row.r * dyh[j];
			break;
		case NB_VARIANT_LAYERNORM:
		case NB_VARIANT_RMSNORM:
		case NB_VARIANT_FLASHNORM:
		case NB_VARIANT_COUNT:
			for (size_t j = 0; j < n; j++)
				dxi[j] = row.r * (dyh[j] - mdy) - coef * c[j];
			break;
		}
	}
	for (size_t j = 0; j < n; j++) {
		dgain[j] = nb_ref_sum_value(&acc_g[j]);
		if (dbias)
			dbias[j] = nb_ref_sum_value(&acc_b[j]);
	}
	st = NB_OK;
free_bufs:
	free(acc_g);
	free(buf);
	return st;
}

/*
 * FlashNorm's reference, unfused: y = g*(x*r) (RMSNorm over all n = d
 * elements, eps per p->conv, no bias, exactly as nb_ref_forward computes
 * RMSNorm), then z_o = sum_j y_j W[j][o] + out_bias_o with the unfolded W,
 * each z_o one compensated sum (the bias is its last addend). W is read row
 * by row (contiguous) into m running sums. A non-finite x row gives a NaN z
 * row. W and out_bias are in p->dtype.
 */
enum nb_status nb_ref_flashnorm(const struct nb_problem *p, long double *z)
{
	enum nb_status st = nb_ref_check_sizes(p, "nb_ref_flashnorm");
	long double *buf = NULL, *gain, *x, *c;
	struct nb_ref_sum *acc = NULL;
	size_t n, m;

	if (st != NB_OK)
		return st;
	if (p->variant != NB_VARIANT_FLASHNORM && p->variant != NB_VARIANT_RMSNORM)
		return nb_fail(NB_ERR_INVALID,
			       "nb_ref_flashnorm: needs a FlashNorm (or RMSNorm) "
			       "problem, not %s", nb_variant_name(p->variant));
	if (!z || !p->w || p->m == 0)
		return nb_fail(NB_ERR_INVALID,
			       "nb_ref_flashnorm: needs z, the unfolded W and m >= 1");
	n = p->n;
	m = p->m;
	buf = malloc(3 * n * sizeof(*buf));
	acc = malloc(m * sizeof(*acc));
	if (!buf || !acc) {
		st = nb_fail(NB_ERR_NOMEM, "nb_ref_flashnorm: no memory for n = %zu, m = %zu",
			     n, m);
		goto free_bufs;
	}
	gain = buf;
	x = gain + n;
	c = x + n;

	nb_ref_load_vec(p->dtype, p->gain, 0, n, gain);
	for (size_t i = 0; i < p->rows; i++) {
		struct nb_ref_row row;
		long double *zi = z + i * m;

		nb_ref_load_vec(p->dtype, p->x, i * n, n, x);
		nb_ref_row_stats(p, x, c, &row);
		if (!row.finite) {
			nb_ref_fill_nan(zi, m);
			continue;
		}
		for (size_t o = 0; o < m; o++)
			acc[o] = NB_REF_SUM_ZERO;
		for (size_t j = 0; j < n; j++) {
			long double yj = gain[j] * (c[j] * row.r);

			for (size_t o = 0; o < m; o++)
				nb_ref_sum_add(&acc[o],
					       yj * nb_ref_load(p->dtype, p->w, j * m + o));
		}
		for (size_t o = 0; o < m; o++) {
			if (p->out_bias)
				nb_ref_sum_add(&acc[o], nb_ref_load(p->dtype, p->out_bias, o));
			zi[o] = nb_ref_sum_value(&acc[o]);
		}
	}
	st = NB_OK;
free_bufs:
	free(acc);
	free(buf);
	return st;
}
