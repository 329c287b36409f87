/* Collects the machine and build description that every results file
 * carries, and the machine key that `compare` matches on. */
#include "bench/nb_sysinfo.h"

#include <cblas.h>
#include <hdf5.h>
#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench/nb_commands.h"
#include "bench/nb_counters.h"
#include "kernels/nb_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

/* CPUID.1:ECX bit 31 and, when set, the vendor of leaf 0x40000000. */
static bool nb_cpuid_hypervisor(char vendor[16])
{
	unsigned a, b, c, d;

	vendor[0] = 0;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 31)))
		return false;
	__cpuid(0x40000000, a, b, c, d);
	memcpy(vendor, &b, 4);
	memcpy(vendor + 4, &c, 4);
	memcpy(vendor + 8, &d, 4);
	vendor[12] = 0;
	/* padded with spaces ("bhyve bhyve ") or NULs */
	for (int i = 11; i >= 0 && (vendor[i] == ' ' || vendor[i] == 0); i--)
		vendor[i] = 0;
	return true;
}
#else
static bool nb_cpuid_hypervisor(char vendor[16])
{
	vendor[0] = 0;
	return false;
}
#endif

#if defined(__clang__)
#define NB_COMPILER "clang " __VERSION__
#elif defined(__GNUC__)
#define NB_COMPILER "gcc " __VERSION__
#else
#define NB_COMPILER __VERSION__
#endif

unsigned long long nb_fnv1a(unsigned long long h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static void nb_copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

/* Trims the value of a "key\t: value" line of /proc/cpuinfo. */
static void nb_cpuinfo_value(const char *line, char *dst, size_t cap)
{
	const char *v = strchr(line, ':');
	size_t len;

	if (!v)
		return;
	v++;
	while (*v == ' ' || *v == '\t')
		v++;
	len = strcspn(v, "\n");
	while (len > 0 && v[len - 1] == ' ')
		len--;
	snprintf(dst, cap, "%.*s", (int)len, v);
}

/* The arm64 MIDR fields of /proc/cpuinfo ("" when absent, as on x86). */
struct nb_midr {
	char implementer[16], part[16], variant[16], revision[16];
};

static void nb_read_cpuinfo(struct nb_sysinfo *si, struct nb_midr *midr)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char *line = NULL;
	size_t cap = 0;

	if (!f)
		return;
	/* the first processor's entries describe the machine; arm64 lists
	 * its CPU features as "Features" and its identity as MIDR fields */
	while (getline(&line, &cap, f) > 0) {
		if (!si->cpu_model[0] && strncmp(line, "model name", 10) == 0)
			nb_cpuinfo_value(line, si->cpu_model, sizeof(si->cpu_model));
		else if (!si->cpu_flags[0] && (strncmp(line, "flags", 5) == 0 ||
					       strncmp(line, "Features", 8) == 0))
			nb_cpuinfo_value(line, si->cpu_flags, sizeof(si->cpu_flags));
		else if (!midr->implementer[0] && strncmp(line, "CPU implementer", 15) == 0)
			nb_cpuinfo_value(line, midr->implementer, sizeof(midr->implementer));
		else if (!midr->part[0] && strncmp(line, "CPU part", 8) == 0)
			nb_cpuinfo_value(line, midr->part, sizeof(midr->part));
		else if (!midr->variant[0] && strncmp(line, "CPU variant", 11) == 0)
			nb_cpuinfo_value(line, midr->variant, sizeof(midr->variant));
		else if (!midr->revision[0] && strncmp(line, "CPU revision", 12) == 0)
			nb_cpuinfo_value(line, midr->revision, sizeof(midr->revision));
		else if (strncmp(line, "processor", 9) == 0 && si->cpu_flags[0])
			break;
	}
	free(line);
	fclose(f);
}

#if defined(__aarch64__)
/* Names of the MIDR implementer/part pairs of the Arm server cores normbench
 * is evaluated on (Arm's TRMs; Linux arch/arm64/include/asm/cputype.h). */
static const char *nb_arm_core_name(unsigned long impl, unsigned long part)
{
	static const struct {
		unsigned long impl, part;
		const char *name;
	} cores[] = {
		{ 0x41, 0xd0c, "Arm Neoverse N1" }, { 0x41, 0xd40, "Arm Neoverse V1" },
		{ 0x41, 0xd49, "Arm Neoverse N2" }, { 0x41, 0xd4f, "Arm Neoverse V2" },
		{ 0x41, 0xd8e, "Arm Neoverse N3" }, { 0x41, 0xd84, "Arm Neoverse V3" },
		{ 0x41, 0xd08, "Arm Cortex-A72" },  { 0x41, 0xd0b, "Arm Cortex-A76" },
		{ 0x41, 0xd03, "Arm Cortex-A53" },  { 0x46, 0x001, "Fujitsu A64FX" },
		{ 0xc0, 0xac3, "Ampere AmpereOne" }, { 0x48, 0xd01, "HiSilicon TSV110" },
	};

	for (size_t i = 0; i < sizeof(cores) / sizeof(cores[0]); i++)
		if (cores[i].impl == impl && cores[i].part == part)
			return cores[i].name;
	return NULL;
}

/*
 * arm64: the CPU model from the MIDR fields, and whether this process runs
 * under emulation. Two signs, either enough: (1) /proc/cpuinfo has no MIDR
 * fields but x86 ones ("vendor_id"/"model name"): qemu-user passes the
 * host's file through, so aarch64 code is being translated on an x86 host;
 * (2) MIDR implementer 0x00 ("reserved for software use"), which qemu's
 * "max" CPU reports in full-system emulation. Emulated timings measure the
 * translator, not the CPU: results files and show/report mark such runs.
 */
static void nb_arm_describe(struct nb_sysinfo *si, const struct nb_midr *midr)
{
	if (!midr->implementer[0]) {
		char host[sizeof(si->cpu_model)];

		snprintf(host, sizeof(host), "%s", si->cpu_model[0] ? si->cpu_model : "unknown");
		snprintf(si->emulated, sizeof(si->emulated),
			 "user-mode emulation (qemu-user): aarch64 code on a non-Arm host");
		snprintf(si->cpu_model, sizeof(si->cpu_model), "emulated aarch64 on %.90s", host);
		return;
	}
	{
		unsigned long impl = strtoul(midr->implementer, NULL, 0);
		unsigned long part = strtoul(midr->part, NULL, 0);
		const char *name = nb_arm_core_name(impl, part);

		snprintf(si->cpu_model, sizeof(si->cpu_model),
			 "%s (MIDR implementer %s part %s variant %s revision %s)",
			 name ? name : "Arm CPU", midr->implementer, midr->part, midr->variant,
			 midr->revision);
		if (impl == 0)
			snprintf(si->emulated, sizeof(si->emulated),
				 "MIDR implementer 0x00: a software CPU (qemu's max)");
	}
}
#endif

/* Whether the space-separated list has the word w. */
static bool nb_has_word(const char *list, const char *w)
{
	size_t n = strlen(w);

	for (const char *p = list; (p = strstr(p, w)) != NULL; p += n)
		if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == 0))
			return true;
	return false;
}

/* Which threads run a BLAS call (openblas_get_parallel: 0 sequential, 1
 * OpenBLAS's own pthreads, 2 the caller's OpenMP team) and the wait policy
 * its idle threads follow. */
static void nb_blas_threading(char *buf, size_t cap)
{
	static const char *const model[] = {
		"sequential (BLAS calls run in the calling thread)",
		"pthreads (OpenBLAS's own thread pool, beside libgomp's)",
		"OpenMP (BLAS calls run in the caller's libgomp team: one pool)",
	};
	int par = openblas_get_parallel();
	const char *wait = getenv("OMP_WAIT_POLICY");

	snprintf(buf, cap, "%s; wait policy: %s", par >= 0 && par <= 2 ? model[par] : "unknown",
		 wait && *wait ? wait : "libgomp default (spin, then sleep)");
}

static const char *nb_proc_bind_name(omp_proc_bind_t b)
{
	switch (b) {
	case omp_proc_bind_false:
		return "false";
	case omp_proc_bind_true:
		return "true";
	case omp_proc_bind_master:
		return "primary";
	case omp_proc_bind_close:
		return "close";
	case omp_proc_bind_spread:
		return "spread";
	}
	return "?";
}

/* "proc_bind=close places=2: {0} {1}; team cpus: 0 1" — the places as
 * OpenMP reports them, and where a team of omp_max_threads threads runs
 * right now (unbound threads may move later). */
static void nb_omp_binding(char *buf, size_t cap)
{
	size_t len;
	int places = omp_get_num_places();
	int team_cpu[256];
	int team = 0;

	len = (size_t)snprintf(buf, cap, "proc_bind=%s places=%d",
			       nb_proc_bind_name(omp_get_proc_bind()), places);
	for (int p = 0; p < places && len < cap; p++) {
		int np = omp_get_place_num_procs(p);
		int ids[64];
		if (np > 64)
			np = 64;
		omp_get_place_proc_ids(p, ids);
		len += (size_t)snprintf(buf + len, cap - len, "%s{", p == 0 ? ": " : " ");
		for (int k = 0; k < np && len < cap; k++)
			len += (size_t)snprintf(buf + len, cap - len, "%s%d", k ? "," : "", ids[k]);
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "}");
	}
#pragma omp parallel
	{
		int t = omp_get_thread_num();
		if (t < 256)
			team_cpu[t] = sched_getcpu();
#pragma omp single
		team = omp_get_num_threads();
	}
	if (team > 256)
		team = 256;
	if (len < cap)
		len += (size_t)snprintf(buf + len, cap - len, "; team cpus:");
	for (int t = 0; t < team && len < cap; t++)
		len += (size_t)snprintf(buf + len, cap - len, " %d", team_cpu[t]);
}

void nb_utc_now(char *buf, size_t len)
{
	time_t now = time(NULL);
	struct tm tm;

	if (len == 0)
		return;
	buf[0] = 0;
	if (now == (time_t)-1 || !gmtime_r(&now, &tm))
		return;
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Nearest power of two in log scale, in KiB (0 stays 0): 42 KiB -> 32,
 * 0.96 MiB -> 1024. A measured size moves by a quarter octave between runs;
 * this rounding absorbs that unless the size sits near a boundary. */
static unsigned long long nb_round_pow2_kib(size_t bytes)
{
	double kib = (double)bytes / 1024.0;

	if (kib < 1.0)
		return 0;
	return 1ull << (int)lround(log2(kib));
}

void nb_machine_key(const struct nb_sysinfo *si, char out[17])
{
	unsigned long long h = NB_FNV1A_INIT;
	char buf[128];
	int n;

	h = nb_fnv1a(h, si->cpu_model, strlen(si->cpu_model) + 1);
	h = nb_fnv1a(h, si->cpu_flags, strlen(si->cpu_flags) + 1);
	/* the OS-reported L1d/L2 sizes, not the measured ones: the pointer
	 * chase found L2 at 789 KiB in one run and 2233 KiB minutes later on
	 * this VM, which made every other comparison refuse its files */
	n = snprintf(buf, sizeof(buf), "cores=%d l1d=%llu l2=%llu virt=%d", si->cores,
		     nb_round_pow2_kib(si->caches.os_l1d),
		     nb_round_pow2_kib(si->caches.os_l2), si->virtualized ? 1 : 0);
	h = nb_fnv1a(h, buf, (size_t)n);
	/* x86 keys are unchanged; an arm64 build (native or emulated) never
	 * shares a key with an x86 one, nor an emulated run with a native one */
#if defined(__aarch64__)
	n = snprintf(buf, sizeof(buf), "arch=aarch64 emulated=%d", si->emulated[0] ? 1 : 0);
	h = nb_fnv1a(h, buf, (size_t)n);
#endif
	snprintf(out, 17, "%016llx", h);
}

enum nb_status nb_sysinfo_collect(struct nb_sysinfo *out,
				  const struct nb_cache_levels *caches)
{
	enum nb_status st;
	struct utsname un;
	unsigned maj = 0, min = 0, rel = 0;
	char vendor[16];
	const char *env;
	long cores;

	struct nb_midr midr = { "", "", "", "" };

	memset(out, 0, sizeof(*out));
	if (gethostname(out->host, sizeof(out->host) - 1) != 0)
		out->host[0] = 0;
	nb_read_cpuinfo(out, &midr);
#if defined(__aarch64__)
	nb_arm_describe(out, &midr);
#else
	(void)midr;
#endif
	cores = sysconf(_SC_NPROCESSORS_ONLN);
	out->cores = cores > 0 ? (int)cores : 0;
	out->omp_procs = omp_get_num_procs();
	if (caches) {
		out->caches = *caches;
	} else {
		st = nb_measure_caches(&out->caches);
		if (st != NB_OK)
			return st;
	}
	out->virtualized = nb_cpuid_hypervisor(vendor) || nb_has_word(out->cpu_flags,
								       "hypervisor");
	nb_copy_str(out->hypervisor, sizeof(out->hypervisor), vendor);
	if (uname(&un) == 0)
		snprintf(out->kernel, sizeof(out->kernel), "%s %s %s", un.sysname, un.release,
			 un.machine);
	nb_copy_str(out->compiler, sizeof(out->compiler), NB_COMPILER);
	nb_copy_str(out->cflags, sizeof(out->cflags), nb_build_cflags);
	nb_papi_version(out->papi_version, sizeof(out->papi_version));
	if (H5get_libversion(&maj, &min, &rel) >= 0)
		snprintf(out->hdf5_version, sizeof(out->hdf5_version), "%u.%u.%u", maj, min, rel);
	nb_copy_str(out->blas_version, sizeof(out->blas_version), openblas_get_config());
	nb_blas_threading(out->blas_threading, sizeof(out->blas_threading));
	env = getenv("OMP_PROC_BIND");
	nb_copy_str(out->omp_proc_bind_env, sizeof(out->omp_proc_bind_env), env);
	env = getenv("OMP_PLACES");
	nb_copy_str(out->omp_places_env, sizeof(out->omp_places_env), env);
	nb_omp_binding(out->omp_binding, sizeof(out->omp_binding));
	out->omp_max_threads = omp_get_max_threads();
	nb_copy_str(out->isa_detected, sizeof(out->isa_detected),
		    nb_isa_name(nb_isa_detected()));
	nb_copy_str(out->isa_cap, sizeof(out->isa_cap), nb_isa_name(nb_isa_cap()));
	nb_machine_key(out, out->machine_key);
	nb_utc_now(out->utc_time, sizeof(out->utc_time));
	return NB_OK;
}
