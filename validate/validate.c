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

int validate_run(const struct validate_options *opts, bool *ret_ipv6, struct error *err)
{
	uint64_t timeout = opts && opts->timeout_ms ? opts->timeout_ms
						    : VALIDATE_DEFAULT_TIMEOUT_MS;
	bool ipv6 = opts && opts->force_ipv6;
	if (!ipv6 && opts && opts->detect_family) {
		struct error e = {0};
		bool v6 = false;
		if (detect_ipv6(&v6, &e) >= 0)
			ipv6 = v6;
	}
	const uint16_t ports[] = {PORT_OUTBOUND_CAPTURE, PORT_INBOUND_CAPTURE};
	int lfd[2] = {-1, -1};
	size_t n_listen = 0;
	int lerr = 0;
	for (size_t i = 0; i < ELEMENTSOF(ports); i++) {
		int r = listen_on(ipv6, ports[i], &lfd[n_listen]);
		if (r < 0)
			lerr = r;
		else
			n_listen++;
	}
	if (n_listen == 0)
		return error_set(err, ERR_IO, -EADDRNOTAVAIL,
				 "no listener available on %s:%u or :%u: %s",
				 ipv6 ? "[::1]" : "127.0.0.1", PORT_OUTBOUND_CAPTURE,
				 PORT_INBOUND_CAPTURE, strerror(-lerr));

	uint64_t start = now_ms(), deadline = start + timeout, next_probe = start;
	int client = -1, result = -ETIMEDOUT;
	char last[160] = "no probe made";
	for (;;) {
		uint64_t now = now_ms();
		if (now >= deadline)
			break;
		if (now >= next_probe) {
			if (client >= 0)
				close(client);
			client = -1;
			int r = probe(ipv6, &client);
			if (r < 0)
				(void)snprintf(last, sizeof(last), "connect to %s:%u: %s",
					       ipv6 ? "[::6]" : "127.0.0.6", PORT_VALIDATION_PROBE,
					       strerror(-r));
			next_probe = now + VALIDATE_PROBE_INTERVAL_MS;
		}
		struct pollfd pfd[3];
		nfds_t n = 0;
		for (size_t i = 0; i < n_listen; i++)
			pfd[n++] = (struct pollfd){.fd = lfd[i], .events = POLLIN};
		if (client >= 0)
			pfd[n++] = (struct pollfd){.fd = client, .events = POLLOUT};
		uint64_t wake = next_probe < deadline ? next_probe : deadline;
		int r = poll(pfd, n, (int)(wake - now));
		if (r < 0 && errno != EINTR) {
			result = error_set(err, ERR_IO, -errno, "poll failed");
			goto out;
		}
		for (size_t i = 0; i < n_listen; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			int port = serve(lfd[i], ipv6);
			if (port == PORT_VALIDATION_PROBE) {
				result = 0;
				goto out;
			}
			if (port > 0)
				(void)snprintf(last, sizeof(last),
					       "a connection arrived with original port %d", port);
		}
		if (client >= 0 && n > n_listen && (pfd[n - 1].revents & (POLLOUT | POLLERR))) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			if (getsockopt(client, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr)
				(void)snprintf(last, sizeof(last), "connect to %s:%u: %s",
					       ipv6 ? "[::6]" : "127.0.0.6", PORT_VALIDATION_PROBE,
					       strerror(soerr));
			/* Connected or refused: either way this probe is over (a
			 * connection already queued on our listener stays there). */
			close(client);
			client = -1;
		}
	}
	result = error_set(err, ERR_CHECK, -ETIMEDOUT, "validation timeout after %llu ms (%s)",
			   (unsigned long long)timeout, last);
out:
	if (client >= 0)
		close(client);
	for (size_t i = 0; i < n_listen; i++)
		close(lfd[i]);
	if (result == 0 && ret_ipv6)
		*ret_ipv6 = ipv6;
	return result;
}
