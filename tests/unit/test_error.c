// SPDX-License-Identifier: Apache-2.0
/* The one table from internal errors to CNI codes, and message chaining. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/error.h"

static void test_codes(void **state)
{
	static const struct {
		enum error_kind kind;
		int code;
	} table[] = {
		{ERR_VERSION, 1},
		{ERR_UNSUPPORTED_FIELD, 2},
		{ERR_UNKNOWN_CONTAINER, 3},
		{ERR_ENV, 4},
		{ERR_IO, 5},
		{ERR_DECODE, 6},
		{ERR_CONFIG, 7},
		{ERR_INVALID_NETNS, 8},
		{ERR_TRANSIENT, 11},
		{ERR_NETLINK, 100},
		{ERR_NFTABLES, 101},
		{ERR_IPTABLES, 102},
		{ERR_API, 103},
		{ERR_CHECK, 104},
		{ERR_INTERNAL, 999},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct error err = {0};
		assert_int_equal(error_set(&err, table[i].kind, -EINVAL, "x"), -EINVAL);
		assert_int_equal(error_cni_code(&err, -EINVAL), table[i].code);
	}
}

static void test_errno_fallback(void **state)
{
	assert_int_equal(error_cni_code(NULL, -EAGAIN), 11);
	assert_int_equal(error_cni_code(NULL, -ETIMEDOUT), 11);
	assert_int_equal(error_cni_code(NULL, -EBUSY), 11);
	assert_int_equal(error_cni_code(NULL, -ENOMEM), 999);
	struct error empty = {0};
	assert_int_equal(error_cni_code(&empty, -EIO), 999);
}

static void test_chaining(void **state)
{
	struct error err = {0};
	assert_int_equal(error_set(&err, ERR_DECODE, 0, "bad %s", "thing"), -EINVAL);
	assert_int_equal(error_set(&err, ERR_CONFIG, -ENOENT, "outer"), -ENOENT);
	/* The first kind is the root cause and stays. */
	assert_int_equal(err.kind, ERR_DECODE);
	assert_string_equal(err.msg, "outer: bad thing");
	assert_int_equal(error_prefix(&err, -EINVAL, "ctx"), -EINVAL);
	assert_string_equal(err.msg, "ctx: outer: bad thing");
	error_add_details(&err, "line %d", 1);
	error_add_details(&err, "line %d", 2);
	assert_string_equal(err.details, "line 1\nline 2");
	error_clear(&err);
	assert_int_equal(err.kind, ERR_NONE);
	assert_int_equal(err.msg[0], '\0');
	/* NULL is allowed everywhere. */
	assert_int_equal(error_set(NULL, ERR_IO, -EIO, "x"), -EIO);
	error_add_details(NULL, "x");
}

static void test_truncation(void **state)
{
	struct error err = {0};
	char big[ERROR_MSG_MAX * 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	(void)error_set(&err, ERR_IO, -EIO, "%s", big);
	assert_int_equal(strlen(err.msg), ERROR_MSG_MAX - 1);
	for (int i = 0; i < 100; i++)
		error_add_details(&err, "%s", big);
	assert_true(strlen(err.details) < ERROR_DETAILS_MAX);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_codes),
		cmocka_unit_test(test_errno_fallback),
		cmocka_unit_test(test_chaining),
		cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
