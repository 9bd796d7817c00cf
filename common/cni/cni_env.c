// SPDX-License-Identifier: Apache-2.0
#include "cni/cni_env.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/parse_util.h"

static const char *const command_names[_CNI_CMD_MAX] = {
	[CNI_CMD_ADD] = "ADD",	       [CNI_CMD_DEL] = "DEL",	    [CNI_CMD_CHECK] = "CHECK",
	[CNI_CMD_VERSION] = "VERSION", [CNI_CMD_STATUS] = "STATUS", [CNI_CMD_GC] = "GC",
};

enum env_var {
	ENV_CONTAINERID,
	ENV_NETNS,
	ENV_IFNAME,
	ENV_ARGS,
	ENV_PATH,
	_ENV_VAR_MAX,
};

/*
 * Which verb requires which variable: libcni's skel table (v1.x), except
 * that STATUS and GC do not need CNI_PATH: we never exec a delegate, and a
 * failing STATUS would mark the node's network not ready (containerd does).
 */
static const struct {
	const char *name;
	bool required[_CNI_CMD_MAX];
} env_table[_ENV_VAR_MAX] = {
	[ENV_CONTAINERID] = {"CNI_CONTAINERID",
			     {[CNI_CMD_ADD] = true, [CNI_CMD_DEL] = true, [CNI_CMD_CHECK] = true}},
	[ENV_NETNS] = {"CNI_NETNS", {[CNI_CMD_ADD] = true, [CNI_CMD_CHECK] = true}},
	[ENV_IFNAME] = {"CNI_IFNAME",
			{[CNI_CMD_ADD] = true, [CNI_CMD_DEL] = true, [CNI_CMD_CHECK] = true}},
	[ENV_ARGS] = {"CNI_ARGS", {}},
	[ENV_PATH] = {"CNI_PATH",
		      {[CNI_CMD_ADD] = true, [CNI_CMD_DEL] = true, [CNI_CMD_CHECK] = true}},
};

int cni_command_from_string(const char *s, enum cni_command *ret)
{
	for (int i = 0; i < _CNI_CMD_MAX; i++)
		if (s && strcmp(s, command_names[i]) == 0) {
			*ret = (enum cni_command)i;
			return 0;
		}
	return -EINVAL;
}

const char *cni_command_to_string(enum cni_command c)
{
	return c >= 0 && c < _CNI_CMD_MAX ? command_names[c] : "?";
}

const char *cni_env_lookup(const char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
			return *envp + n + 1;
	return NULL;
}

/* libcni's container ID rule: starts alphanumeric, then [A-Za-z0-9_.-]. */
static bool container_id_valid(const char *s)
{
	if (!s || !isalnum((unsigned char)s[0]))
		return false;
	for (const char *p = s; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

int cni_env_load(const char *const *envp, struct cni_env *ret, struct error *err)
{
	const char *cmd = cni_env_lookup(envp, "CNI_COMMAND");
	if (!cmd || cmd[0] == '\0')
		return -ENOENT;

	struct cni_env e = {0};
	if (cni_command_from_string(cmd, &e.command) < 0)
		return error_set(err, ERR_ENV, -EINVAL, "unknown CNI_COMMAND: \"%.64s\"", cmd);

	const char *val[_ENV_VAR_MAX];
	char missing[256] = "";
	size_t mlen = 0;
	for (int i = 0; i < _ENV_VAR_MAX; i++) {
		val[i] = cni_env_lookup(envp, env_table[i].name);
		if (val[i] && val[i][0] == '\0')
			val[i] = NULL;
		if (!val[i] && env_table[i].required[e.command]) {
			int k = snprintf(missing + mlen, sizeof(missing) - mlen, "%s%s",
					 mlen ? " " : "", env_table[i].name);
			if (k > 0 && (size_t)k < sizeof(missing) - mlen)
				mlen += (size_t)k;
		}
	}
	if (mlen > 0)
		return error_set(err, ERR_ENV, -EINVAL, "required env variables [%s] missing",
				 missing);

	if (val[ENV_CONTAINERID] && !container_id_valid(val[ENV_CONTAINERID]))
		return error_set(err, ERR_ENV, -EINVAL, "invalid CNI_CONTAINERID \"%.128s\"",
				 val[ENV_CONTAINERID]);
	if (val[ENV_IFNAME] && !parse_ifname_valid(val[ENV_IFNAME]))
		return error_set(err, ERR_ENV, -EINVAL, "invalid CNI_IFNAME \"%.64s\"",
				 val[ENV_IFNAME]);

	e.container_id = val[ENV_CONTAINERID];
	e.netns = val[ENV_NETNS];
	e.ifname = val[ENV_IFNAME];
	e.args = val[ENV_ARGS];
	e.path = val[ENV_PATH];
	*ret = e;
	return 0;
}
