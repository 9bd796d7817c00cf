// SPDX-License-Identifier: Apache-2.0
/* The shared parsing helpers: numbers, ports, booleans, CIDRs, ifnames. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/parse_util.h"

static void test_ports(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint16_t v;
	} t[] = {
		{"1", 0, 1},	    {"65535", 0, 65535},   {"15001", 0, 15001},
		{"0", -ERANGE, 0},  {"65536", -ERANGE, 0}, {"-1", -EINVAL, 0},
		{"+1", -EINVAL, 0}, {" 1", -EINVAL, 0},	   {"1 ", -EINVAL, 0},
		{"", -EINVAL, 0},   {"0x10", -EINVAL, 0},  {"99999999999999999999999", -ERANGE, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint16_t v = 7;
		assert_int_equal(parse_port(t[i].s, &v), t[i].r);
		assert_int_equal(v, t[i].r == 0 ? t[i].v : 7);
	}
	uint16_t v;
	assert_int_equal(parse_port(NULL, &v), -EINVAL);
}

static void test_bools(void **state)
{
	const char *yes[] = {"1", "t", "T", "TRUE", "true", "True"};
	const char *no[] = {"0", "f", "F", "FALSE", "false", "False"};
	const char *bad[] = {"", "yes", "tRUE", "2", " true"};
	bool b;
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(parse_bool(yes[i], &b), 0);
		assert_true(b);
		assert_int_equal(parse_bool(no[i], &b), 0);
		assert_false(b);
	}
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(parse_bool(bad[i], &b), -EINVAL);
}

static void test_cidrs(void **state)
{
	static const struct {
		const char *s;
		int r;
		int family;
		const char *out;
		const char *masked;
	} t[] = {
		{"10.0.0.0/8", 0, AF_INET, "10.0.0.0/8", "10.0.0.0/8"},
		{"10.1.2.3/8", 0, AF_INET, "10.1.2.3/8", "10.0.0.0/8"},
		{"0.0.0.0/0", 0, AF_INET, "0.0.0.0/0", "0.0.0.0/0"},
		{"192.168.1.1/32", 0, AF_INET, "192.168.1.1/32", "192.168.1.1/32"},
		{"2001:db8::1/32", 0, AF_INET6, "2001:db8::1/32", "2001:db8::/32"},
		{"::/0", 0, AF_INET6, "::/0", "::/0"},
		{"fd00::5/127", 0, AF_INET6, "fd00::5/127", "fd00::4/127"},
		{"10.0.0.0/33", -EINVAL, 0, NULL, NULL},
		{"10.0.0.0", -EINVAL, 0, NULL, NULL},
		{"10.0.0/8", -EINVAL, 0, NULL, NULL},
		{"10.0.0.0/-1", -EINVAL, 0, NULL, NULL},
		{"10.0.0.0/08", -EINVAL, 0, NULL, NULL},
		{"10.0.0.0/", -EINVAL, 0, NULL, NULL},
		{"2001:db8::/129", -EINVAL, 0, NULL, NULL},
		{" 10.0.0.0/8", -EINVAL, 0, NULL, NULL},
		{"*", -EINVAL, 0, NULL, NULL},
		{"", -EINVAL, 0, NULL, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct cidr c, m;
		char buf[64];
		int r = parse_cidr(t[i].s, &c);
		print_message("%s -> %d\n", t[i].s, r);
		assert_int_equal(r, t[i].r);
		if (r < 0)
			continue;
		assert_int_equal(c.family, t[i].family);
		assert_string_equal(parse_cidr_to_string(&c, buf, sizeof(buf)), t[i].out);
		parse_cidr_mask(&c, &m);
		assert_string_equal(parse_cidr_to_string(&m, buf, sizeof(buf)), t[i].masked);
	}
}

static void test_ifnames(void **state)
{
	assert_true(parse_ifname_valid("eth0"));
	assert_true(parse_ifname_valid("net1"));
	assert_true(parse_ifname_valid("abcdefghijklmno")); /* 15 bytes */
	assert_false(parse_ifname_valid("abcdefghijklmnop"));
	assert_false(parse_ifname_valid(""));
	assert_false(parse_ifname_valid("."));
	assert_false(parse_ifname_valid(".."));
	assert_false(parse_ifname_valid("a/b"));
	assert_false(parse_ifname_valid("a b"));
	assert_false(parse_ifname_valid("a:b"));
	assert_false(parse_ifname_valid(NULL));
}

static void test_strip(void **state)
{
	char a[] = "  15001 ,";
	assert_string_equal(parse_strip(a), "15001 ,");
	char b[] = "\t x \n";
	assert_string_equal(parse_strip(b), "x");
	char c[] = "   ";
	assert_string_equal(parse_strip(c), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ports), cmocka_unit_test(test_bools),
		cmocka_unit_test(test_cidrs), cmocka_unit_test(test_ifnames),
		cmocka_unit_test(test_strip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
