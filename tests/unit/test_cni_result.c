// SPDX-License-Identifier: Apache-2.0
/*
 * prevResult decoding, version conversion and printing, checked against
 * libcni's types/020, types/040 and types/100 behaviour.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cni/cni_result.h"

#define FIXTURES TEST_SOURCE_DIR "/fixtures/results/"

static const enum cni_version all_versions[] = {
	CNI_VERSION_0_1_0, CNI_VERSION_0_2_0, CNI_VERSION_0_3_0, CNI_VERSION_0_3_1,
	CNI_VERSION_0_4_0, CNI_VERSION_1_0_0, CNI_VERSION_1_1_0,
};

static json_t *load_fixture(const char *name)
{
	char path[512];
	json_error_t je;

	(void)snprintf(path, sizeof(path), FIXTURES "%s", name);
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("%s: %s (line %d)", path, je.text, je.line);
	return j;
}

static json_t *load_bridge(enum cni_version v)
{
	char name[64];
	(void)snprintf(name, sizeof(name), "bridge-%s.json", cni_version_to_string(v));
	return load_fixture(name);
}

static json_t *parse(const char *text)
{
	json_error_t je;
	json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
	if (!j)
		fail_msg("bad test JSON %s: %s", text, je.text);
	return j;
}

static void assert_json_equal(json_t *got, json_t *want, const char *what)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
		print_error("%s\n--- got\n%s\n--- want\n%s\n", what, g, w);
		free(g);
		free(w);
		fail();
	}
}

static struct cni_result *decode_ok(json_t *j, enum cni_version v)
{
	struct cni_result *r = NULL;
	struct error err = {0};
	int k = cni_result_from_json(j, v, &r, &err);
	if (k < 0)
		fail_msg("decode as %s failed: %d %s", cni_version_to_string(v), k, err.msg);
	return r;
}

static json_t *encode_ok(const struct cni_result *r, enum cni_version v)
{
	json_t *j = NULL;
	struct error err = {0};
	int k = cni_result_to_json(r, v, &j, &err);
	if (k < 0)
		fail_msg("encode as %s failed: %d %s", cni_version_to_string(v), k, err.msg);
	return j;
}

/* What libcni makes of a 0.1.0/0.2.0 result in a richer version: no interfaces, no indexes. */
static json_t *drop_interfaces(json_t *want)
{
	json_t *ip;
	size_t i;

	(void)json_object_del(want, "interfaces");
	json_array_foreach (json_object_get(want, "ips"), i, ip)
		(void)json_object_del(ip, "interface");
	return want;
}

/*
 * Every version pair, both directions: the bridge+host-local result decoded in
 * version a and emitted in version b must be what libcni prints for b.
 */
static void test_every_version_pair(void **state)
{
	for (size_t a = 0; a < ELEMENTSOF(all_versions); a++) {
		enum cni_version from = all_versions[a];
		json_t *in = load_bridge(from);
		struct cni_result *r = decode_ok(in, from);

		for (size_t b = 0; b < ELEMENTSOF(all_versions); b++) {
			enum cni_version to = all_versions[b];
			char what[64];
			json_t *want = load_bridge(to);
			json_t *got = encode_ok(r, to);

			if (cni_version_result_family(from) == CNI_RESULT_020 &&
			    cni_version_result_family(to) != CNI_RESULT_020)
				want = drop_interfaces(want);
			(void)snprintf(what, sizeof(what), "%s -> %s", cni_version_to_string(from),
				       cni_version_to_string(to));
			assert_json_equal(got, want, what);
			json_decref(got);
			json_decref(want);
		}
		cni_result_free(r);
		json_decref(in);
	}
}

/* v -> 1.1.0 -> v gives back the input for every version (the fixtures are lossless). */
static void test_round_trip_through_latest(void **state)
{
	for (size_t a = 0; a < ELEMENTSOF(all_versions); a++) {
		enum cni_version v = all_versions[a];
		json_t *in = load_bridge(v);
		struct cni_result *r = decode_ok(in, v);
		json_t *latest = encode_ok(r, CNI_VERSION_1_1_0);
		struct cni_result *r2 = decode_ok(latest, CNI_VERSION_1_1_0);
		json_t *back = encode_ok(r2, v);

		assert_json_equal(back, in, cni_version_to_string(v));
		json_decref(back);
		cni_result_free(r2);
		json_decref(latest);
		cni_result_free(r);
		json_decref(in);
	}
}

/* The 1.1.0-only fields survive 1.1.0 -> 1.1.0 and are dropped for older versions. */
static void test_v11_fields(void **state)
{
	json_t *in = load_fixture("bridge-extras-1.1.0.json");
	struct cni_result *r = decode_ok(in, CNI_VERSION_1_1_0);

	assert_int_equal(r->n_interfaces, 4);
	assert_int_equal(r->interfaces[3].mtu, 9000);
	assert_string_equal(r->interfaces[3].socket_path, "/run/vhost-user/net1.sock");
	assert_string_equal(r->interfaces[3].pci_id, "0000:3b:00.2");
	assert_int_equal(r->n_routes, 3);
	assert_int_equal(r->routes[0].advmss, 1360);
	assert_true(r->routes[1].has_table && r->routes[1].table == 100);
	assert_true(r->routes[1].has_scope && r->routes[1].scope == 0);

	json_t *same = encode_ok(r, CNI_VERSION_1_1_0);
	assert_json_equal(same, in, "1.1.0 -> 1.1.0");
	json_decref(same);

	const enum cni_version older[] = {CNI_VERSION_1_0_0, CNI_VERSION_0_4_0, CNI_VERSION_0_3_1};
	for (size_t i = 0; i < ELEMENTSOF(older); i++) {
		json_t *o = encode_ok(r, older[i]);
		json_t *intf, *rt;
		size_t k;
		json_array_foreach (json_object_get(o, "interfaces"), k, intf) {
			assert_null(json_object_get(intf, "mtu"));
			assert_null(json_object_get(intf, "socketPath"));
			assert_null(json_object_get(intf, "pciID"));
			assert_non_null(json_object_get(intf, "name"));
		}
		json_array_foreach (json_object_get(o, "routes"), k, rt) {
			assert_int_equal(json_object_size(rt), json_object_get(rt, "gw") ? 2 : 1);
		}
		json_decref(o);
	}
	cni_result_free(r);
	json_decref(in);
}

static char *print_to_string(const struct cni_result *r, enum cni_version v, int *ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	*ret = r ? cni_result_print(r, v, f) : cni_result_print_empty(v, f);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/*
 * What Istio prints without prevResult: libcni's PrintResult of an empty
 * types/100 result. libcni cannot express that in 0.1.0/0.2.0 and fails;
 * we owe an empty result in the conf's version, so we print one.
 */
static void test_empty_result_each_version(void **state)
{
	static const struct {
		enum cni_version v;
		int r;
		const char *text;
	} cases[] = {
		{CNI_VERSION_0_1_0, 0, "{\n    \"cniVersion\": \"0.1.0\",\n    \"dns\": {}\n}\n"},
		{CNI_VERSION_0_2_0, 0, "{\n    \"cniVersion\": \"0.2.0\",\n    \"dns\": {}\n}\n"},
		{CNI_VERSION_0_3_0, 0, "{\n    \"cniVersion\": \"0.3.0\",\n    \"dns\": {}\n}\n"},
		{CNI_VERSION_0_3_1, 0, "{\n    \"cniVersion\": \"0.3.1\",\n    \"dns\": {}\n}\n"},
		{CNI_VERSION_0_4_0, 0, "{\n    \"cniVersion\": \"0.4.0\",\n    \"dns\": {}\n}\n"},
		{CNI_VERSION_1_0_0, 0, "{\n    \"cniVersion\": \"1.0.0\"\n}\n"},
		{CNI_VERSION_1_1_0, 0, "{\n    \"cniVersion\": \"1.1.0\"\n}\n"},
	};
	for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
		int r;
		char *text = print_to_string(NULL, cases[i].v, &r);
		assert_int_equal(r, cases[i].r);
		assert_string_equal(text, cases[i].text);
		free(text);
	}

	struct cni_result *empty = NULL;
	struct error err = {0};
	json_t *j = NULL;
	assert_int_equal(cni_result_new(&empty), 0);
	/* Converting a previous result without addresses still fails, as in libcni. */
	assert_int_equal(cni_result_to_json(empty, CNI_VERSION_0_2_0, &j, &err), -EOPNOTSUPP);
	assert_int_equal(err.kind, ERR_VERSION);
	assert_null(j);
	cni_result_free(empty);
}

/* Exact bytes: libcni's four-space indent, struct order for 0.x, sorted keys for 1.x. */
static void test_print_layout(void **state)
{
	json_t *in = parse("{\"cniVersion\":\"1.0.0\",\"interfaces\":[{\"name\":\"eth0\","
			   "\"sandbox\":\"/var/run/netns/a\",\"mac\":\"aa:bb:cc:dd:ee:ff\"}],"
			   "\"ips\":[{\"interface\":0,\"address\":\"10.1.0.5/24\","
			   "\"gateway\":\"10.1.0.1\"}],\"dns\":{}}");
	struct cni_result *r = decode_ok(in, CNI_VERSION_1_0_0);
	int k;

	char *t = print_to_string(r, CNI_VERSION_0_4_0, &k);
	assert_int_equal(k, 0);
	assert_string_equal(t, "{\n"
			       "    \"cniVersion\": \"0.4.0\",\n"
			       "    \"interfaces\": [\n"
			       "        {\n"
			       "            \"name\": \"eth0\",\n"
			       "            \"mac\": \"aa:bb:cc:dd:ee:ff\",\n"
			       "            \"sandbox\": \"/var/run/netns/a\"\n"
			       "        }\n"
			       "    ],\n"
			       "    \"ips\": [\n"
			       "        {\n"
			       "            \"version\": \"4\",\n"
			       "            \"interface\": 0,\n"
			       "            \"address\": \"10.1.0.5/24\",\n"
			       "            \"gateway\": \"10.1.0.1\"\n"
			       "        }\n"
			       "    ],\n"
			       "    \"dns\": {}\n"
			       "}\n");
	free(t);

	t = print_to_string(r, CNI_VERSION_1_0_0, &k);
	assert_int_equal(k, 0);
	assert_string_equal(t, "{\n"
			       "    \"cniVersion\": \"1.0.0\",\n"
			       "    \"interfaces\": [\n"
			       "        {\n"
			       "            \"mac\": \"aa:bb:cc:dd:ee:ff\",\n"
			       "            \"name\": \"eth0\",\n"
			       "            \"sandbox\": \"/var/run/netns/a\"\n"
			       "        }\n"
			       "    ],\n"
			       "    \"ips\": [\n"
			       "        {\n"
			       "            \"address\": \"10.1.0.5/24\",\n"
			       "            \"gateway\": \"10.1.0.1\",\n"
			       "            \"interface\": 0\n"
			       "        }\n"
			       "    ]\n"
			       "}\n");
	free(t);

	t = print_to_string(r, CNI_VERSION_0_2_0, &k);
	assert_int_equal(k, 0);
	assert_string_equal(t, "{\n"
			       "    \"cniVersion\": \"0.2.0\",\n"
			       "    \"ip4\": {\n"
			       "        \"ip\": \"10.1.0.5/24\",\n"
			       "        \"gateway\": \"10.1.0.1\"\n"
			       "    },\n"
			       "    \"dns\": {}\n"
			       "}\n");
	free(t);
	cni_result_free(r);
	json_decref(in);
}

/* Go's encoder escapes <, >, & and U+2028/9, with lowercase hex. */
static void test_print_escapes_like_go(void **state)
{
	json_t *in = parse("{\"interfaces\":[{\"name\":\"a<b>&c\\u2028\\u0001\"}]}");
	struct cni_result *r = decode_ok(in, CNI_VERSION_1_0_0);
	int k;
	char *t = print_to_string(r, CNI_VERSION_1_0_0, &k);
	assert_int_equal(k, 0);
	assert_non_null(strstr(t, "\"a\\u003cb\\u003e\\u0026c\\u2028\\u0001\""));
	free(t);
	cni_result_free(r);
	json_decref(in);
}

/* stdout is the protocol: a failed write or flush is an error, not silence. */
static void test_print_write_error(void **state)
{
	FILE *f = fopen("/dev/full", "we");
	if (!f)
		skip();
	assert_int_equal(cni_result_print_empty(CNI_VERSION_1_0_0, f), -ENOSPC);
	(void)fclose(f);
}

struct decode_case {
	const char *json;
	enum cni_version v;
	int r;
	const char *msg; /* error substring, or NULL */
	size_t n_interfaces, n_ips, n_routes;
};

static const struct decode_case decode_cases[] = {
	/* Minimal and missing optional fields. */
	{"{}", CNI_VERSION_1_0_0, 0, NULL, 0, 0, 0},
	{"{}", CNI_VERSION_0_4_0, 0, NULL, 0, 0, 0},
	{"{}", CNI_VERSION_0_2_0, 0, NULL, 0, 0, 0},
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\"}]}", CNI_VERSION_1_0_0, 0, NULL, 0, 1, 0},
	{"{\"interfaces\":[{}]}", CNI_VERSION_1_1_0, 0, NULL, 1, 0, 0},
	/* Unknown keys are ignored at every level. */
	{"{\"cniVersion\":\"1.0.0\",\"foo\":[1],\"interfaces\":[{\"name\":\"eth0\",\"bar\":{}}],"
	 "\"ips\":[{\"address\":\"10.0.0.2/24\",\"x\":null}],\"routes\":[{\"dst\":\"0.0.0.0/0\","
	 "\"weird\":true}],\"dns\":{\"z\":1}}",
	 CNI_VERSION_1_0_0, 0, NULL, 1, 1, 1},
	/* types/100 has no ips[].version: a number there is just an unknown key. */
	{"{\"ips\":[{\"version\":4,\"address\":\"10.0.0.2/24\"}]}", CNI_VERSION_1_0_0, 0, NULL, 0,
	 1, 0},
	{"{\"ips\":[{\"version\":4,\"address\":\"10.0.0.2/24\"}]}", CNI_VERSION_0_4_0, -EINVAL,
	 "prevResult.ips[0].version: expected string, got number"},
	/* null: slices reset, structs and strings untouched. */
	{"{\"ips\":null,\"routes\":null,\"interfaces\":null,\"dns\":null}", CNI_VERSION_1_0_0, 0,
	 NULL, 0, 0, 0},
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":null,\"interface\":null}]}",
	 CNI_VERSION_1_0_0, 0, NULL, 0, 1, 0},
	{"{\"ips\":[null]}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.ips[0]: null entry"},
	{"{\"ips\":[{\"address\":null}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.ips[0].address: expected CIDR string, got null"},
	/* Go matches keys case-insensitively. */
	{"{\"IPs\":[{\"Address\":\"10.0.0.2/24\"}],\"Routes\":[{\"DST\":\"0.0.0.0/0\"}]}",
	 CNI_VERSION_1_0_0, 0, NULL, 0, 1, 1},
	/* Integral reals pass libcni's float64 round trip; fractions do not. */
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":2.0}]}", CNI_VERSION_1_0_0, 0, NULL,
	 0, 1, 0},
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\",\"interface\":1.5}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.ips[0].interface: 1.5 is not an integer"},
	/* Wrong types name the JSON path. */
	{"{\"ips\":{}}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.ips: expected array, got object"},
	{"{\"interfaces\":[{\"name\":1}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.interfaces[0].name: expected string, got number"},
	{"{\"interfaces\":[\"eth0\"]}", CNI_VERSION_0_3_1, -EINVAL,
	 "prevResult.interfaces[0]: expected object, got string"},
	{"{\"interfaces\":[{\"mtu\":\"1500\"}]}", CNI_VERSION_1_1_0, -EINVAL,
	 "prevResult.interfaces[0].mtu: expected integer, got string"},
	/* types/040 interfaces have no mtu: ignored there. */
	{"{\"interfaces\":[{\"mtu\":\"1500\"}]}", CNI_VERSION_0_4_0, 0, NULL, 1, 0, 0},
	{"{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"table\":\"main\"}]}", CNI_VERSION_0_4_0, -EINVAL,
	 "prevResult.routes[0].table: expected integer, got string"},
	{"{\"routes\":[{\"gw\":\"10.0.0.1\"}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.routes[0]: missing \"dst\""},
	{"{\"dns\":[]}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.dns: expected object, got array"},
	{"{\"dns\":{\"nameservers\":\"10.0.0.10\"}}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.dns.nameservers: expected array, got string"},
	{"{\"dns\":{\"search\":[1]}}", CNI_VERSION_0_3_1, -EINVAL,
	 "prevResult.dns.search[0]: expected string, got number"},
	{"{\"ips\":[{\"gateway\":\"10.0.0.1\"}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.ips[0]: missing \"address\""},
	/* Bad addresses. */
	{"{\"ips\":[{\"address\":\"10.0.0.2\"}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.ips[0].address: invalid CIDR \"10.0.0.2\""},
	{"{\"ips\":[{\"address\":\"10.0.0.256/24\"}]}", CNI_VERSION_1_0_0, -EINVAL, "invalid CIDR"},
	{"{\"ips\":[{\"address\":\"10.0.0.2/33\"}]}", CNI_VERSION_1_0_0, -EINVAL, "invalid CIDR"},
	{"{\"ips\":[{\"address\":\"fe80::1%eth0/64\"}]}", CNI_VERSION_1_0_0, -EINVAL,
	 "invalid CIDR"},
	{"{\"ips\":[{\"address\":\"\"}]}", CNI_VERSION_1_0_0, -EINVAL, "invalid CIDR"},
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.300\"}]}", CNI_VERSION_1_0_0,
	 -EINVAL, "prevResult.ips[0].gateway: invalid IP address"},
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.1/24\"}]}", CNI_VERSION_1_0_0,
	 -EINVAL, "invalid IP address"},
	{"{\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"gateway\"}]}", CNI_VERSION_0_4_0, -EINVAL,
	 "prevResult.routes[0].gw: invalid IP address \"gateway\""},
	/* An empty gateway is no gateway (net.IP UnmarshalText). */
	{"{\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":\"\"}]}", CNI_VERSION_1_0_0, 0, NULL,
	 0, 1, 0},
	/* The result's own cniVersion must suit the conf's result type. */
	{"{\"cniVersion\":\"0.4.0\"}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.cniVersion"},
	{"{\"cniVersion\":\"1.1.0\"}", CNI_VERSION_1_0_0, 0, NULL, 0, 0, 0},
	{"{\"cniVersion\":\"0.4.0\"}", CNI_VERSION_0_3_1, 0, NULL, 0, 0, 0},
	{"{\"cniVersion\":\"1.0.0\"}", CNI_VERSION_0_4_0, -EINVAL, "prevResult.cniVersion"},
	{"{\"cniVersion\":\"\"}", CNI_VERSION_0_2_0, 0, NULL, 0, 0, 0},
	{"{\"cniVersion\":\"\"}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.cniVersion"},
	{"{\"cniVersion\":null}", CNI_VERSION_1_0_0, 0, NULL, 0, 0, 0},
	{"{\"cniVersion\":1}", CNI_VERSION_1_0_0, -EINVAL,
	 "prevResult.cniVersion: expected string, got number"},
	{"{\"cniVersion\":\"1.0\"}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.cniVersion"},
	/* Go: "CNIVersion" sorts first, so the lower-case key wins. */
	{"{\"cniVersion\":\"1.0.0\",\"CNIVersion\":\"0.4.0\"}", CNI_VERSION_1_0_0, 0, NULL, 0, 0,
	 0},
	{"{\"CNIVersion\":\"0.4.0\"}", CNI_VERSION_1_0_0, -EINVAL, "prevResult.cniVersion"},
	/* types/020. */
	{"{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.2/24\",\"gateway\":\"10.0.0.1\","
	 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]},\"ip6\":{\"ip\":\"fd00::2/64\"},\"dns\":{}}",
	 CNI_VERSION_0_2_0, 0, NULL, 0, 2, 1},
	{"{\"ip4\":null}", CNI_VERSION_0_1_0, 0, NULL, 0, 0, 0},
	{"{\"ip4\":{\"gateway\":\"10.0.0.1\"}}", CNI_VERSION_0_2_0, -EINVAL,
	 "prevResult.ip4: missing \"ip\""},
	{"{\"ip6\":[]}", CNI_VERSION_0_2_0, -EINVAL, "prevResult.ip6: expected object, got array"},
	{"{\"ip4\":{\"ip\":\"10.0.0.2/24\",\"routes\":[{\"dst\":\"x\"}]}}", CNI_VERSION_0_2_0,
	 -EINVAL, "prevResult.ip4.routes[0].dst: invalid CIDR"},
	/* A 0.2.0 reader never looks at ips. */
	{"{\"ips\":[{\"address\":\"bad\"}]}", CNI_VERSION_0_2_0, 0, NULL, 0, 0, 0},
	/* Not an object at all. */
	{"[]", CNI_VERSION_1_0_0, -EINVAL, "prevResult: expected object, got array"},
	{"\"x\"", CNI_VERSION_0_4_0, -EINVAL, "prevResult: expected object, got string"},
};

static void test_decode_table(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		json_error_t je;
		json_t *j = json_loads(c->json, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
		struct cni_result *r = NULL;
		struct error err = {0};

		assert_non_null(j);
		int k = cni_result_from_json(j, c->v, &r, &err);
		print_message("case %zu: %s as %s -> %d %s\n", i, c->json,
			      cni_version_to_string(c->v), k, err.msg);
		assert_int_equal(k, c->r);
		if (k == 0) {
			assert_non_null(r);
			assert_int_equal(r->n_interfaces, c->n_interfaces);
			assert_int_equal(r->n_ips, c->n_ips);
			assert_int_equal(r->n_routes, c->n_routes);
			for (size_t n = 0; n < r->n_interfaces; n++)
				assert_non_null(r->interfaces[n].name);
			/* Whatever decoded must encode in every version (or refuse 0.x without IPs). */
			for (size_t v = 0; v < ELEMENTSOF(all_versions); v++) {
				json_t *out = NULL;
				struct error e2 = {0};
				int k2 = cni_result_to_json(r, all_versions[v], &out, &e2);
				if (k2 < 0) {
					assert_int_equal(k2, -EOPNOTSUPP);
					assert_int_equal(r->n_ips, 0);
				}
				json_decref(out);
			}
			cni_result_free(r);
		} else {
			assert_null(r);
			assert_int_equal(err.kind, ERR_DECODE);
			assert_non_null(c->msg);
			if (!strstr(err.msg, c->msg))
				fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.msg,
					 c->msg);
		}
		json_decref(j);
	}
}

struct encode_case {
	const char *json; /* decoded as in_v */
	enum cni_version in_v, out_v;
	const char *want; /* compact JSON, compared with json_equal */
};

static const struct encode_case encode_cases[] = {
	/* ips[].version comes from the address, not from what the input claimed. */
	{"{\"ips\":[{\"version\":\"4\",\"address\":\"fd00::5/64\"}]}", CNI_VERSION_0_4_0,
	 CNI_VERSION_0_3_1,
	 "{\"cniVersion\":\"0.3.1\",\"ips\":[{\"version\":\"6\",\"address\":\"fd00::5/64\"}],"
	 "\"dns\":{}}"},
	/* Go's To4(): an IPv4-mapped address counts as IPv4. */
	{"{\"ips\":[{\"address\":\"::ffff:10.0.0.5/120\"}]}", CNI_VERSION_1_0_0, CNI_VERSION_0_4_0,
	 "{\"cniVersion\":\"0.4.0\",\"ips\":[{\"version\":\"4\",\"address\":"
	 "\"::ffff:10.0.0.5/120\"}],\"dns\":{}}"},
	/* 1.x drops the version and an empty dns. */
	{"{\"ips\":[{\"version\":\"4\",\"address\":\"10.0.0.5/24\"}],\"dns\":{}}",
	 CNI_VERSION_0_4_0, CNI_VERSION_1_0_0,
	 "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.5/24\"}]}"},
	/* Host bits are kept; addresses print the way Go prints them. */
	{"{\"ips\":[{\"address\":\"FD00:0:0:0:0:0:0:5/64\",\"gateway\":\"2001:db8:0:0:1:0:0:1\"}],"
	 "\"routes\":[{\"dst\":\"::2:3/128\"}]}",
	 CNI_VERSION_1_0_0, CNI_VERSION_1_1_0,
	 "{\"cniVersion\":\"1.1.0\",\"ips\":[{\"address\":\"fd00::5/64\",\"gateway\":"
	 "\"2001:db8::1:0:0:1\"}],\"routes\":[{\"dst\":\"::2:3/128\"}]}"},
	/* 0.2.0: the first address of each family; routes only for a family that has one. */
	{"{\"ips\":[{\"address\":\"10.0.0.5/24\",\"gateway\":\"10.0.0.1\"},"
	 "{\"address\":\"10.0.1.5/24\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\",\"mtu\":1400},"
	 "{\"dst\":\"::/0\"}],\"dns\":{\"nameservers\":[\"10.0.0.10\"]}}",
	 CNI_VERSION_1_1_0, CNI_VERSION_0_2_0,
	 "{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.5/24\",\"gateway\":\"10.0.0.1\","
	 "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]},\"dns\":{\"nameservers\":[\"10.0.0.10\"]}}"},
	{"{\"ips\":[{\"address\":\"fd00::5/64\"},{\"address\":\"10.0.0.5/24\"}],"
	 "\"routes\":[{\"dst\":\"::/0\",\"gw\":\"fd00::1\"}]}",
	 CNI_VERSION_1_0_0, CNI_VERSION_0_1_0,
	 "{\"cniVersion\":\"0.1.0\",\"ip4\":{\"ip\":\"10.0.0.5/24\"},\"ip6\":{\"ip\":"
	 "\"fd00::5/64\",\"routes\":[{\"dst\":\"::/0\",\"gw\":\"fd00::1\"}]},\"dns\":{}}"},
	/* 0.2.0 -> 1.x: ip4 then ip6, their routes in that order, no interface index. */
	{"{\"ip6\":{\"ip\":\"fd00::5/64\",\"routes\":[{\"dst\":\"::/0\"}]},"
	 "\"ip4\":{\"ip\":\"10.0.0.5/24\",\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.0.0.1\"}]}}",
	 CNI_VERSION_0_2_0, CNI_VERSION_1_0_0,
	 "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.5/24\"},{\"address\":"
	 "\"fd00::5/64\"}],\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"10.0.0.1\"},"
	 "{\"dst\":\"::/0\"}]}"},
	/* dns: "" and empty lists are omitted, a lone domain is not empty. */
	{"{\"dns\":{\"domain\":\"cluster.local\",\"search\":[],\"options\":null}}",
	 CNI_VERSION_1_0_0, CNI_VERSION_1_0_0,
	 "{\"cniVersion\":\"1.0.0\",\"dns\":{\"domain\":\"cluster.local\"}}"},
	/* Interface name is always emitted, even empty; mac "" is omitted. */
	{"{\"interfaces\":[{\"mac\":\"\"}]}", CNI_VERSION_1_0_0, CNI_VERSION_0_3_0,
	 "{\"cniVersion\":\"0.3.0\",\"interfaces\":[{\"name\":\"\"}],\"dns\":{}}"},
	/* A later case-variant key overwrites an earlier one (byte order: "IPS" < "ips"). */
	{"{\"ips\":[{\"address\":\"10.0.0.5/24\"}],\"IPS\":[{\"address\":\"10.0.0.6/24\"}]}",
	 CNI_VERSION_1_0_0, CNI_VERSION_1_0_0,
	 "{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.5/24\"}]}"},
	/* Route table 0 / scope 0 are set values and travel in 1.1.0. */
	{"{\"routes\":[{\"dst\":\"10.0.0.0/8\",\"table\":0,\"scope\":0,\"priority\":0}]}",
	 CNI_VERSION_1_1_0, CNI_VERSION_1_1_0,
	 "{\"cniVersion\":\"1.1.0\",\"routes\":[{\"dst\":\"10.0.0.0/8\",\"table\":0,"
	 "\"scope\":0}]}"},
};

static void test_encode_table(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(encode_cases); i++) {
		const struct encode_case *c = &encode_cases[i];
		json_t *in = parse(c->json), *want = parse(c->want);
		struct cni_result *r = decode_ok(in, c->in_v);
		json_t *got = encode_ok(r, c->out_v);
		char what[32];

		(void)snprintf(what, sizeof(what), "encode case %zu", i);
		assert_json_equal(got, want, what);
		json_decref(got);
		json_decref(want);
		json_decref(in);
		cni_result_free(r);
	}
}

/* The single-stack Debian bridge output and its empty dns in each version. */
static void test_bridge_single_stack(void **state)
{
	json_t *in = load_fixture("bridge-v4-1.0.0.json");
	struct cni_result *r = decode_ok(in, CNI_VERSION_1_0_0);

	assert_int_equal(r->n_ips, 1);
	assert_true(r->ips[0].has_interface);
	assert_int_equal(r->ips[0].interface, 2);
	assert_int_equal(r->ips[0].address.family, AF_INET);
	assert_int_equal(r->ips[0].address.prefix, 16);
	assert_int_equal(r->ips[0].gateway.family, AF_INET);
	assert_string_equal(r->interfaces[2].sandbox, "/var/run/netns/itest");

	json_t *o = encode_ok(r, CNI_VERSION_1_0_0);
	assert_null(json_object_get(o, "dns"));
	json_decref(o);
	o = encode_ok(r, CNI_VERSION_0_3_1);
	assert_int_equal(json_object_size(json_object_get(o, "dns")), 0);
	assert_non_null(json_object_get(o, "dns"));
	assert_string_equal(json_string_value(
				    json_object_get(json_array_get(json_object_get(o, "ips"), 0),
						    "version")),
			    "4");
	json_decref(o);
	o = encode_ok(r, CNI_VERSION_0_2_0);
	assert_null(json_object_get(o, "ip6"));
	assert_non_null(json_object_get(o, "ip4"));
	json_decref(o);

	cni_result_free(r);
	json_decref(in);
}

static void test_free_null(void **state)
{
	assert_null(cni_result_free(NULL));
	_cleanup_cni_result_ struct cni_result *r = NULL;
	assert_int_equal(cni_result_new(&r), 0);
	assert_non_null(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_version_pair),
		cmocka_unit_test(test_round_trip_through_latest),
		cmocka_unit_test(test_v11_fields),
		cmocka_unit_test(test_empty_result_each_version),
		cmocka_unit_test(test_print_layout),
		cmocka_unit_test(test_print_escapes_like_go),
		cmocka_unit_test(test_print_write_error),
		cmocka_unit_test(test_decode_table),
		cmocka_unit_test(test_encode_table),
		cmocka_unit_test(test_bridge_single_stack),
		cmocka_unit_test(test_free_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
