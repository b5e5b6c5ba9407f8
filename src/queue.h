/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * queue - the bounded in-memory queue of training examples between the
 * milter threads and Redis, and its writer thread. queue_put() never
 * blocks on Redis: when the queue is full (Redis slow or down) the
 * example is dropped and counted, never the mail. The writer has its own
 * store connection and retries with a pause while Redis is away.
 */
#ifndef NM_QUEUE_H
#define NM_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "metrics.h"

struct queue;

/* queue_start - a queue of at most [train] queue_size examples and its
 * writer thread. NULL + err on failure. */
struct queue *queue_start(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * queue_put - queue a serialized example (example_serialize(); raw is
 * taken: the queue frees it). The writer compresses it. Returns 0 when
 * queued, -1 when the queue was full (dropped and counted). Any thread;
 * holds a mutex for a few instructions.
 */
int queue_put(struct queue *q, int spam, void *raw, size_t len);

/* queue_put_from - queue_put() of an example from src (queue_put():
 * autolearn), which the metrics count apart. */
int queue_put_from(struct queue *q, int spam, enum metrics_source src,
                   void *raw, size_t len);

/* queue_dropped - examples dropped so far. */
uint64_t queue_dropped(struct queue *q);

/* queue_stop - write what is queued (for up to deadline_ms), stop the
 * writer and free; NULL does nothing. */
void queue_stop(struct queue *q, long deadline_ms);

#endif /* NM_QUEUE_H */
