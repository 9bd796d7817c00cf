// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness over what the API server sends back: the first two bytes
 * pick an HTTP status, the rest is both an error body (Status decoding) and
 * a watch stream (split at newlines, each line decoded as an event, ERROR
 * events turned into errors). Also escapes the input as a URL part.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	long code = 100 + (long)((data[0] << 8 | data[1]) % 500);
	const char *body = (const char *)data + 2;
	size_t len = size - 2;

	struct error err = {0};
	struct kube_status st = {0};
	if (kube_status_to_error(code, body, len, "GET /fuzz", &st, &err) >= 0)
		abort();
	if (strnlen(err.msg, sizeof(err.msg)) >= sizeof(err.msg) ||
	    strnlen(st.reason, sizeof(st.reason)) >= sizeof(st.reason))
		abort();

	const char *p = body, *end = body + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		json_t *ev = NULL;
		error_clear(&err);
		if (kube_watch_line_decode(p, n, &ev, &err) == 0) {
			struct kube_watch_event we;
			if (kube_watch_event_parse(ev, &we, &err) == 0 &&
			    we.type == KUBE_WATCH_ERROR) {
				struct kube_status ws = {0};
				if (kube_watch_error(we.object, &ws, &err) >= 0)
					abort();
			}
			json_decref(ev);
		}
		p = nl ? nl + 1 : end;
	}

	char *s = strndup(body, len);
	if (s) {
		char *e = NULL;
		if (kube_url_escape(s, &e) == 0) {
			for (const char *c = e; *c; c++)
				if (*c == '/' || *c == '?' || *c == '&' || *c == ' ')
					abort();
			free(e);
		}
		free(s);
	}
	return 0;
}
