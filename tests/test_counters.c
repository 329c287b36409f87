/* Counters: normbench's SDE events counted through an ordinary PAPI event set
 * are exactly what the harness added; a preset the machine cannot count is
 * recorded with PAPI's reason and does not fail the open; a typo does. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <omp.h>

#include "bench/nb_counters.h"
#include "kernels/nb_kernels.h"
#include "tests/nb_test.h"

/* The harness's pattern: run a registry kernel `reps` times per sample and
 * report the sample's totals with one nb_sde_add. */
START_TEST(test_sde_counts_exactly_what_was_added)
{
	const char *names[] = { NB_SDE_KERNEL_CALLS, NB_SDE_ROWS, NB_SDE_BYTES };
	enum { ROWS = 8, D = 96, SAMPLES = 5, REPS = 7 };
	static float x[ROWS * D], y[ROWS * D], g[D];
	const struct nb_kernel *k =
		nb_kernel_best(NB_VARIANT_RMSNORM, NB_DIR_FORWARD, NB_DTYPE_F32, NB_DTYPE_F32);
	struct nb_problem p = nb_problem_init(NB_VARIANT_RMSNORM, NB_DTYPE_F32, ROWS, D);
	struct nb_counters *c = NULL;
	long long v[3];
	/* STREAM counting: read x, write y, gain once */
	const uint64_t bytes = (2 * ROWS * D + D) * sizeof(float);

	ck_assert_ptr_nonnull(k);
	for (int i = 0; i < ROWS * D; i++)
		x[i] = (float)(i % 13) - 6.0f;
	for (int i = 0; i < D; i++)
		g[i] = 1.0f;
	p.x = x;
	p.y = y;
	p.gain = g;
	p.threads = 1;
	ck_assert_int_eq(nb_kernel_prepare(k, &p), NB_OK);

	ck_assert_int_eq(nb_counters_open(names, 3, &c), NB_OK);
	for (int i = 0; i < 3; i++) {
		ck_assert_msg(nb_counters_available(c, i), "%s: %s", names[i],
			      nb_counters_reason(c, i));
		ck_assert_str_eq(nb_counters_reason(c, i), "");
		ck_assert_str_eq(nb_counters_name(c, i), names[i]);
	}
	/* counted only between start and stop */
	nb_sde_add(1000, 1000, 1000);
	ck_assert_int_eq(nb_counters_start(c), NB_OK);
	for (int s = 0; s < SAMPLES; s++) {
		for (int r = 0; r < REPS; r++)
			ck_assert_int_eq(nb_kernel_run(k, &p, NULL), NB_OK);
		nb_sde_add(REPS, (uint64_t)REPS * ROWS, REPS * bytes);
	}
	ck_assert_int_eq(nb_counters_stop(c, v), NB_OK);
	nb_sde_add(1000, 1000, 1000);
	ck_assert_int_eq(v[0], SAMPLES * REPS);
	ck_assert_int_eq(v[1], SAMPLES * REPS * ROWS);
	ck_assert_int_eq(v[2], (long long)(SAMPLES * REPS * bytes));

	/* a second start/stop counts afresh */
	ck_assert_int_eq(nb_counters_start(c), NB_OK);
	nb_sde_add(2, 3, 4);
	ck_assert_int_eq(nb_counters_stop(c, v), NB_OK);
	ck_assert(v[0] == 2 && v[1] == 3 && v[2] == 4);
	nb_counters_close(c);
}
END_TEST

/* The adds come from several OpenMP threads at once: the counters are
 * process-wide and atomic, so nothing is lost. */
START_TEST(test_sde_adds_from_threads)
{
	const char *names[] = { NB_SDE_ROWS };
	struct nb_counters *c = NULL;
	long long v;

	ck_assert_int_eq(nb_counters_open(names, 1, &c), NB_OK);
	ck_assert_int_eq(nb_counters_start(c), NB_OK);
#pragma omp parallel for num_threads(2)
	for (int i = 0; i < 10000; i++)
		nb_sde_add(0, 1, 0);
	ck_assert_int_eq(nb_counters_stop(c, &v), NB_OK);
	ck_assert_int_eq(v, 10000);
	nb_counters_close(c);
}
END_TEST

/* PAPI_TOT_CYC on this VM: the preset resolves, PAPI_add_event fails
 * (perf_event component disabled). On a machine with a PMU it is available.
 * Either way: available XOR a reason, and the open succeeds; the SDE event
 * in the same set counts regardless. */
START_TEST(test_unavailable_preset_degrades)
{
	const char *names[] = { "PAPI_TOT_CYC", NB_SDE_KERNEL_CALLS, "PAPI_L3_TCM" };
	struct nb_counters *c = NULL;
	long long v[3];

	ck_assert_int_eq(nb_counters_open(names, 3, &c), NB_OK);
	ck_assert_uint_eq(nb_counters_count(c), 3);
	for (int i = 0; i < 3; i += 2) {
		bool avail = nb_counters_available(c, i);
		bool has_reason = nb_counters_reason(c, i)[0] != 0;
		ck_assert_msg(avail != has_reason, "%s: available %d, reason '%s'", names[i],
			      avail, nb_counters_reason(c, i));
	}
	ck_assert(nb_counters_available(c, 1));
	ck_assert_int_eq(nb_counters_start(c), NB_OK);
	nb_sde_add(3, 0, 0);
	ck_assert_int_eq(nb_counters_stop(c, v), NB_OK);
	ck_assert_int_eq(v[1], 3);
	for (int i = 0; i < 3; i += 2) {
		if (nb_counters_available(c, i))
			ck_assert(v[i] >= 0);
		else
			ck_assert(v[i] == NB_COUNTER_UNAVAILABLE);
	}
	nb_counters_close(c);
}
END_TEST

/* The default set opens on any machine (never fails a run). */
START_TEST(test_default_set_opens)
{
	struct nb_counters *c = NULL;
	long long v[16];

	ck_assert_int_eq(nb_counters_open(nb_counters_default, nb_counters_default_count, &c),
			 NB_OK);
	ck_assert_uint_eq(nb_counters_count(c), nb_counters_default_count);
	ck_assert_int_eq(nb_counters_start(c), NB_OK);
	ck_assert_int_eq(nb_counters_stop(c, v), NB_OK);
	for (size_t i = 0; i < nb_counters_default_count; i++)
		ck_assert(nb_counters_available(c, i) != (nb_counters_reason(c, i)[0] != 0));
	nb_counters_close(c);
}
END_TEST

START_TEST(test_bogus_names_are_user_errors)
{
	const char *bogus[] = { "BOGUS", "PAPI_BOGUS", "sde:::normbench::no_such_counter" };
	const char *empty[] = { "" };
	struct nb_counters *c = (struct nb_counters *)&c;

	for (int i = 0; i < 3; i++) {
		const char *set[] = { NB_SDE_ROWS, bogus[i] };
		ck_assert_int_eq(nb_counters_open(set, 2, &c), NB_ERR_NOTFOUND);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(nb_error(), bogus[i]) != NULL, "message: %s", nb_error());
	}
	ck_assert_int_eq(nb_counters_open(empty, 1, &c), NB_ERR_INVALID);
	/* an empty set is fine: nothing to count */
	ck_assert_int_eq(nb_counters_open(NULL, 0, &c), NB_OK);
	ck_assert_int_eq(nb_counters_start(c), NB_OK);
	ck_assert_int_eq(nb_counters_stop(c, NULL), NB_OK);
	nb_counters_close(c);
}
END_TEST

START_TEST(test_parse_list)
{
	char **names = NULL;
	size_t n = 0;

	ck_assert_int_eq(nb_counters_parse_list(" PAPI_TOT_CYC, sde:::normbench::rows ,x", &names,
						&n), NB_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(names[0], "PAPI_TOT_CYC");
	ck_assert_str_eq(names[1], "sde:::normbench::rows");
	ck_assert_str_eq(names[2], "x");
	nb_counters_free_names(names, n);
	ck_assert_int_eq(nb_counters_parse_list("a,,b", &names, &n), NB_ERR_INVALID);
	ck_assert_ptr_null(names);
	ck_assert_int_eq(nb_counters_parse_list("a,", &names, &n), NB_ERR_INVALID);
	ck_assert_int_eq(nb_counters_parse_list("", &names, &n), NB_ERR_INVALID);
}
END_TEST

START_TEST(test_papi_version_string)
{
	char buf[64];

	nb_papi_version(buf, sizeof(buf));
	ck_assert_ptr_nonnull(strstr(buf, "compiled "));
	ck_assert_ptr_nonnull(strstr(buf, ", runtime "));
}
END_TEST

/* Software events: either they count (a sleep blocks the thread, which is
 * a context switch; touching fresh pages takes minor faults) or they are
 * marked unavailable with a reason. */
START_TEST(test_swevents_count_or_say_why)
{
	struct nb_swevents sw;
	uint64_t v[NB_SW_COUNT];
	size_t len = 1 << 20;
	char *mem;

	ck_assert_int_eq(nb_swevents_open(&sw, 1), NB_OK);
	if (!sw.available) {
		ck_assert(sw.reason[0] != 0);
		nb_swevents_start(&sw);
		nb_swevents_stop(&sw, v);
		for (int e = 0; e < NB_SW_COUNT; e++)
			ck_assert(v[e] == 0);
		nb_swevents_close(&sw);
		return;
	}
	ck_assert_int_eq(sw.reason[0], 0);
	ck_assert_int_eq(sw.threads, 1);
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert(mem != MAP_FAILED);
	nb_swevents_start(&sw);
	for (int i = 0; i < 3; i++)
		usleep(2000);
	memset(mem, 1, len);
	nb_swevents_stop(&sw, v);
	/* three sleeps: at least three switches away from this thread */
	ck_assert_msg(v[NB_SW_CONTEXT_SWITCHES] >= 3, "context switches %llu",
		      (unsigned long long)v[NB_SW_CONTEXT_SWITCHES]);
	/* 1 MiB of fresh anonymous memory: at least one fault (a single one
	 * when a huge page backs it, 256 with 4 KiB pages) */
	ck_assert(v[NB_SW_PAGE_FAULTS_MIN] >= 1);
	munmap(mem, len);
	nb_swevents_close(&sw);
	ck_assert(!sw.available && sw.fd == NULL);
}
END_TEST

/* The OpenMP team is covered: a sleep in each of two threads shows up. */
START_TEST(test_swevents_cover_team)
{
	struct nb_swevents sw;
	uint64_t v[NB_SW_COUNT];
	int team = omp_get_num_procs() >= 2 ? 2 : 1;

	ck_assert_int_eq(nb_swevents_open(&sw, team), NB_OK);
	if (!sw.available) {
		ck_assert(sw.reason[0] != 0);
		return;
	}
	ck_assert_int_eq(sw.threads, team);
	nb_swevents_start(&sw);
#pragma omp parallel num_threads(team)
	{
		usleep(3000);
		usleep(3000);
	}
	nb_swevents_stop(&sw, v);
	ck_assert_msg(v[NB_SW_CONTEXT_SWITCHES] >= (uint64_t)(2 * team), "switches %llu",
		      (unsigned long long)v[NB_SW_CONTEXT_SWITCHES]);
	nb_swevents_close(&sw);
	ck_assert_str_eq(nb_swevent_name(NB_SW_CPU_MIGRATIONS), "cpu_migrations");
}
END_TEST

Suite *nb_suite_counters(void)
{
	Suite *s = suite_create("counters");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_sde_counts_exactly_what_was_added);
	tcase_add_test(tc, test_sde_adds_from_threads);
	tcase_add_test(tc, test_unavailable_preset_degrades);
	tcase_add_test(tc, test_default_set_opens);
	tcase_add_test(tc, test_bogus_names_are_user_errors);
	tcase_add_test(tc, test_parse_list);
	tcase_add_test(tc, test_papi_version_string);
	tcase_add_test(tc, test_swevents_count_or_say_why);
	tcase_add_test(tc, test_swevents_cover_team);
	suite_add_tcase(s, tc);
	return s;
}
