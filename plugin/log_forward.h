/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Forwards the plugin's log lines to the node agent, best effort: lines are
 * collected while the plugin runs and sent once, at exit, as Istio's plugin
 * does (HTTP POST /log over <cni_agent_run_dir>/log.sock, body a JSON array
 * of lines). A missing or slow agent never delays or fails pod start-up
 * beyond the 1 s limit.
 */
#ifndef ISTIO_CNI_LOG_FORWARD_H
#define ISTIO_CNI_LOG_FORWARD_H

#include <jansson.h>

#include "util/cleanup.h"

struct log_forward {
	json_t *lines; /* array of strings */
	size_t bytes;
};

/* Starts collecting every logged line into fwd (registers the log sink). */
void log_forward_start(struct log_forward *fwd);

/*
 * Sends the collected lines to socket_path if it exists, within timeout_ms.
 * Returns 0 when sent or when there was nothing to send or no socket, -errno
 * otherwise. Stops collecting and frees the lines in any case.
 */
int log_forward_flush(struct log_forward *fwd, const char *socket_path, int timeout_ms);

#endif
