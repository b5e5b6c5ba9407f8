/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer - when to train, and the trainer thread. A check:
 *   1. counts and the live model from the write servers; stop unless due
 *   2. no model in Redis: never a first network while this process or a
 *      live heartbeat serves a model its watcher will publish again, and
 *      in the daemon not before the state lasted TRAINER_FIRST_GRACE
 *      watch intervals (the heartbeats of a Redis that restarted empty
 *      come back within one)
 *   3. the lock (SET NX PX with our token)
 *   4. the training: in the daemon a child process (trainer_child.c)
 *      while this thread renews the lock; in the admin tool this process
 *      with a renewer thread
 *   5. the new-example counter consumed, the outcome recorded, the lock
 *      released by us only
 * A training process that dies is retried after a backoff.
 */
#include "config.h"
#include "trainer.h"
#include "trainer_int.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "watch.h"
#include "xmalloc.h"

#define TRAINER_FIRST_GRACE 2    /* watch intervals before a first network */
#define TRAINER_BACKOFF_MAX_MS (30L * 60 * 1000)

/* trainer_outcome_name - for logs */
const char *
trainer_outcome_name(enum trainer_outcome o)
{
    switch (o) {
    case TRAINER_DUE:
        return "due";
    case TRAINER_NOT_DUE:
        return "not-due";
    case TRAINER_WAITING:
        return "waiting";
    case TRAINER_LOCKED:
        return "locked";
    case TRAINER_NO_DATA:
        return "no-data";
    case TRAINER_PUBLISHED:
        return "published";
    case TRAINER_NOT_BETTER:
        return "not-better";
    case TRAINER_DEGENERATE:
        return "degenerate";
    case TRAINER_LOCK_LOST:
        return "lock-lost";
    case TRAINER_LIVE_CHANGED:
        return "live-changed";
    case TRAINER_CANCELLED:
        return "cancelled";
    case TRAINER_FAILED:
        return "failed";
    case TRAINER_REDIS:
        break;
    }
    return "redis";
}

/* trainer_token - host:pid:random */
void
trainer_token(char *buf, size_t len)
{
    char host[128] = "unknown";
    struct timespec ts;

    (void)gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, len, "%s:%ld:%08" PRIx64, host, (long)getpid(),
             util_hash64(&ts, sizeof(ts), UTIL_HASH64_INIT) & 0xffffffffu);
}

/* trainer_set_reason - rep->reason and rep->outcome; returns o */
enum trainer_outcome
trainer_set_reason(struct trainer_report *rep, enum trainer_outcome o,
                   const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(rep->reason, sizeof(rep->reason), fmt, ap);
    va_end(ap);
    rep->outcome = o;
    return o;
}

/* trainer_live_parse - "DIGEST.VERSION" into *live; 0 or -1 */
int
trainer_live_parse(const char *id, struct trainer_live *live)
{
    long v;

    memset(live, 0, sizeof(*live));
    if (strlen(id) <= FEAT_DIGEST_LEN + 1 || id[FEAT_DIGEST_LEN] != '.' ||
        util_parse_long(id + FEAT_DIGEST_LEN + 1, 1, LONG_MAX, &v) != 0)
        return -1;
    memcpy(live->digest, id, FEAT_DIGEST_LEN);
    live->digest[FEAT_DIGEST_LEN] = '\0';
    live->version = (uint64_t)v;
    live->have = 1;
    return 0;
}

/*
 * trainer_restorable - a model served as id ("DIGEST.VERSION") that its
 * watcher will publish again: Redis keeps no version counter for its
 * profile, or an older one (an admin's reset keeps the counter). 1 yes,
 * 0 no, -1 Redis unreadable.
 */
static int
trainer_restorable(struct store *st, const char *id)
{
    struct trainer_live served;
    uint64_t have;

    if (trainer_live_parse(id, &served) != 0)
        return 0;
    switch (store_model_version(st, STORE_VIA_WRITE, served.digest, &have)) {
    case STORE_OK:
        return have < served.version;
    case STORE_ABSENT:
        return 1;
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        break;
    }
    return -1;
}

/* trainer_lost - Redis holds no model: TRAINER_WAITING while a model
 * Redis lost is served (by this process or an instance with a live
 * heartbeat), TRAINER_REDIS when that cannot be told, else TRAINER_DUE */
static enum trainer_outcome
trainer_lost(struct store *st, struct trainer_report *rep)
{
    struct store_instance in[STORE_MAX_INSTANCES];
    struct model *cur = model_current_get();
    char id[MODEL_ID_LEN + 1];
    size_t n;
    int r;

    if (cur != NULL) {
        snprintf(id, sizeof(id), "%s", model_id(cur));
        model_release(cur);
        if ((r = trainer_restorable(st, id)) != 0)
            return r < 0 ? trainer_set_reason(rep, TRAINER_REDIS,
                                              "Redis is unreachable")
                         : trainer_set_reason(rep, TRAINER_WAITING,
                               "Redis holds no model; this instance serves "
                               "%s and publishes it again first", id);
    }
    if (store_instances(st, in, STORE_MAX_INSTANCES, &n) != 0)
        return trainer_set_reason(rep, TRAINER_REDIS,
                                  "cannot read the heartbeats");
    for (size_t i = 0; i < n; i++) {
        if (watch_beat_model(in[i].line, id, sizeof(id)) != 0 ||
            (r = trainer_restorable(st, id)) == 0)
            continue;
        return r < 0 ? trainer_set_reason(rep, TRAINER_REDIS,
                                          "Redis is unreachable")
                     : trainer_set_reason(rep, TRAINER_WAITING,
                           "Redis holds no model; instance %s serves %s and "
                           "publishes it again first", in[i].id, id);
    }
    return TRAINER_DUE;
}

/* trainer_due - enough new data and enough of each class */
enum trainer_outcome
trainer_due(struct store *st, const struct cfg *c, int force,
            struct trainer_report *rep, struct trainer_live *live)
{
    enum trainer_outcome o;

    memset(live, 0, sizeof(*live));
    if (store_example_counts(st, &rep->nspam, &rep->nham, &rep->nnew) != 0)
        return trainer_set_reason(rep, TRAINER_REDIS, "Redis is unreachable");
    switch (store_model_head(st, STORE_VIA_WRITE, live->digest,
                             &live->version)) {
    case STORE_OK:
        live->have = 1;
        break;
    case STORE_ABSENT:
        if ((o = trainer_lost(st, rep)) != TRAINER_DUE)
            return o;
        break;
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        return trainer_set_reason(rep, TRAINER_REDIS, "cannot read the live "
                                  "model from Redis");
    }
    /* A site without a model trains as soon as both classes are there,
     * so small sites get one; afterwards threshold new examples. */
    if (!force && (rep->nspam < c->min_class || rep->nham < c->min_class ||
                   (live->have && rep->nnew < c->threshold)))
        return trainer_set_reason(rep, TRAINER_NOT_DUE, "not due: %ld spam, "
                                  "%ld ham, %ld new (need %ld of each class "
                                  "and %ld new)", rep->nspam, rep->nham,
                                  rep->nnew, c->min_class, c->threshold);
    if (rep->nspam < 1 || rep->nham < 1)
        return trainer_set_reason(rep, TRAINER_NO_DATA, "need examples of "
                                  "both classes: %ld spam, %ld ham",
                                  rep->nspam, rep->nham);
    return trainer_set_reason(rep, TRAINER_DUE, "due");
}

/* trainer_record - the outcome line kept in Redis for `status`, and the
 * log line */
void
trainer_record(struct store *st, const char *token,
               const struct trainer_report *rep)
{
    char line[768], when[32], peak[64];
    time_t now = time(NULL);
    struct tm tm;

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    snprintf(line, sizeof(line),
             "%s by %s: %s; model=%s; auc_new=%.4f; auc_old=%.4f; "
             "spam=%ld; ham=%ld; fresh=%d; new_profile=%d; seconds=%.1f; "
             "outcome=%s", when, token, rep->reason,
             rep->model_id[0] ? rep->model_id : "none", rep->auc_new,
             rep->auc_old, rep->nspam, rep->nham, rep->fresh,
             rep->new_profile, rep->seconds,
             trainer_outcome_name(rep->outcome));
    if (store_train_outcome_set(st, line) != 0)
        log_warnx("trainer: cannot record the outcome in Redis");
    peak[0] = '\0';
    if (rep->peak_kib > 0)
        snprintf(peak, sizeof(peak), "; peak %ld MiB in the training "
                 "process", (rep->peak_kib + 1023) / 1024);
    log_info("trainer: %s; model=%s; held-back AUC new %.4f, live %.4f; "
             "%ld spam + %ld ham stored; %zu symbols; %.1f s%s; outcome=%s",
             rep->reason, rep->model_id[0] ? rep->model_id : "none",
             rep->auc_new, rep->auc_old, rep->nspam, rep->nham, rep->nsym,
             rep->seconds, peak, trainer_outcome_name(rep->outcome));
}

/* trainer_judged - the examples were judged: a network trained on them
 * was published or found wanting. After the others (the lock lost, the
 * live model changed, a failure) the same examples are worth a try. */
static int
trainer_judged(enum trainer_outcome o)
{
    return o == TRAINER_PUBLISHED || o == TRAINER_NOT_BETTER ||
           o == TRAINER_DEGENERATE;
}

/* trainer_finish - after a training with the lock held: the counter,
 * the outcome line, the lock */
static void
trainer_finish(struct store *st, const char *token,
               const struct trainer_report *rep)
{
    /* The new examples counted at the start are used up; those that
     * arrived while training count towards the next run. */
    if (trainer_judged(rep->outcome) && store_new_consume(st, rep->nnew) != 0)
        log_warnx("trainer: cannot reset the new-example counter");
    metrics_training((int)rep->outcome, trainer_outcome_name(rep->outcome),
                     rep->seconds);
    trainer_record(st, token, rep);
    switch (store_lock_release(st, token)) {
    case STORE_OK:
        break;
    case STORE_NOT_OURS:
        log_warnx("trainer: the lock was no longer ours at release");
        break;
    case STORE_ABSENT:
    case STORE_CONFLICT:
    case STORE_ERR:
        log_warnx("trainer: cannot release the lock; it expires by itself");
        break;
    }
}

/* trainer_lock - take the lock; TRAINER_DUE when taken */
static enum trainer_outcome
trainer_lock(struct store *st, const struct cfg *c, const char *token,
             struct trainer_report *rep)
{
    char owner[256] = "?";
    long ttl;

    switch (store_lock_acquire(st, token, c->lock_ttl_ms)) {
    case STORE_OK:
        return TRAINER_DUE;
    case STORE_NOT_OURS:
        (void)store_lock_owner(st, owner, sizeof(owner), &ttl);
        return trainer_set_reason(rep, TRAINER_LOCKED, "another trainer "
                                  "holds the lock: %s", owner);
    case STORE_ABSENT:
    case STORE_CONFLICT:
    case STORE_ERR:
        break;
    }
    return trainer_set_reason(rep, TRAINER_REDIS, "Redis is unreachable");
}

struct trainer_renew {
    struct store *st;
    const char *token;
    long ttl_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

/* trainer_renew_main - keep the lock while the network trains in this
 * process (trainer_run) */
static void *
trainer_renew_main(void *arg)
{
    struct trainer_renew *rn = arg;
    struct timespec until;

    pthread_setname_np(pthread_self(), "nm-lock");
    pthread_mutex_lock(&rn->mu);
    while (!rn->stop) {
        util_deadline(&until, rn->ttl_ms / 3);
        if (pthread_cond_timedwait(&rn->cv, &rn->mu, &until) == ETIMEDOUT &&
            !rn->stop) {
            pthread_mutex_unlock(&rn->mu);
            if (store_lock_renew(rn->st, rn->token, rn->ttl_ms) ==
                STORE_NOT_OURS)
                log_warnx("trainer: lost the training lock");
            pthread_mutex_lock(&rn->mu);
        }
    }
    pthread_mutex_unlock(&rn->mu);
    return NULL;
}

/* trainer_run - due, lock, job, record, release, in this process */
int
trainer_run(struct store *st, const struct cfg *c, int force,
            const char *token, struct trainer_report *rep)
{
    struct trainer_renew rn = { .st = st, .token = token,
                                .ttl_ms = c->lock_ttl_ms };
    struct trainer_live live;
    pthread_t renewer;
    int64_t t0 = util_now_ms();
    enum trainer_outcome o;
    long acc, ref;

    memset(rep, 0, sizeof(*rep));
    rep->auc_old = -1;
    (void)trainer_reports(st, c, &acc, &ref); /* logged inside */
    if ((o = trainer_due(st, c, force, rep, &live)) == TRAINER_DUE)
        o = trainer_lock(st, c, token, rep);
    if (o != TRAINER_DUE)
        return o == TRAINER_REDIS ? -1 : 0;
    pthread_mutex_init(&rn.mu, NULL);
    if (util_cond_init(&rn.cv) != 0 ||
        pthread_create(&renewer, NULL, trainer_renew_main, &rn) != 0)
        panic("trainer: cannot start the lock renewer");
    o = trainer_job(st, c, token, &live, NULL, NULL, rep);
    rep->seconds = (double)(util_now_ms() - t0) / 1000.0;
    pthread_mutex_lock(&rn.mu);
    rn.stop = 1;
    pthread_cond_signal(&rn.cv);
    pthread_mutex_unlock(&rn.mu);
    pthread_join(renewer, NULL);
    pthread_mutex_destroy(&rn.mu);
    pthread_cond_destroy(&rn.cv);
    trainer_finish(st, token, rep);
    return o == TRAINER_REDIS || o == TRAINER_FAILED ? -1 : 0;
}

struct trainer {
    pthread_t thread;
    struct store *st;        /* this thread's own connections */
    char token[256];
    char exe[256];           /* our binary, for the training process */
    int foreground;          /* the daemon logs to stderr */
    /* this thread only: */
    long rejected_at[3];     /* the example counts when a training was not
                                published: the same data would give the
                                same verdict, so wait for new examples */
    int64_t none_since_ms;   /* monotonic; when Redis was first seen
                                without a model (0: it has one) */
    unsigned failures;       /* training processes that died in a row */
    int64_t retry_at_ms;     /* monotonic; no training before it */
    char said[256];          /* the last reason logged at info level */
    /* stop request: guarded by mu, signalled through cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

/* trainer_stopping - the stop flag, for the training supervisor */
static int
trainer_stopping(void *arg)
{
    struct trainer *t = arg;
    int stop;

    pthread_mutex_lock(&t->mu);
    stop = t->stop;
    pthread_mutex_unlock(&t->mu);
    return stop;
}

/* trainer_first_wait - a first network only after Redis held no model
 * for TRAINER_FIRST_GRACE watch intervals; 1 while waiting */
static int
trainer_first_wait(struct trainer *t, const struct cfg *c,
                   const struct trainer_live *live,
                   struct trainer_report *rep)
{
    int64_t now = util_now_ms(), grace;

    if (live->have) {
        t->none_since_ms = 0;
        return 0;
    }
    if (t->none_since_ms == 0)
        t->none_since_ms = now;
    grace = TRAINER_FIRST_GRACE * (int64_t)c->watch_interval_ms;
    if (now - t->none_since_ms >= grace)
        return 0;
    trainer_set_reason(rep, TRAINER_WAITING, "no model anywhere; a first "
                       "network after %.1f s without one",
                       (double)grace / 1000.0);
    return 1;
}

/* trainer_backoff - after a training process died: retry later, longer
 * each time in a row */
static void
trainer_backoff(struct trainer *t, const struct cfg *c)
{
    int64_t ms = c->check_interval_ms;

    for (unsigned i = 1; i < t->failures && ms < TRAINER_BACKOFF_MAX_MS; i++)
        ms *= 2;
    if (ms > TRAINER_BACKOFF_MAX_MS)
        ms = TRAINER_BACKOFF_MAX_MS;
    t->retry_at_ms = util_now_ms() + ms;
    log_warnx("trainer: training failed %u time%s in a row; next attempt in "
              "%.1f s", t->failures, t->failures == 1 ? "" : "s",
              (double)ms / 1000.0);
}

/* trainer_say - why a check did not train: at info level when the
 * reason is new and worth an admin's eye, else at debug level */
static void
trainer_say(struct trainer *t, const struct trainer_report *rep)
{
    if (rep->outcome == TRAINER_NOT_DUE ||
        strcmp(t->said, rep->reason) == 0) {
        log_debug("trainer: %s", rep->reason);
        return;
    }
    log_info("trainer: %s", rep->reason);
    snprintf(t->said, sizeof(t->said), "%s", rep->reason);
}

/* trainer_tick - one check of the thread */
static void
trainer_tick(struct trainer *t, const struct cfg *c)
{
    struct trainer_report rep;
    struct trainer_live live;
    int64_t t0 = util_now_ms();
    long n[3], acc, ref;

    /* Reports first: they are new examples for the check below. */
    (void)trainer_reports(t->st, c, &acc, &ref); /* logged inside */
    if (t0 < t->retry_at_ms)
        return;
    if (t->rejected_at[0] + t->rejected_at[1] > 0 &&
        store_example_counts(t->st, &n[0], &n[1], &n[2]) == 0 &&
        memcmp(n, t->rejected_at, sizeof(n)) == 0) {
        log_debug("trainer: no new examples since the last network was "
                  "not published");
        return;
    }
    memset(&rep, 0, sizeof(rep));
    rep.auc_old = -1;
    if (trainer_due(t->st, c, 0, &rep, &live) != TRAINER_DUE ||
        trainer_first_wait(t, c, &live, &rep) ||
        trainer_lock(t->st, c, t->token, &rep) != TRAINER_DUE) {
        trainer_say(t, &rep);
        return;
    }
    t->said[0] = '\0';
    trainer_child_run(t->st, c, t->exe, t->foreground, t->token, &live,
                      trainer_stopping, t, &rep);
    rep.seconds = (double)(util_now_ms() - t0) / 1000.0;
    trainer_finish(t->st, t->token, &rep);
    if (rep.outcome == TRAINER_FAILED) {
        t->failures++;
        trainer_backoff(t, c);
    } else if (rep.outcome != TRAINER_CANCELLED) {
        t->failures = 0;
    }
    if (trainer_judged(rep.outcome) && !rep.published &&
        store_example_counts(t->st, &n[0], &n[1], &n[2]) == 0)
        memcpy(t->rejected_at, n, sizeof(n));
    else if (rep.published)
        memset(t->rejected_at, 0, sizeof(t->rejected_at));
}

/* trainer_main - the thread: check, maybe train, sleep */
static void *
trainer_main(void *arg)
{
    struct trainer *t = arg;
    struct timespec until;

    pthread_setname_np(pthread_self(), "nm-trainer");
    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        struct cfg *c = cfg_current_get();
        long interval = c->check_interval_ms;

        pthread_mutex_unlock(&t->mu);
        if (c->train_enabled)
            trainer_tick(t, c);
        cfg_release(c);
        pthread_mutex_lock(&t->mu);
        util_deadline(&until, interval);
        while (!t->stop &&
               pthread_cond_timedwait(&t->cv, &t->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* trainer_start - store and thread */
struct trainer *
trainer_start(const struct cfg *c, const char *self_exe, int foreground,
              char *err, size_t errlen)
{
    struct trainer *t = xcalloc(1, sizeof(*t));
    int rc;

    if (strlen(self_exe) >= sizeof(t->exe)) {
        snprintf(err, errlen, "trainer: program path too long: %s",
                 self_exe);
        free(t);
        return NULL;
    }
    snprintf(t->exe, sizeof(t->exe), "%s", self_exe);
    t->foreground = foreground;
    if ((t->st = store_new_cfg(c, err, errlen)) == NULL) {
        free(t);
        return NULL;
    }
    trainer_token(t->token, sizeof(t->token));
    pthread_mutex_init(&t->mu, NULL);
    if ((rc = util_cond_init(&t->cv)) != 0 ||
        (rc = pthread_create(&t->thread, NULL, trainer_main, t)) != 0) {
        snprintf(err, errlen, "cannot start the trainer: %s", strerror(rc));
        store_free(t->st);
        free(t);
        return NULL;
    }
    return t;
}

/* trainer_stop - stop (cancelling a training), join */
void
trainer_stop(struct trainer *t)
{
    if (t == NULL)
        return;
    pthread_mutex_lock(&t->mu);
    t->stop = 1;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->thread, NULL);
    store_free(t->st);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t);
}
