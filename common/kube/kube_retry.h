/* SPDX-License-Identifier: Apache-2.0 */
/*
 * When to try a Kubernetes request again, and how long to wait: the pure half
 * of the plugin's pod GET (no clock, no sleep, no I/O; the caller passes "now").
 *
 * The schedule starts at 100 ms and doubles up to 1 s per wait, optionally
 * with up to +20% jitter, and never plans an attempt past the deadline: the
 * last wait is shortened so one attempt lands on the deadline, after which
 * kube_backoff_next() says -ETIMEDOUT and the caller fails closed with the
 * last error. A server's Retry-After is honoured as a lower bound; when it
 * points past the deadline there is no point waiting and -ETIMEDOUT comes at
 * once.
 */
#ifndef ISTIO_CNI_KUBE_RETRY_H
#define ISTIO_CNI_KUBE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"

#define KUBE_BACKOFF_INITIAL_MS 100
#define KUBE_BACKOFF_MAX_MS 1000
#define KUBE_BACKOFF_DEADLINE_MS 30000

struct kube_backoff {
	uint64_t deadline_ms; /* absolute, same clock as now_ms */
	uint64_t next_ms;     /* the next un-jittered wait */
	uint64_t max_ms;
	unsigned attempts; /* waits handed out so far */
	bool jitter;
	uint32_t rng; /* xorshift32 state, never 0 */
};

/*
 * Starts a schedule at now_ms lasting timeout_ms. initial_ms and max_ms of 0
 * mean the defaults above. seed feeds the jitter (pass something varying,
 * such as the pid mixed with the time, so nodes do not retry in lockstep).
 */
void kube_backoff_init(struct kube_backoff *b, uint64_t now_ms, uint64_t timeout_ms,
		       uint64_t initial_ms, uint64_t max_ms, bool jitter, uint32_t seed);

/*
 * The wait before the next attempt, given the server's Retry-After (0 when
 * none). Returns 0 and sets *ret_wait_ms, or -ETIMEDOUT when no attempt fits
 * before the deadline (nothing written).
 */
int kube_backoff_next(struct kube_backoff *b, uint64_t now_ms, uint64_t retry_after_ms,
		      uint64_t *ret_wait_ms) _must_check_;

enum kube_retry_verdict {
	KUBE_RETRY_DONE,  /* success: 2xx */
	KUBE_RETRY_AGAIN, /* transient: wait and try again */
	KUBE_RETRY_FAIL,  /* permanent: report now */
};

/* Flags for kube_retry_classify(). */
enum {
	/* A 404 may only mean "not yet": the pod is fresh and the API server we
	 * reached lags behind the one that created it. */
	KUBE_RETRY_NOT_FOUND = 1 << 0,
};

/*
 * Classifies one attempt. curl_code is the CURLcode of the transfer (0 when
 * it completed); http_status the response code (0 when there was none).
 *   transport: connect/resolve failures, timeouts, resets, empty replies,
 *     TLS handshake aborts and HTTP/2 stream errors are transient; TLS
 *     verification failures, bad URLs, oversized answers (our write callback
 *     refused) and out-of-memory are not.
 *   HTTP: 2xx done; 408, 429 and 5xx other than 501 and 505 transient; 404
 *     transient only with KUBE_RETRY_NOT_FOUND; everything else (400, 401,
 *     403, 409, 410, 422, ...) fails now.
 */
enum kube_retry_verdict kube_retry_classify(int curl_code, long http_status, unsigned flags);

#endif
