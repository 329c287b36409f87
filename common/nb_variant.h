/* The normalization variants and their traits, all made of the one list
 * common/nb_variants.def: the variant enum of kernels and references, the
 * norm arrangement of whole models, stored width, bias, cost model, names. */
#ifndef NB_VARIANT_H
#define NB_VARIANT_H

#include <stdbool.h>
#include <stddef.h>

enum nb_variant {
#define NB_MODEL_VARIANT(ID, ...) NB_VARIANT_##ID,
#define NB_KERNEL_VARIANT(ID, ...) NB_VARIANT_##ID,
#include "common/nb_variants.def"
#undef NB_MODEL_VARIANT
#undef NB_KERNEL_VARIANT
	NB_VARIANT_COUNT
};

/*
 * How every norm of a model is arranged (one kind per model): the
 * NB_MODEL_VARIANT lines, in their order, then NONE.
 *   LAYERNORM  Pre-LN: g * (x - mean) * r + b
 *   RMSNORM    Pre-RMSNorm: g * x * r (the norm bias is unused)
 *   CRMSNORM   Pre-CRMSNorm: the stream stores n = d-1 coordinates
 *   FLASHNORM  RMSNorm with its gain folded into every reader:
 *              reader(x) = r * (x . W*) + b, W* = diag(g) W; the norm
 *              gains and biases are unused
 */
enum nb_norm_kind {
#define NB_MODEL_VARIANT(ID, ...) NB_NORM_##ID,
#define NB_KERNEL_VARIANT(ID, ...)
#include "common/nb_variants.def"
#undef NB_MODEL_VARIANT
#undef NB_KERNEL_VARIANT
	NB_NORM_NONE,       /* no normalization (a benchmark bound, no claim) */
	NB_NORM_COUNT
};

/* Flops of one call: rows * (per_n*n + per_k*k + per_row + per_nm*n*m +
 * per_m*m), n stored elements, k rms elements, m output width. */
struct nb_flops {
	double per_n, per_k, per_row, per_nm, per_m;
};

/* The fields of a common/nb_variants.def line (see there). */
struct nb_variant_traits {
	const char *name;      /* "crmsnorm": CLI and results files */
	const char *title;     /* "CRMSNorm": tables and figures */
	size_t stored_less;    /* a row stores d - stored_less elements */
	bool has_bias;         /* benchmark cells carry a bias */
	bool linear;           /* output of the following linear layer (m wide) */
	struct nb_flops fwd, bwd;
};

extern const struct nb_variant_traits nb_variant_traits[NB_VARIANT_COUNT];

/* Elements a row of variant v stores at model width d (0 when d is at most
 * stored_less, which nb_problem_check refuses). */
size_t nb_variant_stored(enum nb_variant v, size_t d);
/* The smallest model width variant v accepts. */
size_t nb_variant_min_d(enum nb_variant v);
/* The same for a model's norm kind (NONE stores d). */
size_t nb_norm_stored(enum nb_norm_kind k, size_t d);
/* The variant a norm kind is made of; NB_VARIANT_COUNT for NONE. */
enum nb_variant nb_norm_variant(enum nb_norm_kind k);

/* "?" when out of range. */
const char *nb_variant_name(enum nb_variant v);
/* NB_VARIANT_COUNT when unknown. Accepts the names of nb_variants.def:
 * "layernorm", "rmsnorm", "prmsnorm", "crmsnorm", "flashnorm". */
enum nb_variant nb_variant_from_name(const char *name);

#endif
