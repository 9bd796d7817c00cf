// SPDX-License-Identifier: Apache-2.0
#include "netlink/rtnl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <string.h>
#include <time.h>

#include "netlink/netlink.h"
#include "util/istio_names.h"

/* The loopback device is ifindex 1 in every network namespace. */
#define LOOPBACK_IFINDEX 1

static uint32_t next_seq(void)
{
	static uint32_t seq;
	if (seq == 0)
		seq = (uint32_t)time(NULL);
	return ++seq;
}

/* Sends one request and reads its ack; the kernel's errno is returned. */
static int talk(struct mnl_socket *nl, struct nlmsghdr *nlh, const char *what, bool eexist_ok,
		struct error *err)
{
	char buf[8192] __attribute__((aligned(4)));
	uint32_t seq = nlh->nlmsg_seq;

	nlh->nlmsg_flags |= NLM_F_ACK;
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return error_set(err, ERR_NETLINK, -errno, "%s: sending", what);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return error_set(err, ERR_NETLINK, -errno, "%s: reading ack", what);
		}
		const struct nlmsghdr *h = (const struct nlmsghdr *)buf;
		int left = (int)n;
		for (; mnl_nlmsg_ok(h, left); h = mnl_nlmsg_next(h, &left)) {
			if (h->nlmsg_seq != seq || h->nlmsg_type != NLMSG_ERROR)
				continue;
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
			if (e->error == 0 || (eexist_ok && e->error == -EEXIST))
				return 0;
			const char *ext = netlink_extack_msg(h);
			return error_set(err, ERR_NETLINK, e->error, "%s: %s%s%s%s", what,
					 strerror(-e->error), ext ? " (" : "", ext ? ext : "",
					 ext ? ")" : "");
		}
	}
}

struct addr_scan {
	bool dual_stack;
	bool found;
	bool ipv6;
	bool done;
};

static bool v4_skip(const uint8_t *a)
{
	/* 127/8 loopback, 169.254/16 link-local, 224.0.0/24 link-local multicast */
	return a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 224 && a[1] == 0 && a[2] == 0);
}

static void consider(struct addr_scan *s, int family, const uint8_t *a)
{
	bool v6 = family == AF_INET6;
	if (v6) {
		static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		static const uint8_t loop[16] = {[15] = 1};
		if (memcmp(a, mapped, 12) == 0) {
			v6 = false;
			a += 12;
		} else if (memcmp(a, loop, 16) == 0 || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
			   (a[0] == 0xff && (a[1] & 0x0f) == 0x02)) {
			return;
		}
	}
	if (!v6 && v4_skip(a))
		return;
	if (!s->found) {
		s->found = true;
		s->ipv6 = v6;
		if (!s->dual_stack)
			s->done = true;
	} else if (v6) {
		s->ipv6 = true;
	}
	if (s->dual_stack && s->ipv6)
		s->done = true;
}

static int addr_cb(const struct nlmsghdr *nlh, void *data)
{
	struct addr_scan *s = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	const struct nlattr *a, *addr = NULL, *local = NULL;

	if (s->done || nlh->nlmsg_type != RTM_NEWADDR)
		return MNL_CB_OK;
	mnl_attr_for_each (a, nlh, sizeof(*ifa)) {
		if (mnl_attr_get_type(a) == IFA_ADDRESS)
			addr = a;
		else if (mnl_attr_get_type(a) == IFA_LOCAL)
			local = a;
	}
	/* IFA_LOCAL is the interface's own address on point-to-point links. */
	const struct nlattr *use = local ? local : addr;
	size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!use || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) ||
	    mnl_attr_get_payload_len(use) < want)
		return MNL_CB_OK;
	consider(s, ifa->ifa_family, mnl_attr_get_payload(use));
	return MNL_CB_OK;
}

int rtnl_detect_ipv6(struct mnl_socket *nl, bool dual_stack, bool *ret_ipv6, struct error *err)
{
	char buf[16384] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct addr_scan s = {.dual_stack = dual_stack};

	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nlh->nlmsg_seq = next_seq();
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_UNSPEC;

	enum netlink_step step;
	int r = netlink_request(nl, nlh, buf, sizeof(buf), addr_cb, &s, &step);
	if (r < 0)
		return error_set(err, ERR_NETLINK, r, "%s",
				 step == NETLINK_STEP_SEND ? "requesting the pod's addresses"
							   : "reading the pod's addresses");
	if (!s.found)
		return error_set(
			err, ERR_NETLINK, -EADDRNOTAVAIL,
			"the pod netns has no usable address (all loopback or link-local)");
	*ret_ipv6 = s.ipv6;
	return 0;
}

int rtnl_add_passthrough_addr(struct mnl_socket *nl, struct error *err)
{
	char buf[512] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct in6_addr a;

	if (inet_pton(AF_INET6, INBOUND_PASSTHROUGH_V6, &a) != 1)
		return error_set(err, ERR_INTERNAL, -EINVAL, "bad constant");
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = next_seq();
	struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET6;
	ifa->ifa_prefixlen = 128;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = LOOPBACK_IFINDEX;
	ifa->ifa_flags = IFA_F_NODAD;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(a), &a);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(a), &a);
	mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	return talk(nl, nlh, "adding ::6/128 to lo", true, err);
}

static int add_rule(struct mnl_socket *nl, int family, struct error *err)
{
	char buf[512] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = RTM_NEWRULE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = next_seq();
	struct fib_rule_hdr *frh = mnl_nlmsg_put_extra_header(nlh, sizeof(*frh));
	frh->family = (uint8_t)family;
	frh->action = FR_ACT_TO_TBL;
	frh->table = TPROXY_ROUTE_TABLE;
	mnl_attr_put_u32(nlh, FRA_FWMARK, TPROXY_MARK);
	mnl_attr_put_u32(nlh, FRA_TABLE, TPROXY_ROUTE_TABLE);
	return talk(nl, nlh,
		    family == AF_INET ? "adding ip rule fwmark 1337 lookup 133"
				      : "adding ip -6 rule fwmark 1337 lookup 133",
		    true, err);
}

static int add_route(struct mnl_socket *nl, int family, struct error *err)
{
	char buf[512] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	nlh->nlmsg_type = RTM_NEWROUTE;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL;
	nlh->nlmsg_seq = next_seq();
	struct rtmsg *rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = 0;
	rtm->rtm_table = TPROXY_ROUTE_TABLE;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_HOST;
	rtm->rtm_type = RTN_LOCAL;
	mnl_attr_put_u32(nlh, RTA_TABLE, TPROXY_ROUTE_TABLE);
	mnl_attr_put_u32(nlh, RTA_OIF, LOOPBACK_IFINDEX);
	return talk(nl, nlh,
		    family == AF_INET ? "adding local default route dev lo table 133"
				      : "adding local ::/0 route dev lo table 133",
		    true, err);
}

int rtnl_add_tproxy_routes(struct mnl_socket *nl, bool ipv6, struct error *err)
{
	int r = add_rule(nl, AF_INET, err);
	if (r >= 0)
		r = add_route(nl, AF_INET, err);
	if (r >= 0 && ipv6)
		r = add_rule(nl, AF_INET6, err);
	if (r >= 0 && ipv6)
		r = add_route(nl, AF_INET6, err);
	return r;
}
