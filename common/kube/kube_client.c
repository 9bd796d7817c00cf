// SPDX-License-Identifier: Apache-2.0
/* The Kubernetes client's life cycle: made from a kubeconfig, cloned, freed; its base options. */
#include "kube/kube_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/curl_api.h"
#include "kube/kube_transfer.h"
#include "util/istio_names.h"

static void wipe_free(uint8_t *p, size_t len)
{
	if (!p)
		return;
	explicit_bzero(p, len);
	free(p);
}

void kube_client_free(struct kube_client *c)
{
	if (!c)
		return;
	if (c->h)
		curl_easy_cleanup(c->h);
	if (c->multi)
		(void)curl_multi_cleanup(c->multi);
	free(c->user_agent);
	free(c->server);
	free(c->ca_file);
	free(c->ca_data);
	free(c->cert_file);
	free(c->cert_data);
	free(c->key_file);
	wipe_free(c->key_data, c->key_data_len);
	kubeconfig_free(c->auth);
	free(c);
}

const struct kube_status *kube_client_last_status(const struct kube_client *c)
{
	return &c->last;
}

static int dup_str(const char *s, char **ret)
{
	*ret = NULL;
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int dup_mem(const uint8_t *p, size_t len, uint8_t **ret, size_t *ret_len)
{
	*ret = NULL;
	*ret_len = 0;
	if (!p)
		return 0;
	*ret = malloc(len + 1);
	if (!*ret)
		return -ENOMEM;
	memcpy(*ret, p, len);
	(*ret)[len] = '\0';
	*ret_len = len;
	return 0;
}

int kube_set_long(struct kube_client *c, CURLoption o, long v)
{
	return curl_easy_setopt(c->h, o, v) == CURLE_OK ? 0 : -EINVAL;
}

int kube_set_ptr(struct kube_client *c, CURLoption o, const void *p)
{
	return curl_easy_setopt(c->h, o, p) == CURLE_OK ? 0 : -EINVAL;
}

int kube_set_off(struct kube_client *c, CURLoption o, curl_off_t v)
{
	return curl_easy_setopt(c->h, o, v) == CURLE_OK ? 0 : -EINVAL;
}

static int set_blob(struct kube_client *c, CURLoption o, uint8_t *data, size_t len)
{
	struct curl_blob b = {.data = data, .len = len, .flags = CURL_BLOB_NOCOPY};
	return kube_set_ptr(c, o, &b);
}

/*
 * Reads a PEM file the kubeconfig names into *data, unless *data is already
 * set. libcurl would open the path itself, with a blocking open() a FIFO never
 * returns from; kubeconfig_read_secret opens without blocking and takes only
 * a regular file.
 */
static int load_pem(const char *path, const char *what, uint8_t **data, size_t *len,
		    struct error *err)
{
	if (!path || *data)
		return 0;
	char *buf = NULL;
	size_t n = 0;
	int r = kubeconfig_read_secret(path, KUBECONFIG_SECRET_MAX_BYTES, &buf, &n);
	if (r < 0)
		return error_set(err, ERR_IO, r, "cannot read %s %s: %s", what, path,
				 r == -EINVAL ? "not a regular file" : strerror(-r));
	*data = (uint8_t *)buf;
	*len = n;
	return 0;
}

int kube_apply_base(struct kube_client *c, struct error *err)
{
	int r = 0;
	const char *what = NULL;

#define TRY(expr, name)                                                                            \
	do {                                                                                       \
		if (r == 0 && (r = (expr)) < 0)                                                    \
			what = (name);                                                             \
	} while (0)

	/* Never on: the verbose trace would print the Authorization header. */
	TRY(kube_set_long(c, CURLOPT_VERBOSE, 0L), "CURLOPT_VERBOSE");
	TRY(kube_set_long(c, CURLOPT_NOSIGNAL, 1L), "CURLOPT_NOSIGNAL");
	TRY(kube_set_ptr(c, CURLOPT_ERRORBUFFER, c->errbuf), "CURLOPT_ERRORBUFFER");
	TRY(kube_set_ptr(c, CURLOPT_USERAGENT, c->user_agent), "CURLOPT_USERAGENT");
	TRY(kube_set_long(c, CURLOPT_CONNECTTIMEOUT_MS, (long)c->opts.connect_timeout_ms),
	    "CURLOPT_CONNECTTIMEOUT_MS");
	TRY(kube_set_long(c, CURLOPT_FOLLOWLOCATION, 0L), "CURLOPT_FOLLOWLOCATION");
	TRY(kube_set_long(c, CURLOPT_TCP_KEEPALIVE, 1L), "CURLOPT_TCP_KEEPALIVE");
	TRY(kube_set_long(c, CURLOPT_TCP_KEEPIDLE, 30L), "CURLOPT_TCP_KEEPIDLE");
	TRY(kube_set_long(c, CURLOPT_TCP_KEEPINTVL, 10L), "CURLOPT_TCP_KEEPINTVL");
	TRY(kube_set_ptr(c, CURLOPT_ACCEPT_ENCODING, ""), "CURLOPT_ACCEPT_ENCODING");
	TRY(kube_set_long(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2),
	    "CURLOPT_SSLVERSION");
	if (r < 0)
		goto fail;

	/* Older libcurl lacks PROTOCOLS_STR; our URLs come only from the
	 * validated server and no redirect is followed, so that is fine. */
	{
		CURLcode pc = curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "https,http");
		if (pc != CURLE_OK && pc != CURLE_UNKNOWN_OPTION) {
			r = -EINVAL;
			what = "CURLOPT_PROTOCOLS_STR";
			goto fail;
		}
	}

	if (c->insecure) {
		TRY(kube_set_long(c, CURLOPT_SSL_VERIFYPEER, 0L), "CURLOPT_SSL_VERIFYPEER");
		TRY(kube_set_long(c, CURLOPT_SSL_VERIFYHOST, 0L), "CURLOPT_SSL_VERIFYHOST");
	} else {
		TRY(kube_set_long(c, CURLOPT_SSL_VERIFYPEER, 1L), "CURLOPT_SSL_VERIFYPEER");
		TRY(kube_set_long(c, CURLOPT_SSL_VERIFYHOST, 2L), "CURLOPT_SSL_VERIFYHOST");
		if (c->ca_data || c->ca_file) {
			/* The kubeconfig's CA is the only trust root, as in client-go. */
			TRY(kube_set_ptr(c, CURLOPT_CAPATH, NULL), "CURLOPT_CAPATH");
			TRY(kube_set_ptr(c, CURLOPT_CAINFO, NULL), "CURLOPT_CAINFO");
		}
		if (c->ca_data)
			TRY(set_blob(c, CURLOPT_CAINFO_BLOB, c->ca_data, c->ca_data_len),
			    "CURLOPT_CAINFO_BLOB");
		else if (c->ca_file)
			TRY(kube_set_ptr(c, CURLOPT_CAINFO, c->ca_file), "CURLOPT_CAINFO");
	}
	if (c->cert_data)
		TRY(set_blob(c, CURLOPT_SSLCERT_BLOB, c->cert_data, c->cert_data_len),
		    "CURLOPT_SSLCERT_BLOB");
	else if (c->cert_file)
		TRY(kube_set_ptr(c, CURLOPT_SSLCERT, c->cert_file), "CURLOPT_SSLCERT");
	if (c->key_data)
		TRY(set_blob(c, CURLOPT_SSLKEY_BLOB, c->key_data, c->key_data_len),
		    "CURLOPT_SSLKEY_BLOB");
	else if (c->key_file)
		TRY(kube_set_ptr(c, CURLOPT_SSLKEY, c->key_file), "CURLOPT_SSLKEY");
	if (c->cert_data || c->cert_file) {
		TRY(kube_set_ptr(c, CURLOPT_SSLCERTTYPE, "PEM"), "CURLOPT_SSLCERTTYPE");
		TRY(kube_set_ptr(c, CURLOPT_SSLKEYTYPE, "PEM"), "CURLOPT_SSLKEYTYPE");
	}
#undef TRY
	if (r == 0)
		return 0;
fail:
	return error_set(err, ERR_CONFIG, r, "libcurl %s refused %s", curl_api_version(), what);
}

int kube_client_new(const struct kubeconfig *kc, const struct kube_client_options *opts,
		    struct kube_client **ret, struct error *err)
{
	if (!kc || !kc->server || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kube_client_new: no kubeconfig");

	int r = curl_api_init(opts && opts->one_shot, err);
	if (r < 0)
		return r;

	_cleanup_(kube_client_freep) struct kube_client *c = calloc(1, sizeof(*c));
	if (!c)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	if (opts)
		c->opts = *opts;
	c->opts.user_agent = NULL; /* not kept: borrowed */
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = KUBE_CLIENT_CONNECT_TIMEOUT_MS;
	if (!c->opts.timeout_ms)
		c->opts.timeout_ms = KUBE_CLIENT_TIMEOUT_MS;
	if (!c->opts.max_response_bytes)
		c->opts.max_response_bytes = KUBE_CLIENT_MAX_RESPONSE;
	if (!c->opts.max_watch_line_bytes)
		c->opts.max_watch_line_bytes = KUBE_CLIENT_MAX_WATCH_LINE;
	/* libcurl takes long milliseconds. */
	if (c->opts.connect_timeout_ms > INT32_MAX || c->opts.timeout_ms > INT32_MAX ||
	    c->opts.watch_timeout_ms > INT32_MAX)
		return error_set(err, ERR_CONFIG, -ERANGE, "Kubernetes client timeout too large");

	c->auth = calloc(1, sizeof(*c->auth));
	if (!c->auth)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "out of memory");
	if (opts && opts->user_agent)
		r = dup_str(opts->user_agent, &c->user_agent);
	else if (asprintf(&c->user_agent, "istio-cni/%s", ISTIO_CNI_VERSION_STRING) < 0) {
		c->user_agent = NULL;
		r = -ENOMEM;
	}
	if (r == 0)
		r = dup_str(kc->server, &c->server);
	if (r == 0)
		r = dup_str(kc->ca_file, &c->ca_file);
	if (r == 0)
		r = dup_mem(kc->ca_data, kc->ca_data_len, &c->ca_data, &c->ca_data_len);
	if (r == 0)
		r = dup_str(kc->client_cert_file, &c->cert_file);
	if (r == 0)
		r = dup_mem(kc->client_cert_data, kc->client_cert_data_len, &c->cert_data,
			    &c->cert_data_len);
	if (r == 0)
		r = dup_str(kc->client_key_file, &c->key_file);
	if (r == 0)
		r = dup_mem(kc->client_key_data, kc->client_key_data_len, &c->key_data,
			    &c->key_data_len);
	if (r == 0)
		r = dup_str(kc->token, &c->auth->token);
	if (r == 0)
		r = dup_str(kc->token_file, &c->auth->token_file);
	if (r < 0)
		return error_set(err, ERR_INTERNAL, r, "out of memory");
	c->insecure = kc->insecure_skip_tls_verify;
	if ((r = load_pem(c->ca_file, "certificate-authority", &c->ca_data, &c->ca_data_len, err)) <
		    0 ||
	    (r = load_pem(c->cert_file, "client-certificate", &c->cert_data, &c->cert_data_len,
			  err)) < 0 ||
	    (r = load_pem(c->key_file, "client-key", &c->key_data, &c->key_data_len, err)) < 0)
		return r;

	c->h = curl_easy_init();
	if (!c->h)
		return error_set(err, ERR_INTERNAL, -ENOMEM, "curl_easy_init failed");
	r = kube_apply_base(c, err);
	if (r < 0)
		return r;

	*ret = TAKE_PTR(c);
	return 0;
}

int kube_client_clone(const struct kube_client *c, struct kube_client **ret, struct error *err)
{
	if (!c || !ret)
		return error_set(err, ERR_INTERNAL, -EINVAL, "kube_client_clone: no client");
	/* kube_client_new copies everything it keeps, so borrowing is enough. */
	const struct kubeconfig kc = {
		.server = c->server,
		.insecure_skip_tls_verify = c->insecure,
		.ca_file = c->ca_file,
		.ca_data = c->ca_data,
		.ca_data_len = c->ca_data_len,
		.token = c->auth->token,
		.token_file = c->auth->token_file,
		.client_cert_file = c->cert_file,
		.client_cert_data = c->cert_data,
		.client_cert_data_len = c->cert_data_len,
		.client_key_file = c->key_file,
		.client_key_data = c->key_data,
		.client_key_data_len = c->key_data_len,
	};
	struct kube_client_options opts = c->opts;
	opts.user_agent = c->user_agent;
	return kube_client_new(&kc, &opts, ret, err);
}

void kube_client_set_cancel(struct kube_client *c, const atomic_bool *cancel)
{
	c->cancel = cancel;
}
