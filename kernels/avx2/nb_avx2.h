/* AVX2 16-bit converters (callable from any file, on a CPU where
 * nb_isa_detected() >= NB_ISA_AVX2) and, for files compiled with the AVX2
 * flags only, the vector load/store helpers the AVX2 kernels share. */
#ifndef NB_AVX2_H
#define NB_AVX2_H

#include <stddef.h>

#include "common/nb_dtype.h"

/*
 * Row converters, bit for bit equal to the scalar converters of
 * common/nb_dtype.h for every input (tests/test_convert_isa.c):
 * round to nearest even, subnormals kept (never flushed), infinities kept,
 * NaN -> NaN with the quiet bit set (to 16 bits) or the payload kept (to f32).
 * src and dst need not be aligned and must not overlap; n may be 0.
 */
void nb_avx2_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n);
void nb_avx2_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n);
void nb_avx2_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n);
void nb_avx2_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n);

#if defined(__AVX2__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>
#include <string.h>

#define NB_AVX2_INLINE static inline __attribute__((always_inline))

/* 8 f32 lanes per vector */
#define NB_AVX2_LANES ((size_t)8)

/* All-ones in lanes [0, rem) of a tail of rem (1..7) elements: the mask of
 * VMASKMOVPS, which neither reads nor faults on the other lanes. */
NB_AVX2_INLINE __m256i nb_avx2_tail_mask(size_t rem)
{
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
				  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/*
 * f32 -> bf16 on 8 lanes by integer round-to-nearest-even, exactly as
 * nb_f32_to_bf16: add 0x7fff plus the lowest kept bit, keep the top half;
 * a NaN keeps its top half and gets the quiet bit. Subnormals round like
 * any other value.
 */
NB_AVX2_INLINE __m128i nb_avx2_ps_to_bf16(__m256 v)
{
	__m256i u = _mm256_castps_si256(v);
	__m256i hi = _mm256_srli_epi32(u, 16);
	__m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
	__m256i bias = _mm256_add_epi32(_mm256_and_si256(hi, _mm256_set1_epi32(1)),
					_mm256_set1_epi32(0x7fff));
	__m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, bias), 16);

	r = _mm256_blendv_epi8(r, _mm256_or_si256(hi, _mm256_set1_epi32(0x40)), nan);
	/* every lane is <= 0xffff: the unsigned saturating pack is exact */
	return _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
}

/* bf16 -> f32 on 8 lanes: the bf16 bits are the top half of the f32. */
NB_AVX2_INLINE __m256 nb_avx2_bf16_to_ps(__m128i h)
{
	return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

/* f32 -> f16 by F16C, round to nearest even (equal to nb_f32_to_f16). */
NB_AVX2_INLINE __m128i nb_avx2_ps_to_f16(__m256 v)
{
	return _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* The 16 bytes at p, or the first rem (1..7) 16-bit elements and zeros. */
NB_AVX2_INLINE __m128i nb_avx2_load16_tail(const void *p, size_t rem)
{
	uint16_t buf[8] = { 0 };

	memcpy(buf, p, rem * sizeof(uint16_t));
	return _mm_loadu_si128((const __m128i *)buf);
}

NB_AVX2_INLINE void nb_avx2_store16_tail(void *p, __m128i h, size_t rem)
{
	uint16_t buf[8];

	_mm_storeu_si128((__m128i *)buf, h);
	memcpy(p, buf, rem * sizeof(uint16_t));
}

/*
 * Element j.. j+7 of a row of dtype t (NB_DTYPE_F32, _BF16 or _F16; a
 * compile-time constant after inlining) as 8 f32 lanes. f16 loads use F16C,
 * which quiets a signalling NaN: harmless inside the kernels (a NaN stays a
 * NaN and a row with one goes to the portable kernel), and fixed up by the
 * exported converter nb_avx2_f16_to_f32.
 */
NB_AVX2_INLINE __m256 nb_avx2_load(enum nb_dtype t, const void *base, size_t j)
{
	switch (t) {
	case NB_DTYPE_BF16:
		return nb_avx2_bf16_to_ps(
			_mm_loadu_si128((const __m128i *)((const struct nb_bf16 *)base + j)));
	case NB_DTYPE_F16:
		return _mm256_cvtph_ps(
			_mm_loadu_si128((const __m128i *)((const struct nb_f16 *)base + j)));
	default:
		return _mm256_loadu_ps((const float *)base + j);
	}
}

/* As nb_avx2_load for the first rem (1..7) lanes; the others are +0 and
 * their memory is not touched. */
NB_AVX2_INLINE __m256 nb_avx2_load_tail(enum nb_dtype t, const void *base, size_t j,
					size_t rem)
{
	switch (t) {
	case NB_DTYPE_BF16:
		return nb_avx2_bf16_to_ps(
			nb_avx2_load16_tail((const struct nb_bf16 *)base + j, rem));
	case NB_DTYPE_F16:
		return _mm256_cvtph_ps(nb_avx2_load16_tail((const struct nb_f16 *)base + j, rem));
	default:
		return _mm256_maskload_ps((const float *)base + j, nb_avx2_tail_mask(rem));
	}
}

/* Stores 8 lanes at element j of a row of dtype t, rounding to nearest even
 * for the 16-bit types. Every kernel writes its outputs through this pair,
 * so a change of store kind (e.g. non-temporal) is made here. */
NB_AVX2_INLINE void nb_avx2_store(enum nb_dtype t, void *base, size_t j, __m256 v)
{
	switch (t) {
	case NB_DTYPE_BF16:
		_mm_storeu_si128((__m128i *)((struct nb_bf16 *)base + j), nb_avx2_ps_to_bf16(v));
		break;
	case NB_DTYPE_F16:
		_mm_storeu_si128((__m128i *)((struct nb_f16 *)base + j), nb_avx2_ps_to_f16(v));
		break;
	default:
		_mm256_storeu_ps((float *)base + j, v);
		break;
	}
}

/* As nb_avx2_store for the first rem (1..7) lanes only. */
NB_AVX2_INLINE void nb_avx2_store_tail(enum nb_dtype t, void *base, size_t j, __m256 v,
				       size_t rem)
{
	switch (t) {
	case NB_DTYPE_BF16:
		nb_avx2_store16_tail((struct nb_bf16 *)base + j, nb_avx2_ps_to_bf16(v), rem);
		break;
	case NB_DTYPE_F16:
		nb_avx2_store16_tail((struct nb_f16 *)base + j, nb_avx2_ps_to_f16(v), rem);
		break;
	default:
		_mm256_maskstore_ps((float *)base + j, nb_avx2_tail_mask(rem), v);
		break;
	}
}

/*
 * Non-temporal (streaming) store of one whole 64-byte line at element j of a
 * row of dtype t; base + j must be 64-byte aligned. f32: v0 holds elements
 * j..j+7 and v1 j+8..j+15 (v2, v3 are ignored); 16-bit types: v0..v3 hold
 * j..j+31 in groups of 8, rounded exactly as nb_avx2_store rounds them. The
 * line goes to memory without being read for ownership; a kernel that
 * streams ends its call with _mm_sfence().
 */
NB_AVX2_INLINE void nb_avx2_stream_line(enum nb_dtype t, void *base, size_t j, __m256 v0,
					__m256 v1, __m256 v2, __m256 v3)
{
	switch (t) {
	case NB_DTYPE_BF16: {
		__m256i *p = (__m256i *)((struct nb_bf16 *)base + j);

		_mm256_stream_si256(p, _mm256_set_m128i(nb_avx2_ps_to_bf16(v1),
							nb_avx2_ps_to_bf16(v0)));
		_mm256_stream_si256(p + 1, _mm256_set_m128i(nb_avx2_ps_to_bf16(v3),
							    nb_avx2_ps_to_bf16(v2)));
		break;
	}
	case NB_DTYPE_F16: {
		__m256i *p = (__m256i *)((struct nb_f16 *)base + j);

		_mm256_stream_si256(p, _mm256_set_m128i(nb_avx2_ps_to_f16(v1),
							nb_avx2_ps_to_f16(v0)));
		_mm256_stream_si256(p + 1, _mm256_set_m128i(nb_avx2_ps_to_f16(v3),
							    nb_avx2_ps_to_f16(v2)));
		break;
	}
	default:
		(void)v2;
		(void)v3;
		_mm256_stream_ps((float *)base + j, v0);
		_mm256_stream_ps((float *)base + j + 8, v1);
		break;
	}
}

/* Sum of the 8 lanes in a fixed order. */
NB_AVX2_INLINE float nb_avx2_hsum(__m256 v)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
	return _mm_cvtss_f32(s);
}

#endif /* AVX2 flags */

#endif
