/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Which redirect backend programs a pod (conf `redirect_backend`,
 * `native_nftables`), and which iptables binaries the iptables backend runs
 * (Istio's rule: legacy if the netns already has legacy rules, else nft).
 *
 * Both choices rest on two facts about the pod netns, learnt without exec:
 *  - the legacy x_tables tables that exist in it: the kernel instantiates a
 *    legacy table in a netns the first time legacy iptables uses it there and
 *    lists it in /proc/<task>/net/ip_tables_names (ip6_tables_names for IPv6);
 *    iptables-nft never does. A listed table stays listed after its rules are
 *    deleted, exactly as iptables-legacy-save keeps printing it (Istio's test).
 *  - whether the kernel answers nf_tables at all (NFT_MSG_GETGEN).
 *
 * The decision functions are pure; the probes are small and say which netns
 * they act in.
 */
#ifndef ISTIO_CNI_BACKEND_SELECT_H
#define ISTIO_CNI_BACKEND_SELECT_H

#include <stdbool.h>
#include <stddef.h>

#include "capture/redirect_plan.h"
#include "cni/netconf.h"
#include "util/cleanup.h"
#include "util/error.h"

struct mnl_socket;

/* Bits of a legacy table mask. */
enum legacy_table_bit {
	LEGACY_TABLE_FILTER = 1u << 0,
	LEGACY_TABLE_NAT = 1u << 1,
	LEGACY_TABLE_MANGLE = 1u << 2,
	LEGACY_TABLE_RAW = 1u << 3,
	LEGACY_TABLE_SECURITY = 1u << 4,
	LEGACY_TABLE_OTHER = 1u << 5,
};

struct legacy_tables {
	unsigned int mask[_PLAN_FAMILY_MAX]; /* enum legacy_table_bit per family */
};

enum iptables_variant {
	IPTABLES_VARIANT_NFT,
	IPTABLES_VARIANT_LEGACY,
	_IPTABLES_VARIANT_MAX,
};

/* Parses the text of an ip_tables_names file (one table name a line). Pure. */
unsigned int backend_parse_table_names(const char *buf, size_t len);

/*
 * The configured choice before looking at the netns: an explicit
 * redirect_backend (nftables, iptables) wins; else native_nftables: true means
 * nftables; else REDIRECT_BACKEND_AUTO. Pure.
 */
enum redirect_backend backend_configured(enum redirect_backend redirect_backend,
					 bool native_nftables);

/*
 * The `auto` rule from the facts: iptables when the netns holds a
 * legacy nat table (either family) or nf_tables is unavailable; else nftables.
 * A configured nftables/iptables is returned as is. Pure.
 */
enum redirect_backend backend_decide(enum redirect_backend configured,
				     const struct legacy_tables *legacy, bool nft_available);

/*
 * Istio's binary choice per family: legacy when the netns already has legacy
 * tables of that family or nf_tables is unavailable, else nft. Pure.
 */
enum iptables_variant backend_iptables_variant(const struct legacy_tables *legacy,
					       enum plan_family fam, bool nft_available);

const char *iptables_variant_to_string(enum iptables_variant v);

/*
 * Reads /proc/thread-self/net/ip{,6}_tables_names. Must run inside the pod
 * netns (from a netns_run() callback): the files show the netns of the
 * calling thread. A missing file (ip_tables not loaded) is an empty mask.
 * Opens, reads and closes two small files; no exec, no netlink.
 */
int backend_probe_legacy_tables(struct legacy_tables *ret) _must_check_;

/*
 * Asks the netns of nl (a NETLINK_NETFILTER socket) for the nf_tables
 * generation. *ret_available is false when the kernel has no nf_tables
 * (the request is refused with EOPNOTSUPP, EPROTONOSUPPORT, EAFNOSUPPORT or
 * EINVAL, as nfnetlink does for a missing subsystem). Other failures are
 * returned (ERR_NFTABLES).
 */
int backend_probe_nft(struct mnl_socket *nl, bool *ret_available, struct error *err) _must_check_;

#endif
