/* The HDF5 results file: root attributes through the C API, the /bench
 * tables through the high-level table API (H5TB), atomic writes by rename,
 * and a reader that refuses damaged, foreign and other-version files. */
#include "bench/nb_results.h"
#include "bench/nb_h5io.h"
#include "bench/nb_publish.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5_hl.h>

/* ---- field descriptors: one list per table, shared by writer and reader -- */

/* the kinds of the checked readers (bench/nb_h5io.h) */
enum nb_ft {
	NB_FT_STR = NB_H5_STR, NB_FT_I32 = NB_H5_I32, NB_FT_U32 = NB_H5_U32,
	NB_FT_I64 = NB_H5_I64, NB_FT_U64 = NB_H5_U64, NB_FT_F64 = NB_H5_F64
};

struct nb_field {
	const char *name;
	size_t offset;
	size_t size;
	enum nb_ft kind;
	const char *unit;    /* recorded in the table's "units" attribute */
	/* added after schema 1 was first written: a file without it still
	 * reads, the field then holds def (integers) or "" (strings) */
	bool optional;
	int64_t def;
};

#define NB_FIELD(T, mem, kind, unit) \
	{ #mem, offsetof(struct T, mem), sizeof(((struct T *)0)->mem), kind, unit, false, 0 }
#define NB_FIELD_OPT(T, mem, kind, unit, def) \
	{ #mem, offsetof(struct T, mem), sizeof(((struct T *)0)->mem), kind, unit, true, def }

static const struct nb_field nb_cell_fields[] = {
	NB_FIELD(nb_cell_row, suite, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, variant, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, impl, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, isa, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, dtype, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, acc, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, dir, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, algo, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, cache, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, rows, NB_FT_U64, NULL),
	NB_FIELD(nb_cell_row, d, NB_FT_U64, "elements"),
	NB_FIELD(nb_cell_row, n, NB_FT_U64, "elements"),
	NB_FIELD(nb_cell_row, k, NB_FT_U64, "elements"),
	NB_FIELD(nb_cell_row, m, NB_FT_U64, "elements"),
	NB_FIELD(nb_cell_row, threads, NB_FT_I32, NULL),
	NB_FIELD(nb_cell_row, group, NB_FT_I32, NULL),
	NB_FIELD(nb_cell_row, samples, NB_FT_U32, NULL),
	NB_FIELD(nb_cell_row, first_sample, NB_FT_U64, NULL),
	NB_FIELD(nb_cell_row, iterations, NB_FT_U64, "calls per sample"),
	NB_FIELD(nb_cell_row, median_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, mean_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, min_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, max_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, q1_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, q3_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, iqr_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, ci_lo_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, ci_hi_s, NB_FT_F64, "s per call"),
	NB_FIELD(nb_cell_row, unstable, NB_FT_I32, NULL),
	NB_FIELD(nb_cell_row, bytes, NB_FT_F64, "bytes per call"),
	NB_FIELD(nb_cell_row, flops, NB_FT_F64, "flop per call"),
	NB_FIELD(nb_cell_row, working_set_bytes, NB_FT_F64, "bytes"),
	NB_FIELD(nb_cell_row, gbps, NB_FT_F64, "1e9 bytes/s"),
	NB_FIELD(nb_cell_row, gflops, NB_FT_F64, "1e9 flop/s"),
	NB_FIELD(nb_cell_row, limit_gbps, NB_FT_F64, "1e9 bytes/s"),
	NB_FIELD(nb_cell_row, fraction, NB_FT_F64, "gbps/limit_gbps"),
	NB_FIELD(nb_cell_row, verified, NB_FT_I32, NULL),
	NB_FIELD(nb_cell_row, max_ulps, NB_FT_F64, "ulps"),
	NB_FIELD(nb_cell_row, err_ratio, NB_FT_F64, "error/bound"),
	NB_FIELD(nb_cell_row, verify_note, NB_FT_STR, NULL),
	NB_FIELD(nb_cell_row, sde_calls, NB_FT_U64, "calls"),
	NB_FIELD(nb_cell_row, sde_rows, NB_FT_U64, "rows"),
	NB_FIELD(nb_cell_row, sde_bytes, NB_FT_U64, "bytes"),
	NB_FIELD_OPT(nb_cell_row, notes, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_cell_row, blas_routine, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_cell_row, oversubscribed, NB_FT_I32, NULL, -1),
	NB_FIELD_OPT(nb_cell_row, context, NB_FT_U64, "tokens", 0),
	NB_FIELD_OPT(nb_cell_row, side, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_cell_row, processes, NB_FT_I32, "worker processes", 1),
};

static const struct nb_field nb_sample_fields[] = {
	NB_FIELD(nb_sample_row, cell, NB_FT_U64, NULL),
	NB_FIELD(nb_sample_row, round, NB_FT_U32, NULL),
	NB_FIELD(nb_sample_row, seconds, NB_FT_F64, "s per call"),
	NB_FIELD(nb_sample_row, iterations, NB_FT_U64, "calls"),
	NB_FIELD(nb_sample_row, ctx_switches, NB_FT_I64, "count, -1 unavailable"),
	NB_FIELD(nb_sample_row, migrations, NB_FT_I64, "count, -1 unavailable"),
	NB_FIELD(nb_sample_row, page_faults, NB_FT_I64, "count, -1 unavailable"),
	NB_FIELD_OPT(nb_sample_row, procs_running, NB_FT_I32, "tasks, -1 unknown", -1),
	NB_FIELD_OPT(nb_sample_row, steal_ticks, NB_FT_I32, "USER_HZ ticks, -1 unknown", -1),
	NB_FIELD_OPT(nb_sample_row, process, NB_FT_I32, "worker process index", 0),
};

static const struct nb_field nb_counter_fields[] = {
	NB_FIELD(nb_counter_row, cell, NB_FT_U64, NULL),
	NB_FIELD(nb_counter_row, event, NB_FT_STR, NULL),
	NB_FIELD(nb_counter_row, available, NB_FT_I32, NULL),
	NB_FIELD(nb_counter_row, value, NB_FT_I64, "event count over all timed calls"),
	NB_FIELD(nb_counter_row, reason, NB_FT_STR, NULL),
};

static const struct nb_field nb_stream_fields[] = {
	NB_FIELD(nb_stream_row, threads, NB_FT_I32, NULL),
	NB_FIELD(nb_stream_row, level, NB_FT_STR, NULL),
	NB_FIELD(nb_stream_row, bytes, NB_FT_U64, "bytes per array"),
	NB_FIELD(nb_stream_row, level_bytes, NB_FT_U64, "bytes"),
	NB_FIELD(nb_stream_row, read_gbps, NB_FT_F64, "1e9 bytes/s"),
	NB_FIELD(nb_stream_row, copy_gbps, NB_FT_F64, "1e9 bytes/s"),
	NB_FIELD(nb_stream_row, copy_nt_gbps, NB_FT_F64, "1e9 bytes/s"),
	NB_FIELD(nb_stream_row, copy_nt_isa, NB_FT_STR, NULL),
	NB_FIELD_OPT(nb_stream_row, notes, NB_FT_STR, NULL, 0),
};

static const struct nb_field nb_cache_fields[] = {
	NB_FIELD(nb_cache_row, level, NB_FT_STR, NULL),
	NB_FIELD(nb_cache_row, os_bytes, NB_FT_U64, "bytes"),
	NB_FIELD(nb_cache_row, cpuid_bytes, NB_FT_U64, "bytes"),
	NB_FIELD(nb_cache_row, measured_bytes, NB_FT_U64, "bytes"),
	NB_FIELD(nb_cache_row, latency_ns, NB_FT_F64, "ns"),
};

#define NB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

struct nb_table {
	const char *name;    /* dataset under /bench */
	const char *title;
	size_t row_size;
	const struct nb_field *fields;
	size_t nfields;
	size_t rows_off;     /* offsetof(struct nb_results, <array>) */
	size_t count_off;    /* offsetof(struct nb_results, n<array>) */
};

static const struct nb_table nb_tables[] = {
	{ "cells", "normbench cells: one row per measured cell",
	  sizeof(struct nb_cell_row), nb_cell_fields, NB_ARRAY_LEN(nb_cell_fields),
	  offsetof(struct nb_results, cells), offsetof(struct nb_results, ncells) },
	{ "samples", "normbench raw samples, grouped by cell",
	  sizeof(struct nb_sample_row), nb_sample_fields, NB_ARRAY_LEN(nb_sample_fields),
	  offsetof(struct nb_results, samples), offsetof(struct nb_results, nsamples) },
	{ "counters", "normbench PAPI counters per cell",
	  sizeof(struct nb_counter_row), nb_counter_fields, NB_ARRAY_LEN(nb_counter_fields),
	  offsetof(struct nb_results, counters), offsetof(struct nb_results, ncounters) },
	{ "stream", "normbench STREAM-like bandwidth of this machine",
	  sizeof(struct nb_stream_row), nb_stream_fields, NB_ARRAY_LEN(nb_stream_fields),
	  offsetof(struct nb_results, stream), offsetof(struct nb_results, nstream) },
	{ "caches", "normbench cache levels of this machine",
	  sizeof(struct nb_cache_row), nb_cache_fields, NB_ARRAY_LEN(nb_cache_fields),
	  offsetof(struct nb_results, caches), offsetof(struct nb_results, ncaches) },
};

#define NB_META(mem, kind) NB_FIELD(nb_results_meta, mem, kind, NULL)

/* Root attributes except the stream_* arrays (handled beside). */
static const struct nb_field nb_meta_fields[] = {
	NB_META(schema_version, NB_FT_I32),
	NB_META(kind, NB_FT_STR),
	NB_META(complete, NB_FT_I32),
	NB_META(normbench_version, NB_FT_STR),
	NB_META(git_rev, NB_FT_STR),
	NB_META(git_dirty, NB_FT_I32),
	NB_META(utc_time, NB_FT_STR),
	NB_META(duration_s, NB_FT_F64),
	NB_META(host, NB_FT_STR),
	NB_META(os, NB_FT_STR),
	NB_META(cpu_model, NB_FT_STR),
	NB_META(cpu_flags, NB_FT_STR),
	NB_META(cores, NB_FT_I32),
	NB_META(caches, NB_FT_STR),
	NB_META(cache_method, NB_FT_STR),
	NB_META(virtualized, NB_FT_I32),
	NB_META(hypervisor, NB_FT_STR),
	NB_META(emulated, NB_FT_STR),
	NB_META(compiler, NB_FT_STR),
	NB_META(cflags, NB_FT_STR),
	NB_META(papi_version, NB_FT_STR),
	NB_META(hdf5_version, NB_FT_STR),
	NB_META(blas_version, NB_FT_STR),
	NB_META(openmp, NB_FT_STR),
	NB_META(thread_binding, NB_FT_STR),
	NB_META(isa_detected, NB_FT_STR),
	NB_META(isa_cap, NB_FT_STR),
	NB_META(command_line, NB_FT_STR),
	NB_META(preset, NB_FT_STR),
	NB_META(seed, NB_FT_U64),
	NB_META(eps, NB_FT_F64),
	NB_META(eps_mode, NB_FT_STR),
	NB_META(prms_p, NB_FT_F64),
	NB_META(prms_round, NB_FT_STR),
	NB_META(machine_key, NB_FT_STR),
	NB_META(timer, NB_FT_STR),
	NB_META(timer_resolution_ns, NB_FT_F64),
	NB_META(min_samples, NB_FT_I32),
	NB_META(warmup_ms, NB_FT_F64),
	NB_META(min_sample_ms, NB_FT_F64),
	NB_META(max_sample_ms, NB_FT_F64),
	NB_META(unstable_rule, NB_FT_STR),
	NB_META(perf_events, NB_FT_STR),
	NB_FIELD_OPT(nb_results_meta, notes_rule, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_results_meta, buffer_offset, NB_FT_I64, NULL, -1),
	NB_FIELD_OPT(nb_results_meta, blas_threading, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_results_meta, self_check, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_results_meta, processes, NB_FT_I32, NULL, 1),
	NB_FIELD_OPT(nb_results_meta, baseline, NB_FT_STR, NULL, 0),
	NB_FIELD_OPT(nb_results_meta, vendor_library, NB_FT_STR, NULL, 0),
};

/* ---- small helpers ---- */

void nb_results_quiet_hdf5(void)
{
	/* HDF5's own at-exit cleanup closes files again that a failed write
	 * (disk full) left half-closed, and crashes doing so (SIGSEGV in
	 * H5F__close_cb, HDF5 1.10): every normbench file is closed explicitly,
	 * so skip it. Only effective before the library initialises: the
	 * first HDF5 call of every path comes through here. */
	H5dont_atexit();
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void nb_res_strcpy(char *dst, size_t size, const char *src)
{
	if (size == 0)
		return;
	snprintf(dst, size, "%s", src ? src : "");
}

void nb_results_init(struct nb_results *r)
{
	memset(r, 0, sizeof(*r));
	r->meta.schema_version = NB_RESULTS_SCHEMA_VERSION;
	nb_res_strcpy(r->meta.kind, sizeof(r->meta.kind), "run");
	r->meta.buffer_offset = -1;
	r->meta.processes = 1;
}

void nb_results_free(struct nb_results *r)
{
	free(r->cells);
	free(r->samples);
	free(r->counters);
	free(r->stream);
	free(r->caches);
	nb_results_init(r);
}

/* Appends row (size bytes) to the array at *rows holding *count rows;
 * capacity doubles, tracked implicitly as the next power of two. */
static enum nb_status nb_append(void **rows, size_t *count, size_t size, const void *row)
{
	size_t n = *count;

	/* grow when n is zero or a power of two: the capacity is the smallest
	 * power of two >= n */
	if (n == 0 || (n & (n - 1)) == 0) {
		size_t cap = n == 0 ? 1 : 2 * n;
		void *p;

		if (cap > SIZE_MAX / size)
			return nb_fail(NB_ERR_NOMEM, "results table too large");
		p = realloc(*rows, cap * size);
		if (!p)
			return nb_fail(NB_ERR_NOMEM, "no memory for a results row");
		*rows = p;
	}
	memcpy((char *)*rows + n * size, row, size);
	*count = n + 1;
	return NB_OK;
}

enum nb_status nb_results_add_cell(struct nb_results *r, const struct nb_cell_row *c)
{
	return nb_append((void **)&r->cells, &r->ncells, sizeof(*c), c);
}

enum nb_status nb_results_add_sample(struct nb_results *r, const struct nb_sample_row *s)
{
	return nb_append((void **)&r->samples, &r->nsamples, sizeof(*s), s);
}

enum nb_status nb_results_add_counter(struct nb_results *r, const struct nb_counter_row *c)
{
	return nb_append((void **)&r->counters, &r->ncounters, sizeof(*c), c);
}

enum nb_status nb_results_add_stream(struct nb_results *r, const struct nb_stream_row *s)
{
	return nb_append((void **)&r->stream, &r->nstream, sizeof(*s), s);
}

enum nb_status nb_results_add_cache(struct nb_results *r, const struct nb_cache_row *c)
{
	return nb_append((void **)&r->caches, &r->ncaches, sizeof(*c), c);
}

const struct nb_sample_row *nb_results_cell_samples(const struct nb_results *r, size_t i,
						    size_t *count)
{
	const struct nb_cell_row *c;

	*count = 0;
	if (i >= r->ncells)
		return NULL;
	c = &r->cells[i];
	if (c->samples == 0 || c->first_sample + c->samples > r->nsamples)
		return NULL;
	*count = c->samples;
	return &r->samples[c->first_sample];
}

char *nb_results_cell_key(const struct nb_cell_row *c, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s/%s/%s/%s/%s/%llux%llu/t%d/%s", c->suite, c->variant,
			 c->impl, c->dtype, c->dir, (unsigned long long)c->rows,
			 (unsigned long long)c->d, (int)c->threads, c->cache);

	/* a decode cell's KV-cache context is part of what it measures */
	if (c->context && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, "/ctx%llu", (unsigned long long)c->context);
	return buf;
}

/* The HDF5 type of one field (a new id the caller closes). */
static hid_t nb_field_type(const struct nb_field *f)
{
	hid_t t;

	switch (f->kind) {
	case NB_FT_STR:
		t = H5Tcopy(H5T_C_S1);
		if (t < 0)
			return t;
		if (H5Tset_size(t, f->size) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
			H5Tclose(t);
			return -1;
		}
		return t;
	case NB_FT_I32:
		return H5Tcopy(H5T_NATIVE_INT32);
	case NB_FT_U32:
		return H5Tcopy(H5T_NATIVE_UINT32);
	case NB_FT_I64:
		return H5Tcopy(H5T_NATIVE_INT64);
	case NB_FT_U64:
		return H5Tcopy(H5T_NATIVE_UINT64);
	case NB_FT_F64:
		return H5Tcopy(H5T_NATIVE_DOUBLE);
	}
	return -1;
}

/* ---- writing ---- */

/* A fixed-length UTF-8 string attribute (no global heap: a fixed string is
 * stored in the object header, which carries a checksum). */
static int nb_write_string_attr(hid_t loc, const char *name, const char *value)
{
	hid_t type = H5Tcopy(H5T_C_S1);
	hid_t space = H5Screate(H5S_SCALAR);
	hid_t attr = -1;
	int rc = -1;

	if (type < 0 || space < 0 || H5Tset_size(type, strlen(value) + 1) < 0 ||
	    H5Tset_strpad(type, H5T_STR_NULLTERM) < 0 || H5Tset_cset(type, H5T_CSET_UTF8) < 0)
		goto close;
	attr = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0)
		goto close;
	if (H5Awrite(attr, type, value) < 0)
		goto close;
	rc = 0;
close:
	if (attr >= 0)
		H5Aclose(attr);
	if (space >= 0)
		H5Sclose(space);
	if (type >= 0)
		H5Tclose(type);
	return rc;
}

/* A numeric attribute of count elements (count 0: an empty 1-d array). */
static int nb_write_num_attr(hid_t loc, const char *name, hid_t memtype, const void *data,
			     size_t count, bool scalar)
{
	hsize_t dims[1] = { count };
	hid_t space = scalar ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, dims, NULL);
	hid_t attr = -1;
	int rc = -1;

	if (space < 0)
		return -1;
	attr = H5Acreate2(loc, name, memtype, space, H5P_DEFAULT, H5P_DEFAULT);
	if (attr < 0)
		goto close;
	if ((scalar || count > 0) && H5Awrite(attr, memtype, data) < 0)
		goto close;
	rc = 0;
close:
	if (attr >= 0)
		H5Aclose(attr);
	H5Sclose(space);
	return rc;
}

static int nb_write_meta(hid_t file, const struct nb_results_meta *m)
{
	size_t ns = m->stream_count < 0 ? 0
		: (size_t)(m->stream_count > NB_RES_MAX_STREAM ? NB_RES_MAX_STREAM
			   : m->stream_count);
	int stream_count = (int)ns;

	for (size_t i = 0; i < NB_ARRAY_LEN(nb_meta_fields); i++) {
		const struct nb_field *f = &nb_meta_fields[i];
		const char *p = (const char *)m + f->offset;
		int rc;

		if (f->kind == NB_FT_STR) {
			char buf[NB_RES_LONG];
			/* the struct field may lack its NUL if filled by memcpy */
			snprintf(buf, sizeof(buf), "%.*s", (int)f->size, p);
			rc = nb_write_string_attr(file, f->name, buf);
		} else {
			hid_t t = nb_field_type(f);
			if (t < 0)
				return -1;
			rc = nb_write_num_attr(file, f->name, t, p, 1, true);
			H5Tclose(t);
		}
		if (rc < 0)
			return -1;
	}
	if (nb_write_num_attr(file, "stream_count", H5T_NATIVE_INT, &stream_count, 1, true) < 0 ||
	    nb_write_num_attr(file, "stream_threads", H5T_NATIVE_INT, m->stream_threads, ns,
			      false) < 0 ||
	    nb_write_num_attr(file, "stream_read_gbps", H5T_NATIVE_DOUBLE, m->stream_read_gbps,
			      ns, false) < 0 ||
	    nb_write_num_attr(file, "stream_copy_gbps", H5T_NATIVE_DOUBLE, m->stream_copy_gbps,
			      ns, false) < 0 ||
	    nb_write_num_attr(file, "stream_copy_nt_gbps", H5T_NATIVE_DOUBLE,
			      m->stream_copy_nt_gbps, ns, false) < 0)
		return -1;
	return 0;
}

/* "field=unit; field=unit" for the fields that have a unit. */
static void nb_units_string(const struct nb_table *t, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < t->nfields; i++) {
		int w;

		if (!t->fields[i].unit)
			continue;
		w = snprintf(buf + used, size - used, "%s%s=%s", used ? "; " : "",
			     t->fields[i].name, t->fields[i].unit);
		if (w < 0 || (size_t)w >= size - used)
			break;
		used += (size_t)w;
	}
}

static int nb_write_table(hid_t group, const struct nb_table *t, const void *rows,
			  size_t count)
{
	const char *names[64];
	size_t offsets[64];
	hid_t types[64];
	size_t made = 0;
	hsize_t chunk = count < 1024 ? 1024 : 4096;
	char units[2048];
	hid_t dset;
	int rc = -1;

	if (t->nfields > NB_ARRAY_LEN(names))
		return -1;
	for (; made < t->nfields; made++) {
		names[made] = t->fields[made].name;
		offsets[made] = t->fields[made].offset;
		types[made] = nb_field_type(&t->fields[made]);
		if (types[made] < 0)
			goto close;
	}
	/* compress: the samples table shrinks a lot; h5py and h5dump read it */
	if (H5TBmake_table(t->title, group, t->name, t->nfields, count, t->row_size, names,
			   offsets, types, chunk, NULL, 1, count ? rows : NULL) < 0)
		goto close;
	nb_units_string(t, units, sizeof(units));
	dset = H5Dopen2(group, t->name, H5P_DEFAULT);
	if (dset < 0)
		goto close;
	rc = nb_write_string_attr(dset, "units", units);
	H5Dclose(dset);
close:
	for (size_t i = 0; i < made; i++)
		if (types[i] >= 0)
			H5Tclose(types[i]);
	return rc;
}

enum nb_status nb_results_write(const char *path, const struct nb_results *r, bool force)
{
	char tmp[PATH_MAX];
	hid_t fapl = -1, file = -1, group = -1;
	enum nb_status st = NB_OK;

	nb_results_quiet_hdf5();
	if (!path || !*path)
		return nb_fail(NB_ERR_INVALID, "no output file name");
	if (!force && access(path, F_OK) == 0)
		return nb_fail(NB_ERR_IO, "%s exists (use --force to replace it)", path);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
		return nb_fail(NB_ERR_INVALID, "output file name too long");

	fapl = nb_h5_fapl(true);
	if (fapl < 0)
		return nb_fail(NB_ERR_IO, "HDF5 refused a file access property list");
	file = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
	if (file < 0) {
		st = nb_fail(NB_ERR_IO, "cannot create %s (is the directory writable?)", tmp);
		goto close_fapl;
	}
	if (nb_write_meta(file, &r->meta) < 0) {
		st = nb_fail(NB_ERR_IO, "cannot write the root attributes of %s", tmp);
		goto close_file;
	}
	group = H5Gcreate2(file, "bench", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (group < 0) {
		st = nb_fail(NB_ERR_IO, "cannot create /bench in %s", tmp);
		goto close_file;
	}
	for (size_t i = 0; i < NB_ARRAY_LEN(nb_tables); i++) {
		const struct nb_table *t = &nb_tables[i];
		const void *rows = *(void *const *)((const char *)r + t->rows_off);
		size_t count = *(const size_t *)((const char *)r + t->count_off);

		if (nb_write_table(group, t, rows, count) < 0) {
			st = nb_fail(NB_ERR_IO, "cannot write /bench/%s in %s", t->name, tmp);
			goto close_group;
		}
	}
close_group:
	H5Gclose(group);
close_file:
	st = nb_publish_h5(file, tmp, path, force, st);
close_fapl:
	H5Pclose(fapl);
	return st;
}

/* ---- reading: every read goes through the checked readers of nb_h5io ---- */

/* The checked readers' description of a field list. */
static enum nb_status nb_columns(const struct nb_field *f, size_t n, struct nb_h5_column *cols)
{
	if (n > NB_H5_MAX_COLUMNS)
		return nb_fail(NB_ERR_INVALID, "a results table has more than %d fields",
			       NB_H5_MAX_COLUMNS);
	for (size_t i = 0; i < n; i++)
		cols[i] = (struct nb_h5_column){ f[i].name, f[i].offset, f[i].size,
						 (enum nb_h5_kind)f[i].kind, f[i].optional,
						 f[i].def };
	return NB_OK;
}

static enum nb_status nb_read_meta(hid_t file, const char *path, struct nb_results_meta *m)
{
	static const char *const arrays[] = { "stream_threads", "stream_read_gbps",
					      "stream_copy_gbps", "stream_copy_nt_gbps" };
	void *const dst[] = { m->stream_threads, m->stream_read_gbps, m->stream_copy_gbps,
			      m->stream_copy_nt_gbps };
	struct nb_h5_column c[NB_H5_MAX_COLUMNS];
	enum nb_status st = nb_columns(nb_meta_fields, NB_ARRAY_LEN(nb_meta_fields), c);
	int stream_count = 0;

	for (size_t i = 0; i < NB_ARRAY_LEN(nb_meta_fields) && st == NB_OK; i++) {
		char *p = (char *)m + c[i].offset;

		if (c[i].optional && !nb_h5_has_attr(file, c[i].name))
			nb_h5_column_default(&c[i], p);
		else if (c[i].kind == NB_H5_STR)
			st = nb_h5_read_string_attr(file, c[i].name, p, c[i].size);
		else
			st = nb_h5_read_scalar_attr(file, c[i].name, c[i].kind, p);
	}
	if (st == NB_OK)
		st = nb_h5_read_scalar_attr(file, "stream_count", NB_H5_I32, &stream_count);
	if (st == NB_OK && (stream_count < 0 || stream_count > NB_RES_MAX_STREAM))
		st = nb_fail(NB_ERR_IO, "attribute 'stream_count' is %d, outside 0..%d",
			     stream_count, NB_RES_MAX_STREAM);
	for (size_t i = 0; i < NB_ARRAY_LEN(arrays) && st == NB_OK; i++) {
		size_t n = 0;
		st = nb_h5_read_number_attr(file, arrays[i], i ? NB_H5_F64 : NB_H5_I32, dst[i],
					    NB_RES_MAX_STREAM, &n);
		if (st == NB_OK && n != (size_t)stream_count)
			st = nb_fail(NB_ERR_IO, "attribute '%s' has %zu values, stream_count "
				     "says %d", arrays[i], n, stream_count);
	}
	if (st != NB_OK)
		return nb_fail(NB_ERR_IO, "%s is damaged: root %s", path, nb_error());
	m->stream_count = stream_count;
	return NB_OK;
}

static enum nb_status nb_read_table(hid_t group, const char *path, const struct nb_table *t,
				    void **rows_out, size_t *count_out)
{
	struct nb_h5_column c[NB_H5_MAX_COLUMNS];
	enum nb_status st = nb_columns(t->fields, t->nfields, c);

	if (st == NB_OK)
		st = nb_h5_read_table(group, t->name, c, t->nfields, t->row_size, rows_out,
				      count_out);
	if (st != NB_OK)
		return nb_fail(st, "%s is damaged: /bench/%s", path, nb_error());
	return NB_OK;
}

/* A time in seconds a reader can divide by. */
static bool nb_time_ok(double s)
{
	return isfinite(s) && s > 0;
}

/* The values must be ones normbench can have written: a reader then never
 * divides by zero, prints NaN speedups or loops over a count of threads 0. */
static enum nb_status nb_check_values(const struct nb_results *r, const char *path)
{
	const struct nb_results_meta *m = &r->meta;
	const double meta_nonneg[] = { m->duration_s, m->timer_resolution_ns, m->warmup_ms,
				       m->min_sample_ms, m->max_sample_ms, m->eps, m->prms_p };

	for (size_t i = 0; i < NB_ARRAY_LEN(meta_nonneg); i++)
		if (!isfinite(meta_nonneg[i]) || meta_nonneg[i] < 0)
			return nb_fail(NB_ERR_IO, "%s is damaged: a root attribute holds %g "
				       "(negative or not finite)", path, meta_nonneg[i]);
	if (m->complete != 0 && m->complete != 1)
		return nb_fail(NB_ERR_IO, "%s is damaged: root attribute 'complete' is %d",
			       path, m->complete);
	for (int i = 0; i < m->stream_count; i++)
		if (m->stream_threads[i] < 1 || !isfinite(m->stream_read_gbps[i]) ||
		    !isfinite(m->stream_copy_gbps[i]) || !isfinite(m->stream_copy_nt_gbps[i]))
			return nb_fail(NB_ERR_IO, "%s is damaged: STREAM entry %d holds a "
				       "thread count < 1 or a value that is not finite", path, i);
	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		if (c->threads < 1)
			return nb_fail(NB_ERR_IO, "%s is damaged: cell %zu has %d threads", path,
				       i, (int)c->threads);
		if (!isfinite(c->median_s) || c->median_s < 0)
			return nb_fail(NB_ERR_IO, "%s is damaged: cell %zu has a median time of "
				       "%g s", path, i, c->median_s);
	}
	for (size_t i = 0; i < r->nsamples; i++) {
		const struct nb_sample_row *s = &r->samples[i];
		if (!nb_time_ok(s->seconds))
			return nb_fail(NB_ERR_IO, "%s is damaged: sample %zu lasted %g s (a time "
				       "must be finite and > 0)", path, i, s->seconds);
		if (s->iterations < 1)
			return nb_fail(NB_ERR_IO, "%s is damaged: sample %zu has 0 iterations",
				       path, i);
	}
	return NB_OK;
}

/* Cross-references between the tables must hold, or the file lies. */
static enum nb_status nb_check_links(const struct nb_results *r, const char *path)
{
	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		if (c->first_sample > r->nsamples || c->samples > r->nsamples - c->first_sample)
			return nb_fail(NB_ERR_IO, "%s is damaged: cell %zu points past the "
				       "samples table", path, i);
		for (size_t j = 0; j < c->samples; j++)
			if (r->samples[c->first_sample + j].cell != i)
				return nb_fail(NB_ERR_IO, "%s is damaged: samples of cell %zu "
					       "are not where the cell says", path, i);
	}
	for (size_t i = 0; i < r->nsamples; i++)
		if (r->samples[i].cell >= r->ncells)
			return nb_fail(NB_ERR_IO, "%s is damaged: sample %zu names cell %llu",
				       path, i, (unsigned long long)r->samples[i].cell);
	for (size_t i = 0; i < r->ncounters; i++)
		if (r->counters[i].cell >= r->ncells)
			return nb_fail(NB_ERR_IO, "%s is damaged: counter %zu names cell %llu",
				       path, i, (unsigned long long)r->counters[i].cell);
	return nb_check_values(r, path);
}

/* Opens path read-only after telling a missing, non-HDF5 and damaged file
 * apart; checks the schema version and kind. Returns the file id or -1. */
static hid_t nb_open_checked(const char *path)
{
	hid_t file = nb_h5_open_readonly(path);
	char kind[NB_RES_SHORT] = "";
	int version = 0;
	enum nb_status st;

	if (file < 0)
		return -1;
	st = nb_h5_read_scalar_attr(file, "schema_version", NB_H5_I32, &version);
	if (st == NB_ERR_NOTFOUND)
		nb_fail(NB_ERR_IO, "%s is not a normbench results file (no schema_version "
			"attribute)", path);
	else if (st != NB_OK)
		nb_fail(NB_ERR_IO, "%s is damaged: root %s", path, nb_error());
	else if (version != NB_RESULTS_SCHEMA_VERSION)
		st = nb_fail(NB_ERR_IO, "%s has results schema version %d; this normbench "
			     "reads version %d", path, version, NB_RESULTS_SCHEMA_VERSION);
	else if (nb_h5_has_attr(file, "kind") &&
		 nb_h5_read_string_attr(file, "kind", kind, sizeof(kind)) == NB_OK &&
		 strcmp(kind, "run") != 0)
		st = nb_fail(NB_ERR_IO, "%s is a '%s' file, not the results of 'normbench "
			     "run'", path, kind);
	if (st != NB_OK) {
		H5Fclose(file);
		return -1;
	}
	return file;
}

enum nb_status nb_results_read(const char *path, struct nb_results *r)
{
	hid_t file, group;
	enum nb_status st;

	nb_results_quiet_hdf5();
	nb_results_init(r);
	if (!path || !*path)
		return nb_fail(NB_ERR_INVALID, "no results file given");
	file = nb_open_checked(path);
	if (file < 0)
		return NB_ERR_IO;
	st = nb_read_meta(file, path, &r->meta);
	if (st != NB_OK)
		goto close_file;
	group = H5Lexists(file, "bench", H5P_DEFAULT) > 0 ?
		H5Gopen2(file, "bench", H5P_DEFAULT) : -1;
	if (group < 0) {
		st = nb_fail(NB_ERR_IO, "%s is damaged: no /bench group", path);
		goto close_file;
	}
	for (size_t i = 0; i < NB_ARRAY_LEN(nb_tables) && st == NB_OK; i++) {
		const struct nb_table *t = &nb_tables[i];
		st = nb_read_table(group, path, t, (void **)((char *)r + t->rows_off),
				   (size_t *)((char *)r + t->count_off));
	}
	H5Gclose(group);
	if (st == NB_OK)
		st = nb_check_links(r, path);
	if (st == NB_OK)
		r->has_verify = H5Lexists(file, "verify", H5P_DEFAULT) > 0;
close_file:
	if (H5Fclose(file) < 0 && st == NB_OK)
		st = nb_fail(NB_ERR_IO, "%s is damaged: HDF5 failed to close it", path);
	return st;
}

/* ---- CSV ---- */

const char *nb_results_table_name(size_t i)
{
	return i < NB_ARRAY_LEN(nb_tables) ? nb_tables[i].name : NULL;
}

static const struct nb_table *nb_table_named(const char *name)
{
	for (size_t i = 0; i < NB_ARRAY_LEN(nb_tables); i++)
		if (name && strcmp(nb_tables[i].name, name) == 0)
			return &nb_tables[i];
	return NULL;
}

enum nb_status nb_results_table_rows(const struct nb_results *r, const char *table,
				     size_t *rows)
{
	const struct nb_table *t = nb_table_named(table);

	if (!t)
		return nb_fail(NB_ERR_NOTFOUND, "no table '%s' in /bench", table ? table : "");
	*rows = *(const size_t *)((const char *)r + t->count_off);
	return NB_OK;
}

static void nb_csv_string(FILE *out, const char *s, size_t max)
{
	size_t len = strnlen(s, max);

	if (strcspn(s, ",\"\r\n") >= len && len > 0 && s[0] != ' ' && s[len - 1] != ' ') {
		fwrite(s, 1, len, out);
		return;
	}
	fputc('"', out);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"')
			fputc('"', out);
		fputc(s[i], out);
	}
	fputc('"', out);
}

static void nb_csv_field(FILE *out, const struct nb_field *f, const char *p)
{
	switch (f->kind) {
	case NB_FT_STR: nb_csv_string(out, p, f->size); break;
	case NB_FT_I32: { int32_t v; memcpy(&v, p, sizeof(v)); fprintf(out, "%d", (int)v); break; }
	case NB_FT_U32: { uint32_t v; memcpy(&v, p, sizeof(v)); fprintf(out, "%u", (unsigned)v); break; }
	case NB_FT_I64: { int64_t v; memcpy(&v, p, sizeof(v)); fprintf(out, "%lld", (long long)v); break; }
	case NB_FT_U64: { uint64_t v; memcpy(&v, p, sizeof(v));
		fprintf(out, "%llu", (unsigned long long)v); break; }
	case NB_FT_F64: { double v; memcpy(&v, p, sizeof(v)); fprintf(out, "%.17g", v); break; }
	}
}

enum nb_status nb_results_write_csv(const struct nb_results *r, const char *table, FILE *out)
{
	const struct nb_table *t = nb_table_named(table);
	const char *rows;
	size_t count;

	if (!t)
		return nb_fail(NB_ERR_NOTFOUND, "no table '%s' in /bench", table ? table : "");
	rows = *(const char *const *)((const char *)r + t->rows_off);
	count = *(const size_t *)((const char *)r + t->count_off);
	for (size_t f = 0; f < t->nfields; f++)
		fprintf(out, "%s%s", f ? "," : "", t->fields[f].name);
	fputc('\n', out);
	for (size_t i = 0; i < count; i++) {
		const char *row = rows + i * t->row_size;
		for (size_t f = 0; f < t->nfields; f++) {
			if (f)
				fputc(',', out);
			nb_csv_field(out, &t->fields[f], row + t->fields[f].offset);
		}
		fputc('\n', out);
	}
	if (ferror(out))
		return nb_fail(NB_ERR_IO, "cannot write the CSV of /bench/%s", t->name);
	return NB_OK;
}

enum nb_status nb_results_write_meta_csv(const struct nb_results *r, FILE *out)
{
	const struct nb_results_meta *m = &r->meta;
	int ns = m->stream_count < 0 ? 0
		: m->stream_count > NB_RES_MAX_STREAM ? NB_RES_MAX_STREAM : m->stream_count;

	fprintf(out, "attribute,value\n");
	for (size_t i = 0; i < NB_ARRAY_LEN(nb_meta_fields); i++) {
		fprintf(out, "%s,", nb_meta_fields[i].name);
		nb_csv_field(out, &nb_meta_fields[i], (const char *)m + nb_meta_fields[i].offset);
		fputc('\n', out);
	}
	fprintf(out, "stream_count,%d\n", ns);
	fprintf(out, "stream_threads,");
	for (int i = 0; i < ns; i++)
		fprintf(out, "%s%d", i ? " " : "", m->stream_threads[i]);
	fprintf(out, "\nstream_read_gbps,");
	for (int i = 0; i < ns; i++)
		fprintf(out, "%s%.17g", i ? " " : "", m->stream_read_gbps[i]);
	fprintf(out, "\nstream_copy_gbps,");
	for (int i = 0; i < ns; i++)
		fprintf(out, "%s%.17g", i ? " " : "", m->stream_copy_gbps[i]);
	fprintf(out, "\nstream_copy_nt_gbps,");
	for (int i = 0; i < ns; i++)
		fprintf(out, "%s%.17g", i ? " " : "", m->stream_copy_nt_gbps[i]);
	fputc('\n', out);
	if (ferror(out))
		return nb_fail(NB_ERR_IO, "cannot write the CSV of the root attributes");
	return NB_OK;
}

/* ---- updating in place, atomically ---- */

static enum nb_status nb_copy_file(const char *src, const char *dst)
{
	char buf[1 << 16];
	int in = open(src, O_RDONLY | O_CLOEXEC);
	int out;
	enum nb_status st = NB_OK;

	if (in < 0)
		return nb_fail(NB_ERR_IO, "cannot open %s: %s", src, strerror(errno));
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (out < 0) {
		st = nb_fail(NB_ERR_IO, "cannot create %s: %s", dst, strerror(errno));
		goto close_in;
	}
	for (;;) {
		ssize_t got = read(in, buf, sizeof(buf));
		if (got == 0)
			break;
		if (got < 0) {
			if (errno == EINTR)
				continue;
			st = nb_fail(NB_ERR_IO, "cannot read %s: %s", src, strerror(errno));
			break;
		}
		for (ssize_t off = 0; off < got;) {
			ssize_t put = write(out, buf + off, (size_t)(got - off));
			if (put < 0) {
				if (errno == EINTR)
					continue;
				st = nb_fail(NB_ERR_IO, "cannot write %s: %s", dst,
					     strerror(errno));
				goto close_out;
			}
			off += put;
		}
	}
close_out:
	if (close(out) != 0 && st == NB_OK)
		st = nb_fail(NB_ERR_IO, "cannot write %s: %s", dst, strerror(errno));
	if (st != NB_OK)
		unlink(dst);
close_in:
	close(in);
	return st;
}

enum nb_status nb_results_update_begin(const char *path, struct nb_results_update *u)
{
	struct nb_results check;
	enum nb_status st;
	hid_t fapl;

	nb_results_quiet_hdf5();
	u->file = -1;
	u->tmp[0] = '\0';
	if (!path || snprintf(u->path, sizeof(u->path), "%s", path) >= (int)sizeof(u->path))
		return nb_fail(NB_ERR_INVALID, "results file name missing or too long");
	st = nb_results_read(path, &check);
	nb_results_free(&check);
	if (st != NB_OK)
		return st;
	snprintf(u->tmp, sizeof(u->tmp), "%s.tmp.%ld", path, (long)getpid());
	st = nb_copy_file(path, u->tmp);
	if (st != NB_OK) {
		u->tmp[0] = '\0';
		return st;
	}
	fapl = nb_h5_fapl(true);
	u->file = fapl < 0 ? -1 : H5Fopen(u->tmp, H5F_ACC_RDWR, fapl);
	if (fapl >= 0)
		H5Pclose(fapl);
	if (u->file < 0) {
		unlink(u->tmp);
		u->tmp[0] = '\0';
		return nb_fail(NB_ERR_IO, "cannot open a copy of %s for writing", path);
	}
	return NB_OK;
}

enum nb_status nb_results_update_commit(struct nb_results_update *u)
{
	enum nb_status st = NB_OK;

	if (u->file < 0 || !u->tmp[0])
		return nb_fail(NB_ERR_INVALID, "no update in progress");
	st = nb_publish_h5(u->file, u->tmp, u->path, true, st);
	u->file = -1;
	u->tmp[0] = '\0';
	return st;
}

void nb_results_update_abort(struct nb_results_update *u)
{
	if (u->file >= 0)
		H5Fclose(u->file);
	u->file = -1;
	if (u->tmp[0])
		unlink(u->tmp);
	u->tmp[0] = '\0';
}

enum nb_status nb_results_make_parent_dirs(const char *path)
{
	return nb_make_parent_dirs(path);
}
