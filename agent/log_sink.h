/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's UNIX-socket HTTP server at <CNI_AGENT_RUN_DIR>/log.sock
 * (where the plugin sends its logs and asks for pods), over libmicrohttpd:
 *
 *   POST /log   body: a JSON array of strings, the plugin's log lines (its
 *               JSON lines: time, level, scope, msg, pod, containerID). Each
 *               is logged again through our logger at its own level with
 *               its pod, and counted into the metrics. 200 when the body
 *               decodes, 400 when not, 413 over LOG_SINK_MAX_BODY,
 *               503 while other bodies fill LOG_SINK_BUFFER_BUDGET.
 *   GET  /pod?namespace=NS&name=NAME[&uid=UID]
 *               the Pod JSON from the pod cache: 200; 404 unknown after
 *               waiting POD_CACHE_LOOKUP_WAIT_MS; 409 the cache holds
 *               another uid; 503 no cache or not synced.
 *
 * The socket is created by us (mode 0600: the plugin runs as root) and
 * handed to libmicrohttpd; a stale socket file left by a previous agent is
 * replaced. The server runs a small thread pool, so a /pod lookup waiting
 * for the watch does not hold up log lines.
 */
#ifndef ISTIO_CNI_AGENT_LOG_SINK_H
#define ISTIO_CNI_AGENT_LOG_SINK_H

#include <stddef.h>

#include "util/cleanup.h"
#include "util/error.h"

/*
 * Largest POST /log body: the plugin sends at most 256 KiB of lines, which
 * JSON escaping makes at most ~1.3 times as long. A longer Content-Length is
 * refused (413) before any of the body is read.
 */
#define LOG_SINK_MAX_BODY ((size_t)384 * 1024)
/* Bytes all bodies being received may hold at once; past it, 503. */
#define LOG_SINK_BUFFER_BUDGET ((size_t)4 * 1024 * 1024)
/* Most lines taken from one body, and the longest line re-logged whole. */
#define LOG_SINK_MAX_LINES 2048
#define LOG_SINK_MAX_LINE 4096
#define LOG_SINK_THREADS 4
/* Connections open at once (each may buffer up to LOG_SINK_MAX_BODY). */
#define LOG_SINK_MAX_CONNECTIONS 128

struct agent_metrics;
struct pod_cache;
struct log_sink;

struct log_sink_options {
	const char *run_dir;	/* the socket is <run_dir>/log.sock; created 0755 if missing */
	struct pod_cache *pods; /* NULL: GET /pod answers 503 */
	struct agent_metrics *metrics; /* may be NULL */
};

int log_sink_new(const struct log_sink_options *opts, struct log_sink **ret, struct error *err)
	_must_check_;
/* Stops the server and removes the socket file. */
void log_sink_free(struct log_sink *ls);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct log_sink *, log_sink_free);

const char *log_sink_path(const struct log_sink *ls);

/* --- Pure parts, public for the tests. --- */

/* What one plugin line said, for the metrics. */
enum plugin_line_kind {
	PLUGIN_LINE_OTHER,
	PLUGIN_LINE_ADD_SUCCESS, /* "programmed traffic capture ..." */
	PLUGIN_LINE_ADD_SKIPPED, /* "skipping pod: ..." */
	PLUGIN_LINE_ADD_FAILURE, /* "ADD failed: ..." */
};

struct plugin_line {
	enum plugin_line_kind kind;
	int level;		     /* enum log_level */
	char msg[LOG_SINK_MAX_LINE]; /* control characters escaped */
	char pod[512];		     /* "ns/name" or "" */
	char container_id[128];
	double duration_s; /* from "duration_ms"; < 0 when absent */
};

/* Decodes one line (a JSON object, or plain text taken as an info message). */
void log_sink_line_parse(const char *line, size_t len, struct plugin_line *ret);

/*
 * Handles a POST /log body: logs and counts every line. Returns the number of
 * lines, -EBADMSG (ERR_DECODE) when the body is not a JSON array of strings.
 */
int log_sink_handle_body(struct agent_metrics *metrics, const char *body, size_t len,
			 struct error *err) _must_check_;

#endif
