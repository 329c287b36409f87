/* Damaged, hostile and foreign files (issue 14): every reader answers with a
 * status and one line, never a crash; outputs never replace an input; write
 * failures end with exit 1; byte-flipped real files through show and compare
 * end with an exit status, never a signal. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hdf5.h>
#include <hdf5_hl.h>

#include "bench/nb_h5io.h"
#include "bench/nb_publish.h"
#include "bench/nb_results.h"
#include "tests/nb_test.h"
#include "verify/nb_verify_file.h"

static const char *nb_path(const char *name)
{
	return nb_test_path("damaged", name);
}

/* A small, valid results file: 2 cells of 3 samples. */
static void nb_write_small(const char *path, void (*edit)(struct nb_results *))
{
	struct nb_results r;

	nb_results_init(&r);
	r.meta.complete = 1;
	nb_res_strcpy(r.meta.host, sizeof(r.meta.host), "testhost");
	for (uint64_t i = 0; i < 2; i++) {
		struct nb_cell_row c;
		memset(&c, 0, sizeof(c));
		nb_res_strcpy(c.suite, sizeof(c.suite), "kernel");
		nb_res_strcpy(c.impl, sizeof(c.impl), "rmsnorm_fwd_f32_portable");
		c.rows = 1 + i;
		c.d = 512;
		c.threads = 1;
		c.samples = 3;
		c.first_sample = 3 * i;
		c.iterations = 10;
		c.median_s = 1e-6;
		c.verified = 1;
		for (uint32_t k = 0; k < 3; k++) {
			struct nb_sample_row s = { .cell = i, .round = k, .seconds = 1e-6 * (1 + k),
						   .iterations = 10 };
			ck_assert_int_eq(nb_results_add_sample(&r, &s), NB_OK);
		}
		ck_assert_int_eq(nb_results_add_cell(&r, &c), NB_OK);
	}
	if (edit)
		edit(&r);
	ck_assert_int_eq(nb_results_write(path, &r, true), NB_OK);
	nb_results_free(&r);
}

/* Reading path must fail with NB_ERR_IO and a message holding the file name
 * and want. */
static void nb_assert_refused(const char *path, const char *want)
{
	struct nb_results r;

	ck_assert_int_eq(nb_results_read(path, &r), NB_ERR_IO);
	ck_assert_msg(strstr(nb_error(), path) != NULL, "message lacks the file: %s",
		      nb_error());
	ck_assert_msg(strstr(nb_error(), want) != NULL, "message lacks '%s': %s", want,
		      nb_error());
	nb_results_free(&r);
}

/* Replaces root attribute name of path by one of type/space holding data. */
static void nb_replace_attr(const char *path, const char *name, hid_t type, hid_t space,
			    const void *data)
{
	hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
	hid_t a;

	ck_assert_int_ge(f, 0);
	if (H5Aexists(f, name) > 0)
		ck_assert_int_ge(H5Adelete(f, name), 0);
	a = H5Acreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(a, 0);
	ck_assert_int_ge(H5Awrite(a, type, data), 0);
	H5Aclose(a);
	H5Fclose(f);
}

/* ---- hostile root attributes ---- */

/* A small results file whose root attribute host holds 1000 strings. */
static void nb_write_host_array(const char *path)
{
	static char many[1000][16];
	hsize_t n = 1000;
	hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &n, NULL);

	nb_write_small(path, NULL);
	H5Tset_size(t, sizeof(many[0]));
	for (int i = 0; i < 1000; i++)
		snprintf(many[i], sizeof(many[i]), "host%d", i);
	nb_replace_attr(path, "host", t, s, many);
	H5Tclose(t);
	H5Sclose(s);
}

START_TEST(test_string_attribute_as_array)
{
	const char *path = nb_path("host-array.h5");

	nb_write_host_array(path);
	nb_assert_refused(path, "'host' holds 1000 strings");
}
END_TEST

START_TEST(test_variable_string_array)
{
	const char *path = nb_path("host-vlen-array.h5");
	static const char *many[1000];
	hsize_t n = 1000;
	hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate_simple(1, &n, NULL);

	nb_write_small(path, NULL);
	H5Tset_size(t, H5T_VARIABLE);
	for (int i = 0; i < 1000; i++)
		many[i] = "a host name";
	nb_replace_attr(path, "host", t, s, many);
	nb_assert_refused(path, "'host' holds 1000 strings");
	H5Tclose(t);
	H5Sclose(s);
}
END_TEST

START_TEST(test_overlong_string)
{
	const char *path = nb_path("long.h5");
	size_t len = NB_H5_MAX_STRING + 100;
	char *big = malloc(len + 1);
	hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', len);
	big[len] = '\0';
	nb_write_small(path, NULL);
	H5Tset_size(t, len + 1);
	nb_replace_attr(path, "cpu_model", t, s, big);
	nb_assert_refused(path, "'cpu_model' has a string size");
	free(big);
	H5Tclose(t);
	H5Sclose(s);
}
END_TEST

START_TEST(test_numbers_of_the_wrong_shape_or_value)
{
	const char *path = nb_path("num.h5");
	double half = 1.5, one = 1.0;
	int three[3] = { 1, 1, 1 }, big = 99;
	hsize_t n3 = 3;
	hid_t scalar = H5Screate(H5S_SCALAR), s3 = H5Screate_simple(1, &n3, NULL);
	hid_t str = H5Tcopy(H5T_C_S1);
	struct nb_results r;

	/* a fractional schema version is no version */
	nb_write_small(path, NULL);
	nb_replace_attr(path, "schema_version", H5T_NATIVE_DOUBLE, scalar, &half);
	nb_assert_refused(path, "not an integer");
	/* an integral one stored as a float still reads */
	nb_write_small(path, NULL);
	nb_replace_attr(path, "schema_version", H5T_NATIVE_DOUBLE, scalar, &one);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	nb_results_free(&r);
	/* arrays where one value belongs */
	nb_write_small(path, NULL);
	nb_replace_attr(path, "schema_version", H5T_NATIVE_INT, s3, three);
	nb_assert_refused(path, "holds 3 values");
	nb_write_small(path, NULL);
	nb_replace_attr(path, "seed", H5T_NATIVE_INT, s3, three);
	nb_assert_refused(path, "'seed' holds 3 values");
	/* a string where a number belongs */
	nb_write_small(path, NULL);
	H5Tset_size(str, 4);
	nb_replace_attr(path, "eps", str, scalar, "abc");
	nb_assert_refused(path, "'eps' is not a number");
	/* a count beyond the arrays it describes */
	nb_write_small(path, NULL);
	nb_replace_attr(path, "stream_count", H5T_NATIVE_INT, scalar, &big);
	nb_assert_refused(path, "stream_count");
	H5Tclose(str);
	H5Sclose(s3);
	H5Sclose(scalar);
}
END_TEST

/* ---- values no run can produce ---- */

static void nb_nan_time(struct nb_results *r) { r->samples[1].seconds = NAN; }
static void nb_negative_time(struct nb_results *r) { r->samples[2].seconds = -1e-6; }
static void nb_zero_time(struct nb_results *r) { r->samples[0].seconds = 0; }
static void nb_zero_threads(struct nb_results *r) { r->cells[1].threads = 0; }
static void nb_zero_iterations(struct nb_results *r) { r->samples[4].iterations = 0; }
static void nb_infinite_median(struct nb_results *r) { r->cells[0].median_s = INFINITY; }

START_TEST(test_impossible_values)
{
	const char *path = nb_path("values.h5");

	nb_write_small(path, nb_nan_time);
	nb_assert_refused(path, "sample 1 lasted nan s");
	nb_write_small(path, nb_negative_time);
	nb_assert_refused(path, "sample 2 lasted -1e-06 s");
	nb_write_small(path, nb_zero_time);
	nb_assert_refused(path, "sample 0 lasted 0 s");
	nb_write_small(path, nb_zero_threads);
	nb_assert_refused(path, "cell 1 has 0 threads");
	nb_write_small(path, nb_zero_iterations);
	nb_assert_refused(path, "sample 4 has 0 iterations");
	nb_write_small(path, nb_infinite_median);
	nb_assert_refused(path, "cell 0 has a median time of inf");
}
END_TEST

/* ---- hostile /verify groups ---- */

START_TEST(test_hostile_verify_group)
{
	const char *path = nb_path("verify.h5");
	struct nb_verify_tables t;
	char longname[401];
	const char *names[1] = { longname };
	size_t offsets[1] = { 0 };
	hid_t types[1] = { H5T_NATIVE_INT };
	int holds[5] = { 1, 1, 1, 1, 1 }, row = 0;
	hsize_t n5 = 5;
	hid_t f, g, s5, a;
	bool h;

	memset(longname, 'a', 400);
	longname[400] = '\0';
	f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(f, 0);
	g = H5Gcreate2(f, "verify", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	ck_assert_int_ge(H5TBmake_table("t", g, "kernels", 1, 1, sizeof(int), names, offsets,
				       types, 16, NULL, 0, &row), 0);
	ck_assert_int_ge(H5TBmake_table("t", g, "claims", 1, 1, sizeof(int), names, offsets,
				       types, 16, NULL, 0, &row), 0);
	s5 = H5Screate_simple(1, &n5, NULL);
	a = H5Acreate2(g, "holds", H5T_NATIVE_INT, s5, H5P_DEFAULT, H5P_DEFAULT);
	H5Awrite(a, H5T_NATIVE_INT, holds);
	H5Aclose(a);
	H5Sclose(s5);
	H5Gclose(g);
	H5Fclose(f);
	/* a 400-character field name: the table is foreign, said in one line */
	ck_assert_int_eq(nb_verify_read(path, &t, &h), NB_ERR_IO);
	ck_assert_ptr_nonnull(strstr(nb_error(), "has no field 'kernel'"));
	nb_verify_tables_free(&t);
}
END_TEST

/* ---- old files of this schema still read; new ones carry checksums ---- */

START_TEST(test_old_variable_length_strings_still_read)
{
	const char *path = nb_path("old.h5");
	const char *host = "an old host", *kind = "run";
	hid_t t = H5Tcopy(H5T_C_S1), s = H5Screate(H5S_SCALAR);
	struct nb_results r;

	nb_write_small(path, NULL);
	/* files before issue 14 stored root strings variable-length */
	H5Tset_size(t, H5T_VARIABLE);
	H5Tset_cset(t, H5T_CSET_UTF8);
	nb_replace_attr(path, "host", t, s, &host);
	nb_replace_attr(path, "kind", t, s, &kind);
	ck_assert_int_eq(nb_results_read(path, &r), NB_OK);
	ck_assert_str_eq(r.meta.host, "an old host");
	ck_assert_uint_eq(r.ncells, 2);
	nb_results_free(&r);
	H5Tclose(t);
	H5Sclose(s);
}
END_TEST

START_TEST(test_new_files_detect_damage)
{
	const char *path = nb_path("new.h5");
	H5F_info2_t info;
	hid_t f, a, t;

	nb_write_small(path, NULL);
	f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	ck_assert_int_ge(f, 0);
	ck_assert_int_ge(H5Fget_info2(f, &info), 0);
	/* superblock >= 2 and object headers version 2 carry checksums */
	ck_assert_uint_ge(info.super.version, 2);
	a = H5Aopen(f, "host", H5P_DEFAULT);
	t = H5Aget_type(a);
	/* fixed-length: no global heap to damage */
	ck_assert_int_eq(H5Tis_variable_str(t), 0);
	H5Tclose(t);
	H5Aclose(a);
	H5Fclose(f);
}
END_TEST

/* ---- the fuzzer's way in: a file image in memory reads as the file ---- */

START_TEST(test_served_image_reads_like_the_file)
{
	const char *name = "/dev/null/image.h5";
	static const char junk[4096] = "not HDF5";
	struct nb_results r;
	char *good, *hostile;
	size_t ngood, nhostile;

	nb_write_small(nb_path("good.h5"), NULL);
	good = nb_test_slurp(nb_path("good.h5"), &ngood);
	ck_assert_ptr_nonnull(good);
	nb_h5_serve_image(name, good, ngood);
	ck_assert_int_eq(nb_results_read(name, &r), NB_OK);
	ck_assert_str_eq(r.meta.host, "testhost");
	ck_assert_uint_eq(r.ncells, 2);
	ck_assert_uint_eq(r.nsamples, 6);
	nb_results_free(&r);
	/* the same checks as for a file, messages naming the served name */
	nb_h5_serve_image(name, junk, sizeof(junk));
	nb_assert_refused(name, "is not an HDF5 file");
	nb_h5_serve_image(name, good, ngood / 2);
	nb_assert_refused(name, "is damaged");
	/* a hostile attribute */
	nb_write_host_array(nb_path("hostile.h5"));
	hostile = nb_test_slurp(nb_path("hostile.h5"), &nhostile);
	ck_assert_ptr_nonnull(hostile);
	nb_h5_serve_image(name, hostile, nhostile);
	nb_assert_refused(name, "'host' holds 1000 strings");
	/* served no more: the name is a path again, and nothing is there */
	nb_h5_serve_image(NULL, NULL, 0);
	nb_assert_refused(name, "cannot open");
	free(hostile);
	free(good);
}
END_TEST

/* ---- nb_fail may be handed its own message ---- */

START_TEST(test_fail_reads_its_own_buffer)
{
	nb_fail(NB_ERR_IO, "inner");
	nb_fail(NB_ERR_IO, "%s: %s", "outer", nb_error());
	ck_assert_str_eq(nb_error(), "outer: inner");
}
END_TEST

/* ---- the command line ---- */

static int nb_bin(const char *env, const char *args, char **err)
{
	return nb_test_run_bin("damaged", true, env, args, NULL, err);
}

static int nb_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_outputs_never_replace_inputs)
{
	const char *a = nb_path("a.h5");
	char *before, *after, *err;
	size_t n0, n1;
	int rc;

	nb_write_small(a, NULL);
	ck_assert_int_eq(link(a, nb_path("alias.h5")), 0);
	before = nb_test_slurp(a, &n0);
	ck_assert_int_eq(nb_bin(NULL, "compare a.h5 a.h5 --md a.h5", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "refusing to overwrite an input"));
	free(err);
	ck_assert_int_eq(nb_bin(NULL, "compare a.h5 a.h5 --json alias.h5", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "refusing to overwrite an input"));
	ck_assert_int_eq(nb_lines(err), 1);
	free(err);
	after = nb_test_slurp(a, &n1);
	ck_assert_uint_eq(n0, n1);
	ck_assert(memcmp(before, after, n0) == 0);
	/* verify --input: -o and --dump may not be the input either */
	ck_assert_int_eq(nb_bin(NULL, "verify --make-outliers in.h5:/x --shape 4x64", NULL), 0);
	free(before);
	before = nb_test_slurp(nb_path("in.h5"), &n0);
	ck_assert_int_eq(nb_bin(NULL, "verify --input in.h5:/x --variants rmsnorm -o in.h5 "
				"--force", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "refusing to overwrite an input"));
	free(err);
	ck_assert_int_eq(nb_bin(NULL, "verify --input in.h5:/x --variants rmsnorm --dump in.h5 "
				"--force", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "refusing to overwrite an input"));
	free(err);
	free(after);
	after = nb_test_slurp(nb_path("in.h5"), &n1);
	ck_assert_uint_eq(n0, n1);
	ck_assert(memcmp(before, after, n0) == 0);
	/* report: an input inside the report's folder is refused, untouched */
	ck_assert_int_eq(mkdir(nb_path("rep"), 0755), 0);
	ck_assert_int_eq(link(a, nb_path("rep/in.h5")), 0);
	ck_assert_int_eq(nb_bin(NULL, "report rep/in.h5 --out rep --no-figures", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "refusing to write over inputs"));
	free(err);
	/* a fine --md still appears, and no temporary file stays */
	/* 0, or 4 (inconclusive) when the file's processes spread too much to
	 * decide even a file against itself (docs/gate.md) */
	rc = nb_bin(NULL, "compare a.h5 a.h5 --md out/r.md", NULL);
	ck_assert_msg(rc == 0 || rc == 4, "compare exit %d", rc);
	ck_assert(nb_test_exists(nb_path("out/r.md")));
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	free(before);
	free(after);
}
END_TEST

/* Runs NB_BIN args in the test folder with files limited to blocks blocks
 * and SIGXFSZ ignored, so every write beyond fails with EFBIG as on a full
 * disk. stdout goes to /dev/null and stderr through a pipe (neither is a
 * file the limit applies to); *err gets stderr. Returns the exit status,
 * 128 + N for signal N. */
static int nb_bin_full_disk(int blocks, const char *args, char **err)
{
	char cmd[2048];
	size_t cap = 1 << 16, len = 0;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "cd '%s' && trap '' XFSZ && ulimit -f %d && '%s' %s 2>&1 "
		 ">/dev/null", nb_test_dir("damaged"), blocks, getenv("NB_BIN"), args);
	*err = calloc(1, cap);
	ck_assert_ptr_nonnull(*err);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	len = fread(*err, 1, cap - 1, p);
	(*err)[len] = '\0';
	st = pclose(p);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

START_TEST(test_write_failures_end_cleanly)
{
	char *err;
	int rc;

	nb_write_small(nb_path("a.h5"), NULL);
	rc = nb_bin_full_disk(2, "verify --quick --claims E6 --no-kernels -o v.h5", &err);
	ck_assert_msg(rc == 1, "verify -o on a full disk: exit %d, stderr %s", rc, err);
	free(err);
	ck_assert(!nb_test_exists(nb_path("v.h5")));
	rc = nb_bin_full_disk(0, "compare a.h5 a.h5 --md r.md", &err);
	ck_assert_msg(rc == 1, "compare --md on a full disk: exit %d, stderr %s", rc, err);
	ck_assert_ptr_nonnull(strstr(err, "r.md"));
	free(err);
	rc = nb_bin_full_disk(0, "export --csv a.h5", &err);
	ck_assert_msg(rc == 1, "export on a full disk: exit %d, stderr %s", rc, err);
	free(err);
	ck_assert(!nb_test_exists(nb_path("r.md")));
	ck_assert(!nb_test_exists(nb_path("a-csv/cells.csv")));
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
}
END_TEST

START_TEST(test_bad_option_values)
{
	char *err;

	ck_assert_int_eq(nb_bin(NULL, "compare --no-such-option a b", &err), 1);
	ck_assert_int_le(nb_lines(err), 2);   /* getopt's line and ours */
	free(err);
	ck_assert_int_eq(nb_bin(NULL, "verify --make-outliers o.h5:/x --shape -1x4", &err), 1);
	ck_assert_ptr_null(strstr(err, "18446744073709551615"));
	free(err);
	ck_assert_int_eq(nb_bin(NULL, "run --events '' -o r.h5", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "--events"));
	free(err);
	mkdir(nb_path("dir.h5"), 0777);
	/* refused before anything is measured: no progress, one line */
	ck_assert_int_eq(nb_bin(NULL, "run --quick -o dir.h5 --force", &err), 1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	ck_assert_int_eq(nb_lines(err), 1);
	free(err);
}
END_TEST

/* ---- byte-flipped real files through show and compare ---- */

static uint64_t nb_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* Writes a mutant of data (n bytes) to path: flipped bytes, a zeroed 512-byte
 * block, a truncation or a run of 0xff, chosen by kind. */
static void nb_mutate(const char *data, size_t n, unsigned kind, uint64_t *rng,
		      const char *path)
{
	char *m = malloc(n);
	size_t len = n;
	FILE *f;

	ck_assert_ptr_nonnull(m);
	memcpy(m, data, n);
	switch (kind % 4) {
	case 0:
		for (uint64_t k = 1 + nb_next(rng) % 4; k > 0; k--)
			m[nb_next(rng) % n] ^= (char)(1 + nb_next(rng) % 255);
		break;
	case 1: {
		size_t at = (nb_next(rng) % (n / 512)) * 512;
		memset(m + at, 0, 512 < n - at ? 512 : n - at);
		break;
	}
	case 2:
		len = nb_next(rng) % n;
		break;
	default: {
		size_t at = nb_next(rng) % (n - 8);
		memset(m + at, 0xff, 8);
		break;
	}
	}
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(m, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(m);
}

START_TEST(test_flipped_real_files)
{
	const char *env = getenv("NB_MUTANTS");
	int mutants = env ? atoi(env) : 200;
	uint64_t rng = 0x9e3779b97f4a7c15u;
	int outcomes[256] = { 0 };
	char *orig, *err, args[512], run_env[1024];
	size_t n;
	FILE *f;
	int rc;

	rc = nb_bin(NULL, "run --quick --variants rmsnorm --dtypes f32 --shapes 2x256 "
		    "--threads 1 --cache hot --dir fwd --samples 5 --min-sample-ms 1 "
		    "--warmup-ms 1 --stream-ms 5 --events none -o real.h5", &err);
	ck_assert_msg(rc == 0, "run: %s", err);
	free(err);
	rc = nb_bin(NULL, "verify --quick --claims E6 --no-kernels --into real.h5", &err);
	ck_assert_msg(rc == 0 || rc == 2, "verify --into: %s", err);
	free(err);
	/* HDF5 1.10 leaks a few hundred bytes on its own error paths for
	 * damaged files: under ASan (make asan) those are not normbench's */
	f = fopen(nb_path("lsan.supp"), "w");
	ck_assert_ptr_nonnull(f);
	fputs("leak:libhdf5\n", f);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(run_env, sizeof(run_env), "LSAN_OPTIONS=suppressions='%s':print_suppressions=0 "
		 "timeout -s KILL 60", nb_path("lsan.supp"));
	orig = nb_test_slurp(nb_path("real.h5"), &n);
	ck_assert_ptr_nonnull(orig);
	ck_assert_uint_gt(n, 4096);
	for (int i = 0; i < mutants; i++) {
		nb_mutate(orig, n, (unsigned)i, &rng, nb_path("m.h5"));
		/* a hang is a failure too: 60 s is far beyond the probe's limit */
		rc = nb_bin(run_env, "show m.h5", &err);
		ck_assert_msg(rc <= 2, "mutant %d (kind %d): show exit %d: %s", i, i % 4, rc,
			      err);
		ck_assert_msg(rc != 1 || nb_lines(err) == 1, "mutant %d: show said %s", i, err);
		free(err);
		outcomes[rc]++;
		snprintf(args, sizeof(args), "compare --force real.h5 m.h5");
		rc = nb_bin(run_env, args, &err);
		/* 0..4: same, verification failed, a (damaged) sample regressed,
		 * or inconclusive; never a signal */
		ck_assert_msg(rc <= 4, "mutant %d (kind %d): compare exit %d: %s", i, i % 4, rc,
			      err);
		free(err);
	}
	free(orig);
	/* most mutants are caught, some hit bytes nobody reads */
	ck_assert_int_gt(outcomes[1], 0);
}
END_TEST

Suite *nb_suite_damaged(void)
{
	Suite *s = suite_create("damaged");
	TCase *files = tcase_create("files");
	TCase *cli = tcase_create("cli");

	tcase_add_checked_fixture(files, NULL, nb_test_teardown);
	tcase_add_test(files, test_string_attribute_as_array);
	tcase_add_test(files, test_variable_string_array);
	tcase_add_test(files, test_overlong_string);
	tcase_add_test(files, test_numbers_of_the_wrong_shape_or_value);
	tcase_add_test(files, test_impossible_values);
	tcase_add_test(files, test_hostile_verify_group);
	tcase_add_test(files, test_old_variable_length_strings_still_read);
	tcase_add_test(files, test_new_files_detect_damage);
	tcase_add_test(files, test_served_image_reads_like_the_file);
	tcase_add_test(files, test_fail_reads_its_own_buffer);
	suite_add_tcase(s, files);
	tcase_add_checked_fixture(cli, NULL, nb_test_teardown);
	tcase_add_test(cli, test_outputs_never_replace_inputs);
	tcase_add_test(cli, test_write_failures_end_cleanly);
	tcase_add_test(cli, test_bad_option_values);
	tcase_add_test(cli, test_flipped_real_files);
	suite_add_tcase(s, cli);
	return s;
}
