// SPDX-License-Identifier: Apache-2.0
#include "capture/backend_select.h"

#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util/file_util.h"

#define TABLE_NAMES_MAX 4096

static const char *const names_path[_PLAN_FAMILY_MAX] = {
	[PLAN_V4] = "/proc/thread-self/net/ip_tables_names",
	[PLAN_V6] = "/proc/thread-self/net/ip6_tables_names",
};

unsigned int backend_parse_table_names(const char *buf, size_t len)
{
	static const struct {
		const char *name;
		unsigned int bit;
	} known[] = {
		{"filter", LEGACY_TABLE_FILTER},     {"nat", LEGACY_TABLE_NAT},
		{"mangle", LEGACY_TABLE_MANGLE},     {"raw", LEGACY_TABLE_RAW},
		{"security", LEGACY_TABLE_SECURITY},
	};
	unsigned int mask = 0;
	size_t i = 0;

	while (i < len) {
		size_t start = i;
		while (i < len && buf[i] != '\n')
			i++;
		size_t n = i - start;
		i++; /* past the newline */
		while (n > 0 && (buf[start + n - 1] == ' ' || buf[start + n - 1] == '\r'))
			n--;
		if (n == 0)
			continue;
		unsigned int bit = LEGACY_TABLE_OTHER;
		for (size_t k = 0; k < ELEMENTSOF(known); k++) {
			if (strlen(known[k].name) == n &&
			    memcmp(known[k].name, buf + start, n) == 0) {
				bit = known[k].bit;
				break;
			}
		}
		mask |= bit;
	}
	return mask;
}

enum redirect_backend backend_configured(enum redirect_backend redirect_backend,
					 bool native_nftables)
{
	if (redirect_backend == REDIRECT_BACKEND_NFTABLES ||
	    redirect_backend == REDIRECT_BACKEND_IPTABLES)
		return redirect_backend;
	return native_nftables ? REDIRECT_BACKEND_NFTABLES : REDIRECT_BACKEND_AUTO;
}

enum redirect_backend backend_decide(enum redirect_backend configured,
				     const struct legacy_tables *legacy, bool nft_available)
{
	if (configured == REDIRECT_BACKEND_NFTABLES || configured == REDIRECT_BACKEND_IPTABLES)
		return configured;
	if (!nft_available)
		return REDIRECT_BACKEND_IPTABLES;
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		if (legacy && (legacy->mask[f] & LEGACY_TABLE_NAT))
			return REDIRECT_BACKEND_IPTABLES;
	return REDIRECT_BACKEND_NFTABLES;
}

enum iptables_variant backend_iptables_variant(const struct legacy_tables *legacy,
					       enum plan_family fam, bool nft_available)
{
	if (!nft_available)
		return IPTABLES_VARIANT_LEGACY;
	if (legacy && fam < _PLAN_FAMILY_MAX && legacy->mask[fam] != 0)
		return IPTABLES_VARIANT_LEGACY;
	return IPTABLES_VARIANT_NFT;
}

const char *iptables_variant_to_string(enum iptables_variant v)
{
	switch (v) {
	case IPTABLES_VARIANT_NFT:
		return "nft";
	case IPTABLES_VARIANT_LEGACY:
		return "legacy";
	case _IPTABLES_VARIANT_MAX:
		break;
	}
	return "?";
}

int backend_probe_legacy_tables(struct legacy_tables *ret)
{
	struct legacy_tables t = {0};

	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		_cleanup_free_ char *buf = NULL;
		size_t len = 0;
		int r = file_read_full(names_path[f], TABLE_NAMES_MAX, &buf, &len);
		if (r == -ENOENT)
			continue; /* ip_tables / ip6_tables not loaded: no legacy table anywhere */
		if (r < 0)
			return r;
		t.mask[f] = backend_parse_table_names(buf, len);
	}
	*ret = t;
	return 0;
}

struct gen_ctx {
	bool seen;
};

static int gen_cb(const struct nlmsghdr *nlh, void *data)
{
	struct gen_ctx *c = data;
	if ((nlh->nlmsg_type & 0xff) == NFT_MSG_NEWGEN)
		c->seen = true;
	return MNL_CB_OK;
}

int backend_probe_nft(struct mnl_socket *nl, bool *ret_available, struct error *err)
{
	char buf[8192];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	uint32_t seq = (uint32_t)time(NULL);
	nlh->nlmsg_seq = seq;
	struct nfgenmsg *nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = 0;

	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return error_set(err, ERR_NFTABLES, -errno,
				 "asking for the nf_tables generation: %m");

	struct gen_ctx c = {0};
	unsigned int portid = mnl_socket_get_portid(nl);
	int r;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return error_set(err, ERR_NFTABLES, -errno,
					 "reading the nf_tables generation: %m");
		r = mnl_cb_run(buf, (size_t)n, seq, portid, gen_cb, &c);
		if (r <= MNL_CB_STOP)
			break;
	}
	if (r < 0) {
		int e = errno;
		if (e == EOPNOTSUPP || e == EPROTONOSUPPORT || e == EAFNOSUPPORT || e == EINVAL ||
		    e == ENOENT) {
			*ret_available = false;
			return 0;
		}
		return error_set(err, ERR_NFTABLES, -e, "nf_tables generation request: %s",
				 strerror(e));
	}
	*ret_available = c.seen;
	return 0;
}
