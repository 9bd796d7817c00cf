// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/pod_info.h"
#include "util/error.h"
#include "util/file_util.h"
#include "util/istio_names.h"

static json_t *load_fixture(const char *name)
{
	char path[512];
	(void)snprintf(path, sizeof(path), "%s/fixtures/pods/%s", TEST_SOURCE_DIR, name);
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	assert_int_equal(file_read_full(path, 1u << 20, &buf, &len), 0);
	json_error_t jerr;
	json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(j);
	return j;
}

static struct pod_info *decode_fixture(const char *name)
{
	json_t *j = load_fixture(name);
	struct pod_info *p = NULL;
	struct error err = {0};
	int r = pod_info_from_json(j, &p, &err);
	if (r < 0)
		fail_msg("%s: %s", name, err.msg);
	json_decref(j);
	return p;
}

static void test_default_sidecar(void **state)
{
	_cleanup_(pod_info_freep) struct pod_info *p = decode_fixture("sidecar-default.json");

	assert_string_equal(p->namespace, "bookinfo");
	assert_string_equal(p->name, "productpage-v1-7d6cfb7dfd-5mc96");
	assert_string_equal(p->uid, "0f0c9a6e-3b1e-4f4a-9d55-2b7c2f1e8a11");
	assert_string_equal(p->resource_version, "184467");
	assert_string_equal(p->node_name, "worker-2");
	assert_string_equal(pod_info_label(p, "app"), "productpage");
	assert_null(pod_info_label(p, "nope"));
	assert_non_null(pod_info_annotation(p, ANN_STATUS));
	assert_string_equal(pod_info_annotation(p, ANN_INCLUDE_INBOUND_PORTS), "*");
	assert_null(pod_info_annotation(p, ANN_EXCLUDE_INTERFACES));

	assert_int_equal(p->n_init_containers, 1);
	assert_string_equal(p->init_containers[0], CONTAINER_ISTIO_VALIDATION);
	assert_int_equal(p->n_containers, 2);
	assert_string_equal(p->containers[0], "productpage");
	assert_true(pod_info_has_container(p, CONTAINER_ISTIO_PROXY));
	assert_false(pod_info_has_container(p, CONTAINER_ISTIO_INIT));

	assert_true(p->has_proxy);
	assert_false(p->proxy_is_init);
	assert_true(p->n_proxy_args >= 2);
	assert_string_equal(p->proxy_args[0], "proxy");
	assert_string_equal(p->proxy_args[1], "sidecar");
	assert_true(p->proxy_run_as_user_set);
	assert_int_equal(p->proxy_run_as_user, 1337);
	assert_true(p->proxy_run_as_group_set);
	assert_int_equal(p->proxy_run_as_group, 1337);
	assert_string_equal(pod_info_proxy_env(p, "ISTIO_META_INTERCEPTION_MODE"), "REDIRECT");
	/* valueFrom reads as "" */
	assert_string_equal(pod_info_proxy_env(p, "POD_NAME"), "");
	assert_null(pod_info_proxy_env(p, PROXY_ENV_DNS_CAPTURE));

	assert_string_equal(p->pod_ip, "10.244.2.17");
	assert_int_equal(p->n_pod_ips, 1);
	assert_string_equal(p->pod_ips[0], "10.244.2.17");

	const struct pod_init_status *s = pod_info_init_status(p, CONTAINER_ISTIO_VALIDATION);
	assert_non_null(s);
	assert_true(s->state.present);
	assert_int_equal(s->state.exit_code, 0);
	assert_string_equal(s->state.reason, "Completed");
	assert_false(s->last_state.present);
}

static void test_validation_failed(void **state)
{
	_cleanup_(pod_info_freep) struct pod_info *p = decode_fixture("validation-failed.json");
	const struct pod_init_status *s = pod_info_init_status(p, CONTAINER_ISTIO_VALIDATION);
	assert_non_null(s);
	assert_false(s->state.present);
	assert_true(s->last_state.present);
	assert_int_equal(s->last_state.exit_code, 126);
	assert_string_equal(s->last_state.reason, "Error");
	assert_non_null(strstr(s->last_state.message, "CNI probably not ready"));
}

static void test_native_sidecar(void **state)
{
	_cleanup_(pod_info_freep) struct pod_info *p = decode_fixture(
		"native-sidecar-dual-stack.json");
	assert_true(p->has_proxy);
	assert_true(p->proxy_is_init);
	assert_int_equal(p->n_containers, 1);
	assert_int_equal(p->n_init_containers, 2);
	assert_string_equal(pod_info_proxy_env(p, PROXY_ENV_DUAL_STACK), "true");
	assert_int_equal(p->n_pod_ips, 2);
	assert_string_equal(p->pod_ips[0], "fd00:10:244:2::11");
}

/* Every fixture under tests/fixtures/pods. */
static const char *const fixtures[] = {
	"sidecar-default.json",	   "validation-failed.json", "native-sidecar-dual-stack.json",
	"tproxy-dns.json",	   "gateway.json",	     "legacy-istio-init.json",
	"inject-label-false.json", "no-sidecar.json",
};

static void test_all_fixtures_decode(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
		struct pod_info *p = decode_fixture(fixtures[i]);
		assert_non_null(p);
		assert_null(pod_info_free(p));
	}
	assert_null(pod_info_free(NULL));
}

/* The proxy found first in initContainers wins over one in containers. */
static void test_proxy_init_first(void **state)
{
	const char *doc =
		"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{"
		"\"containers\":[{\"name\":\"istio-proxy\",\"args\":[\"proxy\",\"router\"]}],"
		"\"initContainers\":[{\"name\":\"istio-proxy\",\"args\":[\"proxy\",\"sidecar\"],"
		"\"env\":[{\"name\":\"A\",\"value\":\"1\"},{\"name\":\"A\",\"value\":\"2\"},"
		"{\"name\":\"B\"}],\"securityContext\":{\"runAsUser\":0}}]}}";
	json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(j);
	struct pod_info *p = NULL;
	assert_int_equal(pod_info_from_json(j, &p, NULL), 0);
	json_decref(j);
	assert_true(p->proxy_is_init);
	assert_string_equal(p->proxy_args[1], "sidecar");
	assert_string_equal(pod_info_proxy_env(p, "A"), "2");
	assert_string_equal(pod_info_proxy_env(p, "B"), "");
	assert_true(p->proxy_run_as_user_set);
	assert_int_equal(p->proxy_run_as_user, 0);
	assert_false(p->proxy_run_as_group_set);
	assert_null(p->pod_ip);
	assert_null(p->uid);
	pod_info_free(p);
}

/* Nulls are read as absent: some clients write them for empty fields. */
static void test_nulls_are_absent(void **state)
{
	const char *doc =
		"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\",\"labels\":null,"
		"\"annotations\":null,\"uid\":null},\"spec\":{\"initContainers\":null,"
		"\"containers\":[{\"name\":\"istio-proxy\",\"env\":null,\"args\":null,"
		"\"securityContext\":null}]},\"status\":{\"podIP\":null,\"podIPs\":null}}";
	json_t *j = json_loads(doc, 0, NULL);
	assert_non_null(j);
	struct pod_info *p = NULL;
	assert_int_equal(pod_info_from_json(j, &p, NULL), 0);
	json_decref(j);
	assert_true(p->has_proxy);
	assert_int_equal(p->n_labels, 0);
	assert_int_equal(p->n_proxy_env, 0);
	pod_info_free(p);
}

struct bad_case {
	const char *doc;
	const char *path; /* expected in the message */
};

static const struct bad_case bad_cases[] = {
	{"[]", "(root)"},
	{"{}", "metadata: missing"},
	{"{\"metadata\":[]}", "metadata: expected object, got array"},
	{"{\"metadata\":{\"name\":\"p\"}}", "metadata.namespace: missing"},
	{"{\"metadata\":{\"namespace\":\"n\"}}", "metadata.name: missing"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":7}}",
	 "metadata.name: expected string, got integer"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\",\"labels\":{\"a\":1}}}",
	 "metadata.labels[\"a\"]: expected string, got integer"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\",\"annotations\":\"x\"}}",
	 "metadata.annotations: expected object, got string"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":[]}",
	 "spec: expected object"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"containers\":{}}}",
	 "spec.containers: expected array, got object"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"containers\":[1]}}",
	 "spec.containers[0]: expected object, got integer"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"containers\":[{}]}}",
	 "spec.containers[0].name: missing"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"containers\":[{\"name\":\"a\"},"
	 "{\"name\":\"istio-proxy\",\"env\":[{\"name\":true}]}]}}",
	 "spec.containers[1].env[0].name: expected string, got boolean"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"containers\":["
	 "{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"A\",\"value\":1.5}]}]}}",
	 "spec.containers[0].env[0].value: expected string, got number"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"containers\":["
	 "{\"name\":\"istio-proxy\",\"args\":[\"proxy\",2]}]}}",
	 "spec.containers[0].args[1]: expected string"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"initContainers\":["
	 "{\"name\":\"istio-proxy\",\"securityContext\":{\"runAsUser\":\"1337\"}}]}}",
	 "spec.initContainers[0].securityContext.runAsUser: expected integer, got string"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"spec\":{\"initContainers\":["
	 "{\"name\":\"istio-proxy\",\"securityContext\":{\"runAsGroup\":1.0}}]}}",
	 "securityContext.runAsGroup: expected integer, got number"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"status\":{\"podIP\":1}}",
	 "status.podIP: expected string"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"status\":{\"podIPs\":[{\"ip\":null}]}}",
	 "status.podIPs[0].ip: missing"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"status\":{\"initContainerStatuses\":"
	 "[{\"name\":\"v\",\"lastState\":{\"terminated\":{\"exitCode\":\"126\"}}}]}}",
	 "status.initContainerStatuses[0].lastState.terminated.exitCode: expected integer"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\"},\"status\":{\"initContainerStatuses\":"
	 "[{\"name\":\"v\",\"state\":{\"terminated\":{\"exitCode\":4294967296}}}]}}",
	 "exitCode: 4294967296 out of range"},
	{"{\"metadata\":{\"namespace\":\"n\",\"name\":\"p\\u0000x\"}}", "string contains NUL"},
};

static void test_bad_shapes(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(bad_cases); i++) {
		json_error_t jerr;
		json_t *j = json_loads(bad_cases[i].doc, JSON_ALLOW_NUL, &jerr);
		if (!j)
			fail_msg("case %zu does not parse: %s", i, jerr.text);
		struct pod_info *p = NULL;
		struct error err = {0};
		int r = pod_info_from_json(j, &p, &err);
		json_decref(j);
		if (r != -EINVAL)
			fail_msg("case %zu: r=%d", i, r);
		assert_null(p);
		assert_int_equal(err.kind, ERR_DECODE);
		if (!strstr(err.msg, bad_cases[i].path))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
				 bad_cases[i].path);
	}
}

static void test_too_many_items(void **state)
{
	json_t *pod = json_pack("{s:{s:s,s:s}}", "metadata", "namespace", "n", "name", "p");
	json_t *spec = json_object();
	json_t *arr = json_array();
	for (int i = 0; i <= POD_INFO_MAX_ITEMS; i++)
		assert_int_equal(json_array_append_new(arr, json_pack("{s:s}", "name", "c")), 0);
	assert_int_equal(json_object_set_new(spec, "containers", arr), 0);
	assert_int_equal(json_object_set_new(pod, "spec", spec), 0);

	struct pod_info *p = NULL;
	struct error err = {0};
	assert_int_equal(pod_info_from_json(pod, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "spec.containers: more than"));

	/* An oversized annotation value. */
	json_array_clear(arr);
	size_t big = POD_INFO_MAX_STRING + 1;
	char *s = malloc(big + 1);
	assert_non_null(s);
	memset(s, 'a', big);
	s[big] = '\0';
	json_t *meta = json_object_get(pod, "metadata");
	assert_int_equal(json_object_set_new(meta, "annotations", json_pack("{s:s}", "k", s)), 0);
	free(s);
	error_clear(&err);
	assert_int_equal(pod_info_from_json(pod, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "too long"));
	json_decref(pod);
}

/* phase, hostNetwork and deletionTimestamp: what the agent's audit filters on. */
static void test_state_fields(void **state)
{
	(void)state;
	_cleanup_(pod_info_freep) struct pod_info *p = decode_fixture("sidecar-default.json");
	assert_string_equal(p->phase, "Running");
	assert_true(pod_info_is_running(p));
	assert_false(p->host_network);
	assert_false(p->terminating);

	json_t *pod = json_pack("{s:{s:s,s:s,s:s},s:{s:b},s:{s:s}}", "metadata", "namespace", "a",
				"name", "b", "deletionTimestamp", "2026-12-05T10:00:00Z", "spec",
				"hostNetwork", 1, "status", "phase", "Pending");
	assert_non_null(pod);
	struct error err = {0};
	_cleanup_(pod_info_freep) struct pod_info *q = NULL;
	assert_int_equal(pod_info_from_json(pod, &q, &err), 0);
	assert_true(q->host_network);
	assert_true(q->terminating);
	assert_false(pod_info_is_running(q));
	json_decref(pod);

	pod = json_pack("{s:{s:s,s:s},s:{s:i}}", "metadata", "namespace", "a", "name", "b", "spec",
			"hostNetwork", 1);
	assert_non_null(pod);
	_cleanup_(pod_info_freep) struct pod_info *r = NULL;
	assert_int_equal(pod_info_from_json(pod, &r, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "spec.hostNetwork"));
	json_decref(pod);
}

/* A copy owns everything: freeing the original leaves it whole. */
static void test_dup(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
		struct pod_info *p = decode_fixture(fixtures[i]);
		_cleanup_(pod_info_freep) struct pod_info *d = NULL;
		assert_int_equal(pod_info_dup(p, &d), 0);
		char *ns = strdup(p->namespace);
		size_t n_ann = p->n_annotations, n_env = p->n_proxy_env,
		       n_init = p->n_init_statuses, n_ips = p->n_pod_ips;
		p = pod_info_free(p);
		assert_string_equal(d->namespace, ns);
		free(ns);
		assert_int_equal(d->n_annotations, n_ann);
		assert_int_equal(d->n_proxy_env, n_env);
		assert_int_equal(d->n_init_statuses, n_init);
		assert_int_equal(d->n_pod_ips, n_ips);
		for (size_t k = 0; k < d->n_annotations; k++)
			assert_non_null(pod_info_annotation(d, d->annotations[k].key));
		for (size_t k = 0; k < d->n_init_statuses; k++)
			assert_non_null(d->init_statuses[k].name);
	}
}

/* pod_info_to_json decodes back to an equal pod_info, for every fixture. */
/* Text that is no JSON, or JSON that is no Pod: -EINVAL naming where. */
static void test_from_text_errors(void **state)
{
	(void)state;
	struct pod_info *p = NULL;
	struct error err = {0};
	assert_int_equal(pod_info_from_text("{\"metadata\":", 12, &p, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_DECODE);
	assert_non_null(strstr(err.msg, "pod JSON: 1:"));
	assert_null(p);
	struct error err2 = {0};
	assert_int_equal(pod_info_from_text("[1]", 3, &p, &err2), -EINVAL);
	assert_non_null(strstr(err2.msg, "(root)"));
	assert_null(p);
}

static void test_to_json_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < ELEMENTSOF(fixtures); i++) {
		_cleanup_(pod_info_freep) struct pod_info *p = decode_fixture(fixtures[i]);
		json_t *j = NULL;
		assert_int_equal(pod_info_to_json(p, &j), 0);
		_cleanup_(pod_info_freep) struct pod_info *back = NULL;
		struct error err = {0};
		assert_int_equal(pod_info_from_json(j, &back, &err), 0);
		/* And through its text, as the agent's socket carries it. */
		_cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
		json_decref(j);
		assert_non_null(text);
		assert_true(pod_info_equal(p, back));
		_cleanup_(pod_info_freep) struct pod_info *from_text = NULL;
		assert_int_equal(pod_info_from_text(text, strlen(text), &from_text, &err), 0);
		assert_true(pod_info_equal(p, from_text));
		/* And the copy too. */
		_cleanup_(pod_info_freep) struct pod_info *d = NULL;
		assert_int_equal(pod_info_dup(p, &d), 0);
		assert_true(pod_info_equal(p, d));
	}

	/* The rest of the struct: terminating, hostNetwork, run-as ids, a
	 * terminated state without reason, an empty env value. */
	static const char doc[] =
		"{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\",\"deletionTimestamp\":"
		"\"2024-01-01T00:00:00Z\"},\"spec\":{\"hostNetwork\":true,\"containers\":[{"
		"\"name\":\"app\"},{\"name\":\"istio-proxy\",\"env\":[{\"name\":\"X\","
		"\"valueFrom\":{}}],\"securityContext\":{\"runAsUser\":1337,\"runAsGroup\":0}}]},"
		"\"status\":{\"initContainerStatuses\":[{\"name\":\"i\",\"lastState\":{"
		"\"terminated\":{\"exitCode\":126}}}]}}";
	json_t *j = json_loads(doc, 0, NULL);
	assert_non_null(j);
	_cleanup_(pod_info_freep) struct pod_info *p = NULL;
	assert_int_equal(pod_info_from_json(j, &p, NULL), 0);
	json_decref(j);
	assert_true(p->terminating && p->host_network && p->proxy_run_as_group_set);
	assert_int_equal(pod_info_to_json(p, &j), 0);
	_cleanup_(pod_info_freep) struct pod_info *back = NULL;
	assert_int_equal(pod_info_from_json(j, &back, NULL), 0);
	json_decref(j);
	assert_true(pod_info_equal(p, back));
	/* A difference is seen. */
	back->proxy_run_as_user = 1;
	assert_false(pod_info_equal(p, back));
	assert_true(pod_info_equal(NULL, NULL));
	assert_false(pod_info_equal(p, NULL));
	struct pod_info empty = {0};
	assert_int_equal(pod_info_to_json(&empty, &j), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_sidecar),
		cmocka_unit_test(test_validation_failed),
		cmocka_unit_test(test_native_sidecar),
		cmocka_unit_test(test_all_fixtures_decode),
		cmocka_unit_test(test_proxy_init_first),
		cmocka_unit_test(test_nulls_are_absent),
		cmocka_unit_test(test_bad_shapes),
		cmocka_unit_test(test_too_many_items),
		cmocka_unit_test(test_state_fields),
		cmocka_unit_test(test_dup),
		cmocka_unit_test(test_to_json_round_trip),
		cmocka_unit_test(test_from_text_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
