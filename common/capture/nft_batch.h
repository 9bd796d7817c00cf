/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kernel side of the nftables backend, writing: turns a program
 * (nft_rules.h) into libnftnl objects and sends them as one netlink batch
 * (all tables of one ADD or none), then reads every ack with extended ack enabled.
 */
#ifndef ISTIO_CNI_NFT_BATCH_H
#define ISTIO_CNI_NFT_BATCH_H

#include "capture/nft_rules.h"
#include "util/cleanup.h"
#include "util/error.h"

struct mnl_socket;

/*
 * One transaction on nl (a NETLINK_NETFILTER socket, in whatever netns it was
 * opened): deletes our tables whose bit (1 << enum plan_table) is set in
 * del_mask, then creates p's tables, chains, sets and rules. The kernel
 * applies all of it or none. Every ack is read; the first failure is
 * returned with the failing message and the kernel's extended ack
 * (ERR_NFTABLES). Nothing to delete or create is success without a send.
 */
int nft_batch_apply(struct mnl_socket *nl, const struct nft_program *p, unsigned int del_mask,
		    struct error *err) _must_check_;

#endif
