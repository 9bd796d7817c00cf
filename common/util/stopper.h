/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A stop flag that a waiting thread sees at once: a mutex and a monotonic
 * condition variable around an atomic flag. stopper_wait sleeps up to a
 * bound or until stopper_stop; the flag (stop) can also be handed to code
 * that polls an atomic_bool (pod_watch_run, kube_client_set_cancel).
 */
#ifndef ISTIO_CNI_STOPPER_H
#define ISTIO_CNI_STOPPER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "util/cleanup.h"

struct stopper {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_bool stop;
};

/* 0, or -errno (nothing to destroy then). */
int stopper_init(struct stopper *s) _must_check_;
void stopper_destroy(struct stopper *s);
/* Sets the flag and wakes every waiter; idempotent. */
void stopper_stop(struct stopper *s);
bool stopper_stopped(struct stopper *s);
/* Waits ms or until stopped; returns true when stopped. */
bool stopper_wait(struct stopper *s, unsigned ms);

#endif
