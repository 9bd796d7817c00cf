// SPDX-License-Identifier: Apache-2.0
/*
 * The pure layer: a plan's rules in final order, both families merged into
 * the inet chains, runs folded into sets.
 */
#include "capture/nft_rules.h"

#include <errno.h>
#include <linux/netfilter.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "capture/nft_internal.h"

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
		// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
		const struct plan_rule **n = reallocarray(l->r, ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->r = n;
		l->cap = ncap;
	}
	if (pos > l->n)
		pos = l->n;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	memmove(&l->r[pos + 1], &l->r[pos], (l->n - pos) * sizeof(*l->r));
	l->r[pos] = r;
	l->n++;
	return 0;
}

/*
 * Istio's documents apply `-I CHAIN N` in document order; iptables
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
		return a->u.cidr.family == b->u.cidr.family &&
		       a->u.cidr.prefix == b->u.cidr.prefix &&
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
	for (unsigned int i = 0; i < r->n_matches; i++) {
		if (r->match[i].kind == PM_SADDR || r->match[i].kind == PM_DADDR)
			return r->match[i].u.cidr.family;
		if (r->match[i].kind == PM_DADDRS)
			return r->match[i].u.cidrs.v[0].family;
	}
	return 0;
}

/*
 * One rule in its chain's final order: a plan rule, or element elem of a
 * PM_DADDRS rule's list, with the family it is bound to (0: both). Merging
 * and folding work on these, so a thousand ranges cost a thousand small
 * entries, not a thousand nft_rule_ir copies.
 */
struct rule_ref {
	const struct plan_rule *r;
	uint32_t elem;
	uint8_t nfproto;
};

/* Match i of the rule ref stands for; tmp holds it for a list's element. */
static const struct plan_match *ref_match(const struct rule_ref *ref, unsigned int i,
					  struct plan_match *tmp)
{
	return plan_rule_match(ref->r, i, ref->elem, tmp);
}

struct ref_list {
	struct rule_ref *v;
	size_t n;
	size_t cap;
};

/* Appends a ref for each rule r stands for (one per range of a list). */
static int ref_push(struct ref_list *l, const struct plan_rule *r, uint8_t nfproto)
{
	size_t count = plan_rule_count(r);
	if (count > l->cap - l->n) {
		size_t ncap = l->cap ? l->cap : 64;
		while (ncap - l->n < count)
			ncap *= 2;
		struct rule_ref *n = reallocarray(l->v, ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		l->v = n;
		l->cap = ncap;
	}
	for (size_t k = 0; k < count; k++)
		l->v[l->n++] = (struct rule_ref){.r = r, .elem = (uint32_t)k, .nfproto = nfproto};
	return 0;
}

static int program_push(struct nft_program *p, const struct rule_ref *ref)
{
	if (p->n == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 64;
		struct nft_rule_ir *n = reallocarray(p->rule, ncap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		p->rule = n;
		p->cap = ncap;
	}
	const struct plan_rule *r = ref->r;
	struct nft_rule_ir *ir = &p->rule[p->n++];
	*ir = (struct nft_rule_ir){
		.table = r->table,
		.chain = r->chain,
		.nfproto = ref->nfproto,
		.n_matches = r->n_matches,
		.verdict = r->verdict,
		.n_folded = 1,
	};
	struct plan_match tmp;
	for (unsigned int i = 0; i < r->n_matches && i < PLAN_MATCHES_MAX; i++)
		ir->match[i] = *ref_match(ref, i, &tmp);
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
static int merge_chain(struct ref_list *out, const struct chain_list *a, const struct chain_list *b,
		       bool qualify_v4)
{
	size_t i = 0, j = 0;
	int k;

	while (i < a->n || j < b->n) {
		if (i < a->n && rule_addr_family(a->r[i])) {
			k = ref_push(out, a->r[i], family_nfproto(rule_addr_family(a->r[i])));
			i++;
		} else if (j < b->n && rule_addr_family(b->r[j])) {
			k = ref_push(out, b->r[j], family_nfproto(rule_addr_family(b->r[j])));
			j++;
		} else if (i < a->n && j < b->n && plan_rule_eq(a->r[i], b->r[j])) {
			k = ref_push(out, a->r[i], 0);
			i++;
			j++;
		} else if (i < a->n) {
			k = ref_push(out, a->r[i], (b->n || qualify_v4) ? NFPROTO_IPV4 : 0);
			i++;
		} else {
			k = ref_push(out, b->r[j], NFPROTO_IPV6);
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

void nft_cidr_interval(const struct cidr *c, struct nft_interval *ret)
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
static int rule_diff(const struct rule_ref *ra, const struct rule_ref *rb, unsigned int *ret_mask)
{
	const struct plan_rule *a = ra->r, *b = rb->r;
	if (a->table != b->table || a->chain != b->chain || ra->nfproto != rb->nfproto ||
	    a->n_matches != b->n_matches || !verdict_eq(&a->verdict, &b->verdict))
		return -1;
	unsigned int mask = 0;
	for (unsigned int i = 0; i < a->n_matches; i++) {
		struct plan_match tx, ty;
		const struct plan_match *x = ref_match(ra, i, &tx), *y = ref_match(rb, i, &ty);
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
static enum nft_fold_kind fold_pattern(const struct plan_rule *r, unsigned int mask,
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
		if (m->kind == PM_DADDR || m->kind == PM_DADDRS)
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

/* Whether rule ref (at the fold slots) could match a packet another member also matches. */
static bool value_overlaps(const struct rule_ref *run, size_t n, const struct rule_ref *ref,
			   enum nft_fold_kind kind, uint8_t idx, uint8_t idx2)
{
	const struct plan_rule *r = ref->r;
	for (size_t k = 0; k < n; k++) {
		const struct plan_rule *o = run[k].r;
		switch (kind) {
		case NFT_FOLD_SADDR:
		case NFT_FOLD_DADDR: {
			struct plan_match to, tr;
			const struct cidr *co = &ref_match(&run[k], idx, &to)->u.cidr;
			const struct cidr *cr = &ref_match(ref, idx, &tr)->u.cidr;
			struct nft_interval x, y;
			nft_cidr_interval(co, &x);
			nft_cidr_interval(cr, &y);
			if (intervals_overlap(&x, &y, co->family == AF_INET ? 4 : 16))
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
	return memcmp(((const struct nft_interval *)a)->start,
		      ((const struct nft_interval *)b)->start, 4);
}

static int cmp_interval16(const void *a, const void *b)
{
	return memcmp(((const struct nft_interval *)a)->start,
		      ((const struct nft_interval *)b)->start, 16);
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

bool nft_be_inc(uint8_t *v, size_t len)
{
	for (size_t i = len; i-- > 0;)
		if (++v[i] != 0)
			return true;
	return false;
}

/* last + 1 == start, as big-endian numbers of len bytes. */
static bool interval_adjacent(const uint8_t *last, const uint8_t *start, size_t len)
{
	uint8_t next[16];
	memcpy(next, last, len);
	if (!nft_be_inc(next, len))
		return false; /* wrapped: last was all ones */
	return memcmp(next, start, len) == 0;
}

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

/* Makes f, the rule of run[0], stand for the whole run[0..n). */
static int fold_run(struct nft_rule_ir *f, const struct rule_ref *run, size_t n,
		    enum nft_fold_kind kind, uint8_t idx, uint8_t idx2)
{
	switch (kind) {
	case NFT_FOLD_SADDR:
	case NFT_FOLD_DADDR: {
		struct nft_interval *iv = calloc(n, sizeof(*iv));
		if (!iv)
			return -ENOMEM;
		int family = f->match[idx].u.cidr.family;
		for (size_t k = 0; k < n; k++) {
			struct plan_match tmp;
			nft_cidr_interval(&ref_match(&run[k], idx, &tmp)->u.cidr, &iv[k]);
		}
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
			port[k] = run[k].r->match[idx].u.port;
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
			pp[k].proto = run[k].r->match[idx].u.proto;
			pp[k].port = run[k].r->match[idx2].u.port;
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
 * Appends the chain's rules in refs to p, runs folded. A run is consecutive
 * rules with the same verdict whose matches differ only in one address, one
 * port, or a protocol/port pair, never in a negated match. Terminal verdicts
 * fold always (a packet leaves at the first match either way); a jump folds
 * only when the values are disjoint, so no packet could have jumped twice.
 */
static int fold_chain(struct nft_program *p, const struct ref_list *refs)
{
	const struct rule_ref *v = refs->v;

	for (size_t s = 0; s < refs->n;) {
		enum nft_fold_kind kind = NFT_FOLD_NONE;
		uint8_t idx = 0, idx2 = 0;
		unsigned int uni = 0;
		size_t e = s + 1;
		const struct plan_rule *head = v[s].r;

		if (verdict_foldable(&head->verdict)) {
			for (; e < refs->n; e++) {
				unsigned int mask;
				uint8_t i1, i2;
				if (rule_diff(&v[s], &v[e], &mask) < 0)
					break;
				enum nft_fold_kind k = fold_pattern(head, uni | mask, &i1, &i2);
				if (k == NFT_FOLD_NONE && (uni | mask) != 0)
					break;
				if (mask == 0 && head->verdict.kind == PV_JUMP)
					break;
				if (k != NFT_FOLD_NONE && head->verdict.kind == PV_JUMP &&
				    value_overlaps(&v[s], e - s, &v[e], k, i1, i2))
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
		int r = program_push(p, &v[s]);
		if (r < 0)
			return r;
		if (kind != NFT_FOLD_NONE && e - s >= 2) {
			r = fold_run(&p->rule[p->n - 1], &v[s], e - s, kind, idx, idx2);
			if (r < 0)
				return r;
		} else {
			e = s + 1;
		}
		s = e;
	}
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
	struct ref_list refs = {0};
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
			bool qualify = !p.ipv6 &&
				       redirect_plan_chain_is_builtin((enum plan_chain)c);
			refs.n = 0;
			r = merge_chain(&refs, &cl[PLAN_V4][t][c], &cl[PLAN_V6][t][c], qualify);
			if (r < 0)
				goto oom;
			r = fold_chain(&p, &refs);
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
	free(refs.v);
	*ret = p;
	return 0;
oom:
	r = error_set(err, ERR_INTERNAL, r, "building nftables program");
fail:
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		chain_lists_free(cl[f]);
	free(refs.v);
	nft_program_done(&p);
	return r;
}

/* ---- base chains ---- */

static const struct nft_base_chain base_chains[_PLAN_TABLE_MAX][2] = {
	[PLAN_TABLE_NAT] = {{"nat", "prerouting", -100, NF_INET_PRE_ROUTING},
			    {"nat", "output", -100, NF_INET_LOCAL_OUT}},
	[PLAN_TABLE_MANGLE] = {{"filter", "prerouting", -150, NF_INET_PRE_ROUTING},
			       {"route", "output", -150, NF_INET_LOCAL_OUT}},
	[PLAN_TABLE_RAW] = {{"filter", "prerouting", -300, NF_INET_PRE_ROUTING},
			    {"filter", "output", -300, NF_INET_LOCAL_OUT}},
};

const struct nft_base_chain *nft_base_chain(enum plan_table t, enum plan_chain c)
{
	if (c == PLAN_CHAIN_PREROUTING)
		return &base_chains[t][0];
	if (c == PLAN_CHAIN_OUTPUT)
		return &base_chains[t][1];
	return NULL;
}
