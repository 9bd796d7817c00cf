// SPDX-License-Identifier: Apache-2.0
#include "cni/cni_args.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

bool cni_args_k8s_name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > K8S_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' ||
		      c == '.'))
			return false;
	}
	return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[n - 1]);
}

static bool uid_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > K8S_UID_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) && s[i] != '-')
			return false;
	return true;
}

/* libcni's UnmarshallableBool: 1/true/0/false, any case. */
static int parse_ignore_unknown(const char *v, bool *ret)
{
	if (strcmp(v, "1") == 0 || strcasecmp(v, "true") == 0) {
		*ret = true;
		return 0;
	}
	if (strcmp(v, "0") == 0 || strcasecmp(v, "false") == 0) {
		*ret = false;
		return 0;
	}
	return -EINVAL;
}

static int copy_value(char *dst, size_t cap, const char *key, const char *v, struct error *err)
{
	size_t n = strlen(v);
	if (n >= cap)
		return error_set(err, ERR_ENV, -E2BIG, "CNI_ARGS: value of %s is too long", key);
	memcpy(dst, v, n + 1);
	return 0;
}

int cni_args_parse(const char *s, struct cni_args *ret, struct error *err)
{
	struct cni_args a = {0};
	char buf[CNI_ARGS_MAX + 1];
	char unknown[256] = "";
	size_t ulen = 0;

	if (!s || s[0] == '\0') {
		*ret = a;
		return 0;
	}
	if (strlen(s) > CNI_ARGS_MAX)
		return error_set(err, ERR_ENV, -E2BIG, "CNI_ARGS longer than %d bytes",
				 CNI_ARGS_MAX);
	memcpy(buf, s, strlen(s) + 1);

	char *save = NULL;
	/* strtok_r would merge empty fields; libcni rejects them, so split by hand. */
	for (char *pair = buf; pair; pair = save) {
		save = strchr(pair, ';');
		if (save)
			*save++ = '\0';

		char *eq = strchr(pair, '=');
		if (!eq || eq == pair || strchr(eq + 1, '='))
			return error_set(err, ERR_ENV, -EINVAL, "CNI_ARGS: invalid pair \"%.64s\"",
					 pair);
		*eq = '\0';
		const char *key = pair, *val = eq + 1;
		int r = 0;

		if (strcmp(key, "IgnoreUnknown") == 0) {
			if (parse_ignore_unknown(val, &a.ignore_unknown) < 0)
				return error_set(err, ERR_ENV, -EINVAL,
						 "CNI_ARGS: invalid IgnoreUnknown value \"%.16s\"",
						 val);
		} else if (strcmp(key, "K8S_POD_NAMESPACE") == 0) {
			r = copy_value(a.pod_namespace, sizeof(a.pod_namespace), key, val, err);
		} else if (strcmp(key, "K8S_POD_NAME") == 0) {
			r = copy_value(a.pod_name, sizeof(a.pod_name), key, val, err);
		} else if (strcmp(key, "K8S_POD_INFRA_CONTAINER_ID") == 0) {
			r = copy_value(a.infra_container_id, sizeof(a.infra_container_id), key, val,
				       err);
		} else if (strcmp(key, "K8S_POD_UID") == 0) {
			r = copy_value(a.pod_uid, sizeof(a.pod_uid), key, val, err);
		} else {
			int k = snprintf(unknown + ulen, sizeof(unknown) - ulen, "%s%.64s",
					 ulen ? " " : "", key);
			if (k > 0 && (size_t)k < sizeof(unknown) - ulen)
				ulen += (size_t)k;
		}
		if (r < 0)
			return r;
	}

	if (ulen > 0 && !a.ignore_unknown)
		return error_set(err, ERR_ENV, -EINVAL, "CNI_ARGS: unknown args [%s]", unknown);
	if (a.pod_namespace[0] && !cni_args_k8s_name_valid(a.pod_namespace))
		return error_set(err, ERR_ENV, -EINVAL,
				 "CNI_ARGS: K8S_POD_NAMESPACE \"%.64s\" is not a Kubernetes name",
				 a.pod_namespace);
	if (a.pod_name[0] && !cni_args_k8s_name_valid(a.pod_name))
		return error_set(err, ERR_ENV, -EINVAL,
				 "CNI_ARGS: K8S_POD_NAME \"%.64s\" is not a Kubernetes name",
				 a.pod_name);
	if (a.pod_uid[0] && !uid_valid(a.pod_uid))
		return error_set(err, ERR_ENV, -EINVAL,
				 "CNI_ARGS: K8S_POD_UID \"%.64s\" is invalid", a.pod_uid);
	*ret = a;
	return 0;
}
