/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Error detail that travels with a negative errno return.
 *
 * Library code never logs an error it returns: it fills a struct error with
 * what failed and on which object, and the binary decides once what to print.
 * The CNI code an error maps to is derived from its kind through one table
 * (error_cni_code), so every verb reports the same failure the same way.
 */
#ifndef ISTIO_CNI_ERROR_H
#define ISTIO_CNI_ERROR_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"

enum error_kind {
	ERR_NONE = 0,
	ERR_VERSION,	       /* incompatible CNI version: 1 */
	ERR_UNSUPPORTED_FIELD, /* unsupported field in the config: 2 */
	ERR_UNKNOWN_CONTAINER, /* netns missing on ADD/CHECK: 3 */
	ERR_ENV,	       /* missing or invalid CNI_* variables: 4 */
	ERR_IO,		       /* reading stdin or a file: 5 */
	ERR_DECODE,	       /* JSON syntax or shape: 6 */
	ERR_CONFIG,	       /* semantic validation, bad annotation: 7 */
	ERR_INVALID_NETNS,     /* we did not get back to our own netns: 8 */
	ERR_TRANSIENT,	       /* try again later: 11 */
	ERR_NETLINK,	       /* rtnetlink request failed: 100 */
	ERR_NFTABLES,	       /* nftables batch rejected: 101 */
	ERR_IPTABLES,	       /* iptables-restore failed: 102 */
	ERR_API,	       /* Kubernetes API refused the request: 103 */
	ERR_CHECK,	       /* CHECK found state that differs from the plan: 104 */
	ERR_INTERNAL,	       /* anything unexpected: 999 */
	_ERR_KIND_MAX,
};

#define ERROR_MSG_MAX 512
#define ERROR_DETAILS_MAX 4096

struct error {
	enum error_kind kind;
	char msg[ERROR_MSG_MAX];
	char details[ERROR_DETAILS_MAX];
};

/*
 * Records kind and a formatted message in err (which may be NULL) and returns
 * r, which must be negative; r == 0 is turned into -EINVAL so a caller can
 * always `return error_set(...)`. A message already set is kept and the new
 * one is prepended as context ("new: old"), so callers can add what they were
 * doing without losing the root cause.
 */
int error_set(struct error *err, enum error_kind kind, int r, const char *fmt, ...) _printf_(4, 5);

/* Appends a formatted line to the details; no-op when err is NULL. */
void error_add_details(struct error *err, const char *fmt, ...) _printf_(2, 3);

/*
 * Differences found by a check: the first kept as the message to report, each
 * appended to err's details (err may be NULL), n counted.
 */
struct error_diff {
	struct error *err;
	unsigned int n;
	char first[ERROR_MSG_MAX];
};

/* Records one difference in d. */
void error_diff_add(struct error_diff *d, const char *fmt, ...) _printf_(2, 3);

/* Prefixes the current message with context, keeping the kind. Returns r. */
int error_prefix(struct error *err, int r, const char *fmt, ...) _printf_(3, 4);

void error_clear(struct error *err);

/*
 * r when negative, else -EINVAL. error_set and error_prefix already return a
 * negative value; routing their result through this inline lets the static
 * analyzer, which does not see into error.c, know it too (so a caller's
 * `if (r < 0) return r;` after them is not read as possibly falling through).
 */
static inline int error_negative(int r)
{
	return r < 0 ? r : -EINVAL;
}
#define error_set(...) error_negative(error_set(__VA_ARGS__))
#define error_prefix(...) error_negative(error_prefix(__VA_ARGS__))

/* The CNI error code for err, or for r when err carries no kind. */
int error_cni_code(const struct error *err, int r);

#endif
