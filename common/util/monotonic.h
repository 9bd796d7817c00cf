/* SPDX-License-Identifier: Apache-2.0 */
/* The monotonic clock for deadlines and intervals, and a mutex and condition
 * variable whose timed waits use it: a wall-clock step (NTP, an operator's
 * date) never stretches or cuts a wait. */
#ifndef ISTIO_CNI_MONOTONIC_H
#define ISTIO_CNI_MONOTONIC_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "util/cleanup.h"

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t monotonic_ms(void);

/* True when end (monotonic_ms) has come; else sleeps until it, at most
 * 100 ms, and returns false: a loop that checks for a stop between naps. */
bool monotonic_nap(uint64_t end);

/* CLOCK_MONOTONIC ms from now, for pthread_cond_timedwait on a condition
 * variable made by monotonic_cond_init. */
struct timespec monotonic_deadline(unsigned ms);

/* Initialises both, or neither on failure (-errno). */
int monotonic_cond_init(pthread_mutex_t *lock, pthread_cond_t *cond) _must_check_;

#endif
