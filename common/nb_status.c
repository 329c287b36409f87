/* The per-thread error message behind nb_fail()/nb_error(). */
#include "common/nb_status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char nb_error_text[512];

enum nb_status nb_fail(enum nb_status status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(nb_error_text, sizeof(nb_error_text), fmt, ap);
	va_end(ap);
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
