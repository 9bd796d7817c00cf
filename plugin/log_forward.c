// SPDX-License-Identifier: Apache-2.0
#include "log_forward.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "uds_http.h"
#include "util/log.h"

/* Bound what one plugin run can hold in memory for the agent. */
#define LOG_FORWARD_MAX_BYTES ((size_t)256 * 1024)

static void collect(const char *line, size_t len, void *userdata)
{
	struct log_forward *fwd = userdata;
	if (!fwd->lines || fwd->bytes + len > LOG_FORWARD_MAX_BYTES)
		return;
	json_t *s = json_stringn(line, len);
	if (s && json_array_append_new(fwd->lines, s) == 0)
		fwd->bytes += len;
}

void log_forward_start(struct log_forward *fwd)
{
	fwd->lines = json_array();
	fwd->bytes = 0;
	if (fwd->lines)
		log_set_sink(collect, fwd);
}

static int post(const char *socket_path, const char *body, size_t body_len, int timeout_ms)
{
	struct uds_http_response resp = {0};
	int r = uds_http_request(socket_path, "POST", "/log", body, body_len, timeout_ms, 4096,
				 &resp);
	if (r < 0)
		return r;
	int status = resp.status;
	uds_http_response_done(&resp);
	return status / 100 == 2 ? 0 : -EREMOTEIO;
}

int log_forward_flush(struct log_forward *fwd, const char *socket_path, int timeout_ms)
{
	log_set_sink(NULL, NULL);
	json_t *lines = fwd->lines;
	fwd->lines = NULL;
	if (!lines)
		return 0;

	int r = 0;
	struct stat st;
	if (json_array_size(lines) > 0 && socket_path && stat(socket_path, &st) == 0 &&
	    S_ISSOCK(st.st_mode)) {
		char *body = json_dumps(lines, JSON_COMPACT);
		if (!body)
			r = -ENOMEM;
		else
			r = post(socket_path, body, strlen(body), timeout_ms);
		free(body);
	}
	json_decref(lines);
	return r;
}
