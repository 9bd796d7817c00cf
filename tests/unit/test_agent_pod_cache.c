// SPDX-License-Identifier: Apache-2.0
/* The pod cache's map, lookups with uid checks and waiting, and the throttle. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "agent.h"
#include "metrics.h"
#include "pod_cache.h"
#include "pod_queue.h"

static int put_pod(struct pod_cache *pc, const char *ns, const char *name, const char *uid)
{
	char n[64], m[64], u[64];
	(void)snprintf(n, sizeof(n), "%s", ns);
	(void)snprintf(m, sizeof(m), "%s", name);
	(void)snprintf(u, sizeof(u), "%s", uid);
	struct pod_info p = {.namespace = n, .name = m, .uid = u};
	return pod_cache_put(pc, &p);
}

static void put(struct pod_cache *pc, const char *ns, const char *name, const char *uid)
{
	assert_int_equal(put_pod(pc, ns, name, uid), 0);
}

static void test_map(void **state)
{
	struct agent_metrics *am;
	assert_int_equal(agent_metrics_new(&am), 0);
	struct pod_cache *pc;
	assert_int_equal(pod_cache_new(am, &pc), 0);
	pod_cache_set_synced(pc, true);

	/* Enough pods to make the table grow several times. */
	char ns[32], name[32], uid[32];
	for (int i = 0; i < 1000; i++) {
		(void)snprintf(ns, sizeof(ns), "ns%d", i % 7);
		(void)snprintf(name, sizeof(name), "pod-%d", i);
		(void)snprintf(uid, sizeof(uid), "uid-%d", i);
		put(pc, ns, name, uid);
	}
	assert_int_equal(pod_cache_size(pc), 1000);
	double v;
	assert_int_equal(metric_get(am->pod_cache_pods, NULL, &v), 0);
	assert_true(v == 1000);

	static const struct {
		const char *ns, *name, *uid;
		int want;
		const char *json_has;
	} t[] = {
		{"ns3", "pod-3", "uid-3", 0, "\"uid\":\"uid-3\""},
		{"ns3", "pod-3", NULL, 0, "\"name\":\"pod-3\""},
		{"ns3", "pod-3", "", 0, "\"name\":\"pod-3\""},
		{"ns3", "pod-3", "other", -ESTALE, NULL},
		{"ns4", "pod-3", NULL, -ENOENT, NULL},
		{"ns3", "pod-1000", NULL, -ENOENT, NULL},
		{"", "pod-3", NULL, -EINVAL, NULL},
		{"ns3", NULL, NULL, -EINVAL, NULL},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char *json = NULL;
		size_t len = 0;
		assert_int_equal(pod_cache_lookup(pc, t[i].ns, t[i].name, t[i].uid, 0, &json, &len),
				 t[i].want);
		if (t[i].json_has) {
			assert_non_null(strstr(json, t[i].json_has));
			assert_int_equal(len, strlen(json));
		} else {
			assert_null(json);
		}
		free(json);
	}

	/* Replace under the same name: the new uid wins. */
	put(pc, "ns3", "pod-3", "uid-new");
	assert_int_equal(pod_cache_size(pc), 1000);
	char *json = NULL;
	size_t len;
	assert_int_equal(pod_cache_lookup(pc, "ns3", "pod-3", "uid-3", 0, &json, &len), -ESTALE);
	assert_int_equal(pod_cache_lookup(pc, "ns3", "pod-3", "uid-new", 0, &json, &len), 0);
	free(json);

	/* Delete only with the right uid (or none). */
	assert_int_equal(pod_cache_delete(pc, "ns3", "pod-3", "uid-3"), -ENOENT);
	assert_int_equal(pod_cache_delete(pc, "ns3", "pod-3", "uid-new"), 0);
	assert_int_equal(pod_cache_delete(pc, "ns3", "pod-3", NULL), -ENOENT);
	assert_int_equal(pod_cache_delete(pc, "ns4", "pod-4", NULL), 0);
	assert_int_equal(pod_cache_size(pc), 998);

	/* Not synced (the watch is down): even a held pod may be stale, so every
	 * lookup is -EAGAIN and the caller asks the API. */
	pod_cache_set_synced(pc, false);
	assert_int_equal(pod_cache_lookup(pc, "x", "y", NULL, 0, &json, &len), -EAGAIN);
	assert_int_equal(pod_cache_lookup(pc, "ns5", "pod-5", NULL, 0, &json, &len), -EAGAIN);
	assert_int_equal(pod_cache_lookup(pc, "ns5", "pod-5", "uid-5", 50, &json, &len), -EAGAIN);
	pod_cache_set_synced(pc, true);
	assert_int_equal(pod_cache_lookup(pc, "ns5", "pod-5", NULL, 0, &json, &len), 0);
	free(json);

	pod_cache_free(pc);
	agent_metrics_free(am);
}

static void test_events(void **state)
{
	struct pod_cache *pc;
	assert_int_equal(pod_cache_new(NULL, &pc), 0);
	pod_cache_set_synced(pc, true);
	static const struct {
		enum kube_watch_type type;
		const char *pod;
		int want;
		size_t size_after;
	} t[] = {
		{KUBE_WATCH_ADDED,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"p\",\"uid\":\"1\"},"
		 "\"spec\":{\"nodeName\":\"n\"}}",
		 0, 1},
		{KUBE_WATCH_MODIFIED,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"p\",\"uid\":\"1\","
		 "\"labels\":{\"x\":\"y\"}}}",
		 0, 1},
		{KUBE_WATCH_ADDED,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"q\",\"uid\":\"2\"}}", 0, 2},
		/* A DELETED of an older uid leaves the newer pod alone. */
		{KUBE_WATCH_DELETED,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"q\",\"uid\":\"0\"}}", 0, 2},
		{KUBE_WATCH_DELETED,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"q\",\"uid\":\"2\"}}", 0, 1},
		{KUBE_WATCH_ADDED, "{\"metadata\":{\"namespace\":\"a\",\"name\":\"r\"}}", -EBADMSG,
		 1},
		{KUBE_WATCH_ADDED, "{\"kind\":\"Pod\"}", -EBADMSG, 1},
		{KUBE_WATCH_BOOKMARK,
		 "{\"metadata\":{\"namespace\":\"a\",\"name\":\"b\",\"uid\":\"9\"}}", 0, 1},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *pod = json_loads(t[i].pod, 0, NULL);
		assert_non_null(pod);
		struct error err = {0};
		assert_int_equal(pod_cache_apply_event(pc, t[i].type, pod, &err), t[i].want);
		assert_int_equal(pod_cache_size(pc), t[i].size_after);
		json_decref(pod);
	}
	char *json = NULL;
	size_t len;
	assert_int_equal(pod_cache_lookup(pc, "a", "p", "1", 0, &json, &len), 0);
	/* The latest object, as encoded JSON. */
	json_t *back = json_loads(json, 0, NULL);
	assert_non_null(back);
	assert_string_equal(json_string_value(json_object_get(
				    json_object_get(json_object_get(back, "metadata"), "labels"),
				    "x")),
			    "y");
	json_decref(back);
	free(json);
	pod_cache_free(pc);
}

struct late_put {
	struct pod_cache *pc;
	unsigned delay_ms;
	const char *uid;
};

static void *late_put_main(void *arg)
{
	struct late_put *lp = arg;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)lp->delay_ms * 1000000L};
	(void)nanosleep(&ts, NULL);
	if (put_pod(lp->pc, "late", "pod", lp->uid) < 0)
		abort();
	return NULL;
}

/* A lookup waits for a pod that arrives within the wait; a later one is a miss. */
static void test_wait(void **state)
{
	static const struct {
		const char *existing_uid; /* NULL: none */
		unsigned put_after_ms;
		unsigned wait_ms;
		int want;
	} t[] = {
		{NULL, 30, 1000, 0},
		{"old", 30, 1000, 0}, /* replaced under the same name */
		{NULL, 400, 50, -ENOENT},
		{"old", 400, 50, -ESTALE},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pod_cache *pc;
		assert_int_equal(pod_cache_new(NULL, &pc), 0);
		pod_cache_set_synced(pc, true);
		if (t[i].existing_uid)
			put(pc, "late", "pod", t[i].existing_uid);
		struct late_put lp = {pc, t[i].put_after_ms, "new"};
		pthread_t th;
		assert_int_equal(pthread_create(&th, NULL, late_put_main, &lp), 0);
		char *json = NULL;
		size_t len;
		assert_int_equal(pod_cache_lookup(pc, "late", "pod", "new", t[i].wait_ms, &json,
						  &len),
				 t[i].want);
		if (t[i].want == 0)
			assert_non_null(strstr(json, "\"uid\":\"new\""));
		free(json);
		assert_int_equal(pthread_join(th, NULL), 0);
		pod_cache_free(pc);
	}
}

/*
 * A snapshot: every pod by reference, or -EAGAIN while unsynced. Its pods
 * stay as they were when the cache replaces, drops or frees them.
 */
static void test_snapshot(void **state)
{
	struct pod_cache *pc;
	assert_int_equal(pod_cache_new(NULL, &pc), 0);
	put(pc, "a", "p", "1");
	put(pc, "b", "q", "2");
	struct pod_snapshot snap = {0};
	assert_int_equal(pod_cache_snapshot(pc, &snap), -EAGAIN);
	assert_null(snap.pods);
	pod_cache_set_synced(pc, true);
	assert_int_equal(pod_cache_snapshot(pc, &snap), 0);
	assert_int_equal(snap.n, 2);
	/* Replaced (a new uid under the same name), then dropped, then the cache freed. */
	put(pc, "b", "q", "3");
	struct pod_snapshot later = {0};
	assert_int_equal(pod_cache_snapshot(pc, &later), 0);
	assert_int_equal(pod_cache_delete(pc, "a", "p", NULL), 0);
	pod_cache_free(pc);
	bool seen_p = false, seen_q = false;
	for (size_t i = 0; i < snap.n; i++) {
		seen_p |= strcmp(snap.pods[i]->name, "p") == 0 &&
			  strcmp(snap.pods[i]->uid, "1") == 0;
		seen_q |= strcmp(snap.pods[i]->name, "q") == 0 &&
			  strcmp(snap.pods[i]->uid, "2") == 0;
	}
	assert_true(seen_p && seen_q);
	bool seen_new_q = false;
	for (size_t i = 0; i < later.n; i++)
		seen_new_q |= strcmp(later.pods[i]->name, "q") == 0 &&
			      strcmp(later.pods[i]->uid, "3") == 0;
	assert_true(seen_new_q);
	pod_snapshot_release(&snap);
	assert_null(snap.pods);
	pod_snapshot_release(&snap); /* released twice: a no-op */
	pod_snapshot_release(&later);
}

/* The repair queue: FIFO of copies, a bounded wait, and close. */
static void test_queue(void **state)
{
	struct pod_queue *q;
	assert_int_equal(pod_queue_new(&q), 0);
	char ns[] = "a", n1[] = "p1", n2[] = "p2", uid[] = "u";
	struct pod_info p = {.namespace = ns, .name = n1, .uid = uid};
	assert_int_equal(pod_queue_push(q, KUBE_WATCH_ADDED, &p), 0);
	p.name = n2;
	assert_int_equal(pod_queue_push(q, KUBE_WATCH_DELETED, &p), 0);
	p.name = NULL; /* the queue holds its own copies */
	assert_int_equal(pod_queue_length(q), 2);
	enum kube_watch_type type;
	struct pod_info *got = NULL;
	assert_int_equal(pod_queue_pop(q, 0, &type, &got), 0);
	assert_int_equal(type, KUBE_WATCH_ADDED);
	assert_string_equal(got->name, "p1");
	pod_info_free(got);
	assert_int_equal(pod_queue_pop(q, 0, &type, &got), 0);
	assert_int_equal(type, KUBE_WATCH_DELETED);
	assert_string_equal(got->name, "p2");
	pod_info_free(got);
	assert_int_equal(pod_queue_pop(q, 20, &type, &got), -ETIMEDOUT);
	p.name = n1;
	assert_int_equal(pod_queue_push(q, KUBE_WATCH_ADDED, &p), 0);
	pod_queue_close(q);
	assert_int_equal(pod_queue_pop(q, 1000, &type, &got), -ECANCELED);
	assert_int_equal(pod_queue_push(q, KUBE_WATCH_ADDED, &p), -ECANCELED);
	pod_queue_free(q);
}

static void test_throttle(void **state)
{
	struct install_throttle t;
	agent_install_throttle_init(&t, 1000);
	/* One token, then waits capped at a second until the bucket refills. */
	assert_int_equal(install_throttle_take(&t, 1000), 0);
	assert_int_equal(install_throttle_take(&t, 1000), AGENT_THROTTLE_MAX_WAIT_MS);
	assert_int_equal(install_throttle_take(&t, 5500), 500);
	assert_int_equal(install_throttle_take(&t, 6000), 0);
	assert_int_equal(t.hits, 0);
	/* Proceeding after a wait counts hits, a free token resets them. */
	for (unsigned i = 1; i <= 7; i++)
		assert_int_equal(agent_install_throttle_force(&t, 6000 + i * 1000), i);
	assert_int_equal(install_throttle_take(&t, 13000), AGENT_THROTTLE_MAX_WAIT_MS);
	assert_int_equal(install_throttle_take(&t, 13000 + AGENT_THROTTLE_PERIOD_MS), 0);
	assert_int_equal(t.hits, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_map),   cmocka_unit_test(test_events),
		cmocka_unit_test(test_wait),  cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_queue), cmocka_unit_test(test_throttle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
