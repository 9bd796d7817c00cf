// SPDX-License-Identifier: Apache-2.0
#include "cni/netconf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/istio_names.h"
#include "util/strv.h"

#define POD_LOOKUP_TIMEOUT_MAX 600

static const char *const backend_names[_REDIRECT_BACKEND_MAX] = {
	[REDIRECT_BACKEND_AUTO] = "auto",
	[REDIRECT_BACKEND_NFTABLES] = "nftables",
	[REDIRECT_BACKEND_IPTABLES] = "iptables",
};

const char *redirect_backend_to_string(enum redirect_backend b)
{
	return b < _REDIRECT_BACKEND_MAX ? backend_names[b] : "?";
}

static void string_list_done(struct string_list *l)
{
	strv_free(l->v, l->n);
	l->v = NULL;
	l->n = 0;
}

static void string_map_done(struct string_map *m)
{
	for (size_t i = 0; i < m->n; i++) {
		free(m->keys[i]);
		free(m->values[i]);
	}
	free(m->keys);
	free(m->values);
	memset(m, 0, sizeof(*m));
}

struct netconf *netconf_free(struct netconf *c)
{
	if (!c)
		return NULL;
	free(c->cni_version);
	string_list_done(&c->cni_versions);
	free(c->name);
	free(c->type);
	json_decref(c->prev_result);
	free(c->kubeconfig);
	free(c->cni_agent_run_dir);
	string_list_done(&c->exclude_namespaces);
	free(c->pod_namespace);
	free(c->log_uds_address);
	string_map_done(&c->pod_annotations);
	free(c);
	return NULL;
}

const char *netconf_string_map_get(const struct string_map *m, const char *key)
{
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->keys[i], key) == 0)
			return m->values[i];
	return NULL;
}

bool netconf_namespace_excluded(const struct netconf *c, const char *ns)
{
	for (size_t i = 0; i < c->exclude_namespaces.n; i++)
		if (strcmp(c->exclude_namespaces.v[i], ns) == 0)
			return true;
	return false;
}

/* Optional string member; a present non-string is a decode error naming path. */
static int get_string(const json_t *obj, const char *key, const char *path, char **ret,
		      struct error *err)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return error_set(err, ERR_DECODE, -EINVAL, "%s%s: expected a string", path, key);
	char *s = strdup(json_string_value(v));
	if (!s)
		return -ENOMEM;
	free(*ret);
	*ret = s;
	return 1;
}

static int get_bool(const json_t *obj, const char *key, const char *path, bool *ret,
		    struct error *err)
{
	const json_t *v = json_object_get(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return error_set(err, ERR_DECODE, -EINVAL, "%s%s: expected a boolean", path, key);
	*ret = json_is_true(v);
	return 1;
}

/* Appends the strings of an optional array to l, skipping duplicates. */
static int get_string_array(const json_t *obj, const char *key, const char *path,
			    struct string_list *l, struct error *err)
{
	const json_t *arr = json_object_get(obj, key);
	if (!arr || json_is_null(arr))
		return 0;
	if (!json_is_array(arr))
		return error_set(err, ERR_DECODE, -EINVAL, "%s%s: expected an array of strings",
				 path, key);
	size_t i;
	const json_t *v;
	json_array_foreach (arr, i, v) {
		if (!json_is_string(v))
			return error_set(err, ERR_DECODE, -EINVAL, "%s%s[%zu]: expected a string",
					 path, key, i);
		const char *s = json_string_value(v);
		bool dup = false;
		for (size_t j = 0; j < l->n; j++)
			dup = dup || strcmp(l->v[j], s) == 0;
		if (dup)
			continue;
		if (strv_push(&l->v, &l->n, s) < 0)
			return -ENOMEM;
	}
	return 1;
}

static int get_string_map(const json_t *obj, const char *path, struct string_map *m,
			  struct error *err)
{
	if (!json_is_object(obj))
		return error_set(err, ERR_DECODE, -EINVAL, "%s: expected an object", path);
	size_t n = json_object_size(obj);
	m->keys = calloc(n ? n : 1, sizeof(char *));
	m->values = calloc(n ? n : 1, sizeof(char *));
	if (!m->keys || !m->values)
		return -ENOMEM;
	const char *k;
	const json_t *v;
	json_object_foreach ((json_t *)(uintptr_t)obj, k, v) {
		if (!json_is_string(v))
			return error_set(err, ERR_DECODE, -EINVAL,
					 "%s[\"%.64s\"]: expected a string", path, k);
		m->keys[m->n] = strdup(k);
		m->values[m->n] = strdup(json_string_value(v));
		m->n++;
		if (!m->keys[m->n - 1] || !m->values[m->n - 1])
			return -ENOMEM;
	}
	return 0;
}

/* plugin_log_level (current) wins over log_level (1.7-1.23). */
static int decode_log_level(const json_t *root, struct netconf *c, struct error *err)
{
	_cleanup_free_ char *level = NULL;
	int r;
	if ((r = get_string(root, "log_level", "", &level, err)) < 0 ||
	    (r = get_string(root, "plugin_log_level", "", &level, err)) < 0)
		return r;
	if (level) {
		/* Istio treats an unknown level as info rather than failing pod start-up. */
		if (log_level_from_string(level, &c->log_level) < 0)
			c->log_level = LOG_LEVEL_INFO;
		c->log_level_set = true;
	}
	return 0;
}

static int decode_backend(const json_t *root, struct netconf *c, struct error *err)
{
	_cleanup_free_ char *backend = NULL;
	int r = get_string(root, "redirect_backend", "", &backend, err);
	if (r < 0 || !backend)
		return r;
	int i;
	for (i = 0; i < _REDIRECT_BACKEND_MAX; i++)
		if (strcmp(backend, backend_names[i]) == 0)
			break;
	if (i == _REDIRECT_BACKEND_MAX)
		return error_set(
			err, ERR_CONFIG, -EINVAL,
			"redirect_backend: \"%.32s\" is not one of auto, nftables, iptables",
			backend);
	c->redirect_backend = (enum redirect_backend)i;
	return 0;
}

static int decode_lookup_timeout(const json_t *root, struct netconf *c, struct error *err)
{
	const json_t *t = json_object_get(root, "pod_lookup_timeout_seconds");
	if (!t || json_is_null(t))
		return 0;
	if (!json_is_integer(t))
		return error_set(err, ERR_DECODE, -EINVAL,
				 "pod_lookup_timeout_seconds: expected an integer");
	json_int_t v = json_integer_value(t);
	if (v < 1 || v > POD_LOOKUP_TIMEOUT_MAX)
		return error_set(err, ERR_CONFIG, -ERANGE,
				 "pod_lookup_timeout_seconds: %lld is outside 1-%d", (long long)v,
				 POD_LOOKUP_TIMEOUT_MAX);
	c->pod_lookup_timeout_sec = (unsigned int)v;
	return 0;
}

/* The 1.7-era "kubernetes" object: kubeconfig and exclude_namespaces. */
static int decode_kubernetes(const json_t *root, struct netconf *c, struct error *err)
{
	const json_t *k8s = json_object_get(root, "kubernetes");
	if (!k8s || json_is_null(k8s))
		return 0;
	if (!json_is_object(k8s))
		return error_set(err, ERR_DECODE, -EINVAL, "kubernetes: expected an object");
	int r;
	if ((r = get_string(k8s, "kubeconfig", "kubernetes.", &c->kubeconfig, err)) < 0 ||
	    (r = get_string_array(k8s, "exclude_namespaces", "kubernetes.", &c->exclude_namespaces,
				  err)) < 0)
		return r;
	return 0;
}

/* The pod annotations containerd passes in runtimeConfig. */
static int decode_runtime_config(const json_t *root, struct netconf *c, struct error *err)
{
	const json_t *rc = json_object_get(root, "runtimeConfig");
	if (!rc || !json_is_object(rc))
		return 0;
	const json_t *ann = json_object_get(rc, "io.kubernetes.cri.pod-annotations");
	if (!ann || json_is_null(ann))
		return 0;
	int r = get_string_map(ann, "runtimeConfig[\"io.kubernetes.cri.pod-annotations\"]",
			       &c->pod_annotations, err);
	if (r < 0)
		return r;
	c->have_pod_annotations = true;
	return 0;
}

static int decode(const json_t *root, struct netconf *c, struct error *err)
{
	int r;
	if (!json_is_object(root))
		return error_set(err, ERR_DECODE, -EINVAL,
				 "network configuration is not a JSON object");

	if ((r = get_string(root, "cniVersion", "", &c->cni_version, err)) < 0 ||
	    (r = get_string_array(root, "cniVersions", "", &c->cni_versions, err)) < 0 ||
	    (r = get_string(root, "name", "", &c->name, err)) < 0 ||
	    (r = get_string(root, "type", "", &c->type, err)) < 0 ||
	    (r = get_string(root, "cni_agent_run_dir", "", &c->cni_agent_run_dir, err)) < 0 ||
	    (r = get_string_array(root, "exclude_namespaces", "", &c->exclude_namespaces, err)) <
		    0 ||
	    (r = get_string(root, "pod_namespace", "", &c->pod_namespace, err)) < 0 ||
	    (r = get_string(root, "log_uds_address", "", &c->log_uds_address, err)) < 0 ||
	    (r = get_bool(root, "native_nftables", "", &c->native_nftables, err)) < 0 ||
	    (r = get_bool(root, "ambient_enabled", "", &c->ambient_enabled, err)) < 0)
		return r;

	const json_t *prev = json_object_get(root, "prevResult");
	if (prev && !json_is_null(prev)) {
		if (!json_is_object(prev))
			return error_set(err, ERR_DECODE, -EINVAL,
					 "prevResult: expected an object");
		c->prev_result = json_incref((json_t *)(uintptr_t)prev);
	}

	if ((r = decode_log_level(root, c, err)) < 0 || (r = decode_backend(root, c, err)) < 0 ||
	    (r = decode_lookup_timeout(root, c, err)) < 0 ||
	    (r = decode_kubernetes(root, c, err)) < 0 ||
	    (r = decode_runtime_config(root, c, err)) < 0)
		return r;
	return 0;
}

int netconf_parse(const char *buf, size_t len, struct netconf **ret, struct error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return error_set(err, ERR_DECODE, -EINVAL,
				 "failed to parse network configuration: %s (line %d, column %d)",
				 jerr.text, jerr.line, jerr.column);

	struct netconf *c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(root);
		return -ENOMEM;
	}
	c->pod_lookup_timeout_sec = NETCONF_DEFAULT_POD_LOOKUP_TIMEOUT_SEC;
	int r = decode(root, c, err);
	json_decref(root);
	if (r >= 0 && !c->cni_version && !(c->cni_version = strdup("0.1.0")))
		r = -ENOMEM;
	if (r >= 0 && !c->cni_agent_run_dir &&
	    !(c->cni_agent_run_dir = strdup(DEFAULT_CNI_AGENT_RUN_DIR)))
		r = -ENOMEM;
	if (r < 0) {
		netconf_free(c);
		if (r == -ENOMEM)
			return error_set(err, ERR_INTERNAL, r, "out of memory");
		return r;
	}
	*ret = c;
	return 0;
}

int netconf_validate(const struct netconf *c, struct error *err)
{
	if (!c->name || c->name[0] == '\0')
		return error_set(err, ERR_CONFIG, -EINVAL, "missing network name");
	if (c->cni_agent_run_dir[0] != '/')
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "cni_agent_run_dir: \"%.128s\" is not an absolute path",
				 c->cni_agent_run_dir);
	if (c->kubeconfig && c->kubeconfig[0] != '/')
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "kubernetes.kubeconfig: \"%.128s\" is not an absolute path",
				 c->kubeconfig);
	return 0;
}
