// SPDX-License-Identifier: Apache-2.0
#include "installer.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binary_install.h"
#include "cni_conf_dir.h"
#include "conflist.h"
#include "kube/kubeconfig.h"
#include "kubeconfig_writer.h"
#include "plugin_conf.h"
#include "util/file_util.h"
#include "util/istio_names.h"
#include "util/log.h"

#define PLUGIN_BINARY_NAME ISTIO_CNI_PLUGIN_TYPE
#define CA_MAX_BYTES ((size_t)1024 * 1024)

struct installer {
	struct install_config cfg;
	char *binary_path;
	char *kubeconfig_path;

	/* The conf file we manage (full path and name), NULL before install. */
	char *conf_path;
	char *conf_name;
	/* What we last wrote there (chained: the whole list). */
	json_t *written;

	/* A `.conf` we turned into a `.conflist` in this process, to put back on uninstall. */
	char *orig_conf_name;
	char *orig_conf_bytes;
	size_t orig_conf_len;

	enum install_result last;
};

const char *install_result_to_string(enum install_result r)
{
	static const char *const names[_INSTALL_RESULT_MAX] = {
		[INSTALL_SUCCESS] = "SUCCESS",
		[INSTALL_COPY_BINARIES_FAILURE] = "COPY_BINARIES_FAILURE",
		[INSTALL_CREATE_KUBECONFIG_FAILURE] = "CREATE_KUBECONFIG_FAILURE",
		[INSTALL_CREATE_CNI_CONFIG_FAILURE] = "CREATE_CNI_CONFIG_FAILURE",
	};
	if ((unsigned)r >= _INSTALL_RESULT_MAX)
		return NULL;
	return names[r];
}

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;
	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return NULL;
	return p;
}

int installer_new(const struct install_config *cfg, struct installer **ret, struct error *err)
{
	_cleanup_(installer_freep) struct installer *in = calloc(1, sizeof(*in));
	if (!in)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	in->cfg = *cfg;
	in->binary_path = path_join(cfg->mounted_cni_bin_dir, PLUGIN_BINARY_NAME);
	if (cfg->era == INSTALL_ERA_LEGACY)
		in->kubeconfig_path = path_join(cfg->mounted_cni_net_dir, cfg->kubecfg_file_name);
	else
		in->kubeconfig_path = path_join(cfg->cni_agent_run_dir, AGENT_KUBECONFIG_NAME);
	if (!in->binary_path || !in->kubeconfig_path)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	*ret = TAKE_PTR(in);
	return 0;
}

static void forget_conversion(struct installer *in)
{
	free(in->orig_conf_name);
	in->orig_conf_name = NULL;
	free(in->orig_conf_bytes);
	in->orig_conf_bytes = NULL;
	in->orig_conf_len = 0;
}

static void forget_conf(struct installer *in)
{
	free(in->conf_path);
	in->conf_path = NULL;
	free(in->conf_name);
	in->conf_name = NULL;
	json_decref(in->written);
	in->written = NULL;
	forget_conversion(in);
}

void installer_free(struct installer *in)
{
	if (!in)
		return;
	forget_conf(in);
	free(in->binary_path);
	free(in->kubeconfig_path);
	free(in);
}

static void wipe_free(char *s, size_t len)
{
	if (s) {
		explicit_bzero(s, len);
		free(s);
	}
}

/* The service-account token, trailing whitespace trimmed; wipe_free it. */
static int read_token(const struct install_config *cfg, char **ret, size_t *ret_len,
		      struct error *err)
{
	_cleanup_free_ char *path = path_join(cfg->service_account_dir, "token");
	if (!path)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	char *buf = NULL;
	size_t len = 0;
	int r = file_read_full(path, KUBECONFIG_SECRET_MAX_BYTES, &buf, &len);
	if (r < 0)
		return error_set(err, ERR_IO, r, "reading the service-account token \"%s\": %s",
				 path, strerror(-r));
	size_t cap = len;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
			   buf[len - 1] == '\t'))
		buf[--len] = '\0';
	*ret = buf;
	*ret_len = cap;
	return 0;
}

static mode_t new_conf_mode(const struct install_config *cfg)
{
	return cfg->cni_conf_group_read ? 0640 : 0600;
}

/* The mode of path if it exists, else the default for new conf files. */
static mode_t conf_mode_for(const struct install_config *cfg, const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0)
		return st.st_mode & 07777;
	return new_conf_mode(cfg);
}

/* 1 when path already holds exactly data with mode. */
static int same_file(const char *path, const char *data, size_t len, mode_t mode)
{
	struct stat st;
	if (stat(path, &st) < 0 || (st.st_mode & 07777) != mode || (size_t)st.st_size != len)
		return 0;
	char *buf = NULL;
	size_t blen = 0;
	if (file_read_full(path, len + 1, &buf, &blen) < 0)
		return 0;
	int same = blen == len && memcmp(buf, data, len) == 0;
	wipe_free(buf, blen);
	return same;
}

static int mkdir_p(const char *dir)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);
	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int write_kubeconfig(struct installer *in, struct error *err)
{
	const struct install_config *cfg = &in->cfg;
	char *token = NULL;
	size_t token_cap = 0;
	int r = read_token(cfg, &token, &token_cap, err);
	if (r < 0)
		return r;

	_cleanup_free_ char *ca = NULL;
	size_t ca_len = 0;
	if (!cfg->skip_tls_verify) {
		r = file_read_full(cfg->kube_ca_file, CA_MAX_BYTES, &ca, &ca_len);
		if (r < 0) {
			wipe_free(token, token_cap);
			return error_set(err, ERR_IO, r, "reading KUBE_CA_FILE \"%s\": %s",
					 cfg->kube_ca_file, strerror(-r));
		}
	}

	struct kubeconfig_writer_input kin = {
		.protocol = cfg->kubernetes_service_protocol,
		.host = cfg->kubernetes_service_host,
		.port = cfg->kubernetes_service_port,
		.skip_tls_verify = cfg->skip_tls_verify,
		.ca = (const uint8_t *)ca,
		.ca_len = ca_len,
		.token = token,
	};
	char *text = NULL;
	size_t len = 0;
	r = kubeconfig_writer_render(cfg->era == INSTALL_ERA_LEGACY ? KUBECONFIG_SHAPE_LEGACY
								    : KUBECONFIG_SHAPE_CURRENT,
				     &kin, &text, &len, err);
	wipe_free(token, token_cap);
	if (r < 0)
		return r;

	if (cfg->era == INSTALL_ERA_CURRENT) {
		r = mkdir_p(cfg->cni_agent_run_dir);
		if (r < 0) {
			wipe_free(text, len);
			return error_set(err, ERR_IO, r, "creating CNI_AGENT_RUN_DIR \"%s\": %s",
					 cfg->cni_agent_run_dir, strerror(-r));
		}
	}
	r = 0;
	if (!same_file(in->kubeconfig_path, text, len, cfg->kubeconfig_mode))
		r = file_write_atomic(in->kubeconfig_path, text, len, cfg->kubeconfig_mode);
	wipe_free(text, len);
	if (r < 0)
		return error_set(err, ERR_IO, r, "writing kubeconfig \"%s\": %s",
				 in->kubeconfig_path, strerror(-r));
	return 0;
}

/*
 * Our entry: generated (current) or the substituted template (1.7). The
 * template text is returned too (the standalone 1.7 file is written
 * verbatim); it may hold the token, so it is wiped by the caller.
 */
static int build_entry(struct installer *in, json_t **ret, char **ret_text, struct error *err)
{
	const struct install_config *cfg = &in->cfg;
	if (cfg->era == INSTALL_ERA_CURRENT) {
		int r = plugin_conf_generate(cfg, ret);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "building the plugin entry");
		*ret_text = NULL;
		return 0;
	}

	struct plugin_template_storage st;
	struct plugin_template_values v;
	int r = plugin_template_values_from_config(cfg, &st, &v);
	if (r < 0)
		return error_set(err, ERR_CONFIG, r, "CNI_NETWORK_CONFIG: a path is too long");
	char *token = NULL;
	size_t token_cap = 0;
	if (strstr(cfg->network_config, "__SERVICEACCOUNT_TOKEN__")) {
		r = read_token(cfg, &token, &token_cap, err);
		if (r < 0)
			return r;
		v.sa_token = token;
	}
	r = plugin_conf_from_template(cfg->network_config, &v, ret_text, ret, err);
	wipe_free(token, token_cap);
	return r;
}

static void log_skipped(void *userdata, const char *name, const struct error *why)
{
	log_warn("skipping invalid CNI conf file=\"%s\": %s", name, why->msg);
}

/* Reads dir/name whole, parses and validates it; the bytes are kept for a `.conf`. */
static int load_conf(const char *dir, const char *name, json_t **ret, char **ret_bytes,
		     size_t *ret_len, struct error *err)
{
	_cleanup_free_ char *path = path_join(dir, name);
	if (!path)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	return cni_conf_read(path, cni_conf_name_is_list(name), "not rewriting", ret, ret_bytes,
			     ret_len, err);
}

static int set_conf(struct installer *in, const char *name, json_t *written, struct error *err)
{
	char *n = strdup(name);
	char *p = path_join(in->cfg.mounted_cni_net_dir, name);
	if (!n || !p) {
		free(n);
		free(p);
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	free(in->conf_name);
	free(in->conf_path);
	json_decref(in->written);
	in->conf_name = n;
	in->conf_path = p;
	in->written = json_incref(written);
	return 0;
}

/* The conf file to chain into: CNI_CONF_NAME when set, else the primary one in dir. */
static int chained_conf_name(struct installer *in, const char *dir, char **ret, struct error *err)
{
	const struct install_config *cfg = &in->cfg;
	if (!cfg->cni_conf_name)
		return cni_conf_dir_find_primary(dir, log_skipped, in, ret, err);
	int r = cni_conf_dir_resolve_name(dir, cfg->cni_conf_name, ret);
	if (r == -ENOENT)
		return error_set(err, ERR_CONFIG, r,
				 "CNI_CONF_NAME \"%s\" not found in %s (nor with the other "
				 "extension)",
				 cfg->cni_conf_name, dir);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "out of memory");
	return 0;
}

/* The updated conf to write, serialised, and the mode to write it with. */
struct chained_update {
	json_t *updated;
	const char *text;
	size_t text_len;
	mode_t mode;
};

/*
 * X.conf (src_path, named *name in dir, its bytes *bytes) becomes X.conflist:
 * write the list first, then drop the .conf, so a reader always finds a
 * valid primary. Takes *name and *bytes to restore the .conf at uninstall.
 */
static int convert_to_conflist(struct installer *in, const char *dir, char **name, char **bytes,
			       size_t bytes_len, const char *src_path,
			       const struct chained_update *u, struct error *err)
{
	_cleanup_free_ char *list_name = NULL;
	if (asprintf(&list_name, "%slist", *name) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	_cleanup_free_ char *list_path = path_join(dir, list_name);
	if (!list_path)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	int r = file_write_atomic(list_path, u->text, u->text_len, u->mode);
	if (r < 0)
		return error_set(err, ERR_IO, r, "writing \"%s\": %s", list_path, strerror(-r));
	if (unlink(src_path) < 0 && errno != ENOENT)
		return error_set(err, ERR_IO, -errno, "removing \"%s\" after conversion", src_path);
	forget_conversion(in);
	in->orig_conf_name = TAKE_PTR(*name);
	in->orig_conf_bytes = TAKE_PTR(*bytes);
	in->orig_conf_len = bytes_len;
	log_info("converted CNI conf file=\"%s\" into \"%s\" with the istio-cni entry", src_path,
		 list_path);
	return set_conf(in, list_name, u->updated, err);
}

/* A .conflist (src_path, named name) rewritten with our entry unless it holds it already. */
static int update_conflist(struct installer *in, const char *name, const char *src_path,
			   const json_t *existing, const struct chained_update *u,
			   struct error *err)
{
	if (json_equal(existing, u->updated)) {
		log_debug("CNI conf file=\"%s\" already holds our entry", src_path);
	} else {
		int r = file_write_atomic(src_path, u->text, u->text_len, u->mode);
		if (r < 0)
			return error_set(err, ERR_IO, r, "writing \"%s\": %s", src_path,
					 strerror(-r));
		log_info("inserted the istio-cni entry into CNI conf file=\"%s\"", src_path);
	}
	/* Still the .conflist we converted earlier? Keep what we know to restore it. */
	if (in->conf_name && strcmp(in->conf_name, name) != 0)
		forget_conversion(in);
	return set_conf(in, name, u->updated, err);
}

static int install_chained(struct installer *in, json_t *entry, struct error *err)
{
	const char *dir = in->cfg.mounted_cni_net_dir;
	_cleanup_free_ char *name = NULL;
	int r = chained_conf_name(in, dir, &name, err);
	if (r < 0)
		return r;

	_cleanup_json_ json_t *existing = NULL;
	_cleanup_free_ char *bytes = NULL;
	size_t bytes_len = 0;
	r = load_conf(dir, name, &existing, &bytes, &bytes_len, err);
	if (r < 0)
		return r;

	_cleanup_json_ json_t *updated = NULL;
	r = conflist_insert(existing, entry, &updated, err);
	if (r < 0)
		return error_prefix(err, r, "inserting into \"%s/%s\"", dir, name);
	_cleanup_free_ char *text = NULL;
	size_t text_len;
	r = conflist_dump(updated, &text, &text_len);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "serialising \"%s\"", name);

	_cleanup_free_ char *src_path = path_join(dir, name);
	if (!src_path)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	const struct chained_update u = {
		.updated = updated,
		.text = text,
		.text_len = text_len,
		.mode = conf_mode_for(&in->cfg, src_path),
	};
	if (!cni_conf_name_is_list(name))
		return convert_to_conflist(in, dir, &name, &bytes, bytes_len, src_path, &u, err);
	return update_conflist(in, name, src_path, existing, &u, err);
}

static int install_standalone(struct installer *in, json_t *entry, const char *tmpl_text,
			      struct error *err)
{
	const struct install_config *cfg = &in->cfg;
	const char *name = cfg->cni_conf_name ? cfg->cni_conf_name : DEFAULT_STANDALONE_CONF_NAME;
	_cleanup_free_ char *path = path_join(cfg->mounted_cni_net_dir, name);
	if (!path)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");

	char *text = NULL;
	size_t len = 0;
	int r;
	if (tmpl_text) {
		/* 1.7 wrote the substituted template verbatim. */
		text = strdup(tmpl_text);
		if (!text)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		len = strlen(text);
	} else {
		r = conflist_dump_ordered(entry, &text, &len);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "serialising our conf");
	}
	mode_t mode = conf_mode_for(cfg, path);
	r = 0;
	if (!same_file(path, text, len, mode))
		r = file_write_atomic(path, text, len, mode);
	wipe_free(text, len);
	if (r < 0)
		return error_set(err, ERR_IO, r, "writing \"%s\": %s", path, strerror(-r));
	return set_conf(in, name, entry, err);
}

static int install_conf(struct installer *in, struct error *err)
{
	_cleanup_json_ json_t *entry = NULL;
	char *tmpl_text = NULL;
	int r = build_entry(in, &entry, &tmpl_text, err);
	if (r < 0)
		return r;
	if (in->cfg.chained_cni_plugin)
		r = install_chained(in, entry, err);
	else
		r = install_standalone(in, entry, tmpl_text, err);
	if (tmpl_text)
		wipe_free(tmpl_text, strlen(tmpl_text));
	return r;
}

static int install_binary(struct installer *in, struct error *err)
{
	const struct install_config *cfg = &in->cfg;
	struct binary_install_opts opts = {
		.update = cfg->update_cni_binaries,
		.skip = cfg->skip_cni_binaries,
		.n_skip = cfg->n_skip_cni_binaries,
	};
	int r = binary_install(cfg->cni_bin_source_dir, cfg->mounted_cni_bin_dir,
			       PLUGIN_BINARY_NAME, &opts, err);
	if (r > 0)
		log_info("installed the CNI plugin binary=\"%s\"", in->binary_path);
	return r < 0 ? r : 0;
}

int installer_install(struct installer *in, struct error *err)
{
	int r = install_binary(in, err);
	if (r < 0) {
		in->last = INSTALL_COPY_BINARIES_FAILURE;
		return r;
	}
	r = write_kubeconfig(in, err);
	if (r < 0) {
		in->last = INSTALL_CREATE_KUBECONFIG_FAILURE;
		return r;
	}
	r = install_conf(in, err);
	if (r < 0) {
		in->last = INSTALL_CREATE_CNI_CONFIG_FAILURE;
		return r;
	}
	in->last = INSTALL_SUCCESS;
	return 0;
}

static int invalid(bool *ret_valid, const char *fmt, ...) _printf_(2, 3);
static int invalid(bool *ret_valid, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_info("CNI config needs a re-install: %s", msg);
	*ret_valid = false;
	return 0;
}

int installer_check(struct installer *in, bool *ret_valid, struct error *err)
{
	const struct install_config *cfg = &in->cfg;
	const char *dir = cfg->mounted_cni_net_dir;
	if (!in->conf_path)
		return invalid(ret_valid, "nothing installed yet");

	_cleanup_free_ char *primary = NULL;
	struct error ferr = {0};
	int r = cni_conf_dir_find_primary(dir, NULL, NULL, &primary, &ferr);
	if (r == -ENOENT)
		return invalid(ret_valid, "%s", ferr.msg);
	if (r < 0) {
		*err = ferr;
		return r;
	}
	if (strcmp(primary, in->conf_name) != 0) {
		if (cfg->cni_conf_name || !cfg->chained_cni_plugin)
			log_warn("CNI config file \"%s\" preempted by \"%s/%s\"", in->conf_path,
				 dir, primary);
		else
			return invalid(ret_valid, "CNI config file \"%s\" preempted by \"%s/%s\"",
				       in->conf_path, dir, primary);
	}

	_cleanup_free_ char *buf = NULL;
	size_t len;
	r = file_read_full(in->conf_path, CONFLIST_MAX_BYTES, &buf, &len);
	if (r == -ENOENT)
		return invalid(ret_valid, "CNI config file removed: %s", in->conf_path);
	if (r < 0)
		return invalid(ret_valid, "reading \"%s\": %s", in->conf_path, strerror(-r));
	_cleanup_json_ json_t *root = NULL;
	struct error perr = {0};
	if (conflist_parse(buf, len, &root, &perr) < 0)
		return invalid(ret_valid, "\"%s\": %s", in->conf_path, perr.msg);

	if (cfg->chained_cni_plugin) {
		if (!conflist_has_istio_entry(root))
			return invalid(ret_valid,
				       "istio-cni CNI config removed from CNI config file: %s",
				       in->conf_path);
	} else {
		const char *type = json_string_value(json_object_get(root, "type"));
		if (!type || strcmp(type, ISTIO_CNI_PLUGIN_TYPE) != 0)
			return invalid(ret_valid, "CNI config file \"%s\" is not of type istio-cni",
				       in->conf_path);
	}
	*ret_valid = true;
	return 0;
}

int installer_refresh_kubeconfig(struct installer *in, struct error *err)
{
	return write_kubeconfig(in, err);
}

/* Takes our entry out of the list we manage, or puts back the .conf we converted. */
static int uninstall_chained(struct installer *in, struct error *err)
{
	const char *dir = in->cfg.mounted_cni_net_dir;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = file_read_full(in->conf_path, CONFLIST_MAX_BYTES, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return error_set(err, ERR_IO, r, "reading \"%s\": %s", in->conf_path, strerror(-r));
	_cleanup_json_ json_t *root = NULL;
	r = conflist_parse(buf, len, &root, err);
	if (r < 0)
		return error_prefix(err, r, "not rewriting \"%s\"", in->conf_path);
	_cleanup_json_ json_t *cleaned = NULL;
	size_t removed = 0;
	r = conflist_remove(root, &cleaned, &removed, err);
	if (r < 0)
		return error_prefix(err, r, "not rewriting \"%s\"", in->conf_path);
	if (removed == 0)
		return 0;

	mode_t mode = conf_mode_for(&in->cfg, in->conf_path);
	if (in->orig_conf_name && in->written && json_equal(root, in->written)) {
		_cleanup_free_ char *orig_path = path_join(dir, in->orig_conf_name);
		if (!orig_path)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		r = file_write_atomic(orig_path, in->orig_conf_bytes, in->orig_conf_len, mode);
		if (r < 0)
			return error_set(err, ERR_IO, r, "restoring \"%s\": %s", orig_path,
					 strerror(-r));
		if (unlink(in->conf_path) < 0 && errno != ENOENT)
			return error_set(err, ERR_IO, -errno, "removing \"%s\"", in->conf_path);
		log_info("restored CNI conf file=\"%s\"", orig_path);
		return 0;
	}

	_cleanup_free_ char *text = NULL;
	size_t text_len;
	r = conflist_dump(cleaned, &text, &text_len);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "serialising \"%s\"", in->conf_path);
	r = file_write_atomic(in->conf_path, text, text_len, mode);
	if (r < 0)
		return error_set(err, ERR_IO, r, "writing \"%s\": %s", in->conf_path, strerror(-r));
	log_info("removed the istio-cni entry from CNI conf file=\"%s\"", in->conf_path);
	return 0;
}

int installer_uninstall(struct installer *in, struct error *err)
{
	int first = 0, r;
	struct error step = {0};

	if (in->conf_path) {
		if (in->cfg.chained_cni_plugin) {
			r = uninstall_chained(in, &step);
		} else {
			r = 0;
			if (unlink(in->conf_path) < 0 && errno != ENOENT)
				r = error_set(&step, ERR_IO, -errno, "removing \"%s\"",
					      in->conf_path);
		}
		if (r < 0) {
			first = r;
			*err = step;
		}
		forget_conf(in);
	}

	if (unlink(in->kubeconfig_path) < 0 && errno != ENOENT) {
		r = -errno;
		if (first == 0) {
			first = error_set(err, ERR_IO, r, "removing \"%s\": %s",
					  in->kubeconfig_path, strerror(-r));
		}
	}

	error_clear(&step);
	r = binary_uninstall(in->cfg.mounted_cni_bin_dir, PLUGIN_BINARY_NAME, &step);
	if (r < 0 && first == 0) {
		first = r;
		*err = step;
	}
	return first;
}

const char *installer_conf_dir(const struct installer *in)
{
	return in->cfg.mounted_cni_net_dir;
}

const char *installer_conf_path(const struct installer *in)
{
	return in->conf_path;
}

const char *installer_binary_path(const struct installer *in)
{
	return in->binary_path;
}

const char *installer_kubeconfig_path(const struct installer *in)
{
	return in->kubeconfig_path;
}

const char *installer_sa_dir(const struct installer *in)
{
	return in->cfg.service_account_dir;
}

enum install_result installer_last_result(const struct installer *in)
{
	return in->last;
}
