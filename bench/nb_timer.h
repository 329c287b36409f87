/* The benchmark clock: CLOCK_MONOTONIC through the vDSO (tens of ns), not
 * PAPI_get_real_nsec, which is a ~1 us system call on a VM. Its resolution
 * and overhead are measured, not assumed, and recorded per run. */
#ifndef NB_TIMER_H
#define NB_TIMER_H

#include <stdint.h>
#include <time.h>

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

#endif
