/* The working-dtype model's arithmetic, written once for a compute type:
 * verify/nb_model.c includes this file twice, with NB_MODEL_F64 0 (NB_T =
 * float: f32 and bf16 storage) and 1 (NB_T = double: f64), each time
 * followed by nb_model_layer.h, which uses the same parameters. Not a
 * public header. */
#undef NB_T
#undef NB_FN
#undef NB_LIT
#undef NB_MATMUL
#undef NB_SQRT
#undef NB_EXP
#undef NB_ERF
#undef NB_EXP_FLUSH
#if NB_MODEL_F64
#define NB_T double
#define NB_FN(name) nb_##name##_d
#define NB_LIT(x) x
#define NB_MATMUL nb_matmul_f64
#define NB_SQRT sqrt
#define NB_EXP exp
#define NB_ERF erf
#define NB_EXP_FLUSH (-700.0)
#else
#define NB_T float
#define NB_FN(name) nb_##name##_f
#define NB_LIT(x) x##f
#define NB_MATMUL nb_matmul_f32
#define NB_SQRT sqrtf
#define NB_EXP expf
#define NB_ERF erff
#define NB_EXP_FLUSH (-78.0f)
#endif

/* Rounds every value to bf16 when the storage is bf16 (the values stay in
 * the compute type, exactly representable as bf16). */
static void NB_FN(store)(NB_T *v, size_t len, bool st16)
{
	if (!st16)
		return;
	for (size_t i = 0; i < len; i++)
		v[i] = (NB_T)nb_bf16_to_f32(nb_f32_to_bf16((float)v[i]));
}

/* y (rows x cols, ld ldy) = x (rows x k, ld ldx) . W (k x cols, ld ldw)
 * + b (cols, may be NULL), then the store. */
static void NB_FN(gemm_bias)(size_t rows, size_t k, size_t cols, const NB_T *x, size_t ldx,
			     const NB_T *w, size_t ldw, const NB_T *b, NB_T *y, size_t ldy,
			     bool st16)
{
	NB_MATMUL(false, rows, cols, k, NB_LIT(1.0), x, ldx, w, ldw, NB_LIT(0.0), y, ldy);
	for (size_t t = 0; t < rows; t++) {
		NB_T *yt = y + t * ldy;
		if (b)
			for (size_t j = 0; j < cols; j++)
				yt[j] = yt[j] + b[j];
		NB_FN(store)(yt, cols, st16);
	}
}

/* r = 1/sqrt(mean(x^2) + eps) in the compute type (one n-term sum). */
static NB_T NB_FN(rms_r)(const NB_T *x, size_t n, double eps)
{
	NB_T s = NB_LIT(0.0);

	for (size_t i = 0; i < n; i++)
		s += x[i] * x[i];
	return NB_LIT(1.0) / NB_SQRT(s / (NB_T)n + (NB_T)eps);
}

/* LayerNorm's statistics, two passes: the mean and r = 1/sqrt(var + eps). */
static NB_T NB_FN(ln_stats)(const NB_T *x, size_t n, double eps, NB_T *mean)
{
	NB_T s = NB_LIT(0.0), q = NB_LIT(0.0), mu;

	for (size_t i = 0; i < n; i++)
		s += x[i];
	mu = s / (NB_T)n;
	for (size_t i = 0; i < n; i++) {
		NB_T c = x[i] - mu;
		q += c * c;
	}
	*mean = mu;
	return NB_LIT(1.0) / NB_SQRT(q / (NB_T)n + (NB_T)eps);
}

/* FlashNorm reader computed here: out = r (x . W*) + b per row. */
static void NB_FN(flash_own)(size_t rows, size_t n, size_t cols, double eps, const NB_T *x,
			     const NB_T *w, const NB_T *b, NB_T *out, size_t ldo, bool st16)
{
	NB_MATMUL(false, rows, cols, n, NB_LIT(1.0), x, n, w, cols, NB_LIT(0.0), out, ldo);
	for (size_t t = 0; t < rows; t++) {
		NB_T r = NB_FN(rms_r)(x + t * n, n, eps), *o = out + t * ldo;
		for (size_t j = 0; j < cols; j++)
			o[j] = o[j] * r + (b ? b[j] : NB_LIT(0.0));
		NB_FN(store)(o, cols, st16);
	}
}

/* E5: out = r (x . W* - mean(x) colsum) + b; colsum NULL: no correction. */
static void NB_FN(flash_ln_own)(size_t rows, size_t n, size_t cols, double eps,
				const NB_T *x, const NB_T *w, const NB_T *colsum, const NB_T *b,
				NB_T *out, bool st16)
{
	NB_MATMUL(false, rows, cols, n, NB_LIT(1.0), x, n, w, cols, NB_LIT(0.0), out, cols);
	for (size_t t = 0; t < rows; t++) {
		NB_T mu, r = NB_FN(ln_stats)(x + t * n, n, eps, &mu), *o = out + t * cols;
		for (size_t j = 0; j < cols; j++) {
			NB_T v = colsum ? o[j] - mu * colsum[j] : o[j];
			o[j] = r * v + (b ? b[j] : NB_LIT(0.0));
		}
		NB_FN(store)(o, cols, st16);
	}
}

static NB_T NB_FN(gelu)(NB_T z)
{
	return NB_LIT(0.5) * z * (NB_LIT(1.0) + NB_ERF(z * (NB_T)M_SQRT1_2));
}

static NB_T NB_FN(silu)(NB_T z)
{
	return z / (NB_LIT(1.0) + NB_EXP(-z));
}

/*
 * Causal multi-head attention of seq new tokens at positions pos0.. into o
 * (seq x a). q: the queries (seq rows, ld ldq); k, v: the keys and values of
 * positions 0 .. pos0+seq-1 (ld ldkv): a KV cache that holds the new tokens'
 * rows too, or, without a cache (pos0 = 0), the K and V columns of qkv. Per
 * head: S = c Q K^T (seq x (pos0+seq), one row: GEMV), a row-wise softmax
 * over each token's causal prefix (exact zeros after it), then O = S V.
 */
static void NB_FN(attention)(size_t seq, size_t pos0, size_t heads, size_t dh, const NB_T *q,
			     size_t ldq, const NB_T *k, const NB_T *v, size_t ldkv, NB_T *o,
			     NB_T *s, bool st16)
{
	size_t a = heads * dh, nk = pos0 + seq;
	NB_T c = NB_LIT(1.0) / NB_SQRT((NB_T)dh);

	for (size_t h = 0; h < heads; h++) {
		NB_MATMUL(true, seq, nk, dh, c, q + h * dh, ldq, k + h * dh, ldkv, NB_LIT(0.0), s,
			  nk);
		for (size_t t = 0; t < seq; t++) {
			size_t last = pos0 + t;
			NB_T *st = s + t * nk, mx = st[0], z = NB_LIT(0.0);
			for (size_t j = 1; j <= last; j++)
				mx = st[j] > mx ? st[j] : mx;
			/* a weight below e^NB_EXP_FLUSH is an exact zero: e^-78 over
			 * at most 4096 positions stays above FLT_MIN (e^-700 / 4096
			 * above DBL_MIN), so neither the weights nor the normalized
			 * ones are subnormal. Subnormal arithmetic made the timed
			 * decode steps 1.5-2.5x slower depending on the data (the
			 * unnormalized arrangement most); the dropped mass is below
			 * 4096 e^-78 < 1e-30 of the total, far under any rounding
			 * the check's bound allows. */
			for (size_t j = 0; j <= last; j++) {
				NB_T e = st[j] - mx;
				st[j] = e < NB_EXP_FLUSH ? NB_LIT(0.0) : NB_EXP(e);
				z += st[j];
			}
			for (size_t j = 0; j <= last; j++)
				st[j] = st[j] / z;
			for (size_t j = last + 1; j < nk; j++)
				st[j] = NB_LIT(0.0);
		}
		NB_MATMUL(false, seq, dh, nk, NB_LIT(1.0), s, nk, v + h * dh, ldkv, NB_LIT(0.0),
			  o + h * dh, a);
	}
	NB_FN(store)(o, seq * a, st16);
}

static void NB_FN(residual)(NB_T *x, const NB_T *y, size_t len, bool st16)
{
	for (size_t i = 0; i < len; i++)
		x[i] = x[i] + y[i];
	NB_FN(store)(x, len, st16);
}
