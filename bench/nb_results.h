/* The HDF5 results file (SPEC §6): the in-memory form of one run, its atomic
 * writer and its reader. This header is the contract for show, export,
 * compare, report and verify: every table row is a fixed-size struct whose
 * member names are the HDF5 field names. */
#ifndef NB_RESULTS_H
#define NB_RESULTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <hdf5.h>

#include "common/nb_status.h"

/* Bumped whenever a table field or root attribute changes meaning or goes
 * away; the reader refuses every other version. */
#define NB_RESULTS_SCHEMA_VERSION 1

/* Fixed string widths (bytes, NUL included). Longer values are cut. */
#define NB_RES_SHORT 32
#define NB_RES_NAME 64
#define NB_RES_TEXT 256
#define NB_RES_LONG 4096

/* At most this many thread counts in the root STREAM attributes. */
#define NB_RES_MAX_STREAM 16

/*
 * Root attributes of the file (one HDF5 attribute per member, same name;
 * strings are fixed-length UTF-8 attributes (older files: variable-length,
 * also read), the stream_* members are arrays of stream_count elements).
 * Units are in the names or comments.
 */
struct nb_results_meta {
	int schema_version;              /* NB_RESULTS_SCHEMA_VERSION */
	char kind[NB_RES_SHORT];         /* "run" (a verify-only file says "verify") */
	int complete;                    /* 1: the sweep finished; 0: interrupted */
	char normbench_version[NB_RES_SHORT];
	char git_rev[NB_RES_NAME];
	int git_dirty;                   /* 1: built from a modified tree */
	char utc_time[NB_RES_SHORT];     /* start of the run, ISO 8601 "...Z" */
	double duration_s;               /* wall time of the whole run */
	char host[NB_RES_NAME];
	char os[NB_RES_TEXT];            /* uname: sysname release machine */
	char cpu_model[NB_RES_TEXT];
	char cpu_flags[NB_RES_LONG];     /* /proc/cpuinfo flags, space separated */
	int cores;                       /* logical CPUs online */
	char caches[NB_RES_TEXT];        /* summary, e.g. "L1d 48K L2 1M L3 32M" */
	char cache_method[NB_RES_TEXT];  /* how the sizes were measured */
	int virtualized;                 /* 1: a hypervisor was detected */
	char hypervisor[NB_RES_NAME];    /* vendor or "" */
	char emulated[NB_RES_TEXT];      /* "" native; else how the run was
					  * emulated (arm64 under qemu): its
					  * timings are not performance */
	char compiler[NB_RES_TEXT];
	char cflags[NB_RES_TEXT];
	char papi_version[NB_RES_SHORT];
	char hdf5_version[NB_RES_SHORT];
	char blas_version[NB_RES_TEXT];
	char openmp[NB_RES_TEXT];        /* OpenMP version and runtime */
	char thread_binding[NB_RES_LONG]; /* OMP_PROC_BIND / OMP_PLACES in force */
	char isa_detected[NB_RES_SHORT]; /* highest ISA the CPU runs */
	char isa_cap[NB_RES_SHORT];      /* cap in force (NB_ISA, --isa) */
	char command_line[NB_RES_LONG];
	char preset[NB_RES_SHORT];       /* "quick", "ci", "paper", "vendor", "default", "custom" */
	uint64_t seed;                   /* data and shuffle seed */
	double eps;
	char eps_mode[NB_RES_SHORT];     /* "inside": 1/sqrt(ms+eps); "outside": 1/(sqrt(ms)+eps) */
	double prms_p;
	char prms_round[NB_RES_SHORT];   /* "ceil" (paper) or "floor" (original code) */
	char machine_key[NB_RES_NAME];   /* hash of slow-changing machine facts */
	char timer[NB_RES_SHORT];        /* "CLOCK_MONOTONIC" */
	double timer_resolution_ns;      /* measured once per run */
	int min_samples;                 /* samples asked per cell */
	double warmup_ms;
	double min_sample_ms;            /* calibration target window */
	double max_sample_ms;
	char unstable_rule[NB_RES_TEXT]; /* the rule that sets cells.unstable */
	char perf_events[NB_RES_TEXT];   /* "available" or why per-sample Linux
					  * software events are missing */
	/* the two below may be absent from older files (read as "" and -1) */
	char notes_rule[NB_RES_LONG];    /* the rules behind cells.notes */
	int64_t buffer_offset;           /* --buffer-offset: bytes the outputs sit
					  * past a 2 MiB boundary; -1 not given */
	/* absent from older files (read as ""): BLAS threading model and wait
	 * policy; the block suite's self-checks ("" none run, "passed", or the
	 * failures) */
	char blas_threading[NB_RES_TEXT];
	char self_check[NB_RES_LONG];
	/* may be absent from older files (read as 1 and ""): worker processes
	 * per side (run --processes) and the baseline binary of an A/B run */
	int processes;
	char baseline[NB_RES_LONG];
	/* may be absent from older files (read as ""): the external library's
	 * version, runtime and threading (nb_external_summary), or why absent */
	char vendor_library[NB_RES_TEXT];
	int stream_count;                /* thread counts with STREAM figures */
	int stream_threads[NB_RES_MAX_STREAM];
	double stream_read_gbps[NB_RES_MAX_STREAM];   /* beyond the caches */
	double stream_copy_gbps[NB_RES_MAX_STREAM];
	double stream_copy_nt_gbps[NB_RES_MAX_STREAM]; /* non-temporal stores */
};

/* /bench/cells: one row per measured cell. Times are seconds per call (one
 * call normalizes all rows of the cell). */
struct nb_cell_row {
	char suite[NB_RES_SHORT];    /* "kernel" (later: "block") */
	char variant[NB_RES_SHORT];  /* "layernorm", "rmsnorm", ... */
	char impl[NB_RES_NAME];      /* registry kernel name */
	char isa[NB_RES_SHORT];      /* "portable", "avx2", "avx512" */
	char dtype[NB_RES_SHORT];    /* storage: f32, f64, f16, bf16 */
	char acc[NB_RES_SHORT];      /* accumulation dtype */
	char dir[NB_RES_SHORT];      /* "fwd" or "bwd" */
	char algo[NB_RES_SHORT];     /* "twopass", "welford", ... */
	char cache[NB_RES_SHORT];    /* "hot" or "cold" */
	uint64_t rows;
	uint64_t d;                  /* model width */
	uint64_t n;                  /* stored elements per row (d-1: CRMSNorm) */
	uint64_t k;                  /* elements that set the rms (pRMSNorm) */
	uint64_t m;                  /* FlashNorm output width, else 0 */
	int32_t threads;
	int32_t group;               /* interleaving group: cells compared together */
	/* statistics of the raw samples (nb_summarize) */
	uint32_t samples;            /* raw samples kept (rows in /bench/samples) */
	uint64_t first_sample;       /* index of this cell's first sample row */
	uint64_t iterations;         /* calls per sample (calibrated) */
	double median_s;
	double mean_s;
	double min_s;
	double max_s;
	double q1_s;
	double q3_s;
	double iqr_s;
	double ci_lo_s;              /* bootstrap 95% CI of the median */
	double ci_hi_s;
	int32_t unstable;            /* 1: spread too large (meta.unstable_rule) */
	/* cost model (STREAM counting: what the algorithm must move) */
	double bytes;                /* bytes per call */
	double flops;                /* floating-point operations per call */
	double working_set_bytes;    /* bytes touched per call incl. the pool */
	double gbps;                 /* bytes / median_s / 1e9 */
	double gflops;
	double limit_gbps;           /* best measured copy at this size/threads */
	double fraction;             /* gbps / limit_gbps */
	/* accuracy of the timed kernel against ref/, checked once after timing */
	int32_t verified;            /* 1 pass, 0 FAIL, -1 not checked */
	double max_ulps;
	double err_ratio;            /* max |error| / derived bound (<= 1: pass) */
	char verify_note[NB_RES_TEXT];
	/* normbench's own PAPI software-defined events, counted during timing */
	uint64_t sde_calls;
	uint64_t sde_rows;
	uint64_t sde_bytes;
	/* what a reader must know beside the numbers, "; " separated, "" none
	 * (may be absent from older files): "above limit ...: limit suspect",
	 * "busy ...", "busy unknown ..." (meta.notes_rule) */
	char notes[NB_RES_TEXT];
	/* absent from older files: the BLAS routine the cell's products used
	 * ("gemv", "gemm", "gemv+gemm", "" none), 1 when a sample saw more of
	 * this process's threads runnable than the cell's threads (-1 unknown),
	 * the KV-cache context a decode cell's attention read (0: prefill) */
	char blas_routine[NB_RES_SHORT];
	int32_t oversubscribed;
	uint64_t context;
	/* worker processes (docs/gate.md; may be absent from older files: ""
	 * and 1): side is "" in a plain run, "base" or "new" in an A/B run
	 * (run --baseline), where every cell appears once per side;
	 * processes counts the worker processes that measured the cell */
	char side[NB_RES_SHORT];
	int32_t processes;
};

/* /bench/samples: every raw sample, grouped by cell, in round order. The
 * Linux software events are -1 where perf_event_open was refused. */
struct nb_sample_row {
	uint64_t cell;               /* index into /bench/cells */
	uint32_t round;              /* interleaving round */
	double seconds;              /* seconds per call: sample time / iterations */
	uint64_t iterations;
	int64_t ctx_switches;
	int64_t migrations;
	int64_t page_faults;
	/* /proc/stat around the sample (may be absent from older files: -1):
	 * the larger procs_running of the reads before and after it, and the
	 * growth of the cpu line's steal time; -1 unknown */
	int32_t procs_running;
	int32_t steal_ticks;
	/* the worker process that took the sample, 0-based within the file
	 * (may be absent from older files: 0, the one process of the run) */
	int32_t process;
};

/* /bench/counters: PAPI event values per cell, unavailable ones with PAPI's
 * reason (value 0). */
struct nb_counter_row {
	uint64_t cell;
	char event[NB_RES_NAME];     /* "PAPI_TOT_CYC", "sde:::normbench::bytes", ... */
	int32_t available;
	int64_t value;               /* summed over all timed calls of the cell */
	char reason[NB_RES_TEXT];    /* why not available, "" when it is */
};

/* /bench/stream: the machine's own bandwidth measured in the same run, one
 * row per (threads, level): STREAM counting (read: one array, copies: two
 * arrays of `bytes` each), best repetition. */
struct nb_stream_row {
	int32_t threads;
	char level[NB_RES_SHORT];    /* "L1", "L2", "L3", "DRAM" */
	uint64_t bytes;              /* bytes of one array */
	uint64_t level_bytes;        /* capacity the level stands for (0: DRAM) */
	double read_gbps;            /* s += a[i] */
	double copy_gbps;            /* b[i] = a[i] */
	double copy_nt_gbps;         /* b[i] = a[i], non-temporal stores */
	char copy_nt_isa[NB_RES_SHORT]; /* "avx512", "avx2" or "none" */
	char notes[NB_RES_TEXT];     /* windows, retries, threads sharing a CPU
				      * (may be absent from older files: "") */
};

/* /bench/caches: the data-cache levels as the OS and CPUID report them and
 * as the pointer chase measured them (0: unknown), plus DRAM's latency. */
struct nb_cache_row {
	char level[NB_RES_SHORT];    /* "L1d", "L2", "L3", "DRAM" */
	uint64_t os_bytes;           /* sysfs */
	uint64_t cpuid_bytes;        /* sysconf (CPUID) */
	uint64_t measured_bytes;     /* pointer-chase knee */
	double latency_ns;           /* chase latency on the plateau (0: none) */
};

/*
 * One run. Written by `normbench run`; nb_results_read fills one with heap
 * arrays that nb_results_free releases. Samples of cell i are
 * samples[cells[i].first_sample .. + cells[i].samples).
 */
struct nb_results {
	struct nb_results_meta meta;
	struct nb_cell_row *cells;
	size_t ncells;
	struct nb_sample_row *samples;
	size_t nsamples;
	struct nb_counter_row *counters;
	size_t ncounters;
	struct nb_stream_row *stream;
	size_t nstream;
	struct nb_cache_row *caches;
	size_t ncaches;
	bool has_verify;             /* the file has a /verify group (read only) */
};

/* Empty results: meta zeroed with the current schema version, no rows. */
void nb_results_init(struct nb_results *r);
/* Frees the row arrays and empties r (safe on an init'ed or read struct). */
void nb_results_free(struct nb_results *r);

/* Appends one row (copied) to r's arrays, growing them. */
enum nb_status nb_results_add_cell(struct nb_results *r, const struct nb_cell_row *c);
enum nb_status nb_results_add_sample(struct nb_results *r, const struct nb_sample_row *s);
enum nb_status nb_results_add_counter(struct nb_results *r, const struct nb_counter_row *c);
enum nb_status nb_results_add_stream(struct nb_results *r, const struct nb_stream_row *s);
enum nb_status nb_results_add_cache(struct nb_results *r, const struct nb_cache_row *c);

/* Copies src into a fixed string field, cutting at size-1 bytes. */
void nb_res_strcpy(char *dst, size_t size, const char *src);

/*
 * Writes r to path atomically: everything goes to "path.tmp.<pid>", which is
 * flushed, closed and fsync'ed, then renamed onto path. Without force an
 * existing path is never replaced (NB_ERR_IO, and the temporary file is
 * removed); with force it is replaced in one rename. A failure never leaves
 * anything under path.
 */
enum nb_status nb_results_write(const char *path, const struct nb_results *r, bool force);

/*
 * Reads a results file into r (which the caller frees with nb_results_free,
 * also after a failure). A missing file, a file that is not HDF5, a damaged
 * file, a file of another schema version or one lacking a table field gives
 * NB_ERR_IO with a message naming the file and the problem. Groups other
 * than /bench (e.g. /verify) are tolerated and not read.
 */
enum nb_status nb_results_read(const char *path, struct nb_results *r);

/* The samples of cell i (NULL and *count 0 when it has none). */
const struct nb_sample_row *nb_results_cell_samples(const struct nb_results *r, size_t i,
						    size_t *count);

/* The identity of a cell across runs, for compare: suite, variant, impl,
 * dtype, dir, rows x d, threads, cache, as "kernel/rmsnorm/<impl>/f32/fwd/
 * 64x4096/t1/hot". Returns buf. */
char *nb_results_cell_key(const struct nb_cell_row *c, char *buf, size_t size);

/*
 * Adding to an existing results file (e.g. verify's /verify group) without
 * ever damaging it: begin copies path to "path.tmp.<pid>" and opens the copy
 * read-write (u->file, an HDF5 file id the caller writes groups into);
 * commit closes, fsyncs and renames the copy over path; abort removes the
 * copy. The file is checked like nb_results_read first (schema version).
 */
struct nb_results_update {
	hid_t file;
	char path[4096];
	char tmp[4160];
};
enum nb_status nb_results_update_begin(const char *path, struct nb_results_update *u);
enum nb_status nb_results_update_commit(struct nb_results_update *u);
void nb_results_update_abort(struct nb_results_update *u);

/* The /bench tables, in file order: "cells", "samples", "counters",
 * "stream", "caches". */
#define NB_RESULTS_NTABLES 5
const char *nb_results_table_name(size_t i);
/* Rows of a table of r (NB_ERR_NOTFOUND for an unknown name). */
enum nb_status nb_results_table_rows(const struct nb_results *r, const char *table,
				     size_t *rows);

/* Writes one /bench table of r as CSV: a header of the field names, one
 * line per row, RFC 4180 quoting, doubles with 17 significant digits (they
 * read back bit-exact). NB_ERR_NOTFOUND for an unknown table. */
enum nb_status nb_results_write_csv(const struct nb_results *r, const char *table, FILE *out);
/* The root attributes as "attribute,value" CSV lines (arrays joined by
 * spaces). */
enum nb_status nb_results_write_meta_csv(const struct nb_results *r, FILE *out);

/* Creates path's parent directories (mode 0777 & ~umask) when missing. */
enum nb_status nb_results_make_parent_dirs(const char *path);

/* Turns HDF5's own error-stack printing off (normbench prints its own
 * messages); called by every function above, idempotent. */
void nb_results_quiet_hdf5(void);

#endif
