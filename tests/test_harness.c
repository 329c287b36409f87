/* The harness's guards against a disturbed machine: the /proc/stat parser
 * and busy rule, the cell notes (busy, above the limit), the STREAM sanity
 * rule and second window with an injected measurement, calibration with a
 * pre-empted probe, the optional results fields of older files, and
 * `run --buffer-offset` from the outside. No timing is asserted. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include "bench/nb_busy.h"
#include "bench/nb_commands.h"
#include "bench/nb_results.h"
#include "bench/nb_stream.h"
#include "bench/nb_timer.h"
#include "bench/nb_workers.h"
#include "tests/nb_test.h"

/* ---- /proc/stat ---- */

static const char nb_stat_text[] =
	"cpu  1467239 2895 279800 527224 918 0 1059 77 0 0\n"
	"cpu0 712127 1411 135196 290113 165 0 449 40 0 0\n"
	"cpu1 755112 1484 144604 237111 753 0 610 37 0 0\n"
	"intr 5816707 0 0 0 0 0\n"
	"ctxt 6606257\n"
	"btime 1700000000\n"
	"processes 15105\n"
	"procs_running 3\n"
	"procs_blocked 0\n"
	"softirq 1 2 3\n";

START_TEST(test_procstat_parse)
{
	struct nb_procstat ps;

	ck_assert(nb_procstat_parse(nb_stat_text, &ps));
	ck_assert_int_eq(ps.procs_running, 3);
	ck_assert_int_eq(ps.steal_ticks, 77);
	/* an old kernel's cpu line without steal: steal 0, still parsed */
	ck_assert(nb_procstat_parse("cpu  10 20 30 40\nprocs_running 1\n", &ps));
	ck_assert_int_eq(ps.procs_running, 1);
	ck_assert_int_eq(ps.steal_ticks, 0);
	/* the last line without a newline */
	ck_assert(nb_procstat_parse("cpu  1 2 3 4 5 6 7 8\nprocs_running 12", &ps));
	ck_assert_int_eq(ps.procs_running, 12);
	ck_assert_int_eq(ps.steal_ticks, 8);
	/* what must not parse */
	ck_assert(!nb_procstat_parse("cpu  1 2 3 4 5 6 7 8\n", &ps));        /* no procs_running */
	ck_assert(!nb_procstat_parse("procs_running 2\n", &ps));             /* no cpu line */
	ck_assert(!nb_procstat_parse("cpu0 1 2 3 4\nprocs_running 2\n", &ps)); /* cpu0 only */
	ck_assert(!nb_procstat_parse("cpu  1 2 3 4\nxprocs_running 2\n", &ps));
	ck_assert(!nb_procstat_parse("cpu  1 2 3 4\nprocs_running two\n", &ps));
	ck_assert(!nb_procstat_parse("cpu  1 2 3 4\nprocs_running 2x\n", &ps));
	ck_assert(!nb_procstat_parse("cpu  1 2\nprocs_running 2\n", &ps));  /* too short */
	ck_assert(!nb_procstat_parse("", &ps));
	ck_assert(!nb_procstat_parse(NULL, &ps));
}
END_TEST

START_TEST(test_busy_probe_files)
{
	char path[] = "/tmp/nb_test_stat.XXXXXX";
	int fd = mkstemp(path);
	struct nb_busy_probe p;
	struct nb_procstat ps;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, nb_stat_text, strlen(nb_stat_text)),
			 (ssize_t)strlen(nb_stat_text));
	close(fd);
	nb_busy_open(&p, path);
	ck_assert_int_ge(p.fd, 0);
	ck_assert(nb_busy_read(&p, &ps));
	ck_assert(nb_busy_read(&p, &ps));        /* pread: again from the start */
	ck_assert_int_eq(ps.procs_running, 3);
	nb_busy_close(&p);
	ck_assert(!nb_busy_read(&p, &ps));
	unlink(path);

	/* missing: no failure, a reason, and every read says "unknown" */
	nb_busy_open(&p, "/nonexistent/stat");
	ck_assert_int_lt(p.fd, 0);
	ck_assert_ptr_nonnull(strstr(p.why, "/nonexistent/stat"));
	ck_assert(!nb_busy_read(&p, &ps));
	nb_busy_close(&p);

	/* the real one, where there is one */
	if (access("/proc/stat", R_OK) == 0) {
		nb_busy_open(&p, NULL);
		ck_assert_msg(p.fd >= 0, "%s", p.why);
		ck_assert(nb_busy_read(&p, &ps));
		ck_assert_int_ge(ps.procs_running, 1);    /* this test is running */
		nb_busy_close(&p);
	}
}
END_TEST

/* The process's own runnable tasks: at least the caller; more than the
 * cell's threads is oversubscribed (never discounted), unknown is not. */
START_TEST(test_busy_own_running)
{
	char notes[160] = "busy (3 of 5 samples)", small[24] = "busy";
	int own = nb_busy_own_running();

	if (access("/proc/self/task", R_OK) == 0) {
		ck_assert_int_ge(own, 1);
		ck_assert_int_le(own, 4096);
	}
	ck_assert(nb_busy_oversubscribed(3, 2));
	ck_assert(!nb_busy_oversubscribed(2, 2));
	ck_assert(!nb_busy_oversubscribed(-1, 2));
	nb_note_oversubscribed(notes, sizeof(notes), false);
	ck_assert_str_eq(notes, "busy (3 of 5 samples)");
	nb_note_oversubscribed(notes, sizeof(notes), true);
	ck_assert_str_eq(notes, "busy (3 of 5 samples); oversubscribed (more runnable threads "
			 "of this process than the cell's threads)");
	nb_note_oversubscribed(small, sizeof(small), true);
	ck_assert_str_eq(small, "busy");
	{
		/* threads that ran >= 5% of a 100 ms sample: 1 and 3 (2 ran 1 ms,
		 * 4 is new, 5 ended); an empty snapshot is unknown; this process
		 * reads at least its own thread */
		static struct nb_own_cpu a = { 4, { 1, 2, 3, 5 }, { 0, 0, 0, 0 } };
		static struct nb_own_cpu b = { 4, { 1, 2, 3, 4 },
					       { 50000000, 1000000, 5000000, 90000000 } };
		static struct nb_own_cpu none, self;

		ck_assert_int_eq(nb_own_cpu_active(&a, &b, 100000000, NB_OWN_ACTIVE_FRAC), 2);
		ck_assert_int_eq(nb_own_cpu_active(&a, &b, 100000000, 0.0), 3);
		ck_assert_int_eq(nb_own_cpu_active(&none, &b, 100000000, 0.05), -1);
		nb_own_cpu_read(&self);
		if (access("/proc/self/task", R_OK) == 0)
			ck_assert_uint_ge(self.n, 1);
	}
}
END_TEST

START_TEST(test_busy_sample_and_verdict)
{
	struct nb_procstat a = { .procs_running = 1, .steal_ticks = 100 };
	struct nb_procstat b = { .procs_running = 3, .steal_ticks = 102 };
	int32_t pr, st;
	size_t busy, known;

	nb_busy_sample(true, &a, true, &b, &pr, &st);
	ck_assert_int_eq(pr, 3);
	ck_assert_int_eq(st, 2);
	nb_busy_sample(true, &b, true, &a, &pr, &st);   /* steal never negative */
	ck_assert_int_eq(pr, 3);
	ck_assert_int_eq(st, 0);
	nb_busy_sample(false, &a, true, &b, &pr, &st);
	ck_assert_int_eq(pr, -1);
	ck_assert_int_eq(st, -1);

	{
		/* 1 thread: 3 of 5 samples saw 2 runnable tasks -> busy */
		const int32_t r1[] = { 2, 2, 1, 2, 1 }, s0[] = { 0, 0, 0, 0, 0 };
		ck_assert_int_eq(nb_busy_verdict(r1, s0, 5, 1, &busy, &known), NB_BUSY_YES);
		ck_assert_uint_eq(busy, 3);
		ck_assert_uint_eq(known, 5);
		/* the same samples of a 2-thread cell: its own threads only */
		ck_assert_int_eq(nb_busy_verdict(r1, s0, 5, 2, &busy, NULL), NB_BUSY_NO);
		ck_assert_uint_eq(busy, 0);
	}
	{
		/* exactly half is not "mostly" */
		const int32_t r[] = { 2, 2, 1, 1 };
		ck_assert_int_eq(nb_busy_verdict(r, NULL, 4, 1, &busy, NULL), NB_BUSY_NO);
		ck_assert_uint_eq(busy, 2);
	}
	{
		/* steal alone makes a sample busy */
		const int32_t r[] = { 1, 1, 1 }, s[] = { 1, 3, 0 };
		ck_assert_int_eq(nb_busy_verdict(r, s, 3, 1, &busy, NULL), NB_BUSY_YES);
	}
	{
		/* unknown samples count as not busy; all unknown -> unknown */
		const int32_t r[] = { -1, 3, -1, -1 }, u[] = { -1, -1 }, s[] = { -1, 0, -1, -1 };
		ck_assert_int_eq(nb_busy_verdict(r, s, 4, 1, &busy, &known), NB_BUSY_NO);
		ck_assert_uint_eq(known, 1);
		ck_assert_int_eq(nb_busy_verdict(u, u, 2, 1, &busy, &known), NB_BUSY_UNKNOWN);
		ck_assert_uint_eq(known, 0);
		ck_assert_int_eq(nb_busy_verdict(u, u, 0, 1, NULL, NULL), NB_BUSY_UNKNOWN);
	}
}
END_TEST

/* ---- the notes of a cell ---- */

START_TEST(test_above_limit_and_notes)
{
	char buf[NB_RES_TEXT];

	ck_assert(!nb_above_limit(105.0, 100.0));          /* 5% is the tolerance */
	ck_assert(nb_above_limit(105.1, 100.0));
	ck_assert(nb_above_limit(180.0, 100.0));
	ck_assert(!nb_above_limit(99.0, 100.0));
	ck_assert(!nb_above_limit(180.0, NAN));             /* no limit: no verdict */
	ck_assert(!nb_above_limit(180.0, 0.0));
	ck_assert(!nb_above_limit(NAN, 100.0));
	ck_assert(!nb_above_limit(INFINITY, 100.0));

	nb_cell_notes(buf, sizeof(buf), 90.0, 100.0, NB_BUSY_NO, 0, 20, NULL);
	ck_assert_str_eq(buf, "");
	/* the case of the issue: 180% of a limit measured in a bad window */
	nb_cell_notes(buf, sizeof(buf), 86.4, 48.0, NB_BUSY_NO, 0, 20, NULL);
	ck_assert_str_eq(buf, "above limit (180% of 48.0 GB/s): limit suspect");
	nb_cell_notes(buf, sizeof(buf), 50.0, 100.0, NB_BUSY_YES, 14, 20, NULL);
	ck_assert_str_eq(buf, "busy (14 of 20 samples beside another runnable task)");
	nb_cell_notes(buf, sizeof(buf), 200.0, 100.0, NB_BUSY_YES, 11, 20, NULL);
	ck_assert_str_eq(buf, "above limit (200% of 100.0 GB/s): limit suspect; busy (11 of 20 "
			 "samples beside another runnable task)");
	nb_cell_notes(buf, sizeof(buf), 50.0, 100.0, NB_BUSY_UNKNOWN, 0, 20,
		      "cannot open /proc/stat: Permission denied");
	ck_assert_str_eq(buf, "busy unknown (cannot open /proc/stat: Permission denied)");
	nb_cell_notes(buf, sizeof(buf), 50.0, 100.0, NB_BUSY_UNKNOWN, 0, 20, "");
	ck_assert_str_eq(buf, "busy unknown (/proc/stat not read)");
	/* a short buffer is cut, never overrun */
	nb_cell_notes(buf, 12, 200.0, 100.0, NB_BUSY_YES, 11, 20, NULL);
	ck_assert_uint_eq(strlen(buf), 11);
}
END_TEST

/* ---- STREAM: the sanity rule and the second window, injected ---- */

/* A scripted stand-in for nb_stream_measure: each call returns the next
 * figures of the script (read, copy, copy_nt) and counts itself. */
struct nb_fake {
	double figs[8][3];
	int next, calls;
	int threads[8];
};

static enum nb_status nb_fake_measure(void *ctx, int threads, size_t bytes, double min_s,
				      struct nb_bandwidth *out)
{
	struct nb_fake *f = ctx;
	int k = f->next < 7 ? f->next++ : 7;

	(void)min_s;
	f->threads[f->calls < 8 ? f->calls : 7] = threads;
	f->calls++;
	*out = (struct nb_bandwidth){ .threads = threads, .bytes = bytes,
		.read_gbps = f->figs[k][0], .copy_gbps = f->figs[k][1],
		.copy_nt_gbps = f->figs[k][2], .copy_nt_isa = "avx512", .reps = 10,
		.shared_cpu_reps = 0, .measurements = 1 };
	return NB_OK;
}

static void nb_fake_table(struct nb_bandwidth t[4])
{
	memset(t, 0, 4 * sizeof(*t));
	t[0] = (struct nb_bandwidth){ .threads = 1, .level = "L1", .level_bytes = 48 << 10,
		.bytes = 12 << 10, .read_gbps = 400, .copy_gbps = 450, .copy_nt_gbps = 80,
		.reps = 10, .measurements = 1 };
	t[1] = (struct nb_bandwidth){ .threads = 1, .level = "DRAM", .bytes = 128 << 20,
		.read_gbps = 48, .copy_gbps = 45, .copy_nt_gbps = 55, .reps = 10,
		.measurements = 1 };
	t[2] = (struct nb_bandwidth){ .threads = 2, .level = "L1", .level_bytes = 96 << 10,
		.bytes = 24 << 10, .read_gbps = 800, .copy_gbps = 900, .copy_nt_gbps = 160,
		.reps = 10, .measurements = 1 };
	/* the run of the issue: 2 threads below 1 thread at DRAM */
	t[3] = (struct nb_bandwidth){ .threads = 2, .level = "DRAM", .bytes = 128 << 20,
		.read_gbps = 60, .copy_gbps = 48.0, .copy_nt_gbps = 40.4, .reps = 10,
		.measurements = 1 };
}

START_TEST(test_stream_sanity_remeasures)
{
	struct nb_bandwidth t[4];
	struct nb_fake f = { .figs = { { 100, 80, 110 } } };
	size_t again = 0;

	/* the first re-measurement is sane: merged, one call, noted */
	nb_fake_table(t);
	ck_assert_int_eq(nb_stream_sanity(t, 4, 0.1, 2, nb_fake_measure, &f, &again), NB_OK);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_uint_eq(again, 1);
	ck_assert_int_eq(f.threads[0], 2);
	ck_assert(t[3].copy_gbps == 80 && t[3].copy_nt_gbps == 110 && t[3].read_gbps == 100);
	ck_assert_int_eq(t[3].measurements, 2);
	ck_assert_int_eq(t[3].reps, 20);
	ck_assert_ptr_nonnull(strstr(t[3].note, "re-measured 1x"));
	/* the others were sane and untouched */
	ck_assert_str_eq(t[0].note, "");
	ck_assert_str_eq(t[2].note, "");
	ck_assert(t[2].copy_gbps == 900);

	/* it stays below: two re-measurements, the best kept, said so */
	nb_fake_table(t);
	f = (struct nb_fake){ .figs = { { 30, 30, 30 }, { 61, 44, 41 } } };
	ck_assert_int_eq(nb_stream_sanity(t, 4, 0.1, 2, nb_fake_measure, &f, &again), NB_OK);
	ck_assert_int_eq(f.calls, 2);
	ck_assert(t[3].read_gbps == 61 && t[3].copy_gbps == 48.0 && t[3].copy_nt_gbps == 41);
	ck_assert_ptr_nonnull(strstr(t[3].note, "copy_nt below 1 thread after 2 "
				     "re-measurements (kept)"));

	/* levels are compared with their own level only: 2-thread L1 below
	 * 1-thread DRAM would be absurd, but L1 vs L1 is the rule */
	nb_fake_table(t);
	t[2].copy_gbps = 300;          /* below the 1-thread L1 copy (450) */
	t[3].copy_gbps = 80;
	t[3].copy_nt_gbps = 110;
	f = (struct nb_fake){ .figs = { { 800, 900, 160 } } };
	ck_assert_int_eq(nb_stream_sanity(t, 4, 0.1, 2, nb_fake_measure, &f, &again), NB_OK);
	ck_assert_int_eq(f.calls, 1);
	ck_assert_int_eq(f.threads[0], 2);
	ck_assert(t[2].copy_gbps == 900);
	ck_assert_str_eq(t[3].note, "");

	/* NaN (no streaming store below AVX2) never counts as below */
	nb_fake_table(t);
	t[3].copy_gbps = 80;
	t[3].copy_nt_gbps = NAN;
	t[3].read_gbps = 90;
	f = (struct nb_fake){ .figs = { { 1, 1, 1 } } };
	ck_assert_int_eq(nb_stream_sanity(t, 4, 0.1, 2, nb_fake_measure, &f, &again), NB_OK);
	ck_assert_int_eq(f.calls, 0);
}
END_TEST

START_TEST(test_stream_second_window)
{
	struct nb_bandwidth t[4];
	/* window 2 of the 1-thread DRAM point, then of the 2-thread one */
	struct nb_fake f = { .figs = { { 47, 46, 54 }, { 110, 79, 112 } } };

	nb_fake_table(t);
	ck_assert_int_eq(nb_stream_second_window(t, 4, 0.1, nb_fake_measure, &f), NB_OK);
	/* only the DRAM points, and the rule then holds with no more calls */
	ck_assert_int_eq(f.calls, 2);
	ck_assert_int_eq(f.threads[0], 1);
	ck_assert_int_eq(f.threads[1], 2);
	/* best of the two windows, op by op */
	ck_assert(t[1].read_gbps == 48 && t[1].copy_gbps == 46 && t[1].copy_nt_gbps == 55);
	ck_assert(t[3].read_gbps == 110 && t[3].copy_gbps == 79 && t[3].copy_nt_gbps == 112);
	ck_assert_int_eq(t[3].measurements, 2);
	ck_assert_ptr_nonnull(strstr(t[3].note, "windows start/end read 60.0/110.0 copy "
				     "48.0/79.0 copy_nt 40.4/112.0"));
	ck_assert_str_eq(t[0].note, "");
	ck_assert_int_eq(t[0].measurements, 1);
	/* the limit of a DRAM-sized 2-thread cell is the better copy of the
	 * merged entry, no longer the 48 GB/s of the bad window */
	ck_assert(nb_limit_gbps(t, 4, 2, (size_t)256 << 20) == 112.0);
}
END_TEST

START_TEST(test_stream_merge_and_measure_fields)
{
	struct nb_bandwidth e = { .read_gbps = 10, .copy_gbps = NAN, .copy_nt_gbps = 5,
				  .reps = 10, .shared_cpu_reps = 2, .measurements = 1,
				  .pinned = true, .rounds = 10, .busy_rounds = 1 };
	struct nb_bandwidth g = { .read_gbps = 9, .copy_gbps = 7, .copy_nt_gbps = NAN,
				  .reps = 12, .shared_cpu_reps = -1, .measurements = 1,
				  .pinned = true, .rounds = 12, .busy_rounds = 3 };
	struct nb_bandwidth bw;

	nb_stream_merge(&e, &g);
	ck_assert(e.read_gbps == 10 && e.copy_gbps == 7 && e.copy_nt_gbps == 5);
	ck_assert_int_eq(e.reps, 22);
	ck_assert_int_eq(e.shared_cpu_reps, -1);
	ck_assert_int_eq(e.measurements, 2);
	ck_assert_int_eq(e.rounds, 22);
	ck_assert_int_eq(e.busy_rounds, 4);

	/* a real small point counts at least NB_STREAM_MIN_REPS repetitions,
	 * however short the time asked */
	ck_assert_int_eq(nb_stream_measure(1, 64 << 10, 0.0, &bw), NB_OK);
	ck_assert_int_ge(bw.reps, NB_STREAM_MIN_REPS);
	ck_assert_int_eq(bw.shared_cpu_reps, 0);
	ck_assert(!bw.pinned);
	ck_assert_int_eq(bw.measurements, 1);
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		ck_assert_int_eq(nb_stream_measure(2, 256 << 10, 0.0, &bw), NB_OK);
		ck_assert_int_ge(bw.reps, NB_STREAM_MIN_REPS);
		ck_assert_int_ge(bw.shared_cpu_reps, 0);
	}
}
END_TEST

/* ---- calibration ---- */

/* A scripted probe: every call costs per_call ns; the probes listed in
 * stall[] (1-based probe numbers) are pre-empted for stall_ns more. */
struct nb_fake_probe {
	double per_call, stall_ns;
	int stall[4];
	int probes;
	int fail_at;
};

static enum nb_status nb_fake_probe_fn(void *ctx, uint64_t batch, double *ns)
{
	struct nb_fake_probe *p = ctx;

	p->probes++;
	if (p->fail_at && p->probes == p->fail_at)
		return nb_fail(NB_ERR_INVALID, "probe failed");
	*ns = p->per_call * (double)batch;
	for (int i = 0; i < 4; i++)
		if (p->stall[i] == p->probes)
			*ns += p->stall_ns;
	return NB_OK;
}

static bool nb_always_stop(void)
{
	return true;
}

/*
 * STREAM points at the cells' own sizes: only between L1 and the DRAM
 * point's footprint, one per thread count, sizes within 1/8 share a point,
 * and nb_limit_gbps then takes the cell's own point over L3 and DRAM.
 */
START_TEST(test_stream_cell_points)
{
	struct nb_bandwidth *tab = calloc(4, sizeof(*tab));
	size_t n = 4, added;
	/* below L1; between (twice, the second within 1/8 below the first);
	 * another; at the DRAM footprint */
	const double ws[] = { 16 << 10, (1 << 20) - (64 << 10), 1 << 20, 2 << 20, 64 << 20 };

	ck_assert_ptr_nonnull(tab);
	tab[0] = (struct nb_bandwidth){ .threads = 1, .bytes = 8 << 10, .level = "L1",
					.level_bytes = 32 << 10, .copy_gbps = 400 };
	tab[1] = (struct nb_bandwidth){ .threads = 1, .bytes = 128 << 10, .level = "L2",
					.level_bytes = 512 << 10, .copy_gbps = 200 };
	tab[2] = (struct nb_bandwidth){ .threads = 1, .bytes = 1 << 20, .level = "L3",
					.level_bytes = 4 << 20, .copy_gbps = 100 };
	tab[3] = (struct nb_bandwidth){ .threads = 1, .bytes = 32 << 20, .level = "DRAM",
					.level_bytes = 0, .copy_gbps = 40 };
	ck_assert_int_eq(nb_stream_add_cell_points(&tab, &n, ws, 5, 0.0), NB_OK);
	added = n - 4;
	ck_assert_uint_eq(added, 2);
	for (size_t i = 4; i < n; i++) {
		ck_assert_str_eq(tab[i].level, "cell");
		ck_assert_int_eq(tab[i].threads, 1);
		ck_assert_uint_eq(tab[i].bytes * 2, tab[i].level_bytes);
		ck_assert(tab[i].copy_gbps > 0 && isfinite(tab[i].copy_gbps));
	}
	/* largest first */
	ck_assert_uint_eq(tab[4].level_bytes, 2 << 20);
	ck_assert_uint_eq(tab[5].level_bytes, 1 << 20);
	/* a 1 MiB cell's limit is its own point, not L3's or DRAM's; the
	 * 960 KiB one shares it */
	ck_assert(nb_limit_gbps(tab, n, 1, 1 << 20) ==
		  fmax(tab[5].copy_gbps, tab[5].copy_nt_gbps));
	ck_assert(nb_limit_gbps(tab, n, 1, (1 << 20) - (64 << 10)) ==
		  fmax(tab[5].copy_gbps, tab[5].copy_nt_gbps));
	/* a 3 MiB cell has no point of its own: L3 */
	ck_assert(nb_limit_gbps(tab, n, 1, 3 << 20) == 100);
	/* the same sizes again add nothing */
	ck_assert_int_eq(nb_stream_add_cell_points(&tab, &n, ws, 5, 0.0), NB_OK);
	ck_assert_uint_eq(n, 6);
	free(tab);
}
END_TEST

START_TEST(test_calibrate_ignores_a_preempted_probe)
{
	struct nb_calibration cal;
	/* 1 us per call, 5 ms samples: 5000 calls */
	struct nb_fake_probe clean = { .per_call = 1000 };
	/* the probe that ends the doubling (batch 2048: probe 12) loses 40 ms
	 * to another task: a single probe would give 2048 * 5 ms / 42 ms = 243 */
	struct nb_fake_probe late = { .per_call = 1000, .stall_ns = 40e6, .stall = { 12 } };
	/* a stall during the doubling (probe 3, batch 4) ends it far too early;
	 * two more probes of the clean batch are stolen too */
	struct nb_fake_probe early = { .per_call = 1000, .stall_ns = 2e6,
				       .stall = { 3, 4, 6 } };
	struct nb_fake_probe failing = { .per_call = 1000, .fail_at = 2 };
	struct nb_fake_probe stopped = { .per_call = 1000 };

	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &clean, 5e6, 100e6, NULL, &cal), NB_OK);
	ck_assert_uint_eq(cal.iterations, 5000);
	ck_assert_uint_eq(cal.batch, 2048);
	ck_assert_int_eq(cal.probes, 12 + NB_CAL_PROBES - 1);

	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &late, 5e6, 100e6, NULL, &cal), NB_OK);
	ck_assert_uint_eq(cal.iterations, 5000);
	ck_assert(cal.per_call_ns == 1000);

	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &early, 5e6, 100e6, NULL, &cal), NB_OK);
	ck_assert_uint_eq(cal.iterations, 5000);
	ck_assert_uint_ge(cal.batch, 1250);     /* re-probed at the size the rate asks */

	/* max_sample_ms caps; a call longer than the sample is one call */
	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &clean, 5e6, 2e6, NULL, &cal), NB_OK);
	ck_assert_uint_eq(cal.iterations, 2000);
	clean = (struct nb_fake_probe){ .per_call = 50e6 };
	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &clean, 5e6, 100e6, NULL, &cal), NB_OK);
	ck_assert_uint_eq(cal.iterations, 1);

	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &failing, 5e6, 100e6, NULL, &cal),
			 NB_ERR_INVALID);
	/* stop (Ctrl-C) ends it after the first probe, with an answer */
	ck_assert_int_eq(nb_calibrate(nb_fake_probe_fn, &stopped, 5e6, 100e6, nb_always_stop,
				      &cal), NB_OK);
	ck_assert_int_eq(stopped.probes, 1);
	ck_assert_uint_ge(cal.iterations, 1);
}
END_TEST

/* ---- results files without the newer optional fields ---- */

START_TEST(test_results_optional_fields)
{
	char path[] = "/tmp/nb_test_opt.XXXXXX";
	int fd = mkstemp(path);
	struct nb_results w, r;
	struct nb_cell_row c;
	struct nb_sample_row s = { .cell = 0, .round = 0, .seconds = 1e-3, .iterations = 1,
				   .ctx_switches = 0, .migrations = 0, .page_faults = 0,
				   .procs_running = 3, .steal_ticks = 0 };
	struct nb_stream_row sr;
	hid_t file, group;

	ck_assert_int_ge(fd, 0);
	close(fd);
	nb_results_init(&w);
	ck_assert_int_eq(w.meta.buffer_offset, -1);
	w.meta.complete = 1;
	w.meta.buffer_offset = 4096 + 64;
	nb_res_strcpy(w.meta.notes_rule, sizeof(w.meta.notes_rule), "rule");
	memset(&c, 0, sizeof(c));
	c.samples = 1;
	c.threads = 1;
	nb_res_strcpy(c.notes, sizeof(c.notes), "above limit (180% of 48.0 GB/s): limit suspect");
	memset(&sr, 0, sizeof(sr));
	sr.threads = 2;
	nb_res_strcpy(sr.level, sizeof(sr.level), "DRAM");
	nb_res_strcpy(sr.notes, sizeof(sr.notes), "20 reps, pinned");
	ck_assert_int_eq(nb_results_add_cell(&w, &c), NB_OK);
	ck_assert_int_eq(nb_results_add_sample(&w, &s), NB_OK);
	ck_assert_int_eq(nb_results_add_stream(&w, &sr), NB_OK);
	ck_assert_int_eq(nb_results_write(path, &w, true), NB_OK);
	nb_results_free(&w);

	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert_int_eq(r.meta.buffer_offset, 4096 + 64);
	ck_assert_str_eq(r.meta.notes_rule, "rule");
	ck_assert_str_eq(r.cells[0].notes, "above limit (180% of 48.0 GB/s): limit suspect");
	ck_assert_int_eq(r.samples[0].procs_running, 3);
	ck_assert_str_eq(r.stream[0].notes, "20 reps, pinned");
	nb_results_free(&r);

	/* a file written before these fields existed still reads: the fields
	 * hold "unknown" (-1, "") */
	file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	ck_assert_int_ge(file, 0);
	ck_assert_int_ge(H5Adelete(file, "buffer_offset"), 0);
	ck_assert_int_ge(H5Adelete(file, "notes_rule"), 0);
	group = H5Gopen2(file, "bench", H5P_DEFAULT);
	ck_assert_int_ge(H5TBdelete_field(group, "samples", "procs_running"), 0);
	ck_assert_int_ge(H5TBdelete_field(group, "samples", "steal_ticks"), 0);
	ck_assert_int_ge(H5TBdelete_field(group, "stream", "notes"), 0);
	/* and the worker-process fields (docs/gate.md): an old file is one
	 * process, a plain (not A/B) run */
	ck_assert_int_ge(H5TBdelete_field(group, "samples", "process"), 0);
	ck_assert_int_ge(H5TBdelete_field(group, "cells", "side"), 0);
	ck_assert_int_ge(H5TBdelete_field(group, "cells", "processes"), 0);
	ck_assert_int_ge(H5Adelete(file, "processes"), 0);
	ck_assert_int_ge(H5Adelete(file, "baseline"), 0);
	H5Gclose(group);
	H5Fclose(file);
	ck_assert_msg(nb_results_read(path, &r) == NB_OK, "%s", nb_error());
	ck_assert_int_eq(r.meta.buffer_offset, -1);
	ck_assert_str_eq(r.meta.notes_rule, "");
	ck_assert_int_eq(r.samples[0].procs_running, -1);
	ck_assert_int_eq(r.samples[0].steal_ticks, -1);
	ck_assert_int_eq(r.samples[0].process, 0);
	ck_assert_str_eq(r.cells[0].side, "");
	ck_assert_int_eq(r.cells[0].processes, 1);
	ck_assert_int_eq(r.meta.processes, 1);
	ck_assert_str_eq(r.meta.baseline, "");
	ck_assert(r.samples[0].seconds == 1e-3);
	ck_assert_str_eq(r.stream[0].notes, "");
	ck_assert_str_eq(r.stream[0].level, "DRAM");
	nb_results_free(&r);
	unlink(path);
}
END_TEST

/* ---- `normbench run --buffer-offset` and the notes, from the outside ---- */

/* Runs the binary (tests/nb_test.h); out and err are the caller's to free. */
static int nb_sh(const char *env, const char *args, char **out, char **err)
{
	return nb_test_run_bin("harness", false, env, args, out, err);
}

START_TEST(test_buffer_offset_rejects_bad_values)
{
	static const struct {
		const char *args, *message;
	} bad[] = {
		{ "--buffer-offset -64", "out of range" },
		{ "--buffer-offset abc", "not an integer" },
		{ "--buffer-offset 64k", "not an integer" },
		{ "--buffer-offset 1048577", "out of range" },
		{ "--buffer-offset 2097152", "out of range" },
		{ "--buffer-offset 6", "not a multiple of 4 bytes, the size of one f32 element" },
		{ "--buffer-offset 4 --dtypes f64", "not a multiple of 8 bytes" },
		{ "--buffer-offset 2 --dtypes bf16,f32", "not a multiple of 4 bytes" },
		{ "--buffer-offset", "needs a value" },
	};
	const char *file = nb_test_path("harness", "bad.h5");
	char args[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *err;
		int rc;
		snprintf(args, sizeof(args), "run --quick -o '%s' %s", file, bad[i].args);
		rc = nb_sh(NULL, args, NULL, &err);
		ck_assert_msg(rc == 1, "%s: exit %d: %s", bad[i].args, rc, err);
		ck_assert_msg(strstr(err, bad[i].message) != NULL, "%s: stderr lacks '%s': %s",
			      bad[i].args, bad[i].message, err);
		ck_assert_msg(strstr(err, "--buffer-offset") != NULL, "%s: %s", bad[i].args, err);
		ck_assert(!nb_test_exists(file));
		free(err);
	}
}
END_TEST

START_TEST(test_buffer_offset_run_verifies)
{
	const char *file = nb_test_path("harness", "off.h5");
	char args[512], *out, *err;
	struct nb_results r;
	int rc;

	/* an offset that is a multiple of 2 but not of 4, on bf16 */
	snprintf(args, sizeof(args), "run --quick --suite kernel --variants layernorm,rmsnorm "
		 "--dtypes bf16 --dir fwd,bwd --shapes 16x1024 --threads 1 --samples 5 "
		 "--stream-ms 5 --buffer-offset 4094 -o '%s'", file);
	rc = nb_sh(NULL, args, NULL, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	ck_assert_int_eq(r.meta.buffer_offset, 4094);
	ck_assert_uint_eq(r.ncells, 4);
	for (size_t i = 0; i < r.ncells; i++)
		ck_assert_msg(r.cells[i].verified == 1, "%s: %s", r.cells[i].impl,
			      r.cells[i].verify_note);
	/* the rules and the thread attributes are recorded */
	ck_assert_ptr_nonnull(strstr(r.meta.notes_rule, "procs_running"));
	ck_assert_ptr_nonnull(strstr(r.meta.notes_rule, "above limit"));
	ck_assert_ptr_nonnull(strstr(r.meta.thread_binding, "OMP_WAIT_POLICY="));
	/* every sample has its /proc/stat record where /proc/stat is readable */
	if (access("/proc/stat", R_OK) == 0)
		for (size_t i = 0; i < r.nsamples; i++)
			ck_assert_int_ge(r.samples[i].procs_running, 1);
	/* the stream rows say how they were measured; DRAM has two windows */
	for (size_t i = 0; i < r.nstream; i++) {
		ck_assert_ptr_nonnull(strstr(r.stream[i].notes, "reps"));
		if (strcmp(r.stream[i].level, "DRAM") == 0)
			ck_assert_ptr_nonnull(strstr(r.stream[i].notes, "windows"));
	}
	nb_results_free(&r);
	snprintf(args, sizeof(args), "show '%s'", file);
	ck_assert_int_eq(nb_sh(NULL, args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, "4094 bytes past a 2 MiB boundary"));
	ck_assert_ptr_nonnull(strstr(out, "OMP_WAIT_POLICY"));
	free(out);

	/* /proc/stat unreadable: the run goes on, the cells say "unknown" */
	snprintf(args, sizeof(args), "run --quick --suite kernel --variants rmsnorm "
		 "--shapes 16x1024 --threads 1 --samples 5 --stream-ms 5 -o '%s' --force", file);
	rc = nb_sh("NB_RUN_PROC_STAT=/nonexistent/stat", args, NULL, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	ck_assert_int_eq(r.meta.buffer_offset, -1);
	for (size_t i = 0; i < r.ncells; i++)
		ck_assert_msg(strstr(r.cells[i].notes, "busy unknown (cannot open "
				     "/nonexistent/stat") != NULL, "%s", r.cells[i].notes);
	for (size_t i = 0; i < r.nsamples; i++)
		ck_assert_int_eq(r.samples[i].procs_running, -1);
	nb_results_free(&r);
}
END_TEST

/* Worker processes (bench/nb_workers.h): every cell measured in 3 fresh
 * processes, --samples 9 spread 3 a process, each sample tagged with its
 * process, one calibrated iteration count for all of them; an A/B run
 * against the same binary alternates the sides new base base new and is
 * judged alone by compare, which refuses it as one side of two files. */
START_TEST(test_worker_processes)
{
	const char *file = nb_test_path("harness", "procs.h5");
	const char *ab = nb_test_path("harness", "ab.h5");
	const char *bin = getenv("NB_BIN");
	char args[1024], *out, *err;
	struct nb_results r;
	int rc, seen[4] = { 0, 0, 0, 0 };

	snprintf(args, sizeof(args), "run --quick --suite kernel --variants rmsnorm "
		 "--shapes 16x1024 --threads 1 --samples 9 --stream-ms 5 --processes 3 -o '%s'",
		 file);
	rc = nb_sh(NULL, args, NULL, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	ck_assert_int_eq(r.meta.processes, 3);
	ck_assert_uint_eq(r.ncells, 1);
	ck_assert_int_eq(r.cells[0].processes, 3);
	ck_assert_str_eq(r.cells[0].side, "");
	ck_assert_uint_eq(r.cells[0].samples, 9);
	ck_assert_int_eq(r.cells[0].verified, 1);
	for (size_t i = 0; i < r.nsamples; i++) {
		ck_assert(r.samples[i].process >= 0 && r.samples[i].process < 3);
		seen[r.samples[i].process]++;
		ck_assert_uint_eq(r.samples[i].iterations, r.cells[0].iterations);
	}
	ck_assert(seen[0] == 3 && seen[1] == 3 && seen[2] == 3);
	nb_results_free(&r);

	ck_assert_ptr_nonnull(bin);
	snprintf(args, sizeof(args), "run --quick --suite kernel --variants rmsnorm "
		 "--shapes 16x1024 --threads 1 --samples 6 --stream-ms 5 --processes 2 "
		 "--baseline '%s' -o '%s'", bin, ab);
	rc = nb_sh(NULL, args, NULL, &err);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
	ck_assert_int_eq(nb_results_read(ab, &r), NB_OK);
	ck_assert_uint_eq(r.ncells, 2);
	ck_assert_str_eq(r.cells[0].side, "base");
	ck_assert_str_eq(r.cells[1].side, "new");
	ck_assert_str_eq(r.meta.baseline, bin);
	for (size_t i = 0; i < r.nsamples; i++) {
		bool base = strcmp(r.cells[r.samples[i].cell].side, "base") == 0;
		int p = r.samples[i].process;
		/* launch order: new base | base new */
		ck_assert_msg(base == (p == 1 || p == 2), "sample %zu: process %d", i, p);
	}
	nb_results_free(&r);
	snprintf(args, sizeof(args), "compare '%s'", ab);
	rc = nb_sh(NULL, args, &out, &err);
	/* the verdict is the machine's; that it was judged is the test */
	ck_assert_msg(rc != 1, "exit %d: %s", rc, err);
	ck_assert_ptr_nonnull(strstr(out, "[new]"));
	ck_assert_ptr_nonnull(strstr(out, "1 cells matched"));
	free(out);
	free(err);
	snprintf(args, sizeof(args), "compare '%s' '%s'", ab, file);
	ck_assert_int_eq(nb_sh(NULL, args, NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "is an A/B run"));
	free(err);
	snprintf(args, sizeof(args), "compare '%s'", file);
	ck_assert_int_eq(nb_sh(NULL, args, NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "is not an A/B run"));
	free(err);
	/* bad settings are refused before anything runs */
	ck_assert_int_eq(nb_sh(NULL, "run --quick --processes 0", NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "--processes"));
	free(err);
	ck_assert_int_eq(nb_sh(NULL, "run --quick --baseline /nonexistent/nb", NULL, &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "not an executable"));
	free(err);
}
END_TEST

/* The test-only slowdown knob: one extra call every round(1/F) calls of
 * the named kernel, none for any other or a malformed value. */
START_TEST(test_slowdown_knob)
{
	setenv("NB_TEST_SLOWDOWN", "rmsnorm_fwd_f32_avx512:0.10", 1);
	ck_assert_uint_eq(nb_test_slowdown_every("rmsnorm_fwd_f32_avx512"), 10);
	ck_assert_uint_eq(nb_test_slowdown_every("rmsnorm_fwd_f32_avx2"), 0);
	ck_assert_uint_eq(nb_test_slowdown_every("rmsnorm_fwd_f32"), 0);
	setenv("NB_TEST_SLOWDOWN", "rmsnorm_fwd_f32_avx512:0.05", 1);
	ck_assert_uint_eq(nb_test_slowdown_every("rmsnorm_fwd_f32_avx512"), 20);
	setenv("NB_TEST_SLOWDOWN", "rmsnorm_fwd_f32_avx512:x", 1);
	ck_assert_uint_eq(nb_test_slowdown_every("rmsnorm_fwd_f32_avx512"), 0);
	unsetenv("NB_TEST_SLOWDOWN");
	ck_assert_uint_eq(nb_test_slowdown_every("rmsnorm_fwd_f32_avx512"), 0);
}
END_TEST

/* show flags a cell above its limit beside its percentage and in the
 * summary (a crafted file: the real harness cannot be made to do it). */
/* A run whose samples all saw other runnable tasks (a /proc/stat with
 * procs_running 9): its cells are busy, the report marks them with ° and
 * compare warns. */
START_TEST(test_report_marks_busy_cells)
{
	char stat[240], h5[240], dir[240], md[256], args[1024], *err, *out;
	FILE *f;
	int rc;

	snprintf(stat, sizeof(stat), "%s", nb_test_path("harness", "busy-stat"));
	snprintf(h5, sizeof(h5), "%s", nb_test_path("harness", "busy.h5"));
	snprintf(dir, sizeof(dir), "%s", nb_test_path("harness", "busy-report"));
	snprintf(md, sizeof(md), "%s/bandwidth.md", dir);
	f = fopen(stat, "w");
	ck_assert_ptr_nonnull(f);
	fputs("cpu  100 0 100 1000 0 0 0 0 0 0\nprocs_running 9\n", f);
	fclose(f);
	snprintf(args, sizeof(args), "run --quick --suite kernel --variants rmsnorm --dtypes f32 "
		 "--dir fwd --shapes 16x1024 --threads 1 --samples 5 --stream-ms 5 -o '%s'", h5);
	{
		char env[300];

		snprintf(env, sizeof(env), "NB_RUN_PROC_STAT=%s", stat);
		rc = nb_sh(env, args, NULL, &err);
	}
	ck_assert_msg(rc == 0, "exit %d: %s", rc, err);
	free(err);
	snprintf(args, sizeof(args), "report '%s' --out '%s' --no-figures -q", h5, dir);
	ck_assert_int_eq(nb_sh(NULL, args, NULL, NULL), 0);
	out = nb_test_slurp(md, NULL);
	ck_assert_ptr_nonnull(out);
	ck_assert_msg(strstr(out, "°") != NULL, "no busy mark in %s", md);
	ck_assert_ptr_nonnull(strstr(out, "° measured while another process was runnable"));
	free(out);
	/* and compare warns that its verdicts rest on busy cells */
	snprintf(args, sizeof(args), "compare '%s' '%s'", h5, h5);
	rc = nb_sh(NULL, args, &out, &err);
	/* a file against itself: ratio 1, decided (0) or too noisy (4) */
	ck_assert_msg(rc == 0 || rc == NB_EXIT_INCONCLUSIVE, "exit %d: %s", rc, err);
	ck_assert_msg(strstr(out, "runnable (noted busy in a file)") != NULL ||
		      strstr(err, "runnable (noted busy in a file)") != NULL,
		      "no busy warning: %s / %s", out, err);
	free(out);
	free(err);
}
END_TEST

START_TEST(test_show_flags_notes)
{
	const char *file = nb_test_path("harness", "notes.h5");
	char args[512], *out;
	struct nb_results w;
	struct nb_cell_row c;

	nb_results_init(&w);
	w.meta.complete = 1;
	memset(&c, 0, sizeof(c));
	nb_res_strcpy(c.variant, sizeof(c.variant), "rmsnorm");
	nb_res_strcpy(c.impl, sizeof(c.impl), "rmsnorm_fwd_f32_avx512");
	c.threads = 2;
	c.gbps = 86.4;
	c.limit_gbps = 48.0;
	c.fraction = 1.8;
	c.verified = 1;
	nb_res_strcpy(c.notes, sizeof(c.notes), "above limit (180% of 48.0 GB/s): limit "
		      "suspect; busy (11 of 20 samples beside another runnable task)");
	ck_assert_int_eq(nb_results_add_cell(&w, &c), NB_OK);
	ck_assert_int_eq(nb_results_write(file, &w, true), NB_OK);
	nb_results_free(&w);
	snprintf(args, sizeof(args), "show '%s'", file);
	ck_assert_int_eq(nb_sh(NULL, args, &out, NULL), 0);
	ck_assert_ptr_nonnull(strstr(out, " 180%! verified; above limit (180% of 48.0 GB/s): "
				     "limit suspect; busy (11 of 20"));
	ck_assert_ptr_nonnull(strstr(out, "1 cells above their limit"));
	ck_assert_ptr_nonnull(strstr(out, "1 cells busy"));
	ck_assert_ptr_nonnull(strstr(out, "buffers: default alignment"));
	free(out);
}
END_TEST

Suite *nb_suite_harness(void)
{
	Suite *s = suite_create("harness");
	TCase *unit = tcase_create("unit");
	TCase *cli = tcase_create("binary");

	tcase_add_test(unit, test_procstat_parse);
	tcase_add_test(unit, test_busy_probe_files);
	tcase_add_test(unit, test_busy_sample_and_verdict);
	tcase_add_test(unit, test_busy_own_running);
	tcase_add_test(unit, test_above_limit_and_notes);
	tcase_add_test(unit, test_stream_sanity_remeasures);
	tcase_add_test(unit, test_stream_second_window);
	tcase_add_test(unit, test_stream_merge_and_measure_fields);
	tcase_add_test(unit, test_stream_cell_points);
	tcase_add_test(unit, test_calibrate_ignores_a_preempted_probe);
	tcase_add_test(unit, test_results_optional_fields);
	tcase_add_test(unit, test_slowdown_knob);
	suite_add_tcase(s, unit);
	tcase_add_checked_fixture(cli, NULL, nb_test_teardown);
	tcase_add_test(cli, test_buffer_offset_rejects_bad_values);
	tcase_add_test(cli, test_buffer_offset_run_verifies);
	tcase_add_test(cli, test_show_flags_notes);
	tcase_add_test(cli, test_worker_processes);
	tcase_add_test(cli, test_report_marks_busy_cells);
	suite_add_tcase(s, cli);
	return s;
}
