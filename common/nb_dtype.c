/* The dtype traits table and element accessors for code outside the timed
 * kernels (generators, reports, tests). */
#include "common/nb_dtype.h"

#include <float.h>
#include <string.h>

const struct nb_dtype_traits nb_dtype_traits[NB_DTYPE_COUNT] = {
	[NB_DTYPE_F32] = {
		.name = "f32", .size = 4, .mantissa_bits = 24,
		.unit_roundoff = 0x1p-24, .max_finite = FLT_MAX,
		.min_normal = FLT_MIN,
	},
	[NB_DTYPE_F64] = {
		.name = "f64", .size = 8, .mantissa_bits = 53,
		.unit_roundoff = 0x1p-53, .max_finite = DBL_MAX,
		.min_normal = DBL_MIN,
	},
	[NB_DTYPE_F16] = {
		.name = "f16", .size = 2, .mantissa_bits = 11,
		.unit_roundoff = 0x1p-11, .max_finite = 65504.0,
		.min_normal = 0x1p-14,
	},
	[NB_DTYPE_BF16] = {
		.name = "bf16", .size = 2, .mantissa_bits = 8,
		.unit_roundoff = 0x1p-8, .max_finite = 0x1.fep127,
		.min_normal = 0x1p-126,
	},
};

enum nb_dtype nb_dtype_from_name(const char *name)
{
	for (int t = 0; t < NB_DTYPE_COUNT; t++)
		if (name && strcmp(name, nb_dtype_traits[t].name) == 0)
			return (enum nb_dtype)t;
	return NB_DTYPE_COUNT;
}

double nb_dtype_load(enum nb_dtype t, const void *buf, size_t i)
{
	switch (t) {
	case NB_DTYPE_F32: return (double)((const float *)buf)[i];
	case NB_DTYPE_F64: return ((const double *)buf)[i];
	case NB_DTYPE_F16: return (double)nb_f16_to_f32(((const struct nb_f16 *)buf)[i]);
	case NB_DTYPE_BF16: return (double)nb_bf16_to_f32(((const struct nb_bf16 *)buf)[i]);
	case NB_DTYPE_COUNT: break;
	}
	return 0.0;
}

void nb_dtype_store(enum nb_dtype t, void *buf, size_t i, double v)
{
	switch (t) {
	case NB_DTYPE_F32: ((float *)buf)[i] = (float)v; break;
	case NB_DTYPE_F64: ((double *)buf)[i] = v; break;
	case NB_DTYPE_F16: ((struct nb_f16 *)buf)[i] = nb_f32_to_f16((float)v); break;
	case NB_DTYPE_BF16: ((struct nb_bf16 *)buf)[i] = nb_f32_to_bf16((float)v); break;
	case NB_DTYPE_COUNT: break;
	}
}
