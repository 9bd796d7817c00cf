// SPDX-License-Identifier: Apache-2.0
#include "conflist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/istio_names.h"

int conflist_parse(const char *buf, size_t len, json_t **ret, struct error *err)
{
	size_t i = 0;
	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i == len)
		return error_set(err, ERR_DECODE, -EINVAL, "empty file");

	json_error_t jerr;
	/* Go's encoding/json keeps the last duplicate; so does jansson without REJECT. */
	json_t *root = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr);
	if (!root)
		return error_set(err, ERR_DECODE, -EINVAL, "invalid JSON at line %d column %d: %s",
				 jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return error_set(err, ERR_DECODE, -EINVAL, "not a JSON object");
	}
	*ret = root;
	return 0;
}

/* A present, non-null member must be a string (Go leaves a null as the zero value). */
static int typed_string(const json_t *o, const char *key, const char *where, struct error *err)
{
	const json_t *v = json_object_get(o, key);
	if (v && !json_is_null(v) && !json_is_string(v))
		return error_set(err, ERR_CONFIG, -EINVAL, "%s\"%s\" is not a string", where, key);
	return 0;
}

static int typed_string_array(const json_t *o, const char *key, const char *where,
			      struct error *err)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return error_set(err, ERR_CONFIG, -EINVAL, "%s\"%s\" is not an array", where, key);
	size_t i;
	const json_t *e;
	json_array_foreach (v, i, e)
		if (!json_is_null(e) && !json_is_string(e))
			return error_set(err, ERR_CONFIG, -EINVAL, "%s\"%s\"[%zu] is not a string",
					 where, key, i);
	return 0;
}

/* libcni's ConfFromBytes: unmarshal into types.NetConf, then require a type. */
static int validate_single(const json_t *o, const char *where, struct error *err)
{
	int r;
	if (!json_is_object(o))
		return error_set(err, ERR_CONFIG, -EINVAL, "%snot an object: missing 'type'",
				 where);
	if ((r = typed_string(o, "cniVersion", where, err)) < 0 ||
	    (r = typed_string(o, "name", where, err)) < 0 ||
	    (r = typed_string(o, "type", where, err)) < 0)
		return r;

	json_t *caps = json_object_get(o, "capabilities");
	if (caps && !json_is_null(caps)) {
		if (!json_is_object(caps))
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "%s\"capabilities\" is not an object", where);
		const char *k;
		const json_t *v;
		json_object_foreach (caps, k, v)
			if (!json_is_null(v) && !json_is_boolean(v))
				return error_set(err, ERR_CONFIG, -EINVAL,
						 "%s\"capabilities\".\"%s\" is not a boolean",
						 where, k);
	}
	const json_t *ipam = json_object_get(o, "ipam");
	if (ipam && !json_is_null(ipam)) {
		if (!json_is_object(ipam))
			return error_set(err, ERR_CONFIG, -EINVAL, "%s\"ipam\" is not an object",
					 where);
		if ((r = typed_string(ipam, "type", where, err)) < 0)
			return error_prefix(err, r, "ipam");
	}
	const json_t *dns = json_object_get(o, "dns");
	if (dns && !json_is_null(dns)) {
		if (!json_is_object(dns))
			return error_set(err, ERR_CONFIG, -EINVAL, "%s\"dns\" is not an object",
					 where);
		if ((r = typed_string_array(dns, "nameservers", where, err)) < 0 ||
		    (r = typed_string(dns, "domain", where, err)) < 0 ||
		    (r = typed_string_array(dns, "search", where, err)) < 0 ||
		    (r = typed_string_array(dns, "options", where, err)) < 0)
			return error_prefix(err, r, "dns");
	}
	const json_t *prev = json_object_get(o, "prevResult");
	if (prev && !json_is_null(prev) && !json_is_object(prev))
		return error_set(err, ERR_CONFIG, -EINVAL, "%s\"prevResult\" is not an object",
				 where);

	const char *type = json_string_value(json_object_get(o, "type"));
	if (!type || type[0] == '\0')
		return error_set(err, ERR_CONFIG, -EINVAL, "%smissing 'type'", where);
	return 0;
}

/* libcni accepts a boolean or the strings "true"/"false" in any case. */
static int validate_bool_or_string(const json_t *o, const char *key, struct error *err)
{
	const json_t *v = json_object_get(o, key);
	if (!v || json_is_boolean(v))
		return 0;
	const char *s = json_string_value(v);
	if (s && (strcasecmp(s, "true") == 0 || strcasecmp(s, "false") == 0))
		return 0;
	return error_set(err, ERR_CONFIG, -EINVAL, "invalid \"%s\" (not a boolean)", key);
}

static int validate_list(const json_t *o, struct error *err)
{
	int r;
	const json_t *name = json_object_get(o, "name");
	if (!name)
		return error_set(err, ERR_CONFIG, -EINVAL, "no \"name\"");
	if (!json_is_string(name))
		return error_set(err, ERR_CONFIG, -EINVAL, "\"name\" is not a string");
	const json_t *ver = json_object_get(o, "cniVersion");
	if (ver && !json_is_string(ver))
		return error_set(err, ERR_CONFIG, -EINVAL, "\"cniVersion\" is not a string");
	if ((r = validate_bool_or_string(o, "disableCheck", err)) < 0 ||
	    (r = validate_bool_or_string(o, "disableGC", err)) < 0)
		return r;
	const json_t *vers = json_object_get(o, "cniVersions");
	if (vers && !json_is_null(vers)) {
		size_t i;
		const json_t *e;
		if (!json_is_array(vers))
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "\"cniVersions\" is not an array");
		json_array_foreach (vers, i, e)
			if (!json_is_string(e))
				return error_set(err, ERR_CONFIG, -EINVAL,
						 "\"cniVersions\"[%zu] is not a string", i);
	}
	const json_t *plugins = json_object_get(o, "plugins");
	if (!plugins)
		return error_set(err, ERR_CONFIG, -EINVAL, "no \"plugins\" key");
	if (!json_is_array(plugins))
		return error_set(err, ERR_CONFIG, -EINVAL, "\"plugins\" is not an array");
	if (json_array_size(plugins) == 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "no plugins in list");
	size_t i;
	const json_t *p;
	json_array_foreach (plugins, i, p) {
		char where[48];
		(void)snprintf(where, sizeof(where), "plugins[%zu]: ", i);
		if ((r = validate_single(p, where, err)) < 0)
			return r;
	}
	return 0;
}

int conflist_validate(const json_t *root, bool is_list, struct error *err)
{
	if (!json_is_object(root))
		return error_set(err, ERR_CONFIG, -EINVAL, "not a JSON object");
	return is_list ? validate_list(root, err) : validate_single(root, "", err);
}

static bool is_istio_plugin(const json_t *p)
{
	const char *type = json_string_value(json_object_get(p, "type"));
	return type && strcmp(type, ISTIO_CNI_PLUGIN_TYPE) == 0;
}

/* A deep copy of plugins without our entries; counts what went. */
static int filter_plugins(const json_t *plugins, json_t **ret, size_t *ret_removed,
			  struct error *err)
{
	_cleanup_json_ json_t *out = json_array();
	if (!out)
		return -ENOMEM;
	size_t i, removed = 0;
	const json_t *p;
	json_array_foreach (plugins, i, p) {
		if (!json_is_object(p))
			return error_set(err, ERR_CONFIG, -EINVAL, "plugins[%zu] is not an object",
					 i);
		if (is_istio_plugin(p)) {
			removed++;
			continue;
		}
		if (json_array_append_new(out, json_deep_copy(p)) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(out);
	*ret_removed = removed;
	return 0;
}

int conflist_insert(const json_t *existing, const json_t *entry, json_t **ret, struct error *err)
{
	if (!json_is_object(existing))
		return error_set(err, ERR_CONFIG, -EINVAL, "existing conf is not a JSON object");
	if (!json_is_object(entry))
		return error_set(err, ERR_CONFIG, -EINVAL, "plugin entry is not a JSON object");

	_cleanup_json_ json_t *ours = json_deep_copy(entry);
	if (!ours)
		return -ENOMEM;
	(void)json_object_del(ours, "cniVersion");

	_cleanup_json_ json_t *out = NULL;
	if (json_object_get(existing, "type")) {
		_cleanup_json_ json_t *single = json_deep_copy(existing);
		if (!single)
			return -ENOMEM;
		(void)json_object_del(single, "cniVersion");
		out = json_pack("{s:s, s:s, s:[OO]}", "cniVersion", CONFLIST_CONVERTED_VERSION,
				"name", CONFLIST_CONVERTED_NAME, "plugins", single, ours);
		if (!out)
			return -ENOMEM;
	} else {
		const json_t *plugins = json_object_get(existing, "plugins");
		if (!json_is_array(plugins))
			return error_set(
				err, ERR_CONFIG, -EINVAL,
				"neither a single conf (\"type\") nor a list (\"plugins\")");
		_cleanup_json_ json_t *kept = NULL;
		size_t removed;
		int r = filter_plugins(plugins, &kept, &removed, err);
		if (r < 0)
			return r;
		out = json_deep_copy(existing);
		if (!out)
			return -ENOMEM;
		if (json_array_append(kept, ours) < 0 || json_object_set(out, "plugins", kept) < 0)
			return -ENOMEM;
	}
	*ret = TAKE_PTR(out);
	return 0;
}

int conflist_remove(const json_t *existing, json_t **ret, size_t *ret_removed, struct error *err)
{
	if (!json_is_object(existing))
		return error_set(err, ERR_CONFIG, -EINVAL, "conf is not a JSON object");
	const json_t *plugins = json_object_get(existing, "plugins");
	if (!json_is_array(plugins))
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "not a conf list (no \"plugins\" array)");
	_cleanup_json_ json_t *kept = NULL;
	size_t removed;
	int r = filter_plugins(plugins, &kept, &removed, err);
	if (r < 0)
		return r;
	_cleanup_json_ json_t *out = json_deep_copy(existing);
	if (!out)
		return -ENOMEM;
	if (json_object_set(out, "plugins", kept) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(out);
	*ret_removed = removed;
	return 0;
}

bool conflist_has_istio_entry(const json_t *root)
{
	const json_t *plugins = json_object_get(root, "plugins");
	if (!json_is_array(plugins))
		return false;
	bool found = false;
	size_t i;
	const json_t *p;
	json_array_foreach (plugins, i, p) {
		if (!json_is_object(p) || !json_is_string(json_object_get(p, "type")))
			return false;
		if (is_istio_plugin(p))
			found = true;
	}
	return found;
}

static int dump(const json_t *root, size_t flags, char **ret, size_t *ret_len)
{
	char *s = json_dumps(root, flags | JSON_INDENT(2));
	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	char *t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return -ENOMEM;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*ret = t;
	if (ret_len)
		*ret_len = n + 1;
	return 0;
}

int conflist_dump(const json_t *root, char **ret, size_t *ret_len)
{
	return dump(root, JSON_SORT_KEYS, ret, ret_len);
}

int conflist_dump_ordered(const json_t *root, char **ret, size_t *ret_len)
{
	return dump(root, JSON_PRESERVE_ORDER, ret, ret_len);
}
