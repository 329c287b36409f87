/* The normbench binary (NB_BIN, set by `make check`) from the outside: bad
 * command lines fail with a message and status 1, `run --quick` writes a
 * file whose statistics, rates and SDE counts follow from its own raw
 * samples, show/export read it, --force is required to replace, damaged
 * files are refused, and Ctrl-C leaves an incomplete file beside the final
 * name and nothing under it. No timing is asserted anywhere. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/nb_results.h"
#include "bench/nb_stats.h"
#include "tests/nb_test.h"

static const char *nb_path(const char *name)
{
	return nb_test_path("cli", name);
}

static const char *nb_bin(void)
{
	const char *bin = getenv("NB_BIN");

	ck_assert_msg(bin && *bin, "NB_BIN is not set (run the tests through make check)");
	return bin;
}

/* Starts NB_BIN with args (NULL-terminated, without argv[0]); its stdout and
 * stderr come back through pipes. */
static pid_t nb_spawn(const char *const *args, int *out_fd, int *err_fd)
{
	const char *argv[64];
	int out[2], err[2];
	size_t n = 0;
	pid_t pid;

	argv[n++] = nb_bin();
	while (*args && n < 63)
		argv[n++] = *args++;
	argv[n] = NULL;
	ck_assert_int_eq(pipe(out), 0);
	ck_assert_int_eq(pipe(err), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		close(err[0]);
		close(err[1]);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	*out_fd = out[0];
	*err_fd = err[0];
	return pid;
}

struct nb_capture {
	char out[65536];
	char err[16384];
	size_t nout, nerr;
};

/* Reads whatever is ready on the two pipes (poll for up to ms); returns
 * false when both are at EOF. */
static bool nb_drain(int *out_fd, int *err_fd, struct nb_capture *c, int ms)
{
	struct pollfd p[2] = { { *out_fd, POLLIN, 0 }, { *err_fd, POLLIN, 0 } };
	int *fds[2] = { out_fd, err_fd };
	char *bufs[2] = { c->out, c->err };
	size_t *lens[2] = { &c->nout, &c->nerr };
	size_t caps[2] = { sizeof(c->out), sizeof(c->err) };

	if (*out_fd < 0 && *err_fd < 0)
		return false;
	if (poll(p, 2, ms) <= 0)
		return true;
	for (int i = 0; i < 2; i++) {
		char tmp[4096];
		ssize_t got;
		if (*fds[i] < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		got = read(*fds[i], tmp, sizeof(tmp));
		if (got <= 0) {
			close(*fds[i]);
			*fds[i] = -1;
			continue;
		}
		if (*lens[i] + (size_t)got >= caps[i])
			got = (ssize_t)(caps[i] - 1 - *lens[i]);
		memcpy(bufs[i] + *lens[i], tmp, (size_t)got);
		*lens[i] += (size_t)got;
		bufs[i][*lens[i]] = '\0';
	}
	return true;
}

/* Runs NB_BIN with args to the end (at most 300 s); returns its exit status
 * (128 + signal when killed). */
static int nb_run(const char *const *args, struct nb_capture *c)
{
	int out_fd, err_fd, status;
	pid_t pid;
	time_t deadline = time(NULL) + 300;

	memset(c, 0, sizeof(*c));
	pid = nb_spawn(args, &out_fd, &err_fd);
	while (nb_drain(&out_fd, &err_fd, c, 1000))
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			ck_abort_msg("normbench did not finish in 300 s");
		}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- bad command lines ---- */

struct nb_bad {
	const char *args[8];
	const char *message;    /* must appear in stderr */
};

START_TEST(test_bad_command_lines)
{
	static char too_many[32];
	const struct nb_bad cases[] = {
		{ { "run", "--variants", "batchnorm" }, "unknown variant 'batchnorm'" },
		{ { "run", "--variants", "rmsnorm,,layernorm" }, "empty item" },
		{ { "run", "--dtypes", "f8" }, "unknown dtype 'f8'" },
		{ { "run", "--events", "PAPI_NOT_AN_EVENT", "--quick" }, "PAPI_NOT_AN_EVENT" },
		{ { "run", "--shapes", "64by4096" }, "malformed shape '64by4096'" },
		{ { "run", "--shapes", "64x" }, "malformed shape" },
		{ { "run", "--shapes", "-8x4096" }, "malformed shape" },
		{ { "run", "--shapes", "0x4096" }, "at least 1" },
		{ { "run", "--shapes", "64x0" }, "at least 1" },
		{ { "run", "--shapes", "99999999999x4096" }, "at most" },
		{ { "run", "--shapes", "65536x65536" }, "elements" },
		{ { "run", "--variants", "crmsnorm", "--shapes", "4x1" }, "d >= 2" },
		{ { "run", "--threads", "0" }, "at least 1" },
		{ { "run", "--threads", too_many }, "exceeds" },
		{ { "run", "--threads", "two" }, "not an integer" },
		{ { "run", "--samples", "0" }, "out of range" },
		{ { "run", "--samples", "abc" }, "not an integer" },
		{ { "run", "--min-sample-ms", "50", "--max-sample-ms", "10" }, "exceeds" },
		{ { "run", "--warmup-ms", "-5" }, "out of range" },
		{ { "run", "--preset", "turbo" }, "unknown preset 'turbo'" },
		{ { "run", "--quick", "--preset", "paper" }, "conflicts" },
		{ { "run", "--isa", "sse9" }, "unknown ISA 'sse9'" },
		{ { "run", "--impl", "no_such_kernel" }, "unknown kernel 'no_such_kernel'" },
		{ { "run", "--impl", "all", "--all-isa" }, "--all-isa" },
		{ { "run", "--cache", "warm" }, "unknown cache state 'warm'" },
		{ { "run", "--dir", "sideways" }, "unknown direction 'sideways'" },
		{ { "run", "--eps", "-1" }, "out of range" },
		{ { "run", "--prms-p", "0" }, "(0, 1]" },
		{ { "run", "--prms-round", "up" }, "neither ceil nor floor" },
		{ { "run", "--seed", "x1" }, "--seed" },
		{ { "run", "--bogus" }, "unknown option '--bogus'" },
		{ { "run", "--shapes" }, "needs a value" },
		{ { "run", "extra" }, "unexpected argument 'extra'" },
		{ { "show" }, "exactly one results file" },
		{ { "show", "a.h5", "b.h5" }, "exactly one results file" },
		{ { "show", "/nonexistent/run.h5" }, "No such file" },
		{ { "export", "/nonexistent/run.h5" }, "--csv" },
		{ { "export", "--csv", "/nonexistent/run.h5" }, "No such file" },
		{ { "nosuchcommand" }, "unknown command" },
	};
	struct nb_capture c;
	const char *out = nb_path("bad.h5");

	snprintf(too_many, sizeof(too_many), "1,%ld", sysconf(_SC_NPROCESSORS_ONLN) + 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *args[12];
		size_t n = 0;
		int rc;

		/* every run gets an output name first: nothing may appear there */
		args[n++] = cases[i].args[0];
		if (strcmp(cases[i].args[0], "run") == 0) {
			args[n++] = "-o";
			args[n++] = out;
		}
		for (size_t j = 1; cases[i].args[j]; j++)
			args[n++] = cases[i].args[j];
		args[n] = NULL;
		rc = nb_run(args, &c);
		ck_assert_msg(rc == 1, "case %zu (%s %s): exit %d, stderr: %s", i,
			      cases[i].args[0], cases[i].args[1] ? cases[i].args[1] : "", rc, c.err);
		ck_assert_msg(strstr(c.err, cases[i].message) != NULL,
			      "case %zu: stderr lacks '%s': %s", i, cases[i].message, c.err);
		ck_assert_int_eq(access(out, F_OK), -1);
	}
	ck_assert_int_eq(nb_test_count_files("bad"), 0);
}
END_TEST

/* ---- a real quick run ---- */

static void nb_check_run_file(const char *path, bool complete)
{
	struct nb_results r;

	ck_assert_msg(nb_results_read(path, &r) == NB_OK, "%s", nb_error());
	ck_assert_int_eq(r.meta.complete, complete ? 1 : 0);
	ck_assert_int_eq(r.meta.schema_version, NB_RESULTS_SCHEMA_VERSION);
	ck_assert_str_eq(r.meta.kind, "run");
	ck_assert_uint_eq(strlen(r.meta.machine_key), 16);
	ck_assert(r.meta.host[0] != '\0');
	ck_assert(r.meta.cores >= 1);
	ck_assert(r.meta.timer_resolution_ns > 0);
	ck_assert_ptr_nonnull(strstr(r.meta.command_line, "normbench run"));
	if (complete) {
		ck_assert_int_ge(r.meta.stream_count, 1);
		ck_assert_uint_ge(r.nstream, 1);
		ck_assert(r.meta.stream_copy_gbps[0] > 0);
		ck_assert_uint_ge(r.ncells, 1);
	}
	for (size_t i = 0; i < r.ncells; i++) {
		const struct nb_cell_row *c = &r.cells[i];
		size_t n;
		const struct nb_sample_row *s = nb_results_cell_samples(&r, i, &n);
		double *x;
		struct nb_summary sum;
		size_t counted = 0;

		ck_assert_uint_eq(n, (size_t)r.meta.min_samples);
		ck_assert_uint_ge(n, 5);
		ck_assert_uint_ge(c->iterations, 1);
		x = malloc(n * sizeof(double));
		for (size_t j = 0; j < n; j++) {
			ck_assert_uint_eq(s[j].cell, i);
			ck_assert_uint_eq(s[j].round, j);        /* one sample per round */
			ck_assert_uint_eq(s[j].iterations, c->iterations);
			ck_assert(s[j].seconds > 0);
			x[j] = s[j].seconds;
		}
		/* the statistics are those of the stored raw samples, with the
		 * documented bootstrap seed (run seed xor cell index) */
		ck_assert_int_eq(nb_summarize(x, n, r.meta.seed ^ (uint64_t)i, &sum), NB_OK);
		ck_assert(c->median_s == sum.median);
		ck_assert(c->min_s == sum.min);
		ck_assert(c->max_s == sum.max);
		ck_assert(c->q1_s == sum.q1);
		ck_assert(c->q3_s == sum.q3);
		ck_assert(c->iqr_s == sum.iqr);
		ck_assert(c->mean_s == sum.mean);
		if (c->processes > 1) {
			/* worker processes: the CI resamples processes (docs/gate.md) */
			const double *runs[64];
			size_t ns[64], np = 0;
			for (size_t j = 0; j < n; j++) {
				if (j == 0 || s[j].process != s[j - 1].process) {
					ck_assert_uint_lt(np, 64);
					runs[np] = x + j;
					ns[np++] = 0;
				}
				ns[np - 1]++;
			}
			ck_assert_uint_eq(np, (size_t)c->processes);
			ck_assert_int_eq(nb_bootstrap_median_ci_runs(runs, ns, np, r.meta.seed ^
								     (uint64_t)i, NB_BOOTSTRAP_RESAMPLES, NB_CI_LEVEL,
								     &sum.ci_lo, &sum.ci_hi), NB_OK);
			sum.unstable = nb_summary_unstable(&sum);
		}
		ck_assert(c->ci_lo_s == sum.ci_lo);
		ck_assert(c->ci_hi_s == sum.ci_hi);
		ck_assert_int_eq(c->unstable, sum.unstable ? 1 : 0);
		free(x);
		/* rates follow from the cost model and the median */
		ck_assert(c->bytes > 0 && c->flops > 0);
		ck_assert(c->gbps == c->bytes / c->median_s / 1e9);
		ck_assert(c->gflops == c->flops / c->median_s / 1e9);
		ck_assert(c->limit_gbps > 0);
		ck_assert(c->fraction == c->gbps / c->limit_gbps);
		/* the SDE counts PAPI read are exactly the calls the samples made */
		ck_assert_uint_eq(c->sde_calls, (uint64_t)n * c->iterations);
		ck_assert_uint_eq(c->sde_rows, c->sde_calls * c->rows);
		ck_assert_uint_eq(c->sde_bytes,
				  (uint64_t)n * (uint64_t)(c->bytes * (double)c->iterations));
		for (size_t j = 0; j < r.ncounters; j++) {
			const struct nb_counter_row *cr = &r.counters[j];
			if (cr->cell != i)
				continue;
			counted++;
			if (!cr->available)
				ck_assert_msg(cr->reason[0] != '\0', "%s: no reason", cr->event);
			if (strcmp(cr->event, "sde:::normbench::kernel_calls") == 0) {
				ck_assert_int_eq(cr->available, 1);
				ck_assert_int_eq(cr->value, (int64_t)c->sde_calls);
			}
		}
		ck_assert_uint_ge(counted, 3);
		/* --quick runs a tiny block suite too (bench/nb_block.c) */
		ck_assert_msg(strcmp(c->suite, "kernel") == 0 || strcmp(c->suite, "block") == 0 ||
			      strcmp(c->suite, "normproj") == 0 || strcmp(c->suite, "normproj_aa") == 0,
			      "unknown suite '%s'", c->suite);
		ck_assert(c->verified >= -1 && c->verified <= 1);
	}
	nb_results_free(&r);
}

static int nb_count_lines(const char *path)
{
	FILE *f = fopen(path, "r");
	int n = 0, ch;

	ck_assert_ptr_nonnull(f);
	while ((ch = fgetc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return n;
}

START_TEST(test_quick_run_show_export_force)
{
	const char *file = nb_path("q.h5");
	const char *csv = nb_path("csv");
	char cells_csv[600];
	struct nb_capture c;
	struct stat before, after;
	struct nb_results r;
	int rc;

	rc = nb_run((const char *[]){ "run", "--quick", "-o", file, NULL }, &c);
	/* 5: a block-suite self-check fired; it judges timings, which a test
	 * must not assert (the file is written either way) */
	ck_assert_msg(rc == 0 || rc == 5, "run --quick: exit %d: %s", rc, c.err);
	ck_assert_ptr_nonnull(strstr(c.out, file));
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	/* stderr is not a terminal here: no progress bar */
	ck_assert_ptr_null(strstr(c.err, "ETA"));
	nb_check_run_file(file, true);

	rc = nb_run((const char *[]){ "show", file, NULL }, &c);
	ck_assert_msg(rc == 0, "show: %s", c.err);
	ck_assert_ptr_nonnull(strstr(c.out, "complete run"));
	ck_assert_ptr_nonnull(strstr(c.out, "machine bandwidth"));
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	ck_assert_ptr_nonnull(strstr(c.out, r.cells[0].impl));

	rc = nb_run((const char *[]){ "export", file, "--csv", "--out", csv, NULL }, &c);
	ck_assert_msg(rc == 0, "export: %s", c.err);
	snprintf(cells_csv, sizeof(cells_csv), "%s/cells.csv", csv);
	ck_assert_int_eq(nb_count_lines(cells_csv), (int)r.ncells + 1);
	snprintf(cells_csv, sizeof(cells_csv), "%s/samples.csv", csv);
	ck_assert_int_eq(nb_count_lines(cells_csv), (int)r.nsamples + 1);
	rc = nb_run((const char *[]){ "export", file, "--csv", "--out", csv, NULL }, &c);
	ck_assert_int_eq(rc, 1);
	ck_assert_ptr_nonnull(strstr(c.err, "--force"));
	rc = nb_run((const char *[]){ "export", file, "--csv", "--out", csv, "--force", NULL },
		    &c);
	ck_assert_int_eq(rc, 0);
	nb_results_free(&r);

	/* an existing file is never replaced without --force */
	ck_assert_int_eq(stat(file, &before), 0);
	rc = nb_run((const char *[]){ "run", "--quick", "-o", file, NULL }, &c);
	ck_assert_int_eq(rc, 1);
	ck_assert_ptr_nonnull(strstr(c.err, "exists"));
	ck_assert_int_eq(stat(file, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	ck_assert_int_eq(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
	/* with --force it is, in one rename (a new inode) */
	rc = nb_run((const char *[]){ "run", "--quick", "--variants", "rmsnorm", "--threads",
				      "1", "--samples", "5", "-o", file, "--force", NULL }, &c);
	ck_assert_msg(rc == 0, "run --force: %s", c.err);
	ck_assert_int_eq(stat(file, &after), 0);
	ck_assert_uint_ne(before.st_ino, after.st_ino);
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	ck_assert_uint_eq(r.ncells, 2);          /* rmsnorm x 2 quick shapes x 1 thread */
	ck_assert_int_eq(r.meta.min_samples, 5);
	nb_results_free(&r);
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
}
END_TEST

/* ---- a wrong kernel is visible as such ---- */

START_TEST(test_wrong_output_fails_the_run)
{
	const char *file = nb_path("wrong.h5");
	struct nb_capture c;
	struct nb_results r;
	int rc;

	/* the hook adds 1 + |y| to the first output element of every timed
	 * kernel after timing: far beyond any derived bound */
	setenv("NB_RUN_INJECT_ERROR", "1", 1);
	rc = nb_run((const char *[]){ "run", "--quick", "--threads", "1", "--dir", "fwd,bwd",
				      "--samples", "5", "-o", file, NULL }, &c);
	unsetenv("NB_RUN_INJECT_ERROR");
	ck_assert_msg(rc == 2, "exit %d: %s", rc, c.err);
	ck_assert_ptr_nonnull(strstr(c.err, "FAILED the accuracy check"));
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	ck_assert_uint_eq(r.ncells, 16);   /* 4 variants x 2 shapes x fwd, bwd */
	for (size_t i = 0; i < r.ncells; i++) {
		ck_assert_msg(r.cells[i].verified == 0, "%s: %s", r.cells[i].impl,
			      r.cells[i].verify_note);
		ck_assert(r.cells[i].err_ratio > 1);
	}
	nb_results_free(&r);
	ck_assert_int_eq(nb_run((const char *[]){ "show", file, NULL }, &c), 0);
	ck_assert_ptr_nonnull(strstr(c.out, "ACCURACY FAILED"));
	/* and without the hook the same cells pass */
	rc = nb_run((const char *[]){ "run", "--quick", "--threads", "1", "--dir", "fwd,bwd",
				      "--samples", "5", "-o", file, "--force", NULL }, &c);
	ck_assert_msg(rc == 0, "exit %d: %s", rc, c.err);
	ck_assert_int_eq(nb_results_read(file, &r), NB_OK);
	for (size_t i = 0; i < r.ncells; i++)
		ck_assert_msg(r.cells[i].verified == 1, "%s: %s", r.cells[i].impl,
			      r.cells[i].verify_note);
	nb_results_free(&r);
}
END_TEST

/* ---- damaged files through the CLI ---- */

START_TEST(test_cli_refuses_damaged_files)
{
	struct nb_results w;
	const char *good = nb_path("good.h5");
	const char *cut = nb_path("cut.h5");
	const char *text = nb_path("text.h5");
	const char *v9 = nb_path("v9.h5");
	struct nb_capture c;
	struct stat sb;
	char cmd[2048];
	hid_t f, a;
	int v = 9;

	nb_results_init(&w);
	w.meta.complete = 1;
	ck_assert_int_eq(nb_results_write(good, &w, false), NB_OK);
	ck_assert_int_eq(nb_results_write(v9, &w, false), NB_OK);
	nb_results_free(&w);
	ck_assert_int_eq(nb_run((const char *[]){ "show", good, NULL }, &c), 0);

	ck_assert_int_eq(stat(good, &sb), 0);
	snprintf(cmd, sizeof(cmd), "head -c %lld '%s' > '%s'", (long long)sb.st_size / 2, good,
		 cut);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(nb_run((const char *[]){ "show", cut, NULL }, &c), 1);
	ck_assert_ptr_nonnull(strstr(c.err, "damaged"));
	ck_assert_int_eq(nb_run((const char *[]){ "export", "--csv", cut, NULL }, &c), 1);
	ck_assert_ptr_nonnull(strstr(c.err, "damaged"));

	snprintf(cmd, sizeof(cmd), "echo 'hello' > '%s'", text);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(nb_run((const char *[]){ "show", text, NULL }, &c), 1);
	ck_assert_ptr_nonnull(strstr(c.err, "not an HDF5 file"));

	f = H5Fopen(v9, H5F_ACC_RDWR, H5P_DEFAULT);
	ck_assert_int_ge(f, 0);
	a = H5Aopen(f, "schema_version", H5P_DEFAULT);
	ck_assert_int_ge(H5Awrite(a, H5T_NATIVE_INT, &v), 0);
	H5Aclose(a);
	H5Fclose(f);
	ck_assert_int_eq(nb_run((const char *[]){ "show", v9, NULL }, &c), 1);
	ck_assert_ptr_nonnull(strstr(c.err, "schema version 9"));
	/* HDF5's own error stack stays silent: our message is the only line */
	ck_assert_ptr_null(strstr(c.err, "HDF5-DIAG"));
}
END_TEST

/* ---- Ctrl-C ---- */

START_TEST(test_sigint_keeps_incomplete_file)
{
	const char *file = nb_path("int.h5");
	const char *partial = nb_path("int.incomplete.h5");
	/* five groups of one cell, each ~0.3 s of samples: the signal lands
	 * after the first group and long before the last */
	const char *args[] = { "run", "--quick", "--variants", "rmsnorm", "--threads", "1",
			       "--shapes", "64x1024,16x4096,32x2048,8x8192,128x512",
			       "--samples", "300", "-v", "-o", file, NULL };
	struct nb_capture c;
	struct nb_results r;
	int out_fd, err_fd, status;
	pid_t pid;
	time_t deadline = time(NULL) + 300;
	bool sent = false;

	memset(&c, 0, sizeof(c));
	pid = nb_spawn(args, &out_fd, &err_fd);
	while (nb_drain(&out_fd, &err_fd, &c, 100)) {
		if (!sent && strstr(c.err, "normbench: cell 1/")) {
			ck_assert_int_eq(kill(pid, SIGINT), 0);
			sent = true;
		}
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			ck_abort_msg("normbench did not stop: %s", c.err);
		}
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(sent, "never saw the first cell: %s", c.err);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 130,
		      "status %d: %s", status, c.err);
	ck_assert_ptr_nonnull(strstr(c.err, "interrupted"));
	/* nothing under the final name, no temporary left, a valid file
	 * marked incomplete beside it holding the finished cells */
	ck_assert_int_eq(access(file, F_OK), -1);
	ck_assert_int_eq(nb_test_count_files(".tmp."), 0);
	nb_check_run_file(partial, false);
	ck_assert_int_eq(nb_results_read(partial, &r), NB_OK);
	ck_assert_uint_ge(r.ncells, 1);
	ck_assert_uint_lt(r.ncells, 5);
	nb_results_free(&r);
	ck_assert_int_eq(nb_run((const char *[]){ "show", partial, NULL }, &c), 0);
	ck_assert_ptr_nonnull(strstr(c.out, "INCOMPLETE"));
	/* a second run to the same name must not silently replace the partial */
	ck_assert_int_eq(nb_run((const char *[]){ "run", "--quick", "-o", file, NULL }, &c), 1);
	ck_assert_ptr_nonnull(strstr(c.err, "incomplete"));
}
END_TEST

Suite *nb_suite_cli(void)
{
	Suite *s = suite_create("cli");
	TCase *tc = tcase_create("binary");

	tcase_add_checked_fixture(tc, NULL, nb_test_teardown);
	tcase_add_test(tc, test_bad_command_lines);
	tcase_add_test(tc, test_cli_refuses_damaged_files);
	tcase_add_test(tc, test_quick_run_show_export_force);
	tcase_add_test(tc, test_wrong_output_fails_the_run);
	tcase_add_test(tc, test_sigint_keeps_incomplete_file);
	suite_add_tcase(s, tc);
	return s;
}
