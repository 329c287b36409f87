/* The kernel registry and the driver that runs a registry entry over a
 * problem: bench, verify and tests all iterate nb_kernels(). */
#ifndef NB_KERNELS_H
#define NB_KERNELS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/nb_problem.h"

/* One build holds one family: portable + x86 (AVX2 < AVX-512) or portable +
 * arm64 (NEON < SVE); within it a higher value runs everything below it. */
enum nb_isa { NB_ISA_PORTABLE, NB_ISA_AVX2, NB_ISA_AVX512, NB_ISA_NEON, NB_ISA_SVE,
	      NB_ISA_COUNT };

/*
 * One signature for every kernel: process rows [row_begin, row_end) of p.
 * Backward kernels also write (not accumulate) the sums over those rows, in
 * row order, of dy*xhat into dgain_part and of dy into dbias_part (n
 * elements each, in nb_grad_dtype; dbias_part is NULL when p->dbias is).
 * Forward kernels get NULL partials. Kernels validate nothing.
 */
typedef void (*nb_rows_fn)(const struct nb_problem *p, size_t row_begin,
			   size_t row_end, void *dgain_part, void *dbias_part);

struct nb_kernel {
	const char *name;          /* unique, e.g. "rmsnorm_fwd_f32_avx512" */
	enum nb_variant variant;
	enum nb_direction dir;
	enum nb_dtype dtype;       /* storage type of x, y, gain, ... */
	enum nb_dtype acc;         /* accumulation type of the row sums */
	enum nb_isa isa;
	const char *algo;          /* "twopass", "welford", "fused", ...: enum
				    * nb_algo through nb_kernel_algo */
	int passes;                /* passes over x per row */
	bool inplace_ok;           /* y may alias x (forward) */
	bool whole_problem;        /* threads itself (BLAS): called once */
	nb_rows_fn fn;
};

#define NB_KERNEL(name, fn, variant, dir, dtype, acc, isa, algo, passes, inplace, whole) \
	void fn(const struct nb_problem *p, size_t row_begin, size_t row_end, \
		void *dgain_part, void *dbias_part);
#include "kernels/registry.def"
#undef NB_KERNEL

/* The algorithms of registry.def's algo column (the string stays what bench
 * and verify write to files): code that behaves differently per algorithm
 * asks nb_kernel_algo, never compares the string. A new algorithm string
 * needs its line in nb_algo_names (kernels/registry.c); the registry test
 * refuses an entry whose string is not there. */
enum nb_algo {
	NB_ALGO_TWOPASS,    /* statistics in one pass, then the output pass */
	NB_ALGO_WELFORD,    /* LayerNorm mean and variance by Welford's update */
	NB_ALGO_PAIRWISE,   /* pairwise summation (error bound gamma_log2(n)) */
	NB_ALGO_FUSED,      /* FlashNorm: x . W*, then the row scale */
	NB_ALGO_UNFUSED,    /* FlashNorm's baseline: RMSNorm, then x . W */
	NB_ALGO_F16ACC,     /* verify's deliberately poor kernel (f16 sums) */
	NB_ALGO_ONEDNN,     /* an external entry: oneDNN behind the kernel signature */
	NB_ALGO_COUNT
};
/* NB_ALGO_COUNT when unknown. */
enum nb_algo nb_algo_from_name(const char *name);
const char *nb_algo_name(enum nb_algo a);
/* The algorithm of k's algo string (NB_ALGO_COUNT when unknown). */
enum nb_algo nb_kernel_algo(const struct nb_kernel *k);

/* The whole table, in registry.def order. */
const struct nb_kernel *nb_kernels(size_t *count);
/* NULL (and nb_error set) when no entry has that name. */
const struct nb_kernel *nb_kernel_find(const char *name);
/* The entry of the highest ISA that the CPU supports and the cap allows,
 * for this variant, direction, dtype and accumulation; NULL if none. */
const struct nb_kernel *nb_kernel_best(enum nb_variant v, enum nb_direction dir,
				       enum nb_dtype dtype, enum nb_dtype acc);

/* External entries (oneDNN, kernels/onednn/): present only when the build
 * found the library; they thread themselves, create their library state in
 * nb_kernel_prepare, and run only eps inside the root. */
bool nb_kernel_external(const struct nb_kernel *k);
/* Whether k can run problems under conventions c (every normbench kernel
 * can; an external one only with eps inside). */
bool nb_kernel_conventions_ok(const struct nb_kernel *k, const struct nb_conventions *c);
/* One line on the external library of this build, e.g. "oneDNN 2.6.3 (git
 * ...), CPU runtime OpenMP ..., CPU ISA avx512_core_bf16", or "oneDNN: not
 * built (libdnnl-dev not found)". */
const char *nb_external_summary(void);

/* The ISA names this build knows, for messages */
#if defined(__aarch64__)
#define NB_ISA_LIST "portable, neon, sve"
#else
#define NB_ISA_LIST "portable, avx2, avx512"
#endif
const char *nb_isa_name(enum nb_isa isa);
enum nb_isa nb_isa_from_name(const char *name); /* NB_ISA_COUNT if unknown */
/* Highest ISA this CPU runs (x86: __builtin_cpu_supports; arm64: the
 * auxiliary vector's HWCAP_ASIMD and HWCAP_SVE). */
enum nb_isa nb_isa_detected(void);
/* The cap: min(detected, NB_ISA environment variable, nb_isa_set_cap). */
enum nb_isa nb_isa_cap(void);
enum nb_status nb_isa_set_cap(enum nb_isa cap);
bool nb_isa_usable(enum nb_isa isa);

/* Validates p (nb_problem_check) and that kernel k can run it here: same
 * variant, direction and dtype, ISA usable, aliasing allowed. Call once,
 * before any timed loop. */
enum nb_status nb_kernel_prepare(const struct nb_kernel *k, struct nb_problem *p);

/* Bytes of scratch nb_kernel_run needs for p (backward partial sums). */
size_t nb_kernel_workspace_bytes(const struct nb_kernel *k, const struct nb_problem *p);

/*
 * Work below which a kernel runs serially, in element-passes (rows * n *
 * the kernel's passes over x). An OpenMP region costs about 2.6 us to start
 * and join on the development machine (one row of 4096: 0.19 us serial,
 * 2.8 us on two threads), so two threads pay only when the serial time is
 * above about 5 us. Measured break-even (1 against 2 threads, AVX-512, f32
 * and bf16, d = 1024 and 4096): RMSNorm between 65536 and 98304 elements
 * (2 passes), LayerNorm about 65536 (3 passes): about 196608 element-passes
 * for both (docs/performance.md, historical section).
 */
#define NB_PARALLEL_MIN_WORK ((size_t)3 << 16)
/* The break-even in elements of a 3-pass kernel (LayerNorm); a 2-pass
 * kernel (the RMS family) goes parallel from 1.5 times as many. */
#define NB_PARALLEL_MIN_ELEMENTS (NB_PARALLEL_MIN_WORK / 3)

/*
 * Streaming stores. An ISA kernel writes its output rows (forward y,
 * backward dx) with non-temporal stores when the problem's main arrays
 * (forward x and y, backward x, dy and dx: rows * n elements each) hold at
 * least nb_stream_min_bytes() bytes together: beyond the last-level cache
 * the output will not be reread from cache, and a streaming store skips the
 * read for ownership of every output line. Below it, ordinary stores keep y
 * in cache for whoever reads it next. The results are the same bits either
 * way (only the store instruction differs). The default is the measured
 * crossover on the development machine (docs/performance.md, historical section).
 */
#define NB_STREAM_MIN_BYTES_DEFAULT ((size_t)32 << 20)
size_t nb_stream_min_bytes(void);
/* Sets the threshold for the whole process (not thread-safe against running
 * kernels): 0 streams always, SIZE_MAX never. Tests use it to run both paths. */
void nb_set_stream_min_bytes(size_t bytes);
/* Whether a problem whose main arrays hold `bytes` bytes streams its output. */
static inline bool nb_stream_wanted(size_t bytes)
{
	return bytes >= nb_stream_min_bytes();
}
/* Backward partial sums are taken over fixed chunks of this many rows and
 * added in chunk order, so dgain/dbias are bit-identical for any thread count. */
/*
 * The LayerNorm mean scheme every LayerNorm kernel follows (the derivation
 * and the exact operation order are in docs/verification.md):
 *   pass 1  c = x_0, mu_hi = c + (sum (x_j - c)) / n
 *   pass 2  t_j = x_j - mu_hi, S1 = sum t_j, S2 = sum t_j^2,
 *           mu_lo = S1 / n, M2 = max(0, S2 - S1 mu_lo)
 *   write   x_j - mu = (x_j - mu_hi) - mu_lo (or fma(t_j, r, -(mu_lo r)))
 * Welford kernels run their update on x_j - c and split c + mean by TwoSum:
 * *hi = fl(a + b), *lo = (a + b) - *hi exactly (six operations, exact
 * barring overflow; -ffp-contract=off keeps them apart).
 */
static inline void nb_two_sum_f(float a, float b, float *hi, float *lo)
{
	float s = a + b, bb = s - a;

	*hi = s;
	*lo = (a - (s - bb)) + (b - bb);
}

/* Pass 2's end of the mean scheme in f32: *mu_lo = S1 / n and the returned
 * M2 = S2 - S1 mu_lo, clamped at 0 (a NaN stays NaN). */
static inline float nb_mean_residual_f(float s1, float s2, float n, float *mu_lo)
{
	float m2;

	*mu_lo = s1 / n;
	m2 = s2 - s1 * *mu_lo;
	return m2 < 0.0f ? 0.0f : m2;
}

#define NB_BWD_CHUNK_ROWS ((size_t)64)

/* Runs k on a prepared problem, row-parallel with OpenMP (p->threads, or
 * OpenMP's default when 0). workspace: nb_kernel_workspace_bytes bytes, or
 * NULL to let the call allocate it. Results do not depend on the thread count. */
enum nb_status nb_kernel_run(const struct nb_kernel *k, const struct nb_problem *p,
			     void *workspace);

/* FlashNorm set-up, once per weight: W* = diag(gain) . W, each product formed
 * in double (exact for f32 inputs) and rounded once to the working dtype
 * (f32 or f64). w and w_folded are n x m row-major. */
enum nb_status nb_flashnorm_fold(enum nb_dtype dtype, size_t n, size_t m,
				 const void *gain, const void *w, void *w_folded);

#endif
