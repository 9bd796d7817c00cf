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

void strv_list_done(struct strv_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

int strv_list_take(struct strv_list *l, char *s)
{
	if (!s)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 8;
		char **nv = reallocarray(l->v, nc, sizeof(*nv));
		if (!nv) {
			free(s);
			return -ENOMEM;
		}
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = s;
	return 0;
}
