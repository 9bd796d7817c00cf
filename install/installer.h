/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The installer: what the node agent does to the host's CNI files. It
 * orchestrates the pure modules of install/
 * (cni_conf_dir, conflist, plugin_conf, kubeconfig_writer) and the atomic
 * writers (binary_install, file_write_atomic):
 *
 *   install:   copy the plugin binary (temp + rename), write the plugin
 *              kubeconfig, insert our entry into the primary conf (chained)
 *              or write our own conf (standalone). Idempotent.
 *   check:     Istio's checkValidCNIConfig.
 *   uninstall: our entry (or our conf) first, then the kubeconfig, then the
 *              binary, so no conf ever names a missing plugin.
 *
 * Every file is computed in memory first and then written atomically (temp
 * file in the same directory, fsync, rename), keeping the mode of the file it
 * replaces. A primary conf that does not parse is never rewritten: discovery
 * skips it (reporting it in err's details) and moves to the next valid one.
 *
 * Not thread-safe: the agent's loop owns the installer.
 */
#ifndef ISTIO_CNI_INSTALLER_H
#define ISTIO_CNI_INSTALLER_H

#include <stdbool.h>

#include "install_config.h"
#include "util/cleanup.h"
#include "util/error.h"

/* Istio's istio_cni_installs_total{result=...} values. */
enum install_result {
	INSTALL_SUCCESS,
	INSTALL_COPY_BINARIES_FAILURE,
	INSTALL_CREATE_KUBECONFIG_FAILURE,
	INSTALL_CREATE_CNI_CONFIG_FAILURE,
	_INSTALL_RESULT_MAX,
};

/* "SUCCESS", "COPY_BINARIES_FAILURE", "CREATE_KUBECONFIG_FAILURE", "CREATE_CNI_CONFIG_FAILURE". */
const char *install_result_to_string(enum install_result r);

struct installer;

/*
 * Creates an installer over a copy of cfg (whose strings and arrays must
 * outlive the installer). Nothing is touched on disk. Returns 0 or -ENOMEM.
 */
int installer_new(const struct install_config *cfg, struct installer **ret, struct error *err)
	_must_check_;

void installer_free(struct installer *in);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct installer *, installer_free);

/*
 * One install pass: binary, kubeconfig, CNI conf. Returns 0, or a negative
 * errno with err saying which step failed on which file; the step's result
 * is recorded for installer_last_result(). In chained mode without
 * CNI_CONF_NAME and with no valid conf in the directory, returns -ENOENT
 * (ERR_CONFIG "no valid networks found in <dir>"): the agent waits for a conf
 * to appear (inotify) and tries again. With CNI_CONF_NAME naming a file that
 * exists under neither extension, also -ENOENT.
 */
int installer_install(struct installer *in, struct error *err) _must_check_;

/*
 * Istio's checkValidCNIConfig: *ret_valid false when no valid conf exists,
 * when the first valid conf is no longer the file we wrote (chained, no
 * CNI_CONF_NAME), when our file is gone, when it no longer holds a plugin of
 * type istio-cni (chained) or its type is not istio-cni (standalone), or when
 * nothing was installed yet. Returns < 0 only on unexpected I/O errors.
 */
int installer_check(struct installer *in, bool *ret_valid, struct error *err) _must_check_;

/* Rewrites the plugin kubeconfig from the current service-account token and CA. */
int installer_refresh_kubeconfig(struct installer *in, struct error *err) _must_check_;

/*
 * Removal order, so no conf ever names a missing plugin: our entry out of
 * the conf we manage (or our standalone conf
 * deleted), then the kubeconfig, then the binary. Best effort: every step is
 * tried; a missing file is success. Returns the first error. A `.conf` we
 * turned into a `.conflist` in this process is put back as the original
 * `.conf` bytes when the `.conflist` still holds exactly what we wrote.
 */
int installer_uninstall(struct installer *in, struct error *err) _must_check_;

/* Directory of CNI confs (MOUNTED_CNI_NET_DIR). */
const char *installer_conf_dir(const struct installer *in);
/* The conf file we manage, NULL before a successful install. */
const char *installer_conf_path(const struct installer *in);
/* Where the plugin binary is installed (MOUNTED_CNI_BIN_DIR/istio-cni). */
const char *installer_binary_path(const struct installer *in);
/* The plugin kubeconfig we write. */
const char *installer_kubeconfig_path(const struct installer *in);
/* The service-account dir (token rotation is watched there). */
const char *installer_sa_dir(const struct installer *in);

enum install_result installer_last_result(const struct installer *in);

#endif
