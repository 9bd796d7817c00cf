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
	for (size_t i = 0; i < plan->n_kept; i++)
		free(plan->kept[i]);
	free(plan->kept);
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
	rs->n_expanded += plan_rule_count(rule);
	return 0;
}

int redirect_plan_keep(struct redirect_plan *plan, void *block)
{
	// NOLINTNEXTLINE(bugprone-sizeof-expression): an array of pointers
	void **n = reallocarray(plan->kept, plan->n_kept + 1, sizeof(*n));
	if (!n) {
		free(block);
		return -ENOMEM;
	}
	plan->kept = n;
	plan->kept[plan->n_kept++] = block;
	return 0;
}

int plan_rule_list_index(const struct plan_rule *rule)
{
	for (unsigned int i = 0; i < rule->n_matches && i < PLAN_MATCHES_MAX; i++)
		if (rule->match[i].kind == PM_DADDRS)
			return (int)i;
	return -1;
}

size_t plan_rule_count(const struct plan_rule *rule)
{
	int i = plan_rule_list_index(rule);
	return i < 0 ? 1 : rule->match[i].u.cidrs.n;
}

const struct plan_match *plan_rule_match(const struct plan_rule *rule, unsigned int i, size_t elem,
					 struct plan_match *tmp)
{
	const struct plan_match *m = &rule->match[i];
	if (m->kind != PM_DADDRS)
		return m;
	*tmp = (struct plan_match){.kind = PM_DADDR, .neg = m->neg, .u.cidr = m->u.cidrs.v[elem]};
	return tmp;
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
