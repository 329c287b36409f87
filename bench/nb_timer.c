/* Measured properties of the benchmark clock (nb_now_ns): resolution as
 * STREAM's checktick measures it, and the cost of one read. */
#include "bench/nb_timer.h"

#include "bench/nb_stats.h"

#define NB_TIMER_TRIALS 21

double nb_timer_resolution_ns(void)
{
	double steps[NB_TIMER_TRIALS];

	for (int t = 0; t < NB_TIMER_TRIALS; t++) {
		uint64_t best = UINT64_MAX;
		/* 20 distinct ticks per trial; the smallest step seen is the
		 * trial's estimate of the granularity */
		for (int k = 0; k < 20; k++) {
			uint64_t t0 = nb_now_ns(), t1;
			do
				t1 = nb_now_ns();
			while (t1 == t0);
			if (t1 - t0 < best)
				best = t1 - t0;
		}
		steps[t] = (double)best;
	}
	nb_sort_doubles(steps, NB_TIMER_TRIALS);
	return nb_quantile_sorted(steps, NB_TIMER_TRIALS, 0.5);
}

double nb_timer_overhead_ns(void)
{
	enum { BATCH = 1000 };
	double per_call[NB_TIMER_TRIALS];
	volatile uint64_t sink = 0;

	for (int t = 0; t < NB_TIMER_TRIALS; t++) {
		uint64_t t0 = nb_now_ns(), t1;
		for (int k = 0; k < BATCH; k++)
			sink += nb_now_ns();
		t1 = nb_now_ns();
		per_call[t] = (double)(t1 - t0) / (BATCH + 1);
	}
	(void)sink;
	nb_sort_doubles(per_call, NB_TIMER_TRIALS);
	return nb_quantile_sorted(per_call, NB_TIMER_TRIALS, 0.5);
}
