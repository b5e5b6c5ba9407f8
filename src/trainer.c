/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer - store → examples → vectors → model → store. A run:
 *   1. counts; stop unless due (or forced)
 *   2. the lock (SET NX PX with our token), renewed by a helper thread
 *      while the network trains, released only by us
 *   3. examples of both classes, decoded; the live model
 *   4. the profile: the live one, or a new one built from the examples
 *      when the scanner's rules changed (symbols the profile lacks fire
 *      in a share of recent mail, or common profile symbols stopped)
 *   5. held-back split by a hash of each record (an example stays on its
 *      side across trainings), classes balanced by oversampling
 *   6. continue the live network, or a fresh one after max_iterations
 *   7. publish only when not worse than the live model on the same
 *      held-back examples, and never a degenerate (one-class) network
 */
#include "config.h"
#include "trainer.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "example.h"
#include "feat.h"
#include "log.h"
#include "util.h"
#include "watch.h"
#include "xmalloc.h"

#define TRAINER_RECENT 1000      /* newest examples that show rule changes */
#define TRAINER_MIN_SYMBOL 2     /* examples a symbol needs to be an input */
#define TRAINER_COMMON 0.01      /* share that makes a profile symbol common */

/* The examples of one run, decoded. */
struct trainer_set {
    struct example *ex;
    unsigned char *held;     /* 1 = held back for validation */
    size_t n, cap;
    size_t nbad;             /* records that did not decode */
};

/* trainer_now - wall clock seconds */
static double
trainer_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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

/* trainer_due - enough new data and enough of each class */
int
trainer_due(struct store *st, const struct cfg *c, long *nspam, long *nham,
            long *nnew)
{
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;
    int have;

    if (store_example_counts(st, nspam, nham, nnew) != 0)
        return -1;
    if (*nspam < c->min_class || *nham < c->min_class)
        return 0;
    if ((have = store_model_head(st, digest, &version)) < 0)
        return -1;
    /* A site without a model trains as soon as both classes are there,
     * so small sites get one; afterwards threshold new examples. */
    return have == 0 || *nnew >= c->threshold;
}

/* trainer_fetch - decode one class into set */
static int
trainer_fetch(struct store *st, int spam, struct trainer_set *set)
{
    struct store_blob *blobs;
    size_t n;
    char err[128];

    if (store_examples_fetch(st, spam, &blobs, &n) != 0)
        return -1;
    if (set->n + n > set->cap) {
        set->cap = set->n + n;
        set->ex = xreallocarray(set->ex, set->cap, sizeof(*set->ex));
        set->held = xreallocarray(set->held, set->cap, 1);
    }
    for (size_t i = 0; i < n; i++) {
        struct example *ex = &set->ex[set->n];
        int bad = example_decode(blobs[i].data, blobs[i].len, ex, err,
                                 sizeof(err)) != 0;

        /* It decoded, so err is unset: say what is wrong with it. */
        if (!bad && ex->spam != spam) {
            snprintf(err, sizeof(err), "a %s example in the %s list",
                     ex->spam ? "spam" : "ham", spam ? "spam" : "ham");
            bad = 1;
        }
        if (bad) {
            if (set->nbad++ == 0)
                log_warnx("trainer: skipping a stored example: %s", err);
            example_free(ex);
            continue;
        }
        set->held[set->n++] = 0; /* trainer_split() decides */
    }
    store_blobs_free(blobs, n);
    return 0;
}

/* trainer_mix - splitmix64's finaliser: FNV-1a's low bits alone split
 * similar examples unevenly */
static uint64_t
trainer_mix(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* trainer_hash_cmp - order indices by their example's hash */
static int
trainer_hash_cmp(const void *a, const void *b, void *arg)
{
    const uint64_t *h = arg;
    uint64_t x = h[*(const size_t *)a], y = h[*(const size_t *)b];

    return (x > y) - (x < y);
}

/* trainer_split - hold back share of each class, chosen by a hash of the
 * example's content, so an example stays on its side across trainings
 * and both classes are represented among the held-back examples */
static void
trainer_split(struct trainer_set *set, double share)
{
    uint64_t *h = xreallocarray(NULL, set->n + 1, sizeof(*h));
    size_t *idx = xreallocarray(NULL, set->n + 1, sizeof(*idx));

    struct example *sorted;
    uint64_t *hs;

    /* The content alone (not the time it was queued): the same messages
     * give the same split, and copies of one message stay together. */
    for (size_t i = 0; i < set->n; i++) {
        const struct hdr_result *r = &set->ex[i].res;
        uint64_t v = util_hash64(&set->ex[i].spam, sizeof(set->ex[i].spam),
                                 UTIL_HASH64_INIT);

        for (size_t k = 0; k < r->nsym; k++)
            v = util_hash64(r->sym[k].name, strlen(r->sym[k].name), v);
        v = util_hash64(&r->score, sizeof(r->score), v);
        h[i] = trainer_mix(v);
        idx[i] = i;
    }
    /* Put the examples in hash order too, so the order they arrived in
     * (queue timing) does not change the network either. */
    qsort_r(idx, set->n, sizeof(*idx), trainer_hash_cmp, h);
    sorted = xreallocarray(NULL, set->n + 1, sizeof(*sorted));
    hs = xreallocarray(NULL, set->n + 1, sizeof(*hs));
    for (size_t i = 0; i < set->n; i++) {
        sorted[i] = set->ex[idx[i]];
        hs[i] = h[idx[i]];
        set->held[i] = 0;
    }
    memcpy(set->ex, sorted, set->n * sizeof(*sorted));
    memcpy(h, hs, set->n * sizeof(*hs));
    free(sorted);
    free(hs);
    for (int spam = 0; spam <= 1; spam++) {
        size_t n = 0, want;

        for (size_t i = 0; i < set->n; i++)
            if (set->ex[i].spam == spam)
                idx[n++] = i;
        qsort_r(idx, n, sizeof(*idx), trainer_hash_cmp, h);
        want = (size_t)((double)n * share + 0.5);
        if (want == 0 && n >= 2)
            want = 1;
        for (size_t k = 0; k < want && k < n; k++)
            set->held[idx[k]] = 1;
    }
    free(h);
    free(idx);
}

/* trainer_set_free - release a set */
static void
trainer_set_free(struct trainer_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        example_free(&set->ex[i]);
    free(set->ex);
    free(set->held);
    memset(set, 0, sizeof(*set));
}

/* trainer_name_cmp - qsort over symbol name pointers */
static int
trainer_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* trainer_example_time_cmp - newest first */
static int
trainer_time_cmp(const void *a, const void *b, void *arg)
{
    const struct example *ex = arg;
    int64_t x = ex[*(const size_t *)a].time, y = ex[*(const size_t *)b].time;

    return (x < y) - (x > y);
}

/* trainer_candidate - a profile of every symbol that fired in at least
 * TRAINER_MIN_SYMBOL examples */
static struct feat_profile *
trainer_candidate(const struct trainer_set *set)
{
    const char **all = NULL, **keep;
    size_t n = 0, nkeep = 0, with_scores = 0;
    struct feat_profile *p;

    for (size_t i = 0; i < set->n; i++) {
        const struct hdr_result *r = &set->ex[i].res;

        with_scores += r->has_scores != 0;
        all = xreallocarray(all, n + r->nsym + 1, sizeof(*all));
        for (size_t k = 0; k < r->nsym; k++)
            all[n++] = r->sym[k].name;
    }
    qsort(all, n, sizeof(*all), trainer_name_cmp);
    keep = xreallocarray(NULL, n + 1, sizeof(*keep));
    for (size_t i = 0; i < n;) {
        size_t j = i;

        while (j < n && strcmp(all[j], all[i]) == 0)
            j++;
        if (j - i >= TRAINER_MIN_SYMBOL)
            keep[nkeep++] = all[i];
        i = j;
    }
    /* Scores are an input channel only when most examples carry them. */
    p = feat_profile_new(keep, nkeep, with_scores * 2 > set->n);
    free(all);
    free(keep);
    return p;
}

/* trainer_rules_changed - compare the live profile with recent mail;
 * fills why and returns 1 when a new profile is needed */
static int
trainer_rules_changed(const struct trainer_set *set,
                      const struct feat_profile *live,
                      const struct feat_profile *cand, double share,
                      char *why, size_t whylen)
{
    size_t *order = xreallocarray(NULL, set->n + 1, sizeof(*order));
    size_t nrecent = set->n < TRAINER_RECENT ? set->n : TRAINER_RECENT;
    size_t nsym = feat_profile_nsym(live), with_new = 0, common = 0, gone = 0;
    unsigned *all_count = xcalloc(nsym + 1, sizeof(*all_count));
    unsigned char *recent = xcalloc(nsym + 1, 1);
    int changed = 0;

    if (feat_profile_scores(live) != feat_profile_scores(cand)) {
        snprintf(why, whylen, "the upstream's header %s scores now",
                 feat_profile_scores(cand) ? "carries" : "lacks");
        changed = 1;
        goto out;
    }
    for (size_t i = 0; i < set->n; i++)
        order[i] = i;
    qsort_r(order, set->n, sizeof(*order), trainer_time_cmp, set->ex);
    for (size_t i = 0; i < set->n; i++) {
        const struct hdr_result *r = &set->ex[order[i]].res;
        int has_new = 0;

        for (size_t k = 0; k < r->nsym; k++) {
            long idx = feat_profile_index(live, r->sym[k].name);

            if (idx >= 0) {
                all_count[idx]++;
                if (i < nrecent)
                    recent[idx] = 1;
            } else if (i < nrecent &&
                       feat_profile_index(cand, r->sym[k].name) >= 0) {
                has_new = 1;
            }
        }
        with_new += has_new;
    }
    for (size_t k = 0; k < nsym; k++) {
        if ((double)all_count[k] < TRAINER_COMMON * (double)set->n)
            continue;
        common++;
        gone += !recent[k];
    }
    if (nrecent > 0 && (double)with_new >= share * (double)nrecent) {
        snprintf(why, whylen, "%zu of the %zu newest examples have symbols "
                 "the profile lacks", with_new, nrecent);
        changed = 1;
    } else if (common > 0 && (double)gone >= share * (double)common) {
        snprintf(why, whylen, "%zu of %zu common profile symbols stopped "
                 "appearing", gone, common);
        changed = 1;
    }
out:
    free(order);
    free(all_count);
    free(recent);
    return changed;
}

/* trainer_vectors - rows of prof's vectors for the examples on one side
 * of the split (held = 1: validation); balance oversamples the minority
 * class to the majority's count. Returns the row count. */
static size_t
trainer_vectors(const struct trainer_set *set, const struct feat_profile *prof,
                int held, int balance, float **x, float **y)
{
    size_t ni = feat_ninputs(prof), n = 0, ns = 0, nh = 0, rows, r = 0;
    size_t *idx = xreallocarray(NULL, set->n + 1, sizeof(*idx));
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    for (size_t i = 0; i < set->n; i++)
        if (set->held[i] == held) {
            idx[n++] = i;
            if (set->ex[i].spam)
                ns++;
            else
                nh++;
        }
    rows = n;
    if (balance && ns > 0 && nh > 0)
        rows = 2 * (ns > nh ? ns : nh);
    if (rows > SIZE_MAX / ni / sizeof(float))
        panic("trainer: %zu rows of %zu inputs overflow", rows, ni);
    *x = xreallocarray(NULL, rows * ni + 1, sizeof(float));
    *y = xreallocarray(NULL, rows + 1, sizeof(float));
    for (size_t i = 0; i < n; i++, r++) {
        const struct example *ex = &set->ex[idx[i]];

        if (feat_vector(prof, &ex->res, *x + r * ni, ni, NULL) != 0)
            panic("trainer: vector length mismatch");
        /* An autolearned label was derived from the upstream's score, so
         * that input would teach the network nothing but the rule that
         * made the label: hide it from such examples. */
        if (!ex->explicit_)
            (*x)[r * ni + ni - FEAT_NMETA] = 0;
        (*y)[r] = ex->spam ? 1.0f : 0.0f;
    }
    /* Oversample: copy random rows of the smaller class. */
    while (r < rows) {
        int want_spam = ns < nh;
        size_t pick;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        pick = (size_t)(rng % n);
        if (((*y)[pick] > 0.5f) != want_spam)
            continue;
        memcpy(*x + r * ni, *x + pick * ni, ni * sizeof(float));
        (*y)[r] = (*y)[pick];
        r++;
        if (want_spam)
            ns++;
        else
            nh++;
    }
    free(idx);
    return rows;
}

/* trainer_profile_copy - a new profile with p's symbols */
static struct feat_profile *
trainer_profile_copy(const struct feat_profile *p)
{
    size_t k = feat_profile_nsym(p);
    const char **names = xreallocarray(NULL, k + 1, sizeof(*names));
    struct feat_profile *copy;

    for (size_t i = 0; i < k; i++)
        names[i] = feat_profile_name(p, i);
    copy = feat_profile_new(names, k, feat_profile_scores(p));
    free(names);
    return copy;
}

/* trainer_degenerate - every held-back output on one side of 0.5 */
static int
trainer_degenerate(struct model *m, const float *x, size_t n)
{
    size_t ni = model_ninputs(m), above = 0;
    double p;

    for (size_t i = 0; i < n; i++)
        if (model_score(m, x + i * ni, ni, &p) == 0 && p >= 0.5)
            above++;
    return n > 0 && (above == 0 || above == n);
}

struct trainer_renew {
    struct store *st;
    const char *token;
    long ttl_ms;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    int lost;
};

/* trainer_renew_main - keep the lock while the network trains */
static void *
trainer_renew_main(void *arg)
{
    struct trainer_renew *rn = arg;
    struct timespec until;

    pthread_setname_np(pthread_self(), "nm-lock");
    pthread_mutex_lock(&rn->mu);
    while (!rn->stop) {
        long step = rn->ttl_ms / 3;

        util_deadline(&until, step);
        if (pthread_cond_timedwait(&rn->cv, &rn->mu, &until) == ETIMEDOUT &&
            !rn->stop) {
            pthread_mutex_unlock(&rn->mu);
            if (store_lock_renew(rn->st, rn->token, rn->ttl_ms) == 0) {
                log_warnx("trainer: lost the training lock");
                rn->lost = 1;
            }
            pthread_mutex_lock(&rn->mu);
        }
    }
    pthread_mutex_unlock(&rn->mu);
    return NULL;
}

/* trainer_train - steps 4 to 7, with the lock held by token */
static int
trainer_train(struct store *st, const struct cfg *c, const char *token,
              struct trainer_set *set, struct trainer_report *rep)
{
    struct model *live = NULL, *m = NULL;
    struct feat_profile *prof;
    float *x = NULL, *y = NULL, *vx = NULL, *vy = NULL;
    size_t n, nv, ni, nhidden = 0;
    unsigned hidden[2];
    uint64_t seed = 0;
    struct model_train_opts opts = {
        .max_epochs = (unsigned)c->max_epochs,
        .patience = TRAINER_PATIENCE,
        .target_fpr = c->target_fpr,
        .smoothing = TRAINER_SMOOTHING,
        .learning_rate = TRAINER_RATE,
    };
    struct model_meta meta;
    char err[200], why[160] = "";
    void *blob = NULL;
    size_t bloblen;
    uint64_t version;
    int rc = -1;

    if (watch_poll_once(st, NULL, &live) < 0)
        live = NULL;
    if (live != NULL)
        snprintf(rep->old_id, sizeof(rep->old_id), "%s", model_id(live));
    if ((prof = trainer_candidate(set)) == NULL) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "no symbol fired in %d or more examples",
                 TRAINER_MIN_SYMBOL);
        goto out;
    }
    if (live == NULL) {
        rep->new_profile = 1;
        rep->fresh = 1;
    } else if (trainer_rules_changed(set, model_profile(live), prof,
                                     c->profile_change, why, sizeof(why))) {
        log_info("trainer: new profile: %s", why);
        rep->new_profile = 1;
        rep->fresh = 1;
    } else {
        feat_profile_free(prof);
        prof = NULL;
        if (model_meta(live)->iterations >= (uint32_t)c->max_iterations)
            rep->fresh = 1;
    }
    if (rep->fresh) {
        if (prof == NULL)
            prof = trainer_profile_copy(model_profile(live));
        ni = feat_ninputs(prof);
        nhidden = cfg_hidden_layers(c, ni, hidden);
        /* Seeded by the data, so the same examples give the same network:
         * a site can reproduce a training, and tests are not flaky. */
        seed = util_hash64(feat_profile_digest(prof), FEAT_DIGEST_LEN,
                           UTIL_HASH64_INIT);
        seed = util_hash64(&set->n, sizeof(set->n), seed);
        m = model_new(prof, hidden, nhidden, (uint32_t)(seed ^ (seed >> 32)));
        prof = NULL;
        /* Autolearned examples hide the upstream-score input (see
         * trainer_vectors()): with only those, its random initial weights
         * would never be trained yet move every score. */
        if (m != NULL)
            model_input_mute(m, ni - FEAT_NMETA);
    } else {
        m = model_copy(live);
    }
    if (m == NULL) {
        snprintf(rep->reason, sizeof(rep->reason), "libfann failed");
        goto out;
    }
    rep->nsym = feat_profile_nsym(model_profile(m));
    trainer_split(set, c->holdout);
    opts.seed = seed ? seed : util_hash64(&set->n, sizeof(set->n),
                                          UTIL_HASH64_INIT);
    n = trainer_vectors(set, model_profile(m), 0, 1, &x, &y);
    nv = trainer_vectors(set, model_profile(m), 1, 0, &vx, &vy);
    if (model_train(m, x, y, n, vx, vy, nv, &opts, err, sizeof(err)) != 0) {
        snprintf(rep->reason, sizeof(rep->reason), "training failed: %s", err);
        goto out;
    }
    rep->trained = 1;
    meta = *model_meta(m);
    meta.trained_at = (int64_t)time(NULL);
    meta.n_spam = meta.n_ham = meta.n_val_spam = meta.n_val_ham = 0;
    meta.n_explicit = 0;
    for (size_t i = 0; i < set->n; i++) {
        uint32_t *cnt = set->held[i]
                            ? (set->ex[i].spam ? &meta.n_val_spam
                                               : &meta.n_val_ham)
                            : (set->ex[i].spam ? &meta.n_spam : &meta.n_ham);
        (*cnt)++;
        meta.n_explicit += set->ex[i].explicit_ != 0;
    }
    meta.iterations = rep->fresh ? 1 : model_meta(live)->iterations + 1;
    model_set_meta(m, &meta);
    rep->meta = meta;
    rep->auc_new = meta.val_auc;
    rep->auc_old = -1;
    if (live != NULL) {
        float *lx, *ly;
        size_t ln = trainer_vectors(set, model_profile(live), 1, 0, &lx, &ly);
        double mse;

        if (model_evaluate(live, lx, ly, ln, &rep->auc_old, &mse) != 0)
            rep->auc_old = -1;
        free(lx);
        free(ly);
    }
    if (trainer_degenerate(m, nv ? vx : x, nv ? nv : n)) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "not published: the network gives every held-back "
                 "example the same class");
        rc = 0;
        goto out;
    }
    if (rep->auc_old >= 0 && rep->auc_new < rep->auc_old) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "not published: held-back AUC %.4f is worse than the live "
                 "model's %.4f", rep->auc_new, rep->auc_old);
        rc = 0;
        goto out;
    }
    /* The lock may have expired during the training (a renewal that
     * failed) and another trainer may hold it now: publish only while it
     * is ours, renewed so that it cannot expire before the publish. */
    switch (store_lock_renew(st, token, c->lock_ttl_ms)) {
    case 1:
        break;
    case 0:
        snprintf(rep->reason, sizeof(rep->reason),
                 "not published: the training lock was lost");
        rc = 0;
        goto out;
    default:
        snprintf(rep->reason, sizeof(rep->reason),
                 "cannot publish: Redis is unreachable");
        goto out;
    }
    if (model_to_blob(m, &blob, &bloblen, err, sizeof(err)) != 0 ||
        store_model_publish(st, feat_profile_digest(model_profile(m)), blob,
                            bloblen, &version) != 0) {
        snprintf(rep->reason, sizeof(rep->reason), "cannot publish: %s",
                 blob ? "Redis write failed" : err);
        goto out;
    }
    model_set_version(m, version);
    rep->published = 1;
    snprintf(rep->model_id, sizeof(rep->model_id), "%s", model_id(m));
    snprintf(rep->reason, sizeof(rep->reason), "published%s%s",
             rep->new_profile ? " for a new profile" : "",
             rep->fresh && !rep->new_profile ? " (fresh network)" : "");
    /* The old profile's model stays for the grace period, so instances
     * that have not switched yet keep a model they can fetch. */
    if (live != NULL && rep->new_profile &&
        strcmp(feat_profile_digest(model_profile(live)),
               feat_profile_digest(model_profile(m))) != 0 &&
        store_model_expire(st, feat_profile_digest(model_profile(live)),
                           c->profile_grace_ms / 1000) != 0)
        log_warnx("trainer: cannot set the old model's expiry");
    rc = 0;
out:
    free(blob);
    free(x);
    free(y);
    free(vx);
    free(vy);
    feat_profile_free(prof);
    model_release(m);
    model_release(live);
    return rc;
}

/* trainer_record - the outcome line kept in Redis for `status` */
static void
trainer_record(struct store *st, const char *token,
               const struct trainer_report *rep)
{
    char line[768], when[32];
    time_t now = time(NULL);
    struct tm tm;

    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    snprintf(line, sizeof(line),
             "%s by %s: %s; model=%s; auc_new=%.4f; auc_old=%.4f; spam=%ld; "
             "ham=%ld; fresh=%d; new_profile=%d; seconds=%.1f",
             when, token, rep->reason,
             rep->model_id[0] ? rep->model_id : "none", rep->auc_new,
             rep->auc_old, rep->nspam, rep->nham, rep->fresh,
             rep->new_profile, rep->seconds);
    if (store_train_outcome_set(st, line) != 0)
        log_warnx("trainer: cannot record the outcome in Redis");
}

/* trainer_run - one run, start to finish */
int
trainer_run(struct store *st, const struct cfg *c, int force,
            const char *token, struct trainer_report *rep)
{
    struct trainer_set set = { 0 };
    struct trainer_renew rn = { .st = st, .token = token };
    pthread_t renewer;
    double t0 = trainer_now();
    int due, rc;

    memset(rep, 0, sizeof(*rep));
    rep->auc_old = -1;
    due = trainer_due(st, c, &rep->nspam, &rep->nham, &rep->nnew);
    if (due < 0) {
        snprintf(rep->reason, sizeof(rep->reason), "Redis is unreachable");
        return -1;
    }
    if (!due && !force) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "not due: %ld spam, %ld ham, %ld new (need %ld of each "
                 "class and %ld new)", rep->nspam, rep->nham, rep->nnew,
                 c->min_class, c->threshold);
        return 0;
    }
    if (rep->nspam < 1 || rep->nham < 1) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "need examples of both classes: %ld spam, %ld ham",
                 rep->nspam, rep->nham);
        return 0;
    }
    switch (store_lock_acquire(st, token, c->lock_ttl_ms)) {
    case 1:
        break;
    case 0: {
        char owner[256] = "?";
        long ttl;

        (void)store_lock_owner(st, owner, sizeof(owner), &ttl);
        snprintf(rep->reason, sizeof(rep->reason),
                 "another trainer holds the lock: %s", owner);
        return 0;
    }
    default:
        snprintf(rep->reason, sizeof(rep->reason), "Redis is unreachable");
        return -1;
    }
    rn.ttl_ms = c->lock_ttl_ms;
    pthread_mutex_init(&rn.mu, NULL);
    if (util_cond_init(&rn.cv) != 0)
        panic("trainer: cannot make a condition variable");
    if (pthread_create(&renewer, NULL, trainer_renew_main, &rn) != 0)
        panic("trainer: cannot start the lock renewer");

    if (trainer_fetch(st, 1, &set) != 0 || trainer_fetch(st, 0, &set) != 0) {
        snprintf(rep->reason, sizeof(rep->reason),
                 "cannot read the examples from Redis");
        rc = -1;
    } else {
        rc = trainer_train(st, c, token, &set, rep);
    }
    rep->seconds = trainer_now() - t0;

    pthread_mutex_lock(&rn.mu);
    rn.stop = 1;
    pthread_cond_signal(&rn.cv);
    pthread_mutex_unlock(&rn.mu);
    pthread_join(renewer, NULL);
    pthread_mutex_destroy(&rn.mu);
    pthread_cond_destroy(&rn.cv);

    /* The new examples counted at the start are used up; those that
     * arrived while training count towards the next run. */
    if (rep->trained && store_new_consume(st, rep->nnew) != 0)
        log_warnx("trainer: cannot reset the new-example counter");
    trainer_record(st, token, rep);
    if (store_lock_release(st, token) != 1)
        log_warnx("trainer: the lock was no longer ours at release");
    log_info("trainer: %s; model=%s; held-back AUC new %.4f, live %.4f; "
             "%ld spam + %ld ham stored; %zu symbols; %.1f s",
             rep->reason, rep->model_id[0] ? rep->model_id : "none",
             rep->auc_new, rep->auc_old, rep->nspam, rep->nham, rep->nsym,
             rep->seconds);
    if (set.nbad > 0)
        log_warnx("trainer: %zu stored examples did not decode", set.nbad);
    trainer_set_free(&set);
    return rc;
}

struct trainer {
    pthread_t thread;
    struct store *st;        /* this thread's own connections */
    char token[256];
    /* the example counts when a training was not published: the same
     * data would give the same verdict, so wait for new examples */
    long rejected_at[3];     /* this thread only */
    /* stop request: guarded by mu, signalled through cv */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
};

/* trainer_tick - one check of the thread */
static void
trainer_tick(struct trainer *t, const struct cfg *c)
{
    struct trainer_report rep;
    long n[3];

    if (t->rejected_at[0] + t->rejected_at[1] > 0 &&
        store_example_counts(t->st, &n[0], &n[1], &n[2]) == 0 &&
        memcmp(n, t->rejected_at, sizeof(n)) == 0) {
        log_debug("trainer: no new examples since the last network was "
                  "not published");
        return;
    }
    if (trainer_run(t->st, c, 0, t->token, &rep) != 0)
        return;
    if (!rep.trained)
        log_debug("trainer: %s", rep.reason);
    if (rep.trained && !rep.published &&
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
    /* Training must not slow scoring: the lowest CPU priority for this
     * thread only (Linux applies nice per thread id), and SCHED_IDLE on
     * top, which the kernel preempts for any woken milter thread. On a
     * 2-CPU VM neither removes the cost a busy trainer puts on a single
     * connection's tail (about 1.2x p99, BENCHMARKS.md): caches and the
     * wake-ups are shared whatever the priority. */
    if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) != 0)
        log_warn("trainer: cannot lower the priority");
#ifdef SCHED_IDLE
    {
        struct sched_param sp = { .sched_priority = 0 };
        int rc = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);

        if (rc != 0)
            log_warnx("trainer: cannot switch to SCHED_IDLE: %s",
                      strerror(rc));
    }
#endif
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
trainer_start(const struct cfg *c, char *err, size_t errlen)
{
    struct trainer *t = xcalloc(1, sizeof(*t));
    int rc;

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

/* trainer_stop - stop and join */
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
