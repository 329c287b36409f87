/* NEON (Advanced SIMD) 16-bit row converters (callable from any arm64 file,
 * on a CPU where nb_isa_detected() >= NB_ISA_NEON) and, for files compiled
 * with the NEON flags only, the load/store helpers the NEON kernels share. */
#ifndef NB_NEON_H
#define NB_NEON_H

#include <stddef.h>

#include "common/nb_dtype.h"

/*
 * Row converters, bit for bit equal to the scalar converters of
 * common/nb_dtype.h for every input (tests/test_convert_isa.c): round to
 * nearest even, subnormals kept, infinities kept, NaN -> NaN with the quiet
 * bit set (to 16 bits) or the payload kept (to f32). src and dst need not
 * be aligned and must not overlap; n may be 0.
 */
void nb_neon_bf16_to_f32(const struct nb_bf16 *src, float *dst, size_t n);
void nb_neon_f32_to_bf16(const float *src, struct nb_bf16 *dst, size_t n);
void nb_neon_f16_to_f32(const struct nb_f16 *src, float *dst, size_t n);
void nb_neon_f32_to_f16(const float *src, struct nb_f16 *dst, size_t n);

#if defined(__aarch64__) && defined(__ARM_NEON)
#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#define NB_NEON_INLINE static inline __attribute__((always_inline))

/* 4 f32 lanes per vector */
#define NB_NEON_LANES ((size_t)4)

/*
 * f32 -> bf16 on 4 lanes by integer round-to-nearest-even, exactly as
 * nb_f32_to_bf16: add 0x7fff plus the lowest kept bit, keep the top half; a
 * NaN keeps its top half and gets the quiet bit. (armv8.0 has no bf16
 * conversion; BFCVTN of FEAT_BF16 is not used, so HWCAP2_BF16 is not needed.)
 */
NB_NEON_INLINE uint16x4_t nb_neon_ps_to_bf16(float32x4_t v)
{
	uint32x4_t u = vreinterpretq_u32_f32(v);
	uint32x4_t hi = vshrq_n_u32(u, 16);
	uint32x4_t bias = vaddq_u32(vandq_u32(hi, vdupq_n_u32(1)), vdupq_n_u32(0x7fff));
	uint32x4_t r = vshrq_n_u32(vaddq_u32(u, bias), 16);
	uint32x4_t num = vceqq_f32(v, v);

	r = vbslq_u32(num, r, vorrq_u32(hi, vdupq_n_u32(0x40)));
	return vmovn_u32(r);
}

/* bf16 -> f32: the bf16 bits are the top half of the f32 */
NB_NEON_INLINE float32x4_t nb_neon_bf16_to_ps(uint16x4_t h)
{
	return vreinterpretq_f32_u32(vshll_n_u16(h, 16));
}

/* f32 -> f16 by FCVTN under Linux's FPCR (round to nearest even, no flush
 * to zero, DN off): equal to nb_f32_to_f16, NaNs included (quiet bit set,
 * top payload bits kept). */
NB_NEON_INLINE uint16x4_t nb_neon_ps_to_f16(float32x4_t v)
{
	return vreinterpret_u16_f16(vcvt_f16_f32(v));
}

/* f16 -> f32 by FCVTL: exact, but a signalling NaN comes out quiet
 * (harmless inside the kernels, where a row with a NaN goes to the
 * portable kernel; the exported converter fixes it up). */
NB_NEON_INLINE float32x4_t nb_neon_f16_to_ps(uint16x4_t h)
{
	return vcvt_f32_f16(vreinterpret_f16_u16(h));
}

NB_NEON_INLINE size_t nb_neon_elem_size(enum nb_dtype t)
{
	return t == NB_DTYPE_F32 ? sizeof(float) : sizeof(uint16_t);
}

/* Elements j..j+3 of a row of dtype t (a compile-time constant after
 * inlining: F32, BF16 or F16) as 4 f32 lanes. */
NB_NEON_INLINE float32x4_t nb_neon_load(enum nb_dtype t, const void *base, size_t j)
{
	switch (t) {
	case NB_DTYPE_BF16:
		return nb_neon_bf16_to_ps(vld1_u16((const uint16_t *)base + j));
	case NB_DTYPE_F16:
		return nb_neon_f16_to_ps(vld1_u16((const uint16_t *)base + j));
	default:
		return vld1q_f32((const float *)base + j);
	}
}

/* As nb_neon_load for the rem (1..3) elements j..j+rem-1; the other lanes
 * are +0 and memory past the row is not touched. */
NB_NEON_INLINE float32x4_t nb_neon_load_tail(enum nb_dtype t, const void *base, size_t j,
					     size_t rem)
{
	size_t es = nb_neon_elem_size(t);
	uint32_t buf[4] = { 0, 0, 0, 0 };

	memcpy(buf, (const char *)base + j * es, rem * es);
	return nb_neon_load(t, buf, 0);
}

/* Stores 4 lanes at element j of a row of dtype t, rounding to nearest
 * even for the 16-bit types (ordinary stores: see neon_fwd.c). */
NB_NEON_INLINE void nb_neon_store(enum nb_dtype t, void *base, size_t j, float32x4_t v)
{
	switch (t) {
	case NB_DTYPE_BF16:
		vst1_u16((uint16_t *)base + j, nb_neon_ps_to_bf16(v));
		break;
	case NB_DTYPE_F16:
		vst1_u16((uint16_t *)base + j, nb_neon_ps_to_f16(v));
		break;
	default:
		vst1q_f32((float *)base + j, v);
		break;
	}
}

/* As nb_neon_store for the rem (1..3) elements j..j+rem-1 only. */
NB_NEON_INLINE void nb_neon_store_tail(enum nb_dtype t, void *base, size_t j,
				       float32x4_t v, size_t rem)
{
	size_t es = nb_neon_elem_size(t);
	uint32_t buf[4];

	nb_neon_store(t, buf, 0, v);
	memcpy((char *)base + j * es, buf, rem * es);
}

/* Sum of the 4 lanes in a fixed order: (l0 + l1) + (l2 + l3). */
NB_NEON_INLINE float nb_neon_hsum(float32x4_t v)
{
	float32x2_t p = vpadd_f32(vget_low_f32(v), vget_high_f32(v));

	return vget_lane_f32(p, 0) + vget_lane_f32(p, 1);
}

#endif /* NEON */

#endif
