/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pure layer of the nftables backend: turns a redirect plan into the
 * program the kernel layer (nft_batch.h) sends and nft_render.h prints. No
 * syscalls; the unit tests exercise it without a kernel.
 *
 * nft_program_build resolves Istio's inserts to the final rule order, merges
 * the IPv4 and IPv6 rule lists into the shared inet chains and folds runs of
 * rules that differ in one value into set lookups.
 *
 * Family rules: a rule with an address match only sees its family. When the
 * plan has no IPv6 rules, every base-chain rule is qualified with
 * `meta nfproto ipv4`, so IPv6 packets never reach our chains (iptables
 * semantics, not Istio's inet nftables ones). When it has both, rules common to both families are
 * emitted once, family-specific ones are qualified.
 */
#ifndef ISTIO_CNI_NFT_RULES_H
#define ISTIO_CNI_NFT_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

enum nft_fold_kind {
	NFT_FOLD_NONE,
	NFT_FOLD_SADDR,	     /* ip[6] saddr { intervals } */
	NFT_FOLD_DADDR,	     /* ip[6] daddr { intervals } */
	NFT_FOLD_DPORT,	     /* th dport { ports } */
	NFT_FOLD_PROTO_DPORT /* meta l4proto . th dport { proto . port } */
};

/* A closed address interval [start, last], network byte order. */
struct nft_interval {
	uint8_t start[16];
	uint8_t last[16];
};

struct nft_proto_port {
	uint8_t proto;
	uint16_t port;
};

/* One rule as programmed: a plan rule, maybe qualified by family, maybe folded. */
struct nft_rule_ir {
	enum plan_table table;
	enum plan_chain chain;
	/* 0: both families; NFPROTO_IPV4 or NFPROTO_IPV6: this family only. */
	uint8_t nfproto;
	uint8_t n_matches;
	struct plan_match match[PLAN_MATCHES_MAX];
	struct plan_verdict verdict;

	/* Folding: match[fold_idx] (and match[fold_idx2] for PROTO_DPORT) is replaced by a set. */
	enum nft_fold_kind fold;
	uint8_t fold_idx;
	uint8_t fold_idx2;
	int fold_family; /* AF_INET / AF_INET6 for address folds */
	size_t n_elems;
	struct nft_interval *iv;   /* SADDR, DADDR: sorted, disjoint, not adjacent */
	uint16_t *port;		   /* DPORT: sorted, unique */
	struct nft_proto_port *pp; /* PROTO_DPORT: sorted, unique */
	/* How many plan rules this one stands for (1 unless folded). */
	size_t n_folded;
};

/*
 * Rules grouped by table (nat, mangle, raw), then by chain in enum order,
 * each chain in final order.
 */
struct nft_program {
	struct nft_rule_ir *rule;
	size_t n;
	size_t cap;
	bool table_used[_PLAN_TABLE_MAX];
	/* Chains to create: those with rules and every jump target. */
	bool chain_used[_PLAN_TABLE_MAX][_PLAN_CHAIN_MAX];
	bool ipv6;
};

/*
 * Builds the program apply would program. On success *ret is the caller's
 * (nft_program_done); on failure nothing is left allocated and *ret is
 * untouched.
 */
int nft_program_build(const struct redirect_plan *plan, struct nft_program *ret, struct error *err)
	_must_check_;
/* Frees what p holds and zeroes it; accepts NULL. */
void nft_program_done(struct nft_program *p);

/*
 * Sorts iv[0..n) and merges overlapping and adjacent intervals in place;
 * returns the new count. family is AF_INET or AF_INET6. Exposed for the unit
 * tests; nft_program_build uses it for address folds.
 */
size_t nft_intervals_normalize(struct nft_interval *iv, size_t n, int family);

#endif
