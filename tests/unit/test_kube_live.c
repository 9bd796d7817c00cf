// SPDX-License-Identifier: Apache-2.0
/*
 * The Kubernetes client against a live HTTPS API server: the project's fake
 * (tests/fakeapi/fake_apiserver.py, started by tests/integration/kube_client.sh).
 * Every test skips unless these are set:
 *   KUBE_LIVE_SERVER  https://127.0.0.1:PORT
 *   KUBE_LIVE_CA      the server's CA (PEM file)
 *   KUBE_LIVE_TOKEN   a token allowed get/list/watch/delete pods, patch pods/status,
 *                     create events
 * and optionally:
 *   KUBE_LIVE_FORBIDDEN_TOKEN  a known token without RBAC (403 test)
 *   KUBE_LIVE_OTHER_CA         a CA that did not sign the server (TLS failure test)
 *   KUBE_LIVE_CONTROL          the fake's control URL (fault injection, 410)
 *   KUBE_LIVE_NODE             the node the seeded pods are on (default node-1)
 *   KUBE_LIVE_PODS             how many pods are seeded on that node
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "kube/kube_client.h"
#include "kube/kube_retry.h"
#include "kube/pod_watch.h"
#include "util/base64.h"
#include "util/file_util.h"

#define NS "default"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] ? v : NULL;
}

static bool live(void)
{
	return env("KUBE_LIVE_SERVER") && env("KUBE_LIVE_CA") && env("KUBE_LIVE_TOKEN");
}

#define REQUIRE_LIVE()                                                                             \
	do {                                                                                       \
		if (!live())                                                                       \
			skip();                                                                    \
	} while (0)

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

enum ca_mode {
	CA_FILE,
	CA_DATA,
	CA_INSECURE,
	CA_NONE
};

/* A kubeconfig written the way the agent writes it, parsed by our reader. */
static struct kubeconfig *make_kubeconfig(const char *server, const char *user_yaml,
					  enum ca_mode mode, const char *ca_path)
{
	char cluster[8192];
	_cleanup_free_ char *pem = NULL, *b64 = NULL;
	switch (mode) {
	case CA_FILE:
		(void)snprintf(cluster, sizeof(cluster), "certificate-authority: %s, ", ca_path);
		break;
	case CA_DATA: {
		size_t len;
		assert_int_equal(file_read_full(ca_path, 65536, &pem, &len), 0);
		assert_int_equal(base64_encode((const uint8_t *)pem, len, &b64), 0);
		(void)snprintf(cluster, sizeof(cluster), "certificate-authority-data: %s, ", b64);
		break;
	}
	case CA_INSECURE:
		(void)snprintf(cluster, sizeof(cluster), "insecure-skip-tls-verify: true, ");
		break;
	case CA_NONE:
		cluster[0] = '\0';
		break;
	}
	_cleanup_free_ char *yaml = NULL;
	assert_true(asprintf(&yaml,
			     "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
			     "contexts: [{name: c, context: {cluster: k%s}}]\n"
			     "clusters: [{name: k, cluster: {%sserver: '%s'}}]\n"
			     "users: [{name: u, user: {%s}}]\n",
			     user_yaml ? ", user: u" : "", cluster, server,
			     user_yaml ? user_yaml : "") > 0);
	struct error err = {0};
	struct kubeconfig *kc = NULL;
	if (kubeconfig_parse(yaml, strlen(yaml), NULL, &kc, &err) < 0)
		fail_msg("kubeconfig: %s", err.msg);
	return kc;
}

static struct kube_client *client_for(const char *token, enum ca_mode mode, const char *ca,
				      const struct kube_client_options *o)
{
	char user[512];
	(void)snprintf(user, sizeof(user), "token: '%s'", token);
	struct kubeconfig *kc = make_kubeconfig(env("KUBE_LIVE_SERVER"), user, mode,
						ca ? ca : env("KUBE_LIVE_CA"));
	struct kube_client *c = NULL;
	struct error err = {0};
	if (kube_client_new(kc, o, &c, &err) < 0)
		fail_msg("client: %s", err.msg);
	kubeconfig_free(kc);
	return c;
}

static struct kube_client *good_client(void)
{
	return client_for(env("KUBE_LIVE_TOKEN"), CA_FILE, NULL, NULL);
}

/* The fake's control API over plain HTTP, through the same client. */
static struct kube_client *control_client(void)
{
	struct kubeconfig *kc = make_kubeconfig(env("KUBE_LIVE_CONTROL"), NULL, CA_NONE, NULL);
	struct kube_client *c = NULL;
	struct error err = {0};
	if (kube_client_new(kc, NULL, &c, &err) < 0)
		fail_msg("control client: %s", err.msg);
	kubeconfig_free(kc);
	return c;
}

static void control_post(const char *path, const char *json)
{
	struct kube_client *c = control_client();
	json_t *body = json_loads(json, 0, NULL);
	assert_non_null(body);
	struct error err = {0};
	if (kube_client_post(c, path, body, NULL, NULL, &err) < 0)
		fail_msg("control POST %s: %s", path, err.msg);
	json_decref(body);
	kube_client_free(c);
}

static void clear_faults(void)
{
	struct kube_client *c = control_client();
	struct error err = {0};
	if (kube_client_delete(c, "/faults", NULL, NULL, NULL, NULL, &err) < 0)
		fail_msg("control DELETE /faults: %s", err.msg);
	kube_client_free(c);
}

static const char *node(void)
{
	return env("KUBE_LIVE_NODE") ? env("KUBE_LIVE_NODE") : "node-1";
}

/* LIST the node's pods; *ret_rv gets the list's resourceVersion. */
static json_t *list_node_pods(struct kube_client *c, char **ret_rv)
{
	char sel[128];
	(void)snprintf(sel, sizeof(sel), "spec.nodeName=%s", node());
	struct kube_list_query q = {.field_selector = sel};
	_cleanup_free_ char *path = NULL;
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	json_t *list = NULL;
	struct kube_status st;
	struct error err = {0};
	if (kube_client_list(c, path, &list, &st, &err) < 0)
		fail_msg("LIST %s: %s", path, err.msg);
	assert_int_equal(st.http_code, 200);
	if (ret_rv) {
		const char *rv = json_string_value(
			json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
		assert_non_null(rv);
		*ret_rv = strdup(rv);
	}
	return list;
}

static const char *pod_field(json_t *pod, const char *field)
{
	return json_string_value(json_object_get(json_object_get(pod, "metadata"), field));
}

static void test_get_pod(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	json_t *list = list_node_pods(c, NULL);
	json_t *first = json_array_get(json_object_get(list, "items"), 0);
	assert_non_null(first);
	const char *name = pod_field(first, "name"), *ns = pod_field(first, "namespace");

	json_t *pod = NULL;
	struct error err = {0};
	if (kube_client_get_pod(c, ns, name, &pod, &err) < 0)
		fail_msg("GET pod: %s", err.msg);
	assert_string_equal(pod_field(pod, "name"), name);
	assert_string_equal(json_string_value(json_object_get(pod, "kind")), "Pod");
	assert_int_equal(kube_client_last_status(c)->http_code, 200);
	json_decref(pod);

	/* The connection is reused: many requests on one client. */
	for (int i = 0; i < 20; i++) {
		assert_int_equal(kube_client_get_pod(c, ns, name, &pod, &err), 0);
		json_decref(pod);
	}
	json_decref(list);
	kube_client_free(c);
}

static void test_not_found(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	json_t *pod = NULL;
	struct error err = {0};
	assert_int_equal(kube_client_get_pod(c, NS, "no-such-pod", &pod, &err), -ENOENT);
	assert_null(pod);
	assert_int_equal(err.kind, ERR_API);
	const struct kube_status *st = kube_client_last_status(c);
	assert_int_equal(st->http_code, 404);
	assert_string_equal(st->reason, "NotFound");
	if (!strstr(err.msg, "404 Not Found (NotFound)") ||
	    !strstr(err.msg, "pods \"no-such-pod\" not found"))
		fail_msg("unexpected message: %s", err.msg);
	assert_int_equal(kube_retry_classify(st->curl_code, st->http_code, 0), KUBE_RETRY_FAIL);
	assert_int_equal(kube_retry_classify(st->curl_code, st->http_code, KUBE_RETRY_NOT_FOUND),
			 KUBE_RETRY_AGAIN);
	kube_client_free(c);
}

static void test_unauthorized(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = client_for("not-a-known-token", CA_FILE, NULL, NULL);
	json_t *pod = NULL;
	struct error err = {0};
	assert_int_equal(kube_client_get_pod(c, NS, "x", &pod, &err), -EACCES);
	assert_int_equal(err.kind, ERR_API);
	assert_int_equal(kube_client_last_status(c)->http_code, 401);
	if (!strstr(err.msg, "401 Unauthorized") || !strstr(err.msg, "token"))
		fail_msg("unexpected message: %s", err.msg);
	assert_null(strstr(err.msg, "not-a-known-token"));
	kube_client_free(c);
}

static void test_forbidden(void **state)
{
	REQUIRE_LIVE();
	if (!env("KUBE_LIVE_FORBIDDEN_TOKEN"))
		skip();
	struct kube_client *c = client_for(env("KUBE_LIVE_FORBIDDEN_TOKEN"), CA_FILE, NULL, NULL);
	json_t *pod = NULL;
	struct error err = {0};
	assert_int_equal(kube_client_get_pod(c, NS, "x", &pod, &err), -EPERM);
	assert_int_equal(err.kind, ERR_API);
	assert_int_equal(kube_client_last_status(c)->http_code, 403);
	if (!strstr(err.msg, "Kubernetes API denied access (403 Forbidden)") ||
	    !strstr(err.msg, "check the istio-cni ServiceAccount's RBAC") ||
	    !strstr(err.msg, "forbidden"))
		fail_msg("unexpected message: %s", err.msg);
	kube_client_free(c);
}

static void test_list(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	_cleanup_free_ char *rv = NULL;
	json_t *list = list_node_pods(c, &rv);
	size_t n = json_array_size(json_object_get(list, "items"));
	if (env("KUBE_LIVE_PODS"))
		assert_int_equal(n, (size_t)strtoul(env("KUBE_LIVE_PODS"), NULL, 10));
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		json_t *p = json_array_get(json_object_get(list, "items"), i);
		assert_string_equal(json_string_value(json_object_get(json_object_get(p, "spec"),
								      "nodeName")),
				    node());
	}
	json_decref(list);

	/* Another node has none of them. */
	struct kube_list_query q = {.field_selector = "spec.nodeName=no-such-node"};
	_cleanup_free_ char *path = NULL;
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	struct error err = {0};
	assert_int_equal(kube_client_list(c, path, &list, NULL, &err), 0);
	assert_int_equal(json_array_size(json_object_get(list, "items")), 0);
	json_decref(list);

	/* A GET of an object is not a list. */
	list = list_node_pods(c, NULL);
	json_t *first = json_array_get(json_object_get(list, "items"), 0);
	_cleanup_free_ char *pp = NULL;
	assert_int_equal(kube_pod_path(pod_field(first, "namespace"), pod_field(first, "name"),
				       NULL, &pp),
			 0);
	json_decref(list);
	json_t *obj = NULL;
	assert_int_equal(kube_client_list(c, pp, &obj, NULL, &err), -EBADMSG);
	kube_client_free(c);
}

struct watch_state {
	int bookmarks, added, modified, errors, total;
	int stop_after_bookmarks, stop_after_added;
	struct kube_client *patcher;
	const char *patch_ns, *patch_name;
	bool patched;
	int error_r;
	struct kube_status error_status;
	char last_rv[64];
};

static int on_event(json_t *event, void *userdata)
{
	struct watch_state *s = userdata;
	struct kube_watch_event we;
	struct error err = {0};
	if (kube_watch_event_parse(event, &we, &err) < 0)
		return -EBADMSG;
	s->total++;
	if (we.resource_version)
		(void)snprintf(s->last_rv, sizeof(s->last_rv), "%s", we.resource_version);
	switch (we.type) {
	case KUBE_WATCH_BOOKMARK:
		s->bookmarks++;
		if (s->patcher && !s->patched) {
			/* Change something while the watch runs, from a second client. */
			_cleanup_free_ char *path = NULL;
			assert_int_equal(kube_pod_path(s->patch_ns, s->patch_name, "status", &path),
					 0);
			json_t *patch = json_loads(
				"{\"metadata\":{\"labels\":{\"watch-test\":\"seen\"}}}", 0, NULL);
			if (kube_client_patch(s->patcher, path, patch, NULL, NULL, &err) < 0)
				fail_msg("PATCH during watch: %s", err.msg);
			json_decref(patch);
			s->patched = true;
		}
		if (s->stop_after_bookmarks && s->bookmarks >= s->stop_after_bookmarks)
			return 1;
		return 0;
	case KUBE_WATCH_ADDED:
		s->added++;
		if (s->stop_after_added && s->added >= s->stop_after_added)
			return 1;
		return 0;
	case KUBE_WATCH_MODIFIED:
		s->modified++;
		return 0;
	case KUBE_WATCH_ERROR:
		s->errors++;
		s->error_r = kube_watch_error(we.object, &s->error_status, NULL);
		return 1;
	default:
		return 0;
	}
}

static void test_watch(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	_cleanup_free_ char *rv = NULL;
	json_t *list = list_node_pods(c, &rv);
	json_t *first = json_array_get(json_object_get(list, "items"), 0);

	/* From the list's resourceVersion: bookmarks, and the change we make. */
	char sel[128];
	(void)snprintf(sel, sizeof(sel), "spec.nodeName=%s", node());
	struct kube_list_query q = {.field_selector = sel,
				    .resource_version = rv,
				    .watch = true,
				    .allow_watch_bookmarks = true,
				    .timeout_seconds = 20};
	_cleanup_free_ char *path = NULL;
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	struct watch_state s = {.stop_after_bookmarks = 3,
				.patcher = good_client(),
				.patch_ns = pod_field(first, "namespace"),
				.patch_name = pod_field(first, "name")};
	struct error err = {0};
	struct kube_status st;
	uint64_t t0 = now_ms();
	int r = kube_client_watch(c, path, on_event, &s, &st, &err);
	if (r < 0)
		fail_msg("watch: %s", err.msg);
	assert_int_equal(r, s.total);
	assert_int_equal(s.bookmarks, 3);
	assert_int_equal(s.added, 0);
	assert_int_equal(s.modified, 1);
	assert_int_equal(st.http_code, 200);
	assert_true(now_ms() - t0 < 15000);
	kube_client_free(s.patcher);

	/* Without a resourceVersion: the current pods first, as ADDED. */
	q.resource_version = NULL;
	free(path);
	path = NULL;
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	struct watch_state s2 = {.stop_after_added = 2};
	r = kube_client_watch(c, path, on_event, &s2, &st, &err);
	if (r < 0)
		fail_msg("watch: %s", err.msg);
	assert_int_equal(s2.added, 2);

	/* A callback error ends the watch with that error. */
	r = kube_client_watch(c, path, (kube_watch_cb)NULL, NULL, NULL, &err);
	assert_int_equal(r, -EINVAL);

	/* The client stays usable after a stopped stream. */
	json_t *pod = NULL;
	error_clear(&err);
	assert_int_equal(kube_client_get_pod(c, pod_field(first, "namespace"),
					     pod_field(first, "name"), &pod, &err),
			 0);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(pod, "metadata"), "labels"),
				    "watch-test")),
			    "seen");
	json_decref(pod);
	json_decref(list);
	kube_client_free(c);
}

static int fail_cb(json_t *event, void *userdata)
{
	return -ENOTRECOVERABLE;
}

static void test_watch_cb_error_and_line_cap(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	_cleanup_free_ char *path = NULL;
	struct kube_list_query q = {.watch = true, .timeout_seconds = 10};
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	struct error err = {0};
	assert_int_equal(kube_client_watch(c, path, fail_cb, NULL, NULL, &err), -ENOTRECOVERABLE);
	assert_non_null(strstr(err.msg, "watch handler failed"));
	kube_client_free(c);

	/* A pod is a few KiB: a 512-byte line cap rejects the first event. */
	struct kube_client_options o = {.max_watch_line_bytes = 512};
	c = client_for(env("KUBE_LIVE_TOKEN"), CA_FILE, NULL, &o);
	struct watch_state s = {.stop_after_added = 1};
	error_clear(&err);
	assert_int_equal(kube_client_watch(c, path, on_event, &s, NULL, &err), -EFBIG);
	assert_int_equal(s.total, 0);
	assert_non_null(strstr(err.msg, "larger than 512 bytes"));
	kube_client_free(c);
}

static void test_watch_gone(void **state)
{
	REQUIRE_LIVE();
	if (!env("KUBE_LIVE_CONTROL"))
		skip();
	control_post("/history/expire", "{\"kill_watches\":false}");
	struct kube_client *c = good_client();
	struct kube_list_query q = {.resource_version = "1", .watch = true, .timeout_seconds = 10};
	_cleanup_free_ char *path = NULL;
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	struct watch_state s = {0};
	struct error err = {0};
	int r = kube_client_watch(c, path, on_event, &s, NULL, &err);
	if (r < 0) {
		/* gone_mode=http: the 410 is the answer itself. */
		assert_int_equal(r, -ESTALE);
		assert_int_equal(kube_client_last_status(c)->http_code, 410);
	} else {
		assert_int_equal(s.errors, 1);
		assert_int_equal(s.error_r, -ESTALE);
		assert_int_equal(s.error_status.http_code, 410);
		assert_string_equal(s.error_status.reason, "Expired");
	}
	kube_client_free(c);
}

static void test_delete_preconditions(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	json_t *list = list_node_pods(c, NULL);
	json_t *victim = json_array_get(json_object_get(list, "items"),
					json_array_size(json_object_get(list, "items")) - 1);
	const char *ns = pod_field(victim, "namespace"), *name = pod_field(victim, "name");
	const char *uid = pod_field(victim, "uid"), *rv = pod_field(victim, "resourceVersion");
	_cleanup_free_ char *path = NULL;
	assert_int_equal(kube_pod_path(ns, name, NULL, &path), 0);

	struct error err = {0};
	struct kube_status st;
	/* A pod replaced meanwhile has another uid: never deleted. */
	assert_int_equal(kube_client_delete(c, path, "00000000-0000-0000-0000-000000000000", rv,
					    NULL, &st, &err),
			 -EEXIST);
	assert_int_equal(st.http_code, 409);
	assert_string_equal(st.reason, "Conflict");
	assert_int_equal(err.kind, ERR_API);
	assert_non_null(strstr(err.msg, "Precondition failed"));
	/* A stale resourceVersion likewise. */
	error_clear(&err);
	assert_int_equal(kube_client_delete(c, path, uid, "1", NULL, &st, &err), -EEXIST);

	json_t *out = NULL;
	error_clear(&err);
	if (kube_client_delete(c, path, uid, rv, &out, &st, &err) < 0)
		fail_msg("DELETE: %s", err.msg);
	assert_true(st.http_code == 200 || st.http_code == 202);
	json_decref(out);

	json_t *pod = NULL;
	assert_int_equal(kube_client_get_pod(c, ns, name, &pod, &err), -ENOENT);
	json_decref(list);
	kube_client_free(c);
}

static void test_patch_status_and_event(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	json_t *list = list_node_pods(c, NULL);
	json_t *p = json_array_get(json_object_get(list, "items"), 0);
	const char *ns = pod_field(p, "namespace"), *name = pod_field(p, "name");
	_cleanup_free_ char *path = NULL;
	assert_int_equal(kube_pod_path(ns, name, "status", &path), 0);

	json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels",
				  "cni.istio.io/uninitialized", "true");
	json_t *out = NULL;
	struct error err = {0};
	struct kube_status st;
	if (kube_client_patch(c, path, patch, &out, &st, &err) < 0)
		fail_msg("PATCH: %s", err.msg);
	assert_int_equal(st.http_code, 200);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(out, "metadata"), "labels"),
				    "cni.istio.io/uninitialized")),
			    "true");
	json_decref(out);
	json_decref(patch);

	json_t *ev = json_pack(
		"{s:s, s:s, s:{s:s, s:s}, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, s:{s:s}}",
		"apiVersion", "v1", "kind", "Event", "metadata", "generateName", "istio-cni-",
		"namespace", ns, "involvedObject", "kind", "Pod", "namespace", ns, "name", name,
		"uid", pod_field(p, "uid"), "reason", "LabelBrokenPod", "message",
		"labelled by the live test", "type", "Warning", "source", "component",
		"istio-cni-repair");
	assert_non_null(ev);
	char evpath[256];
	(void)snprintf(evpath, sizeof(evpath), "/api/v1/namespaces/%s/events", ns);
	out = NULL;
	if (kube_client_post(c, evpath, ev, &out, &st, &err) < 0)
		fail_msg("POST event: %s", err.msg);
	assert_int_equal(st.http_code, 201);
	assert_string_equal(json_string_value(json_object_get(out, "reason")), "LabelBrokenPod");
	json_decref(out);

	/* The same name twice: 409 AlreadyExists. */
	json_t *named = json_deep_copy(ev);
	json_object_set_new(json_object_get(named, "metadata"), "name",
			    json_string("live-test-fixed-name"));
	assert_int_equal(kube_client_post(c, evpath, named, NULL, &st, &err), 0);
	error_clear(&err);
	assert_int_equal(kube_client_post(c, evpath, named, NULL, &st, &err), -EEXIST);
	assert_string_equal(st.reason, "AlreadyExists");
	json_decref(named);
	json_decref(ev);
	json_decref(list);
	kube_client_free(c);
}

static void test_tls(void **state)
{
	REQUIRE_LIVE();
	struct error err = {0};
	json_t *list = NULL;

	/* The CA as inline data, and insecure mode, both reach the server. */
	static const enum ca_mode ok_modes[] = {CA_DATA, CA_INSECURE};
	for (size_t i = 0; i < ELEMENTSOF(ok_modes); i++) {
		struct kube_client *c = client_for(env("KUBE_LIVE_TOKEN"), ok_modes[i], NULL, NULL);
		list = list_node_pods(c, NULL);
		json_decref(list);
		kube_client_free(c);
	}

	/* The wrong CA, and no CA at all (system store): verification fails. */
	static const enum ca_mode bad_modes[] = {CA_FILE, CA_NONE};
	for (size_t i = 0; i < ELEMENTSOF(bad_modes); i++) {
		if (bad_modes[i] == CA_FILE && !env("KUBE_LIVE_OTHER_CA"))
			continue;
		struct kube_client *c = client_for(env("KUBE_LIVE_TOKEN"), bad_modes[i],
						   env("KUBE_LIVE_OTHER_CA"), NULL);
		json_t *pod = NULL;
		struct kube_status st;
		error_clear(&err);
		assert_int_equal(kube_client_get(c, "/api/v1/pods", &pod, &st, &err), -EPROTO);
		assert_int_equal(err.kind, ERR_API);
		assert_int_equal(st.http_code, 0);
		assert_int_equal(kube_retry_classify(st.curl_code, st.http_code, 0),
				 KUBE_RETRY_FAIL);
		if (!strstr(err.msg, "TLS verification") ||
		    !strstr(err.msg, "certificate-authority"))
			fail_msg("unexpected message: %s", err.msg);
		kube_client_free(c);
	}
}

static void test_token_rotation(void **state)
{
	REQUIRE_LIVE();
	char dir[] = "/tmp/test-kube-live-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char tok[256], user[300];
	(void)snprintf(tok, sizeof(tok), "%s/token", dir);
	(void)snprintf(user, sizeof(user), "tokenFile: '%s'", tok);
	const char *good = env("KUBE_LIVE_TOKEN");
	assert_int_equal(file_write_atomic(tok, good, strlen(good), 0600), 0);

	struct kubeconfig *kc = make_kubeconfig(env("KUBE_LIVE_SERVER"), user, CA_FILE,
						env("KUBE_LIVE_CA"));
	struct kube_client *c = NULL;
	struct error err = {0};
	assert_int_equal(kube_client_new(kc, NULL, &c, &err), 0);
	kubeconfig_free(kc);

	json_t *j = NULL;
	assert_int_equal(kube_client_get(c, "/api/v1/namespaces/default/pods", &j, NULL, &err), 0);
	json_decref(j);
	/* Rotated to a token the server does not know: the next request uses it. */
	assert_int_equal(file_write_atomic(tok, "revoked\n", 8, 0600), 0);
	assert_int_equal(kube_client_get(c, "/api/v1/namespaces/default/pods", &j, NULL, &err),
			 -EACCES);
	assert_int_equal(file_write_atomic(tok, good, strlen(good), 0600), 0);
	error_clear(&err);
	assert_int_equal(kube_client_get(c, "/api/v1/namespaces/default/pods", &j, NULL, &err), 0);
	json_decref(j);
	kube_client_free(c);
	assert_int_equal(unlink(tok), 0);
	assert_int_equal(rmdir(dir), 0);
}

static void test_faults(void **state)
{
	REQUIRE_LIVE();
	if (!env("KUBE_LIVE_CONTROL"))
		skip();
	clear_faults();
	struct error err = {0};
	struct kube_status st;
	json_t *j = NULL;

	/* 503 with Retry-After: transient, the delay exposed. */
	control_post("/faults", "{\"kind\":\"fail\",\"status\":503,\"retry_after\":2,\"count\":1}");
	struct kube_client *c = good_client();
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, &st, &err), -EAGAIN);
	assert_int_equal(err.kind, ERR_TRANSIENT);
	assert_int_equal(st.http_code, 503);
	assert_int_equal(st.retry_after_ms, 2000);
	assert_string_equal(st.reason, "ServiceUnavailable");
	assert_int_equal(kube_retry_classify(st.curl_code, st.http_code, 0), KUBE_RETRY_AGAIN);
	/* The schedule honours it. */
	struct kube_backoff b;
	uint64_t wait;
	kube_backoff_init(&b, 0, 30000, 0, 0, false, 1);
	assert_int_equal(kube_backoff_next(&b, 0, st.retry_after_ms, &wait), 0);
	assert_int_equal(wait, 2000);

	/* 429 likewise. */
	control_post("/faults", "{\"kind\":\"fail\",\"status\":429,\"retry_after\":1,\"count\":1}");
	error_clear(&err);
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, &st, &err), -EAGAIN);
	assert_int_equal(st.http_code, 429);
	assert_int_equal(st.retry_after_ms, 1000);

	/* A dropped connection: transient. On a fresh client, since libcurl
	 * silently retries a request whose reused connection died. */
	control_post("/faults", "{\"kind\":\"drop\",\"count\":1}");
	kube_client_free(c);
	c = good_client();
	error_clear(&err);
	int r = kube_client_get(c, "/api/v1/pods", &j, &st, &err);
	assert_true(r < 0);
	assert_int_equal(err.kind, ERR_TRANSIENT);
	assert_int_equal(kube_retry_classify(st.curl_code, st.http_code, 0), KUBE_RETRY_AGAIN);

	/* Back to normal. */
	error_clear(&err);
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, &st, &err), 0);
	json_decref(j);
	kube_client_free(c);

	/* Latency beyond the request timeout. */
	control_post("/faults", "{\"kind\":\"latency\",\"seconds\":3,\"count\":1}");
	struct kube_client_options o = {.timeout_ms = 500};
	c = client_for(env("KUBE_LIVE_TOKEN"), CA_FILE, NULL, &o);
	error_clear(&err);
	uint64_t t0 = now_ms();
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, &st, &err), -ETIMEDOUT);
	uint64_t took = now_ms() - t0;
	assert_true(took >= 400 && took < 2500);
	assert_int_equal(err.kind, ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "within 500 ms"));
	assert_int_equal(kube_retry_classify(st.curl_code, st.http_code, 0), KUBE_RETRY_AGAIN);
	kube_client_free(c);
	clear_faults();
}

/* What a while_waiting hook saw: how often it ran, and when it last did. */
struct waited {
	unsigned int calls;
	uint64_t at_ms;
};

static void on_wait(void *userdata)
{
	struct waited *w = userdata;
	w->calls++;
	w->at_ms = now_ms();
}

/* A one-shot client's hook runs once per request, while the server holds the answer. */
static void test_while_waiting(void **state)
{
	REQUIRE_LIVE();
	if (!env("KUBE_LIVE_CONTROL"))
		skip();
	clear_faults();
	struct waited w = {0};
	struct kube_client_options o = {.one_shot = true,
					.while_waiting = on_wait,
					.while_waiting_userdata = &w};
	struct kube_client *c = client_for(env("KUBE_LIVE_TOKEN"), CA_FILE, NULL, &o);
	struct error err = {0};
	json_t *j = NULL;

	control_post("/faults", "{\"kind\":\"latency\",\"seconds\":0.6,\"count\":1}");
	uint64_t t0 = now_ms();
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, NULL, &err), 0);
	uint64_t done = now_ms();
	json_decref(j);
	assert_int_equal(w.calls, 1);
	/* Called before the answer, which the server held back for 0.6 s. */
	assert_true(w.at_ms - t0 < 500);
	assert_true(done - w.at_ms >= 400);

	/* Once per request, on the same client (and its connection). */
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, NULL, &err), 0);
	json_decref(j);
	assert_int_equal(w.calls, 2);
	kube_client_free(c);
	clear_faults();

	/* Nothing went out: a refused connection never calls it. */
	struct kubeconfig *kc = make_kubeconfig("https://127.0.0.1:1", "token: 'x'", CA_FILE,
						env("KUBE_LIVE_CA"));
	w = (struct waited){0};
	assert_int_equal(kube_client_new(kc, &o, &c, &err), 0);
	kubeconfig_free(kc);
	assert_int_equal(kube_client_get(c, "/api/v1/pods", &j, NULL, &err), -ECONNREFUSED);
	assert_int_equal(w.calls, 0);
	kube_client_free(c);
}

static void test_size_cap(void **state)
{
	REQUIRE_LIVE();
	struct kube_client_options o = {.max_response_bytes = 16 * 1024};
	struct kube_client *c = client_for(env("KUBE_LIVE_TOKEN"), CA_FILE, NULL, &o);
	json_t *j = NULL;
	struct error err = {0};
	struct kube_status st;
	assert_int_equal(kube_client_list(c, "/api/v1/pods", &j, &st, &err), -EFBIG);
	assert_null(j);
	assert_int_equal(err.kind, ERR_API);
	assert_non_null(strstr(err.msg, "larger than the 16384-byte limit"));
	assert_int_equal(kube_retry_classify(st.curl_code, st.http_code, 0), KUBE_RETRY_FAIL);
	kube_client_free(c);
}

/* --- Long-lived watches: stop, tick, clone, cancel, pod_watch resume --- */

struct stopper_arg {
	atomic_bool *flag;
	unsigned after_ms;
	uint64_t set_at_ms;
};

static void *set_later(void *arg)
{
	struct stopper_arg *a = arg;
	struct timespec ts = {.tv_sec = a->after_ms / 1000,
			      .tv_nsec = (long)(a->after_ms % 1000) * 1000000L};
	(void)nanosleep(&ts, NULL);
	a->set_at_ms = now_ms();
	atomic_store(a->flag, true);
	return NULL;
}

struct tick_state {
	unsigned ticks;
	uint64_t last_ms, min_gap_ms;
	unsigned stop_after; /* 0: never */
	int stop_with;
	unsigned events;
};

static int count_events(json_t *event, void *userdata)
{
	(void)event;
	((struct tick_state *)userdata)->events++;
	return 0;
}

static int count_tick(void *userdata)
{
	struct tick_state *t = userdata;
	uint64_t now = now_ms();
	if (t->ticks > 0 && now - t->last_ms < t->min_gap_ms)
		t->min_gap_ms = now - t->last_ms;
	t->last_ms = now;
	t->ticks++;
	if (t->stop_after && t->ticks >= t->stop_after)
		return t->stop_with;
	return 0;
}

/* A watch from the current resourceVersion that asks for timeout_s. */
static char *quiet_watch_path(struct kube_client *c, unsigned timeout_s)
{
	_cleanup_free_ char *rv = NULL;
	json_decref(list_node_pods(c, &rv));
	struct kube_list_query q = {.field_selector = "spec.nodeName=no-such-node",
				    .resource_version = rv,
				    .watch = true,
				    .timeout_seconds = timeout_s};
	char *path = NULL;
	assert_int_equal(kube_list_path("/api/v1/pods", &q, &path), 0);
	return path;
}

static void test_watch_stop_and_tick(void **state)
{
	REQUIRE_LIVE();
	struct kube_client *c = good_client();
	/* No pod matches and no bookmarks are asked for: an idle stream. */
	_cleanup_free_ char *path = quiet_watch_path(c, 60);
	atomic_bool stop;
	atomic_init(&stop, false);
	struct tick_state t = {.min_gap_ms = UINT64_MAX};
	const struct kube_watch_options o = {.stop = &stop,
					     .tick = count_tick,
					     .tick_userdata = &t};

	/* Stopped from another thread after 2.2 s: -ECANCELED within ~1 s,
	 * ticks every 0.5 to ~1 s until then although nothing flowed. */
	struct stopper_arg a = {.flag = &stop, .after_ms = 2200};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, set_later, &a), 0);
	struct error err = {0};
	uint64_t t0 = now_ms();
	int r = kube_client_watch_full(c, path, count_events, &t, &o, NULL, &err);
	uint64_t t1 = now_ms();
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(r, -ECANCELED);
	assert_int_equal(err.kind, ERR_TRANSIENT);
	assert_non_null(strstr(err.msg, "cancelled"));
	assert_int_equal(t.events, 0);
	if (t1 - a.set_at_ms > 1300)
		fail_msg("the watch ended %llu ms after the stop",
			 (unsigned long long)(t1 - a.set_at_ms));
	assert_true(t1 - t0 >= 2200);
	assert_true(t.ticks >= 2 && t.ticks <= 5);
	assert_true(t.min_gap_ms >= KUBE_CLIENT_TICK_MS - 10);

	/* Already stopped: no request at all. */
	error_clear(&err);
	t0 = now_ms();
	assert_int_equal(kube_client_watch_full(c, path, count_events, &t, &o, NULL, &err),
			 -ECANCELED);
	assert_true(now_ms() - t0 < 200);

	/* A tick's positive return ends the watch cleanly, a negative one with it. */
	atomic_store(&stop, false);
	t = (struct tick_state){.min_gap_ms = UINT64_MAX, .stop_after = 2, .stop_with = 1};
	error_clear(&err);
	assert_int_equal(kube_client_watch_full(c, path, count_events, &t, &o, NULL, &err), 0);
	assert_int_equal(t.ticks, 2);
	t = (struct tick_state){.min_gap_ms = UINT64_MAX,
				.stop_after = 1,
				.stop_with = -ENOTRECOVERABLE};
	error_clear(&err);
	assert_int_equal(kube_client_watch_full(c, path, count_events, &t, &o, NULL, &err),
			 -ENOTRECOVERABLE);
	assert_non_null(strstr(err.msg, "watch tick failed"));

	/* The server's end of the stream still ends it (timeoutSeconds=1). */
	free(path);
	path = quiet_watch_path(c, 1);
	t = (struct tick_state){.min_gap_ms = UINT64_MAX};
	error_clear(&err);
	t0 = now_ms();
	assert_int_equal(kube_client_watch_full(c, path, count_events, &t, &o, NULL, &err), 0);
	assert_true(now_ms() - t0 < 3000);

	/* A client-side bound below the server's: -ETIMEDOUT. */
	free(path);
	path = quiet_watch_path(c, 30);
	const struct kube_watch_options bounded = {.timeout_ms = 700};
	error_clear(&err);
	t0 = now_ms();
	assert_int_equal(kube_client_watch_full(c, path, count_events, &t, &bounded, NULL, &err),
			 -ETIMEDOUT);
	assert_true(now_ms() - t0 < 2500);
	assert_non_null(strstr(err.msg, "within 700 ms"));

	/* The client is usable afterwards. */
	json_t *j = NULL;
	error_clear(&err);
	assert_int_equal(kube_client_list(c, "/api/v1/pods?limit=1", &j, NULL, &err), 0);
	json_decref(j);
	kube_client_free(c);
}

static void test_clone_and_cancel(void **state)
{
	REQUIRE_LIVE();
	if (!env("KUBE_LIVE_CONTROL"))
		skip();
	struct kube_client *c = good_client();
	struct kube_client *w = NULL;
	struct error err = {0};
	if (kube_client_clone(c, &w, &err) < 0)
		fail_msg("clone: %s", err.msg);
	/* The clone owns copies of everything: it outlives its original. */
	kube_client_free(c);
	json_t *j = NULL;
	if (kube_client_list(w, "/api/v1/pods?limit=1", &j, NULL, &err) < 0)
		fail_msg("LIST with the clone: %s", err.msg);
	json_decref(j);
	assert_int_equal(kube_client_last_status(w)->http_code, 200);

	/* The cancel flag aborts a request the server is slow to answer. */
	clear_faults();
	control_post("/faults", "{\"kind\":\"latency\",\"seconds\":4,\"count\":1}");
	atomic_bool cancel;
	atomic_init(&cancel, false);
	kube_client_set_cancel(w, &cancel);
	struct stopper_arg a = {.flag = &cancel, .after_ms = 300};
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, set_later, &a), 0);
	j = NULL;
	error_clear(&err);
	assert_int_equal(kube_client_get(w, "/api/v1/pods", &j, NULL, &err), -ECANCELED);
	uint64_t t1 = now_ms();
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_null(j);
	if (t1 - a.set_at_ms > 1300)
		fail_msg("the GET ended %llu ms after the cancel",
			 (unsigned long long)(t1 - a.set_at_ms));
	/* Still set: every request fails at once; cleared: back to normal. */
	error_clear(&err);
	assert_int_equal(kube_client_get(w, "/api/v1/pods", &j, NULL, &err), -ECANCELED);
	kube_client_set_cancel(w, NULL);
	clear_faults();
	error_clear(&err);
	assert_int_equal(kube_client_list(w, "/api/v1/pods?limit=1", &j, NULL, &err), 0);
	json_decref(j);
	kube_client_free(w);
}

struct pw_state {
	unsigned added, modified, deleted, synced, ticks;
	uint64_t t0;
	struct kube_client *patcher;
	const char *patch_ns, *patch_name;
	bool patched;
};

static int pw_event(void *ud, enum kube_watch_type type, json_t *pod)
{
	struct pw_state *s = ud;
	(void)pod;
	if (type == KUBE_WATCH_ADDED)
		s->added++;
	else if (type == KUBE_WATCH_MODIFIED)
		s->modified++;
	else
		s->deleted++;
	return 0;
}

static int pw_synced(void *ud)
{
	((struct pw_state *)ud)->synced++;
	return 0;
}

/* From inside the watch: a change made through another client at 1.5 s,
 * and the end of the test at 4.5 s. */
static int pw_tick(void *ud)
{
	struct pw_state *s = ud;
	s->ticks++;
	uint64_t el = now_ms() - s->t0;
	if (!s->patched && el >= 1500) {
		char path[512];
		/* pods/status: what the test's token may patch. */
		(void)snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s/status",
			       s->patch_ns, s->patch_name);
		json_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels", "tick-test",
					  "seen");
		struct error err = {0};
		int r = kube_client_patch(s->patcher, path, patch, NULL, NULL, &err);
		json_decref(patch);
		if (r < 0)
			return r;
		s->patched = true;
	}
	return el >= 4500 ? 1 : 0;
}

static void test_pod_watch_resume(void **state)
{
	REQUIRE_LIVE();
	if (!env("KUBE_LIVE_CONTROL"))
		skip();
	struct kube_client *c = good_client();
	json_t *list = list_node_pods(c, NULL);
	size_t n = json_array_size(json_object_get(list, "items"));
	json_t *first = json_array_get(json_object_get(list, "items"), 0);
	assert_true(n > 0);
	struct pw_state s = {.t0 = now_ms(),
			     .patcher = good_client(),
			     .patch_ns = pod_field(first, "namespace"),
			     .patch_name = pod_field(first, "name")};
	char sel[128];
	(void)snprintf(sel, sizeof(sel), "spec.nodeName=%s", node());
	static const struct pod_watch_callbacks cb = {.on_event = pw_event,
						      .on_synced = pw_synced,
						      .on_tick = pw_tick};
	struct pod_watch *w = NULL;
	assert_int_equal(pod_watch_new(c, sel, NULL, &cb, &s, &w), 0);
	/* Watches of 1 s: four or so in the 4.5 s the test lasts. */
	pod_watch_set_timeout(w, 1, 2);
	struct kube_client *ctl = control_client();
	struct error err = {0};
	assert_int_equal(kube_client_delete(ctl, "/requests", NULL, NULL, NULL, NULL, &err), 0);

	atomic_bool stop;
	atomic_init(&stop, false);
	int r;
	while ((r = pod_watch_step(w, &stop, &err)) == 0)
		;
	if (r != 1) /* the tick's */
		fail_msg("pod_watch_step: %d %s", r, err.msg);
	assert_int_equal(s.synced, 1);
	assert_int_equal(s.added, n);
	assert_int_equal(s.modified, 1);
	assert_int_equal(s.deleted, 0);
	assert_true(s.ticks >= 4);

	/* One LIST; every WATCH resumed from a resourceVersion, timeoutSeconds=1. */
	json_t *log = NULL;
	assert_int_equal(kube_client_get(ctl, "/requests", &log, NULL, &err), 0);
	unsigned lists = 0, watches = 0;
	size_t i;
	json_t *x;
	json_array_foreach (json_object_get(log, "items"), i, x) {
		if (strcmp(json_string_value(json_object_get(x, "path")), "/api/v1/pods") != 0)
			continue;
		json_t *p = json_object_get(x, "params");
		/* Only ours: a request an earlier test abandoned may be logged late. */
		const char *fs = json_string_value(json_object_get(p, "fieldSelector"));
		if (!fs || strcmp(fs, sel) != 0)
			continue;
		if (!json_object_get(p, "watch")) {
			lists++;
			continue;
		}
		watches++;
		assert_string_equal(json_string_value(json_object_get(p, "timeoutSeconds")), "1");
		assert_string_equal(json_string_value(json_object_get(p, "allowWatchBookmarks")),
				    "true");
		const char *rv = json_string_value(json_object_get(p, "resourceVersion"));
		assert_non_null(rv);
		assert_string_not_equal(rv, "0");
	}
	assert_int_equal(lists, 1);
	assert_true(watches >= 3 && watches <= 6);
	json_decref(log);

	/* A stop ends the next step at once with 0. */
	atomic_store(&stop, true);
	assert_int_equal(pod_watch_step(w, &stop, &err), 0);
	pod_watch_free(w);
	kube_client_free(ctl);
	kube_client_free(s.patcher);
	json_decref(list);
	kube_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_pod),
		cmocka_unit_test(test_not_found),
		cmocka_unit_test(test_unauthorized),
		cmocka_unit_test(test_forbidden),
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_watch),
		cmocka_unit_test(test_watch_cb_error_and_line_cap),
		cmocka_unit_test(test_patch_status_and_event),
		cmocka_unit_test(test_delete_preconditions),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_token_rotation),
		cmocka_unit_test(test_faults),
		cmocka_unit_test(test_while_waiting),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_watch_stop_and_tick),
		cmocka_unit_test(test_clone_and_cancel),
		cmocka_unit_test(test_pod_watch_resume),
		/* Last: it compacts the server's history. */
		cmocka_unit_test(test_watch_gone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
