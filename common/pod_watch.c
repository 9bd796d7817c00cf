/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "pod_watch.h"

int pod_watch_run(struct kube_client *c, const char *field_selector, const char *label_selector,
		  const struct pod_watch_callbacks *cb, void *ud, const atomic_bool *stop,
		  struct error *err)
{
	(void)c, (void)field_selector, (void)label_selector, (void)cb, (void)ud, (void)stop;
	return error_set(err, ERR_INTERNAL, -ENOSYS, "pod_watch_run: not implemented yet");
}
