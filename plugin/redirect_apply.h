/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a pod to kernel state: the glue ADD, DEL, CHECK and the plan/apply
 * subcommands share. pod_info → skip decision → redirect parameters → IPv6
 * detection in the netns → plan → rtnetlink (::6, TPROXY routes) → nftables.
 */
#ifndef ISTIO_CNI_REDIRECT_APPLY_H
#define ISTIO_CNI_REDIRECT_APPLY_H

#include <jansson.h>
#include <stdbool.h>

#include "cleanup.h"
#include "error.h"
#include "redirect_params.h"
#include "redirect_plan.h"

struct redirect_outcome {
	enum redirect_skip skip; /* REDIRECT_CAPTURE when rules were programmed */
	bool ipv6;               /* IPv6 rules programmed */
	bool tproxy;
	size_t n_rules[_PLAN_FAMILY_MAX]; /* plan rules per family */
};

/*
 * Programs the pod's netns as ADD does. Returns 0 when rules were programmed,
 * 1 when the pod is skipped (nothing touched; ret->skip says why), or a
 * negative errno: an invalid annotation is ERR_CONFIG (nothing programmed), a
 * missing netns ERR_UNKNOWN_CONTAINER, kernel refusals ERR_NETLINK or
 * ERR_NFTABLES. Idempotent: a repeated call converges atomically.
 * ret may be NULL.
 */
int redirect_apply_pod(const json_t *pod, const char *netns_path, struct redirect_outcome *ret,
		       struct error *err) _must_check_;

/* Removes our nftables tables from the netns. A missing netns is success (DEL). */
int redirect_remove(const char *netns_path, struct error *err) _must_check_;

/*
 * Re-derives what ADD would program and compares it with the netns:
 * 0 when it matches, -EBADMSG with ERR_CHECK naming the differences.
 * A skipped pod must have none of our tables.
 */
int redirect_check_pod(const json_t *pod, const char *netns_path, struct error *err) _must_check_;

/*
 * Pure parts, shared with `istio-cni plan`: the decision and, for a captured
 * pod, the plan for the given family choice. ret_plan is written only when
 * the pod is captured (return 0); 1 means skipped.
 */
int redirect_plan_pod(const json_t *pod, bool ipv6, enum redirect_skip *ret_skip,
		      struct redirect_plan *ret_plan, struct error *err) _must_check_;

/* IPv6 choice from the pod's status.podIPs, by Istio's rule (first usable address). */
int redirect_ipv6_from_pod(const json_t *pod, bool *ret_ipv6, struct error *err) _must_check_;

/* IPv6 choice from the netns' addresses (Istio's getLocalIP); honours ISTIO_DUAL_STACK. */
int redirect_ipv6_from_netns(const json_t *pod, const char *netns_path, bool *ret_ipv6,
			     struct error *err) _must_check_;

#endif
