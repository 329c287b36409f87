/* Human-readable numbers shared by the commands and the report: a time with
 * an SI prefix, a byte count in binary units. Each writes into buf and
 * returns it. */
#ifndef NB_FORMAT_H
#define NB_FORMAT_H

#include <stddef.h>

/* "812.3 ns", "4.25 us", "1.02 ms", "2.500 s" (at most 9 characters); "-"
 * when s is not a positive finite number. */
const char *nb_fmt_time(double s, char *buf, size_t size);
/* "512 B", "48.0 KiB", "2.0 MiB", "1.5 GiB". */
const char *nb_fmt_bytes(double b, char *buf, size_t size);

#endif
