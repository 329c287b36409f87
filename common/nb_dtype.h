/* Storage dtypes: f32, f64 and the 16-bit formats f16 and bf16, kept as opaque
 * 16-bit structs with explicit round-to-nearest-even converters. */
#ifndef NB_DTYPE_H
#define NB_DTYPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum nb_dtype {
	NB_DTYPE_F32,
	NB_DTYPE_F64,
	NB_DTYPE_F16,
	NB_DTYPE_BF16,
	NB_DTYPE_COUNT
};

struct nb_f16 { uint16_t bits; };   /* IEEE 754 binary16 */
struct nb_bf16 { uint16_t bits; };  /* bfloat16: the top half of a binary32 */

struct nb_dtype_traits {
	const char *name;        /* "f32", "f64", "f16", "bf16" */
	size_t size;             /* bytes per element */
	int mantissa_bits;       /* precision p including the implicit bit */
	double unit_roundoff;    /* u = 2^-p: round-to-nearest relative error */
	double max_finite;
	double min_normal;
};

extern const struct nb_dtype_traits nb_dtype_traits[NB_DTYPE_COUNT];

/* NB_DTYPE_COUNT when name is not a dtype. */
enum nb_dtype nb_dtype_from_name(const char *name);

static inline uint32_t nb_f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static inline float nb_f32_from_bits(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* bf16 -> f32 is exact: the bf16 bits are the top half of the f32. */
static inline float nb_bf16_to_f32(struct nb_bf16 h)
{
	return nb_f32_from_bits((uint32_t)h.bits << 16);
}

/* f32 -> bf16, round to nearest, ties to even; subnormals are kept (not
 * flushed); a NaN stays a NaN with its sign and gets the quiet bit set;
 * values that round past the largest bf16 become infinity. */
static inline struct nb_bf16 nb_f32_to_bf16(float f)
{
	uint32_t u = nb_f32_bits(f);
	struct nb_bf16 h;

	if ((u & 0x7fffffffu) > 0x7f800000u) {
		h.bits = (uint16_t)((u >> 16) | 0x0040u);
		return h;
	}
	u += 0x7fffu + ((u >> 16) & 1u);
	h.bits = (uint16_t)(u >> 16);
	return h;
}

/* f16 -> f32 is exact (every binary16 value, subnormals included, is a
 * binary32 normal number). NaN payloads are kept. */
static inline float nb_f16_to_f32(struct nb_f16 h)
{
	uint32_t sign = (uint32_t)(h.bits & 0x8000u) << 16;
	uint32_t exp = (h.bits >> 10) & 0x1fu;
	uint32_t man = h.bits & 0x3ffu;
	uint32_t u;

	if (exp == 0x1f) {
		u = sign | 0x7f800000u | (man << 13);
	} else if (exp != 0) {
		u = sign | ((exp + 112u) << 23) | (man << 13);
	} else if (man == 0) {
		u = sign;
	} else {
		/* subnormal: value = man * 2^-24; normalise into binary32 */
		int shift = 0;
		while (!(man & 0x400u)) {
			man <<= 1;
			shift++;
		}
		u = sign | ((uint32_t)(113 - shift) << 23) | ((man & 0x3ffu) << 13);
	}
	return nb_f32_from_bits(u);
}

/* f32 -> f16, round to nearest, ties to even, with gradual underflow to f16
 * subnormals and overflow to infinity; NaN stays NaN (quiet bit set). */
static inline struct nb_f16 nb_f32_to_f16(float f)
{
	uint32_t u = nb_f32_bits(f);
	uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
	uint32_t a = u & 0x7fffffffu;
	struct nb_f16 h;

	if (a > 0x7f800000u) {                       /* NaN */
		h.bits = (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
		return h;
	}
	if (a >= 0x477ff000u) {                      /* >= 65520: rounds to inf */
		h.bits = (uint16_t)(sign | 0x7c00u);
		return h;
	}
	if (a >= 0x38800000u) {                      /* normal f16 range */
		uint32_t r = a + 0x0fffu + ((a >> 13) & 1u);
		h.bits = (uint16_t)(sign | ((r - 0x38000000u) >> 13));
		return h;
	}
	if (a < 0x33000000u) {                       /* < 2^-25: rounds to zero */
		h.bits = sign;
		return h;
	}
	{
		/* subnormal f16: value = m * 2^-24 with m = round(a * 2^24) */
		uint32_t exp = a >> 23;
		uint32_t man = (a & 0x7fffffu) | 0x800000u;
		uint32_t shift = 126u - exp;             /* 14 .. 24 */
		uint32_t m = man >> shift;
		uint32_t rem = man & ((1u << shift) - 1u);
		uint32_t half = 1u << (shift - 1u);
		if (rem > half || (rem == half && (m & 1u)))
			m++;
		h.bits = (uint16_t)(sign | m);
		return h;
	}
}

/* Element i of a buffer of dtype t, widened exactly to double. */
double nb_dtype_load(enum nb_dtype t, const void *buf, size_t i);
/* Rounds v to dtype t (via f32 for the 16-bit types: v must already be an
 * f32 value for that to be a single rounding) and stores it at element i. */
void nb_dtype_store(enum nb_dtype t, void *buf, size_t i, double v);

#endif
