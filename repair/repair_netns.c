// SPDX-License-Identifier: Apache-2.0
/*
 * Finding a pod's network namespace from the host: every process's
 * <proc>/<pid>/ns/net, each namespace (by device and inode) once, entered
 * only to open a NETLINK_ROUTE socket whose address dump is read from here.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "netlink/netns.h"
#include "repair.h"
#include "util/parse_util.h"

struct want_addr {
	int family;
	uint8_t bytes[16];
};

struct dump_ctx {
	const struct want_addr *want;
	size_t n_want;
	bool found;
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);
	if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
		return MNL_CB_OK;
	tb[type] = attr;
	return MNL_CB_OK;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct dump_ctx *ctx = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *tb[IFA_MAX + 1] = {0};
	if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return MNL_CB_ERROR;
	if (mnl_attr_parse(nlh, sizeof(*ifa), addr_attr_cb, tb) < 0)
		return MNL_CB_ERROR;
	size_t alen = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
	if (!alen)
		return MNL_CB_OK;
	const int types[] = {IFA_LOCAL, IFA_ADDRESS};
	for (size_t t = 0; t < ELEMENTSOF(types); t++) {
		const struct nlattr *a = tb[types[t]];
		if (!a || mnl_attr_get_payload_len(a) != alen)
			continue;
		for (size_t i = 0; i < ctx->n_want; i++)
			if (ctx->want[i].family == ifa->ifa_family &&
			    memcmp(ctx->want[i].bytes, mnl_attr_get_payload(a), alen) == 0)
				ctx->found = true;
	}
	return MNL_CB_OK;
}

/* Whether the netns of fd holds one of want. */
static int netns_has_addr(int fd, const struct want_addr *want, size_t n_want, bool *ret,
			  struct error *err)
{
	const int bus[] = {NETLINK_ROUTE};
	_cleanup_mnl_ struct mnl_socket *nl = NULL;
	int r = netns_mnl_open(fd, bus, &nl, 1, err);
	if (r < 0)
		return r;
	_cleanup_free_ char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	if (!buf)
		return -ENOMEM;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	uint32_t seq = (uint32_t)time(NULL);
	nlh->nlmsg_seq = seq;
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return error_set(err, ERR_NETLINK, -errno, "cannot ask for the addresses");
	unsigned portid = mnl_socket_get_portid(nl);
	struct dump_ctx ctx = {.want = want, .n_want = n_want};
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0)
			return error_set(err, ERR_NETLINK, -errno, "cannot read the addresses");
		r = mnl_cb_run(buf, (size_t)n, seq, portid, addr_cb, &ctx);
		if (r < 0)
			return error_set(err, ERR_NETLINK, -errno, "address dump failed");
		if (r == MNL_CB_STOP)
			break;
	}
	*ret = ctx.found;
	return 0;
}

struct seen_ns {
	dev_t dev;
	ino_t ino;
};

int repair_find_netns(const char *proc_dir, const char *const *ips, size_t n_ips, int *ret_fd,
		      struct error *err)
{
	_cleanup_free_ struct want_addr *want = calloc(n_ips ? n_ips : 1, sizeof(*want));
	if (!want)
		return -ENOMEM;
	size_t n_want = 0;
	for (size_t i = 0; i < n_ips; i++) {
		if (inet_pton(AF_INET, ips[i], want[n_want].bytes) == 1)
			want[n_want++].family = AF_INET;
		else if (inet_pton(AF_INET6, ips[i], want[n_want].bytes) == 1)
			want[n_want++].family = AF_INET6;
	}
	if (n_want == 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "the pod has no IP address yet");

	_cleanup_close_ int dfd = open(proc_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return error_set(err, ERR_IO, -errno, "cannot open %s", proc_dir);
	int dfd2 = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if (dfd2 < 0)
		return error_set(err, ERR_IO, -errno, "cannot duplicate an fd");
	DIR *d = fdopendir(dfd2);
	if (!d) {
		int e = -errno;
		close(dfd2);
		return error_set(err, ERR_IO, e, "cannot read %s", proc_dir);
	}
	_cleanup_free_ struct seen_ns *seen = NULL;
	size_t n_seen = 0, cap = 0;
	int result = -ENOENT;
	struct dirent *de;
	while ((de = readdir(d))) {
		uint64_t pid;
		if (parse_u64(de->d_name, 1, UINT32_MAX, &pid) < 0)
			continue;
		char path[64];
		(void)snprintf(path, sizeof(path), "%s/ns/net", de->d_name);
		/* Without blocking, and only a network namespace: proc_dir is
		 * configured, and what it holds need not be procfs. */
		_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue; /* gone, or a kernel thread */
		if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
			continue;
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		bool dup = false;
		for (size_t i = 0; i < n_seen && !dup; i++)
			dup = seen[i].dev == st.st_dev && seen[i].ino == st.st_ino;
		if (dup)
			continue;
		if (n_seen == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct seen_ns *ns = reallocarray(seen, nc, sizeof(*seen));
			if (!ns) {
				result = -ENOMEM;
				break;
			}
			seen = ns;
			cap = nc;
		}
		seen[n_seen++] = (struct seen_ns){st.st_dev, st.st_ino};
		bool has = false;
		struct error e = {0};
		if (netns_has_addr(fd, want, n_want, &has, &e) < 0) {
			if (e.kind == ERR_INVALID_NETNS) {
				/* Could not get back to our own netns: stop here. */
				if (err)
					*err = e;
				result = -EIO;
				break;
			}
			continue;
		}
		if (has) {
			*ret_fd = TAKE_FD(fd);
			result = 0;
			break;
		}
	}
	(void)closedir(d);
	if (result == -ENOENT)
		return error_set(err, ERR_UNKNOWN_CONTAINER, -ENOENT,
				 "no network namespace under %s holds %s", proc_dir, ips[0]);
	if (result == -ENOMEM)
		return error_set(err, ERR_INTERNAL, result, "out of memory");
	return result;
}
