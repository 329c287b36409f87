/* Publishing a finished file under its final name without ever leaving a
 * half-written one there: the results file (bench/nb_results.c) and the
 * verification files (verify/nb_verify_file.c) both go through here. */
#ifndef NB_PUBLISH_H
#define NB_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <limits.h>

#include <hdf5.h>

#include "common/nb_status.h"

/* The folder of path ("." without a slash, "/" for a file at the root). */
void nb_parent_dir(const char *path, char *dir, size_t size);

/* Creates path's parent directories (mode 0777 & ~umask) when missing. */
enum nb_status nb_make_parent_dirs(const char *path);

/* fsyncs path (a closed file, or a folder). Some file systems refuse fsync
 * on a folder: not an error. */
enum nb_status nb_fsync_path(const char *path, bool directory);

/* Renames tmp onto path and fsyncs path's folder. With replace an existing
 * path is replaced in one rename; without, it is never replaced
 * (RENAME_NOREPLACE, else link(), which refuses too), so two writers cannot
 * clobber each other. */
enum nb_status nb_publish(const char *tmp, const char *path, bool replace);

/* Closes the HDF5 file written at tmp; when st is NB_OK, flushes it first,
 * fsyncs it and publishes it onto path (nb_publish). On any failure tmp is
 * removed. Returns the final status. */
enum nb_status nb_publish_h5(hid_t file, const char *tmp, const char *path, bool replace,
			     enum nb_status st);

/* True when a and b both exist and are the same file (same device and
 * inode: hard links, symlinks and ./x vs x included). */
bool nb_same_file(const char *a, const char *b);

/* Refuses (NB_ERR_INVALID, naming both) an output that is one of the n
 * inputs, before any work is done; "-" (stdout) and NULL pass. */
enum nb_status nb_check_not_input(const char *what, const char *out,
				  const char *const *inputs, size_t n);

/* A text output (CSV, Markdown, JSON) written to "path.tmp.<pid>" and renamed
 * onto path only when complete and synced: begin opens the temporary file
 * (parents created), commit checks every write, fsyncs, closes and renames
 * (replacing path only with replace, as nb_publish), abort removes the temporary file. Neither leaves a
 * temporary file behind on failure. */
struct nb_text_out {
	FILE *fp;
	char path[PATH_MAX];
	char tmp[PATH_MAX + 32];
};
enum nb_status nb_text_out_begin(const char *path, struct nb_text_out *o);
enum nb_status nb_text_out_commit(struct nb_text_out *o, bool replace);
void nb_text_out_abort(struct nb_text_out *o);

#endif
