/* The report's machine table and index.html: one page with the machine
 * description, every table and figure, readable offline (inline CSS, no
 * scripts, images by relative path to files in the same folder). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_stats.h"
#include "bench/nb_sysinfo.h"
#include "reports/nb_report_html.h"

/* ------------------------------------------------------ machine table */

static enum nb_status nb_rep_attr_row(struct nb_report_table *t, size_t m, size_t idx,
				      const char *name, const char *value)
{
	struct nb_report_row *row;
	char id[16];
	const char *key[1] = { name };
	enum nb_status st;

	if (!value || !*value)
		return NB_OK;
	snprintf(id, sizeof(id), "%04zu", idx);
	row = nb_report_table_row(t, id, key);
	if (!row)
		return nb_fail(NB_ERR_NOMEM, "out of memory for the report");
	st = nb_report_set_val(t, row, m, 0, "%s", value);
	if (st == NB_OK)
		st = nb_report_set_csv(t, row, m, 0, "%s", name);
	if (st == NB_OK)
		st = nb_report_set_csv(t, row, m, 1, "%s", value);
	return st;
}

enum nb_status nb_report_build_machines(const struct nb_report_input *in, size_t n,
					struct nb_report_table *t)
{
	static const struct nb_report_col keys[] = { { "attribute", false } };
	static const struct nb_report_col vals[] = { { "value", false } };
	static const char *const csv[] = { "attribute", "value" };
	enum nb_status st = NB_OK;

	nb_report_table_init(t, "machines", "Machines and runs", in, n);
	nb_report_table_columns(t, keys, 1, 0, vals, 1, csv, 2);
	snprintf(t->caption, sizeof(t->caption),
		 "As recorded in each input file's root attributes. STREAM figures: best "
		 "repetition, STREAM counting (read: one array; copy: two), 1 GB = 1e9 bytes, "
		 "arrays beyond the caches.");
	for (size_t mi = 0; mi < n && st == NB_OK; mi++) {
		const struct nb_results_meta *m = &in[mi].res.meta;
		const struct nb_results *r = &in[mi].res;
		char v[NB_RES_LONG + 256];
		size_t unstable = 0, failed = 0, unchecked = 0, block = 0;

#define NB_ATTR(ord, name, ...) do { snprintf(v, sizeof(v), __VA_ARGS__); \
		if (st == NB_OK) \
			st = nb_rep_attr_row(t, mi, ord, name, v); \
	} while (0)
		NB_ATTR(0, "file", "%s", in[mi].path);
		NB_ATTR(1, "contents", "%s", in[mi].has_run ? (in[mi].has_verify
			? "benchmark run + verification" : "benchmark run")
			: "verification only");
		NB_ATTR(2, "time (UTC)", "%s", m->utc_time);
		if (in[mi].has_run)
			NB_ATTR(3, "run", "%s, %.1f s, preset %s, seed %llu",
				m->complete ? "complete" : "INCOMPLETE (interrupted)", m->duration_s,
				m->preset, (unsigned long long)m->seed);
		NB_ATTR(4, "normbench", "%s (git %s%s)", m->normbench_version, m->git_rev,
			m->git_dirty ? ", dirty" : "");
		NB_ATTR(5, "host", "%s", m->host);
		NB_ATTR(6, "OS", "%s", m->os);
		NB_ATTR(7, "CPU", "%s", m->cpu_model);
		if (m->cores > 0)
			NB_ATTR(8, "logical CPUs", "%d", m->cores);
		if (in[mi].has_run)
			NB_ATTR(9, "virtualized", "%s%s%s", m->virtualized ? "yes" : "no",
				m->hypervisor[0] ? ", " : "", m->hypervisor);
		if (m->emulated[0])
			NB_ATTR(97, "EMULATED", "%s: timings measure the emulator, not the CPU; "
				"they are not performance", m->emulated);
		NB_ATTR(10, "caches", "%s", m->caches);
		NB_ATTR(11, "cache sizes measured by", "%s", m->cache_method);
		if (m->isa_detected[0])
			NB_ATTR(12, "ISA", "%s detected, cap %s", m->isa_detected, m->isa_cap);
		NB_ATTR(13, "compiler", "%s", m->compiler);
		NB_ATTR(14, "flags", "%s", m->cflags);
		NB_ATTR(15, "OpenMP", "%s", m->openmp);
		NB_ATTR(16, "thread binding", "%s", m->thread_binding);
		NB_ATTR(17, "PAPI", "%s", m->papi_version);
		NB_ATTR(18, "HDF5", "%s", m->hdf5_version);
		NB_ATTR(19, "BLAS", "%s", m->blas_version);
		for (int i = 0; i < m->stream_count && i < NB_RES_MAX_STREAM; i++) {
			char name[64];
			int th = m->stream_threads[i];
			snprintf(name, sizeof(name), "STREAM, %d thread%s", th, th == 1 ? "" : "s");
			/* ordered by thread count, the same row for the same count */
			NB_ATTR(100 + (size_t)(th > 0 && th < 9000 ? th : 9000), name,
				"read %.1f, copy %.1f, copy with non-temporal stores %.1f GB/s",
				m->stream_read_gbps[i], m->stream_copy_gbps[i],
				m->stream_copy_nt_gbps[i]);
		}
		if (m->eps_mode[0])
			NB_ATTR(9200, "eps", "%g, %s", m->eps, strcmp(m->eps_mode, "inside") == 0
				? "inside the square root: 1/sqrt(ms + eps)"
				: "outside: x/(rms + eps), the original reference code");
		if (m->prms_round[0])
			NB_ATTR(9201, "pRMSNorm", "p = %g, k = %s(p·d)", m->prms_p, m->prms_round);
		if (in[mi].has_run) {
			NB_ATTR(9202, "timer", "%s, resolution %.0f ns", m->timer,
				m->timer_resolution_ns);
			NB_ATTR(9203, "samples", "%d per cell of %g–%g ms after a %g ms warm-up",
				m->min_samples, m->min_sample_ms, m->max_sample_ms, m->warmup_ms);
			NB_ATTR(9204, "unstable when", "%s", m->unstable_rule);
			NB_ATTR(9205, "per-sample Linux events", "%s", m->perf_events);
			for (size_t i = 0; i < r->ncells; i++) {
				unstable += r->cells[i].unstable != 0;
				failed += r->cells[i].verified == 0;
				unchecked += r->cells[i].verified < 0;
				block += strcmp(r->cells[i].suite, "block") == 0;
			}
			NB_ATTR(9206, "cells", "%zu (%zu end-to-end block): %zu unstable, %zu failed "
				"the accuracy check, %zu not checked", r->ncells, block, unstable,
				failed, unchecked);
		}
		if (in[mi].has_verify)
			NB_ATTR(9207, "verification", "%s: %zu claim rows (%zu failed), %zu kernel "
				"rows (%zu failed)", in[mi].verify_holds ? "everything holds"
				: "FAILURES", in[mi].ver.nclaims, nb_verify_failed_claims(&in[mi].ver),
				in[mi].ver.nkernels, nb_verify_failed_kernels(&in[mi].ver));
		else
			NB_ATTR(9207, "verification", "%s", "not in this file (add it with "
				"normbench verify --into FILE.h5)");
		NB_ATTR(9208, "machine key", "%s", m->machine_key);
		NB_ATTR(9209, "command", "%s", m->command_line);
#undef NB_ATTR
	}
	nb_report_table_sort(t);
	return st;
}

/* ------------------------------------------------------------ the page */

static const char nb_rep_css[] =
	"body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;"
	"margin:1.5em auto;max-width:1400px;padding:0 1em;color:#222;line-height:1.4}\n"
	"h1{margin-bottom:.2em}h2{border-bottom:2px solid #ccc;padding-bottom:.2em;"
	"margin-top:2em}\n"
	"nav a{margin-right:1em}\n"
	".tablewrap{overflow-x:auto;max-height:44em;overflow-y:auto;border:1px solid #ddd}\n"
	"table{border-collapse:collapse;font-size:.85em}\n"
	"th,td{padding:.2em .6em;border-bottom:1px solid #eee;text-align:left;"
	"vertical-align:top}\n"
	"th{background:#f3f3f3;position:sticky;top:0}\n"
	"td.r{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}\n"
	".first{border-left:2px solid #ccc}\n"
	"tr.group td{border-top:2px solid #ddd}\n"
	"th.mach{text-align:center}\n"
	".caption,.note,figcaption{font-size:.85em;color:#555;max-width:75em}\n"
	".warn{background:#fff3cd;border:1px solid #e0c060;padding:.5em 1em}\n"
	".bad{color:#a00;font-weight:bold}.good{color:#070}\n"
	"figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #ddd}\n"
	"code{background:#f3f3f3;padding:0 .2em}\n";

static const struct nb_report_table *nb_rep_tab(struct nb_report_table *const *tabs,
						size_t ntabs, const char *name)
{
	for (size_t i = 0; i < ntabs; i++)
		if (strcmp(tabs[i]->name, name) == 0)
			return tabs[i];
	return NULL;
}

static void nb_rep_files_links(const struct nb_report_table *t, FILE *out)
{
	if (!t || t->nrows == 0)
		return;
	fprintf(out, "<p class=\"note\">This table as <a href=\"%s.md\">Markdown</a>, "
		"<a href=\"%s.tex\">LaTeX</a> (booktabs) and <a href=\"%s.csv\">CSV</a> "
		"(one line per machine and row, full precision).</p>\n", t->name, t->name,
		t->name);
}

static void nb_rep_figures(const struct nb_report_figures *figs, enum nb_report_section sec,
			   FILE *out)
{
	for (size_t i = 0; figs && i < figs->n; i++) {
		const struct nb_report_figure *g = &figs->fig[i];
		if (g->section != sec || !g->drawn)
			continue;
		fprintf(out, "<figure id=\"%s\"><a href=\"%s.svg\"><img src=\"%s.png\" alt=\"",
			g->stem, g->stem, g->stem);
		nb_report_html_escape(g->title, out);
		fputs("\"></a><figcaption>", out);
		nb_report_html_escape(g->title, out);
		fputs(". ", out);
		nb_report_html_escape(g->caption, out);
		fprintf(out, " (<a href=\"%s.svg\">SVG</a>, <a href=\"%s.dat\">data</a>)"
			"</figcaption></figure>\n", g->stem, g->stem);
	}
}

static size_t nb_rep_count_drawn(const struct nb_report_figures *figs,
				 enum nb_report_section sec)
{
	size_t k = 0;

	for (size_t i = 0; figs && i < figs->n; i++)
		k += figs->fig[i].section == sec && figs->fig[i].drawn;
	return k;
}

static void nb_rep_table_section(const struct nb_report_table *t, FILE *out)
{
	if (!t)
		return;
	fputs("<h3>", out);
	nb_report_html_escape(t->title, out);
	fputs("</h3>\n", out);
	nb_report_write_html_table(t, out);
	nb_rep_files_links(t, out);
}

/* At a glance: per machine the geometric-mean speedup of each series over
 * its configurations, and the verification verdict. */
static void nb_rep_glance(const struct nb_report_input *in, size_t n, FILE *out)
{
	fputs("<ul>\n", out);
	for (size_t mi = 0; mi < n; mi++) {
		fputs("<li><b>", out);
		nb_report_html_escape(in[mi].label, out);
		fputs("</b>: ", out);
		if (in[mi].has_run) {
			struct nb_report_entry *e = NULL;
			size_t ne = 0, shown = 0;
			if (nb_report_entries(&in[mi].res, "kernel", &e, &ne) == NB_OK) {
				const char *done[32];
				size_t nd = 0;
				for (size_t i = 0; i < ne; i++) {
					double *x;
					size_t k = 0;
					bool seen = false;
					if (!e[i].has_base || e[i].base == e[i].cell)
						continue;
					for (size_t j = 0; j < nd && !seen; j++)
						seen = strcmp(done[j], e[i].series) == 0;
					if (seen || nd == 32)
						continue;
					done[nd++] = e[i].series;
					x = malloc(ne * sizeof(*x));
					if (!x)
						break;
					for (size_t j = 0; j < ne; j++)
						if (strcmp(e[j].series, e[i].series) == 0 && e[j].has_base &&
						    e[j].base != e[j].cell)
							x[k++] = e[j].speedup.ratio;
					fprintf(out, "%s%s %.2f× (geometric mean of %zu configuration%s)",
						shown ? "; " : "speedup over its baseline: ", e[i].series,
						nb_geomean(x, k), k, k == 1 ? "" : "s");
					shown++;
					free(x);
				}
			}
			free(e);
			if (!shown)
				fputs("no variant with a baseline measured", out);
			fputs(". ", out);
		}
		if (in[mi].has_verify)
			fprintf(out, "Verification: <span class=\"%s\">%s</span> (%zu of %zu claim "
				"rows and %zu of %zu kernel rows failed).", in[mi].verify_holds
				? "good" : "bad", in[mi].verify_holds ? "everything holds" : "FAILURES",
				nb_verify_failed_claims(&in[mi].ver), in[mi].ver.nclaims,
				nb_verify_failed_kernels(&in[mi].ver), in[mi].ver.nkernels);
		else
			fputs("Verification: not in this file.", out);
		fputs("</li>\n", out);
	}
	fputs("</ul>\n", out);
}

enum nb_status nb_report_write_html(const struct nb_report_input *in, const char *dir,
				    size_t n, struct nb_report_table *const *tabs, size_t ntabs,
				    const struct nb_report_figures *figs,
				    const struct nb_report_html_info *info, char *index,
				    size_t size)
{
	const struct nb_report_table *block = nb_rep_tab(tabs, ntabs, "block");
	const struct nb_report_table *claims = nb_rep_tab(tabs, ntabs, "claims");
	const struct nb_report_table *accuracy = nb_rep_tab(tabs, ntabs, "accuracy");
	bool has_block = block && block->nrows > 0;
	bool has_verify = (claims && claims->nrows > 0) || (accuracy && accuracy->nrows > 0);
	char path[PATH_MAX], tmp[PATH_MAX + 32], now[32], gplog[PATH_MAX + 16];
	FILE *out;
	bool bad;

	if (snprintf(path, sizeof(path), "%s/index.html", dir) >= (int)sizeof(path))
		return nb_fail(NB_ERR_INVALID, "output folder name too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	out = fopen(tmp, "w");
	if (!out)
		return nb_fail(NB_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
	nb_utc_now(now, sizeof(now));
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n", out);
	fprintf(out, "<meta name=\"generator\" content=\"normbench %s\">\n", NB_VERSION);
	fputs("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	      "<title>normbench report: ", out);
	for (size_t i = 0; i < n; i++) {
		nb_report_html_escape(in[i].label, out);
		fputs(i + 1 < n ? ", " : "", out);
	}
	fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", nb_rep_css);
	fputs("<h1>normbench report</h1>\n<p class=\"note\">Generated ", out);
	nb_report_html_escape(now, out);
	fprintf(out, " by normbench %s (git %s%s) from:</p>\n<ul>\n", NB_VERSION, nb_git_rev,
		nb_git_dirty ? ", dirty" : "");
	for (size_t i = 0; i < n; i++) {
		fputs("<li><b>", out);
		nb_report_html_escape(in[i].label, out);
		fputs("</b>: <code>", out);
		nb_report_html_escape(in[i].path, out);
		fputs("</code>, ", out);
		nb_report_html_escape(in[i].res.meta.utc_time, out);
		fputs("</li>\n", out);
	}
	fputs("</ul>\n", out);
	for (size_t i = 0; i < n; i++)
		if (in[i].res.meta.emulated[0]) {
			fputs("<p class=\"warn\">EMULATED: <b>", out);
			nb_report_html_escape(in[i].label, out);
			fputs("</b> ran under emulation (", out);
			nb_report_html_escape(in[i].res.meta.emulated, out);
			fputs("): its timings, bandwidths and speedups measure the emulator, not "
			      "the CPU, and are not performance.</p>\n", out);
		}
	fputs("<nav><a href=\"#glance\">at a glance</a><a href=\"#machines\">machines</a>"
	      "<a href=\"#timing\">speedup</a><a href=\"#bandwidth\">bandwidth</a>"
	      "<a href=\"#threads\">thread scaling</a>", out);
	if (has_block)
		fputs("<a href=\"#block\">end-to-end layer</a>", out);
	fputs("<a href=\"#verification\">verification</a><a href=\"#files\">files</a></nav>\n",
	      out);
	if (!info->figures_wanted)
		fputs("<p class=\"warn\">Figures were not drawn: <code>--no-figures</code>.</p>\n",
		      out);
	else if (info->gnuplot_missing)
		fputs("<p class=\"warn\">Figures were not drawn: gnuplot was not found. Install "
		      "it (e.g. <code>apt-get install gnuplot-nox</code>) and run "
		      "<code>normbench report</code> again.</p>\n", out);
	else if (info->figures_failed)
		fprintf(out, "<p class=\"warn\">gnuplot failed on %zu figure%s: see <a href=\""
			"gnuplot.log\">gnuplot.log</a>.</p>\n", info->figures_failed,
			info->figures_failed == 1 ? "" : "s");

	fputs("<h2 id=\"glance\">At a glance</h2>\n", out);
	nb_rep_glance(in, n, out);

	fputs("<h2 id=\"machines\">Machines</h2>\n", out);
	nb_rep_table_section(nb_rep_tab(tabs, ntabs, "machines"), out);

	fputs("<h2 id=\"timing\">Time and speedup against LayerNorm</h2>\n", out);
	nb_rep_figures(figs, NB_REPORT_SEC_SPEEDUP, out);
	nb_rep_table_section(nb_rep_tab(tabs, ntabs, "timing"), out);

	fputs("<h2 id=\"bandwidth\">Bandwidth against the machine's limit</h2>\n", out);
	nb_rep_figures(figs, NB_REPORT_SEC_BANDWIDTH, out);
	nb_rep_table_section(nb_rep_tab(tabs, ntabs, "bandwidth"), out);

	fputs("<h2 id=\"threads\">Thread scaling</h2>\n", out);
	nb_rep_figures(figs, NB_REPORT_SEC_THREADS, out);
	if (nb_rep_count_drawn(figs, NB_REPORT_SEC_THREADS) == 0)
		fputs("<p class=\"note\">No thread-scaling figure: no shape was measured at two or "
		      "more thread counts (or figures were not drawn). The timing table lists every "
		      "thread count measured.</p>\n", out);

	if (has_block) {
		fputs("<h2 id=\"block\">End-to-end transformer layer</h2>\n", out);
		nb_rep_figures(figs, NB_REPORT_SEC_BLOCK, out);
		nb_rep_table_section(block, out);
	}

	fputs("<h2 id=\"verification\">Verification</h2>\n", out);
	if (!has_verify)
		fputs("<p class=\"note\">No verification in the input files: run <code>normbench "
		      "verify --into FILE.h5</code> (or pass a file of <code>normbench verify</code> "
		      "to the report as another input).</p>\n", out);
	nb_rep_table_section(claims && claims->nrows ? claims : NULL, out);
	nb_rep_figures(figs, NB_REPORT_SEC_ACCURACY, out);
	nb_rep_table_section(accuracy && accuracy->nrows ? accuracy : NULL, out);

	fputs("<h2 id=\"files\">Files</h2>\n<ul>\n<li><a href=\"report.md\">report.md</a>: every "
	      "table in one Markdown file</li>\n", out);
	for (size_t i = 0; i < ntabs; i++)
		if (tabs[i]->nrows > 0)
			fprintf(out, "<li>%s: <a href=\"%s.md\">%s.md</a>, <a href=\"%s.tex\">%s.tex"
				"</a>, <a href=\"%s.csv\">%s.csv</a></li>\n", tabs[i]->name,
				tabs[i]->name, tabs[i]->name, tabs[i]->name, tabs[i]->name,
				tabs[i]->name, tabs[i]->name);
	snprintf(gplog, sizeof(gplog), "%s/gnuplot.log", dir);
	if (figs && figs->n > 0 && access(gplog, R_OK) == 0)
		fputs("<li><a href=\"gnuplot.log\">gnuplot.log</a>: the gnuplot commands run and "
		      "their messages</li>\n", out);
	fputs("<li><a href=\"manifest.txt\">manifest.txt</a>: the files this report owns</li>\n"
	      "</ul>\n<p class=\"note\">LaTeX tables need <code>\\usepackage{booktabs}</code>; "
	      "include one with <code>\\input{timing.tex}</code>.</p>\n</body>\n</html>\n", out);
	bad = ferror(out) != 0;
	if (fclose(out) != 0 || bad) {
		unlink(tmp);
		return nb_fail(NB_ERR_IO, "cannot write %s", tmp);
	}
	if (rename(tmp, path) != 0) {
		unlink(tmp);
		return nb_fail(NB_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
	}
	nb_res_strcpy(index, size, path);
	return NB_OK;
}
