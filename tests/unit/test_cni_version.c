// SPDX-License-Identifier: Apache-2.0
/* CNI version table: parsing, ordering, negotiation (cniVersions) and VERSION output. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cni/cni_version.h"

static const struct {
	const char *in;
	int r;
	enum cni_version v;
} parse_cases[] = {
	{"0.1.0", 0, CNI_VERSION_0_1_0},
	{"0.2.0", 0, CNI_VERSION_0_2_0},
	{"0.3.0", 0, CNI_VERSION_0_3_0},
	{"0.3.1", 0, CNI_VERSION_0_3_1},
	{"0.4.0", 0, CNI_VERSION_0_4_0},
	{"1.0.0", 0, CNI_VERSION_1_0_0},
	{"1.1.0", 0, CNI_VERSION_1_1_0},
	/* Well-formed, but not in the table: code 1 (incompatible version). */
	{"1.2.0", -EOPNOTSUPP},
	{"2.0.0", -EOPNOTSUPP},
	{"0.5.0", -EOPNOTSUPP},
	{"1.0", -EOPNOTSUPP},
	{"1", -EOPNOTSUPP},
	{"01.0.0", -EOPNOTSUPP},
	{"99999999.0.0", -EOPNOTSUPP},
	/* Malformed: code 6 territory (libcni's ParseVersion fails). */
	{NULL, -EINVAL},
	{"", -EINVAL},
	{"1.0.0.0", -EINVAL},
	{"v1.0.0", -EINVAL},
	{"1.0.0 ", -EINVAL},
	{" 1.0.0", -EINVAL},
	{"1..0", -EINVAL},
	{".1.0", -EINVAL},
	{"1.0.", -EINVAL},
	{"1.0.x", -EINVAL},
	{"-1.0.0", -EINVAL},
	{"1.0.0-rc1", -EINVAL},
	{"1234567890123456789.0.0", -EINVAL},
};

static void test_parse_table(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(parse_cases); i++) {
		enum cni_version v = _CNI_VERSION_MAX;
		int r = cni_version_parse(parse_cases[i].in, &v);
		print_message("case %zu: %s -> %d\n", i,
			      parse_cases[i].in ? parse_cases[i].in : "(null)", r);
		assert_int_equal(r, parse_cases[i].r);
		if (r == 0)
			assert_int_equal(v, parse_cases[i].v);
		else
			assert_int_equal(v, _CNI_VERSION_MAX); /* untouched on failure */
	}
}

static void test_to_string_round_trip(void **state)
{
	static const char *const names[] = {"0.1.0", "0.2.0", "0.3.0", "0.3.1",
					    "0.4.0", "1.0.0", "1.1.0"};
	assert_int_equal(ELEMENTSOF(names), _CNI_VERSION_MAX);
	for (int v = 0; v < _CNI_VERSION_MAX; v++) {
		enum cni_version back;
		assert_string_equal(cni_version_to_string((enum cni_version)v), names[v]);
		assert_int_equal(cni_version_parse(names[v], &back), 0);
		assert_int_equal(back, v);
	}
	assert_null(cni_version_to_string(_CNI_VERSION_MAX));
	assert_null(cni_version_to_string((enum cni_version) - 1));
	assert_int_equal(CNI_VERSION_LATEST, CNI_VERSION_1_1_0);
}

static void test_compare_and_features(void **state)
{
	for (int a = 0; a < _CNI_VERSION_MAX; a++)
		for (int b = 0; b < _CNI_VERSION_MAX; b++) {
			int c = cni_version_compare((enum cni_version)a, (enum cni_version)b);
			assert_int_equal(c, (a > b) - (a < b));
			assert_int_equal(cni_version_at_least((enum cni_version)a,
							      (enum cni_version)b),
					 a >= b);
		}

	static const struct {
		enum cni_version v;
		enum cni_result_family family;
		bool check, status_gc;
	} f[] = {
		{CNI_VERSION_0_1_0, CNI_RESULT_020, false, false},
		{CNI_VERSION_0_2_0, CNI_RESULT_020, false, false},
		{CNI_VERSION_0_3_0, CNI_RESULT_040, false, false},
		{CNI_VERSION_0_3_1, CNI_RESULT_040, false, false},
		{CNI_VERSION_0_4_0, CNI_RESULT_040, true, false},
		{CNI_VERSION_1_0_0, CNI_RESULT_100, true, false},
		{CNI_VERSION_1_1_0, CNI_RESULT_100, true, true},
	};
	for (size_t i = 0; i < ELEMENTSOF(f); i++) {
		assert_int_equal(cni_version_result_family(f[i].v), f[i].family);
		assert_int_equal(cni_version_has_check(f[i].v), f[i].check);
		assert_int_equal(cni_version_has_status_gc(f[i].v), f[i].status_gc);
	}
}

#define LIST(...) ((const char *const[]){__VA_ARGS__})

static const struct {
	const char *conf;
	const char *const *list;
	size_t n;
	int r;
	enum cni_version v;
} negotiate_cases[] = {
	{"1.0.0", NULL, 0, 0, CNI_VERSION_1_0_0},
	{"0.3.1", NULL, 0, 0, CNI_VERSION_0_3_1},
	/* cniVersions: the highest both sides support wins, conf version included. */
	{"1.0.0", LIST("1.0.0", "1.1.0"), 2, 0, CNI_VERSION_1_1_0},
	{"1.1.0", LIST("0.4.0", "1.0.0"), 2, 0, CNI_VERSION_1_1_0},
	{NULL, LIST("0.3.1", "1.0.0"), 2, 0, CNI_VERSION_1_0_0},
	{NULL, LIST("1.0.0", "0.3.1"), 2, 0, CNI_VERSION_1_0_0},
	/* Versions we do not know (newer, malformed) are ignored. */
	{"1.0.0", LIST("1.1.0", "1.2.0", "9.9.9"), 3, 0, CNI_VERSION_1_1_0},
	{NULL, LIST("2.0.0", "garbage", "0.4.0"), 3, 0, CNI_VERSION_0_4_0},
	{"1.3.0", LIST("1.1.0"), 1, 0, CNI_VERSION_1_1_0},
	{"bad", LIST("1.0.0"), 1, 0, CNI_VERSION_1_0_0},
	{"1.0.0", LIST(NULL, "1.1.0"), 2, 0, CNI_VERSION_1_1_0},
	/* Nothing usable. */
	{"1.2.0", NULL, 0, -EOPNOTSUPP},
	{"one", NULL, 0, -EINVAL},
	{"1.2.0", LIST("2.0.0"), 1, -EOPNOTSUPP},
	{NULL, LIST("2.0.0", "x"), 2, -EOPNOTSUPP},
	{NULL, NULL, 0, -ENOENT},
};

static void test_negotiate_table(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(negotiate_cases); i++) {
		enum cni_version v = _CNI_VERSION_MAX;
		int r = cni_version_negotiate(negotiate_cases[i].conf, negotiate_cases[i].list,
					      negotiate_cases[i].n, &v);
		print_message("case %zu -> %d\n", i, r);
		assert_int_equal(r, negotiate_cases[i].r);
		if (r == 0)
			assert_int_equal(v, negotiate_cases[i].v);
		else
			assert_int_equal(v, _CNI_VERSION_MAX);
	}
}

#define ALL                                                                                        \
	"\"supportedVersions\":[\"0.1.0\",\"0.2.0\",\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\",\"1.1.0\"]}"

static void test_print_json(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *out;
	} cases[] = {
		{NULL, 0, "{\"cniVersion\":\"1.1.0\"," ALL},
		{"", 0, "{\"cniVersion\":\"1.1.0\"," ALL},
		{"0.4.0", 0, "{\"cniVersion\":\"0.4.0\"," ALL},
		/* The input is echoed as given, even one we do not support. */
		{"2.0.0", 0, "{\"cniVersion\":\"2.0.0\"," ALL},
		{"a\"b", 0, "{\"cniVersion\":\"a\\\"b\"," ALL},
		{"\xff", -EINVAL, NULL},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char *s = NULL;
		int r = cni_version_print_json(cases[i].in, &s);
		assert_int_equal(r, cases[i].r);
		if (r == 0) {
			assert_string_equal(s, cases[i].out);
			free(s);
		} else {
			assert_null(s);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_to_string_round_trip),
		cmocka_unit_test(test_compare_and_features),
		cmocka_unit_test(test_negotiate_table),
		cmocka_unit_test(test_print_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
