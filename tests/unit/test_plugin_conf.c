// SPDX-License-Identifier: Apache-2.0
/*
 * install/plugin_conf: our entry in both eras. The current entry is Istio's
 * plugin struct (checked against Istio's istio-cni.conf and
 * YYY-istio-cni.conf goldens, minus our "capabilities") in Istio's field
 * order; the 1.7 template gets every placeholder, the token last.
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
#include "conflist.h"
#include "plugin_conf.h"
#include "util/file_util.h"

#define FIX TEST_SOURCE_DIR "/fixtures/install"
#define REF_INSTALL REFERENCE_DIR "/istio/cni/pkg/install/testdata"
#define REF_TEST REFERENCE_DIR "/istio/cni/test/testdata"

static struct agent_config *config(const char *const *envp)
{
	struct agent_config *c = NULL;
	struct error err = {0};
	if (agent_config_from_env(envp, &c, &err) < 0)
		fail_msg("config: %s", err.msg);
	return c;
}

/* The installer's view of the agent's config, then the entry. */
static int generate(const struct agent_config *c, json_t **ret)
{
	struct install_config ic;
	agent_config_to_install(c, &ic);
	return plugin_conf_generate(&ic, ret);
}

static int template_values(const struct agent_config *c, struct plugin_template_storage *st,
			   struct plugin_template_values *ret)
{
	struct install_config ic;
	agent_config_to_install(c, &ic);
	return plugin_template_values_from_config(&ic, st, ret);
}

static json_t *load_json(const char *path)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	assert_int_equal(file_read_full(path, CONFLIST_MAX_BYTES, &buf, &len), 0);
	json_t *j = json_loadb(buf, len, JSON_PRESERVE_ORDER, NULL);
	assert_non_null(j);
	return j;
}

static void check_generated(const char *const *envp, const char *golden, bool own)
{
	_cleanup_(agent_config_freep) struct agent_config *c = config(envp);
	_cleanup_json_ json_t *got = NULL;
	assert_int_equal(generate(c, &got), 0);
	_cleanup_json_ json_t *want = load_json(golden);

	/* Our addition, then exactly Istio's struct. */
	json_t *caps = json_object_get(got, "capabilities");
	assert_true(json_is_true(json_object_get(caps, PLUGIN_CONF_CAP_POD_ANNOTATIONS)));
	if (!own)
		assert_int_equal(json_object_del(got, "capabilities"), 0);
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(2));
		fail_msg("entry differs from %s:\n%s", golden, g);
	}
	/* Same field order as the golden (the standalone file is written unsorted). */
	_cleanup_free_ char *text = NULL, *gold = NULL;
	size_t len;
	assert_int_equal(conflist_dump_ordered(got, &text, &len), 0);
	assert_int_equal(file_read_full(golden, CONFLIST_MAX_BYTES, &gold, &len), 0);
	assert_string_equal(text, gold);
}

static void test_generate_own(void **state)
{
	const char *const env[] = {"EXCLUDE_NAMESPACES= kube-system, ,istio-system,",
				   "POD_NAMESPACE=istio-system", "KUBERNETES_NODE_NAME=n1", NULL};
	check_generated(env, FIX "/expected/YYY-istio-cni.conf", true);
	check_generated(env, FIX "/entry.json", true);
}

static void test_generate_istio(void **state)
{
	if (access(REF_INSTALL, F_OK) < 0)
		skip();
	const char *const env1[] = {"CNI_AGENT_RUN_DIR=/path/to/kubeconfig",
				    "POD_NAMESPACE=my-namespace", "PLUGIN_LOG_LEVEL=debug",
				    "KUBERNETES_NODE_NAME=n1", NULL};
	check_generated(env1, REF_INSTALL "/istio-cni.conf", false);
	const char *const env2[] = {"CNI_AGENT_RUN_DIR=/tmp", "EXCLUDE_NAMESPACES=istio-system",
				    "LOG_LEVEL=debug", "KUBERNETES_NODE_NAME=n1", NULL};
	check_generated(env2, REF_TEST "/expected/YYY-istio-cni.conf", false);
}

static void test_generate_options(void **state)
{
	const char *const env[] = {"NATIVE_NFTABLES=true", "REDIRECT_BACKEND=iptables",
				   "AMBIENT_ENABLED=1", "KUBERNETES_NODE_NAME=n1", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = config(env);
	_cleanup_json_ json_t *got = NULL;
	assert_int_equal(generate(c, &got), 0);
	assert_true(json_is_true(json_object_get(got, "native_nftables")));
	assert_true(json_is_true(json_object_get(got, "ambient_enabled")));
	assert_string_equal(json_string_value(json_object_get(got, "redirect_backend")),
			    "iptables");
	assert_true(json_is_null(json_object_get(got, "exclude_namespaces")));
	assert_string_equal(json_string_value(json_object_get(got, "pod_namespace")), "");
	assert_string_equal(json_string_value(json_object_get(got, "plugin_log_level")), "info");
}

/* The 1.7 helm template, every placeholder used. */
static const char template_17[] =
	"{\n"
	"  \"cniVersion\": \"0.3.1\",\n"
	"  \"name\": \"istio-cni\",\n"
	"  \"type\": \"istio-cni\",\n"
	"  \"log_level\": \"__LOG_LEVEL__\",\n"
	"  \"log_uds_address\": \"__LOG_UDS_ADDRESS__\",\n"
	"  \"cni_event_address\": \"__CNI_EVENT_ADDRESS__\",\n"
	"  \"kubernetes\": {\n"
	"    \"kubeconfig\": \"__KUBECONFIG_FILEPATH__\",\n"
	"    \"kubeconfig_name\": \"__KUBECONFIG_FILENAME__\",\n"
	"    \"k8s_api_root\": \"https://__KUBERNETES_SERVICE_HOST__:__KUBERNETES_SERVICE_PORT__\",\n"
	"    \"node_name\": \"__KUBERNETES_NODE_NAME__\",\n"
	"    \"token\": \"__SERVICEACCOUNT_TOKEN__\",\n"
	"    \"cni_bin_dir\": \"/opt/cni/bin\",\n"
	"    \"exclude_namespaces\": [ \"istio-system\" ]\n"
	"  },\n"
	"  \"again\": \"__LOG_LEVEL__/__LOG_LEVEL__\"\n"
	"}\n";

static void test_template(void **state)
{
	const char *const env[] = {"CNI_NETWORK_CONFIG=x",
				   "LOG_LEVEL=info",
				   "CNI_NET_DIR=/etc/cni/multus/net.d",
				   "CNI_AGENT_RUN_DIR=/run/istio-cni",
				   "KUBERNETES_SERVICE_HOST=10.0.0.1",
				   "KUBERNETES_SERVICE_PORT=443",
				   "KUBERNETES_NODE_NAME=worker-7",
				   NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = config(env);
	assert_int_equal(c->era, AGENT_ERA_LEGACY);
	struct plugin_template_storage st;
	struct plugin_template_values v;
	assert_int_equal(template_values(c, &st, &v), 0);
	v.sa_token = "tok.en";
	char *text = NULL;
	_cleanup_json_ json_t *j = NULL;
	struct error err = {0};
	assert_int_equal(plugin_conf_from_template(template_17, &v, &text, &j, &err), 0);
	assert_null(strstr(text, "__"));
	free(text);

	static const struct {
		const char *path[2];
		const char *want;
	} t[] = {
		{{"log_level", NULL}, "info"},
		{{"log_uds_address", NULL}, "/run/istio-cni/log.sock"},
		{{"cni_event_address", NULL}, "/run/istio-cni/pluginevent.sock"},
		{{"kubernetes", "kubeconfig"}, "/etc/cni/multus/net.d/ZZZ-istio-cni-kubeconfig"},
		{{"kubernetes", "kubeconfig_name"}, "ZZZ-istio-cni-kubeconfig"},
		{{"kubernetes", "k8s_api_root"}, "https://10.0.0.1:443"},
		{{"kubernetes", "node_name"}, "worker-7"},
		{{"kubernetes", "token"}, "tok.en"},
		{{"again", NULL}, "info/info"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		json_t *o = json_object_get(j, t[i].path[0]);
		if (t[i].path[1])
			o = json_object_get(o, t[i].path[1]);
		assert_string_equal(json_string_value(o), t[i].want);
	}
}

static void test_template_istio(void **state)
{
	if (access(REF_INSTALL, F_OK) < 0)
		skip();
	_cleanup_free_ char *tmpl = NULL;
	size_t len;
	assert_int_equal(file_read_full(REF_INSTALL "/istio-cni.conf.template", 65536, &tmpl, &len),
			 0);
	struct plugin_template_values v = {.log_level = "debug",
					   .kubeconfig_filename = "/path/to/kubeconfig"};
	char *text = NULL;
	_cleanup_json_ json_t *j = NULL;
	struct error err = {0};
	assert_int_equal(plugin_conf_from_template(tmpl, &v, &text, &j, &err), 0);
	free(text);
	assert_string_equal(json_string_value(json_object_get(j, "plugin_log_level")), "debug");
	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "kubernetes"),
							      "kubeconfig")),
			    "/path/to/kubeconfig");
}

static void test_template_invalid_hides_token(void **state)
{
	struct plugin_template_values v = {.sa_token = "s3cr3t\"oops"};
	char *text = NULL;
	json_t *j = NULL;
	struct error err = {0};
	assert_int_equal(plugin_conf_from_template("{\"t\": \"__SERVICEACCOUNT_TOKEN__\"}", &v,
						   &text, &j, &err),
			 -EINVAL);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_null(strstr(err.msg, "s3cr3t"));
	assert_non_null(strstr(err.msg, "CNI_NETWORK_CONFIG"));
	assert_null(text);
	assert_int_equal(plugin_conf_from_template("[1]", &v, &text, &j, &err), -EINVAL);
	assert_int_equal(plugin_conf_from_template("", &v, &text, &j, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_own),
		cmocka_unit_test(test_generate_istio),
		cmocka_unit_test(test_generate_options),
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_template_istio),
		cmocka_unit_test(test_template_invalid_hides_token),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
