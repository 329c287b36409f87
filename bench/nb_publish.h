/* Publishing a finished file under its final name without ever leaving a
 * half-written one there: the results file (bench/nb_results.c) and the
 * verification files (verify/nb_verify_file.c) both go through here. */
#ifndef NB_PUBLISH_H
#define NB_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include <hdf5.h>

#include "common/nb_status.h"

/* The folder of path ("." without a slash, "/" for a file at the root). */
void nb_parent_dir(const char *path, char *dir, size_t size);

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

#endif
