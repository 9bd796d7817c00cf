/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel side of the nftables backend, reading: dumps our tables, chains,
 * sets and rules back over netlink and compares them with a program
 * (nft_rules.h).
 */
#ifndef ISTIO_CNI_NFT_CHECK_H
#define ISTIO_CNI_NFT_CHECK_H

#include "capture/nft_rules.h"
#include "util/cleanup.h"
#include "util/error.h"

struct mnl_socket;

/* Which of our tables exist in the netns of nl (bit i = enum plan_table i). */
int nft_check_tables_present(struct mnl_socket *nl, unsigned int *ret_mask, struct error *err)
	_must_check_;

/*
 * Reads our tables back and compares them with p. Equal → 0. Differences →
 * -EBADMSG with ERR_CHECK, naming each missing or extra table, chain and rule
 * (rules as nft text) in the message and details.
 */
int nft_check_program(struct mnl_socket *nl, const struct nft_program *p, struct error *err)
	_must_check_;

#endif
