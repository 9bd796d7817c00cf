/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Renders one family of a redirect plan as the iptables-restore document
 * Istio's builder produces, byte for byte: tables in sorted
 * order, "* table", -N declarations in order of first appearance (then
 * undeclared jump targets), the -A / -I lines, COMMIT. Pure: no syscalls.
 */
#ifndef ISTIO_CNI_IPTABLES_RENDER_H
#define ISTIO_CNI_IPTABLES_RENDER_H

#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

/* *ret_text is a heap string ("" for a family without rules); the caller frees it. */
int iptables_render(const struct redirect_plan *plan, enum plan_family fam, char **ret_text,
		    struct error *err) _must_check_;

/*
 * One rule's parameters as Istio writes them after "-A CHAIN " (no newline):
 * for a PM_DADDRS rule, those of the rule for element elem of its list.
 */
int iptables_render_rule(const struct plan_rule *rule, size_t elem, char **ret_text) _must_check_;

#endif
