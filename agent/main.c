// SPDX-License-Identifier: Apache-2.0
/*
 * istio-cni-agent, also run as install-cni (the name Istio's DaemonSet
 * uses): the node agent. Configuration comes from the environment only
 * (SPEC 10); see agent/agent_config.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_config.h"
#include "error.h"
#include "log.h"

extern char **environ;

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [--help] [--version]\n"
		"\n"
		"The istio-cni node agent: installs the istio-cni plugin into the node's CNI\n"
		"configuration, keeps it installed, serves /healthz and /readyz (HEALTH_PORT),\n"
		"/metrics (MONITORING_PORT), the plugin's log socket and pod lookups\n"
		"(<CNI_AGENT_RUN_DIR>/log.sock), runs the repair loop (REPAIR_ENABLED), and\n"
		"uninstalls on SIGTERM or SIGINT.\n"
		"\n"
		"Every setting is an environment variable with Istio's name:\n"
		"MOUNTED_CNI_NET_DIR, CNI_CONF_NAME, CHAINED_CNI_PLUGIN, CNI_AGENT_RUN_DIR,\n"
		"KUBECONFIG_MODE, KUBE_CA_FILE, SKIP_TLS_VERIFY, MONITORING_PORT, HEALTH_PORT,\n"
		"EXCLUDE_NAMESPACES, POD_NAMESPACE, NATIVE_NFTABLES, KUBERNETES_SERVICE_HOST,\n"
		"KUBERNETES_SERVICE_PORT, KUBERNETES_NODE_NAME, REPAIR_*, and the 1.7 ones\n"
		"(CNI_NET_DIR, CNI_NETWORK_CONFIG, KUBECFG_FILE_NAME, UPDATE_CNI_BINARIES,\n"
		"SKIP_CNI_BINARIES, LOG_LEVEL). An invalid value refuses start-up.\n",
		prog);
}

int main(int argc, char **argv)
{
	const char *prog = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;
	prog = prog ? prog + 1 : argc > 0 && argv[0] ? argv[0] : "istio-cni-agent";

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout, prog);
			return EXIT_SUCCESS;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", prog, ISTIO_CNI_VERSION);
			return EXIT_SUCCESS;
		}
		fprintf(stderr, "%s: unknown argument '%s'\n", prog, argv[i]);
		usage(stderr, prog);
		return 2;
	}

	log_setup("install", LOG_LEVEL_INFO, false);

	struct error err = {0};
	_cleanup_(agent_config_freep) struct agent_config *cfg = NULL;
	const char *const *envp = (const char *const *)environ;
	int r = agent_config_from_env(envp, &cfg, &err);
	if (r < 0) {
		log_error("invalid configuration: %s", err.msg);
		return EXIT_FAILURE;
	}
	/* Current Istio logs at info whatever LOG_LEVEL says; honour it when given. */
	if (cfg->log_level_set)
		log_set_level(cfg->log_level);
	agent_config_log(cfg);

	r = agent_run(cfg, envp, &err);
	if (r < 0) {
		log_error("%s", err.msg[0] ? err.msg : strerror(-r));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
