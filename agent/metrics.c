// SPDX-License-Identifier: Apache-2.0
#include "metrics.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/istio_names.h"
#include "util/log.h"

struct series {
	char *label_values[METRIC_MAX_LABELS];
	double value; /* counter, gauge */
	uint64_t counts[METRIC_MAX_BUCKETS +
			1]; /* histogram, per bucket (last: +Inf), not cumulative */
	uint64_t count;
	double sum;
};

struct metric {
	struct metrics *owner;
	char *name;
	char *help;
	enum metric_type type;
	char *label_names[METRIC_MAX_LABELS];
	size_t n_labels;
	double buckets[METRIC_MAX_BUCKETS];
	size_t n_buckets;
	struct series **series;
	size_t n_series;
	size_t cap_series;
};

struct metrics {
	pthread_mutex_t lock;
	struct metric **metrics;
	size_t n_metrics;
	size_t cap_metrics;
};

int metrics_new(struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	int r = pthread_mutex_init(&m->lock, NULL);
	if (r != 0) {
		free(m);
		return -r;
	}
	*ret = m;
	return 0;
}

static void series_free(struct series *s, size_t n_labels)
{
	if (!s)
		return;
	for (size_t i = 0; i < n_labels; i++)
		free(s->label_values[i]);
	free(s);
}

static void metric_free(struct metric *mt)
{
	if (!mt)
		return;
	for (size_t i = 0; i < mt->n_series; i++)
		series_free(mt->series[i], mt->n_labels);
	free(mt->series);
	for (size_t i = 0; i < mt->n_labels; i++)
		free(mt->label_names[i]);
	free(mt->name);
	free(mt->help);
	free(mt);
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->n_metrics; i++)
		metric_free(m->metrics[i]);
	free(m->metrics);
	(void)pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool name_valid(const char *s, bool colon)
{
	if (!s || !*s)
		return false;
	for (size_t i = 0; s[i]; i++) {
		char c = s[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
			  (colon && c == ':') || (i > 0 && c >= '0' && c <= '9');
		if (!ok)
			return false;
	}
	return true;
}

int metrics_register(struct metrics *m, const char *name, enum metric_type type, const char *help,
		     const char *const *label_names, const double *buckets, size_t n_buckets,
		     struct metric **ret)
{
	if (!m || !name_valid(name, true) || !help)
		return -EINVAL;
	if ((type == METRIC_HISTOGRAM) != (buckets != NULL) || n_buckets > METRIC_MAX_BUCKETS)
		return -EINVAL;
	if (type == METRIC_HISTOGRAM && n_buckets == 0)
		return -EINVAL;
	for (size_t i = 0; i < n_buckets; i++)
		if (!isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1])))
			return -EINVAL;
	size_t n_labels = 0;
	for (; label_names && label_names[n_labels]; n_labels++) {
		const char *l = label_names[n_labels];
		if (n_labels == METRIC_MAX_LABELS || !name_valid(l, false) ||
		    strncmp(l, "__", 2) == 0 || (type == METRIC_HISTOGRAM && strcmp(l, "le") == 0))
			return -EINVAL;
		for (size_t j = 0; j < n_labels; j++)
			if (strcmp(label_names[j], l) == 0)
				return -EINVAL;
	}

	struct metric *mt = calloc(1, sizeof(*mt));
	if (!mt)
		return -ENOMEM;
	mt->owner = m;
	mt->type = type;
	mt->name = strdup(name);
	mt->help = strdup(help);
	if (!mt->name || !mt->help) {
		metric_free(mt);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_labels; i++) {
		mt->label_names[i] = strdup(label_names[i]);
		if (!mt->label_names[i]) {
			metric_free(mt);
			return -ENOMEM;
		}
		mt->n_labels = i + 1;
	}
	if (n_buckets)
		memcpy(mt->buckets, buckets, n_buckets * sizeof(*buckets));
	mt->n_buckets = n_buckets;

	int r = 0;
	(void)pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_metrics; i++)
		if (strcmp(m->metrics[i]->name, name) == 0) {
			r = -EEXIST;
			goto out;
		}
	if (m->n_metrics == m->cap_metrics) {
		size_t cap = m->cap_metrics ? 2 * m->cap_metrics : 8;
		// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
		struct metric **n = reallocarray(m->metrics, cap, sizeof(*n));
		if (!n) {
			r = -ENOMEM;
			goto out;
		}
		m->metrics = n;
		m->cap_metrics = cap;
	}
	m->metrics[m->n_metrics++] = mt;
	*ret = mt;
out:
	(void)pthread_mutex_unlock(&m->lock);
	if (r < 0)
		metric_free(mt);
	return r;
}

/* With the lock held: the series for these values, created when create is set. */
static int find_series(struct metric *mt, const char *const *values, bool create,
		       struct series **ret)
{
	/* values holds one entry per label name: the caller's side of the contract */
	for (size_t i = 0; i < mt->n_labels; i++)
		if (!values || !values[i]) // NOLINT(clang-analyzer-core.uninitialized.Branch)
			return -EINVAL;
	for (size_t i = 0; i < mt->n_series; i++) {
		struct series *s = mt->series[i];
		size_t j = 0;
		while (j < mt->n_labels && strcmp(s->label_values[j], values[j]) == 0)
			j++;
		if (j == mt->n_labels) {
			*ret = s;
			return 0;
		}
	}
	if (!create)
		return -ENOENT;
	if (mt->n_series >= METRIC_MAX_SERIES)
		return -E2BIG;
	if (mt->n_series == mt->cap_series) {
		size_t cap = mt->cap_series ? 2 * mt->cap_series : 4;
		// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
		struct series **n = reallocarray(mt->series, cap, sizeof(*n));
		if (!n)
			return -ENOMEM;
		mt->series = n;
		mt->cap_series = cap;
	}
	struct series *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < mt->n_labels; i++) {
		s->label_values[i] = strdup(values[i]);
		if (!s->label_values[i]) {
			series_free(s, i);
			return -ENOMEM;
		}
	}
	mt->series[mt->n_series++] = s;
	*ret = s;
	return 0;
}

enum op {
	OP_ADD,
	OP_SET,
	OP_OBSERVE
};

static int update(struct metric *mt, const char *const *values, double v, enum op op)
{
	switch (op) {
	case OP_ADD:
		if (mt->type == METRIC_HISTOGRAM || (mt->type == METRIC_COUNTER && !(v >= 0)))
			return -EINVAL;
		break;
	case OP_SET:
		if (mt->type != METRIC_GAUGE)
			return -EINVAL;
		break;
	case OP_OBSERVE:
		if (mt->type != METRIC_HISTOGRAM || isnan(v))
			return -EINVAL;
		break;
	}
	struct series *s;
	(void)pthread_mutex_lock(&mt->owner->lock);
	int r = find_series(mt, values, true, &s);
	if (r >= 0) {
		if (op == OP_ADD) {
			s->value += v;
		} else if (op == OP_SET) {
			s->value = v;
		} else {
			size_t b = 0;
			while (b < mt->n_buckets && v > mt->buckets[b])
				b++;
			s->counts[b]++;
			s->count++;
			s->sum += v;
		}
	}
	(void)pthread_mutex_unlock(&mt->owner->lock);
	return r < 0 ? r : 0;
}

int metric_add(struct metric *mt, const char *const *label_values, double v)
{
	return update(mt, label_values, v, OP_ADD);
}

int metric_set(struct metric *mt, const char *const *label_values, double v)
{
	return update(mt, label_values, v, OP_SET);
}

int metric_observe(struct metric *mt, const char *const *label_values, double v)
{
	return update(mt, label_values, v, OP_OBSERVE);
}

int metric_get(struct metric *mt, const char *const *label_values, double *ret)
{
	if (mt->type == METRIC_HISTOGRAM)
		return -EINVAL;
	struct series *s;
	(void)pthread_mutex_lock(&mt->owner->lock);
	int r = find_series(mt, label_values, false, &s);
	double v = r >= 0 ? s->value : 0;
	(void)pthread_mutex_unlock(&mt->owner->lock);
	if (r < 0)
		return r;
	*ret = v;
	return 0;
}

void metric_format_value(double v, char *buf, size_t len)
{
	if (isnan(v)) {
		(void)snprintf(buf, len, "NaN");
		return;
	}
	if (isinf(v)) {
		(void)snprintf(buf, len, v > 0 ? "+Inf" : "-Inf");
		return;
	}
	/*
	 * As Go's strconv.FormatFloat(v, 'g', -1, 64), which Prometheus' own
	 * clients use: the fewest digits that read back exactly, in exponent
	 * form when the exponent is below -4 or at least 6 ("1e+06", "0.0001").
	 */
	char e[64];
	int prec;
	for (prec = 1; prec < 17; prec++) {
		(void)snprintf(e, sizeof(e), "%.*e", prec - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	(void)snprintf(e, sizeof(e), "%.*e", prec - 1, v);
	const char *x = strchr(e, 'e');
	long exp = x ? strtol(x + 1, NULL, 10) : 0;
	if (exp < -4 || exp >= 6)
		(void)snprintf(buf, len, "%s", e);
	else
		(void)snprintf(buf, len, "%.*f", (int)(prec - 1 - exp > 0 ? prec - 1 - exp : 0), v);
}

/* A growing text buffer; on allocation failure it remembers and stops. */
struct text {
	char *buf;
	size_t len;
	size_t cap;
	bool oom;
};

static void text_append(struct text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 1024;
		while (t->len + n + 1 > cap)
			cap *= 2;
		char *b = realloc(t->buf, cap);
		if (!b) {
			t->oom = true;
			return;
		}
		t->buf = b;
		t->cap = cap;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
	text_append(t, s, strlen(s));
}

/* HELP text escapes backslash and newline; label values also the double quote. */
static void text_escaped(struct text *t, const char *s, bool quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			text_puts(t, "\\\\");
		else if (*s == '\n')
			text_puts(t, "\\n");
		else if (quote && *s == '"')
			text_puts(t, "\\\"");
		else
			text_append(t, s, 1);
	}
}

static void text_value(struct text *t, double v)
{
	char b[64];
	metric_format_value(v, b, sizeof(b));
	text_puts(t, b);
}

/* name{l1="v1",...,extra="x"} with extra_name NULL for none. */
static void text_sample_name(struct text *t, const struct metric *mt, const struct series *s,
			     const char *suffix, const char *extra_name, const char *extra_value)
{
	text_puts(t, mt->name);
	text_puts(t, suffix);
	if (mt->n_labels == 0 && !extra_name)
		return;
	text_puts(t, "{");
	for (size_t i = 0; i < mt->n_labels; i++) {
		if (i > 0)
			text_puts(t, ",");
		text_puts(t, mt->label_names[i]);
		text_puts(t, "=\"");
		text_escaped(t, s->label_values[i], true);
		text_puts(t, "\"");
	}
	if (extra_name) {
		if (mt->n_labels > 0)
			text_puts(t, ",");
		text_puts(t, extra_name);
		text_puts(t, "=\"");
		text_puts(t, extra_value);
		text_puts(t, "\"");
	}
	text_puts(t, "}");
}

static void render_series(struct text *t, const struct metric *mt, const struct series *s)
{
	if (mt->type != METRIC_HISTOGRAM) {
		text_sample_name(t, mt, s, "", NULL, NULL);
		text_puts(t, " ");
		text_value(t, s->value);
		text_puts(t, "\n");
		return;
	}
	uint64_t cumulative = 0;
	char le[64];
	for (size_t b = 0; b <= mt->n_buckets; b++) {
		cumulative += s->counts[b];
		if (b < mt->n_buckets)
			metric_format_value(mt->buckets[b], le, sizeof(le));
		else
			(void)snprintf(le, sizeof(le), "+Inf");
		text_sample_name(t, mt, s, "_bucket", "le", le);
		text_puts(t, " ");
		text_value(t, (double)cumulative);
		text_puts(t, "\n");
	}
	text_sample_name(t, mt, s, "_sum", NULL, NULL);
	text_puts(t, " ");
	text_value(t, s->sum);
	text_puts(t, "\n");
	text_sample_name(t, mt, s, "_count", NULL, NULL);
	text_puts(t, " ");
	text_value(t, (double)s->count);
	text_puts(t, "\n");
}

static const char *type_name(enum metric_type type)
{
	switch (type) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	}
	return "untyped";
}

int metrics_render(struct metrics *m, char **ret, size_t *ret_len)
{
	struct text t = {0};
	static const struct series zero;

	(void)pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->n_metrics; i++) {
		const struct metric *mt = m->metrics[i];
		text_puts(&t, "# HELP ");
		text_puts(&t, mt->name);
		text_puts(&t, " ");
		text_escaped(&t, mt->help, false);
		text_puts(&t, "\n# TYPE ");
		text_puts(&t, mt->name);
		text_puts(&t, " ");
		text_puts(&t, type_name(mt->type));
		text_puts(&t, "\n");
		if (mt->n_labels == 0 && mt->n_series == 0)
			render_series(&t, mt, &zero);
		for (size_t j = 0; j < mt->n_series; j++)
			render_series(&t, mt, mt->series[j]);
	}
	(void)pthread_mutex_unlock(&m->lock);

	if (!t.buf && !t.oom)
		text_append(&t, "", 0);
	if (t.oom) {
		free(t.buf);
		return -ENOMEM;
	}
	*ret = t.buf;
	if (ret_len)
		*ret_len = t.len;
	return 0;
}

/* --- The agent's metrics. --- */

/* Plugin ADD latency buckets (seconds): from a skipped pod (~1 ms) to a
 * deadline-bound API retry (seconds). */
static const double add_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
				     0.25,  0.5,    1,	   2.5,	 5,	10};

int agent_metrics_new(struct agent_metrics **ret)
{
	_cleanup_(agent_metrics_freep) struct agent_metrics *am = calloc(1, sizeof(*am));
	if (!am)
		return -ENOMEM;
	int r = metrics_new(&am->registry);
	if (r < 0)
		return r;

	static const char *const result[] = {"result", NULL};
	static const char *const type_result[] = {"type", "result", NULL};
	static const char *const reason[] = {"reason", NULL};
	const struct {
		const char *name;
		enum metric_type type;
		const char *help;
		const char *const *labels;
		const double *buckets;
		size_t n_buckets;
		struct metric **slot;
	} defs[] = {
		{METRIC_INSTALLS_TOTAL, METRIC_COUNTER,
		 "Total number of CNI plugins installed by the Istio CNI installer", result, NULL,
		 0, &am->installs_total},
		{METRIC_INSTALL_READY, METRIC_GAUGE,
		 "Whether the CNI plugin installation is ready or not", NULL, NULL, 0,
		 &am->install_ready},
		{METRIC_REPAIR_PODS_REPAIRED, METRIC_COUNTER,
		 "Total number of pods repaired by repair controller", type_result, NULL, 0,
		 &am->repair_pods_repaired},
		{METRIC_PLUGIN_ADD_TOTAL, METRIC_COUNTER,
		 "CNI ADD invocations reported by the plugin's log lines, by outcome", result, NULL,
		 0, &am->plugin_add_total},
		{METRIC_PLUGIN_ADD_DURATION, METRIC_HISTOGRAM,
		 "CNI ADD duration in seconds, from plugin log lines that carry duration_ms", NULL,
		 add_buckets, ELEMENTSOF(add_buckets), &am->plugin_add_duration},
		{METRIC_PLUGIN_LOG_LINES, METRIC_COUNTER,
		 "Log lines received from the plugin on the log socket", NULL, NULL, 0,
		 &am->plugin_log_lines},
		{METRIC_POD_CACHE_PODS, METRIC_GAUGE, "Pods of this node held by the pod cache",
		 NULL, NULL, 0, &am->pod_cache_pods},
		{METRIC_POD_CACHE_LOOKUPS, METRIC_COUNTER,
		 "Pod lookups answered from the pod cache, by outcome", result, NULL, 0,
		 &am->pod_cache_lookups},
		{METRIC_POD_CACHE_SYNCED, METRIC_GAUGE,
		 "Whether the pod cache holds what the API server has (1) or is listing again (0)",
		 NULL, NULL, 0, &am->pod_cache_synced},
		{METRIC_POD_CACHE_SYNC_FAILURES, METRIC_COUNTER,
		 "Failed LIST or WATCH requests of the pod cache while it was not synced", NULL,
		 NULL, 0, &am->pod_cache_sync_failures},
		{METRIC_CAPTURE_DRIFT, METRIC_COUNTER,
		 "Meshed pods whose capture rules the audit found different from the plan, by "
		 "kind (missing, changed, unexpected)",
		 reason, NULL, 0, &am->capture_drift},
	};
	for (size_t i = 0; i < ELEMENTSOF(defs); i++) {
		r = metrics_register(am->registry, defs[i].name, defs[i].type, defs[i].help,
				     defs[i].labels, defs[i].buckets, defs[i].n_buckets,
				     defs[i].slot);
		if (r < 0)
			return r;
	}
	*ret = TAKE_PTR(am);
	return 0;
}

void agent_metrics_free(struct agent_metrics *am)
{
	if (!am)
		return;
	metrics_free(am->registry);
	free(am);
}

static void checked(int r, const struct metric *mt)
{
	if (r < 0)
		log_debug("metric %s not updated: %s", mt->name, strerror(-r));
}

void agent_metrics_count_install(struct agent_metrics *am, const char *result)
{
	if (am)
		checked(metric_add(am->installs_total, (const char *const[]){result}, 1),
			am->installs_total);
}

void agent_metrics_set_ready(struct agent_metrics *am, bool ready)
{
	if (am)
		checked(metric_set(am->install_ready, NULL, ready ? 1 : 0), am->install_ready);
}

void agent_metrics_count_repair(struct agent_metrics *am, const char *type, const char *result)
{
	if (am)
		checked(metric_add(am->repair_pods_repaired, (const char *const[]){type, result},
				   1),
			am->repair_pods_repaired);
}

void agent_metrics_count_plugin_add(struct agent_metrics *am, const char *result)
{
	if (am)
		checked(metric_add(am->plugin_add_total, (const char *const[]){result}, 1),
			am->plugin_add_total);
}

void agent_metrics_observe_plugin_add(struct agent_metrics *am, double seconds)
{
	if (am)
		checked(metric_observe(am->plugin_add_duration, NULL, seconds),
			am->plugin_add_duration);
}

void agent_metrics_count_plugin_line(struct agent_metrics *am)
{
	if (am)
		checked(metric_add(am->plugin_log_lines, NULL, 1), am->plugin_log_lines);
}

void agent_metrics_set_pod_cache_size(struct agent_metrics *am, size_t n)
{
	if (am)
		checked(metric_set(am->pod_cache_pods, NULL, (double)n), am->pod_cache_pods);
}

void agent_metrics_set_pod_cache_synced(struct agent_metrics *am, bool synced)
{
	if (am)
		checked(metric_set(am->pod_cache_synced, NULL, synced ? 1 : 0),
			am->pod_cache_synced);
}

void agent_metrics_count_pod_cache_sync_failure(struct agent_metrics *am)
{
	if (am)
		checked(metric_add(am->pod_cache_sync_failures, NULL, 1),
			am->pod_cache_sync_failures);
}

void agent_metrics_count_pod_lookup(struct agent_metrics *am, const char *result)
{
	if (am)
		checked(metric_add(am->pod_cache_lookups, (const char *const[]){result}, 1),
			am->pod_cache_lookups);
}

void agent_metrics_count_capture_drift(struct agent_metrics *am, const char *reason)
{
	if (am)
		checked(metric_add(am->capture_drift, (const char *const[]){reason}, 1),
			am->capture_drift);
}
