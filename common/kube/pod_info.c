// SPDX-License-Identifier: Apache-2.0
#include "kube/pod_info.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/istio_names.h"
#include "util/json_util.h"
#include "util/strv.h"

#define PATH_MAX_LEN 160

static int type_error(struct error *err, const char *path, const char *want, const json_t *v)
{
	return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: expected %s, got %s", path, want,
			 json_type_name(v));
}

/* A member that is absent or JSON null is "not there": the API server omits
 * empty fields, but other clients write null. */
static const json_t *member(const json_t *obj, const char *key)
{
	const json_t *v = json_object_get(obj, key);
	return v && !json_is_null(v) ? v : NULL;
}

static int copy_string(const json_t *v, const char *path, char **ret, struct error *err)
{
	if (!json_is_string(v))
		return type_error(err, path, "string", v);
	size_t len = json_string_length(v);
	if (len > POD_INFO_MAX_STRING)
		return error_set(err, ERR_DECODE, -EINVAL,
				 "pod JSON: %s: string of %zu bytes is too long", path, len);
	const char *s = json_string_value(v);
	if (memchr(s, '\0', len))
		return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: string contains NUL",
				 path);
	char *c = strndup(s, len);
	if (!c)
		return -ENOMEM;
	*ret = c;
	return 0;
}

/* Optional string member: *ret stays NULL when absent. */
static int get_string(const json_t *obj, const char *key, const char *parent, bool required,
		      char **ret, struct error *err)
{
	char path[PATH_MAX_LEN];
	(void)snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "." : "", key);
	const json_t *v = member(obj, key);
	if (!v) {
		if (required)
			return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: missing", path);
		return 0;
	}
	return copy_string(v, path, ret, err);
}

static int get_object(const json_t *obj, const char *key, const char *parent, const json_t **ret,
		      struct error *err)
{
	char path[PATH_MAX_LEN];
	(void)snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "." : "", key);
	const json_t *v = member(obj, key);
	if (v && !json_is_object(v))
		return type_error(err, path, "object", v);
	if (v && json_object_size(v) > POD_INFO_MAX_ITEMS)
		return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: more than %d members",
				 path, POD_INFO_MAX_ITEMS);
	*ret = v;
	return 0;
}

static int get_array(const json_t *obj, const char *key, const char *parent, const json_t **ret,
		     struct error *err)
{
	char path[PATH_MAX_LEN];
	(void)snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "." : "", key);
	const json_t *v = member(obj, key);
	if (v && !json_is_array(v))
		return type_error(err, path, "array", v);
	if (v && json_array_size(v) > POD_INFO_MAX_ITEMS)
		return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: more than %d entries",
				 path, POD_INFO_MAX_ITEMS);
	*ret = v;
	return 0;
}

static int get_int(const json_t *obj, const char *key, const char *parent, int64_t min, int64_t max,
		   bool *ret_set, int64_t *ret, struct error *err)
{
	char path[PATH_MAX_LEN];
	(void)snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "." : "", key);
	const json_t *v = member(obj, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return type_error(err, path, "integer", v);
	json_int_t i = json_integer_value(v);
	if (i < min || i > max)
		return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: %lld out of range", path,
				 (long long)i);
	*ret_set = true;
	*ret = i;
	return 0;
}

static int get_bool(const json_t *obj, const char *key, const char *parent, bool *ret,
		    struct error *err)
{
	char path[PATH_MAX_LEN];
	(void)snprintf(path, sizeof(path), "%s%s%s", parent, parent[0] ? "." : "", key);
	const json_t *v = member(obj, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return type_error(err, path, "boolean", v);
	*ret = json_is_true(v);
	return 0;
}

static void free_kv(struct pod_kv *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

static void free_terminated(struct pod_terminated *t)
{
	free(t->reason);
	free(t->message);
}

struct pod_info *pod_info_free(struct pod_info *p)
{
	if (!p)
		return NULL;
	free(p->namespace);
	free(p->name);
	free(p->uid);
	free(p->resource_version);
	free_kv(p->labels, p->n_labels);
	free_kv(p->annotations, p->n_annotations);
	free(p->node_name);
	strv_free(p->containers, p->n_containers);
	strv_free(p->init_containers, p->n_init_containers);
	strv_free(p->proxy_args, p->n_proxy_args);
	for (size_t i = 0; i < p->n_proxy_env; i++) {
		free(p->proxy_env[i].name);
		free(p->proxy_env[i].value);
	}
	free(p->proxy_env);
	free(p->phase);
	free(p->pod_ip);
	strv_free(p->pod_ips, p->n_pod_ips);
	for (size_t i = 0; i < p->n_init_statuses; i++) {
		free(p->init_statuses[i].name);
		free_terminated(&p->init_statuses[i].state);
		free_terminated(&p->init_statuses[i].last_state);
	}
	free(p->init_statuses);
	free(p);
	return NULL;
}

/* A string-to-string map (labels, annotations). */
static int decode_map(const json_t *meta, const char *key, struct pod_kv **ret, size_t *ret_n,
		      struct error *err)
{
	const json_t *obj = NULL;
	int r = get_object(meta, key, "metadata", &obj, err);
	if (r < 0 || !obj)
		return r;

	size_t n = json_object_size(obj);
	struct pod_kv *kv = calloc(n ? n : 1, sizeof(*kv));
	if (!kv)
		return -ENOMEM;

	size_t i = 0;
	const char *k;
	json_t *v;
	/* jansson's iteration API is not const-correct; it does not modify obj. */
	json_t *mobj = (json_t *)(uintptr_t)obj;
	json_object_foreach (mobj, k, v) {
		char path[PATH_MAX_LEN];
		(void)snprintf(path, sizeof(path), "metadata.%s[\"%.64s\"]", key, k);
		if (strlen(k) > POD_INFO_MAX_STRING) {
			r = error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %s: key too long", path);
			break;
		}
		kv[i].key = strdup(k);
		if (!kv[i].key) {
			r = -ENOMEM;
			break;
		}
		i++;
		r = copy_string(v, path, &kv[i - 1].value, err);
		if (r < 0)
			break;
	}
	if (r < 0) {
		free_kv(kv, i);
		return r;
	}
	*ret = kv;
	*ret_n = i;
	return 0;
}

static int decode_metadata(const json_t *pod, struct pod_info *p, struct error *err)
{
	const json_t *meta = NULL;
	int r = get_object(pod, "metadata", "", &meta, err);
	if (r < 0)
		return r;
	if (!meta)
		return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: metadata: missing");

	r = get_string(meta, "namespace", "metadata", true, &p->namespace, err);
	if (r < 0)
		return r;
	r = get_string(meta, "name", "metadata", true, &p->name, err);
	if (r < 0)
		return r;
	r = get_string(meta, "uid", "metadata", false, &p->uid, err);
	if (r < 0)
		return r;
	r = get_string(meta, "resourceVersion", "metadata", false, &p->resource_version, err);
	if (r < 0)
		return r;
	/* Any value means the pod is being deleted; the time itself is not used. */
	p->terminating = member(meta, "deletionTimestamp") != NULL &&
			 !json_is_null(member(meta, "deletionTimestamp"));
	r = decode_map(meta, "labels", &p->labels, &p->n_labels, err);
	if (r < 0)
		return r;
	return decode_map(meta, "annotations", &p->annotations, &p->n_annotations, err);
}

static int decode_strv(const json_t *arr, const char *path, char ***ret, size_t *ret_n,
		       struct error *err)
{
	size_t n = json_array_size(arr);
	char **v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int r = 0;
	size_t i;
	for (i = 0; i < n; i++) {
		char p[PATH_MAX_LEN];
		(void)snprintf(p, sizeof(p), "%s[%zu]", path, i);
		r = copy_string(json_array_get(arr, i), p, &v[i], err);
		if (r < 0)
			break;
	}
	if (r < 0) {
		strv_free(v, i);
		return r;
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

static int decode_proxy(const json_t *c, const char *path, struct pod_info *p, struct error *err)
{
	char sub[PATH_MAX_LEN];
	const json_t *args = NULL, *env = NULL, *sc = NULL;
	int r;

	r = get_array(c, "args", path, &args, err);
	if (r < 0)
		return r;
	if (args) {
		(void)snprintf(sub, sizeof(sub), "%s.args", path);
		r = decode_strv(args, sub, &p->proxy_args, &p->n_proxy_args, err);
		if (r < 0)
			return r;
	}

	r = get_array(c, "env", path, &env, err);
	if (r < 0)
		return r;
	if (env) {
		size_t n = json_array_size(env);
		p->proxy_env = calloc(n ? n : 1, sizeof(*p->proxy_env));
		if (!p->proxy_env)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const json_t *e = json_array_get(env, i);
			(void)snprintf(sub, sizeof(sub), "%s.env[%zu]", path, i);
			if (!json_is_object(e))
				return type_error(err, sub, "object", e);
			struct pod_env *pe = &p->proxy_env[p->n_proxy_env++];
			r = get_string(e, "name", sub, true, &pe->name, err);
			if (r < 0)
				return r;
			/* valueFrom (and an absent value) reads as "", as Istio's plugin does. */
			r = get_string(e, "value", sub, false, &pe->value, err);
			if (r < 0)
				return r;
			if (!pe->value) {
				pe->value = strdup("");
				if (!pe->value)
					return -ENOMEM;
			}
		}
	}

	r = get_object(c, "securityContext", path, &sc, err);
	if (r < 0)
		return r;
	if (sc) {
		(void)snprintf(sub, sizeof(sub), "%s.securityContext", path);
		r = get_int(sc, "runAsUser", sub, INT64_MIN, INT64_MAX, &p->proxy_run_as_user_set,
			    &p->proxy_run_as_user, err);
		if (r < 0)
			return r;
		r = get_int(sc, "runAsGroup", sub, INT64_MIN, INT64_MAX, &p->proxy_run_as_group_set,
			    &p->proxy_run_as_group, err);
		if (r < 0)
			return r;
	}
	p->has_proxy = true;
	return 0;
}

/* Names of spec.<key>[]; the first istio-proxy found (init containers first) is decoded. */
static int decode_containers(const json_t *spec, const char *key, bool init, struct pod_info *p,
			     struct error *err)
{
	const json_t *arr = NULL;
	int r = get_array(spec, key, "spec", &arr, err);
	if (r < 0 || !arr)
		return r;

	size_t n = json_array_size(arr);
	char **names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	/* Owned by p from here on, so a failure below frees what was decoded. */
	if (init)
		p->init_containers = names;
	else
		p->containers = names;
	size_t *ret_n = init ? &p->n_init_containers : &p->n_containers;

	for (size_t i = 0; i < n; i++) {
		const json_t *c = json_array_get(arr, i);
		char path[PATH_MAX_LEN];
		(void)snprintf(path, sizeof(path), "spec.%s[%zu]", key, i);
		if (!json_is_object(c))
			return type_error(err, path, "object", c);
		r = get_string(c, "name", path, true, &names[i], err);
		if (r < 0)
			return r;
		(*ret_n)++;
		// NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): required, so set on success
		if (!p->has_proxy && strcmp(names[i], CONTAINER_ISTIO_PROXY) == 0) {
			r = decode_proxy(c, path, p, err);
			if (r < 0)
				return r;
			p->proxy_is_init = init;
		}
	}
	return 0;
}

static int decode_terminated(const json_t *parent, const char *key, const char *path,
			     struct pod_terminated *t, struct error *err)
{
	char sub[PATH_MAX_LEN];
	const json_t *st = NULL, *term = NULL;
	int r = get_object(parent, key, path, &st, err);
	if (r < 0 || !st)
		return r;
	(void)snprintf(sub, sizeof(sub), "%s.%s", path, key);
	r = get_object(st, "terminated", sub, &term, err);
	if (r < 0 || !term)
		return r;
	(void)snprintf(sub, sizeof(sub), "%s.%s.terminated", path, key);

	bool set = false;
	int64_t code = 0;
	r = get_int(term, "exitCode", sub, INT32_MIN, INT32_MAX, &set, &code, err);
	if (r < 0)
		return r;
	t->exit_code = (int32_t)code;
	r = get_string(term, "reason", sub, false, &t->reason, err);
	if (r < 0)
		return r;
	r = get_string(term, "message", sub, false, &t->message, err);
	if (r < 0)
		return r;
	t->present = true;
	return 0;
}

static int decode_status(const json_t *pod, struct pod_info *p, struct error *err)
{
	const json_t *status = NULL, *ips = NULL, *inits = NULL;
	int r = get_object(pod, "status", "", &status, err);
	if (r < 0 || !status)
		return r;

	r = get_string(status, "phase", "status", false, &p->phase, err);
	if (r < 0)
		return r;
	r = get_string(status, "podIP", "status", false, &p->pod_ip, err);
	if (r < 0)
		return r;

	r = get_array(status, "podIPs", "status", &ips, err);
	if (r < 0)
		return r;
	if (ips) {
		size_t n = json_array_size(ips);
		p->pod_ips = calloc(n ? n : 1, sizeof(*p->pod_ips));
		if (!p->pod_ips)
			return -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			const json_t *e = json_array_get(ips, i);
			char path[PATH_MAX_LEN];
			(void)snprintf(path, sizeof(path), "status.podIPs[%zu]", i);
			if (!json_is_object(e))
				return type_error(err, path, "object", e);
			r = get_string(e, "ip", path, true, &p->pod_ips[p->n_pod_ips], err);
			if (r < 0)
				return r;
			p->n_pod_ips++;
		}
	}

	r = get_array(status, "initContainerStatuses", "status", &inits, err);
	if (r < 0 || !inits)
		return r;
	size_t n = json_array_size(inits);
	p->init_statuses = calloc(n ? n : 1, sizeof(*p->init_statuses));
	if (!p->init_statuses)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const json_t *e = json_array_get(inits, i);
		char path[PATH_MAX_LEN];
		(void)snprintf(path, sizeof(path), "status.initContainerStatuses[%zu]", i);
		if (!json_is_object(e))
			return type_error(err, path, "object", e);
		struct pod_init_status *s = &p->init_statuses[p->n_init_statuses++];
		r = get_string(e, "name", path, true, &s->name, err);
		if (r < 0)
			return r;
		r = decode_terminated(e, "state", path, &s->state, err);
		if (r < 0)
			return r;
		r = decode_terminated(e, "lastState", path, &s->last_state, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int pod_info_from_json(const json_t *pod, struct pod_info **ret, struct error *err)
{
	if (!pod || !json_is_object(pod))
		return pod ? type_error(err, "(root)", "object", pod)
			   : error_set(err, ERR_DECODE, -EINVAL, "pod JSON: missing");

	_cleanup_(pod_info_freep) struct pod_info *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;

	int r = decode_metadata(pod, p, err);
	if (r < 0)
		return r;

	const json_t *spec = NULL;
	r = get_object(pod, "spec", "", &spec, err);
	if (r < 0)
		return r;
	if (spec) {
		r = get_string(spec, "nodeName", "spec", false, &p->node_name, err);
		if (r < 0)
			return r;
		r = get_bool(spec, "hostNetwork", "spec", &p->host_network, err);
		if (r < 0)
			return r;
		/* Init containers first: a native sidecar is an init container. */
		r = decode_containers(spec, "initContainers", true, p, err);
		if (r < 0)
			return r;
		r = decode_containers(spec, "containers", false, p, err);
		if (r < 0)
			return r;
	}

	r = decode_status(pod, p, err);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(p);
	return 0;
}

static const char *kv_lookup(const struct pod_kv *kv, size_t n, const char *key)
{
	if (!key)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i].key, key) == 0)
			return kv[i].value;
	return NULL;
}

const char *pod_info_annotation(const struct pod_info *p, const char *key)
{
	return p ? kv_lookup(p->annotations, p->n_annotations, key) : NULL;
}

const char *pod_info_label(const struct pod_info *p, const char *key)
{
	return p ? kv_lookup(p->labels, p->n_labels, key) : NULL;
}

const char *pod_info_proxy_env(const struct pod_info *p, const char *name)
{
	if (!p || !name)
		return NULL;
	for (size_t i = p->n_proxy_env; i > 0; i--)
		if (strcmp(p->proxy_env[i - 1].name, name) == 0)
			return p->proxy_env[i - 1].value;
	return NULL;
}

bool pod_info_has_container(const struct pod_info *p, const char *name)
{
	if (!p || !name)
		return false;
	for (size_t i = 0; i < p->n_init_containers; i++)
		if (strcmp(p->init_containers[i], name) == 0)
			return true;
	for (size_t i = 0; i < p->n_containers; i++)
		if (strcmp(p->containers[i], name) == 0)
			return true;
	return false;
}

const struct pod_init_status *pod_info_init_status(const struct pod_info *p, const char *name)
{
	if (!p || !name)
		return NULL;
	for (size_t i = 0; i < p->n_init_statuses; i++)
		if (strcmp(p->init_statuses[i].name, name) == 0)
			return &p->init_statuses[i];
	return NULL;
}

bool pod_info_is_running(const struct pod_info *p)
{
	return p && p->phase && strcmp(p->phase, "Running") == 0;
}

/* Copies s into *ret; NULL stays NULL. */
static int dup_str(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int dup_strv(char *const *v, size_t n, char ***ret, size_t *ret_n)
{
	*ret = NULL;
	*ret_n = 0;
	if (!v)
		return 0;
	*ret = calloc(n ? n : 1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	for (; *ret_n < n; (*ret_n)++)
		if (dup_str(v[*ret_n], &(*ret)[*ret_n]) < 0)
			return -ENOMEM;
	return 0;
}

/*
 * Labels, annotations and the proxy's env share a shape: an array of entries
 * of two strings each. A half-copied entry counts, so that freeing the copy
 * frees it too.
 */
// NOLINTBEGIN(bugprone-macro-parentheses): `type` is a type, which cannot be parenthesized
#define DEFINE_DUP_PAIRS(fn, type, first, second)                                                  \
	static int fn(const type *v, size_t n, type **ret, size_t *ret_n)                          \
	{                                                                                          \
		*ret = NULL;                                                                       \
		*ret_n = 0;                                                                        \
		if (!v)                                                                            \
			return 0;                                                                  \
		*ret = calloc(n ? n : 1, sizeof(**ret));                                           \
		if (!*ret)                                                                         \
			return -ENOMEM;                                                            \
		for (; *ret_n < n; (*ret_n)++) {                                                   \
			type *d = &(*ret)[*ret_n];                                                 \
			if (dup_str(v[*ret_n].first, &d->first) < 0 ||                             \
			    dup_str(v[*ret_n].second, &d->second) < 0) {                           \
				(*ret_n)++;                                                        \
				return -ENOMEM;                                                    \
			}                                                                          \
		}                                                                                  \
		return 0;                                                                          \
	}
// NOLINTEND(bugprone-macro-parentheses)

DEFINE_DUP_PAIRS(dup_pairs, struct pod_kv, key, value)
DEFINE_DUP_PAIRS(dup_env, struct pod_env, name, value)

static int dup_terminated(const struct pod_terminated *t, struct pod_terminated *d)
{
	*d = (struct pod_terminated){.present = t->present, .exit_code = t->exit_code};
	if (dup_str(t->reason, &d->reason) < 0 || dup_str(t->message, &d->message) < 0)
		return -ENOMEM;
	return 0;
}

static int dup_init_statuses(const struct pod_info *p, struct pod_info *d)
{
	if (!p->init_statuses)
		return 0;
	d->init_statuses = calloc(p->n_init_statuses ? p->n_init_statuses : 1,
				  sizeof(*d->init_statuses));
	if (!d->init_statuses)
		return -ENOMEM;
	for (; d->n_init_statuses < p->n_init_statuses; d->n_init_statuses++) {
		const struct pod_init_status *s = &p->init_statuses[d->n_init_statuses];
		struct pod_init_status *c = &d->init_statuses[d->n_init_statuses];
		if (dup_str(s->name, &c->name) < 0 || dup_terminated(&s->state, &c->state) < 0 ||
		    dup_terminated(&s->last_state, &c->last_state) < 0) {
			d->n_init_statuses++;
			return -ENOMEM;
		}
	}
	return 0;
}

int pod_info_dup(const struct pod_info *p, struct pod_info **ret)
{
	_cleanup_(pod_info_freep) struct pod_info *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* Scalars first; every pointer is then replaced by its own copy. */
	*d = *p;
	d->namespace = d->name = d->uid = d->resource_version = d->node_name = NULL;
	d->phase = d->pod_ip = NULL;
	d->labels = d->annotations = NULL;
	d->n_labels = d->n_annotations = 0;
	d->containers = d->init_containers = d->proxy_args = d->pod_ips = NULL;
	d->n_containers = d->n_init_containers = d->n_proxy_args = d->n_pod_ips = 0;
	d->proxy_env = NULL;
	d->n_proxy_env = 0;
	d->init_statuses = NULL;
	d->n_init_statuses = 0;

	if (dup_str(p->namespace, &d->namespace) < 0 || dup_str(p->name, &d->name) < 0 ||
	    dup_str(p->uid, &d->uid) < 0 ||
	    dup_str(p->resource_version, &d->resource_version) < 0 ||
	    dup_str(p->node_name, &d->node_name) < 0 || dup_str(p->phase, &d->phase) < 0 ||
	    dup_str(p->pod_ip, &d->pod_ip) < 0 ||
	    dup_pairs(p->labels, p->n_labels, &d->labels, &d->n_labels) < 0 ||
	    dup_pairs(p->annotations, p->n_annotations, &d->annotations, &d->n_annotations) < 0 ||
	    dup_strv(p->containers, p->n_containers, &d->containers, &d->n_containers) < 0 ||
	    dup_strv(p->init_containers, p->n_init_containers, &d->init_containers,
		     &d->n_init_containers) < 0 ||
	    dup_strv(p->proxy_args, p->n_proxy_args, &d->proxy_args, &d->n_proxy_args) < 0 ||
	    dup_strv(p->pod_ips, p->n_pod_ips, &d->pod_ips, &d->n_pod_ips) < 0 ||
	    dup_env(p->proxy_env, p->n_proxy_env, &d->proxy_env, &d->n_proxy_env) < 0 ||
	    dup_init_statuses(p, d) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(d);
	return 0;
}

/* --- Encoding. --- */

/* Sets key to a string of s on obj when s is not NULL. */
static int put_str(json_t *obj, const char *key, const char *s)
{
	if (!s)
		return 0;
	return json_object_set_new(obj, key, json_string(s)) == 0 ? 0 : -ENOMEM;
}

static int put_new(json_t *obj, const char *key, json_t *v)
{
	return v && json_object_set_new(obj, key, v) == 0 ? 0 : -ENOMEM;
}

static json_t *encode_map(const struct pod_kv *kv, size_t n)
{
	json_t *m = json_object();
	for (size_t i = 0; m && i < n; i++)
		if (json_object_set_new(m, kv[i].key, json_string(kv[i].value)) != 0) {
			json_decref(m);
			return NULL;
		}
	return m;
}

static json_t *encode_strv(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) != 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* The istio-proxy container's fields that pod_info keeps, into c. */
static int encode_proxy(const struct pod_info *p, json_t *c)
{
	int r = 0;
	if (p->proxy_args)
		r = put_new(c, "args", encode_strv(p->proxy_args, p->n_proxy_args));
	if (r == 0 && p->proxy_env) {
		json_t *env = json_array();
		r = put_new(c, "env", env);
		for (size_t i = 0; r == 0 && i < p->n_proxy_env; i++)
			r = json_array_append_new(env, json_pack("{s:s,s:s}", "name",
								 p->proxy_env[i].name, "value",
								 p->proxy_env[i].value)) == 0
				    ? 0
				    : -ENOMEM;
	}
	if (r == 0 && (p->proxy_run_as_user_set || p->proxy_run_as_group_set)) {
		json_t *sc = json_object();
		r = put_new(c, "securityContext", sc);
		if (r == 0 && p->proxy_run_as_user_set)
			r = put_new(sc, "runAsUser", json_integer(p->proxy_run_as_user));
		if (r == 0 && p->proxy_run_as_group_set)
			r = put_new(sc, "runAsGroup", json_integer(p->proxy_run_as_group));
	}
	return r;
}

static int encode_containers(const struct pod_info *p, bool init, json_t *spec)
{
	char *const *names = init ? p->init_containers : p->containers;
	size_t n = init ? p->n_init_containers : p->n_containers;
	if (!names)
		return 0;
	json_t *arr = json_array();
	int r = put_new(spec, init ? "initContainers" : "containers", arr);
	/* The proxy's details go on the entry the decoder took them from: the
	 * first istio-proxy, init containers first. */
	bool proxy_here = p->has_proxy && p->proxy_is_init == init;
	for (size_t i = 0; r == 0 && i < n; i++) {
		json_t *c = json_pack("{s:s}", "name", names[i]);
		r = c && json_array_append_new(arr, c) == 0 ? 0 : -ENOMEM;
		if (r == 0 && proxy_here && strcmp(names[i], CONTAINER_ISTIO_PROXY) == 0) {
			proxy_here = false;
			r = encode_proxy(p, c);
		}
	}
	return r;
}

static json_t *encode_terminated(const struct pod_terminated *t)
{
	json_t *term = json_pack("{s:i}", "exitCode", (json_int_t)t->exit_code);
	if (term &&
	    (put_str(term, "reason", t->reason) < 0 || put_str(term, "message", t->message) < 0)) {
		json_decref(term);
		return NULL;
	}
	return term ? json_pack("{s:o}", "terminated", term) : NULL;
}

static int encode_status(const struct pod_info *p, json_t *status)
{
	int r = put_str(status, "phase", p->phase);
	if (r == 0)
		r = put_str(status, "podIP", p->pod_ip);
	if (r == 0 && p->pod_ips) {
		json_t *ips = json_array();
		r = put_new(status, "podIPs", ips);
		for (size_t i = 0; r == 0 && i < p->n_pod_ips; i++)
			r = json_array_append_new(ips, json_pack("{s:s}", "ip", p->pod_ips[i])) == 0
				    ? 0
				    : -ENOMEM;
	}
	if (r == 0 && p->init_statuses) {
		json_t *arr = json_array();
		r = put_new(status, "initContainerStatuses", arr);
		for (size_t i = 0; r == 0 && i < p->n_init_statuses; i++) {
			const struct pod_init_status *s = &p->init_statuses[i];
			json_t *e = json_pack("{s:s}", "name", s->name);
			r = e && json_array_append_new(arr, e) == 0 ? 0 : -ENOMEM;
			if (r == 0 && s->state.present)
				r = put_new(e, "state", encode_terminated(&s->state));
			if (r == 0 && s->last_state.present)
				r = put_new(e, "lastState", encode_terminated(&s->last_state));
		}
	}
	return r;
}

int pod_info_to_json(const struct pod_info *p, json_t **ret)
{
	if (!p || !p->namespace || !p->name)
		return -EINVAL;
	json_auto_t *pod = json_object();
	json_t *meta = NULL, *spec = NULL, *status = NULL;
	int r = put_new(pod, "metadata", meta = json_object());
	if (r == 0)
		r = put_new(pod, "spec", spec = json_object());
	if (r == 0)
		r = put_new(pod, "status", status = json_object());
	if (r == 0)
		r = put_str(meta, "namespace", p->namespace);
	if (r == 0)
		r = put_str(meta, "name", p->name);
	if (r == 0)
		r = put_str(meta, "uid", p->uid);
	if (r == 0)
		r = put_str(meta, "resourceVersion", p->resource_version);
	/* The time itself is not kept; only that there is one. */
	if (r == 0 && p->terminating)
		r = put_str(meta, "deletionTimestamp", "1970-01-01T00:00:00Z");
	if (r == 0 && p->labels)
		r = put_new(meta, "labels", encode_map(p->labels, p->n_labels));
	if (r == 0 && p->annotations)
		r = put_new(meta, "annotations", encode_map(p->annotations, p->n_annotations));
	if (r == 0)
		r = put_str(spec, "nodeName", p->node_name);
	if (r == 0 && p->host_network)
		r = put_new(spec, "hostNetwork", json_true());
	if (r == 0)
		r = encode_containers(p, true, spec);
	if (r == 0)
		r = encode_containers(p, false, spec);
	if (r == 0)
		r = encode_status(p, status);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(pod);
	return 0;
}

/* --- Comparison. --- */

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool strv_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb || !a != !b)
		return false;
	if (!a || !b)
		return a == b; /* both NULL: both empty */
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i], b[i]))
			return false;
	return true;
}

static bool kv_eq(const struct pod_kv *a, size_t na, const struct pod_kv *b, size_t nb)
{
	if (na != nb || !a != !b)
		return false;
	if (!a || !b)
		return a == b; /* both NULL: both empty */
	for (size_t i = 0; i < na; i++)
		if (!str_eq(a[i].key, b[i].key) || !str_eq(a[i].value, b[i].value))
			return false;
	return true;
}

static bool terminated_eq(const struct pod_terminated *a, const struct pod_terminated *b)
{
	return a->present == b->present && a->exit_code == b->exit_code &&
	       str_eq(a->reason, b->reason) && str_eq(a->message, b->message);
}

bool pod_info_equal(const struct pod_info *a, const struct pod_info *b)
{
	if (!a || !b)
		return a == b;
	if (!str_eq(a->namespace, b->namespace) || !str_eq(a->name, b->name) ||
	    !str_eq(a->uid, b->uid) || !str_eq(a->resource_version, b->resource_version) ||
	    a->terminating != b->terminating ||
	    !kv_eq(a->labels, a->n_labels, b->labels, b->n_labels) ||
	    !kv_eq(a->annotations, a->n_annotations, b->annotations, b->n_annotations) ||
	    !str_eq(a->node_name, b->node_name) || a->host_network != b->host_network ||
	    !strv_eq(a->containers, a->n_containers, b->containers, b->n_containers) ||
	    !strv_eq(a->init_containers, a->n_init_containers, b->init_containers,
		     b->n_init_containers) ||
	    a->has_proxy != b->has_proxy || a->proxy_is_init != b->proxy_is_init ||
	    !strv_eq(a->proxy_args, a->n_proxy_args, b->proxy_args, b->n_proxy_args) ||
	    a->n_proxy_env != b->n_proxy_env || !a->proxy_env != !b->proxy_env ||
	    a->proxy_run_as_user_set != b->proxy_run_as_user_set ||
	    a->proxy_run_as_user != b->proxy_run_as_user ||
	    a->proxy_run_as_group_set != b->proxy_run_as_group_set ||
	    a->proxy_run_as_group != b->proxy_run_as_group || !str_eq(a->phase, b->phase) ||
	    !str_eq(a->pod_ip, b->pod_ip) ||
	    !strv_eq(a->pod_ips, a->n_pod_ips, b->pod_ips, b->n_pod_ips) ||
	    a->n_init_statuses != b->n_init_statuses || !a->init_statuses != !b->init_statuses)
		return false;
	for (size_t i = 0; a->proxy_env && b->proxy_env && i < a->n_proxy_env; i++)
		if (!str_eq(a->proxy_env[i].name, b->proxy_env[i].name) ||
		    !str_eq(a->proxy_env[i].value, b->proxy_env[i].value))
			return false;
	for (size_t i = 0; a->init_statuses && b->init_statuses && i < a->n_init_statuses; i++)
		if (!str_eq(a->init_statuses[i].name, b->init_statuses[i].name) ||
		    !terminated_eq(&a->init_statuses[i].state, &b->init_statuses[i].state) ||
		    !terminated_eq(&a->init_statuses[i].last_state,
				   &b->init_statuses[i].last_state))
			return false;
	return true;
}

int pod_info_from_text(const char *text, size_t len, struct pod_info **ret, struct error *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		return error_set(err, ERR_DECODE, -EINVAL, "pod JSON: %d:%d: %s", je.line,
				 je.column, je.text);
	int r = pod_info_from_json(j, ret, err);
	json_decref(j);
	return r;
}
