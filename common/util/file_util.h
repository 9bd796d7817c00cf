/* SPDX-License-Identifier: Apache-2.0 */
/* Bounded reads and atomic writes: nothing is read without a cap, and no
 * reader ever sees a half-written file of ours. */
#ifndef ISTIO_CNI_FILE_UTIL_H
#define ISTIO_CNI_FILE_UTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "util/cleanup.h"

/*
 * Opens path for reading only if it is a regular file. The open never blocks:
 * a FIFO, socket or device planted where a file is expected gives -EINVAL at
 * once instead of hanging the caller, a directory -EISDIR. The returned
 * descriptor is blocking and close-on-exec; it is the caller's to close.
 */
int file_open_regular(const char *path, int *ret_fd) _must_check_;
/* The same, and a symlink at path is -ELOOP. */
int file_open_regular_nofollow(const char *path, int *ret_fd) _must_check_;

/*
 * Reads fd to EOF into a NUL-terminated heap buffer. More than cap bytes gives
 * -EFBIG (nothing returned). *ret_buf is the caller's to free. A read that
 * would block (EAGAIN) is an error: fd is expected to block.
 */
int file_read_fd_full(int fd, size_t cap, char **ret_buf, size_t *ret_len) _must_check_;

/*
 * The same for a non-blocking fd: a read that would block calls wait(fd, ctx)
 * and is retried once it returns 0; its negative return (a deadline passed,
 * say) ends the read with that error. Any limit on the time spent is wait's.
 */
int file_read_fd_full_wait(int fd, size_t cap, int (*wait)(int fd, void *ctx), void *ctx,
			   char **ret_buf, size_t *ret_len) _must_check_;

/* read_fd_full on file_open_regular(path). */
int file_read_full(const char *path, size_t cap, char **ret_buf, size_t *ret_len) _must_check_;

/*
 * Writes data to a temp file in path's directory, fsyncs it, sets mode,
 * renames it over path and fsyncs the directory. On failure the temp file is
 * removed and path is untouched.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode) _must_check_;

#endif
