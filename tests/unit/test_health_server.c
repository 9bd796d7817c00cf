// SPDX-License-Identifier: Apache-2.0
/*
 * The health server's GET /debug/audit against a fake audit that answers only
 * when the test says so: while a request waits for its pass, /healthz is
 * answered first; the pass's notification answers the request; a request
 * still waiting when the server is freed gets a 503, and the audit is told
 * to stop notifying first. On 127.0.0.1 only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "health_server.h"
#include "util/monotonic.h"

/* An audit whose passes end when the test calls fake_pass_done. Like the
 * real one, it calls the notification under a lock of its own, never under
 * the one begin takes. */
struct fake {
	pthread_mutex_t lock; /* begins */
	pthread_cond_t cond;
	unsigned begins;
	pthread_mutex_t notify_lock; /* what follows */
	void (*fn)(void *fn_ud, uint64_t pass, unsigned status, const char *body, size_t len);
	void *fn_ud;
	bool detached; /* set_notify(NULL) was called */
};

static int fake_begin(void *ud, uint64_t *ret_ticket, unsigned *ret_status, char **ret_body,
		      size_t *ret_len)
{
	struct fake *f = ud;
	(void)ret_status;
	(void)ret_body;
	(void)ret_len;
	(void)pthread_mutex_lock(&f->lock);
	*ret_ticket = ++f->begins;
	(void)pthread_cond_broadcast(&f->cond);
	(void)pthread_mutex_unlock(&f->lock);
	return 0;
}

static void fake_set_notify(void *ud,
			    void (*fn)(void *fn_ud, uint64_t pass, unsigned status,
				       const char *body, size_t len),
			    void *fn_ud)
{
	struct fake *f = ud;
	(void)pthread_mutex_lock(&f->notify_lock);
	f->fn = fn;
	f->fn_ud = fn_ud;
	f->detached = !fn;
	(void)pthread_mutex_unlock(&f->notify_lock);
}

static const struct health_audit fake_ops = {
	.begin = fake_begin,
	.set_notify = fake_set_notify,
};

/* Waits (at most 30 s) until the fake saw n requests. */
static bool fake_wait_begins(struct fake *f, unsigned n)
{
	struct timespec until = monotonic_deadline(30000);
	(void)pthread_mutex_lock(&f->lock);
	while (f->begins < n)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &until) != 0)
			break;
	bool ok = f->begins >= n;
	(void)pthread_mutex_unlock(&f->lock);
	return ok;
}

static void fake_pass_done(struct fake *f, uint64_t pass, unsigned status, const char *body)
{
	(void)pthread_mutex_lock(&f->notify_lock);
	assert_non_null(f->fn);
	f->fn(f->fn_ud, pass, status, body, strlen(body));
	(void)pthread_mutex_unlock(&f->notify_lock);
}

/* A port on 127.0.0.1 that nothing listens on now. */
static uint16_t free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof(sa);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	(void)close(fd);
	return ntohs(sa.sin_port);
}

/* Sends GET path (Connection: close); returns the socket. */
static int send_get(uint16_t port, const char *path)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
	assert_int_equal(write(fd, req, (size_t)n), n);
	return fd;
}

/* Whether an answer (or the end) is there to read on fd now. */
static bool readable(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	return poll(&p, 1, 0) == 1;
}

/* The whole answer on fd (at most 30 s): its status, and its body into body. */
static unsigned read_answer(int fd, char *body, size_t len)
{
	char buf[8192];
	size_t n = 0;
	uint64_t end = monotonic_ms() + 30000;
	for (;;) {
		uint64_t now = monotonic_ms();
		if (now >= end)
			break;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(end - now)) <= 0)
			break;
		ssize_t r = read(fd, buf + n, sizeof(buf) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	(void)close(fd);
	unsigned status = 0;
	const char *b = strstr(buf, "\r\n\r\n");
	// NOLINTNEXTLINE(cert-err34-c): a status the assertions compare
	if (!b || sscanf(buf, "HTTP/1.1 %u", &status) != 1)
		return 0;
	(void)snprintf(body, len, "%s", b + 4);
	return status;
}

static void test_audit_waits_suspended(void **state)
{
	(void)state;
	struct fake f = {0};
	assert_int_equal(monotonic_cond_init(&f.lock, &f.cond), 0);
	assert_int_equal(pthread_mutex_init(&f.notify_lock, NULL), 0);
	uint16_t port = free_port();
	const struct health_server_options o = {
		.health_port = port,
		.monitoring_port = port,
		.audit = &fake_ops,
		.audit_ud = &f,
		.bind_address = "127.0.0.1",
	};
	struct health_server *hs = NULL;
	struct error err = {0};
	assert_int_equal(health_server_new(&o, &hs, &err), 0);
	assert_non_null(f.fn);
	char body[4096];

	/* A waits for pass 1; meanwhile /healthz is answered. */
	int a = send_get(port, "/debug/audit");
	assert_true(fake_wait_begins(&f, 1));
	assert_int_equal(read_answer(send_get(port, "/healthz"), body, sizeof(body)), 200);
	assert_string_equal(body, "ok\n");
	assert_false(readable(a));
	/* B comes while A waits: it waits for pass 2. */
	int b = send_get(port, "/debug/audit");
	assert_true(fake_wait_begins(&f, 2));
	fake_pass_done(&f, 1, 200, "{\"pods\":[],\"ok\":0,\"drift\":0,\"unchecked\":0}");
	assert_int_equal(read_answer(a, body, sizeof(body)), 200);
	assert_string_equal(body, "{\"pods\":[],\"ok\":0,\"drift\":0,\"unchecked\":0}");
	assert_false(readable(b));

	/* B still waits when the server stops: 503, and no notification after. */
	health_server_free(hs);
	assert_true(f.detached);
	assert_int_equal(read_answer(b, body, sizeof(body)), 503);
	assert_string_equal(body, "the agent is stopping\n");
	(void)pthread_mutex_destroy(&f.notify_lock);
	(void)pthread_mutex_destroy(&f.lock);
	(void)pthread_cond_destroy(&f.cond);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit_waits_suspended),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
