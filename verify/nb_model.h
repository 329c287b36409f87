/* The pre-norm transformer of ref/nb_ref_model.h in a working dtype: norms
 * through the kernel registry (nb_kernel_best + nb_kernel_run), products
 * through OpenBLAS cblas; for the claims and the end-to-end block benchmark. */
#ifndef NB_MODEL_H
#define NB_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_dtype.h"
#include "common/nb_status.h"
#include "ref/nb_ref_model.h"

/*
 * Working dtypes: NB_DTYPE_F32 (f32 storage and arithmetic), NB_DTYPE_F64,
 * NB_DTYPE_BF16 (every weight and every activation written to memory is a
 * bf16 value; arithmetic in f32; norms run the registry's bf16 kernels).
 * The compute buffers hold float for f32/bf16 and double for f64.
 */
struct nb_model;      /* opaque: the weights in the working dtype */
struct nb_model_ws;   /* opaque: preallocated activations for <= seq tokens */

/* Whether the working model supports dtype t (f32, f64, bf16). */
bool nb_model_dtype_supported(enum nb_dtype t);

/* A working copy of a long-double model: every parameter rounded once
 * (to nearest) to dtype; the arrangement (norm kind, E4 control flag) is
 * kept. */
enum nb_status nb_model_from_ref(const struct nb_ref_model *ref, enum nb_dtype dtype,
				 struct nb_model **out);
/* Random weights straight in the working dtype (for benchmark shapes too
 * large for a long-double model): same distributions as
 * nb_ref_model_random, no equivalence to anything. */
enum nb_status nb_model_create(const struct nb_model_shape *s, enum nb_norm_kind norm,
			       enum nb_dtype dtype, uint64_t seed, struct nb_model **out);
void nb_model_free(struct nb_model *m);

const struct nb_model_shape *nb_model_shape_of(const struct nb_model *m);
enum nb_norm_kind nb_model_norm_of(const struct nb_model *m);
enum nb_dtype nb_model_dtype_of(const struct nb_model *m);
size_t nb_model_width(const struct nb_model *m);   /* stream width n */
/* The registry kernel the model's norms run ("layernorm_fwd_f32_avx512",
 * ...), the FlashNorm kernel, "own" (FlashNorm computed in nb_model: bf16,
 * or no registry entry) or "none". */
const char *nb_model_kernel_name(const struct nb_model *m);
/* Bytes of the weights (what one forward pass must read once). */
size_t nb_model_weight_bytes(const struct nb_model *m);

/*
 * Workspace for up to seq tokens. threads: OpenMP threads of the norm
 * kernels and OpenBLAS threads (openblas_set_num_threads is process-wide and
 * is set at each forward call); 0 = the libraries' defaults. All buffers
 * are allocated and touched here, never on the forward path.
 */
enum nb_status nb_model_ws_create(const struct nb_model *m, size_t seq, int threads,
				  struct nb_model_ws **out);
/*
 * The same with a KV cache of kv_cap positions per layer (0: none, as
 * nb_model_ws_create): every layer call then writes its tokens' keys and
 * values into the cache at their positions and attends over the cache
 * (positions 0 .. pos0+seq-1), as a decoding inference does. The cache is
 * allocated and touched here; the score buffer holds seq x max(seq, kv_cap).
 */
enum nb_status nb_model_ws_create_kv(const struct nb_model *m, size_t seq, size_t kv_cap,
				     int threads, struct nb_model_ws **out);
void nb_model_ws_free(struct nb_model_ws *ws);
/* Positions [0, ctx) of every layer's cache get N(0, 1) keys and values
 * from seed, rounded to the working dtype: the same contents for every
 * model of the same attention width and depth, whatever its norm. */
enum nb_status nb_model_kv_fill(const struct nb_model *m, struct nb_model_ws *ws, size_t ctx,
				uint64_t seed);

/* The residual stream inside ws: seq x n, float (f32/bf16) or double (f64). */
void *nb_model_ws_stream(struct nb_model_ws *ws);
/* Loads / reads the stream as doubles (rounded to the working dtype on load). */
enum nb_status nb_model_stream_set(const struct nb_model *m, struct nb_model_ws *ws,
				   size_t seq, const double *x);
enum nb_status nb_model_stream_get(const struct nb_model *m, const struct nb_model_ws *ws,
				   size_t seq, double *x);

/* Whole forward: embeddings, L layers, final norm, head -> logits (seq x V,
 * widened exactly to double). */
enum nb_status nb_model_forward(const struct nb_model *m, struct nb_model_ws *ws,
				const uint32_t *tokens, size_t seq, double *logits);
/* Only the embedding step: the stream of ws gets the first seq tokens. */
enum nb_status nb_model_embed(const struct nb_model *m, struct nb_model_ws *ws,
			      const uint32_t *tokens, size_t seq);
/* The same for tokens at positions pos0 .. pos0+seq-1 (< max_seq). */
enum nb_status nb_model_embed_at(const struct nb_model *m, struct nb_model_ws *ws,
				 const uint32_t *tokens, size_t seq, size_t pos0);
/*
 * One layer (norm, Q/K/V, causal attention, output projection, residual,
 * norm, FFN, residual) in place on the stream of ws: the block benchmark's
 * timed call. No allocation, no validation beyond cheap argument checks.
 */
enum nb_status nb_model_layer_forward(const struct nb_model *m, struct nb_model_ws *ws,
				      size_t layer, size_t seq);
/* The same for seq tokens at positions pos0..: with a KV cache, the layer
 * reads positions [0, pos0) of its cache as the context (the decode step:
 * seq = 1, pos0 = the context length); without one, pos0 must be 0. */
enum nb_status nb_model_layer_forward_at(const struct nb_model *m, struct nb_model_ws *ws,
					 size_t layer, size_t seq, size_t pos0);
/* A prefill of tokens[0, ctx) through every layer (filling the caches of a
 * workspace of >= ctx tokens and a cache of >= ctx + 1), then the decode of
 * token ctx at position ctx: logits (V) of that one token. What a causal
 * forward over ctx + 1 tokens gives in its last row. */
enum nb_status nb_model_forward_decode(const struct nb_model *m, struct nb_model_ws *ws,
				       const uint32_t *tokens, size_t ctx, double *logits);

/*
 * Single-layer arrangements in a working dtype, for claims E3, E5, E6 (and
 * the block benchmark's norm-then-projection pair). Inputs are long-double
 * free doubles: each is rounded to dtype here (parameter rounding), outputs
 * are widened exactly to double.
 */
enum nb_norm_linear_arr {
	NB_NL_NORM,        /* z = norm(x) (m = 0): kind LN/RMS/CRMS via the registry */
	NB_NL_NORM_LINEAR, /* z = norm(x) . W + c: the registry's norm kernel, then gemm */
	NB_NL_FLASH,       /* z = r * (x . W*) + c: registry FlashNorm kernel (fused)
			    * when there is one for dtype, else gemm + 1/rms here */
	NB_NL_FLASH_LN,    /* z = r * (x . W* - mean(x) colsum) + c, r from var(x) (E5) */
	NB_NL_COUNT
};

struct nb_norm_linear {
	enum nb_norm_linear_arr arr;
	enum nb_norm_kind kind;   /* NB_NL_NORM / _NORM_LINEAR: LN, RMS or CRMS */
	size_t rows, n, m;        /* x rows x n; W n x m (m = 0 for NB_NL_NORM) */
	double eps;               /* inside the root */
	const double *x;          /* rows x n */
	const double *gain;       /* n: norm gain; NB_NL_FLASH with fold: the gain to fold */
	const double *bias;       /* n or NULL: norm bias */
	const double *w;          /* n x m: W, or W* when not folding here */
	const double *out_bias;   /* m or NULL: c */
	const double *colsum;     /* m: 1^T W* (NB_NL_FLASH_LN; NULL = omit the mean
				   * correction: E5's control) */
	bool fold;                /* NB_NL_FLASH: W* = nb_flashnorm_fold(gain, W) in
				   * the working dtype */
};

/* Runs a in dtype; z: rows x m (rows x n for NB_NL_NORM). kernel_name, if
 * not NULL, receives the registry entry used for the norm / FlashNorm step
 * ("own" when computed here), at most 48 bytes. */
enum nb_status nb_model_norm_linear(enum nb_dtype dtype, const struct nb_norm_linear *a,
				    double *z, char *kernel_name);

#endif
