/* The shared command-line parsers (common/nb_cli.h): numbers, comma lists,
 * sizes, shapes, thread counts and eps refuse malformed, overflowing,
 * empty and out-of-range values with a message naming the option, count a
 * repeated item once, and give run and verify the same --eps limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_cli.h"
#include "tests/nb_test.h"

START_TEST(test_numbers)
{
	long l = 7;
	uint64_t u = 7;
	double d = 7;
	static const char *const bad_int[] = { "", " 1", "1 ", "1x", "abc", "0x10", "1.5",
					       "99999999999999999999" };

	ck_assert_int_eq(nb_parse_int("12", 1, 12, "--n", &l), NB_OK);
	ck_assert_int_eq(l, 12);
	ck_assert_int_eq(nb_parse_int("-3", -3, 0, "--n", &l), NB_OK);
	ck_assert_int_eq(l, -3);
	ck_assert_int_eq(nb_parse_int("13", 1, 12, "--n", &l), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "--n: 13 is out of range [1, 12]"));
	ck_assert_int_eq(nb_parse_int("0", 1, 12, "--n", &l), NB_ERR_INVALID);
	for (size_t i = 0; i < sizeof(bad_int) / sizeof(bad_int[0]); i++) {
		ck_assert_msg(nb_parse_int(bad_int[i], -1000, 1000, "--n", &l) == NB_ERR_INVALID,
			      "'%s' accepted", bad_int[i]);
		ck_assert_msg(strncmp(nb_error(), "--n: ", 5) == 0, "%s", nb_error());
	}
	ck_assert_int_eq(l, -3); /* untouched by the failures */

	ck_assert_int_eq(nb_parse_u64("18446744073709551615", "--seed", &u), NB_OK);
	ck_assert(u == UINT64_MAX);
	ck_assert_int_eq(nb_parse_u64("0x10", "--seed", &u), NB_OK);
	ck_assert(u == 16);
	ck_assert_int_eq(nb_parse_u64("18446744073709551616", "--seed", &u), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_u64("-1", "--seed", &u), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_u64("+1", "--seed", &u), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_u64("1k", "--seed", &u), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_u64("", "--seed", &u), NB_ERR_INVALID);
	ck_assert(u == 16);

	ck_assert_int_eq(nb_parse_double("0.5", 0, 1, "--x", &d), NB_OK);
	ck_assert(d == 0.5);
	ck_assert_int_eq(nb_parse_double("1e999", 0, 1e300, "--x", &d), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_double("nan", 0, 1, "--x", &d), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_double("inf", 0, 1e300, "--x", &d), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_double("0.5s", 0, 1, "--x", &d), NB_ERR_INVALID);
	ck_assert_int_eq(nb_parse_double("", 0, 1, "--x", &d), NB_ERR_INVALID);
	ck_assert(d == 0.5);
}
END_TEST

struct nb_items {
	char got[8][16];
	size_t n;
	const char *fail_on; /* an item the callback refuses */
};

static enum nb_status nb_collect(const char *tok, void *ctx)
{
	struct nb_items *it = ctx;

	if (it->fail_on && strcmp(tok, it->fail_on) == 0)
		return nb_fail(NB_ERR_NOTFOUND, "--list: unknown '%s'", tok);
	ck_assert_uint_lt(it->n, 8);
	snprintf(it->got[it->n++], sizeof(it->got[0]), "%s", tok);
	return NB_OK;
}

START_TEST(test_lists)
{
	static const char *const empty[] = { "", ",", "a,", ",a", "a,,b", "a, ,b", " " };
	struct nb_items it = { .n = 0 };
	char *longest;

	ck_assert_int_eq(nb_cli_each_item(" a ,b\t,a,c,b", "--list", nb_collect, &it), NB_OK);
	ck_assert_uint_eq(it.n, 3); /* blanks trimmed, repeats counted once */
	ck_assert_str_eq(it.got[0], "a");
	ck_assert_str_eq(it.got[1], "b");
	ck_assert_str_eq(it.got[2], "c");
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		memset(&it, 0, sizeof(it));
		ck_assert_msg(nb_cli_each_item(empty[i], "--list", nb_collect, &it) ==
			      NB_ERR_INVALID, "'%s' accepted", empty[i]);
		ck_assert_msg(strncmp(nb_error(), "--list: empty", 13) == 0, "%s", nb_error());
	}
	/* the callback's failure stops the walk and is returned as it is */
	memset(&it, 0, sizeof(it));
	it.fail_on = "b";
	ck_assert_int_eq(nb_cli_each_item("a,b,c", "--list", nb_collect, &it), NB_ERR_NOTFOUND);
	ck_assert_uint_eq(it.n, 1);
	ck_assert_str_eq(nb_error(), "--list: unknown 'b'");
	/* the length limit is exact */
	longest = malloc(NB_CLI_MAX_LIST + 2);
	ck_assert_ptr_nonnull(longest);
	for (size_t i = 0; i < NB_CLI_MAX_LIST; i++)
		longest[i] = i % 2 ? ',' : 'x';
	longest[NB_CLI_MAX_LIST - 1] = 'y';
	longest[NB_CLI_MAX_LIST] = '\0';
	memset(&it, 0, sizeof(it));
	ck_assert_int_eq(nb_cli_each_item(longest, "--list", nb_collect, &it), NB_OK);
	ck_assert_uint_eq(it.n, 2); /* "x" and "xy" */
	strcat(longest, "z");
	ck_assert_int_eq(nb_cli_each_item(longest, "--list", nb_collect, &it), NB_ERR_INVALID);
	free(longest);

	ck_assert(nb_cli_in_list("E1, E3", "E3"));
	ck_assert(!nb_cli_in_list("E1,E3", "E"));
	ck_assert(!nb_cli_in_list("E1,,E3", "E1")); /* malformed: nothing is in it */
}
END_TEST

START_TEST(test_sizes)
{
	size_t v[4] = { 0 }, n = 99;
	static const char *const bad[] = { "0", "17", "1,-2", "1,+2", "0x4", "1.0", "2k",
					   "99999999999999999999", "18446744073709551617" };

	ck_assert_int_eq(nb_cli_parse_sizes("4,1,4,16", 1, 16, 4, "--sizes", v, &n), NB_OK);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(v[0], 4);
	ck_assert_uint_eq(v[1], 1);
	ck_assert_uint_eq(v[2], 16);
	/* a value repeated under another spelling still counts once */
	ck_assert_int_eq(nb_cli_parse_sizes("4,04", 1, 16, 4, "--sizes", v, &n), NB_OK);
	ck_assert_uint_eq(n, 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = 99;
		ck_assert_msg(nb_cli_parse_sizes(bad[i], 1, 16, 4, "--sizes", v, &n) ==
			      NB_ERR_INVALID, "'%s' accepted", bad[i]);
		ck_assert_msg(strstr(nb_error(), "--sizes: item '"), "%s", nb_error());
		ck_assert_uint_eq(n, 99);
	}
	ck_assert_int_eq(nb_cli_parse_sizes("1,2,3,4,5", 1, 16, 4, "--sizes", v, &n),
			 NB_ERR_INVALID);
	ck_assert_str_eq(nb_error(), "--sizes: at most 4 items");
}
END_TEST

START_TEST(test_shapes_threads_eps)
{
	size_t r = 0, d = 0;
	int t = 0;
	double eps = -1;
	static const struct { const char *s, *msg; } bad[] = {
		{ "4", "malformed" }, { "x4", "malformed" }, { "4x", "malformed" },
		{ "-1x4", "malformed" }, { "4x+4", "malformed" }, { " 4x4", "malformed" },
		{ "4x4x4", "malformed" }, { "0x4", "at least 1" }, { "4x0", "at least 1" },
		{ "16777217x1", "at most 16777216" }, { "999999999999x1", "at most" },
		{ "9999999999999x1", "malformed" }, { "65536x65536", "elements" },
	};

	ck_assert_int_eq(nb_cli_parse_shape("64x4096", "--shape", &r, &d), NB_OK);
	ck_assert_uint_eq(r, 64);
	ck_assert_uint_eq(d, 4096);
	ck_assert_int_eq(nb_cli_parse_shape("16384X65536", "--shape", &r, &d), NB_OK);
	ck_assert_uint_eq(r * d, NB_CLI_MAX_ELEMENTS);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(nb_cli_parse_shape(bad[i].s, "--shape", &r, &d) == NB_ERR_INVALID,
			      "'%s' accepted", bad[i].s);
		ck_assert_msg(strncmp(nb_error(), "--shape: ", 9) == 0 &&
			      strstr(nb_error(), bad[i].msg), "'%s': %s", bad[i].s, nb_error());
	}

	ck_assert_int_eq(nb_cli_parse_threads("2", 2, "--threads", &t), NB_OK);
	ck_assert_int_eq(t, 2);
	ck_assert_int_eq(nb_cli_parse_threads("3", 2, "--threads", &t), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "exceeds the 2 CPUs"));
	ck_assert_int_eq(nb_cli_parse_threads("0", 2, "--threads", &t), NB_ERR_INVALID);
	ck_assert_int_eq(nb_cli_parse_threads("-1", 2, "--threads", &t), NB_ERR_INVALID);
	ck_assert_int_eq(nb_cli_parse_threads("two", 2, "--threads", &t), NB_ERR_INVALID);
	ck_assert_int_eq(nb_cli_parse_threads("99999999999999999999", 2, "--threads", &t),
			 NB_ERR_INVALID);
	ck_assert_int_eq(t, 2);
	ck_assert_int_ge(nb_cli_cores(), 1);

	ck_assert_int_eq(nb_cli_parse_eps("0", &eps), NB_OK);
	ck_assert(eps == 0);
	ck_assert_int_eq(nb_cli_parse_eps("1", &eps), NB_OK);
	ck_assert(eps == 1);
	ck_assert_int_eq(nb_cli_parse_eps("1e-5", &eps), NB_OK);
	ck_assert(eps == 1e-5);
	ck_assert_int_eq(nb_cli_parse_eps("1.0000001", &eps), NB_ERR_INVALID);
	ck_assert_int_eq(nb_cli_parse_eps("-1e-300", &eps), NB_ERR_INVALID);
	ck_assert_int_eq(nb_cli_parse_eps("nan", &eps), NB_ERR_INVALID);
	ck_assert_int_eq(nb_cli_parse_eps("1e-5x", &eps), NB_ERR_INVALID);
	ck_assert(eps == 1e-5);
}
END_TEST

/* run and verify take --eps through the same parser: the same values are
 * refused with the same message (accepting ones would start a whole run,
 * so the accepted side is the unit test above). */
START_TEST(test_eps_same_in_run_and_verify)
{
	static const char *const bad[] = { "2", "-1", "nan", "1e-5x", "" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char args[256], *err_run = NULL, *err_verify = NULL, *msg_run, *msg_verify;

		snprintf(args, sizeof(args), "run --eps '%s' -o never.h5", bad[i]);
		ck_assert_int_eq(nb_test_run_bin("cliparse", true, NULL, args, NULL, &err_run), 1);
		snprintf(args, sizeof(args), "verify --eps '%s' -o never.h5", bad[i]);
		ck_assert_int_eq(nb_test_run_bin("cliparse", true, NULL, args, NULL, &err_verify),
				 1);
		msg_run = strstr(err_run, "--eps");
		msg_verify = strstr(err_verify, "--eps");
		ck_assert_msg(msg_run && msg_verify, "run: %s verify: %s", err_run, err_verify);
		ck_assert_str_eq(msg_run, msg_verify);
		ck_assert_int_eq(nb_test_count_files("never"), 0);
		free(err_run);
		free(err_verify);
	}
}
END_TEST

Suite *nb_suite_cli_parse(void)
{
	Suite *s = suite_create("cli_parse");
	TCase *tc = tcase_create("parsers");

	tcase_add_checked_fixture(tc, NULL, nb_test_teardown);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_shapes_threads_eps);
	tcase_add_test(tc, test_eps_same_in_run_and_verify);
	suite_add_tcase(s, tc);
	return s;
}
