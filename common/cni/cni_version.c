// SPDX-License-Identifier: Apache-2.0
#include "cni/cni_version.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const version_names[_CNI_VERSION_MAX] = {
	[CNI_VERSION_0_1_0] = "0.1.0", [CNI_VERSION_0_2_0] = "0.2.0", [CNI_VERSION_0_3_0] = "0.3.0",
	[CNI_VERSION_0_3_1] = "0.3.1", [CNI_VERSION_0_4_0] = "0.4.0", [CNI_VERSION_1_0_0] = "1.0.0",
	[CNI_VERSION_1_1_0] = "1.1.0",
};

/*
 * libcni's version.ParseVersion: one to three parts split on '.', each an
 * integer. Go's strconv.Atoi also takes a sign; we accept digits only, since
 * no version a runtime sends carries one and a signed part can never match the
 * table anyway.
 */
static bool version_well_formed(const char *s)
{
	unsigned int parts = 1, digits = 0;

	if (!s || *s == '\0')
		return false;
	for (const char *p = s; *p; p++) {
		if (*p == '.') {
			if (digits == 0 || ++parts > 3)
				return false;
			digits = 0;
		} else if (*p >= '0' && *p <= '9') {
			/* Go's Atoi fails past int64; keep well inside that. */
			if (++digits > 18)
				return false;
		} else {
			return false;
		}
	}
	return digits > 0;
}

int cni_version_parse(const char *s, enum cni_version *ret)
{
	if (!version_well_formed(s))
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(version_names); i++)
		if (strcmp(s, version_names[i]) == 0) {
			*ret = (enum cni_version)i;
			return 0;
		}
	return -EOPNOTSUPP;
}

const char *cni_version_to_string(enum cni_version v)
{
	if ((unsigned int)v >= _CNI_VERSION_MAX)
		return NULL;
	return version_names[v];
}

int cni_version_compare(enum cni_version a, enum cni_version b)
{
	return (a > b) - (a < b);
}

bool cni_version_at_least(enum cni_version a, enum cni_version b)
{
	return a >= b;
}

enum cni_result_family cni_version_result_family(enum cni_version v)
{
	if (v <= CNI_VERSION_0_2_0)
		return CNI_RESULT_020;
	if (v <= CNI_VERSION_0_4_0)
		return CNI_RESULT_040;
	return CNI_RESULT_100;
}

bool cni_version_has_check(enum cni_version v)
{
	return v >= CNI_VERSION_0_4_0;
}

bool cni_version_has_status_gc(enum cni_version v)
{
	return v >= CNI_VERSION_1_1_0;
}

int cni_version_negotiate(const char *conf_version, const char *const *cni_versions, size_t n,
			  enum cni_version *ret)
{
	enum cni_version best = 0, v;
	bool found = false;
	int conf_r = -ENOENT;

	if (conf_version) {
		conf_r = cni_version_parse(conf_version, &v);
		if (conf_r >= 0) {
			best = v;
			found = true;
		}
	}
	for (size_t i = 0; i < n; i++) {
		if (!cni_versions || !cni_versions[i])
			continue;
		if (cni_version_parse(cni_versions[i], &v) < 0)
			continue;
		if (!found || v > best) {
			best = v;
			found = true;
		}
	}
	if (!found) {
		if (!conf_version && n > 0)
			return -EOPNOTSUPP;
		return conf_r;
	}
	*ret = best;
	return 0;
}

int cni_version_print_json(const char *input_version, char **ret_json)
{
	const char *cv = input_version && *input_version ? input_version
							 : version_names[CNI_VERSION_LATEST];
	json_t *obj = NULL, *list = NULL, *s = NULL;
	char *out;
	int r = -ENOMEM;

	s = json_string(cv);
	if (!s) {
		/* jansson refuses strings that are not UTF-8. */
		return -EINVAL;
	}
	obj = json_object();
	list = json_array();
	if (!obj || !list)
		goto out;
	if (json_object_set_new(obj, "cniVersion", s) < 0) {
		s = NULL;
		goto out;
	}
	s = NULL;
	for (size_t i = 0; i < ELEMENTSOF(version_names); i++)
		if (json_array_append_new(list, json_string(version_names[i])) < 0)
			goto out;
	if (json_object_set(obj, "supportedVersions", list) < 0)
		goto out;

	out = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!out)
		goto out;
	*ret_json = out;
	r = 0;
out:
	json_decref(s);
	json_decref(list);
	json_decref(obj);
	return r;
}
