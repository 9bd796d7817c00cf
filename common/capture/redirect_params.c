// SPDX-License-Identifier: Apache-2.0
#include "capture/redirect_params.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"
#include "util/istio_names.h"

/* ---- the decision ---- */

static bool parses_true(const char *v)
{
	bool b;
	return v && parse_bool(v, &b) >= 0 && b;
}

enum redirect_skip redirect_decide(const struct pod_info *pod)
{
	if (pod_info_has_container(pod, CONTAINER_ISTIO_INIT))
		return REDIRECT_SKIP_ISTIO_INIT;
	/* DISABLE_ENVOY is read from the proxy env before the proxy's presence is checked,
	 * as Istio does; without a proxy there is no env, so the order is only visible in
	 * which reason is reported. */
	if (parses_true(pod_info_proxy_env(pod, PROXY_ENV_DISABLE_ENVOY)))
		return REDIRECT_SKIP_ENVOY_DISABLED;
	if (!pod->has_proxy)
		return REDIRECT_SKIP_NO_PROXY;
	if (pod->n_proxy_args >= 2 && strcmp(pod->proxy_args[0], "proxy") == 0 &&
	    strcmp(pod->proxy_args[1], "sidecar") != 0)
		return REDIRECT_SKIP_NOT_SIDECAR;

	/* The label wins when present, even when its value does not parse. */
	const char *inject = pod_info_label(pod, ANN_INJECT);
	if (!inject)
		inject = pod_info_annotation(pod, ANN_INJECT);
	bool b;
	if (inject && parse_bool(inject, &b) >= 0 && !b)
		return REDIRECT_SKIP_INJECT_DISABLED;

	if (!pod_info_annotation(pod, ANN_STATUS))
		return REDIRECT_SKIP_NO_STATUS;
	return REDIRECT_CAPTURE;
}

static const char *const skip_names[_REDIRECT_SKIP_MAX] = {
	[REDIRECT_CAPTURE] = "capture",
	[REDIRECT_SKIP_ISTIO_INIT] =
		"pod has an istio-init container (init-container interception)",
	[REDIRECT_SKIP_ENVOY_DISABLED] = "istio-proxy has DISABLE_ENVOY set",
	[REDIRECT_SKIP_NO_PROXY] = "pod has no istio-proxy container",
	[REDIRECT_SKIP_NOT_SIDECAR] = "istio-proxy is not a sidecar (gateway or router)",
	[REDIRECT_SKIP_INJECT_DISABLED] =
		"sidecar injection disabled (sidecar.istio.io/inject=false)",
	[REDIRECT_SKIP_NO_STATUS] = "pod has no sidecar.istio.io/status annotation (not injected)",
};

const char *redirect_skip_to_string(enum redirect_skip s)
{
	return (unsigned int)s < _REDIRECT_SKIP_MAX ? skip_names[s] : "unknown";
}

/* ---- list parsing ---- */

_printf_(4, 5) static int invalid(struct error *err, const char *key, const char *value,
				  const char *fmt, ...)
{
	char detail[256];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return error_set(err, ERR_CONFIG, -EINVAL,
			 "annotation \"%s\" has invalid value \"%.200s\": %s", key, value, detail);
}

/*
 * Calls fn for each trimmed, non-empty comma-separated entry of value. Entries
 * longer than 63 bytes cannot be a port, CIDR or interface name.
 */
typedef int (*entry_fn)(const char *entry, void *userdata);

static int for_each_entry(const char *key, const char *value, entry_fn fn, void *userdata,
			  const char *hint, struct error *err)
{
	size_t count = 0;
	const char *p = value;
	for (;;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		char buf[64];
		if (len >= sizeof(buf)) {
			char shown[40];
			(void)snprintf(shown, sizeof(shown), "%.32s...", p);
			return invalid(err, key, value, "entry \"%s\" is too long", shown);
		}
		memcpy(buf, p, len);
		buf[len] = '\0';
		parse_strip(buf);
		if (buf[0] != '\0') {
			if (++count > REDIRECT_LIST_MAX)
				return invalid(err, key, value, "more than %d entries",
					       REDIRECT_LIST_MAX);
			int r = fn(buf, userdata);
			if (r == -ENOMEM)
				return r;
			if (r < 0) {
				char detail[200];
				if (strcmp(buf, "*") == 0)
					(void)snprintf(
						detail, sizeof(detail),
						"\"*\" is only valid as the whole value, where a wildcard is allowed");
				else
					(void)snprintf(detail, sizeof(detail), "\"%s\" is not %s",
						       buf, hint);
				return invalid(err, key, value, "%s", detail);
			}
		}
		if (!end)
			break;
		p = end + 1;
	}
	return 0;
}

/*
 * Room for every entry value can hold: one more than its commas, at most
 * REDIRECT_LIST_MAX (for_each_entry refuses more). One allocation per list,
 * however long, so the entry callbacks only store.
 */
static void *entries_alloc(const char *value, size_t size)
{
	size_t n = 1;
	for (const char *p = value; (p = strchr(p, ',')); p++)
		n++;
	return reallocarray(NULL, n < REDIRECT_LIST_MAX ? n : REDIRECT_LIST_MAX, size);
}

/* ---- duplicates ---- */

struct dedupe_ctx {
	const char *base;
	size_t size;
	int (*cmp)(const void *a, const void *b);
};

/* Orders indices by the entries they point at, then by position. */
static int cmp_index(const void *a, const void *b, void *userdata)
{
	const struct dedupe_ctx *c = userdata;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int r = c->cmp(c->base + i * c->size, c->base + j * c->size);
	if (r != 0)
		return r;
	return i < j ? -1 : i > j;
}

/*
 * Drops every entry of base[0..*n) equal to an earlier one, keeping the order
 * of the rest; O(n log n), for lists of up to REDIRECT_LIST_MAX entries.
 */
static int dedupe(void *base, size_t *n, size_t size, int (*cmp)(const void *a, const void *b))
{
	if (*n < 2)
		return 0;
	_cleanup_free_ size_t *idx = reallocarray(NULL, *n, sizeof(*idx));
	_cleanup_free_ bool *drop = calloc(*n, sizeof(*drop));
	if (!idx || !drop)
		return -ENOMEM;
	for (size_t i = 0; i < *n; i++)
		idx[i] = i;
	struct dedupe_ctx c = {.base = base, .size = size, .cmp = cmp};
	qsort_r(idx, *n, sizeof(*idx), cmp_index, &c);
	for (size_t i = 1; i < *n; i++)
		if (cmp(c.base + idx[i - 1] * size, c.base + idx[i] * size) == 0)
			drop[idx[i]] = true;
	char *p = base;
	size_t out = 0;
	for (size_t i = 0; i < *n; i++) {
		if (drop[i])
			continue;
		if (out != i)
			memcpy(p + out * size, p + i * size, size);
		out++;
	}
	*n = out;
	return 0;
}

static int cmp_port(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
	return x < y ? -1 : x > y;
}

/* Same family, prefix and address as written (10.0.0.1/8 and 10.0.0.0/8 differ). */
static int cmp_cidr(const void *a, const void *b)
{
	const struct cidr *x = a, *y = b;
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (x->prefix != y->prefix)
		return x->prefix < y->prefix ? -1 : 1;
	return memcmp(x->addr.bytes, y->addr.bytes, x->family == AF_INET ? 4 : 16);
}

static int cmp_ifname(const void *a, const void *b)
{
	return strncmp(a, b, IFNAMSIZ);
}

static bool is_wildcard(const char *value)
{
	char buf[8];
	size_t len = strlen(value);
	if (len >= sizeof(buf))
		return false;
	memcpy(buf, value, len + 1);
	return strcmp(parse_strip(buf), "*") == 0;
}

static int add_port(const char *entry, void *userdata)
{
	struct port_list *l = userdata;
	uint16_t port;
	if (parse_port(entry, &port) < 0)
		return -EINVAL;
	l->port[l->n++] = port;
	return 0;
}

static void port_list_done(struct port_list *l)
{
	free(l->port);
	*l = (struct port_list){0};
}

int redirect_parse_ports(const char *key, const char *value, bool allow_wildcard,
			 struct port_list *list, struct error *err)
{
	struct port_list l = {0};
	if (is_wildcard(value)) {
		if (!allow_wildcard)
			return invalid(
				err, key, value, "%s",
				"\"*\" is not a port (Istio would emit \"--dport *\", which iptables rejects)");
		l.wildcard = true;
	} else {
		l.port = entries_alloc(value, sizeof(*l.port));
		if (!l.port)
			return -ENOMEM;
		int r = for_each_entry(key, value, add_port, &l, "a port (1-65535)", err);
		if (r >= 0)
			r = dedupe(l.port, &l.n, sizeof(*l.port), cmp_port);
		if (r < 0) {
			port_list_done(&l);
			return r;
		}
	}
	port_list_done(list);
	*list = l;
	return 0;
}

static int add_cidr(const char *entry, void *userdata)
{
	struct cidr_list *l = userdata;
	struct cidr c;
	if (parse_cidr(entry, &c) < 0)
		return -EINVAL;
	l->cidr[l->n++] = c;
	return 0;
}

static void cidr_list_done(struct cidr_list *l)
{
	free(l->cidr);
	*l = (struct cidr_list){0};
}

int redirect_parse_cidrs(const char *key, const char *value, bool allow_wildcard,
			 struct cidr_list *list, struct error *err)
{
	struct cidr_list l = {0};
	if (is_wildcard(value)) {
		if (!allow_wildcard)
			return invalid(err, key, value, "%s",
				       "\"*\" is not allowed for excluded ranges");
		l.wildcard = true;
	} else {
		l.cidr = entries_alloc(value, sizeof(*l.cidr));
		if (!l.cidr)
			return -ENOMEM;
		int r = for_each_entry(key, value, add_cidr, &l,
				       "a CIDR such as 10.0.0.0/8 or fd00::/8", err);
		if (r >= 0)
			r = dedupe(l.cidr, &l.n, sizeof(*l.cidr), cmp_cidr);
		if (r < 0) {
			cidr_list_done(&l);
			return r;
		}
	}
	cidr_list_done(list);
	*list = l;
	return 0;
}

bool redirect_ifname_valid(const char *name)
{
	if (!parse_ifname_valid(name) || name[0] == '-')
		return false;
	size_t n = strlen(name);
	for (size_t i = 0; i < n; i++) {
		if (strchr("\"'\\#!*", name[i]))
			return false;
		if (name[i] == '+' && (i + 1 != n || n == 1))
			return false;
	}
	return true;
}

static int add_ifname(const char *entry, void *userdata)
{
	struct ifname_list *l = userdata;
	if (!redirect_ifname_valid(entry))
		return -EINVAL;
	(void)snprintf(l->name[l->n++], IFNAMSIZ, "%s", entry);
	return 0;
}

static void ifname_list_done(struct ifname_list *l)
{
	free(l->name);
	*l = (struct ifname_list){0};
}

int redirect_parse_ifnames(const char *key, const char *value, struct ifname_list *list,
			   struct error *err)
{
	struct ifname_list l = {.name = entries_alloc(value, sizeof(*l.name))};
	if (!l.name)
		return -ENOMEM;
	int r = for_each_entry(key, value, add_ifname, &l,
			       "an interface name (1-15 bytes; none of / : \" ' \\ # ! * or "
			       "whitespace; not starting with '-'; '+' only last, as a prefix "
			       "wildcard, and not alone)",
			       err);
	if (r >= 0)
		r = dedupe(l.name, &l.n, sizeof(*l.name), cmp_ifname);
	if (r < 0) {
		ifname_list_done(&l);
		return r;
	}
	ifname_list_done(list);
	*list = l;
	return 0;
}

static int add_id(const char *entry, void *userdata)
{
	struct id_list *l = userdata;
	uint64_t v;
	if (parse_u64(entry, 0, UINT32_MAX - 1, &v) < 0)
		return -EINVAL;
	l->id[l->n++] = (uint32_t)v;
	return 0;
}

static void id_list_done(struct id_list *l)
{
	free(l->id);
	*l = (struct id_list){0};
}

int redirect_parse_ids(const char *key, const char *value, struct id_list *list, struct error *err)
{
	struct id_list l = {.id = entries_alloc(value, sizeof(*l.id))};
	if (!l.id)
		return -ENOMEM;
	int r = for_each_entry(key, value, add_id, &l, "a numeric id", err);
	if (r < 0) {
		id_list_done(&l);
		return r;
	}
	id_list_done(list);
	*list = l;
	return 0;
}

/* ---- parameters ---- */

void redirect_params_done(struct redirect_params *p)
{
	if (!p)
		return;
	cidr_list_done(&p->include_cidrs);
	cidr_list_done(&p->exclude_cidrs);
	port_list_done(&p->include_inbound_ports);
	port_list_done(&p->exclude_inbound_ports);
	port_list_done(&p->include_outbound_ports);
	port_list_done(&p->exclude_outbound_ports);
	ifname_list_done(&p->exclude_interfaces);
	ifname_list_done(&p->reroute_interfaces);
	id_list_done(&p->proxy_uids);
	id_list_done(&p->proxy_gids);
	memset(p, 0, sizeof(*p));
}

static int set_one_id(struct id_list *l, uint32_t id)
{
	uint32_t *n = realloc(l->id, sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->id = n;
	l->id[0] = id;
	l->n = 1;
	return 0;
}

static int set_one_port(struct port_list *l, uint16_t port)
{
	uint16_t *n = realloc(l->port, sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->port = n;
	l->port[0] = port;
	l->n = 1;
	l->wildcard = false;
	return 0;
}

int redirect_params_init_defaults(struct redirect_params *ret)
{
	struct redirect_params p = {0};
	p.mode = REDIRECT_MODE_REDIRECT;
	p.include_cidrs.wildcard = true;
	p.include_inbound_ports.wildcard = true;
	int r = set_one_port(&p.exclude_inbound_ports, PORT_STATUS);
	if (r >= 0)
		r = set_one_port(&p.exclude_outbound_ports, PORT_STATUS);
	if (r >= 0)
		r = set_one_id(&p.proxy_uids, DEFAULT_PROXY_UID);
	if (r >= 0)
		r = set_one_id(&p.proxy_gids, DEFAULT_PROXY_GID);
	if (r >= 0)
		r = parse_cidr("127.0.0.1/32", &p.host_loopback_v4);
	if (r < 0) {
		redirect_params_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}

/* Appends 15020, 15021, 15090 to the inbound excludes, dropping duplicates (first kept). */
static int finish_inbound_excludes(struct port_list *l)
{
	static const uint16_t always[] = {PORT_STATUS, PORT_HEALTH, PORT_PROMETHEUS};
	if (l->wildcard)
		return 0;
	uint16_t *n = reallocarray(l->port, l->n + ELEMENTSOF(always), sizeof(*n));
	if (!n)
		return -ENOMEM;
	l->port = n;
	for (size_t i = 0; i < ELEMENTSOF(always); i++)
		l->port[l->n++] = always[i];

	return dedupe(l->port, &l->n, sizeof(*l->port), cmp_port);
}

static bool env_bool(const struct pod_info *pod, const char *name)
{
	/* Istio warns on an unparsable value and treats it as false. */
	return parses_true(pod_info_proxy_env(pod, name));
}

static int proxy_id(const struct pod_info *pod, bool set, int64_t v, const char *field,
		    uint32_t def, struct id_list *l, struct error *err)
{
	if (!set || v == 0)
		return set_one_id(l, def);
	if (v < 0 || v > INT32_MAX)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "istio-proxy securityContext.%s %lld is out of range", field,
				 (long long)v);
	return set_one_id(l, (uint32_t)v);
}

static int params_mode(const struct pod_info *pod, struct redirect_params *p, struct error *err)
{
	const char *v = pod_info_annotation(pod, ANN_INTERCEPTION_MODE);
	if (!v)
		return 0;
	if (strcmp(v, "REDIRECT") == 0)
		p->mode = REDIRECT_MODE_REDIRECT;
	else if (strcmp(v, "TPROXY") == 0)
		p->mode = REDIRECT_MODE_TPROXY;
	else
		return invalid(err, ANN_INTERCEPTION_MODE, v, "%s", "must be REDIRECT or TPROXY");
	return 0;
}

/* The outbound IP ranges and the inbound ports, with the always-excluded ones. */
static int params_ranges_inbound(const struct pod_info *pod, struct redirect_params *p,
				 struct error *err)
{
	const char *v;
	int r;
	v = pod_info_annotation(pod, ANN_INCLUDE_OUTBOUND_IP_RANGES);
	if (v && (r = redirect_parse_cidrs(ANN_INCLUDE_OUTBOUND_IP_RANGES, v, true,
					   &p->include_cidrs, err)) < 0)
		return r;
	v = pod_info_annotation(pod, ANN_EXCLUDE_OUTBOUND_IP_RANGES);
	if (v && (r = redirect_parse_cidrs(ANN_EXCLUDE_OUTBOUND_IP_RANGES, v, false,
					   &p->exclude_cidrs, err)) < 0)
		return r;
	v = pod_info_annotation(pod, ANN_INCLUDE_INBOUND_PORTS);
	if (v && (r = redirect_parse_ports(ANN_INCLUDE_INBOUND_PORTS, v, true,
					   &p->include_inbound_ports, err)) < 0)
		return r;
	v = pod_info_annotation(pod, ANN_EXCLUDE_INBOUND_PORTS);
	if (v && (r = redirect_parse_ports(ANN_EXCLUDE_INBOUND_PORTS, v, true,
					   &p->exclude_inbound_ports, err)) < 0)
		return r;
	if (p->exclude_inbound_ports.wildcard && p->include_inbound_ports.wildcard)
		/* Istio accepts it, then emits "--dport *" and fails in iptables-restore. */
		return invalid(err, ANN_EXCLUDE_INBOUND_PORTS, v, "%s",
			       "\"*\" cannot be combined with includeInboundPorts \"*\"");
	return finish_inbound_excludes(&p->exclude_inbound_ports);
}

/* The outbound ports, the excluded interfaces and the rerouted ones. */
static int params_outbound_ifaces(const struct pod_info *pod, struct redirect_params *p,
				  struct error *err)
{
	const char *v;
	int r;
	v = pod_info_annotation(pod, ANN_INCLUDE_OUTBOUND_PORTS);
	if (v && (r = redirect_parse_ports(ANN_INCLUDE_OUTBOUND_PORTS, v, false,
					   &p->include_outbound_ports, err)) < 0)
		return r;
	v = pod_info_annotation(pod, ANN_EXCLUDE_OUTBOUND_PORTS);
	if (v && (r = redirect_parse_ports(ANN_EXCLUDE_OUTBOUND_PORTS, v, false,
					   &p->exclude_outbound_ports, err)) < 0)
		return r;
	v = pod_info_annotation(pod, ANN_EXCLUDE_INTERFACES);
	if (v && (r = redirect_parse_ifnames(ANN_EXCLUDE_INTERFACES, v, &p->exclude_interfaces,
					     err)) < 0)
		return r;

	/* The deprecated key is read only when the current one is absent. */
	const char *key = ANN_REROUTE_VIRTUAL_INTERFACES;
	v = pod_info_annotation(pod, key);
	if (!v) {
		key = ANN_KUBEVIRT_INTERFACES;
		v = pod_info_annotation(pod, key);
	}
	if (v && (r = redirect_parse_ifnames(key, v, &p->reroute_interfaces, err)) < 0)
		return r;
	return 0;
}

/* The proxy's UID and GID and the switches in its environment. */
static int params_proxy(const struct pod_info *pod, struct redirect_params *p, struct error *err)
{
	int r = proxy_id(pod, pod->proxy_run_as_user_set, pod->proxy_run_as_user, "runAsUser",
			 DEFAULT_PROXY_UID, &p->proxy_uids, err);
	if (r < 0)
		return r;
	r = proxy_id(pod, pod->proxy_run_as_group_set, pod->proxy_run_as_group, "runAsGroup",
		     DEFAULT_PROXY_GID, &p->proxy_gids, err);
	if (r < 0)
		return r;
	p->dns_capture = env_bool(pod, PROXY_ENV_DNS_CAPTURE);
	p->dual_stack = env_bool(pod, PROXY_ENV_DUAL_STACK);
	p->drop_invalid = env_bool(pod, PROXY_ENV_INVALID_DROP);
	return 0;
}

int redirect_params_from_pod(const struct pod_info *pod, struct redirect_params *ret,
			     struct error *err)
{
	struct redirect_params p;
	int r = redirect_params_init_defaults(&p);
	if (r < 0)
		return r;
	if ((r = params_mode(pod, &p, err)) < 0 || (r = params_ranges_inbound(pod, &p, err)) < 0 ||
	    (r = params_outbound_ifaces(pod, &p, err)) < 0 ||
	    (r = params_proxy(pod, &p, err)) < 0) {
		redirect_params_done(&p);
		return r;
	}
	*ret = p;
	return 0;
}
