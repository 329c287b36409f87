/* The equivalence claims E1-E6 on their quick set: each holds in long
 * double and in the working dtypes within its derived bound, and each
 * negative control fails by orders of magnitude. */
#include <string.h>

#include "common/nb_dtype.h"
#include "tests/nb_test.h"
#include "verify/nb_claims.h"
#include "verify/nb_model.h"
#include "verify/nb_transform.h"

static struct nb_claim_result *nb_run(const char *only, unsigned dtypes, size_t *count)
{
	struct nb_claims_config cfg = NB_CLAIMS_CONFIG_DEFAULT;
	struct nb_claim_result *r = NULL;

	cfg.quick = true;
	cfg.only = only;
	cfg.dtypes = dtypes;
	cfg.threads = 1;
	ck_assert_int_eq(nb_claims_run(&cfg, &r, count), NB_OK);
	ck_assert_ptr_nonnull(r);
	return r;
}

/*
 * Every claim in long double and f32: passes (observed <= bound and each
 * side within its own bound), long double agreement far below 1e-15, and
 * every control fails by NB_CONTROL_MARGIN. Each claim has rows of both
 * kinds in both dtypes.
 */
START_TEST(test_claims_hold_ld_f32)
{
	size_t count;
	struct nb_claim_result *r = nb_run(NULL, 1u << NB_DTYPE_F32, &count);
	int seen[6][2][2] = { { { 0 } } };

	ck_assert_uint_gt(count, 0);
	for (size_t i = 0; i < count; i++) {
		int id = r[i].claim[1] - '1', dt;
		ck_assert(r[i].claim[0] == 'E' && id >= 0 && id < 6);
		ck_assert_msg(strcmp(r[i].dtype, "ld") == 0 || strcmp(r[i].dtype, "f32") == 0,
			      "dtype %s", r[i].dtype);
		dt = strcmp(r[i].dtype, "ld") == 0 ? 0 : 1;
		seen[id][dt][r[i].control]++;
		ck_assert_msg(r[i].pass, "%s %s %s%s: observed %g bound %g (%s)", r[i].claim,
			      r[i].dtype, r[i].control ? "control " : "", r[i].name, r[i].observed,
			      r[i].bound, r[i].note);
		if (r[i].control) {
			ck_assert(r[i].observed >= NB_CONTROL_MARGIN * r[i].bound);
		} else {
			ck_assert(r[i].observed <= r[i].bound);
			/* long double: both sides agree to its rounding; E5's
			 * rows of |mean|/sd 1e4 lose four more digits by design */
			if (dt == 0)
				ck_assert_msg(r[i].observed < (r[i].param > 1.0 ? 1e-12 : 1e-16),
					      "%s ld: %g", r[i].claim, r[i].observed);
			else
				ck_assert_msg(r[i].param > 1.0 || r[i].observed < 1e-5,
					      "%s f32: %g", r[i].claim, r[i].observed);
		}
	}
	for (int id = 0; id < 6; id++)
		for (int dt = 0; dt < 2; dt++)
			for (int c = 0; c < 2; c++)
				ck_assert_msg(seen[id][dt][c] > 0, "E%d %s %s missing", id + 1,
					      dt ? "f32" : "ld", c ? "control" : "claim");
	nb_claims_free(r);
}
END_TEST

/* The model claims cover both FFNs; E5 sweeps |mean|/sd 1, 1e2, 1e4 and the
 * error grows with it (reported, not hidden). */
START_TEST(test_claims_cover_ffns_and_ratios)
{
	size_t count;
	struct nb_claim_result *r = nb_run("E1,E2,E4,E5", 1u << NB_DTYPE_F32, &count);
	int gelu[6] = { 0 }, swiglu[6] = { 0 };
	double e5[3] = { 0.0, 0.0, 0.0 };

	for (size_t i = 0; i < count; i++) {
		int id = r[i].claim[1] - '1';
		ck_assert(id == 0 || id == 1 || id == 3 || id == 4);
		gelu[id] += strstr(r[i].name, "gelu") != NULL;
		swiglu[id] += strstr(r[i].name, "swiglu") != NULL;
		if (id == 4 && !r[i].control && strcmp(r[i].dtype, "f32") == 0) {
			int q = r[i].param < 10.0 ? 0 : r[i].param < 1e3 ? 1 : 2;
			e5[q] = r[i].err_b > e5[q] ? r[i].err_b : e5[q];
		}
		ck_assert(r[i].pass);
	}
	for (int id = 0; id < 4; id += id == 1 ? 2 : 1) {
		ck_assert_msg(gelu[id] > 0, "E%d has no GELU model", id + 1);
		ck_assert_msg(swiglu[id] > 0, "E%d has no SwiGLU model", id + 1);
	}
	/* cancellation: each factor 100 in |mean|/sd costs about a factor
	 * 100 in accuracy (at least 10 is asserted) */
	ck_assert_msg(e5[1] > 10.0 * e5[0] && e5[2] > 10.0 * e5[1],
		      "no error growth with |mean|/sd: %g %g %g", e5[0], e5[1], e5[2]);
	nb_claims_free(r);
}
END_TEST

/* f64 and bf16 storage: the claims hold; bf16 runs no controls (its
 * rounding is too coarse to show them failing by orders of magnitude),
 * f64 does. */
START_TEST(test_claims_f64_bf16)
{
	size_t count;
	struct nb_claim_result *r = nb_run(NULL, (1u << NB_DTYPE_F64) | (1u << NB_DTYPE_BF16),
					   &count);
	int f64_ctl = 0, bf16 = 0;

	for (size_t i = 0; i < count; i++) {
		ck_assert_msg(r[i].pass, "%s %s %s: observed %g bound %g (%s)", r[i].claim,
			      r[i].dtype, r[i].name, r[i].observed, r[i].bound, r[i].note);
		ck_assert_msg(strcmp(r[i].dtype, "f32") != 0, "f32 was not asked for");
		ck_assert(!(r[i].control && strcmp(r[i].dtype, "bf16") == 0));
		f64_ctl += r[i].control && strcmp(r[i].dtype, "f64") == 0;
		bf16 += strcmp(r[i].dtype, "bf16") == 0;
	}
	ck_assert_int_gt(f64_ctl, 0);
	ck_assert_int_gt(bf16, 0);
	nb_claims_free(r);
}
END_TEST

START_TEST(test_claims_filter_and_errors)
{
	struct nb_claims_config cfg = NB_CLAIMS_CONFIG_DEFAULT;
	struct nb_claim_result *r = NULL;
	size_t count = 0;

	cfg.quick = true;
	cfg.only = "E7";
	ck_assert_int_eq(nb_claims_run(&cfg, &r, &count), NB_ERR_INVALID);
	ck_assert_ptr_null(r);
	cfg.only = "E3";
	cfg.controls = false;
	cfg.dtypes = 1u << NB_DTYPE_F32;
	ck_assert_int_eq(nb_claims_run(&cfg, &r, &count), NB_OK);
	ck_assert_uint_gt(count, 0);
	for (size_t i = 0; i < count; i++) {
		ck_assert_str_eq(r[i].claim, "E3");
		ck_assert(!r[i].control);
	}
	ck_assert(nb_claims_all_pass(r, count));
	r[0].pass = false;
	ck_assert(!nb_claims_all_pass(r, count));
	nb_claims_free(r);
	ck_assert_str_eq(nb_claim_title("E2"), "Pre-RMSNorm == Pre-CRMSNorm");
	ck_assert_ptr_null(nb_claim_title("E0"));
	ck_assert_int_eq(nb_claims_run(NULL, &r, &count), NB_ERR_INVALID);
}
END_TEST

/*
 * The block benchmark's check: each equivalent arrangement's working model
 * (f32) reproduces the Pre-LN model's logits within the bound; the
 * unrecentred RMSNorm model (E1's control) does not.
 */
START_TEST(test_check_model)
{
	struct nb_model_shape s = {
		.vocab = 19, .max_seq = 8, .d = 33, .heads = 2, .head_dim = 8, .ffn = 50,
		.layers = 2, .ffn_kind = NB_FFN_SWIGLU, .eps = 1e-5,
	};
	struct nb_ref_model *ln, *t;
	uint32_t tok[8];
	double obs, bnd;
	bool pass;

	ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_LAYERNORM, 77, &ln), NB_OK);
	nb_ref_model_tokens(&s, 77, tok, 8);
	for (int k = 0; k < NB_NORM_NONE; k++) {
		struct nb_model *m;
		struct nb_model_ws *ws;
		ck_assert_int_eq(nb_transform_chain(ln, (enum nb_norm_kind)k, &t), NB_OK);
		ck_assert_int_eq(nb_model_from_ref(t, NB_DTYPE_F32, &m), NB_OK);
		ck_assert_int_eq(nb_model_ws_create(m, 8, 1, &ws), NB_OK);
		ck_assert_int_eq(nb_claims_check_model(ln, t, m, ws, tok, 8, &obs, &bnd, &pass), NB_OK);
		ck_assert_msg(pass, "%s: %g > %g", nb_norm_kind_name((enum nb_norm_kind)k), obs, bnd);
		ck_assert(bnd < 1e-2);
		nb_model_ws_free(ws);
		nb_model_free(m);
		nb_ref_model_free(t);
	}
	{
		struct nb_model *m;
		struct nb_model_ws *ws;
		ck_assert_int_eq(nb_transform_ln_to_rms(ln, false, &t), NB_OK);
		ck_assert_int_eq(nb_model_from_ref(t, NB_DTYPE_F32, &m), NB_OK);
		ck_assert_int_eq(nb_model_ws_create(m, 8, 1, &ws), NB_OK);
		ck_assert_int_eq(nb_claims_check_model(ln, t, m, ws, tok, 8, &obs, &bnd, &pass), NB_OK);
		ck_assert_msg(!pass && obs > 100.0 * bnd, "control passed: %g vs %g", obs, bnd);
		ck_assert_int_eq(nb_claims_check_model(t, t, m, ws, tok, 8, &obs, &bnd, &pass),
				 NB_ERR_INVALID);
		nb_model_ws_free(ws);
		nb_model_free(m);
		nb_ref_model_free(t);
	}
	nb_ref_model_free(ln);
}
END_TEST

Suite *nb_suite_claims(void)
{
	Suite *s = suite_create("claims");
	TCase *tc = tcase_create("claims");

	tcase_add_test(tc, test_claims_hold_ld_f32);
	tcase_add_test(tc, test_claims_cover_ffns_and_ratios);
	tcase_add_test(tc, test_claims_f64_bf16);
	tcase_add_test(tc, test_claims_filter_and_errors);
	tcase_add_test(tc, test_check_model);
	suite_add_tcase(s, tc);
	return s;
}
