// SPDX-License-Identifier: Apache-2.0
/*
 * The redirect backend repair in place uses: REDIRECT_BACKEND for the
 * standalone istio-cni-repair, and for the agent the backend of the plugin
 * entry it installs, in both eras.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent_config.h"
#include "plugin_conf.h"
#include "repair.h"
#include "util/istio_names.h"

static void test_repair_env(void **state)
{
	(void)state;
	static const struct {
		const char *value; /* NULL: unset */
		enum redirect_backend want;
	} cases[] = {
		{NULL, REDIRECT_BACKEND_AUTO},		 {"", REDIRECT_BACKEND_AUTO},
		{"auto", REDIRECT_BACKEND_AUTO},	 {"nftables", REDIRECT_BACKEND_NFTABLES},
		{"iptables", REDIRECT_BACKEND_IPTABLES},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char var[64];
		(void)snprintf(var, sizeof(var), "%s=%s", ENV_REDIRECT_BACKEND,
			       cases[i].value ? cases[i].value : "");
		const char *envp[] = {cases[i].value ? var : "X=1", NULL};
		struct repair_config c;
		struct error err = {0};
		assert_int_equal(repair_config_from_env(envp, &c, &err), 0);
		assert_int_equal(c.redirect_backend, cases[i].want);
		repair_config_done(&c);
	}

	const char *bad[] = {ENV_REDIRECT_BACKEND "=ipvs", NULL};
	struct repair_config c;
	struct error err = {0};
	assert_int_equal(repair_config_from_env(bad, &c, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, ENV_REDIRECT_BACKEND));
}

static enum redirect_backend agent_backend(const char *const *envp)
{
	struct agent_config *c = NULL;
	struct error err = {0};
	if (agent_config_from_env(envp, &c, &err) < 0)
		fail_msg("config: %s", err.msg);
	struct install_config ic;
	agent_config_to_install(c, &ic);
	enum redirect_backend b = _REDIRECT_BACKEND_MAX;
	if (plugin_conf_redirect_backend(&ic, &b, &err) < 0)
		fail_msg("plugin_conf_redirect_backend: %s", err.msg);
	agent_config_freep(&c);
	return b;
}

static void test_agent_current_era(void **state)
{
	(void)state;
	const char *const none[] = {"KUBERNETES_NODE_NAME=n1", NULL};
	assert_int_equal(agent_backend(none), REDIRECT_BACKEND_AUTO);
	const char *const ipt[] = {"KUBERNETES_NODE_NAME=n1", "REDIRECT_BACKEND=iptables", NULL};
	assert_int_equal(agent_backend(ipt), REDIRECT_BACKEND_IPTABLES);
	const char *const native[] = {"KUBERNETES_NODE_NAME=n1", "NATIVE_NFTABLES=true", NULL};
	assert_int_equal(agent_backend(native), REDIRECT_BACKEND_NFTABLES);
	/* redirect_backend wins over native_nftables, as in the plugin */
	const char *const both[] = {"KUBERNETES_NODE_NAME=n1", "NATIVE_NFTABLES=true",
				    "REDIRECT_BACKEND=iptables", NULL};
	assert_int_equal(agent_backend(both), REDIRECT_BACKEND_IPTABLES);
}

static void test_agent_template_era(void **state)
{
	(void)state;
	/* A 1.7 template: the key in CNI_NETWORK_CONFIG, no REDIRECT_BACKEND in the env. */
	const char *const ipt[] = {
		"KUBERNETES_NODE_NAME=n1",
		"CNI_NETWORK_CONFIG={\"type\":\"istio-cni\",\"log_level\":\"__LOG_LEVEL__\","
		"\"redirect_backend\":\"iptables\",\"kubernetes\":{\"kubeconfig\":"
		"\"__KUBECONFIG_FILEPATH__\",\"k8s_api_root\":\"https://"
		"__KUBERNETES_SERVICE_HOST__:__KUBERNETES_SERVICE_PORT__\"}}",
		NULL};
	assert_int_equal(agent_backend(ipt), REDIRECT_BACKEND_IPTABLES);
	/* The template, not the env, is what the plugin reads in that era. */
	const char *const env_ignored[] = {
		"KUBERNETES_NODE_NAME=n1", "REDIRECT_BACKEND=nftables",
		"CNI_NETWORK_CONFIG={\"type\":\"istio-cni\",\"redirect_backend\":\"iptables\"}",
		NULL};
	assert_int_equal(agent_backend(env_ignored), REDIRECT_BACKEND_IPTABLES);
	const char *const plain[] = {"KUBERNETES_NODE_NAME=n1",
				     "CNI_NETWORK_CONFIG={\"type\":\"istio-cni\"}", NULL};
	assert_int_equal(agent_backend(plain), REDIRECT_BACKEND_AUTO);

	/* A template whose key the plugin would refuse is an error here too. */
	const char *const bad[] = {
		"KUBERNETES_NODE_NAME=n1",
		"CNI_NETWORK_CONFIG={\"type\":\"istio-cni\",\"redirect_backend\":\"ipvs\"}", NULL};
	struct agent_config *c = NULL;
	struct error err = {0};
	assert_int_equal(agent_config_from_env(bad, &c, &err), 0);
	struct install_config ic;
	agent_config_to_install(c, &ic);
	enum redirect_backend b;
	assert_int_equal(plugin_conf_redirect_backend(&ic, &b, &err), -EINVAL);
	agent_config_freep(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repair_env),
		cmocka_unit_test(test_agent_current_era),
		cmocka_unit_test(test_agent_template_era),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
