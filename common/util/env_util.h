/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Settings from an environment block (envp, as main's third argument or
 * environ): lookups and typed parsing with errors that name the variable.
 * A variable set to the empty string counts as unset everywhere here, as in
 * Istio's agent (viper). Values go through parse_util.h.
 */
#ifndef ISTIO_CNI_ENV_UTIL_H
#define ISTIO_CNI_ENV_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

/*
 * The value of the first "name=value" of envp (which may be NULL), or NULL
 * when name is absent or empty. The string is borrowed from envp.
 */
const char *env_get(const char *const *envp, const char *name);

/*
 * A copy of name's value, else of def; *ret is NULL when both are missing.
 * Returns 0 or -ENOMEM (err is left to the caller). *ret is the caller's.
 */
int env_string(const char *const *envp, const char *name, const char *def, char **ret) _must_check_;

/*
 * name as a boolean (parse_bool: true/false/1/0 and Go's other spellings),
 * def when unset. Otherwise -EINVAL with ERR_CONFIG naming name and value.
 */
int env_bool(const char *const *envp, const char *name, bool def, bool *ret, struct error *err)
	_must_check_;

/* name as a port 1-65535 (parse_port), def when unset; -EINVAL (ERR_CONFIG) otherwise. */
int env_port(const char *const *envp, const char *name, uint16_t def, uint16_t *ret,
	     struct error *err) _must_check_;

#endif
