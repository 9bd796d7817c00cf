// SPDX-License-Identifier: Apache-2.0
/*
 * install/kubeconfig_writer: both shapes byte for byte against our own
 * fixtures (tests/fixtures/install/kubeconfig, from generate.py) and Istio's
 * (kubeconfig-tls, -skip-tls, -newhost, ZZZ-istio-cni-kubeconfig.expected);
 * what we write is read back by our own kubeconfig reader.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/kubeconfig.h"
#include "kubeconfig_writer.h"
#include "util/file_util.h"

#define FIX TEST_SOURCE_DIR "/fixtures/install/kubeconfig"
#define REF_INSTALL REFERENCE_DIR "/istio/cni/pkg/install/testdata"
#define REF_TEST REFERENCE_DIR "/istio/cni/test/testdata"

/* The long JWT of Istio's 1.7 end-to-end golden. */
#define ISTIO_17_TOKEN_HEAD "eyJhbGciOiJSUzI1NiIsImtpZCI6IiJ9."

__attribute__((noinline)) static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;
	int r = file_read_full(path, 1 << 20, &buf, &len);
	assert_int_equal(r, 0);
	return buf;
}

struct case_ {
	enum kubeconfig_shape shape;
	const char *ca_path; /* NULL: skip TLS verify */
	const char *host, *port;
	const char *token; /* NULL: FIX/token */
	const char *golden;
	const char *want_server; /* what our reader makes of it */
};

static void run(const struct case_ *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *ca = t[i].ca_path ? slurp(t[i].ca_path) : NULL;
		_cleanup_free_ char *tok = t[i].token ? strdup(t[i].token) : slurp(FIX "/token");
		size_t tl = strlen(tok);
		while (tl > 0 && tok[tl - 1] == '\n')
			tok[--tl] = '\0';
		struct kubeconfig_writer_input in = {
			.host = t[i].host,
			.port = t[i].port,
			.skip_tls_verify = !ca,
			.ca = (const uint8_t *)ca,
			.ca_len = ca ? strlen(ca) : 0,
			.token = tok,
		};
		_cleanup_free_ char *got = NULL;
		size_t len;
		struct error err = {0};
		assert_int_equal(kubeconfig_writer_render(t[i].shape, &in, &got, &len, &err), 0);
		assert_int_equal(strlen(got), len);
		_cleanup_free_ char *want = slurp(t[i].golden);
		if (strcmp(got, want) != 0)
			fail_msg("%s differs:\n%s", t[i].golden, got);

		struct kubeconfig *k = NULL;
		assert_int_equal(kubeconfig_parse(got, len, NULL, &k, &err), 0);
		assert_string_equal(k->server, t[i].want_server);
		assert_string_equal(k->token, tok);
		assert_int_equal(k->insecure_skip_tls_verify, !ca);
		if (ca) {
			assert_int_equal(k->ca_data_len, strlen(ca));
			assert_memory_equal(k->ca_data, ca, strlen(ca));
		}
		kubeconfig_free(k);
	}
}

static void test_own_fixtures(void **state)
{
	static const struct case_ t[] = {
		{KUBECONFIG_SHAPE_CURRENT, FIX "/ca.crt", "10.96.0.1", "443", NULL,
		 FIX "/current-v4.expected", "https://10.96.0.1:443"},
		{KUBECONFIG_SHAPE_CURRENT, FIX "/ca.crt", "fd00:10:96::1", "6443", NULL,
		 FIX "/current-v6.expected", "https://[fd00:10:96::1]:6443"},
		{KUBECONFIG_SHAPE_CURRENT, NULL, "10.96.0.1", "443", NULL,
		 FIX "/current-skip-tls.expected", "https://10.96.0.1:443"},
		{KUBECONFIG_SHAPE_LEGACY, FIX "/ca.crt", "10.96.0.1", "443", NULL,
		 FIX "/legacy-v4.expected", "https://[10.96.0.1]:443"},
		{KUBECONFIG_SHAPE_LEGACY, NULL, "fd00:10:96::1", "6443", NULL,
		 FIX "/legacy-v6-skip-tls.expected", "https://[fd00:10:96::1]:6443"},
	};
	run(t, ELEMENTSOF(t));
}

static void test_istio_goldens(void **state)
{
	if (access(REF_INSTALL, F_OK) < 0 || access(REF_TEST, F_OK) < 0)
		skip();
	/* The 1.7 golden's token, taken from the golden itself. */
	_cleanup_free_ char *legacy = slurp(REF_TEST "/expected/ZZZ-istio-cni-kubeconfig.expected");
	const char *key = "token: \"";
	size_t start = (size_t)(strstr(legacy, key) - legacy) + strlen(key);
	size_t end = start + strcspn(legacy + start, "\"");
	_cleanup_free_ char *tok17 = strndup(legacy + start, end - start);
	assert_true(strncmp(tok17, ISTIO_17_TOKEN_HEAD, strlen(ISTIO_17_TOKEN_HEAD)) == 0);

	const struct case_ t[] = {
		{KUBECONFIG_SHAPE_CURRENT, REF_INSTALL "/kube-ca.crt", "10.96.0.1", "443",
		 "service_account_token_string", REF_INSTALL "/kubeconfig-tls",
		 "https://10.96.0.1:443"},
		{KUBECONFIG_SHAPE_CURRENT, NULL, "10.96.0.1", "443", "service_account_token_string",
		 REF_INSTALL "/kubeconfig-skip-tls", "https://10.96.0.1:443"},
		{KUBECONFIG_SHAPE_CURRENT, REF_INSTALL "/kube-ca.crt", "50.76.2.1", "443",
		 "service_account_token_string", REF_INSTALL "/kubeconfig-newhost",
		 "https://50.76.2.1:443"},
		{KUBECONFIG_SHAPE_LEGACY, REF_INSTALL "/kube-ca.crt", "10.110.0.1", "443", tok17,
		 REF_TEST "/expected/ZZZ-istio-cni-kubeconfig.expected",
		 "https://[10.110.0.1]:443"},
	};
	run(t, ELEMENTSOF(t));
}

static void test_quoting_and_errors(void **state)
{
	static const struct {
		const char *token;
		const char *want_line; /* NULL: error */
	} t[] = {
		{"abc.DEF-1_2", "    token: abc.DEF-1_2\n"},
		{"true", "    token: \"true\"\n"},
		{"12345", "    token: \"12345\"\n"},
		{"a:b \"c\"\\", "    token: \"a:b \\\"c\\\"\\\\\"\n"},
		{"", "    token: \"\"\n"},
		{"bad\ntoken", NULL},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct kubeconfig_writer_input in = {.host = "h",
						     .port = "1",
						     .skip_tls_verify = true,
						     .token = t[i].token};
		_cleanup_free_ char *got = NULL;
		struct error err = {0};
		int r = kubeconfig_writer_render(KUBECONFIG_SHAPE_CURRENT, &in, &got, NULL, &err);
		if (!t[i].want_line) {
			assert_int_equal(r, -EINVAL);
			assert_null(strstr(err.msg, "bad"));
			continue;
		}
		assert_int_equal(r, 0);
		if (!strstr(got, t[i].want_line))
			fail_msg("case %zu:\n%s", i, got);
		struct kubeconfig *k = NULL;
		assert_int_equal(kubeconfig_parse(got, strlen(got), NULL, &k, &err), 0);
		if (t[i].token[0])
			assert_string_equal(k->token, t[i].token);
		kubeconfig_free(k);
	}

	struct error err = {0};
	char *out = NULL;
	struct kubeconfig_writer_input nohost = {.port = "443", .skip_tls_verify = true};
	assert_int_equal(kubeconfig_writer_render(KUBECONFIG_SHAPE_CURRENT, &nohost, &out, NULL,
						  &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST not set"));
	error_clear(&err);
	struct kubeconfig_writer_input noport = {.host = "h", .skip_tls_verify = true};
	assert_int_equal(kubeconfig_writer_render(KUBECONFIG_SHAPE_LEGACY, &noport, &out, NULL,
						  &err),
			 -EINVAL);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_PORT not set"));
	error_clear(&err);
	struct kubeconfig_writer_input noca = {.host = "h", .port = "1"};
	assert_int_equal(kubeconfig_writer_render(KUBECONFIG_SHAPE_CURRENT, &noca, &out, NULL,
						  &err),
			 -EINVAL);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_own_fixtures),
		cmocka_unit_test(test_istio_goldens),
		cmocka_unit_test(test_quoting_and_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
