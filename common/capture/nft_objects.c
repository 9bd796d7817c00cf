// SPDX-License-Identifier: Apache-2.0
/*
 * Programmed rules as libnftnl objects: each rule's expressions and, when it
 * matches against a set, the anonymous set with its elements. No socket: the
 * batch (nft_batch.c) sends these, the check (nft_check.c) compares with them.
 */
#include "capture/nft_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_nat.h>
#include <linux/netfilter/nf_tables.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* nft's datatype ids, so `nft list` shows our sets' elements typed. */
enum {
	DT_IPADDR = 7,
	DT_IP6ADDR = 8,
	DT_INET_PROTOCOL = 12,
	DT_INET_SERVICE = 13,
	DT_BITS = 6,
};

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

static void build_match(struct rb *b, const struct plan_match *m)
{
	switch (m->kind) {
	case PM_IIF:
	case PM_OIF: {
		/* The register holds the name NUL-padded to IFNAMSIZ: comparing all 16
		 * bytes matches the name exactly; "veth+" (iptables' prefix wildcard)
		 * compares only "veth", without the NUL, as nft's "veth*" does. */
		char name[16] = {0};
		size_t n = strnlen(m->u.ifname, sizeof(m->u.ifname));
		bool prefix = n > 1 && m->u.ifname[n - 1] == '+';
		memcpy(name, m->u.ifname, prefix ? n - 1 : n);
		e_meta_load(b, m->kind == PM_IIF ? NFT_META_IIFNAME : NFT_META_OIFNAME, NFT_REG_1);
		e_cmp(b, m->neg ? NFT_CMP_NEQ : NFT_CMP_EQ, name,
		      prefix ? (uint32_t)(n - 1) : (uint32_t)sizeof(name));
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
		nft_cidr_interval(&m->u.cidr, &iv);
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
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, m->kind == PM_DPORT ? 2 : 0, 2,
			  NFT_REG_1);
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
}

void nft_built_rule_done(struct nft_built_rule *br)
{
	if (br->rule)
		nftnl_rule_free(br->rule);
	if (br->set)
		nftnl_set_free(br->set);
	br->rule = NULL;
	br->set = NULL;
}

struct nftnl_set *nft_set_ref_new(const char *table, uint32_t set_id)
{
	struct nftnl_set *s = nftnl_set_alloc();
	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FAMILY, NFPROTO_INET);
	nftnl_set_set_str(s, NFTNL_SET_TABLE, table);
	nftnl_set_set_str(s, NFTNL_SET_NAME, "__set%d");
	nftnl_set_set_u32(s, NFTNL_SET_ID, set_id);
	return s;
}

static struct nftnl_set *set_new(const char *table, uint32_t set_id, uint32_t flags,
				 uint32_t key_type, uint32_t key_len)
{
	struct nftnl_set *s = nft_set_ref_new(table, set_id);
	if (!s)
		return NULL;
	nftnl_set_set_u32(s, NFTNL_SET_FLAGS, NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | flags);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_TYPE, key_type);
	nftnl_set_set_u32(s, NFTNL_SET_KEY_LEN, key_len);
	return s;
}

int nft_set_add_elem(struct nftnl_set *s, const void *key, uint32_t len, uint32_t flags)
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
	int r = nft_set_add_elem(s, iv->start, len, 0);
	if (r < 0)
		return r;
	memcpy(end, iv->last, len);
	if (!nft_be_inc(end, len))
		return 0; /* last is all ones: the range runs to the end of the space */
	return nft_set_add_elem(s, end, len, NFT_SET_ELEM_INTERVAL_END);
}

/* Ports (host order) as inet_service elements. */
static int set_add_ports(struct nftnl_set *s, const uint16_t *port, size_t n)
{
	int k = 0;
	for (size_t i = 0; i < n && k >= 0; i++) {
		uint16_t be = htons(port[i]);
		k = nft_set_add_elem(s, &be, 2, 0);
	}
	return k;
}

static int build_set(const struct nft_rule_ir *r, const struct plan_match *dports,
		     const char *table, uint32_t set_id, struct nftnl_set **ret)
{
	struct nftnl_set *s;
	int k = 0;

	if (dports) {
		s = set_new(table, set_id, 0, DT_INET_SERVICE, 2);
		if (!s)
			return -ENOMEM;
		k = set_add_ports(s, dports->u.ports.port, dports->u.ports.n);
	} else if (r->fold == NFT_FOLD_SADDR || r->fold == NFT_FOLD_DADDR) {
		uint32_t len = r->fold_family == AF_INET ? 4 : 16;
		s = set_new(table, set_id, NFT_SET_INTERVAL,
			    r->fold_family == AF_INET ? DT_IPADDR : DT_IP6ADDR, len);
		if (!s)
			return -ENOMEM;
		/* As nft does: an end marker at 0 closes the gap below the first range. */
		static const uint8_t zero[16];
		if (r->n_elems && memcmp(r->iv[0].start, zero, len) != 0)
			k = nft_set_add_elem(s, zero, len, NFT_SET_ELEM_INTERVAL_END);
		for (size_t i = 0; i < r->n_elems && k >= 0; i++)
			k = set_add_interval(s, &r->iv[i], len);
	} else if (r->fold == NFT_FOLD_DPORT) {
		s = set_new(table, set_id, 0, DT_INET_SERVICE, 2);
		if (!s)
			return -ENOMEM;
		k = set_add_ports(s, r->port, r->n_elems);
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
			k = nft_set_add_elem(s, key, 8, 0);
		}
	}
	if (k < 0) {
		nftnl_set_free(s);
		return k;
	}
	*ret = s;
	return 0;
}

/* The folded match of r: its set (into *set) and the lookup of the folded key in it. */
static void build_fold_lookup(struct rb *b, const struct nft_rule_ir *r, const char *table,
			      uint32_t set_id, struct nftnl_set **set)
{
	int k = build_set(r, NULL, table, set_id, set);
	if (k < 0) {
		b->err = k;
		return;
	}
	switch (r->fold) {
	case NFT_FOLD_SADDR:
	case NFT_FOLD_DADDR: {
		uint32_t off, len;
		addr_offset(r->fold_family, r->fold == NFT_FOLD_SADDR, &off, &len);
		e_payload(b, NFT_PAYLOAD_NETWORK_HEADER, off, len, NFT_REG_1);
		e_lookup(b, NFT_REG_1, set_id, false);
		break;
	}
	case NFT_FOLD_DPORT:
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
		e_lookup(b, NFT_REG_1, set_id, false);
		break;
	default:
		/* Concatenations use 32-bit slots: reg 1 is slot 0. */
		e_meta_load(b, NFT_META_L4PROTO, NFT_REG_1);
		e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG32_01);
		e_lookup(b, NFT_REG_1, set_id, false);
		break;
	}
}

/* The family qualifier and every match of r; a set, when one is needed, into *set. */
static void build_matches(struct rb *b, const struct nft_rule_ir *r, const char *table,
			  uint32_t set_id, struct nftnl_set **set)
{
	if (r->nfproto) {
		e_meta_load(b, NFT_META_NFPROTO, NFT_REG_1);
		cmp_u8(b, false, r->nfproto);
	}
	for (unsigned int i = 0; i < r->n_matches && !b->err; i++) {
		const struct plan_match *m = &r->match[i];
		if (r->fold != NFT_FOLD_NONE && i == r->fold_idx) {
			build_fold_lookup(b, r, table, set_id, set);
			continue;
		}
		if (r->fold == NFT_FOLD_PROTO_DPORT && i == r->fold_idx2)
			continue;
		if (m->kind == PM_DPORTS) {
			if (*set) {
				b->err = -EINVAL; /* one set per rule */
				break;
			}
			int k = build_set(r, m, table, set_id, set);
			if (k < 0) {
				b->err = k;
				break;
			}
			e_payload(b, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2, NFT_REG_1);
			e_lookup(b, NFT_REG_1, set_id, m->neg);
			continue;
		}
		build_match(b, m);
	}
}

/* The counter and the verdict of r (for TPROXY, the mark and accept after it). */
static void build_verdict(struct rb *b, const struct nft_rule_ir *r)
{
	const struct plan_verdict *v = &r->verdict;
	switch (v->kind) {
	case PV_JUMP:
		e_counter(b);
		e_verdict(b, NFT_JUMP, redirect_plan_chain_nft_name(v->chain));
		break;
	case PV_RETURN:
		e_counter(b);
		e_verdict(b, NFT_RETURN, NULL);
		break;
	case PV_ACCEPT:
		e_counter(b);
		e_verdict(b, NF_ACCEPT, NULL);
		break;
	case PV_DROP:
		e_counter(b);
		e_verdict(b, NF_DROP, NULL);
		break;
	case PV_REDIRECT: {
		uint16_t be = htons(v->port);
		e_counter(b);
		e_imm_data(b, &be, sizeof(be));
		e_redir(b);
		break;
	}
	case PV_TPROXY: {
		uint16_t be = htons(v->port);
		uint32_t mark = v->mark;
		if (!r->nfproto)
			b->err = -EINVAL; /* tproxy needs a family */
		e_imm_data(b, &be, sizeof(be));
		e_tproxy(b, r->nfproto);
		e_imm_data(b, &mark, sizeof(mark));
		e_meta_set(b, NFT_META_MARK, NFT_REG_1);
		e_counter(b);
		e_verdict(b, NF_ACCEPT, NULL);
		break;
	}
	case PV_MARK_SET: {
		uint32_t mark = v->mark;
		e_counter(b);
		e_imm_data(b, &mark, sizeof(mark));
		e_meta_set(b, NFT_META_MARK, NFT_REG_1);
		break;
	}
	case PV_CONNMARK_SAVE:
		e_counter(b);
		e_meta_load(b, NFT_META_MARK, NFT_REG_1);
		e_ct_set(b, NFT_CT_MARK, NFT_REG_1);
		break;
	case PV_CONNMARK_RESTORE:
		e_counter(b);
		e_ct_load(b, NFT_CT_MARK, NFT_REG_1);
		e_meta_set(b, NFT_META_MARK, NFT_REG_1);
		break;
	case PV_CT_ZONE: {
		uint16_t zone = v->zone;
		e_counter(b);
		e_imm_data(b, &zone, sizeof(zone));
		e_ct_set(b, NFT_CT_ZONE, NFT_REG_1);
		break;
	}
	default:
		b->err = -EINVAL;
		break;
	}
}

int nft_build_rule(const struct nft_rule_ir *r, uint32_t set_id, struct nft_built_rule *ret)
{
	const char *table = redirect_plan_table_nft_name(r->table);
	struct nft_built_rule br = {0};
	struct rb b = {0};

	br.rule = nftnl_rule_alloc();
	if (!br.rule)
		return -ENOMEM;
	nftnl_rule_set_u32(br.rule, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(br.rule, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(br.rule, NFTNL_RULE_CHAIN, redirect_plan_chain_nft_name(r->chain));
	b.rule = br.rule;

	build_matches(&b, r, table, set_id, &br.set);
	build_verdict(&b, r);
	if (b.err) {
		nft_built_rule_done(&br);
		return b.err;
	}
	*ret = br;
	return 0;
}

bool nft_rule_needs_set(const struct nft_rule_ir *r)
{
	if (r->fold != NFT_FOLD_NONE)
		return true;
	for (unsigned int i = 0; i < r->n_matches; i++)
		if (r->match[i].kind == PM_DPORTS)
			return true;
	return false;
}
