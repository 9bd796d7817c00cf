// SPDX-License-Identifier: Apache-2.0
/*
 * istio-cni-agent, also run as install-cni (the name Istio's DaemonSet
 * uses): the node agent. Configuration comes from the environment only
 * (Istio's variable names of both eras); see agent/agent_config.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "agent_config.h"
#include "audit.h"
#include "health_server.h"
#include "util/env_util.h"
#include "util/error.h"
#include "util/log.h"
#include "util/parse_util.h"

extern char **environ;

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"Usage: %s [--help] [--version] [--log_output_level=[SCOPE:]LEVEL,...]\n"
		"       [--log_as_json]\n"
		"       %s audit [--timeout SECONDS]\n"
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
		"SKIP_CNI_BINARIES, LOG_LEVEL). An invalid value refuses start-up.\n"
		"\n"
		"The arguments are those Istio's chart passes: --log_output_level sets the\n"
		"agent's level (a bare LEVEL, default or any other scope) and the plugin's\n"
		"(cni-plugin); --log_as_json logs JSON lines. Istio's other logging and\n"
		"ControlZ flags (--log_caller, --log_target, --ctrlz_port, ...) are accepted\n"
		"and ignored with a warning.\n"
		"\n"
		"`audit` asks the running agent (GET /debug/audit on 127.0.0.1:HEALTH_PORT)\n"
		"for a capture audit pass over this node's meshed pods and prints one line\n"
		"per pod: <ns>/<name> ok|drift <reason>|unchecked <why>. Exit status: 0 all\n"
		"ok, 1 a pod drifted, 2 something could not be checked. --timeout: how\n"
		"long to wait for the pass (1 to 300 s; default 30).\n",
		prog, prog);
}

/* `audit [--timeout SECONDS | --timeout=SECONDS]`: the exit status. */
static int audit_command(const char *prog, int argc, char **argv)
{
	uint64_t timeout_s = 0;
	const char *v = NULL;
	if (argc == 3 && strncmp(argv[2], "--timeout=", 10) == 0)
		v = argv[2] + 10;
	else if (argc == 4 && strcmp(argv[2], "--timeout") == 0)
		v = argv[3];
	else if (argc != 2) {
		fprintf(stderr, "%s audit: usage: %s audit [--timeout SECONDS]\n", prog, prog);
		return 2;
	}
	if (v && parse_u64(v, 1, HEALTH_AUDIT_TIMEOUT_MAX_S, &timeout_s) < 0) {
		fprintf(stderr,
			"%s audit: --timeout must be a whole number of seconds from 1 to %u\n",
			prog, (unsigned)HEALTH_AUDIT_TIMEOUT_MAX_S);
		return 2;
	}
	struct error err = {0};
	uint16_t port = 0;
	if (env_port((const char *const *)environ, "HEALTH_PORT", AGENT_DEFAULT_HEALTH_PORT, &port,
		     &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return 2;
	}
	return audit_client_main(port, (unsigned)timeout_s, stdout, stderr);
}

/* One warning for each setting Istio's charts pass that this agent does not act on. */
static void warn_accepted_only(const struct agent_config *cfg, const struct agent_args *args)
{
	for (size_t i = 0; i < args->n_ignored; i++)
		log_warn("ignoring %s: Istio's Go logging and ControlZ options do not apply here",
			 args->ignored[i]);
	if (cfg->ambient_enabled)
		log_warn("AMBIENT_ENABLED=true: ambient mode is not supported; serving sidecar "
			 "mode only");
	/* The chart sets the other AMBIENT_* keys whether ambient is on or not. */
	for (size_t i = 0; i < cfg->n_ambient_settings; i++)
		log_emit(cfg->ambient_enabled ? LOG_LEVEL_WARN : LOG_LEVEL_DEBUG,
			 "ignoring %s: ambient mode is not supported", cfg->ambient_settings[i]);
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
	}

	struct error err = {0};
	if (argc >= 2 && strcmp(argv[1], "audit") == 0)
		return audit_command(prog, argc, argv);

	_cleanup_(agent_args_done) struct agent_args args = {0};
	int r = agent_args_parse(argc, argv, &args, &err);
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		usage(stderr, prog);
		return 2;
	}

	log_setup("install", LOG_LEVEL_INFO, args.log_as_json);

	_cleanup_(agent_config_freep) struct agent_config *cfg = NULL;
	const char *const *envp = (const char *const *)environ;
	r = agent_config_from_env(envp, &cfg, &err);
	if (r < 0) {
		log_error("invalid configuration: %s", err.msg);
		return EXIT_FAILURE;
	}
	agent_config_apply_args(cfg, &args);
	/* Current Istio logs at info whatever LOG_LEVEL says; honour it when given. */
	if (cfg->log_level_set)
		log_set_level(cfg->log_level);
	agent_config_log(cfg);
	warn_accepted_only(cfg, &args);

	r = agent_run(cfg, envp, &err);
	if (r < 0) {
		log_error("%s", err.msg[0] ? err.msg : strerror(-r));
		return EXIT_FAILURE;
	}
	return EXIT_SUCCESS;
}
