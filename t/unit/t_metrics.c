/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_metrics - the counters and their Prometheus text: every metric and
 * label set there from the start, each message counted under its
 * upstream and result, histogram buckets at their bounds and just past
 * them, examples by class and source, Redis errors by kind, trainings by
 * outcome, the served model, counts exact under threads, and the
 * listen option refused when malformed. The HTTP side is tested end to
 * end by t/e2e/metrics.sh.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tap.h"
#include "verdict.h"

#define T_THREADS 4
#define T_PER_THREAD 50000

/* t_value - the value of the sample line that starts with "series "
 * in the current render; -1 when there is none */
static double
t_value(const char *series)
{
    size_t len, n = strlen(series);
    char *text = metrics_render(&len), *p = text;
    double v = -1;

    while (p != NULL && *p != '\0') {
        if (strncmp(p, series, n) == 0 && p[n] == ' ') {
            v = strtod(p + n + 1, NULL);
            break;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    free(text);
    return v;
}

/* t_verdict - a verdict as verdict_compute() leaves it */
static struct verdict
t_verdict(enum hdr_upstream up, int scored, double p, double adjust)
{
    struct verdict v;

    memset(&v, 0, sizeof(v));
    v.res.upstream = up;
    v.status = HDR_OK;
    if (scored) {
        snprintf(v.model_id, sizeof(v.model_id), "0123abcd.7");
        v.scored = 1;
        v.p = p;
        v.adjust = adjust;
    }
    return v;
}

/* t_fresh - every series there before anything was counted */
static void
t_fresh(void)
{
    static const char *const series[] = {
        "neural_milter_build_info{version=\"" PACKAGE_VERSION "\"}",
        "neural_milter_messages_total{upstream=\"rspamd\",result=\"scored\"}",
        "neural_milter_messages_total{upstream=\"spamassassin\","
        "result=\"error\"}",
        "neural_milter_messages_total{upstream=\"none\",result=\"none\"}",
        "neural_milter_messages_total{upstream=\"ambiguous\","
        "result=\"ambiguous\"}",
        "neural_milter_p_bucket{le=\"+Inf\"}", "neural_milter_p_count",
        "neural_milter_adjustment_bucket{le=\"-0.01\"}",
        "neural_milter_examples_queued_total{class=\"spam\","
        "source=\"autolearn\"}",
        "neural_milter_examples_dropped_total{class=\"ham\","
        "source=\"explicit\"}",
        "neural_milter_examples_written_total{class=\"ham\","
        "source=\"autolearn\"}",
        "neural_milter_queue_depth",
        "neural_milter_redis_errors_total{kind=\"timeout\"}",
        "neural_milter_redis_errors_total{kind=\"sentinel\"}",
        "neural_milter_redis_sentinel_switches_total",
        "neural_milter_model_loads_total",
        "neural_milter_training_seconds_count",
    };
    size_t len;
    char *text = metrics_render(&len);

    ok(strlen(text) == len, "render: the length is the text's");
    ok(strstr(text, "# TYPE neural_milter_messages_total counter\n") &&
           strstr(text, "# TYPE neural_milter_p histogram\n") &&
           strstr(text, "# TYPE neural_milter_model_info gauge\n"),
       "render: TYPE lines");
    ok(strstr(text, "{upstream=\"none\",result=\"scored\"}") == NULL &&
           strstr(text, "{upstream=\"rspamd\",result=\"ambiguous\"}") ==
               NULL,
       "render: no series for what cannot happen");
    free(text);
    for (size_t i = 0; i < sizeof(series) / sizeof(series[0]); i++)
        is_dbl(t_value(series[i]), i == 0 ? 1 : 0, 0, "fresh: %s",
               series[i]);
    is_dbl(t_value("neural_milter_model_info{id=\"none\",profile=\"none\","
                   "version=\"0\"}"), 1, 0, "fresh: no model served");
}

/* t_messages - upstream x result, and the histograms */
static void
t_messages(void)
{
    struct verdict v;

    v = t_verdict(HDR_UPSTREAM_RSPAMD, 1, 0.05, -2.5);
    metrics_message(&v, 0);
    v = t_verdict(HDR_UPSTREAM_RSPAMD, 1, 0.0500001, 0);
    metrics_message(&v, 0);
    v = t_verdict(HDR_UPSTREAM_SA, 1, 0.97, 5);
    metrics_message(&v, 0);
    v = t_verdict(HDR_UPSTREAM_SA, 1, 0.97, 5.01);
    metrics_message(&v, 1); /* the header edit failed */
    v = t_verdict(HDR_UPSTREAM_RSPAMD, 0, 0, 0);
    metrics_message(&v, 0); /* no model */
    v = t_verdict(HDR_UPSTREAM_RSPAMD, 0, 0, 0);
    snprintf(v.model_id, sizeof(v.model_id), "0123abcd.7");
    metrics_message(&v, 0); /* a model that failed to score */
    v = t_verdict(HDR_UPSTREAM_NONE, 0, 0, 0);
    metrics_message(&v, 0);
    v = t_verdict(HDR_UPSTREAM_NONE, 0, 0, 0);
    v.status = HDR_ERR_SYNTAX;
    metrics_message(&v, 0);
    v = t_verdict(HDR_UPSTREAM_AMBIGUOUS, 0, 0, 0);
    metrics_message(&v, 0);

    is_dbl(t_value("neural_milter_messages_total{upstream=\"rspamd\","
                   "result=\"scored\"}"), 2, 0, "rspamd scored: 2");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"rspamd\","
                   "result=\"none\"}"), 1, 0, "rspamd without a model: none");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"rspamd\","
                   "result=\"error\"}"), 1, 0,
           "rspamd, the model failed: error");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"spamassassin\","
                   "result=\"scored\"}"), 1, 0, "spamassassin scored: 1");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"spamassassin\","
                   "result=\"error\"}"), 1, 0,
           "spamassassin, headers not edited: error");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"none\","
                   "result=\"none\"}"), 1, 0, "no scanner header: none");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"none\","
                   "result=\"error\"}"), 1, 0,
           "a scanner header that does not parse: error");
    is_dbl(t_value("neural_milter_messages_total{upstream=\"ambiguous\","
                   "result=\"ambiguous\"}"), 1, 0, "two copies: ambiguous");

    /* p: 0.05 is in le=0.05 (bounds are inclusive), 0.0500001 is not */
    is_dbl(t_value("neural_milter_p_bucket{le=\"0.05\"}"), 1, 0,
           "p: 0.05 in le=0.05");
    is_dbl(t_value("neural_milter_p_bucket{le=\"0.1\"}"), 2, 0,
           "p: 0.0500001 in le=0.1 (cumulative 2)");
    is_dbl(t_value("neural_milter_p_bucket{le=\"0.95\"}"), 2, 0,
           "p: 0.97 above le=0.95");
    is_dbl(t_value("neural_milter_p_bucket{le=\"+Inf\"}"), 3, 0,
           "p: +Inf holds the scored messages, not the error one");
    is_dbl(t_value("neural_milter_p_count"), 3, 0, "p: count 3");
    is_dbl(t_value("neural_milter_p_sum"), 0.05 + 0.0500001 + 0.97, 1e-5,
           "p: sum");
    is_dbl(t_value("neural_milter_adjustment_bucket{le=\"-2\"}"), 1, 0,
           "adjustment: -2.5 in le=-2");
    is_dbl(t_value("neural_milter_adjustment_bucket{le=\"-0.01\"}"), 1, 0,
           "adjustment: 0 not in le=-0.01");
    is_dbl(t_value("neural_milter_adjustment_bucket{le=\"0.01\"}"), 2, 0,
           "adjustment: 0 in le=0.01");
    is_dbl(t_value("neural_milter_adjustment_bucket{le=\"5\"}"), 3, 0,
           "adjustment: 5 in le=5");
    is_dbl(t_value("neural_milter_adjustment_sum"), 2.5, 1e-6,
           "adjustment: sum -2.5 + 0 + 5");
}

/* t_others - examples, queue, Redis, trainings, model counters */
static void
t_others(void)
{
    metrics_example_queued(1, METRICS_AUTOLEARN);
    metrics_example_queued(1, METRICS_AUTOLEARN);
    metrics_example_queued(0, METRICS_EXPLICIT);
    metrics_example_dropped(0, METRICS_AUTOLEARN);
    metrics_example_written(1, METRICS_AUTOLEARN);
    metrics_queue_depth(17);
    metrics_redis_error(METRICS_REDIS_TIMEOUT);
    metrics_redis_error(METRICS_REDIS_ROLE);
    metrics_redis_error((enum metrics_redis)99); /* ignored */
    metrics_sentinel_switch();
    metrics_training(5, "published", 0.5);
    metrics_training(5, "published", 5.0);
    metrics_training(10, "cancelled", 7200);
    metrics_training(METRICS_MAX_OUTCOMES, "nonsense", 1); /* ignored */
    metrics_model_loaded();
    metrics_model_rejected();
    metrics_model_rejected();

    is_dbl(t_value("neural_milter_examples_queued_total{class=\"spam\","
                   "source=\"autolearn\"}"), 2, 0, "queued: spam autolearn");
    is_dbl(t_value("neural_milter_examples_queued_total{class=\"ham\","
                   "source=\"explicit\"}"), 1, 0, "queued: ham explicit");
    is_dbl(t_value("neural_milter_examples_dropped_total{class=\"ham\","
                   "source=\"autolearn\"}"), 1, 0, "dropped: ham autolearn");
    is_dbl(t_value("neural_milter_examples_written_total{class=\"spam\","
                   "source=\"autolearn\"}"), 1, 0, "written: spam autolearn");
    is_dbl(t_value("neural_milter_queue_depth"), 17, 0, "queue depth");
    is_dbl(t_value("neural_milter_redis_errors_total{kind=\"timeout\"}"), 1,
           0, "redis errors: timeout");
    is_dbl(t_value("neural_milter_redis_errors_total{kind=\"role\"}"), 1, 0,
           "redis errors: role");
    is_dbl(t_value("neural_milter_redis_errors_total{kind=\"connect\"}"), 0,
           0, "redis errors: no connect error");
    is_dbl(t_value("neural_milter_redis_sentinel_switches_total"), 1, 0,
           "sentinel switches");
    is_dbl(t_value("neural_milter_trainings_total{outcome=\"published\"}"),
           2, 0, "trainings: published 2");
    is_dbl(t_value("neural_milter_trainings_total{outcome=\"cancelled\"}"),
           1, 0, "trainings: cancelled 1");
    is_dbl(t_value("neural_milter_trainings_total{outcome=\"nonsense\"}"),
           -1, 0, "trainings: an outcome out of range is left out");
    is_dbl(t_value("neural_milter_training_seconds_bucket{le=\"1\"}"), 1, 0,
           "training seconds: 0.5 in le=1");
    is_dbl(t_value("neural_milter_training_seconds_bucket{le=\"5\"}"), 2, 0,
           "training seconds: 5 in le=5");
    is_dbl(t_value("neural_milter_training_seconds_bucket{le=\"3600\"}"), 2,
           0, "training seconds: 7200 past le=3600");
    is_dbl(t_value("neural_milter_training_seconds_bucket{le=\"+Inf\"}"), 3,
           0, "training seconds: +Inf 3");
    is_dbl(t_value("neural_milter_training_seconds_sum"), 7205.5, 1e-3,
           "training seconds: sum");
    is_dbl(t_value("neural_milter_model_loads_total"), 1, 0, "model loads");
    is_dbl(t_value("neural_milter_model_rejected_total"), 2, 0,
           "models rejected");
}

/* t_thread - many messages from one thread */
static void *
t_thread(void *arg)
{
    struct verdict v = t_verdict(HDR_UPSTREAM_SA, 1, 0.5, 1);

    (void)arg;
    for (int i = 0; i < T_PER_THREAD; i++)
        metrics_message(&v, 0);
    return NULL;
}

/* t_threads - counts stay exact under concurrency */
static void
t_threads(void)
{
    pthread_t th[T_THREADS];
    double before = t_value("neural_milter_messages_total{upstream="
                            "\"spamassassin\",result=\"scored\"}");

    for (int i = 0; i < T_THREADS; i++)
        pthread_create(&th[i], NULL, t_thread, NULL);
    for (int i = 0; i < T_THREADS; i++)
        pthread_join(th[i], NULL);
    is_dbl(t_value("neural_milter_messages_total{upstream=\"spamassassin\","
                   "result=\"scored\"}") - before, T_THREADS * T_PER_THREAD,
           0, "%d threads x %d messages: counted exactly", T_THREADS,
           T_PER_THREAD);
    is_dbl(t_value("neural_milter_p_count"), 3 + T_THREADS * T_PER_THREAD, 0,
           "and observed exactly");
}

/* t_listen - the option, before any socket is bound */
static void
t_listen(void)
{
    static const char *const bad[] = { "9357", "[::1]9357", "x:", ":80" };
    struct metrics_server *ms = (struct metrics_server *)&ms;
    char err[256];

    is_int(metrics_listen("", &ms, err, sizeof(err)), 0, "listen '': off");
    ok(ms == NULL, "listen '': no server");
    is_int(metrics_serve(NULL, err, sizeof(err)), 0, "serve(NULL): nothing");
    metrics_stop(NULL);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        is_int(metrics_listen(bad[i], &ms, err, sizeof(err)), -1,
               "listen '%s' refused (%s)", bad[i], err);
    }
}

int
main(void)
{
    t_fresh();
    t_messages();
    t_others();
    t_threads();
    t_listen();
    return exit_status();
}
