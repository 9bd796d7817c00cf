/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node agent's settings, read once from the
 * environment at start-up. Both eras are accepted: current Istio's names
 * (MOUNTED_CNI_NET_DIR, CNI_AGENT_RUN_DIR, KUBECONFIG_MODE, ...) and the 1.7
 * ones (CNI_NET_DIR, CNI_NETWORK_CONFIG template, KUBECFG_FILE_NAME,
 * UPDATE_CNI_BINARIES, SKIP_CNI_BINARIES, LOG_LEVEL), plus a few of ours
 * (HEALTH_PORT, CNI_BIN_SOURCE_DIR, MOUNTED_CNI_BIN_DIR, SERVICE_ACCOUNT_DIR,
 * PLUGIN_LOG_LEVEL, REDIRECT_BACKEND).
 *
 * Istio's charts also set variables this agent only accepts: the current
 * chart's EXCLUDED_NAMESPACES (merged with EXCLUDE_NAMESPACES), NODE_NAME
 * (the node name when KUBERNETES_NODE_NAME is unset), ALLOW_SWITCH_TO_HOST_NS,
 * CURRENT_AGENT_VERSION, GOMEMLIMIT, GOMAXPROCS and the AMBIENT_* keys
 * (ambient mode is out of scope: the agent warns and serves sidecar mode);
 * the 1.7 ConfigMap key cni_network_config, which envFrom turns into a
 * lower-case variable, is the template when CNI_NETWORK_CONFIG is unset.
 * Their values are still checked.
 *
 * An invalid value refuses start-up: agent_config_from_env() fails with
 * ERR_CONFIG and a message naming the variable and the value. An empty
 * value counts as unset (Istio's viper would read an empty boolean as
 * false; we take the default instead, which is what an operator who wrote
 * `VAR: ""` meant).
 *
 * The era: when CNI_NETWORK_CONFIG is non-empty, or CNI_NETWORK_CONFIG_FILE
 * names a readable file (which then wins, as in 1.7), the agent runs in the
 * 1.7 "template" era: the plugin entry is the substituted template and the
 * plugin kubeconfig is <MOUNTED_CNI_NET_DIR>/<KUBECFG_FILE_NAME>. Otherwise
 * the current era: the plugin entry is generated (Istio's plugin struct) and the
 * kubeconfig is <CNI_AGENT_RUN_DIR>/istio-cni-kubeconfig.
 */
#ifndef ISTIO_CNI_AGENT_CONFIG_H
#define ISTIO_CNI_AGENT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "install_config.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/log.h"

/* AUDIT_INTERVAL_SECONDS: the default and the largest accepted. */
#define AGENT_AUDIT_DEFAULT_INTERVAL_S 60
#define AGENT_AUDIT_MAX_INTERVAL_S 86400
/* HEALTH_PORT's default (the audit subcommand reads it too). */
#define AGENT_DEFAULT_HEALTH_PORT 8000

/* Largest CNI_NETWORK_CONFIG_FILE we read. */
#define AGENT_CONFIG_TEMPLATE_MAX_BYTES ((size_t)64 * 1024)

enum agent_era {
	AGENT_ERA_CURRENT, /* generated plugin entry, kubeconfig in the run dir */
	AGENT_ERA_LEGACY,  /* 1.7: CNI_NETWORK_CONFIG template, kubeconfig in the conf dir */
};

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): fields grouped by meaning
struct agent_config {
	enum agent_era era;

	/* CNI configuration directory. */
	char *mounted_cni_net_dir; /* MOUNTED_CNI_NET_DIR, /host/etc/cni/net.d */
	char *cni_net_dir;	   /* CNI_NET_DIR (1.7, host path), /etc/cni/net.d */
	char *cni_conf_name;	   /* CNI_CONF_NAME, NULL when unset */
	bool chained_cni_plugin;   /* CHAINED_CNI_PLUGIN, true */
	bool cni_conf_group_read;  /* CNI_CONF_GROUP_READ, false: new conf files 0640 */

	/* 1.7 template: the text (from the file when it exists, else the
	 * variable), NULL in the current era. */
	char *cni_network_config;
	char *cni_network_config_file; /* CNI_NETWORK_CONFIG_FILE, NULL when unset */

	/* Run dir and kubeconfig. */
	char *cni_agent_run_dir;	   /* CNI_AGENT_RUN_DIR, /var/run/istio-cni */
	mode_t kubeconfig_mode;		   /* KUBECONFIG_MODE, 0600 (Go base autodetect) */
	char *kubecfg_file_name;	   /* KUBECFG_FILE_NAME (1.7), ZZZ-istio-cni-kubeconfig */
	char *service_account_dir;	   /* SERVICE_ACCOUNT_DIR (ours), the in-pod SA dir */
	char *kube_ca_file;		   /* KUBE_CA_FILE, <service_account_dir>/ca.crt */
	bool skip_tls_verify;		   /* SKIP_TLS_VERIFY, false */
	char *kubernetes_service_protocol; /* KUBERNETES_SERVICE_PROTOCOL, https */
	char *kubernetes_service_host;	   /* KUBERNETES_SERVICE_HOST, NULL when unset */
	char *kubernetes_service_port; /* KUBERNETES_SERVICE_PORT (validated), NULL when unset */
	char *node_name;	       /* KUBERNETES_NODE_NAME, else NODE_NAME, else the hostname */

	/* Servers. */
	uint16_t monitoring_port; /* MONITORING_PORT, 15014 */
	uint16_t health_port;	  /* HEALTH_PORT (ours), 8000 */

	/* Copied into the plugin entry. */
	char **exclude_namespaces; /* EXCLUDE_NAMESPACES and EXCLUDED_NAMESPACES: trimmed,
				    * empties and repeats dropped */
	size_t n_exclude_namespaces;
	char *pod_namespace;	/* POD_NAMESPACE, "" when unset */
	bool native_nftables;	/* NATIVE_NFTABLES, false */
	bool ambient_enabled;	/* AMBIENT_ENABLED, false (ambient is out of scope) */
	char *redirect_backend; /* REDIRECT_BACKEND (ours): auto|nftables|iptables, NULL unset */
	enum log_level plugin_log_level; /* PLUGIN_LOG_LEVEL, else --log_output_level's
					  * cni-plugin scope, else LOG_LEVEL, else info */
	bool plugin_log_level_set;	 /* PLUGIN_LOG_LEVEL was given */

	/* Logging: LOG_LEVEL (1.7 __LOG_LEVEL__; current Istio ignores it). */
	enum log_level log_level; /* default warn */
	bool log_level_set;	  /* LOG_LEVEL was given */

	/* Binaries. */
	char *cni_bin_source_dir;  /* CNI_BIN_SOURCE_DIR (ours), /opt/cni/bin */
	char *mounted_cni_bin_dir; /* MOUNTED_CNI_BIN_DIR (ours), /host/opt/cni/bin */
	bool update_cni_binaries;  /* UPDATE_CNI_BINARIES (1.7), true */
	char **skip_cni_binaries;  /* SKIP_CNI_BINARIES (1.7): comma or space list */
	size_t n_skip_cni_binaries;

	/* Repair: only the switch; repair/ reads the other REPAIR_* itself. */
	bool repair_enabled; /* REPAIR_ENABLED, true */

	/* The capture audit: seconds between passes, 0 off (also /debug/audit). */
	unsigned audit_interval_s; /* AUDIT_INTERVAL_SECONDS, 60, at most 86400 */

	/* Set by Istio's charts for its Go agent; checked, logged, not used. */
	bool allow_switch_to_host_ns; /* ALLOW_SWITCH_TO_HOST_NS, false */
	char *current_agent_version;  /* CURRENT_AGENT_VERSION, NULL when unset */
	uint64_t gomemlimit;	      /* GOMEMLIMIT in bytes, 0 when unset or "off" */
	uint64_t gomaxprocs;	      /* GOMAXPROCS, 0 when unset */
	char **ambient_settings;      /* the AMBIENT_* set, other than AMBIENT_ENABLED */
	size_t n_ambient_settings;
};

/*
 * The command line Istio's charts pass to install-cni: istio's logging and
 * ControlZ flags, "--flag=value" or "--flag value".
 * --log_output_level=LEVEL or SCOPE:LEVEL,...: a bare LEVEL or the scopes
 * "default", "all" and every scope but cni-plugin set the agent's level
 * (the most verbose of them wins, as the agent has one level); cni-plugin
 * and all set the plugin's. LEVEL is debug, info, warn, error, fatal (as
 * error) or none. --log_as_json[=BOOL] turns on JSON lines. The other
 * logging and ControlZ flags are accepted and listed in ignored.
 */
struct agent_args {
	bool log_level_set;
	enum log_level log_level;
	bool plugin_log_level_set;
	enum log_level plugin_log_level;
	bool log_as_json;
	char **ignored; /* "--flag=value" as given, to be warned about once */
	size_t n_ignored;
};

/*
 * Parses argv[1..argc-1] (--help and --version are main's). Returns 0,
 * -EINVAL with ERR_CONFIG naming the argument (an unknown argument, a bad
 * level or boolean, a missing value), or -ENOMEM. *ret is written only on
 * success; release it with agent_args_done.
 */
int agent_args_parse(int argc, char *const *argv, struct agent_args *ret, struct error *err)
	_must_check_;
void agent_args_done(struct agent_args *a);

/* The levels from a into c; PLUGIN_LOG_LEVEL (the environment) keeps precedence. */
void agent_config_apply_args(struct agent_config *c, const struct agent_args *a);

/*
 * Builds the configuration from envp (a NULL-terminated "K=V" array such as
 * environ). Returns 0, -EINVAL with ERR_CONFIG naming the variable and its
 * value, -EIO with ERR_IO when CNI_NETWORK_CONFIG_FILE exists but cannot be
 * read, or -ENOMEM. *ret is the caller's (agent_config_free).
 */
int agent_config_from_env(const char *const *envp, struct agent_config **ret, struct error *err)
	_must_check_;

struct agent_config *agent_config_free(struct agent_config *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_config *, agent_config_free);

/*
 * The installer's view of c: *ret borrows c's strings and arrays, so c must
 * outlive it and every installer made from it.
 */
void agent_config_to_install(const struct agent_config *c, struct install_config *ret);

/* One info line with every setting; no secrets (the config holds none). */
void agent_config_log(const struct agent_config *c);

#endif
