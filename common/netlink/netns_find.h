/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finding pods' network namespaces from the host by their addresses.
 */
#ifndef ISTIO_CNI_NETNS_FIND_H
#define ISTIO_CNI_NETNS_FIND_H

#include <stddef.h>

#include "util/cleanup.h"
#include "util/error.h"

struct netns_find_want {
	const char *const *ips; /* text addresses */
	size_t n_ips;
	int fd; /* out: an O_CLOEXEC fd of the netns holding one of ips, -1 when none */
};

/*
 * Scans <proc_dir>/<pid>/ns/net, each namespace once, reading its local
 * addresses, until every want has its netns or the scan ends. Sets every
 * want[i].fd (-1 first). Returns 0, or a negative errno when proc_dir cannot
 * be read or the scan could not get back to its own netns (ERR_INVALID_NETNS).
 */
int netns_find(const char *proc_dir, struct netns_find_want *want, size_t n, struct error *err)
	_must_check_;

/*
 * The same for one pod: an open O_CLOEXEC fd of the netns holding one of ips,
 * -EINVAL (ERR_CONFIG) when no ip parses, -ENOENT (ERR_UNKNOWN_CONTAINER) when
 * no namespace has them.
 */
int netns_find_one(const char *proc_dir, const char *const *ips, size_t n_ips, int *ret_fd,
		   struct error *err) _must_check_;

#endif
