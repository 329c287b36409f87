/* Shared by the Check test files: each defines one Suite factory listed in
 * tests/suites.def, which the runner (tests/main.c) adds to one SRunner;
 * and the fixtures several of them use (tests/nb_test.c). */
#ifndef NB_TEST_H
#define NB_TEST_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>

#define NB_SUITE(fn) Suite *fn(void);
#include "tests/suites.def"
#undef NB_SUITE

/*
 * A temporary folder per test, /tmp/nb_test_<tag>.XXXXXX (tag: the test
 * file's, e.g. "cli"), made on first use; nb_test_teardown, added as a
 * checked fixture, removes it and everything in it. Tests run forked, so
 * the folder is the running test's alone.
 */
const char *nb_test_dir(const char *tag);
/* dir/name, in one of 256 rotating buffers (far more than a test keeps
 * alive at once). */
const char *nb_test_path(const char *tag, const char *name);
void nb_test_teardown(void);
/* Files in the test's folder whose name contains part. */
int nb_test_count_files(const char *part);

/* The whole file as a NUL-terminated string the caller frees (NULL when
 * missing); *len its size when len is not NULL. */
char *nb_test_slurp(const char *path, size_t *len);
bool nb_test_exists(const char *path);

/* Runs "ENV '$NB_BIN' ARGS" through sh (in the test's folder when in_dir),
 * stdout and stderr into files of the folder; *out and *err (each may be
 * NULL) get their text, which the caller frees. Returns the exit status. */
int nb_test_run_bin(const char *tag, bool in_dir, const char *env, const char *args,
		    char **out, char **err);

#endif
