/* Reading any storage dtype as long double for the references. The 16-bit
 * formats are decoded from their bit fields with ref/'s own arithmetic
 * (ldexpl), independent of common/'s bit-twiddling converters. */
#include "ref/nb_ref.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/*
 * A binary floating-point format with 1 sign bit, ebits exponent bits and
 * mbits fraction bits, bias 2^(ebits-1) - 1:
 *   exponent field 0:       (-1)^s * frac * 2^(1 - bias - mbits)   (zero, subnormal)
 *   exponent field 1..max-1: (-1)^s * (2^mbits + frac) * 2^(e - bias - mbits)
 *   exponent field all ones: +-Inf when frac == 0, else NaN
 * Every value of f16 (11-bit significand) and bf16 (8 bits) is exact in
 * long double, and ldexpl by an in-range power of two is exact.
 */
static long double nb_ref_decode16(uint16_t bits, int ebits, int mbits)
{
	int bias = (1 << (ebits - 1)) - 1;
	unsigned emax = (1u << ebits) - 1u;
	unsigned e = ((unsigned)bits >> mbits) & emax;
	unsigned frac = (unsigned)bits & ((1u << mbits) - 1u);
	long double sign = (bits & 0x8000u) ? -1.0L : 1.0L;

	if (e == emax && frac == 0)
		return sign * (long double)INFINITY;
	if (e == emax)
		return copysignl((long double)NAN, sign);
	if (e == 0)
		return sign * ldexpl((long double)frac, 1 - bias - mbits);
	return sign * ldexpl((long double)((1u << mbits) + frac),
			     (int)e - bias - mbits);
}

long double nb_ref_load(enum nb_dtype t, const void *buf, size_t i)
{
	uint16_t h;

	switch (t) {
	case NB_DTYPE_F32:
		return (long double)((const float *)buf)[i];
	case NB_DTYPE_F64:
		return (long double)((const double *)buf)[i];
	case NB_DTYPE_F16:
		memcpy(&h, (const unsigned char *)buf + 2 * i, sizeof(h));
		return nb_ref_decode16(h, 5, 10);
	case NB_DTYPE_BF16:
		memcpy(&h, (const unsigned char *)buf + 2 * i, sizeof(h));
		return nb_ref_decode16(h, 8, 7);
	case NB_DTYPE_COUNT:
		break;
	}
	return (long double)NAN;
}
