/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native nftables backend: turns a redirect plan into the inet tables
 * istio-proxy-nat, istio-proxy-mangle and istio-proxy-raw through libnftnl and
 * libmnl (research I§3.11), in one netlink batch.
 *
 * Two layers. The pure one (nft_program_*) resolves Istio's inserts to the
 * final rule order, merges the IPv4 and IPv6 rule lists into the shared inet
 * chains and folds runs of rules that differ in one value into set lookups;
 * the unit tests exercise it without a kernel. The kernel one builds the batch
 * from the program, sends it on a NETLINK_NETFILTER socket the caller opened in
 * the pod netns (netns.h), and reads every ack.
 *
 * Family rules: a rule with an address match only sees its family. When the
 * plan has no IPv6 rules, every base-chain rule is qualified with
 * `meta nfproto ipv4`, so IPv6 packets never reach our chains (iptables
 * semantics, SPEC 7). When it has both, rules common to both families are
 * emitted once, family-specific ones are qualified.
 */
#ifndef ISTIO_CNI_NFT_BACKEND_H
#define ISTIO_CNI_NFT_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cleanup.h"
#include "error.h"
#include "redirect_plan.h"

struct mnl_socket;

enum nft_fold_kind {
	NFT_FOLD_NONE,
	NFT_FOLD_SADDR,      /* ip[6] saddr { intervals } */
	NFT_FOLD_DADDR,      /* ip[6] daddr { intervals } */
	NFT_FOLD_DPORT,      /* th dport { ports } */
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
	struct nft_interval *iv;  /* SADDR, DADDR: sorted, disjoint, not adjacent */
	uint16_t *port;           /* DPORT: sorted, unique */
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

/* Pure: builds the program apply would program. ret is the caller's (nft_program_done). */
int nft_program_build(const struct redirect_plan *plan, struct nft_program *ret,
		      struct error *err) _must_check_;
void nft_program_done(struct nft_program *p);

/* Renders one programmed rule as nft text (no "add rule" prefix). *ret is the caller's. */
int nft_rule_ir_render(const struct nft_rule_ir *r, char **ret) _must_check_;

/*
 * The `nft -f` text of exactly what apply programs: add table / add chain
 * (with hook, type and priority) / add rule, folded, in final order.
 */
int nft_render(const struct redirect_plan *plan, char **ret_text, struct error *err) _must_check_;

/*
 * Programs plan in the netns of nl (a NETLINK_NETFILTER socket). One batch:
 * when none of our tables exists, a create-only transaction; otherwise our
 * existing tables are deleted and the planned ones created in the same
 * transaction, so there is no moment without rules. Every ack is read;
 * failures carry the failing message and the kernel's extended ack
 * (ERR_NFTABLES). A plan without rules removes our tables.
 */
int nft_backend_apply(struct mnl_socket *nl, const struct redirect_plan *plan,
		      struct error *err) _must_check_;

/* Deletes exactly our three tables if present, in one batch. Missing = success. */
int nft_backend_remove(struct mnl_socket *nl, struct error *err) _must_check_;

/*
 * Reads our tables back and compares them with what apply would program.
 * Differences → -EBADMSG with ERR_CHECK, naming each missing or extra table,
 * chain and rule (rules as nft text) in the message and details.
 */
int nft_backend_check(struct mnl_socket *nl, const struct redirect_plan *plan,
		      struct error *err) _must_check_;

/* Which of our tables exist (bit i = enum plan_table i). */
int nft_backend_tables_present(struct mnl_socket *nl, unsigned int *ret_mask,
			       struct error *err) _must_check_;

#endif
