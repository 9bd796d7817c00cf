// SPDX-License-Identifier: Apache-2.0
#include "kube/curl_api.h"

#include <errno.h>
#include <pthread.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_done;

const char *curl_api_version(void)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	return v && v->version ? v->version : "?";
}

int curl_api_init(struct error *err)
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
		CURLcode c = curl_global_init(CURL_GLOBAL_DEFAULT);
		if (c == CURLE_OK)
			global_done = true;
		else
			r = error_set(err, ERR_INTERNAL, -EIO, "curl_global_init failed: %s",
				      curl_easy_strerror(c));
	}
	(void)pthread_mutex_unlock(&lock);
	return r;
}
