// SPDX-License-Identifier: Apache-2.0
/* The strict base64 decoder and the encoder behind *-data kubeconfig fields. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/base64.h"

static void test_decode_table(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *out;
	} t[] = {
		/* RFC 4648 section 10 vectors. */
		{"", 0, ""},
		{"Zg==", 0, "f"},
		{"Zm8=", 0, "fo"},
		{"Zm9v", 0, "foo"},
		{"Zm9vYg==", 0, "foob"},
		{"Zm9vYmE=", 0, "fooba"},
		{"Zm9vYmFy", 0, "foobar"},
		/* Line breaks are skipped anywhere, as Go does. */
		{"Zm9v\nYmFy\n", 0, "foobar"},
		{"Zm\r\n9vYg=\n=", 0, "foob"},
		{"+/+/", 0, "\xfb\xff\xbf"},
		/* Missing padding, stray padding, bad characters. */
		{"Zg", -EINVAL, NULL},
		{"Zm8", -EINVAL, NULL},
		{"Z", -EINVAL, NULL},
		{"Zg=", -EINVAL, NULL},
		{"Zg===", -EINVAL, NULL},
		{"=Zg=", -EINVAL, NULL},
		{"Z===", -EINVAL, NULL},
		{"Zg==Zg==", -EINVAL, NULL},
		{"Zm9v YmFy", -EINVAL, NULL},
		{"Zm9v\tYmFy", -EINVAL, NULL},
		{"Zm9-", -EINVAL, NULL},
		{"Zm9_", -EINVAL, NULL},
		{"Zm=v", -EINVAL, NULL},
		/* Non-zero unused bits: a second spelling of "f" / "fo". */
		{"Zh==", -EINVAL, NULL},
		{"Zm9=", -EINVAL, NULL},
		{"Zm8=\n", 0, "fo"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		static uint8_t untouched[] = "untouched";
		uint8_t *out = untouched;
		size_t len = 77;
		int r = base64_decode(t[i].in, strlen(t[i].in), &out, &len);
		assert_int_equal(r, t[i].r);
		if (r < 0) {
			assert_string_equal((const char *)out, "untouched");
			assert_int_equal(len, 77);
			continue;
		}
		assert_int_equal(len, strlen(t[i].out));
		assert_memory_equal(out, t[i].out, len);
		assert_int_equal(out[len], '\0');
		free(out);
	}
}

static void test_embedded_nul(void **state)
{
	/* "AA==" is one zero byte: length says so even though strlen would not. */
	uint8_t *out;
	size_t len;
	assert_int_equal(base64_decode("AAAA", 4, &out, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "\0\0\0", 3);
	free(out);
	/* A NUL inside the input is not part of the alphabet. */
	assert_int_equal(base64_decode("Zm\0v", 4, &out, &len), -EINVAL);
	assert_int_equal(base64_decode(NULL, 0, &out, &len), -EINVAL);
}

static void test_round_trip(void **state)
{
	uint8_t data[256];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 3);
	for (size_t n = 0; n <= sizeof(data); n++) {
		char *enc;
		assert_int_equal(base64_encode(data, n, &enc), 0);
		assert_int_equal(strlen(enc), (n + 2) / 3 * 4);
		uint8_t *dec;
		size_t len;
		assert_int_equal(base64_decode(enc, strlen(enc), &dec, &len), 0);
		assert_int_equal(len, n);
		if (n)
			assert_memory_equal(dec, data, n);
		free(enc);
		free(dec);
	}
	char *enc;
	assert_int_equal(base64_encode((const uint8_t *)"foobar", 6, &enc), 0);
	assert_string_equal(enc, "Zm9vYmFy");
	free(enc);
	assert_int_equal(base64_encode(NULL, 1, &enc), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
