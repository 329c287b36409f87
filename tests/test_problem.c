/* Problem validation: every user-reachable mistake gets a status and a
 * message, never a crash; the conventions fill n and k as SPEC §1 says. */
#include <math.h>
#include <string.h>
#include <strings.h>

#include "common/nb_problem.h"
#include "tests/nb_test.h"

static float nb_buf[64];

static struct nb_problem nb_valid(enum nb_variant v, size_t d)
{
	struct nb_problem p = nb_problem_init(v, NB_DTYPE_F32, 2, d);

	p.x = nb_buf;
	p.y = nb_buf;
	p.gain = nb_buf;
	return p;
}

START_TEST(test_valid_fills_n_and_k)
{
	struct nb_problem p = nb_valid(NB_VARIANT_CRMSNORM, 17);

	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_uint_eq(p.n, 16);
	ck_assert_uint_eq(p.k, 16);

	p = nb_valid(NB_VARIANT_PRMSNORM, 4096);
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_OK);
	ck_assert_uint_eq(p.k, 256);
}
END_TEST

START_TEST(test_prms_rounding_rules)
{
	/* 0.0625 * 100 = 6.25: the paper rounds up, the original code down */
	ck_assert_uint_eq(nb_prms_k(100, 0.0625, NB_PRMS_CEIL), 7);
	ck_assert_uint_eq(nb_prms_k(100, 0.0625, NB_PRMS_FLOOR), 6);
	/* an exact product is not bumped by its binary representation:
	 * 0.3 * 10 is 3.0000000000000004 in double */
	ck_assert_uint_eq(nb_prms_k(10, 0.3, NB_PRMS_CEIL), 3);
	/* k is at least 1 and at most d */
	ck_assert_uint_eq(nb_prms_k(3, 0.0625, NB_PRMS_FLOOR), 1);
	ck_assert_uint_eq(nb_prms_k(7, 1.0, NB_PRMS_CEIL), 7);
}
END_TEST

START_TEST(test_invalid_problems_rejected)
{
	struct nb_problem p;

	p = nb_valid(NB_VARIANT_RMSNORM, 0);
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "d must be"));

	p = nb_valid(NB_VARIANT_RMSNORM, 8);
	p.rows = 0;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);

	p = nb_valid(NB_VARIANT_CRMSNORM, 1);
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);

	p = nb_valid(NB_VARIANT_PRMSNORM, 8);
	p.conv.prms_p = 0.0;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "(0, 1]"));
	p.conv.prms_p = 1.5;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);
	p.conv.prms_p = NAN;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);

	p = nb_valid(NB_VARIANT_RMSNORM, 8);
	p.conv.eps = -1.0;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);

	p = nb_valid(NB_VARIANT_RMSNORM, 8);
	p.x = NULL;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);
	p = nb_valid(NB_VARIANT_RMSNORM, 8);
	p.y = NULL;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);
	p = nb_valid(NB_VARIANT_RMSNORM, 8);
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_BACKWARD), NB_ERR_INVALID);

	p = nb_valid(NB_VARIANT_RMSNORM, (size_t)1 << 30);
	p.rows = (size_t)1 << 30;
	ck_assert_int_eq(nb_problem_check(&p, NB_DIR_FORWARD), NB_ERR_INVALID);

	ck_assert_int_eq(nb_problem_check(NULL, NB_DIR_FORWARD), NB_ERR_INVALID);
}
END_TEST

START_TEST(test_names_round_trip)
{
	for (int v = 0; v < NB_VARIANT_COUNT; v++)
		ck_assert_int_eq(nb_variant_from_name(nb_variant_name((enum nb_variant)v)), v);
	ck_assert_int_eq(nb_variant_from_name("batchnorm"), NB_VARIANT_COUNT);
	for (int t = 0; t < NB_DTYPE_COUNT; t++)
		ck_assert_int_eq(nb_dtype_from_name(nb_dtype_traits[t].name), t);
	ck_assert_int_eq(nb_dtype_from_name("f8"), NB_DTYPE_COUNT);
	ck_assert_int_eq(nb_dtype_from_name(NULL), NB_DTYPE_COUNT);
}
END_TEST

/* The traits of common/nb_variants.def: stored width, smallest d, names,
 * and the model norm kinds made of the same lines. */
START_TEST(test_variant_traits)
{
	for (int v = 0; v < NB_VARIANT_COUNT; v++) {
		const struct nb_variant_traits *tr = &nb_variant_traits[v];
		size_t less = v == NB_VARIANT_CRMSNORM ? 1 : 0;

		ck_assert_ptr_nonnull(tr->name);
		ck_assert_ptr_nonnull(tr->title);
		ck_assert_int_eq(strcasecmp(tr->name, tr->title), 0);
		ck_assert_uint_eq(nb_variant_stored((enum nb_variant)v, 4096), 4096 - less);
		ck_assert_uint_eq(nb_variant_min_d((enum nb_variant)v), 1 + less);
		ck_assert_uint_eq(nb_variant_stored((enum nb_variant)v, less), 0);
		ck_assert(tr->has_bias == (v == NB_VARIANT_LAYERNORM));
		ck_assert(tr->linear == (v == NB_VARIANT_FLASHNORM));
	}
	/* every model kind but NONE is the variant of the same name */
	for (int k = 0; k < NB_NORM_COUNT; k++) {
		enum nb_variant v = nb_norm_variant((enum nb_norm_kind)k);

		if (k == NB_NORM_NONE) {
			ck_assert_int_eq(v, NB_VARIANT_COUNT);
			ck_assert_uint_eq(nb_norm_stored((enum nb_norm_kind)k, 64), 64);
			continue;
		}
		ck_assert_int_lt(v, NB_VARIANT_COUNT);
		ck_assert_uint_eq(nb_norm_stored((enum nb_norm_kind)k, 64),
				  nb_variant_stored(v, 64));
	}
	ck_assert_int_eq(nb_norm_variant(NB_NORM_LAYERNORM), NB_VARIANT_LAYERNORM);
	ck_assert_int_eq(nb_norm_variant(NB_NORM_RMSNORM), NB_VARIANT_RMSNORM);
	ck_assert_int_eq(nb_norm_variant(NB_NORM_CRMSNORM), NB_VARIANT_CRMSNORM);
	ck_assert_int_eq(nb_norm_variant(NB_NORM_FLASHNORM), NB_VARIANT_FLASHNORM);
	ck_assert_uint_eq(nb_norm_stored(NB_NORM_CRMSNORM, 64), 63);
	ck_assert_int_eq(nb_norm_variant(NB_NORM_COUNT), NB_VARIANT_COUNT);
	ck_assert_str_eq(nb_variant_name(NB_VARIANT_COUNT), "?");
}
END_TEST

Suite *nb_suite_problem(void)
{
	Suite *s = suite_create("problem");
	TCase *tc = tcase_create("check");

	tcase_add_test(tc, test_valid_fills_n_and_k);
	tcase_add_test(tc, test_prms_rounding_rules);
	tcase_add_test(tc, test_invalid_problems_rejected);
	tcase_add_test(tc, test_names_round_trip);
	tcase_add_test(tc, test_variant_traits);
	suite_add_tcase(s, tc);
	return s;
}
