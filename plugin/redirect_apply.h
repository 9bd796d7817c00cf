/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a pod to kernel state: the glue ADD, DEL, CHECK and the plan/apply
 * subcommands share. pod_info → skip decision → redirect parameters → IPv6
 * detection in the netns → plan → rtnetlink (::6, TPROXY routes) → the
 * backend the conf selects (backend_select.h): nftables, or iptables-restore.
 */
#ifndef ISTIO_CNI_REDIRECT_APPLY_H
#define ISTIO_CNI_REDIRECT_APPLY_H

#include <jansson.h>
#include <stdbool.h>

#include "capture/backend_select.h"
#include "capture/redirect_params.h"
#include "capture/redirect_plan.h"
#include "cni/netconf.h"
#include "util/cleanup.h"
#include "util/error.h"

struct redirect_outcome {
	enum redirect_skip skip; /* REDIRECT_CAPTURE when rules were programmed */
	bool ipv6;		 /* IPv6 rules programmed */
	bool tproxy;
	size_t n_rules[_PLAN_FAMILY_MAX]; /* plan rules per family */
	enum redirect_backend backend;	  /* NFTABLES or IPTABLES: what programmed it */
	enum iptables_variant variant;	  /* IPTABLES: the IPv4 binaries (nft or legacy) */
	bool unchanged; /* IPTABLES: the rules were there already, no restore ran */
};

/*
 * The *_with_conf functions choose the backend from conf:
 * `redirect_backend` when set to nftables or iptables, else
 * `native_nftables: true` means nftables, else `auto`: nftables unless the pod
 * netns already holds legacy-iptables nat tables or the kernel has no
 * nf_tables. conf may be NULL (defaults: auto). The explicit nftables path
 * costs exactly what redirect_apply_pod() costs; auto adds two small reads of
 * /proc/thread-self/net/ip{,6}_tables_names while in the pod netns.
 *
 * The functions without _with_conf are the nftables backend alone, as before.
 */
int redirect_apply_pod_with_conf(const json_t *pod, const char *netns_path,
				 const struct netconf *conf, struct redirect_outcome *ret,
				 struct error *err) _must_check_;

/*
 * DEL: removes what the selected backend owns. With auto: our nftables tables,
 * and our iptables chains too when the netns has legacy tables (the only case
 * auto would have used iptables). A missing netns is success.
 */
int redirect_remove_with_conf(const char *netns_path, const struct netconf *conf, struct error *err)
	_must_check_;

int redirect_check_pod_with_conf(const json_t *pod, const char *netns_path,
				 const struct netconf *conf, struct error *err) _must_check_;

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
