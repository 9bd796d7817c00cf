// SPDX-License-Identifier: Apache-2.0
/* Watches: the streamed event lines of a WATCH request, decoded and handed to a callback. */
#include "kube/kube_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/curl_api.h"
#include "kube/kube_transfer.h"

int kube_watch_line_decode(const char *line, size_t len, json_t **ret, struct error *err)
{
	json_error_t je;
	json_t *ev = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!ev)
		return error_set(err, ERR_DECODE, -EBADMSG,
				 "watch event is not JSON: line %d column %d: %s", je.line,
				 je.column, je.text);
	if (!json_is_object(ev) || !json_is_string(json_object_get(ev, "type")) ||
	    !json_is_object(json_object_get(ev, "object"))) {
		json_decref(ev);
		return error_set(err, ERR_DECODE, -EBADMSG,
				 "watch event lacks a string \"type\" or an object \"object\"");
	}
	*ret = ev;
	return 0;
}

int kube_watch_event_parse(json_t *event, struct kube_watch_event *ret, struct error *err)
{
	static const char *const names[] = {
		[KUBE_WATCH_ADDED] = "ADDED",	  [KUBE_WATCH_MODIFIED] = "MODIFIED",
		[KUBE_WATCH_DELETED] = "DELETED", [KUBE_WATCH_BOOKMARK] = "BOOKMARK",
		[KUBE_WATCH_ERROR] = "ERROR",
	};
	const char *type = json_string_value(json_object_get(event, "type"));
	json_t *obj = json_object_get(event, "object");
	if (!type || !json_is_object(obj))
		return error_set(err, ERR_DECODE, -EBADMSG, "watch event has no type or object");
	for (size_t i = 0; i < ELEMENTSOF(names); i++) {
		if (strcmp(type, names[i]) != 0)
			continue;
		json_t *md = json_object_get(obj, "metadata");
		ret->type = (enum kube_watch_type)i;
		ret->object = obj;
		ret->resource_version = json_string_value(json_object_get(md, "resourceVersion"));
		return 0;
	}
	char t[40];
	kube_clean_copy(t, sizeof(t), type, 32);
	return error_set(err, ERR_DECODE, -EBADMSG, "unknown watch event type \"%s\"", t);
}

struct watch {
	struct kube_client *c;
	kube_watch_cb cb;
	void *userdata;
	struct error *err;

	bool checked, ok;      /* response code looked at; 2xx */
	struct kube_body line; /* the partial line; max = line cap */
	struct kube_body errbody;
	int events;
	int r;	      /* < 0: stop with this error */
	bool stopped; /* cb asked to stop */
	bool line_too_big;
};

static int watch_line(struct watch *w, const char *line, size_t len)
{
	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return 0;
	json_t *ev = NULL;
	int r = kube_watch_line_decode(line, len, &ev, w->err);
	if (r < 0)
		return r;
	w->events++;
	r = w->cb(ev, w->userdata);
	json_decref(ev);
	if (r < 0) {
		if (w->err && w->err->msg[0] == '\0')
			(void)error_set(w->err, ERR_INTERNAL, r, "watch handler failed: %s",
					strerror(-r));
		return r;
	}
	if (r > 0)
		w->stopped = true;
	return 0;
}

static size_t watch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct watch *w = userdata;
	size_t n = size * nmemb;

	if (!w->checked) {
		long http = 0;
		(void)curl_easy_getinfo(w->c->h, CURLINFO_RESPONSE_CODE, &http);
		w->checked = true;
		w->ok = http >= 200 && http <= 299;
	}
	if (!w->ok) {
		/* Keep the start of the error body for its Status; stop after it. */
		size_t room = w->errbody.max - w->errbody.len;
		size_t take = n < room ? n : room;
		if (take > 0 && !kube_body_append(&w->errbody, ptr, take))
			return 0;
		return take == n ? n : 0;
	}

	const char *p = ptr, *end = ptr + n;
	while (p < end && !w->stopped && w->r == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		size_t chunk = (size_t)(stop - p);
		if (w->line.len == 0 && nl) {
			/* A whole line in the buffer: no copy. */
			if (chunk > w->line.max) {
				w->line_too_big = true;
				return 0;
			}
			w->r = watch_line(w, p, chunk);
		} else {
			if (!kube_body_append(&w->line, p, chunk)) {
				w->line_too_big = w->line.too_big;
				if (!w->line_too_big)
					w->r = error_set(w->err, ERR_INTERNAL, -ENOMEM,
							 "out of memory");
				return 0;
			}
			if (nl) {
				w->r = watch_line(w, w->line.data, w->line.len);
				w->line.len = 0;
			}
		}
		p = nl ? nl + 1 : end;
	}
	return (w->stopped || w->r < 0) ? 0 : n;
}

int kube_client_watch(struct kube_client *c, const char *path, kube_watch_cb cb, void *userdata,
		      struct kube_status *status, struct error *err)
{
	return kube_client_watch_full(c, path, cb, userdata, NULL, status, err);
}

int kube_client_watch_full(struct kube_client *c, const char *path, kube_watch_cb cb,
			   void *userdata, const struct kube_watch_options *opts,
			   struct kube_status *status, struct error *err)
{
	c->last = (struct kube_status){0};
	if (status)
		*status = c->last;
	if (!cb)
		return error_set(err, ERR_INTERNAL, -EINVAL, "watch without a callback");

	char what[300];
	(void)snprintf(what, sizeof(what), "WATCH %s", path ? path : "(null)");
	_cleanup_free_ char *url = NULL;
	int r = kube_build_url(c, path, &url, err);
	if (r < 0)
		return r;

	struct curl_slist *headers = NULL;
	r = kube_prepare(c, "GET", url, NULL, NULL, true, &headers, err);
	if (r < 0)
		return r;

	struct watch w = {
		.c = c,
		.cb = cb,
		.userdata = userdata,
		.err = err,
		.line = {.max = c->opts.max_watch_line_bytes},
		.errbody = {.max = KUBE_CLIENT_MAX_ERROR_BODY},
	};
	struct kube_progress prog = {.c = c};
	if (opts) {
		prog.stop = opts->stop;
		prog.tick = opts->tick;
		prog.tick_userdata = opts->tick_userdata;
	}
	uint64_t timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
						       : c->opts.watch_timeout_ms;
	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	if (kube_set_writer(c, watch_write, &w) < 0 || kube_set_progress(c, &prog) < 0 ||
	    kube_set_long(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms) < 0) {
		kube_slist_wipe_free(headers);
		return error_set(err, ERR_INTERNAL, -EINVAL, "libcurl refused the watch options");
	}
	if (kube_flag_set(prog.stop) || kube_flag_set(c->cancel)) {
		kube_slist_wipe_free(headers);
		return kube_cancelled_error(c, what, err);
	}
	CURLcode code = kube_perform(c, headers);

	_cleanup_free_ char *line = w.line.data;
	_cleanup_free_ char *ebody = w.errbody.data;
	if (w.r < 0)
		r = w.r;
	else if (w.line_too_big)
		r = error_set(err, ERR_API, -EFBIG, "%s: an event is larger than %zu bytes", what,
			      c->opts.max_watch_line_bytes);
	else if (w.stopped || prog.tick_r > 0)
		r = 0;
	else if (prog.tick_r < 0) {
		r = prog.tick_r;
		if (err && err->msg[0] == '\0')
			(void)error_set(err, ERR_INTERNAL, r, "watch tick failed: %s",
					strerror(-r));
	} else if (prog.cancelled)
		r = kube_cancelled_error(c, what, err);
	else if (w.checked && !w.ok)
		r = kube_status_to_error(c->last.http_code, ebody, w.errbody.len, what, &c->last,
					 err);
	else if (code != CURLE_OK)
		r = kube_transport_error(c, code, timeout_ms, what, err);
	else if (c->last.http_code < 200 || c->last.http_code > 299)
		/* An error answer without a body. */
		r = kube_status_to_error(c->last.http_code, NULL, 0, what, &c->last, err);
	else if (w.line.len > 0)
		/* The stream ended without a final newline. */
		r = watch_line(&w, line, w.line.len);
	if (status)
		*status = c->last;
	return r < 0 ? r : w.events;
}
