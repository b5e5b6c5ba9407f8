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

struct queue;

/* queue_start - a queue of at most [train] queue_size examples and its
 * writer thread. NULL + err on failure. */
struct queue *queue_start(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * queue_put - queue a serialized example (example_serialize(); raw is
 * taken: the queue frees it), framed here by example_store(). Returns 0
 * when queued, -1 when the queue was full or the record could not be
 * framed (dropped and counted). Any thread; holds a mutex for a few
 * instructions.
 */
int queue_put(struct queue *q, int spam, void *raw, size_t len);

/*
 * queue_put_example - queue_put() with the example's message key (0: a
 * hash of the record) and whether it is explicit (an autolearned one
 * never replaces an explicit one of the same key).
 * queue_put_reply_keep - keep a serialized ham example (source reply)
 * under its key for [learn] replies_window, for a reply to name.
 * queue_put_reply_hit - a reply named these keys (n at most
 * LEARN_MAX_REFS): each one kept becomes a ham example.
 * The first two take a blob in the frame it is stored in
 * (example_serialize_stored() or example_store()), which the writer
 * sends as it is; all take what they are given, return and count like
 * queue_put(); any thread.
 */
int queue_put_example(struct queue *q, int spam, uint64_t key, int explicit_,
                      void *raw, size_t len);
int queue_put_reply_keep(struct queue *q, uint64_t key, void *raw,
                         size_t len);
int queue_put_reply_hit(struct queue *q, const uint64_t *keys, size_t n);

/* queue_dropped - examples dropped so far. */
uint64_t queue_dropped(struct queue *q);

/* queue_stop - write what is queued (for up to deadline_ms), stop the
 * writer and free; NULL does nothing. */
void queue_stop(struct queue *q, long deadline_ms);

#endif /* NM_QUEUE_H */
