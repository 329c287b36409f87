/* xoshiro256** (Blackman & Vigna) with splitmix64 seeding. */
#include "common/nb_rng.h"

#include <math.h>

static uint64_t nb_splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t nb_rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void nb_rng_seed(struct nb_rng *rng, uint64_t seed)
{
	uint64_t st = seed;

	for (int i = 0; i < 4; i++)
		rng->s[i] = nb_splitmix64(&st);
}

uint64_t nb_rng_next(struct nb_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = nb_rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = nb_rotl(s[3], 45);
	return result;
}

double nb_rng_uniform(struct nb_rng *rng)
{
	return (double)(nb_rng_next(rng) >> 11) * 0x1p-53;
}

double nb_rng_normal(struct nb_rng *rng)
{
	double u1 = nb_rng_uniform(rng);
	double u2 = nb_rng_uniform(rng);

	/* 1 - u1 lies in (0, 1], so the log is finite */
	return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
}

uint64_t nb_rng_below(struct nb_rng *rng, uint64_t bound)
{
	/* rejection keeps it unbiased */
	uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
	uint64_t v;

	do
		v = nb_rng_next(rng);
	while (v >= limit);
	return v % bound;
}
