/* `normbench report FILE.h5 [MORE.h5 ...] --out DIR`: paper-style tables,
 * gnuplot figures and one self-contained index.html from results files
 * (reports/nb_report.h does the work). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "bench/nb_publish.h"
#include "reports/nb_report.h"

#define NB_REPORT_DEFAULT_OUT "normbench-results/report"

static void nb_report_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench report FILE.h5 [MORE.h5 ...] [--out DIR] [--no-figures]\n"
		"                        [--gnuplot PROGRAM] [--scripts DIR] [-q]\n"
		"Writes a report of one or more results files (of 'normbench run', with or\n"
		"without the /verify group of 'normbench verify --into', or files of\n"
		"'normbench verify'), several machines side by side, into DIR:\n"
		"  index.html        one self-contained page: machines, tables, figures\n"
		"  timing.*          time per variant and speedup against LayerNorm with CIs\n"
		"  bandwidth.*       GB/s and the fraction of the machine's measured limit\n"
		"  claims.*, accuracy.*  the verification tables (when the inputs have them)\n"
		"  block.*           the end-to-end layer (when the inputs have such cells)\n"
		"  machines.*        the machine descriptions\n"
		"  (each table as .md, .tex (booktabs) and .csv; report.md holds them all)\n"
		"  fig-*.png/.svg    figures drawn by gnuplot, with their data in fig-*.dat\n"
		"\n"
		"  --out DIR         output folder (default " NB_REPORT_DEFAULT_OUT "); created\n"
		"                    when missing. The report replaces its own files there and\n"
		"                    removes those of an earlier report (manifest.txt) that it\n"
		"                    does not write again; other files are left alone.\n"
		"  --no-figures      tables and index.html only (no gnuplot needed)\n"
		"  --gnuplot PROG    gnuplot program or path (default: gnuplot in PATH)\n"
		"  --scripts DIR     folder of the gnuplot scripts (default: reports/ of the\n"
		"                    source tree, found from the executable's path)\n"
		"  -q, --quiet       print only the path of index.html\n"
		"\n"
		"Exit status 1: an input file is missing, damaged or not a normbench file\n"
		"(nothing is written); or gnuplot is missing or failed (the tables and\n"
		"index.html are written, the figures not).\n");
}

int nb_cmd_report(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-figures", no_argument, NULL, 'n' },
		{ "gnuplot", required_argument, NULL, 'g' },
		{ "scripts", required_argument, NULL, 's' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_report_options o = {
		.out_dir = NB_REPORT_DEFAULT_OUT,
		.gnuplot = "gnuplot",
		.figures = true,
	};
	struct nb_report_summary s;
	enum nb_status st;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:qh", opts, NULL)) != -1) {
		switch (opt) {
		case 'o': o.out_dir = optarg; break;
		case 'n': o.figures = false; break;
		case 'g': o.gnuplot = optarg; break;
		case 's': o.scripts_dir = optarg; break;
		case 'q': o.quiet = true; break;
		case 'h': nb_report_usage(stdout); return NB_EXIT_OK;
		case ':':
			fprintf(stderr, "normbench report: option '%s' needs a value\n",
				argv[optind - 1]);
			return NB_EXIT_ERROR;
		default:
			fprintf(stderr, "normbench report: unknown option '%s' (see normbench "
				"report --help)\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "normbench report: expected one or more results files (see "
			"normbench report --help)\n");
		return NB_EXIT_ERROR;
	}
	if (!*o.out_dir || !*o.gnuplot) {
		fprintf(stderr, "normbench report: empty --out or --gnuplot\n");
		return NB_EXIT_ERROR;
	}
	o.files = (const char *const *)(argv + optind);
	o.nfiles = (size_t)(argc - optind);
	/* the report owns its folder (it replaces and prunes the files of an
	 * earlier report there): an input inside it could be lost */
	for (size_t i = 0; i < o.nfiles; i++) {
		char dir[4096];
		nb_parent_dir(o.files[i], dir, sizeof(dir));
		if (nb_same_file(dir, o.out_dir)) {
			fprintf(stderr, "normbench report: the input %s lies in the report folder "
				"%s: refusing to write over inputs (choose another --out)\n",
				o.files[i], o.out_dir);
			return NB_EXIT_ERROR;
		}
	}
	st = nb_report_generate(&o, &s);
	if (st != NB_OK && s.index[0] == '\0') {
		fprintf(stderr, "normbench report: %s\n", nb_error());
		return NB_EXIT_ERROR;
	}
	if (!o.quiet)
		printf("wrote %zu table%s (.md, .tex, .csv) and %zu figure%s (.png, .svg) into %s\n",
		       s.tables, s.tables == 1 ? "" : "s", s.figures, s.figures == 1 ? "" : "s",
		       o.out_dir);
	printf("%s\n", s.index);
	if (st != NB_OK) {
		fprintf(stderr, "normbench report: %s\n", nb_error());
		return NB_EXIT_ERROR;
	}
	return NB_EXIT_OK;
}
