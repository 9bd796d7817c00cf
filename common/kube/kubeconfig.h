/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kubeconfig the plugin, the agent and the repair loop use to reach the
 * Kubernetes API: the agent-written `<run_dir>/istio-cni-kubeconfig`, the
 * 1.7-era `ZZZ-istio-cni-kubeconfig` template, or any kubectl-style file,
 * reduced to the one cluster and user its current-context names. In a pod
 * without a file, kubeconfig_in_cluster() builds the same struct from
 * KUBERNETES_SERVICE_HOST/PORT and the service-account directory.
 *
 * Parsing uses libyaml's document loader after a bounded event pre-pass
 * (nesting depth, anchors, aliases and event count are capped), so neither
 * deep nesting nor alias bombs cost more than the input size. Only a fixed
 * path of keys is walked; aliases are followed, never expanded.
 *
 * Secrets (token, client-key-data) live only in the returned struct and are
 * wiped by kubeconfig_free(); no error message ever quotes a value of the
 * file, only key names and paths.
 */
#ifndef ISTIO_CNI_KUBECONFIG_H
#define ISTIO_CNI_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

/* Largest kubeconfig we read; real ones are a few KiB. */
#define KUBECONFIG_MAX_BYTES ((size_t)1024 * 1024)
/* Largest token or key file we read. */
#define KUBECONFIG_SECRET_MAX_BYTES ((size_t)256 * 1024)

/* The default service-account directory inside a pod. */
#define KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kubeconfig {
	/* Names the file's current-context resolved to (NULL for in-cluster). */
	char *context_name;
	char *cluster_name;
	char *user_name;

	/* cluster: "https://host:port[/prefix]", no trailing slash. */
	char *server;
	bool insecure_skip_tls_verify;
	char *ca_file;	  /* absolute path, or NULL */
	uint8_t *ca_data; /* decoded PEM, NUL-terminated, or NULL */
	size_t ca_data_len;

	/* user: at most one of token / token_file is set (token wins). */
	char *token;	  /* secret */
	char *token_file; /* absolute path, re-read per request */
	char *client_cert_file;
	uint8_t *client_cert_data;
	size_t client_cert_data_len;
	char *client_key_file;
	uint8_t *client_key_data; /* secret */
	size_t client_key_data_len;
};

/*
 * Parses a kubeconfig held in buf (len bytes). Relative paths in the file are
 * resolved against base_dir (the file's directory; NULL means the current
 * directory, and paths are then kept relative). Returns 0, or -EINVAL with
 * err kind ERR_DECODE (YAML syntax, with line and column) or ERR_CONFIG
 * (missing current-context, a context naming no cluster, bad base64, ...),
 * or -ENOMEM. *ret is the caller's (kubeconfig_free).
 */
int kubeconfig_parse(const char *buf, size_t len, const char *base_dir, struct kubeconfig **ret,
		     struct error *err) _must_check_;

/*
 * Reads path (at most KUBECONFIG_MAX_BYTES; ERR_IO naming the path when it
 * cannot) and parses it with base_dir = dirname(path). The read buffer is
 * wiped before it is freed.
 */
int kubeconfig_load(const char *path, struct kubeconfig **ret, struct error *err) _must_check_;

/*
 * The in-cluster configuration: server https://host:port (host bracketed when
 * it is an IPv6 address), token_file <sa_dir>/token, ca_file <sa_dir>/ca.crt.
 * host and port are normally getenv("KUBERNETES_SERVICE_HOST"/"_PORT"); either
 * NULL or empty gives ERR_ENV ("... not set. Is this not running within a
 * pod?"). The token file must be readable and non-empty now (ERR_IO); it is
 * re-read per request so rotation works. sa_dir NULL means KUBE_SA_DIR.
 */
int kubeconfig_in_cluster(const char *sa_dir, const char *host, const char *port,
			  struct kubeconfig **ret, struct error *err) _must_check_;

/* Wipes the secrets and frees; accepts NULL. */
void kubeconfig_free(struct kubeconfig *k);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kubeconfig *, kubeconfig_free);

/*
 * Reads a small secret file (a token) into a NUL-terminated buffer sized from
 * fstat, so no partial copy is left behind by a reallocation; on failure
 * nothing is returned and anything read is wiped. More than cap bytes gives
 * -EFBIG. The caller wipes and frees *ret.
 */
int kubeconfig_read_secret(const char *path, size_t cap, char **ret, size_t *ret_len) _must_check_;

/*
 * The bearer token to send now: k->token, else the trimmed content of
 * k->token_file (ERR_IO naming the file; ERR_CONFIG when it is empty or holds
 * characters not allowed in an HTTP header). *ret is NULL when the user has
 * no token (client certificates only). The caller wipes and frees *ret.
 */
int kubeconfig_current_token(const struct kubeconfig *k, char **ret, struct error *err)
	_must_check_;

/* explicit_bzero + free for a NUL-terminated secret; accepts NULL. */
void kubeconfig_secret_free(char *s);
static inline void kubeconfig_secret_freep(char **s)
{
	kubeconfig_secret_free(*s);
}
#define _cleanup_secret_ _cleanup_(kubeconfig_secret_freep)

#endif
