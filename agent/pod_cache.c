// SPDX-License-Identifier: Apache-2.0
#include "pod_cache.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kube/pod_watch.h"
#include "metrics.h"
#include "util/log.h"
#include "util/monotonic.h"
#include "util/strv.h"

struct entry {
	struct entry *next;
	char *key; /* "ns/name" */
	char *uid;
	char *json;
	size_t len;
};

struct pod_cache {
	pthread_mutex_t lock;
	pthread_cond_t changed; /* any update, sync change, or stop */
	struct entry **buckets;
	size_t n_buckets;
	size_t n_entries;
	bool synced;
	unsigned sync_failures;	    /* failed requests since the cache was last synced */
	char sync_error[256];	    /* the last of them */
	uint64_t last_sync_warn_ms; /* 0: none since the last sync */

	struct agent_metrics *metrics;

	pthread_t thread;
	bool thread_running;
	atomic_bool stop;
	struct kube_client *client;
	char *field_selector;
};

static uint64_t hash_key(const char *s)
{
	uint64_t h = UINT64_C(1469598103934665603);
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= UINT64_C(1099511628211);
	}
	return h;
}

static void entry_free(struct entry *e)
{
	if (!e)
		return;
	free(e->key);
	free(e->uid);
	free(e->json);
	free(e);
}

int pod_cache_new(struct agent_metrics *metrics, struct pod_cache **ret)
{
	struct pod_cache *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->n_buckets = 64;
	pc->buckets = calloc(pc->n_buckets, sizeof(*pc->buckets));
	if (!pc->buckets) {
		free(pc);
		return -ENOMEM;
	}
	pthread_condattr_t ca;
	int r = pthread_condattr_init(&ca);
	if (r == 0) {
		r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		if (r == 0)
			r = pthread_cond_init(&pc->changed, &ca);
		(void)pthread_condattr_destroy(&ca);
	}
	if (r != 0) {
		free(pc->buckets);
		free(pc);
		return -r;
	}
	r = pthread_mutex_init(&pc->lock, NULL);
	if (r != 0) {
		(void)pthread_cond_destroy(&pc->changed);
		free(pc->buckets);
		free(pc);
		return -r;
	}
	pc->metrics = metrics;
	atomic_init(&pc->stop, false);
	*ret = pc;
	return 0;
}

void pod_cache_free(struct pod_cache *pc)
{
	if (!pc)
		return;
	pod_cache_stop(pc);
	for (size_t i = 0; i < pc->n_buckets; i++) {
		struct entry *e = pc->buckets[i];
		while (e) {
			struct entry *next = e->next;
			entry_free(e);
			e = next;
		}
	}
	free(pc->buckets);
	free(pc->field_selector);
	(void)pthread_mutex_destroy(&pc->lock);
	(void)pthread_cond_destroy(&pc->changed);
	free(pc);
}

static int make_key(const char *ns, const char *name, char **ret)
{
	if (!ns || !name || !*ns || !*name)
		return -EINVAL;
	if (asprintf(ret, "%s/%s", ns, name) < 0)
		return -ENOMEM;
	return 0;
}

/* With the lock held: the link that points at key's entry (or at NULL). */
static struct entry **find(struct pod_cache *pc, const char *key)
{
	struct entry **p = &pc->buckets[hash_key(key) % pc->n_buckets];
	while (*p && strcmp((*p)->key, key) != 0)
		p = &(*p)->next;
	return p;
}

/* With the lock held: doubles the table when it is more than 3/4 full. */
static void maybe_grow(struct pod_cache *pc)
{
	if (pc->n_entries * 4 <= pc->n_buckets * 3)
		return;
	size_t n = pc->n_buckets * 2;
	struct entry **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* still correct, only slower */
	for (size_t i = 0; i < pc->n_buckets; i++) {
		struct entry *e = pc->buckets[i];
		while (e) {
			struct entry *next = e->next;
			size_t h = hash_key(e->key) % n;
			e->next = b[h];
			b[h] = e;
			e = next;
		}
	}
	free(pc->buckets);
	pc->buckets = b;
	pc->n_buckets = n;
}

int pod_cache_put(struct pod_cache *pc, const char *ns, const char *name, const char *uid,
		  const char *json, size_t len)
{
	if (!uid || !json)
		return -EINVAL;
	_cleanup_free_ char *key = NULL;
	int r = make_key(ns, name, &key);
	if (r < 0)
		return r;
	char *u = strdup(uid);
	char *j = malloc(len + 1);
	if (!u || !j) {
		free(u);
		free(j);
		return -ENOMEM;
	}
	memcpy(j, json, len);
	j[len] = '\0';

	(void)pthread_mutex_lock(&pc->lock);
	struct entry **p = find(pc, key);
	if (*p) {
		free((*p)->uid);
		free((*p)->json);
		(*p)->uid = u;
		(*p)->json = j;
		(*p)->len = len;
	} else {
		struct entry *e = calloc(1, sizeof(*e));
		if (!e) {
			(void)pthread_mutex_unlock(&pc->lock);
			free(u);
			free(j);
			return -ENOMEM;
		}
		e->key = TAKE_PTR(key);
		e->uid = u;
		e->json = j;
		e->len = len;
		*p = e;
		pc->n_entries++;
		maybe_grow(pc);
	}
	size_t n = pc->n_entries;
	(void)pthread_cond_broadcast(&pc->changed);
	(void)pthread_mutex_unlock(&pc->lock);
	agent_metrics_set_pod_cache_size(pc->metrics, n);
	return 0;
}

int pod_cache_delete(struct pod_cache *pc, const char *ns, const char *name, const char *uid)
{
	_cleanup_free_ char *key = NULL;
	int r = make_key(ns, name, &key);
	if (r < 0)
		return r;
	(void)pthread_mutex_lock(&pc->lock);
	struct entry **p = find(pc, key);
	struct entry *e = *p;
	if (e && (!uid || strcmp(e->uid, uid) == 0)) {
		*p = e->next;
		pc->n_entries--;
		(void)pthread_cond_broadcast(&pc->changed);
	} else {
		e = NULL;
		r = -ENOENT;
	}
	size_t n = pc->n_entries;
	(void)pthread_mutex_unlock(&pc->lock);
	entry_free(e);
	agent_metrics_set_pod_cache_size(pc->metrics, n);
	return r;
}

void pod_cache_set_synced(struct pod_cache *pc, bool synced)
{
	agent_metrics_set_pod_cache_synced(pc->metrics, synced);
	(void)pthread_mutex_lock(&pc->lock);
	pc->synced = synced;
	if (synced) {
		pc->sync_failures = 0;
		pc->sync_error[0] = '\0';
		pc->last_sync_warn_ms = 0;
	}
	(void)pthread_cond_broadcast(&pc->changed);
	(void)pthread_mutex_unlock(&pc->lock);
}

void pod_cache_sync_failed(struct pod_cache *pc, const char *why)
{
	(void)pthread_mutex_lock(&pc->lock);
	if (pc->synced) {
		(void)pthread_mutex_unlock(&pc->lock);
		return;
	}
	pc->sync_failures++;
	(void)snprintf(pc->sync_error, sizeof(pc->sync_error), "%s", why);
	uint64_t now = monotonic_ms();
	bool warn = pc->last_sync_warn_ms == 0 ||
		    now - pc->last_sync_warn_ms >= POD_CACHE_SYNC_WARN_INTERVAL_MS;
	if (warn)
		pc->last_sync_warn_ms = now;
	unsigned n = pc->sync_failures;
	(void)pthread_mutex_unlock(&pc->lock);
	agent_metrics_count_pod_cache_sync_failure(pc->metrics);
	if (warn)
		log_warn("pod cache: not synced after %u failed request(s): %s", n, why);
}

bool pod_cache_healthy(struct pod_cache *pc, char *why, size_t len)
{
	(void)pthread_mutex_lock(&pc->lock);
	bool ok = pc->synced || pc->sync_failures == 0;
	if (!ok && why && len > 0)
		(void)snprintf(why, len, "pod cache not synced after %u failed request(s): %s",
			       pc->sync_failures, pc->sync_error);
	(void)pthread_mutex_unlock(&pc->lock);
	return ok;
}

size_t pod_cache_size(struct pod_cache *pc)
{
	(void)pthread_mutex_lock(&pc->lock);
	size_t n = pc->n_entries;
	(void)pthread_mutex_unlock(&pc->lock);
	return n;
}

static const char *meta_string(json_t *pod, const char *key)
{
	json_t *meta = json_object_get(pod, "metadata");
	const char *s = json_string_value(json_object_get(meta, key));
	return s && *s ? s : NULL;
}

int pod_cache_apply_event(struct pod_cache *pc, enum kube_watch_type type, json_t *pod,
			  struct error *err)
{
	const char *ns = meta_string(pod, "namespace");
	const char *name = meta_string(pod, "name");
	const char *uid = meta_string(pod, "uid");
	if (!ns || !name || !uid)
		return error_set(err, ERR_DECODE, -EBADMSG,
				 "pod event without metadata.namespace, name and uid");
	switch (type) {
	case KUBE_WATCH_ADDED:
	case KUBE_WATCH_MODIFIED: {
		_cleanup_free_ char *text = json_dumps(pod, JSON_COMPACT);
		if (!text)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "cannot encode pod %s/%s", ns,
					 name);
		int r = pod_cache_put(pc, ns, name, uid, text, strlen(text));
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "cannot cache pod %s/%s", ns, name);
		return 0;
	}
	case KUBE_WATCH_DELETED:
		(void)pod_cache_delete(pc, ns, name, uid);
		return 0;
	default:
		return 0;
	}
}

static struct timespec deadline_after(unsigned ms)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int pod_cache_lookup(struct pod_cache *pc, const char *ns, const char *name, const char *uid,
		     unsigned wait_ms, char **ret_json, size_t *ret_len)
{
	_cleanup_free_ char *key = NULL;
	int r = make_key(ns, name, &key);
	if (r < 0)
		return r;
	if (uid && !*uid)
		uid = NULL;

	struct timespec deadline = deadline_after(wait_ms);
	char *copy = NULL;
	size_t len = 0;
	(void)pthread_mutex_lock(&pc->lock);
	for (;;) {
		/* Unsynced (not listed yet, or the watch is down): any entry may be
		 * stale, and a pod recreated under its name would be served. */
		if (!pc->synced) {
			r = -EAGAIN;
			break;
		}
		struct entry *e = *find(pc, key);
		if (e && (!uid || strcmp(e->uid, uid) == 0)) {
			copy = malloc(e->len + 1);
			if (copy) {
				memcpy(copy, e->json, e->len + 1);
				len = e->len;
				r = 0;
			} else {
				r = -ENOMEM;
			}
			break;
		}
		r = e ? -ESTALE : -ENOENT;
		if (atomic_load(&pc->stop))
			break;
		int w = pthread_cond_timedwait(&pc->changed, &pc->lock, &deadline);
		if (w == ETIMEDOUT) {
			/* One last look happens in the next iteration's r; recompute it. */
			e = *find(pc, key);
			if (pc->synced && e && (!uid || strcmp(e->uid, uid) == 0))
				continue;
			r = !pc->synced ? -EAGAIN : e ? -ESTALE : -ENOENT;
			break;
		}
	}
	(void)pthread_mutex_unlock(&pc->lock);
	if (r < 0)
		return r;
	*ret_json = copy;
	*ret_len = len;
	return 0;
}

/* --- The watch thread. --- */

static int on_event(void *ud, enum kube_watch_type type, json_t *pod)
{
	struct pod_cache *pc = ud;
	struct error err = {0};
	int r = pod_cache_apply_event(pc, type, pod, &err);
	if (r < 0)
		log_warn("pod cache: event ignored: %s", err.msg);
	return 0;
}

static int on_synced(void *ud)
{
	struct pod_cache *pc = ud;
	if (!pc->synced)
		log_info("pod cache: synced, %zu pods on this node", pod_cache_size(pc));
	pod_cache_set_synced(pc, true);
	/* A (re)list decodes whole pages of pods at once; give what that took
	 * back to the system instead of keeping it in this thread's arena. */
	(void)malloc_trim(0);
	return 0;
}

static int on_failure(void *ud, const struct error *err)
{
	pod_cache_sync_failed(ud, err->msg);
	return 0;
}

static int on_unsynced(void *ud)
{
	struct pod_cache *pc = ud;
	log_warn("pod cache: the watch of %s failed; answering \"not synced\" until the relist "
		 "is done",
		 pc->field_selector);
	pod_cache_set_synced(pc, false);
	return 0;
}

/* Sleeps up to ms or until stop; the condition variable wakes it on stop. */
static void wait_or_stop(struct pod_cache *pc, unsigned ms)
{
	struct timespec deadline = deadline_after(ms);
	(void)pthread_mutex_lock(&pc->lock);
	while (!atomic_load(&pc->stop))
		if (pthread_cond_timedwait(&pc->changed, &pc->lock, &deadline) == ETIMEDOUT)
			break;
	(void)pthread_mutex_unlock(&pc->lock);
}

static void *watch_thread(void *arg)
{
	struct pod_cache *pc = arg;
	static const struct pod_watch_callbacks cb = {
		.on_event = on_event,
		.on_synced = on_synced,
		.on_unsynced = on_unsynced,
		.on_failure = on_failure,
	};
	while (!atomic_load(&pc->stop)) {
		struct error err = {0};
		int r = pod_watch_run(pc->client, pc->field_selector, NULL, &cb, pc, &pc->stop,
				      &err);
		if (atomic_load(&pc->stop))
			break;
		/* Stale answers are worse than none: the plugin asks the API itself. */
		pod_cache_set_synced(pc, false);
		if (r < 0)
			pod_cache_sync_failed(pc, err.msg);
		if (r < 0)
			log_error("pod cache: watch of %s failed, retrying in %u ms: %s",
				  pc->field_selector, POD_CACHE_RESTART_DELAY_MS, err.msg);
		wait_or_stop(pc, POD_CACHE_RESTART_DELAY_MS);
	}
	return NULL;
}

int pod_cache_start(struct pod_cache *pc, const struct kubeconfig *kc, const char *node_name,
		    struct error *err)
{
	if (pc->thread_running)
		return -EALREADY;
	if (!node_name || !*node_name)
		return error_set(err, ERR_CONFIG, -EINVAL, "pod cache: no node name");
	free(pc->field_selector);
	if (asprintf(&pc->field_selector, "spec.nodeName=%s", node_name) < 0) {
		pc->field_selector = NULL;
		return -ENOMEM;
	}
	int r = kube_client_new(kc, NULL, &pc->client, err);
	if (r < 0)
		return error_prefix(err, r, "pod cache");
	atomic_store(&pc->stop, false);
	r = pthread_create(&pc->thread, NULL, watch_thread, pc);
	if (r != 0) {
		kube_client_free(pc->client);
		pc->client = NULL;
		return error_set(err, ERR_INTERNAL, -r, "pod cache: cannot start a thread");
	}
	pc->thread_running = true;
	return 0;
}

void pod_cache_signal_stop(struct pod_cache *pc)
{
	if (!pc)
		return;
	/* Under the lock: a waiter between its check and its wait gets the broadcast. */
	(void)pthread_mutex_lock(&pc->lock);
	atomic_store(&pc->stop, true);
	(void)pthread_cond_broadcast(&pc->changed);
	(void)pthread_mutex_unlock(&pc->lock);
}

void pod_cache_stop(struct pod_cache *pc)
{
	if (!pc->thread_running)
		return;
	/* The watch sees the flag within about a second, even mid-request. */
	pod_cache_signal_stop(pc);
	(void)pthread_join(pc->thread, NULL);
	pc->thread_running = false;
	kube_client_free(pc->client);
	pc->client = NULL;
}

void pod_info_array_free(struct pod_info **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		pod_info_free(v[i]);
	free(v);
}

/* With the lock held: a copy of every entry's JSON, in *ret (n strings). */
static int copy_all_json(struct pod_cache *pc, char ***ret, size_t *ret_n)
{
	char **v = calloc(pc->n_entries ? pc->n_entries : 1, sizeof(*v));
	size_t n = 0;
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < pc->n_buckets; i++)
		for (struct entry *e = pc->buckets[i]; e && n < pc->n_entries; e = e->next) {
			v[n] = strdup(e->json);
			if (!v[n]) {
				strv_free(v, n);
				return -ENOMEM;
			}
			n++;
		}
	*ret = v;
	*ret_n = n;
	return 0;
}

int pod_cache_snapshot(struct pod_cache *pc, struct pod_info ***ret, size_t *ret_n)
{
	char **jsons = NULL;
	size_t n = 0;
	int r;

	(void)pthread_mutex_lock(&pc->lock);
	r = pc->synced ? copy_all_json(pc, &jsons, &n) : -EAGAIN;
	(void)pthread_mutex_unlock(&pc->lock);
	if (r < 0)
		return r;

	/* Decoded outside the lock: the watch thread is not held up. */
	struct pod_info **pods = calloc(n ? n : 1, sizeof(*pods));
	size_t n_pods = 0;
	if (!pods) {
		strv_free(jsons, n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n && r >= 0; i++) {
		struct error err = {0};
		json_t *j = json_loads(jsons[i], 0, NULL);
		int d = j ? pod_info_from_json(j, &pods[n_pods], &err) : -EBADMSG;
		json_decref(j);
		if (d == -ENOMEM)
			r = -ENOMEM;
		else if (d < 0)
			log_debug("pod cache: snapshot skips a pod that does not decode: %s",
				  err.msg[0] ? err.msg : "invalid JSON");
		else
			n_pods++;
	}
	strv_free(jsons, n);
	if (r < 0) {
		pod_info_array_free(pods, n_pods);
		return r;
	}
	*ret = pods;
	*ret_n = n_pods;
	return 0;
}
