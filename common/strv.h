/* SPDX-License-Identifier: Apache-2.0 */
/* Counted string vectors: char **v with n entries, each and v heap-allocated. */
#ifndef ISTIO_CNI_STRV_H
#define ISTIO_CNI_STRV_H

#include <stddef.h>

/* Frees the first n strings of v and v itself; v may be NULL. */
void strv_free(char **v, size_t n);

#endif
