// SPDX-License-Identifier: Apache-2.0
/* istio-cni-repair: the repair loop on its own. */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_client.h"
#include "kube/kubeconfig.h"
#include "repair.h"
#include "util/istio_names.h"
#include "util/log.h"
#include "util/strv.h"

static atomic_bool stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop, true);
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: istio-cni-repair [--help] [--version] [--delete-pods[=BOOL]]\n"
		   "       [--label-pods[=BOOL]] [--run-as-daemon[=BOOL]] [--node-name=NODE] ...\n"
		   "\n"
		   "Watches this node's pods (every node's without a node name) and repairs,\n"
		   "deletes or labels the ones whose istio-validation init container failed\n"
		   "because the node's CNI was not ready. Without --run-as-daemon (the default,\n"
		   "as Istio 1.7's) one pass, then exit 0.\n"
		   "\n"
		   "Configured by the environment (Istio's names): REPAIR_REPAIR_PODS,\n"
		   "REPAIR_DELETE_PODS, REPAIR_LABEL_PODS, REPAIR_NODE_NAME,\n"
		   "REPAIR_SIDECAR_ANNOTATION, REPAIR_INIT_CONTAINER_NAME,\n"
		   "REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE, REPAIR_INIT_CONTAINER_EXIT_CODE,\n"
		   "REPAIR_LABEL_SELECTORS, REPAIR_FIELD_SELECTORS, REPAIR_BROKEN_POD_LABEL_KEY,\n"
		   "REPAIR_BROKEN_POD_LABEL_VALUE, REPAIR_RUN_AS_DAEMON; ours: REPAIR_RATE_LIMIT,\n"
		   "REPAIR_RATE_BURST, HOST_PROC_DIR (default /host/proc), LOG_LEVEL,\n"
		   "REDIRECT_BACKEND: the backend repair in place programs (auto, nftables or\n"
		   "iptables, as the plugin conf's redirect_backend; default auto). Set it to\n"
		   "what the node's plugin conf says, so repaired pods get the same rules.\n"
		   "API access: KUBECONFIG when set, else in-cluster (KUBERNETES_SERVICE_HOST,\n"
		   "KUBERNETES_SERVICE_PORT, SERVICE_ACCOUNT_DIR).\n"
		   "Istio 1.7's spelling of each REPAIR_ variable (REPAIR_DELETE-PODS,\n"
		   "REPAIR_RUN-AS-DAEMON, REPAIR_NODE-NAME, ...) and its flags (--delete-pods,\n"
		   "--label-pods, --run-as-daemon, --node-name, --sidecar-annotation,\n"
		   "--init-container-name, --init-container-termination-message,\n"
		   "--init-container-exit-code, --label-selectors, --field-selectors,\n"
		   "--broken-pod-label-key, --broken-pod-label-value) work too; a flag wins\n"
		   "over the environment.\n");
}

static int make_client(struct kube_client **ret, struct error *err)
{
	_cleanup_(kubeconfig_freep) struct kubeconfig *kc = NULL;
	const char *path = getenv("KUBECONFIG");
	int r;
	if (path && *path)
		r = kubeconfig_load(path, &kc, err);
	else {
		const char *sa = getenv("SERVICE_ACCOUNT_DIR");
		r = kubeconfig_in_cluster(sa && *sa ? sa : NULL, getenv("KUBERNETES_SERVICE_HOST"),
					  getenv("KUBERNETES_SERVICE_PORT"), &kc, err);
	}
	if (r < 0)
		return r;
	struct kube_client_options opts = {
		.user_agent = "istio-cni-repair/" ISTIO_CNI_VERSION_STRING};
	return kube_client_new(kc, &opts, ret, err);
}

static void count(void *ud, const char *type, const char *result)
{
	(void)ud;
	log_debug("repair: %s %s", type, result);
}

/* --help and --version: true (and *status set) when one was given. */
static bool info_flag(int argc, char **argv, int *status)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			*status = 0;
			return true;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("istio-cni-repair %s\n", ISTIO_CNI_VERSION_STRING);
			*status = 0;
			return true;
		}
	}
	return false;
}

/* The flags as NAME=value settings; 0, or the exit status. */
static int settings_from_flags(int argc, char **argv, char ***flags, size_t *n_flags)
{
	struct error err = {0};
	if (repair_config_flags(argc, argv, flags, n_flags, &err) < 0) {
		fprintf(stderr, "istio-cni-repair: %s\n", err.msg);
		usage(stderr);
		return 2;
	}
	/* Istio 1.7's default: one pass unless told to run as a daemon. */
	if (!repair_config_is_set((const char *const *)*flags, *n_flags, NULL,
				  ENV_REPAIR_RUN_AS_DAEMON) &&
	    strv_push(flags, n_flags, ENV_REPAIR_RUN_AS_DAEMON "=false") < 0)
		return 1;
	return 0;
}

/* Logging at LOG_LEVEL (default info); 0, or the exit status. */
static int setup_logging(void)
{
	enum log_level level = LOG_LEVEL_INFO;
	const char *lv = getenv("LOG_LEVEL");
	if (lv && *lv && log_level_from_string(lv, &level) < 0) {
		fprintf(stderr, "istio-cni-repair: LOG_LEVEL=\"%s\": unknown level\n", lv);
		return 2;
	}
	log_setup("repair", level, false);
	return 0;
}

/* The config from the flags and the environment, checked; 0, or the exit status. */
static int load_config(const char *const *flags, size_t n_flags, struct repair_config *cfg)
{
	struct error err = {0};
	int r = repair_config_parse(flags, n_flags, NULL, cfg, &err);
	if (r < 0) {
		log_error("invalid configuration: %s", err.msg);
		return 2;
	}
	if (repair_action_for(cfg) == REPAIR_ACTION_REPAIR && !*cfg->node_name) {
		log_error("invalid configuration: REPAIR_REPAIR_PODS=true needs REPAIR_NODE_NAME: "
			  "a pod is repaired in place from its own node");
		repair_config_done(cfg);
		return 2;
	}
	if (repair_action_for(cfg) == REPAIR_ACTION_NONE)
		log_warn("none of REPAIR_REPAIR_PODS, REPAIR_DELETE_PODS, REPAIR_LABEL_PODS is "
			 "true: broken pods are only detected");
	return 0;
}

static int install_signal_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_signal};
	(void)sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return log_error_errno(-errno, "cannot install signal handlers: %m");
	return 0;
}

int main(int argc, char **argv)
{
	int status;
	if (info_flag(argc, argv, &status))
		return status;
	char **flags = NULL;
	size_t n_flags = 0;
	status = settings_from_flags(argc, argv, &flags, &n_flags);
	if (status == 0)
		status = setup_logging();
	struct repair_config cfg;
	if (status == 0)
		status = load_config((const char *const *)flags, n_flags, &cfg);
	strv_free(flags, n_flags);
	if (status != 0)
		return status;

	struct error err = {0};
	_cleanup_(kube_client_freep) struct kube_client *c = NULL;
	int r = make_client(&c, &err);
	if (r < 0) {
		log_error("cannot reach the Kubernetes API: %s", err.msg);
		repair_config_done(&cfg);
		return 1;
	}
	if (install_signal_handlers() < 0) {
		repair_config_done(&cfg);
		return 1;
	}

	log_info("repair: starting node=\"%s\" action=%s daemon=%s", cfg.node_name,
		 repair_action_to_string(repair_action_for(&cfg)),
		 cfg.run_as_daemon ? "true" : "false");
	struct repair_hooks hooks = {.count = count};
	r = repair_run(&cfg, c, &hooks, &stop, &err);
	repair_config_done(&cfg);
	if (r < 0) {
		log_error("repair: %s", err.msg);
		return 1;
	}
	return 0;
}
