// SPDX-License-Identifier: Apache-2.0
#include "agent_config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kube/kubeconfig.h"
#include "util/env_util.h"
#include "util/file_util.h"
#include "util/istio_names.h"
#include "util/parse_util.h"
#include "util/strv.h"

#define DEFAULT_MOUNTED_CNI_NET_DIR "/host/etc/cni/net.d"
#define DEFAULT_CNI_NET_DIR "/etc/cni/net.d"
#define DEFAULT_CNI_BIN_SOURCE_DIR "/opt/cni/bin"
#define DEFAULT_MOUNTED_CNI_BIN_DIR "/host/opt/cni/bin"
#define DEFAULT_KUBECONFIG_MODE 0600
#define DEFAULT_MONITORING_PORT 15014
#define DEFAULT_HEALTH_PORT AGENT_DEFAULT_HEALTH_PORT

static int env_log_level(const char *const *envp, const char *name, enum log_level *ret,
			 bool *ret_set, struct error *err)
{
	const char *v = env_get(envp, name);
	if (!v) {
		*ret_set = false;
		return 0;
	}
	if (log_level_from_string(v, ret) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "%s=\"%s\": not a log level (debug, info, warn, error, none)",
				 name, v);
	*ret_set = true;
	return 0;
}

/*
 * Go's strconv.ParseInt(s, 0, 64) as viper uses it: 0x/0o/0b prefixes, a
 * leading 0 means octal, else decimal; underscores only between digits after
 * a prefix are Go syntax too, but nobody writes them in a file mode, so we
 * refuse them. The result must fit in the permission and special bits.
 */
static int parse_mode_autodetect(const char *s, mode_t *ret)
{
	unsigned base = 10;
	const char *p = s;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) {
		base = 8;
		p += 2;
	} else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) {
		base = 2;
		p += 2;
	} else if (p[0] == '0' && p[1] != '\0') {
		base = 8;
		p += 1;
	}
	if (*p == '\0')
		return -EINVAL;
	unsigned long v = 0;
	for (; *p; p++) {
		unsigned d;
		if (*p >= '0' && *p <= '9')
			d = (unsigned)(*p - '0');
		else if (*p >= 'a' && *p <= 'f')
			d = (unsigned)(*p - 'a' + 10);
		else if (*p >= 'A' && *p <= 'F')
			d = (unsigned)(*p - 'A' + 10);
		else
			return -EINVAL;
		if (d >= base)
			return -EINVAL;
		v = v * base + d;
		if (v > 07777)
			return -ERANGE;
	}
	*ret = (mode_t)v;
	return 0;
}

static bool strv_contains(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

/*
 * Splits on any character of seps, trims ASCII whitespace, and appends to
 * *v what is neither empty nor already there. On -ENOMEM *v keeps what it
 * had; the caller frees it either way.
 */
static int split_list(const char *s, const char *seps, char ***v, size_t *n)
{
	_cleanup_free_ char *copy = strdup(s ? s : "");
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *tok = strtok_r(copy, seps, &save); tok; tok = strtok_r(NULL, seps, &save)) {
		parse_strip(tok);
		if (tok[0] == '\0' || strv_contains(*v, *n, tok))
			continue;
		if (strv_push(v, n, tok) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* A path variable must be absolute: a relative one would depend on the agent's cwd. */
static int env_path(const char *const *envp, const char *name, const char *def, char **ret,
		    struct error *err)
{
	const char *v = env_get(envp, name);
	if (v && v[0] != '/')
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\": not an absolute path", name,
				 v);
	return env_string(envp, name, def, ret);
}

/* A file name inside a directory: no '/', not "." or "..". */
static int env_file_name(const char *const *envp, const char *name, const char *def, char **ret,
			 struct error *err)
{
	const char *v = env_get(envp, name);
	if (v && (strchr(v, '/') || strcmp(v, ".") == 0 || strcmp(v, "..") == 0))
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\": not a file name", name, v);
	return env_string(envp, name, def, ret);
}

static int read_template(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r = env_string(envp, "CNI_NETWORK_CONFIG_FILE", NULL, &c->cni_network_config_file);
	if (r < 0)
		return r;
	if (c->cni_network_config_file) {
		char *buf = NULL;
		r = file_read_full(c->cni_network_config_file, AGENT_CONFIG_TEMPLATE_MAX_BYTES,
				   &buf, NULL);
		if (r >= 0) {
			c->cni_network_config = buf;
			return 0;
		}
		/* 1.7: the file wins only when it exists; else fall back to the variable. */
		if (r != -ENOENT)
			return error_set(err, ERR_IO, r, "CNI_NETWORK_CONFIG_FILE=\"%s\": %s",
					 c->cni_network_config_file, strerror(-r));
	}
	r = env_string(envp, "CNI_NETWORK_CONFIG", NULL, &c->cni_network_config);
	if (r < 0 || c->cni_network_config)
		return r;
	/* 1.7's ConfigMap key, as envFrom passes it. */
	return env_string(envp, "cni_network_config", NULL, &c->cni_network_config);
}

/*
 * Go's GOMEMLIMIT: "off", or a byte count with an optional B, KiB, MiB,
 * GiB or TiB suffix (the downward API writes plain bytes).
 */
static int parse_gomemlimit(const char *s, uint64_t *ret)
{
	static const struct {
		const char *suffix;
		unsigned shift;
	} units[] = {{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40}, {"B", 0}, {"", 0}};
	if (strcmp(s, "off") == 0) {
		*ret = 0;
		return 0;
	}
	size_t digits = strspn(s, "0123456789");
	if (digits == 0 || digits > 19)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		if (strcmp(s + digits, units[i].suffix) != 0)
			continue;
		char num[20];
		memcpy(num, s, digits);
		num[digits] = '\0';
		uint64_t v;
		if (parse_u64(num, 0, UINT64_MAX >> units[i].shift, &v) < 0)
			return -ERANGE;
		*ret = v << units[i].shift;
		return 0;
	}
	return -EINVAL;
}

/* The AMBIENT_* variables other than AMBIENT_ENABLED that are set. */
static int collect_ambient(const char *const *envp, struct agent_config *c)
{
	static const char prefix[] = "AMBIENT_";
	for (const char *const *e = envp; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || eq[1] == '\0' || strncmp(*e, prefix, sizeof(prefix) - 1) != 0 ||
		    strncmp(*e, "AMBIENT_ENABLED=", 16) == 0)
			continue;
		_cleanup_free_ char *name = strndup(*e, (size_t)(eq - *e));
		if (!name)
			return -ENOMEM;
		if (!strv_contains(c->ambient_settings, c->n_ambient_settings, name) &&
		    strv_push(&c->ambient_settings, &c->n_ambient_settings, name) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_chart_extras(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r = env_bool(envp, "ALLOW_SWITCH_TO_HOST_NS", false, &c->allow_switch_to_host_ns, err);
	if (r < 0)
		return r;
	r = env_string(envp, "CURRENT_AGENT_VERSION", NULL, &c->current_agent_version);
	if (r < 0)
		return r;
	const char *v = env_get(envp, "GOMEMLIMIT");
	if (v && parse_gomemlimit(v, &c->gomemlimit) < 0)
		return error_set(
			err, ERR_CONFIG, -EINVAL,
			"GOMEMLIMIT=\"%s\": not a byte count (e.g. 104857600, 100MiB, off)", v);
	v = env_get(envp, "GOMAXPROCS");
	if (v && parse_u64(v, 1, 1u << 20, &c->gomaxprocs) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "GOMAXPROCS=\"%s\": not a CPU count (1 or more)", v);
	return collect_ambient(envp, c);
}

/* AUDIT_INTERVAL_SECONDS: whole seconds, 0 (off) to 86400; default 60. */
static int env_audit_interval(const char *const *envp, unsigned *ret, struct error *err)
{
	const char *v = env_get(envp, "AUDIT_INTERVAL_SECONDS");
	uint64_t n = AGENT_AUDIT_DEFAULT_INTERVAL_S;
	if (v && parse_u64(v, 0, AGENT_AUDIT_MAX_INTERVAL_S, &n) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "AUDIT_INTERVAL_SECONDS=\"%s\": not a number of seconds from 0 "
				 "(off) to %u",
				 v, AGENT_AUDIT_MAX_INTERVAL_S);
	*ret = (unsigned)n;
	return 0;
}

static int node_name_default(char **ret)
{
	char host[256];
	if (gethostname(host, sizeof(host)) < 0)
		return -errno;
	host[sizeof(host) - 1] = '\0';
	char *s = strdup(host);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

/* The helpers name the variable in err themselves; only -ENOMEM is left to say. */
#define CHECK(expr)                                                                                \
	do {                                                                                       \
		r = (expr);                                                                        \
		if (r == -ENOMEM)                                                                  \
			return error_set(err, ERR_INTERNAL, r, "out of memory");                   \
		if (r < 0)                                                                         \
			return r;                                                                  \
	} while (0)

/* Where the CNI config goes and what it is made from. */
static int parse_cni_conf(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r;

	CHECK(env_path(envp, "MOUNTED_CNI_NET_DIR", DEFAULT_MOUNTED_CNI_NET_DIR,
		       &c->mounted_cni_net_dir, err));
	CHECK(env_path(envp, "CNI_NET_DIR", DEFAULT_CNI_NET_DIR, &c->cni_net_dir, err));
	CHECK(env_file_name(envp, "CNI_CONF_NAME", NULL, &c->cni_conf_name, err));
	CHECK(env_bool(envp, "CHAINED_CNI_PLUGIN", true, &c->chained_cni_plugin, err));
	CHECK(env_bool(envp, "CNI_CONF_GROUP_READ", false, &c->cni_conf_group_read, err));

	r = read_template(envp, c, err);
	if (r < 0)
		return r;
	c->era = c->cni_network_config ? AGENT_ERA_LEGACY : AGENT_ERA_CURRENT;
	return 0;
}

/* The plugin's kubeconfig: the run dir, its mode and name. */
static int parse_plugin_kubeconfig(const char *const *envp, struct agent_config *c,
				   struct error *err)
{
	int r;

	CHECK(env_path(envp, "CNI_AGENT_RUN_DIR", DEFAULT_CNI_AGENT_RUN_DIR, &c->cni_agent_run_dir,
		       err));
	const char *mode = env_get(envp, "KUBECONFIG_MODE");
	c->kubeconfig_mode = DEFAULT_KUBECONFIG_MODE;
	if (mode && parse_mode_autodetect(mode, &c->kubeconfig_mode) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "KUBECONFIG_MODE=\"%s\": not a file mode (e.g. 0600; a leading 0 "
				 "means octal)",
				 mode);
	CHECK(env_file_name(envp, "KUBECFG_FILE_NAME", LEGACY_KUBECONFIG_NAME,
			    &c->kubecfg_file_name, err));
	return 0;
}

/* The API server and the credentials to reach it. */
static int parse_api_server(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r;

	CHECK(env_path(envp, "SERVICE_ACCOUNT_DIR", KUBE_SA_DIR, &c->service_account_dir, err));
	if (env_get(envp, "KUBE_CA_FILE")) {
		CHECK(env_path(envp, "KUBE_CA_FILE", NULL, &c->kube_ca_file, err));
	} else if (asprintf(&c->kube_ca_file, "%s/ca.crt", c->service_account_dir) < 0) {
		c->kube_ca_file = NULL;
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	CHECK(env_bool(envp, "SKIP_TLS_VERIFY", false, &c->skip_tls_verify, err));

	const char *proto = env_get(envp, "KUBERNETES_SERVICE_PROTOCOL");
	if (proto && strcmp(proto, "https") != 0 && strcmp(proto, "http") != 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "KUBERNETES_SERVICE_PROTOCOL=\"%s\": not http or https", proto);
	CHECK(env_string(envp, "KUBERNETES_SERVICE_PROTOCOL", "https",
			 &c->kubernetes_service_protocol));
	const char *host = env_get(envp, "KUBERNETES_SERVICE_HOST");
	if (host)
		for (const char *p = host; *p; p++)
			if (isspace((unsigned char)*p) || *p == '/' || *p == '@' || *p == '"')
				return error_set(err, ERR_CONFIG, -EINVAL,
						 "KUBERNETES_SERVICE_HOST=\"%s\": not a host",
						 host);
	CHECK(env_string(envp, "KUBERNETES_SERVICE_HOST", NULL, &c->kubernetes_service_host));
	/* Checked as a port, kept as the string it was given. */
	uint16_t port_num;
	CHECK(env_port(envp, "KUBERNETES_SERVICE_PORT", 0, &port_num, err));
	CHECK(env_string(envp, "KUBERNETES_SERVICE_PORT", NULL, &c->kubernetes_service_port));
	return 0;
}

/* The node's name: KUBERNETES_NODE_NAME, NODE_NAME, else the hostname. */
static int parse_node_name(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r;

	if (env_get(envp, "KUBERNETES_NODE_NAME")) {
		CHECK(env_string(envp, "KUBERNETES_NODE_NAME", NULL, &c->node_name));
	} else if (env_get(envp, "NODE_NAME")) {
		/* The current chart sets only NODE_NAME (the pod's hostname is its own name). */
		CHECK(env_string(envp, "NODE_NAME", NULL, &c->node_name));
	} else {
		r = node_name_default(&c->node_name);
		if (r < 0)
			return error_set(err, ERR_CONFIG, r,
					 "KUBERNETES_NODE_NAME unset and no hostname: %s",
					 strerror(-r));
	}
	return 0;
}

/* The agent's ports, the namespaces left alone and how traffic is captured. */
static int parse_ports_and_capture(const char *const *envp, struct agent_config *c,
				   struct error *err)
{
	int r;

	CHECK(env_port(envp, "MONITORING_PORT", DEFAULT_MONITORING_PORT, &c->monitoring_port, err));
	CHECK(env_port(envp, "HEALTH_PORT", DEFAULT_HEALTH_PORT, &c->health_port, err));

	CHECK(split_list(env_get(envp, "EXCLUDE_NAMESPACES"), ",", &c->exclude_namespaces,
			 &c->n_exclude_namespaces));
	/* The name some releases of the current chart write. */
	CHECK(split_list(env_get(envp, "EXCLUDED_NAMESPACES"), ",", &c->exclude_namespaces,
			 &c->n_exclude_namespaces));
	CHECK(env_string(envp, "POD_NAMESPACE", "", &c->pod_namespace));
	CHECK(env_bool(envp, "NATIVE_NFTABLES", false, &c->native_nftables, err));
	CHECK(env_bool(envp, "AMBIENT_ENABLED", false, &c->ambient_enabled, err));
	const char *backend = env_get(envp, "REDIRECT_BACKEND");
	if (backend && strcmp(backend, "auto") != 0 && strcmp(backend, "nftables") != 0 &&
	    strcmp(backend, "iptables") != 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "REDIRECT_BACKEND=\"%s\": not auto, nftables or iptables",
				 backend);
	CHECK(env_string(envp, "REDIRECT_BACKEND", NULL, &c->redirect_backend));
	return 0;
}

/* The agent's and the plugin's log levels. */
static int parse_log_levels(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r;

	c->log_level = LOG_LEVEL_WARN;
	CHECK(env_log_level(envp, "LOG_LEVEL", &c->log_level, &c->log_level_set, err));
	c->plugin_log_level = LOG_LEVEL_INFO;
	CHECK(env_log_level(envp, "PLUGIN_LOG_LEVEL", &c->plugin_log_level,
			    &c->plugin_log_level_set, err));
	if (!c->plugin_log_level_set && c->log_level_set)
		c->plugin_log_level = c->log_level;
	return 0;
}

/* Which plugin binaries are copied from where. */
static int parse_binaries(const char *const *envp, struct agent_config *c, struct error *err)
{
	int r;

	CHECK(env_path(envp, "CNI_BIN_SOURCE_DIR", DEFAULT_CNI_BIN_SOURCE_DIR,
		       &c->cni_bin_source_dir, err));
	CHECK(env_path(envp, "MOUNTED_CNI_BIN_DIR", DEFAULT_MOUNTED_CNI_BIN_DIR,
		       &c->mounted_cni_bin_dir, err));
	CHECK(env_bool(envp, "UPDATE_CNI_BINARIES", true, &c->update_cni_binaries, err));
	/* 1.7's bash split on commas, its Go viper on whitespace: accept both. */
	CHECK(split_list(env_get(envp, "SKIP_CNI_BINARIES"), ", \t\n", &c->skip_cni_binaries,
			 &c->n_skip_cni_binaries));
	return 0;
}

static int parse_all(const char *const *envp, struct agent_config *c, struct error *err)
{
	static int (*const steps[])(const char *const *, struct agent_config *, struct error *) = {
		parse_cni_conf,		 parse_plugin_kubeconfig, parse_api_server, parse_node_name,
		parse_ports_and_capture, parse_log_levels,	  parse_binaries,
	};
	int r;

	for (size_t i = 0; i < ELEMENTSOF(steps); i++) {
		r = steps[i](envp, c, err);
		if (r < 0)
			return r;
	}
	CHECK(env_bool(envp, "REPAIR_ENABLED", true, &c->repair_enabled, err));
	CHECK(env_audit_interval(envp, &c->audit_interval_s, err));
	CHECK(parse_chart_extras(envp, c, err));
	return 0;
}
#undef CHECK

int agent_config_from_env(const char *const *envp, struct agent_config **ret, struct error *err)
{
	_cleanup_(agent_config_freep) struct agent_config *c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	int r = parse_all(envp, c, err);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(c);
	return 0;
}

struct agent_config *agent_config_free(struct agent_config *c)
{
	if (!c)
		return NULL;
	free(c->mounted_cni_net_dir);
	free(c->cni_net_dir);
	free(c->cni_conf_name);
	free(c->cni_network_config);
	free(c->cni_network_config_file);
	free(c->cni_agent_run_dir);
	free(c->kubecfg_file_name);
	free(c->service_account_dir);
	free(c->kube_ca_file);
	free(c->kubernetes_service_protocol);
	free(c->kubernetes_service_host);
	free(c->kubernetes_service_port);
	free(c->node_name);
	strv_free(c->exclude_namespaces, c->n_exclude_namespaces);
	free(c->pod_namespace);
	free(c->redirect_backend);
	free(c->cni_bin_source_dir);
	free(c->mounted_cni_bin_dir);
	strv_free(c->skip_cni_binaries, c->n_skip_cni_binaries);
	free(c->current_agent_version);
	strv_free(c->ambient_settings, c->n_ambient_settings);
	free(c);
	return NULL;
}

static void join(char *buf, size_t len, char *const *v, size_t n)
{
	size_t off = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < n && off < len; i++) {
		int k = snprintf(buf + off, len - off, "%s%s", i ? "," : "", v[i]);
		if (k < 0)
			break;
		off += (size_t)k;
	}
}

void agent_config_log(const struct agent_config *c)
{
	char excl[512], skip[256];
	join(excl, sizeof(excl), c->exclude_namespaces, c->n_exclude_namespaces);
	join(skip, sizeof(skip), c->skip_cni_binaries, c->n_skip_cni_binaries);
	log_info("config era=%s mounted_cni_net_dir=\"%s\" cni_net_dir=\"%s\" "
		 "cni_conf_name=\"%s\" chained=%s group_read=%s run_dir=\"%s\" "
		 "kubeconfig_mode=%04o kubecfg_file_name=\"%s\" sa_dir=\"%s\" ca_file=\"%s\" "
		 "skip_tls_verify=%s api=%s://%s:%s node=\"%s\" monitoring_port=%u "
		 "health_port=%u exclude_namespaces=\"%s\" pod_namespace=\"%s\" "
		 "native_nftables=%s redirect_backend=%s plugin_log_level=%s bin_source=\"%s\" "
		 "bin_dir=\"%s\" update_binaries=%s skip_binaries=\"%s\" repair=%s "
		 "audit_interval=%us agent_version=\"%s\"",
		 c->era == AGENT_ERA_LEGACY ? "1.7-template" : "current", c->mounted_cni_net_dir,
		 c->cni_net_dir, c->cni_conf_name ? c->cni_conf_name : "",
		 c->chained_cni_plugin ? "true" : "false",
		 c->cni_conf_group_read ? "true" : "false", c->cni_agent_run_dir,
		 (unsigned)c->kubeconfig_mode, c->kubecfg_file_name, c->service_account_dir,
		 c->kube_ca_file, c->skip_tls_verify ? "true" : "false",
		 c->kubernetes_service_protocol,
		 c->kubernetes_service_host ? c->kubernetes_service_host : "<unset>",
		 c->kubernetes_service_port ? c->kubernetes_service_port : "<unset>", c->node_name,
		 c->monitoring_port, c->health_port, excl, c->pod_namespace,
		 c->native_nftables ? "true" : "false",
		 c->redirect_backend ? c->redirect_backend : "auto",
		 log_level_to_string(c->plugin_log_level), c->cni_bin_source_dir,
		 c->mounted_cni_bin_dir, c->update_cni_binaries ? "true" : "false", skip,
		 c->repair_enabled ? "true" : "false", c->audit_interval_s,
		 c->current_agent_version ? c->current_agent_version : "");
}

/* Istio's flags that take a value, accepted and ignored. */
static const char *const ignored_value_flags[] = {
	"log_caller",
	"log_stacktrace_level",
	"log_target",
	"log_rotate",
	"log_rotate_max_age",
	"log_rotate_max_size",
	"log_rotate_max_backups",
	"ctrlz_port",
	"ctrlz_address",
	"vklog",
};

/* Istio's level names, plus fatal (no such level here: error). */
static int istio_level(const char *s, enum log_level *ret)
{
	if (strcmp(s, "fatal") == 0) {
		*ret = LOG_LEVEL_ERROR;
		return 0;
	}
	return log_level_from_string(s, ret);
}

static void more_verbose(bool *set, enum log_level *level, enum log_level l)
{
	if (!*set || l < *level)
		*level = l;
	*set = true;
}

static int parse_output_level(const char *value, struct agent_args *a, struct error *err)
{
	_cleanup_free_ char *copy = strdup(value);
	if (!copy)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	if (!*copy)
		return error_set(err, ERR_CONFIG, -EINVAL, "--log_output_level: empty value");
	char *save = NULL;
	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		parse_strip(item);
		char *colon = strrchr(item, ':');
		const char *scope = "default", *level = item;
		if (colon) {
			*colon = '\0';
			scope = item;
			level = colon + 1;
		}
		enum log_level l;
		if (!*scope || istio_level(level, &l) < 0)
			return error_set(
				err, ERR_CONFIG, -EINVAL,
				"--log_output_level=\"%s\": \"%s\" is not SCOPE:LEVEL with "
				"LEVEL debug, info, warn, error, fatal or none",
				value, item);
		bool all = strcmp(scope, "all") == 0;
		if (all || strcmp(scope, "cni-plugin") == 0) {
			a->plugin_log_level = l;
			a->plugin_log_level_set = true;
		}
		if (all || strcmp(scope, "cni-plugin") != 0)
			more_verbose(&a->log_level_set, &a->log_level, l);
	}
	return 0;
}

static bool is_ignored_value_flag(const char *name, size_t len)
{
	for (size_t i = 0; i < ELEMENTSOF(ignored_value_flags); i++)
		if (strlen(ignored_value_flags[i]) == len &&
		    strncmp(ignored_value_flags[i], name, len) == 0)
			return true;
	return false;
}

static int parse_one(int argc, char *const *argv, int *i, struct agent_args *a, struct error *err)
{
	const char *arg = argv[*i];
	if (strncmp(arg, "--", 2) != 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "unknown argument \"%s\"", arg);
	const char *name = arg + 2, *eq = strchr(name, '=');
	size_t len = eq ? (size_t)(eq - name) : strlen(name);
	const char *value = eq ? eq + 1 : NULL;

	if (len == 11 && strncmp(name, "log_as_json", len) == 0) {
		if (value && parse_bool(value, &a->log_as_json) < 0)
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "--log_as_json=\"%s\": not a boolean", value);
		if (!value)
			a->log_as_json = true;
		return 0;
	}
	bool output_level = len == 16 && strncmp(name, "log_output_level", len) == 0;
	if (!output_level && !is_ignored_value_flag(name, len))
		return error_set(err, ERR_CONFIG, -EINVAL, "unknown argument \"%s\"", arg);
	if (!value) {
		if (*i + 1 >= argc)
			return error_set(err, ERR_CONFIG, -EINVAL, "%s: missing value", arg);
		value = argv[++*i];
	}
	if (output_level)
		return parse_output_level(value, a, err);
	_cleanup_free_ char *shown = NULL;
	if (asprintf(&shown, "--%.*s=%s", (int)len, name, value) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	if (strv_push(&a->ignored, &a->n_ignored, shown) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	return 0;
}

int agent_args_parse(int argc, char *const *argv, struct agent_args *ret, struct error *err)
{
	struct agent_args a = {0};
	for (int i = 1; i < argc; i++) {
		int r = parse_one(argc, argv, &i, &a, err);
		if (r < 0) {
			agent_args_done(&a);
			return r;
		}
	}
	*ret = a;
	return 0;
}

void agent_args_done(struct agent_args *a)
{
	if (!a)
		return;
	strv_free(a->ignored, a->n_ignored);
	*a = (struct agent_args){0};
}

void agent_config_apply_args(struct agent_config *c, const struct agent_args *a)
{
	if (a->log_level_set) {
		c->log_level = a->log_level;
		c->log_level_set = true;
	}
	if (a->plugin_log_level_set && !c->plugin_log_level_set)
		c->plugin_log_level = a->plugin_log_level;
}

void agent_config_to_install(const struct agent_config *c, struct install_config *ret)
{
	*ret = (struct install_config){
		.era = c->era == AGENT_ERA_LEGACY ? INSTALL_ERA_LEGACY : INSTALL_ERA_CURRENT,
		.mounted_cni_net_dir = c->mounted_cni_net_dir,
		.cni_net_dir = c->cni_net_dir,
		.cni_conf_name = c->cni_conf_name,
		.chained_cni_plugin = c->chained_cni_plugin,
		.cni_conf_group_read = c->cni_conf_group_read,
		.network_config = c->era == AGENT_ERA_LEGACY ? c->cni_network_config : NULL,
		.cni_agent_run_dir = c->cni_agent_run_dir,
		.kubeconfig_mode = c->kubeconfig_mode,
		.kubecfg_file_name = c->kubecfg_file_name,
		.service_account_dir = c->service_account_dir,
		.kube_ca_file = c->kube_ca_file,
		.skip_tls_verify = c->skip_tls_verify,
		.kubernetes_service_protocol = c->kubernetes_service_protocol,
		.kubernetes_service_host = c->kubernetes_service_host,
		.kubernetes_service_port = c->kubernetes_service_port,
		.node_name = c->node_name,
		.exclude_namespaces = c->exclude_namespaces,
		.n_exclude_namespaces = c->n_exclude_namespaces,
		.pod_namespace = c->pod_namespace,
		.native_nftables = c->native_nftables,
		.ambient_enabled = c->ambient_enabled,
		.redirect_backend = c->redirect_backend,
		.plugin_log_level = c->plugin_log_level,
		.log_level = c->log_level,
		.cni_bin_source_dir = c->cni_bin_source_dir,
		.mounted_cni_bin_dir = c->mounted_cni_bin_dir,
		.update_cni_binaries = c->update_cni_binaries,
		.skip_cni_binaries = c->skip_cni_binaries,
		.n_skip_cni_binaries = c->n_skip_cni_binaries,
	};
}
