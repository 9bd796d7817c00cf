// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/iptables_render.h"
#include "capture/redirect_params.h"
#include "capture/redirect_plan.h"
#include "capture/redirect_planner.h"
#include "kube/pod_info.h"
#include "util/error.h"
#include "util/file_util.h"
#include "util/istio_names.h"

#define PLUGIN_GOLDENS REFERENCE_DIR "/istio/cni/pkg/plugin/testdata"
#define CAPTURE_GOLDENS REFERENCE_DIR "/istio/tools/istio-iptables/pkg/capture/testdata"
#define NFT_GOLDENS REFERENCE_DIR "/istio/tools/istio-nftables/pkg/capture/testdata"

static bool have_reference(void)
{
	return access(PLUGIN_GOLDENS "/basic.txt.golden", R_OK) == 0;
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	if (file_read_full(path, 1u << 20, &buf, &len) < 0)
		fail_msg("cannot read %s", path);
	return buf;
}

/* Prints a line diff to make a mismatch readable. */
static void assert_text_equal(const char *what, const char *got, const char *want)
{
	if (strcmp(got, want) == 0)
		return;
	print_error("%s differs\n--- got\n%s--- want\n%s", what, got, want);
	fail_msg("%s: rendered document differs from the expected one", what);
}

/* ---- pods like Istio's dry-run test builds ---- */

struct pod_case {
	const char *golden;
	const char *annotations[4][2];
	const char *env[2][2];
	long long uid, gid; /* 0: not set */
	bool set_uid_zero;
};

static struct pod_info *pod_from_case(const struct pod_case *c)
{
	json_t *ann = json_pack("{s:s}", ANN_STATUS, "true");
	for (size_t i = 0; i < ELEMENTSOF(c->annotations) && c->annotations[i][0]; i++)
		json_object_set_new(ann, c->annotations[i][0], json_string(c->annotations[i][1]));
	json_t *env = json_array();
	for (size_t i = 0; i < ELEMENTSOF(c->env) && c->env[i][0]; i++)
		json_array_append_new(env, json_pack("{s:s,s:s}", "name", c->env[i][0], "value",
						     c->env[i][1]));
	json_t *sc = json_object();
	if (c->uid || c->set_uid_zero)
		json_object_set_new(sc, "runAsUser", json_integer(c->uid));
	if (c->gid)
		json_object_set_new(sc, "runAsGroup", json_integer(c->gid));
	/* Istio's test pod: containers test, istio-proxy, istio-validate; no args. */
	json_t *pod = json_pack("{s:{s:s,s:s,s:o},s:{s:[{s:s},{s:s,s:o,s:o},{s:s}]}}", "metadata",
				"namespace", "testNS", "name", "testPodName", "annotations", ann,
				"spec", "containers", "name", "test", "name", CONTAINER_ISTIO_PROXY,
				"env", env, "securityContext", sc, "name", "istio-validate");
	assert_non_null(pod);
	struct pod_info *p = NULL;
	struct error err = {0};
	if (pod_info_from_json(pod, &p, &err) < 0)
		fail_msg("%s", err.msg);
	json_decref(pod);
	return p;
}

static char *render_pod(const struct pod_info *pod, bool ipv6, enum plan_family fam)
{
	struct redirect_params params;
	struct redirect_plan plan = {0};
	struct error err = {0};
	char *text = NULL;

	assert_int_equal(redirect_decide(pod), REDIRECT_CAPTURE);
	if (redirect_params_from_pod(pod, &params, &err) < 0)
		fail_msg("params: %s", err.msg);
	if (redirect_plan_build(&params, ipv6, &plan, &err) < 0)
		fail_msg("plan: %s", err.msg);
	if (iptables_render(&plan, fam, &text, &err) < 0)
		fail_msg("render: %s", err.msg);
	redirect_plan_done(&plan);
	redirect_params_done(&params);
	return text;
}

static const struct pod_case plugin_cases[] = {
	{.golden = "basic"},
	{.golden = "include-exclude-ip",
	 .annotations = {{ANN_INCLUDE_OUTBOUND_IP_RANGES, "127.0.0.0/8"},
			 {ANN_EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/8"}}},
	{.golden = "include-exclude-ports",
	 .annotations = {{ANN_INCLUDE_INBOUND_PORTS, "1111,2222"},
			 {ANN_EXCLUDE_INBOUND_PORTS, "3333,4444"},
			 {ANN_EXCLUDE_OUTBOUND_PORTS, "5555,6666"}}},
	{.golden = "tproxy", .annotations = {{ANN_INTERCEPTION_MODE, "TPROXY"}}},
	{.golden = "dns", .env = {{PROXY_ENV_DNS_CAPTURE, "true"}}},
	{.golden = "invalid-drop", .env = {{PROXY_ENV_INVALID_DROP, "true"}}},
	{.golden = "custom-uid", .uid = 1000670000, .gid = 1000670001},
	{.golden = "basic", .set_uid_zero = true}, /* Istio's custom-uid-zero */
	{.golden = "custom-uid-tproxy",
	 .annotations = {{ANN_INTERCEPTION_MODE, "TPROXY"}},
	 .uid = 1000670000,
	 .gid = 1000670001},
};

static void test_plugin_goldens(void **state)
{
	if (!have_reference())
		skip();
	for (size_t i = 0; i < ELEMENTSOF(plugin_cases); i++) {
		const struct pod_case *c = &plugin_cases[i];
		char path[512];
		(void)snprintf(path, sizeof(path), "%s/%s.txt.golden", PLUGIN_GOLDENS, c->golden);
		_cleanup_free_ char *want = slurp(path);
		_cleanup_(pod_info_freep) struct pod_info *pod = pod_from_case(c);
		_cleanup_free_ char *got = render_pod(pod, false, PLAN_V4);
		assert_text_equal(c->golden, got, want);
		/* No IPv6 document unless asked for. */
		_cleanup_free_ char *v6 = render_pod(pod, false, PLAN_V6);
		assert_string_equal(v6, "");
	}
}

/* ---- istio-iptables capture goldens, configured through the params ---- */

struct capture_case {
	const char *golden;
	bool via_pod; /* also expressible through pod annotations */
	bool tproxy;
	const char *include_cidrs, *exclude_cidrs;
	const char *inbound, *inbound_exclude;
	const char *outbound_include, *outbound_exclude;
	const char *exclude_ifs, *virt_ifs;
	const char *uids, *gids;
	const char *loopback;
	bool drop_invalid;
	bool ipv6;
};

/* The capture tests' base config: nothing included, nothing excluded, 1337. */
static const struct capture_case capture_cases[] = {
	{.golden = "empty", .via_pod = true},
	{.golden = "inbound-ports-wildcard", .inbound = "*"},
	{.golden = "inbound-ports-include", .via_pod = true, .inbound = "32000,31000"},
	{.golden = "inbound-ports-tproxy",
	 .via_pod = true,
	 .tproxy = true,
	 .inbound = "32000,31000"},
	{.golden = "inbound-ports-wildcard-tproxy", .tproxy = true, .inbound = "*"},
	{.golden = "ipnets", .via_pod = true, .include_cidrs = "10.0.0.0/8"},
	{.golden = "ipnets-with-kube-virt-interfaces",
	 .via_pod = true,
	 .include_cidrs = "10.0.0.0/8",
	 .virt_ifs = "eth1,eth2"},
	{.golden = "kube-virt-interfaces",
	 .via_pod = true,
	 .include_cidrs = "*",
	 .virt_ifs = "eth1,eth2"},
	{.golden = "basic-exclude-nic", .via_pod = true, .exclude_ifs = "not-istio-nic"},
	{.golden = "drop-invalid", .via_pod = true, .drop_invalid = true},
	{.golden = "outbound-ports-include", .via_pod = true, .outbound_include = "32000,31000"},
	{.golden = "host-ipv4-loopback-cidr", .loopback = "127.0.0.1/8"},
	{.golden = "ipv6-empty-inbound-ports", .via_pod = true, .ipv6 = true},
	{.golden = "ipv6-inbound-ports", .via_pod = true, .inbound = "4000,5000", .ipv6 = true},
	{.golden = "ipv6-outbound-ports",
	 .via_pod = true,
	 .outbound_include = "32000,31000",
	 .ipv6 = true},
	{.golden = "ipv6-ipnets",
	 .via_pod = true,
	 .inbound = "4000,5000",
	 .inbound_exclude = "6000,7000,",
	 .virt_ifs = "eth0,eth1",
	 .include_cidrs = "2001:db8::/32",
	 .exclude_cidrs = "2001:db8::/32",
	 .ipv6 = true},
	{.golden = "ipv6-uid-gid",
	 .inbound = "4000,5000",
	 .inbound_exclude = "6000,7000",
	 .virt_ifs = "eth0,eth1",
	 .include_cidrs = "2001:db8::/32",
	 .exclude_cidrs = "2001:db8::/32",
	 .uids = "3,4",
	 .gids = "1,2",
	 .ipv6 = true},
	{.golden = "ipv6-virt-interfaces",
	 .via_pod = true,
	 .inbound = "4000,5000",
	 .inbound_exclude = "6000,7000",
	 .virt_ifs = "eth0,eth1",
	 .ipv6 = true},
	/* DNS not capture-all (resolv.conf servers) or no servers: ipv6-dns-uid-gid. */
	{.golden = "ipv6-dns-uid-gid", .uids = "3,4", .gids = "1,2", .ipv6 = true},
};

static void params_from_case(const struct capture_case *c, struct redirect_params *p)
{
	struct error err = {0};
	assert_int_equal(redirect_params_init_defaults(p), 0);
	p->mode = c->tproxy ? REDIRECT_MODE_TPROXY : REDIRECT_MODE_REDIRECT;
#define SET(fn, field, val, ...)                                                                   \
	if (fn("test", (val) ? (val) : "", ##__VA_ARGS__, &p->field, &err) < 0)                    \
	fail_msg("%s: %s", c->golden, err.msg)
	SET(redirect_parse_cidrs, include_cidrs, c->include_cidrs, true);
	SET(redirect_parse_cidrs, exclude_cidrs, c->exclude_cidrs, false);
	SET(redirect_parse_ports, include_inbound_ports, c->inbound, true);
	SET(redirect_parse_ports, exclude_inbound_ports, c->inbound_exclude, true);
	SET(redirect_parse_ports, include_outbound_ports, c->outbound_include, false);
	SET(redirect_parse_ports, exclude_outbound_ports, c->outbound_exclude, false);
	SET(redirect_parse_ifnames, exclude_interfaces, c->exclude_ifs);
	SET(redirect_parse_ifnames, reroute_interfaces, c->virt_ifs);
	if (c->uids)
		SET(redirect_parse_ids, proxy_uids, c->uids);
	if (c->gids)
		SET(redirect_parse_ids, proxy_gids, c->gids);
#undef SET
	if (c->loopback)
		assert_int_equal(parse_cidr(c->loopback, &p->host_loopback_v4), 0);
	p->drop_invalid = c->drop_invalid;
}

/* The same configuration as annotations on an injected pod (plus the always-added excludes). */
static struct pod_info *pod_from_capture_case(const struct capture_case *c)
{
	json_t *ann = json_pack("{s:s,s:s,s:s,s:s,s:s}", ANN_STATUS, "{}", ANN_INTERCEPTION_MODE,
				c->tproxy ? "TPROXY" : "REDIRECT", ANN_INCLUDE_OUTBOUND_IP_RANGES,
				c->include_cidrs ? c->include_cidrs : "", ANN_INCLUDE_INBOUND_PORTS,
				c->inbound ? c->inbound : "", ANN_EXCLUDE_OUTBOUND_PORTS,
				c->outbound_exclude ? c->outbound_exclude : "");
	if (c->exclude_cidrs)
		json_object_set_new(ann, ANN_EXCLUDE_OUTBOUND_IP_RANGES,
				    json_string(c->exclude_cidrs));
	if (c->inbound_exclude)
		json_object_set_new(ann, ANN_EXCLUDE_INBOUND_PORTS,
				    json_string(c->inbound_exclude));
	if (c->outbound_include)
		json_object_set_new(ann, ANN_INCLUDE_OUTBOUND_PORTS,
				    json_string(c->outbound_include));
	if (c->exclude_ifs)
		json_object_set_new(ann, ANN_EXCLUDE_INTERFACES, json_string(c->exclude_ifs));
	if (c->virt_ifs)
		json_object_set_new(ann, ANN_REROUTE_VIRTUAL_INTERFACES, json_string(c->virt_ifs));
	json_t *env = json_array();
	if (c->drop_invalid)
		json_array_append_new(env, json_pack("{s:s,s:s}", "name", PROXY_ENV_INVALID_DROP,
						     "value", "true"));
	json_t *pod = json_pack("{s:{s:s,s:s,s:o},s:{s:[{s:s,s:[s,s],s:o}]}}", "metadata",
				"namespace", "ns", "name", "p", "annotations", ann, "spec",
				"containers", "name", CONTAINER_ISTIO_PROXY, "args", "proxy",
				"sidecar", "env", env);
	assert_non_null(pod);
	struct pod_info *p = NULL;
	struct error err = {0};
	if (pod_info_from_json(pod, &p, &err) < 0)
		fail_msg("%s", err.msg);
	json_decref(pod);
	return p;
}

/* The restore documents of a capture golden: everything between the leading
 * "iptables-save"/"ip6tables-save" lines and the trailing save commands. */
static char *capture_documents(const char *golden)
{
	char *text = slurp(golden);
	char *start = text;
	while (strncmp(start, "iptables-save\n", 14) == 0 ||
	       strncmp(start, "ip6tables-save\n", 15) == 0)
		start = strchr(start, '\n') + 1;
	char *end = strstr(start, "\niptables-save\n");
	if (end)
		end[1] = '\0';
	char *docs = strdup(start);
	free(text);
	assert_non_null(docs);
	return docs;
}

static char *render_both(const struct redirect_plan *plan)
{
	_cleanup_free_ char *v4 = NULL, *v6 = NULL;
	assert_int_equal(iptables_render(plan, PLAN_V4, &v4, NULL), 0);
	assert_int_equal(iptables_render(plan, PLAN_V6, &v6, NULL), 0);
	char *all = NULL;
	assert_true(asprintf(&all, "%s%s", v4, v6) >= 0);
	return all;
}

static void test_capture_goldens(void **state)
{
	if (!have_reference())
		skip();
	for (size_t i = 0; i < ELEMENTSOF(capture_cases); i++) {
		const struct capture_case *c = &capture_cases[i];
		char path[512];
		(void)snprintf(path, sizeof(path), "%s/%s.golden", CAPTURE_GOLDENS, c->golden);
		_cleanup_free_ char *want = capture_documents(path);

		struct redirect_params p;
		struct redirect_plan plan = {0};
		params_from_case(c, &p);
		assert_int_equal(redirect_plan_build(&p, c->ipv6, &plan, NULL), 0);
		_cleanup_free_ char *got = render_both(&plan);
		assert_text_equal(c->golden, got, want);
		redirect_plan_done(&plan);
		redirect_params_done(&p);

		if (!c->via_pod)
			continue;
		_cleanup_(pod_info_freep) struct pod_info *pod = pod_from_capture_case(c);
		struct error err = {0};
		if (redirect_params_from_pod(pod, &p, &err) < 0)
			fail_msg("%s: %s", c->golden, err.msg);
		assert_int_equal(redirect_plan_build(&p, c->ipv6, &plan, NULL), 0);
		_cleanup_free_ char *got_pod = render_both(&plan);
		assert_text_equal(c->golden, got_pod, want);
		redirect_plan_done(&plan);
		redirect_params_done(&p);
	}
}

/* ---- nftables goldens: same rules per chain (IPv4-only configurations) ---- */

static int chain_from_nft(const char *name)
{
	for (int c = 0; c < _PLAN_CHAIN_MAX; c++)
		if (strcmp(redirect_plan_chain_nft_name((enum plan_chain)c), name) == 0)
			return c;
	return -1;
}

static int table_from_nft(const char *name)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (strcmp(redirect_plan_table_nft_name((enum plan_table)t), name) == 0)
			return t;
	return -1;
}

static void test_nft_golden_rule_counts(void **state)
{
	if (access(NFT_GOLDENS "/empty.golden", R_OK) != 0)
		skip();
	for (size_t i = 0; i < ELEMENTSOF(capture_cases); i++) {
		const struct capture_case *c = &capture_cases[i];
		if (c->ipv6)
			continue; /* v4 and v6 rules share inet tables there */
		char path[512];
		(void)snprintf(path, sizeof(path), "%s/%s.golden", NFT_GOLDENS, c->golden);
		_cleanup_free_ char *text = slurp(path);

		unsigned int want[_PLAN_TABLE_MAX][_PLAN_CHAIN_MAX] = {{0}};
		unsigned int got[_PLAN_TABLE_MAX][_PLAN_CHAIN_MAX] = {{0}};
		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
			char table[64], chain[64];
			if (sscanf(line, "add rule inet %63s %63s", table, chain) != 2 &&
			    sscanf(line, "insert rule inet %63s %63s", table, chain) != 2)
				continue;
			int t = table_from_nft(table), ch = chain_from_nft(chain);
			if (t < 0 || ch < 0)
				fail_msg("%s: unknown %s %s", c->golden, table, chain);
			want[t][ch]++;
		}

		struct redirect_params p;
		struct redirect_plan plan = {0};
		params_from_case(c, &p);
		assert_int_equal(redirect_plan_build(&p, false, &plan, NULL), 0);
		for (size_t r = 0; r < plan.fam[PLAN_V4].n; r++) {
			const struct plan_rule *pr = &plan.fam[PLAN_V4].rule[r];
			got[pr->table][pr->chain] += (unsigned int)plan_rule_count(pr);
		}
		for (int t = 0; t < _PLAN_TABLE_MAX; t++)
			for (int ch = 0; ch < _PLAN_CHAIN_MAX; ch++)
				if (got[t][ch] != want[t][ch])
					fail_msg("%s: %s/%s has %u rules, nft golden %u", c->golden,
						 redirect_plan_table_nft_name(t),
						 redirect_plan_chain_nft_name(ch), got[t][ch],
						 want[t][ch]);
		redirect_plan_done(&plan);
		redirect_params_done(&p);
	}
}

/* ---- our own fixtures: work without ../shared ---- */

struct fixture_case {
	const char *pod;
	bool ipv6;
	const char *plan_v4;
	const char *plan_v6; /* NULL: expect "" */
	bool tproxy_routes;
};

static const struct fixture_case fixture_cases[] = {
	{"sidecar-default.json", false, "sidecar-default.v4.rules", NULL, false},
	{"tproxy-dns.json", false, "tproxy-dns.v4.rules", NULL, true},
	{"native-sidecar-dual-stack.json", true, "native-sidecar-dual-stack.v4.rules",
	 "native-sidecar-dual-stack.v6.rules", false},
};

static void test_fixture_plans(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(fixture_cases); i++) {
		const struct fixture_case *c = &fixture_cases[i];
		char path[512];
		(void)snprintf(path, sizeof(path), "%s/fixtures/pods/%s", TEST_SOURCE_DIR, c->pod);
		_cleanup_free_ char *doc = slurp(path);
		json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(j);
		struct pod_info *pod = NULL;
		assert_int_equal(pod_info_from_json(j, &pod, NULL), 0);
		json_decref(j);

		struct redirect_params p;
		struct redirect_plan plan = {0};
		assert_int_equal(redirect_decide(pod), REDIRECT_CAPTURE);
		assert_int_equal(redirect_params_from_pod(pod, &p, NULL), 0);
		assert_int_equal(redirect_plan_build(&p, c->ipv6, &plan, NULL), 0);
		assert_int_equal(plan.ipv6, c->ipv6);
		assert_int_equal(plan.tproxy_routes, c->tproxy_routes);

		for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
			const char *name = f == PLAN_V4 ? c->plan_v4 : c->plan_v6;
			_cleanup_free_ char *got = NULL;
			assert_int_equal(iptables_render(&plan, (enum plan_family)f, &got, NULL),
					 0);
			if (!name) {
				assert_string_equal(got, "");
				continue;
			}
			(void)snprintf(path, sizeof(path), "%s/fixtures/plans/%s", TEST_SOURCE_DIR,
				       name);
			_cleanup_free_ char *want = slurp(path);
			assert_text_equal(name, got, want);
		}
		redirect_plan_done(&plan);
		redirect_params_done(&p);
		pod_info_free(pod);
	}
}

/* Fixture pods that must be skipped, with the reason. */
static void test_fixture_skips(void **state)
{
	static const struct {
		const char *pod;
		enum redirect_skip want;
	} cases[] = {
		{"gateway.json", REDIRECT_SKIP_NOT_SIDECAR},
		{"legacy-istio-init.json", REDIRECT_SKIP_ISTIO_INIT},
		{"inject-label-false.json", REDIRECT_SKIP_INJECT_DISABLED},
		{"no-sidecar.json", REDIRECT_SKIP_NO_PROXY},
		{"validation-failed.json", REDIRECT_CAPTURE},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		char path[512];
		(void)snprintf(path, sizeof(path), "%s/fixtures/pods/%s", TEST_SOURCE_DIR,
			       cases[i].pod);
		_cleanup_free_ char *doc = slurp(path);
		json_t *j = json_loads(doc, JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(j);
		_cleanup_(pod_info_freep) struct pod_info *pod = NULL;
		assert_int_equal(pod_info_from_json(j, &pod, NULL), 0);
		json_decref(j);
		assert_int_equal(redirect_decide(pod), cases[i].want);
	}
}

/* ---- plan properties ---- */

static void test_plan_properties(void **state)
{
	struct redirect_params p;
	struct redirect_plan plan = {0};
	struct error err = {0};

	/* TPROXY with no inbound ports: no routes. */
	assert_int_equal(redirect_params_init_defaults(&p), 0);
	p.mode = REDIRECT_MODE_TPROXY;
	assert_int_equal(redirect_parse_ports("k", "", true, &p.include_inbound_ports, NULL), 0);
	assert_int_equal(redirect_plan_build(&p, true, &plan, NULL), 0);
	assert_false(plan.tproxy_routes);
	assert_true(plan.ipv6);
	assert_true(plan.fam[PLAN_V6].n > 0);
	redirect_plan_done(&plan);

	/* A wildcard exclude is refused and leaves the plan empty. */
	p.exclude_cidrs.wildcard = true;
	assert_int_equal(redirect_plan_build(&p, false, &plan, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_CONFIG);
	assert_int_equal(plan.fam[PLAN_V4].n, 0);
	assert_null(plan.fam[PLAN_V4].rule);
	redirect_params_done(&p);

	/* v4 and v6 CIDRs land only in their own family. */
	assert_int_equal(redirect_params_init_defaults(&p), 0);
	assert_int_equal(redirect_parse_cidrs("k", "10.0.0.0/8,fd00::/8", true, &p.include_cidrs,
					      NULL),
			 0);
	assert_int_equal(redirect_parse_cidrs("k", "10.1.0.0/16,fd00:1::/32", false,
					      &p.exclude_cidrs, NULL),
			 0);
	assert_int_equal(redirect_plan_build(&p, true, &plan, NULL), 0);
	_cleanup_free_ char *v4 = NULL, *v6 = NULL;
	assert_int_equal(iptables_render(&plan, PLAN_V4, &v4, NULL), 0);
	assert_int_equal(iptables_render(&plan, PLAN_V6, &v6, NULL), 0);
	assert_non_null(strstr(v4, "-A ISTIO_OUTPUT -d 10.1.0.0/16 -j RETURN\n"));
	assert_non_null(strstr(v4, "-A ISTIO_OUTPUT -d 10.0.0.0/8 -j ISTIO_REDIRECT\n"));
	assert_null(strstr(v4, "fd00"));
	assert_non_null(strstr(v6, "-A ISTIO_OUTPUT -d fd00:1::/32 -j RETURN\n"));
	assert_non_null(strstr(v6, "-A ISTIO_OUTPUT -d fd00::/8 -j ISTIO_REDIRECT\n"));
	assert_null(strstr(v6, "10.0.0.0"));
	/* ::1 include is loopback too: the "! --uid-owner" returns disappear in both. */
	assert_non_null(strstr(v4, "-o lo -m owner ! --uid-owner 1337 -j RETURN"));
	redirect_plan_done(&plan);
	assert_int_equal(redirect_parse_cidrs("k", "::1/128", true, &p.include_cidrs, NULL), 0);
	assert_int_equal(redirect_plan_build(&p, false, &plan, NULL), 0);
	_cleanup_free_ char *v4b = NULL;
	assert_int_equal(iptables_render(&plan, PLAN_V4, &v4b, NULL), 0);
	assert_null(strstr(v4b, "! --uid-owner"));
	assert_null(strstr(v4b, "-j ISTIO_REDIRECT\n-")); /* no v4 include rule */
	redirect_plan_done(&plan);
	redirect_params_done(&p);

	/* Host bits are kept as written. */
	assert_int_equal(redirect_params_init_defaults(&p), 0);
	assert_int_equal(redirect_parse_cidrs("k", "10.0.0.1/8", true, &p.include_cidrs, NULL), 0);
	assert_int_equal(redirect_plan_build(&p, false, &plan, NULL), 0);
	_cleanup_free_ char *v4c = NULL;
	assert_int_equal(iptables_render(&plan, PLAN_V4, &v4c, NULL), 0);
	assert_non_null(strstr(v4c, "-A ISTIO_OUTPUT -d 10.0.0.1/8 -j ISTIO_REDIRECT\n"));
	redirect_plan_done(&plan);
	redirect_params_done(&p);

	/* An empty plan renders as "". */
	_cleanup_free_ char *empty = NULL;
	assert_int_equal(iptables_render(&plan, PLAN_V4, &empty, NULL), 0);
	assert_string_equal(empty, "");
}

static void test_render_rule(void **state)
{
	struct plan_rule r = {.table = PLAN_TABLE_NAT, .chain = PLAN_CHAIN_OUTPUT_ISTIO};
	r.match[r.n_matches++] = (struct plan_match){.kind = PM_OIF, .u.ifname = "lo"};
	r.match[r.n_matches++] = (struct plan_match){.kind = PM_UID, .neg = true, .u.id = 1337};
	r.verdict.kind = PV_RETURN;
	_cleanup_free_ char *text = NULL;
	assert_int_equal(iptables_render_rule(&r, 0, &text), 0);
	assert_string_equal(text, "-o lo -m owner ! --uid-owner 1337 -j RETURN");
}

/* Excluded ranges: one rule per family holding the list, rendered a line per range. */
static void test_range_list(void **state)
{
	struct redirect_params p;
	struct redirect_plan plan = {0};

	assert_int_equal(redirect_params_init_defaults(&p), 0);
	assert_int_equal(redirect_parse_cidrs("k",
					      "10.9.0.0/16,fd00:9::/32,10.8.0.1/8,192.0.2.0/24",
					      false, &p.exclude_cidrs, NULL),
			 0);
	assert_int_equal(redirect_plan_build(&p, true, &plan, NULL), 0);

	const struct plan_rule *list[_PLAN_FAMILY_MAX] = {NULL};
	size_t lists = 0;
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		size_t expanded = 0;
		for (size_t i = 0; i < plan.fam[f].n; i++) {
			const struct plan_rule *r = &plan.fam[f].rule[i];
			expanded += plan_rule_count(r);
			if (plan_rule_list_index(r) >= 0) {
				list[f] = r;
				lists++;
			}
		}
		assert_int_equal(plan.fam[f].n_expanded, expanded);
	}
	assert_int_equal(lists, 2);
	assert_non_null(list[PLAN_V4]);
	assert_non_null(list[PLAN_V6]);
	assert_int_equal(plan_rule_count(list[PLAN_V4]), 3);
	assert_int_equal(plan_rule_count(list[PLAN_V6]), 1);
	assert_int_equal(plan.fam[PLAN_V4].n_expanded, plan.fam[PLAN_V4].n + 2);

	/* Element k stands for a plain "-d RANGE" rule. */
	struct plan_match tmp;
	int li = plan_rule_list_index(list[PLAN_V4]);
	const struct plan_match *m = plan_rule_match(list[PLAN_V4], (unsigned int)li, 1, &tmp);
	assert_int_equal(m->kind, PM_DADDR);
	assert_int_equal(m->u.cidr.prefix, 8);
	_cleanup_free_ char *one = NULL;
	assert_int_equal(iptables_render_rule(list[PLAN_V4], 2, &one), 0);
	assert_string_equal(one, "-d 192.0.2.0/24 -j RETURN");

	/* The document has them in the annotation's order, each family its own. */
	_cleanup_free_ char *v4 = NULL, *v6 = NULL;
	assert_int_equal(iptables_render(&plan, PLAN_V4, &v4, NULL), 0);
	assert_int_equal(iptables_render(&plan, PLAN_V6, &v6, NULL), 0);
	assert_non_null(strstr(v4, "-A ISTIO_OUTPUT -d 10.9.0.0/16 -j RETURN\n"
				   "-A ISTIO_OUTPUT -d 10.8.0.1/8 -j RETURN\n"
				   "-A ISTIO_OUTPUT -d 192.0.2.0/24 -j RETURN\n"));
	assert_null(strstr(v4, "fd00"));
	assert_non_null(strstr(v6, "-A ISTIO_OUTPUT -d fd00:9::/32 -j RETURN\n"));
	assert_null(strstr(v6, "10.9.0.0"));
	redirect_plan_done(&plan);

	/* Without IPv6 the v6 range is not kept at all. */
	assert_int_equal(redirect_plan_build(&p, false, &plan, NULL), 0);
	assert_int_equal(plan.n_kept, 1);
	redirect_plan_done(&plan);
	redirect_params_done(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plugin_goldens),
		cmocka_unit_test(test_capture_goldens),
		cmocka_unit_test(test_nft_golden_rule_counts),
		cmocka_unit_test(test_fixture_plans),
		cmocka_unit_test(test_fixture_skips),
		cmocka_unit_test(test_plan_properties),
		cmocka_unit_test(test_render_rule),
		cmocka_unit_test(test_range_list),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
