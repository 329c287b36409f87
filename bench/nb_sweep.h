/* What `normbench run` measures: the sweep axes (variants, implementations,
 * dtypes, shapes, threads, cache state, direction), their parsers and
 * presets, the plan of cells in interleaving groups, and the cost model
 * (bytes and flops each cell's algorithm must move, STREAM counting). */
#ifndef NB_SWEEP_H
#define NB_SWEEP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_cli.h"
#include "common/nb_problem.h"
#include "common/nb_status.h"
#include "kernels/nb_kernels.h"

enum nb_cache_state { NB_CACHE_HOT, NB_CACHE_COLD, NB_CACHE_COUNT };

/* --impl: the best kernel per (variant, dir, dtype), every usable kernel, or
 * the kernels named. */
enum nb_impl_mode { NB_IMPL_BEST, NB_IMPL_ALL, NB_IMPL_NAMED };

struct nb_shape {
	size_t rows;
	size_t d;
};

#define NB_SWEEP_MAX_SHAPES 64
#define NB_SWEEP_MAX_THREADS 64
#define NB_SWEEP_MAX_IMPLS 256

/* Limits of a single shape: NB_CLI_MAX_DIM, NB_CLI_MAX_ELEMENTS
 * (common/nb_cli.h). */

/* FlashNorm's output width m when a shape does not say (m = d, square W),
 * capped so W stays at most 64 Mi elements. */
#define NB_SWEEP_FLASH_MAX_W ((size_t)1 << 26)

struct nb_sweep {
	char preset[32];                 /* preset the sweep started from */
	enum nb_variant variants[NB_VARIANT_COUNT];
	size_t nvariants;
	enum nb_dtype dtypes[NB_DTYPE_COUNT];
	size_t ndtypes;
	enum nb_direction dirs[NB_DIR_COUNT];
	size_t ndirs;
	enum nb_cache_state caches[NB_CACHE_COUNT];
	size_t ncaches;
	struct nb_shape shapes[NB_SWEEP_MAX_SHAPES];
	size_t nshapes;
	int threads[NB_SWEEP_MAX_THREADS];
	size_t nthreads;
	enum nb_impl_mode impl_mode;
	const struct nb_kernel *impls[NB_SWEEP_MAX_IMPLS]; /* NB_IMPL_NAMED */
	size_t nimpls;
	bool all_isa;                    /* best kernel of every usable ISA */
	bool kernel_cells_only;          /* no block suite unless --suite asks */
	bool external;                   /* --impl best also times the external
					  * (vendor library) entries beside */
	int samples;                     /* >= NB_SWEEP_MIN_SAMPLES */
	double warmup_ms;                /* per cell, by time */
	double min_sample_ms;            /* calibration target of one sample */
	double max_sample_ms;            /* a sample never planned longer */
	double stream_ms;                /* per STREAM point */
	long buffer_offset;              /* outputs this many bytes past a 2 MiB
					  * boundary (--buffer-offset); -1 none */
	struct nb_conventions conv;
	uint64_t seed;
	char events[1024];               /* PAPI events, comma separated; "" none */
};

#define NB_SWEEP_MIN_SAMPLES 5
#define NB_SWEEP_MAX_SAMPLES 100000

/* The presets: "default", "quick", "ci", "paper", "vendor". cores bounds
 * the thread lists. NB_ERR_NOTFOUND for another name. */
enum nb_status nb_sweep_preset(const char *name, int cores, struct nb_sweep *s);
/* "quick, ci, paper, vendor, default" with one line each, for --help. */
const char *nb_sweep_preset_help(void);

/* Parsers of the comma-separated option values (split by
 * nb_cli_each_item); each replaces the axis in s, drops duplicates and
 * fails with NB_ERR_INVALID / NB_ERR_NOTFOUND and a message naming the bad
 * item. "all" is accepted where it makes sense. */
enum nb_status nb_sweep_parse_variants(const char *csv, struct nb_sweep *s);
enum nb_status nb_sweep_parse_dtypes(const char *csv, struct nb_sweep *s);
enum nb_status nb_sweep_parse_dirs(const char *csv, struct nb_sweep *s);
enum nb_status nb_sweep_parse_caches(const char *csv, struct nb_sweep *s);
/* ROWSxD[,ROWSxD...], e.g. "1x4096,64x4096"; every item within the
 * NB_CLI_MAX_* limits. */
enum nb_status nb_sweep_parse_shapes(const char *csv, struct nb_sweep *s);
/* 1 .. cores each. */
enum nb_status nb_sweep_parse_threads(const char *csv, int cores, struct nb_sweep *s);
/* "best", "all" or registry names. */
enum nb_status nb_sweep_parse_impls(const char *csv, struct nb_sweep *s);

/* One planned cell. Cells of one group (same shape, dtype, direction,
 * threads and cache state) are measured interleaved. */
struct nb_planned_cell {
	const struct nb_kernel *kernel;
	struct nb_shape shape;
	size_t m;                        /* FlashNorm output width, else 0 */
	int threads;
	enum nb_cache_state cache;
	int group;
	const char *suite;               /* results suite; NULL: "kernel" */
};

/*
 * Expands the sweep into cells, group by group. explicit_* say which axes
 * the user set: with named implementations, an axis the user did not set
 * is taken from the named kernels, and a named kernel outside an axis the
 * user did set is an NB_ERR_INVALID. Checks each named kernel's ISA is
 * usable and every shape fits every variant (CRMSNorm needs d >= 2).
 * *cells is malloc'd. Zero cells is an NB_ERR_INVALID ("nothing to run").
 */
struct nb_sweep_explicit {
	bool variants, dtypes, dirs;
};
enum nb_status nb_sweep_plan(const struct nb_sweep *s, const struct nb_sweep_explicit *ex,
			     struct nb_planned_cell **cells, size_t *ncells);

/* The accumulation type a "best" kernel of dtype t uses: f64 for f64, else
 * f32 (the f64-accumulating f32 kernels are separate implementations). */
enum nb_dtype nb_sweep_default_acc(enum nb_dtype t);

/*
 * The cost model of a cell, STREAM counting (what the algorithm must move,
 * no write-allocate, parameters once per call):
 *  forward  bytes = rows*n*(read x + write y) + n*(gain [+ bias])
 *  backward bytes = rows*n*(read x + read dy + write dx) + n*gain
 *                   + n*(dgain [+ dbias]) in the gradient dtype
 *  FlashNorm bytes = rows*n (x) + n*m (W*) + rows*m (z) [+ m bias]
 * Flops count each +, -, *, / and sqrt of the formulas of SPEC §1 once per
 * element (FlashNorm: 2*rows*n*m for the product plus the rms).
 * LayerNorm cells carry a bias; RMS-family cells do not (LLM convention).
 * The per-variant numbers (flops per element and row, bias, stored width)
 * are the traits of common/nb_variants.def.
 */
struct nb_cost {
	double bytes;
	double flops;
};
struct nb_cost nb_sweep_cost(const struct nb_kernel *k, size_t rows, size_t d, size_t m,
			     const struct nb_conventions *conv);
/* Whether cells of this variant carry a bias (see above). */
bool nb_sweep_has_bias(enum nb_variant v);

const char *nb_cache_state_name(enum nb_cache_state c);

#endif
