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

/* The symbol names of one run, each kept once; an open-addressing table
 * of their hashes, at most half full, finds them. */
struct trainer_names {
    char **name;             /* n names, each malloc'd */
    uint64_t *hash;          /* n */
    uint32_t *slot;          /* nslot: a name's id + 1, 0 free */
    size_t n, cap, nslot;
};

/*
 * One example, compact: its symbols are ids into the run's names, with
 * their scores, in the set's shared arrays. A decoded record holds each
 * name in a 129-byte array; 40,000 examples of 20 symbols took 115 MB
 * that way, against 12 bytes a symbol here.
 */
struct trainer_ex {
    uint64_t hash;           /* of its content: the split and the order */
    int64_t time;            /* when it was queued */
    double score, required;
    size_t sym;              /* first of its symbols in sid[] and ssc[] */
    uint32_t nsym;
    unsigned char spam, explicit_, has_scores;
    unsigned char source;    /* enum example_source */
};

/* The examples of one run. */
struct trainer_set {
    struct trainer_ex *ex;
    unsigned char *held;     /* 1 = held back for validation */
    size_t n, cap;
    uint32_t *sid;           /* every example's symbols: name ids */
    double *ssc;             /* ... and their scores */
    size_t nsid, sidcap;
    struct trainer_names names;
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

/* trainer_name_id - the id of name in the run's table, added if new */
static uint32_t
trainer_name_id(struct trainer_names *t, const char *name)
{
    size_t len = strlen(name);
    uint64_t h = util_hash64(name, len, UTIL_HASH64_INIT);
    size_t k;

    if (2 * (t->n + 1) > t->nslot) {
        size_t ns = t->nslot ? 2 * t->nslot : 1024;

        free(t->slot);
        t->slot = xcalloc(ns, sizeof(*t->slot));
        t->nslot = ns;
        for (size_t i = 0; i < t->n; i++) {
            for (k = util_mix64(t->hash[i]) & (ns - 1); t->slot[k] != 0;
                 k = (k + 1) & (ns - 1))
                ;
            t->slot[k] = (uint32_t)i + 1;
        }
    }
    for (k = util_mix64(h) & (t->nslot - 1); t->slot[k] != 0;
         k = (k + 1) & (t->nslot - 1)) {
        uint32_t id = t->slot[k] - 1;

        if (t->hash[id] == h && strcmp(t->name[id], name) == 0)
            return id;
    }
    if (t->n == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 256;
        t->name = xreallocarray(t->name, t->cap, sizeof(*t->name));
        t->hash = xreallocarray(t->hash, t->cap, sizeof(*t->hash));
    }
    t->name[t->n] = xstrndup(name, len);
    t->hash[t->n] = h;
    t->slot[k] = (uint32_t)t->n + 1;
    return (uint32_t)t->n++;
}

/* trainer_content_hash - the hash of an example's content (not the time
 * it was queued): the same messages give the same split, and copies of
 * one message stay together */
static uint64_t
trainer_content_hash(const struct example *ex)
{
    const struct hdr_result *r = &ex->res;
    uint64_t v = util_hash64(&ex->spam, sizeof(ex->spam), UTIL_HASH64_INIT);

    for (size_t k = 0; k < r->nsym; k++)
        v = util_hash64(r->sym[k].name, hdr_symbol_len(&r->sym[k]), v);
    v = util_hash64(&r->score, sizeof(r->score), v);
    return util_mix64(v);
}

/* trainer_set_add - keep a decoded example in compact form */
static void
trainer_set_add(struct trainer_set *set, const struct example *ex)
{
    const struct hdr_result *r = &ex->res;
    struct trainer_ex *e;

    if (set->n == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 1024;
        set->ex = xreallocarray(set->ex, set->cap, sizeof(*set->ex));
        set->held = xreallocarray(set->held, set->cap, 1);
    }
    if (r->nsym > set->sidcap - set->nsid) {
        while (r->nsym > set->sidcap - set->nsid)
            set->sidcap = set->sidcap ? 2 * set->sidcap : 16384;
        set->sid = xreallocarray(set->sid, set->sidcap, sizeof(*set->sid));
        set->ssc = xreallocarray(set->ssc, set->sidcap, sizeof(*set->ssc));
    }
    e = &set->ex[set->n];
    e->hash = trainer_content_hash(ex);
    e->time = ex->time;
    e->score = r->score;
    e->required = r->required;
    e->sym = set->nsid;
    e->nsym = (uint32_t)r->nsym; /* a record holds at most 65535 */
    e->spam = ex->spam != 0;
    e->explicit_ = ex->explicit_ != 0;
    e->source = (unsigned char)ex->source;
    e->has_scores = r->has_scores != 0;
    for (size_t k = 0; k < r->nsym; k++) {
        set->sid[set->nsid] = trainer_name_id(&set->names, r->sym[k].name);
        set->ssc[set->nsid] = r->sym[k].score;
        set->nsid++;
    }
    set->held[set->n++] = 0; /* trainer_split() decides */
}

/* trainer_fetch - decode one class into set: at most max_examples of
 * its newest records, each at most EXAMPLE_MAX_BLOB bytes; each record
 * is decoded, kept compact and freed at once */
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
    for (size_t i = 0; i < n; i++) {
        struct example ex;
        int bad = example_decode(blobs[i].data, blobs[i].len, &ex, err,
                                 sizeof(err)) != 0;

        /* It decoded, so err is unset: say what is wrong with it. */
        if (!bad && ex.spam != spam) {
            snprintf(err, sizeof(err), "a %s example in the %s list",
                     ex.spam ? "spam" : "ham", spam ? "spam" : "ham");
            bad = 1;
        }
        if (bad) {
            if (set->nbad++ == 0)
                log_warnx("trainer: skipping a stored example: %s", err);
        } else {
            trainer_ignore(c, &ex);
            trainer_set_add(set, &ex);
        }
        example_free(&ex);
        free(blobs[i].data);
        blobs[i].data = NULL;
    }
    store_blobs_free(blobs, n);
    return 0;
}

/* trainer_ex_cmp - by content hash, then copies of one content by kind
 * and age, so every copy has a rank that new copies do not change */
static int
trainer_ex_cmp(const void *a, const void *b)
{
    const struct trainer_ex *x = a, *y = b;

    if (x->hash != y->hash)
        return (x->hash > y->hash) - (x->hash < y->hash);
    if (x->explicit_ != y->explicit_)
        return x->explicit_ - y->explicit_;
    return (x->time > y->time) - (x->time < y->time);
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
    uint64_t cut = (uint64_t)(share * 18446744073709551616.0); /* * 2^64 */
    size_t nheld[2] = { 0, 0 }, first[2] = { SIZE_MAX, SIZE_MAX };

    /* Put the examples in that order, so the order they arrived in
     * (queue timing) does not change the network either. */
    qsort(set->ex, set->n, sizeof(*set->ex), trainer_ex_cmp);
    for (size_t i = 0, rank = 0; i < set->n; i++) {
        int spam = set->ex[i].spam != 0;

        rank = i > 0 && set->ex[i].hash == set->ex[i - 1].hash ? rank + 1 : 0;
        set->held[i] = util_mix64(set->ex[i].hash ^
                                   (rank * 0x9e3779b97f4a7c15ULL)) < cut;
        nheld[spam] += set->held[i];
        if (first[spam] == SIZE_MAX)
            first[spam] = i;
    }
    for (int spam = 0; spam <= 1; spam++) {
        size_t n = 0;

        for (size_t i = 0; i < set->n; i++)
            n += set->ex[i].spam == spam;
        /* at least one on each side (share is at most 0.5) */
        if (n >= 2 && (nheld[spam] == 0 || nheld[spam] == n))
            set->held[first[spam]] = nheld[spam] == 0;
    }
}

/* trainer_set_free - release a set */
static void
trainer_set_free(struct trainer_set *set)
{
    for (size_t i = 0; i < set->names.n; i++)
        free(set->names.name[i]);
    free(set->names.name);
    free(set->names.hash);
    free(set->names.slot);
    free(set->ex);
    free(set->held);
    free(set->sid);
    free(set->ssc);
    memset(set, 0, sizeof(*set));
}

/* A hdr_result view of one compact example, for feat_sparse(): the
 * symbols are copied into buf, which grows and is reused. */
struct trainer_view {
    struct hdr_result res;
    struct hdr_symbol *buf;
    size_t cap;
};

/* trainer_view_of - fill v with example i of set */
static const struct hdr_result *
trainer_view_of(struct trainer_view *v, const struct trainer_set *set,
                size_t i)
{
    const struct trainer_ex *e = &set->ex[i];

    if (e->nsym > v->cap) {
        v->cap = e->nsym;
        v->buf = xreallocarray(v->buf, v->cap, sizeof(*v->buf));
    }
    for (size_t k = 0; k < e->nsym; k++) {
        const char *name = set->names.name[set->sid[e->sym + k]];
        size_t len = strlen(name);

        memcpy(v->buf[k].name, name, len + 1);
        v->buf[k].score = set->ssc[e->sym + k];
        v->buf[k].len = (uint8_t)len; /* buf is not zeroed */
    }
    memset(&v->res, 0, sizeof(v->res));
    v->res.upstream = HDR_UPSTREAM_NONE; /* feat reads none of the rest */
    v->res.score = e->score;
    v->res.required = e->required;
    v->res.has_scores = e->has_scores;
    v->res.nsym = e->nsym;
    v->res.sym = v->buf;
    return &v->res;
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
    size_t nn = set->names.n, nkeep = 0, with_scores = 0;
    unsigned *count = xcalloc(nn + 1, sizeof(*count));
    struct trainer_sym *keep = xreallocarray(NULL, nn + 1, sizeof(*keep));
    const char **names;
    struct feat_profile *p;

    /* occurrences, as the names of every example counted one by one */
    for (size_t i = 0; i < set->nsid; i++)
        count[set->sid[i]]++;
    for (size_t i = 0; i < set->n; i++)
        with_scores += set->ex[i].has_scores;
    for (size_t id = 0; id < nn; id++)
        if (count[id] >= TRAINER_MIN_SYMBOL)
            keep[nkeep++] = (struct trainer_sym){ set->names.name[id],
                                                  count[id] };
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
    free(count);
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

/* trainer_example_time_cmp - newest first */
static int
trainer_time_cmp(const void *a, const void *b, void *arg)
{
    const struct trainer_ex *ex = arg;
    int64_t x = ex[*(const size_t *)a].time, y = ex[*(const size_t *)b].time;

    return (x < y) - (x > y);
}

/* trainer_profile_ids - each name id's index in p, or -1 */
static long *
trainer_profile_ids(const struct trainer_set *set, const struct feat_profile *p)
{
    long *idx = xreallocarray(NULL, set->names.n + 1, sizeof(*idx));

    for (size_t id = 0; id < set->names.n; id++)
        idx[id] = feat_profile_index(p, set->names.name[id]);
    return idx;
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
    long *in_live = trainer_profile_ids(set, live);
    long *in_cand = trainer_profile_ids(set, cand);
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
        const struct trainer_ex *e = &set->ex[order[i]];
        int has_new = 0;

        for (size_t k = 0; k < e->nsym; k++) {
            uint32_t id = set->sid[e->sym + k];
            long idx = in_live[id];

            if (idx >= 0) {
                all_count[idx]++;
                if (i < nrecent)
                    recent[idx] = 1;
            } else if (i < nrecent && in_cand[id] >= 0) {
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
    free(in_live);
    free(in_cand);
    return changed;
}

/* trainer_sees_score - whether an example may show the network the
 * upstream-score input: only when its label was not chosen by that
 * score, as an admin's labelled corpus (neural-milter-ctl learn) is not.
 * Autolearn's labels are the score's own rule; users report the
 * scanner's mistakes (spam under its threshold, ham over it), so shown
 * the score the network learns "a high score is ham": SpamAssassin
 * autolearn + 10% reports, network alone 39.3% of spam at 1% false
 * positives, 45.8% with it hidden; with 10% replies upstream + adjust
 * 80.0% -> 87.1% at 2% reports. Replies are ham only and spam traps spam
 * only. The upstream's score still counts: the adjustment is added to it. */
static int
trainer_sees_score(const struct trainer_ex *e)
{
    return e->source == EXAMPLE_SRC_ADMIN;
}

/* Sparse rows of one side of the split, with the arrays they point to. */
struct trainer_rows {
    struct model_rows r;
    struct feat_pair *pair;
    size_t *off;
    float *y;
    uint32_t *ex;            /* the balanced rows' examples, or NULL */
};

/* trainer_rows_free - release rows */
static void
trainer_rows_free(struct trainer_rows *tr)
{
    free(tr->pair);
    free(tr->off);
    free(tr->y);
    free(tr->ex);
    memset(tr, 0, sizeof(*tr));
}

/* trainer_rng - xorshift64's step */
static uint64_t
trainer_rng(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* trainer_oversample - the training rows of tr's n examples: each once,
 * then random examples of the smaller class until both classes have as
 * many rows */
static void
trainer_oversample(struct trainer_rows *tr)
{
    size_t n = tr->r.n, ns = 0, nh = 0, rows = 0, cap;
    uint64_t rng = 0x9e3779b97f4a7c15ULL;

    for (size_t r = 0; r < n; r++)
        *(tr->y[r] > 0.5f ? &ns : &nh) += 1;
    cap = 2 * (ns > nh ? ns : nh);
    if (ns == 0 || nh == 0)
        cap = ns + nh;
    if (cap > UINT32_MAX)
        panic("trainer: %zu rows overflow", cap);
    tr->ex = xreallocarray(NULL, cap + 1, sizeof(*tr->ex));
    for (size_t r = 0; r < n; r++)
        tr->ex[rows++] = (uint32_t)r;
    while (rows < cap) {
        int want_spam = ns < nh;
        size_t pick = (size_t)(trainer_rng(&rng) % n);

        if ((tr->y[pick] > 0.5f) != want_spam)
            continue;
        tr->ex[rows++] = (uint32_t)pick;
        *(want_spam ? &ns : &nh) += 1;
    }
    tr->r.n = rows;
    tr->r.ex = tr->ex;
}

/* trainer_hide_score - drop the upstream-score input (the first
 * meta-input, so the last pair or the one before) from a row of np pairs;
 * returns the new count */
static size_t
trainer_hide_score(struct feat_pair *pair, size_t np, size_t idx)
{
    for (size_t j = np >= 2 ? np - 2 : 0; j < np; j++)
        if (pair[j].idx == idx) {
            memmove(&pair[j], &pair[j + 1], (np - j - 1) * sizeof(*pair));
            return np - 1;
        }
    return np;
}

/*
 * trainer_vectors - the sparse rows of prof's vectors for the examples on
 * one side of the split (held = 1: validation), as feat_sparse() makes
 * them: memory follows the non-zero entries, not examples x inputs.
 * balance oversamples (trainer_oversample()) with rows that repeat
 * examples (no copies). Returns the row count.
 */
static size_t
trainer_vectors(const struct trainer_set *set, const struct feat_profile *prof,
                int held, int balance, struct trainer_rows *tr)
{
    size_t ni = feat_ninputs(prof), n = 0, bound = 0, k = 0;
    struct trainer_view v = { 0 };

    memset(tr, 0, sizeof(*tr));
    for (size_t i = 0; i < set->n; i++)
        if (set->held[i] == held) {
            n++;
            bound += feat_pairs_max(set->ex[i].nsym);
        }
    tr->pair = xreallocarray(NULL, bound + 1, sizeof(*tr->pair));
    tr->off = xreallocarray(NULL, n + 1, sizeof(*tr->off));
    tr->y = xreallocarray(NULL, n + 1, sizeof(*tr->y));
    n = 0;
    for (size_t i = 0; i < set->n; i++) {
        const struct trainer_ex *e = &set->ex[i];
        size_t np;

        if (set->held[i] != held)
            continue;
        if (feat_sparse(prof, trainer_view_of(&v, set, i), tr->pair + k,
                        bound - k, &np, NULL) != 0)
            panic("trainer: vector buffer too small");
        if (!trainer_sees_score(e))
            np = trainer_hide_score(tr->pair + k, np, ni - FEAT_NMETA);
        tr->off[n] = k;
        tr->y[n] = e->spam ? 1.0f : 0.0f;
        k += np;
        n++;
    }
    tr->off[n] = k;
    free(v.buf);
    /* the bound counts every symbol twice: give back what it overshot */
    tr->pair = xreallocarray(tr->pair, k + 1, sizeof(*tr->pair));
    tr->r = (struct model_rows){ .n = n, .off = tr->off, .pair = tr->pair,
                                 .y = tr->y };
    if (balance && n > 0)
        trainer_oversample(tr);
    return tr->r.n;
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
trainer_degenerate(struct model *m, const struct model_rows *rows)
{
    size_t above = 0;
    double p;

    for (size_t r = 0; r < rows->n; r++) {
        size_t e = rows->ex != NULL ? rows->ex[r] : r;

        if (model_score_sparse(m, rows->pair + rows->off[e],
                               rows->off[e + 1] - rows->off[e], &p) == 0 &&
            p >= 0.5)
            above++;
    }
    return rows->n > 0 && (above == 0 || above == rows->n);
}

/* One job's state, freed by trainer_work_free(). */
struct trainer_work {
    const struct cfg *c;
    struct trainer_set set;
    struct model *live;      /* the live model, or NULL */
    struct model *m;         /* the network being trained */
    struct feat_profile *prof; /* a new profile, until m takes it */
    struct trainer_rows tr, va; /* training and held-back rows */
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
    trainer_rows_free(&w->tr);
    trainer_rows_free(&w->va);
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
    struct trainer_view v = { 0 };
    size_t n = 0, nthr = 0, np;
    struct feat_pair *row = xreallocarray(NULL, FEAT_PAIRS_MAX,
                                          sizeof(*row));
    double *p = xreallocarray(NULL, w->set.n + 1, sizeof(*p));
    double *u = xreallocarray(NULL, w->set.n + 1, sizeof(*u));
    unsigned char *lab = xreallocarray(NULL, w->set.n + 1, 1);
    double thr[MODEL_MAP_MAX_THR], site[CFG_THRESHOLDS_MAX];
    size_t nsite = cfg_thresholds(w->c, site);
    char desc[512];

    _Static_assert(MODEL_MAP_MAX_THR >= CFG_THRESHOLDS_MAX + 1,
                   "the header's required score and [score] thresholds");
    for (size_t i = 0; i < w->set.n; i++) {
        const struct trainer_ex *ex = &w->set.ex[i];

        /* as the milter scores it: the example's own sparse vector */
        if (!w->set.held[i] || !ex->explicit_ ||
            feat_sparse(prof, trainer_view_of(&v, &w->set, i), row,
                        FEAT_PAIRS_MAX, &np, NULL) != 0 ||
            model_score_sparse(w->m, row, np, &p[n]) != 0)
            continue;
        u[n] = ex->score;
        lab[n++] = ex->spam != 0;
        /* the scanner's own threshold: the first one seen */
        if (nthr == 0 && ex->required > 0)
            thr[nthr++] = ex->required;
    }
    free(v.buf);
    for (size_t k = 0; k < nsite; k++)
        thr[nthr++] = site[k];
    if (model_map_fit(p, u, lab, n, thr, nthr, meta->spam_threshold,
                      w->c->spam_weight, w->c->ham_weight, &meta->map) == 0)
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
        .target_fpr = c->target_fpr,
        .smoothing = TRAINER_SMOOTHING,
        .learning_rate = TRAINER_RATE,
        .cancelled = cancelled,
        .cancel_arg = arg,
    };
    struct model_meta meta;
    char err[200];

    size_t n, nv;

    trainer_split(&w->set, c->holdout);
    opts.seed = w->seed ? w->seed : util_hash64(&w->set.n, sizeof(w->set.n),
                                                UTIL_HASH64_INIT);
    n = trainer_vectors(&w->set, model_profile(w->m), 0, 1, &w->tr);
    opts.patience = trainer_patience(n);
    nv = trainer_vectors(&w->set, model_profile(w->m), 1, 0, &w->va);
    log_info("trainer: training %s network of %zu inputs on %zu rows, %zu "
             "held back", rep->fresh ? "a fresh" : "the live",
             model_ninputs(w->m), n, nv);
    if (model_train_sparse(w->m, &w->tr.r, nv ? &w->va.r : NULL, &opts, err,
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
        const struct trainer_ex *ex = &w->set.ex[i];
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
        struct trainer_rows lr;
        double mse;

        trainer_vectors(&w->set, model_profile(w->live), 1, 0, &lr);
        if (model_evaluate_sparse(w->live, &lr.r, &rep->auc_old, &mse) != 0)
            rep->auc_old = -1;
        trainer_rows_free(&lr);
    }
    if (trainer_degenerate(w->m, w->va.r.n ? &w->va.r : &w->tr.r))
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
