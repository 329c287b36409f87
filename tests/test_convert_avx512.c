/* What the native AVX512-BF16 conversion VCVTNEPS2BF16 (_mm512_cvtneps_pbh)
 * does, pinned against the scalar nb_f32_to_bf16: the reason the kernels
 * round to bf16 with integer operations instead. */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_rng.h"
#include "kernels/avx512/nb_avx512.h"
#include "kernels/nb_kernels.h"
#include "tests/nb_test.h"

/*
 * Observed on the AMD EPYC (Zen, AVX512-BF16) this suite was written on, and
 * what Intel's pseudo-code for VCVTNEPS2BF16 describes: the instruction rounds
 * to nearest even like nb_f32_to_bf16 on every zero, normal, infinite and
 * NaN input (NaN -> top half with the quiet bit 0x40 set), but it treats
 * every subnormal f32 input as zero of the same sign (DAZ and FTZ behaviour
 * regardless of MXCSR). nb_f32_to_bf16 keeps them: 0x007fffff becomes 0x0080
 * (rounded up to the least normal), 0x00018000 becomes 0x0002, and only the
 * 32768 smallest magnitudes (up to the tie 0x00008000) round to zero.
 *
 * That is why the kernels (kernels/avx512, kernels/avx2) do not use it: a
 * bf16 row would then depend on the ISA that produced it (a portable and an
 * AVX-512 kernel would disagree on subnormal results by up to 2^-126), and
 * storing a gradient or an activation near the bottom of the range would
 * silently lose it. The integer round (nb_avx512_ps_to_bf16) costs a few
 * instructions in a memory-bound loop and matches the scalar converter bit
 * for bit. If a future CPU changes the instruction, these tests fail and say
 * which class moved.
 *
 * This file is compiled with the AVX-512 flags; every test checks
 * nb_isa_detected() before it runs any AVX-512 instruction.
 */

static bool nb_native_runs(void)
{
	if (nb_isa_detected() >= NB_ISA_AVX512)
		return true;
	printf("convert_avx512: this CPU lacks AVX512-BF16; the native conversion is not probed\n");
	return false;
}

/* dst[i] = VCVTNEPS2BF16(src[i]) */
static void nb_native_to_bf16(const float *src, uint16_t *dst, size_t n)
{
	size_t j = 0;

	for (; j + 16 <= n; j += 16) {
		__m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(src + j));
		memcpy(dst + j, &h, sizeof(h));
	}
	if (j < n) {
		__mmask16 m = (__mmask16)((1u << (n - j)) - 1u);
		__m256bh h = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + j));

		_mm256_mask_storeu_epi16(dst + j, m, (__m256i)h);
	}
}

static bool nb_is_subnormal(uint32_t u)
{
	return (u & 0x7f800000u) == 0 && (u & 0x007fffffu) != 0;
}

/* Every non-subnormal input class gives the scalar result: every bf16 value
 * (b << 16, including Inf and every NaN pattern), every tie b << 16 | 0x8000
 * and the f32 an ulp either side of it (the tie between the largest finite
 * bf16 and Inf among them), and three million random bit patterns with the
 * subnormals left out. */
START_TEST(test_native_matches_on_non_subnormals)
{
	size_t cap = (size_t)6 * 65536 + ((size_t)3 << 20);
	float *src;
	uint16_t *got;
	uint32_t *bits;
	size_t n = 0;
	struct nb_rng rng;

	if (!nb_native_runs())
		return;
	src = malloc(cap * sizeof(float));
	got = malloc(cap * sizeof(uint16_t));
	bits = malloc(cap * sizeof(uint32_t));
	ck_assert(src && got && bits);
	for (uint32_t b = 0; b <= 0xffffu; b++) {
		uint32_t u = b << 16;
		uint32_t cand[6] = { u, u + 1u, u | 0x7fffu, u | 0x8000u, u | 0x8001u,
				     u - 1u };

		for (int k = 0; k < 6; k++)
			if (!nb_is_subnormal(cand[k]))
				bits[n++] = cand[k];
	}
	nb_rng_seed(&rng, 0xcf5);
	for (size_t i = 0; i < ((size_t)3 << 20); i++) {
		uint32_t u = (uint32_t)(nb_rng_next(&rng) >> 32);

		if (!nb_is_subnormal(u))
			bits[n++] = u;
	}
	for (size_t i = 0; i < n; i++)
		src[i] = nb_f32_from_bits(bits[i]);
	nb_native_to_bf16(src, got, n);
	for (size_t i = 0; i < n; i++)
		if (got[i] != nb_f32_to_bf16(src[i]).bits)
			ck_abort_msg("native bf16 of 0x%08x: 0x%04x, scalar 0x%04x", bits[i],
				     got[i], nb_f32_to_bf16(src[i]).bits);
	free(bits);
	free(got);
	free(src);
}
END_TEST

/* Every subnormal input (2 x (2^23 - 1) of them) becomes a zero of its sign;
 * the scalar converter differs on exactly those above the tie 0x8000 in
 * magnitude: 2 x (2^23 - 1 - 2^15) inputs. */
START_TEST(test_native_flushes_subnormals)
{
	size_t per_sign = ((size_t)1 << 23) - 1;
	float *src;
	uint16_t *got;
	size_t differ = 0;

	if (!nb_native_runs())
		return;
	src = malloc(per_sign * sizeof(float));
	got = malloc(per_sign * sizeof(uint16_t));
	ck_assert(src && got);
	for (uint32_t sign = 0; sign <= 1; sign++) {
		for (size_t i = 0; i < per_sign; i++)
			src[i] = nb_f32_from_bits((sign << 31) | (uint32_t)(i + 1));
		nb_native_to_bf16(src, got, per_sign);
		for (size_t i = 0; i < per_sign; i++) {
			uint16_t scalar = nb_f32_to_bf16(src[i]).bits;

			if (got[i] != (uint16_t)(sign << 15))
				ck_abort_msg("native bf16 of subnormal 0x%08x: 0x%04x, expected a "
					     "flush to signed zero", nb_f32_bits(src[i]), got[i]);
			if (scalar != got[i])
				differ++;
		}
	}
	ck_assert_uint_eq(differ, 2 * (per_sign - 0x8000));
	/* the two ends the comment names */
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0x007fffffu)).bits, 0x0080);
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0x00018000u)).bits, 0x0002);
	free(got);
	free(src);
}
END_TEST

/* The kernels' own vector rounding does not flush: the AVX-512 converter
 * keeps the subnormal results the native instruction loses. */
START_TEST(test_kernel_converter_keeps_subnormals)
{
	float src[4];
	struct nb_bf16 dst[4];
	static const uint32_t in[4] = { 0x007fffffu, 0x00018000u, 0x80400000u, 0x00008001u };
	static const uint16_t want[4] = { 0x0080, 0x0002, 0x8040, 0x0001 };

	if (!nb_native_runs())
		return;
	for (int i = 0; i < 4; i++)
		src[i] = nb_f32_from_bits(in[i]);
	nb_avx512_f32_to_bf16(src, dst, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(dst[i].bits, want[i]);
}
END_TEST

Suite *nb_suite_convert_avx512(void)
{
	Suite *s = suite_create("convert_avx512");
	TCase *tc = tcase_create("native_bf16");

	tcase_add_test(tc, test_native_matches_on_non_subnormals);
	tcase_add_test(tc, test_native_flushes_subnormals);
	tcase_add_test(tc, test_kernel_converter_keeps_subnormals);
	suite_add_tcase(s, tc);
	return s;
}
