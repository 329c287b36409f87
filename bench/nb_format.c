/* Human-readable times and byte counts (bench/nb_format.h). */
#include "bench/nb_format.h"

#include <math.h>
#include <stdio.h>

const char *nb_fmt_time(double s, char *buf, size_t size)
{
	if (!(s > 0) || !isfinite(s))
		snprintf(buf, size, "-");
	else if (s < 1e-6)
		snprintf(buf, size, "%.1f ns", s * 1e9);
	else if (s < 1e-3)
		snprintf(buf, size, "%.2f us", s * 1e6);
	else if (s < 1)
		snprintf(buf, size, "%.2f ms", s * 1e3);
	else
		snprintf(buf, size, "%.3f s", s);
	return buf;
}

const char *nb_fmt_bytes(double b, char *buf, size_t size)
{
	if (b >= 1024.0 * 1024 * 1024)
		snprintf(buf, size, "%.1f GiB", b / (1024.0 * 1024 * 1024));
	else if (b >= 1024.0 * 1024)
		snprintf(buf, size, "%.1f MiB", b / (1024.0 * 1024));
	else if (b >= 1024.0)
		snprintf(buf, size, "%.1f KiB", b / 1024.0);
	else
		snprintf(buf, size, "%.0f B", b);
	return buf;
}
