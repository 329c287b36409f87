/* The inputs of `normbench report`: a run's results file (with or without
 * /verify) or a standalone verify file, read and labelled by host. */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "bench/nb_h5io.h"
#include "reports/nb_report.h"

/* The root attributes a standalone verify file has (nb_verify_write_file);
 * NB_ERR_IO when it is not one of this schema. */
static enum nb_status nb_rep_verify_meta(const char *path, struct nb_results_meta *m)
{
	static const struct { const char *name; size_t offset, size; } strings[] = {
#define NB_REP_STR(f) { #f, offsetof(struct nb_results_meta, f), sizeof(m->f) }
		NB_REP_STR(host), NB_REP_STR(utc_time), NB_REP_STR(git_rev),
		NB_REP_STR(normbench_version), NB_REP_STR(isa_detected), NB_REP_STR(isa_cap),
		NB_REP_STR(emulated),
		NB_REP_STR(command_line), NB_REP_STR(eps_mode), NB_REP_STR(prms_round),
#undef NB_REP_STR
	};
	hid_t file;
	enum nb_status st = NB_OK;
	int32_t version = 0;

	nb_results_quiet_hdf5();
	file = nb_h5_open_readonly(path);
	if (file < 0)
		return NB_ERR_IO;
	if (nb_h5_read_string_attr(file, "kind", m->kind, sizeof(m->kind)) != NB_OK ||
	    strcmp(m->kind, "verify") != 0) {
		st = nb_fail(NB_ERR_IO, "%s is not a normbench results or verify file", path);
		goto close_file;
	}
	st = nb_h5_read_scalar_attr(file, "schema_version", NB_H5_I32, &version);
	if (st != NB_OK) {
		st = nb_fail(NB_ERR_IO, "%s is damaged: root %s", path, nb_error());
		goto close_file;
	}
	if (version != NB_RESULTS_SCHEMA_VERSION) {
		st = nb_fail(NB_ERR_IO, "%s has schema version %d, this normbench reads %d",
			     path, (int)version, NB_RESULTS_SCHEMA_VERSION);
		goto close_file;
	}
	m->schema_version = version;
	/* the rest is descriptive: absent is fine, present must be well formed */
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]) && st == NB_OK; i++)
		if (nb_h5_has_attr(file, strings[i].name))
			st = nb_h5_read_string_attr(file, strings[i].name,
						    (char *)m + strings[i].offset,
						    strings[i].size);
	if (st == NB_OK && nb_h5_has_attr(file, "git_dirty"))
		st = nb_h5_read_scalar_attr(file, "git_dirty", NB_H5_I32, &m->git_dirty);
	if (st == NB_OK && nb_h5_has_attr(file, "eps"))
		st = nb_h5_read_scalar_attr(file, "eps", NB_H5_F64, &m->eps);
	if (st == NB_OK && nb_h5_has_attr(file, "prms_p"))
		st = nb_h5_read_scalar_attr(file, "prms_p", NB_H5_F64, &m->prms_p);
	if (st == NB_OK && nb_h5_has_attr(file, "seed"))
		st = nb_h5_read_scalar_attr(file, "seed", NB_H5_U64, &m->seed);
	if (st != NB_OK)
		st = nb_fail(NB_ERR_IO, "%s is damaged: root %s", path, nb_error());
	m->complete = 1;
close_file:
	H5Fclose(file);
	return st;
}

enum nb_status nb_report_load(const char *path, struct nb_report_input *in)
{
	enum nb_status st;
	char why[1024];

	memset(in, 0, sizeof(*in));
	nb_results_init(&in->res);
	nb_verify_tables_init(&in->ver);
	nb_res_strcpy(in->path, sizeof(in->path), path);
	/* a missing or unreadable file gets nb_h5_open_readonly's message
	 * from both readers below */
	st = nb_results_read(path, &in->res);
	if (st == NB_OK) {
		in->has_run = true;
		if (in->res.has_verify) {
			st = nb_verify_read(path, &in->ver, &in->verify_holds);
			if (st != NB_OK)
				return nb_fail(NB_ERR_IO, "%s: its /verify group: %s", path,
					       nb_error());
			in->has_verify = true;
		}
		return NB_OK;
	}
	/* not a run's file: a standalone verify file, or the reader's message */
	nb_res_strcpy(why, sizeof(why), nb_error());
	nb_results_free(&in->res);
	nb_results_init(&in->res);
	if (nb_rep_verify_meta(path, &in->res.meta) != NB_OK)
		return nb_fail(NB_ERR_IO, "%s", why);
	st = nb_verify_read(path, &in->ver, &in->verify_holds);
	if (st != NB_OK)
		return nb_fail(NB_ERR_IO, "%s: %s", path, nb_error());
	in->has_verify = true;
	return NB_OK;
}

void nb_report_input_free(struct nb_report_input *in)
{
	nb_results_free(&in->res);
	nb_verify_tables_free(&in->ver);
}

static const char *nb_rep_basename(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static void nb_rep_slugify(const char *s, char *out, size_t size)
{
	size_t j = 0;

	for (; *s && j + 1 < size; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			(c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		out[j++] = ok ? c : '_';
	}
	out[j] = '\0';
	if (j == 0)
		nb_res_strcpy(out, size, "machine");
}

void nb_report_label_inputs(struct nb_report_input *in, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *host = in[i].res.meta.host[0] ? in[i].res.meta.host : "unknown host";
		bool repeated = false;
		char base[128], slug[96];

		for (size_t j = 0; j < n && !repeated; j++)
			repeated = j != i && strcmp(in[j].res.meta.host, in[i].res.meta.host) == 0;
		nb_res_strcpy(base, sizeof(base), nb_rep_basename(in[i].path));
		if (strlen(base) > 3 && strcmp(base + strlen(base) - 3, ".h5") == 0)
			base[strlen(base) - 3] = '\0';
		if (repeated) {
			snprintf(in[i].label, sizeof(in[i].label), "%s (%s)", host, base);
			snprintf(slug, sizeof(slug), "%.40s-%.40s", host, base);
		} else {
			nb_res_strcpy(in[i].label, sizeof(in[i].label), host);
			nb_res_strcpy(slug, sizeof(slug), host);
		}
		nb_rep_slugify(slug, in[i].slug, sizeof(in[i].slug) - 8);
	}
	/* the same file twice (or slugs that collide after slugify): number them */
	for (size_t i = 1; i < n; i++) {
		char orig[sizeof(in[i].slug)];
		bool clash = true;
		memcpy(orig, in[i].slug, sizeof(orig));
		for (int k = 2; clash; k++) {
			clash = false;
			for (size_t j = 0; j < i && !clash; j++)
				clash = strcmp(in[j].slug, in[i].slug) == 0;
			if (clash)
				snprintf(in[i].slug, sizeof(in[i].slug), "%.80s-%d", orig, k);
		}
		if (strcmp(orig, in[i].slug) != 0) {
			size_t len = strlen(in[i].label);
			snprintf(in[i].label + len, sizeof(in[i].label) - len, " #%zu", i + 1);
		}
	}
}
