// SPDX-License-Identifier: Apache-2.0
/*
 * getaddrinfo() of the static executables (c-ares), linked into this test in
 * place of libc's: numeric hosts (answered without c-ares, so no DNS query
 * leaves this test), /etc/hosts, refusals, the list freed, and lookups from
 * several threads at once (libcurl's resolver threads).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

static const struct addrinfo stream = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

static void test_numeric_v4(void **state)
{
	(void)state;
	struct addrinfo *res = NULL;
	assert_int_equal(getaddrinfo("127.0.0.1", "6443", &stream, &res), 0);
	assert_non_null(res);
	assert_int_equal(res->ai_family, AF_INET);
	assert_int_equal(res->ai_socktype, SOCK_STREAM);
	assert_int_equal(res->ai_addrlen, sizeof(struct sockaddr_in));
	const struct sockaddr_in *sin = (const struct sockaddr_in *)res->ai_addr;
	assert_int_equal(ntohs(sin->sin_port), 6443);
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	assert_null(res->ai_next);
	freeaddrinfo(res);
}

static void test_numeric_v6(void **state)
{
	(void)state;
	struct addrinfo *res = NULL;
	assert_int_equal(getaddrinfo("::1", "443", &stream, &res), 0);
	assert_non_null(res);
	assert_int_equal(res->ai_family, AF_INET6);
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)res->ai_addr;
	assert_int_equal(ntohs(sin6->sin6_port), 443);
	assert_memory_equal(&sin6->sin6_addr, &in6addr_loopback, sizeof(in6addr_loopback));
	freeaddrinfo(res);
}

/* No socket type asked: one node for each of TCP and UDP, as libc gives. */
static void test_numeric_any_socktype(void **state)
{
	(void)state;
	struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_CANONNAME};
	struct addrinfo *res = NULL;
	assert_int_equal(getaddrinfo("10.96.0.1", NULL, &hints, &res), 0);
	assert_non_null(res);
	assert_int_equal(res->ai_socktype, SOCK_STREAM);
	assert_int_equal(res->ai_protocol, IPPROTO_TCP);
	assert_string_equal(res->ai_canonname, "10.96.0.1");
	assert_non_null(res->ai_next);
	assert_int_equal(res->ai_next->ai_socktype, SOCK_DGRAM);
	assert_int_equal(res->ai_next->ai_protocol, IPPROTO_UDP);
	assert_null(res->ai_next->ai_next);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)res->ai_addr;
	assert_int_equal(sin->sin_port, 0);
	freeaddrinfo(res);
}

/* localhost comes from /etc/hosts, with no DNS query; skipped where it is not listed. */
static void test_hosts_file(void **state)
{
	(void)state;
	FILE *f = fopen("/etc/hosts", "re");
	bool listed = false;
	char line[512];
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "127.0.0.1", 9) == 0 && strstr(line, "localhost"))
			listed = true;
	if (f)
		fclose(f);
	if (!listed) {
		skip();
		return;
	}
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	assert_int_equal(getaddrinfo("localhost", "443", &hints, &res), 0);
	assert_non_null(res);
	assert_int_equal(res->ai_family, AF_INET);
	const struct sockaddr_in *sin = (const struct sockaddr_in *)res->ai_addr;
	assert_int_equal(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);
	freeaddrinfo(res);
}

static void test_refusals(void **state)
{
	(void)state;
	struct addrinfo marker = {0};
	struct addrinfo *res = &marker; /* must come back NULL */
	struct addrinfo numeric = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM};

	assert_int_equal(getaddrinfo("api.example", "443", &numeric, &res), EAI_NONAME);
	assert_null(res);
	res = &marker;
	assert_int_equal(getaddrinfo(NULL, "443", &stream, &res), EAI_NONAME);
	assert_null(res);
	/* An IPv4 literal asked for as IPv6 has no answer. */
	struct addrinfo v6 = {.ai_family = AF_INET6, .ai_flags = AI_NUMERICHOST};
	assert_int_equal(getaddrinfo("127.0.0.1", NULL, &v6, &res), EAI_ADDRFAMILY);
	assert_null(res);
	/* No services database: only numeric ports. */
	assert_int_equal(getaddrinfo("127.0.0.1", "https", &stream, &res), EAI_SERVICE);
	assert_int_equal(getaddrinfo("127.0.0.1", "70000", &stream, &res), EAI_SERVICE);
	assert_int_equal(getaddrinfo("127.0.0.1", "-1", &stream, &res), EAI_SERVICE);
	/* A zone index is not supported; a colon never makes a host name. */
	assert_int_equal(getaddrinfo("fe80::1%eth0", "443", &stream, &res), EAI_NONAME);
	assert_null(res);
	freeaddrinfo(NULL);
}

static void *resolve_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50; i++) {
		struct addrinfo *res = NULL;
		if (getaddrinfo("10.96.0.1", "443", &stream, &res) != 0 || !res)
			return (void *)1;
		freeaddrinfo(res);
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	pthread_t t[8];
	for (int i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&t[i], NULL, resolve_many, NULL), 0);
	for (int i = 0; i < 8; i++) {
		void *ret = (void *)1;
		assert_int_equal(pthread_join(t[i], &ret), 0);
		assert_null(ret);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numeric_v4),
		cmocka_unit_test(test_numeric_v6),
		cmocka_unit_test(test_numeric_any_socktype),
		cmocka_unit_test(test_hosts_file),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
