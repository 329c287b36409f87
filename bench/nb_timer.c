/* Measured properties of the benchmark clock (nb_now_ns): resolution as
 * STREAM's checktick measures it, and the cost of one read; and the
 * calibration of calls per sample from the fastest of several probes. */
#include "bench/nb_timer.h"

#include <math.h>

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

/* The minimum per-call time over NB_CAL_PROBES probes of batch calls, the
 * first of which (first_ns) has been taken already. */
static enum nb_status nb_cal_min(nb_probe_fn probe, void *ctx, uint64_t batch,
				 double first_ns, bool (*stop)(void), double *per_call,
				 int *probes)
{
	double best = first_ns;

	for (int k = 1; k < NB_CAL_PROBES && !(stop && stop()); k++) {
		double ns = 0;
		enum nb_status st = probe(ctx, batch, &ns);
		if (st != NB_OK)
			return st;
		(*probes)++;
		if (ns < best)
			best = ns;
	}
	*per_call = best / (double)batch;
	return NB_OK;
}

enum nb_status nb_calibrate(nb_probe_fn probe, void *ctx, double min_ns, double max_ns,
			    bool (*stop)(void), struct nb_calibration *out)
{
	const uint64_t max_batch = (uint64_t)1 << 30;
	uint64_t batch = 1;
	double floor_ns = min_ns / 4, ns = 0, per_call;
	enum nb_status st;

	out->probes = 0;
	for (;;) {
		st = probe(ctx, batch, &ns);
		if (st != NB_OK)
			return st;
		out->probes++;
		if (ns >= floor_ns || batch >= max_batch || (stop && stop()))
			break;
		batch *= 2;
	}
	st = nb_cal_min(probe, ctx, batch, ns, stop, &per_call, &out->probes);
	/* a stall during the doubling stopped it at a batch far too small for
	 * the undisturbed rate: probe the batch that rate calls for */
	for (int again = 0; st == NB_OK && again < 2 && per_call > 0 &&
	     per_call * (double)batch < floor_ns / 2 && batch < max_batch && !(stop && stop());
	     again++) {
		double want = ceil(floor_ns / per_call);
		batch = want > (double)max_batch ? max_batch : (uint64_t)want;
		st = probe(ctx, batch, &ns);
		if (st != NB_OK)
			return st;
		out->probes++;
		st = nb_cal_min(probe, ctx, batch, ns, stop, &per_call, &out->probes);
	}
	if (st != NB_OK)
		return st;
	if (!(per_call > 0))
		per_call = 1;
	{
		double want = ceil(min_ns / per_call);
		double cap = floor(max_ns / per_call);
		if (want > cap)
			want = cap;
		if (want < 1)
			want = 1;
		if (want > 1e18)
			want = 1e18;
		out->iterations = (uint64_t)want;
	}
	out->per_call_ns = per_call;
	out->batch = batch;
	return NB_OK;
}
