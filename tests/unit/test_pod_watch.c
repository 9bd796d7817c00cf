// SPDX-License-Identifier: Apache-2.0
/*
 * pod_watch's pure parts: the deltas a relist and a watch event produce, and
 * the resourceVersion cursor.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "kube/pod_watch.h"

/* Pods are written "name:uid:rv" (namespace "default"). */
static json_t *pod(const char *spec)
{
	char name[64], uid[64], rv[64];
	assert_int_equal(sscanf(spec, "%63[^:]:%63[^:]:%63s", name, uid, rv), 3);
	json_t *p = json_pack("{s:{s:s,s:s,s:s,s:s}}", "metadata", "namespace", "default", "name",
			      name, "uid", uid, "resourceVersion", rv);
	assert_non_null(p);
	return p;
}

static json_t *items(const char *const *specs)
{
	json_t *a = json_array();
	for (size_t i = 0; specs[i]; i++)
		assert_int_equal(json_array_append_new(a, pod(specs[i])), 0);
	return a;
}

/* What emit saw, "A name:uid:rv", space separated. */
struct seen {
	char buf[1024];
	int stop_after; /* return 1 after this many events; 0: never */
	int n;
};

static int record_emit(void *ud, enum kube_watch_type type, json_t *p)
{
	struct seen *s = ud;
	static const char t[] = {
		[KUBE_WATCH_ADDED] = 'A', [KUBE_WATCH_MODIFIED] = 'M', [KUBE_WATCH_DELETED] = 'D'};
	json_t *m = json_object_get(p, "metadata");
	size_t l = strlen(s->buf);
	(void)snprintf(s->buf + l, sizeof(s->buf) - l, "%s%c %s:%s:%s", l ? " " : "", t[type],
		       json_string_value(json_object_get(m, "name")),
		       json_string_value(json_object_get(m, "uid")),
		       json_string_value(json_object_get(m, "resourceVersion")));
	s->n++;
	return s->stop_after && s->n >= s->stop_after ? 1 : 0;
}

#define MAXP 8

static void test_relist_deltas(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		const char *desc;
		const char *before[MAXP];	/* first list */
		const char *after[MAXP];	/* second list */
		const char *want;		/* deltas of the second list */
		size_t size;
	} t[] = {
		{"first list from empty", {NULL}, {"a:1:5", "b:2:6", NULL}, "A a:1:5 A b:2:6", 2},
		{"nothing changed", {"a:1:5", "b:2:6", NULL}, {"a:1:5", "b:2:6", NULL}, "", 2},
		{"one modified", {"a:1:5", "b:2:6", NULL}, {"a:1:5", "b:2:9", NULL}, "M b:2:9", 2},
		{"one vanished", {"a:1:5", "b:2:6", NULL}, {"b:2:6", NULL}, "D a:1:5", 1},
		{"all vanished", {"a:1:5", "b:2:6", NULL}, {NULL}, "D a:1:5 D b:2:6", 0},
		{"replaced under the same name", {"a:1:5", NULL}, {"a:7:8", NULL},
		 "D a:1:5 A a:7:8", 1},
		{"added, modified, deleted together", {"a:1:5", "b:2:6", "c:3:7", NULL},
		 {"a:1:5", "c:3:9", "d:4:10", NULL}, "M c:3:9 A d:4:10 D b:2:6", 3},
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_(pod_store_freep) struct pod_store *s = NULL;
		assert_int_equal(pod_store_new(&s), 0);
		struct seen first = {0}, second = {0};
		struct error err = {0};
		json_auto_t *b = items(t[i].before);
		json_auto_t *a = items(t[i].after);
		assert_true(pod_store_relist(s, b, record_emit, &first, &err) >= 0);
		int r = pod_store_relist(s, a, record_emit, &second, &err);
		if (strcmp(second.buf, t[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", t[i].desc, second.buf, t[i].want);
		assert_int_equal(r, second.n);
		assert_int_equal(pod_store_size(s), t[i].size);
	}
}

static void test_relist_paged_and_restarted(void **state)
{
	(void)state;
	_cleanup_(pod_store_freep) struct pod_store *s = NULL;
	assert_int_equal(pod_store_new(&s), 0);
	struct seen e = {0};
	struct error err = {0};
	json_auto_t *p1 = items((const char *[]){"a:1:5", "b:2:6", NULL});
	json_auto_t *p2 = items((const char *[]){"c:3:7", NULL});
	assert_true(pod_store_relist(s, p1, record_emit, &e, &err) >= 0);

	/* A relist that fails after its first page, then starts again. */
	e = (struct seen){0};
	pod_store_relist_begin(s);
	json_auto_t *p1b = items((const char *[]){"a:1:5", "b:2:8", NULL});
	assert_int_equal(pod_store_relist_page(s, p1b, record_emit, &e, &err), 1);
	pod_store_relist_begin(s);
	assert_int_equal(pod_store_relist_page(s, p1b, record_emit, &e, &err), 0);
	assert_int_equal(pod_store_relist_page(s, p2, record_emit, &e, &err), 1);
	assert_int_equal(pod_store_relist_end(s, record_emit, &e, &err), 0);
	assert_string_equal(e.buf, "M b:2:8 A c:3:7");
	assert_int_equal(pod_store_size(s), 3);

	const char *uid, *rv;
	assert_int_equal(pod_store_lookup(s, "default", "b", &uid, &rv), 0);
	assert_string_equal(uid, "2");
	assert_string_equal(rv, "8");
	assert_int_equal(pod_store_lookup(s, "default", "zz", &uid, &rv), -ENOENT);
	assert_int_equal(pod_store_lookup(s, "other", "a", &uid, &rv), -ENOENT);
}

static void test_watch_events(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		const char *desc;
		const char *known[MAXP];	/* listed first */
		struct { enum kube_watch_type type; const char *pod; } ev[MAXP];
		size_t n_ev;
		const char *want;
		size_t size;
	} t[] = {
		{"added", {NULL}, {{KUBE_WATCH_ADDED, "a:1:5"}}, 1, "A a:1:5", 1},
		{"replayed ADDED after a resume", {"a:1:5", NULL},
		 {{KUBE_WATCH_ADDED, "a:1:5"}}, 1, "", 1},
		{"replayed MODIFIED", {NULL},
		 {{KUBE_WATCH_ADDED, "a:1:5"}, {KUBE_WATCH_MODIFIED, "a:1:6"},
		  {KUBE_WATCH_MODIFIED, "a:1:6"}}, 3, "A a:1:5 M a:1:6", 1},
		{"MODIFIED of an unknown pod is ADDED", {NULL},
		 {{KUBE_WATCH_MODIFIED, "a:1:5"}}, 1, "A a:1:5", 1},
		{"ADDED of a known pod with a new rv is MODIFIED", {"a:1:5", NULL},
		 {{KUBE_WATCH_ADDED, "a:1:9"}}, 1, "M a:1:9", 1},
		{"deleted, and the replay of the delete", {"a:1:5", NULL},
		 {{KUBE_WATCH_DELETED, "a:1:6"}, {KUBE_WATCH_DELETED, "a:1:6"}}, 2, "D a:1:6", 0},
		{"DELETED of an unknown pod", {NULL}, {{KUBE_WATCH_DELETED, "a:1:6"}}, 1, "", 0},
		{"replaced: the new one arrives before the old one's DELETED", {"a:1:5", NULL},
		 {{KUBE_WATCH_ADDED, "a:2:7"}, {KUBE_WATCH_DELETED, "a:1:6"}}, 2,
		 "D a:1:5 A a:2:7", 1},
		{"bookmarks and errors emit nothing", {"a:1:5", NULL},
		 {{KUBE_WATCH_BOOKMARK, "a:1:9"}, {KUBE_WATCH_ERROR, "a:1:9"}}, 2, "", 1},
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_(pod_store_freep) struct pod_store *s = NULL;
		assert_int_equal(pod_store_new(&s), 0);
		struct seen e = {0};
		struct error err = {0};
		json_auto_t *k = items(t[i].known);
		assert_true(pod_store_relist(s, k, record_emit, &e, &err) >= 0);
		e = (struct seen){0};
		for (size_t j = 0; j < t[i].n_ev; j++) {
			json_auto_t *p = pod(t[i].ev[j].pod);
			assert_true(pod_store_apply(s, t[i].ev[j].type, p, record_emit, &e, &err) >=
				    0);
		}
		if (strcmp(e.buf, t[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", t[i].desc, e.buf, t[i].want);
		assert_int_equal(pod_store_size(s), t[i].size);
	}
}

static void test_bad_pods_and_stop(void **state)
{
	(void)state;
	_cleanup_(pod_store_freep) struct pod_store *s = NULL;
	assert_int_equal(pod_store_new(&s), 0);
	struct seen e = {0};
	struct error err = {0};
	json_auto_t *noname = json_pack("{s:{s:s}}", "metadata", "namespace", "x");
	assert_int_equal(pod_store_apply(s, KUBE_WATCH_ADDED, noname, record_emit, &e, &err),
			 -EBADMSG);
	assert_int_equal(err.kind, ERR_DECODE);
	json_auto_t *notarray = json_object();
	assert_int_equal(pod_store_relist(s, notarray, record_emit, &e, &err), -EBADMSG);

	/* The consumer's stop request comes back as is. */
	e = (struct seen){.stop_after = 2};
	json_auto_t *l = items((const char *[]){"a:1:1", "b:2:2", "c:3:3", NULL});
	assert_int_equal(pod_store_relist(s, l, record_emit, &e, &err), 1);
	assert_int_equal(e.n, 2);
}

static void test_many_pods(void **state)
{
	/* Enough to make the table grow several times. */
	(void)state;
	_cleanup_(pod_store_freep) struct pod_store *s = NULL;
	assert_int_equal(pod_store_new(&s), 0);
	json_auto_t *a = json_array();
	for (int i = 0; i < 5000; i++) {
		char spec[64];
		(void)snprintf(spec, sizeof(spec), "p%d:u%d:%d", i, i, i + 1);
		assert_int_equal(json_array_append_new(a, pod(spec)), 0);
	}
	struct seen e = {0};
	struct error err = {0};
	e.buf[0] = '\0';
	/* record_emit would overflow its buffer silently; count only. */
	assert_int_equal(pod_store_relist(s, a, record_emit, &e, &err), 5000);
	assert_int_equal(pod_store_size(s), 5000);
	e = (struct seen){0};
	assert_int_equal(pod_store_relist(s, a, record_emit, &e, &err), 0);
	json_auto_t *empty = json_array();
	e = (struct seen){0};
	assert_int_equal(pod_store_relist(s, empty, record_emit, &e, &err), 5000);
	assert_int_equal(pod_store_size(s), 0);
}

static void test_cursor(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		const char *rv;
		int moved;
		const char *want;
	} t[] = {
		{"100", 1, "100"},
		{"100", 0, "100"},	/* same */
		{NULL, 0, "100"},	/* an event without one */
		{"", 0, "100"},
		{"1000000000000000000000000000000000000000000000000000000000000000000", 0, "100"},
		{"101", 1, "101"},	/* a bookmark */
	};
	/* clang-format on */
	struct pod_watch_cursor c = {{0}};
	assert_string_equal(c.resource_version, "");
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		assert_int_equal(pod_watch_cursor_advance(&c, t[i].rv), t[i].moved);
		assert_string_equal(c.resource_version, t[i].want);
	}
	pod_watch_cursor_reset(&c);
	assert_string_equal(c.resource_version, "");
}

static void test_timeout_pick(void **state)
{
	(void)state;
	/* clang-format off */
	static const struct {
		unsigned min, max;
		unsigned want_lo, want_hi; /* the draws cover at least [lo, hi] */
	} t[] = {
		{POD_WATCH_TIMEOUT_MIN_SECONDS, POD_WATCH_TIMEOUT_MAX_SECONDS, 310, 589},
		{1, 2, 1, 1},
		{5, 5, 5, 5},		/* empty range: min */
		{10, 3, 10, 10},	/* reversed: min */
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		for (uint32_t seed0 = 0; seed0 < 3; seed0++) {
			uint32_t seed = seed0;
			unsigned lo = UINT32_MAX, hi = 0;
			for (int n = 0; n < 5000; n++) {
				unsigned v = pod_watch_timeout_pick(&seed, t[i].min, t[i].max);
				assert_true(v >= t[i].min);
				assert_true(t[i].max <= t[i].min ? v == t[i].min : v < t[i].max);
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
			assert_true(lo <= t[i].want_lo);
			assert_true(hi >= t[i].want_hi);
		}
	}
	/* The defaults: client-go's window, and the client's guard above it. */
	assert_int_equal(POD_WATCH_TIMEOUT_MIN_SECONDS, 300);
	assert_int_equal(POD_WATCH_TIMEOUT_MAX_SECONDS, 600);
	assert_true(POD_WATCH_TIMEOUT_SLACK_SECONDS > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relist_deltas),
		cmocka_unit_test(test_relist_paged_and_restarted),
		cmocka_unit_test(test_watch_events),
		cmocka_unit_test(test_bad_pods_and_stop),
		cmocka_unit_test(test_many_pods),
		cmocka_unit_test(test_cursor),
		cmocka_unit_test(test_timeout_pick),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
