/* pyperf's worker-process model for `normbench run` (docs/gate.md): the
 * parent re-executes a normbench binary (itself, or the --baseline one) as
 * hidden workers, each a fresh process with fresh buffers that warms up and
 * measures every cell in interleaved rounds and writes a temporary results
 * file; the parent merges their samples, each tagged with its process, into
 * one results file. Also the shared calibration and a test-only slowdown. */
#ifndef NB_WORKERS_H
#define NB_WORKERS_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bench/nb_results.h"
#include "bench/nb_stats.h"
#include "common/nb_status.h"

/* Most worker processes per side by default (--samples / 3 up to this):
 * with the rank interval at alpha 0.01, 16 processes a side caught a real
 * 10% slowdown of one kernel in the A/B runs measured on the development VM,
 * where 6 did not (docs/gate.md, "Choosing the process count"). */
#define NB_WORKERS_DEFAULT 16
#define NB_WORKERS_MAX 64
/* Samples per cell per process at least (a per-process median of fewer
 * is mostly one sample's noise). */
#define NB_WORKER_MIN_SAMPLES 3

/* The hidden role of a worker process (run --nb-worker ...). */
struct nb_worker_role {
	bool on;
	int index;                  /* 0-based, in launch order */
	int samples;                /* samples per cell in this process */
	size_t llc;                 /* the parent's last-level cache, bytes */
	const char *calib_in;       /* "key<TAB>iterations" lines to reuse */
	const char *calib_out;      /* where the first worker records them */
};

/* What the parent asks of its workers. */
struct nb_workers_plan {
	int processes;              /* per side */
	int samples;                /* per cell per process */
	const char *baseline;       /* the other binary (A/B run) or NULL */
	size_t llc;
	uint64_t seed;              /* the run's seed: cell i's bootstraps use seed ^ i */
	bool verbose;
	int argc;                   /* the run's own options (argv[0] = "run") */
	char **argv;
};

/*
 * Runs the workers (side "new" is this binary; with a baseline the two
 * binaries' workers alternate in the order new base base new new base ...,
 * so a linear drift hits both sides alike) and appends to res every cell
 * they measured: the samples of all processes of a side (sample.process =
 * the launch index; rounds numbered on across the processes, so a cell's
 * samples have rounds 0, 1, ... in file order), merged statistics (the median's CI resamples
 * processes), summed counters, the worst accuracy check, cell.side and
 * cell.processes. Stops launching when *stop becomes set (what finished is
 * kept). NB_ERR_IO with a message when a worker fails.
 */
enum nb_status nb_workers_measure(const struct nb_workers_plan *p, struct nb_results *res,
				  volatile sig_atomic_t *stop);

/* A cell row's statistics from a summary (median, quartiles, CI, ...). */
void nb_row_summary(struct nb_cell_row *row, const struct nb_summary *sum);

/* The calibration key of a cell: its label, shape, threads and cache. */
void nb_calib_key(char *buf, size_t size, const char *label, size_t rows, size_t d,
		  int threads, const char *cache);
/* Iterations recorded for key in the file role->calib_in (false: none, or
 * no such file). The file is read once and kept. */
bool nb_calib_lookup(const struct nb_worker_role *role, const char *key, uint64_t *iters);
/* The first worker records a calibrated count (best effort). */
void nb_calib_record(const struct nb_worker_role *role, const char *key, uint64_t iters);

/*
 * Test-only knob (scripts/gate-measure.sh): NB_TEST_SLOWDOWN="KERNEL:F"
 * makes every cell of registry kernel KERNEL call it once more every
 * round(1/F) calls, i.e. F more real work (0.10: 10%). Returns that period
 * for kernel name (0: no extra calls).
 */
uint32_t nb_test_slowdown_every(const char *kernel);

#endif
