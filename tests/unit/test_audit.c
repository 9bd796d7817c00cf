// SPDX-License-Identifier: Apache-2.0
/* The capture audit's pure parts (which pods a pass checks, the report), and
 * the hand-off of on-demand passes to the audit thread. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_config.h"
#include "audit.h"
#include "cni/netconf.h"
#include "kube/kube_event.h"
#include "kube/pod_info.h"
#include "pod_cache.h"
#include "util/log.h"
#include "util/monotonic.h"

static struct pod_info *pod(const char *json)
{
	json_error_t je;
	json_t *j = json_loads(json, 0, &je);
	assert_non_null(j);
	struct pod_info *p = NULL;
	struct error err = {0};
	assert_int_equal(pod_info_from_json(j, &p, &err), 0);
	json_decref(j);
	return p;
}

#define POD(ns, meta, spec, status)                                                                \
	"{\"metadata\":{\"namespace\":\"" ns "\",\"name\":\"p\",\"uid\":\"u\"" meta "},"           \
	"\"spec\":{\"nodeName\":\"n1\"" spec "},\"status\":{" status "}}"
#define RUNNING "\"phase\":\"Running\",\"podIP\":\"10.0.0.5\""

static void test_select(void **state)
{
	(void)state;
	static const char conf_json[] =
		"{\"cniVersion\":\"0.3.1\",\"name\":\"istio-cni\",\"type\":\"istio-cni\","
		"\"exclude_namespaces\":[\"istio-system\"]}";
	struct netconf *conf = NULL;
	struct error err = {0};
	assert_int_equal(netconf_parse(conf_json, strlen(conf_json), &conf, &err), 0);
	static const struct {
		const char *desc;
		const char *json;
		const char *node;
		enum audit_select want;
	} t[] = {
		{"running on this node", POD("web", "", "", RUNNING), "n1", AUDIT_SELECTED},
		{"any node when none is set", POD("web", "", "", RUNNING), NULL, AUDIT_SELECTED},
		{"pending", POD("web", "", "", "\"phase\":\"Pending\",\"podIP\":\"10.0.0.5\""),
		 "n1", AUDIT_NOT_RUNNING},
		{"no phase", POD("web", "", "", "\"podIP\":\"10.0.0.5\""), "n1", AUDIT_NOT_RUNNING},
		{"succeeded", POD("web", "", "", "\"phase\":\"Succeeded\""), "n1",
		 AUDIT_NOT_RUNNING},
		{"host network", POD("web", "", ",\"hostNetwork\":true", RUNNING), "n1",
		 AUDIT_HOST_NETWORK},
		{"terminating",
		 POD("web", ",\"deletionTimestamp\":\"2024-01-01T00:00:00Z\"", "", RUNNING), "n1",
		 AUDIT_TERMINATING},
		{"other node", POD("web", "", "", RUNNING), "n2", AUDIT_OTHER_NODE},
		{"excluded namespace", POD("istio-system", "", "", RUNNING), "n1",
		 AUDIT_EXCLUDED_NS},
		{"no IP yet", POD("web", "", "", "\"phase\":\"Running\""), "n1", AUDIT_NO_IP},
		{"podIPs only",
		 POD("web", "", "", "\"phase\":\"Running\",\"podIPs\":[{\"ip\":\"fd00::5\"}]"),
		 "n1", AUDIT_SELECTED},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct pod_info *p = pod(t[i].json);
		enum audit_select got = audit_select_pod(p, t[i].node, conf);
		if (got != t[i].want)
			fail_msg("%s: got %s, want %s", t[i].desc, audit_select_to_string(got),
				 audit_select_to_string(t[i].want));
		pod_info_free(p);
	}
	/* Without a conf, nothing is excluded. */
	struct pod_info *p = pod(POD("istio-system", "", "", RUNNING));
	assert_int_equal(audit_select_pod(p, "n1", NULL), AUDIT_SELECTED);
	pod_info_free(p);
	netconf_free(conf);
}

static void fill(struct audit_report *r)
{
	assert_int_equal(audit_report_add(r, "web", "a", AUDIT_STATUS_OK, NULL, false, NULL), 0);
	assert_int_equal(audit_report_add(r, "web", "b", AUDIT_STATUS_DRIFT, "missing", true,
					  "table inet istio_cni missing\nchain x missing\n"),
			 0);
	assert_int_equal(audit_report_add(r, "db", "c", AUDIT_STATUS_UNCHECKED, NULL, false,
					  "no network namespace under /proc holds 10.0.0.7"),
			 0);
}

static void test_text(void **state)
{
	(void)state;
	struct audit_report r = {0};
	fill(&r);
	char *text = NULL;
	assert_int_equal(audit_report_to_text(&r, &text), 0);
	assert_string_equal(text,
			    "web/a ok\n"
			    "web/b drift missing (repaired): table inet istio_cni missing; "
			    "chain x missing\n"
			    "db/c unchecked no network namespace under /proc holds 10.0.0.7\n");
	free(text);
	assert_int_equal(audit_report_exit_code(&r), 1);
	audit_report_done(&r);
}

static void test_exit_codes(void **state)
{
	(void)state;
	struct audit_report r = {0};
	assert_int_equal(audit_report_exit_code(&r), 0); /* no meshed pod: all ok */
	assert_int_equal(audit_report_add(&r, "a", "b", AUDIT_STATUS_OK, NULL, false, NULL), 0);
	assert_int_equal(audit_report_exit_code(&r), 0);
	assert_int_equal(audit_report_add(&r, "a", "c", AUDIT_STATUS_UNCHECKED, NULL, false, "x"),
			 0);
	assert_int_equal(audit_report_exit_code(&r), 2);
	assert_int_equal(audit_report_add(&r, "a", "d", AUDIT_STATUS_DRIFT, "changed", false, "y"),
			 0);
	assert_int_equal(audit_report_exit_code(&r), 1);
	audit_report_done(&r);

	struct audit_report e = {0};
	assert_int_equal(audit_report_set_error(&e, "the pod cache has not synced yet"), 0);
	assert_int_equal(audit_report_exit_code(&e), 2);
	char *text = NULL;
	assert_int_equal(audit_report_to_text(&e, &text), 0);
	assert_string_equal(text, "error: the pod cache has not synced yet\n");
	free(text);
	audit_report_done(&e);
}

static void test_json_round_trip(void **state)
{
	(void)state;
	struct audit_report r = {0};
	fill(&r);
	assert_int_equal(audit_report_set_error(&r, "partial"), 0);
	char *json = NULL;
	size_t len = 0;
	assert_int_equal(audit_report_to_json(&r, &json, &len), 0);
	assert_non_null(strstr(json, "\"ok\":1,"));
	assert_non_null(strstr(json, "\"drift\":1,"));
	assert_non_null(strstr(json, "\"unchecked\":1"));
	struct audit_report back = {0};
	struct error err = {0};
	assert_int_equal(audit_report_from_json(json, len, &back, &err), 0);
	assert_int_equal(back.n, 3);
	assert_string_equal(back.v[1].reason, "missing");
	assert_true(back.v[1].repaired);
	assert_string_equal(back.v[1].detail, r.v[1].detail);
	assert_int_equal(back.v[2].status, AUDIT_STATUS_UNCHECKED);
	assert_string_equal(back.error, "partial");
	char *t1 = NULL, *t2 = NULL;
	assert_int_equal(audit_report_to_text(&r, &t1), 0);
	assert_int_equal(audit_report_to_text(&back, &t2), 0);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);

	struct audit_report c = {0};
	assert_int_equal(audit_report_copy(&r, &c), 0);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.v[0].name, "a");
	audit_report_done(&c);

	audit_report_done(&back);
	audit_report_done(&r);
	free(json);

	const char *bad[] = {
		"", "[]", "{}", "{\"pods\":[{\"namespace\":\"a\"}]}",
		"{\"pods\":[{\"namespace\":\"a\",\"name\":\"b\",\"status\":\"odd\"}]}"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct audit_report x = {0};
		assert_int_equal(audit_report_from_json(bad[i], strlen(bad[i]), &x, &err),
				 -EBADMSG);
	}
}

static void test_event(void **state)
{
	(void)state;
	char long_msg[KUBE_EVENT_MAX_MESSAGE + 100];
	memset(long_msg, 'x', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = '\0';
	const struct kube_event ev = {
		.ns = "web",
		.name = "a",
		.uid = "u1",
		.reason = "CaptureDrift",
		.type = KUBE_EVENT_TYPE_WARNING,
		.message = long_msg,
		.component = "istio-cni-agent",
		.host = "n1",
	};
	json_t *o = NULL;
	assert_int_equal(kube_event_build(&ev, "2024-01-01T00:00:00Z", &o), 0);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "Event");
	assert_string_equal(json_string_value(json_object_get(o, "reason")), "CaptureDrift");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "Warning");
	const json_t *io = json_object_get(o, "involvedObject");
	assert_string_equal(json_string_value(json_object_get(io, "kind")), "Pod");
	assert_string_equal(json_string_value(json_object_get(io, "name")), "a");
	assert_string_equal(json_string_value(json_object_get(io, "uid")), "u1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(o, "metadata"),
							      "generateName")),
			    "a.");
	assert_int_equal(strlen(json_string_value(json_object_get(o, "message"))),
			 KUBE_EVENT_MAX_MESSAGE);
	json_decref(o);
	struct kube_event bad = ev;
	bad.ns = NULL;
	assert_int_equal(kube_event_build(&bad, "t", &o), -EINVAL);
}

static void test_interval_config(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		int r;
		unsigned want;
	} t[] = {
		{NULL, 0, 60},	    {"", 0, 60},	 {"0", 0, 0},
		{"1", 0, 1},	    {"86400", 0, 86400}, {"86401", -EINVAL, 0},
		{"-1", -EINVAL, 0}, {"1m", -EINVAL, 0},	 {"abc", -EINVAL, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char var[64];
		(void)snprintf(var, sizeof(var), "AUDIT_INTERVAL_SECONDS=%s",
			       t[i].value ? t[i].value : "");
		const char *const env[] = {"KUBERNETES_NODE_NAME=n1", t[i].value ? var : NULL,
					   NULL};
		struct agent_config *c = NULL;
		struct error err = {0};
		int r = agent_config_from_env(env, &c, &err);
		if (r != t[i].r)
			fail_msg("%s: got %d (%s), want %d", var, r, err.msg, t[i].r);
		if (r == 0)
			assert_int_equal(c->audit_interval_s, t[i].want);
		else
			assert_non_null(strstr(err.msg, "AUDIT_INTERVAL_SECONDS"));
		agent_config_free(c);
	}
}

/* What the audit thread told the health server (the passes that ended),
 * and how many passes the test-only hook held (from the log). */
struct told {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t pass[16];
	unsigned status[16];
	char body[16][256];
	size_t n;
	size_t held;
};

static void tell(void *ud, uint64_t pass, unsigned status, const char *body, size_t len)
{
	struct told *t = ud;
	(void)pthread_mutex_lock(&t->lock);
	if (t->n < 16) {
		t->pass[t->n] = pass;
		t->status[t->n] = status;
		(void)snprintf(t->body[t->n], sizeof(t->body[0]), "%.*s", (int)len,
			       body ? body : "");
		t->n++;
	}
	(void)pthread_cond_broadcast(&t->cond);
	(void)pthread_mutex_unlock(&t->lock);
}

static void log_line(const char *line, size_t len, void *ud)
{
	struct told *t = ud;
	(void)pthread_mutex_lock(&t->lock);
	if (memmem(line, len, "test-only hold", strlen("test-only hold")))
		t->held++;
	(void)pthread_cond_broadcast(&t->cond);
	(void)pthread_mutex_unlock(&t->lock);
}

/* Waits (at most 30 s) until *count is n. */
static bool told_wait(struct told *t, const size_t *count, size_t n)
{
	struct timespec until = monotonic_deadline(30000);
	(void)pthread_mutex_lock(&t->lock);
	while (*count < n)
		if (pthread_cond_timedwait(&t->cond, &t->lock, &until) != 0)
			break;
	bool ok = *count >= n;
	(void)pthread_mutex_unlock(&t->lock);
	return ok;
}

static void touch(const char *path)
{
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	(void)close(fd);
}

#define EMPTY_REPORT "{\"pods\":[],\"ok\":0,\"drift\":0,\"unchecked\":0}"

/*
 * On demand: audit_http_begin never waits for a pass, even one held in
 * progress; a pass in progress does not answer the requests that arrive
 * during it, and those share the next one; at stop a waiting request is told
 * the agent is stopping, and a new one is answered at once.
 */
static void test_http_on_demand(void **state)
{
	(void)state;
	struct told t = {0};
	assert_int_equal(monotonic_cond_init(&t.lock, &t.cond), 0);
	log_set_sink(log_line, &t);
	char hold[] = "/tmp/test_audit_hold.XXXXXX";
	int fd = mkstemp(hold); /* the hold file exists: the first pass waits */
	assert_true(fd >= 0);
	(void)close(fd);

	struct pod_cache *pc = NULL;
	assert_int_equal(pod_cache_new(NULL, &pc), 0);
	pod_cache_set_synced(pc, true); /* no pods: a pass of nothing, 200 */
	const struct audit_options o = {
		.pods = pc,
		.node_name = "n1",
		.proc_dir = "/proc",
		.interval_s = 3600,
		.start_thread = true,
		.test_hold_path = hold,
	};
	struct audit *a = NULL;
	struct error err = {0};
	assert_int_equal(audit_new(&o, &a, &err), 0);
	audit_http_set_notify(a, tell, &t);
	uint64_t ticket = 0;
	unsigned status = 0;
	char *body = NULL;
	size_t len = 0;

	/* Pass 1 (periodic) held in progress: two requests, both for pass 2. */
	assert_true(told_wait(&t, &t.held, 1));
	assert_int_equal(audit_http_begin(a, &ticket, &status, &body, &len), 0);
	assert_int_equal(ticket, 2);
	assert_int_equal(audit_http_begin(a, &ticket, &status, &body, &len), 0);
	assert_int_equal(ticket, 2);
	assert_int_equal(unlink(hold), 0);
	assert_true(told_wait(&t, &t.n, 2));
	assert_int_equal(t.pass[0], 1);
	assert_int_equal(t.pass[1], 2);
	for (size_t i = 0; i < 2; i++) {
		assert_int_equal(t.status[i], 200);
		assert_string_equal(t.body[i], EMPTY_REPORT);
	}

	/* Stopping with a request waiting for a held pass. */
	(void)usleep(1100 * 1000); /* past the one on-demand pass a second */
	touch(hold);
	assert_int_equal(audit_http_begin(a, &ticket, &status, &body, &len), 0);
	assert_int_equal(ticket, 3);
	assert_true(told_wait(&t, &t.held, 2));
	audit_signal_stop(a);
	assert_true(told_wait(&t, &t.n, 4));
	assert_int_equal(t.pass[2], 3); /* no pod left to check: the pass ends whole */
	assert_int_equal(t.pass[3], UINT64_MAX);
	assert_int_equal(t.status[3], 503);
	assert_non_null(strstr(t.body[3], "the agent is stopping"));
	assert_int_equal(audit_http_begin(a, &ticket, &status, &body, &len), 1);
	assert_int_equal(status, 503);
	assert_non_null(strstr(body, "the agent is stopping"));
	free(body);
	audit_free(a);
	log_set_sink(NULL, NULL);
	(void)unlink(hold);
	pod_cache_free(pc);
	(void)pthread_mutex_destroy(&t.lock);
	(void)pthread_cond_destroy(&t.cond);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_select),	       cmocka_unit_test(test_text),
		cmocka_unit_test(test_exit_codes),     cmocka_unit_test(test_json_round_trip),
		cmocka_unit_test(test_event),	       cmocka_unit_test(test_interval_config),
		cmocka_unit_test(test_http_on_demand),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
