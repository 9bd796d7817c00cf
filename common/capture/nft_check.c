// SPDX-License-Identifier: Apache-2.0
/* Our tables read back over netlink and compared with the program. */
#include "capture/nft_check.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/nft_internal.h"
#include "capture/nft_render.h"
#include "netlink/netlink.h"
#include "util/strv.h"

/* ---- dumps ---- */

static int dump(struct mnl_socket *nl, uint16_t type, const char *table, const char *set,
		mnl_cb_t cb, void *data, struct error *err)
{
	char buf[16384] __attribute__((aligned(4)));
	/* The request (a header and at most two names of NFT_NAME_MAXLEN) goes
	 * out with its attribute padding, which libnftnl does not clear. */
	memset(buf, 0, 1024);
	uint32_t seq = nft_seq_start() | 0x1;
	struct nlmsghdr *nlh = nftnl_nlmsg_build_hdr(buf, type, NFPROTO_INET,
						     NLM_F_DUMP | NLM_F_ACK, seq);

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

	enum netlink_step step;
	int r = netlink_request(nl, nlh, buf, sizeof(buf), cb, data, &step);
	if (r < 0)
		return error_set(err, ERR_NFTABLES, r, "%s",
				 step == NETLINK_STEP_SEND   ? "sending nftables dump request"
				 : step == NETLINK_STEP_RECV ? "reading nftables dump"
							     : "nftables dump");
	return 0;
}

static int table_index(const char *name)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (name && strcmp(name, redirect_plan_table_nft_name(t)) == 0)
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

int nft_check_tables_present(struct mnl_socket *nl, unsigned int *ret_mask, struct error *err)
{
	unsigned int mask = 0;
	int r = dump(nl, NFT_MSG_GETTABLE, NULL, NULL, tables_cb, &mask, err);
	if (r < 0)
		return r;
	*ret_mask = mask;
	return 0;
}

/* ---- check ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int elem_canon_cb(struct nftnl_set_elem *e, void *data)
{
	struct strv_list *v = data;
	uint32_t len = 0;
	const uint8_t *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &len);
	uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)
				 ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS)
				 : 0;
	char buf[80];
	size_t o = 0;
	for (uint32_t i = 0; key && i < len && o + 3 < sizeof(buf); i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%02x", key[i]);
	(void)snprintf(buf + o, sizeof(buf) - o, "/%x", flags & NFT_SET_ELEM_INTERVAL_END);
	return strv_list_take(v, strdup(buf));
}

/* A set as text independent of its name and element order. */
static int set_canon(struct nftnl_set *s, char **ret)
{
	struct strv_list v = {0};
	int r = nftnl_set_elem_foreach(s, elem_canon_cb, &v);
	if (r < 0) {
		strv_list_done(&v);
		return -ENOMEM;
	}
	qsort(v.v, v.n, sizeof(*v.v), cmp_str);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		strv_list_done(&v);
		return -ENOMEM;
	}
	fprintf(f, "{type %u len %u flags %x:", nftnl_set_get_u32(s, NFTNL_SET_KEY_TYPE),
		nftnl_set_get_u32(s, NFTNL_SET_KEY_LEN),
		nftnl_set_get_u32(s, NFTNL_SET_FLAGS) &
			(NFT_SET_ANONYMOUS | NFT_SET_CONSTANT | NFT_SET_INTERVAL));
	for (size_t i = 0; i < v.n; i++)
		fprintf(f, " %s", v.v[i]);
	fputc('}', f);
	strv_list_done(&v);
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
	struct strv_list rules;	 /* canonical */
	struct strv_list pretty; /* libnftnl's text, for messages */
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
		strv_list_done(&k->ch[i].rules);
		strv_list_done(&k->ch[i].pretty);
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
	*kc = (struct kchain){.table = t};
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
			const char *set =
				set_canon_text
					? set_canon_text
					: kset_canon(k, table,
						     nftnl_expr_get_str(e, NFTNL_EXPR_LOOKUP_SET));
			uint32_t flags = nftnl_expr_is_set(e, NFTNL_EXPR_LOOKUP_FLAGS)
						 ? nftnl_expr_get_u32(e, NFTNL_EXPR_LOOKUP_FLAGS)
						 : 0;
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
	if (rule_canon(r, NULL, k, &canon) < 0 || strv_list_take(&kc->rules, canon) < 0) {
		k->err = -ENOMEM;
		return MNL_CB_OK;
	}
	char pretty[1024];
	(void)nftnl_rule_snprintf(pretty, sizeof(pretty), r, NFTNL_OUTPUT_DEFAULT, 0);
	/* One line: libnftnl puts each expression on its own. */
	for (char *q = pretty; *q; q++)
		if (*q == '\n')
			*q = ' ';
	if (strv_list_take(&kc->pretty, strdup(pretty)) < 0)
		k->err = -ENOMEM;
	return MNL_CB_OK;
}

static int kstate_read(struct mnl_socket *nl, struct kstate *k, struct error *err)
{
	int r = nft_check_tables_present(nl, &k->present, err);
	if (r < 0)
		return r;
	if (!k->present)
		return 0;
	r = dump(nl, NFT_MSG_GETCHAIN, NULL, NULL, chains_cb, k, err);
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++) {
		if (!(k->present & (1u << t)))
			continue;
		const char *tn = redirect_plan_table_nft_name(t);
		size_t first_set = k->n_sets;
		r = dump(nl, NFT_MSG_GETSET, tn, NULL, sets_cb, k, err);
		for (size_t i = first_set; i < k->n_sets && r >= 0; i++) {
			_cleanup_(nftnl_set_freep) struct nftnl_set *s = nftnl_set_alloc();
			if (!s || !k->sets[i].name)
				return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
			struct elems_ctx ec = {.set = s};
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

/* The differences found so far: counted, the first kept for the message. */
/*
 * The canonical rules p plans for chain c of table t, in order, into *exp;
 * exp_idx[i] is the index in p of exp->v[i] (a heap array, the caller's).
 */
static int expected_rules(const struct nft_program *p, int t, int c, const struct kstate *k,
			  struct strv_list *exp, size_t **ret_idx)
{
	size_t n_exp = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->rule[i].table == (enum plan_table)t &&
		    p->rule[i].chain == (enum plan_chain)c)
			n_exp++;
	size_t *exp_idx = calloc(n_exp ? n_exp : 1, sizeof(*exp_idx));
	if (!exp_idx)
		return -ENOMEM;
	n_exp = 0;
	int r = 0;
	for (size_t i = 0; i < p->n && r >= 0; i++) {
		if (p->rule[i].table != (enum plan_table)t ||
		    p->rule[i].chain != (enum plan_chain)c)
			continue;
		struct nft_built_rule br;
		char *sc = NULL, *canon = NULL;
		r = nft_build_rule(&p->rule[i], 1, &br);
		if (r < 0)
			break;
		if (br.set)
			r = set_canon(br.set, &sc);
		if (r >= 0)
			r = rule_canon(br.rule, sc, k, &canon);
		if (r >= 0)
			r = strv_list_take(exp, canon);
		free(sc);
		nft_built_rule_done(&br);
		exp_idx[n_exp++] = i;
	}
	if (r < 0) {
		free(exp_idx);
		return r;
	}
	*ret_idx = exp_idx;
	return 0;
}

/* Names each missing and extra rule of kc against exp, or says the order differs. */
static int rules_diff(struct error_diff *d, const struct nft_program *p, const struct kchain *kc,
		      const struct strv_list *exp, const size_t *exp_idx, const char *tn,
		      const char *cn)
{
	_cleanup_free_ bool *used = calloc(kc->rules.n + 1, sizeof(*used));
	unsigned int before = d->n;
	if (!used)
		return -ENOMEM;
	for (size_t i = 0; i < exp->n; i++) {
		size_t j;
		for (j = 0; j < kc->rules.n; j++)
			if (!used[j] && strcmp(exp->v[i], kc->rules.v[j]) == 0)
				break;
		if (j < kc->rules.n) {
			used[j] = true;
			continue;
		}
		_cleanup_free_ char *text = NULL;
		if (nft_rule_ir_render(&p->rule[exp_idx[i]], &text) < 0)
			text = NULL;
		error_diff_add(d, "missing rule in inet %s %s: %s", tn, cn, text ? text : "?");
	}
	for (size_t j = 0; j < kc->rules.n; j++)
		if (!used[j])
			error_diff_add(d, "extra rule in inet %s %s: %s", tn, cn, kc->pretty.v[j]);
	if (d->n == before)
		error_diff_add(d, "rules of inet %s %s are out of order", tn, cn);
	return 0;
}

/* Compares chain c of table t (present in the kernel) with the program. */
static int chain_check(struct error_diff *d, const struct nft_program *p, struct kstate *k, int t,
		       int c)
{
	const char *tn = redirect_plan_table_nft_name(t);
	const char *cn = redirect_plan_chain_nft_name(c);
	struct kchain *kc = kchain_find(k, t, cn);
	if (!p->chain_used[t][c]) {
		if (kc)
			error_diff_add(d, "extra chain inet %s %s", tn, cn);
		return 0;
	}
	if (!kc) {
		error_diff_add(d, "missing chain inet %s %s", tn, cn);
		return 0;
	}
	const struct nft_base_chain *bc = nft_base_chain(t, c);
	if ((bc != NULL) != kc->base ||
	    (bc && (bc->hooknum != kc->hooknum || bc->prio != kc->prio ||
		    strcmp(bc->type, kc->type ? kc->type : "") != 0)))
		error_diff_add(d, "chain inet %s %s has the wrong type, hook or priority", tn, cn);

	struct strv_list exp = {0};
	_cleanup_free_ size_t *exp_idx = NULL;
	int r = expected_rules(p, t, c, k, &exp, &exp_idx);
	if (r < 0) {
		strv_list_done(&exp);
		return error_set(d->err, ERR_INTERNAL, r, "building expected rules");
	}
	bool equal = exp.n == kc->rules.n;
	for (size_t i = 0; equal && i < exp.n; i++)
		equal = strcmp(exp.v[i], kc->rules.v[i]) == 0;
	if (!equal)
		r = rules_diff(d, p, kc, &exp, exp_idx, tn, cn);
	strv_list_done(&exp);
	if (r < 0)
		return error_set(d->err, ERR_INTERNAL, r, "out of memory");
	return 0;
}

/* Chains of table t in the kernel that no program chain is named like. */
static void unknown_chains(struct error_diff *d, const struct kstate *k, int t)
{
	for (size_t i = 0; i < k->n_ch; i++) {
		if (k->ch[i].table != t)
			continue;
		bool known = false;
		for (int c = 0; c < _PLAN_CHAIN_MAX; c++)
			if (strcmp(k->ch[i].name, redirect_plan_chain_nft_name(c)) == 0)
				known = true;
		if (!known)
			error_diff_add(d, "extra chain inet %s %s", redirect_plan_table_nft_name(t),
				       k->ch[i].name);
	}
}

int nft_check_program(struct mnl_socket *nl, const struct nft_program *p, struct error *err)
{
	struct kstate k = {0};
	struct error_diff d = {.err = err};
	int r;

	r = kstate_read(nl, &k, err);
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++) {
		const char *tn = redirect_plan_table_nft_name(t);
		bool have = k.present & (1u << t);
		if (p->table_used[t] && !have)
			error_diff_add(&d, "missing table inet %s", tn);
		else if (!p->table_used[t] && have)
			error_diff_add(&d, "extra table inet %s", tn);
		if (!p->table_used[t] || !have)
			continue;
		for (int c = 0; c < _PLAN_CHAIN_MAX && r >= 0; c++)
			r = chain_check(&d, p, &k, t, c);
		if (r >= 0)
			unknown_chains(&d, &k, t);
	}
	if (r >= 0 && d.n)
		r = error_set(err, ERR_CHECK, -EBADMSG,
			      "nftables state differs from the plan (%u difference%s): %s", d.n,
			      d.n == 1 ? "" : "s", d.first);
	kstate_done(&k);
	return r;
}
