/* Whether another task competed with a sample: /proc/stat's procs_running
 * (tasks runnable right now, all CPUs) and the steal time of its cpu line,
 * read before and after each sample, and the per-cell "busy" verdict. */
#ifndef NB_BUSY_H
#define NB_BUSY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one read of /proc/stat gives. */
struct nb_procstat {
	int64_t procs_running;   /* runnable tasks, the reader included */
	int64_t steal_ticks;     /* cpu line, 8th value (USER_HZ ticks) */
};

/*
 * Parses /proc/stat text (NUL-terminated). Needs the aggregate "cpu " line
 * (its steal field may be missing on old kernels: then 0) and a
 * "procs_running N" line. False when either is absent or malformed.
 */
bool nb_procstat_parse(const char *text, struct nb_procstat *out);

/* /proc/stat kept open: one pread per look (~5-10 us on this VM, outside
 * the timed region). fd < 0 when it cannot be read; why says why. */
struct nb_busy_probe {
	int fd;
	char why[128];
};

/* Opens /proc/stat (path NULL) or another file of its format (tests).
 * Never fails: an unreadable file leaves fd = -1 and the reason in why. */
void nb_busy_open(struct nb_busy_probe *p, const char *path);
void nb_busy_close(struct nb_busy_probe *p);
/* One look; false when the probe is closed or the text does not parse. */
bool nb_busy_read(struct nb_busy_probe *p, struct nb_procstat *out);

/*
 * This process's runnable tasks right now (state R in
 * /proc/self/task/<tid>/stat), the caller included; -1 when the folder
 * cannot be read.
 */
int nb_busy_own_running(void);
/*
 * One thread pool (issue 13): a cell of `threads` threads is oversubscribed
 * when its process had more runnable tasks of its own than that (a second
 * pool's workers spinning beside the team). Counted, never discounted from
 * procs_running: false when own_running is unknown (< 0) or threads is 0
 * (the libraries' default).
 */
bool nb_busy_oversubscribed(int own_running, int threads);
/*
 * The CPU time of each of this process's threads (per-thread CPU clocks of
 * the tids in /proc/self/task, nanoseconds): read before and after a
 * sample, it shows which threads ran during it, which a look at the states
 * at the sample's ends misses (a pool's worker that spins between regions
 * is asleep again when the sample ends). n = 0 when unreadable.
 */
#define NB_OWN_MAX_THREADS 256
struct nb_own_cpu {
	size_t n;
	int tid[NB_OWN_MAX_THREADS];
	int64_t ns[NB_OWN_MAX_THREADS];
};
void nb_own_cpu_read(struct nb_own_cpu *s);
/* Threads present in both snapshots that ran at least frac * wall_ns
 * between them; -1 when either snapshot is empty. */
int nb_own_cpu_active(const struct nb_own_cpu *before, const struct nb_own_cpu *after,
		      int64_t wall_ns, double frac);
/* The share of a sample a thread must run to count as one of the cell's
 * active threads (a team member, or a second pool's worker). */
#define NB_OWN_ACTIVE_FRAC 0.05

/* Appends "oversubscribed (...)" to the notes in buf ("; " between parts)
 * when oversubscribed; buf stays as is when the note does not fit. */
void nb_note_oversubscribed(char *buf, size_t size, bool oversubscribed);

/*
 * One sample's record from the looks before and after it: procs_running
 * the larger of the two, steal_ticks the growth of steal; both -1 when
 * either look failed.
 */
void nb_busy_sample(bool ok_before, const struct nb_procstat *before, bool ok_after,
		    const struct nb_procstat *after, int32_t *procs_running,
		    int32_t *steal_ticks);

/*
 * The busy rule. A sample of a `threads`-thread cell ran beside another
 * task when procs_running > threads (the reading thread is thread 0 of the
 * team, so the harness itself counts at most `threads`) or steal grew. A
 * cell is busy when more than half of its samples did. Samples with -1 are
 * unknown; a cell whose samples are all unknown is NB_BUSY_UNKNOWN.
 * *busy_samples / *known_samples (either may be NULL) receive the counts.
 */
enum nb_busy { NB_BUSY_NO, NB_BUSY_YES, NB_BUSY_UNKNOWN };
enum nb_busy nb_busy_verdict(const int32_t *procs_running, const int32_t *steal_ticks,
			     size_t n, int threads, size_t *busy_samples,
			     size_t *known_samples);

/*
 * A cell's notes ("; " between parts, "" when none) into buf:
 *  "above limit (N% of L GB/s): limit suspect" when nb_above_limit(gbps,
 *      limit_gbps) (bench/nb_stream.h);
 *  "busy (B of N samples beside another runnable task)" for NB_BUSY_YES;
 *  "busy unknown (why)" for NB_BUSY_UNKNOWN (why: the probe's reason).
 */
void nb_cell_notes(char *buf, size_t size, double gbps, double limit_gbps, enum nb_busy busy,
		   size_t busy_samples, size_t samples, const char *why);

/* The rule above in words, for the results file. */
#define NB_BUSY_RULE "busy: more than half of the samples saw /proc/stat procs_running " \
	"(this process's own tasks included, never discounted) > threads or the steal time " \
	"grow (read before and after each sample); oversubscribed: a sample saw more " \
	"runnable tasks of this process than the cell's threads, or more of its threads ran " \
	"at least 5% of the sample's time"

#endif
