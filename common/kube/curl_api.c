// SPDX-License-Identifier: Apache-2.0
#include "kube/curl_api.h"

#include <errno.h>
#include <pthread.h>

#ifdef ISTIO_CNI_OPENSSL_LEAN_INIT
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_done;

const char *curl_api_version(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	return v && v->version ? v->version : "?";
}

/*
 * The static build links the OpenSSL it was compiled against, so it can set
 * OpenSSL up before libcurl does. Left to libcurl, OpenSSL fills a table of
 * every cipher under its legacy names (EVP_get_cipherbyname) that TLS never
 * reads: libssl fetches its ciphers from the provider. Skipping it takes 66 KB
 * of heap and about 0.3 ms off every plugin run that asks the API server. The
 * digest table stays: certificate verification looks digests up by NID to rate
 * a signature's strength and rejects the chain without it. Only legacy
 * encrypted PEM keys would need the cipher names; kubeconfig keys are never
 * encrypted. openssl.cnf stays unread, as libcurl is built to do.
 *
 * A short-lived process (the plugin, one pod lookup per run) also skips
 * OpenSSL's clean-up at exit, which frees every table it built (a million
 * instructions, for a process about to end), and its error strings, which the
 * first SSL_CTX_new loads: some 3,500 entries hashed, two million
 * instructions, to name a failure that a pod's ADD almost never has. Its
 * messages then carry OpenSSL's error code (error:0A00010B:lib(20)::reason(267),
 * named after it by tls_error_name when it is one an API server connection
 * runs into; "openssl errstr" names any), next to libcurl's own words and
 * ours; the agent, which talks to the same API server with the same
 * kubeconfig, keeps the strings.
 */
static int openssl_init(bool one_shot, struct error *err)
{
#ifdef ISTIO_CNI_OPENSSL_LEAN_INIT
	uint64_t opts = OPENSSL_INIT_NO_ADD_ALL_CIPHERS | OPENSSL_INIT_NO_LOAD_CONFIG;
	if (one_shot)
		opts |= OPENSSL_INIT_NO_ATEXIT | OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS;
	if (OPENSSL_init_crypto(opts, NULL) != 1 ||
	    (one_shot &&
	     OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_SSL_STRINGS | OPENSSL_INIT_NO_LOAD_CONFIG,
			      NULL) != 1))
		return error_set(err, ERR_INTERNAL, -EIO, "OpenSSL's initialisation failed");
#else
	(void)one_shot;
	(void)err;
#endif
	return 0;
}

int curl_api_init(bool one_shot, struct error *err)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	if (!v)
		return error_set(err, ERR_INTERNAL, -EPROTONOSUPPORT, "libcurl reports no version");
	if (v->version_num < CURL_API_MIN_VERSION)
		return error_set(err, ERR_INTERNAL, -EPROTONOSUPPORT,
				 "libcurl is version %s; %s or newer is needed", curl_api_version(),
				 CURL_API_MIN_VERSION_STRING);
	if (!(v->features & CURL_VERSION_SSL))
		return error_set(err, ERR_INTERNAL, -EPROTONOSUPPORT,
				 "libcurl %s was built without TLS", curl_api_version());

	int r = 0;
	(void)pthread_mutex_lock(&lock);
	if (!global_done) {
		r = openssl_init(one_shot, err);
		if (r >= 0) {
			CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
			if (c == CURLE_OK)
				global_done = true;
			else
				r = error_set(err, ERR_INTERNAL, -EIO,
					      "curl_global_init failed: %s", curl_easy_strerror(c));
		}
	}
	(void)pthread_mutex_unlock(&lock);
	return r;
}
