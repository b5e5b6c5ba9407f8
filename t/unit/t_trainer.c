/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_trainer - the learning machinery against the redis-server that
 * t/unit/trainer.sh starts (NM_REDIS_SOCK): the example lists and the
 * new-example counter, the training lock, trainer_due(), trainer_run()
 * (a race of two trainers, the publish guard, max_iterations, a profile
 * change, a lock lost while training) and the example queue. Each case
 * loads its own ini from NM_TMPDIR with its own [redis] prefix. Raw RESP
 * over a unix socket reads what the store API does not show (PTTL, LLEN).
 * Skips without NM_REDIS_SOCK.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "example.h"
#include "feat.h"
#include "log.h"
#include "model.h"
#include "queue.h"
#include "store.h"
#include "t_sys.h"
#include "tap.h"
#include "trainer.h"
#include "util.h"
#include "watch.h"
#include "xmalloc.h"

#define T_CAP 20           /* per-class cap of the store case */
#define T_QUEUE 5          /* [train] queue_size of the queue case */
#define T_MAX_SYM 128       /* symbols of one synthetic verdict, at most */
#define T_KEY 128

static const char *t_sock; /* the server of trainer.sh */
static const char *t_tmp;  /* NM_TMPDIR */

/*
 * Raw RESP, for what the store API does not expose.
 */

/* t_raw - send one command to t_sock; the first line of the reply
 * (":12", "+OK", "$-1", ...) without CRLF into buf; 0 or -1 */
static int
t_raw(int argc, const char **argv, char *buf, size_t len)
{
    int fd = t_unix_connect(t_sock), rc = -1;

    buf[0] = '\0';
    if (fd < 0)
        return -1;
    if (t_resp_send(fd, argc, argv) == 0 && t_read_line(fd, buf, len) > 0)
        rc = 0;
    close(fd);
    return rc;
}

/* t_raw_int - an integer reply of a two-word command ("PTTL key"), or
 * LONG_MIN */
static long
t_raw_int(const char *cmd, const char *key)
{
    const char *argv[] = { cmd, key };
    char line[64];
    long v;

    if (t_raw(2, argv, line, sizeof(line)) != 0 || line[0] != ':' ||
        util_parse_long(line + 1, LONG_MIN + 1, LONG_MAX, &v) != 0)
        return LONG_MIN;
    return v;
}

/* t_eval_calls - EVAL calls the server has run (INFO commandstats), or
 * -1 */
static long
t_eval_calls(void)
{
    static const char tag[] = "cmdstat_eval:calls=";
    const char *argv[] = { "INFO", "commandstats" };
    char head[64], *body, *at;
    int fd = t_unix_connect(t_sock);
    long want, v = -1;
    size_t n;
    ssize_t r;

    if (fd < 0)
        return -1;
    if (t_resp_send(fd, 2, argv) != 0 ||
        t_read_line(fd, head, sizeof(head)) == 0 || head[0] != '$' ||
        util_parse_long(head + 1, 1, 1 << 20, &want) != 0) {
        close(fd);
        return -1;
    }
    body = xcalloc((size_t)want + 1, 1);
    for (n = 0; n < (size_t)want; n += (size_t)r)
        if ((r = read(fd, body + n, (size_t)want - n)) <= 0)
            break;
    close(fd);
    if ((at = strstr(body, tag)) == NULL)
        v = 0; /* no EVAL yet */
    else
        v = strtol(at + sizeof(tag) - 1, NULL, 10);
    free(body);
    return v;
}

/* t_key - "prefix:suffix" */
static void
t_key(char *buf, size_t len, const char *prefix, const char *suffix)
{
    snprintf(buf, len, "%s:%s", prefix, suffix);
}

/*
 * Configurations: one ini per case
 */

/* t_cfg - load an ini with [redis] servers and prefix and the [train]
 * lines train; exits when it does not load */
static struct cfg *
t_cfg(const char *name, const char *servers, const char *prefix,
      const char *train)
{
    char path[512], err[1024] = "";
    struct cfg *c;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s.ini", t_tmp, name);
    if ((f = fopen(path, "w")) == NULL) {
        diag("%s: %s", path, strerror(errno));
        exit(1);
    }
    fprintf(f, "[redis]\nservers = %s\nprefix = %s\ntimeout = 2s\n"
            "[train]\n%s", servers, prefix, train);
    fclose(f);
    if ((c = cfg_load(path, err, sizeof(err))) == NULL) {
        diag("cfg_load %s: %s", path, err);
        exit(1);
    }
    return c;
}

/* t_store - a store for c; exits on failure */
static struct store *
t_store(const struct cfg *c)
{
    char err[256] = "";
    struct store *st = store_new_cfg(c, err, sizeof(err));

    if (st == NULL) {
        diag("store_new_cfg: %s", err);
        exit(1);
    }
    return st;
}

/*
 * Synthetic examples
 */

/* How the verdicts of one batch look. */
struct t_mix {
    const char *fam;   /* name prefix: "A_" gives A_S_0, A_H_0, A_N_0 */
    double own;        /* chance of each of the own class's 10 symbols */
    double other;      /* ... of each of the other class's 10 */
    int same;          /* both classes fire D_0..D_2 with one score */
    int nnoise;        /* noise symbols N_0.., firing in either class */
    double noise;      /* ... each with this chance */
};

/* A batch of 10 + 10 class symbols and 5 noise symbols firing in 30%. */
#define T_MIX(fam, own, other) { fam, own, other, 0, 5, 0.3 }

/* The generator: a xorshift state and the next example's time. */
struct t_gen {
    uint64_t rng;
    int64_t time;
};

/* t_rand - uniform in [0, 1) */
static double
t_rand(struct t_gen *g)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return (double)(g->rng >> 11) / 9007199254740992.0;
}

/* t_sym - append one symbol */
static void
t_sym(struct hdr_result *r, const char *fam, const char *kind, int k,
      double score)
{
    if (r->nsym == T_MAX_SYM)
        return;
    snprintf(r->sym[r->nsym].name, sizeof(r->sym[0].name), "%s%s_%d", fam,
             kind, k);
    r->sym[r->nsym++].score = score;
}

/* t_result - a verdict of class spam after mix: the class's own symbols
 * mostly, the other class's sometimes, noise in both, and a total score
 * that says nothing about the class (so only symbols teach) */
static void
t_result(struct t_gen *g, const struct t_mix *mix, int spam,
         struct hdr_result *r)
{
    int own = 0;

    hdr_result_init(r);
    r->upstream = HDR_UPSTREAM_RSPAMD;
    r->action = HDR_ACTION_NO_ACTION;
    r->required = 15;
    r->has_scores = 1;
    r->sym = xcalloc(T_MAX_SYM, sizeof(*r->sym));
    if (mix->same) {
        for (int k = 0; k < 3; k++)
            t_sym(r, "", "D", k, 1.0);
        r->score = 3.0;
        return;
    }
    for (int k = 0; k < 10; k++) {
        if (t_rand(g) < (spam ? mix->own : mix->other)) {
            t_sym(r, mix->fam, "S", k, 2.0);
            own += spam;
        }
        if (t_rand(g) < (spam ? mix->other : mix->own)) {
            t_sym(r, mix->fam, "H", k, -1.5);
            own += !spam;
        }
    }
    for (int k = 0; k < mix->nnoise; k++)
        if (t_rand(g) < mix->noise)
            t_sym(r, mix->fam, "N", k, 0.5);
    if (own == 0)
        t_sym(r, mix->fam, spam ? "S" : "H", 0, spam ? 2.0 : -1.5);
    r->score = (double)(int)(t_rand(g) * 1000) / 100.0;
}

/* t_record - an example, encoded (compressed) or only serialized (as
 * the queue takes it); exits on failure */
static void *
t_record(struct t_gen *g, const struct t_mix *mix, int spam, size_t *len,
         int compressed)
{
    struct hdr_result r;
    struct example ex;
    char err[128] = "";
    void *blob;

    t_result(g, mix, spam, &r);
    if (example_from_result(&ex, &r, spam, 0, g->time++) != 0 ||
        (compressed ? example_encode(&ex, &blob, len, err, sizeof(err))
                    : example_serialize(&ex, &blob, len, err, sizeof(err))) !=
            0) {
        diag("example: %s", err);
        exit(1);
    }
    example_free(&ex);
    hdr_result_free(&r);
    return blob;
}

/* t_blob - an encoded example */
static void *
t_blob(struct t_gen *g, const struct t_mix *mix, int spam, size_t *len)
{
    return t_record(g, mix, spam, len, 1);
}

/* t_push - push nspam and nham examples after mix, interleaved so the
 * times of both classes mix; 0 or -1 */
static int
t_push(struct store *st, struct t_gen *g, const struct t_mix *mix,
       long nspam, long nham)
{
    int rc = 0;

    for (long i = 0; i < nspam || i < nham; i++) {
        for (int spam = 1; spam >= 0; spam--) {
            void *blob;
            size_t len;

            if (i >= (spam ? nspam : nham))
                continue;
            blob = t_blob(g, mix, spam, &len);
            if (store_example_push(st, spam, blob, len, 100000) != 0)
                rc = -1;
            free(blob);
        }
    }
    return rc;
}

/* t_fetch - every stored record of a class, oldest first */
static int
t_fetch(struct store *st, int spam, struct store_blob **b, size_t *n)
{
    size_t refused;

    return store_examples_fetch(st, spam, 100000000, EXAMPLE_MAX_BLOB, b, n,
                                &refused);
}

/* t_due - trainer_due(), not forced, with the counts through pointers */
static enum trainer_outcome
t_due(struct store *st, const struct cfg *c, long *ns, long *nh, long *nn)
{
    struct trainer_report rep;
    struct trainer_live live;
    enum trainer_outcome o;

    memset(&rep, 0, sizeof(rep));
    o = trainer_due(st, c, 0, &rep, &live);
    *ns = rep.nspam;
    *nh = rep.nham;
    *nn = rep.nnew;
    return o;
}

/* t_live - the published model's meta, version and digest through
 * watch_poll_once(); 0, or -1 when none loads */
static int
t_live(struct store *st, struct model_meta *meta, uint64_t *version,
       char *digest)
{
    struct model *m;

    if (watch_poll_once(st, STORE_VIA_READ, NULL, &m) != WATCH_LOADED)
        return -1;
    if (meta != NULL)
        *meta = *model_meta(m);
    if (version != NULL)
        *version = model_version(m);
    if (digest != NULL)
        snprintf(digest, FEAT_DIGEST_LEN + 1, "%s",
                 feat_profile_digest(model_profile(m)));
    model_release(m);
    return 0;
}

/* t_score_blind - the live model gives a result the same p whatever its
 * upstream score: 1 yes, 0 no, -1 no model */
static int
t_score_blind(struct store *st, struct t_gen *g, const struct t_mix *mix)
{
    struct model *m;
    struct hdr_result r;
    size_t ni;
    float *x;
    double p[2] = { -1, -2 };
    int rc = 1;

    if (watch_poll_once(st, STORE_VIA_READ, NULL, &m) != WATCH_LOADED)
        return -1;
    ni = model_ninputs(m);
    x = xcalloc(ni, sizeof(*x));
    t_result(g, mix, 1, &r);
    for (int i = 0; i < 2; i++) {
        r.score = i ? 14.0 : -3.0;
        if (feat_vector(model_profile(m), &r, x, ni, NULL) != 0 ||
            model_score(m, x, ni, &p[i]) != 0)
            rc = 0;
    }
    diag("p at score -3: %.9f, at 14: %.9f", p[0], p[1]);
    hdr_result_free(&r);
    free(x);
    model_release(m);
    return rc && p[0] == p[1];
}

/* t_report - one line about a run, for the log */
static void
t_report(const char *what, int rc, const struct trainer_report *rep)
{
    diag("%s: rc %d trained %d published %d fresh %d new_profile %d "
         "auc new %.4f old %.4f epochs %u, %.3f s: %s", what, rc,
         rep->trained, rep->published, rep->fresh, rep->new_profile,
         rep->auc_new, rep->auc_old, rep->meta.epochs, rep->seconds,
         rep->reason);
}

/*
 * The cases
 */

/* t_records - fetch one class; 1 when it holds exactly want[0..n),
 * want[] newest first (the fetch gives them oldest first), byte for byte */
static int
t_records(struct store *st, int spam, void *const *want,
          const size_t *wantlen, size_t n)
{
    struct store_blob *b;
    size_t got;
    int same;

    if (t_fetch(st, spam, &b, &got) != 0)
        return 0;
    same = got == n;
    for (size_t i = 0; same && i < n; i++) /* fetched oldest first */
        same = b[n - 1 - i].len == wantlen[i] &&
               memcmp(b[n - 1 - i].data, want[i], wantlen[i]) == 0;
    store_blobs_free(b, got);
    return same;
}

/* t_cap_check - the capped list: its length and records, oldest first */
static void
t_cap_check(struct store *st, const char *key, int newest, int oldest,
            const char *label)
{
    struct store_blob *b;
    size_t n;
    char want_new[16], want_old[16];
    int in_order = 1;

    snprintf(want_new, sizeof(want_new), "r%03d", newest);
    snprintf(want_old, sizeof(want_old), "r%03d", oldest);
    is_int(t_raw_int("LLEN", key), newest - oldest + 1, "%s: LLEN", label);
    if (t_fetch(st, 1, &b, &n) != 0) {
        ok(0, "%s: fetch", label);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char want[16];

        snprintf(want, sizeof(want), "r%03d", oldest + (int)i);
        in_order &= b[i].len == strlen(want) &&
                    memcmp(b[i].data, want, b[i].len) == 0;
    }
    ok(n > 0 && in_order && b[n - 1].len == 4 &&
           memcmp(b[n - 1].data, want_new, 4) == 0 && b[0].len == 4 &&
           memcmp(b[0].data, want_old, 4) == 0,
       "%s: %s oldest ... %s newest, in order", label, want_old, want_new);
    store_blobs_free(b, n);
}

/* t_case_store - push/fetch, the cap, counts, the counter, delete */
static void
t_case_store(void)
{
    struct cfg *c = t_cfg("store", t_sock, "t-store", "");
    struct cfg *c2 = t_cfg("cap", t_sock, "t-cap", "");
    struct store *st = t_store(c), *cap = t_store(c2);
    struct t_gen g = { 0x1234567u, 1700000000 };
    struct t_mix mix = T_MIX("", 0.6, 0.1);
    void *b[5];
    size_t len[5];
    void *want[3];
    size_t wantlen[3];
    long ns = -1, nh = -1, nn = -1;
    int rc;
    char key[T_KEY];
    struct store_blob *out;
    size_t n;

    is_int(store_example_counts(st, &ns, &nh, &nn), 0, "store: counts");
    ok(ns == 0 && nh == 0 && nn == 0, "store: empty: 0 0 0");
    for (int i = 0; i < 5; i++)
        b[i] = t_blob(&g, &mix, i < 3, &len[i]);
    for (int i = 0; i < 5; i++)
        is_int(store_example_push(st, i < 3, b[i], len[i], 100), 0,
               "store: push %d (%s)", i, i < 3 ? "spam" : "ham");
    want[0] = b[2], want[1] = b[1], want[2] = b[0];
    wantlen[0] = len[2], wantlen[1] = len[1], wantlen[2] = len[0];
    ok(t_records(st, 1, want, wantlen, 3),
       "store: spam fetched oldest first, bytes identical");
    want[0] = b[4], want[1] = b[3];
    wantlen[0] = len[4], wantlen[1] = len[3];
    ok(t_records(st, 0, want, wantlen, 2),
       "store: ham fetched oldest first, bytes identical");
    is_int(store_example_counts(st, &ns, &nh, &nn), 0, "store: counts");
    ok(ns == 3 && nh == 2 && nn == 5, "store: 3 spam, 2 ham, 5 new (%ld "
       "%ld %ld)", ns, nh, nn);
    is_int(store_example_push(st, 1, b[0], 0, 100), -1,
           "store: an empty record is refused");
    is_int(store_example_push(st, 1, b[0], len[0], 0), -1,
           "store: max_examples 0 is refused");
    rc = store_example_counts(st, &ns, &nh, &nn);
    ok(rc == 0 && ns == 3 && nn == 5,
       "store: refusals stored and counted nothing");

    /* A batch: classes mixed, order kept, counted once each, capped;
     * anything malformed refuses the whole batch. */
    {
        struct cfg *cb = t_cfg("batch", t_sock, "t-batch", "");
        struct store *sb = t_store(cb);
        struct store_example ex[5], bad[2];
        struct store_example *big =
            xcalloc(STORE_BATCH_MAX + 1, sizeof(*big));
        char bkey[T_KEY];

        for (int i = 0; i < 5; i++)
            ex[i] = (struct store_example){ .spam = i % 2 == 0, .rec = b[i],
                                            .len = len[i] };
        is_int(store_example_push_batch(sb, ex, 5, 100), 0,
               "batch: 5 examples, spam and ham mixed");
        want[0] = b[4], want[1] = b[2], want[2] = b[0];
        wantlen[0] = len[4], wantlen[1] = len[2], wantlen[2] = len[0];
        ok(t_records(sb, 1, want, wantlen, 3),
           "batch: spam 0, 2, 4 fetched oldest first, bytes identical");
        want[0] = b[3], want[1] = b[1];
        wantlen[0] = len[3], wantlen[1] = len[1];
        ok(t_records(sb, 0, want, wantlen, 2),
           "batch: ham 1, 3 fetched oldest first");
        rc = store_example_counts(sb, &ns, &nh, &nn);
        ok(rc == 0 && ns == 3 && nh == 2 && nn == 5,
           "batch: 3 spam, 2 ham, 5 new (%ld %ld %ld)", ns, nh, nn);
        is_int(store_example_push_batch(sb, ex, 5, 2), 0,
               "batch: again with a cap of 2");
        rc = store_example_counts(sb, &ns, &nh, &nn);
        ok(rc == 0 && ns == 2 && nh == 2 && nn == 10,
           "batch: both lists trimmed to 2, 10 new (%ld %ld %ld)", ns, nh,
           nn);
        bad[0] = ex[0];
        bad[1] = (struct store_example){ .spam = 1, .rec = b[1], .len = 0 };
        is_int(store_example_push_batch(sb, bad, 2, 100), -1,
               "batch: an empty record refuses the batch");
        is_int(store_example_push_batch(sb, ex, 0, 100), -1,
               "batch: 0 examples refused");
        for (size_t i = 0; i <= STORE_BATCH_MAX; i++) {
            big[i] = ex[0];
            big[i].key = 1000 + i; /* distinct messages of one record */
        }
        is_int(store_example_push_batch(sb, big, STORE_BATCH_MAX + 1, 100),
               -1, "batch: STORE_BATCH_MAX + 1 refused");
        rc = store_example_counts(sb, &ns, &nh, &nn);
        ok(rc == 0 && ns == 2 && nn == 10,
           "batch: refusals stored nothing (%ld %ld)", ns, nn);
        is_int(store_example_push_batch(sb, big, STORE_BATCH_MAX, 1000), 0,
               "batch: STORE_BATCH_MAX examples in one");
        t_key(bkey, sizeof(bkey), "t-batch", "ex:spam");
        is_int(t_raw_int("LLEN", bkey), STORE_BATCH_MAX + 2,
               "batch: all of them stored");
        for (size_t i = 0; i < 8; i++)
            big[i].key = 0; /* keyed by the record: one and the same */
        is_int(store_example_push_batch(sb, big, 8, 1000), 0,
               "batch: one record 8 times without a key");
        is_int(t_raw_int("LLEN", bkey), STORE_BATCH_MAX + 3,
               "batch: ... is stored once");
        free(big);
        store_free(sb);
        cfg_release(cb);
    }
    for (int i = 0; i < 5; i++)
        free(b[i]);

    /* The cap: raw records "r000".. (the store does not decode them). */
    t_key(key, sizeof(key), "t-cap", "ex:spam");
    for (int i = 0; i < T_CAP + 10; i++) {
        char rec[16];

        snprintf(rec, sizeof(rec), "r%03d", i);
        if (store_example_push(cap, 1, rec, strlen(rec), T_CAP) != 0)
            ok(0, "cap: push %d", i);
        if (i == T_CAP - 1)
            t_cap_check(cap, key, i, 0, "cap: N pushes keep all");
        else if (i == T_CAP)
            t_cap_check(cap, key, i, 1, "cap: N+1 pushes drop the oldest");
    }
    t_cap_check(cap, key, T_CAP + 9, 10, "cap: N+10 pushes");
    rc = store_example_counts(cap, &ns, &nh, &nn);
    ok(rc == 0 && ns == T_CAP && nh == 0 && nn == T_CAP + 10,
       "cap: counts %ld %ld %ld: the counter counts every push", ns, nh,
       nn);

    /* The counter. */
    is_int(store_new_consume(cap, T_CAP + 5), 0, "consume: N-5");
    rc = store_example_counts(cap, &ns, &nh, &nn);
    ok(rc == 0 && nn == 5, "consume: 5 left (%ld)", nn);
    is_int(store_new_consume(cap, 10), 0, "consume: more than left");
    rc = store_example_counts(cap, &ns, &nh, &nn);
    ok(rc == 0 && nn == 0, "consume: never below 0 (%ld)", nn);
    is_int(store_new_consume(cap, 0), 0, "consume: 0");
    rc = store_example_counts(cap, &ns, &nh, &nn);
    ok(rc == 0 && nn == 0, "consume: still 0 (%ld)", nn);

    /* Delete drops the lists and the counter, and only of its prefix. */
    is_int(store_examples_delete(cap), 0, "delete");
    rc = store_example_counts(cap, &ns, &nh, &nn);
    ok(rc == 0 && ns == 0 && nh == 0 && nn == 0, "delete: counts 0 0 0");
    ok(t_fetch(cap, 1, &out, &n) == 0 && n == 0,
       "delete: nothing to fetch");
    store_blobs_free(out, n);
    t_key(key, sizeof(key), "t-cap", "ex:new");
    is_int(t_raw_int("EXISTS", key), 0, "delete: the counter key is gone");
    is_int(store_new_consume(cap, 3), 0, "consume on no counter");
    rc = store_example_counts(cap, &ns, &nh, &nn);
    ok(rc == 0 && nn == 0, "consume on no counter: 0, not -3 (%ld)", nn);
    rc = store_example_counts(st, &ns, &nh, &nn);
    ok(rc == 0 && ns == 3 && nh == 2,
       "delete: another prefix's examples stay");
    store_free(st);
    store_free(cap);
    cfg_release(c);
    cfg_release(c2);
}

/* t_publish_dummy - publish a small untrained model; 0 or -1 */
static int
t_publish_dummy(struct store *st)
{
    const char *names[] = { "S_0", "H_0" };
    unsigned hidden[1] = { 4 };
    struct model *m = model_new(feat_profile_new(names, 2, 1), hidden, 1, 1);
    char err[128];
    void *blob;
    size_t len;
    uint64_t v;
    int rc = -1;

    if (m != NULL && model_to_blob(m, &blob, &len, err, sizeof(err)) == 0) {
        rc = store_model_publish(st, feat_profile_digest(model_profile(m)),
                                 blob, len, NULL, &v);
        free(blob);
    }
    model_release(m);
    return rc;
}

/* t_case_learn - a key replaces its example (explicit over autolearn),
 * records of release 0.1 still read, replies kept and hit, reports taken
 * and charged */
static void
t_case_learn(void)
{
    struct cfg *c = t_cfg("learn", t_sock, "t-learn", "");
    struct store *st = t_store(c);
    struct t_gen g = { 0x1234, 1000 };
    static const struct t_mix mix = T_MIX("L_", 0.9, 0.1);
    struct store_blob *b;
    struct store_example ex;
    struct store_reply kr;
    void *rec[4];
    size_t len[4], n, refused;
    long ns, nh, nn, learned, counts[STORE_REPORT_NSTATS];
    uint64_t keys[2] = { 0x77, 0x78 };
    char key[128], big[300];
    int rc;

    for (int i = 0; i < 4; i++)
        rec[i] = t_blob(&g, &mix, i == 0 || i == 3, &len[i]);
    ex = (struct store_example){ .spam = 1, .rec = rec[0], .len = len[0],
                                 .key = 0x42, .explicit_ = 0 };
    ok(store_example_push_batch(st, &ex, 1, 100) == 0, "learn: autolearn "
       "spam of key 42");
    ex = (struct store_example){ .spam = 0, .rec = rec[1], .len = len[1],
                                 .key = 0x42, .explicit_ = 1 };
    ok(store_example_push_batch(st, &ex, 1, 100) == 0 &&
           store_example_push_batch(st, &ex, 1, 100) == 0,
       "learn: a ham report of key 42, twice");
    rc = store_example_counts(st, &ns, &nh, &nn);
    ok(rc == 0 && ns == 0 && nh == 1,
       "learn: spam then ham twice leaves one ham (%ld spam, %ld ham)", ns,
       nh);
    ex = (struct store_example){ .spam = 1, .rec = rec[0], .len = len[0],
                                 .key = 0x42, .explicit_ = 0 };
    ok(store_example_push_batch(st, &ex, 1, 100) == 0 &&
           store_example_counts(st, &ns, &nh, &nn) == 0 && ns == 0 &&
           nh == 1,
       "learn: a later autolearn leaves the explicit verdict (%ld %ld)", ns,
       nh);
    ok(t_fetch(st, 0, &b, &n) == 0 && n == 1 && b[0].len == len[1] &&
           memcmp(b[0].data, rec[1], len[1]) == 0,
       "learn: the ham record is the one stored");
    store_blobs_free(b, n);

    /* a list entry of release 0.1: the record itself */
    t_key(key, sizeof(key), "t-learn", "ex:spam");
    {
        const char *argv[] = { "LPUSH", key, rec[3] };
        size_t lens[] = { 5, strlen(key), len[3] };
        int fd = t_unix_connect(t_sock);
        char line[64];

        rc = fd >= 0 && t_resp_send_len(fd, 3, argv, lens) == 0 &&
             t_read_line(fd, line, sizeof(line)) > 0 && line[0] == ':';
        if (fd >= 0)
            close(fd);
    }
    ok(rc && t_fetch(st, 1, &b, &n) == 0 && n == 1 &&
           b[0].len == len[3] && memcmp(b[0].data, rec[3], len[3]) == 0,
       "learn: a record of release 0.1 in a list is read as it is");
    store_blobs_free(b, n);

    /* replies: keep one, a reply names it and another */
    kr = (struct store_reply){ 0x77, rec[2], len[2] };
    ok(store_replies_keep(st, &kr, 1, 3600, 10) == 0 &&
           store_replies_count(st, &ns) == 0 && ns == 1,
       "replies: one kept");
    ok(store_replies_hit(st, keys, 2, 100, &learned) == 0 && learned == 1,
       "replies: a reply naming it and another learns 1 (%ld)", learned);
    ok(store_example_counts(st, &ns, &nh, &nn) == 0 && nh == 2,
       "replies: it is a ham example now (%ld ham)", nh);
    ok(store_replies_count(st, &ns) == 0 && ns == 0 &&
           store_replies_hit(st, keys, 1, 100, &learned) == 0 &&
           learned == 0,
       "replies: no longer kept; a second reply learns nothing");
    rc = 0;
    for (uint64_t k = 1; k <= 5; k++) {
        kr.key = 0x100 + k;
        rc |= store_replies_keep(st, &kr, 1, 3600, 3);
    }
    ok(rc == 0 && store_replies_count(st, &ns) == 0 && ns == 3,
       "replies: replies_max 3 keeps 3 of 5 (%ld)", ns);
    keys[0] = 0x101;
    ok(store_replies_hit(st, keys, 1, 100, &learned) == 0 && learned == 0,
       "replies: the oldest made room");

    /* reports */
    t_key(key, sizeof(key), "t-learn", "report:in");
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    {
        const char *argv[] = { "RPUSH", key, "one", big, "three" };
        char line[64];

        rc = t_raw(5, argv, line, sizeof(line));
    }
    ok(rc == 0 && store_reports_take(st, 10, 200, &b, &n, &refused) == 0 &&
           n == 2 && refused == 1 && b[0].len == 3 &&
           memcmp(b[0].data, "one", 3) == 0,
       "reports: 2 taken, the one over the bound refused unread");
    store_blobs_free(b, n);
    ok(store_reports_waiting(st, &ns) == 0 && ns == 0,
       "reports: the list is empty");
    ok(store_report_charge(st, "u@example.net", "20261201", 2) == STORE_OK &&
           store_report_charge(st, "u@example.net", "20261201", 2) ==
               STORE_OK &&
           store_report_charge(st, "u@example.net", "20261201", 2) ==
               STORE_CONFLICT &&
           store_report_charge(st, "v@example.net", "20261201", 2) ==
               STORE_OK &&
           store_report_charge(st, "u@example.net", "20261202", 2) ==
               STORE_OK,
       "reports: a cap of 2 a day per reporter");
    memset(counts, 0, sizeof(counts));
    counts[0] = 3;
    counts[5] = 1;
    ok(store_report_stats_add(st, counts) == 0 &&
           store_report_stats_add(st, counts) == 0 &&
           store_report_stats_get(st, counts) == 0 && counts[0] == 6 &&
           counts[5] == 2 && counts[1] == 0,
       "reports: counters add up");
    for (int i = 0; i < 4; i++)
        free(rec[i]);
    store_free(st);
    cfg_release(c);
}

/* t_case_due - trainer_due at min_class and threshold, N-1 and N */
static void
t_case_due(void)
{
    struct cfg *c = t_cfg("due", t_sock, "t-due",
                          "min_class = 5\nthreshold = 20\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0xfeedu, 1700000000 };
    struct t_mix mix = T_MIX("", 0.6, 0.1);
    struct trainer_report rep;
    long ns, nh, nn;

    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_NOT_DUE, "due: empty: 0");
    t_push(st, &g, &mix, 4, 5);
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_NOT_DUE,
           "due: spam at min_class-1: 0");
    ok(ns == 4 && nh == 5 && nn == 9, "due: counts through the pointers");
    is_int(trainer_run(st, c, 0, "t-due", &rep), 0, "due: run not forced");
    ok(!rep.trained && strncmp(rep.reason, "not due", 7) == 0,
       "due: not trained: %s", rep.reason);
    t_push(st, &g, &mix, 1, 0);
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_DUE,
           "due: no model, both classes at min_class: 1");
    is_int(t_publish_dummy(st), 0, "due: a model is published");
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_NOT_DUE,
           "due: model, 10 new < threshold 20: 0");
    t_push(st, &g, &mix, 5, 4);
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_NOT_DUE,
           "due: model, 19 new = threshold-1: 0");
    t_push(st, &g, &mix, 0, 1);
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_DUE,
           "due: model, 20 new = threshold: 1");
    is_int(nn, 20, "due: 20 new");
    if (store_new_consume(st, 20) != 0)
        ok(0, "due: consume");
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_NOT_DUE, "due: consumed: 0");
    store_free(st);
    cfg_release(c);

    /* Ham at min_class - 1, without a model; and one class only. */
    c = t_cfg("due2", t_sock, "t-due2", "min_class = 5\nthreshold = 20\n");
    st = t_store(c);
    t_push(st, &g, &mix, 5, 4);
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_NOT_DUE,
           "due: ham at min_class-1: 0");
    t_push(st, &g, &mix, 0, 1);
    is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_DUE, "due: ham at min_class: 1");
    store_free(st);
    cfg_release(c);

    c = t_cfg("due3", t_sock, "t-due3", "min_class = 5\n");
    st = t_store(c);
    t_push(st, &g, &mix, 8, 0);
    is_int(trainer_run(st, c, 1, "t-due3", &rep), 0,
           "due: forced run with spam only");
    ok(!rep.trained && strstr(rep.reason, "both classes") != NULL,
       "due: not trained: %s", rep.reason);
    store_free(st);
    cfg_release(c);

    /* Redis away: -1 from both. */
    {
        char path[512];

        snprintf(path, sizeof(path), "%s/nothing.sock", t_tmp);
        c = t_cfg("due4", path, "t-due4", "");
        st = t_store(c);
        is_int(t_due(st, c, &ns, &nh, &nn), TRAINER_REDIS, "due: no Redis: -1");
        is_int(trainer_run(st, c, 1, "t-due4", &rep), -1,
               "run: no Redis: -1");
        ok(strstr(rep.reason, "unreachable") != NULL, "run: %s",
           rep.reason);
        store_free(st);
        cfg_release(c);
    }
}

/* t_case_lock - acquire, renew, release, owner, expiry */
static void
t_case_lock(void)
{
    struct cfg *c = t_cfg("lock", t_sock, "t-lock", "");
    struct store *st = t_store(c);
    char owner[64], key[T_KEY];
    long ttl;
    int64_t t0;

    t_key(key, sizeof(key), "t-lock", "train:lock");
    is_int(store_lock_owner(st, owner, sizeof(owner), &ttl), STORE_ABSENT,
           "lock: free at first");
    is_int(store_lock_acquire(st, "A", 5000), STORE_OK, "lock: A acquires");
    is_int(store_lock_acquire(st, "B", 5000), STORE_NOT_OURS, "lock: B cannot");
    is_int(store_lock_acquire(st, "A", 5000), STORE_NOT_OURS,
           "lock: nor A again (not reentrant)");
    is_int(store_lock_owner(st, owner, sizeof(owner), &ttl), STORE_OK,
           "lock: held");
    is_str(owner, "A", "lock: owner A");
    ok(ttl > 0 && ttl <= 5000, "lock: ttl %ld in (0, 5000]", ttl);
    is_int(store_lock_renew(st, "A", 20000), STORE_OK, "lock: A renews");
    ok(t_raw_int("PTTL", key) > 15000, "lock: renewal extended the ttl");
    is_int(store_lock_renew(st, "B", 60000), STORE_NOT_OURS, "lock: B cannot renew");
    ok(t_raw_int("PTTL", key) <= 20000, "lock: B's renewal changed nothing");
    is_int(store_lock_release(st, "B"), STORE_NOT_OURS, "lock: B cannot release");
    is_int(store_lock_owner(st, owner, sizeof(owner), &ttl), STORE_OK,
           "lock: still held");
    is_str(owner, "A", "lock: still A's");
    is_int(store_lock_release(st, "A"), STORE_OK, "lock: A releases");
    is_int(store_lock_owner(st, owner, sizeof(owner), &ttl), STORE_ABSENT,
           "lock: free");
    is_int(store_lock_release(st, "A"), STORE_NOT_OURS, "lock: releasing twice: 0");
    is_int(store_lock_renew(st, "A", 1000), STORE_NOT_OURS,
           "lock: renewing a free lock: 0");
    is_int(t_raw_int("EXISTS", key), 0, "lock: renewal did not create it");

    /* An owner that died: the lock expires on its own. */
    is_int(store_lock_acquire(st, "dead", 300), STORE_OK, "lock: dead acquires "
           "for 300 ms");
    t0 = t_now_ms();
    is_int(store_lock_acquire(st, "B", 5000), STORE_NOT_OURS, "lock: B waits");
    t_sleep_ms(400 - (long)(t_now_ms() - t0));
    is_int(store_lock_acquire(st, "B", 5000), STORE_OK,
           "lock: after 400 ms B acquires");
    is_int(store_lock_release(st, "dead"), STORE_NOT_OURS,
           "lock: the dead owner cannot release B's lock");
    is_int(store_lock_release(st, "B"), STORE_OK, "lock: B releases");
    store_free(st);
    cfg_release(c);
}

/* One of the racing trainers. */
struct t_racer {
    const struct cfg *c;
    const char *token;
    pthread_barrier_t *start;
    struct trainer_report rep;
    int rc;
};

/* t_racer_main - wait for the other, then train */
static void *
t_racer_main(void *arg)
{
    struct t_racer *r = arg;
    struct store *st = t_store(r->c);

    pthread_barrier_wait(r->start);
    r->rc = trainer_run(st, r->c, 1, r->token, &r->rep);
    store_free(st);
    return NULL;
}

/* t_case_race - two trainers at once: one trains, one is locked out */
static void
t_case_race(void)
{
    struct cfg *c = t_cfg("race", t_sock, "t-race",
                          "min_class = 5\nmax_epochs = 200\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0xabcdefu, 1700000000 };
    /* Slow to learn, so the winner still trains when the other tries. */
    struct t_mix mix = { "", 0.35, 0.1, 0, 100, 0.5 };
    pthread_barrier_t start;
    struct t_racer r[2] = {
        { .c = c, .token = "racer-one", .start = &start },
        { .c = c, .token = "racer-two", .start = &start },
    };
    pthread_t th[2];
    char owner[64], last[1024];
    long ttl;
    int won, lost;

    if (t_push(st, &g, &mix, 200, 200) != 0)
        ok(0, "race: push");
    pthread_barrier_init(&start, NULL, 2);
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, t_racer_main, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    t_report("race one", r[0].rc, &r[0].rep);
    t_report("race two", r[1].rc, &r[1].rep);
    won = r[0].rep.trained ? 0 : 1;
    lost = 1 - won;
    ok(r[0].rc == 0 && r[1].rc == 0, "race: both ran to a decision");
    is_int(r[0].rep.trained + r[1].rep.trained, 1,
           "race: exactly one trained");
    ok(r[won].rep.published, "race: the winner published");
    ok(strstr(r[lost].rep.reason, "holds the lock") != NULL &&
           strstr(r[lost].rep.reason, r[won].token) != NULL,
       "race: the other was locked out by the winner: %s",
       r[lost].rep.reason);
    is_int(store_lock_owner(st, owner, sizeof(owner), &ttl), STORE_ABSENT,
           "race: the lock is free afterwards");
    ok(store_train_outcome_get(st, last, sizeof(last)) == STORE_OK &&
           strstr(last, r[won].token) != NULL &&
           strstr(last, "published") != NULL,
       "race: train:last names the winner: %s", last);
    store_free(st);
    cfg_release(c);
}

/* t_case_guard - a worse network and a degenerate one stay unpublished */
static void
t_case_guard(void)
{
    struct cfg *good = t_cfg("guard", t_sock, "t-guard",
                             "min_class = 5\nmax_epochs = 300\n");
    /* One epoch on the noise alone: [model] ignore_symbols takes the
     * class symbols away (and so a new profile). One epoch on all of them
     * was not reliably worse: 0.89 against 0.94, then 0.99 against 0.98
     * once the held-back split changed. */
    struct cfg *bad = t_cfg("guard-bad", t_sock, "t-guard",
                            "min_class = 5\nmax_epochs = 1\n"
                            "max_iterations = 1\n"
                            "[model]\nignore_symbols = S_* H_*\n");
    struct store *st = t_store(good);
    struct t_gen g = { 0x5eedu, 1700000000 };
    /* Weak class symbols among 100 noise symbols: a trained network
     * learns to ignore the noise (held-back AUC about 0.95 or better),
     * one that sees only the noise cannot rank (about 0.5). */
    struct t_mix mix = { "", 0.35, 0.1, 0, 100, 0.5 };
    struct trainer_report rep;
    char digest[FEAT_DIGEST_LEN + 1], d2[FEAT_DIGEST_LEN + 1];
    uint64_t v1 = 0, v2 = 0;
    int rc;

    if (t_push(st, &g, &mix, 250, 250) != 0)
        ok(0, "guard: push");
    rc = trainer_run(st, good, 1, "t-guard", &rep);
    t_report("guard: good", rc, &rep);
    ok(rc == 0 && rep.published, "guard: a well-trained model published");
    ok(rep.auc_new > 0.85, "guard: its held-back AUC %.4f > 0.85",
       rep.auc_new);
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v1), STORE_OK, "guard: head");
    rc = trainer_run(st, bad, 1, "t-guard", &rep);
    t_report("guard: barely trained", rc, &rep);
    ok(rc == 0 && rep.trained && rep.fresh,
       "guard: max_iterations 1: a fresh network trained");
    is_int(rep.meta.epochs, 1, "guard: for one epoch");
    ok(rep.new_profile && rep.nsym == 100, "guard: ignore_symbols made a new "
       "profile of the %zu noise symbols", rep.nsym);
    /* measured as it now scores: without the ignored symbols too */
    ok(rep.auc_old >= 0, "guard: the live model was measured (%.4f)",
       rep.auc_old);
    ok(rep.auc_new < rep.auc_old, "guard: the new one is worse (%.4f)",
       rep.auc_new);
    ok(!rep.published && strncmp(rep.reason, "not published", 13) == 0,
       "guard: not published: %s", rep.reason);
    rc = store_model_head(st, STORE_VIA_READ, d2, &v2);
    ok(rc == STORE_OK && v2 == v1 && strcmp(d2, digest) == 0,
       "guard: the live version is unchanged (%s.%llu)", d2,
       (unsigned long long)v2);
    store_free(st);
    cfg_release(good);
    cfg_release(bad);

    /* Degenerate: both classes look the same, so the network cannot but
     * give every example one class. */
    good = t_cfg("degen", t_sock, "t-degen", "min_class = 5\n"
                 "max_epochs = 50\n");
    st = t_store(good);
    mix.same = 1;
    if (t_push(st, &g, &mix, 40, 40) != 0)
        ok(0, "degenerate: push");
    rc = trainer_run(st, good, 1, "t-degen", &rep);
    t_report("degenerate", rc, &rep);
    ok(rc == 0 && rep.trained && !rep.published,
       "degenerate: trained, not published");
    ok(strncmp(rep.reason, "not published", 13) == 0 &&
           strstr(rep.reason, "same class") != NULL,
       "degenerate: reason: %s", rep.reason);
    is_int(store_model_head(st, STORE_VIA_READ, d2, &v2), STORE_ABSENT, "degenerate: no model live");
    store_free(st);
    cfg_release(good);
}

/* t_case_iterations - max_iterations = 2: 1, 2, then fresh: 1, 2 */
static void
t_case_iterations(void)
{
    struct cfg *c = t_cfg("iter", t_sock, "t-iter",
                          "min_class = 5\nmax_epochs = 150\n"
                          "max_iterations = 2\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0x17e2u, 1700000000 };
    struct t_mix mix = T_MIX("", 0.5, 0.0); /* separable: AUC 1 */
    static const int want_fresh[4] = { 1, 0, 1, 0 };
    static const uint32_t want_iter[4] = { 1, 2, 1, 2 };

    if (t_push(st, &g, &mix, 100, 100) != 0)
        ok(0, "iterations: push");
    for (int i = 0; i < 4; i++) {
        struct trainer_report rep;
        struct model_meta meta = { 0 };
        uint64_t v = 0;
        int rc = trainer_run(st, c, 1, "t-iter", &rep);

        t_report("iterations", rc, &rep);
        ok(rc == 0 && rep.published, "iterations: run %d published", i + 1);
        is_int(rep.fresh, want_fresh[i], "iterations: run %d fresh",
               i + 1);
        ok(t_live(st, &meta, &v, NULL) == 0, "iterations: model loads");
        is_int(meta.iterations, want_iter[i],
               "iterations: run %d: meta.iterations", i + 1);
        is_int(v, i + 1, "iterations: run %d: version", i + 1);
        /* autolearned examples only: the upstream's score, hidden from
         * them, must not move p through untrained weights either */
        is_int(t_score_blind(st, &g, &mix), 1,
               "iterations: run %d: p ignores the upstream score", i + 1);
    }
    store_free(st);
    cfg_release(c);
}

/* t_case_profile - new symbols in the newest mail: a new profile, and
 * the old profile's model expires after profile_grace */
static void
t_case_profile(void)
{
    struct cfg *c = t_cfg("profile", t_sock, "t-prof",
                          "min_class = 5\nmax_epochs = 150\n"
                          "profile_grace = 1h\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0xb0b0u, 1700000000 };
    struct t_mix a = T_MIX("A_", 0.5, 0.05), b = T_MIX("B_", 0.5, 0.05);
    struct trainer_report rep;
    char d1[FEAT_DIGEST_LEN + 1] = "", d2[FEAT_DIGEST_LEN + 1] = "";
    char key1[T_KEY], key2[T_KEY];
    long pttl;
    uint64_t v;
    void *blob;
    size_t len;
    int rc;

    if (t_push(st, &g, &a, 100, 100) != 0)
        ok(0, "profile: push A");
    rc = trainer_run(st, c, 1, "t-prof", &rep);
    t_report("profile: A", rc, &rep);
    ok(rc == 0 && rep.published && rep.new_profile,
       "profile: the first model is a new profile");
    ok(t_live(st, NULL, NULL, d1) == 0, "profile: A's model loads");
    snprintf(key1, sizeof(key1), "t-prof:model:%s", d1);
    is_int(t_raw_int("PTTL", key1), -1, "profile: the live model has no "
           "expiry");

    /* Rules change: 40 + 40 of 280 examples, the newest, fire B_ only. */
    if (t_push(st, &g, &b, 40, 40) != 0)
        ok(0, "profile: push B");
    rc = trainer_run(st, c, 1, "t-prof", &rep);
    t_report("profile: B", rc, &rep);
    ok(rc == 0 && rep.trained && rep.new_profile && rep.fresh,
       "profile: a new profile, a fresh network");
    ok(rep.published && strstr(rep.reason, "new profile") != NULL,
       "profile: published: %s", rep.reason);
    ok(strncmp(rep.old_id, d1, FEAT_DIGEST_LEN) == 0,
       "profile: compared with the old model %s", rep.old_id);
    ok(t_live(st, NULL, NULL, d2) == 0 && strcmp(d1, d2) != 0,
       "profile: the live digest changed: %s -> %s", d1, d2);
    snprintf(key2, sizeof(key2), "t-prof:model:%s", d2);
    pttl = t_raw_int("PTTL", key1);
    ok(pttl > 3500000 && pttl <= 3600000,
       "profile: the old model expires within profile_grace (%ld ms)",
       pttl);
    is_int(t_raw_int("PTTL", key2), -1, "profile: the new one does not");

    /* Publishing the old profile again takes its expiry away. */
    ok(store_model_get(st, STORE_VIA_READ, d1, MODEL_MAX_BLOB, &blob, &len, &v) == STORE_OK &&
           store_model_publish(st, d1, blob, len, NULL, &v) == STORE_OK,
       "profile: the old model published again");
    free(blob);
    is_int(t_raw_int("PTTL", key1), -1, "profile: publish PERSISTs");
    store_free(st);
    cfg_release(c);
}

/* A client that pushes examples while a training holds the lock. */
struct t_pusher {
    const struct cfg *c;
    const char *token;       /* the trainer's */
    int count;
    atomic_int done;         /* the run returned */
    int during;              /* the pushes came while the lock was held */
};

/* t_pusher_main - wait for the lock (or the end of the run), push */
static void *
t_pusher_main(void *arg)
{
    struct t_pusher *p = arg;
    struct store *st = t_store(p->c);
    struct t_gen g = { 0x9999u, 1800000000 };
    struct t_mix mix = T_MIX("", 0.5, 0.1);
    char owner[64];
    long ttl;

    while (!atomic_load(&p->done)) {
        if (store_lock_owner(st, owner, sizeof(owner), &ttl) == STORE_OK &&
            strcmp(owner, p->token) == 0) {
            p->during = 1;
            break;
        }
        t_sleep_ms(1);
    }
    if (t_push(st, &g, &mix, p->count, 0) != 0)
        diag("pusher: push failed");
    store_free(st);
    return NULL;
}

/* t_case_counter - a training uses up the new examples it saw, not those
 * that came meanwhile */
static void
t_case_counter(void)
{
    struct cfg *c = t_cfg("counter", t_sock, "t-new",
                          "min_class = 5\nmax_epochs = 200\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0x4242u, 1700000000 };
    struct t_mix mix = T_MIX("", 0.5, 0.1);
    struct t_pusher p = { .c = c, .token = "t-new", .count = 7 };
    struct trainer_report rep;
    pthread_t th;
    long ns, nh, nn;
    int rc;

    if (t_push(st, &g, &mix, 150, 150) != 0)
        ok(0, "counter: push");
    atomic_init(&p.done, 0);
    pthread_create(&th, NULL, t_pusher_main, &p);
    rc = trainer_run(st, c, 1, "t-new", &rep);
    atomic_store(&p.done, 1);
    pthread_join(th, NULL);
    t_report("counter", rc, &rep);
    ok(rc == 0 && rep.trained, "counter: trained");
    is_int(rep.nnew, 300, "counter: it saw 300 new");
    ok(store_example_counts(st, &ns, &nh, &nn) == 0, "counter: counts");
    is_int(nn, 7, "counter: the 7 pushed %s the training remain new",
           p.during ? "during" : "after");
    store_free(st);
    cfg_release(c);
}

/* A client that takes the lock away from a training. */
struct t_thief {
    const char *key;
    const char *victim;
    atomic_int done;
    int stole;
};

/* t_thief_main - replace the victim's token as soon as it holds the
 * lock, as if its lock had expired and another trainer took it */
static void *
t_thief_main(void *arg)
{
    static const char swap[] =
        "if redis.call('GET', KEYS[1]) == ARGV[1] then "
        "redis.call('SET', KEYS[1], ARGV[2], 'PX', 60000) return 1 end "
        "return 0";
    struct t_thief *t = arg;
    const char *argv[] = { "EVAL", swap, "1", t->key, t->victim, "thief" };
    char line[64];

    while (!atomic_load(&t->done)) {
        if (t_raw(6, argv, line, sizeof(line)) == 0 &&
            strcmp(line, ":1") == 0) {
            t->stole = 1;
            break;
        }
        t_sleep_ms(1);
    }
    return NULL;
}

/* t_case_stolen - a trainer that lost its lock does not publish */
static void
t_case_stolen(void)
{
    struct cfg *c = t_cfg("stolen", t_sock, "t-steal",
                          "min_class = 5\nmax_epochs = 400\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0x7777u, 1700000000 };
    struct t_mix mix = { "", 0.35, 0.1, 0, 100, 0.5 }; /* slow to learn */
    char key[T_KEY], owner[64], d[FEAT_DIGEST_LEN + 1];
    struct t_thief t = { .key = key, .victim = "victim" };
    struct trainer_report rep;
    pthread_t th;
    uint64_t v;
    long ttl;
    int rc;

    t_key(key, sizeof(key), "t-steal", "train:lock");
    if (t_push(st, &g, &mix, 300, 300) != 0)
        ok(0, "stolen: push");
    atomic_init(&t.done, 0);
    pthread_create(&th, NULL, t_thief_main, &t);
    rc = trainer_run(st, c, 1, "victim", &rep);
    atomic_store(&t.done, 1);
    pthread_join(th, NULL);
    t_report("stolen", rc, &rep);
    ok(t.stole, "stolen: the lock was taken while the victim trained");
    ok(rc == 0 && rep.trained && !rep.published,
       "stolen: trained but not published");
    ok(strstr(rep.reason, "lock") != NULL, "stolen: reason: %s",
       rep.reason);
    is_int(store_model_head(st, STORE_VIA_READ, d, &v), STORE_ABSENT, "stolen: no model live");
    ok(store_lock_owner(st, owner, sizeof(owner), &ttl) == STORE_OK &&
           strcmp(owner, "thief") == 0,
       "stolen: the victim left the thief's lock alone");
    is_int(store_lock_release(st, "thief"), STORE_OK, "stolen: thief releases");
    store_free(st);
    cfg_release(c);
}

/* t_case_bad_records - records that do not decode, or sit in the wrong
 * class's list, are skipped and logged with their reason */
static void
t_case_bad_records(void)
{
    struct cfg *c = t_cfg("bad", t_sock, "t-bad",
                          "min_class = 5\nmax_epochs = 100\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0x3131u, 1700000000 };
    struct t_mix mix = T_MIX("", 0.5, 0.05);
    struct trainer_report rep;
    struct t_capture cap;
    char *log;
    void *blob;
    size_t len;
    int rc;

    if (t_push(st, &g, &mix, 30, 30) != 0)
        ok(0, "bad records: push");
    /* The oldest bad spam record is a ham example: it decodes but is not
     * spam, and it is the first one the trainer (reading oldest first)
     * skips. */
    blob = t_blob(&g, &mix, 0, &len);
    if (store_example_push(st, 1, blob, len, 1000) != 0)
        ok(0, "bad records: push ham into spam");
    free(blob);
    if (store_example_push(st, 1, "garbage", 7, 1000) != 0)
        ok(0, "bad records: push garbage");
    t_capture_begin(&cap, "bad");
    rc = trainer_run(st, c, 1, "t-bad", &rep);
    log = t_capture_end(&cap);
    t_report("bad records", rc, &rep);
    ok(rc == 0 && rep.published, "bad records: trained and published");
    is_int(rep.meta.n_spam + rep.meta.n_val_spam, 30,
           "bad records: 30 spam used, the 2 bad ones not");
    is_int(rep.meta.n_ham + rep.meta.n_val_ham, 30, "bad records: 30 ham");
    ok(strstr(log, "2 stored examples did not decode") != NULL,
       "bad records: both counted in the log");
    ok(strstr(log, "skipping a stored example: a ham example in the spam "
           "list") != NULL,
       "bad records: the first one logged with its reason");
    free(log);
    store_free(st);
    cfg_release(c);
}

/* t_poll_count - wait up to ms for prefix's examples to reach want;
 * returns the last count */
static long
t_poll_count(struct store *st, long want, long ms)
{
    int64_t until = t_now_ms() + ms;
    long ns = 0, nh = 0, nn;

    for (;;) {
        if (store_example_counts(st, &ns, &nh, &nn) == 0 &&
            ns + nh >= want)
            break;
        if (t_now_ms() >= until)
            break;
        t_sleep_ms(20);
    }
    return ns + nh;
}

/* t_queue_fill - put n examples; the number accepted */
static int
t_queue_fill(struct queue *q, struct t_gen *g, int n)
{
    struct t_mix mix = T_MIX("", 0.5, 0.1);
    int accepted = 0;

    for (int i = 0; i < n; i++) {
        size_t len;
        void *blob = t_record(g, &mix, i % 2, &len, 0);

        accepted += queue_put(q, i % 2, blob, len) == 0;
    }
    return accepted;
}

/* t_case_queue - bounded while Redis is away, written once it is back,
 * flushed at stop */
static void
t_case_queue(void)
{
    char link[512], link2[512], link3[512], train[64], err[256] = "";
    struct cfg *c, *live;
    struct store *st;
    struct queue *q;
    struct t_gen g = { 0x5151u, 1700000000 };
    size_t len;
    void *blob;
    int64_t t0;
    long n;

    /* Redis "down": the server is a socket path that does not exist
     * yet; a symlink to the real one brings it "back". */
    snprintf(link, sizeof(link), "%s/q1.sock", t_tmp);
    snprintf(train, sizeof(train), "queue_size = %d\n", T_QUEUE);
    c = t_cfg("queue", link, "t-queue", train);
    live = t_cfg("queue-live", t_sock, "t-queue", "");
    st = t_store(live);
    cfg_current_set(cfg_acquire(c)); /* the writer reads max_examples */
    q = queue_start(c, err, sizeof(err));
    if (!ok(q != NULL, "queue: started: %s", err))
        exit(1);
    /* The first example makes the writer fail once and pause 1 s with
     * it back in the queue; the rest arrive during the pause (at 400 ms,
     * so a writer scheduled late has failed by then too). */
    is_int(t_queue_fill(q, &g, 1), 1, "queue: put 1 while Redis is down");
    t_sleep_ms(400);
    is_int(t_queue_fill(q, &g, T_QUEUE - 1), T_QUEUE - 1,
           "queue: puts 2..N accepted");
    is_int(queue_dropped(q), 0, "queue: nothing dropped at N");
    blob = t_record(&g, &(struct t_mix)T_MIX("", 0.5, 0.1), 1, &len, 0);
    is_int(queue_put(q, 1, blob, len), -1, "queue: put N+1 is dropped");
    is_int(queue_dropped(q), 1, "queue: dropped 1");
    is_int(t_poll_count(st, 1, 0), 0, "queue: nothing in Redis yet");

    if (symlink(t_sock, link) != 0)
        diag("symlink: %s", strerror(errno));
    n = t_poll_count(st, T_QUEUE, 8000);
    is_int(n, T_QUEUE, "queue: Redis back: the N queued are written");
    is_int(queue_dropped(q), 1, "queue: still 1 dropped");
    is_int(t_queue_fill(q, &g, T_QUEUE), T_QUEUE,
           "queue: N more accepted with Redis up");
    queue_stop(q, 3000);
    is_int(t_poll_count(st, 2 * T_QUEUE, 0), 2 * T_QUEUE,
           "queue: all written by queue_stop");
    queue_stop(NULL, 0);
    cfg_release(c);
    store_free(st);
    cfg_release(live);

    /* Stop while Redis is down: retries until the deadline, then frees
     * what it could not write. */
    snprintf(link2, sizeof(link2), "%s/q2.sock", t_tmp);
    c = t_cfg("queue2", link2, "t-queue2", train);
    cfg_current_set(cfg_acquire(c));
    if ((q = queue_start(c, err, sizeof(err))) == NULL)
        exit(1);
    is_int(t_queue_fill(q, &g, 3), 3, "queue: 3 put, Redis down");
    t0 = t_now_ms();
    queue_stop(q, 400);
    t0 = t_now_ms() - t0;
    ok(t0 >= 350 && t0 < 2000, "queue: stop with Redis down kept trying "
       "for its 400 ms deadline, no longer (%lld ms)", (long long)t0);
    cfg_release(c);

    /*
     * Redis comes back just before the stop, while the store still
     * backs off after the writer's failure: the flush must retry within
     * its deadline, not give up at once.
     */
    snprintf(link3, sizeof(link3), "%s/q3.sock", t_tmp);
    c = t_cfg("queue3", link3, "t-queue3", train);
    live = t_cfg("queue3-live", t_sock, "t-queue3", "");
    st = t_store(live);
    cfg_current_set(cfg_acquire(c));
    if ((q = queue_start(c, err, sizeof(err))) == NULL)
        exit(1);
    is_int(t_queue_fill(q, &g, 3), 3, "queue: 3 put, Redis down");
    /* the writer gathers for 100 ms, fails, and the store backs off for
     * 100 ms more */
    t_sleep_ms(150);
    if (symlink(t_sock, link3) != 0)
        diag("symlink: %s", strerror(errno));
    queue_stop(q, 3000);
    is_int(t_poll_count(st, 3, 0), 3,
           "queue: Redis back during the backoff: stop still writes all");
    cfg_release(c);
    store_free(st);
    cfg_release(live);
}

/* t_case_reply_burst - replies that piled up while Redis was down: a
 * batch of 64 hits names 512 keys, more than one script takes; every
 * kept message they name still becomes a ham example */
static void
t_case_reply_burst(void)
{
    char link[512], err[256] = "";
    struct cfg *c, *live;
    struct store *st;
    struct queue *q;
    struct t_gen g = { 0x7e7eu, 1700000000 };
    struct store_reply kr[200];
    void *rec[200];
    uint64_t keys[8];
    long ns = -1;
    int rc = 0;

    snprintf(link, sizeof(link), "%s/qb.sock", t_tmp);
    c = t_cfg("burst", link, "t-burst", "");
    live = t_cfg("burst-live", t_sock, "t-burst", "");
    st = t_store(live);
    for (size_t b = 0; b < 2; b++) {
        for (size_t i = 0; i < 200; i++) {
            size_t len;

            rec[i] = t_record(&g, &(struct t_mix)T_MIX("", 0.5, 0.1), 0,
                              &len, 1);
            kr[i] = (struct store_reply){ 0x9001 + b * 200 + i, rec[i],
                                          len };
        }
        rc |= store_replies_keep(st, kr, 200, 3600, 1000);
        for (size_t i = 0; i < 200; i++)
            free(rec[i]);
    }
    ok(rc == 0 && store_replies_count(st, &ns) == 0 && ns == 400,
       "burst: 400 messages kept");
    cfg_current_set(cfg_acquire(c));
    if ((q = queue_start(c, err, sizeof(err))) == NULL)
        exit(1);
    /* the first hit fails and pauses the writer: the other 63 join it */
    for (size_t i = 0; i < 64; i++) {
        for (size_t j = 0; j < 8; j++)
            keys[j] = 0x9001 + i * 8 + j;
        rc |= queue_put_reply_hit(q, keys, 8);
        if (i == 0)
            t_sleep_ms(400);
    }
    ok(rc == 0, "burst: 64 replies of 8 references queued");
    if (symlink(t_sock, link) != 0)
        diag("symlink: %s", strerror(errno));
    is_int(t_poll_count(st, 400, 8000), 400,
           "burst: Redis back: the 400 kept messages they name are ham");
    is_int((long)queue_dropped(q), 0, "burst: nothing dropped");
    queue_stop(q, 3000);
    cfg_release(c);
    store_free(st);
    cfg_release(live);
}

/* t_case_batch - the writer writes in batches, and a lone example still
 * arrives soon */
static void
t_case_batch(void)
{
    struct cfg *c = t_cfg("qbatch", t_sock, "t-qbatch", "queue_size = 1000\n");
    struct store *st = t_store(c);
    struct t_gen g = { 0xba7cu, 1700000000 };
    struct queue *q;
    char err[256] = "";
    long calls;
    int64_t t0;

    cfg_current_set(cfg_acquire(c));
    if ((q = queue_start(c, err, sizeof(err))) == NULL)
        exit(1);
    t0 = t_now_ms();
    is_int(t_queue_fill(q, &g, 1), 1, "batch: one example put");
    is_int(t_poll_count(st, 1, 5000), 1, "batch: a lone example arrives");
    t0 = t_now_ms() - t0;
    ok(t0 < 2000, "batch: ... after %lld ms (gathering 100 ms)",
       (long long)t0);
    calls = t_eval_calls();
    is_int(t_queue_fill(q, &g, 300), 300, "batch: 300 put at once");
    is_int(t_poll_count(st, 301, 5000), 301, "batch: all 300 arrive");
    diag("EVAL calls before: %ld", calls);
    calls = t_eval_calls() - calls;
    ok(calls >= 5 && calls <= 20,
       "batch: 300 examples in %ld scripts (batches of up to 64)", calls);
    {
        /* the queue took serialized records: the writer compressed them */
        size_t nd = 0, total = 0;

        for (int spam = 0; spam <= 1; spam++) {
            struct store_blob *out;
            size_t n;

            if (t_fetch(st, spam, &out, &n) != 0)
                continue;
            for (size_t i = 0; i < n; i++) {
                struct example ex;
                char why[128];

                if (example_decode(out[i].data, out[i].len, &ex, why,
                                   sizeof(why)) == 0) {
                    nd++;
                    example_free(&ex);
                }
            }
            total += n;
            store_blobs_free(out, n);
        }
        ok(total == 301 && nd == total,
           "batch: all %zu stored records decode (%zu)", total, nd);
    }
    queue_stop(q, 3000);
    store_free(st);
    cfg_release(c);
}

/* t_wide_push - n explicit examples of one class of per symbols each;
 * examples 2j and 2j + 1 fire the same per names (the first of them
 * replaced by the class's FREQ_ symbol, which all fire) */
static void
t_wide_push(struct store *st, int spam, int first, int n, int per)
{
    for (int e = 0; e < n; e++) {
        struct hdr_result r;
        struct example ex;
        char err[128] = "";
        void *blob;
        size_t len;

        hdr_result_init(&r);
        r.upstream = HDR_UPSTREAM_RSPAMD;
        r.action = spam ? HDR_ACTION_REJECT : HDR_ACTION_NO_ACTION;
        r.required = 15;
        r.sym = xcalloc((size_t)per, sizeof(*r.sym));
        for (int k = 0; k < per; k++) {
            snprintf(r.sym[r.nsym].name, sizeof(r.sym[r.nsym].name),
                     "%s%05d", spam ? "WS" : "WH", first + e / 2 * per + k);
            r.nsym++;
        }
        /* every example also fires its class's frequent symbol */
        snprintf(r.sym[0].name, sizeof(r.sym[0].name), "%s",
                 spam ? "FREQ_SPAM" : "FREQ_HAM");
        r.score = spam ? 20 : -5;
        if (example_from_result(&ex, &r, spam, 1, 1700000000 + e) != 0 ||
            example_encode(&ex, &blob, &len, err, sizeof(err)) != 0 ||
            store_example_push(st, spam, blob, len, 100000) != 0)
            ok(0, "wide: push: %s", err);
        free(blob);
        example_free(&ex);
        hdr_result_free(&r);
    }
}

/* t_case_wide - more symbols fire twice than a profile may hold: the
 * FEAT_MAX_SYMBOLS most frequent make it */
static void
t_case_wide(void)
{
    struct cfg *c = t_cfg("wide", t_sock, "t-wide",
                          "max_epochs = 1\nmin_class = 1\n");
    struct store *st = t_store(c);
    struct trainer_report rep;
    struct model *m;
    int rc;

    /* 23 pairs of examples per class share 99 names each: 4,554 names
     * fire twice, plus the two FREQ_ ones in every example: more than
     * FEAT_MAX_SYMBOLS */
    t_wide_push(st, 1, 0, 46, 100);
    t_wide_push(st, 0, 0, 46, 100);
    rc = trainer_run(st, c, 1, "t-wide", &rep);
    t_report("wide", rc, &rep);
    ok(rc == 0 && rep.trained, "wide: trained (%s)", rep.reason);
    is_int((int)rep.nsym, FEAT_MAX_SYMBOLS, "wide: a profile of "
           "FEAT_MAX_SYMBOLS symbols");
    if (watch_poll_once(st, STORE_VIA_READ, NULL, &m) == WATCH_LOADED) {
        ok(feat_profile_index(model_profile(m), "FREQ_SPAM") >= 0 &&
               feat_profile_index(model_profile(m), "FREQ_HAM") >= 0,
           "wide: the most frequent symbols are in it");
        model_release(m);
    } else {
        ok(0, "wide: the model loads");
    }
    store_free(st);
    cfg_release(c);
}

/* main - run the cases */
int
main(void)
{
    int64_t t0 = t_now_ms();

    t_sock = getenv("NM_REDIS_SOCK");
    t_tmp = getenv("NM_TMPDIR");
    if (t_sock == NULL || t_sock[0] == '\0')
        skip_all("NM_REDIS_SOCK not set (run t/unit/trainer.sh)");
    if (t_tmp == NULL || t_tmp[0] == '\0')
        skip_all("NM_TMPDIR not set (run t/unit/trainer.sh)");
    if (log_init("t_trainer", 1, NULL) != 0)
        return 1;

    t_case_store();
    t_case_learn();
    t_case_due();
    t_case_lock();
    t_case_race();
    t_case_guard();
    t_case_iterations();
    t_case_profile();
    t_case_counter();
    t_case_stolen();
    t_case_bad_records();
    t_case_queue();
    t_case_batch();
    t_case_reply_burst();
    t_case_wide();
    diag("%.1f s", (double)(t_now_ms() - t0) / 1000.0);
    return exit_status();
}
