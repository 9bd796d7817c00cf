// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes client's pure parts (URL building, Status bodies as errors,
 * watch line decoding), loading libcurl through the function table, and the
 * transport errors that need no server (connection refused on loopback).
 * The live HTTPS tests are in test_kube_live.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "kube/curl_api.h"
#include "kube/kube_client.h"
#include "kube/kube_retry.h"

static void test_escape(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{"", ""},
		{"productpage-v1-7d6cfb7dfd-x7kqp", "productpage-v1-7d6cfb7dfd-x7kqp"},
		{"a.b_c~d", "a.b_c~d"},
		{"spec.nodeName=node-1", "spec.nodeName%3Dnode-1"},
		{"a b/c?d#e&f+g%h", "a%20b%2Fc%3Fd%23e%26f%2Bg%25h"},
		{"app in (a,b)", "app%20in%20%28a%2Cb%29"},
		{"\xc3\xa9\n", "%C3%A9%0A"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char *out;
		assert_int_equal(kube_url_escape(t[i].in, &out), 0);
		assert_string_equal(out, t[i].out);
		free(out);
	}
	char *out;
	assert_int_equal(kube_url_escape(NULL, &out), -EINVAL);
}

static void test_pod_path(void **state)
{
	static const struct {
		const char *ns, *name, *sub;
		int r;
		const char *out;
	} t[] = {
		{"default", "web-0", NULL, 0, "/api/v1/namespaces/default/pods/web-0"},
		{"default", "web-0", "status", 0, "/api/v1/namespaces/default/pods/web-0/status"},
		{"default", NULL, NULL, 0, "/api/v1/namespaces/default/pods"},
		{NULL, NULL, NULL, 0, "/api/v1/pods"},
		{"a/b", "c d", NULL, 0, "/api/v1/namespaces/a%2Fb/pods/c%20d"},
		{"default", "..", NULL, -EINVAL, NULL},
		{"..", "x", NULL, -EINVAL, NULL},
		{"default", ".", NULL, -EINVAL, NULL},
		{"default", "", NULL, -EINVAL, NULL},
		{"", "x", NULL, -EINVAL, NULL},
		{NULL, "x", NULL, -EINVAL, NULL},
		{"default", NULL, "status", -EINVAL, NULL},
		{"default", "x", "", -EINVAL, NULL},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char *out = NULL;
		int r = kube_pod_path(t[i].ns, t[i].name, t[i].sub, &out);
		if (r != t[i].r)
			fail_msg("case %zu: r=%d", i, r);
		if (r == 0) {
			assert_string_equal(out, t[i].out);
			free(out);
		} else {
			assert_null(out);
		}
	}
}

static void test_list_path(void **state)
{
	static const struct {
		struct kube_list_query q;
		bool null_q;
		const char *out;
	} t[] = {
		{.null_q = true, .out = "/api/v1/pods"},
		{.q = {0}, .out = "/api/v1/pods"},
		{.q = {.field_selector = "spec.nodeName=node-1"},
		 .out = "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-1"},
		{.q = {.label_selector = "app=x,tier!=db",
		       .field_selector = "spec.nodeName=n",
		       .resource_version = "123",
		       .continue_token = "abc=",
		       .limit = 500,
		       .watch = true,
		       .allow_watch_bookmarks = true,
		       .timeout_seconds = 300},
		 .out = "/api/v1/pods?labelSelector=app%3Dx%2Ctier%21%3Ddb&fieldSelector=spec."
			"nodeName%3Dn&resourceVersion=123&continue=abc%3D&limit=500&watch=1&"
			"allowWatchBookmarks=true&timeoutSeconds=300"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		char *out;
		assert_int_equal(kube_list_path("/api/v1/pods", t[i].null_q ? NULL : &t[i].q, &out),
				 0);
		assert_string_equal(out, t[i].out);
		free(out);
	}
	char *out;
	assert_int_equal(kube_list_path("api/v1/pods", NULL, &out), -EINVAL);
}

static void test_status_errors(void **state)
{
	static const struct {
		long code;
		const char *body;
		int r;
		enum error_kind kind;
		const char *reason;
		uint64_t retry_after_ms;
		const char *parts[3];
	} t[] = {
		{404,
		 "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\",\"message\":"
		 "\"pods \\\"x\\\" not found\",\"reason\":\"NotFound\",\"code\":404}",
		 -ENOENT,
		 ERR_API,
		 "NotFound",
		 0,
		 {"Kubernetes API answered 404 Not Found (NotFound) for GET /p",
		  "pods \"x\" not found"}},
		{401,
		 "{\"kind\":\"Status\",\"message\":\"Unauthorized\",\"reason\":\"Unauthorized\","
		 "\"code\":401}",
		 -EACCES,
		 ERR_API,
		 "Unauthorized",
		 0,
		 {"401 Unauthorized", "check the token in the kubeconfig"}},
		{403,
		 "{\"kind\":\"Status\",\"message\":\"pods \\\"x\\\" is forbidden: User \\\"u\\\" "
		 "cannot get resource\",\"reason\":\"Forbidden\",\"code\":403}",
		 -EPERM,
		 ERR_API,
		 "Forbidden",
		 0,
		 {"Kubernetes API denied access (403 Forbidden)",
		  "check the istio-cni ServiceAccount's RBAC", "cannot get resource"}},
		{409,
		 "{\"message\":\"Precondition failed: UID in precondition: a\",\"reason\":"
		 "\"Conflict\"}",
		 -EEXIST,
		 ERR_API,
		 "Conflict",
		 0,
		 {"409 Conflict (Conflict)", "Precondition failed"}},
		{410,
		 "{\"message\":\"too old resource version: 1 (50)\",\"reason\":\"Expired\"}",
		 -ESTALE,
		 ERR_API,
		 "Expired",
		 0,
		 {"410 Gone (Expired)", "too old resource version"}},
		{422,
		 "{\"message\":\"invalid\",\"reason\":\"Invalid\"}",
		 -EINVAL,
		 ERR_API,
		 "Invalid",
		 0,
		 {"422"}},
		{429,
		 "{\"message\":\"Too many requests\",\"reason\":\"TooManyRequests\",\"details\":"
		 "{\"retryAfterSeconds\":5}}",
		 -EAGAIN,
		 ERR_TRANSIENT,
		 "TooManyRequests",
		 5000,
		 {"429 Too Many Requests"}},
		{503,
		 "<html>\x01upstream\x1b[31m down</html>",
		 -EAGAIN,
		 ERR_TRANSIENT,
		 "",
		 0,
		 {"503 Service Unavailable for GET /p: <html> upstream [31m down</html>"}},
		{500, NULL, -EAGAIN, ERR_TRANSIENT, "", 0, {"500", "no details in the answer"}},
		{501, "{}", -EIO, ERR_API, "", 0, {"501"}},
		/* A duplicated key makes it "not JSON": the raw text is shown. */
		{400,
		 "{\"message\":\"a\",\"message\":\"b\"}",
		 -EINVAL,
		 ERR_API,
		 "",
		 0,
		 {"400 Bad Request", "{\"message\":\"a\""}},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct error err = {0};
		struct kube_status st = {.http_code = t[i].code};
		int r = kube_status_to_error(t[i].code, t[i].body,
					     t[i].body ? strlen(t[i].body) : 0, "GET /p", &st,
					     &err);
		if (r != t[i].r)
			fail_msg("case %zu: r=%d want %d", i, r, t[i].r);
		assert_int_equal(err.kind, t[i].kind);
		assert_string_equal(st.reason, t[i].reason);
		assert_int_equal(st.retry_after_ms, t[i].retry_after_ms);
		for (size_t j = 0; j < 3 && t[i].parts[j]; j++)
			if (!strstr(err.msg, t[i].parts[j]))
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg,
					 t[i].parts[j]);
		for (const char *c = err.msg; *c; c++)
			assert_true((unsigned char)*c >= 0x20);
	}

	/* The body is bounded by its length, not by a NUL (found by fuzz_kube_status). */
	struct error e2 = {0};
	assert_int_equal(kube_status_to_error(502, "abcdef", 3, "GET /p", NULL, &e2), -EAGAIN);
	assert_non_null(strstr(e2.msg, "for GET /p: abc"));
	assert_null(strstr(e2.msg, "abcd"));

	/* A Retry-After header already seen wins over the Status detail. */
	struct kube_status st = {.http_code = 429, .retry_after_ms = 7000};
	static const char b[] = "{\"details\":{\"retryAfterSeconds\":5}}";
	assert_int_equal(kube_status_to_error(429, b, strlen(b), "GET /p", &st, NULL), -EAGAIN);
	assert_int_equal(st.retry_after_ms, 7000);
}

static void test_watch_lines(void **state)
{
	static const struct {
		const char *line;
		int r;
		int type; /* -1: parse fails */
		const char *rv;
	} t[] = {
		{"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"resourceVersion\":\"5\"}}}", 0,
		 KUBE_WATCH_ADDED, "5"},
		{"{\"type\":\"MODIFIED\",\"object\":{}}", 0, KUBE_WATCH_MODIFIED, NULL},
		{"{\"type\":\"DELETED\",\"object\":{\"metadata\":{}}}", 0, KUBE_WATCH_DELETED,
		 NULL},
		{"{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
		 "{\"resourceVersion\":\"12\"}}}",
		 0, KUBE_WATCH_BOOKMARK, "12"},
		{"{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410}}", 0,
		 KUBE_WATCH_ERROR, NULL},
		{"{\"type\":\"SYNC\",\"object\":{}}", 0, -1, NULL},
		{"{\"type\":\"ADDED\"}", -EBADMSG, 0, NULL},
		{"{\"type\":1,\"object\":{}}", -EBADMSG, 0, NULL},
		{"{\"type\":\"ADDED\",\"object\":[]}", -EBADMSG, 0, NULL},
		{"[]", -EBADMSG, 0, NULL},
		{"{\"type\":\"ADDED\",\"object\":{}", -EBADMSG, 0, NULL},
		{"{\"type\":\"ADDED\",\"type\":\"DELETED\",\"object\":{}}", -EBADMSG, 0, NULL},
		{"", -EBADMSG, 0, NULL},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct error err = {0};
		json_t *ev = NULL;
		int r = kube_watch_line_decode(t[i].line, strlen(t[i].line), &ev, &err);
		if (r != t[i].r)
			fail_msg("case %zu: r=%d", i, r);
		if (r < 0) {
			assert_null(ev);
			assert_int_equal(err.kind, ERR_DECODE);
			continue;
		}
		struct kube_watch_event we;
		r = kube_watch_event_parse(ev, &we, &err);
		if (t[i].type < 0) {
			assert_int_equal(r, -EBADMSG);
			assert_non_null(strstr(err.msg, "unknown watch event type \"SYNC\""));
		} else {
			assert_int_equal(r, 0);
			assert_int_equal(we.type, t[i].type);
			assert_ptr_equal(we.object, json_object_get(ev, "object"));
			if (t[i].rv)
				assert_string_equal(we.resource_version, t[i].rv);
			else
				assert_null(we.resource_version);
		}
		json_decref(ev);
	}
}

static void test_watch_error(void **state)
{
	json_t *o = json_loads("{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"status\":\"Failure\","
			       "\"message\":\"too old resource version: 3 (40)\",\"reason\":"
			       "\"Expired\",\"code\":410}",
			       0, NULL);
	assert_non_null(o);
	struct error err = {0};
	struct kube_status st = {0};
	assert_int_equal(kube_watch_error(o, &st, &err), -ESTALE);
	assert_int_equal(st.http_code, 410);
	assert_string_equal(st.reason, "Expired");
	assert_non_null(strstr(err.msg, "410 Gone (Expired) for watch: too old resource version"));
	json_decref(o);
}

static void test_curl_api(void **state)
{
	struct error err = {0};
	assert_int_equal(curl_api_init(false, &err), 0);
	assert_int_equal(curl_api_init(false, &err), 0);
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	assert_true(v->version_num >= CURL_API_MIN_VERSION);
	assert_true(v->features & CURL_VERSION_SSL);
	assert_string_equal(curl_api_version(), v->version);
}

/* Loopback port 1: nobody listens, so the connect is refused at once. */
static void test_refused(void **state)
{
	static const char yaml[] = "current-context: c\n"
				   "contexts: [{name: c, context: {cluster: k, user: u}}]\n"
				   "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1', "
				   "certificate-authority-data: Zm9v}}]\n"
				   "users: [{name: u, user: {token: SECRET-TOKEN-XYZ}}]\n";
	struct error err = {0};
	struct kubeconfig *kc = NULL;
	assert_int_equal(kubeconfig_parse(yaml, strlen(yaml), NULL, &kc, &err), 0);
	struct kube_client *c = NULL;
	struct kube_client_options o = {.connect_timeout_ms = 2000, .timeout_ms = 3000};
	assert_int_equal(kube_client_new(kc, &o, &c, &err), 0);
	kubeconfig_free(kc);

	json_t *j = NULL;
	struct kube_status st;
	assert_int_equal(kube_client_get(c, "/api/v1/namespaces/default/pods/x", &j, &st, &err),
			 -ECONNREFUSED);
	assert_null(j);
	assert_int_equal(err.kind, ERR_TRANSIENT);
	assert_int_equal(st.http_code, 0);
	assert_int_equal(st.curl_code, CURLE_COULDNT_CONNECT);
	assert_int_equal(kube_retry_classify(st.curl_code, st.http_code, 0), KUBE_RETRY_AGAIN);
	assert_non_null(strstr(err.msg, "https://127.0.0.1:1"));
	assert_null(strstr(err.msg, "SECRET"));
	assert_int_equal(kube_client_last_status(c)->curl_code, CURLE_COULDNT_CONNECT);

	/* Same for the convenience call and a watch. */
	error_clear(&err);
	assert_int_equal(kube_client_get_pod(c, "default", "x", &j, &err), -ECONNREFUSED);
	error_clear(&err);
	assert_int_equal(kube_client_get_pod(c, "default", "..", &j, &err), -EINVAL);
	error_clear(&err);
	assert_int_equal(kube_client_watch(c, "/api/v1/pods?watch=1", NULL, NULL, &st, &err),
			 -EINVAL);
	error_clear(&err);
	assert_int_equal(kube_client_get(c, "no-slash", &j, &st, &err), -EINVAL);
	error_clear(&err);
	assert_int_equal(kube_client_get(c, "/a b", &j, &st, &err), -EINVAL);
	kube_client_free(c);
	kube_client_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),	    cmocka_unit_test(test_pod_path),
		cmocka_unit_test(test_list_path),   cmocka_unit_test(test_status_errors),
		cmocka_unit_test(test_watch_lines), cmocka_unit_test(test_watch_error),
		cmocka_unit_test(test_curl_api),    cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
