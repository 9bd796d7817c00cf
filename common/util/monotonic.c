// SPDX-License-Identifier: Apache-2.0
#include "util/monotonic.h"

#include <time.h>

uint64_t monotonic_ms(void)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool monotonic_nap(uint64_t end)
{
	uint64_t now = monotonic_ms();
	if (now >= end)
		return true;
	uint64_t slice = end - now < 100 ? end - now : 100;
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(slice * 1000000u)};
	(void)nanosleep(&ts, NULL);
	return false;
}

struct timespec monotonic_deadline(unsigned ms)
{
	struct timespec ts;
	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int monotonic_cond_init(pthread_mutex_t *lock, pthread_cond_t *cond)
{
	pthread_condattr_t ca;
	int r = pthread_condattr_init(&ca);
	if (r != 0)
		return -r;
	r = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (r == 0)
		r = pthread_cond_init(cond, &ca);
	(void)pthread_condattr_destroy(&ca);
	if (r != 0)
		return -r;
	r = pthread_mutex_init(lock, NULL);
	if (r != 0) {
		(void)pthread_cond_destroy(cond);
		return -r;
	}
	return 0;
}
