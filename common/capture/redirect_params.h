/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sidecar decision (skip or capture) and the redirect parameters derived
 * from a pod: its annotations, the istio-proxy container and Istio's defaults.
 *
 * Lists keep the three states Istio distinguishes: wildcard ("*"), a list,
 * and empty (a present-but-empty annotation means "capture nothing", not
 * "use the default"). Pure: no syscalls, no logging.
 */
#ifndef ISTIO_CNI_REDIRECT_PARAMS_H
#define ISTIO_CNI_REDIRECT_PARAMS_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/pod_info.h"
#include "util/cleanup.h"
#include "util/error.h"
#include "util/parse_util.h"

enum redirect_skip {
	REDIRECT_CAPTURE = 0,
	REDIRECT_SKIP_ISTIO_INIT,      /* a container or init container istio-init */
	REDIRECT_SKIP_ENVOY_DISABLED,  /* istio-proxy env DISABLE_ENVOY true */
	REDIRECT_SKIP_NO_PROXY,	       /* no istio-proxy container */
	REDIRECT_SKIP_NOT_SIDECAR,     /* istio-proxy args "proxy <X>", X != sidecar */
	REDIRECT_SKIP_INJECT_DISABLED, /* sidecar.istio.io/inject false (label wins) */
	REDIRECT_SKIP_NO_STATUS,       /* no sidecar.istio.io/status annotation */
	_REDIRECT_SKIP_MAX,
};

/* Istio's skip rules, in Istio's order. */
enum redirect_skip redirect_decide(const struct pod_info *pod);
const char *redirect_skip_to_string(enum redirect_skip s);

enum redirect_mode {
	REDIRECT_MODE_REDIRECT,
	REDIRECT_MODE_TPROXY,
};

/* Entries in any annotation list: Kubernetes caps all annotations at 256 KiB,
 * so this only bounds work; 1,000+ excluded CIDRs are a real configuration. */
#define REDIRECT_LIST_MAX 16384

struct port_list {
	bool wildcard;
	size_t n;
	uint16_t *port;
};

struct cidr_list {
	bool wildcard;
	size_t n;
	struct cidr *cidr; /* as written: host bits kept */
};

struct ifname_list {
	size_t n;
	char (*name)[IFNAMSIZ];
};

struct id_list {
	size_t n;
	uint32_t *id;
};

struct redirect_params {
	enum redirect_mode mode;
	struct cidr_list include_cidrs;		/* default "*" */
	struct cidr_list exclude_cidrs;		/* never wildcard */
	struct port_list include_inbound_ports; /* default "*" */
	struct port_list exclude_inbound_ports; /* user list + 15020,15021,15090; only with "*" */
	struct port_list include_outbound_ports;
	struct port_list exclude_outbound_ports; /* default 15020 */
	struct ifname_list exclude_interfaces;
	struct ifname_list reroute_interfaces;
	struct id_list proxy_uids; /* default 1337 */
	struct id_list proxy_gids; /* default 1337 */
	bool dns_capture;	   /* ISTIO_META_DNS_CAPTURE: redirect + capture all DNS */
	bool dual_stack;	   /* ISTIO_DUAL_STACK */
	bool drop_invalid;	   /* INVALID_DROP */
	/* HostIPv4LoopbackCidr: 127.0.0.1/32 (istio-iptables' env default). */
	struct cidr host_loopback_v4;
};

/*
 * Fills ret from the pod's annotations and istio-proxy container. An invalid
 * value gives -EINVAL with ERR_CONFIG naming the annotation and the value.
 * ret is written only on success; release it with redirect_params_done().
 */
int redirect_params_from_pod(const struct pod_info *pod, struct redirect_params *ret,
			     struct error *err) _must_check_;

/* Sets Istio's CNI defaults (no allocation beyond the default lists). */
int redirect_params_init_defaults(struct redirect_params *ret) _must_check_;

void redirect_params_done(struct redirect_params *p);

/*
 * List parsers shared with tests and fuzzers. Entries are split on ',',
 * trimmed, and empty entries dropped; key names the annotation in errors.
 * "*" alone is the wildcard when allow_wildcard, an error otherwise; "" is
 * the empty list. A repeated entry is dropped (the first is kept, the order
 * preserved). On success the previous content of *list is freed.
 */
int redirect_parse_ports(const char *key, const char *value, bool allow_wildcard,
			 struct port_list *list, struct error *err) _must_check_;
int redirect_parse_cidrs(const char *key, const char *value, bool allow_wildcard,
			 struct cidr_list *list, struct error *err) _must_check_;
int redirect_parse_ifnames(const char *key, const char *value, struct ifname_list *list,
			   struct error *err) _must_check_;
/*
 * An interface name both backends read alike: the kernel's rules (1-15 bytes,
 * not "." or "..", no '/', ':' or whitespace), none of the characters
 * iptables-restore's tokenizer or option parser gives a meaning to ('"', '\'',
 * '\\', '#', '!', a leading '-') and no '*' (nft's spelling of a wildcard). A
 * trailing '+' is a prefix wildcard ("veth+": every name starting with
 * "veth") on both backends; a '+' elsewhere, or "+" alone (every interface),
 * is refused.
 */
bool redirect_ifname_valid(const char *name);

int redirect_parse_ids(const char *key, const char *value, struct id_list *list, struct error *err)
	_must_check_;

#endif
