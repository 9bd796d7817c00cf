// SPDX-License-Identifier: Apache-2.0
/*
 * agent/agent_config: every variable's default, valid and invalid values
 * (the error names the variable and the value), both eras.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_config.h"
#include "util/file_util.h"

static struct agent_config *ok(const char *const *envp)
{
	struct agent_config *c = NULL;
	struct error err = {0};
	if (agent_config_from_env(envp, &c, &err) < 0)
		fail_msg("unexpected error: %s", err.msg);
	return c;
}

static void test_defaults(void **state)
{
	const char *const env[] = {"KUBERNETES_NODE_NAME=node-a", "UNRELATED=1", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	assert_int_equal(c->era, AGENT_ERA_CURRENT);
	assert_string_equal(c->mounted_cni_net_dir, "/host/etc/cni/net.d");
	assert_string_equal(c->cni_net_dir, "/etc/cni/net.d");
	assert_null(c->cni_conf_name);
	assert_true(c->chained_cni_plugin);
	assert_false(c->cni_conf_group_read);
	assert_null(c->cni_network_config);
	assert_string_equal(c->cni_agent_run_dir, "/var/run/istio-cni");
	assert_int_equal(c->kubeconfig_mode, 0600);
	assert_string_equal(c->kubecfg_file_name, "ZZZ-istio-cni-kubeconfig");
	assert_string_equal(c->service_account_dir,
			    "/var/run/secrets/kubernetes.io/serviceaccount");
	assert_string_equal(c->kube_ca_file,
			    "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
	assert_false(c->skip_tls_verify);
	assert_string_equal(c->kubernetes_service_protocol, "https");
	assert_null(c->kubernetes_service_host);
	assert_null(c->kubernetes_service_port);
	assert_string_equal(c->node_name, "node-a");
	assert_int_equal(c->monitoring_port, 15014);
	assert_int_equal(c->health_port, 8000);
	assert_int_equal(c->n_exclude_namespaces, 0);
	assert_string_equal(c->pod_namespace, "");
	assert_false(c->native_nftables);
	assert_false(c->ambient_enabled);
	assert_null(c->redirect_backend);
	assert_int_equal(c->plugin_log_level, LOG_LEVEL_INFO);
	assert_int_equal(c->log_level, LOG_LEVEL_WARN);
	assert_false(c->log_level_set);
	assert_string_equal(c->cni_bin_source_dir, "/opt/cni/bin");
	assert_string_equal(c->mounted_cni_bin_dir, "/host/opt/cni/bin");
	assert_true(c->update_cni_binaries);
	assert_int_equal(c->n_skip_cni_binaries, 0);
	assert_true(c->repair_enabled);
	agent_config_log(c);
}

static void test_hostname_fallback(void **state)
{
	const char *const env[] = {"KUBERNETES_NODE_NAME=", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	char host[256];
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	assert_string_equal(c->node_name, host);
}

static void test_all_set(void **state)
{
	const char *const env[] = {
		"MOUNTED_CNI_NET_DIR=/host/etc/cni/multus/net.d",
		"CNI_NET_DIR=/etc/cni/multus/net.d",
		"CNI_CONF_NAME=istio-cni.conf",
		"CHAINED_CNI_PLUGIN=false",
		"CNI_CONF_GROUP_READ=True",
		"CNI_AGENT_RUN_DIR=/run/istio-cni",
		"KUBECONFIG_MODE=0640",
		"KUBECFG_FILE_NAME=my-kubeconfig",
		"SERVICE_ACCOUNT_DIR=/sa",
		"SKIP_TLS_VERIFY=1",
		"KUBERNETES_SERVICE_PROTOCOL=http",
		"KUBERNETES_SERVICE_HOST=fd00::1",
		"KUBERNETES_SERVICE_PORT=6443",
		"KUBERNETES_NODE_NAME=n",
		"MONITORING_PORT=9090",
		"HEALTH_PORT=8081",
		"EXCLUDE_NAMESPACES= kube-system ,,istio-system , ",
		"POD_NAMESPACE=istio-system",
		"NATIVE_NFTABLES=t",
		"AMBIENT_ENABLED=F",
		"REDIRECT_BACKEND=nftables",
		"LOG_LEVEL=debug",
		"CNI_BIN_SOURCE_DIR=/src",
		"MOUNTED_CNI_BIN_DIR=/host/var/lib/cni/bin",
		"UPDATE_CNI_BINARIES=false",
		"SKIP_CNI_BINARIES=istio-iptables, istio-cni-repair other",
		"REPAIR_ENABLED=FALSE",
		NULL,
	};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	assert_string_equal(c->mounted_cni_net_dir, "/host/etc/cni/multus/net.d");
	assert_string_equal(c->cni_net_dir, "/etc/cni/multus/net.d");
	assert_string_equal(c->cni_conf_name, "istio-cni.conf");
	assert_false(c->chained_cni_plugin);
	assert_true(c->cni_conf_group_read);
	assert_string_equal(c->cni_agent_run_dir, "/run/istio-cni");
	assert_int_equal(c->kubeconfig_mode, 0640);
	assert_string_equal(c->kubecfg_file_name, "my-kubeconfig");
	assert_string_equal(c->kube_ca_file, "/sa/ca.crt");
	assert_true(c->skip_tls_verify);
	assert_string_equal(c->kubernetes_service_protocol, "http");
	assert_string_equal(c->kubernetes_service_host, "fd00::1");
	assert_string_equal(c->kubernetes_service_port, "6443");
	assert_int_equal(c->monitoring_port, 9090);
	assert_int_equal(c->health_port, 8081);
	assert_int_equal(c->n_exclude_namespaces, 2);
	assert_string_equal(c->exclude_namespaces[0], "kube-system");
	assert_string_equal(c->exclude_namespaces[1], "istio-system");
	assert_string_equal(c->pod_namespace, "istio-system");
	assert_true(c->native_nftables);
	assert_false(c->ambient_enabled);
	assert_string_equal(c->redirect_backend, "nftables");
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(c->plugin_log_level, LOG_LEVEL_DEBUG); /* LOG_LEVEL falls through */
	assert_string_equal(c->cni_bin_source_dir, "/src");
	assert_string_equal(c->mounted_cni_bin_dir, "/host/var/lib/cni/bin");
	assert_false(c->update_cni_binaries);
	assert_int_equal(c->n_skip_cni_binaries, 3);
	assert_string_equal(c->skip_cni_binaries[1], "istio-cni-repair");
	assert_false(c->repair_enabled);
	agent_config_log(c);
}

static void test_kubeconfig_mode(void **state)
{
	static const struct {
		const char *v;
		int mode; /* -1: invalid */
	} t[] = {
		{"0600", 0600},
		{"600", 600},
		{"0o640", 0640},
		{"0x1a4", 0644},
		{"0b110100000", 0640},
		{"0", 0},
		{"07777", 07777},
		{"010000", -1},
		{"0x", -1},
		{"0800", -1},
		{"-1", -1},
		{"6OO", -1},
		{"0600 ", -1},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char var[64];
		(void)snprintf(var, sizeof(var), "KUBECONFIG_MODE=%s", t[i].v);
		const char *const env[] = {var, "KUBERNETES_NODE_NAME=n", NULL};
		struct agent_config *c = NULL;
		struct error err = {0};
		int r = agent_config_from_env(env, &c, &err);
		if (t[i].mode < 0) {
			if (r >= 0)
				fail_msg("%s accepted", var);
			assert_non_null(strstr(err.msg, "KUBECONFIG_MODE"));
		} else {
			if (r < 0)
				fail_msg("%s: %s", var, err.msg);
			assert_int_equal(c->kubeconfig_mode, t[i].mode);
			agent_config_free(c);
		}
	}
}

static void test_invalid(void **state)
{
	static const char *const t[] = {
		"CHAINED_CNI_PLUGIN=yes",
		"CNI_CONF_GROUP_READ=2",
		"SKIP_TLS_VERIFY=on",
		"NATIVE_NFTABLES=enabled",
		"AMBIENT_ENABLED=nope",
		"UPDATE_CNI_BINARIES=maybe",
		"REPAIR_ENABLED=tru",
		"MONITORING_PORT=0",
		"MONITORING_PORT=65536",
		"HEALTH_PORT=http",
		"KUBERNETES_SERVICE_PORT=-1",
		"KUBERNETES_SERVICE_HOST=a b",
		"KUBERNETES_SERVICE_PROTOCOL=ftp",
		"LOG_LEVEL=loud",
		"PLUGIN_LOG_LEVEL=trace",
		"REDIRECT_BACKEND=ebpf",
		"MOUNTED_CNI_NET_DIR=relative/dir",
		"CNI_AGENT_RUN_DIR=run",
		"KUBE_CA_FILE=ca.crt",
		"CNI_CONF_NAME=../escape.conf",
		"KUBECFG_FILE_NAME=a/b",
		"CNI_BIN_SOURCE_DIR=.",
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		const char *const env[] = {"KUBERNETES_NODE_NAME=n", t[i], NULL};
		struct agent_config *c = NULL;
		struct error err = {0};
		int r = agent_config_from_env(env, &c, &err);
		if (r >= 0)
			fail_msg("%s accepted", t[i]);
		assert_int_equal(r, -EINVAL);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_null(c);
		/* The message names the variable and quotes its value. */
		char name[64];
		(void)snprintf(name, sizeof(name), "%.*s", (int)(strchr(t[i], '=') - t[i]), t[i]);
		if (!strstr(err.msg, name) || !strstr(err.msg, strchr(t[i], '=') + 1))
			fail_msg("%s: message \"%s\"", t[i], err.msg);
	}
}

static void test_empty_is_unset(void **state)
{
	const char *const env[] = {"CHAINED_CNI_PLUGIN=",    "MONITORING_PORT=",
				   "KUBECONFIG_MODE=",	     "CNI_CONF_NAME=",
				   "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	assert_true(c->chained_cni_plugin);
	assert_int_equal(c->monitoring_port, 15014);
	assert_int_equal(c->kubeconfig_mode, 0600);
	assert_null(c->cni_conf_name);
}

static void test_legacy_era(void **state)
{
	/* The variable alone. */
	const char *const env1[] = {"CNI_NETWORK_CONFIG={\"type\":\"istio-cni\"}",
				    "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c1 = ok(env1);
	assert_int_equal(c1->era, AGENT_ERA_LEGACY);
	assert_string_equal(c1->cni_network_config, "{\"type\":\"istio-cni\"}");

	/* The file wins when it exists. */
	char path[] = "/tmp/test_agent_config.XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{\"from\":\"file\"}", 15), 15);
	close(fd);
	char var[128];
	(void)snprintf(var, sizeof(var), "CNI_NETWORK_CONFIG_FILE=%s", path);
	const char *const env2[] = {var, "CNI_NETWORK_CONFIG={\"from\":\"env\"}",
				    "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c2 = ok(env2);
	assert_string_equal(c2->cni_network_config, "{\"from\":\"file\"}");
	assert_int_equal(unlink(path), 0);

	/* A missing file falls back to the variable; with neither, the current era. */
	_cleanup_(agent_config_freep) struct agent_config *c3 = ok(env2);
	assert_string_equal(c3->cni_network_config, "{\"from\":\"env\"}");
	const char *const env4[] = {var, "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c4 = ok(env4);
	assert_int_equal(c4->era, AGENT_ERA_CURRENT);

	/* An unreadable template file (a directory) refuses start-up. */
	const char *const env5[] = {"CNI_NETWORK_CONFIG_FILE=/", "KUBERNETES_NODE_NAME=n", NULL};
	struct agent_config *c5 = NULL;
	struct error err = {0};
	assert_true(agent_config_from_env(env5, &c5, &err) < 0);
	assert_non_null(strstr(err.msg, "CNI_NETWORK_CONFIG_FILE"));
}

static void test_plugin_log_level_precedence(void **state)
{
	const char *const env[] = {"LOG_LEVEL=error", "PLUGIN_LOG_LEVEL=warning",
				   "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	assert_int_equal(c->plugin_log_level, LOG_LEVEL_WARN);
	assert_int_equal(c->log_level, LOG_LEVEL_ERROR);
	assert_true(c->log_level_set);
}

/* What Istio's charts set besides the settings proper. */
static void test_chart_extras(void **state)
{
	const char *const env[] = {"EXCLUDE_NAMESPACES=kube-system, istio-system",
				   "EXCLUDED_NAMESPACES=kube-system,team-a,",
				   "NODE_NAME=node-b",
				   "ALLOW_SWITCH_TO_HOST_NS=true",
				   "CURRENT_AGENT_VERSION=1.27.0",
				   "GOMEMLIMIT=104857600",
				   "GOMAXPROCS=2",
				   "AMBIENT_ENABLED=true",
				   "AMBIENT_DNS_CAPTURE=true",
				   "AMBIENT_ENABLEMENT_SELECTOR=- podSelector: {}",
				   "AMBIENT_IPV6=",
				   NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	assert_int_equal(c->n_exclude_namespaces, 3);
	assert_string_equal(c->exclude_namespaces[0], "kube-system");
	assert_string_equal(c->exclude_namespaces[1], "istio-system");
	assert_string_equal(c->exclude_namespaces[2], "team-a");
	assert_string_equal(c->node_name, "node-b");
	assert_true(c->allow_switch_to_host_ns);
	assert_string_equal(c->current_agent_version, "1.27.0");
	assert_int_equal(c->gomemlimit, 104857600);
	assert_int_equal(c->gomaxprocs, 2);
	assert_true(c->ambient_enabled);
	assert_int_equal(c->n_ambient_settings, 2);
	assert_string_equal(c->ambient_settings[0], "AMBIENT_DNS_CAPTURE");
	assert_string_equal(c->ambient_settings[1], "AMBIENT_ENABLEMENT_SELECTOR");

	/* KUBERNETES_NODE_NAME wins over NODE_NAME; EXCLUDED_NAMESPACES alone works. */
	const char *const env2[] = {"NODE_NAME=b", "KUBERNETES_NODE_NAME=a",
				    "EXCLUDED_NAMESPACES=x", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c2 = ok(env2);
	assert_string_equal(c2->node_name, "a");
	assert_int_equal(c2->n_exclude_namespaces, 1);
	assert_string_equal(c2->exclude_namespaces[0], "x");

	static const struct {
		const char *v;
		uint64_t bytes;
	} mem[] = {{"GOMEMLIMIT=off", 0},
		   {"GOMEMLIMIT=64MiB", 64u << 20},
		   {"GOMEMLIMIT=1GiB", 1u << 30},
		   {"GOMEMLIMIT=512B", 512},
		   {"GOMEMLIMIT=3KiB", 3072}};
	for (size_t i = 0; i < ELEMENTSOF(mem); i++) {
		const char *const e[] = {"KUBERNETES_NODE_NAME=n", mem[i].v, NULL};
		struct agent_config *m = ok(e);
		assert_int_equal(m->gomemlimit, mem[i].bytes);
		agent_config_free(m);
	}

	static const char *const bad[] = {
		"GOMEMLIMIT=64M", "GOMEMLIMIT=-1",  "GOMEMLIMIT=99999999999TiB",
		"GOMAXPROCS=0",	  "GOMAXPROCS=1.5", "ALLOW_SWITCH_TO_HOST_NS=yes"};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		const char *const e[] = {"KUBERNETES_NODE_NAME=n", bad[i], NULL};
		struct agent_config *m = NULL;
		struct error err = {0};
		if (agent_config_from_env(e, &m, &err) >= 0)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(err.kind, ERR_CONFIG);
		if (!strstr(err.msg, strchr(bad[i], '=') + 1))
			fail_msg("%s: message \"%s\"", bad[i], err.msg);
	}
}

/* envFrom with 1.7's ConfigMap passes its key as a lower-case variable. */
static void test_legacy_configmap_key(void **state)
{
	const char *const env[] = {"cni_network_config={\"type\":\"istio-cni\"}",
				   "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	assert_int_equal(c->era, AGENT_ERA_LEGACY);
	assert_string_equal(c->cni_network_config, "{\"type\":\"istio-cni\"}");

	const char *const env2[] = {"cni_network_config={\"from\":\"key\"}",
				    "CNI_NETWORK_CONFIG={\"from\":\"var\"}",
				    "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c2 = ok(env2);
	assert_string_equal(c2->cni_network_config, "{\"from\":\"var\"}");
}

static int args(struct agent_args *a, struct error *err, ...)
{
	static char prog[] = "install-cni";
	char *argv[16] = {prog};
	int argc = 1;
	va_list ap;
	va_start(ap, err);
	for (char *s; argc < 15 && (s = va_arg(ap, char *));)
		argv[argc++] = s;
	va_end(ap);
	return agent_args_parse(argc, argv, a, err);
}

static void test_args(void **state)
{
	struct agent_args a;
	struct error err = {0};

	/* No arguments: nothing set. */
	assert_int_equal(args(&a, &err, NULL), 0);
	assert_false(a.log_level_set);
	assert_false(a.plugin_log_level_set);
	assert_false(a.log_as_json);
	agent_args_done(&a);

	/* The current chart's default: a bare level is the agent's. */
	assert_int_equal(args(&a, &err, "--log_output_level=info", NULL), 0);
	assert_true(a.log_level_set);
	assert_int_equal(a.log_level, LOG_LEVEL_INFO);
	assert_false(a.plugin_log_level_set);
	agent_args_done(&a);

	/* Scopes: the most verbose agent scope wins; cni-plugin is the plugin's. */
	assert_int_equal(args(&a, &err, "--log_output_level",
			      "default:warn, install:debug,cni-plugin:error,repair:fatal",
			      "--log_as_json", NULL),
			 0);
	assert_int_equal(a.log_level, LOG_LEVEL_DEBUG);
	assert_true(a.plugin_log_level_set);
	assert_int_equal(a.plugin_log_level, LOG_LEVEL_ERROR);
	assert_true(a.log_as_json);
	agent_args_done(&a);

	/* all: both; --log_as_json=false; the other flags are listed once each. */
	assert_int_equal(args(&a, &err, "--log_output_level=all:none", "--log_as_json=false",
			      "--ctrlz_port=9876", "--log_caller", "default", "--vklog=0", NULL),
			 0);
	assert_int_equal(a.log_level, LOG_LEVEL_NONE);
	assert_int_equal(a.plugin_log_level, LOG_LEVEL_NONE);
	assert_false(a.log_as_json);
	assert_int_equal(a.n_ignored, 3);
	assert_string_equal(a.ignored[0], "--ctrlz_port=9876");
	assert_string_equal(a.ignored[1], "--log_caller=default");
	assert_string_equal(a.ignored[2], "--vklog=0");

	/* Applied: the flag beats LOG_LEVEL; PLUGIN_LOG_LEVEL beats the flag. */
	const char *const env[] = {"LOG_LEVEL=error", "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	agent_config_apply_args(c, &a);
	assert_int_equal(c->log_level, LOG_LEVEL_NONE);
	assert_int_equal(c->plugin_log_level, LOG_LEVEL_NONE);
	const char *const env2[] = {"PLUGIN_LOG_LEVEL=debug", "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c2 = ok(env2);
	agent_config_apply_args(c2, &a);
	assert_int_equal(c2->plugin_log_level, LOG_LEVEL_DEBUG);
	agent_args_done(&a);

	static const char *const bad[][2] = {
		{"--log_output_level=loud", NULL},
		{"--log_output_level=default:", NULL},
		{"--log_output_level=:info", NULL},
		{"--log_output_level=", NULL},
		{"--log_as_json=maybe", NULL},
		{"--ctrlz_port", NULL},
		{"--unknown", NULL},
		{"positional", NULL},
	};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		err = (struct error){0};
		assert_int_equal(args(&a, &err, bad[i][0], NULL), -EINVAL);
		assert_int_equal(err.kind, ERR_CONFIG);
		/* The message names the argument. */
		size_t n = strcspn(bad[i][0], "=");
		if (!memmem(err.msg, strlen(err.msg), bad[i][0], n))
			fail_msg("%s: message \"%s\"", bad[i][0], err.msg);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_hostname_fallback),
		cmocka_unit_test(test_all_set),
		cmocka_unit_test(test_kubeconfig_mode),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_empty_is_unset),
		cmocka_unit_test(test_legacy_era),
		cmocka_unit_test(test_plugin_log_level_precedence),
		cmocka_unit_test(test_chart_extras),
		cmocka_unit_test(test_legacy_configmap_key),
		cmocka_unit_test(test_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
