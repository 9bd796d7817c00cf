/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin's network configuration (stdin): the union of the keys every
 * Istio era writes, decoded into a plain struct by one function and
 * validated by another. Unknown keys are ignored: runtimes inject
 * runtimeConfig, args and cni.dev keys.
 */
#ifndef ISTIO_CNI_NETCONF_H
#define ISTIO_CNI_NETCONF_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"
#include "util/log.h"

#define NETCONF_MAX_BYTES ((size_t)1024 * 1024)
#define NETCONF_DEFAULT_POD_LOOKUP_TIMEOUT_SEC 30

enum redirect_backend {
	REDIRECT_BACKEND_AUTO,
	REDIRECT_BACKEND_NFTABLES,
	REDIRECT_BACKEND_IPTABLES,
	_REDIRECT_BACKEND_MAX,
};

struct string_list {
	char **v;
	size_t n;
};

struct string_map {
	char **keys;
	char **values;
	size_t n;
};

struct netconf {
	char *cni_version;		 /* as given; libcni reads a missing one as "0.1.0" */
	struct string_list cni_versions; /* CNI 1.1 "cniVersions" */
	char *name;
	char *type;
	json_t *prev_result; /* owned reference; NULL when absent */

	char *kubeconfig;		       /* kubernetes.kubeconfig (1.7 era), else NULL */
	char *cni_agent_run_dir;	       /* default DEFAULT_CNI_AGENT_RUN_DIR */
	struct string_list exclude_namespaces; /* top-level and kubernetes.* merged */
	char *pod_namespace;
	bool log_level_set;
	enum log_level log_level; /* plugin_log_level, else log_level */
	char *log_uds_address;
	bool native_nftables;
	enum redirect_backend redirect_backend;
	bool ambient_enabled;
	unsigned int pod_lookup_timeout_sec;

	/* runtimeConfig["io.kubernetes.cri.pod-annotations"], when the runtime sent it. */
	bool have_pod_annotations;
	struct string_map pod_annotations;
};

/*
 * Decodes buf (JSON, duplicate keys rejected) into a new netconf. Syntax and
 * type errors are ERR_DECODE with the line/column or the JSON path.
 */
int netconf_parse(const char *buf, size_t len, struct netconf **ret, struct error *err)
	_must_check_;

/* Semantic checks: name present (ERR_CONFIG), values in range. */
int netconf_validate(const struct netconf *conf, struct error *err) _must_check_;

struct netconf *netconf_free(struct netconf *conf);
static inline void netconf_freep(struct netconf **p)
{
	if (*p)
		(void)netconf_free(*p);
}

bool netconf_namespace_excluded(const struct netconf *conf, const char *ns);

/* NULL when absent; borrowed. */
const char *netconf_string_map_get(const struct string_map *m, const char *key);

const char *redirect_backend_to_string(enum redirect_backend b);

#endif
