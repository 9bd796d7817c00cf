// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness over prevResult: bytes -> JSON -> cni_result_from_json in
 * every CNI version -> cni_result_to_json and cni_result_print in every
 * version. Checks that whatever decodes also encodes, and that re-decoding
 * our own 1.1.0 output gives the same 1.1.0 output again.
 */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cni/cni_result.h"
#include "cni/cni_version.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_stable(const struct cni_result *r)
{
	json_t *once = NULL, *twice = NULL;
	struct cni_result *again = NULL;
	struct error err = {0};

	if (cni_result_to_json(r, CNI_VERSION_1_1_0, &once, &err) < 0)
		abort();
	if (cni_result_from_json(once, CNI_VERSION_1_1_0, &again, &err) < 0)
		abort(); /* we must be able to read what we write */
	if (cni_result_to_json(again, CNI_VERSION_1_1_0, &twice, &err) < 0)
		abort();
	if (!json_equal(once, twice))
		abort();
	json_decref(twice);
	cni_result_free(again);
	json_decref(once);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_error_t je;
	json_t *j;

	if (size > 1 << 16)
		return 0;
	j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j)
		return 0;

	for (int in = 0; in < _CNI_VERSION_MAX; in++) {
		struct cni_result *r = NULL;
		struct error err = {0};

		if (cni_result_from_json(j, (enum cni_version)in, &r, &err) < 0) {
			if (r || err.kind == ERR_NONE)
				abort(); /* failures leave *ret alone and say why */
			continue;
		}
		for (int out = 0; out < _CNI_VERSION_MAX; out++) {
			json_t *o = NULL;
			int k = cni_result_to_json(r, (enum cni_version)out, &o, &err);
			if (k < 0 && !(k == -EOPNOTSUPP && r->n_ips == 0))
				abort();
			json_decref(o);

			char *buf = NULL;
			size_t len = 0;
			FILE *f = open_memstream(&buf, &len);
			if (f) {
				(void)cni_result_print(r, (enum cni_version)out, f);
				(void)fclose(f);
			}
			free(buf);
		}
		check_stable(r);
		cni_result_free(r);
	}
	json_decref(j);
	return 0;
}
