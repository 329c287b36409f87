/* Compensated summation (Neumaier's improved Kahan-Babuska) in long double:
 * the one accumulator every sum in ref/ goes through. */
#ifndef NB_REF_SUM_H
#define NB_REF_SUM_H

#include <math.h>

/*
 * s is the rounded running sum; c collects the rounding error of every
 * addition into s. With round to nearest and the larger magnitude first
 * (Fast2Sum), each error term (s - t) + a is computed exactly, so s plus the
 * exact sum of the error terms equals the exact sum. What is left is the
 * rounding in summing the error terms into c and in the final s + c: this is
 * Ogita, Rump and Oishi's Sum2 ("Accurate sum and dot product", SIAM J. Sci.
 * Comput. 26(6), 2005; they use TwoSum, which gives the same error terms),
 * with the bound
 *     |value - sum a_i| <= u |sum a_i| + gamma_{n-1}^2 sum |a_i|,
 * gamma_k = k u / (1 - k u), u = 2^-64 on x86 (LDBL_MANT_DIG = 64): as if
 * summed in twice the working precision and rounded once, for any n
 * normbench uses (n u < 2^-30).
 *
 * Non-finite addends: s becomes +-Inf or NaN as a plain sum would, and the
 * value is s itself (c would hold Inf - Inf = NaN).
 */
struct nb_ref_sum {
	long double s;
	long double c;
};

/* Knuth's TwoSum: a + b == *sum + *err exactly (round to nearest, no
 * overflow), whatever the magnitudes. */
static inline void nb_ref_two_sum(long double a, long double b,
				  long double *sum, long double *err)
{
	long double s = a + b;
	long double bb = s - a;

	*sum = s;
	*err = (a - (s - bb)) + (b - bb);
}

#define NB_REF_SUM_ZERO ((struct nb_ref_sum){ .s = 0.0L, .c = 0.0L })

static inline void nb_ref_sum_add(struct nb_ref_sum *acc, long double a)
{
	long double t = acc->s + a;

	if (fabsl(acc->s) >= fabsl(a))
		acc->c += (acc->s - t) + a;
	else
		acc->c += (a - t) + acc->s;
	acc->s = t;
}

static inline long double nb_ref_sum_value(const struct nb_ref_sum *acc)
{
	return isfinite(acc->s) ? acc->s + acc->c : acc->s;
}

#endif
