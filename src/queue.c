/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * queue - a ring of examples under one mutex, each in the frame it is stored
 * in (zstd frames of stored blocks, which the readers decode as any other:
 * example_serialize_stored(), example_store()); the writer takes up to
 * QUEUE_BATCH at a time and pushes them with one
 * store_example_push_batch().
 * The ring also carries the replies' work (a scored message kept for a reply to
 * name, a reply's references): a batch holds items of one kind, the kind of the
 * first. It gathers for up to QUEUE_GATHER_MS before it writes, so a milter
 * thread wakes it about once per batch, not once per message. A failed push
 * puts the batch back and pauses the writer (1 s) so a Redis outage costs the
 * milter threads nothing but a full queue.
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

#include "example.h"
#include "learn.h"
#include "log.h"
#include "metrics.h"
#include "store.h"
#include "util.h"
#include "xmalloc.h"

#define QUEUE_RETRY_MS 1000
#define QUEUE_STOP_RETRY_MS 50 /* between attempts while flushing */
#define QUEUE_BATCH 64         /* examples per Redis script */
#define QUEUE_GATHER_MS 100    /* an example waits at most this long */

enum queue_kind { QUEUE_EXAMPLE, QUEUE_REPLY_KEEP, QUEUE_REPLY_HIT };

struct queue_item {
    void *blob;          /* serialized record; for a hit, the keys */
    size_t len;
    int spam;
    enum queue_kind kind;
    uint64_t key;
    int explicit_;
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

/* queue_count - one of the metrics counters for an example item (the
 * replies' own items become examples in Redis, not here) */
static void
queue_count(const struct queue_item *it,
            void (*fn)(int spam, enum metrics_source src))
{
    if (it->kind == QUEUE_EXAMPLE)
        fn(it->spam, it->explicit_ ? METRICS_EXPLICIT : METRICS_AUTOLEARN);
}

/* queue_put_item - enqueue or drop */
static int
queue_put_item(struct queue *q, const struct queue_item *item)
{
    void *blob = item->blob;

    pthread_mutex_lock(&q->mu);
    if (q->n == q->cap || q->stop) {
        pthread_mutex_unlock(&q->mu);
        free(blob);
        atomic_fetch_add(&q->dropped, 1);
        queue_count(item, metrics_example_dropped);
        log_limited(&q->lim_drop, "queue: example queue full (Redis slow or "
                    "down?); dropping examples, %llu so far",
                    (unsigned long long)atomic_load(&q->dropped));
        return -1;
    }
    q->ring[(q->head + q->n) % q->cap] = *item;
    q->n++;
    metrics_queue_depth(q->n);
    queue_count(item, metrics_example_queued);
    /* the writer sleeps on an empty queue, or gathers until a batch is
     * full: only those two moments need a wake-up */
    if (q->n == 1 || q->n == QUEUE_BATCH)
        pthread_cond_signal(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 0;
}

/* queue_put - an example keyed by its record, framed here */
int
queue_put(struct queue *q, int spam, void *raw, size_t len)
{
    char err[128];
    void *blob;
    size_t blen;
    int rc = example_store(raw, len, &blob, &blen, err, sizeof(err));

    free(raw);
    if (rc != 0) {
        log_warnx("queue: dropping an example: %s", err);
        atomic_fetch_add(&q->dropped, 1);
        metrics_example_dropped(spam != 0, METRICS_AUTOLEARN);
        return -1;
    }
    return queue_put_example(q, spam, 0, 0, blob, blen);
}

/* queue_put_example - an example with its key */
int
queue_put_example(struct queue *q, int spam, uint64_t key, int explicit_,
                  void *raw, size_t len)
{
    struct queue_item it = { .blob = raw, .len = len, .spam = spam != 0,
                             .kind = QUEUE_EXAMPLE, .key = key,
                             .explicit_ = explicit_ != 0 };

    return queue_put_item(q, &it);
}

/* queue_put_reply_keep - a scored message, for a reply to name */
int
queue_put_reply_keep(struct queue *q, uint64_t key, void *raw, size_t len)
{
    struct queue_item it = { .blob = raw, .len = len,
                             .kind = QUEUE_REPLY_KEEP, .key = key };

    return queue_put_item(q, &it);
}

/* queue_put_reply_hit - the keys a reply names */
int
queue_put_reply_hit(struct queue *q, const uint64_t *keys, size_t n)
{
    struct queue_item it = { .kind = QUEUE_REPLY_HIT };

    if (n == 0 || n > LEARN_MAX_REFS)
        return -1;
    it.blob = xreallocarray(NULL, n, sizeof(*keys));
    memcpy(it.blob, keys, n * sizeof(*keys));
    it.len = n;
    return queue_put_item(q, &it);
}

/* queue_dropped - counter */
uint64_t
queue_dropped(struct queue *q)
{
    return atomic_load(&q->dropped);
}

/* queue_wait_until - timed wait on the queue's cv until *until, or
 * until done() holds; with mu held */
static void
queue_wait_until(struct queue *q, const struct timespec *until,
                 int (*done)(const struct queue *))
{
    while (!done(q) &&
           pthread_cond_timedwait(&q->cv, &q->mu, until) != ETIMEDOUT)
        ;
}

static int
queue_gathered(const struct queue *q)
{
    return q->stop || q->n >= QUEUE_BATCH;
}

static int
queue_stopping(const struct queue *q)
{
    return q->stop;
}

static int
queue_never(const struct queue *q)
{
    (void)q;
    return 0;
}

/* queue_describe - the store's view of the k items of a batch (their
 * blobs are borrowed) */
static void
queue_describe(const struct queue_item *it, size_t k,
               struct store_example *ex)
{
    for (size_t i = 0; i < k; i++)
        ex[i] = (struct store_example){ .spam = it[i].spam,
                                        .rec = it[i].blob, .len = it[i].len,
                                        .key = it[i].key,
                                        .explicit_ = it[i].explicit_ };
}

/* queue_write - one batch of one kind to Redis; 0 or -1 */
static int
queue_write(struct queue *q, const struct cfg *c, enum queue_kind kind,
            const struct store_example *ex, size_t n)
{
    struct store_reply keep[QUEUE_BATCH];
    uint64_t keys[QUEUE_BATCH * LEARN_MAX_REFS];
    size_t nk = 0;
    long learned = 0;

    switch (kind) {
    case QUEUE_EXAMPLE:
        return store_example_push_batch(q->st, ex, n, c->max_examples);
    case QUEUE_REPLY_KEEP:
        for (size_t i = 0; i < n; i++)
            keep[i] = (struct store_reply){ ex[i].key, ex[i].rec,
                                            ex[i].len };
        return store_replies_keep(q->st, keep, n,
                                  c->replies_window_ms / 1000,
                                  c->replies_max);
    case QUEUE_REPLY_HIT:
        break;
    }
    /* a hit's rec is its array of keys and len their count */
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < ex[i].len && nk < sizeof(keys) /
                                                      sizeof(keys[0]); j++)
            keys[nk++] = ((const uint64_t *)ex[i].rec)[j];
    /* a batch of hits names up to QUEUE_BATCH * LEARN_MAX_REFS keys, the
     * script takes STORE_BATCH_MAX: one refused batch would block the
     * writer for good. Taking a key twice is harmless (a hit stops
     * keeping it), so a retry after a failed chunk is too. */
    for (size_t off = 0; off < nk; off += STORE_BATCH_MAX) {
        size_t m = nk - off < STORE_BATCH_MAX ? nk - off : STORE_BATCH_MAX;
        long got = 0;

        if (store_replies_hit(q->st, keys + off, m, c->max_examples,
                              &got) != 0)
            return -1;
        learned += got;
    }
    if (learned > 0)
        log_info("queue: replies made %ld kept message%s ham examples",
                 learned, learned == 1 ? "" : "s");
    return 0;
}

/* queue_main - the writer */
static void *
queue_main(void *arg)
{
    struct queue *q = arg;
    struct queue_item it[QUEUE_BATCH];
    struct store_example ex[QUEUE_BATCH];
    struct timespec until, stop_at = { 0, 0 };

    pthread_setname_np(pthread_self(), "nm-writer");
    pthread_mutex_lock(&q->mu);
    for (;;) {
        struct cfg *c;
        size_t k;
        int rc;

        while (q->n == 0 && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->n == 0)
            break;
        if (!q->stop) {
            util_deadline(&until, QUEUE_GATHER_MS);
            queue_wait_until(q, &until, queue_gathered);
        }
        if (q->stop) {
            if (stop_at.tv_sec == 0)
                util_deadline(&stop_at, q->deadline_ms);
            if (util_past(&stop_at))
                break;
        }
        /* one kind per batch: one script writes it */
        for (k = 0; k < QUEUE_BATCH && q->n > 0 &&
                    (k == 0 || q->ring[q->head].kind == it[0].kind);
             k++) {
            it[k] = q->ring[q->head];
            q->head = (q->head + 1) % q->cap;
            q->n--;
        }
        metrics_queue_depth(q->n);
        pthread_mutex_unlock(&q->mu);

        queue_describe(it, k, ex);
        c = cfg_current_get();
        rc = queue_write(q, c, it[0].kind, ex, k);
        cfg_release(c);

        pthread_mutex_lock(&q->mu);
        if (rc == 0) {
            for (size_t i = 0; i < k; i++) {
                queue_count(&it[i], metrics_example_written);
                free(it[i].blob);
            }
            atomic_fetch_add(&q->written, k);
            continue;
        }
        /* Put the batch back at the head, in order, as far as the ring
         * has room (it may have filled meanwhile); drop the rest. */
        while (k > 0 && q->n < q->cap) {
            k--;
            q->head = (q->head + q->cap - 1) % q->cap;
            q->ring[q->head] = it[k];
            q->n++;
        }
        metrics_queue_depth(q->n);
        for (size_t i = 0; i < k; i++) {
            queue_count(&it[i], metrics_example_dropped);
            free(it[i].blob);
        }
        atomic_fetch_add(&q->dropped, k);
        /* Flushing: retry until the deadline (checked at the top) rather
         * than give up at the first failure, which may only be the store
         * backing off from an outage just ended. */
        util_deadline(&until, q->stop ? QUEUE_STOP_RETRY_MS
                                       : QUEUE_RETRY_MS);
        queue_wait_until(q, &until, q->stop ? queue_never : queue_stopping);
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
    if ((rc = util_cond_init(&q->cv)) != 0 ||
        (rc = pthread_create(&q->thread, NULL, queue_main, q)) != 0) {
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
