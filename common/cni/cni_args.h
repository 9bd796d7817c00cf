/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI_ARGS: "K=V;K=V" with the keys Kubernetes runtimes send. Unknown keys
 * are an error unless IgnoreUnknown is 1/true (libcni's LoadArgs semantics).
 */
#ifndef ISTIO_CNI_CNI_ARGS_H
#define ISTIO_CNI_CNI_ARGS_H

#include <stdbool.h>

#include "util/error.h"

#define K8S_NAME_MAX 253
#define K8S_UID_MAX 64
#define CNI_ARGS_MAX 4096

struct cni_args {
	bool ignore_unknown;
	char pod_namespace[K8S_NAME_MAX + 1];
	char pod_name[K8S_NAME_MAX + 1];
	char infra_container_id[K8S_NAME_MAX + 1];
	char pod_uid[K8S_UID_MAX + 1];
};

/*
 * Parses s (NULL or "" means no arguments). Pod namespace and name must be
 * valid Kubernetes names, since they end up in API paths. Errors are ERR_ENV.
 */
int cni_args_parse(const char *s, struct cni_args *ret, struct error *err) _must_check_;

/* A Kubernetes object name: 1-253 of [a-z0-9.-], alphanumeric at both ends. */
bool cni_args_k8s_name_valid(const char *s);

#endif
