/* Judging a kernel against the long-double reference: per-element error
 * bounds DERIVED from the storage and accumulation unit roundoffs, the
 * summation scheme and each row's own condition, and a report that says how
 * bad the worst element is and where it sits. */
#ifndef NB_ACCURACY_H
#define NB_ACCURACY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "common/nb_problem.h"
#include "kernels/nb_kernels.h"

/* The arrays a kernel writes, each judged on its own. */
enum nb_output {
	NB_OUT_Y,      /* forward, rows x n, problem dtype */
	NB_OUT_DX,     /* backward, rows x n, problem dtype */
	NB_OUT_DGAIN,  /* backward, n, nb_grad_dtype(dtype, acc) */
	NB_OUT_DBIAS,  /* backward, n, nb_grad_dtype(dtype, acc); only if p->dbias */
	NB_OUT_Z,      /* FlashNorm, rows x m, problem dtype */
	NB_OUT_COUNT
};

const char *nb_output_name(enum nb_output out);

/*
 * The slack factor of every bound: bound = SLACK * (kernel bound + reference
 * bound) + caller's extra. Each derivation (nb_accuracy.c) follows one
 * evaluation order of the SPEC formula; a kernel evaluating the same
 * formula in another order ((x*r)*g or x*(r*g), 1/d as a multiply or a
 * division, 1/sqrt as sqrt then divide, an rsqrt refined by one Newton step)
 * has the same first-order terms with at most twice as many roundings in
 * each. 2 covers that; it does not cover a scheme with a different error
 * order (e.g. f16 partial sums: see tests/test_accuracy.c).
 */
#define NB_ACCURACY_SLACK 2.0L

/* The reference outputs an array is judged against, indexed by nb_output
 * (NULL where the array is not judged). err[out] (optional, NULL: none): a
 * per-element bound on the reference value's own error beyond the
 * long-double rounding the module already adds, e.g. the truncation and
 * rounding error of a finite-difference gradient; added to the bound as is. */
struct nb_accuracy_ref {
	const long double *val[NB_OUT_COUNT];
	const long double *err[NB_OUT_COUNT];
	/* optional (NULL: not wanted), p->rows flags: set true for each row of
	 * y, dx or z holding an element with a finite reference but no finite
	 * bound (a row that could not be judged; such elements fail) */
	bool *unjudged_rows;
};

/* The verdict on one output array. The worst element is the one with the
 * largest error/bound ratio (the first such in row-major order). */
struct nb_accuracy_part {
	enum nb_output out;
	enum nb_dtype dtype;    /* the array's dtype: ULPs are counted in it */
	size_t count;           /* elements judged */
	size_t failed;          /* beyond their bound (NaN/Inf mismatches included) */
	size_t unbounded;       /* elements with a finite reference but no
				 * finite bound derived (NaN, negative or
				 * infinite): counted as failures too */
	size_t first_unbounded_row;
	double max_abs;         /* max |kernel - ref| */
	double max_rel;         /* max |kernel - ref| / |ref| over ref != 0 */
	double max_ulps;        /* max |kernel - ref| / ulp_dtype(ref) */
	double max_ratio;       /* max |kernel - ref| / bound */
	size_t worst_row, worst_col;
	double worst_value;     /* the kernel's value there */
	long double worst_ref;  /* the reference value there */
	double worst_bound;
	double worst_ulps;
	/* normwise, per row: max_j |err| / ulp(max_j |ref|) of the worst row
	 * (dgain/dbias: the one row of n), and that row's largest bound in the
	 * same unit */
	double max_row_ulps;
	double row_bound_ulps;
	size_t worst_norm_row;
	bool pass;
};

struct nb_accuracy_report {
	size_t nparts;          /* 1 (y or z), 2 or 3 (dx, dgain[, dbias]) */
	struct nb_accuracy_part part[3];
	double max_ulps;        /* over all parts */
	double max_ratio;       /* over all parts */
	size_t worst_part;      /* index of the part holding max_ratio */
	bool pass;              /* every part passed */
};

/*
 * Per-element error bound (no slack) of output `out` of problem p for
 * kernel k, or for the long-double reference itself when k is NULL.
 * bound has one element per element of the output (rows x n, n or rows x m).
 * p must have passed nb_problem_check (n and k filled); only its inputs are
 * read (x, gain, bias, dy, w, out_bias, conventions).
 */
enum nb_status nb_accuracy_bounds(const struct nb_problem *p, const struct nb_kernel *k,
				  enum nb_output out, long double *bound);

/*
 * Judges the outputs that kernel k wrote into p (y, z, or dx, dgain and
 * dbias) against ref: element by element, error <= SLACK * (kernel bound +
 * reference bound) + ref->err. NaN is accepted exactly where the reference
 * is NaN; an infinity only where the reference is the same infinity or
 * rounds to it in the output dtype. p must be the problem the kernel ran on
 * (validated again here); for an in-place run pass a copy whose x points
 * at the saved input.
 */
enum nb_status nb_accuracy_judge(const struct nb_kernel *k, const struct nb_problem *p,
				 const struct nb_accuracy_ref *ref,
				 struct nb_accuracy_report *rep);

/* nb_accuracy_judge against ref/'s own outputs: runs nb_ref_forward,
 * nb_ref_backward or nb_ref_flashnorm (FlashNorm needs p->w) first. */
enum nb_status nb_accuracy_check(const struct nb_kernel *k, const struct nb_problem *p,
				 struct nb_accuracy_report *rep);

/* The spacing of dtype t at ref: 2^(max(e, emin) - p + 1) for e = the
 * exponent of |ref| (the subnormal spacing at and below the normal range,
 * the top binade's spacing above it). */
long double nb_ulp_of(enum nb_dtype t, long double ref);

/* |value - ref| / nb_ulp_of(t, ref), counted on purpose for the special
 * values: 0 when both are NaN or the same infinity, or when value is the
 * infinity that ref rounds to; INFINITY for NaN against a number or a number
 * against NaN/Inf; an infinite value against a finite ref that does not
 * round to it counts as 2^(emax+1). Signed zeros are equal. */
double nb_ulp_error(enum nb_dtype t, double value, long double ref);

/* A multi-line human-readable report (kernel, shape, every part, the worst
 * element with its bound). */
void nb_accuracy_print(FILE *out, const struct nb_kernel *k, const struct nb_problem *p,
		       const struct nb_accuracy_report *rep);

#endif
