// SPDX-License-Identifier: Apache-2.0
#include "kube/kube_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/curl_api.h"
#include "kube/kube_retry.h"
#include "util/istio_names.h"
#include "util/monotonic.h"

struct kube_client {
	CURL *h;
	struct kube_client_options opts;
	char *user_agent;

	/* From the kubeconfig; the blobs are handed to libcurl without copying
	 * (CURL_BLOB_NOCOPY) so the key's only copy is ours, wiped on free. */
	char *server;
	bool insecure;
	char *ca_file;
	uint8_t *ca_data;
	size_t ca_data_len;
	char *cert_file;
	uint8_t *cert_data;
	size_t cert_data_len;
	char *key_file;
	uint8_t *key_data;
	size_t key_data_len;
	/* A private kubeconfig holding only token / token_file, for
	 * kubeconfig_current_token(). */
	struct kubeconfig *auth;

	char errbuf[CURL_ERROR_SIZE];
	struct kube_status last;
	const atomic_bool *cancel; /* borrowed; NULL: none */
};

static void wipe_free(uint8_t *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	free(c->user_agent);
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	wipe_free(c->key_data, c->key_data_len);
	kubeconfig_free(c->auth);
	free(c);
}

const struct kube_status *kube_client_last_status(const struct kube_client *c)
{
	return &c->last;
}

static int dup_str(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int dup_mem(const uint8_t *p, size_t len, uint8_t **ret, size_t *ret_len)
{
	*ret = NULL;
	*ret_len = 0;
	if (!p)
		return 0;
	*ret = malloc(len + 1);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, p, len);
	(*ret)[len] = '\0';
	*ret_len = len;
	return 0;
}

/* Typed wrappers: the variadic setopt takes long, pointer or curl_off_t. */
static int set_long(struct kube_client *c, CURLoption o, long v)
{
	return curl_easy_setopt(c->h, o, v) == CURLE_OK ? 0 : -EINVAL;
}

static int set_ptr(struct kube_client *c, CURLoption o, const void *p)
{
	return curl_easy_setopt(c->h, o, p) == CURLE_OK ? 0 : -EINVAL;
}

static int set_off(struct kube_client *c, CURLoption o, curl_off_t v)
{
	return curl_easy_setopt(c->h, o, v) == CURLE_OK ? 0 : -EINVAL;
}

static int set_blob(struct kube_client *c, CURLoption o, uint8_t *data, size_t len)
{
	struct curl_blob b = {.data = data, .len = len, .flags = CURL_BLOB_NOCOPY};
	return set_ptr(c, o, &b);
}

/*
 * Reads a PEM file the kubeconfig names into *data, unless *data is already
 * set. libcurl would open the path itself, with a blocking open() a FIFO never
 * returns from; kubeconfig_read_secret opens without blocking and takes only
 * a regular file.
 */
static int load_pem(const char *path, const char *what, uint8_t **data, size_t *len,
		    struct error *err)
{
	if (!path || *data)
		return 0;
	char *buf = NULL;
	size_t n = 0;
	int r = kubeconfig_read_secret(path, KUBECONFIG_SECRET_MAX_BYTES, &buf, &n);
	if (r < 0)
		return error_set(err, ERR_IO, r, "cannot read %s %s: %s", what, path,
				 r == -EINVAL ? "not a regular file" : strerror(-r));
	*data = (uint8_t *)buf;
	*len = n;
	return 0;
}

/*
 * The options every request starts from; applied after each easy_reset, which
 * keeps open connections and TLS sessions but forgets options.
 */
static int apply_base(struct kube_client *c, struct error *err)
{
	int r = 0;
	const char *what = NULL;

#define TRY(expr, name)                                                                            \
	do {                                                                                       \
		if (r == 0 && (r = (expr)) < 0)                                                    \
			what = (name);                                                             \
	} while (0)

	/* Never on: the verbose trace would print the Authorization header. */
	TRY(set_long(c, CURLOPT_VERBOSE, 0L), "CURLOPT_VERBOSE");
	TRY(set_long(c, CURLOPT_NOSIGNAL, 1L), "CURLOPT_NOSIGNAL");
	TRY(set_ptr(c, CURLOPT_ERRORBUFFER, c->errbuf), "CURLOPT_ERRORBUFFER");
	TRY(set_ptr(c, CURLOPT_USERAGENT, c->user_agent), "CURLOPT_USERAGENT");
	TRY(set_long(c, CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.connect_timeout_ms),
	    "CURLOPT_CONNECTTIMEOUT_MS");
	TRY(set_long(c, CURLOPT_FOLLOWLOCATION, 0L), "CURLOPT_FOLLOWLOCATION");
	TRY(set_long(c, CURLOPT_TCP_KEEPALIVE, 1L), "CURLOPT_TCP_KEEPALIVE");
	TRY(set_long(c, CURLOPT_TCP_KEEPIDLE, 30L), "CURLOPT_TCP_KEEPIDLE");
	TRY(set_long(c, CURLOPT_TCP_KEEPINTVL, 10L), "CURLOPT_TCP_KEEPINTVL");
	TRY(set_ptr(c, CURLOPT_ACCEPT_ENCODING, ""), "CURLOPT_ACCEPT_ENCODING");
	TRY(set_long(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2), "CURLOPT_SSLVERSION");
	if (r < 0)
		goto fail;

	/* Older libcurl lacks PROTOCOLS_STR; our URLs come only from the
	 * validated server and no redirect is followed, so that is fine. */
	{
		CURLcode pc = curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "https,http");
		if (pc != CURLE_OK && pc != CURLE_UNKNOWN_OPTION) {
			r = -EINVAL;
			what = "CURLOPT_PROTOCOLS_STR";
			goto fail;
		}
	}

	if (c->insecure) {
		TRY(set_long(c, CURLOPT_SSL_VERIFYPEER, 0L), "CURLOPT_SSL_VERIFYPEER");
		TRY(set_long(c, CURLOPT_SSL_VERIFYHOST, 0L), "CURLOPT_SSL_VERIFYHOST");
	} else {
		TRY(set_long(c, CURLOPT_SSL_VERIFYPEER, 1L), "CURLOPT_SSL_VERIFYPEER");
		TRY(set_long(c, CURLOPT_SSL_VERIFYHOST, 2L), "CURLOPT_SSL_VERIFYHOST");
		if (c->ca_data || c->ca_file) {
			/* The kubeconfig's CA is the only trust root, as in client-go. */
			TRY(set_ptr(c, CURLOPT_CAPATH, NULL), "CURLOPT_CAPATH");
			TRY(set_ptr(c, CURLOPT_CAINFO, NULL), "CURLOPT_CAINFO");
		}
		if (c->ca_data)
			TRY(set_blob(c, CURLOPT_CAINFO_BLOB, c->ca_data, c->ca_data_len),
			    "CURLOPT_CAINFO_BLOB");
		else if (c->ca_file)
			TRY(set_ptr(c, CURLOPT_CAINFO, c->ca_file), "CURLOPT_CAINFO");
	}
	if (c->cert_data)
		TRY(set_blob(c, CURLOPT_SSLCERT_BLOB, c->cert_data, c->cert_data_len),
		    "CURLOPT_SSLCERT_BLOB");
	else if (c->cert_file)
		TRY(set_ptr(c, CURLOPT_SSLCERT, c->cert_file), "CURLOPT_SSLCERT");
	if (c->key_data)
		TRY(set_blob(c, CURLOPT_SSLKEY_BLOB, c->key_data, c->key_data_len),
		    "CURLOPT_SSLKEY_BLOB");
	else if (c->key_file)
		TRY(set_ptr(c, CURLOPT_SSLKEY, c->key_file), "CURLOPT_SSLKEY");
	if (c->cert_data || c->cert_file) {
		TRY(set_ptr(c, CURLOPT_SSLCERTTYPE, "PEM"), "CURLOPT_SSLCERTTYPE");
		TRY(set_ptr(c, CURLOPT_SSLKEYTYPE, "PEM"), "CURLOPT_SSLKEYTYPE");
	}
#undef TRY
	if (r == 0)
		return 0;
fail:
	return error_set(err, ERR_CONFIG, r, "libcurl %s refused %s", curl_api_version(), what);
}

int kube_client_new(const struct kubeconfig *kc, const struct kube_client_options *opts,
		    struct kube_client **ret, struct error *err)
{
	if (!kc || !kc->server || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kube_client_new: no kubeconfig");

	int r = curl_api_init(err);
	if (r < 0)
		return r;

	_cleanup_(kube_client_freep) struct kube_client *c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	if (opts)
		c->opts = *opts;
	c->opts.user_agent = NULL; /* not kept: borrowed */
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = KUBE_CLIENT_CONNECT_TIMEOUT_MS;
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = KUBE_CLIENT_TIMEOUT_MS;
	if (!c->opts.max_response_bytes)
		c->opts.max_response_bytes = KUBE_CLIENT_MAX_RESPONSE;
	if (!c->opts.max_watch_line_bytes)
		c->opts.max_watch_line_bytes = KUBE_CLIENT_MAX_WATCH_LINE;
	/* libcurl takes long milliseconds. */
	if (c->opts.connect_timeout_ms > INT32_MAX || c->opts.timeout_ms > INT32_MAX ||
	    c->opts.watch_timeout_ms > INT32_MAX)
		return error_set(err, ERR_CONFIG, -ERANGE, "Kubernetes client timeout too large");

	c->auth = calloc(1, sizeof(*c->auth));
	if (!c->auth)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	if (opts && opts->user_agent)
		r = dup_str(opts->user_agent, &c->user_agent);
	else if (asprintf(&c->user_agent, "istio-cni/%s", ISTIO_CNI_VERSION_STRING) < 0) {
		c->user_agent = NULL;
		r = -ENOMEM;
	}
	if (r == 0)
		r = dup_str(kc->server, &c->server);
	if (r == 0)
		r = dup_str(kc->ca_file, &c->ca_file);
	if (r == 0)
		r = dup_mem(kc->ca_data, kc->ca_data_len, &c->ca_data, &c->ca_data_len);
	if (r == 0)
		r = dup_str(kc->client_cert_file, &c->cert_file);
	if (r == 0)
		r = dup_mem(kc->client_cert_data, kc->client_cert_data_len, &c->cert_data,
			    &c->cert_data_len);
	if (r == 0)
		r = dup_str(kc->client_key_file, &c->key_file);
	if (r == 0)
		r = dup_mem(kc->client_key_data, kc->client_key_data_len, &c->key_data,
			    &c->key_data_len);
	if (r == 0)
		r = dup_str(kc->token, &c->auth->token);
	if (r == 0)
		r = dup_str(kc->token_file, &c->auth->token_file);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "out of memory");
	c->insecure = kc->insecure_skip_tls_verify;
	if ((r = load_pem(c->ca_file, "certificate-authority", &c->ca_data, &c->ca_data_len, err)) <
		    0 ||
	    (r = load_pem(c->cert_file, "client-certificate", &c->cert_data, &c->cert_data_len,
			  err)) < 0 ||
	    (r = load_pem(c->key_file, "client-key", &c->key_data, &c->key_data_len, err)) < 0)
		return r;

	c->h = curl_easy_init();
	if (!c->h)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "curl_easy_init failed");
	r = apply_base(c, err);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(c);
	return 0;
}

int kube_client_clone(const struct kube_client *c, struct kube_client **ret, struct error *err)
{
	if (!c || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kube_client_clone: no client");
	/* kube_client_new copies everything it keeps, so borrowing is enough. */
	const struct kubeconfig kc = {
		.server = c->server,
		.insecure_skip_tls_verify = c->insecure,
		.ca_file = c->ca_file,
		.ca_data = c->ca_data,
		.ca_data_len = c->ca_data_len,
		.token = c->auth->token,
		.token_file = c->auth->token_file,
		.client_cert_file = c->cert_file,
		.client_cert_data = c->cert_data,
		.client_cert_data_len = c->cert_data_len,
		.client_key_file = c->key_file,
		.client_key_data = c->key_data,
		.client_key_data_len = c->key_data_len,
	};
	struct kube_client_options opts = c->opts;
	opts.user_agent = c->user_agent;
	return kube_client_new(&kc, &opts, ret, err);
}

void kube_client_set_cancel(struct kube_client *c, const atomic_bool *cancel)
{
	c->cancel = cancel;
}

/* --- Pure helpers --- */

static bool unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int kube_url_escape(const char *s, char **ret)
{
	if (!s || !ret)
		return -EINVAL;
	size_t len = strlen(s);
	if (len > (SIZE_MAX - 1) / 3)
		return -ENOMEM;
	char *out = malloc(len * 3 + 1);
	if (!out)
		return -ENOMEM;
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		}
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

static bool segment_valid(const char *s)
{
	return s && s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int kube_pod_path(const char *ns, const char *name, const char *subresource, char **ret)
{
	if (!ret || (ns && !segment_valid(ns)) || (name && !segment_valid(name)) ||
	    (subresource && !segment_valid(subresource)) || (!ns && name) || (!name && subresource))
		return -EINVAL;

	_cleanup_free_ char *ens = NULL, *ename = NULL, *esub = NULL;
	int r;
	if ((ns && (r = kube_url_escape(ns, &ens)) < 0) ||
	    (name && (r = kube_url_escape(name, &ename)) < 0) ||
	    (subresource && (r = kube_url_escape(subresource, &esub)) < 0))
		return r;

	char *p;
	if (!ns)
		r = asprintf(&p, "/api/v1/pods");
	else
		r = asprintf(&p, "/api/v1/namespaces/%s/pods%s%s%s%s", ens, ename ? "/" : "",
			     ename ? ename : "", esub ? "/" : "", esub ? esub : "");
	if (r < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

struct strbuf {
	char *s;
	size_t len, cap;
	int r;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->r < 0)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->r = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_param(struct strbuf *b, const char *key, const char *value)
{
	if (!value || b->r < 0)
		return;
	sb_add(b, strchr(b->s, '?') ? "&" : "?", 1);
	sb_add(b, key, strlen(key));
	sb_add(b, "=", 1);
	_cleanup_free_ char *e = NULL;
	int r = kube_url_escape(value, &e);
	if (r < 0) {
		b->r = r;
		return;
	}
	sb_add(b, e, strlen(e));
}

int kube_list_path(const char *path, const struct kube_list_query *q, char **ret)
{
	if (!path || path[0] != '/' || !ret)
		return -EINVAL;
	struct strbuf b = {0};
	sb_add(&b, path, strlen(path));
	if (q) {
		char limit[24], timeout[24];
		(void)snprintf(limit, sizeof(limit), "%u", q->limit);
		(void)snprintf(timeout, sizeof(timeout), "%u", q->timeout_seconds);
		sb_param(&b, "labelSelector", q->label_selector);
		sb_param(&b, "fieldSelector", q->field_selector);
		sb_param(&b, "resourceVersion", q->resource_version);
		sb_param(&b, "continue", q->continue_token);
		sb_param(&b, "limit", q->limit ? limit : NULL);
		sb_param(&b, "watch", q->watch ? "1" : NULL);
		sb_param(&b, "allowWatchBookmarks", q->allow_watch_bookmarks ? "true" : NULL);
		sb_param(&b, "timeoutSeconds", q->timeout_seconds ? timeout : NULL);
	}
	if (b.r < 0) {
		free(b.s);
		return b.r;
	}
	*ret = b.s;
	return 0;
}

/* Server text for a message: control characters blanked, at most max bytes. */
static void clean_copy(char *dst, size_t size, const char *src, size_t max)
{
	size_t o = 0;
	for (; src && o < max && o + 1 < size && *src; src++)
		dst[o++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? ' ' : *src;
	dst[o] = '\0';
}

static const char *http_phrase(long code)
{
	switch (code) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "";
	}
}

static int http_errno(long code)
{
	switch (code) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 410:
		return -ESTALE;
	default:
		if (kube_retry_classify(0, code, 0) == KUBE_RETRY_AGAIN)
			return -EAGAIN;
		return -EIO;
	}
}

/* Status fields of obj (may be NULL or not a Status). */
static void status_fields(const json_t *obj, const char **message, const char **reason,
			  json_int_t *code, json_int_t *retry_after_s)
{
	*message = *reason = NULL;
	*code = 0;
	*retry_after_s = 0;
	if (!json_is_object(obj))
		return;
	*message = json_string_value(json_object_get(obj, "message"));
	*reason = json_string_value(json_object_get(obj, "reason"));
	json_t *c = json_object_get(obj, "code");
	if (json_is_integer(c))
		*code = json_integer_value(c);
	json_t *d = json_object_get(obj, "details");
	json_t *ra = json_is_object(d) ? json_object_get(d, "retryAfterSeconds") : NULL;
	if (json_is_integer(ra) && json_integer_value(ra) > 0 && json_integer_value(ra) < 24 * 3600)
		*retry_after_s = json_integer_value(ra);
}

static int status_error(long http_code, const json_t *obj, const char *raw, size_t raw_len,
			const char *what, struct kube_status *status, struct error *err)
{
	const char *message, *reason;
	json_int_t code, retry_after_s;
	status_fields(obj, &message, &reason, &code, &retry_after_s);
	if (http_code <= 0 && code > 0 && code < 1000)
		http_code = (long)code;

	char msg[256], rsn[64];
	if (message)
		clean_copy(msg, sizeof(msg), message, 200);
	else if (raw && raw_len > 0)
		/* Not a Status (a proxy's page?): show its start. */
		clean_copy(msg, sizeof(msg), raw, raw_len < 120 ? raw_len : 120);
	else
		(void)snprintf(msg, sizeof(msg), "no details in the answer");
	clean_copy(rsn, sizeof(rsn), reason, sizeof(rsn) - 1);
	if (status) {
		memcpy(status->reason, rsn, sizeof(status->reason));
		if (!status->retry_after_ms && retry_after_s > 0)
			status->retry_after_ms = (uint64_t)retry_after_s * 1000;
		if (!status->http_code)
			status->http_code = http_code;
	}

	int r = http_errno(http_code);
	enum error_kind kind = kube_retry_classify(0, http_code, 0) == KUBE_RETRY_AGAIN
				       ? ERR_TRANSIENT
				       : ERR_API;
	const char *w = what ? what : "request";
	if (http_code == 401)
		return error_set(err, kind, r,
				 "Kubernetes API rejected the credentials (401 Unauthorized) for "
				 "%s: %s; check the token in the kubeconfig (expired or revoked "
				 "service-account token?)",
				 w, msg);
	if (http_code == 403)
		return error_set(err, kind, r,
				 "Kubernetes API denied access (403 Forbidden) for %s: %s; check "
				 "the istio-cni ServiceAccount's RBAC",
				 w, msg);
	const char *phrase = http_phrase(http_code);
	return error_set(err, kind, r, "Kubernetes API answered %ld%s%s%s%s%s for %s: %s",
			 http_code, phrase[0] ? " " : "", phrase, rsn[0] ? " (" : "", rsn,
			 rsn[0] ? ")" : "", w, msg);
}

int kube_status_to_error(long http_code, const char *body, size_t len, const char *what,
			 struct kube_status *status, struct error *err)
{
	json_t *obj = NULL;
	if (body && len > 0)
		obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	int r = status_error(http_code, obj, body, len, what, status, err);
	json_decref(obj);
	return r;
}

int kube_watch_error(const json_t *object, struct kube_status *status, struct error *err)
{
	return status_error(0, object, NULL, 0, "watch", status, err);
}

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
	clean_copy(t, sizeof(t), type, 32);
	return error_set(err, ERR_DECODE, -EBADMSG, "unknown watch event type \"%s\"", t);
}

/* --- Requests --- */

struct body {
	char *data;
	size_t len, cap, max;
	bool too_big;
};

/* Appends n bytes; false when over the cap (too_big set) or out of memory. */
static bool body_append(struct body *b, const char *p, size_t n)
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
	return body_append(userdata, ptr, n) ? n : 0;
}

static int set_writer(struct kube_client *c, curl_write_callback fn, void *userdata)
{
	if (curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, fn) != CURLE_OK ||
	    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, userdata) != CURLE_OK)
		return -EINVAL;
	return 0;
}

static void slist_wipe_free(struct curl_slist *l)
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
	slist_wipe_free(l);
	return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
}

/* timeout_ms: the bound the request ran under, for the message. */
static int transport_error(struct kube_client *c, CURLcode code, uint64_t timeout_ms,
			   const char *what, struct error *err)
{
	const char *detail = c->errbuf[0] ? c->errbuf : curl_easy_strerror(code);
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

static int build_url(struct kube_client *c, const char *path, char **ret, struct error *err)
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

/* Sets up c->h for one request; *ret_headers is the caller's to wipe and free. */
static int prepare(struct kube_client *c, const char *method, const char *url, const char *body,
		   const char *content_type, bool watch, struct curl_slist **ret_headers,
		   struct error *err)
{
	curl_easy_reset(c->h);
	c->errbuf[0] = '\0';
	int r = apply_base(c, err);
	if (r < 0)
		return r;

	struct curl_slist *headers = NULL;
	r = make_headers(c, content_type, &headers, err);
	if (r < 0)
		return r;

	long timeout = (long)(watch ? c->opts.watch_timeout_ms : c->opts.timeout_ms);
	if (set_ptr(c, CURLOPT_URL, url) < 0 || set_ptr(c, CURLOPT_HTTPHEADER, headers) < 0 ||
	    set_long(c, CURLOPT_TIMEOUT_MS, timeout) < 0)
		r = -EINVAL;
	if (r == 0 && !watch)
		r = set_off(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->opts.max_response_bytes);
	if (r == 0) {
		if (strcmp(method, "GET") == 0) {
			r = set_long(c, CURLOPT_HTTPGET, 1L);
		} else {
			if (strcmp(method, "POST") != 0)
				r = set_ptr(c, CURLOPT_CUSTOMREQUEST, method);
			if (r == 0)
				r = set_ptr(c, CURLOPT_POSTFIELDS, body ? body : "");
			if (r == 0)
				r = set_off(c, CURLOPT_POSTFIELDSIZE_LARGE,
					    (curl_off_t)(body ? strlen(body) : 0));
		}
	}
	if (r < 0) {
		slist_wipe_free(headers);
		return error_set(err, ERR_INTERNAL, r, "libcurl refused the request options");
	}
	*ret_headers = headers;
	return 0;
}

static bool flag_set(const atomic_bool *f)
{
	return f && atomic_load(f);
}

/*
 * libcurl's progress callback, there only to abort a transfer on request
 * and to give a watch its ticks: libcurl calls it many times a second while
 * data flows and about once a second while a transfer waits, connect and
 * TLS handshake included.
 */
struct progress {
	const struct kube_client *c;
	const atomic_bool *stop; /* the request's own; may be NULL */
	kube_tick_cb tick;
	void *tick_userdata;
	uint64_t last_tick_ms;
	int tick_r; /* the tick's non-zero return */
	bool cancelled;
};

static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct progress *p = clientp;
	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (flag_set(p->stop) || flag_set(p->c->cancel)) {
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
	if (flag_set(p->stop) || flag_set(p->c->cancel)) {
		p->cancelled = true;
		return 1;
	}
	return 0;
}

/* Installs on_progress when there is something for it to do. */
static int set_progress(struct kube_client *c, struct progress *p)
{
	if (!p->stop && !p->c->cancel && !p->tick)
		return 0;
	p->last_tick_ms = monotonic_ms();
	curl_xferinfo_callback fn = on_progress;
	if (curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, fn) != CURLE_OK ||
	    curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, p) != CURLE_OK ||
	    set_long(c, CURLOPT_NOPROGRESS, 0L) < 0)
		return -EINVAL;
	return 0;
}

static int cancelled_error(const struct kube_client *c, const char *what, struct error *err)
{
	return error_set(err, ERR_TRANSIENT, -ECANCELED, "%s on the Kubernetes API at %s cancelled",
			 what, c->server);
}

static void collect_status(struct kube_client *c, CURLcode code, struct kube_status *st)
{
	long http = 0;
	curl_off_t ra = 0;
	(void)curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &http);
	if (curl_easy_getinfo(c->h, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra < 0)
		ra = 0;
	if (ra > 24 * 3600)
		ra = 24 * 3600;
	*st = (struct kube_status){
		.http_code = http,
		.curl_code = (int)code,
		.retry_after_ms = (uint64_t)ra * 1000,
	};
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
	int r = build_url(c, path, &url, err);
	if (r < 0)
		return r;

	struct curl_slist *headers = NULL;
	r = prepare(c, method, url, body, content_type, false, &headers, err);
	if (r < 0)
		return r;

	struct body b = {.max = c->opts.max_response_bytes};
	struct progress prog = {.c = c};
	if (set_writer(c, body_write, &b) < 0 || set_progress(c, &prog) < 0) {
		slist_wipe_free(headers);
		free(b.data);
		return error_set(err, ERR_INTERNAL, -EINVAL, "libcurl refused the callbacks");
	}
	if (flag_set(c->cancel)) {
		slist_wipe_free(headers);
		return cancelled_error(c, what, err);
	}
	CURLcode code = curl_easy_perform(c->h);
	/* The header list held the token: clear it and unhook it at once. */
	(void)set_ptr(c, CURLOPT_HTTPHEADER, NULL);
	slist_wipe_free(headers);

	collect_status(c, code, &c->last);
	_cleanup_free_ char *data = b.data;
	if (prog.cancelled)
		r = cancelled_error(c, what, err);
	else if (b.too_big || code == CURLE_FILESIZE_EXCEEDED)
		r = error_set(err, ERR_API, -EFBIG,
			      "answer to %s is larger than the %zu-byte limit", what,
			      c->opts.max_response_bytes);
	else if (code != CURLE_OK)
		r = transport_error(c, code, c->opts.timeout_ms, what, err);
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

/* --- Watch --- */

struct watch {
	struct kube_client *c;
	kube_watch_cb cb;
	void *userdata;
	struct error *err;

	bool checked, ok; /* response code looked at; 2xx */
	struct body line; /* the partial line; max = line cap */
	struct body errbody;
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
		if (take > 0 && !body_append(&w->errbody, ptr, take))
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
			if (!body_append(&w->line, p, chunk)) {
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
	int r = build_url(c, path, &url, err);
	if (r < 0)
		return r;

	struct curl_slist *headers = NULL;
	r = prepare(c, "GET", url, NULL, NULL, true, &headers, err);
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
	struct progress prog = {.c = c};
	if (opts) {
		prog.stop = opts->stop;
		prog.tick = opts->tick;
		prog.tick_userdata = opts->tick_userdata;
	}
	uint64_t timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
						       : c->opts.watch_timeout_ms;
	if (timeout_ms > INT32_MAX)
		timeout_ms = INT32_MAX;
	if (set_writer(c, watch_write, &w) < 0 || set_progress(c, &prog) < 0 ||
	    set_long(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms) < 0) {
		slist_wipe_free(headers);
		return error_set(err, ERR_INTERNAL, -EINVAL, "libcurl refused the watch options");
	}
	if (flag_set(prog.stop) || flag_set(c->cancel)) {
		slist_wipe_free(headers);
		return cancelled_error(c, what, err);
	}
	CURLcode code = curl_easy_perform(c->h);
	(void)set_ptr(c, CURLOPT_HTTPHEADER, NULL);
	slist_wipe_free(headers);
	collect_status(c, code, &c->last);

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
		r = cancelled_error(c, what, err);
	else if (w.checked && !w.ok)
		r = kube_status_to_error(c->last.http_code, ebody, w.errbody.len, what, &c->last,
					 err);
	else if (code != CURLE_OK)
		r = transport_error(c, code, timeout_ms, what, err);
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
