// SPDX-License-Identifier: Apache-2.0
/*
 * prevResult decoding and result encoding, modelled on libcni's types/020,
 * types/040 and types/100 packages.
 *
 * Decoding mirrors what libcni's version.ParsePrevResult does to the raw
 * prevResult: it re-marshals the generic map (so object keys arrive in byte
 * order and numbers as float64), injects the conf's cniVersion when the result
 * carries none, and unmarshals with Go's encoding/json, which matches keys
 * case-insensitively, lets a later key overwrite an earlier one, treats null as
 * "leave alone" (strings, numbers, structs) or "reset" (slices, pointers) and
 * ignores unknown keys. Each decode step below names the Go type it stands for.
 */
#include "cni/cni_result.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/json_util.h"
#include "util/strv.h"

#define PATH_LEN 192

/* ---- memory ---------------------------------------------------------------------------- */

static void interface_clear(struct cni_interface *i)
{
	free(i->name);
	free(i->mac);
	free(i->sandbox);
	free(i->socket_path);
	free(i->pci_id);
	*i = (struct cni_interface){0};
}

static void dns_clear(struct cni_dns *d)
{
	strv_free(d->nameservers, d->n_nameservers);
	free(d->domain);
	strv_free(d->search, d->n_search);
	strv_free(d->options, d->n_options);
	*d = (struct cni_dns){0};
}

static void interfaces_free(struct cni_interface *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		interface_clear(&v[i]);
	free(v);
}

struct cni_result *cni_result_free(struct cni_result *r)
{
	if (!r)
		return NULL;
	interfaces_free(r->interfaces, r->n_interfaces);
	free(r->ips);
	free(r->routes);
	dns_clear(&r->dns);
	free(r);
	return NULL;
}

int cni_result_new(struct cni_result **ret)
{
	struct cni_result *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*ret = r;
	return 0;
}

/* ---- decoding helpers ------------------------------------------------------------------ */

static int type_error(struct error *err, const char *path, const char *want, const json_t *v)
{
	/* Go's encoding/json has one number type: integers are numbers too. */
	return error_set(err, ERR_DECODE, -EINVAL, "%s: expected %s, got %s", path, want,
			 json_is_number(v) ? "number" : json_type_name(v));
}

static int oom(struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory decoding prevResult");
}

/*
 * A Go int field. The round trip through float64 in ParsePrevResult means
 * integral reals (1.0, 1e2) decode and fractions do not.
 */
static int decode_int(const json_t *v, const char *path, int64_t *ret, struct error *err)
{
	if (json_is_integer(v)) {
		*ret = (int64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);
		/* Go prints |d| >= 1e21 in exponent form, which an int refuses. */
		if (d == floor(d) && fabs(d) < 9.2e18) {
			*ret = (int64_t)d;
			return 0;
		}
		return error_set(err, ERR_DECODE, -EINVAL, "%s: %g is not an integer", path, d);
	}
	return type_error(err, path, "integer", v);
}

/* A Go string field: null leaves the old value. */
static int decode_string(const json_t *v, const char *path, char **field, struct error *err)
{
	if (json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return type_error(err, path, "string", v);
	char *s = strndup(json_string_value(v), json_string_length(v));
	if (!s)
		return oom(err);
	free(*field);
	*field = s;
	return 0;
}

/* A Go []string field: null resets it, a null element is "". */
static int decode_strv(const json_t *v, const char *path, char ***field, size_t *n_field,
		       struct error *err)
{
	char **out = NULL;
	size_t n = 0;
	int r;

	if (json_is_null(v)) {
		strv_free(*field, *n_field);
		*field = NULL;
		*n_field = 0;
		return 0;
	}
	if (!json_is_array(v))
		return type_error(err, path, "array", v);
	size_t count = json_array_size(v);
	if (count > 0) {
		out = calloc(count, sizeof(char *));
		if (!out)
			return oom(err);
	}
	for (n = 0; n < count; n++) {
		char p[PATH_LEN];
		(void)snprintf(p, sizeof(p), "%s[%zu]", path, n);
		r = decode_string(json_array_get(v, n), p, &out[n], err);
		if (r >= 0 && !out[n]) {
			out[n] = strdup("");
			if (!out[n])
				r = oom(err);
		}
		if (r < 0) {
			strv_free(out, n + 1);
			return r;
		}
	}
	strv_free(*field, *n_field);
	*field = out;
	*n_field = n;
	return 0;
}

/* Go's net.ParseIP text, as net.IP's UnmarshalText; "" means no address. */
static int parse_addr(const char *s, struct cni_addr *ret)
{
	struct cni_addr a = {0};

	if (inet_pton(AF_INET, s, &a.addr.v4) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, &a.addr.v6) == 1)
		a.family = AF_INET6;
	else
		return -EINVAL;
	*ret = a;
	return 0;
}

/* A Go net.IP field: null and "" reset it. */
static int decode_ip(const json_t *v, const char *path, struct cni_addr *field, struct error *err)
{
	if (json_is_null(v)) {
		*field = (struct cni_addr){0};
		return 0;
	}
	if (!json_is_string(v))
		return type_error(err, path, "string", v);
	const char *s = json_string_value(v);
	if (*s == '\0') {
		*field = (struct cni_addr){0};
		return 0;
	}
	if (strlen(s) != json_string_length(v) || parse_addr(s, field) < 0)
		return error_set(err, ERR_DECODE, -EINVAL, "%s: invalid IP address \"%.64s\"", path,
				 s);
	return 0;
}

/*
 * A libcni types.IPNet field. Its UnmarshalJSON runs even for null, and
 * ParseCIDR("") fails, so null is an error here.
 */
static int decode_cidr(const json_t *v, const char *path, struct cidr *field, bool *seen,
		       struct error *err)
{
	if (!json_is_string(v))
		return type_error(err, path, "CIDR string", v);
	const char *s = json_string_value(v);
	if (strlen(s) != json_string_length(v) || parse_cidr(s, field) < 0)
		return error_set(err, ERR_DECODE, -EINVAL, "%s: invalid CIDR \"%.64s\"", path, s);
	*seen = true;
	return 0;
}

/*
 * Go struct decoding: every key of the object, in byte order (the order the
 * re-marshalled map has), goes to the field whose name matches it
 * case-insensitively; later keys overwrite earlier ones; unknown keys are
 * ignored.
 */
struct field {
	const char *name;
	int (*decode)(void *target, const json_t *v, const char *path, struct error *err);
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int decode_struct(const json_t *obj, const char *path, const struct field *fields,
			 size_t n_fields, void *target, struct error *err)
{
	_cleanup_free_ const char **keys = NULL;
	const char *key;
	json_t *v;
	size_t n = 0;

	if (!json_is_object(obj))
		return type_error(err, path, "object", obj);
	if (json_object_size(obj) == 0)
		return 0;
	keys = calloc(json_object_size(obj), sizeof(char *));
	if (!keys)
		return oom(err);
	json_object_foreach ((json_t *)(uintptr_t)obj, key, v)
		keys[n++] = key;
	qsort(keys, n, sizeof(char *), cmp_str);

	for (size_t i = 0; i < n; i++)
		for (size_t f = 0; f < n_fields; f++) {
			if (strcasecmp(keys[i], fields[f].name) != 0)
				continue;
			char p[PATH_LEN];
			(void)snprintf(p, sizeof(p), "%s.%s", path, keys[i]);
			int r = fields[f].decode(target, json_object_get(obj, keys[i]), p, err);
			if (r < 0)
				return r;
			break;
		}
	return 0;
}

/*
 * A Go slice of structs (or of pointers to structs). null resets it; a null
 * element would be a nil pointer that libcni later dereferences, so it is
 * refused.
 */
static int decode_array(const json_t *v, const char *path, size_t elem_size,
			int (*decode_elem)(void *elem, const json_t *v, const char *path,
					   struct error *err),
			void (*clear_elem)(void *elem), void **field, size_t *n_field,
			struct error *err)
{
	uint8_t *out = NULL;
	size_t n;
	int r = 0;

	if (!json_is_null(v) && !json_is_array(v))
		return type_error(err, path, "array", v);
	n = json_is_array(v) ? json_array_size(v) : 0;
	if (n > 0) {
		out = calloc(n, elem_size);
		if (!out)
			return oom(err);
	}
	for (size_t i = 0; i < n; i++) {
		char p[PATH_LEN];
		const json_t *e = json_array_get(v, i);

		(void)snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (json_is_null(e))
			r = error_set(err, ERR_DECODE, -EINVAL, "%s: null entry", p);
		else
			r = decode_elem(out + i * elem_size, e, p, err);
		if (r < 0) {
			if (clear_elem)
				for (size_t j = 0; j <= i; j++)
					clear_elem(out + j * elem_size);
			free(out);
			return r;
		}
	}
	if (clear_elem)
		for (size_t j = 0; j < *n_field; j++)
			clear_elem((uint8_t *)*field + j * elem_size);
	free(*field);
	*field = out;
	*n_field = n;
	return 0;
}

/* ---- types.DNS -------------------------------------------------------------------------- */

static int dns_nameservers(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_dns *d = t;
	return decode_strv(v, p, &d->nameservers, &d->n_nameservers, err);
}

static int dns_domain(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_string(v, p, &((struct cni_dns *)t)->domain, err);
}

static int dns_search(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_dns *d = t;
	return decode_strv(v, p, &d->search, &d->n_search, err);
}

static int dns_options(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_dns *d = t;
	return decode_strv(v, p, &d->options, &d->n_options, err);
}

static const struct field dns_fields[] = {
	{"nameservers", dns_nameservers},
	{"domain", dns_domain},
	{"search", dns_search},
	{"options", dns_options},
};

/* A struct field: null leaves it alone. */
static int decode_dns(const json_t *v, const char *path, struct cni_dns *dns, struct error *err)
{
	if (json_is_null(v))
		return 0;
	return decode_struct(v, path, dns_fields, ELEMENTSOF(dns_fields), dns, err);
}

/* ---- types.Route ------------------------------------------------------------------------ */

struct route_ctx {
	struct cni_route route;
	bool have_dst;
};

static int route_dst(void *t, const json_t *v, const char *p, struct error *err)
{
	struct route_ctx *c = t;
	return decode_cidr(v, p, &c->route.dst, &c->have_dst, err);
}

static int route_gw(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_ip(v, p, &((struct route_ctx *)t)->route.gw, err);
}

/* Go int: null leaves it alone. */
#define ROUTE_INT(fname, member)                                                                   \
	static int fname(void *t, const json_t *v, const char *p, struct error *err)               \
	{                                                                                          \
		if (json_is_null(v))                                                               \
			return 0;                                                                  \
		return decode_int(v, p, &((struct route_ctx *)t)->route.member, err);              \
	}

ROUTE_INT(route_mtu, mtu)
ROUTE_INT(route_advmss, advmss)
ROUTE_INT(route_priority, priority)

/* Go *int: null resets it. */
#define ROUTE_OPT_INT(fname, member, has)                                                          \
	static int fname(void *t, const json_t *v, const char *p, struct error *err)               \
	{                                                                                          \
		struct cni_route *rt = &((struct route_ctx *)t)->route;                            \
		if (json_is_null(v)) {                                                             \
			rt->has = false;                                                           \
			rt->member = 0;                                                            \
			return 0;                                                                  \
		}                                                                                  \
		int r = decode_int(v, p, &rt->member, err);                                        \
		if (r < 0)                                                                         \
			return r;                                                                  \
		rt->has = true;                                                                    \
		return 0;                                                                          \
	}

ROUTE_OPT_INT(route_table, table, has_table)
ROUTE_OPT_INT(route_scope, scope, has_scope)

/* One Route type serves every version in libcni, 1.1 fields included. */
static const struct field route_fields[] = {
	{"dst", route_dst},	      {"gw", route_gw},
	{"mtu", route_mtu},	      {"advmss", route_advmss},
	{"priority", route_priority}, {"table", route_table},
	{"scope", route_scope},
};

static int decode_route(void *elem, const json_t *v, const char *path, struct error *err)
{
	struct route_ctx c = {0};
	int r = decode_struct(v, path, route_fields, ELEMENTSOF(route_fields), &c, err);
	if (r < 0)
		return r;
	if (!c.have_dst)
		return error_set(err, ERR_DECODE, -EINVAL, "%s: missing \"dst\"", path);
	*(struct cni_route *)elem = c.route;
	return 0;
}

static int decode_routes(const json_t *v, const char *path, struct cni_route **routes,
			 size_t *n_routes, struct error *err)
{
	return decode_array(v, path, sizeof(struct cni_route), decode_route, NULL, (void **)routes,
			    n_routes, err);
}

/* ---- Interface (types/040 and types/100) ----------------------------------------------- */

static int intf_name(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_string(v, p, &((struct cni_interface *)t)->name, err);
}

static int intf_mac(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_string(v, p, &((struct cni_interface *)t)->mac, err);
}

static int intf_sandbox(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_string(v, p, &((struct cni_interface *)t)->sandbox, err);
}

static int intf_mtu(void *t, const json_t *v, const char *p, struct error *err)
{
	if (json_is_null(v))
		return 0;
	return decode_int(v, p, &((struct cni_interface *)t)->mtu, err);
}

static int intf_socket_path(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_string(v, p, &((struct cni_interface *)t)->socket_path, err);
}

static int intf_pci_id(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_string(v, p, &((struct cni_interface *)t)->pci_id, err);
}

static const struct field interface040_fields[] = {
	{"name", intf_name},
	{"mac", intf_mac},
	{"sandbox", intf_sandbox},
};

static const struct field interface100_fields[] = {
	{"name", intf_name},
	{"mac", intf_mac},
	{"mtu", intf_mtu},
	{"sandbox", intf_sandbox},
	{"socketPath", intf_socket_path},
	{"pciID", intf_pci_id},
};

static void clear_interface(void *elem)
{
	interface_clear(elem);
}

static int finish_interface(struct cni_interface *i, struct error *err)
{
	if (!i->name) {
		i->name = strdup("");
		if (!i->name)
			return oom(err);
	}
	return 0;
}

static int decode_interface040(void *elem, const json_t *v, const char *path, struct error *err)
{
	int r = decode_struct(v, path, interface040_fields, ELEMENTSOF(interface040_fields), elem,
			      err);
	return r < 0 ? r : finish_interface(elem, err);
}

static int decode_interface100(void *elem, const json_t *v, const char *path, struct error *err)
{
	int r = decode_struct(v, path, interface100_fields, ELEMENTSOF(interface100_fields), elem,
			      err);
	return r < 0 ? r : finish_interface(elem, err);
}

/* ---- IPConfig (types/040 and types/100) ------------------------------------------------- */

struct ip_ctx {
	struct cni_ip_config ip;
	bool have_address;
};

static int ip_version(void *t, const json_t *v, const char *p, struct error *err)
{
	/*
	 * types/040 keeps the string but every converter recomputes it from
	 * the address, so only its type matters.
	 */
	if (json_is_null(v) || json_is_string(v))
		return 0;
	return type_error(err, p, "string", v);
}

static int ip_interface(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_ip_config *ip = &((struct ip_ctx *)t)->ip;
	if (json_is_null(v)) {
		ip->has_interface = false;
		ip->interface = 0;
		return 0;
	}
	int r = decode_int(v, p, &ip->interface, err);
	if (r < 0)
		return r;
	ip->has_interface = true;
	return 0;
}

static int ip_address(void *t, const json_t *v, const char *p, struct error *err)
{
	struct ip_ctx *c = t;
	return decode_cidr(v, p, &c->ip.address, &c->have_address, err);
}

static int ip_gateway(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_ip(v, p, &((struct ip_ctx *)t)->ip.gateway, err);
}

static const struct field ip040_fields[] = {
	{"version", ip_version},
	{"interface", ip_interface},
	{"address", ip_address},
	{"gateway", ip_gateway},
};

static const struct field ip100_fields[] = {
	{"interface", ip_interface},
	{"address", ip_address},
	{"gateway", ip_gateway},
};

static int finish_ip(void *elem, const struct ip_ctx *c, const char *path, struct error *err)
{
	if (!c->have_address)
		return error_set(err, ERR_DECODE, -EINVAL, "%s: missing \"address\"", path);
	*(struct cni_ip_config *)elem = c->ip;
	return 0;
}

static int decode_ip040(void *elem, const json_t *v, const char *path, struct error *err)
{
	struct ip_ctx c = {0};
	int r = decode_struct(v, path, ip040_fields, ELEMENTSOF(ip040_fields), &c, err);
	return r < 0 ? r : finish_ip(elem, &c, path, err);
}

static int decode_ip100(void *elem, const json_t *v, const char *path, struct error *err)
{
	struct ip_ctx c = {0};
	int r = decode_struct(v, path, ip100_fields, ELEMENTSOF(ip100_fields), &c, err);
	return r < 0 ? r : finish_ip(elem, &c, path, err);
}

/* ---- Result (types/040 and types/100) --------------------------------------------------- */

static int res_cni_version(void *t, const json_t *v, const char *p, struct error *err)
{
	/* Checked before the struct is decoded, see check_result_version(). */
	return 0;
}

static int res_interfaces040(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_result *r = t;
	return decode_array(v, p, sizeof(struct cni_interface), decode_interface040,
			    clear_interface, (void **)&r->interfaces, &r->n_interfaces, err);
}

static int res_interfaces100(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_result *r = t;
	return decode_array(v, p, sizeof(struct cni_interface), decode_interface100,
			    clear_interface, (void **)&r->interfaces, &r->n_interfaces, err);
}

static int res_ips040(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_result *r = t;
	return decode_array(v, p, sizeof(struct cni_ip_config), decode_ip040, NULL,
			    (void **)&r->ips, &r->n_ips, err);
}

static int res_ips100(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_result *r = t;
	return decode_array(v, p, sizeof(struct cni_ip_config), decode_ip100, NULL,
			    (void **)&r->ips, &r->n_ips, err);
}

static int res_routes(void *t, const json_t *v, const char *p, struct error *err)
{
	struct cni_result *r = t;
	return decode_routes(v, p, &r->routes, &r->n_routes, err);
}

static int res_dns(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_dns(v, p, &((struct cni_result *)t)->dns, err);
}

static const struct field result040_fields[] = {
	{"cniVersion", res_cni_version},
	{"interfaces", res_interfaces040},
	{"ips", res_ips040},
	{"routes", res_routes},
	{"dns", res_dns},
};

static const struct field result100_fields[] = {
	{"cniVersion", res_cni_version},
	{"interfaces", res_interfaces100},
	{"ips", res_ips100},
	{"routes", res_routes},
	{"dns", res_dns},
};

/* ---- Result (types/020) ----------------------------------------------------------------- */

struct ip020 {
	bool set;
	bool have_ip;
	struct cidr ip;
	struct cni_addr gateway;
	struct cni_route *routes;
	size_t n_routes;
};

struct result020 {
	struct ip020 ip4, ip6;
	struct cni_dns dns;
};

static int ip020_ip(void *t, const json_t *v, const char *p, struct error *err)
{
	struct ip020 *c = t;
	return decode_cidr(v, p, &c->ip, &c->have_ip, err);
}

static int ip020_gateway(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_ip(v, p, &((struct ip020 *)t)->gateway, err);
}

static int ip020_routes(void *t, const json_t *v, const char *p, struct error *err)
{
	struct ip020 *c = t;
	return decode_routes(v, p, &c->routes, &c->n_routes, err);
}

static const struct field ip020_fields[] = {
	{"ip", ip020_ip},
	{"gateway", ip020_gateway},
	{"routes", ip020_routes},
};

/* A Go *IPConfig: null resets it; a new object replaces the old one. */
static int decode_ip020(const json_t *v, const char *path, struct ip020 *slot, struct error *err)
{
	struct ip020 c = {0};
	int r;

	if (!json_is_null(v)) {
		r = decode_struct(v, path, ip020_fields, ELEMENTSOF(ip020_fields), &c, err);
		if (r >= 0 && !c.have_ip)
			r = error_set(err, ERR_DECODE, -EINVAL, "%s: missing \"ip\"", path);
		if (r < 0) {
			free(c.routes);
			return r;
		}
		c.set = true;
	}
	free(slot->routes);
	*slot = c;
	return 0;
}

static int res020_ip4(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_ip020(v, p, &((struct result020 *)t)->ip4, err);
}

static int res020_ip6(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_ip020(v, p, &((struct result020 *)t)->ip6, err);
}

static int res020_dns(void *t, const json_t *v, const char *p, struct error *err)
{
	return decode_dns(v, p, &((struct result020 *)t)->dns, err);
}

static const struct field result020_fields[] = {
	{"cniVersion", res_cni_version},
	{"ip4", res020_ip4},
	{"ip6", res020_ip6},
	{"dns", res020_dns},
};

/* types/040 convertFrom02x: ip4 then ip6, each with its routes. */
static int result_from_020(struct result020 *in, struct cni_result *out, struct error *err)
{
	const struct ip020 *slots[] = {&in->ip4, &in->ip6};
	size_t n_routes = in->ip4.n_routes + in->ip6.n_routes;

	out->ips = calloc(2, sizeof(*out->ips));
	if (!out->ips)
		return oom(err);
	if (n_routes > 0) {
		out->routes = calloc(n_routes, sizeof(*out->routes));
		if (!out->routes)
			return oom(err);
	}
	for (size_t i = 0; i < ELEMENTSOF(slots); i++) {
		if (!slots[i]->set)
			continue;
		out->ips[out->n_ips++] = (struct cni_ip_config){
			.address = slots[i]->ip,
			.gateway = slots[i]->gateway,
		};
		for (size_t j = 0; j < slots[i]->n_routes; j++)
			/* routes is NULL only when both slots have none */
			// NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
			out->routes[out->n_routes++] = slots[i]->routes[j];
	}
	out->dns = in->dns;
	in->dns = (struct cni_dns){0};
	return 0;
}

/* ---- top level -------------------------------------------------------------------------- */

static bool version_in_family(const char *s, enum cni_result_family family)
{
	enum cni_version v;

	/* types/020 also takes a result that names no version. */
	if (family == CNI_RESULT_020 && *s == '\0')
		return true;
	return cni_version_parse(s, &v) >= 0 && cni_version_result_family(v) == family;
}

/*
 * libcni's ParsePrevResult sets the map key "CNIVersion" to the conf's version
 * when that key is missing or "", re-marshals (keys sorted) and lets the
 * result type decode cniVersion case-insensitively: the last non-null string
 * among the keys that fold to "cniversion" wins, and it must be one the conf
 * version's result type supports.
 */
static int check_result_version(const json_t *prev, enum cni_version conf_version,
				struct error *err)
{
	const char *conf_s = cni_version_to_string(conf_version);
	const char *best_key = NULL, *best_val = NULL;
	const char *key;
	json_t *v;
	bool have_exact = false;

	json_object_foreach ((json_t *)(uintptr_t)prev, key, v) {
		const char *val;

		if (strcasecmp(key, "cniVersion") != 0)
			continue;
		if (strcmp(key, "CNIVersion") == 0) {
			have_exact = true;
			if (json_is_string(v) && json_string_length(v) == 0)
				v = NULL; /* replaced by the conf's version */
		}
		if (!v) {
			val = conf_s;
		} else if (json_is_null(v)) {
			continue;
		} else if (!json_is_string(v)) {
			char p[PATH_LEN];
			(void)snprintf(p, sizeof(p), "prevResult.%s", key);
			return type_error(err, p, "string", v);
		} else {
			val = json_string_value(v);
		}
		if (!best_key || strcmp(key, best_key) > 0) {
			best_key = key;
			best_val = val;
		}
	}
	if (!have_exact && (!best_key || strcmp("CNIVersion", best_key) > 0))
		best_val = conf_s;

	if (!best_val)
		best_val = ""; /* every key was null: the field stays "" */
	if (!version_in_family(best_val, cni_version_result_family(conf_version)))
		return error_set(err, ERR_DECODE, -EINVAL,
				 "prevResult.cniVersion: \"%.32s\" is not a result version a "
				 "%s conf can carry",
				 best_val, conf_s);
	return 0;
}

int cni_result_from_json(const json_t *prev, enum cni_version prev_version, struct cni_result **ret,
			 struct error *err)
{
	_cleanup_cni_result_ struct cni_result *res = NULL;
	int r;

	if ((unsigned int)prev_version >= _CNI_VERSION_MAX)
		return error_set(err, ERR_INTERNAL, -EINVAL, "invalid CNI version %d",
				 (int)prev_version);
	if (!prev || !json_is_object(prev))
		return prev ? type_error(err, "prevResult", "object", prev)
			    : error_set(err, ERR_DECODE, -EINVAL, "prevResult: missing");

	r = check_result_version(prev, prev_version, err);
	if (r < 0)
		return r;
	r = cni_result_new(&res);
	if (r < 0)
		return oom(err);

	switch (cni_version_result_family(prev_version)) {
	case CNI_RESULT_020: {
		struct result020 in = {0};

		r = decode_struct(prev, "prevResult", result020_fields,
				  ELEMENTSOF(result020_fields), &in, err);
		if (r >= 0)
			r = result_from_020(&in, res, err);
		free(in.ip4.routes);
		free(in.ip6.routes);
		dns_clear(&in.dns);
		break;
	}
	case CNI_RESULT_040:
		r = decode_struct(prev, "prevResult", result040_fields,
				  ELEMENTSOF(result040_fields), res, err);
		break;
	case CNI_RESULT_100:
		r = decode_struct(prev, "prevResult", result100_fields,
				  ELEMENTSOF(result100_fields), res, err);
		break;
	}
	if (r < 0)
		return r;
	*ret = TAKE_PTR(res);
	return 0;
}

/* ---- encoding --------------------------------------------------------------------------- */

/* Go's net.IP.To4() != nil: IPv4, or IPv4-mapped IPv6. */
static bool bytes_is_v4(int family, const uint8_t *b)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return family == AF_INET || memcmp(b, mapped, sizeof(mapped)) == 0;
}

/* The i-th 16-bit group of an IPv6 address. */
static unsigned int group16(const uint8_t *b, size_t i)
{
	return (unsigned int)b[2 * i] << 8 | b[2 * i + 1];
}

/*
 * Go's net.IP.String() for an IPv6 address: lowercase hex groups, the longest
 * run of two or more zero groups (the first on a tie) as "::", never a dotted
 * quad (glibc's inet_ntop writes "::0.2.0.3" where Go writes "::2:3").
 * IPv4-mapped addresses keep the "::ffff:a.b.c.d" form, which Go would print
 * as a bare IPv4 address; ours stays a valid IPv6 literal for a /120 prefix.
 */
static void format_addr(int family, const uint8_t *b, char *buf, size_t len)
{
	if (family == AF_INET || bytes_is_v4(family, b)) {
		if (!inet_ntop(family, b, buf, (socklen_t)len))
			buf[0] = '\0';
		return;
	}

	int best = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		int j = i;
		while (j < 8 && group16(b, (size_t)j) == 0)
			j++;
		if (j - i > best_len && j - i >= 2) {
			best = i;
			best_len = j - i;
		}
		i = j > i ? j : i + 1;
	}

	size_t o = 0;
	for (int i = 0; i < 8 && o < len; i++) {
		if (i == best) {
			o += (size_t)snprintf(buf + o, len - o, "::");
			i += best_len - 1;
			continue;
		}
		unsigned int g = group16(b, (size_t)i);
		o += (size_t)snprintf(buf + o, len - o, "%s%x",
				      i > 0 && i != best + best_len ? ":" : "", g);
	}
}

static json_t *addr_json(const struct cni_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	format_addr(a->family, a->addr.bytes, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *cidr_json(const struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], out[INET6_ADDRSTRLEN + 16];
	format_addr(c->family, c->addr.bytes, buf, sizeof(buf));
	(void)snprintf(out, sizeof(out), "%s/%u", buf, c->prefix);
	return json_string(out);
}

/* Reference-stealing setters that remember the first failure. */
struct builder {
	bool failed;
};

static void set_new(struct builder *b, json_t *obj, const char *key, json_t *v)
{
	if (!v || !obj || json_object_set_new(obj, key, v) < 0)
		b->failed = true;
}

static void append_new(struct builder *b, json_t *arr, json_t *v)
{
	if (!v || !arr || json_array_append_new(arr, v) < 0)
		b->failed = true;
}

static void set_str(struct builder *b, json_t *obj, const char *key, const char *s)
{
	/* Go's omitempty: "" is left out. */
	if (s && *s)
		set_new(b, obj, key, json_string(s));
}

static void set_int(struct builder *b, json_t *obj, const char *key, int64_t v)
{
	if (v != 0)
		set_new(b, obj, key, json_integer((json_int_t)v));
}

static void set_strv(struct builder *b, json_t *obj, const char *key, char *const *v, size_t n)
{
	if (n == 0)
		return;
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		append_new(b, arr, json_string(v[i]));
	set_new(b, obj, key, arr);
}

static bool dns_empty(const struct cni_dns *d)
{
	return d->n_nameservers == 0 && (!d->domain || !*d->domain) && d->n_search == 0 &&
	       d->n_options == 0;
}

static json_t *dns_json(struct builder *b, const struct cni_dns *d)
{
	json_t *o = json_object();
	set_strv(b, o, "nameservers", d->nameservers, d->n_nameservers);
	set_str(b, o, "domain", d->domain);
	set_strv(b, o, "search", d->search, d->n_search);
	set_strv(b, o, "options", d->options, d->n_options);
	return o;
}

/* The fields spec 1.1.0 added travel only in 1.1.0 results. */
static bool has_v11_fields(enum cni_version v)
{
	return v >= CNI_VERSION_1_1_0;
}

static json_t *route_json(struct builder *b, const struct cni_route *rt, bool v11)
{
	json_t *o = json_object();
	set_new(b, o, "dst", cidr_json(&rt->dst));
	if (rt->gw.family)
		set_new(b, o, "gw", addr_json(&rt->gw));
	if (v11) {
		set_int(b, o, "mtu", rt->mtu);
		set_int(b, o, "advmss", rt->advmss);
		set_int(b, o, "priority", rt->priority);
		if (rt->has_table)
			set_new(b, o, "table", json_integer((json_int_t)rt->table));
		if (rt->has_scope)
			set_new(b, o, "scope", json_integer((json_int_t)rt->scope));
	}
	return o;
}

static json_t *result_json_020(struct builder *b, const struct cni_result *r, enum cni_version v)
{
	const struct cni_ip_config *ip4 = NULL, *ip6 = NULL;
	json_t *o = json_object(), *slot4 = NULL, *slot6 = NULL;

	/* types/040 convertTo02x: the first address of each family... */
	for (size_t i = 0; i < r->n_ips && !(ip4 && ip6); i++) {
		const struct cni_ip_config *ip = &r->ips[i];
		bool is4 = bytes_is_v4(ip->address.family, ip->address.addr.bytes);
		if (is4 && !ip4)
			ip4 = ip;
		else if (!is4 && !ip6)
			ip6 = ip;
	}

	set_new(b, o, "cniVersion", json_string(cni_version_to_string(v)));
	for (int fam = 0; fam < 2; fam++) {
		const struct cni_ip_config *ip = fam == 0 ? ip4 : ip6;
		if (!ip)
			continue;
		json_t *s = json_object(), *routes = json_array();
		set_new(b, s, "ip", cidr_json(&ip->address));
		if (ip->gateway.family)
			set_new(b, s, "gateway", addr_json(&ip->gateway));
		/* ...and the routes whose destination has that family. */
		for (size_t i = 0; i < r->n_routes; i++) {
			const struct cni_route *rt = &r->routes[i];
			if (bytes_is_v4(rt->dst.family, rt->dst.addr.bytes) == (fam == 0))
				append_new(b, routes, route_json(b, rt, false));
		}
		if (json_array_size(routes) > 0)
			set_new(b, s, "routes", routes);
		else
			json_decref(routes);
		if (fam == 0)
			slot4 = s;
		else
			slot6 = s;
	}
	if (slot4)
		set_new(b, o, "ip4", slot4);
	if (slot6)
		set_new(b, o, "ip6", slot6);
	set_new(b, o, "dns", dns_json(b, &r->dns));
	return o;
}

static json_t *result_json(struct builder *b, const struct cni_result *r, enum cni_version v)
{
	bool is040 = cni_version_result_family(v) == CNI_RESULT_040;
	bool v11 = has_v11_fields(v);
	json_t *o = json_object();

	set_new(b, o, "cniVersion", json_string(cni_version_to_string(v)));
	if (r->n_interfaces > 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < r->n_interfaces; i++) {
			const struct cni_interface *in = &r->interfaces[i];
			json_t *io = json_object();
			set_new(b, io, "name", json_string(in->name ? in->name : ""));
			set_str(b, io, "mac", in->mac);
			if (v11)
				set_int(b, io, "mtu", in->mtu);
			set_str(b, io, "sandbox", in->sandbox);
			if (v11) {
				set_str(b, io, "socketPath", in->socket_path);
				set_str(b, io, "pciID", in->pci_id);
			}
			append_new(b, arr, io);
		}
		set_new(b, o, "interfaces", arr);
	}
	if (r->n_ips > 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < r->n_ips; i++) {
			const struct cni_ip_config *ip = &r->ips[i];
			json_t *io = json_object();
			if (is040)
				set_new(b, io, "version",
					json_string(bytes_is_v4(ip->address.family,
								ip->address.addr.bytes)
							    ? "4"
							    : "6"));
			if (ip->has_interface)
				set_new(b, io, "interface",
					json_integer((json_int_t)ip->interface));
			set_new(b, io, "address", cidr_json(&ip->address));
			if (ip->gateway.family)
				set_new(b, io, "gateway", addr_json(&ip->gateway));
			append_new(b, arr, io);
		}
		set_new(b, o, "ips", arr);
	}
	if (r->n_routes > 0) {
		json_t *arr = json_array();
		for (size_t i = 0; i < r->n_routes; i++)
			append_new(b, arr, route_json(b, &r->routes[i], v11));
		set_new(b, o, "routes", arr);
	}
	/*
	 * types/040 always prints "dns" (a struct field); types/100 drops it
	 * when empty (libcni >= 1.2 Result.MarshalJSON).
	 */
	if (is040 || !dns_empty(&r->dns))
		set_new(b, o, "dns", dns_json(b, &r->dns));
	return o;
}

int cni_result_to_json(const struct cni_result *r, enum cni_version v, json_t **ret,
		       struct error *err)
{
	struct builder b = {0};
	json_t *o;

	if (!r || (unsigned int)v >= _CNI_VERSION_MAX)
		return error_set(err, ERR_INTERNAL, -EINVAL, "invalid result or CNI version");

	if (cni_version_result_family(v) == CNI_RESULT_020) {
		if (r->n_ips == 0)
			return error_set(err, ERR_VERSION, -EOPNOTSUPP,
					 "cannot convert result to CNI version %s: a %s result "
					 "needs an IP address and there is none",
					 cni_version_to_string(v), cni_version_to_string(v));
		o = result_json_020(&b, r, v);
	} else {
		o = result_json(&b, r, v);
	}
	if (!o || b.failed) {
		json_decref(o);
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory encoding result");
	}
	*ret = o;
	return 0;
}

/*
 * Go's encoder escapes <, >, & and U+2028/U+2029 inside strings and writes
 * \u escapes in lowercase hex; jansson does neither. These characters can only
 * occur inside strings, so a byte-wise rewrite is safe.
 */
static bool is_line_sep(const char *p)
{
	return (unsigned char)p[0] == 0xe2 && (unsigned char)p[1] == 0x80 &&
	       ((unsigned char)p[2] == 0xa8 || (unsigned char)p[2] == 0xa9);
}

static char *go_escape(const char *s)
{
	size_t n = 0;

	for (const char *p = s; *p; p++) {
		if (*p == '<' || *p == '>' || *p == '&')
			n += 5;
		else if (is_line_sep(p))
			n += 3;
		n++;
	}
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = s; *p;) {
		if (*p == '<' || *p == '>' || *p == '&') {
			(void)snprintf(o, 7, "\\u%04x", (unsigned char)*p);
			o += 6;
			p++;
		} else if (is_line_sep(p)) {
			(void)snprintf(o, 7, "\\u%04x",
				       (unsigned char)p[2] == 0xa8 ? 0x2028 : 0x2029);
			o += 6;
			p += 3;
		} else if (p[0] == '\\' && p[1] == 'u') {
			/* jansson always writes four hex digits after \u. */
			*o++ = *p++;
			*o++ = *p++;
			for (int i = 0; i < 4 && *p; i++, p++)
				*o++ = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
		} else if (p[0] == '\\' && p[1]) {
			*o++ = *p++;
			*o++ = *p++;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	return out;
}

/* Prints o (consumed) as libcni prints a result of version v. */
static int print_json(json_t *o, enum cni_version v, FILE *out)
{
	_cleanup_free_ char *raw = NULL, *text = NULL;
	size_t flags = JSON_INDENT(4) | JSON_PRESERVE_ORDER;

	/* types/100's MarshalJSON goes through a Go map: keys sorted, at every level. */
	if (cni_version_result_family(v) == CNI_RESULT_100)
		flags |= JSON_SORT_KEYS;
	raw = json_dumps(o, flags);
	json_decref(o);
	if (!raw)
		return -ENOMEM;
	text = go_escape(raw);
	if (!text)
		return -ENOMEM;

	errno = 0;
	if (fputs(text, out) == EOF || fputc('\n', out) == EOF || fflush(out) == EOF || ferror(out))
		return errno > 0 ? -errno : -EIO;
	return 0;
}

int cni_result_print(const struct cni_result *r, enum cni_version v, FILE *out)
{
	json_t *o = NULL;
	int k = cni_result_to_json(r, v, &o, NULL);
	if (k < 0)
		return k;
	return print_json(o, v, out);
}

int cni_result_print_empty(enum cni_version v, FILE *out)
{
	_cleanup_cni_result_ struct cni_result *r = NULL;
	int k = cni_result_new(&r);
	if (k < 0)
		return k;
	if (cni_version_result_family(v) != CNI_RESULT_020)
		return cni_result_print(r, v, out);

	/*
	 * libcni refuses to convert an address-less result to 0.1.0/0.2.0, but a
	 * plugin run without prevResult (Multus standalone) must still answer
	 * with a result in the conf's version: cniVersion and dns.
	 */
	if ((unsigned int)v >= _CNI_VERSION_MAX)
		return -EINVAL;
	struct builder b = {0};
	json_t *o = result_json_020(&b, r, v);
	if (!o || b.failed) {
		json_decref(o);
		return -ENOMEM;
	}
	return print_json(o, v, out);
}
