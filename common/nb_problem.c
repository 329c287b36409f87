/* Problem validation: the one place user-reachable mistakes are caught before
 * any kernel runs. */
#include "common/nb_problem.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

const char *nb_direction_name(enum nb_direction dir)
{
	return dir == NB_DIR_FORWARD ? "fwd" : dir == NB_DIR_BACKWARD ? "bwd" : "?";
}

enum nb_dtype nb_grad_dtype(enum nb_dtype t, enum nb_dtype acc)
{
	return (t == NB_DTYPE_F64 || acc == NB_DTYPE_F64) ? NB_DTYPE_F64 : NB_DTYPE_F32;
}

struct nb_problem nb_problem_init(enum nb_variant variant, enum nb_dtype dtype,
				  size_t rows, size_t d)
{
	struct nb_problem p;

	memset(&p, 0, sizeof(p));
	p.variant = variant;
	p.dtype = dtype;
	p.rows = rows;
	p.d = d;
	p.conv = NB_CONVENTIONS_DEFAULT;
	return p;
}

size_t nb_prms_k(size_t d, double p, enum nb_prms_round round)
{
	/* p*d in double is exact enough: d < 2^40 and p has 53 bits, so the
	 * product is off by at most half an ulp; a product within 1e-9 of an
	 * integer is that integer (0.0625*4096 must give exactly 256). */
	double pd = p * (double)d;
	double nearest = nearbyint(pd);
	size_t k;

	if (fabs(pd - nearest) <= 1e-9 * (pd > 1.0 ? pd : 1.0))
		k = (size_t)nearest;
	else
		k = (size_t)(round == NB_PRMS_CEIL ? ceil(pd) : floor(pd));
	if (k < 1)
		k = 1;
	if (k > d)
		k = d;
	return k;
}

/* Largest row count x width we accept: 2^34 elements (64 GiB of f32), far
 * beyond any sweep and small enough that byte counts never overflow. */
#define NB_MAX_ELEMENTS ((size_t)1 << 34)

enum nb_status nb_problem_check(struct nb_problem *p, int dir)
{
	if (!p)
		return nb_fail(NB_ERR_INVALID, "no problem given");
	if ((unsigned)p->variant >= NB_VARIANT_COUNT)
		return nb_fail(NB_ERR_INVALID, "unknown variant %d", (int)p->variant);
	if ((unsigned)p->dtype >= NB_DTYPE_COUNT)
		return nb_fail(NB_ERR_INVALID, "unknown dtype %d", (int)p->dtype);
	if (dir != NB_DIR_FORWARD && dir != NB_DIR_BACKWARD)
		return nb_fail(NB_ERR_INVALID, "unknown direction %d", dir);
	if (p->rows == 0)
		return nb_fail(NB_ERR_INVALID, "rows must be at least 1");
	if (p->d == 0)
		return nb_fail(NB_ERR_INVALID, "d must be at least 1");
	if (p->d < nb_variant_min_d(p->variant))
		return nb_fail(NB_ERR_INVALID,
			       "%s needs d >= %zu (it stores d-%zu elements per row)",
			       nb_variant_traits[p->variant].title, nb_variant_min_d(p->variant),
			       nb_variant_traits[p->variant].stored_less);
	if (p->d > NB_MAX_ELEMENTS || p->rows > NB_MAX_ELEMENTS / p->d)
		return nb_fail(NB_ERR_INVALID, "problem too large: %zu rows x %zu",
			       p->rows, p->d);
	if (!(p->conv.eps >= 0.0) || !isfinite(p->conv.eps))
		return nb_fail(NB_ERR_INVALID, "eps must be finite and >= 0 (got %g)",
			       p->conv.eps);
	if (p->conv.eps_mode != NB_EPS_INSIDE && p->conv.eps_mode != NB_EPS_OUTSIDE)
		return nb_fail(NB_ERR_INVALID, "unknown eps convention");
	if (p->variant == NB_VARIANT_PRMSNORM) {
		if (!(p->conv.prms_p > 0.0 && p->conv.prms_p <= 1.0))
			return nb_fail(NB_ERR_INVALID,
				       "pRMSNorm p must lie in (0, 1] (got %g)",
				       p->conv.prms_p);
		if (p->conv.prms_round != NB_PRMS_CEIL &&
		    p->conv.prms_round != NB_PRMS_FLOOR)
			return nb_fail(NB_ERR_INVALID, "unknown pRMSNorm rounding rule");
	}
	if (p->threads < 0)
		return nb_fail(NB_ERR_INVALID, "threads must be >= 0 (0: default)");

	p->n = nb_variant_stored(p->variant, p->d);
	p->k = p->variant == NB_VARIANT_PRMSNORM
		? nb_prms_k(p->d, p->conv.prms_p, p->conv.prms_round) : p->n;

	if (!p->x || !p->gain)
		return nb_fail(NB_ERR_INVALID, "x and gain must not be NULL");
	if (p->variant == NB_VARIANT_FLASHNORM) {
		if (dir != NB_DIR_FORWARD)
			return nb_fail(NB_ERR_UNSUPPORTED, "FlashNorm has no backward kernel");
		if (p->m == 0)
			return nb_fail(NB_ERR_INVALID, "FlashNorm needs m >= 1 outputs");
		if (p->m > NB_MAX_ELEMENTS / p->n || p->rows > NB_MAX_ELEMENTS / p->m)
			return nb_fail(NB_ERR_INVALID, "FlashNorm problem too large");
		if (!p->z || (!p->w && !p->w_folded))
			return nb_fail(NB_ERR_INVALID, "FlashNorm needs z and W or W*");
		return NB_OK;
	}
	if (dir == NB_DIR_FORWARD && !p->y)
		return nb_fail(NB_ERR_INVALID, "y must not be NULL");
	if (dir == NB_DIR_BACKWARD && (!p->dy || !p->dx || !p->dgain))
		return nb_fail(NB_ERR_INVALID, "backward needs dy, dx and dgain");
	return NB_OK;
}
