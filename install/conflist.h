/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pure transformations of CNI network configuration files: validity as
 * libcni judges it, inserting our plugin entry,
 * removing it again, and Istio's serialisation. No I/O here: the installer
 * reads, calls these, and writes atomically.
 *
 * Parsing follows Go's encoding/json as libcni and Istio use it: a duplicate
 * key is not an error (the last one wins), unlike our own inputs where
 * duplicates are refused. A primary conf that libcni accepts must not be one
 * we skip, or the runtime and we would disagree about the primary.
 *
 * Choice (documented divergence): insertion removes *every* plugin of type
 * "istio-cni" before appending ours, as Istio <= 1.6 did; Istio >= 1.7
 * removes only the first. Removal also removes all of them. With a single
 * entry (the normal case) both behave the same; with duplicates ours leaves
 * exactly one, which is what an operator expects.
 */
#ifndef ISTIO_CNI_CONFLIST_H
#define ISTIO_CNI_CONFLIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"
#include "util/error.h"

/* Largest CNI conf file we read (real ones are a few KiB). */
#define CONFLIST_MAX_BYTES ((size_t)1024 * 1024)

/* The name and version Istio gives a `.conf` turned into a list. */
#define CONFLIST_CONVERTED_NAME "k8s-pod-network"
#define CONFLIST_CONVERTED_VERSION "0.3.1"

/* Named apart from any json_decrefp another header may define. */
static inline void conf_json_unrefp(json_t **p)
{
	if (*p)
		json_decref(*p);
}
#define _cleanup_json_ _cleanup_(conf_json_unrefp)

/*
 * Parses len bytes of buf as a JSON object (duplicates allowed, last wins).
 * Returns 0, or -EINVAL with ERR_DECODE carrying jansson's line, column and
 * text (an empty buffer is "empty file"). *ret is the caller's.
 */
int conflist_parse(const char *buf, size_t len, json_t **ret, struct error *err) _must_check_;

/*
 * libcni's validity for a file of this kind (is_list: the name ends in
 * `.conflist`). A list needs a string "name", an optional string "cniVersion",
 * a valid "disableCheck" if present, and a non-empty "plugins" array whose
 * members are each a valid single conf. A single conf needs a non-empty
 * string "type", and the typed fields of libcni's NetConf (name, cniVersion,
 * capabilities, ipam, dns) must have the right JSON types when present.
 * Returns 0 or -EINVAL with ERR_CONFIG naming the offending key.
 */
int conflist_validate(const json_t *root, bool is_list, struct error *err) _must_check_;

/*
 * Istio's insertCNIConfig. entry is our plugin entry (its "cniVersion" is
 * dropped). When existing has a top-level "type" it is a single conf: the
 * result is {"cniVersion":"0.3.1","name":"k8s-pod-network","plugins":
 * [existing without cniVersion, entry]}. Otherwise it is a list: every plugin
 * of type "istio-cni" is removed, entry appended, every other key kept.
 * Neither input is modified. Returns 0, or -EINVAL with ERR_CONFIG when
 * existing is not an object or a list without a plugins array of objects.
 */
int conflist_insert(const json_t *existing, const json_t *entry, json_t **ret, struct error *err)
	_must_check_;

/*
 * Removes every plugin of type "istio-cni" from a list. *ret_removed says how
 * many went (0: *ret is an equal copy). -EINVAL/ERR_CONFIG when existing is
 * not a list.
 */
int conflist_remove(const json_t *existing, json_t **ret, size_t *ret_removed, struct error *err)
	_must_check_;

/*
 * Istio's chained validity check: a list holding a plugin of type
 * "istio-cni", every plugin an object whose "type" is a string.
 */
bool conflist_has_istio_entry(const json_t *root);

/*
 * Istio's MarshalCNIConfig: sorted keys, 2-space indent, trailing newline.
 * *ret is NUL-terminated and the caller's; *ret_len excludes the NUL.
 */
int conflist_dump(const json_t *root, char **ret, size_t *ret_len) _must_check_;

/* Struct order (insertion order), 2-space indent, trailing newline: the standalone file. */
int conflist_dump_ordered(const json_t *root, char **ret, size_t *ret_len) _must_check_;

#endif
