// SPDX-License-Identifier: Apache-2.0
/* The validation check; see validate.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netlink/netns.h"
#include "netlink/rtnl.h"
#include "util/istio_names.h"
#include "validate.h"

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static uint64_t now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int detect_ipv6(bool *ret, struct error *err)
{
	const int bus[] = {NETLINK_ROUTE};
	_cleanup_mnl_ struct mnl_socket *nl = NULL;
	int r = netns_mnl_open(-1, bus, &nl, 1, err);
	if (r < 0)
		return r;
	return rtnl_detect_ipv6(nl, false, ret, err);
}

struct addr {
	union {
		struct sockaddr sa;
		struct sockaddr_in v4;
		struct sockaddr_in6 v6;
	} u;
	socklen_t len;
};

static void make_addr(bool ipv6, const char *ip, uint16_t port, struct addr *a)
{
	*a = (struct addr){0};
	if (ipv6) {
		a->u.v6.sin6_family = AF_INET6;
		a->u.v6.sin6_port = htons(port);
		(void)inet_pton(AF_INET6, ip, &a->u.v6.sin6_addr);
		a->len = sizeof(a->u.v6);
	} else {
		a->u.v4.sin_family = AF_INET;
		a->u.v4.sin_port = htons(port);
		(void)inet_pton(AF_INET, ip, &a->u.v4.sin_addr);
		a->len = sizeof(a->u.v4);
	}
}

static int listen_on(bool ipv6, uint16_t port, int *ret_fd)
{
	struct addr a;
	make_addr(ipv6, ipv6 ? "::1" : "127.0.0.1", port, &a);
	_cleanup_close_ int fd = socket(ipv6 ? AF_INET6 : AF_INET,
					SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	if (bind(fd, &a.u.sa, a.len) < 0 || listen(fd, 16) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Starts one probe connection; the result is seen by the listener. */
static int probe(bool ipv6, int *ret_fd)
{
	struct addr local, remote;
	make_addr(ipv6, ipv6 ? "::1" : "127.0.0.1", 0, &local);
	make_addr(ipv6, ipv6 ? INBOUND_PASSTHROUGH_V6 : INBOUND_PASSTHROUGH_V4,
		  PORT_VALIDATION_PROBE, &remote);
	_cleanup_close_ int fd = socket(ipv6 ? AF_INET6 : AF_INET,
					SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, &local.u.sa, local.len) < 0)
		return -errno;
	if (connect(fd, &remote.u.sa, remote.len) < 0 && errno != EINPROGRESS)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* Accepts one connection, answers its original port. Returns the port, 0 if none. */
static int serve(int lfd, bool ipv6)
{
	_cleanup_close_ int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	struct addr orig = {0};
	orig.len = ipv6 ? sizeof(orig.u.v6) : sizeof(orig.u.v4);
	int r = ipv6 ? getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig.u, &orig.len)
		     : getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &orig.u, &orig.len);
	if (r < 0)
		return 0; /* not redirected: no conntrack entry */
	uint16_t port = ntohs(ipv6 ? orig.u.v6.sin6_port : orig.u.v4.sin_port);
	char buf[8];
	int n = snprintf(buf, sizeof(buf), "%u", (unsigned)port);
	if (n > 0)
		(void)!write(fd, buf, (size_t)n);
	return port;
}

/* The listeners, the probe in flight and what the last attempt saw. */
struct vstate {
	bool ipv6;
	int lfd[2];
	size_t n_listen;
	int client;
	char last[160];
};

static bool choose_ipv6(const struct validate_options *opts)
{
	bool ipv6 = opts && opts->force_ipv6;
	if (!ipv6 && opts && opts->detect_family) {
		struct error e = {0};
		bool v6 = false;
		if (detect_ipv6(&v6, &e) >= 0)
			ipv6 = v6;
	}
	return ipv6;
}

static int open_listeners(struct vstate *s, struct error *err)
{
	const uint16_t ports[] = {PORT_OUTBOUND_CAPTURE, PORT_INBOUND_CAPTURE};
	int lerr = 0;
	for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
		int r = listen_on(s->ipv6, ports[i], &s->lfd[s->n_listen]);
		if (r < 0)
			lerr = r;
		else
			s->n_listen++;
	}
	if (s->n_listen == 0)
		return error_set(err, ERR_IO, -EADDRNOTAVAIL,
				 "no listener available on %s:%u or :%u: %s",
				 s->ipv6 ? "[::1]" : "127.0.0.1", PORT_OUTBOUND_CAPTURE,
				 PORT_INBOUND_CAPTURE, strerror(-lerr));
	return 0;
}

static void probe_again(struct vstate *s)
{
	if (s->client >= 0)
		close(s->client);
	s->client = -1;
	int r = probe(s->ipv6, &s->client);
	if (r < 0)
		(void)snprintf(s->last, sizeof(s->last), "connect to %s:%u: %s",
			       s->ipv6 ? "[::6]" : "127.0.0.6", PORT_VALIDATION_PROBE,
			       strerror(-r));
}

/* Serves the listeners poll found readable; true when the probe arrived redirected. */
static bool serve_ready(struct vstate *s, const struct pollfd *pfd)
{
	for (size_t i = 0; i < s->n_listen; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		int port = serve(s->lfd[i], s->ipv6);
		if (port == PORT_VALIDATION_PROBE)
			return true;
		if (port > 0)
			(void)snprintf(s->last, sizeof(s->last),
				       "a connection arrived with original port %d", port);
	}
	return false;
}

/* The probe's connect finished: notes a failure and closes it. */
static void probe_done(struct vstate *s)
{
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	if (getsockopt(s->client, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
		(void)snprintf(s->last, sizeof(s->last), "connect to %s:%u: %s",
			       s->ipv6 ? "[::6]" : "127.0.0.6", PORT_VALIDATION_PROBE,
			       strerror(soerr));
	/* Connected or refused: either way this probe is over (a
	 * connection already queued on our listener stays there). */
	close(s->client);
	s->client = -1;
}

/* Probes every interval until one arrives redirected (0) or timeout ms pass. */
static int probe_loop(struct vstate *s, uint64_t timeout, struct error *err)
{
	uint64_t start = now_ms(), deadline = start + timeout, next_probe = start;
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		if (now >= next_probe) {
			probe_again(s);
			next_probe = now + VALIDATE_PROBE_INTERVAL_MS;
		}
		struct pollfd pfd[3];
		nfds_t n = 0;
		for (size_t i = 0; i < s->n_listen; i++)
			pfd[n++] = (struct pollfd){.fd = s->lfd[i], .events = POLLIN};
		if (s->client >= 0)
			pfd[n++] = (struct pollfd){.fd = s->client, .events = POLLOUT};
		uint64_t wake = next_probe < deadline ? next_probe : deadline;
		int r = poll(pfd, n, (int)(wake - now));
		if (r < 0 && errno != EINTR)
			return error_set(err, ERR_IO, -errno, "poll failed");
		if (serve_ready(s, pfd))
			return 0;
		if (s->client >= 0 && n > s->n_listen && (pfd[n - 1].revents & (POLLOUT | POLLERR)))
			probe_done(s);
	}
	return error_set(err, ERR_CHECK, -ETIMEDOUT, "validation timeout after %llu ms (%s)",
			 (unsigned long long)timeout, s->last);
}

int validate_run(const struct validate_options *opts, bool *ret_ipv6, struct error *err)
{
	uint64_t timeout = opts && opts->timeout_ms ? opts->timeout_ms
						    : VALIDATE_DEFAULT_TIMEOUT_MS;
	struct vstate s = {
		.ipv6 = choose_ipv6(opts),
		.lfd = {-1, -1},
		.client = -1,
		.last = "no probe made",
	};
	int result = open_listeners(&s, err);
	if (result < 0)
		return result;
	result = probe_loop(&s, timeout, err);
	if (s.client >= 0)
		close(s.client);
	for (size_t i = 0; i < s.n_listen; i++)
		close(s.lfd[i]);
	if (result == 0 && ret_ipv6)
		*ret_ipv6 = s.ipv6;
	return result;
}
