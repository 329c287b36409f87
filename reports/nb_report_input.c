/* The inputs of `normbench report`: a run's results file (with or without
 * /verify) or a standalone verify file, read and labelled by host. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <hdf5.h>

#include "reports/nb_report.h"

/* A root string attribute (variable-length or fixed) into buf; false when
 * missing or not a string. */
static bool nb_rep_attr_string(hid_t file, const char *name, char *buf, size_t size)
{
	hid_t attr, type, mem = H5I_INVALID_HID;
	bool ok = false;

	buf[0] = '\0';
	if (H5Aexists(file, name) <= 0)
		return false;
	attr = H5Aopen(file, name, H5P_DEFAULT);
	if (attr < 0)
		return false;
	type = H5Aget_type(attr);
	if (type < 0 || H5Tget_class(type) != H5T_STRING)
		goto close_type;
	if (H5Tis_variable_str(type) > 0) {
		char *s = NULL;
		mem = H5Tcopy(H5T_C_S1);
		H5Tset_size(mem, H5T_VARIABLE);
		H5Tset_cset(mem, H5Tget_cset(type));
		if (H5Aread(attr, mem, &s) >= 0 && s) {
			nb_res_strcpy(buf, size, s);
			ok = true;
		}
		if (s)
			H5free_memory(s);
	} else {
		size_t len = H5Tget_size(type);
		char *s = calloc(len + 1, 1);
		mem = H5Tcopy(H5T_C_S1);
		H5Tset_size(mem, len + 1);
		H5Tset_strpad(mem, H5T_STR_NULLTERM);
		if (s && H5Aread(attr, mem, s) >= 0) {
			nb_res_strcpy(buf, size, s);
			ok = true;
		}
		free(s);
	}
	H5Tclose(mem);
close_type:
	if (type >= 0)
		H5Tclose(type);
	H5Aclose(attr);
	return ok;
}

static bool nb_rep_attr_number(hid_t file, const char *name, hid_t mem, void *out)
{
	hid_t attr;
	bool ok;

	if (H5Aexists(file, name) <= 0)
		return false;
	attr = H5Aopen(file, name, H5P_DEFAULT);
	if (attr < 0)
		return false;
	ok = H5Aread(attr, mem, out) >= 0;
	H5Aclose(attr);
	return ok;
}

/* The root attributes a standalone verify file has (nb_verify_write_file);
 * NB_ERR_IO when it is not one of this schema. */
static enum nb_status nb_rep_verify_meta(const char *path, struct nb_results_meta *m)
{
	hid_t file;
	enum nb_status st = NB_OK;
	int version = 0;

	nb_results_quiet_hdf5();
	file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
	if (file < 0)
		return nb_fail(NB_ERR_IO, "cannot open %s as HDF5", path);
	if (!nb_rep_attr_string(file, "kind", m->kind, sizeof(m->kind)) ||
	    strcmp(m->kind, "verify") != 0) {
		st = nb_fail(NB_ERR_IO, "%s is not a normbench results or verify file", path);
		goto close_file;
	}
	if (!nb_rep_attr_number(file, "schema_version", H5T_NATIVE_INT, &version) ||
	    version != NB_RESULTS_SCHEMA_VERSION) {
		st = nb_fail(NB_ERR_IO, "%s has schema version %d, this normbench reads %d",
			     path, version, NB_RESULTS_SCHEMA_VERSION);
		goto close_file;
	}
	m->schema_version = version;
	nb_rep_attr_string(file, "host", m->host, sizeof(m->host));
	nb_rep_attr_string(file, "utc_time", m->utc_time, sizeof(m->utc_time));
	nb_rep_attr_string(file, "git_rev", m->git_rev, sizeof(m->git_rev));
	nb_rep_attr_string(file, "normbench_version", m->normbench_version,
			   sizeof(m->normbench_version));
	nb_rep_attr_string(file, "isa_detected", m->isa_detected, sizeof(m->isa_detected));
	nb_rep_attr_string(file, "isa_cap", m->isa_cap, sizeof(m->isa_cap));
	nb_rep_attr_string(file, "emulated", m->emulated, sizeof(m->emulated));
	nb_rep_attr_string(file, "command_line", m->command_line, sizeof(m->command_line));
	nb_rep_attr_string(file, "eps_mode", m->eps_mode, sizeof(m->eps_mode));
	nb_rep_attr_string(file, "prms_round", m->prms_round, sizeof(m->prms_round));
	nb_rep_attr_number(file, "git_dirty", H5T_NATIVE_INT, &m->git_dirty);
	nb_rep_attr_number(file, "eps", H5T_NATIVE_DOUBLE, &m->eps);
	nb_rep_attr_number(file, "prms_p", H5T_NATIVE_DOUBLE, &m->prms_p);
	nb_rep_attr_number(file, "seed", H5T_NATIVE_UINT64, &m->seed);
	m->complete = 1;
close_file:
	H5Fclose(file);
	return st;
}

enum nb_status nb_report_load(const char *path, struct nb_report_input *in)
{
	enum nb_status st;
	char why[1024];
	struct stat sb;

	memset(in, 0, sizeof(*in));
	nb_results_init(&in->res);
	nb_verify_tables_init(&in->ver);
	nb_res_strcpy(in->path, sizeof(in->path), path);
	if (stat(path, &sb) != 0)
		return nb_fail(NB_ERR_IO, "cannot open %s: %s", path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return nb_fail(NB_ERR_IO, "%s is not a regular file", path);
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
