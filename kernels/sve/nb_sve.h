/* SVE 16-bit row converters (callable from any arm64 file, on a CPU where
 * nb_isa_detected() >= NB_ISA_SVE) and, for files compiled with the SVE
 * flags only, the vector-length agnostic load/store helpers the SVE kernels
 * share (kernels/sve/). */
#ifndef NB_SVE_H
#define NB_SVE_H

#include <stddef.h>

#include "common/nb_dtype.h"

/* As the NEON converters of kernels/neon/nb_neon.h (same contract: bit for
 * bit the scalar converters), through the SVE kernels' load/store helpers. */
void nb_sve_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n);
void nb_sve_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n);
void nb_sve_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n);
void nb_sve_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n);

#if defined(__aarch64__) && defined(__ARM_FEATURE_SVE)
#include <arm_sve.h>
#include <stdint.h>

#define NB_SVE_INLINE static inline __attribute__((always_inline))

NB_SVE_INLINE size_t nb_sve_elem_size(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

/*
 * Elements j.. of a row of dtype t (a compile-time constant after inlining:
 * F32, BF16 or F16) in the f32 lanes that pg holds; the other lanes are +0
 * and their memory is not touched. 16-bit elements are loaded zero-extended
 * into 32-bit containers: bf16 is then the top half of the f32; f16 goes
 * through FCVT (exact; a signalling NaN comes out quiet, harmless: a row
 * with a NaN goes to the portable kernel).
 */
NB_SVE_INLINE svfloat32_t nb_sve_load(enum nb_dtype t, svbool_t pg, const void *base,
				      size_t j)
{
	switch (t) {
	case NB_DTYPE_BF16:
		return svreinterpret_f32_u32(
			svlsl_n_u32_x(pg, svld1uh_u32(pg, (const uint16_t *)base + j), 16));
	case NB_DTYPE_F16:
		return svcvt_f32_f16_z(pg, svreinterpret_f16_u32(
					       svld1uh_u32(pg, (const uint16_t *)base + j)));
	default:
		return svld1_f32(pg, (const float *)base + j);
	}
}

/*
 * Stores the lanes of v that pg holds at element j of a row of dtype t.
 * f32 -> bf16 by integer round-to-nearest-even, exactly as nb_f32_to_bf16
 * (add 0x7fff plus the lowest kept bit, keep the top half; a NaN keeps its
 * top half and gets the quiet bit); f32 -> f16 by FCVT under Linux's FPCR
 * (round to nearest even, no flush, DN off), equal to nb_f32_to_f16, NaNs
 * included. The low half of each 32-bit container is stored (ST1H).
 */
NB_SVE_INLINE void nb_sve_store(enum nb_dtype t, svbool_t pg, void *base, size_t j,
				svfloat32_t v)
{
	switch (t) {
	case NB_DTYPE_BF16: {
		svuint32_t u = svreinterpret_u32_f32(v);
		svuint32_t hi = svlsr_n_u32_x(pg, u, 16);
		svuint32_t bias = svadd_n_u32_x(pg, svand_n_u32_x(pg, hi, 1), 0x7fff);
		svuint32_t r = svlsr_n_u32_x(pg, svadd_u32_x(pg, u, bias), 16);
		svbool_t nan = svcmpuo_f32(pg, v, v);

		r = svsel_u32(nan, svorr_n_u32_x(pg, hi, 0x40), r);
		svst1h_u32(pg, (uint16_t *)base + j, r);
		break;
	}
	case NB_DTYPE_F16:
		svst1h_u32(pg, (uint16_t *)base + j,
			   svreinterpret_u32_f16(svcvt_f16_f32_x(pg, v)));
		break;
	default:
		svst1_f32(pg, (float *)base + j, v);
		break;
	}
}

/* The sum of four accumulators in a fixed order: (a0 + a1) + (a2 + a3), then
 * the lanes by FADDV (a fixed tree for a given vector length). */
NB_SVE_INLINE float nb_sve_reduce4(svfloat32_t a0, svfloat32_t a1, svfloat32_t a2,
				   svfloat32_t a3)
{
	svbool_t all = svptrue_b32();

	return svaddv_f32(all, svadd_f32_x(all, svadd_f32_x(all, a0, a1),
					   svadd_f32_x(all, a2, a3)));
}

#endif /* SVE */

#endif
