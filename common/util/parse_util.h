/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one place numbers, ports, booleans, CIDRs and interface names are parsed
 * from text. Every helper takes an explicit range and writes its output only
 * on success.
 */
#ifndef ISTIO_CNI_PARSE_UTIL_H
#define ISTIO_CNI_PARSE_UTIL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"

/* Decimal only, no sign, no spaces; -EINVAL on syntax, -ERANGE outside [min, max]. */
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *ret) _must_check_;

/* A TCP/UDP port, 1-65535. */
int parse_port(const char *s, uint16_t *ret) _must_check_;

/* Go's strconv.ParseBool set: 1 t T TRUE true True 0 f F FALSE false False. */
int parse_bool(const char *s, bool *ret) _must_check_;

struct cidr {
	int family; /* AF_INET or AF_INET6 */
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	} addr;
	uint8_t prefix;
};

/*
 * "a.b.c.d/n" or "x::y/n"; a bare address is rejected (Istio requires the
 * prefix). Host bits are kept as written.
 */
int parse_cidr(const char *s, struct cidr *ret) _must_check_;

/* Formats as "addr/prefix" into buf (at least 64 bytes). */
const char *parse_cidr_to_string(const struct cidr *c, char *buf, size_t len);

/* The network address (host bits cleared). */
void parse_cidr_mask(const struct cidr *c, struct cidr *ret);

/* Kernel rules for interface names: 1-15 bytes, no '/', no whitespace, not "." or "..". */
bool parse_ifname_valid(const char *s);

/* Trims ASCII whitespace in place at both ends; returns s. */
char *parse_strip(char *s);

#endif
