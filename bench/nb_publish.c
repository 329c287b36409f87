/* Atomic publication of finished files: fsync, rename (or link) onto the
 * final name, fsync the folder (bench/nb_publish.h). */
#include "bench/nb_publish.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
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
