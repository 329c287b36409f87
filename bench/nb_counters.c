/* PAPI event sets that degrade per event to "not available: <reason>",
 * normbench's libsde counters, and Linux software events per thread. */
#include "bench/nb_counters.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <omp.h>
#include <papi.h>
#include <pthread.h>
#include <sde_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/nb_cli.h"

const char *const nb_counters_default[] = {
	"PAPI_TOT_CYC", "PAPI_TOT_INS", "PAPI_L1_DCM", "PAPI_L2_DCM", "PAPI_L3_TCM",
};
const size_t nb_counters_default_count =
	sizeof(nb_counters_default) / sizeof(nb_counters_default[0]);

/* ---- libsde: normbench's own counters ---- */

enum { NB_SDE_CALLS, NB_SDE_ROWS_I, NB_SDE_BYTES_I, NB_SDE_N };
static const char *const nb_sde_names[NB_SDE_N] = { "kernel_calls", "rows", "bytes" };
/* libsde reads these through the registered pointers; nb_sde_add updates
 * them atomically */
static long long nb_sde_values[NB_SDE_N];
static pthread_once_t nb_sde_once = PTHREAD_ONCE_INIT;
static papi_handle_t nb_sde_handle;

/* libsde keeps copies of the counter names until the library shuts down */
static void nb_sde_shutdown(void)
{
	papi_sde_shutdown(nb_sde_handle);
}

static void nb_sde_register_once(void)
{
	papi_handle_t h = papi_sde_init(NB_SDE_LIBRARY);

	nb_sde_handle = h;
	atexit(nb_sde_shutdown);

	/* no papi_sde_describe_counter: libsde 7.0 then never frees its
	 * copies of the names, even at papi_sde_shutdown (ASan reports it);
	 * the meaning of each counter is in nb_counters.h */
	for (int i = 0; i < NB_SDE_N; i++)
		papi_sde_register_counter(h, nb_sde_names[i], PAPI_SDE_RO | PAPI_SDE_DELTA,
					  PAPI_SDE_long_long, &nb_sde_values[i]);
}

void nb_sde_register(void)
{
	pthread_once(&nb_sde_once, nb_sde_register_once);
}

void nb_sde_add(uint64_t calls, uint64_t rows, uint64_t bytes)
{
	nb_sde_register();
	__atomic_fetch_add(&nb_sde_values[NB_SDE_CALLS], (long long)calls, __ATOMIC_RELAXED);
	__atomic_fetch_add(&nb_sde_values[NB_SDE_ROWS_I], (long long)rows, __ATOMIC_RELAXED);
	__atomic_fetch_add(&nb_sde_values[NB_SDE_BYTES_I], (long long)bytes, __ATOMIC_RELAXED);
}

/* ---- PAPI ---- */

static pthread_once_t nb_papi_once = PTHREAD_ONCE_INIT;
static int nb_papi_init_rc = PAPI_ENOINIT;

static unsigned long nb_thread_id(void)
{
	return (unsigned long)pthread_self();
}

static void nb_papi_init_once(void)
{
	/* register first, so the SDE component finds the library at init */
	nb_sde_register();
	nb_papi_init_rc = PAPI_library_init(PAPI_VER_CURRENT);
	if (nb_papi_init_rc == PAPI_VER_CURRENT) {
		int rc = PAPI_thread_init(nb_thread_id);
		nb_papi_init_rc = rc == PAPI_OK ? PAPI_OK : rc;
	} else if (nb_papi_init_rc > 0) {
		nb_papi_init_rc = PAPI_EINVAL;   /* header and library versions differ */
	}
}

static int nb_papi_init(void)
{
	pthread_once(&nb_papi_once, nb_papi_init_once);
	return nb_papi_init_rc;
}

void nb_papi_version(char *buf, size_t len)
{
	int v;

	if (nb_papi_init() != PAPI_OK) {
		snprintf(buf, len, "compiled %d.%d.%d.%d, runtime ?",
			 PAPI_VERSION_MAJOR(PAPI_VERSION), PAPI_VERSION_MINOR(PAPI_VERSION),
			 PAPI_VERSION_REVISION(PAPI_VERSION),
			 PAPI_VERSION_INCREMENT(PAPI_VERSION));
		return;
	}
	v = PAPI_get_opt(PAPI_LIB_VERSION, NULL);
	snprintf(buf, len, "compiled %d.%d.%d.%d, runtime %d.%d.%d.%d",
		 PAPI_VERSION_MAJOR(PAPI_VERSION), PAPI_VERSION_MINOR(PAPI_VERSION),
		 PAPI_VERSION_REVISION(PAPI_VERSION), PAPI_VERSION_INCREMENT(PAPI_VERSION),
		 PAPI_VERSION_MAJOR(v), PAPI_VERSION_MINOR(v), PAPI_VERSION_REVISION(v),
		 PAPI_VERSION_INCREMENT(v));
}

struct nb_event {
	char *name;
	bool available;
	char reason[512];
	int set;               /* which event set, when available */
	int slot;              /* index in that set's PAPI_stop values */
};

/* PAPI binds an event set to one component: a PMU preset and an SDE event
 * cannot share one. So one set per component, started and stopped together. */
struct nb_evset {
	int cidx;
	int eventset;
	int navail;
	long long raw[NB_COUNTERS_MAX];
};

struct nb_counters {
	size_t n;
	int nsets;
	bool running;
	struct nb_evset sets[NB_COUNTERS_MAX];
	struct nb_event ev[];
};

/* The perf_event component's disabled_reason ("" when enabled or absent). */
static const char *nb_perf_disabled_reason(void)
{
	int cidx = PAPI_get_component_index("perf_event");
	const PAPI_component_info_t *ci;

	if (cidx < 0)
		return "";
	ci = PAPI_get_component_info(cidx);
	return ci && ci->disabled ? ci->disabled_reason : "";
}

/* PAPI's reason for add failure rc, with the disabled_reason of the
 * event's component when that component is disabled. */
static void nb_add_reason(char *buf, size_t cap, int code, int rc)
{
	int cidx = PAPI_get_event_component(code);
	const PAPI_component_info_t *ci = cidx >= 0 ? PAPI_get_component_info(cidx) : NULL;

	if (ci && ci->disabled)
		snprintf(buf, cap, "PAPI_add_event: %.120s (component %.40s: %.300s)", PAPI_strerror(rc),
			 ci->name, ci->disabled_reason);
	else
		snprintf(buf, cap, "PAPI_add_event: %s", PAPI_strerror(rc));
}

/* A native event name in PAPI's syntax (pmu::event or component:::event). */
static bool nb_is_native_syntax(const char *name)
{
	return strstr(name, "::") != NULL;
}

static bool nb_is_our_sde(const char *name)
{
	static const char prefix[] = "sde:::" NB_SDE_LIBRARY "::";

	return strncmp(name, prefix, sizeof(prefix) - 1) == 0;
}

static bool nb_is_known_sde(const char *name)
{
	const char *c = name + sizeof("sde:::" NB_SDE_LIBRARY "::") - 1;

	for (int i = 0; i < NB_SDE_N; i++)
		if (strcmp(c, nb_sde_names[i]) == 0)
			return true;
	return false;
}

/* The event set of component cidx, created on first use (NULL and *rc set
 * when PAPI cannot create it). */
static struct nb_evset *nb_counters_set_for(struct nb_counters *c, int cidx, int *rc)
{
	struct nb_evset *set;

	for (int k = 0; k < c->nsets; k++)
		if (c->sets[k].cidx == cidx)
			return &c->sets[k];
	set = &c->sets[c->nsets];
	set->cidx = cidx;
	set->eventset = PAPI_NULL;
	set->navail = 0;
	*rc = PAPI_create_eventset(&set->eventset);
	if (*rc != PAPI_OK)
		return NULL;
	c->nsets++;
	return set;
}

/* Resolves and adds one event; NB_ERR_NOTFOUND for a name that is no event. */
static enum nb_status nb_counters_add(struct nb_counters *c, struct nb_event *e, int init_rc)
{
	struct nb_evset *set;
	int code = 0, rc = PAPI_OK;

	if (init_rc != PAPI_OK) {
		snprintf(e->reason, sizeof(e->reason), "PAPI_library_init failed: %s",
			 PAPI_strerror(init_rc));
		return NB_OK;
	}
	/* PAPI makes a placeholder for any sde::: name (a library may register
	 * it later); ours are known now, so an unknown one is a typo */
	if (nb_is_our_sde(e->name) && !nb_is_known_sde(e->name))
		return nb_fail(NB_ERR_NOTFOUND,
			       "unknown event '%s': normbench's SDE counters are %s, %s, %s",
			       e->name, NB_SDE_KERNEL_CALLS, NB_SDE_ROWS, NB_SDE_BYTES);
	rc = PAPI_event_name_to_code(e->name, &code);
	if (rc != PAPI_OK) {
		const char *why = nb_perf_disabled_reason();
		/* a native event of a disabled PMU cannot even be resolved; that
		 * is the machine's fault, not the user's */
		if (nb_is_native_syntax(e->name) && strncmp(e->name, "sde:::", 6) != 0 &&
		    why[0]) {
			snprintf(e->reason, sizeof(e->reason),
				 "PAPI_event_name_to_code: %.120s (component perf_event: %.300s)",
				 PAPI_strerror(rc), why);
			return NB_OK;
		}
		return nb_fail(NB_ERR_NOTFOUND, "unknown event '%s' (PAPI: %s; see papi_avail "
			       "and papi_native_avail)", e->name, PAPI_strerror(rc));
	}
	set = nb_counters_set_for(c, PAPI_get_event_component(code), &rc);
	if (!set) {
		snprintf(e->reason, sizeof(e->reason), "PAPI_create_eventset: %s",
			 PAPI_strerror(rc));
		return NB_OK;
	}
	rc = PAPI_add_event(set->eventset, code);
	if (rc != PAPI_OK) {
		nb_add_reason(e->reason, sizeof(e->reason), code, rc);
		return NB_OK;
	}
	e->available = true;
	e->reason[0] = 0;
	e->set = (int)(set - c->sets);
	e->slot = set->navail++;
	return NB_OK;
}

enum nb_status nb_counters_open(const char *const *names, size_t n,
				struct nb_counters **out)
{
	struct nb_counters *c;
	enum nb_status st = NB_OK;
	int init_rc;

	*out = NULL;
	if (n > NB_COUNTERS_MAX)
		return nb_fail(NB_ERR_INVALID, "%zu events; at most %d in one set", n,
			       NB_COUNTERS_MAX);
	for (size_t i = 0; i < n; i++)
		if (!names || !names[i] || !names[i][0])
			return nb_fail(NB_ERR_INVALID, "event %zu has no name", i);
	c = calloc(1, sizeof(*c) + n * sizeof(c->ev[0]));
	if (!c)
		return nb_fail(NB_ERR_NOMEM, "no memory for %zu counters", n);
	for (size_t i = 0; i < n; i++) {
		c->ev[i].name = strdup(names[i]);
		if (!c->ev[i].name) {
			c->n = i;
			st = nb_fail(NB_ERR_NOMEM, "no memory for counter names");
			goto close_counters;
		}
		c->ev[i].slot = -1;
	}
	c->n = n;
	init_rc = n > 0 ? nb_papi_init() : PAPI_OK;
	for (size_t i = 0; i < n; i++) {
		st = nb_counters_add(c, &c->ev[i], init_rc);
		if (st != NB_OK)
			goto close_counters;
	}
	*out = c;
	return NB_OK;
close_counters:
	nb_counters_close(c);
	return st;
}

enum nb_status nb_counters_start(struct nb_counters *c)
{
	if (c->running)
		return NB_OK;
	for (int k = 0; k < c->nsets; k++) {
		int rc;
		if (c->sets[k].navail == 0)
			continue;
		rc = PAPI_start(c->sets[k].eventset);
		if (rc != PAPI_OK) {
			/* undo the sets already started: all or nothing */
			for (int j = k - 1; j >= 0; j--)
				if (c->sets[j].navail > 0)
					PAPI_stop(c->sets[j].eventset, c->sets[j].raw);
			return nb_fail(NB_ERR_UNSUPPORTED, "PAPI_start: %s", PAPI_strerror(rc));
		}
	}
	c->running = true;
	return NB_OK;
}

enum nb_status nb_counters_stop(struct nb_counters *c, long long *values)
{
	int rc = PAPI_OK;
	bool was_running = c->running;

	/* in reverse start order, so the first-started set counts the least
	 * of the others' start/stop overhead */
	for (int k = c->nsets - 1; k >= 0 && was_running; k--) {
		int r;
		if (c->sets[k].navail == 0)
			continue;
		r = PAPI_stop(c->sets[k].eventset, c->sets[k].raw);
		if (r != PAPI_OK)
			rc = r;
	}
	c->running = false;
	for (size_t i = 0; i < c->n; i++)
		values[i] = c->ev[i].available && was_running && rc == PAPI_OK
			? c->sets[c->ev[i].set].raw[c->ev[i].slot] : NB_COUNTER_UNAVAILABLE;
	if (rc != PAPI_OK)
		return nb_fail(NB_ERR_UNSUPPORTED, "PAPI_stop: %s", PAPI_strerror(rc));
	return NB_OK;
}

size_t nb_counters_count(const struct nb_counters *c)
{
	return c->n;
}

const char *nb_counters_name(const struct nb_counters *c, size_t i)
{
	return i < c->n ? c->ev[i].name : NULL;
}

bool nb_counters_available(const struct nb_counters *c, size_t i)
{
	return i < c->n && c->ev[i].available;
}

const char *nb_counters_reason(const struct nb_counters *c, size_t i)
{
	return i < c->n ? c->ev[i].reason : "";
}

void nb_counters_close(struct nb_counters *c)
{
	if (!c)
		return;
	for (int k = 0; k < c->nsets; k++) {
		long long scratch[NB_COUNTERS_MAX];
		if (c->running && c->sets[k].navail > 0)
			PAPI_stop(c->sets[k].eventset, scratch);
		PAPI_cleanup_eventset(c->sets[k].eventset);
		PAPI_destroy_eventset(&c->sets[k].eventset);
	}
	for (size_t i = 0; i < c->n; i++)
		free(c->ev[i].name);
	free(c);
}

struct nb_names {
	char **names;
	size_t n, cap;
};

/* One item of the event list: a copy appended to the array. */
static enum nb_status nb_name_item(const char *tok, void *ctx)
{
	struct nb_names *l = ctx;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 8;
		char **grown = realloc(l->names, ncap * sizeof(*grown));
		if (!grown)
			return nb_fail(NB_ERR_NOMEM, "no memory for the event list");
		l->names = grown;
		l->cap = ncap;
	}
	l->names[l->n] = strdup(tok);
	if (!l->names[l->n])
		return nb_fail(NB_ERR_NOMEM, "no memory for the event list");
	l->n++;
	return NB_OK;
}

enum nb_status nb_counters_parse_list(const char *csv, char ***names, size_t *n)
{
	struct nb_names l = { NULL, 0, 0 };
	enum nb_status st = nb_cli_each_item(csv, "--events", nb_name_item, &l);

	if (st != NB_OK) {
		nb_counters_free_names(l.names, l.n);
		l.names = NULL;
		l.n = 0;
	}
	*names = l.names;
	*n = l.n;
	return st;
}

void nb_counters_free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- Linux software events ---- */

static const char *const nb_swevent_names[NB_SW_COUNT] = {
	[NB_SW_CONTEXT_SWITCHES] = "context_switches",
	[NB_SW_CPU_MIGRATIONS] = "cpu_migrations",
	[NB_SW_PAGE_FAULTS_MIN] = "page_faults_minor",
	[NB_SW_PAGE_FAULTS_MAJ] = "page_faults_major",
};

static const unsigned long long nb_swevent_config[NB_SW_COUNT] = {
	[NB_SW_CONTEXT_SWITCHES] = PERF_COUNT_SW_CONTEXT_SWITCHES,
	[NB_SW_CPU_MIGRATIONS] = PERF_COUNT_SW_CPU_MIGRATIONS,
	[NB_SW_PAGE_FAULTS_MIN] = PERF_COUNT_SW_PAGE_FAULTS_MIN,
	[NB_SW_PAGE_FAULTS_MAJ] = PERF_COUNT_SW_PAGE_FAULTS_MAJ,
};

const char *nb_swevent_name(enum nb_swevent e)
{
	return (unsigned)e < NB_SW_COUNT ? nb_swevent_names[e] : "?";
}

static int nb_perf_open(unsigned long long config, pid_t tid, int group_fd)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = config;
	attr.read_format = PERF_FORMAT_GROUP;
	/* kernel side included: a context switch happens in the kernel, and
	 * excluding it would count none */
	attr.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &attr, tid, -1, group_fd, 0);
}

static void nb_swevents_unavailable(struct nb_swevents *sw, const char *what, int err)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "r");
	int paranoid = 99;

	if (f) {
		if (fscanf(f, "%d", &paranoid) != 1)
			paranoid = 99;
		fclose(f);
	}
	sw->available = false;
	if (paranoid != 99)
		snprintf(sw->reason, sizeof(sw->reason),
			 "perf_event_open(%s): %s (kernel.perf_event_paranoid = %d)", what,
			 strerror(err), paranoid);
	else
		snprintf(sw->reason, sizeof(sw->reason), "perf_event_open(%s): %s", what,
			 strerror(err));
}

enum nb_status nb_swevents_open(struct nb_swevents *sw, int threads)
{
	pid_t *tids;
	int nt;

	memset(sw, 0, sizeof(*sw));
	if (threads < 0 || threads > 4096)
		return nb_fail(NB_ERR_INVALID, "software events for %d threads", threads);
	nt = threads > 0 ? threads : omp_get_max_threads();
	tids = calloc((size_t)nt, sizeof(*tids));
	sw->fd = malloc((size_t)nt * NB_SW_COUNT * sizeof(*sw->fd));
	if (!tids || !sw->fd) {
		free(tids);
		free(sw->fd);
		sw->fd = NULL;
		return nb_fail(NB_ERR_NOMEM, "no memory for software events");
	}
	for (int i = 0; i < nt * NB_SW_COUNT; i++)
		sw->fd[i] = -1;
	/* the team's thread ids: thread 0 is the caller */
#pragma omp parallel num_threads(nt)
	{
		int t = omp_get_thread_num();
		if (t < nt)
			tids[t] = (pid_t)syscall(SYS_gettid);
	}
	sw->threads = nt;
	sw->available = true;
	for (int t = 0; t < nt && sw->available; t++) {
		/* a team smaller than asked (OMP_THREAD_LIMIT): cover what exists */
		if (tids[t] == 0) {
			sw->threads = t;
			break;
		}
		for (int e = 0; e < NB_SW_COUNT; e++) {
			int lead = sw->fd[t * NB_SW_COUNT];
			int fd = nb_perf_open(nb_swevent_config[e], tids[t], e == 0 ? -1 : lead);
			if (fd < 0) {
				nb_swevents_unavailable(sw, nb_swevent_names[e], errno);
				break;
			}
			sw->fd[t * NB_SW_COUNT + e] = fd;
		}
	}
	free(tids);
	if (!sw->available) {
		for (int i = 0; i < nt * NB_SW_COUNT; i++)
			if (sw->fd[i] >= 0)
				close(sw->fd[i]);
		free(sw->fd);
		sw->fd = NULL;
		sw->threads = 0;
	}
	return NB_OK;
}

void nb_swevents_read(struct nb_swevents *sw, uint64_t values[NB_SW_COUNT])
{
	memset(values, 0, NB_SW_COUNT * sizeof(*values));
	if (!sw->available)
		return;
	for (int t = 0; t < sw->threads; t++) {
		uint64_t buf[1 + NB_SW_COUNT];
		ssize_t got = read(sw->fd[t * NB_SW_COUNT], buf, sizeof(buf));
		if (got < (ssize_t)sizeof(uint64_t))
			continue;
		for (uint64_t e = 0; e < buf[0] && e < NB_SW_COUNT; e++)
			values[e] += buf[1 + e];
	}
}

void nb_swevents_start(struct nb_swevents *sw)
{
	nb_swevents_read(sw, sw->start);
}

void nb_swevents_stop(struct nb_swevents *sw, uint64_t values[NB_SW_COUNT])
{
	nb_swevents_read(sw, values);
	for (int e = 0; e < NB_SW_COUNT; e++)
		values[e] -= sw->start[e];
}

void nb_swevents_close(struct nb_swevents *sw)
{
	if (sw->fd) {
		for (int i = 0; i < sw->threads * NB_SW_COUNT; i++)
			if (sw->fd[i] >= 0)
				close(sw->fd[i]);
		free(sw->fd);
	}
	sw->fd = NULL;
	sw->threads = 0;
	sw->available = false;
}
