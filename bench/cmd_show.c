/* `normbench show FILE`: a readable summary of one results file — machine,
 * conventions, STREAM bandwidth, counters and one line per cell. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench/nb_commands.h"
#include "bench/nb_format.h"
#include "bench/nb_results.h"

static void nb_show_usage(FILE *out)
{
	fprintf(out,
		"usage: normbench show FILE [--samples]\n"
		"Prints a summary of a results file of 'normbench run': the machine, the\n"
		"conventions, the measured bandwidth, the counters and one line per cell\n"
		"(median time, its 95%% confidence interval, GB/s and %% of the machine's\n"
		"measured limit, stability and the accuracy check).\n"
		"  --samples   also print every raw sample of every cell\n"
		"Exit status 1 when the file is missing, damaged or of another schema.\n");
}

static void nb_show_meta(const char *path, const struct nb_results *r)
{
	const struct nb_results_meta *m = &r->meta;

	printf("normbench results: %s\n", path);
	printf("  %s run of %s, %.1f s; normbench %s (git %s%s), schema %d\n",
	       m->complete ? "complete" : "INCOMPLETE (interrupted)", m->utc_time,
	       m->duration_s, m->normbench_version, m->git_rev, m->git_dirty ? ", dirty" : "",
	       m->schema_version);
	printf("  command: %s\n", m->command_line);
	printf("  preset %s, seed %llu\n\n", m->preset, (unsigned long long)m->seed);
	printf("machine (key %s)\n", m->machine_key);
	printf("  host %s, %s\n", m->host, m->os);
	printf("  CPU %s, %d logical CPUs%s%s%s\n", m->cpu_model, m->cores,
	       m->virtualized ? ", virtualized" : "", m->hypervisor[0] ? " by " : "",
	       m->hypervisor);
	if (m->emulated[0])
		printf("  EMULATED (%s): the timings below measure the emulator, not "
		       "this CPU; they are not performance\n", m->emulated);
	printf("  caches %s\n", m->caches);
	printf("  ISA detected %s, cap %s\n", m->isa_detected, m->isa_cap);
	printf("  threads: %s; %s\n", m->openmp, m->thread_binding);
	printf("  compiler %s, flags %s\n", m->compiler, m->cflags);
	printf("  PAPI %s; HDF5 %s\n  BLAS %s\n", m->papi_version, m->hdf5_version,
	       m->blas_version);
	printf("  Linux software events per sample: %s\n\n", m->perf_events);
	printf("conventions\n");
	printf("  eps %g %s the square root; pRMSNorm p = %g, k = %s(p*d)\n\n", m->eps,
	       strcmp(m->eps_mode, "inside") == 0 ? "inside" : "outside (x/(rms+eps))",
	       m->prms_p, m->prms_round);
	printf("measurement\n");
	printf("  timer %s, resolution %.0f ns; %d samples per cell of %g-%g ms after a "
	       "%g ms warm-up\n", m->timer, m->timer_resolution_ns, m->min_samples,
	       m->min_sample_ms, m->max_sample_ms, m->warmup_ms);
	printf("  unstable when: %s\n", m->unstable_rule);
	if (m->notes_rule[0])
		printf("  notes: %s\n", m->notes_rule);
	if (m->buffer_offset >= 0)
		printf("  buffers: y, dx (FlashNorm z) %lld bytes past a 2 MiB boundary, x and dy "
		       "on one (--buffer-offset)\n", (long long)m->buffer_offset);
	else
		printf("  buffers: default alignment (2 MiB from 2 MiB up, else 64 B)\n");
	printf("\n");
}

static void nb_show_stream(const struct nb_results *r)
{
	char b[32];

	if (r->nstream == 0)
		return;
	printf("machine bandwidth (STREAM counting, best repetition, GB/s)\n");
	printf("  %7s %-5s %10s %8s %8s %8s  %s\n", "threads", "level", "array", "read", "copy",
	       "copy_nt", "notes");
	for (size_t i = 0; i < r->nstream; i++) {
		const struct nb_stream_row *s = &r->stream[i];
		printf("  %7d %-5s %10s %8.1f %8.1f %8.1f%s%s\n", (int)s->threads, s->level,
		       nb_fmt_bytes((double)s->bytes, b, sizeof(b)), s->read_gbps, s->copy_gbps,
		       s->copy_nt_gbps, s->notes[0] ? "  " : "", s->notes);
	}
	printf("\n");
}

/* One line per distinct event: available, or PAPI's reason. */
static void nb_show_counters(const struct nb_results *r)
{
	if (r->ncounters == 0)
		return;
	printf("counters\n");
	for (size_t i = 0; i < r->ncounters; i++) {
		const struct nb_counter_row *c = &r->counters[i];
		bool seen = false;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(r->counters[j].event, c->event) == 0;
		if (seen)
			continue;
		if (c->available)
			printf("  %-32s available\n", c->event);
		else
			printf("  %-32s not available: %s\n", c->event, c->reason);
	}
	printf("\n");
}

static void nb_show_cells(const struct nb_results *r, bool samples)
{
	char med[16], lo[16], hi[16];
	size_t unstable = 0, failed = 0, unchecked = 0, above = 0, busy = 0, busy_unknown = 0;

	printf("cells (%zu; times per call, CI = bootstrap 95%% of the median)\n", r->ncells);
	printf("  %-9s %-36s %-4s %-3s %-11s %3s %-4s %10s %21s %8s %6s %s\n", "variant",
	       "impl", "type", "dir", "rows x d", "thr", "mem", "median", "CI", "GB/s",
	       "%limit", "notes");
	for (size_t i = 0; i < r->ncells; i++) {
		const struct nb_cell_row *c = &r->cells[i];
		char shape[32], ci[48];
		const char *ver = c->verified == 1 ? "verified"
			: c->verified == 0 ? "ACCURACY FAILED" : "not verified";

		snprintf(shape, sizeof(shape), "%llux%llu", (unsigned long long)c->rows,
			 (unsigned long long)c->d);
		snprintf(ci, sizeof(ci), "[%s, %s]", nb_fmt_time(c->ci_lo_s, lo, sizeof(lo)),
			 nb_fmt_time(c->ci_hi_s, hi, sizeof(hi)));
		/* '!' beside a fraction above the limit: see the notes */
		printf("  %-9s %-36s %-4s %-3s %-11s %3d %-4s %10s %21s %8.2f %5.0f%%%s %s%s%s%s\n",
		       c->variant, c->impl, c->dtype, c->dir, shape, (int)c->threads, c->cache,
		       nb_fmt_time(c->median_s, med, sizeof(med)), ci, c->gbps,
		       isfinite(c->fraction) ? c->fraction * 100 : 0.0,
		       strstr(c->notes, "above limit") ? "!" : "",
		       c->unstable ? "UNSTABLE, " : "", ver, c->notes[0] ? "; " : "", c->notes);
		unstable += c->unstable != 0;
		above += strstr(c->notes, "above limit") != NULL;
		busy += strstr(c->notes, "busy (") != NULL;
		busy_unknown += strstr(c->notes, "busy unknown") != NULL;
		failed += c->verified == 0;
		unchecked += c->verified < 0;
		if (samples) {
			size_t n;
			const struct nb_sample_row *s = nb_results_cell_samples(r, i, &n);
			for (size_t j = 0; j < n; j++)
				printf("      round %3u: %s x %llu calls, ctx %lld, migr %lld, "
				       "faults %lld\n", (unsigned)s[j].round,
				       nb_fmt_time(s[j].seconds, med, sizeof(med)),
				       (unsigned long long)s[j].iterations,
				       (long long)s[j].ctx_switches, (long long)s[j].migrations,
				       (long long)s[j].page_faults);
		}
	}
	printf("\n%zu cells: %zu unstable, %zu failed the accuracy check, %zu not checked%s\n",
	       r->ncells, unstable, failed, unchecked,
	       r->has_verify ? "; the file also holds a /verify group" : "");
	if (above)
		printf("%zu cells above their limit: the measured bandwidth limit is suspect "
		       "(see the bandwidth table's notes)\n", above);
	if (busy)
		printf("%zu cells busy (another task was runnable during most of their samples)\n",
		       busy);
	if (busy_unknown)
		printf("%zu cells: unknown whether another task competed (see their notes)\n",
		       busy_unknown);
}

int nb_cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "samples", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct nb_results r;
	bool samples = false;
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 's': samples = true; break;
		case 'h': nb_show_usage(stdout); return NB_EXIT_OK;
		default:
			fprintf(stderr, "normbench show: unknown option '%s' (see normbench show "
				"--help)\n", argv[optind - 1]);
			return NB_EXIT_ERROR;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "normbench show: expected exactly one results file (see "
			"normbench show --help)\n");
		return NB_EXIT_ERROR;
	}
	if (nb_results_read(argv[optind], &r) != NB_OK) {
		fprintf(stderr, "normbench show: %s\n", nb_error());
		nb_results_free(&r);
		return NB_EXIT_ERROR;
	}
	nb_show_meta(argv[optind], &r);
	nb_show_stream(&r);
	nb_show_counters(&r);
	nb_show_cells(&r, samples);
	nb_results_free(&r);
	return NB_EXIT_OK;
}
