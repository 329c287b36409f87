/* libFuzzer target (issue 14): one input is one file handed to every reader
 * normbench has for files other jobs wrote: the results reader (show,
 * export), the /verify reader (verify --into, report), the report's input
 * loader and the compare input path (both sides, then the text, Markdown and
 * JSON writers). Built and seeded by `make fuzz` (docs/results-files.md). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/nb_compare.h"
#include "bench/nb_results.h"
#include "reports/nb_report.h"
#include "verify/nb_verify_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char nb_fuzz_path[256];
static FILE *nb_fuzz_null;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	/* a crash inside HDF5 must surface here, not in the probe's child */
	setenv("NB_READ_PROBE", "0", 1);
	snprintf(nb_fuzz_path, sizeof(nb_fuzz_path), "%s/nb_fuzz.%ld.h5",
		 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : dir ? dir : "/tmp", (long)getpid());
	nb_fuzz_null = fopen("/dev/null", "w");
	nb_results_quiet_hdf5();
	return 0;
}

static void nb_fuzz_results(const char *path)
{
	struct nb_results r;
	char key[512];

	if (nb_results_read(path, &r) == NB_OK) {
		for (size_t i = 0; i < NB_RESULTS_NTABLES; i++)
			nb_results_write_csv(&r, nb_results_table_name(i), nb_fuzz_null);
		nb_results_write_meta_csv(&r, nb_fuzz_null);
		for (size_t i = 0; i < r.ncells; i++) {
			size_t n;
			nb_results_cell_key(&r.cells[i], key, sizeof(key));
			nb_results_cell_samples(&r, i, &n);
		}
	}
	nb_results_free(&r);
}

static void nb_fuzz_compare(const char *path)
{
	const char *side[1] = { path };
	struct nb_compare_opts o;
	struct nb_compare_report rep;

	nb_compare_opts_default(&o);
	o.resamples = 100;
	o.force = true;
	nb_compare_report_init(&rep);
	if (nb_compare_files(side, 1, side, 1, &o, &rep) == NB_OK) {
		nb_compare_print_text(&rep, true, nb_fuzz_null);
		nb_compare_write_md(&rep, nb_fuzz_null);
		nb_compare_write_json(&rep, nb_fuzz_null);
	}
	nb_compare_report_free(&rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fopen(nb_fuzz_path, "wb");
	struct nb_verify_tables t;
	struct nb_report_input in;
	bool holds;

	if (!f)
		abort();
	if (fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	nb_fuzz_results(nb_fuzz_path);
	nb_verify_read(nb_fuzz_path, &t, &holds);
	nb_verify_tables_free(&t);
	nb_report_load(nb_fuzz_path, &in);
	nb_report_input_free(&in);
	nb_fuzz_compare(nb_fuzz_path);
	unlink(nb_fuzz_path);
	return 0;
}
