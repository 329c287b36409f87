/* FlashNorm's fused and unfused entries, written once for a working type:
 * kernels/flashnorm.c includes this file with NB_T float (the f32 entries)
 * and double (f64). Not a public header. */

/*
 * z = a w (+ beta z): rows x n times n x m, row-major. One row (the decode
 * case) goes to GEMV, z^T = w^T a^T, which streams w once: OpenBLAS's
 * GEMM with one row ran at 12 GB/s here, slower than its four-row GEMM.
 * Any summation order is within the bounds the checks use (gamma_n).
 */
static void NB_FLASH_FN(matmul)(size_t rows, size_t m, size_t n, const NB_T *a,
				const NB_T *w, NB_T beta, NB_T *z)
{
	if (rows == 1)
		NB_GEMV(CblasRowMajor, CblasTrans, (int)n, (int)m, NB_LIT(1.0), w, (int)m, a,
			1, beta, z, 1);
	else
		NB_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)m, (int)n,
			NB_LIT(1.0), a, (int)n, w, (int)m, beta, z, (int)m);
}

/*
 * Fused: z = x W* (one GEMM, row-major, rows x n times n x m), then
 * z_i,: = z_i,: r_i (+ out_bias), r_i = 1/sqrt(mean(x_i^2) + eps) (or
 * 1/(rms + eps)) computed exactly as rmsnorm_fwd_{f32,f64}_portable computes
 * it (8 accumulators of the working type, the scaled fallback for rows whose
 * squares overflow; a NaN/Inf row gives a NaN z row). Passes over x: 2
 * (GEMM, r). x, W*, z must be naturally aligned (BLAS) and z must not
 * overlap x or W*. Threads: OpenBLAS's and the OpenMP row loop both follow
 * p->threads. Needs p->w_folded (nb_flashnorm_fold).
 */
void NB_FLASH_FN(fused)(const struct nb_problem *p, size_t row_begin, size_t row_end,
			void *dgain_part, void *dbias_part)
{
	size_t n = p->n, m = p->m, rows = row_end - row_begin;
	const NB_T *x = (const NB_T *)p->x + row_begin * n;
	NB_T *z = (NB_T *)p->z + row_begin * m;
	const NB_T *c = p->out_bias;
	int threads = nb_blas_threads(p);

	(void)dgain_part;
	(void)dbias_part;
	NB_FLASH_FN(matmul)(rows, m, n, x, p->w_folded, NB_LIT(0.0), z);
#pragma omp parallel for schedule(static) num_threads(threads) \
	if (rows * n >= NB_PARALLEL_MIN_ELEMENTS)
	for (size_t i = 0; i < rows; i++) {
		NB_T r = NB_RMS_R(p, x + i * n);
		NB_T *zi = z + i * m;

		if (c)
			for (size_t j = 0; j < m; j++)
				zi[j] = zi[j] * r + c[j];
		else
			for (size_t j = 0; j < m; j++)
				zi[j] = zi[j] * r;
	}
}

/*
 * Unfused baseline: y = RMSNorm(x) g into p->scratch (rows x n, by
 * nb_kernel_best's RMSNorm kernel), then z = y W (+ out_bias, added by the
 * GEMM with beta = 1 on z pre-filled with it). Passes over x: 2 (the
 * RMSNorm kernel's). Needs p->w (unfolded) and p->scratch.
 */
void NB_FLASH_FN(unfused)(const struct nb_problem *p, size_t row_begin, size_t row_end,
			  void *dgain_part, void *dbias_part)
{
	size_t n = p->n, m = p->m, rows = row_end - row_begin;
	const NB_T *y = (const NB_T *)p->scratch + row_begin * n;
	NB_T *z = (NB_T *)p->z + row_begin * m;
	const NB_T *c = p->out_bias;

	(void)dgain_part;
	(void)dbias_part;
	nb_blas_threads(p);
	nb_unfused_norm(p, row_begin, row_end);
	if (c)
		for (size_t i = 0; i < rows; i++)
			for (size_t j = 0; j < m; j++)
				z[i * m + j] = c[j];
	NB_FLASH_FN(matmul)(rows, m, n, y, p->w, c ? NB_LIT(1.0) : NB_LIT(0.0), z);
}

#undef NB_T
#undef NB_LIT
#undef NB_GEMM
#undef NB_GEMV
#undef NB_RMS_R
#undef NB_FLASH_FN
