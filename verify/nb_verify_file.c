/* Writing and reading the /verify group: two H5TB tables whose fields are
 * described once per row struct, attributes, and the atomic file paths
 * (standalone: temporary file + rename; into a run's file: copy + rename). */
#include "verify/nb_verify_file.h"

#include <errno.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_h5io.h"
#include "bench/nb_publish.h"
#include "bench/nb_results.h"
#include "kernels/nb_kernels.h"

/* One table field: name, offset and size in the row struct, HDF5 kind. */
enum nb_vf_kind { NB_VF_STR, NB_VF_U64, NB_VF_I64, NB_VF_I32, NB_VF_F64 };

struct nb_vf_field {
	const char *name;
	size_t offset;
	size_t size;
	enum nb_vf_kind kind;
};

#define NB_VF_FIELD(type, member, kind) \
	{ #member, offsetof(struct type, member), sizeof(((struct type *)0)->member), kind }

static const struct nb_vf_field nb_vf_kernel_fields[] = {
	NB_VF_FIELD(nb_verify_kernel_row, kernel, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, variant, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, dir, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, output, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, dtype, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, acc, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, isa, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, rows, NB_VF_U64),
	NB_VF_FIELD(nb_verify_kernel_row, d, NB_VF_U64),
	NB_VF_FIELD(nb_verify_kernel_row, seed, NB_VF_U64),
	NB_VF_FIELD(nb_verify_kernel_row, data, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, eps, NB_VF_F64),
	NB_VF_FIELD(nb_verify_kernel_row, eps_mode, NB_VF_STR),
	NB_VF_FIELD(nb_verify_kernel_row, max_abs_err, NB_VF_F64),
	NB_VF_FIELD(nb_verify_kernel_row, max_rel_err, NB_VF_F64),
	NB_VF_FIELD(nb_verify_kernel_row, max_ulps, NB_VF_F64),
	NB_VF_FIELD(nb_verify_kernel_row, worst_row, NB_VF_I64),
	NB_VF_FIELD(nb_verify_kernel_row, worst_col, NB_VF_I64),
	NB_VF_FIELD(nb_verify_kernel_row, err_to_bound, NB_VF_F64),
	NB_VF_FIELD(nb_verify_kernel_row, bound_at_worst, NB_VF_F64),
	NB_VF_FIELD(nb_verify_kernel_row, pass, NB_VF_I32),
	NB_VF_FIELD(nb_verify_kernel_row, note, NB_VF_STR),
};

static const struct nb_vf_field nb_vf_claim_fields[] = {
	NB_VF_FIELD(nb_verify_claim_row, claim, NB_VF_STR),
	NB_VF_FIELD(nb_verify_claim_row, name, NB_VF_STR),
	NB_VF_FIELD(nb_verify_claim_row, dtype, NB_VF_STR),
	NB_VF_FIELD(nb_verify_claim_row, control, NB_VF_I32),
	NB_VF_FIELD(nb_verify_claim_row, seed, NB_VF_U64),
	NB_VF_FIELD(nb_verify_claim_row, depth, NB_VF_U64),
	NB_VF_FIELD(nb_verify_claim_row, heads, NB_VF_U64),
	NB_VF_FIELD(nb_verify_claim_row, d, NB_VF_U64),
	NB_VF_FIELD(nb_verify_claim_row, seq, NB_VF_U64),
	NB_VF_FIELD(nb_verify_claim_row, param, NB_VF_F64),
	NB_VF_FIELD(nb_verify_claim_row, observed, NB_VF_F64),
	NB_VF_FIELD(nb_verify_claim_row, bound, NB_VF_F64),
	NB_VF_FIELD(nb_verify_claim_row, err_a, NB_VF_F64),
	NB_VF_FIELD(nb_verify_claim_row, err_b, NB_VF_F64),
	NB_VF_FIELD(nb_verify_claim_row, pass, NB_VF_I32),
	NB_VF_FIELD(nb_verify_claim_row, note, NB_VF_STR),
};

#define NB_VF_NFIELDS(a) (sizeof(a) / sizeof((a)[0]))
#define NB_VF_MAXFIELDS 32

struct nb_vf_table {
	const char *name;              /* dataset name inside /verify */
	const char *title;
	const struct nb_vf_field *fields;
	size_t nfields;
	size_t row_size;
};

static const struct nb_vf_table nb_vf_kernels_table = {
	"kernels", "normbench kernel accuracy against the long-double reference",
	nb_vf_kernel_fields, NB_VF_NFIELDS(nb_vf_kernel_fields),
	sizeof(struct nb_verify_kernel_row),
};

static const struct nb_vf_table nb_vf_claims_table = {
	"claims", "normbench equivalence claims E1-E6 with negative controls",
	nb_vf_claim_fields, NB_VF_NFIELDS(nb_vf_claim_fields),
	sizeof(struct nb_verify_claim_row),
};

void nb_vf_strcpy(char *dst, size_t size, const char *src)
{
	size_t len;

	if (size == 0)
		return;
	if (!src)
		src = "";
	len = strnlen(src, size - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

void nb_verify_tables_init(struct nb_verify_tables *t)
{
	memset(t, 0, sizeof(*t));
}

void nb_verify_tables_free(struct nb_verify_tables *t)
{
	free(t->kernels);
	free(t->claims);
	nb_verify_tables_init(t);
}

/* Grows *rows (of *cap elements of size bytes) to hold one more. */
static enum nb_status nb_vf_grow(void **rows, size_t *cap, size_t count, size_t size)
{
	void *grown;
	size_t ncap;

	if (count < *cap)
		return NB_OK;
	ncap = *cap ? 2 * *cap : 64;
	grown = realloc(*rows, ncap * size);
	if (!grown)
		return nb_fail(NB_ERR_NOMEM, "no memory for %zu verification rows", ncap);
	*rows = grown;
	*cap = ncap;
	return NB_OK;
}

/* Appends a copy of row (size bytes) to *rows (*count of them, room for
 * *cap), growing it. */
static enum nb_status nb_vf_append(void **rows, size_t *count, size_t *cap, size_t size,
				   const void *row)
{
	enum nb_status st = nb_vf_grow(rows, cap, *count, size);

	if (st != NB_OK)
		return st;
	memcpy((char *)*rows + *count * size, row, size);
	(*count)++;
	return NB_OK;
}

enum nb_status nb_verify_add_kernel(struct nb_verify_tables *t,
				    const struct nb_verify_kernel_row *row)
{
	void *rows = t->kernels;
	enum nb_status st = nb_vf_append(&rows, &t->nkernels, &t->cap_kernels, sizeof(*row), row);

	t->kernels = rows;
	return st;
}

enum nb_status nb_verify_add_claim(struct nb_verify_tables *t,
				   const struct nb_verify_claim_row *row)
{
	void *rows = t->claims;
	enum nb_status st = nb_vf_append(&rows, &t->nclaims, &t->cap_claims, sizeof(*row), row);

	t->claims = rows;
	return st;
}

size_t nb_verify_failed_kernels(const struct nb_verify_tables *t)
{
	size_t failed = 0;

	for (size_t i = 0; i < t->nkernels; i++)
		failed += t->kernels[i].pass == 0;
	return failed;
}

size_t nb_verify_failed_claims(const struct nb_verify_tables *t)
{
	size_t failed = 0;

	for (size_t i = 0; i < t->nclaims; i++)
		failed += t->claims[i].pass == 0;
	return failed;
}

/* ---- HDF5 plumbing ---- */

/* The HDF5 type of a field; strings get a fixed-size NUL-terminated copy
 * the caller closes (*owned set), natives are not closed. */
static hid_t nb_vf_type(const struct nb_vf_field *f, bool *owned)
{
	hid_t t;

	*owned = false;
	switch (f->kind) {
	case NB_VF_STR:
		t = H5Tcopy(H5T_C_S1);
		if (t < 0)
			return t;
		H5Tset_size(t, f->size);
		H5Tset_strpad(t, H5T_STR_NULLTERM);
		*owned = true;
		return t;
	case NB_VF_U64: return H5T_NATIVE_UINT64;
	case NB_VF_I64: return H5T_NATIVE_INT64;
	case NB_VF_I32: return H5T_NATIVE_INT32;
	case NB_VF_F64: return H5T_NATIVE_DOUBLE;
	}
	return -1;
}

static enum nb_status nb_vf_make_table(hid_t group, const struct nb_vf_table *tb,
				       size_t nrows, const void *rows)
{
	const char *names[NB_VF_MAXFIELDS];
	size_t offsets[NB_VF_MAXFIELDS];
	hid_t types[NB_VF_MAXFIELDS];
	bool owned[NB_VF_MAXFIELDS];
	enum nb_status st = NB_OK;
	size_t made = 0;
	herr_t rc;

	for (; made < tb->nfields; made++) {
		names[made] = tb->fields[made].name;
		offsets[made] = tb->fields[made].offset;
		types[made] = nb_vf_type(&tb->fields[made], &owned[made]);
		if (types[made] < 0) {
			st = nb_fail(NB_ERR_IO, "cannot make the HDF5 type of /verify/%s.%s",
				     tb->name, tb->fields[made].name);
			goto close_types;
		}
	}
	/* chunk of 64 rows: tables are small; compression off keeps h5dump and
	 * any h5py build able to read them */
	rc = H5TBmake_table(tb->title, group, tb->name, (hsize_t)tb->nfields,
			    (hsize_t)nrows, tb->row_size, names, offsets, types, 64,
			    NULL, 0, nrows ? rows : NULL);
	if (rc < 0)
		st = nb_fail(NB_ERR_IO, "cannot write the table /verify/%s", tb->name);
close_types:
	for (size_t i = 0; i < made; i++)
		if (owned[i])
			H5Tclose(types[i]);
	return st;
}

static enum nb_status nb_vf_attr_str(hid_t loc, const char *name, const char *value)
{
	enum nb_status st = NB_OK;
	hid_t type, space, attr;

	/* fixed length: stored in the checksummed object header, no global heap */
	if (!value)
		value = "";
	type = H5Tcopy(H5T_C_S1);
	if (type < 0)
		return nb_fail(NB_ERR_IO, "cannot make a string type for attribute %s", name);
	H5Tset_size(type, strlen(value) + 1);
	H5Tset_strpad(type, H5T_STR_NULLTERM);
	H5Tset_cset(type, H5T_CSET_UTF8);
	space = H5Screate(H5S_SCALAR);
	if (space < 0) {
		st = nb_fail(NB_ERR_IO, "cannot make a dataspace for attribute %s", name);
		goto close_type;
	}
	attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0) {
		st = nb_fail(NB_ERR_IO, "cannot create attribute %s", name);
		goto close_space;
	}
	if (H5Awrite(attr, type, value) < 0)
		st = nb_fail(NB_ERR_IO, "cannot write attribute %s", name);
	H5Aclose(attr);
close_space:
	H5Sclose(space);
close_type:
	H5Tclose(type);
	return st;
}

static enum nb_status nb_vf_attr_num(hid_t loc, const char *name, hid_t type,
				     const void *value)
{
	enum nb_status st = NB_OK;
	hid_t space, attr;

	space = H5Screate(H5S_SCALAR);
	if (space < 0)
		return nb_fail(NB_ERR_IO, "cannot make a dataspace for attribute %s", name);
	attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0) {
		st = nb_fail(NB_ERR_IO, "cannot create attribute %s", name);
		goto close_space;
	}
	if (H5Awrite(attr, type, value) < 0)
		st = nb_fail(NB_ERR_IO, "cannot write attribute %s", name);
	H5Aclose(attr);
close_space:
	H5Sclose(space);
	return st;
}

static enum nb_status nb_vf_attr_int(hid_t loc, const char *name, int value)
{
	return nb_vf_attr_num(loc, name, H5T_NATIVE_INT, &value);
}

static enum nb_status nb_vf_attr_u64(hid_t loc, const char *name, uint64_t value)
{
	return nb_vf_attr_num(loc, name, H5T_NATIVE_UINT64, &value);
}

static enum nb_status nb_vf_attr_f64(hid_t loc, const char *name, double value)
{
	return nb_vf_attr_num(loc, name, H5T_NATIVE_DOUBLE, &value);
}

static void nb_vf_utc_now(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	if (now == (time_t)-1 || !gmtime_r(&now, &tm) ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		nb_vf_strcpy(buf, len, "");
}

/* The conventions and provenance, as attributes of loc (root or group). */
static enum nb_status nb_vf_conv_attrs(hid_t loc, const struct nb_verify_meta *m)
{
	enum nb_status st;
	char utc[32];

	nb_vf_utc_now(utc, sizeof(utc));
	st = nb_vf_attr_str(loc, "utc_time", utc);
	if (st == NB_OK)
		st = nb_vf_attr_str(loc, "command_line", m->command_line);
	if (st == NB_OK)
		st = nb_vf_attr_u64(loc, "seed", m->seed);
	if (st == NB_OK)
		st = nb_vf_attr_f64(loc, "eps", m->conv.eps);
	if (st == NB_OK)
		st = nb_vf_attr_str(loc, "eps_mode",
				    m->conv.eps_mode == NB_EPS_OUTSIDE ? "outside" : "inside");
	if (st == NB_OK)
		st = nb_vf_attr_f64(loc, "prms_p", m->conv.prms_p);
	if (st == NB_OK)
		st = nb_vf_attr_str(loc, "prms_round",
				    m->conv.prms_round == NB_PRMS_FLOOR ? "floor" : "ceil");
	return st;
}

enum nb_status nb_verify_write_group(hid_t file, const struct nb_verify_tables *t,
				     const struct nb_verify_meta *m, bool replace)
{
	size_t kfail = nb_verify_failed_kernels(t);
	size_t cfail = nb_verify_failed_claims(t);
	enum nb_status st;
	hid_t group;

	nb_results_quiet_hdf5();
	if (H5Lexists(file, "verify", H5P_DEFAULT) > 0) {
		if (!replace)
			return nb_fail(NB_ERR_IO, "the file already has a /verify group "
				       "(use --force to replace it)");
		if (H5Ldelete(file, "verify", H5P_DEFAULT) < 0)
			return nb_fail(NB_ERR_IO, "cannot remove the old /verify group");
	}
	group = H5Gcreate2(file, "verify", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (group < 0)
		return nb_fail(NB_ERR_IO, "cannot create the /verify group");
	st = nb_vf_make_table(group, &nb_vf_kernels_table, t->nkernels, t->kernels);
	if (st == NB_OK)
		st = nb_vf_make_table(group, &nb_vf_claims_table, t->nclaims, t->claims);
	if (st == NB_OK)
		st = nb_vf_conv_attrs(group, m);
	if (st == NB_OK)
		st = nb_vf_attr_str(group, "mode", m->mode);
	if (st == NB_OK)
		st = nb_vf_attr_str(group, "input", m->input);
	if (st == NB_OK)
		st = nb_vf_attr_f64(group, "seconds", m->seconds);
	if (st == NB_OK)
		st = nb_vf_attr_u64(group, "kernels_failed", kfail);
	if (st == NB_OK)
		st = nb_vf_attr_u64(group, "claims_failed", cfail);
	if (st == NB_OK)
		st = nb_vf_attr_int(group, "holds", kfail == 0 && cfail == 0);
	if (st == NB_OK)
		st = nb_vf_attr_str(group, "holds_rule",
				    "every kernel row has err_to_bound <= 1; every claim row "
				    "is within its bound, and every negative control exceeds it");
	H5Gclose(group);
	return st;
}

/* Root attributes of a standalone verification file. */
static enum nb_status nb_vf_root_attrs(hid_t file, const struct nb_verify_meta *m)
{
	char host[256] = "";
	enum nb_status st;

	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	st = nb_vf_attr_int(file, "schema_version", NB_RESULTS_SCHEMA_VERSION);
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "kind", "verify");
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "normbench_version", NB_VERSION);
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "git_rev", nb_git_rev);
	if (st == NB_OK)
		st = nb_vf_attr_int(file, "git_dirty", nb_git_dirty);
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "cflags", nb_build_cflags);
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "host", host);
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "isa_detected", nb_isa_name(nb_isa_detected()));
	if (st == NB_OK)
		st = nb_vf_attr_str(file, "isa_cap", nb_isa_name(nb_isa_cap()));
	if (st == NB_OK)
		st = nb_vf_conv_attrs(file, m);
	return st;
}

/* A fresh HDF5 file at "path.tmp.<pid>" (parents created); the caller
 * writes it, then nb_publish_h5 closes and publishes it. */
static hid_t nb_vf_begin(const char *path, bool force, char *tmp, size_t tmpsize)
{
	struct stat sb;
	hid_t fapl, file;

	nb_results_quiet_hdf5();
	if (!path || !*path) {
		nb_fail(NB_ERR_INVALID, "no output file given");
		return -1;
	}
	if (!force && stat(path, &sb) == 0) {
		nb_fail(NB_ERR_IO, "%s exists (use --force to replace it)", path);
		return -1;
	}
	if ((size_t)snprintf(tmp, tmpsize, "%s.tmp.%ld", path, (long)getpid()) >= tmpsize) {
		nb_fail(NB_ERR_INVALID, "output path too long: %s", path);
		return -1;
	}
	if (nb_results_make_parent_dirs(path) != NB_OK)
		return -1;
	fapl = nb_h5_fapl(true);
	file = fapl < 0 ? -1 : H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	if (fapl >= 0)
		H5Pclose(fapl);
	if (file < 0)
		nb_fail(NB_ERR_IO, "cannot create %s: %s", tmp,
			errno ? strerror(errno) : "HDF5 refused");
	return file;
}

enum nb_status nb_verify_write_file(const char *path, const struct nb_verify_tables *t,
				    const struct nb_verify_meta *m, bool force)
{
	enum nb_status st;
	char tmp[4200];
	hid_t file;

	file = nb_vf_begin(path, force, tmp, sizeof(tmp));
	if (file < 0)
		return NB_ERR_IO;
	st = nb_vf_root_attrs(file, m);
	if (st == NB_OK)
		st = nb_verify_write_group(file, t, m, false);
	return nb_publish_h5(file, tmp, path, force, st);
}

enum nb_status nb_verify_write_into(const char *path, const struct nb_verify_tables *t,
				    const struct nb_verify_meta *m, bool replace)
{
	struct nb_results_update u;
	enum nb_status st;

	st = nb_results_update_begin(path, &u);
	if (st != NB_OK)
		return st;
	st = nb_verify_write_group(u.file, t, m, replace);
	if (st != NB_OK) {
		char msg[512];
		/* abort may record its own message: keep the reason */
		nb_vf_strcpy(msg, sizeof(msg), nb_error());
		nb_results_update_abort(&u);
		return nb_fail(st, "%s: %s", path, msg);
	}
	return nb_results_update_commit(&u);
}

/* Reads one table into a fresh heap array through the checked table reader
 * (every field present with the right class, sizes bounded). */
static enum nb_status nb_vf_read_table(hid_t group, const char *path,
				       const struct nb_vf_table *tb, void **rows,
				       size_t *nrows, size_t *cap)
{
	static const enum nb_h5_kind kinds[] = {
		[NB_VF_STR] = NB_H5_STR, [NB_VF_U64] = NB_H5_U64, [NB_VF_I64] = NB_H5_I64,
		[NB_VF_I32] = NB_H5_I32, [NB_VF_F64] = NB_H5_F64,
	};
	struct nb_h5_column cols[NB_VF_MAXFIELDS];
	enum nb_status st;

	for (size_t i = 0; i < tb->nfields; i++)
		cols[i] = (struct nb_h5_column){ tb->fields[i].name, tb->fields[i].offset,
						 tb->fields[i].size, kinds[tb->fields[i].kind],
						 false, 0 };
	st = nb_h5_read_table(group, tb->name, cols, tb->nfields, tb->row_size, rows, nrows);
	if (st != NB_OK)
		return nb_fail(st, "%s: /verify/%s", path, nb_error());
	if (!*rows) {
		/* callers append to the tables later: keep one row of capacity */
		*rows = calloc(1, tb->row_size);
		if (!*rows)
			return nb_fail(NB_ERR_NOMEM, "no memory for /verify/%s", tb->name);
	}
	*cap = *nrows ? *nrows : 1;
	return NB_OK;
}

enum nb_status nb_verify_read(const char *path, struct nb_verify_tables *t, bool *holds)
{
	enum nb_status st;
	void *rows = NULL;
	hid_t file, group;

	nb_results_quiet_hdf5();
	nb_verify_tables_init(t);
	file = nb_h5_open_readonly(path);
	if (file < 0)
		return NB_ERR_IO;
	if (H5Lexists(file, "verify", H5P_DEFAULT) <= 0) {
		st = nb_fail(NB_ERR_IO, "%s: no /verify group", path);
		goto close_file;
	}
	group = H5Gopen2(file, "verify", H5P_DEFAULT);
	if (group < 0) {
		st = nb_fail(NB_ERR_IO, "%s: cannot open /verify", path);
		goto close_file;
	}
	st = nb_vf_read_table(group, path, &nb_vf_kernels_table, &rows, &t->nkernels,
			      &t->cap_kernels);
	t->kernels = rows;
	if (st != NB_OK)
		goto close_group;
	rows = NULL;
	st = nb_vf_read_table(group, path, &nb_vf_claims_table, &rows, &t->nclaims,
			      &t->cap_claims);
	t->claims = rows;
	if (st != NB_OK)
		goto close_group;
	if (holds) {
		int32_t h = 0;

		st = nb_h5_read_scalar_attr(group, "holds", NB_H5_I32, &h);
		if (st == NB_OK && h != 0 && h != 1)
			st = nb_fail(NB_ERR_IO, "attribute 'holds' is %d, not 0 or 1", (int)h);
		if (st != NB_OK)
			st = nb_fail(NB_ERR_IO, "%s is damaged: /verify %s", path, nb_error());
		*holds = h == 1;
	}
close_group:
	H5Gclose(group);
close_file:
	H5Fclose(file);
	return st;
}

/* ---- real data: --input, --make-outliers, --dump ---- */

enum nb_status nb_verify_split_spec(const char *spec, char *file, size_t file_size,
				    char *dataset, size_t dataset_size)
{
	const char *colon = spec ? strrchr(spec, ':') : NULL;
	size_t flen;

	if (!colon || colon == spec || colon[1] == '\0')
		return nb_fail(NB_ERR_INVALID, "'%s': give FILE.h5:/dataset",
			       spec ? spec : "(null)");
	flen = (size_t)(colon - spec);
	if (flen >= file_size || strlen(colon + 1) + 2 > dataset_size)
		return nb_fail(NB_ERR_INVALID, "'%s': name too long", spec);
	memcpy(file, spec, flen);
	file[flen] = '\0';
	snprintf(dataset, dataset_size, "%s%s", colon[1] == '/' ? "" : "/", colon + 1);
	return NB_OK;
}

void nb_verify_input_free(struct nb_verify_input *in)
{
	free(in->data);
	memset(in, 0, sizeof(*in));
}

/* How to read a dataset's elements: the storage dtype they become, the
 * memory type HDF5 converts into (not to be closed), and a description. */
static enum nb_status nb_vf_input_type(hid_t ftype, enum nb_dtype words, const char *where,
				       enum nb_dtype *dtype, hid_t *memtype, char *desc,
				       size_t desc_size)
{
	H5T_class_t cls = H5Tget_class(ftype);
	size_t size = H5Tget_size(ftype);
	size_t spos, epos, esize, mpos, msize;

	if (cls == H5T_FLOAT) {
		if (words != NB_DTYPE_COUNT)
			return nb_fail(NB_ERR_INVALID, "%s holds %zu-byte floats: --dtype "
				       "only says how to read 16-bit integer words", where, size);
		if (size == 4 || size == 8) {
			*dtype = size == 4 ? NB_DTYPE_F32 : NB_DTYPE_F64;
			*memtype = size == 4 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE;
			snprintf(desc, desc_size, "float%zu", 8 * size);
			return NB_OK;
		}
		if (size == 2 && H5Tget_fields(ftype, &spos, &epos, &esize, &mpos, &msize) >= 0) {
			/* read through f32, which holds every 16-bit value exactly,
			 * then stored back in the 16-bit type (also exact) */
			*memtype = H5T_NATIVE_FLOAT;
			if (esize == 5 && msize == 10) {
				*dtype = NB_DTYPE_F16;
				snprintf(desc, desc_size, "float16");
				return NB_OK;
			}
			if (esize == 8 && msize == 7) {
				*dtype = NB_DTYPE_BF16;
				snprintf(desc, desc_size, "bfloat16");
				return NB_OK;
			}
		}
		return nb_fail(NB_ERR_UNSUPPORTED, "%s holds %zu-byte floats of an unknown "
			       "layout; normbench reads float32, float64, float16 or 16-bit "
			       "words with --dtype f16|bf16", where, size);
	}
	if (cls == H5T_INTEGER && size == 2) {
		bool is_signed = H5Tget_sign(ftype) == H5T_SGN_2;

		if (words != NB_DTYPE_F16 && words != NB_DTYPE_BF16)
			return nb_fail(NB_ERR_INVALID, "%s holds 16-bit integer words: say how "
				       "to read them with --dtype f16 or --dtype bf16", where);
		*dtype = words;
		/* same signedness as the file, so HDF5 copies the bits unchanged */
		*memtype = is_signed ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT16;
		snprintf(desc, desc_size, "%s words read as %s", is_signed ? "int16" : "uint16",
			 nb_dtype_traits[words].name);
		return NB_OK;
	}
	return nb_fail(NB_ERR_UNSUPPORTED, "%s has an unsupported element type (HDF5 class "
		       "%d, %zu bytes); normbench reads float32 or float64, or 16-bit words "
		       "with --dtype f16|bf16", where, (int)cls, size);
}

/* Converts the f32 staging copy of a 16-bit float dataset to its dtype. */
static void nb_vf_pack16(enum nb_dtype dtype, const float *src, void *dst, size_t count)
{
	for (size_t i = 0; i < count; i++)
		nb_dtype_store(dtype, dst, i, (double)src[i]);
}

/* The first non-finite element, or false when all are finite. */
static bool nb_vf_find_nonfinite(const struct nb_verify_input *in, size_t *at)
{
	size_t count = in->rows * in->cols;

	for (size_t i = 0; i < count; i++) {
		double v = nb_dtype_load(in->dtype, in->data, i);
		if (!isfinite(v)) {
			*at = i;
			return true;
		}
	}
	return false;
}

/* want_rank 2: --input's rows x d; 1: a vector of d (--gain, --bias),
 * read as one row. */
static enum nb_status nb_vf_read(const char *spec, enum nb_dtype words, int want_rank,
				 struct nb_verify_input *in)
{
	char path[4096], dset[1024], where[5200];
	hid_t file, data, space, ftype, memtype = -1;
	hsize_t dims[2];
	enum nb_status st;
	void *staging = NULL;
	int rank;
	size_t count, at;

	nb_results_quiet_hdf5();
	memset(in, 0, sizeof(*in));
	st = nb_verify_split_spec(spec, path, sizeof(path), dset, sizeof(dset));
	if (st != NB_OK)
		return st;
	snprintf(where, sizeof(where), "%s:%s", path, dset);
	file = nb_h5_open_readonly(path);
	if (file < 0)
		return NB_ERR_IO;
	if (H5LTpath_valid(file, dset, 1) <= 0) {
		st = nb_fail(NB_ERR_IO, "%s: no dataset %s", path, dset);
		goto close_file;
	}
	data = H5Dopen2(file, dset, H5P_DEFAULT);
	if (data < 0) {
		st = nb_fail(NB_ERR_IO, "%s: %s is not a dataset", path, dset);
		goto close_file;
	}
	space = H5Dget_space(data);
	rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
	if (rank != want_rank) {
		st = want_rank == 2
			? nb_fail(NB_ERR_INVALID, "%s has rank %d: --input needs a 2-D dataset "
				  "(rows x d)", where, rank)
			: nb_fail(NB_ERR_INVALID, "%s has rank %d: --gain and --bias need a "
				  "1-D dataset (d)", where, rank);
		goto close_space;
	}
	H5Sget_simple_extent_dims(space, dims, NULL);
	if (want_rank == 1) {
		dims[1] = dims[0];
		dims[0] = 1;
	}
	if (dims[0] == 0 || dims[1] == 0) {
		st = nb_fail(NB_ERR_INVALID, "%s is empty (%llu x %llu)", where,
			     (unsigned long long)dims[0], (unsigned long long)dims[1]);
		goto close_space;
	}
	if (dims[0] > NB_VERIFY_INPUT_MAX_ELEMENTS / dims[1]) {
		st = nb_fail(NB_ERR_INVALID, "%s has %llu x %llu elements, more than the %zu "
			     "--input reads: pass a slice of the rows", where,
			     (unsigned long long)dims[0], (unsigned long long)dims[1],
			     NB_VERIFY_INPUT_MAX_ELEMENTS);
		goto close_space;
	}
	ftype = H5Dget_type(data);
	st = nb_vf_input_type(ftype, words, where, &in->dtype, &memtype, in->type_desc,
			      sizeof(in->type_desc));
	H5Tclose(ftype);
	if (st != NB_OK)
		goto close_space;
	in->rows = (size_t)dims[0];
	in->cols = (size_t)dims[1];
	count = in->rows * in->cols;
	in->data = malloc(count * nb_dtype_traits[in->dtype].size);
	if (memtype == H5T_NATIVE_FLOAT && in->dtype != NB_DTYPE_F32)
		staging = malloc(count * sizeof(float));
	if (!in->data || (memtype == H5T_NATIVE_FLOAT && in->dtype != NB_DTYPE_F32 && !staging)) {
		st = nb_fail(NB_ERR_NOMEM, "no memory for %s (%zu elements)", where, count);
		goto free_staging;
	}
	if (H5Dread(data, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT,
		    staging ? staging : in->data) < 0) {
		st = nb_fail(NB_ERR_IO, "%s: cannot read the data", where);
		goto free_staging;
	}
	if (staging)
		nb_vf_pack16(in->dtype, staging, in->data, count);
	if (nb_vf_find_nonfinite(in, &at))
		st = nb_fail(NB_ERR_INVALID, "%s: row %zu, column %zu is not finite (%g); a "
			     "row with NaN or infinity has no accuracy to measure", where,
			     at / in->cols, at % in->cols, nb_dtype_load(in->dtype, in->data, at));
free_staging:
	free(staging);
close_space:
	if (space >= 0)
		H5Sclose(space);
	H5Dclose(data);
close_file:
	H5Fclose(file);
	if (st != NB_OK)
		nb_verify_input_free(in);
	return st;
}

/* Creates (with intermediate groups) and writes a dataset of f64 or f32. */
static enum nb_status nb_vf_write_array(hid_t loc, const char *name, hid_t filetype,
					hid_t memtype, int rank, const hsize_t *dims,
					const void *values)
{
	enum nb_status st = NB_OK;
	hid_t lcpl, space, data;

	lcpl = H5Pcreate(H5P_LINK_CREATE);
	if (lcpl < 0)
		return nb_fail(NB_ERR_IO, "HDF5 refused a link property list");
	H5Pset_create_intermediate_group(lcpl, 1);
	space = H5Screate_simple(rank, dims, NULL);
	if (space < 0) {
		st = nb_fail(NB_ERR_IO, "cannot make a dataspace for %s", name);
		goto close_lcpl;
	}
	data = H5Dcreate2(loc, name, filetype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
	if (data < 0) {
		st = nb_fail(NB_ERR_IO, "cannot create dataset %s", name);
		goto close_space;
	}
	if (H5Dwrite(data, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, values) < 0)
		st = nb_fail(NB_ERR_IO, "cannot write dataset %s", name);
	H5Dclose(data);
close_space:
	H5Sclose(space);
close_lcpl:
	H5Pclose(lcpl);
	return st;
}

enum nb_status nb_verify_write_dataset(const char *spec, enum nb_dtype dtype, size_t rows,
				       size_t cols, const void *data, const char *generator,
				       bool force)
{
	char path[4096], dset[1024], tmp[4200];
	hsize_t dims[2] = { rows, cols };
	enum nb_status st;
	hid_t file, obj;

	st = nb_verify_split_spec(spec, path, sizeof(path), dset, sizeof(dset));
	if (st != NB_OK)
		return st;
	if (dtype != NB_DTYPE_F32 && dtype != NB_DTYPE_F64)
		return nb_fail(NB_ERR_INVALID, "datasets are written as f32 or f64, not %s",
			       nb_dtype_traits[dtype].name);
	file = nb_vf_begin(path, force, tmp, sizeof(tmp));
	if (file < 0)
		return NB_ERR_IO;
	st = nb_vf_write_array(file, dset,
			       dtype == NB_DTYPE_F32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE,
			       dtype == NB_DTYPE_F32 ? H5T_NATIVE_FLOAT : H5T_NATIVE_DOUBLE,
			       2, dims, data);
	if (st == NB_OK) {
		obj = H5Oopen(file, dset, H5P_DEFAULT);
		if (obj < 0) {
			st = nb_fail(NB_ERR_IO, "cannot reopen %s", dset);
		} else {
			st = nb_vf_attr_str(obj, "generator", generator);
			if (st == NB_OK)
				st = nb_vf_attr_str(obj, "normbench_version", NB_VERSION);
			H5Oclose(obj);
		}
	}
	return nb_publish_h5(file, tmp, path, force, st);
}

enum nb_status nb_verify_dump_begin(const char *path, bool force, struct nb_verify_dump *d)
{
	memset(d, 0, sizeof(*d));
	d->file = -1;
	if (!path || strlen(path) >= sizeof(d->path))
		return nb_fail(NB_ERR_INVALID, "dump file name missing or too long");
	nb_vf_strcpy(d->path, sizeof(d->path), path);
	d->force = force;
	d->file = nb_vf_begin(path, force, d->tmp, sizeof(d->tmp));
	return d->file < 0 ? NB_ERR_IO : NB_OK;
}

/* /group, created when missing; the caller closes it. */
static hid_t nb_vf_dump_group(struct nb_verify_dump *d, const char *group)
{
	char name[512];

	snprintf(name, sizeof(name), "/%s", group);
	if (H5Lexists(d->file, name, H5P_DEFAULT) > 0)
		return H5Gopen2(d->file, name, H5P_DEFAULT);
	return H5Gcreate2(d->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
}

enum nb_status nb_verify_dump_array(struct nb_verify_dump *d, const char *group,
				    const char *name, size_t rows, size_t cols,
				    const double *values)
{
	hsize_t dims[2] = { rows, cols };
	enum nb_status st;
	hid_t g;

	if (d->file < 0)
		return nb_fail(NB_ERR_INVALID, "no dump file open");
	g = nb_vf_dump_group(d, group);
	if (g < 0)
		return nb_fail(NB_ERR_IO, "%s: cannot create group /%s", d->path, group);
	if (rows == 0)
		dims[0] = cols;
	st = nb_vf_write_array(g, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, rows ? 2 : 1,
			       dims, values);
	H5Gclose(g);
	return st;
}

enum nb_status nb_verify_dump_note(struct nb_verify_dump *d, const char *group,
				   const char *key, const char *value)
{
	enum nb_status st;
	hid_t g;

	if (d->file < 0)
		return nb_fail(NB_ERR_INVALID, "no dump file open");
	g = nb_vf_dump_group(d, group);
	if (g < 0)
		return nb_fail(NB_ERR_IO, "%s: cannot create group /%s", d->path, group);
	st = nb_vf_attr_str(g, key, value);
	H5Gclose(g);
	return st;
}

enum nb_status nb_verify_dump_commit(struct nb_verify_dump *d)
{
	enum nb_status st;

	if (d->file < 0)
		return nb_fail(NB_ERR_INVALID, "no dump file open");
	st = nb_publish_h5(d->file, d->tmp, d->path, d->force, NB_OK);
	d->file = -1;
	return st;
}

void nb_verify_dump_abort(struct nb_verify_dump *d)
{
	if (d->file >= 0) {
		H5Fclose(d->file);
		unlink(d->tmp);
	}
	d->file = -1;
}

enum nb_status nb_verify_read_input(const char *spec, enum nb_dtype words,
				    struct nb_verify_input *in)
{
	return nb_vf_read(spec, words, 2, in);
}

enum nb_status nb_verify_read_vector(const char *spec, enum nb_dtype words,
				     struct nb_verify_input *in)
{
	return nb_vf_read(spec, words, 1, in);
}
