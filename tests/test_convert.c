/* The scalar 16-bit converters of common/nb_dtype.h, exhaustively: every f16
 * and bf16 value decoded against ldexpl of its fields, and f32 -> f16/bf16
 * against a round-to-nearest-even written here from first principles. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_rng.h"
#include "tests/nb_test.h"

/* A 16-bit format: p significand bits (implicit bit included), normal
 * exponents emin..emax, exponent field width. */
struct nb_fmt {
	const char *name;
	int p, emin, emax, ebits;
};

static const struct nb_fmt nb_f16_fmt = { "f16", 11, -14, 15, 5 };
static const struct nb_fmt nb_bf16_fmt = { "bf16", 8, -126, 127, 8 };

/* Independent decoder: the value of the bit pattern from its fields. NaN
 * for NaN patterns. */
static long double nb_decode(const struct nb_fmt *f, uint16_t bits)
{
	int mbits = f->p - 1;
	unsigned emask = (1u << f->ebits) - 1u;
	unsigned e = (bits >> mbits) & emask;
	unsigned m = bits & ((1u << mbits) - 1u);
	int bias = (1 << (f->ebits - 1)) - 1;
	long double v;

	if (e == emask)
		v = m ? (long double)NAN : (long double)INFINITY;
	else if (e == 0)
		v = ldexpl((long double)m, 1 - bias - mbits);
	else
		v = ldexpl((long double)(m + (1u << mbits)), (int)e - bias - mbits);
	return (bits & 0x8000u) ? -v : v;
}

/*
 * Round-to-nearest-even of a finite a into format f, from first principles:
 * the representable numbers of the binade of a (or of the subnormal range)
 * are multiples of q = 2^(max(e, emin) - p + 1); lo = floor(a/q) q and
 * hi = lo + q are the two neighbours; the nearer wins, a tie goes to the
 * even multiple. A result at or beyond 2^(emax+1) is infinity (an
 * unbounded-exponent RNE that lands there has overflowed). Every step is
 * exact in long double (a has at most 24 significant bits; a/q is a power
 * of two scaling).
 */
static long double nb_rne(const struct nb_fmt *f, long double a)
{
	long double mag = fabsl(a), q, m, rem, v;
	int e;

	if (mag == 0.0L)
		return a;
	e = ilogbl(mag);
	if (e < f->emin)
		e = f->emin;
	q = ldexpl(1.0L, e - (f->p - 1));
	m = floorl(mag / q);
	rem = mag - m * q;
	if (rem > q / 2 || (rem == q / 2 && fmodl(m, 2.0L) == 1.0L))
		m += 1.0L;
	v = m * q;
	if (v >= ldexpl(1.0L, f->emax + 1))
		v = (long double)INFINITY;
	return signbit(a) ? -v : v;
}

static uint16_t nb_conv(const struct nb_fmt *f, float x)
{
	return f == &nb_f16_fmt ? nb_f32_to_f16(x).bits : nb_f32_to_bf16(x).bits;
}

/* The quiet bit is the top significand bit. */
static uint16_t nb_quiet_bit(const struct nb_fmt *f)
{
	return (uint16_t)(1u << (f->p - 2));
}

/* Checks one conversion; prints and counts a mismatch. */
static int nb_check_one(const struct nb_fmt *f, float x, int *printed)
{
	uint16_t got = nb_conv(f, x);
	long double gv = nb_decode(f, got);
	bool ok;

	if (isnan(x)) {
		ok = isnan(gv) && (got & nb_quiet_bit(f)) &&
		     ((got & 0x8000u) != 0) == (signbit(x) != 0);
	} else {
		long double want = nb_rne(f, (long double)x);

		ok = !isnan(gv) && gv == want && (signbit(gv) != 0) == (signbit(want) != 0);
	}
	if (!ok && (*printed)++ < 10)
		fprintf(stderr, "f32 -> %s: 0x%08x (%.9g) gave 0x%04x (%.9Lg), want %.9Lg\n",
			f->name, nb_f32_bits(x), (double)x, got, gv,
			isnan(x) ? (long double)NAN : nb_rne(f, (long double)x));
	return ok ? 0 : 1;
}

/* Largest non-NaN, non-inf positive pattern. */
static uint16_t nb_max_bits(const struct nb_fmt *f)
{
	return (uint16_t)((((1u << f->ebits) - 1u) << (f->p - 1)) - 1u);
}

/* Every value, every midpoint between neighbours (and between the largest
 * finite value and 2^(emax+1), the overflow threshold), the f32 neighbours
 * of each midpoint, both signs. */
static int nb_check_all_midpoints(const struct nb_fmt *f)
{
	int bad = 0, printed = 0;
	uint16_t top = nb_max_bits(f);

	for (uint32_t b = 0; b <= top; b++) {
		long double lo = nb_decode(f, (uint16_t)b);
		long double hi = b < top ? nb_decode(f, (uint16_t)(b + 1))
					 : ldexpl(1.0L, f->emax + 1);
		float v = (float)lo, mid = (float)((lo + hi) / 2);

		/* the midpoints have p+1 significant bits: exact in f32 */
		ck_assert((long double)mid == (lo + hi) / 2);
		for (int s = 0; s < 2; s++) {
			float sg = s ? -1.0f : 1.0f;

			bad += nb_check_one(f, sg * v, &printed);
			bad += nb_check_one(f, sg * mid, &printed);
			bad += nb_check_one(f, sg * nextafterf(mid, 0.0f), &printed);
			bad += nb_check_one(f, sg * nextafterf(mid, INFINITY), &printed);
		}
	}
	return bad;
}

START_TEST(test_f16_to_f32_exhaustive)
{
	int bad = 0;

	for (uint32_t b = 0; b < 65536; b++) {
		struct nb_f16 h = { (uint16_t)b };
		float got = nb_f16_to_f32(h);
		long double want = nb_decode(&nb_f16_fmt, h.bits);
		bool ok;

		if (isnan(want))
			/* NaN kept, sign and payload too (shifted into the top) */
			ok = isnan(got) && (nb_f32_bits(got) >> 31) == (b >> 15) &&
			     ((nb_f32_bits(got) >> 13) & 0x3ffu) == (b & 0x3ffu);
		else
			ok = (long double)got == want && (signbit(got) != 0) == (signbit(want) != 0);
		if (!ok && bad++ < 10)
			fprintf(stderr, "f16 0x%04x -> %.9g, want %.9Lg\n", b, (double)got, want);
		/* the round trip is exact for every non-NaN value */
		if (!isnan(want) && nb_f32_to_f16(got).bits != h.bits && bad++ < 10)
			fprintf(stderr, "f16 0x%04x does not round-trip\n", b);
	}
	ck_assert_msg(bad == 0, "%d f16 -> f32 mismatches", bad);
}
END_TEST

START_TEST(test_bf16_to_f32_exhaustive)
{
	int bad = 0;

	for (uint32_t b = 0; b < 65536; b++) {
		struct nb_bf16 h = { (uint16_t)b };
		float got = nb_bf16_to_f32(h);
		long double want = nb_decode(&nb_bf16_fmt, h.bits);
		bool ok;

		if (isnan(want))
			ok = isnan(got) && nb_f32_bits(got) == b << 16;
		else
			ok = (long double)got == want && (signbit(got) != 0) == (signbit(want) != 0);
		if (!ok && bad++ < 10)
			fprintf(stderr, "bf16 0x%04x -> %.9g, want %.9Lg\n", b, (double)got, want);
		if (!isnan(want) && nb_f32_to_bf16(got).bits != h.bits && bad++ < 10)
			fprintf(stderr, "bf16 0x%04x does not round-trip\n", b);
	}
	ck_assert_msg(bad == 0, "%d bf16 -> f32 mismatches", bad);
}
END_TEST

START_TEST(test_f32_to_f16_values_and_midpoints)
{
	int bad = nb_check_all_midpoints(&nb_f16_fmt);

	ck_assert_msg(bad == 0, "%d f32 -> f16 mismatches (first ones on stderr)", bad);
}
END_TEST

START_TEST(test_f32_to_bf16_values_and_midpoints)
{
	int bad = nb_check_all_midpoints(&nb_bf16_fmt);

	ck_assert_msg(bad == 0, "%d f32 -> bf16 mismatches (first ones on stderr)", bad);
}
END_TEST

/* The cases a reader looks for first, spelled out (the sweep above covers
 * them too, this makes a regression readable). */
START_TEST(test_named_cases)
{
	/* f16 overflow threshold: 65520 is the midpoint between 65504 (odd
	 * significand) and 2^16, so it rounds to even, i.e. up: infinity */
	ck_assert_uint_eq(nb_f32_to_f16(65520.0f).bits, 0x7c00);
	ck_assert_uint_eq(nb_f32_to_f16(-65520.0f).bits, 0xfc00);
	ck_assert_uint_eq(nb_f32_to_f16(nextafterf(65520.0f, 0.0f)).bits, 0x7bff);
	ck_assert_uint_eq(nb_f32_to_f16(65519.99f).bits, 0x7bff);
	ck_assert_uint_eq(nb_f32_to_f16(INFINITY).bits, 0x7c00);
	ck_assert_uint_eq(nb_f32_to_f16(-INFINITY).bits, 0xfc00);
	ck_assert_uint_eq(nb_f32_to_f16(1e30f).bits, 0x7c00);
	/* gradual underflow: 2^-25 ties to 0, just above goes to 2^-24,
	 * 3 * 2^-25 ties to the even 2 * 2^-24 */
	ck_assert_uint_eq(nb_f32_to_f16(0x1p-25f).bits, 0x0000);
	ck_assert_uint_eq(nb_f32_to_f16(nextafterf(0x1p-25f, 1.0f)).bits, 0x0001);
	ck_assert_uint_eq(nb_f32_to_f16(0x3p-25f).bits, 0x0002);
	ck_assert_uint_eq(nb_f32_to_f16(-0x1p-24f).bits, 0x8001);
	ck_assert_uint_eq(nb_f32_to_f16(0x1p-14f).bits, 0x0400);
	ck_assert_uint_eq(nb_f32_to_f16(-0.0f).bits, 0x8000);
	ck_assert_uint_eq(nb_f32_to_f16(-1e-30f).bits, 0x8000);
	/* NaN: quiet, sign kept, also from a signalling NaN */
	ck_assert_uint_eq(nb_f32_to_f16(nb_f32_from_bits(0x7f800001u)).bits & 0x7e00u, 0x7e00);
	ck_assert_uint_eq(nb_f32_to_f16(nb_f32_from_bits(0xff800001u)).bits & 0xfe00u, 0xfe00);

	/* bf16: 0x1.ffp127 is the midpoint between the largest bf16 (odd)
	 * and 2^128: to infinity; just below it stays finite */
	ck_assert_uint_eq(nb_f32_to_bf16(0x1.ffp127f).bits, 0x7f80);
	ck_assert_uint_eq(nb_f32_to_bf16(nextafterf(0x1.ffp127f, 0.0f)).bits, 0x7f7f);
	ck_assert_uint_eq(nb_f32_to_bf16(1.00390625f).bits, 0x3f80);  /* 1 + 2^-8: tie, even */
	ck_assert_uint_eq(nb_f32_to_bf16(1.01171875f).bits, 0x3f82);  /* 1 + 3*2^-8: tie, even */
	/* f32 subnormals: bf16 keeps them (spacing 2^-133) */
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0x00008000u)).bits, 0x0000);
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0x00008001u)).bits, 0x0001);
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0x00018000u)).bits, 0x0002);
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0x7f800001u)).bits, 0x7fc0);
	ck_assert_uint_eq(nb_f32_to_bf16(nb_f32_from_bits(0xffc00000u)).bits, 0xffc0);
	ck_assert_uint_eq(nb_f32_to_bf16(-INFINITY).bits, 0xff80);
}
END_TEST

#if defined(__SANITIZE_ADDRESS__)
#define NB_SANITIZED true
#else
#define NB_SANITIZED false
#endif

/* A few million random f32 bit patterns (every exponent, NaNs included),
 * seeded so a failure reproduces; NB_TEST_QUICK (the default under ASan)
 * takes 2^18. */
START_TEST(test_random_f32_patterns)
{
	const char *quick = getenv("NB_TEST_QUICK");
	bool small = (quick && *quick) ? strcmp(quick, "0") != 0 : NB_SANITIZED;
	size_t count = small ? (size_t)1 << 18 : (size_t)1 << 22;
	struct nb_rng rng;
	int bad = 0, printed = 0;

	nb_rng_seed(&rng, 20240601u);
	for (size_t i = 0; i < count; i++) {
		float x = nb_f32_from_bits((uint32_t)(nb_rng_next(&rng) >> 32));

		bad += nb_check_one(&nb_f16_fmt, x, &printed);
		bad += nb_check_one(&nb_bf16_fmt, x, &printed);
	}
	ck_assert_msg(bad == 0, "%d of %zu random conversions wrong", bad, 2 * count);
}
END_TEST

/* The oracle itself: nb_rne must reproduce every value and send each
 * midpoint to its even neighbour, or the sweeps above prove nothing. */
START_TEST(test_reference_rounding_itself)
{
	ck_assert(nb_rne(&nb_f16_fmt, 1.0L) == 1.0L);
	ck_assert(nb_rne(&nb_f16_fmt, 1.0L + 0x1p-11L) == 1.0L);             /* tie: even */
	ck_assert(nb_rne(&nb_f16_fmt, 1.0L + 0x3p-11L) == 1.0L + 0x1p-9L);  /* tie: even */
	ck_assert(nb_rne(&nb_f16_fmt, 1.0L + 0x1p-11L + 0x1p-20L) == 1.0L + 0x1p-10L);
	ck_assert(isinf(nb_rne(&nb_f16_fmt, 65520.0L)));
	ck_assert(nb_rne(&nb_f16_fmt, 65519.0L) == 65504.0L);
	ck_assert(nb_rne(&nb_f16_fmt, 0x1p-25L) == 0.0L);
	ck_assert(nb_rne(&nb_bf16_fmt, 0x1p-134L) == 0.0L);
	ck_assert(nb_rne(&nb_bf16_fmt, 0x3p-134L) == 0x1p-132L);
	ck_assert(nb_decode(&nb_f16_fmt, 0x7bff) == 65504.0L);
	ck_assert(nb_decode(&nb_f16_fmt, 0x0001) == 0x1p-24L);
	ck_assert(nb_decode(&nb_bf16_fmt, 0x7f7f) == 0x1.fep127L);
	ck_assert(nb_decode(&nb_bf16_fmt, 0x0001) == 0x1p-133L);
	ck_assert(nb_decode(&nb_bf16_fmt, 0x3f80) == 1.0L);
}
END_TEST

Suite *nb_suite_convert(void)
{
	Suite *s = suite_create("convert");
	TCase *tc = tcase_create("scalar");

	tcase_add_test(tc, test_reference_rounding_itself);
	tcase_add_test(tc, test_f16_to_f32_exhaustive);
	tcase_add_test(tc, test_bf16_to_f32_exhaustive);
	tcase_add_test(tc, test_f32_to_f16_values_and_midpoints);
	tcase_add_test(tc, test_f32_to_bf16_values_and_midpoints);
	tcase_add_test(tc, test_named_cases);
	tcase_add_test(tc, test_random_f32_patterns);
	suite_add_tcase(s, tc);
	return s;
}
