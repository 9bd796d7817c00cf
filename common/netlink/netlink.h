/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Netlink request plumbing shared by the rtnetlink (rtnl.c) and nf_tables
 * (nft_check.c, nft_batch.c) code: reading replies and extended acks. The
 * sockets themselves come from netns_mnl_open (netns.h).
 */
#ifndef ISTIO_CNI_NETLINK_H
#define ISTIO_CNI_NETLINK_H

#include <libmnl/libmnl.h>
#include <stddef.h>

#include "util/cleanup.h"

/*
 * The extended-ack text (NLMSGERR_ATTR_MSG) of the NLMSG_ERROR message nlh,
 * or NULL when the kernel attached none or nlh is too short to hold an
 * nlmsgerr. The string points into nlh's buffer: use it before the buffer is
 * reused.
 */
const char *netlink_extack_msg(const struct nlmsghdr *nlh);

/* Which step of netlink_request failed. */
enum netlink_step {
	NETLINK_STEP_SEND,  /* sending the request */
	NETLINK_STEP_RECV,  /* receiving a reply */
	NETLINK_STEP_PARSE, /* libmnl or cb refused a reply (a kernel error included) */
};

/*
 * Sends the request nlh (nlmsg_seq already set) on nl and runs cb(nlh, data)
 * over every reply carrying that sequence number and nl's port id, until the
 * dump's NLMSG_DONE, the request's ack or cb returning MNL_CB_STOP. Replies
 * are received into buf (len bytes, 4-byte aligned), which may be the buffer
 * nlh was built in. A receive interrupted by a signal is retried.
 *
 * Returns 0, or -errno with *failed_step (when not NULL) set to the step that
 * failed, so the caller can word its own error; nothing else is written.
 */
int netlink_request(struct mnl_socket *nl, struct nlmsghdr *nlh, void *buf, size_t len, mnl_cb_t cb,
		    void *data, enum netlink_step *failed_step) _must_check_;

#endif
