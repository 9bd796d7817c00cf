// SPDX-License-Identifier: Apache-2.0
#include "pod_lookup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kube/kube_client.h"
#include "kube/kube_retry.h"
#include "kube/kubeconfig.h"
#include "uds_http.h"
#include "util/istio_names.h"
#include "util/log.h"
#include "util/monotonic.h"

/* The agent waits up to 200 ms for a pod it has not seen; allow for that. */
#define AGENT_LOOKUP_TIMEOUT_MS 500
#define AGENT_LOOKUP_MAX_BYTES ((size_t)4 * 1024 * 1024)

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000),
			      .tv_nsec = (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* 1.7 names the kubeconfig in the conf; current Istio derives it from the run dir. */
static int kubeconfig_path(const struct netconf *conf, char *buf, size_t len)
{
	int n;
	if (conf->kubeconfig)
		n = snprintf(buf, len, "%s", conf->kubeconfig);
	else
		n = snprintf(buf, len, "%s/%s", conf->cni_agent_run_dir, AGENT_KUBECONFIG_NAME);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

static int make_client(const struct netconf *conf, uint64_t timeout_ms,
		       void (*while_waiting)(void *userdata), void *userdata,
		       struct kube_client **ret, struct error *err)
{
	char path[PATH_MAX];
	int r = kubeconfig_path(conf, path, sizeof(path));
	if (r < 0)
		return error_set(err, ERR_CONFIG, r, "kubeconfig path too long");

	_cleanup_(kubeconfig_freep) struct kubeconfig *kc = NULL;
	r = kubeconfig_load(path, &kc, err);
	if (r == -ENOENT) {
		/* The agent (re)writes it at start-up, e.g. after a reboot: try again later. */
		error_clear(err);
		return error_set(
			err, ERR_TRANSIENT, r,
			"kubeconfig %s does not exist (is the istio-cni node agent running?)",
			path);
	}
	if (r < 0)
		return error_prefix(err, r, "failed to load kubeconfig %s", path);

	/* One request must never outlive the whole lookup's deadline. */
	struct kube_client_options opts = {
		.connect_timeout_ms = timeout_ms < 5000 ? timeout_ms : 5000,
		.timeout_ms = timeout_ms < 10000 ? timeout_ms : 10000,
		.one_shot = true,
		.while_waiting = while_waiting,
		.while_waiting_userdata = userdata,
	};
	r = kube_client_new(kc, &opts, ret, err);
	if (r < 0)
		return error_prefix(err, r, "failed to create Kubernetes client");
	return 0;
}

/* The agent's socket: log_uds_address (1.12-1.23) or <cni_agent_run_dir>/log.sock. */
int pod_lookup_agent_socket(const struct netconf *conf, char *buf, size_t len)
{
	int n;
	if (conf->log_uds_address)
		n = snprintf(buf, len, "%s", conf->log_uds_address);
	else
		n = snprintf(buf, len, "%s/%s", conf->cni_agent_run_dir, AGENT_LOG_SOCKET_NAME);
	return n > 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

/*
 * Asks the node agent's pod cache. Returns 0 with the pod, or -ENOENT when the
 * agent is absent, does not know the pod, knows another incarnation of it, is
 * not synced (503: its watch is down, its entries may be stale), or when the
 * sandbox's pod uid is unknown: the caller then asks the API server itself.
 *
 * The cache is used only with a uid to compare. A pod deleted and recreated
 * under the same name (a StatefulSet's web-0) keeps its name; only the uid
 * tells the incarnations apart, and a cache can lag the API server by the
 * delete event. Without a uid, the API server's GET (a quorum read) is the
 * only answer that cannot be an earlier incarnation.
 */
static int ask_agent(const struct netconf *conf, const struct cni_args *args,
		     struct pod_info **ret_pod)
{
	char sock[PATH_MAX], target[1024];
	if (!args->pod_uid[0]) {
		log_debug("no K8S_POD_UID in CNI_ARGS: the agent's cache cannot tell incarnations "
			  "of the pod apart; asking the API server");
		return -ENOENT;
	}
	if (pod_lookup_agent_socket(conf, sock, sizeof(sock)) < 0)
		return -ENOENT;
	/* Namespace and name are validated Kubernetes names, the uid is hex and '-':
	 * nothing to escape. */
	int n = snprintf(target, sizeof(target), "/pod?namespace=%s&name=%s&uid=%s",
			 args->pod_namespace, args->pod_name, args->pod_uid);
	if (n < 0 || (size_t)n >= sizeof(target))
		return -ENOENT;

	struct uds_http_response resp = {0};
	int r = uds_http_request(sock, "GET", target, NULL, 0, AGENT_LOOKUP_TIMEOUT_MS,
				 AGENT_LOOKUP_MAX_BYTES, &resp);
	if (r < 0) {
		log_debug("pod cache of the agent at %s not usable: %s", sock, strerror(-r));
		return -ENOENT;
	}
	if (resp.status != 200) {
		log_debug("pod cache of the agent answered %d%s", resp.status,
			  resp.status == 503 ? " (not synced)" : "");
		uds_http_response_done(&resp);
		return -ENOENT;
	}
	_cleanup_(pod_info_freep) struct pod_info *info = NULL;
	struct error derr = {0};
	r = pod_info_from_text(resp.body, resp.body_len, &info, &derr);
	uds_http_response_done(&resp);
	if (r < 0) {
		log_warn("pod cache of the agent answered something that is not a Pod%s%s; asking "
			 "the API server",
			 derr.msg[0] ? ": " : "", derr.msg);
		return -ENOENT;
	}
	/* An agent that ignores the uid parameter must not hand over another incarnation. */
	const char *uid = info->uid;
	if (!uid || strcmp(uid, args->pod_uid) != 0) {
		log_debug("pod cache of the agent answered uid %.64s, not the sandbox's %s",
			  uid ? uid : "(none)", args->pod_uid);
		return -ENOENT;
	}
	*ret_pod = TAKE_PTR(info);
	return 0;
}

int pod_lookup(const struct netconf *conf, const struct cni_args *args, struct pod_info **ret_pod,
	       struct error *err)
{
	return pod_lookup_while(conf, args, NULL, NULL, ret_pod, err);
}

int pod_lookup_while(const struct netconf *conf, const struct cni_args *args,
		     void (*while_waiting)(void *userdata), void *userdata,
		     struct pod_info **ret_pod, struct error *err)
{
	if (ask_agent(conf, args, ret_pod) == 0) {
		log_debug("pod read from the node agent's cache");
		return 0;
	}

	uint64_t timeout_ms = (uint64_t)conf->pod_lookup_timeout_sec * 1000u;
	uint64_t start = monotonic_ms();

	_cleanup_(kube_client_freep) struct kube_client *client = NULL;
	int r = make_client(conf, timeout_ms, while_waiting, userdata, &client, err);
	if (r < 0)
		return r;

	struct kube_backoff backoff;
	kube_backoff_init(&backoff, start, timeout_ms, 0, 0, true,
			  (uint32_t)getpid() ^ (uint32_t)start);

	for (unsigned attempt = 1;; attempt++) {
		struct error attempt_err = {0};
		json_t *pod = NULL;
		r = kube_client_get_pod(client, args->pod_namespace, args->pod_name, &pod,
					&attempt_err);
		const struct kube_status *st = kube_client_last_status(client);
		if (r >= 0) {
			/* Decoded here: nothing past the lookup sees the JSON. */
			_cleanup_(pod_info_freep) struct pod_info *info = NULL;
			r = pod_info_from_json(pod, &info, err);
			json_decref(pod);
			if (r < 0)
				return error_prefix(err, r, "pod %s/%s", args->pod_namespace,
						    args->pod_name);
			const char *uid = info->uid;
			if (args->pod_uid[0] && (!uid || strcmp(uid, args->pod_uid) != 0))
				return error_set(
					err, ERR_API, -ESTALE,
					"pod %s/%s has uid %.64s, not the sandbox's %s: it was replaced",
					args->pod_namespace, args->pod_name, uid ? uid : "(none)",
					args->pod_uid);
			log_debug("pod read from the API server after %u attempt(s)", attempt);
			*ret_pod = TAKE_PTR(info);
			return 0;
		}

		enum kube_retry_verdict v = kube_retry_classify(st->curl_code, st->http_code,
								KUBE_RETRY_NOT_FOUND);
		if (v != KUBE_RETRY_AGAIN) {
			if (err)
				*err = attempt_err;
			return error_prefix(err, r, "failed to get pod %s/%s", args->pod_namespace,
					    args->pod_name);
		}

		uint64_t wait;
		if (kube_backoff_next(&backoff, monotonic_ms(), st->retry_after_ms, &wait) < 0) {
			/* Fail closed: the runtime retries the sandbox; it never starts unmeshed. */
			if (err) {
				*err = attempt_err;
				err->kind = ERR_TRANSIENT;
			}
			return error_prefix(err, -ETIMEDOUT,
					    "failed to get pod %s/%s within %u s (%u attempts)",
					    args->pod_namespace, args->pod_name,
					    conf->pod_lookup_timeout_sec, attempt);
		}
		log_warn("getting pod failed (attempt %u): %s; retrying in %llu ms", attempt,
			 attempt_err.msg, (unsigned long long)wait);
		sleep_ms(wait);
	}
}
