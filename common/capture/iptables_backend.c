// SPDX-License-Identifier: Apache-2.0
/* The iptables backend's entry points: save, compare, restore, per family. */
#include "capture/iptables_backend.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"

#define LEGACY_WAIT_ARG "--wait=5"

static const char *fam_tool(enum plan_family fam)
{
	return fam == PLAN_V6 ? "ip6tables" : "iptables";
}

static int run_save(const struct iptables_ctx *ctx, enum plan_family fam, char **ret,
		    struct error *err)
{
	_cleanup_free_ char *bin = NULL;
	int r = iptables_binary(fam, ctx->variant[fam], true, &bin);
	if (r < 0)
		return error_set(err, ERR_IPTABLES, r,
				 "no %s-%s-save in /usr/sbin, /sbin, /usr/bin", fam_tool(fam),
				 iptables_variant_to_string(ctx->variant[fam]));
	const char *argv[] = {bin, NULL};
	struct sandbox_cmd cmd = {
		.netns_fd = ctx->netns_fd,
		.lock_path = ctx->lock_path,
		.argv = argv,
		.stdout_cap = IPTABLES_SAVE_MAX,
	};
	struct sandbox_result res = {0};
	r = iptables_sandbox_exec(&cmd, &res, err);
	if (r < 0)
		return r;
	if (res.status != 0) {
		r = error_set(err, ERR_IPTABLES, -EIO, "%s exited with status %d", bin, res.status);
		error_add_details(err, "%s", res.err);
		iptables_sandbox_result_done(&res);
		return r;
	}
	log_debug("%s: %zu bytes", bin, res.out_len);
	*ret = TAKE_PTR(res.out);
	iptables_sandbox_result_done(&res);
	return 0;
}

static int run_restore(const struct iptables_ctx *ctx, enum plan_family fam, const char *doc,
		       struct error *err)
{
	_cleanup_free_ char *bin = NULL;
	int r = iptables_binary(fam, ctx->variant[fam], false, &bin);
	if (r < 0)
		return error_set(err, ERR_IPTABLES, r,
				 "no %s-%s-restore in /usr/sbin, /sbin, /usr/bin", fam_tool(fam),
				 iptables_variant_to_string(ctx->variant[fam]));
	/* legacy takes the (per-netns) xtables lock; --wait bounds the wait for it */
	const char *argv[] = {bin, "--noflush",
			      ctx->variant[fam] == IPTABLES_VARIANT_LEGACY ? LEGACY_WAIT_ARG : NULL,
			      NULL};
	struct sandbox_cmd cmd = {
		.netns_fd = ctx->netns_fd,
		.lock_path = ctx->lock_path,
		.argv = argv,
		.input = doc,
		.input_len = strlen(doc),
	};
	struct sandbox_result res = {0};
	r = iptables_sandbox_exec(&cmd, &res, err);
	if (r < 0)
		return r;
	if (res.status != 0) {
		r = error_set(err, ERR_IPTABLES, -EIO, "%s --noflush exited with status %d: %.300s",
			      bin, res.status, res.err);
		error_add_details(err, "%s\n--- document ---\n%s", res.err, doc);
		iptables_sandbox_result_done(&res);
		return r;
	}
	log_debug("%s --noflush: applied %zu bytes", bin, strlen(doc));
	iptables_sandbox_result_done(&res);
	return 0;
}

/* Converges one family: 1 unchanged, 0 changed. plan NULL: removal. */
static int converge(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
		    enum plan_family fam, bool tolerate_save_failure, struct error *err)
{
	_cleanup_free_ char *save = NULL, *doc = NULL;
	struct error e = {0};
	int r = run_save(ctx, fam, &save, &e);
	if (r < 0) {
		if (tolerate_save_failure) {
			log_debug("%s-save failed, nothing of ours assumed: %s", fam_tool(fam),
				  e.msg);
			return 1;
		}
		if (err)
			*err = e;
		return r;
	}
	if (plan && iptables_compare_save(save, plan, fam, NULL) == 0) {
		log_debug("%s: rules unchanged", fam_tool(fam));
		return 1;
	}
	r = iptables_build_document(save, plan, fam, &doc, err);
	if (r < 0)
		return r;
	if (doc[0] == '\0')
		return 1;
	r = run_restore(ctx, fam, doc, err);
	return r < 0 ? r : 0;
}

int iptables_backend_apply(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
			   struct error *err)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		if (plan->fam[f].n_expanded > IPTABLES_PLAN_RULES_MAX)
			return error_set(
				err, ERR_CONFIG, -E2BIG,
				"the plan holds %zu IPv%c rules; the iptables backend takes at most "
				"%d (removing more outlasts the %d ms restore timeout); nothing was "
				"programmed: use fewer excludeInterfaces / reroute interfaces or the "
				"nftables backend",
				plan->fam[f].n_expanded, f == PLAN_V4 ? '4' : '6',
				IPTABLES_PLAN_RULES_MAX, IPTABLES_EXEC_TIMEOUT_MS);
	int r4 = converge(ctx, plan, PLAN_V4, false, err);
	if (r4 < 0)
		return r4;
	int r6 = plan->ipv6 ? converge(ctx, plan, PLAN_V6, false, err)
			    : converge(ctx, NULL, PLAN_V6, true, err);
	if (r6 < 0)
		return r6;
	return r4 == 1 && r6 == 1 ? 1 : 0;
}

int iptables_backend_remove(const struct iptables_ctx *ctx, struct error *err)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		int r = converge(ctx, NULL, f, f == PLAN_V6, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int iptables_backend_check(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
			   struct error *err)
{
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		_cleanup_free_ char *save = NULL;
		struct error e = {0};
		int r = run_save(ctx, f, &save, &e);
		if (r < 0) {
			if (f == PLAN_V6 && !plan->ipv6)
				continue;
			if (err)
				*err = e;
			return r;
		}
		r = iptables_compare_save(save, plan, f, err);
		if (r < 0)
			return r;
	}
	return 0;
}
