// SPDX-License-Identifier: Apache-2.0
#include "util/strv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

int strv_push(char ***v, size_t *n, const char *s)
{
	char *c = strdup(s);
	if (!c)
		return -ENOMEM;
	char **nv = reallocarray(*v, *n + 1, sizeof(*nv));
	if (!nv) {
		free(c);
		return -ENOMEM;
	}
	nv[(*n)++] = c;
	*v = nv;
	return 0;
}
