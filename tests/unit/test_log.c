// SPDX-License-Identifier: Apache-2.0
/* The JSON log line's number fields (duration_ms), three decimals from integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/log.h"

struct captured {
	char line[4096];
};

static void capture(const char *line, size_t len, void *userdata)
{
	struct captured *c = userdata;
	(void)snprintf(c->line, sizeof(c->line), "%.*s", (int)len, line);
}

/* The line logged with the number field d set to value thousandths. */
static void line_with(int64_t value, struct captured *c)
{
	log_setup("test", LOG_LEVEL_INFO, true);
	log_set_sink(capture, c);
	log_set_field_milli("d", value);
	log_info("x");
	log_set_sink(NULL, NULL);
}

static void test_number_field(void **state)
{
	static const struct {
		int64_t value;
		const char *want;
	} table[] = {
		{12500, "\"d\":12.500}"},
		{0, "\"d\":0.000}"},
		{1, "\"d\":0.001}"},
		{1234568, "\"d\":1234.568}"},
		{-1250, "\"d\":-1.250}"},
		{-1, "\"d\":-0.001}"},
		{35755144, "\"d\":35755.144}"},
		{INT64_MAX, "\"d\":9223372036854775.807}"},
		{INT64_MIN, "\"d\":-9223372036854775.808}"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct captured c = {{0}};
		line_with(table[i].value, &c);
		size_t n = strlen(c.line), w = strlen(table[i].want);
		if (n < w || strcmp(c.line + n - w, table[i].want) != 0)
			fail_msg("%lld: line %s, want it to end with %s", (long long)table[i].value,
				 c.line, table[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_number_field),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
