// SPDX-License-Identifier: Apache-2.0
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "audit.h"
#include "caps.h"
#include "health_server.h"
#include "installer.h"
#include "kube/kube_client.h"
#include "kube/kubeconfig.h"
#include "kube/pod_selector.h"
#include "log_sink.h"
#include "metrics.h"
#include "plugin_conf.h"
#include "pod_cache.h"
#include "pod_feed.h"
#include "pod_queue.h"
#include "repair.h"
#include "util/log.h"
#include "util/monotonic.h"
#include "util/stopper.h"

/* Warn about a rewriting CNI at most this often. */
#define THROTTLE_WARN_INTERVAL_MS 60000
/* Repeat an unchanged install error at most this often. */
#define ERROR_REPEAT_INTERVAL_MS 60000

/* --- Throttle. --- */

static void throttle_refill(struct install_throttle *t, uint64_t now)
{
	if (now > t->last_ms) {
		t->tokens += (double)(now - t->last_ms) / AGENT_THROTTLE_PERIOD_MS;
		if (t->tokens > 1)
			t->tokens = 1;
	}
	t->last_ms = now;
}

void agent_install_throttle_init(struct install_throttle *t, uint64_t now_ms_)
{
	t->last_ms = now_ms_;
	t->tokens = 1;
	t->hits = 0;
}

uint64_t install_throttle_take(struct install_throttle *t, uint64_t now)
{
	throttle_refill(t, now);
	if (t->tokens >= 1) {
		t->tokens -= 1;
		t->hits = 0;
		return 0;
	}
	/* Rounded up to whole ms (and past float noise) so the token is there. */
	double wait = (1 - t->tokens) * AGENT_THROTTLE_PERIOD_MS;
	uint64_t w = (uint64_t)(wait + 0.999);
	return w > AGENT_THROTTLE_MAX_WAIT_MS ? AGENT_THROTTLE_MAX_WAIT_MS : w;
}

unsigned agent_install_throttle_force(struct install_throttle *t, uint64_t now)
{
	throttle_refill(t, now);
	t->tokens = t->tokens >= 1 ? t->tokens - 1 : 0;
	return ++t->hits;
}

/* --- The repair thread. --- */

/*
 * Repair runs in its own thread. Fed (queue set): the pod feed's subscriber
 * queues the events of the pods repair's selectors take (the others as
 * DELETED: for repair they left its view), and the thread works the queue
 * with repair_on_pod and repair_tick, writing through client. Otherwise
 * (a selector the agent cannot evaluate, another node, no feed):
 * repair_run with its own watch through client.
 */
struct repair_thread {
	struct repair_config cfg;
	bool have_cfg;
	struct kube_client *client;
	struct agent_metrics *metrics;
	struct stopper stopper;
	bool stopper_ready;
	pthread_t thread;
	bool running;
	struct pod_queue *queue;
	struct pod_selector *selector;
};

static void repair_count(void *ud, const char *type, const char *result)
{
	agent_metrics_count_repair(ud, type, result);
}

/* The feed's subscriber (the feed's thread): never blocks on repair's work. */
static int repair_feed_on_pod(void *ud, enum kube_watch_type type, const struct pod_info *pod)
{
	struct repair_thread *rt = ud;
	if (type != KUBE_WATCH_DELETED && !pod_selector_matches(rt->selector, pod))
		type = KUBE_WATCH_DELETED;
	int r = pod_queue_push(rt->queue, type, pod);
	if (r < 0 && r != -ECANCELED)
		log_warn("repair: pod=%s/%s dropped: %s", pod->namespace, pod->name, strerror(-r));
	return 0;
}

static void repair_fed(struct repair_thread *rt, const struct repair_hooks *hooks)
{
	_cleanup_(repair_freep) struct repair *rp = NULL;
	struct error err = {0};
	int r = repair_new(&rt->cfg, rt->client, hooks, &rp, &err);
	if (r < 0) {
		log_error("repair: not started: %s", err.msg);
		return;
	}
	uint64_t next = UINT64_MAX;
	while (!stopper_stopped(&rt->stopper)) {
		enum kube_watch_type type;
		struct pod_info *pod = NULL;
		r = pod_queue_pop(rt->queue, next < 1000 ? (unsigned)next : 1000, &type, &pod);
		if (r == -ECANCELED)
			break;
		if (r == 0) {
			if (repair_on_pod(rp, type, pod) < 0)
				log_warn("repair: out of memory; pod=%s/%s not looked at",
					 pod->namespace, pod->name);
			pod_info_free(pod);
		}
		next = repair_tick(rp);
	}
}

static void *repair_thread_main(void *arg)
{
	struct repair_thread *rt = arg;
	const struct repair_hooks hooks = {.count = repair_count, .ud = rt->metrics};
	if (rt->queue) {
		repair_fed(rt, &hooks);
		return NULL;
	}
	while (!stopper_stopped(&rt->stopper)) {
		struct error err = {0};
		int r = repair_run(&rt->cfg, rt->client, &hooks, &rt->stopper.stop, &err);
		if (stopper_stopped(&rt->stopper))
			break;
		if (r < 0)
			log_error("repair: stopped, restarting in %u ms: %s",
				  AGENT_REPAIR_RESTART_MS, err.msg);
		if (stopper_wait(&rt->stopper, AGENT_REPAIR_RESTART_MS))
			break;
	}
	return NULL;
}

static void repair_thread_signal_stop(struct repair_thread *rt)
{
	if (!rt->running)
		return;
	stopper_stop(&rt->stopper);
	if (rt->queue)
		pod_queue_close(rt->queue);
}

static void repair_thread_stop(struct repair_thread *rt)
{
	if (rt->running) {
		repair_thread_signal_stop(rt);
		(void)pthread_join(rt->thread, NULL);
		rt->running = false;
	}
	kube_client_free(rt->client);
	rt->client = NULL;
	pod_queue_free(rt->queue);
	rt->queue = NULL;
	pod_selector_free(rt->selector);
	rt->selector = NULL;
	if (rt->stopper_ready)
		stopper_destroy(&rt->stopper);
	rt->stopper_ready = false;
	if (rt->have_cfg)
		repair_config_done(&rt->cfg);
	rt->have_cfg = false;
}

/*
 * Whether repair can take its pods from feed: same node, and selectors
 * evaluated here. Otherwise logs why, and repair watches on its own.
 */
static bool repair_can_use_feed(struct repair_thread *rt, struct pod_feed *feed)
{
	if (!feed) {
		log_info("repair: no pod feed; repair watches the pods itself");
		return false;
	}
	if (!rt->cfg.node_name || strcmp(rt->cfg.node_name, pod_feed_node(feed)) != 0) {
		log_info("repair: its node (%s) is not the agent's (%s); repair watches the pods "
			 "itself",
			 rt->cfg.node_name && *rt->cfg.node_name ? rt->cfg.node_name : "any",
			 pod_feed_node(feed));
		return false;
	}
	struct error err = {0};
	int r = pod_selector_parse(rt->cfg.label_selectors, rt->cfg.field_selectors, &rt->selector,
				   &err);
	if (r < 0) {
		log_info("repair: %s; repair watches the pods itself", err.msg);
		return false;
	}
	return true;
}

/* --- The loop. --- */

enum watch_kind {
	WATCH_CONF,
	WATCH_BIN,
	WATCH_SA,
	_WATCH_MAX,
};

static const char *const watch_names[_WATCH_MAX] = {
	[WATCH_CONF] = "CNI conf dir",
	[WATCH_BIN] = "CNI bin dir",
	[WATCH_SA] = "service-account dir",
};

struct agent {
	const struct agent_config *cfg;
	struct installer *installer;
	struct agent_metrics *metrics;
	atomic_bool ready;
	atomic_uint_fast64_t heartbeat_ms; /* when the loop last ran, monotonic_ms() */

	int epoll_fd;
	int signal_fd;
	int inotify_fd;
	int work_timer_fd;
	int periodic_timer_fd;

	char *dirs[_WATCH_MAX];
	int wds[_WATCH_MAX];
	char *binary_name;

	bool pending_check;
	bool pending_token;
	uint64_t work_at_ms; /* 0: the work timer is not armed */
	uint64_t throttle_until_ms;
	struct install_throttle throttle;
	uint64_t last_throttle_warn_ms;

	bool valid;
	bool installed_once;
	bool expect_binary;
	bool expect_kubeconfig;

	char last_error[ERROR_MSG_MAX];
	uint64_t last_error_ms;
};

static bool watching(const struct agent *a)
{
	for (int i = 0; i < _WATCH_MAX; i++)
		if (a->dirs[i] && a->wds[i] < 0)
			return false;
	return true;
}

static void update_ready(struct agent *a)
{
	bool ready = a->valid && watching(a);
	bool was = atomic_exchange(&a->ready, ready);
	if (ready != was)
		log_info("%s", ready ? "ready: plugin installed and watches armed" : "not ready");
	agent_metrics_set_ready(a->metrics, ready);
}

static int arm_timer(int fd, uint64_t at_ms, uint64_t interval_ms)
{
	struct itimerspec its = {
		.it_value = {.tv_sec = (time_t)(at_ms / 1000),
			     .tv_nsec = (long)(at_ms % 1000) * 1000000L},
		.it_interval = {.tv_sec = (time_t)(interval_ms / 1000),
				.tv_nsec = (long)(interval_ms % 1000) * 1000000L},
	};
	if (at_ms == 0)
		its.it_value.tv_nsec = 1; /* "now"; all zero would disarm */
	if (timerfd_settime(fd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		return -errno;
	return 0;
}

/* Runs the work no later than at_ms. */
static void schedule_work(struct agent *a, uint64_t at_ms)
{
	if (a->work_at_ms != 0 && a->work_at_ms <= at_ms)
		return;
	int r = arm_timer(a->work_timer_fd, at_ms, 0);
	if (r < 0) {
		log_warn_errno(r, "cannot arm the work timer: %m");
		return;
	}
	a->work_at_ms = at_ms;
}

static void arm_watches(struct agent *a)
{
	static const uint32_t dir_mask = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM |
					 IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF |
					 IN_MOVE_SELF | IN_ONLYDIR;
	for (int i = 0; i < _WATCH_MAX; i++) {
		if (!a->dirs[i] || a->wds[i] >= 0)
			continue;
		int wd = inotify_add_watch(a->inotify_fd, a->dirs[i], dir_mask);
		if (wd < 0) {
			log_warn_errno(-errno, "cannot watch %s %s: %m", watch_names[i],
				       a->dirs[i]);
			continue;
		}
		/* One directory may serve two roles (a conf dir holding the binary). */
		for (int j = 0; j < _WATCH_MAX; j++)
			if (j != i && a->wds[j] == wd)
				log_debug("%s and %s are the same directory", watch_names[i],
					  watch_names[j]);
		a->wds[i] = wd;
		log_debug("watching %s %s", watch_names[i], a->dirs[i]);
		/* Anything may have changed while we were not watching. */
		a->pending_check = true;
		if (i == WATCH_SA)
			a->pending_token = true;
	}
}

static void log_install_error(struct agent *a, const char *what, const struct error *err)
{
	uint64_t now = monotonic_ms();
	if (strcmp(a->last_error, err->msg) == 0 &&
	    now - a->last_error_ms < ERROR_REPEAT_INTERVAL_MS) {
		log_debug("%s failed again: %s", what, err->msg);
		return;
	}
	(void)snprintf(a->last_error, sizeof(a->last_error), "%s", err->msg);
	a->last_error_ms = now;
	log_error("%s failed: %s", what, err->msg);
	if (err->details[0])
		log_error("%s: %s", what, err->details);
}

/* Whether path is a regular file (not followed when a symlink). */
static bool is_regular(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Istio's check plus what we installed besides the conf still being there. */
static bool check_valid(struct agent *a)
{
	if (!a->installed_once)
		return false;
	struct error err = {0};
	bool valid = false;
	int r = installer_check(a->installer, &valid, &err);
	if (r < 0) {
		log_install_error(a, "check", &err);
		return false;
	}
	if (!valid) {
		log_info("CNI config needs to be rewritten (%s)",
			 installer_conf_path(a->installer) ? installer_conf_path(a->installer)
							   : "nothing installed");
		return false;
	}
	const char *bin = installer_binary_path(a->installer);
	if (a->expect_binary && bin && !is_regular(bin)) {
		log_info("plugin binary %s is gone or not a regular file", bin);
		return false;
	}
	const char *kc = installer_kubeconfig_path(a->installer);
	if (a->expect_kubeconfig && kc && !is_regular(kc)) {
		log_info("plugin kubeconfig %s is gone or not a regular file", kc);
		return false;
	}
	return true;
}

static void install(struct agent *a)
{
	struct error err = {0};
	int r = installer_install(a->installer, &err);
	enum install_result res = installer_last_result(a->installer);
	agent_metrics_count_install(a->metrics, install_result_to_string(res));
	if (r < 0) {
		log_install_error(a, "install", &err);
		a->valid = false;
		return;
	}
	a->last_error[0] = '\0';
	a->installed_once = true;
	const char *bin = installer_binary_path(a->installer);
	const char *kc = installer_kubeconfig_path(a->installer);
	a->expect_binary = bin && is_regular(bin);
	a->expect_kubeconfig = kc && is_regular(kc);
	log_info("installed: conf=%s binary=%s kubeconfig=%s",
		 installer_conf_path(a->installer) ? installer_conf_path(a->installer) : "-",
		 bin ? bin : "-", kc ? kc : "-");
	a->valid = check_valid(a);
}

static void do_work(struct agent *a)
{
	uint64_t now = monotonic_ms();
	a->work_at_ms = 0;

	if (a->pending_token) {
		a->pending_token = false;
		if (a->installed_once) {
			struct error err = {0};
			int r = installer_refresh_kubeconfig(a->installer, &err);
			if (r < 0)
				log_install_error(a, "kubeconfig refresh", &err);
			else
				log_debug("plugin kubeconfig refreshed");
		}
	}

	if (!a->pending_check)
		return;
	if (now < a->throttle_until_ms) {
		schedule_work(a, a->throttle_until_ms);
		return;
	}
	a->pending_check = false;

	a->valid = check_valid(a);
	if (a->valid) {
		a->throttle_until_ms = 0;
		update_ready(a);
		return;
	}
	a->valid = false;
	update_ready(a);

	if (a->throttle_until_ms != 0) {
		/* We waited as long as we wait: go ahead, as Istio does. */
		a->throttle_until_ms = 0;
		unsigned hits = agent_install_throttle_force(&a->throttle, now);
		if (hits > AGENT_THROTTLE_WARN_HITS &&
		    (a->last_throttle_warn_ms == 0 ||
		     now - a->last_throttle_warn_ms >= THROTTLE_WARN_INTERVAL_MS)) {
			a->last_throttle_warn_ms = now;
			log_warn(
				"Configuration has been reconciled multiple times in a short period "
				"of time (%u times in a row). This may be due to a conflicting CNI "
				"plugin rewriting its configuration in %s; with Cilium, set "
				"cni.exclusive=false.",
				hits, installer_conf_dir(a->installer));
		}
	} else {
		uint64_t wait = install_throttle_take(&a->throttle, now);
		if (wait > 0) {
			log_debug("re-install throttled for %llu ms", (unsigned long long)wait);
			a->throttle_until_ms = now + wait;
			a->pending_check = true;
			schedule_work(a, a->throttle_until_ms);
			return;
		}
	}
	install(a);
	update_ready(a);
}

static const char *event_name(const struct inotify_event *ev)
{
	return ev->len > 0 ? ev->name : "";
}

static void handle_inotify(struct agent *a)
{
	char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	for (;;) {
		ssize_t n = read(a->inotify_fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ev = (const struct inotify_event *)(void *)p;
			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warn("inotify queue overflowed; checking everything");
				a->pending_check = a->pending_token = changed = true;
				continue;
			}
			for (int i = 0; i < _WATCH_MAX; i++) {
				if (a->wds[i] != ev->wd)
					continue;
				if (ev->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
					log_warn("%s %s went away; watching again when it is back",
						 watch_names[i], a->dirs[i]);
					if (!(ev->mask & IN_IGNORED))
						(void)inotify_rm_watch(a->inotify_fd, ev->wd);
					a->wds[i] = -1;
					changed = true;
					continue;
				}
				switch (i) {
				case WATCH_CONF:
					a->pending_check = changed = true;
					break;
				case WATCH_BIN:
					if (strcmp(event_name(ev), a->binary_name) == 0)
						a->pending_check = changed = true;
					break;
				case WATCH_SA:
					a->pending_token = changed = true;
					break;
				default:
					break;
				}
			}
		}
	}
	if (!changed)
		return;
	if (!watching(a)) {
		update_ready(a);
		(void)arm_timer(a->periodic_timer_fd, monotonic_ms() + AGENT_REARM_INTERVAL_MS,
				AGENT_REARM_INTERVAL_MS);
	}
	schedule_work(a, monotonic_ms() + AGENT_DEBOUNCE_MS);
}

static void handle_periodic(struct agent *a)
{
	uint64_t expirations;
	(void)!read(a->periodic_timer_fd, &expirations, sizeof(expirations));
	bool was_watching = watching(a);
	arm_watches(a);
	if (watching(a) && !was_watching)
		(void)arm_timer(a->periodic_timer_fd, monotonic_ms() + AGENT_RECHECK_INTERVAL_MS,
				AGENT_RECHECK_INTERVAL_MS);
	a->pending_check = true;
	schedule_work(a, monotonic_ms());
}

static int dir_of(const char *path, char **ret)
{
	const char *slash = strrchr(path, '/');
	char *d = slash == path ? strdup("/")
		  : slash	? strndup(path, (size_t)(slash - path))
				: strdup(".");
	if (!d)
		return -ENOMEM;
	*ret = d;
	return 0;
}

static int setup_loop(struct agent *a, struct error *err)
{
	a->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (a->epoll_fd < 0)
		return error_set(err, ERR_INTERNAL, -errno, "epoll_create1: %m");
	sigset_t mask;
	(void)sigemptyset(&mask);
	(void)sigaddset(&mask, SIGTERM);
	(void)sigaddset(&mask, SIGINT);
	a->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (a->signal_fd < 0)
		return error_set(err, ERR_INTERNAL, -errno, "signalfd: %m");
	a->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (a->inotify_fd < 0)
		return error_set(err, ERR_INTERNAL, -errno, "inotify_init1: %m");
	a->work_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	a->periodic_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (a->work_timer_fd < 0 || a->periodic_timer_fd < 0)
		return error_set(err, ERR_INTERNAL, -errno, "timerfd_create: %m");
	const int fds[] = {a->signal_fd, a->inotify_fd, a->work_timer_fd, a->periodic_timer_fd};
	for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = fds[i]};
		if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, fds[i], &ev) < 0)
			return error_set(err, ERR_INTERNAL, -errno, "epoll_ctl: %m");
	}

	const char *conf_dir = installer_conf_dir(a->installer);
	const char *bin = installer_binary_path(a->installer);
	const char *sa = installer_sa_dir(a->installer);
	if (conf_dir && !(a->dirs[WATCH_CONF] = strdup(conf_dir)))
		return -ENOMEM;
	if (bin) {
		int r = dir_of(bin, &a->dirs[WATCH_BIN]);
		if (r < 0)
			return r;
		const char *slash = strrchr(bin, '/');
		a->binary_name = strdup(slash ? slash + 1 : bin);
		if (!a->binary_name)
			return -ENOMEM;
	}
	if (sa && !(a->dirs[WATCH_SA] = strdup(sa)))
		return -ENOMEM;
	for (int i = 0; i < _WATCH_MAX; i++)
		a->wds[i] = -1;
	return 0;
}

/* Runs until a signal; returns the signal number. */
static int loop(struct agent *a)
{
	for (;;) {
		struct epoll_event evs[8];
		atomic_store(&a->heartbeat_ms, monotonic_ms());
		int n = epoll_wait(a->epoll_fd, evs, (int)ELEMENTSOF(evs),
				   AGENT_HEARTBEAT_INTERVAL_MS);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return log_error_errno(-errno, "epoll_wait: %m");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == a->signal_fd) {
				struct signalfd_siginfo si;
				if (read(a->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					return (int)si.ssi_signo;
			} else if (fd == a->inotify_fd) {
				handle_inotify(a);
			} else if (fd == a->work_timer_fd) {
				uint64_t expirations;
				(void)!read(a->work_timer_fd, &expirations, sizeof(expirations));
				do_work(a);
			} else if (fd == a->periodic_timer_fd) {
				handle_periodic(a);
			}
		}
	}
}

static void agent_cleanup(struct agent *a)
{
	const int fds[] = {a->periodic_timer_fd, a->work_timer_fd, a->inotify_fd, a->signal_fd,
			   a->epoll_fd};
	for (size_t i = 0; i < ELEMENTSOF(fds); i++)
		if (fds[i] >= 0)
			(void)close(fds[i]);
	for (int i = 0; i < _WATCH_MAX; i++)
		free(a->dirs[i]);
	free(a->binary_name);
}

/* --- Start-up. --- */

/* The in-cluster kubeconfig of the agent itself, NULL (and a warning) without an API server. */
static int agent_kubeconfig(const struct agent_config *cfg, struct kubeconfig **ret,
			    struct error *err)
{
	if (!cfg->kubernetes_service_host || !*cfg->kubernetes_service_host) {
		log_warn("KUBERNETES_SERVICE_HOST is not set: no pod cache and no repair loop");
		*ret = NULL;
		return 0;
	}
	_cleanup_(kubeconfig_freep) struct kubeconfig *kc = NULL;
	int r = kubeconfig_in_cluster(cfg->service_account_dir, cfg->kubernetes_service_host,
				      cfg->kubernetes_service_port, &kc, err);
	if (r < 0)
		return r;
	if (cfg->kube_ca_file && (!kc->ca_file || strcmp(kc->ca_file, cfg->kube_ca_file) != 0)) {
		free(kc->ca_file);
		kc->ca_file = strdup(cfg->kube_ca_file);
		if (!kc->ca_file)
			return -ENOMEM;
	}
	kc->insecure_skip_tls_verify = cfg->skip_tls_verify;
	*ret = TAKE_PTR(kc);
	return 0;
}

static int drop_capabilities(const struct agent_config *cfg, const struct repair_config *rcfg)
{
	struct caps_needs needs = {
		.install = true,
		/* The capture audit enters pod netns and reads (and repairs) rules too. */
		.repair_in_place = (cfg->repair_enabled && rcfg && rcfg->repair_pods) ||
				   cfg->audit_interval_s > 0,
		.bind_low_port = cfg->health_port < 1024 || cfg->monitoring_port < 1024,
	};
	uint64_t want = caps_wanted(&needs), kept = 0;
	struct error err = {0};
	int r = caps_apply(want, &kept, &err);
	if (r < 0)
		return log_error_errno(r, "cannot drop capabilities: %s", err.msg);
	char names[512], missing[512];
	if (caps_mask_to_string(kept, names, sizeof(names)) < 0)
		(void)snprintf(names, sizeof(names), "%#llx", (unsigned long long)kept);
	log_info("capabilities kept: %s", names);
	if (want & ~kept) {
		if (caps_mask_to_string(want & ~kept, missing, sizeof(missing)) < 0)
			(void)snprintf(missing, sizeof(missing), "%#llx",
				       (unsigned long long)(want & ~kept));
		log_warn("capabilities wanted but not held: %s", missing);
	}
	if (err.details[0])
		log_warn("bounding set: %s", err.details);
	return 0;
}

/* /readyz: the pod cache, when there is one, can sync. */
static bool cache_ready(void *ud, char *why, size_t len)
{
	return pod_cache_healthy(ud, why, len);
}

/* What the steps of agent_run share; torn down by run_teardown. */
struct run {
	struct agent a;
	struct repair_thread rt;
	struct kubeconfig *kc;
	struct health_server *hs;
	struct log_sink *ls;
	struct pod_cache *pods;
	struct pod_feed *feed;
	struct audit *audit;
};

/* Every thread started from here on inherits the mask: only the loop's
 * signalfd sees SIGTERM and SIGINT. */
static int block_signals(struct error *err)
{
	sigset_t mask;
	(void)sigemptyset(&mask);
	(void)sigaddset(&mask, SIGTERM);
	(void)sigaddset(&mask, SIGINT);
	int r = pthread_sigmask(SIG_BLOCK, &mask, NULL);
	if (r != 0)
		return error_set(err, ERR_INTERNAL, -r, "cannot block signals");
	(void)signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* The repair controller's config from the environment, completed from the agent's. */
static int load_repair_config(const struct agent_config *cfg, const char *const *envp,
			      struct repair_thread *rt, struct error *err)
{
	int r = repair_config_from_env(envp, &rt->cfg, err);
	if (r < 0)
		return r;
	rt->have_cfg = true;
	/* The agent runs the repair controller for as long as it runs. */
	rt->cfg.run_as_daemon = true;
	if ((!rt->cfg.node_name || !*rt->cfg.node_name) && cfg->node_name) {
		free(rt->cfg.node_name);
		rt->cfg.node_name = strdup(cfg->node_name);
		if (!rt->cfg.node_name)
			return -ENOMEM;
	}
	/* Repair in place programs what the installed plugin entry selects. */
	struct install_config entry_cfg;
	agent_config_to_install(cfg, &entry_cfg);
	struct error berr = {0};
	if (plugin_conf_redirect_backend(&entry_cfg, &rt->cfg.redirect_backend, &berr) < 0)
		log_warn("repair: redirect backend of the plugin entry unknown (%s); using %s",
			 berr.msg, redirect_backend_to_string(rt->cfg.redirect_backend));
	return 0;
}

/* Capabilities dropped, then the metrics, the installer and the loop's fds. */
static int start_installer(struct run *run, struct error *err)
{
	struct agent *a = &run->a;
	int r = drop_capabilities(a->cfg, run->rt.have_cfg ? &run->rt.cfg : NULL);
	if (r < 0) {
		error_set(err, ERR_INTERNAL, r, "cannot drop capabilities");
		return r;
	}
	r = agent_metrics_new(&a->metrics);
	if (r < 0)
		return r;
	agent_metrics_set_ready(a->metrics, false);
	struct install_config icfg;
	agent_config_to_install(a->cfg, &icfg);
	r = installer_new(&icfg, &a->installer, err);
	if (r < 0)
		return r;
	return setup_loop(a, err);
}

/* The agent's kubeconfig, the pod cache when there is an API server, and the capture audit. */
static int start_cache_and_audit(struct run *run, const char *const *envp, struct error *err)
{
	const struct agent_config *cfg = run->a.cfg;
	int r = agent_kubeconfig(cfg, &run->kc, err);
	if (r < 0) {
		error_prefix(err, r, "agent kubeconfig");
		return r;
	}
	if (run->kc) {
		r = pod_cache_new(run->a.metrics, &run->pods);
		if (r < 0)
			return r;
	}
	return audit_start_agent(cfg, envp, run->rt.have_cfg ? &run->rt.cfg : NULL, run->pods,
				 run->kc, run->a.metrics, &run->audit, err);
}

/* GET /debug/audit: the pass runs on the audit's thread. */
static const struct health_audit audit_ops = {
	.begin = audit_http_begin,
	.set_notify = audit_http_set_notify,
};

/* The health/metrics server and the plugin's log sink. */
static int start_servers(struct run *run, struct error *err)
{
	const struct agent_config *cfg = run->a.cfg;
	const struct health_server_options hso = {
		.health_port = cfg->health_port,
		.monitoring_port = cfg->monitoring_port,
		.ready = &run->a.ready,
		.heartbeat_ms = &run->a.heartbeat_ms,
		.heartbeat_max_age_ms = AGENT_HEARTBEAT_MAX_AGE_MS,
		.ready_check = run->pods ? cache_ready : NULL,
		.ready_check_ud = run->pods,
		.metrics = run->a.metrics,
		.audit = run->audit ? &audit_ops : NULL,
		.audit_ud = run->audit,
	};
	int r = health_server_new(&hso, &run->hs, err);
	if (r < 0)
		return r;
	const struct log_sink_options lso = {
		.run_dir = cfg->cni_agent_run_dir,
		.pods = run->pods,
		.metrics = run->a.metrics,
	};
	r = log_sink_new(&lso, &run->ls, err);
	if (r < 0)
		return r;
	log_info("serving /healthz and /readyz on :%u, /metrics on :%u, plugin logs and pod "
		 "lookups on %s",
		 cfg->health_port, cfg->monitoring_port, log_sink_path(run->ls));
	return 0;
}

/* One watch of the node's pods for the cache and the repair loop; none when it cannot be made. */
static int create_pod_feed(struct run *run)
{
	struct error perr = {0};
	int r = pod_feed_new(run->kc, run->a.cfg->node_name, &run->feed, &perr);
	if (r < 0) {
		log_error("pod cache not started: %s", perr.msg);
		return 0;
	}
	struct pod_feed_subscriber sub;
	pod_cache_subscriber(run->pods, &sub);
	return pod_feed_add(run->feed, &sub);
}

/* Repair's thread, fed by the pod feed when it can be, else with its own watch. */
static int start_repair_thread(struct run *run, struct error *err)
{
	struct repair_thread *rt = &run->rt;
	rt->metrics = run->a.metrics;
	int r = stopper_init(&rt->stopper);
	if (r < 0)
		return r;
	rt->stopper_ready = true;
	if (repair_can_use_feed(rt, run->feed)) {
		r = pod_queue_new(&rt->queue);
		if (r < 0)
			return r;
		const struct pod_feed_subscriber sub = {
			.on_pod = repair_feed_on_pod,
			.ud = rt,
		};
		r = pod_feed_add(run->feed, &sub);
		if (r < 0)
			return r;
	}
	struct error rerr = {0};
	r = kube_client_new(run->kc, NULL, &rt->client, &rerr);
	if (r < 0) {
		log_error("repair loop not started: %s", rerr.msg);
		return 0;
	}
	/* A write in flight is abandoned at a stop. */
	if (rt->queue)
		kube_client_set_cancel(rt->client, &rt->stopper.stop);
	r = pthread_create(&rt->thread, NULL, repair_thread_main, rt);
	if (r != 0)
		return error_set(err, ERR_INTERNAL, -r, "cannot start the repair thread");
	rt->running = true;
	log_info("repair loop started (%s) on node %s, %s",
		 repair_action_to_string(repair_action_for(&rt->cfg)),
		 rt->cfg.node_name ? rt->cfg.node_name : "?",
		 rt->queue ? "fed by the agent's pod watch" : "with its own pod watch");
	return 0;
}

/* The pod feed with its subscribers (the cache, repair), then the feed's watch started. */
static int start_pod_watch(struct run *run, struct error *err)
{
	int r;
	if (run->kc) {
		r = create_pod_feed(run);
		if (r < 0)
			return r;
	}
	if (run->kc && run->rt.have_cfg) {
		r = start_repair_thread(run, err);
		if (r < 0)
			return r;
	} else if (run->a.cfg->repair_enabled) {
		log_warn("repair is enabled but there is no API server to watch");
	}
	if (run->feed) {
		struct error ferr = {0};
		r = pod_feed_start(run->feed, &ferr);
		if (r < 0)
			log_error("pod cache not started: %s", ferr.msg);
	}
	return 0;
}

/* Install, then watch; anything that changed in between is seen by the
 * check that arming the watches schedules. */
static int first_install(struct agent *a, struct error *err)
{
	agent_install_throttle_init(&a->throttle, monotonic_ms());
	(void)install_throttle_take(&a->throttle, monotonic_ms());
	atomic_store(&a->heartbeat_ms, monotonic_ms());
	install(a);
	arm_watches(a);
	a->pending_token = false;
	update_ready(a);
	int r = arm_timer(a->periodic_timer_fd,
			  monotonic_ms() + (watching(a) ? AGENT_RECHECK_INTERVAL_MS
							: AGENT_REARM_INTERVAL_MS),
			  watching(a) ? AGENT_RECHECK_INTERVAL_MS : AGENT_REARM_INTERVAL_MS);
	if (r < 0) {
		error_set(err, ERR_INTERNAL, r, "cannot arm the periodic timer");
		return r;
	}
	schedule_work(a, monotonic_ms() + AGENT_DEBOUNCE_MS);
	return 0;
}

/* After the loop ended with sig (or an error): threads told to stop, the plugin uninstalled. */
static int stop_and_uninstall(struct run *run, int sig, struct error *err)
{
	int r;
	/* The watch and repair threads end within about a second of being told;
	 * tell them now, so that they stop while we uninstall and the joins
	 * below do not add up. */
	repair_thread_signal_stop(&run->rt);
	pod_feed_signal_stop(run->feed);
	pod_cache_signal_stop(run->pods);
	audit_signal_stop(run->audit);
	if (sig < 0) {
		r = error_set(err, ERR_INTERNAL, sig, "event loop failed");
	} else {
		log_info("%s received: uninstalling", strsignal(sig));
		r = 0;
	}

	atomic_store(&run->a.ready, false);
	agent_metrics_set_ready(run->a.metrics, false);
	struct error uerr = {0};
	int u = installer_uninstall(run->a.installer, &uerr);
	if (u < 0)
		log_error("uninstall: %s", uerr.msg);
	else
		log_info("uninstalled");
	return r;
}

/* Frees what the steps made, each once; NULLs are skipped. */
static void run_teardown(struct run *run)
{
	/* Servers first: a /pod lookup may be waiting on the cache. */
	log_sink_free(run->ls);
	health_server_free(run->hs);
	/* The feed first: its subscribers (the cache, repair's queue) outlive it. */
	pod_feed_free(run->feed);
	audit_free(run->audit);
	repair_thread_stop(&run->rt);
	pod_cache_free(run->pods);
	installer_free(run->a.installer);
	agent_metrics_free(run->a.metrics);
	agent_cleanup(&run->a);
	kubeconfig_free(run->kc);
}

int agent_run(const struct agent_config *cfg, const char *const *envp, struct error *err)
{
	int r;
	struct run run = {
		.a =
			{
				.cfg = cfg,
				.epoll_fd = -1,
				.signal_fd = -1,
				.inotify_fd = -1,
				.work_timer_fd = -1,
				.periodic_timer_fd = -1,
			},
	};
	atomic_init(&run.a.ready, false);
	atomic_init(&run.a.heartbeat_ms, monotonic_ms());

	r = block_signals(err);
	if (r < 0)
		return r;
	if (cfg->repair_enabled) {
		r = load_repair_config(cfg, envp, &run.rt, err);
		if (r < 0)
			goto out;
	}
	r = start_installer(&run, err);
	if (r < 0)
		goto out;
	r = start_cache_and_audit(&run, envp, err);
	if (r < 0)
		goto out;
	r = start_servers(&run, err);
	if (r < 0)
		goto out;
	r = start_pod_watch(&run, err);
	if (r < 0)
		goto out;
	r = first_install(&run.a, err);
	if (r < 0)
		goto out;

	int sig = loop(&run.a);
	r = stop_and_uninstall(&run, sig, err);
out:
	run_teardown(&run);
	return r;
}
