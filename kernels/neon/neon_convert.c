/* The NEON row converters of kernels/neon/nb_neon.h: 4 lanes at a time,
 * the scalar converter for the tail and for f16 NaN inputs (FCVTL quiets a
 * signalling NaN; the scalar converter keeps its payload as it is). */
#if !defined(__aarch64__) || !defined(__ARM_NEON)
#error "kernels/neon must be compiled for arm64 with the NEON flags of the Makefile (NEON_FLAGS)"
#endif

#include "kernels/neon/nb_neon.h"

void nb_neon_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_NEON_LANES <= n; j += NB_NEON_LANES)
		vst1q_f32(dst + j, nb_neon_bf16_to_ps(vld1_u16((const uint16_t *)(src + j))));
	for (; j < n; j++)
		dst[j] = nb_bf16_to_f32(src[j]);
}

void nb_neon_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_NEON_LANES <= n; j += NB_NEON_LANES)
		vst1_u16((uint16_t *)(dst + j), nb_neon_ps_to_bf16(vld1q_f32(src + j)));
	for (; j < n; j++)
		dst[j] = nb_f32_to_bf16(src[j]);
}

void nb_neon_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_NEON_LANES <= n; j += NB_NEON_LANES) {
		uint16x4_t h = vld1_u16((const uint16_t *)(src + j));
		/* exponent all ones and mantissa non-zero: a NaN */
		uint16x4_t nan = vcgt_u16(vand_u16(h, vdup_n_u16(0x7fff)), vdup_n_u16(0x7c00));

		if (vmaxv_u16(nan) != 0) {
			for (size_t l = 0; l < NB_NEON_LANES; l++)
				dst[j + l] = nb_f16_to_f32(src[j + l]);
			continue;
		}
		vst1q_f32(dst + j, nb_neon_f16_to_ps(h));
	}
	for (; j < n; j++)
		dst[j] = nb_f16_to_f32(src[j]);
}

void nb_neon_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n)
{
	size_t j = 0;

	for (; j + NB_NEON_LANES <= n; j += NB_NEON_LANES)
		vst1_u16((uint16_t *)(dst + j), nb_neon_ps_to_f16(vld1q_f32(src + j)));
	for (; j < n; j++)
		dst[j] = nb_f32_to_f16(src[j]);
}
