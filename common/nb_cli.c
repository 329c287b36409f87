/* Strict parsers of command-line values shared by every command (one
 * syntax, one set of limits per option): numbers, comma lists, shapes,
 * thread counts, eps. */
#include "common/nb_cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- numbers ---- */

enum nb_status nb_parse_int(const char *str, long min, long max, const char *what,
			    long *out)
{
	char *end;
	long v;

	if (!str || !*str || isspace((unsigned char)*str))
		return nb_fail(NB_ERR_INVALID, "%s: expected an integer, got '%s'", what,
			       str ? str : "");
	errno = 0;
	v = strtol(str, &end, 10);
	if (*end != '\0')
		return nb_fail(NB_ERR_INVALID, "%s: '%s' is not an integer", what, str);
	if (errno == ERANGE || v < min || v > max)
		return nb_fail(NB_ERR_INVALID, "%s: %s is out of range [%ld, %ld]", what, str,
			       min, max);
	*out = v;
	return NB_OK;
}

enum nb_status nb_parse_u64(const char *str, const char *what, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!str || !isdigit((unsigned char)*str))
		return nb_fail(NB_ERR_INVALID, "%s: expected a non-negative integer, got '%s'",
			       what, str ? str : "");
	errno = 0;
	v = strtoull(str, &end, 0);
	if (*end != '\0' || errno == ERANGE)
		return nb_fail(NB_ERR_INVALID, "%s: '%s' is not a 64-bit unsigned integer",
			       what, str);
	*out = (uint64_t)v;
	return NB_OK;
}

enum nb_status nb_parse_double(const char *str, double min, double max, const char *what,
			       double *out)
{
	char *end;
	double v;

	if (!str || !*str || isspace((unsigned char)*str))
		return nb_fail(NB_ERR_INVALID, "%s: expected a number, got '%s'", what,
			       str ? str : "");
	errno = 0;
	v = strtod(str, &end);
	if (*end != '\0')
		return nb_fail(NB_ERR_INVALID, "%s: '%s' is not a number", what, str);
	if (!isfinite(v) || errno == ERANGE || v < min || v > max)
		return nb_fail(NB_ERR_INVALID, "%s: %s is out of range [%g, %g]", what, str, min,
			       max);
	*out = v;
	return NB_OK;
}

/* ---- comma lists ---- */

static bool nb_blank(char c)
{
	return c == ' ' || c == '\t';
}

enum nb_status nb_cli_each_item(const char *csv, const char *what,
				enum nb_status (*item)(const char *tok, void *ctx), void *ctx)
{
	char buf[NB_CLI_MAX_LIST + 1];
	const char *seen[NB_CLI_MAX_LIST / 2 + 1]; /* items are >= 1 byte + comma */
	size_t nseen = 0, len;
	char *p = buf;

	if (!csv || !*csv)
		return nb_fail(NB_ERR_INVALID, "%s: empty list", what);
	len = strlen(csv);
	if (len > NB_CLI_MAX_LIST)
		return nb_fail(NB_ERR_INVALID, "%s: list longer than %d bytes", what,
			       NB_CLI_MAX_LIST);
	memcpy(buf, csv, len + 1);
	for (;;) {
		char *comma = strchr(p, ',');
		char *end = comma ? comma : p + strlen(p);
		bool repeated = false;

		while (p < end && nb_blank(*p))
			p++;
		while (end > p && nb_blank(end[-1]))
			end--;
		if (end == p)
			return nb_fail(NB_ERR_INVALID, "%s: empty item in '%s'", what, csv);
		if (end - p > NB_CLI_MAX_ITEM)
			return nb_fail(NB_ERR_INVALID, "%s: item longer than %d bytes in '%.40s...'",
				       what, NB_CLI_MAX_ITEM, csv);
		*end = '\0';
		for (size_t i = 0; i < nseen && !repeated; i++)
			repeated = strcmp(seen[i], p) == 0;
		if (!repeated) {
			enum nb_status st = item(p, ctx);
			if (st != NB_OK)
				return st;
			seen[nseen++] = p;
		}
		if (!comma)
			return NB_OK;
		p = comma + 1;
	}
}

struct nb_find_ctx {
	const char *name;
	bool found;
};

static enum nb_status nb_find_item(const char *tok, void *ctx)
{
	struct nb_find_ctx *c = ctx;

	c->found = c->found || strcmp(tok, c->name) == 0;
	return NB_OK;
}

bool nb_cli_in_list(const char *csv, const char *name)
{
	struct nb_find_ctx c = { name, false };

	return nb_cli_each_item(csv, "list", nb_find_item, &c) == NB_OK && c.found;
}

struct nb_sizes_ctx {
	size_t lo, hi, max;
	const char *what;
	size_t *out;
	size_t n;
};

static enum nb_status nb_size_item(const char *tok, void *ctx)
{
	struct nb_sizes_ctx *c = ctx;
	unsigned long long v = 0;
	size_t len = strlen(tok);

	/* digits only: strtoull would take a sign, blanks and "0x" */
	if (len > 19 || strspn(tok, "0123456789") != len ||
	    (v = strtoull(tok, NULL, 10)) < c->lo || v > c->hi)
		return nb_fail(NB_ERR_INVALID, "%s: item '%s' must be a number in [%zu, %zu]",
			       c->what, tok, c->lo, c->hi);
	for (size_t i = 0; i < c->n; i++)
		if (c->out[i] == (size_t)v)
			return NB_OK;
	if (c->n == c->max)
		return nb_fail(NB_ERR_INVALID, "%s: at most %zu items", c->what, c->max);
	c->out[c->n++] = (size_t)v;
	return NB_OK;
}

enum nb_status nb_cli_parse_sizes(const char *csv, size_t lo, size_t hi, size_t max,
				  const char *what, size_t *out, size_t *n)
{
	struct nb_sizes_ctx c = { lo, hi, max, what, out, 0 };
	enum nb_status st = nb_cli_each_item(csv, what, nb_size_item, &c);

	if (st == NB_OK)
		*n = c.n;
	return st;
}

/* ---- shapes, threads, eps ---- */

/* A positive decimal size without sign, spaces or suffix. */
static bool nb_parse_dim(const char *str, size_t len, size_t *out)
{
	size_t v = 0;

	if (len == 0 || len > 12)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)str[i]))
			return false;
		v = v * 10 + (size_t)(str[i] - '0');
	}
	*out = v;
	return true;
}

enum nb_status nb_cli_parse_shape(const char *tok, const char *what, size_t *rows, size_t *d)
{
	const char *x = tok ? strpbrk(tok, "xX") : NULL;
	size_t r, c;

	if (!x || !nb_parse_dim(tok, (size_t)(x - tok), &r) ||
	    !nb_parse_dim(x + 1, strlen(x + 1), &c))
		return nb_fail(NB_ERR_INVALID, "%s: malformed shape '%s' (expected "
			       "ROWSxD, e.g. 64x4096)", what, tok ? tok : "");
	if (r == 0 || c == 0)
		return nb_fail(NB_ERR_INVALID, "%s: '%s': rows and d must be at least 1", what,
			       tok);
	if (r > NB_CLI_MAX_DIM || c > NB_CLI_MAX_DIM)
		return nb_fail(NB_ERR_INVALID, "%s: '%s': rows and d must be at most %zu", what,
			       tok, NB_CLI_MAX_DIM);
	if (r > NB_CLI_MAX_ELEMENTS / c)
		return nb_fail(NB_ERR_INVALID, "%s: '%s' has %zu elements; at most %zu "
			       "per buffer", what, tok, r * c, NB_CLI_MAX_ELEMENTS);
	*rows = r;
	*d = c;
	return NB_OK;
}

int nb_cli_cores(void)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	int procs = omp_get_num_procs();

	if (online < 1)
		online = 1;
	return procs < online ? procs : (int)online;
}

enum nb_status nb_cli_parse_threads(const char *tok, int cores, const char *what, int *out)
{
	long v;
	enum nb_status st = nb_parse_int(tok, LONG_MIN, LONG_MAX, what, &v);

	if (st != NB_OK)
		return st;
	if (v < 1)
		return nb_fail(NB_ERR_INVALID, "%s: %ld: a thread count is at least 1", what, v);
	if (v > cores)
		return nb_fail(NB_ERR_INVALID, "%s: %ld exceeds the %d CPUs this "
			       "process may use", what, v, cores);
	*out = (int)v;
	return NB_OK;
}

enum nb_status nb_cli_parse_eps(const char *str, double *eps)
{
	return nb_parse_double(str, 0, NB_CLI_EPS_MAX, "--eps", eps);
}
