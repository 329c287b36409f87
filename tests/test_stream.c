/* The measurement building blocks, lightly: STREAM returns positive finite
 * numbers with its copies checked, the limit picks the right level, the
 * cache probe is sane, the timer is measured, and the machine description
 * and key behave. No timing is asserted. */
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/nb_stream.h"
#include "bench/nb_sysinfo.h"
#include "bench/nb_timer.h"
#include "tests/nb_test.h"

static void nb_check_bw(const struct nb_bandwidth *bw)
{
	ck_assert(isfinite(bw->read_gbps) && bw->read_gbps > 0.0);
	ck_assert(isfinite(bw->copy_gbps) && bw->copy_gbps > 0.0);
	if (strcmp(bw->copy_nt_isa, "none") != 0)
		ck_assert(isfinite(bw->copy_nt_gbps) && bw->copy_nt_gbps > 0.0);
	else
		ck_assert(isnan(bw->copy_nt_gbps));
}

START_TEST(test_stream_small_measurement)
{
	struct nb_bandwidth bw;

	/* 100 KB: rounded up to whole 512-byte blocks */
	ck_assert_int_eq(nb_stream_measure(1, 100000, 0.005, &bw), NB_OK);
	ck_assert_int_eq(bw.threads, 1);
	ck_assert_uint_eq(bw.bytes, 100352);
	ck_assert_ptr_null(bw.level);
	nb_check_bw(&bw);
	if (omp_get_num_procs() >= 2) {
		ck_assert_int_eq(nb_stream_measure(2, 1 << 20, 0.005, &bw), NB_OK);
		ck_assert_int_eq(bw.threads, 2);
		nb_check_bw(&bw);
	}
}
END_TEST

START_TEST(test_stream_rejects_bad_arguments)
{
	struct nb_bandwidth bw;

	ck_assert_int_eq(nb_stream_measure(0, 1 << 20, 0.01, &bw), NB_ERR_INVALID);
	ck_assert_int_eq(nb_stream_measure(omp_get_num_procs() + 1, 1 << 20, 0.01, &bw),
			 NB_ERR_INVALID);
	ck_assert_int_eq(nb_stream_measure(1, 100, 0.01, &bw), NB_ERR_INVALID);
	ck_assert_int_eq(nb_stream_measure(1, 1 << 20, -1.0, &bw), NB_ERR_INVALID);
	ck_assert(isnan(bw.copy_gbps));
}
END_TEST

/* nb_limit_gbps on a made-up table: the level is the smallest that holds
 * the working set, the figure the better of the two copies. */
START_TEST(test_limit_picks_level)
{
	const struct nb_bandwidth t[] = {
		{ .threads = 1, .level = "L1", .level_bytes = 48 << 10, .copy_gbps = 300,
		  .copy_nt_gbps = 50 },
		{ .threads = 1, .level = "L2", .level_bytes = 1 << 20, .copy_gbps = 200,
		  .copy_nt_gbps = 70 },
		{ .threads = 1, .level = "DRAM", .level_bytes = 0, .copy_gbps = 45,
		  .copy_nt_gbps = 58 },
		{ .threads = 2, .level = "L1", .level_bytes = 96 << 10, .copy_gbps = 600,
		  .copy_nt_gbps = 100 },
		{ .threads = 2, .level = "DRAM", .level_bytes = 0, .copy_gbps = 90,
		  .copy_nt_gbps = NAN },
	};
	size_t n = sizeof(t) / sizeof(t[0]);

	ck_assert(nb_limit_gbps(t, n, 1, 1000) == 300.0);
	ck_assert(nb_limit_gbps(t, n, 1, 48 << 10) == 300.0);
	ck_assert(nb_limit_gbps(t, n, 1, (48 << 10) + 1) == 200.0);
	ck_assert(nb_limit_gbps(t, n, 1, 64 << 20) == 58.0);
	ck_assert(nb_limit_gbps(t, n, 2, 64 << 10) == 600.0);
	/* 2 threads, beyond L1: no L2 entry, so DRAM; NaN streaming copy ignored */
	ck_assert(nb_limit_gbps(t, n, 2, 1 << 20) == 90.0);
	/* 3 threads not measured: the nearest thread count (2) */
	ck_assert(nb_limit_gbps(t, n, 3, 1000) == 600.0);
	ck_assert(isnan(nb_limit_gbps(t, 0, 1, 1000)));
}
END_TEST

START_TEST(test_stream_table_labels)
{
	/* made-up small caches so the table stays cheap: L1 16K, L2 64K, no L3
	 * -> DRAM arrays are 4 x 32 MiB (the floor) */
	struct nb_cache_levels c = { .measured_l1d = 16 << 10, .measured_l2 = 64 << 10 };
	const int threads[] = { 1 };
	struct nb_bandwidth *tab = NULL;
	size_t n = 0;

	ck_assert_int_eq(nb_stream_table(&c, threads, 1, 0.0, &tab, &n), NB_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(tab[0].level, "L1");
	ck_assert_uint_eq(tab[0].bytes, 4 << 10);
	ck_assert_uint_eq(tab[0].level_bytes, 16 << 10);
	ck_assert_str_eq(tab[1].level, "L2");
	ck_assert_uint_eq(tab[1].bytes, 16 << 10);
	ck_assert_str_eq(tab[2].level, "DRAM");
	ck_assert_uint_eq(tab[2].level_bytes, 0);
	ck_assert_uint_eq(tab[2].bytes, (size_t)128 << 20);
	for (size_t i = 0; i < n; i++)
		nb_check_bw(&tab[i]);
	free(tab);
}
END_TEST

/* The OS figures are what sysconf says; measured levels, when found, grow
 * with the level and lie on the probe's grid (4 KiB .. 72 MiB). */
START_TEST(test_measure_caches_sane)
{
	struct nb_cache_levels c;
	long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);

	ck_assert_int_eq(nb_measure_caches(&c), NB_OK);
	ck_assert_uint_eq(c.cpuid_l1d, l1 > 0 ? (size_t)l1 : 0);
	ck_assert(c.method[0] != 0);
	if (c.measured_l1d)
		ck_assert(c.measured_l1d >= 4096 && c.measured_l1d < ((size_t)72 << 20));
	if (c.measured_l2)
		ck_assert(c.measured_l2 > c.measured_l1d);
	if (c.measured_l3)
		ck_assert(c.measured_l3 > c.measured_l2 && c.measured_l2 > 0);
	/* latencies of found plateaus rise level by level */
	if (c.measured_l1d)
		ck_assert(c.latency_ns[0] > 0.0 && c.latency_ns[1] > c.latency_ns[0]);
	ck_assert(nb_cache_last_level_bytes(&c) >= ((size_t)32 << 20));
}
END_TEST

START_TEST(test_timer_measured)
{
	double res = nb_timer_resolution_ns(), ovh = nb_timer_overhead_ns();
	uint64_t a = nb_now_ns(), b = nb_now_ns();

	ck_assert(b >= a);
	ck_assert(isfinite(res) && res > 0.0);
	ck_assert(isfinite(ovh) && ovh > 0.0);
}
END_TEST

/* FNV-1a 64 test vectors (Fowler/Noll/Vo reference: "" -> cbf29ce484222325,
 * "a" -> af63dc4c8601ec8c, "foobar" -> 85944171f73967e8). */
START_TEST(test_fnv1a_vectors)
{
	ck_assert(nb_fnv1a(NB_FNV1A_INIT, "", 0) == 0xcbf29ce484222325ull);
	ck_assert(nb_fnv1a(NB_FNV1A_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
	ck_assert(nb_fnv1a(NB_FNV1A_INIT, "foobar", 6) == 0x85944171f73967e8ull);
}
END_TEST

START_TEST(test_sysinfo_and_machine_key)
{
	static struct nb_sysinfo si, other;
	struct nb_cache_levels c = { .measured_l1d = 42432, .measured_l2 = 961536,
				     .measured_l3 = 21757312 };
	char key[17];
	unsigned maj, min, rel;
	char hdf5[32];

	ck_assert_int_eq(nb_sysinfo_collect(&si, &c), NB_OK);
	ck_assert(si.cores >= 1);
	ck_assert(si.compiler[0] && si.kernel[0] && si.utc_time[0]);
	ck_assert_uint_eq(strlen(si.utc_time), 20);
	ck_assert_int_eq(si.utc_time[10], 'T');
	ck_assert_int_eq(si.utc_time[19], 'Z');
	H5get_libversion(&maj, &min, &rel);
	snprintf(hdf5, sizeof(hdf5), "%u.%u.%u", maj, min, rel);
	ck_assert_str_eq(si.hdf5_version, hdf5);
	ck_assert_ptr_nonnull(strstr(si.papi_version, "compiled"));
	ck_assert(si.blas_version[0] != 0);
	ck_assert_ptr_nonnull(strstr(si.omp_binding, "proc_bind="));
	ck_assert(si.caches.measured_l2 == 961536);
	/* virtualized exactly when the hypervisor flag says so (the CPUID bit
	 * and the kernel's flag agree on any sane machine) */
	ck_assert(si.virtualized == (strstr(si.cpu_flags, "hypervisor") != NULL));
	ck_assert_uint_eq(strlen(si.machine_key), 16);
	ck_assert_uint_eq(strspn(si.machine_key, "0123456789abcdef"), 16);

	/* the key ignores fast-changing fields and the jittery L3 ... */
	other = si;
	snprintf(other.host, sizeof(other.host), "elsewhere");
	snprintf(other.kernel, sizeof(other.kernel), "Linux 9.9");
	snprintf(other.utc_time, sizeof(other.utc_time), "2000-01-01T00:00:00Z");
	other.caches.measured_l3 = 10878656;
	/* ... and every measured size: the pointer chase found L2 at 789 KiB
	 * and at 2233 KiB minutes apart on this VM */
	other.caches.measured_l2 = 2233 << 10;
	other.caches.measured_l1d = 2 * 42432;
	nb_machine_key(&other, key);
	ck_assert_str_eq(key, si.machine_key);
	/* but not the CPU, the core count or an L1d the OS reports at another size */
	other = si;
	other.cores = si.cores + 1;
	nb_machine_key(&other, key);
	ck_assert_str_ne(key, si.machine_key);
	other = si;
	other.caches.os_l1d = 2 * (si.caches.os_l1d ? si.caches.os_l1d : 32768);
	nb_machine_key(&other, key);
	ck_assert_str_ne(key, si.machine_key);
	other = si;
	other.cpu_model[0] ^= 1;
	nb_machine_key(&other, key);
	ck_assert_str_ne(key, si.machine_key);
}
END_TEST

Suite *nb_suite_stream(void)
{
	Suite *s = suite_create("stream");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_stream_small_measurement);
	tcase_add_test(tc, test_stream_rejects_bad_arguments);
	tcase_add_test(tc, test_limit_picks_level);
	tcase_add_test(tc, test_stream_table_labels);
	tcase_add_test(tc, test_measure_caches_sane);
	tcase_add_test(tc, test_timer_measured);
	tcase_add_test(tc, test_fnv1a_vectors);
	tcase_add_test(tc, test_sysinfo_and_machine_key);
	suite_add_tcase(s, tc);
	return s;
}
