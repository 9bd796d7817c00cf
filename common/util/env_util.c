// SPDX-License-Identifier: Apache-2.0
#include "util/env_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/parse_util.h"

const char *env_get(const char *const *envp, const char *name)
{
	size_t n = strlen(name);
	if (!envp)
		return NULL;
	for (const char *const *e = envp; *e; e++) {
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
			const char *v = *e + n + 1;
			return v[0] ? v : NULL;
		}
	}
	return NULL;
}

int env_string(const char *const *envp, const char *name, const char *def, char **ret)
{
	const char *v = env_get(envp, name);
	if (!v)
		v = def;
	if (!v) {
		*ret = NULL;
		return 0;
	}
	char *s = strdup(v);
	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

int env_bool(const char *const *envp, const char *name, bool def, bool *ret, struct error *err)
{
	const char *v = env_get(envp, name);
	if (!v) {
		*ret = def;
		return 0;
	}
	if (parse_bool(v, ret) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL,
				 "%s=\"%s\": not a boolean (true/false/1/0)", name, v);
	return 0;
}

int env_port(const char *const *envp, const char *name, uint16_t def, uint16_t *ret,
	     struct error *err)
{
	const char *v = env_get(envp, name);
	if (!v) {
		*ret = def;
		return 0;
	}
	if (parse_port(v, ret) < 0)
		return error_set(err, ERR_CONFIG, -EINVAL, "%s=\"%s\": not a port (1-65535)", name,
				 v);
	return 0;
}
