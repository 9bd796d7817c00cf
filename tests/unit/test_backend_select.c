// SPDX-License-Identifier: Apache-2.0
/* The backend choice and Istio's iptables binary choice, as tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture/backend_select.h"
#include "netlink/netns.h"

static void test_parse_table_names(void **state)
{
	static const struct {
		const char *text;
		unsigned int want;
	} cases[] = {
		{"", 0},
		{"\n", 0},
		{"filter\n", LEGACY_TABLE_FILTER},
		{"nat\n", LEGACY_TABLE_NAT},
		{"filter\nnat\n", LEGACY_TABLE_FILTER | LEGACY_TABLE_NAT},
		{"mangle\nraw\nsecurity",
		 LEGACY_TABLE_MANGLE | LEGACY_TABLE_RAW | LEGACY_TABLE_SECURITY},
		{"nat \r\n", LEGACY_TABLE_NAT},
		{"natx\n", LEGACY_TABLE_OTHER},
		{"na\n", LEGACY_TABLE_OTHER},
		{"broute\nnat\n", LEGACY_TABLE_OTHER | LEGACY_TABLE_NAT},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned int got = backend_parse_table_names(cases[i].text, strlen(cases[i].text));
		if (got != cases[i].want)
			fail_msg("case %zu \"%s\": got %#x, want %#x", i, cases[i].text, got,
				 cases[i].want);
	}
}

static void test_configured(void **state)
{
	static const struct {
		enum redirect_backend conf;
		bool native;
		enum redirect_backend want;
	} cases[] = {
		{REDIRECT_BACKEND_AUTO, false, REDIRECT_BACKEND_AUTO},
		{REDIRECT_BACKEND_AUTO, true, REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_NFTABLES, false, REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_NFTABLES, true, REDIRECT_BACKEND_NFTABLES},
		/* an explicit redirect_backend wins over native_nftables */
		{REDIRECT_BACKEND_IPTABLES, true, REDIRECT_BACKEND_IPTABLES},
		{REDIRECT_BACKEND_IPTABLES, false, REDIRECT_BACKEND_IPTABLES},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(backend_configured(cases[i].conf, cases[i].native), cases[i].want);
}

static void test_decide(void **state)
{
	static const struct {
		enum redirect_backend conf;
		unsigned int v4, v6;
		bool nft;
		enum redirect_backend want;
	} cases[] = {
		/* auto */
		{REDIRECT_BACKEND_AUTO, 0, 0, true, REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_AUTO, LEGACY_TABLE_NAT, 0, true, REDIRECT_BACKEND_IPTABLES},
		{REDIRECT_BACKEND_AUTO, 0, LEGACY_TABLE_NAT, true, REDIRECT_BACKEND_IPTABLES},
		{REDIRECT_BACKEND_AUTO, LEGACY_TABLE_FILTER, 0, true, REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_AUTO, LEGACY_TABLE_MANGLE | LEGACY_TABLE_RAW, 0, true,
		 REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_AUTO, 0, 0, false, REDIRECT_BACKEND_IPTABLES},
		/* explicit choices are kept whatever the netns holds */
		{REDIRECT_BACKEND_NFTABLES, LEGACY_TABLE_NAT, 0, true, REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_NFTABLES, 0, 0, false, REDIRECT_BACKEND_NFTABLES},
		{REDIRECT_BACKEND_IPTABLES, 0, 0, true, REDIRECT_BACKEND_IPTABLES},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct legacy_tables l = {.mask = {cases[i].v4, cases[i].v6}};
		enum redirect_backend got = backend_decide(cases[i].conf, &l, cases[i].nft);
		if (got != cases[i].want)
			fail_msg("case %zu: got %s, want %s", i, redirect_backend_to_string(got),
				 redirect_backend_to_string(cases[i].want));
	}
	assert_int_equal(backend_decide(REDIRECT_BACKEND_AUTO, NULL, true),
			 REDIRECT_BACKEND_NFTABLES);
}

static void test_variant(void **state)
{
	static const struct {
		unsigned int v4, v6;
		enum plan_family fam;
		bool nft;
		enum iptables_variant want;
	} cases[] = {
		{0, 0, PLAN_V4, true, IPTABLES_VARIANT_NFT},
		{0, 0, PLAN_V6, true, IPTABLES_VARIANT_NFT},
		/* any legacy table of the family: legacy (iptables-legacy-save prints it) */
		{LEGACY_TABLE_NAT, 0, PLAN_V4, true, IPTABLES_VARIANT_LEGACY},
		{LEGACY_TABLE_FILTER, 0, PLAN_V4, true, IPTABLES_VARIANT_LEGACY},
		{LEGACY_TABLE_NAT, 0, PLAN_V6, true, IPTABLES_VARIANT_NFT},
		{0, LEGACY_TABLE_MANGLE, PLAN_V6, true, IPTABLES_VARIANT_LEGACY},
		/* no nf_tables: only legacy can work */
		{0, 0, PLAN_V4, false, IPTABLES_VARIANT_LEGACY},
		{0, 0, PLAN_V6, false, IPTABLES_VARIANT_LEGACY},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct legacy_tables l = {.mask = {cases[i].v4, cases[i].v6}};
		enum iptables_variant got = backend_iptables_variant(&l, cases[i].fam,
								     cases[i].nft);
		if (got != cases[i].want)
			fail_msg("case %zu: got %s, want %s", i, iptables_variant_to_string(got),
				 iptables_variant_to_string(cases[i].want));
	}
	assert_string_equal(iptables_variant_to_string(IPTABLES_VARIANT_NFT), "nft");
	assert_string_equal(iptables_variant_to_string(IPTABLES_VARIANT_LEGACY), "legacy");
}

/* The probe reads the calling thread's netns; in ours it must simply work. */
static void test_probe_runs(void **state)
{
	struct legacy_tables l;
	(void)state;
	assert_int_equal(backend_probe_legacy_tables(&l), 0);
}

/* NFT_MSG_GETGEN on a kernel with nf_tables (root; skipped otherwise). */
static void test_probe_nft(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!nl)
		skip();
	assert_int_equal(netns_mnl_socket_setup(nl), 0);
	bool available = false;
	struct error err = {0};
	int r = backend_probe_nft(nl, &available, &err);
	(void)mnl_socket_close(nl);
	assert_int_equal(r, 0);
	/* the project needs nf_tables; a root test run without it is a broken set-up */
	assert_true(available);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table_names),
		cmocka_unit_test(test_configured),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_variant),
		cmocka_unit_test(test_probe_runs),
		cmocka_unit_test(test_probe_nft),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
