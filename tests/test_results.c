/* The HDF5 results file: every field survives a write/read round trip, the
 * write is atomic and never clobbers, damaged / foreign / other-version files
 * are refused with a message, updates are atomic, CSV reads back exactly,
 * and the sweep parsers and cost model behave as documented. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hdf5_hl.h>

#include "bench/nb_results.h"
#include "bench/nb_sweep.h"
#include "tests/nb_test.h"

/* Every member of each struct, strings and numbers apart: the round trip
 * compares each member byte for byte. */
#define NB_META_STR(X) X(kind) X(normbench_version) X(git_rev) X(utc_time) X(host) \
	X(os) X(cpu_model) X(cpu_flags) X(caches) X(cache_method) X(hypervisor) X(emulated) \
	X(compiler) X(cflags) X(papi_version) X(hdf5_version) X(blas_version) X(openmp) \
	X(thread_binding) X(isa_detected) X(isa_cap) X(command_line) X(preset) \
	X(eps_mode) X(prms_round) X(machine_key) X(timer) X(unstable_rule) X(perf_events) \
	X(notes_rule)
#define NB_META_NUM(X) X(complete) X(git_dirty) X(duration_s) X(cores) X(virtualized) \
	X(seed) X(eps) X(prms_p) X(timer_resolution_ns) X(min_samples) X(warmup_ms) \
	X(min_sample_ms) X(max_sample_ms) X(buffer_offset)
#define NB_CELL_STR(X) X(suite) X(variant) X(impl) X(isa) X(dtype) X(acc) X(dir) \
	X(algo) X(cache) X(verify_note) X(notes)
#define NB_CELL_NUM(X) X(rows) X(d) X(n) X(k) X(m) X(threads) X(group) X(iterations) \
	X(median_s) X(mean_s) X(min_s) X(max_s) X(q1_s) X(q3_s) X(iqr_s) X(ci_lo_s) \
	X(ci_hi_s) X(unstable) X(bytes) X(flops) X(working_set_bytes) X(gbps) X(gflops) \
	X(limit_gbps) X(fraction) X(verified) X(max_ulps) X(err_ratio) X(sde_calls) \
	X(sde_rows) X(sde_bytes)
#define NB_SAMPLE_NUM(X) X(round) X(seconds) X(iterations) X(ctx_switches) \
	X(migrations) X(page_faults) X(procs_running) X(steal_ticks)
#define NB_COUNTER_STR(X) X(event) X(reason)
#define NB_COUNTER_NUM(X) X(available) X(value)
#define NB_STREAM_STR(X) X(level) X(copy_nt_isa) X(notes)
#define NB_STREAM_NUM(X) X(threads) X(bytes) X(level_bytes) X(read_gbps) X(copy_gbps) \
	X(copy_nt_gbps)
#define NB_CACHE_STR(X) X(level)
#define NB_CACHE_NUM(X) X(os_bytes) X(cpuid_bytes) X(measured_bytes) X(latency_ns)

/* Strings fill their whole width (the last byte is the NUL), so a cut or
 * an off-by-one in the fixed-size HDF5 strings shows; numbers get distinct
 * values (k + 0.25: integers keep k, doubles the fraction too). */
static void nb_fill_str(char *s, size_t size, const char *name, int salt)
{
	for (size_t i = 0; i + 1 < size; i++)
		s[i] = (char)('a' + (name[i % strlen(name)] + salt + (int)i) % 26);
	s[size - 1] = '\0';
}

#define SET_STR(f) nb_fill_str(o->f, sizeof(o->f), #f, salt);
#define SET_NUM(f) o->f = (double)(++k) + 0.25 + salt;
#define CMP(f) ck_assert_msg(memcmp(&a->f, &b->f, sizeof(a->f)) == 0, "field %s differs", #f);

static void nb_fill_meta(struct nb_results_meta *o, int salt)
{
	int k = 0;
	NB_META_STR(SET_STR)
	NB_META_NUM(SET_NUM)
	o->schema_version = NB_RESULTS_SCHEMA_VERSION;
	memset(o->kind, 0, sizeof(o->kind));
	memcpy(o->kind, "run", 4);
	o->stream_count = 3;
	for (int i = 0; i < 3; i++) {
		o->stream_threads[i] = i + 1;
		o->stream_read_gbps[i] = 10.5 + i;
		o->stream_copy_gbps[i] = 20.25 + i;
		o->stream_copy_nt_gbps[i] = 30.125 + i;
	}
}

static void nb_cmp_meta(const struct nb_results_meta *a, const struct nb_results_meta *b)
{
	NB_META_STR(CMP)
	NB_META_NUM(CMP)
	CMP(schema_version)
	CMP(stream_count)
	for (int i = 0; i < a->stream_count; i++) {
		CMP(stream_threads[i])
		CMP(stream_read_gbps[i])
		CMP(stream_copy_gbps[i])
		CMP(stream_copy_nt_gbps[i])
	}
}

/* A run of ncells cells with 3 samples and 2 counters each, 2 STREAM rows
 * and 4 cache rows, every field set. */
static void nb_make_results(struct nb_results *r, size_t ncells)
{
	nb_results_init(r);
	nb_fill_meta(&r->meta, 0);
	for (size_t i = 0; i < ncells; i++) {
		struct nb_cell_row c, *o = &c;
		int k = 0, salt = (int)i;
		memset(&c, 0, sizeof(c));
		NB_CELL_STR(SET_STR)
		NB_CELL_NUM(SET_NUM)
		c.samples = 3;
		c.first_sample = r->nsamples;
		for (uint32_t j = 0; j < 3; j++) {
			struct nb_sample_row s, *so = &s;
			memset(&s, 0, sizeof(s));
			{
				struct nb_sample_row *o2 = so;
				int k2 = (int)(10 * i + j);
#define SET_NUM2(f) o2->f = (double)(++k2) + 0.5;
				NB_SAMPLE_NUM(SET_NUM2)
#undef SET_NUM2
			}
			s.cell = i;
			s.ctx_switches = -1;     /* "unavailable" must survive too */
			ck_assert_int_eq(nb_results_add_sample(r, &s), NB_OK);
		}
		for (int j = 0; j < 2; j++) {
			struct nb_counter_row cr, *co = &cr;
			memset(&cr, 0, sizeof(cr));
			{
				struct nb_counter_row *o3 = co;
				int k3 = j;
#define SET_STR3(f) nb_fill_str(o3->f, sizeof(o3->f), #f, (int)i + j);
#define SET_NUM3(f) o3->f = (double)(++k3) + 0.25;
				NB_COUNTER_STR(SET_STR3)
				NB_COUNTER_NUM(SET_NUM3)
#undef SET_STR3
#undef SET_NUM3
			}
			cr.cell = i;
			cr.value = (int64_t)1 << 40; /* beyond 32 bits */
			ck_assert_int_eq(nb_results_add_counter(r, &cr), NB_OK);
		}
		ck_assert_int_eq(nb_results_add_cell(r, &c), NB_OK);
	}
	for (int i = 0; i < 2; i++) {
		struct nb_stream_row s, *o = &s;
		int k = 0, salt = i;
		memset(&s, 0, sizeof(s));
		NB_STREAM_STR(SET_STR)
		NB_STREAM_NUM(SET_NUM)
		ck_assert_int_eq(nb_results_add_stream(r, &s), NB_OK);
	}
	for (int i = 0; i < 4; i++) {
		struct nb_cache_row c, *o = &c;
		int k = 0, salt = i;
		memset(&c, 0, sizeof(c));
		NB_CACHE_STR(SET_STR)
		NB_CACHE_NUM(SET_NUM)
		ck_assert_int_eq(nb_results_add_cache(r, &c), NB_OK);
	}
}

static const char *nb_tmp_path(const char *name)
{
	return nb_test_path("results", name);
}

START_TEST(test_round_trip_every_field)
{
	struct nb_results w, r;
	const char *path = nb_tmp_path("rt.h5");

	nb_make_results(&w, 5);
	ck_assert_int_eq(nb_results_write(path, &w, false), NB_OK);
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	nb_cmp_meta(&w.meta, &r.meta);
	ck_assert_uint_eq(r.ncells, 5);
	ck_assert_uint_eq(r.nsamples, 15);
	ck_assert_uint_eq(r.ncounters, 10);
	ck_assert_uint_eq(r.nstream, 2);
	ck_assert_uint_eq(r.ncaches, 4);
	for (size_t i = 0; i < r.ncells; i++) {
		const struct nb_cell_row *a = &w.cells[i], *b = &r.cells[i];
		NB_CELL_STR(CMP)
		NB_CELL_NUM(CMP)
		CMP(samples)
		CMP(first_sample)
	}
	for (size_t i = 0; i < r.nsamples; i++) {
		const struct nb_sample_row *a = &w.samples[i], *b = &r.samples[i];
		NB_SAMPLE_NUM(CMP)
		CMP(cell)
	}
	for (size_t i = 0; i < r.ncounters; i++) {
		const struct nb_counter_row *a = &w.counters[i], *b = &r.counters[i];
		NB_COUNTER_STR(CMP)
		NB_COUNTER_NUM(CMP)
		CMP(cell)
	}
	for (size_t i = 0; i < r.nstream; i++) {
		const struct nb_stream_row *a = &w.stream[i], *b = &r.stream[i];
		NB_STREAM_STR(CMP)
		NB_STREAM_NUM(CMP)
	}
	for (size_t i = 0; i < r.ncaches; i++) {
		const struct nb_cache_row *a = &w.caches[i], *b = &r.caches[i];
		NB_CACHE_STR(CMP)
		NB_CACHE_NUM(CMP)
	}
	ck_assert(!r.has_verify);
	/* the samples of a cell are where the cell says */
	{
		size_t n;
		const struct nb_sample_row *s = nb_results_cell_samples(&r, 3, &n);
		ck_assert_uint_eq(n, 3);
		for (size_t j = 0; j < n; j++)
			ck_assert_uint_eq(s[j].cell, 3);
	}
	nb_results_free(&r);
	nb_results_free(&w);
}
END_TEST

START_TEST(test_empty_run_round_trip)
{
	struct nb_results w, r;
	const char *path = nb_tmp_path("empty.h5");

	nb_results_init(&w);
	w.meta.complete = 0;
	ck_assert_int_eq(nb_results_write(path, &w, false), NB_OK);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert_uint_eq(r.ncells, 0);
	ck_assert_uint_eq(r.nsamples, 0);
	ck_assert_int_eq(r.meta.complete, 0);
	ck_assert_int_eq(r.meta.stream_count, 0);
	nb_results_free(&r);
}
END_TEST

START_TEST(test_write_never_clobbers)
{
	struct nb_results w, r;
	const char *path = nb_tmp_path("keep.h5");
	const char *bad = nb_tmp_path("no/such/folder/x.h5");

	nb_make_results(&w, 1);
	ck_assert_int_eq(nb_results_write(path, &w, false), NB_OK);
	w.meta.cores = 999;
	/* without force: refused, the first file intact, no temporary left */
	ck_assert_int_eq(nb_results_write(path, &w, false), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "--force"));
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert_int_ne(r.meta.cores, 999);
	nb_results_free(&r);
	/* with force: replaced */
	ck_assert_int_eq(nb_results_write(path, &w, true), NB_OK);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert_int_eq(r.meta.cores, 999);
	nb_results_free(&r);
	/* a folder that does not exist: an error, nothing created */
	ck_assert_int_eq(nb_results_write(bad, &w, false), NB_ERR_IO);
	ck_assert_int_ne(access(bad, F_OK), 0);
	nb_results_free(&w);
}
END_TEST

static void nb_write_bytes(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

START_TEST(test_refuses_damaged_and_foreign_files)
{
	struct nb_results w, r;
	const char *good = nb_tmp_path("good.h5");
	const char *cut = nb_tmp_path("cut.h5");
	const char *text = nb_tmp_path("text.h5");
	struct stat sb;
	char *bytes;
	FILE *f;

	nb_make_results(&w, 3);
	ck_assert_int_eq(nb_results_write(good, &w, false), NB_OK);
	nb_results_free(&w);
	ck_assert_int_eq(stat(good, &sb), 0);
	bytes = malloc((size_t)sb.st_size);
	f = fopen(good, "rb");
	ck_assert_uint_eq(fread(bytes, 1, (size_t)sb.st_size, f), (size_t)sb.st_size);
	fclose(f);
	/* a file cut anywhere (an interrupted copy) is refused */
	for (size_t keep = 0; keep < (size_t)sb.st_size; keep += (size_t)sb.st_size / 7 + 1) {
		nb_write_bytes(cut, bytes, keep);
		ck_assert_int_eq(nb_results_read(cut, &r), NB_ERR_IO);
		ck_assert_ptr_nonnull(strstr(nb_error(), "cut.h5"));
		nb_results_free(&r);
	}
	free(bytes);
	nb_write_bytes(text, "not an HDF5 file\n", 17);
	ck_assert_int_eq(nb_results_read(text, &r), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "not an HDF5 file"));
	nb_results_free(&r);
	ck_assert_int_eq(nb_results_read(nb_tmp_path("missing.h5"), &r), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "missing.h5"));
	nb_results_free(&r);
}
END_TEST

/* Rewrites the scalar int root attribute name of path to value. */
static void nb_set_int_attr(const char *path, const char *name, int value)
{
	hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	hid_t attr;

	ck_assert_int_ge(file, 0);
	attr = H5Aopen(file, name, H5P_DEFAULT);
	ck_assert_int_ge(attr, 0);
	ck_assert_int_ge(H5Awrite(attr, H5T_NATIVE_INT, &value), 0);
	H5Aclose(attr);
	H5Fclose(file);
}

START_TEST(test_refuses_other_schema_and_missing_fields)
{
	struct nb_results w, r;
	const char *v2 = nb_tmp_path("v2.h5");
	const char *nofield = nb_tmp_path("nofield.h5");
	const char *plain = nb_tmp_path("plain.h5");
	hid_t file, group;

	nb_make_results(&w, 2);
	ck_assert_int_eq(nb_results_write(v2, &w, false), NB_OK);
	ck_assert_int_eq(nb_results_write(nofield, &w, false), NB_OK);
	nb_results_free(&w);

	nb_set_int_attr(v2, "schema_version", NB_RESULTS_SCHEMA_VERSION + 1);
	ck_assert_int_eq(nb_results_read(v2, &r), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "schema version"));
	nb_results_free(&r);

	/* same version, but a table field gone: not silently zero */
	file = H5Fopen(nofield, H5F_ACC_RDWR, H5P_DEFAULT);
	ck_assert_int_ge(file, 0);
	group = H5Gopen2(file, "bench", H5P_DEFAULT);
	/* (H5TBdelete_field also drops every member whose name is a prefix of
	 * the one named - "m" for "median_s" - so pick a name without one) */
	ck_assert_int_ge(H5TBdelete_field(group, "cells", "sde_bytes"), 0);
	H5Gclose(group);
	H5Fclose(file);
	ck_assert_int_eq(nb_results_read(nofield, &r), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "no field 'sde_bytes'"));
	nb_results_free(&r);

	/* an HDF5 file that is not ours */
	file = H5Fcreate(plain, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(file, 0);
	H5Fclose(file);
	ck_assert_int_eq(nb_results_read(plain, &r), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "not a normbench results file"));
	nb_results_free(&r);
}
END_TEST

START_TEST(test_inconsistent_links_refused)
{
	struct nb_results w, r;
	const char *path = nb_tmp_path("links.h5");

	nb_make_results(&w, 2);
	w.cells[1].first_sample = 14;   /* past the 6 samples */
	ck_assert_int_eq(nb_results_write(path, &w, false), NB_OK);
	nb_results_free(&w);
	ck_assert_int_eq(nb_results_read(path, &r), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "damaged"));
	nb_results_free(&r);
}
END_TEST

START_TEST(test_update_is_atomic)
{
	struct nb_results w, r;
	struct nb_results_update u;
	const char *path = nb_tmp_path("upd.h5");
	hid_t g;

	nb_make_results(&w, 2);
	ck_assert_int_eq(nb_results_write(path, &w, false), NB_OK);
	nb_results_free(&w);

	/* abort: the file is unchanged, the copy gone */
	ck_assert_int_eq(nb_results_update_begin(path, &u), NB_OK);
	g = H5Gcreate2(u.file, "verify", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(g, 0);
	H5Gclose(g);
	nb_results_update_abort(&u);
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert(!r.has_verify);
	nb_results_free(&r);

	/* commit: the group is there and /bench still reads */
	ck_assert_int_eq(nb_results_update_begin(path, &u), NB_OK);
	g = H5Gcreate2(u.file, "verify", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(g, 0);
	H5Gclose(g);
	ck_assert_int_eq(nb_results_update_commit(&u), NB_OK);
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert(r.has_verify);
	ck_assert_uint_eq(r.ncells, 2);
	nb_results_free(&r);

	/* a file that is not ours cannot be updated */
	nb_write_bytes(nb_tmp_path("junk.h5"), "junk", 4);
	ck_assert_int_eq(nb_results_update_begin(nb_tmp_path("junk.h5"), &u), NB_ERR_IO);
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
}
END_TEST

START_TEST(test_csv_reads_back)
{
	struct nb_results w;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	char *line, *save = NULL, *tok, *tsave = NULL;
	int col = 0, median_col = -1, impl_col = -1;

	nb_make_results(&w, 2);
	/* a string that needs quoting */
	snprintf(w.cells[1].verify_note, sizeof(w.cells[1].verify_note), "a, \"b\"");
	w.cells[0].median_s = 1.0 / 3.0;
	ck_assert_int_eq(nb_results_write_csv(&w, "cells", f), NB_OK);
	ck_assert_int_eq(nb_results_write_csv(&w, "nope", f), NB_ERR_NOTFOUND);
	fclose(f);
	line = strtok_r(buf, "\n", &save);
	for (tok = strtok_r(line, ",", &tsave); tok; tok = strtok_r(NULL, ",", &tsave), col++) {
		if (strcmp(tok, "median_s") == 0)
			median_col = col;
		if (strcmp(tok, "impl") == 0)
			impl_col = col;
	}
	ck_assert_int_ge(median_col, 0);
	ck_assert_int_ge(impl_col, 0);
	line = strtok_r(NULL, "\n", &save);
	col = 0;
	for (tok = strtok_r(line, ",", &tsave); tok; tok = strtok_r(NULL, ",", &tsave), col++) {
		if (col == median_col)
			ck_assert(strtod(tok, NULL) == 1.0 / 3.0);  /* 17 digits: exact */
		if (col == impl_col)
			ck_assert_str_eq(tok, w.cells[0].impl);
	}
	line = strtok_r(NULL, "\n", &save);
	ck_assert_ptr_nonnull(strstr(line, "\"a, \"\"b\"\"\""));
	free(buf);
	nb_results_free(&w);
}
END_TEST

START_TEST(test_cell_key)
{
	struct nb_cell_row c;
	char key[256];

	memset(&c, 0, sizeof(c));
	strcpy(c.suite, "kernel");
	strcpy(c.variant, "rmsnorm");
	strcpy(c.impl, "rmsnorm_fwd_f32_avx512");
	strcpy(c.dtype, "f32");
	strcpy(c.dir, "fwd");
	strcpy(c.cache, "hot");
	c.rows = 64;
	c.d = 4096;
	c.threads = 2;
	ck_assert_str_eq(nb_results_cell_key(&c, key, sizeof(key)),
			 "kernel/rmsnorm/rmsnorm_fwd_f32_avx512/f32/fwd/64x4096/t2/hot");
}
END_TEST

/* ---- sweep parsing, presets, plan, cost ---- */

START_TEST(test_sweep_parsers)
{
	struct nb_sweep s;

	ck_assert_int_eq(nb_sweep_preset("default", 2, &s), NB_OK);
	ck_assert_int_eq(nb_sweep_parse_shapes("1x4096,64X5120,1x4096", &s), NB_OK);
	ck_assert_uint_eq(s.nshapes, 2);          /* duplicate dropped */
	ck_assert_uint_eq(s.shapes[1].rows, 64);
	ck_assert_uint_eq(s.shapes[1].d, 5120);
	ck_assert_int_eq(nb_sweep_parse_shapes("64x", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("x64", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("64by4096", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("-1x4096", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("0x4096", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("4x0", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("1x4096,", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("99999999x99999999", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_shapes("65536x65536", &s), NB_ERR_INVALID);
	ck_assert_uint_eq(s.nshapes, 2);          /* a failed parse changes nothing */
	ck_assert_int_eq(nb_sweep_parse_threads("1,2", 2, &s), NB_OK);
	ck_assert_int_eq(nb_sweep_parse_threads("3", 2, &s), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "exceeds"));
	ck_assert_int_eq(nb_sweep_parse_threads("0", 2, &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_threads("1.5", 2, &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_variants("rmsnorm,layernorm", &s), NB_OK);
	ck_assert_uint_eq(s.nvariants, 2);
	ck_assert_int_eq(nb_sweep_parse_variants("batchnorm", &s), NB_ERR_NOTFOUND);
	ck_assert_int_eq(nb_sweep_parse_dtypes("f32,bf16", &s), NB_OK);
	ck_assert_int_eq(nb_sweep_parse_dtypes("f8", &s), NB_ERR_NOTFOUND);
	ck_assert_int_eq(nb_sweep_parse_dirs("bwd", &s), NB_OK);
	ck_assert_int_eq(nb_sweep_parse_dirs("sideways", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_caches("cold,hot", &s), NB_OK);
	ck_assert_uint_eq(s.ncaches, 2);
	ck_assert_int_eq(nb_sweep_parse_caches("warm", &s), NB_ERR_INVALID);
	ck_assert_int_eq(nb_sweep_parse_impls("no_such_kernel", &s), NB_ERR_NOTFOUND);
	ck_assert_int_eq(nb_sweep_preset("nope", 2, &s), NB_ERR_NOTFOUND);
}
END_TEST

START_TEST(test_plan_groups_and_named_kernels)
{
	struct nb_sweep s;
	struct nb_sweep_explicit ex = { false, false, false };
	struct nb_planned_cell *cells;
	size_t n, count;
	const struct nb_kernel *ks = nb_kernels(&count);

	ck_assert_int_eq(nb_sweep_preset("quick", 2, &s), NB_OK);
	ck_assert_int_eq(nb_sweep_plan(&s, &ex, &cells, &n), NB_OK);
	/* 4 variants x 2 shapes x threads 1,2: groups of the 4 variants */
	ck_assert_uint_eq(n, 4 * 2 * s.nthreads);
	for (size_t i = 0; i < n; i++) {
		ck_assert_int_eq(cells[i].group, (int)(i / 4));
		ck_assert_int_eq(cells[i].kernel->variant, (int)(i % 4));
		ck_assert(nb_isa_usable(cells[i].kernel->isa));
		if (i % 4)
			ck_assert_uint_eq(cells[i].shape.rows, cells[i - 1].shape.rows);
	}
	free(cells);

	/* a named kernel sets the axes the user did not */
	ck_assert_int_eq(nb_sweep_parse_impls(ks[0].name, &s), NB_OK);
	ck_assert_int_eq(nb_sweep_plan(&s, &ex, &cells, &n), NB_OK);
	ck_assert_uint_eq(n, 2 * s.nthreads);
	ck_assert_ptr_eq(cells[0].kernel, &ks[0]);
	free(cells);
	/* and must lie inside the axes the user did set */
	ex.dtypes = true;
	s.dtypes[0] = ks[0].dtype == NB_DTYPE_F64 ? NB_DTYPE_F32 : NB_DTYPE_F64;
	s.ndtypes = 1;
	ck_assert_int_eq(nb_sweep_plan(&s, &ex, &cells, &n), NB_ERR_INVALID);
	ck_assert_ptr_nonnull(strstr(nb_error(), "--dtypes"));
}
END_TEST

START_TEST(test_cost_model_stream_counting)
{
	const struct nb_kernel *rms = nb_kernel_best(NB_VARIANT_RMSNORM, NB_DIR_FORWARD,
						     NB_DTYPE_F32, NB_DTYPE_F32);
	const struct nb_kernel *ln = nb_kernel_best(NB_VARIANT_LAYERNORM, NB_DIR_BACKWARD,
						    NB_DTYPE_BF16, NB_DTYPE_F32);
	const struct nb_kernel *cr = nb_kernel_best(NB_VARIANT_CRMSNORM, NB_DIR_FORWARD,
						    NB_DTYPE_F32, NB_DTYPE_F32);
	struct nb_conventions conv = NB_CONVENTIONS_DEFAULT;
	struct nb_cost c;

	ck_assert_ptr_nonnull(rms);
	ck_assert_ptr_nonnull(ln);
	ck_assert_ptr_nonnull(cr);
	/* read x + write y (64 x 4096 f32 each) + gain once, no bias */
	c = nb_sweep_cost(rms, 64, 4096, 0, &conv);
	ck_assert(c.bytes == 4.0 * (2.0 * 64 * 4096 + 4096));
	/* bf16 backward: read x, dy + write dx (2 bytes each) + gain, and the
	 * f32 gradients dgain, dbias once */
	c = nb_sweep_cost(ln, 8, 1024, 0, &conv);
	ck_assert(c.bytes == 2.0 * (3.0 * 8 * 1024 + 1024) + 4.0 * 2 * 1024);
	/* CRMSNorm stores d-1 elements per row */
	c = nb_sweep_cost(cr, 2, 1025, 0, &conv);
	ck_assert(c.bytes == 4.0 * (2.0 * 2 * 1024 + 1024));
}
END_TEST

/* The flops of every variant and direction are those of the cost model's
 * formulas (bench/nb_sweep.h), written out here term by term; FlashNorm
 * also counts W* and z in its bytes. */
START_TEST(test_cost_model_flops)
{
	struct nb_conventions conv = NB_CONVENTIONS_DEFAULT;
	const double r = 8, d = 1000, n = 1000, k = 63; /* ceil(0.0625 * 1000) */
	static const struct {
		enum nb_variant v;
		enum nb_direction dir;
		double per_n, per_k, per_row;
	} want[] = {
		{ NB_VARIANT_LAYERNORM, NB_DIR_FORWARD, 8, 0, 4 },
		{ NB_VARIANT_RMSNORM, NB_DIR_FORWARD, 4, 0, 4 },
		{ NB_VARIANT_PRMSNORM, NB_DIR_FORWARD, 2, 2, 4 },
		{ NB_VARIANT_LAYERNORM, NB_DIR_BACKWARD, 18, 0, 6 },
		{ NB_VARIANT_RMSNORM, NB_DIR_BACKWARD, 11, 0, 5 },
		{ NB_VARIANT_PRMSNORM, NB_DIR_BACKWARD, 7, 4, 5 },
	};
	const struct nb_kernel *kern, *fl;
	struct nb_cost c;

	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		kern = nb_kernel_best(want[i].v, want[i].dir, NB_DTYPE_F32, NB_DTYPE_F32);
		ck_assert_ptr_nonnull(kern);
		c = nb_sweep_cost(kern, (size_t)r, (size_t)d, 0, &conv);
		ck_assert_msg(c.flops == r * (want[i].per_n * n + want[i].per_k * k +
					      want[i].per_row), "%s: %g flops", kern->name,
			      c.flops);
	}
	/* CRMSNorm: n = d - 1 stored elements */
	kern = nb_kernel_best(NB_VARIANT_CRMSNORM, NB_DIR_FORWARD, NB_DTYPE_F32, NB_DTYPE_F32);
	c = nb_sweep_cost(kern, (size_t)r, (size_t)d + 1, 0, &conv);
	ck_assert(c.flops == r * (5 * n + 6));
	kern = nb_kernel_best(NB_VARIANT_CRMSNORM, NB_DIR_BACKWARD, NB_DTYPE_F32, NB_DTYPE_F32);
	c = nb_sweep_cost(kern, (size_t)r, (size_t)d + 1, 0, &conv);
	ck_assert(c.flops == r * (12 * n + 8));
	/* FlashNorm, m = 300: product 2nm, rms 2n + 4 a row, scale m */
	fl = nb_kernel_best(NB_VARIANT_FLASHNORM, NB_DIR_FORWARD, NB_DTYPE_F32, NB_DTYPE_F32);
	ck_assert_ptr_nonnull(fl);
	c = nb_sweep_cost(fl, (size_t)r, (size_t)d, 300, &conv);
	ck_assert(c.flops == r * (2 * n * 300 + 2 * n + 4 + 300));
	ck_assert(c.bytes == 4.0 * (r * n + n * 300 + r * 300));
}
END_TEST

Suite *nb_suite_results(void)
{
	Suite *s = suite_create("results");
	TCase *tc = tcase_create("hdf5");
	TCase *tp = tcase_create("sweep");

	tcase_add_checked_fixture(tc, NULL, nb_test_teardown);
	tcase_add_test(tc, test_round_trip_every_field);
	tcase_add_test(tc, test_empty_run_round_trip);
	tcase_add_test(tc, test_write_never_clobbers);
	tcase_add_test(tc, test_refuses_damaged_and_foreign_files);
	tcase_add_test(tc, test_refuses_other_schema_and_missing_fields);
	tcase_add_test(tc, test_inconsistent_links_refused);
	tcase_add_test(tc, test_update_is_atomic);
	tcase_add_test(tc, test_csv_reads_back);
	tcase_add_test(tc, test_cell_key);
	suite_add_tcase(s, tc);
	tcase_add_test(tp, test_sweep_parsers);
	tcase_add_test(tp, test_plan_groups_and_named_kernels);
	tcase_add_test(tp, test_cost_model_stream_counting);
	tcase_add_test(tp, test_cost_model_flops);
	suite_add_tcase(s, tp);
	return s;
}
