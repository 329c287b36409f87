/* The accumulation type of the portable kernels' templates, and the row
 * helpers they share: forward_tmpl.h and backward_tmpl.h include this file
 * first, once per instantiation. NB_ACC_F64 0 gives float (f32, f16 and bf16
 * storage), 1 double (f64 and the f32acc64 entries). Not a public header. */
#undef NB_T
#undef NB_FN
#undef NB_LIT
#undef NB_LD
#undef NB_ST
#undef NB_LANE_SUM
#undef NB_SQRT
#undef NB_FABS
#undef NB_T_MAX
#undef NB_T_TINY
#undef NB_T_DTYPE

#if NB_ACC_F64
#define NB_T double
#define NB_FN(name) nb_##name##_d
#define NB_LIT(x) x
#define NB_LD nb_ldd
#define NB_ST nb_std
#define NB_LANE_SUM nb_lanes_d
#define NB_SQRT sqrt
#define NB_FABS fabs
#define NB_T_MAX DBL_MAX
#define NB_T_TINY NB_TINY_F64
#define NB_T_DTYPE NB_DTYPE_F64
#else
#define NB_T float
#define NB_FN(name) nb_##name##_f
#define NB_LIT(x) x##f
#define NB_LD nb_ldf
#define NB_ST nb_stf
#define NB_LANE_SUM nb_lanes_f
#define NB_SQRT sqrtf
#define NB_FABS fabsf
#define NB_T_MAX FLT_MAX
#define NB_T_TINY NB_TINY_F32
#define NB_T_DTYPE NB_DTYPE_F32
#endif

/* The sum of a row's n elements in the fixed lane tree (LayerNorm's mean). */
NB_PORTABLE_INLINE NB_T NB_FN(row_sum)(enum nb_dtype t, const void *x, size_t n)
{
	NB_T a[NB_LANES] = { 0 };
	size_t j = 0;

	for (; j + NB_LANES <= n; j += NB_LANES)
		for (size_t l = 0; l < NB_LANES; l++)
			a[l] += NB_LD(t, x, j + l);
	for (size_t l = 0; j + l < n; l++)
		a[l] += NB_LD(t, x, j + l);
	return NB_LANE_SUM(a);
}
