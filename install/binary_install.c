// SPDX-License-Identifier: Apache-2.0
#include "binary_install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/file_util.h"

static void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

int binary_remove_stale_temps(const char *dst_dir, const char *name)
{
	__attribute__((cleanup(closedirp))) DIR *d = opendir(dst_dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	char prefix[NAME_MAX + 8];
	int n = snprintf(prefix, sizeof(prefix), "%s.tmp.", name);
	if (n < 0 || (size_t)n >= sizeof(prefix))
		return -ENAMETOOLONG;
	int removed = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (strncmp(de->d_name, prefix, (size_t)n) != 0 || de->d_name[n] == '\0')
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			removed++;
	}
	return removed;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int read_some(int fd, char *buf, size_t len, size_t *ret)
{
	for (;;) {
		ssize_t k = read(fd, buf, len);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		*ret = (size_t)k;
		return 0;
	}
}

/* Reads exactly len bytes or up to EOF. */
static int read_full(int fd, char *buf, size_t len, size_t *ret)
{
	size_t got = 0;
	while (got < len) {
		size_t k = 0;
		int r = read_some(fd, buf + got, len - got, &k);
		if (r < 0)
			return r;
		if (k == 0)
			break;
		got += k;
	}
	*ret = got;
	return 0;
}

/* 1 when the two open files have the same bytes. */
static int same_content(int a, int b)
{
	char ba[65536], bb[65536];
	for (;;) {
		size_t na, nb;
		int r = read_full(a, ba, sizeof(ba), &na);
		if (r < 0)
			return r;
		r = read_full(b, bb, sizeof(bb), &nb);
		if (r < 0)
			return r;
		if (na != nb || memcmp(ba, bb, na) != 0)
			return 0;
		if (na == 0)
			return 1;
	}
}

static int io_error(struct error *err, int r, const char *what, const char *path)
{
	if (r == -EROFS || r == -EACCES || r == -EPERM)
		return error_set(err, ERR_IO, r,
				 "%s \"%s\": %s (is the host CNI bin dir mounted read-only? "
				 "set MOUNTED_CNI_BIN_DIR to a writable directory)",
				 what, path, strerror(-r));
	return error_set(err, ERR_IO, r, "%s \"%s\": %s", what, path, strerror(-r));
}

/*
 * Whether dst can stay: 1 when it is a regular file to keep (no update
 * asked) or already equal to in (size, mode, bytes); 0 when it is to be
 * replaced (in is then back at its start). Anything but a regular file at
 * dst (a FIFO, whose open would block, a socket, a symlink) is replaced.
 */
static int dst_current(int in, const struct stat *sst, const char *src, const char *dst,
		       const struct binary_install_opts *opts, struct error *err)
{
	_cleanup_close_ int old = -EBADF;
	if (file_open_regular_nofollow(dst, &old) < 0)
		return 0;
	if (opts && !opts->update)
		return 1;
	struct stat dstst;
	if (fstat(old, &dstst) != 0 || !S_ISREG(dstst.st_mode) || dstst.st_size != sst->st_size ||
	    (dstst.st_mode & 07777) != (sst->st_mode & 07777))
		return 0;
	int r = same_content(in, old);
	if (r < 0)
		return io_error(err, r, "comparing", dst);
	if (r > 0)
		return 1;
	if (lseek(in, 0, SEEK_SET) < 0)
		return io_error(err, -errno, "seeking", src);
	return 0;
}

/* Copies in into the temp file *out, sets mode, syncs and closes it (*out is -EBADF after). */
static int fill_temp(int in, const char *src, int *out, const char *tmp, mode_t mode,
		     struct error *err)
{
	char buf[65536];
	for (;;) {
		size_t k = 0;
		int r = read_some(in, buf, sizeof(buf), &k);
		if (r < 0)
			return io_error(err, r, "reading", src);
		if (k == 0)
			break;
		r = write_all(*out, buf, k);
		if (r < 0)
			return io_error(err, r, "writing", tmp);
	}
	if (fchmod(*out, mode) < 0 || fsync(*out) < 0)
		return io_error(err, -errno, "syncing", tmp);
	if (close(TAKE_FD(*out)) < 0)
		return io_error(err, -errno, "closing", tmp);
	return 0;
}

int binary_install(const char *src_dir, const char *dst_dir, const char *name,
		   const struct binary_install_opts *opts, struct error *err)
{
	for (size_t i = 0; opts && i < opts->n_skip; i++)
		if (strcmp(opts->skip[i], name) == 0)
			return 0;

	char src[PATH_MAX], dst[PATH_MAX], tmp[PATH_MAX];
	int n = snprintf(src, sizeof(src), "%s/%s", src_dir, name);
	int m = snprintf(dst, sizeof(dst), "%s/%s", dst_dir, name);
	int t = snprintf(tmp, sizeof(tmp), "%s/%s.tmp.XXXXXX", dst_dir, name);
	if (n < 0 || m < 0 || t < 0 || (size_t)n >= sizeof(src) || (size_t)m >= sizeof(dst) ||
	    (size_t)t >= sizeof(tmp))
		return error_set(err, ERR_IO, -ENAMETOOLONG, "path too long for \"%s\"", name);

	int r = binary_remove_stale_temps(dst_dir, name);
	if (r < 0)
		return io_error(err, r, "listing", dst_dir);

	_cleanup_close_ int in = -EBADF;
	r = file_open_regular(src, &in);
	if (r == -EINVAL)
		return error_set(err, ERR_IO, r, "\"%s\" is not a regular file", src);
	if (r < 0)
		return io_error(err, r, "opening", src);
	struct stat sst;
	if (fstat(in, &sst) < 0)
		return io_error(err, -errno, "stat", src);

	r = dst_current(in, &sst, src, dst, opts, err);
	if (r != 0)
		return r < 0 ? r : 0;

	_cleanup_close_ int out = mkostemp(tmp, O_CLOEXEC);
	if (out < 0)
		return io_error(err, -errno, "creating a temp file in", dst_dir);
	r = fill_temp(in, src, &out, tmp, sst.st_mode & 07777, err);
	if (r == 0 && rename(tmp, dst) < 0)
		r = io_error(err, -errno, "renaming over", dst);
	if (r < 0) {
		(void)unlink(tmp);
		return r;
	}
	{
		_cleanup_close_ int dfd = open(dst_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			(void)fsync(dfd);
	}
	return 1;
}

int binary_uninstall(const char *dst_dir, const char *name, struct error *err)
{
	char dst[PATH_MAX];
	int n = snprintf(dst, sizeof(dst), "%s/%s", dst_dir, name);
	if (n < 0 || (size_t)n >= sizeof(dst))
		return error_set(err, ERR_IO, -ENAMETOOLONG, "path too long for \"%s\"", name);
	if (unlink(dst) < 0 && errno != ENOENT)
		return io_error(err, -errno, "removing", dst);
	return 0;
}
