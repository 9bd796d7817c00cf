/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reads the pod ADD and CHECK decide on: from the node agent's pod cache
 * when it answers, else from the Kubernetes API: retries transient failures
 * with backoff inside a deadline and then
 * fails closed; 401/403 fail at once. libcurl is loaded only here.
 */
#ifndef ISTIO_CNI_POD_LOOKUP_H
#define ISTIO_CNI_POD_LOOKUP_H

#include "cni/cni_args.h"
#include "cni/netconf.h"
#include "kube/pod_info.h"
#include "util/error.h"

/*
 * On success *ret_pod is the pod, decoded where it arrived (the agent's reply
 * or the API's); the caller frees it. Failures: ERR_TRANSIENT (code 11) when
 * the deadline passed with the last error in the message, ERR_API for
 * refusals, ERR_CONFIG for an unusable kubeconfig, ERR_DECODE for an API
 * answer that is no usable Pod. An agent reply that does not decode is
 * ignored (the API server is asked).
 */
int pod_lookup(const struct netconf *conf, const struct cni_args *args, struct pod_info **ret_pod,
	       struct error *err) _must_check_;

/*
 * pod_lookup, calling while_waiting(userdata) once the request to the API
 * server has gone out, while the answer is awaited (not at all when the
 * agent's cache answers): for work the caller can do without the pod.
 */
int pod_lookup_while(const struct netconf *conf, const struct cni_args *args,
		     void (*while_waiting)(void *userdata), void *userdata,
		     struct pod_info **ret_pod, struct error *err) _must_check_;

/* The node agent's socket path for conf (log lines and pod lookups). */
int pod_lookup_agent_socket(const struct netconf *conf, char *buf, size_t len) _must_check_;

#endif
