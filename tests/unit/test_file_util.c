// SPDX-License-Identifier: Apache-2.0
/* Reading an fd whole: the blocking read, the waiting read and the cap. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "util/file_util.h"

/* A pipe whose read end does not block. */
static void nonblocking_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	int fl = fcntl(p[0], F_GETFL);
	assert_true(fl >= 0);
	assert_int_equal(fcntl(p[0], F_SETFL, fl | O_NONBLOCK), 0);
}

struct writer {
	int fd; /* the write end, closed by the last step */
	unsigned calls;
};

/* The wait: each call is one step of the writer, "def" and then EOF. */
static int write_then_close(int fd, void *ctx)
{
	(void)fd;
	struct writer *w = ctx;
	w->calls++;
	if (w->calls == 1)
		return write(w->fd, "def", 3) == 3 ? 0 : -EIO;
	assert_int_equal(close(w->fd), 0);
	w->fd = -1;
	return 0;
}

static int give_up(int fd, void *ctx)
{
	(void)fd;
	(*(unsigned *)ctx)++;
	return -ETIMEDOUT;
}

static void test_wait(void **state)
{
	(void)state;
	int p[2];
	nonblocking_pipe(p);
	assert_int_equal(write(p[1], "abc", 3), 3);
	struct writer w = {.fd = p[1]};
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(file_read_fd_full_wait(p[0], 64, write_then_close, &w, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_string_equal(buf, "abcdef");
	assert_int_equal(w.calls, 2);
	free(buf);
	assert_int_equal(close(p[0]), 0);
}

/* The wait's error ends the read, and nothing is returned. */
static void test_wait_error(void **state)
{
	(void)state;
	int p[2];
	nonblocking_pipe(p);
	assert_int_equal(write(p[1], "abc", 3), 3);
	unsigned calls = 0;
	char *buf = NULL;
	size_t len = 0;
	assert_int_equal(file_read_fd_full_wait(p[0], 64, give_up, &calls, &buf, &len), -ETIMEDOUT);
	assert_int_equal(calls, 1);
	assert_null(buf);
	/* Without a wait, a read that would block is an error. */
	assert_int_equal(file_read_fd_full(p[0], 64, &buf, &len), -EAGAIN);
	assert_null(buf);
	assert_int_equal(close(p[1]), 0);
	assert_int_equal(close(p[0]), 0);
}

/* More than cap bytes is -EFBIG, exactly cap is fine, waiting or not. */
static void test_cap(void **state)
{
	(void)state;
	static char data[10000];
	memset(data, 'x', sizeof(data));
	for (int waiting = 0; waiting < 2; waiting++)
		for (size_t cap = sizeof(data) - 1; cap <= sizeof(data); cap++) {
			int p[2];
			nonblocking_pipe(p);
			assert_int_equal(write(p[1], data, sizeof(data)), (ssize_t)sizeof(data));
			assert_int_equal(close(p[1]), 0);
			unsigned calls = 0;
			char *buf = NULL;
			size_t len = 0;
			int r = waiting ? file_read_fd_full_wait(p[0], cap, give_up, &calls, &buf,
								 &len)
					: file_read_fd_full(p[0], cap, &buf, &len);
			if (cap < sizeof(data)) {
				assert_int_equal(r, -EFBIG);
				assert_null(buf);
			} else {
				assert_int_equal(r, 0);
				assert_int_equal(len, sizeof(data));
				free(buf);
			}
			assert_int_equal(calls, 0);
			assert_int_equal(close(p[0]), 0);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wait),
		cmocka_unit_test(test_wait_error),
		cmocka_unit_test(test_cap),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
