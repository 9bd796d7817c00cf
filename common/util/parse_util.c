// SPDX-License-Identifier: Apache-2.0
#include "util/parse_util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (!s || !isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno != 0 || !end || *end != '\0')
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = (uint64_t)v;
	return 0;
}

int parse_port(const char *s, uint16_t *ret)
{
	uint64_t v;
	int r = parse_u64(s, 1, 65535, &v);
	if (r < 0)
		return r;
	*ret = (uint16_t)v;
	return 0;
}

int parse_bool(const char *s, bool *ret)
{
	static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True"};
	static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False"};
	if (!s)
		return -EINVAL;
	for (size_t i = 0; i < ELEMENTSOF(t); i++) {
		if (strcmp(s, t[i]) == 0) {
			*ret = true;
			return 0;
		}
		if (strcmp(s, f[i]) == 0) {
			*ret = false;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_cidr(const char *s, struct cidr *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct cidr c = {0};

	if (!s || strlen(s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	char *slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';

	if (inet_pton(AF_INET, buf, &c.addr.v4) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, buf, &c.addr.v6) == 1)
		c.family = AF_INET6;
	else
		return -EINVAL;

	uint64_t prefix;
	int r = parse_u64(slash + 1, 0, c.family == AF_INET ? 32 : 128, &prefix);
	if (r < 0)
		return -EINVAL;
	/* Go's ParseCIDR rejects leading zeros in the prefix ("/08"). */
	if (slash[1] == '0' && slash[2] != '\0')
		return -EINVAL;
	c.prefix = (uint8_t)prefix;
	*ret = c;
	return 0;
}

const char *parse_cidr_to_string(const struct cidr *c, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	if (!inet_ntop(c->family, &c->addr, a, sizeof(a)))
		a[0] = '\0';
	(void)snprintf(buf, len, "%s/%u", a, c->prefix);
	return buf;
}

void parse_cidr_mask(const struct cidr *c, struct cidr *ret)
{
	struct cidr m = *c;
	unsigned int bits = c->family == AF_INET ? 32 : 128;
	for (unsigned int i = c->prefix; i < bits; i++)
		m.addr.bytes[i / 8] &= (uint8_t) ~(0x80u >> (i % 8));
	*ret = m;
}

bool parse_ifname_valid(const char *s)
{
	if (!s || s[0] == '\0' || strlen(s) >= IFNAMSIZ)
		return false;
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (const char *p = s; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
		    !isprint((unsigned char)*p))
			return false;
	return true;
}

char *parse_strip(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		s[--n] = '\0';
	size_t i = 0;
	while (isspace((unsigned char)s[i]))
		i++;
	if (i > 0)
		memmove(s, s + i, n - i + 1);
	return s;
}
