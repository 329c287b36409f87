/* `normbench report` (SPEC §8): paper-style tables (Markdown, LaTeX, CSV),
 * gnuplot figures (PNG + SVG) and one self-contained index.html from one or
 * more results files, several machines side by side. */
#ifndef NB_REPORT_H
#define NB_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "bench/nb_results.h"
#include "common/nb_status.h"
#include "verify/nb_verify_file.h"

/* ------------------------------------------------------------ the inputs */

/*
 * One input file (one machine). A results file of `normbench run` fills res
 * (has_run) and, when it holds /verify, ver (has_verify). A standalone file
 * of `normbench verify` fills only ver and the root attributes it has (host,
 * utc_time, git_rev, conventions, ISA) in res.meta.
 */
struct nb_report_input {
	char path[4096];
	char label[160];      /* host, or "host (file name)" when hosts repeat */
	char slug[96];        /* label for file names: [A-Za-z0-9_.-] only */
	bool has_run;
	struct nb_results res;
	bool has_verify;
	bool verify_holds;    /* /verify's "holds" attribute */
	struct nb_verify_tables ver;
};

/* Reads path into in (freed with nb_report_input_free, also after a
 * failure). A missing, damaged, foreign (neither a run nor a verify file of
 * this schema) or empty file gives NB_ERR_IO with a message naming it. */
enum nb_status nb_report_load(const char *path, struct nb_report_input *in);
void nb_report_input_free(struct nb_report_input *in);

/* Sets label and slug of every input: the host name, and "host (file)"
 * when two inputs share a host; slugs are made unique. */
void nb_report_label_inputs(struct nb_report_input *in, size_t n);

/* ------------------------------------------------------ ratios and CIs */

/* How the CI of a ratio of two medians was obtained. */
enum nb_report_ci_method {
	NB_REPORT_CI_BOOTSTRAP,  /* nb_bootstrap_ratio_ci of the raw samples */
	NB_REPORT_CI_CELLS,      /* from the cells' own CIs (no raw samples):
				  * [lo_b / hi_a, hi_b / lo_a], conservative */
	NB_REPORT_CI_NONE,       /* no CI could be formed */
};

struct nb_report_ratio {
	double ratio;            /* median(b) / median(a), from the cells */
	double lo, hi;           /* 95% CI of the ratio (NaN when none) */
	enum nb_report_ci_method method;
};

/* Bootstrap resamples and seed base of every ratio CI in the report (fixed:
 * the same file gives the same report). */
#define NB_REPORT_RESAMPLES ((size_t)2000)
#define NB_REPORT_SEED 0x6e62726570ull

/*
 * ratio = cells[b].median_s / cells[a].median_s of r (with a = variant and
 * b = baseline that is the speedup of a over b), and its 95% CI: the
 * percentile bootstrap of the two cells' raw samples resampled
 * independently when both have at least 2 samples, else from the cells'
 * CIs. NB_ERR_INVALID when a median is not > 0.
 */
enum nb_status nb_report_ratio(const struct nb_results *r, size_t a, size_t b,
			       struct nb_report_ratio *out);

/* ------------------------------------------------------------ the tables */

#define NB_REPORT_MAX_KEY 10
#define NB_REPORT_MAX_VAL 8
#define NB_REPORT_MAX_CSV 40

struct nb_report_col {
	const char *name;     /* header: Markdown/HTML (UTF-8), CSV for csv cols */
	bool right;           /* right-aligned (numbers) */
};

/* One table row: its key (display strings) and, per machine, the display
 * values and the CSV fields (NULL where the machine has no such row). */
struct nb_report_row {
	char *id;             /* unique identity and sort key */
	size_t order;         /* insertion order (stable sort tie-break) */
	char *key[NB_REPORT_MAX_KEY];
	char **val;           /* nmach * nval, NULL: machine lacks the row */
	char **csv;           /* nmach * ncsv */
};

/*
 * A table: key columns, then for each machine the value columns (side by
 * side, labelled by machine); the CSV form is "tidy": one line per machine
 * and row with machine, host, file, emulated (how the run was emulated, ""
 * when native) and the csv columns (raw numbers at full precision). Display strings are UTF-8 (Markdown/HTML); LaTeX gets them
 * escaped (× → $\times$, µ → $\mu$, † → $^\dagger$, ...).
 */
struct nb_report_table {
	char name[32];        /* file stem: "timing", "bandwidth", ... */
	char title[160];
	char caption[2048];
	size_t nkey, nval, ncsv;
	size_t ngroup;        /* leading key columns blanked when repeated */
	bool timed;           /* values are timings or derived from them: an
				 * emulated machine's columns are marked
				 * (headers and a note; not hardware figures) */
	struct nb_report_col key[NB_REPORT_MAX_KEY];
	struct nb_report_col val[NB_REPORT_MAX_VAL];
	const char *csv[NB_REPORT_MAX_CSV];
	size_t nmach;
	const struct nb_report_input *mach;
	struct nb_report_row *rows;
	size_t nrows, cap;
};

void nb_report_table_init(struct nb_report_table *t, const char *name, const char *title,
			  const struct nb_report_input *mach, size_t nmach);
/* Sets the columns (copied): nkey keys, the first ngroup blanked when
 * repeated; nval values; ncsv CSV names (the strings must outlive t). */
void nb_report_table_columns(struct nb_report_table *t, const struct nb_report_col *key,
			     size_t nkey, size_t ngroup, const struct nb_report_col *val,
			     size_t nval, const char *const *csv, size_t ncsv);
#define NB_REPORT_COUNT(a) (sizeof(a) / sizeof((a)[0]))
void nb_report_table_free(struct nb_report_table *t);
/* The row with this id (created with the key strings when missing). NULL
 * when out of memory. */
struct nb_report_row *nb_report_table_row(struct nb_report_table *t, const char *id,
					  const char *const *key);
/* Sets value column col (or CSV column col) of machine m; printf-style. */
enum nb_status nb_report_set_val(struct nb_report_table *t, struct nb_report_row *row,
				 size_t m, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
enum nb_status nb_report_set_csv(struct nb_report_table *t, struct nb_report_row *row,
				 size_t m, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Sorts the rows by id (stable: insertion order breaks ties). */
void nb_report_table_sort(struct nb_report_table *t);

enum nb_status nb_report_write_markdown(const struct nb_report_table *t, FILE *out);
enum nb_status nb_report_write_latex(const struct nb_report_table *t, FILE *out);
enum nb_status nb_report_write_csv(const struct nb_report_table *t, FILE *out);
enum nb_status nb_report_write_html_table(const struct nb_report_table *t, FILE *out);

/* s escaped for LaTeX text (also the UTF-8 symbols the tables use). */
void nb_report_latex_escape(const char *s, FILE *out);
/* s escaped for HTML text and attribute values. */
void nb_report_html_escape(const char *s, FILE *out);
/* s as one RFC 4180 CSV field. */
void nb_report_csv_field(const char *s, FILE *out);

/* The tables (each empty, nrows == 0, when the inputs hold nothing for it):
 * timing (kernel suite), block (block suite), bandwidth, claims and
 * kernel accuracy. */
enum nb_status nb_report_build_timing(const struct nb_report_input *in, size_t n,
				      struct nb_report_table *t);
enum nb_status nb_report_build_block(const struct nb_report_input *in, size_t n,
				     struct nb_report_table *t);
enum nb_status nb_report_build_bandwidth(const struct nb_report_input *in, size_t n,
					 struct nb_report_table *t);
enum nb_status nb_report_build_claims(const struct nb_report_input *in, size_t n,
				      struct nb_report_table *t);
enum nb_status nb_report_build_accuracy(const struct nb_report_input *in, size_t n,
					struct nb_report_table *t);

/* ------------------------------------------- comparisons the tables use */

/*
 * One timing comparison of a results file: the fastest verified
 * implementation of a variant for one configuration (suite, rows, d, dtype,
 * dir, threads, cache; FlashNorm: per algorithm) and its baseline of the
 * same configuration: LayerNorm for the kernel suite, FlashNorm's unfused
 * algorithm (RMSNorm then the same GEMM) for FlashNorm's fused one, Pre-LN
 * for the block suite. base == cell for the baseline itself; has_base is
 * false when the configuration has no baseline.
 */
struct nb_report_entry {
	size_t cell;          /* index into res.cells */
	size_t base;
	bool has_base;
	struct nb_report_ratio speedup; /* base median / cell median */
	size_t none;          /* block suite: the no-normalization cell */
	bool has_none;
	char series[48];      /* display name: "RMSNorm", "FlashNorm (fused)", ... */
	char config[160];     /* nb_report_config_id of the cell */
	int series_order;     /* position of the series in tables and legends */
};

/* The entries of suite ("kernel" or "block") of r, in configuration order;
 * *out malloc'ed (free it). */
enum nb_status nb_report_entries(const struct nb_results *r, const char *suite,
				 struct nb_report_entry **out, size_t *n);

/* The configuration of a cell without its variant as a sortable id: dir,
 * dtype, d, rows, threads, cache, m (FlashNorm's output width). */
void nb_report_config_id(const struct nb_cell_row *c, char *buf, size_t size);
/* The algorithm that splits a variant into series (FlashNorm's fused and
 * unfused in the kernel suite), else NULL. */
const char *nb_report_series_algo(const char *suite, const struct nb_cell_row *c);

/* Display name and order of a variant (algo distinguishes FlashNorm's). */
const char *nb_report_series_name(const char *suite, const char *variant, const char *algo,
				  int *order);

/* ------------------------------------------------------------- the whole */

struct nb_report_options {
	const char *const *files;
	size_t nfiles;
	const char *out_dir;
	const char *gnuplot;      /* program name (searched in PATH) or path */
	const char *scripts_dir;  /* NULL: searched (nb_report_find_scripts) */
	bool figures;             /* false: --no-figures */
	bool quiet;               /* no progress lines on stdout */
};

struct nb_report_summary {
	size_t tables;            /* tables written (each as .md, .tex, .csv) */
	size_t figures;           /* figures drawn (each as .png and .svg) */
	size_t figures_failed;    /* gnuplot failed or produced nothing */
	size_t figures_planned;
	bool gnuplot_missing;     /* figures wanted, gnuplot not found */
	char index[4200];         /* path of index.html */
};

/*
 * Loads every file (any failure: nothing is written), writes the tables,
 * the figure data and scripts' images and index.html into out_dir (created
 * when missing). Files of a previous report in out_dir listed in its
 * manifest.txt and not written again are removed; nothing else is touched.
 * A missing gnuplot: tables and index.html are written, figures are not,
 * summary->gnuplot_missing is set and NB_ERR_UNSUPPORTED returned; a
 * gnuplot that fails: NB_ERR_IO after everything else was written.
 */
enum nb_status nb_report_generate(const struct nb_report_options *o,
				  struct nb_report_summary *summary);

/* Finds the folder of the gnuplot scripts: dir when given (it must hold
 * speedup.gp), else reports/ next to the executable's source tree
 * (/proc/self/exe: ../../reports, ../reports, ../share/normbench/reports),
 * else ./reports. NB_ERR_NOTFOUND with the places tried. */
enum nb_status nb_report_find_scripts(const char *dir, char *out, size_t size);

/* Resolves a program name through PATH (or checks a path with a '/'):
 * true and its path in out when it is an executable file. */
bool nb_report_find_program(const char *name, char *out, size_t size);

#endif
