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

/*
 * A cached pod, never changed once cached: an update replaces it. Snapshots
 * hold references instead of copies (an audit pass over 5,000 pods held
 * 23 MB of copies); the last holder frees it.
 */
struct shared_pod {
	atomic_uint refs;
	struct pod_info *pod;
};

struct entry {
	struct entry *next;
	char *key; /* "ns/name" */
	struct shared_pod *sp;
};

/* Takes pod; NULL when out of memory (pod is then freed). */
static struct shared_pod *shared_new(struct pod_info *pod)
{
	struct shared_pod *sp = malloc(sizeof(*sp));
	if (!sp) {
		pod_info_free(pod);
		return NULL;
	}
	atomic_init(&sp->refs, 1);
	sp->pod = pod;
	return sp;
}

static struct shared_pod *shared_ref(struct shared_pod *sp)
{
	atomic_fetch_add_explicit(&sp->refs, 1, memory_order_relaxed);
	return sp;
}

static void shared_unref(struct shared_pod *sp)
{
	if (sp && atomic_fetch_sub_explicit(&sp->refs, 1, memory_order_acq_rel) == 1) {
		pod_info_free(sp->pod);
		free(sp);
	}
}

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

	atomic_bool stop; /* lookups stop waiting */
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
	shared_unref(e->sp);
	free(e);
}

int pod_cache_new(struct agent_metrics *metrics, struct pod_cache **ret)
{
	struct pod_cache *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->n_buckets = 64;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	pc->buckets = calloc(pc->n_buckets, sizeof(*pc->buckets));
	if (!pc->buckets) {
		free(pc);
		return -ENOMEM;
	}
	int r = monotonic_cond_init(&pc->lock, &pc->changed);
	if (r < 0) {
		free(pc->buckets);
		free(pc);
		return r;
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
	for (size_t i = 0; i < pc->n_buckets; i++) {
		struct entry *e = pc->buckets[i];
		while (e) {
			struct entry *next = e->next;
			entry_free(e);
			e = next;
		}
	}
	free(pc->buckets);
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
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
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

int pod_cache_put(struct pod_cache *pc, const struct pod_info *pod)
{
	if (!pod || !pod->uid || !*pod->uid)
		return -EINVAL;
	_cleanup_free_ char *key = NULL;
	int r = make_key(pod->namespace, pod->name, &key);
	if (r < 0)
		return r;
	struct pod_info *copy = NULL;
	r = pod_info_dup(pod, &copy);
	if (r < 0)
		return r;
	struct shared_pod *sp = shared_new(copy);
	if (!sp)
		return -ENOMEM;

	(void)pthread_mutex_lock(&pc->lock);
	struct entry **p = find(pc, key);
	if (*p) {
		shared_unref((*p)->sp);
		(*p)->sp = sp;
	} else {
		struct entry *e = calloc(1, sizeof(*e));
		if (!e) {
			(void)pthread_mutex_unlock(&pc->lock);
			shared_unref(sp);
			return -ENOMEM;
		}
		e->key = TAKE_PTR(key);
		e->sp = sp;
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
	if (e && (!uid || strcmp(e->sp->pod->uid, uid) == 0)) {
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

int pod_cache_on_pod(struct pod_cache *pc, enum kube_watch_type type, const struct pod_info *pod,
		     struct error *err)
{
	if (!pod->namespace || !*pod->namespace || !pod->name || !*pod->name || !pod->uid ||
	    !*pod->uid)
		return error_set(err, ERR_DECODE, -EBADMSG,
				 "pod event without metadata.namespace, name and uid");
	switch (type) {
	case KUBE_WATCH_ADDED:
	case KUBE_WATCH_MODIFIED: {
		int r = pod_cache_put(pc, pod);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "cannot cache pod %s/%s",
					 pod->namespace, pod->name);
		return 0;
	}
	case KUBE_WATCH_DELETED:
		(void)pod_cache_delete(pc, pod->namespace, pod->name, pod->uid);
		return 0;
	default:
		return 0;
	}
}

int pod_cache_apply_event(struct pod_cache *pc, enum kube_watch_type type, json_t *pod,
			  struct error *err)
{
	_cleanup_(pod_info_freep) struct pod_info *p = NULL;
	int r = pod_info_from_json(pod, &p, err);
	if (r == -ENOMEM)
		return error_set(err, ERR_INTERNAL, r, "out of memory");
	if (r < 0)
		return error_set(err, ERR_DECODE, -EBADMSG, "pod event: %s", err->msg);
	return pod_cache_on_pod(pc, type, p, err);
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

	struct timespec deadline = monotonic_deadline(wait_ms);
	struct shared_pod *held = NULL;
	(void)pthread_mutex_lock(&pc->lock);
	for (;;) {
		/* Unsynced (not listed yet, or the watch is down): any entry may be
		 * stale, and a pod recreated under its name would be served. */
		if (!pc->synced) {
			r = -EAGAIN;
			break;
		}
		struct entry *e = *find(pc, key);
		if (e && (!uid || strcmp(e->sp->pod->uid, uid) == 0)) {
			held = shared_ref(e->sp);
			r = 0;
			break;
		}
		r = e ? -ESTALE : -ENOENT;
		if (atomic_load(&pc->stop))
			break;
		int w = pthread_cond_timedwait(&pc->changed, &pc->lock, &deadline);
		if (w == ETIMEDOUT) {
			/* One last look happens in the next iteration's r; recompute it. */
			e = *find(pc, key);
			if (pc->synced && e && (!uid || strcmp(e->sp->pod->uid, uid) == 0))
				continue;
			r = !pc->synced ? -EAGAIN : e ? -ESTALE : -ENOENT;
			break;
		}
	}
	(void)pthread_mutex_unlock(&pc->lock);
	if (r < 0)
		return r;
	/* Encoded outside the lock, from the pod as it was: the feed is not held up. */
	json_auto_t *j = NULL;
	r = pod_info_to_json(held->pod, &j);
	shared_unref(held);
	if (r < 0)
		return r;
	char *text = json_dumps(j, JSON_COMPACT);
	if (!text)
		return -ENOMEM;
	*ret_json = text;
	*ret_len = strlen(text);
	return 0;
}

/* --- The feed's subscriber. --- */

static int on_pod(void *ud, enum kube_watch_type type, const struct pod_info *pod)
{
	struct pod_cache *pc = ud;
	struct error err = {0};
	int r = pod_cache_on_pod(pc, type, pod, &err);
	if (r < 0)
		log_warn("pod cache: event ignored: %s", err.msg);
	return 0;
}

static void on_synced(void *ud, bool synced)
{
	struct pod_cache *pc = ud;
	if (synced && !pc->synced)
		log_info("pod cache: synced, %zu pods on this node", pod_cache_size(pc));
	else if (!synced && pc->synced)
		log_warn("pod cache: the pod watch failed; answering \"not synced\" until the "
			 "relist is done");
	pod_cache_set_synced(pc, synced);
}

static void on_failure(void *ud, const char *why)
{
	pod_cache_sync_failed(ud, why);
}

void pod_cache_subscriber(struct pod_cache *pc, struct pod_feed_subscriber *ret)
{
	*ret = (struct pod_feed_subscriber){
		.on_pod = on_pod,
		.on_synced = on_synced,
		.on_failure = on_failure,
		.ud = pc,
	};
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

void pod_snapshot_release(struct pod_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		shared_unref(s->held[i]);
	free(s->held);
	free(s->pods);
	memset(s, 0, sizeof(*s));
}

int pod_cache_snapshot(struct pod_cache *pc, struct pod_snapshot *ret)
{
	(void)pthread_mutex_lock(&pc->lock);
	if (!pc->synced) {
		(void)pthread_mutex_unlock(&pc->lock);
		return -EAGAIN;
	}
	size_t cap = pc->n_entries ? pc->n_entries : 1;
	struct pod_snapshot s = {
		// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
		.pods = calloc(cap, sizeof(*s.pods)),
		// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
		.held = calloc(cap, sizeof(*s.held)),
	};
	if (!s.pods || !s.held) {
		(void)pthread_mutex_unlock(&pc->lock);
		pod_snapshot_release(&s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pc->n_buckets; i++)
		for (struct entry *e = pc->buckets[i]; e && s.n < pc->n_entries; e = e->next) {
			s.held[s.n] = shared_ref(e->sp);
			s.pods[s.n++] = e->sp->pod;
		}
	(void)pthread_mutex_unlock(&pc->lock);
	*ret = s;
	return 0;
}
