// SPDX-License-Identifier: Apache-2.0
/* The iptables-restore document that turns what iptables-save shows into the plan. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/iptables_backend.h"
#include "capture/iptables_render.h"
#include "capture/iptables_view.h"

/* Lines that remove our state from one table of have; "" when none. */
static int cleanup_lines(enum plan_table t, const struct iptables_vtable *ht,
			 const struct iptables_view *want, FILE *f)
{
	const struct iptables_vtable *wt = want ? &want->table[t] : NULL;
	for (size_t c = 0; c < ht->n; c++) {
		const struct iptables_vchain *hc = &ht->chain[c];
		if (hc->ours)
			continue;
		const struct iptables_vchain *wc = iptables_chain_find(wt, hc->name);
		for (size_t i = 0; i < hc->n; i++)
			if (iptables_builtin_rule_ours(t, &hc->rule[i], wc) ||
			    (!hc->builtin && iptables_jumps_to_ours(hc->rule[i].canon)))
				fprintf(f, "-D %s %s\n", hc->name, hc->rule[i].spec);
	}
	for (size_t c = 0; c < ht->n; c++)
		if (ht->chain[c].ours)
			fprintf(f, "-F %s\n", ht->chain[c].name);
	for (size_t c = 0; c < ht->n; c++)
		if (ht->chain[c].ours)
			fprintf(f, "-X %s\n", ht->chain[c].name);
	return ferror(f) ? -ENOMEM : 0;
}

static int mem_finish(FILE *f, char **buf, char **ret)
{
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0 || bad || !*buf) {
		free(*buf);
		*buf = NULL;
		return -ENOMEM;
	}
	*ret = *buf;
	*buf = NULL;
	return 0;
}

int iptables_build_document(const char *save, const struct redirect_plan *plan,
			    enum plan_family fam, char **ret_doc, struct error *err)
{
	struct iptables_view have = {0}, want = {0};
	_cleanup_free_ char *rendered = NULL;
	char *cl[_PLAN_TABLE_MAX] = {0};
	char *buf = NULL;
	size_t len = 0;
	FILE *f = NULL;
	int r;

	r = iptables_view_from_save(save, &have, err);
	if (r < 0)
		return r;
	if (plan) {
		r = iptables_view_from_plan(plan, fam, &want);
		if (r >= 0)
			r = iptables_render(plan, fam, &rendered, err);
		if (r < 0)
			goto out;
	}
	for (int t = 0; t < _PLAN_TABLE_MAX; t++) {
		size_t l = 0;
		FILE *tf = open_memstream(&cl[t], &l);
		if (!tf) {
			r = -ENOMEM;
			goto out;
		}
		r = cleanup_lines(t, &have.table[t], plan ? &want : NULL, tf);
		if (fclose(tf) != 0 && r == 0)
			r = -ENOMEM;
		if (r < 0)
			goto out;
	}

	f = open_memstream(&buf, &len);
	if (!f) {
		r = -ENOMEM;
		goto out;
	}
	bool done[_PLAN_TABLE_MAX] = {0};
	for (const char *p = rendered ? rendered : ""; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) + 1 : strlen(p);
		fwrite(p, 1, n, f);
		if (p[0] == '*') {
			char name[32];
			size_t k = 0;
			const char *q = p + 1;
			while (*q == ' ')
				q++;
			while (k + 1 < sizeof(name) && q[k] && q[k] != '\n')
				k++;
			memcpy(name, q, k);
			name[k] = '\0';
			int t = iptables_table_from_name(name);
			if (t >= 0 && cl[t]) {
				fputs(cl[t], f);
				done[t] = true;
			}
		}
		p += n;
	}
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		if (!done[t] && cl[t] && cl[t][0])
			fprintf(f, "* %s\n%sCOMMIT\n", redirect_plan_table_iptables_name(t), cl[t]);
	r = mem_finish(f, &buf, ret_doc);
out:
	for (int t = 0; t < _PLAN_TABLE_MAX; t++)
		free(cl[t]);
	iptables_view_done(&have);
	iptables_view_done(&want);
	if (r < 0 && err && err->kind == ERR_NONE)
		r = error_set(err, ERR_INTERNAL, r, "building the iptables-restore document");
	return r;
}
