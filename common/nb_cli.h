/* Strict parsers of command-line values, shared by every command: one
 * syntax and one set of limits per option, whichever command takes it.
 * Each returns NB_OK, or NB_ERR_INVALID (NB_ERR_NOTFOUND for an unknown
 * name) with a one-line message that starts with the option's name (what),
 * for the command to print; the output is written only on success. */
#ifndef NB_CLI_H
#define NB_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/nb_status.h"

/* A whole decimal integer in [min, max]: optional '-', digits, nothing
 * else (no spaces, no suffix). */
enum nb_status nb_parse_int(const char *str, long min, long max, const char *what,
			    long *out);
/* A whole non-negative 64-bit integer, decimal or 0x hexadecimal (seeds). */
enum nb_status nb_parse_u64(const char *str, const char *what, uint64_t *out);
/* A finite number (strtod syntax, whole string) in [min, max]. */
enum nb_status nb_parse_double(const char *str, double min, double max, const char *what,
			       double *out);

/*
 * Comma lists. Blanks (space, tab) around an item are dropped; an empty
 * list, an empty item ("a,,b", "a,", ",a") and a list longer than
 * NB_CLI_MAX_LIST bytes are NB_ERR_INVALID; an item repeated letter for
 * letter counts once (its first place). nb_cli_each_item calls
 * item(tok, ctx) on each item in order and stops at the first failure,
 * whose status (and message) it returns.
 */
#define NB_CLI_MAX_LIST 4096
#define NB_CLI_MAX_ITEM 255
enum nb_status nb_cli_each_item(const char *csv, const char *what,
				enum nb_status (*item)(const char *tok, void *ctx), void *ctx);
/* Whether name is an item of the comma list csv (same splitting); false
 * for a malformed list. */
bool nb_cli_in_list(const char *csv, const char *name);

/* A comma list of whole decimal numbers, each in [lo, hi]; duplicates count
 * once; at most max distinct items go to out, *n their count. */
enum nb_status nb_cli_parse_sizes(const char *csv, size_t lo, size_t hi, size_t max,
				  const char *what, size_t *out, size_t *n);

/* Limits of one shape ROWSxD (run --shapes, verify --shape): rows and d at
 * most 2^24 each, at most 2^30 elements per buffer (4 GiB of f32) — a
 * larger cell is not a norm layer any transformer runs. */
#define NB_CLI_MAX_DIM ((size_t)1 << 24)
#define NB_CLI_MAX_ELEMENTS ((size_t)1 << 30)
/* ROWSxD (x or X), two whole decimal numbers in [1, NB_CLI_MAX_DIM] whose
 * product is at most NB_CLI_MAX_ELEMENTS. */
enum nb_status nb_cli_parse_shape(const char *tok, const char *what, size_t *rows, size_t *d);

/* The CPUs this process may use (OpenMP's view, at most those online):
 * the upper limit of every --threads. */
int nb_cli_cores(void);
/* One thread count (run --threads items, verify --threads): 1 .. cores. */
enum nb_status nb_cli_parse_threads(const char *tok, int cores, const char *what, int *out);

/* --eps (run, verify): a finite number in [0, NB_CLI_EPS_MAX]. eps is a
 * regularizer added to a mean square (or, outside, to an rms) of rows
 * normalized to O(1): 1e-12 .. 1e-5 in the models that matter; above 1 it
 * dominates the row and nothing the tools judge means anything. */
#define NB_CLI_EPS_MAX 1.0
enum nb_status nb_cli_parse_eps(const char *str, double *eps);

#endif
