// SPDX-License-Identifier: Apache-2.0
/*
 * Pod JSON -> pod_info -> decision -> parameters -> plan (v4 and v4+v6) ->
 * iptables-restore text. Must never crash or leak, whatever the bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "capture/iptables_render.h"
#include "capture/redirect_params.h"
#include "capture/redirect_planner.h"
#include "kube/pod_info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void plan_and_render(const struct redirect_params *params, bool ipv6)
{
	struct redirect_plan plan = {0};
	struct error err = {0};
	if (redirect_plan_build(params, ipv6, &plan, &err) < 0)
		return;
	for (int f = 0; f < _PLAN_FAMILY_MAX; f++) {
		char *text = NULL;
		if (iptables_render(&plan, (enum plan_family)f, &text, &err) >= 0)
			free(text);
	}
	redirect_plan_done(&plan);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t jerr;
	json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		return 0;

	struct pod_info *pod = NULL;
	struct error err = {0};
	if (pod_info_from_json(j, &pod, &err) >= 0) {
		(void)redirect_skip_to_string(redirect_decide(pod));
		struct redirect_params params;
		if (redirect_params_from_pod(pod, &params, &err) >= 0) {
			plan_and_render(&params, false);
			plan_and_render(&params, true);
			redirect_params_done(&params);
		}
		pod_info_free(pod);
	}
	json_decref(j);
	return 0;
}
