// SPDX-License-Identifier: Apache-2.0
/* iptables-save output and a plan family in one comparable form (iptables_view.h). */
#include "capture/iptables_view.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/iptables_backend.h"
#include "capture/iptables_render.h"
#include "util/istio_names.h"
#include "util/parse_util.h"
#include "util/strv.h"

/* ---- canonical rule form -------------------------------------------------- */

/*
 * iptables-save prints marks and masks in hex ("0x539/0xffffffff") where we
 * write decimal, so this accepts both (base 0); parse_u64 is decimal only.
 * Only used to put two spellings of one rule into the same form.
 */
static bool parse_num(const char *s, uint64_t *ret)
{
	if (!s[0])
		return false;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || *end || s[0] == '-' || s[0] == '+')
		return false;
	*ret = v;
	return true;
}

/* Numbers to decimal ("0x539/0xffffffff" → "1337/4294967295"), CIDRs masked. */
static char *canon_value(const char *v)
{
	struct cidr c;
	if (strchr(v, '/') && parse_cidr(v, &c) >= 0) {
		struct cidr m;
		char buf[64];
		parse_cidr_mask(&c, &m);
		return strdup(parse_cidr_to_string(&m, buf, sizeof(buf)));
	}
	uint64_t a, b;
	const char *slash = strchr(v, '/');
	if (slash) {
		_cleanup_free_ char *left = strndup(v, (size_t)(slash - v));
		if (left && parse_num(left, &a) && parse_num(slash + 1, &b)) {
			char *out = NULL;
			return asprintf(&out, "%llu/%llu", (unsigned long long)a,
					(unsigned long long)b) < 0
				       ? NULL
				       : out;
		}
	} else if (parse_num(v, &a)) {
		char *out = NULL;
		return asprintf(&out, "%llu", (unsigned long long)a) < 0 ? NULL : out;
	}
	return strdup(v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One option group: neg, name, values. Returns the group text or NULL to drop it. */
static int canon_group(bool neg, const char *name, struct strv_list *vals, char **ret)
{
	const char *n = name;

	if (strcmp(n, "-m") == 0 && vals->n == 1 &&
	    (strcmp(vals->v[0], "tcp") == 0 || strcmp(vals->v[0], "udp") == 0)) {
		*ret = NULL;
		return 0;
	}
	if ((strcmp(n, "--nfmask") == 0 || strcmp(n, "--ctmask") == 0) && vals->n == 1 &&
	    strcmp(vals->v[0], "4294967295") == 0) {
		*ret = NULL;
		return 0;
	}
	if (strcmp(n, "--on-ip") == 0 && vals->n == 1 &&
	    (strcmp(vals->v[0], "0.0.0.0") == 0 || strcmp(vals->v[0], "::") == 0)) {
		*ret = NULL;
		return 0;
	}
	if (strcmp(n, "--to-port") == 0)
		n = "--to-ports";
	if (strcmp(n, "--set-mark") == 0 && vals->n == 1 && !strchr(vals->v[0], '/')) {
		char *x = NULL;
		if (asprintf(&x, "%s/4294967295", vals->v[0]) < 0)
			return -ENOMEM;
		free(vals->v[0]);
		vals->v[0] = x;
		n = "--set-xmark";
	}

	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	fprintf(f, "%s%s", neg ? "! " : "", n);
	for (size_t i = 0; i < vals->n; i++)
		fprintf(f, " %s", vals->v[i]);
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int iptables_canon_rule(const char *spec, char **ret)
{
	_cleanup_free_ char *copy = strdup(spec);
	struct strv_list groups = {0}, vals = {0};
	char *name = NULL;
	bool neg = false, name_neg = false;
	int r = 0;

	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	for (char *tok = strtok_r(copy, " \t\n", &save);; tok = strtok_r(NULL, " \t\n", &save)) {
		bool is_neg = tok && strcmp(tok, "!") == 0;
		bool is_opt = tok && tok[0] == '-' && tok[1] != '\0' &&
			      !(tok[1] >= '0' && tok[1] <= '9');
		if (tok && !is_neg && !is_opt) {
			r = strv_list_take(&vals, canon_value(tok));
			if (r < 0)
				goto out;
			continue;
		}
		if (name) {
			char *g = NULL;
			r = canon_group(name_neg, name, &vals, &g);
			if (r < 0)
				goto out;
			strv_list_done(&vals);
			name = NULL;
			if (g) {
				r = strv_list_take(&groups, g);
				if (r < 0)
					goto out;
			}
		}
		if (!tok)
			break;
		if (is_neg) {
			neg = true;
			continue;
		}
		name = tok;
		name_neg = neg;
		neg = false;
	}

	if (groups.n > 1)
		qsort(groups.v, groups.n, sizeof(*groups.v), cmp_str);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < groups.n; i++)
		fprintf(f, "%s%s", i ? " ; " : "", groups.v[i]);
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad) {
		free(buf);
		r = -ENOMEM;
		goto out;
	}
	*ret = buf;
	r = 0;
out:
	strv_list_done(&groups);
	strv_list_done(&vals);
	return r;
}

/* ---- table views ------------------------------------------------------------ */

void iptables_view_done(struct iptables_view *v)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		struct iptables_vtable *tb = &v->table[t];
		for (size_t c = 0; c < tb->n; c++) {
			for (size_t i = 0; i < tb->chain[c].n; i++) {
				free(tb->chain[c].rule[i].spec);
				free(tb->chain[c].rule[i].canon);
			}
			free(tb->chain[c].rule);
			free(tb->chain[c].name);
		}
		free(tb->chain);
	}
	memset(v, 0, sizeof(*v));
}

static bool is_builtin_name(const char *n)
{
	static const char *const b[] = {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"};
	for (size_t i = 0; i < ELEMENTSOF(b); i++)
		if (strcmp(n, b[i]) == 0)
			return true;
	return false;
}

static bool is_ours_name(const char *n)
{
	return strncmp(n, IPTABLES_CHAIN_PREFIX, strlen(IPTABLES_CHAIN_PREFIX)) == 0;
}

int iptables_table_from_name(const char *n)
{
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (strcmp(n, redirect_plan_table_iptables_name(t)) == 0)
			return t;
	return -1;
}

const struct iptables_vchain *iptables_chain_find(const struct iptables_vtable *tb,
						  const char *name)
{
	for (size_t i = 0; tb && i < tb->n; i++)
		if (strcmp(tb->chain[i].name, name) == 0)
			return &tb->chain[i];
	return NULL;
}

/*
 * The index of the chain named name in tb, appended when missing and create:
 * 0, or -ENOENT (missing, !create) or -ENOMEM. An index, not a pointer:
 * appending may move tb->chain.
 */
static int chain_index(struct iptables_vtable *tb, const char *name, bool create, size_t *ret)
{
	for (size_t i = 0; i < tb->n; i++)
		if (strcmp(tb->chain[i].name, name) == 0) {
			*ret = i;
			return 0;
		}
	if (!create)
		return -ENOENT;
	if (tb->n == tb->cap) {
		size_t nc = tb->cap ? tb->cap * 2 : 8;
		struct iptables_vchain *nv = reallocarray(tb->chain, nc, sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		tb->chain = nv;
		tb->cap = nc;
	}
	struct iptables_vchain *c = &tb->chain[tb->n];
	memset(c, 0, sizeof(*c));
	c->name = strdup(name);
	if (!c->name)
		return -ENOMEM;
	c->builtin = is_builtin_name(name);
	c->ours = is_ours_name(name);
	*ret = tb->n++;
	return 0;
}

struct iptables_vchain *iptables_chain_get(struct iptables_vtable *tb, const char *name,
					   bool create)
{
	size_t i;
	return chain_index(tb, name, create, &i) < 0 ? NULL : &tb->chain[i];
}

/* Inserts at index pos (clamped to the end); takes spec. */
static int chain_insert(struct iptables_vchain *c, size_t pos, char *spec)
{
	if (!spec)
		return -ENOMEM;
	char *canon = NULL;
	int r = iptables_canon_rule(spec, &canon);
	if (r < 0) {
		free(spec);
		return r;
	}
	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		struct iptables_vrule *nv = reallocarray(c->rule, nc, sizeof(*nv));
		if (!nv) {
			free(spec);
			free(canon);
			return -ENOMEM;
		}
		c->rule = nv;
		c->cap = nc;
	}
	if (pos > c->n)
		pos = c->n;
	memmove(&c->rule[pos + 1], &c->rule[pos], (c->n - pos) * sizeof(*c->rule));
	c->rule[pos] = (struct iptables_vrule){.spec = spec, .canon = canon};
	c->n++;
	return 0;
}

int iptables_view_from_save(const char *save, struct iptables_view *ret, struct error *err)
{
	struct iptables_view v = {0};
	_cleanup_free_ char *copy = strdup(save);
	struct iptables_vtable *tb = NULL;
	int r = 0;
	unsigned int lineno = 0;

	if (!copy)
		return -ENOMEM;
	char *sp = NULL;
	for (char *line = strtok_r(copy, "\n", &sp); line; line = strtok_r(NULL, "\n", &sp)) {
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (line[0] == '*') {
			int t = iptables_table_from_name(line + 1);
			tb = t >= 0 ? &v.table[t] : NULL;
			if (tb)
				tb->present = true;
			continue;
		}
		if (!tb || strcmp(line, "COMMIT") == 0)
			continue;
		if (line[0] == ':') {
			char *end = strchr(line, ' ');
			if (end)
				*end = '\0';
			size_t ci;
			r = chain_index(tb, line + 1, true, &ci);
			if (r < 0)
				goto fail;
			continue;
		}
		if (strncmp(line, "-A ", 3) != 0) {
			r = error_set(err, ERR_IPTABLES, -EBADMSG,
				      "iptables-save line %u not understood: \"%.200s\"", lineno,
				      line);
			goto fail;
		}
		char *name = line + 3;
		char *spec = strchr(name, ' ');
		if (spec)
			*spec++ = '\0';
		size_t ci;
		r = chain_index(tb, name, true, &ci);
		if (r >= 0)
			r = chain_insert(&tb->chain[ci], SIZE_MAX, strdup(spec ? spec : ""));
		if (r < 0)
			goto fail;
	}
	*ret = v;
	return 0;
fail:
	iptables_view_done(&v);
	return r;
}

int iptables_view_from_plan(const struct redirect_plan *plan, enum plan_family fam,
			    struct iptables_view *ret)
{
	struct iptables_view v = {0};
	const struct plan_rules *rs = &plan->fam[fam];
	int r;

	for (size_t i = 0; i < rs->n; i++) {
		const struct plan_rule *pr = &rs->rule[i];
		struct iptables_vtable *tb = &v.table[pr->table];
		tb->present = true;
		/* Chains enter the view as first named: the rule's own, then its jump target. */
		size_t ci, target;
		r = chain_index(tb, redirect_plan_chain_iptables_name(pr->chain), true, &ci);
		if (r >= 0 && pr->verdict.kind == PV_JUMP)
			r = chain_index(tb, redirect_plan_chain_iptables_name(pr->verdict.chain),
					true, &target);
		if (r < 0)
			goto fail;
		size_t count = plan_rule_count(pr);
		for (size_t k = 0; k < count; k++) {
			char *spec = NULL;
			r = iptables_render_rule(pr, k, &spec);
			if (r < 0)
				goto fail;
			r = chain_insert(&tb->chain[ci],
					 pr->insert_pos > 0 ? pr->insert_pos - 1 : SIZE_MAX, spec);
			if (r < 0)
				goto fail;
		}
	}
	*ret = v;
	return 0;
fail:
	iptables_view_done(&v);
	return r;
}

static bool canon_has(const char *canon, const char *group)
{
	size_t n = strlen(group);
	for (const char *p = canon; p; p = strstr(p, " ; ")) {
		if (p != canon)
			p += 3;
		if (strncmp(p, group, n) == 0 && (p[n] == '\0' || strncmp(p + n, " ; ", 3) == 0))
			return true;
		if (p == canon)
			p = strstr(p, " ; ");
		if (!p)
			break;
	}
	return false;
}

bool iptables_jumps_to_ours(const char *canon)
{
	const char *p = strstr(canon, "-j " IPTABLES_CHAIN_PREFIX);
	return p && (p == canon || p[-1] == ' ');
}

bool iptables_builtin_rule_ours(enum plan_table t, const struct iptables_vrule *rule,
				const struct iptables_vchain *planned)
{
	if (iptables_jumps_to_ours(rule->canon))
		return true;
	if (planned)
		for (size_t i = 0; i < planned->n; i++)
			if (strcmp(planned->rule[i].canon, rule->canon) == 0)
				return true;
	/* "-i X ; -j RETURN" or "-j RETURN ; -o X": exactly two groups */
	const char *sep = strstr(rule->canon, " ; ");
	if (sep && !strstr(sep + 3, " ; ") && canon_has(rule->canon, "-j RETURN") &&
	    (strncmp(rule->canon, "-i ", 3) == 0 || strncmp(sep + 3, "-o ", 3) == 0))
		return true;
	if (t == PLAN_TABLE_MANGLE) {
		char m1[32], m2[48];
		(void)snprintf(m1, sizeof(m1), "--mark %u", TPROXY_MARK);
		(void)snprintf(m2, sizeof(m2), "--set-xmark %u/4294967295", TPROXY_OUTBOUND_MARK);
		if (canon_has(rule->canon, m1) || canon_has(rule->canon, m2))
			return true;
	}
	return false;
}
