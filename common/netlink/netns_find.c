// SPDX-License-Identifier: Apache-2.0
/*
 * Finding pods' network namespaces from the host: one scan of
 * <proc>/<pid>/ns/net for any number of pods (the agent's audit looks for
 * every pod of a pass, the repair loop for one). Each namespace (by device and inode) is looked at once: its local
 * addresses are read from <proc>/<pid>/net/fib_trie (IPv4) and if_inet6,
 * which show the netns of that process, without entering it; where those
 * cannot be read, the netns is entered only to open a NETLINK_ROUTE socket
 * whose address dump is read from here. The addresses are matched against
 * all the pods still looking.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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
#include "netlink/netns_find.h"
#include "util/parse_util.h"

/* Largest fib_trie or if_inet6 read; a pod's are a few hundred bytes. */
#define NETNS_FIND_PROC_NET_MAX 16384

struct want_addr {
	int family;
	uint8_t bytes[16];
	size_t pod; /* index into the wants */
};

struct scan {
	struct netns_find_want *pods;
	struct want_addr *addrs;
	size_t n_addrs;
	size_t left; /* pods still without a netns */
	int ns_fd;   /* the namespace being dumped */
	int error;   /* a dup failure */
};

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	if (mnl_attr_type_valid(attr, IFA_MAX) < 0)
		return MNL_CB_OK;
	tb[mnl_attr_get_type(attr)] = attr;
	return MNL_CB_OK;
}

static void match(struct scan *s, int family, const void *bytes, size_t alen)
{
	for (size_t i = 0; i < s->n_addrs; i++) {
		struct want_addr *w = &s->addrs[i];
		if (w->family != family || s->pods[w->pod].fd >= 0 ||
		    memcmp(w->bytes, bytes, alen) != 0)
			continue;
		int fd = fcntl(s->ns_fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0) {
			s->error = -errno;
			return;
		}
		s->pods[w->pod].fd = fd;
		s->left--;
	}
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct scan *s = data;
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
		if (a && mnl_attr_get_payload_len(a) == alen)
			match(s, ifa->ifa_family, mnl_attr_get_payload(a), alen);
	}
	return MNL_CB_OK;
}

/* Dumps the addresses of the netns of fd into s's matcher. */
static int dump_netns(int fd, struct scan *s, char *buf, struct error *err)
{
	const int bus[] = {NETLINK_ROUTE};
	_cleanup_mnl_ struct mnl_socket *nl = NULL;
	int r = netns_mnl_open(fd, bus, &nl, 1, err);
	if (r < 0)
		return r;
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
	s->ns_fd = fd;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, MNL_SOCKET_BUFFER_SIZE);
		if (n < 0)
			return error_set(err, ERR_NETLINK, -errno, "cannot read the addresses");
		r = mnl_cb_run(buf, (size_t)n, seq, portid, addr_cb, s);
		if (r < 0)
			return error_set(err, ERR_NETLINK, -errno, "address dump failed");
		if (r == MNL_CB_STOP)
			break;
	}
	return s->error;
}

/* Reads a small proc file whole into buf (NUL-terminated); -errno. */
static ssize_t read_small(int dfd, const char *path, char *buf, size_t len)
{
	if (len == 0)
		return -EFBIG;
	buf[0] = '\0';
	_cleanup_close_ int fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n + 1 < len) {
		ssize_t k = read(fd, buf + n, len - 1 - n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (n + 1 >= len)
		return -EFBIG; /* a host-sized table: let netlink read it */
	buf[n] = '\0';
	return (ssize_t)n;
}

/*
 * The local addresses of pid's netns from its proc files: fib_trie lists
 * each local IPv4 address as "|-- A.B.C.D" followed by "/32 host LOCAL";
 * if_inet6 has one IPv6 address (32 hex digits) a line.
 */
static int proc_addrs(int dfd, const char *pid, struct scan *s, char *buf, size_t len)
{
	char path[64];
	(void)snprintf(path, sizeof(path), "%s/net/fib_trie", pid);
	ssize_t n = read_small(dfd, path, buf, len);
	if (n < 0)
		return (int)n;
	char last[INET_ADDRSTRLEN] = "";
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		const char *leaf = strstr(line, "|-- ");
		if (leaf) {
			(void)snprintf(last, sizeof(last), "%.*s", (int)strcspn(leaf + 4, " "),
				       leaf + 4);
			continue;
		}
		struct in_addr a4;
		if (last[0] && strstr(line, "/32 host LOCAL") && inet_pton(AF_INET, last, &a4) == 1)
			match(s, AF_INET, &a4, 4);
	}
	(void)snprintf(path, sizeof(path), "%s/net/if_inet6", pid);
	n = read_small(dfd, path, buf, len);
	if (n == -ENOENT)
		return 0; /* no IPv6 in this kernel */
	if (n < 0)
		return (int)n;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		uint8_t a6[16];
		size_t i;
		for (i = 0; i < 16; i++) {
			unsigned v;
			// NOLINTNEXTLINE(cert-err34-c): %2x reads at most two hex digits, it cannot overflow
			if (sscanf(line + 2 * i, "%2x", &v) != 1)
				break;
			a6[i] = (uint8_t)v;
		}
		if (i == 16)
			match(s, AF_INET6, a6, 16);
	}
	return 0;
}

struct seen_ns {
	dev_t dev;
	ino_t ino;
};

static int cmp_seen(const void *a, const void *b)
{
	const struct seen_ns *x = a, *y = b;
	if (x->dev != y->dev)
		return x->dev < y->dev ? -1 : 1;
	return x->ino < y->ino ? -1 : x->ino > y->ino ? 1 : 0;
}

/* The wanted addresses in binary form; s->left counts the pods that have one. */
static void parse_wanted(const struct netns_find_want *want, size_t n, struct scan *s)
{
	for (size_t i = 0; i < n; i++) {
		bool any = false;
		for (size_t j = 0; j < want[i].n_ips; j++) {
			struct want_addr *w = &s->addrs[s->n_addrs];
			if (inet_pton(AF_INET, want[i].ips[j], w->bytes) == 1)
				w->family = AF_INET;
			else if (inet_pton(AF_INET6, want[i].ips[j], w->bytes) == 1)
				w->family = AF_INET6;
			else
				continue;
			w->pod = i;
			s->n_addrs++;
			any = true;
		}
		if (any)
			s->left++;
	}
}

/* Inserts key into the sorted *seen (*n of *cap), growing it; -ENOMEM. */
static int seen_insert(struct seen_ns **seen, size_t *n, size_t *cap, struct seen_ns key)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct seen_ns *ns = reallocarray(*seen, nc, sizeof(**seen));
		if (!ns)
			return -ENOMEM;
		*seen = ns;
		*cap = nc;
	}
	size_t at = *n;
	while (at > 0 && cmp_seen(&(*seen)[at - 1], &key) > 0)
		at--;
	memmove(&(*seen)[at + 1], &(*seen)[at], (*n - at) * sizeof(**seen));
	(*seen)[at] = key;
	(*n)++;
	return 0;
}

/* After a failed scan: no fd is handed out. */
static void close_found(struct netns_find_want *want, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (want[i].fd >= 0) {
			(void)close(want[i].fd);
			want[i].fd = -1;
		}
}

int netns_find(const char *proc_dir, struct netns_find_want *want, size_t n, struct error *err)
{
	size_t n_addrs = 0;
	for (size_t i = 0; i < n; i++) {
		want[i].fd = -1;
		n_addrs += want[i].n_ips;
	}
	_cleanup_free_ struct want_addr *addrs = calloc(n_addrs ? n_addrs : 1, sizeof(*addrs));
	_cleanup_free_ char *buf = malloc(MNL_SOCKET_BUFFER_SIZE);
	_cleanup_free_ char *text = malloc(NETNS_FIND_PROC_NET_MAX);
	if (!addrs || !buf || !text)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	struct scan s = {.pods = want, .addrs = addrs};
	parse_wanted(want, n, &s);
	if (s.left == 0)
		return 0;

	_cleanup_close_ int dfd = open(proc_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return error_set(err, ERR_IO, -errno, "cannot open %s", proc_dir);
	int dfd2 = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
	if (dfd2 < 0)
		return error_set(err, ERR_IO, -errno, "cannot duplicate an fd");
	DIR *d = fdopendir(dfd2);
	if (!d) {
		int e = -errno;
		(void)close(dfd2);
		return error_set(err, ERR_IO, e, "cannot read %s", proc_dir);
	}
	/* Seen namespaces, kept sorted: a node has thousands of processes. */
	_cleanup_free_ struct seen_ns *seen = NULL;
	size_t n_seen = 0, cap = 0;
	int result = 0;
	struct dirent *de;
	while (s.left > 0 && (de = readdir(d))) {
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
		struct stat st;
		if (fstat(fd, &st) < 0)
			continue;
		struct seen_ns key = {st.st_dev, st.st_ino};
		if (n_seen && bsearch(&key, seen, n_seen, sizeof(*seen), cmp_seen))
			continue;
		if (ioctl(fd, NS_GET_NSTYPE) != CLONE_NEWNET)
			continue;
		if (seen_insert(&seen, &n_seen, &cap, key) < 0) {
			result = error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
			break;
		}
		struct error e = {0};
		s.ns_fd = fd;
		int r = proc_addrs(dfd, de->d_name, &s, text, NETNS_FIND_PROC_NET_MAX);
		if (r < 0 && !s.error)
			r = dump_netns(fd, &s, buf, &e);
		if (r < 0 && e.kind == ERR_INVALID_NETNS) {
			/* Could not get back to our own netns: stop here. */
			if (err)
				*err = e;
			result = -EIO;
			break;
		}
		if (s.error) {
			result = error_set(err, ERR_IO, s.error, "cannot duplicate a netns fd");
			break;
		}
	}
	(void)closedir(d);
	if (result < 0)
		close_found(want, n);
	return result;
}

int netns_find_one(const char *proc_dir, const char *const *ips, size_t n_ips, int *ret_fd,
		   struct error *err)
{
	size_t n_valid = 0;
	for (size_t i = 0; i < n_ips; i++) {
		uint8_t bytes[16];
		if (inet_pton(AF_INET, ips[i], bytes) == 1 ||
		    inet_pton(AF_INET6, ips[i], bytes) == 1)
			n_valid++;
	}
	if (n_valid == 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "the pod has no IP address yet");
	struct netns_find_want want = {.ips = ips, .n_ips = n_ips, .fd = -1};
	int r = netns_find(proc_dir, &want, 1, err);
	if (r < 0)
		return r;
	if (want.fd < 0)
		return error_set(err, ERR_UNKNOWN_CONTAINER, -ENOENT,
				 "no network namespace under %s holds %s", proc_dir, ips[0]);
	*ret_fd = want.fd;
	return 0;
}
