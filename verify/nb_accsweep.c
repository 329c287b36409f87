/* The accuracy sweep: each selected registry entry on seeded rows of several
 * shapes (odd widths, multi-chunk and multi-thread row counts), Gaussian and
 * outlier-heavy, both eps conventions, judged by nb_accuracy against the
 * long-double reference; and the same on the user's rows (--input). */
#include "verify/nb_accsweep.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_cli.h"
#include "common/nb_rng.h"
#include "ref/nb_ref.h"
#include "verify/nb_accuracy.h"
#include "verify/nb_data.h"

/*
 * The shapes (rows x d). Widths are odd or not a multiple of any vector
 * width where it matters (7, 33, 127, 1001, 4097), d = 2 is the smallest
 * CRMSNorm, 768/8192 are model widths; 70 rows span two backward chunks of
 * NB_BWD_CHUNK_ROWS and, at d = 1001, cross NB_PARALLEL_MIN_ELEMENTS so
 * the OpenMP path runs. other_eps: the other eps convention is swept there
 * too (with the first seed).
 */
static const struct nb_accsweep_shape nb_full_shapes[] = {
	{ 1, 2, false },
	{ 3, 7, false },
	{ 4, 33, true },
	{ 5, 127, false },
	{ 2, 768, false },
	{ 70, 1001, false },
	{ 3, 4097, true },
	{ 2, 8192, false },
};

/* CI: the smallest set that still has an odd width below and above the
 * vector widths, the other eps convention, and (66 x 1001) two backward
 * chunks plus the multi-threaded path. */
static const struct nb_accsweep_shape nb_quick_shapes[] = {
	{ 3, 7, false },
	{ 4, 129, true },
	{ 66, 1001, false },
};

#define NB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NB_FULL_SEEDS 3
#define NB_QUICK_SEEDS 1
/* FlashNorm output width: not a multiple of 8 or 16 */
#define NB_FLASH_M 24

const struct nb_accsweep_shape *nb_accsweep_shapes(bool quick, size_t *count)
{
	*count = quick ? NB_ARRAY_LEN(nb_quick_shapes) : NB_ARRAY_LEN(nb_full_shapes);
	return quick ? nb_quick_shapes : nb_full_shapes;
}

size_t nb_accsweep_seeds(bool quick)
{
	return quick ? NB_QUICK_SEEDS : NB_FULL_SEEDS;
}

size_t nb_accsweep_outputs(const struct nb_kernel *k)
{
	return k->dir == NB_DIR_BACKWARD ? 3 : 1;
}

/* ---- filters ---- */

static enum nb_status nb_known_kernel(const char *name, void *ctx)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	(void)ctx;
	for (size_t i = 0; i < count; i++)
		if (strcmp(ks[i].name, name) == 0)
			return NB_OK;
	return nb_fail(NB_ERR_NOTFOUND, "--kernels: unknown kernel '%s' (see 'normbench "
		       "list')", name);
}

static enum nb_status nb_known_variant(const char *name, void *ctx)
{
	(void)ctx;
	if (nb_variant_from_name(name) != NB_VARIANT_COUNT)
		return NB_OK;
	return nb_fail(NB_ERR_NOTFOUND, "--variants: unknown variant '%s' (see 'normbench "
		       "list')", name);
}

enum nb_status nb_accsweep_check_filters(const struct nb_accsweep_config *c)
{
	enum nb_status st = NB_OK;

	if (c->kernels)
		st = nb_cli_each_item(c->kernels, "--kernels", nb_known_kernel, NULL);
	if (st == NB_OK && c->variants)
		st = nb_cli_each_item(c->variants, "--variants", nb_known_variant, NULL);
	return st;
}

static bool nb_kernel_selected(const struct nb_accsweep_config *c, const struct nb_kernel *k)
{
	if (c->kernels && !nb_cli_in_list(c->kernels, k->name))
		return false;
	if (c->variants && !nb_cli_in_list(c->variants, nb_variant_name(k->variant)))
		return false;
	/* an external entry (oneDNN) cannot run eps outside the root */
	return nb_kernel_conventions_ok(k, &c->conv);
}

/* ---- one judged run ---- */

/* The buffers of one problem, all in the kernel's dtype except the
 * gradient sums (nb_grad_dtype) and the reference (long double). */
struct nb_case_bufs {
	void *x, *gain, *bias, *y, *dy, *dx, *dgain, *dbias;
	void *w, *w_folded, *out_bias, *z, *scratch;
	long double *ref[NB_OUT_COUNT];
};

static void nb_case_free(struct nb_case_bufs *b)
{
	void *all[] = { b->x, b->gain, b->bias, b->y, b->dy, b->dx, b->dgain, b->dbias,
			b->w, b->w_folded, b->out_bias, b->z, b->scratch };

	for (size_t i = 0; i < NB_ARRAY_LEN(all); i++)
		free(all[i]);
	for (int o = 0; o < NB_OUT_COUNT; o++)
		free(b->ref[o]);
	memset(b, 0, sizeof(*b));
}

/* calloc that leaves *ok false on failure (zero-size requests get 1 byte). */
static void *nb_alloc(size_t count, size_t size, bool *ok)
{
	void *p = calloc(count ? count : 1, size);

	if (!p)
		*ok = false;
	return p;
}

/* Allocates (zeroed) every array p needs for kernel k and points p at
 * them; the caller fills x and the parameters. */
static enum nb_status nb_case_alloc(const struct nb_kernel *k, struct nb_problem *p,
				    struct nb_case_bufs *b, bool with_bias)
{
	size_t es = nb_dtype_traits[p->dtype].size;
	size_t gs = nb_dtype_traits[nb_grad_dtype(p->dtype, k->acc)].size;
	size_t n = nb_variant_stored(p->variant, p->d);
	size_t rn = p->rows * n;
	bool ok = true;

	memset(b, 0, sizeof(*b));
	b->x = nb_alloc(rn, es, &ok);
	b->gain = nb_alloc(n, es, &ok);
	if (with_bias)
		b->bias = nb_alloc(n, es, &ok);
	if (k->dir == NB_DIR_BACKWARD) {
		b->dy = nb_alloc(rn, es, &ok);
		b->dx = nb_alloc(rn, es, &ok);
		b->dgain = nb_alloc(n, gs, &ok);
		b->dbias = nb_alloc(n, gs, &ok);
		b->ref[NB_OUT_DX] = nb_alloc(rn, sizeof(long double), &ok);
		b->ref[NB_OUT_DGAIN] = nb_alloc(n, sizeof(long double), &ok);
		b->ref[NB_OUT_DBIAS] = nb_alloc(n, sizeof(long double), &ok);
	} else if (k->variant == NB_VARIANT_FLASHNORM) {
		b->w = nb_alloc(n * NB_FLASH_M, es, &ok);
		b->w_folded = nb_alloc(n * NB_FLASH_M, es, &ok);
		if (with_bias)
			b->out_bias = nb_alloc(NB_FLASH_M, es, &ok);
		b->z = nb_alloc(p->rows * NB_FLASH_M, es, &ok);
		b->scratch = nb_alloc(rn, es, &ok);
		b->ref[NB_OUT_Z] = nb_alloc(p->rows * NB_FLASH_M, sizeof(long double), &ok);
	} else {
		b->y = nb_alloc(rn, es, &ok);
		b->ref[NB_OUT_Y] = nb_alloc(rn, sizeof(long double), &ok);
	}
	if (!ok) {
		nb_case_free(b);
		return nb_fail(NB_ERR_NOMEM, "no memory for a %zu x %zu problem", p->rows, p->d);
	}
	p->x = b->x;
	p->gain = b->gain;
	p->bias = b->bias;
	p->y = b->y;
	p->dy = b->dy;
	p->dx = b->dx;
	p->dgain = b->dgain;
	p->dbias = b->dbias;
	if (k->variant == NB_VARIANT_FLASHNORM) {
		p->m = NB_FLASH_M;
		p->w = b->w;
		p->w_folded = b->w_folded;
		p->out_bias = b->out_bias;
		p->z = b->z;
		p->scratch = b->scratch;
		/* FlashNorm takes RMSNorm's bias-free form: the bias is c */
		p->bias = NULL;
	}
	return NB_OK;
}

/* The reference outputs of p (already checked). */
static enum nb_status nb_case_reference(const struct nb_kernel *k, const struct nb_problem *p,
					struct nb_case_bufs *b)
{
	if (k->dir == NB_DIR_BACKWARD)
		return nb_ref_backward(p, b->ref[NB_OUT_DX], b->ref[NB_OUT_DGAIN],
				       b->ref[NB_OUT_DBIAS]);
	if (k->variant == NB_VARIANT_FLASHNORM)
		return nb_ref_flashnorm(p, b->ref[NB_OUT_Z]);
	return nb_ref_forward(p, b->ref[NB_OUT_Y], NULL, NULL);
}

/* What a row of the table says about the run besides the verdict. */
struct nb_case_label {
	uint64_t seed;
	const char *data;
};

static void nb_fill_row(struct nb_verify_kernel_row *row, const struct nb_kernel *k,
			const struct nb_problem *p, const struct nb_case_label *lab,
			const struct nb_accuracy_part *part)
{
	memset(row, 0, sizeof(*row));
	nb_vf_strcpy(row->kernel, sizeof(row->kernel), k->name);
	nb_vf_strcpy(row->variant, sizeof(row->variant), nb_variant_name(k->variant));
	nb_vf_strcpy(row->dir, sizeof(row->dir), nb_direction_name(k->dir));
	nb_vf_strcpy(row->output, sizeof(row->output), nb_output_name(part->out));
	nb_vf_strcpy(row->dtype, sizeof(row->dtype), nb_dtype_traits[k->dtype].name);
	nb_vf_strcpy(row->acc, sizeof(row->acc), nb_dtype_traits[k->acc].name);
	nb_vf_strcpy(row->isa, sizeof(row->isa), nb_isa_name(k->isa));
	row->rows = p->rows;
	row->d = p->d;
	row->seed = lab->seed;
	nb_vf_strcpy(row->data, sizeof(row->data), lab->data);
	row->eps = p->conv.eps;
	nb_vf_strcpy(row->eps_mode, sizeof(row->eps_mode),
		     p->conv.eps_mode == NB_EPS_OUTSIDE ? "outside" : "inside");
	row->max_abs_err = part->max_abs;
	row->max_rel_err = part->max_rel;
	row->max_ulps = part->max_ulps;
	row->worst_row = (int64_t)part->worst_row;
	row->worst_col = (int64_t)part->worst_col;
	row->err_to_bound = part->max_ratio;
	row->bound_at_worst = part->worst_bound;
	row->pass = part->pass;
	if (!part->pass)
		snprintf(row->note, sizeof(row->note), "%zu of %zu elements beyond the bound; "
			 "worst %.9g vs reference %.9Lg (bound %.3g)", part->failed,
			 part->count, part->worst_value, part->worst_ref, part->worst_bound);
	if (part->unbounded)
		snprintf(row->note, sizeof(row->note), "%zu of %zu elements have no finite "
			 "derived bound and count as failures (first at row %zu)",
			 part->unbounded, part->count, part->first_unbounded_row);
}

/* Hands one output array and its reference to the sink, as f64. */
static enum nb_status nb_sink_output(const struct nb_accsweep_sink *sink,
				     const struct nb_kernel *k, const struct nb_problem *p,
				     enum nb_output out, const void *got, enum nb_dtype t,
				     const long double *ref)
{
	size_t rows = (out == NB_OUT_DGAIN || out == NB_OUT_DBIAS) ? 0 : p->rows;
	size_t cols = out == NB_OUT_Z ? p->m : p->n;
	size_t count = (rows ? rows : 1) * cols;
	double *v = malloc(count * sizeof(*v));
	char name[64];
	enum nb_status st;

	if (!v)
		return nb_fail(NB_ERR_NOMEM, "no memory for the dump of %s", k->name);
	for (size_t i = 0; i < count; i++)
		v[i] = nb_dtype_load(t, got, i);
	st = sink->array(sink->ctx, k->name, nb_output_name(out), rows, cols, v);
	for (size_t i = 0; i < count && st == NB_OK; i++)
		v[i] = (double)ref[i];
	snprintf(name, sizeof(name), "%s_ref", nb_output_name(out));
	if (st == NB_OK)
		st = sink->array(sink->ctx, k->name, name, rows, cols, v);
	free(v);
	return st;
}

static enum nb_status nb_sink_case(const struct nb_accsweep_sink *sink,
				   const struct nb_kernel *k, const struct nb_problem *p,
				   const struct nb_case_bufs *b, const struct nb_case_label *lab,
				   const struct nb_accuracy_report *rep)
{
	enum nb_dtype gt = nb_grad_dtype(p->dtype, k->acc);
	char text[64];
	enum nb_status st;

	if (k->dir == NB_DIR_BACKWARD) {
		st = nb_sink_output(sink, k, p, NB_OUT_DX, b->dx, p->dtype, b->ref[NB_OUT_DX]);
		if (st == NB_OK)
			st = nb_sink_output(sink, k, p, NB_OUT_DGAIN, b->dgain, gt,
					    b->ref[NB_OUT_DGAIN]);
		if (st == NB_OK)
			st = nb_sink_output(sink, k, p, NB_OUT_DBIAS, b->dbias, gt,
					    b->ref[NB_OUT_DBIAS]);
	} else if (k->variant == NB_VARIANT_FLASHNORM) {
		st = nb_sink_output(sink, k, p, NB_OUT_Z, b->z, p->dtype, b->ref[NB_OUT_Z]);
	} else {
		st = nb_sink_output(sink, k, p, NB_OUT_Y, b->y, p->dtype, b->ref[NB_OUT_Y]);
	}
	if (st == NB_OK && sink->note)
		st = sink->note(sink->ctx, k->name, "data", lab->data);
	snprintf(text, sizeof(text), "%.6g", rep->max_ratio);
	if (st == NB_OK && sink->note)
		st = sink->note(sink->ctx, k->name, "err_to_bound", text);
	if (st == NB_OK && sink->note)
		st = sink->note(sink->ctx, k->name, "verdict", rep->pass ? "holds" : "FAIL");
	return st;
}

/* Runs k on the filled problem, judges every output against the long-double
 * reference and appends one row per output. */
static enum nb_status nb_judge_case(const struct nb_kernel *k, struct nb_problem *p,
				    struct nb_case_bufs *b, const struct nb_case_label *lab,
				    const struct nb_accsweep_sink *sink,
				    const struct nb_accsweep_data *in,
				    struct nb_verify_tables *out)
{
	struct nb_accuracy_report rep;
	struct nb_accuracy_ref ref;
	enum nb_status st;

	st = nb_kernel_prepare(k, p);
	if (st != NB_OK)
		return nb_fail(st, "%s on %zu x %zu: %s", k->name, p->rows, p->d, nb_error());
	/* W* from the gains, once n is known (prepare fills it) */
	if (k->variant == NB_VARIANT_FLASHNORM) {
		st = nb_flashnorm_fold(p->dtype, p->n, p->m, p->gain, p->w, b->w_folded);
		if (st != NB_OK)
			return st;
	}
	st = nb_kernel_run(k, p, NULL);
	if (st != NB_OK)
		return st;
	st = nb_case_reference(k, p, b);
	if (st != NB_OK)
		return nb_fail(st, "reference for %s on %zu x %zu: %s", k->name, p->rows,
			       p->d, nb_error());
	memset(&ref, 0, sizeof(ref));
	for (int o = 0; o < NB_OUT_COUNT; o++)
		ref.val[o] = b->ref[o];
	ref.unjudged_rows = in ? in->unjudged_rows : NULL;
	st = nb_accuracy_judge(k, p, &ref, &rep);
	if (st != NB_OK)
		return nb_fail(st, "judging %s on %zu x %zu: %s", k->name, p->rows, p->d,
			       nb_error());
	for (size_t i = 0; i < rep.nparts && st == NB_OK; i++) {
		struct nb_verify_kernel_row row;

		nb_fill_row(&row, k, p, lab, &rep.part[i]);
		st = nb_verify_add_kernel(out, &row);
	}
	if (st == NB_OK && sink)
		st = nb_sink_case(sink, k, p, b, lab, &rep);
	if (st == NB_OK && in && in->on_report)
		in->on_report(in->report_ctx, k, p, &rep);
	return st;
}

/* ---- the sweep ---- */

/* Entries the loop below will judge (selected and usable). */
static size_t nb_count_selected(const struct nb_accsweep_config *c)
{
	size_t count, selected = c->nextra;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++)
		if (nb_kernel_selected(c, &ks[i]) && nb_isa_usable(ks[i].isa))
			selected++;
	return selected;
}

static void nb_progress(const struct nb_accsweep_config *c, size_t done, size_t total,
			const struct nb_kernel *k)
{
	if (c->progress)
		fprintf(stderr, "\r  [%zu/%zu] %-48s", done, total, k ? k->name : "done");
	if (c->progress && !k)
		fprintf(stderr, "\n");
}

/* Gains N(1, 0.5), biases N(0, 0.1), dy N(0, 1), W N(0, 1/n), out_bias
 * N(0, 0.1): each rounded once into the kernel's dtype. */
static void nb_fill_params(struct nb_rng *rng, const struct nb_problem *p,
			   const struct nb_case_bufs *b)
{
	size_t n = nb_variant_stored(p->variant, p->d);

	nb_data_normal(rng, p->dtype, b->gain, n, 1.0, 0.5);
	if (b->bias)
		nb_data_normal(rng, p->dtype, b->bias, n, 0.0, 0.1);
	if (b->dy)
		nb_data_normal(rng, p->dtype, b->dy, p->rows * n, 0.0, 1.0);
	if (b->w)
		nb_data_normal(rng, p->dtype, b->w, n * NB_FLASH_M, 0.0,
			       1.0 / sqrt((double)n));
	if (b->out_bias)
		nb_data_normal(rng, p->dtype, b->out_bias, NB_FLASH_M, 0.0, 0.1);
}

/* A seed for (base, kernel-independent case index): every kernel of a
 * dtype sees the same rows for the same case. */
static uint64_t nb_case_seed(uint64_t base, size_t shape, size_t seed_index)
{
	return base + 1000u * (uint64_t)seed_index + (uint64_t)shape;
}

static enum nb_status nb_sweep_case(const struct nb_accsweep_config *c,
				    const struct nb_kernel *k, size_t rows, size_t d,
				    enum nb_data_kind kind, uint64_t seed,
				    enum nb_eps_mode mode, bool with_bias,
				    struct nb_verify_tables *out)
{
	struct nb_problem p = nb_problem_init(k->variant, k->dtype, rows, d);
	struct nb_case_label lab = { seed, nb_data_kind_name(kind) };
	struct nb_case_bufs b;
	struct nb_rng rng;
	enum nb_status st;

	p.conv = c->conv;
	p.conv.eps_mode = mode;
	p.threads = c->threads;
	st = nb_case_alloc(k, &p, &b, with_bias);
	if (st != NB_OK)
		return st;
	nb_rng_seed(&rng, seed);
	nb_data_rows(&rng, kind, k->dtype, b.x, rows,
		     nb_variant_stored(k->variant, d));
	nb_fill_params(&rng, &p, &b);
	st = nb_judge_case(k, &p, &b, &lab, NULL, NULL, out);
	nb_case_free(&b);
	return st;
}

/* Every case of the sweep for one kernel. */
static enum nb_status nb_sweep_kernel(const struct nb_accsweep_config *c,
				      const struct nb_kernel *k,
				      struct nb_verify_tables *out, size_t *cases)
{
	enum nb_eps_mode other = c->conv.eps_mode == NB_EPS_INSIDE ? NB_EPS_OUTSIDE
								  : NB_EPS_INSIDE;
	size_t nshapes, nseeds = nb_accsweep_seeds(c->quick);
	const struct nb_accsweep_shape *shapes = nb_accsweep_shapes(c->quick, &nshapes);
	enum nb_status st = NB_OK;

	for (size_t s = 0; s < nshapes && st == NB_OK; s++) {
		for (size_t i = 0; i < nseeds && st == NB_OK; i++) {
			for (int kind = 0; kind < NB_DATA_COUNT && st == NB_OK; kind++) {
				/* bias on every other case: both code paths */
				st = nb_sweep_case(c, k, shapes[s].rows, shapes[s].d,
						   (enum nb_data_kind)kind,
						   nb_case_seed(c->seed, s, i),
						   c->conv.eps_mode, (s + i + (size_t)kind) % 2 == 0,
						   out);
				++*cases;
			}
		}
		/* an external entry (oneDNN) has eps inside only */
		if (!c->other_eps_mode || !shapes[s].other_eps ||
		    !nb_kernel_conventions_ok(k, &(struct nb_conventions){ .eps_mode = other }))
			continue;
		for (int kind = 0; kind < NB_DATA_COUNT && st == NB_OK; kind++) {
			st = nb_sweep_case(c, k, shapes[s].rows, shapes[s].d,
					   (enum nb_data_kind)kind, nb_case_seed(c->seed, s, 0),
					   other, true, out);
			++*cases;
		}
	}
	return st;
}

enum nb_status nb_accsweep_run(const struct nb_accsweep_config *c,
			       struct nb_verify_tables *out, struct nb_accsweep_stats *stats)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	enum nb_status st = nb_accsweep_check_filters(c);
	size_t total = nb_count_selected(c);

	memset(stats, 0, sizeof(*stats));
	for (size_t i = 0; i < count + c->nextra && st == NB_OK; i++) {
		const struct nb_kernel *k = i < count ? &ks[i] : &c->extra[i - count];

		if (i < count && !nb_kernel_selected(c, k))
			continue;
		if (!nb_isa_usable(k->isa)) {
			stats->skipped++;
			continue;
		}
		nb_progress(c, stats->kernels, total, k);
		stats->kernels++;
		st = nb_sweep_kernel(c, k, out, &stats->cases);
	}
	nb_progress(c, stats->kernels, total, NULL);
	return st;
}

/* ---- the user's rows ---- */

/* v rounded once, to nearest-even, into dtype t at element i. The 16-bit
 * stores round from f32, so a double is first taken to f32 with round-to-
 * odd: f32 keeps 13+ more bits than either 16-bit format, and rounding a
 * round-to-odd value to nearest gives the correctly rounded result. */
static void nb_store_rne(enum nb_dtype t, void *buf, size_t i, double v)
{
	if (t == NB_DTYPE_F16 || t == NB_DTYPE_BF16) {
		float f = (float)v;

		if ((double)f != v) {
			uint32_t bits;
			/* truncate toward zero, then set the sticky last bit */
			if (fabs((double)f) > fabs(v))
				f = nextafterf(f, 0.0f);
			bits = nb_f32_bits(f) | 1u;
			f = nb_f32_from_bits(bits);
		}
		v = (double)f;
	}
	nb_dtype_store(t, buf, i, v);
}

/* How the rows reach a kernel of dtype t: the data column. */
static void nb_input_label(enum nb_dtype from, enum nb_dtype to, char *buf, size_t size)
{
	const char *a = nb_dtype_traits[from].name, *b = nb_dtype_traits[to].name;
	/* only widening to f32/f64 is exact: bf16 -> f16 loses range */
	bool exact = (to == NB_DTYPE_F64) ||
		     (to == NB_DTYPE_F32 && from != NB_DTYPE_F64);

	if (from == to)
		snprintf(buf, size, "input:%s", a);
	else
		snprintf(buf, size, "input:%s->%s(%s)", a, b, exact ? "exact" : "rne");
}

/* Copies the user's rows (n of each row's cols: CRMSNorm takes d-1) into
 * x in dtype t; returns how many elements became non-finite. */
static size_t nb_convert_rows(const struct nb_accsweep_data *in, enum nb_dtype t, size_t n,
			      void *x)
{
	size_t overflow = 0;

	for (size_t r = 0; r < in->rows; r++) {
		for (size_t j = 0; j < n; j++) {
			double v = nb_dtype_load(in->dtype, in->data, r * in->cols + j);
			nb_store_rne(t, x, r * n + j, v);
			if (!isfinite(nb_dtype_load(t, x, r * n + j)))
				overflow++;
		}
	}
	return overflow;
}

/* Gain and bias values that overflowed the kernel's dtype. */
static size_t nb_param_overflow(const struct nb_problem *p, const struct nb_case_bufs *b,
				size_t n)
{
	size_t overflow = 0;

	for (size_t j = 0; j < n; j++) {
		if (!isfinite(nb_dtype_load(p->dtype, b->gain, j)))
			overflow++;
		if (b->bias && !isfinite(nb_dtype_load(p->dtype, b->bias, j)))
			overflow++;
	}
	return overflow;
}

/* The user's gain and bias (--gain, --bias), else gains 1 and no bias (the
 * default), or N(1, 0.5) gains and N(0, 0.1) biases from gain_seed; dy, W
 * and c always from the config's seed. */
static void nb_fill_input_params(const struct nb_accsweep_config *c,
				 const struct nb_accsweep_data *in, const struct nb_problem *p,
				 struct nb_case_bufs *b)
{
	size_t n = nb_variant_stored(p->variant, p->d);
	struct nb_rng rng;

	if (in->gain) {
		for (size_t j = 0; j < n; j++) {
			nb_store_rne(p->dtype, b->gain, j, in->gain[j]);
			if (b->bias)
				nb_store_rne(p->dtype, b->bias, j, in->bias[j]);
		}
	} else if (in->gain_random) {
		nb_rng_seed(&rng, in->gain_seed);
		nb_data_normal(&rng, p->dtype, b->gain, n, 1.0, 0.5);
		if (b->bias)
			nb_data_normal(&rng, p->dtype, b->bias, n, 0.0, 0.1);
	} else {
		for (size_t j = 0; j < n; j++)
			nb_dtype_store(p->dtype, b->gain, j, 1.0);
	}
	nb_rng_seed(&rng, c->seed);
	if (b->dy)
		nb_data_normal(&rng, p->dtype, b->dy, p->rows * n, 0.0, 1.0);
	if (b->w)
		nb_data_normal(&rng, p->dtype, b->w, n * NB_FLASH_M, 0.0,
			       1.0 / sqrt((double)n));
	if (b->out_bias)
		nb_data_normal(&rng, p->dtype, b->out_bias, NB_FLASH_M, 0.0, 0.1);
}

static enum nb_status nb_input_kernel(const struct nb_accsweep_config *c,
				      const struct nb_kernel *k,
				      const struct nb_accsweep_data *in,
				      const struct nb_accsweep_sink *sink,
				      struct nb_verify_tables *out)
{
	struct nb_problem p = nb_problem_init(k->variant, k->dtype, in->rows, in->cols);
	char label[NB_VF_NAME];
	struct nb_case_label lab = { 0, label };
	struct nb_case_bufs b;
	enum nb_status st;
	size_t n = nb_variant_stored(k->variant, in->cols);
	size_t overflow, param_overflow;

	p.conv = c->conv;
	p.threads = c->threads;
	st = nb_case_alloc(k, &p, &b, in->gain ? in->bias != NULL : in->gain_random);
	if (st != NB_OK)
		return st;
	nb_input_label(in->dtype, k->dtype, label, sizeof(label));
	overflow = nb_convert_rows(in, k->dtype, n, b.x);
	nb_fill_input_params(c, in, &p, &b);
	param_overflow = nb_param_overflow(&p, &b, n);
	overflow += param_overflow;
	if (overflow) {
		/* not judged, so not passed: a failed row in the table */
		struct nb_verify_kernel_row row;
		struct nb_accuracy_part part = {
			.out = k->variant == NB_VARIANT_FLASHNORM ? NB_OUT_Z
			     : k->dir == NB_DIR_FORWARD ? NB_OUT_Y : NB_OUT_DX,
			.dtype = k->dtype, .pass = false };

		printf("  %s: NOT JUDGED: %zu input, gain or bias values overflow %s\n",
		       k->name, overflow, nb_dtype_traits[k->dtype].name);
		nb_fill_row(&row, k, &p, &lab, &part);
		snprintf(row.note, sizeof(row.note), "not judged: %zu input, gain or bias values "
			 "overflow %s", overflow, nb_dtype_traits[k->dtype].name);
		st = nb_verify_add_kernel(out, &row);
		for (size_t r = 0; in->unjudged_rows && r < in->rows; r++)
			for (size_t j = 0; j < n; j++)
				if (param_overflow ||
				    !isfinite(nb_dtype_load(k->dtype, b.x, r * n + j)))
					in->unjudged_rows[r] = true;
		goto free_bufs;
	}
	st = nb_judge_case(k, &p, &b, &lab, sink, in, out);
free_bufs:
	nb_case_free(&b);
	return st;
}

enum nb_status nb_accsweep_input(const struct nb_accsweep_config *c,
				 const struct nb_accsweep_data *in,
				 const struct nb_accsweep_sink *sink,
				 struct nb_verify_tables *out, struct nb_accsweep_stats *stats)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	enum nb_status st = nb_accsweep_check_filters(c);
	size_t total = nb_count_selected(c);

	memset(stats, 0, sizeof(*stats));
	if (st != NB_OK)
		return st;
	if (in->rows == 0 || in->cols == 0 || !in->data)
		return nb_fail(NB_ERR_INVALID, "no input rows");
	for (size_t i = 0; i < count + c->nextra && st == NB_OK; i++) {
		const struct nb_kernel *k = i < count ? &ks[i] : &c->extra[i - count];

		if (i < count && !nb_kernel_selected(c, k))
			continue;
		if (!nb_isa_usable(k->isa)) {
			stats->skipped++;
			continue;
		}
		/* CRMSNorm needs d >= 2 (it stores d-1 elements) */
		if (in->cols < nb_variant_min_d(k->variant))
			continue;
		nb_progress(c, stats->kernels, total, k);
		stats->kernels++;
		stats->cases++;
		st = nb_input_kernel(c, k, in, sink, out);
	}
	nb_progress(c, stats->kernels, total, NULL);
	return st;
}

/* ---- a kernel that must fail ---- */

/*
 * RMSNorm forward, f16 storage, whose sum of squares is ACCUMULATED IN f16
 * (each partial sum rounded to binary16), while it claims f32 accumulation
 * like rmsnorm_fwd_f16_portable: its error grows like d * 2^-11 relative
 * (and overflows past 65504 for outlier rows) instead of a few units of
 * f16 rounding, so the derived bound of an f32-accumulating kernel rejects
 * it. y = g * x * r (+ b), r = 1/sqrt(ms + eps) or 1/(sqrt(ms) + eps), in
 * f32 after the sum. Passes over x: 2. y must not alias x.
 */
static void nb_poor_rmsnorm_fwd_f16(const struct nb_problem *p, size_t row_begin,
				    size_t row_end, void *dgain_part, void *dbias_part)
{
	const struct nb_f16 *x = p->x, *g = p->gain, *b = p->bias;
	struct nb_f16 *y = p->y;
	size_t n = p->n;

	(void)dgain_part;
	(void)dbias_part;
	for (size_t i = row_begin; i < row_end; i++) {
		const struct nb_f16 *xi = x + i * n;
		struct nb_f16 acc = nb_f32_to_f16(0.0f);
		float ms, r;

		for (size_t j = 0; j < n; j++) {
			float v = nb_f16_to_f32(xi[j]);
			acc = nb_f32_to_f16(nb_f16_to_f32(acc) + v * v);
		}
		ms = nb_f16_to_f32(acc) / (float)n;
		r = p->conv.eps_mode == NB_EPS_INSIDE
			? 1.0f / sqrtf(ms + (float)p->conv.eps)
			: 1.0f / (sqrtf(ms) + (float)p->conv.eps);
		for (size_t j = 0; j < n; j++) {
			float v = nb_f16_to_f32(g[j]) * (nb_f16_to_f32(xi[j]) * r);
			if (b)
				v += nb_f16_to_f32(b[j]);
			y[i * n + j] = nb_f32_to_f16(v);
		}
	}
}

static const struct nb_kernel nb_poor_kernel = {
	.name = "rmsnorm_fwd_f16_poor_f16acc",
	.variant = NB_VARIANT_RMSNORM,
	.dir = NB_DIR_FORWARD,
	.dtype = NB_DTYPE_F16,
	.acc = NB_DTYPE_F32,   /* what it claims; it really accumulates in f16 */
	.isa = NB_ISA_PORTABLE,
	.algo = "f16acc",
	.passes = 2,
	.inplace_ok = false,
	.whole_problem = false,
	.fn = nb_poor_rmsnorm_fwd_f16,
};

const struct nb_kernel *nb_accsweep_poor_kernel(void)
{
	return &nb_poor_kernel;
}
