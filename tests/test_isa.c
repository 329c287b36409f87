/* The ISA levels and the cap across the two families this code builds for
 * (x86: portable < avx2 < avx512; arm64: portable < neon < sve): names,
 * foreign names, the best-kernel rule, and on arm64 the registration of the
 * NEON and SVE kernels and the emulation mark of a results file. */
#include <stdlib.h>
#include <string.h>

#include "bench/nb_sysinfo.h"
#include "kernels/nb_kernels.h"
#include "tests/nb_test.h"

static const char *const nb_all_isas[] = { "portable", "avx2", "avx512", "neon", "sve" };

START_TEST(test_isa_names_round_trip)
{
	for (size_t i = 0; i < sizeof(nb_all_isas) / sizeof(nb_all_isas[0]); i++) {
		enum nb_isa isa = nb_isa_from_name(nb_all_isas[i]);

		ck_assert_int_ne(isa, NB_ISA_COUNT);
		ck_assert_str_eq(nb_isa_name(isa), nb_all_isas[i]);
	}
	ck_assert_int_eq(nb_isa_from_name("sve2"), NB_ISA_COUNT);
}
END_TEST

/* The other architecture's names cap to portable (NB_ISA and --isa): a cap
 * must never let a higher enum value of the foreign family widen anything. */
START_TEST(test_foreign_isa_caps_to_portable)
{
#if defined(__aarch64__)
	const char *foreign[] = { "avx2", "avx512" };
#else
	const char *foreign[] = { "neon", "sve" };
#endif
	for (size_t i = 0; i < 2; i++) {
		setenv("NB_ISA", foreign[i], 1);
		ck_assert_msg(nb_isa_cap() == NB_ISA_PORTABLE, "NB_ISA=%s gave cap %s", foreign[i],
			      nb_isa_name(nb_isa_cap()));
	}
	unsetenv("NB_ISA");
	ck_assert_int_eq(nb_isa_set_cap(nb_isa_from_name(foreign[1])), NB_OK);
	ck_assert_int_eq(nb_isa_cap(), NB_ISA_PORTABLE);
}
END_TEST

/* Under every cap, the best kernel of each forward variant/dtype is usable
 * and of the highest level the cap allows that has one. */
START_TEST(test_best_respects_cap)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	enum nb_isa detected = nb_isa_detected();

	for (int c = 0; c <= (int)detected; c++) {
		ck_assert_int_eq(nb_isa_set_cap((enum nb_isa)c), NB_OK);
		for (size_t i = 0; i < count; i++) {
			const struct nb_kernel *b = nb_kernel_best(ks[i].variant, ks[i].dir,
								   ks[i].dtype, ks[i].acc);

			ck_assert_ptr_nonnull(b);
			ck_assert_msg(nb_isa_usable(b->isa), "cap %s: best %s not usable",
				      nb_isa_name((enum nb_isa)c), b->name);
			if (nb_isa_usable(ks[i].isa))
				ck_assert_msg(b->isa >= ks[i].isa, "cap %s: best %s below %s",
					      nb_isa_name((enum nb_isa)c), b->name, ks[i].name);
		}
	}
}
END_TEST

#if defined(__aarch64__)
/* Every forward variant x {f32, bf16, f16} has a NEON and an SVE two-pass
 * kernel, and LayerNorm a Welford one, and every variant x {f32, bf16, f16}
 * a NEON and an SVE backward kernel, so the arm64 run never silently falls
 * back to portable. */
START_TEST(test_arm_kernels_registered)
{
	static const enum nb_variant vs[] = { NB_VARIANT_LAYERNORM, NB_VARIANT_RMSNORM,
					      NB_VARIANT_PRMSNORM, NB_VARIANT_CRMSNORM };
	static const enum nb_dtype ts[] = { NB_DTYPE_F32, NB_DTYPE_BF16, NB_DTYPE_F16 };
	static const enum nb_isa isas[] = { NB_ISA_NEON, NB_ISA_SVE };
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t a = 0; a < 2; a++)
		for (size_t v = 0; v < 4; v++)
			for (size_t t = 0; t < 3; t++) {
				int twopass = 0, welford = 0;

				for (size_t i = 0; i < count; i++)
					if (ks[i].isa == isas[a] && ks[i].variant == vs[v] &&
					    ks[i].dtype == ts[t] && ks[i].dir == NB_DIR_FORWARD) {
						twopass += strcmp(ks[i].algo, "twopass") == 0;
						welford += strcmp(ks[i].algo, "welford") == 0;
					}
				ck_assert_msg(twopass == 1, "%s %s %s: %d two-pass kernels",
					      nb_isa_name(isas[a]), nb_variant_name(vs[v]),
					      nb_dtype_traits[ts[t]].name, twopass);
				ck_assert_int_eq(welford, vs[v] == NB_VARIANT_LAYERNORM);
			}
	/* NEON and SVE backward: f32, bf16 and f16 for every variant */
	for (size_t a = 0; a < 2; a++)
		for (size_t v = 0; v < 4; v++)
			for (size_t t = 0; t < 3; t++) {
				int bwd = 0;

				for (size_t i = 0; i < count; i++)
					bwd += ks[i].isa == isas[a] && ks[i].variant == vs[v] &&
					       ks[i].dtype == ts[t] && ks[i].acc == NB_DTYPE_F32 &&
					       ks[i].dir == NB_DIR_BACKWARD;
				ck_assert_msg(bwd == 1, "%s %s %s: %d backward kernels",
					      nb_isa_name(isas[a]), nb_variant_name(vs[v]),
					      nb_dtype_traits[ts[t]].name, bwd);
			}
}
END_TEST

/* Under qemu-user (where this file's arm64 build is tested; or on a real
 * Arm machine) the machine description must say which: /proc/cpuinfo
 * without MIDR fields means emulation, and then `emulated` is set, which
 * results files, show and report carry. */
START_TEST(test_emulation_marked)
{
	char *cpuinfo = nb_test_slurp("/proc/cpuinfo", NULL);
	bool emulated = cpuinfo && !strstr(cpuinfo, "CPU implementer");
	struct nb_cache_levels caches;
	struct nb_sysinfo *si = calloc(1, sizeof(*si));

	memset(&caches, 0, sizeof(caches));
	ck_assert_ptr_nonnull(si);
	ck_assert_int_eq(nb_sysinfo_collect(si, &caches), NB_OK);
	ck_assert_msg((si->emulated[0] != 0) == emulated, "cpuinfo says emulated=%d, sysinfo '%s'",
		      emulated, si->emulated);
	if (!emulated)
		ck_assert_ptr_nonnull(strstr(si->cpu_model, "MIDR implementer"));
	free(si);
	free(cpuinfo);
}
END_TEST
#endif

/* Every registry entry's algo string is an algorithm of enum nb_algo, so
 * code that asks nb_kernel_algo never meets an unknown one. */
START_TEST(test_registry_algos_known)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);

	for (size_t i = 0; i < count; i++) {
		enum nb_algo a = nb_kernel_algo(&ks[i]);

		ck_assert_msg(a != NB_ALGO_COUNT, "%s: algorithm '%s' is not in nb_algo_names "
			      "(kernels/registry.c)", ks[i].name, ks[i].algo);
		ck_assert_str_eq(nb_algo_name(a), ks[i].algo);
		ck_assert(a != NB_ALGO_FUSED || ks[i].variant == NB_VARIANT_FLASHNORM);
	}
	for (int a = 0; a < NB_ALGO_COUNT; a++)
		ck_assert_int_eq(nb_algo_from_name(nb_algo_name((enum nb_algo)a)), a);
	ck_assert_int_eq(nb_algo_from_name("Fused"), NB_ALGO_COUNT);
	ck_assert_int_eq(nb_algo_from_name(NULL), NB_ALGO_COUNT);
}
END_TEST

Suite *nb_suite_isa(void)
{
	Suite *s = suite_create("isa");
	TCase *tc = tcase_create("levels");

	tcase_add_test(tc, test_isa_names_round_trip);
	tcase_add_test(tc, test_foreign_isa_caps_to_portable);
	tcase_add_test(tc, test_best_respects_cap);
	tcase_add_test(tc, test_registry_algos_known);
#if defined(__aarch64__)
	tcase_add_test(tc, test_arm_kernels_registered);
	tcase_add_test(tc, test_emulation_marked);
#endif
	suite_add_tcase(s, tc);
	return s;
}
