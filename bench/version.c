/* Build facts the Makefile passes in: git revision, dirty flag, flags. */
#include "bench/nb_commands.h"

#ifndef NB_GIT_REV
#define NB_GIT_REV "unknown"
#endif
#ifndef NB_GIT_DIRTY
#define NB_GIT_DIRTY 1
#endif
#ifndef NB_CFLAGS
#define NB_CFLAGS "unknown"
#endif

const char nb_git_rev[] = NB_GIT_REV;
const int nb_git_dirty = NB_GIT_DIRTY;
const char nb_build_cflags[] = NB_CFLAGS;
