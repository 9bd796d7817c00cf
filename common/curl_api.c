// SPDX-License-Identifier: Apache-2.0
#include "curl_api.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool global_done;
static struct curl_api shared;
static bool shared_loaded;

/* Resolves name into *slot; the function-pointer cast is the dlsym idiom. */
static int sym(void *handle, const char *soname, const char *name, void *slot, struct error *err)
{
	(void)dlerror();
	void *p = dlsym(handle, name);
	if (!p) {
		const char *e = dlerror();
		return error_set(err, ERR_INTERNAL, -ENOENT, "%s has no symbol %s: %s", soname,
				 name, e ? e : "not found");
	}
	memcpy(slot, &p, sizeof(p));
	return 0;
}

int curl_api_load_from(const char *soname, struct curl_api *api, struct error *err)
{
	if (!soname || !api)
		return error_set(err, ERR_INTERNAL, -EINVAL, "curl_api_load: no library");

	struct curl_api a = {0};
	a.handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!a.handle) {
		const char *e = dlerror();
		return error_set(err, ERR_INTERNAL, -ENOENT,
				 "cannot load %s, needed to talk to the Kubernetes API: %s "
				 "(install libcurl4)",
				 soname, e ? e : "unknown error");
	}

	static const struct {
		const char *name;
		size_t offset;
	} syms[] = {
#define S(field, name) {name, offsetof(struct curl_api, field)}
		S(global_init, "curl_global_init"),
		S(version_info, "curl_version_info"),
		S(easy_init, "curl_easy_init"),
		S(easy_setopt, "curl_easy_setopt"),
		S(easy_perform, "curl_easy_perform"),
		S(easy_getinfo, "curl_easy_getinfo"),
		S(easy_reset, "curl_easy_reset"),
		S(easy_cleanup, "curl_easy_cleanup"),
		S(easy_strerror, "curl_easy_strerror"),
		S(easy_pause, "curl_easy_pause"),
		S(slist_append, "curl_slist_append"),
		S(slist_free_all, "curl_slist_free_all"),
		S(multi_init, "curl_multi_init"),
		S(multi_setopt, "curl_multi_setopt"),
		S(multi_add_handle, "curl_multi_add_handle"),
		S(multi_remove_handle, "curl_multi_remove_handle"),
		S(multi_socket_action, "curl_multi_socket_action"),
		S(multi_assign, "curl_multi_assign"),
		S(multi_info_read, "curl_multi_info_read"),
		S(multi_cleanup, "curl_multi_cleanup"),
		S(multi_strerror, "curl_multi_strerror"),
#undef S
	};
	int r = 0;
	for (size_t i = 0; i < ELEMENTSOF(syms) && r == 0; i++)
		r = sym(a.handle, soname, syms[i].name, (char *)&a + syms[i].offset, err);
	if (r < 0)
		goto fail;

	const curl_version_info_data *v = a.version_info(CURLVERSION_NOW);
	if (!v) {
		r = error_set(err, ERR_INTERNAL, -EPROTONOSUPPORT, "%s reports no version", soname);
		goto fail;
	}
	a.version_num = v->version_num;
	(void)snprintf(a.version, sizeof(a.version), "%s", v->version ? v->version : "?");
	if (v->version_num < CURL_API_MIN_VERSION) {
		r = error_set(err, ERR_INTERNAL, -EPROTONOSUPPORT,
			      "%s is version %s; %s or newer is needed", soname, a.version,
			      CURL_API_MIN_VERSION_STRING);
		goto fail;
	}
	if (!(v->features & CURL_VERSION_SSL)) {
		r = error_set(err, ERR_INTERNAL, -EPROTONOSUPPORT, "%s %s was built without TLS",
			      soname, a.version);
		goto fail;
	}

	/* curl_global_init is not thread-safe before 7.84: once, under the lock. */
	(void)pthread_mutex_lock(&lock);
	if (!global_done) {
		CURLcode c = a.global_init(CURL_GLOBAL_DEFAULT);
		if (c == CURLE_OK)
			global_done = true;
		else
			r = error_set(err, ERR_INTERNAL, -EIO, "curl_global_init failed: %s",
				      a.easy_strerror(c));
	}
	(void)pthread_mutex_unlock(&lock);
	if (r < 0)
		goto fail;

	*api = a;
	return 0;

fail:
	(void)dlclose(a.handle);
	return r;
}

int curl_api_load(struct curl_api *api, struct error *err)
{
	return curl_api_load_from(CURL_API_SONAME, api, err);
}

int curl_api_get(const struct curl_api **ret, struct error *err)
{
	int r = 0;
	(void)pthread_mutex_lock(&lock);
	bool loaded = shared_loaded;
	(void)pthread_mutex_unlock(&lock);
	if (!loaded) {
		struct curl_api a;
		r = curl_api_load(&a, err);
		if (r < 0)
			return r;
		(void)pthread_mutex_lock(&lock);
		if (!shared_loaded) {
			shared = a;
			shared_loaded = true;
		} else {
			/* Another thread won; drop our extra reference. */
			(void)dlclose(a.handle);
		}
		(void)pthread_mutex_unlock(&lock);
	}
	*ret = &shared;
	return r;
}
