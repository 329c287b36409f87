/* The benchmark clock: CLOCK_MONOTONIC through the vDSO (tens of ns), not
 * PAPI_get_real_nsec, which is a ~1 us system call on a VM. Its resolution
 * and overhead are measured, not assumed, and recorded per run. Also the
 * calibration of calls per sample (likwid-bench style, robust to a stall). */
#ifndef NB_TIMER_H
#define NB_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "common/nb_status.h"

/* Nanoseconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
static inline uint64_t nb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Resolution in ns: the median of the smallest nonzero steps between
 * back-to-back reads (STREAM's checktick, several trials). Takes ~1 ms. */
double nb_timer_resolution_ns(void);

/* Overhead of one nb_now_ns call in ns: the median over trials of
 * (elapsed of a batch of back-to-back reads) / batch size. Takes ~1 ms. */
double nb_timer_overhead_ns(void);

/*
 * Calibration: calls per sample so that a sample lasts at least min_ns and
 * is never planned beyond max_ns (one call when a single call is longer).
 *
 * probe(ctx, batch, &ns) makes `batch` calls and reports their time in ns
 * (a status other than NB_OK stops the calibration and is returned). The
 * batch doubles from 1 until one probe lasts min_ns/4; then
 * NB_CAL_PROBES - 1 more probes of that batch are taken, and the per-call
 * time is the MINIMUM over the probes of that batch. Noise (a pre-empted
 * vCPU, an interrupt) only ever adds time, so the minimum is the cost of
 * an undisturbed call: one stolen probe can no longer cut the calls per
 * sample (it once picked 124 calls instead of ~4400). A median would
 * need most probes clean; the minimum needs one. When the minimum shows
 * the doubling stopped early (a stall made a small batch look long: the
 * batch at the minimum's rate lasts < min_ns/8), the batch grows to the
 * size the minimum calls for and is probed again, at most twice.
 * stop() (may be NULL) is polled between probes: true ends the calibration
 * with what is known so far.
 */
#define NB_CAL_PROBES 5
struct nb_calibration {
	uint64_t iterations;     /* calls per sample */
	double per_call_ns;      /* minimum per-call time of the final batch */
	uint64_t batch;          /* calls per probe of the final batch */
	int probes;              /* probes taken in all */
};
typedef enum nb_status (*nb_probe_fn)(void *ctx, uint64_t batch, double *ns);
enum nb_status nb_calibrate(nb_probe_fn probe, void *ctx, double min_ns, double max_ns,
			    bool (*stop)(void), struct nb_calibration *out);

#endif
