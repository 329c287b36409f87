/* `normbench run`: the sweep and its measurement protocol (warm-up by time,
 * calibrated samples, interleaved shuffled rounds, raw samples kept,
 * accuracy checked after timing, roofline and counters), written to one
 * HDF5 results file atomically. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/nb_block.h"
#include "bench/nb_busy.h"
#include "bench/nb_commands.h"
#include "bench/nb_counters.h"
#include "bench/nb_publish.h"
#include "bench/nb_results.h"
#include "bench/nb_stats.h"
#include "bench/nb_stream.h"
#include "bench/nb_sweep.h"
#include "bench/nb_sysinfo.h"
#include "bench/nb_timer.h"
#include "bench/nb_workers.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_matmul.h"
#include "verify/nb_accuracy.h"

/* Exit status of an interrupted run (128 + SIGINT, as a shell reports it). */
#define NB_EXIT_INTERRUPTED 130

/* --buffer-offset at most 1 MiB: half the 2 MiB alignment, enough for every
 * page, cache-set and 4K-aliasing offset. */
#define NB_MAX_BUFFER_OFFSET ((long)1 << 20)
#define NB_HUGE_ALIGN ((size_t)2 << 20)

static volatile sig_atomic_t nb_run_stop;

static void nb_on_signal(int sig)
{
	(void)sig;
	nb_run_stop = 1;
}

/* ---- options ---- */

enum {
	OPT_VARIANTS = 256, OPT_IMPL, OPT_ISA, OPT_ALL_ISA, OPT_DTYPES, OPT_SHAPES,
	OPT_THREADS, OPT_CACHE, OPT_DIR, OPT_SAMPLES, OPT_MIN_SAMPLE, OPT_MAX_SAMPLE,
	OPT_WARMUP, OPT_STREAM_MS, OPT_EVENTS, OPT_SEED, OPT_EPS, OPT_EPS_OUTSIDE,
	OPT_PRMS_P, OPT_PRMS_ROUND, OPT_PRESET, OPT_QUICK, OPT_FORCE,
	OPT_SUITE, OPT_BLOCK_D, OPT_BLOCK_SEQ, OPT_BLOCK_CONTEXT, OPT_BLOCK_FFN, OPT_NORMPROJ_TOKENS, OPT_BUFFER_OFFSET,
	OPT_PROCESSES, OPT_BASELINE, OPT_NB_WORKER, OPT_NB_WORKER_SAMPLES, OPT_NB_LLC,
	OPT_NB_CALIB_IN, OPT_NB_CALIB_OUT,
};

static const struct option nb_run_options[] = {
	{ "variants", required_argument, NULL, OPT_VARIANTS },
	{ "impl", required_argument, NULL, OPT_IMPL },
	{ "isa", required_argument, NULL, OPT_ISA },
	{ "all-isa", no_argument, NULL, OPT_ALL_ISA },
	{ "dtypes", required_argument, NULL, OPT_DTYPES },
	{ "shapes", required_argument, NULL, OPT_SHAPES },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "cache", required_argument, NULL, OPT_CACHE },
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "samples", required_argument, NULL, OPT_SAMPLES },
	{ "min-sample-ms", required_argument, NULL, OPT_MIN_SAMPLE },
	{ "max-sample-ms", required_argument, NULL, OPT_MAX_SAMPLE },
	{ "warmup-ms", required_argument, NULL, OPT_WARMUP },
	{ "stream-ms", required_argument, NULL, OPT_STREAM_MS },
	{ "buffer-offset", required_argument, NULL, OPT_BUFFER_OFFSET },
	{ "events", required_argument, NULL, OPT_EVENTS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "eps", required_argument, NULL, OPT_EPS },
	{ "eps-outside", no_argument, NULL, OPT_EPS_OUTSIDE },
	{ "prms-p", required_argument, NULL, OPT_PRMS_P },
	{ "prms-round", required_argument, NULL, OPT_PRMS_ROUND },
	{ "preset", required_argument, NULL, OPT_PRESET },
	{ "quick", no_argument, NULL, OPT_QUICK },
	{ "output", required_argument, NULL, 'o' },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "suite", required_argument, NULL, OPT_SUITE },
	{ "block-d", required_argument, NULL, OPT_BLOCK_D },
	{ "block-seq", required_argument, NULL, OPT_BLOCK_SEQ },
	{ "block-context", required_argument, NULL, OPT_BLOCK_CONTEXT },
	{ "block-ffn", required_argument, NULL, OPT_BLOCK_FFN },
	{ "normproj-tokens", required_argument, NULL, OPT_NORMPROJ_TOKENS },
	{ "processes", required_argument, NULL, OPT_PROCESSES },
	{ "baseline", required_argument, NULL, OPT_BASELINE },
	/* hidden: the worker side of --processes (bench/nb_workers.h) */
	{ "nb-worker", required_argument, NULL, OPT_NB_WORKER },
	{ "nb-worker-samples", required_argument, NULL, OPT_NB_WORKER_SAMPLES },
	{ "nb-llc", required_argument, NULL, OPT_NB_LLC },
	{ "nb-calib-in", required_argument, NULL, OPT_NB_CALIB_IN },
	{ "nb-calib-out", required_argument, NULL, OPT_NB_CALIB_OUT },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void nb_run_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench run [OPTIONS]\n"
		"Runs a benchmark sweep and writes one HDF5 results file.\n\n"
		"what to measure (comma-separated lists):\n"
		"  --preset NAME         start from a preset (default: 'default')\n"
		"  --quick               same as --preset quick\n"
		"  --variants LIST       layernorm,rmsnorm,prmsnorm,crmsnorm,flashnorm,all\n"
		"  --impl LIST           'best' (default), 'all', or kernel names (normbench list)\n"
		"  --isa LEVEL           cap the ISA: " NB_ISA_LIST " (also env NB_ISA)\n"
		"  --all-isa             time the best kernel of every usable ISA level\n"
		"  --dtypes LIST         f32,f64,f16,bf16,all\n"
		"  --shapes LIST         ROWSxD items, e.g. 1x4096,64x4096\n"
		"  --threads LIST        thread counts, each 1..CPUs\n"
		"  --cache LIST          hot, cold (cold: rotating buffers beyond the last cache)\n"
		"  --dir LIST            fwd, bwd\n"
		"  --suite LIST          kernel, block, normproj, all (default: kernel plus a\n"
		"                        reduced block suite; --suite block alone: the full one)\n"
		"  --block-d LIST        block suite: model widths (e.g. 1024,2048,4096)\n"
		"  --block-seq LIST      block suite: tokens per forward pass (e.g. 1,16,128,512)\n"
		"  --block-context LIST  block suite: KV-cache contexts of the one-token decode\n"
		"                        cells (default 512,2048; --quick 8,32)\n"
		"  --block-ffn KIND      block suite: swiglu (default) or gelu\n"
		"  --normproj-tokens LIST  normproj pair: token counts (e.g. 1,4,16,64,128,512)\n"
		"how to measure:\n"
		"  --samples N           raw samples per cell (>= %d; default 20, quick 10),\n"
		"                        spread over the processes (at least %d in each)\n"
		"  --processes N         measure every cell in N fresh worker processes\n"
		"                        (default: samples / %d, at most %d; 1: in this\n"
		"                        process): the gate's unit of evidence (docs/gate.md)\n"
		"  --baseline BINARY     A/B run: BINARY's worker processes (a normbench with\n"
		"                        --processes) alternate with this binary's; one file,\n"
		"                        cells labelled side base/new, for 'normbench compare FILE'\n"
		"  --min-sample-ms MS    calibrate one sample to last at least MS (default 5)\n"
		"  --max-sample-ms MS    and never plan one longer than MS (default 100)\n"
		"  --warmup-ms MS        warm-up per cell, by time (default 50)\n"
		"  --stream-ms MS        time per STREAM bandwidth point (default 100)\n"
		"  --buffer-offset B     put y, dx (FlashNorm: z) B bytes past a 2 MiB boundary,\n"
		"                        x and dy on one (0..1048576, a multiple of the element\n"
		"                        size): alignment and 4K-aliasing studies\n"
		"  --events LIST         PAPI events ('none' for none; default\n"
		"                        %s)\n"
		"  --seed N              data and shuffle seed (default 42)\n"
		"conventions (recorded in the file):\n"
		"  --eps X               in [0, 1], default 1e-5, inside the square root\n"
		"  --eps-outside         x / (rms + eps), the original reference code\n"
		"  --prms-p P            pRMSNorm fraction, default 0.0625\n"
		"  --prms-round R        ceil (paper, default) or floor (original code)\n"
		"output:\n"
		"  -o, --output FILE     default normbench-results/run-<UTC time>.h5\n"
		"  --force               replace FILE if it exists\n"
		"  -v, --verbose         one line per measured cell on stderr\n"
		"  -h, --help\n\n"
		"presets:\n%s\n"
		"A progress bar with the time left is shown on stderr when it is a terminal.\n"
		"Ctrl-C stops at the next sample: the cells of the groups already finished\n"
		"are written to FILE with '.incomplete.h5' in place of '.h5' (root attribute\n"
		"complete = 0), nothing is written under FILE, and the exit status is 130.\n"
		"Exit status 2: the file was written but a timed kernel failed its accuracy\n"
		"check against ref/ (see normbench show FILE). Exit status 5: the file was\n"
		"written but a block-suite self-check failed (an arrangement faster than\n"
		"no-norm, 2 threads slower than 1 on a GEMM-dominated layer, or FlashNorm's\n"
		"fused and unfused arms apart, each beyond the A/A interval).\n",
		NB_SWEEP_MIN_SAMPLES, NB_WORKER_MIN_SAMPLES, NB_WORKER_MIN_SAMPLES,
		NB_WORKERS_DEFAULT,
		NB_COUNTERS_DEFAULT_LIST, nb_sweep_preset_help());
}

struct nb_run_args {
	const char *preset;
	const char *variants, *impl, *isa, *dtypes, *shapes, *threads, *cache, *dir;
	const char *samples, *min_sample, *max_sample, *warmup, *stream_ms, *events;
	const char *buffer_offset;
	const char *seed, *eps, *prms_p, *prms_round, *output;
	const char *suite, *block_d, *block_seq, *block_ffn, *normproj_tokens, *block_context;
	bool all_isa, eps_outside, force, verbose;
	const char *processes, *baseline;
	const char *worker, *worker_samples, *llc, *calib_in, *calib_out;
};

struct nb_run_config {
	struct nb_sweep sweep;
	struct nb_sweep_explicit ex;
	char output[4096];
	char incomplete[4160];
	bool force, verbose, progress;
	char **events;
	size_t nevents;
	int cores;
	bool suite_kernel;               /* the kernel cells of the sweep */
	struct nb_block_config block;    /* block and normproj cells (bench/nb_block.h) */
	int processes;                   /* worker processes per side (1: none) */
	const char *baseline;            /* A/B run: the other binary */
	struct nb_worker_role role;      /* this process is a worker */
};

/* "dir/run-X.h5" -> "dir/run-X.incomplete.h5"; other names get the suffix
 * appended. */
static void nb_incomplete_name(const char *path, char *out, size_t size)
{
	size_t len = strlen(path);

	if (len > 3 && strcmp(path + len - 3, ".h5") == 0)
		snprintf(out, size, "%.*s.incomplete.h5", (int)(len - 3), path);
	else
		snprintf(out, size, "%s.incomplete.h5", path);
}

static enum nb_status nb_add_sde_events(struct nb_run_config *cfg)
{
	static const char *const sde[] = { NB_SDE_KERNEL_CALLS, NB_SDE_ROWS, NB_SDE_BYTES };

	for (size_t i = 0; i < 3; i++) {
		bool have = false;
		char **p;
		for (size_t j = 0; j < cfg->nevents; j++)
			have = have || strcmp(cfg->events[j], sde[i]) == 0;
		if (have)
			continue;
		p = realloc(cfg->events, (cfg->nevents + 1) * sizeof(*p));
		if (!p)
			return nb_fail(NB_ERR_NOMEM, "no memory for the event list");
		cfg->events = p;
		cfg->events[cfg->nevents] = strdup(sde[i]);
		if (!cfg->events[cfg->nevents])
			return nb_fail(NB_ERR_NOMEM, "no memory for the event list");
		cfg->nevents++;
	}
	return NB_OK;
}

/* The suites --suite picks. */
struct nb_suites {
	bool kernel, block, normproj;
};

/* One item of --suite. */
static enum nb_status nb_suite_item(const char *tok, void *ctx)
{
	struct nb_suites *p = ctx;

	if (strcmp(tok, "all") == 0)
		p->kernel = p->block = p->normproj = true;
	else if (strcmp(tok, "kernel") == 0)
		p->kernel = true;
	else if (strcmp(tok, "block") == 0)
		p->block = p->normproj = true;
	else if (strcmp(tok, "normproj") == 0)
		p->normproj = true;
	else
		return nb_fail(NB_ERR_INVALID, "--suite: unknown suite '%s' (kernel, block, "
			       "normproj, all)", tok);
	return NB_OK;
}

/* --suite and the block options: which suites run and the block sizes
 * (bench/nb_block.h presets: the default sweep carries a reduced block
 * suite, --quick a tiny one, --suite block alone the full one). */
static enum nb_status nb_run_configure_suites(const struct nb_run_args *a,
					      struct nb_run_config *cfg)
{
	bool kernel_axes = a->variants || a->impl || a->dtypes || a->shapes || a->cache ||
			   a->dir || a->all_isa;
	bool block_opts = a->block_d || a->block_seq || a->block_ffn || a->block_context;
	/* without --suite: the kernel cells, plus the block suite unless the
	 * command line picked kernel cells only (kernel axes, no block option)
	 * or the preset asks for kernel cells only (ci) */
	bool kernel_only = kernel_axes || cfg->sweep.kernel_cells_only;
	bool kernel = true, block = !kernel_only || block_opts, normproj = block;
	enum nb_status st;

	if (a->suite) {
		struct nb_suites picked = { false, false, false };
		if ((st = nb_cli_each_item(a->suite, "--suite", nb_suite_item, &picked)) != NB_OK)
			return st;
		kernel = picked.kernel;
		block = picked.block;
		normproj = picked.normproj;
		if (!kernel && kernel_axes)
			return nb_fail(NB_ERR_INVALID, "--variants, --impl, --dtypes, --shapes, "
				       "--cache, --dir and --all-isa choose kernel cells: add "
				       "'kernel' to --suite");
		if (!block && block_opts)
			return nb_fail(NB_ERR_INVALID, "--block-d, --block-seq, --block-context and "
				       "--block-ffn need 'block' in --suite");
		if (block && a->eps_outside)
			return nb_fail(NB_ERR_INVALID, "--eps-outside: the block suite's models "
				       "put eps inside the root");
	}
	/* the default sweep under --eps-outside keeps normproj (its kernels
	 * follow the convention) and drops the layer cells */
	block = block && !a->eps_outside;
	nb_block_preset(nb_block_level_for(a->preset, !kernel), &cfg->block);
	cfg->suite_kernel = kernel;
	cfg->block.layer = block;
	cfg->block.normproj = normproj;
	cfg->block.seed = cfg->sweep.seed;
	cfg->block.eps = cfg->sweep.conv.eps;
	if (a->block_d && (st = nb_block_parse_d(a->block_d, &cfg->block)) != NB_OK)
		return st;
	if (a->block_context &&
	    (st = nb_block_parse_context(a->block_context, &cfg->block)) != NB_OK)
		return st;
	if (a->block_seq && (st = nb_block_parse_seq(a->block_seq, &cfg->block)) != NB_OK)
		return st;
	if (a->normproj_tokens &&
	    (st = nb_block_parse_normproj_tokens(a->normproj_tokens, &cfg->block)) != NB_OK)
		return st;
	if (a->block_ffn && (st = nb_block_parse_ffn(a->block_ffn, &cfg->block)) != NB_OK)
		return st;
	return NB_OK;
}

/* The output must be writable before anything is measured: not a folder,
 * its folder creatable and writable. */
static enum nb_status nb_run_check_destination(const char *output)
{
	char dir[4096];
	struct stat sb;

	if (stat(output, &sb) == 0 && !S_ISREG(sb.st_mode))
		return nb_fail(NB_ERR_INVALID, "-o %s is not a regular file (a folder?)", output);
	if (nb_results_make_parent_dirs(output) != NB_OK)
		return NB_ERR_IO;
	nb_parent_dir(output, dir, sizeof(dir));
	if (access(dir, W_OK | X_OK) != 0)
		return nb_fail(NB_ERR_IO, "cannot write into %s: %s", dir, strerror(errno));
	return NB_OK;
}

/* --processes, --baseline and the hidden worker options. */
static enum nb_status nb_run_configure_workers(const struct nb_run_args *a,
					       struct nb_run_config *cfg)
{
	enum nb_status st;
	long lv;

	/* by default as many processes as --samples can give at least
	 * NB_WORKER_MIN_SAMPLES each, at most NB_WORKERS_DEFAULT */
	cfg->processes = cfg->sweep.samples / NB_WORKER_MIN_SAMPLES;
	if (cfg->processes > NB_WORKERS_DEFAULT)
		cfg->processes = NB_WORKERS_DEFAULT;
	if (cfg->processes < 1)
		cfg->processes = 1;
	if (a->processes) {
		if ((st = nb_parse_int(a->processes, 1, NB_WORKERS_MAX, "--processes",
				       &lv)) != NB_OK)
			return st;
		cfg->processes = (int)lv;
	}
	if (a->baseline) {
		if (access(a->baseline, X_OK) != 0)
			return nb_fail(NB_ERR_IO, "--baseline %s: not an executable file",
				       a->baseline);
		if (cfg->processes < 2)
			return nb_fail(NB_ERR_INVALID, "--baseline needs --processes >= 2 (the "
				       "gate's unit is the process)");
		cfg->baseline = a->baseline;
	}
	if (!a->worker)
		return NB_OK;
	/* a worker measures its share of the samples, nothing else */
	cfg->role.on = true;
	cfg->processes = 1;
	cfg->baseline = NULL;
	if ((st = nb_parse_int(a->worker, 0, 2 * NB_WORKERS_MAX, "--nb-worker", &lv)) != NB_OK)
		return st;
	cfg->role.index = (int)lv;
	if (a->worker_samples) {
		if ((st = nb_parse_int(a->worker_samples, 1, NB_SWEEP_MAX_SAMPLES,
				       "--nb-worker-samples", &lv)) != NB_OK)
			return st;
		cfg->sweep.samples = (int)lv;
	}
	if (a->llc) {
		if ((st = nb_parse_int(a->llc, 0, (long)1 << 40, "--nb-llc", &lv)) != NB_OK)
			return st;
		cfg->role.llc = (size_t)lv;
	}
	cfg->role.calib_in = a->calib_in;
	cfg->role.calib_out = a->calib_out;
	return NB_OK;
}

static enum nb_status nb_run_configure(const struct nb_run_args *a, struct nb_run_config *cfg)
{
	struct nb_sweep *s = &cfg->sweep;
	enum nb_status st;
	long lv;
	double dv;

	cfg->cores = nb_cli_cores();
	st = nb_sweep_preset(a->preset, cfg->cores, s);
	if (st != NB_OK)
		return st;
	if (a->preset && (a->variants || a->impl || a->dtypes || a->shapes || a->threads ||
			  a->cache || a->dir || a->samples || a->min_sample || a->max_sample ||
			  a->warmup || a->all_isa || a->buffer_offset))
		snprintf(s->preset, sizeof(s->preset), "%s+custom", a->preset);
	else if (!a->preset && (a->variants || a->impl || a->dtypes || a->shapes ||
				a->threads || a->cache || a->dir || a->all_isa))
		snprintf(s->preset, sizeof(s->preset), "custom");
	if (a->isa) {
		enum nb_isa cap = nb_isa_from_name(a->isa);
		if (cap == NB_ISA_COUNT)
			return nb_fail(NB_ERR_NOTFOUND, "--isa: unknown ISA '%s' (" NB_ISA_LIST ")",
				       a->isa);
		if ((st = nb_isa_set_cap(cap)) != NB_OK)
			return st;
	}
	if (a->variants && (st = nb_sweep_parse_variants(a->variants, s)) != NB_OK)
		return st;
	if (a->dtypes && (st = nb_sweep_parse_dtypes(a->dtypes, s)) != NB_OK)
		return st;
	if (a->dir && (st = nb_sweep_parse_dirs(a->dir, s)) != NB_OK)
		return st;
	if (a->cache && (st = nb_sweep_parse_caches(a->cache, s)) != NB_OK)
		return st;
	if (a->shapes && (st = nb_sweep_parse_shapes(a->shapes, s)) != NB_OK)
		return st;
	if (a->threads && (st = nb_sweep_parse_threads(a->threads, cfg->cores, s)) != NB_OK)
		return st;
	if (a->impl && (st = nb_sweep_parse_impls(a->impl, s)) != NB_OK)
		return st;
	if (a->all_isa) {
		if (s->impl_mode != NB_IMPL_BEST)
			return nb_fail(NB_ERR_INVALID, "--all-isa goes with --impl best");
		s->all_isa = true;
	}
	cfg->ex.variants = a->variants != NULL;
	cfg->ex.dtypes = a->dtypes != NULL;
	cfg->ex.dirs = a->dir != NULL;

	if (a->samples) {
		if ((st = nb_parse_int(a->samples, NB_SWEEP_MIN_SAMPLES, NB_SWEEP_MAX_SAMPLES,
				       "--samples", &lv)) != NB_OK)
			return st;
		s->samples = (int)lv;
	}
	if (a->min_sample && (st = nb_parse_double(a->min_sample, 0.01, 10000,
						   "--min-sample-ms", &s->min_sample_ms)) != NB_OK)
		return st;
	if (a->max_sample && (st = nb_parse_double(a->max_sample, 0.01, 60000,
						   "--max-sample-ms", &s->max_sample_ms)) != NB_OK)
		return st;
	if (s->min_sample_ms > s->max_sample_ms)
		return nb_fail(NB_ERR_INVALID, "--min-sample-ms %g exceeds --max-sample-ms %g",
			       s->min_sample_ms, s->max_sample_ms);
	if (a->warmup && (st = nb_parse_double(a->warmup, 0, 60000, "--warmup-ms",
					       &s->warmup_ms)) != NB_OK)
		return st;
	if (a->stream_ms && (st = nb_parse_double(a->stream_ms, 1, 60000, "--stream-ms",
						  &s->stream_ms)) != NB_OK)
		return st;
	if (a->seed && (st = nb_parse_u64(a->seed, "--seed", &s->seed)) != NB_OK)
		return st;
	if (a->buffer_offset) {
		if ((st = nb_parse_int(a->buffer_offset, 0, NB_MAX_BUFFER_OFFSET,
				       "--buffer-offset", &lv)) != NB_OK)
			return st;
		s->buffer_offset = lv;
	}
	if (a->eps && (st = nb_cli_parse_eps(a->eps, &s->conv.eps)) != NB_OK)
		return st;
	if (a->eps_outside)
		s->conv.eps_mode = NB_EPS_OUTSIDE;
	if (a->prms_p) {
		if ((st = nb_parse_double(a->prms_p, 0, 1, "--prms-p", &dv)) != NB_OK)
			return st;
		if (!(dv > 0))
			return nb_fail(NB_ERR_INVALID, "--prms-p: must lie in (0, 1]");
		s->conv.prms_p = dv;
	}
	if (a->prms_round) {
		if (strcmp(a->prms_round, "ceil") == 0)
			s->conv.prms_round = NB_PRMS_CEIL;
		else if (strcmp(a->prms_round, "floor") == 0)
			s->conv.prms_round = NB_PRMS_FLOOR;
		else
			return nb_fail(NB_ERR_INVALID, "--prms-round: '%s' is neither ceil nor "
				       "floor", a->prms_round);
	}
	if (a->events && !*a->events)
		return nb_fail(NB_ERR_INVALID, "--events: empty list (say 'none' for no events)");
	if (a->events)
		snprintf(s->events, sizeof(s->events), "%s",
			 strcmp(a->events, "none") == 0 ? "" : a->events);
	if (s->events[0] && (st = nb_counters_parse_list(s->events, &cfg->events,
							 &cfg->nevents)) != NB_OK)
		return st;

	if (a->output) {
		if (!*a->output)
			return nb_fail(NB_ERR_INVALID, "-o: empty file name");
		if (snprintf(cfg->output, sizeof(cfg->output), "%s", a->output) >=
		    (int)sizeof(cfg->output))
			return nb_fail(NB_ERR_INVALID, "-o: file name too long");
	} else {
		char now[32];
		char stamp[32];
		size_t j = 0;
		nb_utc_now(now, sizeof(now));
		/* 2024-05-01T12:34:56Z -> 20240501T123456Z */
		for (size_t i = 0; now[i] && j + 1 < sizeof(stamp); i++)
			if (now[i] != '-' && now[i] != ':')
				stamp[j++] = now[i];
		stamp[j] = '\0';
		snprintf(cfg->output, sizeof(cfg->output), "normbench-results/run-%s.h5", stamp);
	}
	nb_incomplete_name(cfg->output, cfg->incomplete, sizeof(cfg->incomplete));
	cfg->force = a->force;
	cfg->verbose = a->verbose;
	if ((st = nb_run_configure_workers(a, cfg)) != NB_OK)
		return st;
	if ((st = nb_run_configure_suites(a, cfg)) != NB_OK)
		return st;
	if (!cfg->force) {
		if (access(cfg->output, F_OK) == 0)
			return nb_fail(NB_ERR_IO, "%s exists (use --force to replace it)",
				       cfg->output);
		if (access(cfg->incomplete, F_OK) == 0)
			return nb_fail(NB_ERR_IO, "%s (from an interrupted run) exists: remove "
				       "it or use --force", cfg->incomplete);
	}
	return nb_run_check_destination(cfg->output);
}

/* ---- buffers of one cell ---- */

static void *nb_buf_alloc(size_t bytes)
{
	size_t align = bytes >= ((size_t)2 << 20) ? ((size_t)2 << 20) : 64;
	size_t rounded = (bytes + align - 1) / align * align;
	void *p = NULL;

	if (rounded == 0)
		rounded = align;
	if (posix_memalign(&p, align, rounded) != 0)
		return NULL;
	(void)madvise(p, rounded, MADV_HUGEPAGE);
	/* touch every page now: a first touch costs ~10 us per 4 KiB page on
	 * this VM and must never land inside a timed sample */
	memset(p, 0, rounded);
	return p;
}

/* With --buffer-offset: bytes at offset past a 2 MiB boundary (x and dy at
 * offset 0, the outputs at the option's value), whatever the size. Only
 * the bytes used are touched, so small buffers of a cold pool cost their
 * size, not 2 MiB each. *mem gets what free() takes. */
static void *nb_buf_alloc_at(size_t bytes, size_t offset, void **mem)
{
	size_t total = (offset + bytes + 63) / 64 * 64;
	void *p = NULL;

	*mem = NULL;
	if (posix_memalign(&p, NB_HUGE_ALIGN, total ? total : 64) != 0)
		return NULL;
	(void)madvise(p, total, MADV_HUGEPAGE);
	memset(p, 0, total);
	*mem = p;
	return (char *)p + offset;
}

/* A per-set array: default alignment, or at offset past 2 MiB when the
 * sweep asks for an offset (offset < 0: none). */
static void *nb_set_alloc(size_t bytes, long offset, bool output, void **mem)
{
	if (offset < 0) {
		*mem = nb_buf_alloc(bytes);
		return *mem;
	}
	return nb_buf_alloc_at(bytes, output ? (size_t)offset : 0, mem);
}

/* Fills count elements of dtype t: mean + scale * N(0,1), each value an
 * f32 first for the 16-bit types so the store is a single rounding. */
static void nb_fill(enum nb_dtype t, void *buf, size_t count, struct nb_rng *rng,
		    double mean, double scale)
{
	for (size_t i = 0; i < count; i++) {
		double v = mean + scale * nb_rng_normal(rng);
		if (t != NB_DTYPE_F64)
			v = (double)(float)v;
		nb_dtype_store(t, buf, i, v);
	}
}

/* One buffer set of the rotating pool: what a call reads and writes per row.
 * The *_mem members are the allocations (an output may sit past its start:
 * --buffer-offset). */
struct nb_set {
	void *x, *y, *dy, *dx, *z, *scratch;
	void *x_mem, *y_mem, *dy_mem, *dx_mem, *z_mem;
};

struct nb_cell_run {
	const struct nb_planned_cell *plan;
	const struct nb_kernel *k;
	struct nb_problem *probs;   /* one per pool set */
	struct nb_set *sets;
	size_t nsets;
	size_t next;                /* rotation index */
	void *gain, *bias, *dgain, *dbias, *w, *w_folded, *workspace;
	struct nb_cost cost;
	double working_set;
	uint64_t iterations;
	double *seconds;            /* one per sample */
	uint32_t *rounds;
	int64_t (*sw)[3];
	int32_t (*load)[2];         /* per sample: procs_running, steal_ticks */
	size_t own_known, own_over; /* samples with own threads known, beyond threads */
	size_t nsamples;
	long long *counter_sum;     /* per event */
	bool failed;
	char note[NB_RES_TEXT];
	uint32_t extra_every, extra_count; /* NB_TEST_SLOWDOWN (nb_workers.h) */
	/* a block cell: the timed call is fn(ctx) instead of the kernel */
	enum nb_status (*fn)(void *ctx);
	void *ctx;
	char label[NB_RES_NAME];
};

static void nb_cell_free(struct nb_cell_run *c)
{
	for (size_t i = 0; c->sets && i < c->nsets; i++) {
		free(c->sets[i].x_mem);
		free(c->sets[i].y_mem);
		free(c->sets[i].dy_mem);
		free(c->sets[i].dx_mem);
		free(c->sets[i].z_mem);
		free(c->sets[i].scratch);
	}
	free(c->sets);
	free(c->probs);
	free(c->gain);
	free(c->bias);
	free(c->dgain);
	free(c->dbias);
	free(c->w);
	free(c->w_folded);
	free(c->workspace);
	free(c->seconds);
	free(c->rounds);
	free(c->sw);
	free(c->load);
	free(c->counter_sum);
	memset(c, 0, sizeof(*c));
}

/* Bytes one pool set holds (rows x n per array). */
static size_t nb_set_bytes(const struct nb_kernel *k, size_t rows, size_t n, size_t m)
{
	size_t s = nb_dtype_traits[k->dtype].size;

	if (k->variant == NB_VARIANT_FLASHNORM)
		return s * (2 * rows * n + rows * m);
	return s * rows * n * (k->dir == NB_DIR_BACKWARD ? 3 : 2);
}

static size_t nb_pool_sets(const struct nb_planned_cell *pc, size_t set_bytes, size_t llc)
{
	size_t sets;

	if (pc->cache == NB_CACHE_HOT)
		return 1;
	/* cold: the rotation covers twice the last-level cache, so every call
	 * finds its data evicted by the calls in between */
	sets = (2 * llc + set_bytes - 1) / (set_bytes ? set_bytes : 1) + 1;
	if (sets < 2)
		sets = 2;
	if (sets > 65536)
		sets = 65536;
	return sets;
}

static enum nb_status nb_cell_setup(struct nb_cell_run *c, const struct nb_planned_cell *pc,
				    const struct nb_sweep *s, size_t llc, size_t nevents,
				    uint64_t data_seed)
{
	const struct nb_kernel *k = pc->kernel;
	enum nb_dtype t = k->dtype;
	size_t es = nb_dtype_traits[t].size;
	size_t gs = nb_dtype_traits[nb_grad_dtype(t, k->acc)].size;
	size_t rows = pc->shape.rows, d = pc->shape.d, m = pc->m;
	size_t n = nb_variant_stored(k->variant, d);
	size_t set_bytes = nb_set_bytes(k, rows, n, m);
	struct nb_rng rng;
	enum nb_status st;

	memset(c, 0, sizeof(*c));
	c->plan = pc;
	c->k = k;
	snprintf(c->label, sizeof(c->label), "kernel %s", k->name);
	c->nsets = nb_pool_sets(pc, set_bytes, llc);
	c->sets = calloc(c->nsets, sizeof(*c->sets));
	c->probs = calloc(c->nsets, sizeof(*c->probs));
	c->seconds = calloc((size_t)s->samples, sizeof(double));
	c->rounds = calloc((size_t)s->samples, sizeof(uint32_t));
	c->sw = calloc((size_t)s->samples, sizeof(*c->sw));
	c->load = calloc((size_t)s->samples, sizeof(*c->load));
	c->counter_sum = calloc(nevents ? nevents : 1, sizeof(long long));
	if (!c->sets || !c->probs || !c->seconds || !c->rounds || !c->sw || !c->load ||
	    !c->counter_sum)
		return nb_fail(NB_ERR_NOMEM, "no memory for cell bookkeeping");

	/* the same seed for every cell of a group: each variant sees the same
	 * numbers (CRMSNorm the first d-1 of each row's draw order) */
	nb_rng_seed(&rng, data_seed);
	c->gain = nb_buf_alloc(n * es);
	c->bias = nb_sweep_has_bias(k->variant) || k->variant == NB_VARIANT_FLASHNORM
		? nb_buf_alloc((k->variant == NB_VARIANT_FLASHNORM ? m : n) * es) : NULL;
	if (!c->gain || ((nb_sweep_has_bias(k->variant) || k->variant == NB_VARIANT_FLASHNORM)
			 && !c->bias))
		return nb_fail(NB_ERR_NOMEM, "no memory for the parameters");
	nb_fill(t, c->gain, n, &rng, 1.0, 0.1);
	if (c->bias)
		nb_fill(t, c->bias, k->variant == NB_VARIANT_FLASHNORM ? m : n, &rng, 0.0, 0.1);
	if (k->dir == NB_DIR_BACKWARD) {
		c->dgain = nb_buf_alloc(n * gs);
		c->dbias = nb_sweep_has_bias(k->variant) ? nb_buf_alloc(n * gs) : NULL;
		if (!c->dgain || (nb_sweep_has_bias(k->variant) && !c->dbias))
			return nb_fail(NB_ERR_NOMEM, "no memory for the gradients");
	}
	if (k->variant == NB_VARIANT_FLASHNORM) {
		c->w = nb_buf_alloc(n * m * es);
		c->w_folded = nb_buf_alloc(n * m * es);
		if (!c->w || !c->w_folded)
			return nb_fail(NB_ERR_NOMEM, "no memory for FlashNorm's weights");
		/* W ~ N(0, 1/n): outputs of the size of the inputs */
		nb_fill(t, c->w, n * m, &rng, 0.0, 1.0 / sqrt((double)n));
		st = nb_flashnorm_fold(t, n, m, c->gain, c->w, c->w_folded);
		if (st != NB_OK)
			return st;
	}
	for (size_t i = 0; i < c->nsets; i++) {
		struct nb_set *b = &c->sets[i];
		struct nb_problem *p = &c->probs[i];

		b->x = nb_set_alloc(rows * n * es, s->buffer_offset, false, &b->x_mem);
		if (!b->x)
			return nb_fail(NB_ERR_NOMEM, "no memory for x (%zu x %zu %s, %zu sets)",
				       rows, n, nb_dtype_traits[t].name, c->nsets);
		if (i == 0)
			nb_fill(t, b->x, rows * n, &rng, 0.0, 1.0);
		else
			memcpy(b->x, c->sets[0].x, rows * n * es);
		*p = nb_problem_init(k->variant, t, rows, d);
		p->conv = s->conv;
		p->x = b->x;
		p->gain = c->gain;
		p->threads = pc->threads;
		if (k->variant == NB_VARIANT_FLASHNORM) {
			b->z = nb_set_alloc(rows * m * es, s->buffer_offset, true, &b->z_mem);
			b->scratch = nb_buf_alloc(rows * n * es);
			if (!b->z || !b->scratch)
				return nb_fail(NB_ERR_NOMEM, "no memory for FlashNorm's outputs");
			p->m = m;
			p->w = c->w;
			p->w_folded = c->w_folded;
			p->out_bias = c->bias;
			p->z = b->z;
			p->scratch = b->scratch;
		} else if (k->dir == NB_DIR_FORWARD) {
			b->y = nb_set_alloc(rows * n * es, s->buffer_offset, true, &b->y_mem);
			if (!b->y)
				return nb_fail(NB_ERR_NOMEM, "no memory for y");
			p->y = b->y;
			p->bias = c->bias;
		} else {
			b->dy = nb_set_alloc(rows * n * es, s->buffer_offset, false, &b->dy_mem);
			b->dx = nb_set_alloc(rows * n * es, s->buffer_offset, true, &b->dx_mem);
			if (!b->dy || !b->dx)
				return nb_fail(NB_ERR_NOMEM, "no memory for dy, dx");
			if (i == 0) {
				struct nb_rng dyr;
				nb_rng_seed(&dyr, data_seed ^ 0x9e3779b97f4a7c15ull);
				nb_fill(t, b->dy, rows * n, &dyr, 0.0, 1.0);
			} else {
				memcpy(b->dy, c->sets[0].dy, rows * n * es);
			}
			p->dy = b->dy;
			p->dx = b->dx;
			p->dgain = c->dgain;
			p->dbias = c->dbias;
		}
		st = nb_kernel_prepare(k, p);
		if (st != NB_OK)
			return st;
	}
	{
		size_t ws = nb_kernel_workspace_bytes(k, &c->probs[0]);
		if (ws) {
			c->workspace = nb_buf_alloc(ws);
			if (!c->workspace)
				return nb_fail(NB_ERR_NOMEM, "no memory for the workspace");
		}
	}
	c->cost = nb_sweep_cost(k, rows, d, m, &s->conv);
	/* what a call touches: for a hot cell its own traffic, for a cold one
	 * the whole rotation (so its limit is the bandwidth beyond the caches) */
	c->working_set = pc->cache == NB_CACHE_HOT ? c->cost.bytes
		: (double)set_bytes * (double)c->nsets;
	c->extra_every = nb_test_slowdown_every(k->name);
	return NB_OK;
}

static inline enum nb_status nb_cell_call(struct nb_cell_run *c)
{
	enum nb_status st = c->fn ? c->fn(c->ctx)
		: nb_kernel_run(c->k, &c->probs[c->next], c->workspace);

	if (c->extra_every && ++c->extra_count == c->extra_every) {
		c->extra_count = 0;
		st |= nb_kernel_run(c->k, &c->probs[c->next], c->workspace);
	}

	if (++c->next == c->nsets)
		c->next = 0;
	return st;
}

/* Runs calls until ms have passed (at least one call). */
static enum nb_status nb_cell_warmup(struct nb_cell_run *c, double ms)
{
	uint64_t end = nb_now_ns() + (uint64_t)(ms * 1e6);
	enum nb_status st;

	do {
		st = nb_cell_call(c);
		if (st != NB_OK)
			return st;
	} while (nb_now_ns() < end && !nb_run_stop);
	return NB_OK;
}

/* One calibration probe: batch calls, timed. */
static enum nb_status nb_cell_probe(void *ctx, uint64_t batch, double *ns)
{
	struct nb_cell_run *c = ctx;
	uint64_t t0 = nb_now_ns();

	for (uint64_t i = 0; i < batch; i++) {
		enum nb_status st = nb_cell_call(c);
		if (st != NB_OK)
			return st;
	}
	*ns = (double)(nb_now_ns() - t0);
	return NB_OK;
}

static bool nb_run_stopping(void)
{
	return nb_run_stop != 0;
}

/* Calls per sample so that a sample lasts about min_sample_ms (never planned
 * beyond max_sample_ms; one call when a single call is longer), from the
 * fastest of several probes (nb_calibrate, bench/nb_timer.h). */
static enum nb_status nb_cell_calibrate(struct nb_cell_run *c, const struct nb_sweep *s)
{
	struct nb_calibration cal;
	enum nb_status st = nb_calibrate(nb_cell_probe, c, s->min_sample_ms * 1e6,
					 s->max_sample_ms * 1e6, nb_run_stopping, &cal);

	if (st == NB_OK)
		c->iterations = cal.iterations;
	return st;
}

/* ---- accuracy of a timed cell ---- */

struct nb_run_check {
	int verified;               /* 1 pass, 0 fail, -1 not checked */
	double max_ulps;
	double err_ratio;
	char note[NB_RES_TEXT];
};

/* Elements judged per cell at most: the long-double reference and its
 * per-element bounds cost ~50 bytes and a few hundred ns per element, so a
 * 4096 x 4096 cell is judged on its first rows (rows are independent in
 * every forward kernel; backward kernels are re-run on those rows so that
 * dgain and dbias are the sums over exactly the rows judged). FlashNorm's
 * reference is a long-double product: at most 2^25 multiply-adds. */
#define NB_CHECK_MAX_ELEMENTS ((size_t)1 << 20)
#define NB_CHECK_MAX_FLASH_OPS ((size_t)1 << 25)

static void nb_run_check(const struct nb_kernel *k, const struct nb_problem *p,
			 struct nb_run_check *out)
{
	struct nb_problem q = *p;
	struct nb_accuracy_report rep;
	size_t width = p->n > p->m ? p->n : p->m;
	size_t rows = NB_CHECK_MAX_ELEMENTS / (width ? width : 1);
	enum nb_status st = NB_OK;

	out->verified = -1;
	out->max_ulps = NAN;
	out->err_ratio = NAN;
	out->note[0] = '\0';
	/* FlashNorm's reference is a long-double matmul: n*m per row */
	if (k->variant == NB_VARIANT_FLASHNORM && p->n * p->m > 0)
		rows = NB_CHECK_MAX_FLASH_OPS / (p->n * p->m);
	if (rows < 1)
		rows = 1;
	if (rows < p->rows) {
		q.rows = rows;
		if (k->dir == NB_DIR_BACKWARD)
			st = nb_kernel_run(k, &q, NULL);
	}
	/* hidden test hook: a kernel that computed one element wrong must be
	 * recorded as failing (tests/test_cli.c sets it) */
	if (st == NB_OK && getenv("NB_RUN_INJECT_ERROR")) {
		void *o = k->variant == NB_VARIANT_FLASHNORM ? q.z
			: k->dir == NB_DIR_FORWARD ? q.y : q.dx;
		double v = nb_dtype_load(q.dtype, o, 0);
		double w = v + 1.0 + fabs(v);
		nb_dtype_store(q.dtype, o, 0, q.dtype == NB_DTYPE_F64 ? w : (double)(float)w);
	}
	if (st == NB_OK)
		st = nb_accuracy_check(k, &q, &rep);
	if (st != NB_OK) {
		snprintf(out->note, sizeof(out->note), "not checked: %s", nb_error());
		return;
	}
	out->verified = rep.pass ? 1 : 0;
	out->max_ulps = rep.max_ulps;
	out->err_ratio = rep.max_ratio;
	{
		const struct nb_accuracy_part *w = &rep.part[rep.worst_part];
		int used = q.rows < p->rows
			? snprintf(out->note, sizeof(out->note), "first %zu of %zu rows", q.rows,
				   p->rows)
			: snprintf(out->note, sizeof(out->note), "all %zu rows", p->rows);
		if (used > 0 && (size_t)used < sizeof(out->note))
			snprintf(out->note + used, sizeof(out->note) - (size_t)used,
				 "; worst %s[%zu,%zu] at %.3g of its bound%s",
				 nb_output_name(w->out), w->worst_row, w->worst_col, w->max_ratio,
				 rep.pass ? "" : " (FAILED)");
	}
}

/* ---- progress ---- */

struct nb_progress {
	bool on;
	double total, done;     /* planned milliseconds */
	uint64_t start_ns, last_ns;
	size_t cells_done, cells_total;
};

static void nb_progress_draw(struct nb_progress *pg, bool force)
{
	uint64_t now = nb_now_ns();
	double frac, elapsed, eta;
	char bar[31];
	int fill;

	if (!pg->on || (!force && now - pg->last_ns < 100000000u))
		return;
	pg->last_ns = now;
	frac = pg->total > 0 ? pg->done / pg->total : 0;
	if (frac > 1)
		frac = 1;
	elapsed = (double)(now - pg->start_ns) / 1e9;
	eta = frac > 0.001 ? elapsed * (1 - frac) / frac : (double)NAN;
	fill = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	if (isnan(eta))
		fprintf(stderr, "\r[%s] %3.0f%% %zu/%zu cells  ETA --:--  ", bar, frac * 100,
			pg->cells_done, pg->cells_total);
	else
		fprintf(stderr, "\r[%s] %3.0f%% %zu/%zu cells  ETA %dm%02ds  ", bar, frac * 100,
			pg->cells_done, pg->cells_total, (int)eta / 60, (int)eta % 60);
	fflush(stderr);
}

static void nb_progress_clear(struct nb_progress *pg)
{
	if (pg->on) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
	}
}

static double nb_planned_ms(const struct nb_sweep *s)
{
	return s->warmup_ms + s->min_sample_ms * (s->samples + 2);
}

/* ---- one group, interleaved ---- */

struct nb_run_state {
	struct nb_run_config *cfg;
	struct nb_results *res;
	struct nb_counters *counters;
	struct nb_bandwidth *bw;
	size_t nbw;
	size_t llc;
	bool sw_available;
	char sw_reason[NB_RES_TEXT];
	struct nb_progress progress;
	struct nb_rng shuffle;
	int sde_index[3];           /* event indices of the SDE counters, -1 none */
	struct nb_busy_probe busy;  /* /proc/stat, read around each sample */
	struct nb_own_cpu cpu_before, cpu_after; /* own threads' CPU time per sample */
};

/* One look at /proc/stat and at this process's own runnable threads (*own,
 * -1 unknown): nothing is discounted; own threads beyond the cell's make it
 * "oversubscribed" (issue 13). */
static bool nb_cell_look(struct nb_run_state *rs, struct nb_procstat *out, int *own)
{
	*own = nb_busy_own_running();
	return nb_busy_read(&rs->busy, out);
}

static enum nb_status nb_take_sample(struct nb_run_state *rs, struct nb_cell_run *c,
				     struct nb_swevents *sw, uint32_t round)
{
	size_t ne = rs->cfg->nevents;
	long long vals[NB_COUNTERS_MAX];
	uint64_t swv[NB_SW_COUNT];
	uint64_t t0, t1;
	size_t i = c->nsamples;
	enum nb_status st = NB_OK;
	struct nb_procstat before, after;
	bool ok_before, ok_after;
	int own_before, own_after;

	/* outside the counters and the timing: a few microseconds each */
	ok_before = nb_cell_look(rs, &before, &own_before);
	nb_own_cpu_read(&rs->cpu_before);
	if (rs->counters)
		nb_counters_start(rs->counters);
	nb_swevents_start(sw);
	t0 = nb_now_ns();
	for (uint64_t it = 0; it < c->iterations; it++)
		st |= nb_cell_call(c);
	t1 = nb_now_ns();
	nb_swevents_stop(sw, swv);
	nb_sde_add(c->iterations, c->iterations * c->plan->shape.rows,
		   (uint64_t)(c->cost.bytes * (double)c->iterations));
	if (rs->counters) {
		nb_counters_stop(rs->counters, vals);
		for (size_t e = 0; e < ne && e < NB_COUNTERS_MAX; e++)
			if (vals[e] != NB_COUNTER_UNAVAILABLE)
				c->counter_sum[e] += vals[e];
	}
	nb_own_cpu_read(&rs->cpu_after);
	ok_after = nb_cell_look(rs, &after, &own_after);
	/* own threads: runnable at either end, or ran during the sample */
	own_after = own_before > own_after ? own_before : own_after;
	own_before = nb_own_cpu_active(&rs->cpu_before, &rs->cpu_after, (int64_t)(t1 - t0),
				       NB_OWN_ACTIVE_FRAC);
	if (own_before >= 0 || own_after >= 0) {
		c->own_known++;
		c->own_over += nb_busy_oversubscribed(own_before > own_after ? own_before
						      : own_after, c->plan->threads);
	}
	nb_busy_sample(ok_before, &before, ok_after, &after, &c->load[i][0], &c->load[i][1]);
	if (st != NB_OK)
		return nb_fail(NB_ERR_INVALID, "%s failed: %s", c->label, nb_error());
	c->seconds[i] = (double)(t1 - t0) / 1e9 / (double)c->iterations;
	c->rounds[i] = round;
	if (sw->available) {
		c->sw[i][0] = (int64_t)swv[NB_SW_CONTEXT_SWITCHES];
		c->sw[i][1] = (int64_t)swv[NB_SW_CPU_MIGRATIONS];
		c->sw[i][2] = (int64_t)(swv[NB_SW_PAGE_FAULTS_MIN] + swv[NB_SW_PAGE_FAULTS_MAJ]);
	} else {
		c->sw[i][0] = c->sw[i][1] = c->sw[i][2] = -1;
	}
	c->nsamples++;
	return NB_OK;
}

/* The statistics of c's raw samples, its throughput against the roofline
 * and its SDE counts into row (kernel and block cells alike). */
static void nb_fill_stats(struct nb_run_state *rs, struct nb_cell_run *c,
			  struct nb_cell_row *row, uint64_t seed)
{
	const struct nb_planned_cell *pc = c->plan;
	struct nb_summary sum;

	row->samples = (uint32_t)c->nsamples;
	row->iterations = c->iterations;
	if (nb_summarize(c->seconds, c->nsamples, seed, &sum) != NB_OK)
		memset(&sum, 0, sizeof(sum));
	nb_row_summary(row, &sum);
	row->oversubscribed = c->own_known ? c->own_over > 0 : -1;
	row->bytes = c->cost.bytes;
	row->flops = c->cost.flops;
	row->working_set_bytes = c->working_set;
	row->gbps = sum.median > 0 ? c->cost.bytes / sum.median / 1e9 : 0;
	row->gflops = sum.median > 0 ? c->cost.flops / sum.median / 1e9 : 0;
	row->limit_gbps = nb_limit_gbps(rs->bw, rs->nbw, pc->threads, (size_t)c->working_set);
	row->fraction = row->limit_gbps > 0 ? row->gbps / row->limit_gbps : (double)NAN;
	for (int i = 0; i < 3; i++) {
		uint64_t v = rs->sde_index[i] >= 0 ? (uint64_t)c->counter_sum[rs->sde_index[i]] : 0;
		if (i == 0)
			row->sde_calls = v;
		else if (i == 1)
			row->sde_rows = v;
		else
			row->sde_bytes = v;
	}
}

static void nb_fill_row(struct nb_run_state *rs, struct nb_cell_run *c,
			struct nb_cell_row *row, uint64_t seed)
{
	const struct nb_planned_cell *pc = c->plan;
	const struct nb_kernel *k = c->k;
	struct nb_run_check chk;

	memset(row, 0, sizeof(*row));
	nb_res_strcpy(row->suite, sizeof(row->suite), pc->suite ? pc->suite : "kernel");
	nb_res_strcpy(row->variant, sizeof(row->variant), nb_variant_name(k->variant));
	nb_res_strcpy(row->impl, sizeof(row->impl), k->name);
	nb_res_strcpy(row->isa, sizeof(row->isa), nb_isa_name(k->isa));
	nb_res_strcpy(row->dtype, sizeof(row->dtype), nb_dtype_traits[k->dtype].name);
	nb_res_strcpy(row->acc, sizeof(row->acc), nb_dtype_traits[k->acc].name);
	nb_res_strcpy(row->dir, sizeof(row->dir), nb_direction_name(k->dir));
	nb_res_strcpy(row->algo, sizeof(row->algo), k->algo);
	/* FlashNorm's products go through kernels/nb_matmul.h's rule */
	if (k->variant == NB_VARIANT_FLASHNORM)
		nb_res_strcpy(row->blas_routine, sizeof(row->blas_routine),
			      nb_matmul_routine_name(nb_matmul_routine_for(pc->shape.rows)));
	nb_res_strcpy(row->cache, sizeof(row->cache), nb_cache_state_name(pc->cache));
	row->rows = pc->shape.rows;
	row->d = pc->shape.d;
	row->n = c->probs[0].n;
	row->k = c->probs[0].k;
	row->m = pc->m;
	row->threads = pc->threads;
	row->group = pc->group;
	nb_fill_stats(rs, c, row, seed);
	/* after timing, once: the outputs of pool set 0 (deterministic: every
	 * call on it wrote the same values) against ref/ */
	nb_run_check(k, &c->probs[0], &chk);
	row->verified = chk.verified;
	row->max_ulps = chk.max_ulps;
	row->err_ratio = chk.err_ratio;
	nb_res_strcpy(row->verify_note, sizeof(row->verify_note), chk.note);
}

static void nb_verbose_cell(const struct nb_cell_row *row, size_t index, size_t total)
{
	fprintf(stderr, "normbench: cell %zu/%zu %s %llux%llu t%d %s: median %.3g s, "
		"%.1f GB/s (%.0f%% of %.1f), %s%s\n", index + 1, total, row->impl,
		(unsigned long long)row->rows, (unsigned long long)row->d, (int)row->threads,
		row->cache, row->median_s, row->gbps, row->fraction * 100, row->limit_gbps,
		row->verified == 1 ? "verified" : row->verified == 0 ? "VERIFY FAILED"
		: "not verified", row->unstable ? ", unstable" : "");
}

/* A worker process reuses the first worker's calls per sample, so every
 * process of a run times the same batches (bench/nb_workers.h). */
static enum nb_status nb_cell_calibrate_shared(struct nb_run_state *rs, struct nb_cell_run *c,
					       const struct nb_sweep *s)
{
	const struct nb_worker_role *role = &rs->cfg->role;
	char key[NB_RES_NAME + 160], label[NB_RES_NAME + 32];
	enum nb_status st;

	/* the suite too: a normproj cell and its A/A copy share a label */
	snprintf(label, sizeof(label), "%s/%s", c->plan->suite ? c->plan->suite : "kernel",
		 c->label);
	nb_calib_key(key, sizeof(key), label, c->plan->shape.rows, c->plan->shape.d,
		     c->plan->threads, nb_cache_state_name(c->plan->cache));
	if (nb_calib_lookup(role, key, &c->iterations))
		st = NB_OK;
	else
		st = nb_cell_calibrate(c, s);
	if (st == NB_OK)
		nb_calib_record(role, key, c->iterations);
	return st;
}

/* Warm-up and calibration of the live cells (order[0 .. live)), then
 * s->samples rounds, each in a fresh shuffled order: the protocol of every
 * group, kernel and block alike. NB_ERR_INTERRUPTED when stopped. */
static enum nb_status nb_measure_group(struct nb_run_state *rs, struct nb_cell_run *cells,
				       size_t *order, size_t live, struct nb_swevents *sw)
{
	const struct nb_sweep *s = &rs->cfg->sweep;
	enum nb_status st;

	for (size_t j = 0; j < live && !nb_run_stop; j++) {
		struct nb_cell_run *c = &cells[order[j]];
		if ((st = nb_cell_warmup(c, s->warmup_ms)) != NB_OK ||
		    (st = nb_cell_calibrate_shared(rs, c, s)) != NB_OK)
			return nb_fail(st, "%s failed: %s", c->label, nb_error());
		rs->progress.done += s->warmup_ms + 2 * s->min_sample_ms;
		nb_progress_draw(&rs->progress, false);
	}
	for (int r = 0; r < s->samples && !nb_run_stop; r++) {
		/* a fresh shuffled order every round: drift on a shared machine
		 * then spreads over all cells instead of biasing one */
		for (size_t j = live; j > 1; j--) {
			size_t q = (size_t)nb_rng_below(&rs->shuffle, j);
			size_t tmp = order[j - 1];
			order[j - 1] = order[q];
			order[q] = tmp;
		}
		for (size_t j = 0; j < live && !nb_run_stop; j++) {
			st = nb_take_sample(rs, &cells[order[j]], sw, (uint32_t)r);
			if (st != NB_OK)
				return st;
			rs->progress.done += s->min_sample_ms;
			nb_progress_draw(&rs->progress, false);
		}
	}
	return nb_run_stop ? NB_ERR_INTERRUPTED : NB_OK;
}

/* Appends a measured cell whose row is filled: its raw samples, counters
 * and the row itself (first_sample set here). */
static enum nb_status nb_emit_cell(struct nb_run_state *rs, struct nb_cell_run *c,
				   struct nb_cell_row *row, size_t total)
{
	size_t cell_index = rs->res->ncells;
	enum nb_status st = NB_OK;

	row->first_sample = rs->res->nsamples;
	for (size_t j = 0; j < c->nsamples && st == NB_OK; j++) {
		struct nb_sample_row sr = {
			.cell = cell_index, .round = c->rounds[j],
			.seconds = c->seconds[j], .iterations = c->iterations,
			.ctx_switches = c->sw[j][0], .migrations = c->sw[j][1],
			.page_faults = c->sw[j][2],
			.procs_running = c->load[j][0], .steal_ticks = c->load[j][1],
		};
		st = nb_results_add_sample(rs->res, &sr);
	}
	for (size_t e = 0; e < rs->cfg->nevents && rs->counters && st == NB_OK; e++) {
		struct nb_counter_row cr;
		memset(&cr, 0, sizeof(cr));
		cr.cell = cell_index;
		nb_res_strcpy(cr.event, sizeof(cr.event), nb_counters_name(rs->counters, e));
		cr.available = nb_counters_available(rs->counters, e) ? 1 : 0;
		cr.value = cr.available ? c->counter_sum[e] : 0;
		nb_res_strcpy(cr.reason, sizeof(cr.reason), nb_counters_reason(rs->counters, e));
		st = nb_results_add_counter(rs->res, &cr);
	}
	if (st == NB_OK)
		st = nb_results_add_cell(rs->res, row);
	if (st != NB_OK)
		return st;
	rs->progress.cells_done++;
	if (rs->cfg->verbose)
		nb_verbose_cell(row, rs->progress.cells_done - 1, total);
	return NB_OK;
}

static void nb_open_swevents(struct nb_run_state *rs, struct nb_swevents *sw, int threads)
{
	if (nb_swevents_open(sw, threads) == NB_OK) {
		rs->sw_available = sw->available;
		if (!sw->available)
			nb_res_strcpy(rs->sw_reason, sizeof(rs->sw_reason), sw->reason);
	}
}

/* Measures the cells [begin, end) of one group interleaved; appends their
 * rows. NB_ERR_INTERRUPTED: stopped, nothing of this group kept. */
static enum nb_status nb_run_group(struct nb_run_state *rs, const struct nb_planned_cell *plan,
				   size_t begin, size_t end, size_t total)
{
	const struct nb_sweep *s = &rs->cfg->sweep;
	size_t nc = end - begin;
	struct nb_cell_run *cells = calloc(nc, sizeof(*cells));
	size_t *order = calloc(nc, sizeof(*order));
	struct nb_swevents sw;
	enum nb_status st = NB_OK;
	size_t live = 0;
	uint64_t data_seed = s->seed + 0x100000001b3ull * (uint64_t)(plan[begin].group + 1);

	memset(&sw, 0, sizeof(sw));
	if (!cells || !order) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for a group of cells");
		goto free_arrays;
	}
	for (size_t i = 0; i < nc; i++) {
		st = nb_cell_setup(&cells[i], &plan[begin + i], s, rs->llc, rs->cfg->nevents,
				   data_seed);
		if (st != NB_OK) {
			/* a cell that cannot be set up is reported and skipped;
			 * the rest of its group is still measured */
			fprintf(stderr, "normbench run: skipping %s %zux%zu: %s\n",
				plan[begin + i].kernel->name, plan[begin + i].shape.rows,
				plan[begin + i].shape.d, nb_error());
			cells[i].failed = true;
			if (st == NB_ERR_NOMEM)
				goto free_cells;
			st = NB_OK;
			continue;
		}
		order[live++] = i;
	}
	nb_open_swevents(rs, &sw, plan[begin].threads);
	st = nb_measure_group(rs, cells, order, live, &sw);
	for (size_t i = 0; i < nc && st == NB_OK; i++) {
		struct nb_cell_row row;

		if (cells[i].failed)
			continue;
		nb_fill_row(rs, &cells[i], &row, s->seed ^ (uint64_t)rs->res->ncells);
		st = nb_emit_cell(rs, &cells[i], &row, total);
	}
	nb_swevents_close(&sw);
free_cells:
	for (size_t i = 0; i < nc; i++)
		nb_cell_free(&cells[i]);
free_arrays:
	free(cells);
	free(order);
	return st;
}

/*
 * The block cells [begin, end) of one group (bench/nb_block.h), measured by
 * the same protocol: each cell's timed call is one transformer layer. After
 * the rounds each cell is checked once against the Pre-LN model.
 */
static enum nb_status nb_run_block_group(struct nb_run_state *rs, struct nb_block_session *bs,
					 const struct nb_block_cell *plan, size_t begin,
					 size_t end, size_t total)
{
	const struct nb_sweep *s = &rs->cfg->sweep;
	size_t nc = end - begin;
	struct nb_cell_run *cells = calloc(nc, sizeof(*cells));
	struct nb_planned_cell *pcs = calloc(nc, sizeof(*pcs));
	struct nb_block_run **runs = calloc(nc, sizeof(*runs));
	size_t *order = calloc(nc, sizeof(*order));
	struct nb_swevents sw;
	enum nb_status st = NB_OK;

	memset(&sw, 0, sizeof(sw));
	if (!cells || !pcs || !runs || !order) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for a group of block cells");
		goto free_arrays;
	}
	for (size_t i = 0; i < nc && st == NB_OK; i++) {
		const struct nb_block_cell *bc = &plan[begin + i];
		struct nb_cell_run *c = &cells[i];

		st = nb_block_run_setup(bs, bc, &runs[i]);
		if (st != NB_OK) {
			st = nb_fail(st, "block %s d=%zu seq=%zu: %s", nb_block_arr_name(bc->arr),
				     bc->d, bc->seq, nb_error());
			break;
		}
		pcs[i] = (struct nb_planned_cell){ .shape = { bc->seq, bc->d },
						   .threads = bc->threads,
						   .cache = NB_CACHE_HOT, .group = bc->group,
						   .suite = "block" };
		c->plan = &pcs[i];
		c->fn = nb_block_run_call;
		c->ctx = runs[i];
		snprintf(c->label, sizeof(c->label), "block %s d=%zu seq=%zu ctx=%zu",
			 nb_block_arr_name(bc->arr), bc->d, bc->seq, bc->context);
		c->cost = nb_block_run_cost(runs[i]);
		c->working_set = c->cost.bytes;
		c->seconds = calloc((size_t)s->samples, sizeof(double));
		c->rounds = calloc((size_t)s->samples, sizeof(uint32_t));
		c->sw = calloc((size_t)s->samples, sizeof(*c->sw));
		c->load = calloc((size_t)s->samples, sizeof(*c->load));
		c->counter_sum = calloc(rs->cfg->nevents ? rs->cfg->nevents : 1,
					sizeof(long long));
		if (!c->seconds || !c->rounds || !c->sw || !c->load || !c->counter_sum)
			st = nb_fail(NB_ERR_NOMEM, "no memory for cell bookkeeping");
		order[i] = i;
	}
	if (st != NB_OK)
		goto free_cells;
	nb_open_swevents(rs, &sw, plan[begin].threads);
	st = nb_measure_group(rs, cells, order, nc, &sw);
	for (size_t i = 0; i < nc && st == NB_OK; i++) {
		struct nb_cell_row row;

		memset(&row, 0, sizeof(row));
		/* a check that cannot run leaves verified = -1 and says why */
		(void)nb_block_run_finish(bs, runs[i], &row);
		nb_fill_stats(rs, &cells[i], &row, s->seed ^ (uint64_t)rs->res->ncells);
		st = nb_emit_cell(rs, &cells[i], &row, total);
	}
	nb_swevents_close(&sw);
free_cells:
	for (size_t i = 0; i < nc; i++) {
		nb_block_run_free(runs[i]);
		nb_cell_free(&cells[i]);
	}
free_arrays:
	free(cells);
	free(pcs);
	free(runs);
	free(order);
	return st;
}

/* ---- the run ---- */

static void nb_cache_summary(const struct nb_cache_levels *c, char *buf, size_t size)
{
	size_t l1 = c->measured_l1d ? c->measured_l1d : c->os_l1d;
	size_t l2 = c->measured_l2 ? c->measured_l2 : c->os_l2;
	size_t l3 = c->measured_l3 ? c->measured_l3 : c->os_l3;

	snprintf(buf, size, "L1d %zu KiB, L2 %zu KiB, L3 %zu KiB (measured; OS says "
		 "%zu/%zu/%zu KiB)", l1 >> 10, l2 >> 10, l3 >> 10, c->os_l1d >> 10,
		 c->os_l2 >> 10, c->os_l3 >> 10);
}

static const char *nb_env_or_unset(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : "(unset)";
}

/* A STREAM row's notes: how it was measured, then what the entry says. */
static void nb_stream_notes(const struct nb_bandwidth *e, char *buf, size_t size)
{
	int used = snprintf(buf, size, "%d reps%s", e->reps, e->pinned ? ", pinned" : "");

	if (used > 0 && (size_t)used < size && e->shared_cpu_reps > 0)
		used += snprintf(buf + used, size - (size_t)used, "; threads shared a CPU in "
				 "%d of %d reps", e->shared_cpu_reps,
				 e->reps * (strcmp(e->copy_nt_isa, "none") ? 3 : 2));
	if (used > 0 && (size_t)used < size && e->busy_rounds > 0)
		used += snprintf(buf + used, size - (size_t)used, "; busy in %d of %d rounds",
				 e->busy_rounds, e->rounds);
	if (used > 0 && (size_t)used < size && e->note[0])
		snprintf(buf + used, size - (size_t)used, "; %s", e->note);
}

static void nb_fill_meta(struct nb_results_meta *m, const struct nb_run_config *cfg,
			 const struct nb_sysinfo *si, int argc, char **argv)
{
	const struct nb_sweep *s = &cfg->sweep;
	size_t used = 0;

	m->complete = 0;
	nb_res_strcpy(m->normbench_version, sizeof(m->normbench_version), NB_VERSION);
	nb_res_strcpy(m->git_rev, sizeof(m->git_rev), nb_git_rev);
	m->git_dirty = nb_git_dirty;
	nb_res_strcpy(m->utc_time, sizeof(m->utc_time), si->utc_time);
	nb_res_strcpy(m->host, sizeof(m->host), si->host);
	nb_res_strcpy(m->os, sizeof(m->os), si->kernel);
	nb_res_strcpy(m->cpu_model, sizeof(m->cpu_model), si->cpu_model);
	nb_res_strcpy(m->cpu_flags, sizeof(m->cpu_flags), si->cpu_flags);
	m->cores = si->cores;
	nb_cache_summary(&si->caches, m->caches, sizeof(m->caches));
	nb_res_strcpy(m->cache_method, sizeof(m->cache_method), si->caches.method);
	m->virtualized = si->virtualized;
	nb_res_strcpy(m->hypervisor, sizeof(m->hypervisor), si->hypervisor);
	nb_res_strcpy(m->emulated, sizeof(m->emulated), si->emulated);
	nb_res_strcpy(m->compiler, sizeof(m->compiler), si->compiler);
	nb_res_strcpy(m->cflags, sizeof(m->cflags), si->cflags);
	nb_res_strcpy(m->papi_version, sizeof(m->papi_version), si->papi_version);
	nb_res_strcpy(m->hdf5_version, sizeof(m->hdf5_version), si->hdf5_version);
	nb_res_strcpy(m->blas_version, sizeof(m->blas_version), si->blas_version);
	nb_res_strcpy(m->blas_threading, sizeof(m->blas_threading), si->blas_threading);
	nb_res_strcpy(m->vendor_library, sizeof(m->vendor_library), nb_external_summary());
	snprintf(m->openmp, sizeof(m->openmp), "OpenMP %d, %d procs, max %d threads",
		 _OPENMP, si->omp_procs, si->omp_max_threads);
	snprintf(m->thread_binding, sizeof(m->thread_binding),
		 "OMP_PROC_BIND=%.40s OMP_PLACES=%.60s OMP_WAIT_POLICY=%.40s "
		 "GOMP_SPINCOUNT=%.40s; runtime: %.120s",
		 si->omp_proc_bind_env[0] ? si->omp_proc_bind_env : "(unset)",
		 si->omp_places_env[0] ? si->omp_places_env : "(unset)",
		 nb_env_or_unset("OMP_WAIT_POLICY"), nb_env_or_unset("GOMP_SPINCOUNT"),
		 si->omp_binding);
	nb_res_strcpy(m->isa_detected, sizeof(m->isa_detected), si->isa_detected);
	nb_res_strcpy(m->isa_cap, sizeof(m->isa_cap), nb_isa_name(nb_isa_cap()));
	m->command_line[0] = '\0';
	for (int i = 0; i < argc && used + 1 < sizeof(m->command_line); i++) {
		int w = snprintf(m->command_line + used, sizeof(m->command_line) - used, "%s%s",
				 i ? " " : "normbench ", argv[i]);
		if (w < 0)
			break;
		used += (size_t)w;
	}
	nb_res_strcpy(m->preset, sizeof(m->preset), s->preset);
	m->seed = s->seed;
	m->eps = s->conv.eps;
	nb_res_strcpy(m->eps_mode, sizeof(m->eps_mode),
		      s->conv.eps_mode == NB_EPS_INSIDE ? "inside" : "outside");
	m->prms_p = s->conv.prms_p;
	nb_res_strcpy(m->prms_round, sizeof(m->prms_round),
		      s->conv.prms_round == NB_PRMS_CEIL ? "ceil" : "floor");
	nb_res_strcpy(m->machine_key, sizeof(m->machine_key), si->machine_key);
	nb_res_strcpy(m->timer, sizeof(m->timer), "CLOCK_MONOTONIC");
	m->min_samples = s->samples;
	m->warmup_ms = s->warmup_ms;
	m->min_sample_ms = s->min_sample_ms;
	m->max_sample_ms = s->max_sample_ms;
	snprintf(m->unstable_rule, sizeof(m->unstable_rule),
		 "iqr > %g * median, or bootstrap %g%% CI half-width > %g * median, or "
		 "fewer than %zu samples", NB_UNSTABLE_IQR_FRAC, NB_CI_LEVEL * 100,
		 NB_UNSTABLE_CI_FRAC, NB_UNSTABLE_MIN_N);
	snprintf(m->notes_rule, sizeof(m->notes_rule),
		 "%s; above limit: gbps > %g x limit_gbps (no kernel beats the machine's own "
		 "copy by that much: the limit is suspect)", NB_BUSY_RULE,
		 1.0 + NB_LIMIT_TOLERANCE);
	m->buffer_offset = s->buffer_offset;
}

static void nb_fill_stream(struct nb_results *res, const struct nb_bandwidth *bw, size_t n)
{
	struct nb_results_meta *m = &res->meta;

	m->stream_count = 0;
	for (size_t i = 0; i < n; i++) {
		struct nb_stream_row row;

		memset(&row, 0, sizeof(row));
		row.threads = bw[i].threads;
		nb_res_strcpy(row.level, sizeof(row.level), bw[i].level ? bw[i].level : "");
		row.bytes = bw[i].bytes;
		row.level_bytes = bw[i].level_bytes;
		row.read_gbps = bw[i].read_gbps;
		row.copy_gbps = bw[i].copy_gbps;
		row.copy_nt_gbps = bw[i].copy_nt_gbps;
		nb_res_strcpy(row.copy_nt_isa, sizeof(row.copy_nt_isa),
			      bw[i].copy_nt_isa ? bw[i].copy_nt_isa : "");
		nb_stream_notes(&bw[i], row.notes, sizeof(row.notes));
		if (nb_results_add_stream(res, &row) != NB_OK)
			continue;
		/* the root attributes carry the figures beyond the caches */
		if (bw[i].level_bytes == 0 && m->stream_count < NB_RES_MAX_STREAM) {
			int j = m->stream_count++;
			m->stream_threads[j] = bw[i].threads;
			m->stream_read_gbps[j] = bw[i].read_gbps;
			m->stream_copy_gbps[j] = bw[i].copy_gbps;
			m->stream_copy_nt_gbps[j] = bw[i].copy_nt_gbps;
		}
	}
}

static void nb_fill_caches(struct nb_results *res, const struct nb_cache_levels *c)
{
	static const char *const names[4] = { "L1d", "L2", "L3", "DRAM" };
	const size_t os[4] = { c->os_l1d, c->os_l2, c->os_l3, 0 };
	const size_t cpuid[4] = { c->cpuid_l1d, c->cpuid_l2, c->cpuid_l3, 0 };
	const size_t meas[4] = { c->measured_l1d, c->measured_l2, c->measured_l3, 0 };

	for (int i = 0; i < 4; i++) {
		struct nb_cache_row row;
		memset(&row, 0, sizeof(row));
		nb_res_strcpy(row.level, sizeof(row.level), names[i]);
		row.os_bytes = os[i];
		row.cpuid_bytes = cpuid[i];
		row.measured_bytes = meas[i];
		row.latency_ns = c->latency_ns[i];
		(void)nb_results_add_cache(res, &row);
	}
}

/* Total bytes the biggest group holds at once, to refuse what cannot fit. */
/* STREAM points at the hot cells' own working sets (nb_stream_add_cell_points):
 * their limit then does not depend on the measured cache sizes. */
static enum nb_status nb_run_cell_points(const struct nb_run_config *cfg,
					 const struct nb_planned_cell *plan, size_t n,
					 struct nb_run_state *rs)
{
	double *ws = calloc(n ? n : 1, sizeof(double));
	size_t count = 0;
	enum nb_status st;

	if (!ws)
		return nb_fail(NB_ERR_NOMEM, "no memory for the STREAM cell sizes");
	for (size_t i = 0; i < n; i++) {
		const struct nb_kernel *k = plan[i].kernel;

		if (plan[i].cache != NB_CACHE_HOT)
			continue;
		ws[count++] = nb_sweep_cost(k, plan[i].shape.rows, plan[i].shape.d, plan[i].m,
					    &cfg->sweep.conv).bytes;
	}
	st = nb_stream_add_cell_points(&rs->bw, &rs->nbw, ws, count,
				       cfg->sweep.stream_ms / 1000.0);
	free(ws);
	return st;
}

static double nb_group_bytes_max(const struct nb_planned_cell *plan, size_t n, size_t llc)
{
	double best = 0, cur = 0;
	int group = -1;

	for (size_t i = 0; i < n; i++) {
		const struct nb_kernel *k = plan[i].kernel;
		size_t d = plan[i].shape.d;
		size_t nn = nb_variant_stored(k->variant, d);
		size_t set = nb_set_bytes(k, plan[i].shape.rows, nn, plan[i].m);
		double b = (double)set * (double)nb_pool_sets(&plan[i], set, llc) +
			   2.0 * (double)(nn * plan[i].m) * (double)nb_dtype_traits[k->dtype].size;

		if (plan[i].group != group) {
			group = plan[i].group;
			cur = 0;
		}
		cur += b;
		if (cur > best)
			best = cur;
	}
	return best;
}

/* The normproj cells join the kernel plan (they are registry kernels) and
 * the block cells get a plan of their own; group numbers continue. */
static enum nb_status nb_run_plan_block(const struct nb_run_config *cfg,
					struct nb_planned_cell **plan, size_t *nplan,
					struct nb_block_cell **bplan, size_t *nbplan)
{
	const struct nb_sweep *s = &cfg->sweep;
	struct nb_planned_cell *np = NULL, *grown;
	size_t nnp = 0;
	int next = *nplan ? (*plan)[*nplan - 1].group + 1 : 0;
	enum nb_status st;

	st = nb_block_plan_normproj(&cfg->block, s->threads, s->nthreads, next, &np, &nnp);
	if (st != NB_OK || nnp == 0)
		goto plan_layers;
	grown = realloc(*plan, (*nplan + nnp) * sizeof(**plan));
	if (!grown) {
		free(np);
		return nb_fail(NB_ERR_NOMEM, "no memory for the plan");
	}
	memcpy(grown + *nplan, np, nnp * sizeof(*np));
	*plan = grown;
	*nplan += nnp;
	next = grown[*nplan - 1].group + 1;
plan_layers:
	free(np);
	if (st != NB_OK)
		return st;
	return nb_block_plan(&cfg->block, s->threads, s->nthreads, next, bplan, nbplan);
}

/* --buffer-offset must keep every output element aligned to its size, and
 * only kernel (and normproj) cells have buffers it can move. */
static enum nb_status nb_check_buffer_offset(long offset, const struct nb_planned_cell *plan,
					     size_t nplan)
{
	if (nplan == 0)
		return nb_fail(NB_ERR_INVALID, "--buffer-offset moves the buffers of kernel "
			       "and normproj cells; the block suite has none (add 'kernel' to "
			       "--suite)");
	for (size_t i = 0; i < nplan; i++) {
		enum nb_dtype t = plan[i].kernel->dtype;
		size_t es = nb_dtype_traits[t].size;
		if ((size_t)offset % es != 0)
			return nb_fail(NB_ERR_INVALID, "--buffer-offset: %ld is not a multiple "
				       "of %zu bytes, the size of one %s element", offset, es,
				       nb_dtype_traits[t].name);
	}
	return NB_OK;
}

/*
 * After the last cell (and the second STREAM window): every cell's limit,
 * fraction and notes from the final bandwidth table and the cell's own raw
 * samples, so a limit measured in a bad window is corrected everywhere
 * and no cell shows 180% of a limit silently.
 */
static enum nb_status nb_run_finalize(struct nb_run_state *rs)
{
	struct nb_results *res = rs->res;
	int32_t *pr = NULL, *steal = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < res->ncells; i++) {
		struct nb_cell_row *c = &res->cells[i];
		size_t n, busy = 0;
		const struct nb_sample_row *sr = nb_results_cell_samples(res, i, &n);
		enum nb_busy verdict;

		if (n > cap) {
			int32_t *p1 = realloc(pr, n * sizeof(*pr));
			int32_t *p2 = p1 ? realloc(steal, n * sizeof(*steal)) : NULL;
			pr = p1 ? p1 : pr;
			steal = p2 ? p2 : steal;
			if (!p1 || !p2) {
				free(pr);
				free(steal);
				return nb_fail(NB_ERR_NOMEM, "no memory for the cell notes");
			}
			cap = n;
		}
		for (size_t j = 0; j < n; j++) {
			pr[j] = sr[j].procs_running;
			steal[j] = sr[j].steal_ticks;
		}
		verdict = nb_busy_verdict(pr, steal, n, c->threads, &busy, NULL);
		c->limit_gbps = nb_limit_gbps(rs->bw, rs->nbw, c->threads,
					      (size_t)c->working_set_bytes);
		c->fraction = c->limit_gbps > 0 ? c->gbps / c->limit_gbps : (double)NAN;
		nb_cell_notes(c->notes, sizeof(c->notes), c->gbps, c->limit_gbps, verdict, busy,
			      n, rs->busy.why);
		nb_note_oversubscribed(c->notes, sizeof(c->notes), c->oversubscribed == 1);
	}
	free(pr);
	free(steal);
	return NB_OK;
}

/* The parent of worker processes: they measure, it merges their cells
 * into rs->res (its plan is then done). */
static enum nb_status nb_run_workers(struct nb_run_config *cfg, struct nb_run_state *rs,
				     int argc, char **argv)
{
	struct nb_workers_plan wp = {
		.processes = cfg->processes, .baseline = cfg->baseline, .llc = rs->llc,
		.seed = cfg->sweep.seed, .verbose = cfg->verbose, .argc = argc, .argv = argv,
	};
	enum nb_status st;
	int least = cfg->processes;

	/* --samples is the total per cell and side, spread over the processes */
	wp.samples = (cfg->sweep.samples + cfg->processes - 1) / cfg->processes;
	if (wp.samples < NB_WORKER_MIN_SAMPLES)
		wp.samples = NB_WORKER_MIN_SAMPLES;
	rs->res->meta.processes = cfg->processes;
	nb_res_strcpy(rs->res->meta.baseline, sizeof(rs->res->meta.baseline),
		      cfg->baseline ? cfg->baseline : "");
	if (cfg->progress)
		fprintf(stderr, "\r\033[Knormbench: measuring in %d worker processes%s...\r",
			cfg->processes * (cfg->baseline ? 2 : 1),
			cfg->baseline ? " (A/B)" : "");
	st = nb_workers_measure(&wp, rs->res, &nb_run_stop);
	/* samples per cell as measured (fewer processes when interrupted) */
	for (size_t i = 0; i < rs->res->ncells; i++)
		if (rs->res->cells[i].processes < least)
			least = rs->res->cells[i].processes;
	rs->res->meta.min_samples = wp.samples * least;
	return st;
}

static int nb_run_execute(struct nb_run_config *cfg, int argc, char **argv)
{
	struct nb_planned_cell *plan = NULL;
	size_t nplan = 0, nbplan = 0;
	struct nb_block_cell *bplan = NULL;
	struct nb_results res;
	struct nb_sysinfo *si = NULL;
	struct nb_cache_levels caches;
	struct nb_run_state rs;
	struct sigaction sa, old_int, old_term;
	uint64_t t_start = nb_now_ns();
	enum nb_status st;
	int rc = NB_EXIT_ERROR;
	struct nb_block_selfcheck selfcheck;
	double phys;

	memset(&rs, 0, sizeof(rs));
	rs.busy.fd = -1;
	nb_results_init(&res);
	if (cfg->suite_kernel)
		st = nb_sweep_plan(&cfg->sweep, &cfg->ex, &plan, &nplan);
	else
		st = NB_OK;
	if (st == NB_OK)
		st = nb_run_plan_block(cfg, &plan, &nplan, &bplan, &nbplan);
	if (st == NB_OK && nplan + nbplan == 0)
		st = nb_fail(NB_ERR_INVALID, "nothing to run");
	if (st == NB_OK && cfg->sweep.buffer_offset >= 0)
		st = nb_check_buffer_offset(cfg->sweep.buffer_offset, plan, nplan);
	if (st != NB_OK) {
		fprintf(stderr, "normbench run: %s\n", nb_error());
		free(plan);
		free(bplan);
		return NB_EXIT_ERROR;
	}
	/* the SDE counters ride in every event set: the cell rows carry what
	 * PAPI counted of normbench's own calls, rows and bytes */
	st = nb_add_sde_events(cfg);
	if (st == NB_OK)
		st = nb_counters_open((const char *const *)cfg->events, cfg->nevents,
				      &rs.counters);
	if (st != NB_OK) {
		fprintf(stderr, "normbench run: --events: %s\n", nb_error());
		goto free_plan;
	}
	for (int i = 0; i < 3; i++) {
		static const char *const sde[] = { NB_SDE_KERNEL_CALLS, NB_SDE_ROWS,
						   NB_SDE_BYTES };
		rs.sde_index[i] = -1;
		for (size_t e = 0; e < cfg->nevents; e++)
			if (strcmp(cfg->events[e], sde[i]) == 0 &&
			    nb_counters_available(rs.counters, e))
				rs.sde_index[i] = (int)e;
	}
	st = nb_results_make_parent_dirs(cfg->output);
	if (st != NB_OK) {
		fprintf(stderr, "normbench run: %s\n", nb_error());
		goto close_counters;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = nb_on_signal;
	sigemptyset(&sa.sa_mask);
	/* a second Ctrl-C kills at once (the default action comes back) */
	sa.sa_flags = SA_RESETHAND;
	nb_run_stop = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);

	cfg->progress = isatty(STDERR_FILENO) && !cfg->verbose && !cfg->role.on;
	if (cfg->verbose)
		fprintf(stderr, "normbench: %zu cells in %d groups; measuring the timer, "
			"caches and STREAM bandwidth first\n", nplan + nbplan,
			nbplan ? bplan[nbplan - 1].group + 1 : plan[nplan - 1].group + 1);
	else if (cfg->progress)
		fprintf(stderr, "normbench: measuring the timer, caches and bandwidth...\r");

	/* test hook: NB_RUN_PROC_STAT names another file in /proc/stat's place
	 * (tests/test_harness.c: an unreadable one must give "busy unknown") */
	nb_busy_open(&rs.busy, getenv("NB_RUN_PROC_STAT"));
	res.meta.timer_resolution_ns = nb_timer_resolution_ns();
	/* a worker takes the parent's cache sizes (its cold pools are sized
	 * from them) and leaves the machine's description to the parent */
	if (cfg->role.on || nb_measure_caches(&caches) != NB_OK)
		memset(&caches, 0, sizeof(caches));
	si = calloc(1, sizeof(*si));
	if (!si || nb_sysinfo_collect(si, &caches) != NB_OK) {
		fprintf(stderr, "normbench run: cannot collect the machine description\n");
		goto restore;
	}
	nb_fill_meta(&res.meta, cfg, si, argc, argv);
	nb_fill_caches(&res, &caches);
	rs.llc = cfg->role.on ? cfg->role.llc : nb_cache_last_level_bytes(&caches);
	phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
	if (phys > 0 && nb_group_bytes_max(plan, nplan, rs.llc) > 0.5 * phys) {
		fprintf(stderr, "normbench run: the sweep needs %.1f GiB at once (one group of "
			"cells), more than half of this machine's %.1f GiB; use smaller "
			"--shapes\n", nb_group_bytes_max(plan, nplan, rs.llc) / 1073741824.0,
			phys / 1073741824.0);
		goto restore;
	}
	if (phys > 0 && nbplan && nb_block_bytes(&cfg->block) > 0.5 * phys) {
		fprintf(stderr, "normbench run: the block suite needs %.1f GiB at once, more "
			"than half of this machine's %.1f GiB; use smaller --block-d or "
			"--block-seq\n", nb_block_bytes(&cfg->block) / 1073741824.0,
			phys / 1073741824.0);
		goto restore;
	}
	if (!nb_run_stop && !cfg->role.on) {
		st = nb_stream_table(&caches, cfg->sweep.threads, cfg->sweep.nthreads,
				     cfg->sweep.stream_ms / 1000.0, &rs.bw, &rs.nbw);
		if (st == NB_OK)
			st = nb_run_cell_points(cfg, plan, nplan, &rs);
		if (st != NB_OK) {
			fprintf(stderr, "normbench run: STREAM measurement failed: %s\n",
				nb_error());
			goto restore;
		}
	}

	rs.cfg = cfg;
	rs.res = &res;
	rs.sw_available = true;
	nb_rng_seed(&rs.shuffle, cfg->sweep.seed ^ 0x5ca1ab1e5eedull);
	rs.progress.on = cfg->progress;
	rs.progress.start_ns = nb_now_ns();
	rs.progress.cells_total = nplan + nbplan;
	rs.progress.total = nb_planned_ms(&cfg->sweep) * (double)(nplan + nbplan);
	if (cfg->processes > 1 && !cfg->role.on) {
		/* the cells are measured by worker processes (bench/nb_workers.h) */
		st = nb_run_workers(cfg, &rs, argc, argv);
		if (st != NB_OK) {
			nb_progress_clear(&rs.progress);
			fprintf(stderr, "normbench run: %s\n", nb_error());
			goto restore;
		}
		nplan = nbplan = 0;
	}
	for (size_t b = 0; b < nplan && !nb_run_stop;) {
		size_t e = b;
		while (e < nplan && plan[e].group == plan[b].group)
			e++;
		st = nb_run_group(&rs, plan, b, e, nplan + nbplan);
		if (st == NB_ERR_INTERRUPTED)
			break;
		if (st != NB_OK) {
			nb_progress_clear(&rs.progress);
			fprintf(stderr, "normbench run: %s\n", nb_error());
			goto restore;
		}
		b = e;
	}
	if (nbplan && !nb_run_stop) {
		struct nb_block_session *bs = NULL;

		st = nb_block_session_create(&cfg->block, &bs);
		for (size_t b = 0; st == NB_OK && b < nbplan && !nb_run_stop;) {
			size_t e = b;
			while (e < nbplan && bplan[e].group == bplan[b].group)
				e++;
			st = nb_run_block_group(&rs, bs, bplan, b, e, nplan + nbplan);
			b = e;
		}
		nb_block_session_free(bs);
		if (st != NB_OK && st != NB_ERR_INTERRUPTED) {
			nb_progress_clear(&rs.progress);
			fprintf(stderr, "normbench run: %s\n", nb_error());
			goto restore;
		}
	}
	/* the second window of the DRAM bandwidth, minutes after the first:
	 * each DRAM figure is the best of the two */
	if (!nb_run_stop && rs.bw && !cfg->role.on) {
		if (cfg->verbose)
			fprintf(stderr, "normbench: measuring the DRAM bandwidth again (second "
				"window)\n");
		else if (cfg->progress)
			fprintf(stderr, "\r\033[Knormbench: measuring the DRAM bandwidth again...\r");
		if (nb_stream_second_window(rs.bw, rs.nbw, cfg->sweep.stream_ms / 1000.0, NULL,
					    NULL) != NB_OK)
			fprintf(stderr, "normbench run: the second STREAM window failed (%s); the "
				"first window's figures are kept\n", nb_error());
	}
	nb_fill_stream(&res, rs.bw, rs.nbw);
	if (nb_run_finalize(&rs) != NB_OK) {
		nb_progress_clear(&rs.progress);
		fprintf(stderr, "normbench run: %s\n", nb_error());
		goto restore;
	}
	nb_progress_clear(&rs.progress);
	/* the self-checks judge the whole run: the parent's, over every worker
	 * process (one worker's samples are correlated; docs/gate.md) */
	memset(&selfcheck, 0, sizeof(selfcheck));
	if (!cfg->role.on)
		nb_block_self_check(&res, cfg->sweep.seed, &selfcheck);
	if (selfcheck.judged || selfcheck.skipped || selfcheck.failed)
		nb_res_strcpy(res.meta.self_check, sizeof(res.meta.self_check), selfcheck.text);
	nb_res_strcpy(res.meta.perf_events, sizeof(res.meta.perf_events),
		      rs.sw_available ? "available" : rs.sw_reason);
	res.meta.complete = nb_run_stop ? 0 : 1;
	res.meta.duration_s = (double)(nb_now_ns() - t_start) / 1e9;
	{
		const char *path = res.meta.complete ? cfg->output : cfg->incomplete;
		st = nb_results_write(path, &res, cfg->force);
		if (st != NB_OK) {
			fprintf(stderr, "normbench run: %s\n", nb_error());
			goto restore;
		}
		if (res.meta.complete) {
			size_t failed = 0;
			for (size_t i = 0; i < res.ncells; i++)
				failed += res.cells[i].verified == 0;
			printf("wrote %s: %zu cells, %zu samples\n", path, res.ncells,
			       res.nsamples);
			nb_block_print_summary(&res, stdout);
			if (res.meta.self_check[0])
				printf("block self-checks: %s\n", res.meta.self_check);
			rc = NB_EXIT_OK;
			/* the file is kept, but a timed kernel that computes the
			 * wrong thing fails the run like a verification does */
			if (failed) {
				fprintf(stderr, "normbench run: %zu cells FAILED the accuracy "
					"check (see 'normbench show %s')\n", failed, path);
				rc = NB_EXIT_VERIFY_FAILED;
			} else if (selfcheck.failed) {
				fprintf(stderr, "normbench run: %zu block-suite self-checks FAILED "
					"(recorded in %s, attribute self_check): %s\n",
					selfcheck.failed, path, selfcheck.text);
				rc = NB_EXIT_SELFCHECK_FAILED;
			}
		} else {
			fprintf(stderr, "normbench run: interrupted; %zu finished cells kept in "
				"%s (marked incomplete), nothing written to %s\n", res.ncells,
				path, cfg->output);
			rc = NB_EXIT_INTERRUPTED;
		}
	}
restore:
	nb_busy_close(&rs.busy);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	free(si);
	free(rs.bw);
close_counters:
	nb_counters_close(rs.counters);
free_plan:
	free(plan);
	free(bplan);
	nb_results_free(&res);
	return rc;
}

int nb_cmd_run(int argc, char **argv)
{
	struct nb_run_args a;
	struct nb_run_config *cfg;
	int opt, rc;

	memset(&a, 0, sizeof(a));
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:vh", nb_run_options, NULL)) != -1) {
		switch (opt) {
		case OPT_VARIANTS: a.variants = optarg; break;
		case OPT_IMPL: a.impl = optarg; break;
		case OPT_ISA: a.isa = optarg; break;
		case OPT_ALL_ISA: a.all_isa = true; break;
		case OPT_DTYPES: a.dtypes = optarg; break;
		case OPT_SHAPES: a.shapes = optarg; break;
		case OPT_THREADS: a.threads = optarg; break;
		case OPT_CACHE: a.cache = optarg; break;
		case OPT_DIR: a.dir = optarg; break;
		case OPT_SAMPLES: a.samples = optarg; break;
		case OPT_MIN_SAMPLE: a.min_sample = optarg; break;
		case OPT_MAX_SAMPLE: a.max_sample = optarg; break;
		case OPT_WARMUP: a.warmup = optarg; break;
		case OPT_STREAM_MS: a.stream_ms = optarg; break;
		case OPT_BUFFER_OFFSET: a.buffer_offset = optarg; break;
		case OPT_EVENTS: a.events = optarg; break;
		case OPT_SEED: a.seed = optarg; break;
		case OPT_EPS: a.eps = optarg; break;
		case OPT_EPS_OUTSIDE: a.eps_outside = true; break;
		case OPT_PRMS_P: a.prms_p = optarg; break;
		case OPT_PRMS_ROUND: a.prms_round = optarg; break;
		case OPT_PRESET:
			if (a.preset && strcmp(a.preset, optarg) != 0) {
				fprintf(stderr, "normbench run: --preset %s conflicts with the "
					"preset '%s' given before\n", optarg, a.preset);
				return NB_EXIT_ERROR;
			}
			a.preset = optarg;
			break;
		case OPT_QUICK:
			if (a.preset && strcmp(a.preset, "quick") != 0) {
				fprintf(stderr, "normbench run: --quick conflicts with --preset %s\n",
					a.preset);
				return NB_EXIT_ERROR;
			}
			a.preset = "quick";
			break;
		case 'o': a.output = optarg; break;
		case OPT_FORCE: a.force = true; break;
		case OPT_SUITE: a.suite = optarg; break;
		case OPT_BLOCK_D: a.block_d = optarg; break;
		case OPT_BLOCK_SEQ: a.block_seq = optarg; break;
		case OPT_BLOCK_CONTEXT: a.block_context = optarg; break;
		case OPT_BLOCK_FFN: a.block_ffn = optarg; break;
		case OPT_NORMPROJ_TOKENS: a.normproj_tokens = optarg; break;
		case OPT_PROCESSES: a.processes = optarg; break;
		case OPT_BASELINE: a.baseline = optarg; break;
		case OPT_NB_WORKER: a.worker = optarg; break;
		case OPT_NB_WORKER_SAMPLES: a.worker_samples = optarg; break;
		case OPT_NB_LLC: a.llc = optarg; break;
		case OPT_NB_CALIB_IN: a.calib_in = optarg; break;
		case OPT_NB_CALIB_OUT: a.calib_out = optarg; break;
		case 'v': a.verbose = true; break;
		case 'h':
			nb_run_usage(stdout);
			return NB_EXIT_OK;
		case ':':
			fprintf(stderr, "normbench run: option '%s' needs a value (see normbench "
				"run --help)\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		default:
			fprintf(stderr, "normbench run: unknown option '%s' (see normbench run "
				"--help)\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "normbench run: unexpected argument '%s' (see normbench run "
			"--help)\n", argv[optind]);
		return NB_EXIT_ERROR;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg) {
		fprintf(stderr, "normbench run: out of memory\n");
		return NB_EXIT_ERROR;
	}
	if (nb_run_configure(&a, cfg) != NB_OK) {
		fprintf(stderr, "normbench run: %s\n", nb_error());
		rc = NB_EXIT_ERROR;
	} else {
		rc = nb_run_execute(cfg, argc, argv);
	}
	nb_counters_free_names(cfg->events, cfg->nevents);
	free(cfg);
	return rc;
}
