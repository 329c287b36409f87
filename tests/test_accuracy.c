/* Every registry kernel against the long-double reference with the derived
 * bounds of verify/nb_accuracy (shapes, seeds, alignment, conventions,
 * outlier rows), backward kernels also against finite differences of the
 * long-double forward, and the deliberately poor kernels those bounds must
 * reject. NB_TEST_QUICK=1 runs a smaller sweep (the default under ASan;
 * NB_TEST_QUICK=0 forces the full one). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_dtype.h"
#include "common/nb_problem.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "ref/nb_ref.h"
#include "tests/nb_test.h"
#include "verify/nb_accuracy.h"
#include "verify/nb_data.h"

/* A sanitizer build is several times slower: quick unless told otherwise. */
#if defined(__SANITIZE_ADDRESS__)
#define NB_SANITIZED true
#else
#define NB_SANITIZED false
#endif

static bool nb_quick(void)
{
	const char *e = getenv("NB_TEST_QUICK");

	if (e && *e)
		return strcmp(e, "0") != 0;
	return NB_SANITIZED;
}

/* NB_TEST_VERBOSE=1 prints each kernel's largest error/bound ratio. */
static bool nb_verbose(void)
{
	const char *e = getenv("NB_TEST_VERBOSE");

	return e && *e && strcmp(e, "0") != 0;
}

/* ---- buffers: 64-byte aligned plus an element offset, a guard zone after ---- */

#define NB_GUARD_BYTES ((size_t)64)
#define NB_GUARD_BYTE 0xA5

struct nb_buf {
	unsigned char *raw;
	void *p;
	size_t bytes;
};

/* Outputs start as all-ones bytes: NaN in every dtype, so an element a
 * kernel forgets to write fails the judge. */
static void *nb_buf_alloc(struct nb_buf *b, enum nb_dtype t, size_t count, size_t offset,
			  bool output)
{
	size_t sz = nb_dtype_traits[t].size;
	uintptr_t a;

	b->bytes = count * sz;
	b->raw = malloc(64 + offset * sz + b->bytes + NB_GUARD_BYTES);
	ck_assert_ptr_nonnull(b->raw);
	a = ((uintptr_t)b->raw + 63) & ~(uintptr_t)63;
	b->p = (void *)(a + offset * sz);
	memset(b->p, output ? 0xff : 0, b->bytes);
	memset((unsigned char *)b->p + b->bytes, NB_GUARD_BYTE, NB_GUARD_BYTES);
	return b->p;
}

static bool nb_buf_guard_ok(const struct nb_buf *b)
{
	const unsigned char *g;

	if (!b->raw)
		return true;
	g = (const unsigned char *)b->p + b->bytes;
	for (size_t i = 0; i < NB_GUARD_BYTES; i++)
		if (g[i] != NB_GUARD_BYTE)
			return false;
	return true;
}

static void nb_buf_free(struct nb_buf *b)
{
	free(b->raw);
	memset(b, 0, sizeof(*b));
}

/* ---- one case: data, run, judge ---- */

struct nb_case {
	size_t rows, d, m;            /* m: FlashNorm outputs */
	uint64_t seed;
	enum nb_data_kind kind;
	bool bias;                    /* forward bias, FlashNorm out_bias, backward dbias */
	enum nb_eps_mode eps_mode;
	enum nb_prms_round prms_round;
	double prms_p;
	size_t offset;                /* 0: 64-byte aligned, 1: one element off */
	bool inplace;
};

enum { NB_B_X, NB_B_Y, NB_B_G, NB_B_B, NB_B_DY, NB_B_DX, NB_B_DG, NB_B_DB, NB_B_W,
       NB_B_WF, NB_B_C, NB_B_Z, NB_B_S, NB_B_XSAVE, NB_B_COUNT };

struct nb_setup {
	struct nb_problem p;
	struct nb_buf b[NB_B_COUNT];
};

static void nb_case_print(FILE *f, const struct nb_case *c)
{
	fprintf(f, "  case: %zu rows x d %zu%s, seed %llu, %s data, %s, eps %s, "
		   "pRMSNorm p %g %s, offset %zu element(s)%s\n",
		c->rows, c->d, c->m ? " (FlashNorm m set)" : "", (unsigned long long)c->seed,
		nb_data_kind_name(c->kind), c->bias ? "bias" : "no bias",
		c->eps_mode == NB_EPS_INSIDE ? "inside" : "outside", c->prms_p,
		c->prms_round == NB_PRMS_CEIL ? "ceil" : "floor", c->offset,
		c->inplace ? ", in place" : "");
}

/* Builds the problem of case c for kernel k with seeded data. */
static void nb_setup(struct nb_setup *s, const struct nb_kernel *k, const struct nb_case *c)
{
	enum nb_dtype t = k->dtype, gt = nb_grad_dtype(k->dtype, k->acc);
	size_t n = k->variant == NB_VARIANT_CRMSNORM ? c->d - 1 : c->d;
	struct nb_problem *p = &s->p;
	struct nb_rng rng;
	void *x;

	memset(s, 0, sizeof(*s));
	*p = nb_problem_init(k->variant, t, c->rows, c->d);
	p->conv.eps_mode = c->eps_mode;
	p->conv.prms_round = c->prms_round;
	p->conv.prms_p = c->prms_p;
	nb_rng_seed(&rng, c->seed);
	x = nb_buf_alloc(&s->b[NB_B_X], t, c->rows * n, c->offset, false);
	nb_data_rows(&rng, c->kind, t, x, c->rows, n);
	p->x = x;
	p->gain = nb_buf_alloc(&s->b[NB_B_G], t, n, c->offset, false);
	nb_data_normal(&rng, t, s->b[NB_B_G].p, n, 1.0, 0.25);
	if (k->variant == NB_VARIANT_FLASHNORM) {
		p->m = c->m;
		p->w = nb_buf_alloc(&s->b[NB_B_W], t, n * c->m, c->offset, false);
		nb_data_normal(&rng, t, s->b[NB_B_W].p, n * c->m, 0.0, 1.0 / sqrt((double)n));
		p->w_folded = nb_buf_alloc(&s->b[NB_B_WF], t, n * c->m, c->offset, false);
		ck_assert_int_eq(nb_flashnorm_fold(t, n, c->m, p->gain, p->w,
						   s->b[NB_B_WF].p), NB_OK);
		if (c->bias) {
			p->out_bias = nb_buf_alloc(&s->b[NB_B_C], t, c->m, c->offset, false);
			nb_data_normal(&rng, t, s->b[NB_B_C].p, c->m, 0.0, 0.5);
		}
		p->z = nb_buf_alloc(&s->b[NB_B_Z], t, c->rows * c->m, c->offset, true);
		p->scratch = nb_buf_alloc(&s->b[NB_B_S], t, c->rows * n, c->offset, true);
	} else if (k->dir == NB_DIR_FORWARD) {
		if (c->bias) {
			p->bias = nb_buf_alloc(&s->b[NB_B_B], t, n, c->offset, false);
			nb_data_normal(&rng, t, s->b[NB_B_B].p, n, 0.0, 0.5);
		}
		if (c->inplace) {
			nb_buf_alloc(&s->b[NB_B_XSAVE], t, c->rows * n, 0, false);
			memcpy(s->b[NB_B_XSAVE].p, x, s->b[NB_B_X].bytes);
			p->y = x;
		} else {
			p->y = nb_buf_alloc(&s->b[NB_B_Y], t, c->rows * n, c->offset, true);
		}
	} else {
		p->dy = nb_buf_alloc(&s->b[NB_B_DY], t, c->rows * n, c->offset, false);
		nb_data_normal(&rng, t, s->b[NB_B_DY].p, c->rows * n, 0.0, 1.0);
		p->dx = nb_buf_alloc(&s->b[NB_B_DX], t, c->rows * n, c->offset, true);
		p->dgain = nb_buf_alloc(&s->b[NB_B_DG], gt, n, c->offset, true);
		if (c->bias)
			p->dbias = nb_buf_alloc(&s->b[NB_B_DB], gt, n, c->offset, true);
	}
}

static void nb_setup_free(struct nb_setup *s)
{
	for (int i = 0; i < NB_B_COUNT; i++)
		nb_buf_free(&s->b[i]);
}

static bool nb_guards_ok(const struct nb_setup *s)
{
	for (int i = 0; i < NB_B_COUNT; i++)
		if (!nb_buf_guard_ok(&s->b[i]))
			return false;
	return true;
}

/* Runs k on case c and judges it against ref/. Prints the report when the
 * verdict differs from expect_pass; returns the verdict (false also for an
 * error or a guard-zone overrun). */
static bool nb_run_case(const struct nb_kernel *k, const struct nb_case *c, bool expect_pass,
			struct nb_accuracy_report *rep_out)
{
	struct nb_setup s;
	struct nb_accuracy_report rep;
	struct nb_problem q;
	enum nb_status st;
	bool ok = false, judged = false;

	memset(&rep, 0, sizeof(rep));
	nb_setup(&s, k, c);
	st = nb_kernel_prepare(k, &s.p);
	if (st == NB_OK)
		st = nb_kernel_run(k, &s.p, NULL);
	if (st != NB_OK) {
		fprintf(stderr, "%s: %s: %s\n", k->name, nb_status_name(st), nb_error());
		goto out;
	}
	if (!nb_guards_ok(&s)) {
		fprintf(stderr, "%s: wrote past the end of an output (guard zone)\n", k->name);
		goto out;
	}
	q = s.p;
	if (c->inplace)
		q.x = s.b[NB_B_XSAVE].p;
	st = nb_accuracy_check(k, &q, &rep);
	if (st != NB_OK) {
		fprintf(stderr, "%s: judge: %s: %s\n", k->name, nb_status_name(st), nb_error());
		goto out;
	}
	judged = true;
	ok = rep.pass;
out:
	if (ok != expect_pass) {
		if (judged)
			nb_accuracy_print(stderr, k, &q, &rep);
		nb_case_print(stderr, c);
	}
	if (rep_out)
		*rep_out = rep;
	nb_setup_free(&s);
	return ok;
}

static const size_t nb_widths[] = { 1, 2, 3, 7, 64, 100, 1000, 4095, 4097 };
#define NB_NWIDTHS (sizeof(nb_widths) / sizeof(nb_widths[0]))

/* combo bits: 1 bias, 2 eps outside, 4 outlier data; NB_TEST_QUICK keeps
 * four combos that still flip every bit */
static bool nb_combo_wanted(unsigned combo)
{
	return !nb_quick() || combo == 0 || combo == 3 || combo == 5 || combo == 6;
}

/* Whether k runs case c's conventions (an external entry, oneDNN: eps
 * inside the root only). */
static bool nb_case_runs(const struct nb_kernel *k, const struct nb_case *c)
{
	struct nb_conventions conv = NB_CONVENTIONS_DEFAULT;

	conv.eps_mode = c->eps_mode;
	return nb_kernel_conventions_ok(k, &conv);
}

static struct nb_case nb_make_case(size_t wi, unsigned combo, unsigned s, size_t d)
{
	struct nb_case c;

	memset(&c, 0, sizeof(c));
	c.d = d;
	c.rows = 1 + (wi + combo + s) % 5;
	c.bias = combo & 1;
	c.eps_mode = (combo & 2) ? NB_EPS_OUTSIDE : NB_EPS_INSIDE;
	c.kind = (combo & 4) ? NB_DATA_OUTLIER : NB_DATA_GAUSSIAN;
	c.offset = (wi + combo + s) & 1;
	c.prms_round = (((wi + combo) >> 1) & 1) ? NB_PRMS_FLOOR : NB_PRMS_CEIL;
	c.prms_p = wi % 3 == 2 ? 0.3 : 0.0625;
	c.seed = 1000003ull * (s + 1) + 7919ull * d + combo;
	return c;
}

static const struct nb_kernel *nb_entry(int i)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	ck_assert_uint_lt((size_t)i, count);
	return &ks[i];
}

/* Elements whose bound was infinite (a degenerate row: nothing could be
 * guaranteed there) are counted and shown with NB_TEST_VERBOSE. */
static size_t nb_unbounded(const struct nb_accuracy_report *rep)
{
	size_t u = 0;

	for (size_t i = 0; i < rep->nparts; i++)
		u += rep->part[i].unbounded;
	return u;
}

/* One kernel's sweep: cases, failures, the worst err/bound, unbounded
 * elements. */
struct nb_sweep {
	int cases, failed;
	double worst;
	size_t unbounded;
};

static void nb_sweep_add(struct nb_sweep *sw, bool pass, const struct nb_accuracy_report *rep)
{
	sw->cases++;
	if (!pass)
		sw->failed++;
	if (rep->max_ratio > sw->worst)
		sw->worst = rep->max_ratio;
	sw->unbounded += nb_unbounded(rep);
}

static void nb_report_sweep(const struct nb_kernel *k, const struct nb_sweep *sw)
{
	if (nb_verbose())
		printf("%-36s %4d cases, max err/bound %.6g, %zu unbounded elements\n", k->name,
		       sw->cases, sw->worst, sw->unbounded);
	ck_assert_msg(sw->failed == 0, "%s: %d of %d cases beyond the derived bound (reports "
		      "on stderr)", k->name, sw->failed, sw->cases);
}

/* Forward kernels (not FlashNorm), loop index = registry index. */
START_TEST(test_forward_kernel)
{
	const struct nb_kernel *k = nb_entry(_i);
	unsigned seeds = nb_quick() ? 1 : 2;
	struct nb_sweep sw = { 0 };

	if (k->dir != NB_DIR_FORWARD || k->variant == NB_VARIANT_FLASHNORM ||
	    !nb_isa_usable(k->isa))
		return;
	for (size_t wi = 0; wi < NB_NWIDTHS; wi++)
		for (unsigned combo = 0; combo < 8; combo++)
			for (unsigned s = 0; s < seeds; s++) {
				struct nb_case c = nb_make_case(wi, combo, s, nb_widths[wi]);
				struct nb_accuracy_report rep;

				if (!nb_combo_wanted(combo) || !nb_case_runs(k, &c) ||
				    (k->variant == NB_VARIANT_CRMSNORM && c.d < 2))
					continue;
				c.inplace = k->inplace_ok && (combo + wi) % 4 == 1;
				nb_sweep_add(&sw, nb_run_case(k, &c, true, &rep), &rep);
			}
	nb_report_sweep(k, &sw);
}
END_TEST

/* Backward kernels: the same sweep, plus 70 rows (two row chunks of the
 * driver's deterministic dgain/dbias reduction). */
START_TEST(test_backward_kernel)
{
	const struct nb_kernel *k = nb_entry(_i);
	unsigned seeds = nb_quick() ? 1 : 2;
	struct nb_sweep sw = { 0 };

	if (k->dir != NB_DIR_BACKWARD || !nb_isa_usable(k->isa))
		return;
	for (size_t wi = 0; wi <= NB_NWIDTHS; wi++)
		for (unsigned combo = 0; combo < 8; combo++)
			for (unsigned s = 0; s < seeds; s++) {
				size_t d = wi < NB_NWIDTHS ? nb_widths[wi] : 64;
				struct nb_case c = nb_make_case(wi, combo, s, d);
				struct nb_accuracy_report rep;

				if (!nb_combo_wanted(combo) || !nb_case_runs(k, &c) ||
				    (k->variant == NB_VARIANT_CRMSNORM && c.d < 2))
					continue;
				if (wi == NB_NWIDTHS) {
					if (combo > 1 || s > 0)
						continue;
					c.rows = 70;
				}
				nb_sweep_add(&sw, nb_run_case(k, &c, true, &rep), &rep);
			}
	nb_report_sweep(k, &sw);
}
END_TEST

/* FlashNorm entries against nb_ref_flashnorm (RMSNorm then the unfolded W). */
START_TEST(test_flashnorm_kernel)
{
	static const size_t shapes[][2] = { { 1, 1 }, { 7, 5 }, { 64, 3 }, { 100, 64 },
					    { 1000, 17 } };
	const struct nb_kernel *k = nb_entry(_i);
	unsigned seeds = nb_quick() ? 1 : 2;
	struct nb_sweep sw = { 0 };

	if (k->variant != NB_VARIANT_FLASHNORM || !nb_isa_usable(k->isa))
		return;
	for (size_t si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++)
		for (unsigned combo = 0; combo < 8; combo++)
			for (unsigned s = 0; s < seeds; s++) {
				struct nb_case c = nb_make_case(si, combo, s, shapes[si][0]);
				struct nb_accuracy_report rep;

				if (!nb_combo_wanted(combo))
					continue;
				c.m = shapes[si][1];
				nb_sweep_add(&sw, nb_run_case(k, &c, true, &rep), &rep);
			}
	nb_report_sweep(k, &sw);
}
END_TEST

/* ---- the deliberately poor kernels: the same bounds must reject them ---- */

/*
 * RMSNorm, f32 storage, that keeps its sum of squares in f16: every partial
 * sum is rounded to f16 (nb_f32_to_f16), the rest is a correct f32 kernel.
 * Registered below as accumulating in f32, so it is judged by exactly the
 * bound the real f32 kernels get. Its error: each partial sum near s has
 * an f16 spacing of ~s 2^-10; over d ~ 1000 Gaussian squares the sum drifts
 * by ~sqrt(d) spacings plus a bias (squares below half a spacing are
 * dropped), i.e. ~1e-3 relative, while the f32 bound at d = 1024 is
 * ~2 (d u_a) ~ 1.2e-4 relative on r.
 */
static void nb_poor_rmsnorm_f16acc(const struct nb_problem *p, size_t row_begin,
				   size_t row_end, void *dgain_part, void *dbias_part)
{
	const float *x = p->x, *g = p->gain, *b = p->bias;
	float *y = p->y;
	float eps = (float)p->conv.eps;

	(void)dgain_part;
	(void)dbias_part;
	for (size_t row = row_begin; row < row_end; row++) {
		const float *xr = x + row * p->n;
		float *yr = y + row * p->n;
		struct nb_f16 s = nb_f32_to_f16(0.0f);
		float ms, r;

		for (size_t j = 0; j < p->n; j++)
			s = nb_f32_to_f16(nb_f16_to_f32(s) + xr[j] * xr[j]);
		ms = nb_f16_to_f32(s) / (float)p->n;
		r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0f / sqrtf(ms + eps)
						      : 1.0f / (sqrtf(ms) + eps);
		for (size_t j = 0; j < p->n; j++)
			yr[j] = xr[j] * r * g[j] + (b ? b[j] : 0.0f);
	}
}

/* LayerNorm with var = E[x^2] - mu^2 in f32 (what SPEC forbids): on rows
 * with |mu| = 1000 sigma the two sums cancel to a few digits. */
static void nb_poor_layernorm_onepass(const struct nb_problem *p, size_t row_begin,
				      size_t row_end, void *dgain_part, void *dbias_part)
{
	const float *x = p->x, *g = p->gain, *b = p->bias;
	float *y = p->y;
	float eps = (float)p->conv.eps;

	(void)dgain_part;
	(void)dbias_part;
	for (size_t row = row_begin; row < row_end; row++) {
		const float *xr = x + row * p->n;
		float *yr = y + row * p->n;
		float s = 0.0f, s2 = 0.0f, mu, var, r;

		for (size_t j = 0; j < p->n; j++) {
			s += xr[j];
			s2 += xr[j] * xr[j];
		}
		mu = s / (float)p->n;
		var = s2 / (float)p->n - mu * mu;
		r = 1.0f / sqrtf(var + eps);
		for (size_t j = 0; j < p->n; j++)
			yr[j] = (xr[j] - mu) * r * g[j] + (b ? b[j] : 0.0f);
	}
}

static const struct nb_kernel nb_poor_rms = {
	"rmsnorm_fwd_f32_f16acc_POOR", NB_VARIANT_RMSNORM, NB_DIR_FORWARD, NB_DTYPE_F32,
	NB_DTYPE_F32, NB_ISA_PORTABLE, "twopass", 2, false, false, nb_poor_rmsnorm_f16acc
};

static const struct nb_kernel nb_poor_ln = {
	"layernorm_fwd_f32_onepass_POOR", NB_VARIANT_LAYERNORM, NB_DIR_FORWARD, NB_DTYPE_F32,
	NB_DTYPE_F32, NB_ISA_PORTABLE, "twopass", 2, false, false, nb_poor_layernorm_onepass
};

START_TEST(test_poor_f16_accumulation_fails)
{
	static const size_t widths[] = { 1024, 4096 };
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	int real = 0;

	for (size_t wi = 0; wi < 2; wi++)
		for (unsigned seed = 1; seed <= 3; seed++) {
			struct nb_case c;
			struct nb_accuracy_report rep;

			memset(&c, 0, sizeof(c));
			c.rows = 4;
			c.d = widths[wi];
			c.seed = 77 * seed + widths[wi];
			c.kind = NB_DATA_GAUSSIAN;
			c.eps_mode = NB_EPS_INSIDE;
			c.prms_p = 0.0625;
			ck_assert_msg(!nb_run_case(&nb_poor_rms, &c, false, &rep),
				      "f16-accumulating RMSNorm passed the f32 bound at d = %zu, seed %u",
				      c.d, seed);
			if (nb_verbose())
				printf("poor f16-acc RMSNorm d=%zu seed %u: max err/bound %.3g, "
				       "%.3g ulp\n", c.d, seed, rep.max_ratio, rep.max_ulps);
			/* the real f32 RMSNorm kernels pass the same bound on the same rows */
			for (size_t i = 0; i < count; i++) {
				const struct nb_kernel *k = &ks[i];

				if (k->variant != NB_VARIANT_RMSNORM || k->dir != NB_DIR_FORWARD ||
				    k->dtype != NB_DTYPE_F32 || !nb_isa_usable(k->isa))
					continue;
				ck_assert_msg(nb_run_case(k, &c, true, NULL),
					      "%s fails where only the poor kernel should", k->name);
				real++;
			}
		}
	ck_assert_msg(real > 0, "no real f32 RMSNorm kernel to compare with");
}
END_TEST

START_TEST(test_poor_onepass_variance_fails)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (unsigned seed = 1; seed <= 3; seed++) {
		struct nb_setup s;
		struct nb_accuracy_report rep;
		struct nb_case c;
		struct nb_rng rng;

		memset(&c, 0, sizeof(c));
		c.rows = 8;
		c.d = 1024;
		c.seed = seed;
		c.eps_mode = NB_EPS_INSIDE;
		c.prms_p = 0.0625;
		/* rows N(1000, 1): mean 1000 sigma */
		for (size_t i = 0; i <= count; i++) {
			const struct nb_kernel *k = i < count ? &ks[i] : &nb_poor_ln;
			bool poor = i == count;

			if (!poor && (k->variant != NB_VARIANT_LAYERNORM ||
				      k->dir != NB_DIR_FORWARD || k->dtype != NB_DTYPE_F32 ||
				      !nb_isa_usable(k->isa)))
				continue;
			nb_setup(&s, k, &c);
			nb_rng_seed(&rng, 4242 + seed);
			nb_data_normal(&rng, NB_DTYPE_F32, (void *)s.p.x, c.rows * c.d, 1000.0, 1.0);
			ck_assert_int_eq(nb_kernel_prepare(k, &s.p), NB_OK);
			ck_assert_int_eq(nb_kernel_run(k, &s.p, NULL), NB_OK);
			ck_assert_int_eq(nb_accuracy_check(k, &s.p, &rep), NB_OK);
			if (rep.pass == poor)
				nb_accuracy_print(stderr, k, &s.p, &rep);
			if (nb_verbose())
				printf("%s on mean-1000 rows: max err/bound %.3g\n", k->name,
				       rep.max_ratio);
			ck_assert_msg(rep.pass != poor, "%s: %s on |mu| = 1000 sigma rows", k->name,
				      poor ? "E[x^2]-mu^2 passed" : "failed");
			nb_setup_free(&s);
		}
	}
}
END_TEST

/* ---- the judge's own behaviour ---- */

START_TEST(test_judge_finds_worst_element)
{
	const struct nb_kernel *k = nb_kernel_find("rmsnorm_fwd_f32_portable");
	struct nb_case c;
	struct nb_setup s;
	struct nb_accuracy_report rep;
	float *y;

	ck_assert_ptr_nonnull(k);
	memset(&c, 0, sizeof(c));
	c.rows = 3;
	c.d = 64;
	c.seed = 5;
	c.prms_p = 0.0625;
	nb_setup(&s, k, &c);
	ck_assert_int_eq(nb_kernel_prepare(k, &s.p), NB_OK);
	ck_assert_int_eq(nb_kernel_run(k, &s.p, NULL), NB_OK);
	ck_assert_int_eq(nb_accuracy_check(k, &s.p, &rep), NB_OK);
	ck_assert(rep.pass);
	ck_assert_uint_eq(rep.part[0].count, 3 * 64);
	ck_assert(rep.max_ratio <= 1.0);

	/* one element off by 1e-3 (thousands of its ulps): found, and only it */
	y = s.p.y;
	y[1 * 64 + 5] += 1e-3f;
	ck_assert_int_eq(nb_accuracy_check(k, &s.p, &rep), NB_OK);
	ck_assert(!rep.pass);
	ck_assert_uint_eq(rep.part[0].failed, 1);
	ck_assert_uint_eq(rep.part[0].worst_row, 1);
	ck_assert_uint_eq(rep.part[0].worst_col, 5);
	ck_assert(rep.part[0].worst_ulps > 1000.0);
	ck_assert(rep.max_ratio > 1.0);

	/* a NaN where the reference is a number fails */
	y[1 * 64 + 5] = NAN;
	ck_assert_int_eq(nb_accuracy_check(k, &s.p, &rep), NB_OK);
	ck_assert(!rep.pass);
	ck_assert_uint_eq(rep.part[0].failed, 1);
	ck_assert(isinf(rep.max_ulps));

	/* a zero row with eps = 0: r = 1/0, y = 0 * inf is NaN in the
	 * reference and must be NaN in the kernel: accepted */
	memset((void *)s.p.x, 0, 64 * sizeof(float));
	s.p.conv.eps = 0.0;
	ck_assert_int_eq(nb_kernel_run(k, &s.p, NULL), NB_OK);
	ck_assert(isnan(y[0]));
	ck_assert_int_eq(nb_accuracy_check(k, &s.p, &rep), NB_OK);
	ck_assert(rep.pass);
	nb_setup_free(&s);
}
END_TEST

START_TEST(test_ulps_special_values)
{
	ck_assert(nb_ulp_of(NB_DTYPE_F32, 1.0L) == 0x1p-23L);
	ck_assert(nb_ulp_of(NB_DTYPE_F32, 0.99L) == 0x1p-24L);
	ck_assert(nb_ulp_of(NB_DTYPE_F64, 1.0L) == 0x1p-52L);
	ck_assert(nb_ulp_of(NB_DTYPE_F16, 1.0L) == 0x1p-10L);
	ck_assert(nb_ulp_of(NB_DTYPE_BF16, 1.0L) == 0x1p-7L);
	/* zero and subnormals: the subnormal spacing */
	ck_assert(nb_ulp_of(NB_DTYPE_F16, 0.0L) == 0x1p-24L);
	ck_assert(nb_ulp_of(NB_DTYPE_F16, 0x1p-20L) == 0x1p-24L);
	ck_assert(nb_ulp_of(NB_DTYPE_F32, 0x1p-140L) == 0x1p-149L);
	ck_assert(nb_ulp_of(NB_DTYPE_BF16, 1e-40L) == 0x1p-133L);
	/* beyond the range: the top binade's spacing */
	ck_assert(nb_ulp_of(NB_DTYPE_F16, 1e6L) == 32.0L);

	ck_assert(nb_ulp_error(NB_DTYPE_F32, 1.0, 1.0L + 0x1p-23L) == 1.0);
	ck_assert(nb_ulp_error(NB_DTYPE_F32, 1.0, 1.0L + 0x1p-24L) == 0.5);
	ck_assert(nb_ulp_error(NB_DTYPE_F32, 0.0, 0x1p-149L) == 1.0);
	ck_assert(nb_ulp_error(NB_DTYPE_F32, -0.0, 0.0L) == 0.0);
	ck_assert(nb_ulp_error(NB_DTYPE_F32, NAN, (long double)NAN) == 0.0);
	ck_assert(isinf(nb_ulp_error(NB_DTYPE_F32, 1.0, (long double)NAN)));
	ck_assert(isinf(nb_ulp_error(NB_DTYPE_F32, NAN, 1.0L)));
	ck_assert(nb_ulp_error(NB_DTYPE_F32, -INFINITY, -(long double)INFINITY) == 0.0);
	ck_assert(isinf(nb_ulp_error(NB_DTYPE_F32, INFINITY, -(long double)INFINITY)));
	ck_assert(isinf(nb_ulp_error(NB_DTYPE_F32, 3.0, (long double)INFINITY)));
	/* f16 overflow: 70000 rounds to inf, so inf is exact; against 65504
	 * (the largest finite) inf is one step away */
	ck_assert(nb_ulp_error(NB_DTYPE_F16, INFINITY, 70000.0L) == 0.0);
	ck_assert(nb_ulp_error(NB_DTYPE_F16, INFINITY, 65504.0L) == 1.0);
	/* the wrong infinity counts as -2^16: 4235.5 ulps (32 each) from 70000 */
	ck_assert(nb_ulp_error(NB_DTYPE_F16, -INFINITY, 70000.0L) == 4235.5);
}
END_TEST

/* ---- backward against central finite differences of nb_ref_forward ---- */

static long double nb_gamma_ld(long double n, long double u)
{
	return n * u < 1.0L ? n * u / (1.0L - n * u) : (long double)HUGE_VAL;
}

/*
 * L = sum dy * y over the rows of the f64 problem fp, by nb_ref_forward,
 * and a bound on |L^ - L|: y^ is within SLACK * (ref bound) of y
 * (nb_accuracy_bounds with no kernel), and the dot product in long double
 * adds gamma_N(u) sum |dy| |y^|.
 */
static long double nb_fd_loss(const struct nb_problem *fp, const long double *dy, long double *y,
			      long double *yb, long double *delta)
{
	size_t c = fp->rows * fp->n;
	long double l = 0.0L, a = 0.0L, e = 0.0L;

	ck_assert_int_eq(nb_ref_forward(fp, y, NULL, NULL), NB_OK);
	ck_assert_int_eq(nb_accuracy_bounds(fp, NULL, NB_OUT_Y, yb), NB_OK);
	for (size_t j = 0; j < c; j++) {
		l += dy[j] * y[j];
		e += fabsl(dy[j]) * NB_ACCURACY_SLACK * yb[j];
		a += fabsl(dy[j]) * (fabsl(y[j]) + NB_ACCURACY_SLACK * yb[j]);
	}
	*delta = e + nb_gamma_ld((long double)c, NB_REF_UNIT_ROUNDOFF) * a;
	return l;
}

/*
 * Along x_i (one row, everything else fixed), L(t) = Num(t) R(t) + const
 * with Num(t) = B + b t linear and R = q(t)^(-1/2) (eps inside) or
 * 1/(sqrt(q(t)) + eps) (outside), q(t) = alpha t^2 + beta t + q0 >= 0:
 *   LayerNorm: c_j(t) = c_j - t/n + t[j=i]: q = var(t) (+eps),
 *     alpha = (n-1)/n^2, beta = 2 c_i/n, q0 = var (+eps);
 *     B = sum dyh c, b = dyh_i - mean(dyh)
 *   RMSNorm/pRMSNorm (i < N, else alpha = beta = 0): alpha = 1/N,
 *     beta = 2 x_i/N, q0 = sum_{j<N} x_j^2 / N (+eps); B = sum dyh x, b = dyh_i
 *   CRMSNorm: both sum x'^2 and s = sum x' move: alpha = 2/d,
 *     beta = 2(x'_i + s)/d, q0 = (sum x'^2 + s^2)/d (+eps); B, b as RMSNorm
 * (dyh = dy*g). The roots of q are t* +- i c with |root| = rho =
 * sqrt(q0/alpha); R is analytic off those and their branch cut, which lie
 * at distance >= rho from 0 (for eps outside, |sqrt(q) + eps| >= sqrt|q|
 * since Re sqrt(q) >= 0). For |t0| <= h <= rho/4 the circle |t - t0| =
 * rho/2 stays within 3 rho/4 of 0, where |q| >= alpha (rho/4)^2, so
 * |L| <= K = (|B| + |b| 3rho/4) / (sqrt(alpha) rho/4) on it, and Cauchy's
 * estimate gives |L'''(t0)| <= 3! K / (rho/2)^3 = 48 K / rho^3. The
 * central difference's truncation error is h^2/6 max|L'''| <= 8 h^2 K/rho^3.
 * Its rounding error is (delta+ + delta-)/(2h) plus the subtraction's
 * rounding 2u|D|. With h = 2^(floor(log2 rho) - 20): truncation ~ 2^-37
 * K/rho, rounding ~ 2^20 n 2^-64 |L|/rho: both far below an f32 kernel's
 * bound; for f64 kernels the FD error dominates (~1e-11 relative) and the
 * FD check only confirms the formula -- the tight f64 check is against
 * nb_ref_backward.
 */
struct nb_fd_quad {
	long double alpha, beta, q0, big_b, small_b;
};

static struct nb_fd_quad nb_fd_quadratic(const struct nb_problem *fp, const long double *x,
					 const long double *dyh, size_t i)
{
	struct nb_fd_quad q = { 0 };
	size_t n = fp->n;
	long double ln = (long double)n, eps_in = fp->conv.eps_mode == NB_EPS_INSIDE
		? (long double)fp->conv.eps : 0.0L;

	if (fp->variant == NB_VARIANT_LAYERNORM) {
		long double mu = 0.0L, var = 0.0L, mdy = 0.0L;

		for (size_t j = 0; j < n; j++) {
			mu += x[j];
			mdy += dyh[j];
		}
		mu /= ln;
		mdy /= ln;
		for (size_t j = 0; j < n; j++) {
			var += (x[j] - mu) * (x[j] - mu);
			q.big_b += dyh[j] * (x[j] - mu);
		}
		var /= ln;
		q.alpha = (ln - 1.0L) / (ln * ln);
		q.beta = 2.0L * (x[i] - mu) / ln;
		q.q0 = var + eps_in;
		q.small_b = dyh[i] - mdy;
	} else if (fp->variant == NB_VARIANT_CRMSNORM) {
		long double s = 0.0L, sq = 0.0L, dd = (long double)fp->d;

		for (size_t j = 0; j < n; j++) {
			s += x[j];
			sq += x[j] * x[j];
			q.big_b += dyh[j] * x[j];
		}
		q.alpha = 2.0L / dd;
		q.beta = 2.0L * (x[i] + s) / dd;
		q.q0 = (sq + s * s) / dd + eps_in;
		q.small_b = dyh[i];
	} else {
		size_t nn = fp->variant == NB_VARIANT_PRMSNORM ? fp->k : n;
		long double sq = 0.0L;

		for (size_t j = 0; j < nn; j++)
			sq += x[j] * x[j];
		for (size_t j = 0; j < n; j++)
			q.big_b += dyh[j] * x[j];
		if (i < nn) {
			q.alpha = 1.0L / (long double)nn;
			q.beta = 2.0L * x[i] / (long double)nn;
		}
		q.q0 = sq / (long double)nn + eps_in;
		q.small_b = dyh[i];
	}
	return q;
}

/* A power-of-two step h with v +- h exact in double (v has at most 24
 * significant bits). */
static bool nb_fd_step_exact(double v, long double h)
{
	double vp = v + (double)h, vm = v - (double)h;

	return (long double)vp - (long double)v == h && (long double)v - (long double)vm == h;
}

struct nb_fd_out {
	long double *dx, *dx_err, *dg, *dg_err, *db, *db_err;
};

/* FD gradients of L = sum dy*y w.r.t. x (per row), gain and bias, with
 * their error bounds; fx/fg/fb are the f64 copies of the kernel's inputs. */
static void nb_fd_gradients(const struct nb_problem *kp, double *fx, double *fg, double *fb,
			    const long double *dy, struct nb_fd_out *o)
{
	size_t n = kp->n, rows = kp->rows;
	struct nb_problem fp = nb_problem_init(kp->variant, NB_DTYPE_F64, rows, kp->d);
	struct nb_problem f1;
	long double *y = malloc(rows * n * sizeof(*y)), *yb = malloc(rows * n * sizeof(*yb));
	long double *xl = malloc(n * sizeof(*xl)), *dyh = malloc(n * sizeof(*dyh));
	double *ydummy = malloc(rows * n * sizeof(*ydummy));
	long double u = NB_REF_UNIT_ROUNDOFF;

	ck_assert(y && yb && xl && dyh && ydummy);
	fp.conv = kp->conv;
	fp.x = fx;
	fp.gain = fg;
	fp.bias = fb;
	fp.y = ydummy;
	ck_assert_int_eq(nb_problem_check(&fp, NB_DIR_FORWARD), NB_OK);

	/* dx: one row at a time, moving x_i */
	for (size_t row = 0; row < rows; row++) {
		double *xr = fx + row * n;

		f1 = fp;
		f1.rows = 1;
		f1.x = xr;
		for (size_t j = 0; j < n; j++) {
			xl[j] = xr[j];
			dyh[j] = dy[row * n + j] * fg[j];
		}
		for (size_t i = 0; i < n; i++) {
			struct nb_fd_quad q = nb_fd_quadratic(&f1, xl, dyh, i);
			long double h, trunc = 0.0L, lp, lm, dp, dm, dv;
			double xi = xr[i];

			if (q.alpha > 0.0L) {
				long double rho = sqrtl(q.q0 / q.alpha);
				long double kk;

				ck_assert_msg(rho > 0.0L, "FD precondition: q has a root at x_%zu", i);
				h = ldexpl(1.0L, ilogbl(rho) - 20);
				kk = (fabsl(q.big_b) + fabsl(q.small_b) * 0.75L * rho) /
				     (sqrtl(q.alpha) * 0.25L * rho);
				trunc = 8.0L * h * h * kk / (rho * rho * rho);
			} else {
				/* L is linear in x_i: no truncation error */
				h = ldexpl(1.0L, ilogbl(fmaxl(fabsl(xl[i]), 0x1p-10L)) - 4);
			}
			ck_assert_msg(nb_fd_step_exact(xi, h), "FD precondition: x_%zu +- h inexact", i);
			xr[i] = xi + (double)h;
			lp = nb_fd_loss(&f1, dy + row * n, y, yb, &dp);
			xr[i] = xi - (double)h;
			lm = nb_fd_loss(&f1, dy + row * n, y, yb, &dm);
			xr[i] = xi;
			dv = (lp - lm) / (2.0L * h);
			o->dx[row * n + i] = dv;
			o->dx_err[row * n + i] = trunc + (dp + dm) / (2.0L * h) + 2.0L * u * fabsl(dv);
		}
	}
	/* dgain, dbias: L is linear in g_j and in b_j: rounding error only */
	for (int which = 0; which < 2; which++) {
		double *v = which == 0 ? fg : fb;
		long double *out = which == 0 ? o->dg : o->db;
		long double *err = which == 0 ? o->dg_err : o->db_err;

		if (!out)
			continue;
		for (size_t j = 0; j < n; j++) {
			double vj = v[j];
			long double h = ldexpl(1.0L, ilogbl(fmaxl(fabsl((long double)vj), 0x1p-10L)) - 4);
			long double lp, lm, dp, dm, dv;

			ck_assert(nb_fd_step_exact(vj, h));
			v[j] = vj + (double)h;
			lp = nb_fd_loss(&fp, dy, y, yb, &dp);
			v[j] = vj - (double)h;
			lm = nb_fd_loss(&fp, dy, y, yb, &dm);
			v[j] = vj;
			dv = (lp - lm) / (2.0L * h);
			out[j] = dv;
			err[j] = (dp + dm) / (2.0L * h) + 2.0L * u * fabsl(dv);
		}
	}
	free(ydummy);
	free(dyh);
	free(xl);
	free(yb);
	free(y);
}

/* Runs backward kernel k on a small case and judges dx/dgain/dbias against
 * the FD gradients, error <= SLACK*(kernel bound + ref bound) + FD error. */
static void nb_fd_judge(const struct nb_kernel *k, const struct nb_case *c, bool expect_pass,
			struct nb_accuracy_report *rep)
{
	struct nb_setup s;
	struct nb_problem *p = &s.p;
	size_t n, rows = c->rows;
	double *fx, *fg, *fb;
	long double *dy, *mem;
	struct nb_fd_out o;
	struct nb_accuracy_ref ref;
	struct nb_rng rng;

	nb_setup(&s, k, c);
	n = k->variant == NB_VARIANT_CRMSNORM ? c->d - 1 : c->d;
	/* inputs with at most 24 significant bits, so x +- h is exact in the
	 * f64 problem whatever the kernel dtype */
	nb_rng_seed(&rng, c->seed ^ 0x5eedu);
	for (size_t i = 0; i < rows * n; i++) {
		nb_dtype_store(p->dtype, (void *)p->x, i, (double)(float)nb_rng_normal(&rng));
		nb_dtype_store(p->dtype, (void *)p->dy, i, (double)(float)nb_rng_normal(&rng));
	}
	for (size_t j = 0; j < n; j++)
		nb_dtype_store(p->dtype, (void *)p->gain, j,
			       (double)(float)(1.0 + 0.25 * nb_rng_normal(&rng)));
	fx = malloc(rows * n * sizeof(*fx));
	fg = malloc(n * sizeof(*fg));
	fb = malloc(n * sizeof(*fb));
	dy = malloc(rows * n * sizeof(*dy));
	mem = malloc((2 * rows * n + 4 * n) * sizeof(*mem));
	ck_assert(fx && fg && fb && dy && mem);
	for (size_t i = 0; i < rows * n; i++) {
		fx[i] = nb_dtype_load(p->dtype, p->x, i);
		dy[i] = nb_dtype_load(p->dtype, p->dy, i);
	}
	for (size_t j = 0; j < n; j++) {
		fg[j] = nb_dtype_load(p->dtype, p->gain, j);
		fb[j] = (double)(float)(0.5 * nb_rng_normal(&rng));
	}

	ck_assert_int_eq(nb_kernel_prepare(k, p), NB_OK);
	ck_assert_int_eq(nb_kernel_run(k, p, NULL), NB_OK);
	ck_assert(nb_guards_ok(&s));

	o.dx = mem;
	o.dx_err = mem + rows * n;
	o.dg = mem + 2 * rows * n;
	o.dg_err = o.dg + n;
	o.db = p->dbias ? o.dg + 2 * n : NULL;
	o.db_err = o.dg + 3 * n;
	nb_fd_gradients(p, fx, fg, fb, dy, &o);

	memset(&ref, 0, sizeof(ref));
	ref.val[NB_OUT_DX] = o.dx;
	ref.err[NB_OUT_DX] = o.dx_err;
	ref.val[NB_OUT_DGAIN] = o.dg;
	ref.err[NB_OUT_DGAIN] = o.dg_err;
	ref.val[NB_OUT_DBIAS] = o.db;
	ref.err[NB_OUT_DBIAS] = o.db_err;
	ck_assert_int_eq(nb_accuracy_judge(k, p, &ref, rep), NB_OK);
	if (rep->pass != expect_pass)
		nb_accuracy_print(stderr, k, p, rep);
	free(mem);
	free(dy);
	free(fb);
	free(fg);
	free(fx);
	nb_setup_free(&s);
}

START_TEST(test_backward_finite_differences)
{
	static const size_t widths[] = { 1, 2, 3, 7, 16, 64 };
	const struct nb_kernel *k = nb_entry(_i);
	struct nb_sweep sw = { 0 };

	if (k->dir != NB_DIR_BACKWARD || !nb_isa_usable(k->isa))
		return;
	for (size_t wi = 0; wi < sizeof(widths) / sizeof(widths[0]); wi++)
		for (unsigned combo = 0; combo < 4; combo++) {
			struct nb_case c;
			struct nb_accuracy_report rep;

			if (nb_quick() && (combo == 1 || combo == 2))
				continue;
			if (k->variant == NB_VARIANT_CRMSNORM && widths[wi] < 2)
				continue;
			memset(&c, 0, sizeof(c));
			c.d = widths[wi];
			c.rows = 1 + 2 * ((wi + combo) & 1);
			c.bias = combo & 1;
			c.eps_mode = (combo & 2) ? NB_EPS_OUTSIDE : NB_EPS_INSIDE;
			c.prms_round = (wi & 1) ? NB_PRMS_FLOOR : NB_PRMS_CEIL;
			c.prms_p = wi % 2 ? 0.3 : 0.0625;
			c.offset = combo & 1;
			c.seed = 31337u + 101u * wi + combo;
			if (!nb_case_runs(k, &c))
				continue;
			nb_fd_judge(k, &c, true, &rep);
			if (!rep.pass)
				nb_case_print(stderr, &c);
			nb_sweep_add(&sw, rep.pass, &rep);
		}
	nb_report_sweep(k, &sw);
}
END_TEST

/* An RMSNorm backward that forgets the correction term x^ mean(dyh x^):
 * right dgain/dbias, wrong dx. Both the FD check and the reference check
 * must catch it; a check that cannot fail proves nothing. */
static void nb_bad_rmsnorm_bwd(const struct nb_problem *p, size_t row_begin, size_t row_end,
			       void *dgain_part, void *dbias_part)
{
	const float *x = p->x, *g = p->gain, *dy = p->dy;
	float *dx = p->dx, *dg = dgain_part, *db = dbias_part;
	size_t n = p->n;

	for (size_t j = 0; j < n; j++) {
		dg[j] = 0.0f;
		if (db)
			db[j] = 0.0f;
	}
	for (size_t row = row_begin; row < row_end; row++) {
		double ss = 0.0, r;

		for (size_t j = 0; j < n; j++)
			ss += (double)x[row * n + j] * (double)x[row * n + j];
		r = p->conv.eps_mode == NB_EPS_INSIDE ? 1.0 / sqrt(ss / (double)n + p->conv.eps)
						      : 1.0 / (sqrt(ss / (double)n) + p->conv.eps);
		for (size_t j = 0; j < n; j++) {
			size_t e = row * n + j;

			dx[e] = (float)(r * (double)dy[e] * (double)g[j]);
			dg[j] += (float)((double)dy[e] * (double)x[e] * r);
			if (db)
				db[j] += dy[e];
		}
	}
}

START_TEST(test_backward_checks_catch_missing_term)
{
	static const struct nb_kernel bad = {
		"rmsnorm_bwd_f32_nocorrection_BAD", NB_VARIANT_RMSNORM, NB_DIR_BACKWARD,
		NB_DTYPE_F32, NB_DTYPE_F32, NB_ISA_PORTABLE, "twopass", 2, false, false,
		nb_bad_rmsnorm_bwd
	};
	struct nb_case c;
	struct nb_accuracy_report rep;

	memset(&c, 0, sizeof(c));
	c.d = 16;
	c.rows = 3;
	c.bias = true;
	c.prms_p = 0.0625;
	c.seed = 99;
	nb_fd_judge(&bad, &c, false, &rep);
	ck_assert(!rep.pass);
	ck_assert_uint_eq(rep.part[0].out, NB_OUT_DX);
	ck_assert(!rep.part[0].pass);
	ck_assert(rep.part[1].pass);   /* dgain is right */
	ck_assert(rep.part[2].pass);   /* dbias is right */
	ck_assert(!nb_run_case(&bad, &c, false, NULL));
}
END_TEST

Suite *nb_suite_accuracy(void)
{
	Suite *s = suite_create("accuracy");
	TCase *tk = tcase_create("registry");
	TCase *tb = tcase_create("bounds");
	size_t count;

	nb_kernels(&count);
	tcase_add_loop_test(tk, test_forward_kernel, 0, (int)count);
	tcase_add_loop_test(tk, test_backward_kernel, 0, (int)count);
	tcase_add_loop_test(tk, test_flashnorm_kernel, 0, (int)count);
	tcase_add_loop_test(tk, test_backward_finite_differences, 0, (int)count);
	tcase_add_test(tb, test_ulps_special_values);
	tcase_add_test(tb, test_judge_finds_worst_element);
	tcase_add_test(tb, test_poor_f16_accumulation_fails);
	tcase_add_test(tb, test_poor_onepass_variance_fails);
	tcase_add_test(tb, test_backward_checks_catch_missing_term);
	suite_add_tcase(s, tb);
	suite_add_tcase(s, tk);
	return s;
}
