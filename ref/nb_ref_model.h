/* A small pre-norm transformer in long double (plain loops, compensated sums):
 * the truth the equivalence claims of verify/ are judged against, with a
 * first-order running error bound for a working dtype's rounding. */
#ifndef NB_REF_MODEL_H
#define NB_REF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_dtype.h"
#include "common/nb_status.h"
#include "common/nb_variant.h" /* enum nb_norm_kind: how a model's norms are arranged */

enum nb_ffn_kind {
	NB_FFN_GELU,    /* W2 . gelu(x W1 + b1) + b2, exact erf GELU */
	NB_FFN_SWIGLU,  /* W2 . (silu(x W1 + b1) * (x W3 + b3)) + b2: W1 gate, W3 up */
	NB_FFN_COUNT
};

struct nb_model_shape {
	size_t vocab;     /* V: token embedding rows, logits per token */
	size_t max_seq;   /* T: position embedding rows (seq <= T) */
	size_t d;         /* model width; the stream stores d-1 under CRMSNorm */
	size_t heads;     /* H */
	size_t head_dim;  /* dh: the attention width a = H*dh is independent of d */
	size_t ffn;       /* f: FFN hidden width */
	size_t layers;    /* L >= 1 */
	enum nb_ffn_kind ffn_kind;
	double eps;       /* every norm: 1/sqrt(ms + eps), eps inside the root */
};

/*
 * A parameter tensor: rows x cols row-major values v, and err, a bound on
 * |v - exact| left by the transformations that made it (all zero for random
 * parameters, which are exact by definition). Matrices are stored in the
 * orientation y = x . W: rows index the input coordinate.
 */
struct nb_ref_tensor {
	long double *v;
	long double *err;
	size_t rows, cols;
};

/* n: stream width (d, or d-1 for CRMSNorm); a = H*dh; f = ffn. */
struct nb_ref_layer {
	struct nb_ref_tensor norm1_g, norm1_b;     /* n */
	struct nb_ref_tensor wq, wk, wv;           /* n x a */
	struct nb_ref_tensor bq, bk, bv;           /* a */
	struct nb_ref_tensor wo;                   /* a x n (writes the stream) */
	struct nb_ref_tensor bo;                   /* n */
	struct nb_ref_tensor norm2_g, norm2_b;     /* n */
	struct nb_ref_tensor w1, b1;               /* n x f, f: GELU up or SwiGLU gate */
	struct nb_ref_tensor w3, b3;               /* n x f, f: SwiGLU up (0 x 0 for GELU) */
	struct nb_ref_tensor w2;                   /* f x n (writes the stream) */
	struct nb_ref_tensor b2;                   /* n */
};

struct nb_ref_model {
	struct nb_model_shape shape;
	enum nb_norm_kind norm;
	size_t n;                          /* stream width */
	/* negative control of E4: FlashNorm applies 1/rms after the activated
	 * branch's nonlinearity instead of before it (wrong) */
	bool flash_scale_after_act;
	struct nb_ref_tensor tok;          /* V x n (writes the stream) */
	struct nb_ref_tensor pos;          /* T x n (writes the stream) */
	struct nb_ref_layer *layer;        /* L */
	struct nb_ref_tensor normf_g, normf_b; /* n: the final norm */
	struct nb_ref_tensor head, bhead;  /* n x V, V */
	/* storage: every tensor points into these two arenas */
	long double *arena_v, *arena_err;
	size_t arena_len;
};

/*
 * What a working dtype does to a computation, for the running error bound
 * (all unit roundoffs): u_param rounds each parameter and input from long
 * double to storage; u_store rounds each activation written to storage when
 * storage is narrower than the arithmetic (bf16 storage, f32 arithmetic);
 * u_arith is the arithmetic's unit roundoff.
 *
 * lambda = 0: the worst-case bound, rigorous to first order. It compounds
 * about sqrt(width) per matrix product (sum |x||W| against |sum x W|), so
 * after a layer or two it no longer says anything. lambda > 0: the
 * probabilistic bound. Rounding errors are independent and zero-mean
 * (Higham & Mary's model) and independent of the random weights; each
 * quantity carries the standard-deviation scale of its error (a k-term
 * sum's rounding sqrt(k) u sum|terms|, errors propagated through a sum add
 * in quadrature, contributions of different stages add linearly), and the
 * bound a caller sees is lambda times it (lambda = 6: a Gaussian tail of
 * 2e-9). The model claims use lambda = 6 and check, in every run, that each
 * side's actual error stays inside it.
 */
struct nb_ref_errmodel {
	long double u_param, u_store, u_arith;
	long double lambda;
};

/* Long double itself: u_param = u_store = 0, u_arith = 2^-64. */
struct nb_ref_errmodel nb_ref_errmodel_ld(void);
/* f32 (2^-24 everywhere), f64 (2^-53), bf16 (storage 2^-8, arithmetic f32). */
struct nb_ref_errmodel nb_ref_errmodel_dtype(enum nb_dtype t);

/* gamma_k = k u / (1 - k u): the bound on a k-term sum's relative error
 * (with lambda > 0: sqrt(k) u, the standard-deviation scale). */
long double nb_ref_gamma(const struct nb_ref_errmodel *em, size_t k);

/* A standalone tensor (rows x cols, values and err zero); free with
 * nb_ref_tensor_free. cols may be 1 for a vector. */
enum nb_status nb_ref_tensor_alloc(size_t rows, size_t cols, struct nb_ref_tensor *t);
void nb_ref_tensor_free(struct nb_ref_tensor *t);

/* Validates a shape (every size > 0, seq limits, d >= 2, eps >= 0). */
enum nb_status nb_model_shape_check(const struct nb_model_shape *s);

/* Allocates a model of kind norm with every parameter and err zero. */
enum nb_status nb_ref_model_alloc(const struct nb_model_shape *s, enum nb_norm_kind norm,
				  struct nb_ref_model **out);
/*
 * A random model (common/nb_rng.h, seeded): matrices N(0, 1/fan_in), norm
 * gains uniform in [0.5, 1.5], norm biases N(0, 0.2^2), other biases
 * N(0, 0.1^2), token embeddings N(0, 3^2) and positions N(0, 1.5^2) (a
 * stream rms well above 1, as in real models). The embeddings, the writer
 * matrices and the writers' biases get a common per-row offset
 * (non-zero-mean writers, as in real models), which is what makes
 * LayerNorm and RMSNorm differ when nothing is recentred.
 */
enum nb_status nb_ref_model_random(const struct nb_model_shape *s, enum nb_norm_kind norm,
				   uint64_t seed, struct nb_ref_model **out);
enum nb_status nb_ref_model_clone(const struct nb_ref_model *m, struct nb_ref_model **out);
void nb_ref_model_free(struct nb_ref_model *m);

/* Tensors per layer and per model outside the layers, for iteration. */
#define NB_REF_LAYER_TENSORS 18
#define NB_REF_MODEL_TENSORS(layers) (6 + NB_REF_LAYER_TENSORS * (layers))
/* Every tensor of m in a fixed order (tok, pos, each layer's tensors in
 * struct order, normf_g, normf_b, head, bhead) into list (room for
 * NB_REF_MODEL_TENSORS(L)); returns the count. Unused tensors (w3, b3 of a
 * GELU model) are listed with 0 rows. */
size_t nb_ref_model_tensors(const struct nb_ref_model *m, const struct nb_ref_tensor **list);

/* Token ids uniform in [0, V). */
void nb_ref_model_tokens(const struct nb_model_shape *s, uint64_t seed, uint32_t *tokens,
			 size_t seq);

/*
 * The forward pass: logits (seq x V). With em, also bound (seq x V): a
 * first-order bound on |logit computed in em's dtype, in this model's
 * arrangement - exact logit|, from the running error analysis of every step
 * (parameters' err plus em's rounding; see nb_ref_model.c for each rule).
 * em and bound may be NULL. seq <= max_seq, every token < V.
 */
enum nb_status nb_ref_model_forward(const struct nb_ref_model *m, const uint32_t *tokens,
				    size_t seq, const struct nb_ref_errmodel *em,
				    long double *logits, long double *bound);

/* The three stages of nb_ref_model_forward, for tests and the block
 * benchmark's check. x, xb: seq x n stream values and error bounds (xb may be
 * NULL when em is). */
enum nb_status nb_ref_model_embed(const struct nb_ref_model *m, const uint32_t *tokens,
				  size_t seq, const struct nb_ref_errmodel *em,
				  long double *x, long double *xb);
enum nb_status nb_ref_model_layer(const struct nb_ref_model *m, size_t layer, size_t seq,
				  const struct nb_ref_errmodel *em, long double *x,
				  long double *xb);
enum nb_status nb_ref_model_final(const struct nb_ref_model *m, size_t seq,
				  const struct nb_ref_errmodel *em, const long double *x,
				  const long double *xb, long double *logits, long double *bound);

/*
 * Single-layer building blocks (the model uses the same code). Each works
 * on rows x n inputs x with error bounds xb (NULL: x is exact; em's u_param
 * still applies to x as its rounding to storage) and writes values and,
 * when em is given, bounds (yb).
 */

/* y = norm(x) for kind LAYERNORM (g, b), RMSNorm (g, b optional: NULL) or
 * CRMSNORM (x' has n = d-1 elements, g n elements; d = n + 1). */
enum nb_status nb_ref_norm(enum nb_norm_kind kind, size_t rows, size_t n, double eps,
			   const long double *x, const long double *xb,
			   const struct nb_ref_tensor *g, const struct nb_ref_tensor *b,
			   const struct nb_ref_errmodel *em, long double *y, long double *yb);

/* y = x . W + b (b may have v NULL or be NULL: no bias); W is n x m. */
enum nb_status nb_ref_linear(size_t rows, const long double *x, const long double *xb,
			     const struct nb_ref_tensor *w, const struct nb_ref_tensor *b,
			     const struct nb_ref_errmodel *em, long double *y, long double *yb);

/*
 * FlashNorm readers: y = r * (x . W*) + b with r = 1/sqrt(mean(x^2) + eps)
 * (mean_fold false), or the LayerNorm fold of claim E5 (mean_fold true):
 * y = r * (x . W* - mean(x) * colsum) + b with r = 1/sqrt(var(x) + eps) and
 * colsum = 1^T W* (m). Control of E5: mean_fold true with colsum NULL
 * (the mean correction omitted, r still from the variance).
 */
enum nb_status nb_ref_flash_linear(size_t rows, double eps, bool mean_fold,
				   const long double *x, const long double *xb,
				   const struct nb_ref_tensor *w, const struct nb_ref_tensor *colsum,
				   const struct nb_ref_tensor *b, const struct nb_ref_errmodel *em,
				   long double *y, long double *yb);

const char *nb_norm_kind_name(enum nb_norm_kind k);  /* "layernorm", ..., "none" */
const char *nb_ffn_kind_name(enum nb_ffn_kind k);    /* "gelu", "swiglu" */

#endif
