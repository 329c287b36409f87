/* The regression gate (SPEC §7): pooled raw samples per cell, matching by
 * key (then by slot when the best kernel changed), a one-sided rank test and
 * a bootstrap interval of the ratio of medians per cell, NEW's verification
 * failures, and the text / Markdown / JSON renderings of the outcome. */
#include "bench/nb_compare.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "bench/nb_format.h"
#include "bench/nb_stats.h"
#include "common/nb_rng.h"

static const char *const nb_verdict_names[NB_VERDICT_COUNT] = {
	[NB_VERDICT_REGRESSED] = "REGRESSED",
	[NB_VERDICT_SLOWER] = "slower",
	[NB_VERDICT_SAME] = "same",
	[NB_VERDICT_FASTER] = "faster",
	[NB_VERDICT_IMPROVED] = "improved",
	[NB_VERDICT_NODATA] = "no data",
	[NB_VERDICT_INCONCLUSIVE] = "INCONCLUSIVE",
};

const char *nb_verdict_name(enum nb_verdict v)
{
	return (unsigned)v < NB_VERDICT_COUNT ? nb_verdict_names[v] : "?";
}

void nb_compare_opts_default(struct nb_compare_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->alpha = NB_COMPARE_ALPHA;
	o->min_effect = NB_COMPARE_MIN_EFFECT;
	o->seed = NB_COMPARE_SEED;
	o->resamples = NB_COMPARE_RESAMPLES;
	o->runs = NB_RUNS_POOLED;
}

enum nb_status nb_compare_opts_check(const struct nb_compare_opts *o)
{
	/* alpha < 0.5 keeps the interval level 1 - 2 alpha inside (0, 1) */
	if (!(o->alpha > 0.0 && o->alpha < 0.5))
		return nb_fail(NB_ERR_INVALID, "--alpha %g: must lie in (0, 0.5)", o->alpha);
	if (!(o->min_effect >= 0.0 && o->min_effect <= 10.0))
		return nb_fail(NB_ERR_INVALID, "--min-effect %g: must lie in [0, 10] (0.05 = 5%%)",
			       o->min_effect);
	if (!(o->inject > -1.0 && o->inject <= 100.0))
		return nb_fail(NB_ERR_INVALID, "--inject-slowdown %g: must lie in (-1, 100]",
			       o->inject);
	if (o->resamples < 100 || o->resamples > 1000000)
		return nb_fail(NB_ERR_INVALID, "--resamples %zu: must lie in [100, 1000000]",
			       o->resamples);
	return NB_OK;
}

static bool nb_any_nan(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (isnan(x[i]))
			return true;
	return false;
}

/* Processes per side that would likely put the interval on one side of
 * the threshold: the interval narrows as 1/sqrt(n), so with half-width h
 * (log scale) at `have` processes and the estimate at log distance gap from
 * 1 + min_effect, n = have (h / gap)^2 (docs/gate.md). */
static int nb_suggest(double ratio, double lo, double hi, double up, int have)
{
	double gap = fabs(log(ratio) - log(up)), h = 0.5 * (log(hi) - log(lo)), n;

	if (!(h > 0) || !(gap > 0))
		return NB_COMPARE_MAX_SUGGEST + 1;
	n = (double)have * (h / gap) * (h / gap);
	if (n > NB_COMPARE_MAX_SUGGEST)
		return NB_COMPARE_MAX_SUGGEST + 1;
	return (int)ceil(n) > have ? (int)ceil(n) : have + 1;
}

/* The fewest processes a side for which the rank interval exists at this
 * alpha (5 at 0.01). */
static size_t nb_least_processes(double alpha)
{
	for (size_t n = 2; n < NB_COMPARE_MAX_SUGGEST; n++) {
		size_t k = 0;
		if (nb_rank_interval_order(n, n, alpha, &k) == NB_OK && k >= 1)
			return n;
	}
	return NB_COMPARE_MAX_SUGGEST;
}

/* The verdict from the process-level interval (see the header). */
static enum nb_verdict nb_decide(struct nb_compare_stat *st, const struct nb_compare_opts *o)
{
	double up = 1.0 + o->min_effect, down = 1.0 / up;
	int have = (int)(st->runs_base < st->runs_new ? st->runs_base : st->runs_new);

	if (isnan(st->ci_lo) || isnan(st->ci_hi)) {
		size_t least = nb_least_processes(o->alpha);

		snprintf(st->reason, sizeof(st->reason), "%zu process(es) in BASE, %zu in NEW: "
			 "a %g%% rank interval needs at least %zu a side",
			 st->runs_base, st->runs_new, 100.0 * (1.0 - 2.0 * o->alpha), least);
		st->suggest_processes = (int)(least > NB_COMPARE_MIN_PROCESSES ?
					      least : NB_COMPARE_MIN_PROCESSES);
		return NB_VERDICT_INCONCLUSIVE;
	}
	if (st->ci_lo > up)
		return NB_VERDICT_REGRESSED;
	if (st->ci_hi < down)
		return NB_VERDICT_IMPROVED;
	if (st->ci_hi <= up) {
		if (st->p_slower <= o->alpha)
			return NB_VERDICT_SLOWER;
		if (st->p_faster <= o->alpha)
			return NB_VERDICT_FASTER;
		return NB_VERDICT_SAME;
	}
	snprintf(st->reason, sizeof(st->reason), "the %g%% interval [%.3f, %.3f] holds %.3f: a "
		 "slowdown of %g%% is neither shown nor excluded (between-process SD %.1f%%)",
		 100.0 * (1.0 - 2.0 * o->alpha), st->ci_lo, st->ci_hi, up, 100.0 * o->min_effect,
		 100.0 * st->sd_log);
	st->suggest_processes = nb_suggest(st->ratio, st->ci_lo, st->ci_hi, up, have);
	return NB_VERDICT_INCONCLUSIVE;
}

static size_t nb_side_count(const struct nb_compare_side *s)
{
	size_t total = 0;

	for (size_t r = 0; r < s->nruns; r++)
		total += s->n[r];
	return total;
}

/* All samples of a side in one array (malloc'd; NULL when empty or out of
 * memory). */
static double *nb_side_pool(const struct nb_compare_side *s, size_t total)
{
	double *x = total ? malloc(total * sizeof(*x)) : NULL;
	size_t m = 0;

	if (!x)
		return NULL;
	for (size_t r = 0; r < s->nruns; r++) {
		memcpy(x + m, s->runs[r], s->n[r] * sizeof(*x));
		m += s->n[r];
	}
	return x;
}

/* One number per process with samples (out: s->nruns doubles): the
 * NB_COMPARE_PROCESS_QUANTILE of its samples. The count; 0 when out of
 * memory. */
static size_t nb_side_levels(const struct nb_compare_side *s, double *out)
{
	size_t k = 0, big = 0;
	double *buf;

	for (size_t r = 0; r < s->nruns; r++)
		big = s->n[r] > big ? s->n[r] : big;
	buf = malloc((big + 1) * sizeof(*buf));
	if (!buf)
		return 0;
	for (size_t r = 0; r < s->nruns; r++) {
		if (!s->n[r])
			continue;
		memcpy(buf, s->runs[r], s->n[r] * sizeof(*buf));
		nb_sort_doubles(buf, s->n[r]);
		out[k++] = nb_quantile_sorted(buf, s->n[r], NB_COMPARE_PROCESS_QUANTILE);
	}
	free(buf);
	return k;
}

enum nb_status nb_compare_runs(const struct nb_compare_side *base,
			       const struct nb_compare_side *cand,
			       const struct nb_compare_opts *o, uint64_t seed,
			       struct nb_compare_stat *out)
{
	size_t nb = nb_side_count(base), nc = nb_side_count(cand);
	double *xb = NULL, *xc = NULL, *mb = NULL, *mc = NULL;
	struct nb_process_test pt;
	enum nb_status st;

	(void)seed;
	*out = (struct nb_compare_stat){ .n_base = nb, .n_new = nc, .base_median = NAN,
		.new_median = NAN, .ratio = NAN, .ci_lo = NAN, .ci_hi = NAN, .p_slower = NAN,
		.p_faster = NAN, .verdict = NB_VERDICT_NODATA, .sd_log = NAN };
	if ((st = nb_compare_opts_check(o)) != NB_OK)
		return st;
	for (size_t r = 0; r < base->nruns; r++)
		if ((base->n[r] && !base->runs[r]) || nb_any_nan(base->runs[r], base->n[r]))
			return nb_fail(NB_ERR_INVALID, "compare: a BASE sample is NaN or missing");
	for (size_t r = 0; r < cand->nruns; r++)
		if ((cand->n[r] && !cand->runs[r]) || nb_any_nan(cand->runs[r], cand->n[r]))
			return nb_fail(NB_ERR_INVALID, "compare: a NEW sample is NaN or missing");
	if (nb == 0 || nc == 0)
		return NB_OK;
	xb = nb_side_pool(base, nb);
	xc = nb_side_pool(cand, nc);
	mb = malloc((base->nruns + 1) * sizeof(*mb));
	mc = malloc((cand->nruns + 1) * sizeof(*mc));
	if (!xb || !xc || !mb || !mc) {
		st = nb_fail(NB_ERR_NOMEM, "compare: out of memory");
		goto free_all;
	}
	out->base_median = nb_median(xb, nb);
	out->new_median = nb_median(xc, nc);
	out->runs_base = nb_side_levels(base, mb);
	out->runs_new = nb_side_levels(cand, mc);
	if (out->runs_base == 0 || out->runs_new == 0) {
		st = nb_fail(NB_ERR_NOMEM, "compare: out of memory");
		goto free_all;
	}
	for (size_t i = 0; i < out->runs_base; i++)
		if (!(mb[i] > 0.0))
			goto free_all;
	for (size_t i = 0; i < out->runs_new; i++)
		if (!(mc[i] > 0.0))
			goto free_all;
	st = nb_process_ratio(mb, out->runs_base, mc, out->runs_new, o->alpha, &pt);
	if (st != NB_OK)
		goto free_all;
	out->ratio = pt.ratio;
	out->ci_lo = pt.lo;
	out->ci_hi = pt.hi;
	out->p_slower = pt.p_slower;
	out->p_faster = pt.p_faster;
	out->sd_log = pt.sd_log;
	out->verdict = nb_decide(out, o);
free_all:
	if (st != NB_OK)
		out->verdict = NB_VERDICT_NODATA;
	free(mc);
	free(mb);
	free(xc);
	free(xb);
	return st;
}

enum nb_status nb_compare_samples(const double *base, size_t nbase, const double *cand,
				  size_t ncand, const struct nb_compare_opts *o, uint64_t seed,
				  struct nb_compare_stat *out)
{
	const double *br[1] = { base }, *cr[1] = { cand };
	struct nb_compare_side bs = { br, &nbase, 1 }, cs = { cr, &ncand, 1 };

	return nb_compare_runs(&bs, &cs, o, seed, out);
}

/* ---- the report's growable arrays ---- */

void nb_compare_report_init(struct nb_compare_report *rep)
{
	memset(rep, 0, sizeof(*rep));
	nb_compare_opts_default(&rep->opts);
	rep->ci_level = 1.0 - 2.0 * rep->opts.alpha;
	rep->exit_code = NB_EXIT_ERROR;
}

void nb_compare_report_free(struct nb_compare_report *rep)
{
	free(rep->base_files);
	free(rep->new_files);
	free(rep->rows);
	free(rep->only_base);
	free(rep->only_new);
	free(rep->failures);
	free(rep->geo);
	free(rep->warnings);
	nb_compare_report_init(rep);
}

/* Makes room for one more element of size `size` in *arr (n used): the
 * capacity is 4, then doubles each time n reaches a power of two >= 4. */
static enum nb_status nb_grow(void *arr, size_t n, size_t size)
{
	void **p = arr;
	void *q;

	if (n != 0 && (n < 4 || (n & (n - 1)) != 0))
		return NB_OK;
	q = realloc(*p, (n ? 2 * n : 4) * size);
	if (!q)
		return nb_fail(NB_ERR_NOMEM, "compare: out of memory");
	*p = q;
	return NB_OK;
}

static enum nb_status nb_warn(struct nb_compare_report *rep, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static enum nb_status nb_warn(struct nb_compare_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (nb_grow(&rep->warnings, rep->nwarnings, sizeof(*rep->warnings)) != NB_OK)
		return NB_ERR_NOMEM;
	va_start(ap, fmt);
	vsnprintf(rep->warnings[rep->nwarnings], sizeof(rep->warnings[0]), fmt, ap);
	va_end(ap);
	rep->nwarnings++;
	return NB_OK;
}

static enum nb_status nb_add_failure(struct nb_compare_report *rep, const char *what,
				     const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum nb_status nb_add_failure(struct nb_compare_report *rep, const char *what,
				     const char *fmt, ...)
{
	struct nb_compare_failure *f;
	va_list ap;

	if (nb_grow(&rep->failures, rep->nfailures, sizeof(*rep->failures)) != NB_OK)
		return NB_ERR_NOMEM;
	f = &rep->failures[rep->nfailures++];
	snprintf(f->what, sizeof(f->what), "%s", what);
	va_start(ap, fmt);
	vsnprintf(f->detail, sizeof(f->detail), fmt, ap);
	va_end(ap);
	return NB_OK;
}

static enum nb_status nb_add_key(char (**list)[NB_COMPARE_KEY], size_t *n, const char *key)
{
	if (nb_grow(list, *n, sizeof(**list)) != NB_OK)
		return NB_ERR_NOMEM;
	snprintf((*list)[*n], NB_COMPARE_KEY, "%s", key);
	(*n)++;
	return NB_OK;
}

/* ---- one side: cells of all its files, samples pooled by match key ---- */

struct nb_pool_cell {
	struct nb_cell_row row;        /* as the first file holding it has it */
	char key[NB_COMPARE_KEY];      /* nb_results_cell_key */
	char match[NB_COMPARE_KEY + 160]; /* key + ISA, accumulation, algorithm, m */
	char slot[NB_COMPARE_KEY + 160];  /* match without kernel name and ISA */
	double *x;                     /* raw samples, seconds per call, run by run */
	bool *clean;                   /* no context switch / migration seen */
	size_t n;
	size_t *run_end;               /* run r holds x[run_end[r-1] .. run_end[r]) */
	size_t nruns;
	bool unstable;
	bool busy;                     /* some file noted it busy */
	bool oversubscribed;           /* some file flagged it (issue 13) */
	bool paired;
	size_t failed;                 /* files whose accuracy check failed */
	double err_ratio;              /* worst error/bound (NaN: never checked) */
	char note[NB_RES_TEXT];        /* verify note of a failing file */
};

struct nb_pool {
	struct nb_pool_cell *c;
	size_t n;
};

static void nb_pool_free(struct nb_pool *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->c[i].x);
		free(p->c[i].clean);
		free(p->c[i].run_end);
	}
	free(p->c);
	p->c = NULL;
	p->n = 0;
}

static void nb_cell_ids(const struct nb_cell_row *r, char *key, char *match, char *slot,
			size_t size)
{
	nb_results_cell_key(r, key, NB_COMPARE_KEY);
	snprintf(match, size, "%s|%s|%s|%s|m%llu", key, r->isa, r->acc, r->algo,
		 (unsigned long long)r->m);
	snprintf(slot, size, "%s/%s/%s/%s/%s/%s/%llux%llu/m%llu/t%d/%s", r->suite, r->variant,
		 r->dtype, r->acc, r->dir, r->algo, (unsigned long long)r->rows,
		 (unsigned long long)r->d, (unsigned long long)r->m, (int)r->threads, r->cache);
}

/* A cell's accuracy check failed: the harness said so, or its error grew
 * beyond the derived bound (err_ratio > 1) whatever the flag says. */
static bool nb_cell_failed(const struct nb_cell_row *r)
{
	return r->verified == 0 || (isfinite(r->err_ratio) && r->err_ratio > 1.0);
}

/* Adds the cells of one file (one run) to a side; scale multiplies its
 * samples (1 but for --inject-slowdown on NEW). */
static enum nb_status nb_pool_add(struct nb_pool *p, const struct nb_results *r, double scale)
{
	char key[NB_COMPARE_KEY], match[NB_COMPARE_KEY + 160], slot[NB_COMPARE_KEY + 160];

	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *row = &r->cells[i];
		const struct nb_sample_row *s;
		struct nb_pool_cell *c = NULL;
		size_t count, *ends;
		double *x;
		bool *cl;

		nb_cell_ids(row, key, match, slot, sizeof(match));
		for (size_t j = 0; j < p->n && !c; j++)
			if (strcmp(p->c[j].match, match) == 0)
				c = &p->c[j];
		if (!c) {
			if (nb_grow(&p->c, p->n, sizeof(*p->c)) != NB_OK)
				return NB_ERR_NOMEM;
			c = &p->c[p->n++];
			memset(c, 0, sizeof(*c));
			c->row = *row;
			memcpy(c->key, key, sizeof(key));
			memcpy(c->match, match, sizeof(match));
			memcpy(c->slot, slot, sizeof(slot));
			c->err_ratio = NAN;
		}
		c->unstable = c->unstable || row->unstable;
		c->busy = c->busy || (strstr(row->notes, "busy") != NULL &&
				      strstr(row->notes, "busy unknown") == NULL);
		c->oversubscribed = c->oversubscribed || row->oversubscribed == 1;
		if (isfinite(row->err_ratio) && !(row->err_ratio <= c->err_ratio))
			c->err_ratio = row->err_ratio;
		if (nb_cell_failed(row)) {
			c->failed++;
			if (!c->note[0])
				nb_res_strcpy(c->note, sizeof(c->note), row->verify_note);
		}
		s = nb_results_cell_samples(r, i, &count);
		if (!s)
			count = 0;
		x = realloc(c->x, (c->n + count + 1) * sizeof(*x));
		if (x)
			c->x = x;
		cl = realloc(c->clean, (c->n + count + 1) * sizeof(*cl));
		if (cl)
			c->clean = cl;
		/* one run per worker process (older files: one per file) */
		ends = realloc(c->run_end, (c->nruns + count + 1) * sizeof(*ends));
		if (ends)
			c->run_end = ends;
		if (!x || !cl || !ends)
			return nb_fail(NB_ERR_NOMEM, "compare: out of memory for the samples");
		/* -1: the events were not available, nothing says disturbed */
		for (size_t k = 0; k < count; k++) {
			if (k > 0 && s[k].process != s[k - 1].process)
				c->run_end[c->nruns++] = c->n;
			c->x[c->n] = s[k].seconds * scale;
			c->clean[c->n++] = s[k].ctx_switches <= 0 && s[k].migrations <= 0;
		}
		c->run_end[c->nruns++] = c->n;
	}
	return NB_OK;
}

/* ---- checks across the input files ---- */

static void nb_file_summary(struct nb_compare_file *f, const struct nb_compare_input *in)
{
	const struct nb_results_meta *m = &in->results->meta;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s", in->name ? in->name : "(memory)");
	nb_res_strcpy(f->git_rev, sizeof(f->git_rev), m->git_rev);
	f->git_dirty = m->git_dirty;
	nb_res_strcpy(f->utc_time, sizeof(f->utc_time), m->utc_time);
	nb_res_strcpy(f->machine_key, sizeof(f->machine_key), m->machine_key);
	nb_res_strcpy(f->preset, sizeof(f->preset), m->preset);
	nb_res_strcpy(f->isa_cap, sizeof(f->isa_cap), m->isa_cap);
	f->complete = m->complete;
	f->ncells = in->results->ncells;
}

/* The slow-changing facts of the machine key that are read, not measured. */
static bool nb_same_cpu(const struct nb_results_meta *a, const struct nb_results_meta *b)
{
	return a->cpu_model[0] && strcmp(a->cpu_model, b->cpu_model) == 0 &&
	       strcmp(a->cpu_flags, b->cpu_flags) == 0 && a->cores == b->cores &&
	       a->virtualized == b->virtualized;
}

static enum nb_status nb_check_inputs(const struct nb_compare_input *all, size_t nall,
				      size_t nbase, const struct nb_compare_opts *o,
				      struct nb_compare_report *rep)
{
	const struct nb_results_meta *ref = &all[0].results->meta;
	const char *ref_name = all[0].name ? all[0].name : "BASE";

	for (size_t i = 0; i < nall; i++) {
		const struct nb_results_meta *m = &all[i].results->meta;
		const char *name = all[i].name ? all[i].name : "(memory)";
		const char *side = i < nbase ? "BASE" : "NEW";
		bool seen_key = false, seen_cap = false, seen_conv = false;

		if (!m->complete && nb_warn(rep, "%s %s is an interrupted run (complete = 0): "
					    "cells it lacks are listed as missing", side,
					    name) != NB_OK)
			return NB_ERR_NOMEM;
		if (i == 0)
			continue;
		/* one warning per distinct value, not one per round file */
		for (size_t j = 1; j < i; j++) {
			const struct nb_results_meta *p = &all[j].results->meta;
			seen_key = seen_key || strcmp(p->machine_key, m->machine_key) == 0;
			seen_cap = seen_cap || strcmp(p->isa_cap, m->isa_cap) == 0;
			seen_conv = seen_conv || (p->eps == m->eps && p->prms_p == m->prms_p &&
						  strcmp(p->eps_mode, m->eps_mode) == 0 &&
						  strcmp(p->prms_round, m->prms_round) == 0);
		}
		if (strcmp(m->machine_key, ref->machine_key) != 0 && nb_same_cpu(m, ref)) {
			/* the key also hashes the measured L1d/L2 sizes, which a busy
			 * VM (no sysfs cache sizes) measures differently run to run */
			if (!seen_key && nb_warn(rep, "machine keys differ (%s: %s, %s: %s) but CPU model, flags, "
				    "core count and virtualization agree: only the measured cache "
				    "sizes differ (%s / %s); compared", ref_name, ref->machine_key,
				    name, m->machine_key, ref->caches, m->caches) != NB_OK)
				return NB_ERR_NOMEM;
		} else if (strcmp(m->machine_key, ref->machine_key) != 0) {
			if (!o->force)
				return nb_fail(NB_ERR_INVALID,
					       "machine keys differ: %s has %s (%s, %d CPUs), %s %s has "
					       "%s (%s, %d CPUs); timings of different machines are "
					       "not comparable (--force compares them anyway)",
					       ref_name, ref->machine_key, ref->cpu_model, ref->cores,
					       side, name, m->machine_key, m->cpu_model, m->cores);
			if (!seen_key &&
			    nb_warn(rep, "machine keys differ (%s: %s, %s: %s), compared because "
				    "of --force", ref_name, ref->machine_key, name,
				    m->machine_key) != NB_OK)
				return NB_ERR_NOMEM;
		}
		if (!seen_conv &&
		    (m->eps != ref->eps || strcmp(m->eps_mode, ref->eps_mode) != 0 ||
		     m->prms_p != ref->prms_p || strcmp(m->prms_round, ref->prms_round) != 0) &&
		    nb_warn(rep, "conventions differ: %s has eps %g %s, pRMSNorm p %g %s; %s "
			    "has eps %g %s, p %g %s", ref_name, ref->eps, ref->eps_mode,
			    ref->prms_p, ref->prms_round, name, m->eps, m->eps_mode, m->prms_p,
			    m->prms_round) != NB_OK)
			return NB_ERR_NOMEM;
		if (!seen_cap && strcmp(m->isa_cap, ref->isa_cap) != 0 &&
		    nb_warn(rep, "ISA caps differ: %s ran with %s, %s with %s", ref_name,
			    ref->isa_cap, name, m->isa_cap) != NB_OK)
			return NB_ERR_NOMEM;
	}
	return NB_OK;
}

/* ---- matching and the rows ---- */

static uint64_t nb_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

/* Appends the first n bytes of s to out (length *len, capacity size), cut
 * to fit. */
static void nb_cat(char *out, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + 1 >= size)
		return;
	if (n > size - 1 - *len)
		n = size - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

/* key with its kernel name replaced by "old->new" (cut to size). */
static void nb_changed_key(const struct nb_pool_cell *b, const struct nb_pool_cell *n,
			   char *out, size_t size)
{
	size_t il = strlen(b->row.impl), len = 0;
	const char *at = b->key;

	out[0] = '\0';
	/* the kernel name sits between two slashes */
	while ((at = strstr(at, b->row.impl)) != NULL &&
	       !(at > b->key && at[-1] == '/' && at[il] == '/'))
		at++;
	if (!at) {
		nb_cat(out, size, &len, b->key, strlen(b->key));
		nb_cat(out, size, &len, " (now ", 6);
		nb_cat(out, size, &len, n->row.impl, strlen(n->row.impl));
		nb_cat(out, size, &len, ")", 1);
		return;
	}
	nb_cat(out, size, &len, b->key, (size_t)(at - b->key) + il);
	nb_cat(out, size, &len, "->", 2);
	nb_cat(out, size, &len, n->row.impl, strlen(n->row.impl));
	nb_cat(out, size, &len, at + il, strlen(at + il));
}

/* Every run of c with samples keeps at least NB_COMPARE_MIN_CLEAN clean
 * ones. */
static bool nb_runs_clean_enough(const struct nb_pool_cell *c)
{
	size_t start = 0;

	for (size_t r = 0; r < c->nruns; r++) {
		size_t clean = 0;
		for (size_t i = start; i < c->run_end[r]; i++)
			clean += c->clean[i];
		if (c->run_end[r] > start && clean < NB_COMPARE_MIN_CLEAN)
			return false;
		start = c->run_end[r];
	}
	return true;
}

/* A side of c for nb_compare_runs: the runs that have samples, only their
 * clean samples when filter. xs (c->n doubles), runs and ns (c->nruns each)
 * are the caller's storage. */
static void nb_make_side(const struct nb_pool_cell *c, bool filter, double *xs,
			 const double **runs, size_t *ns, struct nb_compare_side *side)
{
	size_t start = 0, m = 0, nr = 0;

	for (size_t r = 0; r < c->nruns; r++) {
		size_t first = m;
		for (size_t i = start; i < c->run_end[r]; i++)
			if (!filter || c->clean[i])
				xs[m++] = c->x[i];
		if (m > first) {
			runs[nr] = xs + first;
			ns[nr++] = m - first;
		}
		start = c->run_end[r];
	}
	side->runs = runs;
	side->n = ns;
	side->nruns = nr;
}

/* NB_RUNS_BEST: keeps only the side's run with the lowest median. The
 * disturbances of a shared machine only ever add time (a preempted or
 * cache-starved run is slower, never faster), so the fastest run is the
 * least disturbed one; but the interval then knows nothing of how much
 * undisturbed runs differ, which is why it is not the default (on the
 * development VM it failed 6 of 12 A/A comparisons of 5 rounds a side,
 * pooling none). */
static enum nb_status nb_pick_best(struct nb_compare_side *side, int *pick)
{
	double best = INFINITY;
	size_t k = 0;

	*pick = -1;
	if (side->nruns < 2) {
		*pick = side->nruns ? 0 : -1;
		return NB_OK;
	}
	for (size_t r = 0; r < side->nruns; r++) {
		double m = nb_median(side->runs[r], side->n[r]);
		if (isnan(m))
			return nb_fail(NB_ERR_NOMEM, "compare: out of memory");
		if (m < best) {
			best = m;
			k = r;
		}
	}
	side->runs += k;
	side->n += k;
	side->nruns = 1;
	*pick = (int)k;
	return NB_OK;
}

static enum nb_status nb_add_row(struct nb_compare_report *rep, struct nb_pool_cell *b,
				 struct nb_pool_cell *n, bool changed,
				 const struct nb_compare_opts *o)
{
	struct nb_compare_side bs, ns;
	struct nb_compare_row *row;
	double *xb = malloc((b->n + 1) * sizeof(*xb));
	double *xn = malloc((n->n + 1) * sizeof(*xn));
	const double **rb = malloc((b->nruns + 1) * sizeof(*rb));
	const double **rn = malloc((n->nruns + 1) * sizeof(*rn));
	size_t *nb = malloc((b->nruns + 1) * sizeof(*nb));
	size_t *nn = malloc((n->nruns + 1) * sizeof(*nn));
	enum nb_status st = NB_OK;
	bool filter;

	if (!xb || !xn || !rb || !rn || !nb || !nn ||
	    nb_grow(&rep->rows, rep->nrows, sizeof(*rep->rows)) != NB_OK) {
		st = nb_fail(NB_ERR_NOMEM, "compare: out of memory");
		goto free_all;
	}
	row = &rep->rows[rep->nrows];
	memset(row, 0, sizeof(*row));
	if (changed)
		nb_changed_key(b, n, row->key, sizeof(row->key));
	else
		snprintf(row->key, sizeof(row->key), "%s", b->key);
	nb_res_strcpy(row->variant, sizeof(row->variant), b->row.variant);
	nb_res_strcpy(row->base_impl, sizeof(row->base_impl), b->row.impl);
	nb_res_strcpy(row->new_impl, sizeof(row->new_impl), n->row.impl);
	row->impl_changed = changed;
	row->unstable = b->unstable || n->unstable;
	row->busy = b->busy || n->busy;
	row->oversubscribed = b->oversubscribed || n->oversubscribed;
	row->base_err_ratio = b->err_ratio;
	row->new_err_ratio = n->err_ratio;
	row->base_total = b->n;
	row->new_total = n->n;
	/* both sides alike, or a side's preempted samples would pass for a
	 * slowdown */
	filter = !o->all_samples && nb_runs_clean_enough(b) && nb_runs_clean_enough(n);
	nb_make_side(b, filter, xb, rb, nb, &bs);
	nb_make_side(n, filter, xn, rn, nn, &ns);
	row->filtered = filter && (nb_side_count(&bs) < b->n || nb_side_count(&ns) < n->n);
	row->base_runs = bs.nruns;
	row->new_runs = ns.nruns;
	row->base_pick = row->new_pick = -1;
	if (o->runs == NB_RUNS_BEST) {
		if ((st = nb_pick_best(&bs, &row->base_pick)) != NB_OK ||
		    (st = nb_pick_best(&ns, &row->new_pick)) != NB_OK)
			goto free_all;
	}
	st = nb_compare_runs(&bs, &ns, o, o->seed ^ nb_hash(b->match), &row->s);
	if (st != NB_OK) {
		st = nb_fail(st, "cell %s: %s", row->key, nb_error());
		goto free_all;
	}
	b->paired = n->paired = true;
	rep->counts[row->s.verdict]++;
	rep->nrows++;
free_all:
	free(nn);
	free(nb);
	free(rn);
	free(rb);
	free(xn);
	free(xb);
	return st;
}

static enum nb_status nb_match(struct nb_pool *pb, struct nb_pool *pn,
			       const struct nb_compare_opts *o, struct nb_compare_report *rep)
{
	enum nb_status st;

	for (size_t j = 0; j < pn->n; j++)
		for (size_t i = 0; i < pb->n && !pn->c[j].paired; i++)
			if (!pb->c[i].paired && strcmp(pb->c[i].match, pn->c[j].match) == 0 &&
			    (st = nb_add_row(rep, &pb->c[i], &pn->c[j], false, o)) != NB_OK)
				return st;
	if (!o->exact) {
		/* the best kernel of a slot changed (new ISA level, a kernel
		 * added or dropped): pair when the slot is unambiguous */
		for (size_t j = 0; j < pn->n; j++) {
			size_t nb = 0, nn = 0, bi = 0;
			if (pn->c[j].paired)
				continue;
			for (size_t i = 0; i < pb->n; i++)
				if (!pb->c[i].paired && strcmp(pb->c[i].slot, pn->c[j].slot) == 0) {
					nb++;
					bi = i;
				}
			for (size_t k = 0; k < pn->n; k++)
				nn += !pn->c[k].paired && strcmp(pn->c[k].slot, pn->c[j].slot) == 0;
			if (nb == 1 && nn == 1 &&
			    (st = nb_add_row(rep, &pb->c[bi], &pn->c[j], true, o)) != NB_OK)
				return st;
		}
	}
	for (size_t i = 0; i < pb->n; i++)
		if (!pb->c[i].paired &&
		    nb_add_key(&rep->only_base, &rep->nonly_base, pb->c[i].key) != NB_OK)
			return NB_ERR_NOMEM;
	for (size_t j = 0; j < pn->n; j++)
		if (!pn->c[j].paired &&
		    nb_add_key(&rep->only_new, &rep->nonly_new, pn->c[j].key) != NB_OK)
			return NB_ERR_NOMEM;
	return NB_OK;
}

/* Regressions first, then by ratio, worst first; no data last. */
static int nb_row_cmp(const void *pa, const void *pb)
{
	const struct nb_compare_row *a = pa, *b = pb;
	int ca = a->s.verdict == NB_VERDICT_REGRESSED ? 0 : a->s.verdict == NB_VERDICT_NODATA ? 2 : 1;
	int cb = b->s.verdict == NB_VERDICT_REGRESSED ? 0 : b->s.verdict == NB_VERDICT_NODATA ? 2 : 1;

	if (ca != cb)
		return ca - cb;
	if (a->s.ratio > b->s.ratio)
		return -1;
	if (a->s.ratio < b->s.ratio)
		return 1;
	return strcmp(a->key, b->key);
}

static enum nb_status nb_geomeans(struct nb_compare_report *rep)
{
	double *ratios = malloc((rep->nrows ? rep->nrows : 1) * sizeof(*ratios));
	enum nb_status st = NB_OK;

	if (!ratios)
		return nb_fail(NB_ERR_NOMEM, "compare: out of memory");
	/* variants in order of first appearance (NEW's cell order), then "all" */
	for (size_t i = 0; i <= rep->nrows; i++) {
		const char *v = i < rep->nrows ? rep->rows[i].variant : "all";
		size_t n = 0;
		bool seen = false;

		for (size_t g = 0; g < rep->ngeo && !seen; g++)
			seen = strcmp(rep->geo[g].variant, v) == 0;
		if (seen)
			continue;
		for (size_t k = 0; k < rep->nrows; k++) {
			const struct nb_compare_row *r = &rep->rows[k];
			if ((i == rep->nrows || strcmp(r->variant, v) == 0) &&
			    r->s.verdict != NB_VERDICT_NODATA && r->s.ratio > 0 &&
			    isfinite(r->s.ratio))
				ratios[n++] = r->s.ratio;
		}
		if (nb_grow(&rep->geo, rep->ngeo, sizeof(*rep->geo)) != NB_OK) {
			st = NB_ERR_NOMEM;
			break;
		}
		nb_res_strcpy(rep->geo[rep->ngeo].variant, sizeof(rep->geo[0].variant), v);
		rep->geo[rep->ngeo].ratio = n ? nb_geomean(ratios, n) : (double)NAN;
		rep->geo[rep->ngeo].cells = n;
		rep->ngeo++;
	}
	free(ratios);
	return st;
}

/* ---- verification failures ---- */

static enum nb_status nb_cell_failures(struct nb_compare_report *rep, const struct nb_pool *pb,
				       const struct nb_pool *pn)
{
	size_t base_failed = 0;

	for (size_t i = 0; i < pb->n; i++)
		base_failed += pb->c[i].failed > 0;
	if (base_failed && nb_warn(rep, "BASE records %zu cell(s) whose accuracy check failed "
				   "(not gating: only NEW is judged)", base_failed) != NB_OK)
		return NB_ERR_NOMEM;
	for (size_t j = 0; j < pn->n; j++) {
		const struct nb_pool_cell *c = &pn->c[j];
		double base_err = NAN;

		if (!c->failed)
			continue;
		/* the same kernel in BASE, else the one of the same slot */
		for (size_t i = 0; i < pb->n; i++)
			if (strcmp(pb->c[i].slot, c->slot) == 0 &&
			    (isnan(base_err) || strcmp(pb->c[i].match, c->match) == 0))
				base_err = pb->c[i].err_ratio;
		if (nb_add_failure(rep, c->key, "accuracy check failed in %zu of %zu file(s): "
				   "error/bound %.3g (base %.3g)%s%s", c->failed, c->nruns,
				   c->err_ratio, base_err, c->note[0] ? "; " : "", c->note) != NB_OK)
			return NB_ERR_NOMEM;
	}
	return NB_OK;
}

static enum nb_status nb_verify_failures(struct nb_compare_report *rep,
					 const struct nb_compare_input *in)
{
	const struct nb_verify_tables *t = in->verify;
	char what[NB_COMPARE_KEY];

	if (!t)
		return NB_OK;
	for (size_t i = 0; i < t->nkernels; i++) {
		const struct nb_verify_kernel_row *k = &t->kernels[i];
		if (k->pass)
			continue;
		snprintf(what, sizeof(what), "verify/kernels %s %s %s %llux%llu", k->kernel,
			 k->output, k->data, (unsigned long long)k->rows,
			 (unsigned long long)k->d);
		if (nb_add_failure(rep, what, "%s: error/bound %.3g (max abs %.3g, %.3g ulps) at "
				   "row %lld col %lld, seed %llu%s%s", in->name ? in->name : "NEW",
				   k->err_to_bound, k->max_abs_err, k->max_ulps,
				   (long long)k->worst_row, (long long)k->worst_col,
				   (unsigned long long)k->seed, k->note[0] ? "; " : "",
				   k->note) != NB_OK)
			return NB_ERR_NOMEM;
	}
	for (size_t i = 0; i < t->nclaims; i++) {
		const struct nb_verify_claim_row *c = &t->claims[i];
		if (c->pass)
			continue;
		snprintf(what, sizeof(what), "verify/claims %s %s %s%s", c->claim, c->name,
			 c->dtype, c->control ? " (negative control)" : "");
		if (nb_add_failure(rep, what, "%s: observed %.3g, bound %.3g, seed %llu%s%s",
				   in->name ? in->name : "NEW", c->observed, c->bound,
				   (unsigned long long)c->seed, c->note[0] ? "; " : "",
				   c->note) != NB_OK)
			return NB_ERR_NOMEM;
	}
	return NB_OK;
}

/* ---- the gate ---- */

enum nb_status nb_compare_results(const struct nb_compare_input *base, size_t nbase,
				  const struct nb_compare_input *cand, size_t ncand,
				  const struct nb_compare_opts *o, struct nb_compare_report *rep)
{
	struct nb_compare_input *all = NULL;
	struct nb_pool pb = { NULL, 0 }, pn = { NULL, 0 };
	enum nb_status st;

	nb_compare_report_free(rep);
	rep->opts = *o;
	rep->ci_level = 1.0 - 2.0 * o->alpha;
	if ((st = nb_compare_opts_check(o)) != NB_OK)
		return st;
	if (nbase == 0 || ncand == 0)
		return nb_fail(NB_ERR_INVALID, "compare needs at least one BASE and one NEW file");
	all = malloc((nbase + ncand) * sizeof(*all));
	rep->base_files = calloc(nbase, sizeof(*rep->base_files));
	rep->new_files = calloc(ncand, sizeof(*rep->new_files));
	if (!all || !rep->base_files || !rep->new_files) {
		st = nb_fail(NB_ERR_NOMEM, "compare: out of memory");
		goto free_all;
	}
	memcpy(all, base, nbase * sizeof(*all));
	memcpy(all + nbase, cand, ncand * sizeof(*all));
	for (size_t i = 0; i < nbase; i++)
		nb_file_summary(&rep->base_files[i], &base[i]);
	for (size_t i = 0; i < ncand; i++)
		nb_file_summary(&rep->new_files[i], &cand[i]);
	rep->nbase_files = nbase;
	rep->nnew_files = ncand;
	if ((st = nb_check_inputs(all, nbase + ncand, nbase, o, rep)) != NB_OK)
		goto free_all;
	if (o->inject != 0.0 &&
	    nb_warn(rep, "calibration run: every NEW sample was multiplied by %.4g "
		    "(--inject-slowdown %g)", 1.0 + o->inject, o->inject) != NB_OK) {
		st = NB_ERR_NOMEM;
		goto free_all;
	}

	for (size_t i = 0; i < nbase; i++)
		if ((st = nb_pool_add(&pb, base[i].results, 1.0)) != NB_OK)
			goto free_pools;
	for (size_t i = 0; i < ncand; i++)
		if ((st = nb_pool_add(&pn, cand[i].results, 1.0 + o->inject)) != NB_OK)
			goto free_pools;
	if ((st = nb_match(&pb, &pn, o, rep)) != NB_OK)
		goto free_pools;
	if (rep->nrows == 0) {
		st = nb_fail(NB_ERR_INVALID, "no cell of NEW matches a cell of BASE (%zu only in "
			     "BASE, %zu only in NEW): were they run with different sweeps?",
			     rep->nonly_base, rep->nonly_new);
		goto free_pools;
	}
	/* the means first: their variants in NEW's cell order */
	if ((st = nb_geomeans(rep)) != NB_OK)
		goto free_pools;
	if (rep->nrows > 1)
		qsort(rep->rows, rep->nrows, sizeof(*rep->rows), nb_row_cmp);
	if ((st = nb_cell_failures(rep, &pb, &pn)) != NB_OK)
		goto free_pools;
	for (size_t i = 0; i < ncand; i++)
		if ((st = nb_verify_failures(rep, &cand[i])) != NB_OK)
			goto free_pools;
	for (size_t i = 0; i < rep->nrows; i++)
		if (rep->rows[i].unstable) {
			if (nb_warn(rep, "some cells are flagged unstable in a file (their spread "
				    "is large): their verdicts rest on noisy samples") != NB_OK)
				st = NB_ERR_NOMEM;
			break;
		}
	for (size_t i = 0; i < rep->nrows; i++)
		if (rep->rows[i].busy) {
			if (nb_warn(rep, "some cells were measured while another process was "
				    "runnable (noted busy in a file): a busy vCPU slows a cell by "
				    "more than a regression; rerun them on a quiet machine") != NB_OK)
				st = NB_ERR_NOMEM;
			break;
		}
	if (rep->nfailures)
		rep->exit_code = NB_EXIT_VERIFY_FAILED;
	else if (rep->counts[NB_VERDICT_REGRESSED])
		rep->exit_code = NB_EXIT_REGRESSION;
	else if (rep->counts[NB_VERDICT_INCONCLUSIVE] && !o->inconclusive_ok)
		rep->exit_code = NB_EXIT_INCONCLUSIVE;
	else
		rep->exit_code = NB_EXIT_OK;
free_pools:
	nb_pool_free(&pn);
	nb_pool_free(&pb);
free_all:
	free(all);
	if (st != NB_OK)
		rep->exit_code = NB_EXIT_ERROR;
	return st;
}

enum nb_status nb_compare_files(const char *const *base_paths, size_t nbase,
				const char *const *new_paths, size_t nnew,
				const struct nb_compare_opts *o, struct nb_compare_report *rep)
{
	size_t n = nbase + nnew, loaded = 0;
	struct nb_results *res = calloc(n ? n : 1, sizeof(*res));
	struct nb_verify_tables *vt = calloc(n ? n : 1, sizeof(*vt));
	struct nb_compare_input *in = calloc(n ? n : 1, sizeof(*in));
	enum nb_status st = NB_OK;

	nb_compare_report_free(rep);
	if (!res || !vt || !in) {
		st = nb_fail(NB_ERR_NOMEM, "compare: out of memory");
		goto free_all;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = i < nbase ? base_paths[i] : new_paths[i - nbase];
		nb_results_init(&res[i]);
		nb_verify_tables_init(&vt[i]);
		loaded++;
		in[i].name = path;
		in[i].results = &res[i];
		if ((st = nb_results_read(path, &res[i])) != NB_OK)
			goto free_all;
		if (nb_results_is_ab(&res[i])) {
			st = nb_fail(NB_ERR_INVALID, "%s is an A/B run (run --baseline): judge it "
				     "alone, 'normbench compare %s'", path, path);
			goto free_all;
		}
		/* only NEW is judged on its /verify tables */
		if (i >= nbase && res[i].has_verify) {
			bool holds;
			if ((st = nb_verify_read(path, &vt[i], &holds)) != NB_OK)
				goto free_all;
			in[i].verify = &vt[i];
		}
	}
	st = nb_compare_results(in, nbase, in + nbase, nnew, o, rep);
free_all:
	for (size_t i = 0; i < loaded; i++) {
		nb_verify_tables_free(&vt[i]);
		nb_results_free(&res[i]);
	}
	free(in);
	free(vt);
	free(res);
	if (st != NB_OK)
		rep->exit_code = NB_EXIT_ERROR;
	return st;
}

bool nb_results_is_ab(const struct nb_results *r)
{
	for (size_t i = 0; i < r->ncells; i++)
		if (r->cells[i].side[0])
			return true;
	return false;
}

/* The cells of one side of an A/B file, with their samples, into out. */
static enum nb_status nb_ab_side(const struct nb_results *r, const char *side,
				 struct nb_results *out)
{
	enum nb_status st = NB_OK;

	out->meta = r->meta;
	for (size_t i = 0; i < r->ncells && st == NB_OK; i++) {
		struct nb_cell_row c = r->cells[i];
		const struct nb_sample_row *s;
		size_t n = 0;

		if (strcmp(c.side, side) != 0)
			continue;
		s = nb_results_cell_samples(r, i, &n);
		c.first_sample = out->nsamples;
		for (size_t k = 0; k < n && s && st == NB_OK; k++) {
			struct nb_sample_row sr = s[k];
			sr.cell = out->ncells;
			st = nb_results_add_sample(out, &sr);
		}
		if (st == NB_OK)
			st = nb_results_add_cell(out, &c);
	}
	return st;
}

enum nb_status nb_compare_ab_file(const char *path, const struct nb_compare_opts *o,
				  struct nb_compare_report *rep)
{
	struct nb_results all, base, cand;
	struct nb_compare_input in[2];
	char names[2][4200];
	enum nb_status st;

	nb_compare_report_free(rep);
	nb_results_init(&all);
	nb_results_init(&base);
	nb_results_init(&cand);
	if ((st = nb_results_read(path, &all)) != NB_OK)
		goto free_all;
	if (!nb_results_is_ab(&all)) {
		st = nb_fail(NB_ERR_INVALID, "%s is not an A/B run (normbench run --baseline): "
			     "give BASE.h5 NEW.h5", path);
		goto free_all;
	}
	if ((st = nb_ab_side(&all, "base", &base)) != NB_OK ||
	    (st = nb_ab_side(&all, "new", &cand)) != NB_OK)
		goto free_all;
	snprintf(names[0], sizeof(names[0]), "%s [base: %s]", path, all.meta.baseline);
	snprintf(names[1], sizeof(names[1]), "%s [new]", path);
	in[0] = (struct nb_compare_input){ names[0], &base, NULL };
	in[1] = (struct nb_compare_input){ names[1], &cand, NULL };
	st = nb_compare_results(&in[0], 1, &in[1], 1, o, rep);
free_all:
	nb_results_free(&cand);
	nb_results_free(&base);
	nb_results_free(&all);
	if (st != NB_OK)
		rep->exit_code = NB_EXIT_ERROR;
	return st;
}

/* ---- renderings ---- */

static const char *nb_fmt_ratio(const struct nb_compare_stat *s, char *buf, size_t size)
{
	if (s->verdict == NB_VERDICT_NODATA)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.3f [%.3f, %.3f]", s->ratio, s->ci_lo, s->ci_hi);
	return buf;
}

/* The p-value of the one-sided test in the direction the medians moved. */
static double nb_row_p(const struct nb_compare_stat *s)
{
	return s->ratio >= 1.0 ? s->p_slower : s->p_faster;
}

static const char *nb_fmt_p(const struct nb_compare_stat *s, char *buf, size_t size)
{
	if (s->verdict == NB_VERDICT_NODATA)
		snprintf(buf, size, "-");
	else
		snprintf(buf, size, "%.2g", nb_row_p(s));
	return buf;
}

static const char *nb_row_note(const struct nb_compare_row *r, char *buf, size_t size)
{
	size_t len = 0;
	int k;

	buf[0] = '\0';
	if (r->filtered) {
		k = snprintf(buf, size, "clean %zu/%zu vs %zu/%zu", r->s.n_base, r->base_total,
			     r->s.n_new, r->new_total);
		len = k > 0 && (size_t)k < size ? (size_t)k : strlen(buf);
	}
	if (r->unstable && len + 2 < size) {
		k = snprintf(buf + len, size - len, "%sunstable", len ? ", " : "");
		len += k > 0 && (size_t)k < size - len ? (size_t)k : strlen(buf + len);
	}
	if (r->oversubscribed && len + 2 < size) {
		k = snprintf(buf + len, size - len, "%soversubscribed", len ? ", " : "");
		len += k > 0 && (size_t)k < size - len ? (size_t)k : strlen(buf + len);
	}
	if (r->impl_changed && len + 2 < size) {
		k = snprintf(buf + len, size - len, "%skernel changed", len ? ", " : "");
		len += k > 0 && (size_t)k < size - len ? (size_t)k : strlen(buf + len);
	}
	if (r->s.verdict == NB_VERDICT_INCONCLUSIVE && len + 2 < size) {
		if (r->s.suggest_processes > NB_COMPARE_MAX_SUGGEST)
			snprintf(buf + len, size - len, "%s%s; more than %d processes a side "
				 "would be needed", len ? ", " : "", r->s.reason,
				 NB_COMPARE_MAX_SUGGEST);
		else
			snprintf(buf + len, size - len, "%s%s; try --processes %d", len ? ", " : "",
				 r->s.reason, r->s.suggest_processes);
	}
	return buf;
}

static const char *nb_exit_text(int code)
{
	switch (code) {
	case NB_EXIT_OK: return "no regression";
	case NB_EXIT_VERIFY_FAILED: return "verification failed in NEW";
	case NB_EXIT_REGRESSION: return "performance regression";
	case NB_EXIT_INCONCLUSIVE: return "inconclusive: no regression shown, but some cells "
		"could not be decided (see their notes; more processes)";
	default: return "error";
	}
}

static void nb_summary_line(const struct nb_compare_report *rep, FILE *out)
{
	fprintf(out, "%zu cells matched: %zu REGRESSED, %zu INCONCLUSIVE, %zu improved, %zu "
		"slower, %zu faster, %zu same, %zu no data; %zu only in BASE, %zu only in NEW; %zu "
		"verification failure(s) in NEW", rep->nrows, rep->counts[NB_VERDICT_REGRESSED],
		rep->counts[NB_VERDICT_INCONCLUSIVE], rep->counts[NB_VERDICT_IMPROVED],
		rep->counts[NB_VERDICT_SLOWER], rep->counts[NB_VERDICT_FASTER],
		rep->counts[NB_VERDICT_SAME], rep->counts[NB_VERDICT_NODATA], rep->nonly_base,
		rep->nonly_new, rep->nfailures);
}

static void nb_print_files(const char *side, const struct nb_compare_file *f, size_t n,
			   FILE *out)
{
	for (size_t i = 0; i < n; i++)
		fprintf(out, "%-5s %s (git %s%s, %s, preset %s, ISA cap %s, %zu cells%s)\n",
			i == 0 ? side : "", f[i].path, f[i].git_rev, f[i].git_dirty ? " dirty" : "",
			f[i].utc_time, f[i].preset, f[i].isa_cap, f[i].ncells,
			f[i].complete ? "" : ", INCOMPLETE");
}

static void nb_rule_line(const struct nb_compare_report *rep, FILE *out)
{
	fprintf(out, "rule (docs/gate.md): one number per process, the lower quartile of its "
		"samples; REGRESSED when the whole %g%% rank interval (Hodges-Lehmann) of their "
		"ratio (new/base) lies above %.4g (improved: below %.4g); INCONCLUSIVE when it "
		"holds %.4g or a side has too few processes for it\n", 100.0 * rep->ci_level,
		1.0 + rep->opts.min_effect, 1.0 / (1.0 + rep->opts.min_effect),
		1.0 + rep->opts.min_effect);
}

void nb_compare_print_text(const struct nb_compare_report *rep, bool table, FILE *out)
{
	char b1[32], b2[32], b3[64], b4[32], b5[512];
	int w = 4;

	fprintf(out, "normbench compare: ");
	nb_summary_line(rep, out);
	fprintf(out, "\n");
	if (table) {
		nb_print_files("base:", rep->base_files, rep->nbase_files, out);
		nb_print_files("new:", rep->new_files, rep->nnew_files, out);
		nb_rule_line(rep, out);
		for (size_t i = 0; i < rep->nrows; i++)
			if ((int)strlen(rep->rows[i].key) > w)
				w = (int)strlen(rep->rows[i].key);
		fprintf(out, "\n%-*s  %10s  %10s  %-26s  %8s  %-9s  %s\n", w, "cell", "base", "new",
			"ratio [CI]", "p", "verdict", "note");
		for (size_t i = 0; i < rep->nrows; i++) {
			const struct nb_compare_row *r = &rep->rows[i];
			fprintf(out, "%-*s  %10s  %10s  %-26s  %8s  %-9s  %s\n", w, r->key,
				nb_fmt_time(r->s.base_median, b1, sizeof(b1)),
				nb_fmt_time(r->s.new_median, b2, sizeof(b2)),
				nb_fmt_ratio(&r->s, b3, sizeof(b3)), nb_fmt_p(&r->s, b4, sizeof(b4)),
				nb_verdict_name(r->s.verdict), nb_row_note(r, b5, sizeof(b5)));
		}
		fprintf(out, "\ngeometric mean of new/base:");
		for (size_t g = 0; g < rep->ngeo; g++)
			fprintf(out, "%s %s %.3f (%zu)", g ? "," : "", rep->geo[g].variant,
				rep->geo[g].ratio, rep->geo[g].cells);
		fprintf(out, "\n");
		if (rep->nonly_base) {
			fprintf(out, "\nonly in BASE (%zu, not compared):\n", rep->nonly_base);
			for (size_t i = 0; i < rep->nonly_base; i++)
				fprintf(out, "  %s\n", rep->only_base[i]);
		}
		if (rep->nonly_new) {
			fprintf(out, "\nonly in NEW (%zu, not compared):\n", rep->nonly_new);
			for (size_t i = 0; i < rep->nonly_new; i++)
				fprintf(out, "  %s\n", rep->only_new[i]);
		}
	}
	if (rep->nfailures) {
		fprintf(out, "\nverification failures in NEW (%zu):\n", rep->nfailures);
		for (size_t i = 0; i < rep->nfailures; i++)
			fprintf(out, "  %s: %s\n", rep->failures[i].what, rep->failures[i].detail);
	}
	if (table)
		for (size_t i = 0; i < rep->nwarnings; i++)
			fprintf(out, "warning: %s\n", rep->warnings[i]);
	fprintf(out, "result: exit %d (%s)\n", rep->exit_code, nb_exit_text(rep->exit_code));
}

/* Markdown table cells: '|' would end the cell. */
static void nb_md_text(const char *s, FILE *out)
{
	for (; *s; s++) {
		if (*s == '|')
			fputs("\\|", out);
		else
			fputc(*s, out);
	}
}

static void nb_md_row(const struct nb_compare_row *r, FILE *out)
{
	char b1[32], b2[32], b3[64], b4[32], b5[512];

	fputs("| `", out);
	nb_md_text(r->key, out);
	fprintf(out, "` | %s | %s | %s | %s | %s%s%s%s |\n",
		nb_fmt_time(r->s.base_median, b1, sizeof(b1)),
		nb_fmt_time(r->s.new_median, b2, sizeof(b2)), nb_fmt_ratio(&r->s, b3, sizeof(b3)),
		nb_fmt_p(&r->s, b4, sizeof(b4)),
		r->s.verdict == NB_VERDICT_REGRESSED ? "**REGRESSED**" : nb_verdict_name(r->s.verdict),
		nb_row_note(r, b5, sizeof(b5))[0] ? " (" : "", b5, b5[0] ? ")" : "");
}

void nb_compare_write_md(const struct nb_compare_report *rep, FILE *out)
{
	static const char head[] = "| cell | base | new | new/base [CI] | p | verdict |\n"
				   "|---|---:|---:|---|---:|---|\n";
	size_t quiet = 0;

	fprintf(out, "### normbench gate: %s\n\n",
		rep->exit_code == NB_EXIT_OK ? "passed"
		: rep->exit_code == NB_EXIT_REGRESSION ? "**performance regression**"
		: rep->exit_code == NB_EXIT_VERIFY_FAILED ? "**verification failed**"
		: rep->exit_code == NB_EXIT_INCONCLUSIVE ? "**inconclusive**" : "error");
	nb_summary_line(rep, out);
	fprintf(out, ".\n\n");
	for (size_t i = 0; i < rep->nbase_files; i++)
		fprintf(out, "%s `%s` (git `%s`%s, %s)  \n", i ? "     " : "base:",
			rep->base_files[i].path, rep->base_files[i].git_rev,
			rep->base_files[i].git_dirty ? " dirty" : "", rep->base_files[i].utc_time);
	for (size_t i = 0; i < rep->nnew_files; i++)
		fprintf(out, "%s `%s` (git `%s`%s, %s)  \n", i ? "     " : "new:",
			rep->new_files[i].path, rep->new_files[i].git_rev,
			rep->new_files[i].git_dirty ? " dirty" : "", rep->new_files[i].utc_time);
	fprintf(out, "\n");
	nb_rule_line(rep, out);
	if (rep->nfailures) {
		fprintf(out, "\n**Verification failures in NEW (%zu):**\n\n", rep->nfailures);
		for (size_t i = 0; i < rep->nfailures; i++) {
			fputs("- `", out);
			nb_md_text(rep->failures[i].what, out);
			fprintf(out, "`: %s\n", rep->failures[i].detail);
		}
	}
	fprintf(out, "\n%s", head);
	for (size_t i = 0; i < rep->nrows; i++) {
		if (rep->rows[i].s.verdict == NB_VERDICT_SAME) {
			quiet++;
			continue;
		}
		nb_md_row(&rep->rows[i], out);
	}
	if (quiet) {
		fprintf(out, "\n<details><summary>%zu cells without a significant change</summary>"
			"\n\n%s", quiet, head);
		for (size_t i = 0; i < rep->nrows; i++)
			if (rep->rows[i].s.verdict == NB_VERDICT_SAME)
				nb_md_row(&rep->rows[i], out);
		fprintf(out, "\n</details>\n");
	}
	fprintf(out, "\nGeometric mean of new/base:");
	for (size_t g = 0; g < rep->ngeo; g++)
		fprintf(out, "%s %s **%.3f** (%zu cells)", g ? "," : "", rep->geo[g].variant,
			rep->geo[g].ratio, rep->geo[g].cells);
	fprintf(out, "\n");
	if (rep->nonly_base || rep->nonly_new) {
		fprintf(out, "\nCells in one file only (not compared):\n\n");
		for (size_t i = 0; i < rep->nonly_base; i++)
			fprintf(out, "- only in BASE: `%s`\n", rep->only_base[i]);
		for (size_t i = 0; i < rep->nonly_new; i++)
			fprintf(out, "- only in NEW: `%s`\n", rep->only_new[i]);
	}
	for (size_t i = 0; i < rep->nwarnings; i++)
		fprintf(out, "%s> warning: %s\n", i ? "" : "\n", rep->warnings[i]);
}

static void nb_json_str(const char *s, FILE *out)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static void nb_json_num(double v, FILE *out)
{
	if (isfinite(v))
		fprintf(out, "%.10g", v);
	else
		fputs("null", out);
}

/* ", \"key\": " and the value, inside an object. */
static void nb_json_key_str(FILE *out, const char *key, const char *s)
{
	fprintf(out, ", \"%s\": ", key);
	nb_json_str(s, out);
}

static void nb_json_key_num(FILE *out, const char *key, double v)
{
	fprintf(out, ", \"%s\": ", key);
	nb_json_num(v, out);
}

static void nb_json_files(const char *name, const struct nb_compare_file *f, size_t n,
			  FILE *out)
{
	fprintf(out, "  \"%s\": [", name);
	for (size_t i = 0; i < n; i++) {
		fprintf(out, "%s\n    {\"path\": ", i ? "," : "");
		nb_json_str(f[i].path, out);
		nb_json_key_str(out, "git_rev", f[i].git_rev);
		fprintf(out, ", \"git_dirty\": %d, \"utc_time\": ", f[i].git_dirty);
		nb_json_str(f[i].utc_time, out);
		nb_json_key_str(out, "machine_key", f[i].machine_key);
		nb_json_key_str(out, "preset", f[i].preset);
		nb_json_key_str(out, "isa_cap", f[i].isa_cap);
		fprintf(out, ", \"complete\": %d, \"cells\": %zu}", f[i].complete, f[i].ncells);
	}
	fprintf(out, "\n  ],\n");
}

static void nb_json_keys(const char *name, char (*keys)[NB_COMPARE_KEY], size_t n, FILE *out)
{
	fprintf(out, "  \"%s\": [", name);
	for (size_t i = 0; i < n; i++) {
		fputs(i ? ", " : "", out);
		nb_json_str(keys[i], out);
	}
	fprintf(out, "],\n");
}

void nb_compare_write_json(const struct nb_compare_report *rep, FILE *out)
{
	fprintf(out, "{\n  \"exit_code\": %d,\n  \"result\": ", rep->exit_code);
	nb_json_str(nb_exit_text(rep->exit_code), out);
	fputs(",\n  \"settings\": {\"alpha\": ", out);
	nb_json_num(rep->opts.alpha, out);
	nb_json_key_num(out, "min_effect", rep->opts.min_effect);
	nb_json_key_num(out, "ci_level", rep->ci_level);
	fprintf(out, ", \"resamples\": %zu, \"seed\": %llu, \"force\": %s, \"exact\": %s, "
		"\"all_samples\": %s, \"inconclusive_ok\": %s, \"runs\": \"%s\", "
		"\"inject_slowdown\": ", rep->opts.resamples,
		(unsigned long long)rep->opts.seed, rep->opts.force ? "true" : "false",
		rep->opts.exact ? "true" : "false", rep->opts.all_samples ? "true" : "false",
		rep->opts.inconclusive_ok ? "true" : "false", rep->opts.runs == NB_RUNS_BEST ? "best" : "pooled");
	nb_json_num(rep->opts.inject, out);
	fputs("},\n", out);
	fputs("  \"counts\": {", out);
	for (int v = 0; v < NB_VERDICT_COUNT; v++) {
		fputs(v ? ", " : "", out);
		nb_json_str(nb_verdict_name((enum nb_verdict)v), out);
		fprintf(out, ": %zu", rep->counts[v]);
	}
	fprintf(out, "},\n");
	nb_json_files("base", rep->base_files, rep->nbase_files, out);
	nb_json_files("new", rep->new_files, rep->nnew_files, out);
	fputs("  \"cells\": [", out);
	for (size_t i = 0; i < rep->nrows; i++) {
		const struct nb_compare_row *r = &rep->rows[i];
		fprintf(out, "%s\n    {\"key\": ", i ? "," : "");
		nb_json_str(r->key, out);
		nb_json_key_str(out, "variant", r->variant);
		nb_json_key_str(out, "base_impl", r->base_impl);
		nb_json_key_str(out, "new_impl", r->new_impl);
		fprintf(out, ", \"impl_changed\": %s, \"unstable\": %s, \"verdict\": ",
			r->impl_changed ? "true" : "false", r->unstable ? "true" : "false");
		nb_json_str(nb_verdict_name(r->s.verdict), out);
		fprintf(out, ", \"filtered\": %s, \"base_runs\": %zu, \"new_runs\": %zu, "
			"\"base_pick\": %d, \"new_pick\": %d, \"base_samples\": %zu, "
			"\"new_samples\": %zu, \"base_samples_total\": %zu, "
			"\"new_samples_total\": %zu, \"base_median_s\": ", r->filtered ? "true" : "false",
			r->base_runs, r->new_runs, r->base_pick, r->new_pick, r->s.n_base, r->s.n_new,
			r->base_total, r->new_total);
		nb_json_num(r->s.base_median, out);
		nb_json_key_num(out, "new_median_s", r->s.new_median);
		nb_json_key_num(out, "ratio", r->s.ratio);
		nb_json_key_num(out, "ci_lo", r->s.ci_lo);
		nb_json_key_num(out, "ci_hi", r->s.ci_hi);
		nb_json_key_num(out, "p_slower", r->s.p_slower);
		nb_json_key_num(out, "p_faster", r->s.p_faster);
		nb_json_key_num(out, "sd_log", r->s.sd_log);
		nb_json_key_str(out, "reason", r->s.reason);
		fprintf(out, ", \"suggest_processes\": %d", r->s.suggest_processes);
		nb_json_key_num(out, "base_err_ratio", r->base_err_ratio);
		nb_json_key_num(out, "new_err_ratio", r->new_err_ratio);
		fputc('}', out);
	}
	fprintf(out, "\n  ],\n  \"geomean\": [");
	for (size_t g = 0; g < rep->ngeo; g++) {
		fprintf(out, "%s{\"variant\": ", g ? ", " : "");
		nb_json_str(rep->geo[g].variant, out);
		nb_json_key_num(out, "ratio", rep->geo[g].ratio);
		fprintf(out, ", \"cells\": %zu}", rep->geo[g].cells);
	}
	fprintf(out, "],\n");
	nb_json_keys("only_in_base", rep->only_base, rep->nonly_base, out);
	nb_json_keys("only_in_new", rep->only_new, rep->nonly_new, out);
	fputs("  \"verification_failures\": [", out);
	for (size_t i = 0; i < rep->nfailures; i++) {
		fprintf(out, "%s\n    {\"what\": ", i ? "," : "");
		nb_json_str(rep->failures[i].what, out);
		nb_json_key_str(out, "detail", rep->failures[i].detail);
		fputc('}', out);
	}
	fputs("\n  ],\n  \"warnings\": [", out);
	for (size_t i = 0; i < rep->nwarnings; i++) {
		fputs(i ? ", " : "", out);
		nb_json_str(rep->warnings[i], out);
	}
	fputs("]\n}\n", out);
}
