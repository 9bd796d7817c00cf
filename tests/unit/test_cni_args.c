// SPDX-License-Identifier: Apache-2.0
/* CNI_ARGS parsing: libcni's LoadArgs semantics plus Kubernetes name checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cni/cni_args.h"

struct args_case {
	const char *in;
	int expect_r;
	const char *ns, *name, *uid;
	const char *msg; /* substring of the error */
};

static const struct args_case cases[] = {
	{NULL, 0, "", "", "", NULL},
	{"", 0, "", "", "", NULL},
	{"K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-1", 0, "default", "web-1", "", NULL},
	{"IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=0f1e2d3c-aaaa-bbbb-cccc-123456789abc",
	 0, "ns", "p", "0f1e2d3c-aaaa-bbbb-cccc-123456789abc", NULL},
	/* containerd, CRI-O and Multus send IgnoreUnknown in these spellings. */
	{"IgnoreUnknown=true;FOO=bar;K8S_POD_NAMESPACE=a;K8S_POD_NAME=b", 0, "a", "b", "", NULL},
	{"IgnoreUnknown=TRUE;FOO=bar", 0, "", "", "", NULL},
	{"FOO=bar;IgnoreUnknown=1", 0, "", "", "", NULL},
	{"FOO=bar", -EINVAL, NULL, NULL, NULL, "unknown args [FOO]"},
	{"IgnoreUnknown=0;FOO=bar;BAZ=1", -EINVAL, NULL, NULL, NULL, "unknown args [FOO BAZ]"},
	{"IgnoreUnknown=maybe", -EINVAL, NULL, NULL, NULL, "IgnoreUnknown"},
	{"K8S_POD_NAME", -EINVAL, NULL, NULL, NULL, "invalid pair"},
	{"K8S_POD_NAME=a=b", -EINVAL, NULL, NULL, NULL, "invalid pair"},
	{"=x", -EINVAL, NULL, NULL, NULL, "invalid pair"},
	{"K8S_POD_NAME=a;", -EINVAL, NULL, NULL, NULL, "invalid pair"},
	{"k8s_pod_name=a", -EINVAL, NULL, NULL, NULL, "unknown args"}, /* keys are case-sensitive */
	{"K8S_POD_NAMESPACE=Default;K8S_POD_NAME=a", -EINVAL, NULL, NULL, NULL,
	 "K8S_POD_NAMESPACE"},
	{"K8S_POD_NAMESPACE=a;K8S_POD_NAME=../x", -EINVAL, NULL, NULL, NULL, "K8S_POD_NAME"},
	{"K8S_POD_NAMESPACE=a;K8S_POD_NAME=x%2f", -EINVAL, NULL, NULL, NULL, "K8S_POD_NAME"},
	{"K8S_POD_NAMESPACE=a;K8S_POD_NAME=-x", -EINVAL, NULL, NULL, NULL, "K8S_POD_NAME"},
	{"K8S_POD_UID=not a uid", -EINVAL, NULL, NULL, NULL, "K8S_POD_UID"},
	/* podman sends only the name. */
	{"K8S_POD_NAME=web", 0, "", "web", "", NULL},
};

static void test_args_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct args_case *c = &cases[i];
		struct cni_args a;
		struct error err = {0};
		int r = cni_args_parse(c->in, &a, &err);
		print_message("case %zu: %s -> %d %s\n", i, c->in ? c->in : "(null)", r, err.msg);
		assert_int_equal(r, c->expect_r);
		if (r == 0) {
			assert_string_equal(a.pod_namespace, c->ns);
			assert_string_equal(a.pod_name, c->name);
			assert_string_equal(a.pod_uid, c->uid);
		} else {
			assert_int_equal(err.kind, ERR_ENV);
			assert_non_null(strstr(err.msg, c->msg));
		}
	}
}

static void test_too_long(void **state)
{
	char buf[CNI_ARGS_MAX + 16];
	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	struct cni_args a;
	assert_int_equal(cni_args_parse(buf, &a, NULL), -E2BIG);

	char name[400] = "K8S_POD_NAME=";
	memset(name + 13, 'a', 300);
	name[313] = '\0';
	assert_int_equal(cni_args_parse(name, &a, NULL), -E2BIG);
}

static void test_k8s_names(void **state)
{
	assert_true(cni_args_k8s_name_valid("istio-system"));
	assert_true(cni_args_k8s_name_valid("a.b-c9"));
	assert_false(cni_args_k8s_name_valid(""));
	assert_false(cni_args_k8s_name_valid("A"));
	assert_false(cni_args_k8s_name_valid("a_b"));
	assert_false(cni_args_k8s_name_valid("a."));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_table),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_k8s_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
