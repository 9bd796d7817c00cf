/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The iptables backend: the plan rendered as Istio's
 * iptables-restore documents (iptables_render.h), applied with
 * `iptables-restore --noflush` / `ip6tables-restore --noflush`, read back
 * with the -save twins. These four are the only programs the project runs.
 *
 * Every exec goes through iptables_sandbox_exec(): fork, then in the child
 * a private mount namespace (/ made MS_REC|MS_PRIVATE, MS_SLAVE as fallback)
 * with /dev/null bind-mounted read-only over /etc/nsswitch.conf (`-m owner`
 * resolves names first; a lookup from a half-built netns can hang), setns()
 * into the pod netns, and execve() of an absolute path with an explicit argv
 * and an environment of PATH and XTABLES_LOCKFILE only. stdin is the document
 * in a memfd (no pipe: a child that dies early cannot SIGPIPE us, and a large
 * document cannot deadlock against unread output), stdout
 * and stderr are captured with caps, and the child is killed after a timeout.
 *
 * Ownership: our state is every ISTIO_* chain in nat, mangle and raw, the
 * jumps to them from any chain, and in the built-in chains the rules our
 * plan puts there (interface RETURNs, TPROXY marks). Nothing else is touched.
 */
#ifndef ISTIO_CNI_IPTABLES_BACKEND_H
#define ISTIO_CNI_IPTABLES_BACKEND_H

#include <stdbool.h>
#include <stddef.h>

#include "capture/backend_select.h"
#include "capture/redirect_plan.h"
#include "util/cleanup.h"
#include "util/error.h"

#define IPTABLES_EXEC_TIMEOUT_MS 10000
/*
 * Rules per family the iptables backend applies: 16,384 excluded interfaces in
 * REDIRECT mode (two rules each) plus Istio's fixed rules. Measured with
 * iptables-nft 1.8.9 on 2 cores: 32,788 rules apply in 0.7 s and are removed
 * in 4 s; 65,568 rules took 15 s to replace and over 10 s to remove.
 */
#define IPTABLES_PLAN_RULES_MAX (2 * 16384 + 1024)
#define IPTABLES_SAVE_MAX (16u << 20)
#define IPTABLES_STDERR_MAX 4096

struct sandbox_cmd {
	int netns_fd;		 /* the child enters it; < 0: stays in ours */
	const char *lock_path;	 /* XTABLES_LOCKFILE; NULL leaves it out */
	const char *const *argv; /* argv[0] is the absolute path executed */
	const char *input;	 /* stdin; NULL = empty */
	size_t input_len;
	size_t stdout_cap;	 /* 0 = discard stdout */
	unsigned int timeout_ms; /* 0 = IPTABLES_EXEC_TIMEOUT_MS */
};

struct sandbox_result {
	int status; /* exit code, or 128 + signal */
	char *out;  /* stdout, NUL-terminated (NULL when discarded) */
	size_t out_len;
	char *err; /* stderr, at most IPTABLES_STDERR_MAX bytes, NUL-terminated */
};

void iptables_sandbox_result_done(struct sandbox_result *r);

/*
 * Runs cmd as described above. Returns 0 when the program ran to an exit
 * (ret->status tells how; ret is the caller's to release with
 * iptables_sandbox_result_done), or a negative errno with ERR_IPTABLES: the sandbox
 * could not be set up (which step and why), the exec failed, stdout exceeded
 * its cap (-EFBIG), or the timeout killed the child (-ETIMEDOUT).
 */
int iptables_sandbox_exec(const struct sandbox_cmd *cmd, struct sandbox_result *ret,
			  struct error *err) _must_check_;

struct iptables_ctx {
	int netns_fd;	       /* the pod netns */
	const char *lock_path; /* per-netns XTABLES_LOCKFILE (Istio: the netns path) */
	enum iptables_variant variant[_PLAN_FAMILY_MAX];
};

/*
 * Programs plan (v4, and v6 when plan->ipv6; stale v6 state of ours is
 * removed otherwise). Per family: iptables-save; if our chains already equal
 * the plan, nothing more (returns 1, "unchanged"); else one restore document
 * that deletes our old jumps and chains and adds the planned ones, so each
 * table changes atomically. Returns 0 when applied.
 */
int iptables_backend_apply(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
			   struct error *err) _must_check_;

/* Deletes our jumps and chains in both families. Nothing of ours = success. */
int iptables_backend_remove(const struct iptables_ctx *ctx, struct error *err) _must_check_;

/*
 * Compares iptables-save with plan: 0 when equal, -EBADMSG with ERR_CHECK
 * naming each missing or extra chain and rule line (details: all of them).
 */
int iptables_backend_check(const struct iptables_ctx *ctx, const struct redirect_plan *plan,
			   struct error *err) _must_check_;

/*
 * Absolute path of "<iptables|ip6tables>-<variant>-<restore|save>" from a fixed
 * list of directories (/usr/sbin, /sbin, /usr/bin), falling back to the
 * unversioned "<iptables|ip6tables>-<restore|save>"; -ENOENT when none.
 * *ret is a heap string.
 */
int iptables_binary(enum plan_family fam, enum iptables_variant v, bool save, char **ret)
	_must_check_;

/* --- pure parts, exposed for tests --------------------------------------- */

/*
 * A rule's parameters in a canonical form in which our rendering and
 * iptables-save's agree: option groups sorted, implicit "-m tcp|udp"
 * dropped, numbers in decimal, CIDRs masked, and the defaults save spells
 * out (--set-mark N = --set-xmark N/0xffffffff, --to-port = --to-ports,
 * CONNMARK masks, TPROXY --on-ip) folded. *ret is a heap string.
 */
int iptables_canon_rule(const char *spec, char **ret) _must_check_;

/*
 * Compares save output (one family) with the plan family; the same result as
 * iptables_backend_check() without running anything. Returns 0 equal,
 * -EBADMSG (ERR_CHECK) on differences.
 */
int iptables_compare_save(const char *save, const struct redirect_plan *plan, enum plan_family fam,
			  struct error *err) _must_check_;

/*
 * The restore document that turns the state in save into the plan family
 * (plan NULL: removal only). *ret_doc is "" when there is nothing to do.
 */
int iptables_build_document(const char *save, const struct redirect_plan *plan,
			    enum plan_family fam, char **ret_doc, struct error *err) _must_check_;

#endif
