/* Seeded test data shared by the tests, `normbench demo` and `normbench
 * verify`: Gaussian rows in any dtype, and outlier-heavy rows (a few channels
 * scaled 100-1000x, rows with a large mean and a small spread). */
#ifndef NB_DATA_H
#define NB_DATA_H

#include <stddef.h>

#include "common/nb_dtype.h"
#include "common/nb_rng.h"

enum nb_data_kind {
	NB_DATA_GAUSSIAN,   /* every element N(0, 1) */
	NB_DATA_OUTLIER,    /* N(0, 1), a few channels scaled 100-1000x, and
			     * every other row shifted by a mean of 100-1000 */
	NB_DATA_COUNT
};

const char *nb_data_kind_name(enum nb_data_kind kind);

/* count values N(mean, sd), each rounded once into dtype t (the 16-bit types
 * via f32), at element offsets 0..count-1 of buf. */
void nb_data_normal(struct nb_rng *rng, enum nb_dtype t, void *buf, size_t count,
		    double mean, double sd);

/* rows x n values of the given kind into buf (dtype t, row-major). The
 * outlier channels are the same for every row of one call (LLM activations
 * have outliers in fixed channels): 1 + n/512 of them, each scaled by a
 * factor drawn uniformly from [100, 1000]. Odd rows get a mean of +-(100 to
 * 1000) added after the scaling, so their spread stays small against their
 * mean. Values stay below 5e3 in magnitude up to ~4 sigma (finite in f16). */
void nb_data_rows(struct nb_rng *rng, enum nb_data_kind kind, enum nb_dtype t,
		  void *buf, size_t rows, size_t n);

#endif
