/* Atomic publication of finished files: fsync, rename (or link) onto the
 * final name, fsync the folder (bench/nb_publish.h). */
#include "bench/nb_publish.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void nb_parent_dir(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');

	if (!slash)
		snprintf(dir, size, ".");
	else if (slash == path)
		snprintf(dir, size, "/");
	else
		snprintf(dir, size, "%.*s", (int)(slash - path), path);
}

enum nb_status nb_fsync_path(const char *path, bool directory)
{
	int fd = open(path, (directory ? O_DIRECTORY : 0) | O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0)
		return nb_fail(NB_ERR_IO, "cannot open %s to sync it: %s", path, strerror(errno));
	rc = fsync(fd);
	close(fd);
	if (rc != 0 && !(directory && (errno == EINVAL || errno == EBADF)))
		return nb_fail(NB_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
	return NB_OK;
}

enum nb_status nb_publish(const char *tmp, const char *path, bool replace)
{
	char dir[PATH_MAX];

	if (replace) {
		if (rename(tmp, path) != 0)
			return nb_fail(NB_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
				       strerror(errno));
	} else if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) != 0) {
		if (errno == EEXIST)
			return nb_fail(NB_ERR_IO, "%s exists (use --force to replace it)", path);
		if (errno != EINVAL && errno != ENOSYS)
			return nb_fail(NB_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
				       strerror(errno));
		/* no RENAME_NOREPLACE here: link() also refuses to replace */
		if (link(tmp, path) != 0) {
			if (errno == EEXIST)
				return nb_fail(NB_ERR_IO, "%s exists (use --force to replace it)",
					       path);
			return nb_fail(NB_ERR_IO, "cannot link %s to %s: %s", tmp, path,
				       strerror(errno));
		}
		unlink(tmp);
	}
	nb_parent_dir(path, dir, sizeof(dir));
	return nb_fsync_path(dir, true);
}

enum nb_status nb_publish_h5(hid_t file, const char *tmp, const char *path, bool replace,
			     enum nb_status st)
{
	if (st == NB_OK && H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
		st = nb_fail(NB_ERR_IO, "cannot flush %s", tmp);
	if (H5Fclose(file) < 0 && st == NB_OK)
		st = nb_fail(NB_ERR_IO, "cannot close %s", tmp);
	if (st == NB_OK)
		st = nb_fsync_path(tmp, false);
	if (st == NB_OK)
		st = nb_publish(tmp, path, replace);
	if (st != NB_OK)
		unlink(tmp);
	return st;
}

bool nb_same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return a && b && stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
		sa.st_ino == sb.st_ino;
}

enum nb_status nb_check_not_input(const char *what, const char *out,
				  const char *const *inputs, size_t n)
{
	if (!out || strcmp(out, "-") == 0)
		return NB_OK;
	for (size_t i = 0; i < n; i++)
		if (nb_same_file(out, inputs[i]))
			return nb_fail(NB_ERR_INVALID, "%s %s is the input file %s: refusing to "
				       "overwrite an input", what, out, inputs[i]);
	return NB_OK;
}

enum nb_status nb_make_parent_dirs(const char *path)
{
	char dir[PATH_MAX];

	nb_parent_dir(path, dir, sizeof(dir));
	for (char *p = dir + 1;; p++) {
		char c = *p;
		if (c != '/' && c != '\0')
			continue;
		*p = '\0';
		if (mkdir(dir, 0777) != 0 && errno != EEXIST)
			return nb_fail(NB_ERR_IO, "cannot create directory %s: %s", dir,
				       strerror(errno));
		*p = c;
		if (c == '\0')
			break;
	}
	return NB_OK;
}

enum nb_status nb_text_out_begin(const char *path, struct nb_text_out *o)
{
	enum nb_status st;

	o->fp = NULL;
	o->tmp[0] = '\0';
	if (!path || !*path || snprintf(o->path, sizeof(o->path), "%s", path) >=
	    (int)sizeof(o->path))
		return nb_fail(NB_ERR_INVALID, "output file name missing or too long");
	st = nb_make_parent_dirs(path);
	if (st != NB_OK)
		return st;
	snprintf(o->tmp, sizeof(o->tmp), "%s.tmp.%ld", path, (long)getpid());
	o->fp = fopen(o->tmp, "w");
	if (!o->fp) {
		st = nb_fail(NB_ERR_IO, "cannot create %s: %s", o->tmp, strerror(errno));
		o->tmp[0] = '\0';
	}
	return st;
}

enum nb_status nb_text_out_commit(struct nb_text_out *o, bool replace)
{
	enum nb_status st = NB_OK;
	int bad;

	if (!o->fp)
		return nb_fail(NB_ERR_INVALID, "no output open");
	bad = fflush(o->fp) != 0 || ferror(o->fp) || fsync(fileno(o->fp)) != 0;
	if (bad)
		st = nb_fail(NB_ERR_IO, "cannot write %s: %s", o->tmp, strerror(errno));
	if (fclose(o->fp) != 0 && st == NB_OK)
		st = nb_fail(NB_ERR_IO, "cannot write %s: %s", o->tmp, strerror(errno));
	o->fp = NULL;
	if (st == NB_OK)
		st = nb_publish(o->tmp, o->path, replace);
	if (st != NB_OK)
		unlink(o->tmp);
	o->tmp[0] = '\0';
	return st;
}

void nb_text_out_abort(struct nb_text_out *o)
{
	if (o->fp)
		fclose(o->fp);
	o->fp = NULL;
	if (o->tmp[0])
		unlink(o->tmp);
	o->tmp[0] = '\0';
}
