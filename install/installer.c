// SPDX-License-Identifier: Apache-2.0
/* Stub: filled in by the following commits. */
#include "installer.h"

#include <errno.h>
#include <stdlib.h>

struct installer {
	const struct agent_config *cfg;
	enum install_result last;
};

const char *install_result_to_string(enum install_result r)
{
	static const char *const names[_INSTALL_RESULT_MAX] = {
		[INSTALL_SUCCESS] = "SUCCESS",
		[INSTALL_COPY_BINARIES_FAILURE] = "COPY_BINARIES_FAILURE",
		[INSTALL_CREATE_KUBECONFIG_FAILURE] = "CREATE_KUBECONFIG_FAILURE",
		[INSTALL_CREATE_CNI_CONFIG_FAILURE] = "CREATE_CNI_CONFIG_FAILURE",
	};
	if ((unsigned)r >= _INSTALL_RESULT_MAX)
		return NULL;
	return names[r];
}

int installer_new(const struct agent_config *cfg, struct installer **ret, struct error *err)
{
	struct installer *in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->cfg = cfg;
	*ret = in;
	return 0;
}

void installer_free(struct installer *in)
{
	free(in);
}

int installer_install(struct installer *in, struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "installer_install: not implemented yet");
}

int installer_check(struct installer *in, bool *ret_valid, struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "installer_check: not implemented yet");
}

int installer_refresh_kubeconfig(struct installer *in, struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "not implemented yet");
}

int installer_uninstall(struct installer *in, struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "not implemented yet");
}

const char *installer_conf_dir(const struct installer *in)
{
	return NULL;
}

const char *installer_conf_path(const struct installer *in)
{
	return NULL;
}

const char *installer_binary_path(const struct installer *in)
{
	return NULL;
}

const char *installer_kubeconfig_path(const struct installer *in)
{
	return NULL;
}

const char *installer_sa_dir(const struct installer *in)
{
	return NULL;
}

enum install_result installer_last_result(const struct installer *in)
{
	return in->last;
}
