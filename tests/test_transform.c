/* The model transformations (verify/nb_transform), the long-double model's
 * running error bound and the working-dtype model (verify/nb_model): each
 * property checked against a derived bound, and each check shown to fail on
 * a deliberately broken input. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/nb_rng.h"
#include "ref/nb_ref_model.h"
#include "tests/nb_test.h"
#include "verify/nb_model.h"
#include "verify/nb_transform.h"

#define LD_U (LDBL_EPSILON / 2.0L)

static struct nb_model_shape nb_shape(size_t d, size_t layers, enum nb_ffn_kind ffn)
{
	return (struct nb_model_shape){
		.vocab = 23, .max_seq = 12, .d = d, .heads = 2, .head_dim = 8, .ffn = 2 * d + 1,
		.layers = layers, .ffn_kind = ffn, .eps = 1e-5,
	};
}

/* gamma_k of long double: a k-term sum's worst relative error */
static long double nb_ld_gamma(size_t k)
{
	return (long double)k * LD_U / (1.0L - (long double)k * LD_U);
}

/* |mean| of a row and the bound a zero-mean row's computed mean can reach:
 * the stored values carry err (the transform's own bound) and the n-term
 * sum adds gamma_n sum|v| */
static void nb_row_mean(const long double *v, const long double *err, size_t n,
			long double *mean, long double *bound)
{
	long double s = 0.0L, a = 0.0L, e = 0.0L;

	for (size_t i = 0; i < n; i++) {
		s += v[i];
		a += fabsl(v[i]);
		e += err ? err[i] : 0.0L;
	}
	*mean = fabsl(s) / (long double)n;
	*bound = (e + nb_ld_gamma(n) * a) / (long double)n;
}

/*
 * Recentred writers emit zero-mean vectors: every embedding row, and the
 * output z W_o + b_o (z W_2 + b_2) of each branch for random z. The bound:
 * each stored element is within err of the exact recentred value (whose
 * mean is exactly 0), and the test's own sums add gamma_n (and the product
 * z W gamma_a sum|z W|). Without recentring (the control) the same means
 * are of order one.
 */
START_TEST(test_recentred_writers_zero_mean)
{
	struct nb_model_shape s = nb_shape(31, 2, NB_FFN_SWIGLU);
	struct nb_ref_model *ln, *rms, *ctl;
	struct nb_rng rng;
	long double worst_ctl = 0.0L;

	ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_LAYERNORM, 11, &ln), NB_OK);
	ck_assert_int_eq(nb_transform_ln_to_rms(ln, true, &rms), NB_OK);
	ck_assert_int_eq(nb_transform_ln_to_rms(ln, false, &ctl), NB_OK);
	ck_assert_int_eq(rms->norm, NB_NORM_RMSNORM);
	nb_rng_seed(&rng, 5);
	for (size_t r = 0; r < s.vocab; r++) {
		long double mean, bound, mc, bc;
		nb_row_mean(rms->tok.v + r * s.d, rms->tok.err + r * s.d, s.d, &mean, &bound);
		ck_assert_msg(mean <= bound, "token row %zu mean %Lg > %Lg", r, mean, bound);
		nb_row_mean(ctl->tok.v + r * s.d, NULL, s.d, &mc, &bc);
		worst_ctl = fmaxl(worst_ctl, mc);
	}
	for (size_t r = 0; r < s.max_seq; r++) {
		long double mean, bound;
		nb_row_mean(rms->pos.v + r * s.d, rms->pos.err + r * s.d, s.d, &mean, &bound);
		ck_assert_msg(mean <= bound, "position row %zu mean %Lg > %Lg", r, mean, bound);
	}
	for (size_t l = 0; l < s.layers; l++) {
		const struct nb_ref_tensor *w[2] = { &rms->layer[l].wo, &rms->layer[l].w2 };
		const struct nb_ref_tensor *b[2] = { &rms->layer[l].bo, &rms->layer[l].b2 };
		const struct nb_ref_tensor *wc[2] = { &ctl->layer[l].wo, &ctl->layer[l].w2 };
		const struct nb_ref_tensor *bc[2] = { &ctl->layer[l].bo, &ctl->layer[l].b2 };
		for (int k = 0; k < 2; k++) {
			size_t in = w[k]->rows, n = w[k]->cols;
			long double z[in], y[n], yb[n], yc[n], mean, bound, mc, dummy;
			for (size_t i = 0; i < in; i++)
				z[i] = (long double)nb_rng_normal(&rng);
			ck_assert_int_eq(nb_ref_linear(1, z, NULL, w[k], b[k], NULL, y, yb), NB_OK);
			ck_assert_int_eq(nb_ref_linear(1, z, NULL, wc[k], bc[k], NULL, yc, NULL), NB_OK);
			/* yb: the parameters' err carried through z (exact input);
			 * plus the rounding of the product, gamma_in sum |z W| */
			nb_row_mean(y, yb, n, &mean, &bound);
			{
				long double mag = 0.0L;
				for (size_t j = 0; j < n; j++)
					for (size_t i = 0; i < in; i++)
						mag += fabsl(z[i] * w[k]->v[i * n + j]);
				bound += nb_ld_gamma(in + 1) * mag / (long double)n;
			}
			ck_assert_msg(mean <= bound, "layer %zu writer %d: mean %Lg > %Lg", l, k,
				      mean, bound);
			nb_row_mean(yc, NULL, n, &mc, &dummy);
			worst_ctl = fmaxl(worst_ctl, mc);
		}
	}
	/* the control's writers are far from zero-mean */
	ck_assert_msg(worst_ctl > 1e-2L, "control writers look recentred: %Lg", worst_ctl);
	nb_ref_model_free(ln);
	nb_ref_model_free(rms);
	nb_ref_model_free(ctl);
}
END_TEST

/*
 * The whole stream of the recentred model stays zero-mean through every
 * layer (the point of E1): after embedding and after each layer, each
 * token's mean is within the stream's running error bound (long double),
 * while the unrecentred model's stream is not.
 */
START_TEST(test_recentred_stream_zero_mean)
{
	struct nb_model_shape s = nb_shape(24, 2, NB_FFN_GELU);
	struct nb_ref_model *ln, *rms, *ctl;
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld();
	uint32_t tok[9];
	long double x[9 * 24], xb[9 * 24], xc[9 * 24];
	size_t seq = 9, n = s.d;

	ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_LAYERNORM, 21, &ln), NB_OK);
	ck_assert_int_eq(nb_transform_ln_to_rms(ln, true, &rms), NB_OK);
	ck_assert_int_eq(nb_transform_ln_to_rms(ln, false, &ctl), NB_OK);
	nb_ref_model_tokens(&s, 21, tok, seq);
	ck_assert_int_eq(nb_ref_model_embed(rms, tok, seq, &ld, x, xb), NB_OK);
	ck_assert_int_eq(nb_ref_model_embed(ctl, tok, seq, NULL, xc, NULL), NB_OK);
	for (size_t l = 0; l <= s.layers; l++) {
		long double worst_ctl = 0.0L;
		if (l > 0) {
			ck_assert_int_eq(nb_ref_model_layer(rms, l - 1, seq, &ld, x, xb), NB_OK);
			ck_assert_int_eq(nb_ref_model_layer(ctl, l - 1, seq, NULL, xc, NULL), NB_OK);
		}
		for (size_t t = 0; t < seq; t++) {
			long double mean, bound, mc, bc;
			/* xb bounds each element's distance from the exact
			 * (zero-mean) stream */
			nb_row_mean(x + t * n, xb + t * n, n, &mean, &bound);
			ck_assert_msg(mean <= bound, "after %zu layers, token %zu: mean %Lg > %Lg", l,
				      t, mean, bound);
			nb_row_mean(xc + t * n, NULL, n, &mc, &bc);
			worst_ctl = fmaxl(worst_ctl, mc);
		}
		ck_assert_msg(worst_ctl > 1e-2L, "control stream is zero-mean after %zu layers", l);
	}
	nb_ref_model_free(ln);
	nb_ref_model_free(rms);
	nb_ref_model_free(ctl);
}
END_TEST

/*
 * CRMSNorm's coding: decompress(compress(x)) = x on zero-mean x. On the
 * grid 2^-40 (|x| < 2^8, every partial sum exact in long double) it is
 * exact; on arbitrary zero-mean long doubles the dropped element comes back
 * within gamma_d sum|x| (its mean was zero only to that accuracy). A vector
 * that is not zero-mean does not come back (the coding's precondition).
 */
START_TEST(test_compress_decompress_identity)
{
	struct nb_rng rng;
	const size_t widths[] = { 2, 3, 31, 64, 96, 255 };

	nb_rng_seed(&rng, 3);
	for (size_t w = 0; w < sizeof(widths) / sizeof(widths[0]); w++) {
		size_t d = widths[w];
		long double x[255], xc[254], back[255], s = 0.0L, a = 0.0L;
		/* exact zero mean on the grid */
		for (size_t i = 0; i + 1 < d; i++) {
			x[i] = ldexpl(nearbyintl(ldexpl((long double)nb_rng_normal(&rng), 40)), -40);
			s += x[i];
		}
		x[d - 1] = -s;
		nb_crms_compress(x, d, xc);
		nb_crms_decompress(xc, d, back);
		for (size_t i = 0; i < d; i++)
			ck_assert_msg(back[i] == x[i], "d %zu: element %zu changed", d, i);
		/* arbitrary long doubles, mean subtracted */
		s = 0.0L;
		for (size_t i = 0; i < d; i++) {
			x[i] = (long double)nb_rng_normal(&rng) * 1.7L;
			s += x[i];
		}
		for (size_t i = 0; i < d; i++) {
			x[i] -= s / (long double)d;
			a += fabsl(x[i]);
		}
		nb_crms_compress(x, d, xc);
		nb_crms_decompress(xc, d, back);
		for (size_t i = 0; i + 1 < d; i++)
			ck_assert(back[i] == x[i]);
		ck_assert_msg(fabsl(back[d - 1] - x[d - 1]) <= 2.0L * nb_ld_gamma(d + 1) * a,
			      "d %zu: last element off by %Lg", d, fabsl(back[d - 1] - x[d - 1]));
		/* not zero-mean: the coding cannot restore it */
		x[0] += 1.0L;
		nb_crms_compress(x, d, xc);
		nb_crms_decompress(xc, d, back);
		ck_assert(fabsl(back[d - 1] - x[d - 1]) > 0.5L);
	}
}
END_TEST

/*
 * Folding a LayerNorm's gain and bias into the next linear layer:
 * LN(x; g, b) W + c == LN(x; 1, 0) (diag(g) W) + (c + b^T W) in long
 * double, each side within its running bound (u = 2^-64, plus the fold's
 * own err). Folding the gain but forgetting the bias fails.
 */
START_TEST(test_fold_ln_affine)
{
	const size_t n = 37, m = 29, rows = 6;
	struct nb_ref_tensor g, b, w, c, ones, zeros, wf, cf, cfb;
	struct nb_ref_errmodel ld = nb_ref_errmodel_ld();
	struct nb_rng rng;
	long double x[6 * 37], h[6 * 37], hb[6 * 37], h1[6 * 37], h1b[6 * 37];
	long double za[6 * 29], zab[6 * 29], zb[6 * 29], zbb[6 * 29], zc[6 * 29];
	long double worst = 0.0L, worst_ctl = 0.0L, mx = 0.0L;

	ck_assert_int_eq(nb_ref_tensor_alloc(1, n, &g), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(1, n, &b), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(n, m, &w), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(1, m, &c), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(1, n, &ones), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(1, n, &zeros), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(n, m, &wf), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(1, m, &cf), NB_OK);
	ck_assert_int_eq(nb_ref_tensor_alloc(1, m, &cfb), NB_OK);
	nb_rng_seed(&rng, 17);
	for (size_t i = 0; i < n; i++) {
		g.v[i] = 0.5L + (long double)nb_rng_uniform(&rng);
		b.v[i] = 0.3L * (long double)nb_rng_normal(&rng);
		ones.v[i] = 1.0L;
	}
	for (size_t i = 0; i < n * m; i++)
		w.v[i] = (long double)nb_rng_normal(&rng) / 6.0L;
	for (size_t j = 0; j < m; j++)
		c.v[j] = 0.1L * (long double)nb_rng_normal(&rng);
	for (size_t i = 0; i < rows * n; i++)
		x[i] = 2.0L + (long double)nb_rng_normal(&rng);
	ck_assert_int_eq(nb_transform_fold_affine(&g, &b, &w, &c, &wf, &cf), NB_OK);
	ck_assert_int_eq(nb_transform_fold_affine(&g, NULL, &w, &c, &wf, &cfb), NB_OK);

	ck_assert_int_eq(nb_ref_norm(NB_NORM_LAYERNORM, rows, n, 1e-5, x, NULL, &g, &b, &ld, h, hb),
			 NB_OK);
	ck_assert_int_eq(nb_ref_linear(rows, h, hb, &w, &c, &ld, za, zab), NB_OK);
	ck_assert_int_eq(nb_ref_norm(NB_NORM_LAYERNORM, rows, n, 1e-5, x, NULL, &ones, &zeros, &ld,
				     h1, h1b), NB_OK);
	ck_assert_int_eq(nb_ref_linear(rows, h1, h1b, &wf, &cf, &ld, zb, zbb), NB_OK);
	ck_assert_int_eq(nb_ref_linear(rows, h1, NULL, &wf, &cfb, NULL, zc, NULL), NB_OK);
	for (size_t i = 0; i < rows * m; i++) {
		long double d = fabsl(za[i] - zb[i]);
		ck_assert_msg(d <= zab[i] + zbb[i], "element %zu: %Lg > %Lg", i, d, zab[i] + zbb[i]);
		worst = fmaxl(worst, d);
		worst_ctl = fmaxl(worst_ctl, fabsl(za[i] - zc[i]));
		mx = fmaxl(mx, fabsl(za[i]));
	}
	/* to long-double rounding: far below 1e-16 relative */
	ck_assert_msg(worst / mx < 1e-16L, "relative difference %Lg", worst / mx);
	ck_assert_msg(worst_ctl / mx > 1e-2L, "the bias fold made no difference");
	nb_ref_tensor_free(&g);
	nb_ref_tensor_free(&b);
	nb_ref_tensor_free(&w);
	nb_ref_tensor_free(&c);
	nb_ref_tensor_free(&ones);
	nb_ref_tensor_free(&zeros);
	nb_ref_tensor_free(&wf);
	nb_ref_tensor_free(&cf);
	nb_ref_tensor_free(&cfb);
}
END_TEST

/* The transforms refuse a model of the wrong kind, and the chain gives
 * each arrangement with the stream width it needs. */
START_TEST(test_transform_kinds)
{
	struct nb_model_shape s = nb_shape(17, 1, NB_FFN_GELU);
	struct nb_ref_model *ln, *rms, *out;

	ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_LAYERNORM, 1, &ln), NB_OK);
	ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_RMSNORM, 1, &rms), NB_OK);
	ck_assert_int_eq(nb_transform_ln_to_rms(rms, true, &out), NB_ERR_INVALID);
	ck_assert_ptr_null(out);
	ck_assert_int_eq(nb_transform_rms_to_crms(ln, true, &out), NB_ERR_INVALID);
	ck_assert_int_eq(nb_transform_rms_to_flash(ln, false, &out), NB_ERR_INVALID);
	for (int k = 0; k < NB_NORM_COUNT; k++) {
		ck_assert_int_eq(nb_transform_chain(ln, (enum nb_norm_kind)k, &out), NB_OK);
		ck_assert_int_eq(out->norm, k);
		ck_assert_uint_eq(out->n, k == NB_NORM_CRMSNORM ? s.d - 1 : s.d);
		ck_assert_uint_eq(out->tok.cols, out->n);
		ck_assert_uint_eq(out->layer[0].wq.rows, out->n);
		nb_ref_model_free(out);
	}
	ck_assert_int_eq(nb_transform_chain(ln, NB_NORM_COUNT, &out), NB_ERR_INVALID);
	s.d = 1;
	ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_LAYERNORM, 1, &out), NB_ERR_INVALID);
	nb_ref_model_free(ln);
	nb_ref_model_free(rms);
}
END_TEST

/*
 * The working-dtype model reproduces the long-double model: for each
 * arrangement and FFN, f32, f64 and bf16 logits stay within the running
 * bound (probabilistic, lambda = 6) of the long-double ones. A model whose
 * weights were perturbed by 1% is caught by the same check in f32.
 */
START_TEST(test_working_model_matches_ref)
{
	const enum nb_dtype dts[] = { NB_DTYPE_F32, NB_DTYPE_F64, NB_DTYPE_BF16 };
	size_t seq = 7;
	uint32_t tok[7];

	for (int ffn = 0; ffn < NB_FFN_COUNT; ffn++) {
		struct nb_model_shape s = nb_shape(21, 2, (enum nb_ffn_kind)ffn);
		struct nb_ref_model *ln;
		ck_assert_int_eq(nb_ref_model_random(&s, NB_NORM_LAYERNORM, 40 + ffn, &ln), NB_OK);
		nb_ref_model_tokens(&s, 40, tok, seq);
		for (int k = 0; k < NB_NORM_COUNT; k++) {
			struct nb_ref_model *r;
			long double t[7 * 23], b[7 * 23];
			ck_assert_int_eq(nb_transform_chain(ln, (enum nb_norm_kind)k, &r), NB_OK);
			ck_assert_int_eq(nb_ref_model_forward(r, tok, seq, NULL, t, NULL), NB_OK);
			for (size_t q = 0; q < 3; q++) {
				struct nb_ref_errmodel em = nb_ref_errmodel_dtype(dts[q]);
				struct nb_model *m;
				struct nb_model_ws *ws;
				double lg[7 * 23];
				long double tt[7 * 23];
				em.lambda = 6.0L;
				ck_assert_int_eq(nb_ref_model_forward(r, tok, seq, &em, tt, b), NB_OK);
				ck_assert_int_eq(nb_model_from_ref(r, dts[q], &m), NB_OK);
				ck_assert_int_eq(nb_model_ws_create(m, seq, 1, &ws), NB_OK);
				ck_assert_int_eq(nb_model_forward(m, ws, tok, seq, lg), NB_OK);
				for (size_t i = 0; i < seq * s.vocab; i++)
					ck_assert_msg(fabsl((long double)lg[i] - t[i]) <= b[i],
						      "%s %s %s logit %zu: %g vs %Lg (bound %Lg)",
						      nb_norm_kind_name((enum nb_norm_kind)k),
						      nb_ffn_kind_name((enum nb_ffn_kind)ffn),
						      nb_dtype_traits[dts[q]].name, i, lg[i], t[i], b[i]);
				if (dts[q] == NB_DTYPE_F32 && k == NB_NORM_RMSNORM) {
					/* a broken copy: one reader off by 1% */
					struct nb_ref_model *bad;
					bool caught = false;
					ck_assert_int_eq(nb_ref_model_clone(r, &bad), NB_OK);
					for (size_t i = 0; i < bad->layer[0].wv.rows * bad->layer[0].wv.cols; i++)
						bad->layer[0].wv.v[i] *= 1.01L;
					nb_model_free(m);
					ck_assert_int_eq(nb_model_from_ref(bad, dts[q], &m), NB_OK);
					ck_assert_int_eq(nb_model_forward(m, ws, tok, seq, lg), NB_OK);
					for (size_t i = 0; i < seq * s.vocab; i++)
						caught = caught || fabsl((long double)lg[i] - t[i]) > b[i];
					ck_assert_msg(caught, "a 1%% weight error went unnoticed");
					nb_ref_model_free(bad);
				}
				nb_model_ws_free(ws);
				nb_model_free(m);
			}
			nb_ref_model_free(r);
		}
		nb_ref_model_free(ln);
	}
}
END_TEST

/* The block benchmark's entry points: random weights in every arrangement,
 * one layer in place, finite results, no allocation on the way; bad
 * arguments come back as statuses. */
START_TEST(test_layer_forward_api)
{
	struct nb_model_shape s = {
		.vocab = 50, .max_seq = 32, .d = 64, .heads = 4, .head_dim = 16, .ffn = 171,
		.layers = 1, .ffn_kind = NB_FFN_SWIGLU, .eps = 1e-5,
	};

	for (int k = 0; k < NB_NORM_COUNT; k++) {
		for (int q = 0; q < 3; q++) {
			enum nb_dtype dt = q == 0 ? NB_DTYPE_F32 : q == 1 ? NB_DTYPE_F64 : NB_DTYPE_BF16;
			struct nb_model *m;
			struct nb_model_ws *ws;
			uint32_t tok[32];
			size_t n;
			double *x;
			ck_assert_int_eq(nb_model_create(&s, (enum nb_norm_kind)k, dt, 9, &m), NB_OK);
			n = nb_model_width(m);
			ck_assert_uint_eq(n, k == NB_NORM_CRMSNORM ? 63 : 64);
			ck_assert_uint_gt(nb_model_weight_bytes(m), 0);
			ck_assert_int_eq(nb_model_ws_create(m, 32, 0, &ws), NB_OK);
			for (size_t t = 0; t < 32; t++)
				tok[t] = (uint32_t)(t * 7 % s.vocab);
			ck_assert_int_eq(nb_model_embed(m, ws, tok, 32), NB_OK);
			ck_assert_int_eq(nb_model_layer_forward(m, ws, 0, 32), NB_OK);
			ck_assert_int_eq(nb_model_layer_forward(m, ws, 0, 5), NB_OK);
			x = malloc(32 * n * sizeof(double));
			ck_assert_int_eq(nb_model_stream_get(m, ws, 32, x), NB_OK);
			for (size_t i = 0; i < 32 * n; i++)
				ck_assert(isfinite(x[i]));
			ck_assert_int_eq(nb_model_stream_set(m, ws, 32, x), NB_OK);
			ck_assert_int_eq(nb_model_layer_forward(m, ws, 1, 32), NB_ERR_INVALID);
			ck_assert_int_eq(nb_model_layer_forward(m, ws, 0, 33), NB_ERR_INVALID);
			ck_assert_int_eq(nb_model_layer_forward(m, ws, 0, 0), NB_ERR_INVALID);
			free(x);
			nb_model_ws_free(ws);
			nb_model_free(m);
		}
	}
	ck_assert_int_eq(nb_model_create(&s, NB_NORM_RMSNORM, NB_DTYPE_F16, 1, &(struct nb_model *){ NULL }),
			 NB_ERR_UNSUPPORTED);
}
END_TEST

Suite *nb_suite_transform(void)
{
	Suite *s = suite_create("transform");
	TCase *tc = tcase_create("transform");

	tcase_add_test(tc, test_recentred_writers_zero_mean);
	tcase_add_test(tc, test_recentred_stream_zero_mean);
	tcase_add_test(tc, test_compress_decompress_identity);
	tcase_add_test(tc, test_fold_ln_affine);
	tcase_add_test(tc, test_transform_kinds);
	tcase_add_test(tc, test_working_model_matches_ref);
	tcase_add_test(tc, test_layer_forward_api);
	suite_add_tcase(s, tc);
	return s;
}
