/* Fixtures shared by the test files (tests/nb_test.h): the per-test
 * temporary folder, whole-file reads, and running the normbench binary. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/nb_test.h"

static char nb_dir[256];

const char *nb_test_dir(const char *tag)
{
	if (!nb_dir[0]) {
		snprintf(nb_dir, sizeof(nb_dir), "/tmp/nb_test_%s.XXXXXX", tag);
		ck_assert_ptr_nonnull(mkdtemp(nb_dir));
	}
	return nb_dir;
}

const char *nb_test_path(const char *tag, const char *name)
{
	static char buf[256][512];
	static int next;
	char *p = buf[next++ % 256];

	snprintf(p, 512, "%s/%s", nb_test_dir(tag), name);
	return p;
}

static void nb_rm_tree(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char p[1024];
		struct stat sb;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (lstat(p, &sb) == 0 && S_ISDIR(sb.st_mode))
			nb_rm_tree(p);
		else
			unlink(p);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

void nb_test_teardown(void)
{
	if (nb_dir[0])
		nb_rm_tree(nb_dir);
	nb_dir[0] = '\0';
}

int nb_test_count_files(const char *part)
{
	DIR *d = opendir(nb_dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += strstr(e->d_name, part) != NULL;
	closedir(d);
	return n;
}

char *nb_test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *s;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = malloc((size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return s;
}

bool nb_test_exists(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0;
}

int nb_test_run_bin(const char *tag, bool in_dir, const char *env, const char *args,
		    char **out, char **err)
{
	const char *bin = getenv("NB_BIN");
	const char *opath = nb_test_path(tag, "stdout.txt");
	const char *epath = nb_test_path(tag, "stderr.txt");
	char cmd[4096];
	int rc;

	ck_assert_msg(bin && *bin, "NB_BIN must name the normbench binary (make check sets it)");
	snprintf(cmd, sizeof(cmd), "%s%s%s%s '%s' %s > '%s' 2> '%s'", in_dir ? "cd '" : "",
		 in_dir ? nb_test_dir(tag) : "", in_dir ? "' && " : "", env ? env : "", bin,
		 args, opath, epath);
	rc = system(cmd);
	ck_assert_msg(rc != -1 && WIFEXITED(rc), "could not run: %s", cmd);
	if (out) {
		*out = nb_test_slurp(opath, NULL);
		ck_assert_ptr_nonnull(*out);
	}
	if (err) {
		*err = nb_test_slurp(epath, NULL);
		ck_assert_ptr_nonnull(*err);
	}
	return WEXITSTATUS(rc);
}
