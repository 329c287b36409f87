/* The portable backward kernels' arithmetic, written once for an
 * accumulation type: kernels/portable/backward.c includes this file with
 * NB_ACC_F64 0 (float) and 1 (double). Not a public header. */
#include "kernels/portable/nb_portable_tmpl.h"

NB_PORTABLE_INLINE void NB_FN(zero_parts)(NB_T *dg, NB_T *db, size_t n)
{
	for (size_t j = 0; j < n; j++)
		dg[j] = NB_LIT(0.0);
	if (db)
		for (size_t j = 0; j < n; j++)
			db[j] = NB_LIT(0.0);
}

/* r and q of a row from its statistic ms (RMS family: mean square,
 * LayerNorm: variance); see the derivation at the top of backward.c. */
NB_PORTABLE_INLINE void NB_FN(bwd_r_q)(const struct nb_conventions *conv, NB_T ms, NB_T eps,
				       NB_T *r, NB_T *q)
{
	NB_T rho = NB_SQRT(ms);

	if (conv->eps_mode == NB_EPS_INSIDE) {
		*r = NB_LIT(1.0) / NB_SQRT(ms + eps);
		*q = NB_LIT(1.0);
	} else {
		*r = NB_LIT(1.0) / (rho + eps);
		*q = rho > NB_LIT(0.0) ? NB_LIT(1.0) + eps / rho : NB_LIT(0.0);
	}
}

/* ---- RMS family ---- */

/* The write pass: elements [0, nstat) get the correction, the rest not. */
NB_PORTABLE_INLINE void NB_FN(rms_bwd_write)(const struct nb_problem *p, enum nb_dtype t,
					     const struct nb_rms_shape *sh,
					     const void *x, const void *dy, void *dx,
					     NB_T r, NB_T shat, NB_T coef,
					     NB_T *restrict dg, NB_T *restrict db, bool has_db)
{
	for (size_t j = 0; j < sh->nstat; j++) {
		NB_T dyj = NB_LD(t, dy, j);
		NB_T xh = NB_LD(t, x, j) * r;
		NB_T dyh = dyj * NB_LD(t, p->gain, j);

		NB_ST(t, dx, j, r * (dyh - (xh + shat) * coef));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
	for (size_t j = sh->nstat; j < sh->n; j++) {
		NB_T dyj = NB_LD(t, dy, j);
		NB_T xh = NB_LD(t, x, j) * r;

		NB_ST(t, dx, j, r * (dyj * NB_LD(t, p->gain, j)));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
}

NB_PORTABLE_INLINE void NB_FN(rms_bwd)(const struct nb_problem *p, enum nb_dtype t,
				       enum nb_variant v, size_t row_begin, size_t row_end,
				       void *dgain_part, void *dbias_part)
{
	struct nb_rms_shape sh = nb_rms_shape_v(p, v);
	size_t stride = sh.n * nb_pt_size(t);
	NB_T eps = (NB_T)p->conv.eps;
	NB_T *dg = dgain_part, *db = dbias_part;

	NB_FN(zero_parts)(dg, db, sh.n);
	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		const unsigned char *dy = (const unsigned char *)p->dy + i * stride;
		unsigned char *dx = (unsigned char *)p->dx + i * stride;
		NB_T a[NB_LANES] = { 0 }, c[NB_LANES] = { 0 }, e[NB_LANES] = { 0 };
		NB_T total, sx, s = NB_LIT(0.0), r, q, coef;
		size_t j = 0;

		for (; j + NB_LANES <= sh.nstat; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++) {
				NB_T xv = NB_LD(t, x, j + l);
				a[l] += xv * xv;
				if (sh.crms)
					c[l] += xv;
				e[l] += (NB_LD(t, dy, j + l) * NB_LD(t, p->gain, j + l)) * xv;
			}
		for (size_t l = 0; j + l < sh.nstat; l++) {
			NB_T xv = NB_LD(t, x, j + l);
			a[l] += xv * xv;
			if (sh.crms)
				c[l] += xv;
			e[l] += (NB_LD(t, dy, j + l) * NB_LD(t, p->gain, j + l)) * xv;
		}
		/* pRMSNorm's tail only enters S */
		for (j = sh.nstat; j + NB_LANES <= sh.n; j += NB_LANES)
			for (size_t l = 0; l < NB_LANES; l++)
				e[l] += (NB_LD(t, dy, j + l) * NB_LD(t, p->gain, j + l)) *
					NB_LD(t, x, j + l);
		for (size_t l = 0; j + l < sh.n; l++)
			e[l] += (NB_LD(t, dy, j + l) * NB_LD(t, p->gain, j + l)) *
				NB_LD(t, x, j + l);
		total = NB_LANE_SUM(a);
		if (sh.crms) {
			s = NB_LANE_SUM(c);
			total += s * s;
		}
		sx = NB_LANE_SUM(e);
		if (!(total <= NB_T_MAX) || !(NB_FABS(sx) <= NB_T_MAX) ||
		    (total < NB_T_TINY && eps * (NB_T)sh.div < NB_T_TINY)) {
			nb_portable_bwd_row_scaled(p, i, NB_T_DTYPE, dg, db);
			continue;
		}
		NB_FN(bwd_r_q)(&p->conv, total / (NB_T)sh.div, eps, &r, &q);
		/* S = sum dyh xhat = r sum dyh x */
		coef = q * (sx * r) / (NB_T)sh.div;
		if (db)
			NB_FN(rms_bwd_write)(p, t, &sh, x, dy, dx, r, s * r, coef, dg, db, true);
		else
			NB_FN(rms_bwd_write)(p, t, &sh, x, dy, dx, r, s * r, coef, dg, NULL, false);
	}
}

/* ---- LayerNorm ---- */

NB_PORTABLE_INLINE void NB_FN(ln_bwd_write)(const struct nb_problem *p, enum nb_dtype t,
					    const void *x, const void *dy, void *dx,
					    NB_T mu, NB_T mu_lo, NB_T r, NB_T mdy, NB_T coef,
					    NB_T *restrict dg, NB_T *restrict db, bool has_db)
{
	for (size_t j = 0; j < p->n; j++) {
		NB_T dyj = NB_LD(t, dy, j);
		NB_T xh = ((NB_LD(t, x, j) - mu) - mu_lo) * r;
		NB_T dyh = dyj * NB_LD(t, p->gain, j);

		NB_ST(t, dx, j, r * ((dyh - mdy) - xh * coef));
		dg[j] += dyj * xh;
		if (has_db)
			db[j] += dyj;
	}
}

NB_PORTABLE_INLINE void NB_FN(ln_bwd)(const struct nb_problem *p, enum nb_dtype t,
				      size_t row_begin, size_t row_end,
				      void *dgain_part, void *dbias_part)
{
	size_t n = p->n;
	size_t stride = n * nb_pt_size(t);
	NB_T eps = (NB_T)p->conv.eps;
	NB_T *dg = dgain_part, *db = dbias_part;

	NB_FN(zero_parts)(dg, db, n);
	for (size_t i = row_begin; i < row_end; i++) {
		const unsigned char *x = (const unsigned char *)p->x + i * stride;
		const unsigned char *dy = (const unsigned char *)p->dy + i * stride;
		unsigned char *dx = (unsigned char *)p->dx + i * stride;
		NB_T mu = NB_FN(mean_hi)(t, x, n), mu_lo, sums[4], vs, sdy, sdot, r, q, mdy, coef;

		/* the mean scheme (nb_portable_tmpl.h): sum dyh (x - mu) =
		 * sum dyh (x - mu_hi) - mu_lo sum dyh */
		NB_FN(ln_sums)(t, x, dy, p->gain, n, mu, false, sums);
		mu_lo = sums[0] / (NB_T)n;
		vs = NB_FN(m2_of)(sums[0], sums[1], mu_lo);
		sdy = sums[2];
		sdot = sums[3] - mu_lo * sdy;
		if (!(NB_FABS(mu) <= NB_T_MAX) || !(vs <= NB_T_MAX) ||
		    !(NB_FABS(sdy) <= NB_T_MAX) || !(NB_FABS(sdot) <= NB_T_MAX) ||
		    (vs < NB_T_TINY && eps * (NB_T)n < NB_T_TINY)) {
			nb_portable_bwd_row_scaled(p, i, NB_T_DTYPE, dg, db);
			continue;
		}
		NB_FN(bwd_r_q)(&p->conv, vs / (NB_T)n, eps, &r, &q);
		mdy = sdy / (NB_T)n;
		coef = q * (sdot * r) / (NB_T)n;
		if (db)
			NB_FN(ln_bwd_write)(p, t, x, dy, dx, mu, mu_lo, r, mdy, coef, dg, db, true);
		else
			NB_FN(ln_bwd_write)(p, t, x, dy, dx, mu, mu_lo, r, mdy, coef, dg, NULL,
					    false);
	}
}
