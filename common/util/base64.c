// SPDX-License-Identifier: Apache-2.0
#include "util/base64.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The 6-bit value of c, or -1 when c is not in the alphabet. */
static int sextet(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_len)
{
	if (!s || !ret || !ret_len)
		return -EINVAL;

	/* Upper bound: every 4 input characters give at most 3 bytes. */
	size_t cap = len / 4 * 3 + 3 + 1;
	_cleanup_free_ uint8_t *out = malloc(cap);
	if (!out)
		return -ENOMEM;

	uint32_t acc = 0;
	size_t n = 0;	/* characters in the current quantum, padding included */
	size_t pad = 0; /* '=' seen in the current quantum */
	size_t o = 0;
	bool done = false; /* a padded quantum ends the data */

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n' || c == '\r')
			continue;
		if (done)
			goto bad;
		if (c == '=') {
			/* Padding only in the last two places of a quantum. */
			if (n < 2)
				goto bad;
			pad++;
			acc <<= 6;
		} else {
			int v = sextet(c);
			if (v < 0 || pad > 0)
				goto bad;
			acc = acc << 6 | (uint32_t)v;
		}
		if (++n < 4)
			continue;

		/* A full quantum: 24 bits, of which 8 * (3 - pad) carry data. */
		size_t bytes = 3 - pad;
		uint32_t unused = pad == 0 ? 0 : pad == 1 ? (acc & 0xffu) : (acc & 0xffffu);
		if (unused != 0)
			goto bad;
		out[o++] = (uint8_t)(acc >> 16);
		if (bytes > 1)
			out[o++] = (uint8_t)(acc >> 8);
		if (bytes > 2)
			out[o++] = (uint8_t)acc;
		if (pad > 0)
			done = true;
		acc = 0;
		n = 0;
		pad = 0;
	}
	if (n != 0)
		goto bad;

	out[o] = '\0';
	*ret = TAKE_PTR(out);
	*ret_len = o;
	return 0;

bad:
	explicit_bzero(out, cap);
	return -EINVAL;
}

int base64_encode(const uint8_t *data, size_t len, char **ret)
{
	if ((!data && len > 0) || !ret)
		return -EINVAL;
	if (len > (SIZE_MAX - 1) / 4 * 3 - 3)
		return -ENOMEM;

	size_t out_len = (len + 2) / 3 * 4;
	char *out = malloc(out_len + 1);
	if (!out)
		return -ENOMEM;

	size_t o = 0;
	for (size_t i = 0; i < len; i += 3) {
		size_t left = len - i;
		uint32_t v = (uint32_t)data[i] << 16;
		if (left > 1)
			v |= (uint32_t)data[i + 1] << 8;
		if (left > 2)
			v |= data[i + 2];
		out[o++] = alphabet[v >> 18 & 0x3f];
		out[o++] = alphabet[v >> 12 & 0x3f];
		out[o++] = left > 1 ? alphabet[v >> 6 & 0x3f] : '=';
		out[o++] = left > 2 ? alphabet[v & 0x3f] : '=';
	}
	out[o] = '\0';
	*ret = out;
	return 0;
}
