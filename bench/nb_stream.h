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
 * best repetition after skipping the first; the copies are checked after
 * timing (a failed check fails nb_stream_measure).
 */
struct nb_bandwidth {
	int threads;
	size_t bytes;          /* bytes of ONE array */
	const char *level;     /* "L1", "L2", "L3", "DRAM" (static string), or
				* NULL when measured outside nb_stream_table */
	size_t level_bytes;    /* capacity the level stands for (for `threads`
				* threads: private levels x threads); 0 = DRAM */
	double read_gbps;      /* s += a[i] */
	double copy_gbps;      /* b[i] = a[i], ordinary stores */
	double copy_nt_gbps;   /* b[i] = a[i], non-temporal stores; NaN when
				* the CPU (or the ISA cap) is below AVX2 */
	const char *copy_nt_isa; /* "avx512", "avx2" or "none" */
};

/*
 * Measures one (threads, array_bytes) point: allocates two arrays of
 * array_bytes (rounded up to 64 bytes) with madvise(MADV_HUGEPAGE), touches
 * them from the threads that will use them (first touch is ~10 us per 4 KiB
 * page on this VM: never inside the timing), then runs the three kernels in
 * interleaved rounds (read, copy, copy_nt, read, ...) until min_seconds
 * have passed (and at least 3 rounds), skipping the first round, keeping
 * each kernel's best repetition; a repetition lasts >= 200 us (calibrated).
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
 * level_bytes. min_seconds applies per point. *out is malloc'd (free it).
 */
enum nb_status nb_stream_table(const struct nb_cache_levels *caches, const int *threads,
			       size_t nthreads, double min_seconds,
			       struct nb_bandwidth **out, size_t *n);

/*
 * The bandwidth limit for a cell of `threads` threads whose algorithm moves
 * working_set_bytes: among the entries for that thread count (or, when there
 * are none, for the nearest thread count), the level with the smallest
 * level_bytes >= working set (DRAM, level_bytes 0, when none holds it), and
 * there the best copy: max(copy_gbps, copy_nt_gbps). NaN when table is empty.
 */
double nb_limit_gbps(const struct nb_bandwidth *table, size_t n, int threads,
		     size_t working_set_bytes);

#endif
