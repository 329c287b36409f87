/* Model transformations behind the equivalence claims (SPEC §4), done in
 * long double on nb_ref_model parameters; each result tensor carries a bound
 * on its own rounding (nb_ref_tensor.err). Working copies: nb_model_from_ref. */
#ifndef NB_TRANSFORM_H
#define NB_TRANSFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/nb_status.h"
#include "ref/nb_ref_model.h"

/*
 * E1 Pre-LN -> Pre-RMSNorm. Each LN's gain folds into the rows of the next
 * linear layer and its bias into that layer's bias (W' = diag(g) W,
 * c' = c + b^T W; Q/K/V, FFN W1/W3 and the head); every writer to the stream
 * is recentred (token and position embedding rows, W_o and W2 along their
 * output side, b_o and b2 minus their mean); every LN becomes RMSNorm with
 * gain 1 and the same eps. recentre false is the negative control.
 * src must be NB_NORM_LAYERNORM.
 */
enum nb_status nb_transform_ln_to_rms(const struct nb_ref_model *src, bool recentre,
				      struct nb_ref_model **out);

/*
 * E2 Pre-RMSNorm -> Pre-CRMSNorm (src's stream must be zero-mean, e.g. the
 * result of E1). RMSNorm gains are folded into the readers first; writers
 * keep their first d-1 stream coordinates; readers (rows = stream
 * coordinate) become W[:d-1, :] - W[d-1, :] (the dropped coordinate is minus
 * the sum of the others). correct false is the control (W[:d-1, :] alone).
 */
enum nb_status nb_transform_rms_to_crms(const struct nb_ref_model *src, bool correct,
					struct nb_ref_model **out);

/*
 * E4 Pre-RMSNorm -> FlashNorm: every RMSNorm gain folds into its readers
 * (W* = diag(g) W for Q/K/V, FFN W1/W3 and the head); the model then applies
 * 1/rms after each reader's product (before its bias and before any
 * nonlinearity). scale_after_act true is the control (1/rms applied after
 * the activated branch's nonlinearity).
 */
enum nb_status nb_transform_rms_to_flash(const struct nb_ref_model *src, bool scale_after_act,
					 struct nb_ref_model **out);

/*
 * A Pre-LN model in arrangement target: LAYERNORM (a copy), RMSNORM (E1),
 * CRMSNORM (E1 then E2), FLASHNORM (E1 then E4), NONE (the same weights
 * with the norms removed: NOT equivalent, the benchmark's bound).
 */
enum nb_status nb_transform_chain(const struct nb_ref_model *preln, enum nb_norm_kind target,
				  struct nb_ref_model **out);

/* ---- building blocks (also unit-tested on their own) ---- */

/* Fold a norm's gain g (n) and bias b (n, may be NULL) into the linear layer
 * W (n x m), c (m, may be NULL: treated as 0): w_out = diag(g) W,
 * c_out = c + b^T W (compensated sums). Outputs preallocated. */
enum nb_status nb_transform_fold_affine(const struct nb_ref_tensor *g, const struct nb_ref_tensor *b,
					const struct nb_ref_tensor *w, const struct nb_ref_tensor *c,
					struct nb_ref_tensor *w_out, struct nb_ref_tensor *c_out);

/* Subtract each row's mean from that row, in place: for an embedding table
 * (row = token) and for a writer matrix (rows x n, n = stream), where it is
 * W (I - 1 1^T / n); for a bias it is b - mean(b). */
enum nb_status nb_transform_recentre_rows(struct nb_ref_tensor *t);

/* E3's control: w_out = W diag(g) (the gain on the output side; W square). */
enum nb_status nb_transform_fold_wrong_side(const struct nb_ref_tensor *g,
					    const struct nb_ref_tensor *w,
					    struct nb_ref_tensor *w_out);

/*
 * E5: LayerNorm (g, beta) then linear (W n x m, c) as FlashNorm:
 * w_out = diag(g) W, b_out = beta^T W + c, colsum = 1^T w_out (m); then
 * z = r (x . w_out - mean(x) colsum) + b_out. c may be NULL.
 */
enum nb_status nb_transform_ln_flash(const struct nb_ref_tensor *g, const struct nb_ref_tensor *beta,
				     const struct nb_ref_tensor *w, const struct nb_ref_tensor *c,
				     struct nb_ref_tensor *w_out, struct nb_ref_tensor *b_out,
				     struct nb_ref_tensor *colsum);

/* CRMSNorm's stream coding: x' = x[:d-1] (compress), and back
 * x = [x', -sum x'] (decompress; compensated sum). */
void nb_crms_compress(const long double *x, size_t d, long double *xc);
void nb_crms_decompress(const long double *xc, size_t d, long double *x);

#endif
