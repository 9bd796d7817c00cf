// SPDX-License-Identifier: Apache-2.0
#include "netlink/netlink.h"

#include <errno.h>
#include <linux/netlink.h>

const char *netlink_extack_msg(const struct nlmsghdr *nlh)
{
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
		return NULL;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	/* The TLVs follow the echoed request, or only its header when capped. */
	size_t off = sizeof(*e);
	if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - sizeof(e->msg);
	/* Not const: mnl_attr_for_each casts it to char * (clang's -Wcast-qual). */
	struct nlattr *a;
	mnl_attr_for_each (a, nlh, off) {
		if (mnl_attr_get_type(a) == NLMSGERR_ATTR_MSG &&
		    mnl_attr_validate(a, MNL_TYPE_NUL_STRING) >= 0)
			return mnl_attr_get_str(a);
	}
	return NULL;
}

static int step_failed(enum netlink_step step, enum netlink_step *failed_step)
{
	/* Never 0 on failure; -EINVAL is what error_set made of a lost errno. */
	int r = errno ? -errno : -EINVAL;
	if (failed_step)
		*failed_step = step;
	return r;
}

int netlink_request(struct mnl_socket *nl, struct nlmsghdr *nlh, void *buf, size_t len, mnl_cb_t cb,
		    void *data, enum netlink_step *failed_step)
{
	uint32_t seq = nlh->nlmsg_seq;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return step_failed(NETLINK_STEP_SEND, failed_step);
	uint32_t portid = mnl_socket_get_portid(nl);
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return step_failed(NETLINK_STEP_RECV, failed_step);
		}
		int r = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
		if (r < 0)
			return step_failed(NETLINK_STEP_PARSE, failed_step);
		if (r == MNL_CB_STOP)
			return 0;
	}
}
