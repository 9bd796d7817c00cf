/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal HTTP/1.1 client over a UNIX socket, for the plugin's two calls to
 * the node agent (log lines, pod lookups). One request per connection
 * ("Connection: close"), a hard deadline over connect, send and receive, and
 * a cap on the response. The plugin must not load libcurl for these: they
 * sit on the path of every pod start.
 */
#ifndef ISTIO_CNI_UDS_HTTP_H
#define ISTIO_CNI_UDS_HTTP_H

#include <stddef.h>

#include "util/cleanup.h"

struct uds_http_response {
	int status; /* HTTP status code */
	char *body; /* NUL-terminated, caller frees */
	size_t body_len;
};

/*
 * Sends method target (with body when non-NULL, as application/json) to the
 * server on socket_path and reads the answer within timeout_ms. Returns 0 and
 * fills ret (any HTTP status), or -ETIMEDOUT, -ECONNREFUSED, -ENOENT, -EPROTO
 * (not HTTP), -EFBIG (response over max_response bytes), or another -errno.
 */
int uds_http_request(const char *socket_path, const char *method, const char *target,
		     const char *body, size_t body_len, int timeout_ms, size_t max_response,
		     struct uds_http_response *ret) _must_check_;

void uds_http_response_done(struct uds_http_response *r);

#endif
