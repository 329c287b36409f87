/* AVX2 row converters between f32 and the 16-bit storage formats, bit for bit
 * equal to the scalar converters of common/nb_dtype.h. */
#if !defined(__AVX2__) || !defined(__F16C__) || !defined(__FMA__)
#error "kernels/avx2 must be compiled with the AVX2 flags of the Makefile (AVX2_FLAGS)"
#endif

#include "kernels/avx2/nb_avx2.h"

/*
 * f16 -> f32 with F16C, then the one class F16C does differently from
 * nb_f16_to_f32: a signalling NaN (exponent all ones, quiet bit 0x200 clear,
 * payload non-zero) comes back quieted; we clear bit 22 again so the payload
 * is kept as it was.
 */
static inline __m256 nb_f16_to_ps_exact(__m128i h)
{
	__m256i w = _mm256_cvtepu16_epi32(h);
	__m256i abs = _mm256_and_si256(w, _mm256_set1_epi32(0x7fff));
	__m256i nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7c00));
	__m256i quiet = _mm256_and_si256(w, _mm256_set1_epi32(0x0200));
	__m256i snan = _mm256_andnot_si256(_mm256_cmpeq_epi32(quiet, _mm256_set1_epi32(0x0200)),
					   nan);
	__m256i f = _mm256_castps_si256(_mm256_cvtph_ps(h));

	f = _mm256_andnot_si256(_mm256_and_si256(snan, _mm256_set1_epi32(0x00400000)), f);
	return _mm256_castsi256_ps(f);
}

void nb_avx2_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX2_LANES <= n; j += NB_AVX2_LANES)
		_mm256_storeu_ps(dst + j, nb_avx2_load(NB_DTYPE_BF16, src, j));
	if (j < n)
		_mm256_maskstore_ps(dst + j, nb_avx2_tail_mask(n - j),
				    nb_avx2_load_tail(NB_DTYPE_BF16, src, j, n - j));
}

void nb_avx2_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX2_LANES <= n; j += NB_AVX2_LANES)
		nb_avx2_store(NB_DTYPE_BF16, dst, j, _mm256_loadu_ps(src + j));
	if (j < n)
		nb_avx2_store_tail(NB_DTYPE_BF16, dst, j,
				   nb_avx2_load_tail(NB_DTYPE_F32, src, j, n - j), n - j);
}

void nb_avx2_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX2_LANES <= n; j += NB_AVX2_LANES)
		_mm256_storeu_ps(dst + j, nb_f16_to_ps_exact(
			_mm_loadu_si128((const __m128i *)(src + j))));
	if (j < n)
		_mm256_maskstore_ps(dst + j, nb_avx2_tail_mask(n - j),
				    nb_f16_to_ps_exact(nb_avx2_load16_tail(src + j, n - j)));
}

void nb_avx2_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_AVX2_LANES <= n; j += NB_AVX2_LANES)
		nb_avx2_store(NB_DTYPE_F16, dst, j, _mm256_loadu_ps(src + j));
	if (j < n)
		nb_avx2_store_tail(NB_DTYPE_F16, dst, j,
				   nb_avx2_load_tail(NB_DTYPE_F32, src, j, n - j), n - j);
}
