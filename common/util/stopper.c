// SPDX-License-Identifier: Apache-2.0
#include "util/stopper.h"

#include <errno.h>
#include <time.h>

#include "util/monotonic.h"

int stopper_init(struct stopper *s)
{
	int r = monotonic_cond_init(&s->lock, &s->cond);
	if (r < 0)
		return r;
	atomic_init(&s->stop, false);
	return 0;
}

void stopper_destroy(struct stopper *s)
{
	(void)pthread_mutex_destroy(&s->lock);
	(void)pthread_cond_destroy(&s->cond);
}

void stopper_stop(struct stopper *s)
{
	/* Under the lock: a waiter between its check and its wait gets the broadcast. */
	(void)pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, true);
	(void)pthread_cond_broadcast(&s->cond);
	(void)pthread_mutex_unlock(&s->lock);
}

bool stopper_stopped(struct stopper *s)
{
	return atomic_load(&s->stop);
}

bool stopper_wait(struct stopper *s, unsigned ms)
{
	struct timespec deadline = monotonic_deadline(ms);
	(void)pthread_mutex_lock(&s->lock);
	while (!atomic_load(&s->stop))
		if (pthread_cond_timedwait(&s->cond, &s->lock, &deadline) == ETIMEDOUT)
			break;
	bool stopped = atomic_load(&s->stop);
	(void)pthread_mutex_unlock(&s->lock);
	return stopped;
}
