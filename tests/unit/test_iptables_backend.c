// SPDX-License-Identifier: Apache-2.0
/*
 * The iptables backend's pure parts (canonical rule form, save-vs-plan
 * comparison, restore documents) against real iptables-save output of both
 * variants (tests/fixtures/iptables-save, produced by iptables 1.8.9 from our
 * documents), and its sandboxed exec (root only; skipped otherwise).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/iptables_backend.h"
#include "capture/iptables_render.h"
#include "capture/iptables_view.h"
#include "capture/redirect_params.h"
#include "capture/redirect_plan.h"
#include "capture/redirect_planner.h"
#include "kube/pod_info.h"
#include "util/error.h"
#include "util/file_util.h"

#define FIXTURES TEST_SOURCE_DIR "/fixtures/iptables-save"

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	if (file_read_full(path, 1u << 20, &buf, &len) < 0)
		fail_msg("cannot read %s", path);
	return buf;
}

static void plan_for(const char *pod_name, bool ipv6, struct redirect_plan *ret)
{
	char path[512];
	(void)snprintf(path, sizeof(path), FIXTURES "/%s.pod.json", pod_name);
	json_error_t je;
	json_t *pod = json_load_file(path, 0, &je);
	if (!pod)
		fail_msg("%s: %s", path, je.text);
	struct pod_info *info = NULL;
	struct error err = {0};
	assert_int_equal(pod_info_from_json(pod, &info, &err), 0);
	assert_int_equal(redirect_decide(info), REDIRECT_CAPTURE);
	struct redirect_params params = {0};
	assert_int_equal(redirect_params_from_pod(info, &params, &err), 0);
	assert_int_equal(redirect_plan_build(&params, ipv6, ret, &err), 0);
	redirect_params_done(&params);
	pod_info_free(info);
	json_decref(pod);
}

static void test_canon(void **state)
{
	static const struct {
		const char *ours, *saved;
		bool equal;
	} cases[] = {
		{"-p tcp --dport 15008 -j RETURN", "-p tcp -m tcp --dport 15008 -j RETURN", true},
		{"-p udp --dport 15020 -j RETURN", "-p udp -m udp --dport 15020 -j RETURN", true},
		{"-o lo -s 127.0.0.6/32 -j RETURN", "-s 127.0.0.6/32 -o lo -j RETURN", true},
		{"-o lo ! -d 127.0.0.1/32 -p tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT",
		 "! -d 127.0.0.1/32 -o lo -p tcp -m tcp ! --dport 15008 -m owner --uid-owner 1337 -j ISTIO_IN_REDIRECT",
		 true},
		{"-p tcp -m mark --mark 1337 -j CONNMARK --save-mark",
		 "-p tcp -m mark --mark 0x539 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff",
		 true},
		{"-j MARK --set-mark 1338", "-j MARK --set-xmark 0x53a/0xffffffff", true},
		{"! -d 127.0.0.1/32 -p tcp -j TPROXY --tproxy-mark 1337/0xffffffff --on-port 15006",
		 "! -d 127.0.0.1/32 -p tcp -j TPROXY --on-port 15006 --on-ip 0.0.0.0 --tproxy-mark 0x539/0xffffffff",
		 true},
		{"! -d ::1/128 -p tcp -j TPROXY --tproxy-mark 1337/0xffffffff --on-port 15006",
		 "! -d ::1/128 -p tcp -j TPROXY --on-port 15006 --on-ip :: --tproxy-mark 0x539/0xffffffff",
		 true},
		{"-p udp --dport 53 -j REDIRECT --to-port 15053",
		 "-p udp -m udp --dport 53 -j REDIRECT --to-ports 15053", true},
		{"-d 10.30.0.7/16 -j RETURN", "-d 10.30.0.0/16 -j RETURN", true},
		{"-d fd30::1/64 -j RETURN", "-d fd30::/64 -j RETURN", true},
		{"-p tcp -i lo -m mark ! --mark 1338 -j RETURN",
		 "-i lo -p tcp -m mark ! --mark 0x53a -j RETURN", true},
		/* differences that matter */
		{"-p tcp --dport 15008 -j RETURN", "-p tcp -m tcp ! --dport 15008 -j RETURN",
		 false},
		{"-p tcp --dport 15008 -j RETURN", "-p udp -m udp --dport 15008 -j RETURN", false},
		{"-m owner --uid-owner 1337 -j RETURN", "-m owner --uid-owner 1338 -j RETURN",
		 false},
		{"-d 10.0.0.0/8 -j RETURN", "-d 10.0.0.0/16 -j RETURN", false},
		{"-j MARK --set-mark 1338", "-j MARK --set-xmark 0x53a/0xff", false},
		{"-o lo -j RETURN", "-i lo -j RETURN", false},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		_cleanup_free_ char *a = NULL, *b = NULL;
		assert_int_equal(iptables_canon_rule(cases[i].ours, &a), 0);
		assert_int_equal(iptables_canon_rule(cases[i].saved, &b), 0);
		if ((strcmp(a, b) == 0) != cases[i].equal)
			fail_msg("case %zu: \"%s\" vs \"%s\" (%s / %s): want %s", i, cases[i].ours,
				 cases[i].saved, a, b, cases[i].equal ? "equal" : "different");
	}
}

static const struct {
	const char *pod;
	bool ipv6;
} fixture_pods[] = {
	{"default", false},
	{"tproxy", false},
	{"dual", true},
};

static const char *const variants[] = {"nft", "legacy"};

/* Every fixture's save output equals its plan, in both families and variants. */
static void test_compare_fixtures(void **state)
{
	(void)state;
	for (size_t p = 0; p < sizeof(fixture_pods) / sizeof(fixture_pods[0]); p++) {
		struct redirect_plan plan = {0};
		plan_for(fixture_pods[p].pod, fixture_pods[p].ipv6, &plan);
		for (size_t v = 0; v < 2; v++) {
			for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
				char path[512];
				(void)snprintf(path, sizeof(path), FIXTURES "/%s.v%d.%s.save",
					       fixture_pods[p].pod, f == PLAN_V4 ? 4 : 6,
					       variants[v]);
				_cleanup_free_ char *save = slurp(path);
				struct error err = {0};
				int r = iptables_compare_save(save, &plan, f, &err);
				if (r != 0)
					fail_msg("%s: %s\n%s", path, err.msg, err.details);
			}
		}
		redirect_plan_done(&plan);
	}
}

/* Replaces the first line equal to from (with its newline) by to. */
static char *edit(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	if (!at)
		fail_msg("\"%s\" not in the fixture", from);
	char *out = NULL;
	if (asprintf(&out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from)) < 0)
		fail_msg("out of memory");
	return out;
}

static void test_compare_tampered(void **state)
{
	static const struct {
		const char *from, *to;
		const char *want; /* in the message; NULL: still equal */
	} cases[] = {
		{"-A ISTIO_OUTPUT -s 127.0.0.6/32 -o lo -j RETURN\n", "",
		 "missing rule in nat ISTIO_OUTPUT: -A ISTIO_OUTPUT -o lo -s 127.0.0.6/32 -j RETURN"},
		{"COMMIT\n", "-A ISTIO_OUTPUT -j ACCEPT\nCOMMIT\n",
		 "extra rule in nat ISTIO_OUTPUT: -A ISTIO_OUTPUT -j ACCEPT"},
		{":ISTIO_REDIRECT - [0:0]\n", ":ISTIO_REDIRECT - [0:0]\n:ISTIO_STALE - [0:0]\n",
		 "extra chain nat ISTIO_STALE"},
		{"-A PREROUTING -p tcp -j ISTIO_INBOUND\n", "",
		 "missing rule in nat PREROUTING: -A PREROUTING -p tcp -j ISTIO_INBOUND"},
		{"-A OUTPUT -j ISTIO_OUTPUT\n",
		 "-A OUTPUT -j ISTIO_OUTPUT\n-A OUTPUT -j ISTIO_OUTPUT\n",
		 "extra rule in nat OUTPUT: -A OUTPUT -j ISTIO_OUTPUT"},
		{"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports 15001\n", "",
		 "missing rule in nat ISTIO_REDIRECT"},
		{"-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n-A ISTIO_OUTPUT ! -d",
		 "-A ISTIO_OUTPUT ! -d", NULL /* moved below: checked separately */},
		/* other people's rules in the built-in chains are not ours to judge */
		{"-A OUTPUT -j ISTIO_OUTPUT\n",
		 "-A OUTPUT -j KUBE-FOO\n-A OUTPUT -j ISTIO_OUTPUT\n", ""},
		{"-A PREROUTING -p tcp -j ISTIO_INBOUND\n",
		 "-A PREROUTING -s 10.0.0.0/8 -j ACCEPT\n-A PREROUTING -p tcp -j ISTIO_INBOUND\n",
		 ""},
	};
	(void)state;
	struct redirect_plan plan = {0};
	plan_for("default", false, &plan);
	_cleanup_free_ char *save = slurp(FIXTURES "/default.v4.nft.save");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (!cases[i].want)
			continue;
		_cleanup_free_ char *t = edit(save, cases[i].from, cases[i].to);
		struct error err = {0};
		int r = iptables_compare_save(t, &plan, PLAN_V4, &err);
		if (cases[i].want[0] == '\0') {
			if (r != 0)
				fail_msg("case %zu: want equal, got %s", i, err.msg);
			continue;
		}
		assert_int_equal(r, -EBADMSG);
		assert_int_equal(err.kind, ERR_CHECK);
		if (!strstr(err.msg, cases[i].want))
			fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
				 cases[i].want);
		if (!strstr(err.details, cases[i].want))
			fail_msg("case %zu: details lack \"%s\"", i, cases[i].want);
	}

	/* the same rules in another order: named as out of order */
	_cleanup_free_ char *a = edit(save, "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n",
				      "");
	_cleanup_free_ char *b = edit(a, "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n",
				      "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN\n"
				      "-A ISTIO_OUTPUT -m owner --uid-owner 1337 -j RETURN\n");
	struct error err = {0};
	assert_int_equal(iptables_compare_save(b, &plan, PLAN_V4, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "rules of nat ISTIO_OUTPUT are out of order"));

	/* a v6 family with nothing planned and nothing saved is equal; stale v6 chains are not */
	error_clear(&err);
	assert_int_equal(iptables_compare_save("", &plan, PLAN_V6, &err), 0);
	_cleanup_free_ char *v6 = slurp(FIXTURES "/dual.v6.nft.save");
	assert_int_equal(iptables_compare_save(v6, &plan, PLAN_V6, &err), -EBADMSG);
	assert_non_null(strstr(err.msg, "ip6tables nat"));

	/* nothing at all in the netns: every planned chain is missing */
	error_clear(&err);
	assert_int_equal(iptables_compare_save("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n", &plan,
					       PLAN_V4, &err),
			 -EBADMSG);
	assert_non_null(strstr(err.details, "missing chain nat ISTIO_OUTPUT"));
	redirect_plan_done(&plan);
}

/* A fresh netns gets exactly the rendered document (Istio's bytes). */
static void test_document_fresh(void **state)
{
	(void)state;
	for (size_t p = 0; p < sizeof(fixture_pods) / sizeof(fixture_pods[0]); p++) {
		struct redirect_plan plan = {0};
		plan_for(fixture_pods[p].pod, fixture_pods[p].ipv6, &plan);
		for (int f = 0; f < (plan.ipv6 ? 2 : 1); f++) {
			_cleanup_free_ char *doc = NULL, *want = NULL;
			assert_int_equal(iptables_render(&plan, f, &want, NULL), 0);
			assert_int_equal(iptables_build_document("", &plan, f, &doc, NULL), 0);
			assert_string_equal(doc, want);
			/* a netns with only the built-in chains is fresh too */
			_cleanup_free_ char *doc2 = NULL;
			assert_int_equal(
				iptables_build_document(
					"*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
					"-A OUTPUT -j KUBE-FOO\nCOMMIT\n",
					&plan, f, &doc2, NULL),
				0);
			assert_string_equal(doc2, want);
		}
		redirect_plan_done(&plan);
	}
}

static void assert_lines(const char *doc, const char *const *lines, bool present)
{
	for (size_t i = 0; lines[i]; i++) {
		bool found = strstr(doc, lines[i]) != NULL;
		if (found != present)
			fail_msg("\"%s\" %s the document:\n%s", lines[i],
				 present ? "missing from" : "unexpected in", doc);
	}
}

/* Replacing the TPROXY pod's state by the default plan, in one document. */
static void test_document_replace(void **state)
{
	static const char *const want[] = {
		"* mangle\n-D PREROUTING -i eth9 -j RETURN\n",
		"-D PREROUTING -p tcp -m mark --mark 0x539 -j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff\n",
		"-D OUTPUT ! -d 127.0.0.1/32 -o lo -p tcp -m owner --uid-owner 1337 -j MARK --set-xmark 0x53a/0xffffffff\n",
		"-F ISTIO_DIVERT\n",
		"-X ISTIO_DIVERT\n",
		"-X ISTIO_TPROXY\n",
		// NOLINTNEXTLINE(bugprone-suspicious-missing-comma): one fragment, on two lines
		"* nat\n-D PREROUTING -i eth8 -j ISTIO_REDIRECT\n-D PREROUTING -i eth8 -j RETURN\n"
		"-D PREROUTING -i eth9 -j RETURN\n-D OUTPUT -o eth9 -j RETURN\n-D OUTPUT -j ISTIO_OUTPUT\n",
		"-X ISTIO_REDIRECT\n-N ISTIO_INBOUND\n",
		"-A ISTIO_OUTPUT -j ISTIO_REDIRECT\nCOMMIT\n",
		"* raw\n-D PREROUTING -j ISTIO_INBOUND\n-D OUTPUT -j ISTIO_OUTPUT_DNS\n-F ISTIO_INBOUND\n",
		NULL,
	};
	static const char *const never[] = {"KUBE-FOO", "-D PREROUTING -s 10.0.0.0/8", NULL};
	(void)state;
	struct redirect_plan plan = {0};
	plan_for("default", false, &plan);
	_cleanup_free_ char *save0 = slurp(FIXTURES "/tproxy.v4.legacy.save");
	_cleanup_free_ char *s1 = edit(save0, "-A OUTPUT -j ISTIO_OUTPUT\n",
				       "-A OUTPUT -j KUBE-FOO\n-A OUTPUT -j ISTIO_OUTPUT\n");
	_cleanup_free_ char *save =
		edit(s1, "-A PREROUTING -i eth9 -j RETURN\n-A OUTPUT -o eth9",
		     "-A PREROUTING -i eth9 -j RETURN\n"
		     "-A PREROUTING -s 10.0.0.0/8 -j ACCEPT\n-A OUTPUT -o eth9");
	_cleanup_free_ char *doc = NULL;
	assert_int_equal(iptables_build_document(save, &plan, PLAN_V4, &doc, NULL), 0);
	assert_lines(doc, want, true);
	assert_lines(doc, never, false);

	/* the same pod again: its old rules go, the same ones come back */
	_cleanup_free_ char *dsave = slurp(FIXTURES "/default.v4.nft.save");
	_cleanup_free_ char *doc2 = NULL;
	assert_int_equal(iptables_build_document(dsave, &plan, PLAN_V4, &doc2, NULL), 0);
	static const char *const again[] = {
		"* nat\n-D PREROUTING -p tcp -j ISTIO_INBOUND\n-D OUTPUT -j ISTIO_OUTPUT\n-F ISTIO_INBOUND\n",
		"-X ISTIO_REDIRECT\n-N ISTIO_INBOUND\n",
		NULL,
	};
	assert_lines(doc2, again, true);
	redirect_plan_done(&plan);
}

static void test_document_remove(void **state)
{
	static const char *const want[] = {
		"-D OUTPUT -o eth9 -j RETURN\n",
		"-D OUTPUT -o lo -p tcp -m mark --mark 0x539 -j RETURN\n",
		"-D OUTPUT -p tcp -m connmark --mark 0x539 -j CONNMARK --restore-mark",
		"-X ISTIO_OUTPUT_DNS\n",
		"* raw\n",
		NULL,
	};
	(void)state;
	_cleanup_free_ char *save0 = slurp(FIXTURES "/tproxy.v4.nft.save");
	_cleanup_free_ char *save = edit(save0, "-A OUTPUT -j ISTIO_OUTPUT\n",
					 "-A OUTPUT -j KUBE-FOO\n-A OUTPUT -j ISTIO_OUTPUT\n");
	_cleanup_free_ char *doc = NULL;
	assert_int_equal(iptables_build_document(save, NULL, PLAN_V4, &doc, NULL), 0);
	assert_lines(doc, want, true);
	assert_null(strstr(doc, "KUBE-FOO"));
	assert_null(strstr(doc, "-N "));
	assert_null(strstr(doc, "-A "));

	/* nothing of ours: nothing to run */
	_cleanup_free_ char *none = NULL;
	assert_int_equal(iptables_build_document(
				 "*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j KUBE-FOO\nCOMMIT\n",
				 NULL, PLAN_V4, &none, NULL),
			 0);
	assert_string_equal(none, "");
	_cleanup_free_ char *v6 = slurp(FIXTURES "/default.v6.legacy.save");
	_cleanup_free_ char *none6 = NULL;
	assert_int_equal(iptables_build_document(v6, NULL, PLAN_V6, &none6, NULL), 0);
	assert_string_equal(none6, "");
}

/*
 * Eight chains fill the view's first chain array; a rule of the first one
 * then jumps to a ninth, so the array grows while that rule is being placed.
 */
static void test_view_plan_chain_growth(void **state)
{
	(void)state;
	struct redirect_plan plan = {0};
	for (int c = 0; c < 8; c++) {
		const struct plan_rule r = {.table = PLAN_TABLE_NAT,
					    .chain = (enum plan_chain)c,
					    .verdict = {.kind = PV_RETURN}};
		assert_int_equal(redirect_plan_add(&plan, PLAN_V4, &r), 0);
	}
	const struct plan_rule jump = {.table = PLAN_TABLE_NAT,
				       .chain = PLAN_CHAIN_PREROUTING,
				       .insert_pos = 1,
				       .verdict = {.kind = PV_JUMP, .chain = PLAN_CHAIN_TPROXY}};
	assert_int_equal(redirect_plan_add(&plan, PLAN_V4, &jump), 0);

	struct iptables_view v;
	assert_int_equal(iptables_view_from_plan(&plan, PLAN_V4, &v), 0);
	const struct iptables_vtable *tb = &v.table[PLAN_TABLE_NAT];
	assert_int_equal(tb->n, 9);
	assert_true(tb->cap > 8);
	const char *target = redirect_plan_chain_iptables_name(PLAN_CHAIN_TPROXY);
	const struct iptables_vchain *t = iptables_chain_find(tb, target);
	assert_non_null(t);
	assert_int_equal(t->n, 0);
	const struct iptables_vchain *pre =
		iptables_chain_find(tb, redirect_plan_chain_iptables_name(PLAN_CHAIN_PREROUTING));
	assert_non_null(pre);
	assert_int_equal(pre->n, 2);
	char want[64];
	(void)snprintf(want, sizeof(want), "-j %s", target);
	assert_string_equal(pre->rule[0].canon, want);
	assert_string_equal(pre->rule[1].canon, "-j RETURN");
	for (int c = 1; c < 8; c++) {
		const struct iptables_vchain *other = iptables_chain_find(
			tb, redirect_plan_chain_iptables_name((enum plan_chain)c));
		assert_non_null(other);
		assert_int_equal(other->n, 1);
	}
	iptables_view_done(&v);
	redirect_plan_done(&plan);
}

static void test_save_garbage(void **state)
{
	(void)state;
	struct redirect_plan plan = {0};
	plan_for("default", false, &plan);
	struct error err = {0};
	assert_int_equal(iptables_compare_save("*nat\nbogus line\nCOMMIT\n", &plan, PLAN_V4, &err),
			 -EBADMSG);
	assert_int_equal(err.kind, ERR_IPTABLES);
	assert_non_null(strstr(err.msg, "bogus line"));
	redirect_plan_done(&plan);
}

static void test_binaries(void **state)
{
	(void)state;
	_cleanup_free_ char *p = NULL;
	int r = iptables_binary(PLAN_V4, IPTABLES_VARIANT_NFT, false, &p);
	if (r == -ENOENT)
		skip();
	assert_int_equal(r, 0);
	assert_true(p[0] == '/');
	assert_non_null(strstr(p, "iptables-"));
	assert_non_null(strstr(p, "-restore"));
}

/* ---- the sandbox (root) ---- */

static bool have_root(void)
{
	return geteuid() == 0;
}

static int run(const char *const *argv, const char *input, size_t cap, unsigned int timeout,
	       struct sandbox_result *res, struct error *err)
{
	_cleanup_close_ int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	struct sandbox_cmd cmd = {
		.netns_fd = self,
		.lock_path = "/run/test-xtables.lock",
		.argv = argv,
		.input = input,
		.input_len = input ? strlen(input) : 0,
		.stdout_cap = cap,
		.timeout_ms = timeout,
	};
	return iptables_sandbox_exec(&cmd, res, err);
}

static void test_sandbox_nsswitch_masked(void **state)
{
	(void)state;
	if (!have_root())
		skip();
	if (access("/etc/nsswitch.conf", F_OK) != 0 || access("/bin/cat", X_OK) != 0)
		skip();
	const char *argv[] = {"/bin/cat", "/etc/nsswitch.conf", NULL};
	struct sandbox_result res = {0};
	struct error err = {0};
	assert_int_equal(run(argv, NULL, 65536, 0, &res, &err), 0);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.out_len, 0); /* the child sees /dev/null */
	iptables_sandbox_result_done(&res);

	/* the mask is a read-only bind mount in the child's own mount namespace */
	const char *argv2[] = {"/bin/cat", "/proc/self/mountinfo", NULL};
	assert_int_equal(run(argv2, NULL, 1 << 20, 0, &res, &err), 0);
	const char *line = strstr(res.out, " /etc/nsswitch.conf ");
	assert_non_null(line);
	assert_true(strncmp(line + strlen(" /etc/nsswitch.conf "), "ro", 2) == 0);
	iptables_sandbox_result_done(&res);

	/* our own view is untouched */
	_cleanup_free_ char *mine = NULL;
	size_t len = 0;
	assert_int_equal(file_read_full("/etc/nsswitch.conf", 1 << 20, &mine, &len), 0);
	assert_true(len > 0);
}

static void test_sandbox_env_and_stdin(void **state)
{
	(void)state;
	if (!have_root() || access("/usr/bin/env", X_OK) != 0 || access("/bin/cat", X_OK) != 0)
		skip();
	const char *argv[] = {"/usr/bin/env", NULL};
	struct sandbox_result res = {0};
	struct error err = {0};
	setenv("ISTIO_CNI_TEST_LEAK", "1", 1);
	assert_int_equal(run(argv, NULL, 65536, 0, &res, &err), 0);
	assert_string_equal(res.out, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
				     "XTABLES_LOCKFILE=/run/test-xtables.lock\n");
	iptables_sandbox_result_done(&res);

	const char *cat[] = {"/bin/cat", NULL};
	assert_int_equal(run(cat, "*nat\nCOMMIT\n", 65536, 0, &res, &err), 0);
	assert_string_equal(res.out, "*nat\nCOMMIT\n");
	iptables_sandbox_result_done(&res);

	/* a document far larger than a pipe buffer */
	size_t big = 1u << 20;
	char *doc = malloc(big + 1);
	assert_non_null(doc);
	memset(doc, 'a', big);
	doc[big] = '\0';
	assert_int_equal(run(cat, doc, 2 * big, 0, &res, &err), 0);
	assert_int_equal(res.out_len, big);
	iptables_sandbox_result_done(&res);
	/* stdout beyond its cap is an error, not a truncation */
	assert_int_equal(run(cat, doc, 1000, 0, &res, &err), -EFBIG);
	assert_int_equal(err.kind, ERR_IPTABLES);
	free(doc);

	/* stderr and the exit status come back */
	const char *bad[] = {"/bin/cat", "/nonexistent-file", NULL};
	error_clear(&err);
	assert_int_equal(run(bad, NULL, 4096, 0, &res, &err), 0);
	assert_int_not_equal(res.status, 0);
	assert_non_null(strstr(res.err, "nonexistent-file"));
	iptables_sandbox_result_done(&res);
}

static void test_sandbox_failures(void **state)
{
	(void)state;
	if (!have_root())
		skip();
	struct sandbox_result res = {0};
	struct error err = {0};

	const char *missing[] = {"/nonexistent/iptables-restore", NULL};
	assert_int_equal(run(missing, NULL, 0, 0, &res, &err), -ENOENT);
	assert_int_equal(err.kind, ERR_IPTABLES);
	assert_non_null(strstr(err.msg, "execve"));

	const char *relative[] = {"iptables-restore", NULL};
	error_clear(&err);
	assert_true(run(relative, NULL, 0, 0, &res, &err) < 0);

	if (access("/bin/sleep", X_OK) != 0)
		return;
	const char *sleeper[] = {"/bin/sleep", "30", NULL};
	struct timespec a, b;
	error_clear(&err);
	(void)clock_gettime(CLOCK_MONOTONIC, &a);
	assert_int_equal(run(sleeper, NULL, 0, 300, &res, &err), -ETIMEDOUT);
	(void)clock_gettime(CLOCK_MONOTONIC, &b);
	assert_true(b.tv_sec - a.tv_sec < 5);
	assert_non_null(strstr(err.msg, "killed after 300 ms"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon),
		cmocka_unit_test(test_compare_fixtures),
		cmocka_unit_test(test_compare_tampered),
		cmocka_unit_test(test_document_fresh),
		cmocka_unit_test(test_document_replace),
		cmocka_unit_test(test_document_remove),
		cmocka_unit_test(test_view_plan_chain_growth),
		cmocka_unit_test(test_save_garbage),
		cmocka_unit_test(test_binaries),
		cmocka_unit_test(test_sandbox_nsswitch_masked),
		cmocka_unit_test(test_sandbox_env_and_stdin),
		cmocka_unit_test(test_sandbox_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
