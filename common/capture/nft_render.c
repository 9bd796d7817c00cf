// SPDX-License-Identifier: Apache-2.0
/* The program as `nft -f` text. */
#include "capture/nft_render.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture/nft_internal.h"

static const char *proto_name(uint8_t proto)
{
	switch (proto) {
	case 6:
		return "tcp";
	case 17:
		return "udp";
	default:
		return NULL;
	}
}

static void put_proto(FILE *f, uint8_t proto)
{
	const char *n = proto_name(proto);
	if (n)
		fputs(n, f);
	else
		fprintf(f, "%u", proto);
}

/* The transport protocol a port match in r refers to ("th" when unknown). */
static const char *rule_l4(const struct nft_rule_ir *r)
{
	for (unsigned int i = 0; i < r->n_matches; i++)
		if (r->match[i].kind == PM_PROTO && !r->match[i].neg &&
		    proto_name(r->match[i].u.proto))
			return proto_name(r->match[i].u.proto);
	return "th";
}

static void put_addr(FILE *f, int family, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];
	if (!inet_ntop(family, a, buf, sizeof(buf)))
		buf[0] = '\0';
	fputs(buf, f);
}

/* An interval as "a/n" when it is a prefix, else "a-b". */
static void put_interval(FILE *f, int family, const struct nft_interval *iv)
{
	unsigned int bits = family == AF_INET ? 32 : 128;
	unsigned int prefix = bits;

	/* Count trailing bits where start is 0 and last is 1. */
	for (unsigned int b = bits; b-- > 0;) {
		uint8_t bit = (uint8_t)(0x80u >> (b % 8));
		if ((iv->start[b / 8] & bit) == 0 && (iv->last[b / 8] & bit))
			prefix = b;
		else
			break;
	}
	bool exact = true;
	for (unsigned int b = 0; b < prefix; b++) {
		uint8_t bit = (uint8_t)(0x80u >> (b % 8));
		if ((iv->start[b / 8] & bit) != (iv->last[b / 8] & bit))
			exact = false;
	}
	put_addr(f, family, iv->start);
	if (exact) {
		fprintf(f, "/%u", prefix);
	} else {
		fputc('-', f);
		put_addr(f, family, iv->last);
	}
}

static void put_ctstate(FILE *f, uint32_t s)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} names[] = {
		{PLAN_CT_INVALID, "invalid"},
		{PLAN_CT_RELATED, "related"},
		{PLAN_CT_ESTABLISHED, "established"},
	};
	bool first = true;
	for (size_t i = 0; i < ELEMENTSOF(names); i++)
		if (s & names[i].bit) {
			fprintf(f, "%s%s", first ? "" : ",", names[i].name);
			first = false;
		}
}

static void put_match(FILE *f, const struct nft_rule_ir *r, unsigned int i)
{
	const struct plan_match *m = &r->match[i];
	const char *ne = m->neg ? "!= " : "";

	switch (m->kind) {
	case PM_IIF:
	case PM_OIF: {
		/* iptables' "veth+" is nft's "veth*". */
		int n = (int)strnlen(m->u.ifname, sizeof(m->u.ifname));
		bool prefix = n > 1 && m->u.ifname[n - 1] == '+';
		fprintf(f, "%s %s\"%.*s%s\"", m->kind == PM_IIF ? "iifname" : "oifname", ne,
			prefix ? n - 1 : n, m->u.ifname, prefix ? "*" : "");
		break;
	}
	case PM_PROTO:
		fprintf(f, "meta l4proto %s", ne);
		put_proto(f, m->u.proto);
		break;
	case PM_SADDR:
	case PM_DADDR: {
		struct nft_interval iv;
		nft_cidr_interval(&m->u.cidr, &iv);
		fprintf(f, "%s %s %s", m->u.cidr.family == AF_INET ? "ip" : "ip6",
			m->kind == PM_SADDR ? "saddr" : "daddr", ne);
		put_addr(f, m->u.cidr.family, iv.start);
		fprintf(f, "/%u", m->u.cidr.prefix);
		break;
	}
	case PM_DPORT:
	case PM_SPORT:
		fprintf(f, "%s %s %s%u", rule_l4(r), m->kind == PM_DPORT ? "dport" : "sport", ne,
			m->u.port);
		break;
	case PM_DPORTS:
		fprintf(f, "%s dport %s{ ", rule_l4(r), ne);
		for (unsigned int k = 0; k < m->u.ports.n; k++)
			fprintf(f, "%s%u", k ? ", " : "", m->u.ports.port[k]);
		fputs(" }", f);
		break;
	case PM_UID:
		fprintf(f, "meta skuid %s%u", ne, m->u.id);
		break;
	case PM_GID:
		fprintf(f, "meta skgid %s%u", ne, m->u.id);
		break;
	case PM_MARK:
		fprintf(f, "meta mark %s%u", ne, m->u.mark);
		break;
	case PM_CONNMARK:
		fprintf(f, "ct mark %s%u", ne, m->u.mark);
		break;
	case PM_CTSTATE:
		fprintf(f, "ct state %s", ne);
		put_ctstate(f, m->u.ctstate);
		break;
	default:
		fputs("?", f);
		break;
	}
}

static void put_fold(FILE *f, const struct nft_rule_ir *r)
{
	switch (r->fold) {
	case NFT_FOLD_SADDR:
	case NFT_FOLD_DADDR:
		fprintf(f, "%s %s { ", r->fold_family == AF_INET ? "ip" : "ip6",
			r->fold == NFT_FOLD_SADDR ? "saddr" : "daddr");
		for (size_t k = 0; k < r->n_elems; k++) {
			if (k)
				fputs(", ", f);
			put_interval(f, r->fold_family, &r->iv[k]);
		}
		fputs(" }", f);
		break;
	case NFT_FOLD_DPORT:
		fprintf(f, "%s dport { ", rule_l4(r));
		for (size_t k = 0; k < r->n_elems; k++)
			fprintf(f, "%s%u", k ? ", " : "", r->port[k]);
		fputs(" }", f);
		break;
	case NFT_FOLD_PROTO_DPORT:
		fputs("meta l4proto . th dport { ", f);
		for (size_t k = 0; k < r->n_elems; k++) {
			if (k)
				fputs(", ", f);
			put_proto(f, r->pp[k].proto);
			fprintf(f, " . %u", r->pp[k].port);
		}
		fputs(" }", f);
		break;
	default:
		break;
	}
}

static bool rule_has_addr(const struct nft_rule_ir *r)
{
	if (r->fold == NFT_FOLD_SADDR || r->fold == NFT_FOLD_DADDR)
		return true;
	for (unsigned int i = 0; i < r->n_matches; i++)
		if (r->match[i].kind == PM_SADDR || r->match[i].kind == PM_DADDR)
			return true;
	return false;
}

static void put_rule(FILE *f, const struct nft_rule_ir *r)
{
	bool sp = false;

	if (r->nfproto && !rule_has_addr(r)) {
		fprintf(f, "meta nfproto %s", r->nfproto == NFPROTO_IPV6 ? "ipv6" : "ipv4");
		sp = true;
	}
	for (unsigned int i = 0; i < r->n_matches; i++) {
		if (r->fold != NFT_FOLD_NONE &&
		    (i == r->fold_idx || (r->fold == NFT_FOLD_PROTO_DPORT && i == r->fold_idx2))) {
			if (i != r->fold_idx)
				continue;
			if (sp)
				fputc(' ', f);
			put_fold(f, r);
			sp = true;
			continue;
		}
		if (sp)
			fputc(' ', f);
		put_match(f, r, i);
		sp = true;
	}
	if (sp)
		fputc(' ', f);

	const struct plan_verdict *v = &r->verdict;
	switch (v->kind) {
	case PV_JUMP:
		fprintf(f, "counter jump %s", redirect_plan_chain_nft_name(v->chain));
		break;
	case PV_RETURN:
		fputs("counter return", f);
		break;
	case PV_ACCEPT:
		fputs("counter accept", f);
		break;
	case PV_DROP:
		fputs("counter drop", f);
		break;
	case PV_REDIRECT:
		fprintf(f, "counter redirect to :%u", v->port);
		break;
	case PV_TPROXY:
		fprintf(f, "tproxy %s to :%u meta mark set %u counter accept",
			r->nfproto == NFPROTO_IPV6 ? "ip6" : "ip", v->port, v->mark);
		break;
	case PV_MARK_SET:
		fprintf(f, "counter meta mark set %u", v->mark);
		break;
	case PV_CONNMARK_SAVE:
		fputs("counter ct mark set meta mark", f);
		break;
	case PV_CONNMARK_RESTORE:
		fputs("counter meta mark set ct mark", f);
		break;
	case PV_CT_ZONE:
		fprintf(f, "counter ct zone set %u", v->zone);
		break;
	default:
		fputs("?", f);
		break;
	}
}

int nft_rule_ir_render(const struct nft_rule_ir *r, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	put_rule(f, r);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

static void put_chain_decl(FILE *f, enum plan_table t, enum plan_chain c)
{
	const struct nft_base_chain *b = nft_base_chain(t, c);
	fprintf(f, "add chain inet %s %s", redirect_plan_table_nft_name(t),
		redirect_plan_chain_nft_name(c));
	if (b)
		fprintf(f, " { type %s hook %s priority %d ; }", b->type, b->hook, b->prio);
	fputc('\n', f);
}

static int program_render(const struct nft_program *p, char **ret_text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;

	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		if (!p->table_used[t])
			continue;
		fprintf(f, "add table inet %s\n", redirect_plan_table_nft_name(t));
		for (int c = 0; c < _PLAN_CHAIN_MAX; c++)
			if (p->chain_used[t][c])
				put_chain_decl(f, t, c);
		for (size_t i = 0; i < p->n; i++) {
			if (p->rule[i].table != (enum plan_table)t)
				continue;
			fprintf(f, "add rule inet %s %s ", redirect_plan_table_nft_name(t),
				redirect_plan_chain_nft_name(p->rule[i].chain));
			put_rule(f, &p->rule[i]);
			fputc('\n', f);
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret_text = buf;
	return 0;
}

int nft_render(const struct redirect_plan *plan, char **ret_text, struct error *err)
{
	struct nft_program p;
	int r = nft_program_build(plan, &p, err);
	if (r < 0)
		return r;
	r = program_render(&p, ret_text);
	nft_program_done(&p);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "rendering nftables rules");
	return 0;
}
