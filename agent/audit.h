/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The capture audit: the agent checks that every running, meshed pod of its
 * node still has the redirect rules the plugin programmed, and puts them
 * back when they do not.
 *
 * A pass takes the pod cache's snapshot, keeps the pods that are Running,
 * not hostNetwork, not terminating, on this node, in a namespace the plugin
 * does not exclude, and captured (capture_plan's skip decision says so);
 * finds their network namespaces with one scan of <HOST_PROC_DIR>/<pid> for
 * all of them (by pod IP), and runs capture_check on each with the plugin
 * conf the agent installs (its redirect_backend). capture_check only reads:
 * an intact pod costs no write and no Event.
 *
 * On drift: a warning with the differences, a Warning Event CaptureDrift on
 * the pod, istio_cni_capture_drift_total{reason}, and, when REPAIR_ENABLED and
 * REPAIR_REPAIR_PODS, capture_apply with the same conf and a Normal Event
 * CaptureRepaired. A pod whose drift persists (repair off, or failing) is
 * announced once, until a pass finds it intact again.
 *
 * Passes run in a thread of their own: every AUDIT_INTERVAL_SECONDS (the
 * first as soon as the pod cache has synced: pods captured while the agent
 * was down), and on demand (GET /debug/audit on the health port, which the
 * `istio-cni-agent audit` subcommand reads), at most one per second: a
 * request within a second of the last on-demand pass gets the latest report.
 * The health server's thread never runs a pass (one can take seconds on a
 * full node, and the kubelet's probes must still be answered): it asks the
 * audit thread for one and is told when it ended (audit_http_begin). One
 * pass runs at a time.
 */
#ifndef ISTIO_CNI_AGENT_AUDIT_H
#define ISTIO_CNI_AGENT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cni/netconf.h"
#include "kube/kubeconfig.h"
#include "kube/pod_info.h"
#include "util/cleanup.h"
#include "util/error.h"

#define AUDIT_EVENT_COMPONENT "istio-cni-agent"
#define AUDIT_EVENT_REASON_DRIFT "CaptureDrift"
#define AUDIT_EVENT_REASON_REPAIRED "CaptureRepaired"
/* An on-demand request within this long of the last one gets the latest report. */
#define AUDIT_MIN_PASS_INTERVAL_MS 1000
/* While the pod cache has not synced, the thread tries again this often. */
#define AUDIT_SYNC_POLL_MS 500
#define AUDIT_HTTP_PATH "/debug/audit"
/*
 * Test-only: when this variable names a file, every pass waits (after its pod
 * snapshot) for as long as that file exists, so that a test can hold a pass
 * in progress for as long as it needs (tests/integration/agent_audit.sh).
 * Nothing sets it in production: the manifests do not, and the agent warns at
 * start-up when it is set.
 */
#define AUDIT_TEST_ONLY_HOLD_FILE_ENV "ISTIO_CNI_TEST_ONLY_AUDIT_HOLD_FILE"

struct agent_config;
struct agent_metrics;
struct pod_cache;
struct repair_config;

/* --- Which pods a pass looks at (pure). --- */

enum audit_select {
	AUDIT_SELECTED,
	AUDIT_NOT_RUNNING,
	AUDIT_HOST_NETWORK,
	AUDIT_TERMINATING,
	AUDIT_OTHER_NODE,
	AUDIT_EXCLUDED_NS,
	AUDIT_NO_IP,
};

/*
 * Whether p is one a pass checks, before the capture decision: Running, not
 * hostNetwork, not terminating, on node (NULL: any), not in a namespace conf
 * excludes (conf may be NULL), with an IP.
 */
enum audit_select audit_select_pod(const struct pod_info *p, const char *node,
				   const struct netconf *conf);
const char *audit_select_to_string(enum audit_select s);

/* --- A pass's report (pure). --- */

enum audit_status {
	AUDIT_STATUS_OK,
	AUDIT_STATUS_DRIFT,
	AUDIT_STATUS_UNCHECKED,
};

struct audit_entry {
	char *ns;
	char *name;
	enum audit_status status;
	char *reason;  /* DRIFT: capture_drift_to_string(); else NULL */
	bool repaired; /* DRIFT: put back in place by this pass */
	char *detail;  /* DRIFT: the differences; UNCHECKED: why; else NULL */
};

struct audit_report {
	struct audit_entry *v;
	size_t n;
	size_t cap;
	char *error; /* the pass could not run (the pod cache has not synced); else NULL */
};

/* Appends an entry (strings copied; reason and detail may be NULL). */
int audit_report_add(struct audit_report *r, const char *ns, const char *name,
		     enum audit_status status, const char *reason, bool repaired,
		     const char *detail) _must_check_;
int audit_report_set_error(struct audit_report *r, const char *msg) _must_check_;
void audit_report_done(struct audit_report *r);
/* A deep copy into *ret (which must be empty). */
int audit_report_copy(const struct audit_report *r, struct audit_report *ret) _must_check_;

const char *audit_status_to_string(enum audit_status s);

/*
 * {"pods":[{"namespace","name","status":"ok|drift|unchecked"[,"reason",
 * "repaired","detail"]}...],"ok":N,"drift":N,"unchecked":N[,"error":"..."]}.
 * *ret is the caller's, NUL-terminated.
 */
int audit_report_to_json(const struct audit_report *r, char **ret, size_t *ret_len) _must_check_;
/* The reverse; a malformed body is -EBADMSG (ERR_DECODE). *ret must be empty. */
int audit_report_from_json(const char *buf, size_t len, struct audit_report *ret, struct error *err)
	_must_check_;

/*
 * One line per pod: "<ns>/<name> ok", "<ns>/<name> drift <reason>[
 * (repaired)]: <detail>", "<ns>/<name> unchecked <why>"; and "error: <msg>"
 * when the pass could not run. Newlines in details become "; ". *ret is the
 * caller's.
 */
int audit_report_to_text(const struct audit_report *r, char **ret) _must_check_;

/* 1 when a pod drifted; else 2 when one could not be checked or the pass
 * could not run; else 0. */
int audit_report_exit_code(const struct audit_report *r);

/* --- The audit. --- */

struct audit_options {
	struct pod_cache *pods; /* borrowed */
	const char *node_name;
	const struct netconf *conf; /* borrowed: the plugin conf the agent installs */
	const char *proc_dir;
	unsigned interval_s;	     /* > 0 */
	bool repair;		     /* repair drift in place */
	const struct kubeconfig *kc; /* for Events; NULL: none */
	struct agent_metrics *metrics;
	bool start_thread; /* false: passes only on demand (tests, benchmarks) */
	/* Test-only (AUDIT_TEST_ONLY_HOLD_FILE_ENV): a pass waits while this file
	 * exists. NULL in production. */
	const char *test_hold_path;
};

struct audit;

int audit_new(const struct audit_options *opts, struct audit **ret, struct error *err) _must_check_;
/* Tells the thread (and a pass in progress) to stop, without waiting. */
void audit_signal_stop(struct audit *a);
/* Stops and joins the thread, then frees. */
void audit_free(struct audit *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct audit *, audit_free);

/*
 * A pass now, unless an on-demand one ended less than AUDIT_MIN_PASS_INTERVAL_MS
 * ago (fresh: always a new pass). *ret gets a copy of the latest report.
 */
int audit_run(struct audit *a, bool fresh, struct audit_report *ret) _must_check_;

/* --- GET /debug/audit, for a server whose thread must not wait for a pass. --- */

/* A pass's answer: the HTTP status (0: out of memory) and a JSON body. */
struct audit_answer {
	unsigned status;
	char *body; /* NUL-terminated */
	size_t len;
};
void audit_answer_done(struct audit_answer *ans);

/*
 * Called from the audit thread after each of its passes, with the pass's id
 * and answer (borrowed for the call): it answers every request whose ticket
 * is at most pass. When the thread ends (the agent is stopping), pass is
 * UINT64_MAX with a 503 saying so.
 */
typedef void (*audit_notify_fn)(void *ud, uint64_t pass, unsigned status, const char *body,
				size_t len);

/*
 * A request arriving now (audit: a struct audit). 1: answered at once, with
 * *ret_status and *ret_body (the caller's; NULL when out of memory): the
 * agent is stopping, no thread runs passes (the pass ran in the caller's
 * thread), or an on-demand pass ended less than AUDIT_MIN_PASS_INTERVAL_MS
 * ago (the latest answer). 0: *ret_ticket is the id of the pass that answers
 * it, one that starts after this call (a pass in progress does not answer
 * it; requests that arrive while it runs share the next one); the thread
 * is woken for it. Never waits for a pass. Negative errno on failure.
 */
int audit_http_begin(void *audit, uint64_t *ret_ticket, unsigned *ret_status, char **ret_body,
		     size_t *ret_len) _must_check_;
/*
 * fn(fn_ud, ...) after every pass from now on (NULL: none). When it returns,
 * a call of the previous fn has ended and none will start.
 */
void audit_http_set_notify(void *audit, audit_notify_fn fn, void *fn_ud);

/*
 * The agent's audit from its settings: NULL (*ret) when AUDIT_INTERVAL_SECONDS
 * is 0 or there is no pod cache; else started. rcfg (NULL when repair is off)
 * gives REPAIR_REPAIR_PODS and HOST_PROC_DIR; without it HOST_PROC_DIR is read
 * from envp.
 */
int audit_start_agent(const struct agent_config *cfg, const char *const *envp,
		      const struct repair_config *rcfg, struct pod_cache *pods,
		      const struct kubeconfig *kc, struct agent_metrics *metrics,
		      struct audit **ret, struct error *err) _must_check_;

/*
 * `istio-cni-agent audit [--timeout SECONDS]`: GET /debug/audit from
 * 127.0.0.1:port (with timeoutSeconds when timeout_s is not 0), prints the
 * text report to out (errors to errout) and returns the exit code (2 when the
 * agent cannot be reached, has the audit off or gave no report in time).
 */
int audit_client_main(uint16_t port, unsigned timeout_s, FILE *out, FILE *errout);

#endif
