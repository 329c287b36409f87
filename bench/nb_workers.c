/* Worker processes of `normbench run` (pyperf's model, docs/gate.md): the
 * parent launches fresh normbench processes, each measures every cell and
 * writes a temporary results file, and the parent merges their samples
 * (each tagged with its process) into one results table. */
#include "bench/nb_workers.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/nb_stats.h"
#include "common/nb_rng.h"

/* ---- the shared calibration ---- */

void nb_calib_key(char *buf, size_t size, const char *label, size_t rows, size_t d,
		  int threads, const char *cache)
{
	snprintf(buf, size, "%s|%zux%zu|t%d|%s", label, rows, d, threads, cache);
}

struct nb_calib_entry {
	char key[400];
	uint64_t iters;
};

/* A worker reads its calibration file once (one process, one file). */
static struct nb_calib_entry *nb_calib_table;
static size_t nb_calib_count;
static bool nb_calib_loaded;

static void nb_calib_load(const char *path)
{
	char line[400];
	FILE *f;

	nb_calib_loaded = true;
	if (!path || !(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char *tab = strchr(line, '\t');
		struct nb_calib_entry *grown;
		unsigned long long it;

		if (!tab || sscanf(tab + 1, "%llu", &it) != 1 || it == 0)
			continue;
		*tab = '\0';
		grown = realloc(nb_calib_table, (nb_calib_count + 1) * sizeof(*grown));
		if (!grown)
			break;
		nb_calib_table = grown;
		snprintf(grown[nb_calib_count].key, sizeof(grown[0].key), "%s", line);
		grown[nb_calib_count++].iters = it;
	}
	fclose(f);
}

bool nb_calib_lookup(const struct nb_worker_role *role, const char *key, uint64_t *iters)
{
	if (!role->on || !role->calib_in)
		return false;
	if (!nb_calib_loaded)
		nb_calib_load(role->calib_in);
	for (size_t i = 0; i < nb_calib_count; i++)
		if (strcmp(nb_calib_table[i].key, key) == 0) {
			*iters = nb_calib_table[i].iters;
			return true;
		}
	return false;
}

void nb_calib_record(const struct nb_worker_role *role, const char *key, uint64_t iters)
{
	FILE *f;

	if (!role->on || !role->calib_out || !(f = fopen(role->calib_out, "a")))
		return;
	fprintf(f, "%s\t%llu\n", key, (unsigned long long)iters);
	fclose(f);
}

uint32_t nb_test_slowdown_every(const char *kernel)
{
	const char *v = getenv("NB_TEST_SLOWDOWN");
	const char *colon;
	double f;

	if (!v || !(colon = strrchr(v, ':')) || (size_t)(colon - v) != strlen(kernel) ||
	    strncmp(v, kernel, (size_t)(colon - v)) != 0)
		return 0;
	f = atof(colon + 1);
	if (!(f > 0.0 && f <= 1.0))
		return 0;
	return (uint32_t)lround(1.0 / f);
}

/* ---- launching ---- */

struct nb_worker_file {
	struct nb_results res;
	bool loaded;
	bool base;                  /* side "base" (the --baseline binary) */
	int index;                  /* launch index: the sample's process */
};

static enum nb_status nb_self_exe(char *buf, size_t size)
{
	ssize_t n = readlink("/proc/self/exe", buf, size - 1);

	if (n <= 0 || (size_t)n >= size - 1)
		return nb_fail(NB_ERR_IO, "cannot find this program (/proc/self/exe) to "
			       "start its worker processes");
	buf[n] = '\0';
	return NB_OK;
}

/* Runs one worker to completion; its exit status in *rc (-1: killed). When
 * the parent is interrupted (*stop) the worker gets SIGINT once: it keeps
 * its finished groups in its .incomplete.h5 (a Ctrl-C at a terminal
 * reaches it anyway). */
static enum nb_status nb_spawn(const char *bin, char **args, int *rc,
			       volatile sig_atomic_t *stop)
{
	bool told = false;
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return nb_fail(NB_ERR_IO, "fork: %s", strerror(errno));
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		execv(bin, args);
		fprintf(stderr, "normbench run: cannot start %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return nb_fail(NB_ERR_IO, "waitpid: %s", strerror(errno));
		if (*stop && !told) {
			(void)kill(pid, SIGINT);
			told = true;
		}
	}
	*rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	return NB_OK;
}

/* ---- merging ---- */

static void nb_match_id(const struct nb_cell_row *c, char *buf, size_t size)
{
	char key[320];

	nb_results_cell_key(c, key, sizeof(key));
	snprintf(buf, size, "%s|%s|%s|%s|m%llu", key, c->isa, c->acc, c->algo,
		 (unsigned long long)c->m);
}

static long nb_find_cell(const struct nb_results *r, const char *id, size_t hint)
{
	char other[480];

	if (hint < r->ncells) {
		nb_match_id(&r->cells[hint], other, sizeof(other));
		if (strcmp(other, id) == 0)
			return (long)hint;
	}
	for (size_t j = 0; j < r->ncells; j++) {
		nb_match_id(&r->cells[j], other, sizeof(other));
		if (strcmp(other, id) == 0)
			return (long)j;
	}
	return -1;
}

void nb_row_summary(struct nb_cell_row *row, const struct nb_summary *sum)
{
	row->median_s = sum->median;
	row->mean_s = sum->mean;
	row->min_s = sum->min;
	row->max_s = sum->max;
	row->q1_s = sum->q1;
	row->q3_s = sum->q3;
	row->iqr_s = sum->iqr;
	row->ci_lo_s = sum->ci_lo;
	row->ci_hi_s = sum->ci_hi;
	row->unstable = sum->unstable ? 1 : 0;
}

/* Statistics of the merged samples x (n), nproc processes (runs/ns). */
static void nb_merged_stats(struct nb_cell_row *row, const double *x, size_t n,
			    const double *const *runs, const size_t *ns, size_t nproc,
			    uint64_t seed)
{
	struct nb_summary sum;

	if (nb_summarize(x, n, seed, &sum) != NB_OK)
		return;
	if (nproc > 1 && nb_bootstrap_median_ci_runs(runs, ns, nproc, seed,
						     NB_BOOTSTRAP_RESAMPLES, NB_CI_LEVEL,
						     &sum.ci_lo, &sum.ci_hi) == NB_OK)
		sum.unstable = nb_summary_unstable(&sum);
	row->samples = (uint32_t)n;
	nb_row_summary(row, &sum);
	row->gbps = sum.median > 0 ? row->bytes / sum.median / 1e9 : 0;
	row->gflops = sum.median > 0 ? row->flops / sum.median / 1e9 : 0;
}

/* The accuracy of a merged cell: the worst of its processes. */
static void nb_merge_check(struct nb_cell_row *row, const struct nb_cell_row *c)
{
	bool worse = (c->verified == 0 && row->verified != 0) ||
		     (isfinite(c->err_ratio) && !(c->err_ratio <= row->err_ratio));

	if (c->verified == 0 || (row->verified == -1 && c->verified == 1))
		row->verified = c->verified;
	if (isfinite(c->max_ulps) && !(c->max_ulps <= row->max_ulps))
		row->max_ulps = c->max_ulps;
	if (worse) {
		row->err_ratio = c->err_ratio;
		nb_res_strcpy(row->verify_note, sizeof(row->verify_note), c->verify_note);
	}
}

static enum nb_status nb_merge_counters(struct nb_results *res, size_t cell,
					const struct nb_worker_file *files, const long *at,
					size_t nfiles)
{
	size_t first = res->ncounters;

	for (size_t f = 0; f < nfiles; f++) {
		const struct nb_results *r = &files[f].res;
		if (at[f] < 0)
			continue;
		for (size_t k = 0; k < r->ncounters; k++) {
			const struct nb_counter_row *c = &r->counters[k];
			size_t e = first;
			if (c->cell != (uint64_t)at[f])
				continue;
			while (e < res->ncounters && strcmp(res->counters[e].event, c->event) != 0)
				e++;
			if (e == res->ncounters) {
				struct nb_counter_row row = *c;
				enum nb_status st;
				row.cell = cell;
				if ((st = nb_results_add_counter(res, &row)) != NB_OK)
					return st;
			} else if (c->available && res->counters[e].available) {
				res->counters[e].value += c->value;
			}
		}
	}
	return NB_OK;
}

/* Appends the cells of one side (files[0 .. n), all of it) to res. */
static enum nb_status nb_merge_side(struct nb_results *res, const struct nb_worker_file *files,
				    size_t nfiles, const char *side, uint64_t seed)
{
	const struct nb_results *tmpl = &files[0].res;
	long *at = calloc(nfiles, sizeof(*at));
	const double **runs = calloc(nfiles, sizeof(*runs));
	size_t *ns = calloc(nfiles, sizeof(*ns));
	double *x = NULL;
	enum nb_status st = NB_OK;
	char id[480];

	if (!at || !runs || !ns) {
		st = nb_fail(NB_ERR_NOMEM, "no memory to merge the worker processes");
		goto free_all;
	}
	for (size_t i = 0; i < tmpl->ncells && st == NB_OK; i++) {
		struct nb_cell_row row = tmpl->cells[i];
		size_t total = 0, nproc = 0, m = 0;
		uint32_t rounds = 0;
		double *grown;

		nb_match_id(&row, id, sizeof(id));
		for (size_t f = 0; f < nfiles; f++) {
			size_t cnt = 0;
			at[f] = nb_find_cell(&files[f].res, id, i);
			if (at[f] >= 0 && nb_results_cell_samples(&files[f].res, (size_t)at[f], &cnt))
				total += cnt;
		}
		grown = realloc(x, (total ? total : 1) * sizeof(*x));
		if (!grown) {
			st = nb_fail(NB_ERR_NOMEM, "no memory to merge the worker processes");
			break;
		}
		x = grown;
		row.first_sample = res->nsamples;
		row.verified = -1;
		row.max_ulps = NAN;
		row.err_ratio = NAN;
		row.sde_calls = row.sde_rows = row.sde_bytes = 0;
		for (size_t f = 0; f < nfiles && st == NB_OK; f++) {
			const struct nb_sample_row *s;
			size_t cnt = 0;
			if (at[f] < 0)
				continue;
			s = nb_results_cell_samples(&files[f].res, (size_t)at[f], &cnt);
			nb_merge_check(&row, &files[f].res.cells[at[f]]);
			row.sde_calls += files[f].res.cells[at[f]].sde_calls;
			row.sde_rows += files[f].res.cells[at[f]].sde_rows;
			row.sde_bytes += files[f].res.cells[at[f]].sde_bytes;
			if (!s || cnt == 0)
				continue;
			runs[nproc] = x + m;
			ns[nproc++] = cnt;
			for (size_t k = 0; k < cnt && st == NB_OK; k++) {
				struct nb_sample_row sr = s[k];
				sr.cell = res->ncells;
				sr.process = files[f].index;
				sr.round += rounds;
				x[m++] = sr.seconds;
				st = nb_results_add_sample(res, &sr);
			}
			rounds += (uint32_t)cnt;     /* one sample per round */
		}
		if (st != NB_OK)
			break;
		nb_merged_stats(&row, x, m, runs, ns, nproc, seed ^ (uint64_t)res->ncells);
		row.processes = (int32_t)nproc;
		nb_res_strcpy(row.side, sizeof(row.side), side);
		if ((st = nb_merge_counters(res, res->ncells, files, at, nfiles)) != NB_OK)
			break;
		st = nb_results_add_cell(res, &row);
	}
free_all:
	free(x);
	free(ns);
	free(runs);
	free(at);
	return st;
}

/* ---- the parent ---- */

struct nb_worker_args {
	char **v;
	size_t n;
	char idx[24], samples[24], llc[32];
};

static enum nb_status nb_worker_argv(const struct nb_workers_plan *p, const char *bin,
				     int index, const char *calib_in, const char *calib_out,
				     const char *out, struct nb_worker_args *a)
{
	size_t cap = (size_t)p->argc + 20;

	a->v = calloc(cap, sizeof(*a->v));
	if (!a->v)
		return nb_fail(NB_ERR_NOMEM, "no memory for a worker's arguments");
	snprintf(a->idx, sizeof(a->idx), "%d", index);
	snprintf(a->samples, sizeof(a->samples), "%d", p->samples);
	snprintf(a->llc, sizeof(a->llc), "%zu", p->llc);
	a->n = 0;
	a->v[a->n++] = (char *)bin;
	a->v[a->n++] = "run";
	for (int i = 1; i < p->argc; i++)
		a->v[a->n++] = p->argv[i];
	a->v[a->n++] = "--nb-worker";
	a->v[a->n++] = a->idx;
	a->v[a->n++] = "--nb-worker-samples";
	a->v[a->n++] = a->samples;
	a->v[a->n++] = "--nb-llc";
	a->v[a->n++] = a->llc;
	if (calib_in) {
		a->v[a->n++] = "--nb-calib-in";
		a->v[a->n++] = (char *)calib_in;
	}
	if (calib_out) {
		a->v[a->n++] = "--nb-calib-out";
		a->v[a->n++] = (char *)calib_out;
	}
	a->v[a->n++] = "-o";
	a->v[a->n++] = (char *)out;
	a->v[a->n++] = "--force";
	a->v[a->n] = NULL;
	return NB_OK;
}

enum nb_status nb_workers_measure(const struct nb_workers_plan *p, struct nb_results *res,
				  volatile sig_atomic_t *stop)
{
	int sides = p->baseline ? 2 : 1, total = p->processes * sides, done = 0;
	struct nb_worker_file *files = calloc((size_t)total, sizeof(*files));
	char self[4096], dir[4200], calib[2][4300], path[4400];
	const char *tmp = getenv("TMPDIR");
	bool first[2] = { true, true };
	enum nb_status st = NB_OK;

	if (!files)
		return nb_fail(NB_ERR_NOMEM, "no memory for the worker processes");
	if ((st = nb_self_exe(self, sizeof(self))) != NB_OK) {
		free(files);
		return st;
	}
	snprintf(dir, sizeof(dir), "%s/normbench-workers-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir)) {
		free(files);
		return nb_fail(NB_ERR_IO, "cannot make a folder for the worker files in %s: %s",
			       tmp && *tmp ? tmp : "/tmp", strerror(errno));
	}
	snprintf(calib[0], sizeof(calib[0]), "%s/calib-new.txt", dir);
	snprintf(calib[1], sizeof(calib[1]), "%s/calib-base.txt", dir);
	for (int k = 0; k < total && st == NB_OK && !*stop; k++) {
		/* new base | base new | new base ...: each pair swaps its order */
		bool base = sides == 2 && ((k % 2 == 1) != ((k / 2) % 2 == 1));
		const char *bin = base ? p->baseline : self;
		int s = base ? 1 : 0, rc = 0;
		struct nb_worker_args a;
		/* the first worker of a side records its calibration; the base
		 * side starts from the new side's counts (same cells, same calls) */
		const char *cin = first[s] ? (base ? calib[0] : NULL) : calib[s];
		const char *cout = first[s] ? calib[s] : NULL;

		snprintf(path, sizeof(path), "%s/w-%03d.h5", dir, k);
		if ((st = nb_worker_argv(p, bin, k, cin, cout, path, &a)) != NB_OK)
			break;
		if (p->verbose)
			fprintf(stderr, "normbench: worker process %d/%d (%s)\n", k + 1, total,
				base ? "baseline" : "this binary");
		st = nb_spawn(bin, a.v, &rc, stop);
		free(a.v);
		if (st != NB_OK)
			break;
		if (*stop || rc == 130) {
			/* interrupted: what the worker finished is kept, and nothing
			 * more is started */
			snprintf(path, sizeof(path), "%s/w-%03d.incomplete.h5", dir, k);
			nb_results_init(&files[k].res);
			files[k].base = base;
			files[k].index = k;
			if (access(path, F_OK) == 0 &&
			    nb_results_read(path, &files[k].res) == NB_OK && files[k].res.ncells) {
				files[k].loaded = true;
				done++;
			} else {
				nb_results_free(&files[k].res);
			}
			break;
		}
		if (rc != 0 && rc != 2) {
			st = nb_fail(NB_ERR_IO, "worker process %d (%s) failed with status %d%s", k,
				     bin, rc, base ? " (is it a normbench with worker processes, "
				     "i.e. --processes?)" : "");
			break;
		}
		nb_results_init(&files[k].res);
		files[k].base = base;
		files[k].index = k;
		if ((st = nb_results_read(path, &files[k].res)) != NB_OK)
			break;
		files[k].loaded = true;
		first[s] = false;
		done++;
	}
	/* sides in file order: base, then new; a side is merged from its files */
	for (int s = sides - 1; s >= 0 && st == NB_OK && done > 0; s--) {
		struct nb_worker_file *mine = calloc((size_t)total, sizeof(*mine));
		size_t n = 0;
		if (!mine) {
			st = nb_fail(NB_ERR_NOMEM, "no memory to merge the worker processes");
			break;
		}
		for (int k = 0; k < total; k++)
			if (files[k].loaded && files[k].base == (s == 1))
				mine[n++] = files[k];
		if (n)
			st = nb_merge_side(res, mine, n, sides == 1 ? "" : s == 1 ? "base" : "new",
					   p->seed);
		free(mine);
	}
	for (int k = 0; k < total; k++) {
		if (files[k].loaded)
			nb_results_free(&files[k].res);
		snprintf(path, sizeof(path), "%s/w-%03d.h5", dir, k);
		(void)unlink(path);
		snprintf(path, sizeof(path), "%s/w-%03d.incomplete.h5", dir, k);
		(void)unlink(path);
	}
	(void)unlink(calib[0]);
	(void)unlink(calib[1]);
	(void)rmdir(dir);
	free(files);
	return st;
}
