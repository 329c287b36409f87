/* AVX-512 16-bit converters (callable from any file, on a CPU where
 * nb_isa_detected() >= NB_ISA_AVX512) and, for files compiled with the
 * AVX-512 flags only, the vector load/store helpers the AVX-512 kernels share. */
#ifndef NB_AVX512_H
#define NB_AVX512_H

#include <stdbool.h>
#include <stddef.h>

#include "common/nb_dtype.h"

/*
 * Row converters, bit for bit equal to the scalar converters of
 * common/nb_dtype.h for every input (tests/test_convert_isa.c):
 * round to nearest even, subnormals kept (never flushed), infinities kept,
 * NaN -> NaN with the quiet bit set (to 16 bits) or the payload kept (to f32).
 * src and dst need not be aligned and must not overlap; n may be 0.
 */
void nb_avx512_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n);
void nb_avx512_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n);
void nb_avx512_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n);
void nb_avx512_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n);

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
	defined(__AVX512DQ__) && defined(__AVX512BF16__) && defined(__F16C__) && defined(__FMA__)
#include <immintrin.h>

#define NB_AVX512_INLINE static inline __attribute__((always_inline))

/* 16 f32 lanes per vector */
#define NB_AVX512_LANES ((size_t)16)

/* Lanes [0, rem) of a tail of rem (1..15) elements. */
NB_AVX512_INLINE __mmask16 nb_avx512_tail_mask(size_t rem)
{
	return (__mmask16)((1u << rem) - 1u);
}

/* Lanes [0, cnt) for cnt in 1..16. */
NB_AVX512_INLINE __mmask16 nb_avx512_tail_mask_full(size_t cnt)
{
	return (__mmask16)((1u << cnt) - 1u);
}

/*
 * f32 -> bf16 on 16 lanes by integer round-to-nearest-even, exactly as
 * nb_f32_to_bf16: add 0x7fff plus the lowest kept bit, keep the top half;
 * a NaN keeps its top half and gets the quiet bit. Subnormals round like
 * any other value.
 */
NB_AVX512_INLINE __m256i nb_avx512_ps_to_bf16_int(__m512 v)
{
	__m512i u = _mm512_castps_si512(v);
	__m512i hi = _mm512_srli_epi32(u, 16);
	__mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
	__m512i bias = _mm512_add_epi32(_mm512_and_si512(hi, _mm512_set1_epi32(1)),
					_mm512_set1_epi32(0x7fff));
	__m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, bias), 16);

	r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(hi, _mm512_set1_epi32(0x40)));
	return _mm512_cvtepi32_epi16(r);
}

/* The lanes of v that hold a subnormal (VFPCLASSPS class 0x20). */
NB_AVX512_INLINE __mmask16 nb_avx512_subnormal(__m512 v)
{
	return _mm512_fpclass_ps_mask(v, 0x20);
}

/*
 * f32 -> bf16 on 16 lanes, exactly as nb_f32_to_bf16. The native
 * VCVTNEPS2BF16 rounds to nearest even and agrees with nb_f32_to_bf16 on
 * every zero, normal, infinite and NaN input, but flushes a subnormal input
 * to zero (tests/test_convert_avx512.c pins both): a vector that holds a
 * subnormal takes the integer rounding instead, so the result never depends
 * on the path. The native instruction is a third of the integer rounding's
 * work, which is what bf16 rows are bound by.
 */
NB_AVX512_INLINE __m256i nb_avx512_ps_to_bf16(__m512 v)
{
	if (__builtin_expect(nb_avx512_subnormal(v) != 0, 0))
		return nb_avx512_ps_to_bf16_int(v);
	return (__m256i)_mm512_cvtneps_pbh(v);
}

/* As nb_avx512_ps_to_bf16 for 32 lanes: lo (elements 0..15) and hi
 * (16..31) into one vector, in order, by VCVTNE2PS2BF16. */
NB_AVX512_INLINE __m512i nb_avx512_ps2_to_bf16(__m512 lo, __m512 hi)
{
	if (__builtin_expect((nb_avx512_subnormal(lo) | nb_avx512_subnormal(hi)) != 0, 0))
		return _mm512_inserti64x4(_mm512_castsi256_si512(nb_avx512_ps_to_bf16_int(lo)),
					  nb_avx512_ps_to_bf16_int(hi), 1);
	return (__m512i)_mm512_cvtne2ps_pbh(hi, lo);
}

/* bf16 -> f32 on 16 lanes: the bf16 bits are the top half of the f32. */
NB_AVX512_INLINE __m512 nb_avx512_bf16_to_ps(__m256i h)
{
	return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* f32 -> f16 by F16C, round to nearest even; equal to nb_f32_to_f16 on all
 * 2^32 inputs on the machines we measured (the converter test checks the
 * boundary classes on every run). */
NB_AVX512_INLINE __m256i nb_avx512_ps_to_f16(__m512 v)
{
	return _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/*
 * Element j.. j+15 of a row of dtype t (NB_DTYPE_F32, _BF16 or _F16; a
 * compile-time constant after inlining) as 16 f32 lanes. f16 loads use
 * F16C, which quiets a signalling NaN: harmless inside the kernels (a NaN
 * stays a NaN and a row with one goes to the portable kernel), and fixed
 * up by the exported converter nb_avx512_f16_to_f32.
 */
NB_AVX512_INLINE __m512 nb_avx512_load(enum nb_dtype t, const void *base, size_t j)
{
	switch (t) {
	case NB_DTYPE_BF16:
		return nb_avx512_bf16_to_ps(
			_mm256_loadu_si256((const __m256i *)((const struct nb_bf16 *)base + j)));
	case NB_DTYPE_F16:
		return _mm512_cvtph_ps(
			_mm256_loadu_si256((const __m256i *)((const struct nb_f16 *)base + j)));
	default:
		return _mm512_loadu_ps((const float *)base + j);
	}
}

/* As nb_avx512_load for the lanes in m; the other lanes are +0 and their
 * memory is not touched. */
NB_AVX512_INLINE __m512 nb_avx512_load_mask(enum nb_dtype t, const void *base, size_t j,
					    __mmask16 m)
{
	switch (t) {
	case NB_DTYPE_BF16:
		return nb_avx512_bf16_to_ps(
			_mm256_maskz_loadu_epi16(m, (const struct nb_bf16 *)base + j));
	case NB_DTYPE_F16:
		return _mm512_cvtph_ps(
			_mm256_maskz_loadu_epi16(m, (const struct nb_f16 *)base + j));
	default:
		return _mm512_maskz_loadu_ps(m, (const float *)base + j);
	}
}

/* Stores 16 lanes at element j of a row of dtype t, rounding to nearest
 * even for the 16-bit types. Every kernel writes its outputs through this
 * pair, so a change of store kind (e.g. non-temporal) is made here. */
NB_AVX512_INLINE void nb_avx512_store(enum nb_dtype t, void *base, size_t j, __m512 v)
{
	switch (t) {
	case NB_DTYPE_BF16:
		_mm256_storeu_si256((__m256i *)((struct nb_bf16 *)base + j),
				    nb_avx512_ps_to_bf16(v));
		break;
	case NB_DTYPE_F16:
		_mm256_storeu_si256((__m256i *)((struct nb_f16 *)base + j),
				    nb_avx512_ps_to_f16(v));
		break;
	default:
		_mm512_storeu_ps((float *)base + j, v);
		break;
	}
}

/* As nb_avx512_store for the lanes in m only. */
NB_AVX512_INLINE void nb_avx512_store_mask(enum nb_dtype t, void *base, size_t j,
					   __m512 v, __mmask16 m)
{
	switch (t) {
	case NB_DTYPE_BF16:
		_mm256_mask_storeu_epi16((struct nb_bf16 *)base + j, m,
					 nb_avx512_ps_to_bf16(v));
		break;
	case NB_DTYPE_F16:
		_mm256_mask_storeu_epi16((struct nb_f16 *)base + j, m,
					 nb_avx512_ps_to_f16(v));
		break;
	default:
		_mm512_mask_storeu_ps((float *)base + j, m, v);
		break;
	}
}

/*
 * One whole 64-byte line at element j of a row of dtype t: f32: v0 holds
 * its 16 elements (v1 is ignored); 16-bit types: v0 holds elements j..j+15
 * and v1 j+16..j+31, rounded exactly as nb_avx512_store rounds them (two
 * vectors go through one VCVTNE2PS2BF16 for bf16). stream: a non-temporal
 * store, base + j must then be 64-byte aligned; the line goes to memory
 * without being read for ownership, and a kernel that streams ends its call
 * with _mm_sfence() so the stores are ordered before whatever the caller
 * does next (another thread reading y, the clock stopping).
 */
NB_AVX512_INLINE void nb_avx512_store_line(enum nb_dtype t, void *base, size_t j, __m512 v0,
					   __m512 v1, bool stream)
{
	__m512i line;
	void *dst;

	switch (t) {
	case NB_DTYPE_BF16:
		line = nb_avx512_ps2_to_bf16(v0, v1);
		dst = (struct nb_bf16 *)base + j;
		break;
	case NB_DTYPE_F16:
		line = _mm512_inserti64x4(_mm512_castsi256_si512(nb_avx512_ps_to_f16(v0)),
					  nb_avx512_ps_to_f16(v1), 1);
		dst = (struct nb_f16 *)base + j;
		break;
	default:
		line = _mm512_castps_si512(v0);
		dst = (float *)base + j;
		break;
	}
	if (stream) {
		_mm512_stream_si512(dst, line);
	} else if (t == NB_DTYPE_F32) {
		_mm512_storeu_si512(dst, line);
	} else {
		/* two 32-byte stores: on a row that is not 64-byte aligned only
		 * every other one crosses a line (a 64-byte store would cross
		 * every time), which kept 4096 x 4095 f16 rows at the speed of
		 * the original kernels */
		_mm256_storeu_si256((__m256i *)dst, _mm512_castsi512_si256(line));
		_mm256_storeu_si256((__m256i *)dst + 1, _mm512_extracti64x4_epi64(line, 1));
	}
}

#endif /* AVX-512 flags */

#endif
