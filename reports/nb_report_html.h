/* The report's machine-description table and its one self-contained HTML
 * page (inline CSS, images by relative path, no external resources). */
#ifndef NB_REPORT_HTML_H
#define NB_REPORT_HTML_H

#include <stdbool.h>
#include <stddef.h>

#include "reports/nb_report.h"
#include "reports/nb_report_fig.h"

struct nb_report_html_info {
	bool figures_wanted;     /* false: --no-figures */
	bool gnuplot_missing;
	size_t figures_failed;
};

/* Attribute/value rows per machine: host, CPU, cores, caches, virtualized,
 * compiler, libraries, STREAM figures, conventions, git revision, time. */
enum nb_status nb_report_build_machines(const struct nb_report_input *in, size_t n,
					struct nb_report_table *t);

/*
 * Writes dir/index.html: the machines, every non-empty table (by name:
 * machines, timing, block, bandwidth, claims, accuracy) and every figure
 * that was drawn (PNG shown, SVG linked), links to the table files. The
 * page's path goes to index (size bytes).
 */
enum nb_status nb_report_write_html(const struct nb_report_input *in, const char *dir,
				    size_t n, struct nb_report_table *const *tabs, size_t ntabs,
				    const struct nb_report_figures *figs,
				    const struct nb_report_html_info *info, char *index,
				    size_t size);

#endif
