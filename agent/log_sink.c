// SPDX-License-Identifier: Apache-2.0
#include "log_sink.h"

#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "health_server.h"
#include "metrics.h"
#include "pod_cache.h"
#include "util/istio_names.h"
#include "util/log.h"
#include "util/parse_util.h"

struct log_sink {
	struct MHD_Daemon *daemon;
	char *path;
	struct pod_cache *pods;
	struct agent_metrics *metrics;
	atomic_size_t buffered;	     /* bytes all uploads hold, at most LOG_SINK_BUFFER_BUDGET */
	pthread_mutex_t decode_lock; /* one body decoded at a time */
	bool lock_ready;
};

/* Per-request state of a POST /log. */
struct upload {
	struct log_sink *ls;
	char *buf;
	size_t len;
	size_t cap; /* counted in ls->buffered */
	bool too_big;
	bool too_busy;
};

/* Takes n more bytes of the shared budget; false when it is spent. */
static bool budget_take(struct log_sink *ls, size_t n)
{
	size_t cur = atomic_load(&ls->buffered);
	do {
		if (cur + n > LOG_SINK_BUFFER_BUDGET)
			return false;
	} while (!atomic_compare_exchange_weak(&ls->buffered, &cur, cur + n));
	return true;
}

static void upload_free(struct upload *up)
{
	if (!up)
		return;
	atomic_fetch_sub(&up->ls->buffered, up->cap);
	free(up->buf);
	free(up);
}

/* Copies s into buf, escaping control characters so one line stays one line. */
static void copy_escaped(char *buf, size_t cap, const char *s, size_t n)
{
	size_t pos = 0;
	for (size_t i = 0; i < n && pos + 5 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < 0x20 || c == 0x7f) {
			int k = snprintf(buf + pos, cap - pos, "\\x%02x", c);
			pos += k > 0 ? (size_t)k : 0;
		} else {
			buf[pos++] = (char)c;
		}
	}
	buf[pos] = '\0';
}

static void copy_field(char *buf, size_t cap, json_t *v)
{
	const char *s = json_string_value(v);
	if (s)
		copy_escaped(buf, cap, s, json_string_length(v));
	else
		buf[0] = '\0';
}

static enum plugin_line_kind classify(const char *msg)
{
	if (strncmp(msg, "programmed traffic capture", 26) == 0)
		return PLUGIN_LINE_ADD_SUCCESS;
	if (strncmp(msg, "skipping pod", 12) == 0)
		return PLUGIN_LINE_ADD_SKIPPED;
	if (strncmp(msg, "ADD failed", 10) == 0)
		return PLUGIN_LINE_ADD_FAILURE;
	return PLUGIN_LINE_OTHER;
}

void log_sink_line_parse(const char *line, size_t len, struct plugin_line *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->level = LOG_LEVEL_INFO;
	ret->duration_s = -1;

	json_t *obj = len > 0 && line[0] == '{' ? json_loadb(line, len, 0, NULL) : NULL;
	if (!json_is_object(obj)) {
		json_decref(obj);
		copy_escaped(ret->msg, sizeof(ret->msg), line, len);
		ret->kind = classify(ret->msg);
		return;
	}
	enum log_level lvl;
	const char *level = json_string_value(json_object_get(obj, "level"));
	if (level && log_level_from_string(level, &lvl) >= 0 && lvl < LOG_LEVEL_NONE)
		ret->level = (int)lvl;
	copy_field(ret->msg, sizeof(ret->msg), json_object_get(obj, "msg"));
	copy_field(ret->pod, sizeof(ret->pod), json_object_get(obj, "pod"));
	copy_field(ret->container_id, sizeof(ret->container_id),
		   json_object_get(obj, "containerID"));
	json_t *d = json_object_get(obj, "duration_ms");
	if (json_is_number(d) && json_number_value(d) >= 0)
		ret->duration_s = json_number_value(d) / 1000.0;
	ret->kind = classify(ret->msg);
	json_decref(obj);
}

static void handle_line(struct agent_metrics *metrics, const char *line, size_t len)
{
	struct plugin_line *pl = malloc(sizeof(*pl));
	if (!pl)
		return;
	log_sink_line_parse(line, len, pl);
	agent_metrics_count_plugin_line(metrics);
	switch (pl->kind) {
	case PLUGIN_LINE_ADD_SUCCESS:
		agent_metrics_count_plugin_add(metrics, "success");
		break;
	case PLUGIN_LINE_ADD_SKIPPED:
		agent_metrics_count_plugin_add(metrics, "skipped");
		break;
	case PLUGIN_LINE_ADD_FAILURE:
		agent_metrics_count_plugin_add(metrics, "failure");
		break;
	case PLUGIN_LINE_OTHER:
		break;
	}
	if (pl->duration_s >= 0 && pl->kind != PLUGIN_LINE_OTHER)
		agent_metrics_observe_plugin_add(metrics, pl->duration_s);

	if (pl->pod[0] && pl->container_id[0])
		log_emit((enum log_level)pl->level, "plugin: %s pod=%s containerID=%s", pl->msg,
			 pl->pod, pl->container_id);
	else if (pl->pod[0])
		log_emit((enum log_level)pl->level, "plugin: %s pod=%s", pl->msg, pl->pod);
	else
		log_emit((enum log_level)pl->level, "plugin: %s", pl->msg);
	free(pl);
}

int log_sink_handle_body(struct agent_metrics *metrics, const char *body, size_t len,
			 struct error *err)
{
	json_error_t jerr;
	json_t *arr = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!arr)
		return error_set(err, ERR_DECODE, -EBADMSG, "log body: %s (line %d column %d)",
				 jerr.text, jerr.line, jerr.column);
	if (!json_is_array(arr)) {
		json_decref(arr);
		return error_set(err, ERR_DECODE, -EBADMSG, "log body is not a JSON array");
	}
	size_t n = 0, i;
	json_t *v;
	json_array_foreach (arr, i, v) {
		if (n == LOG_SINK_MAX_LINES)
			break;
		if (!json_is_string(v))
			continue;
		handle_line(metrics, json_string_value(v), json_string_length(v));
		n++;
	}
	json_decref(arr);
	return (int)n;
}

static enum MHD_Result reply_json_error(struct MHD_Connection *conn, unsigned status,
					const char *msg)
{
	_cleanup_free_ char *body = NULL;
	json_t *o = json_pack("{s:s}", "error", msg);
	if (o)
		body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!body)
		return MHD_NO;
	return http_reply(conn, status, "application/json", body, strlen(body));
}

static enum MHD_Result handle_pod(struct log_sink *ls, struct MHD_Connection *conn)
{
	const char *ns = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "namespace");
	const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name");
	const char *uid = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "uid");
	if (!ns || !*ns || !name || !*name)
		return reply_json_error(conn, MHD_HTTP_BAD_REQUEST,
					"namespace and name are required");
	if (!ls->pods) {
		agent_metrics_count_pod_lookup(ls->metrics, "unavailable");
		return reply_json_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "no pod cache");
	}
	_cleanup_free_ char *json = NULL;
	size_t len = 0;
	int r = pod_cache_lookup(ls->pods, ns, name, uid, POD_CACHE_LOOKUP_WAIT_MS, &json, &len);
	switch (r) {
	case 0:
		agent_metrics_count_pod_lookup(ls->metrics, "hit");
		return http_reply(conn, MHD_HTTP_OK, "application/json", json, len);
	case -ENOENT:
		agent_metrics_count_pod_lookup(ls->metrics, "miss");
		return reply_json_error(conn, MHD_HTTP_NOT_FOUND, "pod not in the cache");
	case -ESTALE:
		agent_metrics_count_pod_lookup(ls->metrics, "uid_mismatch");
		return reply_json_error(conn, MHD_HTTP_CONFLICT,
					"the cache holds another pod of that name");
	case -EAGAIN:
		agent_metrics_count_pod_lookup(ls->metrics, "unavailable");
		return reply_json_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "pod cache not synced");
	case -EINVAL:
		return reply_json_error(conn, MHD_HTTP_BAD_REQUEST, "bad namespace or name");
	default:
		return reply_json_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, strerror(-r));
	}
}

static enum MHD_Result handle_log(struct log_sink *ls, struct MHD_Connection *conn,
				  const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct upload *up = *con_cls;
	if (!up) {
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		uint64_t n;
		if (cl && parse_u64(cl, 0, LOG_SINK_MAX_BODY, &n) == -ERANGE)
			return reply_json_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
		up = calloc(1, sizeof(*up));
		if (!up)
			return MHD_NO;
		up->ls = ls;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (up->too_big || up->too_busy)
			return MHD_YES; /* the rest of a refused body is read and dropped */
		if (up->len + n > LOG_SINK_MAX_BODY) {
			up->too_big = true;
			return MHD_YES;
		}
		if (up->len + n + 1 > up->cap) {
			size_t cap = up->cap ? up->cap : 4096;
			while (cap < up->len + n + 1)
				cap *= 2;
			if (!budget_take(ls, cap - up->cap)) {
				up->too_busy = true;
				return MHD_YES;
			}
			char *b = realloc(up->buf, cap);
			if (!b) {
				atomic_fetch_sub(&ls->buffered, cap - up->cap);
				return MHD_NO;
			}
			up->buf = b;
			up->cap = cap;
		}
		memcpy(up->buf + up->len, upload_data, n);
		up->len += n;
		up->buf[up->len] = '\0';
		return MHD_YES;
	}
	if (up->too_big)
		return reply_json_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large");
	if (up->too_busy)
		return reply_json_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
					"too many log bodies at once");
	struct error err = {0};
	/* A decoded body takes several times its size; one at a time keeps the
	 * peak at one body's worth, whatever the number of plugins posting. */
	(void)pthread_mutex_lock(&ls->decode_lock);
	int r = log_sink_handle_body(ls->metrics, up->buf ? up->buf : "", up->len, &err);
	(void)pthread_mutex_unlock(&ls->decode_lock);
	if (r < 0) {
		log_warn("log socket: rejected a POST /log: %s", err.msg);
		return reply_json_error(conn, MHD_HTTP_BAD_REQUEST, err.msg);
	}
	return http_reply(conn, MHD_HTTP_OK, "application/json", "{}", 2);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct log_sink *ls = cls;
	if (strcmp(url, "/log") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return reply_json_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use POST");
		return handle_log(ls, conn, upload_data, upload_data_size, con_cls);
	}
	if (strcmp(url, "/pod") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return reply_json_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET");
		return handle_pod(ls, conn);
	}
	return reply_json_error(conn, MHD_HTTP_NOT_FOUND, "not found");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	upload_free(*con_cls);
	*con_cls = NULL;
}

/* A listening AF_UNIX socket at path, mode 0600, replacing a stale socket. */
static int unix_listen(const char *path, struct error *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return error_set(err, ERR_CONFIG, -ENAMETOOLONG, "socket path %s is too long",
				 path);
	memcpy(sa.sun_path, path, n + 1);

	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return error_set(err, ERR_IO, -EEXIST, "%s exists and is not a socket",
					 path);
		if (unlink(path) < 0 && errno != ENOENT)
			return error_set(err, ERR_IO, -errno, "cannot remove stale socket %s: %m",
					 path);
	}

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return error_set(err, ERR_IO, -errno, "cannot create a UNIX socket: %m");
	/* Created 0600 from the start; umask is process-wide, but no thread of
	 * ours creates files at this point. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	int e = errno;
	(void)umask(old);
	if (r < 0) {
		(void)close(fd);
		return error_set(err, ERR_IO, -e, "cannot bind %s: %s", path, strerror(e));
	}
	if (chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
		e = errno;
		(void)close(fd);
		(void)unlink(path);
		return error_set(err, ERR_IO, -e, "cannot listen on %s: %s", path, strerror(e));
	}
	return fd;
}

int log_sink_new(const struct log_sink_options *opts, struct log_sink **ret, struct error *err)
{
	_cleanup_(log_sink_freep) struct log_sink *ls = calloc(1, sizeof(*ls));
	if (!ls)
		return -ENOMEM;
	ls->pods = opts->pods;
	ls->metrics = opts->metrics;
	atomic_init(&ls->buffered, 0);
	int r = pthread_mutex_init(&ls->decode_lock, NULL);
	if (r != 0) {
		return -r;
	}
	ls->lock_ready = true;
	if (mkdir(opts->run_dir, 0755) < 0 && errno != EEXIST)
		return error_set(err, ERR_IO, -errno, "cannot create %s: %m", opts->run_dir);
	if (asprintf(&ls->path, "%s/%s", opts->run_dir, AGENT_LOG_SOCKET_NAME) < 0) {
		ls->path = NULL;
		return -ENOMEM;
	}
	int fd = unix_listen(ls->path, err);
	if (fd < 0)
		return error_prefix(err, fd, "log socket");
	static const struct http_limits limits = {
		.threads = LOG_SINK_THREADS,
		.connection_limit = LOG_SINK_MAX_CONNECTIONS,
		.timeout_s = 10,
	};
	r = health_server_daemon_start(fd, &limits, handle, ls, completed, &ls->daemon);
	if (r < 0) {
		(void)unlink(ls->path);
		return error_set(err, ERR_INTERNAL, r, "log socket %s: libmicrohttpd did not start",
				 ls->path);
	}
	*ret = TAKE_PTR(ls);
	return 0;
}

void log_sink_free(struct log_sink *ls)
{
	if (!ls)
		return;
	if (ls->daemon) {
		MHD_stop_daemon(ls->daemon);
		if (ls->path)
			(void)unlink(ls->path);
	}
	if (ls->lock_ready)
		(void)pthread_mutex_destroy(&ls->decode_lock);
	free(ls->path);
	free(ls);
}

const char *log_sink_path(const struct log_sink *ls)
{
	return ls->path;
}
