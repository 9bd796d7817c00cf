/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl, loaded on demand.
 *
 * The plugin runs once per pod start and most runs never talk to the API
 * server (pass-through, excluded namespace, the agent answered), while linking
 * libcurl costs ~4 ms of dynamic loading per exec (SPEC 8). So nothing in
 * common/ links libcurl: <curl/curl.h> is included for types and constants
 * only, and every call goes through this table, filled by dlopen("libcurl.so.4")
 * the first time a client is made.
 *
 * Members deliberately do not carry the curl_ prefix: curl.h defines
 * curl_easy_setopt() and friends as type-checking macros under GCC, and a
 * member of the same name would be expanded by them.
 */
#ifndef ISTIO_CNI_CURL_API_H
#define ISTIO_CNI_CURL_API_H

#include <curl/curl.h>

#include "cleanup.h"
#include "error.h"

#define CURL_API_SONAME "libcurl.so.4"
/* CURLOPT_CAINFO_BLOB (7.77.0) is the newest thing the client needs. */
#define CURL_API_MIN_VERSION 0x074d00
#define CURL_API_MIN_VERSION_STRING "7.77.0"

struct curl_api {
	void *handle; /* from dlopen; never closed (libcurl keeps global state) */

	CURLcode (*global_init)(long flags);
	curl_version_info_data *(*version_info)(CURLversion age);

	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_reset)(CURL *h);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode code);
	CURLcode (*easy_pause)(CURL *h, int bitmask);

	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);

	/* For event loops (the agent): the multi socket interface. */
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *m, CURLMoption opt, ...);
	CURLMcode (*multi_add_handle)(CURLM *m, CURL *h);
	CURLMcode (*multi_remove_handle)(CURLM *m, CURL *h);
	CURLMcode (*multi_socket_action)(CURLM *m, curl_socket_t s, int ev_bitmask,
					 int *running_handles);
	CURLMcode (*multi_assign)(CURLM *m, curl_socket_t s, void *sockp);
	CURLMsg *(*multi_info_read)(CURLM *m, int *msgs_in_queue);
	CURLMcode (*multi_cleanup)(CURLM *m);
	const char *(*multi_strerror)(CURLMcode code);

	unsigned version_num; /* 0xXXYYZZ of the loaded library */
	char version[32];
};

/*
 * Fills api from CURL_API_SONAME: dlopen(RTLD_NOW | RTLD_LOCAL), dlsym of every
 * member, a version check (>= CURL_API_MIN_VERSION, with TLS support), and
 * curl_global_init(CURL_GLOBAL_DEFAULT) once per process. Returns 0, or
 * -ENOENT (ERR_INTERNAL, message names the library and dlerror()) when the
 * library or a symbol is missing, -EPROTONOSUPPORT when it is too old or has
 * no TLS. Thread-safe; loading twice is cheap (dlopen is reference-counted).
 */
int curl_api_load(struct curl_api *api, struct error *err) _must_check_;

/* Same, from another soname or path (tests: a missing library). */
int curl_api_load_from(const char *soname, struct curl_api *api, struct error *err) _must_check_;

/*
 * The process-wide table, loaded on first use and kept. *ret stays valid for
 * the life of the process. A failed load is retried on the next call.
 */
int curl_api_get(const struct curl_api **ret, struct error *err) _must_check_;

#endif
