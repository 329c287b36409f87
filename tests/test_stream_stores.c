/* The streaming-store (non-temporal) path of every row kernel against its
 * ordinary-store path: the same bits, no write outside the outputs, at every
 * misalignment of the output, in place, with special rows and threads. */
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

/* Check's ck_assert reports each passing assertion: too slow per element */
#define NB_CHECK(cond, ...) \
	do { \
		if (!(cond)) \
			ck_abort_msg(__VA_ARGS__); \
	} while (0)

#define NB_GUARD ((size_t)192)
#define NB_GUARD_BYTE 0x5A

/* A buffer 64-byte aligned plus off bytes, with guard zones both sides. */
struct nb_sbuf {
	unsigned char *base, *p;
	size_t bytes;
};

static void nb_sbuf_new(struct nb_sbuf *b, size_t bytes, size_t off)
{
	size_t total = (NB_GUARD + off + bytes + NB_GUARD + 63) / 64 * 64;

	b->base = aligned_alloc(64, total);
	ck_assert_ptr_nonnull(b->base);
	memset(b->base, NB_GUARD_BYTE, total);
	b->p = b->base + NB_GUARD + off;
	b->bytes = bytes;
}

static bool nb_sbuf_guards_ok(const struct nb_sbuf *b)
{
	if (!b->base)
		return true;
	for (unsigned char *q = b->base; q < b->p; q++)
		if (*q != NB_GUARD_BYTE)
			return false;
	for (size_t i = 0; i < NB_GUARD; i++)
		if (b->p[b->bytes + i] != NB_GUARD_BYTE)
			return false;
	return true;
}

static void nb_sbuf_free(struct nb_sbuf *b)
{
	free(b->base);
	memset(b, 0, sizeof(*b));
}

/* Values uniform in [lo, hi], stored in dtype t (exact for the 16-bit
 * types: each value is an f32 first). */
static void nb_sfill(enum nb_dtype t, void *buf, size_t count, double lo, double hi,
		     struct nb_rng *rng)
{
	for (size_t i = 0; i < count; i++)
		nb_dtype_store(t, buf, i, (double)(float)(lo + (hi - lo) * nb_rng_uniform(rng)));
}

struct nb_scase {
	const struct nb_kernel *k;
	struct nb_problem p;
	size_t n, es, gs;
	struct nb_sbuf x, y, g, b, dy, dx, dg, db;
};

/*
 * One problem for kernel k: rows x d, the outputs (y or dx) off elements
 * past a 64-byte boundary, the inputs at the same offset; inplace: y is x.
 * special: row 1 holds a NaN (it goes to the portable fallback in the
 * middle of a streamed range).
 */
static void nb_scase_new(struct nb_scase *c, const struct nb_kernel *k, size_t rows, size_t d,
			 size_t off, bool inplace, bool special, uint64_t seed)
{
	struct nb_rng rng;
	enum nb_dtype t = k->dtype;
	bool bias = k->variant == NB_VARIANT_LAYERNORM;

	memset(c, 0, sizeof(*c));
	c->k = k;
	c->p = nb_problem_init(k->variant, t, rows, d);
	c->n = k->variant == NB_VARIANT_CRMSNORM ? d - 1 : d;
	c->es = nb_dtype_traits[t].size;
	c->gs = nb_dtype_traits[nb_grad_dtype(t, k->acc)].size;
	nb_rng_seed(&rng, seed);
	nb_sbuf_new(&c->x, rows * c->n * c->es, off * c->es);
	nb_sbuf_new(&c->g, c->n * c->es, 0);
	nb_sfill(t, c->x.p, rows * c->n, -1.0, 1.0, &rng);
	nb_sfill(t, c->g.p, c->n, 0.5, 1.5, &rng);
	if (special && rows > 1)
		nb_dtype_store(t, c->x.p, c->n + c->n / 2, NAN);
	c->p.x = c->x.p;
	c->p.gain = c->g.p;
	if (bias) {
		nb_sbuf_new(&c->b, c->n * c->es, 0);
		nb_sfill(t, c->b.p, c->n, -0.5, 0.5, &rng);
	}
	if (k->dir == NB_DIR_FORWARD) {
		if (!inplace) {
			nb_sbuf_new(&c->y, rows * c->n * c->es, off * c->es);
			c->p.y = c->y.p;
		} else {
			c->p.y = c->x.p;
		}
		c->p.bias = bias ? c->b.p : NULL;
	} else {
		nb_sbuf_new(&c->dy, rows * c->n * c->es, off * c->es);
		nb_sbuf_new(&c->dx, rows * c->n * c->es, off * c->es);
		nb_sbuf_new(&c->dg, c->n * c->gs, 0);
		nb_sfill(t, c->dy.p, rows * c->n, -1.0, 1.0, &rng);
		c->p.dy = c->dy.p;
		c->p.dx = c->dx.p;
		c->p.dgain = c->dg.p;
		if (bias) {
			nb_sbuf_new(&c->db, c->n * c->gs, 0);
			c->p.dbias = c->db.p;
		}
	}
}

static void nb_scase_free(struct nb_scase *c)
{
	nb_sbuf_free(&c->x);
	nb_sbuf_free(&c->y);
	nb_sbuf_free(&c->g);
	nb_sbuf_free(&c->b);
	nb_sbuf_free(&c->dy);
	nb_sbuf_free(&c->dx);
	nb_sbuf_free(&c->dg);
	nb_sbuf_free(&c->db);
}

/* Runs c with the streaming threshold set to min_bytes. */
static void nb_scase_run(struct nb_scase *c, size_t min_bytes, int threads)
{
	enum nb_status st;
	size_t saved = nb_stream_min_bytes();

	c->p.threads = threads;
	nb_set_stream_min_bytes(min_bytes);
	st = nb_kernel_prepare(c->k, &c->p);
	if (st == NB_OK)
		st = nb_kernel_run(c->k, &c->p, NULL);
	nb_set_stream_min_bytes(saved);
	NB_CHECK(st == NB_OK, "%s: %s", c->k->name, nb_error());
	NB_CHECK(nb_sbuf_guards_ok(&c->x) && nb_sbuf_guards_ok(&c->y) &&
		 nb_sbuf_guards_ok(&c->dx) && nb_sbuf_guards_ok(&c->dg) &&
		 nb_sbuf_guards_ok(&c->db),
		 "%s: a write outside the outputs (guard zone changed)", c->k->name);
}

/* The output arrays of a and b, bit for bit (NaN payloads included). */
static bool nb_scase_same(const struct nb_scase *a, const struct nb_scase *b)
{
	size_t bytes = a->p.rows * a->n * a->es;

	if (a->k->dir == NB_DIR_FORWARD)
		return memcmp(a->p.y, b->p.y, bytes) == 0;
	return memcmp(a->dx.p, b->dx.p, bytes) == 0 &&
	       memcmp(a->dg.p, b->dg.p, a->n * a->gs) == 0 &&
	       (!a->db.p || memcmp(a->db.p, b->db.p, a->n * a->gs) == 0);
}

static bool nb_isa_row_kernel(const struct nb_kernel *k)
{
	return !k->whole_problem && k->isa != NB_ISA_PORTABLE && nb_isa_usable(k->isa);
}

/*
 * Streamed (threshold 0) equals ordinary (threshold SIZE_MAX), bit for bit,
 * for every ISA row kernel, at widths below, at and above a 64-byte line,
 * odd ones and long ones, the output off 0..31 elements from a line
 * boundary: the unstreamed head takes every length for f32 and for the
 * 16-bit types, rows that are whole lines but start mid-line share a line
 * with the next row (the forward kernels' struct nb_edge), and rows that
 * are not whole lines take the kernels' unstreamed path on both sides.
 */
START_TEST(test_streamed_equals_ordinary)
{
	static const size_t widths[] = { 2, 15, 16, 17, 33, 64, 100, 257, 2048, 2500, 4099 };
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	size_t checked = 0;

	for (size_t i = 0; i < count; i++) {
		if (!nb_isa_row_kernel(&ks[i]))
			continue;
		for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++)
			for (size_t off = 0; off < 32; off += (w % 2 ? 1 : 5)) {
				struct nb_scase a, b;

				nb_scase_new(&a, &ks[i], 5, widths[w], off, false, false, 7 + w);
				nb_scase_new(&b, &ks[i], 5, widths[w], off, false, false, 7 + w);
				nb_scase_run(&a, SIZE_MAX, 1);
				nb_scase_run(&b, 0, 1);
				NB_CHECK(nb_scase_same(&a, &b),
					 "%s d=%zu off=%zu: streamed output differs",
					 ks[i].name, widths[w], off);
				nb_scase_free(&a);
				nb_scase_free(&b);
				checked++;
			}
	}
	/* on a CPU without AVX2 there is nothing to compare */
	if (nb_isa_cap() == NB_ISA_PORTABLE)
		return;
	ck_assert_uint_gt(checked, 0);
}
END_TEST

/* In place (forward), a NaN row in the middle of the range, and several
 * threads: streamed equals ordinary. 100 x 1001 is above the parallel
 * break-even of every kernel (NB_PARALLEL_MIN_WORK: 98304 elements for two
 * passes) and spans two backward chunks, so two threads really split it. */
START_TEST(test_streamed_inplace_special_threads)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	ck_assert(100 * 1000 * 2 >= NB_PARALLEL_MIN_WORK && 100 > NB_BWD_CHUNK_ROWS);

	for (size_t i = 0; i < count; i++) {
		if (!nb_isa_row_kernel(&ks[i]))
			continue;
		for (int threads = 1; threads <= 2; threads++)
			for (int inplace = 0; inplace <= (ks[i].dir == NB_DIR_FORWARD); inplace++) {
				struct nb_scase a, b;

				nb_scase_new(&a, &ks[i], 100, 1001, 3, inplace, true, 99);
				nb_scase_new(&b, &ks[i], 100, 1001, 3, inplace, true, 99);
				nb_scase_run(&a, SIZE_MAX, threads);
				nb_scase_run(&b, 0, threads);
				NB_CHECK(nb_scase_same(&a, &b),
					 "%s threads=%d inplace=%d: streamed output differs",
					 ks[i].name, threads, inplace);
				nb_scase_free(&a);
				nb_scase_free(&b);
			}
	}
}
END_TEST

/* The check above can fail: an output that differs in one element (what a
 * wrong head or tail of the streamed loop would give) is caught, and a
 * byte written before the output trips the guard. */
START_TEST(test_stream_check_detects)
{
	const struct nb_kernel *k = nb_kernel_find("rmsnorm_fwd_f32_portable");
	struct nb_scase a, b;

	ck_assert_ptr_nonnull(k);
	nb_scase_new(&a, k, 3, 40, 1, false, false, 5);
	nb_scase_new(&b, k, 3, 40, 1, false, false, 5);
	nb_scase_run(&a, SIZE_MAX, 1);
	nb_scase_run(&b, SIZE_MAX, 1);
	ck_assert(nb_scase_same(&a, &b));
	((float *)b.p.y)[77] = nextafterf(((float *)b.p.y)[77], 2.0f);
	ck_assert(!nb_scase_same(&a, &b));
	ck_assert(nb_sbuf_guards_ok(&b.y));
	b.y.p[-1] ^= 1;
	ck_assert(!nb_sbuf_guards_ok(&b.y));
	nb_scase_free(&a);
	nb_scase_free(&b);
}
END_TEST

/* The threshold itself: the default, and the setter round trip. */
START_TEST(test_stream_threshold)
{
	size_t saved = nb_stream_min_bytes();

	ck_assert_uint_eq(saved, NB_STREAM_MIN_BYTES_DEFAULT);
	ck_assert(nb_stream_wanted(NB_STREAM_MIN_BYTES_DEFAULT));
	ck_assert(!nb_stream_wanted(NB_STREAM_MIN_BYTES_DEFAULT - 1));
	nb_set_stream_min_bytes(0);
	ck_assert(nb_stream_wanted(0));
	nb_set_stream_min_bytes(SIZE_MAX);
	ck_assert(!nb_stream_wanted(SIZE_MAX - 1));
	nb_set_stream_min_bytes(saved);
	ck_assert_uint_eq(nb_stream_min_bytes(), saved);
}
END_TEST

Suite *nb_suite_stream_stores(void)
{
	Suite *s = suite_create("stream_stores");
	TCase *tc = tcase_create("stream_stores");

	tcase_add_test(tc, test_stream_threshold);
	tcase_add_test(tc, test_stream_check_detects);
	tcase_add_test(tc, test_streamed_equals_ordinary);
	tcase_add_test(tc, test_streamed_inplace_special_threads);
	suite_add_tcase(s, tc);
	return s;
}
