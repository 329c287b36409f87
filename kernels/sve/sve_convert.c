/* The SVE row converters (declared in kernels/sve/nb_sve.h): the kernels'
 * own load/store helpers over a row, so tests/test_convert_isa.c checks the
 * SVE kernels' 16-bit rounding bit for bit against the scalar converters at
 * the vector length it runs on. f16 -> f32 takes the scalar converter for a
 * vector holding a NaN (FCVT quiets a signalling NaN; the scalar converter
 * keeps its payload as it is). */
#if !defined(__aarch64__) || !defined(__ARM_FEATURE_SVE)
#error "kernels/sve must be compiled for arm64 with the SVE flags of the Makefile (SVE_FLAGS)"
#endif

#include "kernels/sve/nb_sve.h"

void nb_sve_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n)
{
	for (size_t j = 0; j < n; j += svcntw()) {
		svbool_t pg = svwhilelt_b32_u64(j, n);

		svst1_f32(pg, dst + j, nb_sve_load(NB_DTYPE_BF16, pg, src, j));
	}
}

void nb_sve_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n)
{
	for (size_t j = 0; j < n; j += svcntw()) {
		svbool_t pg = svwhilelt_b32_u64(j, n);

		nb_sve_store(NB_DTYPE_BF16, pg, dst, j, svld1_f32(pg, src + j));
	}
}

void nb_sve_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n)
{
	for (size_t j = 0; j < n; j += svcntw()) {
		svbool_t pg = svwhilelt_b32_u64(j, n);
		svuint32_t h = svld1uh_u32(pg, (const uint16_t *)src + j);
		/* exponent all ones and mantissa non-zero: a NaN */
		svbool_t nan = svcmpgt_n_u32(pg, svand_n_u32_x(pg, h, 0x7fff), 0x7c00);

		if (svptest_any(pg, nan)) {
			for (size_t k = j; k < n && k < j + svcntw(); k++)
				dst[k] = nb_f16_to_f32(src[k]);
			continue;
		}
		svst1_f32(pg, dst + j, nb_sve_load(NB_DTYPE_F16, pg, src, j));
	}
}

void nb_sve_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n)
{
	for (size_t j = 0; j < n; j += svcntw()) {
		svbool_t pg = svwhilelt_b32_u64(j, n);

		nb_sve_store(NB_DTYPE_F16, pg, dst, j, svld1_f32(pg, src + j));
	}
}
