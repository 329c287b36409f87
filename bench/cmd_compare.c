/* `normbench compare BASE.h5 NEW.h5`: the CI regression gate (SPEC §7) — the
 * options, the files, the table on stdout, --md/--json, and the exit status
 * (0 no regression, 1 error, 2 verification failed in NEW, 3 regression). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "bench/nb_compare.h"
#include "bench/nb_publish.h"
#include "bench/nb_sweep.h"

enum {
	OPT_ALPHA = 256, OPT_MIN_EFFECT, OPT_SEED, OPT_RESAMPLES, OPT_MD, OPT_JSON, OPT_FORCE,
	OPT_EXACT, OPT_BASE, OPT_NEW, OPT_ALL_SAMPLES, OPT_INJECT, OPT_RUNS,
	OPT_INCONCLUSIVE_OK,
};

static const struct option nb_compare_options[] = {
	{ "alpha", required_argument, NULL, OPT_ALPHA },
	{ "min-effect", required_argument, NULL, OPT_MIN_EFFECT },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "resamples", required_argument, NULL, OPT_RESAMPLES },
	{ "md", required_argument, NULL, OPT_MD },
	{ "json", required_argument, NULL, OPT_JSON },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "exact", no_argument, NULL, OPT_EXACT },
	{ "all-samples", no_argument, NULL, OPT_ALL_SAMPLES },
	{ "runs", required_argument, NULL, OPT_RUNS },
	{ "inject-slowdown", required_argument, NULL, OPT_INJECT },
	{ "inconclusive-ok", no_argument, NULL, OPT_INCONCLUSIVE_OK },
	{ "base", required_argument, NULL, OPT_BASE },
	{ "new", required_argument, NULL, OPT_NEW },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void nb_compare_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench compare [OPTIONS] BASE.h5 NEW.h5\n"
		"       normbench compare [OPTIONS] AB.h5   (one file of 'run --baseline')\n"
		"       normbench compare [OPTIONS] --base B1.h5 --base B2.h5 ... --new N1.h5 ...\n"
		"The regression gate (docs/gate.md): matches the cells of two results files\n"
		"of 'normbench run'; the unit of evidence is the worker process (run\n"
		"--processes; an old file is one process). Each process gives one number,\n"
		"the lower quartile of its samples. A cell is REGRESSED when the whole\n"
		"distribution-free rank interval (Hodges-Lehmann / Mann-Whitney, level\n"
		"1 - 2 alpha) of the NEW/BASE ratio of those numbers lies above\n"
		"1 + min-effect; improved when below 1/(1 + min-effect); INCONCLUSIVE when the\n"
		"interval holds 1 + min-effect or a side has too few processes for it (5 at\n"
		"the default alpha; the reason and a process count to try are printed).\n"
		"Several files per side pool their processes.\n\n"
		"  --alpha A         the interval's level is 1 - 2A (default %g)\n"
		"  --min-effect E    smallest slowdown that fails, 0.05 = 5%% (default %g)\n"
		"  --seed N          (kept for scripts: the decision has no random part)\n"
		"  --resamples N     (kept for scripts; default %zu)\n"
		"  --md FILE         also write the report as Markdown (a PR comment; '-' stdout)\n"
		"  --json FILE       also write the report as JSON ('-' stdout)\n"
		"  --force           compare files whose machine keys differ\n"
		"  --exact           match cells by kernel name only (by default a cell whose\n"
		"                    best kernel changed, e.g. another ISA, pairs with its\n"
		"                    counterpart of the same variant/dtype/shape/threads/cache)\n"
		"  --all-samples     also judge samples during which the process was switched\n"
		"                    out or migrated (by default they are left out when every\n"
		"                    run of both sides keeps >= %zu clean samples of the cell)\n"
		"  --inject-slowdown S  calibration: multiply every NEW sample by 1 + S (0.1 =\n"
		"                    a 10%% slowdown) to see what this machine's noise lets\n"
		"                    the gate catch (scripts/gate-measure.sh measures it with\n"
		"                    a real slowdown instead)\n"
		"  --runs MODE       'pooled' (default): every process of every file of a\n"
		"                    side is one unit; 'best': only each side's fastest\n"
		"                    process, which shows the best times but can never\n"
		"                    decide (one unit a side: always INCONCLUSIVE)\n"
		"  --base FILE       a BASE file (repeatable; the first positional is one too)\n"
		"  --new FILE        a NEW file (repeatable; the second positional is one too)\n"
		"  --inconclusive-ok exit 0 instead of 4 when cells are inconclusive\n"
		"  -q, --quiet       no table: only the summary, failures and the result line\n"
		"  -h, --help\n\n"
		"Exit status: 0 no regression; 1 tool or input error (missing, damaged or\n"
		"foreign file, bad option, different machines without --force, no cell in\n"
		"common); 2 NEW records a verification failure (a cell's accuracy check failed\n"
		"or its error grew beyond the derived bound, or a /verify row fails) - this\n"
		"wins over 3, since timings of wrong results mean nothing; 3 performance\n"
		"regression; 4 no regression shown but some cell INCONCLUSIVE (0 with\n"
		"--inconclusive-ok). Cells present in one file only are listed, never dropped.\n",
		NB_COMPARE_ALPHA, NB_COMPARE_MIN_EFFECT, NB_COMPARE_RESAMPLES,
		NB_COMPARE_MIN_CLEAN);
}

/* Writes the report with fn to path ("-": stdout), under a temporary name
 * renamed into place only when complete. */
static int nb_write_report(const char *path, const char *what,
			   void (*fn)(const struct nb_compare_report *, FILE *),
			   const struct nb_compare_report *rep)
{
	struct nb_text_out out;

	if (strcmp(path, "-") == 0) {
		fn(rep, stdout);
		return fflush(stdout) == 0 ? 0 : -1;
	}
	if (nb_text_out_begin(path, &out) == NB_OK) {
		fn(rep, out.fp);
		if (nb_text_out_commit(&out, true) == NB_OK)
			return 0;
	}
	fprintf(stderr, "normbench compare: %s: %s\n", what, nb_error());
	return -1;
}

/* The --md and --json files must not be an input, nor each other. */
static enum nb_status nb_check_outputs(const char *md, const char *json, const char **base,
				       size_t nbase, const char **cand, size_t ncand)
{
	const char *outs[2] = { md, json };
	const char *what[2] = { "--md", "--json" };

	for (int i = 0; i < 2; i++) {
		if (nb_check_not_input(what[i], outs[i], base, nbase) != NB_OK ||
		    nb_check_not_input(what[i], outs[i], cand, ncand) != NB_OK)
			return NB_ERR_INVALID;
	}
	if (md && json && strcmp(md, "-") != 0 && strcmp(md, json) == 0)
		return nb_fail(NB_ERR_INVALID, "--md and --json name the same file %s", md);
	return NB_OK;
}

static int nb_push(const char ***list, size_t *n, const char *path)
{
	const char **p = realloc(*list, (*n + 1) * sizeof(*p));

	if (!p)
		return -1;
	p[(*n)++] = path;
	*list = p;
	return 0;
}

int nb_cmd_compare(int argc, char **argv)
{
	struct nb_compare_opts o;
	struct nb_compare_report rep;
	const char **base = NULL, **cand = NULL;
	const char *md = NULL, *json = NULL;
	size_t nbase = 0, ncand = 0;
	bool quiet = false;
	enum nb_status st;
	int rc = NB_EXIT_ERROR, c;
	long lv;
	uint64_t u;

	nb_compare_opts_default(&o);
	nb_compare_report_init(&rep);
	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "qh", nb_compare_options, NULL)) != -1) {
		st = NB_OK;
		switch (c) {
		case OPT_ALPHA:
			st = nb_parse_double(optarg, 0, 0.5, "--alpha", &o.alpha);
			break;
		case OPT_MIN_EFFECT:
			st = nb_parse_double(optarg, 0, 10, "--min-effect", &o.min_effect);
			break;
		case OPT_SEED:
			st = nb_parse_u64(optarg, "--seed", &u);
			o.seed = u;
			break;
		case OPT_RESAMPLES:
			st = nb_parse_int(optarg, 100, 1000000, "--resamples", &lv);
			o.resamples = (size_t)lv;
			break;
		case OPT_MD: md = optarg; break;
		case OPT_JSON: json = optarg; break;
		case OPT_FORCE: o.force = true; break;
		case OPT_EXACT: o.exact = true; break;
		case OPT_ALL_SAMPLES: o.all_samples = true; break;
		case OPT_INCONCLUSIVE_OK: o.inconclusive_ok = true; break;
		case OPT_RUNS:
			if (strcmp(optarg, "best") == 0)
				o.runs = NB_RUNS_BEST;
			else if (strcmp(optarg, "pooled") == 0)
				o.runs = NB_RUNS_POOLED;
			else
				st = nb_fail(NB_ERR_INVALID, "--runs: '%s' is neither best nor "
					     "pooled", optarg);
			break;
		case OPT_INJECT:
			st = nb_parse_double(optarg, -0.99, 100, "--inject-slowdown", &o.inject);
			break;
		case OPT_BASE:
		case OPT_NEW:
			if (nb_push(c == OPT_BASE ? &base : &cand, c == OPT_BASE ? &nbase : &ncand,
				    optarg) != 0) {
				fprintf(stderr, "normbench compare: out of memory\n");
				goto free_lists;
			}
			break;
		case 'q': quiet = true; break;
		case 'h':
			nb_compare_usage(stdout);
			rc = NB_EXIT_OK;
			goto free_lists;
		default:
			/* getopt said what was wrong, in one line */
			fprintf(stderr, "normbench compare: see 'normbench compare --help'\n");
			goto free_lists;
		}
		if (st != NB_OK) {
			fprintf(stderr, "normbench compare: %s\n", nb_error());
			goto free_lists;
		}
	}
	if (argc - optind > 2) {
		fprintf(stderr, "normbench compare: too many files: give BASE.h5 NEW.h5 (more "
			"per side with --base/--new)\n");
		goto free_lists;
	}
	if ((optind < argc && nb_push(&base, &nbase, argv[optind]) != 0) ||
	    (optind + 1 < argc && nb_push(&cand, &ncand, argv[optind + 1]) != 0)) {
		fprintf(stderr, "normbench compare: out of memory\n");
		goto free_lists;
	}
	if (nbase == 1 && ncand == 0 && argc - optind == 1) {
		/* one A/B file (run --baseline) */
		if (nb_compare_opts_check(&o) != NB_OK) {
			fprintf(stderr, "normbench compare: %s\n", nb_error());
			goto free_lists;
		}
		st = nb_compare_ab_file(base[0], &o, &rep);
		goto judged;
	}
	if (nbase == 0 || ncand == 0) {
		fprintf(stderr, "normbench compare: need a BASE and a NEW results file (see "
			"'normbench compare --help')\n");
		goto free_lists;
	}
	if (nb_check_outputs(md, json, base, nbase, cand, ncand) != NB_OK) {
		fprintf(stderr, "normbench compare: %s\n", nb_error());
		goto free_lists;
	}
	if (nb_compare_opts_check(&o) != NB_OK) {
		fprintf(stderr, "normbench compare: %s\n", nb_error());
		goto free_lists;
	}

	st = nb_compare_files(base, nbase, cand, ncand, &o, &rep);
judged:
	if (st != NB_OK) {
		fprintf(stderr, "normbench compare: %s\n", nb_error());
		goto free_report;
	}
	nb_compare_print_text(&rep, !quiet, stdout);
	rc = rep.exit_code;
	if (md && nb_write_report(md, "Markdown", nb_compare_write_md, &rep) != 0)
		rc = NB_EXIT_ERROR;
	if (json && nb_write_report(json, "JSON", nb_compare_write_json, &rep) != 0)
		rc = NB_EXIT_ERROR;
	if (fflush(stdout) != 0)
		rc = NB_EXIT_ERROR;
free_report:
	nb_compare_report_free(&rep);
free_lists:
	free(cand);
	free(base);
	return rc;
}
