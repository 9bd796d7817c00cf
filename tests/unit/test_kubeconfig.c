// SPDX-License-Identifier: Apache-2.0
/*
 * The kubeconfig reader: every supported shape (agent-written, 1.7 template,
 * kubectl-style with several contexts), every credential kind, the in-cluster
 * fallback, and hostile inputs (malformed YAML, alias bombs, deep nesting).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/kubeconfig.h"
#include "util/file_util.h"

#define FIX TEST_SOURCE_DIR "/fixtures/kubeconfig/"
#define FIXTURE_CA_PEM                                                                             \
	"-----BEGIN CERTIFICATE-----\nTUlJQ2ZpeHR1cmVDQQ==\n-----END CERTIFICATE-----\n"

struct want {
	const char *file;
	int r;
	enum error_kind kind;
	const char *msg_part; /* substring of the error message */
	const char *server;
	const char *context;
	const char *token;
	const char *token_file; /* suffix */
	const char *ca_file;	/* suffix */
	const char *ca_data;
	bool insecure;
	bool client_cert_data;
};

static void check_ok(const struct want *w, const struct kubeconfig *k)
{
	assert_string_equal(k->server, w->server);
	if (w->context)
		assert_string_equal(k->context_name, w->context);
	if (w->token)
		assert_string_equal(k->token, w->token);
	else
		assert_null(k->token);
	if (w->token_file) {
		assert_non_null(k->token_file);
		assert_true(k->token_file[0] == '/');
		size_t a = strlen(k->token_file), b = strlen(w->token_file);
		assert_true(a >= b);
		assert_string_equal(k->token_file + a - b, w->token_file);
	} else {
		assert_null(k->token_file);
	}
	if (w->ca_file) {
		assert_non_null(k->ca_file);
		size_t a = strlen(k->ca_file), b = strlen(w->ca_file);
		assert_true(a >= b);
		assert_string_equal(k->ca_file + a - b, w->ca_file);
	} else {
		assert_null(k->ca_file);
	}
	if (w->ca_data) {
		assert_non_null(k->ca_data);
		assert_int_equal(k->ca_data_len, strlen(w->ca_data));
		assert_memory_equal(k->ca_data, w->ca_data, k->ca_data_len);
	} else {
		assert_null(k->ca_data);
	}
	assert_int_equal(k->insecure_skip_tls_verify, w->insecure);
	if (w->client_cert_data) {
		assert_non_null(k->client_cert_data);
		assert_non_null(k->client_key_data);
		assert_non_null(strstr((const char *)k->client_cert_data, "BEGIN CERTIFICATE"));
		assert_non_null(strstr((const char *)k->client_key_data, "BEGIN PRIVATE KEY"));
	} else {
		assert_null(k->client_cert_data);
		assert_null(k->client_key_data);
	}
}

static void test_fixtures(void **state)
{
	static const struct want t[] = {
		{.file = "token-ca-data.yaml",
		 .server = "https://10.96.0.1:443",
		 .context = "istio-cni-context",
		 .token = "fixture-token-abc.def",
		 .ca_data = FIXTURE_CA_PEM},
		{.file = "token-file-ca-file.yaml",
		 .server = "https://api.dev.example:6443",
		 .context = "dev",
		 .token_file = "/fixtures/kubeconfig/token",
		 .ca_file = "/fixtures/kubeconfig/certs/ca.pem"},
		{.file = "insecure.yaml",
		 .server = "https://10.96.0.1:443",
		 .token = "quoted-token",
		 .insecure = true},
		{.file = "client-cert-data.yaml",
		 .server = "https://kube.example:6443",
		 .context = "kind",
		 .ca_file = "/etc/kubernetes/pki/ca.crt",
		 .client_cert_data = true},
		{.file = "ipv6.yaml",
		 .server = "https://[fd00:10:96::1]:443",
		 .token = "v6token",
		 .insecure = true},
		{.file = "legacy-1.7.yaml",
		 .server = "https://[10.110.0.1]:443",
		 .token = "legacy.jwt.token",
		 .ca_data = FIXTURE_CA_PEM},
		{.file = "anchors.yaml",
		 .server = "https://10.96.0.1:443",
		 .context = "c",
		 .token = "anchored-token",
		 .insecure = true},
		{.file = "missing-current-context.yaml",
		 .r = -EINVAL,
		 .kind = ERR_CONFIG,
		 .msg_part = "current-context is not set"},
		{.file = "dangling-context.yaml",
		 .r = -ENOENT,
		 .kind = ERR_CONFIG,
		 .msg_part = "no entry \"elsewhere\" in clusters"},
		{.file = "malformed.yaml",
		 .r = -EINVAL,
		 .kind = ERR_DECODE,
		 .msg_part = "YAML line "},
		/* Aliases are never expanded; the list entries are not mappings. */
		{.file = "billion-laughs.yaml",
		 .r = -EINVAL,
		 .kind = ERR_CONFIG,
		 .msg_part = "an entry of contexts is not a mapping"},
		{.file = "does-not-exist.yaml",
		 .r = -ENOENT,
		 .kind = ERR_IO,
		 .msg_part = "cannot read kubeconfig"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct error err = {0};
		struct kubeconfig *k = NULL;
		char path[512];
		(void)snprintf(path, sizeof(path), FIX "%s", t[i].file);
		int r = kubeconfig_load(path, &k, &err);
		if (r != t[i].r)
			fail_msg("%s: r=%d want %d (%s)", t[i].file, r, t[i].r, err.msg);
		if (r < 0) {
			assert_null(k);
			assert_int_equal(err.kind, t[i].kind);
			if (!strstr(err.msg, t[i].msg_part))
				fail_msg("%s: \"%s\" lacks \"%s\"", t[i].file, err.msg,
					 t[i].msg_part);
			/* The path is named, no value from the file is. */
			assert_non_null(strstr(err.msg, t[i].file));
			continue;
		}
		check_ok(&t[i], k);
		kubeconfig_free(k);
	}
}

/* Inline documents for the semantic checks. */
static void test_inline(void **state)
{
#define HEAD                                                                                       \
	"current-context: c\n"                                                                     \
	"contexts: [{name: c, context: {cluster: k, user: u}}]\n"
	static const struct {
		const char *yaml;
		int r;
		enum error_kind kind;
		const char *msg_part;
	} t[] = {
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a:1'}}]\n"
		      "users: [{name: u, user: {token: t}}]\n",
		 0, ERR_NONE, NULL},
		/* Anonymous: a context without a user. */
		{"current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
		 "clusters: [{name: k, cluster: {server: 'https://a:1'}}]\n",
		 0, ERR_NONE, NULL},
		{HEAD "clusters: [{name: k, cluster: {server: 'ftp://a'}}]\n", -EINVAL, ERR_CONFIG,
		 "must start with https://"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://'}}]\n", -EINVAL, ERR_CONFIG,
		 "has no host"},
		{HEAD "clusters: [{name: k, cluster: {server: \"https://a b\"}}]\n", -EINVAL,
		 ERR_CONFIG, "whitespace"},
		{HEAD "clusters: [{name: k, cluster: {}}]\n", -EINVAL, ERR_CONFIG, "has no server"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a', "
		      "insecure-skip-tls-verify: yes-please}}]\n",
		 -EINVAL, ERR_CONFIG, "must be true or false"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a', "
		      "insecure-skip-tls-verify: true, certificate-authority: /ca}}]\n",
		 -EINVAL, ERR_CONFIG, "together with a certificate-authority"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a', "
		      "certificate-authority-data: 'not base64!'}}]\n",
		 -EINVAL, ERR_CONFIG, "certificate-authority-data is not valid base64"},
		{HEAD
		 "clusters: [{name: k, cluster: {server: 'https://a', server: 'https://b'}}]\n",
		 -EINVAL, ERR_CONFIG, "appears twice"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a'}}, "
		      "{name: k, cluster: {server: 'https://b'}}]\n",
		 -EINVAL, ERR_CONFIG, "two entries named \"k\""},
		{HEAD "clusters: [{name: k, cluster: {server: [https://a]}}]\n", -EINVAL,
		 ERR_CONFIG, "cluster.server is not a string"},
		{HEAD "clusters: {name: k}\n", -EINVAL, ERR_CONFIG, "clusters is not a list"},
		{HEAD "clusters: [{name: k}]\n", -EINVAL, ERR_CONFIG, "has no \"cluster\""},
		{HEAD "clusters: [{name: k, cluster: {server: \"https://a\\0b\"}}]\n", -EINVAL,
		 ERR_CONFIG, "NUL byte"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a'}}]\n"
		      "users: [{name: u, user: {client-certificate: /c}}]\n",
		 -EINVAL, ERR_CONFIG, "client certificate without a client key"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a'}}]\n"
		      "users: [{name: u, user: {exec: {command: aws}}}]\n",
		 -EOPNOTSUPP, ERR_CONFIG, "user.exec is not supported"},
		{HEAD "clusters: [{name: k, cluster: {server: 'https://a'}}]\n", -ENOENT,
		 ERR_CONFIG, "no entry \"u\" in users"},
		{"current-context: c\n", -ENOENT, ERR_CONFIG, "no entry \"c\" in contexts"},
		{"current-context: ''\n", -EINVAL, ERR_CONFIG, "current-context is not set"},
		{"current-context: ~\n", -EINVAL, ERR_CONFIG, "current-context is not set"},
		{"", -EINVAL, ERR_CONFIG, "kubeconfig is empty"},
		{"- a\n- b\n", -EINVAL, ERR_CONFIG, "not a YAML mapping"},
		{"a: [b\n", -EINVAL, ERR_DECODE, "YAML line"},
		{"a: *nope\n", -EINVAL, ERR_DECODE, "YAML line"},
		{"\t: x\n", -EINVAL, ERR_DECODE, "YAML line"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct error err = {0};
		struct kubeconfig *k = NULL;
		int r = kubeconfig_parse(t[i].yaml, strlen(t[i].yaml), "/base", &k, &err);
		if (r != t[i].r)
			fail_msg("case %zu: r=%d want %d (%s)", i, r, t[i].r, err.msg);
		if (r == 0) {
			assert_non_null(k);
			kubeconfig_free(k);
			continue;
		}
		assert_null(k);
		assert_int_equal(err.kind, t[i].kind);
		if (!strstr(err.msg, t[i].msg_part))
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, t[i].msg_part);
	}
}

static void test_precedence_and_paths(void **state)
{
	static const char yaml[] =
		"current-context: c\n"
		"contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		"clusters: [{name: k, cluster: {server: 'http://a:8080///', "
		"certificate-authority: rel/ca, certificate-authority-data: Zm9v}}]\n"
		"users: [{name: u, user: {token: tok, tokenFile: f, client-certificate: c.pem, "
		"client-key: k.pem}}]\n";
	struct error err = {0};
	struct kubeconfig *k = NULL;
	assert_int_equal(kubeconfig_parse(yaml, strlen(yaml), "/etc/kube", &k, &err), 0);
	assert_string_equal(k->server, "http://a:8080");
	/* The data overrides the file, the token the token file, as in kubectl. */
	assert_null(k->ca_file);
	assert_string_equal((const char *)k->ca_data, "foo");
	assert_string_equal(k->token, "tok");
	assert_null(k->token_file);
	assert_string_equal(k->client_cert_file, "/etc/kube/c.pem");
	assert_string_equal(k->client_key_file, "/etc/kube/k.pem");
	kubeconfig_free(k);

	/* Without a base directory relative paths stay relative. */
	static const char yaml2[] = "current-context: c\n"
				    "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
				    "clusters: [{name: k, cluster: {server: 'https://a', "
				    "certificate-authority: rel/ca}}]\n"
				    "users: [{name: u, user: {tokenFile: /abs/token}}]\n";
	assert_int_equal(kubeconfig_parse(yaml2, strlen(yaml2), NULL, &k, &err), 0);
	assert_string_equal(k->ca_file, "rel/ca");
	assert_string_equal(k->token_file, "/abs/token");
	kubeconfig_free(k);
}

/* Inputs built to be expensive must fail fast. */
static void test_hostile(void **state)
{
	struct error err = {0};
	struct kubeconfig *k = NULL;
	size_t n = 100000;

	/* Deep flow nesting. */
	char *deep = malloc(2 * n + 16);
	assert_non_null(deep);
	memcpy(deep, "a: ", 3);
	memset(deep + 3, '[', n);
	memset(deep + 3 + n, ']', n);
	deep[3 + 2 * n] = '\0';
	assert_int_equal(kubeconfig_parse(deep, strlen(deep), NULL, &k, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_DECODE);
	assert_non_null(strstr(err.msg, "nested deeper"));
	free(deep);

	/* Many anchors (libyaml checks each new anchor against all earlier ones). */
	size_t cap = 20 * n;
	char *many = malloc(cap);
	assert_non_null(many);
	size_t o = 0;
	o += (size_t)snprintf(many + o, cap - o, "x:\n");
	for (size_t i = 0; i < n / 2 && o + 32 < cap; i++)
		o += (size_t)snprintf(many + o, cap - o, "- &a%zu v\n", i);
	error_clear(&err);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kubeconfig_parse(many, o, NULL, &k, &err), -EINVAL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_non_null(strstr(err.msg, "anchors"));
	assert_true(t1.tv_sec - t0.tv_sec < 2);
	free(many);

	/* Too big. */
	char *big = calloc(1, KUBECONFIG_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, '#', KUBECONFIG_MAX_BYTES + 1);
	error_clear(&err);
	assert_int_equal(kubeconfig_parse(big, KUBECONFIG_MAX_BYTES + 1, NULL, &k, &err), -EFBIG);
	free(big);

	/* The billion laughs, in memory and under a live key, loads in linear time. */
	char path[512];
	(void)snprintf(path, sizeof(path), FIX "billion-laughs.yaml");
	error_clear(&err);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_true(kubeconfig_load(path, &k, &err) < 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 2);
}

/* Istio's own goldens, when the reference tree is present. */
static void test_istio_goldens(void **state)
{
	static const struct {
		const char *path;
		const char *server;
		bool insecure;
	} t[] = {
		{"/istio/cni/pkg/install/testdata/kubeconfig-tls", "https://10.96.0.1:443", false},
		{"/istio/cni/pkg/install/testdata/kubeconfig-skip-tls", "https://10.96.0.1:443",
		 true},
		{"/istio/cni/pkg/install/testdata/kubeconfig-newhost", "https://50.76.2.1:443",
		 false},
		{"/istio/cni/test/testdata/expected/ZZZ-istio-cni-kubeconfig.expected",
		 "https://[10.110.0.1]:443", false},
	};
	if (access(REFERENCE_DIR "/istio", F_OK) < 0)
		skip();
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char path[1024];
		(void)snprintf(path, sizeof(path), "%s%s", REFERENCE_DIR, t[i].path);
		struct error err = {0};
		struct kubeconfig *k = NULL;
		int r = kubeconfig_load(path, &k, &err);
		if (r < 0)
			fail_msg("%s: %s", t[i].path, err.msg);
		assert_string_equal(k->server, t[i].server);
		assert_int_equal(k->insecure_skip_tls_verify, t[i].insecure);
		assert_true(t[i].insecure ? k->ca_data == NULL : k->ca_data != NULL);
		if (k->ca_data)
			assert_non_null(strstr((const char *)k->ca_data, "BEGIN CERTIFICATE"));
		assert_non_null(k->token);
		assert_string_equal(k->user_name, "istio-cni");
		kubeconfig_free(k);
	}
}

static void test_token_file(void **state)
{
	char dir[] = "/tmp/test-kubeconfig-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char tok[256], yaml[1024];
	(void)snprintf(tok, sizeof(tok), "%s/token", dir);

	(void)snprintf(yaml, sizeof(yaml),
		       "current-context: c\n"
		       "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
		       "clusters: [{name: k, cluster: {server: 'https://a'}}]\n"
		       "users: [{name: u, user: {tokenFile: token}}]\n");
	struct error err = {0};
	struct kubeconfig *k = NULL;
	assert_int_equal(kubeconfig_parse(yaml, strlen(yaml), dir, &k, &err), 0);
	assert_string_equal(k->token_file, tok);

	static const struct {
		const char *content;
		int r;
		const char *token;
		const char *msg_part;
	} t[] = {
		{"abc.def\n", 0, "abc.def", NULL},
		{"  rotated-token \r\n", 0, "rotated-token", NULL},
		{"\n\n", -EINVAL, NULL, "is empty"},
		{"two words", -EINVAL, NULL, "not allowed in an HTTP header"},
		{"a\nX-Injected: 1", -EINVAL, NULL, "not allowed in an HTTP header"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		assert_int_equal(file_write_atomic(tok, t[i].content, strlen(t[i].content), 0600),
				 0);
		char *got = NULL;
		error_clear(&err);
		int r = kubeconfig_current_token(k, &got, &err);
		assert_int_equal(r, t[i].r);
		if (r == 0) {
			assert_string_equal(got, t[i].token);
			kubeconfig_secret_free(got);
		} else {
			assert_null(got);
			assert_non_null(strstr(err.msg, t[i].msg_part));
			/* The file's content is never quoted. */
			assert_null(strstr(err.msg, "words"));
			assert_null(strstr(err.msg, "Injected"));
		}
	}
	assert_int_equal(unlink(tok), 0);
	char *got = NULL;
	error_clear(&err);
	assert_int_equal(kubeconfig_current_token(k, &got, &err), -ENOENT);
	assert_int_equal(err.kind, ERR_IO);
	kubeconfig_free(k);
	assert_int_equal(rmdir(dir), 0);
}

static void test_in_cluster(void **state)
{
	char dir[] = "/tmp/test-incluster-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char tok[256], ca[256];
	(void)snprintf(tok, sizeof(tok), "%s/token", dir);
	(void)snprintf(ca, sizeof(ca), "%s/ca.crt", dir);

	struct error err = {0};
	struct kubeconfig *k = NULL;

	/* Missing environment first: the message Istio users know. */
	assert_int_equal(kubeconfig_in_cluster(dir, NULL, "443", &k, &err), -EINVAL);
	assert_int_equal(err.kind, ERR_ENV);
	assert_non_null(strstr(err.msg, "Is this not running within a pod?"));
	error_clear(&err);
	assert_int_equal(kubeconfig_in_cluster(dir, "10.0.0.1", "", &k, &err), -EINVAL);
	error_clear(&err);
	assert_int_equal(kubeconfig_in_cluster(dir, "10.0.0.1", "0", &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_PORT"));
	error_clear(&err);
	assert_int_equal(kubeconfig_in_cluster(dir, "a/b", "443", &k, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));

	/* No CA, then no token. */
	error_clear(&err);
	assert_int_equal(kubeconfig_in_cluster(dir, "10.0.0.1", "443", &k, &err), -ENOENT);
	assert_int_equal(err.kind, ERR_IO);
	assert_int_equal(file_write_atomic(ca, "pem", 3, 0644), 0);
	error_clear(&err);
	assert_int_equal(kubeconfig_in_cluster(dir, "10.0.0.1", "443", &k, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "token"));
	assert_int_equal(file_write_atomic(tok, "sa-token\n", 9, 0600), 0);

	static const struct {
		const char *host, *port, *server;
	} t[] = {
		{"10.96.0.1", "443", "https://10.96.0.1:443"},
		{"fd00:10:96::1", "443", "https://[fd00:10:96::1]:443"},
		{"[fd00::1]", "6443", "https://[fd00::1]:6443"},
		{"kubernetes.default.svc", "6443", "https://kubernetes.default.svc:6443"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		error_clear(&err);
		assert_int_equal(kubeconfig_in_cluster(dir, t[i].host, t[i].port, &k, &err), 0);
		assert_string_equal(k->server, t[i].server);
		assert_string_equal(k->token_file, tok);
		assert_string_equal(k->ca_file, ca);
		assert_null(k->token);
		char *got;
		assert_int_equal(kubeconfig_current_token(k, &got, &err), 0);
		assert_string_equal(got, "sa-token");
		kubeconfig_secret_free(got);
		kubeconfig_free(k);
	}
	assert_int_equal(unlink(tok), 0);
	assert_int_equal(unlink(ca), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_read_secret(void **state)
{
	char *buf;
	size_t len;
	assert_int_equal(kubeconfig_read_secret(FIX "token", 64, &buf, &len), 0);
	assert_string_equal(buf, "file-token-123\n");
	assert_int_equal(len, 15);
	kubeconfig_secret_free(buf);
	assert_int_equal(kubeconfig_read_secret(FIX "token", 4, &buf, &len), -EFBIG);
	assert_int_equal(kubeconfig_read_secret(FIX, 4096, &buf, &len), -EISDIR);
	assert_int_equal(kubeconfig_read_secret(FIX "nope", 4096, &buf, &len), -ENOENT);
	kubeconfig_free(NULL);
	kubeconfig_secret_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_inline),
		cmocka_unit_test(test_precedence_and_paths),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_istio_goldens),
		cmocka_unit_test(test_token_file),
		cmocka_unit_test(test_in_cluster),
		cmocka_unit_test(test_read_secret),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
