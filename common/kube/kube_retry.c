// SPDX-License-Identifier: Apache-2.0
#include "kube/kube_retry.h"

#include <curl/curl.h> /* CURLE_* constants only; nothing here calls libcurl */
#include <errno.h>

void kube_backoff_init(struct kube_backoff *b, uint64_t now_ms, uint64_t timeout_ms,
		       uint64_t initial_ms, uint64_t max_ms, bool jitter, uint32_t seed)
{
	b->deadline_ms = now_ms + timeout_ms < now_ms ? UINT64_MAX : now_ms + timeout_ms;
	b->max_ms = max_ms ? max_ms : KUBE_BACKOFF_MAX_MS;
	b->next_ms = initial_ms ? initial_ms : KUBE_BACKOFF_INITIAL_MS;
	if (b->next_ms > b->max_ms)
		b->next_ms = b->max_ms;
	b->attempts = 0;
	b->jitter = jitter;
	b->rng = seed ? seed : 0x9e3779b9u;
}

static uint32_t xorshift32(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x;
	return x;
}

int kube_backoff_next(struct kube_backoff *b, uint64_t now_ms, uint64_t retry_after_ms,
		      uint64_t *ret_wait_ms)
{
	if (now_ms >= b->deadline_ms)
		return -ETIMEDOUT;
	uint64_t left = b->deadline_ms - now_ms;

	uint64_t wait = b->next_ms;
	if (b->jitter && wait >= 5)
		wait += xorshift32(&b->rng) % (wait / 5 + 1);
	b->next_ms = b->next_ms > b->max_ms / 2 ? b->max_ms : b->next_ms * 2;

	if (retry_after_ms > wait) {
		/* The server asked for more than our schedule: obey or give up. */
		if (retry_after_ms >= left)
			return -ETIMEDOUT;
		wait = retry_after_ms;
	}
	if (wait > left)
		wait = left;
	b->attempts++;
	*ret_wait_ms = wait;
	return 0;
}

static bool curl_transient(int code)
{
	switch (code) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_AGAIN:
		return true;
	default:
		/* PEER_FAILED_VERIFICATION, SSL_CACERT_BADFILE, SSL_CERTPROBLEM,
		 * URL_MALFORMAT, WRITE_ERROR (size cap), FILESIZE_EXCEEDED,
		 * OUT_OF_MEMORY, ...: repeating the request cannot help. */
		return false;
	}
}

enum kube_retry_verdict kube_retry_classify(int curl_code, long http_status, unsigned flags)
{
	if (curl_code != CURLE_OK)
		return curl_transient(curl_code) ? KUBE_RETRY_AGAIN : KUBE_RETRY_FAIL;
	if (http_status >= 200 && http_status < 300)
		return KUBE_RETRY_DONE;
	if (http_status == 404)
		return (flags & KUBE_RETRY_NOT_FOUND) ? KUBE_RETRY_AGAIN : KUBE_RETRY_FAIL;
	if (http_status == 408 || http_status == 429)
		return KUBE_RETRY_AGAIN;
	if (http_status >= 500 && http_status < 600 && http_status != 501 && http_status != 505)
		return KUBE_RETRY_AGAIN;
	return KUBE_RETRY_FAIL;
}
