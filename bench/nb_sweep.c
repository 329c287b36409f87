/* Sweep axes, their strict parsers, the presets, the plan of interleaving
 * groups and the STREAM-counting cost model of each cell. */
#include "bench/nb_sweep.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_counters.h"

static const char *const nb_cache_names[NB_CACHE_COUNT] = {
	[NB_CACHE_HOT] = "hot",
	[NB_CACHE_COLD] = "cold",
};

const char *nb_cache_state_name(enum nb_cache_state c)
{
	return (unsigned)c < NB_CACHE_COUNT ? nb_cache_names[c] : "?";
}

/* ---- list parsing (common/nb_cli.h) ---- */

struct nb_enum_list {
	int *items;
	size_t *n;
	size_t max;
};

static void nb_enum_add(struct nb_enum_list *l, int v)
{
	for (size_t i = 0; i < *l->n; i++)
		if (l->items[i] == v)
			return;
	if (*l->n < l->max)
		l->items[(*l->n)++] = v;
}

static enum nb_status nb_variant_item(const char *tok, void *ctx)
{
	struct nb_enum_list *l = ctx;
	enum nb_variant v;

	if (strcmp(tok, "all") == 0) {
		for (int i = 0; i < NB_VARIANT_COUNT; i++)
			nb_enum_add(l, i);
		return NB_OK;
	}
	v = nb_variant_from_name(tok);
	if (v == NB_VARIANT_COUNT)
		return nb_fail(NB_ERR_NOTFOUND, "--variants: unknown variant '%s' (known: "
			       "layernorm, rmsnorm, prmsnorm, crmsnorm, flashnorm, all)", tok);
	nb_enum_add(l, (int)v);
	return NB_OK;
}

enum nb_status nb_sweep_parse_variants(const char *csv, struct nb_sweep *s)
{
	int items[NB_VARIANT_COUNT];
	size_t n = 0;
	struct nb_enum_list l = { items, &n, NB_VARIANT_COUNT };
	enum nb_status st = nb_cli_each_item(csv, "--variants", nb_variant_item, &l);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		s->variants[i] = (enum nb_variant)items[i];
	s->nvariants = n;
	return NB_OK;
}

static enum nb_status nb_dtype_item(const char *tok, void *ctx)
{
	struct nb_enum_list *l = ctx;
	enum nb_dtype t;

	if (strcmp(tok, "all") == 0) {
		for (int i = 0; i < NB_DTYPE_COUNT; i++)
			nb_enum_add(l, i);
		return NB_OK;
	}
	t = nb_dtype_from_name(tok);
	if (t == NB_DTYPE_COUNT)
		return nb_fail(NB_ERR_NOTFOUND, "--dtypes: unknown dtype '%s' (known: f32, "
			       "f64, f16, bf16, all)", tok);
	nb_enum_add(l, (int)t);
	return NB_OK;
}

enum nb_status nb_sweep_parse_dtypes(const char *csv, struct nb_sweep *s)
{
	int items[NB_DTYPE_COUNT];
	size_t n = 0;
	struct nb_enum_list l = { items, &n, NB_DTYPE_COUNT };
	enum nb_status st = nb_cli_each_item(csv, "--dtypes", nb_dtype_item, &l);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		s->dtypes[i] = (enum nb_dtype)items[i];
	s->ndtypes = n;
	return NB_OK;
}

static enum nb_status nb_dir_item(const char *tok, void *ctx)
{
	struct nb_enum_list *l = ctx;

	if (strcmp(tok, "fwd") == 0 || strcmp(tok, "forward") == 0)
		nb_enum_add(l, NB_DIR_FORWARD);
	else if (strcmp(tok, "bwd") == 0 || strcmp(tok, "backward") == 0)
		nb_enum_add(l, NB_DIR_BACKWARD);
	else if (strcmp(tok, "all") == 0) {
		nb_enum_add(l, NB_DIR_FORWARD);
		nb_enum_add(l, NB_DIR_BACKWARD);
	} else
		return nb_fail(NB_ERR_INVALID, "--dir: unknown direction '%s' (fwd, bwd)", tok);
	return NB_OK;
}

enum nb_status nb_sweep_parse_dirs(const char *csv, struct nb_sweep *s)
{
	int items[NB_DIR_COUNT];
	size_t n = 0;
	struct nb_enum_list l = { items, &n, NB_DIR_COUNT };
	enum nb_status st = nb_cli_each_item(csv, "--dir", nb_dir_item, &l);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		s->dirs[i] = (enum nb_direction)items[i];
	s->ndirs = n;
	return NB_OK;
}

static enum nb_status nb_cache_item(const char *tok, void *ctx)
{
	struct nb_enum_list *l = ctx;

	for (int c = 0; c < NB_CACHE_COUNT; c++)
		if (strcmp(tok, nb_cache_names[c]) == 0) {
			nb_enum_add(l, c);
			return NB_OK;
		}
	return nb_fail(NB_ERR_INVALID, "--cache: unknown cache state '%s' (hot, cold)", tok);
}

enum nb_status nb_sweep_parse_caches(const char *csv, struct nb_sweep *s)
{
	int items[NB_CACHE_COUNT];
	size_t n = 0;
	struct nb_enum_list l = { items, &n, NB_CACHE_COUNT };
	enum nb_status st = nb_cli_each_item(csv, "--cache", nb_cache_item, &l);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < n; i++)
		s->caches[i] = (enum nb_cache_state)items[i];
	s->ncaches = n;
	return NB_OK;
}

struct nb_shape_ctx {
	struct nb_shape *shapes;
	size_t n;
};

static enum nb_status nb_shape_item(const char *tok, void *ctx)
{
	struct nb_shape_ctx *c = ctx;
	struct nb_shape sh;
	enum nb_status st = nb_cli_parse_shape(tok, "--shapes", &sh.rows, &sh.d);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < c->n; i++)
		if (c->shapes[i].rows == sh.rows && c->shapes[i].d == sh.d)
			return NB_OK;
	if (c->n >= NB_SWEEP_MAX_SHAPES)
		return nb_fail(NB_ERR_INVALID, "--shapes: at most %d shapes",
			       NB_SWEEP_MAX_SHAPES);
	c->shapes[c->n++] = sh;
	return NB_OK;
}

enum nb_status nb_sweep_parse_shapes(const char *csv, struct nb_sweep *s)
{
	struct nb_shape shapes[NB_SWEEP_MAX_SHAPES];
	struct nb_shape_ctx c = { shapes, 0 };
	enum nb_status st = nb_cli_each_item(csv, "--shapes", nb_shape_item, &c);

	if (st != NB_OK)
		return st;
	memcpy(s->shapes, shapes, c.n * sizeof(shapes[0]));
	s->nshapes = c.n;
	return NB_OK;
}

struct nb_threads_ctx {
	int *threads;
	size_t n;
	int cores;
};

static enum nb_status nb_threads_item(const char *tok, void *ctx)
{
	struct nb_threads_ctx *c = ctx;
	int v;
	enum nb_status st = nb_cli_parse_threads(tok, c->cores, "--threads", &v);

	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < c->n; i++)
		if (c->threads[i] == v)
			return NB_OK;
	if (c->n >= NB_SWEEP_MAX_THREADS)
		return nb_fail(NB_ERR_INVALID, "--threads: at most %d thread counts",
			       NB_SWEEP_MAX_THREADS);
	c->threads[c->n++] = v;
	return NB_OK;
}

enum nb_status nb_sweep_parse_threads(const char *csv, int cores, struct nb_sweep *s)
{
	int threads[NB_SWEEP_MAX_THREADS];
	struct nb_threads_ctx c = { threads, 0, cores };
	enum nb_status st = nb_cli_each_item(csv, "--threads", nb_threads_item, &c);

	if (st != NB_OK)
		return st;
	memcpy(s->threads, threads, c.n * sizeof(threads[0]));
	s->nthreads = c.n;
	return NB_OK;
}

static enum nb_status nb_impl_item(const char *tok, void *ctx)
{
	struct nb_sweep *s = ctx;
	const struct nb_kernel *k;

	if (strcmp(tok, "best") == 0 || strcmp(tok, "all") == 0)
		return nb_fail(NB_ERR_INVALID, "--impl: '%s' cannot be mixed with kernel names",
			       tok);
	k = nb_kernel_find(tok);
	if (!k)
		return nb_fail(NB_ERR_NOTFOUND, "--impl: unknown kernel '%s' (see 'normbench "
			       "list')", tok);
	for (size_t i = 0; i < s->nimpls; i++)
		if (s->impls[i] == k)
			return NB_OK;
	if (s->nimpls >= NB_SWEEP_MAX_IMPLS)
		return nb_fail(NB_ERR_INVALID, "--impl: at most %d kernels", NB_SWEEP_MAX_IMPLS);
	s->impls[s->nimpls++] = k;
	return NB_OK;
}

enum nb_status nb_sweep_parse_impls(const char *csv, struct nb_sweep *s)
{
	if (csv && strcmp(csv, "best") == 0) {
		s->impl_mode = NB_IMPL_BEST;
		s->nimpls = 0;
		return NB_OK;
	}
	if (csv && strcmp(csv, "all") == 0) {
		s->impl_mode = NB_IMPL_ALL;
		s->nimpls = 0;
		return NB_OK;
	}
	s->nimpls = 0;
	s->impl_mode = NB_IMPL_NAMED;
	return nb_cli_each_item(csv, "--impl", nb_impl_item, s);
}

/* ---- presets ---- */

static const char nb_preset_help[] =
	"  default  layernorm,rmsnorm,prmsnorm,crmsnorm x f32,bf16 x fwd,bwd x\n"
	"           1x4096,64x4096,512x4096,4096x4096 x threads 1..2, hot (~3-5 min)\n"
	"  quick    the same variants, f32 fwd, 64x1024,16x4096, threads 1..2,\n"
	"           10 short samples (well under a minute; tests and smoke runs)\n"
	"  ci       f32,bf16 x fwd,bwd x 1x4096,64x4096,512x4096, 1 thread, 48\n"
	"           samples in 16 worker processes, kernel cells only (add\n"
	"           --suite kernel,block for the block suite): the regression gate\n"
	"  paper    every variant incl. flashnorm x f32,bf16,f16 x fwd,bwd x\n"
	"           rows 1,64,1024 x d 1024..16384 x threads 1..cores (long)\n"
	"  vendor   every variant, dtype and usable ISA level (--all-isa), hot\n"
	"           and cold cache, threads 1..cores, L1-to-DRAM shapes (long)\n"
	"  default, paper and vendor also time the oneDNN entries (when built)\n"
	"  beside LayerNorm, in the same groups\n";

const char *nb_sweep_preset_help(void)
{
	return nb_preset_help;
}

static void nb_threads_upto(struct nb_sweep *s, int max, int cores)
{
	s->nthreads = 0;
	for (int t = 1; t <= max && t <= cores && s->nthreads < NB_SWEEP_MAX_THREADS; t++)
		s->threads[s->nthreads++] = t;
}

static void nb_shapes_grid(struct nb_sweep *s, const size_t *rows, size_t nrows,
			   const size_t *ds, size_t nd)
{
	s->nshapes = 0;
	for (size_t i = 0; i < nrows; i++)
		for (size_t j = 0; j < nd && s->nshapes < NB_SWEEP_MAX_SHAPES; j++)
			s->shapes[s->nshapes++] = (struct nb_shape){ rows[i], ds[j] };
}

enum nb_status nb_sweep_preset(const char *name, int cores, struct nb_sweep *s)
{
	static const enum nb_variant four[] = { NB_VARIANT_LAYERNORM, NB_VARIANT_RMSNORM,
						NB_VARIANT_PRMSNORM, NB_VARIANT_CRMSNORM };

	if (cores < 1)
		cores = 1;
	memset(s, 0, sizeof(*s));
	s->conv = NB_CONVENTIONS_DEFAULT;
	s->seed = 42;
	s->impl_mode = NB_IMPL_BEST;
	s->samples = 20;
	s->warmup_ms = 50;
	s->min_sample_ms = 5;
	s->max_sample_ms = 100;
	s->stream_ms = 100;
	s->buffer_offset = -1;
	snprintf(s->events, sizeof(s->events), "%s", NB_COUNTERS_DEFAULT_LIST);
	memcpy(s->variants, four, sizeof(four));
	s->nvariants = 4;
	s->dirs[0] = NB_DIR_FORWARD;
	s->dirs[1] = NB_DIR_BACKWARD;
	s->ndirs = 2;
	s->caches[0] = NB_CACHE_HOT;
	s->ncaches = 1;
	s->dtypes[0] = NB_DTYPE_F32;
	s->dtypes[1] = NB_DTYPE_BF16;
	s->ndtypes = 2;

	if (!name || strcmp(name, "default") == 0) {
		static const size_t rows[] = { 1, 64, 512, 4096 }, ds[] = { 4096 };
		nb_shapes_grid(s, rows, 4, ds, 1);
		nb_threads_upto(s, 2, cores);
		s->external = true;
	} else if (strcmp(name, "quick") == 0) {
		s->ndtypes = 1;
		s->ndirs = 1;
		s->shapes[0] = (struct nb_shape){ 64, 1024 };
		s->shapes[1] = (struct nb_shape){ 16, 4096 };
		s->nshapes = 2;
		nb_threads_upto(s, 2, cores);
		s->samples = 10;
		s->warmup_ms = 5;
		s->min_sample_ms = 1;
		s->max_sample_ms = 20;
		s->stream_ms = 10;
	} else if (strcmp(name, "ci") == 0) {
		static const size_t rows[] = { 1, 64, 512 }, ds[] = { 4096 };
		nb_shapes_grid(s, rows, 3, ds, 1);
		nb_threads_upto(s, 1, cores);
		/* 16 processes of 3 samples: the count the gate needs on a
		 * noisy VM (bench/nb_workers.h, docs/gate.md) */
		s->samples = 48;
		/* its 16 worker processes would each set up the block
		 * models: kernel cells unless --suite asks (docs/gate.md) */
		s->kernel_cells_only = true;
		s->warmup_ms = 20;
		s->min_sample_ms = 2;
		s->max_sample_ms = 50;
		s->stream_ms = 50;
	} else if (strcmp(name, "paper") == 0) {
		static const size_t rows[] = { 1, 64, 1024 };
		static const size_t ds[] = { 1024, 2048, 4096, 5120, 8192, 16384 };
		for (int v = 0; v < NB_VARIANT_COUNT; v++)
			s->variants[v] = (enum nb_variant)v;
		s->nvariants = NB_VARIANT_COUNT;
		s->dtypes[2] = NB_DTYPE_F16;
		s->ndtypes = 3;
		nb_shapes_grid(s, rows, 3, ds, 6);
		nb_threads_upto(s, cores, cores);
		s->samples = 30;
		s->stream_ms = 200;
		s->external = true;
	} else if (strcmp(name, "vendor") == 0) {
		static const size_t rows[] = { 1, 16, 256, 4096 }, ds[] = { 4096 };
		for (int v = 0; v < NB_VARIANT_COUNT; v++)
			s->variants[v] = (enum nb_variant)v;
		s->nvariants = NB_VARIANT_COUNT;
		for (int t = 0; t < NB_DTYPE_COUNT; t++)
			s->dtypes[t] = (enum nb_dtype)t;
		s->ndtypes = NB_DTYPE_COUNT;
		nb_shapes_grid(s, rows, 4, ds, 1);
		s->shapes[s->nshapes++] = (struct nb_shape){ 64, 16384 };
		nb_threads_upto(s, cores, cores);
		s->caches[1] = NB_CACHE_COLD;
		s->ncaches = 2;
		s->all_isa = true;
		s->stream_ms = 200;
		s->external = true;
	} else {
		return nb_fail(NB_ERR_NOTFOUND, "--preset: unknown preset '%s' (quick, ci, "
			       "paper, vendor, default)", name);
	}
	snprintf(s->preset, sizeof(s->preset), "%s", name ? name : "default");
	return NB_OK;
}

/* ---- the plan ---- */

enum nb_dtype nb_sweep_default_acc(enum nb_dtype t)
{
	return t == NB_DTYPE_F64 ? NB_DTYPE_F64 : NB_DTYPE_F32;
}

bool nb_sweep_has_bias(enum nb_variant v)
{
	return (unsigned)v < NB_VARIANT_COUNT && nb_variant_traits[v].has_bias;
}

static bool nb_in_list(const int *items, size_t n, int v)
{
	for (size_t i = 0; i < n; i++)
		if (items[i] == v)
			return true;
	return false;
}

/* The first registry entry of exactly this ISA (and algorithm, unless algo
 * is NB_ALGO_COUNT) for the default accumulation: registry order puts the default
 * algorithm first. */
static const struct nb_kernel *nb_first_of(enum nb_variant v, enum nb_direction dir,
					   enum nb_dtype t, enum nb_isa isa, enum nb_algo algo)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		if (k->variant == v && k->dir == dir && k->dtype == t && k->isa == isa &&
		    k->acc == nb_sweep_default_acc(t) &&
		    (algo == NB_ALGO_COUNT || nb_kernel_algo(k) == algo))
			return k;
	}
	return NULL;
}

static void nb_push_kernel(const struct nb_kernel **list, size_t *n, size_t max,
			   const struct nb_kernel *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < *n; i++)
		if (list[i] == k)
			return;
	if (*n < max)
		list[(*n)++] = k;
}

/* The kernels of one (variant, dir, dtype) the sweep times. */
static size_t nb_kernels_for(const struct nb_sweep *s, enum nb_variant v,
			     enum nb_direction dir, enum nb_dtype t,
			     const struct nb_kernel **out, size_t max)
{
	size_t count, n = 0;
	const struct nb_kernel *ks = nb_kernels(&count);

	if (s->impl_mode == NB_IMPL_NAMED) {
		for (size_t i = 0; i < s->nimpls; i++)
			if (s->impls[i]->variant == v && s->impls[i]->dir == dir &&
			    s->impls[i]->dtype == t)
				nb_push_kernel(out, &n, max, s->impls[i]);
		return n;
	}
	if (s->impl_mode == NB_IMPL_ALL) {
		for (size_t i = 0; i < count; i++)
			if (ks[i].variant == v && ks[i].dir == dir && ks[i].dtype == t &&
			    nb_isa_usable(ks[i].isa) && nb_kernel_conventions_ok(&ks[i], &s->conv))
				nb_push_kernel(out, &n, max, &ks[i]);
		return n;
	}
	/* best: per ISA level with --all-isa, else the highest usable one.
	 * FlashNorm's fused and unfused algorithms are the comparison itself,
	 * so each algorithm gets its best kernel. */
	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		enum nb_algo algo = v == NB_VARIANT_FLASHNORM ? nb_kernel_algo(k) : NB_ALGO_COUNT;
		if (k->variant != v || k->dir != dir || k->dtype != t ||
		    k->acc != nb_sweep_default_acc(t) || !nb_isa_usable(k->isa))
			continue;
		if (s->all_isa) {
			nb_push_kernel(out, &n, max, nb_first_of(v, dir, t, k->isa, algo));
		} else {
			const struct nb_kernel *best = NULL;
			for (int isa = (int)nb_isa_cap(); isa >= 0 && !best; isa--)
				best = nb_first_of(v, dir, t, (enum nb_isa)isa, algo);
			nb_push_kernel(out, &n, max, best);
		}
	}
	/* the vendor's library beside the best kernels, in the same group */
	for (size_t i = 0; s->external && i < count; i++)
		if (nb_kernel_external(&ks[i]) && ks[i].variant == v && ks[i].dir == dir &&
		    ks[i].dtype == t && nb_kernel_conventions_ok(&ks[i], &s->conv))
			nb_push_kernel(out, &n, max, &ks[i]);
	return n;
}

static size_t nb_flash_m(size_t d)
{
	return d * d <= NB_SWEEP_FLASH_MAX_W ? d : NB_SWEEP_FLASH_MAX_W / d;
}

enum nb_status nb_sweep_plan(const struct nb_sweep *s, const struct nb_sweep_explicit *ex,
			     struct nb_planned_cell **cells_out, size_t *ncells_out)
{
	struct nb_sweep eff = *s;
	struct nb_planned_cell *cells = NULL;
	size_t ncells = 0, cap = 0;
	int group = 0;

	*cells_out = NULL;
	*ncells_out = 0;
	if (s->impl_mode == NB_IMPL_NAMED) {
		/* axes the user left alone follow the named kernels */
		if (!ex->variants)
			eff.nvariants = 0;
		if (!ex->dtypes)
			eff.ndtypes = 0;
		if (!ex->dirs)
			eff.ndirs = 0;
		for (size_t i = 0; i < s->nimpls; i++) {
			const struct nb_kernel *k = s->impls[i];
			if (!nb_isa_usable(k->isa))
				return nb_fail(NB_ERR_UNSUPPORTED, "--impl: kernel %s needs %s; "
					       "this CPU (or the ISA cap) allows %s", k->name,
					       nb_isa_name(k->isa), nb_isa_name(nb_isa_cap()));
			if (!nb_kernel_conventions_ok(k, &eff.conv))
				return nb_fail(NB_ERR_UNSUPPORTED, "--impl: kernel %s puts eps "
					       "inside the square root only (no --eps-outside)",
					       k->name);
			if (ex->variants && !nb_in_list((const int *)eff.variants, eff.nvariants,
							(int)k->variant))
				return nb_fail(NB_ERR_INVALID, "--impl: kernel %s is a %s kernel, "
					       "not in --variants", k->name,
					       nb_variant_name(k->variant));
			if (ex->dtypes && !nb_in_list((const int *)eff.dtypes, eff.ndtypes,
						      (int)k->dtype))
				return nb_fail(NB_ERR_INVALID, "--impl: kernel %s is a %s kernel, "
					       "not in --dtypes", k->name,
					       nb_dtype_traits[k->dtype].name);
			if (ex->dirs && !nb_in_list((const int *)eff.dirs, eff.ndirs, (int)k->dir))
				return nb_fail(NB_ERR_INVALID, "--impl: kernel %s is a %s kernel, "
					       "not in --dir", k->name, nb_direction_name(k->dir));
			if (!nb_in_list((const int *)eff.variants, eff.nvariants, (int)k->variant))
				eff.variants[eff.nvariants++] = k->variant;
			if (!nb_in_list((const int *)eff.dtypes, eff.ndtypes, (int)k->dtype))
				eff.dtypes[eff.ndtypes++] = k->dtype;
			if (!nb_in_list((const int *)eff.dirs, eff.ndirs, (int)k->dir))
				eff.dirs[eff.ndirs++] = k->dir;
		}
	}
	for (size_t v = 0; v < eff.nvariants; v++)
		for (size_t i = 0; i < eff.nshapes; i++)
			if (eff.shapes[i].d < nb_variant_min_d(eff.variants[v]))
				return nb_fail(NB_ERR_INVALID, "--shapes: %zux%zu: %s needs "
					       "d >= %zu", eff.shapes[i].rows, eff.shapes[i].d,
					       nb_variant_traits[eff.variants[v]].title,
					       nb_variant_min_d(eff.variants[v]));

	for (size_t di = 0; di < eff.ndirs; di++)
	for (size_t ti = 0; ti < eff.ndtypes; ti++)
	for (size_t si = 0; si < eff.nshapes; si++)
	for (size_t hi = 0; hi < eff.nthreads; hi++)
	for (size_t ci = 0; ci < eff.ncaches; ci++) {
		size_t before = ncells;

		for (size_t vi = 0; vi < eff.nvariants; vi++) {
			const struct nb_kernel *ks[NB_SWEEP_MAX_IMPLS];
			size_t nk = nb_kernels_for(&eff, eff.variants[vi], eff.dirs[di],
						   eff.dtypes[ti], ks, NB_SWEEP_MAX_IMPLS);
			for (size_t j = 0; j < nk; j++) {
				struct nb_planned_cell *c;
				if (ncells == cap) {
					size_t ncap = cap ? 2 * cap : 64;
					void *p = realloc(cells, ncap * sizeof(*cells));
					if (!p) {
						free(cells);
						return nb_fail(NB_ERR_NOMEM, "no memory for the plan");
					}
					cells = p;
					cap = ncap;
				}
				c = &cells[ncells++];
				c->kernel = ks[j];
				c->shape = eff.shapes[si];
				c->m = nb_variant_traits[ks[j]->variant].linear
					? nb_flash_m(eff.shapes[si].d) : 0;
				c->threads = eff.threads[hi];
				c->cache = eff.caches[ci];
				c->group = group;
				c->suite = NULL;
			}
		}
		if (ncells > before)
			group++;
	}
	if (ncells == 0) {
		free(cells);
		return nb_fail(NB_ERR_INVALID, "nothing to run: no registered kernel matches "
			       "the chosen variants, dtypes, directions and ISA");
	}
	*cells_out = cells;
	*ncells_out = ncells;
	return NB_OK;
}

/* ---- cost model ---- */

struct nb_cost nb_sweep_cost(const struct nb_kernel *k, size_t rows, size_t d, size_t m,
			     const struct nb_conventions *conv)
{
	const struct nb_variant_traits *tr = &nb_variant_traits[k->variant];
	const struct nb_flops *f = k->dir == NB_DIR_FORWARD ? &tr->fwd : &tr->bwd;
	struct nb_cost c = { 0, 0 };
	double s = (double)nb_dtype_traits[k->dtype].size;
	double g = (double)nb_dtype_traits[nb_grad_dtype(k->dtype, k->acc)].size;
	double r = (double)rows;
	double n = (double)nb_variant_stored(k->variant, d);
	double kk = k->variant == NB_VARIANT_PRMSNORM
		? (double)nb_prms_k(d, conv->prms_p, conv->prms_round) : n;
	double bias = tr->has_bias ? 1.0 : 0.0;
	double mm = tr->linear ? (double)m : 0.0;

	/* the counts are whole numbers below 2^53: exact in any order */
	c.flops = r * (f->per_n * n + f->per_k * kk + f->per_row + f->per_nm * n * mm +
		       f->per_m * mm);
	if (tr->linear)
		/* x once, W* once, z once (the scratch of the unfused baseline is
		 * not required traffic: both algorithms are charged the same) */
		c.bytes = s * (r * n + n * mm + r * mm);
	else if (k->dir == NB_DIR_FORWARD)
		c.bytes = s * (2.0 * r * n + n * (1.0 + bias));
	else
		c.bytes = s * (3.0 * r * n + n) + g * n * (1.0 + bias);
	return c;
}
