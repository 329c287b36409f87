/* The long-double pre-norm transformer (plain loops, compensated sums) and,
 * beside every value, a first-order running error bound for a working
 * dtype's evaluation of the same arrangement. */
#include "ref/nb_ref_model.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_rng.h"
#include "ref/nb_ref_sum.h"

/*
 * The running error analysis. Every quantity v of the forward pass has a
 * value (long double, the reference) and a bound vb on |v^ - v|, where v^ is
 * what a working dtype computes in the same arrangement (same order of
 * operations up to the order of each sum) and v the exact value. Rules,
 * first order in the unit roundoffs (second-order terms are below 2^-40 of
 * the bound for the sizes used), with u = em->u_arith, gamma_k = ku/(1-ku):
 *
 * - parameters: |p^ - p| <= err(p) + u_param |p| (the transformation's own
 *   rounding, then one rounding to storage);
 * - a sum of k terms in any order (so blocked BLAS and SIMD sums too, and
 *   compensated sums, whose error is far smaller): gamma_k sum |terms|;
 *   a dot product of k products: gamma_k sum |x_i w_i| (products included);
 * - an operation on inexact inputs: |df/dx| times the input bounds (the
 *   derivative taken at the reference values), plus its own rounding;
 * - libm calls (exp, erf; sqrt is exact-rounded): 2u relative (1 ulp);
 * - every activation written to memory: u_store |v| more (bf16 storage).
 *
 * The rule of each step is written next to it. The bound is worst case and
 * componentwise, so it is loose (typically 10^2 - 10^3 times the observed
 * error); it is what the dtype's rounding can explain, not a fitted
 * tolerance.
 */

#define NB_LD_U (LDBL_EPSILON / 2.0L)

static const struct nb_ref_errmodel nb_em_exact = { 0.0L, 0.0L, 0.0L, 0.0L };

struct nb_ref_errmodel nb_ref_errmodel_ld(void)
{
	return (struct nb_ref_errmodel){ 0.0L, 0.0L, NB_LD_U, 0.0L };
}

struct nb_ref_errmodel nb_ref_errmodel_dtype(enum nb_dtype t)
{
	switch (t) {
	case NB_DTYPE_F32:
		return (struct nb_ref_errmodel){ 0x1p-24L, 0.0L, 0x1p-24L, 0.0L };
	case NB_DTYPE_F64:
		return (struct nb_ref_errmodel){ 0x1p-53L, 0.0L, 0x1p-53L, 0.0L };
	case NB_DTYPE_F16:
		return (struct nb_ref_errmodel){ 0x1p-11L, 0x1p-11L, 0x1p-24L, 0.0L };
	case NB_DTYPE_BF16:
		return (struct nb_ref_errmodel){ 0x1p-8L, 0x1p-8L, 0x1p-24L, 0.0L };
	case NB_DTYPE_COUNT:
		break;
	}
	return nb_em_exact;
}

long double nb_ref_gamma(const struct nb_ref_errmodel *em, size_t k)
{
	long double ku = (long double)k * em->u_arith;

	/* Higham & Mary (SIAM J. Sci. Comput. 41(5), 2019): with independent
	 * zero-mean rounding errors a k-term sum's error is a sum of k terms
	 * delta_i s_i (|delta_i| <= u, s_i partial sums), whose standard
	 * deviation is below sqrt(k) u sum|terms| */
	if (em->lambda > 0.0L)
		return sqrtl((long double)k) * em->u_arith;
	return ku < 0.5L ? ku / (1.0L - ku) : INFINITY;
}

static long double nb_g(const struct nb_ref_errmodel *em, size_t k)
{
	return nb_ref_gamma(em, k);
}

/*
 * A propagated sum sum_i e_i |c_i| of input error bounds e_i through
 * coefficients c_i. Worst case (lambda = 0): the sum itself. Probabilistic
 * (lambda > 0): the e_i are standard deviations of independent zero-mean
 * errors (and the weights c_i are independent of them), which add in
 * quadrature: sqrt(sum e_i^2 c_i^2).
 */
struct nb_prop {
	long double abs, sq;
};

#define NB_PROP_ZERO ((struct nb_prop){ 0.0L, 0.0L })

static inline void nb_prop_add(struct nb_prop *p, long double v)
{
	p->abs += v;
	p->sq += v * v;
}

static long double nb_prop_val(const struct nb_ref_errmodel *em, const struct nb_prop *p)
{
	return em->lambda > 0.0L ? sqrtl(p->sq) : p->abs;
}

/*
 * One quantity's bound from its three kinds of error: a, the inputs'
 * errors carried through (correlated among themselves: their own sum is
 * linear); b, the parameters' own errors; c, the operation's rounding.
 * Worst case a + b + c; probabilistic, the three are independent and add in
 * quadrature.
 */
static long double nb_comb(const struct nb_ref_errmodel *em, long double a, long double b,
			   long double c)
{
	return em->lambda > 0.0L ? sqrtl(a * a + b * b + c * c) : a + b + c;
}

/* |p^ - p| for parameter element i. */
static long double nb_pe(const struct nb_ref_errmodel *em, const struct nb_ref_tensor *t,
			 size_t i)
{
	return (t->err ? t->err[i] : 0.0L) + em->u_param * fabsl(t->v[i]);
}

static bool nb_has(const struct nb_ref_tensor *t)
{
	return t && t->v && t->rows * t->cols > 0;
}

/* ---- shapes, allocation ---- */

const char *nb_norm_kind_name(enum nb_norm_kind k)
{
	if (k == NB_NORM_NONE)
		return "none";
	return nb_variant_name(nb_norm_variant(k));
}

const char *nb_ffn_kind_name(enum nb_ffn_kind k)
{
	return k == NB_FFN_GELU ? "gelu" : k == NB_FFN_SWIGLU ? "swiglu" : "?";
}

#define NB_MODEL_DIM_MAX ((size_t)1 << 20)

enum nb_status nb_model_shape_check(const struct nb_model_shape *s)
{
	if (!s)
		return nb_fail(NB_ERR_INVALID, "model: no shape given");
	if (s->vocab == 0 || s->max_seq == 0 || s->heads == 0 || s->head_dim == 0 ||
	    s->ffn == 0 || s->layers == 0)
		return nb_fail(NB_ERR_INVALID,
			       "model: vocab, max_seq, heads, head_dim, ffn and layers must be > 0");
	if (s->d < 2)
		return nb_fail(NB_ERR_INVALID, "model: d must be >= 2 (got %zu)", s->d);
	if (s->vocab > NB_MODEL_DIM_MAX || s->max_seq > NB_MODEL_DIM_MAX ||
	    s->d > NB_MODEL_DIM_MAX || s->heads > 4096 || s->head_dim > 4096 ||
	    s->ffn > NB_MODEL_DIM_MAX || s->layers > 4096)
		return nb_fail(NB_ERR_INVALID, "model: a dimension is absurdly large");
	if (!(s->eps >= 0.0) || !isfinite(s->eps))
		return nb_fail(NB_ERR_INVALID, "model: eps must be finite and >= 0");
	if ((unsigned)s->ffn_kind >= NB_FFN_COUNT)
		return nb_fail(NB_ERR_INVALID, "model: unknown FFN kind %d", (int)s->ffn_kind);
	return NB_OK;
}

size_t nb_ref_model_tensors(const struct nb_ref_model *m, const struct nb_ref_tensor **list)
{
	size_t c = 0;

	list[c++] = &m->tok;
	list[c++] = &m->pos;
	for (size_t l = 0; l < m->shape.layers; l++) {
		const struct nb_ref_layer *y = &m->layer[l];
		list[c++] = &y->norm1_g;
		list[c++] = &y->norm1_b;
		list[c++] = &y->wq;
		list[c++] = &y->wk;
		list[c++] = &y->wv;
		list[c++] = &y->bq;
		list[c++] = &y->bk;
		list[c++] = &y->bv;
		list[c++] = &y->wo;
		list[c++] = &y->bo;
		list[c++] = &y->norm2_g;
		list[c++] = &y->norm2_b;
		list[c++] = &y->w1;
		list[c++] = &y->b1;
		list[c++] = &y->w3;
		list[c++] = &y->b3;
		list[c++] = &y->w2;
		list[c++] = &y->b2;
	}
	list[c++] = &m->normf_g;
	list[c++] = &m->normf_b;
	list[c++] = &m->head;
	list[c++] = &m->bhead;
	return c;
}

static void nb_set(struct nb_ref_tensor *t, size_t rows, size_t cols)
{
	t->rows = rows;
	t->cols = cols;
}

/* Sizes of every tensor for shape s and stream width n. */
static void nb_ref_model_set_sizes(struct nb_ref_model *m)
{
	const struct nb_model_shape *s = &m->shape;
	size_t n = m->n, a = s->heads * s->head_dim, f = s->ffn;
	bool swiglu = s->ffn_kind == NB_FFN_SWIGLU;

	nb_set(&m->tok, s->vocab, n);
	nb_set(&m->pos, s->max_seq, n);
	for (size_t l = 0; l < s->layers; l++) {
		struct nb_ref_layer *y = &m->layer[l];
		nb_set(&y->norm1_g, 1, n);
		nb_set(&y->norm1_b, 1, n);
		nb_set(&y->wq, n, a);
		nb_set(&y->wk, n, a);
		nb_set(&y->wv, n, a);
		nb_set(&y->bq, 1, a);
		nb_set(&y->bk, 1, a);
		nb_set(&y->bv, 1, a);
		nb_set(&y->wo, a, n);
		nb_set(&y->bo, 1, n);
		nb_set(&y->norm2_g, 1, n);
		nb_set(&y->norm2_b, 1, n);
		nb_set(&y->w1, n, f);
		nb_set(&y->b1, 1, f);
		nb_set(&y->w3, swiglu ? n : 0, swiglu ? f : 0);
		nb_set(&y->b3, swiglu ? 1 : 0, swiglu ? f : 0);
		nb_set(&y->w2, f, n);
		nb_set(&y->b2, 1, n);
	}
	nb_set(&m->normf_g, 1, n);
	nb_set(&m->normf_b, 1, n);
	nb_set(&m->head, n, s->vocab);
	nb_set(&m->bhead, 1, s->vocab);
}

/* Points every tensor into the arenas (sizes already set); returns the
 * total length when the arenas are NULL. */
static size_t nb_ref_model_place(struct nb_ref_model *m)
{
	const struct nb_ref_tensor *list[NB_REF_MODEL_TENSORS(m->shape.layers)];
	size_t count = nb_ref_model_tensors(m, list);
	size_t off = 0;

	for (size_t i = 0; i < count; i++) {
		struct nb_ref_tensor *t = (struct nb_ref_tensor *)list[i];
		size_t len = t->rows * t->cols;
		t->v = m->arena_v && len ? m->arena_v + off : NULL;
		t->err = m->arena_err && len ? m->arena_err + off : NULL;
		off += len;
	}
	return off;
}

enum nb_status nb_ref_model_alloc(const struct nb_model_shape *s, enum nb_norm_kind norm,
				  struct nb_ref_model **out)
{
	enum nb_status st = nb_model_shape_check(s);
	struct nb_ref_model *m;

	*out = NULL;
	if (st != NB_OK)
		return st;
	if ((unsigned)norm >= NB_NORM_COUNT)
		return nb_fail(NB_ERR_INVALID, "model: unknown norm kind %d", (int)norm);
	if (s->layers > 64)
		return nb_fail(NB_ERR_INVALID, "long-double model: at most 64 layers");
	m = calloc(1, sizeof(*m));
	if (!m)
		goto fail_nomem;
	m->shape = *s;
	m->norm = norm;
	m->n = nb_norm_stored(norm, s->d);
	m->layer = calloc(s->layers, sizeof(*m->layer));
	if (!m->layer)
		goto fail_model;
	nb_ref_model_set_sizes(m);
	m->arena_len = nb_ref_model_place(m);
	m->arena_v = calloc(m->arena_len, sizeof(long double));
	m->arena_err = calloc(m->arena_len, sizeof(long double));
	if (!m->arena_v || !m->arena_err)
		goto fail_arenas;
	nb_ref_model_place(m);
	*out = m;
	return NB_OK;

fail_arenas:
	free(m->arena_v);
	free(m->arena_err);
	free(m->layer);
fail_model:
	free(m);
fail_nomem:
	return nb_fail(NB_ERR_NOMEM, "no memory for a long-double model");
}

void nb_ref_model_free(struct nb_ref_model *m)
{
	if (!m)
		return;
	free(m->arena_v);
	free(m->arena_err);
	free(m->layer);
	free(m);
}

enum nb_status nb_ref_model_clone(const struct nb_ref_model *src, struct nb_ref_model **out)
{
	enum nb_status st = nb_ref_model_alloc(&src->shape, src->norm, out);

	if (st != NB_OK)
		return st;
	(*out)->flash_scale_after_act = src->flash_scale_after_act;
	memcpy((*out)->arena_v, src->arena_v, src->arena_len * sizeof(long double));
	memcpy((*out)->arena_err, src->arena_err, src->arena_len * sizeof(long double));
	return NB_OK;
}

enum nb_status nb_ref_tensor_alloc(size_t rows, size_t cols, struct nb_ref_tensor *t)
{
	size_t len = rows * cols;

	t->rows = rows;
	t->cols = cols;
	t->v = calloc(len ? len : 1, sizeof(long double));
	t->err = calloc(len ? len : 1, sizeof(long double));
	if (!t->v || !t->err) {
		nb_ref_tensor_free(t);
		return nb_fail(NB_ERR_NOMEM, "no memory for a %zu x %zu tensor", rows, cols);
	}
	return NB_OK;
}

void nb_ref_tensor_free(struct nb_ref_tensor *t)
{
	if (!t)
		return;
	free(t->v);
	free(t->err);
	t->v = NULL;
	t->err = NULL;
}

/* ---- random models ---- */

static void nb_fill_normal(struct nb_rng *rng, struct nb_ref_tensor *t, long double scale)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		t->v[i] = scale * (long double)nb_rng_normal(rng);
}

/* Adds one N(0, scale^2) offset per row (a common shift of the row). */
static void nb_add_row_offsets(struct nb_rng *rng, struct nb_ref_tensor *t, long double scale)
{
	for (size_t r = 0; r < t->rows; r++) {
		long double o = scale * (long double)nb_rng_normal(rng);
		for (size_t c = 0; c < t->cols; c++)
			t->v[r * t->cols + c] += o;
	}
}

static void nb_fill_gain(struct nb_rng *rng, struct nb_ref_tensor *t)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		t->v[i] = 0.5L + (long double)nb_rng_uniform(rng);
}

enum nb_status nb_ref_model_random(const struct nb_model_shape *s, enum nb_norm_kind norm,
				   uint64_t seed, struct nb_ref_model **out)
{
	enum nb_status st = nb_ref_model_alloc(s, norm, out);
	struct nb_ref_model *m;
	struct nb_rng rng;
	long double a, n, f;

	if (st != NB_OK)
		return st;
	m = *out;
	nb_rng_seed(&rng, seed);
	a = (long double)(s->heads * s->head_dim);
	n = (long double)m->n;
	f = (long double)s->ffn;
	/* the stream's rms is well above 1, as in real models (and it makes
	 * the FlashNorm control's wrong scale visible) */
	nb_fill_normal(&rng, &m->tok, 3.0L);
	nb_add_row_offsets(&rng, &m->tok, 3.0L);
	nb_fill_normal(&rng, &m->pos, 1.5L);
	nb_add_row_offsets(&rng, &m->pos, 1.5L);
	for (size_t l = 0; l < s->layers; l++) {
		struct nb_ref_layer *y = &m->layer[l];
		nb_fill_gain(&rng, &y->norm1_g);
		nb_fill_normal(&rng, &y->norm1_b, 0.2L);
		nb_fill_normal(&rng, &y->wq, 1.0L / sqrtl(n));
		nb_fill_normal(&rng, &y->wk, 1.0L / sqrtl(n));
		nb_fill_normal(&rng, &y->wv, 1.0L / sqrtl(n));
		nb_fill_normal(&rng, &y->bq, 0.1L);
		nb_fill_normal(&rng, &y->bk, 0.1L);
		nb_fill_normal(&rng, &y->bv, 0.1L);
		/* a writer: a per-row (per input) offset gives every output
		 * of the branch a common, input-dependent shift */
		nb_fill_normal(&rng, &y->wo, 1.0L / sqrtl(a));
		nb_add_row_offsets(&rng, &y->wo, 0.5L / sqrtl(a));
		nb_fill_normal(&rng, &y->bo, 0.1L);
		nb_add_row_offsets(&rng, &y->bo, 0.3L);
		nb_fill_gain(&rng, &y->norm2_g);
		nb_fill_normal(&rng, &y->norm2_b, 0.2L);
		nb_fill_normal(&rng, &y->w1, 1.0L / sqrtl(n));
		nb_fill_normal(&rng, &y->b1, 0.1L);
		if (s->ffn_kind == NB_FFN_SWIGLU) {
			nb_fill_normal(&rng, &y->w3, 1.0L / sqrtl(n));
			nb_fill_normal(&rng, &y->b3, 0.1L);
		}
		nb_fill_normal(&rng, &y->w2, 1.0L / sqrtl(f));
		nb_add_row_offsets(&rng, &y->w2, 0.5L / sqrtl(f));
		nb_fill_normal(&rng, &y->b2, 0.1L);
		nb_add_row_offsets(&rng, &y->b2, 0.3L);
	}
	nb_fill_gain(&rng, &m->normf_g);
	nb_fill_normal(&rng, &m->normf_b, 0.2L);
	nb_fill_normal(&rng, &m->head, 1.0L / sqrtl(n));
	nb_fill_normal(&rng, &m->bhead, 0.1L);
	return NB_OK;
}

void nb_ref_model_tokens(const struct nb_model_shape *s, uint64_t seed, uint32_t *tokens,
			 size_t seq)
{
	struct nb_rng rng;

	nb_rng_seed(&rng, seed ^ 0x746f6b656e73ull);
	for (size_t t = 0; t < seq; t++)
		tokens[t] = (uint32_t)nb_rng_below(&rng, s->vocab);
}

/* ---- building blocks: one row each ---- */

/*
 * y = norm(x) for one row, with bounds. Derivatives (r = 1/sqrt(ms + eps)):
 *   RMSNorm  d r/dx_j = -r^3 x_j / n
 *   LayerNorm d((x_i - mu) r)/dx_j = r (delta_ij - 1/n) - (x_i - mu) r^3 (x_j - mu) / n
 *   CRMSNorm d r/dx'_j = -r^3 (x'_j + s) / d, s = sum x'
 * Rounding of r (relative): RMSNorm squares, an n-term sum, /n, +eps:
 * gamma_{n+2} on ms, half of it through the root, plus sqrt and the
 * reciprocal: <= gamma_{n+4}. LayerNorm: the mean costs gamma_{n+1} mean|x|
 * absolute in each x - mu (which cancels in the variance to first order,
 * sum (x - mu) = 0), the variance gamma_{n+1} + 2u: r within gamma_{n+6}.
 * The output g * x * r (+ b): two products and the add.
 */
static void nb_norm_row(enum nb_norm_kind kind, size_t n, long double eps,
			const long double *x, const long double *xb,
			const struct nb_ref_tensor *g, const struct nb_ref_tensor *b,
			const struct nb_ref_errmodel *em, long double *y, long double *yb)
{
	long double u = em->u_arith, us = em->u_store;
	struct nb_ref_sum acc = NB_REF_SUM_ZERO, acc2 = NB_REF_SUM_ZERO;
	bool bias = nb_has(b);

	if (kind == NB_NORM_LAYERNORM) {
		long double mu, var, r, s2, mb, ma = 0.0L, th;
		struct nb_prop ps2 = NB_PROP_ZERO, pmb = NB_PROP_ZERO;
		for (size_t i = 0; i < n; i++)
			nb_ref_sum_add(&acc, x[i]);
		mu = nb_ref_sum_value(&acc) / (long double)n;
		for (size_t i = 0; i < n; i++) {
			long double c = x[i] - mu;
			nb_ref_sum_add(&acc2, c * c);
			nb_prop_add(&ps2, fabsl(c) * xb[i]);
			nb_prop_add(&pmb, xb[i]);
			ma += fabsl(x[i]);
		}
		var = nb_ref_sum_value(&acc2) / (long double)n;
		r = 1.0L / sqrtl(var + eps);
		s2 = nb_prop_val(em, &ps2);
		mb = nb_prop_val(em, &pmb) / (long double)n;
		ma /= (long double)n;
		th = nb_g(em, n + 6);
		for (size_t i = 0; i < n; i++) {
			long double c = x[i] - mu, gi = g->v[i];
			long double bi = bias ? b->v[i] : 0.0L;
			long double v = gi * c * r + bi;
			y[i] = v;
			yb[i] = nb_comb(em,
				fabsl(gi) * r * (xb[i] + mb + fabsl(c) * r * r * s2 / (long double)n),
				fabsl(c) * r * nb_pe(em, g, i) + (bias ? nb_pe(em, b, i) : 0.0L),
				fabsl(gi) * r * (nb_g(em, n + 1) * ma + u * fabsl(c))
				+ fabsl(gi * c * r) * (th + 2.0L * u)
				+ (bias ? u : 0.0L) * fabsl(v) + us * fabsl(v));
		}
		return;
	}
	if (kind == NB_NORM_CRMSNORM) {
		/* x' has n elements of a d = n + 1 wide zero-mean vector */
		long double d = (long double)(n + 1), s, q, ms, r, s3, sa = 0.0L, dms, th;
		struct nb_prop ps3 = NB_PROP_ZERO;
		for (size_t i = 0; i < n; i++) {
			nb_ref_sum_add(&acc, x[i]);
			nb_ref_sum_add(&acc2, x[i] * x[i]);
			sa += fabsl(x[i]);
		}
		s = nb_ref_sum_value(&acc);
		q = nb_ref_sum_value(&acc2);
		ms = (q + s * s) / d;
		r = 1.0L / sqrtl(ms + eps);
		for (size_t i = 0; i < n; i++)
			nb_prop_add(&ps3, fabsl(x[i] + s) * xb[i]);
		s3 = nb_prop_val(em, &ps3);
		/* q: gamma_n q; s: gamma_n sum|x'| absolute, so s^2 within
		 * 2|s| gamma_n sum|x'| + u s^2; the add, /d and +eps: 3u */
		dms = (nb_g(em, n + 3) * (q + s * s) + 2.0L * fabsl(s) * nb_g(em, n) * sa) / d;
		th = 0.5L * dms / (ms + eps) + 3.0L * u;
		for (size_t i = 0; i < n; i++) {
			long double gi = g->v[i], bi = bias ? b->v[i] : 0.0L;
			long double v = gi * x[i] * r + bi;
			y[i] = v;
			yb[i] = nb_comb(em, fabsl(gi) * r * (xb[i] + fabsl(x[i]) * r * r * s3 / d),
				fabsl(x[i]) * r * nb_pe(em, g, i) + (bias ? nb_pe(em, b, i) : 0.0L),
				fabsl(gi * x[i] * r) * (th + 2.0L * u)
				+ (bias ? u : 0.0L) * fabsl(v) + us * fabsl(v));
		}
		return;
	}
	/* RMSNorm */
	{
		long double ms, r, s1, th;
		struct nb_prop ps1 = NB_PROP_ZERO;
		for (size_t i = 0; i < n; i++) {
			nb_ref_sum_add(&acc, x[i] * x[i]);
			nb_prop_add(&ps1, fabsl(x[i]) * xb[i]);
		}
		s1 = nb_prop_val(em, &ps1);
		ms = nb_ref_sum_value(&acc) / (long double)n;
		r = 1.0L / sqrtl(ms + eps);
		th = nb_g(em, n + 4);
		for (size_t i = 0; i < n; i++) {
			long double gi = g->v[i], bi = bias ? b->v[i] : 0.0L;
			long double v = gi * x[i] * r + bi;
			y[i] = v;
			yb[i] = nb_comb(em,
				fabsl(gi) * r * (xb[i] + fabsl(x[i]) * r * r * s1 / (long double)n),
				fabsl(x[i]) * r * nb_pe(em, g, i) + (bias ? nb_pe(em, b, i) : 0.0L),
				fabsl(gi * x[i] * r) * (th + 2.0L * u)
				+ (bias ? u : 0.0L) * fabsl(v) + us * fabsl(v));
		}
	}
}

/*
 * Scratch for one row of a product with m outputs: the compensated
 * accumulators and the three magnitude sums of the bound.
 */
struct nb_lin_scratch {
	struct nb_ref_sum *acc;   /* m */
	long double *abs_xw;      /* sum_i |x_i W_ij| */
	long double *xb_w;        /* sum_i xb_i |W_ij| (propagated, nb_prop_val) */
	long double *x_we;        /* sum_i |x_i| (W's error)_ij (propagated) */
	long double *xb_w2, *x_we2; /* the sums of squares of the same terms */
};

static enum nb_status nb_lin_scratch_alloc(struct nb_lin_scratch *s, size_t m)
{
	s->acc = malloc(m * sizeof(*s->acc));
	s->abs_xw = malloc(5 * m * sizeof(long double));
	if (!s->acc || !s->abs_xw) {
		free(s->acc);
		free(s->abs_xw);
		return nb_fail(NB_ERR_NOMEM, "no memory for a product's scratch");
	}
	s->xb_w = s->abs_xw + m;
	s->x_we = s->abs_xw + 2 * m;
	s->xb_w2 = s->abs_xw + 3 * m;
	s->x_we2 = s->abs_xw + 4 * m;
	return NB_OK;
}

static void nb_lin_scratch_free(struct nb_lin_scratch *s)
{
	free(s->acc);
	free(s->abs_xw);
}

/* The dot products t_j = x . W_j of one row and their magnitude sums. */
static void nb_dot_row(const long double *x, const long double *xb,
		       const struct nb_ref_tensor *w, const struct nb_ref_errmodel *em,
		       struct nb_lin_scratch *s)
{
	size_t n = w->rows, m = w->cols;

	for (size_t j = 0; j < m; j++) {
		s->acc[j] = NB_REF_SUM_ZERO;
		s->abs_xw[j] = s->xb_w[j] = s->x_we[j] = s->xb_w2[j] = s->x_we2[j] = 0.0L;
	}
	for (size_t i = 0; i < n; i++) {
		const long double *wr = w->v + i * m;
		long double xi = x[i], axi = fabsl(xi), xbi = xb[i];
		for (size_t j = 0; j < m; j++) {
			nb_ref_sum_add(&s->acc[j], xi * wr[j]);
			s->abs_xw[j] += fabsl(xi * wr[j]);
			long double p = xbi * fabsl(wr[j]), q = axi * nb_pe(em, w, i * m + j);
			s->xb_w[j] += p;
			s->x_we[j] += q;
			s->xb_w2[j] += p * p;
			s->x_we2[j] += q * q;
		}
	}
	for (size_t j = 0; j < m; j++) {
		struct nb_prop a = { s->xb_w[j], s->xb_w2[j] }, b = { s->x_we[j], s->x_we2[j] };
		s->xb_w[j] = nb_prop_val(em, &a);
		s->x_we[j] = nb_prop_val(em, &b);
	}
}

/*
 * y = x . W + b, per output j: the inputs' bounds through |W|, W's own
 * error through |x|, b's error, then the rounding of the n-term dot and the
 * bias add, gamma_{n+1} (sum |x_i W_ij| + |b_j|) (gamma_n without a bias),
 * and the store.
 */
static void nb_linear_row(const long double *x, const long double *xb,
			  const struct nb_ref_tensor *w, const struct nb_ref_tensor *b,
			  const struct nb_ref_errmodel *em, struct nb_lin_scratch *s,
			  long double *y, long double *yb)
{
	size_t n = w->rows, m = w->cols;
	bool bias = nb_has(b);

	nb_dot_row(x, xb, w, em, s);
	for (size_t j = 0; j < m; j++) {
		long double bj = bias ? b->v[j] : 0.0L;
		long double v = nb_ref_sum_value(&s->acc[j]) + bj;
		y[j] = v;
		yb[j] = nb_comb(em, s->xb_w[j], s->x_we[j] + (bias ? nb_pe(em, b, j) : 0.0L),
				nb_g(em, bias ? n + 1 : n) * (s->abs_xw[j] + fabsl(bj))
				+ em->u_store * fabsl(v));
	}
}

/* The scale of a FlashNorm row: r = 1/sqrt(mean(x^2) + eps) (mean_fold
 * false) or 1/sqrt(var(x) + eps) with the mean (mean_fold true); s = the
 * derivative's magnitude sum, sum |x_k - mu| xb_k; ma = mean |x|. */
struct nb_flash_row {
	long double r, mu, s, ma, mb;
};

static struct nb_flash_row nb_flash_stats(size_t n, long double eps, bool mean_fold,
					  const long double *x, const long double *xb,
					  const struct nb_ref_errmodel *em)
{
	struct nb_ref_sum acc = NB_REF_SUM_ZERO, acc2 = NB_REF_SUM_ZERO;
	struct nb_flash_row st = { 0.0L, 0.0L, 0.0L, 0.0L, 0.0L };
	struct nb_prop ps = NB_PROP_ZERO, pmb = NB_PROP_ZERO;

	if (mean_fold) {
		for (size_t i = 0; i < n; i++)
			nb_ref_sum_add(&acc, x[i]);
		st.mu = nb_ref_sum_value(&acc) / (long double)n;
	}
	for (size_t i = 0; i < n; i++) {
		long double c = x[i] - st.mu;
		nb_ref_sum_add(&acc2, c * c);
		nb_prop_add(&ps, fabsl(c) * xb[i]);
		nb_prop_add(&pmb, xb[i]);
		st.ma += fabsl(x[i]);
	}
	st.s = nb_prop_val(em, &ps);
	st.ma /= (long double)n;
	st.mb = nb_prop_val(em, &pmb) / (long double)n;
	st.r = 1.0L / sqrtl(nb_ref_sum_value(&acc2) / (long double)n + eps);
	return st;
}

/*
 * FlashNorm reader, one row: y_j = r t_j + b_j, t_j = x . W*_j. Bound:
 * d y_j / d x_k = r W*_kj - r^3 x_k t_j / n, so r sum xb|W*| +
 * r^3 |t_j| sum |x| xb / n; W*'s error times r|x|; rounding r gamma_n
 * sum|x W*| (the product), |r t_j| (gamma_{n+4} + u) (the scale and its
 * multiply), u|y| (the bias), the store.
 *
 * With mean_fold (E5, LayerNorm folded): y_j = r (t_j - mu c_j) + b_j with
 * c = 1^T W*; d/dx_k of r (x - mu) . W*_j = r (W*_kj - c_j/n) -
 * r^3 (x_k - mu) ((x - mu) . W*_j) / n. Rounding: the product r gamma_n
 * sum|x W*|, which is the cancellation of claim E5 (|x| ~ |mu| while the
 * result is ~ sigma), the mean r gamma_{n+1} mean|x| |c_j|, mu c_j and the
 * subtraction u each, the scale from the variance gamma_{n+6}, bias, store.
 * colsum NULL (the control) drops the mean term.
 */
static void nb_flash_row(size_t n, long double eps, bool mean_fold,
			 const long double *x, const long double *xb,
			 const struct nb_ref_tensor *w, const struct nb_ref_tensor *colsum,
			 const struct nb_ref_tensor *b, const struct nb_ref_errmodel *em,
			 struct nb_lin_scratch *s, long double *y, long double *yb)
{
	size_t m = w->cols;
	long double u = em->u_arith, us = em->u_store;
	struct nb_flash_row st = nb_flash_stats(n, eps, mean_fold, x, xb, em);
	long double r = st.r, th = nb_g(em, mean_fold ? n + 6 : n + 4);
	bool bias = nb_has(b), fold = mean_fold && nb_has(colsum);

	nb_dot_row(x, xb, w, em, s);
	for (size_t j = 0; j < m; j++) {
		long double t = nb_ref_sum_value(&s->acc[j]);
		long double bj = bias ? b->v[j] : 0.0L, v, e, sens, par = 0.0L;
		if (fold) {
			long double cj = colsum->v[j], tc = t - st.mu * cj;
			long double sw;
			struct nb_prop psw = NB_PROP_ZERO;
			for (size_t k = 0; k < n; k++)
				nb_prop_add(&psw, xb[k] * fabsl(w->v[k * m + j] - cj / (long double)n));
			sw = nb_prop_val(em, &psw);
			v = r * tc + bj;
			sens = r * sw + r * r * r * fabsl(tc) * st.s / (long double)n;
			par = r * fabsl(st.mu) * nb_pe(em, colsum, j);
			e = r * (nb_g(em, n) * s->abs_xw[j] + nb_g(em, n + 1) * st.ma * fabsl(cj)
				 + u * fabsl(st.mu * cj) + u * fabsl(tc))
				+ fabsl(r * tc) * (th + u);
		} else {
			v = r * t + bj;
			sens = r * s->xb_w[j] + r * r * r * fabsl(t) * st.s / (long double)n;
			e = r * nb_g(em, n) * s->abs_xw[j] + fabsl(r * t) * (th + u);
		}
		y[j] = v;
		yb[j] = nb_comb(em, sens, par + r * s->x_we[j] + (bias ? nb_pe(em, b, j) : 0.0L),
				e + (bias ? u : 0.0L) * fabsl(v) + us * fabsl(v));
	}
}

/* ---- public single-layer blocks ---- */

/*
 * Inside, a probabilistic bound (lambda > 0) is carried as a standard
 * deviation and multiplied by lambda only where it leaves a public function
 * (every bound a caller sees is a bound); a caller's bounds are divided by
 * lambda on the way in, so composing the public stages gives what
 * nb_ref_model_forward gives.
 */
static long double nb_out_scale(const struct nb_ref_errmodel *em)
{
	return em->lambda > 0.0L ? em->lambda : 1.0L;
}

static void nb_scale(long double *v, size_t len, long double f)
{
	if (f != 1.0L)
		for (size_t i = 0; i < len; i++)
			v[i] *= f;
}

/* xb, materialised: the caller's bounds, or u_param |x| (x's rounding to
 * storage) when x is exact. */
static long double *nb_input_bounds(size_t len, const long double *x, const long double *xb,
				    const struct nb_ref_errmodel *em)
{
	long double *b = malloc((len ? len : 1) * sizeof(long double));

	if (!b)
		return NULL;
	for (size_t i = 0; i < len; i++)
		b[i] = xb ? xb[i] / nb_out_scale(em) : em->u_param * fabsl(x[i]);
	return b;
}

/* The bounds of a row-by-row stage: its inputs' (nb_input_bounds) and its
 * outputs', in the caller's yb or a temporary; nb_frame_end scales the
 * output bounds for the caller (nb_out_scale) and frees the rest. */
struct nb_frame {
	long double *xbb, *ybb;
	long double *own;    /* ybb when it is a temporary */
};

static enum nb_status nb_frame_begin(struct nb_frame *f, size_t in_len, size_t out_len,
				     const long double *x, const long double *xb,
				     const struct nb_ref_errmodel *em, long double *yb,
				     const char *what)
{
	f->xbb = nb_input_bounds(in_len, x, xb, em);
	f->ybb = yb ? yb : malloc(out_len * sizeof(long double));
	f->own = yb ? NULL : f->ybb;
	if (!f->xbb || !f->ybb) {
		free(f->xbb);
		free(f->own);
		return nb_fail(NB_ERR_NOMEM, "no memory for %s bounds", what);
	}
	return NB_OK;
}

static void nb_frame_end(struct nb_frame *f, size_t out_len, const struct nb_ref_errmodel *em)
{
	nb_scale(f->ybb, out_len, nb_out_scale(em));
	free(f->xbb);
	free(f->own);
}

enum nb_status nb_ref_norm(enum nb_norm_kind kind, size_t rows, size_t n, double eps,
			   const long double *x, const long double *xb,
			   const struct nb_ref_tensor *g, const struct nb_ref_tensor *b,
			   const struct nb_ref_errmodel *em, long double *y, long double *yb)
{
	struct nb_frame f;
	enum nb_status st;

	if (kind != NB_NORM_LAYERNORM && kind != NB_NORM_RMSNORM && kind != NB_NORM_CRMSNORM)
		return nb_fail(NB_ERR_INVALID, "nb_ref_norm: kind %s is not a norm",
			       nb_norm_kind_name(kind));
	if (!x || !y || !nb_has(g) || g->rows * g->cols != n || n == 0 || rows == 0 ||
	    (nb_has(b) && b->rows * b->cols != n))
		return nb_fail(NB_ERR_INVALID, "nb_ref_norm: inconsistent arguments");
	if (!em)
		em = &nb_em_exact;
	st = nb_frame_begin(&f, rows * n, rows * n, x, xb, em, yb, "norm");
	if (st != NB_OK)
		return st;
	for (size_t r = 0; r < rows; r++)
		nb_norm_row(kind, n, (long double)eps, x + r * n, f.xbb + r * n, g, b, em,
			    y + r * n, f.ybb + r * n);
	nb_frame_end(&f, rows * n, em);
	return NB_OK;
}

enum nb_status nb_ref_linear(size_t rows, const long double *x, const long double *xb,
			     const struct nb_ref_tensor *w, const struct nb_ref_tensor *b,
			     const struct nb_ref_errmodel *em, long double *y, long double *yb)
{
	struct nb_lin_scratch s;
	struct nb_frame f;
	size_t n, m;
	enum nb_status st;

	if (!x || !y || !nb_has(w) || rows == 0 || (nb_has(b) && b->rows * b->cols != w->cols))
		return nb_fail(NB_ERR_INVALID, "nb_ref_linear: inconsistent arguments");
	if (!em)
		em = &nb_em_exact;
	n = w->rows;
	m = w->cols;
	st = nb_lin_scratch_alloc(&s, m);
	if (st != NB_OK)
		return st;
	st = nb_frame_begin(&f, rows * n, rows * m, x, xb, em, yb, "product");
	if (st == NB_OK) {
		for (size_t r = 0; r < rows; r++)
			nb_linear_row(x + r * n, f.xbb + r * n, w, b, em, &s, y + r * m,
				      f.ybb + r * m);
		nb_frame_end(&f, rows * m, em);
	}
	nb_lin_scratch_free(&s);
	return st;
}

enum nb_status nb_ref_flash_linear(size_t rows, double eps, bool mean_fold,
				   const long double *x, const long double *xb,
				   const struct nb_ref_tensor *w, const struct nb_ref_tensor *colsum,
				   const struct nb_ref_tensor *b, const struct nb_ref_errmodel *em,
				   long double *y, long double *yb)
{
	struct nb_lin_scratch s;
	struct nb_frame f;
	size_t n, m;
	enum nb_status st;

	if (!x || !y || !nb_has(w) || rows == 0 || (nb_has(b) && b->rows * b->cols != w->cols) ||
	    (nb_has(colsum) && colsum->rows * colsum->cols != w->cols))
		return nb_fail(NB_ERR_INVALID, "nb_ref_flash_linear: inconsistent arguments");
	if (!em)
		em = &nb_em_exact;
	n = w->rows;
	m = w->cols;
	st = nb_lin_scratch_alloc(&s, m);
	if (st != NB_OK)
		return st;
	st = nb_frame_begin(&f, rows * n, rows * m, x, xb, em, yb, "FlashNorm");
	if (st == NB_OK) {
		for (size_t r = 0; r < rows; r++)
			nb_flash_row(n, (long double)eps, mean_fold, x + r * n, f.xbb + r * n, w,
				     colsum, b, em, &s, y + r * m, f.ybb + r * m);
		nb_frame_end(&f, rows * m, em);
	}
	nb_lin_scratch_free(&s);
	return st;
}

/* ---- the model ---- */

/* Activations of one forward pass (seq rows), values and bounds. */
struct nb_fwd {
	size_t seq, n, a, f;
	long double *h, *hb;      /* seq x n: norm output */
	long double *q, *qb, *k, *kb, *v, *vb; /* seq x a */
	long double *o, *ob;      /* seq x a: attention output */
	long double *y, *yb;      /* seq x n: a branch's output */
	long double *z1, *z1b, *z3, *z3b; /* seq x f */
	long double *p, *pb;      /* seq: one row of probabilities */
	long double *sc, *sb;     /* seq: one row of scores */
	struct nb_lin_scratch ls;
	long double *pool;
};

static void nb_fwd_free(struct nb_fwd *w)
{
	free(w->pool);
	nb_lin_scratch_free(&w->ls);
}

static enum nb_status nb_fwd_alloc(const struct nb_ref_model *m, size_t seq, struct nb_fwd *w)
{
	size_t n = m->n, a = m->shape.heads * m->shape.head_dim, f = m->shape.ffn;
	size_t widest = n > a ? n : a, total;
	long double *p;

	widest = widest > f ? widest : f;
	widest = widest > m->shape.vocab ? widest : m->shape.vocab;
	memset(w, 0, sizeof(*w));
	w->seq = seq;
	w->n = n;
	w->a = a;
	w->f = f;
	if (nb_lin_scratch_alloc(&w->ls, widest) != NB_OK)
		return NB_ERR_NOMEM;
	total = 2 * (2 * seq * n + 4 * seq * a + 2 * seq * f + 2 * seq);
	w->pool = calloc(total, sizeof(long double));
	if (!w->pool) {
		nb_lin_scratch_free(&w->ls);
		return nb_fail(NB_ERR_NOMEM, "no memory for a forward pass");
	}
	p = w->pool;
	w->h = p; p += seq * n;
	w->hb = p; p += seq * n;
	w->y = p; p += seq * n;
	w->yb = p; p += seq * n;
	w->q = p; p += seq * a;
	w->qb = p; p += seq * a;
	w->k = p; p += seq * a;
	w->kb = p; p += seq * a;
	w->v = p; p += seq * a;
	w->vb = p; p += seq * a;
	w->o = p; p += seq * a;
	w->ob = p; p += seq * a;
	w->z1 = p; p += seq * f;
	w->z1b = p; p += seq * f;
	w->z3 = p; p += seq * f;
	w->z3b = p; p += seq * f;
	w->p = p; p += seq;
	w->pb = p; p += seq;
	w->sc = p; p += seq;
	w->sb = p;
	return NB_OK;
}

/* A reader of the stream x (seq x n): the norm's output times W plus b in
 * the model's arrangement (FlashNorm: r (x . W*) + b). The norm output h
 * must already be computed (not used for FlashNorm). */
static void nb_read(const struct nb_ref_model *m, const struct nb_ref_errmodel *em,
		    struct nb_fwd *w, const long double *x, const long double *xb,
		    const struct nb_ref_tensor *wt, const struct nb_ref_tensor *b,
		    long double *out, long double *outb)
{
	size_t n = m->n, cols = wt->cols;

	for (size_t t = 0; t < w->seq; t++) {
		if (m->norm == NB_NORM_FLASHNORM)
			nb_flash_row(n, (long double)m->shape.eps, false, x + t * n, xb + t * n, wt,
				     NULL, b, em, &w->ls, out + t * cols, outb + t * cols);
		else
			nb_linear_row(w->h + t * n, w->hb + t * n, wt, b, em, &w->ls,
				      out + t * cols, outb + t * cols);
	}
}

/* h = norm(x) in the model's arrangement (FlashNorm and none: h = x). */
static void nb_norm_stream(const struct nb_ref_model *m, const struct nb_ref_errmodel *em,
			   struct nb_fwd *w, const long double *x, const long double *xb,
			   const struct nb_ref_tensor *g, const struct nb_ref_tensor *b)
{
	size_t n = m->n;

	if (m->norm == NB_NORM_FLASHNORM || m->norm == NB_NORM_NONE) {
		memcpy(w->h, x, w->seq * n * sizeof(long double));
		memcpy(w->hb, xb, w->seq * n * sizeof(long double));
		return;
	}
	for (size_t t = 0; t < w->seq; t++)
		nb_norm_row(m->norm, n, (long double)m->shape.eps, x + t * n, xb + t * n, g,
			    m->norm == NB_NORM_LAYERNORM ? b : NULL, em, w->h + t * n,
			    w->hb + t * n);
}

/*
 * Causal attention of one head h at query t over keys 0..t. Scores
 * s_j = c q.k_j (c = 1/sqrt(dh), itself rounded: 2u with the product) with
 * bound c sum(qb|k| + |q|kb) + c gamma_dh sum|q k| + 2u|s|; softmax
 * p = exp(s - max)/Z: d p_j / d s_k = p_j (delta_jk - p_k), so
 * p_j (sb_j + sum p_k sb_k); rounding of s_j - max (u|s_j - max| in the
 * exponent), exp (2u), Z (gamma_{t+1} plus the largest exp error) and the
 * division (u). Output o_i = sum p_j v_ji: pb|v| + p vb, gamma_{t+1}
 * sum p|v|, the store.
 */
static void nb_attend(const struct nb_ref_errmodel *em, struct nb_fwd *w, size_t head,
		      size_t dh, size_t t)
{
	size_t a = w->a, off = head * dh;
	long double u = em->u_arith, c = 1.0L / sqrtl((long double)dh);
	long double mx = -INFINITY, dmax = 0.0L, spb = 0.0L;
	const long double *q = w->q + t * a + off, *qb = w->qb + t * a + off;
	long double *p = w->p, *pb = w->pb;
	struct nb_ref_sum z = NB_REF_SUM_ZERO;

	for (size_t j = 0; j <= t; j++) {
		const long double *k = w->k + j * a + off, *kb = w->kb + j * a + off;
		struct nb_ref_sum acc = NB_REF_SUM_ZERO;
		struct nb_prop sens = NB_PROP_ZERO;
		long double mag = 0.0L, s;
		for (size_t i = 0; i < dh; i++) {
			nb_ref_sum_add(&acc, q[i] * k[i]);
			nb_prop_add(&sens, qb[i] * fabsl(k[i]));
			nb_prop_add(&sens, fabsl(q[i]) * kb[i]);
			mag += fabsl(q[i] * k[i]);
		}
		s = c * nb_ref_sum_value(&acc);
		p[j] = s;
		pb[j] = nb_comb(em, c * nb_prop_val(em, &sens), 0.0L,
				c * nb_g(em, dh) * mag + 2.0L * u * fabsl(s));
		mx = s > mx ? s : mx;
	}
	for (size_t j = 0; j <= t; j++) {
		long double dj = u * fabsl(p[j] - mx) + 2.0L * u;
		dmax = dj > dmax ? dj : dmax;
	}
	/* p holds the scores, pb their bounds: keep them in sc, sb and turn
	 * p into probabilities */
	{
		long double *sc = w->sc, *sb = w->sb, zv;
		struct nb_prop pspb = NB_PROP_ZERO;
		for (size_t j = 0; j <= t; j++) {
			sc[j] = p[j];
			sb[j] = pb[j];
			p[j] = expl(sc[j] - mx);
			nb_ref_sum_add(&z, p[j]);
		}
		zv = nb_ref_sum_value(&z);
		for (size_t j = 0; j <= t; j++) {
			p[j] /= zv;
			nb_prop_add(&pspb, p[j] * sb[j]);
		}
		spb = nb_prop_val(em, &pspb);
		for (size_t j = 0; j <= t; j++) {
			long double dj = u * fabsl(sc[j] - mx) + 2.0L * u;
			pb[j] = nb_comb(em, p[j] * (sb[j] + spb), 0.0L,
					p[j] * (dj + dmax + nb_g(em, t + 1) + u));
		}
	}
	for (size_t i = 0; i < dh; i++) {
		struct nb_ref_sum acc = NB_REF_SUM_ZERO;
		struct nb_prop sens = NB_PROP_ZERO;
		long double mag = 0.0L, o;
		for (size_t j = 0; j <= t; j++) {
			long double vji = w->v[j * a + off + i];
			nb_ref_sum_add(&acc, p[j] * vji);
			nb_prop_add(&sens, pb[j] * fabsl(vji));
			nb_prop_add(&sens, p[j] * w->vb[j * a + off + i]);
			mag += p[j] * fabsl(vji);
		}
		o = nb_ref_sum_value(&acc);
		w->o[t * a + off + i] = o;
		w->ob[t * a + off + i] = nb_comb(em, nb_prop_val(em, &sens), 0.0L,
						 nb_g(em, t + 1) * mag + em->u_store * fabsl(o));
	}
}

/* x += y with the add's rounding and the store. */
static void nb_residual(const struct nb_ref_errmodel *em, size_t len, long double *x,
			long double *xb, const long double *y, const long double *yb)
{
	for (size_t i = 0; i < len; i++) {
		x[i] += y[i];
		/* the branch's error depends on x's: they add linearly */
		xb[i] = nb_comb(em, xb[i] + yb[i], 0.0L, (em->u_arith + em->u_store) * fabsl(x[i]));
	}
}

/*
 * GELU, exact erf form: a = z/2 (1 + erf(z/sqrt2)), a' = Phi(z) + z phi(z).
 * Rounding: the argument z * (1/sqrt2) (2u relative, moving erf by
 * erf'(w) 2u|w|), erf (2u), 1 + erf, the product with z (3u on |a| with
 * the store's u_store).
 */
static void nb_gelu(const struct nb_ref_errmodel *em, long double z, long double zb,
		    long double *a, long double *ab)
{
	long double u = em->u_arith, w = z * (long double)M_SQRT1_2, er = erfl(w);
	long double v = 0.5L * z * (1.0L + er);
	long double der = 0.5L * (1.0L + er) + z * expl(-0.5L * z * z) / sqrtl(2.0L * (long double)M_PI);

	*a = v;
	*ab = nb_comb(em, fabsl(der) * zb, 0.0L,
		      3.0L * u * fabsl(v)
		      + 0.5L * fabsl(z) * (2.0L * u * fabsl(er)
					   + 2.0L * u * fabsl(w) * (2.0L / sqrtl((long double)M_PI)) * expl(-w * w))
		      + em->u_store * fabsl(v));
}

/* SiLU z sigma(z), sigma = 1/(1 + exp(-z)); derivative sigma (1 + z (1 -
 * sigma)); rounding: exp 2u (relative, into sigma at most 2u), the add, the
 * division: 4u relative. */
static void nb_silu(const struct nb_ref_errmodel *em, long double z, long double zb,
		    long double *a, long double *ab)
{
	long double sg = 1.0L / (1.0L + expl(-z)), v = z * sg;

	*a = v;
	*ab = nb_comb(em, fabsl(sg * (1.0L + z * (1.0L - sg))) * zb, 0.0L,
		      4.0L * em->u_arith * fabsl(v));
}

/*
 * FlashNorm control (E4): the activated branch computed without the scale,
 * p = x . W* + b, then act(p) * r (wrong: r must come before the
 * nonlinearity). Bound: act's bound times r, plus |act| times r's
 * sensitivity (r^3 sum|x| xb / n) and r's rounding (gamma_{n+4} + u).
 */
static void nb_scale_after(const struct nb_ref_model *m, const struct nb_ref_errmodel *em,
			   const long double *x, const long double *xb, long double *a,
			   long double *ab, size_t cols)
{
	size_t n = m->n;
	struct nb_flash_row st = nb_flash_stats(n, (long double)m->shape.eps, false, x, xb, em);
	long double th = nb_g(em, n + 4) + em->u_arith;

	for (size_t j = 0; j < cols; j++) {
		long double v = a[j] * st.r;
		ab[j] = nb_comb(em, st.r * ab[j] + fabsl(a[j]) * st.r * st.r * st.r * st.s / (long double)n,
				0.0L, fabsl(a[j]) * st.r * th + em->u_store * fabsl(v));
		a[j] = v;
	}
}

/* The FFN's first product(s) for one token in the control arrangement. */
static void nb_ffn_control(const struct nb_ref_model *m, const struct nb_ref_errmodel *em,
			   struct nb_fwd *w, const struct nb_ref_layer *ly, const long double *x,
			   const long double *xb)
{
	size_t n = m->n, f = w->f;

	for (size_t t = 0; t < w->seq; t++) {
		long double *z1 = w->z1 + t * f, *z1b = w->z1b + t * f;
		/* activated branch without the scale */
		nb_linear_row(x + t * n, xb + t * n, &ly->w1, &ly->b1, em, &w->ls, z1, z1b);
		for (size_t j = 0; j < f; j++) {
			if (m->shape.ffn_kind == NB_FFN_GELU)
				nb_gelu(em, z1[j], z1b[j], &z1[j], &z1b[j]);
			else
				nb_silu(em, z1[j], z1b[j], &z1[j], &z1b[j]);
		}
		nb_scale_after(m, em, x + t * n, xb + t * n, z1, z1b, f);
		if (m->shape.ffn_kind == NB_FFN_SWIGLU) {
			long double *z3 = w->z3 + t * f, *z3b = w->z3b + t * f;
			nb_flash_row(n, (long double)m->shape.eps, false, x + t * n, xb + t * n,
				     &ly->w3, NULL, &ly->b3, em, &w->ls, z3, z3b);
			for (size_t j = 0; j < f; j++) {
				long double h = z1[j] * z3[j];
				z1b[j] = nb_comb(em, z1b[j] * fabsl(z3[j]) + fabsl(z1[j]) * z3b[j], 0.0L,
						 (em->u_arith + em->u_store) * fabsl(h));
				z1[j] = h;
			}
		}
	}
}

static enum nb_status nb_check_forward(const struct nb_ref_model *m, const uint32_t *tokens,
				       size_t seq)
{
	if (!m || seq == 0 || seq > m->shape.max_seq)
		return nb_fail(NB_ERR_INVALID, "model forward: seq must be in [1, %zu]",
			       m ? m->shape.max_seq : 0);
	if (tokens)
		for (size_t t = 0; t < seq; t++)
			if (tokens[t] >= m->shape.vocab)
				return nb_fail(NB_ERR_INVALID, "model forward: token %u >= vocab %zu",
					       tokens[t], m->shape.vocab);
	return NB_OK;
}

enum nb_status nb_ref_model_embed(const struct nb_ref_model *m, const uint32_t *tokens,
				  size_t seq, const struct nb_ref_errmodel *em,
				  long double *x, long double *xb)
{
	enum nb_status st = nb_check_forward(m, tokens, seq);
	size_t n;

	if (st != NB_OK)
		return st;
	if (!tokens || !x)
		return nb_fail(NB_ERR_INVALID, "model embed: missing tokens or output");
	if (!em)
		em = &nb_em_exact;
	n = m->n;
	/* x = tok + pos: both parameters' errors, the add and the store */
	for (size_t t = 0; t < seq; t++)
		for (size_t i = 0; i < n; i++) {
			size_t it = tokens[t] * n + i, ip = t * n + i;
			long double v = m->tok.v[it] + m->pos.v[ip];
			x[t * n + i] = v;
			if (xb)
				xb[t * n + i] = nb_comb(em, 0.0L,
					nb_pe(em, &m->tok, it) + nb_pe(em, &m->pos, ip),
					(em->u_arith + em->u_store) * fabsl(v));
		}
	if (xb)
		nb_scale(xb, seq * n, nb_out_scale(em));
	return NB_OK;
}

static void nb_layer_run(const struct nb_ref_model *m, const struct nb_ref_layer *ly,
			 const struct nb_ref_errmodel *em, struct nb_fwd *w, long double *x,
			 long double *xb)
{
	size_t seq = w->seq, n = m->n, f = w->f, H = m->shape.heads, dh = m->shape.head_dim;

	/* attention branch */
	nb_norm_stream(m, em, w, x, xb, &ly->norm1_g, &ly->norm1_b);
	nb_read(m, em, w, x, xb, &ly->wq, &ly->bq, w->q, w->qb);
	nb_read(m, em, w, x, xb, &ly->wk, &ly->bk, w->k, w->kb);
	nb_read(m, em, w, x, xb, &ly->wv, &ly->bv, w->v, w->vb);
	for (size_t h = 0; h < H; h++)
		for (size_t t = 0; t < seq; t++)
			nb_attend(em, w, h, dh, t);
	for (size_t t = 0; t < seq; t++)
		nb_linear_row(w->o + t * w->a, w->ob + t * w->a, &ly->wo, &ly->bo, em, &w->ls,
			      w->y + t * n, w->yb + t * n);
	nb_residual(em, seq * n, x, xb, w->y, w->yb);

	/* FFN branch */
	nb_norm_stream(m, em, w, x, xb, &ly->norm2_g, &ly->norm2_b);
	if (m->norm == NB_NORM_FLASHNORM && m->flash_scale_after_act) {
		nb_ffn_control(m, em, w, ly, x, xb);
	} else {
		nb_read(m, em, w, x, xb, &ly->w1, &ly->b1, w->z1, w->z1b);
		if (m->shape.ffn_kind == NB_FFN_SWIGLU)
			nb_read(m, em, w, x, xb, &ly->w3, &ly->b3, w->z3, w->z3b);
		for (size_t i = 0; i < seq * f; i++) {
			if (m->shape.ffn_kind == NB_FFN_GELU) {
				nb_gelu(em, w->z1[i], w->z1b[i], &w->z1[i], &w->z1b[i]);
			} else {
				long double a, ab, h;
				nb_silu(em, w->z1[i], w->z1b[i], &a, &ab);
				h = a * w->z3[i];
				/* the product with the up branch: u, and the store */
				w->z1b[i] = nb_comb(em, ab * fabsl(w->z3[i]) + fabsl(a) * w->z3b[i], 0.0L,
						    (em->u_arith + em->u_store) * fabsl(h));
				w->z1[i] = h;
			}
		}
	}
	for (size_t t = 0; t < seq; t++)
		nb_linear_row(w->z1 + t * f, w->z1b + t * f, &ly->w2, &ly->b2, em, &w->ls,
			      w->y + t * n, w->yb + t * n);
	nb_residual(em, seq * n, x, xb, w->y, w->yb);
}

enum nb_status nb_ref_model_layer(const struct nb_ref_model *m, size_t layer, size_t seq,
				  const struct nb_ref_errmodel *em, long double *x,
				  long double *xb)
{
	enum nb_status st = nb_check_forward(m, NULL, seq);
	struct nb_fwd w;
	long double *xbb;

	if (st != NB_OK)
		return st;
	if (layer >= m->shape.layers || !x)
		return nb_fail(NB_ERR_INVALID, "model layer: layer %zu of %zu, or no stream",
			       layer, m->shape.layers);
	if (!em)
		em = &nb_em_exact;
	st = nb_fwd_alloc(m, seq, &w);
	if (st != NB_OK)
		return st;
	xbb = xb ? xb : calloc(seq * m->n, sizeof(long double));
	if (!xbb) {
		nb_fwd_free(&w);
		return nb_fail(NB_ERR_NOMEM, "no memory for stream bounds");
	}
	nb_scale(xbb, seq * m->n, 1.0L / nb_out_scale(em));
	nb_layer_run(m, &m->layer[layer], em, &w, x, xbb);
	nb_scale(xbb, seq * m->n, nb_out_scale(em));
	if (!xb)
		free(xbb);
	nb_fwd_free(&w);
	return NB_OK;
}

static void nb_final_run(const struct nb_ref_model *m, const struct nb_ref_errmodel *em,
			 struct nb_fwd *w, const long double *x, const long double *xb,
			 long double *logits, long double *bound)
{
	nb_norm_stream(m, em, w, x, xb, &m->normf_g, &m->normf_b);
	nb_read(m, em, w, x, xb, &m->head, &m->bhead, logits, bound);
}

enum nb_status nb_ref_model_final(const struct nb_ref_model *m, size_t seq,
				  const struct nb_ref_errmodel *em, const long double *x,
				  const long double *xb, long double *logits, long double *bound)
{
	enum nb_status st = nb_check_forward(m, NULL, seq);
	struct nb_fwd w;
	long double *xbb = NULL, *bb = NULL;

	if (st != NB_OK)
		return st;
	if (!x || !logits)
		return nb_fail(NB_ERR_INVALID, "model final: no stream or logits");
	if (!em)
		em = &nb_em_exact;
	st = nb_fwd_alloc(m, seq, &w);
	if (st != NB_OK)
		return st;
	xbb = malloc(seq * m->n * sizeof(long double));
	bb = bound ? NULL : malloc(seq * m->shape.vocab * sizeof(long double));
	if (!xbb || (!bound && !bb)) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for logit bounds");
		goto free_all;
	}
	for (size_t i = 0; i < seq * m->n; i++)
		xbb[i] = xb ? xb[i] / nb_out_scale(em) : 0.0L;
	nb_final_run(m, em, &w, x, xbb, logits, bound ? bound : bb);
	nb_scale(bound ? bound : bb, seq * m->shape.vocab, nb_out_scale(em));
free_all:
	free(xbb);
	free(bb);
	nb_fwd_free(&w);
	return st;
}

enum nb_status nb_ref_model_forward(const struct nb_ref_model *m, const uint32_t *tokens,
				    size_t seq, const struct nb_ref_errmodel *em,
				    long double *logits, long double *bound)
{
	enum nb_status st = nb_check_forward(m, tokens, seq);
	struct nb_fwd w;
	long double *x, *xb, *bb = NULL;

	if (st != NB_OK)
		return st;
	if (!tokens || !logits)
		return nb_fail(NB_ERR_INVALID, "model forward: missing tokens or logits");
	if (!em)
		em = &nb_em_exact;
	st = nb_fwd_alloc(m, seq, &w);
	if (st != NB_OK)
		return st;
	x = malloc(2 * seq * m->n * sizeof(long double));
	bb = bound ? NULL : malloc(seq * m->shape.vocab * sizeof(long double));
	if (!x || (!bound && !bb)) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for the stream");
		goto free_all;
	}
	xb = x + seq * m->n;
	nb_ref_model_embed(m, tokens, seq, em, x, xb);
	for (size_t l = 0; l < m->shape.layers; l++)
		nb_layer_run(m, &m->layer[l], em, &w, x, xb);
	nb_final_run(m, em, &w, x, xb, logits, bound ? bound : bb);
	nb_scale(bound ? bound : bb, seq * m->shape.vocab, nb_out_scale(em));
free_all:
	free(x);
	free(bb);
	nb_fwd_free(&w);
	return st;
}
