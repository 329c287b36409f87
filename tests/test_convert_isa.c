/* The AVX2 and AVX-512 (arm64: NEON and SVE) row converters (kernels/avx2/nb_avx2.h,
 * kernels/avx512/nb_avx512.h) against the scalar converters of
 * common/nb_dtype.h: bit for bit, on every input class that can differ. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_rng.h"
#if defined(__x86_64__)
#include "kernels/avx2/nb_avx2.h"
#include "kernels/avx512/nb_avx512.h"
#elif defined(__aarch64__)
#include "kernels/neon/nb_neon.h"
#include "kernels/sve/nb_sve.h"
#endif
#include "kernels/nb_kernels.h"
#include "tests/nb_test.h"

/*
 * Preconditions: a converter runs only where nb_isa_detected() reaches its
 * ISA; elsewhere its test prints a note and checks nothing. The identity
 * accepted is bit equality with the scalar converter (NaN payloads
 * included): both sides round to nearest even, so there is no tolerance.
 */

struct nb_conv_impl {
	const char *name;
	enum nb_isa isa;
	void (*bf16_to_f32)(const struct nb_bf16 *, float *, size_t);
	void (*f32_to_bf16)(const float *, struct nb_bf16 *, size_t);
	void (*f16_to_f32)(const struct nb_f16 *, float *, size_t);
	void (*f32_to_f16)(const float *, struct nb_f16 *, size_t);
};

static const struct nb_conv_impl nb_impls[] = {
#if defined(__aarch64__)
	{ "neon", NB_ISA_NEON, nb_neon_bf16_to_f32, nb_neon_f32_to_bf16,
	  nb_neon_f16_to_f32, nb_neon_f32_to_f16 },
	{ "sve", NB_ISA_SVE, nb_sve_bf16_to_f32, nb_sve_f32_to_bf16,
	  nb_sve_f16_to_f32, nb_sve_f32_to_f16 },
#else
	{ "avx2", NB_ISA_AVX2, nb_avx2_bf16_to_f32, nb_avx2_f32_to_bf16,
	  nb_avx2_f16_to_f32, nb_avx2_f32_to_f16 },
	{ "avx512", NB_ISA_AVX512, nb_avx512_bf16_to_f32, nb_avx512_f32_to_bf16,
	  nb_avx512_f16_to_f32, nb_avx512_f32_to_f16 },
#endif
};

#define NB_IMPL_COUNT ((int)(sizeof(nb_impls) / sizeof(nb_impls[0])))

static bool nb_impl_runs(const struct nb_conv_impl *im)
{
	if (nb_isa_detected() >= im->isa)
		return true;
	printf("convert_isa: this CPU lacks %s; its converters are not tested here\n",
	       im->name);
	return false;
}

/* ---- the f32 inputs that matter for a 16-bit rounding ---- */

struct nb_cases {
	uint32_t *bits;
	size_t n, cap;
};

static void nb_case_add(struct nb_cases *c, uint32_t u)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 4096;
		c->bits = realloc(c->bits, c->cap * sizeof(uint32_t));
		if (!c->bits)
			ck_abort_msg("out of memory for the test cases");
	}
	c->bits[c->n++] = u;
}

/* u, and the f32 values one ulp either side of it (by bit pattern, the
 * neighbours in magnitude for either sign) */
static void nb_case_add3(struct nb_cases *c, uint32_t u)
{
	nb_case_add(c, u);
	if ((u & 0x7fffffffu) != 0)
		nb_case_add(c, u - 1u);
	if ((u & 0x7fffffffu) != 0x7fffffffu)
		nb_case_add(c, u + 1u);
}

/* Zeros, subnormal and normal limits, Inf and NaN edges (signalling and
 * quiet, with payloads at both ends), and the f16 range edges: the largest
 * value that still rounds to 65504 and the least that rounds to Inf, the
 * smallest f16 subnormal 2^-24 and half of it, the normal/subnormal border
 * 2^-14. Each with both signs and the values an ulp either side. */
static void nb_cases_boundaries(struct nb_cases *c)
{
	static const uint32_t edges[] = {
		0x00000000u, 0x00000001u, 0x00000002u, 0x00007fffu, 0x00008000u,
		0x00008001u, 0x00018000u, 0x003fffffu, 0x00400000u, 0x007f8000u,
		0x007fffffu, 0x00800000u, 0x00808000u, 0x3f800000u, 0x7f7f7fffu,
		0x7f7f8000u, 0x7f7fffffu, 0x7f800000u, 0x7f800001u, 0x7f80ffffu,
		0x7f810000u, 0x7fbfffffu, 0x7fc00000u, 0x7fc00001u, 0x7fffe000u,
		0x7fffffffu,
		/* f16 */
		0x477fe000u, 0x477fefffu, 0x477ff000u, 0x47800000u, 0x38800000u,
		0x387fc000u, 0x387fe000u, 0x33800000u, 0x33000000u, 0x32800000u,
		0x33c00000u, 0x38000000u,
	};

	for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
		nb_case_add3(c, edges[i]);
		nb_case_add3(c, edges[i] | 0x80000000u);
	}
}

/* bf16: every bf16 value (its f32 bits are b << 16), every midpoint between
 * neighbours in bit order (b << 16 | 0x8000: the ties, including the one
 * between the largest finite bf16 and Inf), each with the f32 an ulp either
 * side. The NaN patterns come in as they are. */
static void nb_cases_bf16(struct nb_cases *c)
{
	for (uint32_t b = 0; b <= 0xffffu; b++) {
		nb_case_add3(c, b << 16);
		if ((b & 0x7fffu) < 0x7f80u)
			nb_case_add3(c, (b << 16) | 0x8000u);
	}
	nb_cases_boundaries(c);
}

/* f16: every f16 value widened to f32, and for every finite f16 the
 * midpoint to its neighbour of next larger magnitude (65536 standing in for
 * Inf, so 65520 is the overflow tie), each with the f32 an ulp either side.
 * Midpoints are exact in f32: neighbours differ in the 11th bit at most, so
 * their mean needs 12. */
static void nb_cases_f16(struct nb_cases *c)
{
	for (uint32_t h = 0; h <= 0xffffu; h++) {
		struct nb_f16 a = { (uint16_t)h };
		uint32_t mag = h & 0x7fffu;
		float va, vb;

		nb_case_add3(c, nb_f32_bits(nb_f16_to_f32(a)));
		if (mag >= 0x7c00u)
			continue;
		va = nb_f16_to_f32(a);
		if (mag + 1u == 0x7c00u) {
			vb = (h & 0x8000u) ? -65536.0f : 65536.0f;
		} else {
			struct nb_f16 b = { (uint16_t)(h + 1u) };
			vb = nb_f16_to_f32(b);
		}
		nb_case_add3(c, nb_f32_bits((va + vb) * 0.5f));
	}
	nb_cases_boundaries(c);
}

/* A few million random f32 bit patterns (fixed seed). */
#define NB_RANDOM_CASES ((size_t)3 << 20)

static void nb_cases_random(struct nb_cases *c, uint64_t seed)
{
	struct nb_rng rng;

	nb_rng_seed(&rng, seed);
	for (size_t i = 0; i < NB_RANDOM_CASES; i++)
		nb_case_add(c, (uint32_t)(nb_rng_next(&rng) >> 32));
}

static float *nb_cases_floats(const struct nb_cases *c)
{
	float *f = malloc(c->n * sizeof(float));

	ck_assert_ptr_nonnull(f);
	for (size_t i = 0; i < c->n; i++)
		f[i] = nb_f32_from_bits(c->bits[i]);
	return f;
}

/* Converts all cases in one call and compares each with the scalar result. */
static void nb_check_to_bf16(const struct nb_conv_impl *im, const struct nb_cases *c)
{
	float *src = nb_cases_floats(c);
	struct nb_bf16 *dst = malloc(c->n * sizeof(*dst));

	ck_assert_ptr_nonnull(dst);
	im->f32_to_bf16(src, dst, c->n);
	for (size_t i = 0; i < c->n; i++) {
		uint16_t want = nb_f32_to_bf16(src[i]).bits;

		if (dst[i].bits != want)
			ck_abort_msg("%s f32->bf16 of 0x%08x: 0x%04x, scalar 0x%04x", im->name,
				     c->bits[i], dst[i].bits, want);
	}
	free(dst);
	free(src);
}

static void nb_check_to_f16(const struct nb_conv_impl *im, const struct nb_cases *c)
{
	float *src = nb_cases_floats(c);
	struct nb_f16 *dst = malloc(c->n * sizeof(*dst));

	ck_assert_ptr_nonnull(dst);
	im->f32_to_f16(src, dst, c->n);
	for (size_t i = 0; i < c->n; i++) {
		uint16_t want = nb_f32_to_f16(src[i]).bits;

		if (dst[i].bits != want)
			ck_abort_msg("%s f32->f16 of 0x%08x: 0x%04x, scalar 0x%04x", im->name,
				     c->bits[i], dst[i].bits, want);
	}
	free(dst);
	free(src);
}

/* ---- tests ---- */

/* All 65536 inputs of each 16-bit format to f32, in one call and again with
 * source and destination one element off their alignment. */
START_TEST(test_to_f32_exhaustive)
{
	const struct nb_conv_impl *im = &nb_impls[_i];
	struct nb_bf16 *b = malloc((65536 + 1) * sizeof(*b));
	struct nb_f16 *h = malloc((65536 + 1) * sizeof(*h));
	float *out = malloc((65536 + 1) * sizeof(float));

	ck_assert(b && h && out);
	if (!nb_impl_runs(im))
		goto out_free;
	for (size_t off = 0; off < 2; off++) {
		for (uint32_t u = 0; u <= 0xffffu; u++) {
			b[off + u].bits = (uint16_t)u;
			h[off + u].bits = (uint16_t)u;
		}
		im->bf16_to_f32(b + off, out + off, 65536);
		for (uint32_t u = 0; u <= 0xffffu; u++) {
			uint32_t got = nb_f32_bits(out[off + u]);
			uint32_t want = nb_f32_bits(nb_bf16_to_f32(b[off + u]));

			if (got != want)
				ck_abort_msg("%s bf16->f32 of 0x%04x: 0x%08x, scalar 0x%08x",
					     im->name, u, got, want);
		}
		im->f16_to_f32(h + off, out + off, 65536);
		for (uint32_t u = 0; u <= 0xffffu; u++) {
			uint32_t got = nb_f32_bits(out[off + u]);
			uint32_t want = nb_f32_bits(nb_f16_to_f32(h[off + u]));

			if (got != want)
				ck_abort_msg("%s f16->f32 of 0x%04x: 0x%08x, scalar 0x%08x",
					     im->name, u, got, want);
		}
	}
out_free:
	free(out);
	free(h);
	free(b);
}
END_TEST

/* f32 -> bf16 on every bf16 value, every midpoint, an ulp either side of
 * each, the special-value edges, and random bit patterns. */
START_TEST(test_to_bf16_cases)
{
	const struct nb_conv_impl *im = &nb_impls[_i];
	struct nb_cases c = { NULL, 0, 0 };

	if (!nb_impl_runs(im))
		return;
	nb_cases_bf16(&c);
	nb_cases_random(&c, 0xbf16ull);
	nb_check_to_bf16(im, &c);
	free(c.bits);
}
END_TEST

/* f32 -> f16 on every f16 value, every midpoint (including 65520 and the
 * subnormal ties), an ulp either side of each, the edges, random patterns. */
START_TEST(test_to_f16_cases)
{
	const struct nb_conv_impl *im = &nb_impls[_i];
	struct nb_cases c = { NULL, 0, 0 };

	if (!nb_impl_runs(im))
		return;
	nb_cases_f16(&c);
	nb_cases_random(&c, 0xf16ull);
	nb_check_to_f16(im, &c);
	free(c.bits);
}
END_TEST

/* Lengths 1..67 (every tail length of both vector widths, several full
 * vectors), source and destination at every element offset 0..3 from a
 * 64-byte boundary: each output equals the scalar one, and the guard
 * elements before and after the destination are untouched. */
#define NB_TAIL_MAX 67
#define NB_GUARD 8
#define NB_SENTINEL16 ((uint16_t)0xa5a5u)
#define NB_SENTINEL32 0x5a5a5a5au

START_TEST(test_tails_unaligned)
{
	const struct nb_conv_impl *im = &nb_impls[_i];
	struct nb_rng rng;
	_Alignas(64) float fsrc[NB_TAIL_MAX + 4];
	_Alignas(64) uint16_t hsrc[NB_TAIL_MAX + 4];
	_Alignas(64) float fdst[NB_GUARD + NB_TAIL_MAX + 4 + NB_GUARD];
	_Alignas(64) uint16_t hdst[NB_GUARD + NB_TAIL_MAX + 4 + NB_GUARD];

	if (!nb_impl_runs(im))
		return;
	nb_rng_seed(&rng, 67);
	for (size_t i = 0; i < NB_TAIL_MAX + 4; i++) {
		/* random bit patterns mixed with values near 1 that round */
		uint32_t u = (uint32_t)(nb_rng_next(&rng) >> 32);

		fsrc[i] = (i % 3) ? nb_f32_from_bits(0x3f800000u | (u & 0x7fffffu))
				  : nb_f32_from_bits(u);
		hsrc[i] = (uint16_t)u;
	}
	for (size_t len = 1; len <= NB_TAIL_MAX; len++)
		for (size_t so = 0; so < 4; so++)
			for (size_t dof = 0; dof < 4; dof++)
				for (int kind = 0; kind < 4; kind++) {
					uint16_t *h = hdst + NB_GUARD + dof;
					float *f = fdst + NB_GUARD + dof;

					for (size_t i = 0; i < sizeof(hdst) / sizeof(hdst[0]); i++)
						hdst[i] = NB_SENTINEL16;
					for (size_t i = 0; i < sizeof(fdst) / sizeof(fdst[0]); i++)
						fdst[i] = nb_f32_from_bits(NB_SENTINEL32);
					switch (kind) {
					case 0:
						im->f32_to_bf16(fsrc + so, (struct nb_bf16 *)h, len);
						break;
					case 1:
						im->f32_to_f16(fsrc + so, (struct nb_f16 *)h, len);
						break;
					case 2:
						im->bf16_to_f32((const struct nb_bf16 *)(hsrc + so), f, len);
						break;
					default:
						im->f16_to_f32((const struct nb_f16 *)(hsrc + so), f, len);
						break;
					}
					for (size_t i = 0; i < len; i++) {
						struct nb_bf16 bi = { hsrc[so + i] };
						struct nb_f16 fi = { hsrc[so + i] };
						uint32_t want = kind == 0 ? nb_f32_to_bf16(fsrc[so + i]).bits
							: kind == 1 ? nb_f32_to_f16(fsrc[so + i]).bits
							: kind == 2 ? nb_f32_bits(nb_bf16_to_f32(bi))
							: nb_f32_bits(nb_f16_to_f32(fi));
						uint32_t got = kind < 2 ? h[i] : nb_f32_bits(f[i]);

						if (got != want)
							ck_abort_msg("%s kind %d len %zu offsets %zu/%zu elem %zu: 0x%x, scalar 0x%x",
								     im->name, kind, len, so, dof, i, got, want);
					}
					for (size_t i = 0; i < NB_GUARD + dof; i++)
						if (hdst[i] != NB_SENTINEL16 ||
						    nb_f32_bits(fdst[i]) != NB_SENTINEL32)
							ck_abort_msg("%s kind %d len %zu wrote before the start",
								     im->name, kind, len);
					for (size_t i = NB_GUARD + dof + (kind < 2 ? len : 0);
					     i < sizeof(hdst) / sizeof(hdst[0]); i++)
						if (hdst[i] != NB_SENTINEL16)
							ck_abort_msg("%s kind %d len %zu wrote past the end",
								     im->name, kind, len);
					for (size_t i = NB_GUARD + dof + (kind < 2 ? 0 : len);
					     i < sizeof(fdst) / sizeof(fdst[0]); i++)
						if (nb_f32_bits(fdst[i]) != NB_SENTINEL32)
							ck_abort_msg("%s kind %d len %zu wrote past the end",
								     im->name, kind, len);
				}
}
END_TEST

/* n = 0 writes nothing. */
START_TEST(test_empty)
{
	const struct nb_conv_impl *im = &nb_impls[_i];
	float f = 1.0f;
	struct nb_bf16 b = { 0x1234 };
	struct nb_f16 h = { 0x1234 };

	if (!nb_impl_runs(im))
		return;
	im->f32_to_bf16(&f, &b, 0);
	im->f32_to_f16(&f, &h, 0);
	ck_assert_uint_eq(b.bits, 0x1234);
	ck_assert_uint_eq(h.bits, 0x1234);
	im->bf16_to_f32(&b, &f, 0);
	im->f16_to_f32(&h, &f, 0);
	ck_assert(f == 1.0f);
}
END_TEST

Suite *nb_suite_convert_isa(void)
{
	Suite *s = suite_create("convert_isa");
	TCase *tc = tcase_create("vs_scalar");

	tcase_add_loop_test(tc, test_to_f32_exhaustive, 0, NB_IMPL_COUNT);
	tcase_add_loop_test(tc, test_to_bf16_cases, 0, NB_IMPL_COUNT);
	tcase_add_loop_test(tc, test_to_f16_cases, 0, NB_IMPL_COUNT);
	tcase_add_loop_test(tc, test_tails_unaligned, 0, NB_IMPL_COUNT);
	tcase_add_loop_test(tc, test_empty, 0, NB_IMPL_COUNT);
	suite_add_tcase(s, tc);
	return s;
}
