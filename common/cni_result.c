// SPDX-License-Identifier: Apache-2.0
/* Stub bodies; the real implementation follows. */
#include "cni_result.h"

#include <errno.h>

int cni_result_new(struct cni_result **ret)
{
	struct cni_result *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	*ret = r;
	return 0;
}

struct cni_result *cni_result_free(struct cni_result *r)
{
	free(r);
	return NULL;
}

int cni_result_from_json(const json_t *prev, enum cni_version prev_version,
			 struct cni_result **ret, struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "prevResult decoding not implemented yet");
}

int cni_result_to_json(const struct cni_result *r, enum cni_version v, json_t **ret,
		       struct error *err)
{
	return error_set(err, ERR_INTERNAL, -ENOSYS, "result encoding not implemented yet");
}

int cni_result_print(const struct cni_result *r, enum cni_version v, FILE *out)
{
	return -ENOSYS;
}

int cni_result_print_empty(enum cni_version v, FILE *out)
{
	return -ENOSYS;
}
