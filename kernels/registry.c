/* The registry table built from registry.def, run-time ISA dispatch with a
 * cap, and the OpenMP row-parallel driver shared by every kernel. */
#include "kernels/nb_kernels.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif
#if defined(NB_HAVE_ONEDNN)
#include "kernels/onednn/nb_onednn.h"
#endif

static const struct nb_kernel nb_kernel_table[] = {
#define NB_KERNEL(name, fn, variant, dir, dtype, acc, isa, algo, passes, inplace, whole) \
	{ name, variant, dir, dtype, acc, isa, algo, passes, inplace, whole, fn },
#include "kernels/registry.def"
#undef NB_KERNEL
};

#define NB_KERNEL_COUNT (sizeof(nb_kernel_table) / sizeof(nb_kernel_table[0]))

const struct nb_kernel *nb_kernels(size_t *count)
{
	*count = NB_KERNEL_COUNT;
	return nb_kernel_table;
}

static const char *const nb_algo_names[NB_ALGO_COUNT] = {
	[NB_ALGO_TWOPASS] = "twopass",
	[NB_ALGO_WELFORD] = "welford",
	[NB_ALGO_PAIRWISE] = "pairwise",
	[NB_ALGO_FUSED] = "fused",
	[NB_ALGO_UNFUSED] = "unfused",
	[NB_ALGO_F16ACC] = "f16acc",
	[NB_ALGO_ONEDNN] = "onednn",
};

enum nb_algo nb_algo_from_name(const char *name)
{
	for (int a = 0; a < NB_ALGO_COUNT; a++)
		if (name && strcmp(name, nb_algo_names[a]) == 0)
			return (enum nb_algo)a;
	return NB_ALGO_COUNT;
}

const char *nb_algo_name(enum nb_algo a)
{
	return (unsigned)a < NB_ALGO_COUNT ? nb_algo_names[a] : "?";
}

enum nb_algo nb_kernel_algo(const struct nb_kernel *k)
{
	return nb_algo_from_name(k->algo);
}

const struct nb_kernel *nb_kernel_find(const char *name)
{
	for (size_t i = 0; i < NB_KERNEL_COUNT; i++)
		if (name && strcmp(nb_kernel_table[i].name, name) == 0)
			return &nb_kernel_table[i];
	nb_fail(NB_ERR_NOTFOUND, "no kernel named '%s' (see 'normbench list')",
		name ? name : "(null)");
	return NULL;
}

bool nb_kernel_external(const struct nb_kernel *k)
{
	return nb_kernel_algo(k) == NB_ALGO_ONEDNN;
}

bool nb_kernel_conventions_ok(const struct nb_kernel *k, const struct nb_conventions *c)
{
	return !nb_kernel_external(k) || c->eps_mode == NB_EPS_INSIDE;
}

#if defined(NB_HAVE_ONEDNN)
const char *nb_external_summary(void)
{
	return nb_onednn_describe();
}

static enum nb_status nb_external_prepare(const struct nb_kernel *k, const struct nb_problem *p)
{
	return nb_onednn_prepare(k, p);
}
#else
/* scripts/configure.sh says why (NB_ONEDNN_DISABLED: not asked for) */
#if defined(NB_ONEDNN_DISABLED)
#define NB_ONEDNN_ABSENT "oneDNN: not built (off: make NB_ONEDNN=1 builds it)"
#else
#define NB_ONEDNN_ABSENT "oneDNN: not built (libdnnl-dev not found)"
#endif

const char *nb_external_summary(void)
{
	return NB_ONEDNN_ABSENT;
}

static enum nb_status nb_external_prepare(const struct nb_kernel *k, const struct nb_problem *p)
{
	(void)p;
	return nb_fail(NB_ERR_UNSUPPORTED, "kernel %s: oneDNN is not built in", k->name);
}
#endif

static const char *const nb_isa_names[NB_ISA_COUNT] = {
	[NB_ISA_PORTABLE] = "portable",
	[NB_ISA_AVX2] = "avx2",
	[NB_ISA_AVX512] = "avx512",
	[NB_ISA_NEON] = "neon",
	[NB_ISA_SVE] = "sve",
};

/* Whether isa belongs to the other architecture's family than this build's
 * (portable belongs to both). */
static bool nb_isa_foreign(enum nb_isa isa)
{
#if defined(__aarch64__)
	return isa == NB_ISA_AVX2 || isa == NB_ISA_AVX512;
#else
	return isa == NB_ISA_NEON || isa == NB_ISA_SVE;
#endif
}

const char *nb_isa_name(enum nb_isa isa)
{
	return (unsigned)isa < NB_ISA_COUNT ? nb_isa_names[isa] : "?";
}

enum nb_isa nb_isa_from_name(const char *name)
{
	for (int i = 0; i < NB_ISA_COUNT; i++)
		if (name && strcmp(nb_isa_names[i], name) == 0)
			return (enum nb_isa)i;
	return NB_ISA_COUNT;
}

enum nb_isa nb_isa_detected(void)
{
#if defined(__aarch64__)
	/* Advanced SIMD is architectural on Linux/arm64 but still announced;
	 * the NEON kernels use only armv8.0 instructions (FCVTL/FCVTN for f16,
	 * integer rounding for bf16), the SVE kernels SVE1 */
	unsigned long hw = getauxval(AT_HWCAP);

	if (!(hw & HWCAP_ASIMD))
		return NB_ISA_PORTABLE;
	return (hw & HWCAP_SVE) ? NB_ISA_SVE : NB_ISA_NEON;
#else
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
	    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
	    __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("f16c") &&
	    __builtin_cpu_supports("fma"))
		return NB_ISA_AVX512;
	if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
	    __builtin_cpu_supports("f16c"))
		return NB_ISA_AVX2;
	return NB_ISA_PORTABLE;
#endif
}

/* -1: not set by nb_isa_set_cap; the environment then decides */
static int nb_isa_cap_set = -1;

enum nb_status nb_isa_set_cap(enum nb_isa cap)
{
	if ((unsigned)cap >= NB_ISA_COUNT)
		return nb_fail(NB_ERR_INVALID, "unknown ISA cap %d", (int)cap);
	nb_isa_cap_set = nb_isa_foreign(cap) ? (int)NB_ISA_PORTABLE : (int)cap;
	return NB_OK;
}

enum nb_isa nb_isa_cap(void)
{
	enum nb_isa cap = nb_isa_detected();
	const char *env = getenv("NB_ISA");

	if (env && *env) {
		enum nb_isa e = nb_isa_from_name(env);
		/* an unknown value caps to portable: the safe reading of a typo;
		 * so does the other architecture's ISA */
		if (e == NB_ISA_COUNT || nb_isa_foreign(e))
			e = NB_ISA_PORTABLE;
		if (e < cap)
			cap = e;
	}
	if (nb_isa_cap_set >= 0 && (enum nb_isa)nb_isa_cap_set < cap)
		cap = (enum nb_isa)nb_isa_cap_set;
	return cap;
}

bool nb_isa_usable(enum nb_isa isa)
{
	return isa <= nb_isa_cap();
}

const struct nb_kernel *nb_kernel_best(enum nb_variant v, enum nb_direction dir,
				       enum nb_dtype dtype, enum nb_dtype acc)
{
	const struct nb_kernel *best = NULL;
	enum nb_isa cap = nb_isa_cap();

	/* the first entry of the highest usable ISA wins: registry order
	 * puts the default algorithm first */
	for (size_t i = 0; i < NB_KERNEL_COUNT; i++) {
		const struct nb_kernel *k = &nb_kernel_table[i];
		if (k->variant != v || k->dir != dir || k->dtype != dtype ||
		    k->acc != acc || k->isa > cap)
			continue;
		if (!best || k->isa > best->isa)
			best = k;
	}
	return best;
}

enum nb_status nb_kernel_prepare(const struct nb_kernel *k, struct nb_problem *p)
{
	enum nb_status st;

	if (!k)
		return nb_fail(NB_ERR_INVALID, "no kernel given");
	st = nb_problem_check(p, (int)k->dir);
	if (st != NB_OK)
		return st;
	if (p->variant != k->variant || p->dtype != k->dtype)
		return nb_fail(NB_ERR_INVALID,
			       "kernel %s runs %s/%s, the problem is %s/%s", k->name,
			       nb_variant_name(k->variant), nb_dtype_traits[k->dtype].name,
			       nb_variant_name(p->variant), nb_dtype_traits[p->dtype].name);
	if (!nb_isa_usable(k->isa))
		return nb_fail(NB_ERR_UNSUPPORTED,
			       "kernel %s needs %s; this CPU (or the cap) allows %s",
			       k->name, nb_isa_name(k->isa), nb_isa_name(nb_isa_cap()));
	if (k->variant == NB_VARIANT_FLASHNORM) {
		/* the fused kernel multiplies by W*, the baseline by W via y */
		bool fused = nb_kernel_algo(k) == NB_ALGO_FUSED;
		if (fused && !p->w_folded)
			return nb_fail(NB_ERR_INVALID,
				       "kernel %s needs the folded weight W* (nb_flashnorm_fold)",
				       k->name);
		if (!fused && (!p->w || !p->scratch))
			return nb_fail(NB_ERR_INVALID,
				       "kernel %s needs W and a rows x n scratch buffer", k->name);
	}
	if (k->dir == NB_DIR_FORWARD && !k->inplace_ok && p->y &&
	    p->y == (void *)p->x)
		return nb_fail(NB_ERR_INVALID, "kernel %s cannot run in place (y == x)",
			       k->name);
	if (k->dir == NB_DIR_BACKWARD &&
	    (p->dx == (void *)p->dy || p->dx == (void *)p->x))
		return nb_fail(NB_ERR_INVALID, "kernel %s: dx must not alias dy or x",
			       k->name);
	/* the library's own state (oneDNN primitives), created here, untimed */
	if (nb_kernel_external(k))
		return nb_external_prepare(k, p);
	return NB_OK;
}

static size_t nb_stream_min = NB_STREAM_MIN_BYTES_DEFAULT;

size_t nb_stream_min_bytes(void)
{
	return nb_stream_min;
}

void nb_set_stream_min_bytes(size_t bytes)
{
	nb_stream_min = bytes;
}

static size_t nb_bwd_chunks(const struct nb_problem *p)
{
	return (p->rows + NB_BWD_CHUNK_ROWS - 1) / NB_BWD_CHUNK_ROWS;
}

size_t nb_kernel_workspace_bytes(const struct nb_kernel *k, const struct nb_problem *p)
{
	size_t chunks;

	if (k->dir != NB_DIR_BACKWARD)
		return 0;
	chunks = nb_bwd_chunks(p);
	if (chunks <= 1)
		return 0;
	return 2 * chunks * p->n * nb_dtype_traits[nb_grad_dtype(p->dtype, k->acc)].size;
}

/* Threads for k on p: 1 below the break-even NB_PARALLEL_MIN_WORK, and
 * never more than the units (rows, or backward chunks) there are to share. */
static int nb_threads_for(const struct nb_kernel *k, const struct nb_problem *p,
			  size_t units)
{
	int threads = p->threads > 0 ? p->threads : omp_get_max_threads();
	size_t passes = k->passes > 0 ? (size_t)k->passes : 1;

	if (p->rows * p->n * passes < NB_PARALLEL_MIN_WORK)
		return 1;
	return units < (size_t)threads ? (int)units : threads;
}

static void nb_run_forward(const struct nb_kernel *k, const struct nb_problem *p)
{
	int threads = nb_threads_for(k, p, p->rows);

	if (threads <= 1) {
		k->fn(p, 0, p->rows, NULL, NULL);
		return;
	}
	/* each thread gets one contiguous share of rows */
#pragma omp parallel num_threads(threads)
	{
		size_t t = (size_t)omp_get_thread_num();
		size_t nt = (size_t)omp_get_num_threads();
		size_t begin = p->rows * t / nt;
		size_t end = p->rows * (t + 1) / nt;

		if (begin < end)
			k->fn(p, begin, end, NULL, NULL);
	}
}

/* Adds the chunk partials in chunk order; columns are independent, so the
 * column split across threads does not change any sum. One add per
 * element: a quarter of a kernel's element-pass, so it goes parallel only
 * from 4 NB_PARALLEL_MIN_WORK elements. */
static void nb_reduce_chunks(enum nb_dtype gt, size_t chunks, size_t n,
			     const void *parts, void *out, int threads)
{
	if (chunks * n < 4 * NB_PARALLEL_MIN_WORK)
		threads = 1;
	if (gt == NB_DTYPE_F64) {
		const double *src = parts;
		double *dst = out;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
		for (size_t j = 0; j < n; j++) {
			double s = src[j];
			for (size_t c = 1; c < chunks; c++)
				s += src[c * n + j];
			dst[j] = s;
		}
	} else {
		const float *src = parts;
		float *dst = out;
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
		for (size_t j = 0; j < n; j++) {
			float s = src[j];
			for (size_t c = 1; c < chunks; c++)
				s += src[c * n + j];
			dst[j] = s;
		}
	}
}

static enum nb_status nb_run_backward(const struct nb_kernel *k, const struct nb_problem *p,
				      void *workspace)
{
	size_t chunks = nb_bwd_chunks(p);
	enum nb_dtype gt = nb_grad_dtype(p->dtype, k->acc);
	size_t gsize = nb_dtype_traits[gt].size;
	int threads = nb_threads_for(k, p, chunks);
	char *ws = workspace;
	char *owned = NULL;

	if (chunks <= 1) {
		k->fn(p, 0, p->rows, p->dgain, p->dbias);
		return NB_OK;
	}
	if (!ws) {
		owned = malloc(nb_kernel_workspace_bytes(k, p));
		if (!owned)
			return nb_fail(NB_ERR_NOMEM, "no memory for backward partial sums");
		ws = owned;
	}
	{
		char *gparts = ws;
		char *bparts = ws + chunks * p->n * gsize;

#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
		for (size_t c = 0; c < chunks; c++) {
			size_t begin = c * NB_BWD_CHUNK_ROWS;
			size_t end = begin + NB_BWD_CHUNK_ROWS < p->rows
				? begin + NB_BWD_CHUNK_ROWS : p->rows;
			k->fn(p, begin, end, gparts + c * p->n * gsize,
			      p->dbias ? bparts + c * p->n * gsize : NULL);
		}
		nb_reduce_chunks(gt, chunks, p->n, gparts, p->dgain, threads);
		if (p->dbias)
			nb_reduce_chunks(gt, chunks, p->n, bparts, p->dbias, threads);
	}
	free(owned);
	return NB_OK;
}

enum nb_status nb_kernel_run(const struct nb_kernel *k, const struct nb_problem *p,
			     void *workspace)
{
	if (k->whole_problem) {
		k->fn(p, 0, p->rows, NULL, NULL);
		return NB_OK;
	}
	if (k->dir == NB_DIR_BACKWARD)
		return nb_run_backward(k, p, workspace);
	nb_run_forward(k, p);
	return NB_OK;
}
