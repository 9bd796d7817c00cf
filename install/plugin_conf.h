/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Our plugin entry, the object the installer appends to the primary conf
 * list (chained) or writes as its own conf (standalone). Pure: no I/O.
 *
 * Current era: Istio's plugin struct, in its field order,
 * plus what we add:
 *   "capabilities": {"io.kubernetes.cri.pod-annotations": true}
 *       so containerd hands the plugin the pod's annotations in
 *       runtimeConfig (the plugin still reads the pod from the API);
 *   "redirect_backend" only when REDIRECT_BACKEND is set.
 *
 * 1.7 era: the CNI_NETWORK_CONFIG template with its __PLACEHOLDERS__
 * replaced as plain text, every occurrence, the service-account token last
 * (so no intermediate text that might be logged ever holds it). The result
 * must parse as a JSON object.
 */
#ifndef ISTIO_CNI_PLUGIN_CONF_H
#define ISTIO_CNI_PLUGIN_CONF_H

#include <jansson.h>
#include <limits.h>

#include "cni/netconf.h"
#include "install_config.h"
#include "util/cleanup.h"
#include "util/error.h"

#define PLUGIN_CONF_CNI_VERSION "0.3.1"
#define PLUGIN_CONF_NAME "istio-cni"
#define PLUGIN_CONF_CAP_POD_ANNOTATIONS "io.kubernetes.cri.pod-annotations"
#define AGENT_CNI_EVENT_SOCKET_NAME "pluginevent.sock"

/* Current era: the entry from cfg. *ret is the caller's. */
int plugin_conf_generate(const struct install_config *cfg, json_t **ret) _must_check_;

/* The values the 1.7 template placeholders take. */
struct plugin_template_values {
	const char *log_level;		 /* __LOG_LEVEL__ */
	const char *log_uds_address;	 /* __LOG_UDS_ADDRESS__ */
	const char *cni_event_address;	 /* __CNI_EVENT_ADDRESS__ */
	const char *kubeconfig_filename; /* __KUBECONFIG_FILENAME__ */
	const char *kubeconfig_filepath; /* __KUBECONFIG_FILEPATH__ */
	const char *k8s_service_host;	 /* __KUBERNETES_SERVICE_HOST__ */
	const char *k8s_service_port;	 /* __KUBERNETES_SERVICE_PORT__ */
	const char *k8s_node_name;	 /* __KUBERNETES_NODE_NAME__ */
	const char *sa_token;		 /* __SERVICEACCOUNT_TOKEN__ (secret) */
};

/* Room for the paths plugin_template_values_from_config() composes. */
struct plugin_template_storage {
	char log_uds_address[PATH_MAX];
	char cni_event_address[PATH_MAX];
	char kubeconfig_filepath[PATH_MAX];
};

/*
 * The values cfg implies: log_level, <run_dir>/log.sock,
 * <run_dir>/pluginevent.sock, kubecfg_file_name, <cni_net_dir>/<kubecfg_file_name>,
 * the service host/port and node name. The token is left NULL. Strings point
 * into cfg and st. -ENAMETOOLONG when a path does not fit.
 */
int plugin_template_values_from_config(const struct install_config *cfg,
				       struct plugin_template_storage *st,
				       struct plugin_template_values *ret) _must_check_;

/*
 * Substitutes every placeholder of tmpl (NULL values become ""). *ret_text is
 * the caller's and holds the token when the template names it: wipe it
 * (explicit_bzero) before freeing. Returns 0, -ENOMEM, or -EINVAL with
 * ERR_CONFIG when the result is not a JSON object (the message never quotes
 * the text).
 */
int plugin_conf_from_template(const char *tmpl, const struct plugin_template_values *v,
			      char **ret_text, json_t **ret_json, struct error *err) _must_check_;

/*
 * The redirect backend the plugin entry cfg installs configures, read as the
 * plugin reads its conf (redirect_backend, else native_nftables: true means
 * nftables, else auto): what repair in place must use on this node. Current
 * era: the generated entry; 1.7: the substituted template (the token left
 * empty: only the two keys are read). Returns 0, or -EINVAL with ERR_CONFIG
 * when the entry does not parse. No I/O.
 */
int plugin_conf_redirect_backend(const struct install_config *cfg, enum redirect_backend *ret,
				 struct error *err) _must_check_;

#endif
