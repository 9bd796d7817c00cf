// SPDX-License-Identifier: Apache-2.0
/* The pure parts of capture.h: skip decisions, plans, drift names, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "capture/capture.h"
#include "kube/pod_info.h"
#include "util/error.h"
#include "util/istio_names.h"

/* A pod from JSON text; the test fails when it does not decode. */
static struct pod_info *pod_of(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, 0, &je);
	if (!j)
		fail_msg("bad test JSON: %s", je.text);
	struct pod_info *p = NULL;
	struct error err = {0};
	if (pod_info_from_json(j, &p, &err) < 0)
		fail_msg("pod_info_from_json: %s", err.msg);
	json_decref(j);
	return p;
}

#define POD_HEAD "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"p\",\"annotations\":{"
#define STATUS_ANN "\"" ANN_STATUS "\":\"{}\""
#define CONTAINERS                                                                                 \
	"\"spec\":{\"containers\":[{\"name\":\"app\"},{\"name\":\"istio-proxy\","                  \
	"\"args\":[\"proxy\",\"sidecar\"]}],\"initContainers\":[{\"name\":\"istio-"                \
	"validation\"}]}"

static const char meshed[] = POD_HEAD STATUS_ANN "}}," CONTAINERS "}";

static void test_plan_captured(void **state)
{
	(void)state;
	_cleanup_(pod_info_freep) struct pod_info *p = pod_of(meshed);
	enum redirect_skip skip = _REDIRECT_SKIP_MAX;
	struct redirect_plan plan = {0};
	struct error err = {0};
	assert_int_equal(capture_plan(p, false, &skip, &plan, &err), 0);
	assert_int_equal(skip, REDIRECT_CAPTURE);
	assert_false(plan.ipv6);
	assert_true(plan.fam[PLAN_V4].n > 0);
	assert_int_equal(plan.fam[PLAN_V6].n, 0);
	redirect_plan_done(&plan);

	assert_int_equal(capture_plan(p, true, &skip, &plan, &err), 0);
	assert_true(plan.ipv6);
	assert_true(plan.fam[PLAN_V6].n > 0);
	redirect_plan_done(&plan);
}

static void test_plan_skips(void **state)
{
	(void)state;
	static const struct {
		const char *pod;
		enum redirect_skip want;
	} cases[] = {
		{POD_HEAD "}}," CONTAINERS "}", REDIRECT_SKIP_NO_STATUS},
		{POD_HEAD STATUS_ANN ",\"" ANN_INJECT "\":\"false\"}}," CONTAINERS "}",
		 REDIRECT_SKIP_INJECT_DISABLED},
		{POD_HEAD STATUS_ANN "}},\"spec\":{\"containers\":[{\"name\":\"app\"}]}}",
		 REDIRECT_SKIP_NO_PROXY},
		{POD_HEAD STATUS_ANN "}},\"spec\":{\"containers\":[{\"name\":\"istio-proxy\","
				     "\"args\":[\"proxy\",\"router\"]}]}}",
		 REDIRECT_SKIP_NOT_SIDECAR},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		_cleanup_(pod_info_freep) struct pod_info *p = pod_of(cases[i].pod);
		enum redirect_skip skip = REDIRECT_CAPTURE;
		struct redirect_plan plan = {.ipv6 = true}; /* untouched when skipped */
		struct error err = {0};
		assert_int_equal(capture_plan(p, false, &skip, &plan, &err), 1);
		assert_int_equal(skip, cases[i].want);
		assert_true(plan.ipv6);
		assert_int_equal(plan.fam[PLAN_V4].n, 0);
	}
}

static void test_plan_invalid_annotation(void **state)
{
	(void)state;
	_cleanup_(pod_info_freep) struct pod_info *p = pod_of(POD_HEAD STATUS_ANN
							      ",\"" ANN_EXCLUDE_INBOUND_PORTS
							      "\":\"http\"}}," CONTAINERS "}");
	enum redirect_skip skip = _REDIRECT_SKIP_MAX;
	struct redirect_plan plan = {0};
	struct error err = {0};
	assert_int_equal(capture_plan(p, false, &skip, &plan, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_non_null(strstr(err.msg, ANN_EXCLUDE_INBOUND_PORTS));

	/* apply refuses it before touching any netns (the path does not exist) */
	struct error err2 = {0};
	struct capture_outcome out = {0};
	assert_int_equal(capture_apply(p, "/nonexistent/netns", NULL, &out, &err2), -EINVAL);
	assert_int_equal(err2.kind, ERR_CONFIG);
}

static void test_skipped_apply_touches_nothing(void **state)
{
	(void)state;
	_cleanup_(pod_info_freep) struct pod_info *p = pod_of(POD_HEAD "}}," CONTAINERS "}");
	struct capture_outcome out = {0};
	struct error err = {0};
	/* A skipped pod never opens the netns: a missing one is no error. */
	assert_int_equal(capture_apply(p, "/nonexistent/netns", NULL, &out, &err), 1);
	assert_int_equal(out.skip, REDIRECT_SKIP_NO_STATUS);
}

static void test_remove_missing_netns(void **state)
{
	(void)state;
	struct error err = {0};
	assert_int_equal(capture_remove("/nonexistent/netns", NULL, &err), 0);
}

static void test_drift_to_string(void **state)
{
	(void)state;
	assert_string_equal(capture_drift_to_string(CAPTURE_DRIFT_NONE), "none");
	assert_string_equal(capture_drift_to_string(CAPTURE_DRIFT_MISSING), "missing");
	assert_string_equal(capture_drift_to_string(CAPTURE_DRIFT_CHANGED), "changed");
	assert_string_equal(capture_drift_to_string(CAPTURE_DRIFT_UNEXPECTED), "unexpected");
	assert_string_equal(capture_drift_to_string(_CAPTURE_DRIFT_MAX), "unknown");
}

static void test_ipv6_from_pod(void **state)
{
	(void)state;
	static const struct {
		const char *ips;
		const char *dual;
		bool want;
	} cases[] = {
		{"[\"10.0.0.1\"]", NULL, false},
		{"[\"fd00::1\"]", NULL, true},
		{"[\"169.254.0.1\",\"fd00::1\"]", NULL, true}, /* link-local skipped */
		{"[\"10.0.0.1\",\"fd00::1\"]", NULL, false},   /* first usable decides */
		{"[\"10.0.0.1\",\"fd00::1\"]", "true", true},  /* dual stack: any IPv6 */
		{"[]", NULL, false},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char text[1024];
		(void)snprintf(text, sizeof(text),
			       "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"p\"},"
			       "\"spec\":{\"containers\":[{\"name\":\"istio-proxy\",\"env\":[{"
			       "\"name\":\"%s\",\"value\":\"%s\"}]}]},\"status\":{\"podIPs\":%s}}",
			       PROXY_ENV_DUAL_STACK, cases[i].dual ? cases[i].dual : "false",
			       cases[i].ips);
		/* podIPs is a list of {ip: ...} objects in the API */
		json_t *j = json_loads(text, 0, NULL);
		assert_non_null(j);
		json_t *list = json_array();
		size_t k;
		json_t *v;
		json_array_foreach (json_object_get(json_object_get(j, "status"), "podIPs"), k, v)
			json_array_append_new(list, json_pack("{s:O}", "ip", v));
		json_object_set_new(json_object_get(j, "status"), "podIPs", list);
		struct pod_info *p = NULL;
		struct error err = {0};
		assert_int_equal(pod_info_from_json(j, &p, &err), 0);
		json_decref(j);
		bool ipv6 = !cases[i].want;
		assert_int_equal(capture_ipv6_from_pod(p, &ipv6), 0);
		assert_int_equal(ipv6, cases[i].want);
		pod_info_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan_captured),
		cmocka_unit_test(test_plan_skips),
		cmocka_unit_test(test_plan_invalid_annotation),
		cmocka_unit_test(test_skipped_apply_touches_nothing),
		cmocka_unit_test(test_remove_missing_netns),
		cmocka_unit_test(test_drift_to_string),
		cmocka_unit_test(test_ipv6_from_pod),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
