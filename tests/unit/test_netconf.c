// SPDX-License-Identifier: Apache-2.0
/* The plugin conf: every Istio era's keys, decode errors and validation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cni/netconf.h"
#include "util/istio_names.h"

static struct netconf *parse_ok(const char *json)
{
	struct netconf *c = NULL;
	struct error err = {0};
	int r = netconf_parse(json, strlen(json), &c, &err);
	if (r < 0)
		print_message("unexpected error: %s\n", err.msg);
	assert_int_equal(r, 0);
	assert_int_equal(netconf_validate(c, &err), 0);
	return c;
}

/* What Istio 1.24+ writes into a chained conflist. */
static void test_current_era(void **state)
{
	_cleanup_(netconf_freep) struct netconf *c = parse_ok(
		"{\"cniVersion\":\"1.0.0\",\"name\":\"k8s-pod-network\",\"type\":\"istio-cni\","
		"\"ipam\":{},\"dns\":{},\"plugin_log_level\":\"debug\","
		"\"cni_agent_run_dir\":\"/var/run/istio-cni\",\"ambient_enabled\":false,"
		"\"enablement_selectors\":[],\"exclude_namespaces\":[\"kube-system\"],"
		"\"pod_namespace\":\"istio-system\",\"native_nftables\":true,"
		"\"enable_ambient_detection_retry\":false}");
	assert_string_equal(c->cni_version, "1.0.0");
	assert_string_equal(c->name, "k8s-pod-network");
	assert_string_equal(c->type, "istio-cni");
	assert_true(c->log_level_set);
	assert_int_equal(c->log_level, LOG_LEVEL_DEBUG);
	assert_string_equal(c->cni_agent_run_dir, "/var/run/istio-cni");
	assert_int_equal(c->exclude_namespaces.n, 1);
	assert_true(netconf_namespace_excluded(c, "kube-system"));
	assert_false(netconf_namespace_excluded(c, "default"));
	assert_string_equal(c->pod_namespace, "istio-system");
	assert_true(c->native_nftables);
	assert_null(c->prev_result);
	assert_int_equal(c->redirect_backend, REDIRECT_BACKEND_AUTO);
	assert_int_equal(c->pod_lookup_timeout_sec, NETCONF_DEFAULT_POD_LOOKUP_TIMEOUT_SEC);
}

/* What Istio 1.7's ConfigMap template produces (OpenShift/Multus set-ups). */
static void test_1_7_era(void **state)
{
	_cleanup_(netconf_freep) struct netconf *c = parse_ok(
		"{\"cniVersion\":\"0.3.1\",\"name\":\"istio-cni\",\"type\":\"istio-cni\","
		"\"log_level\":\"info\",\"log_uds_address\":\"/var/run/istio-cni/log.sock\","
		"\"kubernetes\":{\"kubeconfig\":\"/etc/cni/net.d/ZZZ-istio-cni-kubeconfig\","
		"\"cni_bin_dir\":\"/var/lib/cni/bin\",\"intercept_type\":\"iptables\","
		"\"exclude_namespaces\":[\"istio-system\",\"kube-system\"]},"
		"\"exclude_namespaces\":[\"kube-system\",\"openshift-sdn\"]}");
	assert_string_equal(c->kubeconfig, "/etc/cni/net.d/ZZZ-istio-cni-kubeconfig");
	assert_string_equal(c->log_uds_address, "/var/run/istio-cni/log.sock");
	assert_int_equal(c->log_level, LOG_LEVEL_INFO);
	/* Both lists merged, duplicates dropped. */
	assert_int_equal(c->exclude_namespaces.n, 3);
	assert_true(netconf_namespace_excluded(c, "istio-system"));
	assert_true(netconf_namespace_excluded(c, "openshift-sdn"));
	assert_string_equal(c->cni_agent_run_dir, DEFAULT_CNI_AGENT_RUN_DIR);
}

static void test_defaults_and_extras(void **state)
{
	_cleanup_(netconf_freep) struct netconf *c = parse_ok(
		"{\"name\":\"x\",\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":"
		"{\"sidecar.istio.io/status\":\"{}\",\"a\":\"b\"}},\"args\":{\"cni\":{}},"
		"\"cni.dev/valid-attachments\":[],\"plugin_log_level\":\"verbose\","
		"\"redirect_backend\":\"iptables\",\"pod_lookup_timeout_seconds\":2,"
		"\"prevResult\":{\"cniVersion\":\"0.1.0\"}}");
	assert_string_equal(c->cni_version, "0.1.0"); /* libcni's default */
	assert_true(c->have_pod_annotations);
	assert_int_equal(c->pod_annotations.n, 2);
	assert_string_equal(netconf_string_map_get(&c->pod_annotations, ANN_STATUS), "{}");
	assert_null(netconf_string_map_get(&c->pod_annotations, "missing"));
	assert_int_equal(c->log_level, LOG_LEVEL_INFO); /* unknown level: info, as Istio */
	assert_int_equal(c->redirect_backend, REDIRECT_BACKEND_IPTABLES);
	assert_int_equal(c->pod_lookup_timeout_sec, 2);
	assert_non_null(c->prev_result);
}

static void test_cni_versions_list(void **state)
{
	_cleanup_(netconf_freep) struct netconf *c = parse_ok(
		"{\"cniVersion\":\"1.0.0\",\"cniVersions\":[\"1.0.0\",\"1.1.0\",\"2.0.0\"],\"name\":\"n\"}");
	assert_int_equal(c->cni_versions.n, 3);
	assert_string_equal(c->cni_versions.v[1], "1.1.0");
}

struct bad_case {
	const char *json;
	int parse_r; /* 0: parse succeeds and validate fails */
	enum error_kind kind;
	const char *msg;
};

static const struct bad_case bad[] = {
	{"", -EINVAL, ERR_DECODE, "line 1"},
	{"{", -EINVAL, ERR_DECODE, "line 1"},
	{"[]", -EINVAL, ERR_DECODE, "not a JSON object"},
	{"{\"name\":\"a\",\n\"name\":\"b\"}", -EINVAL, ERR_DECODE, "duplicate object key"},
	{"{\"name\":1}", -EINVAL, ERR_DECODE, "name: expected a string"},
	{"{\"name\":\"a\",\"cniVersion\":1}", -EINVAL, ERR_DECODE, "cniVersion"},
	{"{\"name\":\"a\",\"exclude_namespaces\":\"kube-system\"}", -EINVAL, ERR_DECODE,
	 "exclude_namespaces: expected an array"},
	{"{\"name\":\"a\",\"exclude_namespaces\":[1]}", -EINVAL, ERR_DECODE,
	 "exclude_namespaces[0]"},
	{"{\"name\":\"a\",\"kubernetes\":{\"exclude_namespaces\":[null]}}", -EINVAL, ERR_DECODE,
	 "kubernetes.exclude_namespaces[0]"},
	{"{\"name\":\"a\",\"kubernetes\":[]}", -EINVAL, ERR_DECODE,
	 "kubernetes: expected an object"},
	{"{\"name\":\"a\",\"native_nftables\":\"true\"}", -EINVAL, ERR_DECODE, "native_nftables"},
	{"{\"name\":\"a\",\"prevResult\":[]}", -EINVAL, ERR_DECODE, "prevResult"},
	{"{\"name\":\"a\",\"redirect_backend\":\"ebpf\"}", -EINVAL, ERR_CONFIG, "redirect_backend"},
	{"{\"name\":\"a\",\"pod_lookup_timeout_seconds\":0}", -ERANGE, ERR_CONFIG,
	 "pod_lookup_timeout"},
	{"{\"name\":\"a\",\"pod_lookup_timeout_seconds\":\"5\"}", -EINVAL, ERR_DECODE,
	 "pod_lookup_timeout"},
	{"{\"name\":\"a\",\"runtimeConfig\":{\"io.kubernetes.cri.pod-annotations\":{\"a\":1}}}",
	 -EINVAL, ERR_DECODE, "pod-annotations"},
	{"{\"cniVersion\":\"1.0.0\"}", 0, ERR_CONFIG, "missing network name"},
	{"{\"name\":\"\"}", 0, ERR_CONFIG, "missing network name"},
	{"{\"name\":\"a\",\"cni_agent_run_dir\":\"relative\"}", 0, ERR_CONFIG, "cni_agent_run_dir"},
	{"{\"name\":\"a\",\"kubernetes\":{\"kubeconfig\":\"kc\"}}", 0, ERR_CONFIG, "kubeconfig"},
};

static void test_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct netconf *c = NULL;
		struct error err = {0};
		int r = netconf_parse(bad[i].json, strlen(bad[i].json), &c, &err);
		if (r == 0) {
			r = netconf_validate(c, &err);
			netconf_free(c);
			assert_int_equal(bad[i].parse_r, 0);
			assert_true(r < 0);
		} else {
			assert_int_equal(r, bad[i].parse_r);
			assert_null(c);
		}
		print_message("case %zu: %s\n", i, err.msg);
		assert_int_equal(err.kind, bad[i].kind);
		assert_non_null(strstr(err.msg, bad[i].msg));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_era),
		cmocka_unit_test(test_1_7_era),
		cmocka_unit_test(test_defaults_and_extras),
		cmocka_unit_test(test_cni_versions_list),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
