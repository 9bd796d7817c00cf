/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Logging for every binary: one line per event on stderr, as text or as JSON
 * (Istio's fields: time, level, scope, msg). stdout is never touched, since for
 * the plugin it carries the CNI protocol.
 *
 * The configuration is process-wide and set once by main(). Libraries in
 * common/ log at debug level only; binaries log where an error is decided.
 */
#ifndef ISTIO_CNI_LOG_H
#define ISTIO_CNI_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_NONE,
	_LOG_LEVEL_MAX,
};

/*
 * Receives every formatted line (without the trailing newline) at or above
 * the configured level; the plugin uses it to forward lines to the agent.
 */
typedef void (*log_sink_cb)(const char *line, size_t len, void *userdata);

void log_setup(const char *scope, enum log_level level, bool json);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
void log_set_json(bool json);

/* Adds key=value to every following line ("pod=ns/name"); value is copied. */
void log_set_field(const char *key, const char *value);

/*
 * Like log_set_field, but a number with three decimals, given in thousandths:
 * JSON lines carry it unquoted (log_set_field_milli("duration_ms", 1234) gives
 * "duration_ms":1.234).
 */
void log_set_field_milli(const char *key, int64_t thousandths);

void log_set_sink(log_sink_cb cb, void *userdata);

/* Accepts Istio's names: debug, info, warn, warning, error, none. */
int log_level_from_string(const char *s, enum log_level *ret) _must_check_;
const char *log_level_to_string(enum log_level level);

void log_emit(enum log_level level, const char *fmt, ...) _printf_(2, 3);

/* Logs with errno set to -r (so %m works) and returns r. */
int log_emit_errno(enum log_level level, int r, const char *fmt, ...) _printf_(3, 4);

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_error_errno(r, ...) log_emit_errno(LOG_LEVEL_ERROR, (r), __VA_ARGS__)
#define log_warn_errno(r, ...) log_emit_errno(LOG_LEVEL_WARN, (r), __VA_ARGS__)

#endif
