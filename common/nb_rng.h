/* A small seeded generator (xoshiro256**, seeded by splitmix64) shared by
 * tests, bench and verify so a seed names the same data everywhere. */
#ifndef NB_RNG_H
#define NB_RNG_H

#include <stdint.h>

struct nb_rng { uint64_t s[4]; };

void nb_rng_seed(struct nb_rng *rng, uint64_t seed);
uint64_t nb_rng_next(struct nb_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double nb_rng_uniform(struct nb_rng *rng);
/* Standard normal (Box-Muller on two uniforms). */
double nb_rng_normal(struct nb_rng *rng);
/* Uniform integer in [0, bound), bound > 0. */
uint64_t nb_rng_below(struct nb_rng *rng, uint64_t bound);

#endif
