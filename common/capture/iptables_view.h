/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the iptables backend: one family's nat/mangle/raw state as
 * tables of chains of rules, each rule with its canonical form
 * (iptables_canon_rule), built from iptables-save output or from a plan.
 * The comparison (iptables_compare.c) and the restore document
 * (iptables_document.c) both work on it.
 */
#ifndef ISTIO_CNI_IPTABLES_VIEW_H
#define ISTIO_CNI_IPTABLES_VIEW_H

#include <stdbool.h>
#include <stddef.h>

#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

struct iptables_vrule {
	char *spec; /* as written (save) or rendered (plan) */
	char *canon;
};

struct iptables_vchain {
	char *name;
	bool builtin;
	bool ours; /* ISTIO_* */
	struct iptables_vrule *rule;
	size_t n;
	size_t cap;
};

struct iptables_vtable {
	bool present;
	struct iptables_vchain *chain;
	size_t n;
	size_t cap;
};

struct iptables_view {
	struct iptables_vtable table[_PLAN_TABLE_MAX];
};

void iptables_view_done(struct iptables_view *v);

/* The nat/mangle/raw part of one family's iptables-save output. */
int iptables_view_from_save(const char *save, struct iptables_view *ret, struct error *err)
	_must_check_;

/* The plan family as iptables would hold it after applying Istio's document. */
int iptables_view_from_plan(const struct redirect_plan *plan, enum plan_family fam,
			    struct iptables_view *ret) _must_check_;

/* The plan_table of an iptables table name, or -1. */
int iptables_table_from_name(const char *n);

/* The chain named name in tb (tb may be NULL), or NULL. */
const struct iptables_vchain *iptables_chain_find(const struct iptables_vtable *tb,
						  const char *name);

/* The chain named name in tb, appended when missing and create; NULL: none or ENOMEM. */
struct iptables_vchain *iptables_chain_get(struct iptables_vtable *tb, const char *name,
					   bool create);

/* The canonical rule jumps to one of our ISTIO_* chains. */
bool iptables_jumps_to_ours(const char *canon);

/*
 * A rule in a built-in chain that our plan puts there: a jump to ISTIO_*, a
 * rule equal to one planned for that chain, or, with no plan (removal), one of
 * the fixed shapes the program writes: "-i|-o IF -j RETURN" and the TPROXY
 * mark rules of mangle (marks 1337 and 1338).
 */
bool iptables_builtin_rule_ours(enum plan_table t, const struct iptables_vrule *rule,
				const struct iptables_vchain *planned);

#endif
