/* libFuzzer target (issue 14): one input is one file handed to every reader
 * normbench has for files other jobs wrote: the results reader (show,
 * export), the /verify reader (verify --into, report), the report's input
 * loader, the compare input path (both sides, then the text, Markdown and
 * JSON writers; an A/B file alone) and verify --input. The input reaches
 * them as an in-memory file image (nb_h5_serve_image): no file is written
 * and no damage probe forked, the readers and their checks are the command
 * line's. After each input no HDF5 file or object may be left open.
 * Built and seeded by `make fuzz` (docs/results-files.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bench/nb_compare.h"
#include "bench/nb_h5io.h"
#include "bench/nb_results.h"
#include "reports/nb_report.h"
#include "verify/nb_verify_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The name the readers are given: no file can exist there (the core
 * driver refuses to serve an image under the name of a file). */
#define NB_FUZZ_NAME "/dev/null/fuzz-input.h5"

static FILE *nb_fuzz_null;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	nb_fuzz_null = fopen("/dev/null", "w");
	if (!nb_fuzz_null)
		abort();
	nb_results_quiet_hdf5();
	H5open();
	/* keep HDF5's freed blocks on its own free lists: its metadata cache
	 * (over 512 KiB, one per open file) otherwise goes back to ASan's
	 * allocator and comes back as fresh pages, faulted in one by one */
	H5set_free_list_limits(-1, -1, -1, -1, -1, -1);
	return 0;
}

/* Files and objects (groups, datasets, attributes, named types) left open in
 * any file: a reader that skips H5Fclose on an error path keeps a whole
 * file open, which a compare or report of many files would pile up. HDF5
 * 1.10's public API cannot count transient types and dataspaces
 * (H5Inmembers refuses the library's own identifier kinds). */
static ssize_t nb_fuzz_open_objects(void)
{
	return H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
}

static void nb_fuzz_compare_opts(struct nb_compare_opts *o)
{
	nb_compare_opts_default(o);
	o->resamples = 100;
	o->force = true;
}

static void nb_fuzz_print(struct nb_compare_report *rep)
{
	nb_compare_print_text(rep, true, nb_fuzz_null);
	nb_compare_write_md(rep, nb_fuzz_null);
	nb_compare_write_json(rep, nb_fuzz_null);
}

static void nb_fuzz_results(void)
{
	struct nb_results r;
	char key[512];

	if (nb_results_read(NB_FUZZ_NAME, &r) == NB_OK) {
		for (size_t i = 0; i < NB_RESULTS_NTABLES; i++)
			nb_results_write_csv(&r, nb_results_table_name(i), nb_fuzz_null);
		nb_results_write_meta_csv(&r, nb_fuzz_null);
		for (size_t i = 0; i < r.ncells; i++) {
			size_t n;
			nb_results_cell_key(&r.cells[i], key, sizeof(key));
			nb_results_cell_samples(&r, i, &n);
		}
		/* `compare FILE` judges an A/B run alone */
		if (nb_results_is_ab(&r)) {
			struct nb_compare_opts o;
			struct nb_compare_report rep;
			nb_fuzz_compare_opts(&o);
			nb_compare_report_init(&rep);
			if (nb_compare_ab_file(NB_FUZZ_NAME, &o, &rep) == NB_OK)
				nb_fuzz_print(&rep);
			nb_compare_report_free(&rep);
		}
	}
	nb_results_free(&r);
}

static void nb_fuzz_compare(void)
{
	const char *side[1] = { NB_FUZZ_NAME };
	struct nb_compare_opts o;
	struct nb_compare_report rep;

	nb_fuzz_compare_opts(&o);
	nb_compare_report_init(&rep);
	if (nb_compare_files(side, 1, side, 1, &o, &rep) == NB_OK)
		nb_fuzz_print(&rep);
	nb_compare_report_free(&rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nb_verify_tables t;
	struct nb_report_input in;
	struct nb_verify_input x;
	ssize_t left;
	bool holds;

	nb_h5_serve_image(NB_FUZZ_NAME, data, size);
	nb_fuzz_results();
	nb_verify_read(NB_FUZZ_NAME, &t, &holds);
	nb_verify_tables_free(&t);
	nb_report_load(NB_FUZZ_NAME, &in);
	nb_report_input_free(&in);
	nb_fuzz_compare();
	/* verify --input FILE:/x (the seed from --make-outliers) */
	if (nb_verify_read_input(NB_FUZZ_NAME ":/x", NB_DTYPE_COUNT, &x) == NB_OK)
		nb_verify_input_free(&x);
	nb_h5_serve_image(NULL, NULL, 0);
	left = nb_fuzz_open_objects();
	if (left != 0) {
		fprintf(stderr, "fuzz_readers: %zd HDF5 files or objects left open after "
			"the input\n", left);
		abort();
	}
	return 0;
}
