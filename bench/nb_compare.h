/* The regression gate behind `normbench compare` (SPEC §7): pools the raw
 * samples of each cell over the results files of each side, matches cells by
 * key, decides each pair with a one-sided rank test and a bootstrap interval
 * of the ratio of medians, collects NEW's verification failures, and renders
 * the outcome as a text table, Markdown and JSON. */
#ifndef NB_COMPARE_H
#define NB_COMPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/nb_results.h"
#include "common/nb_status.h"
#include "verify/nb_verify_file.h"

/* Longest cell key shown or matched (bytes, NUL included). */
#define NB_COMPARE_KEY 320

/*
 * The decision of one cell (docs/gate.md): the unit is the process. Each
 * worker process of each file (an old file: one process) gives one number,
 * the lower quartile of its samples (NB_COMPARE_PROCESS_QUANTILE); m_a
 * (base) and m_b (new) those numbers.
 *   ratio    = the Hodges-Lehmann estimate exp(median of log m_b - log m_a
 *              over all pairs), [ci_lo, ci_hi] the rank interval that inverts
 *              the Mann-Whitney test at level 1 - 2 alpha (nb_process_ratio;
 *              ci_lo alone is a one-sided >= 1 - alpha lower bound)
 *   p_slower, p_faster = one-sided Mann-Whitney p-values on the levels
 *   REGRESSED    ci_lo > 1 + min_effect (implies p_slower < alpha)
 *   IMPROVED     ci_hi < 1 / (1 + min_effect) (the mirror image)
 *   SLOWER / FASTER / SAME  ci_hi <= 1 + min_effect (a regression of the
 *                minimum effect is excluded), by p_slower / p_faster <= alpha
 *   INCONCLUSIVE too few processes on a side for the interval (5 at
 *                alpha 0.01), or ci_hi > 1 + min_effect >= ci_lo (a regression
 *                of the minimum effect is neither shown nor excluded); the
 *                reason and a suggested process count are reported
 *   NODATA       a side without samples (or a median that is not > 0)
 */
enum nb_verdict {
	NB_VERDICT_REGRESSED,
	NB_VERDICT_SLOWER,
	NB_VERDICT_SAME,
	NB_VERDICT_FASTER,
	NB_VERDICT_IMPROVED,
	NB_VERDICT_NODATA,
	NB_VERDICT_INCONCLUSIVE,
	NB_VERDICT_COUNT
};

/* "REGRESSED", "slower", "same", "faster", "improved", "no data",
 * "INCONCLUSIVE". */
const char *nb_verdict_name(enum nb_verdict v);

/* How several runs (files) of a side are combined for one cell. */
enum nb_runs_mode {
	NB_RUNS_POOLED,       /* all runs, run-level bootstrap (nb_compare_runs) */
	NB_RUNS_BEST,         /* only the run with the lowest median */
};

struct nb_compare_opts {
	double alpha;         /* rank-test level, in (0, 0.5); default 0.01 */
	double min_effect;    /* smallest slowdown that fails, >= 0; default 0.05 */
	uint64_t seed;        /* bootstrap seed; each cell mixes in its key */
	size_t resamples;     /* bootstrap resamples, >= 100; default 2000 */
	bool force;           /* compare files whose machine keys differ */
	bool exact;           /* never pair cells whose kernel name changed */
	bool all_samples;     /* keep samples disturbed by a context switch */
	double inject;        /* calibration: NEW's samples times (1 + inject) */
	enum nb_runs_mode runs; /* several runs a side: default NB_RUNS_POOLED */
	bool inconclusive_ok;  /* exit 0, not 4, when cells are inconclusive */
};

/* A cell's samples that saw a context switch or a CPU migration are left
 * out when every run of both sides keeps at least this many clean ones
 * (else all samples of the cell are used, on both sides alike). */
#define NB_COMPARE_MIN_CLEAN ((size_t)5)

#define NB_COMPARE_ALPHA 0.01
#define NB_COMPARE_MIN_EFFECT 0.05
#define NB_COMPARE_SEED 1
#define NB_COMPARE_RESAMPLES ((size_t)2000)
/* Processes a side needs for a decision at all, suggested when a side has
 * fewer than 2; suggestions stop at NB_COMPARE_MAX_SUGGEST. */
#define NB_COMPARE_MIN_PROCESSES 6
#define NB_COMPARE_MAX_SUGGEST 64
/* The number a process contributes: this quantile of its samples. The
 * lower quartile, not the median: on a shared machine contention only adds
 * time, and on the development VM under load most samples of a process
 * could be slowed, which moved process medians by up to 3x while the lower
 * quartiles of the same processes stayed within a few % (docs/gate.md). */
#define NB_COMPARE_PROCESS_QUANTILE 0.25

/* Fills o with the defaults above. */
void nb_compare_opts_default(struct nb_compare_opts *o);
/* NB_ERR_INVALID with a message when a setting is out of range. */
enum nb_status nb_compare_opts_check(const struct nb_compare_opts *o);

struct nb_compare_stat {
	size_t n_base, n_new;             /* samples judged */
	size_t runs_base, runs_new;       /* processes they come from (the unit) */
	double base_median, new_median;   /* seconds per call */
	double ratio, ci_lo, ci_hi;       /* new / base; NaN for NODATA */
	double p_slower, p_faster;        /* one-sided p-values; NaN for NODATA */
	enum nb_verdict verdict;
	double sd_log;                    /* between-process SD of log medians */
	int suggest_processes;            /* INCONCLUSIVE: processes per side that
					   * would likely decide (> NB_WORKERS_MAX
					   * reads as NB_WORKERS_MAX + 1) */
	char reason[NB_RES_TEXT];         /* why INCONCLUSIVE, "" otherwise */
};

/*
 * Decides one cell from its raw samples (seconds, any order, not modified)
 * of one process per side: always INCONCLUSIVE (or NODATA), since one
 * process says nothing of how much processes differ. An empty side gives
 * NODATA and NB_OK; NaN samples or invalid options give NB_ERR_INVALID.
 */
enum nb_status nb_compare_samples(const double *base, size_t nbase, const double *cand,
				  size_t ncand, const struct nb_compare_opts *o, uint64_t seed,
				  struct nb_compare_stat *out);

/* One side of a cell: the samples of each of its processes (each one
 * random draw of memory placement, frequency state and machine load). */
struct nb_compare_side {
	const double *const *runs;
	const size_t *n;
	size_t nruns;
};

/*
 * The decision above over several processes per side (the worker processes
 * of one file, or of several files pooled). base_median and new_median are
 * the medians of all samples (shown); the decision uses one median per
 * process. seed is unused (kept for the callers).
 */
enum nb_status nb_compare_runs(const struct nb_compare_side *base,
			       const struct nb_compare_side *cand,
			       const struct nb_compare_opts *o, uint64_t seed,
			       struct nb_compare_stat *out);

/* One matched cell. key is the base cell's key (nb_results_cell_key); when
 * the pair was matched by slot because the best kernel changed, the impl
 * part reads "old->new". */
struct nb_compare_row {
	char key[NB_COMPARE_KEY];
	char variant[NB_RES_SHORT];
	char base_impl[NB_RES_NAME];
	char new_impl[NB_RES_NAME];
	bool impl_changed;
	bool unstable;            /* flagged unstable in some file of either side */
	bool busy;                /* noted busy (another runnable task) in some file */
	bool oversubscribed;      /* more own runnable threads than threads in some file */
	bool filtered;            /* disturbed samples left out */
	size_t base_total, new_total; /* samples before leaving any out */
	size_t base_runs, new_runs;   /* runs (files) holding the cell */
	int base_pick, new_pick;      /* NB_RUNS_BEST: the run judged (0-based
				       * among those runs), else -1 */
	double base_err_ratio;    /* worst accuracy error/bound of each side */
	double new_err_ratio;     /* (NaN: not checked) */
	struct nb_compare_stat s;
};

/* A verification failure recorded in NEW (a cell's check or a /verify row). */
struct nb_compare_failure {
	char what[NB_COMPARE_KEY];
	char detail[NB_RES_TEXT];
};

/* Geometric mean of the ratios of one variant's decided cells ("all": every
 * decided cell). */
struct nb_compare_geo {
	char variant[NB_RES_SHORT];
	double ratio;
	size_t cells;
};

/* One input file, as the report names it. */
struct nb_compare_file {
	char path[4096];
	char git_rev[NB_RES_NAME];
	int git_dirty;
	char utc_time[NB_RES_SHORT];
	char machine_key[NB_RES_NAME];
	char preset[NB_RES_SHORT];
	char isa_cap[NB_RES_SHORT];
	int complete;
	size_t ncells;
};

/* One side's input for nb_compare_results: a results struct, the name it is
 * reported under, and (NEW only, may be NULL) the file's /verify tables. */
struct nb_compare_input {
	const char *name;
	const struct nb_results *results;
	const struct nb_verify_tables *verify;
};

struct nb_compare_report {
	struct nb_compare_opts opts;
	double ci_level;                  /* 1 - 2 alpha */
	struct nb_compare_file *base_files, *new_files;
	size_t nbase_files, nnew_files;
	struct nb_compare_row *rows;      /* worst first */
	size_t nrows;
	char (*only_base)[NB_COMPARE_KEY];
	size_t nonly_base;
	char (*only_new)[NB_COMPARE_KEY];
	size_t nonly_new;
	struct nb_compare_failure *failures;
	size_t nfailures;
	struct nb_compare_geo *geo;       /* per variant, then "all" */
	size_t ngeo;
	char (*warnings)[2 * NB_RES_TEXT];
	size_t nwarnings;
	size_t counts[NB_VERDICT_COUNT];
	int exit_code;                    /* NB_EXIT_* of bench/nb_commands.h */
};

void nb_compare_report_init(struct nb_compare_report *rep);
void nb_compare_report_free(struct nb_compare_report *rep);

/*
 * The gate on results already in memory: nbase >= 1 base inputs and nnew >= 1
 * new ones; the samples of equal keys are pooled within a side (rounds of
 * an interleaved CI job). Cells match by key, ISA, accumulation, algorithm
 * and FlashNorm width; then, unless o->exact, a cell left alone on each
 * side in the same slot (everything but the kernel name and ISA) pairs
 * with its counterpart: the best kernel changed. Fills rep (freed by the
 * caller also after a failure) and rep->exit_code: 2 when NEW records a
 * verification failure (2 wins over 3: timings of wrong results mean
 * nothing), else 3 on a regression, else 0.
 * NB_ERR_INVALID: machine keys differ (without o->force), no cell in
 * common, bad options.
 */
enum nb_status nb_compare_results(const struct nb_compare_input *base, size_t nbase,
				  const struct nb_compare_input *cand, size_t ncand,
				  const struct nb_compare_opts *o, struct nb_compare_report *rep);

/* Reads the files (and NEW's /verify groups) and runs nb_compare_results.
 * NB_ERR_IO for a missing, damaged or foreign file, with its message. */
enum nb_status nb_compare_files(const char *const *base_paths, size_t nbase,
				const char *const *new_paths, size_t nnew,
				const struct nb_compare_opts *o, struct nb_compare_report *rep);

/* An A/B run (run --baseline): its cells carry side "base" or "new". */
bool nb_results_is_ab(const struct nb_results *r);
/* Judges the two sides of one A/B results file like two files (a file of
 * two-file mode that is an A/B run is refused by nb_compare_files). */
enum nb_status nb_compare_ab_file(const char *path, const struct nb_compare_opts *o,
				  struct nb_compare_report *rep);

/* The report as a text table (table == false: only the summary lines),
 * as Markdown for a pull-request comment, and as JSON. */
void nb_compare_print_text(const struct nb_compare_report *rep, bool table, FILE *out);
void nb_compare_write_md(const struct nb_compare_report *rep, FILE *out);
void nb_compare_write_json(const struct nb_compare_report *rep, FILE *out);

#endif
