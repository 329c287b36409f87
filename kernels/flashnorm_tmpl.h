/* FlashNorm's fused and unfused entries, written once for a working type:
 * kernels/flashnorm.c includes this file with NB_T float (the f32 entries)
 * and double (f64). Not a public header. */

/*
 * Fused: z = x W* (one product through nb_matmul: GEMV for one row, GEMM
 * otherwise; row-major, rows x n times n x m), then
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
	NB_MATMUL(false, rows, m, n, NB_LIT(1.0), x, n, p->w_folded, m, NB_LIT(0.0), z, m);
	/* the unfused arm's RMSNorm rule (nb_threads_for: 2 passes), so both
	 * arms go parallel at the same sizes */
#pragma omp parallel for schedule(static) num_threads(threads) \
	if (rows * n * 2 >= NB_PARALLEL_MIN_WORK)
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
 * product, beta = 1 on z pre-filled with it; nb_matmul's routine as the fused
 * arm). Passes over x: 2 (the
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
	NB_MATMUL(false, rows, m, n, NB_LIT(1.0), y, n, p->w, m, c ? NB_LIT(1.0) : NB_LIT(0.0), z,
		  m);
}

#undef NB_T
#undef NB_LIT
#undef NB_MATMUL
#undef NB_RMS_R
#undef NB_FLASH_FN
