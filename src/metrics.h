/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics - what the daemon did, as Prometheus metrics: counters and
 * histograms in _Atomic integers that the modules bump with one call
 * each (milter at end of message, queue, store, trainer, watch), the
 * served model read at scrape time, rendered as text format 0.0.4
 * (metrics.c) and served at /metrics by a thread of its own when
 * [metrics] listen is set (metrics_http.c). Counting never blocks,
 * allocates or logs, so any thread may count, the mail's included; in
 * the admin tool the counts are kept and never shown.
 */
#ifndef NM_METRICS_H
#define NM_METRICS_H

#include <stddef.h>

/* Where an example came from. */
enum metrics_source { METRICS_AUTOLEARN, METRICS_EXPLICIT };
#define METRICS_NSOURCES 2

/* What kind of Redis trouble a failed call met. */
enum metrics_redis {
    METRICS_REDIS_CONNECT,  /* no connection (refused, AUTH, SELECT) */
    METRICS_REDIS_TIMEOUT,  /* a command timed out */
    METRICS_REDIS_IO,       /* the connection broke */
    METRICS_REDIS_REPLY,    /* an error reply (-ERR, -READONLY, ...) */
    METRICS_REDIS_REFUSED,  /* a reply we refused: over a bound, odd */
    METRICS_REDIS_ROLE,     /* the primary named is no primary */
    METRICS_REDIS_SENTINEL, /* a sentinel failed to name the primary */
};
#define METRICS_NREDIS 7

/* How many outcomes metrics_training() keeps apart (enum
 * trainer_outcome has fewer). */
#define METRICS_MAX_OUTCOMES 32

struct verdict;

/*
 * metrics_message - one message at end of message: its upstream, and a
 * result of scored (p and adjust from a model; both go into their
 * histograms), ambiguous, error (the scanner header did not parse, the
 * model failed, or failed: our headers could not be edited) or none.
 * v is borrowed. Any thread.
 */
void metrics_message(const struct verdict *v, int failed);

/* metrics_example_queued, _dropped, _written - one example of class spam
 * (1) or ham (0) entered the queue, was dropped (queue full, did not
 * compress, Redis away too long), or reached Redis. Any thread. */
void metrics_example_queued(int spam, enum metrics_source src);
void metrics_example_dropped(int spam, enum metrics_source src);
void metrics_example_written(int spam, enum metrics_source src);

/* metrics_queue_depth - examples now waiting in the queue. */
void metrics_queue_depth(size_t n);

/* metrics_redis_error - one failed Redis call or sentinel question. */
void metrics_redis_error(enum metrics_redis kind);

/* metrics_sentinel_switch - a store followed the primary elsewhere. */
void metrics_sentinel_switch(void);

/* metrics_training - a training that held the lock ended with outcome
 * (an enum trainer_outcome below METRICS_MAX_OUTCOMES) named name (a
 * string that lives as long as the process: trainer_outcome_name())
 * after seconds. Any thread. */
void metrics_training(int outcome, const char *name, double seconds);

/* metrics_model_loaded, _rejected - the watcher swapped a model in, or
 * refused a published blob. */
void metrics_model_loaded(void);
void metrics_model_rejected(void);

/*
 * metrics_render - every metric as Prometheus text; *len gets its length.
 * The result is malloc'd (caller frees). Reads the current model under
 * its mutex for a moment. Any thread; does not log.
 */
char *metrics_render(size_t *len);

/*
 * The HTTP side (metrics_http.c). metrics_listen - bind and listen on
 * spec ([metrics] listen: "" is off, *out NULL), before privileges are
 * dropped; 0, or -1 with the reason in err. metrics_serve - start the
 * thread that answers GET /metrics, one client at a time, each with a
 * deadline of METRICS_IO_MS; NULL does nothing; 0 or -1 + err.
 * metrics_stop - stop it, close, free; NULL does nothing. Main thread.
 */
#define METRICS_MAX_REQUEST 8192 /* bytes of a request's head */
#define METRICS_IO_MS 2000       /* to read a request and write a reply */
struct metrics_server;
int metrics_listen(const char *spec, struct metrics_server **out, char *err,
                   size_t errlen) __attribute__((warn_unused_result));
int metrics_serve(struct metrics_server *ms, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void metrics_stop(struct metrics_server *ms);

#endif /* NM_METRICS_H */
