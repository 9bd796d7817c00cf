/* SPDX-License-Identifier: Apache-2.0 */
/* A mutex and a condition variable whose timed waits use CLOCK_MONOTONIC, so a
 * wall-clock step (NTP, an operator's date) never stretches or cuts a wait. */
#ifndef ISTIO_CNI_MONO_COND_H
#define ISTIO_CNI_MONO_COND_H

#include <pthread.h>

#include "cleanup.h"

/* Initialises both, or neither on failure (-errno). */
int mono_cond_init(pthread_mutex_t *lock, pthread_cond_t *cond) _must_check_;

#endif
