// SPDX-License-Identifier: Apache-2.0
#include "nft_backend.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <errno.h>
#include <linux/netfilter.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "istio_names.h"

/* ---------------------------------------------------------------------------
 * Pure part: final order, family merge, folding.
 */

/* Per (table, chain) list of plan rules in final order, for one family. */
struct chain_list {
	const struct plan_rule **r;
	size_t n;
	size_t cap;
};

static void chain_lists_free(struct chain_list (*cl)[_PLAN_CHAIN_MAX])
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		for (int c = 0; c < _PLAN_CHAIN_MAX; c++)
			free(cl[t][c].r);
}

static int chain_list_insert(struct chain_list *l, size_t pos, const struct plan_rule *r)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		const struct plan_rule **n = reallocarray(l->r, ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->r = n;
		l->cap = ncap;
	}
	if (pos > l->n)
		pos = l->n;
	memmove(&l->r[pos + 1], &l->r[pos], (l->n - pos) * sizeof(*l->r));
	l->r[pos] = r;
	l->n++;
	return 0;
}

/*
 * Istio's documents apply `-I CHAIN N` in document order (I§3.3); iptables
 * position N is index N-1, past the end is an append.
 */
static int resolve_order(const struct plan_rules *rs, struct chain_list (*cl)[_PLAN_CHAIN_MAX],
			 struct error *err)
{
	for (size_t i = 0; i < rs->n; i++) {
		const struct plan_rule *r = &rs->rule[i];
		if (r->table >= _PLAN_TABLE_MAX || r->chain >= _PLAN_CHAIN_MAX ||
		    r->n_matches > PLAN_MATCHES_MAX)
			return error_set(err, ERR_INTERNAL, -EINVAL, "invalid plan rule %zu", i);
		struct chain_list *l = &cl[r->table][r->chain];
		size_t pos = r->insert_pos ? r->insert_pos - 1 : l->n;
		int k = chain_list_insert(l, pos, r);
		if (k < 0)
			return error_set(err, ERR_INTERNAL, k, "out of memory");
	}
	return 0;
}

static bool match_eq(const struct plan_match *a, const struct plan_match *b)
{
	if (a->kind != b->kind || a->neg != b->neg)
		return false;
	switch (a->kind) {
	case PM_IIF:
	case PM_OIF:
		return strncmp(a->u.ifname, b->u.ifname, sizeof(a->u.ifname)) == 0;
	case PM_PROTO:
		return a->u.proto == b->u.proto;
	case PM_SADDR:
	case PM_DADDR:
		return a->u.cidr.family == b->u.cidr.family && a->u.cidr.prefix == b->u.cidr.prefix &&
		       memcmp(&a->u.cidr.addr, &b->u.cidr.addr,
			      a->u.cidr.family == AF_INET ? 4 : 16) == 0;
	case PM_DPORT:
	case PM_SPORT:
		return a->u.port == b->u.port;
	case PM_DPORTS:
		return a->u.ports.n == b->u.ports.n &&
		       memcmp(a->u.ports.port, b->u.ports.port,
			      a->u.ports.n * sizeof(a->u.ports.port[0])) == 0;
	case PM_UID:
	case PM_GID:
		return a->u.id == b->u.id;
	case PM_MARK:
	case PM_CONNMARK:
		return a->u.mark == b->u.mark;
	case PM_CTSTATE:
		return a->u.ctstate == b->u.ctstate;
	default:
		return false;
	}
}

static bool verdict_eq(const struct plan_verdict *a, const struct plan_verdict *b)
{
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case PV_JUMP:
		return a->chain == b->chain;
	case PV_REDIRECT:
		return a->port == b->port;
	case PV_TPROXY:
		return a->port == b->port && a->mark == b->mark;
	case PV_MARK_SET:
		return a->mark == b->mark;
	case PV_CT_ZONE:
		return a->zone == b->zone;
	default:
		return true;
	}
}

static bool plan_rule_eq(const struct plan_rule *a, const struct plan_rule *b)
{
	if (a->n_matches != b->n_matches || !verdict_eq(&a->verdict, &b->verdict))
		return false;
	for (unsigned int i = 0; i < a->n_matches; i++)
		if (!match_eq(&a->match[i], &b->match[i]))
			return false;
	return true;
}

/* The family a rule is bound to by its own matches, or 0. */
static int rule_addr_family(const struct plan_rule *r)
{
	for (unsigned int i = 0; i < r->n_matches; i++)
		if (r->match[i].kind == PM_SADDR || r->match[i].kind == PM_DADDR)
			return r->match[i].u.cidr.family;
	return 0;
}

static int program_push(struct nft_program *p, const struct plan_rule *r, uint8_t nfproto)
{
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		struct nft_rule_ir *n = reallocarray(p->rule, ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->rule = n;
		p->cap = ncap;
	}
	struct nft_rule_ir *ir = &p->rule[p->n++];
	*ir = (struct nft_rule_ir){
		.table = r->table,
		.chain = r->chain,
		.nfproto = nfproto,
		.n_matches = r->n_matches,
		.verdict = r->verdict,
		.n_folded = 1,
	};
	memcpy(ir->match, r->match, sizeof(ir->match));
	return 0;
}

static uint8_t family_nfproto(int af)
{
	return af == AF_INET6 ? NFPROTO_IPV6 : NFPROTO_IPV4;
}

/*
 * Merges the two families' lists of one chain. Any interleaving that keeps
 * each family's order is correct, because a packet only ever sees the rules of
 * its own family and the shared ones; this greedy one shares the address-less
 * rules both families record at the same point, which is how Istio records
 * them (AppendRule), and qualifies the rest.
 */
static int merge_chain(struct nft_program *p, const struct chain_list *a, const struct chain_list *b,
		       bool qualify_v4)
{
	size_t i = 0, j = 0;
	int k;

	while (i < a->n || j < b->n) {
		if (i < a->n && rule_addr_family(a->r[i])) {
			k = program_push(p, a->r[i], family_nfproto(rule_addr_family(a->r[i])));
			i++;
		} else if (j < b->n && rule_addr_family(b->r[j])) {
			k = program_push(p, b->r[j], family_nfproto(rule_addr_family(b->r[j])));
			j++;
		} else if (i < a->n && j < b->n && plan_rule_eq(a->r[i], b->r[j])) {
			k = program_push(p, a->r[i], 0);
			i++;
			j++;
		} else if (i < a->n) {
			k = program_push(p, a->r[i], (b->n || qualify_v4) ? NFPROTO_IPV4 : 0);
			i++;
		} else {
			k = program_push(p, b->r[j], NFPROTO_IPV6);
			j++;
		}
		if (k < 0)
			return k;
	}
	return 0;
}

/* ---- folding ---- */

static bool verdict_terminal(const struct plan_verdict *v)
{
	switch (v->kind) {
	case PV_RETURN:
	case PV_ACCEPT:
	case PV_DROP:
	case PV_REDIRECT:
		return true;
	default:
		return false;
	}
}

static bool verdict_foldable(const struct plan_verdict *v)
{
	return verdict_terminal(v) || v->kind == PV_JUMP;
}

static void cidr_interval(const struct cidr *c, struct nft_interval *ret)
{
	unsigned int bits = c->family == AF_INET ? 32 : 128;
	struct nft_interval iv = {0};

	memcpy(iv.start, c->addr.bytes, bits / 8);
	memcpy(iv.last, c->addr.bytes, bits / 8);
	for (unsigned int b = c->prefix; b < bits; b++) {
		iv.start[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
		iv.last[b / 8] |= (uint8_t)(0x80u >> (b % 8));
	}
	*ret = iv;
}

/* Which match indices differ between two rules of the same shape; -1 if shapes differ. */
static int rule_diff(const struct nft_rule_ir *a, const struct nft_rule_ir *b, unsigned int *ret_mask)
{
	if (a->table != b->table || a->chain != b->chain || a->nfproto != b->nfproto ||
	    a->n_matches != b->n_matches || !verdict_eq(&a->verdict, &b->verdict))
		return -1;
	unsigned int mask = 0;
	for (unsigned int i = 0; i < a->n_matches; i++) {
		const struct plan_match *x = &a->match[i], *y = &b->match[i];
		if (x->kind != y->kind || x->neg != y->neg)
			return -1;
		if (x->kind == PM_SADDR || x->kind == PM_DADDR) {
			if (x->u.cidr.family != y->u.cidr.family)
				return -1;
		}
		if (!match_eq(x, y))
			mask |= 1u << i;
	}
	*ret_mask = mask;
	return 0;
}

/* Classifies a set of differing indices; NFT_FOLD_NONE when it cannot be folded. */
static enum nft_fold_kind fold_pattern(const struct nft_rule_ir *r, unsigned int mask,
				       uint8_t *ret_idx, uint8_t *ret_idx2)
{
	int idx[2], n = 0;

	for (unsigned int i = 0; i < r->n_matches; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (n == 2 || r->match[i].neg)
			return NFT_FOLD_NONE;
		idx[n++] = (int)i;
	}
	if (n == 1) {
		const struct plan_match *m = &r->match[idx[0]];
		*ret_idx = (uint8_t)idx[0];
		*ret_idx2 = 0;
		if (m->kind == PM_SADDR)
			return NFT_FOLD_SADDR;
		if (m->kind == PM_DADDR)
			return NFT_FOLD_DADDR;
		if (m->kind == PM_DPORT)
			return NFT_FOLD_DPORT;
		if (m->kind == PM_PROTO) {
			/* Only the protocol differs: fold as proto . dport if there is a dport. */
			for (unsigned int i = 0; i < r->n_matches; i++)
				if (r->match[i].kind == PM_DPORT && !r->match[i].neg) {
					*ret_idx2 = (uint8_t)i;
					return NFT_FOLD_PROTO_DPORT;
				}
		}
		return NFT_FOLD_NONE;
	}
	if (n == 2) {
		const struct plan_match *m0 = &r->match[idx[0]], *m1 = &r->match[idx[1]];
		if (m0->kind == PM_PROTO && m1->kind == PM_DPORT) {
			*ret_idx = (uint8_t)idx[0];
			*ret_idx2 = (uint8_t)idx[1];
			return NFT_FOLD_PROTO_DPORT;
		}
	}
	return NFT_FOLD_NONE;
}

static bool intervals_overlap(const struct nft_interval *a, const struct nft_interval *b,
			      size_t len)
{
	return memcmp(a->start, b->last, len) <= 0 && memcmp(b->start, a->last, len) <= 0;
}

/* Whether rule r (at the fold slots) could match a packet another member also matches. */
static bool value_overlaps(const struct nft_rule_ir *run, size_t n, const struct nft_rule_ir *r,
			   enum nft_fold_kind kind, uint8_t idx, uint8_t idx2)
{
	for (size_t k = 0; k < n; k++) {
		const struct nft_rule_ir *o = &run[k];
		switch (kind) {
		case NFT_FOLD_SADDR:
		case NFT_FOLD_DADDR: {
			struct nft_interval x, y;
			cidr_interval(&o->match[idx].u.cidr, &x);
			cidr_interval(&r->match[idx].u.cidr, &y);
			if (intervals_overlap(&x, &y, o->match[idx].u.cidr.family == AF_INET ? 4 : 16))
				return true;
			break;
		}
		case NFT_FOLD_DPORT:
			if (o->match[idx].u.port == r->match[idx].u.port)
				return true;
			break;
		case NFT_FOLD_PROTO_DPORT:
			if (o->match[idx].u.proto == r->match[idx].u.proto &&
			    o->match[idx2].u.port == r->match[idx2].u.port)
				return true;
			break;
		default:
			return true;
		}
	}
	return false;
}

static int cmp_interval4(const void *a, const void *b)
{
	return memcmp(((const struct nft_interval *)a)->start, ((const struct nft_interval *)b)->start,
		      4);
}

static int cmp_interval16(const void *a, const void *b)
{
	return memcmp(((const struct nft_interval *)a)->start, ((const struct nft_interval *)b)->start,
		      16);
}

static int cmp_u16(const void *a, const void *b)
{
	return (int)*(const uint16_t *)a - (int)*(const uint16_t *)b;
}

static int cmp_pp(const void *a, const void *b)
{
	const struct nft_proto_port *x = a, *y = b;
	if (x->proto != y->proto)
		return (int)x->proto - (int)y->proto;
	return (int)x->port - (int)y->port;
}

/* last + 1 == start, as big-endian numbers of len bytes. */
static bool interval_adjacent(const uint8_t *last, const uint8_t *start, size_t len)
{
	uint8_t next[16];
	memcpy(next, last, len);
	for (size_t i = len; i-- > 0;) {
		if (++next[i] != 0)
			break;
		if (i == 0)
			return false; /* wrapped: last was all ones */
	}
	return memcmp(next, start, len) == 0;
}

/* Sorts, merges overlapping and adjacent intervals in place; returns the new count. */
size_t nft_intervals_normalize(struct nft_interval *iv, size_t n, int family);
size_t nft_intervals_normalize(struct nft_interval *iv, size_t n, int family)
{
	size_t len = family == AF_INET ? 4 : 16;
	if (n == 0)
		return 0;
	qsort(iv, n, sizeof(*iv), len == 4 ? cmp_interval4 : cmp_interval16);
	size_t out = 0;
	for (size_t i = 1; i < n; i++) {
		struct nft_interval *cur = &iv[out];
		if (memcmp(iv[i].start, cur->last, len) <= 0 ||
		    interval_adjacent(cur->last, iv[i].start, len)) {
			if (memcmp(iv[i].last, cur->last, len) > 0)
				memcpy(cur->last, iv[i].last, len);
		} else {
			iv[++out] = iv[i];
		}
	}
	return out + 1;
}

/* Replaces run[0..n) by one folded rule at run[0]; the caller drops run[1..n). */
static int fold_run(struct nft_rule_ir *run, size_t n, enum nft_fold_kind kind, uint8_t idx,
		    uint8_t idx2)
{
	struct nft_rule_ir *f = &run[0];

	switch (kind) {
	case NFT_FOLD_SADDR:
	case NFT_FOLD_DADDR: {
		struct nft_interval *iv = calloc(n, sizeof(*iv));
		if (!iv)
			return -ENOMEM;
		int family = f->match[idx].u.cidr.family;
		for (size_t k = 0; k < n; k++)
			cidr_interval(&run[k].match[idx].u.cidr, &iv[k]);
		f->n_elems = nft_intervals_normalize(iv, n, family);
		f->iv = iv;
		f->fold_family = family;
		break;
	}
	case NFT_FOLD_DPORT: {
		uint16_t *port = calloc(n, sizeof(*port));
		if (!port)
			return -ENOMEM;
		for (size_t k = 0; k < n; k++)
			port[k] = run[k].match[idx].u.port;
		qsort(port, n, sizeof(*port), cmp_u16);
		size_t out = 0;
		for (size_t k = 0; k < n; k++)
			if (out == 0 || port[out - 1] != port[k])
				port[out++] = port[k];
		f->n_elems = out;
		f->port = port;
		break;
	}
	case NFT_FOLD_PROTO_DPORT: {
		struct nft_proto_port *pp = calloc(n, sizeof(*pp));
		if (!pp)
			return -ENOMEM;
		for (size_t k = 0; k < n; k++) {
			pp[k].proto = run[k].match[idx].u.proto;
			pp[k].port = run[k].match[idx2].u.port;
		}
		qsort(pp, n, sizeof(*pp), cmp_pp);
		size_t out = 0;
		for (size_t k = 0; k < n; k++)
			if (out == 0 || cmp_pp(&pp[out - 1], &pp[k]) != 0)
				pp[out++] = pp[k];
		f->n_elems = out;
		f->pp = pp;
		break;
	}
	default:
		return -EINVAL;
	}
	f->fold = kind;
	f->fold_idx = idx;
	f->fold_idx2 = idx2;
	f->n_folded = n;
	return 0;
}

/*
 * Folds runs in p->rule[from..p->n). A run is consecutive rules with the same
 * verdict whose matches differ only in one address, one port, or a
 * protocol/port pair, never in a negated match. Terminal verdicts fold
 * always (a packet leaves at the first match either way); a jump folds only
 * when the values are disjoint, so no packet could have jumped twice.
 */
static int fold_chain(struct nft_program *p, size_t from)
{
	size_t out = from;

	for (size_t s = from; s < p->n;) {
		enum nft_fold_kind kind = NFT_FOLD_NONE;
		uint8_t idx = 0, idx2 = 0;
		unsigned int uni = 0;
		size_t e = s + 1;

		if (verdict_foldable(&p->rule[s].verdict)) {
			for (; e < p->n; e++) {
				unsigned int mask;
				uint8_t i1, i2;
				if (rule_diff(&p->rule[s], &p->rule[e], &mask) < 0)
					break;
				enum nft_fold_kind k = fold_pattern(&p->rule[s], uni | mask, &i1, &i2);
				if (k == NFT_FOLD_NONE && (uni | mask) != 0)
					break;
				if (mask == 0 && p->rule[s].verdict.kind == PV_JUMP)
					break;
				if (k != NFT_FOLD_NONE && p->rule[s].verdict.kind == PV_JUMP &&
				    value_overlaps(&p->rule[s], e - s, &p->rule[e], k, i1, i2))
					break;
				if (k == NFT_FOLD_NONE)
					break; /* identical rules, nothing to fold into */
				/* Widening DPORT to PROTO_DPORT keeps earlier members valid. */
				uni |= mask;
				kind = k;
				idx = i1;
				idx2 = i2;
			}
		}
		if (kind != NFT_FOLD_NONE && e - s >= 2) {
			int r = fold_run(&p->rule[s], e - s, kind, idx, idx2);
			if (r < 0)
				return r;
		} else {
			e = s + 1;
		}
		p->rule[out++] = p->rule[s];
		s = e;
	}
	p->n = out;
	return 0;
}

void nft_program_done(struct nft_program *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->rule[i].iv);
		free(p->rule[i].port);
		free(p->rule[i].pp);
	}
	free(p->rule);
	memset(p, 0, sizeof(*p));
}

int nft_program_build(const struct redirect_plan *plan, struct nft_program *ret, struct error *err)
{
	struct chain_list cl[_PLAN_FAMILY_MAX][_PLAN_TABLE_MAX][_PLAN_CHAIN_MAX];
	struct nft_program p = {0};
	int r;

	memset(cl, 0, sizeof(cl));
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		if (f == PLAN_V6 && !plan->ipv6)
			continue;
		r = resolve_order(&plan->fam[f], cl[f], err);
		if (r < 0)
			goto fail;
	}

	p.ipv6 = plan->ipv6 && plan->fam[PLAN_V6].n > 0;
	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		for (int c = 0; c < _PLAN_CHAIN_MAX; c++) {
			size_t from = p.n;
			/* Without IPv6 rules, base chains admit IPv4 only; regular chains are
			 * reachable only from them. */
			bool qualify = !p.ipv6 && plan_chain_is_builtin((enum plan_chain)c);
			r = merge_chain(&p, &cl[PLAN_V4][t][c], &cl[PLAN_V6][t][c], qualify);
			if (r < 0)
				goto oom;
			r = fold_chain(&p, from);
			if (r < 0)
				goto oom;
			if (p.n > from) {
				p.table_used[t] = true;
				p.chain_used[t][c] = true;
			}
		}
		for (size_t i = 0; i < p.n; i++)
			if (p.rule[i].table == (enum plan_table)t &&
			    p.rule[i].verdict.kind == PV_JUMP)
				p.chain_used[t][p.rule[i].verdict.chain] = true;
	}

	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		chain_lists_free(cl[f]);
	*ret = p;
	return 0;
oom:
	r = error_set(err, ERR_INTERNAL, r, "building nftables program");
fail:
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		chain_lists_free(cl[f]);
	nft_program_done(&p);
	return r;
}

/* ---------------------------------------------------------------------------
 * Text rendering (nft -f syntax).
 */

struct base_chain_info {
	const char *type;
	const char *hook;
	int prio;
	unsigned int hooknum;
};

static const struct base_chain_info base_chains[_PLAN_TABLE_MAX][2] = {
	[PLAN_TABLE_NAT] = { { "nat", "prerouting", -100, NF_INET_PRE_ROUTING },
			     { "nat", "output", -100, NF_INET_LOCAL_OUT } },
	[PLAN_TABLE_MANGLE] = { { "filter", "prerouting", -150, NF_INET_PRE_ROUTING },
				{ "route", "output", -150, NF_INET_LOCAL_OUT } },
	[PLAN_TABLE_RAW] = { { "filter", "prerouting", -300, NF_INET_PRE_ROUTING },
			     { "filter", "output", -300, NF_INET_LOCAL_OUT } },
};

static const struct base_chain_info *base_chain(enum plan_table t, enum plan_chain c)
{
	if (c == PLAN_CHAIN_PREROUTING)
		return &base_chains[t][0];
	if (c == PLAN_CHAIN_OUTPUT)
		return &base_chains[t][1];
	return NULL;
}

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
		if (r->match[i].kind == PM_PROTO && !r->match[i].neg && proto_name(r->match[i].u.proto))
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
		{ PLAN_CT_INVALID, "invalid" },
		{ PLAN_CT_RELATED, "related" },
		{ PLAN_CT_ESTABLISHED, "established" },
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
	case PM_OIF:
		fprintf(f, "%s %s\"%.*s\"", m->kind == PM_IIF ? "iifname" : "oifname", ne,
			(int)sizeof(m->u.ifname), m->u.ifname);
		break;
	case PM_PROTO:
		fprintf(f, "meta l4proto %s", ne);
		put_proto(f, m->u.proto);
		break;
	case PM_SADDR:
	case PM_DADDR: {
		struct nft_interval iv;
		cidr_interval(&m->u.cidr, &iv);
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
		fprintf(f, "counter jump %s", plan_chain_nft_name(v->chain));
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
	const struct base_chain_info *b = base_chain(t, c);
	fprintf(f, "add chain inet %s %s", plan_table_nft_name(t), plan_chain_nft_name(c));
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
		fprintf(f, "add table inet %s\n", plan_table_nft_name(t));
		for (int c = 0; c < _PLAN_CHAIN_MAX; c++)
			if (p->chain_used[t][c])
				put_chain_decl(f, t, c);
		for (size_t i = 0; i < p->n; i++) {
			if (p->rule[i].table != (enum plan_table)t)
				continue;
			fprintf(f, "add rule inet %s %s ", plan_table_nft_name(t),
				plan_chain_nft_name(p->rule[i].chain));
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

/* ---------------------------------------------------------------------------
 * Kernel part: objects, batch, acks.
 */

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <time.h>

DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_rule *, nftnl_rule_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_set *, nftnl_set_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_chain *, nftnl_chain_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct nftnl_table *, nftnl_table_free);

/* nft's datatype ids, so `nft list` shows our sets' elements typed. */
enum {
	DT_IPADDR = 7,
	DT_IP6ADDR = 8,
	DT_INET_PROTOCOL = 12,
	DT_INET_SERVICE = 13,
	DT_BITS = 6,
};

/* Elements per NEWSETELEM message: keeps every message far below the page budget. */
#define SETELEM_CHUNK 256
/* Room reserved before building any one message. */
#define MSG_RESERVE (64 * 1024)

/* ---- expression builder ---- */

struct rb {
	struct nftnl_rule *rule;
	int err;
};

static struct nftnl_expr *rb_expr(struct rb *b, const char *name)
{
	if (b->err)
		return NULL;
	struct nftnl_expr *e = nftnl_expr_alloc(name);
	if (!e) {
		b->err = -ENOMEM;
		return NULL;
	}
	nftnl_rule_add_expr(b->rule, e);
	return e;
}

static void e_meta_load(struct rb *b, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(b, "meta");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, dreg);
}

static void e_meta_set(struct rb *b, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_expr(b, "meta");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, sreg);
}

static void e_ct_load(struct rb *b, uint32_t key, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(b, "ct");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, dreg);
}

static void e_ct_set(struct rb *b, uint32_t key, uint32_t sreg)
{
	struct nftnl_expr *e = rb_expr(b, "ct");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, key);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, sreg);
}

static void e_cmp(struct rb *b, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(b, "cmp");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
}

static void e_payload(struct rb *b, uint32_t base, uint32_t off, uint32_t len, uint32_t dreg)
{
	struct nftnl_expr *e = rb_expr(b, "payload");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, off);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, dreg);
}

static void e_bitwise(struct rb *b, const void *mask, uint32_t len)
{
	static const uint8_t zero[16];
	struct nftnl_expr *e = rb_expr(b, "bitwise");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, mask, len);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, zero, len);
}

static void e_lookup(struct rb *b, uint32_t sreg, uint32_t set_id, bool inv)
{
	struct nftnl_expr *e = rb_expr(b, "lookup");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SREG, sreg);
	nftnl_expr_set_str(e, NFTNL_EXPR_LOOKUP_SET, "__set%d");
	nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_SET_ID, set_id);
	if (inv)
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOOKUP_FLAGS, NFT_LOOKUP_F_INV);
}

static void e_imm_data(struct rb *b, const void *data, uint32_t len)
{
	struct nftnl_expr *e = rb_expr(b, "immediate");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_1);
	nftnl_expr_set(e, NFTNL_EXPR_IMM_DATA, data, len);
}

static void e_verdict(struct rb *b, int verdict, const char *chain)
{
	struct nftnl_expr *e = rb_expr(b, "immediate");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)verdict);
	if (chain)
		nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, chain);
}

static void e_counter(struct rb *b)
{
	(void)rb_expr(b, "counter");
}

static void e_redir(struct rb *b)
{
	struct nftnl_expr *e = rb_expr(b, "redir");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MIN, NFT_REG_1);
	/* The kernel fills max = min; say it, so CHECK compares like with like. */
	nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_REG_PROTO_MAX, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_REDIR_FLAGS, NF_NAT_RANGE_PROTO_SPECIFIED);
}

static void e_tproxy(struct rb *b, uint32_t nfproto)
{
	struct nftnl_expr *e = rb_expr(b, "tproxy");
	if (!e)
		return;
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_FAMILY, nfproto);
	nftnl_expr_set_u32(e, NFTNL_EXPR_TPROXY_REG_PORT, NFT_REG_1);
}

static void cmp_u8(struct rb *b, bool neg, uint8_t v)
{
	e_cmp(b, neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &v, sizeof(v));
}

static void cmp_u32(struct rb *b, bool neg, uint32_t v)
{
	e_cmp(b, neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &v, sizeof(v));
}

static void cmp_be16(struct rb *b, bool neg, uint16_t v)
{
	uint16_t be = htons(v);
	e_cmp(b, neg ? NFT_CMP_NEQ : NFT_CMP_EQ, &be, sizeof(be));
}

/* Payload offset of saddr/daddr for a family. */
static void addr_offset(int family, bool src, uint32_t *ret_off, uint32_t *ret_len)
{
	if (family == AF_INET) {
		*ret_off = src ? 12 : 16;
		*ret_len = 4;
	} else {
		*ret_off = src ? 8 : 24;
		*ret_len = 16;
	}
}

static void build_match(struct rb *b, const struct nft_rule_ir *r, const struct plan_match *m)
{
	switch (m->kind) {
	case PM_IIF:
	case PM_OIF: {
		char name[16] = {0};
		memcpy(name, m->u.ifname, strnlen(m->u.ifname, sizeof(m->u.ifname)));
		e_meta_load(b, m->kind == PM_IIF ? NFT_META_IIFNAME : NFT_META_OIFNAME, NFT_REG_1);
		e_cmp(b, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, name, sizeof(name));
		break;
	}
	case PM_PROTO:
		e_meta_load(b, NFT_META_L4PROTO, NFT_REG_1);
		cmp_u8(b, m->neg, m->u.proto);
		break;
	case PM_SADDR:
	case PM_DADDR: {
		uint32_t off, len;
		struct nft_interval iv;
		uint8_t mask[16] = {0};
		addr_offset(m->u.cidr.family, m->kind == PM_SADDR, &off, &len);
		cidr_interval(&m->u.cidr, &iv);
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, off, len, NFT_REG_1);
		if (m->u.cidr.prefix < len * 8) {
			for (unsigned int i = 0; i < m->u.cidr.prefix; i++)
				mask[i / 8] |= (uint8_t)(0x80u >> (i % 8));
			e_bitwise(b, mask, len);
		}
		e_cmp(b, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, iv.start, len);
		break;
	}
	case PM_DPORT:
	case PM_SPORT:
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, m->kind == PM_DPORT ? 2 : 0, 2, NFT_REG_1);
		cmp_be16(b, m->neg, m->u.port);
		break;
	case PM_UID:
	case PM_GID:
		e_meta_load(b, m->kind == PM_UID ? NFT_META_SKUID : NFT_META_SKGID, NFT_REG_1);
		cmp_u32(b, m->neg, m->u.id);
		break;
	case PM_MARK:
		e_meta_load(b, NFT_META_MARK, NFT_REG_1);
		cmp_u32(b, m->neg, m->u.mark);
		break;
	case PM_CONNMARK:
		e_ct_load(b, NFT_CT_MARK, NFT_REG_1);
		cmp_u32(b, m->neg, m->u.mark);
		break;
	case PM_CTSTATE: {
		uint32_t bits = m->u.ctstate, zero = 0;
		e_ct_load(b, NFT_CT_STATE, NFT_REG_1);
		e_bitwise(b, &bits, sizeof(bits));
		e_cmp(b, m->neg ? NFT_CMP_EQ : NFT_CMP_NEQ, &zero, sizeof(zero));
		break;
	}
	case PM_DPORTS:
		/* Handled by the caller: it needs a set. */
	default:
		b->err = -EINVAL;
		break;
	}
	(void)r;
}

/* One programmed object set: a rule and, when it needs one, its anonymous set. */
struct built_rule {
	struct nftnl_rule *rule;
	struct nftnl_set *set;
};

static void built_rule_done(struct built_rule *br)
{
	if (br->rule)
		nftnl_rule_free(br->rule);
	if (br->set)
		nftnl_set_free(br->set);
	br->rule = NULL;
	br->set = NULL;
}

static struct nftnl_set *set_new(const char *table, uint32_t set_id, uint32_t flags,
				 uint32_t key_type, uint32_t key_len)
{
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, "__set%d");
	nftnl_set_set_u32(s, NFTNL_SET_ID, set_id);
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
	return s;
}

static int set_add_elem(struct nftnl_set *s, const void *key, uint32_t len, uint32_t flags)
{
	struct nftnl_set_elem *e = nftnl_set_elem_alloc();
	if (!e)
		return -ENOMEM;
	nftnl_set_elem_set(e, NFTNL_SET_ELEM_KEY, key, len);
	if (flags)
		nftnl_set_elem_set_u32(e, NFTNL_SET_ELEM_FLAGS, flags);
	nftnl_set_elem_add(s, e);
	return 0;
}

/* Interval sets: [start, last] is an element at start and an end marker at last + 1. */
static int set_add_interval(struct nftnl_set *s, const struct nft_interval *iv, uint32_t len)
{
	uint8_t end[16];
	int r = set_add_elem(s, iv->start, len, 0);
	if (r < 0)
		return r;
	memcpy(end, iv->last, len);
	for (size_t i = len; i-- > 0;) {
		if (++end[i] != 0)
			return set_add_elem(s, end, len, NFT_SET_ELEM_INTERVAL_END);
	}
	return 0; /* last is all ones: the range runs to the end of the space */
}

static int build_set(const struct nft_rule_ir *r, const struct plan_match *dports, const char *table,
		     uint32_t set_id, struct nftnl_set **ret)
{
	struct nftnl_set *s;
	int k = 0;

	if (dports) {
		s = set_new(table, set_id, 0, DT_INET_SERVICE, 2);
		if (!s)
			return -ENOMEM;
		for (unsigned int i = 0; i < dports->u.ports.n && k >= 0; i++) {
			uint16_t be = htons(dports->u.ports.port[i]);
			k = set_add_elem(s, &be, 2, 0);
		}
	} else if (r->fold == NFT_FOLD_SADDR || r->fold == NFT_FOLD_DADDR) {
		uint32_t len = r->fold_family == AF_INET ? 4 : 16;
		s = set_new(table, set_id, NFT_SET_INTERVAL,
			    r->fold_family == AF_INET ? DT_IPADDR : DT_IP6ADDR, len);
		if (!s)
			return -ENOMEM;
		/* As nft does: an end marker at 0 closes the gap below the first range. */
		static const uint8_t zero[16];
		if (r->n_elems && memcmp(r->iv[0].start, zero, len) != 0)
			k = set_add_elem(s, zero, len, NFT_SET_ELEM_INTERVAL_END);
		for (size_t i = 0; i < r->n_elems && k >= 0; i++)
			k = set_add_interval(s, &r->iv[i], len);
	} else if (r->fold == NFT_FOLD_DPORT) {
		s = set_new(table, set_id, 0, DT_INET_SERVICE, 2);
		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < r->n_elems && k >= 0; i++) {
			uint16_t be = htons(r->port[i]);
			k = set_add_elem(s, &be, 2, 0);
		}
	} else {
		s = set_new(table, set_id, 0, (DT_INET_PROTOCOL << DT_BITS) | DT_INET_SERVICE, 8);
		if (!s)
			return -ENOMEM;
		for (size_t i = 0; i < r->n_elems && k >= 0; i++) {
			/* Concatenations use 32-bit register slots. */
			uint8_t key[8] = {0};
			uint16_t be = htons(r->pp[i].port);
			key[0] = r->pp[i].proto;
			memcpy(&key[4], &be, 2);
			k = set_add_elem(s, key, 8, 0);
		}
	}
	if (k < 0) {
		nftnl_set_free(s);
		return k;
	}
	*ret = s;
	return 0;
}

static int build_rule(const struct nft_rule_ir *r, uint32_t set_id, struct built_rule *ret)
{
	const char *table = plan_table_nft_name(r->table);
	struct built_rule br = {0};
	struct rb b = {0};
	int k;

	br.rule = nftnl_rule_alloc();
	if (!br.rule)
		return -ENOMEM;
	nftnl_rule_set_u32(br.rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(br.rule, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(br.rule, NFTNL_RULE_CHAIN, plan_chain_nft_name(r->chain));
	b.rule = br.rule;

	if (r->nfproto) {
		e_meta_load(&b, NFT_META_NFPROTO, NFT_REG_1);
		cmp_u8(&b, false, r->nfproto);
	}
	for (unsigned int i = 0; i < r->n_matches && !b.err; i++) {
		const struct plan_match *m = &r->match[i];
		if (r->fold != NFT_FOLD_NONE && i == r->fold_idx) {
			k = build_set(r, NULL, table, set_id, &br.set);
			if (k < 0) {
				b.err = k;
				break;
			}
			switch (r->fold) {
			case NFT_FOLD_SADDR:
			case NFT_FOLD_DADDR: {
				uint32_t off, len;
				addr_offset(r->fold_family, r->fold == NFT_FOLD_SADDR, &off, &len);
				e_payload(&b, NFT_PAYLOAD_NETWORK_HEADER, off, len, NFT_REG_1);
				e_lookup(&b, NFT_REG_1, set_id, false);
				break;
			}
			case NFT_FOLD_DPORT:
				e_payload(&b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
				e_lookup(&b, NFT_REG_1, set_id, false);
				break;
			default:
				/* Concatenations use 32-bit slots: reg 1 is slot 0. */
				e_meta_load(&b, NFT_META_L4PROTO, NFT_REG_1);
				e_payload(&b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
				e_lookup(&b, NFT_REG_1, set_id, false);
				break;
			}
			continue;
		}
		if (r->fold == NFT_FOLD_PROTO_DPORT && i == r->fold_idx2)
			continue;
		if (m->kind == PM_DPORTS) {
			if (br.set) {
				b.err = -EINVAL; /* one set per rule */
				break;
			}
			k = build_set(r, m, table, set_id, &br.set);
			if (k < 0) {
				b.err = k;
				break;
			}
			e_payload(&b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
			e_lookup(&b, NFT_REG_1, set_id, m->neg);
			continue;
		}
		build_match(&b, r, m);
	}

	const struct plan_verdict *v = &r->verdict;
	switch (v->kind) {
	case PV_JUMP:
		e_counter(&b);
		e_verdict(&b, NFT_JUMP, plan_chain_nft_name(v->chain));
		break;
	case PV_RETURN:
		e_counter(&b);
		e_verdict(&b, NFT_RETURN, NULL);
		break;
	case PV_ACCEPT:
		e_counter(&b);
		e_verdict(&b, NF_ACCEPT, NULL);
		break;
	case PV_DROP:
		e_counter(&b);
		e_verdict(&b, NF_DROP, NULL);
		break;
	case PV_REDIRECT: {
		uint16_t be = htons(v->port);
		e_counter(&b);
		e_imm_data(&b, &be, sizeof(be));
		e_redir(&b);
		break;
	}
	case PV_TPROXY: {
		uint16_t be = htons(v->port);
		uint32_t mark = v->mark;
		if (!r->nfproto)
			b.err = -EINVAL; /* tproxy needs a family */
		e_imm_data(&b, &be, sizeof(be));
		e_tproxy(&b, r->nfproto);
		e_imm_data(&b, &mark, sizeof(mark));
		e_meta_set(&b, NFT_META_MARK, NFT_REG_1);
		e_counter(&b);
		e_verdict(&b, NF_ACCEPT, NULL);
		break;
	}
	case PV_MARK_SET: {
		uint32_t mark = v->mark;
		e_counter(&b);
		e_imm_data(&b, &mark, sizeof(mark));
		e_meta_set(&b, NFT_META_MARK, NFT_REG_1);
		break;
	}
	case PV_CONNMARK_SAVE:
		e_counter(&b);
		e_meta_load(&b, NFT_META_MARK, NFT_REG_1);
		e_ct_set(&b, NFT_CT_MARK, NFT_REG_1);
		break;
	case PV_CONNMARK_RESTORE:
		e_counter(&b);
		e_ct_load(&b, NFT_CT_MARK, NFT_REG_1);
		e_meta_set(&b, NFT_META_MARK, NFT_REG_1);
		break;
	case PV_CT_ZONE: {
		uint16_t zone = v->zone;
		e_counter(&b);
		e_imm_data(&b, &zone, sizeof(zone));
		e_ct_set(&b, NFT_CT_ZONE, NFT_REG_1);
		break;
	}
	default:
		b.err = -EINVAL;
		break;
	}
	if (b.err) {
		built_rule_done(&br);
		return b.err;
	}
	*ret = br;
	return 0;
}

static bool rule_needs_set(const struct nft_rule_ir *r)
{
	if (r->fold != NFT_FOLD_NONE)
		return true;
	for (unsigned int i = 0; i < r->n_matches; i++)
		if (r->match[i].kind == PM_DPORTS)
			return true;
	return false;
}

/* ---- batch ---- */

enum msg_kind {
	MSG_DEL_TABLE,
	MSG_ADD_TABLE,
	MSG_ADD_CHAIN,
	MSG_ADD_SET,
	MSG_ADD_ELEMS,
	MSG_ADD_RULE,
};

struct msg_info {
	enum msg_kind kind;
	enum plan_table table;
	enum plan_chain chain;
	size_t rule; /* index into the program */
	bool acked;
};

struct batch {
	char *buf;
	size_t len;
	size_t cap;
	uint32_t seq0; /* seq of the first object message */
	uint32_t seq;
	struct msg_info *info;
	size_t n_info;
	size_t cap_info;
};

static void batch_done(struct batch *b)
{
	free(b->buf);
	free(b->info);
	memset(b, 0, sizeof(*b));
}

static int batch_reserve(struct batch *b)
{
	if (b->cap - b->len >= MSG_RESERVE)
		return 0;
	size_t ncap = b->cap ? b->cap * 2 : 4 * MSG_RESERVE;
	while (ncap - b->len < MSG_RESERVE)
		ncap *= 2;
	char *n = realloc(b->buf, ncap);
	if (!n)
		return -ENOMEM;
	memset(n + b->len, 0, ncap - b->len);
	b->buf = n;
	b->cap = ncap;
	return 0;
}

/* Starts a message at the tail; returns it with its seq, recording what it is. */
static struct nlmsghdr *batch_msg(struct batch *b, uint16_t type, uint16_t flags,
				  const struct msg_info *info)
{
	if (batch_reserve(b) < 0)
		return NULL;
	if (b->n_info == b->cap_info) {
		size_t ncap = b->cap_info ? b->cap_info * 2 : 64;
		struct msg_info *n = reallocarray(b->info, ncap, sizeof(*n));
		if (!n)
			return NULL;
		b->info = n;
		b->cap_info = ncap;
	}
	b->info[b->n_info++] = *info;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags | NLM_F_ACK,
				     b->seq++);
}

static void batch_commit_msg(struct batch *b, const struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int batch_begin(struct batch *b, uint32_t seq)
{
	if (batch_reserve(b) < 0)
		return -ENOMEM;
	struct nlmsghdr *nlh = nftnl_batch_begin(b->buf + b->len, seq++);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	b->seq0 = seq;
	b->seq = seq;
	return 0;
}

static int batch_end(struct batch *b)
{
	if (batch_reserve(b) < 0)
		return -ENOMEM;
	struct nlmsghdr *nlh = nftnl_batch_end(b->buf + b->len, b->seq);
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

static int batch_table(struct batch *b, enum plan_table t, bool add)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *tb = nftnl_table_alloc();
	struct msg_info info = { .kind = add ? MSG_ADD_TABLE : MSG_DEL_TABLE, .table = t };
	if (!tb)
		return -ENOMEM;
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, plan_table_nft_name(t));
	struct nlmsghdr *nlh = batch_msg(b, add ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE,
					 add ? NLM_F_CREATE | NLM_F_EXCL : 0, &info);
	if (!nlh)
		return -ENOMEM;
	nftnl_table_nlmsg_build_payload(nlh, tb);
	batch_commit_msg(b, nlh);
	return 0;
}

static struct nftnl_chain *chain_new(enum plan_table t, enum plan_chain c)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	if (!ch)
		return NULL;
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, plan_table_nft_name(t));
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, plan_chain_nft_name(c));
	const struct base_chain_info *bc = base_chain(t, c);
	if (bc) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, bc->hooknum);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, bc->prio);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, bc->type);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	return ch;
}

static int batch_chain(struct batch *b, enum plan_table t, enum plan_chain c)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *ch = chain_new(t, c);
	struct msg_info info = { .kind = MSG_ADD_CHAIN, .table = t, .chain = c };
	if (!ch)
		return -ENOMEM;
	struct nlmsghdr *nlh =
		batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, &info);
	if (!nlh)
		return -ENOMEM;
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	batch_commit_msg(b, nlh);
	return 0;
}

struct elem_chunk_ctx {
	struct batch *b;
	struct msg_info info;
	const char *table;
	uint32_t set_id;
	struct nftnl_set *chunk;
	size_t n;
	int err;
};

static int chunk_flush(struct elem_chunk_ctx *c)
{
	if (!c->chunk || c->n == 0)
		return 0;
	c->info.kind = MSG_ADD_ELEMS;
	struct nlmsghdr *nlh =
		batch_msg(c->b, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL, &c->info);
	if (!nlh)
		return -ENOMEM;
	nftnl_set_elems_nlmsg_build_payload(nlh, c->chunk);
	batch_commit_msg(c->b, nlh);
	nftnl_set_free(c->chunk);
	c->chunk = NULL;
	c->n = 0;
	return 0;
}

static int elem_chunk_cb(struct nftnl_set_elem *e, void *data)
{
	struct elem_chunk_ctx *c = data;
	if (!c->chunk) {
		c->chunk = nftnl_set_alloc();
		if (!c->chunk) {
			c->err = -ENOMEM;
			return -1;
		}
		nftnl_set_set_u32(c->chunk, NFTNL_SET_FAMILY, NFPROTO_INET);
		nftnl_set_set_str(c->chunk, NFTNL_SET_TABLE, c->table);
		nftnl_set_set_str(c->chunk, NFTNL_SET_NAME, "__set%d");
		nftnl_set_set_u32(c->chunk, NFTNL_SET_ID, c->set_id);
	}
	uint32_t klen = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ?
				 nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) :
				 0;
	int r = set_add_elem(c->chunk, key, klen, flags);
	if (r < 0) {
		c->err = r;
		return -1;
	}
	if (++c->n >= SETELEM_CHUNK) {
		r = chunk_flush(c);
		if (r < 0) {
			c->err = r;
			return -1;
		}
	}
	return 0;
}

static int batch_set(struct batch *b, struct nftnl_set *s, const struct msg_info *rinfo)
{
	struct msg_info info = *rinfo;
	info.kind = MSG_ADD_SET;
	struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, &info);
	if (!nlh)
		return -ENOMEM;
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_commit_msg(b, nlh);

	/* Elements in bounded chunks, each its own message. */
	struct elem_chunk_ctx c = { .b = b, .info = info, .table = nftnl_set_get_str(s, NFTNL_SET_TABLE),
				    .set_id = nftnl_set_get_u32(s, NFTNL_SET_ID) };
	int r = nftnl_set_elem_foreach(s, elem_chunk_cb, &c);
	if (r >= 0 && c.err >= 0)
		r = chunk_flush(&c);
	if (c.chunk)
		nftnl_set_free(c.chunk);
	return c.err < 0 ? c.err : r;
}

static int batch_rule(struct batch *b, const struct nft_rule_ir *ir, size_t idx, uint32_t set_id)
{
	struct built_rule br;
	struct msg_info info = {
		.kind = MSG_ADD_RULE, .table = ir->table, .chain = ir->chain, .rule = idx
	};
	int r = build_rule(ir, set_id, &br);
	if (r < 0)
		return r;
	if (br.set) {
		r = batch_set(b, br.set, &info);
		if (r < 0)
			goto out;
	}
	struct nlmsghdr *nlh =
		batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &info);
	if (!nlh) {
		r = -ENOMEM;
		goto out;
	}
	nftnl_rule_nlmsg_build_payload(nlh, br.rule);
	batch_commit_msg(b, nlh);
out:
	built_rule_done(&br);
	return r;
}

static uint32_t seq_start(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u) << 8;
}

static void describe_msg(const struct nft_program *p, const struct msg_info *mi, char *buf,
			 size_t len)
{
	const char *t = plan_table_nft_name(mi->table);
	switch (mi->kind) {
	case MSG_DEL_TABLE:
		(void)snprintf(buf, len, "delete table inet %s", t);
		break;
	case MSG_ADD_TABLE:
		(void)snprintf(buf, len, "add table inet %s", t);
		break;
	case MSG_ADD_CHAIN:
		(void)snprintf(buf, len, "add chain inet %s %s", t, plan_chain_nft_name(mi->chain));
		break;
	case MSG_ADD_SET:
	case MSG_ADD_ELEMS:
	case MSG_ADD_RULE: {
		_cleanup_free_ char *text = NULL;
		if (!p || mi->rule >= p->n || nft_rule_ir_render(&p->rule[mi->rule], &text) < 0)
			text = NULL;
		(void)snprintf(buf, len, "%s inet %s %s %s",
			       mi->kind == MSG_ADD_RULE  ? "add rule" :
			       mi->kind == MSG_ADD_SET	 ? "add set for rule" :
							   "add set elements for rule",
			       t, plan_chain_nft_name(mi->chain), text ? text : "");
		break;
	}
	}
}

/* Extended ack text of an NLMSG_ERROR, or NULL. */
static const char *extack_msg(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	size_t off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	const struct nlattr *attr;
	const char *msg = NULL;
	mnl_attr_for_each(attr, nlh, off) {
		if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) >= 0)
			msg = mnl_attr_get_str(attr);
	}
	return msg;
}

static int socket_grow_sndbuf(struct mnl_socket *nl, size_t len)
{
	int fd = mnl_socket_get_fd(nl);
	int cur = 0;
	socklen_t sl = sizeof(cur);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &sl) < 0)
		return -errno;
	if ((size_t)cur >= len + 4096)
		return 0;
	int want = (int)(len + 4096);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) < 0)
		return -errno;
	return 0;
}

/*
 * Sends the batch and reads every ack. The kernel processes a batch inside
 * sendmsg(), so all replies are queued when it returns; a short poll covers
 * anything else. Returns 0 when every message was acked without error.
 */
static int batch_send(struct mnl_socket *nl, struct batch *b, const struct nft_program *p,
		      struct error *err)
{
	int r = socket_grow_sndbuf(nl, b->len);
	if (r < 0)
		return error_set(err, ERR_NFTABLES, r, "growing netlink send buffer");
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0)
		return error_set(err, ERR_NFTABLES, -errno, "sending nftables batch");

	char rbuf[16384] __attribute__((aligned(4)));
	size_t pending = b->n_info;
	int first_err = 0;
	size_t first_idx = 0;
	char first_ext[256] = "";
	int fd = mnl_socket_get_fd(nl);

	while (pending > 0) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (first_err)
				break; /* an aborted batch does not ack the rest */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			int pr = poll(&pfd, 1, 1000);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				return error_set(err, ERR_NFTABLES, -ETIMEDOUT,
						 "%zu of %zu nftables messages not acknowledged",
						 pending, b->n_info);
			continue;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_set(err, ERR_NFTABLES, -errno, "reading nftables acks");
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)rbuf;
		size_t left = (size_t)n;
		for (; mnl_nlmsg_ok(nlh, (int)left); nlh = mnl_nlmsg_next(nlh, (int *)&left)) {
			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			uint32_t idx = nlh->nlmsg_seq - b->seq0;
			if (nlh->nlmsg_seq < b->seq0 || idx >= b->n_info)
				continue; /* not ours (stale) */
			if (!b->info[idx].acked) {
				b->info[idx].acked = true;
				pending--;
			}
			if (e->error != 0 && !first_err) {
				first_err = e->error;
				first_idx = idx;
				const char *ext = extack_msg(nlh);
				if (ext)
					(void)snprintf(first_ext, sizeof(first_ext), " (%s)", ext);
			}
		}
	}
	if (first_err) {
		char what[ERROR_MSG_MAX];
		describe_msg(p, &b->info[first_idx], what, sizeof(what));
		return error_set(err, ERR_NFTABLES, first_err, "nftables rejected \"%s\": %s%s",
				 what, strerror(-first_err), first_ext);
	}
	return 0;
}

/* ---- dumps ---- */

typedef int (*dump_cb)(const struct nlmsghdr *nlh, void *data);

static int dump(struct mnl_socket *nl, uint16_t type, const char *table, const char *set,
		mnl_cb_t cb, void *data, struct error *err)
{
	char buf[16384] __attribute__((aligned(4)));
	uint32_t seq = seq_start() | 0x1;
	struct nlmsghdr *nlh =
		nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET, NLM_F_DUMP | NLM_F_ACK, seq);

	if (type == NFT_MSG_GETSETELEM) {
		_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
		if (!s)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
		nftnl_set_set_str(s, NFTNL_SET_NAME, set);
		nftnl_set_elems_nlmsg_build_payload(nlh, s);
	} else if (type == NFT_MSG_GETSET && table) {
		_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
		if (!s)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
		nftnl_set_nlmsg_build_payload(nlh, s);
	} else if (type == NFT_MSG_GETRULE && table) {
		_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
		if (!r)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
		nftnl_rule_nlmsg_build_payload(nlh, r);
	}

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return error_set(err, ERR_NFTABLES, -errno, "sending nftables dump request");
	uint32_t portid = mnl_socket_get_portid(nl);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_set(err, ERR_NFTABLES, -errno, "reading nftables dump");
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (r < 0)
			return error_set(err, ERR_NFTABLES, -errno, "nftables dump");
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static int table_index(const char *name)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (name && strcmp(name, plan_table_nft_name(t)) == 0)
			return t;
	return -1;
}

static int tables_cb(const struct nlmsghdr *nlh, void *data)
{
	unsigned int *mask = data;
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
	if (!t || nftnl_table_nlmsg_parse(nlh, t) < 0)
		return MNL_CB_OK;
	int i = table_index(nftnl_table_get_str(t, NFTNL_TABLE_NAME));
	if (i >= 0 && nftnl_table_get_u32(t, NFTNL_TABLE_FAMILY) == NFPROTO_INET)
		*mask |= 1u << i;
	return MNL_CB_OK;
}

int nft_backend_tables_present(struct mnl_socket *nl, unsigned int *ret_mask, struct error *err)
{
	unsigned int mask = 0;
	int r = dump(nl, NFT_MSG_GETTABLE, NULL, NULL, tables_cb, &mask, err);
	if (r < 0)
		return r;
	*ret_mask = mask;
	return 0;
}

static int apply_program(struct mnl_socket *nl, const struct nft_program *p, unsigned int present,
			 struct error *err)
{
	struct batch b = {0};
	uint32_t set_id = 1;
	int r;

	r = batch_begin(&b, seq_start());
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++)
		if (present & (1u << t))
			r = batch_table(&b, t, false);
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++) {
		if (!p->table_used[t])
			continue;
		r = batch_table(&b, t, true);
		for (int c = 0; c < _PLAN_CHAIN_MAX && r >= 0; c++)
			if (p->chain_used[t][c])
				r = batch_chain(&b, t, c);
		for (size_t i = 0; i < p->n && r >= 0; i++) {
			if (p->rule[i].table != (enum plan_table)t)
				continue;
			r = batch_rule(&b, &p->rule[i], i, rule_needs_set(&p->rule[i]) ? set_id++ : 0);
		}
	}
	if (r >= 0)
		r = batch_end(&b);
	if (r < 0) {
		batch_done(&b);
		return error_set(err, ERR_NFTABLES, r, "building nftables batch");
	}
	if (b.n_info == 0) {
		batch_done(&b);
		return 0;
	}
	r = batch_send(nl, &b, p, err);
	batch_done(&b);
	return r;
}

int nft_backend_apply(struct mnl_socket *nl, const struct redirect_plan *plan, struct error *err)
{
	struct nft_program p;
	unsigned int present;
	int r;

	r = nft_program_build(plan, &p, err);
	if (r < 0)
		return r;
	r = nft_backend_tables_present(nl, &present, err);
	if (r >= 0) {
		struct error e2 = {0};
		r = apply_program(nl, &p, present, &e2);
		/* Someone created or removed one of our tables between dump and batch:
		 * the batch was rejected as a whole; look again once. */
		if (r == -EEXIST || r == -ENOENT) {
			r = nft_backend_tables_present(nl, &present, err);
			if (r >= 0)
				r = apply_program(nl, &p, present, err);
		} else if (r < 0 && err) {
			*err = e2;
		}
	}
	nft_program_done(&p);
	return r;
}

int nft_backend_remove(struct mnl_socket *nl, struct error *err)
{
	struct nft_program empty = {0};
	int r = 0;

	/* A table removed by someone else between dump and batch aborts the
	 * batch with ENOENT: look again (bounded). */
	for (int attempt = 0; attempt < 3; attempt++) {
		unsigned int present;
		struct error e2 = {0};
		r = nft_backend_tables_present(nl, &present, err);
		if (r < 0 || !present)
			return r < 0 ? r : 0;
		r = apply_program(nl, &empty, present, &e2);
		if (r != -ENOENT) {
			if (r < 0 && err)
				*err = e2;
			return r;
		}
	}
	return 0;
}

/* ---- check ---- */

struct strv {
	char **s;
	size_t n;
	size_t cap;
};

static void strv_done(struct strv *v)
{
	for (size_t i = 0; i < v->n; i++)
		free(v->s[i]);
	free(v->s);
	memset(v, 0, sizeof(*v));
}

static int strv_push(struct strv *v, char *s)
{
	if (!s)
		return -ENOMEM;
	if (v->n == v->cap) {
		size_t ncap = v->cap ? v->cap * 2 : 16;
		char **n = reallocarray(v->s, ncap, sizeof(*n));
		if (!n) {
			free(s);
			return -ENOMEM;
		}
		v->s = n;
		v->cap = ncap;
	}
	v->s[v->n++] = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int elem_canon_cb(struct nftnl_set_elem *e, void *data)
{
	struct strv *v = data;
	uint32_t len = 0;
	const uint8_t *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS) ?
				 nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS) :
				 0;
	char buf[80];
	size_t o = 0;
	for (uint32_t i = 0; key && i < len && o + 3 < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%02x", key[i]);
	(void)snprintf(buf + o, sizeof(buf) - o, "/%x", flags & NFT_SET_ELEM_INTERVAL_END);
	return strv_push(v, strdup(buf));
}

/* A set as text independent of its name and element order. */
static int set_canon(struct nftnl_set *s, char **ret)
{
	struct strv v = {0};
	int r = nftnl_set_elem_foreach(s, elem_canon_cb, &v);
	if (r < 0) {
		strv_done(&v);
		return -ENOMEM;
	}
	qsort(v.s, v.n, sizeof(*v.s), cmp_str);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		strv_done(&v);
		return -ENOMEM;
	}
	fprintf(f, "{type %u len %u flags %x:", nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
		nftnl_set_get_u32(s, NFTNL_SET_FLAGS) &
			(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL));
	for (size_t i = 0; i < v.n; i++)
		fprintf(f, " %s", v.s[i]);
	fputc('}', f);
	strv_done(&v);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

struct kset {
	int table;
	char *name;
	uint32_t key_type;
	uint32_t key_len;
	uint32_t flags;
	char *canon;
};

struct kchain {
	int table;
	char *name;
	bool base;
	uint32_t hooknum;
	int32_t prio;
	char *type;
	struct strv rules;  /* canonical */
	struct strv pretty; /* libnftnl's text, for messages */
};

struct kstate {
	unsigned int present;
	int cur_table;
	struct kset *sets;
	size_t n_sets;
	struct kchain *ch;
	size_t n_ch;
	int err;
};

static void kstate_done(struct kstate *k)
{
	for (size_t i = 0; i < k->n_sets; i++) {
		free(k->sets[i].name);
		free(k->sets[i].canon);
	}
	free(k->sets);
	for (size_t i = 0; i < k->n_ch; i++) {
		free(k->ch[i].name);
		free(k->ch[i].type);
		strv_done(&k->ch[i].rules);
		strv_done(&k->ch[i].pretty);
	}
	free(k->ch);
	memset(k, 0, sizeof(*k));
}

static struct kchain *kchain_find(struct kstate *k, int table, const char *name)
{
	for (size_t i = 0; i < k->n_ch; i++)
		if (k->ch[i].table == table && strcmp(k->ch[i].name, name) == 0)
			return &k->ch[i];
	return NULL;
}

static int chains_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	if (!c || nftnl_chain_nlmsg_parse(nlh, c) < 0) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	int t = table_index(nftnl_chain_get_str(c, NFTNL_CHAIN_TABLE));
	if (t < 0 || nftnl_chain_get_u32(c, NFTNL_CHAIN_FAMILY) != NFPROTO_INET)
		return MNL_CB_OK;
	struct kchain *n = reallocarray(k->ch, k->n_ch + 1, sizeof(*n));
	if (!n) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	k->ch = n;
	struct kchain *kc = &k->ch[k->n_ch];
	*kc = (struct kchain){ .table = t };
	kc->name = strdup(nftnl_chain_get_str(c, NFTNL_CHAIN_NAME));
	if (!kc->name) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	k->n_ch++;
	if (nftnl_chain_is_set(c, NFTNL_CHAIN_HOOKNUM)) {
		kc->base = true;
		kc->hooknum = nftnl_chain_get_u32(c, NFTNL_CHAIN_HOOKNUM);
		kc->prio = nftnl_chain_get_s32(c, NFTNL_CHAIN_PRIO);
		const char *type = nftnl_chain_get_str(c, NFTNL_CHAIN_TYPE);
		kc->type = strdup(type ? type : "");
	}
	return MNL_CB_OK;
}

static int sets_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
	if (!s || nftnl_set_nlmsg_parse(nlh, s) < 0) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	struct kset *n = reallocarray(k->sets, k->n_sets + 1, sizeof(*n));
	if (!n) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	k->sets = n;
	/* Elements come from GETSETELEM; canon is computed then. */
	k->sets[k->n_sets] = (struct kset){
		.table = table_index(nftnl_set_get_str(s, NFTNL_SET_TABLE)),
		.name = strdup(nftnl_set_get_str(s, NFTNL_SET_NAME)),
		.key_type = nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		.key_len = nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
		.flags = nftnl_set_get_u32(s, NFTNL_SET_FLAGS),
	};
	k->n_sets++;
	return MNL_CB_OK;
}

struct elems_ctx {
	struct nftnl_set *set;
};

static int elems_cb(const struct nlmsghdr *nlh, void *data)
{
	struct elems_ctx *c = data;
	(void)nftnl_set_elems_nlmsg_parse(nlh, c->set);
	return MNL_CB_OK;
}

/* Anonymous set names repeat across tables: look up by table and name. */
static const char *kset_canon(const struct kstate *k, int table, const char *name)
{
	for (size_t i = 0; i < k->n_sets; i++)
		if (k->sets[i].table == table && k->sets[i].name && k->sets[i].canon && name &&
		    strcmp(k->sets[i].name, name) == 0)
			return k->sets[i].canon;
	return "{?}";
}

/* A rule as text that two equal rules share: libnftnl's expression text, with
 * counters' values dropped and set names replaced by their content. */
static int rule_canon(struct nftnl_rule *rule, const char *set_canon_text, const struct kstate *k,
		      char **ret)
{
	int table = table_index(nftnl_rule_get_str(rule, NFTNL_RULE_TABLE));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	struct nftnl_expr_iter *it = nftnl_expr_iter_create(rule);
	if (!it) {
		(void)fclose(f);
		free(buf);
		return -ENOMEM;
	}
	for (struct nftnl_expr *e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
		const char *name = nftnl_expr_get_str(e, NFTNL_EXPR_NAME);
		if (strcmp(name, "counter") == 0) {
			fputs("[counter]", f);
		} else if (strcmp(name, "lookup") == 0) {
			const char *set = set_canon_text ?
						  set_canon_text :
						  kset_canon(k, table,
								     nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
			uint32_t flags = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS) ?
						 nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS) :
						 0;
			fprintf(f, "[lookup reg %u flags %x %s]",
				nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_SREG), flags, set);
		} else {
			char eb[512];
			(void)nftnl_expr_snprintf(eb, sizeof(eb), e, NFTNL_OUTPUT_DEFAULT, 0);
			fprintf(f, "[%s %s]", name, eb);
		}
	}
	nftnl_expr_iter_destroy(it);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

static int rules_cb(const struct nlmsghdr *nlh, void *data)
{
	struct kstate *k = data;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
	if (!r || nftnl_rule_nlmsg_parse(nlh, r) < 0) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	int t = table_index(nftnl_rule_get_str(r, NFTNL_RULE_TABLE));
	if (t < 0)
		return MNL_CB_OK;
	struct kchain *kc = kchain_find(k, t, nftnl_rule_get_str(r, NFTNL_RULE_CHAIN));
	if (!kc)
		return MNL_CB_OK;
	char *canon = NULL;
	if (rule_canon(r, NULL, k, &canon) < 0 || strv_push(&kc->rules, canon) < 0) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	char pretty[1024];
	(void)nftnl_rule_snprintf(pretty, sizeof(pretty), r, NFTNL_OUTPUT_DEFAULT, 0);
	/* One line: libnftnl puts each expression on its own. */
	for (char *q = pretty; *q; q++)
		if (*q == '\n')
			*q = ' ';
	if (strv_push(&kc->pretty, strdup(pretty)) < 0)
		k->err = -ENOMEM;
	return MNL_CB_OK;
}

static int kstate_read(struct mnl_socket *nl, struct kstate *k, struct error *err)
{
	int r = nft_backend_tables_present(nl, &k->present, err);
	if (r < 0)
		return r;
	if (!k->present)
		return 0;
	r = dump(nl, NFT_MSG_GETCHAIN, NULL, NULL, chains_cb, k, err);
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++) {
		if (!(k->present & (1u << t)))
			continue;
		const char *tn = plan_table_nft_name(t);
		size_t first_set = k->n_sets;
		r = dump(nl, NFT_MSG_GETSET, tn, NULL, sets_cb, k, err);
		for (size_t i = first_set; i < k->n_sets && r >= 0; i++) {
			_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
			if (!s || !k->sets[i].name)
				return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
			struct elems_ctx ec = { .set = s };
			r = dump(nl, NFT_MSG_GETSETELEM, tn, k->sets[i].name, elems_cb, &ec, err);
			if (r < 0)
				break;
			nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, k->sets[i].key_type);
			nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, k->sets[i].key_len);
			nftnl_set_set_u32(s, NFTNL_SET_FLAGS, k->sets[i].flags);
			char *canon = NULL;
			if (set_canon(s, &canon) < 0)
				return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
			free(k->sets[i].canon);
			k->sets[i].canon = canon;
		}
		if (r >= 0)
			r = dump(nl, NFT_MSG_GETRULE, tn, NULL, rules_cb, k, err);
	}
	if (r >= 0 && k->err)
		r = error_set(err, ERR_INTERNAL, k->err, "parsing nftables state");
	return r;
}

static void diff_add(struct error *err, unsigned int *n, char *first, size_t first_len,
		     const char *fmt, ...) _printf_(5, 6);
static void diff_add(struct error *err, unsigned int *n, char *first, size_t first_len,
		     const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (*n == 0)
		(void)snprintf(first, first_len, "%s", line);
	(*n)++;
	error_add_details(err, "%s", line);
}

int nft_backend_check(struct mnl_socket *nl, const struct redirect_plan *plan, struct error *err)
{
	struct nft_program p;
	struct kstate k = {0};
	unsigned int ndiff = 0;
	char first[ERROR_MSG_MAX] = "";
	int r;

	r = nft_program_build(plan, &p, err);
	if (r < 0)
		return r;
	r = kstate_read(nl, &k, err);
	if (r < 0)
		goto out;

	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		const char *tn = plan_table_nft_name(t);
		bool have = k.present & (1u << t);
		if (p.table_used[t] && !have) {
			diff_add(err, &ndiff, first, sizeof(first), "missing table inet %s", tn);
			continue;
		}
		if (!p.table_used[t] && have) {
			diff_add(err, &ndiff, first, sizeof(first), "extra table inet %s", tn);
			continue;
		}
		if (!have)
			continue;

		for (int c = 0; c < _PLAN_CHAIN_MAX; c++) {
			const char *cn = plan_chain_nft_name(c);
			struct kchain *kc = kchain_find(&k, t, cn);
			if (!p.chain_used[t][c]) {
				if (kc)
					diff_add(err, &ndiff, first, sizeof(first),
						 "extra chain inet %s %s", tn, cn);
				continue;
			}
			if (!kc) {
				diff_add(err, &ndiff, first, sizeof(first),
					 "missing chain inet %s %s", tn, cn);
				continue;
			}
			const struct base_chain_info *bc = base_chain(t, c);
			if ((bc != NULL) != kc->base ||
			    (bc && (bc->hooknum != kc->hooknum || bc->prio != kc->prio ||
				    strcmp(bc->type, kc->type ? kc->type : "") != 0)))
				diff_add(err, &ndiff, first, sizeof(first),
					 "chain inet %s %s has the wrong type, hook or priority", tn,
					 cn);

			/* Expected rules of this chain, canonical. */
			struct strv exp = {0};
			size_t *exp_idx = NULL;
			size_t n_exp = 0;
			for (size_t i = 0; i < p.n; i++)
				if (p.rule[i].table == (enum plan_table)t &&
				    p.rule[i].chain == (enum plan_chain)c)
					n_exp++;
			exp_idx = calloc(n_exp ? n_exp : 1, sizeof(*exp_idx));
			if (!exp_idx) {
				r = error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
				goto out;
			}
			n_exp = 0;
			for (size_t i = 0; i < p.n && r >= 0; i++) {
				if (p.rule[i].table != (enum plan_table)t ||
				    p.rule[i].chain != (enum plan_chain)c)
					continue;
				struct built_rule br;
				char *sc = NULL, *canon = NULL;
				r = build_rule(&p.rule[i], 1, &br);
				if (r < 0)
					break;
				if (br.set)
					r = set_canon(br.set, &sc);
				if (r >= 0)
					r = rule_canon(br.rule, sc, &k, &canon);
				if (r >= 0)
					r = strv_push(&exp, canon);
				free(sc);
				built_rule_done(&br);
				exp_idx[n_exp++] = i;
			}
			if (r < 0) {
				strv_done(&exp);
				free(exp_idx);
				r = error_set(err, ERR_INTERNAL, r, "building expected rules");
				goto out;
			}

			bool equal = exp.n == kc->rules.n;
			for (size_t i = 0; equal && i < exp.n; i++)
				equal = strcmp(exp.s[i], kc->rules.s[i]) == 0;
			if (!equal) {
				bool *used = calloc(kc->rules.n + 1, sizeof(*used));
				unsigned int before = ndiff;
				if (!used) {
					strv_done(&exp);
					free(exp_idx);
					r = error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
					goto out;
				}
				for (size_t i = 0; i < exp.n; i++) {
					size_t j;
					for (j = 0; j < kc->rules.n; j++)
						if (!used[j] && strcmp(exp.s[i], kc->rules.s[j]) == 0)
							break;
					if (j < kc->rules.n) {
						used[j] = true;
						continue;
					}
					_cleanup_free_ char *text = NULL;
					if (nft_rule_ir_render(&p.rule[exp_idx[i]], &text) < 0)
						text = NULL;
					diff_add(err, &ndiff, first, sizeof(first),
						 "missing rule in inet %s %s: %s", tn, cn,
						 text ? text : "?");
				}
				for (size_t j = 0; j < kc->rules.n; j++)
					if (!used[j])
						diff_add(err, &ndiff, first, sizeof(first),
							 "extra rule in inet %s %s: %s", tn, cn,
							 kc->pretty.s[j]);
				if (ndiff == before)
					diff_add(err, &ndiff, first, sizeof(first),
						 "rules of inet %s %s are out of order", tn, cn);
				free(used);
			}
			strv_done(&exp);
			free(exp_idx);
		}
		for (size_t i = 0; i < k.n_ch; i++) {
			if (k.ch[i].table != t)
				continue;
			bool known = false;
			for (int c = 0; c < _PLAN_CHAIN_MAX; c++)
				if (strcmp(k.ch[i].name, plan_chain_nft_name(c)) == 0)
					known = true;
			if (!known)
				diff_add(err, &ndiff, first, sizeof(first), "extra chain inet %s %s",
					 tn, k.ch[i].name);
		}
	}
	if (ndiff)
		r = error_set(err, ERR_CHECK, -EBADMSG,
			      "nftables state differs from the plan (%u difference%s): %s", ndiff,
			      ndiff == 1 ? "" : "s", first);
out:
	kstate_done(&k);
	nft_program_done(&p);
	return r;
}
