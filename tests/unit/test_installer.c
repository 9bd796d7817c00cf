// SPDX-License-Identifier: Apache-2.0
/*
 * install/installer over temp dirs: install, check, uninstall for every
 * primary fixture in chained mode and for standalone mode; mode
 * preservation; a .conf primary becomes a .conflist and comes back on
 * uninstall; unparsable and empty primaries never rewritten; CNI_CONF_NAME;
 * the 1.7 template era; binary copy options; kubeconfig refresh.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_config.h"
#include "conflist.h"
#include "installer.h"
#include "util/file_util.h"

#define FIX TEST_SOURCE_DIR "/fixtures/install"

struct env {
	char root[64];
	char net[128], bin_src[128], bin_dst[128], run[128], sa[128];
};

static void write_str(const char *path, const char *s, mode_t mode)
{
	assert_int_equal(file_write_atomic(path, s, strlen(s), mode), 0);
}

static char *slurp(const char *path)
{
	char *buf = NULL;
	size_t len;
	if (file_read_full(path, 1 << 20, &buf, &len) < 0)
		return NULL;
	return buf;
}

static void copy_file(const char *src, const char *dst, mode_t mode)
{
	_cleanup_free_ char *s = slurp(src);
	assert_non_null(s);
	write_str(dst, s, mode);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	(void)snprintf(e->root, sizeof(e->root), "/tmp/test_installer.XXXXXX");
	if (!mkdtemp(e->root))
		return -1;
	(void)snprintf(e->net, sizeof(e->net), "%s/net.d", e->root);
	(void)snprintf(e->bin_src, sizeof(e->bin_src), "%s/src", e->root);
	(void)snprintf(e->bin_dst, sizeof(e->bin_dst), "%s/bin", e->root);
	(void)snprintf(e->run, sizeof(e->run), "%s/run/istio-cni", e->root);
	(void)snprintf(e->sa, sizeof(e->sa), "%s/sa", e->root);
	if (mkdir(e->net, 0755) < 0 || mkdir(e->bin_src, 0755) < 0 || mkdir(e->bin_dst, 0755) < 0 ||
	    mkdir(e->sa, 0755) < 0)
		return -1;
	char p[256];
	(void)snprintf(p, sizeof(p), "%s/istio-cni", e->bin_src);
	write_str(p, "#!/bin/sh\necho plugin\n", 0755);
	(void)snprintf(p, sizeof(p), "%s/token", e->sa);
	write_str(p, "tok-1\n", 0600);
	(void)snprintf(p, sizeof(p), "%s/ca.crt", e->sa);
	copy_file(FIX "/kubeconfig/ca.crt", p, 0644);
	*state = e;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	struct env *e = *state;
	(void)nftw(e->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static struct agent_config *make_config(const struct env *e, const char *const *extra)
{
	char v[12][200];
	const char *envp[32];
	size_t n = 0;
	(void)snprintf(v[0], sizeof(v[0]), "MOUNTED_CNI_NET_DIR=%s", e->net);
	(void)snprintf(v[1], sizeof(v[1]), "CNI_BIN_SOURCE_DIR=%s", e->bin_src);
	(void)snprintf(v[2], sizeof(v[2]), "MOUNTED_CNI_BIN_DIR=%s", e->bin_dst);
	(void)snprintf(v[3], sizeof(v[3]), "CNI_AGENT_RUN_DIR=%s", e->run);
	(void)snprintf(v[4], sizeof(v[4]), "SERVICE_ACCOUNT_DIR=%s", e->sa);
	for (size_t i = 0; i < 5; i++)
		envp[n++] = v[i];
	envp[n++] = "KUBERNETES_SERVICE_HOST=10.96.0.1";
	envp[n++] = "KUBERNETES_SERVICE_PORT=443";
	envp[n++] = "KUBERNETES_NODE_NAME=node-1";
	envp[n++] = "EXCLUDE_NAMESPACES=kube-system,istio-system";
	envp[n++] = "POD_NAMESPACE=istio-system";
	for (size_t i = 0; extra && extra[i]; i++)
		envp[n++] = extra[i];
	envp[n] = NULL;
	struct agent_config *c = NULL;
	struct error err = {0};
	if (agent_config_from_env(envp, &c, &err) < 0)
		fail_msg("config: %s", err.msg);
	return c;
}

/* The installer over the agent's view of c (c outlives it). */
static int new_installer(const struct agent_config *c, struct installer **ret, struct error *err)
{
	struct install_config ic;
	agent_config_to_install(c, &ic);
	return installer_new(&ic, ret, err);
}

static json_t *load_json(const char *path)
{
	_cleanup_free_ char *s = slurp(path);
	if (!s)
		fail_msg("missing %s", path);
	json_t *j = json_loads(s, 0, NULL);
	assert_non_null(j);
	return j;
}

static bool exists(const char *dir, const char *name)
{
	char p[512];
	(void)snprintf(p, sizeof(p), "%s/%s", dir, name);
	return access(p, F_OK) == 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void assert_valid(struct installer *in, bool want)
{
	bool valid = !want;
	struct error err = {0};
	assert_int_equal(installer_check(in, &valid, &err), 0);
	assert_int_equal(valid, want);
}

/* Only regular files other than our temp leftovers. */
static size_t count_temps(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".tmp."))
			n++;
	closedir(d);
	return n;
}

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

static void test_chained_every_primary(void **state)
{
	struct env *e = *state;
	for (size_t i = 0; i < ELEMENTSOF(primaries); i++) {
		const char *name = primaries[i];
		bool single = strcmp(name + strlen(name) - 5, ".conf") == 0;
		char src[256], dst[256], list_name[128], list_path[256], golden[256];
		(void)snprintf(src, sizeof(src), FIX "/primary/%s", name);
		(void)snprintf(dst, sizeof(dst), "%s/%s", e->net, name);
		(void)snprintf(list_name, sizeof(list_name), "%s%s", name, single ? "list" : "");
		(void)snprintf(list_path, sizeof(list_path), "%s/%s", e->net, list_name);
		(void)snprintf(golden, sizeof(golden), FIX "/expected/%s.chained", list_name);
		copy_file(src, dst, 0644);
		_cleanup_free_ char *orig = slurp(dst);

		_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, NULL);
		_cleanup_(installer_freep) struct installer *in = NULL;
		struct error err = {0};
		assert_int_equal(new_installer(c, &in, &err), 0);
		assert_null(installer_conf_path(in));
		assert_valid(in, false);
		if (installer_install(in, &err) < 0)
			fail_msg("%s: %s", name, err.msg);
		assert_int_equal(installer_last_result(in), INSTALL_SUCCESS);
		assert_string_equal(installer_conf_path(in), list_path);
		assert_valid(in, true);

		/* Content: the oracle's, byte for byte; the mode kept; a .conf gone. */
		_cleanup_free_ char *got = slurp(list_path), *want = NULL;
		_cleanup_json_ json_t *wj = load_json(golden);
		json_t *wp = json_object_get(wj, "plugins");
		json_object_set_new(json_array_get(wp, json_array_size(wp) - 1),
				    "cni_agent_run_dir", json_string(e->run));
		size_t wlen;
		assert_int_equal(conflist_dump(wj, &want, &wlen), 0);
		assert_string_equal(got, want);
		assert_int_equal(mode_of(list_path), 0644);
		assert_int_equal(exists(e->net, name), !single);
		assert_int_equal(count_temps(e->net), 0);

		/* Idempotent: a second pass writes nothing new. */
		struct stat before, after;
		assert_int_equal(stat(list_path, &before), 0);
		assert_int_equal(installer_install(in, &err), 0);
		assert_int_equal(stat(list_path, &after), 0);
		assert_int_equal(before.st_ino, after.st_ino);

		assert_int_equal(installer_uninstall(in, &err), 0);
		assert_false(exists(e->bin_dst, "istio-cni"));
		assert_false(exists(e->run, "istio-cni-kubeconfig"));
		if (single) {
			/* The .conf comes back byte for byte, the .conflist goes. */
			assert_false(exists(e->net, list_name));
			_cleanup_free_ char *back = slurp(dst);
			assert_string_equal(back, orig);
			assert_int_equal(mode_of(dst), 0644);
		} else {
			_cleanup_json_ json_t *back = load_json(list_path);
			char removed[256];
			(void)snprintf(removed, sizeof(removed), FIX "/expected/%s.removed",
				       list_name);
			_cleanup_json_ json_t *want_back = load_json(removed);
			assert_true(json_equal(back, want_back));
			if (!strstr(name, "with-istio")) {
				_cleanup_json_ json_t *o = json_loads(orig, 0, NULL);
				assert_true(json_equal(back, o)); /* same parsed JSON as before */
			}
			assert_int_equal(unlink(list_path), 0);
		}
		if (single)
			assert_int_equal(unlink(dst), 0);
		assert_int_equal(count_temps(e->net), 0);
	}
}

static void test_first_valid_wins_invalid_untouched(void **state)
{
	struct env *e = *state;
	char p[256];
	/* Byte order: 00-empty < 01-garbage < 05-dir.conflist (a dir) < 10-flannel < 20-calico. */
	(void)snprintf(p, sizeof(p), "%s/00-empty.conf", e->net);
	write_str(p, "", 0600);
	(void)snprintf(p, sizeof(p), "%s/01-garbage.conflist", e->net);
	write_str(p, "{\"name\": \"x\", \"plugins\": [", 0600);
	(void)snprintf(p, sizeof(p), "%s/05-dir.conflist", e->net);
	assert_int_equal(mkdir(p, 0755), 0);
	(void)snprintf(p, sizeof(p), "%s/09-ignored.json", e->net);
	copy_file(FIX "/primary/05-cilium.conflist", p, 0600);
	(void)snprintf(p, sizeof(p), "%s/10-flannel.conflist", e->net);
	copy_file(FIX "/primary/10-flannel.conflist", p, 0640);
	(void)snprintf(p, sizeof(p), "%s/20-calico.conflist", e->net);
	copy_file(FIX "/primary/10-calico.conflist", p, 0600);

	_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, NULL);
	_cleanup_(installer_freep) struct installer *in = NULL;
	struct error err = {0};
	assert_int_equal(new_installer(c, &in, &err), 0);
	assert_int_equal(installer_install(in, &err), 0);
	(void)snprintf(p, sizeof(p), "%s/10-flannel.conflist", e->net);
	assert_string_equal(installer_conf_path(in), p);
	assert_int_equal(mode_of(p), 0640);

	_cleanup_free_ char *empty = NULL, *garbage = NULL, *calico = NULL;
	(void)snprintf(p, sizeof(p), "%s/00-empty.conf", e->net);
	empty = slurp(p);
	assert_string_equal(empty, "");
	(void)snprintf(p, sizeof(p), "%s/01-garbage.conflist", e->net);
	garbage = slurp(p);
	assert_string_equal(garbage, "{\"name\": \"x\", \"plugins\": [");
	(void)snprintf(p, sizeof(p), "%s/20-calico.conflist", e->net);
	calico = slurp(p);
	assert_null(strstr(calico, "istio-cni"));

	/* A new higher-priority valid conf preempts ours: check says re-install. */
	(void)snprintf(p, sizeof(p), "%s/02-cilium.conflist", e->net);
	copy_file(FIX "/primary/05-cilium.conflist", p, 0600);
	assert_valid(in, false);
	assert_int_equal(installer_install(in, &err), 0);
	assert_string_equal(installer_conf_path(in), p);
	assert_valid(in, true);

	/* Someone rewrites our file without our entry: invalid; removed: invalid. */
	copy_file(FIX "/primary/05-cilium.conflist", p, 0600);
	assert_valid(in, false);
	assert_int_equal(installer_install(in, &err), 0);
	assert_valid(in, true);
	assert_int_equal(unlink(p), 0);
	assert_valid(in, false);
	assert_int_equal(installer_uninstall(in, &err), 0);
}

static void test_no_valid_conf(void **state)
{
	struct env *e = *state;
	char p[256];
	(void)snprintf(p, sizeof(p), "%s/10-broken.conf", e->net);
	write_str(p, "not json", 0600);
	_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, NULL);
	_cleanup_(installer_freep) struct installer *in = NULL;
	struct error err = {0};
	assert_int_equal(new_installer(c, &in, &err), 0);
	assert_int_equal(installer_install(in, &err), -ENOENT);
	assert_int_equal(installer_last_result(in), INSTALL_CREATE_CNI_CONFIG_FAILURE);
	assert_string_equal(install_result_to_string(installer_last_result(in)),
			    "CREATE_CNI_CONFIG_FAILURE");
	assert_non_null(strstr(err.msg, "no valid networks found"));
	assert_non_null(strstr(err.details, "10-broken.conf"));
	_cleanup_free_ char *s = slurp(p);
	assert_string_equal(s, "not json");
	/* The binary and kubeconfig went in before; uninstall removes them. */
	assert_true(exists(e->bin_dst, "istio-cni"));
	assert_int_equal(installer_uninstall(in, &err), 0);
	assert_false(exists(e->bin_dst, "istio-cni"));
}

static void test_conf_name(void **state)
{
	struct env *e = *state;
	char p[256];
	/* CNI_CONF_NAME=X.conf while only X.conflist exists: the swap. */
	(void)snprintf(p, sizeof(p), "%s/10-calico.conflist", e->net);
	copy_file(FIX "/primary/10-calico.conflist", p, 0600);
	char q[256];
	(void)snprintf(q, sizeof(q), "%s/00-flannel.conflist", e->net);
	copy_file(FIX "/primary/10-flannel.conflist", q, 0600);
	const char *const extra[] = {"CNI_CONF_NAME=10-calico.conf", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, extra);
	_cleanup_(installer_freep) struct installer *in = NULL;
	struct error err = {0};
	assert_int_equal(new_installer(c, &in, &err), 0);
	assert_int_equal(installer_install(in, &err), 0);
	assert_string_equal(installer_conf_path(in), p);
	/* Preempted by 00-flannel, but with CNI_CONF_NAME set that is only a warning. */
	assert_valid(in, true);
	_cleanup_free_ char *f = slurp(q);
	assert_null(strstr(f, "istio-cni"));
	assert_int_equal(installer_uninstall(in, &err), 0);

	/* A named file that is not valid is reported by name and left alone. */
	(void)snprintf(p, sizeof(p), "%s/99-named.conflist", e->net);
	write_str(p, "{}", 0600);
	const char *const extra2[] = {"CNI_CONF_NAME=99-named.conflist", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c2 = make_config(e, extra2);
	_cleanup_(installer_freep) struct installer *in2 = NULL;
	assert_int_equal(new_installer(c2, &in2, &err), 0);
	error_clear(&err);
	assert_true(installer_install(in2, &err) < 0);
	assert_non_null(strstr(err.msg, "99-named.conflist"));
	_cleanup_free_ char *s = slurp(p);
	assert_string_equal(s, "{}");

	/* A name that exists under neither extension. */
	const char *const extra3[] = {"CNI_CONF_NAME=missing.conf", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c3 = make_config(e, extra3);
	_cleanup_(installer_freep) struct installer *in3 = NULL;
	assert_int_equal(new_installer(c3, &in3, &err), 0);
	error_clear(&err);
	assert_int_equal(installer_install(in3, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "missing.conf"));
}

static void test_standalone(void **state)
{
	struct env *e = *state;
	char p[256];
	(void)snprintf(p, sizeof(p), "%s/00-multus.conf", e->net);
	copy_file(FIX "/primary/00-multus.conf", p, 0600);
	static const struct {
		const char *extra[4];
		const char *file;
		mode_t mode;
	} t[] = {
		{{"CHAINED_CNI_PLUGIN=false", NULL}, "YYY-istio-cni.conf", 0600},
		{{"CHAINED_CNI_PLUGIN=false", "CNI_CONF_NAME=istio-cni.conf",
		  "CNI_CONF_GROUP_READ=true", NULL},
		 "istio-cni.conf",
		 0640},
	};
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, t[i].extra);
		_cleanup_(installer_freep) struct installer *in = NULL;
		struct error err = {0};
		assert_int_equal(new_installer(c, &in, &err), 0);
		assert_int_equal(installer_install(in, &err), 0);
		char ours[256];
		(void)snprintf(ours, sizeof(ours), "%s/%s", e->net, t[i].file);
		assert_string_equal(installer_conf_path(in), ours);
		assert_int_equal(mode_of(ours), t[i].mode);
		_cleanup_free_ char *got = slurp(ours),
				    *want = slurp(FIX "/expected/YYY-istio-cni.conf");
		_cleanup_json_ json_t *g = json_loads(got, 0, NULL);
		assert_string_equal(json_string_value(json_object_get(g, "name")), "istio-cni");
		assert_string_equal(json_string_value(json_object_get(g, "type")), "istio-cni");
		assert_string_equal(json_string_value(json_object_get(g, "cniVersion")), "0.3.1");
		json_object_set_new(g, "cni_agent_run_dir", json_string("/var/run/istio-cni"));
		_cleanup_json_ json_t *w = json_loads(want, 0, NULL);
		assert_true(json_equal(g, w));
		/* Multus' conf untouched; check valid (preempted by 00-multus: a warning). */
		_cleanup_free_ char *m = slurp(p);
		assert_null(strstr(m, "istio"));
		assert_valid(in, true);
		/* Our file's type changed: invalid. */
		write_str(ours, "{\"name\":\"x\",\"type\":\"bridge\"}", t[i].mode);
		assert_valid(in, false);
		assert_int_equal(installer_install(in, &err), 0);
		assert_int_equal(mode_of(ours), t[i].mode); /* preserved */
		assert_valid(in, true);
		assert_int_equal(installer_uninstall(in, &err), 0);
		assert_false(exists(e->net, t[i].file));
		assert_true(exists(e->net, "00-multus.conf"));
	}
}

static void test_kubeconfig_and_binary(void **state)
{
	struct env *e = *state;
	char p[256], kc[256], bin[256];
	(void)snprintf(p, sizeof(p), "%s/10-calico.conflist", e->net);
	copy_file(FIX "/primary/10-calico.conflist", p, 0600);
	(void)snprintf(kc, sizeof(kc), "%s/istio-cni-kubeconfig", e->run);
	(void)snprintf(bin, sizeof(bin), "%s/istio-cni", e->bin_dst);
	/* A stale temp from a killed copy. */
	char stale[256];
	(void)snprintf(stale, sizeof(stale), "%s/istio-cni.tmp.abc123", e->bin_dst);
	write_str(stale, "partial", 0600);

	const char *const extra[] = {"KUBECONFIG_MODE=0640", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, extra);
	_cleanup_(installer_freep) struct installer *in = NULL;
	struct error err = {0};
	assert_int_equal(new_installer(c, &in, &err), 0);
	assert_string_equal(installer_kubeconfig_path(in), kc);
	assert_string_equal(installer_binary_path(in), bin);
	assert_string_equal(installer_sa_dir(in), e->sa);
	assert_string_equal(installer_conf_dir(in), e->net);
	assert_int_equal(installer_install(in, &err), 0);
	assert_false(access(stale, F_OK) == 0);
	assert_int_equal(mode_of(bin), 0755);
	_cleanup_free_ char *b = slurp(bin);
	assert_string_equal(b, "#!/bin/sh\necho plugin\n");
	assert_int_equal(mode_of(kc), 0640);
	_cleanup_free_ char *k1 = slurp(kc);
	assert_non_null(strstr(k1, "    token: tok-1\n"));
	assert_non_null(strstr(k1, "server: https://10.96.0.1:443\n"));

	/* Token rotation. */
	char tok[256];
	(void)snprintf(tok, sizeof(tok), "%s/token", e->sa);
	write_str(tok, "tok-2", 0600);
	assert_int_equal(installer_refresh_kubeconfig(in, &err), 0);
	_cleanup_free_ char *k2 = slurp(kc);
	assert_non_null(strstr(k2, "    token: tok-2\n"));

	/* A changed source binary is copied again (new inode); a same one is not. */
	struct stat s1, s2;
	assert_int_equal(stat(bin, &s1), 0);
	assert_int_equal(installer_install(in, &err), 0);
	assert_int_equal(stat(bin, &s2), 0);
	assert_int_equal(s1.st_ino, s2.st_ino);
	char src[256];
	(void)snprintf(src, sizeof(src), "%s/istio-cni", e->bin_src);
	write_str(src, "#!/bin/sh\necho v2\n", 0750);
	assert_int_equal(installer_install(in, &err), 0);
	_cleanup_free_ char *b2 = slurp(bin);
	assert_string_equal(b2, "#!/bin/sh\necho v2\n");
	assert_int_equal(mode_of(bin), 0750);
	assert_int_equal(installer_uninstall(in, &err), 0);
	assert_false(exists(e->run, "istio-cni-kubeconfig"));
	assert_false(exists(e->bin_dst, "istio-cni"));
	/* Uninstall twice is fine. */
	assert_int_equal(installer_uninstall(in, &err), 0);

	/* UPDATE_CNI_BINARIES=false keeps an existing binary; SKIP_CNI_BINARIES skips. */
	write_str(bin, "old", 0755);
	const char *const keep[] = {"UPDATE_CNI_BINARIES=false", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c2 = make_config(e, keep);
	_cleanup_(installer_freep) struct installer *in2 = NULL;
	assert_int_equal(new_installer(c2, &in2, &err), 0);
	assert_int_equal(installer_install(in2, &err), 0);
	_cleanup_free_ char *b3 = slurp(bin);
	assert_string_equal(b3, "old");
	assert_int_equal(installer_uninstall(in2, &err), 0);
	const char *const skip[] = {"SKIP_CNI_BINARIES=istio-cni", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c3 = make_config(e, skip);
	_cleanup_(installer_freep) struct installer *in3 = NULL;
	assert_int_equal(new_installer(c3, &in3, &err), 0);
	assert_int_equal(installer_install(in3, &err), 0);
	assert_false(exists(e->bin_dst, "istio-cni"));
	assert_int_equal(installer_uninstall(in3, &err), 0);

	/* Failures are recorded with Istio's result names. */
	const char *const nohost[] = {"KUBERNETES_SERVICE_HOST=", NULL};
	_cleanup_(agent_config_freep) struct agent_config *c4 = make_config(e, nohost);
	/* make_config put a host first; an empty later duplicate is ignored by env_get, so
	 * drop the host by hand. */
	free(c4->kubernetes_service_host);
	c4->kubernetes_service_host = NULL;
	_cleanup_(installer_freep) struct installer *in4 = NULL;
	assert_int_equal(new_installer(c4, &in4, &err), 0);
	error_clear(&err);
	assert_true(installer_install(in4, &err) < 0);
	assert_int_equal(installer_last_result(in4), INSTALL_CREATE_KUBECONFIG_FAILURE);
	assert_non_null(strstr(err.msg, "Is this not running within a pod?"));
	assert_int_equal(installer_uninstall(in4, &err), 0);

	free(c4->cni_bin_source_dir);
	c4->cni_bin_source_dir = strdup("/nonexistent-src");
	_cleanup_(installer_freep) struct installer *in5 = NULL;
	assert_int_equal(new_installer(c4, &in5, &err), 0);
	error_clear(&err);
	assert_true(installer_install(in5, &err) < 0);
	assert_int_equal(installer_last_result(in5), INSTALL_COPY_BINARIES_FAILURE);
	assert_string_equal(install_result_to_string(INSTALL_COPY_BINARIES_FAILURE),
			    "COPY_BINARIES_FAILURE");
	assert_string_equal(install_result_to_string(INSTALL_SUCCESS), "SUCCESS");
}

static void test_legacy_template(void **state)
{
	struct env *e = *state;
	char p[256];
	(void)snprintf(p, sizeof(p), "%s/10-calico.conflist", e->net);
	copy_file(FIX "/primary/10-calico.conflist", p, 0644);
	const char *const extra[] = {
		"CNI_NETWORK_CONFIG={\"cniVersion\":\"0.3.1\",\"name\":\"istio-cni\","
		"\"type\":\"istio-cni\",\"log_level\":\"__LOG_LEVEL__\",\"kubernetes\":{"
		"\"kubeconfig\":\"__KUBECONFIG_FILEPATH__\",\"cni_bin_dir\":\"/opt/cni/bin\","
		"\"exclude_namespaces\":[\"istio-system\"]}}",
		"LOG_LEVEL=info",
		NULL,
	};
	_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, extra);
	_cleanup_(installer_freep) struct installer *in = NULL;
	struct error err = {0};
	assert_int_equal(new_installer(c, &in, &err), 0);
	assert_int_equal(installer_install(in, &err), 0);
	/* 1.7: the kubeconfig sits in the conf dir; the plugin points at the host path. */
	assert_true(exists(e->net, "ZZZ-istio-cni-kubeconfig"));
	assert_false(exists(e->run, "istio-cni-kubeconfig"));
	_cleanup_json_ json_t *j = load_json(p);
	json_t *plugins = json_object_get(j, "plugins");
	json_t *ours = json_array_get(plugins, json_array_size(plugins) - 1);
	assert_string_equal(json_string_value(json_object_get(ours, "log_level")), "info");
	assert_string_equal(json_string_value(json_object_get(json_object_get(ours, "kubernetes"),
							      "kubeconfig")),
			    "/etc/cni/net.d/ZZZ-istio-cni-kubeconfig");
	assert_null(json_object_get(ours, "cniVersion"));
	_cleanup_free_ char *kc = NULL;
	char kcp[256];
	(void)snprintf(kcp, sizeof(kcp), "%s/ZZZ-istio-cni-kubeconfig", e->net);
	kc = slurp(kcp);
	assert_true(strncmp(kc, "# Kubeconfig file for Istio CNI plugin.\n", 40) == 0);
	assert_non_null(strstr(kc, "server: https://[10.96.0.1]:443\n"));
	assert_valid(in, true);
	assert_int_equal(installer_uninstall(in, &err), 0);
	assert_false(exists(e->net, "ZZZ-istio-cni-kubeconfig"));
	_cleanup_json_ json_t *back = load_json(p);
	_cleanup_json_ json_t *orig = load_json(FIX "/primary/10-calico.conflist");
	assert_true(json_equal(back, orig));
	assert_int_equal(mode_of(p), 0644);
}

static void test_uninstall_unparsable(void **state)
{
	struct env *e = *state;
	char p[256];
	(void)snprintf(p, sizeof(p), "%s/10-flannel.conflist", e->net);
	copy_file(FIX "/primary/10-flannel.conflist", p, 0600);
	_cleanup_(agent_config_freep) struct agent_config *c = make_config(e, NULL);
	_cleanup_(installer_freep) struct installer *in = NULL;
	struct error err = {0};
	assert_int_equal(new_installer(c, &in, &err), 0);
	assert_int_equal(installer_install(in, &err), 0);
	/* Someone corrupts the file: uninstall reports it, does not rewrite it, and still
	 * removes the kubeconfig and the binary. */
	write_str(p, "{ corrupt", 0600);
	error_clear(&err);
	assert_true(installer_uninstall(in, &err) < 0);
	assert_non_null(strstr(err.msg, "10-flannel.conflist"));
	_cleanup_free_ char *s = slurp(p);
	assert_string_equal(s, "{ corrupt");
	assert_false(exists(e->run, "istio-cni-kubeconfig"));
	assert_false(exists(e->bin_dst, "istio-cni"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chained_every_primary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_first_valid_wins_invalid_untouched, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_no_valid_conf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conf_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_standalone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kubeconfig_and_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_template, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uninstall_unparsable, setup, teardown),
	};
	log_setup("test", LOG_LEVEL_ERROR, false);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
