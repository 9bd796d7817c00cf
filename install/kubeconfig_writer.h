/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubeconfig the agent writes for the plugin. Pure: the
 * caller reads the token and CA and writes the result atomically with
 * KUBECONFIG_MODE.
 *
 * Current shape (Istio's YAML marshalling, keys sorted): cluster "local",
 * user "istio-cni", context "istio-cni-context", server
 * <proto>://<host>:<port> with an IPv6 host bracketed (Go's JoinHostPort).
 *
 * 1.7 shape (its text template, `# Kubeconfig file for Istio CNI plugin.`):
 * the same names in template order, server always <proto>://[<host>]:<port>
 * (brackets even around IPv4), token double-quoted.
 *
 * The CA goes in as certificate-authority-data (base64 of the file's bytes),
 * or `insecure-skip-tls-verify: true` when skip_tls_verify is set.
 */
#ifndef ISTIO_CNI_KUBECONFIG_WRITER_H
#define ISTIO_CNI_KUBECONFIG_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

enum kubeconfig_shape {
	KUBECONFIG_SHAPE_CURRENT,
	KUBECONFIG_SHAPE_LEGACY, /* 1.7 template */
};

struct kubeconfig_writer_input {
	const char *protocol; /* "https" when NULL */
	const char *host;     /* KUBERNETES_SERVICE_HOST, required */
	const char *port;     /* KUBERNETES_SERVICE_PORT, required */
	bool skip_tls_verify;
	const uint8_t *ca; /* CA file bytes; required unless skip_tls_verify */
	size_t ca_len;
	const char *token; /* service-account token, trailing newlines already trimmed */
};

/*
 * Renders the kubeconfig. Returns 0, or -EINVAL with ERR_CONFIG when host or
 * port is missing ("KUBERNETES_SERVICE_HOST not set. Is this not running
 * within a pod?"), the CA is missing without skip_tls_verify, or the token
 * holds a control character. *ret holds the token: wipe (explicit_bzero)
 * before freeing.
 */
int kubeconfig_writer_render(enum kubeconfig_shape shape, const struct kubeconfig_writer_input *in,
			     char **ret, size_t *ret_len, struct error *err) _must_check_;

#endif
