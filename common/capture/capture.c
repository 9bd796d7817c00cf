// SPDX-License-Identifier: Apache-2.0
#include "capture/capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/iptables_backend.h"
#include "capture/nft_backend.h"
#include "capture/redirect_planner.h"
#include "netlink/netns.h"
#include "netlink/rtnl.h"
#include "util/istio_names.h"
#include "util/parse_util.h"

static const char *const drift_names[_CAPTURE_DRIFT_MAX] = {
	[CAPTURE_DRIFT_NONE] = "none",
	[CAPTURE_DRIFT_MISSING] = "missing",
	[CAPTURE_DRIFT_CHANGED] = "changed",
	[CAPTURE_DRIFT_UNEXPECTED] = "unexpected",
};

const char *capture_drift_to_string(enum capture_drift d)
{
	if ((unsigned)d >= _CAPTURE_DRIFT_MAX)
		return "unknown";
	return drift_names[d];
}

static void redirect_plan_donep(struct redirect_plan *p)
{
	redirect_plan_done(p);
}

/* Decision and parameters; 1 = skipped. */
static int decide(const struct pod_info *pod, enum redirect_skip *ret_skip,
		  struct redirect_params *ret_params, struct error *err)
{
	enum redirect_skip skip = redirect_decide(pod);
	*ret_skip = skip;
	if (skip != REDIRECT_CAPTURE)
		return 1;
	return redirect_params_from_pod(pod, ret_params, err);
}

/* decide() for an apply: when skipped, out (its skip set) is copied to ret when given. */
static int decide_outcome(const struct pod_info *pod, struct capture_outcome *out,
			  struct capture_outcome *ret, struct redirect_params *ret_params,
			  struct error *err)
{
	int r = decide(pod, &out->skip, ret_params, err);
	if (r == 1 && ret)
		*ret = *out;
	return r;
}

/* The proxy's dual-stack setting; unset or not a boolean is false. */
static bool proxy_dual_stack(const struct pod_info *pod)
{
	const char *v = pod_info_proxy_env(pod, PROXY_ENV_DUAL_STACK);
	bool b = false;
	if (v && parse_bool(v, &b) < 0)
		b = false;
	return b;
}

int capture_plan(const struct pod_info *pod, bool ipv6, enum redirect_skip *ret_skip,
		 struct redirect_plan *ret_plan, struct error *err)
{
	struct redirect_params params = {0};
	enum redirect_skip skip = REDIRECT_CAPTURE;
	int r = decide(pod, &skip, &params, err);
	if (r < 0)
		return r;
	*ret_skip = skip;
	if (r == 1)
		return 1;
	struct redirect_plan plan = {0};
	r = redirect_plan_build(&params, ipv6, &plan, err);
	redirect_params_done(&params);
	if (r < 0)
		return r;
	*ret_plan = plan;
	return 0;
}

int capture_ipv6_from_pod(const struct pod_info *pod, bool *ret_ipv6)
{
	bool dual = proxy_dual_stack(pod);
	bool found = false, ipv6 = false;
	for (size_t i = 0; i < pod->n_pod_ips; i++) {
		struct in6_addr a6;
		struct in_addr a4;
		bool v6;
		if (inet_pton(AF_INET, pod->pod_ips[i], &a4) == 1) {
			uint8_t *b = (uint8_t *)&a4;
			if (b[0] == 127 || (b[0] == 169 && b[1] == 254))
				continue;
			v6 = false;
		} else if (inet_pton(AF_INET6, pod->pod_ips[i], &a6) == 1) {
			if (IN6_IS_ADDR_LOOPBACK(&a6) || IN6_IS_ADDR_LINKLOCAL(&a6))
				continue;
			v6 = !IN6_IS_ADDR_V4MAPPED(&a6);
		} else {
			continue;
		}
		if (!found) {
			found = true;
			ipv6 = v6;
			if (!dual)
				break;
		} else if (v6) {
			ipv6 = true;
		}
	}
	*ret_ipv6 = ipv6;
	return 0;
}

/* Sockets in the pod netns: [0] rtnetlink, [1] nfnetlink. */
static int open_sockets(const char *netns_path, struct mnl_socket **ret, struct error *err)
{
	static const int bus[2] = {NETLINK_ROUTE, NETLINK_NETFILTER};
	_cleanup_close_ int fd = -1;
	int r = netns_open(netns_path, &fd, err);
	if (r < 0)
		return r;
	return netns_mnl_open(fd, bus, ret, 2, err);
}

static void close_sockets(struct mnl_socket **s)
{
	for (int i = 0; i < 2; i++)
		if (s[i])
			(void)mnl_socket_close(s[i]);
}

int capture_ipv6_from_netns(const struct pod_info *pod, const char *netns_path, bool *ret_ipv6,
			    struct error *err)
{
	struct mnl_socket *s[2] = {0};
	int r = open_sockets(netns_path, s, err);
	if (r < 0)
		return r;
	r = rtnl_detect_ipv6(s[0], proxy_dual_stack(pod), ret_ipv6, err);
	close_sockets(s);
	return r;
}

/* The plan for params, its IP families detected in the pod netns of rtnl. */
static int plan_in_netns(struct mnl_socket *rtnl, const struct redirect_params *params,
			 struct redirect_plan *ret, struct error *err)
{
	bool ipv6 = false;
	int r = rtnl_detect_ipv6(rtnl, params->dual_stack, &ipv6, err);
	if (r < 0)
		return r;
	return redirect_plan_build(params, ipv6, ret, err);
}

/*
 * plan_in_netns, then what the plan needs besides rules: the IPv6 inbound
 * pass-through address on lo and the TPROXY routes.
 */
static int plan_and_route(struct mnl_socket *rtnl, const struct redirect_params *params,
			  struct redirect_plan *ret, struct error *err)
{
	int r = plan_in_netns(rtnl, params, ret, err);
	if (r < 0)
		return r;
	if (ret->ipv6) {
		r = rtnl_add_passthrough_addr(rtnl, err);
		if (r < 0)
			return r;
	}
	if (ret->tproxy_routes) {
		r = rtnl_add_tproxy_routes(rtnl, ret->ipv6, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The outcome fields every backend reports alike. */
static void outcome_of_plan(struct capture_outcome *o, const struct redirect_plan *plan,
			    const struct redirect_params *params)
{
	o->ipv6 = plan->ipv6;
	o->tproxy = params->mode == REDIRECT_MODE_TPROXY;
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		o->n_rules[f] = plan->fam[f].n_expanded;
}

/*
 * The drift a failed comparison (-EBADMSG) means: a skipped pod with rules is
 * UNEXPECTED; a captured pod is MISSING when the netns passes the empty
 * plan's check (none of our rules there), CHANGED otherwise. empty_check runs
 * the backend's check against the empty plan.
 */
static enum capture_drift drift_of(bool captured, int (*empty_check)(void *ud), void *ud)
{
	if (!captured)
		return CAPTURE_DRIFT_UNEXPECTED;
	return empty_check(ud) == 0 ? CAPTURE_DRIFT_MISSING : CAPTURE_DRIFT_CHANGED;
}

static int nft_empty_check(void *ud)
{
	struct redirect_plan empty = {0};
	return nft_backend_check(ud, &empty, NULL);
}

static int ipt_empty_check(void *ud)
{
	struct redirect_plan empty = {0};
	return iptables_backend_check(ud, &empty, NULL);
}

/* ---- backend selection --------------------------------------------------- */

static enum redirect_backend configured_of(const struct netconf *conf)
{
	if (!conf)
		return REDIRECT_BACKEND_AUTO;
	return backend_configured(conf->redirect_backend, conf->native_nftables);
}

/* The pod netns: its fd (kept for the iptables sandbox), sockets, legacy tables. */
struct pod_ns {
	int fd;
	struct mnl_socket *s[2]; /* [0] rtnetlink, [1] nfnetlink (NULL unless asked for) */
	struct legacy_tables legacy;
};

struct pod_ns_ctx {
	bool nfnl;
	struct mnl_socket *s[2];
	struct legacy_tables legacy;
};

/* Inside the pod netns: the sockets, then two small /proc reads. */
static int pod_ns_in(void *userdata)
{
	struct pod_ns_ctx *c = userdata;
	c->s[0] = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!c->s[0])
		return -errno;
	if (c->nfnl) {
		c->s[1] = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
		if (!c->s[1])
			return -errno;
	}
	return backend_probe_legacy_tables(&c->legacy);
}

static void pod_ns_close(struct pod_ns *ns)
{
	close_sockets(ns->s);
	ns->s[0] = ns->s[1] = NULL;
	if (ns->fd >= 0)
		(void)close(ns->fd);
	ns->fd = -1;
}

static int pod_ns_open(const char *netns_path, bool nfnl, struct pod_ns *ret, struct error *err)
{
	struct pod_ns_ctx c = {.nfnl = nfnl};
	_cleanup_close_ int fd = -1;
	int r = netns_open(netns_path, &fd, err);
	if (r < 0)
		return r;
	r = netns_run(fd, pod_ns_in, &c, err);
	if (r < 0 && err && err->kind == ERR_NONE)
		r = error_set(err, ERR_NETLINK, r, "opening sockets in the pod netns");
	for (int i = 0; i < 2 && r >= 0; i++) {
		if (!c.s[i])
			continue;
		r = netns_mnl_socket_setup(c.s[i]);
		if (r < 0)
			r = error_set(err, ERR_NETLINK, r, "binding a netlink socket");
	}
	if (r < 0) {
		close_sockets(c.s);
		return r;
	}
	ret->fd = TAKE_FD(fd);
	ret->s[0] = c.s[0];
	ret->s[1] = c.s[1];
	ret->legacy = c.legacy;
	return 0;
}

/*
 * A pod netns opened ahead: its sockets as the configured backend's apply
 * opens them, or why that failed (reported only if the pod needs its netns).
 */
struct capture_ns {
	enum redirect_backend configured;
	struct pod_ns ns;
	int r;
	struct error err;
};

/* The sockets the nftables backend alone needs; no fd kept, no probe. */
static int nft_ns_open(const char *netns_path, struct pod_ns *ret, struct error *err)
{
	return open_sockets(netns_path, ret->s, err);
}

int capture_ns_open(const char *netns_path, const struct netconf *conf, struct capture_ns **ret)
{
	struct capture_ns *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->configured = configured_of(conf);
	c->ns.fd = -1;
	if (c->configured == REDIRECT_BACKEND_NFTABLES)
		c->r = nft_ns_open(netns_path, &c->ns, &c->err);
	else
		c->r = pod_ns_open(netns_path, c->configured == REDIRECT_BACKEND_AUTO, &c->ns,
				   &c->err);
	*ret = c;
	return 0;
}

void capture_ns_free(struct capture_ns *c)
{
	if (!c)
		return;
	pod_ns_close(&c->ns);
	free(c);
}

/*
 * The pod netns for an apply under configured: pre's when it was opened
 * ahead for the same backend (its failure then is this one), else opened now
 * into own, which the caller closes.
 */
static int ns_for_apply(struct capture_ns *pre, enum redirect_backend configured,
			const char *netns_path, struct pod_ns *own, struct pod_ns **ret,
			struct error *err)
{
	if (pre && pre->configured == configured) {
		if (pre->r < 0) {
			if (err)
				*err = pre->err;
			return pre->r;
		}
		*ret = &pre->ns;
		return 0;
	}
	int r = configured == REDIRECT_BACKEND_NFTABLES
			? nft_ns_open(netns_path, own, err)
			: pod_ns_open(netns_path, configured == REDIRECT_BACKEND_AUTO, own, err);
	if (r < 0)
		return r;
	*ret = own;
	return 0;
}

/* ---- the nftables backend alone (redirect_backend: nftables) ------------- */

static int nft_apply(const struct pod_info *pod, struct capture_ns *pre, const char *netns_path,
		     struct capture_outcome *ret, struct error *err)
{
	struct capture_outcome out = {.skip = REDIRECT_CAPTURE,
				      .backend = REDIRECT_BACKEND_NFTABLES};
	_cleanup_(redirect_plan_donep) struct redirect_plan plan = {0};
	struct redirect_params params = {0};
	struct pod_ns own = {.fd = -1}, *ns = NULL;
	int r;

	r = decide_outcome(pod, &out, ret, &params, err);
	if (r != 0)
		return r;

	r = ns_for_apply(pre, REDIRECT_BACKEND_NFTABLES, netns_path, &own, &ns, err);
	if (r < 0)
		goto out;
	r = plan_and_route(ns->s[0], &params, &plan, err);
	if (r < 0)
		goto out;
	r = nft_backend_apply(ns->s[1], &plan, err);
	if (r < 0)
		goto out;

	outcome_of_plan(&out, &plan, &params);
	if (ret)
		*ret = out;
	r = 0;
out:
	pod_ns_close(&own);
	redirect_params_done(&params);
	return r;
}

static int nft_remove(const char *netns_path, struct error *err)
{
	struct mnl_socket *s[2] = {0};
	struct error e = {0};
	int r = open_sockets(netns_path, s, &e);
	if (r == -ENOENT)
		return 0; /* the netns is gone: nothing left to remove */
	if (r < 0) {
		if (err)
			*err = e;
		return r;
	}
	r = nft_backend_remove(s[1], err);
	close_sockets(s);
	return r;
}

static int nft_check(const struct pod_info *pod, const char *netns_path,
		     enum capture_drift *ret_drift, struct error *err)
{
	_cleanup_(redirect_plan_donep) struct redirect_plan plan = {0};
	struct redirect_params params = {0};
	enum redirect_skip skip = REDIRECT_CAPTURE;
	struct mnl_socket *s[2] = {0};
	int r;

	r = decide(pod, &skip, &params, err);
	if (r < 0)
		return r;
	bool captured = r == 0;
	r = open_sockets(netns_path, s, err);
	if (r < 0)
		goto out;
	if (captured) {
		r = plan_in_netns(s[0], &params, &plan, err);
		if (r < 0)
			goto out;
	}
	/* A skipped pod is checked against the empty plan: none of our tables. */
	r = nft_backend_check(s[1], &plan, err);
	if (r == -EBADMSG && ret_drift)
		*ret_drift = drift_of(captured, nft_empty_check, s[1]);
out:
	close_sockets(s);
	if (captured)
		redirect_params_done(&params);
	return r;
}

/* After an nftables failure under auto: true when the kernel has no nf_tables. */
static bool nft_missing(struct mnl_socket *nfnl)
{
	bool available = true;
	if (!nfnl || backend_probe_nft(nfnl, &available, NULL) < 0)
		return false;
	return !available;
}

static struct iptables_ctx iptables_ctx_of(const struct pod_ns *ns, const char *netns_path,
					   bool nft_available)
{
	struct iptables_ctx ctx = {.netns_fd = ns->fd, .lock_path = netns_path};
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++)
		ctx.variant[f] = backend_iptables_variant(&ns->legacy, f, nft_available);
	return ctx;
}

int capture_apply(const struct pod_info *pod, const char *netns_path, const struct netconf *conf,
		  struct capture_outcome *ret, struct error *err)
{
	return capture_apply_opened(pod, NULL, netns_path, conf, ret, err);
}

int capture_apply_opened(const struct pod_info *pod, struct capture_ns *pre, const char *netns_path,
			 const struct netconf *conf, struct capture_outcome *ret, struct error *err)
{
	enum redirect_backend configured = configured_of(conf);
	if (configured == REDIRECT_BACKEND_NFTABLES)
		return nft_apply(pod, pre, netns_path, ret, err);

	struct capture_outcome out = {.skip = REDIRECT_CAPTURE};
	_cleanup_(redirect_plan_donep) struct redirect_plan plan = {0};
	struct redirect_params params = {0};
	struct pod_ns own = {.fd = -1}, *ns = NULL;
	bool nft_available = true;
	int r;

	r = decide_outcome(pod, &out, ret, &params, err);
	if (r != 0)
		return r;

	r = ns_for_apply(pre, configured, netns_path, &own, &ns, err);
	if (r < 0)
		goto out;
	enum redirect_backend backend = backend_decide(configured, &ns->legacy, true);
	r = plan_and_route(ns->s[0], &params, &plan, err);
	if (r < 0)
		goto out;
	if (backend == REDIRECT_BACKEND_NFTABLES) {
		r = nft_backend_apply(ns->s[1], &plan, err);
		if (r < 0 && nft_missing(ns->s[1])) {
			/* auto: a kernel without nf_tables gets legacy iptables */
			error_clear(err);
			nft_available = false;
			backend = REDIRECT_BACKEND_IPTABLES;
		} else if (r < 0) {
			goto out;
		}
	}
	if (backend == REDIRECT_BACKEND_IPTABLES) {
		struct iptables_ctx ctx = iptables_ctx_of(ns, netns_path, nft_available);
		r = iptables_backend_apply(&ctx, &plan, err);
		if (r < 0)
			goto out;
		out.unchanged = r == 1;
		out.variant = ctx.variant[PLAN_V4];
	}

	out.backend = backend;
	outcome_of_plan(&out, &plan, &params);
	if (ret)
		*ret = out;
	r = 0;
out:
	pod_ns_close(&own);
	redirect_params_done(&params);
	return r;
}

int capture_remove(const char *netns_path, const struct netconf *conf, struct error *err)
{
	enum redirect_backend configured = configured_of(conf);
	if (configured == REDIRECT_BACKEND_NFTABLES)
		return nft_remove(netns_path, err);

	struct pod_ns ns = {.fd = -1};
	struct error e = {0};
	bool nft_available = true;
	int r = pod_ns_open(netns_path, configured == REDIRECT_BACKEND_AUTO, &ns, &e);
	if (r == -ENOENT)
		return 0; /* the netns is gone: nothing left to remove */
	if (r < 0) {
		if (err)
			*err = e;
		return r;
	}
	if (configured == REDIRECT_BACKEND_AUTO) {
		r = nft_backend_remove(ns.s[1], err);
		if (r < 0 && nft_missing(ns.s[1])) {
			error_clear(err);
			nft_available = false;
			r = 0;
		}
		if (r < 0)
			goto out;
	}
	/* auto used iptables only where it would choose it now */
	if (backend_decide(configured, &ns.legacy, nft_available) == REDIRECT_BACKEND_IPTABLES) {
		struct iptables_ctx ctx = iptables_ctx_of(&ns, netns_path, nft_available);
		r = iptables_backend_remove(&ctx, err);
	}
out:
	pod_ns_close(&ns);
	return r;
}

int capture_check(const struct pod_info *pod, const char *netns_path, const struct netconf *conf,
		  enum capture_drift *ret_drift, struct error *err)
{
	if (ret_drift)
		*ret_drift = CAPTURE_DRIFT_NONE;
	enum redirect_backend configured = configured_of(conf);
	if (configured == REDIRECT_BACKEND_NFTABLES)
		return nft_check(pod, netns_path, ret_drift, err);

	_cleanup_(redirect_plan_donep) struct redirect_plan plan = {0};
	struct redirect_params params = {0};
	enum redirect_skip skip = REDIRECT_CAPTURE;
	struct pod_ns ns = {.fd = -1};
	bool nft_available = true;
	int r;

	r = decide(pod, &skip, &params, err);
	if (r < 0)
		return r;
	bool captured = r == 0;
	r = pod_ns_open(netns_path, configured == REDIRECT_BACKEND_AUTO, &ns, err);
	if (r < 0)
		goto out;
	if (captured) {
		r = plan_in_netns(ns.s[0], &params, &plan, err);
		if (r < 0)
			goto out;
	}
	enum redirect_backend backend = backend_decide(configured, &ns.legacy, true);
	if (backend == REDIRECT_BACKEND_NFTABLES) {
		r = nft_backend_check(ns.s[1], &plan, err);
		if (r == -EBADMSG && ret_drift)
			*ret_drift = drift_of(captured, nft_empty_check, ns.s[1]);
		if (r >= 0 || !nft_missing(ns.s[1]))
			goto out;
		error_clear(err);
		nft_available = false;
	}
	/* A skipped pod is checked against the empty plan: none of our chains. */
	struct iptables_ctx ctx = iptables_ctx_of(&ns, netns_path, nft_available);
	r = iptables_backend_check(&ctx, &plan, err);
	if (r == -EBADMSG && ret_drift)
		*ret_drift = drift_of(captured, ipt_empty_check, &ctx);
out:
	pod_ns_close(&ns);
	if (captured)
		redirect_params_done(&params);
	return r;
}
