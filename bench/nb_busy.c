/* The busy probe: /proc/stat procs_running and steal around each sample.
 * Reading it costs a few microseconds and happens outside the timing. */
#include "bench/nb_busy.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/nb_stream.h"

/* The value after "key " at the start of a line, or false. */
static bool nb_stat_line(const char *text, const char *key, const char **line)
{
	size_t klen = strlen(key);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, klen) == 0) {
			*line = p + klen;
			return true;
		}
	return false;
}

bool nb_procstat_parse(const char *text, struct nb_procstat *out)
{
	const char *p;
	char *end;
	long long v[8];
	int got = 0;

	if (!text || !nb_stat_line(text, "cpu ", &p))
		return false;
	/* user nice system idle iowait irq softirq steal [guest guest_nice] */
	while (got < 8) {
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		errno = 0;
		v[got] = strtoll(p, &end, 10);
		if (errno || end == p)
			return false;
		got++;
		p = end;
	}
	if (got < 4)
		return false;
	out->steal_ticks = got >= 8 ? v[7] : 0;
	if (!nb_stat_line(text, "procs_running ", &p))
		return false;
	errno = 0;
	out->procs_running = strtoll(p, &end, 10);
	if (errno || end == p || out->procs_running < 0 || (*end != '\n' && *end != '\0'))
		return false;
	return true;
}

void nb_busy_open(struct nb_busy_probe *p, const char *path)
{
	struct nb_procstat st;

	p->why[0] = '\0';
	p->fd = open(path ? path : "/proc/stat", O_RDONLY | O_CLOEXEC);
	if (p->fd < 0) {
		snprintf(p->why, sizeof(p->why), "cannot open %s: %s",
			 path ? path : "/proc/stat", strerror(errno));
		return;
	}
	if (!nb_busy_read(p, &st)) {
		close(p->fd);
		p->fd = -1;
		snprintf(p->why, sizeof(p->why), "%s has no cpu or procs_running line",
			 path ? path : "/proc/stat");
	}
}

void nb_busy_close(struct nb_busy_probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
}

int nb_busy_own_running(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int running = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char path[64], buf[512];
		const char *close_paren;
		ssize_t n;
		int fd;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%.20s/stat", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;   /* the thread ended meanwhile */
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		/* "tid (comm) S ...": comm may hold spaces and parentheses */
		close_paren = strrchr(buf, ')');
		if (close_paren && close_paren[1] == ' ' && close_paren[2] == 'R')
			running++;
	}
	closedir(d);
	return running;
}

bool nb_busy_oversubscribed(int own_running, int threads)
{
	return own_running >= 0 && threads > 0 && own_running > threads;
}

void nb_own_cpu_read(struct nb_own_cpu *s)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	s->n = 0;
	if (!d)
		return;
	while ((e = readdir(d)) != NULL && s->n < NB_OWN_MAX_THREADS) {
		char *end;
		long tid = strtol(e->d_name, &end, 10);
		struct timespec ts;
		/* the kernel's per-thread CPU clock of a thread of this process
		 * (what glibc's pthread_getcpuclockid builds): ~tid << 3 | SCHED
		 * (2) | PERTHREAD (4) */
		clockid_t clk = (clockid_t)(((unsigned)~(unsigned)tid << 3) | 6u);

		if (*end || end == e->d_name || tid <= 0 || clock_gettime(clk, &ts) != 0)
			continue;   /* not a tid, or the thread ended meanwhile */
		s->tid[s->n] = (int)tid;
		s->ns[s->n] = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		s->n++;
	}
	closedir(d);
}

int nb_own_cpu_active(const struct nb_own_cpu *before, const struct nb_own_cpu *after,
		      int64_t wall_ns, double frac)
{
	int active = 0;

	if (!before->n || !after->n)
		return -1;
	for (size_t i = 0; i < after->n; i++)
		for (size_t j = 0; j < before->n; j++)
			if (before->tid[j] == after->tid[i]) {
				active += (double)(after->ns[i] - before->ns[j]) >=
					  frac * (double)wall_ns;
				break;
			}
	return active;
}

void nb_note_oversubscribed(char *buf, size_t size, bool oversubscribed)
{
	static const char note[] = "oversubscribed (more runnable threads of this process "
				   "than the cell's threads)";
	size_t used = strnlen(buf, size);

	if (!oversubscribed || used + 2 + sizeof(note) > size)
		return;
	snprintf(buf + used, size - used, "%s%s", used ? "; " : "", note);
}

bool nb_busy_read(struct nb_busy_probe *p, struct nb_procstat *out)
{
	/* /proc/stat is ~1 KiB here (the intr line grows with the IRQs) */
	char buf[16384];
	ssize_t n;

	if (p->fd < 0)
		return false;
	n = pread(p->fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return nb_procstat_parse(buf, out);
}

void nb_busy_sample(bool ok_before, const struct nb_procstat *before, bool ok_after,
		    const struct nb_procstat *after, int32_t *procs_running,
		    int32_t *steal_ticks)
{
	int64_t r, s;

	if (!ok_before || !ok_after) {
		*procs_running = -1;
		*steal_ticks = -1;
		return;
	}
	r = before->procs_running > after->procs_running ? before->procs_running
							  : after->procs_running;
	s = after->steal_ticks - before->steal_ticks;
	*procs_running = (int32_t)(r > INT32_MAX ? INT32_MAX : r);
	*steal_ticks = (int32_t)(s < 0 ? 0 : s > INT32_MAX ? INT32_MAX : s);
}

enum nb_busy nb_busy_verdict(const int32_t *procs_running, const int32_t *steal_ticks,
			     size_t n, int threads, size_t *busy_samples,
			     size_t *known_samples)
{
	size_t busy = 0, known = 0;

	for (size_t i = 0; i < n; i++) {
		if (procs_running[i] < 0)
			continue;
		known++;
		busy += procs_running[i] > threads || (steal_ticks && steal_ticks[i] > 0);
	}
	if (busy_samples)
		*busy_samples = busy;
	if (known_samples)
		*known_samples = known;
	if (known == 0)
		return NB_BUSY_UNKNOWN;
	/* more than half of all samples, unknown ones counting as not busy */
	return 2 * busy > n ? NB_BUSY_YES : NB_BUSY_NO;
}

void nb_cell_notes(char *buf, size_t size, double gbps, double limit_gbps, enum nb_busy busy,
		   size_t busy_samples, size_t samples, const char *why)
{
	int used = 0, w = 0;

	if (size == 0)
		return;
	buf[0] = '\0';
	if (nb_above_limit(gbps, limit_gbps))
		used = snprintf(buf, size, "above limit (%.0f%% of %.1f GB/s): limit suspect",
				100.0 * gbps / limit_gbps, limit_gbps);
	if (used < 0 || (size_t)used >= size)
		return;
	if (busy == NB_BUSY_YES)
		w = snprintf(buf + used, size - (size_t)used, "%sbusy (%zu of %zu samples beside "
			     "another runnable task)", used ? "; " : "", busy_samples, samples);
	else if (busy == NB_BUSY_UNKNOWN)
		w = snprintf(buf + used, size - (size_t)used, "%sbusy unknown (%s)",
			     used ? "; " : "", why && *why ? why : "/proc/stat not read");
	(void)w;
}
