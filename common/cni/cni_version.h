/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI specification versions the plugin speaks: 0.1.0 to 1.1.0.
 *
 * Versions are a closed, ordered table: the enum values compare in release
 * order, so "at least 0.4.0" is a plain integer comparison. Parsing follows
 * libcni: a version string is one to three dot-separated decimal numbers;
 * a well-formed string is supported only when it matches a table entry
 * exactly ("1.0" is well-formed but not supported).
 */
#ifndef ISTIO_CNI_CNI_VERSION_H
#define ISTIO_CNI_CNI_VERSION_H

#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"

enum cni_version {
	CNI_VERSION_0_1_0,
	CNI_VERSION_0_2_0,
	CNI_VERSION_0_3_0,
	CNI_VERSION_0_3_1,
	CNI_VERSION_0_4_0,
	CNI_VERSION_1_0_0,
	CNI_VERSION_1_1_0,
	_CNI_VERSION_MAX,
};

/* The newest version we implement; what VERSION answers without input. */
#define CNI_VERSION_LATEST CNI_VERSION_1_1_0

/* The result type family a version belongs to, as libcni groups them. */
enum cni_result_family {
	CNI_RESULT_020, /* 0.1.0, 0.2.0: ip4/ip6 objects */
	CNI_RESULT_040, /* 0.3.0, 0.3.1, 0.4.0: interfaces/ips (with version)/routes/dns */
	CNI_RESULT_100, /* 1.0.0, 1.1.0: interfaces/ips/routes/dns, no ips[].version */
};

/*
 * Parses s into *ret. Returns 0, -EINVAL when s is NULL, empty or not one to
 * three dot-separated decimal numbers, -EOPNOTSUPP when it is well-formed but
 * not in the table. (libcni treats an absent cniVersion in a plugin conf as
 * 0.1.0; that default is the caller's decision, not this function's.)
 */
int cni_version_parse(const char *s, enum cni_version *ret) _must_check_;

/* "1.1.0" etc.; NULL for a value outside the table. */
const char *cni_version_to_string(enum cni_version v);

/* <0, 0, >0 as a is older than, equal to, newer than b. */
int cni_version_compare(enum cni_version a, enum cni_version b);

/* a >= b. */
bool cni_version_at_least(enum cni_version a, enum cni_version b);

enum cni_result_family cni_version_result_family(enum cni_version v);

/* The versions CHECK exists in (>= 0.4.0) and STATUS/GC exist in (>= 1.1.0). */
bool cni_version_has_check(enum cni_version v);
bool cni_version_has_status_gc(enum cni_version v);

/*
 * Picks the version to answer a conf in (CNI 1.1 `cniVersions`: the highest both support).
 * conf_version is the conf's `cniVersion` (may be NULL when absent);
 * cni_versions/n the conf's `cniVersions` array (n may be 0). Entries that are
 * malformed or unknown to us are ignored, as libcni ignores versions newer than
 * it implements; the highest remaining one among conf_version and
 * cni_versions wins.
 *
 * Returns 0 and writes *ret, or when nothing usable is left: the error
 * cni_version_parse() gave for conf_version (-EINVAL malformed, -EOPNOTSUPP
 * unsupported), or -EOPNOTSUPP when conf_version is NULL and the list named
 * only versions we do not support, or -ENOENT when no version was given at all.
 */
int cni_version_negotiate(const char *conf_version, const char *const *cni_versions, size_t n,
			  enum cni_version *ret) _must_check_;

/*
 * The VERSION verb's answer, compact, without a trailing newline:
 * {"cniVersion":"<input_version or 1.1.0>","supportedVersions":["0.1.0",...]}.
 * input_version is echoed as given (NULL or "" → 1.1.0). *ret_json is
 * malloc()ed, the caller frees it. Returns 0, -ENOMEM, or -EINVAL when
 * input_version is not valid UTF-8.
 */
int cni_version_print_json(const char *input_version, char **ret_json) _must_check_;

#endif
