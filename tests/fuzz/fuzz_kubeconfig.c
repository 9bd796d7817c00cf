// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness over the kubeconfig reader: arbitrary bytes as the file.
 * Whatever parses must have a server and, when a token is set, give it back
 * through kubeconfig_current_token().
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kubeconfig *k = NULL;
	struct error err = {0};
	if (kubeconfig_parse((const char *)data, size, "/fuzz", &k, &err) < 0)
		return 0;
	if (!k->server || strncmp(k->server, "http", 4) != 0)
		abort();
	if (k->token) {
		char *t = NULL;
		if (kubeconfig_current_token(k, &t, &err) == 0) {
			if (strcmp(t, k->token) != 0)
				abort();
			kubeconfig_secret_free(t);
		}
	}
	kubeconfig_free(k);
	return 0;
}
