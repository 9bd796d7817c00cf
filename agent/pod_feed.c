// SPDX-License-Identifier: Apache-2.0
#include "pod_feed.h"

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/pod_watch.h"
#include "util/log.h"
#include "util/stopper.h"

struct pod_feed {
	struct pod_feed_subscriber subs[POD_FEED_MAX_SUBSCRIBERS];
	size_t n_subs;
	struct kube_client *client;
	char *node_name;
	char *field_selector;
	struct stopper stopper;
	pthread_t thread;
	bool running;
};

int pod_feed_new(const struct kubeconfig *kc, const char *node_name, struct pod_feed **ret,
		 struct error *err)
{
	if (!node_name || !*node_name)
		return error_set(err, ERR_CONFIG, -EINVAL, "pod feed: no node name");
	struct pod_feed *f = calloc(1, sizeof(*f));
	if (!f)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	int r = stopper_init(&f->stopper);
	if (r < 0) {
		free(f);
		return error_set(err, ERR_INTERNAL, r, "pod feed: cannot make its stopper");
	}
	f->node_name = strdup(node_name);
	if (!f->node_name || asprintf(&f->field_selector, "spec.nodeName=%s", node_name) < 0) {
		f->field_selector = NULL;
		pod_feed_free(f);
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	r = kube_client_new(kc, NULL, &f->client, err);
	if (r < 0) {
		pod_feed_free(f);
		return error_prefix(err, r, "pod feed");
	}
	*ret = f;
	return 0;
}

void pod_feed_free(struct pod_feed *f)
{
	if (!f)
		return;
	pod_feed_stop(f);
	kube_client_free(f->client);
	stopper_destroy(&f->stopper);
	free(f->node_name);
	free(f->field_selector);
	free(f);
}

int pod_feed_add(struct pod_feed *f, const struct pod_feed_subscriber *s)
{
	if (f->running)
		return -EBUSY;
	if (f->n_subs == POD_FEED_MAX_SUBSCRIBERS)
		return -ENOSPC;
	f->subs[f->n_subs++] = *s;
	return 0;
}

const char *pod_feed_node(const struct pod_feed *f)
{
	return f->node_name;
}

static void set_synced(struct pod_feed *f, bool synced)
{
	for (size_t i = 0; i < f->n_subs; i++)
		if (f->subs[i].on_synced)
			f->subs[i].on_synced(f->subs[i].ud, synced);
}

static void failed(struct pod_feed *f, const char *why)
{
	for (size_t i = 0; i < f->n_subs; i++)
		if (f->subs[i].on_failure)
			f->subs[i].on_failure(f->subs[i].ud, why);
}

static int on_event(void *ud, enum kube_watch_type type, json_t *pod)
{
	struct pod_feed *f = ud;
	_cleanup_(pod_info_freep) struct pod_info *p = NULL;
	struct error err = {0};
	/* Decoded once for every subscriber. */
	int r = pod_info_from_json(pod, &p, &err);
	if (r < 0) {
		log_warn("pod feed: event ignored: %s", r == -ENOMEM ? "out of memory" : err.msg);
		return 0;
	}
	for (size_t i = 0; i < f->n_subs; i++)
		(void)f->subs[i].on_pod(f->subs[i].ud, type, p);
	return 0;
}

static int on_synced(void *ud)
{
	set_synced(ud, true);
	/* A (re)list decodes whole pages of pods at once; give what that took
	 * back to the system instead of keeping it in this thread's arena. */
	(void)malloc_trim(0);
	return 0;
}

static int on_unsynced(void *ud)
{
	struct pod_feed *f = ud;
	log_warn("pod feed: the watch of %s failed; relisting", f->field_selector);
	set_synced(f, false);
	return 0;
}

static int on_failure(void *ud, const struct error *err)
{
	failed(ud, err->msg);
	return 0;
}

static int watch_once(struct pod_feed *f, struct error *err)
{
	static const struct pod_watch_callbacks cb = {
		.on_event = on_event,
		.on_synced = on_synced,
		.on_unsynced = on_unsynced,
		.on_failure = on_failure,
	};
	_cleanup_(pod_watch_freep) struct pod_watch *w = NULL;
	int r = pod_watch_new(f->client, f->field_selector, NULL, &cb, f, &w);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "cannot start the pod watch");
	pod_watch_set_page_limit(w, POD_FEED_PAGE_LIMIT);
	while (!stopper_stopped(&f->stopper)) {
		r = pod_watch_step(w, &f->stopper.stop, err);
		if (r != 0)
			return r;
	}
	return 0;
}

static void *feed_thread(void *arg)
{
	struct pod_feed *f = arg;
	while (!stopper_stopped(&f->stopper)) {
		struct error err = {0};
		int r = watch_once(f, &err);
		if (stopper_stopped(&f->stopper))
			break;
		/* Stale answers are worse than none: the plugin asks the API itself. */
		set_synced(f, false);
		if (r < 0) {
			failed(f, err.msg);
			log_error("pod feed: watch of %s failed, retrying in %u ms: %s",
				  f->field_selector, POD_FEED_RESTART_DELAY_MS, err.msg);
		}
		if (stopper_wait(&f->stopper, POD_FEED_RESTART_DELAY_MS))
			break;
	}
	return NULL;
}

int pod_feed_start(struct pod_feed *f, struct error *err)
{
	if (f->running)
		return -EALREADY;
	int r = pthread_create(&f->thread, NULL, feed_thread, f);
	if (r != 0)
		return error_set(err, ERR_INTERNAL, -r, "pod feed: cannot start a thread");
	f->running = true;
	return 0;
}

void pod_feed_signal_stop(struct pod_feed *f)
{
	if (f)
		stopper_stop(&f->stopper);
}

void pod_feed_stop(struct pod_feed *f)
{
	if (!f || !f->running)
		return;
	/* The watch sees the flag within about a second, even mid-request. */
	stopper_stop(&f->stopper);
	(void)pthread_join(f->thread, NULL);
	f->running = false;
}
