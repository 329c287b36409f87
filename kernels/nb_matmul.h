/* The one matrix-product helper of the block benchmark and of FlashNorm's
 * kernels: every arrangement multiplies the same shape with the same BLAS
 * routine, and a caller can ask which one that is. */
#ifndef NB_MATMUL_H
#define NB_MATMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The routine for a product of `rows` rows: GEMV for one row (the decode
 * case: it streams the weights once; OpenBLAS's GEMM with one row ran 2.5 to
 * 4.8 times slower on the block shapes, issue 13), GEMM otherwise. The one
 * rule every caller goes through.
 */
enum nb_matmul_routine { NB_MATMUL_GEMV, NB_MATMUL_GEMM, NB_MATMUL_ROUTINE_COUNT };
enum nb_matmul_routine nb_matmul_routine_for(size_t rows);
/* "gemv" or "gemm". */
const char *nb_matmul_routine_name(enum nb_matmul_routine r);

/*
 * c (rows x cols, ld ldc) = alpha a (rows x k, ld lda) op(b) + beta c,
 * row-major; op(b) = b (k x cols, ld ldb), or b^T when b_trans (b is
 * cols x k). One row goes to ?gemv (c^T = op(b)^T a^T), more to ?gemm.
 * Any summation order is within the bounds the checks use (gamma_k).
 * Threads: OpenBLAS's setting (openblas_set_num_threads) in force.
 */
void nb_matmul_f32(bool b_trans, size_t rows, size_t cols, size_t k, float alpha,
		   const float *a, size_t lda, const float *b, size_t ldb, float beta, float *c,
		   size_t ldc);
void nb_matmul_f64(bool b_trans, size_t rows, size_t cols, size_t k, double alpha,
		   const double *a, size_t lda, const double *b, size_t ldb, double beta,
		   double *c, size_t ldc);

/* Products issued through the helper with routine r since the process
 * started (all threads): what a cell really called, counted. */
uint64_t nb_matmul_calls(enum nb_matmul_routine r);

#endif
