// SPDX-License-Identifier: Apache-2.0
/*
 * install/conflist and install/cni_conf_dir: libcni validity, insertion and
 * removal of our entry, serialisation. Goldens: our own fixtures (primary
 * confs of Calico, Flannel, Cilium, OVN-Kubernetes, OpenShift SDN, Multus
 * and a bridge .conf, expected outputs from an independent Python oracle,
 * tests/fixtures/install/generate.py) and, when REFERENCE_DIR is present,
 * Istio's installer test data.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cni_conf_dir.h"
#include "conflist.h"
#include "util/file_util.h"

#define FIX TEST_SOURCE_DIR "/fixtures/install"
#define REF_INSTALL REFERENCE_DIR "/istio/cni/pkg/install/testdata"
#define REF_TEST REFERENCE_DIR "/istio/cni/test/testdata"

static char *slurp(const char *path, size_t *ret_len)
{
	char *buf = NULL;
	size_t len = 0;
	int r = file_read_full(path, CONFLIST_MAX_BYTES, &buf, &len);
	if (r < 0)
		fail_msg("reading %s: %s", path, strerror(-r));
	if (ret_len)
		*ret_len = len;
	return buf;
}

static json_t *load_json(const char *path)
{
	size_t len;
	_cleanup_free_ char *buf = slurp(path, &len);
	json_t *j = NULL;
	struct error err = {0};
	if (conflist_parse(buf, len, &j, &err) < 0)
		fail_msg("%s: %s", path, err.msg);
	return j;
}

static void assert_json_equal(const json_t *got, const json_t *want, const char *what)
{
	if (!json_equal(got, want)) {
		char *g = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
		char *w = json_dumps(want, JSON_INDENT(2) | JSON_SORT_KEYS);
		print_error("%s differs\n--- got\n%s\n--- want\n%s\n", what, g, w);
		free(g);
		free(w);
		fail();
	}
}

/* Insert entry into primary; compare with the golden as parsed JSON, and as text when exact. */
static void check_insert(const char *primary, const char *entry_path, const char *golden,
			 bool exact_text)
{
	_cleanup_json_ json_t *existing = load_json(primary);
	_cleanup_json_ json_t *entry = load_json(entry_path);
	_cleanup_json_ json_t *want = load_json(golden);
	_cleanup_json_ json_t *got = NULL;
	struct error err = {0};
	assert_int_equal(conflist_insert(existing, entry, &got, &err), 0);
	assert_json_equal(got, want, golden);

	_cleanup_free_ char *text = NULL;
	size_t len;
	assert_int_equal(conflist_dump(got, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_true(len > 0 && text[len - 1] == '\n');
	if (exact_text) {
		_cleanup_free_ char *gold = slurp(golden, NULL);
		assert_string_equal(text, gold);
	}
	/* The result is a valid list, holds our entry, and insertion is idempotent. */
	assert_int_equal(conflist_validate(got, true, &err), 0);
	assert_true(conflist_has_istio_entry(got));
	_cleanup_json_ json_t *again = NULL;
	assert_int_equal(conflist_insert(got, entry, &again, &err), 0);
	assert_json_equal(again, got, "second insertion");
}

/* ---- our own fixtures ---- */

static const char *const primaries[] = {
	"00-multus.conf",
	"05-cilium.conflist",
	"10-bridge.conf",
	"10-calico.conflist",
	"10-flannel.conflist",
	"10-ovn-kubernetes.conf",
	"20-calico-with-istio.conflist",
	"80-openshift-network.conf",
};

static void test_fixtures_insert_remove(void **state)
{
	for (size_t i = 0; i < ELEMENTSOF(primaries); i++) {
		const char *name = primaries[i];
		bool single = !cni_conf_name_is_list(name);
		char primary[512], golden[512], removed[512];
		(void)snprintf(primary, sizeof(primary), FIX "/primary/%s", name);
		(void)snprintf(golden, sizeof(golden), FIX "/expected/%s%s.chained", name,
			       single ? "list" : "");
		(void)snprintf(removed, sizeof(removed), FIX "/expected/%s%s.removed", name,
			       single ? "list" : "");

		_cleanup_json_ json_t *orig = load_json(primary);
		struct error err = {0};
		assert_int_equal(conflist_validate(orig, !single, &err), 0);
		check_insert(primary, FIX "/entry.json", golden, true);

		/* Removal gives the Python oracle's answer; for a list without
		 * istio-cni entries before, exactly the original. */
		_cleanup_json_ json_t *chained = load_json(golden);
		_cleanup_json_ json_t *back = NULL;
		size_t n = 0;
		assert_int_equal(conflist_remove(chained, &back, &n, &err), 0);
		assert_true(n >= 1);
		_cleanup_json_ json_t *want = load_json(removed);
		assert_json_equal(back, want, removed);
		assert_false(conflist_has_istio_entry(back));
		if (!single && strstr(name, "with-istio") == NULL)
			assert_json_equal(back, orig, "removal restores the original list");
	}
}

static void test_duplicates_become_one(void **state)
{
	_cleanup_json_ json_t *existing = load_json(FIX "/primary/20-calico-with-istio.conflist");
	_cleanup_json_ json_t *entry = load_json(FIX "/entry.json");
	_cleanup_json_ json_t *got = NULL;
	struct error err = {0};
	assert_int_equal(conflist_insert(existing, entry, &got, &err), 0);
	json_t *plugins = json_object_get(got, "plugins");
	size_t i, count = 0;
	json_t *p;
	json_array_foreach (plugins, i, p)
		if (strcmp(json_string_value(json_object_get(p, "type")), "istio-cni") == 0)
			count++;
	assert_int_equal(count, 1);
	/* Ours is last and has no cniVersion; the others keep their order. */
	p = json_array_get(plugins, json_array_size(plugins) - 1);
	assert_string_equal(json_string_value(json_object_get(p, "type")), "istio-cni");
	assert_null(json_object_get(p, "cniVersion"));
	assert_string_equal(json_string_value(json_object_get(json_array_get(plugins, 0), "type")),
			    "calico");
	assert_string_equal(json_string_value(json_object_get(json_array_get(plugins, 1), "type")),
			    "portmap");
	/* The inputs are untouched. */
	assert_int_equal(json_array_size(json_object_get(existing, "plugins")), 4);
	assert_non_null(json_object_get(entry, "cniVersion"));
}

struct validity_case {
	const char *path;
	bool valid;
	const char *msg_part;
};

static void run_validity(const struct validity_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *slash = strrchr(t[i].path, '/');
		char dir[512];
		(void)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - t[i].path), t[i].path);
		json_t *j = NULL;
		struct error err = {0};
		int r = cni_conf_load(dir, slash + 1, &j, &err);
		if (t[i].valid) {
			if (r < 0)
				fail_msg("%s: want valid, got %s", t[i].path, err.msg);
			json_decref(j);
		} else {
			if (r >= 0)
				fail_msg("%s: want invalid", t[i].path);
			assert_non_null(strstr(err.msg, slash + 1)); /* names the file */
			if (t[i].msg_part && !strstr(err.msg, t[i].msg_part))
				fail_msg("%s: \"%s\" lacks \"%s\"", t[i].path, err.msg,
					 t[i].msg_part);
		}
	}
}

static void test_validity_own(void **state)
{
	static const struct validity_case t[] = {
		{FIX "/invalid/empty.conf", false, "empty file"},
		{FIX "/invalid/truncated.conflist", false, "invalid JSON"},
		{FIX "/invalid/noplugins.conflist", false, "no plugins"},
		{FIX "/invalid/notype.conf", false, "missing 'type'"},
		{FIX "/invalid/noname.conflist", false, "no \"name\""},
		{FIX "/invalid/badcaps.conf", false, "capabilities"},
		{FIX "/invalid/emptytype.conflist", false, "missing 'type'"},
		{FIX "/invalid/array.conf", false, "not a JSON object"},
		{FIX "/primary/00-multus.conf", true, NULL},
		{FIX "/primary/10-calico.conflist", true, NULL},
		{FIX "/primary/10-bridge.conf", true, NULL},
		{FIX "/primary/80-openshift-network.conf", true, NULL},
	};
	run_validity(t, ELEMENTSOF(t));
}

struct inline_case {
	const char *json;
	bool is_list;
	bool valid;
};

static void test_validity_inline(void **state)
{
	static const struct inline_case t[] = {
		/* Go keeps the last duplicate; so must we, or libcni and we disagree. */
		{"{\"name\":\"a\",\"type\":\"x\",\"type\":\"bridge\"}", false, true},
		{"{\"name\":\"a\",\"type\":\"bridge\",\"cniVersion\":null}", false, true},
		{"{\"name\":5,\"type\":\"bridge\"}", false, false},
		{"{\"type\":\"bridge\",\"ipam\":\"host-local\"}", false, false},
		{"{\"type\":\"bridge\",\"dns\":{\"nameservers\":[1]}}", false, false},
		{"{\"type\":\"bridge\",\"prevResult\":[]}", false, false},
		{"{\"type\":7}", false, false},
		{"{\"name\":\"l\",\"plugins\":[{\"type\":\"a\"}]}", true, true},
		{"{\"name\":\"l\",\"cniVersion\":1,\"plugins\":[{\"type\":\"a\"}]}", true, false},
		{"{\"name\":\"l\",\"plugins\":{}}", true, false},
		{"{\"name\":\"l\",\"plugins\":[null]}", true, false},
		{"{\"name\":\"l\",\"disableCheck\":\"TRUE\",\"plugins\":[{\"type\":\"a\"}]}", true,
		 true},
		{"{\"name\":\"l\",\"disableCheck\":\"yes\",\"plugins\":[{\"type\":\"a\"}]}", true,
		 false},
		{"{\"name\":\"l\",\"cniVersions\":[\"1.0.0\",\"1.1.0\"],\"plugins\":[{\"type\":\"a\"}]}",
		 true, true},
		/* A conflist in a .conf file has no type: invalid as a .conf. */
		{"{\"name\":\"l\",\"plugins\":[{\"type\":\"a\"}]}", false, false},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		json_t *j = NULL;
		struct error err = {0};
		int r = conflist_parse(t[i].json, strlen(t[i].json), &j, &err);
		if (r >= 0)
			r = conflist_validate(j, t[i].is_list, &err);
		json_decref(j);
		if ((r >= 0) != t[i].valid)
			fail_msg("case %zu (%s): got %d (%s)", i, t[i].json, r, err.msg);
	}
}

static void test_insert_errors(void **state)
{
	static const char *const bad[] = {
		"{\"name\":\"l\"}",
		"{\"name\":\"l\",\"plugins\":\"x\"}",
		"{\"name\":\"l\",\"plugins\":[1]}",
	};
	_cleanup_json_ json_t *entry = load_json(FIX "/entry.json");
	for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
		_cleanup_json_ json_t *j = json_loads(bad[i], 0, NULL);
		json_t *out = NULL;
		struct error err = {0};
		assert_int_equal(conflist_insert(j, entry, &out, &err), -EINVAL);
		assert_int_equal(err.kind, ERR_CONFIG);
		assert_null(out);
	}
	_cleanup_json_ json_t *arr = json_array();
	json_t *out = NULL;
	struct error err = {0};
	assert_int_equal(conflist_insert(arr, entry, &out, &err), -EINVAL);
	_cleanup_json_ json_t *single = json_loads("{\"type\":\"bridge\"}", 0, NULL);
	size_t n;
	assert_int_equal(conflist_remove(single, &out, &n, &err), -EINVAL);
}

static void test_has_istio_entry(void **state)
{
	static const struct {
		const char *json;
		bool has;
	} t[] = {
		{"{\"plugins\":[{\"type\":\"istio-cni\"}]}", true},
		{"{\"plugins\":[{\"type\":\"calico\"},{\"type\":\"istio-cni\"}]}", true},
		{"{\"plugins\":[{\"type\":\"calico\"}]}", false},
		{"{\"plugins\":[{\"type\":\"prefix-istio-cni\"}]}", false},
		/* Current Istio requires every type to be a string. */
		{"{\"plugins\":[{\"type\":1},{\"type\":\"istio-cni\"}]}", false},
		{"{\"type\":\"istio-cni\"}", false},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_json_ json_t *j = json_loads(t[i].json, 0, NULL);
		assert_non_null(j);
		assert_int_equal(conflist_has_istio_entry(j), t[i].has);
	}
}

static void test_dump_format(void **state)
{
	_cleanup_json_ json_t *j = json_loads("{\"b\":[],\"a\":{},\"c\":[1,{\"z\":1,\"y\":null}]}",
					      JSON_PRESERVE_ORDER, NULL);
	_cleanup_free_ char *s = NULL, *o = NULL;
	size_t len;
	assert_int_equal(conflist_dump(j, &s, &len), 0);
	assert_string_equal(s, "{\n  \"a\": {},\n  \"b\": [],\n  \"c\": [\n    1,\n    {\n"
			       "      \"y\": null,\n      \"z\": 1\n    }\n  ]\n}\n");
	assert_int_equal(conflist_dump_ordered(j, &o, &len), 0);
	assert_true(strncmp(o, "{\n  \"b\": [],\n  \"a\": {},", 22) == 0);
}

/* ---- Istio's installer test data ---- */

static bool have_reference(void)
{
	return access(REF_INSTALL, F_OK) == 0 && access(REF_TEST, F_OK) == 0;
}

static void test_istio_goldens(void **state)
{
	if (!have_reference())
		skip();
	/* cni/pkg/install: TestInsertCNIConfig, with istio-cni.conf as our entry. */
	check_insert(REF_INSTALL "/bridge.conf", REF_INSTALL "/istio-cni.conf",
		     REF_INSTALL "/bridge.conf.golden", true);
	check_insert(REF_INSTALL "/list.conflist", REF_INSTALL "/istio-cni.conf",
		     REF_INSTALL "/list.conflist.golden", true);
	check_insert(REF_INSTALL "/list-with-istio.conflist", REF_INSTALL "/istio-cni.conf",
		     REF_INSTALL "/list-with-istio.conflist.golden", true);
	/* cni/test: the install-cni end-to-end goldens, entry = expected/YYY-istio-cni.conf. */
	check_insert(REF_TEST "/pre/calico.conflist", REF_TEST "/expected/YYY-istio-cni.conf",
		     REF_TEST "/expected/10-calico.conflist-istioconfig", true);
	check_insert(REF_TEST "/pre/minikube_cni.conf", REF_TEST "/expected/YYY-istio-cni.conf",
		     REF_TEST "/expected/minikube_cni.conflist.expected", true);
}

static void test_istio_removal(void **state)
{
	if (!have_reference())
		skip();
	static const struct {
		const char *in, *want;
	} t[] = {
		{REF_TEST "/expected/minikube_cni.conflist.expected",
		 REF_TEST "/expected/minikube_cni.conflist.clean"},
		{REF_TEST "/expected/10-calico.conflist-istioconfig",
		 REF_TEST "/pre/calico.conflist"},
		{REF_INSTALL "/list-with-istio.conflist", REF_INSTALL "/list-no-istio.conflist"},
		{REF_INSTALL "/list.conflist.golden", REF_INSTALL "/list.conflist"},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_json_ json_t *in = load_json(t[i].in);
		_cleanup_json_ json_t *want = load_json(t[i].want);
		_cleanup_json_ json_t *got = NULL;
		size_t n;
		struct error err = {0};
		assert_int_equal(conflist_remove(in, &got, &n, &err), 0);
		assert_int_equal(n, 1);
		assert_json_equal(got, want, t[i].want);
	}
}

static void test_istio_validity(void **state)
{
	if (!have_reference())
		skip();
	static const struct validity_case t[] = {
		{REF_TEST "/pre/non_json.conf", false, NULL},
		{REF_TEST "/pre/bad_minikube_cni.conf", false, "missing 'type'"},
		{REF_TEST "/pre/noname_calico.conflist", false, "name"},
		{REF_TEST "/pre/noplugins_calico.conflist", false, "plugins"},
		{REF_TEST "/pre/nover_calico.conflist", true, NULL},
		{REF_TEST "/pre/calico.conflist", true, NULL},
		{REF_TEST "/pre/minikube_cni.conf", true, NULL},
		{REF_INSTALL "/invalid-arr.conflist", false, NULL},
		{REF_INSTALL "/invalid-map.conflist", false, NULL},
		{REF_INSTALL "/bridge.conf", true, NULL},
		{REF_INSTALL "/list.conflist", true, NULL},
		{REF_INSTALL "/istio-cni-prefixed.conf", true, NULL},
	};
	run_validity(t, ELEMENTSOF(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_insert_remove),
		cmocka_unit_test(test_duplicates_become_one),
		cmocka_unit_test(test_validity_own),
		cmocka_unit_test(test_validity_inline),
		cmocka_unit_test(test_insert_errors),
		cmocka_unit_test(test_has_istio_entry),
		cmocka_unit_test(test_dump_format),
		cmocka_unit_test(test_istio_goldens),
		cmocka_unit_test(test_istio_removal),
		cmocka_unit_test(test_istio_validity),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
