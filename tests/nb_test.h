/* Shared by the Check test files: each defines one Suite factory listed in
 * tests/suites.def, which the runner (tests/main.c) adds to one SRunner. */
#ifndef NB_TEST_H
#define NB_TEST_H

#include <check.h>

#define NB_SUITE(fn) Suite *fn(void);
#include "tests/suites.def"
#undef NB_SUITE

#endif
