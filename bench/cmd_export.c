/* `normbench export FILE --csv [--out DIR]`: the tables of a results file as
 * CSV files (meta.csv, cells.csv, samples.csv, counters.csv, stream.csv,
 * caches.csv), each written to a temporary name and renamed. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_publish.h"
#include "bench/nb_results.h"

static void nb_export_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench export FILE --csv [--out DIR] [--force]\n"
		"Writes the tables of a results file as CSV into DIR (default: FILE without\n"
		"'.h5', plus '-csv'): meta.csv (root attributes, attribute,value),\n"
		"cells.csv, samples.csv, counters.csv, stream.csv and caches.csv (the\n"
		"/bench tables, one header line of field names; units: docs/results-files.md).\n"
		"Existing CSV files are replaced only with --force.\n");
}

/* Writes one CSV through a temporary file renamed into place; never onto
 * the input file. */
static enum nb_status nb_export_one(const struct nb_results *r, const char *input,
				    const char *dir, const char *name, bool force)
{
	char path[PATH_MAX];
	struct nb_text_out out;
	enum nb_status st;

	if (snprintf(path, sizeof(path), "%s/%s.csv", dir, name) >= (int)sizeof(path))
		return nb_fail(NB_ERR_INVALID, "output folder name too long");
	if (nb_check_not_input("output", path, &input, 1) != NB_OK)
		return NB_ERR_INVALID;
	if (!force && access(path, F_OK) == 0)
		return nb_fail(NB_ERR_IO, "%s exists (use --force to replace it)", path);
	st = nb_text_out_begin(path, &out);
	if (st != NB_OK)
		return st;
	st = strcmp(name, "meta") == 0 ? nb_results_write_meta_csv(r, out.fp)
		: nb_results_write_csv(r, name, out.fp);
	if (st != NB_OK) {
		nb_text_out_abort(&out);
		return st;
	}
	return nb_text_out_commit(&out, force);
}

int nb_cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "csv", no_argument, NULL, 'c' },
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_results r;
	const char *out = NULL;
	char dir[PATH_MAX];
	bool csv = false, force = false;
	int opt, rc = NB_EXIT_ERROR;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': csv = true; break;
		case 'o': out = optarg; break;
		case 'f': force = true; break;
		case 'h': nb_export_usage(stdout); return NB_EXIT_OK;
		case ':':
			fprintf(stderr, "normbench export: option '%s' needs a value\n",
				argv[optind - 1]);
			return NB_EXIT_ERROR;
		default:
			fprintf(stderr, "normbench export: unknown option '%s' (see normbench "
				"export --help)\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "normbench export: expected exactly one results file (see "
			"normbench export --help)\n");
		return NB_EXIT_ERROR;
	}
	if (!csv) {
		fprintf(stderr, "normbench export: say which format: --csv (the only one so "
			"far)\n");
		return NB_EXIT_ERROR;
	}
	if (out) {
		if (!*out || snprintf(dir, sizeof(dir), "%s", out) >= (int)sizeof(dir)) {
			fprintf(stderr, "normbench export: bad --out folder\n");
			return NB_EXIT_ERROR;
		}
	} else {
		const char *in = argv[optind];
		size_t len = strlen(in);
		if (len > 3 && strcmp(in + len - 3, ".h5") == 0)
			len -= 3;
		if (snprintf(dir, sizeof(dir), "%.*s-csv", (int)len, in) >= (int)sizeof(dir)) {
			fprintf(stderr, "normbench export: file name too long\n");
			return NB_EXIT_ERROR;
		}
	}
	if (nb_results_read(argv[optind], &r) != NB_OK) {
		fprintf(stderr, "normbench export: %s\n", nb_error());
		goto free_results;
	}
	{
		char probe[PATH_MAX + 8];
		snprintf(probe, sizeof(probe), "%s/x", dir);
		if (nb_results_make_parent_dirs(probe) != NB_OK) {
			fprintf(stderr, "normbench export: %s\n", nb_error());
			goto free_results;
		}
	}
	if (nb_export_one(&r, argv[optind], dir, "meta", force) != NB_OK)
		goto fail;
	for (size_t i = 0; i < NB_RESULTS_NTABLES; i++)
		if (nb_export_one(&r, argv[optind], dir, nb_results_table_name(i), force) != NB_OK)
			goto fail;
	printf("wrote %s/{meta,cells,samples,counters,stream,caches}.csv (%zu cells, %zu "
	       "samples)\n", dir, r.ncells, r.nsamples);
	rc = NB_EXIT_OK;
	goto free_results;
fail:
	fprintf(stderr, "normbench export: %s\n", nb_error());
free_results:
	nb_results_free(&r);
	return rc;
}
