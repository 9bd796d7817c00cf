/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one capture path: from a decoded pod and the plugin's conf to kernel
 * state in the pod's netns and back. The plugin (ADD, DEL, CHECK and the
 * plan/apply/check/remove subcommands), repair in place and the agent's
 * capture audit call these and nothing below them: the skip decision, the
 * redirect parameters, the plan, the routes and the backend (nftables or
 * iptables, chosen once from the conf and the netns) all happen here.
 *
 * conf may be NULL: the defaults (redirect_backend auto).
 */
#ifndef ISTIO_CNI_CAPTURE_H
#define ISTIO_CNI_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "capture/backend_select.h"
#include "capture/redirect_params.h"
#include "capture/redirect_plan.h"
#include "cni/netconf.h"
#include "kube/pod_info.h"
#include "util/cleanup.h"
#include "util/error.h"

struct capture_outcome {
	enum redirect_skip skip; /* REDIRECT_CAPTURE when rules were programmed */
	bool ipv6;		 /* IPv6 rules programmed */
	bool tproxy;
	size_t n_rules[_PLAN_FAMILY_MAX]; /* rules per family, iptables count */
	enum redirect_backend backend;	  /* NFTABLES or IPTABLES: what programmed it */
	enum iptables_variant variant;	  /* IPTABLES: the IPv4 binaries (nft or legacy) */
	bool unchanged; /* IPTABLES: the rules were there already, no restore ran */
};

/* Why a check found the netns different from what apply would program. */
enum capture_drift {
	CAPTURE_DRIFT_NONE,	  /* matches */
	CAPTURE_DRIFT_MISSING,	  /* a captured pod has none of our rules */
	CAPTURE_DRIFT_CHANGED,	  /* our rules are there but differ from the plan */
	CAPTURE_DRIFT_UNEXPECTED, /* a skipped pod has our rules */
	_CAPTURE_DRIFT_MAX,
};

/* "none", "missing", "changed", "unexpected": the metric's reason label. */
const char *capture_drift_to_string(enum capture_drift d);

/*
 * Pure: the skip decision and, for a captured pod, the plan for the given
 * family choice. ret_plan is written only when the pod is captured (return 0);
 * 1 means skipped (*ret_skip says why). An invalid annotation is -EINVAL with
 * ERR_CONFIG naming it.
 */
int capture_plan(const struct pod_info *pod, bool ipv6, enum redirect_skip *ret_skip,
		 struct redirect_plan *ret_plan, struct error *err) _must_check_;

/*
 * The family choice without a netns, from the pod's status.podIPs by Istio's
 * rule (the first usable address; with the proxy's ISTIO_DUAL_STACK any IPv6
 * one). Pure; returns 0.
 */
int capture_ipv6_from_pod(const struct pod_info *pod, bool *ret_ipv6) _must_check_;

/* The family choice from the netns' addresses (Istio's getLocalIP), as apply makes it. */
int capture_ipv6_from_netns(const struct pod_info *pod, const char *netns_path, bool *ret_ipv6,
			    struct error *err) _must_check_;

/*
 * Programs the pod's netns as ADD does, with the backend conf selects.
 * Returns 0 when rules were programmed, 1 when the pod is skipped (nothing
 * touched; ret->skip says why), or a negative errno: an invalid annotation is
 * ERR_CONFIG (nothing programmed), a missing netns ERR_UNKNOWN_CONTAINER,
 * kernel refusals ERR_NETLINK or ERR_NFTABLES, a failed iptables-restore
 * ERR_IPTABLES. Idempotent. ret may be NULL.
 */
int capture_apply(const struct pod_info *pod, const char *netns_path, const struct netconf *conf,
		  struct capture_outcome *ret, struct error *err) _must_check_;

/*
 * The pod netns opened ahead of capture_apply_opened (its netlink sockets and
 * the probe for legacy iptables tables), so that the plugin can do it while
 * the API server answers its pod lookup.
 */
struct capture_ns;

/*
 * Opens netns_path as capture_apply will need it under conf. Fails only for
 * memory: a netns that cannot be opened is remembered, and reported by
 * capture_apply_opened if the pod turns out to need its netns.
 */
int capture_ns_open(const char *netns_path, const struct netconf *conf, struct capture_ns **ret)
	_must_check_;
void capture_ns_free(struct capture_ns *ns);

/* capture_apply in ns, opened ahead for the same path and conf; NULL: opened here. */
int capture_apply_opened(const struct pod_info *pod, struct capture_ns *ns, const char *netns_path,
			 const struct netconf *conf, struct capture_outcome *ret, struct error *err)
	_must_check_;

/*
 * Re-derives what capture_apply would program and compares it with the
 * netns, on whichever backend holds the pod's rules. 0 when it matches;
 * -EBADMSG with ERR_CHECK naming the differences otherwise, and *ret_drift
 * (may be NULL) says which kind. Other errors as capture_apply. Reads only.
 */
int capture_check(const struct pod_info *pod, const char *netns_path, const struct netconf *conf,
		  enum capture_drift *ret_drift, struct error *err) _must_check_;

/*
 * DEL: removes what the selected backend owns. A missing netns is success.
 */
int capture_remove(const char *netns_path, const struct netconf *conf, struct error *err)
	_must_check_;

#endif
