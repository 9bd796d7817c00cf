// SPDX-License-Identifier: Apache-2.0
#include "uds_http.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "util/file_util.h"
#include "util/parse_util.h"

static long long now_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline; -ETIMEDOUT when it passes. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = {.fd = fd, .events = events};
		int k = poll(&p, 1, (int)left);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return -ETIMEDOUT;
		return 0;
	}
}

static int send_all(int fd, const char *buf, size_t len, long long deadline)
{
	while (len > 0) {
		ssize_t k = send(fd, buf, len, MSG_NOSIGNAL);
		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = wait_fd(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (k < 0)
			return -errno;
		buf += k;
		len -= (size_t)k;
	}
	return 0;
}

static int connect_unix(const char *path, long long deadline, int *ret_fd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			return -errno;
		int r = wait_fd(fd, POLLOUT, deadline);
		if (r < 0)
			return r;
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			return -errno;
		if (soerr != 0)
			return -soerr;
	}
	*ret_fd = TAKE_FD(fd);
	return 0;
}

/* file_read_fd_full_wait's wait: fd readable before the deadline (a long long, ms). */
static int wait_readable(int fd, void *deadline)
{
	return wait_fd(fd, POLLIN, *(const long long *)deadline);
}

/* Splits "HTTP/1.x NNN ...\r\nheaders\r\n\r\nbody" into status and body. */
static int parse_response(char *raw, size_t len, struct uds_http_response *ret)
{
	if (len < 12 || strncmp(raw, "HTTP/1.", 7) != 0 || raw[8] != ' ')
		return -EPROTO;
	char code[4] = {raw[9], raw[10], raw[11], '\0'};
	uint64_t status;
	if (parse_u64(code, 100, 599, &status) < 0)
		return -EPROTO;
	char *sep = strstr(raw, "\r\n\r\n");
	if (!sep)
		return -EPROTO;

	/* Chunked bodies are not expected from the agent: refuse rather than misread. */
	*sep = '\0';
	for (char *h = strstr(raw, "\r\n"); h; h = strstr(h + 2, "\r\n"))
		if (strncasecmp(h + 2, "Transfer-Encoding:", 18) == 0 &&
		    strstr(h + 20, "chunked") != NULL)
			return -EPROTO;

	const char *body = sep + 4;
	size_t body_len = len - (size_t)(body - raw);
	char *copy = malloc(body_len + 1);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, body, body_len);
	copy[body_len] = '\0';
	ret->status = (int)status;
	ret->body = copy;
	ret->body_len = body_len;
	return 0;
}

int uds_http_request(const char *socket_path, const char *method, const char *target,
		     const char *body, size_t body_len, int timeout_ms, size_t max_response,
		     struct uds_http_response *ret)
{
	long long deadline = now_ms() + timeout_ms;
	_cleanup_close_ int fd = -1;
	int r = connect_unix(socket_path, deadline, &fd);
	if (r < 0)
		return r;

	char head[1024];
	int n;
	if (body)
		n = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: unix\r\nContent-Type: application/json\r\n"
			     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			     method, target, body_len);
	else
		n = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: unix\r\nConnection: close\r\n\r\n", method,
			     target);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -E2BIG;
	r = send_all(fd, head, (size_t)n, deadline);
	if (r >= 0 && body)
		r = send_all(fd, body, body_len, deadline);
	if (r < 0)
		return r;

	_cleanup_free_ char *raw = NULL;
	size_t raw_len = 0;
	/* To EOF: the server closes, as we asked for Connection: close. */
	r = file_read_fd_full_wait(fd, max_response, wait_readable, &deadline, &raw, &raw_len);
	if (r < 0)
		return r;
	return parse_response(raw, raw_len, ret);
}

void uds_http_response_done(struct uds_http_response *r)
{
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
}
