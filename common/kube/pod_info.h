/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The parts of a Kubernetes Pod (as GET /api/v1/namespaces/N/pods/P returns
 * it) that the plugin and the repair loop look at, as a plain C struct.
 *
 * pod_info_from_json() is the only function that touches json_t for pods:
 * every field it reads is type-checked, every array and string is bounded,
 * and a shape error names the JSON path ("spec.containers[1].env[0].name").
 * Everything here is pure: no syscalls, no logging.
 */
#ifndef ISTIO_CNI_POD_INFO_H
#define ISTIO_CNI_POD_INFO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

/* Bounds: anything larger is not a pod the API server would return. */
#define POD_INFO_MAX_ITEMS 1024		 /* entries of any array or map */
#define POD_INFO_MAX_STRING (256u << 10) /* bytes of any string (annotation limit) */

struct pod_kv {
	char *key;
	char *value;
};

struct pod_env {
	char *name;
	char *value; /* "" when absent or valueFrom */
};

/* A container's terminated state (state.terminated or lastState.terminated). */
struct pod_terminated {
	bool present;
	int32_t exit_code;
	char *reason;  /* NULL when absent */
	char *message; /* NULL when absent */
};

/* One entry of status.initContainerStatuses. */
struct pod_init_status {
	char *name;
	struct pod_terminated state;	  /* state.terminated */
	struct pod_terminated last_state; /* lastState.terminated */
};

// NOLINTNEXTLINE(clang-analyzer-optin.performance.Padding): fields grouped by meaning
struct pod_info {
	/* metadata; namespace and name are required, the rest may be NULL. */
	char *namespace;
	char *name;
	char *uid;
	char *resource_version;
	bool terminating; /* metadata.deletionTimestamp is set */
	struct pod_kv *labels;
	size_t n_labels;
	struct pod_kv *annotations;
	size_t n_annotations;

	/* spec */
	char *node_name;
	bool host_network; /* spec.hostNetwork: the pod has no netns of its own */
	char **containers;
	size_t n_containers;
	char **init_containers;
	size_t n_init_containers;

	/*
	 * The istio-proxy container, searched in initContainers first (native
	 * sidecars), then containers.
	 */
	bool has_proxy;
	bool proxy_is_init;
	char **proxy_args;
	size_t n_proxy_args;
	struct pod_env *proxy_env;
	size_t n_proxy_env;
	bool proxy_run_as_user_set;
	int64_t proxy_run_as_user;
	bool proxy_run_as_group_set;
	int64_t proxy_run_as_group;

	/* status */
	char *phase;  /* status.phase ("Pending", "Running", ...); NULL when absent */
	char *pod_ip; /* NULL when not yet assigned */
	char **pod_ips;
	size_t n_pod_ips;
	struct pod_init_status *init_statuses;
	size_t n_init_statuses;
};

/*
 * Decodes pod into a new pod_info. Wrong JSON types, missing required fields
 * and oversized inputs give -EINVAL with ERR_DECODE naming the JSON path;
 * allocation failure gives -ENOMEM. *ret is written only on success.
 */
int pod_info_from_json(const json_t *pod, struct pod_info **ret, struct error *err) _must_check_;

/* The same from JSON text (a Pod or the agent's pod_info_to_json): a parse
 * error gives -EINVAL with ERR_DECODE naming the line and column. */
int pod_info_from_text(const char *text, size_t len, struct pod_info **ret, struct error *err)
	_must_check_;

/*
 * A deep copy of p in *ret (0), or -ENOMEM. For a pod that outlives the
 * structure holding it (a cache snapshot handed to another thread).
 */
int pod_info_dup(const struct pod_info *p, struct pod_info **ret) _must_check_;

/*
 * The JSON of a Pod holding exactly what p holds (metadata namespace, name,
 * uid, resourceVersion, deletionTimestamp when terminating, labels,
 * annotations; spec nodeName, hostNetwork, the containers' and init
 * containers' names with the istio-proxy's args, env and runAsUser/Group;
 * status phase, podIP(s), initContainerStatuses), so that
 * pod_info_from_json of it gives a pod_info equal to p (pod_info_equal).
 * The time of deletionTimestamp is not kept: a fixed one stands for it.
 * *ret is the caller's. -EINVAL without namespace or name, -ENOMEM.
 */
int pod_info_to_json(const struct pod_info *p, json_t **ret) _must_check_;

/* Whether a and b hold the same values (NULL and NULL are equal). */
bool pod_info_equal(const struct pod_info *a, const struct pod_info *b);

/* Frees p (NULL allowed); returns NULL. */
struct pod_info *pod_info_free(struct pod_info *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_info *, pod_info_free);

/* Lookups; the returned strings are borrowed from p. NULL when absent. */
const char *pod_info_annotation(const struct pod_info *p, const char *key);
const char *pod_info_label(const struct pod_info *p, const char *key);
/* The istio-proxy env value by name; the last entry wins, as in Kubernetes. */
const char *pod_info_proxy_env(const struct pod_info *p, const char *name);
/* status.phase is "Running". */
bool pod_info_is_running(const struct pod_info *p);
/* Whether a container or an init container has this name. */
bool pod_info_has_container(const struct pod_info *p, const char *name);
/* The initContainerStatuses entry for name, or NULL. */
const struct pod_init_status *pod_info_init_status(const struct pod_info *p, const char *name);

#endif
