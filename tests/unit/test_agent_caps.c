// SPDX-License-Identifier: Apache-2.0
/* Which capabilities the agent keeps for what it is configured to do. */
#include <errno.h>
#include <linux/capability.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "caps.h"

#define BIT(c) (UINT64_C(1) << (c))

static void test_wanted(void **state)
{
	static const struct {
		struct caps_needs needs;
		uint64_t want;
	} t[] = {
		{{0}, 0},
		{{.install = true}, BIT(CAP_DAC_OVERRIDE)},
		{{.install = true, .bind_low_port = true},
		 BIT(CAP_DAC_OVERRIDE) | BIT(CAP_NET_BIND_SERVICE)},
		{{.install = true, .repair_in_place = true},
		 BIT(CAP_DAC_OVERRIDE) | BIT(CAP_SYS_PTRACE) | BIT(CAP_SYS_ADMIN) |
			 BIT(CAP_NET_ADMIN) | BIT(CAP_NET_RAW)},
		{{.repair_in_place = true, .bind_low_port = true},
		 BIT(CAP_DAC_OVERRIDE) | BIT(CAP_SYS_PTRACE) | BIT(CAP_SYS_ADMIN) |
			 BIT(CAP_NET_ADMIN) | BIT(CAP_NET_RAW) | BIT(CAP_NET_BIND_SERVICE)},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(caps_wanted(&t[i].needs), t[i].want);
	/* Nothing the agent never needs sneaks in. */
	struct caps_needs all = {true, true, true};
	uint64_t never = BIT(CAP_SETPCAP) | BIT(CAP_SYS_MODULE) | BIT(CAP_CHOWN) | BIT(CAP_FOWNER) |
			 BIT(CAP_SETUID) | BIT(CAP_SYS_RAWIO) | BIT(CAP_MKNOD) | BIT(CAP_BPF);
	assert_int_equal(caps_wanted(&all) & never, 0);
}

static void test_to_string(void **state)
{
	static const struct {
		uint64_t mask;
		size_t buflen;
		int ret;
		const char *want;
	} t[] = {
		{0, 64, 4, "none"},
		{BIT(CAP_DAC_OVERRIDE), 64, 16, "cap_dac_override"},
		{BIT(CAP_DAC_OVERRIDE) | BIT(CAP_NET_ADMIN) | BIT(CAP_SYS_ADMIN), 128, 44,
		 "cap_dac_override,cap_net_admin,cap_sys_admin"},
		{BIT(CAP_DAC_OVERRIDE) | BIT(CAP_NET_ADMIN), 20, -ENOBUFS, NULL},
		{0, 3, -ENOBUFS, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[128];
		assert_true(t[i].buflen <= sizeof(buf));
		assert_int_equal(caps_mask_to_string(t[i].mask, buf, t[i].buflen), t[i].ret);
		if (t[i].want)
			assert_string_equal(buf, t[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wanted),
		cmocka_unit_test(test_to_string),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
