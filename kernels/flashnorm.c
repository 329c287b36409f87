/* FlashNorm: RMSNorm folded into the following linear layer (W* = diag(g) W
 * once, then z = (x W*) r + c), against the unfused RMSNorm-then-GEMM
 * baseline; both multiply with OpenBLAS. Registry lines in registry.def. */
#include <cblas.h>
#include <omp.h>
#include <stdint.h>

#include "kernels/nb_kernels.h"
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

/*
 * Fused, f32: z = x W* (cblas_sgemm, row-major, rows x n times n x m), then
 * z_i,: = z_i,: r_i (+ out_bias), r_i = 1/sqrt(mean(x_i^2) + eps) (or
 * 1/(rms + eps)) computed exactly as rmsnorm_fwd_f32_portable computes it
 * (f32, 8 accumulators, the scaled fallback for rows whose squares overflow;
 * a NaN/Inf row gives a NaN z row). Passes over x: 2 (GEMM, r). x, W*, z
 * must be naturally aligned (BLAS) and z must not overlap x or W*.
 * Threads: OpenBLAS's and the OpenMP row loop both follow p->threads.
 * Needs p->w_folded (nb_flashnorm_fold).
 */
void nb_flashnorm_fwd_f32_fused(const struct nb_problem *p, size_t row_begin, size_t row_end,
				void *dgain_part, void *dbias_part)
{
	size_t n = p->n, m = p->m, rows = row_end - row_begin;
	const float *x = (const float *)p->x + row_begin * n;
	float *z = (float *)p->z + row_begin * m;
	const float *c = p->out_bias;
	int threads = nb_blas_threads(p);

	(void)dgain_part;
	(void)dbias_part;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)m, (int)n,
		    1.0f, x, (int)n, p->w_folded, (int)m, 0.0f, z, (int)m);
#pragma omp parallel for schedule(static) num_threads(threads) \
	if (rows * n >= NB_PARALLEL_MIN_ELEMENTS)
	for (size_t i = 0; i < rows; i++) {
		float r = nb_portable_rms_r_f32(p, x + i * n);
		float *zi = z + i * m;

		if (c)
			for (size_t j = 0; j < m; j++)
				zi[j] = zi[j] * r + c[j];
		else
			for (size_t j = 0; j < m; j++)
				zi[j] = zi[j] * r;
	}
}

/* Fused, f64: as the f32 entry with cblas_dgemm and rmsnorm_fwd_f64's r. */
void nb_flashnorm_fwd_f64_fused(const struct nb_problem *p, size_t row_begin, size_t row_end,
				void *dgain_part, void *dbias_part)
{
	size_t n = p->n, m = p->m, rows = row_end - row_begin;
	const double *x = (const double *)p->x + row_begin * n;
	double *z = (double *)p->z + row_begin * m;
	const double *c = p->out_bias;
	int threads = nb_blas_threads(p);

	(void)dgain_part;
	(void)dbias_part;
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)m, (int)n,
		    1.0, x, (int)n, p->w_folded, (int)m, 0.0, z, (int)m);
#pragma omp parallel for schedule(static) num_threads(threads) \
	if (rows * n >= NB_PARALLEL_MIN_ELEMENTS)
	for (size_t i = 0; i < rows; i++) {
		double r = nb_portable_rms_r_f64(p, x + i * n);
		double *zi = z + i * m;

		if (c)
			for (size_t j = 0; j < m; j++)
				zi[j] = zi[j] * r + c[j];
		else
			for (size_t j = 0; j < m; j++)
				zi[j] = zi[j] * r;
	}
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

/*
 * Unfused baseline, f32: y = RMSNorm(x) g into p->scratch (rows x n, by
 * nb_kernel_best's RMSNorm kernel), then z = y W (+ out_bias, added by the
 * GEMM with beta = 1 on z pre-filled with it) with cblas_sgemm. Passes over
 * x: 2 (the RMSNorm kernel's). Needs p->w (unfolded) and p->scratch.
 */
void nb_flashnorm_fwd_f32_unfused(const struct nb_problem *p, size_t row_begin, size_t row_end,
				  void *dgain_part, void *dbias_part)
{
	size_t n = p->n, m = p->m, rows = row_end - row_begin;
	const float *y = (const float *)p->scratch + row_begin * n;
	float *z = (float *)p->z + row_begin * m;
	const float *c = p->out_bias;

	(void)dgain_part;
	(void)dbias_part;
	nb_blas_threads(p);
	nb_unfused_norm(p, row_begin, row_end);
	if (c)
		for (size_t i = 0; i < rows; i++)
			for (size_t j = 0; j < m; j++)
				z[i * m + j] = c[j];
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)m, (int)n,
		    1.0f, y, (int)n, p->w, (int)m, c ? 1.0f : 0.0f, z, (int)m);
}

/* Unfused baseline, f64: as the f32 entry with cblas_dgemm. */
void nb_flashnorm_fwd_f64_unfused(const struct nb_problem *p, size_t row_begin, size_t row_end,
				  void *dgain_part, void *dbias_part)
{
	size_t n = p->n, m = p->m, rows = row_end - row_begin;
	const double *y = (const double *)p->scratch + row_begin * n;
	double *z = (double *)p->z + row_begin * m;
	const double *c = p->out_bias;

	(void)dgain_part;
	(void)dbias_part;
	nb_blas_threads(p);
	nb_unfused_norm(p, row_begin, row_end);
	if (c)
		for (size_t i = 0; i < rows; i++)
			for (size_t j = 0; j < m; j++)
				z[i * m + j] = c[j];
	cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)m, (int)n,
		    1.0, y, (int)n, p->w, (int)m, c ? 1.0 : 0.0, z, (int)m);
}
