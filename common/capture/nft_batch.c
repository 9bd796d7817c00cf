// SPDX-License-Identifier: Apache-2.0
/* Program → libnftnl objects → one netlink batch, every ack read. */
#include "capture/nft_batch.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/rule.h>
#include <libnftnl/set.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "capture/nft_internal.h"
#include "capture/nft_render.h"
#include "netlink/netlink.h"

/* Elements per NEWSETELEM message: keeps every message far below the page budget. */
#define SETELEM_CHUNK 256
/* Room reserved before building any one message. */
#define MSG_RESERVE ((size_t)64 * 1024)

enum msg_kind {
	MSG_DEL_TABLE,
	MSG_ADD_TABLE,
	MSG_ADD_CHAIN,
	MSG_ADD_SET,
	MSG_ADD_ELEMS,
	MSG_ADD_RULE,
};

struct msg_info {
	enum msg_kind kind;
	enum plan_table table;
	enum plan_chain chain;
	size_t rule; /* index into the program */
};

struct batch {
	char *buf;
	size_t len;
	size_t cap;
	uint32_t seq0; /* seq of the first object message; the batch begin has seq0 - 1 */
	uint32_t seq;
	size_t last_off; /* offset of the last object message in buf */
	struct msg_info *info;
	size_t n_info;
	size_t cap_info;
};

static void batch_done(struct batch *b)
{
	free(b->buf);
	free(b->info);
	memset(b, 0, sizeof(*b));
}

static int batch_reserve(struct batch *b)
{
	if (b->cap - b->len >= MSG_RESERVE)
		return 0;
	size_t ncap = b->cap ? b->cap * 2 : 4 * MSG_RESERVE;
	while (ncap - b->len < MSG_RESERVE)
		ncap *= 2;
	/*
	 * Zeroed by calloc, not by memset: a buffer this size comes straight
	 * from the kernel, already zero, and only the pages the batch writes are
	 * ever touched. A pod's batch is a few KB of the 256 KB; the memset made
	 * every ADD fault in all 64 pages.
	 */
	char *n = calloc(1, ncap);
	if (!n)
		return -ENOMEM;
	if (b->len > 0)
		memcpy(n, b->buf, b->len);
	free(b->buf);
	b->buf = n;
	b->cap = ncap;
	return 0;
}

/* Starts a message at the tail; returns it with its seq, recording what it is. */
static struct nlmsghdr *batch_msg(struct batch *b, uint16_t type, uint16_t flags,
				  const struct msg_info *info)
{
	if (batch_reserve(b) < 0)
		return NULL;
	if (b->n_info == b->cap_info) {
		size_t ncap = b->cap_info ? b->cap_info * 2 : 64;
		struct msg_info *n = reallocarray(b->info, ncap, sizeof(*n));
		if (!n)
			return NULL;
		b->info = n;
		b->cap_info = ncap;
	}
	b->info[b->n_info++] = *info;
	b->last_off = b->len;
	return nftnl_nlmsg_build_hdr(b->buf + b->len, type, NFPROTO_INET, flags, b->seq++);
}

static void batch_commit_msg(struct batch *b, const struct nlmsghdr *nlh)
{
	b->len += NLMSG_ALIGN(nlh->nlmsg_len);
}

static int batch_begin(struct batch *b, uint32_t seq)
{
	if (batch_reserve(b) < 0)
		return -ENOMEM;
	batch_commit_msg(b, nftnl_batch_begin(b->buf + b->len, seq++));
	b->seq0 = seq;
	b->seq = seq;
	return 0;
}

/*
 * Only the last object message asks for an ack. nfnetlink reports every
 * failing message whether it asked or not, and queues all replies inside the
 * sendmsg() that carries the batch; an ack per message would need a receive
 * buffer sized for tens of thousands of replies, and one dropped ack would
 * leave a committed batch looking failed.
 */
static int batch_end(struct batch *b)
{
	if (b->n_info > 0)
		((struct nlmsghdr *)(void *)(b->buf + b->last_off))->nlmsg_flags |= NLM_F_ACK;
	if (batch_reserve(b) < 0)
		return -ENOMEM;
	batch_commit_msg(b, nftnl_batch_end(b->buf + b->len, b->seq));
	return 0;
}

static int batch_table(struct batch *b, enum plan_table t, bool add)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *tb = nftnl_table_alloc();
	struct msg_info info = {.kind = add ? MSG_ADD_TABLE : MSG_DEL_TABLE, .table = t};
	if (!tb)
		return -ENOMEM;
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, redirect_plan_table_nft_name(t));
	struct nlmsghdr *nlh = batch_msg(b, add ? NFT_MSG_NEWTABLE : NFT_MSG_DELTABLE,
					 add ? NLM_F_CREATE | NLM_F_EXCL : 0, &info);
	if (!nlh)
		return -ENOMEM;
	nftnl_table_nlmsg_build_payload(nlh, tb);
	batch_commit_msg(b, nlh);
	return 0;
}

static struct nftnl_chain *chain_new(enum plan_table t, enum plan_chain c)
{
	struct nftnl_chain *ch = nftnl_chain_alloc();
	if (!ch)
		return NULL;
	nftnl_chain_set_u32(ch, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(ch, NFTNL_CHAIN_TABLE, redirect_plan_table_nft_name(t));
	nftnl_chain_set_str(ch, NFTNL_CHAIN_NAME, redirect_plan_chain_nft_name(c));
	const struct nft_base_chain *bc = nft_base_chain(t, c);
	if (bc) {
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_HOOKNUM, bc->hooknum);
		nftnl_chain_set_s32(ch, NFTNL_CHAIN_PRIO, bc->prio);
		nftnl_chain_set_str(ch, NFTNL_CHAIN_TYPE, bc->type);
		nftnl_chain_set_u32(ch, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	}
	return ch;
}

static int batch_chain(struct batch *b, enum plan_table t, enum plan_chain c)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *ch = chain_new(t, c);
	struct msg_info info = {.kind = MSG_ADD_CHAIN, .table = t, .chain = c};
	if (!ch)
		return -ENOMEM;
	struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWCHAIN, NLM_F_CREATE | NLM_F_EXCL, &info);
	if (!nlh)
		return -ENOMEM;
	nftnl_chain_nlmsg_build_payload(nlh, ch);
	batch_commit_msg(b, nlh);
	return 0;
}

struct elem_chunk_ctx {
	struct batch *b;
	struct msg_info info;
	const char *table;
	uint32_t set_id;
	struct nftnl_set *chunk;
	size_t n;
	int err;
};

static int chunk_flush(struct elem_chunk_ctx *c)
{
	if (!c->chunk || c->n == 0)
		return 0;
	c->info.kind = MSG_ADD_ELEMS;
	struct nlmsghdr *nlh = batch_msg(c->b, NFT_MSG_NEWSETELEM, NLM_F_CREATE | NLM_F_EXCL,
					 &c->info);
	if (!nlh)
		return -ENOMEM;
	nftnl_set_elems_nlmsg_build_payload(nlh, c->chunk);
	batch_commit_msg(c->b, nlh);
	nftnl_set_free(c->chunk);
	c->chunk = NULL;
	c->n = 0;
	return 0;
}

static int elem_chunk_cb(struct nftnl_set_elem *e, void *data)
{
	struct elem_chunk_ctx *c = data;
	if (!c->chunk) {
		c->chunk = nft_set_ref_new(c->table, c->set_id);
		if (!c->chunk) {
			c->err = -ENOMEM;
			return -1;
		}
	}
	uint32_t klen = 0;
	const void *key = nftnl_set_elem_get(e, NFTNL_SET_ELEM_KEY, &klen);
	uint32_t flags = nftnl_set_elem_is_set(e, NFTNL_SET_ELEM_FLAGS)
				 ? nftnl_set_elem_get_u32(e, NFTNL_SET_ELEM_FLAGS)
				 : 0;
	int r = nft_set_add_elem(c->chunk, key, klen, flags);
	if (r < 0) {
		c->err = r;
		return -1;
	}
	if (++c->n >= SETELEM_CHUNK) {
		r = chunk_flush(c);
		if (r < 0) {
			c->err = r;
			return -1;
		}
	}
	return 0;
}

static int batch_set(struct batch *b, struct nftnl_set *s, const struct msg_info *rinfo)
{
	struct msg_info info = *rinfo;
	info.kind = MSG_ADD_SET;
	struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWSET, NLM_F_CREATE | NLM_F_EXCL, &info);
	if (!nlh)
		return -ENOMEM;
	nftnl_set_nlmsg_build_payload(nlh, s);
	batch_commit_msg(b, nlh);

	/* Elements in bounded chunks, each its own message. */
	struct elem_chunk_ctx c = {.b = b,
				   .info = info,
				   .table = nftnl_set_get_str(s, NFTNL_SET_TABLE),
				   .set_id = nftnl_set_get_u32(s, NFTNL_SET_ID)};
	int r = nftnl_set_elem_foreach(s, elem_chunk_cb, &c);
	if (r >= 0 && c.err >= 0)
		r = chunk_flush(&c);
	if (c.chunk)
		nftnl_set_free(c.chunk);
	return c.err < 0 ? c.err : r;
}

static int batch_rule(struct batch *b, const struct nft_rule_ir *ir, size_t idx, uint32_t set_id)
{
	struct nft_built_rule br;
	struct msg_info info = {.kind = MSG_ADD_RULE,
				.table = ir->table,
				.chain = ir->chain,
				.rule = idx};
	int r = nft_build_rule(ir, set_id, &br);
	if (r < 0)
		return r;
	if (br.set) {
		r = batch_set(b, br.set, &info);
		if (r < 0)
			goto out;
	}
	struct nlmsghdr *nlh = batch_msg(b, NFT_MSG_NEWRULE, NLM_F_CREATE | NLM_F_APPEND, &info);
	if (!nlh) {
		r = -ENOMEM;
		goto out;
	}
	nftnl_rule_nlmsg_build_payload(nlh, br.rule);
	batch_commit_msg(b, nlh);
out:
	nft_built_rule_done(&br);
	return r;
}

uint32_t nft_seq_start(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u) << 8;
}

static void describe_msg(const struct nft_program *p, const struct msg_info *mi, char *buf,
			 size_t len)
{
	const char *t = redirect_plan_table_nft_name(mi->table);
	switch (mi->kind) {
	case MSG_DEL_TABLE:
		(void)snprintf(buf, len, "delete table inet %s", t);
		break;
	case MSG_ADD_TABLE:
		(void)snprintf(buf, len, "add table inet %s", t);
		break;
	case MSG_ADD_CHAIN:
		(void)snprintf(buf, len, "add chain inet %s %s", t,
			       redirect_plan_chain_nft_name(mi->chain));
		break;
	case MSG_ADD_SET:
	case MSG_ADD_ELEMS:
	case MSG_ADD_RULE: {
		_cleanup_free_ char *text = NULL;
		if (!p || mi->rule >= p->n || nft_rule_ir_render(&p->rule[mi->rule], &text) < 0)
			text = NULL;
		(void)snprintf(buf, len, "%s inet %s %s %s",
			       mi->kind == MSG_ADD_RULE	 ? "add rule"
			       : mi->kind == MSG_ADD_SET ? "add set for rule"
							 : "add set elements for rule",
			       t, redirect_plan_chain_nft_name(mi->chain), text ? text : "");
		break;
	}
	}
}

static int socket_grow_sndbuf(struct mnl_socket *nl, size_t len)
{
	int fd = mnl_socket_get_fd(nl);
	int cur = 0;
	socklen_t sl = sizeof(cur);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &cur, &sl) < 0)
		return -errno;
	if ((size_t)cur >= len + 4096)
		return 0;
	int want = (int)(len + 4096);
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof(want)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) < 0)
		return -errno;
	return 0;
}

/* What the replies to one batch said. */
struct batch_replies {
	bool last_acked; /* the ack of the last object message arrived */
	int first_err;	 /* first error of an object message, by sequence */
	size_t first_idx;
	char first_ext[256];
	int commit_err; /* an error on the batch begin: the commit failed */
	bool overrun;	/* replies were dropped: the receive buffer overflowed */
};

static void batch_reply(const struct batch *b, const struct nlmsghdr *nlh,
			struct batch_replies *rep)
{
	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
		return;
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
	if (nlh->nlmsg_seq == b->seq0 - 1) {
		if (e->error != 0 && !rep->commit_err)
			rep->commit_err = e->error;
		return;
	}
	uint32_t idx = nlh->nlmsg_seq - b->seq0;
	if (nlh->nlmsg_seq < b->seq0 || idx >= b->n_info)
		return; /* not ours (stale) */
	if (idx == b->n_info - 1)
		rep->last_acked = true;
	if (e->error != 0 && (!rep->first_err || idx < rep->first_idx)) {
		rep->first_err = e->error;
		rep->first_idx = idx;
		const char *ext = netlink_extack_msg(nlh);
		rep->first_ext[0] = '\0';
		if (ext)
			(void)snprintf(rep->first_ext, sizeof(rep->first_ext), " (%s)", ext);
	}
}

/*
 * Reads the replies to a sent batch. The kernel handles the whole batch inside
 * sendmsg(), so every reply is queued when it returns: the ack of the last
 * message (sent last, after any errors), an error per failing message, and an
 * error on the batch begin when the commit itself failed. A short poll covers
 * anything else. A receive buffer overrun (ENOBUFS, reported once, before the
 * replies still queued) can only come from a flood of errors, and any error
 * aborts the whole batch; the queue is still read for the first of them.
 */
static int batch_read_replies(struct mnl_socket *nl, const struct batch *b,
			      struct batch_replies *rep)
{
	char rbuf[16384] __attribute__((aligned(4)));
	int fd = mnl_socket_get_fd(nl);

	while (!rep->last_acked) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (rep->first_err || rep->commit_err || rep->overrun)
				return 0; /* the batch was processed and refused */
			struct pollfd pfd = {.fd = fd, .events = POLLIN};
			int pr = poll(&pfd, 1, 1000);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				return -ETIMEDOUT;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOBUFS) {
			rep->overrun = true;
			continue;
		}
		if (n < 0)
			return -errno;
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)rbuf;
		/* A receive is at most the buffer's size, so it fits libmnl's int. */
		int left = (int)n;
		for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
			batch_reply(b, nlh, rep);
	}
	return 0;
}

/* Sends the batch and reads its replies; 0 when the kernel committed it. */
static int batch_send(struct mnl_socket *nl, struct batch *b, const struct nft_program *p,
		      struct error *err)
{
	int r = socket_grow_sndbuf(nl, b->len);
	if (r < 0)
		return error_set(err, ERR_NFTABLES, r, "growing netlink send buffer");
	if (mnl_socket_sendto(nl, b->buf, b->len) < 0)
		return error_set(err, ERR_NFTABLES, -errno, "sending nftables batch");

	struct batch_replies rep = {0};
	r = batch_read_replies(nl, b, &rep);
	if (rep.first_err) {
		char what[ERROR_MSG_MAX];
		describe_msg(p, &b->info[rep.first_idx], what, sizeof(what));
		return error_set(err, ERR_NFTABLES, rep.first_err, "nftables rejected \"%s\": %s%s",
				 what, strerror(-rep.first_err), rep.first_ext);
	}
	if (rep.commit_err)
		return error_set(err, ERR_NFTABLES, rep.commit_err,
				 "nftables refused to commit the batch of %zu messages: %s",
				 b->n_info, strerror(-rep.commit_err));
	if (rep.overrun)
		return error_set(err, ERR_NFTABLES, -ENOBUFS,
				 "nftables rejected the batch of %zu messages: more errors than "
				 "the receive buffer holds",
				 b->n_info);
	if (r == -ETIMEDOUT)
		return error_set(err, ERR_NFTABLES, r,
				 "the batch of %zu nftables messages was not acknowledged",
				 b->n_info);
	if (r < 0)
		return error_set(err, ERR_NFTABLES, r, "reading nftables acks");
	return 0;
}

int nft_batch_apply(struct mnl_socket *nl, const struct nft_program *p, unsigned int del_mask,
		    struct error *err)
{
	struct batch b = {0};
	uint32_t set_id = 1;
	int r;

	r = batch_begin(&b, nft_seq_start());
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++)
		if (del_mask & (1u << t))
			r = batch_table(&b, t, false);
	for (int t = 0; t < _PLAN_TABLE_MAX && r >= 0; t++) {
		if (!p->table_used[t])
			continue;
		r = batch_table(&b, t, true);
		for (int c = 0; c < _PLAN_CHAIN_MAX && r >= 0; c++)
			if (p->chain_used[t][c])
				r = batch_chain(&b, t, c);
		for (size_t i = 0; i < p->n && r >= 0; i++) {
			if (p->rule[i].table != (enum plan_table)t)
				continue;
			r = batch_rule(&b, &p->rule[i], i,
				       nft_rule_needs_set(&p->rule[i]) ? set_id++ : 0);
		}
	}
	if (r >= 0)
		r = batch_end(&b);
	if (r < 0) {
		batch_done(&b);
		return error_set(err, ERR_NFTABLES, r, "building nftables batch");
	}
	if (b.n_info == 0) {
		batch_done(&b);
		return 0;
	}
	r = batch_send(nl, &b, p, err);
	batch_done(&b);
	return r;
}
