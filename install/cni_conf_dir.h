/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Finding the primary CNI conf in the conf dir, as libcni
 * and Istio do: regular files (or symlinks to them) named `*.conf` or
 * `*.conflist`, in byte order; the first one valid for its extension wins.
 * `.json` is not considered, nor are directories. An invalid file (empty,
 * unparsable, a list without plugins, a conf without a type) is skipped and
 * reported through the callback, never rewritten.
 */
#ifndef ISTIO_CNI_CNI_CONF_DIR_H
#define ISTIO_CNI_CNI_CONF_DIR_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/cleanup.h"
#include "util/error.h"

/* Called for each candidate that is skipped, with why. */
typedef void (*cni_conf_skip_cb)(void *userdata, const char *name, const struct error *why);

/* Whether name is a candidate: its extension (after the last dot) is .conf or .conflist. */
bool cni_conf_name_is_candidate(const char *name);
/* Whether name ends in ".conflist". */
bool cni_conf_name_is_list(const char *name);

/*
 * Reads path (capped at CONFLIST_MAX_BYTES), parses it and checks libcni
 * validity: as a conflist when is_list, else as a single conf. Returns 0 with
 * *ret the parsed object and, when ret_bytes is not NULL, *ret_bytes (NUL
 * terminated) and *ret_len the file as read, all the caller's. A read failure
 * is ERR_IO "reading \"<path>\": <strerror>"; a parse or validity failure
 * keeps its kind, its message prefixed with "<context> \"<path>\"" (only the
 * quoted path when context is NULL).
 */
int cni_conf_read(const char *path, bool is_list, const char *context, json_t **ret,
		  char **ret_bytes, size_t *ret_len, struct error *err) _must_check_;

/*
 * Reads dir/name (capped at CONFLIST_MAX_BYTES), parses it and checks libcni
 * validity for its extension. Returns 0 with *ret the parsed object, or
 * -ENOENT / -EIO (ERR_IO), -EINVAL (ERR_DECODE or ERR_CONFIG); err names the
 * file.
 */
int cni_conf_load(const char *dir, const char *name, json_t **ret, struct error *err) _must_check_;

/*
 * The first valid candidate of dir, by name. Returns 0 with *ret_name (the
 * caller's), or -ENOENT with ERR_CONFIG "no valid networks found in <dir>"
 * (the details list each skipped file and why), or -errno (ERR_IO) when dir
 * cannot be read.
 */
int cni_conf_dir_find_primary(const char *dir, cni_conf_skip_cb skipped, void *userdata,
			      char **ret_name, struct error *err) _must_check_;

/*
 * Istio's CNI_CONF_NAME lookup: dir/name when it exists; else, for X.conf,
 * X.conflist when that exists; for X.conflist, X.conf. -ENOENT when neither
 * exists. *ret_name is the caller's.
 */
int cni_conf_dir_resolve_name(const char *dir, const char *name, char **ret_name) _must_check_;

#endif
