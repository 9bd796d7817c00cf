// SPDX-License-Identifier: Apache-2.0
#include "kube/kubeconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#include "util/base64.h"
#include "util/file_util.h"
#include "util/parse_util.h"

/* Limits of the pre-pass: generous for any real kubeconfig, tiny for a bomb. */
#define MAX_DEPTH 32
#define MAX_ANCHORS 64
#define MAX_ALIASES 1024
#define MAX_EVENTS 200000

void kubeconfig_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void wipe_free(uint8_t *p, size_t len)
{
	if (!p)
		return;
	/* The decoders put a NUL after the data. */
	explicit_bzero(p, len + 1);
	free(p);
}

void kubeconfig_free(struct kubeconfig *k)
{
	if (!k)
		return;
	free(k->context_name);
	free(k->cluster_name);
	free(k->user_name);
	free(k->server);
	free(k->ca_file);
	free(k->ca_data);
	kubeconfig_secret_free(k->token);
	free(k->token_file);
	free(k->client_cert_file);
	free(k->client_cert_data);
	free(k->client_key_file);
	wipe_free(k->client_key_data, k->client_key_data_len);
	explicit_bzero(k, sizeof(*k));
	free(k);
}

int kubeconfig_read_secret(const char *path, size_t cap, char **ret, size_t *ret_len)
{
	if (!path || !ret)
		return -EINVAL;

	_cleanup_close_ int fd = -1;
	int r0 = file_open_regular(path, &fd);
	if (r0 < 0)
		return r0;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 0 || (uint64_t)st.st_size > cap)
		return -EFBIG;

	/* One byte more than the size, to notice a file that grew meanwhile. */
	size_t size = (size_t)st.st_size + 2;
	char *buf = malloc(size);
	if (!buf)
		return -ENOMEM;
	size_t len = 0;
	int r = 0;
	for (;;) {
		if (len + 1 >= size) {
			r = -EFBIG;
			break;
		}
		ssize_t k = read(fd, buf + len, size - len - 1);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (k == 0)
			break;
		len += (size_t)k;
	}
	if (r == 0 && len > cap)
		r = -EFBIG;
	if (r < 0) {
		explicit_bzero(buf, size);
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

/* Copies s for an error message: at most 64 printable ASCII bytes. */
static const char *printable(const char *s, char *buf, size_t size)
{
	size_t o = 0;
	for (; s && *s && o + 1 < size && o < 64; s++)
		buf[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	buf[o] = '\0';
	return buf;
}

static int yaml_error(const yaml_parser_t *p, struct error *err)
{
	const char *what = p->problem ? p->problem : "malformed YAML";
	if (p->context)
		return error_set(err, ERR_DECODE, -EINVAL, "YAML line %zu column %zu: %s %s",
				 p->problem_mark.line + 1, p->problem_mark.column + 1, p->context,
				 what);
	return error_set(err, ERR_DECODE, -EINVAL, "YAML line %zu column %zu: %s",
			 p->problem_mark.line + 1, p->problem_mark.column + 1, what);
}

/* Clears the first max bytes of a libyaml buffer, at most its size. */
static void buffer_wipe(unsigned char *start, const unsigned char *end, size_t max)
{
	if (!start || end <= start)
		return;
	size_t size = (size_t)(end - start);
	explicit_bzero(start, size < max ? size : max);
}

/*
 * libyaml frees its buffers without clearing them, and they held the whole
 * file including the token. The struct is public API, so clear what we can
 * reach before it goes; scanner temporaries are beyond reach (best effort).
 *
 * Only the part an input of input_len bytes can have reached: the raw
 * buffer takes the input as it is, the decoded one its UTF-8 (at most 1.5
 * times a UTF-16 input) and a final NUL. The buffers are 64 KB, of which a
 * kubeconfig fills a few KB: clearing all of them cost 128 KB of writes per
 * load (prescan and parse), on every plugin run that asks the API server.
 */
static void parser_wipe_delete(yaml_parser_t *p, size_t input_len)
{
	size_t decoded = input_len < SIZE_MAX / 2 - 1 ? input_len * 2 + 1 : SIZE_MAX;
	buffer_wipe(p->raw_buffer.start, p->raw_buffer.end, input_len);
	buffer_wipe(p->buffer.start, p->buffer.end, decoded);
	yaml_parser_delete(p);
}

static void event_wipe_delete(yaml_event_t *e)
{
	if (e->type == YAML_SCALAR_EVENT && e->data.scalar.value)
		explicit_bzero(e->data.scalar.value, e->data.scalar.length);
	yaml_event_delete(e);
}

static void document_wipe_delete(yaml_document_t *d)
{
	for (yaml_node_t *n = d->nodes.start; n && n < d->nodes.top; n++)
		if (n->type == YAML_SCALAR_NODE && n->data.scalar.value)
			explicit_bzero(n->data.scalar.value, n->data.scalar.length);
	yaml_document_delete(d);
}

/*
 * Walks the event stream once and refuses inputs whose shape could make the
 * loader (or a later walk) expensive: deep nesting, many anchors (libyaml
 * looks anchors up linearly), many aliases, or a huge number of nodes.
 */
static int prescan(const char *buf, size_t len, struct error *err)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return error_set(err, ERR_INTERNAL, -ENOMEM, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);

	unsigned depth = 0, anchors = 0, aliases = 0, events = 0;
	int r = 0;
	for (;;) {
		yaml_event_t e;
		if (!yaml_parser_parse(&p, &e)) {
			r = yaml_error(&p, err);
			break;
		}
		yaml_event_type_t type = e.type;
		const yaml_char_t *anchor = NULL;
		switch (type) {
		case YAML_SEQUENCE_START_EVENT:
			anchor = e.data.sequence_start.anchor;
			depth++;
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = e.data.mapping_start.anchor;
			depth++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			anchor = e.data.scalar.anchor;
			break;
		case YAML_ALIAS_EVENT:
			aliases++;
			break;
		default:
			break;
		}
		if (anchor)
			anchors++;
		event_wipe_delete(&e);

		if (depth > MAX_DEPTH) {
			r = error_set(err, ERR_DECODE, -EINVAL, "YAML nested deeper than %d levels",
				      MAX_DEPTH);
			break;
		}
		if (anchors > MAX_ANCHORS || aliases > MAX_ALIASES) {
			r = error_set(err, ERR_DECODE, -EINVAL,
				      "YAML uses more than %d anchors or %d aliases", MAX_ANCHORS,
				      MAX_ALIASES);
			break;
		}
		if (++events > MAX_EVENTS) {
			r = error_set(err, ERR_DECODE, -EINVAL, "YAML has more than %d nodes",
				      MAX_EVENTS);
			break;
		}
		if (type == YAML_STREAM_END_EVENT)
			break;
	}
	parser_wipe_delete(&p, len);
	return r;
}

/* YAML's null spellings for a plain scalar ("key:" alone is one). */
static bool plain_null(const yaml_node_t *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	for (size_t i = 0; i < ELEMENTSOF(nulls); i++)
		if (n->data.scalar.length == strlen(nulls[i]) &&
		    memcmp(n->data.scalar.value, nulls[i], n->data.scalar.length) == 0)
			return true;
	return false;
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/*
 * The value of key in mapping map: 0 with *ret set, 0 with *ret NULL when the
 * key is absent or null, -EINVAL (ERR_CONFIG) when it appears twice.
 */
static int map_get(yaml_document_t *d, yaml_node_t *map, const char *where, const char *key,
		   yaml_node_t **ret, struct error *err)
{
	yaml_node_t *found = NULL;
	bool seen = false;
	*ret = NULL; /* on every path, errors included */
	if (!map)
		return 0;
	for (yaml_node_pair_t *pair = map->data.mapping.pairs.start;
	     pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(d, pair->key);
		if (!scalar_is(k, key))
			continue;
		if (seen)
			return error_set(err, ERR_CONFIG, -EINVAL, "%s: key \"%s\" appears twice",
					 where, key);
		seen = true;
		found = yaml_document_get_node(d, pair->value);
	}
	if (found && found->type == YAML_SCALAR_NODE && plain_null(found))
		found = NULL;
	*ret = found;
	return 0;
}

static int node_string(const yaml_node_t *n, const char *where, const char *key, char **ret,
		       struct error *err)
{
	if (n->type != YAML_SCALAR_NODE)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s.%s is not a string", where, key);
	size_t len = n->data.scalar.length;
	if (memchr(n->data.scalar.value, '\0', len))
		return error_set(err, ERR_CONFIG, -EINVAL, "%s.%s contains a NUL byte", where, key);
	char *s = strndup((const char *)n->data.scalar.value, len);
	if (!s)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	*ret = s;
	return 0;
}

/* The scalar under key as a string; *ret NULL when absent or null. */
static int get_scalar(yaml_document_t *d, yaml_node_t *map, const char *where, const char *key,
		      char **ret, struct error *err)
{
	yaml_node_t *n;
	int r = map_get(d, map, where, key, &n, err);
	if (r < 0)
		return r;
	*ret = NULL;
	return n ? node_string(n, where, key, ret, err) : 0;
}

/* A string value; *ret NULL when absent, null or empty. */
static int get_string(yaml_document_t *d, yaml_node_t *map, const char *where, const char *key,
		      char **ret, struct error *err)
{
	char *s = NULL;
	int r = get_scalar(d, map, where, key, &s, err);
	if (r < 0)
		return r;
	if (s && s[0] == '\0') {
		free(s);
		s = NULL;
	}
	*ret = s;
	return 0;
}

static int get_bool(yaml_document_t *d, yaml_node_t *map, const char *where, const char *key,
		    bool *ret, struct error *err)
{
	_cleanup_free_ char *s = NULL;
	*ret = false;
	int r = get_scalar(d, map, where, key, &s, err);
	if (r < 0)
		return r;
	if (!s)
		return 0;
	static const char *const yes[] = {"true", "True", "TRUE"};
	static const char *const no[] = {"false", "False", "FALSE"};
	for (size_t i = 0; i < ELEMENTSOF(yes); i++) {
		if (strcmp(s, yes[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, no[i]) == 0)
			return 0;
	}
	return error_set(err, ERR_CONFIG, -EINVAL, "%s.%s must be true or false", where, key);
}

static int get_mapping(yaml_document_t *d, yaml_node_t *map, const char *where, const char *key,
		       yaml_node_t **ret, struct error *err)
{
	yaml_node_t *n;
	int r = map_get(d, map, where, key, &n, err);
	if (r < 0)
		return r;
	if (!n)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s has no \"%s\"", where, key);
	if (n->type != YAML_MAPPING_NODE)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s.%s is not a mapping", where, key);
	*ret = n;
	return 0;
}

/*
 * In the sequence root[list] ("clusters", "contexts", "users"), the entry
 * whose name is name; returns its `field` mapping ("cluster", ...).
 */
static int find_named(yaml_document_t *d, yaml_node_t *root, const char *list, const char *field,
		      const char *name, yaml_node_t **ret, struct error *err)
{
	char pb[80];
	yaml_node_t *seq;
	*ret = NULL; /* on every path, errors included */
	int r = map_get(d, root, "kubeconfig", list, &seq, err);
	if (r < 0)
		return r;
	if (seq && seq->type != YAML_SEQUENCE_NODE)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s is not a list", list);

	yaml_node_t *found = NULL;
	for (yaml_node_item_t *it = seq ? seq->data.sequence.items.start : NULL;
	     seq && it < seq->data.sequence.items.top; it++) {
		yaml_node_t *entry = yaml_document_get_node(d, *it);
		if (!entry || entry->type != YAML_MAPPING_NODE)
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "an entry of %s is not a mapping", list);
		yaml_node_t *n;
		r = map_get(d, entry, list, "name", &n, err);
		if (r < 0)
			return r;
		if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.length != strlen(name) ||
		    memcmp(n->data.scalar.value, name, n->data.scalar.length) != 0)
			continue;
		if (found)
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "%s has two entries named \"%s\"", list,
					 printable(name, pb, sizeof(pb)));
		found = entry;
	}
	if (!found)
		return error_set(err, ERR_CONFIG, -ENOENT, "no entry \"%s\" in %s",
				 printable(name, pb, sizeof(pb)), list);

	char where[128];
	(void)snprintf(where, sizeof(where), "%s[%s]", list, printable(name, pb, sizeof(pb)));
	return get_mapping(d, found, where, field, ret, err);
}

static int resolve_path(const char *base_dir, char **path, struct error *err)
{
	if (!*path || (*path)[0] == '/' || !base_dir)
		return 0;
	char *abs;
	if (asprintf(&abs, "%s/%s", base_dir, *path) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	free(*path);
	*path = abs;
	return 0;
}

static int decode_data(char **b64, const char *where, uint8_t **ret, size_t *ret_len, bool secret,
		       struct error *err)
{
	if (!*b64)
		return 0;
	int r = base64_decode(*b64, strlen(*b64), ret, ret_len);
	if (secret)
		kubeconfig_secret_free(*b64);
	else
		free(*b64);
	*b64 = NULL;
	if (r == -ENOMEM)
		return error_set(err, ERR_INTERNAL, r, "out of memory");
	if (r < 0)
		return error_set(err, ERR_CONFIG, r, "%s is not valid base64", where);
	if (*ret_len == 0) {
		free(*ret);
		*ret = NULL;
		return error_set(err, ERR_CONFIG, -EINVAL, "%s is empty", where);
	}
	return 0;
}

/* Accepts "http(s)://host[:port][/prefix]", strips trailing slashes. */
static int check_server(char *server, struct error *err)
{
	const char *rest;
	if (strncmp(server, "https://", 8) == 0)
		rest = server + 8;
	else if (strncmp(server, "http://", 7) == 0)
		rest = server + 7;
	else
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "cluster.server must start with https:// or http://");
	if (rest[0] == '\0' || rest[0] == '/')
		return error_set(err, ERR_CONFIG, -EINVAL, "cluster.server has no host");
	for (const char *c = server; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			return error_set(
				err, ERR_CONFIG, -EINVAL,
				"cluster.server contains whitespace or control characters");
	size_t len = strlen(server);
	while (len > (size_t)(rest - server) && server[len - 1] == '/')
		server[--len] = '\0';
	return 0;
}

static int parse_cluster(yaml_document_t *d, yaml_node_t *m, const char *base_dir,
			 struct kubeconfig *k, struct error *err)
{
	const char *w = "cluster";
	_cleanup_free_ char *ca_b64 = NULL;
	int r;

	if ((r = get_string(d, m, w, "server", &k->server, err)) < 0 ||
	    (r = get_string(d, m, w, "certificate-authority", &k->ca_file, err)) < 0 ||
	    (r = get_string(d, m, w, "certificate-authority-data", &ca_b64, err)) < 0 ||
	    (r = get_bool(d, m, w, "insecure-skip-tls-verify", &k->insecure_skip_tls_verify, err)) <
		    0)
		return r;
	if (!k->server)
		return error_set(err, ERR_CONFIG, -EINVAL, "cluster has no server");
	if ((r = check_server(k->server, err)) < 0)
		return r;
	if ((r = decode_data(&ca_b64, "cluster.certificate-authority-data", &k->ca_data,
			     &k->ca_data_len, false, err)) < 0)
		return r;
	/* As kubectl: the inline data overrides the file. */
	if (k->ca_data) {
		free(k->ca_file);
		k->ca_file = NULL;
	}
	if (k->insecure_skip_tls_verify && (k->ca_data || k->ca_file))
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "cluster sets insecure-skip-tls-verify together with a "
				 "certificate-authority");
	return resolve_path(base_dir, &k->ca_file, err);
}

static int parse_user(yaml_document_t *d, yaml_node_t *m, const char *base_dir,
		      struct kubeconfig *k, struct error *err)
{
	const char *w = "user";
	_cleanup_free_ char *cert_b64 = NULL;
	_cleanup_secret_ char *key_b64 = NULL;
	yaml_node_t *unsupported[2];
	int r;

	if ((r = get_string(d, m, w, "token", &k->token, err)) < 0 ||
	    (r = get_string(d, m, w, "tokenFile", &k->token_file, err)) < 0 ||
	    (r = get_string(d, m, w, "client-certificate", &k->client_cert_file, err)) < 0 ||
	    (r = get_string(d, m, w, "client-certificate-data", &cert_b64, err)) < 0 ||
	    (r = get_string(d, m, w, "client-key", &k->client_key_file, err)) < 0 ||
	    (r = get_string(d, m, w, "client-key-data", &key_b64, err)) < 0 ||
	    (r = map_get(d, m, w, "exec", &unsupported[0], err)) < 0 ||
	    (r = map_get(d, m, w, "auth-provider", &unsupported[1], err)) < 0)
		return r;

	if ((r = decode_data(&cert_b64, "user.client-certificate-data", &k->client_cert_data,
			     &k->client_cert_data_len, false, err)) < 0 ||
	    (r = decode_data(&key_b64, "user.client-key-data", &k->client_key_data,
			     &k->client_key_data_len, true, err)) < 0)
		return r;
	if (k->client_cert_data) {
		free(k->client_cert_file);
		k->client_cert_file = NULL;
	}
	if (k->client_key_data) {
		free(k->client_key_file);
		k->client_key_file = NULL;
	}
	if (k->token) {
		free(k->token_file);
		k->token_file = NULL;
	}

	bool has_cert = k->client_cert_data || k->client_cert_file;
	bool has_key = k->client_key_data || k->client_key_file;
	if (has_cert != has_key)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "user sets a client %s without a client %s",
				 has_cert ? "certificate" : "key",
				 has_cert ? "key" : "certificate");
	if (!k->token && !k->token_file && !has_cert && (unsupported[0] || unsupported[1]))
		return error_set(err, ERR_CONFIG, -EOPNOTSUPP,
				 "user.%s is not supported; give the user a token, tokenFile or "
				 "client certificate",
				 unsupported[0] ? "exec" : "auth-provider");

	if ((r = resolve_path(base_dir, &k->token_file, err)) < 0 ||
	    (r = resolve_path(base_dir, &k->client_cert_file, err)) < 0 ||
	    (r = resolve_path(base_dir, &k->client_key_file, err)) < 0)
		return r;
	return 0;
}

static int parse_document(yaml_document_t *d, const char *base_dir, struct kubeconfig *k,
			  struct error *err)
{
	char pb[80];
	yaml_node_t *root = yaml_document_get_root_node(d);
	if (!root)
		return error_set(err, ERR_CONFIG, -EINVAL, "kubeconfig is empty");
	if (root->type != YAML_MAPPING_NODE)
		return error_set(err, ERR_CONFIG, -EINVAL, "kubeconfig is not a YAML mapping");

	int r = get_string(d, root, "kubeconfig", "current-context", &k->context_name, err);
	if (r < 0)
		return r;
	if (!k->context_name)
		return error_set(err, ERR_CONFIG, -EINVAL, "current-context is not set");

	yaml_node_t *ctx, *cluster, *user;
	if ((r = find_named(d, root, "contexts", "context", k->context_name, &ctx, err)) < 0)
		return r;
	if ((r = get_string(d, ctx, "context", "cluster", &k->cluster_name, err)) < 0 ||
	    (r = get_string(d, ctx, "context", "user", &k->user_name, err)) < 0)
		return r;
	if (!k->cluster_name)
		return error_set(err, ERR_CONFIG, -EINVAL, "context names no cluster");

	if ((r = find_named(d, root, "clusters", "cluster", k->cluster_name, &cluster, err)) < 0)
		return r;
	if ((r = parse_cluster(d, cluster, base_dir, k, err)) < 0)
		return error_prefix(err, r, "cluster \"%s\"",
				    printable(k->cluster_name, pb, sizeof(pb)));

	/* A context without a user is anonymous access, as in kubectl. */
	if (!k->user_name)
		return 0;
	if ((r = find_named(d, root, "users", "user", k->user_name, &user, err)) < 0)
		return r;
	if ((r = parse_user(d, user, base_dir, k, err)) < 0)
		return error_prefix(err, r, "user \"%s\"", printable(k->user_name, pb, sizeof(pb)));
	return 0;
}

static int parse_buffer(const char *buf, size_t len, const char *base_dir, struct kubeconfig **ret,
			struct error *err)
{
	if (len > KUBECONFIG_MAX_BYTES)
		return error_set(err, ERR_CONFIG, -EFBIG, "input is larger than %zu bytes",
				 KUBECONFIG_MAX_BYTES);

	int r = prescan(buf, len, err);
	if (r < 0)
		return r;

	yaml_parser_t p;
	yaml_document_t d;
	if (!yaml_parser_initialize(&p))
		return error_set(err, ERR_INTERNAL, -ENOMEM, "cannot initialise the YAML parser");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &d)) {
		r = yaml_error(&p, err);
		parser_wipe_delete(&p, len);
		return r;
	}

	_cleanup_(kubeconfig_freep) struct kubeconfig *k = calloc(1, sizeof(*k));
	if (!k)
		r = error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	else
		r = parse_document(&d, base_dir, k, err);
	document_wipe_delete(&d);
	parser_wipe_delete(&p, len);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(k);
	return 0;
}

int kubeconfig_parse(const char *buf, size_t len, const char *base_dir, struct kubeconfig **ret,
		     struct error *err)
{
	if (!buf || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kubeconfig_parse: no input");
	int r = parse_buffer(buf, len, base_dir, ret, err);
	if (r < 0)
		return error_prefix(err, r, "kubeconfig");
	return 0;
}

int kubeconfig_load(const char *path, struct kubeconfig **ret, struct error *err)
{
	if (!path || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kubeconfig_load: no path");

	char *buf = NULL;
	size_t len = 0;
	int r = kubeconfig_read_secret(path, KUBECONFIG_MAX_BYTES, &buf, &len);
	if (r == -EFBIG)
		return error_set(err, ERR_CONFIG, r, "kubeconfig %s is larger than %zu bytes", path,
				 KUBECONFIG_MAX_BYTES);
	if (r < 0)
		return error_set(err, ERR_IO, r, "cannot read kubeconfig %s: %s", path,
				 r == -EINVAL ? "not a regular file" : strerror(-r));

	_cleanup_free_ char *dir = NULL;
	const char *slash = strrchr(path, '/');
	if (slash == path)
		dir = strdup("/");
	else if (slash)
		dir = strndup(path, (size_t)(slash - path));
	else
		dir = strdup(".");
	if (!dir) {
		explicit_bzero(buf, len);
		free(buf);
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}

	r = parse_buffer(buf, len, strcmp(dir, "/") == 0 ? "" : dir, ret, err);
	explicit_bzero(buf, len);
	free(buf);
	if (r < 0)
		return error_prefix(err, r, "kubeconfig %s", path);
	return 0;
}

/* A token may only hold visible ASCII: anything else could split the header. */
static bool token_valid(const char *t)
{
	if (!t[0])
		return false;
	for (const char *c = t; *c; c++)
		if (*c < 0x21 || *c > 0x7e)
			return false;
	return true;
}

int kubeconfig_current_token(const struct kubeconfig *k, char **ret, struct error *err)
{
	if (!k || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kubeconfig_current_token: no input");

	if (k->token) {
		if (!token_valid(k->token))
			return error_set(err, ERR_CONFIG, -EINVAL,
					 "kubeconfig token contains characters not allowed in "
					 "an HTTP header");
		char *t = strdup(k->token);
		if (!t)
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		*ret = t;
		return 0;
	}
	if (!k->token_file) {
		*ret = NULL;
		return 0;
	}

	_cleanup_secret_ char *raw = NULL;
	int r = kubeconfig_read_secret(k->token_file, KUBECONFIG_SECRET_MAX_BYTES, &raw, NULL);
	if (r < 0)
		return error_set(err, ERR_IO, r, "cannot read token file %s: %s", k->token_file,
				 r == -EINVAL ? "not a regular file" : strerror(-r));
	const char *t = parse_strip(raw);
	if (!t[0])
		return error_set(err, ERR_CONFIG, -EINVAL, "token file %s is empty", k->token_file);
	if (!token_valid(t))
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "token file %s contains characters not allowed in an HTTP header",
				 k->token_file);
	char *copy = strdup(t);
	if (!copy)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	*ret = copy;
	return 0;
}

static bool host_valid(const char *h)
{
	if (!h[0])
		return false;
	for (const char *c = h; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f || strchr("/@?#\\", *c))
			return false;
	return true;
}

int kubeconfig_in_cluster(const char *sa_dir, const char *host, const char *port,
			  struct kubeconfig **ret, struct error *err)
{
	if (!ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kubeconfig_in_cluster: no output");
	if (!host || !host[0] || !port || !port[0])
		return error_set(err, ERR_ENV, -EINVAL,
				 "KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
				 "set. Is this not running within a pod?");
	if (!sa_dir)
		sa_dir = KUBE_SA_DIR;

	char pb[80];
	uint16_t p;
	if (parse_port(port, &p) < 0)
		return error_set(err, ERR_ENV, -EINVAL,
				 "KUBERNETES_SERVICE_PORT=\"%s\" is not a port",
				 printable(port, pb, sizeof(pb)));
	if (!host_valid(host))
		return error_set(err, ERR_ENV, -EINVAL,
				 "KUBERNETES_SERVICE_HOST=\"%s\" is not a host name or address",
				 printable(host, pb, sizeof(pb)));

	_cleanup_(kubeconfig_freep) struct kubeconfig *k = calloc(1, sizeof(*k));
	if (!k)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	bool v6 = strchr(host, ':') && host[0] != '[';
	if (asprintf(&k->server, "https://%s%s%s:%u", v6 ? "[" : "", host, v6 ? "]" : "", p) < 0) {
		k->server = NULL;
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	if (asprintf(&k->token_file, "%s/token", sa_dir) < 0) {
		k->token_file = NULL;
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	if (asprintf(&k->ca_file, "%s/ca.crt", sa_dir) < 0) {
		k->ca_file = NULL;
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	if (access(k->ca_file, R_OK) < 0) {
		int e = errno;
		return error_set(err, ERR_IO, -e, "cannot read service-account CA %s: %s",
				 k->ca_file, strerror(e));
	}

	_cleanup_secret_ char *probe = NULL;
	int r = kubeconfig_current_token(k, &probe, err);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(k);
	return 0;
}
