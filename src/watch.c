/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * watch - keep the current model equal to the one published in Redis.
 * Polling a small version number is cheap; the blob is fetched only when
 * the (profile, version) pair changed. Scoring never waits on this
 * thread: it swaps a finished model in under model.c's mutex.
 */
#include "config.h"
#include "watch.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

struct watch {
    pthread_t thread;
    struct store *st;        /* this thread's own connections */
    long interval_ms;
    /* stop request: guarded by mu, signalled through cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    /* the last blob that failed to load, so it is reported once */
    char bad_digest[FEAT_DIGEST_LEN + 1];
    uint64_t bad_version;
};

/* watch_poll_once - compare, fetch, decode */
int
watch_poll_once(struct store *st, const struct model *current,
                struct model **out)
{
    char digest[FEAT_DIGEST_LEN + 1], err[256];
    uint64_t version, got_version;
    struct model *m;
    void *blob;
    size_t len;
    int rc;

    *out = NULL;
    rc = store_model_head(st, digest, &version);
    if (rc <= 0)
        return rc;
    if (current != NULL && model_version(current) == version &&
        strcmp(feat_profile_digest(model_profile(current)), digest) == 0)
        return 0;
    rc = store_model_get(st, digest, &blob, &len, &got_version);
    if (rc <= 0)
        return rc;
    if (model_from_blob(blob, len, &m, err, sizeof(err)) != 0) {
        log_warnx("watch: model %s.%" PRIu64 " in Redis rejected, keeping "
                  "%s: %s", digest, got_version,
                  current ? model_id(current) : "none", err);
        free(blob);
        return -1;
    }
    free(blob);
    if (strcmp(feat_profile_digest(model_profile(m)), digest) != 0) {
        log_warnx("watch: model stored under %s names profile %s; "
                  "rejected", digest, feat_profile_digest(model_profile(m)));
        model_release(m);
        return -1;
    }
    model_set_version(m, got_version);
    *out = m;
    return 1;
}

/* watch_poll - one round of the thread */
static void
watch_poll(struct watch *w)
{
    struct model *cur = model_current_get(), *m;
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;

    /* Do not fetch and reject the same bad blob every interval. */
    if (w->bad_digest[0] != '\0' &&
        store_model_head(w->st, digest, &version) == 1 &&
        version == w->bad_version && strcmp(digest, w->bad_digest) == 0) {
        model_release(cur);
        return;
    }
    switch (watch_poll_once(w->st, cur, &m)) {
    case 0:
        /* Nothing published. After an admin's reset the model's version
         * counter is still there: stop scoring with a model the site
         * dropped. A Redis that restarted empty has no counter either:
         * keep the model in memory, mail is better served by it. */
        if (cur != NULL && store_model_head(w->st, digest, &version) == 0 &&
            store_model_version(w->st, feat_profile_digest(model_profile(cur)),
                                &version) == 1) {
            log_info("watch: model %s was reset in Redis; scoring stops "
                     "until a new one is published", model_id(cur));
            model_current_set(NULL);
        }
        break;
    case 1: {
        const struct model_meta *meta = model_meta(m);
        unsigned sizes[MODEL_MAX_LAYERS];
        size_t nl = model_layers(m, sizes);

        log_info("watch: loaded model %s: %zu inputs, %zu layers, "
                 "thresholds ham<=%.3f spam>=%.3f, trained on %u spam + "
                 "%u ham, validation AUC %.4f", model_id(m),
                 model_ninputs(m), nl, meta->ham_threshold,
                 meta->spam_threshold, meta->n_spam, meta->n_ham,
                 meta->val_auc);
        model_current_set(m);
        w->bad_digest[0] = '\0';
        break;
    }
    case -1:
        if (store_model_head(w->st, digest, &version) == 1) {
            snprintf(w->bad_digest, sizeof(w->bad_digest), "%s", digest);
            w->bad_version = version;
        }
        break;
    }
    model_release(cur);
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
    store_free(w->st);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
}
