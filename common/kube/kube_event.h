/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A core v1 Event about a pod: POST /api/v1/namespaces/NS/events, what
 * `kubectl describe pod` lists. One Event per call (count 1, first and last
 * timestamp now), named by the API server from generateName "<pod>.".
 * Recording an Event is best effort for every caller: a refused one is
 * reported, never retried here.
 */
#ifndef ISTIO_CNI_KUBE_EVENT_H
#define ISTIO_CNI_KUBE_EVENT_H

#include <jansson.h>

#include "kube/kube_client.h"
#include "util/cleanup.h"
#include "util/error.h"

#define KUBE_EVENT_TYPE_NORMAL "Normal"
#define KUBE_EVENT_TYPE_WARNING "Warning"

struct kube_event {
	/* The pod: namespace and name required, uid and resource_version may be NULL. */
	const char *ns;
	const char *name;
	const char *uid;
	const char *resource_version;
	const char *reason;    /* CamelCase, e.g. "CaptureDrift" */
	const char *type;      /* KUBE_EVENT_TYPE_NORMAL or KUBE_EVENT_TYPE_WARNING */
	const char *message;   /* cut to KUBE_EVENT_MAX_MESSAGE bytes */
	const char *component; /* source.component and reportingComponent */
	const char *host;      /* source.host and reportingInstance; may be NULL */
};

/* The API server refuses longer messages (1 KiB on events.k8s.io; kept for core v1 too). */
#define KUBE_EVENT_MAX_MESSAGE 1024

/*
 * Pure: the Event object, with when (RFC 3339) as both timestamps. -EINVAL
 * when a required field is missing, -ENOMEM. *ret is the caller's.
 */
int kube_event_build(const struct kube_event *ev, const char *when, json_t **ret) _must_check_;

/* Posts it with c, timestamped now. Errors as kube_client_post. */
int kube_event_post(struct kube_client *c, const struct kube_event *ev, struct error *err)
	_must_check_;

#endif
