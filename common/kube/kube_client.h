/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small Kubernetes API client: GET/LIST, WATCH streamed line by line,
 * DELETE with preconditions, merge PATCH and POST, over libcurl (linked in:
 * HTTP and HTTPS with OpenSSL, names resolved by c-ares).
 *
 * TLS 1.2 or newer; the server certificate is always verified unless the
 * kubeconfig says insecure-skip-tls-verify, and then only against the
 * kubeconfig's CA when it has one (never the system store as well). The
 * bearer token is put into a header at request time (re-read from tokenFile
 * when that is how the kubeconfig gives it, so rotation works), wiped after
 * the request, and never logged; CURLOPT_VERBOSE is never set. No redirects
 * are followed.
 *
 * Errors: every non-2xx answer's Kubernetes Status body becomes the message
 * (ERR_API for 4xx, ERR_TRANSIENT for 408/429/5xx and transient transport
 * failures, see kube_retry.h); 401 names the token and 403 the RBAC.
 * struct kube_status gives the caller the HTTP code, Status reason and
 * Retry-After to tell them apart. Errno values: 400/422 -EINVAL, 401 -EACCES,
 * 403 -EPERM, 404 -ENOENT, 409 -EEXIST, 410 -ESTALE, 408/429/5xx -EAGAIN,
 * response over the cap -EFBIG, timeouts -ETIMEDOUT, connect -ECONNREFUSED,
 * name resolution -EHOSTUNREACH, TLS failures -EPROTO, other transport -EIO.
 *
 * A client is not thread-safe (one curl easy handle, kept for connection
 * reuse); use one per thread.
 */
#ifndef ISTIO_CNI_KUBE_CLIENT_H
#define ISTIO_CNI_KUBE_CLIENT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kubeconfig.h"
#include "util/cleanup.h"
#include "util/error.h"

#define KUBE_CLIENT_CONNECT_TIMEOUT_MS 5000
#define KUBE_CLIENT_TIMEOUT_MS 30000
#define KUBE_CLIENT_MAX_RESPONSE ((size_t)4 * 1024 * 1024)
#define KUBE_CLIENT_MAX_WATCH_LINE ((size_t)4 * 1024 * 1024)
/* How much of an error body is kept to decode its Status. */
#define KUBE_CLIENT_MAX_ERROR_BODY ((size_t)64 * 1024)
/*
 * Least time between two ticks of a watch (struct kube_watch_options). They
 * are driven by libcurl's progress callback, which runs many times a second
 * while data flows and about once a second on an idle stream: so a tick
 * comes every 0.5 to ~1 s whatever the stream does.
 */
#define KUBE_CLIENT_TICK_MS 500

struct kube_client_options {
	uint64_t connect_timeout_ms; /* 0: KUBE_CLIENT_CONNECT_TIMEOUT_MS */
	uint64_t timeout_ms;	     /* whole request except watches; 0: KUBE_CLIENT_TIMEOUT_MS */
	uint64_t watch_timeout_ms;   /* whole watch; 0: none (pass timeoutSeconds instead) */
	size_t max_response_bytes;   /* decoded body cap; 0: KUBE_CLIENT_MAX_RESPONSE */
	size_t max_watch_line_bytes; /* one watch event; 0: KUBE_CLIENT_MAX_WATCH_LINE */
	const char *user_agent;	     /* NULL: "istio-cni/<version>" */
	bool one_shot;		     /* short-lived process: one lookup, then exit */
	/*
	 * Work that does not need the answer, done while the server works on
	 * it: called once per request, once the request has gone out, by the
	 * thread making it (the answer waits for it). NULL: none.
	 */
	void (*while_waiting)(void *userdata);
	void *while_waiting_userdata;
};

/* What the last request got; filled on success and on failure. */
struct kube_status {
	long http_code;		 /* 0: no HTTP answer */
	int curl_code;		 /* CURLcode; 0 when the transfer completed */
	uint64_t retry_after_ms; /* Retry-After or Status details.retryAfterSeconds; 0: none */
	char reason[64];	 /* Status reason ("NotFound", "Conflict", "Expired"), or "" */
};

struct kube_client;

/*
 * Makes a client for kc (copied; kc may be freed afterwards). opts may be
 * NULL. Initialises libcurl once per process (curl_api_init), so this is the
 * point where the plugin pays for it. Errors: ERR_INTERNAL when libcurl is too
 * old or has no TLS, ERR_CONFIG for TLS material libcurl refuses.
 */
int kube_client_new(const struct kubeconfig *kc, const struct kube_client_options *opts,
		    struct kube_client **ret, struct error *err) _must_check_;
void kube_client_free(struct kube_client *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kube_client *, kube_client_free);

/*
 * A second client with c's server, TLS material, credentials (token or
 * tokenFile, re-read per request as for c) and options, and its own
 * connection: one thread can then keep a watch open on c while it writes
 * with the clone (libcurl never lets one handle make a request from inside
 * a callback of its own transfer). The cancel flag is not copied.
 */
int kube_client_clone(const struct kube_client *c, struct kube_client **ret, struct error *err)
	_must_check_;

/*
 * Every later request of c, watches included, is aborted within about a
 * second once *cancel is true, and fails with -ECANCELED (ERR_TRANSIENT).
 * NULL turns this off. The flag is borrowed: it must outlive its use by c.
 */
void kube_client_set_cancel(struct kube_client *c, const atomic_bool *cancel);

/* The status of the last request made with c. */
const struct kube_status *kube_client_last_status(const struct kube_client *c);

/*
 * GET path ("/api/v1/...", query included) and decode the JSON object
 * answered. status (may be NULL) is filled in any case. *ret is the caller's.
 */
int kube_client_get(struct kube_client *c, const char *path, json_t **ret,
		    struct kube_status *status, struct error *err) _must_check_;

/* LIST is a GET of a collection: returns the List object (items, metadata). */
int kube_client_list(struct kube_client *c, const char *path, json_t **ret,
		     struct kube_status *status, struct error *err) _must_check_;

/*
 * Called for each watch event ({"type": ..., "object": {...}}); the event is
 * borrowed (json_incref to keep it). Return 0 to go on, > 0 to stop the watch
 * cleanly, < 0 (a -errno) to stop it with that error.
 */
typedef int (*kube_watch_cb)(json_t *event, void *userdata);

/*
 * Streams path (which must ask for watch=1 or be a watch URL) and calls cb
 * for every event line. Returns the number of events delivered when the
 * server ends the stream or cb asks to stop; otherwise a negative errno:
 * the cb's own (err gets a note if cb left it empty), -EFBIG for a line over
 * max_watch_line_bytes, -EBADMSG (ERR_DECODE) for a line that is not an
 * event, or the request's error as for GET (a 410 Gone answer included).
 * ERROR events inside a 200 stream are passed to cb like any other; see
 * kube_watch_error().
 */
int kube_client_watch(struct kube_client *c, const char *path, kube_watch_cb cb, void *userdata,
		      struct kube_status *status, struct error *err) _must_check_;

/*
 * Called every KUBE_CLIENT_TICK_MS to about a second while a watch is open,
 * whether events flow or not, from the thread that called the watch and
 * never during cb: a consumer can do periodic work (retry timers, a
 * rate-limited queue) without ending the watch. It must not use the
 * watching client. Return 0 to go on, > 0 to stop the watch cleanly,
 * < 0 (a -errno) to stop it with that error.
 */
typedef int (*kube_tick_cb)(void *userdata);

struct kube_watch_options {
	/* When it becomes true the watch is aborted within about a second and
	 * returns -ECANCELED (ERR_TRANSIENT); may be NULL. Borrowed. */
	const atomic_bool *stop;
	kube_tick_cb tick; /* may be NULL */
	void *tick_userdata;
	/* Client-side bound of the whole watch, against a stream that hangs
	 * without ending; 0: the client's watch_timeout_ms. Keep it above the
	 * timeoutSeconds asked of the server. */
	uint64_t timeout_ms;
};

/*
 * kube_client_watch with options (NULL: none). A tick's non-zero return ends
 * the watch as a cb's would: > 0 returns the events delivered, < 0 returns
 * it (err gets a note if the tick left it empty). *stop or the client's
 * cancel flag: -ECANCELED, even when the server had not answered yet.
 */
int kube_client_watch_full(struct kube_client *c, const char *path, kube_watch_cb cb,
			   void *userdata, const struct kube_watch_options *opts,
			   struct kube_status *status, struct error *err) _must_check_;

/*
 * DELETE path with {"kind":"DeleteOptions","apiVersion":"v1","preconditions":
 * {"uid":uid,"resourceVersion":resource_version}} (each precondition omitted
 * when NULL); a changed object answers 409 Conflict (-EEXIST). *ret (may be
 * NULL) gets the answer (the object, or a Status).
 */
int kube_client_delete(struct kube_client *c, const char *path, const char *uid,
		       const char *resource_version, json_t **ret, struct kube_status *status,
		       struct error *err) _must_check_;

/* PATCH path (an object or a subresource such as .../status) with a JSON merge patch. */
int kube_client_patch(struct kube_client *c, const char *path, const json_t *merge_patch,
		      json_t **ret, struct kube_status *status, struct error *err) _must_check_;

/* POST body to path (an Event, ...). */
int kube_client_post(struct kube_client *c, const char *path, const json_t *body, json_t **ret,
		     struct kube_status *status, struct error *err) _must_check_;

/* GET /api/v1/namespaces/{ns}/pods/{name}; the status is kube_client_last_status(). */
int kube_client_get_pod(struct kube_client *c, const char *ns, const char *name, json_t **ret,
			struct error *err) _must_check_;

/* --- Pure helpers (no I/O), public for the tests and the fuzzers. --- */

/* Percent-encodes everything but RFC 3986 unreserved characters. */
int kube_url_escape(const char *s, char **ret) _must_check_;

/*
 * "/api/v1/namespaces/{ns}/pods[/{name}[/{subresource}]]" with each part
 * escaped; name and subresource may be NULL; ns NULL gives "/api/v1/pods"
 * (all namespaces, name must then be NULL). Empty parts, "." and ".." are
 * -EINVAL.
 */
int kube_pod_path(const char *ns, const char *name, const char *subresource, char **ret)
	_must_check_;

struct kube_list_query {
	const char *label_selector;
	const char *field_selector;
	const char *resource_version;
	const char *continue_token;
	unsigned limit;		  /* 0: none */
	unsigned timeout_seconds; /* 0: none */
	bool watch;
	bool allow_watch_bookmarks;
};

/* path + "?" + the set parameters, escaped, in a fixed order. */
int kube_list_path(const char *path, const struct kube_list_query *q, char **ret) _must_check_;

/*
 * Turns a non-2xx answer into err and a negative errno (mapping above); body
 * (len bytes, may be NULL) is decoded as a Kubernetes Status when it is one.
 * what names the request ("GET /api/v1/..."). Fills status->reason and,
 * when the Status carries details.retryAfterSeconds and status has no
 * Retry-After yet, status->retry_after_ms. status may be NULL.
 */
int kube_status_to_error(long http_code, const char *body, size_t len, const char *what,
			 struct kube_status *status, struct error *err);

/*
 * Decodes one watch line into {"type": string, "object": object}; -EBADMSG
 * (ERR_DECODE) otherwise. *ret is the caller's.
 */
int kube_watch_line_decode(const char *line, size_t len, json_t **ret, struct error *err)
	_must_check_;

enum kube_watch_type {
	KUBE_WATCH_ADDED,
	KUBE_WATCH_MODIFIED,
	KUBE_WATCH_DELETED,
	KUBE_WATCH_BOOKMARK,
	KUBE_WATCH_ERROR,
};

struct kube_watch_event {
	enum kube_watch_type type;
	json_t *object;		      /* borrowed from the event */
	const char *resource_version; /* borrowed; NULL when absent */
};

/* Splits a decoded event; an unknown type is -EBADMSG (ERR_DECODE). */
int kube_watch_event_parse(json_t *event, struct kube_watch_event *ret, struct error *err)
	_must_check_;

/*
 * For an ERROR event: its Status object as an error (410 Expired → -ESTALE,
 * the caller relists). Fills status (may be NULL) with code and reason.
 */
int kube_watch_error(const json_t *object, struct kube_status *status, struct error *err);

#endif
