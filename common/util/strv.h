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

#endif
