/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * queue - a ring of encoded examples under one mutex; the writer takes
 * one at a time and pushes it with store_example_push(). A failed push
 * puts the example back and pauses the writer (1 s) so a Redis outage
 * costs the milter threads nothing but a full queue.
 */
#include "config.h"
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "store.h"
#include "xmalloc.h"

#define QUEUE_RETRY_MS 1000
#define QUEUE_STOP_RETRY_MS 50 /* between attempts while flushing */

struct queue_item {
    void *blob;
    size_t len;
    int spam;
};

struct queue {
    pthread_t thread;
    struct store *st;            /* the writer's own connections */
    /* the ring and the stop flag: guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct queue_item *ring;
    size_t cap, head, n;
    int stop;
    long deadline_ms;            /* for the final flush */
    _Atomic uint64_t dropped;
    _Atomic uint64_t written;
    struct log_limit lim_drop;
};

/* queue_deadline - absolute time ms from now */
static void
queue_deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* queue_put - enqueue or drop */
int
queue_put(struct queue *q, int spam, void *blob, size_t len)
{
    pthread_mutex_lock(&q->mu);
    if (q->n == q->cap || q->stop) {
        pthread_mutex_unlock(&q->mu);
        free(blob);
        atomic_fetch_add(&q->dropped, 1);
        log_limited(&q->lim_drop, "queue: example queue full (Redis slow or "
                    "down?); dropping examples, %llu so far",
                    (unsigned long long)atomic_load(&q->dropped));
        return -1;
    }
    q->ring[(q->head + q->n) % q->cap] =
        (struct queue_item){ .blob = blob, .len = len, .spam = spam };
    q->n++;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* queue_dropped - counter */
uint64_t
queue_dropped(struct queue *q)
{
    return atomic_load(&q->dropped);
}

/* queue_main - the writer */
static void *
queue_main(void *arg)
{
    struct queue *q = arg;
    struct timespec until, stop_at = { 0, 0 };

    pthread_setname_np(pthread_self(), "nm-writer");
    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct queue_item it;
        struct cfg *c;
        int rc;

        while (q->n == 0 && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->n == 0)
            break;
        if (q->stop) {
            struct timespec now;

            if (stop_at.tv_sec == 0)
                queue_deadline(&stop_at, q->deadline_ms);
            clock_gettime(CLOCK_REALTIME, &now);
            if (now.tv_sec > stop_at.tv_sec ||
                (now.tv_sec == stop_at.tv_sec &&
                 now.tv_nsec >= stop_at.tv_nsec))
                break;
        }
        it = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->n--;
        pthread_mutex_unlock(&q->mu);

        c = cfg_current_get();
        rc = store_example_push(q->st, it.spam, it.blob, it.len,
                                c->max_examples);
        cfg_release(c);

        pthread_mutex_lock(&q->mu);
        if (rc == 0) {
            free(it.blob);
            atomic_fetch_add(&q->written, 1);
            continue;
        }
        /* Put it back at the head unless the ring filled meanwhile. */
        if (q->n < q->cap) {
            q->head = (q->head + q->cap - 1) % q->cap;
            q->ring[q->head] = it;
            q->n++;
        } else {
            free(it.blob);
            atomic_fetch_add(&q->dropped, 1);
        }
        if (q->stop) {
            /* Flushing: retry until the deadline (checked at the top)
             * rather than give up at the first failure, which may only
             * be the store backing off from an outage just ended. */
            queue_deadline(&until, QUEUE_STOP_RETRY_MS);
            while (pthread_cond_timedwait(&q->cv, &q->mu, &until) !=
                   ETIMEDOUT)
                ;
            continue;
        }
        queue_deadline(&until, QUEUE_RETRY_MS);
        while (!q->stop &&
               pthread_cond_timedwait(&q->cv, &q->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* queue_start - ring, store, thread */
struct queue *
queue_start(const struct cfg *c, char *err, size_t errlen)
{
    struct queue *q = xcalloc(1, sizeof(*q));
    int rc;

    if ((q->st = store_new_cfg(c, err, errlen)) == NULL) {
        free(q);
        return NULL;
    }
    q->cap = (size_t)c->queue_size;
    q->ring = xcalloc(q->cap, sizeof(*q->ring));
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if ((rc = pthread_create(&q->thread, NULL, queue_main, q)) != 0) {
        snprintf(err, errlen, "cannot start the example writer: %s",
                 strerror(rc));
        store_free(q->st);
        free(q->ring);
        free(q);
        return NULL;
    }
    return q;
}

/* queue_stop - flush, stop, free */
void
queue_stop(struct queue *q, long deadline_ms)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    q->deadline_ms = deadline_ms;
    pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->thread, NULL);
    if (q->n > 0)
        log_warnx("queue: %zu examples not written at stop", q->n);
    for (; q->n > 0; q->n--, q->head = (q->head + 1) % q->cap)
        free(q->ring[q->head].blob);
    log_info("queue: %llu examples written, %llu dropped",
             (unsigned long long)atomic_load(&q->written),
             (unsigned long long)atomic_load(&q->dropped));
    store_free(q->st);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->ring);
    free(q);
}
