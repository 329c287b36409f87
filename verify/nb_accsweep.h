/* The accuracy sweep of `normbench verify`: every usable registry entry,
 * forward and backward, on seeded Gaussian and outlier-heavy rows of several
 * shapes, and the same judgement on a user's own rows (--input). */
#ifndef NB_ACCSWEEP_H
#define NB_ACCSWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_problem.h"
#include "common/nb_status.h"
#include "kernels/nb_kernels.h"
#include "verify/nb_accuracy.h"
#include "verify/nb_verify_file.h"

struct nb_accsweep_config {
	bool quick;                  /* CI set (seconds); else the full set */
	uint64_t seed;               /* base data seed */
	struct nb_conventions conv;  /* the primary conventions */
	bool other_eps_mode;         /* also sweep the other eps convention
				      * (on a subset of shapes) */
	const char *kernels;         /* comma list of registry names; NULL: all */
	const char *variants;        /* comma list of variant names; NULL: all */
	int threads;                 /* kernel threads; 0: OpenMP's default */
	bool progress;               /* "[i/N] kernel" lines on stderr */
	/* extra entries judged like registry ones (tests, and the hidden
	 * NB_VERIFY_INJECT hook that proves a bad kernel fails) */
	const struct nb_kernel *extra;
	size_t nextra;
};

#define NB_ACCSWEEP_CONFIG_DEFAULT \
	((struct nb_accsweep_config){ .quick = false, .seed = 1, \
		.conv = NB_CONVENTIONS_DEFAULT, .other_eps_mode = true })

struct nb_accsweep_stats {
	size_t kernels;       /* entries judged */
	size_t skipped;       /* entries this CPU (or the ISA cap) cannot run */
	size_t cases;         /* kernel runs */
};

/* The sweep's shapes; other_eps: the other eps convention is swept at that
 * shape too (first seed only). */
struct nb_accsweep_shape {
	size_t rows;
	size_t d;
	bool other_eps;
};

const struct nb_accsweep_shape *nb_accsweep_shapes(bool quick, size_t *count);
/* Seeds per shape (data kinds per seed: NB_DATA_COUNT of verify/nb_data.h). */
size_t nb_accsweep_seeds(bool quick);
/* Rows one case of kernel k adds to /verify/kernels (y; or dx, dgain, dbias). */
size_t nb_accsweep_outputs(const struct nb_kernel *k);

/* Checks the kernels/variants filters: every name must exist
 * (NB_ERR_NOTFOUND with the unknown name otherwise). */
enum nb_status nb_accsweep_check_filters(const struct nb_accsweep_config *c);

/*
 * The sweep: for every selected entry (registry order) the ISA allows,
 * every shape, seed and data kind ("gauss", "outlier", "meanshift"), and
 * each eps convention, runs the kernel and appends one row per output
 * array (y; or dx, dgain, dbias) to out. A kernel that is inaccurate is a
 * row with pass 0, not an error; errors are memory and invalid filters.
 */
enum nb_status nb_accsweep_run(const struct nb_accsweep_config *c,
			       struct nb_verify_tables *out, struct nb_accsweep_stats *stats);

/* Where the real-data path sends each kernel's outputs and the
 * reference's, as f64 (rows 0: a vector of cols elements). */
struct nb_accsweep_sink {
	void *ctx;
	enum nb_status (*array)(void *ctx, const char *kernel, const char *name,
				size_t rows, size_t cols, const double *values);
	enum nb_status (*note)(void *ctx, const char *kernel, const char *key,
			       const char *value);
};

/* A user's rows: rows x cols elements of dtype (f32, f64, f16, bf16). */
struct nb_accsweep_data {
	enum nb_dtype dtype;
	size_t rows;
	size_t cols;                 /* the model width d */
	const void *data;
	const char *source;          /* e.g. "float32", for the data column */
	bool gain_random;            /* else gains are ones (bias zero) */
	uint64_t gain_seed;
	/* the user's own gain and bias (cols values each; CRMSNorm takes the
	 * first d-1), rounded once into each kernel's dtype; NULL: as above */
	const double *gain, *bias;
	/* optional: rows flags set for every row some kernel could not judge
	 * (no finite bound, or values that overflow the kernel's dtype) */
	bool *unjudged_rows;
	/* optional: called with each kernel's verdict */
	void (*on_report)(void *ctx, const struct nb_kernel *k, const struct nb_problem *p,
			  const struct nb_accuracy_report *rep);
	void *report_ctx;
};

/*
 * Every selected, usable entry on the user's rows: the rows go to each
 * kernel's dtype (exact widening, or one round-to-nearest-even narrowing
 * that the data column names, e.g. "input:f32->bf16(rne)"), the reference
 * reads the very values the kernel got, and each output array is judged
 * with the same derived bound as the sweep. CRMSNorm takes the first d-1
 * columns as x'. Backward entries get a seeded Gaussian dy (c->seed).
 * sink may be NULL.
 */
enum nb_status nb_accsweep_input(const struct nb_accsweep_config *c,
				 const struct nb_accsweep_data *in,
				 const struct nb_accsweep_sink *sink,
				 struct nb_verify_tables *out, struct nb_accsweep_stats *stats);

/* A deliberately poor entry (RMSNorm forward in f16 whose sum of squares is
 * accumulated in f16): the check must reject it. Not in the registry. */
const struct nb_kernel *nb_accsweep_poor_kernel(void);

#endif
