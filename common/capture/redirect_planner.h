/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Turns redirect parameters into Istio's rule program: the
 * rules istio-iptables records, in the order it records them, for IPv4 and,
 * when ipv6 is set, IPv6. One rule per list element; the nftables backend
 * folds runs into sets. Pure: no syscalls.
 */
#ifndef ISTIO_CNI_REDIRECT_PLANNER_H
#define ISTIO_CNI_REDIRECT_PLANNER_H

#include <stdbool.h>

#include "capture/redirect_params.h"
#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

/*
 * Rules per address family a plan may hold: the largest single list
 * (REDIRECT_LIST_MAX interfaces, four rules each in TPROXY mode) plus Istio's
 * fixed rules. Both backends apply a plan of this size in about a second
 * (nftables: one batch; iptables-restore: one document of as many lines).
 */
#define REDIRECT_PLAN_RULES_MAX (4 * REDIRECT_LIST_MAX + 1024)

/*
 * Fills *ret (which must be zeroed or done) with the plan for p. ipv6 says
 * whether the pod gets IPv6 rules (its first non-loopback, non-link-local address is IPv6,
 * or with dual stack any is). Sets ret->ipv6 and ret->tproxy_routes. On error
 * *ret is left empty; more than REDIRECT_PLAN_RULES_MAX rules in a family is
 * ERR_CONFIG (-E2BIG), found before anything is programmed.
 */
int redirect_plan_build(const struct redirect_params *p, bool ipv6, struct redirect_plan *ret,
			struct error *err) _must_check_;

#endif
