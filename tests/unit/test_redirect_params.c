// SPDX-License-Identifier: Apache-2.0
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/redirect_params.h"
#include "kube/pod_info.h"
#include "util/error.h"
#include "util/istio_names.h"

/* ---- building pods ---- */

struct pod_spec {
	const char *annotations[16][2];
	const char *labels[4][2];
	const char *env[8][2];
	const char *args[4];
	const char *containers[4];	/* default: app, istio-proxy */
	const char *init_containers[4]; /* default: istio-validation */
	bool proxy_in_init;
	bool no_status;
	bool set_uid, set_gid;
	long long uid, gid;
};

static struct pod_info *build_pod(const struct pod_spec *s)
{
	json_t *ann = json_object();
	if (!s->no_status)
		json_object_set_new(ann, ANN_STATUS, json_string("{}"));
	for (size_t i = 0; i < ELEMENTSOF(s->annotations) && s->annotations[i][0]; i++)
		json_object_set_new(ann, s->annotations[i][0], json_string(s->annotations[i][1]));
	json_t *labels = json_object();
	for (size_t i = 0; i < ELEMENTSOF(s->labels) && s->labels[i][0]; i++)
		json_object_set_new(labels, s->labels[i][0], json_string(s->labels[i][1]));

	json_t *proxy = json_pack("{s:s}", "name", CONTAINER_ISTIO_PROXY);
	json_t *env = json_array();
	for (size_t i = 0; i < ELEMENTSOF(s->env) && s->env[i][0]; i++)
		json_array_append_new(env, json_pack("{s:s,s:s}", "name", s->env[i][0], "value",
						     s->env[i][1]));
	json_object_set_new(proxy, "env", env);
	json_t *args = json_array();
	if (s->args[0]) {
		for (size_t i = 0; i < ELEMENTSOF(s->args) && s->args[i]; i++)
			json_array_append_new(args, json_string(s->args[i]));
	} else {
		json_array_append_new(args, json_string("proxy"));
		json_array_append_new(args, json_string("sidecar"));
	}
	json_object_set_new(proxy, "args", args);
	json_t *sc = json_object();
	if (s->set_uid)
		json_object_set_new(sc, "runAsUser", json_integer(s->uid));
	if (s->set_gid)
		json_object_set_new(sc, "runAsGroup", json_integer(s->gid));
	json_object_set_new(proxy, "securityContext", sc);

	json_t *containers = json_array();
	json_t *inits = json_array();
	if (s->containers[0]) {
		for (size_t i = 0; i < ELEMENTSOF(s->containers) && s->containers[i]; i++) {
			if (strcmp(s->containers[i], CONTAINER_ISTIO_PROXY) == 0)
				json_array_append(containers, proxy);
			else
				json_array_append_new(containers,
						      json_pack("{s:s}", "name", s->containers[i]));
		}
	} else {
		json_array_append_new(containers, json_pack("{s:s}", "name", "app"));
		if (!s->proxy_in_init)
			json_array_append(containers, proxy);
	}
	if (s->init_containers[0]) {
		for (size_t i = 0; i < ELEMENTSOF(s->init_containers) && s->init_containers[i]; i++)
			json_array_append_new(inits,
					      json_pack("{s:s}", "name", s->init_containers[i]));
	} else {
		json_array_append_new(inits,
				      json_pack("{s:s}", "name", CONTAINER_ISTIO_VALIDATION));
	}
	if (s->proxy_in_init)
		json_array_append(inits, proxy);
	json_decref(proxy);

	json_t *pod = json_pack("{s:{s:s,s:s,s:o,s:o},s:{s:o,s:o}}", "metadata", "namespace", "ns",
				"name", "pod", "annotations", ann, "labels", labels, "spec",
				"containers", containers, "initContainers", inits);
	assert_non_null(pod);
	struct pod_info *p = NULL;
	struct error err = {0};
	if (pod_info_from_json(pod, &p, &err) < 0)
		fail_msg("pod_info_from_json: %s", err.msg);
	json_decref(pod);
	return p;
}

/* ---- formatting lists ---- */

static const char *fmt_ports(const struct port_list *l, char *buf, size_t len)
{
	if (l->wildcard)
		return "*";
	buf[0] = '\0';
	size_t off = 0;
	for (size_t i = 0; i < l->n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%u", i ? "," : "", l->port[i]);
	return buf;
}

static const char *fmt_cidrs(const struct cidr_list *l, char *buf, size_t len)
{
	if (l->wildcard)
		return "*";
	buf[0] = '\0';
	size_t off = 0;
	for (size_t i = 0; i < l->n; i++) {
		char c[64];
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "",
					parse_cidr_to_string(&l->cidr[i], c, sizeof(c)));
	}
	return buf;
}

static const char *fmt_ifnames(const struct ifname_list *l, char *buf, size_t len)
{
	buf[0] = '\0';
	size_t off = 0;
	for (size_t i = 0; i < l->n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "," : "", l->name[i]);
	return buf;
}

enum field {
	F_INCLUDE_CIDRS,
	F_EXCLUDE_CIDRS,
	F_INCLUDE_IN,
	F_EXCLUDE_IN,
	F_INCLUDE_OUT,
	F_EXCLUDE_OUT,
	F_EXCLUDE_IFS,
	F_REROUTE_IFS,
	F_MODE,
};

static const char *fmt_field(const struct redirect_params *p, enum field f, char *buf, size_t len)
{
	switch (f) {
	case F_INCLUDE_CIDRS:
		return fmt_cidrs(&p->include_cidrs, buf, len);
	case F_EXCLUDE_CIDRS:
		return fmt_cidrs(&p->exclude_cidrs, buf, len);
	case F_INCLUDE_IN:
		return fmt_ports(&p->include_inbound_ports, buf, len);
	case F_EXCLUDE_IN:
		return fmt_ports(&p->exclude_inbound_ports, buf, len);
	case F_INCLUDE_OUT:
		return fmt_ports(&p->include_outbound_ports, buf, len);
	case F_EXCLUDE_OUT:
		return fmt_ports(&p->exclude_outbound_ports, buf, len);
	case F_EXCLUDE_IFS:
		return fmt_ifnames(&p->exclude_interfaces, buf, len);
	case F_REROUTE_IFS:
		return fmt_ifnames(&p->reroute_interfaces, buf, len);
	case F_MODE:
		return p->mode == REDIRECT_MODE_TPROXY ? "TPROXY" : "REDIRECT";
	}
	return "?";
}

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct pod_spec s = {0};
	_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
	struct redirect_params p;
	assert_int_equal(redirect_params_from_pod(pod, &p, NULL), 0);
	char buf[512];
	assert_int_equal(p.mode, REDIRECT_MODE_REDIRECT);
	assert_string_equal(fmt_field(&p, F_INCLUDE_CIDRS, buf, sizeof(buf)), "*");
	assert_string_equal(fmt_field(&p, F_EXCLUDE_CIDRS, buf, sizeof(buf)), "");
	assert_string_equal(fmt_field(&p, F_INCLUDE_IN, buf, sizeof(buf)), "*");
	assert_string_equal(fmt_field(&p, F_EXCLUDE_IN, buf, sizeof(buf)), "15020,15021,15090");
	assert_string_equal(fmt_field(&p, F_INCLUDE_OUT, buf, sizeof(buf)), "");
	assert_string_equal(fmt_field(&p, F_EXCLUDE_OUT, buf, sizeof(buf)), "15020");
	assert_string_equal(fmt_field(&p, F_EXCLUDE_IFS, buf, sizeof(buf)), "");
	assert_string_equal(fmt_field(&p, F_REROUTE_IFS, buf, sizeof(buf)), "");
	assert_int_equal(p.proxy_uids.n, 1);
	assert_int_equal(p.proxy_uids.id[0], 1337);
	assert_int_equal(p.proxy_gids.n, 1);
	assert_int_equal(p.proxy_gids.id[0], 1337);
	assert_false(p.dns_capture);
	assert_false(p.dual_stack);
	assert_false(p.drop_invalid);
	assert_string_equal(parse_cidr_to_string(&p.host_loopback_v4, buf, sizeof(buf)),
			    "127.0.0.1/32");
	redirect_params_done(&p);
	redirect_params_done(&p); /* idempotent */
	redirect_params_done(NULL);
}

/* ---- every annotation, table driven ---- */

struct ann_case {
	const char *key;
	const char *value;
	enum field field;
	const char *want; /* NULL: ERR_CONFIG expected */
};

static const struct ann_case ann_cases[] = {
	/* interception mode */
	{ANN_INTERCEPTION_MODE, "REDIRECT", F_MODE, "REDIRECT"},
	{ANN_INTERCEPTION_MODE, "TPROXY", F_MODE, "TPROXY"},
	{ANN_INTERCEPTION_MODE, "tproxy", F_MODE, NULL},
	{ANN_INTERCEPTION_MODE, "NONE", F_MODE, NULL},
	{ANN_INTERCEPTION_MODE, "", F_MODE, NULL},
	{ANN_INTERCEPTION_MODE, " TPROXY", F_MODE, NULL},

	/* includeOutboundIPRanges */
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "*", F_INCLUDE_CIDRS, "*"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, " * ", F_INCLUDE_CIDRS, "*"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "", F_INCLUDE_CIDRS, ""},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/8", F_INCLUDE_CIDRS, "10.0.0.0/8"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.1/8", F_INCLUDE_CIDRS, "10.0.0.1/8"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/8, 172.16.0.0/12 ,", F_INCLUDE_CIDRS,
	 "10.0.0.0/8,172.16.0.0/12"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, ",,10.0.0.0/8,,", F_INCLUDE_CIDRS, "10.0.0.0/8"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.96.0.0/12,fd00:10:96::/112", F_INCLUDE_CIDRS,
	 "10.96.0.0/12,fd00:10:96::/112"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "2001:DB8::1/32", F_INCLUDE_CIDRS, "2001:db8::1/32"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "0.0.0.0/0", F_INCLUDE_CIDRS, "0.0.0.0/0"},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/33", F_INCLUDE_CIDRS, NULL},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "fd00::/129", F_INCLUDE_CIDRS, NULL},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0", F_INCLUDE_CIDRS, NULL},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/08", F_INCLUDE_CIDRS, NULL},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "10.0.0.256/32", F_INCLUDE_CIDRS, NULL},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "*,10.0.0.0/8", F_INCLUDE_CIDRS, NULL},
	{ANN_INCLUDE_OUTBOUND_IP_RANGES, "example.com/32", F_INCLUDE_CIDRS, NULL},

	/* excludeOutboundIPRanges */
	{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "", F_EXCLUDE_CIDRS, ""},
	{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/8", F_EXCLUDE_CIDRS, "10.0.0.0/8"},
	{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "169.254.169.254/32, fd00::/8,", F_EXCLUDE_CIDRS,
	 "169.254.169.254/32,fd00::/8"},
	{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "*", F_EXCLUDE_CIDRS, NULL},
	{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/8,fd00::/8,10.0.0.0/8,10.0.0.1/8",
	 F_EXCLUDE_CIDRS, "10.0.0.0/8,fd00::/8,10.0.0.1/8"},
	{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/33", F_EXCLUDE_CIDRS, NULL},

	/* includeInboundPorts */
	{ANN_INCLUDE_INBOUND_PORTS, "*", F_INCLUDE_IN, "*"},
	{ANN_INCLUDE_INBOUND_PORTS, "", F_INCLUDE_IN, ""},
	{ANN_INCLUDE_INBOUND_PORTS, "8080", F_INCLUDE_IN, "8080"},
	{ANN_INCLUDE_INBOUND_PORTS, " 80 , 443,", F_INCLUDE_IN, "80,443"},
	{ANN_INCLUDE_INBOUND_PORTS, "1,65535", F_INCLUDE_IN, "1,65535"},
	{ANN_INCLUDE_INBOUND_PORTS, "0", F_INCLUDE_IN, NULL},
	{ANN_INCLUDE_INBOUND_PORTS, "65536", F_INCLUDE_IN, NULL},
	{ANN_INCLUDE_INBOUND_PORTS, "-1", F_INCLUDE_IN, NULL},
	{ANN_INCLUDE_INBOUND_PORTS, "http", F_INCLUDE_IN, NULL},
	{ANN_INCLUDE_INBOUND_PORTS, "80-90", F_INCLUDE_IN, NULL},
	{ANN_INCLUDE_INBOUND_PORTS, "80,*", F_INCLUDE_IN, NULL},

	/* excludeInboundPorts: always plus 15020,15021,15090, de-duplicated */
	{ANN_EXCLUDE_INBOUND_PORTS, "", F_EXCLUDE_IN, "15020,15021,15090"},
	{ANN_EXCLUDE_INBOUND_PORTS, "15020", F_EXCLUDE_IN, "15020,15021,15090"},
	{ANN_EXCLUDE_INBOUND_PORTS, "8080", F_EXCLUDE_IN, "8080,15020,15021,15090"},
	{ANN_EXCLUDE_INBOUND_PORTS, "15090, 22,22,", F_EXCLUDE_IN, "15090,22,15020,15021"},
	{ANN_EXCLUDE_INBOUND_PORTS, "0", F_EXCLUDE_IN, NULL},
	{ANN_EXCLUDE_INBOUND_PORTS, "*", F_EXCLUDE_IN, NULL}, /* with includeInboundPorts "*" */

	/* includeOutboundPorts */
	{ANN_INCLUDE_OUTBOUND_PORTS, "", F_INCLUDE_OUT, ""},
	{ANN_INCLUDE_OUTBOUND_PORTS, "32000, 31000", F_INCLUDE_OUT, "32000,31000"},
	{ANN_INCLUDE_OUTBOUND_PORTS, "*", F_INCLUDE_OUT, NULL},
	{ANN_INCLUDE_OUTBOUND_PORTS, "65536", F_INCLUDE_OUT, NULL},

	/* excludeOutboundPorts: the annotation replaces the 15020 default */
	{ANN_EXCLUDE_OUTBOUND_PORTS, "", F_EXCLUDE_OUT, ""},
	{ANN_EXCLUDE_OUTBOUND_PORTS, "5555,6666", F_EXCLUDE_OUT, "5555,6666"},
	{ANN_EXCLUDE_OUTBOUND_PORTS, "5555,", F_EXCLUDE_OUT, "5555"},
	{ANN_EXCLUDE_OUTBOUND_PORTS, "6666,5555,6666,5555", F_EXCLUDE_OUT, "6666,5555"},
	{ANN_EXCLUDE_OUTBOUND_PORTS, "*", F_EXCLUDE_OUT, NULL},
	{ANN_EXCLUDE_OUTBOUND_PORTS, "0", F_EXCLUDE_OUT, NULL},
	{ANN_EXCLUDE_OUTBOUND_PORTS, "99999999999999999999999", F_EXCLUDE_OUT, NULL},

	/* excludeInterfaces */
	{ANN_EXCLUDE_INTERFACES, "", F_EXCLUDE_IFS, ""},
	{ANN_EXCLUDE_INTERFACES, "net1", F_EXCLUDE_IFS, "net1"},
	{ANN_EXCLUDE_INTERFACES, "net1, eth1.100 ,", F_EXCLUDE_IFS, "net1,eth1.100"},
	{ANN_EXCLUDE_INTERFACES, "a234567890123456", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "a/b", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "..", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth0:1", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "*", F_EXCLUDE_IFS, NULL},
	/* A trailing '+' is a prefix wildcard on both backends; "+" alone (every
	 * interface) and '+' elsewhere are refused. */
	{ANN_EXCLUDE_INTERFACES, "veth+, net1", F_EXCLUDE_IFS, "veth+,net1"},
	{ANN_EXCLUDE_INTERFACES, "a23456789012345+", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "a2345678901234+", F_EXCLUDE_IFS, "a2345678901234+"},
	{ANN_EXCLUDE_INTERFACES, "+", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth0,+", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "a+b", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "++", F_EXCLUDE_IFS, NULL},
	/* What iptables-restore's tokenizer or option parser reads as syntax. */
	{ANN_EXCLUDE_INTERFACES, "eth0\"", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "\"eth0\"", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth'0", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth\\0", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "#eth0", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "!eth0", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "-j", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth*", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth\t0", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth\x01", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "eth\xc3\xa9", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, ".", F_EXCLUDE_IFS, NULL},
	{ANN_EXCLUDE_INTERFACES, "a-b_c.d@e", F_EXCLUDE_IFS, "a-b_c.d@e"},
	/* Duplicates collapse, the first kept, the order preserved. */
	{ANN_EXCLUDE_INTERFACES, "net2,net1,net2,veth+,net1", F_EXCLUDE_IFS, "net2,net1,veth+"},

	/* reroute-virtual-interfaces and the deprecated key */
	{ANN_REROUTE_VIRTUAL_INTERFACES, "eth1,eth2", F_REROUTE_IFS, "eth1,eth2"},
	{ANN_REROUTE_VIRTUAL_INTERFACES, "", F_REROUTE_IFS, ""},
	{ANN_REROUTE_VIRTUAL_INTERFACES, "bad name", F_REROUTE_IFS, NULL},
	{ANN_REROUTE_VIRTUAL_INTERFACES, "tap+,tap+", F_REROUTE_IFS, "tap+"},
	{ANN_REROUTE_VIRTUAL_INTERFACES, "+", F_REROUTE_IFS, NULL},
	{ANN_REROUTE_VIRTUAL_INTERFACES, "eth0\"", F_REROUTE_IFS, NULL},
	{ANN_KUBEVIRT_INTERFACES, "k6t\"", F_REROUTE_IFS, NULL},
	{ANN_KUBEVIRT_INTERFACES, "k6t-eth0", F_REROUTE_IFS, "k6t-eth0"},
	{ANN_KUBEVIRT_INTERFACES, "a/b", F_REROUTE_IFS, NULL},
};

static void test_annotations(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(ann_cases); i++) {
		const struct ann_case *c = &ann_cases[i];
		struct pod_spec s = {.annotations = {{c->key, c->value}}};
		_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
		struct redirect_params p;
		struct error err = {0};
		int r = redirect_params_from_pod(pod, &p, &err);
		if (!c->want) {
			if (r >= 0)
				fail_msg("case %zu %s=\"%s\": accepted", i, c->key, c->value);
			assert_int_equal(r, -EINVAL);
			assert_int_equal(err.kind, ERR_CONFIG);
			char want[256];
			(void)snprintf(want, sizeof(want),
				       "annotation \"%s\" has invalid value \"%s\"", c->key,
				       c->value);
			if (!strstr(err.msg, want))
				fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.msg, want);
			continue;
		}
		if (r < 0)
			fail_msg("case %zu %s=\"%s\": %s", i, c->key, c->value, err.msg);
		char buf[512];
		const char *got = fmt_field(&p, c->field, buf, sizeof(buf));
		if (strcmp(got, c->want) != 0)
			fail_msg("case %zu %s=\"%s\": got \"%s\", want \"%s\"", i, c->key, c->value,
				 got, c->want);
		redirect_params_done(&p);
	}
}

static void test_error_message_example(void **state)
{
	struct pod_spec s = {.annotations = {{ANN_EXCLUDE_OUTBOUND_IP_RANGES, "10.0.0.0/33"}}};
	_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
	struct redirect_params p;
	struct error err = {0};
	assert_int_equal(redirect_params_from_pod(pod, &p, &err), -EINVAL);
	assert_non_null(strstr(err.msg,
			       "annotation \"traffic.sidecar.istio.io/excludeOutboundIPRanges\" "
			       "has invalid value \"10.0.0.0/33\": \"10.0.0.0/33\" is not a CIDR"));
}

/* excludeInboundPorts "*" is harmless when includeInboundPorts is a list (it is ignored). */
static void test_exclude_inbound_wildcard_with_list(void **state)
{
	struct pod_spec s = {.annotations = {{ANN_EXCLUDE_INBOUND_PORTS, "*"},
					     {ANN_INCLUDE_INBOUND_PORTS, "8080"}}};
	_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
	struct redirect_params p;
	assert_int_equal(redirect_params_from_pod(pod, &p, NULL), 0);
	assert_true(p.exclude_inbound_ports.wildcard);
	redirect_params_done(&p);
}

static void test_reroute_wins_over_kubevirt(void **state)
{
	char buf[128];
	struct pod_spec s = {.annotations = {{ANN_KUBEVIRT_INTERFACES, "old0"},
					     {ANN_REROUTE_VIRTUAL_INTERFACES, "new0"}}};
	_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
	struct redirect_params p;
	assert_int_equal(redirect_params_from_pod(pod, &p, NULL), 0);
	assert_string_equal(fmt_field(&p, F_REROUTE_IFS, buf, sizeof(buf)), "new0");
	redirect_params_done(&p);

	/* Present but empty still wins (Istio checks presence, not content). */
	struct pod_spec s2 = {.annotations = {{ANN_KUBEVIRT_INTERFACES, "old0"},
					      {ANN_REROUTE_VIRTUAL_INTERFACES, ""}}};
	_cleanup_(pod_info_freep) struct pod_info *pod2 = build_pod(&s2);
	assert_int_equal(redirect_params_from_pod(pod2, &p, NULL), 0);
	assert_string_equal(fmt_field(&p, F_REROUTE_IFS, buf, sizeof(buf)), "");
	redirect_params_done(&p);
}

struct id_case {
	bool set_uid, set_gid;
	long long uid, gid;
	int want_r;
	uint32_t want_uid, want_gid;
};

static const struct id_case id_cases[] = {
	{false, false, 0, 0, 0, 1337, 1337},
	{true, true, 1000670000, 1000670001, 0, 1000670000, 1000670001},
	{true, false, 0, 0, 0, 1337, 1337}, /* 0 means default */
	{true, true, 0, 0, 0, 1337, 1337},
	{true, false, 1000, 0, 0, 1000, 1337}, /* GID is not derived from the UID */
	{false, true, 0, 2000, 0, 1337, 2000},
	{true, false, -1, 0, -EINVAL, 0, 0},
	{false, true, 0, 4294967296LL, -EINVAL, 0, 0},
};

static void test_proxy_ids(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(id_cases); i++) {
		const struct id_case *c = &id_cases[i];
		struct pod_spec s = {.set_uid = c->set_uid,
				     .set_gid = c->set_gid,
				     .uid = c->uid,
				     .gid = c->gid};
		_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
		struct redirect_params p;
		struct error err = {0};
		int r = redirect_params_from_pod(pod, &p, &err);
		assert_int_equal(r, c->want_r);
		if (r < 0) {
			assert_int_equal(err.kind, ERR_CONFIG);
			continue;
		}
		assert_int_equal(p.proxy_uids.n, 1);
		assert_int_equal(p.proxy_uids.id[0], c->want_uid);
		assert_int_equal(p.proxy_gids.id[0], c->want_gid);
		redirect_params_done(&p);
	}
}

struct env_case {
	const char *name;
	const char *value;
	bool dns, dual, drop;
};

static const struct env_case env_cases[] = {
	{PROXY_ENV_DNS_CAPTURE, "true", true, false, false},
	{PROXY_ENV_DNS_CAPTURE, "1", true, false, false},
	{PROXY_ENV_DNS_CAPTURE, "True", true, false, false},
	{PROXY_ENV_DNS_CAPTURE, "false", false, false, false},
	{PROXY_ENV_DNS_CAPTURE, "yes", false, false, false}, /* bad bool: false */
	{PROXY_ENV_DNS_CAPTURE, "", false, false, false},
	{PROXY_ENV_DUAL_STACK, "true", false, true, false},
	{PROXY_ENV_DUAL_STACK, "on", false, false, false},
	{PROXY_ENV_INVALID_DROP, "true", false, false, true},
	{PROXY_ENV_INVALID_DROP, "TRUE", false, false, true},
	{PROXY_ENV_INVALID_DROP, "tRuE", false, false, false},
};

static void test_proxy_env(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(env_cases); i++) {
		const struct env_case *c = &env_cases[i];
		struct pod_spec s = {.env = {{c->name, c->value}}};
		_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&s);
		struct redirect_params p;
		assert_int_equal(redirect_params_from_pod(pod, &p, NULL), 0);
		if (p.dns_capture != c->dns || p.dual_stack != c->dual || p.drop_invalid != c->drop)
			fail_msg("case %zu %s=%s", i, c->name, c->value);
		redirect_params_done(&p);
	}
}

/* ---- the skip decision, every rule and their order ---- */

struct skip_case {
	const char *what;
	struct pod_spec spec;
	enum redirect_skip want;
};

static const struct skip_case skip_cases[] = {
	{"default sidecar", {.no_status = false}, REDIRECT_CAPTURE},
	{"native sidecar", {.proxy_in_init = true}, REDIRECT_CAPTURE},
	{"istio-init init container",
	 {.init_containers = {CONTAINER_ISTIO_INIT}},
	 REDIRECT_SKIP_ISTIO_INIT},
	{"istio-init container",
	 {.containers = {"app", CONTAINER_ISTIO_PROXY, CONTAINER_ISTIO_INIT}},
	 REDIRECT_SKIP_ISTIO_INIT},
	{"istio-init beats DISABLE_ENVOY",
	 {.init_containers = {CONTAINER_ISTIO_INIT}, .env = {{PROXY_ENV_DISABLE_ENVOY, "true"}}},
	 REDIRECT_SKIP_ISTIO_INIT},
	{"DISABLE_ENVOY true",
	 {.env = {{PROXY_ENV_DISABLE_ENVOY, "true"}}},
	 REDIRECT_SKIP_ENVOY_DISABLED},
	{"DISABLE_ENVOY 1",
	 {.env = {{PROXY_ENV_DISABLE_ENVOY, "1"}}},
	 REDIRECT_SKIP_ENVOY_DISABLED},
	{"DISABLE_ENVOY false", {.env = {{PROXY_ENV_DISABLE_ENVOY, "false"}}}, REDIRECT_CAPTURE},
	{"DISABLE_ENVOY garbage", {.env = {{PROXY_ENV_DISABLE_ENVOY, "yes"}}}, REDIRECT_CAPTURE},
	{"DISABLE_ENVOY beats router",
	 {.env = {{PROXY_ENV_DISABLE_ENVOY, "true"}}, .args = {"proxy", "router"}},
	 REDIRECT_SKIP_ENVOY_DISABLED},
	{"no proxy", {.containers = {"app"}}, REDIRECT_SKIP_NO_PROXY},
	{"no proxy, no status", {.containers = {"app"}, .no_status = true}, REDIRECT_SKIP_NO_PROXY},
	{"router", {.args = {"proxy", "router"}}, REDIRECT_SKIP_NOT_SIDECAR},
	{"router beats inject=false",
	 {.args = {"proxy", "router"}, .labels = {{ANN_INJECT, "false"}}},
	 REDIRECT_SKIP_NOT_SIDECAR},
	{"args proxy only", {.args = {"proxy"}}, REDIRECT_CAPTURE},
	{"args not proxy", {.args = {"envoy", "router"}}, REDIRECT_CAPTURE},
	{"label inject false", {.labels = {{ANN_INJECT, "false"}}}, REDIRECT_SKIP_INJECT_DISABLED},
	{"annotation inject false",
	 {.annotations = {{ANN_INJECT, "false"}}},
	 REDIRECT_SKIP_INJECT_DISABLED},
	{"annotation inject 0",
	 {.annotations = {{ANN_INJECT, "0"}}},
	 REDIRECT_SKIP_INJECT_DISABLED},
	{"label true wins over annotation false",
	 {.labels = {{ANN_INJECT, "true"}}, .annotations = {{ANN_INJECT, "false"}}},
	 REDIRECT_CAPTURE},
	{"label false wins over annotation true",
	 {.labels = {{ANN_INJECT, "false"}}, .annotations = {{ANN_INJECT, "true"}}},
	 REDIRECT_SKIP_INJECT_DISABLED},
	{"unparsable label is ignored (and still hides the annotation)",
	 {.labels = {{ANN_INJECT, "nope"}}, .annotations = {{ANN_INJECT, "false"}}},
	 REDIRECT_CAPTURE},
	{"unparsable annotation is ignored",
	 {.annotations = {{ANN_INJECT, "disabled"}}},
	 REDIRECT_CAPTURE},
	{"inject=false beats missing status",
	 {.labels = {{ANN_INJECT, "false"}}, .no_status = true},
	 REDIRECT_SKIP_INJECT_DISABLED},
	{"no status", {.no_status = true}, REDIRECT_SKIP_NO_STATUS},
};

static void test_skip_rules(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(skip_cases); i++) {
		_cleanup_(pod_info_freep) struct pod_info *pod = build_pod(&skip_cases[i].spec);
		enum redirect_skip got = redirect_decide(pod);
		if (got != skip_cases[i].want)
			fail_msg("%s: got %s, want %s", skip_cases[i].what,
				 redirect_skip_to_string(got),
				 redirect_skip_to_string(skip_cases[i].want));
	}
}

static void test_skip_strings(void **state)
{
	for (int s = 0; s < _REDIRECT_SKIP_MAX; s++) {
		const char *str = redirect_skip_to_string((enum redirect_skip)s);
		assert_non_null(str);
		assert_true(strlen(str) > 0);
		assert_string_not_equal(str, "unknown");
	}
	assert_string_equal(redirect_skip_to_string(_REDIRECT_SKIP_MAX), "unknown");
}

/* ---- the list parsers directly ---- */

static void test_list_parsers(void **state)
{
	struct port_list pl = {0};
	struct error err = {0};
	assert_int_equal(redirect_parse_ports("k", "1,2", false, &pl, &err), 0);
	assert_int_equal(pl.n, 2);
	/* A failed parse leaves the list untouched. */
	assert_int_equal(redirect_parse_ports("k", "3,x", false, &pl, &err), -EINVAL);
	assert_int_equal(pl.n, 2);
	assert_int_equal(pl.port[1], 2);
	/* Too many entries. */
	size_t cap = (REDIRECT_LIST_MAX + 1) * 8;
	char *big = calloc(1, cap);
	assert_non_null(big);
	size_t off = 0;
	for (int i = 0; i < REDIRECT_LIST_MAX + 1; i++)
		off += (size_t)snprintf(big + off, cap - off, "%d,", 1 + i % 60000);
	error_clear(&err);
	assert_int_equal(redirect_parse_ports("k", big, false, &pl, &err), -EINVAL);
	free(big);
	char want[64];
	snprintf(want, sizeof(want), "more than %d entries", REDIRECT_LIST_MAX);
	assert_non_null(strstr(err.msg, want));
	free(pl.port);

	struct id_list il = {0};
	assert_int_equal(redirect_parse_ids("k", "3, 4", &il, NULL), 0);
	assert_int_equal(il.n, 2);
	assert_int_equal(il.id[1], 4);
	assert_int_equal(redirect_parse_ids("k", "4294967295", &il, NULL), -EINVAL);
	free(il.id);

	struct cidr_list cl = {0};
	error_clear(&err);
	assert_int_equal(
		redirect_parse_cidrs(
			"k",
			"1.2.3.4/32,aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
			true, &cl, &err),
		-EINVAL);
	assert_non_null(strstr(err.msg, "too long"));
	assert_null(cl.cidr);

	/* 1,000 ranges (the list grows by doubling), one duplicate dropped. */
	size_t bcap = 1001 * 20;
	char *many = malloc(bcap);
	assert_non_null(many);
	size_t boff = 0;
	for (int i = 0; i < 1000; i++)
		boff += (size_t)snprintf(many + boff, bcap - boff, "10.%d.%d.0/24,", i / 250,
					 i % 250);
	(void)snprintf(many + boff, bcap - boff, "10.0.0.0/24");
	error_clear(&err);
	assert_int_equal(redirect_parse_cidrs("k", many, false, &cl, &err), 0);
	free(many);
	assert_int_equal(cl.n, 1000);
	for (size_t i = 0; i < cl.n; i++) {
		assert_int_equal(cl.cidr[i].family, AF_INET);
		assert_int_equal(cl.cidr[i].prefix, 24);
	}
	assert_int_equal(cl.cidr[999].addr.bytes[1], 3);
	assert_int_equal(cl.cidr[999].addr.bytes[2], 249);
	free(cl.cidr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_error_message_example),
		cmocka_unit_test(test_exclude_inbound_wildcard_with_list),
		cmocka_unit_test(test_reroute_wins_over_kubevirt),
		cmocka_unit_test(test_proxy_ids),
		cmocka_unit_test(test_proxy_env),
		cmocka_unit_test(test_skip_rules),
		cmocka_unit_test(test_skip_strings),
		cmocka_unit_test(test_list_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
