/* The 16-bit backward kernels' contract, bit for bit: a bf16/f16 backward
 * kernel computes in f32 exactly what its f32 sibling (same variant, ISA and
 * algorithm) computes on the widened inputs, and rounds dx once to nearest
 * even with the portable converter; its f32 dgain/dbias are the sibling's. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
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

/* The f32 entry of k's variant, direction, ISA and algorithm. */
static const struct nb_kernel *nb_f32_sibling(const struct nb_kernel *k)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++)
		if (ks[i].variant == k->variant && ks[i].dir == k->dir && ks[i].isa == k->isa &&
		    ks[i].dtype == NB_DTYPE_F32 && ks[i].acc == NB_DTYPE_F32 &&
		    strcmp(ks[i].algo, k->algo) == 0)
			return &ks[i];
	return NULL;
}

static bool nb_is_16bit_bwd(const struct nb_kernel *k)
{
	return k->dir == NB_DIR_BACKWARD && !k->whole_problem && nb_isa_usable(k->isa) &&
	       (k->dtype == NB_DTYPE_BF16 || k->dtype == NB_DTYPE_F16);
}

/* Rows of one case cycle through these kinds. */
enum nb_row_kind {
	NB_ROW_GAUSS,      /* N(0,1) */
	NB_ROW_OUTLIER,    /* N(0,1) with one channel at 200 (a massive activation) */
	NB_ROW_MEAN,       /* mean 300, spread 1: LayerNorm's cancellation */
	NB_ROW_TINY_DY,    /* dy so small that dx is subnormal in the 16-bit type */
	NB_ROW_HUGE,       /* bf16: squares overflow f32 (the scaled fallback row) */
	NB_ROW_KINDS
};

/* One problem in dtype t and the same problem widened to f32. */
struct nb_pair {
	struct nb_problem p16, p32;
	void *mem[2][6];   /* per side: x, gain, dy, dx, dgain, dbias allocations */
	size_t n;
};

static void *nb_alloc_off(size_t bytes, size_t off, void **mem)
{
	unsigned char *b = malloc(bytes + off + 64);

	ck_assert_ptr_nonnull(b);
	/* outputs start as all-ones bytes: NaN, so a missed element shows */
	memset(b, 0xff, bytes + off + 64);
	*mem = b;
	return b + off;
}

static void nb_pair_new(struct nb_pair *c, const struct nb_kernel *k, size_t rows, size_t d,
			size_t off, bool bias, bool eps_outside, bool nan_row, uint64_t seed)
{
	enum nb_dtype t = k->dtype;
	size_t n = k->variant == NB_VARIANT_CRMSNORM ? d - 1 : d;
	double huge = t == NB_DTYPE_BF16 ? 0x1p70 : 1.0;
	double tiny = t == NB_DTYPE_BF16 ? 0x1p-135 : 0x1p-22;
	struct nb_rng rng;

	memset(c, 0, sizeof(*c));
	c->n = n;
	nb_rng_seed(&rng, seed);
	for (int side = 0; side < 2; side++) {
		enum nb_dtype st = side == 0 ? t : NB_DTYPE_F32;
		size_t es = nb_dtype_traits[st].size, o = off * es;
		struct nb_problem *p = side == 0 ? &c->p16 : &c->p32;

		*p = nb_problem_init(k->variant, st, rows, d);
		if (eps_outside)
			p->conv.eps_mode = NB_EPS_OUTSIDE;
		p->x = nb_alloc_off(rows * n * es, o, &c->mem[side][0]);
		p->gain = nb_alloc_off(n * es, o, &c->mem[side][1]);
		p->dy = nb_alloc_off(rows * n * es, o, &c->mem[side][2]);
		p->dx = nb_alloc_off(rows * n * es, o, &c->mem[side][3]);
		/* the f32 partials: element-aligned (the driver indexes them) */
		p->dgain = nb_alloc_off(n * sizeof(float), off ? sizeof(float) : 0,
					&c->mem[side][4]);
		if (bias)
			p->dbias = nb_alloc_off(n * sizeof(float), 0, &c->mem[side][5]);
	}
	/* values: f32 first, then the 16-bit type (one rounding), then widened
	 * exactly into the f32 problem */
	for (size_t j = 0; j < n; j++)
		nb_dtype_store(t, (void *)c->p16.gain, j,
			       (double)(float)(1.0 + 0.2 * nb_rng_normal(&rng)));
	for (size_t i = 0; i < rows; i++) {
		enum nb_row_kind kind = (enum nb_row_kind)(i % NB_ROW_KINDS);

		for (size_t j = 0; j < n; j++) {
			double x = nb_rng_normal(&rng), dy = nb_rng_normal(&rng);

			if (kind == NB_ROW_OUTLIER && j == n / 3)
				x = 200.0;
			if (kind == NB_ROW_MEAN)
				x += 300.0;
			if (kind == NB_ROW_TINY_DY)
				dy *= tiny;
			if (kind == NB_ROW_HUGE)
				x *= huge;
			nb_dtype_store(t, (void *)c->p16.x, i * n + j, (double)(float)x);
			nb_dtype_store(t, (void *)c->p16.dy, i * n + j, (double)(float)dy);
		}
	}
	if (nan_row && rows > 1)
		nb_dtype_store(t, (void *)c->p16.x, n + n / 2, NAN);
	for (size_t j = 0; j < n; j++)
		nb_dtype_store(NB_DTYPE_F32, (void *)c->p32.gain, j,
			       nb_dtype_load(t, c->p16.gain, j));
	for (size_t j = 0; j < rows * n; j++) {
		nb_dtype_store(NB_DTYPE_F32, (void *)c->p32.x, j, nb_dtype_load(t, c->p16.x, j));
		nb_dtype_store(NB_DTYPE_F32, (void *)c->p32.dy, j, nb_dtype_load(t, c->p16.dy, j));
	}
}

static void nb_pair_free(struct nb_pair *c)
{
	for (int side = 0; side < 2; side++)
		for (int b = 0; b < 6; b++)
			free(c->mem[side][b]);
}

static void nb_run(const struct nb_kernel *k, struct nb_problem *p, int threads,
		   size_t stream_min)
{
	size_t saved = nb_stream_min_bytes();
	enum nb_status st;

	p->threads = threads;
	nb_set_stream_min_bytes(stream_min);
	st = nb_kernel_prepare(k, p);
	if (st == NB_OK)
		st = nb_kernel_run(k, p, NULL);
	nb_set_stream_min_bytes(saved);
	NB_CHECK(st == NB_OK, "%s: %s", k->name, nb_error());
}

static uint16_t nb_bits16(const void *buf, size_t i)
{
	uint16_t b;

	memcpy(&b, (const unsigned char *)buf + 2 * i, sizeof(b));
	return b;
}

/* f32 value v rounded to t by the portable converter. */
static uint16_t nb_round16(enum nb_dtype t, float v)
{
	return t == NB_DTYPE_BF16 ? nb_f32_to_bf16(v).bits : nb_f32_to_f16(v).bits;
}

static float nb_f32_at(const void *buf, size_t i)
{
	float v;

	memcpy(&v, (const unsigned char *)buf + 4 * i, sizeof(v));
	return v;
}

/* 16-bit dx against the f32 dx rounded (a NaN against any NaN: the two
 * kernels' NaN payloads come from the same operations, but a NaN's payload
 * is not part of the contract), and the partials bit for bit (NaN: any).
 * On a difference *where names the array and *at the element. */
static bool nb_pair_same(const struct nb_pair *c, enum nb_dtype t, const char **where,
			 size_t *at)
{
	size_t total = c->p16.rows * c->n;

	for (size_t i = 0; i < total; i++) {
		float v = nb_f32_at(c->p32.dx, i);
		uint16_t got = nb_bits16(c->p16.dx, i), want = nb_round16(t, v);
		bool nan16 = t == NB_DTYPE_BF16 ? isnan(nb_bf16_to_f32((struct nb_bf16){ got }))
						: isnan(nb_f16_to_f32((struct nb_f16){ got }));

		if (isnan(v) ? !nan16 : got != want) {
			*where = "dx";
			*at = i;
			return false;
		}
	}
	for (int b = 0; b < 2; b++) {
		const void *a16 = b == 0 ? c->p16.dgain : c->p16.dbias;
		const void *a32 = b == 0 ? c->p32.dgain : c->p32.dbias;

		if (!a16)
			continue;
		for (size_t j = 0; j < c->n; j++) {
			float u = nb_f32_at(a16, j), w = nb_f32_at(a32, j);

			if (isnan(u) != isnan(w) ||
			    (!isnan(u) && memcmp(&u, &w, sizeof(u)) != 0)) {
				*where = b == 0 ? "dgain" : "dbias";
				*at = j;
				return false;
			}
		}
	}
	return true;
}

static const size_t nb_widths[] = { 2, 3, 15, 17, 64, 100, 1000, 4096, 4097 };
#define NB_NWIDTHS (sizeof(nb_widths) / sizeof(nb_widths[0]))

/*
 * Every 16-bit backward row kernel (portable, AVX-512, ...) against its f32
 * sibling: widths across the vector and line sizes, aligned and one element
 * off, eps inside and outside, with and without dbias, rows of every kind
 * (outlier channel, large mean, subnormal dx, overflowing squares for bf16),
 * 5 rows on one thread and 130 rows (three 64-row chunks) on two, the 16-bit
 * kernel once with ordinary and once with streaming stores, and a NaN row.
 */
START_TEST(test_bwd16_is_f32_rounded)
{
	size_t count, checked = 0;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i], *k32;

		if (!nb_is_16bit_bwd(k))
			continue;
		k32 = nb_f32_sibling(k);
		NB_CHECK(k32 != NULL, "%s: no f32 sibling in the registry", k->name);
		for (size_t w = 0; w < NB_NWIDTHS; w++)
			for (unsigned combo = 0; combo < 8; combo++) {
				size_t d = nb_widths[w];
				bool big = combo == 7;
				size_t rows = big ? 130 : 5 + combo % 3;
				struct nb_pair c;
				const char *where = "";
				size_t at = 0;

				nb_pair_new(&c, k, rows, d, combo & 1, combo & 2, combo & 4, combo == 6,
					    31 + 7 * w + combo);
				nb_run(k32, &c.p32, big ? 2 : 1, SIZE_MAX);
				nb_run(k, &c.p16, big ? 2 : 1, (combo & 3) == 3 ? 0 : SIZE_MAX);
				NB_CHECK(nb_pair_same(&c, k->dtype, &where, &at),
					 "%s d=%zu combo %u: %s[%zu] is not %s's f32 value rounded "
					 "once", k->name, d, combo, where, at, k32->name);
				nb_pair_free(&c);
				checked++;
			}
	}
	ck_assert_uint_gt(checked, 0);
}
END_TEST

/* The comparison can fail: one dx element one 16-bit ulp off, and one
 * dgain element one f32 ulp off, are caught. */
START_TEST(test_bwd16_check_detects)
{
	const struct nb_kernel *k = nb_kernel_find("rmsnorm_bwd_bf16_portable");
	const struct nb_kernel *k32 = nb_f32_sibling(k);
	struct nb_pair c;
	const char *where = "";
	size_t at = 0;
	uint16_t b;
	float v;

	ck_assert_ptr_nonnull(k);
	ck_assert_ptr_nonnull(k32);
	nb_pair_new(&c, k, 3, 100, 0, true, false, false, 5);
	nb_run(k32, &c.p32, 1, SIZE_MAX);
	nb_run(k, &c.p16, 1, SIZE_MAX);
	ck_assert(nb_pair_same(&c, k->dtype, &where, &at));

	memcpy(&b, (unsigned char *)c.p16.dx + 2 * 150, sizeof(b));
	b ^= 1u;
	memcpy((unsigned char *)c.p16.dx + 2 * 150, &b, sizeof(b));
	ck_assert(!nb_pair_same(&c, k->dtype, &where, &at));
	ck_assert_str_eq(where, "dx");
	ck_assert_uint_eq(at, 150);
	b ^= 1u;
	memcpy((unsigned char *)c.p16.dx + 2 * 150, &b, sizeof(b));

	v = nb_f32_at(c.p16.dgain, 42);
	v = nextafterf(v, INFINITY);
	memcpy((unsigned char *)c.p16.dgain + 4 * 42, &v, sizeof(v));
	ck_assert(!nb_pair_same(&c, k->dtype, &where, &at));
	ck_assert_str_eq(where, "dgain");
	ck_assert_uint_eq(at, 42);
	nb_pair_free(&c);
}
END_TEST

Suite *nb_suite_bwd16(void)
{
	Suite *s = suite_create("bwd16");
	TCase *tc = tcase_create("bwd16");

	tcase_add_test(tc, test_bwd16_is_f32_rounded);
	tcase_add_test(tc, test_bwd16_check_detects);
	suite_add_tcase(s, tc);
	return s;
}
