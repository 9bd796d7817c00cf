/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The backend-neutral redirect plan: Istio's rule program,
 * recorded rule by rule in the order Istio's builder records it, per address
 * family. Backends turn it into kernel state; renderers turn it into text.
 *
 * A rule is a table, a chain, an ordered list of matches and one verdict.
 * Match order is kept so the iptables renderer can reproduce Istio's
 * iptables-restore documents byte for byte; the nftables backend orders
 * matches as nft needs and folds runs of same-verdict rules into sets.
 *
 * Everything here is pure: no syscalls.
 */
#ifndef ISTIO_CNI_REDIRECT_PLAN_H
#define ISTIO_CNI_REDIRECT_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/parse_util.h"

enum plan_family {
	PLAN_V4,
	PLAN_V6,
	_PLAN_FAMILY_MAX,
};

/* iptables table; the nftables backend maps each to an inet istio-proxy-* table. */
enum plan_table {
	PLAN_TABLE_NAT,
	PLAN_TABLE_MANGLE,
	PLAN_TABLE_RAW,
	_PLAN_TABLE_MAX,
};

enum plan_chain {
	PLAN_CHAIN_PREROUTING, /* built-in / base chain */
	PLAN_CHAIN_OUTPUT,     /* built-in / base chain */
	PLAN_CHAIN_INBOUND,    /* ISTIO_INBOUND / istio-inbound */
	PLAN_CHAIN_REDIRECT,   /* ISTIO_REDIRECT / istio-redirect */
	PLAN_CHAIN_IN_REDIRECT,
	PLAN_CHAIN_OUTPUT_ISTIO, /* ISTIO_OUTPUT / istio-output */
	PLAN_CHAIN_OUTPUT_DNS,
	PLAN_CHAIN_DIVERT,
	PLAN_CHAIN_TPROXY,
	PLAN_CHAIN_DROP,
	_PLAN_CHAIN_MAX,
};

/* One byte: a plan holds a rule per excluded range, thousands of matches. */
enum __attribute__((__packed__)) plan_match_kind {
	PM_IIF,	     /* -i NAME            / iifname NAME */
	PM_OIF,	     /* -o NAME            / oifname NAME */
	PM_PROTO,    /* -p tcp|udp         / meta l4proto */
	PM_SADDR,    /* -s CIDR            / ip[6] saddr */
	PM_DADDR,    /* -d CIDR            / ip[6] daddr */
	PM_DPORT,    /* --dport N          / th dport */
	PM_SPORT,    /* --sport N          / th sport */
	PM_DPORTS,   /* -m multiport --dports a,b / th dport { a, b } */
	PM_UID,	     /* -m owner --uid-owner N / meta skuid */
	PM_GID,	     /* -m owner --gid-owner N / meta skgid */
	PM_MARK,     /* -m mark --mark N   / meta mark */
	PM_CONNMARK, /* -m connmark --mark N / ct mark */
	PM_CTSTATE,  /* -m conntrack --ctstate ... / ct state */
	PM_DADDRS,   /* one -d CIDR rule per range / ip[6] daddr { ranges } */
	_PM_KIND_MAX,
};

/* Bits for PM_CTSTATE, as the kernel's NF_CT_STATE_* bits. */
enum plan_ctstate {
	PLAN_CT_INVALID = 1u << 0,
	PLAN_CT_ESTABLISHED = 1u << 1,
	PLAN_CT_RELATED = 1u << 2,
};

#define PLAN_PORTS_MAX 8
/* Istio's longest rule has 5 matches; the planner refuses a rule of more. */
#define PLAN_MATCHES_MAX 6

struct plan_match {
	enum plan_match_kind kind;
	bool neg;
	union {
		char ifname[16];  /* PM_IIF, PM_OIF */
		uint8_t proto;	  /* PM_PROTO: IPPROTO_TCP or IPPROTO_UDP */
		struct cidr cidr; /* PM_SADDR, PM_DADDR: as written, host bits kept */
		uint16_t port;	  /* PM_DPORT, PM_SPORT */
		struct {	  /* PM_DPORTS */
			uint16_t port[PLAN_PORTS_MAX];
			uint8_t n;
		} ports;
		uint32_t id;	  /* PM_UID, PM_GID */
		uint32_t mark;	  /* PM_MARK, PM_CONNMARK */
		uint32_t ctstate; /* PM_CTSTATE: enum plan_ctstate bits */
		struct {	  /* PM_DADDRS: n >= 1 ranges of one family, kept by the plan */
			const struct cidr *v;
			uint32_t n;
		} cidrs;
	} u;
};

enum plan_verdict_kind {
	PV_JUMP,	     /* -j CHAIN       / jump chain */
	PV_RETURN,	     /* -j RETURN      / return */
	PV_ACCEPT,	     /* -j ACCEPT      / accept */
	PV_DROP,	     /* -j DROP        / drop */
	PV_REDIRECT,	     /* -j REDIRECT --to-ports P / redirect to :P */
	PV_TPROXY,	     /* -j TPROXY --tproxy-mark M/0xffffffff --on-port P */
	PV_MARK_SET,	     /* -j MARK --set-mark M */
	PV_CONNMARK_SAVE,    /* -j CONNMARK --save-mark */
	PV_CONNMARK_RESTORE, /* -j CONNMARK --restore-mark */
	PV_CT_ZONE,	     /* -j CT --zone Z */
	_PV_KIND_MAX,
};

struct plan_verdict {
	enum plan_verdict_kind kind;
	enum plan_chain chain; /* PV_JUMP */
	uint16_t port;	       /* PV_REDIRECT, PV_TPROXY */
	uint32_t mark;	       /* PV_TPROXY, PV_MARK_SET */
	uint16_t zone;	       /* PV_CT_ZONE */
	/* Istio writes "--to-port" (singular) for the UDP DNS redirect; text only. */
	bool to_port_singular;
};

struct plan_rule {
	enum plan_table table;
	enum plan_chain chain;
	/* 0: append. N >= 1: insert at iptables position N (Istio's -I CHAIN N). */
	unsigned int insert_pos;
	uint8_t n_matches;
	bool overflow; /* the planner asked for more than PLAN_MATCHES_MAX matches */
	struct plan_match match[PLAN_MATCHES_MAX];
	struct plan_verdict verdict;
};

struct plan_rules {
	struct plan_rule *rule;
	size_t n;
	size_t cap;
	/* The rules iptables holds: a PM_DADDRS rule counts once per range. */
	size_t n_expanded;
};

struct redirect_plan {
	/* Rules per family, in Istio's recording order. V6 is empty unless ipv6. */
	struct plan_rules fam[_PLAN_FAMILY_MAX];
	bool ipv6;	    /* IPv6 rules are programmed; also add ::6/128 to lo */
	bool tproxy_routes; /* ip rule fwmark 1337 lookup 133 + local default route on lo */
	/* Blocks the rules point into (PM_DADDRS lists), freed with the plan. */
	void **kept;
	size_t n_kept;
};

void redirect_plan_done(struct redirect_plan *plan);

/* Appends a copy of rule to the family's list. */
int redirect_plan_add(struct redirect_plan *plan, enum plan_family fam,
		      const struct plan_rule *rule) _must_check_;

/*
 * Hands block (from malloc) to the plan, which frees it in redirect_plan_done;
 * on failure frees it at once. For the data PM_DADDRS matches point to.
 */
int redirect_plan_keep(struct redirect_plan *plan, void *block) _must_check_;

/*
 * A PM_DADDRS rule stands for one rule per range, in list order: Istio's
 * "-A CHAIN -d RANGE ..." per excluded range. Returns the index of its
 * PM_DADDRS match, or -1 for an ordinary rule.
 */
int plan_rule_list_index(const struct plan_rule *rule);
/* How many rules rule stands for: its list's length, else 1. */
size_t plan_rule_count(const struct plan_rule *rule);
/*
 * The match at index i of the rule that element elem of the list stands
 * for: a PM_DADDR for the list's slot (written to *tmp), match[i] otherwise.
 */
const struct plan_match *plan_rule_match(const struct plan_rule *rule, unsigned int i, size_t elem,
					 struct plan_match *tmp);

/* Names: "nat", "ISTIO_INBOUND"/"istio-inbound", ... */
const char *redirect_plan_table_iptables_name(enum plan_table t);
const char *redirect_plan_chain_iptables_name(enum plan_chain c);
const char *redirect_plan_table_nft_name(enum plan_table t);
const char *redirect_plan_chain_nft_name(enum plan_chain c);
bool redirect_plan_chain_is_builtin(enum plan_chain c);

#endif
