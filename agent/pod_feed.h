/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's one list-then-watch of its node's pods
 * (fieldSelector=spec.nodeName=<node>, pod_watch in its own thread, the
 * LIST paged by POD_FEED_PAGE_LIMIT). Each event is decoded once into a
 * struct pod_info and handed to every subscriber in turn: the pod cache, and
 * the repair loop's queue. Subscribers are called from the feed's thread
 * and must not block for long (the repair loop queues and returns).
 */
#ifndef ISTIO_CNI_AGENT_POD_FEED_H
#define ISTIO_CNI_AGENT_POD_FEED_H

#include <stdbool.h>

#include "kube/kube_client.h"
#include "kube/kubeconfig.h"
#include "kube/pod_info.h"
#include "util/cleanup.h"
#include "util/error.h"

/* Pods per LIST page: a 5,000-pod node is listed in 200 small answers. */
#define POD_FEED_PAGE_LIMIT 25
/* How long the feed waits before watching again after the watch gave up
 * (a permanent error such as 401/403). */
#define POD_FEED_RESTART_DELAY_MS 5000
#define POD_FEED_MAX_SUBSCRIBERS 4

struct pod_feed_subscriber {
	/* One ADDED, MODIFIED or DELETED (a DELETED after a relist carries only
	 * namespace, name, uid and resourceVersion). pod is borrowed for the
	 * call. The return value is not used; a subscriber logs its own errors. */
	int (*on_pod)(void *ud, enum kube_watch_type type, const struct pod_info *pod);
	/* true after each (re)list, false when the watch failed (the view may
	 * lag until the next true). May be NULL. */
	void (*on_synced)(void *ud, bool synced);
	/* A failed LIST or WATCH request that will be retried. May be NULL. */
	void (*on_failure)(void *ud, const char *why);
	void *ud;
};

struct pod_feed;

/* A feed of node_name's pods through its own client for kc (copied). */
int pod_feed_new(const struct kubeconfig *kc, const char *node_name, struct pod_feed **ret,
		 struct error *err) _must_check_;
/* Stops the thread (pod_feed_stop), then frees; NULL allowed. */
void pod_feed_free(struct pod_feed *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_feed *, pod_feed_free);

/* Adds a subscriber (copied), before pod_feed_start; -ENOSPC past the maximum. */
int pod_feed_add(struct pod_feed *f, const struct pod_feed_subscriber *s) _must_check_;

/* The node whose pods the feed delivers. */
const char *pod_feed_node(const struct pod_feed *f);

/* Starts the watch thread. */
int pod_feed_start(struct pod_feed *f, struct error *err) _must_check_;
/* Asks the thread to stop without waiting (seen within about a second). */
void pod_feed_signal_stop(struct pod_feed *f);
/* Asks the thread to stop and joins it; idempotent. */
void pod_feed_stop(struct pod_feed *f);

#endif
