// SPDX-License-Identifier: Apache-2.0
/* The audit's pure parts: which pods a pass checks, and its report. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"

enum audit_select audit_select_pod(const struct pod_info *p, const char *node,
				   const struct netconf *conf)
{
	if (!pod_info_is_running(p))
		return AUDIT_NOT_RUNNING;
	if (p->host_network)
		return AUDIT_HOST_NETWORK;
	if (p->terminating)
		return AUDIT_TERMINATING;
	if (node && (!p->node_name || strcmp(p->node_name, node) != 0))
		return AUDIT_OTHER_NODE;
	if (conf && netconf_namespace_excluded(conf, p->namespace))
		return AUDIT_EXCLUDED_NS;
	if (p->n_pod_ips == 0 && (!p->pod_ip || !*p->pod_ip))
		return AUDIT_NO_IP;
	return AUDIT_SELECTED;
}

const char *audit_select_to_string(enum audit_select s)
{
	static const char *const names[] = {
		[AUDIT_SELECTED] = "selected",		[AUDIT_NOT_RUNNING] = "not running",
		[AUDIT_HOST_NETWORK] = "host network",	[AUDIT_TERMINATING] = "terminating",
		[AUDIT_OTHER_NODE] = "on another node", [AUDIT_EXCLUDED_NS] = "namespace excluded",
		[AUDIT_NO_IP] = "no IP address",
	};
	return (unsigned)s < ELEMENTSOF(names) ? names[s] : "?";
}

const char *audit_status_to_string(enum audit_status s)
{
	switch (s) {
	case AUDIT_STATUS_OK:
		return "ok";
	case AUDIT_STATUS_DRIFT:
		return "drift";
	case AUDIT_STATUS_UNCHECKED:
		return "unchecked";
	}
	return "?";
}

static int status_from_string(const char *s, enum audit_status *ret)
{
	const enum audit_status all[] = {AUDIT_STATUS_OK, AUDIT_STATUS_DRIFT,
					 AUDIT_STATUS_UNCHECKED};
	for (size_t i = 0; i < ELEMENTSOF(all); i++)
		if (strcmp(s, audit_status_to_string(all[i])) == 0) {
			*ret = all[i];
			return 0;
		}
	return -EINVAL;
}

static void entry_done(struct audit_entry *e)
{
	free(e->ns);
	free(e->name);
	free(e->reason);
	free(e->detail);
	*e = (struct audit_entry){0};
}

static int dup_opt(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

int audit_report_add(struct audit_report *r, const char *ns, const char *name,
		     enum audit_status status, const char *reason, bool repaired,
		     const char *detail)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;
		struct audit_entry *v = reallocarray(r->v, nc, sizeof(*v));
		if (!v)
			return -ENOMEM;
		r->v = v;
		r->cap = nc;
	}
	struct audit_entry e = {.status = status, .repaired = repaired};
	if (dup_opt(ns, &e.ns) < 0 || dup_opt(name, &e.name) < 0 ||
	    dup_opt(reason, &e.reason) < 0 || dup_opt(detail, &e.detail) < 0 || !e.ns || !e.name) {
		entry_done(&e);
		return -ENOMEM;
	}
	r->v[r->n++] = e;
	return 0;
}

int audit_report_set_error(struct audit_report *r, const char *msg)
{
	free(r->error);
	r->error = strdup(msg);
	return r->error ? 0 : -ENOMEM;
}

void audit_report_done(struct audit_report *r)
{
	for (size_t i = 0; i < r->n; i++)
		entry_done(&r->v[i]);
	free(r->v);
	free(r->error);
	*r = (struct audit_report){0};
}

int audit_report_copy(const struct audit_report *r, struct audit_report *ret)
{
	struct audit_report c = {0};
	for (size_t i = 0; i < r->n; i++) {
		const struct audit_entry *e = &r->v[i];
		if (audit_report_add(&c, e->ns, e->name, e->status, e->reason, e->repaired,
				     e->detail) < 0) {
			audit_report_done(&c);
			return -ENOMEM;
		}
	}
	if (r->error && audit_report_set_error(&c, r->error) < 0) {
		audit_report_done(&c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

static void counts(const struct audit_report *r, size_t n[3])
{
	n[0] = n[1] = n[2] = 0;
	for (size_t i = 0; i < r->n; i++)
		if ((unsigned)r->v[i].status < 3)
			n[r->v[i].status]++;
}

int audit_report_to_json(const struct audit_report *r, char **ret, size_t *ret_len)
{
	json_auto_t *pods = json_array();
	if (!pods)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const struct audit_entry *e = &r->v[i];
		json_t *o = json_pack("{s:s,s:s,s:s}", "namespace", e->ns, "name", e->name,
				      "status", audit_status_to_string(e->status));
		if (!o || json_array_append_new(pods, o) < 0)
			return -ENOMEM;
		int f = 0;
		if (e->status == AUDIT_STATUS_DRIFT) {
			f |= json_object_set_new(o, "reason",
						 json_string(e->reason ? e->reason : ""));
			f |= json_object_set_new(o, "repaired", json_boolean(e->repaired));
		}
		if (e->detail)
			f |= json_object_set_new(o, "detail", json_string(e->detail));
		if (f)
			return -ENOMEM;
	}
	size_t n[3];
	counts(r, n);
	json_auto_t *root = json_pack("{s:O,s:I,s:I,s:I}", "pods", pods, "ok", (json_int_t)n[0],
				      "drift", (json_int_t)n[1], "unchecked", (json_int_t)n[2]);
	if (!root)
		return -ENOMEM;
	if (r->error && json_object_set_new(root, "error", json_string(r->error)) < 0)
		return -ENOMEM;
	char *s = json_dumps(root, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	*ret_len = strlen(s);
	*ret = s;
	return 0;
}

int audit_report_from_json(const char *buf, size_t len, struct audit_report *ret, struct error *err)
{
	json_error_t je;
	json_auto_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!root || !json_is_object(root))
		return error_set(err, ERR_DECODE, -EBADMSG, "the audit report is not JSON: %s",
				 root ? "not an object" : je.text);
	const json_t *pods = json_object_get(root, "pods");
	if (!json_is_array(pods))
		return error_set(err, ERR_DECODE, -EBADMSG, "the audit report has no pods array");
	struct audit_report r = {0};
	size_t i;
	const json_t *o;
	json_array_foreach (pods, i, o) {
		const char *ns = json_string_value(json_object_get(o, "namespace"));
		const char *name = json_string_value(json_object_get(o, "name"));
		const char *st = json_string_value(json_object_get(o, "status"));
		enum audit_status s;
		if (!ns || !name || !st || status_from_string(st, &s) < 0) {
			audit_report_done(&r);
			return error_set(err, ERR_DECODE, -EBADMSG,
					 "pods[%zu]: namespace, name or status missing or wrong",
					 i);
		}
		if (audit_report_add(&r, ns, name, s,
				     json_string_value(json_object_get(o, "reason")),
				     json_is_true(json_object_get(o, "repaired")),
				     json_string_value(json_object_get(o, "detail"))) < 0) {
			audit_report_done(&r);
			return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
		}
	}
	const char *e = json_string_value(json_object_get(root, "error"));
	if (e && audit_report_set_error(&r, e) < 0) {
		audit_report_done(&r);
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	}
	*ret = r;
	return 0;
}

/* Appends s to the stream, newlines (and runs of them) as "; ". */
static void put_flat(FILE *f, const char *s)
{
	while (*s) {
		if (*s == '\n' || *s == '\r') {
			while (*s == '\n' || *s == '\r')
				s++;
			if (*s)
				fputs("; ", f);
			continue;
		}
		fputc(*s++, f);
	}
}

int audit_report_to_text(const struct audit_report *r, char **ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	for (size_t i = 0; i < r->n; i++) {
		const struct audit_entry *e = &r->v[i];
		fprintf(f, "%s/%s %s", e->ns, e->name, audit_status_to_string(e->status));
		if (e->status == AUDIT_STATUS_DRIFT) {
			fprintf(f, " %s%s", e->reason ? e->reason : "?",
				e->repaired ? " (repaired)" : "");
			if (e->detail) {
				fputs(": ", f);
				put_flat(f, e->detail);
			}
		} else if (e->status == AUDIT_STATUS_UNCHECKED) {
			fputc(' ', f);
			put_flat(f, e->detail ? e->detail : "?");
		}
		fputc('\n', f);
	}
	if (r->error) {
		fputs("error: ", f);
		put_flat(f, r->error);
		fputc('\n', f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

int audit_report_exit_code(const struct audit_report *r)
{
	size_t n[3];
	counts(r, n);
	if (n[AUDIT_STATUS_DRIFT])
		return 1;
	if (n[AUDIT_STATUS_UNCHECKED] || r->error)
		return 2;
	return 0;
}
