// SPDX-License-Identifier: Apache-2.0
/* Broken-pod detection (Istio's test), table-driven over pod JSON. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kube/pod_info.h"
#include "repair.h"

#define ANN "\"annotations\":{\"sidecar.istio.io/status\":\"{}\"}"
#define META(ann) "\"metadata\":{\"namespace\":\"default\",\"name\":\"p\",\"uid\":\"u\"" ann "}"
#define LAST(code, msg)                                                                            \
	"\"lastState\":{\"terminated\":{\"exitCode\":" #code ",\"reason\":\"Error\",\"message\":"  \
	"\"" msg "\"}}"
#define POD(ann, statuses) "{" META(ann) ",\"status\":{\"initContainerStatuses\":[" statuses "]}}"
#define VALIDATION(rest) "{\"name\":\"istio-validation\"," rest "}"
#define WAITING "\"state\":{\"waiting\":{\"reason\":\"CrashLoopBackOff\"}}"

static void test_detect(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		const char *desc;
		const char *env[6];	/* on top of Istio's defaults */
		const char *pod;
		bool broken;
	} t[] = {
		{"crash-looping validation, 126 in lastState.terminated", {NULL},
		 POD("," ANN, VALIDATION(WAITING "," LAST(126, "")))  , true},
		{"126 only in state.terminated (before the first restart): not yet (Istio reads lastState)",
		 {NULL}, POD("," ANN, VALIDATION("\"state\":{\"terminated\":{\"exitCode\":126,"
						   "\"reason\":\"Error\"}}")), false},
		{"state.terminated 126 and lastState 126", {NULL},
		 POD("," ANN, VALIDATION("\"state\":{\"terminated\":{\"exitCode\":126,\"reason\":"
					 "\"Error\"}}," LAST(126, ""))), true},
		{"other exit code", {NULL}, POD("," ANN, VALIDATION(WAITING "," LAST(1, ""))), false},
		{"validation completed now (earlier failure in lastState)", {NULL},
		 POD("," ANN, VALIDATION("\"state\":{\"terminated\":{\"exitCode\":0,\"reason\":"
					 "\"Completed\"}}," LAST(126, ""))), false},
		{"state.terminated exitCode 0 without the Completed reason", {NULL},
		 POD("," ANN, VALIDATION("\"state\":{\"terminated\":{\"exitCode\":0}}," LAST(126, ""))),
		 false},
		{"state.terminated reason Completed with exitCode 126", {NULL},
		 POD("," ANN, VALIDATION("\"state\":{\"terminated\":{\"exitCode\":126,\"reason\":"
					 "\"Completed\"}}," LAST(126, ""))), false},
		{"no sidecar annotation", {NULL}, POD("", VALIDATION(WAITING "," LAST(126, ""))), false},
		{"no sidecar annotation, but the annotation filter is off",
		 {"REPAIR_SIDECAR_ANNOTATION=", NULL}, POD("", VALIDATION(WAITING "," LAST(126, ""))),
		 true},
		{"custom annotation present", {"REPAIR_SIDECAR_ANNOTATION=x/y", NULL},
		 "{\"metadata\":{\"namespace\":\"d\",\"name\":\"p\",\"annotations\":{\"x/y\":\"\"}},"
		 "\"status\":{\"initContainerStatuses\":[" VALIDATION(LAST(126, "")) "]}}", true},
		{"no init container statuses", {NULL}, "{" META("," ANN) ",\"status\":{}}", false},
		{"another init container failed with 126", {NULL},
		 POD("," ANN, "{\"name\":\"istio-init\"," LAST(126, "") "}"), false},
		{"custom container name", {"REPAIR_INIT_CONTAINER_NAME=check", NULL},
		 POD("," ANN, "{\"name\":\"check\"," LAST(126, "") "}"), true},
		{"custom container name does not match the default one",
		 {"REPAIR_INIT_CONTAINER_NAME=check", NULL}, POD("," ANN, VALIDATION(LAST(126, ""))),
		 false},
		{"empty container name filter: any container", {"REPAIR_INIT_CONTAINER_NAME=", NULL},
		 POD("," ANN, "{\"name\":\"whatever\"," LAST(126, "") "}"), true},
		{"custom exit code", {"REPAIR_INIT_CONTAINER_EXIT_CODE=7", NULL},
		 POD("," ANN, VALIDATION(LAST(7, ""))), true},
		{"custom exit code, 126 no longer matches", {"REPAIR_INIT_CONTAINER_EXIT_CODE=7", NULL},
		 POD("," ANN, VALIDATION(LAST(126, ""))), false},
		{"exit code filter 0: any exit code", {"REPAIR_INIT_CONTAINER_EXIT_CODE=0", NULL},
		 POD("," ANN, VALIDATION(LAST(3, ""))), true},
		{"termination message filter, trimmed match",
		 {"REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE= validation failed ", NULL},
		 POD("," ANN, VALIDATION(LAST(126, "\\nvalidation failed\\t"))), true},
		{"termination message filter, mismatch",
		 {"REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE=validation failed", NULL},
		 POD("," ANN, VALIDATION(LAST(126, "something else"))), false},
		{"termination message filter, no message",
		 {"REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE=validation failed", NULL},
		 POD("," ANN, VALIDATION(LAST(126, ""))), false},
		{"empty message filter matches any message", {NULL},
		 POD("," ANN, VALIDATION(LAST(126, "anything"))), true},
		{"two entries, the second matches", {"REPAIR_INIT_CONTAINER_NAME=", NULL},
		 POD("," ANN, "{\"name\":\"a\",\"state\":{\"terminated\":{\"exitCode\":0}}},"
			      "{\"name\":\"b\"," LAST(126, "") "}"), true},
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct error err = {0};
		struct repair_config cfg;
		assert_int_equal(repair_config_from_env(t[i].env, &cfg, &err), 0);
		json_error_t je;
		json_auto_t *j = json_loads(t[i].pod, 0, &je);
		if (!j)
			fail_msg("%s: bad test JSON: %s", t[i].desc, je.text);
		_cleanup_(pod_info_freep) struct pod_info *p = NULL;
		if (pod_info_from_json(j, &p, &err) < 0)
			fail_msg("%s: %s", t[i].desc, err.msg);
		bool got = repair_pod_is_broken(&cfg, p);
		if (got != t[i].broken)
			fail_msg("%s: got %s, want %s", t[i].desc, got ? "broken" : "not broken",
				 t[i].broken ? "broken" : "not broken");
		repair_config_done(&cfg);
	}
}

static void test_fixture(void **state)
{
	/* The repository's validation-failed pod fixture is broken. */
	(void)state;
	char path[512];
	(void)snprintf(path, sizeof(path), "%s/fixtures/pods/validation-failed.json",
		       TEST_SOURCE_DIR);
	json_error_t je;
	json_auto_t *j = json_load_file(path, 0, &je);
	assert_non_null(j);
	struct error err = {0};
	_cleanup_(pod_info_freep) struct pod_info *p = NULL;
	assert_int_equal(pod_info_from_json(j, &p, &err), 0);
	struct repair_config cfg;
	const char *env[] = {NULL};
	assert_int_equal(repair_config_from_env(env, &cfg, &err), 0);
	assert_true(repair_pod_is_broken(&cfg, p));
	repair_config_done(&cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_fixture),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
