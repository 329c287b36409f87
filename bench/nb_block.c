/* The end-to-end block benchmark: the models of each normalization
 * arrangement, the timed layer call, its once-per-cell check against the
 * Pre-LN model, the norm-projection plan and the derived figures. */
#include "bench/nb_block.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_stats.h"
#include "common/nb_cli.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_matmul.h"
#include "verify/nb_claims.h"
#include "verify/nb_model.h"
#include "verify/nb_transform.h"

#define NB_ARR_COUNT ((int)NB_BLOCK_ARR_COUNT)
#define NB_KIND_COUNT ((int)NB_NORM_COUNT)

/* ---- configuration ---- */

static void nb_axis(size_t *dst, size_t *n, const size_t *src, size_t count)
{
	memcpy(dst, src, count * sizeof(*src));
	*n = count;
}

void nb_block_preset(enum nb_block_level level, struct nb_block_config *c)
{
	memset(c, 0, sizeof(*c));
	c->layer = true;
	c->normproj = true;
	c->ffn = NB_FFN_SWIGLU;
	c->dtype = NB_DTYPE_F32;
	c->check_d = NB_BLOCK_CHECK_D;
	c->seed = 42;
	c->eps = 1e-5;
	c->fault = NB_BLOCK_FAULT_NONE;
	if (level == NB_BLOCK_TINY) {
		static const size_t d[] = { 128 }, seq[] = { 1, 16 }, np[] = { 1, 16 };
		static const size_t ctx[] = { 8, 32 };
		nb_axis(c->d, &c->nd, d, 1);
		nb_axis(c->seq, &c->nseq, seq, 2);
		nb_axis(c->ctx, &c->nctx, ctx, 2);
		nb_axis(c->np_tokens, &c->nnp, np, 2);
		c->np_d = c->np_m = 256;
	} else if (level == NB_BLOCK_REDUCED) {
		static const size_t d[] = { 1024, 4096 }, seq[] = { 1, 128 };
		static const size_t np[] = { 1, 4, 16, 64, 128, 512 };
		static const size_t ctx[] = { 512, 2048 };
		nb_axis(c->d, &c->nd, d, 2);
		nb_axis(c->ctx, &c->nctx, ctx, 2);
		nb_axis(c->seq, &c->nseq, seq, 2);
		nb_axis(c->np_tokens, &c->nnp, np, 6);
		c->np_d = c->np_m = 4096;
	} else {
		static const size_t d[] = { 1024, 2048, 4096 }, seq[] = { 1, 16, 128, 512 };
		static const size_t np[] = { 1, 16, 128, 512, 2048 };
		static const size_t ctx[] = { 512, 2048 };
		nb_axis(c->d, &c->nd, d, 3);
		nb_axis(c->ctx, &c->nctx, ctx, 2);
		nb_axis(c->seq, &c->nseq, seq, 4);
		nb_axis(c->np_tokens, &c->nnp, np, 5);
		c->np_d = c->np_m = 4096;
	}
}

enum nb_block_level nb_block_level_for(const char *preset, bool only_block)
{
	if (preset && strcmp(preset, "quick") == 0)
		return NB_BLOCK_TINY;
	if (preset && (strcmp(preset, "paper") == 0 || strcmp(preset, "vendor") == 0))
		return NB_BLOCK_FULL;
	return only_block ? NB_BLOCK_FULL : NB_BLOCK_REDUCED;
}

enum nb_status nb_block_parse_d(const char *csv, struct nb_block_config *c)
{
	return nb_cli_parse_sizes(csv, 8, 16384, NB_BLOCK_MAX_AXIS, "--block-d",
				  c->d, &c->nd);
}

enum nb_status nb_block_parse_seq(const char *csv, struct nb_block_config *c)
{
	return nb_cli_parse_sizes(csv, 1, 4096, NB_BLOCK_MAX_AXIS, "--block-seq",
				  c->seq, &c->nseq);
}

enum nb_status nb_block_parse_context(const char *csv, struct nb_block_config *c)
{
	return nb_cli_parse_sizes(csv, 1, 4095, NB_BLOCK_MAX_AXIS, "--block-context",
				  c->ctx, &c->nctx);
}

enum nb_status nb_block_parse_normproj_tokens(const char *csv, struct nb_block_config *c)
{
	return nb_cli_parse_sizes(csv, 1, 4096, NB_BLOCK_MAX_AXIS, "--normproj-tokens",
				  c->np_tokens, &c->nnp);
}

enum nb_status nb_block_parse_ffn(const char *name, struct nb_block_config *c)
{
	if (name && strcmp(name, "swiglu") == 0)
		c->ffn = NB_FFN_SWIGLU;
	else if (name && strcmp(name, "gelu") == 0)
		c->ffn = NB_FFN_GELU;
	else
		return nb_fail(NB_ERR_INVALID, "--block-ffn: '%s' is neither swiglu nor gelu",
			       name ? name : "");
	return NB_OK;
}

void nb_block_shape(size_t d, enum nb_ffn_kind ffn, size_t max_seq, double eps,
		    struct nb_model_shape *s)
{
	size_t dh = d / 2 < 128 ? d / 2 : 128, mult = d >= 1024 ? 256 : 16;

	if (dh == 0)
		dh = 1;
	memset(s, 0, sizeof(*s));
	s->vocab = NB_BLOCK_VOCAB;
	s->max_seq = max_seq;
	s->d = d;
	s->head_dim = dh;
	s->heads = d / dh;
	s->ffn = ffn == NB_FFN_GELU ? 4 * d : (8 * d + 3 * mult - 1) / (3 * mult) * mult;
	s->layers = 1;
	s->ffn_kind = ffn;
	s->eps = eps;
}

const char *nb_block_arr_name(enum nb_block_arr arr)
{
	static const char *const names[NB_BLOCK_ARR_COUNT] = {
		[NB_BLOCK_PRELN] = "preln", [NB_BLOCK_PRERMS] = "prermsnorm",
		[NB_BLOCK_PRECRMS] = "precrmsnorm", [NB_BLOCK_FLASH] = "flashnorm",
		[NB_BLOCK_NONORM] = "nonorm", [NB_BLOCK_PRELN_AA] = "preln_aa",
	};

	return (unsigned)arr < NB_BLOCK_ARR_COUNT ? names[arr] : "?";
}

enum nb_norm_kind nb_block_arr_norm(enum nb_block_arr arr)
{
	return arr == NB_BLOCK_PRELN_AA ? NB_NORM_LAYERNORM : (enum nb_norm_kind)arr;
}

/* ---- plans ---- */

/* Positions a model must embed: the longest prefill, and for the decode
 * cells the longest context plus the new token. */
static size_t nb_max_seq(const struct nb_block_config *c)
{
	size_t mx = 1;

	for (size_t i = 0; i < c->nseq; i++) {
		mx = c->seq[i] > mx ? c->seq[i] : mx;
		for (size_t j = 0; c->seq[i] == 1 && j < c->nctx; j++)
			mx = c->ctx[j] + 1 > mx ? c->ctx[j] + 1 : mx;
	}
	return mx;
}

/* Contexts of the cells of seq tokens: c->ctx for one token (none listed:
 * a one-token prefill, context 0), else 0. */
static size_t nb_contexts(const struct nb_block_config *c, size_t seq, const size_t **ctx)
{
	static const size_t none[1] = { 0 };

	*ctx = seq == 1 && c->nctx ? c->ctx : none;
	return seq == 1 && c->nctx ? c->nctx : 1;
}

enum nb_status nb_block_plan(const struct nb_block_config *c, const int *threads,
			     size_t nthreads, int first_group, struct nb_block_cell **cells,
			     size_t *ncells)
{
	size_t n = 0, total = 0;
	int group = first_group;
	const size_t *ctx;

	for (size_t si = 0; c->layer && si < c->nseq; si++)
		total += c->nd * nb_contexts(c, c->seq[si], &ctx) * nthreads * NB_ARR_COUNT;

	*cells = NULL;
	*ncells = 0;
	if (total == 0)
		return NB_OK;
	if (c->dtype != NB_DTYPE_F32)
		return nb_fail(NB_ERR_UNSUPPORTED, "the block benchmark times f32 models only");
	*cells = calloc(total, sizeof(**cells));
	if (!*cells)
		return nb_fail(NB_ERR_NOMEM, "no memory for the block plan");
	for (size_t di = 0; di < c->nd; di++)
		for (size_t si = 0; si < c->nseq; si++)
			for (size_t ci = 0; ci < nb_contexts(c, c->seq[si], &ctx); ci++)
				for (size_t ti = 0; ti < nthreads; ti++, group++)
					for (int a = 0; a < NB_ARR_COUNT; a++)
						(*cells)[n++] = (struct nb_block_cell){
							.arr = (enum nb_block_arr)a,
							.d = c->d[di], .seq = c->seq[si],
							.context = ctx[ci],
							.threads = threads[ti], .group = group,
						};
	*ncells = n;
	return NB_OK;
}

enum nb_status nb_block_plan_normproj(const struct nb_block_config *c, const int *threads,
				      size_t nthreads, int first_group,
				      struct nb_planned_cell **cells, size_t *ncells)
{
	const struct nb_kernel *k[2];
	char name[64];
	size_t n = 0, total = c->normproj ? 3 * c->nnp * nthreads : 0;
	int group = first_group;

	*cells = NULL;
	*ncells = 0;
	if (total == 0)
		return NB_OK;
	/* the baseline first: RMSNorm then the GEMM, then FlashNorm fused */
	for (int i = 0; i < 2; i++) {
		snprintf(name, sizeof(name), "flashnorm_fwd_%s_%s", nb_dtype_traits[c->dtype].name,
			 i ? "fused" : "unfused");
		k[i] = nb_kernel_find(name);
		if (!k[i] || !nb_isa_usable(k[i]->isa))
			return nb_fail(NB_ERR_UNSUPPORTED, "normproj: no usable kernel %s", name);
	}
	*cells = calloc(total, sizeof(**cells));
	if (!*cells)
		return nb_fail(NB_ERR_NOMEM, "no memory for the normproj plan");
	for (size_t ri = 0; ri < c->nnp; ri++)
		for (size_t ti = 0; ti < nthreads; ti++, group++)
			for (int i = 0; i < 3; i++)
				(*cells)[n++] = (struct nb_planned_cell){
					.kernel = k[i % 2], .shape = { c->np_tokens[ri], c->np_d },
					.m = c->np_m, .threads = threads[ti],
					.cache = NB_CACHE_HOT, .group = group,
					.suite = i < 2 ? "normproj" : "normproj_aa",
				};
	*ncells = n;
	return NB_OK;
}

/* ---- sizes and cost ---- */

/* Elements of one layer's parameters in arrangement arr. */
static double nb_layer_params(const struct nb_model_shape *s, enum nb_norm_kind arr)
{
	double n = (double)nb_norm_stored(arr, s->d);
	double a = (double)(s->heads * s->head_dim), f = (double)s->ffn;
	double f13 = s->ffn_kind == NB_FFN_SWIGLU ? 2 * f : f;
	double norms = arr == NB_NORM_LAYERNORM ? 4 * n
		: arr == NB_NORM_RMSNORM || arr == NB_NORM_CRMSNORM ? 2 * n : 0;

	return n * 3 * a + 3 * a + a * n + n + n * f13 + f13 + f * n + n + norms;
}

/* Elements of a whole model (embeddings, layers, final norm, head). */
static double nb_model_params(const struct nb_model_shape *s)
{
	double d = (double)s->d;

	return (double)s->layers * nb_layer_params(s, NB_NORM_LAYERNORM) +
	       ((double)s->vocab + (double)s->max_seq) * d + 2 * d + (d + 1) * (double)s->vocab;
}

/* Elements of a model workspace of seq tokens (nb_model_ws_create). */
static double nb_ws_elems(const struct nb_model_shape *s, size_t seq)
{
	double t = (double)seq, d = (double)s->d, a = (double)(s->heads * s->head_dim);
	double f = (double)s->ffn, f13 = s->ffn_kind == NB_FFN_SWIGLU ? 2 * f : f;

	return t * (3 * d + 4 * a + f13 + f + t + (double)s->vocab) + t * d;
}

double nb_block_bytes(const struct nb_block_config *c)
{
	double best = 0, es = (double)nb_dtype_traits[c->dtype].size;
	size_t seq = nb_max_seq(c);
	struct nb_model_shape s;

	for (size_t i = 0; c->layer && i < c->nd; i++) {
		double b;
		nb_block_shape(c->d[i], c->ffn, seq, c->eps, &s);
		b = NB_ARR_COUNT * es * (nb_model_params(&s) + nb_ws_elems(&s, seq));
		/* the long-double family: value and error arenas of 16 bytes */
		if (c->d[i] <= c->check_d)
			b += NB_KIND_COUNT * 32.0 * nb_model_params(&s);
		best = b > best ? b : best;
	}
	if (c->layer) {
		nb_block_shape(c->check_d, c->ffn, seq, c->eps, &s);
		best += NB_KIND_COUNT * 32.0 * nb_model_params(&s) +
			NB_ARR_COUNT * es * nb_model_params(&s);
	}
	return best;
}

/* ---- the model families ---- */

/* The check's cache for one token count: the Pre-LN truth, the no-norm
 * model's own truth, and every arrangement's bound in the working dtype. */
struct nb_truth {
	size_t seq;
	uint32_t *tokens;
	long double *t, *tb;           /* Pre-LN logits in long double, their bound */
	long double *nt, *ntb;         /* the no-norm model's, likewise */
	long double *b[NB_NORM_COUNT]; /* B_w per model arrangement */
	long double *pool;
};

struct nb_family {
	size_t d;
	bool built;
	bool equivalent;                        /* ref[] exist; work[] rounded from them */
	struct nb_model_shape shape;
	struct nb_ref_model *ref[NB_NORM_COUNT];    /* per model arrangement */
	struct nb_model *work[NB_BLOCK_ARR_COUNT];  /* per cell arrangement */
	struct nb_truth *truth;
	size_t ntruth;
};

struct nb_block_session {
	struct nb_block_config cfg;
	size_t max_seq;
	struct nb_family timed;   /* the width of the cells being timed */
	struct nb_family twin;    /* width check_d: the check of wider models */
	size_t live;              /* runs not freed yet */
};

struct nb_block_run {
	struct nb_block_session *s;
	struct nb_block_cell cell;
	const struct nb_model *m;
	struct nb_model_ws *ws;
	void *input;
	size_t input_bytes;
	uint32_t *tokens;      /* the check's tokens (a decode cell: context + 1) */
};

static void nb_family_free(struct nb_family *f)
{
	for (int a = 0; a < NB_KIND_COUNT; a++)
		nb_ref_model_free(f->ref[a]);
	for (int a = 0; a < NB_ARR_COUNT; a++)
		nb_model_free(f->work[a]);
	for (size_t i = 0; i < f->ntruth; i++) {
		free(f->truth[i].tokens);
		free(f->truth[i].pool);
	}
	free(f->truth);
	memset(f, 0, sizeof(*f));
}

static uint64_t nb_model_seed(const struct nb_block_config *c, size_t d)
{
	return c->seed ^ (0x6a09e667f3bcc909ull * (uint64_t)(d + 1));
}

/* The deliberate faults of the tests, on the long-double models before
 * they are rounded to the working dtype. */
static void nb_apply_fault(const struct nb_block_config *c, struct nb_family *f)
{
	struct nb_ref_model *ln = f->ref[NB_NORM_LAYERNORM];

	if (c->fault == NB_BLOCK_FAULT_FLASH_NOFOLD) {
		struct nb_ref_model *fl = f->ref[NB_NORM_FLASHNORM];
		for (size_t l = 0; l < f->shape.layers; l++) {
			struct nb_ref_tensor *dst[5] = { &fl->layer[l].wq, &fl->layer[l].wk,
							 &fl->layer[l].wv, &fl->layer[l].w1,
							 &fl->layer[l].w3 };
			const struct nb_ref_tensor *src[5] = { &ln->layer[l].wq, &ln->layer[l].wk,
							       &ln->layer[l].wv, &ln->layer[l].w1,
							       &ln->layer[l].w3 };
			for (int i = 0; i < 5; i++)
				if (dst[i]->v && src[i]->v)
					memcpy(dst[i]->v, src[i]->v,
					       dst[i]->rows * dst[i]->cols * sizeof(long double));
		}
		memcpy(fl->head.v, ln->head.v, fl->head.rows * fl->head.cols * sizeof(long double));
	} else if (c->fault == NB_BLOCK_FAULT_PERTURB) {
		static const enum nb_norm_kind hit[] = { NB_NORM_RMSNORM, NB_NORM_CRMSNORM,
							 NB_NORM_FLASHNORM };
		struct nb_rng rng;
		nb_rng_seed(&rng, c->seed ^ 0xbadull);
		for (int i = 0; i < 3; i++) {
			struct nb_ref_tensor *w2 = &f->ref[hit[i]]->layer[0].w2;
			for (size_t j = 0; j < w2->rows * w2->cols; j++)
				w2->v[j] *= 1.0L + 0.05L * (long double)nb_rng_normal(&rng);
		}
	}
}

/*
 * Builds the family of width d. equivalent: one random Pre-LN model in
 * long double, nb_transform_chain to every arrangement (no norm: the same
 * weights without norms), each rounded once to the working dtype; else
 * random working models of each arrangement. The A/A copy is built last,
 * the same way as Pre-LN (the same weights, its own allocation).
 */
static enum nb_status nb_family_build(const struct nb_block_session *s, size_t d,
				      bool equivalent, struct nb_family *f)
{
	const struct nb_block_config *c = &s->cfg;
	uint64_t seed = nb_model_seed(c, d);
	enum nb_status st = NB_OK;

	memset(f, 0, sizeof(*f));
	f->d = d;
	f->equivalent = equivalent;
	nb_block_shape(d, c->ffn, s->max_seq, c->eps, &f->shape);
	if (!equivalent) {
		for (int a = 0; a < NB_ARR_COUNT && st == NB_OK; a++)
			st = nb_model_create(&f->shape, nb_block_arr_norm((enum nb_block_arr)a),
					     c->dtype, seed, &f->work[a]);
		goto done;
	}
	st = nb_ref_model_random(&f->shape, NB_NORM_LAYERNORM, seed, &f->ref[NB_NORM_LAYERNORM]);
	for (int a = 1; a < NB_KIND_COUNT && st == NB_OK; a++)
		st = nb_transform_chain(f->ref[NB_NORM_LAYERNORM], (enum nb_norm_kind)a,
					&f->ref[a]);
	if (st == NB_OK)
		nb_apply_fault(c, f);
	for (int a = 0; a < NB_ARR_COUNT && st == NB_OK; a++)
		st = nb_model_from_ref(f->ref[nb_block_arr_norm((enum nb_block_arr)a)], c->dtype,
				       &f->work[a]);
done:
	if (st != NB_OK) {
		nb_family_free(f);
		return st;
	}
	f->built = true;
	return NB_OK;
}

/* The check's truth and bounds for seq tokens (seven long-double forward
 * passes, once per family and token count). */
static enum nb_status nb_family_truth(const struct nb_block_session *s, struct nb_family *f,
				      size_t seq, struct nb_truth **out)
{
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld(), em = nb_ref_errmodel_dtype(s->cfg.dtype);
	struct nb_truth *t, *grown;
	size_t len = seq * f->shape.vocab;
	long double *tmp;
	enum nb_status st = NB_OK;

	for (size_t i = 0; i < f->ntruth; i++)
		if (f->truth[i].seq == seq) {
			*out = &f->truth[i];
			return NB_OK;
		}
	grown = realloc(f->truth, (f->ntruth + 1) * sizeof(*grown));
	if (!grown)
		return nb_fail(NB_ERR_NOMEM, "no memory for the block check");
	f->truth = grown;
	t = &f->truth[f->ntruth];
	memset(t, 0, sizeof(*t));
	t->seq = seq;
	t->tokens = malloc(seq * sizeof(*t->tokens));
	t->pool = malloc((5 + NB_KIND_COUNT) * len * sizeof(long double));
	if (!t->tokens || !t->pool) {
		free(t->tokens);
		free(t->pool);
		return nb_fail(NB_ERR_NOMEM, "no memory for the block check");
	}
	f->ntruth++;
	/* the same tokens for every width: the timed input and the check's */
	nb_ref_model_tokens(&f->shape, s->cfg.seed ^ (uint64_t)seq, t->tokens, seq);
	if (!f->equivalent) {
		*out = t;
		return NB_OK;
	}
	t->t = t->pool;
	t->tb = t->t + len;
	t->nt = t->tb + len;
	t->ntb = t->nt + len;
	tmp = t->ntb + len;
	for (int a = 0; a < NB_KIND_COUNT; a++)
		t->b[a] = tmp + (size_t)(a + 1) * len;
	ld.lambda = NB_CLAIMS_LAMBDA;
	em.lambda = NB_CLAIMS_LAMBDA;
	st = nb_ref_model_forward(f->ref[NB_NORM_LAYERNORM], t->tokens, seq, &ld, t->t, t->tb);
	if (st == NB_OK)
		st = nb_ref_model_forward(f->ref[NB_NORM_NONE], t->tokens, seq, &ld, t->nt, t->ntb);
	for (int a = 0; a < NB_KIND_COUNT && st == NB_OK; a++)
		st = nb_ref_model_forward(f->ref[a], t->tokens, seq, &em, tmp, t->b[a]);
	if (st != NB_OK) {
		/* keep the cache consistent: drop this entry */
		free(t->tokens);
		free(t->pool);
		f->ntruth--;
		return st;
	}
	*out = t;
	return NB_OK;
}

enum nb_status nb_block_session_create(const struct nb_block_config *c,
				       struct nb_block_session **out)
{
	struct nb_block_session *s;

	*out = NULL;
	if (!c || (unsigned)c->fault >= NB_BLOCK_FAULT_COUNT || c->check_d < 8 ||
	    (unsigned)c->ffn >= NB_FFN_COUNT)
		return nb_fail(NB_ERR_INVALID, "block: invalid configuration");
	if (c->dtype != NB_DTYPE_F32)
		return nb_fail(NB_ERR_UNSUPPORTED, "the block benchmark times f32 models only");
	s = calloc(1, sizeof(*s));
	if (!s)
		return nb_fail(NB_ERR_NOMEM, "no memory for a block session");
	s->cfg = *c;
	s->max_seq = nb_max_seq(c);
	*out = s;
	return NB_OK;
}

void nb_block_session_free(struct nb_block_session *s)
{
	if (!s)
		return;
	nb_family_free(&s->timed);
	nb_family_free(&s->twin);
	free(s);
}

/* ---- cells ---- */

enum nb_status nb_block_run_setup(struct nb_block_session *s, const struct nb_block_cell *cell,
				  struct nb_block_run **out)
{
	struct nb_block_run *r;
	struct nb_truth *t;
	enum nb_status st;
	size_t csize = nb_dtype_traits[s->cfg.dtype].size;

	*out = NULL;
	if ((unsigned)cell->arr >= NB_BLOCK_ARR_COUNT || cell->seq == 0 || cell->seq > s->max_seq ||
	    cell->d < 8 || cell->threads < 0 ||
	    (cell->context && (cell->seq != 1 || cell->context + 1 > s->max_seq)))
		return nb_fail(NB_ERR_INVALID, "block: invalid cell (d %zu, seq %zu)", cell->d,
			       cell->seq);
	if (!s->timed.built || s->timed.d != cell->d) {
		if (s->live)
			return nb_fail(NB_ERR_INVALID, "block: cells of width %zu still set up",
				       s->timed.d);
		nb_family_free(&s->timed);
		st = nb_family_build(s, cell->d, cell->d <= s->cfg.check_d, &s->timed);
		if (st != NB_OK)
			return st;
	}
	st = nb_family_truth(s, &s->timed, cell->seq + cell->context, &t);
	if (st != NB_OK)
		return st;
	r = calloc(1, sizeof(*r));
	if (!r)
		return nb_fail(NB_ERR_NOMEM, "no memory for a block cell");
	r->s = s;
	r->cell = *cell;
	r->m = s->timed.work[cell->arr];
	r->tokens = t->tokens;
	st = nb_model_ws_create_kv(r->m, cell->seq, cell->context ? cell->context + 1 : 0,
				   cell->threads, &r->ws);
	if (st == NB_OK && cell->context)
		st = nb_model_kv_fill(r->m, r->ws, cell->context,
				      s->cfg.seed ^ (0x9e3779b97f4a7c15ull * cell->context));
	if (st == NB_OK)
		st = nb_model_embed_at(r->m, r->ws, r->tokens + cell->context, cell->seq,
				       cell->context);
	if (st == NB_OK) {
		r->input_bytes = cell->seq * nb_model_width(r->m) * csize;
		r->input = malloc(r->input_bytes);
		if (!r->input)
			st = nb_fail(NB_ERR_NOMEM, "no memory for a block cell's input");
		else
			memcpy(r->input, nb_model_ws_stream(r->ws), r->input_bytes);
	}
	if (st != NB_OK) {
		nb_model_ws_free(r->ws);
		free(r);
		return st;
	}
	s->live++;
	*out = r;
	return NB_OK;
}

enum nb_status nb_block_run_call(void *ctx)
{
	struct nb_block_run *r = ctx;

	memcpy(nb_model_ws_stream(r->ws), r->input, r->input_bytes);
	return nb_model_layer_forward_at(r->m, r->ws, 0, r->cell.seq, r->cell.context);
}

const void *nb_block_run_output(const struct nb_block_run *r, size_t *bytes)
{
	*bytes = r->input_bytes;
	return nb_model_ws_stream(r->ws);
}

struct nb_cost nb_block_run_cost(const struct nb_block_run *r)
{
	const struct nb_model_shape *s = nb_model_shape_of(r->m);
	double es = (double)nb_dtype_traits[nb_model_dtype_of(r->m)].size;
	double t = (double)r->cell.seq, n = (double)nb_model_width(r->m);
	double a = (double)(s->heads * s->head_dim), f = (double)s->ffn;
	double f13 = s->ffn_kind == NB_FFN_SWIGLU ? 2 * f : f;
	double ctx = (double)r->cell.context, keys = t + ctx;
	struct nb_cost c;

	c.bytes = es * (nb_layer_params(s, nb_block_arr_norm(r->cell.arr)) + 2 * t * n +
			(ctx > 0 ? 2 * keys * a : 0));
	c.flops = 2 * t * n * (3 * a + a + f13 + f) + 4 * t * keys * a;
	return c;
}

/* observed = max|w - t| / max|t|, bound = max(wb + tb) / max|t|; a NaN in w
 * makes observed NaN (never hidden by a max). */
static void nb_block_compare(size_t len, const long double *t, const long double *tb,
			     const double *w, const long double *wb, double *observed,
			     double *bound)
{
	long double mx = 0.0L, obs = 0.0L, bnd = 0.0L;

	for (size_t i = 0; i < len; i++)
		mx = fabsl(t[i]) > mx ? fabsl(t[i]) : mx;
	if (!(mx > 0.0L))
		mx = 1.0L;
	for (size_t i = 0; i < len; i++) {
		long double dd = fabsl((long double)w[i] - t[i]);
		obs = dd > obs || isnan(dd) ? dd : obs;
		bnd = fmaxl(bnd, wb[i] + tb[i]);
	}
	*observed = (double)(obs / mx);
	*bound = (double)(bnd / mx);
}

static const char *const nb_claim_of[NB_BLOCK_ARR_COUNT] = {
	[NB_BLOCK_PRELN] = "Pre-LN", [NB_BLOCK_PRERMS] = "E1",
	[NB_BLOCK_PRECRMS] = "E1+E2", [NB_BLOCK_FLASH] = "E1+E4",
	[NB_BLOCK_NONORM] = "no-norm", [NB_BLOCK_PRELN_AA] = "Pre-LN (A/A copy)",
};

/* The check of r's configuration (see nb_block.h); writes row's verify
 * fields. */
static enum nb_status nb_block_check(struct nb_block_run *r, struct nb_cell_row *row)
{
	struct nb_block_session *s = r->s;
	struct nb_family *f = s->timed.equivalent ? &s->timed : &s->twin;
	enum nb_block_arr arr = r->cell.arr;
	enum nb_norm_kind kind = nb_block_arr_norm(arr);
	struct nb_model_ws *ws = NULL;
	struct nb_truth *t;
	double *lg = NULL, observed, bound;
	size_t len, ctx = r->cell.context, off;
	enum nb_status st = NB_OK;
	int used;

	if (!f->built)
		st = nb_family_build(s, s->cfg.check_d, true, f);
	if (st == NB_OK)
		st = nb_family_truth(s, f, r->cell.seq + ctx, &t);
	if (st != NB_OK)
		return st;
	/* a decode cell: its one token's logits against the truth's last row */
	len = r->cell.seq * f->shape.vocab;
	off = ctx * f->shape.vocab;
	lg = malloc(len * sizeof(*lg));
	if (!lg)
		return nb_fail(NB_ERR_NOMEM, "no memory for the block check");
	/* on the timed model itself when it is the equivalent one; else the
	 * twin runs the same code path (arrangement, dtype, tokens, threads) */
	if (ctx)   /* the cache of the prefill, never the timed cell's */
		st = nb_model_ws_create_kv(f->work[arr], ctx, ctx + 1, r->cell.threads, &ws);
	else if (f == &s->timed)
		ws = r->ws;
	else
		st = nb_model_ws_create(f->work[arr], r->cell.seq, r->cell.threads, &ws);
	if (st == NB_OK && ctx)
		st = nb_model_forward_decode(f->work[arr], ws, t->tokens, ctx, lg);
	else if (st == NB_OK)
		st = nb_model_forward(f->work[arr], ws, t->tokens, r->cell.seq, lg);
	if (st == NB_OK) {
		if (kind == NB_NORM_NONE)
			nb_block_compare(len, t->nt + off, t->ntb + off, lg, t->b[kind] + off,
					 &observed, &bound);
		else
			nb_block_compare(len, t->t + off, t->tb + off, lg, t->b[kind] + off,
					 &observed, &bound);
		row->verified = observed <= bound ? 1 : 0;
		row->err_ratio = bound > 0 ? observed / bound : (double)INFINITY;
		if (ctx)
			used = snprintf(row->verify_note, sizeof(row->verify_note),
					"%s: decode logits after a %zu-token cached prefill vs the "
					"last row of long-double %s over %zu tokens: %.3g %s bound "
					"%.3g", nb_claim_of[arr], ctx,
					kind == NB_NORM_NONE ? "no-norm self" : "Pre-LN", ctx + 1,
					observed, row->verified ? "<=" : "> (FAILED)", bound);
		else
			used = snprintf(row->verify_note, sizeof(row->verify_note),
					"%s: logits vs long-double %s, %zu tokens: %.3g %s bound "
					"%.3g", nb_claim_of[arr],
					kind == NB_NORM_NONE ? "no-norm self" : "Pre-LN", r->cell.seq,
					observed, row->verified ? "<=" : "> (FAILED)", bound);
		if (f != &s->timed && used > 0 && (size_t)used < sizeof(row->verify_note))
			snprintf(row->verify_note + used, sizeof(row->verify_note) - (size_t)used,
				 "; on a d=%zu twin (same code path; no long-double model of "
				 "d=%zu)", f->d, r->cell.d);
	}
	if (ws != r->ws)
		nb_model_ws_free(ws);
	free(lg);
	return st;
}

/* The BLAS routines one layer call of r issues (one extra call, counted
 * by nb_matmul): "gemv", "gemm", "gemv+gemm" or "" (none). */
static void nb_block_routines(struct nb_block_run *r, char *buf, size_t size)
{
	uint64_t v0 = nb_matmul_calls(NB_MATMUL_GEMV), m0 = nb_matmul_calls(NB_MATMUL_GEMM);
	bool gemv, gemm;

	(void)nb_block_run_call(r);
	gemv = nb_matmul_calls(NB_MATMUL_GEMV) > v0;
	gemm = nb_matmul_calls(NB_MATMUL_GEMM) > m0;
	snprintf(buf, size, "%s%s%s", gemv ? "gemv" : "", gemv && gemm ? "+" : "",
		 gemm ? "gemm" : "");
}

enum nb_status nb_block_run_finish(struct nb_block_session *s, struct nb_block_run *r,
				   struct nb_cell_row *row)
{
	const struct nb_model_shape *sh = nb_model_shape_of(r->m);
	const char *kname = nb_model_kernel_name(r->m);
	const struct nb_kernel *k = strcmp(kname, "none") && strcmp(kname, "own")
		? nb_kernel_find(kname) : NULL;
	struct nb_cost cost = nb_block_run_cost(r);
	const char *dt = nb_dtype_traits[s->cfg.dtype].name;
	enum nb_status st;

	nb_res_strcpy(row->suite, sizeof(row->suite), "block");
	nb_res_strcpy(row->variant, sizeof(row->variant), nb_block_arr_name(r->cell.arr));
	nb_res_strcpy(row->impl, sizeof(row->impl), kname);
	nb_res_strcpy(row->isa, sizeof(row->isa), k ? nb_isa_name(k->isa) : "none");
	nb_res_strcpy(row->dtype, sizeof(row->dtype), dt);
	nb_res_strcpy(row->acc, sizeof(row->acc), dt);
	nb_res_strcpy(row->dir, sizeof(row->dir), "fwd");
	nb_res_strcpy(row->algo, sizeof(row->algo), nb_ffn_kind_name(sh->ffn_kind));
	nb_res_strcpy(row->cache, sizeof(row->cache), "hot");
	row->rows = r->cell.seq;
	row->context = r->cell.context;
	row->d = r->cell.d;
	row->n = nb_model_width(r->m);
	row->k = row->n;
	row->m = sh->ffn;
	row->threads = r->cell.threads;
	row->group = r->cell.group;
	row->bytes = cost.bytes;
	row->flops = cost.flops;
	row->working_set_bytes = cost.bytes;
	nb_block_routines(r, row->blas_routine, sizeof(row->blas_routine));
	row->verified = -1;
	row->max_ulps = NAN;
	row->err_ratio = NAN;
	row->verify_note[0] = '\0';
	st = nb_block_check(r, row);
	if (st != NB_OK) {
		row->verified = -1;
		snprintf(row->verify_note, sizeof(row->verify_note), "not checked: %s",
			 nb_error());
	}
	return st;
}

void nb_block_run_free(struct nb_block_run *r)
{
	if (!r)
		return;
	if (r->s && r->s->live)
		r->s->live--;
	nb_model_ws_free(r->ws);
	free(r->input);
	free(r);
}

/* ---- derived figures ---- */

static bool nb_same_group(const struct nb_cell_row *a, const struct nb_cell_row *b)
{
	return strcmp(a->suite, b->suite) == 0 && a->group == b->group && a->rows == b->rows &&
	       a->d == b->d && a->threads == b->threads;
}

/*
 * ratio = median over rounds of b_r / a_r, the samples of cells a and b
 * paired by round (the cells of a group are sampled once per round, in a
 * shuffled order, so drift between rounds cancels in each pair), and the
 * percentile-bootstrap 95% CI of that median (rounds resampled with
 * replacement, 2000 times). Falls back to nb_bootstrap_ratio_ci (unpaired)
 * when the rounds do not pair up. False when there is nothing to compare.
 */
static bool nb_ratio(const struct nb_results *r, size_t ia, size_t ib, uint64_t seed,
		     double *ratio, double *lo, double *hi)
{
	size_t na, nb, k = 0;
	const struct nb_sample_row *sa = nb_results_cell_samples(r, ia, &na);
	const struct nb_sample_row *sb = nb_results_cell_samples(r, ib, &nb);
	double *q, *boot;
	bool paired = sa && sb && na == nb && na >= 3, ok = false;
	struct nb_rng rng;

	for (size_t j = 0; paired && j < na; j++)
		paired = sa[j].round == sb[j].round && sa[j].seconds > 0;
	if (!paired) {
		double *a = sa ? malloc(na * sizeof(*a)) : NULL, *b = sb ? malloc(nb * sizeof(*b)) : NULL;
		for (size_t j = 0; a && j < na; j++)
			a[j] = sa[j].seconds;
		for (size_t j = 0; b && j < nb; j++)
			b[j] = sb[j].seconds;
		ok = a && b && nb_bootstrap_ratio_ci(a, na, b, nb, seed, 2000, 0.95, ratio, lo,
						     hi) == NB_OK;
		free(a);
		free(b);
		return ok;
	}
	q = malloc((na + 2000 + na) * sizeof(*q));
	if (!q)
		return false;
	boot = q + na;
	for (size_t j = 0; j < na; j++)
		q[k++] = sb[j].seconds / sa[j].seconds;
	*ratio = nb_median(q, k);
	nb_rng_seed(&rng, seed);
	for (size_t i = 0; i < 2000; i++) {
		double *draw = boot + 2000;
		for (size_t j = 0; j < k; j++)
			draw[j] = q[nb_rng_below(&rng, k)];
		boot[i] = nb_median(draw, k);
	}
	nb_sort_doubles(boot, 2000);
	*lo = nb_quantile_sorted(boot, 2000, 0.025);
	*hi = nb_quantile_sorted(boot, 2000, 0.975);
	ok = !isnan(*ratio);
	free(q);
	return ok;
}

/* 1 - ratio with its CI (the bounds swap: the ratio's upper end is the
 * smaller reduction). */
static bool nb_one_minus_ratio(const struct nb_results *r, size_t ia, size_t ib, uint64_t seed,
			       double *v, double *lo, double *hi)
{
	double ratio, rlo, rhi;

	if (!nb_ratio(r, ia, ib, seed, &ratio, &rlo, &rhi))
		return false;
	*v = 1 - ratio;
	*lo = 1 - rhi;
	*hi = 1 - rlo;
	return true;
}

enum nb_status nb_block_derive(const struct nb_results *r, size_t cell, uint64_t seed,
			       struct nb_block_derived *out)
{
	const struct nb_cell_row *c;
	size_t preln = SIZE_MAX, nonorm = SIZE_MAX, aa = SIZE_MAX;

	memset(out, 0, sizeof(*out));
	if (!r || cell >= r->ncells)
		return nb_fail(NB_ERR_INVALID, "block derive: no cell %zu", cell);
	c = &r->cells[cell];
	if (strcmp(c->suite, "block") != 0)
		return nb_fail(NB_ERR_INVALID, "block derive: cell %zu is a %s cell", cell,
			       c->suite);
	for (size_t i = 0; i < r->ncells; i++) {
		if (!nb_same_group(c, &r->cells[i]))
			continue;
		if (strcmp(r->cells[i].variant, "preln") == 0)
			preln = i;
		else if (strcmp(r->cells[i].variant, "nonorm") == 0)
			nonorm = i;
		else if (strcmp(r->cells[i].variant, "preln_aa") == 0)
			aa = i;
	}
	/* reduction = 1 - t / t_preln: ratio median(cell) / median(preln) */
	if (preln != SIZE_MAX)
		out->has_reduction = nb_one_minus_ratio(r, preln, cell, seed, &out->reduction,
							&out->reduction_lo, &out->reduction_hi);
	/* share = (t - t_nonorm) / t = 1 - median(nonorm) / median(cell) */
	if (nonorm != SIZE_MAX)
		out->has_share = nb_one_minus_ratio(r, cell, nonorm, seed ^ 1u, &out->share,
						    &out->share_lo, &out->share_hi);
	/* the group's A/A difference, the same for each of its cells */
	if (preln != SIZE_MAX && aa != SIZE_MAX)
		out->has_aa = nb_one_minus_ratio(r, preln, aa, seed ^ 2u, &out->aa, &out->aa_lo,
						 &out->aa_hi);
	return NB_OK;
}

/* ---- self-checks ---- */

/* The cell of r in c's group (same group number, rows, d, threads) of
 * suite su and variant (block) or algo (normproj); SIZE_MAX none. */
static size_t nb_find_in_group(const struct nb_results *r, const struct nb_cell_row *c,
			       const char *su, const char *variant, const char *algo)
{
	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *o = &r->cells[i];
		if (o->group == c->group && o->rows == c->rows && o->d == c->d &&
		    o->threads == c->threads && strcmp(o->suite, su) == 0 &&
		    (!variant || strcmp(o->variant, variant) == 0) &&
		    (!algo || strcmp(o->algo, algo) == 0))
			return i;
	}
	return SIZE_MAX;
}

/* Whether a cell's time is its own: not busy, not oversubscribed. */
static bool nb_judgeable(const struct nb_cell_row *c)
{
	return c->oversubscribed != 1 && !strstr(c->notes, "busy (");
}

/* The A/A margin of a group: max(1 - lo, hi - 1) of t_copy / t_orig. */
static bool nb_aa_margin(const struct nb_results *r, size_t orig, size_t copy, uint64_t seed,
			 double *margin)
{
	double q, lo, hi;

	if (orig == SIZE_MAX || copy == SIZE_MAX ||
	    !nb_judgeable(&r->cells[orig]) || !nb_judgeable(&r->cells[copy]) ||
	    !nb_ratio(r, orig, copy, seed, &q, &lo, &hi))
		return false;
	*margin = fmax(fmax(1 - lo, hi - 1), 0.0);
	return true;
}

static void nb_selfcheck_fail(struct nb_block_selfcheck *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void nb_selfcheck_fail(struct nb_block_selfcheck *out, const char *fmt, ...)
{
	size_t used = strlen(out->text);
	va_list ap;

	out->failed++;
	if (used + 3 >= sizeof(out->text))
		return;
	if (used)
		used += (size_t)snprintf(out->text + used, sizeof(out->text) - used, "; ");
	va_start(ap, fmt);
	vsnprintf(out->text + used, sizeof(out->text) - used, fmt, ap);
	va_end(ap);
}

/* NONORM and THREADS for block cell i. */
static void nb_check_block_cell(const struct nb_results *r, size_t i, uint64_t seed,
				struct nb_block_selfcheck *out)
{
	const struct nb_cell_row *c = &r->cells[i];
	size_t nonorm = nb_find_in_group(r, c, "block", "nonorm", NULL);
	size_t preln = nb_find_in_group(r, c, "block", "preln", NULL);
	size_t aa = nb_find_in_group(r, c, "block", "preln_aa", NULL);
	double margin, q, lo, hi;

	if (strcmp(c->variant, "nonorm") != 0) {
		if (nonorm == SIZE_MAX || !nb_judgeable(c) || !nb_judgeable(&r->cells[nonorm]) ||
		    !nb_aa_margin(r, preln, aa, seed, &margin) ||
		    !nb_ratio(r, nonorm, i, seed ^ 3u, &q, &lo, &hi)) {
			out->skipped++;
		} else {
			out->judged++;
			if (hi < 1 - margin)
				nb_selfcheck_fail(out, "block %s d=%llu seq=%llu threads=%d is %.1f%% "
						  "[%.1f, %.1f] faster than no-norm, beyond the A/A "
						  "interval (+-%.1f%%): the arrangements do not do "
						  "the same work", c->variant,
						  (unsigned long long)c->d, (unsigned long long)c->rows,
						  (int)c->threads, 100 * (1 - q), 100 * (1 - hi),
						  100 * (1 - lo), 100 * margin);
		}
	}
	if (c->threads != 2 || !(c->bytes > 0) || c->flops / c->bytes < NB_BLOCK_GEMM_INTENSITY)
		return;
	for (size_t j = 0; j < r->ncells; j++) {
		const struct nb_cell_row *one = &r->cells[j];
		size_t na, nb;
		const struct nb_sample_row *sa, *sb;
		double *a, *b;
		bool ok;

		if (one->threads != 1 || strcmp(one->suite, "block") != 0 ||
		    strcmp(one->variant, c->variant) != 0 || one->d != c->d ||
		    one->rows != c->rows || one->context != c->context)
			continue;
		if (!nb_judgeable(c) || !nb_judgeable(one) ||
		    !nb_aa_margin(r, preln, aa, seed ^ 5u, &margin)) {
			out->skipped++;
			return;
		}
		sa = nb_results_cell_samples(r, j, &na);
		sb = nb_results_cell_samples(r, i, &nb);
		a = malloc((na + nb + 1) * sizeof(*a));
		if (!sa || !sb || !a) {
			free(a);
			out->skipped++;
			return;
		}
		b = a + na;
		for (size_t k = 0; k < na; k++)
			a[k] = sa[k].seconds;
		for (size_t k = 0; k < nb; k++)
			b[k] = sb[k].seconds;
		ok = nb_bootstrap_ratio_ci(a, na, b, nb, seed ^ 7u, 2000, 0.95, &q, &lo, &hi) ==
		     NB_OK;
		free(a);
		if (!ok) {
			out->skipped++;
			return;
		}
		out->judged++;
		if (lo > 1 + margin)
			nb_selfcheck_fail(out, "block %s d=%llu seq=%llu: 2 threads take %.2fx "
					  "[%.2f, %.2f] the time of 1 on a GEMM-dominated cell "
					  "(A/A +-%.1f%%): the threads compete", c->variant,
					  (unsigned long long)c->d, (unsigned long long)c->rows, q, lo,
					  hi, 100 * margin);
		return;
	}
}

/* FUSED for the normproj group of fused cell i. */
static void nb_check_normproj(const struct nb_results *r, size_t i, uint64_t seed,
			      struct nb_block_selfcheck *out)
{
	const struct nb_cell_row *c = &r->cells[i];
	size_t un = nb_find_in_group(r, c, "normproj", NULL, "unfused");
	size_t aa = nb_find_in_group(r, c, "normproj_aa", NULL, "unfused");
	double margin, q, lo, hi;

	if (un == SIZE_MAX || !nb_judgeable(c) || !nb_judgeable(&r->cells[un]) ||
	    !nb_aa_margin(r, un, aa, seed, &margin) || !nb_ratio(r, un, i, seed ^ 9u, &q, &lo, &hi)) {
		out->skipped++;
		return;
	}
	out->judged++;
	if (lo > 1 + margin || hi < 1 - margin)
		nb_selfcheck_fail(out, "normproj %llu tokens threads=%d: fused takes %.3fx [%.3f, "
				  "%.3f] the unfused time, outside the A/A interval (+-%.1f%%): "
				  "the two arms do not multiply alike", (unsigned long long)c->rows,
				  (int)c->threads, q, lo, hi, 100 * margin);
}

void nb_block_self_check(const struct nb_results *r, uint64_t seed,
			 struct nb_block_selfcheck *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; r && i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		if (strcmp(c->suite, "block") == 0)
			nb_check_block_cell(r, i, seed + i, out);
		else if (strcmp(c->suite, "normproj") == 0 && strcmp(c->algo, "fused") == 0)
			nb_check_normproj(r, i, seed + i, out);
	}
	if (!out->failed)
		snprintf(out->text, sizeof(out->text), "%s (%zu judged, %zu skipped: busy, "
			 "oversubscribed or no A/A cell)", out->judged ? "passed" : "NOT JUDGED",
			 out->judged, out->skipped);
}

static void nb_print_block(const struct nb_results *r, FILE *out)
{
	bool head = false;

	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		struct nb_block_derived dv;

		if (strcmp(c->suite, "block") != 0)
			continue;
		if (!head) {
			fprintf(out, "block: one pre-norm layer (%s, %s) per arrangement; reduction "
				"= 1 - t/t_preln, norm share = (t - t_nonorm)/t, 95%% CIs\n"
				"(preln_aa is a second Pre-LN model: its 'reduction' is the group's "
				"A/A noise floor)\n", c->algo, c->dtype);
			fprintf(out, "(ctx: cached tokens a one-token decode step attends over; "
				"0: a prefill of seq tokens)\n");
			fprintf(out, "%6s %5s %5s %3s  %-12s %11s  %-26s %-26s %s\n", "d", "seq",
				"ctx", "thr", "arrangement", "median ms", "reduction vs Pre-LN",
				"norm share", "check");
			head = true;
		}
		nb_block_derive(r, i, 0x5eedull + i, &dv);
		fprintf(out, "%6llu %5llu %5llu %3d  %-12s %11.4f  ", (unsigned long long)c->d,
			(unsigned long long)c->rows, (unsigned long long)c->context,
			(int)c->threads, c->variant,
			c->median_s * 1e3);
		if (dv.has_reduction && strcmp(c->variant, "preln") != 0)
			fprintf(out, "%+6.2f%% [%+6.2f, %+6.2f]    ", dv.reduction * 100,
				dv.reduction_lo * 100, dv.reduction_hi * 100);
		else
			fprintf(out, "%-26s ", "");
		if (dv.has_share && strcmp(c->variant, "nonorm") != 0)
			fprintf(out, "%+6.2f%% [%+6.2f, %+6.2f]    ", dv.share * 100,
				dv.share_lo * 100, dv.share_hi * 100);
		else
			fprintf(out, "%-26s ", "");
		fprintf(out, "%s%s%s %s\n", c->verified == 1 ? "ok" : c->verified == 0 ? "FAILED"
			: "not checked", c->unstable ? ", unstable" : "",
			c->oversubscribed == 1 ? ", OVERSUBSCRIBED" : "", c->blas_routine);
	}
}

static void nb_print_normproj(const struct nb_results *r, FILE *out)
{
	bool head = false;

	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		double v, lo, hi;
		size_t aa;

		if (strcmp(c->suite, "normproj") != 0 || strcmp(c->algo, "fused") != 0)
			continue;
		for (size_t j = 0; j < r->ncells; j++) {
			const struct nb_cell_row *u = &r->cells[j];
			if (!nb_same_group(c, u) || strcmp(u->algo, "unfused") != 0)
				continue;
			if (!head) {
				fprintf(out, "normproj: RMSNorm then GEMM (unfused) vs FlashNorm "
					"fused, x %llu wide, W %llu x %llu, %s; reduction = 1 - "
					"t_fused/t_unfused, 95%% CI\n", (unsigned long long)c->d,
					(unsigned long long)c->d, (unsigned long long)c->m, c->dtype);
				fprintf(out, "%6s %3s %12s %12s  %-26s %-26s %s\n", "tokens", "thr",
					"unfused ms", "fused ms", "reduction",
					"A/A (unfused copy)", "check");
				head = true;
			}
			fprintf(out, "%6llu %3d %12.4f %12.4f  ", (unsigned long long)c->rows,
				(int)c->threads, u->median_s * 1e3, c->median_s * 1e3);
			aa = nb_find_in_group(r, c, "normproj_aa", NULL, "unfused");
			for (int k = 0; k < 2; k++) {
				if (k == 0 ? nb_one_minus_ratio(r, j, i, 0x5eedull + i, &v, &lo, &hi)
				    : aa != SIZE_MAX && nb_one_minus_ratio(r, j, aa, 0xaaull + i, &v,
									   &lo, &hi))
					fprintf(out, "%+6.2f%% [%+6.2f, %+6.2f]    ", v * 100,
						lo * 100, hi * 100);
				else
					fprintf(out, "%-26s ", "");
			}
			fprintf(out, "%s\n", c->verified == 1 && u->verified == 1 ? "ok"
				: c->verified == 0 || u->verified == 0 ? "FAILED" : "not checked");
		}
	}
}

void nb_block_print_summary(const struct nb_results *r, FILE *out)
{
	if (!r || !out)
		return;
	nb_print_block(r, out);
	nb_print_normproj(r, out);
}
