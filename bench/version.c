/* Build facts: git revision, dirty flag and the compiler flags, from the
 * stamp header make writes at every build (scripts/build-stamp.sh). */
#include "bench/nb_commands.h"
#include "bench/nb_results.h"

#include "nb_build_stamp.h" /* $(BUILD)/, see the Makefile */

/* the flags are a root attribute of every results file (NB_RES_TEXT) */
_Static_assert(sizeof(NB_BUILD_CFLAGS) <= NB_RES_TEXT,
	       "the build flags do not fit the results file's cflags attribute");

const char nb_git_rev[] = NB_GIT_REV;
const int nb_git_dirty = NB_GIT_DIRTY;
const char nb_build_cflags[] = NB_BUILD_CFLAGS;
