/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small metrics registry rendered in the Prometheus text exposition format
 * 0.0.4 (what /metrics on MONITORING_PORT serves): counters, gauges and
 * histograms, each with a fixed list of label names, series created on first
 * use. Every operation takes the registry's mutex, so the agent's loop, the
 * HTTP server threads and the repair thread can all update it.
 *
 * Names follow Istio's (istio_cni_*) where Istio has the metric; the
 * agent's own metrics are described in agent_metrics_new().
 */
#ifndef ISTIO_CNI_AGENT_METRICS_H
#define ISTIO_CNI_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"

enum metric_type {
	METRIC_COUNTER,
	METRIC_GAUGE,
	METRIC_HISTOGRAM,
};

/* Most labels a metric may have; most buckets a histogram may have. */
#define METRIC_MAX_LABELS 4
#define METRIC_MAX_BUCKETS 32
/* Most series (label value combinations) per metric: label values can come
 * from outside (plugin log lines), so their number is capped. */
#define METRIC_MAX_SERIES 256

struct metrics;
struct metric;

int metrics_new(struct metrics **ret) _must_check_;
void metrics_free(struct metrics *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct metrics *, metrics_free);

/*
 * Registers a metric. label_names is NULL-terminated (NULL for none). For a
 * histogram, buckets holds n_buckets strictly increasing finite upper bounds
 * (+Inf is implicit); otherwise buckets must be NULL. Names must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not start
 * with "__" nor be "le" for a histogram; a name registered twice is -EEXIST.
 * Metrics render in registration order. *ret is borrowed from m.
 */
int metrics_register(struct metrics *m, const char *name, enum metric_type type, const char *help,
		     const char *const *label_names, const double *buckets, size_t n_buckets,
		     struct metric **ret) _must_check_;

/*
 * label_values has one entry per label name (NULL when the metric has none).
 * metric_add: counters only take v >= 0 (-EINVAL otherwise); gauges any v.
 * metric_set: gauges only. metric_observe: histograms only. -E2BIG when the
 * metric already has METRIC_MAX_SERIES series and these values are new.
 */
int metric_add(struct metric *mt, const char *const *label_values, double v) _must_check_;
int metric_set(struct metric *mt, const char *const *label_values, double v) _must_check_;
int metric_observe(struct metric *mt, const char *const *label_values, double v) _must_check_;

/*
 * The value of one series (counter or gauge), for tests; -ENOENT when the
 * series does not exist yet.
 */
int metric_get(struct metric *mt, const char *const *label_values, double *ret) _must_check_;

/*
 * The whole registry as text format 0.0.4: per metric "# HELP", "# TYPE" and
 * its series in creation order; a metric without labels always shows one
 * sample (0 until touched). *ret is the caller's (free), NUL-terminated.
 */
int metrics_render(struct metrics *m, char **ret, size_t *ret_len) _must_check_;

/* Shortest text that reads back as v ("+Inf", "-Inf", "NaN" as Prometheus spells them). */
void metric_format_value(double v, char *buf, size_t len);

/* --- The agent's metrics. --- */

#define METRIC_CAPTURE_DRIFT "istio_cni_capture_drift_total"

struct agent_metrics {
	struct metrics *registry;
	struct metric *installs_total;	     /* istio_cni_installs_total{result} */
	struct metric *install_ready;	     /* istio_cni_install_ready */
	struct metric *repair_pods_repaired; /* istio_cni_repair_pods_repaired_total{type,result} */
	struct metric *plugin_add_total;     /* istio_cni_plugin_add_total{result} */
	struct metric *plugin_add_duration;  /* istio_cni_plugin_add_duration_seconds */
	struct metric *plugin_log_lines;     /* istio_cni_plugin_log_lines_total */
	struct metric *pod_cache_pods;	     /* istio_cni_pod_cache_pods */
	struct metric *pod_cache_lookups;    /* istio_cni_pod_cache_lookups_total{result} */
	struct metric *pod_cache_synced;     /* istio_cni_pod_cache_synced */
	struct metric *pod_cache_sync_failures; /* istio_cni_pod_cache_sync_failures_total */
	struct metric *capture_drift;		/* istio_cni_capture_drift_total{reason} */
};

int agent_metrics_new(struct agent_metrics **ret) _must_check_;
void agent_metrics_free(struct agent_metrics *am);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct agent_metrics *, agent_metrics_free);

/* Convenience wrappers that log (debug) and swallow their own failures: a
 * metric that cannot be counted must not stop the agent. am may be NULL. */
void agent_metrics_count_install(struct agent_metrics *am, const char *result);
void agent_metrics_set_ready(struct agent_metrics *am, bool ready);
void agent_metrics_count_repair(struct agent_metrics *am, const char *type, const char *result);
void agent_metrics_count_plugin_add(struct agent_metrics *am, const char *result);
void agent_metrics_observe_plugin_add(struct agent_metrics *am, double seconds);
void agent_metrics_count_plugin_line(struct agent_metrics *am);
void agent_metrics_set_pod_cache_size(struct agent_metrics *am, size_t n);
void agent_metrics_count_pod_lookup(struct agent_metrics *am, const char *result);
void agent_metrics_set_pod_cache_synced(struct agent_metrics *am, bool synced);
void agent_metrics_count_pod_cache_sync_failure(struct agent_metrics *am);
/* reason: capture_drift_to_string() of what the audit found. */
void agent_metrics_count_capture_drift(struct agent_metrics *am, const char *reason);

#endif
