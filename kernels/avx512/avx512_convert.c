/* AVX-512 row converters between f32 and the 16-bit storage formats, bit for
 * bit equal to the scalar converters of common/nb_dtype.h. */
#if !defined(__AVX512F__) || !defined(__AVX512BW__) || !defined(__AVX512VL__) || \
	!defined(__AVX512DQ__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx512 must be compiled with the AVX-512 flags of the Makefile (AVX512_FLAGS)"
#endif

#include "kernels/avx512/nb_avx512.h"

/*
 * f16 -> f32 with F16C, then the one class F16C does differently from
 * nb_f16_to_f32: a signalling NaN (exponent all ones, quiet bit 0x200 clear,
 * payload non-zero) comes back quieted; we clear bit 22 again so the payload
 * is kept as it was.
 */
static inline __m512 nb_f16_to_ps_exact(__m256i h)
{
	__m512i w = _mm512_cvtepu16_epi32(h);
	__m512i abs = _mm512_and_si512(w, _mm512_set1_epi32(0x7fff));
	__mmask16 nan = _mm512_cmpgt_epi32_mask(abs, _mm512_set1_epi32(0x7c00));
	__mmask16 quiet = _mm512_test_epi32_mask(w, _mm512_set1_epi32(0x0200));
	__m512i f = _mm512_castps_si512(_mm512_cvtph_ps(h));

	f = _mm512_mask_andnot_epi32(f, nan & (__mmask16)~quiet,
				     _mm512_set1_epi32(0x00400000), f);
	return _mm512_castsi512_ps(f);
}

void nb_avx512_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX512_LANES <= n; j += NB_AVX512_LANES)
		_mm512_storeu_ps(dst + j, nb_avx512_load(NB_DTYPE_BF16, src, j));
	if (j < n) {
		__mmask16 m = nb_avx512_tail_mask(n - j);
		_mm512_mask_storeu_ps(dst + j, m,
				      nb_avx512_load_mask(NB_DTYPE_BF16, src, j, m));
	}
}

void nb_avx512_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX512_LANES <= n; j += NB_AVX512_LANES)
		nb_avx512_store(NB_DTYPE_BF16, dst, j, _mm512_loadu_ps(src + j));
	if (j < n) {
		__mmask16 m = nb_avx512_tail_mask(n - j);
		nb_avx512_store_mask(NB_DTYPE_BF16, dst, j, _mm512_maskz_loadu_ps(m, src + j), m);
	}
}

void nb_avx512_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX512_LANES <= n; j += NB_AVX512_LANES)
		_mm512_storeu_ps(dst + j, nb_f16_to_ps_exact(
			_mm256_loadu_si256((const __m256i *)(src + j))));
	if (j < n) {
		__mmask16 m = nb_avx512_tail_mask(n - j);
		_mm512_mask_storeu_ps(dst + j, m, nb_f16_to_ps_exact(
			_mm256_maskz_loadu_epi16(m, src + j)));
	}
}

void nb_avx512_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX512_LANES <= n; j += NB_AVX512_LANES)
		nb_avx512_store(NB_DTYPE_F16, dst, j, _mm512_loadu_ps(src + j));
	if (j < n) {
		__mmask16 m = nb_avx512_tail_mask(n - j);
		nb_avx512_store_mask(NB_DTYPE_F16, dst, j, _mm512_maskz_loadu_ps(m, src + j), m);
	}
}
