// SPDX-License-Identifier: Apache-2.0
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 4096
#define LOG_FIELDS_MAX 4
#define LOG_FIELD_MAX 256

/* Process-wide logging configuration, set by main() before any work. */
static struct {
	char scope[64];
	enum log_level level;
	bool json;
	log_sink_cb sink;
	void *sink_userdata;
	char keys[LOG_FIELDS_MAX][32];
	char values[LOG_FIELDS_MAX][LOG_FIELD_MAX];
	bool numeric[LOG_FIELDS_MAX]; /* JSON number rather than string */
	size_t n_fields;
} log_cfg = {
	.scope = "istio-cni",
	.level = LOG_LEVEL_INFO,
};

static const char *const level_names[_LOG_LEVEL_MAX] = {
	[LOG_LEVEL_DEBUG] = "debug", [LOG_LEVEL_INFO] = "info", [LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_NONE] = "none",
};

void log_setup(const char *scope, enum log_level level, bool json)
{
	(void)snprintf(log_cfg.scope, sizeof(log_cfg.scope), "%s", scope ? scope : "");
	log_cfg.level = level;
	log_cfg.json = json;
}

void log_set_level(enum log_level level)
{
	log_cfg.level = level;
}

enum log_level log_get_level(void)
{
	return log_cfg.level;
}

void log_set_json(bool json)
{
	log_cfg.json = json;
}

static void set_field(const char *key, const char *value, bool numeric);

void log_set_field(const char *key, const char *value)
{
	set_field(key, value, false);
}

/* Integers only: printf's floating-point conversion is pages of code that the
 * plugin, which sets duration_ms on every request, would touch for it. */
void log_set_field_milli(const char *key, int64_t thousandths)
{
	char buf[32];
	uint64_t magnitude = thousandths < 0 ? 0 - (uint64_t)thousandths : (uint64_t)thousandths;
	(void)snprintf(buf, sizeof(buf), "%s%" PRIu64 ".%03u", thousandths < 0 ? "-" : "",
		       magnitude / 1000, (unsigned)(magnitude % 1000));
	set_field(key, buf, true);
}

static void set_field(const char *key, const char *value, bool numeric)
{
	size_t i;
	for (i = 0; i < log_cfg.n_fields; i++)
		if (strcmp(log_cfg.keys[i], key) == 0)
			break;
	if (i == LOG_FIELDS_MAX)
		return;
	(void)snprintf(log_cfg.keys[i], sizeof(log_cfg.keys[i]), "%s", key);
	(void)snprintf(log_cfg.values[i], sizeof(log_cfg.values[i]), "%s", value ? value : "");
	log_cfg.numeric[i] = numeric;
	if (i == log_cfg.n_fields)
		log_cfg.n_fields++;
}

void log_set_sink(log_sink_cb cb, void *userdata)
{
	log_cfg.sink = cb;
	log_cfg.sink_userdata = userdata;
}

int log_level_from_string(const char *s, enum log_level *ret)
{
	if (!s)
		return -EINVAL;
	if (strcasecmp(s, "warning") == 0) {
		*ret = LOG_LEVEL_WARN;
		return 0;
	}
	for (int i = 0; i < _LOG_LEVEL_MAX; i++)
		if (strcasecmp(s, level_names[i]) == 0) {
			*ret = (enum log_level)i;
			return 0;
		}
	return -EINVAL;
}

const char *log_level_to_string(enum log_level level)
{
	if (level < 0 || level >= _LOG_LEVEL_MAX)
		return "unknown";
	return level_names[level];
}

/* Appends s to buf as JSON string content; truncates rather than overflow. */
static size_t json_escape(char *buf, size_t pos, size_t cap, const char *s)
{
	if (pos >= cap)
		return pos;
	for (; *s && pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[pos++] = '\\';
			buf[pos++] = (char)c;
		} else if (c == '\n') {
			buf[pos++] = '\\';
			buf[pos++] = 'n';
		} else if (c == '\t') {
			buf[pos++] = '\\';
			buf[pos++] = 't';
		} else if (c < 0x20) {
			int k = snprintf(buf + pos, cap - pos, "\\u%04x", c);
			pos += k > 0 ? (size_t)k : 0;
		} else {
			buf[pos++] = (char)c;
		}
	}
	buf[pos] = '\0';
	return pos;
}

/* snprintf's result as a length that fits in a buffer of cap bytes. */
static size_t clamp_len(int n, size_t cap)
{
	if (n < 0)
		return 0;
	return (size_t)n >= cap ? cap - 1 : (size_t)n;
}

static size_t append(char *buf, size_t pos, size_t cap, const char *s)
{
	if (pos + 1 >= cap)
		return pos;
	size_t n = strlen(s);
	if (n > cap - pos - 1)
		n = cap - pos - 1;
	memcpy(buf + pos, s, n);
	pos += n;
	buf[pos] = '\0';
	return pos;
}

static void emit_line(enum log_level level, const char *msg)
{
	char ts[40];
	struct timespec now;
	struct tm tm;
	char line[LOG_LINE_MAX];
	size_t pos = 0;

	(void)clock_gettime(CLOCK_REALTIME, &now);
	(void)gmtime_r(&now.tv_sec, &tm);
	size_t tl = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	(void)snprintf(ts + tl, sizeof(ts) - tl, ".%06ldZ", now.tv_nsec / 1000);

	if (log_cfg.json) {
		pos = clamp_len(snprintf(line, sizeof(line),
					 "{\"time\":\"%s\",\"level\":\"%s\",\"scope\":\"", ts,
					 level_names[level]),
				sizeof(line));
		pos = json_escape(line, pos, sizeof(line), log_cfg.scope);
		pos = append(line, pos, sizeof(line), "\",\"msg\":\"");
		pos = json_escape(line, pos, sizeof(line), msg);
		pos = append(line, pos, sizeof(line), "\"");
		for (size_t i = 0; i < log_cfg.n_fields; i++) {
			pos = append(line, pos, sizeof(line), ",\"");
			pos = json_escape(line, pos, sizeof(line), log_cfg.keys[i]);
			if (log_cfg.numeric[i]) {
				pos = append(line, pos, sizeof(line), "\":");
				pos = append(line, pos, sizeof(line), log_cfg.values[i]);
			} else {
				pos = append(line, pos, sizeof(line), "\":\"");
				pos = json_escape(line, pos, sizeof(line), log_cfg.values[i]);
				pos = append(line, pos, sizeof(line), "\"");
			}
		}
		pos = append(line, pos, sizeof(line), "}");
	} else {
		pos = clamp_len(snprintf(line, sizeof(line), "%s\t%s\t%s\t%s", ts,
					 level_names[level], log_cfg.scope, msg),
				sizeof(line));
		for (size_t i = 0; i < log_cfg.n_fields; i++) {
			pos = append(line, pos, sizeof(line), " ");
			pos = append(line, pos, sizeof(line), log_cfg.keys[i]);
			pos = append(line, pos, sizeof(line), "=");
			pos = append(line, pos, sizeof(line), log_cfg.values[i]);
		}
	}
	if (pos >= sizeof(line))
		pos = sizeof(line) - 1;

	/* One writev per line so concurrent writers do not interleave. */
	struct iovec iov[2] = {
		{.iov_base = line, .iov_len = pos},
		{.iov_base = (void *)(uintptr_t) "\n", .iov_len = 1},
	};
	(void)!writev(STDERR_FILENO, iov, 2);

	if (log_cfg.sink)
		log_cfg.sink(line, pos, log_cfg.sink_userdata);
}

static void vemit(enum log_level level, const char *fmt, va_list ap)
{
	if (level < log_cfg.level || level >= LOG_LEVEL_NONE)
		return;
	char msg[LOG_LINE_MAX / 2];
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	emit_line(level, msg);
}

void log_emit(enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	vemit(level, fmt, ap);
	va_end(ap);
	errno = saved;
}

int log_emit_errno(enum log_level level, int r, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	errno = r < 0 ? -r : r;
	va_start(ap, fmt);
	vemit(level, fmt, ap);
	va_end(ap);
	errno = saved;
	return r;
}
