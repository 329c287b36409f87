/* The equivalence claims E1-E6: each side computed in long double and in the
 * working dtypes, compared against the first-order running error bound of
 * ref/nb_ref_model.c, plus a negative control that must fail by orders of
 * magnitude. */
#include "verify/nb_claims.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_cli.h"
#include "common/nb_dtype.h"
#include "common/nb_rng.h"
#include "ref/nb_ref_model.h"
#include "verify/nb_model.h"
#include "verify/nb_transform.h"

static const char *const nb_claim_ids[NB_CLAIM_COUNT] = { "E1", "E2", "E3", "E4", "E5", "E6" };
static const char *const nb_claim_titles[NB_CLAIM_COUNT] = {
	"Pre-LN == Pre-RMSNorm",
	"Pre-RMSNorm == Pre-CRMSNorm",
	"FlashNorm == RMSNorm then linear",
	"FlashNorm Q/K/V + FFN == unfused",
	"LN-FlashNorm == LayerNorm then linear",
	"LayerNorm == RMSNorm on zero-mean x",
};

const char *nb_claim_title(const char *id)
{
	for (int i = 0; i < NB_CLAIM_COUNT; i++)
		if (id && strcmp(id, nb_claim_ids[i]) == 0)
			return nb_claim_titles[i];
	return NULL;
}

/* dst = the concatenation of the strings up to NULL, cut to cap - 1. */
static void nb_cat(char *dst, size_t cap, ...)
{
	va_list ap;
	const char *part;
	size_t k = 0;

	va_start(ap, cap);
	while ((part = va_arg(ap, const char *)) != NULL)
		for (; *part && k + 1 < cap; part++)
			dst[k++] = *part;
	va_end(ap);
	dst[k] = '\0';
}

/* ---- results ---- */

/* The growing list of claim rows (not bench/nb_results.h's file). */
struct nb_claim_list {
	struct nb_claim_result *r;
	size_t n, cap;
};

/* The comparison of two sides against the long-double truth t (side A in
 * long double, whose own bound is tb). All relative to M = max|t|. */
struct nb_cmp {
	double observed, bound, err_a, err_b, own_a, own_b;
};

static void nb_compare(size_t len, const long double *t, const long double *tb,
		       const long double *a, const long double *ba, const long double *b,
		       const long double *bb, struct nb_cmp *c)
{
	long double mx = 0.0L, obs = 0.0L, bnd = 0.0L, ea = 0.0L, eb = 0.0L, oa = 0.0L, ob = 0.0L;

	for (size_t i = 0; i < len; i++)
		mx = fabsl(t[i]) > mx ? fabsl(t[i]) : mx;
	if (!(mx > 0.0L))
		mx = 1.0L;
	for (size_t i = 0; i < len; i++) {
		long double d = fabsl(a[i] - b[i]);
		/* NaN must not hide: fmaxl would drop it */
		obs = d > obs || isnan(d) ? d : obs;
		bnd = fmaxl(bnd, ba[i] + bb[i]);
		d = fabsl(a[i] - t[i]);
		ea = d > ea || isnan(d) ? d : ea;
		d = fabsl(b[i] - t[i]);
		eb = d > eb || isnan(d) ? d : eb;
		oa = fmaxl(oa, ba[i] + tb[i]);
		ob = fmaxl(ob, bb[i] + tb[i]);
	}
	c->observed = (double)(obs / mx);
	c->bound = (double)(bnd / mx);
	c->err_a = (double)(ea / mx);
	c->err_b = (double)(eb / mx);
	c->own_a = (double)(oa / mx);
	c->own_b = (double)(ob / mx);
}

/* What one result row describes besides the numbers. */
struct nb_row {
	const char *claim, *dtype;
	char name[64];
	bool control;
	uint64_t seed;
	int depth, heads, d, seq;
	double param;
	char note[96];
};

static enum nb_status nb_push(struct nb_claim_list *R, const struct nb_row *w, const struct nb_cmp *c)
{
	struct nb_claim_result *r;

	if (R->n == R->cap) {
		size_t cap = R->cap ? 2 * R->cap : 64;
		struct nb_claim_result *nr = realloc(R->r, cap * sizeof(*nr));
		if (!nr)
			return nb_fail(NB_ERR_NOMEM, "no memory for claim results");
		R->r = nr;
		R->cap = cap;
	}
	r = &R->r[R->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->claim, sizeof(r->claim), "%s", w->claim);
	snprintf(r->name, sizeof(r->name), "%s", w->name);
	snprintf(r->dtype, sizeof(r->dtype), "%s", w->dtype);
	r->control = w->control;
	r->seed = w->seed;
	r->depth = w->depth;
	r->heads = w->heads;
	r->d = w->d;
	r->seq = w->seq;
	r->param = w->param;
	r->observed = c->observed;
	r->bound = c->bound;
	r->err_a = c->err_a;
	r->err_b = c->err_b;
	if (w->control) {
		/* a control passes when the check it breaks fails, by orders */
		r->pass = c->observed >= NB_CONTROL_MARGIN * c->bound;
		nb_cat(r->note, sizeof(r->note), w->note,
		       r->pass ? "" : " | CONTROL DID NOT FAIL BY 100x", (char *)NULL);
	} else {
		bool in_a = c->err_a <= c->own_a, in_b = c->err_b <= c->own_b;
		r->pass = c->observed <= c->bound && in_a && in_b;
		nb_cat(r->note, sizeof(r->note), w->note, in_a ? "" : " | side A beyond its bound",
		       in_b ? "" : " | side B beyond its bound", (char *)NULL);
	}
	return NB_OK;
}

/* ---- dtypes ---- */

struct nb_dt {
	const char *name;
	enum nb_dtype t;   /* NB_DTYPE_COUNT: long double */
};

static size_t nb_dtypes(const struct nb_claims_config *cfg, struct nb_dt *out)
{
	static const enum nb_dtype order[] = { NB_DTYPE_F64, NB_DTYPE_F32, NB_DTYPE_BF16 };
	size_t k = 0;

	out[k++] = (struct nb_dt){ "ld", NB_DTYPE_COUNT };
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (!cfg->dtypes || (cfg->dtypes & (1u << order[i])))
			out[k++] = (struct nb_dt){ nb_dtype_traits[order[i]].name, order[i] };
	return k;
}

/*
 * Controls run in long double, f64 and f32. Not in bf16: its storage
 * rounding (2^-8 per stored value) puts the claims' bounds within two
 * orders of magnitude of (or above) the effects the controls produce
 * (5% - 100%), so a bf16 control could not fail by orders of magnitude.
 */
static bool nb_controls(const struct nb_claims_config *cfg, enum nb_dtype t)
{
	return cfg->controls && t != NB_DTYPE_BF16;
}

/* The error model of a working dtype whose inputs pass through double on
 * their way (nb_model_norm_linear takes doubles): a long double rounded to
 * double, then to the dtype, is within u + 2^-53 of where it started. */
static struct nb_ref_errmodel nb_em_via_double(enum nb_dtype t)
{
	struct nb_ref_errmodel em = nb_ref_errmodel_dtype(t);

	em.u_param += 0x1p-53L;
	return em;
}

/* ---- model claims: E1, E2, E4 ---- */

struct nb_mcfg {
	uint64_t seed;
	size_t d, layers, heads, head_dim, seq;
	enum nb_ffn_kind ffn;
};

static struct nb_model_shape nb_shape(const struct nb_mcfg *c)
{
	return (struct nb_model_shape){
		.vocab = 37, .max_seq = 16, .d = c->d, .heads = c->heads,
		.head_dim = c->head_dim,
		.ffn = c->ffn == NB_FFN_GELU ? 2 * c->d + 3 : (5 * c->d) / 3 + 1,
		.layers = c->layers, .ffn_kind = c->ffn, .eps = 1e-5,
	};
}

/* The three models of a model claim: A (the original), B (transformed),
 * C (the control's transform). */
static enum nb_status nb_model_sides(int claim, const struct nb_mcfg *mc, struct nb_ref_model **a,
				     struct nb_ref_model **b, struct nb_ref_model **c)
{
	struct nb_model_shape s = nb_shape(mc);
	struct nb_ref_model *ln = NULL;
	enum nb_status st;

	*a = *b = *c = NULL;
	switch (claim) {
	case 0: /* E1 */
		st = nb_ref_model_random(&s, NB_NORM_LAYERNORM, mc->seed, a);
		if (st == NB_OK)
			st = nb_transform_ln_to_rms(*a, true, b);
		if (st == NB_OK)
			st = nb_transform_ln_to_rms(*a, false, c);
		break;
	case 1: /* E2: the RMSNorm model E1 makes (zero-mean stream) */
		st = nb_ref_model_random(&s, NB_NORM_LAYERNORM, mc->seed, &ln);
		if (st == NB_OK)
			st = nb_transform_ln_to_rms(ln, true, a);
		if (st == NB_OK)
			st = nb_transform_rms_to_crms(*a, true, b);
		if (st == NB_OK)
			st = nb_transform_rms_to_crms(*a, false, c);
		nb_ref_model_free(ln);
		break;
	default: /* E4: a Pre-RMSNorm model with non-trivial gains */
		st = nb_ref_model_random(&s, NB_NORM_RMSNORM, mc->seed, a);
		if (st == NB_OK)
			st = nb_transform_rms_to_flash(*a, false, b);
		if (st == NB_OK)
			st = nb_transform_rms_to_flash(*a, true, c);
		break;
	}
	if (st != NB_OK) {
		nb_ref_model_free(*a);
		nb_ref_model_free(*b);
		nb_ref_model_free(*c);
		*a = *b = *c = NULL;
	}
	return st;
}

/* Logits of ref in working dtype t, widened to long double. */
static enum nb_status nb_work_logits(const struct nb_ref_model *ref, enum nb_dtype t, int threads,
				     const uint32_t *tok, size_t seq, long double *out, char *kname)
{
	struct nb_model *m = NULL;
	struct nb_model_ws *ws = NULL;
	size_t len = seq * ref->shape.vocab;
	double *lg = malloc(len * sizeof(double));
	enum nb_status st;

	if (!lg)
		return nb_fail(NB_ERR_NOMEM, "no memory for logits");
	st = nb_model_from_ref(ref, t, &m);
	if (st == NB_OK)
		st = nb_model_ws_create(m, seq, threads, &ws);
	if (st == NB_OK)
		st = nb_model_forward(m, ws, tok, seq, lg);
	if (st == NB_OK) {
		for (size_t i = 0; i < len; i++)
			out[i] = (long double)lg[i];
		snprintf(kname, 48, "%s", nb_model_kernel_name(m));
	}
	nb_model_ws_free(ws);
	nb_model_free(m);
	free(lg);
	return st;
}

/* The sides of a claim (truths t*, their bounds b*, working values w*,
 * the bound of side A in the working dtype bA; E6: the control's own truth
 * cA, cAb) and the single-layer claims' scratch. */
struct nb_sl {
	size_t rows, n, m, len;
	long double *x, *xc, *h, *hb, *tA, *bAld, *tB, *bB, *tC, *bC, *bA, *wa, *wb, *wc, *cA, *cAb;
	double *dx, *dg, *db, *dw, *dc, *dcs, *dz;
	void *pool;
};

/* The long-double pass: sides A, B and C are their own truths, side A's
 * bound the long-double one. */
static void nb_sl_exact_sides(struct nb_sl *s, size_t len)
{
	memcpy(s->bA, s->bAld, len * sizeof(long double));
	memcpy(s->wa, s->tA, len * sizeof(long double));
	memcpy(s->wb, s->tB, len * sizeof(long double));
	memcpy(s->wc, s->tC, len * sizeof(long double));
}

/* Pushes the claim row and (if asked) the control row of one dtype. */
static enum nb_status nb_push_pair(struct nb_claim_list *R, bool controls, struct nb_row *row, const struct nb_sl *s, size_t len,
				   const char *name, const char *cname, const char *note,
				   const char *cnote, const long double *tC_truth,
				   const long double *tC_tb)
{
	struct nb_cmp cmp;
	enum nb_status st;

	nb_compare(len, s->tA, s->bAld, s->wa, s->bA, s->wb, s->bB, &cmp);
	row->control = false;
	snprintf(row->name, sizeof(row->name), "%s", name);
	nb_cat(row->note, sizeof(row->note), note, (char *)NULL);
	st = nb_push(R, row, &cmp);
	if (st != NB_OK || !controls)
		return st;
	/* E6's control has its own truth (another input); the others
	 * compare with side A's */
	nb_compare(len, tC_truth ? tC_truth : s->tA, tC_tb ? tC_tb : s->bAld,
		   tC_truth ? s->cA : s->wa, tC_truth ? s->cAb : s->bA, s->wc, s->bC, &cmp);
	row->control = true;
	snprintf(row->name, sizeof(row->name), "control: %s", cname);
	nb_cat(row->note, sizeof(row->note), cnote, (char *)NULL);
	return nb_push(R, row, &cmp);
}

static const char *const nb_model_claim_names[3][2] = {
	{ "Pre-LN == Pre-RMSNorm", "no recentring of the writers" },
	{ "Pre-RMSNorm == Pre-CRMSNorm", "readers without the correction row" },
	{ "FlashNorm Q/K/V+FFN == unfused", "1/rms after the activation" },
};

static enum nb_status nb_run_model_claim(struct nb_claim_list *R, const struct nb_claims_config *cfg,
					 int claim, const struct nb_mcfg *mc)
{
	struct nb_ref_model *A, *B, *C;
	struct nb_dt dts[4];
	size_t ndt = nb_dtypes(cfg, dts), seq = mc->seq, len;
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld();
	uint32_t tok[16];
	long double *buf = NULL;
	struct nb_sl sd = { 0 };
	int ci = claim == 0 ? 0 : claim == 1 ? 1 : 2;
	enum nb_status st = nb_model_sides(claim, mc, &A, &B, &C);
	struct nb_row row = {
		.claim = nb_claim_ids[claim], .seed = mc->seed, .depth = (int)mc->layers,
		.heads = (int)mc->heads, .d = (int)mc->d, .seq = (int)seq,
	};

	if (st != NB_OK)
		return st;
	ld.lambda = NB_CLAIMS_LAMBDA;
	len = seq * A->shape.vocab;
	buf = malloc(10 * len * sizeof(long double));
	if (!buf) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for a claim");
		goto free_models;
	}
	sd.tA = buf; sd.bAld = buf + len; sd.tB = buf + 2 * len; sd.bB = buf + 3 * len;
	sd.tC = buf + 4 * len; sd.bC = buf + 5 * len; sd.bA = buf + 6 * len;
	sd.wa = buf + 7 * len; sd.wb = buf + 8 * len; sd.wc = buf + 9 * len;
	nb_ref_model_tokens(&A->shape, mc->seed, tok, seq);

	/* long double: both sides to long-double rounding */
	st = nb_ref_model_forward(A, tok, seq, &ld, sd.tA, sd.bAld);
	if (st == NB_OK)
		st = nb_ref_model_forward(B, tok, seq, &ld, sd.tB, sd.bB);
	if (st == NB_OK && cfg->controls)
		st = nb_ref_model_forward(C, tok, seq, &ld, sd.tC, sd.bC);
	if (st != NB_OK)
		goto free_buf;
	for (size_t k = 0; k < ndt && st == NB_OK; k++) {
		char ka[48] = "", kb[48] = "", kc[48] = "";
		char name[sizeof(row.name)], cname[sizeof(row.name)];
		char note[sizeof(row.note)], cnote[sizeof(row.note)];

		row.dtype = dts[k].name;
		if (dts[k].t == NB_DTYPE_COUNT) {
			nb_sl_exact_sides(&sd, len);
		} else {
			struct nb_ref_errmodel em = nb_ref_errmodel_dtype(dts[k].t);
			em.lambda = NB_CLAIMS_LAMBDA;
			/* bounds of each side in this dtype (the values are
			 * recomputed and equal tA, tB, tC) */
			st = nb_ref_model_forward(A, tok, seq, &em, sd.wa, sd.bA);
			if (st == NB_OK)
				st = nb_ref_model_forward(B, tok, seq, &em, sd.wb, sd.bB);
			if (st == NB_OK && nb_controls(cfg, dts[k].t))
				st = nb_ref_model_forward(C, tok, seq, &em, sd.wc, sd.bC);
			if (st == NB_OK)
				st = nb_work_logits(A, dts[k].t, cfg->threads, tok, seq, sd.wa, ka);
			if (st == NB_OK)
				st = nb_work_logits(B, dts[k].t, cfg->threads, tok, seq, sd.wb, kb);
			if (st == NB_OK && nb_controls(cfg, dts[k].t))
				st = nb_work_logits(C, dts[k].t, cfg->threads, tok, seq, sd.wc, kc);
			if (st != NB_OK)
				break;
		}
		snprintf(name, sizeof(name), "%s (%s)", nb_model_claim_names[ci][0],
			 nb_ffn_kind_name(mc->ffn));
		snprintf(cname, sizeof(cname), "%s (%s)", nb_model_claim_names[ci][1],
			 nb_ffn_kind_name(mc->ffn));
		nb_cat(note, sizeof(note), ka, *ka ? " vs " : "", kb, (char *)NULL);
		nb_cat(cnote, sizeof(cnote), ka, *ka ? " vs " : "", kc, (char *)NULL);
		st = nb_push_pair(R, nb_controls(cfg, dts[k].t), &row, &sd, len, name, cname, note,
				  cnote, NULL, NULL);
	}
free_buf:
	free(buf);
free_models:
	nb_ref_model_free(A);
	nb_ref_model_free(B);
	nb_ref_model_free(C);
	return st;
}

enum nb_status nb_claims_check_model(const struct nb_ref_model *preln,
				     const struct nb_ref_model *target,
				     const struct nb_model *work, struct nb_model_ws *ws,
				     const uint32_t *tokens, size_t seq, double *observed,
				     double *bound, bool *pass)
{
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld(), em;
	struct nb_cmp cmp;
	long double *buf;
	double *lg;
	size_t len;
	enum nb_status st;

	if (!preln || !target || !work || !ws || !tokens || !observed || !bound || !pass)
		return nb_fail(NB_ERR_INVALID, "model check: missing argument");
	if (preln->norm != NB_NORM_LAYERNORM || target->norm == NB_NORM_NONE ||
	    target->shape.vocab != preln->shape.vocab || nb_model_norm_of(work) != target->norm)
		return nb_fail(NB_ERR_INVALID,
			       "model check: needs a Pre-LN model, an equivalent target and its working copy");
	len = seq * preln->shape.vocab;
	buf = malloc(4 * len * sizeof(long double) + len * sizeof(double));
	if (!buf)
		return nb_fail(NB_ERR_NOMEM, "no memory for a model check");
	lg = (double *)(buf + 4 * len);
	ld.lambda = NB_CLAIMS_LAMBDA;
	em = nb_ref_errmodel_dtype(nb_model_dtype_of(work));
	em.lambda = NB_CLAIMS_LAMBDA;
	st = nb_ref_model_forward(preln, tokens, seq, &ld, buf, buf + len);
	if (st == NB_OK)
		st = nb_ref_model_forward(target, tokens, seq, &em, buf + 2 * len, buf + 3 * len);
	if (st == NB_OK)
		st = nb_model_forward(work, ws, tokens, seq, lg);
	if (st == NB_OK) {
		/* side A is the truth itself; side B the working model */
		for (size_t i = 0; i < len; i++)
			buf[2 * len + i] = (long double)lg[i];
		nb_compare(len, buf, buf + len, buf, buf + len, buf + 2 * len, buf + 3 * len, &cmp);
		*observed = cmp.observed;
		*bound = cmp.bound;
		*pass = cmp.observed <= cmp.bound;
	}
	free(buf);
	return st;
}

/* ---- single-layer claims: E3, E5, E6 ---- */

struct nb_scfg {
	uint64_t seed;
	size_t n, rows;
	bool bias;       /* E3: with an output bias */
	double ratio;    /* E5: |mean| / std of the rows */
};

/* Rows x n inputs: row t has scale 10^((t mod 5) - 3) (so eps matters in
 * some rows) around mean ratio * (+-1) (E5), all exact long doubles. */
static void nb_rows(struct nb_rng *rng, size_t rows, size_t n, double ratio, long double *x)
{
	for (size_t t = 0; t < rows; t++) {
		long double sigma = ratio > 0.0 ? 1.0L : powl(10.0L, (long double)((int)(t % 5) - 3));
		long double mu = ratio > 0.0
			? (long double)ratio * (nb_rng_uniform(rng) < 0.5 ? -1.0L : 1.0L) : 0.0L;
		for (size_t i = 0; i < n; i++)
			x[t * n + i] = mu + sigma * (long double)nb_rng_normal(rng);
	}
}

/* Zero-mean rows exactly (E6): values on the grid 2^-40 (|x| < 2^8, so
 * every sum of them is exact in long double), the rounded mean subtracted,
 * the remainder taken off the first element. */
static void nb_zero_mean_rows(struct nb_rng *rng, size_t rows, size_t n, long double *x)
{
	for (size_t t = 0; t < rows; t++) {
		long double *xt = x + t * n, s = 0.0L, sigma = powl(10.0L, (long double)((int)(t % 5) - 3));
		for (size_t i = 0; i < n; i++) {
			xt[i] = ldexpl(nearbyintl(ldexpl(sigma * (long double)nb_rng_normal(rng), 40)), -40);
			s += xt[i];
		}
		s = ldexpl(nearbyintl(ldexpl(s / (long double)n, 40)), -40);
		for (size_t i = 0; i < n; i++)
			xt[i] -= s;
		s = 0.0L;
		for (size_t i = 0; i < n; i++)
			s += xt[i];
		xt[0] -= s;
	}
}

static void nb_fill(struct nb_rng *rng, struct nb_ref_tensor *t, long double lo, long double scale,
		    bool uniform)
{
	for (size_t i = 0; i < t->rows * t->cols; i++)
		t->v[i] = uniform ? lo + scale * (long double)nb_rng_uniform(rng)
				  : scale * (long double)nb_rng_normal(rng);
}

static double *nb_to_double(const long double *v, size_t len, double *out)
{
	if (!v)
		return NULL;
	for (size_t i = 0; i < len; i++)
		out[i] = (double)v[i];
	return out;
}

static enum nb_status nb_sl_alloc(struct nb_sl *s, size_t rows, size_t n, size_t m)
{
	size_t len = rows * (m > n ? m : n), nl = 4 * rows * n + 12 * len, nd = rows * n + 2 * n + n * m + 2 * m + len;
	long double *p;
	double *q;

	memset(s, 0, sizeof(*s));
	s->rows = rows;
	s->n = n;
	s->m = m;
	s->len = len;
	s->pool = malloc(nl * sizeof(long double) + nd * sizeof(double));
	if (!s->pool)
		return nb_fail(NB_ERR_NOMEM, "no memory for a claim");
	p = s->pool;
	s->x = p; p += rows * n;
	s->xc = p; p += rows * n;
	s->h = p; p += rows * n;
	s->hb = p; p += rows * n;
	s->tA = p; p += len;
	s->bAld = p; p += len;
	s->tB = p; p += len;
	s->bB = p; p += len;
	s->tC = p; p += len;
	s->bC = p; p += len;
	s->bA = p; p += len;
	s->wa = p; p += len;
	s->wb = p; p += len;
	s->wc = p; p += len;
	s->cA = p; p += len;
	s->cAb = p; p += len;
	q = (double *)p;
	s->dx = q; q += rows * n;
	s->dg = q; q += n;
	s->db = q; q += n;
	s->dw = q; q += n * m;
	s->dc = q; q += m;
	s->dcs = q; q += m;
	s->dz = q;
	return NB_OK;
}

static void nb_widen(const double *z, size_t len, long double *out)
{
	for (size_t i = 0; i < len; i++)
		out[i] = (long double)z[i];
}

/* Frees a claim's scratch and its count tensors (NB_SL_FREE lists them). */
static void nb_sl_free(struct nb_sl *s, struct nb_ref_tensor *const *t, size_t count)
{
	for (size_t i = 0; i < count; i++)
		nb_ref_tensor_free(t[i]);
	free(s->pool);
}

#define NB_SL_FREE(s, ...) \
	nb_sl_free((s), (struct nb_ref_tensor *const[]){ __VA_ARGS__ }, \
		   sizeof((struct nb_ref_tensor *const[]){ __VA_ARGS__ }) / \
		   sizeof(struct nb_ref_tensor *))

/*
 * E3: RMSNorm (gain g, eps) then x . W (+ c), against FlashNorm: W* =
 * diag(g) W (long double; in a working dtype nb_flashnorm_fold of the
 * rounded g and W: 2 u more on W*), z = r (x . W*) (+ c). Control: the
 * gain on the output side, W diag(g) (W square).
 */
static enum nb_status nb_run_e3(struct nb_claim_list *R, const struct nb_claims_config *cfg,
				const struct nb_scfg *sc)
{
	size_t n = sc->n, rows = sc->rows, len = rows * n;
	struct nb_ref_tensor g = { 0 }, w = { 0 }, c = { 0 }, wf = { 0 }, wf2 = { 0 }, ww = { 0 };
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld();
	struct nb_dt dts[4];
	size_t ndt = nb_dtypes(cfg, dts);
	struct nb_rng rng;
	struct nb_sl s;
	double eps = 1e-5;
	const struct nb_ref_tensor *cb;
	struct nb_row row = { .claim = "E3", .seed = sc->seed, .d = (int)n, .seq = (int)rows };
	enum nb_status st = nb_sl_alloc(&s, rows, n, n);

	if (st != NB_OK)
		return st;
	if ((st = nb_ref_tensor_alloc(1, n, &g)) != NB_OK || (st = nb_ref_tensor_alloc(n, n, &w)) != NB_OK ||
	    (st = nb_ref_tensor_alloc(1, n, &c)) != NB_OK || (st = nb_ref_tensor_alloc(n, n, &wf)) != NB_OK ||
	    (st = nb_ref_tensor_alloc(n, n, &wf2)) != NB_OK || (st = nb_ref_tensor_alloc(n, n, &ww)) != NB_OK)
		goto free_all;
	nb_rng_seed(&rng, sc->seed);
	nb_rows(&rng, rows, n, 0.0, s.x);
	nb_fill(&rng, &g, 0.5L, 1.0L, true);
	nb_fill(&rng, &w, 0.0L, 1.0L / sqrtl((long double)n), false);
	nb_fill(&rng, &c, 0.0L, 0.1L, false);
	cb = sc->bias ? &c : NULL;
	if ((st = nb_transform_fold_affine(&g, NULL, &w, NULL, &wf, NULL)) != NB_OK ||
	    (st = nb_transform_fold_wrong_side(&g, &w, &ww)) != NB_OK)
		goto free_all;

	for (size_t k = 0; k < ndt && st == NB_OK; k++) {
		bool work = dts[k].t != NB_DTYPE_COUNT;
		struct nb_ref_errmodel em = work ? nb_em_via_double(dts[k].t) : ld;
		char ka[48] = "", kb[48] = "", kc[48] = "", note[96], cnote[96];
		/* bounds (and long-double values) of the three sides */
		st = nb_ref_norm(NB_NORM_RMSNORM, rows, n, eps, s.x, NULL, &g, NULL, &em, s.h, s.hb);
		if (st == NB_OK)
			st = nb_ref_linear(rows, s.h, s.hb, &w, cb, &em, work ? s.wa : s.tA,
					   work ? s.bA : s.bAld);
		/* W* of a working dtype is folded from the rounded g and W */
		for (size_t i = 0; i < n * n; i++) {
			wf2.v[i] = wf.v[i];
			wf2.err[i] = wf.err[i] + (work ? 2.0L * em.u_param * fabsl(wf.v[i]) : 0.0L);
		}
		if (st == NB_OK)
			st = nb_ref_flash_linear(rows, eps, false, s.x, NULL, &wf2, NULL, cb, &em,
						 work ? s.wb : s.tB, s.bB);
		if (st == NB_OK)
			st = nb_ref_flash_linear(rows, eps, false, s.x, NULL, &ww, NULL, cb, &em,
						 work ? s.wc : s.tC, s.bC);
		if (st != NB_OK)
			break;
		if (!work) {
			nb_sl_exact_sides(&s, len);
		} else {
			struct nb_norm_linear a = {
				.arr = NB_NL_NORM_LINEAR, .kind = NB_NORM_RMSNORM, .rows = rows, .n = n,
				.m = n, .eps = eps, .x = nb_to_double(s.x, len, s.dx),
				.gain = nb_to_double(g.v, n, s.dg), .w = nb_to_double(w.v, n * n, s.dw),
				.out_bias = sc->bias ? nb_to_double(c.v, n, s.dc) : NULL,
			};
			st = nb_model_norm_linear(dts[k].t, &a, s.dz, ka);
			nb_widen(s.dz, len, s.wa);
			a.arr = NB_NL_FLASH;
			a.fold = true;
			if (st == NB_OK)
				st = nb_model_norm_linear(dts[k].t, &a, s.dz, kb);
			nb_widen(s.dz, len, s.wb);
			a.fold = false;
			a.gain = NULL;
			a.w = nb_to_double(ww.v, n * n, s.dw);
			if (st == NB_OK && nb_controls(cfg, dts[k].t))
				st = nb_model_norm_linear(dts[k].t, &a, s.dz, kc);
			nb_widen(s.dz, len, s.wc);
			if (st != NB_OK)
				break;
		}
		row.dtype = dts[k].name;
		nb_cat(note, sizeof(note), ka, work ? " + gemm vs " : "", kb, (char *)NULL);
		nb_cat(cnote, sizeof(cnote), work ? kc : "W diag(g)", (char *)NULL);
		{
			char name[64], cname[64];
			snprintf(name, sizeof(name), "FlashNorm == RMSNorm then linear (%s)",
				 sc->bias ? "bias" : "no bias");
			snprintf(cname, sizeof(cname), "gain on the output side of W (%s)",
				 sc->bias ? "bias" : "no bias");
			st = nb_push_pair(R, nb_controls(cfg, dts[k].t), &row, &s, len, name, cname, note, cnote, NULL, NULL);
		}
	}
free_all:
	NB_SL_FREE(&s, &g, &w, &c, &wf, &wf2, &ww);
	return st;
}

/*
 * E5: LayerNorm (g, beta) then x . W + c, against W* = diag(g) W,
 * b' = beta^T W + c, colsum = 1^T W*, z = r (x . W* - mean(x) colsum) + b'.
 * Rows have |mean| / std = ratio: the product x . W* is of size |x||W*|
 * while the result is of size sigma |W*|, and the running bound carries
 * exactly that factor (gamma_n sum |x_i W*_ij|): the error grows with the
 * ratio and the bound with it - reported, not hidden. Control: no mean
 * correction.
 */
static enum nb_status nb_run_e5(struct nb_claim_list *R, const struct nb_claims_config *cfg,
				const struct nb_scfg *sc)
{
	size_t n = sc->n, rows = sc->rows, len = rows * n;
	struct nb_ref_tensor g = { 0 }, be = { 0 }, w = { 0 }, c = { 0 }, wf = { 0 }, bf = { 0 }, cs = { 0 };
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld();
	struct nb_dt dts[4];
	size_t ndt = nb_dtypes(cfg, dts);
	struct nb_rng rng;
	struct nb_sl s;
	double eps = 1e-5;
	struct nb_row row = { .claim = "E5", .seed = sc->seed, .d = (int)n, .seq = (int)rows,
			      .param = sc->ratio };
	enum nb_status st = nb_sl_alloc(&s, rows, n, n);

	if (st != NB_OK)
		return st;
	if ((st = nb_ref_tensor_alloc(1, n, &g)) != NB_OK || (st = nb_ref_tensor_alloc(1, n, &be)) != NB_OK ||
	    (st = nb_ref_tensor_alloc(n, n, &w)) != NB_OK || (st = nb_ref_tensor_alloc(1, n, &c)) != NB_OK ||
	    (st = nb_ref_tensor_alloc(n, n, &wf)) != NB_OK || (st = nb_ref_tensor_alloc(1, n, &bf)) != NB_OK ||
	    (st = nb_ref_tensor_alloc(1, n, &cs)) != NB_OK)
		goto free_all;
	nb_rng_seed(&rng, sc->seed);
	nb_rows(&rng, rows, n, sc->ratio, s.x);
	nb_fill(&rng, &g, 0.5L, 1.0L, true);
	nb_fill(&rng, &be, 0.0L, 0.2L, false);
	nb_fill(&rng, &w, 0.0L, 1.0L / sqrtl((long double)n), false);
	nb_fill(&rng, &c, 0.0L, 0.1L, false);
	st = nb_transform_ln_flash(&g, &be, &w, &c, &wf, &bf, &cs);
	if (st != NB_OK)
		goto free_all;

	for (size_t k = 0; k < ndt && st == NB_OK; k++) {
		bool work = dts[k].t != NB_DTYPE_COUNT;
		struct nb_ref_errmodel em = work ? nb_em_via_double(dts[k].t) : ld;
		char ka[48] = "", name[64], cname[64], note[96], cnote[96];

		st = nb_ref_norm(NB_NORM_LAYERNORM, rows, n, eps, s.x, NULL, &g, &be, &em, s.h, s.hb);
		if (st == NB_OK)
			st = nb_ref_linear(rows, s.h, s.hb, &w, &c, &em, work ? s.wa : s.tA,
					   work ? s.bA : s.bAld);
		if (st == NB_OK)
			st = nb_ref_flash_linear(rows, eps, true, s.x, NULL, &wf, &cs, &bf, &em,
						 work ? s.wb : s.tB, s.bB);
		if (st == NB_OK)
			st = nb_ref_flash_linear(rows, eps, true, s.x, NULL, &wf, NULL, &bf, &em,
						 work ? s.wc : s.tC, s.bC);
		if (st != NB_OK)
			break;
		if (!work) {
			nb_sl_exact_sides(&s, len);
		} else {
			struct nb_norm_linear a = {
				.arr = NB_NL_NORM_LINEAR, .kind = NB_NORM_LAYERNORM, .rows = rows,
				.n = n, .m = n, .eps = eps, .x = nb_to_double(s.x, len, s.dx),
				.gain = nb_to_double(g.v, n, s.dg), .bias = nb_to_double(be.v, n, s.db),
				.w = nb_to_double(w.v, n * n, s.dw), .out_bias = nb_to_double(c.v, n, s.dc),
			};
			st = nb_model_norm_linear(dts[k].t, &a, s.dz, ka);
			nb_widen(s.dz, len, s.wa);
			a = (struct nb_norm_linear){
				.arr = NB_NL_FLASH_LN, .rows = rows, .n = n, .m = n, .eps = eps,
				.x = s.dx, .w = nb_to_double(wf.v, n * n, s.dw),
				.out_bias = nb_to_double(bf.v, n, s.dc),
				.colsum = nb_to_double(cs.v, n, s.dcs),
			};
			if (st == NB_OK)
				st = nb_model_norm_linear(dts[k].t, &a, s.dz, NULL);
			nb_widen(s.dz, len, s.wb);
			a.colsum = NULL;
			if (st == NB_OK && nb_controls(cfg, dts[k].t))
				st = nb_model_norm_linear(dts[k].t, &a, s.dz, NULL);
			nb_widen(s.dz, len, s.wc);
			if (st != NB_OK)
				break;
		}
		row.dtype = dts[k].name;
		snprintf(name, sizeof(name), "LN-FlashNorm == LN then linear (|mu|/sd %.0e)", sc->ratio);
		snprintf(cname, sizeof(cname), "no mean correction (|mu|/sd %.0e)", sc->ratio);
		nb_cat(note, sizeof(note), ka, work ? " + gemm vs " : "", "r (x W* - mu 1^T W*) + b'", (char *)NULL);
		snprintf(cnote, sizeof(cnote), "r (x W*) + b'");
		st = nb_push_pair(R, nb_controls(cfg, dts[k].t), &row, &s, len, name, cname, note, cnote, NULL, NULL);
	}
free_all:
	NB_SL_FREE(&s, &g, &be, &w, &c, &wf, &bf, &cs);
	return st;
}

/*
 * E6: LayerNorm(x) and RMSNorm(x), both with gain g and bias b and the same
 * eps, on exactly zero-mean rows (scales 1e-3 .. 10, so eps matters). In a
 * working dtype the rounded x is no longer exactly zero-mean: that is the
 * rounding of the input, inside the running bound (RMSNorm's derivative
 * carries it). Control: the same rows shifted by a mean of one sigma,
 * where the two differ; it has its own truth, LayerNorm of the shifted rows.
 */
static enum nb_status nb_run_e6(struct nb_claim_list *R, const struct nb_claims_config *cfg,
				const struct nb_scfg *sc)
{
	size_t n = sc->n, rows = sc->rows, len = rows * n;
	struct nb_ref_tensor g = { 0 }, b = { 0 };
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld();
	struct nb_dt dts[4];
	size_t ndt = nb_dtypes(cfg, dts);
	struct nb_rng rng;
	struct nb_sl s;
	double eps = 1e-5;
	long double *tA2ld = NULL, *bA2ld = NULL;
	struct nb_row row = { .claim = "E6", .seed = sc->seed, .d = (int)n, .seq = (int)rows };
	enum nb_status st = nb_sl_alloc(&s, rows, n, n);

	if (st != NB_OK)
		return st;
	tA2ld = malloc(2 * len * sizeof(long double));
	if (!tA2ld) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for a claim");
		goto free_all;
	}
	bA2ld = tA2ld + len;
	if ((st = nb_ref_tensor_alloc(1, n, &g)) != NB_OK || (st = nb_ref_tensor_alloc(1, n, &b)) != NB_OK)
		goto free_all;
	nb_rng_seed(&rng, sc->seed);
	nb_zero_mean_rows(&rng, rows, n, s.x);
	for (size_t t = 0; t < rows; t++) {
		long double sigma = powl(10.0L, (long double)((int)(t % 5) - 3));
		for (size_t i = 0; i < n; i++)
			s.xc[t * n + i] = s.x[t * n + i] + sigma;
	}
	nb_fill(&rng, &g, 0.5L, 1.0L, true);
	nb_fill(&rng, &b, 0.0L, 0.2L, false);

	for (size_t k = 0; k < ndt && st == NB_OK; k++) {
		bool work = dts[k].t != NB_DTYPE_COUNT;
		struct nb_ref_errmodel em = work ? nb_em_via_double(dts[k].t) : ld;
		char ka[48] = "", kb[48] = "", note[96];

		st = nb_ref_norm(NB_NORM_LAYERNORM, rows, n, eps, s.x, NULL, &g, &b, &em,
				 work ? s.wa : s.tA, work ? s.bA : s.bAld);
		if (st == NB_OK)
			st = nb_ref_norm(NB_NORM_RMSNORM, rows, n, eps, s.x, NULL, &g, &b, &em,
					 work ? s.wb : s.tB, s.bB);
		/* the control's own truth and side A: LayerNorm of the shifted rows */
		if (st == NB_OK)
			st = nb_ref_norm(NB_NORM_LAYERNORM, rows, n, eps, s.xc, NULL, &g, &b, &em,
					 work ? s.cA : tA2ld, work ? s.cAb : bA2ld);
		if (st == NB_OK)
			st = nb_ref_norm(NB_NORM_RMSNORM, rows, n, eps, s.xc, NULL, &g, &b, &em,
					 work ? s.wc : s.tC, s.bC);
		if (st != NB_OK)
			break;
		if (!work) {
			nb_sl_exact_sides(&s, len);
			memcpy(s.cA, tA2ld, len * sizeof(long double));
			memcpy(s.cAb, bA2ld, len * sizeof(long double));
		} else {
			struct nb_norm_linear a = {
				.arr = NB_NL_NORM, .kind = NB_NORM_LAYERNORM, .rows = rows, .n = n,
				.eps = eps, .x = nb_to_double(s.x, len, s.dx),
				.gain = nb_to_double(g.v, n, s.dg), .bias = nb_to_double(b.v, n, s.db),
			};
			st = nb_model_norm_linear(dts[k].t, &a, s.dz, ka);
			nb_widen(s.dz, len, s.wa);
			a.kind = NB_NORM_RMSNORM;
			if (st == NB_OK)
				st = nb_model_norm_linear(dts[k].t, &a, s.dz, kb);
			nb_widen(s.dz, len, s.wb);
			if (st == NB_OK && nb_controls(cfg, dts[k].t)) {
				a.x = nb_to_double(s.xc, len, s.dx);
				a.kind = NB_NORM_LAYERNORM;
				st = nb_model_norm_linear(dts[k].t, &a, s.dz, NULL);
				/* side A of the control, in the dtype */
				nb_widen(s.dz, len, s.cA);
				/* s.cAb keeps its bound from nb_ref_norm above */
				a.kind = NB_NORM_RMSNORM;
				if (st == NB_OK)
					st = nb_model_norm_linear(dts[k].t, &a, s.dz, NULL);
				nb_widen(s.dz, len, s.wc);
			}
			if (st != NB_OK)
				break;
		}
		row.dtype = dts[k].name;
		nb_cat(note, sizeof(note), ka, work ? " vs " : "", kb, (char *)NULL);
		st = nb_push_pair(R, nb_controls(cfg, dts[k].t), &row, &s, len, "LayerNorm == RMSNorm on zero-mean x",
				  "mean of one sigma added to x", note, note, tA2ld, bA2ld);
	}
free_all:
	free(tA2ld);
	NB_SL_FREE(&s, &g, &b);
	return st;
}

/* ---- the sets ---- */

static bool nb_claim_selected(const char *only, const char *id)
{
	return !only || !*only || nb_cli_in_list(only, id);
}

static enum nb_status nb_known_claim(const char *id, void *ctx)
{
	(void)ctx;
	for (int i = 0; i < NB_CLAIM_COUNT; i++)
		if (strcmp(id, nb_claim_ids[i]) == 0)
			return NB_OK;
	return nb_fail(NB_ERR_INVALID, "unknown claim '%s' (E1 .. E6)", id);
}

static enum nb_status nb_check_only(const char *only)
{
	if (!only || !*only)
		return NB_OK;
	return nb_cli_each_item(only, "claims", nb_known_claim, NULL);
}

/* Model configuration i of a set: widths 31, 64, 96 (odd ones included),
 * depths 1-3, heads 1, 2, 4 (head widths 8 or 16, independent of d),
 * 5-16 tokens, GELU and SwiGLU alternating. */
static struct nb_mcfg nb_mcfg_at(uint64_t base, int claim, size_t i)
{
	static const size_t widths[] = { 31, 64, 96 }, heads[] = { 1, 2, 4 };

	return (struct nb_mcfg){
		.seed = base * 1000003u + (uint64_t)claim * 1009u + i,
		.d = widths[i % 3], .layers = 1 + (i + i / 3) % 3, .heads = heads[(i / 3) % 3],
		.head_dim = i % 2 ? 8 : 16, .seq = 5 + (7 * i) % 12,
		.ffn = i % 2 ? NB_FFN_SWIGLU : NB_FFN_GELU,
	};
}

enum nb_status nb_claims_run(const struct nb_claims_config *cfg,
			     struct nb_claim_result **out, size_t *count)
{
	struct nb_claim_list R = { 0 };
	enum nb_status st;
	size_t nmodel, nsingle;
	static const size_t single_widths[] = { 31, 64, 96, 255 };

	*out = NULL;
	*count = 0;
	if (!cfg)
		return nb_fail(NB_ERR_INVALID, "claims: no configuration");
	st = nb_check_only(cfg->only);
	if (st != NB_OK)
		return st;
	nmodel = cfg->quick ? 2 : 12;
	nsingle = cfg->quick ? 1 : 4;
	for (int claim = 0; claim < NB_CLAIM_COUNT && st == NB_OK; claim++) {
		if (!nb_claim_selected(cfg->only, nb_claim_ids[claim]))
			continue;
		if (claim == 0 || claim == 1 || claim == 3) {
			for (size_t i = 0; i < nmodel && st == NB_OK; i++) {
				struct nb_mcfg mc = nb_mcfg_at(cfg->seed, claim, i);
				if (cfg->quick) {
					/* the CI set: small, both FFNs, odd width */
					mc.d = i ? 31 : 24;
					mc.layers = 2;
					mc.heads = 2;
					mc.head_dim = 8;
					mc.seq = 7;
				}
				st = nb_run_model_claim(&R, cfg, claim, &mc);
			}
			continue;
		}
		for (size_t i = 0; i < nsingle && st == NB_OK; i++) {
			struct nb_scfg sc = {
				.seed = cfg->seed * 1000003u + (uint64_t)claim * 1009u + i,
				.n = cfg->quick ? 31 : single_widths[i], .rows = 10,
			};
			if (claim == 2) {
				sc.bias = false;
				st = nb_run_e3(&R, cfg, &sc);
				sc.bias = true;
				if (st == NB_OK)
					st = nb_run_e3(&R, cfg, &sc);
			} else if (claim == 4) {
				static const double ratios[] = { 1.0, 1e2, 1e4 };
				for (size_t q = 0; q < 3 && st == NB_OK; q++) {
					struct nb_claims_config c2 = *cfg;
					sc.ratio = ratios[q];
					/* bf16 holds a row with |mean| >= 100 sd to
					 * less than sd/2: nothing is left to check */
					if (q > 0) {
						unsigned all = (1u << NB_DTYPE_F32) | (1u << NB_DTYPE_F64) |
							       (1u << NB_DTYPE_BF16);
						c2.dtypes = (c2.dtypes ? c2.dtypes : all) &
							    ~(1u << NB_DTYPE_BF16);
						/* no bit of a dtype left: long double only */
						if (!(c2.dtypes & all))
							c2.dtypes = 1u << 31;
					}
					st = nb_run_e5(&R, &c2, &sc);
				}
			} else {
				st = nb_run_e6(&R, cfg, &sc);
			}
		}
	}
	if (st != NB_OK) {
		free(R.r);
		return st;
	}
	*out = R.r;
	*count = R.n;
	return NB_OK;
}

void nb_claims_free(struct nb_claim_result *results)
{
	free(results);
}

bool nb_claims_all_pass(const struct nb_claim_result *r, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!r[i].pass)
			return false;
	return true;
}
