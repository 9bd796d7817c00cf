/* SPDX-License-Identifier: Apache-2.0 */
/*
 * List-then-watch of pods, the way an informer does it: a paged
 * LIST, then a WATCH from the list's resourceVersion with bookmarks, resumed
 * from the last resourceVersion seen after a cut, and a fresh LIST on 410
 * Gone. After every (re)list the consumer gets the synthetic deltas between
 * what it was told before and what the list says, so it neither misses a pod
 * nor sees one twice for the same resourceVersion.
 *
 * What the watcher remembers per pod is small (namespace/name, uid,
 * resourceVersion), never the object: a DELETED delta that the watcher
 * synthesises after a relist carries only
 * {"metadata":{"namespace","name","uid","resourceVersion"}}.
 *
 * Suppressed as duplicates: ADDED or MODIFIED for a pod whose uid and
 * resourceVersion match what was last delivered (a replay after a resumed
 * watch). A pod replaced under the same name (new uid) is a DELETED for the
 * old uid followed by an ADDED for the new one.
 */
#ifndef ISTIO_CNI_POD_WATCH_H
#define ISTIO_CNI_POD_WATCH_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube_client.h"
#include "util/cleanup.h"
#include "util/error.h"

/*
 * Page size of the LIST: pods are ~10 KiB of JSON each, so a page stays far
 * below the client's 4 MiB answer cap, and the page (its text and its
 * decoded form at once) is what sets the watcher's peak memory during a
 * relist. bench/repair.sh over 5,000 pods: pages of 50 peak at 17.5 MB RSS
 * (12.5 MB of it libcurl and OpenSSL before any list), pages of 100 at
 * 22 MB, in about the same listing time (~4 s against the fake server).
 */
#define POD_WATCH_PAGE_LIMIT 50
/*
 * Pods can be far bigger than that (annotations up to 256 KiB): a page over
 * the client's cap (-EFBIG) is asked again with half the limit, down to one
 * pod, and the smaller limit is kept for the pages that follow.
 */
/*
 * A WATCH asks the server to end it after timeoutSeconds drawn at random
 * from [MIN, MAX) (client-go's reflector does the same, so that the watches
 * of a DaemonSet restarted at once do not all reconnect at once later), and
 * is then resumed from the last resourceVersion seen, without a LIST. The
 * client gives up on its own SLACK seconds after that, should the stream
 * hang without ending (TCP keepalive catches a dead peer before).
 */
#define POD_WATCH_TIMEOUT_MIN_SECONDS 300
#define POD_WATCH_TIMEOUT_MAX_SECONDS 600
#define POD_WATCH_TIMEOUT_SLACK_SECONDS 30
/* A watch that the server ends sooner than this without sending anything
 * is treated as a failure (backoff), so a server that closes every watch at
 * once cannot turn the watcher into a request loop. */
#define POD_WATCH_SHORT_WATCH_MS 1000
/* Reconnect backoff (jittered, doubling). */
#define POD_WATCH_BACKOFF_INITIAL_MS 200
#define POD_WATCH_BACKOFF_MAX_MS 30000
/* on_tick comes about this often (KUBE_CLIENT_TICK_MS at the least). */
#define POD_WATCH_TICK_MS 1000

struct pod_watch_callbacks {
	/*
	 * One pod event (ADDED, MODIFIED or DELETED; never BOOKMARK or ERROR).
	 * pod is borrowed for the call (json_incref to keep it). A negative
	 * return stops the watcher with that error, > 0 stops it cleanly.
	 */
	int (*on_event)(void *ud, enum kube_watch_type type, json_t *pod);
	/* After each (re)list and its deltas; may be NULL. Same return rules. */
	int (*on_synced)(void *ud);
	/*
	 * When a synced watch fails (a cut, an error, 410): from now until the
	 * next on_synced the consumer's view may lag the API server. May be NULL.
	 * When set, a failed watch is followed by a relist rather than a resume
	 * (a resumed watch gives no sign of having caught up; a list does), and
	 * on_synced comes once it is done. A watch the server ends on time
	 * (timeoutSeconds) is resumed as usual. Same return rules.
	 */
	int (*on_unsynced)(void *ud);
	/*
	 * After a failed LIST or WATCH request that will be retried after a
	 * backoff (5xx, 429, a cut, a refused connection), with what failed.
	 * May be NULL. Same return rules.
	 */
	int (*on_failure)(void *ud, const struct error *err);
	/*
	 * About once a second (between KUBE_CLIENT_TICK_MS and ~POD_WATCH_TICK_MS
	 * apart), whether events flow or not: while a WATCH is open (from
	 * libcurl's progress callback, never in the middle of on_event),
	 * between the pages of a LIST and during reconnect backoff. For
	 * periodic work: retry timers, a rate-limited queue. It must not use
	 * the watcher's client (it runs inside that client's transfer). May be
	 * NULL. Same return rules.
	 */
	int (*on_tick)(void *ud);
};

/*
 * Blocks: LIST then WATCH pods of all namespaces with the given selectors
 * (either may be NULL or ""), delivering events to cb until *stop becomes
 * true (seen within about a second, also in the middle of a request; stop
 * may be NULL for "never"), a callback asks to stop, or a permanent error
 * (401, 403, 400/422 for a bad selector). Each WATCH lasts
 * POD_WATCH_TIMEOUT_MIN_SECONDS to _MAX_SECONDS and is resumed from the last
 * resourceVersion (bookmarks keep it current); 410 Gone relists. Transient
 * errors (connection refused, 5xx, 429, cuts) reconnect with exponential
 * backoff and jitter. Returns 0 on stop, the callback's positive value, or
 * a negative errno with err set.
 */
int pod_watch_run(struct kube_client *c, const char *field_selector, const char *label_selector,
		  const struct pod_watch_callbacks *cb, void *ud, const atomic_bool *stop,
		  struct error *err) _must_check_;

/*
 * The same loop one request at a time, for a consumer that needs control
 * between them (the repair loop's one-pass mode lists once and stops).
 * pod_watch_step makes one LIST (all pages) when there is no resourceVersion
 * to resume from, else one WATCH that lasts until the server ends it
 * (timeoutSeconds, above), a cut, *stop, or a callback's non-zero return;
 * after a transient failure it waits the backoff (stop is seen every
 * 100 ms, on_tick every second). While a step runs, c's cancel flag
 * (kube_client_set_cancel) is stop. Returns 0 to be called again, the
 * consumer's non-zero return, or a permanent error. The state survives
 * between steps: no relist unless 410.
 */
struct pod_watch;
int pod_watch_new(struct kube_client *c, const char *field_selector, const char *label_selector,
		  const struct pod_watch_callbacks *cb, void *ud, struct pod_watch **ret)
	_must_check_;
struct pod_watch *pod_watch_free(struct pod_watch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_watch *, pod_watch_free);
int pod_watch_step(struct pod_watch *w, const atomic_bool *stop, struct error *err) _must_check_;
/* Whether a list has completed (and so on_synced was called) at least once. */
bool pod_watch_synced(const struct pod_watch *w);
/*
 * The range timeoutSeconds is drawn from, [min_s, max_s) (max_s <= min_s:
 * always min_s); by default POD_WATCH_TIMEOUT_MIN/MAX_SECONDS. For tests.
 */
void pod_watch_set_timeout(struct pod_watch *w, unsigned min_s, unsigned max_s);
/*
 * The LIST's page size (limit; continue for the next page), by default
 * POD_WATCH_PAGE_LIMIT; 0 is taken as 1. A page over the client's cap still
 * halves it.
 */
void pod_watch_set_page_limit(struct pod_watch *w, unsigned limit);

/* --- Pure parts (no I/O), public for the tests. --- */

/* What the watcher has delivered, keyed by namespace/name. */
struct pod_store;

int pod_store_new(struct pod_store **ret) _must_check_;
struct pod_store *pod_store_free(struct pod_store *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_store *, pod_store_free);
size_t pod_store_size(const struct pod_store *s);
/* uid and resourceVersion delivered for ns/name; borrowed; -ENOENT when unknown. */
int pod_store_lookup(const struct pod_store *s, const char *ns, const char *name,
		     const char **ret_uid, const char **ret_resource_version) _must_check_;

typedef int (*pod_emit_fn)(void *ud, enum kube_watch_type type, json_t *pod);

/*
 * One watch event: records it and calls emit for what the consumer must see:
 * nothing for a duplicate; DELETED of the old uid then ADDED for a pod
 * replaced under the same name; ADDED for a MODIFIED of an unknown pod;
 * MODIFIED for an ADDED of a known pod with a new resourceVersion; nothing
 * for a DELETED of a pod the consumer was never told about (or of an older
 * uid). A pod without metadata.namespace/name is -EBADMSG (ERR_DECODE).
 * Returns emit's first non-zero value, else the number of events emitted.
 */
int pod_store_apply(struct pod_store *s, enum kube_watch_type type, json_t *pod, pod_emit_fn emit,
		    void *ud, struct error *err) _must_check_;

/*
 * A relist, page by page so that a big cluster is never held in memory at
 * once: begin, then one call per LIST page (items: its JSON array), then end.
 * A page emits, per item: ADDED for a new pod, MODIFIED when the
 * resourceVersion changed, nothing when unchanged, and DELETED (a minimal
 * object, see above) of the old uid followed by ADDED for a pod replaced
 * under the same name. end emits DELETED for every known pod no page named;
 * afterwards the store holds exactly the listed pods. A relist restarted
 * half-way (begin again) is fine: pods already delivered are not repeated.
 * Same returns as pod_store_apply. pod_store_relist is begin + one page + end.
 */
void pod_store_relist_begin(struct pod_store *s);
int pod_store_relist_page(struct pod_store *s, json_t *items, pod_emit_fn emit, void *ud,
			  struct error *err) _must_check_;
int pod_store_relist_end(struct pod_store *s, pod_emit_fn emit, void *ud, struct error *err)
	_must_check_;
int pod_store_relist(struct pod_store *s, json_t *items, pod_emit_fn emit, void *ud,
		     struct error *err) _must_check_;

/*
 * A timeoutSeconds in [min_s, max_s) (min_s when max_s <= min_s) from the
 * xorshift state *seed (non-zero; advanced).
 */
unsigned pod_watch_timeout_pick(uint32_t *seed, unsigned min_s, unsigned max_s);

/* The resourceVersion a watch resumes from. */
struct pod_watch_cursor {
	char resource_version[64]; /* "" : relist needed */
};

/*
 * Advances the cursor from a LIST's metadata.resourceVersion or any watch
 * event's object (ADDED/MODIFIED/DELETED/BOOKMARK). An ERROR event with 410
 * (or a 410 answer, see pod_watch_cursor_reset) clears it. Returns 1 when the
 * cursor moved, 0 when rv was NULL/empty/too long (kept as it was).
 */
int pod_watch_cursor_advance(struct pod_watch_cursor *cur, const char *rv);
void pod_watch_cursor_reset(struct pod_watch_cursor *cur);

#endif
