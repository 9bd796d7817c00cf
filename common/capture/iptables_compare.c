// SPDX-License-Identifier: Apache-2.0
/* CHECK for the iptables backend: iptables-save compared with the plan, each difference named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/iptables_backend.h"
#include "capture/iptables_view.h"

struct diff {
	const char *family;
	struct error_diff found;
};

static int cmp_rule_canon(const void *a, const void *b)
{
	const struct iptables_vrule *x = *(const struct iptables_vrule *const *)a,
				    *y = *(const struct iptables_vrule *const *)b;
	return strcmp(x->canon, y->canon);
}

static int compare_chain(struct diff *d, const char *table, const struct iptables_vchain *want,
			 const struct iptables_vchain *have, enum plan_table t)
{
	/* The rules of have that count: all of an ISTIO chain, ours in a built-in. */
	size_t n_have = have ? have->n : 0, n_want = want ? want->n : 0, n_sel = 0;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	_cleanup_free_ const struct iptables_vrule **sel = calloc(n_have + 1, sizeof(*sel));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	_cleanup_free_ const struct iptables_vrule **wnt = calloc(n_want + 1, sizeof(*wnt));
	if (!sel || !wnt)
		return -ENOMEM;
	for (size_t i = 0; i < n_have; i++)
		if (!have->builtin || iptables_builtin_rule_ours(t, &have->rule[i], want))
			sel[n_sel++] = &have->rule[i];
	for (size_t i = 0; i < n_want; i++)
		wnt[i] = &want->rule[i];

	bool same = n_sel == n_want;
	for (size_t i = 0; same && i < n_want; i++)
		same = strcmp(sel[i]->canon, wnt[i]->canon) == 0;
	if (same)
		return 0;

	const char *name = want ? want->name : have->name;
	unsigned int before = d->found.n;
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	qsort(sel, n_sel, sizeof(*sel), cmp_rule_canon);
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	qsort(wnt, n_want, sizeof(*wnt), cmp_rule_canon);
	size_t i = 0, k = 0;
	while (i < n_want || k < n_sel) {
		int c = i == n_want ? 1 : k == n_sel ? -1 : strcmp(wnt[i]->canon, sel[k]->canon);
		if (c == 0) {
			i++;
			k++;
		} else if (c < 0) {
			error_diff_add(&d->found, "missing rule in %s%s %s: -A %s %s", d->family,
				       table, name, name, wnt[i++]->spec);
		} else {
			error_diff_add(&d->found, "extra rule in %s%s %s: -A %s %s", d->family,
				       table, name, name, sel[k++]->spec);
		}
	}
	if (d->found.n == before)
		error_diff_add(&d->found, "rules of %s%s %s are out of order", d->family, table,
			       name);
	return 0;
}

static int compare_views(const struct iptables_view *want, struct iptables_view *have,
			 enum plan_family fam, struct error *err)
{
	struct diff d = {.family = fam == PLAN_V6 ? "ip6tables " : "", .found = {.err = err}};

	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		const struct iptables_vtable *wt = &want->table[t];
		struct iptables_vtable *ht = &have->table[t];
		const char *tname = redirect_plan_table_iptables_name(t);
		for (size_t c = 0; c < wt->n; c++) {
			const struct iptables_vchain *wc = &wt->chain[c];
			struct iptables_vchain *hc = iptables_chain_get(ht, wc->name, false);
			if (!hc && !wc->builtin) {
				error_diff_add(&d.found, "missing chain %s%s %s", d.family, tname,
					       wc->name);
				continue;
			}
			if (compare_chain(&d, tname, wc, hc, t) < 0)
				return -ENOMEM;
		}
		for (size_t c = 0; c < ht->n; c++) {
			struct iptables_vchain *hc = &ht->chain[c];
			if (iptables_chain_find(wt, hc->name))
				continue;
			if (hc->ours)
				error_diff_add(&d.found, "extra chain %s%s %s", d.family, tname,
					       hc->name);
			else if (hc->builtin && compare_chain(&d, tname, NULL, hc, t) < 0)
				return -ENOMEM;
		}
	}
	if (d.found.n == 0)
		return 0;
	return error_set(err, ERR_CHECK, -EBADMSG, "%s%s", d.found.first,
			 d.found.n > 1 ? " (and more differences, see details)" : "");
}

int iptables_compare_save(const char *save, const struct redirect_plan *plan, enum plan_family fam,
			  struct error *err)
{
	struct iptables_view want = {0}, have = {0};
	int r = iptables_view_from_plan(plan, fam, &want);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "building the expected rules");
	r = iptables_view_from_save(save, &have, err);
	if (r >= 0)
		r = compare_views(&want, &have, fam, err);
	iptables_view_done(&want);
	iptables_view_done(&have);
	return r;
}
