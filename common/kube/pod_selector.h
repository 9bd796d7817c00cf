/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kubernetes label and field selectors evaluated on a decoded pod, so that a
 * consumer of a wider watch can keep only the pods a narrower one would
 * have given it.
 *
 * Labels: comma-separated requirements, all of which must hold: k=v, k==v,
 * k!=v (true when k is absent), k in (v1,v2), k notin (v1,v2) (true when
 * absent), k (exists), !k (does not exist).
 * Fields: comma-separated k=v, k==v, k!=v over spec.nodeName,
 * metadata.namespace, metadata.name and status.phase (an absent value is "").
 * Pure: no I/O.
 */
#ifndef ISTIO_CNI_POD_SELECTOR_H
#define ISTIO_CNI_POD_SELECTOR_H

#include <stdbool.h>

#include "kube/pod_info.h"
#include "util/cleanup.h"
#include "util/error.h"

struct pod_selector;

/*
 * Parses both (NULL or "" selects everything). A syntax error is -EINVAL, a
 * field this evaluator does not know -EOPNOTSUPP, both with ERR_CONFIG
 * naming the requirement.
 */
int pod_selector_parse(const char *labels, const char *fields, struct pod_selector **ret,
		       struct error *err) _must_check_;
struct pod_selector *pod_selector_free(struct pod_selector *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct pod_selector *, pod_selector_free);

bool pod_selector_matches(const struct pod_selector *s, const struct pod_info *p);

/*
 * The value that field selector requires with = or == for key
 * ("spec.nodeName"), borrowed; NULL when there is none.
 */
const char *pod_selector_field_equals(const struct pod_selector *s, const char *key);

#endif
