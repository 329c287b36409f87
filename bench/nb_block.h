/* The end-to-end block benchmark (SPEC §5): one pre-norm transformer layer
 * with each normalization arrangement, each timed configuration checked once
 * against the Pre-LN model, and the norm-then-projection pair. */
#ifndef NB_BLOCK_H
#define NB_BLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/nb_results.h"
#include "bench/nb_sweep.h"
#include "common/nb_status.h"
#include "ref/nb_ref_model.h"

/*
 * What is measured. Block cells (suite "block"): one group per (d, seq,
 * threads), six cells interleaved: Pre-LN, Pre-RMSNorm (E1), Pre-CRMSNorm
 * (E1+E2, stream width d-1), FlashNorm (E1+E4), no norm (the bound) and a
 * second, separately built and allocated Pre-LN model (the A/A control: its
 * difference from Pre-LN is the group's noise floor, memory placement
 * included). Norm-projection cells (suite "normproj"): one group per
 * (tokens, threads) of the registry's flashnorm_fwd_<dtype>_unfused (RMSNorm
 * then GEMM) and _fused entries at width np_d, output width np_m, plus a
 * second unfused cell with its own buffers (suite "normproj_aa": the
 * group's A/A control); they run through the kernel measurement of
 * `normbench run` (nb_block_plan_normproj).
 */
#define NB_BLOCK_MAX_AXIS 16

/* Widest model whose long-double reference the check builds: wider timed
 * models are checked on a twin of this width (see nb_block_run_finish). */
#define NB_BLOCK_CHECK_D 128
/* Vocabulary of the benchmark models: the timed layer never reads it; the
 * check compares seq x vocab logits. */
#define NB_BLOCK_VOCAB 64

/* Deliberately wrong models, for the tests of the check (never used by a
 * run): the check must fail them. */
enum nb_block_fault {
	NB_BLOCK_FAULT_NONE,
	NB_BLOCK_FAULT_FLASH_NOFOLD,  /* FlashNorm readers keep W: the gains never folded */
	NB_BLOCK_FAULT_PERTURB,       /* RMS/CRMS/FlashNorm models: W2 of layer 0
				       * scaled elementwise by 1 + 0.05 N(0,1) */
	NB_BLOCK_FAULT_COUNT
};

/* Sizes of the three presets: tiny (--quick), reduced (the default sweep),
 * full (`--suite block`, paper and vendor presets). */
enum nb_block_level { NB_BLOCK_TINY, NB_BLOCK_REDUCED, NB_BLOCK_FULL };

struct nb_block_config {
	bool layer;                       /* time the layer cells (suite "block") */
	bool normproj;                    /* time the pair (suite "normproj") */
	size_t d[NB_BLOCK_MAX_AXIS];      /* model widths */
	size_t nd;
	size_t seq[NB_BLOCK_MAX_AXIS];    /* tokens per forward pass */
	size_t nseq;
	size_t ctx[NB_BLOCK_MAX_AXIS];    /* KV-cache contexts of the one-token
					   * (decode) cells; prefill cells have none */
	size_t nctx;
	enum nb_ffn_kind ffn;             /* the layer's FFN */
	enum nb_dtype dtype;              /* f32 (the only one timed, see README) */
	size_t np_tokens[NB_BLOCK_MAX_AXIS]; /* rows of the norm-projection pair */
	size_t nnp;
	size_t np_d, np_m;                /* its x width and output width */
	size_t check_d;                   /* NB_BLOCK_CHECK_D */
	uint64_t seed;
	double eps;
	enum nb_block_fault fault;        /* tests only */
};

/* A preset; eps and seed are the run's (set them after). */
void nb_block_preset(enum nb_block_level level, struct nb_block_config *c);
/* The level a `normbench run` preset implies: quick -> tiny, default and ci
 * -> reduced (full when only_block: `--suite block` asks for the suite
 * itself), paper and vendor -> full. */
enum nb_block_level nb_block_level_for(const char *preset, bool only_block);

/* Option parsers (comma-separated): widths 8..16384 (the model's reference
 * layout needs d >= 8), tokens 1..4096, "swiglu" or "gelu". Each replaces
 * the axis; NB_ERR_INVALID with a message naming the bad item. */
enum nb_status nb_block_parse_d(const char *csv, struct nb_block_config *c);
enum nb_status nb_block_parse_seq(const char *csv, struct nb_block_config *c);
enum nb_status nb_block_parse_ffn(const char *name, struct nb_block_config *c);
/* Contexts of the decode cells, 1..4095 cached tokens (--block-context). */
enum nb_status nb_block_parse_context(const char *csv, struct nb_block_config *c);
/* Token counts of the normproj pair, 1..4096 (--normproj-tokens). */
enum nb_status nb_block_parse_normproj_tokens(const char *csv, struct nb_block_config *c);

/*
 * The benchmark model of width d: head_dim = min(128, d/2), heads =
 * d / head_dim, FFN 4d (GELU) or 8d/3 rounded up to a multiple of 256
 * (SwiGLU, Llama's rule; of 16 below d = 1024), one layer, vocab
 * NB_BLOCK_VOCAB, max_seq tokens at most.
 */
void nb_block_shape(size_t d, enum nb_ffn_kind ffn, size_t max_seq, double eps,
		    struct nb_model_shape *s);

/* The cells of a block group; the first five have the numbers of
 * enum nb_norm_kind. */
enum nb_block_arr {
	NB_BLOCK_PRELN = NB_NORM_LAYERNORM,
	NB_BLOCK_PRERMS = NB_NORM_RMSNORM,
	NB_BLOCK_PRECRMS = NB_NORM_CRMSNORM,
	NB_BLOCK_FLASH = NB_NORM_FLASHNORM,
	NB_BLOCK_NONORM = NB_NORM_NONE,
	NB_BLOCK_PRELN_AA,            /* the A/A control: a second Pre-LN model */
	NB_BLOCK_ARR_COUNT
};

/* "preln", "prermsnorm", "precrmsnorm", "flashnorm", "nonorm", "preln_aa". */
const char *nb_block_arr_name(enum nb_block_arr arr);
/* The model arrangement of a cell (PRELN_AA: NB_NORM_LAYERNORM). */
enum nb_norm_kind nb_block_arr_norm(enum nb_block_arr arr);

/* One planned block cell: a prefill of seq tokens (context 0: attention
 * over those tokens alone), or, for seq = 1, the decode step of one new token
 * attending over `context` cached keys and values plus its own. */
struct nb_block_cell {
	enum nb_block_arr arr;
	size_t d, seq;
	size_t context;
	int threads;
	int group;
};

/* The layer cells of c over the thread counts given: d outermost (the
 * models of one width are built once), then seq (one token: each context of
 * c->ctx, a group each), then threads; groups
 * numbered from first_group. *cells malloc'd; none when !c->layer. */
enum nb_status nb_block_plan(const struct nb_block_config *c, const int *threads,
			     size_t nthreads, int first_group, struct nb_block_cell **cells,
			     size_t *ncells);
/* The norm-projection cells as kernel cells of the run (suite "normproj":
 * unfused, fused; then the unfused A/A copy in suite "normproj_aa"),
 * groups from first_group. *cells malloc'd; none when !c->normproj. */
enum nb_status nb_block_plan_normproj(const struct nb_block_config *c, const int *threads,
				      size_t nthreads, int first_group,
				      struct nb_planned_cell **cells, size_t *ncells);

/* Bytes the session holds at most (models of the widest d, workspaces of a
 * group, the check's long-double twin): to refuse what cannot fit. */
double nb_block_bytes(const struct nb_block_config *c);

/*
 * The models: built per width when a cell of a new width is set up (the
 * previous width's are freed), plus the long-double check family. For
 * d <= check_d the timed models ARE the equivalent models: one random
 * Pre-LN model in long double, nb_transform_chain to each arrangement,
 * rounded once to the working dtype. Wider timed models are drawn at random
 * (nb_model_create, same distributions; a layer's time does not depend on
 * its weights' values), and their check runs on the twin of width check_d.
 */
struct nb_block_session;
enum nb_status nb_block_session_create(const struct nb_block_config *c,
				       struct nb_block_session **out);
void nb_block_session_free(struct nb_block_session *s);

/* One cell ready to time: its model, a workspace of seq tokens (allocated
 * and touched), the embedded input stream kept to restore. A decode cell
 * (context > 0) also gets a KV cache of context + 1 positions whose first
 * `context` are filled, before timing, with the same N(0, 1) keys and
 * values for every arrangement (nb_model_kv_fill, seeded by the run's seed
 * and the context); its input is token `context` of the check's token
 * sequence, embedded at position `context`. */
struct nb_block_run;
enum nb_status nb_block_run_setup(struct nb_block_session *s, const struct nb_block_cell *cell,
				  struct nb_block_run **out);
/* The timed call (ctx: a struct nb_block_run): restore the input stream
 * (a copy of seq x n values, so every call does the same work; a repeated
 * in-place layer would grow the stream without bound) and run one layer
 * (a decode cell: at position `context`, attending over the cache; its
 * write of the new token's key and value goes to position `context` each
 * time, the context itself is never rewritten). */
enum nb_status nb_block_run_call(void *ctx);
/* The stream after the last call (seq x n working-dtype values) and its
 * size in bytes. */
const void *nb_block_run_output(const struct nb_block_run *r, size_t *bytes);
/* Bytes (STREAM counting: the layer's parameters once, the stream read and
 * written, a decode cell's cache read once: 2 (context + 1) a values) and
 * flops (the matrix products: 2 seq n (3a + a + f13 + f) plus 4 seq keys a
 * for the attention scores and values, keys = seq + context) of one call. */
struct nb_cost nb_block_run_cost(const struct nb_block_run *r);
/*
 * After timing, once: fills row's identity (suite "block", variant = the
 * arrangement, impl = the norm kernel the model runs, algo = the FFN kind,
 * rows = seq, d, n = stream width, k = n, m = FFN width, threads, group,
 * cache "hot", bytes, flops, working set, blas_routine: the routines one
 * extra, untimed call issued through kernels/nb_matmul.h, counted) and the
 * check: verified (1 pass,
 * 0 fail), err_ratio = observed / bound, verify_note, context. Statistics
 * are the caller's. The check, as nb_claims_check_model: the model's logits
 * for seq tokens against the long-double Pre-LN model's (a decode cell: the
 * one token's logits after a prefill of `context` tokens that fills the
 * caches, nb_model_forward_decode, against the last row of the long-double
 * causal forward over context + 1 tokens; the no-norm model
 * against its own long-double self: it is equivalent to nothing),
 * observed = max|w - t| / max|t|, bound = max(B_w + B_t) / max|t|, B the
 * probabilistic running error bounds (lambda NB_CLAIMS_LAMBDA) of the
 * model in the working dtype and of the truth in long double. Returns an
 * error only when the check could not run (then verified = -1).
 */
enum nb_status nb_block_run_finish(struct nb_block_session *s, struct nb_block_run *r,
				   struct nb_cell_row *row);
void nb_block_run_free(struct nb_block_run *r);

/*
 * What the report needs of a block cell, from the raw samples of its group:
 * reduction = 1 - t / t_preln (> 0: faster than Pre-LN) and the share of
 * the layer's time spent in normalization, share = (t - t_nonorm) / t.
 * Each ratio is paired by round: the median over rounds of t_r / t_preln,r
 * (the cells of a group are sampled once per round, so drift between rounds
 * cancels), with the percentile-bootstrap 95% CI of that median (rounds
 * resampled, 2000 times, seeded); unpaired nb_bootstrap_ratio_ci when the
 * rounds do not match. aa = 1 - t_preln_aa / t_preln, the group's A/A
 * difference: a reduction whose CI does not clear it is not attributable to
 * the normalization. has_* false when the group lacks the Pre-LN / no-norm /
 * A/A cell or the samples.
 */
struct nb_block_derived {
	bool has_reduction, has_share, has_aa;
	double reduction, reduction_lo, reduction_hi;
	double share, share_lo, share_hi;
	double aa, aa_lo, aa_hi;
};
enum nb_status nb_block_derive(const struct nb_results *r, size_t cell, uint64_t seed,
			       struct nb_block_derived *out);

/*
 * The suite's self-checks (issue 13): a result the harness cannot produce
 * honestly fails the run. Noise floor of a group: its A/A difference's
 * 95% CI, margin = max(1 - lo, hi - 1) of the ratio t_copy / t_original
 * (block: preln_aa / preln; normproj: the A/A unfused copy / unfused).
 *  - NONORM: a block cell (any arrangement but no-norm) whose ratio
 *    t / t_nonorm has its whole CI below 1 - margin: faster than the same
 *    layer without its normalization, beyond the noise.
 *  - THREADS: a GEMM-dominated block cell (flops / bytes >=
 *    NB_BLOCK_GEMM_INTENSITY) whose 2-thread time over its 1-thread time
 *    (unpaired bootstrap CI: other groups) lies wholly above 1 + margin of
 *    the 2-thread group.
 *  - FUSED: a normproj group whose fused / unfused ratio lies wholly outside
 *    [1 - margin, 1 + margin].
 * A cell noted busy (another task competed) or oversubscribed is not
 * judged (counted in skipped: its time is not the arrangement's); nor is a
 * group without its A/A cell. failed counts the checks that fired; text
 * gets one "; "-separated line per failure ("passed (J judged, S
 * skipped)" when none, "NOT JUDGED (0 judged, S skipped)" when every cell
 * was skipped: a quiet result, not a pass).
 */
#define NB_BLOCK_GEMM_INTENSITY 32.0  /* flop/byte: far above this VM's ridge (~10) */
struct nb_block_selfcheck {
	size_t judged, skipped, failed;
	char text[4096];
};
void nb_block_self_check(const struct nb_results *r, uint64_t seed,
			 struct nb_block_selfcheck *out);

/* The block and normproj cells of r as text tables (time per layer, change
 * against Pre-LN with CI, norm share; fused against unfused); nothing when
 * r has none. */
void nb_block_print_summary(const struct nb_results *r, FILE *out);

#endif
