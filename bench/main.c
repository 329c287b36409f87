/* normbench: one binary, one subcommand per job (bench/commands.def). */
#include <stdio.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "bench/nb_results.h"

struct nb_command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct nb_command nb_command_table[] = {
#define NB_COMMAND(name, fn, summary) { name, fn, summary },
#include "bench/commands.def"
#undef NB_COMMAND
};

static void nb_usage(FILE *out)
{
	fprintf(out, "usage: normbench COMMAND [OPTIONS]   (normbench COMMAND --help)\n\n"
		     "commands:\n");
	for (size_t i = 0; i < sizeof(nb_command_table) / sizeof(nb_command_table[0]); i++)
		fprintf(out, "  %-10s %s\n", nb_command_table[i].name,
			nb_command_table[i].summary);
}

int main(int argc, char **argv)
{
	/* before any HDF5 call: no at-exit cleanup, quiet errors (nb_results.h) */
	nb_results_quiet_hdf5();
	if (argc < 2) {
		nb_usage(stderr);
		return NB_EXIT_ERROR;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		nb_usage(stdout);
		return NB_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("normbench %s (git %s%s)\nflags: %s\n", NB_VERSION, nb_git_rev,
		       nb_git_dirty ? ", dirty" : "", nb_build_cflags);
		return NB_EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(nb_command_table) / sizeof(nb_command_table[0]); i++)
		if (strcmp(argv[1], nb_command_table[i].name) == 0)
			return nb_command_table[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "normbench: unknown command '%s'\n\n", argv[1]);
	nb_usage(stderr);
	return NB_EXIT_ERROR;
}
