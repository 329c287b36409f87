/* The report's figures: data files (.dat, tab separated) written from the
 * inputs, drawn by the gnuplot scripts of reports/ into PNG and SVG. */
#ifndef NB_REPORT_FIG_H
#define NB_REPORT_FIG_H

#include <stdbool.h>
#include <stddef.h>

#include "reports/nb_report.h"

enum nb_report_section {
	NB_REPORT_SEC_SPEEDUP,
	NB_REPORT_SEC_BANDWIDTH,
	NB_REPORT_SEC_THREADS,
	NB_REPORT_SEC_BLOCK,
	NB_REPORT_SEC_ACCURACY,
	NB_REPORT_SEC_COUNT
};

/* One figure: stem.dat is the data, stem.png and stem.svg the images,
 * drawn by reports/<script>.gp with datafile, out, title and vars. */
struct nb_report_figure {
	char stem[320];
	char script[32];
	char title[512];
	char caption[1024];
	char vars[1024];      /* further gnuplot assignments: "nseries=3; nrows=4" */
	enum nb_report_section section;
	size_t machine;
	bool drawn;
};

struct nb_report_figures {
	struct nb_report_figure *fig;
	size_t n, cap;
};

void nb_report_figures_free(struct nb_report_figures *f);

/* Plans every figure the inputs support and writes its .dat into dir. */
enum nb_status nb_report_figures_plan(const struct nb_report_input *in, size_t n,
				      const char *dir, struct nb_report_figures *f);

/*
 * Runs `gnuplot -e "datafile='stem.dat'; out='stem'; title='...'; vars"
 * scripts/<script>.gp` for each figure in dir (its output and errors are
 * appended to dir/gnuplot.log) and marks the figures whose PNG and SVG came
 * out non-empty. *failed counts the others; NB_OK unless a process could
 * not be started.
 */
enum nb_status nb_report_figures_draw(struct nb_report_figures *f, const char *dir,
				      const char *gnuplot, const char *scripts, size_t *failed);

/* A string as a gnuplot single-quoted literal ('' doubles a quote). */
void nb_report_gp_quote(const char *s, char *out, size_t size);

#endif
