/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Network namespaces, entered only long enough to open sockets.
 *
 * A netlink socket stays in the namespace it was created in, so the plugin
 * never runs any other code inside the pod netns: it enters, opens the sockets
 * it needs, returns to its own netns and verifies that it did (the
 * same check libcni's skel makes).
 */
#ifndef ISTIO_CNI_NETNS_H
#define ISTIO_CNI_NETNS_H

#include <stdbool.h>

#include "util/cleanup.h"
#include "util/error.h"

struct mnl_socket;

/*
 * Opens a netns path (/proc/PID/ns/net, /var/run/netns/X) O_RDONLY|O_CLOEXEC.
 * A missing path is -ENOENT with ERR_UNKNOWN_CONTAINER; a path that is not a
 * network namespace is -EINVAL.
 */
int netns_open(const char *path, int *ret_fd, struct error *err) _must_check_;

/*
 * Calls fn(userdata) inside the netns of netns_fd (the current one when
 * netns_fd < 0), then returns to the netns we came from and checks by inode
 * that we did; failing that is ERR_INVALID_NETNS (the process must not go on).
 * fn must only open sockets: no exec, no name resolution, no file access that
 * depends on the netns.
 */
int netns_run(int netns_fd, int (*fn)(void *userdata), void *userdata, struct error *err)
	_must_check_;

/*
 * Opens, configures (extended ack, capped acks, close-on-exec) and binds a
 * libmnl socket of bus (NETLINK_NETFILTER, NETLINK_ROUTE) in netns_fd.
 * Several buses at once: ret[i] for bus[i], n at most 4.
 */
int netns_mnl_open(int netns_fd, const int *bus, struct mnl_socket **ret, unsigned int n,
		   struct error *err) _must_check_;

/* Configures and binds a socket made elsewhere (extended ack, capped acks). */
int netns_mnl_socket_setup(struct mnl_socket *nl) _must_check_;

#include <libmnl/libmnl.h>

static inline void mnl_socket_closep(struct mnl_socket **nl)
{
	if (*nl)
		(void)mnl_socket_close(*nl);
}

#define _cleanup_mnl_ _cleanup_(mnl_socket_closep)

#endif
