/* SPDX-License-Identifier: Apache-2.0 */
/* The verbs of the plugin after the skeleton has validated env and conf. */
#ifndef ISTIO_CNI_VERBS_H
#define ISTIO_CNI_VERBS_H

#include <time.h>

#include "cni/cni_env.h"
#include "cni/cni_version.h"
#include "cni/netconf.h"
#include "util/error.h"

/* ADD: decide, program the netns when the pod is meshed, print the result. */
/* started: when the plugin process began (CLOCK_MONOTONIC), for duration_ms. */
int plugin_add(const struct cni_env *env, const struct netconf *conf, enum cni_version version,
	       const struct timespec *started, struct error *err) _must_check_;

/* Adds duration_ms (since started) to the log lines that follow; the agent's metrics read it. */
void plugin_log_duration(const struct timespec *started);

/* DEL: best effort and idempotent; removes our tables when the netns exists. */
int plugin_del(const struct cni_env *env, const struct netconf *conf, struct error *err)
	_must_check_;

/* CHECK: verifies the netns holds what ADD would program. */
int plugin_check(const struct cni_env *env, const struct netconf *conf, enum cni_version version,
		 struct error *err) _must_check_;

/* Runs argv[1] as a subcommand ("plan", "apply"); -ENOENT when it is none. */
int plugin_subcommand(int argc, char **argv);

#endif
