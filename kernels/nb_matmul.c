/* The one matrix-product helper (kernels/nb_matmul.h): the routine chosen
 * by shape, the same way for every caller, and counted. */
#include "kernels/nb_matmul.h"

#include <cblas.h>
#include <stdatomic.h>

static _Atomic uint64_t nb_matmul_count[NB_MATMUL_ROUTINE_COUNT];

enum nb_matmul_routine nb_matmul_routine_for(size_t rows)
{
	return rows == 1 ? NB_MATMUL_GEMV : NB_MATMUL_GEMM;
}

const char *nb_matmul_routine_name(enum nb_matmul_routine r)
{
	return r == NB_MATMUL_GEMV ? "gemv" : r == NB_MATMUL_GEMM ? "gemm" : "?";
}

uint64_t nb_matmul_calls(enum nb_matmul_routine r)
{
	return (unsigned)r < NB_MATMUL_ROUTINE_COUNT
		? atomic_load_explicit(&nb_matmul_count[r], memory_order_relaxed) : 0;
}

static void nb_matmul_count_one(enum nb_matmul_routine r)
{
	atomic_fetch_add_explicit(&nb_matmul_count[r], 1, memory_order_relaxed);
}

/* c^T = op(b)^T a^T: b (k x cols) is read transposed, b^T (b cols x k) as
 * is; a and c are single rows (stride 1). Written once per working type. */
#define NB_MATMUL_DEFINE(name, T, gemv, gemm)                                                 \
	void name(bool b_trans, size_t rows, size_t cols, size_t k, T alpha, const T *a,       \
		  size_t lda, const T *b, size_t ldb, T beta, T *c, size_t ldc)                \
	{                                                                                      \
		enum nb_matmul_routine r = nb_matmul_routine_for(rows);                        \
                                                                                               \
		nb_matmul_count_one(r);                                                        \
		if (r == NB_MATMUL_GEMV)                                                       \
			gemv(CblasRowMajor, b_trans ? CblasNoTrans : CblasTrans,               \
			     (int)(b_trans ? cols : k), (int)(b_trans ? k : cols), alpha, b,   \
			     (int)ldb, a, 1, beta, c, 1);                                      \
		else                                                                           \
			gemm(CblasRowMajor, CblasNoTrans, b_trans ? CblasTrans : CblasNoTrans, \
			     (int)rows, (int)cols, (int)k, alpha, a, (int)lda, b, (int)ldb,    \
			     beta, c, (int)ldc);                                               \
	}

NB_MATMUL_DEFINE(nb_matmul_f32, float, cblas_sgemv, cblas_sgemm)
NB_MATMUL_DEFINE(nb_matmul_f64, double, cblas_dgemv, cblas_dgemm)
