/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI result: prevResult decoded into a plain C struct, converted
 * between CNI versions, and printed.
 *
 * The struct is the union of every version's result, shaped like libcni's
 * types/100 (spec 1.1.0) Result. Decoding follows libcni: prevResult is read
 * with the result type of the *conf's* cniVersion (types/020 for 0.1.0/0.2.0,
 * types/040 for 0.3.x/0.4.0, types/100 for 1.x), unknown keys are ignored,
 * JSON null leaves a field at its zero value, object keys match
 * case-insensitively (Go's encoding/json), and the result's own cniVersion, when
 * present, must belong to the same type family. Encoding follows libcni's
 * converters (types/100 convertTo04x/convertTo02x, types/040 convertFrom02x).
 *
 * Deliberate differences from libcni: an ips[] entry without `address` or a
 * route without `dst`, and null array elements, are decode errors (libcni
 * would print "<nil>" or crash); the 1.1.0-only fields (interface
 * mtu/socketPath/pciID, route mtu/advmss/priority/table/scope) are emitted only
 * in 1.1.0 output (libcni's shared Route type would emit route extras in every
 * version).
 */
#ifndef ISTIO_CNI_CNI_RESULT_H
#define ISTIO_CNI_CNI_RESULT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cni/cni_version.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/parse_util.h"

/* An IP address without prefix; family 0 means "absent". */
struct cni_addr {
	int family; /* 0, AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	} addr;
};

struct cni_interface {
	char *name;	   /* never NULL; may be "" */
	char *mac;	   /* NULL when absent */
	char *sandbox;	   /* NULL when absent */
	int64_t mtu;	   /* 1.1.0; 0 = absent */
	char *socket_path; /* 1.1.0; NULL when absent */
	char *pci_id;	   /* 1.1.0; NULL when absent */
};

struct cni_ip_config {
	bool has_interface;
	int64_t interface;   /* index into interfaces[], as given (not range-checked) */
	struct cidr address; /* host bits kept as written, e.g. 10.1.0.5/24 */
	struct cni_addr gateway;
};

struct cni_route {
	struct cidr dst;
	struct cni_addr gw;
	int64_t mtu; /* 1.1.0 fields; 0 = absent */
	int64_t advmss;
	int64_t priority;
	bool has_table;
	int64_t table;
	bool has_scope;
	int64_t scope;
};

struct cni_dns {
	char **nameservers;
	size_t n_nameservers;
	char *domain; /* NULL when absent */
	char **search;
	size_t n_search;
	char **options;
	size_t n_options;
};

struct cni_result {
	struct cni_interface *interfaces;
	size_t n_interfaces;
	struct cni_ip_config *ips;
	size_t n_ips;
	struct cni_route *routes;
	size_t n_routes;
	struct cni_dns dns;
};

/* An empty result (no interfaces, ips, routes, dns). Returns 0 or -ENOMEM. */
int cni_result_new(struct cni_result **ret) _must_check_;

/* Frees r and everything it owns; accepts NULL; returns NULL. */
struct cni_result *cni_result_free(struct cni_result *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct cni_result *, cni_result_free);
#define _cleanup_cni_result_ _cleanup_(cni_result_freep)

/*
 * Decodes prev (the conf's `prevResult` object, borrowed) with the result type
 * of prev_version (the conf's cniVersion). Returns 0 and *ret (owned by the
 * caller), or -EINVAL with err kind ERR_DECODE and a message naming the JSON
 * path (e.g. "prevResult.ips[1].address: invalid CIDR \"10.0.0.1\""), or
 * -ENOMEM.
 */
int cni_result_from_json(const json_t *prev, enum cni_version prev_version, struct cni_result **ret,
			 struct error *err) _must_check_;

/*
 * Encodes r as a result of version v, as libcni's converters do: 0.3.x/0.4.0
 * carry ips[].version "4"/"6" computed from the address; 1.x do not;
 * 0.1.0/0.2.0 carry `ip4`/`ip6` (the first IPv4 and first IPv6 entry of ips,
 * routes split between them by destination family). `dns` is always present
 * (possibly `{}`), as libcni prints it. Returns 0 and a new reference in *ret,
 * -EOPNOTSUPP (ERR_VERSION) when v is 0.1.0/0.2.0 and r has no IP address
 * (libcni: "cannot convert: no valid IP addresses"), or -ENOMEM.
 */
int cni_result_to_json(const struct cni_result *r, enum cni_version v, json_t **ret,
		       struct error *err) _must_check_;

/*
 * Print r (or an empty result) in version v to out, indented with four
 * spaces as libcni's PrintResult does, followed by a newline, and flush.
 * Returns 0, -EOPNOTSUPP as cni_result_to_json (for the empty result: always
 * for 0.1.0/0.2.0, whose results need an IP; libcni fails there too),
 * -ENOMEM, or -EIO (or the errno of the failed write) when writing or
 * flushing out failed.
 */
int cni_result_print(const struct cni_result *r, enum cni_version v, FILE *out) _must_check_;
int cni_result_print_empty(enum cni_version v, FILE *out) _must_check_;

#endif
