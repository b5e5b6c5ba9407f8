/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer_job - one training, store -> examples -> vectors -> model ->
 * store, with the lock held by the caller's token:
 *   1. the examples of both classes (bounded: max_examples per class,
 *      records up to EXAMPLE_MAX_BLOB), decoded
 *   2. the live model, read from the write servers: it must be the one
 *      the caller decided on; a failure to read it ends the job
 *   3. the profile: the live one, or a new one built from the examples
 *      when the scanner's rules changed (symbols the profile lacks fire
 *      in a share of recent mail, or common profile symbols stopped);
 *      the live network continued, or a fresh one after max_iterations
 *   4. held-back split by a hash of each record (an example stays on its
 *      side across trainings), classes balanced by oversampling, early
 *      stopping on the held-back examples (cancellable each epoch)
 *   5. publish only when not worse than the live model on the same
 *      held-back examples, never a degenerate (one-class) network, and
 *      only while the lock and the live model are unchanged
 * Runs in the training process of the daemon, or in the admin tool.
 */
#include "config.h"
#include "trainer.h"
#include "trainer_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* trainer_ignore - leave out of ex what [model] ignore_symbols names:
 * records keep every symbol (the list may change), the profile, the
 * vectors and the profile-change test see only the rest */
static void
trainer_ignore(const struct cfg *c, struct example *ex)
{
    struct hdr_result kept;

    if (feat_result_ignore(&kept, &ex->res, c) == 0) {
        free(kept.sym);
        return;
    }
    hdr_result_free(&ex->res);
    ex->res = kept;
}

/* trainer_fetch - decode one class into set: at most max_examples of
 * its newest records, each at most EXAMPLE_MAX_BLOB bytes */
static int
trainer_fetch(struct store *st, const struct cfg *c, int spam,
              struct trainer_set *set)
{
    struct store_blob *blobs;
    size_t n, refused;
    char err[128];

    if (store_examples_fetch(st, spam, (size_t)c->max_examples,
                             EXAMPLE_MAX_BLOB, &blobs, &n, &refused) != 0)
        return -1;
    if (refused > 0)
        log_warnx("trainer: %zu stored %s records over %u bytes skipped",
                  refused, spam ? "spam" : "ham", EXAMPLE_MAX_BLOB);
    set->nbad += refused;
    if (set->n + n > set->cap) {
        set->cap = set->n + n;
        set->ex = xreallocarray(set->ex, set->cap + 1, sizeof(*set->ex));
        set->held = xreallocarray(set->held, set->cap + 1, 1);
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
        trainer_ignore(c, ex);
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

/* What trainer_split() orders the examples by. */
struct trainer_order {
    const uint64_t *h;          /* content hash of each example */
    const struct example *ex;
};

/* trainer_order_cmp - by content hash, then copies of one content by
 * kind and age, so every copy has a rank that new copies do not change */
static int
trainer_order_cmp(const void *a, const void *b, void *arg)
{
    const struct trainer_order *o = arg;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;

    if (o->h[i] != o->h[j])
        return (o->h[i] > o->h[j]) - (o->h[i] < o->h[j]);
    if (o->ex[i].explicit_ != o->ex[j].explicit_)
        return o->ex[i].explicit_ - o->ex[j].explicit_;
    if (o->ex[i].time != o->ex[j].time)
        return (o->ex[i].time > o->ex[j].time) -
               (o->ex[i].time < o->ex[j].time);
    return (i > j) - (i < j);
}

/*
 * trainer_split - hold back share of each class. Each example is held
 * back when a hash of its content and its rank among the copies of that
 * content falls below share, so an example stays on its side across
 * trainings (the live model and a new one are compared on examples
 * neither trained on), and a verdict that many messages share is split
 * like the rest: taking such copies all to one side made 249 of the 292
 * held-back ham of the SpamAssassin corpus one header ("2.4
 * HEADER_FROM_DIFFERENT_DOMAINS MAILING_LIST_MULTI RDNS_NONE"), a
 * held-back set nothing can be fitted on. Each class of two or more
 * examples keeps at least one on each side.
 */
static void
trainer_split(struct trainer_set *set, double share)
{
    uint64_t *h = xreallocarray(NULL, set->n + 1, sizeof(*h));
    size_t *idx = xreallocarray(NULL, set->n + 1, sizeof(*idx));
    struct trainer_order o = { h, set->ex };
    struct example *sorted;
    uint64_t *hs, cut;
    size_t nheld[2] = { 0, 0 }, first[2] = { SIZE_MAX, SIZE_MAX };

    /* The content alone (not the time it was queued): the same messages
     * give the same split. */
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
    /* Put the examples in that order too, so the order they arrived in
     * (queue timing) does not change the network either. */
    qsort_r(idx, set->n, sizeof(*idx), trainer_order_cmp, &o);
    sorted = xreallocarray(NULL, set->n + 1, sizeof(*sorted));
    hs = xreallocarray(NULL, set->n + 1, sizeof(*hs));
    for (size_t i = 0; i < set->n; i++) {
        sorted[i] = set->ex[idx[i]];
        hs[i] = h[idx[i]];
    }
    memcpy(set->ex, sorted, set->n * sizeof(*sorted));
    memcpy(h, hs, set->n * sizeof(*hs));
    free(sorted);
    free(hs);

    cut = (uint64_t)(share * 18446744073709551616.0); /* share * 2^64 */
    for (size_t i = 0, rank = 0; i < set->n; i++) {
        int spam = set->ex[i].spam != 0;

        rank = i > 0 && h[i] == h[i - 1] ? rank + 1 : 0;
        set->held[i] = trainer_mix(h[i] ^ (rank * 0x9e3779b97f4a7c15ULL)) <
                       cut;
        nheld[spam] += set->held[i];
        if (first[spam] == SIZE_MAX)
            first[spam] = i;
    }
    for (int spam = 0; spam <= 1; spam++) {
        size_t n = 0;

        for (size_t i = 0; i < set->n; i++)
            n += (set->ex[i].spam != 0) == spam;
        /* at least one on each side (share is at most 0.5) */
        if (n >= 2 && (nheld[spam] == 0 || nheld[spam] == n))
            set->held[first[spam]] = nheld[spam] == 0;
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

/* One symbol of the candidate profile and how many examples fire it. */
struct trainer_sym {
    const char *name;
    size_t count;
};

/* trainer_count_cmp - most frequent first, then by name */
static int
trainer_count_cmp(const void *a, const void *b)
{
    const struct trainer_sym *x = a, *y = b;

    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return strcmp(x->name, y->name);
}

/* trainer_candidate - a profile of every symbol that fired in at least
 * TRAINER_MIN_SYMBOL examples; the FEAT_MAX_SYMBOLS most frequent when
 * there are more */
static struct feat_profile *
trainer_candidate(const struct trainer_set *set)
{
    const char **all = NULL, **names;
    struct trainer_sym *keep;
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
            keep[nkeep++] = (struct trainer_sym){ all[i], j - i };
        i = j;
    }
    if (nkeep > FEAT_MAX_SYMBOLS) {
        log_info("trainer: %zu symbols fired in %d or more examples; the "
                 "%d most frequent make the profile", nkeep,
                 TRAINER_MIN_SYMBOL, FEAT_MAX_SYMBOLS);
        qsort(keep, nkeep, sizeof(*keep), trainer_count_cmp);
        nkeep = FEAT_MAX_SYMBOLS;
    }
    names = xreallocarray(NULL, nkeep + 1, sizeof(*names));
    for (size_t i = 0; i < nkeep; i++)
        names[i] = keep[i].name;
    /* Scores are an input channel only when most examples carry them. */
    p = feat_profile_new(names, nkeep, with_scores * 2 > set->n);
    free(all);
    free(keep);
    free(names);
    return p;
}

/* trainer_ignored_inputs - symbols of prof that [model] ignore_symbols
 * leaves out now (the list changed since prof was built) */
static size_t
trainer_ignored_inputs(const struct feat_profile *prof, const struct cfg *c)
{
    size_t n = 0;

    for (size_t i = 0; i < feat_profile_nsym(prof); i++)
        n += cfg_symbol_ignored(c, feat_profile_name(prof, i)) != 0;
    return n;
}

/* trainer_rules_changed - compare the live profile with recent mail;
 * fills why and returns 1 when a new profile is needed */
static int
trainer_rules_changed(const struct trainer_set *set, const struct cfg *c,
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
    if ((gone = trainer_ignored_inputs(live, c)) > 0) {
        snprintf(why, whylen, "%zu profile symbols are in [model] "
                 "ignore_symbols now", gone);
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

/* One job's state, freed by trainer_work_free(). */
struct trainer_work {
    const struct cfg *c;
    struct trainer_set set;
    struct model *live;      /* the live model, or NULL */
    struct model *m;         /* the network being trained */
    struct feat_profile *prof; /* a new profile, until m takes it */
    float *x, *y, *vx, *vy;  /* training and held-back rows */
    size_t n, nv;
    uint64_t seed;
};

/* trainer_work_free - release a job's state */
static void
trainer_work_free(struct trainer_work *w)
{
    trainer_set_free(&w->set);
    model_release(w->live);
    model_release(w->m);
    feat_profile_free(w->prof);
    free(w->x);
    free(w->y);
    free(w->vx);
    free(w->vy);
}

/* trainer_classes - both classes among what decoded */
static enum trainer_outcome
trainer_classes(const struct trainer_set *set, struct trainer_report *rep)
{
    size_t ns = 0;

    for (size_t i = 0; i < set->n; i++)
        ns += set->ex[i].spam != 0;
    if (ns == 0 || ns == set->n)
        return trainer_set_reason(rep, TRAINER_NO_DATA, "not trained: %zu "
                                  "spam and %zu ham records decode (%zu did "
                                  "not)", ns, set->n - ns, set->nbad);
    return TRAINER_DUE;
}

/* trainer_read_live - step 2: the live model from the write servers,
 * which must be the one the caller saw */
static enum trainer_outcome
trainer_read_live(struct store *st, const struct trainer_live *live,
                  struct trainer_work *w, struct trainer_report *rep)
{
    switch (watch_poll_once(st, STORE_VIA_WRITE, NULL, &w->live)) {
    case WATCH_LOADED:
        snprintf(rep->old_id, sizeof(rep->old_id), "%s", model_id(w->live));
        if (!live->have ||
            strcmp(live->digest,
                   feat_profile_digest(model_profile(w->live))) != 0 ||
            live->version != model_version(w->live))
            return trainer_set_reason(rep, TRAINER_LIVE_CHANGED, "not trained: "
                               "the live model is now %s",
                               model_id(w->live));
        return TRAINER_DUE;
    case WATCH_NONE:
        if (live->have)
            return trainer_set_reason(rep, TRAINER_LIVE_CHANGED, "not trained: "
                               "the live model %s.%" PRIu64 " is gone",
                               live->digest, live->version);
        return TRAINER_DUE;
    case WATCH_SAME:
    case WATCH_OLDER:
    case WATCH_REJECTED:
    case WATCH_ERR:
        break;
    }
    return trainer_set_reason(rep, TRAINER_REDIS, "not trained: the live model "
                       "cannot be read (Redis unreachable, or its blob is "
                       "refused), and a network is only published after "
                       "a comparison with it");
}

/* trainer_pick - step 3: the profile, and the network to train: the
 * live one continued, or a fresh one (new profile, no model, or
 * max_iterations reached) */
static enum trainer_outcome
trainer_pick(struct trainer_work *w, struct trainer_report *rep)
{
    const struct cfg *c = w->c;
    char why[160] = "";
    unsigned hidden[2];
    size_t ni, nhidden;

    if ((w->prof = trainer_candidate(&w->set)) == NULL)
        return trainer_set_reason(rep, TRAINER_NO_DATA, "no symbol fired in %d or "
                           "more examples", TRAINER_MIN_SYMBOL);
    if (w->live == NULL) {
        rep->new_profile = rep->fresh = 1;
    } else if (trainer_rules_changed(&w->set, c, model_profile(w->live),
                                     w->prof, c->profile_change, why,
                                     sizeof(why))) {
        log_info("trainer: new profile: %s", why);
        rep->new_profile = rep->fresh = 1;
    } else {
        feat_profile_free(w->prof);
        w->prof = NULL;
        rep->fresh = model_meta(w->live)->iterations >=
                     (uint32_t)c->max_iterations;
    }
    if (!rep->fresh) {
        w->m = model_copy(w->live);
    } else {
        if (w->prof == NULL)
            w->prof = trainer_profile_copy(model_profile(w->live));
        ni = feat_ninputs(w->prof);
        nhidden = cfg_hidden_layers(c, ni, hidden);
        /* Seeded by the data, so the same examples give the same network:
         * a site can reproduce a training, and tests are not flaky. */
        w->seed = util_hash64(feat_profile_digest(w->prof), FEAT_DIGEST_LEN,
                              UTIL_HASH64_INIT);
        w->seed = util_hash64(&w->set.n, sizeof(w->set.n), w->seed);
        w->m = model_new(w->prof, hidden, nhidden,
                         (uint32_t)(w->seed ^ (w->seed >> 32)));
        w->prof = NULL; /* model_new() took it */
        /* Autolearned examples hide the upstream-score input (see
         * trainer_vectors()): with only those, its random initial weights
         * would never be trained yet move every score. */
        if (w->m != NULL)
            model_input_mute(w->m, ni - FEAT_NMETA);
    }
    if (w->m == NULL)
        return trainer_set_reason(rep, TRAINER_FAILED, "libfann failed");
    rep->nsym = feat_profile_nsym(model_profile(w->m));
    return TRAINER_DUE;
}

/*
 * trainer_map - step 4b: the mapping from p to the adjustment, fitted on
 * the held-back explicit verdicts, each scored as the milter would score
 * it (its own vector, whatever form the training rows take). Autolearned
 * labels come from the upstream's own score, so they cannot tell how far
 * to trust the network over it: without MODEL_MAP_MIN_CLASS explicit
 * verdicts of each class held back the threshold ramps stay.
 */
static void
trainer_map(struct trainer_work *w, struct model_meta *meta)
{
    const struct feat_profile *prof = model_profile(w->m);
    size_t ni = feat_ninputs(prof), n = 0, nthr = 0;
    float *row = xreallocarray(NULL, ni, sizeof(*row));
    double *p = xreallocarray(NULL, w->set.n + 1, sizeof(*p));
    double *u = xreallocarray(NULL, w->set.n + 1, sizeof(*u));
    unsigned char *lab = xreallocarray(NULL, w->set.n + 1, 1);
    double thr[MODEL_MAP_MAX_THR], site[CFG_THRESHOLDS_MAX];
    size_t nsite = cfg_thresholds(w->c, site);
    char desc[512];

    _Static_assert(MODEL_MAP_MAX_THR >= CFG_THRESHOLDS_MAX + 1,
                   "the header's required score and [score] thresholds");
    for (size_t i = 0; i < w->set.n; i++) {
        const struct example *ex = &w->set.ex[i];

        if (!w->set.held[i] || !ex->explicit_ ||
            feat_vector(prof, &ex->res, row, ni, NULL) != 0 ||
            model_score(w->m, row, ni, &p[n]) != 0)
            continue;
        u[n] = ex->res.score;
        lab[n++] = ex->spam != 0;
        /* the scanner's own threshold: the first one seen */
        if (nthr == 0 && ex->res.required > 0)
            thr[nthr++] = ex->res.required;
    }
    for (size_t k = 0; k < nsite; k++)
        thr[nthr++] = site[k];
    if (model_map_fit(p, u, lab, n, thr, nthr, w->c->spam_weight,
                      w->c->ham_weight, &meta->map) == 0)
        log_info("trainer: adjustment %s",
                 model_map_describe(&meta->map, desc, sizeof(desc)));
    else
        log_info("trainer: adjustment by the threshold ramps: %u spam + %u "
                 "ham explicit verdicts held back (a fit needs %d of each)%s",
                 meta->map.n_spam, meta->map.n_ham, MODEL_MAP_MIN_CLASS,
                 meta->map.n_spam >= MODEL_MAP_MIN_CLASS &&
                         meta->map.n_ham >= MODEL_MAP_MIN_CLASS
                     ? ", and no fitted mapping keeps the thresholds"
                     : "");
    free(row);
    free(p);
    free(u);
    free(lab);
}

/* trainer_fit - step 4: split, vectors, training, the meta */
static enum trainer_outcome
trainer_fit(struct trainer_work *w, int (*cancelled)(void *), void *arg,
            struct trainer_report *rep)
{
    const struct cfg *c = w->c;
    struct model_train_opts opts = {
        .max_epochs = (unsigned)c->max_epochs,
        .patience = TRAINER_PATIENCE,
        .target_fpr = c->target_fpr,
        .smoothing = TRAINER_SMOOTHING,
        .learning_rate = TRAINER_RATE,
        .cancelled = cancelled,
        .cancel_arg = arg,
    };
    struct model_meta meta;
    char err[200];

    trainer_split(&w->set, c->holdout);
    opts.seed = w->seed ? w->seed : util_hash64(&w->set.n, sizeof(w->set.n),
                                                UTIL_HASH64_INIT);
    w->n = trainer_vectors(&w->set, model_profile(w->m), 0, 1, &w->x, &w->y);
    w->nv = trainer_vectors(&w->set, model_profile(w->m), 1, 0, &w->vx,
                            &w->vy);
    log_info("trainer: training %s network of %zu inputs on %zu rows, %zu "
             "held back", rep->fresh ? "a fresh" : "the live",
             model_ninputs(w->m), w->n, w->nv);
    if (model_train(w->m, w->x, w->y, w->n, w->vx, w->vy, w->nv, &opts, err,
                    sizeof(err)) != 0)
        return cancelled != NULL && cancelled(arg)
                   ? trainer_set_reason(rep, TRAINER_CANCELLED, "cancelled")
                   : trainer_set_reason(rep, TRAINER_FAILED, "training failed: %s",
                                 err);
    rep->trained = 1;
    meta = *model_meta(w->m);
    meta.trained_at = (int64_t)time(NULL);
    meta.n_spam = meta.n_ham = meta.n_val_spam = meta.n_val_ham = 0;
    meta.n_explicit = 0;
    for (size_t i = 0; i < w->set.n; i++) {
        const struct example *ex = &w->set.ex[i];
        uint32_t *cnt = w->set.held[i]
                            ? (ex->spam ? &meta.n_val_spam : &meta.n_val_ham)
                            : (ex->spam ? &meta.n_spam : &meta.n_ham);

        (*cnt)++;
        meta.n_explicit += ex->explicit_ != 0;
    }
    meta.iterations = rep->fresh ? 1 : model_meta(w->live)->iterations + 1;
    trainer_map(w, &meta);
    model_set_meta(w->m, &meta);
    rep->meta = meta;
    rep->auc_new = meta.val_auc;
    return TRAINER_DUE;
}

/* trainer_judge - step 5a: degenerate, or worse than the live model on
 * the same held-back examples */
static enum trainer_outcome
trainer_judge(struct trainer_work *w, struct trainer_report *rep)
{
    rep->auc_old = -1;
    if (w->live != NULL) {
        float *lx, *ly;
        size_t ln = trainer_vectors(&w->set, model_profile(w->live), 1, 0,
                                    &lx, &ly);
        double mse;

        if (model_evaluate(w->live, lx, ly, ln, &rep->auc_old, &mse) != 0)
            rep->auc_old = -1;
        free(lx);
        free(ly);
    }
    if (trainer_degenerate(w->m, w->nv ? w->vx : w->x, w->nv ? w->nv : w->n))
        return trainer_set_reason(rep, TRAINER_DEGENERATE, "not published: the "
                           "network gives every held-back example the same "
                           "class");
    if (w->live != NULL && rep->auc_old < 0)
        return trainer_set_reason(rep, TRAINER_FAILED, "not published: the live "
                           "model cannot be evaluated");
    if (rep->auc_old >= 0 && rep->auc_new < rep->auc_old)
        return trainer_set_reason(rep, TRAINER_NOT_BETTER, "not published: "
                           "held-back AUC %.4f is worse than the live "
                           "model's %.4f", rep->auc_new, rep->auc_old);
    return TRAINER_DUE;
}

/* trainer_publish - step 5b: guarded by the lock and the live model */
static enum trainer_outcome
trainer_publish(struct store *st, const char *token,
                const struct trainer_live *live, struct trainer_work *w,
                struct trainer_report *rep)
{
    const char *digest = feat_profile_digest(model_profile(w->m));
    struct store_guard g = { token, live->have ? live->digest : NULL,
                             live->version };
    char err[200];
    void *blob;
    size_t len;
    uint64_t version;
    enum store_status s;

    if (model_to_blob(w->m, &blob, &len, err, sizeof(err)) != 0)
        return trainer_set_reason(rep, TRAINER_FAILED, "cannot publish: %s", err);
    s = store_model_publish(st, digest, blob, len, &g, &version);
    free(blob);
    switch (s) {
    case STORE_OK:
        break;
    case STORE_NOT_OURS:
        return trainer_set_reason(rep, TRAINER_LOCK_LOST, "not published: the "
                           "training lock was lost");
    case STORE_CONFLICT:
        return trainer_set_reason(rep, TRAINER_LIVE_CHANGED, "not published: the "
                           "live model changed during the training");
    case STORE_ABSENT:
    case STORE_ERR:
        return trainer_set_reason(rep, TRAINER_REDIS, "cannot publish: Redis "
                           "write failed");
    }
    model_set_version(w->m, version);
    rep->published = 1;
    snprintf(rep->model_id, sizeof(rep->model_id), "%s", model_id(w->m));
    /* The old profile's model stays for the grace period, so instances
     * that have not switched yet keep a model they can fetch. */
    if (w->live != NULL && rep->new_profile &&
        strcmp(feat_profile_digest(model_profile(w->live)), digest) != 0 &&
        store_model_expire(st, feat_profile_digest(model_profile(w->live)),
                           w->c->profile_grace_ms / 1000) != 0)
        log_warnx("trainer: cannot set the old model's expiry");
    return trainer_set_reason(rep, TRAINER_PUBLISHED, "published%s%s",
                       rep->new_profile ? " for a new profile" : "",
                       rep->fresh && !rep->new_profile ? " (fresh network)"
                                                       : "");
}

/* trainer_job - steps 1 to 5 */
enum trainer_outcome
trainer_job(struct store *st, const struct cfg *c, const char *token,
            const struct trainer_live *live, int (*cancelled)(void *),
            void *arg, struct trainer_report *rep)
{
    struct trainer_work w = { .c = c };
    enum trainer_outcome o;

    rep->auc_old = -1;
    if (trainer_fetch(st, c, 1, &w.set) != 0 ||
        trainer_fetch(st, c, 0, &w.set) != 0)
        o = trainer_set_reason(rep, TRAINER_REDIS, "cannot read the examples from "
                        "Redis");
    else if ((o = trainer_classes(&w.set, rep)) == TRAINER_DUE &&
             (o = trainer_read_live(st, live, &w, rep)) == TRAINER_DUE &&
             (o = trainer_pick(&w, rep)) == TRAINER_DUE &&
             (o = trainer_fit(&w, cancelled, arg, rep)) == TRAINER_DUE &&
             (o = trainer_judge(&w, rep)) == TRAINER_DUE)
        o = trainer_publish(st, token, live, &w, rep);
    rep->nbad = w.set.nbad;
    if (w.set.nbad > 0)
        log_warnx("trainer: %zu stored examples did not decode",
                  w.set.nbad);
    trainer_work_free(&w);
    return o;
}
