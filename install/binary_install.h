/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Copying the plugin binary onto the host. The copy goes to
 * a temp file `<name>.tmp.XXXXXX` in the target directory, is fsynced, gets
 * the source's mode and is renamed over the target, so a runtime executing
 * the plugin meanwhile runs either the old or the new binary, never a
 * half-written one, and never hits "text file busy". Stale `<name>.tmp.*`
 * files (from a copy that was killed) are removed first.
 */
#ifndef ISTIO_CNI_BINARY_INSTALL_H
#define ISTIO_CNI_BINARY_INSTALL_H

#include <stdbool.h>

#include "util/cleanup.h"
#include "util/error.h"

struct binary_install_opts {
	bool update;	   /* UPDATE_CNI_BINARIES: false keeps an existing target */
	char *const *skip; /* SKIP_CNI_BINARIES: names never copied */
	size_t n_skip;
};

/*
 * Copies src_dir/name to dst_dir/name. Returns 1 when the target was
 * written, 0 when it was left alone (skipped, kept because update is false,
 * or already identical in content and mode, so the agent's own inotify watch
 * does not wake up for nothing), or a negative errno with ERR_IO naming the
 * file (and a hint for read-only file systems).
 */
int binary_install(const char *src_dir, const char *dst_dir, const char *name,
		   const struct binary_install_opts *opts, struct error *err) _must_check_;

/* Removes dst_dir/name; a missing file is success. */
int binary_uninstall(const char *dst_dir, const char *name, struct error *err) _must_check_;

/* Removes dst_dir/<name>.tmp.* left by an interrupted copy; returns how many. */
int binary_remove_stale_temps(const char *dst_dir, const char *name) _must_check_;

#endif
