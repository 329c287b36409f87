/* The block benchmark: every arrangement of a tiny layer is produced and
 * verified against Pre-LN (on the timed model and through the twin), the
 * check fails deliberately wrong models, the plans and derived figures are
 * right, and `normbench run --suite block` writes verified cells. No timing
 * is asserted anywhere. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/nb_block.h"
#include "bench/nb_results.h"
#include "tests/nb_test.h"
#include "verify/nb_model.h"

/* A tiny configuration: widths 32 (checked on the timed models: 32 <=
 * check_d) and 48 (checked on the 32-wide twin), two token counts: one
 * token is a decode step over a 6-token KV cache, 5 tokens a prefill. */
static struct nb_block_config nb_tiny(enum nb_block_fault fault)
{
	struct nb_block_config c;

	nb_block_preset(NB_BLOCK_TINY, &c);
	c.d[0] = 32;
	c.d[1] = 48;
	c.nd = 2;
	c.seq[0] = 1;
	c.seq[1] = 5;
	c.nseq = 2;
	c.ctx[0] = 6;
	c.nctx = 1;
	c.check_d = 32;
	c.seed = 7;
	c.fault = fault;
	return c;
}

/* Sets up, calls twice and finishes every planned cell of c (threads 1);
 * rows receives them in plan order. Returns the count. */
static size_t nb_produce(const struct nb_block_config *c, struct nb_cell_row *rows,
			 size_t max)
{
	static const int threads[] = { 1 };
	struct nb_block_session *s;
	struct nb_block_cell *cells;
	size_t n;

	ck_assert_int_eq(nb_block_plan(c, threads, 1, 0, &cells, &n), NB_OK);
	ck_assert_uint_le(n, max);
	ck_assert_int_eq(nb_block_session_create(c, &s), NB_OK);
	for (size_t i = 0; i < n; i++) {
		struct nb_block_run *r;
		ck_assert_msg(nb_block_run_setup(s, &cells[i], &r) == NB_OK, "%s", nb_error());
		ck_assert_int_eq(nb_block_run_call(r), NB_OK);
		ck_assert_int_eq(nb_block_run_call(r), NB_OK);
		memset(&rows[i], 0, sizeof(rows[i]));
		ck_assert_msg(nb_block_run_finish(s, r, &rows[i]) == NB_OK, "%s", nb_error());
		nb_block_run_free(r);
	}
	nb_block_session_free(s);
	free(cells);
	return n;
}

/* Every arrangement (and the A/A copy of Pre-LN) at both widths and both
 * token counts is produced and passes its check: observed within the derived bound (err_ratio <= 1), the
 * 48-wide cells through the twin. */
START_TEST(test_block_all_arrangements_verified)
{
	struct nb_block_config c = nb_tiny(NB_BLOCK_FAULT_NONE);
	struct nb_cell_row rows[48];
	size_t n = nb_produce(&c, rows, 48);
	int seen[NB_BLOCK_ARR_COUNT] = { 0 };

	ck_assert_uint_eq(n, 2 * 2 * NB_BLOCK_ARR_COUNT);
	for (size_t i = 0; i < n; i++) {
		const struct nb_cell_row *r = &rows[i];
		int a = -1;
		for (int k = 0; k < NB_BLOCK_ARR_COUNT; k++)
			if (strcmp(r->variant, nb_block_arr_name((enum nb_block_arr)k)) == 0)
				a = k;
		ck_assert_int_ge(a, 0);
		seen[a]++;
		ck_assert_str_eq(r->suite, "block");
		ck_assert_str_eq(r->dtype, "f32");
		ck_assert_str_eq(r->algo, "swiglu");
		ck_assert_msg(r->verified == 1, "%s d=%llu seq=%llu: %s", r->variant,
			      (unsigned long long)r->d, (unsigned long long)r->rows,
			      r->verify_note);
		ck_assert(r->err_ratio <= 1.0);
		ck_assert_uint_eq(r->n, a == NB_BLOCK_PRECRMS ? r->d - 1 : r->d);
		ck_assert(r->bytes > 0 && r->flops > 0);
		/* the wider cells say they were checked on the twin */
		ck_assert_int_eq(strstr(r->verify_note, "twin") != NULL, r->d == 48);
		/* one token: a decode step over the 6 cached tokens, recorded */
		ck_assert_uint_eq(r->context, r->rows == 1 ? 6 : 0);
		ck_assert_int_eq(strstr(r->verify_note, "6-token cached prefill") != NULL,
				 r->rows == 1);
	}
	for (int k = 0; k < NB_BLOCK_ARR_COUNT; k++)
		ck_assert_int_eq(seen[k], 4);
}
END_TEST

/*
 * The decode step reads its KV cache. (1) On the timed path: the same
 * token at position 8 of a d = 32 model over two different 8-token caches
 * gives different outputs, over the same cache the same output bit for bit.
 * (2) On the check: one-token cells over a 24-token context (d = 32 on the
 * timed models, d = 48 through the twin) pass against the last row of the
 * long-double causal forward over 25 tokens, which an attention that
 * skipped the cache (the new token alone) cannot match.
 */
START_TEST(test_block_decode_reads_cache)
{
	struct nb_block_config c = nb_tiny(NB_BLOCK_FAULT_NONE);
	struct nb_model_shape sh;
	struct nb_model *m;
	struct nb_model_ws *ws;
	struct nb_cell_row rows[24];
	static const uint32_t tok[1] = { 3 };
	float in[32], out[3][32];
	size_t n;

	nb_block_shape(32, NB_FFN_SWIGLU, 16, 1e-5, &sh);
	ck_assert_int_eq(nb_model_create(&sh, NB_NORM_RMSNORM, NB_DTYPE_F32, 5, &m), NB_OK);
	ck_assert_int_eq(nb_model_ws_create_kv(m, 1, 9, 1, &ws), NB_OK);
	ck_assert_int_eq(nb_model_embed_at(m, ws, tok, 1, 8), NB_OK);
	memcpy(in, nb_model_ws_stream(ws), sizeof(in));
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(nb_model_kv_fill(m, ws, 8, i == 1 ? 2 : 1), NB_OK);
		memcpy(nb_model_ws_stream(ws), in, sizeof(in));
		ck_assert_int_eq(nb_model_layer_forward_at(m, ws, 0, 1, 8), NB_OK);
		memcpy(out[i], nb_model_ws_stream(ws), sizeof(in));
	}
	ck_assert_msg(memcmp(out[0], out[1], sizeof(in)) != 0,
		      "the decode output does not depend on the cached context");
	ck_assert_int_eq(memcmp(out[0], out[2], sizeof(in)), 0);
	/* positions beyond the cache, or pos0 > 0 without one, are refused */
	ck_assert_int_eq(nb_model_layer_forward_at(m, ws, 0, 1, 9), NB_ERR_INVALID);
	nb_model_ws_free(ws);
	ck_assert_int_eq(nb_model_ws_create(m, 1, 1, &ws), NB_OK);
	ck_assert_int_eq(nb_model_layer_forward_at(m, ws, 0, 1, 8), NB_ERR_INVALID);
	nb_model_ws_free(ws);
	nb_model_free(m);

	c.nseq = 1;
	c.ctx[0] = 24;
	n = nb_produce(&c, rows, 24);
	ck_assert_uint_eq(n, 2 * NB_BLOCK_ARR_COUNT);
	for (size_t i = 0; i < n; i++) {
		ck_assert_uint_eq(rows[i].context, 24);
		ck_assert_str_eq(rows[i].blas_routine, "gemv");
		ck_assert_msg(rows[i].verified == 1, "%s d=%llu: %s", rows[i].variant,
			      (unsigned long long)rows[i].d, rows[i].verify_note);
		ck_assert_ptr_nonnull(strstr(rows[i].verify_note, "over 25 tokens"));
	}
}
END_TEST

/* Per arrangement, the verdict of each produced cell. */
static void nb_verdicts(const struct nb_cell_row *rows, size_t n, const char *variant,
			int want, double min_ratio)
{
	size_t hits = 0;

	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].variant, variant) != 0)
			continue;
		hits++;
		ck_assert_msg(rows[i].verified == want, "%s d=%llu seq=%llu: %s", variant,
			      (unsigned long long)rows[i].d, (unsigned long long)rows[i].rows,
			      rows[i].verify_note);
		if (want == 0) {
			ck_assert_msg(rows[i].err_ratio >= min_ratio, "%s: err_ratio %g",
				      variant, rows[i].err_ratio);
			ck_assert_ptr_nonnull(strstr(rows[i].verify_note, "FAILED"));
		}
	}
	ck_assert_uint_gt(hits, 0);
}

/*
 * A FlashNorm model whose readers were never folded (W in place of
 * diag(g) W) must fail: the gains lie in [0.5, 1.5], so every reader's
 * output is off by tens of percent, against a bound of about 1e-4; we ask
 * for a factor 100 (NB_CONTROL_MARGIN's two orders of magnitude). The other
 * arrangements stay correct. Both the timed (d=32) and the twin (d=48)
 * path fail.
 */
START_TEST(test_block_check_fails_unfolded_flashnorm)
{
	struct nb_block_config c = nb_tiny(NB_BLOCK_FAULT_FLASH_NOFOLD);
	struct nb_cell_row rows[48];
	size_t n = nb_produce(&c, rows, 48);

	nb_verdicts(rows, n, "flashnorm", 0, 100.0);
	nb_verdicts(rows, n, "preln", 1, 0);
	nb_verdicts(rows, n, "preln_aa", 1, 0);
	nb_verdicts(rows, n, "prermsnorm", 1, 0);
	nb_verdicts(rows, n, "precrmsnorm", 1, 0);
	nb_verdicts(rows, n, "nonorm", 1, 0);
}
END_TEST

/*
 * Perturbed weights (layer 0's W2 times 1 + 0.05 N(0,1) elementwise in the
 * RMS, CRMS and FlashNorm models): the FFN output moves by a few percent,
 * the logits by far more than 100 bounds. Pre-LN (the truth) and the
 * no-norm model (judged against itself) are untouched and pass.
 */
START_TEST(test_block_check_fails_perturbed_weights)
{
	struct nb_block_config c = nb_tiny(NB_BLOCK_FAULT_PERTURB);
	struct nb_cell_row rows[48];
	size_t n = nb_produce(&c, rows, 48);

	nb_verdicts(rows, n, "prermsnorm", 0, 100.0);
	nb_verdicts(rows, n, "precrmsnorm", 0, 100.0);
	nb_verdicts(rows, n, "flashnorm", 0, 100.0);
	nb_verdicts(rows, n, "preln", 1, 0);
	nb_verdicts(rows, n, "preln_aa", 1, 0);
	nb_verdicts(rows, n, "nonorm", 1, 0);
}
END_TEST

/* Every timed call does the same work: the stream is restored before the
 * layer, so two calls leave bit-identical streams (an in-place layer run
 * twice without the restore adds its branches twice and would differ). */
START_TEST(test_block_call_restores_input)
{
	struct nb_block_config c = nb_tiny(NB_BLOCK_FAULT_NONE);
	struct nb_block_session *s;

	ck_assert_int_eq(nb_block_session_create(&c, &s), NB_OK);
	/* a prefill of 5 tokens, then a decode step over 6 cached ones: its
	 * calls never change the context they read */
	for (int i = 0; i < 2 * NB_BLOCK_ARR_COUNT; i++) {
		int a = i % NB_BLOCK_ARR_COUNT;
		size_t seq = i < NB_BLOCK_ARR_COUNT ? 5 : 1;
		struct nb_block_cell cell = { .arr = (enum nb_block_arr)a, .d = 48, .seq = seq,
					      .context = seq == 1 ? 6 : 0, .threads = 1 };
		struct nb_block_run *r;
		const void *out;
		void *first;
		size_t bytes;

		ck_assert_int_eq(nb_block_run_setup(s, &cell, &r), NB_OK);
		ck_assert_int_eq(nb_block_run_call(r), NB_OK);
		out = nb_block_run_output(r, &bytes);
		ck_assert_uint_eq(bytes, seq * (a == NB_BLOCK_PRECRMS ? 47 : 48) * sizeof(float));
		first = malloc(bytes);
		ck_assert_ptr_nonnull(first);
		memcpy(first, out, bytes);
		ck_assert_int_eq(nb_block_run_call(r), NB_OK);
		ck_assert_int_eq(memcmp(first, nb_block_run_output(r, &bytes), bytes), 0);
		free(first);
		nb_block_run_free(r);
	}
	nb_block_session_free(s);
}
END_TEST

/* The plans: six cells per (d, seq, threads) group, d outermost;
 * the pair as two registry kernels per (tokens, threads) in suite
 * "normproj", unfused first, then the unfused A/A copy ("normproj_aa"). */
START_TEST(test_block_plans)
{
	static const int threads[] = { 1, 2 };
	struct nb_block_config c;
	struct nb_block_cell *cells;
	struct nb_planned_cell *np;
	size_t n;

	nb_block_preset(NB_BLOCK_FULL, &c);
	ck_assert_uint_eq(c.nctx, 2);
	ck_assert_uint_eq(c.ctx[0], 512);
	ck_assert_uint_eq(c.ctx[1], 2048);
	ck_assert_int_eq(nb_block_plan(&c, threads, 2, 10, &cells, &n), NB_OK);
	/* one token: a group per context; the other token counts: one, context 0 */
	ck_assert_uint_eq(n, c.nd * (c.nseq - 1 + c.nctx) * 2 * NB_BLOCK_ARR_COUNT);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(cells[i].group, 10 + (int)(i / NB_BLOCK_ARR_COUNT));
		ck_assert_int_eq((int)cells[i].arr, (int)(i % NB_BLOCK_ARR_COUNT));
		ck_assert(i == 0 || cells[i].d >= cells[i - 1].d);
		if (cells[i].seq == 1)
			ck_assert(cells[i].context == 512 || cells[i].context == 2048);
		else
			ck_assert_uint_eq(cells[i].context, 0);
	}
	free(cells);
	ck_assert_int_eq(nb_block_plan_normproj(&c, threads, 2, 3, &np, &n), NB_OK);
	ck_assert_uint_eq(n, 3 * c.nnp * 2);
	for (size_t i = 0; i < n; i++) {
		ck_assert_str_eq(np[i].suite, i % 3 == 2 ? "normproj_aa" : "normproj");
		ck_assert_str_eq(np[i].kernel->name, i % 3 == 1 ? "flashnorm_fwd_f32_fused"
			: "flashnorm_fwd_f32_unfused");
		ck_assert_int_eq(np[i].group, 3 + (int)(i / 3));
		ck_assert_uint_eq(np[i].shape.d, 4096);
		ck_assert_uint_eq(np[i].m, 4096);
	}
	free(np);
	c.layer = false;
	c.normproj = false;
	ck_assert_int_eq(nb_block_plan(&c, threads, 2, 0, &cells, &n), NB_OK);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(nb_block_plan_normproj(&c, threads, 2, 0, &np, &n), NB_OK);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_block_parsers_and_shapes)
{
	struct nb_block_config c;
	struct nb_model_shape s;

	nb_block_preset(NB_BLOCK_REDUCED, &c);
	ck_assert_int_eq(nb_block_parse_d("1024,4096,1024", &c), NB_OK);
	ck_assert_uint_eq(c.nd, 2);
	ck_assert_int_eq(nb_block_parse_d("4", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_d("1024,", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_d("x", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_seq("1,16,512", &c), NB_OK);
	ck_assert_uint_eq(c.nseq, 3);
	ck_assert_int_eq(nb_block_parse_seq("0", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_context("512,2048,512", &c), NB_OK);
	ck_assert_uint_eq(c.nctx, 2);
	ck_assert_int_eq(nb_block_parse_context("0", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_context("4096", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_ffn("gelu", &c), NB_OK);
	ck_assert_int_eq(c.ffn, NB_FFN_GELU);
	ck_assert_int_eq(nb_block_parse_ffn("relu", &c), NB_ERR_INVALID);
	ck_assert_int_eq(nb_block_parse_normproj_tokens("1,4,64", &c), NB_OK);
	ck_assert_uint_eq(c.nnp, 3);
	ck_assert_uint_eq(c.np_tokens[2], 64);
	ck_assert_int_eq(nb_block_parse_normproj_tokens("4097", &c), NB_ERR_INVALID);
	/* Llama's sizes: d 4096, 32 heads of 128, SwiGLU hidden 11008 */
	nb_block_shape(4096, NB_FFN_SWIGLU, 512, 1e-5, &s);
	ck_assert_uint_eq(s.heads, 32);
	ck_assert_uint_eq(s.head_dim, 128);
	ck_assert_uint_eq(s.ffn, 11008);
	ck_assert_int_eq(nb_model_shape_check(&s), NB_OK);
	ck_assert_int_eq(nb_block_level_for("quick", true), NB_BLOCK_TINY);
	ck_assert_int_eq(nb_block_level_for(NULL, false), NB_BLOCK_REDUCED);
	ck_assert_int_eq(nb_block_level_for(NULL, true), NB_BLOCK_FULL);
}
END_TEST

/* Appends a block cell of variant v (group 4, 16 x 1024, one thread) whose
 * sample of round j is base * drift[j] * (1 + 0.01 * ((mult * j) % 10)). */
static void nb_fake_cell(struct nb_results *r, const char *v, double base, const double *drift,
			 int mult)
{
	struct nb_cell_row c;

	memset(&c, 0, sizeof(c));
	nb_res_strcpy(c.suite, sizeof(c.suite), "block");
	nb_res_strcpy(c.variant, sizeof(c.variant), v);
	c.rows = 16;
	c.d = 1024;
	c.threads = 1;
	c.group = 4;
	c.samples = 10;
	c.first_sample = r->nsamples;
	for (int j = 0; j < 10; j++) {
		struct nb_sample_row s = {
			.cell = r->ncells, .round = (uint32_t)j, .iterations = 1,
			.seconds = base * drift[j] * (1 + 0.01 * ((mult * j) % 10)),
		};
		ck_assert_int_eq(nb_results_add_sample(r, &s), NB_OK);
	}
	ck_assert_int_eq(nb_results_add_cell(r, &c), NB_OK);
}

/*
 * reduction = 1 - t/t_preln and share = 1 - t_nonorm/t: with +-5% noise
 * around 10, 9 and 8 ms they come out near 0.1 and 1/9, inside their CIs.
 * Under a drift that doubles the times from round to round but leaves each
 * round's ratio at exactly 0.9, the paired estimate is 0.1 with a CI of
 * (nearly) zero width: an unpaired ratio of medians could not be; the A/A
 * copy 5% slower gives aa = -0.05. A group without its Pre-LN cell has no
 * reduction.
 */
START_TEST(test_block_derive)
{
	static const double flat[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	static const double drift[10] = { 1, 2, 1, 2, 1.5, 1, 2, 1.2, 1.8, 1 };
	struct nb_results r;
	struct nb_block_derived dv;

	nb_results_init(&r);
	nb_fake_cell(&r, "preln", 10e-3, flat, 3);
	nb_fake_cell(&r, "prermsnorm", 9e-3, flat, 7);
	nb_fake_cell(&r, "nonorm", 8e-3, flat, 1);
	ck_assert_int_eq(nb_block_derive(&r, 1, 1, &dv), NB_OK);
	ck_assert(dv.has_reduction && dv.has_share);
	ck_assert_double_eq_tol(dv.reduction, 0.1, 0.03);
	ck_assert_double_eq_tol(dv.share, 1 - 8.0 / 9.0, 0.03);
	ck_assert(dv.reduction_lo <= dv.reduction && dv.reduction <= dv.reduction_hi);
	ck_assert(dv.share_lo <= dv.share && dv.share <= dv.share_hi);
	ck_assert(dv.reduction_hi - dv.reduction_lo > 1e-3);
	r.cells[0].group = 5;
	ck_assert_int_eq(nb_block_derive(&r, 1, 1, &dv), NB_OK);
	ck_assert(!dv.has_reduction && dv.has_share);
	ck_assert_int_eq(nb_block_derive(&r, 7, 1, &dv), NB_ERR_INVALID);
	nb_results_free(&r);

	nb_results_init(&r);
	nb_fake_cell(&r, "preln", 10e-3, drift, 0);
	nb_fake_cell(&r, "prermsnorm", 9e-3, drift, 0);
	nb_fake_cell(&r, "preln_aa", 10.5e-3, drift, 0);
	ck_assert_int_eq(nb_block_derive(&r, 1, 1, &dv), NB_OK);
	ck_assert(dv.has_reduction && !dv.has_share && dv.has_aa);
	ck_assert_double_eq_tol(dv.aa, -0.05, 1e-12);
	ck_assert_double_eq_tol(dv.reduction, 0.1, 1e-12);
	ck_assert(dv.reduction_hi - dv.reduction_lo < 1e-9);
	nb_results_free(&r);
}
END_TEST

/* Appends a cell of suite su, variant v, algo (group g, 128 x 1024,
 * `threads`, flops / bytes = 64: GEMM-dominated) whose round-j sample is
 * base * (1 + 0.01 * ((mult * j) % 5)): a spread of 4%. */
static void nb_fake(struct nb_results *r, const char *su, const char *v, const char *algo,
		    int g, int threads, double base, int mult)
{
	struct nb_cell_row c;

	memset(&c, 0, sizeof(c));
	nb_res_strcpy(c.suite, sizeof(c.suite), su);
	nb_res_strcpy(c.variant, sizeof(c.variant), v);
	nb_res_strcpy(c.algo, sizeof(c.algo), algo);
	c.rows = 128;
	c.d = 1024;
	c.threads = threads;
	c.group = g;
	c.samples = 20;
	c.bytes = 1e6;
	c.flops = 64e6;
	c.first_sample = r->nsamples;
	for (int j = 0; j < 20; j++) {
		struct nb_sample_row s = {
			.cell = r->ncells, .round = (uint32_t)j, .iterations = 1,
			.seconds = base * (1 + 0.01 * ((mult * j) % 5)),
		};
		ck_assert_int_eq(nb_results_add_sample(r, &s), NB_OK);
	}
	ck_assert_int_eq(nb_results_add_cell(r, &c), NB_OK);
}

/* A block group of `threads` (group g): Pre-LN, its A/A copy and no-norm at
 * 10 ms, Pre-RMSNorm at rms ms (the arrangement under test). */
static void nb_fake_group(struct nb_results *r, int g, int threads, double scale, double rms)
{
	nb_fake(r, "block", "preln", "swiglu", g, threads, 10e-3 * scale, 1);
	nb_fake(r, "block", "preln_aa", "swiglu", g, threads, 10e-3 * scale, 2);
	nb_fake(r, "block", "nonorm", "swiglu", g, threads, 10e-3 * scale, 3);
	nb_fake(r, "block", "prermsnorm", "swiglu", g, threads, rms * 1e-3 * scale, 4);
}

/*
 * The self-checks on synthetic timings (no clock involved), each shown to
 * fire on a deliberately broken arrangement and to stay quiet on a sound
 * one: NONORM on a Pre-RMSNorm layer 20% faster than no-norm; THREADS on
 * a GEMM-dominated layer whose 2-thread time is 1.5 x its 1-thread time;
 * FUSED on a fused arm 20% slower than the unfused one and its A/A copy. A
 * busy or oversubscribed cell is skipped, not judged.
 */
START_TEST(test_block_self_checks)
{
	struct nb_results r;
	struct nb_block_selfcheck sc;

	/* sound: every arrangement at no-norm's time, 2 threads 0.6 x 1 */
	nb_results_init(&r);
	nb_fake_group(&r, 1, 1, 1.0, 10.1);
	nb_fake_group(&r, 2, 2, 0.6, 10.1);
	nb_fake(&r, "normproj", "flashnorm", "unfused", 3, 1, 5e-3, 1);
	nb_fake(&r, "normproj", "flashnorm", "fused", 3, 1, 5e-3, 2);
	nb_fake(&r, "normproj_aa", "flashnorm", "unfused", 3, 1, 5e-3, 3);
	nb_block_self_check(&r, 1, &sc);
	ck_assert_msg(sc.failed == 0, "%s", sc.text);
	ck_assert_uint_gt(sc.judged, 8);
	ck_assert_ptr_nonnull(strstr(sc.text, "passed"));

	/* NONORM fires: Pre-RMSNorm 20% faster than the layer without norms */
	for (size_t j = 0; j < 20; j++)
		r.samples[r.cells[3].first_sample + j].seconds *= 0.8;
	nb_block_self_check(&r, 1, &sc);
	ck_assert_uint_eq(sc.failed, 1);
	ck_assert_ptr_nonnull(strstr(sc.text, "prermsnorm d=1024 seq=128 threads=1"));
	ck_assert_ptr_nonnull(strstr(sc.text, "faster than no-norm"));
	/* ... and is skipped when that cell ran beside another task */
	nb_res_strcpy(r.cells[3].notes, sizeof(r.cells[3].notes), "busy (12 of 20 samples)");
	nb_block_self_check(&r, 1, &sc);
	ck_assert_msg(sc.failed == 0, "%s", sc.text);
	ck_assert_uint_gt(sc.skipped, 0);
	r.cells[3].notes[0] = '\0';
	for (size_t j = 0; j < 20; j++)
		r.samples[r.cells[3].first_sample + j].seconds /= 0.8;

	/* THREADS fires: the 2-thread Pre-LN layer 1.5 x the 1-thread one
	 * (its whole group, so no arrangement beats no-norm) */
	for (size_t i = 4; i < 8; i++)
		for (size_t j = 0; j < 20; j++)
			r.samples[r.cells[i].first_sample + j].seconds *= 2.5;
	nb_block_self_check(&r, 1, &sc);
	ck_assert_uint_eq(sc.failed, 4);
	ck_assert_ptr_nonnull(strstr(sc.text, "block preln d=1024 seq=128: 2 threads take"));
	r.cells[7].oversubscribed = 1;
	nb_block_self_check(&r, 1, &sc);
	ck_assert_uint_eq(sc.failed, 3);
	r.cells[7].oversubscribed = 0;
	for (size_t i = 4; i < 8; i++)
		for (size_t j = 0; j < 20; j++)
			r.samples[r.cells[i].first_sample + j].seconds /= 2.5;

	/* FUSED fires: the fused arm 20% slower than unfused and its A/A copy */
	for (size_t j = 0; j < 20; j++)
		r.samples[r.cells[9].first_sample + j].seconds *= 1.2;
	nb_block_self_check(&r, 1, &sc);
	ck_assert_uint_eq(sc.failed, 1);
	ck_assert_ptr_nonnull(strstr(sc.text, "normproj 128 tokens threads=1: fused takes"));
	/* without its A/A copy the group is not judged */
	nb_res_strcpy(r.cells[10].suite, sizeof(r.cells[10].suite), "kernel");
	nb_block_self_check(&r, 1, &sc);
	ck_assert_uint_eq(sc.failed, 0);
	/* nothing judged is said, never called a pass */
	for (size_t i = 0; i < r.ncells; i++)
		nb_res_strcpy(r.cells[i].notes, sizeof(r.cells[i].notes), "busy (20 of 20)");
	nb_block_self_check(&r, 1, &sc);
	ck_assert_uint_eq(sc.judged, 0);
	ck_assert_ptr_nonnull(strstr(sc.text, "NOT JUDGED"));
	nb_results_free(&r);
}
END_TEST

/* Runs NB_BIN (set by `make check`) with args, stdout and stderr into
 * dir/out.txt; returns the exit status (128 + signal when killed). */
static int nb_run_bin(const char *dir, const char *const *args, char *out, size_t size)
{
	const char *bin = getenv("NB_BIN");
	const char *argv[32];
	char path[512];
	size_t n = 0;
	int status, fd;
	pid_t pid;
	FILE *f;

	ck_assert_msg(bin && *bin, "NB_BIN is not set (run the tests through make check)");
	snprintf(path, sizeof(path), "%s/out.txt", dir);
	argv[n++] = bin;
	while (*args && n < 31)
		argv[n++] = *args++;
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(out, 1, size - 1, f);
	out[n] = '\0';
	fclose(f);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * `normbench run --suite block` end to end on a tiny model: six verified
 * block cells of one group, the normproj pair (unfused, fused) for each
 * token count, every cell with its raw samples (one per round), the summary
 * tables on stdout. Wrong command lines are refused.
 */
START_TEST(test_block_cli)
{
	char dir[] = "/tmp/nb_block_test.XXXXXX", file[256], out[16384];
	const char *args[] = { "run", "--suite", "block", "--quick", "--block-d", "32",
			       "--block-seq", "3,1", "--block-context", "5", "--threads", "1",
			       "--samples", "5", "--events", "none", "-o", file, NULL };
	struct nb_results r;
	int blocks = 0, np = 0, rc;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/b.h5", dir);
	rc = nb_run_bin(dir, args, out, sizeof(out));
	/* 4: a self-check fired on this run's timings (tested on synthetic
	 * ones in test_block_self_checks: no timing is asserted here) */
	ck_assert_msg(rc == 0 || (rc == 5 && strstr(out, "self-checks FAILED")), "exit %d: %s",
		      rc, out);
	ck_assert_ptr_nonnull(strstr(out, "block: one pre-norm layer"));
	ck_assert_ptr_nonnull(strstr(out, "normproj: RMSNorm then GEMM"));
	ck_assert_msg(nb_results_read(file, &r) == NB_OK, "%s", nb_error());
	for (size_t i = 0; i < r.ncells; i++) {
		const struct nb_cell_row *c = &r.cells[i];
		size_t n;
		const struct nb_sample_row *sr = nb_results_cell_samples(&r, i, &n);

		ck_assert_uint_eq(n, 5);
		for (size_t j = 0; j < n; j++)
			ck_assert_uint_eq(sr[j].round, j);
		ck_assert_msg(c->verified == 1, "%s %s: %s", c->suite, c->variant,
			      c->verify_note);
		ck_assert(c->median_s > 0 && c->bytes > 0);
		if (strcmp(c->suite, "block") == 0) {
			blocks++;
			ck_assert_uint_eq(c->d, 32);
			/* a 3-token prefill group, then a decode group over 5
			 * cached tokens: the context is written to the file */
			ck_assert_uint_eq(c->rows, blocks <= NB_BLOCK_ARR_COUNT ? 3 : 1);
			ck_assert_uint_eq(c->context, c->rows == 1 ? 5 : 0);
			ck_assert_int_eq(c->group, r.cells[i - (size_t)((blocks - 1) %
									NB_BLOCK_ARR_COUNT)].group);
			ck_assert_str_eq(c->blas_routine, c->rows == 1 ? "gemv" : "gemm");
			ck_assert_int_ne(c->oversubscribed, 1);
		} else {
			ck_assert_str_eq(c->suite, np % 3 == 2 ? "normproj_aa" : "normproj");
			ck_assert_str_eq(c->algo, np % 3 == 1 ? "fused" : "unfused");
			ck_assert_str_eq(c->blas_routine, c->rows == 1 ? "gemv" : "gemm");
			np++;
		}
	}
	ck_assert_int_eq(blocks, 2 * NB_BLOCK_ARR_COUNT);
	ck_assert_int_eq(np, 6);      /* tiny preset: 1 and 16 tokens, one thread */
	ck_assert_ptr_nonnull(strstr(r.meta.blas_threading, "OpenMP"));
	nb_results_free(&r);

	ck_assert_int_eq(nb_run_bin(dir, (const char *[]){ "run", "--suite", "block",
		"--variants", "rmsnorm", NULL }, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "add 'kernel' to --suite"));
	ck_assert_int_eq(nb_run_bin(dir, (const char *[]){ "run", "--suite", "blocks", NULL },
				    out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "unknown suite 'blocks'"));
	ck_assert_int_eq(nb_run_bin(dir, (const char *[]){ "run", "--block-d", "4", NULL },
				    out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "--block-d"));
	ck_assert_int_eq(nb_run_bin(dir, (const char *[]){ "run", "--suite", "block",
		"--block-context", "0", NULL }, out, sizeof(out)), 1);
	ck_assert_ptr_nonnull(strstr(out, "--block-context: item '0'"));
	unlink(file);
	snprintf(file, sizeof(file), "%s/out.txt", dir);
	unlink(file);
	ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

Suite *nb_suite_block(void)
{
	Suite *s = suite_create("block");
	TCase *tc = tcase_create("block");

	tcase_add_test(tc, test_block_all_arrangements_verified);
	tcase_add_test(tc, test_block_decode_reads_cache);
	tcase_add_test(tc, test_block_check_fails_unfolded_flashnorm);
	tcase_add_test(tc, test_block_check_fails_perturbed_weights);
	tcase_add_test(tc, test_block_call_restores_input);
	tcase_add_test(tc, test_block_plans);
	tcase_add_test(tc, test_block_parsers_and_shapes);
	tcase_add_test(tc, test_block_derive);
	tcase_add_test(tc, test_block_self_checks);
	tcase_add_test(tc, test_block_cli);
	suite_add_tcase(s, tc);
	return s;
}
