/* The pre-norm transformer in a working dtype: weights rounded once from the
 * long-double model (or drawn at random), norms through the registry,
 * products through OpenBLAS. The arithmetic lives in nb_model_tmpl.h. */
#include "verify/nb_model.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_matmul.h"

/* Tensors outside the layers, then per layer (Q/K/V and SwiGLU's gate|up
 * are concatenated, so each reader is one GEMM in every arrangement). */
enum nb_mw { NB_MW_TOK, NB_MW_POS, NB_MW_NORMF_G, NB_MW_NORMF_B, NB_MW_HEAD, NB_MW_BHEAD,
	     NB_MW_GLOBAL };
enum nb_lw { NB_LW_N1G, NB_LW_N1B, NB_LW_WQKV, NB_LW_BQKV, NB_LW_WO, NB_LW_BO, NB_LW_N2G,
	     NB_LW_N2B, NB_LW_W13, NB_LW_B13, NB_LW_W2, NB_LW_B2, NB_LW_COUNT };
#define NB_WIDX(l, k) ((size_t)NB_MW_GLOBAL + (l) * (size_t)NB_LW_COUNT + (size_t)(k))

struct nb_model {
	struct nb_model_shape shape;
	enum nb_norm_kind norm;
	enum nb_dtype dtype;
	bool scale_after_act;
	size_t n, a, f13, ntensors, csize;
	size_t *off, *len;           /* per tensor, in elements */
	size_t *rows, *cols;
	void *arena;                 /* float (f32, bf16) or double (f64) */
	size_t arena_len;
	struct nb_bf16 *arena16;     /* bf16 storage: the same weights as bf16 */
	void *ones;                  /* n ones: FlashNorm's gain (already folded) */
	const struct nb_kernel *knorm;  /* LN / RMS / CRMS kernel */
	const struct nb_kernel *kflash; /* the registry's fused FlashNorm, or NULL */
	char kname[48];
};

struct nb_model_ws {
	size_t seq;
	int threads;
	size_t kv_cap;   /* KV cache positions per layer; 0: no cache */
	void *kv;        /* layers x kv_cap x 2a (K | V), or NULL */
	void *x, *h, *qkv, *o, *y, *z, *hf, *s, *logits;
	struct nb_bf16 *x16, *y16;
	void *pool;
};

static bool nb_is_bf16(const struct nb_model *m)
{
	return m->dtype == NB_DTYPE_BF16;
}

static void *nb_w(const struct nb_model *m, size_t idx)
{
	return (char *)m->arena + m->off[idx] * m->csize;
}

static enum nb_variant nb_variant_of(enum nb_norm_kind k)
{
	return k == NB_NORM_LAYERNORM ? NB_VARIANT_LAYERNORM
		: k == NB_NORM_CRMSNORM ? NB_VARIANT_CRMSNORM : NB_VARIANT_RMSNORM;
}

static enum nb_dtype nb_acc_of(enum nb_dtype t)
{
	return t == NB_DTYPE_F64 ? NB_DTYPE_F64 : NB_DTYPE_F32;
}

bool nb_model_dtype_supported(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 || t == NB_DTYPE_F64 || t == NB_DTYPE_BF16;
}

/* Rounds v to bf16 directly (to nearest, ties to even): rounding through
 * f32 first could round twice. Values here are far from bf16's limits. */
static float nb_round_bf16(long double v)
{
	int e;
	long double fr;

	if (v == 0.0L || !isfinite(v))
		return (float)v;
	fr = frexpl(v, &e);
	return (float)ldexpl(nearbyintl(ldexpl(fr, 8)), e - 8);
}

/* ---- the registry ---- */

/* The fused FlashNorm entry of the highest usable ISA for dtype, or NULL. */
static const struct nb_kernel *nb_flash_kernel(enum nb_dtype t)
{
	size_t count;
	const struct nb_kernel *all = nb_kernels(&count), *best = NULL;

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &all[i];
		if (k->variant != NB_VARIANT_FLASHNORM || k->dir != NB_DIR_FORWARD ||
		    k->dtype != t || nb_kernel_algo(k) != NB_ALGO_FUSED ||
		    !nb_isa_usable(k->isa))
			continue;
		if (!best || k->isa > best->isa)
			best = k;
	}
	return best;
}

/*
 * y = norm(x) by registry kernel k on rows x n (d = n, or n + 1 for
 * CRMSNorm). bf16: x and y are float buffers of bf16 values, converted
 * (exactly) through x16 / y16; g16 / b16 are the bf16 gain and bias.
 */
struct nb_norm_call {
	const struct nb_kernel *k;
	enum nb_dtype dtype;
	enum nb_norm_kind kind;
	size_t rows, d;
	double eps;
	int threads;
	const void *x, *gain, *bias;
	void *y;
	struct nb_bf16 *x16, *y16;
	const struct nb_bf16 *g16, *b16;
};

static enum nb_status nb_norm_run(const struct nb_norm_call *c)
{
	struct nb_problem p = nb_problem_init(nb_variant_of(c->kind), c->dtype, c->rows, c->d);
	size_t n = nb_norm_stored(c->kind, c->d);
	enum nb_status st;

	p.conv.eps = c->eps;
	p.threads = c->threads;
	if (c->dtype == NB_DTYPE_BF16) {
		const float *xf = c->x;
		for (size_t i = 0; i < c->rows * n; i++)
			c->x16[i] = nb_f32_to_bf16(xf[i]);
		p.x = c->x16;
		p.y = c->y16;
		p.gain = c->g16;
		p.bias = c->b16;
	} else {
		p.x = c->x;
		p.y = c->y;
		p.gain = c->gain;
		p.bias = c->bias;
	}
	st = nb_kernel_prepare(c->k, &p);
	if (st == NB_OK)
		st = nb_kernel_run(c->k, &p, NULL);
	if (st == NB_OK && c->dtype == NB_DTYPE_BF16) {
		float *yf = c->y;
		for (size_t i = 0; i < c->rows * n; i++)
			yf[i] = nb_bf16_to_f32(c->y16[i]);
	}
	return st;
}

/* The registry's fused FlashNorm: out = r (x . W*) + b (out: rows x cols). */
static enum nb_status nb_flash_run(const struct nb_kernel *k, enum nb_dtype dtype, size_t rows,
				   size_t n, size_t cols, double eps, int threads, const void *x,
				   const void *gain, const void *w, const void *w_folded,
				   const void *b, void *out, void *scratch)
{
	struct nb_problem p = nb_problem_init(NB_VARIANT_FLASHNORM, dtype, rows, n);
	enum nb_status st;

	p.conv.eps = eps;
	p.threads = threads;
	p.x = x;
	p.gain = gain;
	p.w = w;
	p.w_folded = w_folded;
	p.out_bias = b;
	p.z = out;
	p.m = cols;
	p.scratch = scratch;
	st = nb_kernel_prepare(k, &p);
	return st == NB_OK ? nb_kernel_run(k, &p, NULL) : st;
}

static enum nb_status nb_model_norm(const struct nb_model *m, struct nb_model_ws *ws, size_t seq,
				    const void *x, void *y, size_t gidx, size_t bidx)
{
	struct nb_norm_call c = {
		.k = m->knorm, .dtype = m->dtype, .kind = m->norm, .rows = seq,
		.d = m->shape.d, .eps = m->shape.eps, .threads = ws->threads,
		.x = x, .y = y, .gain = nb_w(m, gidx),
		.x16 = ws->x16, .y16 = ws->y16,
		.g16 = m->arena16 ? m->arena16 + m->off[gidx] : NULL,
	};

	/* only LayerNorm has a norm bias in a model (RMSNorm's is unused) */
	if (m->norm == NB_NORM_LAYERNORM) {
		c.bias = nb_w(m, bidx);
		c.b16 = m->arena16 ? m->arena16 + m->off[bidx] : NULL;
	}

	if (m->norm == NB_NORM_FLASHNORM || m->norm == NB_NORM_NONE)
		return NB_OK;
	return nb_norm_run(&c);
}

/* ---- the arithmetic, once per compute type ---- */

#define NB_MODEL_F64 0
#include "verify/nb_model_tmpl.h"
#include "verify/nb_model_layer.h"
#undef NB_MODEL_F64
#define NB_MODEL_F64 1
#include "verify/nb_model_tmpl.h"
#include "verify/nb_model_layer.h"
#undef NB_MODEL_F64

/* ---- construction ---- */

static size_t nb_ntensors(const struct nb_model_shape *s)
{
	return NB_MW_GLOBAL + s->layers * NB_LW_COUNT;
}

static void nb_size(struct nb_model *m, size_t idx, size_t rows, size_t cols)
{
	m->rows[idx] = rows;
	m->cols[idx] = cols;
	m->len[idx] = rows * cols;
}

static enum nb_status nb_model_alloc(const struct nb_model_shape *s, enum nb_norm_kind norm,
				     enum nb_dtype dtype, struct nb_model **out)
{
	enum nb_status st = nb_model_shape_check(s);
	struct nb_model *m;
	size_t n, a, total = 0;

	*out = NULL;
	if (st != NB_OK)
		return st;
	if ((unsigned)norm >= NB_NORM_COUNT)
		return nb_fail(NB_ERR_INVALID, "model: unknown norm kind %d", (int)norm);
	if (!nb_model_dtype_supported(dtype))
		return nb_fail(NB_ERR_UNSUPPORTED, "the working model runs f32, f64 or bf16, not %s",
			       (unsigned)dtype < NB_DTYPE_COUNT ? nb_dtype_traits[dtype].name : "?");
	m = calloc(1, sizeof(*m));
	if (!m)
		return nb_fail(NB_ERR_NOMEM, "no memory for a model");
	m->shape = *s;
	m->norm = norm;
	m->dtype = dtype;
	m->n = n = nb_norm_stored(norm, s->d);
	m->a = a = s->heads * s->head_dim;
	m->f13 = s->ffn_kind == NB_FFN_SWIGLU ? 2 * s->ffn : s->ffn;
	m->csize = dtype == NB_DTYPE_F64 ? sizeof(double) : sizeof(float);
	m->ntensors = nb_ntensors(s);
	m->off = calloc(4 * m->ntensors, sizeof(size_t));
	if (!m->off)
		goto fail_model;
	m->len = m->off + m->ntensors;
	m->rows = m->len + m->ntensors;
	m->cols = m->rows + m->ntensors;
	nb_size(m, NB_MW_TOK, s->vocab, n);
	nb_size(m, NB_MW_POS, s->max_seq, n);
	nb_size(m, NB_MW_NORMF_G, 1, n);
	nb_size(m, NB_MW_NORMF_B, 1, n);
	nb_size(m, NB_MW_HEAD, n, s->vocab);
	nb_size(m, NB_MW_BHEAD, 1, s->vocab);
	for (size_t l = 0; l < s->layers; l++) {
		nb_size(m, NB_WIDX(l, NB_LW_N1G), 1, n);
		nb_size(m, NB_WIDX(l, NB_LW_N1B), 1, n);
		nb_size(m, NB_WIDX(l, NB_LW_WQKV), n, 3 * a);
		nb_size(m, NB_WIDX(l, NB_LW_BQKV), 1, 3 * a);
		nb_size(m, NB_WIDX(l, NB_LW_WO), a, n);
		nb_size(m, NB_WIDX(l, NB_LW_BO), 1, n);
		nb_size(m, NB_WIDX(l, NB_LW_N2G), 1, n);
		nb_size(m, NB_WIDX(l, NB_LW_N2B), 1, n);
		nb_size(m, NB_WIDX(l, NB_LW_W13), n, m->f13);
		nb_size(m, NB_WIDX(l, NB_LW_B13), 1, m->f13);
		nb_size(m, NB_WIDX(l, NB_LW_W2), s->ffn, n);
		nb_size(m, NB_WIDX(l, NB_LW_B2), 1, n);
	}
	for (size_t i = 0; i < m->ntensors; i++) {
		/* 64-byte aligned starts for the BLAS */
		m->off[i] = total;
		total += (m->len[i] + 15) & ~(size_t)15;
	}
	m->arena_len = total;
	m->arena = aligned_alloc(64, (total * m->csize + 63) & ~(size_t)63);
	m->ones = malloc(n * m->csize);
	if (!m->arena || !m->ones)
		goto fail_arena;
	memset(m->arena, 0, total * m->csize);
	for (size_t i = 0; i < n; i++) {
		if (dtype == NB_DTYPE_F64)
			((double *)m->ones)[i] = 1.0;
		else
			((float *)m->ones)[i] = 1.0f;
	}
	if (norm == NB_NORM_LAYERNORM || norm == NB_NORM_RMSNORM || norm == NB_NORM_CRMSNORM) {
		m->knorm = nb_kernel_best(nb_variant_of(norm), NB_DIR_FORWARD, dtype, nb_acc_of(dtype));
		if (!m->knorm) {
			st = nb_fail(NB_ERR_UNSUPPORTED, "no %s forward kernel for %s in the registry",
				     nb_norm_kind_name(norm), nb_dtype_traits[dtype].name);
			goto fail_kernel;
		}
		snprintf(m->kname, sizeof(m->kname), "%s", m->knorm->name);
	} else if (norm == NB_NORM_FLASHNORM) {
		m->kflash = dtype == NB_DTYPE_BF16 ? NULL : nb_flash_kernel(dtype);
		snprintf(m->kname, sizeof(m->kname), "%s", m->kflash ? m->kflash->name : "own");
	} else {
		snprintf(m->kname, sizeof(m->kname), "none");
	}
	*out = m;
	return NB_OK;

fail_kernel:
	free(m->ones);
	free(m->arena);
	free(m->off);
	free(m);
	return st;
fail_arena:
	free(m->ones);
	free(m->arena);
	free(m->off);
fail_model:
	free(m);
	return nb_fail(NB_ERR_NOMEM, "no memory for a model's weights");
}

/* The bf16 mirror of the weights (exact: every value is a bf16 value). */
static enum nb_status nb_model_finish(struct nb_model *m)
{
	if (!nb_is_bf16(m))
		return NB_OK;
	m->arena16 = malloc(m->arena_len * sizeof(struct nb_bf16));
	if (!m->arena16)
		return nb_fail(NB_ERR_NOMEM, "no memory for bf16 weights");
	for (size_t i = 0; i < m->arena_len; i++)
		m->arena16[i] = nb_f32_to_bf16(((const float *)m->arena)[i]);
	return NB_OK;
}

void nb_model_free(struct nb_model *m)
{
	if (!m)
		return;
	free(m->arena16);
	free(m->ones);
	free(m->arena);
	free(m->off);
	free(m);
}

/* Stores v, rounded once to the model's dtype, at element pos of tensor idx. */
static void nb_put(struct nb_model *m, size_t idx, size_t pos, long double v)
{
	size_t at = m->off[idx] + pos;

	if (m->dtype == NB_DTYPE_F64)
		((double *)m->arena)[at] = (double)v;
	else if (m->dtype == NB_DTYPE_F32)
		((float *)m->arena)[at] = (float)v;
	else
		((float *)m->arena)[at] = nb_round_bf16(v);
}

/* Copies a long-double tensor into columns [col, col + t->cols) of tensor idx. */
static void nb_put_tensor(struct nb_model *m, size_t idx, size_t col, const struct nb_ref_tensor *t)
{
	size_t ld = m->cols[idx];

	for (size_t r = 0; r < t->rows; r++)
		for (size_t c = 0; c < t->cols; c++)
			nb_put(m, idx, r * ld + col + c, t->v[r * t->cols + c]);
}

enum nb_status nb_model_from_ref(const struct nb_ref_model *ref, enum nb_dtype dtype,
				 struct nb_model **out)
{
	struct nb_model *m;
	enum nb_status st;
	size_t a, f;

	*out = NULL;
	if (!ref)
		return nb_fail(NB_ERR_INVALID, "model: no long-double model given");
	st = nb_model_alloc(&ref->shape, ref->norm, dtype, &m);
	if (st != NB_OK)
		return st;
	m->scale_after_act = ref->flash_scale_after_act;
	a = m->a;
	f = ref->shape.ffn;
	nb_put_tensor(m, NB_MW_TOK, 0, &ref->tok);
	nb_put_tensor(m, NB_MW_POS, 0, &ref->pos);
	nb_put_tensor(m, NB_MW_NORMF_G, 0, &ref->normf_g);
	nb_put_tensor(m, NB_MW_NORMF_B, 0, &ref->normf_b);
	nb_put_tensor(m, NB_MW_HEAD, 0, &ref->head);
	nb_put_tensor(m, NB_MW_BHEAD, 0, &ref->bhead);
	for (size_t l = 0; l < ref->shape.layers; l++) {
		const struct nb_ref_layer *y = &ref->layer[l];
		nb_put_tensor(m, NB_WIDX(l, NB_LW_N1G), 0, &y->norm1_g);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_N1B), 0, &y->norm1_b);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_WQKV), 0, &y->wq);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_WQKV), a, &y->wk);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_WQKV), 2 * a, &y->wv);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_BQKV), 0, &y->bq);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_BQKV), a, &y->bk);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_BQKV), 2 * a, &y->bv);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_WO), 0, &y->wo);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_BO), 0, &y->bo);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_N2G), 0, &y->norm2_g);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_N2B), 0, &y->norm2_b);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_W13), 0, &y->w1);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_B13), 0, &y->b1);
		if (ref->shape.ffn_kind == NB_FFN_SWIGLU) {
			nb_put_tensor(m, NB_WIDX(l, NB_LW_W13), f, &y->w3);
			nb_put_tensor(m, NB_WIDX(l, NB_LW_B13), f, &y->b3);
		}
		nb_put_tensor(m, NB_WIDX(l, NB_LW_W2), 0, &y->w2);
		nb_put_tensor(m, NB_WIDX(l, NB_LW_B2), 0, &y->b2);
	}
	st = nb_model_finish(m);
	if (st != NB_OK) {
		nb_model_free(m);
		return st;
	}
	*out = m;
	return NB_OK;
}

/* Kinds of random fill of nb_model_create, after nb_ref_model_random. */
enum nb_fill { NB_FILL_MAT, NB_FILL_GAIN, NB_FILL_NBIAS, NB_FILL_BIAS, NB_FILL_EMB,
	       NB_FILL_WRITER, NB_FILL_WBIAS };

static void nb_fill(struct nb_model *m, struct nb_rng *rng, size_t idx, enum nb_fill kind,
		    long double scale)
{
	size_t rows = m->rows[idx], cols = m->cols[idx];

	for (size_t r = 0; r < rows; r++) {
		long double off = kind == NB_FILL_EMB || kind == NB_FILL_WRITER || kind == NB_FILL_WBIAS
			? (long double)nb_rng_normal(rng) : 0.0L;
		for (size_t c = 0; c < cols; c++) {
			long double v;
			switch (kind) {
			case NB_FILL_GAIN:
				v = 0.5L + (long double)nb_rng_uniform(rng);
				break;
			case NB_FILL_EMB:
				v = scale * ((long double)nb_rng_normal(rng) + off);
				break;
			case NB_FILL_WRITER:
				v = scale * ((long double)nb_rng_normal(rng) + 0.5L * off);
				break;
			case NB_FILL_WBIAS:
				v = 0.1L * (long double)nb_rng_normal(rng) + 0.3L * off;
				break;
			default:
				v = scale * (long double)nb_rng_normal(rng);
				break;
			}
			nb_put(m, idx, r * cols + c, v);
		}
	}
}

enum nb_status nb_model_create(const struct nb_model_shape *s, enum nb_norm_kind norm,
			       enum nb_dtype dtype, uint64_t seed, struct nb_model **out)
{
	struct nb_model *m;
	struct nb_rng rng;
	enum nb_status st = nb_model_alloc(s, norm, dtype, &m);
	long double n, a, f;

	*out = NULL;
	if (st != NB_OK)
		return st;
	n = (long double)m->n;
	a = (long double)m->a;
	f = (long double)s->ffn;
	nb_rng_seed(&rng, seed);
	nb_fill(m, &rng, NB_MW_TOK, NB_FILL_EMB, 3.0L);
	nb_fill(m, &rng, NB_MW_POS, NB_FILL_EMB, 1.5L);
	for (size_t l = 0; l < s->layers; l++) {
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_N1G), NB_FILL_GAIN, 1.0L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_N1B), NB_FILL_NBIAS, 0.2L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_WQKV), NB_FILL_MAT, 1.0L / sqrtl(n));
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_BQKV), NB_FILL_BIAS, 0.1L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_WO), NB_FILL_WRITER, 1.0L / sqrtl(a));
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_BO), NB_FILL_WBIAS, 1.0L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_N2G), NB_FILL_GAIN, 1.0L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_N2B), NB_FILL_NBIAS, 0.2L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_W13), NB_FILL_MAT, 1.0L / sqrtl(n));
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_B13), NB_FILL_BIAS, 0.1L);
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_W2), NB_FILL_WRITER, 1.0L / sqrtl(f));
		nb_fill(m, &rng, NB_WIDX(l, NB_LW_B2), NB_FILL_WBIAS, 1.0L);
	}
	nb_fill(m, &rng, NB_MW_NORMF_G, NB_FILL_GAIN, 1.0L);
	nb_fill(m, &rng, NB_MW_NORMF_B, NB_FILL_NBIAS, 0.2L);
	nb_fill(m, &rng, NB_MW_HEAD, NB_FILL_MAT, 1.0L / sqrtl(n));
	nb_fill(m, &rng, NB_MW_BHEAD, NB_FILL_BIAS, 0.1L);
	st = nb_model_finish(m);
	if (st != NB_OK) {
		nb_model_free(m);
		return st;
	}
	*out = m;
	return NB_OK;
}

const struct nb_model_shape *nb_model_shape_of(const struct nb_model *m)
{
	return &m->shape;
}

enum nb_norm_kind nb_model_norm_of(const struct nb_model *m)
{
	return m->norm;
}

enum nb_dtype nb_model_dtype_of(const struct nb_model *m)
{
	return m->dtype;
}

size_t nb_model_width(const struct nb_model *m)
{
	return m->n;
}

const char *nb_model_kernel_name(const struct nb_model *m)
{
	return m->kname;
}

size_t nb_model_weight_bytes(const struct nb_model *m)
{
	size_t elems = 0, es = nb_dtype_traits[m->dtype].size;

	for (size_t i = 0; i < m->ntensors; i++)
		elems += m->len[i];
	return elems * es;
}

/* ---- workspaces ---- */

enum nb_status nb_model_ws_create(const struct nb_model *m, size_t seq, int threads,
				  struct nb_model_ws **out)
{
	return nb_model_ws_create_kv(m, seq, 0, threads, out);
}

enum nb_status nb_model_ws_create_kv(const struct nb_model *m, size_t seq, size_t kv_cap,
				     int threads, struct nb_model_ws **out)
{
	struct nb_model_ws *ws;
	size_t n = m->n, a = m->a, f = m->shape.ffn, total, cs = m->csize;
	size_t keys = kv_cap > seq ? kv_cap : seq;
	char *p;

	*out = NULL;
	if (seq == 0 || seq > m->shape.max_seq)
		return nb_fail(NB_ERR_INVALID, "model workspace: seq must be in [1, %zu]",
			       m->shape.max_seq);
	if (kv_cap > m->shape.max_seq)
		return nb_fail(NB_ERR_INVALID, "model workspace: a KV cache of %zu positions "
			       "exceeds the model's %zu", kv_cap, m->shape.max_seq);
	if (threads < 0)
		return nb_fail(NB_ERR_INVALID, "model workspace: threads must be >= 0");
	ws = calloc(1, sizeof(*ws));
	if (!ws)
		return nb_fail(NB_ERR_NOMEM, "no memory for a model workspace");
	ws->seq = seq;
	ws->threads = threads;
	ws->kv_cap = kv_cap;
	if (kv_cap) {
		size_t kvb = (m->shape.layers * kv_cap * 2 * a * cs + 63) & ~(size_t)63;
		ws->kv = aligned_alloc(64, kvb);
		if (!ws->kv) {
			free(ws);
			return nb_fail(NB_ERR_NOMEM, "no memory for a KV cache");
		}
		memset(ws->kv, 0, kvb);   /* touched here, never on the forward path */
	}
	/* x, h, y: seq x n; qkv: 3a; o: a; z: f13; hf: f; s: seq x keys (keys =
	 * max(seq, kv_cap)); logits: V;
	 * each buffer rounded up to 64 bytes */
	{
		size_t sizes[9] = { seq * n, seq * n, seq * 3 * a, seq * a, seq * n,
				    seq * m->f13, seq * f, seq * keys, seq * m->shape.vocab };
		void **slots[9] = { &ws->x, &ws->h, &ws->qkv, &ws->o, &ws->y, &ws->z, &ws->hf,
				    &ws->s, &ws->logits };
		total = 0;
		for (int i = 0; i < 9; i++)
			total += (sizes[i] * cs + 63) & ~(size_t)63;
		total += 2 * ((seq * n * sizeof(struct nb_bf16) + 63) & ~(size_t)63);
		ws->pool = aligned_alloc(64, total);
		if (!ws->pool) {
			free(ws->kv);
			free(ws);
			return nb_fail(NB_ERR_NOMEM, "no memory for a model workspace");
		}
		/* touch every page now, never on the forward path */
		memset(ws->pool, 0, total);
		p = ws->pool;
		for (int i = 0; i < 9; i++) {
			*slots[i] = p;
			p += (sizes[i] * cs + 63) & ~(size_t)63;
		}
		ws->x16 = (struct nb_bf16 *)p;
		p += (seq * n * sizeof(struct nb_bf16) + 63) & ~(size_t)63;
		ws->y16 = (struct nb_bf16 *)p;
	}
	*out = ws;
	return NB_OK;
}

void nb_model_ws_free(struct nb_model_ws *ws)
{
	if (!ws)
		return;
	free(ws->kv);
	free(ws->pool);
	free(ws);
}

void *nb_model_ws_stream(struct nb_model_ws *ws)
{
	return ws->x;
}

static enum nb_status nb_check_seq(const struct nb_model *m, const struct nb_model_ws *ws,
				   size_t seq)
{
	if (!m || !ws)
		return nb_fail(NB_ERR_INVALID, "model: no model or workspace");
	if (seq == 0 || seq > ws->seq)
		return nb_fail(NB_ERR_INVALID, "model: seq %zu outside the workspace's [1, %zu]",
			       seq, ws->seq);
	return NB_OK;
}

enum nb_status nb_model_stream_set(const struct nb_model *m, struct nb_model_ws *ws,
				   size_t seq, const double *x)
{
	enum nb_status st = nb_check_seq(m, ws, seq);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < seq * m->n; i++) {
		if (m->dtype == NB_DTYPE_F64)
			((double *)ws->x)[i] = x[i];
		else if (m->dtype == NB_DTYPE_F32)
			((float *)ws->x)[i] = (float)x[i];
		else
			((float *)ws->x)[i] = nb_round_bf16((long double)x[i]);
	}
	return NB_OK;
}

enum nb_status nb_model_stream_get(const struct nb_model *m, const struct nb_model_ws *ws,
				   size_t seq, double *x)
{
	enum nb_status st = nb_check_seq(m, ws, seq);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < seq * m->n; i++)
		x[i] = m->dtype == NB_DTYPE_F64 ? ((const double *)ws->x)[i]
						: (double)((const float *)ws->x)[i];
	return NB_OK;
}

static void nb_blas_threads(const struct nb_model_ws *ws)
{
	if (ws->threads > 0 && openblas_get_num_threads() != ws->threads)
		openblas_set_num_threads(ws->threads);
}

enum nb_status nb_model_embed(const struct nb_model *m, struct nb_model_ws *ws,
			      const uint32_t *tokens, size_t seq)
{
	return nb_model_embed_at(m, ws, tokens, seq, 0);
}

enum nb_status nb_model_embed_at(const struct nb_model *m, struct nb_model_ws *ws,
				 const uint32_t *tokens, size_t seq, size_t pos0)
{
	enum nb_status st = nb_check_seq(m, ws, seq);

	if (st != NB_OK)
		return st;
	if (!tokens)
		return nb_fail(NB_ERR_INVALID, "model: no tokens");
	if (pos0 > m->shape.max_seq - seq)
		return nb_fail(NB_ERR_INVALID, "model: positions %zu..%zu beyond %zu", pos0,
			       pos0 + seq - 1, m->shape.max_seq);
	for (size_t t = 0; t < seq; t++)
		if (tokens[t] >= m->shape.vocab)
			return nb_fail(NB_ERR_INVALID, "model: token %u >= vocab %zu", tokens[t],
				       m->shape.vocab);
	if (m->dtype == NB_DTYPE_F64)
		nb_embed_d(m, ws, tokens, seq, pos0);
	else
		nb_embed_f(m, ws, tokens, seq, pos0);
	return NB_OK;
}

enum nb_status nb_model_layer_forward(const struct nb_model *m, struct nb_model_ws *ws,
				      size_t layer, size_t seq)
{
	return nb_model_layer_forward_at(m, ws, layer, seq, 0);
}

enum nb_status nb_model_layer_forward_at(const struct nb_model *m, struct nb_model_ws *ws,
					 size_t layer, size_t seq, size_t pos0)
{
	enum nb_status st = nb_check_seq(m, ws, seq);

	if (st != NB_OK)
		return st;
	if (layer >= m->shape.layers)
		return nb_fail(NB_ERR_INVALID, "model: layer %zu of %zu", layer, m->shape.layers);
	if (ws->kv_cap ? pos0 > ws->kv_cap - seq || seq > ws->kv_cap : pos0 != 0)
		return nb_fail(NB_ERR_INVALID, "model: positions from %zu need a KV cache of "
			       "%zu (have %zu)", pos0, pos0 + seq, ws->kv_cap);
	nb_blas_threads(ws);
	return m->dtype == NB_DTYPE_F64 ? nb_layer_d(m, ws, layer, seq, pos0)
					: nb_layer_f(m, ws, layer, seq, pos0);
}

enum nb_status nb_model_kv_fill(const struct nb_model *m, struct nb_model_ws *ws, size_t ctx,
				uint64_t seed)
{
	size_t row = 2 * m->a;
	struct nb_rng rng;

	if (!m || !ws || ctx > ws->kv_cap)
		return nb_fail(NB_ERR_INVALID, "model: %zu cached positions need a KV cache of "
			       "that size (have %zu)", ctx, ws ? ws->kv_cap : 0);
	nb_rng_seed(&rng, seed);
	for (size_t l = 0; l < m->shape.layers; l++)
		for (size_t i = 0; i < ctx * row; i++) {
			double v = nb_rng_normal(&rng);
			size_t at = l * ws->kv_cap * row + i;
			if (m->dtype == NB_DTYPE_F64)
				((double *)ws->kv)[at] = v;
			else if (m->dtype == NB_DTYPE_F32)
				((float *)ws->kv)[at] = (float)v;
			else
				((float *)ws->kv)[at] = nb_round_bf16((long double)v);
		}
	return NB_OK;
}

enum nb_status nb_model_forward(const struct nb_model *m, struct nb_model_ws *ws,
				const uint32_t *tokens, size_t seq, double *logits)
{
	enum nb_status st = nb_model_embed(m, ws, tokens, seq);

	if (st != NB_OK)
		return st;
	if (!logits)
		return nb_fail(NB_ERR_INVALID, "model: no logits buffer");
	for (size_t l = 0; l < m->shape.layers && st == NB_OK; l++)
		st = nb_model_layer_forward(m, ws, l, seq);
	if (st != NB_OK)
		return st;
	return m->dtype == NB_DTYPE_F64 ? nb_final_d(m, ws, seq, logits)
					: nb_final_f(m, ws, seq, logits);
}

enum nb_status nb_model_forward_decode(const struct nb_model *m, struct nb_model_ws *ws,
				       const uint32_t *tokens, size_t ctx, double *logits)
{
	enum nb_status st = NB_OK;

	if (!m || !ws || !logits || ws->kv_cap < ctx + 1 || (ctx && ws->seq < ctx))
		return nb_fail(NB_ERR_INVALID, "model decode: needs a workspace of %zu tokens "
			       "and a KV cache of %zu positions", ctx, ctx + 1);
	if (ctx)
		st = nb_model_embed(m, ws, tokens, ctx);
	for (size_t l = 0; ctx && l < m->shape.layers && st == NB_OK; l++)
		st = nb_model_layer_forward_at(m, ws, l, ctx, 0);
	if (st == NB_OK)
		st = nb_model_embed_at(m, ws, tokens + ctx, 1, ctx);
	for (size_t l = 0; l < m->shape.layers && st == NB_OK; l++)
		st = nb_model_layer_forward_at(m, ws, l, 1, ctx);
	if (st != NB_OK)
		return st;
	return m->dtype == NB_DTYPE_F64 ? nb_final_d(m, ws, 1, logits)
					: nb_final_f(m, ws, 1, logits);
}

/* ---- single-layer arrangements ---- */

enum nb_status nb_model_norm_linear(enum nb_dtype dtype, const struct nb_norm_linear *a,
				    double *z, char *kernel_name)
{
	if (!a || !z || !a->x || a->rows == 0 || a->n == 0)
		return nb_fail(NB_ERR_INVALID, "norm_linear: missing arguments");
	if (!nb_model_dtype_supported(dtype))
		return nb_fail(NB_ERR_UNSUPPORTED, "norm_linear runs f32, f64 or bf16");
	if ((unsigned)a->arr >= NB_NL_COUNT)
		return nb_fail(NB_ERR_INVALID, "norm_linear: unknown arrangement");
	if (a->arr != NB_NL_NORM && (a->m == 0 || !a->w))
		return nb_fail(NB_ERR_INVALID, "norm_linear: a product needs W and m >= 1");
	if ((a->arr == NB_NL_NORM || a->arr == NB_NL_NORM_LINEAR) &&
	    (a->kind != NB_NORM_LAYERNORM && a->kind != NB_NORM_RMSNORM &&
	     a->kind != NB_NORM_CRMSNORM))
		return nb_fail(NB_ERR_INVALID, "norm_linear: the norm must be LN, RMS or CRMS");
	if ((a->arr == NB_NL_NORM || a->arr == NB_NL_NORM_LINEAR || a->fold) && !a->gain)
		return nb_fail(NB_ERR_INVALID, "norm_linear: a gain is needed");
	return dtype == NB_DTYPE_F64 ? nb_norm_linear_d(dtype, a, z, kernel_name)
				     : nb_norm_linear_f(dtype, a, z, kernel_name);
}
