// SPDX-License-Identifier: Apache-2.0
/*
 * agent_config_to_install: every setting the installer uses reaches its
 * install_config field, in both eras, borrowing the agent config's strings.
 */
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
#include "install_config.h"

static struct agent_config *ok(const char *const *envp)
{
	struct agent_config *c = NULL;
	struct error err = {0};
	if (agent_config_from_env(envp, &c, &err) < 0)
		fail_msg("unexpected error: %s", err.msg);
	return c;
}

static void test_current_all_set(void **state)
{
	const char *const env[] = {
		"MOUNTED_CNI_NET_DIR=/host/etc/cni/multus/net.d",
		"CNI_NET_DIR=/etc/cni/multus/net.d",
		"CNI_CONF_NAME=istio-cni.conf",
		"CHAINED_CNI_PLUGIN=false",
		"CNI_CONF_GROUP_READ=true",
		"CNI_AGENT_RUN_DIR=/run/istio-cni",
		"KUBECONFIG_MODE=0640",
		"KUBECFG_FILE_NAME=my-kubeconfig",
		"SERVICE_ACCOUNT_DIR=/sa",
		"KUBE_CA_FILE=/ca/bundle.crt",
		"SKIP_TLS_VERIFY=true",
		"KUBERNETES_SERVICE_PROTOCOL=http",
		"KUBERNETES_SERVICE_HOST=fd00::1",
		"KUBERNETES_SERVICE_PORT=6443",
		"KUBERNETES_NODE_NAME=node-7",
		"EXCLUDE_NAMESPACES=kube-system,istio-system",
		"POD_NAMESPACE=istio-system",
		"NATIVE_NFTABLES=true",
		"AMBIENT_ENABLED=true",
		"REDIRECT_BACKEND=iptables",
		"LOG_LEVEL=error",
		"PLUGIN_LOG_LEVEL=debug",
		"CNI_BIN_SOURCE_DIR=/src",
		"MOUNTED_CNI_BIN_DIR=/host/var/lib/cni/bin",
		"UPDATE_CNI_BINARIES=false",
		"SKIP_CNI_BINARIES=istio-iptables,other",
		NULL,
	};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	struct install_config ic;
	memset(&ic, 0xa5, sizeof(ic));
	agent_config_to_install(c, &ic);

	assert_int_equal(ic.era, INSTALL_ERA_CURRENT);
	assert_null(ic.network_config);
	assert_string_equal(ic.mounted_cni_net_dir, "/host/etc/cni/multus/net.d");
	assert_string_equal(ic.cni_net_dir, "/etc/cni/multus/net.d");
	assert_string_equal(ic.cni_conf_name, "istio-cni.conf");
	assert_false(ic.chained_cni_plugin);
	assert_true(ic.cni_conf_group_read);
	assert_string_equal(ic.cni_agent_run_dir, "/run/istio-cni");
	assert_int_equal(ic.kubeconfig_mode, 0640);
	assert_string_equal(ic.kubecfg_file_name, "my-kubeconfig");
	assert_string_equal(ic.service_account_dir, "/sa");
	assert_string_equal(ic.kube_ca_file, "/ca/bundle.crt");
	assert_true(ic.skip_tls_verify);
	assert_string_equal(ic.kubernetes_service_protocol, "http");
	assert_string_equal(ic.kubernetes_service_host, "fd00::1");
	assert_string_equal(ic.kubernetes_service_port, "6443");
	assert_string_equal(ic.node_name, "node-7");
	assert_int_equal(ic.n_exclude_namespaces, 2);
	assert_string_equal(ic.exclude_namespaces[0], "kube-system");
	assert_string_equal(ic.exclude_namespaces[1], "istio-system");
	assert_string_equal(ic.pod_namespace, "istio-system");
	assert_true(ic.native_nftables);
	assert_true(ic.ambient_enabled);
	assert_string_equal(ic.redirect_backend, "iptables");
	assert_int_equal(ic.plugin_log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(ic.log_level, LOG_LEVEL_ERROR);
	assert_string_equal(ic.cni_bin_source_dir, "/src");
	assert_string_equal(ic.mounted_cni_bin_dir, "/host/var/lib/cni/bin");
	assert_false(ic.update_cni_binaries);
	assert_int_equal(ic.n_skip_cni_binaries, 2);
	assert_string_equal(ic.skip_cni_binaries[0], "istio-iptables");
	assert_string_equal(ic.skip_cni_binaries[1], "other");

	/* Borrowed, not copied: the installer's view is the agent's storage. */
	assert_ptr_equal(ic.mounted_cni_net_dir, c->mounted_cni_net_dir);
	assert_ptr_equal(ic.exclude_namespaces, c->exclude_namespaces);
}

static void test_current_defaults(void **state)
{
	const char *const env[] = {"KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	struct install_config ic;
	agent_config_to_install(c, &ic);
	assert_int_equal(ic.era, INSTALL_ERA_CURRENT);
	assert_string_equal(ic.mounted_cni_net_dir, "/host/etc/cni/net.d");
	assert_null(ic.cni_conf_name);
	assert_true(ic.chained_cni_plugin);
	assert_false(ic.cni_conf_group_read);
	assert_int_equal(ic.kubeconfig_mode, 0600);
	assert_true(ic.update_cni_binaries);
	assert_int_equal(ic.n_exclude_namespaces, 0);
	assert_int_equal(ic.n_skip_cni_binaries, 0);
	assert_null(ic.redirect_backend);
	assert_int_equal(ic.plugin_log_level, LOG_LEVEL_INFO);
}

static void test_legacy(void **state)
{
	const char *const env[] = {"CNI_NETWORK_CONFIG={\"type\":\"istio-cni\"}",
				   "KUBECFG_FILE_NAME=ZZZ-kc", "KUBERNETES_NODE_NAME=n", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = ok(env);
	struct install_config ic;
	agent_config_to_install(c, &ic);
	assert_int_equal(ic.era, INSTALL_ERA_LEGACY);
	assert_string_equal(ic.network_config, "{\"type\":\"istio-cni\"}");
	assert_string_equal(ic.kubecfg_file_name, "ZZZ-kc");
	assert_string_equal(ic.cni_net_dir, "/etc/cni/net.d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_all_set),
		cmocka_unit_test(test_current_defaults),
		cmocka_unit_test(test_legacy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
