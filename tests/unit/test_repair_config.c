// SPDX-License-Identifier: Apache-2.0
/* REPAIR_* settings, action precedence, the token bucket and the backoff. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/pod_info.h"
#include "kube/pod_selector.h"
#include "repair.h"
#include "util/strv.h"

static void test_defaults(void **state)
{
	(void)state;
	const char *env[] = {"UNRELATED=1", NULL};
	struct repair_config c;
	struct error err = {0};
	assert_int_equal(repair_config_from_env(env, &c, &err), 0);
	assert_true(c.enabled);
	assert_false(c.repair_pods);
	assert_false(c.delete_pods);
	assert_false(c.label_pods);
	assert_true(c.run_as_daemon);
	assert_string_equal(c.node_name, "");
	assert_string_equal(c.sidecar_annotation, "sidecar.istio.io/status");
	assert_string_equal(c.init_container_name, "istio-validation");
	assert_string_equal(c.init_container_termination_message, "");
	assert_int_equal(c.init_container_exit_code, 126);
	assert_string_equal(c.label_selectors, "");
	assert_string_equal(c.field_selectors, "");
	assert_string_equal(c.broken_pod_label_key, "cni.istio.io/uninitialized");
	assert_string_equal(c.broken_pod_label_value, "true");
	assert_string_equal(c.host_proc_dir, "/host/proc");
	assert_int_equal(c.rate_limit, 10);
	assert_int_equal(c.rate_burst, 100);
	assert_int_equal(repair_action_for(&c), REPAIR_ACTION_NONE);
	char *fs = NULL;
	assert_int_equal(repair_field_selector(&c, &fs), 0);
	assert_string_equal(fs, ""); /* no node name: every node, as 1.7 */
	free(fs);
	repair_config_done(&c);
}

static void test_values(void **state)
{
	(void)state;
	const char *env[] = {
		"REPAIR_ENABLED=false",
		"REPAIR_DELETE_PODS=True",
		"REPAIR_LABEL_PODS=1",
		"REPAIR_RUN_AS_DAEMON=f",
		"REPAIR_NODE_NAME=node-7",
		"REPAIR_SIDECAR_ANNOTATION=x.io/status",
		"REPAIR_INIT_CONTAINER_NAME=check",
		"REPAIR_INIT_CONTAINER_TERMINATION_MESSAGE=boom",
		"REPAIR_INIT_CONTAINER_EXIT_CODE=0",
		"REPAIR_LABEL_SELECTORS= app=a, tier!=db ",
		"REPAIR_FIELD_SELECTORS=metadata.namespace=default,,status.phase!=Running ",
		"REPAIR_BROKEN_POD_LABEL_KEY=example.com/broken",
		"REPAIR_BROKEN_POD_LABEL_VALUE=yes",
		"HOST_PROC_DIR=/proc",
		"REPAIR_RATE_LIMIT=50",
		"REPAIR_RATE_BURST=7",
		NULL,
	};
	struct repair_config c;
	struct error err = {0};
	assert_int_equal(repair_config_from_env(env, &c, &err), 0);
	assert_false(c.enabled);
	assert_true(c.delete_pods);
	assert_true(c.label_pods);
	assert_false(c.run_as_daemon);
	assert_string_equal(c.node_name, "node-7");
	assert_string_equal(c.sidecar_annotation, "x.io/status");
	assert_string_equal(c.init_container_name, "check");
	assert_string_equal(c.init_container_termination_message, "boom");
	assert_int_equal(c.init_container_exit_code, 0);
	assert_string_equal(c.label_selectors, "app=a, tier!=db");
	assert_string_equal(c.field_selectors, "metadata.namespace=default,status.phase!=Running");
	assert_string_equal(c.broken_pod_label_key, "example.com/broken");
	assert_string_equal(c.broken_pod_label_value, "yes");
	assert_string_equal(c.host_proc_dir, "/proc");
	assert_int_equal(c.rate_limit, 50);
	assert_int_equal(c.rate_burst, 7);
	assert_int_equal(repair_action_for(&c), REPAIR_ACTION_DELETE);
	char *fs = NULL;
	assert_int_equal(repair_field_selector(&c, &fs), 0);
	assert_string_equal(
		fs, "metadata.namespace=default,status.phase!=Running,spec.nodeName=node-7");
	free(fs);
	repair_config_done(&c);
}

static void test_invalid(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		const char *var;
		const char *name;
	} t[] = {
		{"REPAIR_ENABLED=yes", "REPAIR_ENABLED"},
		{"REPAIR_REPAIR_PODS=on", "REPAIR_REPAIR_PODS"},
		{"REPAIR_DELETE_PODS=2", "REPAIR_DELETE_PODS"},
		{"REPAIR_LABEL_PODS=truee", "REPAIR_LABEL_PODS"},
		{"REPAIR_RUN_AS_DAEMON=Y", "REPAIR_RUN_AS_DAEMON"},
		{"REPAIR_INIT_CONTAINER_EXIT_CODE=-1", "REPAIR_INIT_CONTAINER_EXIT_CODE"},
		{"REPAIR_INIT_CONTAINER_EXIT_CODE=256", "REPAIR_INIT_CONTAINER_EXIT_CODE"},
		{"REPAIR_INIT_CONTAINER_EXIT_CODE=12a", "REPAIR_INIT_CONTAINER_EXIT_CODE"},
		{"REPAIR_RATE_LIMIT=0", "REPAIR_RATE_LIMIT"},
		{"REPAIR_RATE_LIMIT=ten", "REPAIR_RATE_LIMIT"},
		{"REPAIR_RATE_BURST=0", "REPAIR_RATE_BURST"},
		{"REPAIR_RATE_BURST=100001", "REPAIR_RATE_BURST"},
		{"REPAIR_NODE_NAME=a,b", "REPAIR_NODE_NAME"},
		{"REPAIR_NODE_NAME=a b", "REPAIR_NODE_NAME"},
		{"REPAIR_LABEL_SELECTORS=app=a,tier in (a b)", "REPAIR_LABEL_SELECTORS"},
		{"REPAIR_LABEL_SELECTORS=app in (a,b", "REPAIR_LABEL_SELECTORS"},
		{"REPAIR_LABEL_SELECTORS=app=a,,tier!=db", "REPAIR_LABEL_SELECTORS"},
		{"REPAIR_LABEL_SELECTORS=app=a,", "REPAIR_LABEL_SELECTORS"},
		{"REPAIR_FIELD_SELECTORS=spec.x = y", "REPAIR_FIELD_SELECTORS"},
		{"REPAIR_BROKEN_POD_LABEL_KEY=bad key", "REPAIR_BROKEN_POD_LABEL_KEY"},
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		const char *env[] = {t[i].var, NULL};
		struct repair_config c = {.rate_limit = 4242};
		struct error err = {0};
		int r = repair_config_from_env(env, &c, &err);
		if (r != -EINVAL)
			fail_msg("%s: got %d", t[i].var, r);
		assert_int_equal(err.kind, ERR_CONFIG);
		if (!strstr(err.msg, t[i].name))
			fail_msg("%s: the message does not name the variable: %s", t[i].var,
				 err.msg);
		assert_int_equal(c.rate_limit, 4242); /* untouched on failure */
	}
}

static void test_precedence(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		bool repair, del, label;
		enum repair_action want;
	} t[] = {
		{false, false, false, REPAIR_ACTION_NONE},
		{true, true, true, REPAIR_ACTION_REPAIR},
		{true, false, false, REPAIR_ACTION_REPAIR},
		{false, true, true, REPAIR_ACTION_DELETE},
		{false, false, true, REPAIR_ACTION_LABEL},
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct repair_config c = {.repair_pods = t[i].repair,
					  .delete_pods = t[i].del,
					  .label_pods = t[i].label};
		assert_int_equal(repair_action_for(&c), t[i].want);
	}
	assert_string_equal(repair_action_to_string(REPAIR_ACTION_REPAIR), "repair");
	assert_string_equal(repair_action_to_string(REPAIR_ACTION_DELETE), "delete");
	assert_string_equal(repair_action_to_string(REPAIR_ACTION_LABEL), "label");
}

static void test_bucket(void **state)
{
	(void)state;
	struct repair_bucket b;
	/* 10/s, burst 3: three at once, then one per 100 ms. */
	repair_bucket_init(&b, 10, 3, 1000);
	for (int i = 0; i < 3; i++)
		assert_int_equal(repair_bucket_take(&b, 1, 1000), 0);
	uint64_t w = repair_bucket_take(&b, 1, 1000);
	assert_true(w >= 100 && w <= 101);
	assert_true(repair_bucket_take(&b, 1, 1050) > 0);
	assert_int_equal(repair_bucket_take(&b, 1, 1100), 0);
	/* Idle time refills up to the burst only. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(repair_bucket_take(&b, 1, 100000), 0);
	assert_true(repair_bucket_take(&b, 1, 100000) > 0);
	/* Two at once (an action and its Event). */
	repair_bucket_init(&b, 10, 3, 0);
	assert_int_equal(repair_bucket_take(&b, 2, 0), 0);
	w = repair_bucket_take(&b, 2, 0);
	assert_true(w >= 100 && w <= 101);
	assert_int_equal(repair_bucket_take(&b, 2, 100), 0);
	/* More than the burst is capped at the burst. */
	repair_bucket_init(&b, 10, 1, 0);
	assert_int_equal(repair_bucket_take(&b, 2, 0), 0);
	/* Over any window, at most burst + rate * window. */
	repair_bucket_init(&b, 100, 5, 0);
	unsigned taken = 0;
	for (uint64_t t = 0; t <= 10000; t++)
		while (repair_bucket_take(&b, 1, t) == 0)
			taken++;
	assert_true(taken <= 5 + 100 * 10 && taken >= 100 * 10);
}

static void test_backoff(void **state)
{
	(void)state;
	static const uint64_t want[] = {200, 200, 400, 800, 1600, 3200};
	for (unsigned i = 0; i < ELEMENTSOF(want); i++)
		assert_int_equal(repair_backoff_ms(i), want[i]);
	assert_int_equal(repair_backoff_ms(30), REPAIR_BACKOFF_MAX_MS);
}

static struct pod_info *pod_labelled(const char *labels_json)
{
	char doc[256];
	(void)snprintf(doc, sizeof(doc),
		       "{\"metadata\":{\"namespace\":\"ns\",\"name\":\"p\",\"uid\":\"u\","
		       "\"labels\":%s}}",
		       labels_json);
	struct pod_info *p = NULL;
	assert_int_equal(pod_info_from_text(doc, strlen(doc), &p, NULL), 0);
	return p;
}

/*
 * A label selector in set syntax is one selector: the comma inside the
 * parentheses separates values, not requirements.
 */
static void test_label_selector_set_syntax(void **state)
{
	(void)state;
	const char *env[] = {"REPAIR_LABEL_SELECTORS=app in (a,b),tier!=db", NULL};
	struct repair_config c;
	struct error err = {0};
	if (repair_config_from_env(env, &c, &err) != 0)
		fail_msg("%s", err.msg);
	assert_string_equal(c.label_selectors, "app in (a,b),tier!=db");

	_cleanup_(pod_selector_freep) struct pod_selector *sel = NULL;
	assert_int_equal(pod_selector_parse(c.label_selectors, c.field_selectors, &sel, &err), 0);
	static const struct {
		const char *labels;
		bool want;
	} t[] = {
		{"{\"app\":\"a\",\"tier\":\"web\"}", true},
		{"{\"app\":\"b\"}", true},
		{"{\"app\":\"a\",\"tier\":\"db\"}", false},
		{"{\"app\":\"c\",\"tier\":\"web\"}", false},
		{"{\"tier\":\"web\"}", false},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct pod_info *p = pod_labelled(t[i].labels);
		if (pod_selector_matches(sel, p) != t[i].want)
			fail_msg("%s: expected %s", t[i].labels,
				 t[i].want ? "a match" : "no match");
		(void)pod_info_free(p);
	}
	repair_config_done(&c);
}

/* Istio 1.7's repair-cni container: its env spelling, its flags. */
static void test_istio_1_7(void **state)
{
	(void)state;
	const char *env[] = {
		"REPAIR_NODE-NAME=node-3",
		"REPAIR_LABEL-PODS=true",
		"REPAIR_DELETE-PODS=true",
		"REPAIR_RUN-AS-DAEMON=true",
		"REPAIR_SIDECAR-ANNOTATION=sidecar.istio.io/status",
		"REPAIR_INIT-CONTAINER-NAME=istio-validation",
		"REPAIR_INIT-CONTAINER-TERMINATION-MESSAGE=boom",
		"REPAIR_INIT-CONTAINER-EXIT-CODE=7",
		"REPAIR_BROKEN-POD-LABEL-KEY=cni.istio.io/uninitialized",
		"REPAIR_BROKEN-POD-LABEL-VALUE=yes",
		"REPAIR_LABEL-SELECTORS=app=a",
		"REPAIR_FIELD-SELECTORS=metadata.namespace=default",
		NULL,
	};
	struct repair_config c;
	struct error err = {0};
	assert_int_equal(repair_config_from_env(env, &c, &err), 0);
	assert_true(c.delete_pods);
	assert_true(c.label_pods);
	assert_true(c.run_as_daemon);
	assert_string_equal(c.node_name, "node-3");
	assert_string_equal(c.sidecar_annotation, "sidecar.istio.io/status");
	assert_string_equal(c.init_container_name, "istio-validation");
	assert_string_equal(c.init_container_termination_message, "boom");
	assert_int_equal(c.init_container_exit_code, 7);
	assert_string_equal(c.broken_pod_label_key, "cni.istio.io/uninitialized");
	assert_string_equal(c.broken_pod_label_value, "yes");
	assert_string_equal(c.label_selectors, "app=a");
	assert_string_equal(c.field_selectors, "metadata.namespace=default");
	/* 1.7: delete wins over label. */
	assert_int_equal(repair_action_for(&c), REPAIR_ACTION_DELETE);
	repair_config_done(&c);

	/* Flags win over both spellings; pflag forms. */
	static char prog[] = "istio-cni-repair", a1[] = "--delete-pods=false",
		    a2[] = "--label-pods", a3[] = "--node-name", a4[] = "node-9",
		    a5[] = "--init-container-exit-code=0",
		    a6[] = "--repair-broken-pod-label-value=flag", a7[] = "--run-as-daemon=0";
	char *argv[] = {prog, a1, a2, a3, a4, a5, a6, a7};
	char **flags = NULL;
	size_t n = 0;
	assert_int_equal(repair_config_flags(ELEMENTSOF(argv), argv, &flags, &n, &err), 0);
	assert_int_equal(n, 6);
	assert_string_equal(flags[0], "REPAIR_DELETE_PODS=false");
	assert_string_equal(flags[1], "REPAIR_LABEL_PODS=true");
	assert_string_equal(flags[2], "REPAIR_NODE_NAME=node-9");
	const char *env2[] = {"REPAIR_DELETE_PODS=true", "REPAIR_DELETE-PODS=true", NULL};
	assert_int_equal(repair_config_parse((const char *const *)flags, n, env2, &c, &err), 0);
	assert_false(c.delete_pods);
	assert_true(c.label_pods);
	assert_false(c.run_as_daemon);
	assert_string_equal(c.node_name, "node-9");
	assert_int_equal(c.init_container_exit_code, 0);
	assert_string_equal(c.broken_pod_label_value, "flag");
	assert_int_equal(repair_action_for(&c), REPAIR_ACTION_LABEL);
	repair_config_done(&c);
	assert_true(repair_config_is_set((const char *const *)flags, n, env2, "REPAIR_NODE_NAME"));
	strv_free(flags, n);

	/* Whether a setting is given, in any spelling. */
	const char *env3[] = {"REPAIR_RUN-AS-DAEMON=true", NULL};
	assert_true(repair_config_is_set(NULL, 0, env3, "REPAIR_RUN_AS_DAEMON"));
	const char *env4[] = {"REPAIR_RUN_AS_DAEMON=true", NULL};
	assert_true(repair_config_is_set(NULL, 0, env4, "REPAIR_RUN_AS_DAEMON"));
	const char *env5[] = {"REPAIR_DELETE-PODS=true", NULL};
	assert_false(repair_config_is_set(NULL, 0, env5, "REPAIR_RUN_AS_DAEMON"));

	/* The two spellings disagreeing refuse start-up naming both. */
	const char *env6[] = {"REPAIR_DELETE_PODS=true", "REPAIR_DELETE-PODS=false", NULL};
	err = (struct error){0};
	assert_int_equal(repair_config_from_env(env6, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "REPAIR_DELETE_PODS"));
	assert_non_null(strstr(err.msg, "REPAIR_DELETE-PODS"));

	/* A bad value in the hyphen spelling is reported under that name. */
	const char *env7[] = {"REPAIR_DELETE-PODS=sure", NULL};
	err = (struct error){0};
	assert_int_equal(repair_config_from_env(env7, &c, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "REPAIR_DELETE-PODS=\"sure\""));

	/* Unknown arguments and missing values. */
	static char b1[] = "--delete-everything", b2[] = "positional", b3[] = "--node-name",
		    b4[] = "-delete-pods";
	char *bad[] = {b1, b2, b3, b4};
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		char *argv2[] = {prog, bad[i]};
		err = (struct error){0};
		flags = NULL;
		n = 0;
		assert_int_equal(repair_config_flags(2, argv2, &flags, &n, &err), -EINVAL);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_non_null(strstr(err.msg, bad[i]));
		assert_null(flags);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),  cmocka_unit_test(test_values),
		cmocka_unit_test(test_invalid),	  cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_bucket),	  cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_istio_1_7), cmocka_unit_test(test_label_selector_set_syntax),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
