/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The native nftables backend: turns a redirect plan into the inet tables
 * istio-proxy-nat, istio-proxy-mangle and istio-proxy-raw through libnftnl and
 * libmnl (no nft binary), in one netlink batch.
 *
 * This is its public front. Behind it: nft_rules.h (the pure program: final
 * order, family merge, folding), nft_render.h (the same program as `nft -f`
 * text), nft_batch.h (the program as one netlink batch, every ack read) and
 * nft_check.h (our tables read back and compared).
 *
 * Every function takes a NETLINK_NETFILTER socket the caller opened in the pod
 * netns (netns.h) and acts in that netns only, on our three tables only.
 */
#ifndef ISTIO_CNI_NFT_BACKEND_H
#define ISTIO_CNI_NFT_BACKEND_H

#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

struct mnl_socket;

/*
 * Programs plan in the netns of nl (a NETLINK_NETFILTER socket). One batch:
 * when none of our tables exists, a create-only transaction; otherwise our
 * existing tables are deleted and the planned ones created in the same
 * transaction, so there is no moment without rules. Every ack is read;
 * failures carry the failing message and the kernel's extended ack
 * (ERR_NFTABLES). A plan without rules removes our tables.
 */
int nft_backend_apply(struct mnl_socket *nl, const struct redirect_plan *plan, struct error *err)
	_must_check_;

/* Deletes exactly our three tables if present, in one batch. Missing = success. */
int nft_backend_remove(struct mnl_socket *nl, struct error *err) _must_check_;

/*
 * Reads our tables back and compares them with what apply would program.
 * Differences → -EBADMSG with ERR_CHECK, naming each missing or extra table,
 * chain and rule (rules as nft text) in the message and details.
 */
int nft_backend_check(struct mnl_socket *nl, const struct redirect_plan *plan, struct error *err)
	_must_check_;

/* Which of our tables exist (bit i = enum plan_table i). */
int nft_backend_tables_present(struct mnl_socket *nl, unsigned int *ret_mask, struct error *err)
	_must_check_;

#endif
