// SPDX-License-Identifier: Apache-2.0
#include "util/file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int file_read_fd_full_wait(int fd, size_t cap, int (*wait)(int fd, void *ctx), void *ctx,
			   char **ret_buf, size_t *ret_len)
{
	size_t size = 4096, len = 0;
	_cleanup_free_ char *buf = malloc(size);
	if (!buf)
		return -ENOMEM;

	for (;;) {
		if (len + 1 >= size) {
			if (size > cap + 1)
				return -EFBIG;
			size_t nsize = size * 2;
			if (nsize > cap + 2)
				nsize = cap + 2;
			char *n = realloc(buf, nsize);
			if (!n)
				return -ENOMEM;
			buf = n;
			size = nsize;
		}
		ssize_t k = read(fd, buf + len, size - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && errno == EAGAIN && wait) {
			int r = wait(fd, ctx);
			if (r < 0)
				return r;
			continue;
		}
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		len += (size_t)k;
		if (len > cap)
			return -EFBIG;
	}
	buf[len] = '\0';
	*ret_buf = TAKE_PTR(buf);
	if (ret_len)
		*ret_len = len;
	return 0;
}

int file_read_fd_full(int fd, size_t cap, char **ret_buf, size_t *ret_len)
{
	return file_read_fd_full_wait(fd, cap, NULL, NULL, ret_buf, ret_len);
}

static int open_regular(const char *path, int flags, int *ret_fd)
{
	/* O_NONBLOCK so that opening a FIFO returns instead of waiting for a writer. */
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | flags);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	*ret_fd = TAKE_FD(fd);
	return 0;
}

int file_open_regular(const char *path, int *ret_fd)
{
	return open_regular(path, 0, ret_fd);
}

int file_open_regular_nofollow(const char *path, int *ret_fd)
{
	return open_regular(path, O_NOFOLLOW, ret_fd);
}

int file_read_full(const char *path, size_t cap, char **ret_buf, size_t *ret_len)
{
	_cleanup_close_ int fd = -1;
	int r = file_open_regular(path, &fd);
	if (r < 0)
		return r;
	return file_read_fd_full(fd, cap, ret_buf, ret_len);
}

static int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		dir[0] = '.';
		dir[1] = '\0';
	} else if (slash == path) {
		dir[0] = '/';
		dir[1] = '\0';
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return -ENAMETOOLONG;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;

	_cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;

	int r = 0;
	const char *p = data;
	size_t left = len;
	while (left > 0) {
		ssize_t k = write(fd, p, left);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto fail;
		}
		p += k;
		left -= (size_t)k;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto fail;
	}
	if (close(TAKE_FD(fd)) < 0) {
		r = -errno;
		goto fail;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	return fsync_dir_of(path);

fail:
	(void)unlink(tmp);
	return r;
}
