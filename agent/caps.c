// SPDX-License-Identifier: Apache-2.0
#include "caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

static inline void cap_freep(cap_t *c)
{
	if (*c)
		(void)cap_free(*c);
}

#define BIT(c) (UINT64_C(1) << (c))

uint64_t caps_wanted(const struct caps_needs *needs)
{
	uint64_t m = 0;
	if (needs->install)
		m |= BIT(CAP_DAC_OVERRIDE);
	if (needs->repair_in_place)
		m |= BIT(CAP_DAC_OVERRIDE) | BIT(CAP_SYS_PTRACE) | BIT(CAP_SYS_ADMIN) |
		     BIT(CAP_NET_ADMIN) | BIT(CAP_NET_RAW);
	if (needs->bind_low_port)
		m |= BIT(CAP_NET_BIND_SERVICE);
	return m;
}

/* The highest capability number this build knows by name. */
static unsigned last_cap(void)
{
	int n = (int)cap_max_bits();
	if (n <= 0 || n > 64)
		n = CAP_LAST_CAP + 1;
	return (unsigned)n - 1;
}

int caps_mask_to_string(uint64_t mask, char *buf, size_t len)
{
	size_t pos = 0;
	if (len == 0)
		return -ENOBUFS;
	buf[0] = '\0';
	if (mask == 0) {
		int n = snprintf(buf, len, "none");
		return n < 0 || (size_t)n >= len ? -ENOBUFS : n;
	}
	for (unsigned c = 0; c < 64; c++) {
		if (!(mask & BIT(c)))
			continue;
		char *name = cap_to_name((cap_value_t)c);
		int n = snprintf(buf + pos, len - pos, "%s%s", pos ? "," : "", name ? name : "?");
		(void)cap_free(name);
		if (n < 0 || (size_t)n >= len - pos)
			return -ENOBUFS;
		pos += (size_t)n;
	}
	return (int)pos;
}

int caps_current(uint64_t *ret_effective, uint64_t *ret_bounding)
{
	_cleanup_(cap_freep) cap_t cur = cap_get_proc();
	if (!cur)
		return -errno;
	uint64_t eff = 0, bnd = 0;
	for (unsigned c = 0; c <= last_cap(); c++) {
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(cur, (cap_value_t)c, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET)
			eff |= BIT(c);
		if (cap_get_bound((cap_value_t)c) == 1)
			bnd |= BIT(c);
	}
	*ret_effective = eff;
	*ret_bounding = bnd;
	return 0;
}

int caps_apply(uint64_t keep, uint64_t *ret_kept, struct error *err)
{
	_cleanup_(cap_freep) cap_t cur = cap_get_proc();
	if (!cur)
		return error_set(err, ERR_INTERNAL, -errno, "cannot read our capabilities: %m");

	uint64_t permitted = 0;
	for (unsigned c = 0; c <= last_cap(); c++) {
		cap_flag_value_t v = CAP_CLEAR;
		if (cap_get_flag(cur, (cap_value_t)c, CAP_PERMITTED, &v) == 0 && v == CAP_SET)
			permitted |= BIT(c);
	}

	/* The bounding set first, while CAP_SETPCAP may still be effective. */
	for (unsigned c = 0; c <= last_cap(); c++) {
		if ((keep & BIT(c)) || cap_get_bound((cap_value_t)c) != 1)
			continue;
		if (cap_drop_bound((cap_value_t)c) < 0) {
			int e = errno;
			if (e != EPERM)
				return error_set(
					err, ERR_INTERNAL, -e,
					"cannot drop capability %u from the bounding set: %s", c,
					strerror(e));
			error_add_details(err, "capability %u stays in the bounding set: %s", c,
					  strerror(e));
		}
	}

	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return error_set(err, ERR_INTERNAL, -errno,
				 "cannot clear the ambient capabilities: %m");

	uint64_t kept = keep & permitted;
	_cleanup_(cap_freep) cap_t next = cap_init();
	if (!next)
		return -ENOMEM;
	for (unsigned c = 0; c <= last_cap(); c++) {
		if (!(kept & BIT(c)))
			continue;
		cap_value_t v = (cap_value_t)c;
		if (cap_set_flag(next, CAP_EFFECTIVE, 1, &v, CAP_SET) < 0 ||
		    cap_set_flag(next, CAP_PERMITTED, 1, &v, CAP_SET) < 0)
			return error_set(err, ERR_INTERNAL, -errno,
					 "cannot build a capability set: %m");
	}
	if (cap_set_proc(next) < 0)
		return error_set(err, ERR_INTERNAL, -errno, "cannot set our capabilities: %m");

	if (ret_kept)
		*ret_kept = kept;
	return 0;
}
