/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CNI_* environment, read through one table of which verb needs which
 * variable (as libcni's skel does), and validated once.
 */
#ifndef ISTIO_CNI_CNI_ENV_H
#define ISTIO_CNI_CNI_ENV_H

#include "util/error.h"

enum cni_command {
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
	CNI_CMD_STATUS,
	CNI_CMD_GC,
	_CNI_CMD_MAX,
	_CNI_CMD_INVALID = -1,
};

struct cni_env {
	enum cni_command command;
	/* Borrowed from the environment block passed to cni_env_load(). */
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *args;
	const char *path;
};

/* "ADD" → CNI_CMD_ADD; -EINVAL for anything else. */
int cni_command_from_string(const char *s, enum cni_command *ret) _must_check_;
const char *cni_command_to_string(enum cni_command c);

/* Looks up name in a NULL-terminated "K=V" array; borrowed result or NULL. */
const char *cni_env_lookup(const char *const *envp, const char *name);

/*
 * Reads CNI_COMMAND and the variables it needs from envp. A missing
 * CNI_COMMAND is -ENOENT (the caller prints the about line); missing or
 * malformed variables give ERR_ENV naming all of them.
 */
int cni_env_load(const char *const *envp, struct cni_env *ret, struct error *err) _must_check_;

#endif
