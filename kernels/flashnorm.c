/* FlashNorm: RMSNorm folded into the following linear layer (W* = diag(g) W
 * once, then z = (x W*) r + c), against the unfused RMSNorm-then-GEMM
 * baseline; both multiply with OpenBLAS. Registry lines in registry.def. */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>

#include "kernels/nb_kernels.h"
#include "kernels/nb_matmul.h"
#include "kernels/portable/nb_portable.h"

/* OpenBLAS's own threads follow p->threads (0: OpenMP's default). */
static int nb_blas_threads(const struct nb_problem *p)
{
	int threads = p->threads > 0 ? p->threads : omp_get_max_threads();

	if (openblas_get_num_threads() != threads)
		openblas_set_num_threads(threads);
	return threads;
}

enum nb_status nb_flashnorm_fold(enum nb_dtype dtype, size_t n, size_t m,
				 const void *gain, const void *w, void *w_folded)
{
	if (!gain || !w || !w_folded)
		return nb_fail(NB_ERR_INVALID, "nb_flashnorm_fold: gain, W and W* must be given");
	if (n == 0 || m == 0 || n > SIZE_MAX / m)
		return nb_fail(NB_ERR_INVALID, "nb_flashnorm_fold: bad shape %zu x %zu", n, m);
	/* the product of two f32 has at most 48 significant bits: exact in
	 * double, so W* is g W rounded once; f64 rounds the product once */
	if (dtype == NB_DTYPE_F32) {
		const float *g = gain, *src = w;
		float *dst = w_folded;

		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < m; j++)
				dst[i * m + j] = (float)((double)g[i] * (double)src[i * m + j]);
		return NB_OK;
	}
	if (dtype == NB_DTYPE_F64) {
		const double *g = gain, *src = w;
		double *dst = w_folded;

		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; j < m; j++)
				dst[i * m + j] = g[i] * src[i * m + j];
		return NB_OK;
	}
	return nb_fail(NB_ERR_UNSUPPORTED, "FlashNorm folds f32 or f64 weights, not %s",
		       nb_dtype_traits[dtype].name);
}

/* y = RMSNorm(x) g into p->scratch with the fastest registered RMSNorm
 * kernel of this dtype (its own accumulation type), same threads. */
static void nb_unfused_norm(const struct nb_problem *p, size_t row_begin, size_t row_end)
{
	const struct nb_kernel *k = nb_kernel_best(NB_VARIANT_RMSNORM, NB_DIR_FORWARD,
						   p->dtype, p->dtype);
	size_t es = nb_dtype_traits[p->dtype].size;
	struct nb_problem q = *p;

	q.variant = NB_VARIANT_RMSNORM;
	q.rows = row_end - row_begin;
	q.n = p->d;
	q.k = p->d;
	q.x = (const char *)p->x + row_begin * p->n * es;
	q.y = (char *)p->scratch + row_begin * p->n * es;
	q.bias = NULL;
	if (k)
		nb_kernel_run(k, &q, NULL);
	else if (p->dtype == NB_DTYPE_F64)
		nb_rmsnorm_fwd_f64_portable(&q, 0, q.rows, NULL, NULL);
	else
		nb_rmsnorm_fwd_f32_portable(&q, 0, q.rows, NULL, NULL);
}

/* The fused and unfused entries, once per working type. */
#define NB_T float
#define NB_LIT(x) x##f
#define NB_MATMUL nb_matmul_f32
#define NB_RMS_R nb_portable_rms_r_f32
#define NB_FLASH_FN(kind) nb_flashnorm_fwd_f32_##kind
#include "kernels/flashnorm_tmpl.h"

#define NB_T double
#define NB_LIT(x) x
#define NB_MATMUL nb_matmul_f64
#define NB_RMS_R nb_portable_rms_r_f64
#define NB_FLASH_FN(kind) nb_flashnorm_fwd_f64_##kind
#include "kernels/flashnorm_tmpl.h"
