/* What machine and build produced a results file: host, CPU, caches (OS and
 * measured), virtualization, kernel, compiler, libraries, OpenMP binding,
 * ISA, and a machine key hashed from the slow-changing fields only. */
#ifndef NB_SYSINFO_H
#define NB_SYSINFO_H

#include <stdbool.h>
#include <stddef.h>

#include "bench/nb_stream.h"
#include "common/nb_status.h"

struct nb_sysinfo {
	char host[256];            /* gethostname */
	char cpu_model[128];       /* /proc/cpuinfo "model name"; arm64: from the
				    * MIDR implementer/part fields */
	char cpu_flags[4096];      /* /proc/cpuinfo "flags", space separated */
	int cores;                 /* online logical CPUs (sysconf) */
	int omp_procs;             /* omp_get_num_procs(): CPUs this process may use */
	struct nb_cache_levels caches;
	bool virtualized;          /* CPUID.1:ECX[31] or the "hypervisor" flag */
	char hypervisor[16];       /* CPUID 0x40000000 vendor, e.g. "KVMKVMKVM";
				    * "" when not virtualized */
	char emulated[96];         /* "" native; else how this run is emulated
				    * (arm64 under qemu): timings are then not
				    * performance */
	char kernel[200];          /* uname: sysname release machine */
	char compiler[128];        /* "gcc " __VERSION__ */
	char cflags[256];          /* nb_build_cflags (bench/version.c) */
	char papi_version[64];     /* "compiled 7.0.0.0, runtime 7.0.0.0" */
	char hdf5_version[32];     /* H5get_libversion */
	char blas_version[256];    /* openblas_get_config() */
	char blas_threading[256];  /* OpenBLAS's threading model and the wait policy */
	char omp_proc_bind_env[64];  /* OMP_PROC_BIND as set ("" unset) */
	char omp_places_env[128];    /* OMP_PLACES as set ("" unset) */
	char omp_binding[512];     /* what OpenMP reports: "proc_bind=false
				    * places=0" or "proc_bind=close places=2:
				    * {0} {1}" */
	int omp_max_threads;
	char isa_detected[16];     /* nb_isa_name(nb_isa_detected()) */
	char isa_cap[16];          /* nb_isa_name(nb_isa_cap()) */
	char machine_key[17];      /* 16 hex digits, see nb_machine_key */
	char utc_time[32];         /* when collected, nb_utc_now format */
};

/*
 * Fills *out; measures the caches (nb_measure_caches, ~1 s) unless caches
 * is non-NULL, in which case that measurement is copied in. Facts that
 * cannot be read are left "" / 0; only out-of-memory fails.
 */
enum nb_status nb_sysinfo_collect(struct nb_sysinfo *out,
				  const struct nb_cache_levels *caches);

/*
 * FNV-1a 64 of the slow-changing fields, as 16 lowercase hex digits:
 * cpu_model, cpu_flags, cores, measured L1d and L2 each rounded to the
 * nearest power of two (in KiB), virtualized. Not the host name, time,
 * kernel, compiler or libraries: those change without the machine changing.
 * Not the measured L3 either: a last-level cache shared with other tenants
 * measures anywhere from 10 to 26 MiB between runs on this VM, and a key
 * must not flip between two runs on the same machine.
 */
void nb_machine_key(const struct nb_sysinfo *si, char out[17]);

/* 64-bit FNV-1a of len bytes, continuing from h (start: NB_FNV1A_INIT). */
#define NB_FNV1A_INIT 0xcbf29ce484222325ull
unsigned long long nb_fnv1a(unsigned long long h, const void *data, size_t len);

/* Current UTC time as ISO 8601 "2024-05-01T12:34:56Z" into buf (>= 21
 * bytes; "" if the clock fails). */
void nb_utc_now(char *buf, size_t len);

#endif
