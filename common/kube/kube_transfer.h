/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the Kubernetes client: the client's state and the transfer
 * steps its requests (kube_request.c) and watches (kube_watch.c) share.
 */
#ifndef ISTIO_CNI_KUBE_TRANSFER_H
#define ISTIO_CNI_KUBE_TRANSFER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/curl_api.h"
#include "kube/kube_client.h"
#include "util/error.h"

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
	/* Runs the requests when opts.while_waiting is set (kube_perform). */
	CURLM *multi;
};

/* Typed wrappers: the variadic setopt takes long, pointer or curl_off_t. */
int kube_set_long(struct kube_client *c, CURLoption o, long v);
int kube_set_ptr(struct kube_client *c, CURLoption o, const void *p);
int kube_set_off(struct kube_client *c, CURLoption o, curl_off_t v);

/*
 * The options every request starts from; applied after each easy_reset, which
 * keeps open connections and TLS sessions but forgets options.
 */
int kube_apply_base(struct kube_client *c, struct error *err) _must_check_;

/* Server text for a message: control characters blanked, at most max bytes. */
void kube_clean_copy(char *dst, size_t size, const char *src, size_t max);

/* A response body or a partial line, capped at max bytes. */
struct kube_body {
	char *data;
	size_t len, cap, max;
	bool too_big;
};

/* Appends n bytes; false when over max (too_big set) or out of memory. */
bool kube_body_append(struct kube_body *b, const char *p, size_t n);

int kube_set_writer(struct kube_client *c, curl_write_callback fn, void *userdata);

/* Frees a header list after wiping it: it holds the bearer token. */
void kube_slist_wipe_free(struct curl_slist *l);

/* timeout_ms: the bound the request ran under, for the message. */
int kube_transport_error(struct kube_client *c, CURLcode code, uint64_t timeout_ms,
			 const char *what, struct error *err);

/* c's server followed by path, which must start with '/' and hold no whitespace. */
int kube_build_url(struct kube_client *c, const char *path, char **ret, struct error *err)
	_must_check_;

/* Sets up c->h for one request; *ret_headers is the caller's to wipe and free. */
int kube_prepare(struct kube_client *c, const char *method, const char *url, const char *body,
		 const char *content_type, bool watch, struct curl_slist **ret_headers,
		 struct error *err) _must_check_;

bool kube_flag_set(const atomic_bool *f);

/*
 * libcurl's progress callback, there only to abort a transfer on request
 * and to give a watch its ticks: libcurl calls it many times a second while
 * data flows and about once a second while a transfer waits, connect and
 * TLS handshake included.
 */
struct kube_progress {
	const struct kube_client *c;
	const atomic_bool *stop; /* the request's own; may be NULL */
	kube_tick_cb tick;
	void *tick_userdata;
	uint64_t last_tick_ms;
	int tick_r; /* the tick's non-zero return */
	bool cancelled;
};

/* Installs the progress callback when there is something for it to do. */
int kube_set_progress(struct kube_client *c, struct kube_progress *p);

int kube_cancelled_error(const struct kube_client *c, const char *what, struct error *err);

/* HTTP code, curl code and Retry-After of the transfer just done. */
void kube_collect_status(struct kube_client *c, CURLcode code, struct kube_status *st);

/*
 * Runs the prepared transfer, then unhooks and wipes headers (they hold the
 * token) and records the outcome in c->last.
 */
CURLcode kube_perform(struct kube_client *c, struct curl_slist *headers);

#endif
