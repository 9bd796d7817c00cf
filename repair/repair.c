// SPDX-License-Identifier: Apache-2.0
/*
 * The repair loop: one long-lived pod watch (pod_watch) delivers this node's
 * pods; broken ones go into a queue keyed by uid, worked through the token
 * bucket at once from the event that queued them and, for what the bucket
 * or a pod's backoff held back, from the watch's tick (about once a
 * second, events or not). Each pod is tried at most REPAIR_MAX_ATTEMPTS
 * times. The writes go through a second client (a clone of the watch's), so
 * that they can be made while the watch's transfer is open.
 * A uid acted on successfully is remembered until its pod is deleted, so a
 * replayed or relisted event never causes a second action; one given up
 * after transient failures is not, so that its next update tries again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "capture/capture.h"
#include "kube/kube_event.h"
#include "kube/pod_info.h"
#include "kube/pod_watch.h"
#include "netlink/netns_find.h"
#include "repair.h"
#include "util/istio_names.h"
#include "util/log.h"
#include "util/monotonic.h"

/*
 * How long one tick may keep working the queue, sleeping until the bucket
 * refills, before it lets the watch read on: the bucket's rate is then
 * reached even when it exceeds its burst per tick.
 */
#define TICK_DRAIN_MS 1000

struct item {
	struct item *next;
	char *uid;
	char *ns;
	char *name;
	char *rv;
	struct pod_info *pod; /* repair in place only */
	unsigned failures;
	uint64_t due_ms;
	uint64_t retry_after_ms; /* the server's Retry-After on the last failure */
};

struct done {
	char **uids;
	size_t n, cap;
};

struct repair {
	const struct repair_config *cfg;
	struct kube_client *w; /* writes: DELETE, PATCH, POST Event (borrowed) */
	struct repair_hooks hooks;
	enum repair_action action;
	struct item *head, *tail;
	size_t queued;
	struct done done;
	struct repair_bucket bucket;
};

static void count(struct repair *rp, const char *result)
{
	if (rp->hooks.count)
		rp->hooks.count(rp->hooks.ud, repair_action_to_string(rp->action), result);
}

static void item_free(struct item *it)
{
	if (!it)
		return;
	free(it->uid);
	free(it->ns);
	free(it->name);
	free(it->rv);
	(void)pod_info_free(it->pod);
	free(it);
}

static bool done_has(const struct done *d, const char *uid)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->uids[i], uid) == 0)
			return true;
	return false;
}

static int done_add(struct done *d, const char *uid)
{
	if (done_has(d, uid))
		return 0;
	if (d->n == d->cap) {
		size_t nc = d->cap ? d->cap * 2 : 32;
		char **u = reallocarray(d->uids, nc, sizeof(*u));
		if (!u)
			return -ENOMEM;
		d->uids = u;
		d->cap = nc;
	}
	char *s = strdup(uid);
	if (!s)
		return -ENOMEM;
	d->uids[d->n++] = s;
	return 0;
}

static void done_remove(struct done *d, const char *uid)
{
	for (size_t i = 0; i < d->n; i++)
		if (strcmp(d->uids[i], uid) == 0) {
			free(d->uids[i]);
			d->uids[i] = d->uids[--d->n];
			return;
		}
}

static struct item **queue_find(struct repair *rp, const char *uid)
{
	struct item **pp = &rp->head;
	for (; *pp; pp = &(*pp)->next)
		if (strcmp((*pp)->uid, uid) == 0)
			return pp;
	return pp;
}

static void queue_unlink(struct repair *rp, struct item **pp)
{
	struct item *it = *pp;
	*pp = it->next;
	if (rp->tail == it) {
		rp->tail = NULL;
		for (struct item *x = rp->head; x; x = x->next)
			rp->tail = x;
	}
	rp->queued--;
	item_free(it);
}

static int set_str(char **dst, const char *v)
{
	char *c = strdup(v ? v : "");
	if (!c)
		return -ENOMEM;
	free(*dst);
	*dst = c;
	return 0;
}

/* Queues (or refreshes) a broken pod. Returns 1 when it is new. */
static int enqueue(struct repair *rp, const struct pod_info *p)
{
	struct item **pp = queue_find(rp, p->uid);
	struct item *it = *pp;
	bool fresh = !it;
	if (fresh) {
		it = calloc(1, sizeof(*it));
		if (!it)
			return -ENOMEM;
		if (set_str(&it->uid, p->uid) < 0 || set_str(&it->ns, p->namespace) < 0 ||
		    set_str(&it->name, p->name) < 0) {
			item_free(it);
			return -ENOMEM;
		}
		it->due_ms = monotonic_ms();
	}
	if (set_str(&it->rv, p->resource_version) < 0) {
		if (fresh)
			item_free(it);
		return -ENOMEM;
	}
	if (rp->action == REPAIR_ACTION_REPAIR) {
		struct pod_info *copy = NULL;
		if (pod_info_dup(p, &copy) < 0) {
			if (fresh)
				item_free(it);
			return -ENOMEM;
		}
		(void)pod_info_free(it->pod);
		it->pod = copy;
	}
	if (fresh) {
		if (rp->tail)
			rp->tail->next = it;
		else
			rp->head = it;
		rp->tail = it;
		rp->queued++;
	}
	return fresh ? 1 : 0;
}

static bool bucket_ready(const struct repair_bucket *b, unsigned n, uint64_t now)
{
	double t = b->tokens + (now > b->last_ms ? (double)(now - b->last_ms) * b->rate : 0);
	double need = n > b->burst ? b->burst : n;
	return t >= need;
}

/* Writes an action takes from the bucket: the action (unless in place) and its Event. */
static unsigned writes_for(enum repair_action a)
{
	return a == REPAIR_ACTION_REPAIR ? 1 : 2;
}

static uint64_t process(struct repair *rp);

int repair_on_pod(struct repair *rp, enum kube_watch_type type, const struct pod_info *p)
{
	if (!p->uid || !*p->uid)
		return 0;
	if (type == KUBE_WATCH_DELETED) {
		struct item **pp = queue_find(rp, p->uid);
		if (*pp)
			queue_unlink(rp, pp);
		done_remove(&rp->done, p->uid);
		return 0;
	}
	if (type != KUBE_WATCH_ADDED && type != KUBE_WATCH_MODIFIED)
		return 0;
	if (!repair_pod_is_broken(rp->cfg, p)) {
		/* Recovered (or never broken): nothing to retry. */
		struct item **pp = queue_find(rp, p->uid);
		if (*pp)
			queue_unlink(rp, pp);
		return 0;
	}
	if (done_has(&rp->done, p->uid))
		return 0;
	if (rp->action == REPAIR_ACTION_LABEL && pod_info_label(p, rp->cfg->broken_pod_label_key)) {
		log_debug("repair: pod=%s/%s already labelled", p->namespace, p->name);
		count(rp, "skip");
		return done_add(&rp->done, p->uid) < 0 ? -ENOMEM : 0;
	}
	int r = enqueue(rp, p);
	if (r < 0)
		return r;
	/* Act now when the bucket allows; otherwise a tick will. */
	if (r > 0 && bucket_ready(&rp->bucket, writes_for(rp->action), monotonic_ms()))
		(void)process(rp);
	return 0;
}

/* Posts an Event about it; failures are logged, never retried. */
static void post_event(struct repair *rp, const struct item *it, const char *reason,
		       const char *type, const char *message)
{
	const struct kube_event ev = {
		.ns = it->ns,
		.name = it->name,
		.uid = it->uid,
		.resource_version = it->rv,
		.reason = reason,
		.type = type,
		.message = message,
		.component = REPAIR_EVENT_COMPONENT,
		.host = rp->cfg->node_name,
	};
	struct error e = {0};
	int r = kube_event_post(rp->w, &ev, &e);
	if (r < 0)
		log_warn("repair: cannot record the %s event for pod=%s/%s: %s", reason, it->ns,
			 it->name, e.msg);
}

enum outcome {
	OUTCOME_DONE,	/* acted (or nothing left to act on) */
	OUTCOME_RETRY,	/* transient: again after backoff */
	OUTCOME_FAILED, /* permanent for this pod */
};

static enum outcome classify(int r)
{
	const int transient[] = {-EAGAIN,     -ETIMEDOUT, -ECONNREFUSED, -EHOSTUNREACH, -EIO,
				 -ECONNRESET, -EBUSY,	  -ENOENT,	 -ENOMEM};
	for (size_t i = 0; i < ELEMENTSOF(transient); i++)
		if (r == transient[i])
			return OUTCOME_RETRY;
	return OUTCOME_FAILED;
}

static enum outcome do_delete(struct repair *rp, struct item *it, struct error *e)
{
	_cleanup_free_ char *path = NULL;
	if (kube_pod_path(it->ns, it->name, NULL, &path) < 0) {
		(void)error_set(e, ERR_CONFIG, -EINVAL, "bad pod name");
		return OUTCOME_FAILED;
	}
	struct kube_status st = {0};
	int r = kube_client_delete(rp->w, path, it->uid, it->rv, NULL, &st, e);
	it->retry_after_ms = st.retry_after_ms;
	if (r >= 0) {
		log_info("repair: deleted broken pod=%s/%s uid=%s", it->ns, it->name, it->uid);
		post_event(rp, it, EVENT_REASON_DELETE_BROKEN_POD, "Warning",
			   "pod detected as broken, deleted");
		count(rp, "success");
		return OUTCOME_DONE;
	}
	if (st.http_code == 404) {
		log_info("repair: broken pod=%s/%s uid=%s already gone", it->ns, it->name, it->uid);
		return OUTCOME_DONE;
	}
	if (st.http_code == 409) {
		/* Replaced or changed since we saw it: never delete the new one. A
		 * newer event of the same pod queues it again. */
		log_info("repair: not deleting pod=%s/%s uid=%s: it changed since it was seen "
			 "broken",
			 it->ns, it->name, it->uid);
		return OUTCOME_DONE;
	}
	return st.http_code == 0 || st.http_code == 408 || st.http_code == 429 ||
			       st.http_code >= 500
		       ? OUTCOME_RETRY
		       : OUTCOME_FAILED;
}

static enum outcome do_label(struct repair *rp, struct item *it, struct error *e)
{
	_cleanup_free_ char *path = NULL;
	if (kube_pod_path(it->ns, it->name, "status", &path) < 0) {
		(void)error_set(e, ERR_CONFIG, -EINVAL, "bad pod name");
		return OUTCOME_FAILED;
	}
	json_auto_t *patch = json_pack("{s:{s:{s:s}}}", "metadata", "labels",
				       rp->cfg->broken_pod_label_key,
				       rp->cfg->broken_pod_label_value);
	if (!patch)
		return OUTCOME_RETRY;
	struct kube_status st = {0};
	int r = kube_client_patch(rp->w, path, patch, NULL, &st, e);
	it->retry_after_ms = st.retry_after_ms;
	if (r >= 0) {
		log_info("repair: labelled broken pod=%s/%s uid=%s %s=%s", it->ns, it->name,
			 it->uid, rp->cfg->broken_pod_label_key, rp->cfg->broken_pod_label_value);
		char msg[600];
		(void)snprintf(msg, sizeof(msg), "pod detected as broken, labeled with %s=%s",
			       rp->cfg->broken_pod_label_key, rp->cfg->broken_pod_label_value);
		post_event(rp, it, EVENT_REASON_LABEL_BROKEN_POD, "Warning", msg);
		count(rp, "success");
		return OUTCOME_DONE;
	}
	if (st.http_code == 404)
		return OUTCOME_DONE;
	return st.http_code == 0 || st.http_code == 408 || st.http_code == 429 ||
			       st.http_code >= 500
		       ? OUTCOME_RETRY
		       : OUTCOME_FAILED;
}

static enum outcome do_repair(struct repair *rp, struct item *it, struct error *e)
{
	const struct pod_info *p = it->pod;
	if (!p) {
		(void)error_set(e, ERR_INTERNAL, -EINVAL, "no pod to repair");
		return OUTCOME_FAILED;
	}
	const char *one[1] = {p->pod_ip};
	const char *const *ips = (const char *const *)p->pod_ips;
	size_t n = p->n_pod_ips;
	if (n == 0) {
		ips = one;
		n = p->pod_ip ? 1 : 0;
	}
	if (n == 0) {
		(void)error_set(e, ERR_CONFIG, -EINVAL, "the pod has no IP address");
		return OUTCOME_RETRY;
	}
	_cleanup_close_ int fd = -1;
	int r = netns_find_one(rp->cfg->host_proc_dir, ips, n, &fd, e);
	if (r < 0)
		return classify(r);
	/* Not /proc/self: the path is also the iptables children's XTABLES_LOCKFILE,
	 * and in them it must still name this netns (flock locks its inode). */
	char path[64];
	(void)snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)getpid(), fd);
	/* The backend the node's plugin conf selects, as ADD would have used. */
	const struct netconf conf = {.redirect_backend = rp->cfg->redirect_backend};
	struct capture_outcome out = {0};
	r = capture_apply(p, path, &conf, &out, e);
	if (r < 0)
		return e->kind == ERR_CONFIG ? OUTCOME_FAILED : OUTCOME_RETRY;
	if (r > 0) {
		log_info("repair: pod=%s/%s uid=%s is not captured (skip reason %d); nothing "
			 "repaired",
			 it->ns, it->name, it->uid, (int)out.skip);
		count(rp, "skip");
		return OUTCOME_DONE;
	}
	log_info("repair: repaired broken pod=%s/%s uid=%s in place ip=%s ipv6=%s backend=%s",
		 it->ns, it->name, it->uid, ips[0], out.ipv6 ? "true" : "false",
		 redirect_backend_to_string(out.backend));
	post_event(rp, it, EVENT_REASON_REPAIRED_BROKEN_POD, "Normal",
		   "pod detected as broken, repaired in place");
	count(rp, "success");
	return OUTCOME_DONE;
}

/*
 * Works through the due items while tokens last. Returns the ms until the
 * next item can be worked on (UINT64_MAX when the queue is empty).
 */
static uint64_t process(struct repair *rp)
{
	uint64_t next = UINT64_MAX;
	struct item **pp = &rp->head;
	while (*pp) {
		struct item *it = *pp;
		uint64_t now = monotonic_ms();
		if (it->due_ms > now) {
			if (it->due_ms - now < next)
				next = it->due_ms - now;
			pp = &it->next;
			continue;
		}
		uint64_t wait = repair_bucket_take(&rp->bucket, writes_for(rp->action), now);
		if (wait > 0)
			return wait < next ? wait : next;

		struct error e = {0};
		enum outcome o;
		switch (rp->action) {
		case REPAIR_ACTION_DELETE:
			o = do_delete(rp, it, &e);
			break;
		case REPAIR_ACTION_LABEL:
			o = do_label(rp, it, &e);
			break;
		case REPAIR_ACTION_REPAIR:
			o = do_repair(rp, it, &e);
			break;
		default:
			o = OUTCOME_DONE;
			break;
		}
		if (o == OUTCOME_RETRY && ++it->failures < REPAIR_MAX_ATTEMPTS) {
			/* Not before the server's Retry-After (429, 503), within the
			 * backoff's cap. */
			uint64_t backoff = repair_backoff_ms(it->failures);
			if (it->retry_after_ms > backoff)
				backoff = it->retry_after_ms < REPAIR_BACKOFF_MAX_MS
						  ? it->retry_after_ms
						  : REPAIR_BACKOFF_MAX_MS;
			it->due_ms = monotonic_ms() + backoff;
			log_debug("repair: %s pod=%s/%s attempt %u failed: %s",
				  repair_action_to_string(rp->action), it->ns, it->name,
				  it->failures, e.msg);
			/* Move it to the back so others get their turn. */
			if (it->next) {
				*pp = it->next;
				it->next = NULL;
				rp->tail->next = it;
				rp->tail = it;
			} else {
				pp = &it->next;
			}
			continue;
		}
		if (o != OUTCOME_DONE) {
			log_error("repair: could not %s broken pod=%s/%s uid=%s: %s",
				  repair_action_to_string(rp->action), it->ns, it->name, it->uid,
				  e.msg);
			count(rp, "fail");
			if (rp->action == REPAIR_ACTION_DELETE) {
				char msg[ERROR_MSG_MAX + 64];
				(void)snprintf(msg, sizeof(msg),
					       "pod detected as broken, but failed to delete: %s",
					       e.msg);
				post_event(rp, it, EVENT_REASON_DELETE_BROKEN_POD, "Warning", msg);
			}
		}
		/* Acted on, or refused for good: never again for this uid. Given up
		 * after transient failures only (the API server unavailable for
		 * longer than the backoff), it just leaves the queue: the pod's next
		 * update (a broken pod's init container restarts) queues it again
		 * with a fresh budget, so an outage does not leave it broken. */
		if (o != OUTCOME_RETRY && done_add(&rp->done, it->uid) < 0)
			log_warn("repair: out of memory");
		queue_unlink(rp, pp);
	}
	return next;
}

uint64_t repair_tick(struct repair *rp)
{
	return process(rp);
}

int repair_new(const struct repair_config *cfg, struct kube_client *w,
	       const struct repair_hooks *hooks, struct repair **ret, struct error *err)
{
	if (!cfg || !w)
		return error_set(err, ERR_INTERNAL, -EINVAL, "repair without a config or client");
	struct repair *rp = calloc(1, sizeof(*rp));
	if (!rp)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	rp->cfg = cfg;
	rp->w = w;
	if (hooks)
		rp->hooks = *hooks;
	rp->action = repair_action_for(cfg);
	repair_bucket_init(&rp->bucket, cfg->rate_limit, cfg->rate_burst, monotonic_ms());
	*ret = rp;
	return 0;
}

struct repair *repair_free(struct repair *rp)
{
	if (!rp)
		return NULL;
	while (rp->head)
		queue_unlink(rp, &rp->head);
	for (size_t i = 0; i < rp->done.n; i++)
		free(rp->done.uids[i]);
	free(rp->done.uids);
	free(rp);
	return NULL;
}

size_t repair_queued(const struct repair *rp)
{
	return rp->queued;
}

/* --- The standalone loop: its own watch. --- */

struct run {
	struct repair *rp;
	const atomic_bool *stop;
};

static bool stopped(const atomic_bool *stop)
{
	return stop && atomic_load(stop);
}

static void sleep_ms(const atomic_bool *stop, uint64_t ms)
{
	uint64_t end = monotonic_ms() + ms;
	while (!stopped(stop))
		if (monotonic_nap(end))
			return;
}

static int on_event(void *ud, enum kube_watch_type type, json_t *pod)
{
	struct run *run = ud;
	_cleanup_(pod_info_freep) struct pod_info *p = NULL;
	struct error e = {0};
	if (pod_info_from_json(pod, &p, &e) < 0) {
		log_debug("repair: ignoring an undecodable pod: %s", e.msg);
		return 0;
	}
	return repair_on_pod(run->rp, type, p);
}

/*
 * The watch's tick: the items whose backoff ended, and those the bucket held
 * back, for up to TICK_DRAIN_MS when the next one is due within it.
 */
static int on_tick(void *ud)
{
	struct run *run = ud;
	uint64_t until = monotonic_ms() + TICK_DRAIN_MS;
	uint64_t next = repair_tick(run->rp);
	while (next != UINT64_MAX && !stopped(run->stop)) {
		if (monotonic_ms() + next > until)
			break;
		sleep_ms(run->stop, next);
		next = repair_tick(run->rp);
	}
	return 0;
}

int repair_run(const struct repair_config *cfg, struct kube_client *c,
	       const struct repair_hooks *hooks, const atomic_bool *stop, struct error *err)
{
	if (!cfg || !c)
		return error_set(err, ERR_INTERNAL, -EINVAL, "repair_run without a config");
	_cleanup_(kube_client_freep) struct kube_client *w = NULL;
	int r = kube_client_clone(c, &w, err);
	if (r < 0)
		return error_prefix(err, r, "repair: cannot make the client for writes");
	/* A write in flight is abandoned at a stop, as the watch is. */
	kube_client_set_cancel(w, stop);
	_cleanup_(repair_freep) struct repair *rp = NULL;
	r = repair_new(cfg, w, hooks, &rp, err);
	if (r < 0)
		return r;
	struct run run = {.rp = rp, .stop = stop};
	_cleanup_free_ char *fs = NULL;
	if (repair_field_selector(cfg, &fs) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	static const struct pod_watch_callbacks cbs = {.on_event = on_event, .on_tick = on_tick};
	_cleanup_(pod_watch_freep) struct pod_watch *watch = NULL;
	r = pod_watch_new(c, fs, cfg->label_selectors, &cbs, &run, &watch);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "cannot start the pod watch");

	while (!stopped(stop)) {
		/* Daemon: one long WATCH per step (a LIST first, and again after
		 * 410); the actions happen inside it. One pass: the LIST only. */
		if (cfg->run_as_daemon || !pod_watch_synced(watch)) {
			r = pod_watch_step(watch, stop, err);
			if (r < 0)
				return r;
		}
		uint64_t next = repair_tick(rp);
		if (!cfg->run_as_daemon && pod_watch_synced(watch)) {
			if (!rp->head)
				break;
			sleep_ms(stop, next == UINT64_MAX ? 100 : next);
		}
	}
	return 0;
}
