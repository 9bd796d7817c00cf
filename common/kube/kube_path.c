// SPDX-License-Identifier: Apache-2.0
/* API paths: escaping, pod paths and list queries. Pure. */
#include "kube/kube_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool unreserved(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

int kube_url_escape(const char *s, char **ret)
{
	if (!s || !ret)
		return -EINVAL;
	size_t len = strlen(s);
	if (len > (SIZE_MAX - 1) / 3)
		return -ENOMEM;
	char *out = malloc(len * 3 + 1);
	if (!out)
		return -ENOMEM;
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (unreserved(*p)) {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 0xf];
		}
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}

static bool segment_valid(const char *s)
{
	return s && s[0] && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

int kube_pod_path(const char *ns, const char *name, const char *subresource, char **ret)
{
	if (!ret || (ns && !segment_valid(ns)) || (name && !segment_valid(name)) ||
	    (subresource && !segment_valid(subresource)) || (!ns && name) || (!name && subresource))
		return -EINVAL;

	_cleanup_free_ char *ens = NULL, *ename = NULL, *esub = NULL;
	int r;
	if ((ns && (r = kube_url_escape(ns, &ens)) < 0) ||
	    (name && (r = kube_url_escape(name, &ename)) < 0) ||
	    (subresource && (r = kube_url_escape(subresource, &esub)) < 0))
		return r;

	char *p;
	if (!ns)
		r = asprintf(&p, "/api/v1/pods");
	else
		r = asprintf(&p, "/api/v1/namespaces/%s/pods%s%s%s%s", ens, ename ? "/" : "",
			     ename ? ename : "", esub ? "/" : "", esub ? esub : "");
	if (r < 0)
		return -ENOMEM;
	*ret = p;
	return 0;
}

struct strbuf {
	char *s;
	size_t len, cap;
	int r;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->r < 0)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *ns = realloc(b->s, cap);
		if (!ns) {
			b->r = -ENOMEM;
			return;
		}
		b->s = ns;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void sb_param(struct strbuf *b, const char *key, const char *value)
{
	if (!value || b->r < 0)
		return;
	sb_add(b, strchr(b->s, '?') ? "&" : "?", 1);
	sb_add(b, key, strlen(key));
	sb_add(b, "=", 1);
	_cleanup_free_ char *e = NULL;
	int r = kube_url_escape(value, &e);
	if (r < 0) {
		b->r = r;
		return;
	}
	sb_add(b, e, strlen(e));
}

int kube_list_path(const char *path, const struct kube_list_query *q, char **ret)
{
	if (!path || path[0] != '/' || !ret)
		return -EINVAL;
	struct strbuf b = {0};
	sb_add(&b, path, strlen(path));
	if (q) {
		char limit[24], timeout[24];
		(void)snprintf(limit, sizeof(limit), "%u", q->limit);
		(void)snprintf(timeout, sizeof(timeout), "%u", q->timeout_seconds);
		sb_param(&b, "labelSelector", q->label_selector);
		sb_param(&b, "fieldSelector", q->field_selector);
		sb_param(&b, "resourceVersion", q->resource_version);
		sb_param(&b, "continue", q->continue_token);
		sb_param(&b, "limit", q->limit ? limit : NULL);
		sb_param(&b, "watch", q->watch ? "1" : NULL);
		sb_param(&b, "allowWatchBookmarks", q->allow_watch_bookmarks ? "true" : NULL);
		sb_param(&b, "timeoutSeconds", q->timeout_seconds ? timeout : NULL);
	}
	if (b.r < 0) {
		free(b.s);
		return b.r;
	}
	*ret = b.s;
	return 0;
}
