// SPDX-License-Identifier: Apache-2.0
/* Kubernetes Status answers and HTTP codes turned into readable errors. */
#include "kube/kube_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_retry.h"
#include "kube/kube_transfer.h"

void kube_clean_copy(char *dst, size_t size, const char *src, size_t max)
{
	size_t o = 0;
	for (; src && o < max && o + 1 < size && *src; src++)
		dst[o++] = ((unsigned char)*src < 0x20 || *src == 0x7f) ? ' ' : *src;
	dst[o] = '\0';
}

static const char *http_phrase(long code)
{
	switch (code) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 410:
		return "Gone";
	case 413:
		return "Request Entity Too Large";
	case 415:
		return "Unsupported Media Type";
	case 422:
		return "Unprocessable Entity";
	case 429:
		return "Too Many Requests";
	case 500:
		return "Internal Server Error";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	default:
		return "";
	}
}

static int http_errno(long code)
{
	switch (code) {
	case 400:
	case 422:
		return -EINVAL;
	case 401:
		return -EACCES;
	case 403:
		return -EPERM;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	case 410:
		return -ESTALE;
	default:
		if (kube_retry_classify(0, code, 0) == KUBE_RETRY_AGAIN)
			return -EAGAIN;
		return -EIO;
	}
}

/* Status fields of obj (may be NULL or not a Status). */
static void status_fields(const json_t *obj, const char **message, const char **reason,
			  json_int_t *code, json_int_t *retry_after_s)
{
	*message = *reason = NULL;
	*code = 0;
	*retry_after_s = 0;
	if (!json_is_object(obj))
		return;
	*message = json_string_value(json_object_get(obj, "message"));
	*reason = json_string_value(json_object_get(obj, "reason"));
	json_t *c = json_object_get(obj, "code");
	if (json_is_integer(c))
		*code = json_integer_value(c);
	json_t *d = json_object_get(obj, "details");
	json_t *ra = json_is_object(d) ? json_object_get(d, "retryAfterSeconds") : NULL;
	if (json_is_integer(ra) && json_integer_value(ra) > 0 &&
	    json_integer_value(ra) < (json_int_t)24 * 3600)
		*retry_after_s = json_integer_value(ra);
}

static int status_error(long http_code, const json_t *obj, const char *raw, size_t raw_len,
			const char *what, struct kube_status *status, struct error *err)
{
	const char *message, *reason;
	json_int_t code, retry_after_s;
	status_fields(obj, &message, &reason, &code, &retry_after_s);
	if (http_code <= 0 && code > 0 && code < 1000)
		http_code = (long)code;

	char msg[256], rsn[64];
	if (message)
		kube_clean_copy(msg, sizeof(msg), message, 200);
	else if (raw && raw_len > 0)
		/* Not a Status (a proxy's page?): show its start. */
		kube_clean_copy(msg, sizeof(msg), raw, raw_len < 120 ? raw_len : 120);
	else
		(void)snprintf(msg, sizeof(msg), "no details in the answer");
	kube_clean_copy(rsn, sizeof(rsn), reason, sizeof(rsn) - 1);
	if (status) {
		memcpy(status->reason, rsn, sizeof(status->reason));
		if (!status->retry_after_ms && retry_after_s > 0)
			status->retry_after_ms = (uint64_t)retry_after_s * 1000;
		if (!status->http_code)
			status->http_code = http_code;
	}

	int r = http_errno(http_code);
	enum error_kind kind = kube_retry_classify(0, http_code, 0) == KUBE_RETRY_AGAIN
				       ? ERR_TRANSIENT
				       : ERR_API;
	const char *w = what ? what : "request";
	if (http_code == 401)
		return error_set(err, kind, r,
				 "Kubernetes API rejected the credentials (401 Unauthorized) for "
				 "%s: %s; check the token in the kubeconfig (expired or revoked "
				 "service-account token?)",
				 w, msg);
	if (http_code == 403)
		return error_set(err, kind, r,
				 "Kubernetes API denied access (403 Forbidden) for %s: %s; check "
				 "the istio-cni ServiceAccount's RBAC",
				 w, msg);
	const char *phrase = http_phrase(http_code);
	return error_set(err, kind, r, "Kubernetes API answered %ld%s%s%s%s%s for %s: %s",
			 http_code, phrase[0] ? " " : "", phrase, rsn[0] ? " (" : "", rsn,
			 rsn[0] ? ")" : "", w, msg);
}

int kube_status_to_error(long http_code, const char *body, size_t len, const char *what,
			 struct kube_status *status, struct error *err)
{
	json_t *obj = NULL;
	if (body && len > 0)
		obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
	int r = status_error(http_code, obj, body, len, what, status, err);
	json_decref(obj);
	return r;
}

int kube_watch_error(const json_t *object, struct kube_status *status, struct error *err)
{
	return status_error(0, object, NULL, 0, "watch", status, err);
}
