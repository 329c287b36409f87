/* The unit-test runner: every suite of tests/suites.def in one SRunner, so
 * `make check` ends with one Check summary line. */
#include <stdlib.h>

#include "tests/nb_test.h"

int main(void)
{
	SRunner *sr = srunner_create(NULL);
	int failed;

#define NB_SUITE(fn) srunner_add_suite(sr, fn());
#include "tests/suites.def"
#undef NB_SUITE
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
