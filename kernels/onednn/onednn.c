/* oneDNN's LayerNorm (Debian's libdnnl 2.6, C API) as registry entries of
 * their own, so every run times and verifies the vendor's library beside
 * normbench's kernels. Registry lines in kernels/registry.def. */
#include "kernels/onednn/nb_onednn.h"

#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "common/nb_dtype.h"

/*
 * Numerical contract: what oneDNN 2.6 computes (its x64 jit statistics and
 * data kernels, src/cpu/x64/lnorm; the reference implementation has the same
 * formula), per row of n elements, in f32:
 *   mu  = fl(sum x_j) / n            a plain sum (SIMD lanes, unrolled
 *                                    accumulators, tree reduction), one division
 *   var = fl(sum (x_j - mu)^2) / n   two-pass about the ROUNDED mean, FMA
 *                                    accumulation (never E[x^2] - mu^2)
 *   r   = 1 / sqrtf(var + eps)       eps inside the root only, eps as f32
 *   y_j = fma(g_j, (x_j - mu) r, b_j), rounded once into the storage type.
 * bf16 data is widened exactly to f32; oneDNN's gain and bias are f32, so a
 * bf16 gain and bias are widened (exactly) on every call.
 * Against normbench's LayerNorm contract: the mean is not carried as mu_hi +
 * mu_lo (kernels/nb_kernels.h), so on a row with |mu| >> sigma each x_j - mu
 * carries u |mu|, i.e. u |mu|/sigma relative to the output. The verifier
 * judges these entries by the same bound as every LayerNorm kernel, which
 * therefore does not hold on such rows: it reports them failing
 * (docs/vendor-peer.md; tests/test_hardrows.c asserts exactly which rows).
 *
 * Backward: oneDNN's backward takes mean and variance from a forward
 * training pass (a framework keeps them from its forward call; normbench's
 * backward kernels recompute them). This entry runs oneDNN's forward
 * training (its y lands in dx and is overwritten next), then oneDNN's
 * backward: dx = r g dy - ... (SPEC §1), dgain = sum_rows dy xhat,
 * dbias = sum_rows dy; its time therefore includes one more read of x and
 * write of dx than a framework's backward call.
 *
 * Passes over x: 3 forward (mean, variance, write). Threads: oneDNN's OpenMP
 * build runs its parallel regions in the caller's libgomp team (one pool with
 * normbench's kernels); each call and each primitive creation runs under
 * omp_set_num_threads(p->threads), restored after, so a cell of T threads
 * uses at most T. dgain and dbias may depend on the thread count (oneDNN's
 * reduction order); y and dx are computed row by row.
 * Aliasing: y may equal x (oneDNN supports the forward in place).
 *
 * Per-cell state: oneDNN primitives are created once per (direction, dtype,
 * rows, n, eps, bias, threads) by nb_onednn_prepare, before any timed loop,
 * and kept in a list under one mutex (a call looks its cell up: a few
 * comparisons); everything is freed at exit.
 */

enum nb_dnnl_kind { NB_DNNL_FWD, NB_DNNL_BWD };

struct nb_dnnl_key {
	enum nb_dnnl_kind kind;
	enum nb_dtype dtype;
	size_t rows, n;
	float eps;
	bool bias;
	int threads;
};

struct nb_dnnl_cell {
	struct nb_dnnl_key key;
	enum nb_status status;        /* NB_OK, or why oneDNN cannot run it */
	char why[256];
	dnnl_primitive_t fwd;         /* inference (forward) or training (backward) */
	dnnl_primitive_t bwd;
	dnnl_memory_t src, dst, scale, shift, mean, var, ddst, dsrc, dscale, dshift;
	float *scale32, *shift32;     /* f32 gain/bias for bf16; zero shift for bwd */
	float *mean_buf, *var_buf;
	struct nb_dnnl_cell *next;
};

static pthread_mutex_t nb_dnnl_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nb_dnnl_cell *nb_dnnl_cells;
static dnnl_engine_t nb_dnnl_engine;
static dnnl_stream_t nb_dnnl_stream;
static enum nb_status nb_dnnl_engine_status = NB_ERR_UNSUPPORTED;
static bool nb_dnnl_started;
static enum nb_onednn_fault nb_dnnl_fault;

void nb_onednn_set_fault(enum nb_onednn_fault fault)
{
	pthread_mutex_lock(&nb_dnnl_lock);
	nb_dnnl_fault = fault;
	pthread_mutex_unlock(&nb_dnnl_lock);
}

static void nb_dnnl_cell_free(struct nb_dnnl_cell *c)
{
	dnnl_memory_t *mems[] = { &c->src, &c->dst, &c->scale, &c->shift, &c->mean,
				  &c->var, &c->ddst, &c->dsrc, &c->dscale, &c->dshift };

	if (c->fwd)
		dnnl_primitive_destroy(c->fwd);
	if (c->bwd)
		dnnl_primitive_destroy(c->bwd);
	for (size_t i = 0; i < sizeof(mems) / sizeof(mems[0]); i++)
		if (*mems[i])
			dnnl_memory_destroy(*mems[i]);
	free(c->scale32);
	free(c->shift32);
	free(c->mean_buf);
	free(c->var_buf);
	free(c);
}

static void nb_dnnl_free_all(void)
{
	pthread_mutex_lock(&nb_dnnl_lock);
	while (nb_dnnl_cells) {
		struct nb_dnnl_cell *next = nb_dnnl_cells->next;
		nb_dnnl_cell_free(nb_dnnl_cells);
		nb_dnnl_cells = next;
	}
	if (nb_dnnl_stream)
		dnnl_stream_destroy(nb_dnnl_stream);
	if (nb_dnnl_engine)
		dnnl_engine_destroy(nb_dnnl_engine);
	nb_dnnl_stream = NULL;
	nb_dnnl_engine = NULL;
	pthread_mutex_unlock(&nb_dnnl_lock);
}

static const char *nb_dnnl_status_name(dnnl_status_t s)
{
	switch (s) {
	case dnnl_success: return "success";
	case dnnl_out_of_memory: return "out of memory";
	case dnnl_invalid_arguments: return "invalid arguments";
	case dnnl_unimplemented: return "no implementation for this CPU or configuration";
	case dnnl_runtime_error: return "runtime error";
	default: return "error";
	}
}

/* Records a failed oneDNN call in c; false when it failed. */
static bool nb_dnnl_ok(struct nb_dnnl_cell *c, dnnl_status_t s, const char *what)
{
	if (s == dnnl_success)
		return true;
	c->status = s == dnnl_out_of_memory ? NB_ERR_NOMEM : NB_ERR_UNSUPPORTED;
	snprintf(c->why, sizeof(c->why), "oneDNN %s: %s", what, nb_dnnl_status_name(s));
	return false;
}

/* Engine and stream, once; under nb_dnnl_lock. */
static enum nb_status nb_dnnl_start(void)
{
	if (nb_dnnl_started)
		return nb_dnnl_engine_status;
	nb_dnnl_started = true;
	if (dnnl_engine_create(&nb_dnnl_engine, dnnl_cpu, 0) != dnnl_success ||
	    dnnl_stream_create(&nb_dnnl_stream, nb_dnnl_engine, dnnl_stream_default_flags) !=
		    dnnl_success)
		return nb_dnnl_engine_status = NB_ERR_UNSUPPORTED;
	atexit(nb_dnnl_free_all);
	return nb_dnnl_engine_status = NB_OK;
}

static dnnl_status_t nb_dnnl_md(dnnl_memory_desc_t *md, int ndims, size_t d0, size_t d1,
				dnnl_data_type_t t)
{
	dnnl_dims_t dims = { (dnnl_dim_t)d0, (dnnl_dim_t)d1 };

	return dnnl_memory_desc_init_by_tag(md, ndims, dims, t, ndims == 1 ? dnnl_a : dnnl_ab);
}

static bool nb_dnnl_mem(struct nb_dnnl_cell *c, dnnl_memory_t *m, const dnnl_memory_desc_t *md)
{
	return nb_dnnl_ok(c, dnnl_memory_create(m, md, nb_dnnl_engine, DNNL_MEMORY_NONE),
			  "memory_create");
}

/* The primitives and memory objects of c (its key set); c->status says. */
static void nb_dnnl_build(struct nb_dnnl_cell *c)
{
	const struct nb_dnnl_key *k = &c->key;
	dnnl_data_type_t dt = k->dtype == NB_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
	unsigned flags = dnnl_use_scale | (k->bias ? dnnl_use_shift : 0u);
	bool bwd = k->kind == NB_DNNL_BWD;
	dnnl_memory_desc_t data_md, stat_md, ss_md;
	dnnl_layer_normalization_desc_t fd, bd;
	dnnl_primitive_desc_t fpd = NULL, bpd = NULL;

	c->status = NB_OK;
	if (!nb_dnnl_ok(c, nb_dnnl_md(&data_md, 2, k->rows, k->n, dt), "data md") ||
	    !nb_dnnl_ok(c, nb_dnnl_md(&stat_md, 1, k->rows, 0, dnnl_f32), "statistics md") ||
	    !nb_dnnl_ok(c, nb_dnnl_md(&ss_md, 1, k->n, 0, dnnl_f32), "scale md"))
		goto out;
	if (!nb_dnnl_ok(c, dnnl_layer_normalization_forward_desc_init(
				   &fd, bwd ? dnnl_forward_training : dnnl_forward_inference,
				   &data_md, &stat_md, k->eps, flags), "layer normalization forward") ||
	    !nb_dnnl_ok(c, dnnl_primitive_desc_create(&fpd, &fd, NULL, nb_dnnl_engine, NULL),
			"layer normalization forward") ||
	    !nb_dnnl_ok(c, dnnl_primitive_create(&c->fwd, fpd), "primitive_create"))
		goto out;
	if (bwd &&
	    (!nb_dnnl_ok(c, dnnl_layer_normalization_backward_desc_init(
				    &bd, dnnl_backward, &data_md, &data_md, &stat_md, k->eps, flags),
			 "layer normalization backward") ||
	     !nb_dnnl_ok(c, dnnl_primitive_desc_create(&bpd, &bd, NULL, nb_dnnl_engine, fpd),
			 "layer normalization backward") ||
	     !nb_dnnl_ok(c, dnnl_primitive_create(&c->bwd, bpd), "primitive_create")))
		goto out;
	if (!nb_dnnl_mem(c, &c->src, &data_md) || !nb_dnnl_mem(c, &c->dst, &data_md) ||
	    !nb_dnnl_mem(c, &c->scale, &ss_md) || !nb_dnnl_mem(c, &c->shift, &ss_md))
		goto out;
	if (bwd && (!nb_dnnl_mem(c, &c->mean, &stat_md) || !nb_dnnl_mem(c, &c->var, &stat_md) ||
		    !nb_dnnl_mem(c, &c->ddst, &data_md) || !nb_dnnl_mem(c, &c->dsrc, &data_md) ||
		    !nb_dnnl_mem(c, &c->dscale, &ss_md) || !nb_dnnl_mem(c, &c->dshift, &ss_md)))
		goto out;
	/* f32 copies of a bf16 gain/bias; the backward's forward pass gets a zero
	 * shift (its y is thrown away: only mean and variance are wanted) */
	if (k->dtype != NB_DTYPE_F32)
		c->scale32 = malloc(k->n * sizeof(float));
	if (k->bias && (bwd || k->dtype != NB_DTYPE_F32))
		c->shift32 = calloc(k->n, sizeof(float));
	if (bwd) {
		c->mean_buf = malloc(k->rows * sizeof(float));
		c->var_buf = malloc(k->rows * sizeof(float));
	}
	if ((k->dtype != NB_DTYPE_F32 && !c->scale32) ||
	    (k->bias && (bwd || k->dtype != NB_DTYPE_F32) && !c->shift32) ||
	    (bwd && (!c->mean_buf || !c->var_buf))) {
		c->status = NB_ERR_NOMEM;
		snprintf(c->why, sizeof(c->why), "no memory for oneDNN's f32 parameters");
		goto out;
	}
	if (bwd && (!nb_dnnl_ok(c, dnnl_memory_set_data_handle(c->mean, c->mean_buf), "mean") ||
		    !nb_dnnl_ok(c, dnnl_memory_set_data_handle(c->var, c->var_buf), "variance")))
		goto out;
out:
	if (fpd)
		dnnl_primitive_desc_destroy(fpd);
	if (bpd)
		dnnl_primitive_desc_destroy(bpd);
}

static int nb_dnnl_threads(const struct nb_problem *p)
{
	return p->threads > 0 ? p->threads : omp_get_max_threads();
}

static struct nb_dnnl_key nb_dnnl_key_of(const struct nb_problem *p, enum nb_dnnl_kind kind,
					 size_t rows)
{
	struct nb_dnnl_key key;

	memset(&key, 0, sizeof(key));
	key.kind = kind;
	key.dtype = p->dtype;
	key.rows = rows;
	key.n = p->n;
	key.eps = (float)p->conv.eps * (nb_dnnl_fault == NB_ONEDNN_FAULT_EPS ? 1e4f : 1.0f);
	key.bias = (kind == NB_DNNL_FWD ? p->bias != NULL : p->dbias != NULL) &&
		   nb_dnnl_fault != NB_ONEDNN_FAULT_NO_BIAS;
	key.threads = nb_dnnl_threads(p);
	return key;
}

static bool nb_dnnl_same(const struct nb_dnnl_key *a, const struct nb_dnnl_key *b)
{
	return a->kind == b->kind && a->dtype == b->dtype && a->rows == b->rows &&
	       a->n == b->n && nb_f32_bits(a->eps) == nb_f32_bits(b->eps) &&
	       a->bias == b->bias && a->threads == b->threads;
}

/* The cell of key, built on first use (under nb_dnnl_lock, with the key's
 * thread count in force); NULL only without memory for the cell itself. A
 * cell found moves to the front: a timed loop finds its own at once. */
static struct nb_dnnl_cell *nb_dnnl_cell_get(const struct nb_dnnl_key *key)
{
	struct nb_dnnl_cell *c, **link;
	int saved;

	for (link = &nb_dnnl_cells; (c = *link) != NULL; link = &c->next)
		if (nb_dnnl_same(&c->key, key)) {
			*link = c->next;
			c->next = nb_dnnl_cells;
			nb_dnnl_cells = c;
			return c;
		}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->key = *key;
	if (nb_dnnl_start() != NB_OK) {
		c->status = NB_ERR_UNSUPPORTED;
		snprintf(c->why, sizeof(c->why), "oneDNN has no CPU engine here");
	} else {
		saved = omp_get_max_threads();
		omp_set_num_threads(key->threads);
		nb_dnnl_build(c);
		omp_set_num_threads(saved);
	}
	c->next = nb_dnnl_cells;
	nb_dnnl_cells = c;
	return c;
}

static bool nb_dnnl_set(dnnl_memory_t m, const void *ptr)
{
	return dnnl_memory_set_data_handle(m, (void *)(uintptr_t)ptr) == dnnl_success;
}

/* f32 view of a gain/bias vector: the problem's own (f32) or widened into buf. */
static const float *nb_dnnl_param(const struct nb_problem *p, const void *v, float *buf)
{
	const struct nb_bf16 *h = v;

	if (p->dtype == NB_DTYPE_F32)
		return v;
	for (size_t j = 0; j < p->n; j++)
		buf[j] = nb_bf16_to_f32(h[j]);
	return buf;
}

static bool nb_dnnl_exec(dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args)
{
	return dnnl_primitive_execute(prim, nb_dnnl_stream, nargs, args) == dnnl_success &&
	       dnnl_stream_wait(nb_dnnl_stream) == dnnl_success;
}

static bool nb_dnnl_forward(struct nb_dnnl_cell *c, const struct nb_problem *p,
			    const void *x, void *y)
{
	dnnl_exec_arg_t args[4] = { { DNNL_ARG_SRC, c->src }, { DNNL_ARG_DST, c->dst },
				    { DNNL_ARG_SCALE, c->scale }, { DNNL_ARG_SHIFT, c->shift } };

	if (!nb_dnnl_set(c->src, x) || !nb_dnnl_set(c->dst, y) ||
	    !nb_dnnl_set(c->scale, nb_dnnl_param(p, p->gain, c->scale32)) ||
	    (c->key.bias && !nb_dnnl_set(c->shift, nb_dnnl_param(p, p->bias, c->shift32))))
		return false;
	return nb_dnnl_exec(c->fwd, c->key.bias ? 4 : 3, args);
}

static bool nb_dnnl_backward(struct nb_dnnl_cell *c, const struct nb_problem *p,
			     const void *x, const void *dy, void *dx, float *dg, float *db)
{
	const float *g = nb_dnnl_param(p, p->gain, c->scale32);
	dnnl_exec_arg_t fargs[6] = { { DNNL_ARG_SRC, c->src }, { DNNL_ARG_DST, c->dst },
				     { DNNL_ARG_MEAN, c->mean }, { DNNL_ARG_VARIANCE, c->var },
				     { DNNL_ARG_SCALE, c->scale }, { DNNL_ARG_SHIFT, c->shift } };
	/* oneDNN 2.6's backward with use_shift refuses to run (invalid
	 * arguments) without the SHIFT input, though dx does not depend on it */
	dnnl_exec_arg_t bargs[9] = { { DNNL_ARG_SRC, c->src }, { DNNL_ARG_DIFF_DST, c->ddst },
				     { DNNL_ARG_MEAN, c->mean }, { DNNL_ARG_VARIANCE, c->var },
				     { DNNL_ARG_SCALE, c->scale }, { DNNL_ARG_DIFF_SRC, c->dsrc },
				     { DNNL_ARG_DIFF_SCALE, c->dscale },
				     { DNNL_ARG_DIFF_SHIFT, c->dshift }, { DNNL_ARG_SHIFT, c->shift } };

	if (!nb_dnnl_set(c->src, x) || !nb_dnnl_set(c->dst, dx) || !nb_dnnl_set(c->scale, g) ||
	    (c->key.bias && !nb_dnnl_set(c->shift, c->shift32)) || !nb_dnnl_set(c->ddst, dy) ||
	    !nb_dnnl_set(c->dsrc, dx) || !nb_dnnl_set(c->dscale, dg) ||
	    (c->key.bias && !nb_dnnl_set(c->dshift, db)))
		return false;
	return nb_dnnl_exec(c->fwd, c->key.bias ? 6 : 5, fargs) &&
	       nb_dnnl_exec(c->bwd, c->key.bias ? 9 : 7, bargs);
}

/* NaN into count elements: a call that could not run must fail the judge. */
static void nb_dnnl_poison(enum nb_dtype t, void *buf, size_t count)
{
	for (size_t i = 0; buf && i < count; i++)
		nb_dtype_store(t, buf, i, (double)NAN);
}

/* Rows [row_begin, row_end) of p through oneDNN; dg/db: where the backward
 * sums go (f32). */
static void nb_dnnl_run(const struct nb_problem *p, enum nb_dnnl_kind kind, size_t row_begin,
			size_t row_end, float *dg, float *db)
{
	size_t rows = row_end - row_begin, es = nb_dtype_traits[p->dtype].size;
	size_t off = row_begin * p->n * es;
	struct nb_dnnl_cell *c;
	bool ok = false;
	int saved;

	if (rows == 0)
		return;
	pthread_mutex_lock(&nb_dnnl_lock);
	{
		struct nb_dnnl_key key = nb_dnnl_key_of(p, kind, rows);
		c = nb_dnnl_cell_get(&key);
	}
	if (c && c->status == NB_OK) {
		saved = omp_get_max_threads();
		omp_set_num_threads(c->key.threads);
		if (kind == NB_DNNL_FWD)
			ok = nb_dnnl_forward(c, p, (const char *)p->x + off, (char *)p->y + off);
		else
			ok = nb_dnnl_backward(c, p, (const char *)p->x + off,
					      (const char *)p->dy + off, (char *)p->dx + off, dg, db);
		omp_set_num_threads(saved);
	}
	pthread_mutex_unlock(&nb_dnnl_lock);
	if (ok)
		return;
	if (kind == NB_DNNL_FWD) {
		nb_dnnl_poison(p->dtype, (char *)p->y + off, rows * p->n);
	} else {
		nb_dnnl_poison(p->dtype, (char *)p->dx + off, rows * p->n);
		nb_dnnl_poison(NB_DTYPE_F32, dg, p->n);
		nb_dnnl_poison(NB_DTYPE_F32, db, p->n);
	}
}

enum nb_status nb_onednn_prepare(const struct nb_kernel *k, const struct nb_problem *p)
{
	enum nb_dnnl_kind kind = k->dir == NB_DIR_BACKWARD ? NB_DNNL_BWD : NB_DNNL_FWD;
	struct nb_dnnl_cell *c;
	enum nb_status st;
	char why[sizeof(c->why)];

	if (p->conv.eps_mode != NB_EPS_INSIDE)
		return nb_fail(NB_ERR_UNSUPPORTED, "kernel %s: oneDNN puts eps inside the square "
			       "root only (no --eps-outside)", k->name);
	if (p->dtype != NB_DTYPE_F32 && p->dtype != NB_DTYPE_BF16)
		return nb_fail(NB_ERR_UNSUPPORTED, "kernel %s: oneDNN runs f32 and bf16 only",
			       k->name);
	if (p->rows == 0)
		return NB_OK;
	pthread_mutex_lock(&nb_dnnl_lock);
	{
		struct nb_dnnl_key key = nb_dnnl_key_of(p, kind, p->rows);
		c = nb_dnnl_cell_get(&key);
	}
	st = c ? c->status : NB_ERR_NOMEM;
	snprintf(why, sizeof(why), "%s", c ? c->why : "no memory for a oneDNN cell");
	pthread_mutex_unlock(&nb_dnnl_lock);
	if (st != NB_OK)
		return nb_fail(st, "kernel %s on %zu x %zu %s: %s", k->name, p->rows, p->n,
			       nb_dtype_traits[p->dtype].name, why);
	return NB_OK;
}

static const char *nb_dnnl_isa_name(dnnl_cpu_isa_t isa)
{
	switch (isa) {
	case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
	case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
	case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
	case dnnl_cpu_isa_avx512_core: return "avx512_core";
	case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
	case dnnl_cpu_isa_avx2: return "avx2";
	case dnnl_cpu_isa_avx: return "avx";
	case dnnl_cpu_isa_sse41: return "sse41";
	default: return "other";
	}
}

static char nb_dnnl_description[256];
static pthread_once_t nb_dnnl_describe_once = PTHREAD_ONCE_INIT;

static void nb_dnnl_describe_init(void)
{
	const dnnl_version_t *v = dnnl_version();

	snprintf(nb_dnnl_description, sizeof(nb_dnnl_description),
		 "oneDNN: %d.%d.%d built in (git %s), CPU runtime %s, CPU ISA %s", v->major, v->minor,
		 v->patch, v->hash && *v->hash ? v->hash : "unknown",
		 v->cpu_runtime == DNNL_RUNTIME_OMP
			 ? "OpenMP (the caller's libgomp team, capped per call)"
			 : "not OpenMP (threads not controlled)",
		 nb_dnnl_isa_name(dnnl_get_effective_cpu_isa()));
}

const char *nb_onednn_describe(void)
{
	pthread_once(&nb_dnnl_describe_once, nb_dnnl_describe_init);
	return nb_dnnl_description;
}

void nb_layernorm_fwd_f32_onednn(const struct nb_problem *p, size_t row_begin,
				 size_t row_end, void *dgain_part, void *dbias_part)
{
	(void)dgain_part;
	(void)dbias_part;
	nb_dnnl_run(p, NB_DNNL_FWD, row_begin, row_end, NULL, NULL);
}

void nb_layernorm_fwd_bf16_onednn(const struct nb_problem *p, size_t row_begin,
				  size_t row_end, void *dgain_part, void *dbias_part)
{
	(void)dgain_part;
	(void)dbias_part;
	nb_dnnl_run(p, NB_DNNL_FWD, row_begin, row_end, NULL, NULL);
}

/* Called whole (the registry's whole_problem): the sums go to p->dgain and
 * p->dbias unless the caller passes partials. */
void nb_layernorm_bwd_f32_onednn(const struct nb_problem *p, size_t row_begin,
				 size_t row_end, void *dgain_part, void *dbias_part)
{
	nb_dnnl_run(p, NB_DNNL_BWD, row_begin, row_end, dgain_part ? dgain_part : p->dgain,
		    dgain_part ? dbias_part : p->dbias);
}

void nb_layernorm_bwd_bf16_onednn(const struct nb_problem *p, size_t row_begin,
				  size_t row_end, void *dgain_part, void *dbias_part)
{
	nb_dnnl_run(p, NB_DNNL_BWD, row_begin, row_end, dgain_part ? dgain_part : p->dgain,
		    dgain_part ? dbias_part : p->dbias);
}
