// SPDX-License-Identifier: Apache-2.0
#include "verbs.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "capture/capture.h"
#include "cni/cni_args.h"
#include "cni/cni_result.h"
#include "netlink/netns.h"
#include "pod_lookup.h"
#include "redirect_cmd.h"
#include "util/istio_names.h"
#include "util/log.h"

void plugin_log_duration(const struct timespec *started)
{
	struct timespec now;
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t us = (int64_t)(now.tv_sec - started->tv_sec) * 1000000 +
		     (now.tv_nsec - started->tv_nsec) / 1000;
	log_set_field_milli("duration_ms", us);
}

enum pod_route {
	POD_NOT_KUBERNETES, /* no namespace/name in CNI_ARGS */
	POD_OWN,	    /* the agent's own pod: never blocked on the API */
	POD_EXCLUDED_NS,    /* exclude_namespaces */
	POD_NOT_INJECTED,   /* runtime-passed annotations lack the sidecar status */
	POD_LOOKUP,	    /* must read the pod to decide */
};

static const char *const route_reasons[] = {
	[POD_NOT_KUBERNETES] = "not a Kubernetes pod",
	[POD_OWN] = "istio-cni-node pod",
	[POD_EXCLUDED_NS] = "namespace excluded",
	[POD_NOT_INJECTED] = "no sidecar.istio.io/status annotation (from the runtime)",
	[POD_LOOKUP] = "needs the pod",
};

/*
 * The decisions the ADD flow makes before any Kubernetes client exists, in its
 * order: a missing kubeconfig must never block the agent's own pod or an
 * excluded namespace.
 */
static enum pod_route route_pod(const struct netconf *conf, const struct cni_args *args)
{
	if (args->pod_namespace[0] == '\0' || args->pod_name[0] == '\0')
		return POD_NOT_KUBERNETES;
	if (conf->pod_namespace && strcmp(conf->pod_namespace, args->pod_namespace) == 0 &&
	    strncmp(args->pod_name, OWN_POD_NAME_PREFIX, strlen(OWN_POD_NAME_PREFIX)) == 0)
		return POD_OWN;
	if (netconf_namespace_excluded(conf, args->pod_namespace))
		return POD_EXCLUDED_NS;
	if (conf->have_pod_annotations &&
	    !netconf_string_map_get(&conf->pod_annotations, ANN_STATUS))
		return POD_NOT_INJECTED;
	return POD_LOOKUP;
}

static void set_log_fields(const struct cni_env *env, const struct cni_args *args)
{
	char pod[2 * K8S_NAME_MAX + 2];
	if (args->pod_name[0]) {
		(void)snprintf(pod, sizeof(pod), "%s/%s", args->pod_namespace, args->pod_name);
		log_set_field("pod", pod);
	}
	if (env->container_id)
		log_set_field("containerID", env->container_id);
}

/* Prints prev (the parsed prevResult) converted to version, or an empty result without one. */
static int print_result(const struct cni_result *prev, enum cni_version version, struct error *err)
{
	int r = prev ? cni_result_print(prev, version, stdout)
		     : cni_result_print_empty(version, stdout);
	if (r < 0)
		return error_set(err, ERR_IO, r, "failed to write the result to stdout");
	return 0;
}

/* The pod netns, opened while the API server answers the pod lookup. */
struct early_ns {
	const char *path;
	const struct netconf *conf;
	struct capture_ns *ns;
};

static void open_netns_early(void *userdata)
{
	struct early_ns *e = userdata;
	/* Out of memory: capture_apply_opened opens it itself. */
	if (!e->ns && capture_ns_open(e->path, e->conf, &e->ns) < 0)
		e->ns = NULL;
}

static void early_ns_done(struct early_ns *e)
{
	capture_ns_free(e->ns);
}

int plugin_add(const struct cni_env *env, const struct netconf *conf, enum cni_version version,
	       const struct timespec *started, struct error *err)
{
	struct cni_args args;
	int r = cni_args_parse(env->args, &args, err);
	if (r < 0)
		return r;
	set_log_fields(env, &args);

	/* Parse prevResult before deciding anything: a bad one fails every pod alike. */
	_cleanup_(cni_result_freep) struct cni_result *prev = NULL;
	if (conf->prev_result) {
		r = cni_result_from_json(conf->prev_result, version, &prev, err);
		if (r < 0)
			return error_prefix(err, r, "could not parse prevResult");
	}

	enum pod_route route = route_pod(conf, &args);
	if (route != POD_LOOKUP) {
		plugin_log_duration(started);
		log_info("skipping pod: %s", route_reasons[route]);
		return print_result(prev, version, err);
	}

	/* Every failure from here on fails ADD: a pod never starts unmeshed by mistake. */
	_cleanup_(pod_info_freep) struct pod_info *pod = NULL;
	_cleanup_(early_ns_done) struct early_ns early = {.path = env->netns, .conf = conf};
	r = pod_lookup_while(conf, &args, open_netns_early, &early, &pod, err);
	if (r < 0)
		return r;
	struct capture_outcome out = {0};
	r = capture_apply_opened(pod, early.ns, env->netns, conf, &out, err);
	if (r < 0)
		return r;
	plugin_log_duration(started);
	if (r > 0)
		log_info("skipping pod: %s", redirect_skip_to_string(out.skip));
	else
		log_info("programmed traffic capture (%s%s, %zu IPv4 and %zu IPv6 rules, %s%s)",
			 out.tproxy ? "TPROXY" : "REDIRECT", out.ipv6 ? ", IPv6" : "",
			 out.n_rules[PLAN_V4], out.n_rules[PLAN_V6],
			 redirect_backend_to_string(out.backend),
			 out.unchanged ? ", unchanged" : "");
	return print_result(prev, version, err);
}

int plugin_del(const struct cni_env *env, const struct netconf *conf, struct error *err)
{
	/* No netns, or one already gone: nothing of ours can remain (CNI spec DEL). */
	if (!env->netns || env->netns[0] == '\0')
		return 0;
	/* Neither can a path that is no network namespace (an unmounted netns
	 * leaves an empty file; anything else planted there, a FIFO included, is
	 * opened without blocking and refused). Failing would only make the
	 * runtime retry the DEL for ever. */
	_cleanup_close_ int fd = -1;
	struct error e = {0};
	int r = netns_open(env->netns, &fd, &e);
	if (r == -ENOENT || r == -EINVAL) {
		if (r == -EINVAL)
			log_warn("DEL: %s; nothing of ours can be there", e.msg);
		return 0;
	}
	if (r < 0) {
		if (err)
			*err = e;
		return r;
	}
	/* Whatever the pod was, nothing but our own tables is touched. */
	return capture_remove(env->netns, conf, err);
}

int plugin_check(const struct cni_env *env, const struct netconf *conf, enum cni_version version,
		 struct error *err)
{
	struct cni_args args;
	int r = cni_args_parse(env->args, &args, err);
	if (r < 0)
		return r;
	set_log_fields(env, &args);

	if (!conf->prev_result)
		return error_set(err, ERR_CONFIG, -EINVAL, "CHECK requires prevResult");
	_cleanup_(cni_result_freep) struct cni_result *prev = NULL;
	r = cni_result_from_json(conf->prev_result, version, &prev, err);
	if (r < 0)
		return error_prefix(err, r, "could not parse prevResult");

	enum pod_route route = route_pod(conf, &args);
	if (route != POD_LOOKUP)
		return 0;
	_cleanup_(pod_info_freep) struct pod_info *pod = NULL;
	r = pod_lookup(conf, &args, &pod, err);
	if (r < 0)
		return r;
	return capture_check(pod, env->netns, conf, NULL, err);
}

int plugin_subcommand(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} cmds[] = {
		{"plan", redirect_cmd_plan},
		{"apply", redirect_cmd_apply},
		{"check", redirect_cmd_check},
		{"remove", redirect_cmd_remove},
	};
	for (size_t i = 0; i < ELEMENTSOF(cmds); i++)
		if (strcmp(argv[1], cmds[i].name) == 0)
			return cmds[i].run(argc, argv);
	return -ENOENT;
}
