/* Problem validation: every user-reachable mistake gets a status and a
 * message, never a crash; the conventions fill n and k as SPEC §1 says. */
#include <math.h>
#include <string.h>

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

Suite *nb_suite_problem(void)
{
	Suite *s = suite_create("problem");
	TCase *tc = tcase_create("check");

	tcase_add_test(tc, test_valid_fills_n_and_k);
	tcase_add_test(tc, test_prms_rounding_rules);
	tcase_add_test(tc, test_invalid_problems_rejected);
	tcase_add_test(tc, test_names_round_trip);
	suite_add_tcase(s, tc);
	return s;
}
