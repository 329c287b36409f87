/* STREAM-like loops for the roofline, AVX-512: a read-only sum, a copy with
 * ordinary stores and a copy with non-temporal (streaming) stores. */
#ifndef __AVX512F__
#error "kernels/avx512/ files must be compiled with the AVX-512 flags"
#endif

#include <immintrin.h>

#include "kernels/nb_stream_copy.h"

/* sum a[0..n): n % 64 == 0, a 64-byte aligned. 8 accumulators of 8 doubles
 * hide the add latency (the loads, not the adds, must be the limit); they
 * are spelled out one by one: an array of vectors indexed in a loop is
 * kept on the stack at -O2, and the store/reload chain is then 4x slower */
double nb_stream_read_avx512(const double *a, size_t n)
{
	__m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
	__m512d s2 = _mm512_setzero_pd(), s3 = _mm512_setzero_pd();
	__m512d s4 = _mm512_setzero_pd(), s5 = _mm512_setzero_pd();
	__m512d s6 = _mm512_setzero_pd(), s7 = _mm512_setzero_pd();

	for (size_t i = 0; i < n; i += 64) {
		s0 = _mm512_add_pd(s0, _mm512_load_pd(a + i));
		s1 = _mm512_add_pd(s1, _mm512_load_pd(a + i + 8));
		s2 = _mm512_add_pd(s2, _mm512_load_pd(a + i + 16));
		s3 = _mm512_add_pd(s3, _mm512_load_pd(a + i + 24));
		s4 = _mm512_add_pd(s4, _mm512_load_pd(a + i + 32));
		s5 = _mm512_add_pd(s5, _mm512_load_pd(a + i + 40));
		s6 = _mm512_add_pd(s6, _mm512_load_pd(a + i + 48));
		s7 = _mm512_add_pd(s7, _mm512_load_pd(a + i + 56));
	}
	s0 = _mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3));
	s4 = _mm512_add_pd(_mm512_add_pd(s4, s5), _mm512_add_pd(s6, s7));
	return _mm512_reduce_add_pd(_mm512_add_pd(s0, s4));
}

/* b = a with ordinary stores (the line is read for ownership first) */
void nb_stream_copy_avx512(double *restrict b, const double *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i += 32) {
		__m512d v0 = _mm512_load_pd(a + i), v1 = _mm512_load_pd(a + i + 8);
		__m512d v2 = _mm512_load_pd(a + i + 16), v3 = _mm512_load_pd(a + i + 24);
		_mm512_store_pd(b + i, v0);
		_mm512_store_pd(b + i + 8, v1);
		_mm512_store_pd(b + i + 16, v2);
		_mm512_store_pd(b + i + 24, v3);
	}
}

/* b = a with non-temporal stores: no read for ownership; the fence orders
 * the weakly-ordered stores before the caller stops the clock */
void nb_stream_copy_nt_avx512(double *restrict b, const double *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i += 32) {
		__m512d v0 = _mm512_load_pd(a + i), v1 = _mm512_load_pd(a + i + 8);
		__m512d v2 = _mm512_load_pd(a + i + 16), v3 = _mm512_load_pd(a + i + 24);
		_mm512_stream_pd(b + i, v0);
		_mm512_stream_pd(b + i + 8, v1);
		_mm512_stream_pd(b + i + 16, v2);
		_mm512_stream_pd(b + i + 24, v3);
	}
	_mm_sfence();
}
