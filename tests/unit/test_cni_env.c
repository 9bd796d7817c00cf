// SPDX-License-Identifier: Apache-2.0
/* The CNI_* env table: which verb needs which variable, and validation. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cni/cni_env.h"

#define ALL_VARS                                                                                   \
	"CNI_CONTAINERID=abc123", "CNI_NETNS=/var/run/netns/x", "CNI_IFNAME=eth0",                 \
		"CNI_PATH=/opt/cni/bin"

struct env_case {
	const char *name;
	const char *envp[10];
	int expect_r;
	enum error_kind expect_kind;
	const char *expect_msg; /* substring */
};

static const struct env_case cases[] = {
	{"no command", {ALL_VARS, NULL}, -ENOENT, ERR_NONE, NULL},
	{"empty command", {"CNI_COMMAND=", ALL_VARS, NULL}, -ENOENT, ERR_NONE, NULL},
	{"unknown command",
	 {"CNI_COMMAND=GET", ALL_VARS, NULL},
	 -EINVAL,
	 ERR_ENV,
	 "unknown CNI_COMMAND"},
	{"lowercase command", {"CNI_COMMAND=add", ALL_VARS, NULL}, -EINVAL, ERR_ENV, "unknown"},
	{"add complete", {"CNI_COMMAND=ADD", ALL_VARS, NULL}, 0, ERR_NONE, NULL},
	{"add no netns",
	 {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0", "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "[CNI_NETNS]"},
	{"add nothing",
	 {"CNI_COMMAND=ADD", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "[CNI_CONTAINERID CNI_NETNS CNI_IFNAME CNI_PATH] missing"},
	{"add empty value counts as missing",
	 {"CNI_COMMAND=ADD", "CNI_CONTAINERID=", "CNI_NETNS=/n", "CNI_IFNAME=eth0", "CNI_PATH=/x",
	  NULL},
	 -EINVAL,
	 ERR_ENV,
	 "[CNI_CONTAINERID]"},
	{"del without netns",
	 {"CNI_COMMAND=DEL", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0", "CNI_PATH=/x", NULL},
	 0,
	 ERR_NONE,
	 NULL},
	{"del without ifname",
	 {"CNI_COMMAND=DEL", "CNI_CONTAINERID=a", "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "[CNI_IFNAME]"},
	{"check needs netns",
	 {"CNI_COMMAND=CHECK", "CNI_CONTAINERID=a", "CNI_IFNAME=eth0", "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "CNI_NETNS"},
	{"version needs nothing", {"CNI_COMMAND=VERSION", NULL}, 0, ERR_NONE, NULL},
	{"status needs nothing", {"CNI_COMMAND=STATUS", NULL}, 0, ERR_NONE, NULL},
	{"gc needs nothing", {"CNI_COMMAND=GC", NULL}, 0, ERR_NONE, NULL},
	{"status with path", {"CNI_COMMAND=STATUS", "CNI_PATH=/x", NULL}, 0, ERR_NONE, NULL},
	{"gc with path", {"CNI_COMMAND=GC", "CNI_PATH=/x", NULL}, 0, ERR_NONE, NULL},
	{"bad container id",
	 {"CNI_COMMAND=ADD", "CNI_CONTAINERID=-abc", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
	  "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "CNI_CONTAINERID"},
	{"container id with slash",
	 {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a/b", "CNI_NETNS=/n", "CNI_IFNAME=eth0",
	  "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "CNI_CONTAINERID"},
	{"ifname too long",
	 {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_NETNS=/n", "CNI_IFNAME=abcdefghijklmnop",
	  "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "CNI_IFNAME"},
	{"ifname dot",
	 {"CNI_COMMAND=DEL", "CNI_CONTAINERID=a", "CNI_IFNAME=.", "CNI_PATH=/x", NULL},
	 -EINVAL,
	 ERR_ENV,
	 "CNI_IFNAME"},
	{"multus ifname",
	 {"CNI_COMMAND=ADD", "CNI_CONTAINERID=a", "CNI_NETNS=/n", "CNI_IFNAME=net1", "CNI_PATH=/x",
	  NULL},
	 0,
	 ERR_NONE,
	 NULL},
};

static void test_env_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct env_case *c = &cases[i];
		struct cni_env env;
		struct error err = {0};
		int r = cni_env_load(c->envp, &env, &err);
		print_message("case: %s -> %d %s\n", c->name, r, err.msg);
		assert_int_equal(r, c->expect_r);
		assert_int_equal(err.kind, c->expect_kind);
		if (c->expect_msg)
			assert_non_null(strstr(err.msg, c->expect_msg));
		if (r == 0 && err.kind == ERR_NONE)
			assert_true(env.command >= 0 && env.command < _CNI_CMD_MAX);
	}
}

static void test_values_borrowed(void **state)
{
	const char *envp[] = {"CNI_COMMAND=ADD", "CNI_ARGS=IgnoreUnknown=1", ALL_VARS, NULL};
	struct cni_env env;
	assert_int_equal(cni_env_load(envp, &env, NULL), 0);
	assert_int_equal(env.command, CNI_CMD_ADD);
	assert_string_equal(env.container_id, "abc123");
	assert_string_equal(env.netns, "/var/run/netns/x");
	assert_string_equal(env.ifname, "eth0");
	assert_string_equal(env.args, "IgnoreUnknown=1");
	assert_string_equal(env.path, "/opt/cni/bin");
}

static void test_lookup_prefix(void **state)
{
	const char *envp[] = {"CNI_NETNSX=1", "CNI_NETNS=/a", NULL};
	assert_string_equal(cni_env_lookup(envp, "CNI_NETNS"), "/a");
	assert_null(cni_env_lookup(envp, "CNI_NET"));
}

static void test_command_names(void **state)
{
	const char *names[] = {"ADD", "DEL", "CHECK", "VERSION", "STATUS", "GC"};
	for (size_t i = 0; i < 6; i++) {
		enum cni_command c;
		assert_int_equal(cni_command_from_string(names[i], &c), 0);
		assert_string_equal(cni_command_to_string(c), names[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_table),
		cmocka_unit_test(test_values_borrowed),
		cmocka_unit_test(test_lookup_prefix),
		cmocka_unit_test(test_command_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
