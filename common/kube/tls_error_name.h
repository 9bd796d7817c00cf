/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Names the OpenSSL error a TLS failure message quotes by number only. The
 * plugin skips OpenSSL's error strings (curl_api.c), so libcurl's message for
 * a failed handshake reads "error:0A00010B:lib(20)::reason(267)"; the
 * reasons an API server connection runs into are named here.
 */
#ifndef ISTIO_CNI_TLS_ERROR_NAME_H
#define ISTIO_CNI_TLS_ERROR_NAME_H

#include <stddef.h>

/*
 * detail, with " (<reason>)" appended when it quotes a known OpenSSL error
 * without its string: written into buf (len bytes) and returned. Otherwise
 * detail itself.
 */
const char *tls_error_name(const char *detail, char *buf, size_t len);

#endif
