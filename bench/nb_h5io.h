/* Checked HDF5 reads shared by every normbench reader (results, verify,
 * report inputs): each read checks type class, element size, rank and element
 * count before touching memory, so a damaged or hostile file gives a status
 * and a message, never an overflow. Also the file access list every normbench
 * file is written with (metadata checksums). */
#ifndef NB_H5IO_H
#define NB_H5IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#include "common/nb_status.h"

/* Longest string (bytes) a reader accepts from a file; longer ones are
 * refused as damage rather than allocated. */
#define NB_H5_MAX_STRING 65536
/* Largest table a reader allocates (rows x row bytes). */
#define NB_H5_MAX_TABLE_BYTES ((uint64_t)1 << 32)
/* Most columns in one table description. */
#define NB_H5_MAX_COLUMNS 96

/* The in-memory kind of one value; integers read from a float-typed file
 * value must be integral and in range. */
enum nb_h5_kind { NB_H5_STR, NB_H5_I32, NB_H5_U32, NB_H5_I64, NB_H5_U64, NB_H5_F64 };

/* One column of a table (a compound dataset) or one scalar field: the file's
 * member name, where it sits in the row struct, its size there (strings: the
 * fixed width, NUL included), its kind, and for columns added after a schema
 * was first written the value a file without it gets. */
struct nb_h5_column {
	const char *name;
	size_t offset;
	size_t size;
	enum nb_h5_kind kind;
	bool optional;
	int64_t def;
};

/* A file access list: close everything on H5Fclose (H5F_CLOSE_STRONG) and,
 * with for_writing, the 1.8+ file format bounds, whose superblock and object
 * headers carry checksums, so damage to metadata is detected on read. */
hid_t nb_h5_fapl(bool for_writing);

/* Seconds the damage probe of nb_h5_open_readonly may take, and the largest
 * dataset whose data it reads (bytes). */
#define NB_H5_PROBE_SECONDS 10
#define NB_H5_PROBE_MAX_DATA ((uint64_t)64 << 20)

/*
 * The damage probe: HDF5 itself can crash or loop on a damaged file (1.10.8:
 * use-after-free in H5O__msg_iterate_real, H5HG_read, an endless loop on a
 * zeroed block). So a forked child with a time limit first opens path and
 * reads everything in it (every object, attribute and dataset of up to
 * NB_H5_PROBE_MAX_DATA bytes); when the
 * child dies or runs out of time, path is "damaged" (NB_ERR_IO) and the
 * caller never touches it. When the child finishes, NB_OK (the caller's own
 * checked reads then judge the file). Environment NB_READ_PROBE=0 turns the
 * probe off (the fuzzer, which wants the crash in its own process). A path
 * probed already (same device, inode, size and mtime) is not probed again.
 */
enum nb_status nb_h5_probe(const char *path);

/* Opens path read-only after checking it is a readable regular file that
 * HDF5 recognises and that passes nb_h5_probe. -1 with nb_fail's message
 * (naming path) otherwise. */
hid_t nb_h5_open_readonly(const char *path);

/* From now on nb_h5_open_readonly(name) opens the size bytes at data as the
 * file (an in-memory image, HDF5's core driver) instead of a file on disk:
 * every reader and its checks run unchanged, with no file written and no
 * damage probe (the fuzzer, fuzz/fuzz_readers.c, which wants HDF5's own
 * crashes in its own process). name must not exist as a file (the core
 * driver refuses one that does). data must stay valid until the next call;
 * a NULL name serves nothing. */
void nb_h5_serve_image(const char *name, const void *data, size_t size);

/* True when loc has an attribute name (false also on an error). */
bool nb_h5_has_attr(hid_t loc, const char *name);

/* Reads a string attribute (fixed or variable length) that holds exactly one
 * string of at most NB_H5_MAX_STRING bytes into dst (cut to size-1 bytes).
 * NB_ERR_NOTFOUND when absent; NB_ERR_IO with a message naming the attribute
 * (not the file: callers prefix it) for a wrong class, shape or size. */
enum nb_status nb_h5_read_string_attr(hid_t loc, const char *name, char *dst, size_t size);

/* Reads a numeric attribute of at most max elements (a scalar counts as 1,
 * rank at most 1) into dst as kind; *count gets the element count. Integer
 * kinds read from a float-typed attribute must be integral and in range.
 * Errors as nb_h5_read_string_attr. */
enum nb_status nb_h5_read_number_attr(hid_t loc, const char *name, enum nb_h5_kind kind,
				      void *dst, size_t max, size_t *count);
/* The same for a numeric attribute that must be a single value. */
enum nb_status nb_h5_read_scalar_attr(hid_t loc, const char *name, enum nb_h5_kind kind,
				      void *dst);

/* Reads the 1-d compound dataset loc/name into a fresh heap array of
 * row_size-byte rows (*rows, freed by the caller, NULL for no rows).
 * Every column that is not optional must be a member of the right class
 * (fixed-length string for NB_H5_STR, integer or float otherwise); members
 * the description lacks are ignored; missing optional columns get their
 * default; strings are NUL-terminated. NB_ERR_IO with a message naming the
 * table for anything else. */
enum nb_status nb_h5_read_table(hid_t loc, const char *name, const struct nb_h5_column *cols,
				size_t ncols, size_t row_size, void **rows, size_t *count);

/* Sets the field at p to column c's default. */
void nb_h5_column_default(const struct nb_h5_column *c, void *p);

#endif
