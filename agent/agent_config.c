// SPDX-License-Identifier: Apache-2.0
/* Stub: filled in by the next commit. */
#include "agent_config.h"

#include <errno.h>
#include <stdlib.h>

int agent_config_from_env(const char *const *envp, struct agent_config **ret, struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "agent_config_from_env: not implemented yet");
}

struct agent_config *agent_config_free(struct agent_config *c)
{
	free(c);
	return NULL;
}

void agent_config_log(const struct agent_config *c)
{
}
