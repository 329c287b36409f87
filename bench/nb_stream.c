/* STREAM in miniature for the roofline (read, copy, streaming-store copy per
 * thread count and size) and a pointer-chase measurement of the cache sizes.
 * Buffers are touched before timing, the first repetition is skipped, the
 * best of at least 10 is kept, threads are pinned one per CPU, and the
 * results are checked after timing; a table entry below fewer threads is
 * measured again, and DRAM gets a second window at the end of a run. */
#include "bench/nb_stream.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/nb_busy.h"
#include "bench/nb_stats.h"
#include "bench/nb_timer.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "kernels/nb_stream_copy.h"

#define NB_KIB ((size_t)1024)
#define NB_MIB (NB_KIB * 1024)
#define NB_GIB (NB_MIB * 1024)
/* kernels take multiples of 64 doubles (512 bytes) */
#define NB_STREAM_BLOCK ((size_t)64)

/* ---- buffers ---- */

/* Aligned to 2 MiB when large so transparent huge pages can back it (the
 * first touch of a 4 KiB page costs ~10 us on this VM; a huge page is one
 * fault for 512 of them, and the TLB then covers the whole buffer). */
static void *nb_big_alloc(size_t bytes)
{
	size_t align = bytes >= 2 * NB_MIB ? 2 * NB_MIB : 4096;
	size_t rounded = (bytes + align - 1) / align * align;
	void *p = NULL;

	if (posix_memalign(&p, align, rounded) != 0)
		return NULL;
	/* advice only: without THP the buffer still works */
	(void)madvise(p, rounded, MADV_HUGEPAGE);
	return p;
}

/* ---- portable loops (below AVX2): no streaming store ---- */

static double nb_stream_read_portable(const double *a, size_t n)
{
	double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;

	for (size_t i = 0; i < n; i += 4) {
		s0 += a[i];
		s1 += a[i + 1];
		s2 += a[i + 2];
		s3 += a[i + 3];
	}
	return (s0 + s1) + (s2 + s3);
}

static void nb_stream_copy_portable(double *restrict b, const double *restrict a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		b[i] = a[i];
}

struct nb_stream_fns {
	double (*read)(const double *a, size_t n);
	void (*copy)(double *restrict b, const double *restrict a, size_t n);
	void (*copy_nt)(double *restrict b, const double *restrict a, size_t n);
	const char *nt_isa;
};

static struct nb_stream_fns nb_stream_pick(void)
{
#if defined(__x86_64__)
	if (nb_isa_usable(NB_ISA_AVX512))
		return (struct nb_stream_fns){ nb_stream_read_avx512, nb_stream_copy_avx512,
			nb_stream_copy_nt_avx512, "avx512" };
	if (nb_isa_usable(NB_ISA_AVX2))
		return (struct nb_stream_fns){ nb_stream_read_avx2, nb_stream_copy_avx2,
			nb_stream_copy_nt_avx2, "avx2" };
#endif
	/* arm64: ordinary loads and stores (docs/arm64.md: STNP, the
	 * non-temporal store pair, is a hint not measured here) */
	return (struct nb_stream_fns){ nb_stream_read_portable, nb_stream_copy_portable,
		NULL, "none" };
}

/* ---- timing ---- */

enum nb_stream_op { NB_OP_READ, NB_OP_COPY, NB_OP_COPY_NT };

struct nb_stream_run {
	struct nb_stream_fns fns;
	double *a, *b;
	size_t n;                 /* doubles per array, multiple of 64 */
	int threads;
	double *partial;          /* per-thread read sums, 64 bytes apart */
	int team;                 /* threads OpenMP actually gave */
	int *cpu_at;              /* per thread (16 ints apart): CPU before and
				   * after its pass, -1 unknown */
	bool pin;                 /* pin thread t to cpus[t] while timing */
	int cpus[CPU_SETSIZE];    /* CPUs this process may use */
	int ncpus;
	bool pin_failed;
	int counted;              /* counted repetitions (all kernels) */
	int shared;               /* of those, with two threads on one CPU */
	struct nb_busy_probe busy;
	int rounds, busy_rounds;  /* counted rounds with /proc/stat read; busy */
};

/* Pins the calling thread to one CPU, keeping its old mask in old. */
static bool nb_pin_self(int cpu, cpu_set_t *old)
{
	cpu_set_t one;

	if (sched_getaffinity(0, sizeof(*old), old) != 0)
		return false;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	return sched_setaffinity(0, sizeof(one), &one) == 0;
}

/* Whether two threads of the team noted the same CPU (before or after). */
static bool nb_team_shared_cpu(const int *cpu_at, int nt)
{
	for (int i = 0; i < nt; i++)
		for (int j = i + 1; j < nt; j++)
			for (int k = 0; k < 2; k++)
				if (cpu_at[i * 16 + k] >= 0 &&
				    (cpu_at[i * 16 + k] == cpu_at[j * 16] ||
				     cpu_at[i * 16 + k] == cpu_at[j * 16 + 1]))
					return true;
	return false;
}

/* Thread t's share of the arrays: whole 64-double blocks. */
static void nb_stream_share(size_t n, int t, int nt, size_t *begin, size_t *len)
{
	size_t blocks = n / NB_STREAM_BLOCK;
	size_t b0 = blocks * (size_t)t / (size_t)nt;
	size_t b1 = blocks * (size_t)(t + 1) / (size_t)nt;

	*begin = b0 * NB_STREAM_BLOCK;
	*len = (b1 - b0) * NB_STREAM_BLOCK;
}

/* `inner` passes of op over this thread's share; returns the read sum. */
static double nb_stream_pass(const struct nb_stream_run *r, enum nb_stream_op op,
			     size_t begin, size_t len, size_t inner)
{
	double sum = 0.0;

	for (size_t k = 0; k < inner && len > 0; k++) {
		switch (op) {
		case NB_OP_READ:
			sum = r->fns.read(r->a + begin, len);
			break;
		case NB_OP_COPY:
			r->fns.copy(r->b + begin, r->a + begin, len);
			break;
		case NB_OP_COPY_NT:
			r->fns.copy_nt(r->b + begin, r->a + begin, len);
			break;
		}
	}
	return sum;
}

/*
 * Times the ops in rounds (read, copy, copy_nt, read, copy, ...) inside ONE
 * parallel region, each repetition (`inner` passes over every thread's
 * share) timed by the master between two barriers, so no fork/join is in
 * the timing. Interleaving spreads every kernel over the whole window: a
 * burst of noise from a neighbour then cannot spoil one kernel's figure
 * alone. Round 0 is not counted; stops once min_rounds counted rounds and
 * min_seconds have passed. best[i]: the best counted repetition of ops[i].
 */
static void nb_stream_time(struct nb_stream_run *r, const enum nb_stream_op *ops, int nops,
			   size_t inner, int min_rounds, double min_seconds, double *best)
{
	uint64_t start = nb_now_ns();
	int stop = 0;
	bool pin_failed = false;

	for (int i = 0; i < nops; i++)
		best[i] = INFINITY;
	r->team = 0;
	r->counted = 0;
	r->shared = 0;
	r->rounds = 0;
	r->busy_rounds = 0;
#pragma omp parallel num_threads(r->threads) reduction(|| : pin_failed)
	{
		int t = omp_get_thread_num();
		int nt = omp_get_num_threads();
		size_t begin, len;
		cpu_set_t old;
		bool pinned = false;

		nb_stream_share(r->n, t, nt, &begin, &len);
		if (t == 0)
			r->team = nt;
		if (r->pin && nt <= r->ncpus) {
			pinned = nb_pin_self(r->cpus[t], &old);
			pin_failed = !pinned;
		}
		for (int round = 0; !stop; round++) {
			for (int i = 0; i < nops; i++) {
				uint64_t t0 = 0;
				double sum;
#pragma omp barrier
				if (t == 0)
					t0 = nb_now_ns();
				r->cpu_at[t * 16] = sched_getcpu();
				sum = nb_stream_pass(r, ops[i], begin, len, inner);
				r->cpu_at[t * 16 + 1] = sched_getcpu();
				if (ops[i] == NB_OP_READ)
					r->partial[t * 8] = sum;
#pragma omp barrier
				if (t == 0) {
					double sec = (double)(nb_now_ns() - t0) * 1e-9;
					if (round > 0) {
						if (sec < best[i])
							best[i] = sec;
						r->counted++;
						r->shared += nb_team_shared_cpu(r->cpu_at, nt);
					}
				}
			}
			if (t == 0 && round > 0) {
				struct nb_procstat ps;
				/* the others wait at the barrier below: the team
				 * counts at most nt runnable tasks */
				if (nb_busy_read(&r->busy, &ps)) {
					r->rounds++;
					r->busy_rounds += ps.procs_running > nt;
				}
			}
			if (t == 0)
				/* the round cap guards against a broken clock */
				stop = (round >= min_rounds &&
					(double)(nb_now_ns() - start) * 1e-9 >= min_seconds) ||
				       round >= 100000;
#pragma omp barrier
		}
		/* the team's threads live on in OpenMP's pool: give them back
		 * the mask they had */
		if (pinned)
			(void)sched_setaffinity(0, sizeof(old), &old);
	}
	r->pin_failed = r->pin_failed || pin_failed;
}

/* One untimed pass of op, for the checks after timing. */
static void nb_stream_once(struct nb_stream_run *r, enum nb_stream_op op)
{
#pragma omp parallel num_threads(r->threads)
	{
		size_t begin, len;

		nb_stream_share(r->n, omp_get_thread_num(), omp_get_num_threads(), &begin, &len);
		nb_stream_pass(r, op, begin, len, 1);
	}
}

/* Whether and where to pin: threads > 1, the runtime binds nothing itself,
 * and the process may use a CPU per thread. */
static void nb_stream_pin_plan(struct nb_stream_run *r)
{
	cpu_set_t mask;

	const char *env = getenv("NB_STREAM_PIN");

	r->pin = false;
	r->ncpus = 0;
	if (r->threads < 2 || (env && strcmp(env, "0") == 0) ||
	    omp_get_proc_bind() != omp_proc_bind_false ||
	    sched_getaffinity(0, sizeof(mask), &mask) != 0)
		return;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &mask))
			r->cpus[r->ncpus++] = c;
	r->pin = r->ncpus >= r->threads;
}

static void nb_stream_fill(struct nb_stream_run *r)
{
#pragma omp parallel num_threads(r->threads)
	{
		int t = omp_get_thread_num();
		size_t begin, len;
		cpu_set_t old;
		bool pinned = r->pin && t < r->ncpus && nb_pin_self(r->cpus[t], &old);

		nb_stream_share(r->n, t, omp_get_num_threads(), &begin, &len);
		for (size_t i = begin; i < begin + len; i++) {
			r->a[i] = (double)(i & 15);
			r->b[i] = -1.0;
		}
		if (pinned)
			(void)sched_setaffinity(0, sizeof(old), &old);
	}
}

static bool nb_stream_copy_ok(const struct nb_stream_run *r)
{
	return memcmp(r->a, r->b, r->n * sizeof(double)) == 0;
}

static void nb_stream_clear_b(struct nb_stream_run *r)
{
#pragma omp parallel num_threads(r->threads)
	{
		size_t begin, len;

		nb_stream_share(r->n, omp_get_thread_num(), omp_get_num_threads(), &begin, &len);
		for (size_t i = begin; i < begin + len; i++)
			r->b[i] = -1.0;
	}
}

enum nb_status nb_stream_measure(int threads, size_t array_bytes, double min_seconds,
				 struct nb_bandwidth *out)
{
	enum nb_status st = NB_OK;
	struct nb_stream_run *r = NULL;
	int procs = omp_get_num_procs();
	static const enum nb_stream_op cal = NB_OP_COPY;
	static const enum nb_stream_op ops[3] = { NB_OP_READ, NB_OP_COPY, NB_OP_COPY_NT };
	double t_pass, target, best[3], expect, got;
	size_t inner, bytes;

	*out = (struct nb_bandwidth){ .threads = threads, .bytes = array_bytes,
		.read_gbps = NAN, .copy_gbps = NAN, .copy_nt_gbps = NAN, .copy_nt_isa = "none",
		.shared_cpu_reps = -1, .measurements = 1 };
	if (threads < 1 || threads > procs)
		return nb_fail(NB_ERR_INVALID, "STREAM: %d threads; this machine has %d", threads,
			       procs);
	if (array_bytes < 4 * NB_KIB || array_bytes > 16 * NB_GIB)
		return nb_fail(NB_ERR_INVALID, "STREAM: array of %zu bytes (allowed 4 KiB .. 16 GiB)",
			       array_bytes);
	if (!(min_seconds >= 0.0 && min_seconds <= 60.0))
		return nb_fail(NB_ERR_INVALID, "STREAM: min_seconds %g (allowed 0 .. 60)",
			       min_seconds);
	r = calloc(1, sizeof(*r));
	if (!r)
		return nb_fail(NB_ERR_NOMEM, "STREAM: no memory");
	r->fns = nb_stream_pick();
	r->threads = threads;
	nb_busy_open(&r->busy, NULL);
	/* whole 64-double blocks */
	r->n = (array_bytes + NB_STREAM_BLOCK * sizeof(double) - 1) /
	       (NB_STREAM_BLOCK * sizeof(double)) * NB_STREAM_BLOCK;
	bytes = r->n * sizeof(double);
	out->bytes = bytes;
	r->a = nb_big_alloc(bytes);
	r->b = nb_big_alloc(bytes);
	r->partial = calloc((size_t)threads * 8, sizeof(double));
	r->cpu_at = malloc((size_t)threads * 16 * sizeof(int));
	if (!r->a || !r->b || !r->partial || !r->cpu_at) {
		st = nb_fail(NB_ERR_NOMEM, "STREAM: cannot allocate 2 x %zu bytes", bytes);
		goto free_bufs;
	}
	nb_stream_pin_plan(r);
	/* first touch by the threads that use each share, outside the timing
	 * (pinned like the timing, so each share's pages are faulted by the
	 * thread, and on the CPU, that will stream them) */
	nb_stream_fill(r);

	/* calibrate with the copy: one repetition should last about
	 * min_seconds/20 (>= 200 us), so a barrier and the clock reads
	 * (~1 us) stay below 1% of it; the fastest of 3 passes, so one
	 * pre-empted pass does not shrink the repetition */
	nb_stream_time(r, &cal, 1, 1, 3, 0.0, &t_pass);
	if (r->team != threads) {
		st = nb_fail(NB_ERR_UNSUPPORTED, "STREAM: OpenMP gave %d threads, not %d",
			     r->team, threads);
		goto free_bufs;
	}
	target = fmax(min_seconds / 20.0, 200e-6);
	inner = t_pass > 0.0 ? (size_t)ceil(target / t_pass) : 1000000;
	if (inner < 1)
		inner = 1;
	if (inner > 1000000)
		inner = 1000000;

	nb_stream_time(r, ops, r->fns.copy_nt ? 3 : 2, inner, NB_STREAM_MIN_REPS, min_seconds,
		       best);
	out->reps = r->counted / (r->fns.copy_nt ? 3 : 2);
	out->shared_cpu_reps = threads > 1 ? r->shared : 0;
	out->pinned = r->pin && !r->pin_failed;
	out->rounds = r->rounds;
	out->busy_rounds = r->busy_rounds;

	/* the checks, after timing: the read's sums (of its last timed pass)
	 * are exact small integers; each copy is rerun once on a cleared b */
	expect = (double)(r->n / 16) * 120.0;   /* sum of (i & 15) over n */
	got = 0.0;
	for (int t = 0; t < threads; t++)
		got += r->partial[t * 8];
	if (got != expect) {
		st = nb_fail(NB_ERR_INVALID, "STREAM read check failed: sum %.17g, expected %.17g",
			     got, expect);
		goto free_bufs;
	}
	nb_stream_clear_b(r);
	nb_stream_once(r, NB_OP_COPY);
	if (!nb_stream_copy_ok(r)) {
		st = nb_fail(NB_ERR_INVALID, "STREAM copy check failed");
		goto free_bufs;
	}
	out->read_gbps = (double)bytes * (double)inner / best[0] * 1e-9;
	out->copy_gbps = 2.0 * (double)bytes * (double)inner / best[1] * 1e-9;
	if (r->fns.copy_nt) {
		nb_stream_clear_b(r);
		nb_stream_once(r, NB_OP_COPY_NT);
		if (!nb_stream_copy_ok(r)) {
			st = nb_fail(NB_ERR_INVALID, "STREAM streaming-store copy check failed");
			goto free_bufs;
		}
		out->copy_nt_gbps = 2.0 * (double)bytes * (double)inner / best[2] * 1e-9;
		out->copy_nt_isa = r->fns.nt_isa;
	}
free_bufs:
	nb_busy_close(&r->busy);
	free(r->cpu_at);
	free(r->partial);
	free(r->b);
	free(r->a);
	free(r);
	return st;
}

/* ---- cache sizes ---- */

/* sysfs cpu0/cache/index<i>/size of the data or unified cache at level lvl. */
static size_t nb_sysfs_cache(int lvl)
{
	size_t found = 0;

	for (int idx = 0; idx < 8; idx++) {
		char path[128], type[32] = "", size[32] = "";
		int level = 0;
		FILE *f;
		char unit = 0;
		unsigned long long v = 0;

		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/level",
			 idx);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%d", &level) != 1)
			level = 0;
		fclose(f);
		if (level != lvl)
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/type",
			 idx);
		f = fopen(path, "r");
		if (f) {
			if (fscanf(f, "%31s", type) != 1)
				type[0] = 0;
			fclose(f);
		}
		if (strcmp(type, "Instruction") == 0)
			continue;
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu0/cache/index%d/size",
			 idx);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fscanf(f, "%31s", size) == 1 && sscanf(size, "%llu%c", &v, &unit) >= 1) {
			if (unit == 'K')
				v *= 1024;
			else if (unit == 'M')
				v *= 1024 * 1024;
			found = (size_t)v;
		}
		fclose(f);
	}
	return found;
}

static size_t nb_sysconf_size(int name)
{
	long v = sysconf(name);

	return v > 0 ? (size_t)v : 0;
}

/* The chase grid: 4 KiB .. 64 MiB in quarter octaves, offset by an eighth
 * of an octave so common cache sizes (32K, 48K, 1M, 32M, ...) fall between
 * grid points rather than on them. */
#define NB_CHASE_MIN_LOG2 12.125
#define NB_CHASE_POINTS 57   /* up to 2^(12.125 + 56/4) = 2^26.125 */
#define NB_CHASE_STEPS 40000

/* Mean latency of one dependent load, in ns, over a random cycle through
 * the first `lines` 64-byte lines of buf (linked in the order perm gives
 * them). The minimum of 3 timed blocks: noise only ever adds time. */
static double nb_chase(char *buf, const uint32_t *perm, size_t max_lines, size_t lines)
{
	char *first = NULL, *prev = NULL, *p;
	double best = INFINITY;
	size_t warm = lines < 100000 ? 2 * lines : 100000;

	for (size_t k = 0; k < max_lines; k++) {
		char *cur;
		if (perm[k] >= lines)
			continue;
		cur = buf + (size_t)perm[k] * 64;
		if (prev)
			*(char **)prev = cur;
		else
			first = cur;
		prev = cur;
	}
	/* no line below `lines` in perm: nothing to chase (not reached from
	 * nb_measure_caches, whose perm holds every line up to max_lines) */
	if (!prev)
		return NAN;
	*(char **)prev = first;
	p = first;
	for (size_t s = 0; s < warm; s++)
		p = *(char **)p;
	for (int rep = 0; rep < 3; rep++) {
		uint64_t t0 = nb_now_ns(), t1;
		for (size_t s = 0; s < NB_CHASE_STEPS; s++)
			p = *(char **)p;
		t1 = nb_now_ns();
		if ((double)(t1 - t0) < best)
			best = (double)(t1 - t0);
	}
	/* keep the chase from being optimized away */
	__asm__ volatile("" : : "r"(p));
	return best / NB_CHASE_STEPS;
}

static double nb_median_range(const double *lat, size_t from, size_t to)
{
	double tmp[NB_CHASE_POINTS];
	size_t n = to - from + 1;

	memcpy(tmp, lat + from, n * sizeof(*tmp));
	nb_sort_doubles(tmp, n);
	return nb_quantile_sorted(tmp, n, 0.5);
}

/*
 * Knees of the latency curve. On a VM the curve is not a clean staircase:
 * the TLB (nested paging: the host may back guest huge pages with 4 KiB
 * pages) adds slow ramps, and neighbours steal cache. So: smooth with a
 * running median of 3; a transition is a maximal run of steps that each
 * rise by more than 4%; a transition counts only when it rises by 1.5x or
 * more in total (a lone noise spike does not); the level's size is the left
 * point of the steepest step inside it. Plateau latencies are the medians
 * of the points between transitions. Returns the number of knees (<= 3).
 */
static size_t nb_find_knees(const double *raw, size_t n, size_t knee[3],
			    double plateau_lat[4])
{
	double lat[NB_CHASE_POINTS];
	size_t found = 0, plateau_start = 0, i = 0;

	for (size_t k = 0; k < n; k++) {
		if (k == 0 || k + 1 == n) {
			lat[k] = raw[k];
		} else {
			double t[3] = { raw[k - 1], raw[k], raw[k + 1] };
			nb_sort_doubles(t, 3);
			lat[k] = t[1];
		}
	}
	while (i + 1 < n && found < 3) {
		size_t start, steep;
		if (!(lat[i + 1] > 1.04 * lat[i])) {
			i++;
			continue;
		}
		start = i;
		steep = i;
		while (i + 1 < n && lat[i + 1] > 1.04 * lat[i]) {
			if (lat[i + 1] / lat[i] > lat[steep + 1] / lat[steep])
				steep = i;
			i++;
		}
		/* [start, i] is the transition */
		if (lat[i] < 1.5 * lat[start])
			continue;
		knee[found] = steep;
		plateau_lat[found] = nb_median_range(lat, plateau_start, start);
		found++;
		plateau_start = i;
	}
	plateau_lat[found] = nb_median_range(lat, plateau_start, n - 1);
	return found;
}

enum nb_status nb_measure_caches(struct nb_cache_levels *out)
{
	enum nb_status st = NB_OK;
	size_t max_lines = (size_t)(pow(2.0, NB_CHASE_MIN_LOG2 +
					(NB_CHASE_POINTS - 1) / 4.0) / 64.0) + 1;
	size_t max_bytes = max_lines * 64;
	double lat[NB_CHASE_POINTS];
	size_t size[NB_CHASE_POINTS];
	size_t knee[3] = { 0, 0, 0 };
	double plat[4] = { 0, 0, 0, 0 };
	size_t found;
	uint32_t *perm = NULL;
	char *buf = NULL;
	struct nb_rng rng;

	memset(out, 0, sizeof(*out));
	out->os_l1d = nb_sysfs_cache(1);
	out->os_l2 = nb_sysfs_cache(2);
	out->os_l3 = nb_sysfs_cache(3);
	out->cpuid_l1d = nb_sysconf_size(_SC_LEVEL1_DCACHE_SIZE);
	out->cpuid_l2 = nb_sysconf_size(_SC_LEVEL2_CACHE_SIZE);
	out->cpuid_l3 = nb_sysconf_size(_SC_LEVEL3_CACHE_SIZE);

	buf = nb_big_alloc(max_bytes);
	perm = malloc(max_lines * sizeof(*perm));
	if (!buf || !perm) {
		st = nb_fail(NB_ERR_NOMEM, "cache measurement: cannot allocate %zu bytes",
			     max_bytes);
		goto free_bufs;
	}
	memset(buf, 0, max_bytes);   /* first touch, outside any timing */
	/* one random order of all lines (Fisher-Yates); each size links the
	 * lines below its count in that order, so every size gets a random
	 * cycle the prefetchers cannot follow */
	for (size_t k = 0; k < max_lines; k++)
		perm[k] = (uint32_t)k;
	nb_rng_seed(&rng, 0x6361636865ull);
	for (size_t k = max_lines - 1; k > 0; k--) {
		size_t j = (size_t)nb_rng_below(&rng, k + 1);
		uint32_t t = perm[k];
		perm[k] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < NB_CHASE_POINTS; i++) {
		double bytes = pow(2.0, NB_CHASE_MIN_LOG2 + (double)i / 4.0);
		size_t lines = (size_t)(bytes / 64.0);
		size[i] = lines * 64;
		lat[i] = nb_chase(buf, perm, max_lines, lines);
	}
	/* NB_DEBUG_CACHES=1 prints the curve: to judge the knees by eye */
	if (getenv("NB_DEBUG_CACHES"))
		for (size_t i = 0; i < NB_CHASE_POINTS; i++)
			fprintf(stderr, "chase %10zu B %8.2f ns\n", size[i], lat[i]);
	found = nb_find_knees(lat, NB_CHASE_POINTS, knee, plat);
	if (found > 0)
		out->measured_l1d = size[knee[0]];
	if (found > 1)
		out->measured_l2 = size[knee[1]];
	if (found > 2)
		out->measured_l3 = size[knee[2]];
	for (int k = 0; k < 4; k++)
		out->latency_ns[k] = plat[k];
	snprintf(out->method, sizeof(out->method),
		 "pointer chase, 64 B lines, 4K..72M in quarter octaves, steepest step of each 1.5x rise");
free_bufs:
	free(perm);
	free(buf);
	return st;
}

size_t nb_cache_last_level_bytes(const struct nb_cache_levels *c)
{
	size_t m = c->measured_l3;

	if (c->os_l3 > m)
		m = c->os_l3;
	if (m == 0)
		m = c->measured_l2 > c->os_l2 ? c->measured_l2 : c->os_l2;
	return m > 32 * NB_MIB ? m : 32 * NB_MIB;
}

/* ---- the roofline table ---- */

enum nb_status nb_stream_table(const struct nb_cache_levels *caches, const int *threads,
			       size_t nthreads, double min_seconds,
			       struct nb_bandwidth **out, size_t *n)
{
	size_t l1 = caches->measured_l1d ? caches->measured_l1d
		    : caches->os_l1d ? caches->os_l1d : 32 * NB_KIB;
	size_t l2 = caches->measured_l2 ? caches->measured_l2
		    : caches->os_l2 ? caches->os_l2 : 512 * NB_KIB;
	size_t l3 = caches->measured_l3;
	size_t llc = nb_cache_last_level_bytes(caches);
	size_t dram = 4 * llc > 64 * NB_MIB ? 4 * llc : 64 * NB_MIB;
	size_t per = l3 ? 4 : 3, count = 0;
	struct nb_bandwidth *tab;
	enum nb_status st = NB_OK;

	*out = NULL;
	*n = 0;
	if (!threads || nthreads == 0)
		return nb_fail(NB_ERR_INVALID, "STREAM table: no thread counts");
	tab = calloc(nthreads * per, sizeof(*tab));
	if (!tab)
		return nb_fail(NB_ERR_NOMEM, "STREAM table: no memory");
	for (size_t ti = 0; ti < nthreads; ti++) {
		size_t t = threads[ti] > 0 ? (size_t)threads[ti] : 1;
		/* (the levels below, measured in this order for each count) */
		/* private levels (L1, L2) grow with the threads; L3 is shared */
		struct { const char *name; size_t array, level; } pts[4] = {
			{ "L1", t * l1 / 4, t * l1 },
			{ "L2", t * l2 / 4, t * l2 },
			{ "L3", l3 / 4, l3 },
			{ "DRAM", dram, 0 },
		};
		for (size_t k = 0; k < 4; k++) {
			if (k == 2 && !l3)
				continue;
			st = nb_stream_measure(threads[ti], pts[k].array < 4 * NB_KIB
					       ? 4 * NB_KIB : pts[k].array, min_seconds,
					       &tab[count]);
			if (st != NB_OK)
				goto free_tab;
			tab[count].level = pts[k].name;
			tab[count].level_bytes = pts[k].level;
			count++;
		}
	}
	st = nb_stream_sanity(tab, count, min_seconds, NB_STREAM_RETRIES, NULL, NULL, NULL);
	if (st != NB_OK)
		goto free_tab;
	*out = tab;
	*n = count;
	return NB_OK;
free_tab:
	free(tab);
	return st;
}

static enum nb_status nb_stream_measure_default(void *ctx, int threads, size_t array_bytes,
						double min_seconds, struct nb_bandwidth *out)
{
	(void)ctx;
	return nb_stream_measure(threads, array_bytes, min_seconds, out);
}

/* Appends printf text to the entry's note ("; " between parts). */
__attribute__((format(printf, 2, 3)))
static void nb_note_add(struct nb_bandwidth *e, const char *fmt, ...)
{
	size_t used = strlen(e->note);
	va_list ap;

	if (used && used + 2 < sizeof(e->note)) {
		memcpy(e->note + used, "; ", 3);
		used += 2;
	}
	if (used + 1 >= sizeof(e->note))
		return;
	va_start(ap, fmt);
	vsnprintf(e->note + used, sizeof(e->note) - used, fmt, ap);
	va_end(ap);
}

static double nb_better(double a, double b)
{
	if (isnan(a))
		return b;
	if (isnan(b))
		return a;
	return a > b ? a : b;
}

void nb_stream_merge(struct nb_bandwidth *e, const struct nb_bandwidth *again)
{
	e->read_gbps = nb_better(e->read_gbps, again->read_gbps);
	e->copy_gbps = nb_better(e->copy_gbps, again->copy_gbps);
	e->copy_nt_gbps = nb_better(e->copy_nt_gbps, again->copy_nt_gbps);
	e->reps += again->reps;
	if (e->shared_cpu_reps >= 0 && again->shared_cpu_reps >= 0)
		e->shared_cpu_reps += again->shared_cpu_reps;
	else
		e->shared_cpu_reps = -1;
	e->pinned = e->pinned && again->pinned;
	e->rounds += again->rounds;
	e->busy_rounds += again->busy_rounds;
	e->measurements++;
}

/* The kernels whose figure in e lies below the best of the entries with
 * fewer threads at e's level: bit 0 read, 1 copy, 2 copy_nt. worst gets
 * the fewer-thread count of the largest shortfall. */
static unsigned nb_stream_below(const struct nb_bandwidth *tab, size_t n, size_t i,
				int *fewer)
{
	const struct nb_bandwidth *e = &tab[i];
	unsigned bad = 0;

	*fewer = 0;
	if (!e->level)
		return 0;
	for (size_t j = 0; j < n; j++) {
		const struct nb_bandwidth *f = &tab[j];
		const double mine[3] = { e->read_gbps, e->copy_gbps, e->copy_nt_gbps };
		const double theirs[3] = { f->read_gbps, f->copy_gbps, f->copy_nt_gbps };

		if (j == i || !f->level || f->threads >= e->threads || strcmp(f->level, e->level))
			continue;
		for (int k = 0; k < 3; k++)
			if (mine[k] < theirs[k]) {     /* false when either is NaN */
				bad |= 1u << k;
				*fewer = f->threads;
			}
	}
	return bad;
}

static enum nb_status nb_stream_sanity_some(struct nb_bandwidth *tab, size_t n,
					    double min_seconds, int retries,
					    nb_stream_measure_fn fn, void *ctx,
					    size_t *remeasured, bool dram_only)
{
	static const char *const names[3] = { "read", "copy", "copy_nt" };

	if (!fn)
		fn = nb_stream_measure_default;
	if (remeasured)
		*remeasured = 0;
	for (size_t i = 0; i < n; i++) {
		struct nb_bandwidth *e = &tab[i];
		int fewer = 0, tries = 0;
		unsigned bad = dram_only && e->level_bytes != 0 ? 0
			: nb_stream_below(tab, n, i, &fewer);

		while (bad && tries < retries) {
			struct nb_bandwidth again;
			enum nb_status st = fn(ctx, e->threads, e->bytes, min_seconds, &again);
			if (st != NB_OK)
				return st;
			nb_stream_merge(e, &again);
			tries++;
			if (remeasured)
				(*remeasured)++;
			bad = nb_stream_below(tab, n, i, &fewer);
		}
		if (bad) {
			char list[32] = "";
			for (int k = 0; k < 3; k++)
				if (bad & (1u << k))
					snprintf(list + strlen(list), sizeof(list) - strlen(list),
						 "%s%s", list[0] ? "," : "", names[k]);
			nb_note_add(e, "%s below %d thread%s after %d re-measurement%s (kept)",
				    list, fewer, fewer > 1 ? "s" : "", tries, tries == 1 ? "" : "s");
		} else if (tries) {
			nb_note_add(e, "re-measured %dx (was below fewer threads)", tries);
		}
	}
	return NB_OK;
}

enum nb_status nb_stream_sanity(struct nb_bandwidth *tab, size_t n, double min_seconds,
				int retries, nb_stream_measure_fn fn, void *ctx,
				size_t *remeasured)
{
	return nb_stream_sanity_some(tab, n, min_seconds, retries, fn, ctx, remeasured, false);
}

enum nb_status nb_stream_sanity_dram(struct nb_bandwidth *tab, size_t n, double min_seconds,
				     int retries, nb_stream_measure_fn fn, void *ctx,
				     size_t *remeasured)
{
	return nb_stream_sanity_some(tab, n, min_seconds, retries, fn, ctx, remeasured, true);
}

enum nb_status nb_stream_second_window(struct nb_bandwidth *tab, size_t n,
				       double min_seconds, nb_stream_measure_fn fn,
				       void *ctx)
{
	if (!fn)
		fn = nb_stream_measure_default;
	for (size_t i = 0; i < n; i++) {
		struct nb_bandwidth *e = &tab[i], again;
		enum nb_status st;

		if (e->level_bytes != 0)
			continue;
		st = fn(ctx, e->threads, e->bytes, min_seconds, &again);
		if (st != NB_OK)
			return st;
		nb_note_add(e, "windows start/end read %.1f/%.1f copy %.1f/%.1f copy_nt "
			    "%.1f/%.1f", e->read_gbps, again.read_gbps, e->copy_gbps,
			    again.copy_gbps, e->copy_nt_gbps, again.copy_nt_gbps);
		nb_stream_merge(e, &again);
	}
	return nb_stream_sanity_dram(tab, n, min_seconds, NB_STREAM_RETRIES, fn, ctx, NULL);
}

bool nb_above_limit(double gbps, double limit_gbps)
{
	return isfinite(gbps) && isfinite(limit_gbps) && limit_gbps > 0 &&
	       gbps > (1.0 + NB_LIMIT_TOLERANCE) * limit_gbps;
}

/* The L1 level and the DRAM footprint of threads t: the range in which a
 * cell gets a point of its own. */
static void nb_cell_range(const struct nb_bandwidth *tab, size_t n, int t, size_t *lo,
			  size_t *hi)
{
	*lo = 0;
	*hi = 0;
	for (size_t i = 0; i < n; i++) {
		const struct nb_bandwidth *e = &tab[i];

		if (e->threads != t || !e->level)
			continue;
		if (!strcmp(e->level, "L1") && e->level_bytes > *lo)
			*lo = e->level_bytes;
		if (e->level_bytes == 0 && 2 * e->bytes > *hi)
			*hi = 2 * e->bytes;
	}
}

/* Whether threads t already has a "cell" point within 1/8 of ws. */
static bool nb_cell_measured(const struct nb_bandwidth *tab, size_t n, int t, size_t ws)
{
	for (size_t i = 0; i < n; i++) {
		const struct nb_bandwidth *e = &tab[i];

		if (e->threads == t && e->level && !strcmp(e->level, "cell") &&
		    e->level_bytes >= ws && e->level_bytes - ws <= ws / 8)
			return true;
	}
	return false;
}

static int nb_cmp_desc(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x < y) - (x > y);
}

enum nb_status nb_stream_add_cell_points(struct nb_bandwidth **tab, size_t *n,
					 const double *ws_in, size_t nws, double min_seconds)
{
	size_t base;
	enum nb_status result = NB_OK;
	double *ws;

	if (!tab || !*tab || !n)
		return nb_fail(NB_ERR_INVALID, "STREAM cell points: no table");
	base = *n;
	/* largest first: a smaller size within 1/8 below then shares its point
	 * (a point serves every working set up to its own size) */
	ws = malloc((nws ? nws : 1) * sizeof(double));
	if (!ws)
		return nb_fail(NB_ERR_NOMEM, "STREAM cell points: no memory");
	if (nws)
		memcpy(ws, ws_in, nws * sizeof(double));
	qsort(ws, nws, sizeof(double), nb_cmp_desc);
	for (size_t b = 0; b < base; b++) {
		int t = (*tab)[b].threads;
		size_t lo, hi;
		bool first = true;

		/* each thread count once (its first entry) */
		for (size_t c = 0; c < b; c++)
			if ((*tab)[c].threads == t)
				first = false;
		if (!first)
			continue;
		nb_cell_range(*tab, base, t, &lo, &hi);
		for (size_t w = 0; w < nws; w++) {
			size_t size = ws[w] > 0 && ws[w] < 1e15 ? (size_t)ws[w] : 0;
			struct nb_bandwidth e, *grown;
			enum nb_status st;

			if (size <= lo || (hi && size >= hi) || nb_cell_measured(*tab, *n, t, size))
				continue;
			st = nb_stream_measure(t, size / 2, min_seconds, &e);
			if (st != NB_OK) {
				result = st;
				goto out;
			}
			e.level = "cell";
			e.level_bytes = size;
			grown = realloc(*tab, (*n + 1) * sizeof(**tab));
			if (!grown) {
				result = nb_fail(NB_ERR_NOMEM, "STREAM cell points: no memory");
				goto out;
			}
			*tab = grown;
			(*tab)[(*n)++] = e;
		}
	}
out:
	free(ws);
	return result;
}

double nb_limit_gbps(const struct nb_bandwidth *table, size_t n, int threads,
		     size_t working_set_bytes)
{
	int best_t = -1;
	const struct nb_bandwidth *pick = NULL;

	if (!table || n == 0)
		return NAN;
	/* the thread count: exact, else the nearest measured one */
	for (size_t i = 0; i < n; i++)
		if (best_t < 0 || abs(table[i].threads - threads) < abs(best_t - threads))
			best_t = table[i].threads;
	for (size_t i = 0; i < n; i++) {
		const struct nb_bandwidth *e = &table[i];
		if (e->threads != best_t)
			continue;
		if (e->level_bytes != 0 && e->level_bytes < working_set_bytes)
			continue;
		/* the smallest level that holds the working set; DRAM (0) last */
		if (!pick || (pick->level_bytes == 0 && e->level_bytes != 0) ||
		    (e->level_bytes != 0 && e->level_bytes < pick->level_bytes))
			pick = e;
	}
	if (!pick) {
		/* no DRAM entry and nothing large enough: the largest level */
		for (size_t i = 0; i < n; i++)
			if (table[i].threads == best_t &&
			    (!pick || table[i].level_bytes > pick->level_bytes))
				pick = &table[i];
	}
	return fmax(pick->copy_gbps, pick->copy_nt_gbps);
}
