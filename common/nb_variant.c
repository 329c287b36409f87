/* The variant traits table (common/nb_variants.def) and its lookups. */
#include "common/nb_variant.h"

#include <string.h>

#define NB_FLOPS(n, k, row, nm, m) { n, k, row, nm, m }

const struct nb_variant_traits nb_variant_traits[NB_VARIANT_COUNT] = {
#define NB_MODEL_VARIANT(ID, name, title, less, bias, linear, fwd, bwd) \
	[NB_VARIANT_##ID] = { name, title, less, bias, linear, fwd, bwd },
#define NB_KERNEL_VARIANT NB_MODEL_VARIANT
#include "common/nb_variants.def"
#undef NB_MODEL_VARIANT
#undef NB_KERNEL_VARIANT
};

static const enum nb_variant nb_norm_variants[NB_NORM_COUNT] = {
#define NB_MODEL_VARIANT(ID, ...) [NB_NORM_##ID] = NB_VARIANT_##ID,
#define NB_KERNEL_VARIANT(ID, ...)
#include "common/nb_variants.def"
#undef NB_MODEL_VARIANT
#undef NB_KERNEL_VARIANT
	[NB_NORM_NONE] = NB_VARIANT_COUNT,
};

size_t nb_variant_stored(enum nb_variant v, size_t d)
{
	size_t less = (unsigned)v < NB_VARIANT_COUNT ? nb_variant_traits[v].stored_less : 0;

	return d > less ? d - less : 0;
}

size_t nb_variant_min_d(enum nb_variant v)
{
	return ((unsigned)v < NB_VARIANT_COUNT ? nb_variant_traits[v].stored_less : 0) + 1;
}

enum nb_variant nb_norm_variant(enum nb_norm_kind k)
{
	return (unsigned)k < NB_NORM_COUNT ? nb_norm_variants[k] : NB_VARIANT_COUNT;
}

size_t nb_norm_stored(enum nb_norm_kind k, size_t d)
{
	enum nb_variant v = nb_norm_variant(k);

	return v == NB_VARIANT_COUNT ? d : nb_variant_stored(v, d);
}

const char *nb_variant_name(enum nb_variant v)
{
	return (unsigned)v < NB_VARIANT_COUNT ? nb_variant_traits[v].name : "?";
}

enum nb_variant nb_variant_from_name(const char *name)
{
	for (int v = 0; v < NB_VARIANT_COUNT; v++)
		if (name && strcmp(name, nb_variant_traits[v].name) == 0)
			return (enum nb_variant)v;
	return NB_VARIANT_COUNT;
}
