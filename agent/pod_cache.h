/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's cache of its node's pods: a subscriber of the agent's pod feed
 * (pod_feed.h: the one list-then-watch of the node's pods) fills a map
 * namespace/name -> the decoded pod (struct pod_info: the fields the plugin
 * and the repair loop read, not the whole Pod JSON), from which the log
 * socket answers the plugin's GET /pod?namespace=&name=&uid= with
 * pod_info_to_json of it, so that a pod start needs no API request.
 *
 * A lookup for a pod the cache does not hold yet (the plugin may run before
 * the watch event of a pod created a moment ago arrives), or holds under
 * another uid (a pod replaced under the same name), waits up to a bound for
 * the watch to catch up (a condition variable signalled on every update).
 *
 * Thread-safe: one mutex over the map, held only for map operations.
 */
#ifndef ISTIO_CNI_AGENT_POD_CACHE_H
#define ISTIO_CNI_AGENT_POD_CACHE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/kube_client.h"
#include "kube/kubeconfig.h"
#include "kube/pod_info.h"
#include "pod_feed.h"
#include "util/cleanup.h"
#include "util/error.h"

/* How long GET /pod waits for a pod the cache does not know yet. */
#define POD_CACHE_LOOKUP_WAIT_MS 200
/* A cache that cannot sync warns at most this often. */
#define POD_CACHE_SYNC_WARN_INTERVAL_MS 60000

struct agent_metrics;
struct pod_cache;

/* metrics may be NULL. */
int pod_cache_new(struct agent_metrics *metrics, struct pod_cache **ret) _must_check_;
/* Frees the cache; whoever feeds it must have stopped. */
void pod_cache_free(struct pod_cache *pc);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_cache *, pod_cache_free);

/* --- The map (public for the tests). --- */

/* Inserts or replaces pod's namespace/name (a copy of pod); pod needs a uid. */
int pod_cache_put(struct pod_cache *pc, const struct pod_info *pod) _must_check_;

/* Removes ns/name when its uid is uid (any uid when uid is NULL); -ENOENT otherwise. */
int pod_cache_delete(struct pod_cache *pc, const char *ns, const char *name, const char *uid);

/* Marks the cache complete (after a list) or not (the watch is down). */
void pod_cache_set_synced(struct pod_cache *pc, bool synced);

/* A failed LIST or WATCH request (why: what failed): counted, and logged as a
 * warning (rate-limited) while the cache is not synced. */
void pod_cache_sync_failed(struct pod_cache *pc, const char *why);

/*
 * False, with the reason in why (len bytes), when the cache is not synced and
 * requests have failed since it last was: a cache that cannot sync. A cache
 * still making its first list, or relisting without a failure, is healthy.
 */
bool pod_cache_healthy(struct pod_cache *pc, char *why, size_t len);

size_t pod_cache_size(struct pod_cache *pc);

/*
 * One watch event: ADDED/MODIFIED store the pod (a copy), DELETED removes it
 * (same uid only). A pod without metadata.namespace, name and uid is
 * -EBADMSG (ERR_DECODE).
 */
int pod_cache_on_pod(struct pod_cache *pc, enum kube_watch_type type, const struct pod_info *pod,
		     struct error *err) _must_check_;
/* The same for a Pod's JSON (decoded first; one that does not decode is -EBADMSG). */
int pod_cache_apply_event(struct pod_cache *pc, enum kube_watch_type type, json_t *pod,
			  struct error *err) _must_check_;

/*
 * The pod ns/name as pod_info_to_json encodes it, waiting up to wait_ms for it to appear, or for
 * its uid to become uid (uid NULL or "": any). Returns 0 with *ret_json (the
 * caller's, NUL-terminated) and *ret_len; -ENOENT unknown; -ESTALE the cache
 * holds another uid; -EAGAIN at once while the cache is not synced (before
 * its first list, and from a failed watch until the relist is done),
 * whatever it holds: an entry may then be stale.
 */
int pod_cache_lookup(struct pod_cache *pc, const char *ns, const char *name, const char *uid,
		     unsigned wait_ms, char **ret_json, size_t *ret_len) _must_check_;

struct shared_pod;

/* The cached pods at one moment, read-only; valid until released. */
struct pod_snapshot {
	const struct pod_info **pods;
	size_t n;
	struct shared_pod **held; /* the references that keep pods[i] alive */
};

/*
 * Every cached pod into *ret, by reference: no copy is made, and a pod the
 * cache replaces or drops meanwhile stays as it was until the snapshot is
 * released. -EAGAIN while the cache is not synced (a partial view of the
 * node must not pass for the whole), -ENOMEM.
 */
int pod_cache_snapshot(struct pod_cache *pc, struct pod_snapshot *ret) _must_check_;

/* Drops the snapshot's references (a zeroed or released snapshot is fine). */
void pod_snapshot_release(struct pod_snapshot *s);

/* --- Fed by the pod feed. --- */

/* The subscriber that keeps pc in step with a pod_feed (pod_feed_add it). */
void pod_cache_subscriber(struct pod_cache *pc, struct pod_feed_subscriber *ret);

/* Lookups stop waiting at once (the agent is stopping). */
void pod_cache_signal_stop(struct pod_cache *pc);

#endif
