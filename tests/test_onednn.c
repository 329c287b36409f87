/* The oneDNN entries (kernels/onednn/): in the registry and in `normbench
 * list` exactly when the build found the library, one line saying so when it
 * did not; a deliberately wrong wrapper (eps, bias) fails the verifier; a
 * primitive oneDNN cannot create is reported by nb_kernel_prepare, not a
 * crash; a call leaves the caller's OpenMP thread count as it found it.
 * (Their accuracy on ordinary data is judged by tests/test_accuracy.c, on
 * the hard rows by tests/test_hardrows.c, like every registry entry.) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/nb_sweep.h"
#include "common/nb_dtype.h"
#include "common/nb_problem.h"
#include "common/nb_rng.h"
#include "kernels/nb_kernels.h"
#include "tests/nb_test.h"
#include "verify/nb_accuracy.h"
#include "verify/nb_data.h"

#if defined(NB_HAVE_ONEDNN)
#include "kernels/onednn/nb_onednn.h"
static const bool nb_onednn_built = true;
#else
static const bool nb_onednn_built = false;
#endif

static const char *const nb_onednn_names[] = {
	"layernorm_fwd_f32_onednn", "layernorm_fwd_bf16_onednn",
	"layernorm_bwd_f32_onednn", "layernorm_bwd_bf16_onednn",
};
#define NB_NONEDNN (sizeof(nb_onednn_names) / sizeof(nb_onednn_names[0]))

/* The registry has the four entries exactly when built; `normbench list`
 * shows them, and one line on the library: its version when built, else
 * why not. */
START_TEST(test_onednn_registry_and_list)
{
	size_t count, external = 0;
	const struct nb_kernel *ks = nb_kernels(&count);
	char *out = NULL;
	const char *line;

	for (size_t i = 0; i < count; i++)
		external += nb_kernel_external(&ks[i]);
	ck_assert_uint_eq(external, nb_onednn_built ? NB_NONEDNN : 0);
	for (size_t i = 0; i < NB_NONEDNN; i++) {
		const struct nb_kernel *k = nb_kernel_find(nb_onednn_names[i]);

		ck_assert_msg((k != NULL) == nb_onednn_built, "%s %s the registry",
			      nb_onednn_names[i], k ? "is in" : "is missing from");
		if (k) {
			ck_assert(nb_kernel_external(k));
			ck_assert(k->whole_problem);
			ck_assert_int_eq(k->variant, NB_VARIANT_LAYERNORM);
		}
	}

	ck_assert_int_eq(nb_test_run_bin("onednn", false, "", "list", &out, NULL), 0);
	line = strstr(out, "oneDNN: ");
	ck_assert_msg(line, "no oneDNN line in 'normbench list':\n%s", out);
	if (nb_onednn_built) {
		ck_assert_msg(strncmp(line, "oneDNN: 2.", 10) == 0 || strncmp(line, "oneDNN: 3.", 10) == 0,
			      "oneDNN line without a version: %.120s", line);
		for (size_t i = 0; i < NB_NONEDNN; i++)
			ck_assert_msg(strstr(out, nb_onednn_names[i]), "%s not listed",
				      nb_onednn_names[i]);
	} else {
		ck_assert_msg(strncmp(line, "oneDNN: not built (", 19) == 0, "%.120s", line);
		ck_assert_ptr_null(strstr(out, "_onednn"));
	}
	/* the line is nb_external_summary(), whole */
	ck_assert_msg(strncmp(line, nb_external_summary(), strlen(nb_external_summary())) == 0 &&
		      line[strlen(nb_external_summary())] == '\n', "%.160s", line);
	free(out);
}
END_TEST

/* The external entries of a preset's plan, each checked to sit in the same
 * interleaving group as a normbench LayerNorm of its dtype and direction. */
static size_t nb_od_planned(const char *preset, enum nb_eps_mode eps_mode)
{
	struct nb_sweep s;
	struct nb_sweep_explicit ex = { false, false, false };
	struct nb_planned_cell *cells;
	size_t n, found = 0;

	ck_assert_int_eq(nb_sweep_preset(preset, 2, &s), NB_OK);
	s.conv.eps_mode = eps_mode;
	ck_assert_int_eq(nb_sweep_plan(&s, &ex, &cells, &n), NB_OK);
	for (size_t i = 0; i < n; i++) {
		const struct nb_kernel *k = cells[i].kernel;
		bool peer = false;

		if (!nb_kernel_external(k))
			continue;
		found++;
		for (size_t j = 0; j < n; j++)
			peer |= cells[j].group == cells[i].group &&
				!nb_kernel_external(cells[j].kernel) &&
				cells[j].kernel->variant == k->variant &&
				cells[j].kernel->dtype == k->dtype && cells[j].kernel->dir == k->dir;
		ck_assert_msg(peer, "%s alone in its group", k->name);
	}
	free(cells);
	return found;
}

/* The default preset times oneDNN's LayerNorm (f32, bf16, fwd, bwd) beside
 * normbench's best in every group of its shapes and thread counts; under
 * eps outside the root, and in the quick preset, it is left out. */
START_TEST(test_onednn_in_the_default_plan)
{
	struct nb_sweep s;

	ck_assert_int_eq(nb_sweep_preset("default", 2, &s), NB_OK);
	ck_assert_uint_eq(nb_od_planned("default", NB_EPS_INSIDE),
			  nb_onednn_built ? 2 * 2 * s.nshapes * s.nthreads : 0);
	ck_assert_uint_eq(nb_od_planned("default", NB_EPS_OUTSIDE), 0);
	ck_assert_uint_eq(nb_od_planned("quick", NB_EPS_INSIDE), 0);
}
END_TEST

/* ---- with the library ---- */
#if defined(NB_HAVE_ONEDNN)

struct nb_od_bufs {
	void *x, *y, *g, *b, *dy, *dx, *dg, *db;
};

static void nb_od_free(struct nb_od_bufs *bf)
{
	void *all[] = { bf->x, bf->y, bf->g, bf->b, bf->dy, bf->dx, bf->dg, bf->db };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		free(all[i]);
	memset(bf, 0, sizeof(*bf));
}

/* rows x d Gaussian LayerNorm problem for k, gain N(1, 0.5), bias N(0, 0.1). */
static struct nb_problem nb_od_problem(const struct nb_kernel *k, size_t rows, size_t d,
				       struct nb_od_bufs *bf)
{
	struct nb_problem p = nb_problem_init(k->variant, k->dtype, rows, d);
	size_t sz = nb_dtype_traits[k->dtype].size;
	size_t gs = nb_dtype_traits[nb_grad_dtype(k->dtype, k->acc)].size;
	struct nb_rng rng;

	nb_rng_seed(&rng, 4242 + d);
	bf->x = calloc(rows * d, sz);
	bf->y = calloc(rows * d, sz);
	bf->dy = calloc(rows * d, sz);
	bf->dx = calloc(rows * d, sz);
	bf->g = calloc(d, sz);
	bf->b = calloc(d, sz);
	bf->dg = calloc(d, gs);
	bf->db = calloc(d, gs);
	ck_assert(bf->x && bf->y && bf->dy && bf->dx && bf->g && bf->b && bf->dg && bf->db);
	nb_data_rows(&rng, NB_DATA_GAUSSIAN, k->dtype, bf->x, rows, d);
	nb_data_normal(&rng, k->dtype, bf->dy, rows * d, 0.0, 1.0);
	nb_data_normal(&rng, k->dtype, bf->g, d, 1.0, 0.5);
	nb_data_normal(&rng, k->dtype, bf->b, d, 0.0, 0.1);
	p.x = bf->x;
	p.gain = bf->g;
	if (k->dir == NB_DIR_FORWARD) {
		p.y = bf->y;
		p.bias = bf->b;
	} else {
		p.dy = bf->dy;
		p.dx = bf->dx;
		p.dgain = bf->dg;
		p.dbias = bf->db;
	}
	p.threads = 1;
	return p;
}

/* Prepares, runs and judges k on a 16 x 1000 Gaussian problem. */
static bool nb_od_passes(const struct nb_kernel *k)
{
	struct nb_od_bufs bf = { 0 };
	struct nb_problem p = nb_od_problem(k, 16, 1000, &bf);
	struct nb_accuracy_report rep;

	ck_assert_int_eq(nb_kernel_prepare(k, &p), NB_OK);
	ck_assert_int_eq(nb_kernel_run(k, &p, NULL), NB_OK);
	ck_assert_int_eq(nb_accuracy_check(k, &p, &rep), NB_OK);
	nb_od_free(&bf);
	return rep.pass;
}

/* The right wrapper passes; one that hands oneDNN 10^4 eps (a 5% error in r at unit
 * variance: beyond a bf16 ulp too), or drops the
 * bias, must fail the same check (forward and backward, f32 and bf16). */
START_TEST(test_onednn_wrong_wrapper_fails)
{
	for (size_t i = 0; i < NB_NONEDNN; i++) {
		const struct nb_kernel *k = nb_kernel_find(nb_onednn_names[i]);

		nb_onednn_set_fault(NB_ONEDNN_FAULT_NONE);
		ck_assert_msg(nb_od_passes(k), "%s fails on Gaussian rows", k->name);
		nb_onednn_set_fault(NB_ONEDNN_FAULT_EPS);
		ck_assert_msg(!nb_od_passes(k), "%s with 10^4 eps passed", k->name);
		nb_onednn_set_fault(NB_ONEDNN_FAULT_NO_BIAS);
		ck_assert_msg(!nb_od_passes(k), "%s without its bias passed", k->name);
		nb_onednn_set_fault(NB_ONEDNN_FAULT_NONE);
	}
}
END_TEST

/* A primitive oneDNN cannot create here is NB_ERR_UNSUPPORTED from
 * nb_kernel_prepare, with oneDNN's reason; a call made anyway writes NaN,
 * which the judge fails, rather than crash. oneDNN's bf16 LayerNorm needs
 * AVX-512: capped at AVX2 (oneDNN's own ISA cap, read once per process; Check
 * runs each test in its own process) it has no implementation. eps outside
 * the root is refused before oneDNN is asked. */
START_TEST(test_onednn_unavailable_is_reported)
{
	const struct nb_kernel *k = nb_kernel_find("layernorm_fwd_bf16_onednn");
	const struct nb_kernel *f = nb_kernel_find("layernorm_fwd_f32_onednn");
	struct nb_od_bufs bf = { 0 };
	struct nb_problem p;
	struct nb_accuracy_report rep;

	setenv("ONEDNN_MAX_CPU_ISA", "AVX2", 1);
	setenv("DNNL_MAX_CPU_ISA", "AVX2", 1);
	p = nb_od_problem(k, 4, 64, &bf);
	ck_assert_int_eq(nb_kernel_prepare(k, &p), NB_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(nb_error(), "oneDNN"), "message: %s", nb_error());
	ck_assert_int_eq(nb_kernel_run(k, &p, NULL), NB_OK);
	ck_assert_int_eq(nb_accuracy_check(k, &p, &rep), NB_OK);
	ck_assert(!rep.pass);
	nb_od_free(&bf);
	/* f32 has an AVX2 (or reference) implementation: still runs and passes */
	ck_assert(nb_od_passes(f));

	p = nb_od_problem(f, 4, 64, &bf);
	p.conv.eps_mode = NB_EPS_OUTSIDE;
	ck_assert_int_eq(nb_kernel_prepare(f, &p), NB_ERR_UNSUPPORTED);
	ck_assert_msg(strstr(nb_error(), "inside"), "message: %s", nb_error());
	ck_assert(!nb_kernel_conventions_ok(f, &p.conv));
	nb_od_free(&bf);
}
END_TEST

/* A cell of T threads runs oneDNN under omp_set_num_threads(T) and gives
 * the caller its own setting back; the results do not depend on it for y. */
START_TEST(test_onednn_threads_restored)
{
	const struct nb_kernel *k = nb_kernel_find("layernorm_fwd_f32_onednn");
	struct nb_od_bufs bf = { 0 };
	struct nb_problem p = nb_od_problem(k, 256, 1000, &bf);
	size_t bytes = 256 * 1000 * sizeof(float);
	void *y1 = malloc(bytes);

	ck_assert_ptr_nonnull(y1);
	omp_set_num_threads(3);
	ck_assert_int_eq(nb_kernel_prepare(k, &p), NB_OK);
	ck_assert_int_eq(nb_kernel_run(k, &p, NULL), NB_OK);
	ck_assert_int_eq(omp_get_max_threads(), 3);
	memcpy(y1, p.y, bytes);
	p.threads = 2;
	ck_assert_int_eq(nb_kernel_prepare(k, &p), NB_OK);
	ck_assert_int_eq(nb_kernel_run(k, &p, NULL), NB_OK);
	ck_assert_int_eq(omp_get_max_threads(), 3);
	ck_assert(memcmp(y1, p.y, bytes) == 0);
	free(y1);
	nb_od_free(&bf);
}
END_TEST
#endif

Suite *nb_suite_onednn(void)
{
	Suite *s = suite_create("onednn");
	TCase *tc = tcase_create("onednn");

	tcase_set_timeout(tc, 600);
	tcase_add_checked_fixture(tc, NULL, nb_test_teardown);
	tcase_add_test(tc, test_onednn_registry_and_list);
	tcase_add_test(tc, test_onednn_in_the_default_plan);
#if defined(NB_HAVE_ONEDNN)
	tcase_add_test(tc, test_onednn_wrong_wrapper_fails);
	tcase_add_test(tc, test_onednn_unavailable_is_reported);
	tcase_add_test(tc, test_onednn_threads_restored);
#endif
	suite_add_tcase(s, tc);
	return s;
}
