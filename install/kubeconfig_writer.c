// SPDX-License-Identifier: Apache-2.0
#include "kubeconfig_writer.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/base64.h"

/* A growing buffer that is wiped on free (it holds the token). */
struct sbuf {
	char *data;
	size_t len, cap;
	int error;
};

static void sbuf_wipe_free(struct sbuf *b)
{
	if (b->data) {
		explicit_bzero(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
}

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->error)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *nd = malloc(ncap);
		if (!nd) {
			b->error = -ENOMEM;
			return;
		}
		if (b->data)
			memcpy(nd, b->data, b->len);
		sbuf_wipe_free(b);
		b->data = nd;
		b->cap = ncap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static void sbuf_puts(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

/* Double-quoted YAML scalar: only '"' and '\\' need escaping once control bytes are refused. */
static void sbuf_quoted(struct sbuf *b, const char *s)
{
	sbuf_add(b, "\"", 1);
	for (const char *p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sbuf_add(b, "\\", 1);
		sbuf_add(b, p, 1);
	}
	sbuf_add(b, "\"", 1);
}

/* Whether a YAML marshaller would write s unquoted (service-account JWTs are). */
static bool yaml_plain_safe(const char *s)
{
	static const char *const reserved[] = {"true", "false", "yes", "no", "on",
					       "off",  "null",	"y",   "n",  "~"};
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
		return false;
	for (const char *p = s; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	for (size_t i = 0; i < ELEMENTSOF(reserved); i++)
		if (strcasecmp(s, reserved[i]) == 0)
			return false;
	return true;
}

static bool has_control(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return true;
	return false;
}

/* The inputs a kubeconfig cannot be written without, and none that would break its YAML. */
static int input_check(const struct kubeconfig_writer_input *in, struct error *err)
{
	if (!in->host || !in->host[0])
		return error_set(
			err, ERR_CONFIG, -EINVAL,
			"KUBERNETES_SERVICE_HOST not set. Is this not running within a pod?");
	if (!in->port || !in->port[0])
		return error_set(
			err, ERR_CONFIG, -EINVAL,
			"KUBERNETES_SERVICE_PORT not set. Is this not running within a pod?");
	if (has_control(in->host) || has_control(in->port) ||
	    (in->protocol && has_control(in->protocol)))
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "control character in the API server address");
	if (has_control(in->token ? in->token : ""))
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "service-account token holds a control character");
	if (!in->skip_tls_verify && !in->ca)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "no CA for the kubeconfig and SKIP_TLS_VERIFY is not set");
	return 0;
}

/* The current shape: Istio's YAML marshalling, keys sorted, the token plain when YAML allows. */
static void render_current(struct sbuf *b, const struct kubeconfig_writer_input *in,
			   const char *server, const char *ca64, const char *token)
{
	sbuf_puts(b, "apiVersion: v1\nclusters:\n- cluster:\n");
	if (in->skip_tls_verify) {
		sbuf_puts(b, "    insecure-skip-tls-verify: true\n");
	} else {
		sbuf_puts(b, "    certificate-authority-data: ");
		sbuf_puts(b, ca64);
		sbuf_puts(b, "\n");
	}
	sbuf_puts(b, "    server: ");
	sbuf_puts(b, server);
	sbuf_puts(b, "\n  name: local\n"
		     "contexts:\n"
		     "- context:\n"
		     "    cluster: local\n"
		     "    user: istio-cni\n"
		     "  name: istio-cni-context\n"
		     "current-context: istio-cni-context\n"
		     "kind: Config\n"
		     "users:\n"
		     "- name: istio-cni\n"
		     "  user:\n"
		     "    token: ");
	if (yaml_plain_safe(token))
		sbuf_puts(b, token);
	else
		sbuf_quoted(b, token);
	sbuf_puts(b, "\n");
}

/* The 1.7 shape: its text template, the token double-quoted. */
static void render_legacy(struct sbuf *b, const struct kubeconfig_writer_input *in,
			  const char *server, const char *ca64, const char *token)
{
	sbuf_puts(b, "# Kubeconfig file for Istio CNI plugin.\n"
		     "apiVersion: v1\n"
		     "kind: Config\n"
		     "clusters:\n"
		     "- name: local\n"
		     "  cluster:\n"
		     "    server: ");
	sbuf_puts(b, server);
	sbuf_puts(b, "\n    ");
	if (in->skip_tls_verify) {
		sbuf_puts(b, "insecure-skip-tls-verify: true\n");
	} else {
		sbuf_puts(b, "certificate-authority-data: ");
		sbuf_puts(b, ca64);
		sbuf_puts(b, "\n");
	}
	sbuf_puts(b, "users:\n"
		     "- name: istio-cni\n"
		     "  user:\n"
		     "    token: ");
	sbuf_quoted(b, token);
	sbuf_puts(b, "\n"
		     "contexts:\n"
		     "- name: istio-cni-context\n"
		     "  context:\n"
		     "    cluster: local\n"
		     "    user: istio-cni\n"
		     "current-context: istio-cni-context\n");
}

int kubeconfig_writer_render(enum kubeconfig_shape shape, const struct kubeconfig_writer_input *in,
			     char **ret, size_t *ret_len, struct error *err)
{
	int r = input_check(in, err);
	if (r < 0)
		return r;
	const char *token = in->token ? in->token : "";

	_cleanup_free_ char *ca64 = NULL;
	if (!in->skip_tls_verify) {
		r = base64_encode(in->ca, in->ca_len, &ca64);
		if (r < 0)
			return error_set(err, ERR_INTERNAL, r, "encoding the CA");
	}

	const char *proto = in->protocol ? in->protocol : "https";
	bool bracket = shape == KUBECONFIG_SHAPE_LEGACY || strchr(in->host, ':');
	_cleanup_free_ char *server = NULL;
	if (asprintf(&server, "%s://%s%s%s:%s", proto, bracket ? "[" : "", in->host,
		     bracket ? "]" : "", in->port) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");

	struct sbuf b = {0};
	if (shape == KUBECONFIG_SHAPE_CURRENT)
		render_current(&b, in, server, ca64, token);
	else
		render_legacy(&b, in, server, ca64, token);
	if (b.error) {
		sbuf_wipe_free(&b);
		return error_set(err, ERR_INTERNAL, b.error, "out of memory");
	}
	*ret = b.data;
	if (ret_len)
		*ret_len = b.len;
	return 0;
}
