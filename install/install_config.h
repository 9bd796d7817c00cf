/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the installer needs to know, and nothing else. install/ owns this
 * struct; whoever runs the installer fills it (the node agent builds it from
 * its environment with agent_config_to_install()).
 *
 * Every string and array is borrowed: the caller keeps them alive for as
 * long as an installer made from this config exists. installer_new() copies
 * the struct itself, so it may live on the caller's stack.
 *
 * Two eras, as Istio's install-cni had them:
 *   INSTALL_ERA_CURRENT: the plugin entry is generated from the fields below
 *     and the plugin kubeconfig is <run_dir>/istio-cni-kubeconfig.
 *   INSTALL_ERA_LEGACY (Istio 1.7): the plugin entry is network_config, a
 *     template whose __PLACEHOLDERS__ are substituted, and the plugin
 *     kubeconfig is <mounted_cni_net_dir>/<kubecfg_file_name>.
 */
#ifndef ISTIO_CNI_INSTALL_CONFIG_H
#define ISTIO_CNI_INSTALL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "util/log.h"

enum install_era {
	INSTALL_ERA_CURRENT, /* generated plugin entry, kubeconfig in the run dir */
	INSTALL_ERA_LEGACY,  /* 1.7: substituted template, kubeconfig in the conf dir */
};

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): fields grouped by meaning
struct install_config {
	enum install_era era;

	/* CNI configuration directory. */
	const char *mounted_cni_net_dir; /* the conf dir as this process sees it */
	const char *cni_net_dir;	 /* the same dir as the host names it (1.7 template) */
	const char *cni_conf_name;	 /* the conf to manage; NULL: the first valid one */
	bool chained_cni_plugin;	 /* insert into the primary conf (else our own conf) */
	bool cni_conf_group_read;	 /* new conf files 0640 instead of 0600 */

	/* 1.7 era only: the plugin entry template (NULL in the current era). */
	const char *network_config;

	/* The plugin kubeconfig. */
	const char *cni_agent_run_dir;	 /* run dir: kubeconfig (current era), sockets */
	mode_t kubeconfig_mode;		 /* mode of the kubeconfig file */
	const char *kubecfg_file_name;	 /* kubeconfig's name in the conf dir (1.7 era) */
	const char *service_account_dir; /* holds "token" */
	const char *kube_ca_file;	 /* CA bundle put into the kubeconfig */
	bool skip_tls_verify;		 /* kubeconfig without CA, insecure-skip-tls-verify */
	const char *kubernetes_service_protocol; /* API server URL scheme */
	const char *kubernetes_service_host;	 /* API server host, may be NULL */
	const char *kubernetes_service_port;	 /* API server port, may be NULL */
	const char *node_name;			 /* 1.7 template's __KUBERNETES_NODE_NAME__ */

	/* Copied into the generated plugin entry. */
	char *const *exclude_namespaces;
	size_t n_exclude_namespaces;
	const char *pod_namespace; /* NULL is written as "" */
	bool native_nftables;
	bool ambient_enabled;
	const char *redirect_backend; /* written only when non-NULL */
	enum log_level plugin_log_level;
	/* 1.7 template's __LOG_LEVEL__. */
	enum log_level log_level;

	/* The plugin binary. */
	const char *cni_bin_source_dir;	 /* where istio-cni is copied from */
	const char *mounted_cni_bin_dir; /* where it is copied to */
	bool update_cni_binaries;	 /* false keeps an existing binary */
	char *const *skip_cni_binaries;	 /* names never copied */
	size_t n_skip_cni_binaries;
};

#endif
