// SPDX-License-Identifier: Apache-2.0
#include "capture/iptables_render.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_match(FILE *f, const struct plan_match *m)
{
	const char *neg = m->neg ? "! " : "";
	char c[64];

	switch (m->kind) {
	case PM_IIF:
		fprintf(f, " %s-i %s", neg, m->u.ifname);
		break;
	case PM_OIF:
		fprintf(f, " %s-o %s", neg, m->u.ifname);
		break;
	case PM_PROTO:
		fprintf(f, " %s-p %s", neg, m->u.proto == IPPROTO_UDP ? "udp" : "tcp");
		break;
	case PM_SADDR:
		fprintf(f, " %s-s %s", neg, parse_cidr_to_string(&m->u.cidr, c, sizeof(c)));
		break;
	case PM_DADDR:
		fprintf(f, " %s-d %s", neg, parse_cidr_to_string(&m->u.cidr, c, sizeof(c)));
		break;
	case PM_DPORT:
		fprintf(f, " %s--dport %u", neg, m->u.port);
		break;
	case PM_SPORT:
		fprintf(f, " %s--sport %u", neg, m->u.port);
		break;
	case PM_DPORTS:
		fprintf(f, " -m multiport %s--dports ", neg);
		for (unsigned int i = 0; i < m->u.ports.n && i < PLAN_PORTS_MAX; i++)
			fprintf(f, "%s%u", i ? "," : "", m->u.ports.port[i]);
		break;
	case PM_UID:
		fprintf(f, " -m owner %s--uid-owner %u", neg, m->u.id);
		break;
	case PM_GID:
		fprintf(f, " -m owner %s--gid-owner %u", neg, m->u.id);
		break;
	case PM_MARK:
		fprintf(f, " -m mark %s--mark %u", neg, m->u.mark);
		break;
	case PM_CONNMARK:
		fprintf(f, " -m connmark %s--mark %u", neg, m->u.mark);
		break;
	case PM_CTSTATE: {
		static const struct {
			uint32_t bit;
			const char *name;
		} states[] = {
			{PLAN_CT_INVALID, "INVALID"},
			{PLAN_CT_RELATED, "RELATED"},
			{PLAN_CT_ESTABLISHED, "ESTABLISHED"},
		};
		const char *sep = "";
		fprintf(f, " -m conntrack %s--ctstate ", neg);
		for (size_t i = 0; i < ELEMENTSOF(states); i++) {
			if (m->u.ctstate & states[i].bit) {
				fprintf(f, "%s%s", sep, states[i].name);
				sep = ",";
			}
		}
		break;
	}
	case PM_DADDRS: /* expanded by put_spec */
	case _PM_KIND_MAX:
		break;
	}
}

static void put_verdict(FILE *f, const struct plan_verdict *v)
{
	switch (v->kind) {
	case PV_JUMP:
		fprintf(f, " -j %s", redirect_plan_chain_iptables_name(v->chain));
		break;
	case PV_RETURN:
		fputs(" -j RETURN", f);
		break;
	case PV_ACCEPT:
		fputs(" -j ACCEPT", f);
		break;
	case PV_DROP:
		fputs(" -j DROP", f);
		break;
	case PV_REDIRECT:
		fprintf(f, " -j REDIRECT %s %u", v->to_port_singular ? "--to-port" : "--to-ports",
			v->port);
		break;
	case PV_TPROXY:
		fprintf(f, " -j TPROXY --tproxy-mark %u/0xffffffff --on-port %u", v->mark, v->port);
		break;
	case PV_MARK_SET:
		fprintf(f, " -j MARK --set-mark %u", v->mark);
		break;
	case PV_CONNMARK_SAVE:
		fputs(" -j CONNMARK --save-mark", f);
		break;
	case PV_CONNMARK_RESTORE:
		fputs(" -j CONNMARK --restore-mark", f);
		break;
	case PV_CT_ZONE:
		fprintf(f, " -j CT --zone %u", v->zone);
		break;
	case _PV_KIND_MAX:
		break;
	}
}

/* The matches and verdict of the rule that element elem of r's list stands for. */
static void put_spec(FILE *f, const struct plan_rule *r, size_t elem)
{
	struct plan_match tmp;
	for (unsigned int i = 0; i < r->n_matches && i < PLAN_MATCHES_MAX; i++)
		put_match(f, plan_rule_match(r, i, elem, &tmp));
	put_verdict(f, &r->verdict);
}

/* One line per rule r stands for: a PM_DADDRS rule is one per range. */
static void put_rule(FILE *f, const struct plan_rule *r)
{
	size_t n = plan_rule_count(r);
	for (size_t k = 0; k < n; k++) {
		if (r->insert_pos > 0)
			fprintf(f, "-I %s %u", redirect_plan_chain_iptables_name(r->chain),
				r->insert_pos);
		else
			fprintf(f, "-A %s", redirect_plan_chain_iptables_name(r->chain));
		put_spec(f, r, k);
		fputc('\n', f);
	}
}

/* Closes f and hands over its buffer; fails if any write failed. */
static int finish(FILE *f, char **buf, char **ret_text)
{
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad || !*buf) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	*ret_text = *buf;
	*buf = NULL;
	return 0;
}

int iptables_render_rule(const struct plan_rule *rule, size_t elem, char **ret_text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	/* The parameters only: drop "-A CHAIN " / "-I CHAIN N " and the newline. */
	put_spec(f, rule, elem);
	char *text = NULL;
	int ret = finish(f, &buf, &text);
	if (ret < 0)
		return ret;
	/* Every piece starts with a space; drop the first one. */
	if (text[0] == ' ')
		memmove(text, text + 1, strlen(text));
	*ret_text = text;
	return 0;
}

int iptables_render(const struct redirect_plan *plan, enum plan_family fam, char **ret_text,
		    struct error *err)
{
	/* Istio sorts table names: filter, mangle, nat, raw. */
	static const enum plan_table order[] = {PLAN_TABLE_MANGLE, PLAN_TABLE_NAT, PLAN_TABLE_RAW};

	if (fam >= _PLAN_FAMILY_MAX)
		return error_set(err, ERR_INTERNAL, -EINVAL, "no such address family %d", (int)fam);
	const struct plan_rules *rs = &plan->fam[fam];

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "rendering iptables rules");

	for (size_t t = 0; t < ELEMENTSOF(order); t++) {
		bool declared[_PLAN_CHAIN_MAX] = {false};
		bool any = false;

		for (size_t i = 0; i < rs->n; i++)
			any = any || rs->rule[i].table == order[t];
		if (!any)
			continue;

		fprintf(f, "* %s\n", redirect_plan_table_iptables_name(order[t]));
		for (size_t i = 0; i < rs->n; i++) {
			const struct plan_rule *r = &rs->rule[i];
			if (r->table != order[t] || r->chain >= _PLAN_CHAIN_MAX ||
			    declared[r->chain])
				continue;
			declared[r->chain] = true;
			if (!redirect_plan_chain_is_builtin(r->chain))
				fprintf(f, "-N %s\n", redirect_plan_chain_iptables_name(r->chain));
		}
		/* Chains only jumped to still have to exist. */
		for (size_t i = 0; i < rs->n; i++) {
			const struct plan_rule *r = &rs->rule[i];
			enum plan_chain c = r->verdict.chain;
			if (r->table != order[t] || r->verdict.kind != PV_JUMP ||
			    c >= _PLAN_CHAIN_MAX || declared[c])
				continue;
			declared[c] = true;
			if (!redirect_plan_chain_is_builtin(c))
				fprintf(f, "-N %s\n", redirect_plan_chain_iptables_name(c));
		}
		for (size_t i = 0; i < rs->n; i++)
			if (rs->rule[i].table == order[t])
				put_rule(f, &rs->rule[i]);
		fputs("COMMIT\n", f);
	}

	int r = finish(f, &buf, ret_text);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "rendering iptables rules");
	return 0;
}
