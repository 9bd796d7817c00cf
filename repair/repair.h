/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The repair loop: watch this node's pods, find the
 * ones whose istio-validation init container failed because the node's CNI
 * was not ready, and repair them in place, delete them or label them.
 *
 * The detection and the rate-limit arithmetic are pure functions (below);
 * repair_run is the blocking loop around them.
 */
#ifndef ISTIO_CNI_REPAIR_H
#define ISTIO_CNI_REPAIR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni/netconf.h"
#include "kube/kube_client.h"
#include "kube/pod_info.h"
#include "util/cleanup.h"
#include "util/error.h"

/* Ours (Istio's controller queue has the same numbers built in). */
#define REPAIR_DEFAULT_RATE_LIMIT 10 /* API writes per second */
#define REPAIR_DEFAULT_RATE_BURST 100
#define REPAIR_MAX_ATTEMPTS 5
#define REPAIR_BACKOFF_INITIAL_MS 200
#define REPAIR_BACKOFF_MAX_MS 60000
#define REPAIR_DEFAULT_HOST_PROC_DIR "/host/proc"
#define REPAIR_EVENT_COMPONENT "istio-cni-repair"

struct repair_config {
	bool enabled;	    /* REPAIR_ENABLED (the agent decides with it) */
	bool repair_pods;   /* REPAIR_REPAIR_PODS */
	bool delete_pods;   /* REPAIR_DELETE_PODS */
	bool label_pods;    /* REPAIR_LABEL_PODS */
	bool run_as_daemon; /* REPAIR_RUN_AS_DAEMON */
	char *node_name;    /* REPAIR_NODE_NAME */
	char *sidecar_annotation;
	char *init_container_name;
	char *init_container_termination_message;
	int32_t init_container_exit_code; /* 0: any */
	char *label_selectors;		  /* one label selector, whole; "" for none */
	char *field_selectors;		  /* normalised comma list, "" for none; no node clause */
	char *broken_pod_label_key;
	char *broken_pod_label_value;
	char *host_proc_dir; /* HOST_PROC_DIR */
	unsigned rate_limit; /* REPAIR_RATE_LIMIT, writes per second */
	unsigned rate_burst; /* REPAIR_RATE_BURST */
	/*
	 * The backend repair in place programs a pod with, as the plugin's conf
	 * key redirect_backend: auto (default), nftables or iptables. The
	 * standalone istio-cni-repair reads REDIRECT_BACKEND; the agent sets it
	 * from the plugin entry it installs (redirect_backend and
	 * native_nftables of the conf, CNI_NETWORK_CONFIG's included).
	 */
	enum redirect_backend redirect_backend;
};

/*
 * Reads every REPAIR_* setting (and HOST_PROC_DIR, REDIRECT_BACKEND) from envp (NULL:
 * environ), with Istio's defaults. Empty counts as unset, except for the
 * filters REPAIR_SIDECAR_ANNOTATION and REPAIR_INIT_CONTAINER_NAME, where a
 * set but empty value turns the filter off (Istio's ""). An invalid value is -EINVAL with
 * ERR_CONFIG naming the variable and the value. *ret is written only on
 * success; release it with repair_config_done.
 */
int repair_config_from_env(const char *const *envp, struct repair_config *ret, struct error *err)
	_must_check_;
void repair_config_done(struct repair_config *cfg);

/*
 * The same, with 1.7's sources as well: the n_flags "REPAIR_X=value" entries
 * of flags (repair_config_flags) win over the environment, where each
 * setting is also read in 1.7's spelling, hyphens after the prefix
 * (REPAIR_DELETE-PODS, REPAIR_NODE-NAME, ...); when both spellings are set
 * and differ, -EINVAL (ERR_CONFIG) names both. repair_config_from_env is
 * this with no flags.
 */
int repair_config_parse(const char *const *flags, size_t n_flags, const char *const *envp,
			struct repair_config *ret, struct error *err) _must_check_;

/*
 * The command line of 1.7's istio-cni-repair (pflag syntax): --delete-pods,
 * --label-pods, --run-as-daemon (booleans: alone for true, or =BOOL),
 * --node-name, --sidecar-annotation, --init-container-name,
 * --init-container-termination-message, --init-container-exit-code,
 * --label-selectors, --field-selectors, --broken-pod-label-key,
 * --broken-pod-label-value (=VALUE or VALUE as the next argument), ours
 * --repair-pods, --rate-limit, --rate-burst, and each with current Istio's
 * "--repair-" prefix. Turns argv[1..argc-1] into "REPAIR_X=value" entries
 * (*ret, *ret_n; strv_free them). An unknown argument or a missing value is
 * -EINVAL (ERR_CONFIG) naming it. The values are checked by the parse.
 */
int repair_config_flags(int argc, char *const *argv, char ***ret, size_t *ret_n, struct error *err)
	_must_check_;

/* Whether name is given by a flag or in either spelling in envp (NULL: environ). */
bool repair_config_is_set(const char *const *flags, size_t n_flags, const char *const *envp,
			  const char *name);

/* The field selector the watch uses: the configured ones plus spec.nodeName=<node>
 * when a node name is set (without one, every node's pods, as 1.7). */
int repair_field_selector(const struct repair_config *cfg, char **ret) _must_check_;

enum repair_action {
	REPAIR_ACTION_NONE,
	REPAIR_ACTION_REPAIR,
	REPAIR_ACTION_DELETE,
	REPAIR_ACTION_LABEL,
};

/* Precedence repair > delete > label. */
enum repair_action repair_action_for(const struct repair_config *cfg);
/* "repair", "delete", "label" (the metric's type), "none". */
const char *repair_action_to_string(enum repair_action a);

/*
 * Istio's test, exactly: the sidecar annotation (when configured) is present,
 * and an init container named initContainerName (any, when empty) that has not
 * completed has lastState.terminated matching the termination message (when
 * configured; trimmed) and the exit code (when non-zero).
 */
bool repair_pod_is_broken(const struct repair_config *cfg, const struct pod_info *p);

/* A token bucket over API writes; times in ms on any monotonic clock. */
struct repair_bucket {
	double tokens;
	double rate; /* per ms */
	double burst;
	uint64_t last_ms;
};

void repair_bucket_init(struct repair_bucket *b, unsigned rate_per_s, unsigned burst,
			uint64_t now_ms);
/*
 * Takes n tokens (n is capped at the burst) and returns 0, or takes nothing
 * and returns the ms to wait until n are there (> 0).
 */
uint64_t repair_bucket_take(struct repair_bucket *b, unsigned n, uint64_t now_ms);

/* The wait before attempt n (1-based: after the n-th failure), doubling from
 * REPAIR_BACKOFF_INITIAL_MS to REPAIR_BACKOFF_MAX_MS. */
uint64_t repair_backoff_ms(unsigned failures);

struct repair_hooks {
	/* type: "repair"/"delete"/"label"; result "success"/"fail"/"skip"
	 * (Istio's istio_cni_repair_pods_repaired_total{type,result}). */
	void (*count)(void *ud, const char *type, const char *result);
	void *ud;
};

/*
 * The repair loop without its watch, for a caller that has the pods already
 * (the agent's pod feed): it is told each pod event and, now and then, the
 * time. Not thread-safe: one thread calls all of these.
 */
struct repair;

/*
 * A repair loop over cfg (borrowed, kept for its life), writing (DELETE,
 * PATCH, Events) through w (borrowed; its cancel flag, if set, abandons a
 * write in flight). hooks is copied; may be NULL.
 */
int repair_new(const struct repair_config *cfg, struct kube_client *w,
	       const struct repair_hooks *hooks, struct repair **ret, struct error *err)
	_must_check_;
struct repair *repair_free(struct repair *rp);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct repair *, repair_free);

/*
 * One pod event: a broken pod is queued (and acted on at once when the token
 * bucket allows), a recovered or deleted one leaves the queue. The caller
 * filters by selector. Returns 0 or -ENOMEM.
 */
int repair_on_pod(struct repair *rp, enum kube_watch_type type, const struct pod_info *pod)
	_must_check_;

/*
 * Works the queued pods that are due, while the bucket has tokens. Returns
 * the ms until the next can be worked on (UINT64_MAX: the queue is empty).
 */
uint64_t repair_tick(struct repair *rp);

/* Pods queued (waiting for the bucket or a retry). */
size_t repair_queued(const struct repair *rp);

/*
 * Blocking: repair_new, repair_on_pod and repair_tick around its own watch.
 * Watches this node's pods with c (pod_watch_run's protocol: one
 * long-lived WATCH at a time) and acts on broken ones, one action per pod
 * uid, writes through the token bucket and failures retried with per-pod
 * backoff up to REPAIR_MAX_ATTEMPTS. The writes go through a clone of c
 * (kube_client_clone), made and freed here, so that a broken pod is acted
 * on from inside the open watch. With run_as_daemon it returns 0 within
 * about a second of *stop becoming true (stop may be NULL); otherwise after
 * one list and the actions it called for (retries included). Logs one info
 * line per action. A permanent error of the watch (401, 403, a bad
 * selector) is returned; a refused write only fails its pod.
 */
int repair_run(const struct repair_config *cfg, struct kube_client *c,
	       const struct repair_hooks *hooks, const atomic_bool *stop, struct error *err)
	_must_check_;

#endif
