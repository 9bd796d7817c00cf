// SPDX-License-Identifier: Apache-2.0
#include "pod_queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "util/monotonic.h"

struct qitem {
	struct qitem *next;
	enum kube_watch_type type;
	struct pod_info *pod;
};

struct pod_queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct qitem *head, *tail;
	size_t n;
	bool closed;
};

int pod_queue_new(struct pod_queue **ret)
{
	struct pod_queue *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	int r = monotonic_cond_init(&q->lock, &q->cond);
	if (r < 0) {
		free(q);
		return r;
	}
	*ret = q;
	return 0;
}

void pod_queue_free(struct pod_queue *q)
{
	if (!q)
		return;
	while (q->head) {
		struct qitem *it = q->head;
		q->head = it->next;
		pod_info_free(it->pod);
		free(it);
	}
	(void)pthread_mutex_destroy(&q->lock);
	(void)pthread_cond_destroy(&q->cond);
	free(q);
}

int pod_queue_push(struct pod_queue *q, enum kube_watch_type type, const struct pod_info *pod)
{
	struct qitem *it = calloc(1, sizeof(*it));
	if (!it)
		return -ENOMEM;
	int r = pod_info_dup(pod, &it->pod);
	if (r < 0) {
		free(it);
		return r;
	}
	it->type = type;
	(void)pthread_mutex_lock(&q->lock);
	if (q->closed) {
		(void)pthread_mutex_unlock(&q->lock);
		pod_info_free(it->pod);
		free(it);
		return -ECANCELED;
	}
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	(void)pthread_cond_signal(&q->cond);
	(void)pthread_mutex_unlock(&q->lock);
	return 0;
}

int pod_queue_pop(struct pod_queue *q, unsigned wait_ms, enum kube_watch_type *ret_type,
		  struct pod_info **ret_pod)
{
	struct timespec deadline = monotonic_deadline(wait_ms);
	struct qitem *it = NULL;
	int r = 0;
	(void)pthread_mutex_lock(&q->lock);
	for (;;) {
		if (q->closed) {
			r = -ECANCELED;
			break;
		}
		if (q->head) {
			it = q->head;
			q->head = it->next;
			if (!q->head)
				q->tail = NULL;
			q->n--;
			break;
		}
		if (pthread_cond_timedwait(&q->cond, &q->lock, &deadline) == ETIMEDOUT &&
		    !q->head && !q->closed) {
			r = -ETIMEDOUT;
			break;
		}
	}
	(void)pthread_mutex_unlock(&q->lock);
	if (r < 0)
		return r;
	*ret_type = it->type;
	*ret_pod = it->pod;
	free(it);
	return 0;
}

void pod_queue_close(struct pod_queue *q)
{
	(void)pthread_mutex_lock(&q->lock);
	q->closed = true;
	(void)pthread_cond_broadcast(&q->cond);
	(void)pthread_mutex_unlock(&q->lock);
}

size_t pod_queue_length(struct pod_queue *q)
{
	(void)pthread_mutex_lock(&q->lock);
	size_t n = q->n;
	(void)pthread_mutex_unlock(&q->lock);
	return n;
}
