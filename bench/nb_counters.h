/* Counters per cell and per sample: PAPI events (hardware presets where there
 * is a PMU, degrading to "not available: <PAPI's reason>" where there is
 * none), normbench's own PAPI software-defined events (libsde), and Linux
 * software events (perf_event_open) that mark noisy samples. */
#ifndef NB_COUNTERS_H
#define NB_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_status.h"

/* ---- PAPI event sets ---- */

/* The default --events set: used when the user gives none. On a machine
 * without a PMU every one of these is recorded as not available. */
#define NB_COUNTERS_DEFAULT_LIST "PAPI_TOT_CYC,PAPI_TOT_INS,PAPI_L1_DCM,PAPI_L2_DCM,PAPI_L3_TCM"
extern const char *const nb_counters_default[];
extern const size_t nb_counters_default_count;

/* normbench's software-defined events: library "normbench", counted through
 * the ordinary PAPI API under these names (PAPI's SDE naming is
 * sde:::<library>::<counter>). They count what nb_sde_add was given:
 *   kernel_calls  timed kernel invocations (each covers every row of a problem)
 *   rows          rows normalized by those invocations
 *   bytes         bytes those invocations must move (STREAM counting: read
 *                 x, write y, parameters once) */
#define NB_SDE_LIBRARY "normbench"
#define NB_SDE_KERNEL_CALLS "sde:::normbench::kernel_calls"
#define NB_SDE_ROWS "sde:::normbench::rows"
#define NB_SDE_BYTES "sde:::normbench::bytes"

/* The value nb_counters_stop reports for an event that is not available. */
#define NB_COUNTER_UNAVAILABLE (-1LL)
/* At most this many events in one set. */
#define NB_COUNTERS_MAX 64

struct nb_counters; /* opaque */

/*
 * Initializes PAPI once (thread support included) and builds, for the
 * calling thread, one PAPI event set per component the named events belong
 * to (PAPI binds a set to one component, so hardware presets and the SDE
 * events go to separate sets, started and stopped together). For each name:
 *  - PAPI_event_name_to_code fails and the name is not a native event of a
 *    disabled component (a bare name, a PAPI_ preset PAPI does not know, an
 *    sde:::normbench:: counter we do not export): NB_ERR_NOTFOUND, nothing
 *    is opened, nb_error() names the event. This is the user's typo.
 *  - the name resolves (or names a disabled component's native event, e.g.
 *    perf::CYCLES on a VM) but PAPI_add_event fails: the event is recorded
 *    as NOT available with reason = PAPI_strerror(code) plus, when the
 *    perf_event component is disabled, its disabled_reason. The open
 *    succeeds; the run goes on.
 * PAPI_library_init failing makes every event unavailable with that reason
 * (still NB_OK). n == 0 is allowed (an empty set). n > NB_COUNTERS_MAX or a
 * NULL name: NB_ERR_INVALID.
 * The set counts the calling thread (PAPI's per-thread event sets); the SDE
 * counters are process-wide. Start and stop on the thread that opened it.
 */
enum nb_status nb_counters_open(const char *const *names, size_t n,
				struct nb_counters **out);
/* Starts counting (no-op when nothing is available). */
enum nb_status nb_counters_start(struct nb_counters *c);
/* Stops and writes one value per event, in open order, into values[n]
 * (NB_COUNTER_UNAVAILABLE for events not available). */
enum nb_status nb_counters_stop(struct nb_counters *c, long long *values);
size_t nb_counters_count(const struct nb_counters *c);
const char *nb_counters_name(const struct nb_counters *c, size_t i);
bool nb_counters_available(const struct nb_counters *c, size_t i);
/* Why event i is not available ("" when it is). */
const char *nb_counters_reason(const struct nb_counters *c, size_t i);
/* NULL is fine. */
void nb_counters_close(struct nb_counters *c);

/*
 * Splits a comma-separated list ("PAPI_TOT_CYC,sde:::normbench::rows") into
 * a malloc'd array of malloc'd names (free with nb_counters_free_names), by
 * the rules of nb_cli_each_item (common/nb_cli.h): blanks trimmed, a repeat
 * counted once, an empty item an NB_ERR_INVALID that names --events. Names
 * are not checked here.
 */
enum nb_status nb_counters_parse_list(const char *csv, char ***names, size_t *n);
void nb_counters_free_names(char **names, size_t n);

/* PAPI's version as "compiled A.B.C.D, runtime A.B.C.D" (runtime "?" when
 * PAPI cannot be initialized). */
void nb_papi_version(char *buf, size_t len);

/*
 * Adds to normbench's SDE counters (kernel_calls, rows, bytes: the bytes the
 * algorithm must move, STREAM counting). Thread-safe (atomic), cheap: call
 * it once per sample with the totals of the inner loop, outside the timing.
 * Registers the counters with libsde on first use.
 */
void nb_sde_add(uint64_t calls, uint64_t rows, uint64_t bytes);
/* Registers the SDE counters now (nb_counters_open and nb_sde_add do it on
 * demand; idempotent). */
void nb_sde_register(void);

/* ---- Linux software events per sample (perf_event_open) ---- */

enum nb_swevent {
	NB_SW_CONTEXT_SWITCHES,
	NB_SW_CPU_MIGRATIONS,
	NB_SW_PAGE_FAULTS_MIN,
	NB_SW_PAGE_FAULTS_MAJ,
	NB_SW_COUNT
};

/* "context_switches", "cpu_migrations", "page_faults_minor", "page_faults_major" */
const char *nb_swevent_name(enum nb_swevent e);

struct nb_swevents {
	bool available;        /* false: every value reads 0, reason says why */
	char reason[256];
	int threads;           /* threads covered (the caller + its OpenMP team) */
	int *fd;               /* threads x NB_SW_COUNT; private */
	uint64_t start[NB_SW_COUNT]; /* private: sums at nb_swevents_start */
};

/*
 * Opens the four software events for the calling thread and for each
 * thread of an OpenMP team of `threads` threads (0: omp_get_max_threads()),
 * found by running one parallel region: libgomp reuses those threads for
 * later teams of that size or smaller, so kernels run with up to `threads`
 * threads are covered. Counters count user+kernel, from the open on.
 * Not having them (perf_event_paranoid, seccomp, no such kernel support) is
 * NOT an error: NB_OK with available = false and reason = strerror of the
 * failed perf_event_open. Only NB_ERR_NOMEM / NB_ERR_INVALID fail.
 */
enum nb_status nb_swevents_open(struct nb_swevents *sw, int threads);
/* Remembers the current totals. */
void nb_swevents_start(struct nb_swevents *sw);
/* values[NB_SW_COUNT]: totals over the covered threads since the start
 * (0 when not available). */
void nb_swevents_stop(struct nb_swevents *sw, uint64_t values[NB_SW_COUNT]);
/* Current totals since the open (0 when not available). */
void nb_swevents_read(struct nb_swevents *sw, uint64_t values[NB_SW_COUNT]);
void nb_swevents_close(struct nb_swevents *sw);

#endif
