// SPDX-License-Identifier: Apache-2.0
/* One Kubernetes API request (GET, LIST, DELETE, PATCH, POST); transfer steps watches share. */
#include "kube/kube_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/curl_api.h"
#include "kube/kube_retry.h"
#include "kube/kube_transfer.h"
#include "kube/tls_error_name.h"
#include "util/istio_names.h"
#include "util/monotonic.h"

/* Appends n bytes; false when over the cap (too_big set) or out of memory. */
bool kube_body_append(struct kube_body *b, const char *p, size_t n)
{
	if (n > b->max - b->len) {
		b->too_big = true;
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		char *d = realloc(b->data, cap);
		if (!d)
			return false;
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return true;
}

static size_t body_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	size_t n = size * nmemb;
	return kube_body_append(userdata, ptr, n) ? n : 0;
}

int kube_set_writer(struct kube_client *c, curl_write_callback fn, void *userdata)
{
	if (curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, fn) != CURLE_OK ||
	    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, userdata) != CURLE_OK)
		return -EINVAL;
	return 0;
}

void kube_slist_wipe_free(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		if (i->data)
			explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* The headers of one request, the Authorization one built from the current token. */
static int make_headers(struct kube_client *c, const char *content_type, struct curl_slist **ret,
			struct error *err)
{
	_cleanup_secret_ char *token = NULL;
	int r = kubeconfig_current_token(c->auth, &token, err);
	if (r < 0)
		return r;

	struct curl_slist *l = NULL, *n;
	static const char *const fixed[] = {"Accept: application/json", "Expect:"};
	for (size_t i = 0; i < ELEMENTSOF(fixed); i++) {
		if (!(n = curl_slist_append(l, fixed[i])))
			goto oom;
		l = n;
	}
	if (content_type) {
		char ct[96];
		(void)snprintf(ct, sizeof(ct), "Content-Type: %s", content_type);
		if (!(n = curl_slist_append(l, ct)))
			goto oom;
		l = n;
	}
	if (token) {
		_cleanup_secret_ char *auth = NULL;
		if (asprintf(&auth, "Authorization: Bearer %s", token) < 0) {
			auth = NULL;
			goto oom;
		}
		if (!(n = curl_slist_append(l, auth)))
			goto oom;
		l = n;
	}
	*ret = l;
	return 0;
oom:
	kube_slist_wipe_free(l);
	return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
}

int kube_transport_error(struct kube_client *c, CURLcode code, uint64_t timeout_ms,
			 const char *what, struct error *err)
{
	char named[CURL_ERROR_SIZE + 64];
	const char *detail = tls_error_name(c->errbuf[0] ? c->errbuf : curl_easy_strerror(code),
					    named, sizeof(named));
	enum error_kind kind = kube_retry_classify(code, 0, 0) == KUBE_RETRY_AGAIN ? ERR_TRANSIENT
										   : ERR_API;
	switch (code) {
	case CURLE_OPERATION_TIMEDOUT:
		return error_set(err, kind, -ETIMEDOUT,
				 "Kubernetes API at %s did not answer %s within %llu ms: %s",
				 c->server, what, (unsigned long long)timeout_ms, detail);
	case CURLE_COULDNT_CONNECT:
		return error_set(err, kind, -ECONNREFUSED,
				 "cannot connect to the Kubernetes API at %s: %s", c->server,
				 detail);
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return error_set(err, kind, -EHOSTUNREACH,
				 "cannot resolve the Kubernetes API server %s: %s", c->server,
				 detail);
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return error_set(err, kind, -EPROTO,
				 "TLS verification of the Kubernetes API server %s failed: %s; "
				 "check certificate-authority(-data) in the kubeconfig",
				 c->server, detail);
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
		return error_set(
			err, kind, -EPROTO,
			"TLS set-up for the Kubernetes API server %s failed: %s; check the "
			"client certificate and key in the kubeconfig",
			c->server, detail);
	case CURLE_SSL_CONNECT_ERROR:
		return error_set(err, kind, -EPROTO,
				 "TLS handshake with the Kubernetes API server %s failed: %s",
				 c->server, detail);
	default:
		return error_set(err, kind, -EIO, "%s on the Kubernetes API at %s failed: %s", what,
				 c->server, detail);
	}
}

int kube_build_url(struct kube_client *c, const char *path, char **ret, struct error *err)
{
	if (!path || path[0] != '/')
		return error_set(err, ERR_INTERNAL, -EINVAL, "API path must start with '/'");
	for (const char *p = path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return error_set(err, ERR_INTERNAL, -EINVAL,
					 "API path contains whitespace or control characters");
	if (asprintf(ret, "%s%s", c->server, path) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	return 0;
}

int kube_prepare(struct kube_client *c, const char *method, const char *url, const char *body,
		 const char *content_type, bool watch, struct curl_slist **ret_headers,
		 struct error *err)
{
	curl_easy_reset(c->h);
	c->errbuf[0] = '\0';
	int r = kube_apply_base(c, err);
	if (r < 0)
		return r;

	struct curl_slist *headers = NULL;
	r = make_headers(c, content_type, &headers, err);
	if (r < 0)
		return r;

	long timeout = (long)(watch ? c->opts.watch_timeout_ms : c->opts.timeout_ms);
	if (kube_set_ptr(c, CURLOPT_URL, url) < 0 ||
	    kube_set_ptr(c, CURLOPT_HTTPHEADER, headers) < 0 ||
	    kube_set_long(c, CURLOPT_TIMEOUT_MS, timeout) < 0)
		r = -EINVAL;
	if (r == 0 && !watch)
		r = kube_set_off(c, CURLOPT_MAXFILESIZE_LARGE,
				 (curl_off_t)c->opts.max_response_bytes);
	if (r == 0) {
		if (strcmp(method, "GET") == 0) {
			r = kube_set_long(c, CURLOPT_HTTPGET, 1L);
		} else {
			if (strcmp(method, "POST") != 0)
				r = kube_set_ptr(c, CURLOPT_CUSTOMREQUEST, method);
			if (r == 0)
				r = kube_set_ptr(c, CURLOPT_POSTFIELDS, body ? body : "");
			if (r == 0)
				r = kube_set_off(c, CURLOPT_POSTFIELDSIZE_LARGE,
						 (curl_off_t)(body ? strlen(body) : 0));
		}
	}
	if (r < 0) {
		kube_slist_wipe_free(headers);
		return error_set(err, ERR_INTERNAL, r, "libcurl refused the request options");
	}
	*ret_headers = headers;
	return 0;
}

bool kube_flag_set(const atomic_bool *f)
{
	return f && atomic_load(f);
}

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct kube_progress *p = clientp;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (kube_flag_set(p->stop) || kube_flag_set(p->c->cancel)) {
		p->cancelled = true;
		return 1;
	}
	if (!p->tick)
		return 0;
	uint64_t now = monotonic_ms();
	if (now - p->last_tick_ms < KUBE_CLIENT_TICK_MS)
		return 0;
	p->last_tick_ms = now;
	int r = p->tick(p->tick_userdata);
	if (r != 0) {
		p->tick_r = r;
		return 1;
	}
	/* The tick may have taken a while: see a stop it waited through now. */
	if (kube_flag_set(p->stop) || kube_flag_set(p->c->cancel)) {
		p->cancelled = true;
		return 1;
	}
	return 0;
}

/* Installs on_progress when there is something for it to do. */
int kube_set_progress(struct kube_client *c, struct kube_progress *p)
{
	if (!p->stop && !p->c->cancel && !p->tick)
		return 0;
	p->last_tick_ms = monotonic_ms();
	curl_xferinfo_callback fn = on_progress;
	if (curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, fn) != CURLE_OK ||
	    curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, p) != CURLE_OK ||
	    kube_set_long(c, CURLOPT_NOPROGRESS, 0L) < 0)
		return -EINVAL;
	return 0;
}

int kube_cancelled_error(const struct kube_client *c, const char *what, struct error *err)
{
	return error_set(err, ERR_TRANSIENT, -ECANCELED, "%s on the Kubernetes API at %s cancelled",
			 what, c->server);
}

void kube_collect_status(struct kube_client *c, CURLcode code, struct kube_status *st)
{
	long http = 0;
	curl_off_t ra = 0;
	(void)curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &http);
	if (curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra < 0)
		ra = 0;
	if (ra > (curl_off_t)24 * 3600)
		ra = (curl_off_t)24 * 3600;
	*st = (struct kube_status){
		.http_code = http,
		.curl_code = (int)code,
		.retry_after_ms = (uint64_t)ra * 1000,
	};
}

/*
 * curl_easy_perform, unrolled to call opts.while_waiting once the request has
 * gone out (libcurl counts its bytes in CURLINFO_REQUEST_SIZE). The multi
 * handle outlives the transfer and keeps the connection, as the easy
 * interface's hidden one does.
 */
static CURLcode perform_while_waiting(struct kube_client *c)
{
	if (!c->multi && !(c->multi = curl_multi_init()))
		return CURLE_OUT_OF_MEMORY;
	if (curl_multi_add_handle(c->multi, c->h) != CURLM_OK)
		return CURLE_FAILED_INIT;
	CURLcode code = CURLE_FAILED_INIT;
	bool called = false;
	int running = 1;
	while (running) {
		CURLMcode mc = curl_multi_perform(c->multi, &running);
		if (mc == CURLM_OK && running) {
			long sent = 0;
			if (!called &&
			    curl_easy_getinfo(c->h, CURLINFO_REQUEST_SIZE, &sent) == CURLE_OK &&
			    sent > 0) {
				called = true;
				c->opts.while_waiting(c->opts.while_waiting_userdata);
			}
			/* libcurl shortens the wait to its own next timeout. */
			mc = curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
		}
		if (mc != CURLM_OK) {
			code = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_FAILED_INIT;
			running = 0;
		}
	}
	CURLMsg *m;
	int left;
	while ((m = curl_multi_info_read(c->multi, &left)))
		if (m->msg == CURLMSG_DONE && m->easy_handle == c->h)
			code = m->data.result;
	(void)curl_multi_remove_handle(c->multi, c->h);
	return code;
}

CURLcode kube_perform(struct kube_client *c, struct curl_slist *headers)
{
	CURLcode code = c->opts.while_waiting ? perform_while_waiting(c) : curl_easy_perform(c->h);
	/* The header list held the token: clear it and unhook it at once. */
	(void)kube_set_ptr(c, CURLOPT_HTTPHEADER, NULL);
	kube_slist_wipe_free(headers);
	kube_collect_status(c, code, &c->last);
	return code;
}

/*
 * One non-watch request: the answer's JSON object goes to *ret (may be NULL
 * to drop it); any error leaves *ret untouched.
 */
static int request(struct kube_client *c, const char *method, const char *path, const char *body,
		   const char *content_type, json_t **ret, struct kube_status *status,
		   struct error *err)
{
	c->last = (struct kube_status){0};
	if (status)
		*status = c->last;

	char what[300];
	(void)snprintf(what, sizeof(what), "%s %s", method, path ? path : "(null)");
	_cleanup_free_ char *url = NULL;
	int r = kube_build_url(c, path, &url, err);
	if (r < 0)
		return r;

	struct curl_slist *headers = NULL;
	r = kube_prepare(c, method, url, body, content_type, false, &headers, err);
	if (r < 0)
		return r;

	struct kube_body b = {.max = c->opts.max_response_bytes};
	struct kube_progress prog = {.c = c};
	if (kube_set_writer(c, body_write, &b) < 0 || kube_set_progress(c, &prog) < 0) {
		kube_slist_wipe_free(headers);
		free(b.data);
		return error_set(err, ERR_INTERNAL, -EINVAL, "libcurl refused the callbacks");
	}
	if (kube_flag_set(c->cancel)) {
		kube_slist_wipe_free(headers);
		return kube_cancelled_error(c, what, err);
	}
	CURLcode code = kube_perform(c, headers);
	_cleanup_free_ char *data = b.data;
	if (prog.cancelled)
		r = kube_cancelled_error(c, what, err);
	else if (b.too_big || code == CURLE_FILESIZE_EXCEEDED)
		r = error_set(err, ERR_API, -EFBIG,
			      "answer to %s is larger than the %zu-byte limit", what,
			      c->opts.max_response_bytes);
	else if (code != CURLE_OK)
		r = kube_transport_error(c, code, c->opts.timeout_ms, what, err);
	else if (c->last.http_code < 200 || c->last.http_code > 299)
		r = kube_status_to_error(c->last.http_code, data, b.len, what, &c->last, err);

	if (r == 0 && ret) {
		json_error_t je;
		json_t *j = json_loadb(data ? data : "", b.len, JSON_REJECT_DUPLICATES, &je);
		if (!j)
			r = error_set(err, ERR_DECODE, -EBADMSG,
				      "answer to %s is not JSON: line %d column %d: %s", what,
				      je.line, je.column, je.text);
		else if (!json_is_object(j)) {
			json_decref(j);
			r = error_set(err, ERR_DECODE, -EBADMSG,
				      "answer to %s is not a JSON object", what);
		} else {
			*ret = j;
		}
	}
	if (status)
		*status = c->last;
	return r;
}

int kube_client_get(struct kube_client *c, const char *path, json_t **ret,
		    struct kube_status *status, struct error *err)
{
	return request(c, "GET", path, NULL, NULL, ret, status, err);
}

int kube_client_list(struct kube_client *c, const char *path, json_t **ret,
		     struct kube_status *status, struct error *err)
{
	json_t *j = NULL;
	int r = request(c, "GET", path, NULL, NULL, &j, status, err);
	if (r < 0)
		return r;
	if (!json_is_array(json_object_get(j, "items"))) {
		json_decref(j);
		return error_set(err, ERR_DECODE, -EBADMSG,
				 "answer to GET %s is not a list (no \"items\" array)", path);
	}
	if (ret)
		*ret = j;
	else
		json_decref(j);
	return 0;
}

static int send_json(struct kube_client *c, const char *method, const char *path,
		     const json_t *body, const char *content_type, json_t **ret,
		     struct kube_status *status, struct error *err)
{
	_cleanup_free_ char *text = NULL;
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		if (!text)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "cannot encode the %s body",
					 method);
	}
	return request(c, method, path, text, content_type, ret, status, err);
}

int kube_client_delete(struct kube_client *c, const char *path, const char *uid,
		       const char *resource_version, json_t **ret, struct kube_status *status,
		       struct error *err)
{
	json_t *opts = json_pack("{s:s, s:s}", "kind", "DeleteOptions", "apiVersion", "v1");
	json_t *pre = json_object();
	if (!opts || !pre || (uid && json_object_set_new(pre, "uid", json_string(uid)) < 0) ||
	    (resource_version &&
	     json_object_set_new(pre, "resourceVersion", json_string(resource_version)) < 0)) {
		json_decref(opts);
		json_decref(pre);
		return error_set(
			err, ERR_INTERNAL, -ENOMEM,
			"cannot build DeleteOptions (bad UTF-8 in uid or resourceVersion?)");
	}
	if (json_object_size(pre) > 0)
		(void)json_object_set(opts, "preconditions", pre);
	json_decref(pre);
	int r = send_json(c, "DELETE", path, opts, "application/json", ret, status, err);
	json_decref(opts);
	return r;
}

int kube_client_patch(struct kube_client *c, const char *path, const json_t *merge_patch,
		      json_t **ret, struct kube_status *status, struct error *err)
{
	if (!merge_patch)
		return error_set(err, ERR_INTERNAL, -EINVAL, "PATCH without a patch");
	return send_json(c, "PATCH", path, merge_patch, "application/merge-patch+json", ret, status,
			 err);
}

int kube_client_post(struct kube_client *c, const char *path, const json_t *body, json_t **ret,
		     struct kube_status *status, struct error *err)
{
	if (!body)
		return error_set(err, ERR_INTERNAL, -EINVAL, "POST without a body");
	return send_json(c, "POST", path, body, "application/json", ret, status, err);
}

int kube_client_get_pod(struct kube_client *c, const char *ns, const char *name, json_t **ret,
			struct error *err)
{
	_cleanup_free_ char *path = NULL;
	if (!ns || !name || kube_pod_path(ns, name, NULL, &path) < 0)
		return error_set(err, ERR_INTERNAL, -EINVAL, "invalid pod namespace or name");
	return kube_client_get(c, path, ret, NULL, err);
}
