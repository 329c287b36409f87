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

/*
 * The LayerNorm mean scheme (docs/verification.md, "The mean scheme"), the
 * same in every LayerNorm kernel of every ISA:
 *   pass 1   c = x_0; S0 = sum (x_j - c) (ln_sums); mu_hi = c + S0/n
 *            (the shift keeps S0's error at gamma_n sum|x_j - x_0|,
 *            independent of |mu|; mu_hi is then within u|mu| + that of mu)
 *   pass 2   t_j = x_j - mu_hi; S1 = sum t_j; S2 = sum t_j^2
 *            mu_lo = S1/n            (the residual mu - mu_hi)
 *            M2 = S2 - S1 mu_lo      (= sum (x - mu)^2 exactly in exact
 *                                     arithmetic; clamped at 0)
 *   write    (t_j - mu_lo) r   (or fma(t_j, r, -(mu_lo r)) in SIMD code)
 * Rounding mu to the working precision would otherwise put u|mu| into every
 * x_j - mu: |mu|/sigma u relative, 6e-2 at |mu|/sigma = 1e6 in f32.
 */
#ifndef NB_LN_BLOCK
/* LayerNorm's sums run in blocks of NB_LN_BLOCK elements (8 lanes, the fixed
 * lane tree), the block sums combined pairwise (ln_sums): summation depth
 * at most 32 + 3 + 2 log2(n/256) instead of n/8 + 3. Plain lanes over a 4096-element row of quantized
 * values (|mu|/sigma = 3.5e4, f32) lost 4e-6 of the sum of squares to
 * systematic rounding: 31 normwise ulps. Depends on n alone. */
#define NB_LN_BLOCK ((size_t)256)
#endif

/* One element of a LayerNorm row pass into lane accumulators a[k][l]
 * (only_sum and has_dy are constants after inlining). */
NB_PORTABLE_INLINE void NB_FN(ln_elem)(enum nb_dtype t, const unsigned char *x,
				       const unsigned char *dy, const unsigned char *g, size_t j,
				       NB_T m, bool only_sum, bool has_dy, NB_T *a)
{
	NB_T v = NB_LD(t, x, j) - m;

	a[0] += v;
	if (!only_sum)
		a[NB_LANES] += v * v;
	if (has_dy) {
		NB_T dyh = NB_LD(t, dy, j) * NB_LD(t, g, j);

		a[2 * NB_LANES] += dyh;
		a[3 * NB_LANES] += dyh * v;
	}
}

/* A block of at most NB_LN_BLOCK elements: 8 lanes, the fixed lane tree. */
NB_PORTABLE_INLINE void NB_FN(ln_block)(enum nb_dtype t, const unsigned char *x,
					const unsigned char *dy, const unsigned char *g, size_t n,
					NB_T m, bool only_sum, bool has_dy, NB_T s[4])
{
	NB_T a[4 * NB_LANES] = { 0 };
	size_t j = 0;

	for (; j + NB_LANES <= n; j += NB_LANES)
		for (size_t l = 0; l < NB_LANES; l++)
			NB_FN(ln_elem)(t, x, dy, g, j + l, m, only_sum, has_dy, a + l);
	for (size_t l = 0; j + l < n; l++)
		NB_FN(ln_elem)(t, x, dy, g, j + l, m, only_sum, has_dy, a + l);
	for (int k = 0; k < 4; k++)
		s[k] = NB_LANE_SUM(a + k * NB_LANES);
}

/* The sums of one LayerNorm row pass over elements [0, n) of x (and dy,
 * gain, backward): with t = x - m, s[0] += t, s[1] += t^2 (unless
 * only_sum), and with dy: s[2] += dyh, s[3] += dyh t, dyh = dy g. Blocks of
 * NB_LN_BLOCK elements are combined pairwise like a binary counter (block
 * sums of equal weight are added as soon as both exist; what is left is
 * added from the smallest up), so the result depends on n alone. */
NB_PORTABLE_INLINE void NB_FN(ln_sums)(enum nb_dtype t, const unsigned char *x,
				       const unsigned char *dy, const unsigned char *g, size_t n,
				       NB_T m, bool only_sum, NB_T s[4])
{
	size_t es = nb_pt_size(t);
	NB_T st[64][4];
	size_t weight[64];
	int top = 0;

	for (size_t j = 0; j < n || top == 0; j += NB_LN_BLOCK) {
		size_t len = n - j < NB_LN_BLOCK ? n - j : NB_LN_BLOCK;

		if (dy)
			NB_FN(ln_block)(t, x + j * es, dy + j * es, g + j * es, len, m, false, true,
					st[top]);
		else if (only_sum)
			NB_FN(ln_block)(t, x + j * es, NULL, NULL, len, m, true, false, st[top]);
		else
			NB_FN(ln_block)(t, x + j * es, NULL, NULL, len, m, false, false, st[top]);
		weight[top++] = 1;
		while (top >= 2 && weight[top - 1] == weight[top - 2]) {
			for (int k = 0; k < 4; k++)
				st[top - 2][k] += st[top - 1][k];
			weight[top - 2] *= 2;
			top--;
		}
		if (n == 0)
			break;
	}
	while (top >= 2) {
		for (int k = 0; k < 4; k++)
			st[top - 2][k] += st[top - 1][k];
		top--;
	}
	for (int k = 0; k < 4; k++)
		s[k] = st[0][k];
}

/* mu_hi of pass 1 (NaN or Inf when the row holds one or overflows). */
NB_PORTABLE_INLINE NB_T NB_FN(mean_hi)(enum nb_dtype t, const void *x, size_t n)
{
	NB_T c = NB_LD(t, x, 0), s[4];

	NB_FN(ln_sums)(t, x, NULL, NULL, n, c, true, s);
	return c + s[0] / (NB_T)n;
}

/* M2 = S2 - S1 mu_lo, never negative (a NaN stays NaN). */
NB_PORTABLE_INLINE NB_T NB_FN(m2_of)(NB_T s1, NB_T s2, NB_T mu_lo)
{
	NB_T m2 = s2 - s1 * mu_lo;

	return m2 < NB_LIT(0.0) ? NB_LIT(0.0) : m2;
}
