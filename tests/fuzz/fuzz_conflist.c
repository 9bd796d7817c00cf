// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness over what another CNI (or an operator) leaves in the
 * conf dir: bytes as a primary conf (the first byte picks .conf or
 * .conflist validity) → validate → insert our entry → serialise → parse
 * again → remove → serialise → parse again. Never crash; every document we
 * produce parses back; after insertion our entry is last, after removal no
 * istio-cni entry is left.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conflist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_t *reparse(const json_t *j)
{
	char *text = NULL;
	size_t len = 0;
	if (conflist_dump(j, &text, &len) < 0)
		abort();
	if (len == 0 || text[len - 1] != '\n')
		abort();
	json_t *back = NULL;
	struct error err = {0};
	if (conflist_parse(text, len, &back, &err) < 0)
		abort(); /* we produced invalid JSON */
	free(text);
	if (!json_equal(back, j))
		abort();
	return back;
}

static const char entry_json[] =
	"{\"cniVersion\":\"0.3.1\",\"name\":\"istio-cni\",\"type\":\"istio-cni\","
	"\"capabilities\":{\"io.kubernetes.cri.pod-annotations\":true},\"ipam\":{},\"dns\":{},"
	"\"plugin_log_level\":\"info\",\"cni_agent_run_dir\":\"/var/run/istio-cni\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > CONFLIST_MAX_BYTES)
		return 0;
	bool is_list = data[0] & 1;
	json_t *root = NULL;
	struct error err = {0};
	if (conflist_parse((const char *)data + 1, size - 1, &root, &err) < 0)
		return 0;
	(void)conflist_validate(root, is_list, &err);
	(void)conflist_has_istio_entry(root);

	json_t *entry = json_loads(entry_json, 0, NULL);
	json_t *inserted = NULL;
	error_clear(&err);
	if (conflist_insert(root, entry, &inserted, &err) == 0) {
		json_t *back = reparse(inserted);
		json_t *plugins = json_object_get(back, "plugins");
		json_t *last = json_array_get(plugins, json_array_size(plugins) - 1);
		const char *type = json_string_value(json_object_get(last, "type"));
		if (!type || strcmp(type, "istio-cni") != 0 || json_object_get(last, "cniVersion"))
			abort();

		json_t *removed = NULL;
		size_t n = 0;
		if (conflist_remove(back, &removed, &n, &err) < 0 || n < 1)
			abort();
		json_t *clean = reparse(removed);
		size_t i;
		json_t *p;
		json_array_foreach (json_object_get(clean, "plugins"), i, p) {
			const char *t = json_string_value(json_object_get(p, "type"));
			if (t && strcmp(t, "istio-cni") == 0)
				abort();
		}
		json_decref(clean);
		json_decref(removed);
		json_decref(back);
		json_decref(inserted);
	}
	json_decref(entry);
	json_decref(root);
	return 0;
}
