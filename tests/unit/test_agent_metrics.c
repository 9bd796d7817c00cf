// SPDX-License-Identifier: Apache-2.0
/* The metrics registry and its Prometheus text rendering (format 0.0.4). */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log_sink.h"
#include "metrics.h"

static void test_format_value(void **state)
{
	static const struct {
		double v;
		const char *want;
	} t[] = {
		{0, "0"},
		{1, "1"},
		{-3, "-3"},
		{0.1, "0.1"},
		{0.005, "0.005"},
		{2.5, "2.5"},
		{1e21, "1e+21"},
		{10, "10"},
		{100000, "100000"},
		{1e6, "1e+06"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{123456789, "1.23456789e+08"},
		{-0.25, "-0.25"},
		{1.0 / 3, "0.3333333333333333"},
		{INFINITY, "+Inf"},
		{-INFINITY, "-Inf"},
		{NAN, "NaN"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char buf[64];
		metric_format_value(t[i].v, buf, sizeof(buf));
		assert_string_equal(buf, t[i].want);
	}
}

static void test_register_rejects(void **state)
{
	struct metrics *m;
	assert_int_equal(metrics_new(&m), 0);
	struct metric *mt;
	static const double b[] = {1, 2};
	static const double bad_b[] = {2, 1};
	static const char *const l_ok[] = {"a", NULL};
	static const char *const l_dup[] = {"a", "a", NULL};
	static const char *const l_le[] = {"le", NULL};
	static const char *const l_reserved[] = {"__x", NULL};
	static const char *const l_bad[] = {"1a", NULL};
	static const char *const l_many[] = {"a", "b", "c", "d", "e", NULL};
	static const struct {
		const char *name;
		enum metric_type type;
		const char *const *labels;
		const double *buckets;
		size_t n;
		int want;
	} t[] = {
		{"ok_total", METRIC_COUNTER, l_ok, NULL, 0, 0},
		{"ok_total", METRIC_COUNTER, NULL, NULL, 0, -EEXIST},
		{"", METRIC_COUNTER, NULL, NULL, 0, -EINVAL},
		{"9x", METRIC_COUNTER, NULL, NULL, 0, -EINVAL},
		{"a-b", METRIC_COUNTER, NULL, NULL, 0, -EINVAL},
		{"ns:sub_total", METRIC_COUNTER, NULL, NULL, 0, 0},
		{"c1", METRIC_COUNTER, l_dup, NULL, 0, -EINVAL},
		{"c2", METRIC_COUNTER, l_reserved, NULL, 0, -EINVAL},
		{"c3", METRIC_COUNTER, l_bad, NULL, 0, -EINVAL},
		{"c4", METRIC_COUNTER, l_many, NULL, 0, -EINVAL},
		{"c5", METRIC_COUNTER, l_le, NULL, 0, 0},
		{"h1", METRIC_HISTOGRAM, l_le, b, 2, -EINVAL},
		{"h2", METRIC_HISTOGRAM, NULL, NULL, 0, -EINVAL},
		{"h3", METRIC_HISTOGRAM, NULL, bad_b, 2, -EINVAL},
		{"h4", METRIC_HISTOGRAM, NULL, b, 0, -EINVAL},
		{"c6", METRIC_COUNTER, NULL, b, 2, -EINVAL},
		{"h5", METRIC_HISTOGRAM, NULL, b, 2, 0},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(metrics_register(m, t[i].name, t[i].type, "help", t[i].labels,
						  t[i].buckets, t[i].n, &mt),
				 t[i].want);
	metrics_free(m);
}

static void test_update_rules(void **state)
{
	struct metrics *m;
	assert_int_equal(metrics_new(&m), 0);
	struct metric *c, *g, *h;
	static const char *const labels[] = {"result", NULL};
	static const double b[] = {1};
	assert_int_equal(metrics_register(m, "c_total", METRIC_COUNTER, "c", labels, NULL, 0, &c),
			 0);
	assert_int_equal(metrics_register(m, "g", METRIC_GAUGE, "g", NULL, NULL, 0, &g), 0);
	assert_int_equal(metrics_register(m, "h", METRIC_HISTOGRAM, "h", NULL, b, 1, &h), 0);

	const char *const ok[] = {"SUCCESS"};
	assert_int_equal(metric_add(c, ok, 1), 0);
	assert_int_equal(metric_add(c, ok, 2), 0);
	assert_int_equal(metric_add(c, ok, -1), -EINVAL);
	assert_int_equal(metric_add(c, ok, NAN), -EINVAL);
	assert_int_equal(metric_add(c, NULL, 1), -EINVAL);
	assert_int_equal(metric_set(c, ok, 1), -EINVAL);
	assert_int_equal(metric_observe(c, ok, 1), -EINVAL);
	double v = 0;
	assert_int_equal(metric_get(c, ok, &v), 0);
	assert_true(v == 3);
	const char *const other[] = {"FAIL"};
	assert_int_equal(metric_get(c, other, &v), -ENOENT);

	assert_int_equal(metric_set(g, NULL, 5), 0);
	assert_int_equal(metric_add(g, NULL, -2), 0);
	assert_int_equal(metric_get(g, NULL, &v), 0);
	assert_true(v == 3);
	assert_int_equal(metric_observe(g, NULL, 1), -EINVAL);

	assert_int_equal(metric_observe(h, NULL, 0.5), 0);
	assert_int_equal(metric_observe(h, NULL, NAN), -EINVAL);
	assert_int_equal(metric_add(h, NULL, 1), -EINVAL);
	assert_int_equal(metric_get(h, NULL, &v), -EINVAL);

	/* The number of series is capped: label values come from outside. */
	char name[32];
	int r = 0;
	for (int i = 0; i < METRIC_MAX_SERIES + 5 && r == 0; i++) {
		(void)snprintf(name, sizeof(name), "v%d", i);
		const char *const lv[] = {name};
		r = metric_add(c, lv, 1);
	}
	assert_int_equal(r, -E2BIG);
	metrics_free(m);
}

static void test_render(void **state)
{
	struct metrics *m;
	assert_int_equal(metrics_new(&m), 0);
	struct metric *c, *g, *h, *e;
	static const char *const tr[] = {"type", "result", NULL};
	static const double b[] = {0.1, 1};
	assert_int_equal(metrics_register(m, "x_total", METRIC_COUNTER, "Things \\ done\nok", tr,
					  NULL, 0, &c),
			 0);
	assert_int_equal(metrics_register(m, "x_ready", METRIC_GAUGE, "Ready", NULL, NULL, 0, &g),
			 0);
	assert_int_equal(metrics_register(m, "x_seconds", METRIC_HISTOGRAM, "Time", NULL, b, 2, &h),
			 0);
	static const char *const r1[] = {"result", NULL};
	assert_int_equal(metrics_register(m, "x_empty_total", METRIC_COUNTER, "None yet", r1, NULL,
					  0, &e),
			 0);

	assert_int_equal(metric_add(c, (const char *const[]){"repair", "success"}, 2), 0);
	assert_int_equal(metric_add(c, (const char *const[]){"a\"b\\c\nd", "fail"}, 1), 0);
	assert_int_equal(metric_observe(h, NULL, 0.05), 0);
	assert_int_equal(metric_observe(h, NULL, 0.1), 0);
	assert_int_equal(metric_observe(h, NULL, 0.5), 0);
	assert_int_equal(metric_observe(h, NULL, 7), 0);

	char *text = NULL;
	size_t len = 0;
	assert_int_equal(metrics_render(m, &text, &len), 0);
	const char *want = "# HELP x_total Things \\\\ done\\nok\n"
			   "# TYPE x_total counter\n"
			   "x_total{type=\"repair\",result=\"success\"} 2\n"
			   "x_total{type=\"a\\\"b\\\\c\\nd\",result=\"fail\"} 1\n"
			   "# HELP x_ready Ready\n"
			   "# TYPE x_ready gauge\n"
			   "x_ready 0\n"
			   "# HELP x_seconds Time\n"
			   "# TYPE x_seconds histogram\n"
			   "x_seconds_bucket{le=\"0.1\"} 2\n"
			   "x_seconds_bucket{le=\"1\"} 3\n"
			   "x_seconds_bucket{le=\"+Inf\"} 4\n"
			   "x_seconds_sum 7.65\n"
			   "x_seconds_count 4\n"
			   "# HELP x_empty_total None yet\n"
			   "# TYPE x_empty_total counter\n";
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	free(text);
	metrics_free(m);
}

static void test_agent_metrics(void **state)
{
	struct agent_metrics *am;
	assert_int_equal(agent_metrics_new(&am), 0);
	agent_metrics_count_install(am, "SUCCESS");
	agent_metrics_set_ready(am, true);
	agent_metrics_count_repair(am, "repair", "success");
	agent_metrics_count_plugin_add(am, "success");
	agent_metrics_observe_plugin_add(am, 0.004);
	agent_metrics_count_plugin_line(am);
	agent_metrics_count_install(NULL, "SUCCESS");

	char *text = NULL;
	assert_int_equal(metrics_render(am->registry, &text, NULL), 0);
	static const char *const want[] = {
		"istio_cni_installs_total{result=\"SUCCESS\"} 1\n",
		"istio_cni_install_ready 1\n",
		"istio_cni_repair_pods_repaired_total{type=\"repair\",result=\"success\"} 1\n",
		"istio_cni_plugin_add_total{result=\"success\"} 1\n",
		"istio_cni_plugin_add_duration_seconds_bucket{le=\"0.005\"} 1\n",
		"istio_cni_plugin_add_duration_seconds_count 1\n",
		"istio_cni_plugin_log_lines_total 1\n",
		"# TYPE istio_cni_plugin_add_duration_seconds histogram\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_non_null(strstr(text, want[i]));
	free(text);
	agent_metrics_free(am);
}

static void test_plugin_line(void **state)
{
	static const struct {
		const char *line;
		enum plugin_line_kind kind;
		int level;
		const char *msg, *pod;
		double duration;
	} t[] = {
		{"{\"time\":\"t\",\"level\":\"info\",\"scope\":\"istio-cni\",\"msg\":\"programmed "
		 "traffic capture (nftables, 20 IPv4 and 0 IPv6 rules)\",\"pod\":\"ns/p\","
		 "\"containerID\":\"abc\",\"duration_ms\":12.5}",
		 PLUGIN_LINE_ADD_SUCCESS, 1,
		 "programmed traffic capture (nftables, 20 IPv4 and 0 "
		 "IPv6 rules)",
		 "ns/p", 0.0125},
		{"{\"level\":\"info\",\"msg\":\"skipping pod: excluded namespace\",\"pod\":\"kube-system/x\"}",
		 PLUGIN_LINE_ADD_SKIPPED, 1, "skipping pod: excluded namespace", "kube-system/x",
		 -1},
		{"{\"level\":\"error\",\"msg\":\"ADD failed: boom\",\"pod\":\"a/b\"}",
		 PLUGIN_LINE_ADD_FAILURE, 3, "ADD failed: boom", "a/b", -1},
		{"{\"level\":\"warn\",\"msg\":\"two\\nlines\"}", PLUGIN_LINE_OTHER, 2,
		 "two\\x0alines", "", -1},
		{"{\"level\":\"bogus\",\"msg\":7,\"pod\":[]}", PLUGIN_LINE_OTHER, 1, "", "", -1},
		{"plain text line", PLUGIN_LINE_OTHER, 1, "plain text line", "", -1},
		{"{not json", PLUGIN_LINE_OTHER, 1, "{not json", "", -1},
		{"{\"msg\":\"x\",\"duration_ms\":-4}", PLUGIN_LINE_OTHER, 1, "x", "", -1},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct plugin_line *pl = malloc(sizeof(*pl));
		assert_non_null(pl);
		log_sink_line_parse(t[i].line, strlen(t[i].line), pl);
		assert_int_equal(pl->kind, t[i].kind);
		assert_int_equal(pl->level, t[i].level);
		assert_string_equal(pl->msg, t[i].msg);
		assert_string_equal(pl->pod, t[i].pod);
		assert_true(fabs(pl->duration_s - t[i].duration) < 1e-9);
		free(pl);
	}
}

static void test_log_body(void **state)
{
	struct agent_metrics *am;
	assert_int_equal(agent_metrics_new(&am), 0);
	static const struct {
		const char *body;
		int want;
	} t[] = {
		{"[]", 0},	  {"[\"a\", \"{\\\"msg\\\":\\\"ADD failed: x\\\"}\", 3, null]", 2},
		{"{}", -EBADMSG}, {"[", -EBADMSG},
		{"", -EBADMSG},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct error err = {0};
		assert_int_equal(log_sink_handle_body(am, t[i].body, strlen(t[i].body), &err),
				 t[i].want);
	}
	double v = 0;
	assert_int_equal(metric_get(am->plugin_log_lines, NULL, &v), 0);
	assert_true(v == 2);
	assert_int_equal(metric_get(am->plugin_add_total, (const char *const[]){"failure"}, &v), 0);
	assert_true(v == 1);
	agent_metrics_free(am);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_value),  cmocka_unit_test(test_register_rejects),
		cmocka_unit_test(test_update_rules),  cmocka_unit_test(test_render),
		cmocka_unit_test(test_agent_metrics), cmocka_unit_test(test_plugin_line),
		cmocka_unit_test(test_log_body),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
