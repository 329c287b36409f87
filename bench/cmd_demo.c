/* `normbench demo`: every usable forward kernel once on a small seeded
 * problem, each judged against ref/ with the derived bounds of
 * verify/nb_accuracy; a table and an exit status (0 all pass, 2 a failure). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "verify/nb_accuracy.h"
#include "verify/nb_data.h"

#define NB_DEMO_ROWS 8
#define NB_DEMO_OUTLIER_ROWS 2
#define NB_DEMO_D 1000
#define NB_DEMO_M 64
#define NB_DEMO_SEED 1

static void nb_demo_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench demo [--help]\n"
		"Runs every forward kernel this CPU can run (see 'normbench list') once on\n"
		"%d x %d rows (seed %d: %d Gaussian rows, %d outlier-heavy rows: a few\n"
		"channels scaled 100-1000x, one row shifted to a large mean), FlashNorm\n"
		"with m = %d outputs, and judges each element against the long-double\n"
		"reference with a derived error bound (docs/accuracy.md).\n"
		"Prints kernel, max ULPs (in the output dtype), max error/bound and the\n"
		"verdict. Exit status: 0 all pass, 2 some kernel fails its bound, 1 usage\n"
		"error or a kernel that could not run (and none failed).\n",
		NB_DEMO_ROWS, NB_DEMO_D, NB_DEMO_SEED, NB_DEMO_ROWS - NB_DEMO_OUTLIER_ROWS,
		NB_DEMO_OUTLIER_ROWS, NB_DEMO_M);
}

struct nb_demo_bufs {
	void *x, *y, *gain, *bias, *w, *wf, *c, *z, *scratch;
};

static void nb_demo_free(struct nb_demo_bufs *b)
{
	free(b->x);
	free(b->y);
	free(b->gain);
	free(b->bias);
	free(b->w);
	free(b->wf);
	free(b->c);
	free(b->z);
	free(b->scratch);
	memset(b, 0, sizeof(*b));
}

/* Seeded inputs for kernel k: the same seed gives the same data for every
 * kernel of a dtype. */
static enum nb_status nb_demo_problem(const struct nb_kernel *k, struct nb_demo_bufs *b,
				      struct nb_problem *p)
{
	enum nb_dtype t = k->dtype;
	size_t sz = nb_dtype_traits[t].size;
	size_t n = nb_variant_stored(k->variant, NB_DEMO_D);
	size_t plain = NB_DEMO_ROWS - NB_DEMO_OUTLIER_ROWS;
	struct nb_rng rng;

	memset(b, 0, sizeof(*b));
	*p = nb_problem_init(k->variant, t, NB_DEMO_ROWS, NB_DEMO_D);
	b->x = malloc(NB_DEMO_ROWS * n * sz);
	b->gain = malloc(n * sz);
	if (!b->x || !b->gain)
		return nb_fail(NB_ERR_NOMEM, "demo: no memory");
	nb_rng_seed(&rng, NB_DEMO_SEED);
	nb_data_rows(&rng, NB_DATA_GAUSSIAN, t, b->x, plain, n);
	nb_data_rows(&rng, NB_DATA_OUTLIER, t, (char *)b->x + plain * n * sz,
		     NB_DEMO_OUTLIER_ROWS, n);
	nb_data_normal(&rng, t, b->gain, n, 1.0, 0.25);
	p->x = b->x;
	p->gain = b->gain;
	if (k->variant == NB_VARIANT_FLASHNORM) {
		enum nb_status st;

		b->w = malloc(n * NB_DEMO_M * sz);
		b->wf = malloc(n * NB_DEMO_M * sz);
		b->c = malloc(NB_DEMO_M * sz);
		b->z = malloc(NB_DEMO_ROWS * NB_DEMO_M * sz);
		b->scratch = malloc(NB_DEMO_ROWS * n * sz);
		if (!b->w || !b->wf || !b->c || !b->z || !b->scratch)
			return nb_fail(NB_ERR_NOMEM, "demo: no memory");
		nb_data_normal(&rng, t, b->w, n * NB_DEMO_M, 0.0, 1.0 / sqrt((double)n));
		nb_data_normal(&rng, t, b->c, NB_DEMO_M, 0.0, 0.5);
		st = nb_flashnorm_fold(t, n, NB_DEMO_M, b->gain, b->w, b->wf);
		if (st != NB_OK)
			return st;
		p->m = NB_DEMO_M;
		p->w = b->w;
		p->w_folded = b->wf;
		p->out_bias = b->c;
		p->z = b->z;
		p->scratch = b->scratch;
		return NB_OK;
	}
	b->bias = malloc(n * sz);
	b->y = malloc(NB_DEMO_ROWS * n * sz);
	if (!b->bias || !b->y)
		return nb_fail(NB_ERR_NOMEM, "demo: no memory");
	nb_data_normal(&rng, t, b->bias, n, 0.0, 0.5);
	p->bias = b->bias;
	p->y = b->y;
	return NB_OK;
}

int nb_cmd_demo(int argc, char **argv)
{
	size_t count;
	const struct nb_kernel *ks = nb_kernels(&count);
	int ran = 0, failed = 0, errors = 0;

	for (int a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
			nb_demo_usage(stdout);
			return NB_EXIT_OK;
		}
		fprintf(stderr, "normbench demo: unexpected argument '%s'\n\n", argv[a]);
		nb_demo_usage(stderr);
		return NB_EXIT_ERROR;
	}
	printf("normbench demo: %d x %d (FlashNorm m = %d), seed %d, %d outlier-heavy rows; "
	       "ISA cap %s\n\n", NB_DEMO_ROWS, NB_DEMO_D, NB_DEMO_M, NB_DEMO_SEED,
	       NB_DEMO_OUTLIER_ROWS, nb_isa_name(nb_isa_cap()));
	printf("%-38s %-5s %12s %14s  %s\n", "kernel", "dtype", "max ulps", "max err/bound",
	       "verdict");
	for (size_t i = 0; i < count; i++) {
		const struct nb_kernel *k = &ks[i];
		struct nb_demo_bufs b;
		struct nb_problem p;
		struct nb_accuracy_report rep;
		enum nb_status st;

		if (k->dir != NB_DIR_FORWARD || !nb_isa_usable(k->isa))
			continue;
		st = nb_demo_problem(k, &b, &p);
		if (st == NB_OK)
			st = nb_kernel_prepare(k, &p);
		if (st == NB_OK)
			st = nb_kernel_run(k, &p, NULL);
		if (st == NB_OK)
			st = nb_accuracy_check(k, &p, &rep);
		ran++;
		if (st != NB_OK) {
			printf("%-38s %-5s %12s %14s  ERROR: %s\n", k->name,
			       nb_dtype_traits[k->dtype].name, "-", "-", nb_error());
			errors++;
		} else {
			printf("%-38s %-5s %12.3g %14.3g  %s\n", k->name,
			       nb_dtype_traits[k->dtype].name, rep.max_ulps, rep.max_ratio,
			       rep.pass ? "pass" : "FAIL");
			if (!rep.pass) {
				failed++;
				nb_accuracy_print(stderr, k, &p, &rep);
			}
		}
		nb_demo_free(&b);
	}
	printf("\n%d kernels, %d pass, %d fail, %d errors (bound = %.0Lf x derived error "
	       "bound of kernel + long-double reference)\n", ran, ran - failed - errors,
	       failed, errors, NB_ACCURACY_SLACK);
	if (failed)
		return NB_EXIT_VERIFY_FAILED;
	return errors ? NB_EXIT_ERROR : NB_EXIT_OK;
}
