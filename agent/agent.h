/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node agent: installs the
 * plugin, keeps it installed, and removes it on SIGTERM/SIGINT.
 *
 * One event loop (epoll) over a signalfd (SIGTERM, SIGINT), an inotify fd
 * (the CNI conf dir, the installed binary's dir, the service-account dir),
 * a one-shot timerfd for debounced and throttled work and a periodic timerfd
 * for re-checks. libmicrohttpd serves health, metrics and the log socket in
 * its own threads; the pod cache watch and the repair loop each run in a
 * thread of their own (their libcurl calls block).
 *
 * Re-install policy (Istio's): after events settle
 * (AGENT_DEBOUNCE_MS) the conf is checked; when our entry is missing or our
 * file is no longer the primary conf it is installed again, at once while
 * the token bucket (1 per AGENT_THROTTLE_PERIOD_MS, burst 1) has a token,
 * else after waiting at most AGENT_THROTTLE_MAX_WAIT_MS, with a warning
 * about a CNI that keeps rewriting (Cilium: cni.exclusive=false) once that
 * happened more than AGENT_THROTTLE_WARN_HITS times in a row. The plugin
 * kubeconfig is rewritten when the service-account dir changes (the kubelet
 * rotates the token by swapping its ..data symlink).
 *
 * Ready (/readyz 200, istio_cni_install_ready 1) when the last check passed
 * and every watch is armed. Alive (/healthz 200) while the loop comes round:
 * it wakes at least every AGENT_HEARTBEAT_INTERVAL_MS and stamps the time;
 * a stamp older than AGENT_HEARTBEAT_MAX_AGE_MS (a call that blocks) fails
 * /healthz, so that the kubelet restarts an agent that no longer keeps the
 * plugin installed.
 */
#ifndef ISTIO_CNI_AGENT_H
#define ISTIO_CNI_AGENT_H

#include <stdint.h>

#include "agent_config.h"
#include "util/cleanup.h"
#include "util/error.h"

#define AGENT_DEBOUNCE_MS 50
#define AGENT_THROTTLE_PERIOD_MS 5000
#define AGENT_THROTTLE_MAX_WAIT_MS 1000
#define AGENT_THROTTLE_WARN_HITS 5
#define AGENT_RECHECK_INTERVAL_MS 30000
/* While a watch could not be armed (a directory is missing). */
#define AGENT_REARM_INTERVAL_MS 1000
#define AGENT_HEARTBEAT_INTERVAL_MS 1000
#define AGENT_HEARTBEAT_MAX_AGE_MS 10000
/* Delay before the repair loop is run again after it failed. */
#define AGENT_REPAIR_RESTART_MS 5000

/*
 * A token bucket of capacity 1: the throttle of re-installs. Pure; times are
 * monotonic milliseconds.
 */
struct install_throttle {
	uint64_t last_ms; /* when tokens was last brought up to date */
	double tokens;
	unsigned hits; /* consecutive re-installs that had to wait */
};

void agent_install_throttle_init(struct install_throttle *t, uint64_t now_ms);
/* Takes the token and returns 0, or returns how long to wait (capped at
 * AGENT_THROTTLE_MAX_WAIT_MS) without taking anything. */
uint64_t install_throttle_take(struct install_throttle *t, uint64_t now_ms);
/* After a wait: proceeds anyway (Istio does) and counts a hit. Returns the hits. */
unsigned agent_install_throttle_force(struct install_throttle *t, uint64_t now_ms);

/*
 * Runs the agent until SIGTERM or SIGINT (then uninstalls and returns 0) or a
 * fatal error (a server that cannot listen, inotify unavailable: negative
 * errno, err set). envp is the environment the REPAIR_* settings are read
 * from. Must be called before the process creates any thread: it blocks the
 * signals and drops capabilities for every thread to come.
 */
int agent_run(const struct agent_config *cfg, const char *const *envp, struct error *err)
	_must_check_;

#endif
