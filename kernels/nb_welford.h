/* Compensated Welford/Chan statistics in f32, shared by the NEON and SVE
 * Welford LayerNorm kernels (scalar code, no ISA flags needed): a state is
 * a count, a mean carried as mu_hi + mu_lo (TwoSum error terms), and M2 =
 * sum of squared deviations from that mean. */
#ifndef NB_WELFORD_H
#define NB_WELFORD_H

#include <stddef.h>

struct nb_wstate {
	float count, mu_hi, mu_lo, m2;
};

/* s + e = a + b exactly (Knuth's TwoSum, no ordering assumption). */
static inline float nb_two_sum(float a, float b, float *e)
{
	float s = a + b;
	float bb = s - a;

	*e = (a - (s - bb)) + (b - bb);
	return s;
}

/*
 * Adds x: d = (x - mu_hi) - mu_lo is x's deviation from the compensated
 * mean (x - mu_hi is exact when x is near the mean), the mean moves by
 * d / count with its rounding error kept in mu_lo, and M2 grows by d times
 * the deviation from the new mean. The mean is then good to far below half
 * an ulp of mu_hi, which is what rows with |mean| / std up to 1e6 need.
 */
static inline void nb_wstate_add(struct nb_wstate *w, float x)
{
	float d = (x - w->mu_hi) - w->mu_lo, e;

	w->count += 1.0f;
	w->mu_hi = nb_two_sum(w->mu_hi, d / w->count, &e);
	w->mu_lo += e;
	w->m2 += d * ((x - w->mu_hi) - w->mu_lo);
}

/* a = a merged with b (Chan et al.): delta = mean_b - mean_a, mean_a +=
 * delta nb / n, M2 = M2_a + M2_b + delta^2 na nb / n. */
static inline void nb_wstate_merge(struct nb_wstate *a, const struct nb_wstate *b)
{
	float n, delta, e;

	if (b->count == 0.0f)
		return;
	if (a->count == 0.0f) {
		*a = *b;
		return;
	}
	n = a->count + b->count;
	delta = (b->mu_hi - a->mu_hi) + (b->mu_lo - a->mu_lo);
	a->m2 = (a->m2 + b->m2) + ((delta * delta) * (a->count / n)) * b->count;
	a->mu_hi = nb_two_sum(a->mu_hi, delta * (b->count / n), &e);
	a->mu_lo += e;
	a->count = n;
}

/* Merges states w[0, count) (a power of two) pairwise, in a fixed tree:
 * (0,1) (2,3) ... then (0,2) ..., into w[0]. */
static inline void nb_wstate_tree(struct nb_wstate *w, size_t count)
{
	for (size_t step = 1; step < count; step *= 2)
		for (size_t i = 0; i + step < count; i += 2 * step)
			nb_wstate_merge(&w[i], &w[i + step]);
}

/* mu_hi + mu_lo renormalised so that mu_lo is below half an ulp of mu_hi. */
static inline void nb_wstate_normalize(struct nb_wstate *w)
{
	float e;

	w->mu_hi = nb_two_sum(w->mu_hi, w->mu_lo, &e);
	w->mu_lo = e;
}

#endif
