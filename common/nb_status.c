/* The per-thread error message behind nb_fail()/nb_error(). */
#include "common/nb_status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char nb_error_text[512];

enum nb_status nb_fail(enum nb_status status, const char *fmt, ...)
{
	char text[sizeof(nb_error_text)];
	va_list ap;

	/* format into a local buffer first: callers may pass nb_error() itself
	 * as an argument ("%s: %s", path, nb_error()) */
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	memcpy(nb_error_text, text, sizeof(text));
	return status;
}

const char *nb_error(void)
{
	return nb_error_text;
}

const char *nb_status_name(enum nb_status status)
{
	switch (status) {
	case NB_OK: return "ok";
	case NB_ERR_INVALID: return "invalid argument";
	case NB_ERR_UNSUPPORTED: return "unsupported";
	case NB_ERR_NOMEM: return "out of memory";
	case NB_ERR_IO: return "input/output error";
	case NB_ERR_NOTFOUND: return "not found";
	case NB_ERR_INTERRUPTED: return "interrupted";
	}
	return "unknown status";
}
