/* Subcommand entry points: each takes argc/argv from its own name on and
 * returns the process exit status (0 ok, 1 usage or I/O error, 2 a
 * verification failure, 3 a performance regression, 4 compare could not
 * decide a cell, 5 a failed block-suite self-check, 130 interrupted). */
#ifndef NB_COMMANDS_H
#define NB_COMMANDS_H

enum nb_exit {
	NB_EXIT_OK = 0,
	NB_EXIT_ERROR = 1,
	NB_EXIT_VERIFY_FAILED = 2,
	NB_EXIT_REGRESSION = 3,
	NB_EXIT_SELFCHECK_FAILED = 5,   /* run: the block suite's self-checks */
	NB_EXIT_INCONCLUSIVE = 4,   /* compare: no regression shown, but some
				     * cell could not be decided (docs/gate.md) */
};

#define NB_COMMAND(name, fn, summary) int fn(int argc, char **argv);
#include "bench/commands.def"
#undef NB_COMMAND

#define NB_VERSION "0.1.0"

/* Build facts baked in by the Makefile (bench/version.c). */
extern const char nb_git_rev[];
extern const int nb_git_dirty;
extern const char nb_build_cflags[];

#endif
