/* The machine's own limits for the roofline: STREAM-like read / copy /
 * streaming-store copy bandwidth per thread count and working-set size, and
 * the cache sizes measured by a pointer chase (the OS's figures are recorded
 * beside them: on a VM they can be wrong). */
#ifndef NB_STREAM_H
#define NB_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/nb_status.h"

/*
 * One bandwidth measurement. Bytes are counted as STREAM counts them (what
 * the algorithm must move, no write-allocate): read = 1 array, copy = 2
 * arrays of `bytes` each. GB/s = 1e9 bytes per second. Each figure is the
 * best repetition after skipping the first (of at least NB_STREAM_MIN_REPS
 * counted ones); the copies are checked after timing (a failed check fails
 * nb_stream_measure). When a point is measured again (nb_stream_merge),
 * each figure is the best of all its measurements.
 */
struct nb_bandwidth {
	int threads;
	size_t bytes;          /* bytes of ONE array */
	const char *level;     /* "L1", "L2", "L3", "DRAM", "cell" (static string), or
				* NULL when measured outside nb_stream_table */
	size_t level_bytes;    /* capacity the level stands for (for `threads`
				* threads: private levels x threads); 0 = DRAM */
	double read_gbps;      /* s += a[i] */
	double copy_gbps;      /* b[i] = a[i], ordinary stores */
	double copy_nt_gbps;   /* b[i] = a[i], non-temporal stores; NaN when
				* the CPU (or the ISA cap) is below AVX2 */
	const char *copy_nt_isa; /* "avx512", "avx2" or "none" */
	int reps;              /* counted repetitions of each kernel (summed
				* over measurements) */
	int shared_cpu_reps;   /* of those (all kernels), how many found two of
				* the team's threads on one CPU; -1 unknown */
	bool pinned;           /* threads were pinned one per CPU (below) */
	int rounds;            /* counted rounds whose /proc/stat was read */
	int busy_rounds;       /* of those, with procs_running > threads
				* (bench/nb_busy.h); both 0 when unreadable */
	int measurements;      /* 1 + times measured again and merged */
	char note[256];        /* windows, re-measurements, the sanity rule */
};

/* Counted repetitions of each kernel per point, whatever min_seconds says
 * (STREAM's NTIMES is 10 with the first skipped; a 100 ms window at
 * 128 MiB gave only 6, and one disturbed window spoiled them all). */
#define NB_STREAM_MIN_REPS 10

/*
 * Measures one (threads, array_bytes) point: allocates two arrays of
 * array_bytes (rounded up to 64 bytes) with madvise(MADV_HUGEPAGE), touches
 * them from the threads that will use them (first touch is ~10 us per 4 KiB
 * page on this VM: never inside the timing), then runs the three kernels in
 * interleaved rounds (read, copy, copy_nt, read, ...) until min_seconds
 * have passed and NB_STREAM_MIN_REPS rounds were counted, skipping the
 * first round, keeping each kernel's best repetition; a repetition lasts
 * >= 200 us (calibrated on the fastest of 3 passes).
 * With threads > 1 and no binding of the OpenMP runtime's own
 * (OMP_PROC_BIND unset or false), each thread is pinned to its own CPU for
 * the measurement and unpinned after: unpinned, Linux ran both threads of
 * a 2-thread team on one vCPU of this VM (a "2-thread" figure at or below
 * the 1-thread one). Each thread notes its CPU before and after every
 * pass, so a repetition that still shared a CPU is counted. NB_STREAM_PIN=0
 * in the environment measures unpinned (to see the packing for oneself).
 * After each round, /proc/stat says whether another task was runnable
 * (busy_rounds): outside the timing, a few microseconds.
 * threads: 1 .. omp_get_num_procs().
 * array_bytes: 4 KiB .. 16 GiB. out->level is left NULL.
 */
enum nb_status nb_stream_measure(int threads, size_t array_bytes, double min_seconds,
				 struct nb_bandwidth *out);

/* Cache sizes in bytes (0: unknown / not found). Data caches only. */
struct nb_cache_levels {
	size_t os_l1d, os_l2, os_l3;      /* sysfs cpu0/cache/index*: what the OS says */
	size_t cpuid_l1d, cpuid_l2, cpuid_l3; /* sysconf(_SC_LEVEL*) (glibc: CPUID) */
	size_t measured_l1d, measured_l2, measured_l3; /* pointer-chase knees */
	double latency_ns[4];             /* chase latency on the L1, L2, L3, DRAM
					   * plateaus (0: level not found) */
	char method[96];                  /* how measured, for the results file */
};

/*
 * Fills the OS and CPUID figures and measures the data-cache sizes with a
 * single-threaded random-cycle pointer chase (64-byte lines, huge pages
 * where the kernel grants them, working sets 4.4 KiB .. 72 MiB in steps of
 * 2^(1/4)). Each size is one point of a latency curve; a level is where the
 * curve makes a rise of 1.5x or more, at the steepest step of that rise (the
 * last size before it). A level the chase cannot find stays 0 (not an
 * error). About 0.3-0.5 s. NB_DEBUG_CACHES=1 prints the curve on stderr.
 */
enum nb_status nb_measure_caches(struct nb_cache_levels *out);

/* The cache size to plan around (e.g. a cold-cache pool must exceed it):
 * the largest of the measured and OS-reported last-level sizes, and at
 * least 32 MiB when nothing is known. */
size_t nb_cache_last_level_bytes(const struct nb_cache_levels *c);

/*
 * The roofline table: for each thread count, one nb_stream_measure at a
 * size in L1 (array = L1d/4, so the copy's two arrays fill half of it), in
 * L2 (L2/4), in L3 (L3/4, only when a measured L3 exists) and in DRAM
 * (array = 4x the last level, at least 64 MiB), labelled with level and
 * level_bytes. min_seconds applies per point. Then the sanity rule
 * (nb_stream_sanity, NB_STREAM_RETRIES re-measurements at most per entry).
 * *out is malloc'd (free it).
 */
#define NB_STREAM_RETRIES 2

/*
 * STREAM points at the cells' own sizes: for each thread count of the
 * table and each working set in ws[0, nws) that lies between that count's
 * L1 (x threads) and the DRAM point's two arrays, one
 * more entry, level "cell", level_bytes the working set, its two arrays of
 * half of it each. The measured L3 size wanders on this VM (0.9-8.9 MiB
 * between runs) and a 16 MiB cell that runs from the real L3 was matched to
 * the DRAM limit and shown at 120-140%; a point of the cell's own size is
 * its limit whatever the cache sizes are. Sizes within 1/8 of one already
 * measured share its point. *tab grows (realloc); on failure it is kept
 * as it was.
 */
enum nb_status nb_stream_add_cell_points(struct nb_bandwidth **tab, size_t *n,
					 const double *ws, size_t nws, double min_seconds);
enum nb_status nb_stream_table(const struct nb_cache_levels *caches, const int *threads,
			       size_t nthreads, double min_seconds,
			       struct nb_bandwidth **out, size_t *n);

/* One measurement of a point: nb_stream_measure, or an injected stand-in
 * (tests). ctx is passed through. */
typedef enum nb_status (*nb_stream_measure_fn)(void *ctx, int threads, size_t array_bytes,
					       double min_seconds, struct nb_bandwidth *out);

/* Folds a new measurement of the same point into e: each figure becomes the
 * better of the two, reps and shared_cpu_reps add up, measurements + 1. */
void nb_stream_merge(struct nb_bandwidth *e, const struct nb_bandwidth *again);

/*
 * The sanity rule: with more threads a kernel cannot move less. For each
 * entry of threads t and each kernel, the figure must not be below the best
 * figure of any entry with fewer threads at the same level. An entry that
 * is re-measured (fn; NULL: nb_stream_measure) up to `retries` times,
 * merged each time, until it holds; if it still does not, the entry keeps
 * its best figures and its note says so (recorded honestly, not hidden).
 * *remeasured (may be NULL) counts the extra measurements.
 */
enum nb_status nb_stream_sanity(struct nb_bandwidth *tab, size_t n, double min_seconds,
				int retries, nb_stream_measure_fn fn, void *ctx,
				size_t *remeasured);
/* The same for the DRAM entries (level_bytes 0) only. */
enum nb_status nb_stream_sanity_dram(struct nb_bandwidth *tab, size_t n, double min_seconds,
				     int retries, nb_stream_measure_fn fn, void *ctx,
				     size_t *remeasured);

/*
 * The second window: every DRAM entry (level_bytes 0) is measured again
 * (fn; NULL: nb_stream_measure) and merged, then the sanity rule runs
 * again on them. `normbench run` calls it after the last cell, so each DRAM
 * figure is the best of two windows minutes apart: one disturbed window
 * (a neighbour's burst, a packed vCPU) no longer sets the limit.
 */
enum nb_status nb_stream_second_window(struct nb_bandwidth *tab, size_t n,
				       double min_seconds, nb_stream_measure_fn fn,
				       void *ctx);

/*
 * The bandwidth limit for a cell of `threads` threads whose algorithm moves
 * working_set_bytes: among the entries for that thread count (or, when there
 * are none, for the nearest thread count), the level with the smallest
 * level_bytes >= working set (DRAM, level_bytes 0, when none holds it), and
 * there the best copy: max(copy_gbps, copy_nt_gbps). NaN when table is empty.
 */
double nb_limit_gbps(const struct nb_bandwidth *table, size_t n, int threads,
		     size_t working_set_bytes);

/* A cell moving more than its limit by this fraction is flagged: no kernel
 * beats the machine's own copy by 5%, so the limit is what is suspect. */
#define NB_LIMIT_TOLERANCE 0.05
/* gbps > (1 + NB_LIMIT_TOLERANCE) * limit_gbps, both finite and > 0. */
bool nb_above_limit(double gbps, double limit_gbps);

#endif
