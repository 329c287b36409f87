/* The build stamp (bench/version.c, written by scripts/build-stamp.sh at
 * every make): the flags it records are those this build compiled with,
 * the revision and dirty state are the checkout's (a tree without git, e.g.
 * a tarball, has none to compare: those checks say so and pass), and
 * `normbench --version` and a verification file carry the same stamp. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_h5io.h"
#include "tests/nb_test.h"

/* The first line cmd prints (trailing newline cut); false when it fails. */
static bool nb_first_line(const char *cmd, char *out, size_t size)
{
	FILE *p = popen(cmd, "r");
	bool ok;

	if (!p)
		return false;
	out[0] = '\0';
	if (!fgets(out, (int)size, p))
		out[0] = '\0';
	out[strcspn(out, "\n")] = '\0';
	ok = pclose(p) == 0;
	return ok;
}

/* Whether the tests run at the top of a git checkout of this tree (make
 * check runs them there); the same rule as scripts/build-stamp.sh. */
static bool nb_in_git_checkout(void)
{
	char top[PATH_MAX], cwd[PATH_MAX], real[PATH_MAX];

	if (!getcwd(cwd, sizeof(cwd)) ||
	    !nb_first_line("git rev-parse --show-toplevel 2>/dev/null", top, sizeof(top)) ||
	    !realpath(top, real))
		return false;
	return strcmp(real, cwd) == 0 && access("scripts/build-stamp.sh", F_OK) == 0;
}

START_TEST(test_flags_are_the_build_flags)
{
	/* the code-shaping flags of the Makefile's CFLAGS, not a hand-written
	 * summary: the standard, the contraction rule, each ISA folder's flags */
	ck_assert_msg(strstr(nb_build_cflags, "-ffp-contract=off"), "%s", nb_build_cflags);
	ck_assert_msg(strstr(nb_build_cflags, "-std=c17"), "%s", nb_build_cflags);
	ck_assert_msg(strstr(nb_build_cflags, "-fopenmp"), "%s", nb_build_cflags);
#if defined(__x86_64__)
	ck_assert_msg(strstr(nb_build_cflags, "avx2: -mavx2"), "%s", nb_build_cflags);
	ck_assert_msg(strstr(nb_build_cflags, "-mavx512bf16"), "%s", nb_build_cflags);
#elif defined(__aarch64__)
	ck_assert_msg(strstr(nb_build_cflags, "sve: -march=armv8-a+sve"), "%s", nb_build_cflags);
#endif
	/* this test file is compiled with the same CFLAGS: a sanitizer build
	 * must say so, a normal one must not */
#if defined(__SANITIZE_ADDRESS__)
	ck_assert_msg(strstr(nb_build_cflags, "-fsanitize=address"), "%s", nb_build_cflags);
#else
	ck_assert_msg(!strstr(nb_build_cflags, "-fsanitize"), "%s", nb_build_cflags);
#endif
	/* dependency generation and warnings do not shape the code */
	ck_assert_msg(!strstr(nb_build_cflags, "-MMD"), "%s", nb_build_cflags);
	ck_assert_msg(!strstr(nb_build_cflags, "-Wall"), "%s", nb_build_cflags);
}
END_TEST

START_TEST(test_revision_is_head)
{
	char rev[64], status[4096];
	bool clean;

	if (!nb_in_git_checkout()) {
		printf("version: not run at the top of a git checkout; revision not checked "
		       "(stamp: %s)\n", nb_git_rev);
		return;
	}
	ck_assert(nb_first_line("git rev-parse --short=12 HEAD", rev, sizeof(rev)));
	ck_assert_msg(strcmp(rev, nb_git_rev) == 0, "stamp %s, HEAD %s (rebuild: make)",
		      nb_git_rev, rev);
	ck_assert(nb_first_line("git --no-optional-locks status --porcelain", status,
				sizeof(status)));
	clean = status[0] == '\0';
	ck_assert_msg(nb_git_dirty == !clean, "stamp dirty=%d, but the tree is %s%s",
		      nb_git_dirty, clean ? "clean" : "dirty: ", status);
}
END_TEST

/* --version and a verification file carry the stamp of the binary. */
START_TEST(test_version_and_files_carry_the_stamp)
{
	char *out = NULL, *err = NULL;
	char attr[256];
	hid_t f;

	ck_assert_int_eq(nb_test_run_bin("version", true, NULL, "--version", &out, &err), 0);
	ck_assert_msg(strstr(out, nb_git_rev), "%s", out);
	ck_assert_msg(strstr(out, nb_build_cflags), "%s", out);
	ck_assert_msg((strstr(out, "dirty") != NULL) == (nb_git_dirty != 0), "%s", out);
	free(out);
	free(err);
	ck_assert_int_eq(nb_test_run_bin("version", true, NULL,
					 "verify --quick --claims E6 --no-kernels -o v.h5", NULL,
					 &err), 0);
	free(err);
	f = nb_h5_open_readonly(nb_test_path("version", "v.h5"));
	ck_assert_int_ge(f, 0);
	ck_assert_int_eq(nb_h5_read_string_attr(f, "cflags", attr, sizeof(attr)), NB_OK);
	ck_assert_str_eq(attr, nb_build_cflags);
	ck_assert_int_eq(nb_h5_read_string_attr(f, "git_rev", attr, sizeof(attr)), NB_OK);
	ck_assert_str_eq(attr, nb_git_rev);
	H5Fclose(f);
}
END_TEST

Suite *nb_suite_version(void)
{
	Suite *s = suite_create("version");
	TCase *tc = tcase_create("stamp");

	tcase_add_checked_fixture(tc, NULL, nb_test_teardown);
	tcase_add_test(tc, test_flags_are_the_build_flags);
	tcase_add_test(tc, test_revision_is_head);
	tcase_add_test(tc, test_version_and_files_carry_the_stamp);
	suite_add_tcase(s, tc);
	return s;
}
