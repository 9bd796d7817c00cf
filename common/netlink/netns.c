// SPDX-License-Identifier: Apache-2.0
#include "netlink/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define SELF_NETNS "/proc/thread-self/ns/net"

int netns_open(const char *path, int *ret_fd, struct error *err)
{
	if (!path || path[0] == '\0')
		return error_set(err, ERR_UNKNOWN_CONTAINER, -ENOENT, "no netns path");
	/* O_NONBLOCK: a FIFO at the netns path must fail the check, not hang the open. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int r = -errno;
		return error_set(err, ERR_UNKNOWN_CONTAINER, r, "opening netns %s: %s", path,
				 strerror(-r));
	}
	int type = ioctl(fd, NS_GET_NSTYPE);
	if (type < 0 || type != CLONE_NEWNET)
		return error_set(err, ERR_UNKNOWN_CONTAINER, -EINVAL,
				 "%s is not a network namespace", path);
	*ret_fd = TAKE_FD(fd);
	return 0;
}

static bool same_ns(int a, int b)
{
	struct stat sa, sb;
	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return false;
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int netns_run(int netns_fd, int (*fn)(void *userdata), void *userdata, struct error *err)
{
	if (netns_fd < 0)
		return fn(userdata);

	_cleanup_close_ int self = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return error_set(err, ERR_INVALID_NETNS, -errno, "opening %s", SELF_NETNS);
	if (same_ns(self, netns_fd))
		return fn(userdata);

	if (setns(netns_fd, CLONE_NEWNET) < 0)
		return error_set(err, ERR_INVALID_NETNS, -errno, "entering the pod netns: %m");
	int r = fn(userdata);
	if (setns(self, CLONE_NEWNET) < 0)
		return error_set(err, ERR_INVALID_NETNS, -errno,
				 "returning to our own netns failed: %m");

	_cleanup_close_ int now = open(SELF_NETNS, O_RDONLY | O_CLOEXEC);
	if (now < 0 || !same_ns(now, self))
		return error_set(err, ERR_INVALID_NETNS, -EIO,
				 "not back in our own netns after setns()");
	return r;
}

int netns_mnl_socket_setup(struct mnl_socket *nl)
{
	int one = 1;
	/* Best effort: old kernels lack these; errors then carry no text. */
	(void)mnl_socket_setsockopt(nl, NETLINK_EXT_ACK, &one, sizeof(one));
	(void)mnl_socket_setsockopt(nl, NETLINK_CAP_ACK, &one, sizeof(one));
	int rcv = 1 << 20;
	int fd = mnl_socket_get_fd(nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof(rcv)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return -errno;
	return 0;
}

struct open_ctx {
	const int *bus;
	struct mnl_socket **out;
	unsigned int n;
};

static int open_in_ns(void *userdata)
{
	struct open_ctx *c = userdata;
	for (unsigned int i = 0; i < c->n; i++) {
		c->out[i] = mnl_socket_open2(c->bus[i], SOCK_CLOEXEC);
		if (!c->out[i])
			return -errno;
	}
	return 0;
}

int netns_mnl_open(int netns_fd, const int *bus, struct mnl_socket **ret, unsigned int n,
		   struct error *err)
{
	struct mnl_socket *out[4] = {0};
	struct open_ctx c = {.bus = bus, .out = out, .n = n};
	int r;

	if (n > ELEMENTSOF(out))
		return error_set(err, ERR_INTERNAL, -EINVAL, "too many sockets");
	r = netns_run(netns_fd, open_in_ns, &c, err);
	if (r < 0 && err && err->kind == ERR_NONE)
		r = error_set(err, ERR_NETLINK, r, "opening netlink sockets in the pod netns");
	for (unsigned int i = 0; i < n && r >= 0; i++) {
		r = netns_mnl_socket_setup(out[i]);
		if (r < 0)
			r = error_set(err, ERR_NETLINK, r, "binding a netlink socket");
	}
	if (r < 0) {
		for (unsigned int i = 0; i < n; i++)
			if (out[i])
				(void)mnl_socket_close(out[i]);
		return r;
	}
	for (unsigned int i = 0; i < n; i++)
		ret[i] = out[i];
	return 0;
}
