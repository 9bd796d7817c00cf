/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to the common/capture/nft_*.c files: helpers they share. Nothing else
 * includes this header; the rest of the code uses nft_backend.h (apply,
 * remove, check), nft_render.h (the `nft -f` text) and nft_rules.h (the pure
 * program).
 */
#ifndef ISTIO_CNI_NFT_INTERNAL_H
#define ISTIO_CNI_NFT_INTERNAL_H

#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/nft_rules.h"
#include "capture/redirect_plan.h"
#include "util/cleanup.h"

/* ---- pure (nft_rules.c) ---- */

/* Type, hook and priority of one of our base chains. */
struct nft_base_chain {
	const char *type;
	const char *hook;
	int prio;
	unsigned int hooknum;
};

/* The base chain c of table t, or NULL when c is a regular chain. */
const struct nft_base_chain *nft_base_chain(enum plan_table t, enum plan_chain c);

/* The addresses a CIDR covers, as [start, last]. */
void nft_cidr_interval(const struct cidr *c, struct nft_interval *ret);

/* Adds one to the big-endian number v of len bytes; false when it wrapped to zero. */
bool nft_be_inc(uint8_t *v, size_t len);

/* ---- libnftnl objects (nft_objects.c) ---- */

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);

/* One programmed object set: a rule and, when it needs one, its anonymous set. */
struct nft_built_rule {
	struct nftnl_rule *rule;
	struct nftnl_set *set;
};

/*
 * Builds the libnftnl rule for r and, when r needs one, its anonymous set
 * with id set_id. On success *ret is the caller's (nft_built_rule_done).
 */
int nft_build_rule(const struct nft_rule_ir *r, uint32_t set_id, struct nft_built_rule *ret)
	_must_check_;
void nft_built_rule_done(struct nft_built_rule *br);

/* Whether r is built with an anonymous set (a fold or a port list). */
bool nft_rule_needs_set(const struct nft_rule_ir *r);

/*
 * A set object that only names the anonymous set set_id of table, as the
 * messages of one batch refer to it; NULL when out of memory.
 */
struct nftnl_set *nft_set_ref_new(const char *table, uint32_t set_id);

/* Adds one element (key of len bytes, element flags) to s. */
int nft_set_add_elem(struct nftnl_set *s, const void *key, uint32_t len, uint32_t flags)
	_must_check_;

/* ---- netlink (nft_batch.c) ---- */

/* A netlink sequence number unlikely to repeat one of a recent run. */
uint32_t nft_seq_start(void);

#endif
