// SPDX-License-Identifier: Apache-2.0
/*
 * The nftables backend's pure layer: final order of Istio's inserts, the
 * merge of IPv4 and IPv6 rules into shared inet chains, and folding of rule
 * runs into sets. Each case builds a plan by hand and compares the `nft -f`
 * text nft_render produces (which is what apply programs) line by line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "capture/nft_render.h"
#include "capture/nft_rules.h"
#include "capture/redirect_plan.h"
#include "util/parse_util.h"

size_t nft_intervals_normalize(struct nft_interval *iv, size_t n, int family);

#define REDIRECT_TEST_LIST_MAX 1024

/* ---- tiny plan DSL ---- */

static struct plan_match daddr(const char *s, bool neg)
{
	struct plan_match m = {.kind = PM_DADDR, .neg = neg};
	assert_int_equal(parse_cidr(s, &m.u.cidr), 0);
	return m;
}

static struct plan_match saddr(const char *s)
{
	struct plan_match m = {.kind = PM_SADDR};
	assert_int_equal(parse_cidr(s, &m.u.cidr), 0);
	return m;
}

static struct plan_match proto(uint8_t p)
{
	return (struct plan_match){.kind = PM_PROTO, .u.proto = p};
}

static struct plan_match dport(uint16_t p, bool neg)
{
	return (struct plan_match){.kind = PM_DPORT, .neg = neg, .u.port = p};
}

static struct plan_match oif(const char *n)
{
	struct plan_match m = {.kind = PM_OIF};
	snprintf(m.u.ifname, sizeof(m.u.ifname), "%s", n);
	return m;
}

static struct plan_match iif(const char *n)
{
	struct plan_match m = {.kind = PM_IIF};
	snprintf(m.u.ifname, sizeof(m.u.ifname), "%s", n);
	return m;
}

static struct plan_match uid(uint32_t id, bool neg)
{
	return (struct plan_match){.kind = PM_UID, .neg = neg, .u.id = id};
}

static const struct plan_verdict RET = {.kind = PV_RETURN};

static struct plan_verdict jump(enum plan_chain c)
{
	return (struct plan_verdict){.kind = PV_JUMP, .chain = c};
}

static struct plan_verdict redir(uint16_t port)
{
	return (struct plan_verdict){.kind = PV_REDIRECT, .port = port};
}

#define TCP 6
#define UDP 17

static void add(struct redirect_plan *p, enum plan_family f, enum plan_table t, enum plan_chain c,
		unsigned int insert_pos, struct plan_verdict v, int n, ...)
{
	struct plan_rule r = {.table = t, .chain = c, .insert_pos = insert_pos, .verdict = v};
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		r.match[r.n_matches++] = va_arg(ap, struct plan_match);
	va_end(ap);
	assert_int_equal(redirect_plan_add(p, f, &r), 0);
}

/* A PM_DADDRS rule in ISTIO_OUTPUT over ranges "a,b,..." (the plan keeps the list). */
static void add_list(struct redirect_plan *p, enum plan_family f, struct plan_verdict v,
		     const char *ranges)
{
	struct cidr *c = calloc(REDIRECT_TEST_LIST_MAX, sizeof(*c));
	assert_non_null(c);
	uint32_t n = 0;
	char buf[64];
	for (const char *s = ranges; *s && n < REDIRECT_TEST_LIST_MAX;) {
		size_t len = strcspn(s, ",");
		snprintf(buf, sizeof(buf), "%.*s", (int)len, s);
		assert_int_equal(parse_cidr(buf, &c[n++]), 0);
		s += len + (s[len] == ',');
	}
	assert_int_equal(redirect_plan_keep(p, c), 0);
	struct plan_rule r = {.table = PLAN_TABLE_NAT,
			      .chain = PLAN_CHAIN_OUTPUT_ISTIO,
			      .verdict = v};
	r.match[r.n_matches++] = (struct plan_match){.kind = PM_DADDRS, .u.cidrs = {c, n}};
	assert_int_equal(redirect_plan_add(p, f, &r), 0);
}

#define NAT PLAN_TABLE_NAT
#define OUT PLAN_CHAIN_OUTPUT_ISTIO
#define V4 PLAN_V4
#define V6 PLAN_V6

/* ---- cases ---- */

/* The nat table with its output base chain jumping to istio-output, IPv4 only. */
#define NAT_OUTPUT_HEAD                                                                            \
	"add table inet istio-proxy-nat\n"                                                         \
	"add chain inet istio-proxy-nat output { type nat hook output priority -100 ; }\n"         \
	"add chain inet istio-proxy-nat istio-output\n"                                            \
	"add rule inet istio-proxy-nat output meta nfproto ipv4 counter jump istio-output\n"

static void plan_exclude_ports(struct redirect_plan *p)
{
	/* Istio's -o loop: tcp and udp RETURN per excluded port. */
	static const uint16_t ports[] = {15020, 80, 15020};
	for (size_t i = 0; i < 3; i++) {
		add(p, V4, NAT, OUT, 0, RET, 2, proto(TCP), dport(ports[i], false));
		add(p, V4, NAT, OUT, 0, RET, 2, proto(UDP), dport(ports[i], false));
	}
	add(p, V4, NAT, PLAN_CHAIN_OUTPUT, 0, jump(OUT), 0);
}

static const char exp_exclude_ports[] = NAT_OUTPUT_HEAD
	"add rule inet istio-proxy-nat istio-output meta l4proto . th dport "
	"{ tcp . 80, tcp . 15020, udp . 80, udp . 15020 } counter return\n";

static void plan_inbound_ports(struct redirect_plan *p)
{
	static const uint16_t ports[] = {15090, 15008, 15021, 15020};
	for (size_t i = 0; i < 4; i++)
		add(p, V4, NAT, PLAN_CHAIN_INBOUND, 0, RET, 2, proto(TCP), dport(ports[i], false));
	add(p, V4, NAT, PLAN_CHAIN_INBOUND, 0, jump(PLAN_CHAIN_IN_REDIRECT), 1, proto(TCP));
	add(p, V4, NAT, PLAN_CHAIN_IN_REDIRECT, 0, redir(15006), 1, proto(TCP));
}

static const char exp_inbound_ports[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-inbound\n"
	"add chain inet istio-proxy-nat istio-in-redirect\n"
	"add rule inet istio-proxy-nat istio-inbound meta l4proto tcp tcp dport "
	"{ 15008, 15020, 15021, 15090 } counter return\n"
	"add rule inet istio-proxy-nat istio-inbound meta l4proto tcp counter jump istio-in-redirect\n"
	"add rule inet istio-proxy-nat istio-in-redirect meta l4proto tcp counter redirect to :15006\n";

static void plan_cidr_merge(struct redirect_plan *p)
{
	/* Host bits, adjacency, containment and a v4 /0 neighbour-free run. */
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.1.0/24", false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.0.7/24", false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("192.168.0.0/16", false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("192.168.4.0/24", false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("172.16.0.0/12", false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.2.0/24", false));
}

static const char exp_cidr_merge[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat istio-output ip daddr "
	"{ 10.0.0.0-10.0.2.255, 172.16.0.0/12, 192.168.0.0/16 } counter return\n";

static void plan_jump_overlap(struct redirect_plan *p)
{
	/* A jump may only fold disjoint values: the overlap stays two rules. */
	add(p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 1, daddr("10.0.0.0/8", false));
	add(p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 1, daddr("10.1.0.0/16", false));
	add(p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 1, daddr("172.16.0.0/12", false));
}

static const char exp_jump_overlap[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-redirect\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat istio-output ip daddr 10.0.0.0/8 counter jump istio-redirect\n"
	"add rule inet istio-proxy-nat istio-output ip daddr { 10.1.0.0/16, 172.16.0.0/12 } "
	"counter jump istio-redirect\n";

static void plan_jump_disjoint(struct redirect_plan *p)
{
	add(p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 1, daddr("10.0.0.0/8", false));
	add(p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 1, daddr("172.16.0.0/12", false));
}

static const char exp_jump_disjoint[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-redirect\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat istio-output ip daddr { 10.0.0.0/8, 172.16.0.0/12 } "
	"counter jump istio-redirect\n";

static void plan_negated(struct redirect_plan *p)
{
	/* "!= a" then "!= b" is not "!= {a, b}". */
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.0.0/8", true));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("11.0.0.0/8", true));
	add(p, V4, NAT, OUT, 0, RET, 2, proto(TCP), dport(53, true));
	add(p, V4, NAT, OUT, 0, RET, 2, proto(TCP), dport(54, true));
}

static const char exp_negated[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat istio-output ip daddr != 10.0.0.0/8 counter return\n"
	"add rule inet istio-proxy-nat istio-output ip daddr != 11.0.0.0/8 counter return\n"
	"add rule inet istio-proxy-nat istio-output meta l4proto tcp tcp dport != 53 counter return\n"
	"add rule inet istio-proxy-nat istio-output meta l4proto tcp tcp dport != 54 counter return\n";

static void plan_interrupted(struct redirect_plan *p)
{
	/* A different rule between two candidates ends the run: order is kept. */
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.0.0/8", false));
	add(p, V4, NAT, OUT, 0, RET, 1, uid(1337, false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("11.0.0.0/8", false));
	add(p, V4, NAT, OUT, 0, RET, 2, oif("lo"), daddr("12.0.0.0/8", false));
}

static const char exp_interrupted[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat istio-output ip daddr 10.0.0.0/8 counter return\n"
	"add rule inet istio-proxy-nat istio-output meta skuid 1337 counter return\n"
	"add rule inet istio-proxy-nat istio-output ip daddr 11.0.0.0/8 counter return\n"
	"add rule inet istio-proxy-nat istio-output oifname \"lo\" ip daddr 12.0.0.0/8 counter "
	"return\n";

static void plan_inserts(struct redirect_plan *p)
{
	/* Istio's -k eth1,eth2: "-I PREROUTING 1" twice, so eth2 ends up first,
	 * and the later inserted redirects precede the returns. */
	add(p, V4, NAT, PLAN_CHAIN_PREROUTING, 0, jump(PLAN_CHAIN_INBOUND), 1, proto(TCP));
	add(p, V4, NAT, PLAN_CHAIN_PREROUTING, 1, RET, 1, iif("eth1"));
	add(p, V4, NAT, PLAN_CHAIN_PREROUTING, 1, RET, 1, iif("eth2"));
	add(p, V4, NAT, PLAN_CHAIN_PREROUTING, 1, jump(PLAN_CHAIN_REDIRECT), 1, iif("eth1"));
	add(p, V4, NAT, PLAN_CHAIN_PREROUTING, 1, jump(PLAN_CHAIN_REDIRECT), 1, iif("eth2"));
	/* Past the end is an append. */
	add(p, V4, NAT, PLAN_CHAIN_INBOUND, 7, RET, 1, iif("lo"));
	add(p, V4, NAT, PLAN_CHAIN_INBOUND, 0, RET, 1, iif("eth9"));
	add(p, V4, NAT, PLAN_CHAIN_INBOUND, 2, RET, 1, iif("eth8"));
}

static const char exp_inserts[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat prerouting { type nat hook prerouting priority -100 ; }\n"
	"add chain inet istio-proxy-nat istio-inbound\n"
	"add chain inet istio-proxy-nat istio-redirect\n"
	"add rule inet istio-proxy-nat prerouting meta nfproto ipv4 iifname \"eth2\" counter jump "
	"istio-redirect\n"
	"add rule inet istio-proxy-nat prerouting meta nfproto ipv4 iifname \"eth1\" counter jump "
	"istio-redirect\n"
	"add rule inet istio-proxy-nat prerouting meta nfproto ipv4 iifname \"eth2\" counter return\n"
	"add rule inet istio-proxy-nat prerouting meta nfproto ipv4 iifname \"eth1\" counter return\n"
	"add rule inet istio-proxy-nat prerouting meta nfproto ipv4 meta l4proto tcp counter jump "
	"istio-inbound\n"
	"add rule inet istio-proxy-nat istio-inbound iifname \"lo\" counter return\n"
	"add rule inet istio-proxy-nat istio-inbound iifname \"eth8\" counter return\n"
	"add rule inet istio-proxy-nat istio-inbound iifname \"eth9\" counter return\n";

static void plan_dual(struct redirect_plan *p)
{
	p->ipv6 = true;
	for (int f = V4; f <= V6; f++) {
		add(p, f, NAT, PLAN_CHAIN_OUTPUT, 0, jump(OUT), 0);
		add(p, f, NAT, OUT, 0, RET, 2, oif("lo"),
		    saddr(f == V4 ? "127.0.0.6/32" : "::6/128"));
		add(p, f, NAT, OUT, 0, RET, 1, uid(1337, false));
		add(p, f, NAT, OUT, 0, RET, 1, daddr(f == V4 ? "127.0.0.1/32" : "::1/128", false));
	}
	/* Exclusions of each family, and an address-less rule only IPv4 has. */
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.0.0/8", false));
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("10.0.0.0/8", false));
	add(p, V6, NAT, OUT, 0, RET, 1, daddr("fd00::/64", false));
	add(p, V6, NAT, OUT, 0, RET, 1, daddr("fd00:0:0:1::/64", false));
	add(p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 0);
}

static const char exp_dual[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat output { type nat hook output priority -100 ; }\n"
	"add chain inet istio-proxy-nat istio-redirect\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat output counter jump istio-output\n"
	"add rule inet istio-proxy-nat istio-output oifname \"lo\" ip saddr 127.0.0.6/32 counter "
	"return\n"
	"add rule inet istio-proxy-nat istio-output oifname \"lo\" ip6 saddr ::6/128 counter return\n"
	"add rule inet istio-proxy-nat istio-output meta skuid 1337 counter return\n"
	"add rule inet istio-proxy-nat istio-output ip daddr { 10.0.0.0/8, 127.0.0.1/32 } counter "
	"return\n"
	"add rule inet istio-proxy-nat istio-output ip6 daddr { ::1/128, fd00::/63 } counter return\n"
	"add rule inet istio-proxy-nat istio-output meta nfproto ipv4 counter jump istio-redirect\n";

static void plan_not_foldable_verdict(struct redirect_plan *p)
{
	/* Non-terminal statements run once per matching rule: never folded. */
	struct plan_verdict mark = {.kind = PV_MARK_SET, .mark = 1338};
	add(p, V4, PLAN_TABLE_MANGLE, PLAN_CHAIN_OUTPUT, 0, mark, 1, daddr("10.0.0.0/8", false));
	add(p, V4, PLAN_TABLE_MANGLE, PLAN_CHAIN_OUTPUT, 0, mark, 1, daddr("11.0.0.0/8", false));
}

static const char exp_not_foldable_verdict[] =
	"add table inet istio-proxy-mangle\n"
	"add chain inet istio-proxy-mangle output { type route hook output priority -150 ; }\n"
	"add rule inet istio-proxy-mangle output ip daddr 10.0.0.0/8 counter meta mark set 1338\n"
	"add rule inet istio-proxy-mangle output ip daddr 11.0.0.0/8 counter meta mark set 1338\n";

static void plan_tables(struct redirect_plan *p)
{
	/* Only tables with rules; base chains with Istio's types and priorities. */
	struct plan_verdict zone = {.kind = PV_CT_ZONE, .zone = 2};
	struct plan_verdict tproxy = {.kind = PV_TPROXY, .port = 15006, .mark = 1337};
	add(p, V4, PLAN_TABLE_RAW, PLAN_CHAIN_OUTPUT, 0, jump(PLAN_CHAIN_OUTPUT_DNS), 0);
	add(p, V4, PLAN_TABLE_RAW, PLAN_CHAIN_OUTPUT_DNS, 0, zone, 2, proto(UDP), dport(53, false));
	add(p, V4, PLAN_TABLE_MANGLE, PLAN_CHAIN_PREROUTING, 0, jump(PLAN_CHAIN_INBOUND), 1,
	    proto(TCP));
	add(p, V4, PLAN_TABLE_MANGLE, PLAN_CHAIN_TPROXY, 0, tproxy, 2, daddr("127.0.0.1/32", true),
	    proto(TCP));
	add(p, V4, PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND, 0, jump(PLAN_CHAIN_TPROXY), 1,
	    proto(TCP));
}

static const char exp_tables[] =
	"add table inet istio-proxy-mangle\n"
	"add chain inet istio-proxy-mangle prerouting { type filter hook prerouting priority -150 ; }\n"
	"add chain inet istio-proxy-mangle istio-inbound\n"
	"add chain inet istio-proxy-mangle istio-tproxy\n"
	"add rule inet istio-proxy-mangle prerouting meta nfproto ipv4 meta l4proto tcp counter jump "
	"istio-inbound\n"
	"add rule inet istio-proxy-mangle istio-inbound meta l4proto tcp counter jump istio-tproxy\n"
	"add rule inet istio-proxy-mangle istio-tproxy ip daddr != 127.0.0.1/32 meta l4proto tcp "
	"tproxy ip to :15006 meta mark set 1337 counter accept\n"
	"add table inet istio-proxy-raw\n"
	"add chain inet istio-proxy-raw output { type filter hook output priority -300 ; }\n"
	"add chain inet istio-proxy-raw istio-output-dns\n"
	"add rule inet istio-proxy-raw output meta nfproto ipv4 counter jump istio-output-dns\n"
	"add rule inet istio-proxy-raw istio-output-dns meta l4proto udp udp dport 53 counter ct zone "
	"set 2\n";

/* A range list folds with the plain rule before it, as the rules it stands for would. */
static void plan_range_list(struct redirect_plan *p)
{
	add(p, V4, NAT, OUT, 0, RET, 1, daddr("127.0.0.1/32", false));
	add_list(p, V4, RET, "10.9.0.0/16,192.0.2.0/24,10.8.0.0/16");
	add(p, V4, NAT, PLAN_CHAIN_OUTPUT, 0, jump(OUT), 0);
}

static const char exp_range_list[] = NAT_OUTPUT_HEAD
	"add rule inet istio-proxy-nat istio-output ip daddr "
	"{ 10.8.0.0/15, 127.0.0.1/32, 192.0.2.0/24 } counter return\n";

/* A jump folds only disjoint ranges: the list splits where they overlap. */
static void plan_range_list_jump(struct redirect_plan *p)
{
	add_list(p, V4, jump(PLAN_CHAIN_REDIRECT), "10.0.0.0/8,10.1.0.0/16,192.0.2.0/24");
	add_list(p, V4, RET, "198.51.100.0/24");
}

static const char exp_range_list_jump[] =
	"add table inet istio-proxy-nat\n"
	"add chain inet istio-proxy-nat istio-redirect\n"
	"add chain inet istio-proxy-nat istio-output\n"
	"add rule inet istio-proxy-nat istio-output ip daddr 10.0.0.0/8 counter jump istio-redirect\n"
	"add rule inet istio-proxy-nat istio-output ip daddr { 10.1.0.0/16, 192.0.2.0/24 } counter "
	"jump istio-redirect\n"
	"add rule inet istio-proxy-nat istio-output ip daddr 198.51.100.0/24 counter return\n";

static void plan_empty(struct redirect_plan *p)
{
	(void)p;
}

struct render_case {
	const char *name;
	void (*build)(struct redirect_plan *p);
	const char *expected;
};

static const struct render_case cases[] = {
	{"exclude-outbound-ports", plan_exclude_ports, exp_exclude_ports},
	{"inbound-ports", plan_inbound_ports, exp_inbound_ports},
	{"cidr-merge", plan_cidr_merge, exp_cidr_merge},
	{"jump-overlap", plan_jump_overlap, exp_jump_overlap},
	{"jump-disjoint", plan_jump_disjoint, exp_jump_disjoint},
	{"negated", plan_negated, exp_negated},
	{"interrupted", plan_interrupted, exp_interrupted},
	{"inserts", plan_inserts, exp_inserts},
	{"dual-stack", plan_dual, exp_dual},
	{"non-terminal", plan_not_foldable_verdict, exp_not_foldable_verdict},
	{"tables", plan_tables, exp_tables},
	{"range-list", plan_range_list, exp_range_list},
	{"range-list-jump", plan_range_list_jump, exp_range_list_jump},
	{"empty", plan_empty, ""},
};

static void test_render_cases(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct redirect_plan p = {0};
		struct error err = {0};
		char *text = NULL;
		cases[i].build(&p);
		assert_int_equal(nft_render(&p, &text, &err), 0);
		if (strcmp(text, cases[i].expected) != 0) {
			fprintf(stderr, "case %s:\n--- expected\n%s--- got\n%s", cases[i].name,
				cases[i].expected, text);
			fail();
		}
		free(text);
		redirect_plan_done(&p);
	}
}

/* The i-th of 1,000 ranges 10.x.y.0/prefix, 250 per second octet. */
static int nth_range(char *buf, size_t len, int i, int prefix)
{
	return snprintf(buf, len, "10.%d.%d.0/%d", i / 250, i % 250, prefix);
}

static void test_thousand_cidrs(void **state)
{
	/* 1,000 excluded CIDRs become one rule: per-packet cost does not grow. */
	struct redirect_plan p = {0};
	struct nft_program prog;
	struct error err = {0};
	char buf[32];

	for (int i = 0; i < 1000; i++) {
		nth_range(buf, sizeof(buf), i, 24);
		add(&p, V4, NAT, OUT, 0, RET, 1, daddr(buf, false));
	}
	add(&p, V4, NAT, OUT, 0, jump(PLAN_CHAIN_REDIRECT), 0);
	assert_int_equal(nft_program_build(&p, &prog, &err), 0);
	assert_int_equal(prog.n, 2);
	assert_int_equal(prog.rule[0].fold, NFT_FOLD_DADDR);
	assert_int_equal(prog.rule[0].n_folded, 1000);
	/* 10.0.0.0-10.3.249.255: four runs of 250 adjacent /24s. */
	assert_int_equal(prog.rule[0].n_elems, 4);
	nft_program_done(&prog);
	redirect_plan_done(&p);

	/* Sparse ones stay one element each. */
	for (int i = 0; i < 1000; i++) {
		nth_range(buf, sizeof(buf), i, 25);
		add(&p, V4, NAT, OUT, 0, RET, 1, daddr(buf, false));
	}
	assert_int_equal(nft_program_build(&p, &prog, &err), 0);
	assert_int_equal(prog.n, 1);
	assert_int_equal(prog.rule[0].n_elems, 1000);
	nft_program_done(&prog);
	redirect_plan_done(&p);

	/* The same as one plan rule holding the list. */
	char *ranges = calloc(1000, 20);
	assert_non_null(ranges);
	size_t off = 0;
	for (int i = 0; i < 1000; i++) {
		if (i)
			ranges[off++] = ',';
		off += (size_t)nth_range(ranges + off, 20, i, 25);
	}
	add_list(&p, V4, RET, ranges);
	free(ranges);
	assert_int_equal(p.fam[V4].n, 1);
	assert_int_equal(p.fam[V4].n_expanded, 1000);
	assert_int_equal(nft_program_build(&p, &prog, &err), 0);
	assert_int_equal(prog.n, 1);
	assert_int_equal(prog.rule[0].fold, NFT_FOLD_DADDR);
	assert_int_equal(prog.rule[0].n_folded, 1000);
	assert_int_equal(prog.rule[0].n_elems, 1000);
	nft_program_done(&prog);
	redirect_plan_done(&p);
}

static void test_intervals_normalize(void **state)
{
	static const struct {
		const char *in[4];
		size_t n_in;
		size_t n_out;
		const char *first_start;
		const char *first_last;
	} table[] = {
		{{"10.0.0.0", "10.0.0.255", "10.0.1.0", "10.0.1.255"},
		 2,
		 1,
		 "10.0.0.0",
		 "10.0.1.255"},
		{{"10.0.0.0", "10.0.0.255", "10.0.2.0", "10.0.2.255"},
		 2,
		 2,
		 "10.0.0.0",
		 "10.0.0.255"},
		{{"10.0.0.0", "10.255.255.255", "10.1.0.0", "10.1.0.255"},
		 2,
		 1,
		 "10.0.0.0",
		 "10.255.255.255"},
		{{"0.0.0.0", "255.255.255.255", "1.0.0.0", "1.0.0.0"},
		 2,
		 1,
		 "0.0.0.0",
		 "255.255.255.255"},
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct nft_interval iv[2] = {0};
		for (size_t k = 0; k < table[i].n_in; k++) {
			assert_int_equal(inet_pton(AF_INET, table[i].in[2 * k], iv[k].start), 1);
			assert_int_equal(inet_pton(AF_INET, table[i].in[2 * k + 1], iv[k].last), 1);
		}
		assert_int_equal(nft_intervals_normalize(iv, table[i].n_in, AF_INET),
				 table[i].n_out);
		uint8_t a[4], b[4];
		assert_int_equal(inet_pton(AF_INET, table[i].first_start, a), 1);
		assert_int_equal(inet_pton(AF_INET, table[i].first_last, b), 1);
		assert_memory_equal(iv[0].start, a, 4);
		assert_memory_equal(iv[0].last, b, 4);
	}
}

static void test_invalid_rule(void **state)
{
	struct redirect_plan p = {0};
	struct error err = {0};
	char *text = NULL;
	struct plan_rule r = {.table = _PLAN_TABLE_MAX, .chain = OUT, .verdict = RET};
	assert_int_equal(redirect_plan_add(&p, V4, &r), 0);
	assert_int_equal(nft_render(&p, &text, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_INTERNAL);
	assert_null(text);
	redirect_plan_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_cases),
		cmocka_unit_test(test_thousand_cidrs),
		cmocka_unit_test(test_intervals_normalize),
		cmocka_unit_test(test_invalid_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
