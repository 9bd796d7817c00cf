// SPDX-License-Identifier: Apache-2.0
/* The retry schedule and the retry-or-fail classification of the plugin's pod GET. */
#include <curl/curl.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "kube/kube_retry.h"

/* Replays a schedule with every attempt taking cost_ms; returns the waits. */
static size_t run(struct kube_backoff *b, uint64_t start, uint64_t cost_ms, uint64_t retry_after,
		  uint64_t *waits, size_t max)
{
	uint64_t now = start;
	size_t n = 0;
	for (;;) {
		now += cost_ms;
		uint64_t w = 12345;
		int r = kube_backoff_next(b, now, retry_after, &w);
		if (r < 0) {
			assert_int_equal(r, -ETIMEDOUT);
			assert_int_equal(w, 12345);
			return n;
		}
		assert_true(n < max);
		waits[n++] = w;
		now += w;
	}
}

static void test_schedule(void **state)
{
	/* clang-format off */
	static const struct {
		uint64_t timeout, initial, max, cost, retry_after;
		size_t n;
		uint64_t waits[40];
	} t[] = {
		/* The default: 100 ms doubling to 1 s within 30 s. */
		{30000, 0, 0, 0, 0, 33,
		 {100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
		  1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000,
		  1000, 1000, 1000, 1000, 1000, 500}},
		/* The last wait is cut so one attempt lands on the deadline. */
		{1000, 0, 0, 0, 0, 4, {100, 200, 400, 300}},
		/* Attempts that cost time leave fewer waits. */
		{2000, 0, 0, 250, 0, 4, {100, 200, 400, 300}},
		/* Custom start and cap; a start above the cap is clamped. */
		{5000, 50, 300, 0, 0, 19,
		 {50, 100, 200, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300, 300,
		  300, 300, 150}},
		{700, 5000, 300, 0, 0, 3, {300, 300, 100}},
		/* Retry-After raises the waits but never past the deadline. */
		{10000, 0, 0, 0, 2000, 4, {2000, 2000, 2000, 2000}},
		{10000, 0, 0, 0, 150, 13,
		 {150, 200, 400, 800, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 450}},
		{3000, 0, 0, 0, 5000, 0, {0}},
		/* No time at all. */
		{0, 0, 0, 0, 0, 0, {0}},
	};
	/* clang-format on */
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		struct kube_backoff b;
		kube_backoff_init(&b, 1000000, t[i].timeout, t[i].initial, t[i].max, false, 1);
		uint64_t waits[64];
		size_t n = run(&b, 1000000, t[i].cost, t[i].retry_after, waits, ELEMENTSOF(waits));
		if (n != t[i].n)
			fail_msg("case %zu: %zu waits, want %zu", i, n, t[i].n);
		for (size_t j = 0; j < n; j++)
			if (waits[j] != t[i].waits[j])
				fail_msg("case %zu wait %zu: %llu want %llu", i, j,
					 (unsigned long long)waits[j],
					 (unsigned long long)t[i].waits[j]);
		assert_int_equal(b.attempts, n);
	}
}

static void test_jitter(void **state)
{
	/* Jitter stays within +20%, varies, and is reproducible for a seed. */
	uint64_t a[64], c[64];
	struct kube_backoff b;
	kube_backoff_init(&b, 0, 60000, 0, 0, true, 42);
	size_t n = run(&b, 0, 0, 0, a, ELEMENTSOF(a));
	kube_backoff_init(&b, 0, 60000, 0, 0, true, 42);
	assert_int_equal(run(&b, 0, 0, 0, c, ELEMENTSOF(c)), n);
	assert_memory_equal(a, c, n * sizeof(a[0]));

	uint64_t base = 100;
	bool varied = false;
	for (size_t j = 0; j + 1 < n; j++) {
		assert_true(a[j] >= base);
		assert_true(a[j] <= base + base / 5);
		if (a[j] != base)
			varied = true;
		base = base * 2 > 1000 ? 1000 : base * 2;
	}
	assert_true(varied);

	kube_backoff_init(&b, 0, 60000, 0, 0, true, 0); /* seed 0 is replaced */
	uint64_t w;
	assert_int_equal(kube_backoff_next(&b, 0, 0, &w), 0);
}

static void test_overflow(void **state)
{
	struct kube_backoff b;
	kube_backoff_init(&b, UINT64_MAX - 10, UINT64_MAX, 0, 0, false, 1);
	assert_int_equal(b.deadline_ms, UINT64_MAX);
	uint64_t w;
	assert_int_equal(kube_backoff_next(&b, UINT64_MAX - 10, 0, &w), 0);
	assert_int_equal(w, 10);
}

static void test_classify(void **state)
{
	static const struct {
		int curl;
		long http;
		unsigned flags;
		enum kube_retry_verdict v;
	} t[] = {
		{CURLE_OK, 200, 0, KUBE_RETRY_DONE},
		{CURLE_OK, 201, 0, KUBE_RETRY_DONE},
		{CURLE_OK, 204, 0, KUBE_RETRY_DONE},
		{CURLE_OK, 400, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 401, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 403, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 404, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 404, KUBE_RETRY_NOT_FOUND, KUBE_RETRY_AGAIN},
		{CURLE_OK, 403, KUBE_RETRY_NOT_FOUND, KUBE_RETRY_FAIL},
		{CURLE_OK, 408, 0, KUBE_RETRY_AGAIN},
		{CURLE_OK, 409, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 410, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 422, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 429, 0, KUBE_RETRY_AGAIN},
		{CURLE_OK, 500, 0, KUBE_RETRY_AGAIN},
		{CURLE_OK, 501, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 502, 0, KUBE_RETRY_AGAIN},
		{CURLE_OK, 503, 0, KUBE_RETRY_AGAIN},
		{CURLE_OK, 504, 0, KUBE_RETRY_AGAIN},
		{CURLE_OK, 505, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 302, 0, KUBE_RETRY_FAIL},
		{CURLE_OK, 0, 0, KUBE_RETRY_FAIL},
		{CURLE_COULDNT_CONNECT, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_COULDNT_RESOLVE_HOST, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_OPERATION_TIMEDOUT, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_RECV_ERROR, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_SEND_ERROR, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_GOT_NOTHING, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_PARTIAL_FILE, 200, 0, KUBE_RETRY_AGAIN},
		{CURLE_SSL_CONNECT_ERROR, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_HTTP2_STREAM, 0, 0, KUBE_RETRY_AGAIN},
		{CURLE_PEER_FAILED_VERIFICATION, 0, 0, KUBE_RETRY_FAIL},
		{CURLE_SSL_CACERT_BADFILE, 0, 0, KUBE_RETRY_FAIL},
		{CURLE_SSL_CERTPROBLEM, 0, 0, KUBE_RETRY_FAIL},
		{CURLE_URL_MALFORMAT, 0, 0, KUBE_RETRY_FAIL},
		{CURLE_WRITE_ERROR, 200, 0, KUBE_RETRY_FAIL},
		{CURLE_FILESIZE_EXCEEDED, 200, 0, KUBE_RETRY_FAIL},
		{CURLE_OUT_OF_MEMORY, 0, 0, KUBE_RETRY_FAIL},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++)
		if (kube_retry_classify(t[i].curl, t[i].http, t[i].flags) != t[i].v)
			fail_msg("case %zu (curl %d, http %ld): wrong verdict", i, t[i].curl,
				 t[i].http);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_jitter),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
