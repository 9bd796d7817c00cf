/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The nftables backend as text: the `nft -f` input equivalent to what
 * nft_backend_apply programs, for `istio-cni plan`, for error messages that
 * name a rule, and for the unit tests. Pure: no syscalls.
 */
#ifndef ISTIO_CNI_NFT_RENDER_H
#define ISTIO_CNI_NFT_RENDER_H

#include "capture/nft_rules.h"
#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

/* Renders one programmed rule as nft text (no "add rule" prefix). *ret is the caller's. */
int nft_rule_ir_render(const struct nft_rule_ir *r, char **ret) _must_check_;

/*
 * The `nft -f` text of exactly what apply programs: add table / add chain
 * (with hook, type and priority) / add rule, folded, in final order.
 * *ret_text is the caller's.
 */
int nft_render(const struct redirect_plan *plan, char **ret_text, struct error *err) _must_check_;

#endif
