// SPDX-License-Identifier: Apache-2.0
#include "cni_conf_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conflist.h"
#include "util/file_util.h"
#include "util/strv.h"

static const char *extension(const char *name)
{
	const char *dot = strrchr(name, '.');
	return dot ? dot : "";
}

bool cni_conf_name_is_candidate(const char *name)
{
	const char *ext = extension(name);
	return strcmp(ext, ".conf") == 0 || strcmp(ext, ".conflist") == 0;
}

bool cni_conf_name_is_list(const char *name)
{
	return strcmp(extension(name), ".conflist") == 0;
}

int cni_conf_read(const char *path, bool is_list, const char *context, json_t **ret,
		  char **ret_bytes, size_t *ret_len, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len;
	int r = file_read_full(path, CONFLIST_MAX_BYTES, &buf, &len);
	if (r == -EINVAL)
		return error_set(err, ERR_IO, r, "\"%s\" is not a regular file", path);
	if (r < 0)
		return error_set(err, ERR_IO, r, "reading \"%s\": %s", path, strerror(-r));

	_cleanup_json_ json_t *root = NULL;
	r = conflist_parse(buf, len, &root, err);
	if (r >= 0)
		r = conflist_validate(root, is_list, err);
	if (r < 0)
		return error_prefix(err, r, "%s%s\"%s\"", context ? context : "",
				    context ? " " : "", path);
	*ret = TAKE_PTR(root);
	if (ret_bytes) {
		*ret_bytes = TAKE_PTR(buf);
		*ret_len = len;
	}
	return 0;
}

int cni_conf_load(const char *dir, const char *name, json_t **ret, struct error *err)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return error_set(err, ERR_IO, -ENAMETOOLONG, "\"%s/%s\": path too long", dir, name);

	return cni_conf_read(path, cni_conf_name_is_list(name), NULL, ret, NULL, NULL, err);
}

static void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The candidates of dir in byte order; a missing dir has none (libcni). */
static int list_candidates(const char *dir, char ***ret, size_t *ret_n)
{
	__attribute__((cleanup(closedirp))) DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			*ret = NULL;
			*ret_n = 0;
			return 0;
		}
		return -errno;
	}
	char **v = NULL;
	size_t n = 0;
	struct dirent *de;
	errno = 0;
	while ((de = readdir(d))) {
		if (!cni_conf_name_is_candidate(de->d_name))
			continue;
		/* libcni skips directories (by lstat type, so a symlink counts as a file). */
		struct stat st;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			continue;
		if (strv_push(&v, &n, de->d_name) < 0) {
			strv_free(v, n);
			return -ENOMEM;
		}
		errno = 0;
	}
	if (errno != 0) {
		int r = -errno;
		strv_free(v, n);
		return r;
	}
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_names);
	*ret = v;
	*ret_n = n;
	return 0;
}

int cni_conf_dir_find_primary(const char *dir, cni_conf_skip_cb skipped, void *userdata,
			      char **ret_name, struct error *err)
{
	char **names = NULL;
	size_t n = 0;
	int r = list_candidates(dir, &names, &n);
	if (r < 0)
		return error_set(err, ERR_IO, r, "reading CNI conf dir \"%s\": %s", dir,
				 strerror(-r));

	struct error why, skips = {0};
	for (size_t i = 0; i < n; i++) {
		json_t *root = NULL;
		error_clear(&why);
		r = cni_conf_load(dir, names[i], &root, &why);
		if (r >= 0) {
			json_decref(root);
			char *name = TAKE_PTR(names[i]);
			strv_free(names, n);
			*ret_name = name;
			return 0;
		}
		if (r == -ENOMEM) {
			strv_free(names, n);
			return error_set(err, ERR_INTERNAL, r, "out of memory");
		}
		if (skipped)
			skipped(userdata, names[i], &why);
		error_add_details(&skips, "skipped %s: %s", names[i], why.msg);
	}
	strv_free(names, n);
	r = error_set(err, ERR_CONFIG, -ENOENT, "no valid networks found in %s", dir);
	if (skips.details[0])
		error_add_details(err, "%s", skips.details);
	return r;
}

static bool exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return false;
	struct stat st;
	return stat(path, &st) == 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cni_conf_dir_resolve_name(const char *dir, const char *name, char **ret_name)
{
	_cleanup_free_ char *alt = NULL;
	if (exists(dir, name)) {
		alt = strdup(name);
	} else if (has_suffix(name, ".conf")) {
		if (asprintf(&alt, "%slist", name) < 0)
			return -ENOMEM;
		if (!exists(dir, alt))
			return -ENOENT;
	} else if (has_suffix(name, ".conflist")) {
		alt = strndup(name, strlen(name) - 4);
		if (alt && !exists(dir, alt))
			return -ENOENT;
	} else {
		return -ENOENT;
	}
	if (!alt)
		return -ENOMEM;
	*ret_name = TAKE_PTR(alt);
	return 0;
}
