// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness over what a runtime hands the plugin: the conf on stdin
 * (with its prevResult) and CNI_ARGS. The first line of the input is taken as
 * CNI_ARGS, the rest as the conf.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/cni_args.h"
#include "cni/cni_result.h"
#include "cni/cni_version.h"
#include "cni/netconf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t args_len = nl ? (size_t)(nl - data) : 0;
	if (args_len > CNI_ARGS_MAX + 8)
		return 0;

	char *args = strndup((const char *)data, args_len);
	if (!args)
		return 0;
	struct cni_args a;
	struct error err = {0};
	(void)cni_args_parse(args, &a, &err);
	free(args);

	const char *conf_buf = nl ? (const char *)nl + 1 : (const char *)data;
	size_t conf_len = nl ? size - args_len - 1 : size;
	struct netconf *c = NULL;
	error_clear(&err);
	if (netconf_parse(conf_buf, conf_len, &c, &err) < 0)
		return 0;
	(void)netconf_validate(c, &err);
	(void)netconf_namespace_excluded(c, "kube-system");

	enum cni_version v;
	if (cni_version_negotiate(c->cni_version, (const char *const *)c->cni_versions.v,
				  c->cni_versions.n, &v) == 0 &&
	    c->prev_result) {
		struct cni_result *res = NULL;
		if (cni_result_from_json(c->prev_result, v, &res, &err) == 0) {
			for (int out = 0; out < _CNI_VERSION_MAX; out++) {
				json_t *j = NULL;
				if (cni_result_to_json(res, (enum cni_version)out, &j, &err) == 0)
					json_decref(j);
			}
			cni_result_free(res);
		}
	}
	netconf_free(c);
	return 0;
}
