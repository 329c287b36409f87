/* Seeded generators for test and demo data (see nb_data.h). */
#include "verify/nb_data.h"

#include <stdint.h>

static const char *const nb_data_kind_names[NB_DATA_COUNT] = {
	[NB_DATA_GAUSSIAN] = "gaussian",
	[NB_DATA_OUTLIER] = "outlier",
};

const char *nb_data_kind_name(enum nb_data_kind kind)
{
	return (unsigned)kind < NB_DATA_COUNT ? nb_data_kind_names[kind] : "?";
}

void nb_data_normal(struct nb_rng *rng, enum nb_dtype t, void *buf, size_t count,
		    double mean, double sd)
{
	for (size_t i = 0; i < count; i++) {
		double v = mean + sd * nb_rng_normal(rng);

		/* the 16-bit stores round via f32: make that the one rounding */
		if (t == NB_DTYPE_F16 || t == NB_DTYPE_BF16)
			v = (double)(float)v;
		nb_dtype_store(t, buf, i, v);
	}
}

void nb_data_rows(struct nb_rng *rng, enum nb_data_kind kind, enum nb_dtype t,
		  void *buf, size_t rows, size_t n)
{
	size_t size = nb_dtype_traits[t].size;
	size_t channels = 1 + n / 512;
	size_t chan[16];
	double scale[16];

	if (kind != NB_DATA_OUTLIER) {
		nb_data_normal(rng, t, buf, rows * n, 0.0, 1.0);
		return;
	}
	if (channels > 16)
		channels = 16;
	for (size_t c = 0; c < channels; c++) {
		chan[c] = (size_t)nb_rng_below(rng, n);
		scale[c] = 100.0 + 900.0 * nb_rng_uniform(rng);
	}
	for (size_t r = 0; r < rows; r++) {
		char *row = (char *)buf + r * n * size;
		double shift = 0.0;

		if (r % 2 == 1) {
			shift = 100.0 + 900.0 * nb_rng_uniform(rng);
			if (nb_rng_next(rng) & 1)
				shift = -shift;
		}
		for (size_t i = 0; i < n; i++) {
			double v = nb_rng_normal(rng);

			for (size_t c = 0; c < channels; c++)
				if (chan[c] == i)
					v *= scale[c];
			v += shift;
			if (t == NB_DTYPE_F16 || t == NB_DTYPE_BF16)
				v = (double)(float)v;
			nb_dtype_store(t, row, i, v);
		}
	}
}
