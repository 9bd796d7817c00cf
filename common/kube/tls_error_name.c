// SPDX-License-Identifier: Apache-2.0
#include "kube/tls_error_name.h"

#include <openssl/err.h>
#include <openssl/pemerr.h>
#include <openssl/sslerr.h>
#include <openssl/x509err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cleanup.h"

/* OpenSSL's own wording, so that the message reads as it would with strings. */
static const struct {
	int lib, reason;
	const char *text;
} reasons[] = {
	{ERR_LIB_SSL, SSL_R_WRONG_VERSION_NUMBER, "wrong version number"},
	{ERR_LIB_SSL, SSL_R_UNEXPECTED_EOF_WHILE_READING, "unexpected eof while reading"},
	{ERR_LIB_SSL, SSL_R_CERTIFICATE_VERIFY_FAILED, "certificate verify failed"},
	{ERR_LIB_SSL, SSL_R_PACKET_LENGTH_TOO_LONG, "packet length too long"},
	{ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL, "unsupported protocol"},
	{ERR_LIB_SSL, SSL_R_NO_PROTOCOLS_AVAILABLE, "no protocols available"},
	{ERR_LIB_SSL, SSL_R_CA_MD_TOO_WEAK, "ca md too weak"},
	{ERR_LIB_SSL, SSL_R_EE_KEY_TOO_SMALL, "ee key too small"},
	{ERR_LIB_SSL, SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE, "sslv3 alert handshake failure"},
	{ERR_LIB_SSL, SSL_R_SSLV3_ALERT_BAD_CERTIFICATE, "sslv3 alert bad certificate"},
	{ERR_LIB_SSL, SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED, "sslv3 alert certificate expired"},
	{ERR_LIB_SSL, SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN, "sslv3 alert certificate unknown"},
	{ERR_LIB_SSL, SSL_R_TLSV1_ALERT_UNKNOWN_CA, "tlsv1 alert unknown ca"},
	{ERR_LIB_SSL, SSL_R_TLSV1_ALERT_ACCESS_DENIED, "tlsv1 alert access denied"},
	{ERR_LIB_SSL, SSL_R_TLSV1_ALERT_DECRYPT_ERROR, "tlsv1 alert decrypt error"},
	{ERR_LIB_SSL, SSL_R_TLSV1_ALERT_PROTOCOL_VERSION, "tlsv1 alert protocol version"},
	{ERR_LIB_SSL, SSL_R_TLSV1_ALERT_INTERNAL_ERROR, "tlsv1 alert internal error"},
	{ERR_LIB_SSL, SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED, "tlsv13 alert certificate required"},
	/* A kubeconfig's client certificate and key. */
	{ERR_LIB_PEM, PEM_R_NO_START_LINE, "no start line"},
	{ERR_LIB_PEM, PEM_R_BAD_END_LINE, "bad end line"},
	{ERR_LIB_PEM, PEM_R_BAD_BASE64_DECODE, "bad base64 decode"},
	{ERR_LIB_X509, X509_R_KEY_VALUES_MISMATCH, "key values mismatch"},
	{ERR_LIB_X509, X509_R_KEY_TYPE_MISMATCH, "key type mismatch"},
};

const char *tls_error_name(const char *detail, char *buf, size_t len)
{
	/* "error:" 8 hex digits ":lib(": the form without strings. */
	for (const char *p = detail ? strstr(detail, "error:") : NULL; p;
	     p = strstr(p + 1, "error:")) {
		const char *hex = p + 6;
		if (strspn(hex, "0123456789abcdefABCDEF") != 8 || strncmp(hex + 8, ":lib(", 5) != 0)
			continue;
		unsigned long code = strtoul(hex, NULL, 16);
		for (size_t i = 0; i < ELEMENTSOF(reasons); i++) {
			if (ERR_GET_LIB(code) != reasons[i].lib ||
			    ERR_GET_REASON(code) != reasons[i].reason)
				continue;
			int k = snprintf(buf, len, "%s (%s)", detail, reasons[i].text);
			return k > 0 && (size_t)k < len ? buf : detail;
		}
	}
	return detail;
}
