/* SPDX-License-Identifier: Apache-2.0 */
/* Counted string vectors: char **v with n entries, each and v heap-allocated. */
#ifndef ISTIO_CNI_STRV_H
#define ISTIO_CNI_STRV_H

#include <stddef.h>

#include "util/cleanup.h"

/* Frees the first n strings of v and v itself; v may be NULL. */
void strv_free(char **v, size_t n);

/*
 * Appends a copy of s to the *n strings of *v (NULL when empty), growing *v.
 * Returns 0, or -ENOMEM with *v and *n as they were (still the caller's).
 */
int strv_push(char ***v, size_t *n, const char *s) _must_check_;

/* A growable vector of heap strings it owns: zero-initialise, end with strv_list_done. */
struct strv_list {
	char **v;
	size_t n;
	size_t cap;
};

/* Frees every string and the vector, leaving l empty. */
void strv_list_done(struct strv_list *l);

/*
 * Appends s, taking it (s NULL means its allocation failed: -ENOMEM).
 * On -ENOMEM s is freed and l is as it was.
 */
int strv_list_take(struct strv_list *l, char *s) _must_check_;

#endif
