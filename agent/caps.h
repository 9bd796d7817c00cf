/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Capabilities the agent keeps. At start-up, before any thread exists
 * (capability sets are per thread and threads inherit them), the agent drops
 * every capability the configured work does not need, from the effective,
 * permitted and inheritable sets, the ambient set and the bounding set (so
 * that no program it executes as uid 0 gets them back).
 *
 * What each kind of work needs:
 *   install (always): CAP_DAC_OVERRIDE. The host's CNI conf and bin
 *     directories and the files other CNIs leave there are not necessarily
 *     owned by uid 0 or writable by their owner; rewriting the primary conf
 *     and renaming over it must work whatever its owner. Nothing is chowned
 *     (files we write are new files, given the replaced file's mode with
 *     fchmod on our own descriptor), so no CAP_CHOWN or CAP_FOWNER.
 *   repair in place (REPAIR_ENABLED and REPAIR_REPAIR_PODS) and the capture
 *     audit (AUDIT_INTERVAL_SECONDS > 0, which checks and repairs the same
 *     rules, iptables-save included): CAP_SYS_PTRACE
 *     to open other processes' /proc/<pid>/ns/net, CAP_SYS_ADMIN for setns()
 *     and the private mount namespace of the iptables backend, CAP_NET_ADMIN
 *     to program nftables/iptables, CAP_NET_RAW for iptables' raw sockets.
 *   a health or monitoring port below 1024: CAP_NET_BIND_SERVICE.
 */
#ifndef ISTIO_CNI_AGENT_CAPS_H
#define ISTIO_CNI_AGENT_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

struct caps_needs {
	bool install;
	bool repair_in_place;
	bool bind_low_port;
};

/* The capabilities needs call for, as a mask of (1 << CAP_*). Pure. */
uint64_t caps_wanted(const struct caps_needs *needs);

/*
 * "cap_dac_override,cap_net_admin" (libcap's lower-case names, in capability
 * order), "none" for an empty mask. Returns the length or -ENOBUFS.
 */
int caps_mask_to_string(uint64_t mask, char *buf, size_t len) _must_check_;

/*
 * Reduces the calling thread (call it before creating threads) to keep:
 * bounding set first (needs CAP_SETPCAP, which is then dropped too), ambient
 * cleared, then effective = permitted = keep & what we had, inheritable
 * empty. *ret_kept (may be NULL) gets the resulting effective set. A
 * bounding-set drop refused for lack of CAP_SETPCAP is not an error (the
 * effective and permitted sets still shrink); err's details name it.
 */
int caps_apply(uint64_t keep, uint64_t *ret_kept, struct error *err) _must_check_;

/* The calling thread's effective and bounding sets. */
int caps_current(uint64_t *ret_effective, uint64_t *ret_bounding) _must_check_;

#endif
