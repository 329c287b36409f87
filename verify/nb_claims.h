/* The equivalence claims E1-E6 (SPEC §4), each with its derived bound and
 * its negative control, run in long double and in each working dtype. */
#ifndef NB_CLAIMS_H
#define NB_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_status.h"
#include "ref/nb_ref_model.h"

struct nb_model;      /* verify/nb_model.h */
struct nb_model_ws;

#define NB_CLAIM_COUNT 6   /* E1 .. E6 */

/*
 * One check: claim id, configuration and verdict. All differences are
 * normwise relative to the long-double truth t (side A of the claim in long
 * double): observed = max|a - b| / max|t| over every output element (logits
 * for the model claims); err_a = max|a - t| / max|t|, err_b likewise;
 * bound = max(B_a + B_b) / max|t| where B_a, B_b are the first-order
 * running error bounds of each side in that dtype (ref/nb_ref_model.c):
 * worst case for E3, E5, E6, probabilistic (lambda = NB_CLAIMS_LAMBDA) for
 * the model claims E1, E2, E4. A claim passes when observed <= bound and
 * each side stays within its own bound (err_a <= max(B_a + B_t) / max|t|,
 * B_t the truth's own long-double bound). A control (control true) passes
 * when it FAILS by orders of magnitude: observed >= NB_CONTROL_MARGIN *
 * bound. Controls run in long double, f64 and f32, not in bf16 (its bounds
 * are within two orders of magnitude of the controls' effects).
 */
struct nb_claim_result {
	char claim[8];       /* "E1" .. "E6" */
	char name[64];       /* e.g. "Pre-LN == Pre-RMSNorm (swiglu)" */
	char dtype[8];       /* "ld" (long double), "f64", "f32", "bf16" */
	bool control;        /* the negative control of the claim */
	uint64_t seed;
	int depth;           /* layers (model claims), 0 for single-layer claims */
	int heads;           /* 0 for single-layer claims */
	int d;               /* model width (E2: the full width, stream d-1) */
	int seq;             /* tokens (or rows for single-layer claims) */
	double param;        /* E5: |mean| / std of the rows; else 0 */
	double observed, bound, err_a, err_b;
	bool pass;
	char note[96];       /* kernels used, FFN kind, why a check failed */
};

/* A control must exceed its bound by this factor (two orders of magnitude). */
#define NB_CONTROL_MARGIN 100.0

/* The model claims (E1, E2, E4) use the probabilistic bound with this
 * lambda (ref/nb_ref_model.h); the single-layer claims (E3, E5, E6) the
 * worst-case one. */
#define NB_CLAIMS_LAMBDA 6.0

struct nb_claims_config {
	bool quick;           /* CI set: a few seconds; else the full set (minutes) */
	const char *only;     /* NULL: all claims; else ids like "E1" or "E1,E5" */
	uint64_t seed;        /* base seed; the configurations derive their own */
	bool controls;        /* run the negative controls too */
	unsigned dtypes;      /* bit mask of 1u << NB_DTYPE_x (F32, F64, BF16);
			       * 0: every working dtype; long double always runs.
			       * E5 runs bf16 at |mean|/sd = 1 only: bf16 holds
			       * a row of |mean| >= 100 sd to less than sd/2 */
	int threads;          /* for the working-dtype models; 0: default */
};

#define NB_CLAIMS_CONFIG_DEFAULT \
	((struct nb_claims_config){ .quick = false, .only = NULL, .seed = 1, \
		.controls = true, .dtypes = 0, .threads = 0 })

/*
 * Runs the selected claims; *out (allocated, free with nb_claims_free) gets
 * *count results in a stable order (claim, dtype, configuration, control
 * after its claim). Errors are only for invalid configs (an unknown claim
 * id: NB_ERR_INVALID), memory, or missing kernels (NB_ERR_UNSUPPORTED):
 * a claim that does not hold is a result with pass false, not an error.
 */
enum nb_status nb_claims_run(const struct nb_claims_config *cfg,
			     struct nb_claim_result **out, size_t *count);
void nb_claims_free(struct nb_claim_result *results);

/* True when every result passed. */
bool nb_claims_all_pass(const struct nb_claim_result *r, size_t count);

/*
 * The model claims' check for one working model (the block benchmark's
 * "a fast wrong model is not a result"): work must be nb_model_from_ref of
 * target, and target nb_transform_chain of preln (not NB_NORM_NONE). Its
 * logits for tokens are compared with preln's in long double:
 * observed = max|w - t| / max|t|, bound = max(B_work + B_t) / max|t| with
 * B_work the probabilistic bound (NB_CLAIMS_LAMBDA) of target in work's
 * dtype and B_t the truth's long-double one; *pass = observed <= bound.
 * ws must hold seq tokens.
 */
enum nb_status nb_claims_check_model(const struct nb_ref_model *preln,
				     const struct nb_ref_model *target,
				     const struct nb_model *work, struct nb_model_ws *ws,
				     const uint32_t *tokens, size_t seq, double *observed,
				     double *bound, bool *pass);

/* "E1" -> "Pre-LN == Pre-RMSNorm", ...; NULL for an unknown id. */
const char *nb_claim_title(const char *id);

#endif
