/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few rtnetlink operations the capture needs (TPROXY policy routing, ::6 on lo),
 * on a NETLINK_ROUTE socket opened in the pod netns (netns_mnl_open).
 * Every request asks for an ack and every ack is read; kernel errors carry
 * the extended-ack text (ERR_NETLINK).
 */
#ifndef ISTIO_CNI_RTNL_H
#define ISTIO_CNI_RTNL_H

#include <stdbool.h>

#include "util/cleanup.h"
#include "util/error.h"

struct mnl_socket;

/*
 * Istio's getLocalIP: walk the netns' addresses in kernel order, skipping
 * loopback, link-local unicast and link-local multicast (IPv4-mapped IPv6
 * counts as IPv4). Without dual stack the first remaining address decides;
 * with dual stack any IPv6 address does. No address at all → -EADDRNOTAVAIL.
 */
int rtnl_detect_ipv6(struct mnl_socket *nl, bool dual_stack, bool *ret_ipv6, struct error *err)
	_must_check_;

/* Adds ::6/128 to lo (the IPv6 inbound pass-through source); EEXIST is success. */
int rtnl_add_passthrough_addr(struct mnl_socket *nl, struct error *err) _must_check_;

/*
 * TPROXY: `ip rule add fwmark 1337 lookup 133` and
 * `ip route add local default dev lo table 133`, for IPv4 and, when ipv6,
 * IPv6. Existing ones are success.
 */
int rtnl_add_tproxy_routes(struct mnl_socket *nl, bool ipv6, struct error *err) _must_check_;

#endif
