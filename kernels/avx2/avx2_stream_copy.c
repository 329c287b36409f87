/* STREAM-like loops for the roofline, AVX2: a read-only sum, a copy with
 * ordinary stores and a copy with non-temporal (streaming) stores. */
#ifndef __AVX2__
#error "kernels/avx2/ files must be compiled with the AVX2 flags"
#endif

#include <immintrin.h>

#include "kernels/nb_stream_copy.h"

/* sum a[0..n): n % 64 == 0, a 64-byte aligned; 8 accumulators of 4 doubles,
 * spelled out (see the AVX-512 file for why not an array) */
double nb_stream_read_avx2(const double *a, size_t n)
{
	__m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
	__m256d s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
	__m256d s4 = _mm256_setzero_pd(), s5 = _mm256_setzero_pd();
	__m256d s6 = _mm256_setzero_pd(), s7 = _mm256_setzero_pd();
	double lanes[4];

	for (size_t i = 0; i < n; i += 32) {
		s0 = _mm256_add_pd(s0, _mm256_load_pd(a + i));
		s1 = _mm256_add_pd(s1, _mm256_load_pd(a + i + 4));
		s2 = _mm256_add_pd(s2, _mm256_load_pd(a + i + 8));
		s3 = _mm256_add_pd(s3, _mm256_load_pd(a + i + 12));
		s4 = _mm256_add_pd(s4, _mm256_load_pd(a + i + 16));
		s5 = _mm256_add_pd(s5, _mm256_load_pd(a + i + 20));
		s6 = _mm256_add_pd(s6, _mm256_load_pd(a + i + 24));
		s7 = _mm256_add_pd(s7, _mm256_load_pd(a + i + 28));
	}
	s0 = _mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3));
	s4 = _mm256_add_pd(_mm256_add_pd(s4, s5), _mm256_add_pd(s6, s7));
	_mm256_storeu_pd(lanes, _mm256_add_pd(s0, s4));
	return (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
}

/* b = a with ordinary stores */
void nb_stream_copy_avx2(double *restrict b, const double *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__m256d v0 = _mm256_load_pd(a + i), v1 = _mm256_load_pd(a + i + 4);
		__m256d v2 = _mm256_load_pd(a + i + 8), v3 = _mm256_load_pd(a + i + 12);
		_mm256_store_pd(b + i, v0);
		_mm256_store_pd(b + i + 4, v1);
		_mm256_store_pd(b + i + 8, v2);
		_mm256_store_pd(b + i + 12, v3);
	}
}

/* b = a with non-temporal stores, then a fence (see the AVX-512 file) */
void nb_stream_copy_nt_avx2(double *restrict b, const double *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i += 16) {
		__m256d v0 = _mm256_load_pd(a + i), v1 = _mm256_load_pd(a + i + 4);
		__m256d v2 = _mm256_load_pd(a + i + 8), v3 = _mm256_load_pd(a + i + 12);
		_mm256_stream_pd(b + i, v0);
		_mm256_stream_pd(b + i + 4, v1);
		_mm256_stream_pd(b + i + 8, v2);
		_mm256_stream_pd(b + i + 12, v3);
	}
	_mm_sfence();
}
