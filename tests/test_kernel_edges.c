/* Edge cases every registered kernel must survive (the whole registry, so ISA
 * kernels added later are covered): thread-count invariance, in place,
 * unaligned pointers, zero/NaN/Inf/huge rows, misuse, guard zones; FlashNorm. */
#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_problem.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "tests/nb_test.h"

/* An element-level check: Check's ck_assert_msg reports every passing
 * assertion to the runner (a write per call), far too slow per element. */
#define NB_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

/* ---- buffers with a guard zone after the end ---- */

#define NB_GUARD_BYTES ((size_t)64)
#define NB_GUARD_BYTE 0xA5

struct nb_tbuf {
	unsigned char *base;
	unsigned char *p;       /* base + offset (misalignment under test) */
	size_t bytes;
};

static void nb_tbuf_alloc(struct nb_tbuf *b, size_t bytes, size_t offset)
{
	/* malloc's 16-byte alignment plus offset: 0 is aligned for every
	 * dtype, 1 element or 1 byte is not aligned to any vector */
	b->base = malloc(offset + bytes + NB_GUARD_BYTES);
	ck_assert_ptr_nonnull(b->base);
	memset(b->base, NB_GUARD_BYTE, offset + bytes + NB_GUARD_BYTES);
	b->p = b->base + offset;
	b->bytes = bytes;
}

static bool nb_tbuf_guard_ok(const struct nb_tbuf *b)
{
	if (!b->base)
		return true;
	for (size_t i = 0; i < NB_GUARD_BYTES; i++)
		if (b->p[b->bytes + i] != NB_GUARD_BYTE)
			return false;
	return true;
}

static void nb_tbuf_free(struct nb_tbuf *b)
{
	free(b->base);
	b->base = NULL;
	b->p = NULL;
}

/* element access at any alignment */
union nb_elem {
	double d;
	float f;
	uint16_t h;
	unsigned char b[8];
};

static double nb_get(enum nb_dtype t, const void *buf, size_t i)
{
	size_t es = nb_dtype_traits[t].size;
	union nb_elem e;

	memcpy(e.b, (const unsigned char *)buf + i * es, es);
	return nb_dtype_load(t, &e, 0);
}

static void nb_put(enum nb_dtype t, void *buf, size_t i, double v)
{
	size_t es = nb_dtype_traits[t].size;
	union nb_elem e;

	nb_dtype_store(t, &e, 0, v);
	memcpy((unsigned char *)buf + i * es, e.b, es);
}

/* ---- one kernel's problem with all its buffers ---- */

enum nb_misalign { NB_ALIGNED, NB_OFF_ELEMENT, NB_OFF_BYTE };

struct nb_case {
	const struct nb_kernel *k;
	struct nb_problem p;
	enum nb_dtype t, gt;
	size_t n;
	struct nb_tbuf x, y, gain, bias, dy, dx, dg, db;
};

static size_t nb_off(enum nb_misalign mis, size_t es)
{
	return mis == NB_ALIGNED ? 0 : mis == NB_OFF_ELEMENT ? es : 1;
}

static size_t nb_n_of(enum nb_variant v, size_t d)
{
	return v == NB_VARIANT_CRMSNORM ? d - 1 : d;
}

/* count draws uniform in [lo, hi], rounded to f32 and then to the dtype
 * (nb_dtype_store's contract for the 16-bit types); the buffer then holds
 * exactly the values the kernels read. */
static void nb_fill(enum nb_dtype t, void *buf, size_t count, double lo, double hi,
		    struct nb_rng *rng)
{
	for (size_t i = 0; i < count; i++)
		nb_put(t, buf, i, (double)(float)(lo + (hi - lo) * nb_rng_uniform(rng)));
}

static void nb_case_new(struct nb_case *c, const struct nb_kernel *k, size_t rows, size_t d,
			enum nb_misalign mis, bool bias, uint64_t seed)
{
	struct nb_rng rng;
	size_t es, gs;

	memset(c, 0, sizeof(*c));
	c->k = k;
	c->t = k->dtype;
	c->gt = nb_grad_dtype(k->dtype, k->acc);
	c->n = nb_n_of(k->variant, d);
	c->p = nb_problem_init(k->variant, k->dtype, rows, d);
	es = nb_dtype_traits[c->t].size;
	gs = nb_dtype_traits[c->gt].size;
	nb_rng_seed(&rng, seed);

	nb_tbuf_alloc(&c->x, rows * c->n * es, nb_off(mis, es));
	nb_tbuf_alloc(&c->gain, c->n * es, nb_off(mis, es));
	nb_fill(c->t, c->x.p, rows * c->n, -1.0, 1.0, &rng);
	nb_fill(c->t, c->gain.p, c->n, 0.5, 1.5, &rng);
	c->p.x = c->x.p;
	c->p.gain = c->gain.p;
	if (bias) {
		nb_tbuf_alloc(&c->bias, c->n * es, nb_off(mis, es));
		nb_fill(c->t, c->bias.p, c->n, -0.5, 0.5, &rng);
	}
	if (k->dir == NB_DIR_FORWARD) {
		nb_tbuf_alloc(&c->y, rows * c->n * es, nb_off(mis, es));
		c->p.y = c->y.p;
		c->p.bias = bias ? c->bias.p : NULL;
	} else {
		nb_tbuf_alloc(&c->dy, rows * c->n * es, nb_off(mis, es));
		nb_tbuf_alloc(&c->dx, rows * c->n * es, nb_off(mis, es));
		/* the gradient partials are typed f32/f64 arrays that the driver
		 * itself indexes: one element off at most */
		nb_tbuf_alloc(&c->dg, c->n * gs, nb_off(mis == NB_ALIGNED ? mis : NB_OFF_ELEMENT, gs));
		nb_fill(c->t, c->dy.p, rows * c->n, -1.0, 1.0, &rng);
		c->p.dy = c->dy.p;
		c->p.dx = c->dx.p;
		c->p.dgain = c->dg.p;
		/* the bias gradient is wanted when the forward had a bias */
		if (bias) {
			nb_tbuf_alloc(&c->db, c->n * gs,
				      nb_off(mis == NB_ALIGNED ? mis : NB_OFF_ELEMENT, gs));
			c->p.dbias = c->db.p;
		}
	}
}

static void nb_case_free(struct nb_case *c)
{
	nb_tbuf_free(&c->x);
	nb_tbuf_free(&c->y);
	nb_tbuf_free(&c->gain);
	nb_tbuf_free(&c->bias);
	nb_tbuf_free(&c->dy);
	nb_tbuf_free(&c->dx);
	nb_tbuf_free(&c->dg);
	nb_tbuf_free(&c->db);
}

static void nb_case_run(struct nb_case *c, int threads)
{
	enum nb_status st;

	c->p.threads = threads;
	st = nb_kernel_prepare(c->k, &c->p);
	NB_CHECK(st == NB_OK, "%s: prepare: %s", c->k->name, nb_error());
	st = nb_kernel_run(c->k, &c->p, NULL);
	NB_CHECK(st == NB_OK, "%s: run: %s", c->k->name, nb_error());
	NB_CHECK(nb_tbuf_guard_ok(&c->y) && nb_tbuf_guard_ok(&c->dx) &&
		      nb_tbuf_guard_ok(&c->dg) && nb_tbuf_guard_ok(&c->db) &&
		      nb_tbuf_guard_ok(&c->x) && nb_tbuf_guard_ok(&c->dy),
		      "%s: a write past the end of an output (guard zone changed)",
		      c->k->name);
}

/* Outputs of two runs of the same kernel, bit for bit. */
static bool nb_case_same(const struct nb_case *a, const struct nb_case *b)
{
	if (a->k->dir == NB_DIR_FORWARD)
		return memcmp(a->y.p, b->y.p, a->y.bytes) == 0;
	return memcmp(a->dx.p, b->dx.p, a->dx.bytes) == 0 &&
	       memcmp(a->dg.p, b->dg.p, a->dg.bytes) == 0 &&
	       (!a->db.p || memcmp(a->db.p, b->db.p, a->db.bytes) == 0);
}

/* The entries the generic row tests cover: row kernels whose ISA runs here. */
static bool nb_row_kernel(const struct nb_kernel *k)
{
	return !k->whole_problem && nb_isa_usable(k->isa);
}

/* The kernels' output buffer (y or dx). */
static void *nb_out(struct nb_case *c)
{
	return c->k->dir == NB_DIR_FORWARD ? c->y.p : c->dx.p;
}

/* Copies row sr of src's x and dy into row dr of dst (same dtype, n), and
 * src's gain and bias. */
static void nb_copy_inputs(struct nb_case *dst, size_t dr, const struct nb_case *src, size_t sr)
{
	size_t row = src->n * nb_dtype_traits[src->t].size;

	memcpy(dst->x.p + dr * row, src->x.p + sr * row, row);
	if (src->dy.p)
		memcpy(dst->dy.p + dr * row, src->dy.p + sr * row, row);
	memcpy(dst->gain.p, src->gain.p, row);
	if (src->bias.p)
		memcpy(dst->bias.p, src->bias.p, row);
}

static bool nb_row_same(const struct nb_case *a, size_t ra, const struct nb_case *b, size_t rb)
{
	size_t row = a->n * nb_dtype_traits[a->t].size;
	const unsigned char *pa = a->k->dir == NB_DIR_FORWARD ? a->y.p : a->dx.p;
	const unsigned char *pb = b->k->dir == NB_DIR_FORWARD ? b->y.p : b->dx.p;

	return memcmp(pa + ra * row, pb + rb * row, row) == 0;
}

/* LayerNorm of one element is a constant row: NaN with eps = 0. */
static bool nb_width_ok_eps0(const struct nb_kernel *k, size_t d)
{
	return (k->variant != NB_VARIANT_LAYERNORM || d >= 2) &&
	       (k->variant != NB_VARIANT_CRMSNORM || d >= 2);
}

/* Widths for the edge tests: tiny, around the 8-lane and vector widths,
 * and beyond a page of f32 on both sides of a power of two. */
static const size_t nb_widths[] = { 1, 2, 3, 7, 8, 9, 17, 33, 4095, 4097 };
#define NB_NWIDTHS (sizeof(nb_widths) / sizeof(nb_widths[0]))

static bool nb_width_ok(const struct nb_kernel *k, size_t d)
{
	return k->variant != NB_VARIANT_CRMSNORM || d >= 2;
}

/* ---- thread-count invariance ---- */

/*
 * 130 rows x 777: rows * n >= NB_PARALLEL_MIN_ELEMENTS (65536), so the driver
 * really splits rows over threads, and rows > NB_BWD_CHUNK_ROWS (64), so the
 * backward takes three chunk partials. Bit-identical for 1, 2 and 3 threads.
 */
START_TEST(test_thread_invariance)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	ck_assert(130 * 776 >= NB_PARALLEL_MIN_ELEMENTS && 130 > NB_BWD_CHUNK_ROWS);
	for (size_t i = 0; i < count; i++) {
		struct nb_case one, more;

		if (!nb_row_kernel(&ks[i]))
			continue;
		nb_case_new(&one, &ks[i], 130, 777, NB_ALIGNED, true, 11);
		nb_case_run(&one, 1);
		for (int threads = 2; threads <= 3; threads++) {
			nb_case_new(&more, &ks[i], 130, 777, NB_ALIGNED, true, 11);
			nb_case_run(&more, threads);
			NB_CHECK(nb_case_same(&one, &more),
				      "%s: %d threads differ from 1 thread", ks[i].name, threads);
			nb_case_free(&more);
		}
		nb_case_free(&one);
	}
}
END_TEST

/* ---- in place ---- */

START_TEST(test_inplace_equals_out_of_place)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		if (!nb_row_kernel(&ks[i]) || ks[i].dir != NB_DIR_FORWARD || !ks[i].inplace_ok)
			continue;
		for (size_t w = 0; w < NB_NWIDTHS; w++) {
			struct nb_case out, in;

			if (!nb_width_ok(&ks[i], nb_widths[w]))
				continue;
			nb_case_new(&out, &ks[i], 3, nb_widths[w], NB_ALIGNED, true, 21);
			nb_case_new(&in, &ks[i], 3, nb_widths[w], NB_ALIGNED, true, 21);
			nb_case_run(&out, 1);
			in.p.y = in.x.p;
			nb_case_run(&in, 1);
			NB_CHECK(memcmp(out.y.p, in.x.p, out.y.bytes) == 0,
				      "%s d=%zu: in place differs", ks[i].name, nb_widths[w]);
			nb_case_free(&out);
			nb_case_free(&in);
		}
	}
}
END_TEST

/* ---- unaligned pointers ---- */

/*
 * Every array one element past malloc's alignment (every kernel), and one
 * byte past it (the portable kernels, which access elements by memcpy: an
 * ISA kernel may dereference typed pointers, which C requires to be
 * element-aligned). Results must equal the aligned run bit for bit: a
 * kernel may not change its summation order with alignment.
 */
START_TEST(test_unaligned_equals_aligned)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		if (!nb_row_kernel(&ks[i]))
			continue;
		for (size_t w = 0; w < NB_NWIDTHS; w++) {
			int last = ks[i].isa == NB_ISA_PORTABLE ? NB_OFF_BYTE : NB_OFF_ELEMENT;
			struct nb_case al;

			if (!nb_width_ok(&ks[i], nb_widths[w]))
				continue;
			nb_case_new(&al, &ks[i], 3, nb_widths[w], NB_ALIGNED, true, 31);
			nb_case_run(&al, 1);
			for (int mis = NB_OFF_ELEMENT; mis <= last; mis++) {
				struct nb_case un;

				nb_case_new(&un, &ks[i], 3, nb_widths[w], (enum nb_misalign)mis,
					    true, 31);
				nb_case_run(&un, 1);
				NB_CHECK(nb_case_same(&al, &un),
					      "%s d=%zu: %s offset changes the result",
					      ks[i].name, nb_widths[w],
					      mis == NB_OFF_ELEMENT ? "one-element" : "one-byte");
				nb_case_free(&un);
			}
			nb_case_free(&al);
		}
	}
}
END_TEST

/* ---- special rows: 3 rows, row 1 special, compared with rows 0 and 2 alone ---- */

/* Runs c (3 rows) and the 2-row problem of its rows 0 and 2; asserts those
 * rows are bit-identical (a special row must not leak into its
 * neighbours), and for the backward that dgain of the pair is what the
 * 3-row run gives when row 1's contribution is removed (the caller checks
 * that part, it depends on the case). Returns the 2-row case. */
static void nb_run_with_pair(struct nb_case *c, struct nb_case *pair, size_t d, bool bias)
{
	nb_case_new(pair, c->k, 2, d, NB_ALIGNED, bias, 99);
	pair->p.conv = c->p.conv;
	nb_copy_inputs(pair, 0, c, 0);
	nb_copy_inputs(pair, 1, c, 2);
	nb_case_run(c, 1);
	nb_case_run(pair, 1);
	NB_CHECK(nb_row_same(c, 0, pair, 0) && nb_row_same(c, 2, pair, 1),
		      "%s d=%zu: a special row changed its neighbours", c->k->name, d);
}

/* dbias must be the row-order sum of dy (0 + dy_0 + dy_1 + dy_2) in the
 * gradient dtype, whatever the rows hold. */
static void nb_check_dbias(const struct nb_case *c)
{
	if (!c->db.p)
		return;
	for (size_t j = 0; j < c->n; j++) {
		double want;

		if (c->gt == NB_DTYPE_F64) {
			double s = 0.0;
			for (size_t r = 0; r < c->p.rows; r++)
				s += nb_get(c->t, c->dy.p, r * c->n + j);
			want = s;
		} else {
			float s = 0.0f;
			for (size_t r = 0; r < c->p.rows; r++)
				s += (float)nb_get(c->t, c->dy.p, r * c->n + j);
			want = (double)s;
		}
		NB_CHECK(nb_get(c->gt, c->db.p, j) == want,
			      "%s: dbias[%zu] is not the row-order sum of dy", c->k->name, j);
	}
}

static double nb_u(enum nb_dtype t)
{
	return nb_dtype_traits[t].unit_roundoff;
}

/* gamma_k = k u / (1 - k u) */
static double nb_gamma(double k, double u)
{
	return k * u / (1.0 - k * u);
}

/*
 * A zero row with eps > 0 (both conventions). Forward: y = 0 r g + b = b
 * exactly (0 without bias). Backward: xhat = 0, so dx = r dyh (LayerNorm:
 * r (dyh - mean dyh)) with r = 1/sqrt(eps) (inside) or 1/eps (outside).
 * Bound, first order in the accumulation unit u_a: eps rounded to the
 * accumulation type u, sqrt u, reciprocal u, dyh u, subtraction u, times r
 * u: 6u relative to |dx|, then one rounding to storage u_s; LayerNorm's
 * mean(dyh) adds r gamma_n sum|dyh|/n absolute (summation of n terms and
 * the division). The factor 1.01 covers the second-order terms (n u_a <=
 * 2^-12 here). dgain gets dy * 0 = +-0 from the row: equal to the pair's.
 * eps = 2^-7 (r = 11.3 or 128): with the default 1e-5 and eps outside, r dyh
 * reaches 1e5, beyond f16's range, and inf would be the right answer.
 */
START_TEST(test_zero_row_finite)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];

		if (!nb_row_kernel(k))
			continue;
		for (size_t w = 0; w < NB_NWIDTHS; w++) {
			size_t d = nb_widths[w];

			if (!nb_width_ok(k, d))
				continue;
			for (int mode = 0; mode < 2; mode++) {
				struct nb_case c, pair;
				double ua = nb_u(k->acc), us = nb_u(k->dtype);

				nb_case_new(&c, k, 3, d, NB_ALIGNED, true, 41 + d);
				c.p.conv.eps_mode = mode ? NB_EPS_OUTSIDE : NB_EPS_INSIDE;
				c.p.conv.eps = 0x1p-7;
				for (size_t j = 0; j < c.n; j++)
					nb_put(c.t, c.x.p, c.n + j, 0.0);
				nb_run_with_pair(&c, &pair, d, true);
				if (k->dir == NB_DIR_FORWARD) {
					for (size_t j = 0; j < c.n; j++)
						NB_CHECK(nb_get(c.t, c.y.p, c.n + j) ==
							      nb_get(c.t, c.bias.p, j),
							      "%s d=%zu: zero row gives y != b",
							      k->name, d);
				} else {
					double eps = c.p.conv.eps;
					double r = mode ? 1.0 / eps : 1.0 / sqrt(eps);
					double mdy = 0.0, sabs = 0.0;

					for (size_t j = 0; j < c.n; j++) {
						double dyh = nb_get(c.t, c.dy.p, c.n + j) *
							     nb_get(c.t, c.gain.p, j);
						mdy += dyh / (double)c.n;
						sabs += fabs(dyh) / (double)c.n;
					}
					if (k->variant != NB_VARIANT_LAYERNORM)
						mdy = 0.0;
					for (size_t j = 0; j < c.n; j++) {
						double dyh = nb_get(c.t, c.dy.p, c.n + j) *
							     nb_get(c.t, c.gain.p, j);
						double want = r * (dyh - mdy);
						double got = nb_get(c.t, c.dx.p, c.n + j);
						double bound = (6.0 * ua + us) * fabs(want);

						if (k->variant == NB_VARIANT_LAYERNORM)
							bound += r * nb_gamma((double)c.n + 1.0, ua) * sabs;
						bound *= 1.01;
						NB_CHECK(fabs(got - want) <= bound,
							      "%s d=%zu: zero-row dx[%zu] = %g, want %g +- %g",
							      k->name, d, j, got, want, bound);
					}
					NB_CHECK(memcmp(c.dg.p, pair.dg.p, c.dg.bytes) == 0,
						      "%s d=%zu: a zero row changed dgain", k->name, d);
					nb_check_dbias(&c);
				}
				nb_case_free(&c);
				nb_case_free(&pair);
			}
		}
	}
}
END_TEST

/* True when every output element of row `row` is NaN (nan) or not finite. */
static bool nb_row_all(const struct nb_case *c, const void *buf, size_t row, bool nan)
{
	for (size_t j = 0; j < c->n; j++) {
		double v = nb_get(c->t, buf, row * c->n + j);
		if (nan ? !isnan(v) : isfinite(v))
			return false;
	}
	return true;
}

/*
 * eps = 0 on a zero row: r = 1/sqrt(0) = inf and y = 0 * inf = NaN (the
 * documented behaviour); the backward's dx row is not finite (NaN, or inf
 * for an element with no correction term) and dgain gets dy * NaN. The
 * other rows (same eps = 0) are unaffected.
 */
START_TEST(test_zero_row_eps0_nan)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		struct nb_case c, pair;
		size_t d = 33;

		if (!nb_row_kernel(k))
			continue;
		nb_case_new(&c, k, 3, d, NB_ALIGNED, true, 51);
		c.p.conv.eps = 0.0;
		for (size_t j = 0; j < c.n; j++)
			nb_put(c.t, c.x.p, c.n + j, 0.0);
		nb_run_with_pair(&c, &pair, d, true);
		if (k->dir == NB_DIR_FORWARD) {
			NB_CHECK(nb_row_all(&c, c.y.p, 1, true),
				      "%s: eps = 0 on a zero row must give NaN", k->name);
		} else {
			NB_CHECK(nb_row_all(&c, c.dx.p, 1, false),
				      "%s: eps = 0 on a zero row must give a non-finite dx",
				      k->name);
			for (size_t j = 0; j < c.n; j++)
				NB_CHECK(isnan(nb_get(c.gt, c.dg.p, j)),
					      "%s: dgain[%zu] must be NaN", k->name, j);
			nb_check_dbias(&c);
		}
		nb_case_free(&c);
		nb_case_free(&pair);
	}
}
END_TEST

/*
 * NaN, +Inf or -Inf at element 0 of row 1 (element 0 sets every variant's
 * statistic, pRMSNorm's too): that row's outputs are all NaN (Inf gives
 * inf/inf), dgain is NaN everywhere (dy * NaN), dbias still the sum of dy,
 * and rows 0 and 2 are bit-identical to the run without row 1.
 */
START_TEST(test_nonfinite_row_isolated)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	const double specials[] = { NAN, INFINITY, -INFINITY };

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];

		if (!nb_row_kernel(k))
			continue;
		for (size_t w = 0; w < NB_NWIDTHS; w++) {
			size_t d = nb_widths[w];

			if (!nb_width_ok(k, d))
				continue;
			for (size_t s = 0; s < 3; s++) {
				struct nb_case c, pair;

				nb_case_new(&c, k, 3, d, NB_ALIGNED, true, 61 + d);
				nb_put(c.t, c.x.p, c.n, specials[s]);
				nb_run_with_pair(&c, &pair, d, true);
				NB_CHECK(nb_row_all(&c, nb_out(&c), 1, true),
					      "%s d=%zu: a row with %g must give NaN outputs",
					      k->name, d, specials[s]);
				if (k->dir == NB_DIR_BACKWARD) {
					for (size_t j = 0; j < c.n; j++)
						NB_CHECK(isnan(nb_get(c.gt, c.dg.p, j)),
							      "%s d=%zu: dgain[%zu] not NaN",
							      k->name, d, j);
					nb_check_dbias(&c);
				}
				nb_case_free(&c);
				nb_case_free(&pair);
			}
		}
	}
}
END_TEST

/*
 * Each row of a problem gives the same bits (y, or dx) as that row alone.
 * The AVX-512 forward kernels sum row i + 1 inside the write pass of row i
 * (fused rows: RMSNorm and 16-bit CRMSNorm rows of up to 8 KiB) and the
 * AVX-512 backward kernels write rows in pairs; a row alone takes neither
 * path. Rows 0, 3 and 4 hold a NaN, an Inf, a NaN, so the
 * fused chain breaks at the first row, twice in a row and restarts; the
 * widths cover the fused sizes (2048 f32 is exactly 8 KiB) and beyond;
 * both store kinds (streaming forced on, and off).
 */
START_TEST(test_rows_alone_equal_rows_together)
{
	static const size_t widths[] = { 33, 200, 1000, 2048, 2049, 4096 };
	static const size_t special_rows[] = { 0, 3, 4 };
	const size_t rows = 7;
	size_t count, saved = nb_stream_min_bytes();
	const struct nb_kernel *ks = nb_kernels(&count);

	for (int streamed = 0; streamed < 2; streamed++) {
		nb_set_stream_min_bytes(streamed ? 0 : SIZE_MAX);
		for (size_t i = 0; i < count; i++) {
			const struct nb_kernel *k = &ks[i];

			if (!nb_row_kernel(k))
				continue;
			for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
				struct nb_case c;

				nb_case_new(&c, k, rows, widths[w], NB_ALIGNED, true, 71 + w);
				for (size_t s = 0; s < 3; s++)
					nb_put(c.t, c.x.p, special_rows[s] * c.n + c.n / 2,
					       s == 1 ? INFINITY : NAN);
				nb_case_run(&c, 1);
				for (size_t r = 0; r < rows; r++) {
					struct nb_case one;

					nb_case_new(&one, k, 1, widths[w], NB_ALIGNED, true, 5);
					nb_copy_inputs(&one, 0, &c, r);
					nb_case_run(&one, 1);
					NB_CHECK(nb_row_same(&c, r, &one, 0),
						 "%s d=%zu %s: row %zu of %zu differs from the row alone",
						 k->name, widths[w], streamed ? "streamed" : "stored",
						 r, rows);
					nb_case_free(&one);
				}
				nb_case_free(&c);
			}
		}
	}
	nb_set_stream_min_bytes(saved);
}
END_TEST

/*
 * pRMSNorm forward: an Inf past the first k elements does not enter r, so
 * only its own output changes (to +-Inf: Inf * r * g, g > 0 here); every
 * other element equals the run with a 0 there, bit for bit.
 */
START_TEST(test_prmsnorm_tail_inf_local)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	size_t d = 100;   /* k = ceil(0.0625 * 100) = 7 < n */

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		struct nb_case a, b;

		if (!nb_row_kernel(k) || k->variant != NB_VARIANT_PRMSNORM ||
		    k->dir != NB_DIR_FORWARD)
			continue;
		nb_case_new(&a, k, 2, d, NB_ALIGNED, false, 71);
		nb_case_new(&b, k, 2, d, NB_ALIGNED, false, 71);
		nb_put(a.t, a.x.p, a.n + d - 1, INFINITY);
		nb_put(b.t, b.x.p, b.n + d - 1, 0.0);
		nb_case_run(&a, 1);
		nb_case_run(&b, 1);
		ck_assert(a.p.k < d);
		NB_CHECK(nb_get(a.t, a.y.p, a.n + d - 1) == (double)INFINITY,
			      "%s: Inf past k must give +Inf", k->name);
		nb_put(a.t, a.y.p, a.n + d - 1, 0.0);
		nb_put(b.t, b.y.p, b.n + d - 1, 0.0);
		NB_CHECK(memcmp(a.y.p, b.y.p, a.y.bytes) == 0,
			      "%s: Inf past k changed other outputs", k->name);
		nb_case_free(&a);
		nb_case_free(&b);
	}
}
END_TEST

/* ---- huge rows: scale invariance ---- */

/*
 * With eps = 0 every variant is scale-invariant: y(c x) = y(x), and the
 * backward gives dx(c x, dy) = dx(x, dy) / c, dgain unchanged, and
 * dx(x, c dy) = c dx(x, dy), dgain and dbias times c (dbias, a plain sum,
 * exactly). For x, c = 2^100 for f32/bf16 (x up to 1.3e30: squares overflow
 * f32), 2^665 for f64 (1e200: squares overflow f64), 2^4 for f16 (its range
 * cannot overflow f32 sums; the check then is plain scale invariance).
 * For dy, c = 2^125 (f32/bf16) and 2^1021 (f64): at d = 4095/4097 the dot
 * sum dyh.x (about sqrt(n) 0.6 c) overflows, while the true dx (for
 * LayerNorm, RMSNorm and CRMSNorm at most 1.5 * 1.73 * 2 c), dgain (3 rows *
 * 1.73 c) and dbias (3 c) stay finite; pRMSNorm's r has no such bound, and
 * elements whose true value is within a factor 2 of overflow are skipped.
 * Both results are computed by the same kernel, possibly by different
 * paths (fast path, or the scaled fallback / a portable row), so they are
 * compared with the sum of two derived error bounds, not bit for bit.
 *
 * Error model (first order in the accumulation unit u; gamma_k = ku/(1-ku);
 * "oracle" quantities are computed in double from the small row, whose own
 * error (n 2^-53 relative) is far below the bounds):
 *   r-hat = r (1 + th), |th| <= eps_r = eps_ms/2 + 3u (sqrt halves the
 *     statistic's error; division by the divisor, sqrt, reciprocal, +eps);
 *   RMS/pRMS: the sum of nstat squares: eps_ms = gamma_{nstat+1};
 *   CRMS: T = sum x'^2 + s^2, s = sum x'; s-hat is off by gamma_n sum|x'|,
 *     so s^2 by 2|s| gamma_n sum|x'| (+ u s^2): eps_ms = gamma_{n+2} +
 *     2 gamma_n |s| sum|x'| / T;
 *   LayerNorm two-pass: |mu-hat - mu| <= dmu = gamma_{n+1} sum|x|/n; the
 *     deviations' squares sum to V + n dmu^2 (sum (x - mu) = 0 kills the
 *     first-order term), so eps_ms = gamma_{n+2} + n dmu^2 / V;
 *   LayerNorm Welford: each lane step adds at most 3u max|x| to the mean's
 *     error and shrinks the old error (factor 1 - 1/c), over <= n/8 + 1 steps
 *     and 3 Chan merges: dmu <= gamma_{2n+12} max|x|; M2's terms
 *     delta (x - mean) are >= 0, each within 3u of itself plus 2|delta| dmu:
 *     eps_ms = gamma_{3n+24} + 4 n dmu max|x| / V.
 * Forward y_j = g_j xhat_j: |y-hat - y| <= |g_j| (|xhat_j| (eps_r + 3u) +
 *   r dmu), then rounded to storage (u_s |y-hat|, and below the smallest
 *   normal an absolute half-spacing u_s min_normal).
 */
struct nb_oracle {
	double r, mu, shat, dmu, dshat, eps_r;
};

static struct nb_oracle nb_oracle_row(const struct nb_case *c, size_t row)
{
	struct nb_oracle o = { 0 };
	const struct nb_kernel *k = c->k;
	double u = nb_u(k->acc), n = (double)c->n;
	size_t nstat = k->variant == NB_VARIANT_PRMSNORM ? c->p.k : c->n;
	double sum = 0.0, sabs = 0.0, mx = 0.0, ss = 0.0, eps_ms, ms;

	for (size_t j = 0; j < c->n; j++) {
		double v = nb_get(c->t, c->x.p, row * c->n + j);
		if (j < nstat) {
			sum += v;
			sabs += fabs(v);
			if (fabs(v) > mx)
				mx = fabs(v);
		}
	}
	if (k->variant == NB_VARIANT_LAYERNORM) {
		o.mu = sum / n;
		if (strcmp(k->algo, "welford") == 0)
			o.dmu = nb_gamma(2.0 * n + 12.0, u) * mx;
		else
			o.dmu = nb_gamma(n + 1.0, u) * sabs / n;
	}
	for (size_t j = 0; j < nstat; j++) {
		double v = nb_get(c->t, c->x.p, row * c->n + j) - o.mu;
		ss += v * v;
	}
	switch (k->variant) {
	case NB_VARIANT_LAYERNORM:
		if (strcmp(k->algo, "welford") == 0)
			eps_ms = nb_gamma(3.0 * n + 24.0, u) + 4.0 * n * o.dmu * mx / ss;
		else
			eps_ms = nb_gamma(n + 2.0, u) + n * o.dmu * o.dmu / ss;
		ms = ss / n;
		break;
	case NB_VARIANT_CRMSNORM:
		eps_ms = nb_gamma(n + 2.0, u) +
			 2.0 * nb_gamma(n, u) * fabs(sum) * sabs / (ss + sum * sum);
		ms = (ss + sum * sum) / (double)c->p.d;
		o.dshat = nb_gamma(n, u) * sabs;   /* times r below */
		break;
	default:
		eps_ms = nb_gamma((double)nstat + 1.0, u);
		ms = ss / (double)nstat;
		break;
	}
	o.r = c->p.conv.eps_mode == NB_EPS_INSIDE ? 1.0 / sqrt(ms + c->p.conv.eps)
						  : 1.0 / (sqrt(ms) + c->p.conv.eps);
	o.eps_r = eps_ms / 2.0 + 3.0 * u;
	if (k->variant == NB_VARIANT_CRMSNORM) {
		o.shat = sum * o.r;
		o.dshat = o.dshat * o.r + fabs(o.shat) * (o.eps_r + u);
	}
	return o;
}

static double nb_xhat(const struct nb_oracle *o, double x)
{
	return (x - o->mu) * o->r;
}

/* Storage rounding of one value: relative u_s, absolute below min normal. */
static double nb_store_err(enum nb_dtype t, double v)
{
	return nb_u(t) * (fabs(v) + nb_dtype_traits[t].min_normal);
}

static double nb_huge_factor(enum nb_dtype t)
{
	return t == NB_DTYPE_F64 ? 0x1p665 : t == NB_DTYPE_F16 ? 0x1p4 : 0x1p100;
}

static double nb_huge_dy_factor(enum nb_dtype t)
{
	return t == NB_DTYPE_F64 ? 0x1p1021 : t == NB_DTYPE_F16 ? 0x1p4 : 0x1p125;
}

/* multiplies every element of buf (count elements of t) by c, exactly */
static void nb_scale_buf(enum nb_dtype t, void *buf, size_t count, double c)
{
	for (size_t i = 0; i < count; i++)
		nb_put(t, buf, i, nb_get(t, buf, i) * c);
}

START_TEST(test_huge_rows_forward)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];

		if (!nb_row_kernel(k) || k->dir != NB_DIR_FORWARD)
			continue;
		for (size_t w = 0; w < NB_NWIDTHS; w++) {
			size_t d = nb_widths[w];
			double cf = nb_huge_factor(k->dtype), u = nb_u(k->acc);
			struct nb_case sm, big;

			if (!nb_width_ok_eps0(k, d))
				continue;
			nb_case_new(&sm, k, 3, d, NB_ALIGNED, false, 81 + d);
			nb_case_new(&big, k, 3, d, NB_ALIGNED, false, 81 + d);
			sm.p.conv.eps = 0.0;
			big.p.conv.eps = 0.0;
			nb_scale_buf(big.t, big.x.p, 3 * big.n, cf);
			nb_case_run(&sm, 1);
			nb_case_run(&big, 1);
			for (size_t r = 0; r < 3; r++) {
				struct nb_oracle o = nb_oracle_row(&sm, r);

				for (size_t j = 0; j < sm.n; j++) {
					double xh = nb_xhat(&o, nb_get(sm.t, sm.x.p, r * sm.n + j));
					double g = fabs(nb_get(sm.t, sm.gain.p, j));
					double a = nb_get(sm.t, sm.y.p, r * sm.n + j);
					double b = nb_get(big.t, big.y.p, r * big.n + j);
					double one = g * (fabs(xh) * (o.eps_r + 3.0 * u) + o.r * o.dmu);
					double bound = 2.0 * one * 1.01 + nb_store_err(sm.t, a) +
						       nb_store_err(sm.t, b);

					NB_CHECK(isfinite(b) && fabs(a - b) <= bound,
						      "%s d=%zu: y(2^k x)[%zu,%zu] = %g vs y(x) = %g "
						      "(bound %g)", k->name, d, r, j, b, a, bound);
				}
			}
			nb_case_free(&sm);
			nb_case_free(&big);
		}
	}
}
END_TEST

/*
 * Backward error model, on top of the forward's (same u, eps_r, dmu):
 * dx_j = r (dyh_j - [LN] mean(dyh) - (xhat_j + shat) q S / D), S = sum dyh
 * xhat, q = 1 here (eps = 0). Per element:
 *   r-hat: eps_r relative; dyh: u; mean(dyh): gamma_{n+1} sum|dyh|/n;
 *   xhat: |xhat| (eps_r + u) + r dmu; shat: dshat;
 *   S: gamma_{n+2} sum|dyh xhat| + sum |dyh| (|xhat| (eps_r + u) + r dmu);
 *   then S r, / D, the subtractions and the product with r: 5u.
 * So |dx-hat_j - dx_j| <= r (eps_r + 6u) |inner_j| + r [gamma_{n+1} m1 +
 *   (|xhat_j| + |shat|) E_S / D + (|xhat_j| (eps_r + u) + r dmu + dshat)
 *   Sa / D], inner_j the exact bracket, m1 = sum|dyh|/n (LN only), Sa =
 *   sum |dyh xhat|, E_S the bound on S above. dgain_j = sum over rows of
 *   dy_j xhat_j: per row |dy_j| (|xhat_j| (eps_r + 2u) + r dmu), plus the
 *   row summation gamma_rows sum |dy_j xhat_j|. Two computations: twice
 *   each, times 1.01 for the second-order terms, plus storage roundings.
 */
struct nb_bwd_bound {
	double dx, want_dx;
};

/* Row sums the backward bound needs, from the small row, in double. */
struct nb_bwd_row {
	double m1, S, Sa, sdyabs;
};

static struct nb_bwd_row nb_bwd_row_sums(const struct nb_case *c, size_t row,
					 const struct nb_oracle *o)
{
	struct nb_bwd_row s = { 0 };

	for (size_t i = 0; i < c->n; i++) {
		double dh = nb_get(c->t, c->dy.p, row * c->n + i) * nb_get(c->t, c->gain.p, i);
		double xi = nb_xhat(o, nb_get(c->t, c->x.p, row * c->n + i));
		s.m1 += dh / (double)c->n;
		s.sdyabs += fabs(dh);
		s.S += dh * xi;
		s.Sa += fabs(dh * xi);
	}
	return s;
}

static struct nb_bwd_bound nb_bwd_elem(const struct nb_case *c, size_t row, size_t j,
				       const struct nb_oracle *o, const struct nb_bwd_row *rs)
{
	const struct nb_kernel *k = c->k;
	double u = nb_u(k->acc), n = (double)c->n;
	size_t nstat = k->variant == NB_VARIANT_PRMSNORM ? c->p.k : c->n;
	double D = k->variant == NB_VARIANT_PRMSNORM ? (double)c->p.k
		 : k->variant == NB_VARIANT_CRMSNORM ? (double)c->p.d : n;
	double ES, xh, dyh, inner, e;
	struct nb_bwd_bound b;

	ES = nb_gamma(n + 2.0, u) * rs->Sa + (o->eps_r + u) * rs->Sa +
	     o->r * o->dmu * rs->sdyabs;
	xh = nb_xhat(o, nb_get(c->t, c->x.p, row * c->n + j));
	dyh = nb_get(c->t, c->dy.p, row * c->n + j) * nb_get(c->t, c->gain.p, j);
	inner = dyh;
	if (k->variant == NB_VARIANT_LAYERNORM)
		inner -= rs->m1;
	if (j < nstat)
		inner -= (xh + o->shat) * rs->S / D;
	e = (o->eps_r + 6.0 * u) * fabs(inner);
	if (k->variant == NB_VARIANT_LAYERNORM)
		e += nb_gamma(n + 1.0, u) * rs->sdyabs / n;
	if (j < nstat)
		e += (fabs(xh) + fabs(o->shat)) * ES / D +
		     (fabs(xh) * (o->eps_r + u) + o->r * o->dmu + o->dshat) * rs->Sa / D;
	b.dx = o->r * e;
	b.want_dx = o->r * inner;
	return b;
}

/* dgain_j's bound over all rows (see above). */
static double nb_dgain_bound(const struct nb_case *c, size_t j, const struct nb_oracle *os)
{
	double u = nb_u(c->k->acc), e = 0.0, sa = 0.0;

	for (size_t r = 0; r < c->p.rows; r++) {
		double dyj = fabs(nb_get(c->t, c->dy.p, r * c->n + j));
		double xh = fabs(nb_xhat(&os[r], nb_get(c->t, c->x.p, r * c->n + j)));
		e += dyj * (xh * (os[r].eps_r + 2.0 * u) + os[r].r * os[r].dmu);
		sa += dyj * xh;
	}
	return e + nb_gamma((double)c->p.rows, u) * sa;
}

START_TEST(test_huge_rows_backward)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];

		if (!nb_row_kernel(k) || k->dir != NB_DIR_BACKWARD)
			continue;
		for (size_t w = 0; w < NB_NWIDTHS; w++) {
			size_t d = nb_widths[w];

			if (!nb_width_ok_eps0(k, d))
				continue;
			/* which = 0: x scaled by c; which = 1: dy scaled by c */
			for (int which = 0; which < 2; which++) {
				double cf = which == 0 ? nb_huge_factor(k->dtype)
						       : nb_huge_dy_factor(k->dtype);
				struct nb_case sm, big;
				struct nb_oracle os[3];
				/* big's dx in small units: dx(cx) c, dx(c dy) / c */
				double back = which == 0 ? cf : 1.0 / cf;

				nb_case_new(&sm, k, 3, d, NB_ALIGNED, true, 91 + d);
				nb_case_new(&big, k, 3, d, NB_ALIGNED, true, 91 + d);
				sm.p.conv.eps = 0.0;
				big.p.conv.eps = 0.0;
				nb_scale_buf(big.t, which == 0 ? big.x.p : big.dy.p, 3 * big.n, cf);
				nb_case_run(&sm, 1);
				nb_case_run(&big, 1);
				for (size_t r = 0; r < 3; r++)
					os[r] = nb_oracle_row(&sm, r);
				for (size_t r = 0; r < 3; r++) {
					struct nb_bwd_row rs = nb_bwd_row_sums(&sm, r, &os[r]);

					for (size_t j = 0; j < sm.n; j++) {
						struct nb_bwd_bound bb = nb_bwd_elem(&sm, r, j, &os[r], &rs);
						double a = nb_get(sm.t, sm.dx.p, r * sm.n + j);
						double bv = nb_get(big.t, big.dx.p, r * big.n + j);
						double bound = 2.0 * bb.dx * 1.01 +
							       nb_store_err(sm.t, a) +
							       nb_store_err(sm.t, bv) * back;

						/* pRMSNorm's r = 1/rms of k elements is not
						 * bounded: where the true c dx is within a factor
						 * 2 of overflow, there is nothing to compare */
						if ((fabs(bb.want_dx) + bb.dx) / back >=
						    nb_dtype_traits[sm.t].max_finite / 2.0)
							continue;
						NB_CHECK(isfinite(bv) &&
							      fabs(bv * back - a) <= bound,
							      "%s d=%zu %s: dx[%zu,%zu] %g vs %g (bound %g)",
							      k->name, d, which ? "c dy" : "c x", r, j,
							      bv * back, a, bound);
					}
				}
				for (size_t j = 0; j < sm.n; j++) {
					double gscale = which == 0 ? 1.0 : 1.0 / cf;
					double a = nb_get(sm.gt, sm.dg.p, j);
					double bv = nb_get(big.gt, big.dg.p, j) * gscale;
					double bound = 2.0 * nb_dgain_bound(&sm, j, os) * 1.01 +
						       nb_store_err(sm.gt, 0.0) * (1.0 + gscale);

					if ((fabs(a) + bound) / gscale >=
					    nb_dtype_traits[sm.gt].max_finite / 2.0)
						continue;
					NB_CHECK(fabs(a - bv) <= bound,
						      "%s d=%zu %s: dgain[%zu] %g vs %g (bound %g)",
						      k->name, d, which ? "c dy" : "c x", j, bv, a, bound);
					/* dbias: the same sums of (scaled) dy, exactly */
					NB_CHECK(nb_get(big.gt, big.db.p, j) * gscale ==
						      nb_get(sm.gt, sm.db.p, j),
						      "%s d=%zu: dbias not exactly scaled", k->name, d);
				}
				nb_case_free(&sm);
				nb_case_free(&big);
			}
		}
	}
}
END_TEST

/* ---- misuse through nb_kernel_prepare ---- */

START_TEST(test_prepare_rejects_misuse)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		struct nb_case c;
		enum nb_dtype other = k->dtype == NB_DTYPE_F32 ? NB_DTYPE_F64 : NB_DTYPE_F32;

		if (!nb_row_kernel(k))
			continue;
		nb_case_new(&c, k, 2, 16, NB_ALIGNED, true, 5);
		ck_assert_int_eq(nb_kernel_prepare(k, &c.p), NB_OK);
		/* the wrong dtype for the kernel */
		c.p.dtype = other;
		NB_CHECK(nb_kernel_prepare(k, &c.p) == NB_ERR_INVALID,
			      "%s accepted a %s problem", k->name, nb_dtype_traits[other].name);
		c.p.dtype = k->dtype;
		/* the wrong variant */
		c.p.variant = k->variant == NB_VARIANT_LAYERNORM ? NB_VARIANT_RMSNORM
								  : NB_VARIANT_LAYERNORM;
		ck_assert_int_eq(nb_kernel_prepare(k, &c.p), NB_ERR_INVALID);
		c.p.variant = k->variant;
		if (k->dir == NB_DIR_FORWARD && !k->inplace_ok) {
			c.p.y = (void *)c.p.x;
			ck_assert_int_eq(nb_kernel_prepare(k, &c.p), NB_ERR_INVALID);
		}
		if (k->dir == NB_DIR_BACKWARD) {
			c.p.dx = (void *)c.p.dy;
			ck_assert_int_eq(nb_kernel_prepare(k, &c.p), NB_ERR_INVALID);
			c.p.dx = (void *)c.p.x;
			ck_assert_int_eq(nb_kernel_prepare(k, &c.p), NB_ERR_INVALID);
		}
		nb_case_free(&c);
	}
}
END_TEST

/* ---- FlashNorm ---- */

struct nb_fcase {
	struct nb_problem p;
	size_t rows, n, m, es;
	void *x, *gain, *w, *wf, *c, *z, *scratch;
};

static void nb_fcase_new(struct nb_fcase *f, enum nb_dtype t, size_t rows, size_t n, size_t m,
			 bool out_bias, uint64_t seed)
{
	struct nb_rng rng;

	memset(f, 0, sizeof(*f));
	f->rows = rows;
	f->n = n;
	f->m = m;
	f->es = nb_dtype_traits[t].size;
	nb_rng_seed(&rng, seed);
	f->x = malloc(rows * n * f->es);
	f->gain = malloc(n * f->es);
	f->w = malloc(n * m * f->es);
	f->wf = malloc(n * m * f->es);
	f->c = malloc(m * f->es);
	f->z = malloc((rows * m + 1) * f->es);
	f->scratch = malloc(rows * n * f->es);
	ck_assert(f->x && f->gain && f->w && f->wf && f->c && f->z && f->scratch);
	nb_fill(t, f->x, rows * n, -1.0, 1.0, &rng);
	nb_fill(t, f->gain, n, 0.5, 1.5, &rng);
	nb_fill(t, f->w, n * m, -1.0, 1.0, &rng);
	nb_fill(t, f->c, m, -0.5, 0.5, &rng);
	ck_assert_int_eq(nb_flashnorm_fold(t, n, m, f->gain, f->w, f->wf), NB_OK);
	f->p = nb_problem_init(NB_VARIANT_FLASHNORM, t, rows, n);
	f->p.x = f->x;
	f->p.gain = f->gain;
	f->p.m = m;
	f->p.w = f->w;
	f->p.w_folded = f->wf;
	f->p.out_bias = out_bias ? f->c : NULL;
	f->p.z = f->z;
	f->p.scratch = f->scratch;
}

static void nb_fcase_free(struct nb_fcase *f)
{
	free(f->x);
	free(f->gain);
	free(f->w);
	free(f->wf);
	free(f->c);
	free(f->z);
	free(f->scratch);
}

/* Runs the registry entry named name on f; z gets a guard element. */
static void nb_fcase_run(struct nb_fcase *f, const char *name, int threads)
{
	const struct nb_kernel *k = nb_kernel_find(name);
	double sentinel = 12345.0;

	NB_CHECK(k != NULL, "%s is not registered", name);
	ck_assert(k->whole_problem);
	nb_put(f->p.dtype, f->z, f->rows * f->m, sentinel);
	f->p.threads = threads;
	NB_CHECK(nb_kernel_prepare(k, &f->p) == NB_OK, "%s: %s", name, nb_error());
	ck_assert_int_eq(nb_kernel_run(k, &f->p, NULL), NB_OK);
	NB_CHECK(nb_get(f->p.dtype, f->z, f->rows * f->m) == sentinel,
		      "%s wrote past the end of z", name);
}

/*
 * Fused z_f = fl(fl(x . W*) r-hat) + c against unfused z_u = fl(y . W) + c,
 * y = fl(fl(x r-hat') g). Both are within, of the exact z_i = r sum_j x_j g_j
 * W_ji + c_i (first order, u the dtype's unit, gamma_k = ku/(1-ku)):
 *   r: eps_r = gamma_{n+2}/2 + 3u for either RMSNorm kernel (sum of n
 *      squares in any order, division, +eps, sqrt, reciprocal);
 *   fused: W* one rounding (u), GEMM gamma_{n+1} (any order, FMA or not,
 *      the bias add counted as one more term), times r (u);
 *   unfused: y two roundings (2u), GEMM gamma_{n+1} over n+1 terms (beta = 1
 *      adds c inside).
 * With A_i = r sum_j |x_j g_j W_ji| + |c_i|: |z-hat - z| <= (eps_r + 2u +
 * gamma_{n+1}) A_i for each, so |z_f - z_u| <= 2 (eps_r + 2u + gamma_{n+1})
 * A_i (1.01 for second-order terms). Folding g on the wrong side of W
 * (W diag(g)) moves z by O(1) A_i and fails this.
 */
static void nb_check_fused_vs_unfused(enum nb_dtype t, size_t rows, size_t n, size_t m,
				      bool bias, enum nb_eps_mode mode)
{
	const char *fused = t == NB_DTYPE_F64 ? "flashnorm_fwd_f64_fused" : "flashnorm_fwd_f32_fused";
	const char *unfused = t == NB_DTYPE_F64 ? "flashnorm_fwd_f64_unfused"
						: "flashnorm_fwd_f32_unfused";
	struct nb_fcase f;
	double u = nb_u(t), *zf;
	double eps_r = nb_gamma((double)n + 2.0, u) / 2.0 + 3.0 * u;
	double e = 2.0 * (eps_r + 2.0 * u + nb_gamma((double)n + 1.0, u)) * 1.01;

	nb_fcase_new(&f, t, rows, n, m, bias, 1234 + rows + n);
	f.p.conv.eps_mode = mode;
	nb_fcase_run(&f, fused, 2);
	zf = malloc(rows * m * sizeof(double));
	ck_assert_ptr_nonnull(zf);
	for (size_t i = 0; i < rows * m; i++)
		zf[i] = nb_get(t, f.z, i);
	nb_fcase_run(&f, unfused, 2);
	for (size_t i = 0; i < rows; i++) {
		double ss = 0.0, r;

		for (size_t j = 0; j < n; j++) {
			double v = nb_get(t, f.x, i * n + j);
			ss += v * v;
		}
		r = mode == NB_EPS_INSIDE ? 1.0 / sqrt(ss / (double)n + f.p.conv.eps)
					  : 1.0 / (sqrt(ss / (double)n) + f.p.conv.eps);
		for (size_t o = 0; o < m; o++) {
			double a = 0.0, zu = nb_get(t, f.z, i * m + o);

			for (size_t j = 0; j < n; j++)
				a += fabs(nb_get(t, f.x, i * n + j) * nb_get(t, f.gain, j) *
					  nb_get(t, f.w, j * m + o));
			a = r * a + (bias ? fabs(nb_get(t, f.c, o)) : 0.0);
			NB_CHECK(fabs(zf[i * m + o] - zu) <= e * a,
				      "%s vs %s: z[%zu,%zu] %g vs %g (bound %g)", fused, unfused,
				      i, o, zf[i * m + o], zu, e * a);
		}
	}
	free(zf);
	nb_fcase_free(&f);
}

START_TEST(test_flashnorm_fused_matches_unfused)
{
	for (int t = 0; t < 2; t++) {
		enum nb_dtype dt = t ? NB_DTYPE_F64 : NB_DTYPE_F32;

		nb_check_fused_vs_unfused(dt, 5, 64, 17, true, NB_EPS_INSIDE);
		nb_check_fused_vs_unfused(dt, 3, 33, 7, false, NB_EPS_OUTSIDE);
		/* one row: both paths multiply by GEMV, not GEMM */
		nb_check_fused_vs_unfused(dt, 1, 64, 17, true, NB_EPS_INSIDE);
		nb_check_fused_vs_unfused(dt, 1, 33, 7, false, NB_EPS_OUTSIDE);
		/* rows * n >= NB_PARALLEL_MIN_ELEMENTS: the r loop goes parallel */
		nb_check_fused_vs_unfused(dt, 250, 300, 45, true, NB_EPS_INSIDE);
	}
}
END_TEST

/*
 * The bound above must be able to fail: folding the gain on the wrong side
 * (W* = W diag(g), columns scaled; n = m so it is well-formed) is rejected.
 */
START_TEST(test_flashnorm_wrong_fold_detected)
{
	struct nb_fcase f;
	size_t n = 32, m = 32, rows = 4;
	float *wf, *z1;
	const float *g, *w;
	bool caught = false;
	double u = 0x1p-24;
	double e = 2.0 * (nb_gamma(n + 2.0, u) / 2.0 + 5.0 * u + nb_gamma(n + 1.0, u)) * 1.01;

	nb_fcase_new(&f, NB_DTYPE_F32, rows, n, m, false, 77);
	wf = f.wf;
	g = f.gain;
	w = f.w;
	for (size_t j = 0; j < n; j++)
		for (size_t o = 0; o < m; o++)
			wf[j * m + o] = g[o] * w[j * m + o];
	nb_fcase_run(&f, "flashnorm_fwd_f32_fused", 1);
	z1 = malloc(rows * m * sizeof(float));
	ck_assert_ptr_nonnull(z1);
	memcpy(z1, f.z, rows * m * sizeof(float));
	nb_fcase_run(&f, "flashnorm_fwd_f32_unfused", 1);
	for (size_t i = 0; i < rows; i++) {
		double ss = 0.0, r;
		for (size_t j = 0; j < n; j++)
			ss += (double)((float *)f.x)[i * n + j] * (double)((float *)f.x)[i * n + j];
		r = 1.0 / sqrt(ss / (double)n + f.p.conv.eps);
		for (size_t o = 0; o < m; o++) {
			double a = 0.0;
			for (size_t j = 0; j < n; j++)
				a += fabs((double)((float *)f.x)[i * n + j] * (double)g[j] *
					  (double)w[j * m + o]);
			if (fabs((double)z1[i * m + o] - (double)((float *)f.z)[i * m + o]) >
			    e * r * a)
				caught = true;
		}
	}
	NB_CHECK(caught, "a fold on the wrong side went unnoticed");
	free(z1);
	nb_fcase_free(&f);
}
END_TEST

/*
 * nb_flashnorm_fold: f64 with power-of-two gains is exact (W* = 2^e W,
 * bit for bit); f32 is g W rounded once (the double product of two f32 is
 * exact, so |W* - g W| <= u |g W| with u = 2^-24, and power-of-two gains
 * are exact too); other dtypes and missing pointers are refused.
 */
START_TEST(test_flashnorm_fold)
{
	size_t n = 19, m = 23;
	double gd[19], wd[19 * 23], fd[19 * 23];
	float gf[19], wf[19 * 23], ff[19 * 23];
	struct nb_rng rng;
	struct nb_f16 h[4] = { { 0 } };

	nb_rng_seed(&rng, 3);
	for (size_t j = 0; j < n; j++) {
		int e = (int)nb_rng_below(&rng, 7) - 3;
		gd[j] = ldexp(1.0, e);
		gf[j] = (float)(0.5 + nb_rng_uniform(&rng));
	}
	for (size_t i = 0; i < n * m; i++) {
		wd[i] = nb_rng_normal(&rng);
		wf[i] = (float)nb_rng_normal(&rng);
	}
	ck_assert_int_eq(nb_flashnorm_fold(NB_DTYPE_F64, n, m, gd, wd, fd), NB_OK);
	for (size_t j = 0; j < n; j++)
		for (size_t o = 0; o < m; o++)
			NB_CHECK(fd[j * m + o] == ldexp(wd[j * m + o], ilogb(gd[j])),
				 "f64 fold by a power of two not exact");
	ck_assert_int_eq(nb_flashnorm_fold(NB_DTYPE_F32, n, m, gf, wf, ff), NB_OK);
	for (size_t j = 0; j < n; j++)
		for (size_t o = 0; o < m; o++) {
			double exact = (double)gf[j] * (double)wf[j * m + o];
			NB_CHECK(fabs((double)ff[j * m + o] - exact) <= 0x1p-24 * fabs(exact),
				 "f32 fold not rounded once");
		}
	for (size_t j = 0; j < n; j++)
		gf[j] = 0.25f;
	ck_assert_int_eq(nb_flashnorm_fold(NB_DTYPE_F32, n, m, gf, wf, ff), NB_OK);
	for (size_t i = 0; i < n * m; i++)
		NB_CHECK(ff[i] == wf[i] * 0.25f, "f32 fold by 0.25 not exact");
	ck_assert_int_eq(nb_flashnorm_fold(NB_DTYPE_F16, 2, 2, h, h, h), NB_ERR_UNSUPPORTED);
	ck_assert_int_eq(nb_flashnorm_fold(NB_DTYPE_F32, n, m, NULL, wf, ff), NB_ERR_INVALID);
	ck_assert_int_eq(nb_flashnorm_fold(NB_DTYPE_F32, 0, m, gf, wf, ff), NB_ERR_INVALID);
}
END_TEST

/* FlashNorm kernels refuse a problem of the other dtype and y == x. */
START_TEST(test_flashnorm_prepare_rejects_misuse)
{
	struct nb_fcase f;
	const struct nb_kernel *k = nb_kernel_find("flashnorm_fwd_f32_fused");

	ck_assert_ptr_nonnull(k);
	nb_fcase_new(&f, NB_DTYPE_F32, 2, 8, 3, true, 9);
	ck_assert_int_eq(nb_kernel_prepare(k, &f.p), NB_OK);
	f.p.dtype = NB_DTYPE_F64;
	ck_assert_int_eq(nb_kernel_prepare(k, &f.p), NB_ERR_INVALID);
	f.p.dtype = NB_DTYPE_F32;
	f.p.y = f.x;
	ck_assert_int_eq(nb_kernel_prepare(k, &f.p), NB_ERR_INVALID);
	nb_fcase_free(&f);
}
END_TEST

Suite *nb_suite_kernel_edges(void)
{
	Suite *s = suite_create("kernel_edges");
	TCase *tc = tcase_create("rows");
	TCase *fl = tcase_create("flashnorm");

	tcase_add_test(tc, test_thread_invariance);
	tcase_add_test(tc, test_inplace_equals_out_of_place);
	tcase_add_test(tc, test_unaligned_equals_aligned);
	tcase_add_test(tc, test_zero_row_finite);
	tcase_add_test(tc, test_zero_row_eps0_nan);
	tcase_add_test(tc, test_nonfinite_row_isolated);
	tcase_add_test(tc, test_prmsnorm_tail_inf_local);
	tcase_add_test(tc, test_rows_alone_equal_rows_together);
	tcase_add_test(tc, test_huge_rows_forward);
	tcase_add_test(tc, test_huge_rows_backward);
	tcase_add_test(tc, test_prepare_rejects_misuse);
	tcase_add_test(fl, test_flashnorm_fused_matches_unfused);
	tcase_add_test(fl, test_flashnorm_wrong_fold_detected);
	tcase_add_test(fl, test_flashnorm_fold);
	tcase_add_test(fl, test_flashnorm_prepare_rejects_misuse);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, fl);
	return s;
}
