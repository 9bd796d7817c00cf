/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A FIFO of pod events from the pod feed's thread to a worker thread (the
 * repair loop), so that a slow consumer never holds up the feed, and so the
 * pod cache. Each item holds its own copy of the pod. Unbounded: the feed
 * delivers at most one event per pod change.
 */
#ifndef ISTIO_CNI_AGENT_POD_QUEUE_H
#define ISTIO_CNI_AGENT_POD_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "kube/kube_client.h"
#include "kube/pod_info.h"
#include "util/cleanup.h"

struct pod_queue;

int pod_queue_new(struct pod_queue **ret) _must_check_;
/* Frees the queue and what it still holds; NULL allowed. */
void pod_queue_free(struct pod_queue *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_queue *, pod_queue_free);

/* Appends a copy of pod; -ENOMEM, -ECANCELED once closed. */
int pod_queue_push(struct pod_queue *q, enum kube_watch_type type, const struct pod_info *pod)
	_must_check_;

/*
 * Takes the oldest item, waiting up to wait_ms for one: 0 with *ret_type and
 * *ret_pod (the caller's); -ETIMEDOUT; -ECANCELED once closed (what is
 * still queued is dropped).
 */
int pod_queue_pop(struct pod_queue *q, unsigned wait_ms, enum kube_watch_type *ret_type,
		  struct pod_info **ret_pod) _must_check_;

/* Wakes the consumer and refuses further pushes. */
void pod_queue_close(struct pod_queue *q);

size_t pod_queue_length(struct pod_queue *q);

#endif
