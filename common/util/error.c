// SPDX-License-Identifier: Apache-2.0
#include "util/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One table, so every verb reports the same failure with the same code. */
static const int cni_codes[_ERR_KIND_MAX] = {
	[ERR_NONE] = 999,
	[ERR_VERSION] = 1,
	[ERR_UNSUPPORTED_FIELD] = 2,
	[ERR_UNKNOWN_CONTAINER] = 3,
	[ERR_ENV] = 4,
	[ERR_IO] = 5,
	[ERR_DECODE] = 6,
	[ERR_CONFIG] = 7,
	[ERR_INVALID_NETNS] = 8,
	[ERR_TRANSIENT] = 11,
	[ERR_NETLINK] = 100,
	[ERR_NFTABLES] = 101,
	[ERR_IPTABLES] = 102,
	[ERR_API] = 103,
	[ERR_CHECK] = 104,
	[ERR_INTERNAL] = 999,
};

int(error_set)(struct error *err, enum error_kind kind, int r, const char *fmt, ...)
{
	if (r >= 0)
		r = -EINVAL;
	if (!err)
		return r;

	char buf[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);

	if (err->msg[0] != '\0') {
		char old[ERROR_MSG_MAX];
		memcpy(old, err->msg, sizeof(old));
		(void)snprintf(err->msg, sizeof(err->msg), "%s: %s", buf, old);
	} else {
		memcpy(err->msg, buf, sizeof(err->msg));
	}
	if (err->kind == ERR_NONE)
		err->kind = kind;
	return r;
}

void error_add_details(struct error *err, const char *fmt, ...)
{
	if (!err)
		return;
	size_t len = strnlen(err->details, sizeof(err->details));
	if (len + 2 >= sizeof(err->details))
		return;
	if (len > 0)
		err->details[len++] = '\n';

	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(err->details + len, sizeof(err->details) - len, fmt, ap);
	va_end(ap);
}

void error_diff_add(struct error_diff *d, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (d->n == 0)
		(void)snprintf(d->first, sizeof(d->first), "%s", line);
	d->n++;
	error_add_details(d->err, "%s", line);
}

int(error_prefix)(struct error *err, int r, const char *fmt, ...)
{
	if (r >= 0)
		r = -EINVAL;
	if (!err)
		return r;

	char buf[ERROR_MSG_MAX], old[ERROR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	(void)vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	if (old[0] != '\0')
		(void)snprintf(err->msg, sizeof(err->msg), "%s: %s", buf, old);
	else
		(void)snprintf(err->msg, sizeof(err->msg), "%s: %s", buf, strerror(-r));
	return r;
}

void error_clear(struct error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

int error_cni_code(const struct error *err, int r)
{
	if (err && err->kind > ERR_NONE && err->kind < _ERR_KIND_MAX)
		return cni_codes[err->kind];

	switch (-r) {
	case EAGAIN:
	case EBUSY:
	case ETIMEDOUT:
	case ENOBUFS:
		return cni_codes[ERR_TRANSIENT];
	case ENOMEM:
	default:
		return cni_codes[ERR_INTERNAL];
	}
}
