/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The istio-validation check: inside the pod netns,
 * as the proxy UID, prove that the capture is in place by connecting to
 * 127.0.0.6:15002 ([::6]:15002) and seeing the connection arrive on our
 * listener at :15006 with SO_ORIGINAL_DST port 15002.
 */
#ifndef ISTIO_CNI_VALIDATE_H
#define ISTIO_CNI_VALIDATE_H

#include <stdbool.h>
#include <stdint.h>

#include "util/cleanup.h"
#include "util/error.h"

#define VALIDATE_DEFAULT_TIMEOUT_MS 5000
#define VALIDATE_PROBE_INTERVAL_MS 1000
/* Istio's ValidationErrorCode. */
#define VALIDATE_EXIT_FAILED 126

struct validate_options {
	uint64_t timeout_ms; /* 0: VALIDATE_DEFAULT_TIMEOUT_MS */
	bool force_ipv6;     /* --ipv6 */
	bool detect_family;  /* decide the family from the netns' addresses */
};

/*
 * Decides the family (unless forced), listens, probes every second until
 * the probe is redirected or the timeout passes. Returns 0 on success,
 * -ETIMEDOUT when nothing arrived in time, -EADDRNOTAVAIL when no listener
 * could be opened (both: the validation failed), other negative errnos for
 * other errors. err says what happened; *ret_ipv6 (may be NULL) the family used.
 */
int validate_run(const struct validate_options *opts, bool *ret_ipv6, struct error *err)
	_must_check_;

#endif
