/* The /verify group of an HDF5 file (SPEC §6): one H5TB table of kernel
 * accuracy rows and one of equivalence-claim rows, written into a file of its
 * own or added atomically to a run's results file, and read back. */
#ifndef NB_VERIFY_FILE_H
#define NB_VERIFY_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "common/nb_problem.h"
#include "common/nb_status.h"

/* Fixed string widths (bytes, NUL included); the same widths as the /bench
 * tables of bench/nb_results.h. Longer values are cut. */
#define NB_VF_SHORT 32
#define NB_VF_NAME 64
#define NB_VF_TEXT 256

/*
 * /verify/kernels: one row per (kernel, shape, seed, data kind, eps
 * convention, output array). Errors are measured against the long-double
 * reference; err_to_bound is max |error_i| / bound_i over the array, so
 * pass == 1 exactly when err_to_bound <= 1 and nothing is NaN/inf where the
 * reference is finite. Member names are the HDF5 field names.
 */
struct nb_verify_kernel_row {
	char kernel[NB_VF_NAME];     /* registry name */
	char variant[NB_VF_SHORT];   /* "layernorm", ... */
	char dir[NB_VF_SHORT];       /* "fwd" or "bwd" */
	char output[NB_VF_SHORT];    /* array judged: "y", "dx", "dgain", "dbias" */
	char dtype[NB_VF_SHORT];     /* storage dtype of the kernel */
	char acc[NB_VF_SHORT];       /* accumulation dtype */
	char isa[NB_VF_SHORT];
	uint64_t rows;
	uint64_t d;                  /* model width (CRMSNorm stores d-1) */
	uint64_t seed;               /* data seed (0 for user data) */
	char data[NB_VF_NAME];       /* "gauss", "outlier", "meanshift", or
				      * "input:f32", "input:f32->bf16(rne)", ... */
	double eps;
	char eps_mode[NB_VF_SHORT];  /* "inside" or "outside" */
	double max_abs_err;
	double max_rel_err;
	double max_ulps;             /* in the kernel's storage dtype */
	int64_t worst_row;           /* element with the largest err/bound */
	int64_t worst_col;
	double err_to_bound;
	double bound_at_worst;       /* the derived bound at that element */
	int32_t pass;                /* 1 holds, 0 fails */
	char note[NB_VF_TEXT];
};

/*
 * /verify/claims: one row per claim instance (SPEC §4). observed is the
 * difference between the two sides, err_a/err_b each side's distance from
 * the long-double truth. control == 1 marks a negative control: its row
 * passes when the equivalence is (correctly) violated beyond the bound.
 */
struct nb_verify_claim_row {
	char claim[NB_VF_SHORT];     /* "E1" ... "E6" */
	char name[NB_VF_NAME];
	char dtype[NB_VF_SHORT];     /* working dtype, or "ld" for long double */
	int32_t control;
	uint64_t seed;
	uint64_t depth;
	uint64_t heads;
	uint64_t d;
	uint64_t seq;                /* tokens, or rows for single-layer claims */
	double param;                /* E5: |mean| / std of the rows; else 0 */
	double observed;
	double bound;
	double err_a;
	double err_b;
	int32_t pass;
	char note[NB_VF_TEXT];
};

/* Both tables in memory (rows are heap arrays grown by the add calls). */
struct nb_verify_tables {
	struct nb_verify_kernel_row *kernels;
	size_t nkernels;
	struct nb_verify_claim_row *claims;
	size_t nclaims;
	size_t cap_kernels;
	size_t cap_claims;
};

/* What produced the tables: the /verify group's attributes, and with the
 * build facts the root attributes of a standalone file. */
struct nb_verify_meta {
	const char *command_line;
	const char *mode;            /* "full", "quick" or "input" */
	const char *input;           /* FILE.h5:/dataset for --input, else NULL */
	uint64_t seed;
	struct nb_conventions conv;  /* eps/eps_mode of the claims and default */
	double seconds;              /* wall time of the verification */
};

void nb_verify_tables_init(struct nb_verify_tables *t);
void nb_verify_tables_free(struct nb_verify_tables *t);
enum nb_status nb_verify_add_kernel(struct nb_verify_tables *t,
				    const struct nb_verify_kernel_row *row);
enum nb_status nb_verify_add_claim(struct nb_verify_tables *t,
				   const struct nb_verify_claim_row *row);
/* Rows with pass == 0 in each table. */
size_t nb_verify_failed_kernels(const struct nb_verify_tables *t);
size_t nb_verify_failed_claims(const struct nb_verify_tables *t);

/* Copies src into a fixed string field, cutting at size-1 bytes. */
void nb_vf_strcpy(char *dst, size_t size, const char *src);

/*
 * Creates the group /verify in an open, writable file with both tables
 * (possibly empty) and its attributes (mode, seed, eps, eps_mode, prms_p,
 * prms_round, utc_time, command_line, kernels_failed, claims_failed,
 * holds). An existing /verify is unlinked first when replace is true, else
 * it is an error (NB_ERR_IO).
 */
enum nb_status nb_verify_write_group(hid_t file, const struct nb_verify_tables *t,
				     const struct nb_verify_meta *m, bool replace);

/*
 * A standalone verification file: root attributes (schema_version =
 * NB_RESULTS_SCHEMA_VERSION, kind = "verify", normbench_version, git_rev,
 * git_dirty, utc_time, host, the conventions, seed, command_line) and
 * /verify, written to "path.tmp.<pid>", fsync'ed and renamed onto path.
 * Without force an existing path is refused (NB_ERR_IO). Parent folders are
 * created. Nothing is ever left under path on failure.
 */
enum nb_status nb_verify_write_file(const char *path, const struct nb_verify_tables *t,
				    const struct nb_verify_meta *m, bool force);

/*
 * Adds /verify to an existing results file of `normbench run` without ever
 * damaging it: the file is checked (schema version) and copied to a
 * temporary name, /verify is written into the copy, and the copy is renamed
 * over path (bench/nb_results.h nb_results_update_*). A /verify already in
 * the file is replaced only with replace == true.
 */
enum nb_status nb_verify_write_into(const char *path, const struct nb_verify_tables *t,
				    const struct nb_verify_meta *m, bool replace);

/*
 * Reads /verify of any file (standalone or a run's) into t, which the
 * caller frees also after a failure. A missing file, no /verify group or a
 * table whose fields differ from this build's gives NB_ERR_IO with a
 * message. holds (may be NULL) receives the group's "holds" attribute.
 */
enum nb_status nb_verify_read(const char *path, struct nb_verify_tables *t, bool *holds);

/* ---- real data (--input), the outlier generator's file, --dump ---- */

/* Splits "FILE.h5:/path/to/dataset" at its last ':' into file and dataset
 * (a leading '/' is added to the dataset when missing). */
enum nb_status nb_verify_split_spec(const char *spec, char *file, size_t file_size,
				    char *dataset, size_t dataset_size);

/* A user's 2-D dataset as rows x cols elements of one storage dtype. */
struct nb_verify_input {
	enum nb_dtype dtype;          /* element type of data */
	size_t rows;
	size_t cols;
	void *data;                   /* row-major, malloc'ed */
	char type_desc[NB_VF_NAME];   /* the HDF5 type found, e.g. "float32",
				       * "uint16 words read as bf16" */
};

/* Largest dataset --input reads (elements): the long-double reference keeps
 * several rows x cols arrays of 16 bytes per element. */
#define NB_VERIFY_INPUT_MAX_ELEMENTS ((size_t)1 << 24)

/*
 * Reads spec ("FILE.h5:/dataset") for --input: a 2-D dataset of float32 or
 * float64 (any byte order), of HDF5 16-bit floats (h5py's float16), or of
 * 16-bit integer words that `words` (NB_DTYPE_F16 or NB_DTYPE_BF16) says
 * how to read; words is NB_DTYPE_COUNT when --dtype was not given, and a
 * --dtype given for a float dataset is refused. Missing file, missing
 * dataset, a rank other than 2, an empty or too large dataset, any other
 * element type or a non-finite element: NB_ERR_IO / NB_ERR_INVALID /
 * NB_ERR_UNSUPPORTED with a message naming the file and dataset.
 */
enum nb_status nb_verify_read_input(const char *spec, enum nb_dtype words,
				    struct nb_verify_input *in);

/* The same for a 1-D dataset of d elements (--gain, --bias), read as one
 * row (rows 1, cols d). */
enum nb_status nb_verify_read_vector(const char *spec, enum nb_dtype words,
				     struct nb_verify_input *in);
void nb_verify_input_free(struct nb_verify_input *in);

/* Writes a new file holding one rows x cols dataset (dtype f32 or f64, as
 * IEEE little-endian) at spec, atomically; the attributes (a string each)
 * describe how it was made. Without force an existing file is refused. */
enum nb_status nb_verify_write_dataset(const char *spec, enum nb_dtype dtype, size_t rows,
				       size_t cols, const void *data, const char *generator,
				       bool force);

/* An HDF5 file of kernel outputs being written (--dump): temporary name
 * until commit. */
struct nb_verify_dump {
	hid_t file;
	bool force;
	char path[4096];
	char tmp[4200];
};

enum nb_status nb_verify_dump_begin(const char *path, bool force, struct nb_verify_dump *d);
/* Writes values as the f64 dataset /group/name, 2-D rows x cols, or 1-D of
 * cols elements when rows is 0. The group is created when missing. */
enum nb_status nb_verify_dump_array(struct nb_verify_dump *d, const char *group,
				    const char *name, size_t rows, size_t cols,
				    const double *values);
/* A string attribute on /group (created when missing). */
enum nb_status nb_verify_dump_note(struct nb_verify_dump *d, const char *group,
				   const char *key, const char *value);
enum nb_status nb_verify_dump_commit(struct nb_verify_dump *d);
void nb_verify_dump_abort(struct nb_verify_dump *d);

#endif
