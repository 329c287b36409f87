/* Status codes and the per-thread error message every fallible normbench call
 * leaves behind: actions return an nb_status, callers print nb_error(). */
#ifndef NB_STATUS_H
#define NB_STATUS_H

enum nb_status {
	NB_OK = 0,
	NB_ERR_INVALID,     /* a problem or argument the caller can fix */
	NB_ERR_UNSUPPORTED, /* valid, but this build or CPU cannot do it */
	NB_ERR_NOMEM,
	NB_ERR_IO,          /* files: missing, damaged, foreign schema */
	NB_ERR_NOTFOUND,    /* unknown kernel, variant, dtype, event name */
	NB_ERR_INTERRUPTED, /* stopped by a signal; partial results kept */
};

/* Records a printf-style message for the calling thread and returns status,
 * so a failing path reads: return nb_fail(NB_ERR_INVALID, "d must be > 0"); */
enum nb_status nb_fail(enum nb_status status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message recorded by nb_fail on this thread ("" if none). */
const char *nb_error(void);

const char *nb_status_name(enum nb_status status);

#endif
