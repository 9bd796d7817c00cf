/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Standard base64 (RFC 4648 section 4, '+' and '/', '=' padding), as Go's
 * encoding/json writes []byte fields such as a kubeconfig's
 * certificate-authority-data.
 *
 * The decoder is strict: padding is required, characters outside the
 * alphabet are rejected, and the unused low bits of the last quantum must be
 * zero, so every accepted input has exactly one encoding. Line breaks ('\n'
 * and '\r') are skipped anywhere, as Go's decoder does, because a YAML block
 * scalar may wrap long values.
 */
#ifndef ISTIO_CNI_BASE64_H
#define ISTIO_CNI_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"

/*
 * Decodes len bytes of s into a new heap buffer, NUL-terminated for the
 * convenience of PEM users (the NUL is not counted in *ret_len). Returns 0,
 * -EINVAL on malformed input, -ENOMEM. The caller frees *ret (and wipes it
 * first when it held a secret).
 */
int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len) _must_check_;

/* Encodes len bytes into a new NUL-terminated string with padding. */
int base64_encode(const uint8_t *data, size_t len, char **ret) _must_check_;

#endif
