// SPDX-License-Identifier: Apache-2.0
#include "redirect_cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "capture/capture.h"
#include "capture/iptables_render.h"
#include "capture/nft_render.h"
#include "cni/netconf.h"
#include "kube/pod_info.h"
#include "util/error.h"
#include "util/file_util.h"

#define POD_FILE_MAX (4u << 20)
#define CONF_FILE_MAX (1u << 20)

struct cmd_args {
	const char *pod;
	const char *conf;
	const char *netns;
};

static int parse_args(int argc, char **argv, const char *verb, struct cmd_args *ret)
{
	struct cmd_args a = {0};
	int i = 1;
	if (i < argc && strcmp(argv[i], verb) == 0)
		i++;
	for (; i < argc; i++) {
		const char **slot = NULL;
		if (strcmp(argv[i], "--pod") == 0)
			slot = &a.pod;
		else if (strcmp(argv[i], "--conf") == 0)
			slot = &a.conf;
		else if (strcmp(argv[i], "--netns") == 0)
			slot = &a.netns;
		if (!slot || i + 1 >= argc) {
			fprintf(stderr, "istio-cni %s: unexpected argument \"%s\"\n", verb,
				argv[i]);
			return -EINVAL;
		}
		*slot = argv[++i];
	}
	if (!a.pod) {
		fprintf(stderr, "istio-cni %s: --pod FILE is required\n", verb);
		return -EINVAL;
	}
	*ret = a;
	return 0;
}

/* Reads path whole (at most cap bytes); a failure names the file. */
static int read_input(const char *path, size_t cap, char **ret_buf, size_t *ret_len,
		      struct error *err)
{
	int r = file_read_full(path, cap, ret_buf, ret_len);
	if (r < 0)
		return error_set(err, ERR_IO, r, "reading %s: %s", path, strerror(-r));
	return 0;
}

/* The pod of path, decoded: nothing past loading sees its JSON. */
static int load_pod(const char *path, size_t cap, struct pod_info **ret, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_input(path, cap, &buf, &len, err);
	if (r < 0)
		return r;
	r = pod_info_from_text(buf, len, ret, err);
	return r < 0 ? error_prefix(err, r, "%s", path) : 0;
}

/* The conf of --conf, or NULL without one (defaults: backend auto). */
static int load_conf(const char *conf_path, struct netconf **ret, struct error *err)
{
	*ret = NULL;
	if (!conf_path)
		return 0;
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = read_input(conf_path, CONF_FILE_MAX, &buf, &len, err);
	if (r < 0)
		return r;
	struct netconf *conf = NULL;
	r = netconf_parse(buf, len, &conf, err);
	if (r < 0)
		return error_prefix(err, r, "%s", conf_path);
	*ret = conf;
	return 0;
}

static int fail(const char *verb, const struct error *err, int r)
{
	fprintf(stderr, "istio-cni %s: %s\n", verb, err->msg[0] ? err->msg : strerror(-r));
	if (err->details[0])
		fprintf(stderr, "%s", err->details);
	return 1;
}

/*
 * The pod of --pod and the conf of --conf (NULL without one); both are the
 * caller's. On failure prints the error and returns the exit status 1.
 */
static int load_inputs(const char *verb, const struct cmd_args *a, struct pod_info **ret_pod,
		       struct netconf **ret_conf)
{
	struct error err = {0};
	struct pod_info *pod = NULL;
	struct netconf *conf = NULL;
	int r = load_pod(a->pod, POD_FILE_MAX, &pod, &err);
	if (r < 0)
		return fail(verb, &err, r);
	r = load_conf(a->conf, &conf, &err);
	if (r < 0) {
		(void)pod_info_free(pod);
		return fail(verb, &err, r);
	}
	*ret_pod = pod;
	*ret_conf = conf;
	return 0;
}

/* What plan and apply start from. */
struct cmd_start {
	struct cmd_args args;
	struct pod_info *pod;
	struct netconf *conf; /* NULL without --conf */
	bool excluded;	      /* the conf excludes the pod's namespace */
};

static void cmd_start_done(struct cmd_start *s)
{
	(void)netconf_free(s->conf);
	(void)pod_info_free(s->pod);
	*s = (struct cmd_start){0};
}

/*
 * The start plan and apply share: the arguments read (--netns required when
 * need_netns), the pod and conf loaded, the namespace exclusion decided.
 * Returns 0 to go on (ret is then the caller's, for cmd_start_done), else the
 * exit status, the error printed and nothing left to free.
 */
static int cmd_start(int argc, char **argv, const char *verb, bool need_netns,
		     struct cmd_start *ret)
{
	struct cmd_start s = {0};
	if (parse_args(argc, argv, verb, &s.args) < 0)
		return 2;
	if (need_netns && !s.args.netns) {
		fprintf(stderr, "istio-cni %s: --netns PATH is required\n", verb);
		return 2;
	}
	int status = load_inputs(verb, &s.args, &s.pod, &s.conf);
	if (status != 0)
		return status;
	s.excluded = s.conf && netconf_namespace_excluded(s.conf, s.pod->namespace);
	*ret = s;
	return 0;
}

/* Both backends' text for plan. */
static int print_rules(const struct redirect_plan *plan, struct error *err)
{
	_cleanup_free_ char *nft = NULL, *ipt4 = NULL, *ipt6 = NULL;
	int r = nft_render(plan, &nft, err);
	if (r >= 0)
		r = iptables_render(plan, PLAN_V4, &ipt4, err);
	if (r >= 0 && plan->ipv6)
		r = iptables_render(plan, PLAN_V6, &ipt6, err);
	if (r < 0)
		return r;
	printf("\n# nftables (default backend): nft -f input\n%s", nft);
	printf("\n# iptables backend: iptables-restore --noflush\n%s", ipt4);
	if (ipt6)
		printf("\n# iptables backend: ip6tables-restore --noflush\n%s", ipt6);
	return 0;
}

int redirect_cmd_plan(int argc, char **argv)
{
	_cleanup_(cmd_start_done) struct cmd_start s = {0};
	struct error err = {0};
	int r;

	int status = cmd_start(argc, argv, "plan", false, &s);
	if (status != 0)
		return status;
	if (s.excluded) {
		printf("decision: skip (namespace \"%s\" is in exclude_namespaces)\n",
		       s.pod->namespace);
		return 0;
	}

	bool ipv6 = false;
	const char *from = "status.podIPs";
	if (s.args.netns) {
		r = capture_ipv6_from_netns(s.pod, s.args.netns, &ipv6, &err);
		from = s.args.netns;
	} else {
		r = capture_ipv6_from_pod(s.pod, &ipv6);
	}
	if (r < 0)
		return fail("plan", &err, r);

	enum redirect_skip skip;
	struct redirect_plan plan = {0};
	r = capture_plan(s.pod, ipv6, &skip, &plan, &err);
	if (r < 0)
		return fail("plan", &err, r);
	if (r == 1) {
		printf("decision: skip (%s)\n", redirect_skip_to_string(skip));
		return 0;
	}
	printf("decision: capture\nfamily: %s (from %s)\n", ipv6 ? "ipv4+ipv6" : "ipv4", from);

	r = print_rules(&plan, &err);
	redirect_plan_done(&plan);
	if (r < 0)
		return fail("plan", &err, r);
	return 0;
}

int redirect_cmd_apply(int argc, char **argv)
{
	_cleanup_(cmd_start_done) struct cmd_start s = {0};
	struct error err = {0};

	int status = cmd_start(argc, argv, "apply", true, &s);
	if (status != 0)
		return status;
	if (s.excluded) {
		printf("skipped: namespace \"%s\" is in exclude_namespaces\n", s.pod->namespace);
		return 0;
	}

	struct capture_outcome o;
	int r = capture_apply(s.pod, s.args.netns, s.conf, &o, &err);
	if (r < 0)
		return fail("apply", &err, r);
	if (r == 1)
		printf("skipped: %s\n", redirect_skip_to_string(o.skip));
	else if (o.backend == REDIRECT_BACKEND_IPTABLES)
		printf("applied: %s%s, %zu IPv4 and %zu IPv6 plan rules, backend iptables-%s%s\n",
		       o.tproxy ? "TPROXY" : "REDIRECT", o.ipv6 ? ", IPv6" : "", o.n_rules[PLAN_V4],
		       o.n_rules[PLAN_V6], iptables_variant_to_string(o.variant),
		       o.unchanged ? ", unchanged" : "");
	else
		printf("applied: %s%s, %zu IPv4 and %zu IPv6 plan rules, backend nftables\n",
		       o.tproxy ? "TPROXY" : "REDIRECT", o.ipv6 ? ", IPv6" : "", o.n_rules[PLAN_V4],
		       o.n_rules[PLAN_V6]);
	return 0;
}

int redirect_cmd_check(int argc, char **argv)
{
	struct cmd_args a;
	struct error err = {0};
	struct pod_info *pod = NULL;
	int r;

	if (parse_args(argc, argv, "check", &a) < 0 || !a.netns) {
		fprintf(stderr, "istio-cni check: --pod FILE --netns PATH are required\n");
		return 2;
	}
	struct netconf *conf = NULL;
	int status = load_inputs("check", &a, &pod, &conf);
	if (status != 0)
		return status;
	enum capture_drift drift = CAPTURE_DRIFT_NONE;
	r = capture_check(pod, a.netns, conf, &drift, &err);
	(void)netconf_free(conf);
	(void)pod_info_free(pod);
	if (r < 0 && drift != CAPTURE_DRIFT_NONE) {
		printf("drift: %s\n", capture_drift_to_string(drift));
		(void)fflush(stdout); /* before the differences on stderr */
	}
	if (r < 0)
		return fail("check", &err, r);
	printf("ok: the netns holds exactly the planned rules\n");
	return 0;
}

int redirect_cmd_remove(int argc, char **argv)
{
	struct error err = {0};
	const char *netns = NULL, *conf_path = NULL;
	for (int i = 1; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--netns") == 0)
			netns = argv[i + 1];
		else if (strcmp(argv[i], "--conf") == 0)
			conf_path = argv[i + 1];
	}
	if (!netns) {
		fprintf(stderr, "istio-cni remove: --netns PATH is required\n");
		return 2;
	}
	struct netconf *conf = NULL;
	int r = load_conf(conf_path, &conf, &err);
	if (r >= 0)
		r = capture_remove(netns, conf, &err);
	(void)netconf_free(conf);
	if (r < 0)
		return fail("remove", &err, r);
	return 0;
}
