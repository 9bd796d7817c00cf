// SPDX-License-Identifier: Apache-2.0
#include "strv.h"

#include <stdlib.h>

void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}
