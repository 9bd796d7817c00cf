// SPDX-License-Identifier: Apache-2.0
/* Label and field selectors evaluated on a decoded pod. */
#include <errno.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/pod_info.h"
#include "kube/pod_selector.h"
#include "util/cleanup.h"

static struct pod_info *pod(void)
{
	static const char doc[] =
		"{\"metadata\":{\"namespace\":\"shop\",\"name\":\"api-0\",\"uid\":\"u\","
		"\"labels\":{\"app\":\"api\",\"tier\":\"back\",\"empty\":\"\"}},"
		"\"spec\":{\"nodeName\":\"node-1\"},\"status\":{\"phase\":\"Running\"}}";
	struct pod_info *p = NULL;
	assert_int_equal(pod_info_from_text(doc, strlen(doc), &p, NULL), 0);
	return p;
}

static void test_matches(void **state)
{
	(void)state;
	static const struct {
		const char *labels, *fields;
		bool want;
	} t[] = {
		{NULL, NULL, true},
		{"", "", true},
		{"app=api", NULL, true},
		{"app==api", NULL, true},
		{"app = api", NULL, true},
		{"app=web", NULL, false},
		{"app!=web", NULL, true},
		{"app!=api", NULL, false},
		{"missing!=x", NULL, true},
		{"app", NULL, true},
		{"missing", NULL, false},
		{"!missing", NULL, true},
		{"!app", NULL, false},
		{"empty=", NULL, true},
		{"empty", NULL, true},
		{"app in (web, api)", NULL, true},
		{"app in (web,db)", NULL, false},
		{"missing in (x)", NULL, false},
		{"app notin (web,db)", NULL, true},
		{"app notin (api)", NULL, false},
		{"missing notin (x)", NULL, true},
		{"app=api,tier=back", NULL, true},
		{"app=api,tier in (front,edge)", NULL, false},
		{"tier in (front,back),app", NULL, true},
		{NULL, "spec.nodeName=node-1", true},
		{NULL, "spec.nodeName=node-2", false},
		{NULL, "spec.nodeName!=node-2", true},
		{NULL, "metadata.namespace=shop,metadata.name==api-0", true},
		{NULL, "metadata.namespace!=shop", false},
		{NULL, "status.phase=Running", true},
		{NULL, "status.phase!=Running", false},
		{"app=api", "status.phase=Pending", false},
		{"app=api", "metadata.name=api-0", true},
	};
	_cleanup_(pod_info_freep) struct pod_info *p = pod();
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct pod_selector *s = NULL;
		struct error err = {0};
		assert_int_equal(pod_selector_parse(t[i].labels, t[i].fields, &s, &err), 0);
		if (pod_selector_matches(s, p) != t[i].want)
			fail_msg("labels=%s fields=%s: want %d", t[i].labels ? t[i].labels : "-",
				 t[i].fields ? t[i].fields : "-", t[i].want);
		pod_selector_free(s);
	}
	/* Field phase of a pod without one is "". */
	p->phase = (free(p->phase), NULL);
	struct pod_selector *s = NULL;
	assert_int_equal(pod_selector_parse(NULL, "status.phase=", &s, NULL), 0);
	assert_true(pod_selector_matches(s, p));
	pod_selector_free(s);
	assert_true(pod_selector_matches(NULL, p));
}

static void test_errors(void **state)
{
	(void)state;
	static const struct {
		const char *labels, *fields;
		int want;
	} t[] = {
		{"app in web", NULL, -EINVAL},
		{"app in (web", NULL, -EINVAL},
		{"app in ()", NULL, -EINVAL},
		{"app=a b", NULL, -EINVAL},
		{",", NULL, -EINVAL},
		{"app=api,", NULL, -EINVAL},
		{"=x", NULL, -EINVAL},
		{"app > 1", NULL, -EINVAL},
		{"! ", NULL, -EINVAL},
		{NULL, "spec.nodeName", -EINVAL},
		{NULL, "spec.nodeName in (a)", -EINVAL},
		{NULL, "!spec.nodeName", -EINVAL},
		{NULL, "spec.schedulerName=x", -EOPNOTSUPP},
		{NULL, "status.podIP=10.0.0.1", -EOPNOTSUPP},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct pod_selector *s = NULL;
		struct error err = {0};
		int r = pod_selector_parse(t[i].labels, t[i].fields, &s, &err);
		if (r != t[i].want)
			fail_msg("labels=%s fields=%s: %d, want %d",
				 t[i].labels ? t[i].labels : "-", t[i].fields ? t[i].fields : "-",
				 r, t[i].want);
		assert_null(s);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_true(err.msg[0] != '\0');
	}
}

static void test_field_equals(void **state)
{
	(void)state;
	struct pod_selector *s = NULL;
	assert_int_equal(pod_selector_parse("app=x", "metadata.namespace!=a,spec.nodeName=n1", &s,
					    NULL),
			 0);
	assert_string_equal(pod_selector_field_equals(s, "spec.nodeName"), "n1");
	assert_null(pod_selector_field_equals(s, "metadata.namespace"));
	assert_null(pod_selector_field_equals(s, "app"));
	pod_selector_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_field_equals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
