/* `normbench verify`: the equivalence claims E1-E6 and the accuracy sweep of
 * every registry entry (or every kernel on the user's own rows, --input),
 * printed as tables and written as /verify into an HDF5 file. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_publish.h"
#include "bench/nb_results.h"
#include "common/nb_cli.h"
#include "kernels/nb_kernels.h"
#include "verify/nb_accsweep.h"
#include "verify/nb_claims.h"
#include "common/nb_rng.h"
#include "verify/nb_data.h"
#include "verify/nb_verify_file.h"

#define NB_VERIFY_DEFAULT_DIR "normbench-results"

struct nb_verify_opts {
	bool quick;
	bool force;
	bool verbose;
	bool no_claims;
	bool no_kernels;
	const char *claims;          /* --claims E1,E3 */
	const char *kernels;         /* --kernels NAME,... */
	const char *variants;        /* --variants rmsnorm,... */
	uint64_t seed;
	struct nb_conventions conv;
	const char *output;          /* -o */
	const char *into;            /* --into */
	const char *input;           /* --input FILE:/dataset */
	enum nb_dtype words;         /* --dtype (16-bit words), else COUNT */
	const char *dump;            /* --dump DIR_OR_FILE */
	bool gain_random;
	uint64_t gain_seed;
	const char *gain_spec;       /* --gain FILE:/g */
	const char *bias_spec;       /* --bias FILE:/b */
	const char *make_outliers;   /* --make-outliers OUT:/x */
	size_t shape_rows;
	size_t shape_d;
	int threads;
};

static void nb_verify_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench verify [--quick] [--claims E1,E3] [--kernels NAME,...]\n"
		"                        [--variants V,...] [--seed N] [--eps X] [--eps-outside]\n"
		"                        [-o FILE | --into RUN.h5] [--force] [-v]\n"
		"       normbench verify --input FILE.h5:/dataset [--dtype f16|bf16]\n"
		"                        [--variants V,...] [--kernels NAME,...] [--dump DIR_OR_FILE]\n"
		"                        [--gain-random SEED] [-o FILE | --into RUN.h5]\n"
		"                        [--gain FILE.h5:/g] [--bias FILE.h5:/b] [--eps X] [--eps-outside]\n"
		"       normbench verify --make-outliers OUT.h5:/x [--shape ROWSxD] [--seed N]\n"
		"\n"
		"Checks the equivalence claims E1-E6 (each with a negative control that must\n"
		"fail) and every usable kernel of the registry, forward and backward, in every\n"
		"dtype, against the long-double reference with a derived error bound.\n"
		"\n"
		"  --quick            reduced set for CI (seconds); default: full set (minutes)\n"
		"  --claims LIST      only these claims (E1..E6, comma separated)\n"
		"  --kernels LIST     only these registry kernels (names as in 'normbench list')\n"
		"  --variants LIST    only kernels of these variants (layernorm, rmsnorm, ...)\n"
		"  --no-claims        skip the claims;  --no-kernels  skip the accuracy sweep\n"
		"  --seed N           base seed of the data and models (default 1)\n"
		"  --eps X            eps of the kernels judged, in [0, 1] (default 1e-5)\n"
		"  --eps-outside      primary convention 1/(sqrt(ms)+eps) instead of\n"
		"                     1/sqrt(ms+eps); the sweep also covers the other one\n"
		"  --threads N        kernel threads, 1 .. the CPUs this process may use\n"
		"                     (default: OpenMP's)\n"
		"  -o, --output FILE  write /verify to FILE (default\n"
		"                     " NB_VERIFY_DEFAULT_DIR "/verify-<UTC>.h5; with --input\n"
		"                     only when -o or --into is given)\n"
		"  --into RUN.h5      add /verify to the results file of 'normbench run'\n"
		"                     (atomically: copy, add, rename over)\n"
		"  --force            replace an existing output file or /verify group\n"
		"  -v, --verbose      print every kernel row, not the worst per kernel\n"
		"\n"
		"Real data:\n"
		"  --input F.h5:/ds   a 2-D dataset (rows x d) of float32/float64 (or float16),\n"
		"                     or of 16-bit words read as --dtype f16|bf16; every kernel\n"
		"                     runs on these rows (narrowed with round-to-nearest-even\n"
		"                     where the kernel is 16-bit) against the long-double reference\n"
		"  --dump PATH        write each kernel's outputs and the reference's (f64) to\n"
		"                     PATH, or to PATH/<input-name>-dump.h5 when PATH is a folder\n"
		"  --gain-random SEED random gains and biases (default: gains 1, biases 0)\n"
		"  --gain F.h5:/g     your layer's gain, a 1-D dataset of d values (CRMSNorm\n"
		"  --bias F.h5:/b     uses the first d-1), and its bias; each rounded once into\n"
		"                     the kernel's dtype like the rows\n"
		"  --make-outliers F.h5:/x  write outlier-heavy rows (a few channels 100-1000x,\n"
		"                     some rows with a large mean) for trying --input\n"
		"  --shape ROWSxD     shape for --make-outliers (default 64x4096)\n"
		"\n"
		"Exit status: 0 everything holds, 2 a claim or kernel failed (a negative\n"
		"control that does not fail counts as a failure), 1 usage or I/O error.\n"
		"NB_VERIFY_INJECT=poor adds a deliberately inaccurate kernel (f16\n"
		"accumulation): use it to check that your CI gate catches a failure.\n");
}

enum {
	NB_OPT_QUICK = 256, NB_OPT_CLAIMS, NB_OPT_KERNELS, NB_OPT_VARIANTS, NB_OPT_SEED,
	NB_OPT_EPS, NB_OPT_EPS_OUTSIDE, NB_OPT_INTO, NB_OPT_FORCE, NB_OPT_INPUT,
	NB_OPT_DTYPE, NB_OPT_DUMP, NB_OPT_GAIN_RANDOM, NB_OPT_MAKE_OUTLIERS, NB_OPT_SHAPE,
	NB_OPT_NO_CLAIMS, NB_OPT_NO_KERNELS, NB_OPT_THREADS, NB_OPT_GAIN, NB_OPT_BIAS,
};

/* A value the shared parsers (common/nb_cli.h) refused: their message. */
static int nb_verify_bad_value(void)
{
	fprintf(stderr, "normbench verify: %s\n", nb_error());
	return NB_EXIT_ERROR;
}

/* Parses argv into o; returns -1 to go on, else the exit status. */
static int nb_verify_parse(int argc, char **argv, struct nb_verify_opts *o)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "quick", no_argument, NULL, NB_OPT_QUICK },
		{ "claims", required_argument, NULL, NB_OPT_CLAIMS },
		{ "kernels", required_argument, NULL, NB_OPT_KERNELS },
		{ "variants", required_argument, NULL, NB_OPT_VARIANTS },
		{ "no-claims", no_argument, NULL, NB_OPT_NO_CLAIMS },
		{ "no-kernels", no_argument, NULL, NB_OPT_NO_KERNELS },
		{ "seed", required_argument, NULL, NB_OPT_SEED },
		{ "eps", required_argument, NULL, NB_OPT_EPS },
		{ "eps-outside", no_argument, NULL, NB_OPT_EPS_OUTSIDE },
		{ "threads", required_argument, NULL, NB_OPT_THREADS },
		{ "output", required_argument, NULL, 'o' },
		{ "into", required_argument, NULL, NB_OPT_INTO },
		{ "force", no_argument, NULL, NB_OPT_FORCE },
		{ "verbose", no_argument, NULL, 'v' },
		{ "input", required_argument, NULL, NB_OPT_INPUT },
		{ "dtype", required_argument, NULL, NB_OPT_DTYPE },
		{ "dump", required_argument, NULL, NB_OPT_DUMP },
		{ "gain-random", required_argument, NULL, NB_OPT_GAIN_RANDOM },
		{ "gain", required_argument, NULL, NB_OPT_GAIN },
		{ "bias", required_argument, NULL, NB_OPT_BIAS },
		{ "make-outliers", required_argument, NULL, NB_OPT_MAKE_OUTLIERS },
		{ "shape", required_argument, NULL, NB_OPT_SHAPE },
		{ NULL, 0, NULL, 0 },
	};
	bool shape_given = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->seed = 1;
	o->conv = NB_CONVENTIONS_DEFAULT;
	o->words = NB_DTYPE_COUNT;
	o->shape_rows = 64;
	o->shape_d = 4096;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":ho:v", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			nb_verify_usage(stdout);
			return NB_EXIT_OK;
		case NB_OPT_QUICK: o->quick = true; break;
		case NB_OPT_CLAIMS: o->claims = optarg; break;
		case NB_OPT_KERNELS: o->kernels = optarg; break;
		case NB_OPT_VARIANTS: o->variants = optarg; break;
		case NB_OPT_NO_CLAIMS: o->no_claims = true; break;
		case NB_OPT_NO_KERNELS: o->no_kernels = true; break;
		case NB_OPT_FORCE: o->force = true; break;
		case 'v': o->verbose = true; break;
		case 'o': o->output = optarg; break;
		case NB_OPT_INTO: o->into = optarg; break;
		case NB_OPT_INPUT: o->input = optarg; break;
		case NB_OPT_DUMP: o->dump = optarg; break;
		case NB_OPT_GAIN: o->gain_spec = optarg; break;
		case NB_OPT_BIAS: o->bias_spec = optarg; break;
		case NB_OPT_MAKE_OUTLIERS: o->make_outliers = optarg; break;
		case NB_OPT_EPS_OUTSIDE: o->conv.eps_mode = NB_EPS_OUTSIDE; break;
		case NB_OPT_SEED:
			if (nb_parse_u64(optarg, "--seed", &o->seed) != NB_OK)
				return nb_verify_bad_value();
			break;
		case NB_OPT_GAIN_RANDOM:
			if (nb_parse_u64(optarg, "--gain-random", &o->gain_seed) != NB_OK)
				return nb_verify_bad_value();
			o->gain_random = true;
			break;
		case NB_OPT_THREADS:
			if (nb_cli_parse_threads(optarg, nb_cli_cores(), "--threads",
						 &o->threads) != NB_OK)
				return nb_verify_bad_value();
			break;
		case NB_OPT_EPS:
			if (nb_cli_parse_eps(optarg, &o->conv.eps) != NB_OK)
				return nb_verify_bad_value();
			break;
		case NB_OPT_DTYPE:
			o->words = nb_dtype_from_name(optarg);
			if (o->words != NB_DTYPE_F16 && o->words != NB_DTYPE_BF16) {
				fprintf(stderr, "normbench verify: --dtype is f16 or bf16 (how to "
					"read 16-bit words), not '%s'\n", optarg);
				return NB_EXIT_ERROR;
			}
			break;
		case NB_OPT_SHAPE:
			if (nb_cli_parse_shape(optarg, "--shape", &o->shape_rows,
					       &o->shape_d) != NB_OK)
				return nb_verify_bad_value();
			shape_given = true;
			break;
		case ':':
			fprintf(stderr, "normbench verify: %s needs a value\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		default:
			fprintf(stderr, "normbench verify: unknown option '%s' (see normbench "
				"verify --help)\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "normbench verify: unexpected argument '%s'\n", argv[optind]);
		return NB_EXIT_ERROR;
	}
	if (o->output && o->into) {
		fprintf(stderr, "normbench verify: give -o or --into, not both\n");
		return NB_EXIT_ERROR;
	}
	if (o->make_outliers && (o->input || o->into || o->output || o->dump)) {
		fprintf(stderr, "normbench verify: --make-outliers only writes a dataset; "
			"run --input on it afterwards\n");
		return NB_EXIT_ERROR;
	}
	if (shape_given && !o->make_outliers) {
		fprintf(stderr, "normbench verify: --shape goes with --make-outliers\n");
		return NB_EXIT_ERROR;
	}
	if (!o->input && (o->words != NB_DTYPE_COUNT || o->dump || o->gain_random)) {
		fprintf(stderr, "normbench verify: --dtype, --dump and --gain-random go "
			"with --input\n");
		return NB_EXIT_ERROR;
	}
	if (!o->input && (o->gain_spec || o->bias_spec)) {
		fprintf(stderr, "normbench verify: --gain and --bias go with --input\n");
		return NB_EXIT_ERROR;
	}
	if (o->gain_random && (o->gain_spec || o->bias_spec)) {
		fprintf(stderr, "normbench verify: give --gain/--bias or --gain-random, "
			"not both\n");
		return NB_EXIT_ERROR;
	}
	if (o->input && (o->claims || o->no_claims || o->no_kernels || o->quick)) {
		fprintf(stderr, "normbench verify: --input runs the kernels on your rows "
			"only (no claims, no --quick)\n");
		return NB_EXIT_ERROR;
	}
	if (o->no_claims && o->no_kernels) {
		fprintf(stderr, "normbench verify: --no-claims and --no-kernels leave "
			"nothing to do\n");
		return NB_EXIT_ERROR;
	}
	return -1;
}

/* The command line as one string, for the file's attributes. */
static void nb_join_args(int argc, char **argv, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	used += (size_t)snprintf(buf, size, "normbench");
	for (int i = 0; i < argc && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, " %s", argv[i]);
}

static enum nb_status nb_claim_item(const char *id, void *ctx)
{
	(void)ctx;
	if (!nb_claim_title(id))
		return nb_fail(NB_ERR_INVALID, "--claims: unknown claim '%s' (claims are "
			       "E1..E6)", id);
	return NB_OK;
}

/* Validates every id of a comma list of claims before anything runs. */
static bool nb_claims_filter_ok(const char *list)
{
	if (nb_cli_each_item(list, "--claims", nb_claim_item, NULL) != NB_OK) {
		fprintf(stderr, "normbench verify: %s\n", nb_error());
		return false;
	}
	return true;
}

static void nb_format_g(char *buf, size_t size, double v)
{
	if (isnan(v))
		snprintf(buf, size, "nan");
	else
		snprintf(buf, size, "%.3g", v);
}

/* ---- the claims ---- */

static enum nb_status nb_run_claims(const struct nb_verify_opts *o, struct nb_verify_tables *t)
{
	struct nb_claims_config cfg = NB_CLAIMS_CONFIG_DEFAULT;
	struct nb_claim_result *res = NULL;
	size_t count = 0;
	enum nb_status st;

	cfg.quick = o->quick;
	cfg.only = o->claims;
	cfg.seed = o->seed;
	cfg.threads = o->threads;
	st = nb_claims_run(&cfg, &res, &count);
	if (st != NB_OK)
		return st;
	for (size_t i = 0; i < count && st == NB_OK; i++) {
		const struct nb_claim_result *r = &res[i];
		struct nb_verify_claim_row row;

		memset(&row, 0, sizeof(row));
		nb_vf_strcpy(row.claim, sizeof(row.claim), r->claim);
		nb_vf_strcpy(row.name, sizeof(row.name), r->name);
		nb_vf_strcpy(row.dtype, sizeof(row.dtype), r->dtype);
		row.control = r->control;
		row.seed = r->seed;
		row.depth = (uint64_t)(r->depth > 0 ? r->depth : 0);
		row.heads = (uint64_t)(r->heads > 0 ? r->heads : 0);
		row.d = (uint64_t)(r->d > 0 ? r->d : 0);
		row.seq = (uint64_t)(r->seq > 0 ? r->seq : 0);
		row.param = r->param;
		row.observed = r->observed;
		row.bound = r->bound;
		row.err_a = r->err_a;
		row.err_b = r->err_b;
		row.pass = r->pass;
		nb_vf_strcpy(row.note, sizeof(row.note), r->note);
		st = nb_verify_add_claim(t, &row);
	}
	nb_claims_free(res);
	return st;
}

static void nb_print_claims(const struct nb_verify_tables *t)
{
	char obs[16], bnd[16], ea[16], eb[16];

	if (t->nclaims == 0)
		return;
	printf("\nEquivalence claims (differences normwise relative to the long-double "
	       "truth; a control must exceed its bound %gx)\n", NB_CONTROL_MARGIN);
	printf("%-3s %-52s %-5s %-4s %8s %2s %2s %5s %4s %10s %10s %10s %10s  %s\n",
	       "id", "claim", "dtype", "ctl", "seed", "L", "H", "d", "seq", "observed",
	       "bound", "err_a", "err_b", "verdict");
	for (size_t i = 0; i < t->nclaims; i++) {
		const struct nb_verify_claim_row *r = &t->claims[i];
		const char *verdict = r->control ? (r->pass ? "fails, as it must" :
						    "FAIL (control held)")
						 : (r->pass ? "holds" : "FAIL");

		nb_format_g(obs, sizeof(obs), r->observed);
		nb_format_g(bnd, sizeof(bnd), r->bound);
		nb_format_g(ea, sizeof(ea), r->err_a);
		nb_format_g(eb, sizeof(eb), r->err_b);
		printf("%-3s %-52.52s %-5s %-4s %8llu %2llu %2llu %5llu %4llu %10s %10s %10s "
		       "%10s  %s%s%s\n", r->claim, r->name, r->dtype, r->control ? "ctl" : "",
		       (unsigned long long)r->seed, (unsigned long long)r->depth,
		       (unsigned long long)r->heads, (unsigned long long)r->d,
		       (unsigned long long)r->seq, obs, bnd, ea, eb, verdict,
		       r->note[0] && !r->pass ? ": " : "", r->note[0] && !r->pass ? r->note : "");
	}
}

/* ---- the kernel table ---- */

static void nb_print_kernel_row(const struct nb_verify_kernel_row *r, size_t cases,
				size_t failed, double max_ulps)
{
	char ab[16], rel[16], ulps[16], ratio[16], where[96];

	nb_format_g(ab, sizeof(ab), r->max_abs_err);
	nb_format_g(rel, sizeof(rel), r->max_rel_err);
	nb_format_g(ulps, sizeof(ulps), max_ulps);
	nb_format_g(ratio, sizeof(ratio), r->err_to_bound);
	snprintf(where, sizeof(where), "%s %llux%llu [%lld,%lld]", r->data,
		 (unsigned long long)r->rows, (unsigned long long)r->d,
		 (long long)r->worst_row, (long long)r->worst_col);
	printf("%-38.38s %-5s %-4s %-4s %5zu %9s %9s %9s %9s  %-40.40s %s\n", r->kernel,
	       r->output, r->dtype, r->acc, cases, ab, rel, ulps, ratio, where,
	       failed ? "FAIL" : "holds");
	if (failed && r->note[0])
		printf("    %zu of %zu cases fail; worst: %s\n", failed, cases, r->note);
	else if (failed)
		printf("    %zu of %zu cases fail\n", failed, cases);
}

static bool nb_same_group(const struct nb_verify_kernel_row *a,
			  const struct nb_verify_kernel_row *b)
{
	return strcmp(a->kernel, b->kernel) == 0 && strcmp(a->output, b->output) == 0;
}

/* One line per (kernel, output), in order of first appearance: the case
 * with the largest error/bound, the largest ULPs over all cases; every row
 * with -v. */
static void nb_print_kernels(const struct nb_verify_tables *t, bool every_row)
{
	bool *done;

	if (t->nkernels == 0)
		return;
	printf("\nKernel accuracy against the long-double reference: max_* over all "
	       "cases (ULPs in the output's dtype);\nerr/bound and the element are "
	       "those of the worst case; err/bound <= 1 holds%s\n",
	       every_row ? "" : " (-v: every case)");
	printf("%-38s %-5s %-4s %-4s %5s %9s %9s %9s %9s  %-40s %s\n", "kernel", "out",
	       "dtyp", "acc", "cases", "max_abs", "max_rel", "max_ulps", "err/bound",
	       "worst case: data rows x d [row,col]", "verdict");
	done = every_row ? NULL : calloc(t->nkernels, sizeof(*done));
	if (!done) {
		/* -v, or no memory for the grouping: every row as it is */
		for (size_t i = 0; i < t->nkernels; i++)
			nb_print_kernel_row(&t->kernels[i], 1, !t->kernels[i].pass,
					    t->kernels[i].max_ulps);
		return;
	}
	for (size_t i = 0; i < t->nkernels; i++) {
		struct nb_verify_kernel_row shown;
		size_t worst = i, failed = 0, cases = 0;
		double max_ulps = 0.0, max_abs = 0.0, max_rel = 0.0;

		if (done[i])
			continue;
		for (size_t j = i; j < t->nkernels; j++) {
			const struct nb_verify_kernel_row *r = &t->kernels[j];
			if (done[j] || !nb_same_group(&t->kernels[i], r))
				continue;
			done[j] = true;
			cases++;
			if (!r->pass)
				failed++;
			if (r->max_ulps > max_ulps || isnan(r->max_ulps))
				max_ulps = r->max_ulps;
			if (r->max_abs_err > max_abs || isnan(r->max_abs_err))
				max_abs = r->max_abs_err;
			if (r->max_rel_err > max_rel || isnan(r->max_rel_err))
				max_rel = r->max_rel_err;
			if (!(r->err_to_bound <= t->kernels[worst].err_to_bound))
				worst = j;
		}
		shown = t->kernels[worst];
		shown.max_abs_err = max_abs;
		shown.max_rel_err = max_rel;
		nb_print_kernel_row(&shown, cases, failed, max_ulps);
	}
	free(done);
}

/* ---- the output file ---- */

/* Refuses up front what would only fail after minutes of work: an --into
 * file that is not a run's results file, an -o file that exists. */
static bool nb_output_ok(const struct nb_verify_opts *o)
{
	struct nb_results check;
	struct stat sb;
	enum nb_status st;

	if (o->into) {
		st = nb_results_read(o->into, &check);
		if (st == NB_OK && check.has_verify && !o->force)
			st = nb_fail(NB_ERR_IO, "%s already has a /verify group (use --force "
				     "to replace it)", o->into);
		nb_results_free(&check);
		if (st != NB_OK) {
			fprintf(stderr, "normbench verify: --into: %s\n", nb_error());
			return false;
		}
	}
	if (o->output && !o->force && stat(o->output, &sb) == 0) {
		fprintf(stderr, "normbench verify: %s exists (use --force to replace it)\n",
			o->output);
		return false;
	}
	return true;
}

/* Everything a sweep checks before any work: its filters, then the output. */
static bool nb_sweep_ready(const struct nb_verify_opts *o, const struct nb_accsweep_config *cfg)
{
	if (nb_accsweep_check_filters(cfg) != NB_OK) {
		fprintf(stderr, "normbench verify: %s\n", nb_error());
		return false;
	}
	return nb_output_ok(o);
}

static void nb_default_output(char *buf, size_t size)
{
	time_t now = time(NULL);
	struct tm tm;
	char stamp[32] = "unknown-time";

	if (now != (time_t)-1 && gmtime_r(&now, &tm))
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(buf, size, "%s/verify-%s.h5", NB_VERIFY_DEFAULT_DIR, stamp);
}

static int nb_write_tables(const struct nb_verify_opts *o, const struct nb_verify_tables *t,
			   const struct nb_verify_meta *m, bool default_file)
{
	char path[4096];
	enum nb_status st;

	if (o->into) {
		st = nb_verify_write_into(o->into, t, m, o->force);
		if (st != NB_OK) {
			fprintf(stderr, "normbench verify: %s\n", nb_error());
			return NB_EXIT_ERROR;
		}
		printf("\n/verify added to %s\n", o->into);
		return NB_EXIT_OK;
	}
	if (!o->output && !default_file)
		return NB_EXIT_OK;
	if (o->output)
		nb_vf_strcpy(path, sizeof(path), o->output);
	else
		nb_default_output(path, sizeof(path));
	st = nb_verify_write_file(path, t, m, o->force);
	if (st != NB_OK) {
		fprintf(stderr, "normbench verify: %s\n", nb_error());
		return NB_EXIT_ERROR;
	}
	printf("\nwrote %s\n", path);
	return NB_EXIT_OK;
}

static double nb_seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

/* The verdict: 2 when any row fails (a control that held is a failing
 * row), else 0. */
static int nb_verdict(const struct nb_verify_tables *t)
{
	size_t kf = nb_verify_failed_kernels(t), cf = nb_verify_failed_claims(t);

	printf("\n");
	if (t->nclaims)
		printf("%zu claim rows (%zu failed), ", t->nclaims, cf);
	printf("%zu kernel rows (%zu failed): %s\n", t->nkernels, kf,
	       kf + cf == 0 ? "everything holds" : "VERIFICATION FAILED");
	return kf + cf == 0 ? NB_EXIT_OK : NB_EXIT_VERIFY_FAILED;
}

static void nb_apply_inject(struct nb_accsweep_config *cfg)
{
	const char *inject = getenv("NB_VERIFY_INJECT");

	if (inject && strcmp(inject, "poor") == 0) {
		cfg->extra = nb_accsweep_poor_kernel();
		cfg->nextra = 1;
		fprintf(stderr, "normbench verify: NB_VERIFY_INJECT=poor: judging the "
			"deliberately poor kernel %s too\n", cfg->extra->name);
	}
}

static struct nb_accsweep_config nb_sweep_config(const struct nb_verify_opts *o)
{
	struct nb_accsweep_config cfg = NB_ACCSWEEP_CONFIG_DEFAULT;

	cfg.quick = o->quick;
	cfg.seed = o->seed;
	cfg.conv = o->conv;
	cfg.kernels = o->kernels;
	cfg.variants = o->variants;
	cfg.threads = o->threads;
	cfg.progress = isatty(STDERR_FILENO) != 0;
	nb_apply_inject(&cfg);
	return cfg;
}

static int nb_verify_sweep(const struct nb_verify_opts *o, const char *cmdline)
{
	struct nb_accsweep_config cfg = nb_sweep_config(o);
	struct nb_accsweep_stats stats = { 0 };
	struct nb_verify_tables t;
	struct nb_verify_meta m = { 0 };
	struct timespec t0;
	enum nb_status st;
	int rc;

	if (o->claims && !nb_claims_filter_ok(o->claims))
		return NB_EXIT_ERROR;
	if (!nb_sweep_ready(o, &cfg))
		return NB_EXIT_ERROR;
	nb_verify_tables_init(&t);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (!o->no_claims) {
		fprintf(stderr, "normbench verify: running the claims%s ...\n",
			o->quick ? " (quick set)" : "");
		st = nb_run_claims(o, &t);
		if (st != NB_OK) {
			fprintf(stderr, "normbench verify: claims: %s\n", nb_error());
			rc = NB_EXIT_ERROR;
			goto free_tables;
		}
	}
	if (!o->no_kernels) {
		fprintf(stderr, "normbench verify: judging the kernels%s ...\n",
			o->quick ? " (quick set)" : "");
		st = nb_accsweep_run(&cfg, &t, &stats);
		if (st != NB_OK) {
			fprintf(stderr, "normbench verify: accuracy sweep: %s\n", nb_error());
			rc = NB_EXIT_ERROR;
			goto free_tables;
		}
	}
	m.command_line = cmdline;
	m.mode = o->quick ? "quick" : "full";
	m.seed = o->seed;
	m.conv = o->conv;
	m.seconds = nb_seconds_since(&t0);
	printf("normbench verify (%s): seed %llu, eps %g %s, ISA cap %s, %.1f s\n", m.mode,
	       (unsigned long long)o->seed, o->conv.eps,
	       o->conv.eps_mode == NB_EPS_OUTSIDE ? "outside" : "inside",
	       nb_isa_name(nb_isa_cap()), m.seconds);
	nb_print_claims(&t);
	nb_print_kernels(&t, o->verbose);
	if (!o->no_kernels)
		printf("%zu kernels judged in %zu runs; %zu not usable on this CPU (or under "
		       "the ISA cap)\n", stats.kernels, stats.cases, stats.skipped);
	rc = nb_write_tables(o, &t, &m, true);
	if (rc == NB_EXIT_OK)
		rc = nb_verdict(&t);
free_tables:
	nb_verify_tables_free(&t);
	return rc;
}

/* ---- real data ---- */

static enum nb_status nb_dump_sink_array(void *ctx, const char *kernel, const char *name,
					 size_t rows, size_t cols, const double *values)
{
	return nb_verify_dump_array(ctx, kernel, name, rows, cols, values);
}

static enum nb_status nb_dump_sink_note(void *ctx, const char *kernel, const char *key,
					const char *value)
{
	return nb_verify_dump_note(ctx, kernel, key, value);
}

/* --dump PATH: PATH itself, or PATH/<input basename>-dump.h5 when PATH is a
 * folder (or ends in '/'). */
static void nb_dump_path(const char *dump, const char *input, char *buf, size_t size)
{
	char file[4096], dset[1024], base[512];
	const char *slash, *dot;
	struct stat sb;
	size_t len = strlen(dump);
	bool folder = (len > 0 && dump[len - 1] == '/') ||
		      (stat(dump, &sb) == 0 && S_ISDIR(sb.st_mode));

	if (!folder) {
		nb_vf_strcpy(buf, size, dump);
		return;
	}
	if (nb_verify_split_spec(input, file, sizeof(file), dset, sizeof(dset)) != NB_OK)
		nb_vf_strcpy(file, sizeof(file), "input");
	slash = strrchr(file, '/');
	nb_vf_strcpy(base, sizeof(base), slash ? slash + 1 : file);
	dot = strrchr(base, '.');
	if (dot && dot != base)
		base[dot - base] = '\0';
	snprintf(buf, size, "%s%s%s-dump.h5", dump, dump[len - 1] == '/' ? "" : "/", base);
}

/* --gain / --bias: a 1-D dataset of exactly d values, as doubles in *out
 * (NULL when spec is). Returns false after printing a one-line error. */
static bool nb_verify_read_param(const char *opt, const char *spec, size_t d, double **out)
{
	struct nb_verify_input v;

	*out = NULL;
	if (!spec)
		return true;
	if (nb_verify_read_vector(spec, NB_DTYPE_COUNT, &v) != NB_OK) {
		fprintf(stderr, "normbench verify: %s: %s\n", opt, nb_error());
		return false;
	}
	if (v.cols != d) {
		fprintf(stderr, "normbench verify: %s %s has %zu values but the input rows have "
			"d = %zu\n", opt, spec, v.cols, d);
		nb_verify_input_free(&v);
		return false;
	}
	*out = malloc(d * sizeof(**out));
	if (!*out) {
		fprintf(stderr, "normbench verify: no memory for %s\n", opt);
		nb_verify_input_free(&v);
		return false;
	}
	for (size_t j = 0; j < d; j++)
		(*out)[j] = nb_dtype_load(v.dtype, v.data, j);
	nb_verify_input_free(&v);
	return true;
}

/* The per-kernel console line of --input: the worst row in normwise ulps
 * (max |err| over the row / ulp of the row's max |ref|), with that row's
 * |mu|/sigma and rms from the input, against the row's bound. */
struct nb_input_rowstats {
	size_t rows;
	double *cond, *rms;   /* |mu|/sigma (inf for a constant nonzero row), rms */
};

static void nb_input_report(void *ctx, const struct nb_kernel *k, const struct nb_problem *p,
			    const struct nb_accuracy_report *rep)
{
	const struct nb_input_rowstats *rs = ctx;

	(void)p;
	for (size_t i = 0; i < rep->nparts; i++) {
		const struct nb_accuracy_part *pt = &rep->part[i];
		size_t r = pt->worst_norm_row;

		if (pt->out == NB_OUT_Y || pt->out == NB_OUT_DX || pt->out == NB_OUT_Z)
			printf("  %-36s %-5s worst row %zu (|mu|/sigma %.3g, rms %.3g): "
			       "%.3g ulp, bound %.3g ulp%s\n", k->name, nb_output_name(pt->out),
			       r, r < rs->rows ? rs->cond[r] : 0.0, r < rs->rows ? rs->rms[r] : 0.0,
			       pt->max_row_ulps, pt->row_bound_ulps, pt->pass ? "" : "  FAIL");
		else
			printf("  %-36s %-5s %.3g ulp, bound %.3g ulp%s\n", k->name,
			       nb_output_name(pt->out), pt->max_row_ulps, pt->row_bound_ulps,
			       pt->pass ? "" : "  FAIL");
		if (pt->unbounded)
			printf("  %-36s %-5s FAIL: %zu elements (first in row %zu) have no finite "
			       "derived bound\n", k->name, nb_output_name(pt->out), pt->unbounded,
			       pt->first_unbounded_row);
	}
}

static bool nb_input_rowstats_fill(const struct nb_verify_input *in,
				   struct nb_input_rowstats *rs)
{
	rs->rows = in->rows;
	rs->cond = malloc(2 * in->rows * sizeof(double));
	rs->rms = rs->cond ? rs->cond + in->rows : NULL;
	if (!rs->cond)
		return false;
	for (size_t r = 0; r < in->rows; r++) {
		long double s = 0.0L, q = 0.0L, mu, var = 0.0L;

		for (size_t j = 0; j < in->cols; j++) {
			long double v = nb_dtype_load(in->dtype, in->data, r * in->cols + j);

			s += v;
			q += v * v;
		}
		mu = s / (long double)in->cols;
		for (size_t j = 0; j < in->cols; j++) {
			long double c = nb_dtype_load(in->dtype, in->data, r * in->cols + j) - mu;

			var += c * c;
		}
		var /= (long double)in->cols;
		rs->cond[r] = var > 0.0L ? (double)(fabsl(mu) / sqrtl(var))
					 : (mu != 0.0L ? HUGE_VAL : 0.0);
		rs->rms[r] = (double)sqrtl(q / (long double)in->cols);
	}
	return true;
}

static int nb_verify_input(const struct nb_verify_opts *o, const char *cmdline)
{
	struct nb_accsweep_config cfg = nb_sweep_config(o);
	struct nb_accsweep_stats stats = { 0 };
	struct nb_verify_input in;
	struct nb_accsweep_data data;
	struct nb_verify_dump dump;
	struct nb_accsweep_sink sink = { &dump, nb_dump_sink_array, nb_dump_sink_note };
	struct nb_verify_tables t;
	struct nb_verify_meta m = { 0 };
	char dump_path[4600];
	double *x64 = NULL, *gain = NULL, *bias = NULL;
	bool *unjudged = NULL;
	struct nb_input_rowstats rowstats = { 0, NULL, NULL };
	struct timespec t0;
	enum nb_status st;
	int rc = NB_EXIT_ERROR;

	dump.file = -1;
	if (!nb_sweep_ready(o, &cfg))
		return NB_EXIT_ERROR;
	nb_verify_tables_init(&t);
	st = nb_verify_read_input(o->input, o->words, &in);
	if (st != NB_OK) {
		fprintf(stderr, "normbench verify: %s\n", nb_error());
		goto free_tables;
	}
	if (!nb_verify_read_param("--gain", o->gain_spec, in.cols, &gain) ||
	    !nb_verify_read_param("--bias", o->bias_spec, in.cols, &bias))
		goto free_input;
	if (bias && !gain) {
		gain = malloc(in.cols * sizeof(*gain));
		if (!gain) {
			fprintf(stderr, "normbench verify: no memory for the gains\n");
			goto free_input;
		}
		for (size_t j = 0; j < in.cols; j++)
			gain[j] = 1.0;
	}
	unjudged = calloc(in.rows, sizeof(*unjudged));
	if (!unjudged || !nb_input_rowstats_fill(&in, &rowstats)) {
		fprintf(stderr, "normbench verify: no memory for %zu rows\n", in.rows);
		goto free_input;
	}
	if (o->dump) {
		nb_dump_path(o->dump, o->input, dump_path, sizeof(dump_path));
		st = nb_verify_dump_begin(dump_path, o->force, &dump);
		if (st == NB_OK) {
			x64 = malloc(in.rows * in.cols * sizeof(*x64));
			if (!x64)
				st = nb_fail(NB_ERR_NOMEM, "no memory for the input copy");
		}
		for (size_t i = 0; st == NB_OK && i < in.rows * in.cols; i++)
			x64[i] = nb_dtype_load(in.dtype, in.data, i);
		if (st == NB_OK)
			st = nb_verify_dump_array(&dump, "input", "x", in.rows, in.cols, x64);
		if (st == NB_OK)
			st = nb_verify_dump_note(&dump, "input", "source", o->input);
		free(x64);
		if (st != NB_OK) {
			fprintf(stderr, "normbench verify: --dump: %s\n", nb_error());
			goto abort_dump;
		}
	}
	data.dtype = in.dtype;
	data.rows = in.rows;
	data.cols = in.cols;
	data.data = in.data;
	data.source = in.type_desc;
	data.gain_random = o->gain_random;
	data.gain_seed = o->gain_seed;
	data.gain = gain;
	data.bias = bias;
	data.unjudged_rows = unjudged;
	data.on_report = nb_input_report;
	data.report_ctx = &rowstats;
	printf("per kernel, its worst row in normwise ulps (max |err| over the row / ulp of "
	       "the row's max |ref|)\nand that row's bound in the same unit:\n");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	st = nb_accsweep_input(&cfg, &data, o->dump ? &sink : NULL, &t, &stats);
	if (st != NB_OK) {
		fprintf(stderr, "normbench verify: %s\n", nb_error());
		goto abort_dump;
	}
	m.command_line = cmdline;
	m.mode = "input";
	m.input = o->input;
	m.seed = o->seed;
	m.conv = o->conv;
	m.seconds = nb_seconds_since(&t0);
	printf("\nnormbench verify --input %s: %zu rows x d = %zu, %s; gains %s; eps %g %s\n",
	       o->input, in.rows, in.cols, in.type_desc,
	       gain ? (o->gain_spec ? o->gain_spec : "ones, --bias given")
		    : o->gain_random ? "random" : "ones (biases zero)", o->conv.eps,
	       o->conv.eps_mode == NB_EPS_OUTSIDE ? "outside" : "inside");
	printf("(the data column says how the rows reached each kernel: 'input:f32' "
	       "unchanged, 'input:f32->bf16(rne)' rounded once to nearest-even)\n");
	nb_print_kernels(&t, true);
	printf("%zu kernels judged; %zu not usable on this CPU (or under the ISA cap)\n",
	       stats.kernels, stats.skipped);
	{
		size_t judged = 0;

		for (size_t r = 0; r < in.rows; r++)
			judged += !unjudged[r];
		printf("%zu rows judged of %zu%s\n", judged, in.rows,
		       judged < in.rows ? " (the others count as failures: see above)" : "");
	}
	if (o->dump) {
		st = nb_verify_dump_commit(&dump);
		if (st != NB_OK) {
			fprintf(stderr, "normbench verify: --dump: %s\n", nb_error());
			goto free_input;
		}
		printf("\nwrote the outputs to %s (one group per kernel: the outputs and "
		       "<name>_ref)\n", dump_path);
	}
	rc = nb_write_tables(o, &t, &m, false);
	if (rc == NB_EXIT_OK)
		rc = nb_verdict(&t);
	goto free_input;
abort_dump:
	nb_verify_dump_abort(&dump);
free_input:
	free(rowstats.cond);
	free(unjudged);
	free(gain);
	free(bias);
	nb_verify_input_free(&in);
free_tables:
	nb_verify_tables_free(&t);
	return rc;
}

/* ---- the outlier generator ---- */

/* What verify/nb_data.h's outlier kind makes, for the file and the user. */
#define NB_OUTLIER_DESCRIPTION \
	"N(0,1) rows; 1 + d/512 fixed channels scaled 100-1000x; every odd row " \
	"shifted by a mean of +-(100 to 1000)"

static int nb_verify_make_outliers(const struct nb_verify_opts *o)
{
	struct nb_rng rng;
	char gen[512];
	enum nb_status st;
	float *x;

	if (o->shape_d > NB_VERIFY_INPUT_MAX_ELEMENTS / o->shape_rows) {
		fprintf(stderr, "normbench verify: --shape %zux%zu is larger than --input "
			"reads (%zu elements)\n", o->shape_rows, o->shape_d,
			NB_VERIFY_INPUT_MAX_ELEMENTS);
		return NB_EXIT_ERROR;
	}
	x = malloc(o->shape_rows * o->shape_d * sizeof(*x));
	if (!x) {
		fprintf(stderr, "normbench verify: no memory for %zux%zu rows\n",
			o->shape_rows, o->shape_d);
		return NB_EXIT_ERROR;
	}
	nb_rng_seed(&rng, o->seed);
	nb_data_rows(&rng, NB_DATA_OUTLIER, NB_DTYPE_F32, x, o->shape_rows, o->shape_d);
	snprintf(gen, sizeof(gen), "normbench verify --make-outliers --shape %zux%zu "
		 "--seed %llu (%s)", o->shape_rows, o->shape_d, (unsigned long long)o->seed,
		 NB_OUTLIER_DESCRIPTION);
	st = nb_verify_write_dataset(o->make_outliers, NB_DTYPE_F32, o->shape_rows,
				     o->shape_d, x, gen, o->force);
	free(x);
	if (st != NB_OK) {
		fprintf(stderr, "normbench verify: %s\n", nb_error());
		return NB_EXIT_ERROR;
	}
	printf("wrote %zu x %zu outlier-heavy f32 rows to %s\n(%s)\n"
	       "try: normbench verify --input %s\n", o->shape_rows, o->shape_d,
	       o->make_outliers, NB_OUTLIER_DESCRIPTION, o->make_outliers);
	return NB_EXIT_OK;
}

int nb_cmd_verify(int argc, char **argv)
{
	struct nb_verify_opts o;
	char cmdline[4096];
	int rc = nb_verify_parse(argc, argv, &o);

	if (rc >= 0)
		return rc;
	if (o.input) {
		/* -o and --dump never replace the --input file (issue 14) */
		char in[4096], dset[1024];
		const char *inp = in;
		if (nb_verify_split_spec(o.input, in, sizeof(in), dset, sizeof(dset)) == NB_OK &&
		    (nb_check_not_input("-o", o.output, &inp, 1) != NB_OK ||
		     nb_check_not_input("--dump", o.dump, &inp, 1) != NB_OK)) {
			fprintf(stderr, "normbench verify: %s\n", nb_error());
			return NB_EXIT_ERROR;
		}
	}
	nb_join_args(argc, argv, cmdline, sizeof(cmdline));
	if (o.make_outliers)
		return nb_verify_make_outliers(&o);
	if (o.input)
		return nb_verify_input(&o, cmdline);
	return nb_verify_sweep(&o, cmdline);
}
