// SPDX-License-Identifier: Apache-2.0
/* The capture audit: passes, their thread, the HTTP hook and the client. */
#include "audit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "agent_config.h"
#include "capture/capture.h"
#include "install_config.h"
#include "kube/kube_client.h"
#include "kube/kube_event.h"
#include "metrics.h"
#include "netlink/netns_find.h"
#include "plugin_conf.h"
#include "pod_cache.h"
#include "repair.h"
#include "util/env_util.h"
#include "util/log.h"
#include "util/monotonic.h"
#include "util/strv.h"

struct audit {
	struct pod_cache *pods;
	char *node_name;
	struct netconf *conf; /* owned when made by audit_start_agent */
	const struct netconf *conf_ref;
	char *proc_dir;
	char *test_hold_path; /* AUDIT_TEST_ONLY_HOLD_FILE_ENV; NULL in production */
	unsigned interval_s;
	bool repair;
	struct agent_metrics *metrics;
	struct kube_client *events; /* NULL: no Events */

	/* One pass at a time; guards announced. Held for a whole pass, and
	 * only by the thread that runs it. */
	pthread_mutex_t pass_lock;
	char **announced; /* uids whose drift was announced and not yet seen intact */
	size_t n_announced;

	/* Held only briefly (never for a pass); guards what follows. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* the thread waits on it for a request or its interval */
	struct audit_report last;
	struct audit_answer answer; /* the latest pass's answer to GET /debug/audit */
	uint64_t passes_started;    /* ids of the passes: 1, 2, ... */
	uint64_t demanded;	    /* the highest pass id an on-demand request waits for */
	uint64_t last_demand_ms;    /* when the last on-demand pass ended */
	atomic_bool stop;
	bool lock_ready;
	bool have_last;
	bool have_answer;
	bool have_demand_pass;
	bool running; /* the thread was started (set before any request) */

	/* Held while notify runs; guards notify and notify_ud. */
	pthread_mutex_t notify_lock;
	audit_notify_fn notify;
	void *notify_ud;

	pthread_t thread;
};

static bool in_list(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return true;
	return false;
}

static int list_add(char ***v, size_t *n, const char *s)
{
	char **nv = reallocarray(*v, *n + 1, sizeof(**v));
	if (!nv)
		return -ENOMEM;
	*v = nv;
	nv[*n] = strdup(s);
	if (!nv[*n])
		return -ENOMEM;
	(*n)++;
	return 0;
}

/*
 * Whether the plugin captured p: the skip decision capture_plan makes
 * (redirect_decide), without building the plan. An annotation the plan
 * would refuse shows up in capture_check's answer.
 */
static bool meshed(const struct pod_info *p)
{
	return redirect_decide(p) == REDIRECT_CAPTURE;
}

/* The error's message and its details, one text. */
static void error_text(const struct error *e, int r, char *buf, size_t len)
{
	size_t dl = strlen(e->details);
	while (dl > 0 && e->details[dl - 1] == '\n')
		dl--;
	char first[ERROR_DETAILS_MAX];
	(void)snprintf(first, sizeof(first), "%.*s", (int)dl, e->details);
	/* A message that already quotes its single difference is enough. */
	bool quoted = !memchr(e->details, '\n', dl) && strstr(e->msg, first);
	if (dl > 0 && !quoted)
		(void)snprintf(buf, len, "%s\n%s", e->msg, first);
	else
		(void)snprintf(buf, len, "%s", e->msg[0] ? e->msg : strerror(-r));
}

static void post_event(struct audit *a, const struct pod_info *p, const char *reason,
		       const char *type, const char *message)
{
	if (!a->events)
		return;
	const struct kube_event ev = {
		.ns = p->namespace,
		.name = p->name,
		.uid = p->uid,
		.resource_version = p->resource_version,
		.reason = reason,
		.type = type,
		.message = message,
		.component = AUDIT_EVENT_COMPONENT,
		.host = a->node_name,
	};
	struct error e = {0};
	if (kube_event_post(a->events, &ev, &e) < 0)
		log_warn("audit: cannot record the %s event for pod=%s/%s: %s", reason,
			 p->namespace, p->name, e.msg);
}

/* One pod with its netns (path): adds its entry to rep. */
static int audit_pod(struct audit *a, const struct pod_info *p, const char *path,
		     struct audit_report *rep, char ***announced, size_t *n_announced)
{
	char text[ERROR_MSG_MAX + ERROR_DETAILS_MAX + 2];
	struct error e = {0};
	enum capture_drift drift = CAPTURE_DRIFT_NONE;
	const char *uid = p->uid ? p->uid : "";
	int r = capture_check(p, path, a->conf_ref, &drift, &e);
	if (r == 0)
		return audit_report_add(rep, p->namespace, p->name, AUDIT_STATUS_OK, NULL, false,
					NULL);
	if (r != -EBADMSG) {
		error_text(&e, r, text, sizeof(text));
		/* Still the same drift, as far as anyone knows. */
		if (in_list(a->announced, a->n_announced, uid) &&
		    list_add(announced, n_announced, uid) < 0)
			return -ENOMEM;
		return audit_report_add(rep, p->namespace, p->name, AUDIT_STATUS_UNCHECKED, NULL,
					false, text);
	}
	error_text(&e, r, text, sizeof(text));
	const char *reason = capture_drift_to_string(drift);
	bool known = in_list(a->announced, a->n_announced, uid);
	if (!known) {
		log_warn("audit: pod=%s/%s uid=%s capture drift (%s): %s", p->namespace, p->name,
			 uid, reason, text);
		agent_metrics_count_capture_drift(a->metrics, reason);
		char msg[KUBE_EVENT_MAX_MESSAGE];
		(void)snprintf(msg, sizeof(msg), "capture rules differ from the plan (%s): %s",
			       reason, text);
		post_event(a, p, AUDIT_EVENT_REASON_DRIFT, KUBE_EVENT_TYPE_WARNING, msg);
	}
	bool repaired = false;
	if (a->repair) {
		struct error ae = {0};
		struct capture_outcome out = {0};
		int ar = capture_apply(p, path, a->conf_ref, &out, &ae);
		if (ar >= 0) {
			repaired = true;
			log_info("audit: repaired pod=%s/%s uid=%s in place (%s, backend %s)",
				 p->namespace, p->name, uid, reason,
				 redirect_backend_to_string(out.backend));
			char msg[256];
			(void)snprintf(msg, sizeof(msg),
				       "capture rules put back in place (they were %s)", reason);
			post_event(a, p, AUDIT_EVENT_REASON_REPAIRED, KUBE_EVENT_TYPE_NORMAL, msg);
		} else if (!known) {
			log_error("audit: cannot repair pod=%s/%s: %s", p->namespace, p->name,
				  ae.msg);
		}
	}
	/* A repaired pod is checked afresh by the next pass. */
	if (!repaired && list_add(announced, n_announced, uid) < 0)
		return -ENOMEM;
	return audit_report_add(rep, p->namespace, p->name, AUDIT_STATUS_DRIFT, reason, repaired,
				text);
}

/* CPU time of the calling thread, in microseconds. */
static uint64_t thread_cpu_us(void)
{
	struct timespec ts;
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) < 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/*
 * The meshed pods of this node among pods[0..n): into sel, with the IPs
 * their netns is looked up by into want (one[] holds a lone pod_ip).
 * Returns how many.
 */
static size_t select_meshed(const struct audit *a, const struct pod_info *const *pods, size_t n,
			    struct netns_find_want *want, const struct pod_info **sel,
			    const char **one)
{
	size_t n_sel = 0;
	for (size_t i = 0; i < n; i++) {
		const struct pod_info *p = pods[i];
		if (audit_select_pod(p, a->node_name, a->conf_ref) != AUDIT_SELECTED)
			continue;
		if (!meshed(p))
			continue;
		want[n_sel] = (struct netns_find_want){.fd = -1};
		if (p->n_pod_ips) {
			want[n_sel].ips = (const char *const *)p->pod_ips;
			want[n_sel].n_ips = p->n_pod_ips;
		} else {
			one[n_sel] = p->pod_ip;
			want[n_sel].ips = &one[n_sel];
			want[n_sel].n_ips = 1;
		}
		sel[n_sel++] = p;
	}
	return n_sel;
}

/* The pod counts of one pass, for its log line. */
struct pass_counts {
	size_t drift;
	size_t unchecked;
};

/*
 * Checks the selected pods, each in its netns (want[i].fd), adding their
 * entries to rep and the uids whose drift stays announced to announced.
 * Returns 1 when all were checked, 0 when the agent is stopping (the
 * report's error says so), or a negative errno.
 */
static int check_selected(struct audit *a, const struct pod_info *const *sel,
			  const struct netns_find_want *want, size_t n_sel,
			  struct audit_report *rep, char ***announced, size_t *n_announced,
			  struct pass_counts *counts)
{
	for (size_t i = 0; i < n_sel; i++) {
		const struct pod_info *p = sel[i];
		int r;
		if (atomic_load(&a->stop))
			return audit_report_set_error(rep, "the agent is stopping");
		if (want[i].fd < 0) {
			char msg[300];
			(void)snprintf(msg, sizeof(msg), "no network namespace under %s holds %s",
				       a->proc_dir, want[i].ips[0]);
			r = audit_report_add(rep, p->namespace, p->name, AUDIT_STATUS_UNCHECKED,
					     NULL, false, msg);
		} else {
			char path[64];
			(void)snprintf(path, sizeof(path), "/proc/self/fd/%d", want[i].fd);
			r = audit_pod(a, p, path, rep, announced, n_announced);
		}
		if (r < 0)
			return r;
		counts->drift += rep->v[rep->n - 1].status == AUDIT_STATUS_DRIFT;
		counts->unchecked += rep->v[rep->n - 1].status == AUDIT_STATUS_UNCHECKED;
	}
	return 1;
}

/* Test-only: waits while the hold file exists (AUDIT_TEST_ONLY_HOLD_FILE_ENV). */
static void test_hold(struct audit *a)
{
	if (!a->test_hold_path || access(a->test_hold_path, F_OK) != 0)
		return;
	log_info("audit: test-only hold: the pass waits while %s exists", a->test_hold_path);
	while (!atomic_load(&a->stop) && access(a->test_hold_path, F_OK) == 0) {
		struct timespec ts = {.tv_nsec = 20 * 1000000L};
		(void)nanosleep(&ts, NULL);
	}
}

/* One pass; called with a->pass_lock held. The report's error says when it could not run. */
static int pass(struct audit *a, struct audit_report *rep)
{
	struct pod_snapshot snap = {0};
	uint64_t t0 = monotonic_ms(), c0 = thread_cpu_us();
	int r = pod_cache_snapshot(a->pods, &snap);
	if (r == -EAGAIN)
		return audit_report_set_error(rep, "the pod cache has not synced yet") < 0
			       ? -ENOMEM
			       : -EAGAIN;
	if (r < 0)
		return r;

	test_hold(a);
	const struct pod_info *const *pods = snap.pods;
	size_t n = snap.n;
	uint64_t c1 = thread_cpu_us();
	_cleanup_free_ struct netns_find_want *want = calloc(n ? n : 1, sizeof(*want));
	// NOLINTNEXTLINE(bugprone-sizeof-expression): sizeof(*p) of an array of pointers
	_cleanup_free_ const struct pod_info **sel = calloc(n ? n : 1, sizeof(*sel));
	const char **one = calloc(n ? n : 1, sizeof(*one));
	char **announced = NULL;
	size_t n_sel = 0, n_announced = 0;
	if (!want || !sel || !one) {
		r = -ENOMEM;
		goto out;
	}
	n_sel = select_meshed(a, pods, n, want, sel, one);
	if (n_sel > 0) {
		struct error e = {0};
		r = netns_find(a->proc_dir, want, n_sel, &e);
		if (r < 0) {
			char msg[ERROR_MSG_MAX + 64];
			(void)snprintf(msg, sizeof(msg), "cannot look for network namespaces: %s",
				       e.msg);
			r = audit_report_set_error(rep, msg);
			goto out;
		}
	}
	uint64_t c2 = thread_cpu_us();
	struct pass_counts counts = {0};
	r = check_selected(a, sel, want, n_sel, rep, &announced, &n_announced, &counts);
	if (r <= 0)
		goto out;
	uint64_t c3 = thread_cpu_us();
	log_emit(counts.drift || counts.unchecked ? LOG_LEVEL_INFO : LOG_LEVEL_DEBUG,
		 "audit: %zu meshed pods of %zu checked in %llu ms: %zu drifted, %zu unchecked "
		 "(CPU: snapshot %llu us, filter and netns scan %llu us, checks %llu us)",
		 n_sel, n, (unsigned long long)(monotonic_ms() - t0), counts.drift,
		 counts.unchecked, (unsigned long long)(c1 - c0), (unsigned long long)(c2 - c1),
		 (unsigned long long)(c3 - c2));
	strv_free(a->announced, a->n_announced);
	a->announced = TAKE_PTR(announced);
	a->n_announced = n_announced;
	n_announced = 0;
	r = 0;
out:
	for (size_t i = 0; i < n_sel; i++)
		if (want[i].fd >= 0)
			(void)close(want[i].fd);
	strv_free(announced, n_announced);
	free(one);
	pod_snapshot_release(&snap);
	return r;
}

void audit_answer_done(struct audit_answer *ans)
{
	free(ans->body);
	*ans = (struct audit_answer){0};
}

static int answer_copy(const struct audit_answer *src, struct audit_answer *ret)
{
	*ret = (struct audit_answer){.status = src->status};
	if (!src->body)
		return 0;
	ret->body = malloc(src->len + 1);
	if (!ret->body)
		return -ENOMEM;
	memcpy(ret->body, src->body, src->len + 1);
	ret->len = src->len;
	return 0;
}

/*
 * The HTTP answer for a pass that returned r with rep: 200 with the report,
 * 503 when the report says the pass could not run, 500 when it failed
 * without a report; status 0 when out of memory.
 */
static void make_answer(int r, const struct audit_report *rep, struct audit_answer *ret)
{
	*ret = (struct audit_answer){0};
	if (r < 0 && !rep->error) {
		char msg[128];
		(void)snprintf(msg, sizeof(msg), "{\"pods\":[],\"error\":\"the pass failed: %s\"}",
			       strerror(-r));
		ret->body = strdup(msg);
		ret->len = ret->body ? strlen(ret->body) : 0;
		ret->status = ret->body ? 500 : 0;
		return;
	}
	if (audit_report_to_json(rep, &ret->body, &ret->len) < 0) {
		*ret = (struct audit_answer){0};
		return;
	}
	ret->status = rep->error ? 503 : 200;
}

/* The answer of a pass that cannot run because the agent is stopping. */
static void stopping_answer(struct audit_answer *ret)
{
	struct audit_report rep = {0};
	*ret = (struct audit_answer){0};
	if (audit_report_set_error(&rep, "the agent is stopping") >= 0)
		make_answer(-ECANCELED, &rep, ret);
	audit_report_done(&rep);
}

/*
 * A pass (demand: an on-demand request waits for it): its report becomes
 * the last one, and its answer the latest, also into *ret_ans (the caller's).
 */
static int run_pass(struct audit *a, bool demand, struct audit_answer *ret_ans)
{
	struct audit_report rep = {0};
	(void)pthread_mutex_lock(&a->pass_lock);
	int r = pass(a, &rep);
	(void)pthread_mutex_unlock(&a->pass_lock);
	struct audit_answer ans, keep = {0};
	make_answer(r, &rep, &ans);
	if (answer_copy(&ans, &keep) < 0)
		keep = (struct audit_answer){0};

	(void)pthread_mutex_lock(&a->lock);
	if (r >= 0 || rep.error) {
		audit_report_done(&a->last);
		a->last = rep;
		a->have_last = true;
		rep = (struct audit_report){0};
	}
	audit_answer_done(&a->answer);
	a->answer = keep;
	a->have_answer = true;
	if (demand) {
		a->last_demand_ms = monotonic_ms();
		a->have_demand_pass = true;
	}
	(void)pthread_mutex_unlock(&a->lock);
	audit_report_done(&rep);
	*ret_ans = ans;
	return r;
}

int audit_run(struct audit *a, bool fresh, struct audit_report *ret)
{
	(void)pthread_mutex_lock(&a->lock);
	uint64_t now = monotonic_ms(), id = 0;
	if (fresh || !a->have_last || !a->have_demand_pass ||
	    now - a->last_demand_ms >= AUDIT_MIN_PASS_INTERVAL_MS)
		id = ++a->passes_started;
	(void)pthread_mutex_unlock(&a->lock);
	int r = 0;
	if (id) {
		struct audit_answer ans;
		r = run_pass(a, true, &ans);
		audit_answer_done(&ans);
	}
	(void)pthread_mutex_lock(&a->lock);
	/* -EAGAIN and the like come with a report saying so. */
	if (r >= 0 || (a->have_last && a->last.error))
		r = audit_report_copy(&a->last, ret);
	(void)pthread_mutex_unlock(&a->lock);
	return r;
}

/*
 * Waits until an on-demand request wants a pass or due_ms (monotonic) has
 * come; false when the agent is stopping. *ret_id: the pass's id;
 * *ret_demand: a request waits for it.
 */
static bool next_pass(struct audit *a, uint64_t due_ms, uint64_t *ret_id, bool *ret_demand)
{
	const struct timespec ts = {.tv_sec = (time_t)(due_ms / 1000),
				    .tv_nsec = (long)(due_ms % 1000) * 1000000L};
	(void)pthread_mutex_lock(&a->lock);
	while (!atomic_load(&a->stop) && a->demanded <= a->passes_started &&
	       monotonic_ms() < due_ms)
		(void)pthread_cond_timedwait(&a->cond, &a->lock, &ts);
	bool go = !atomic_load(&a->stop);
	if (go) {
		*ret_id = ++a->passes_started;
		*ret_demand = a->demanded >= *ret_id;
	}
	(void)pthread_mutex_unlock(&a->lock);
	return go;
}

/* Tells the health server that pass id ended, with its answer. */
static void notify(struct audit *a, uint64_t id, const struct audit_answer *ans)
{
	(void)pthread_mutex_lock(&a->notify_lock);
	if (a->notify)
		a->notify(a->notify_ud, id, ans->status, ans->body, ans->len);
	(void)pthread_mutex_unlock(&a->notify_lock);
}

/*
 * Runs the periodic passes and the on-demand ones. An on-demand pass that
 * runs when a periodic one is due counts as that one; one that runs earlier
 * leaves the periodic schedule as it was.
 */
static void *audit_thread(void *arg)
{
	struct audit *a = arg;
	bool synced_once = false;
	uint64_t due_ms = 0; /* the first pass now, the next as soon as the cache syncs */
	uint64_t id;
	bool demand;
	while (next_pass(a, due_ms, &id, &demand)) {
		bool periodic = monotonic_ms() >= due_ms;
		struct audit_answer ans;
		int r = run_pass(a, demand, &ans);
		notify(a, id, &ans);
		audit_answer_done(&ans);
		if (r < 0 && r != -EAGAIN)
			log_warn("audit: the pass failed: %s", strerror(-r));
		if (!periodic)
			continue;
		if (r == -EAGAIN) {
			/* The first pass comes as soon as the cache has synced. */
			due_ms = monotonic_ms() + AUDIT_SYNC_POLL_MS;
			continue;
		}
		if (r >= 0 && !synced_once)
			log_info("audit: first pass done; next every %u s", a->interval_s);
		synced_once = true;
		due_ms = monotonic_ms() + (uint64_t)a->interval_s * 1000;
	}
	/* Requests still waiting get the answer of a pass cut short. */
	struct audit_answer ans;
	stopping_answer(&ans);
	notify(a, UINT64_MAX, &ans);
	audit_answer_done(&ans);
	return NULL;
}

int audit_new(const struct audit_options *opts, struct audit **ret, struct error *err)
{
	_cleanup_(audit_freep) struct audit *a = calloc(1, sizeof(*a));
	if (!a)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	atomic_init(&a->stop, false);
	a->pods = opts->pods;
	a->conf_ref = opts->conf;
	a->interval_s = opts->interval_s ? opts->interval_s : AGENT_AUDIT_DEFAULT_INTERVAL_S;
	a->repair = opts->repair;
	a->metrics = opts->metrics;
	a->proc_dir = strdup(opts->proc_dir ? opts->proc_dir : REPAIR_DEFAULT_HOST_PROC_DIR);
	if (!a->proc_dir || (opts->node_name && !(a->node_name = strdup(opts->node_name))) ||
	    (opts->test_hold_path && !(a->test_hold_path = strdup(opts->test_hold_path))))
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	int r = monotonic_cond_init(&a->lock, &a->cond);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "audit: cannot make a lock");
	r = -pthread_mutex_init(&a->pass_lock, NULL);
	if (r < 0) {
		(void)pthread_mutex_destroy(&a->lock);
		(void)pthread_cond_destroy(&a->cond);
		return error_set(err, ERR_INTERNAL, r, "audit: cannot make a lock");
	}
	r = -pthread_mutex_init(&a->notify_lock, NULL);
	if (r < 0) {
		(void)pthread_mutex_destroy(&a->pass_lock);
		(void)pthread_mutex_destroy(&a->lock);
		(void)pthread_cond_destroy(&a->cond);
		return error_set(err, ERR_INTERNAL, r, "audit: cannot make a lock");
	}
	a->lock_ready = true;
	if (opts->kc) {
		r = kube_client_new(opts->kc, NULL, &a->events, err);
		if (r < 0)
			return error_prefix(err, r, "audit: the Events client");
		kube_client_set_cancel(a->events, &a->stop);
	}
	if (opts->start_thread) {
		r = pthread_create(&a->thread, NULL, audit_thread, a);
		if (r != 0)
			return error_set(err, ERR_INTERNAL, -r, "cannot start the audit thread");
		a->running = true;
	}
	*ret = TAKE_PTR(a);
	return 0;
}

void audit_signal_stop(struct audit *a)
{
	if (!a || !a->lock_ready)
		return;
	/* The flag first: a pass in progress sees it and ends. */
	atomic_store(&a->stop, true);
	(void)pthread_mutex_lock(&a->lock);
	(void)pthread_cond_broadcast(&a->cond);
	(void)pthread_mutex_unlock(&a->lock);
}

void audit_free(struct audit *a)
{
	if (!a)
		return;
	if (a->running) {
		audit_signal_stop(a);
		(void)pthread_join(a->thread, NULL);
	}
	kube_client_free(a->events);
	if (a->lock_ready) {
		(void)pthread_mutex_destroy(&a->notify_lock);
		(void)pthread_mutex_destroy(&a->pass_lock);
		(void)pthread_mutex_destroy(&a->lock);
		(void)pthread_cond_destroy(&a->cond);
	}
	audit_report_done(&a->last);
	audit_answer_done(&a->answer);
	strv_free(a->announced, a->n_announced);
	if (a->conf)
		(void)netconf_free(a->conf);
	free(a->node_name);
	free(a->proc_dir);
	free(a->test_hold_path);
	free(a);
}

/*
 * Answered at once: when the agent is stopping; when no thread runs passes
 * (a pass in the caller's thread); or when an on-demand pass ended less than
 * AUDIT_MIN_PASS_INTERVAL_MS ago (the latest pass's answer: a client that
 * asks in a loop costs at most one pass a second). Otherwise the answer is
 * that of a pass that starts after the request arrived: a pass in progress
 * took its pod snapshot before the request and does not answer it (the
 * report always shows what was true after the operator asked), and every
 * request that arrives before the next pass starts shares that pass.
 */
int audit_http_begin(void *ud, uint64_t *ret_ticket, unsigned *ret_status, char **ret_body,
		     size_t *ret_len)
{
	struct audit *a = ud;
	struct audit_answer ans = {0};
	int r = 0;
	(void)pthread_mutex_lock(&a->lock);
	if (atomic_load(&a->stop)) {
		(void)pthread_mutex_unlock(&a->lock);
		stopping_answer(&ans);
	} else if (!a->running) {
		(void)pthread_mutex_unlock(&a->lock);
		struct audit_report rep = {0};
		r = audit_run(a, false, &rep);
		make_answer(r, &rep, &ans);
		audit_report_done(&rep);
	} else if (a->have_answer && a->have_demand_pass &&
		   monotonic_ms() - a->last_demand_ms < AUDIT_MIN_PASS_INTERVAL_MS) {
		r = answer_copy(&a->answer, &ans);
		(void)pthread_mutex_unlock(&a->lock);
		if (r < 0)
			return r;
	} else {
		*ret_ticket = a->passes_started + 1;
		if (a->demanded < *ret_ticket)
			a->demanded = *ret_ticket;
		(void)pthread_cond_broadcast(&a->cond);
		(void)pthread_mutex_unlock(&a->lock);
		return 0;
	}
	*ret_status = ans.status;
	*ret_body = TAKE_PTR(ans.body);
	*ret_len = ans.len;
	return 1;
}

void audit_http_set_notify(void *ud, audit_notify_fn fn, void *fn_ud)
{
	struct audit *a = ud;
	(void)pthread_mutex_lock(&a->notify_lock);
	a->notify = fn;
	a->notify_ud = fn_ud;
	(void)pthread_mutex_unlock(&a->notify_lock);
}

/* --- The agent's audit. --- */

/* The conf the agent installs, as the plugin decodes it. */
static int installed_conf(const struct agent_config *acfg, struct netconf **ret, struct error *err)
{
	struct install_config cfg;
	agent_config_to_install(acfg, &cfg);
	json_auto_t *entry = NULL;
	int r;
	if (cfg.era == INSTALL_ERA_CURRENT) {
		r = plugin_conf_generate(&cfg, &entry);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "audit: building the plugin conf");
	} else {
		struct plugin_template_storage st;
		struct plugin_template_values v;
		r = plugin_template_values_from_config(&cfg, &st, &v);
		if (r < 0)
			return error_set(err, ERR_CONFIG, r,
					 "CNI_NETWORK_CONFIG: a path is too long");
		/* No token: only the redirect settings and exclusions are read from it. */
		char *text = NULL;
		r = plugin_conf_from_template(cfg.network_config, &v, &text, &entry, err);
		if (text) {
			explicit_bzero(text, strlen(text));
			free(text);
		}
		if (r < 0)
			return r;
	}
	_cleanup_free_ char *s = json_dumps(entry, JSON_COMPACT);
	if (!s)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	return netconf_parse(s, strlen(s), ret, err);
}

int audit_start_agent(const struct agent_config *cfg, const char *const *envp,
		      const struct repair_config *rcfg, struct pod_cache *pods,
		      const struct kubeconfig *kc, struct agent_metrics *metrics,
		      struct audit **ret, struct error *err)
{
	*ret = NULL;
	if (cfg->audit_interval_s == 0) {
		log_info("audit: off (AUDIT_INTERVAL_SECONDS=0)");
		return 0;
	}
	if (!pods) {
		log_warn("audit: off: there is no pod cache without an API server");
		return 0;
	}
	struct netconf *conf = NULL;
	int r = installed_conf(cfg, &conf, err);
	if (r < 0)
		return r;
	const char *proc = rcfg && rcfg->host_proc_dir ? rcfg->host_proc_dir
						       : env_get(envp, "HOST_PROC_DIR");
	const struct audit_options o = {
		.pods = pods,
		.node_name = cfg->node_name,
		.conf = conf,
		.proc_dir = proc ? proc : REPAIR_DEFAULT_HOST_PROC_DIR,
		.interval_s = cfg->audit_interval_s,
		.repair = cfg->repair_enabled && rcfg && rcfg->repair_pods,
		.kc = kc,
		.metrics = metrics,
		.start_thread = true,
		.test_hold_path = env_get(envp, AUDIT_TEST_ONLY_HOLD_FILE_ENV),
	};
	if (o.test_hold_path)
		log_warn("audit: %s is set: every pass waits while %s exists (a test hook; "
			 "never set it in production)",
			 AUDIT_TEST_ONLY_HOLD_FILE_ENV, o.test_hold_path);
	struct audit *a = NULL;
	r = audit_new(&o, &a, err);
	if (r < 0) {
		(void)netconf_free(conf);
		return r;
	}
	a->conf = conf;
	log_info("audit: every %u s, %s, netns from %s, backend %s", o.interval_s,
		 o.repair ? "repairing in place" : "reporting only", o.proc_dir,
		 redirect_backend_to_string(conf->redirect_backend));
	*ret = a;
	return 0;
}

/* --- `istio-cni-agent audit`. --- */

#define AUDIT_CLIENT_TIMEOUT_MS 120000
#define AUDIT_CLIENT_MAX_BODY (16u << 20)

static int read_all(int fd, char **ret, size_t *ret_len)
{
	size_t cap = 8192, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	uint64_t deadline = monotonic_ms() + AUDIT_CLIENT_TIMEOUT_MS;
	for (;;) {
		uint64_t now = monotonic_ms();
		if (now >= deadline) {
			free(buf);
			return -ETIMEDOUT;
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int pr = poll(&pfd, 1, (int)(deadline - now));
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			free(buf);
			return pr == 0 ? -ETIMEDOUT : -errno;
		}
		if (len + 1 >= cap) {
			if (cap >= AUDIT_CLIENT_MAX_BODY) {
				free(buf);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

int audit_client_main(uint16_t port, unsigned timeout_s, FILE *out, FILE *errout)
{
	_cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(errout, "audit: cannot make a socket: %m\n");
		return 2;
	}
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(errout, "audit: cannot reach the agent on 127.0.0.1:%u: %m\n", port);
		return 2;
	}
	char query[48] = "";
	if (timeout_s > 0)
		(void)snprintf(query, sizeof(query), "?timeoutSeconds=%u", timeout_s);
	char req[192];
	int n = snprintf(req, sizeof(req),
			 "GET " AUDIT_HTTP_PATH "%s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n\r\n", query,
			 port);
	if (write(fd, req, (size_t)n) != n) {
		fprintf(errout, "audit: cannot send the request: %m\n");
		return 2;
	}
	_cleanup_free_ char *resp = NULL;
	size_t len = 0;
	int r = read_all(fd, &resp, &len);
	if (r < 0) {
		fprintf(errout, "audit: no answer from the agent: %s\n", strerror(-r));
		return 2;
	}
	unsigned status = 0;
	const char *body = resp ? strstr(resp, "\r\n\r\n") : NULL;
	// NOLINTNEXTLINE(cert-err34-c): status is only compared with 404; the body decides the rest
	if (!body || sscanf(resp, "HTTP/%*u.%*u %u", &status) != 1) {
		fprintf(errout, "audit: the agent's answer is not HTTP\n");
		return 2;
	}
	body += 4;
	if (status == 404) {
		fprintf(errout, "audit: the agent has the audit off (AUDIT_INTERVAL_SECONDS=0, or "
				"no API server)\n");
		return 2;
	}
	struct audit_report rep = {0};
	struct error err = {0};
	size_t body_len = len - (size_t)(body - resp);
	r = audit_report_from_json(body, body_len, &rep, &err);
	if (r < 0) {
		/* An error the server itself answered (a deadline, the agent
		 * stopping) is one line of text. */
		bool plain = status >= 400 && body_len > 0 && body[0] != '{';
		size_t first = plain ? strcspn(body, "\r\n") : 0;
		if (plain)
			fprintf(errout, "audit: HTTP %u: %.*s\n", status, (int)first, body);
		else
			fprintf(errout, "audit: HTTP %u: %s\n", status, err.msg);
		return 2;
	}
	_cleanup_free_ char *text = NULL;
	r = audit_report_to_text(&rep, &text);
	int code = audit_report_exit_code(&rep);
	audit_report_done(&rep);
	if (r < 0) {
		fprintf(errout, "audit: out of memory\n");
		return 2;
	}
	fputs(text, out);
	return code;
}
