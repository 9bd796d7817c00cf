// SPDX-License-Identifier: Apache-2.0
#include "log_forward.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Bound what one plugin run can hold in memory for the agent. */
#define LOG_FORWARD_MAX_BYTES (256 * 1024)

static void collect(const char *line, size_t len, void *userdata)
{
	struct log_forward *fwd = userdata;
	if (!fwd->lines || fwd->bytes + len > LOG_FORWARD_MAX_BYTES)
		return;
	json_t *s = json_stringn(line, len);
	if (s && json_array_append_new(fwd->lines, s) == 0)
		fwd->bytes += len;
}

void log_forward_start(struct log_forward *fwd)
{
	fwd->lines = json_array();
	fwd->bytes = 0;
	if (fwd->lines)
		log_set_sink(collect, fwd);
}

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

static int post(const char *socket_path, const char *body, size_t body_len, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(socket_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);

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

	char head[256];
	int n = snprintf(head, sizeof(head),
			 "POST /log HTTP/1.1\r\nHost: unix\r\nContent-Type: application/json\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 body_len);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -EINVAL;
	int r = send_all(fd, head, (size_t)n, deadline);
	if (r < 0)
		return r;
	r = send_all(fd, body, body_len, deadline);
	if (r < 0)
		return r;

	/* Only the status line matters: "HTTP/1.1 200 ...". */
	char resp[64];
	size_t got = 0;
	while (got < 12) {
		ssize_t k = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			r = wait_fd(fd, POLLIN, deadline);
			if (r < 0)
				return r;
			continue;
		}
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	resp[got] = '\0';
	if (got < 12 || strncmp(resp, "HTTP/1.", 7) != 0)
		return -EPROTO;
	if (resp[9] != '2')
		return -EREMOTEIO;
	return 0;
}

int log_forward_flush(struct log_forward *fwd, const char *socket_path, int timeout_ms)
{
	log_set_sink(NULL, NULL);
	json_t *lines = fwd->lines;
	fwd->lines = NULL;
	if (!lines)
		return 0;

	int r = 0;
	struct stat st;
	if (json_array_size(lines) > 0 && socket_path && stat(socket_path, &st) == 0 &&
	    S_ISSOCK(st.st_mode)) {
		char *body = json_dumps(lines, JSON_COMPACT);
		if (!body)
			r = -ENOMEM;
		else
			r = post(socket_path, body, strlen(body), timeout_ms);
		free(body);
	}
	json_decref(lines);
	return r;
}
