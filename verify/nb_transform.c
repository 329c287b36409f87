/* The model transformations of claims E1-E5 in long double. Every output
 * tensor's err gets the bound of the transformation's own rounding (u =
 * 2^-64, compensated sums bounded by the generous gamma_k) plus the inputs'
 * errors carried through, so the claims' bounds include the transform. */
#include "verify/nb_transform.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ref/nb_ref_sum.h"

#define NB_LD_U (LDBL_EPSILON / 2.0L)

static long double nb_ld_gamma(size_t k)
{
	long double ku = (long double)k * NB_LD_U;

	return ku / (1.0L - ku);
}

static long double nb_err(const struct nb_ref_tensor *t, size_t i)
{
	return t && t->err ? t->err[i] : 0.0L;
}

static size_t nb_len(const struct nb_ref_tensor *t)
{
	return t && t->v ? t->rows * t->cols : 0;
}

/* ---- building blocks ---- */

/*
 * w_out = diag(g) W: one rounding per element (u |w_out|) unless g_i is
 * exactly 1 and exact; |g| err(W) + |W| err(g) carried. c_out = c + b^T W:
 * a compensated (n+1)-term sum, bounded by gamma_{n+1} (|c| + sum |b W|),
 * plus |b| err(W) + |W| err(b) + err(c). c_out is computed first, from the
 * unscaled W, so w_out may be w and c_out may be c (in place).
 */
enum nb_status nb_transform_fold_affine(const struct nb_ref_tensor *g, const struct nb_ref_tensor *b,
					const struct nb_ref_tensor *w, const struct nb_ref_tensor *c,
					struct nb_ref_tensor *w_out, struct nb_ref_tensor *c_out)
{
	size_t n, m;

	if (!g || !w || !w_out || !w->v || !w_out->v)
		return nb_fail(NB_ERR_INVALID, "fold: missing tensor");
	n = w->rows;
	m = w->cols;
	if (nb_len(g) != n || (nb_len(b) && nb_len(b) != n) || (nb_len(c) && nb_len(c) != m) ||
	    w_out->rows != n || w_out->cols != m || (nb_len(b) && (!c_out || nb_len(c_out) != m)))
		return nb_fail(NB_ERR_INVALID, "fold: shapes do not match (W %zu x %zu)", n, m);
	if (!nb_len(b) && c_out && c && c_out != c && nb_len(c_out) == m) {
		memcpy(c_out->v, c->v, m * sizeof(long double));
		memcpy(c_out->err, c->err, m * sizeof(long double));
	}
	if (nb_len(b)) {
		for (size_t j = 0; j < m; j++) {
			struct nb_ref_sum acc = NB_REF_SUM_ZERO;
			long double cj = nb_len(c) ? c->v[j] : 0.0L, mag = fabsl(cj);
			long double carried = nb_len(c) ? nb_err(c, j) : 0.0L;
			nb_ref_sum_add(&acc, cj);
			for (size_t i = 0; nb_len(b) && i < n; i++) {
				long double wij = w->v[i * m + j];
				nb_ref_sum_add(&acc, b->v[i] * wij);
				mag += fabsl(b->v[i] * wij);
				carried += fabsl(b->v[i]) * nb_err(w, i * m + j) + nb_err(b, i) * fabsl(wij);
			}
			c_out->v[j] = nb_ref_sum_value(&acc);
			c_out->err[j] = carried + nb_ld_gamma(n + 1) * mag;
		}
	}
	for (size_t i = 0; i < n; i++) {
		long double gi = g->v[i], ge = nb_err(g, i);
		for (size_t j = 0; j < m; j++) {
			size_t k = i * m + j;
			long double wv = w->v[k], we = nb_err(w, k), v = gi * wv;
			w_out->v[k] = v;
			w_out->err[k] = gi == 1.0L && ge == 0.0L
				? we : fabsl(gi) * we + fabsl(wv) * ge + NB_LD_U * fabsl(v);
		}
	}
	return NB_OK;
}

/*
 * Each row minus its mean: the mean (compensated, then /n) is within
 * gamma_{n+1} mean|v| of exact; the subtraction rounds once; the row's
 * errors carry as err_j + mean(err).
 */
enum nb_status nb_transform_recentre_rows(struct nb_ref_tensor *t)
{
	size_t n;

	if (!t || !t->v || t->cols == 0)
		return nb_fail(NB_ERR_INVALID, "recentre: empty tensor");
	n = t->cols;
	for (size_t r = 0; r < t->rows; r++) {
		long double *v = t->v + r * n, *e = t->err + r * n;
		struct nb_ref_sum acc = NB_REF_SUM_ZERO;
		long double mean, me = 0.0L, ma = 0.0L;
		for (size_t j = 0; j < n; j++) {
			nb_ref_sum_add(&acc, v[j]);
			me += e[j];
			ma += fabsl(v[j]);
		}
		mean = nb_ref_sum_value(&acc) / (long double)n;
		me /= (long double)n;
		ma /= (long double)n;
		for (size_t j = 0; j < n; j++) {
			v[j] -= mean;
			e[j] += me + nb_ld_gamma(n + 1) * ma + NB_LD_U * fabsl(v[j]);
		}
	}
	return NB_OK;
}

enum nb_status nb_transform_fold_wrong_side(const struct nb_ref_tensor *g,
					    const struct nb_ref_tensor *w,
					    struct nb_ref_tensor *w_out)
{
	size_t n, m;

	if (!g || !w || !w_out || !w->v || !w_out->v)
		return nb_fail(NB_ERR_INVALID, "wrong-side fold: missing tensor");
	n = w->rows;
	m = w->cols;
	if (n != m || nb_len(g) != n || w_out->rows != n || w_out->cols != m)
		return nb_fail(NB_ERR_INVALID, "wrong-side fold needs a square W and n gains");
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < m; j++) {
			size_t k = i * m + j;
			long double v = w->v[k] * g->v[j];
			w_out->v[k] = v;
			w_out->err[k] = fabsl(g->v[j]) * nb_err(w, k) + fabsl(w->v[k]) * nb_err(g, j)
				+ NB_LD_U * fabsl(v);
		}
	return NB_OK;
}

/* colsum_j = sum_i W*_ij: compensated, gamma_n sum|W*_ij| plus the carried
 * sum of err(W*). */
enum nb_status nb_transform_ln_flash(const struct nb_ref_tensor *g, const struct nb_ref_tensor *beta,
				     const struct nb_ref_tensor *w, const struct nb_ref_tensor *c,
				     struct nb_ref_tensor *w_out, struct nb_ref_tensor *b_out,
				     struct nb_ref_tensor *colsum)
{
	enum nb_status st;
	size_t n, m;

	if (!beta || !b_out || !colsum || !w)
		return nb_fail(NB_ERR_INVALID, "LayerNorm fold: missing tensor");
	st = nb_transform_fold_affine(g, beta, w, c, w_out, b_out);
	if (st != NB_OK)
		return st;
	n = w_out->rows;
	m = w_out->cols;
	if (nb_len(colsum) != m)
		return nb_fail(NB_ERR_INVALID, "LayerNorm fold: colsum must have %zu elements", m);
	for (size_t j = 0; j < m; j++) {
		struct nb_ref_sum acc = NB_REF_SUM_ZERO;
		long double mag = 0.0L, carried = 0.0L;
		for (size_t i = 0; i < n; i++) {
			nb_ref_sum_add(&acc, w_out->v[i * m + j]);
			mag += fabsl(w_out->v[i * m + j]);
			carried += nb_err(w_out, i * m + j);
		}
		colsum->v[j] = nb_ref_sum_value(&acc);
		colsum->err[j] = carried + nb_ld_gamma(n) * mag;
	}
	return NB_OK;
}

void nb_crms_compress(const long double *x, size_t d, long double *xc)
{
	memmove(xc, x, (d - 1) * sizeof(long double));
}

void nb_crms_decompress(const long double *xc, size_t d, long double *x)
{
	struct nb_ref_sum acc = NB_REF_SUM_ZERO;

	for (size_t i = 0; i + 1 < d; i++)
		nb_ref_sum_add(&acc, xc[i]);
	memmove(x, xc, (d - 1) * sizeof(long double));
	x[d - 1] = -nb_ref_sum_value(&acc);
}

/* ---- whole models ---- */

static void nb_set_const(struct nb_ref_tensor *t, long double v)
{
	for (size_t i = 0; i < nb_len(t); i++) {
		t->v[i] = v;
		t->err[i] = 0.0L;
	}
}

/* Folds a norm's gain (and bias, when b is given) into its readers in place
 * and resets the norm to gain 1, bias 0. */
static enum nb_status nb_fold_readers(struct nb_ref_tensor *g, struct nb_ref_tensor *b,
				      struct nb_ref_tensor *const *w, struct nb_ref_tensor *const *c,
				      size_t count)
{
	for (size_t i = 0; i < count; i++) {
		enum nb_status st;
		if (!nb_len(w[i]))
			continue;
		st = nb_transform_fold_affine(g, b, w[i], c[i], w[i], c[i]);
		if (st != NB_OK)
			return st;
	}
	nb_set_const(g, 1.0L);
	if (b)
		nb_set_const(b, 0.0L);
	return NB_OK;
}

/* Folds every norm of m (gain, and bias when with_bias) into its readers. */
static enum nb_status nb_fold_all(struct nb_ref_model *m, bool with_bias)
{
	enum nb_status st = NB_OK;

	for (size_t l = 0; l < m->shape.layers && st == NB_OK; l++) {
		struct nb_ref_layer *y = &m->layer[l];
		struct nb_ref_tensor *const w1[] = { &y->wq, &y->wk, &y->wv };
		struct nb_ref_tensor *const c1[] = { &y->bq, &y->bk, &y->bv };
		struct nb_ref_tensor *const w2[] = { &y->w1, &y->w3 };
		struct nb_ref_tensor *const c2[] = { &y->b1, &y->b3 };
		st = nb_fold_readers(&y->norm1_g, with_bias ? &y->norm1_b : NULL, w1, c1, 3);
		if (st == NB_OK)
			st = nb_fold_readers(&y->norm2_g, with_bias ? &y->norm2_b : NULL, w2, c2, 2);
	}
	if (st == NB_OK) {
		struct nb_ref_tensor *const wf[] = { &m->head };
		struct nb_ref_tensor *const cf[] = { &m->bhead };
		st = nb_fold_readers(&m->normf_g, with_bias ? &m->normf_b : NULL, wf, cf, 1);
	}
	return st;
}

static enum nb_status nb_need_kind(const struct nb_ref_model *m, enum nb_norm_kind kind,
				   const char *who)
{
	if (!m)
		return nb_fail(NB_ERR_INVALID, "%s: no model", who);
	if (m->norm != kind)
		return nb_fail(NB_ERR_INVALID, "%s needs a %s model, got %s", who,
			       nb_norm_kind_name(kind), nb_norm_kind_name(m->norm));
	return NB_OK;
}

/* src, which must be a model of kind, cloned with its norms folded into
 * their readers (nb_fold_all) into *m; *out (the transform's result) is
 * NULL until the caller sets it. *m is NULL on any failure. */
static enum nb_status nb_folded_clone(const struct nb_ref_model *src, enum nb_norm_kind kind,
				      const char *who, bool with_bias,
				      struct nb_ref_model **out, struct nb_ref_model **m)
{
	enum nb_status st = nb_need_kind(src, kind, who);

	*out = NULL;
	*m = NULL;
	if (st != NB_OK)
		return st;
	st = nb_ref_model_clone(src, m);
	if (st != NB_OK)
		return st;
	st = nb_fold_all(*m, with_bias);
	if (st != NB_OK) {
		nb_ref_model_free(*m);
		*m = NULL;
	}
	return st;
}

enum nb_status nb_transform_ln_to_rms(const struct nb_ref_model *src, bool recentre,
				      struct nb_ref_model **out)
{
	struct nb_ref_model *m;
	enum nb_status st = nb_folded_clone(src, NB_NORM_LAYERNORM, "Pre-LN -> Pre-RMSNorm",
					    true, out, &m);

	if (st != NB_OK)
		return st;
	/* every writer to the stream emits zero-mean vectors: the stream
	 * stays zero-mean, where LayerNorm and RMSNorm coincide */
	if (recentre) {
		st = nb_transform_recentre_rows(&m->tok);
		if (st == NB_OK)
			st = nb_transform_recentre_rows(&m->pos);
		for (size_t l = 0; l < m->shape.layers && st == NB_OK; l++) {
			struct nb_ref_layer *y = &m->layer[l];
			st = nb_transform_recentre_rows(&y->wo);
			if (st == NB_OK)
				st = nb_transform_recentre_rows(&y->bo);
			if (st == NB_OK)
				st = nb_transform_recentre_rows(&y->w2);
			if (st == NB_OK)
				st = nb_transform_recentre_rows(&y->b2);
		}
	}
	if (st != NB_OK) {
		nb_ref_model_free(m);
		return st;
	}
	m->norm = NB_NORM_RMSNORM;
	*out = m;
	return NB_OK;
}

/* A writer (cols = stream coordinate): keep the first d-1 columns. */
static void nb_compress_writer(const struct nb_ref_tensor *src, struct nb_ref_tensor *dst)
{
	for (size_t r = 0; r < dst->rows; r++) {
		memcpy(dst->v + r * dst->cols, src->v + r * src->cols, dst->cols * sizeof(long double));
		memcpy(dst->err + r * dst->cols, src->err + r * src->cols,
		       dst->cols * sizeof(long double));
	}
}

/* A reader (rows = stream coordinate): W'_i = W_i - W_{d-1} (one rounding,
 * both errors carried), or W_i alone for the control. */
static void nb_compress_reader(const struct nb_ref_tensor *src, bool correct,
			       struct nb_ref_tensor *dst)
{
	size_t m = src->cols;
	const long double *last = src->v + (src->rows - 1) * m;
	const long double *last_e = src->err + (src->rows - 1) * m;

	for (size_t i = 0; i < dst->rows; i++)
		for (size_t j = 0; j < m; j++) {
			size_t k = i * m + j;
			if (correct) {
				long double v = src->v[k] - last[j];
				dst->v[k] = v;
				dst->err[k] = src->err[k] + last_e[j] + NB_LD_U * fabsl(v);
			} else {
				dst->v[k] = src->v[k];
				dst->err[k] = src->err[k];
			}
		}
}

static void nb_copy_tensor(const struct nb_ref_tensor *src, struct nb_ref_tensor *dst)
{
	size_t len = nb_len(dst);

	if (!len)
		return;
	memcpy(dst->v, src->v, len * sizeof(long double));
	memcpy(dst->err, src->err, len * sizeof(long double));
}

enum nb_status nb_transform_rms_to_crms(const struct nb_ref_model *src, bool correct,
					struct nb_ref_model **out)
{
	struct nb_ref_model *f, *m = NULL;
	/* the gains go into the readers first (exact when they are all 1,
	 * as after E1), so the CRMSNorm model's gains are 1 */
	enum nb_status st = nb_folded_clone(src, NB_NORM_RMSNORM, "Pre-RMSNorm -> Pre-CRMSNorm",
					    false, out, &f);

	if (st != NB_OK)
		return st;
	st = nb_ref_model_alloc(&src->shape, NB_NORM_CRMSNORM, &m);
	if (st != NB_OK)
		goto free_folded;
	nb_compress_writer(&f->tok, &m->tok);
	nb_compress_writer(&f->pos, &m->pos);
	for (size_t l = 0; l < src->shape.layers; l++) {
		const struct nb_ref_layer *a = &f->layer[l];
		struct nb_ref_layer *b = &m->layer[l];
		nb_set_const(&b->norm1_g, 1.0L);
		nb_set_const(&b->norm2_g, 1.0L);
		nb_compress_reader(&a->wq, correct, &b->wq);
		nb_compress_reader(&a->wk, correct, &b->wk);
		nb_compress_reader(&a->wv, correct, &b->wv);
		nb_copy_tensor(&a->bq, &b->bq);
		nb_copy_tensor(&a->bk, &b->bk);
		nb_copy_tensor(&a->bv, &b->bv);
		nb_compress_writer(&a->wo, &b->wo);
		nb_compress_writer(&a->bo, &b->bo);
		nb_compress_reader(&a->w1, correct, &b->w1);
		nb_copy_tensor(&a->b1, &b->b1);
		if (nb_len(&a->w3)) {
			nb_compress_reader(&a->w3, correct, &b->w3);
			nb_copy_tensor(&a->b3, &b->b3);
		}
		nb_compress_writer(&a->w2, &b->w2);
		nb_compress_writer(&a->b2, &b->b2);
	}
	nb_set_const(&m->normf_g, 1.0L);
	nb_compress_reader(&f->head, correct, &m->head);
	nb_copy_tensor(&f->bhead, &m->bhead);
	*out = m;
free_folded:
	nb_ref_model_free(f);
	return st;
}

enum nb_status nb_transform_rms_to_flash(const struct nb_ref_model *src, bool scale_after_act,
					 struct nb_ref_model **out)
{
	struct nb_ref_model *m;
	enum nb_status st = nb_folded_clone(src, NB_NORM_RMSNORM, "Pre-RMSNorm -> FlashNorm",
					    false, out, &m);

	if (st != NB_OK)
		return st;
	m->norm = NB_NORM_FLASHNORM;
	m->flash_scale_after_act = scale_after_act;
	*out = m;
	return NB_OK;
}

enum nb_status nb_transform_chain(const struct nb_ref_model *preln, enum nb_norm_kind target,
				  struct nb_ref_model **out)
{
	enum nb_status st = nb_need_kind(preln, NB_NORM_LAYERNORM, "transform chain");
	struct nb_ref_model *rms = NULL;

	*out = NULL;
	if (st != NB_OK)
		return st;
	switch (target) {
	case NB_NORM_LAYERNORM:
		return nb_ref_model_clone(preln, out);
	case NB_NORM_NONE:
		st = nb_ref_model_clone(preln, out);
		if (st == NB_OK)
			(*out)->norm = NB_NORM_NONE;
		return st;
	case NB_NORM_RMSNORM:
		return nb_transform_ln_to_rms(preln, true, out);
	case NB_NORM_CRMSNORM:
	case NB_NORM_FLASHNORM:
		st = nb_transform_ln_to_rms(preln, true, &rms);
		if (st != NB_OK)
			return st;
		st = target == NB_NORM_CRMSNORM ? nb_transform_rms_to_crms(rms, true, out)
						: nb_transform_rms_to_flash(rms, false, out);
		nb_ref_model_free(rms);
		return st;
	case NB_NORM_COUNT:
		break;
	}
	return nb_fail(NB_ERR_INVALID, "transform chain: unknown target %d", (int)target);
}
