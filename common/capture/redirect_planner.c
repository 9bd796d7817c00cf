// SPDX-License-Identifier: Apache-2.0
#include "capture/redirect_planner.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/istio_names.h"

#define FAM_V4 (1u << PLAN_V4)
#define FAM_V6 (1u << PLAN_V6)
#define FAM_BOTH (FAM_V4 | FAM_V6)

struct builder {
	struct redirect_plan *plan;
	bool ipv6;
	int r; /* first error; later adds are no-ops */
};

static void emit(struct builder *b, unsigned int fams, const struct plan_rule *rule)
{
	if (b->r < 0)
		return;
	if (rule->overflow) {
		b->r = -EOVERFLOW;
		return;
	}
	size_t adds = plan_rule_count(rule);
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		if (b->plan->fam[f].n_expanded + adds > REDIRECT_PLAN_RULES_MAX) {
			b->r = -E2BIG;
			return;
		}
	if (fams & FAM_V4)
		b->r = redirect_plan_add(b->plan, PLAN_V4, rule);
	if (b->r >= 0 && b->ipv6 && (fams & FAM_V6))
		b->r = redirect_plan_add(b->plan, PLAN_V6, rule);
}

static struct plan_rule rule(enum plan_table t, enum plan_chain c)
{
	return (struct plan_rule){.table = t, .chain = c};
}

static struct plan_match *m_new(struct plan_rule *r, enum plan_match_kind kind, bool neg)
{
	/* A match past PLAN_MATCHES_MAX is a planner bug: the last slot is
	 * overwritten and emit() refuses the rule, so nothing is programmed. */
	struct plan_match *m = &r->match[PLAN_MATCHES_MAX - 1];
	if (r->n_matches < PLAN_MATCHES_MAX)
		m = &r->match[r->n_matches++];
	else
		r->overflow = true;
	*m = (struct plan_match){.kind = kind, .neg = neg};
	return m;
}

static void m_iif(struct plan_rule *r, const char *name)
{
	(void)snprintf(m_new(r, PM_IIF, false)->u.ifname, IFNAMSIZ, "%s", name);
}

static void m_oif(struct plan_rule *r, const char *name)
{
	(void)snprintf(m_new(r, PM_OIF, false)->u.ifname, IFNAMSIZ, "%s", name);
}

static void m_proto(struct plan_rule *r, uint8_t proto)
{
	m_new(r, PM_PROTO, false)->u.proto = proto;
}

static void m_saddr(struct plan_rule *r, const struct cidr *c)
{
	m_new(r, PM_SADDR, false)->u.cidr = *c;
}

static void m_daddr(struct plan_rule *r, const struct cidr *c, bool neg)
{
	m_new(r, PM_DADDR, neg)->u.cidr = *c;
}

static void m_dport(struct plan_rule *r, uint16_t port, bool neg)
{
	m_new(r, PM_DPORT, neg)->u.port = port;
}

static void m_sport(struct plan_rule *r, uint16_t port)
{
	m_new(r, PM_SPORT, false)->u.port = port;
}

static void m_dports2(struct plan_rule *r, uint16_t a, uint16_t b, bool neg)
{
	struct plan_match *m = m_new(r, PM_DPORTS, neg);
	m->u.ports.port[0] = a;
	m->u.ports.port[1] = b;
	m->u.ports.n = 2;
}

static void m_uid(struct plan_rule *r, uint32_t id, bool neg)
{
	m_new(r, PM_UID, neg)->u.id = id;
}

static void m_gid(struct plan_rule *r, uint32_t id, bool neg)
{
	m_new(r, PM_GID, neg)->u.id = id;
}

static void m_owner(struct plan_rule *r, bool gid, uint32_t id, bool neg)
{
	if (gid)
		m_gid(r, id, neg);
	else
		m_uid(r, id, neg);
}

static void m_mark(struct plan_rule *r, uint32_t mark, bool neg)
{
	m_new(r, PM_MARK, neg)->u.mark = mark;
}

static void m_connmark(struct plan_rule *r, uint32_t mark)
{
	m_new(r, PM_CONNMARK, false)->u.mark = mark;
}

static void m_ctstate(struct plan_rule *r, uint32_t bits)
{
	m_new(r, PM_CTSTATE, false)->u.ctstate = bits;
}

static void v_jump(struct plan_rule *r, enum plan_chain c)
{
	r->verdict = (struct plan_verdict){.kind = PV_JUMP, .chain = c};
}

static void v_simple(struct plan_rule *r, enum plan_verdict_kind k)
{
	r->verdict = (struct plan_verdict){.kind = k};
}

static void v_redirect(struct plan_rule *r, uint16_t port, bool singular)
{
	r->verdict = (struct plan_verdict){.kind = PV_REDIRECT,
					   .port = port,
					   .to_port_singular = singular};
}

/* Shorthand for the many "match..., -j RETURN|CHAIN" rules. */
static void add_jump(struct builder *b, unsigned int fams, struct plan_rule *r, enum plan_chain c)
{
	v_jump(r, c);
	emit(b, fams, r);
}

static void add_return(struct builder *b, unsigned int fams, struct plan_rule *r)
{
	v_simple(r, PV_RETURN);
	emit(b, fams, r);
}

static bool cidr_is_loopback(const struct cidr *c)
{
	if (c->family == AF_INET)
		return c->addr.bytes[0] == 127;
	/* ::1, or an IPv4-mapped loopback (Go unmaps before asking). */
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	if (memcmp(c->addr.bytes, mapped, sizeof(mapped)) == 0)
		return c->addr.bytes[12] == 127;
	return IN6_IS_ADDR_LOOPBACK(&c->addr.v6);
}

struct addrs {
	struct cidr lo[_PLAN_FAMILY_MAX];	   /* HostIPv4LoopbackCidr, ::1/128 */
	struct cidr passthrough[_PLAN_FAMILY_MAX]; /* 127.0.0.6/32, ::6/128 */
};

/* A rule that differs per family only in one address (Istio's AppendVersionedRule). */
typedef void (*versioned_fn)(struct plan_rule *r, const struct cidr *addr, const void *ctx);

static void add_versioned(struct builder *b, const struct cidr *per_fam,
			  const struct plan_rule *base, versioned_fn fill, const void *ctx)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		struct plan_rule r = *base;
		fill(&r, &per_fam[f], ctx);
		emit(b, 1u << f, &r);
	}
}

static void fill_tproxy(struct plan_rule *r, const struct cidr *lo, const void *ctx)
{
	m_daddr(r, lo, true);
	m_proto(r, IPPROTO_TCP);
	r->verdict = (struct plan_verdict){.kind = PV_TPROXY,
					   .port = PORT_INBOUND_CAPTURE,
					   .mark = TPROXY_MARK};
}

static void fill_passthrough(struct plan_rule *r, const struct cidr *src, const void *ctx)
{
	m_oif(r, "lo");
	m_saddr(r, src);
	v_simple(r, PV_RETURN);
}

struct owner_ctx {
	bool gid;
	uint32_t id;
	bool dns_multiport;
};

static void fill_owner_in_redirect(struct plan_rule *r, const struct cidr *lo, const void *ctx)
{
	const struct owner_ctx *o = ctx;
	m_oif(r, "lo");
	m_daddr(r, lo, true);
	m_proto(r, IPPROTO_TCP);
	if (o->dns_multiport)
		m_dports2(r, 53, PORT_TUNNEL, true);
	else
		m_dport(r, PORT_TUNNEL, true);
	m_owner(r, o->gid, o->id, false);
	v_jump(r, PLAN_CHAIN_IN_REDIRECT);
}

static void fill_lo_return(struct plan_rule *r, const struct cidr *lo, const void *ctx)
{
	m_daddr(r, lo, false);
	v_simple(r, PV_RETURN);
}

static void fill_outbound_mark(struct plan_rule *r, const struct cidr *lo, const void *ctx)
{
	const struct owner_ctx *o = ctx;
	m_daddr(r, lo, true);
	m_proto(r, IPPROTO_TCP);
	m_oif(r, "lo");
	m_owner(r, o->gid, o->id, false);
	r->verdict = (struct plan_verdict){.kind = PV_MARK_SET, .mark = TPROXY_OUTBOUND_MARK};
}

static void exclude_interfaces(struct builder *b, const struct redirect_params *p)
{
	for (size_t i = 0; i < p->exclude_interfaces.n; i++) {
		struct plan_rule r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_PREROUTING);
		m_iif(&r, p->exclude_interfaces.name[i]);
		add_return(b, FAM_BOTH, &r);
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT);
		m_oif(&r, p->exclude_interfaces.name[i]);
		add_return(b, FAM_BOTH, &r);
	}
	if (p->mode != REDIRECT_MODE_TPROXY)
		return;
	for (size_t i = 0; i < p->exclude_interfaces.n; i++) {
		struct plan_rule r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_PREROUTING);
		m_iif(&r, p->exclude_interfaces.name[i]);
		add_return(b, FAM_BOTH, &r);
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_OUTPUT);
		m_oif(&r, p->exclude_interfaces.name[i]);
		add_return(b, FAM_BOTH, &r);
	}
}

static void inbound(struct builder *b, const struct redirect_params *p, const struct addrs *a)
{
	const struct port_list *inc = &p->include_inbound_ports;
	if (!inc->wildcard && inc->n == 0)
		return;
	bool tproxy = p->mode == REDIRECT_MODE_TPROXY;
	enum plan_table table = tproxy ? PLAN_TABLE_MANGLE : PLAN_TABLE_NAT;
	struct plan_rule r;

	if (tproxy) {
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_DIVERT);
		r.verdict = (struct plan_verdict){.kind = PV_MARK_SET, .mark = TPROXY_MARK};
		emit(b, FAM_BOTH, &r);
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_DIVERT);
		v_simple(&r, PV_ACCEPT);
		emit(b, FAM_BOTH, &r);
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_TPROXY);
		add_versioned(b, a->lo, &r, fill_tproxy, NULL);
	}

	r = rule(table, PLAN_CHAIN_PREROUTING);
	m_proto(&r, IPPROTO_TCP);
	add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_INBOUND);

	if (inc->wildcard) {
		const struct port_list *exc = &p->exclude_inbound_ports;
		for (size_t i = 0; !exc->wildcard && i < exc->n; i++) {
			r = rule(table, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			m_dport(&r, exc->port[i], false);
			add_return(b, FAM_BOTH, &r);
		}
		if (tproxy) {
			r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			m_ctstate(&r, PLAN_CT_RELATED | PLAN_CT_ESTABLISHED);
			add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_DIVERT);
			r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_TPROXY);
		} else {
			r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_IN_REDIRECT);
		}
		return;
	}

	for (size_t i = 0; i < inc->n; i++) {
		if (tproxy) {
			r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			m_dport(&r, inc->port[i], false);
			m_ctstate(&r, PLAN_CT_RELATED | PLAN_CT_ESTABLISHED);
			add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_DIVERT);
			r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			m_dport(&r, inc->port[i], false);
			add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_TPROXY);
		} else {
			r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_INBOUND);
			m_proto(&r, IPPROTO_TCP);
			m_dport(&r, inc->port[i], false);
			add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_IN_REDIRECT);
		}
	}
}

static void owner_rules(struct builder *b, const struct redirect_params *p, const struct addrs *a,
			bool gid, bool has_loopback)
{
	const struct id_list *ids = gid ? &p->proxy_gids : &p->proxy_uids;
	for (size_t i = 0; i < ids->n; i++) {
		/* Only the UID rule skips port 53 here; Istio's GID rule never did. */
		struct owner_ctx o = {.gid = gid,
				      .id = ids->id[i],
				      .dns_multiport = p->dns_capture && !gid};
		struct plan_rule r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		add_versioned(b, a->lo, &r, fill_owner_in_redirect, &o);

		if (!has_loopback) {
			r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
			m_oif(&r, "lo");
			if (p->dns_capture) {
				m_proto(&r, IPPROTO_TCP);
				m_dport(&r, 53, true);
			}
			m_owner(&r, gid, ids->id[i], true);
			add_return(b, FAM_BOTH, &r);
		}

		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		m_owner(&r, gid, ids->id[i], false);
		add_return(b, FAM_BOTH, &r);
	}
}

static void dns_zone_rules(struct builder *b, const struct id_list *ids, bool gid)
{
	for (size_t i = 0; i < ids->n; i++) {
		struct plan_rule r = rule(PLAN_TABLE_RAW, PLAN_CHAIN_OUTPUT_DNS);
		m_proto(&r, IPPROTO_UDP);
		m_dport(&r, 53, false);
		m_owner(&r, gid, ids->id[i], false);
		r.verdict = (struct plan_verdict){.kind = PV_CT_ZONE, .zone = 1};
		emit(b, FAM_BOTH, &r);
		r = rule(PLAN_TABLE_RAW, PLAN_CHAIN_OUTPUT_DNS);
		m_proto(&r, IPPROTO_UDP);
		m_sport(&r, PORT_DNS_CAPTURE);
		m_owner(&r, gid, ids->id[i], false);
		r.verdict = (struct plan_verdict){.kind = PV_CT_ZONE, .zone = 2};
		emit(b, FAM_BOTH, &r);
	}
}

/* DNS capture as in CNI mode: redirect and capture-all are the same switch. */
static void dns(struct builder *b, const struct redirect_params *p)
{
	struct plan_rule r = rule(PLAN_TABLE_RAW, PLAN_CHAIN_OUTPUT);
	add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_OUTPUT_DNS);
	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
	add_jump(b, FAM_V4, &r, PLAN_CHAIN_OUTPUT_DNS);
	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
	add_jump(b, FAM_V6, &r, PLAN_CHAIN_OUTPUT_DNS);

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_DNS);
	m_proto(&r, IPPROTO_TCP);
	m_dport(&r, 53, false);
	v_redirect(&r, PORT_DNS_CAPTURE, false);
	emit(b, FAM_BOTH, &r);
	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_DNS);
	m_proto(&r, IPPROTO_UDP);
	m_dport(&r, 53, false);
	v_redirect(&r, PORT_DNS_CAPTURE, true);
	emit(b, FAM_BOTH, &r);

	dns_zone_rules(b, &p->proxy_uids, false);
	dns_zone_rules(b, &p->proxy_gids, true);

	r = rule(PLAN_TABLE_RAW, PLAN_CHAIN_PREROUTING);
	add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_INBOUND);
	r = rule(PLAN_TABLE_RAW, PLAN_CHAIN_OUTPUT_DNS);
	m_proto(&r, IPPROTO_UDP);
	m_dport(&r, 53, false);
	r.verdict = (struct plan_verdict){.kind = PV_CT_ZONE, .zone = 2};
	emit(b, FAM_BOTH, &r);
	r = rule(PLAN_TABLE_RAW, PLAN_CHAIN_INBOUND);
	m_proto(&r, IPPROTO_UDP);
	m_sport(&r, 53);
	r.verdict = (struct plan_verdict){.kind = PV_CT_ZONE, .zone = 1};
	emit(b, FAM_BOTH, &r);
}

/*
 * "-A ISTIO_OUTPUT -d RANGE -j RETURN" for each excluded range of family, as
 * one rule holding the list: a pod may exclude thousands of ranges, and the
 * nftables backend makes them one set anyway.
 */
static void exclude_ranges(struct builder *b, const struct cidr_list *ex, int family,
			   unsigned int fam)
{
	size_t n = 0;
	for (size_t i = 0; i < ex->n; i++)
		n += ex->cidr[i].family == family;
	if (n == 0 || b->r < 0 || (family == AF_INET6 && !b->ipv6))
		return;
	struct cidr *v = reallocarray(NULL, n, sizeof(*v));
	if (!v) {
		b->r = -ENOMEM;
		return;
	}
	n = 0;
	for (size_t i = 0; i < ex->n; i++)
		if (ex->cidr[i].family == family)
			v[n++] = ex->cidr[i];
	b->r = redirect_plan_keep(b->plan, v);
	if (b->r < 0)
		return;
	struct plan_rule r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
	struct plan_match *m = m_new(&r, PM_DADDRS, false);
	m->u.cidrs.v = v;
	m->u.cidrs.n = (uint32_t)n;
	add_return(b, fam, &r);
}

static void outbound_include(struct builder *b, const struct redirect_params *p, int family,
			     unsigned int fam)
{
	const struct cidr_list *inc = &p->include_cidrs;
	const struct ifname_list *virt = &p->reroute_interfaces;
	struct plan_rule r;

	if (inc->wildcard) {
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		add_jump(b, fam, &r, PLAN_CHAIN_REDIRECT);
		for (size_t j = 0; j < virt->n; j++) {
			r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_PREROUTING);
			r.insert_pos = 1;
			m_iif(&r, virt->name[j]);
			add_jump(b, fam, &r, PLAN_CHAIN_REDIRECT);
		}
		return;
	}
	/* Ranges times interfaces: stop at the first error (the rule cap). */
	for (size_t i = 0; i < inc->n && b->r >= 0; i++) {
		if (inc->cidr[i].family != family)
			continue;
		for (size_t j = 0; j < virt->n && b->r >= 0; j++) {
			r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_PREROUTING);
			r.insert_pos = 1;
			m_iif(&r, virt->name[j]);
			m_daddr(&r, &inc->cidr[i], false);
			add_jump(b, fam, &r, PLAN_CHAIN_REDIRECT);
		}
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		m_daddr(&r, &inc->cidr[i], false);
		add_jump(b, fam, &r, PLAN_CHAIN_REDIRECT);
	}
}

static void tproxy_tail(struct builder *b, const struct redirect_params *p, const struct addrs *a)
{
	struct plan_rule r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_PREROUTING);
	m_proto(&r, IPPROTO_TCP);
	m_mark(&r, TPROXY_MARK, false);
	v_simple(&r, PV_CONNMARK_SAVE);
	emit(b, FAM_BOTH, &r);

	r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_OUTPUT);
	m_proto(&r, IPPROTO_TCP);
	m_oif(&r, "lo");
	m_mark(&r, TPROXY_MARK, false);
	add_return(b, FAM_BOTH, &r);

	for (int g = 0; g < 2; g++) {
		const struct id_list *ids = g ? &p->proxy_gids : &p->proxy_uids;
		for (size_t i = 0; i < ids->n; i++) {
			struct owner_ctx o = {.gid = g, .id = ids->id[i]};
			r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_OUTPUT);
			add_versioned(b, a->lo, &r, fill_outbound_mark, &o);
		}
	}

	r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_OUTPUT);
	m_proto(&r, IPPROTO_TCP);
	m_connmark(&r, TPROXY_MARK);
	v_simple(&r, PV_CONNMARK_RESTORE);
	emit(b, FAM_BOTH, &r);

	r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
	r.insert_pos = 1;
	m_proto(&r, IPPROTO_TCP);
	m_mark(&r, TPROXY_MARK, false);
	add_return(b, FAM_BOTH, &r);

	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
		r.insert_pos = 2;
		m_proto(&r, IPPROTO_TCP);
		m_saddr(&r, &a->passthrough[f]);
		m_iif(&r, "lo");
		add_return(b, 1u << f, &r);
	}

	r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_INBOUND);
	r.insert_pos = 3;
	m_proto(&r, IPPROTO_TCP);
	m_iif(&r, "lo");
	m_mark(&r, TPROXY_OUTBOUND_MARK, true);
	add_return(b, FAM_BOTH, &r);
}

/* Checks p and fills the loopback and pass-through addresses the rules use. */
static int plan_addrs(const struct redirect_params *p, struct addrs *a, struct error *err)
{
	if (p->exclude_cidrs.wildcard)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "invalid value for OUTBOUND_IP_RANGES_EXCLUDE: \"*\"");
	if (p->proxy_uids.n == 0 || p->proxy_gids.n == 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "no proxy UID or GID to exempt");
	a->lo[PLAN_V4] = p->host_loopback_v4;
	if (a->lo[PLAN_V4].family != AF_INET)
		return error_set(err, ERR_CONFIG, -EINVAL, "host IPv4 loopback CIDR is not IPv4");
	if (parse_cidr("::1/128", &a->lo[PLAN_V6]) < 0 ||
	    parse_cidr(INBOUND_PASSTHROUGH_V4 "/32", &a->passthrough[PLAN_V4]) < 0 ||
	    parse_cidr(INBOUND_PASSTHROUGH_V6 "/128", &a->passthrough[PLAN_V6]) < 0)
		return error_set(err, ERR_INTERNAL, -EINVAL, "built-in addresses do not parse");
	return 0;
}

/*
 * The rules before the inbound ones: reroute-interface returns, the INVALID
 * drop, the tunnel port's return and the two redirect chains.
 */
static void head_rules(struct builder *b, const struct redirect_params *p)
{
	struct plan_rule r;

	for (size_t i = 0; i < p->reroute_interfaces.n; i++) {
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_PREROUTING);
		r.insert_pos = 1;
		m_iif(&r, p->reroute_interfaces.name[i]);
		add_return(b, FAM_BOTH, &r);
	}

	if (p->drop_invalid) {
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_PREROUTING);
		m_ctstate(&r, PLAN_CT_INVALID);
		add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_DROP);
		r = rule(PLAN_TABLE_MANGLE, PLAN_CHAIN_DROP);
		v_simple(&r, PV_DROP);
		emit(b, FAM_BOTH, &r);
	}

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_INBOUND);
	m_proto(&r, IPPROTO_TCP);
	m_dport(&r, PORT_TUNNEL, false);
	add_return(b, FAM_BOTH, &r);

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_REDIRECT);
	m_proto(&r, IPPROTO_TCP);
	v_redirect(&r, PORT_OUTBOUND_CAPTURE, false);
	emit(b, FAM_BOTH, &r);

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_IN_REDIRECT);
	m_proto(&r, IPPROTO_TCP);
	v_redirect(&r, PORT_INBOUND_CAPTURE, false);
	emit(b, FAM_BOTH, &r);
}

/* OUTPUT's jump and the ISTIO_OUTPUT chain, in Istio's order. */
static void outbound(struct builder *b, const struct redirect_params *p, const struct addrs *a)
{
	struct plan_rule r;

	/* Istio looks at both families' include lists, whatever family the rule is for. */
	bool has_loopback = false;
	for (size_t i = 0; i < p->include_cidrs.n; i++)
		has_loopback = has_loopback || cidr_is_loopback(&p->include_cidrs.cidr[i]);

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT);
	add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_OUTPUT_ISTIO);

	for (size_t i = 0; i < p->exclude_outbound_ports.n; i++) {
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		m_proto(&r, IPPROTO_TCP);
		m_dport(&r, p->exclude_outbound_ports.port[i], false);
		add_return(b, FAM_BOTH, &r);
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		m_proto(&r, IPPROTO_UDP);
		m_dport(&r, p->exclude_outbound_ports.port[i], false);
		add_return(b, FAM_BOTH, &r);
	}

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
	add_versioned(b, a->passthrough, &r, fill_passthrough, NULL);

	owner_rules(b, p, a, false, has_loopback);
	owner_rules(b, p, a, true, has_loopback);

	if (p->dns_capture)
		dns(b, p);

	r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
	add_versioned(b, a->lo, &r, fill_lo_return, NULL);

	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		exclude_ranges(b, &p->exclude_cidrs, f == PLAN_V4 ? AF_INET : AF_INET6, 1u << f);

	for (size_t i = 0; !p->include_outbound_ports.wildcard && i < p->include_outbound_ports.n;
	     i++) {
		r = rule(PLAN_TABLE_NAT, PLAN_CHAIN_OUTPUT_ISTIO);
		m_proto(&r, IPPROTO_TCP);
		m_dport(&r, p->include_outbound_ports.port[i], false);
		add_jump(b, FAM_BOTH, &r, PLAN_CHAIN_REDIRECT);
	}

	outbound_include(b, p, AF_INET, FAM_V4);
	outbound_include(b, p, AF_INET6, FAM_V6);
}

int redirect_plan_build(const struct redirect_params *p, bool ipv6, struct redirect_plan *ret,
			struct error *err)
{
	struct redirect_plan plan = {0};
	struct builder b = {.plan = &plan, .ipv6 = ipv6};
	struct addrs a;
	bool tproxy = p->mode == REDIRECT_MODE_TPROXY;

	int r = plan_addrs(p, &a, err);
	if (r < 0)
		return r;

	exclude_interfaces(&b, p);
	head_rules(&b, p);
	inbound(&b, p, &a);
	outbound(&b, p, &a);
	if (tproxy)
		tproxy_tail(&b, p, &a);

	if (b.r == -E2BIG) {
		redirect_plan_done(&plan);
		return error_set(
			err, ERR_CONFIG, b.r,
			"the pod's annotations expand to more than %d rules per address family "
			"(excludeInterfaces, excluded ranges and ports, and includeOutboundIPRanges "
			"times reroute-virtual-interfaces each add rules); nothing was programmed",
			REDIRECT_PLAN_RULES_MAX);
	}
	if (b.r < 0) {
		redirect_plan_done(&plan);
		return error_set(err, ERR_INTERNAL, b.r, "building the redirect plan");
	}
	plan.ipv6 = ipv6;
	plan.tproxy_routes = tproxy &&
			     (p->include_inbound_ports.wildcard || p->include_inbound_ports.n > 0);
	*ret = plan;
	return 0;
}
