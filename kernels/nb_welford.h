/* Welford/Chan statistics in f32 for the NEON and SVE Welford LayerNorm
 * kernels (scalar code, no ISA flags needed): their lane states, once out
 * of the vector registers, are merged here in a fixed tree, and the row's
 * tail (fewer elements than the lanes) is one more state. The update runs
 * on v = x - c, c = x_0 (the mean scheme of kernels/nb_kernels.h); the
 * caller splits c + mean by nb_two_sum_f. */
#ifndef NB_WELFORD_H
#define NB_WELFORD_H

#include <stddef.h>

struct nb_wstate {
	float count, mean, m2;
};

/* Adds v: mean += (v - mean) / count, M2 += (v - mean_old)(v - mean_new),
 * the vector lanes' update. */
static inline void nb_wstate_add(struct nb_wstate *w, float v)
{
	float delta = v - w->mean;

	w->count += 1.0f;
	w->mean += delta / w->count;
	w->m2 += delta * (v - w->mean);
}

/* a = a merged with b (Chan et al.), in the portable kernel's operation
 * order: delta = mean_b - mean_a, mean = mean_a + delta (n_b / n),
 * M2 = (M2_a + M2_b) + delta^2 (n_a n_b / n). */
static inline void nb_wstate_merge(struct nb_wstate *a, const struct nb_wstate *b)
{
	float n, delta;

	if (b->count == 0.0f)
		return;
	if (a->count == 0.0f) {
		*a = *b;
		return;
	}
	n = a->count + b->count;
	delta = b->mean - a->mean;
	a->mean = a->mean + delta * (b->count / n);
	a->m2 = (a->m2 + b->m2) + delta * delta * (a->count * b->count / n);
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

#endif
