// SPDX-License-Identifier: Apache-2.0
#include "capture/redirect_plan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/istio_names.h"

void redirect_plan_done(struct redirect_plan *plan)
{
	if (!plan)
		return;
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		free(plan->fam[f].rule);
	memset(plan, 0, sizeof(*plan));
}

int redirect_plan_add(struct redirect_plan *plan, enum plan_family fam,
		      const struct plan_rule *rule)
{
	struct plan_rules *rs = &plan->fam[fam];
	if (rs->n == rs->cap) {
		size_t ncap = rs->cap ? rs->cap * 2 : 32;
		struct plan_rule *n = reallocarray(rs->rule, ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		rs->rule = n;
		rs->cap = ncap;
	}
	rs->rule[rs->n++] = *rule;
	return 0;
}

static const char *const table_ipt[_PLAN_TABLE_MAX] = {
	[PLAN_TABLE_NAT] = "nat",
	[PLAN_TABLE_MANGLE] = "mangle",
	[PLAN_TABLE_RAW] = "raw",
};

static const char *const table_nft[_PLAN_TABLE_MAX] = {
	[PLAN_TABLE_NAT] = NFT_TABLE_NAT,
	[PLAN_TABLE_MANGLE] = NFT_TABLE_MANGLE,
	[PLAN_TABLE_RAW] = NFT_TABLE_RAW,
};

static const char *const chain_ipt[_PLAN_CHAIN_MAX] = {
	[PLAN_CHAIN_PREROUTING] = "PREROUTING",		[PLAN_CHAIN_OUTPUT] = "OUTPUT",
	[PLAN_CHAIN_INBOUND] = "ISTIO_INBOUND",		[PLAN_CHAIN_REDIRECT] = "ISTIO_REDIRECT",
	[PLAN_CHAIN_IN_REDIRECT] = "ISTIO_IN_REDIRECT", [PLAN_CHAIN_OUTPUT_ISTIO] = "ISTIO_OUTPUT",
	[PLAN_CHAIN_OUTPUT_DNS] = "ISTIO_OUTPUT_DNS",	[PLAN_CHAIN_DIVERT] = "ISTIO_DIVERT",
	[PLAN_CHAIN_TPROXY] = "ISTIO_TPROXY",		[PLAN_CHAIN_DROP] = "ISTIO_DROP",
};

static const char *const chain_nft[_PLAN_CHAIN_MAX] = {
	[PLAN_CHAIN_PREROUTING] = NFT_CHAIN_PREROUTING,
	[PLAN_CHAIN_OUTPUT] = NFT_CHAIN_OUTPUT,
	[PLAN_CHAIN_INBOUND] = NFT_CHAIN_INBOUND,
	[PLAN_CHAIN_REDIRECT] = NFT_CHAIN_REDIRECT,
	[PLAN_CHAIN_IN_REDIRECT] = NFT_CHAIN_IN_REDIRECT,
	[PLAN_CHAIN_OUTPUT_ISTIO] = NFT_CHAIN_OUTPUT_ISTIO,
	[PLAN_CHAIN_OUTPUT_DNS] = NFT_CHAIN_OUTPUT_DNS,
	[PLAN_CHAIN_DIVERT] = NFT_CHAIN_DIVERT,
	[PLAN_CHAIN_TPROXY] = NFT_CHAIN_TPROXY,
	[PLAN_CHAIN_DROP] = NFT_CHAIN_DROP,
};

const char *redirect_plan_table_iptables_name(enum plan_table t)
{
	return t < _PLAN_TABLE_MAX ? table_ipt[t] : "?";
}

const char *redirect_plan_table_nft_name(enum plan_table t)
{
	return t < _PLAN_TABLE_MAX ? table_nft[t] : "?";
}

const char *redirect_plan_chain_iptables_name(enum plan_chain c)
{
	return c < _PLAN_CHAIN_MAX ? chain_ipt[c] : "?";
}

const char *redirect_plan_chain_nft_name(enum plan_chain c)
{
	return c < _PLAN_CHAIN_MAX ? chain_nft[c] : "?";
}

bool redirect_plan_chain_is_builtin(enum plan_chain c)
{
	return c == PLAN_CHAIN_PREROUTING || c == PLAN_CHAIN_OUTPUT;
}
