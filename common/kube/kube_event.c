// SPDX-License-Identifier: Apache-2.0
#include "kube/kube_event.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void rfc3339_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, len, "1970-01-01T00:00:00Z");
}

/* s cut to at most max bytes, not inside a UTF-8 sequence. */
static json_t *bounded_string(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
	}
	return json_stringn(s, n);
}

int kube_event_build(const struct kube_event *ev, const char *when, json_t **ret)
{
	if (!ev->ns || !*ev->ns || !ev->name || !*ev->name || !ev->reason || !ev->type ||
	    !ev->message || !ev->component || !when)
		return -EINVAL;
	char gen[300];
	(void)snprintf(gen, sizeof(gen), "%.250s.", ev->name);
	const char *host = ev->host ? ev->host : "";
	json_t *msg = bounded_string(ev->message, KUBE_EVENT_MAX_MESSAGE);
	if (!msg)
		return -ENOMEM;
	/* "o" steals msg, also on failure. */
	json_t *o = json_pack(
		"{s:s,s:s,s:{s:s,s:s},s:{s:s,s:s,s:s,s:s,s:s,s:s},s:s,s:o,s:s,s:{s:s,s:s},"
		"s:s,s:s,s:s,s:s,s:i}",
		"apiVersion", "v1", "kind", "Event", "metadata", "generateName", gen, "namespace",
		ev->ns, "involvedObject", "kind", "Pod", "apiVersion", "v1", "namespace", ev->ns,
		"name", ev->name, "uid", ev->uid ? ev->uid : "", "resourceVersion",
		ev->resource_version ? ev->resource_version : "", "reason", ev->reason, "message",
		msg, "type", ev->type, "source", "component", ev->component, "host", host,
		"reportingComponent", ev->component, "reportingInstance", host, "firstTimestamp",
		when, "lastTimestamp", when, "count", 1);
	if (!o)
		return -ENOMEM;
	*ret = o;
	return 0;
}

int kube_event_post(struct kube_client *c, const struct kube_event *ev, struct error *err)
{
	char when[32];
	rfc3339_now(when, sizeof(when));
	json_auto_t *body = NULL;
	int r = kube_event_build(ev, when, &body);
	if (r < 0)
		return error_set(err, r == -ENOMEM ? ERR_INTERNAL : ERR_CONFIG, r,
				 "cannot build the %s event", ev->reason ? ev->reason : "");
	_cleanup_free_ char *ns = NULL;
	if (kube_url_escape(ev->ns, &ns) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	_cleanup_free_ char *path = NULL;
	if (asprintf(&path, "/api/v1/namespaces/%s/events", ns) < 0)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	return kube_client_post(c, path, body, NULL, NULL, err);
}
