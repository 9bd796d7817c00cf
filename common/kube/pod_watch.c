/* SPDX-License-Identifier: Apache-2.0 */
/*
 * List-then-watch of pods; see pod_watch.h. The store is a small chained
 * hash table keyed by "namespace/name" holding uid and resourceVersion.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube_retry.h"
#include "kube/pod_watch.h"
#include "util/log.h"
#include "util/monotonic.h"

struct pod_entry {
	struct pod_entry *next;
	uint64_t seen; /* relist generation that named it */
	char *ns;
	char *name;
	char *uid; /* "" when the pod had none */
	char *rv;  /* "" when the pod had none */
};

struct pod_store {
	struct pod_entry **buckets;
	size_t n_buckets;
	size_t n;
	uint64_t generation;
};

#define POD_STORE_INITIAL_BUCKETS 256

static uint64_t key_hash(const char *ns, const char *name)
{
	/* FNV-1a over "ns/name". */
	uint64_t h = 1469598103934665603ull;
	for (const char *p = ns; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	h = (h ^ '/') * 1099511628211ull;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return h;
}

static void entry_free(struct pod_entry *e)
{
	if (!e)
		return;
	free(e->ns);
	free(e->name);
	free(e->uid);
	free(e->rv);
	free(e);
}

int pod_store_new(struct pod_store **ret)
{
	struct pod_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	s->buckets = calloc(POD_STORE_INITIAL_BUCKETS, sizeof(*s->buckets));
	if (!s->buckets) {
		free(s);
		return -ENOMEM;
	}
	s->n_buckets = POD_STORE_INITIAL_BUCKETS;
	*ret = s;
	return 0;
}

struct pod_store *pod_store_free(struct pod_store *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct pod_entry *e = s->buckets[i];
		while (e) {
			struct pod_entry *next = e->next;
			entry_free(e);
			e = next;
		}
	}
	free(s->buckets);
	free(s);
	return NULL;
}

size_t pod_store_size(const struct pod_store *s)
{
	return s ? s->n : 0;
}

static struct pod_entry **find_slot(const struct pod_store *s, const char *ns, const char *name)
{
	struct pod_entry **pp = &s->buckets[key_hash(ns, name) % s->n_buckets];
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->ns, ns) == 0 && strcmp((*pp)->name, name) == 0)
			return pp;
	return pp;
}

int pod_store_lookup(const struct pod_store *s, const char *ns, const char *name,
		     const char **ret_uid, const char **ret_resource_version)
{
	if (!s || !ns || !name)
		return -EINVAL;
	struct pod_entry *e = *find_slot(s, ns, name);
	if (!e)
		return -ENOENT;
	if (ret_uid)
		*ret_uid = e->uid;
	if (ret_resource_version)
		*ret_resource_version = e->rv;
	return 0;
}

static void grow(struct pod_store *s)
{
	size_t nb = s->n_buckets * 2;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	struct pod_entry **b = calloc(nb, sizeof(*b));
	if (!b)
		return; /* keep the longer chains; still correct */
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct pod_entry *e = s->buckets[i];
		while (e) {
			struct pod_entry *next = e->next;
			size_t k = key_hash(e->ns, e->name) % nb;
			e->next = b[k];
			b[k] = e;
			e = next;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = nb;
}

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v ? v : "");
	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

static int insert(struct pod_store *s, const char *ns, const char *name, const char *uid,
		  const char *rv, struct pod_entry **ret)
{
	if (s->n >= s->n_buckets)
		grow(s);
	struct pod_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (set_str(&e->ns, ns) < 0 || set_str(&e->name, name) < 0 || set_str(&e->uid, uid) < 0 ||
	    set_str(&e->rv, rv) < 0) {
		entry_free(e);
		return -ENOMEM;
	}
	struct pod_entry **slot = find_slot(s, ns, name);
	e->next = *slot;
	*slot = e;
	s->n++;
	*ret = e;
	return 0;
}

static void unlink_entry(struct pod_store *s, struct pod_entry **slot)
{
	struct pod_entry *e = *slot;
	*slot = e->next;
	entry_free(e);
	s->n--;
}

struct pod_keys {
	const char *ns;
	const char *name;
	const char *uid; /* "" when absent */
	const char *rv;	 /* "" when absent */
};

static const char *meta_str(const json_t *meta, const char *key)
{
	const char *v = json_string_value(json_object_get(meta, key));
	return v;
}

static int pod_keys(const json_t *pod, struct pod_keys *ret, struct error *err)
{
	const json_t *meta = json_object_get(pod, "metadata");
	const char *ns = meta_str(meta, "namespace");
	const char *name = meta_str(meta, "name");
	if (!json_is_object(pod) || !ns || !*ns || !name || !*name)
		return error_set(err, ERR_DECODE, -EBADMSG,
				 "pod event without metadata.namespace and metadata.name");
	const char *uid = meta_str(meta, "uid");
	const char *rv = meta_str(meta, "resourceVersion");
	*ret = (struct pod_keys){ns, name, uid ? uid : "", rv ? rv : ""};
	return 0;
}

/* The minimal object a synthetic DELETED carries. */
static json_t *tombstone(const struct pod_entry *e)
{
	return json_pack("{s:{s:s,s:s,s:s,s:s}}", "metadata", "namespace", e->ns, "name", e->name,
			 "uid", e->uid, "resourceVersion", e->rv);
}

static int emit_tombstone(const struct pod_entry *e, pod_emit_fn emit, void *ud)
{
	_cleanup_(json_decrefp) json_t *t = tombstone(e);
	if (!t)
		return -ENOMEM;
	return emit(ud, KUBE_WATCH_DELETED, t);
}

/*
 * Records pod (uid, rv) and emits what the consumer must see. relist: the
 * item comes from a LIST (marks it seen). Returns <0, emit's non-zero value,
 * or the number of events emitted (0 or more) as *ret_n.
 */
static int record(struct pod_store *s, enum kube_watch_type type, json_t *pod, bool relist,
		  pod_emit_fn emit, void *ud, unsigned *ret_n, struct error *err)
{
	struct pod_keys k = {0};
	int r = pod_keys(pod, &k, err);
	if (r < 0)
		return r;
	struct pod_entry **slot = find_slot(s, k.ns, k.name);
	struct pod_entry *e = *slot;

	if (type == KUBE_WATCH_DELETED) {
		/* Only what the consumer knows, and only the same instance. */
		if (!e || (*k.uid && *e->uid && strcmp(k.uid, e->uid) != 0))
			return 0;
		unlink_entry(s, slot);
		r = emit(ud, KUBE_WATCH_DELETED, pod);
		if (r != 0)
			return r;
		(*ret_n)++;
		return 0;
	}

	if (e && strcmp(e->uid, k.uid) != 0) {
		/* Replaced under the same name: the old one is gone. */
		r = emit_tombstone(e, emit, ud);
		if (r != 0) {
			unlink_entry(s, slot);
			return r;
		}
		(*ret_n)++;
		unlink_entry(s, slot);
		e = NULL;
	}
	if (!e) {
		r = insert(s, k.ns, k.name, k.uid, k.rv, &e);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "out of memory");
		if (relist)
			e->seen = s->generation;
		r = emit(ud, KUBE_WATCH_ADDED, pod);
		if (r != 0)
			return r;
		(*ret_n)++;
		return 0;
	}
	if (relist)
		e->seen = s->generation;
	if (strcmp(e->rv, k.rv) == 0)
		return 0; /* already delivered */
	if (set_str(&e->rv, k.rv) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	r = emit(ud, KUBE_WATCH_MODIFIED, pod);
	if (r != 0)
		return r;
	(*ret_n)++;
	return 0;
}

int pod_store_apply(struct pod_store *s, enum kube_watch_type type, json_t *pod, pod_emit_fn emit,
		    void *ud, struct error *err)
{
	if (type != KUBE_WATCH_ADDED && type != KUBE_WATCH_MODIFIED && type != KUBE_WATCH_DELETED)
		return 0;
	unsigned n = 0;
	int r = record(s, type, pod, false, emit, ud, &n, err);
	return r != 0 ? r : (int)n;
}

void pod_store_relist_begin(struct pod_store *s)
{
	s->generation++;
}

int pod_store_relist_page(struct pod_store *s, json_t *items, pod_emit_fn emit, void *ud,
			  struct error *err)
{
	if (!json_is_array(items))
		return error_set(err, ERR_DECODE, -EBADMSG, "pod list without an items array");
	unsigned n = 0;
	size_t i;
	json_t *pod;
	json_array_foreach (items, i, pod) {
		int r = record(s, KUBE_WATCH_ADDED, pod, true, emit, ud, &n, err);
		if (r != 0)
			return r;
	}
	return (int)n;
}

int pod_store_relist_end(struct pod_store *s, pod_emit_fn emit, void *ud, struct error *err)
{
	(void)err;
	unsigned n = 0;
	for (size_t i = 0; i < s->n_buckets; i++) {
		struct pod_entry **slot = &s->buckets[i];
		while (*slot) {
			if ((*slot)->seen == s->generation) {
				slot = &(*slot)->next;
				continue;
			}
			int r = emit_tombstone(*slot, emit, ud);
			unlink_entry(s, slot);
			if (r != 0)
				return r;
			n++;
		}
	}
	return (int)n;
}

int pod_store_relist(struct pod_store *s, json_t *items, pod_emit_fn emit, void *ud,
		     struct error *err)
{
	pod_store_relist_begin(s);
	int r = pod_store_relist_page(s, items, emit, ud, err);
	if (r < 0)
		return r;
	int n = r;
	r = pod_store_relist_end(s, emit, ud, err);
	if (r < 0)
		return r;
	return n + r;
}

int pod_watch_cursor_advance(struct pod_watch_cursor *cur, const char *rv)
{
	if (!rv || !*rv || strlen(rv) >= sizeof(cur->resource_version))
		return 0;
	if (strcmp(cur->resource_version, rv) == 0)
		return 0;
	memcpy(cur->resource_version, rv, strlen(rv) + 1);
	return 1;
}

void pod_watch_cursor_reset(struct pod_watch_cursor *cur)
{
	cur->resource_version[0] = '\0';
}

unsigned pod_watch_timeout_pick(uint32_t *seed, unsigned min_s, unsigned max_s)
{
	if (max_s <= min_s)
		return min_s;
	uint32_t x = *seed ? *seed : 1;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*seed = x;
	return min_s + x % (max_s - min_s);
}

/* --- The loop --- */

struct pod_watch {
	struct kube_client *c;
	char *field_selector; /* NULL: none */
	char *label_selector;
	const struct pod_watch_callbacks *cb;
	void *ud;
	const atomic_bool *stop;
	struct pod_store *store;
	struct pod_watch_cursor cur;
	int cb_r;    /* the consumer's non-zero return */
	bool gone;   /* 410 seen inside the stream */
	bool synced; /* a list completed */
	bool backing_off;
	unsigned watch_events; /* events (bookmarks included) of the current watch */
	uint64_t watch_ms;     /* how long the last watch lasted */
	unsigned expiries;     /* 410s in a row, each within a second of its watch */
	struct kube_backoff expiry_backoff;
	unsigned timeout_min_s, timeout_max_s;
	unsigned page_limit; /* POD_WATCH_PAGE_LIMIT, halved on a page over the cap */
	uint64_t last_tick_ms;
	struct kube_backoff backoff;
	uint32_t seed;
	struct error *err;
};

static bool stopped(const struct pod_watch *w)
{
	return w->stop && atomic_load(w->stop);
}

/* Calls on_tick; its non-zero return is kept as the consumer's. */
static int tick(struct pod_watch *w)
{
	w->last_tick_ms = monotonic_ms();
	if (!w->cb->on_tick)
		return 0;
	int r = w->cb->on_tick(w->ud);
	if (r != 0)
		w->cb_r = r;
	return r;
}

/* The tick outside a watch (list pages, backoff): when a second has passed. */
static int maybe_tick(struct pod_watch *w)
{
	if (monotonic_ms() - w->last_tick_ms < POD_WATCH_TICK_MS)
		return 0;
	return tick(w);
}

/* The watch's tick, from the client's progress callback. */
static int on_watch_tick(void *userdata)
{
	return tick(userdata);
}

/* Sleeps ms in slices, returning early when stopped or a tick asks to stop. */
static void wait_ms(struct pod_watch *w, uint64_t ms)
{
	uint64_t end = monotonic_ms() + ms;
	while (!stopped(w) && monotonic_ms() < end && maybe_tick(w) == 0)
		if (monotonic_nap(end))
			return;
}

static int emit_to_consumer(void *ud, enum kube_watch_type type, json_t *pod)
{
	struct pod_watch *w = ud;
	int r = w->cb->on_event ? w->cb->on_event(w->ud, type, pod) : 0;
	if (r != 0)
		w->cb_r = r;
	return r;
}

static int do_list(struct pod_watch *w)
{
	_cleanup_free_ char *cont = NULL;
	pod_store_relist_begin(w->store);
	char list_rv[sizeof(w->cur.resource_version)] = "";
	for (;;) {
		if (stopped(w) || maybe_tick(w) != 0)
			return 0;
		struct kube_list_query q = {
			.label_selector = w->label_selector,
			.field_selector = w->field_selector,
			.continue_token = cont,
			.limit = w->page_limit,
		};
		_cleanup_free_ char *path = NULL;
		int r = kube_list_path("/api/v1/pods", &q, &path);
		if (r < 0)
			return error_set(w->err, ERR_INTERNAL, r, "cannot build the pod list path");
		_cleanup_(json_decrefp) json_t *list = NULL;
		r = kube_client_list(w->c, path, &list, NULL, w->err);
		if (r == -EFBIG && w->page_limit > 1) {
			w->page_limit /= 2;
			log_debug("pod watch: a page of pods is over the answer cap; asking for %u "
				  "at a time",
				  w->page_limit);
			error_clear(w->err);
			continue;
		}
		if (r < 0)
			return r;
		json_t *meta = json_object_get(list, "metadata");
		const char *rv = json_string_value(json_object_get(meta, "resourceVersion"));
		if (!cont && rv && strlen(rv) < sizeof(list_rv))
			memcpy(list_rv, rv, strlen(rv) + 1);
		r = pod_store_relist_page(w->store, json_object_get(list, "items"),
					  emit_to_consumer, w, w->err);
		if (r < 0 || w->cb_r != 0)
			return r < 0 ? r : 0;
		const char *next = json_string_value(json_object_get(meta, "continue"));
		free(cont);
		cont = NULL;
		if (!next || !*next)
			break;
		cont = strdup(next);
		if (!cont)
			return error_set(w->err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	int r = pod_store_relist_end(w->store, emit_to_consumer, w, w->err);
	if (r < 0 || w->cb_r != 0)
		return r < 0 ? r : 0;
	(void)pod_watch_cursor_advance(&w->cur, list_rv);
	if (!w->cur.resource_version[0])
		return error_set(w->err, ERR_API, -EBADMSG, "the pod list has no resourceVersion");
	w->synced = true;
	if (w->cb->on_synced) {
		r = w->cb->on_synced(w->ud);
		if (r != 0)
			w->cb_r = r;
	}
	return 0;
}

static int on_watch_event(json_t *event, void *userdata)
{
	struct pod_watch *w = userdata;
	if (stopped(w))
		return 1;
	w->watch_events++;
	struct kube_watch_event ev;
	int r = kube_watch_event_parse(event, &ev, w->err);
	if (r < 0)
		return r;
	const char *rv = json_string_value(
		json_object_get(json_object_get(ev.object, "metadata"), "resourceVersion"));
	switch (ev.type) {
	case KUBE_WATCH_BOOKMARK:
		(void)pod_watch_cursor_advance(&w->cur, rv);
		return 0;
	case KUBE_WATCH_ERROR:
		r = kube_watch_error(ev.object, NULL, w->err);
		if (r == -ESTALE)
			w->gone = true;
		return r < 0 ? r : -EIO;
	default:
		break;
	}
	r = pod_store_apply(w->store, ev.type, ev.object, emit_to_consumer, w, w->err);
	if (r < 0)
		return r;
	if (w->cb_r != 0)
		return w->cb_r > 0 ? 1 : w->cb_r;
	(void)pod_watch_cursor_advance(&w->cur, rv);
	return 0;
}

static int do_watch(struct pod_watch *w)
{
	unsigned timeout_s = pod_watch_timeout_pick(&w->seed, w->timeout_min_s, w->timeout_max_s);
	struct kube_list_query q = {
		.label_selector = w->label_selector,
		.field_selector = w->field_selector,
		.resource_version = w->cur.resource_version,
		.timeout_seconds = timeout_s,
		.watch = true,
		.allow_watch_bookmarks = true,
	};
	_cleanup_free_ char *path = NULL;
	int r = kube_list_path("/api/v1/pods", &q, &path);
	if (r < 0)
		return error_set(w->err, ERR_INTERNAL, r, "cannot build the pod watch path");
	const struct kube_watch_options opts = {
		.stop = w->stop,
		.tick = on_watch_tick,
		.tick_userdata = w,
		.timeout_ms = ((uint64_t)timeout_s + POD_WATCH_TIMEOUT_SLACK_SECONDS) * 1000u,
	};
	w->gone = false;
	w->watch_events = 0;
	uint64_t start = monotonic_ms();
	r = kube_client_watch_full(w->c, path, on_watch_event, w, &opts, NULL, w->err);
	w->watch_ms = monotonic_ms() - start;
	if (r >= 0 && !w->gone && w->cb_r == 0 && !stopped(w) && w->watch_events == 0 &&
	    monotonic_ms() - start < POD_WATCH_SHORT_WATCH_MS)
		return error_set(w->err, ERR_TRANSIENT, -EIO,
				 "the pod watch ended after %llu ms without sending anything",
				 (unsigned long long)(monotonic_ms() - start));
	return r;
}

static bool permanent(int r)
{
	return r == -EACCES || r == -EPERM || r == -EINVAL || r == -ENOMEM || r == -EPROTO;
}

int pod_watch_new(struct kube_client *c, const char *field_selector, const char *label_selector,
		  const struct pod_watch_callbacks *cb, void *ud, struct pod_watch **ret)
{
	if (!c || !cb)
		return -EINVAL;
	_cleanup_(pod_watch_freep) struct pod_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->c = c;
	w->cb = cb;
	w->ud = ud;
	w->timeout_min_s = POD_WATCH_TIMEOUT_MIN_SECONDS;
	w->timeout_max_s = POD_WATCH_TIMEOUT_MAX_SECONDS;
	w->page_limit = POD_WATCH_PAGE_LIMIT;
	w->last_tick_ms = monotonic_ms();
	w->seed = (uint32_t)getpid() ^ (uint32_t)monotonic_ms() ^ (uint32_t)(uintptr_t)w;
	if (!w->seed)
		w->seed = 1;
	if (field_selector && *field_selector && !(w->field_selector = strdup(field_selector)))
		return -ENOMEM;
	if (label_selector && *label_selector && !(w->label_selector = strdup(label_selector)))
		return -ENOMEM;
	if (pod_store_new(&w->store) < 0)
		return -ENOMEM;
	*ret = TAKE_PTR(w);
	return 0;
}

struct pod_watch *pod_watch_free(struct pod_watch *w)
{
	if (!w)
		return NULL;
	free(w->field_selector);
	free(w->label_selector);
	pod_store_free(w->store);
	free(w);
	return NULL;
}

void pod_watch_set_page_limit(struct pod_watch *w, unsigned limit)
{
	w->page_limit = limit ? limit : 1;
}

bool pod_watch_synced(const struct pod_watch *w)
{
	return w->synced;
}

void pod_watch_set_timeout(struct pod_watch *w, unsigned min_s, unsigned max_s)
{
	w->timeout_min_s = min_s ? min_s : 1;
	w->timeout_max_s = max_s;
}

/*
 * After a failed request: a consumer that follows liveness hears that its
 * view may lag, and the next step relists. Returns the consumer's non-zero
 * return, else 0.
 */
static int lost_sync(struct pod_watch *w, struct error *err, const struct error *e)
{
	if (!w->cb->on_unsynced || !w->cur.resource_version[0])
		return 0;
	log_debug("pod watch: %s; relisting", e->msg);
	pod_watch_cursor_reset(&w->cur);
	int cr = w->cb->on_unsynced(w->ud);
	if (cr < 0)
		return error_set(err, ERR_INTERNAL, cr, "pod watch: on_unsynced failed: %s",
				 strerror(-cr));
	return cr;
}

/* Waits wait_ms, ticking; the consumer's stop (from on_tick) is returned. */
static int backoff_wait(struct pod_watch *w, uint64_t wait, struct error *err)
{
	wait_ms(w, wait);
	if (w->cb_r < 0)
		return error_set(err, ERR_INTERNAL, w->cb_r, "pod watch: on_tick failed: %s",
				 strerror(-w->cb_r));
	return w->cb_r;
}

/*
 * After a 410 the watcher lists again: at once, unless the watches keep
 * expiring within a second of their start, which a history that cannot
 * keep up (or a broken server) does: then each relist after the first waits
 * a jittered, doubling backoff, so such a server is not relisted in a loop.
 */
static int relist_after_gone(struct pod_watch *w, bool watching, struct error *err)
{
	log_debug("pod watch: resourceVersion %s expired, relisting", w->cur.resource_version);
	pod_watch_cursor_reset(&w->cur);
	if (watching && w->watch_ms >= POD_WATCH_SHORT_WATCH_MS)
		w->expiries = 0;
	if (w->expiries++ == 0) {
		kube_backoff_init(&w->expiry_backoff, monotonic_ms(), UINT64_MAX / 4,
				  POD_WATCH_BACKOFF_INITIAL_MS, POD_WATCH_BACKOFF_MAX_MS, true,
				  w->seed);
		return 0;
	}
	uint64_t wait = POD_WATCH_BACKOFF_MAX_MS;
	if (kube_backoff_next(&w->expiry_backoff, monotonic_ms(), 0, &wait) < 0)
		wait = POD_WATCH_BACKOFF_MAX_MS;
	log_debug("pod watch: %u watches in a row expired at once; relisting in %llu ms",
		  w->expiries, (unsigned long long)wait);
	return backoff_wait(w, wait, err);
}

static int step(struct pod_watch *w, struct error *err)
{
	struct error e = {0};
	w->err = &e;
	w->cb_r = 0;
	bool watching = w->cur.resource_version[0];
	int r = watching ? do_watch(w) : do_list(w);
	w->err = NULL;
	if (w->cb_r != 0) {
		if (w->cb_r < 0 && err)
			*err = e;
		return w->cb_r;
	}
	if (stopped(w) || r == -ECANCELED)
		return 0;
	if (r >= 0 && !w->gone) {
		w->backing_off = false;
		if (watching)
			w->expiries = 0;
		return 0;
	}
	int lr = lost_sync(w, err, &e);
	if (lr != 0)
		return lr;
	/* 410: the history we resume from is gone. */
	if (r == -ESTALE || w->gone)
		return relist_after_gone(w, watching, err);
	const struct kube_status *st = kube_client_last_status(w->c);
	if (permanent(r) || (st->http_code >= 400 && st->http_code < 500 && st->http_code != 408 &&
			     st->http_code != 429)) {
		if (err)
			*err = e;
		return r;
	}
	if (w->cb->on_failure) {
		int fr = w->cb->on_failure(w->ud, &e);
		if (fr != 0) {
			if (fr < 0)
				return error_set(err, ERR_INTERNAL, fr,
						 "pod watch: on_failure failed: %s", strerror(-fr));
			return fr;
		}
	}
	if (!w->backing_off) {
		kube_backoff_init(&w->backoff, monotonic_ms(), UINT64_MAX / 4,
				  POD_WATCH_BACKOFF_INITIAL_MS, POD_WATCH_BACKOFF_MAX_MS, true,
				  w->seed);
		w->backing_off = true;
	}
	uint64_t wait = POD_WATCH_BACKOFF_MAX_MS;
	if (kube_backoff_next(&w->backoff, monotonic_ms(), st->retry_after_ms, &wait) < 0)
		wait = POD_WATCH_BACKOFF_MAX_MS;
	log_debug("pod watch: %s; reconnecting in %llu ms", e.msg, (unsigned long long)wait);
	return backoff_wait(w, wait, err);
}

int pod_watch_step(struct pod_watch *w, const atomic_bool *stop, struct error *err)
{
	w->stop = stop;
	if (stopped(w))
		return 0;
	/* A LIST page, too, ends within a second of a stop. */
	kube_client_set_cancel(w->c, stop);
	int r = step(w, err);
	kube_client_set_cancel(w->c, NULL);
	return r;
}

int pod_watch_run(struct kube_client *c, const char *field_selector, const char *label_selector,
		  const struct pod_watch_callbacks *cb, void *ud, const atomic_bool *stop,
		  struct error *err)
{
	_cleanup_(pod_watch_freep) struct pod_watch *w = NULL;
	int r = pod_watch_new(c, field_selector, label_selector, cb, ud, &w);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "cannot start the pod watch");
	while (!(stop && atomic_load(stop))) {
		r = pod_watch_step(w, stop, err);
		if (r != 0)
			return r;
	}
	return 0;
}
