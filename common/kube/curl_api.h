/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libcurl's process-wide set-up, done once before the first client.
 *
 * libcurl is linked in (statically in the default build): HTTP and HTTPS
 * only, OpenSSL for TLS, c-ares for names. curl_global_init is not
 * thread-safe before 7.84, so every caller goes through curl_api_init.
 */
#ifndef ISTIO_CNI_CURL_API_H
#define ISTIO_CNI_CURL_API_H

#include <curl/curl.h>
#include <stdbool.h>

#include "util/error.h"

/* CURLOPT_CAINFO_BLOB (7.77.0) is the newest thing the client needs. */
#define CURL_API_MIN_VERSION 0x074d00
#define CURL_API_MIN_VERSION_STRING "7.77.0"

/*
 * curl_global_init(CURL_GLOBAL_DEFAULT) once per process, after checking that
 * the library is >= CURL_API_MIN_VERSION and has TLS. Returns 0, or
 * -EPROTONOSUPPORT (ERR_INTERNAL) when the library is too old or has no TLS,
 * -EIO when the init fails. Thread-safe; a failed init is retried next call.
 * one_shot (a short-lived process: the plugin reads one pod, then exits)
 * trades OpenSSL's error strings and exit clean-up for start-up time (see
 * curl_api.c); the first call of the process decides.
 */
int curl_api_init(bool one_shot, struct error *err) _must_check_;

/* The library's version string ("8.x.y"), for messages. */
const char *curl_api_version(void);

#endif
