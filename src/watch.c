/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * watch - keep the current model equal to the one published in Redis,
 * and Redis holding the model this instance serves. Polling a small
 * version number is cheap; the blob is fetched only when the (profile,
 * version) pair changed. Scoring never waits on this thread: it swaps a
 * finished model in under model.c's mutex.
 */
#include "config.h"
#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

struct watch {
    pthread_t thread;
    struct store *st;        /* this thread's own connections */
    long interval_ms;
    char id[STORE_MAX_INSTANCE_ID + 1]; /* this instance: host:pid */
    int64_t started;         /* unix time */
    /* stop request: guarded by mu, signalled through cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    /* the last blob that failed to load, so it is reported once; this
     * thread only */
    char bad_digest[FEAT_DIGEST_LEN + 1];
    uint64_t bad_version;
};

/* watch_result_name - for logs */
const char *
watch_result_name(enum watch_result r)
{
    switch (r) {
    case WATCH_LOADED:
        return "loaded";
    case WATCH_SAME:
        return "same";
    case WATCH_NONE:
        return "none";
    case WATCH_OLDER:
        return "older";
    case WATCH_REJECTED:
        return "rejected";
    case WATCH_ERR:
        break;
    }
    return "error";
}

/* watch_beat_ttl_ms - three intervals, at least WATCH_BEAT_MIN_MS */
long
watch_beat_ttl_ms(long interval_ms)
{
    long ttl = interval_ms > LONG_MAX / 3 ? LONG_MAX : 3 * interval_ms;

    return ttl < WATCH_BEAT_MIN_MS ? WATCH_BEAT_MIN_MS : ttl;
}

/* watch_beat_model - "model=ID" out of a heartbeat line */
int
watch_beat_model(const char *line, char *buf, size_t len)
{
    const char *p = strstr(line, "model=");
    size_t n;

    if (p == NULL || (p != line && p[-1] != ' '))
        return -1;
    p += 6;
    n = strcspn(p, " ");
    if (n == 0 || n >= len)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return 0;
}

/* watch_fetch - load digest's blob as a model, checked */
static enum watch_result
watch_fetch(struct store *st, enum store_via via, const char *digest,
            const struct model *current, struct model **out)
{
    char err[256];
    uint64_t version;
    struct model *m;
    void *blob;
    size_t len;

    switch (store_model_get(st, via, digest, MODEL_MAX_BLOB, &blob, &len,
                            &version)) {
    case STORE_OK:
        break;
    case STORE_ABSENT:
        return WATCH_NONE; /* deleted since the head was read */
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        return WATCH_ERR;
    }
    if (model_from_blob(blob, len, &m, err, sizeof(err)) != 0) {
        log_warnx("watch: model %s.%" PRIu64 " in Redis rejected, keeping "
                  "%s: %s", digest, version,
                  current ? model_id(current) : "none", err);
        free(blob);
        return WATCH_REJECTED;
    }
    free(blob);
    if (strcmp(feat_profile_digest(model_profile(m)), digest) != 0) {
        log_warnx("watch: model stored under %s names profile %s; "
                  "rejected", digest, feat_profile_digest(model_profile(m)));
        model_release(m);
        return WATCH_REJECTED;
    }
    model_set_version(m, version);
    *out = m;
    return WATCH_LOADED;
}

/* watch_poll_once - compare, fetch, decode */
enum watch_result
watch_poll_once(struct store *st, enum store_via via,
                const struct model *current, struct model **out)
{
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;

    *out = NULL;
    switch (store_model_head(st, via, digest, &version)) {
    case STORE_OK:
        break;
    case STORE_ABSENT:
        return WATCH_NONE;
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        return WATCH_ERR;
    }
    if (current != NULL &&
        strcmp(feat_profile_digest(model_profile(current)), digest) == 0) {
        if (model_version(current) == version)
            return WATCH_SAME;
        if (model_version(current) > version)
            return WATCH_OLDER;
    }
    return watch_fetch(st, via, digest, current, out);
}

/* watch_restore - publish the served model again, Redis having lost it
 * (what says how) */
static void
watch_restore(struct watch *w, const struct model *cur, const char *what)
{
    char err[256];
    void *blob;
    size_t len;

    if (model_to_blob(cur, &blob, &len, err, sizeof(err)) != 0) {
        log_warnx("watch: Redis holds %s; cannot encode the served model "
                  "%s to publish it again: %s", what, model_id(cur), err);
        return;
    }
    switch (store_model_restore(w->st,
                                feat_profile_digest(model_profile(cur)), blob,
                                len, model_version(cur))) {
    case STORE_OK:
        log_info("watch: Redis held %s; published the served model %s "
                 "again", what, model_id(cur));
        break;
    case STORE_CONFLICT:
        /* another instance was first, or a model appeared: the next poll
         * loads what is there */
        log_debug("watch: Redis held %s; it holds a model again",
                  what);
        break;
    case STORE_ABSENT:
    case STORE_NOT_OURS:
    case STORE_ERR:
        break; /* logged by the store; the next poll tries again */
    }
    free(blob);
}

/* watch_none - Redis holds no model while cur serves: an admin's reset
 * (the version counter stayed) stops scoring; a Redis that lost its data
 * (no counter, or an older one) gets cur back */
static void
watch_none(struct watch *w, const struct model *cur)
{
    uint64_t version;

    switch (store_model_version(w->st, STORE_VIA_READ,
                                feat_profile_digest(model_profile(cur)),
                                &version)) {
    case STORE_OK:
        if (version >= model_version(cur)) {
            log_info("watch: model %s was reset in Redis; scoring stops "
                     "until a new one is published", model_id(cur));
            model_current_set(NULL);
            return;
        }
        break;
    case STORE_ABSENT:
        break;
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        return;
    }
    watch_restore(w, cur, "no model");
}

/* watch_beat - this instance's heartbeat, naming the model it serves */
static void
watch_beat(struct watch *w)
{
    struct model *cur = model_current_get();
    char line[STORE_MAX_BEAT + 1];

    snprintf(line, sizeof(line), "model=%s pid=%ld version=%s started=%lld",
             cur ? model_id(cur) : "none", (long)getpid(), PACKAGE_VERSION,
             (long long)w->started);
    model_release(cur);
    if (store_instance_beat(w->st, w->id, line,
                            watch_beat_ttl_ms(w->interval_ms)) != 0)
        log_debug("watch: heartbeat not written");
}

/* watch_known_bad - the live model is the blob that failed last time:
 * do not fetch and reject it every interval */
static int
watch_known_bad(struct watch *w)
{
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;

    return w->bad_digest[0] != '\0' &&
           store_model_head(w->st, STORE_VIA_READ, digest, &version) ==
               STORE_OK &&
           version == w->bad_version && strcmp(digest, w->bad_digest) == 0;
}

/* watch_poll - one round of the thread */
static void
watch_poll(struct watch *w)
{
    struct model *cur = model_current_get(), *m;
    enum watch_result res;

    if (watch_known_bad(w)) {
        log_debug("watch: poll: the rejected model is still live");
        model_release(cur);
        watch_beat(w);
        return;
    }
    res = watch_poll_once(w->st, STORE_VIA_READ, cur, &m);
    log_debug("watch: poll: %s", watch_result_name(res));
    switch (res) {
    case WATCH_LOADED: {
        const struct model_meta *meta = model_meta(m);
        unsigned sizes[MODEL_MAX_LAYERS];
        size_t nl = model_layers(m, sizes);

        log_info("watch: loaded model %s: %zu inputs, %zu layers, "
                 "thresholds ham<=%.3f spam>=%.3f, trained on %u spam + "
                 "%u ham, validation AUC %.4f, adjustment %s", model_id(m),
                 model_ninputs(m), nl, meta->ham_threshold,
                 meta->spam_threshold, meta->n_spam, meta->n_ham,
                 meta->val_auc,
                 meta->map.kind == MODEL_MAP_FIT ? "fitted" : "ramps");
        model_current_set(m);
        metrics_model_loaded();
        w->bad_digest[0] = '\0';
        break;
    }
    case WATCH_SAME:
        break;
    case WATCH_NONE:
        if (cur != NULL)
            watch_none(w, cur);
        break;
    case WATCH_OLDER:
        watch_restore(w, cur, "an older version of it");
        break;
    case WATCH_REJECTED: {
        char digest[FEAT_DIGEST_LEN + 1];
        uint64_t version;

        metrics_model_rejected();
        if (store_model_head(w->st, STORE_VIA_READ, digest, &version) ==
            STORE_OK) {
            snprintf(w->bad_digest, sizeof(w->bad_digest), "%s", digest);
            w->bad_version = version;
        }
        break;
    }
    case WATCH_ERR:
        break;
    }
    model_release(cur);
    watch_beat(w);
}

/* watch_main - the thread */
static void *
watch_main(void *arg)
{
    struct watch *w = arg;
    struct timespec until;

    pthread_setname_np(pthread_self(), "nm-watch");
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        pthread_mutex_unlock(&w->mu);
        watch_poll(w);
        pthread_mutex_lock(&w->mu);
        util_deadline(&until, w->interval_ms);
        while (!w->stop &&
               pthread_cond_timedwait(&w->cv, &w->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* watch_instance_id - "host:pid", the host name cut to what an id may
 * hold */
static void
watch_instance_id(char *buf, size_t len)
{
    char host[64] = "unknown";

    (void)gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    for (char *p = host; *p != '\0'; p++)
        if (!hdr_name_char((unsigned char)*p) && *p != '.' && *p != '-')
            *p = '_';
    snprintf(buf, len, "%s:%ld", host[0] ? host : "unknown", (long)getpid());
}

/* watch_start - make the store and the thread */
struct watch *
watch_start(const struct cfg *c, char *err, size_t errlen)
{
    struct watch *w = xcalloc(1, sizeof(*w));
    int rc;

    w->st = store_new_cfg(c, err, errlen);
    if (w->st == NULL) {
        free(w);
        return NULL;
    }
    w->interval_ms = c->watch_interval_ms;
    w->started = (int64_t)time(NULL);
    watch_instance_id(w->id, sizeof(w->id));
    pthread_mutex_init(&w->mu, NULL);
    if ((rc = util_cond_init(&w->cv)) != 0 ||
        (rc = pthread_create(&w->thread, NULL, watch_main, w)) != 0) {
        snprintf(err, errlen, "cannot start the watcher: %s", strerror(rc));
        store_free(w->st);
        free(w);
        return NULL;
    }
    return w;
}

/* watch_stop - stop and join */
void
watch_stop(struct watch *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    (void)store_instance_gone(w->st, w->id);
    store_free(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
