/* The problem every kernel and reference takes: one struct describing rows of
 * x, the parameters, the conventions of SPEC §1, and where results go. */
#ifndef NB_PROBLEM_H
#define NB_PROBLEM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/nb_dtype.h"
#include "common/nb_status.h"
#include "common/nb_variant.h" /* enum nb_variant, its traits and names */

enum nb_direction { NB_DIR_FORWARD, NB_DIR_BACKWARD, NB_DIR_COUNT };

/* Where eps goes: 1/sqrt(ms + eps) (modern LLMs, default) or 1/(sqrt(ms) + eps)
 * (the original reference code). For LayerNorm "ms" is the variance. */
enum nb_eps_mode { NB_EPS_INSIDE, NB_EPS_OUTSIDE };

/* pRMSNorm: k = ceil(p*d) (the paper) or floor(p*d) (its code); k >= 1. */
enum nb_prms_round { NB_PRMS_CEIL, NB_PRMS_FLOOR };

struct nb_conventions {
	double eps;                  /* default 1e-5 */
	enum nb_eps_mode eps_mode;   /* default NB_EPS_INSIDE */
	double prms_p;               /* default 0.0625, in (0, 1] */
	enum nb_prms_round prms_round; /* default NB_PRMS_CEIL */
};

#define NB_CONVENTIONS_DEFAULT \
	((struct nb_conventions){ .eps = 1e-5, .eps_mode = NB_EPS_INSIDE, \
		.prms_p = 0.0625, .prms_round = NB_PRMS_CEIL })

/*
 * Layout: row-major and dense. Row i of x starts at element i*n. Every array
 * except x/y/dy/dx/z is one vector shared by all rows. Pointers need not be
 * aligned. All arrays hold the problem's dtype, except dgain/dbias (the
 * accumulation type of the kernel: f64 for f64 kernels and f64-accumulating
 * f32 kernels, else f32) and FlashNorm's arrays (see below).
 *
 * CRMSNorm: the model width is d, but a row stores only n = d-1 elements x'
 * (the zero-mean x = [x', -sum x']); gain, bias, y, dy, dx have n elements.
 */
struct nb_problem {
	enum nb_variant variant;
	enum nb_dtype dtype;
	size_t rows;
	size_t d;        /* model width */
	size_t n;        /* stored elements per row: set by nb_problem_check */
	size_t k;        /* elements that set the rms (pRMSNorm): set by check */
	struct nb_conventions conv;

	/* forward: y = norm(x) * gain (+ bias). y may equal x when the kernel's
	 * registry entry allows in-place operation. bias may be NULL. */
	const void *x;
	void *y;
	const void *gain;
	const void *bias;

	/* backward: dx from dy (the gradient of y); dgain = sum_rows dy*xhat,
	 * dbias = sum_rows dy (NULL: not wanted). Needs x and gain too. */
	const void *dy;
	void *dx;
	void *dgain;
	void *dbias;

	/* FlashNorm: z = (x . W*) * r (+ out_bias), rows x m, with
	 * W* = diag(gain) . W folded once by nb_flashnorm_fold. Row-major
	 * W and W* are n x m. The unfused baseline computes y = RMSNorm(x)
	 * into the caller's scratch (rows x n), then z = y . W (+ out_bias). */
	size_t m;
	const void *w;          /* n x m, the layer's own weight */
	const void *w_folded;   /* n x m, diag(gain) . W */
	const void *out_bias;   /* m, or NULL */
	void *z;                /* rows x m */
	void *scratch;          /* rows x n, unfused baseline only */

	int threads;            /* 0: OpenMP's default */
};

/* A problem with the default conventions and everything else zero. */
struct nb_problem nb_problem_init(enum nb_variant variant, enum nb_dtype dtype,
				  size_t rows, size_t d);

/* Validates p for direction dir and fills n and k. Every user-reachable
 * mistake (d = 0, p outside (0,1], eps < 0, a missing pointer, absurd sizes)
 * comes back as NB_ERR_INVALID with a message; kernels validate nothing. */
enum nb_status nb_problem_check(struct nb_problem *p, int dir);

/* k for pRMSNorm under the given conventions (d for the other variants). */
size_t nb_prms_k(size_t d, double p, enum nb_prms_round round);

const char *nb_direction_name(enum nb_direction dir);

/* Accumulation dtype of the gradient vectors dgain/dbias for a kernel of
 * storage dtype t accumulating in acc. */
enum nb_dtype nb_grad_dtype(enum nb_dtype t, enum nb_dtype acc);

#endif
