/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics - the counters and their text. Every count is one _Atomic
 * integer (relaxed: each is a number on its own, and a scrape that
 * races a message sees it in one count and not yet in another, as
 * Prometheus allows); histogram sums are fixed-point integers, so no
 * float needs a lock. The served model is read at scrape time
 * (model_current_get()), so it is never out of date. Must not include
 * hiredis, libmilter or fann.
 */
#include "config.h"
#include "metrics.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "feat.h"
#include "hdr.h"
#include "model.h"
#include "verdict.h"
#include "xmalloc.h"

#define METRICS_NUPSTREAM 4    /* enum hdr_upstream */
#define METRICS_MICRO 1e6      /* fixed point of the p and adjust sums */
#define METRICS_MILLI 1e3      /* of the training seconds */

enum metrics_result {
    METRICS_SCORED,
    METRICS_NONE,
    METRICS_AMBIGUOUS,
    METRICS_ERROR,
};
#define METRICS_NRESULTS 4

static const char *const metrics_result_names[METRICS_NRESULTS] = {
    "scored", "none", "ambiguous", "error",
};
static const char *const metrics_redis_names[METRICS_NREDIS] = {
    "connect", "timeout", "io", "reply", "refused", "role", "sentinel",
};
static const char *const metrics_source_names[METRICS_NSOURCES] = {
    "autolearn", "explicit",
};

/* Bucket bounds (the last bucket, +Inf, is implicit). */
static const double metrics_p_le[] = { 0.05, 0.1, 0.2, 0.3, 0.4, 0.5,
                                       0.6, 0.7, 0.8, 0.9, 0.95 };
static const double metrics_adjust_le[] = { -5, -3, -2, -1, -0.5, -0.01,
                                            0.01, 0.5, 1, 2, 3, 5 };
static const double metrics_seconds_le[] = { 1, 5, 15, 60, 300, 900, 3600 };
#define METRICS_NLE(a) (sizeof(a) / sizeof((a)[0]))
#define METRICS_MAX_LE 16

/* A histogram: per-bucket counts (not cumulative; the last is +Inf),
 * the sum in 1/scale units, and the count. */
struct metrics_hist {
    _Atomic uint64_t bucket[METRICS_MAX_LE + 1];
    _Atomic int64_t sum;
    _Atomic uint64_t count;
};

/* The counters: the only writable globals here, all _Atomic. */
static _Atomic uint64_t
    metrics_messages[METRICS_NUPSTREAM][METRICS_NRESULTS];
static struct metrics_hist metrics_p, metrics_adjust, metrics_seconds;
static _Atomic uint64_t metrics_queued[2][METRICS_NSOURCES];
static _Atomic uint64_t metrics_dropped[2][METRICS_NSOURCES];
static _Atomic uint64_t metrics_written[2][METRICS_NSOURCES];
static _Atomic uint64_t metrics_depth;
static _Atomic uint64_t metrics_redis[METRICS_NREDIS];
static _Atomic uint64_t metrics_switches;
static _Atomic uint64_t metrics_trainings[METRICS_MAX_OUTCOMES];
static _Atomic(const char *) metrics_outcome_names[METRICS_MAX_OUTCOMES];
static _Atomic uint64_t metrics_loads, metrics_rejects;

/* metrics_add - one more, relaxed */
static inline void
metrics_add(_Atomic uint64_t *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* metrics_get - a counter's value */
static inline uint64_t
metrics_get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* metrics_observe - v into h, whose bounds are le[0..n) */
static void
metrics_observe(struct metrics_hist *h, const double *le, size_t n,
                double v, double scale)
{
    size_t i = 0;

    if (!isfinite(v))
        return;
    while (i < n && v > le[i])
        i++;
    metrics_add(&h->bucket[i]);
    atomic_fetch_add_explicit(&h->sum, (int64_t)llround(v * scale),
                              memory_order_relaxed);
    metrics_add(&h->count);
}

/* metrics_result_of - the result label of a message */
static enum metrics_result
metrics_result_of(const struct verdict *v, int failed)
{
    if (v->res.upstream == HDR_UPSTREAM_AMBIGUOUS)
        return METRICS_AMBIGUOUS;
    /* a model_id without a score: the model was there and failed */
    if (failed || v->status != HDR_OK || (v->model_id[0] && !v->scored))
        return METRICS_ERROR;
    return v->scored ? METRICS_SCORED : METRICS_NONE;
}

/* metrics_message - one message at end of message */
void
metrics_message(const struct verdict *v, int failed)
{
    enum metrics_result r = metrics_result_of(v, failed);
    unsigned up = (unsigned)v->res.upstream;

    if (up >= METRICS_NUPSTREAM)
        up = HDR_UPSTREAM_NONE;
    metrics_add(&metrics_messages[up][r]);
    if (r != METRICS_SCORED)
        return;
    metrics_observe(&metrics_p, metrics_p_le, METRICS_NLE(metrics_p_le),
                    v->p, METRICS_MICRO);
    metrics_observe(&metrics_adjust, metrics_adjust_le,
                    METRICS_NLE(metrics_adjust_le), v->adjust,
                    METRICS_MICRO);
}

/* metrics_class - 1 spam, 0 ham */
static inline int
metrics_class(int spam)
{
    return spam != 0;
}

/* metrics_src - a source index */
static inline unsigned
metrics_src(enum metrics_source s)
{
    return (unsigned)s < METRICS_NSOURCES ? (unsigned)s : 0;
}

void
metrics_example_queued(int spam, enum metrics_source src)
{
    metrics_add(&metrics_queued[metrics_class(spam)][metrics_src(src)]);
}

void
metrics_example_dropped(int spam, enum metrics_source src)
{
    metrics_add(&metrics_dropped[metrics_class(spam)][metrics_src(src)]);
}

void
metrics_example_written(int spam, enum metrics_source src)
{
    metrics_add(&metrics_written[metrics_class(spam)][metrics_src(src)]);
}

/* metrics_queue_depth - a gauge */
void
metrics_queue_depth(size_t n)
{
    atomic_store_explicit(&metrics_depth, (uint64_t)n, memory_order_relaxed);
}

/* metrics_redis_error - by kind */
void
metrics_redis_error(enum metrics_redis kind)
{
    if ((unsigned)kind < METRICS_NREDIS)
        metrics_add(&metrics_redis[kind]);
}

/* metrics_sentinel_switch - one more */
void
metrics_sentinel_switch(void)
{
    metrics_add(&metrics_switches);
}

/* metrics_training - by outcome, and the duration */
void
metrics_training(int outcome, const char *name, double seconds)
{
    if (outcome < 0 || outcome >= METRICS_MAX_OUTCOMES || name == NULL)
        return;
    atomic_store_explicit(&metrics_outcome_names[outcome], name,
                          memory_order_relaxed);
    metrics_add(&metrics_trainings[outcome]);
    metrics_observe(&metrics_seconds, metrics_seconds_le,
                    METRICS_NLE(metrics_seconds_le), seconds, METRICS_MILLI);
}

void
metrics_model_loaded(void)
{
    metrics_add(&metrics_loads);
}

void
metrics_model_rejected(void)
{
    metrics_add(&metrics_rejects);
}

/* A growing text buffer for the render. */
struct metrics_text {
    char *p;
    size_t len, cap;
};

/* metrics_printf - append to t */
static void metrics_printf(struct metrics_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
metrics_printf(struct metrics_text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        t->cap = t->cap * 2 + (size_t)n;
        t->p = xreallocarray(t->p, t->cap, 1);
    }
}

/* metrics_head - the HELP and TYPE lines of a metric */
static void
metrics_head(struct metrics_text *t, const char *name, const char *type,
             const char *help)
{
    metrics_printf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                   type);
}

/* metrics_le - a bucket bound as Prometheus writes them */
static void
metrics_le(double le, char *buf, size_t len)
{
    snprintf(buf, len, "%g", le);
}

/* metrics_hist_text - one histogram's buckets (cumulative), sum and
 * count */
static void
metrics_hist_text(struct metrics_text *t, const char *name,
                  struct metrics_hist *h, const double *le, size_t n,
                  double scale)
{
    uint64_t cum = 0;
    char b[32];

    for (size_t i = 0; i <= n; i++) {
        cum += metrics_get(&h->bucket[i]);
        if (i < n)
            metrics_le(le[i], b, sizeof(b));
        metrics_printf(t, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
                       i < n ? b : "+Inf", cum);
    }
    metrics_printf(t, "%s_sum %.6g\n%s_count %" PRIu64 "\n", name,
                   (double)atomic_load_explicit(&h->sum,
                                                memory_order_relaxed) /
                       scale,
                   name, metrics_get(&h->count));
}

/* metrics_possible - a message can end with upstream up and result r */
static int
metrics_possible(unsigned up, unsigned r)
{
    if (up == HDR_UPSTREAM_AMBIGUOUS)
        return r == METRICS_AMBIGUOUS;
    if (r == METRICS_AMBIGUOUS)
        return 0;
    return up != HDR_UPSTREAM_NONE || r != METRICS_SCORED;
}

/* metrics_render_messages - the per-message metrics */
static void
metrics_render_messages(struct metrics_text *t)
{
    metrics_head(t, "neural_milter_messages_total", "counter",
                 "Messages at end of message, by the upstream= of their "
                 "header and what became of them.");
    for (unsigned up = 0; up < METRICS_NUPSTREAM; up++)
        for (unsigned r = 0; r < METRICS_NRESULTS; r++) {
            uint64_t n = metrics_get(&metrics_messages[up][r]);

            if (n > 0 || metrics_possible(up, r))
                metrics_printf(t, "neural_milter_messages_total{upstream="
                               "\"%s\",result=\"%s\"} %" PRIu64 "\n",
                               hdr_upstream_name((enum hdr_upstream)up),
                               metrics_result_names[r], n);
        }
    metrics_head(t, "neural_milter_p", "histogram",
                 "The network's probability of spam, of scored messages.");
    metrics_hist_text(t, "neural_milter_p", &metrics_p, metrics_p_le,
                      METRICS_NLE(metrics_p_le), METRICS_MICRO);
    metrics_head(t, "neural_milter_adjustment", "histogram",
                 "The score adjustment of scored messages.");
    metrics_hist_text(t, "neural_milter_adjustment", &metrics_adjust,
                      metrics_adjust_le, METRICS_NLE(metrics_adjust_le),
                      METRICS_MICRO);
}

/* metrics_render_examples - one counter by class and source */
static void
metrics_render_examples(struct metrics_text *t, const char *name,
                        const char *help, _Atomic uint64_t c[2][2])
{
    metrics_head(t, name, "counter", help);
    for (int cls = 1; cls >= 0; cls--)
        for (unsigned s = 0; s < METRICS_NSOURCES; s++)
            metrics_printf(t, "%s{class=\"%s\",source=\"%s\"} %" PRIu64
                           "\n", name, cls ? "spam" : "ham",
                           metrics_source_names[s], metrics_get(&c[cls][s]));
}

/* metrics_render_model - the served model as an info metric */
static void
metrics_render_model(struct metrics_text *t)
{
    struct model *m = model_current_get();

    metrics_head(t, "neural_milter_model_info", "gauge",
                 "The model this instance serves (id none: none).");
    if (m == NULL)
        metrics_printf(t, "neural_milter_model_info{id=\"none\",profile="
                       "\"none\",version=\"0\"} 1\n");
    else
        metrics_printf(t, "neural_milter_model_info{id=\"%s\",profile=\"%s\","
                       "version=\"%" PRIu64 "\"} 1\n", model_id(m),
                       feat_profile_digest(model_profile(m)),
                       model_version(m));
    model_release(m);
    metrics_head(t, "neural_milter_model_loads_total", "counter",
                 "Models the watcher loaded.");
    metrics_printf(t, "neural_milter_model_loads_total %" PRIu64 "\n",
                   metrics_get(&metrics_loads));
    metrics_head(t, "neural_milter_model_rejected_total", "counter",
                 "Published models the watcher refused to load.");
    metrics_printf(t, "neural_milter_model_rejected_total %" PRIu64 "\n",
                   metrics_get(&metrics_rejects));
}

/* metrics_render_training - trainings by outcome, their duration */
static void
metrics_render_training(struct metrics_text *t)
{
    metrics_head(t, "neural_milter_trainings_total", "counter",
                 "Trainings this instance ran under the lock, by outcome.");
    for (int o = 0; o < METRICS_MAX_OUTCOMES; o++) {
        const char *name = atomic_load_explicit(&metrics_outcome_names[o],
                                                memory_order_relaxed);

        if (name != NULL)
            metrics_printf(t, "neural_milter_trainings_total{outcome=\"%s\"}"
                           " %" PRIu64 "\n", name,
                           metrics_get(&metrics_trainings[o]));
    }
    metrics_head(t, "neural_milter_training_seconds", "histogram",
                 "How long those trainings took.");
    metrics_hist_text(t, "neural_milter_training_seconds", &metrics_seconds,
                      metrics_seconds_le, METRICS_NLE(metrics_seconds_le),
                      METRICS_MILLI);
}

/* metrics_render - everything */
char *
metrics_render(size_t *len)
{
    struct metrics_text t = { xmalloc(8192), 0, 8192 };

    metrics_head(&t, "neural_milter_build_info", "gauge",
                 "The version of neural-milter.");
    metrics_printf(&t, "neural_milter_build_info{version=\"%s\"} 1\n",
                   PACKAGE_VERSION);
    metrics_render_messages(&t);
    metrics_render_examples(&t, "neural_milter_examples_queued_total",
                            "Training examples queued for Redis.",
                            metrics_queued);
    metrics_render_examples(&t, "neural_milter_examples_dropped_total",
                            "Training examples dropped (queue full, Redis "
                            "away too long, did not compress).",
                            metrics_dropped);
    metrics_render_examples(&t, "neural_milter_examples_written_total",
                            "Training examples written to Redis.",
                            metrics_written);
    metrics_head(&t, "neural_milter_queue_depth", "gauge",
                 "Training examples waiting in memory for Redis.");
    metrics_printf(&t, "neural_milter_queue_depth %" PRIu64 "\n",
                   metrics_get(&metrics_depth));
    metrics_head(&t, "neural_milter_redis_errors_total", "counter",
                 "Failed Redis calls and sentinel questions, by kind.");
    for (unsigned k = 0; k < METRICS_NREDIS; k++)
        metrics_printf(&t, "neural_milter_redis_errors_total{kind=\"%s\"} "
                       "%" PRIu64 "\n", metrics_redis_names[k],
                       metrics_get(&metrics_redis[k]));
    metrics_head(&t, "neural_milter_redis_sentinel_switches_total",
                 "counter", "Times a thread's connections followed the "
                 "primary Sentinel names to another server.");
    metrics_printf(&t, "neural_milter_redis_sentinel_switches_total %"
                   PRIu64 "\n", metrics_get(&metrics_switches));
    metrics_render_model(&t);
    metrics_render_training(&t);
    *len = t.len;
    return t.p;
}
