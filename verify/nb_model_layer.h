/* The working-dtype model's passes (embedding, one layer, final norm and
 * head, single-layer arrangements) for one compute type NB_T; included by
 * verify/nb_model.c after nb_model_tmpl.h. Not a public header. */

static NB_T NB_FN(st1)(NB_T v, bool st16)
{
	return st16 ? (NB_T)nb_bf16_to_f32(nb_f32_to_bf16((float)v)) : v;
}

static void NB_FN(embed)(const struct nb_model *m, struct nb_model_ws *ws,
			 const uint32_t *tokens, size_t seq, size_t pos0)
{
	size_t n = m->n;
	const NB_T *tok = nb_w(m, NB_MW_TOK), *pos = nb_w(m, NB_MW_POS);
	NB_T *x = ws->x;

	for (size_t t = 0; t < seq; t++)
		for (size_t i = 0; i < n; i++)
			x[t * n + i] = tok[tokens[t] * n + i] + pos[(pos0 + t) * n + i];
	NB_FN(store)(x, seq * n, nb_is_bf16(m));
}

/* A reader of the stream: out (seq x cols) = norm(x) . W + b, or FlashNorm's
 * r (x . W*) + b, or x . W + b without a norm. h holds norm(x). */
static enum nb_status NB_FN(read)(const struct nb_model *m, struct nb_model_ws *ws, size_t seq,
				  const NB_T *x, const NB_T *h, size_t widx, size_t bidx,
				  NB_T *out)
{
	size_t n = m->n, cols = m->cols[widx];
	const NB_T *w = nb_w(m, widx), *b = nb_w(m, bidx);
	bool st16 = nb_is_bf16(m);

	if (m->norm == NB_NORM_FLASHNORM) {
		if (m->kflash)
			return nb_flash_run(m->kflash, m->dtype, seq, n, cols, m->shape.eps,
					    ws->threads, x, m->ones, w, w, b, out, ws->h);
		NB_FN(flash_own)(seq, n, cols, m->shape.eps, x, w, b, out, cols, st16);
		return NB_OK;
	}
	NB_FN(gemm_bias)(seq, n, cols, m->norm == NB_NORM_NONE ? x : h, n, w, cols, b, out, cols,
			 st16);
	return NB_OK;
}

/* E4's control: the activated branch without the scale, then act, then r. */
static void NB_FN(ffn_control)(const struct nb_model *m, struct nb_model_ws *ws, size_t seq,
			       size_t l, const NB_T *x)
{
	size_t n = m->n, f = m->shape.ffn, f13 = m->f13;
	const NB_T *w = nb_w(m, NB_WIDX(l, NB_LW_W13)), *b = nb_w(m, NB_WIDX(l, NB_LW_B13));
	NB_T *z = ws->z, *hf = ws->hf;
	bool st16 = nb_is_bf16(m), swiglu = m->shape.ffn_kind == NB_FFN_SWIGLU;

	NB_MATMUL(false, seq, f13, n, NB_LIT(1.0), x, n, w, f13, NB_LIT(0.0), z, f13);
	for (size_t t = 0; t < seq; t++) {
		NB_T r = NB_FN(rms_r)(x + t * n, n, m->shape.eps), *zt = z + t * f13;
		for (size_t j = 0; j < f; j++) {
			NB_T v = NB_FN(st1)(zt[j] + b[j], st16);
			v = NB_FN(st1)(swiglu ? NB_FN(silu)(v) : NB_FN(gelu)(v), st16);
			v = NB_FN(st1)(v * r, st16);
			if (swiglu) {
				NB_T up = NB_FN(st1)(zt[f + j] * r + b[f + j], st16);
				hf[t * f + j] = NB_FN(st1)(v * up, st16);
			} else {
				hf[t * f + j] = v;
			}
		}
	}
}

/* The KV cache of layer l (kv_cap x 2a: K | V per position), NULL without. */
static NB_T *NB_FN(kv_of)(const struct nb_model *m, struct nb_model_ws *ws, size_t l)
{
	return ws->kv_cap ? (NB_T *)ws->kv + l * ws->kv_cap * 2 * m->a : NULL;
}

/* Layer l on seq tokens at positions pos0.. (pos0 > 0 only with a cache:
 * positions [0, pos0) of layer l's cache are read as the context, the new
 * tokens' keys and values are written behind them first). */
static enum nb_status NB_FN(layer)(const struct nb_model *m, struct nb_model_ws *ws, size_t l,
				   size_t seq, size_t pos0)
{
	size_t n = m->n, a = m->a, f = m->shape.ffn, f13 = m->f13;
	bool st16 = nb_is_bf16(m);
	NB_T *x = ws->x, *h = ws->h, *qkv = ws->qkv, *o = ws->o, *y = ws->y, *z = ws->z;
	NB_T *hf = ws->hf;
	enum nb_status st;

	/* attention branch */
	st = nb_model_norm(m, ws, seq, x, h, NB_WIDX(l, NB_LW_N1G), NB_WIDX(l, NB_LW_N1B));
	if (st == NB_OK)
		st = NB_FN(read)(m, ws, seq, x, h, NB_WIDX(l, NB_LW_WQKV), NB_WIDX(l, NB_LW_BQKV), qkv);
	if (st != NB_OK)
		return st;
	if (ws->kv_cap) {
		NB_T *kv = NB_FN(kv_of)(m, ws, l);
		for (size_t t = 0; t < seq; t++)
			memcpy(kv + (pos0 + t) * 2 * a, qkv + t * 3 * a + a, 2 * a * sizeof(NB_T));
		NB_FN(attention)(seq, pos0, m->shape.heads, m->shape.head_dim, qkv, 3 * a, kv,
				 kv + a, 2 * a, o, ws->s, st16);
	} else {
		NB_FN(attention)(seq, 0, m->shape.heads, m->shape.head_dim, qkv, 3 * a, qkv + a,
				 qkv + 2 * a, 3 * a, o, ws->s, st16);
	}
	NB_FN(gemm_bias)(seq, a, n, o, a, nb_w(m, NB_WIDX(l, NB_LW_WO)), n,
			 nb_w(m, NB_WIDX(l, NB_LW_BO)), y, n, st16);
	NB_FN(residual)(x, y, seq * n, st16);

	/* FFN branch */
	st = nb_model_norm(m, ws, seq, x, h, NB_WIDX(l, NB_LW_N2G), NB_WIDX(l, NB_LW_N2B));
	if (st != NB_OK)
		return st;
	if (m->norm == NB_NORM_FLASHNORM && m->scale_after_act) {
		NB_FN(ffn_control)(m, ws, seq, l, x);
	} else {
		st = NB_FN(read)(m, ws, seq, x, h, NB_WIDX(l, NB_LW_W13), NB_WIDX(l, NB_LW_B13), z);
		if (st != NB_OK)
			return st;
		for (size_t t = 0; t < seq; t++) {
			const NB_T *zt = z + t * f13;
			NB_T *ht = hf + t * f;
			if (m->shape.ffn_kind == NB_FFN_GELU)
				for (size_t j = 0; j < f; j++)
					ht[j] = NB_FN(gelu)(zt[j]);
			else
				for (size_t j = 0; j < f; j++)
					ht[j] = NB_FN(silu)(zt[j]) * zt[f + j];
		}
		NB_FN(store)(hf, seq * f, st16);
	}
	NB_FN(gemm_bias)(seq, f, n, hf, f, nb_w(m, NB_WIDX(l, NB_LW_W2)), n,
			 nb_w(m, NB_WIDX(l, NB_LW_B2)), y, n, st16);
	NB_FN(residual)(x, y, seq * n, st16);
	return NB_OK;
}

static enum nb_status NB_FN(final)(const struct nb_model *m, struct nb_model_ws *ws, size_t seq,
				   double *logits)
{
	NB_T *lg = ws->logits;
	enum nb_status st = nb_model_norm(m, ws, seq, ws->x, ws->h, NB_MW_NORMF_G, NB_MW_NORMF_B);

	if (st == NB_OK)
		st = NB_FN(read)(m, ws, seq, ws->x, ws->h, NB_MW_HEAD, NB_MW_BHEAD, lg);
	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < seq * m->shape.vocab; i++)
		logits[i] = (double)lg[i];
	return NB_OK;
}

/* A double rounded once to the working dtype. */
static NB_T NB_FN(in)(enum nb_dtype dtype, double v)
{
	if (dtype == NB_DTYPE_BF16)
		return (NB_T)nb_round_bf16((long double)v);
	return (NB_T)v;
}

static NB_T *NB_FN(copy_in)(enum nb_dtype dtype, const double *src, size_t len, NB_T *dst)
{
	if (!src)
		return NULL;
	for (size_t i = 0; i < len; i++)
		dst[i] = NB_FN(in)(dtype, src[i]);
	return dst;
}

static enum nb_status NB_FN(norm_linear)(enum nb_dtype dtype, const struct nb_norm_linear *a,
					 double *z, char *kname)
{
	size_t rows = a->rows, n = a->n, m = a->m, outc = a->arr == NB_NL_NORM ? n : m;
	size_t need = rows * n + 2 * n + n * m + 3 * m + rows * n + rows * outc + n;
	NB_T *pool = malloc(need * sizeof(NB_T)), *x, *g, *b, *w, *c, *cs, *h, *out, *ones;
	struct nb_bf16 *p16 = malloc((2 * rows * n + 2 * n) * sizeof(struct nb_bf16));
	bool st16 = dtype == NB_DTYPE_BF16;
	enum nb_status st = NB_OK;
	const char *used = "own";

	if (!pool || !p16) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for norm_linear");
		goto free_pool;
	}
	x = NB_FN(copy_in)(dtype, a->x, rows * n, pool);
	g = NB_FN(copy_in)(dtype, a->gain, n, pool + rows * n);
	b = NB_FN(copy_in)(dtype, a->bias, n, pool + rows * n + n);
	w = NB_FN(copy_in)(dtype, a->w, n * m, pool + rows * n + 2 * n);
	c = NB_FN(copy_in)(dtype, a->out_bias, m, pool + rows * n + 2 * n + n * m);
	cs = NB_FN(copy_in)(dtype, a->colsum, m, pool + rows * n + 2 * n + n * m + m);
	h = pool + rows * n + 2 * n + n * m + 3 * m;
	out = h + rows * n;
	ones = out + rows * outc;
	for (size_t i = 0; i < n; i++)
		ones[i] = NB_LIT(1.0);

	if (a->arr == NB_NL_NORM || a->arr == NB_NL_NORM_LINEAR) {
		enum nb_norm_kind kind = a->kind;
		struct nb_norm_call call = {
			.k = nb_kernel_best(nb_variant_of(kind), NB_DIR_FORWARD, dtype, nb_acc_of(dtype)),
			.dtype = dtype, .kind = kind, .rows = rows,
			.d = kind == NB_NORM_CRMSNORM ? n + 1 : n, .eps = a->eps, .threads = 0,
			.x = x, .gain = g, .bias = b,
			.y = a->arr == NB_NL_NORM ? out : h,
			.x16 = p16, .y16 = p16 + rows * n,
			.g16 = p16 + 2 * rows * n, .b16 = b ? p16 + 2 * rows * n + n : NULL,
		};
		if (!call.k) {
			st = nb_fail(NB_ERR_UNSUPPORTED, "no %s kernel for %s in the registry",
				     nb_norm_kind_name(kind), nb_dtype_traits[dtype].name);
			goto free_pool;
		}
		used = call.k->name;
		for (size_t i = 0; st16 && i < n; i++) {
			p16[2 * rows * n + i] = nb_f32_to_bf16((float)g[i]);
			if (b)
				p16[2 * rows * n + n + i] = nb_f32_to_bf16((float)b[i]);
		}
		st = nb_norm_run(&call);
		if (st != NB_OK)
			goto free_pool;
		if (a->arr == NB_NL_NORM_LINEAR)
			NB_FN(gemm_bias)(rows, n, m, h, n, w, m, c, out, m, st16);
	} else if (a->arr == NB_NL_FLASH) {
		const struct nb_kernel *k = st16 ? NULL : nb_flash_kernel(dtype);
		NB_T *wst = w;
		if (a->fold) {
			/* W* = diag(g) W in the working dtype, rounded once */
			wst = malloc(n * m * sizeof(NB_T));
			if (!wst) {
				st = nb_fail(NB_ERR_NOMEM, "no memory for W*");
				goto free_pool;
			}
			if (st16) {
				for (size_t i = 0; i < n; i++)
					for (size_t j = 0; j < m; j++)
						wst[i * m + j] = NB_FN(st1)(g[i] * w[i * m + j], true);
			} else {
				st = nb_flashnorm_fold(dtype, n, m, g, w, wst);
			}
		}
		if (st == NB_OK && k) {
			used = k->name;
			st = nb_flash_run(k, dtype, rows, n, m, a->eps, 0, x, g ? g : ones, w, wst,
					  c, out, h);
		} else if (st == NB_OK) {
			NB_FN(flash_own)(rows, n, m, a->eps, x, wst, c, out, m, st16);
		}
		if (a->fold)
			free(wst);
		if (st != NB_OK)
			goto free_pool;
	} else {
		NB_FN(flash_ln_own)(rows, n, m, a->eps, x, w, cs, c, out, st16);
	}
	for (size_t i = 0; i < rows * outc; i++)
		z[i] = (double)out[i];
free_pool:
	if (kname)
		snprintf(kname, 48, "%s", used);
	free(pool);
	free(p16);
	return st;
}
