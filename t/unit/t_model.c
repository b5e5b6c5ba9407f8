/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_model - the network module: creation, blob round trip and every
 * rejection of a damaged or hostile blob (limits at N and N + 1), the
 * score adjustment, training on a synthetic problem, the sparse pass
 * against libfann's fann_run() and a sparse epoch against fann_train(),
 * and eight threads scoring one shared model against the serial results. Includes <zstd.h> itself
 * to build tampered blobs; links the static libs like the daemon.
 */
#include "config.h"
#include "model.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include "../tap.h"
#include "util.h"
#include "xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define ERRLEN 256
#define T_ACT_LAST 17u  /* FANN_COS, libfann 2.2's last activation */

/* ---------------------------------------------------------------- helpers */

/* t_rand - a small LCG so the tests never depend on rand() */
static uint32_t
t_rand(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 33);
}

/* t_unif - uniform in [0, 1) */
static double
t_unif(uint64_t *s)
{
    return t_rand(s) / 4294967296.0;
}

/* t_prof - nsym names "S0000".. (name_len > 0 pads the first name) */
static struct feat_profile *
t_prof(size_t nsym, int with_scores)
{
    char **names = xreallocarray(NULL, nsym, sizeof(*names));
    struct feat_profile *p;

    for (size_t i = 0; i < nsym; i++) {
        names[i] = xmalloc(32);
        snprintf(names[i], 32, "S%04zu", i);
    }
    p = feat_profile_new((const char *const *)names, nsym, with_scores);
    for (size_t i = 0; i < nsym; i++)
        free(names[i]);
    free(names);
    return p;
}

/* t_model - a model over t_prof() */
static struct model *
t_model(size_t nsym, int with_scores, const unsigned *hidden, size_t nh,
        uint32_t seed)
{
    return model_new(t_prof(nsym, with_scores), hidden, nh, seed);
}

/* t_inputs - n random vectors of width nin in [-1, 1] */
static float *
t_inputs(size_t n, size_t nin, uint64_t seed)
{
    float *x = xreallocarray(NULL, n * nin, sizeof(*x));
    uint64_t s = seed;

    for (size_t i = 0; i < n * nin; i++)
        x[i] = (float)(2 * t_unif(&s) - 1);
    return x;
}

/* t_blob - model_to_blob or die */
static void *
t_blob(const struct model *m, size_t *len)
{
    char err[ERRLEN];
    void *b = NULL;

    if (model_to_blob(m, &b, len, err, sizeof(err)) != 0) {
        diag("model_to_blob: %s", err);
        exit(1);
    }
    return b;
}

/* t_unzstd - decompress a blob into a malloc'd payload */
static unsigned char *
t_unzstd(const void *blob, size_t len, size_t *rawlen)
{
    unsigned long long n = ZSTD_getFrameContentSize(blob, len);
    unsigned char *raw;

    if (n == ZSTD_CONTENTSIZE_ERROR || n == ZSTD_CONTENTSIZE_UNKNOWN)
        exit(1);
    raw = xmalloc(n);
    if (ZSTD_decompress(raw, n, blob, len) != n)
        exit(1);
    *rawlen = n;
    return raw;
}

/* t_zstd - compress a payload like model_to_blob() */
static void *
t_zstd(const void *raw, size_t rawlen, size_t *len)
{
    size_t bound = ZSTD_compressBound(rawlen);
    void *out = xmalloc(bound);

    *len = ZSTD_compress(out, bound, raw, rawlen, 3);
    if (ZSTD_isError(*len))
        exit(1);
    return out;
}

/* t_fix_sum - rewrite the trailing checksum of a tampered payload */
static void
t_fix_sum(unsigned char *raw, size_t rawlen)
{
    uint64_t h = util_hash64(raw, rawlen - 8, UTIL_HASH64_INIT);

    for (int i = 0; i < 8; i++)
        raw[rawlen - 8 + i] = (unsigned char)(h >> (8 * i));
}

/* t_rd32 / t_wr32 - little-endian u32 in a payload */
static uint32_t
t_rd32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static void
t_wr32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* Where the fields of a format-1 payload are (see doc/model-format.md). */
struct t_layout {
    size_t digest, nsym, names, nlayers, layers, act, nweights, weights,
        meta, thresholds, map, sum;
};

/* t_parse - find the fields of a well-formed payload */
static void
t_parse(const unsigned char *raw, size_t rawlen, struct t_layout *L)
{
    size_t off, nl, nw;

    L->digest = 12;
    L->nsym = 24;
    L->names = off = 28;
    for (uint32_t i = 0; i < t_rd32(raw + L->nsym); i++)
        off += 2 + (raw[off] | (size_t)raw[off + 1] << 8);
    L->nlayers = off;
    nl = t_rd32(raw + off);
    L->layers = off + 4;
    L->act = L->layers + 4 * nl;
    L->nweights = L->act + 8 * (nl - 1);
    nw = t_rd32(raw + L->nweights);
    L->weights = L->nweights + 4;
    L->meta = L->weights + 4 * nw;
    L->thresholds = L->meta + 8 + 7 * 4 + 4 * 8;
    L->map = L->thresholds + 16;
    L->sum = rawlen - 8;
}

/* t_load - model_from_blob of a payload, with err; returns the rc */
static int
t_load_raw(const unsigned char *raw, size_t rawlen, char *err,
           struct model **out)
{
    size_t len;
    void *blob = t_zstd(raw, rawlen, &len);
    struct model *m = NULL;
    int rc = model_from_blob(blob, len, &m, err, ERRLEN);

    free(blob);
    if (out != NULL)
        *out = m;
    else
        model_release(m);
    return rc;
}

/* t_same_outputs - bit-identical scores of two models on n vectors */
static int
t_same_outputs(struct model *a, struct model *b, size_t n, uint64_t seed)
{
    size_t nin = model_ninputs(a);
    float *x;
    int same = 1;

    if (model_ninputs(b) != nin)
        return 0;
    x = t_inputs(n, nin, seed);
    for (size_t i = 0; i < n; i++) {
        double pa, pb;

        if (model_score(a, x + i * nin, nin, &pa) != 0 ||
            model_score(b, x + i * nin, nin, &pb) != 0 ||
            memcmp(&pa, &pb, sizeof(pa)) != 0)
            same = 0;
    }
    free(x);
    return same;
}

/* t_map_eq - every field of two maps equal, doubles to the bit */
static int
t_map_eq(const struct model_map *a, const struct model_map *b)
{
    const double da[] = {a->sure, a->level, a->slope, a->pull,
                         a->spam_weight, a->ham_weight, a->auc_up,
                         a->auc_adj};
    const double db[] = {b->sure, b->level, b->slope, b->pull,
                         b->spam_weight, b->ham_weight, b->auc_up,
                         b->auc_adj};
    int same = a->kind == b->kind && a->n_spam == b->n_spam &&
               a->n_ham == b->n_ham && a->nthr == b->nthr &&
               memcmp(da, db, sizeof(da)) == 0;

    for (uint32_t k = 0; same && k < a->nthr && k < MODEL_MAP_MAX_THR; k++)
        same = memcmp(&a->thr[k].at, &b->thr[k].at, 8) == 0 &&
               a->thr[k].fp_up == b->thr[k].fp_up &&
               a->thr[k].fp_adj == b->thr[k].fp_adj &&
               a->thr[k].tp_up == b->thr[k].tp_up &&
               a->thr[k].tp_adj == b->thr[k].tp_adj;
    return same;
}

/* t_meta_eq - every field equal, doubles to the bit */
static int
t_meta_eq(const struct model_meta *a, const struct model_meta *b)
{
    const double da[] = {a->val_auc, a->val_mse, a->val_tpr, a->val_fpr,
                         a->spam_threshold, a->ham_threshold};
    const double db[] = {b->val_auc, b->val_mse, b->val_tpr, b->val_fpr,
                         b->spam_threshold, b->ham_threshold};

    return a->trained_at == b->trained_at && a->n_spam == b->n_spam &&
           a->n_ham == b->n_ham && a->n_val_spam == b->n_val_spam &&
           a->n_val_ham == b->n_val_ham && a->n_explicit == b->n_explicit &&
           a->iterations == b->iterations && a->epochs == b->epochs &&
           memcmp(da, db, sizeof(da)) == 0 && t_map_eq(&a->map, &b->map);
}

/* ------------------------------------------------------------ creation */

/* t_new - shapes, ids, failures */
static void
t_new(void)
{
    unsigned h1[] = {8}, h2[] = {16, 4}, bad0[] = {0},
             big[] = {CFG_LAYER_MAX}, big1[] = {CFG_LAYER_MAX + 1},
             big2[] = {CFG_LAYER_MAX, CFG_LAYER_MAX + 1},
             sizes[MODEL_MAX_LAYERS];
    struct model *m, *m2, *m3;
    char want[64];
    float *x;
    double p;

    m = t_model(10, 0, h1, 1, 1);
    ok(m != NULL, "model_new 10 symbols, 1 hidden layer");
    if (m == NULL)
        exit(1);
    is_int(model_ninputs(m), 10 + FEAT_NMETA, "ninputs");
    is_int(model_layers(m, sizes), 3, "three layers");
    ok(sizes[0] == 12 && sizes[1] == 8 && sizes[2] == 1, "layer sizes");
    snprintf(want, sizeof(want), "%s.0",
             feat_profile_digest(model_profile(m)));
    is_str(model_id(m), want, "id DIGEST.0 before a version");
    model_set_version(m, 7);
    snprintf(want, sizeof(want), "%s.7",
             feat_profile_digest(model_profile(m)));
    is_str(model_id(m), want, "id DIGEST.7");
    is_int(model_version(m), 7, "version 7");
    model_set_version(m, UINT64_MAX);
    snprintf(want, sizeof(want), "%s.18446744073709551615",
             feat_profile_digest(model_profile(m)));
    is_str(model_id(m), want, "id with the largest version fits");
    is_dbl(model_meta(m)->spam_threshold, 1.0, 0, "spam threshold 1.0");
    is_dbl(model_meta(m)->ham_threshold, 0.0, 0, "ham threshold 0.0");

    x = t_inputs(1, 12, 5);
    ok(model_score(m, x, 12, &p) == 0 && p >= 0 && p <= 1,
       "score in [0, 1]");
    is_int(model_score(m, x, 11, &p), -1, "score with n - 1 inputs: -1");
    is_int(model_score(m, x, 13, &p), -1, "score with n + 1 inputs: -1");

    /* a muted input no longer moves the score; the others still do */
    {
        struct model *mm = t_model(10, 0, h1, 1, 1);
        double p0 = -1, p1 = -2, q = -3;
        int r0, r1, rq;

        model_input_mute(mm, 10);
        model_input_mute(mm, 12); /* out of range: ignored */
        x[10] = 0;
        r0 = model_score(mm, x, 12, &p0);
        x[10] = 1;
        r1 = model_score(mm, x, 12, &p1);
        x[11] = x[11] > 0.5f ? 0 : 1;
        rq = model_score(mm, x, 12, &q);
        ok(r0 == 0 && r1 == 0 && p1 == p0,
           "muted input 10: 0 and 1 give the same p (%.9f, %.9f)", p0, p1);
        ok(rq == 0 && q != p1, "input 11 still moves p (%.9f, %.9f)", p1, q);
        model_release(mm);
    }
    free(x);

    /* the same seed gives the same net, another seed another one */
    m2 = t_model(10, 0, h1, 1, 1);
    m3 = t_model(10, 0, h1, 1, 2);
    ok(t_same_outputs(m, m2, 8, 3), "same seed, same outputs");
    ok(!t_same_outputs(m, m3, 8, 3), "other seed, other outputs");
    model_release(m2);
    model_release(m3);
    model_release(m);

    m = t_model(10, 1, h2, 2, 1);
    ok(m != NULL && model_layers(m, sizes) == 4 && sizes[0] == 22 &&
           sizes[1] == 16 && sizes[2] == 4 && sizes[3] == 1,
       "two hidden layers over a score profile");
    model_release(m);

    /* failures free the profile (LeakSanitizer checks) */
    ok(t_model(10, 0, h1, 0, 1) == NULL, "no hidden layer: NULL");
    ok(t_model(10, 0, h2, 3, 1) == NULL, "three hidden layers: NULL");
    ok(t_model(10, 0, bad0, 1, 1) == NULL, "hidden size 0: NULL");
    ok(model_new(NULL, h1, 1, 1) == NULL, "no profile: NULL");
    m = t_model(2, 0, big, 1, 1);
    ok(m != NULL, "hidden layer of CFG_LAYER_MAX %d", CFG_LAYER_MAX);
    model_release(m);
    ok(t_model(2, 0, big1, 1, 1) == NULL,
       "hidden layer of CFG_LAYER_MAX + 1: NULL");
    ok(t_model(2, 0, big2, 2, 1) == NULL,
       "second hidden layer of CFG_LAYER_MAX + 1: NULL");

    model_release(NULL);
    ok(model_acquire(NULL) == NULL, "acquire/release NULL");
}

/* ------------------------------------------------------------ round trip */

/* t_roundtrip - outputs, meta, profile, layers survive the blob */
static void
t_roundtrip(void)
{
    unsigned h[] = {16, 5}, s1[MODEL_MAX_LAYERS], s2[MODEL_MAX_LAYERS];
    struct model_meta mt = {
        .trained_at = 1732665600,
        .n_spam = 1234,
        .n_ham = 4321,
        .n_val_spam = 99,
        .n_val_ham = 101,
        .n_explicit = 17,
        .iterations = 3,
        .epochs = 42,
        .val_auc = 0.987654321,
        .val_mse = 1.0 / 3.0,
        .val_tpr = 0.9,
        .val_fpr = 0.01,
        .spam_threshold = 0.7312345678901234,
        .ham_threshold = 0.0000001234,
        .map = { .kind = MODEL_MAP_FIT, .sure = 0.987654321,
                 .level = 5.578125, .slope = 1.5, .pull = 0.75,
                 .spam_weight = 5, .ham_weight = -3, .n_spam = 40,
                 .n_ham = 276, .auc_up = 0.65625, .auc_adj = 0.96875,
                 .nthr = 2,
                 .thr = { { 15, 1, 0, 0, 1 }, { 6, 30, 12, 20, 38 } } },
    };
    struct model *m, *l = NULL, *c;
    void *b, *b2;
    size_t len, len2;
    char err[ERRLEN] = "";
    size_t n1, n2;

    m = t_model(25, 1, h, 2, 11);
    model_set_meta(m, &mt);
    model_set_version(m, 5);
    b = t_blob(m, &len);
    diag("blob of a 52-16-5-1 net: %zu bytes", len);
    ok(len <= MODEL_MAX_BLOB, "blob within the limit");
    is_int(model_from_blob(b, len, &l, err, sizeof(err)), 0,
           "round trip loads");
    if (l == NULL) {
        diag("%s", err);
        exit(1);
    }
    ok(t_same_outputs(m, l, 32, 77), "32 outputs bit-for-bit equal");
    ok(t_meta_eq(model_meta(l), &mt), "meta round-trips exactly");
    is_str(feat_profile_digest(model_profile(l)),
           feat_profile_digest(model_profile(m)), "same profile digest");
    is_int(feat_profile_scores(model_profile(l)), 1, "score flag kept");
    is_int(feat_profile_nsym(model_profile(l)), 25, "symbols kept");
    n1 = model_layers(m, s1);
    n2 = model_layers(l, s2);
    ok(n1 == n2 && memcmp(s1, s2, n1 * sizeof(*s1)) == 0, "same layers");
    is_int(model_version(l), 0, "a loaded model has version 0");
    b2 = t_blob(l, &len2);
    ok(len2 == len && memcmp(b, b2, len) == 0,
       "re-encoding gives the same bytes");
    free(b2);

    c = model_copy(l);
    ok(c != NULL && t_same_outputs(l, c, 16, 5), "model_copy scores alike");
    ok(c != NULL && model_meta(c)->spam_threshold == mt.spam_threshold,
       "model_copy keeps the meta");
    model_release(c);
    ok(model_acquire(l) == l, "acquire returns the model");
    model_release(l); /* the second reference */
    ok(model_ninputs(l) == 52, "still alive with one reference");
    model_release(l);
    model_release(m);
    free(b);
}

/* --------------------------------------------------------------- rejects */

/* t_expect - rc -1, *out NULL and err containing want */
static void
t_expect(int rc, struct model *m, const char *err, const char *want,
         const char *label)
{
    int good = rc == -1 && m == NULL && strstr(err, want) != NULL;

    ok(good, "%s", label);
    if (!good)
        diag("  rc %d, err \"%s\", want \"%s\"", rc, err, want);
    model_release(m);
}

/* T_LOAD - run a loader call into l, then t_expect (in that order) */
#define T_LOAD(call, want, label)                                            \
    do {                                                                     \
        int rc_;                                                             \
                                                                             \
        l = NULL;                                                            \
        err[0] = '\0';                                                       \
        rc_ = (call);                                                        \
        t_expect(rc_, l, err, want, label);                                  \
    } while (0)

/* t_rejects - every damaged payload fails with its reason */
static void
t_rejects(void)
{
    unsigned h[] = {6};
    struct model *m, *l;
    void *b, *b2;
    unsigned char *raw, *t;
    size_t len, rawlen, nrej, nbad;
    struct t_layout L;
    char err[ERRLEN];
    float nan_f = NAN, inf_f = INFINITY;
    double nan_d = NAN;
    size_t cuts[] = {1, 4, 5, 13, 0, 0, 0}; /* the zeros are set below */

    m = t_model(12, 0, h, 1, 3);
    b = t_blob(m, &len);
    raw = t_unzstd(b, len, &rawlen);
    t_parse(raw, rawlen, &L);
    t = xmalloc(rawlen + 16);

    /* the untouched payload loads: the tampering below is the cause */
    memcpy(t, raw, rawlen);
    is_int(t_load_raw(t, rawlen, err, NULL), 0, "untampered payload loads");

    /* truncated compressed blob */
    cuts[4] = len / 2;
    cuts[5] = len - 1;
    cuts[6] = len - 4;
    for (size_t i = 0; i < NELEM(cuts); i++) {
        char label[80];

        snprintf(label, sizeof(label), "blob cut to %zu of %zu bytes",
                 cuts[i], len);
        T_LOAD(model_from_blob(b, cuts[i], &l, err, sizeof(err)), "", label);
    }
    is_int(model_from_blob(b, 0, &l, err, sizeof(err)), -1, "empty blob");

    /* truncated payload, checksum fixed so the parser meets the end */
    {
        size_t at[] = {L.digest + 3, L.nsym + 2, L.names + 5, L.nlayers + 2,
                       L.act + 3, L.weights + 10, L.meta + 12, L.map - 1,
                       L.map + 10, L.sum - 1};
        const char *what[] = {"digest", "profile", "names", "layer count",
                              "activations", "weights", "meta", "meta",
                              "map", "map"};

        for (size_t i = 0; i < NELEM(at); i++) {
            char label[80];

            memcpy(t, raw, at[i]);
            memset(t + at[i], 0, 8);
            t_fix_sum(t, at[i] + 8);
            l = NULL;
            snprintf(label, sizeof(label), "payload cut in the %s: "
                     "truncated", what[i]);
            T_LOAD(t_load_raw(t, at[i] + 8, err, &l), "truncated",
                   label);
        }
        memcpy(t, raw, 10);
        T_LOAD(t_load_raw(t, 10, err, &l), "too short",
               "payload of 10 bytes: too short");
    }

    /* trailing bytes in the payload */
    memcpy(t, raw, rawlen - 8);
    memset(t + rawlen - 8, 0, 1);
    t_fix_sum(t, rawlen + 1);
    T_LOAD(t_load_raw(t, rawlen + 1, err, &l), "unexpected bytes",
           "a byte between the meta and the checksum");

    /* every flipped bit in the payload (checksum left alone) */
    nbad = 0;
    for (size_t i = 0; i < rawlen; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(t, raw, rawlen);
            t[i] ^= (unsigned char)(1u << bit);
            err[0] = '\0';
            if (t_load_raw(t, rawlen, err, NULL) != -1 ||
                (i >= 12 && strstr(err, "checksum") == NULL))
                nbad++;
        }
    }
    is_int(nbad, 0, "each of %zu payload bytes flipped (bits 0, 7): "
           "rejected, past the header by the checksum", rawlen);

    /* every flipped byte in the compressed blob: rejected, or zstd
     * ignored it and the model is the same to the byte */
    nrej = nbad = 0;
    b2 = xmalloc(len);
    for (size_t i = 0; i < len; i++) {
        memcpy(b2, b, len);
        ((unsigned char *)b2)[i] ^= 0xff;
        l = NULL;
        if (model_from_blob(b2, len, &l, err, sizeof(err)) == -1) {
            nrej += l == NULL;
            nbad += l != NULL;
        } else {
            void *b3;
            size_t len3;

            b3 = t_blob(l, &len3);
            if (len3 != len || memcmp(b3, b, len) != 0)
                nbad++;
            free(b3);
            model_release(l);
        }
    }
    is_int(nbad, 0, "each of %zu compressed bytes flipped: no other model "
           "comes out", len);
    ok(nrej > len * 9 / 10, "%zu of %zu flipped bytes rejected", nrej, len);
    memcpy(b2, b, len);
    ((unsigned char *)b2)[len / 2] ^= 0x10;
    l = NULL;
    is_int(model_from_blob(b2, len, &l, err, sizeof(err)), -1,
           "a flipped byte in the middle of the frame rejected");
    free(b2);

    /* field by field, with a correct checksum */
    memcpy(t, raw, rawlen);
    t[0] = 'X';
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "magic", "wrong magic");

    memcpy(t, raw, rawlen);
    t_wr32(t + 8, 3);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "version",
           "format version 3");
    memcpy(t, raw, rawlen);
    t_wr32(t + 8, 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "unexpected bytes after the meta",
           "format version 1 with a map");
    memcpy(t, raw, rawlen);
    t_wr32(t + 8, 0);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "version",
           "format version 0");

    memcpy(t, raw, rawlen);
    t[L.digest] = t[L.digest] == '0' ? '1' : '0';
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "digest mismatch",
           "digest mismatch");
    memcpy(t, raw, rawlen);
    t[L.digest] = 'G';
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "hex",
           "digest not hex");

    memcpy(t, raw, rawlen);
    t_wr32(t + 20, 2);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "with_scores",
           "score flag 2");
    memcpy(t, raw, rawlen);
    t_wr32(t + 20, 1); /* a valid flag, but not the digest's */
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "digest mismatch",
           "score flag 1 on a plain profile: digest mismatch");

    memcpy(t, raw, rawlen);
    t_wr32(t + L.nsym, 0);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "symbols, limit",
           "0 symbols");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.nsym, FEAT_MAX_SYMBOLS + 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "symbols, limit",
           "FEAT_MAX_SYMBOLS + 1 symbols");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.nsym, FEAT_MAX_SYMBOLS);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "truncated",
           "FEAT_MAX_SYMBOLS symbols claimed, fewer present: truncated");

    /* names: "S0000" "S0001" ... each u16 5 + 5 bytes */
    memcpy(t, raw, rawlen);
    memcpy(t + L.names + 2, "S0001", 5);
    memcpy(t + L.names + 9, "S0000", 5);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "out of order",
           "names out of order");
    memcpy(t, raw, rawlen);
    memcpy(t + L.names + 9, "S0000", 5);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "out of order",
           "name repeated");
    memcpy(t, raw, rawlen);
    t[L.names + 3] = '-';
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "not a valid name",
           "name with a '-'");
    memcpy(t, raw, rawlen);
    t[L.names] = 0;
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "not a valid name",
           "name of length 0");

    /* network */
    memcpy(t, raw, rawlen);
    t_wr32(t + L.layers, t_rd32(raw + L.layers) + 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "input layer",
           "input layer one wider than the profile");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.nlayers, MODEL_MAX_LAYERS + 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "layers, limit",
           "MODEL_MAX_LAYERS + 1 layers");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.nlayers, 2);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "layers, limit",
           "2 layers");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.layers + 4, CFG_LAYER_MAX + 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "hidden layer",
           "hidden layer of CFG_LAYER_MAX + 1");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.layers + 4, 0);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "hidden layer",
           "hidden layer of 0");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.layers + 8, 2);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "output layer",
           "two outputs");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.act, 99);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "activation",
           "unknown activation");
    memcpy(t, raw, rawlen);
    memcpy(t + L.act + 4, &nan_f, 4);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "steepness",
           "NaN steepness");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.nweights, t_rd32(raw + L.nweights) - 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "weights, the layers",
           "weight count one short");
    memcpy(t, raw, rawlen);
    memcpy(t + L.weights + 4 * 3, &nan_f, 4);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "weight 3 is not "
           "finite", "NaN weight");
    memcpy(t, raw, rawlen);
    memcpy(t + L.meta - 4, &inf_f, 4);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "not finite",
           "infinite last weight");
    memcpy(t, raw, rawlen);
    memcpy(t + L.thresholds, &nan_d, 8);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "threshold",
           "NaN spam threshold");
    memcpy(t, raw, rawlen);
    memcpy(t + L.thresholds + 8, &nan_d, 8);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "threshold",
           "NaN ham threshold");
    /* the map: kind, then sure level slope pull at 4, 12, 20, 28 */
    memcpy(t, raw, rawlen);
    t_wr32(t + L.map, MODEL_MAP_KINDS);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "map out of range",
           "unknown map kind");
    memcpy(t, raw, rawlen);
    memcpy(t + L.map + 12, &nan_d, 8);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "map value 1 is not finite",
           "NaN map level");
    {
        double v = 1.5;

        memcpy(t, raw, rawlen);
        memcpy(t + L.map + 28, &v, 8);
        t_fix_sum(t, rawlen);
        T_LOAD(t_load_raw(t, rawlen, err, &l), "map out of range",
               "map pull 1.5");
        v = -0.25;
        memcpy(t, raw, rawlen);
        memcpy(t + L.map + 4, &v, 8);
        t_fix_sum(t, rawlen);
        T_LOAD(t_load_raw(t, rawlen, err, &l), "map out of range",
               "map sure below 0");
    }
    memcpy(t, raw, rawlen);
    t_wr32(t + L.map + 4 + 6 * 8 + 2 * 4 + 2 * 8, MODEL_MAP_MAX_THR + 1);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "map out of range",
           "map with MODEL_MAP_MAX_THR + 1 thresholds");
    memcpy(t, raw, rawlen);
    t_wr32(t + L.map + 4 + 6 * 8 + 2 * 4 + 2 * 8, 1);
    memcpy(t + L.map + 4 + 6 * 8 + 2 * 4 + 2 * 8 + 4, &nan_d, 8);
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "map threshold 0 is not finite",
           "NaN map threshold");
    /* an unused slot must be zero, as model_to_blob() writes it: a blob
     * decodes only when it encodes back to itself (found by fuzzing) */
    memcpy(t, raw, rawlen);
    t[L.map + 4 + 6 * 8 + 2 * 4 + 2 * 8 + 4 + 7] = 0x3f; /* 2^-15 */
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l),
           "map threshold slot 0 is unused but not zero",
           "a value in an unused map threshold slot");
    memcpy(t, raw, rawlen);
    t[rawlen - 8 - 1] = 1; /* tp_adj of the last slot */
    t_fix_sum(t, rawlen);
    T_LOAD(t_load_raw(t, rawlen, err, &l), "is unused but not zero",
           "a count in the last unused map threshold slot");

    free(t);
    free(raw);
    free(b);
    model_release(m);
}

/* t_frame - a zstd frame by hand: declared content size fcs, one raw
 * block of 5 bytes (so the frame parses but does not hold fcs bytes) */
static size_t
t_frame(unsigned char *f, uint64_t fcs)
{
    size_t n = 0;

    t_wr32(f, 0xFD2FB528u); /* magic */
    n = 4;
    f[n++] = 0xC0;          /* 8-byte content size, window descriptor */
    f[n++] = 0x58;          /* window 2^21 */
    for (int i = 0; i < 8; i++)
        f[n++] = (unsigned char)(fcs >> (8 * i));
    /* block header: last, raw, 5 bytes */
    f[n++] = (unsigned char)(1 | (5 << 3));
    f[n++] = 0;
    f[n++] = 0;
    memcpy(f + n, "hello", 5);
    return n + 5;
}

/* t_limits - blob and raw size limits at N and N + 1, odd frames */
static void
t_limits(void)
{
    unsigned h[] = {1}, h2[] = {CFG_LAYER_MAX, 1};
    struct model *m, *l = NULL;
    unsigned char f[64];
    unsigned char *big, *raw;
    void *b, *b2;
    size_t len, len2, rawlen, flen;
    char err[ERRLEN];
    ZSTD_CCtx *cc;

    /* blob bytes */
    big = xcalloc(MODEL_MAX_BLOB + 1, 1);
    T_LOAD(model_from_blob(big, MODEL_MAX_BLOB + 1, &l, err, sizeof(err)),
           "exceeds the limit", "MODEL_MAX_BLOB + 1 bytes");
    l = NULL;
    is_int(model_from_blob(big, MODEL_MAX_BLOB, &l, err, sizeof(err)), -1,
           "MODEL_MAX_BLOB bytes of zeros rejected...");
    ok(strstr(err, "exceeds") == NULL && strstr(err, "zstd") != NULL,
       "... by zstd, not by the size limit (%s)", err);
    free(big);

    /* decompressed bytes, from the frame header */
    flen = t_frame(f, (uint64_t)MODEL_MAX_RAW + 1);
    T_LOAD(model_from_blob(f, flen, &l, err, sizeof(err)),
           "decompressed size", "content size MODEL_MAX_RAW + 1");
    flen = t_frame(f, MODEL_MAX_RAW);
    l = NULL;
    is_int(model_from_blob(f, flen, &l, err, sizeof(err)), -1,
           "content size MODEL_MAX_RAW (5 bytes present) rejected...");
    ok(strstr(err, "decompressed size") == NULL && strstr(err, "zstd"),
       "... by zstd, not by the size limit (%s)", err);
    flen = t_frame(f, 5);
    T_LOAD(model_from_blob(f, flen, &l, err, sizeof(err)),
           "too short", "a frame of 5 bytes: payload too short");

    /* frames without content size, with trailing bytes, not zstd */
    m = t_model(12, 0, h, 1, 1);
    b = t_blob(m, &len);
    raw = t_unzstd(b, len, &rawlen);
    cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    b2 = xmalloc(ZSTD_compressBound(rawlen) + 8);
    len2 = ZSTD_compress2(cc, b2, ZSTD_compressBound(rawlen), raw, rawlen);
    ok(!ZSTD_isError(len2) && ZSTD_getFrameContentSize(b2, len2) ==
                                  ZSTD_CONTENTSIZE_UNKNOWN,
       "test frame without content size built");
    T_LOAD(model_from_blob(b2, len2, &l, err, sizeof(err)),
           "without a content size", "frame content size unknown");
    ZSTD_freeCCtx(cc);
    memcpy(b2, b, len);
    ((unsigned char *)b2)[len] = 0;
    T_LOAD(model_from_blob(b2, len + 1, &l, err, sizeof(err)),
           "after the zstd frame", "a byte after the frame");
    T_LOAD(model_from_blob("NMMODEL", 8, &l, err, sizeof(err)),
           "not a zstd frame", "an uncompressed payload");
    free(b2);
    free(raw);
    free(b);
    model_release(m);

    /* FEAT_MAX_SYMBOLS symbols and the widest hidden layer round-trip */
    m = t_model(FEAT_MAX_SYMBOLS, 0, h, 1, 9);
    ok(m != NULL, "model over FEAT_MAX_SYMBOLS symbols");
    b = t_blob(m, &len);
    l = NULL;
    is_int(model_from_blob(b, len, &l, err, sizeof(err)), 0,
           "FEAT_MAX_SYMBOLS symbols round-trip");
    ok(l != NULL && t_same_outputs(m, l, 4, 1), "... with equal outputs");
    model_release(l);
    model_release(m);
    free(b);
    m = t_model(3, 0, h2, 2, 9);
    ok(m != NULL, "model with a hidden layer of CFG_LAYER_MAX");
    b = t_blob(m, &len);
    l = NULL;
    is_int(model_from_blob(b, len, &l, err, sizeof(err)), 0,
           "hidden layer of CFG_LAYER_MAX round-trips");
    model_release(l);
    model_release(m);
    free(b);

    /* a name of HDR_MAX_NAME bytes round-trips; one of HDR_MAX_NAME + 1
     * (spliced into the payload) does not */
    {
        char name[HDR_MAX_NAME + 1];
        const char *names[] = {name, "B"};
        struct feat_profile *p;
        unsigned char *t;

        memset(name, 'A', HDR_MAX_NAME);
        name[HDR_MAX_NAME] = '\0';
        p = feat_profile_new(names, 2, 0);
        m = model_new(p, h, 1, 4);
        b = t_blob(m, &len);
        l = NULL;
        is_int(model_from_blob(b, len, &l, err, sizeof(err)), 0,
               "a name of HDR_MAX_NAME bytes round-trips");
        model_release(l);
        raw = t_unzstd(b, len, &rawlen);
        t = xmalloc(rawlen + 1);
        memcpy(t, raw, 28);
        t[28] = HDR_MAX_NAME + 1;
        t[29] = 0;
        t[30] = 'A';
        memcpy(t + 31, raw + 30, rawlen - 30);
        t_fix_sum(t, rawlen + 1);
        T_LOAD(t_load_raw(t, rawlen + 1, err, &l),
               "not a valid name", "a name of HDR_MAX_NAME + 1 bytes");
        free(t);
        free(raw);
        free(b);
        model_release(m);
    }
}

/* ------------------------------------------------------ biggest model */

/* t_prof_wide - nsym distinct names of HDR_MAX_NAME bytes each */
static struct feat_profile *
t_prof_wide(size_t nsym, int with_scores)
{
    char **names = xreallocarray(NULL, nsym, sizeof(*names));
    struct feat_profile *p;

    for (size_t i = 0; i < nsym; i++) {
        names[i] = xmalloc(HDR_MAX_NAME + 1);
        memset(names[i], 'A', HDR_MAX_NAME - 5);
        snprintf(names[i] + HDR_MAX_NAME - 5, 6, "%05zu", i);
    }
    p = feat_profile_new((const char *const *)names, nsym, with_scores);
    for (size_t i = 0; i < nsym; i++)
        free(names[i]);
    free(names);
    return p;
}

/* t_status_kb - a "Vm...:" figure of /proc/self/status in kB, or -1 */
static long
t_status_kb(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    size_t kl = strlen(key);
    long v = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, kl) == 0 && line[kl] == ':')
            v = strtol(line + kl + 1, NULL, 10);
    fclose(f);
    return v;
}

/* t_rss_main - "t_model rss": in this fresh process, decode the blob on
 * stdin and print "rc decode_kb score_kb err": how far the decode raised
 * the peak RSS above the RSS before it, and the same after one score
 * (which reads the shared net and copies nothing) */
static int
t_rss_main(void)
{
    size_t len = 0, cap = 1u << 20;
    unsigned char *buf = xmalloc(cap);
    char err[ERRLEN] = "";
    struct model *m = NULL;
    long rss0, hwm1, hwm2;
    size_t n;
    FILE *f;
    int rc;

    while ((n = fread(buf + len, 1, cap - len, stdin)) > 0) {
        len += n;
        if (len == cap)
            buf = xreallocarray(buf, cap *= 2, 1);
    }
    /* the peak so far is the reading: start the peak over from here
     * (Linux 4.0 on; without it the figures can only be higher) */
    if ((f = fopen("/proc/self/clear_refs", "w")) != NULL) {
        fputs("5", f);
        fclose(f);
    }
    rss0 = t_status_kb("VmRSS");
    rc = model_from_blob(buf, len, &m, err, sizeof(err));
    hwm1 = t_status_kb("VmHWM");
    hwm2 = hwm1;
    if (m != NULL) {
        struct feat_pair x[3] = {{0, 1.0f}, {17, 1.0f}, {4100, 0.5f}};
        double p;

        if (model_score_sparse(m, x, 3, &p) != 0)
            rc = -2;
        hwm2 = t_status_kb("VmHWM");
    }
    printf("%d %ld %ld %s\n", rc, hwm1 - rss0, hwm2 - rss0, err);
    model_release(m);
    free(buf);
    return 0;
}

/* t_rss - run t_rss_main() in a fresh copy of this program over blob;
 * 0 with its figures, -1 when that failed */
static int
t_rss(const void *blob, size_t len, int *rc, long *decode_kb,
      long *score_kb, char *err)
{
    int in[2], out[2], status, got = -1;
    char line[ERRLEN + 64] = "";
    FILE *f;
    pid_t pid;

    if (pipe(in) != 0 || pipe(out) != 0 || (pid = fork()) < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execl("/proc/self/exe", "t_model", "rss", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    f = fdopen(in[1], "w");
    if (f != NULL) {
        fwrite(blob, 1, len, f);
        fclose(f);
    } else {
        close(in[1]);
    }
    f = fdopen(out[0], "r");
    if (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        int off = 0;

        if (sscanf(line, "%d %ld %ld %n", rc, decode_kb, score_kb, &off) ==
                3 &&
            off > 0) {
            snprintf(err, ERRLEN, "%s", line + off);
            err[strcspn(err, "\n")] = '\0';
            got = 0;
        }
    }
    if (f != NULL)
        fclose(f);
    else
        close(out[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0)
        got = -1;
    return got;
}

/* t_bomb - a zstd frame of size zeros, declaring its size: a few KB
 * that would decompress to size bytes */
static void *
t_bomb(size_t size, size_t *len)
{
    size_t chunk = 1u << 20, cap = 1u << 20;
    unsigned char *zero = xcalloc(chunk, 1), *out = xmalloc(cap);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_outBuffer ob = {out, cap, 0};

    if (cc == NULL ||
        ZSTD_isError(ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 1)) ||
        ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(cc, size)))
        exit(1);
    for (size_t done = 0; done < size;) {
        size_t n = size - done < chunk ? size - done : chunk;
        ZSTD_inBuffer ib = {zero, n, 0};
        int last = done + n == size;
        size_t rem;

        do {
            rem = ZSTD_compressStream2(cc, &ob, &ib,
                                       last ? ZSTD_e_end : ZSTD_e_continue);
            if (ZSTD_isError(rem) || ob.pos == ob.size)
                exit(1);
        } while (ib.pos < ib.size || (last && rem != 0));
        done += n;
    }
    ZSTD_freeCCtx(cc);
    free(zero);
    *len = ob.pos;
    return out;
}

/* t_biggest - the biggest valid model (FEAT_MAX_SYMBOLS names of
 * HDR_MAX_NAME bytes with scores, two hidden layers of CFG_LAYER_MAX) is
 * a payload of exactly MODEL_MAX_RAW and round-trips; one byte more is
 * refused from the frame header; what decoding it costs; a 200 MB
 * zstd bomb is refused without allocating */
static void
t_biggest(void)
{
    unsigned h[] = {CFG_LAYER_MAX, CFG_LAYER_MAX}, sizes[MODEL_MAX_LAYERS];
    struct model *m, *l = NULL;
    unsigned char *raw, *t;
    void *b, *b2;
    size_t len, len2, rawlen;
    char err[ERRLEN];
    long dkb = -1, skb = -1;
    int rc = -1;

    m = model_new(t_prof_wide(FEAT_MAX_SYMBOLS, 1), h, 2, 17);
    ok(m != NULL && model_ninputs(m) == MODEL_MAX_INPUTS,
       "the biggest model: %u inputs", MODEL_MAX_INPUTS);
    if (m == NULL)
        exit(1);
    ok(model_layers(m, sizes) == 4 && sizes[1] == CFG_LAYER_MAX &&
           sizes[2] == CFG_LAYER_MAX, "... two hidden layers of %d",
       CFG_LAYER_MAX);
    b = t_blob(m, &len);
    raw = t_unzstd(b, len, &rawlen);
    is_int(rawlen, MODEL_MAX_RAW, "... a payload of exactly MODEL_MAX_RAW "
           "(%u) bytes", MODEL_MAX_RAW);
    ok(len <= MODEL_MAX_BLOB, "... a blob of %zu bytes, within "
       "MODEL_MAX_BLOB (%u)", len, MODEL_MAX_BLOB);
    is_int(model_from_blob(b, len, &l, err, sizeof(err)), 0,
           "... round-trips");
    ok(l != NULL && t_same_outputs(m, l, 4, 8), "... with equal outputs");
    if (l != NULL) {
        b2 = t_blob(l, &len2);
        ok(len2 == len && memcmp(b, b2, len) == 0,
           "... and re-encodes to the same bytes");
        free(b2);
    }
    model_release(l);

    /* MODEL_MAX_RAW + 1: a byte before the checksum, refused for the
     * frame's declared size, not for the byte */
    t = xmalloc(rawlen + 1);
    memcpy(t, raw, rawlen - 8);
    t[rawlen - 8] = 0;
    t_fix_sum(t, rawlen + 1);
    T_LOAD(t_load_raw(t, rawlen + 1, err, &l), "exceeds the limit",
           "a payload of MODEL_MAX_RAW + 1 bytes");
    free(t);

    if (t_rss(b, len, &rc, &dkb, &skb, err) != 0) {
        ok(0, "decoding measured in a fresh process");
    } else {
        diag("peak RSS decoding the biggest model (%zu-byte blob, %u "
             "weights): +%ld kB; after one score: +%ld kB", len,
             MODEL_MAX_WEIGHTS, dkb, skb);
        ok(rc == 0 && dkb > 0, "decoded in a fresh process (%s)", err);
        /* half the daemon's 64 MiB; ASan's shadow adds a little */
        ok(dkb < 32 * 1024, "decoding peaks well under the daemon's 64 MiB: "
           "+%ld kB", dkb);
        /* a copy of its net would be 13 MB; sanitizers' own allocations
         * for a first call add a few hundred kB */
        ok(skb - dkb < 1024, "scoring the biggest model raises the peak by "
           "%ld kB (no copy of its net)", skb - dkb);
    }
    free(raw);
    free(b);
    model_release(m);

    /* a frame declaring 200 MB: refused from its header */
    b = t_bomb(200u << 20, &len);
    ok(ZSTD_getFrameContentSize(b, len) == 200u << 20 && len < 16384,
       "a %zu-byte frame declaring 200 MB", len);
    T_LOAD(model_from_blob(b, len, &l, err, sizeof(err)),
           "exceeds the limit", "... refused for its declared size");
    if (t_rss(b, len, &rc, &dkb, &skb, err) != 0) {
        ok(0, "the 200 MB frame measured in a fresh process");
    } else {
        diag("peak RSS refusing the 200 MB frame: +%ld kB", dkb);
        ok(rc == -1 && dkb < 1024, "... without allocating for it: +%ld kB "
           "(%s)", dkb, err);
    }
    free(b);
}

/* -------------------------------------------------------------- golden */

/* t_golden_meta - the meta of t/data/model/format1.blob */
static struct model_meta
t_golden_meta(void)
{
    struct model_meta mt = {
        .trained_at = 1732665600,
        .n_spam = 1200,
        .n_ham = 1300,
        .n_val_spam = 300,
        .n_val_ham = 310,
        .n_explicit = 42,
        .iterations = 2,
        .epochs = 37,
        .val_auc = 0.9921875,
        .val_mse = 0.03125,
        .val_tpr = 0.875,
        .val_fpr = 0.0078125,
        .spam_threshold = 0.8125,
        .ham_threshold = 0.1875,
    };

    return mt;
}

/* t_golden - a stored format-1 blob still loads, scores as pinned, and
 * the same recipe still encodes to the same payload */
static void
t_golden(void)
{
    static const float x[4][10] = {
        {0},
        {1, 1, 1, 1, 0.5f, -0.5f, 0.25f, 0.75f, 0.6f, 0.1f},
        {1, 0, 0, 1, 0.9f, 0, 0, -0.2f, -0.3f, 0.05f},
        {0, 1, 1, 0, 0, 0.8f, 0.1f, 0, 0.99f, 0.2f},
    };
    static const double want[4] = {0.59985578060150146, 0.57004725933074951,
                                   0.52631080150604248, 0.55736255645751953};
    const char *names[] = {"R_SPF_ALLOW", "BAYES_SPAM", "MIME_GOOD",
                           "DKIM_VALID"};
    const char *top = getenv("top_srcdir"), *suffix = "/t/unit/t_model.c";
    char topbuf[4096];
    struct model_meta mt = t_golden_meta();
    unsigned h[] = {6};
    char path[4096], err[ERRLEN];
    unsigned char *buf, *raw1, *raw2;
    size_t len, len2, rawlen1, rawlen2;
    struct model *m = NULL, *n;
    void *b2;
    FILE *f;

    /* make check sets top_srcdir; by hand, an absolute __FILE__ will do */
    if (top == NULL) {
        const char *file = __FILE__;
        size_t fl = strlen(file), sl = strlen(suffix);

        if (file[0] == '/' && fl > sl && fl < sizeof(topbuf) &&
            strcmp(&file[fl - sl], suffix) == 0) {
            memcpy(topbuf, file, fl - sl);
            topbuf[fl - sl] = '\0';
            top = topbuf;
        }
    }
    if (top == NULL) {
        ok(1, "golden blob # SKIP top_srcdir not set (run by make check)");
        return;
    }
    snprintf(path, sizeof(path), "%s/t/data/model/format1.blob", top);
    if ((f = fopen(path, "rb")) == NULL) {
        ok(0, "open %s", path);
        return;
    }
    buf = xmalloc(65536);
    len = fread(buf, 1, 65536, f);
    fclose(f);
    is_int(model_from_blob(buf, len, &m, err, sizeof(err)), 0,
           "format1.blob loads");
    if (m == NULL) {
        diag("%s", err);
        free(buf);
        return;
    }
    is_str(model_id(m), "db89f37e.0", "golden id");
    ok(t_meta_eq(model_meta(m), &mt), "golden meta");
    for (int i = 0; i < 4; i++) {
        double p = -1;
        int rc = model_score(m, x[i], 10, &p);

        ok(rc == 0 && fabs(p - want[i]) < 1e-7, "golden output %d: %.9f", i,
           p);
    }

    is_int(model_meta(m)->map.kind, MODEL_MAP_RAMP,
           "format 1: the threshold ramps");

    /* written as format 2: the same fields, version 2, and the map (of
     * kind RAMP, all zero) before the checksum */
    n = model_new(feat_profile_new(names, 4, 1), h, 1, 2024);
    model_set_meta(n, &mt);
    b2 = t_blob(n, &len2);
    raw1 = t_unzstd(buf, len, &rawlen1);
    raw2 = t_unzstd(b2, len2, &rawlen2);
    {
        int same = rawlen2 == rawlen1 + MODEL_MAP_BYTES &&
                   memcmp(raw1, raw2, 8) == 0 && t_rd32(raw1 + 8) == 1 &&
                   t_rd32(raw2 + 8) == 2 &&
                   memcmp(raw1 + 12, raw2 + 12, rawlen1 - 20) == 0;

        for (size_t i = rawlen1 - 8; same && i < rawlen2 - 8; i++)
            same = raw2[i] == 0;
        ok(same, "the same recipe encodes to the format-1 payload (%zu "
           "bytes), as version 2, plus %u bytes of map", rawlen1,
           MODEL_MAP_BYTES);
    }
    free(raw1);
    free(raw2);
    free(b2);
    free(buf);
    model_release(n);
    model_release(m);
}

/* ------------------------------------------------------------- adjust */

/* t_golden2 - t/data/model/format2.blob (the format-1 recipe with the
 * map of t_golden2_map()) loads with its map and re-encodes to the same
 * payload */
static void
t_golden2(void)
{
    const char *names[] = {"R_SPF_ALLOW", "BAYES_SPAM", "MIME_GOOD",
                           "DKIM_VALID"};
    const char *top = getenv("top_srcdir");
    struct model_meta mt = t_golden_meta();
    unsigned h[] = {6};
    char path[4096], err[ERRLEN];
    unsigned char *buf, *raw1, *raw2;
    size_t len, len2, rawlen1, rawlen2;
    struct model *m = NULL, *n;
    void *b2;
    FILE *f;

    mt.map = (struct model_map){
        .kind = MODEL_MAP_FIT, .sure = 0.90625, .level = 5.5, .slope = 1.5,
        .pull = 1, .spam_weight = 5, .ham_weight = -3, .n_spam = 133,
        .n_ham = 292, .auc_up = 0.75, .auc_adj = 0.984375, .nthr = 1,
        .thr = { { 15, 2, 0, 1, 3 } } };
    if (top == NULL) {
        ok(1, "golden blob 2 # SKIP top_srcdir not set (run by make check)");
        return;
    }
    n = model_new(feat_profile_new(names, 4, 1), h, 1, 2024);
    model_set_meta(n, &mt);
    b2 = t_blob(n, &len2);
    snprintf(path, sizeof(path), "%s/t/data/model/format2.blob", top);
    if (getenv("NM_WRITE_GOLDEN") != NULL && (f = fopen(path, "wb"))) {
        /* how the file was made: NM_WRITE_GOLDEN=1 t_model */
        fwrite(b2, 1, len2, f);
        fclose(f);
    }
    if ((f = fopen(path, "rb")) == NULL) {
        ok(0, "open %s", path);
        free(b2);
        model_release(n);
        return;
    }
    buf = xmalloc(65536);
    len = fread(buf, 1, 65536, f);
    fclose(f);
    is_int(model_from_blob(buf, len, &m, err, sizeof(err)), 0,
           "format2.blob loads");
    ok(m != NULL && t_meta_eq(model_meta(m), &mt), "golden 2: meta and map");
    ok(m != NULL && t_same_outputs(m, n, 4, 9), "golden 2: outputs");
    raw1 = t_unzstd(buf, len, &rawlen1);
    raw2 = t_unzstd(b2, len2, &rawlen2);
    ok(rawlen1 == rawlen2 && memcmp(raw1, raw2, rawlen1) == 0,
       "golden 2: the same recipe encodes to the same payload (%zu bytes)",
       rawlen1);
    free(raw1);
    free(raw2);
    free(b2);
    free(buf);
    model_release(n);
    model_release(m);
}

/* t_map - model_map_apply(), model_map_adjust() and model_map_fit() */
static void
t_map(void)
{
    struct model_map mp = { .kind = MODEL_MAP_FIT, .sure = 0.9, .level = 6,
                            .slope = 1, .pull = 1 };
    unsigned h[] = {4};
    struct model *m = t_model(5, 0, h, 1, 1);
    struct model_meta mt = *model_meta(m);
    enum { N = 600 };
    double p[N], u[N], thr[1] = { 5.0 }, c[N];
    unsigned char lab[N];
    struct model_map a, b;
    uint64_t s = 99;
    size_t fp_up = 0, fp_adj = 0;
    int rc;

    /* the formula: logit(0.5) = 0 */
    is_dbl(model_map_apply(&mp, 0.5, 4, 5, -3), 0, 0,
           "below sure: 6 - 4 = +2 is not allowed, 0");
    is_dbl(model_map_apply(&mp, 0.5, 8, 5, -3), -2, 1e-12,
           "below sure, downwards: 6 - 8 = -2");
    is_dbl(model_map_apply(&mp, 0.5, 20, 5, -3), -3, 0,
           "clamped to ham_weight");
    is_dbl(model_map_apply(&mp, 0.95, 4, 5, -3), 6 + log(19) - 4, 1e-12,
           "sure: 6 + logit(0.95) - 4");
    is_dbl(model_map_apply(&mp, 1.0, -20, 5, -3), 5, 0,
           "clamped to spam_weight");
    is_dbl(model_map_apply(&mp, NAN, 4, 5, -3), 0, 0, "NaN p: 0");
    is_dbl(model_map_apply(&mp, 0.95, INFINITY, 5, -3), 0, 0,
           "infinite upstream: 0");

    /* the guard, on both kinds */
    mt.map = mp;
    model_set_meta(m, &mt);
    is_dbl(model_map_adjust(m, 0.95, 4, 1, 5, -3),
           model_map_apply(&mp, 0.95, 4, 5, -3), 0, "known 1: all of it");
    is_dbl(model_map_adjust(m, 0.95, 4, 0.25, 5, -3),
           0.25 * model_map_apply(&mp, 0.95, 4, 5, -3), 1e-12,
           "known 0.25: a quarter");
    is_dbl(model_map_adjust(m, 0.95, 4, 0, 5, -3), 0, 0, "known 0: 0");
    is_dbl(model_map_adjust(m, 0.95, 4, NAN, 5, -3), 0, 0, "known NaN: 0");
    is_dbl(model_map_adjust(m, 0.95, 4, 7, 5, -3),
           model_map_apply(&mp, 0.95, 4, 5, -3), 0, "known > 1 counts as 1");
    mt.map.kind = MODEL_MAP_RAMP;
    mt.spam_threshold = 0.8;
    mt.ham_threshold = 0.2;
    model_set_meta(m, &mt);
    is_dbl(model_map_adjust(m, 0.9, 4, 0.5, 5, -3),
           0.5 * model_adjust(m, 0.9, 5, -3), 1e-12,
           "ramps, known 0.5: half of model_adjust()");

    /* a fit: a weak upstream, a strong network; one threshold at 5 */
    for (int i = 0; i < N; i++) {
        /* t_rand() gives 31 bits: t_unif() lies in [0, 0.5) */
        double r1 = 2 * t_unif(&s), r2 = 2 * t_unif(&s);

        lab[i] = i % 4 == 0;
        u[i] = (lab[i] ? 3.0 : 2.0) + 8.0 * r1 - 4.0;
        p[i] = lab[i] ? 0.6 + 0.4 * r2 : 0.5 * r2 * r2;
        if (i == 1)
            p[i] = 0.99; /* a ham the network is wrong about */
    }
    is_int(model_map_fit(p, u, lab, 60, thr, 1, 0.5, 5, -3, &a), -1,
           "15 spam held back: no fit");
    ok(a.kind == MODEL_MAP_RAMP && a.n_spam == 15 && a.n_ham == 45,
       "... the ramps, with the counts");
    is_int(model_map_fit(p, u, lab, N, thr, 1, 0.5, 5, -3, &a), 0, "a fit");
    is_int(a.kind, MODEL_MAP_FIT, "... of kind FIT");
    ok(a.auc_adj > a.auc_up + 0.1, "... upstream + adjust ranks better: "
       "AUC %.4f -> %.4f", a.auc_up, a.auc_adj);
    for (int i = 0; i < N; i++) {
        c[i] = u[i] + model_map_apply(&a, p[i], u[i], 5, -3);
        if (!lab[i]) {
            fp_up += u[i] >= 5;
            fp_adj += c[i] >= 5;
        }
    }
    ok(a.nthr == 1 && a.thr[0].at == 5 && a.thr[0].fp_up == fp_up &&
           a.thr[0].fp_adj == fp_adj && fp_adj <= fp_up,
       "... no more ham at 5 than the upstream: %zu -> %zu", fp_up,
       fp_adj);
    ok(a.pull >= 0 && a.pull <= 1 && a.slope > 0 && a.sure >= 0.5 &&
           a.spam_weight == 5 && a.ham_weight == -3,
       "... values in range: level %.2f slope %.2f pull %.2f sure %.4f",
       a.level, a.slope, a.pull, a.sure);
    ok(model_map_fit(p, u, lab, N, thr, 1, 0.5, 5, -3, &b) == 0 &&
           t_map_eq(&a, &b), "the same rows fit the same map");
    /* sure_min binds only below 200 held-back ham */
    ok(model_map_fit(p, u, lab, N, thr, 1, 0.97, 5, -3, &b) == 0 &&
           t_map_eq(&a, &b), "450 ham: sure_min 0.97 changes nothing");
    rc = model_map_fit(p, u, lab, 160, thr, 1, 0.97, 5, -3, &b);
    ok(rc == 0 && b.sure >= 0.97, "120 ham: sure %.4f >= sure_min 0.97",
       b.sure);
    rc = model_map_fit(p, u, lab, 160, thr, 1, 0.5, 5, -3, &b);
    ok(rc == 0 && b.sure < 0.97, "120 ham, sure_min 0.5: sure %.4f < 0.97",
       b.sure);
    /* the threshold binds: with every ham at 4.9 the fit may move none
     * of them to 5, though the network is sure of one */
    for (int i = 0; i < N; i++)
        if (!lab[i])
            u[i] = 4.9;
    is_int(model_map_fit(p, u, lab, N, thr, 1, 0.5, 5, -3, &a), 0,
           "ham at 4.9: a fit");
    fp_adj = 0;
    for (int i = 0; i < N; i++)
        fp_adj += !lab[i] && u[i] + model_map_apply(&a, p[i], u[i], 5, -3) >=
                                 5;
    ok(fp_adj == 0 && a.thr[0].fp_up == 0 && a.thr[0].fp_adj == 0,
       "... and no ham reaches 5 (the one at p 0.99 neither)");
    model_release(m);
}

/* t_adjust - the formula and its guards */
static void
t_adjust(void)
{
    static const struct {
        double ts, th, p, sw, hw, want;
    } cases[] = {
        {0.8, 0.2, 0.9, 4, -3, 2.0},   /* halfway from ts to 1 */
        {0.8, 0.2, 1.0, 4, -3, 4.0},   /* the full spam weight */
        {0.8, 0.2, 0.8, 4, -3, 0.0},   /* at ts: zero */
        {0.8, 0.2, 0.5, 4, -3, 0.0},   /* between: zero */
        {0.8, 0.2, 0.2, 4, -3, 0.0},   /* at th: zero */
        {0.8, 0.2, 0.1, 4, -3, -1.5},  /* halfway from th to 0 */
        {0.8, 0.2, 0.0, 4, -3, -3.0},  /* the full ham weight */
        {0.8, 0.2, 1.5, 4, -3, 4.0},   /* p clamped to 1 */
        {0.8, 0.2, -0.5, 4, -3, -3.0}, /* p clamped to 0 */
        {0.8, 0.2, NAN, 4, -3, 0.0},   /* no p, no adjustment */
        {1.0, 0.0, 1.0, 4, -3, 0.0},   /* fresh model: both sides off */
        {1.0, 0.0, 0.0, 4, -3, 0.0},
        {1.2, -0.1, 1.0, 4, -3, 0.0},  /* beyond the range: off */
        {1.2, -0.1, 0.0, 4, -3, 0.0},
        {0.5, 0.5, 0.5, 4, -3, 0.0},   /* both at p: zero either way */
        {0.5, 0.5, 0.75, 4, -3, 2.0},
        {0.5, 0.5, 0.25, 4, -3, -1.5},
        {0.999999, 0.000001, 1.0, 4, -3, 4.0}, /* near the guards */
        {0.999999, 0.000001, 0.0, 4, -3, -3.0},
        {0.6, 0.4, 0.8, 0, 0, 0.0},    /* zero weights */
    };
    unsigned h[] = {2};
    struct model *m = t_model(3, 0, h, 1, 1);
    struct model_meta mt = *model_meta(m);

    for (size_t i = 0; i < NELEM(cases); i++) {
        double got;

        mt.spam_threshold = cases[i].ts;
        mt.ham_threshold = cases[i].th;
        model_set_meta(m, &mt);
        got = model_adjust(m, cases[i].p, cases[i].sw, cases[i].hw);
        is_dbl(got, cases[i].want, 1e-9,
               "adjust ts %.6g th %.6g p %.6g -> %.6g", cases[i].ts,
               cases[i].th, cases[i].p, cases[i].want);
    }
    model_release(m);
}

/* ------------------------------------------------------------ training */

#define T_NSYM 40

/* t_example - one synthetic verdict as a vector: spam fires S0000-S0009
 * mostly, ham S0020-S0029, both some noise everywhere */
static void
t_example(const struct feat_profile *p, int spam, double noise, uint64_t *s,
          float *out)
{
    struct hdr_symbol sym[T_NSYM];
    struct hdr_result res;
    size_t unk, n = 0;

    memset(&res, 0, sizeof(res));
    for (size_t i = 0; i < T_NSYM; i++) {
        int own = spam ? i < 10 : i >= 20 && i < 30;
        double pr = own ? 0.6 : noise;

        if (t_unif(s) < pr) {
            snprintf(sym[n].name, sizeof(sym[n].name), "S%04zu", i);
            sym[n].score = 0;
            sym[n].len = 0; /* not recorded */
            n++;
        }
    }
    res.upstream = HDR_UPSTREAM_SA;
    res.nsym = n;
    res.sym = sym;
    /* the upstream score overlaps between the classes: the symbols
     * must carry the decision */
    res.score = spam ? 1.0 + 7 * t_unif(s) : 7 * t_unif(s) - 1;
    res.required = 5.0;
    if (feat_vector(p, &res, out, feat_ninputs(p), &unk) != 0)
        exit(1);
}

/* t_dataset - n examples, alternating spam and ham; a share flip of
 * them carries the wrong label (mistaken verdicts) */
static void
t_dataset(const struct feat_profile *p, size_t n, double noise, double flip,
          uint64_t seed, float **x, float **y)
{
    size_t nin = feat_ninputs(p);
    uint64_t s = seed;

    *x = xreallocarray(NULL, n * nin, sizeof(**x));
    *y = xreallocarray(NULL, n, sizeof(**y));
    for (size_t i = 0; i < n; i++) {
        int spam = (int)(i % 2);

        t_example(p, spam, noise, &s, *x + i * nin);
        (*y)[i] = (float)(t_unif(&s) < flip ? !spam : spam);
    }
}

/* t_check_thresholds - the definition, checked from outside */
static void
t_check_thresholds(struct model *m, const float *vx, const float *vy,
                   size_t nv, double fpr, const char *label)
{
    const struct model_meta *mt = model_meta(m);
    size_t nin = model_ninputs(m), nh = 0, ns = 0, ham_ge = 0,
           spam_le = 0, ham_ge_below = 0, spam_le_above = 0, spam_lt = 0,
           spam_at_ts = 0;
    double ts = mt->spam_threshold, th = mt->ham_threshold;
    double below = -1, above = 2; /* nearest outputs outside */
    double *out = xreallocarray(NULL, nv, sizeof(*out));

    for (size_t i = 0; i < nv; i++) {
        if (model_score(m, vx + i * nin, nin, &out[i]) != 0)
            exit(1);
        if (vy[i] >= 0.5f) {
            ns++;
            spam_le += out[i] <= th;
            spam_lt += out[i] < ts;
            spam_at_ts += out[i] == ts;
            if (out[i] > th && out[i] < above)
                above = out[i];
        } else {
            nh++;
            ham_ge += out[i] >= ts;
            if (out[i] < ts && out[i] > below)
                below = out[i];
        }
    }
    for (size_t i = 0; i < nv; i++) {
        if (vy[i] >= 0.5f)
            spam_le_above += out[i] <= above;
        else
            ham_ge_below += out[i] >= below;
    }
    ok(ts >= 0.5 && ts <= 1.0, "%s: spam threshold %.6f in [0.5, 1]", label,
       ts);
    ok(th >= 0.0 && th <= 0.5, "%s: ham threshold %.6f in [0, 0.5]", label,
       th);
    ok((double)ham_ge / (double)nh <= fpr,
       "%s: ham at or above ts %zu of %zu, within %.3f", label, ham_ge, nh,
       fpr);
    ok((double)spam_le / (double)ns <= fpr,
       "%s: spam at or below th %zu of %zu, within %.3f", label, spam_le, ns,
       fpr);
    /* lowest such p: lowering ts to the next ham output breaks the rate,
     * or ts is the edge of the spam (where the classes do not overlap) */
    ok(ts == 0.5 || below < 0 || (double)ham_ge_below / (double)nh > fpr ||
           (spam_at_ts && (double)spam_lt / (double)ns <= fpr),
       "%s: no lower spam threshold would do", label);
    ok(th == 0.5 || above > 1 || (double)spam_le_above / (double)ns > fpr,
       "%s: no higher ham threshold would do", label);
    is_dbl(mt->val_fpr, ts < 1 ? (double)ham_ge / (double)nh : 0, 1e-12,
           "%s: val_fpr is the ham share at or above ts", label);
    free(out);
}

/* t_train - separable synthetic problem, noisy problem, errors */
static void
t_train(void)
{
    unsigned h[] = {8};
    struct feat_profile *p = t_prof(T_NSYM, 0);
    struct model *m, *m2, *bad;
    struct model_train_opts opts = {200, 10, 0.01, 0.05, 0.05, 1, NULL, NULL};
    float *x, *y, *vx, *vy, *tx, *ty;
    size_t n = 400, nv = 200;
    char err[ERRLEN];
    double auc, mse;
    void *b1, *b2;
    size_t l1, l2;

    t_dataset(p, n, 0.1, 0, 1, &x, &y);
    t_dataset(p, nv, 0.1, 0, 2, &vx, &vy);
    t_dataset(p, 400, 0.1, 0, 3, &tx, &ty);
    feat_profile_free(p);

    m = t_model(T_NSYM, 0, h, 1, 42);
    m2 = model_copy(m);
    is_int(model_evaluate(m, tx, ty, 400, &auc, &mse), 0, "evaluate fresh");
    diag("fresh net: test AUC %.4f MSE %.4f", auc, mse);
    is_int(model_train(m, x, y, n, vx, vy, nv, &opts, err, sizeof(err)), 0,
           "train on the separable problem");
    diag("trained: %u epochs, val AUC %.4f MSE %.4f tpr %.3f fpr %.3f "
         "ts %.4f th %.4f", model_meta(m)->epochs, model_meta(m)->val_auc,
         model_meta(m)->val_mse, model_meta(m)->val_tpr,
         model_meta(m)->val_fpr, model_meta(m)->spam_threshold,
         model_meta(m)->ham_threshold);
    ok(model_meta(m)->val_auc > 0.95, "val AUC %.4f > 0.95",
       model_meta(m)->val_auc);
    ok(model_meta(m)->epochs >= 1 && model_meta(m)->epochs < 200,
       "early stopping after %u of at most 200 epochs",
       model_meta(m)->epochs);
    ok(model_meta(m)->val_mse < 0.1, "val MSE %.4f < 0.1",
       model_meta(m)->val_mse);
    ok(model_meta(m)->val_tpr > 0.5, "val TPR %.3f at the spam threshold",
       model_meta(m)->val_tpr);
    t_check_thresholds(m, vx, vy, nv, opts.target_fpr, "separable");
    /* no overlap: not the floor, but the edge of the spam */
    ok(model_meta(m)->spam_threshold > 0.5,
       "separable: spam threshold %.4f at the spam's edge, above 0.5",
       model_meta(m)->spam_threshold);
    is_int(model_evaluate(m, tx, ty, 400, &auc, &mse), 0,
           "evaluate on a test set");
    ok(auc > 0.95, "test AUC %.4f > 0.95", auc);
    is_int(model_evaluate(m, vx, vy, nv, &auc, &mse), 0,
           "evaluate on the validation set");
    is_dbl(auc, model_meta(m)->val_auc, 1e-12, "evaluate agrees: AUC");
    is_dbl(mse, model_meta(m)->val_mse, 1e-12, "evaluate agrees: MSE");
    is_int(model_evaluate(m, tx, ty, 0, &auc, &mse), 0, "evaluate n = 0");
    is_dbl(auc, 0.5, 0, "n = 0 gives AUC 0.5");

    /* training is deterministic: the copy trained alike is alike */
    is_int(model_train(m2, x, y, n, vx, vy, nv, &opts, err, sizeof(err)), 0,
           "train the copy taken before");
    b1 = t_blob(m, &l1);
    b2 = t_blob(m2, &l2);
    ok(l1 == l2 && memcmp(b1, b2, l1) == 0, "same data, same model");
    free(b1);
    free(b2);
    model_release(m2);

    /* continued training keeps at least the validation error it had */
    {
        double before = model_meta(m)->val_mse;
        struct model_train_opts o2 = {20, 3, 0.01, 0, 0.05, 2, NULL, NULL};

        is_int(model_train(m, x, y, n, vx, vy, nv, &o2, err, sizeof(err)), 0,
               "continue training");
        ok(model_meta(m)->val_mse <= before + 1e-12,
           "validation MSE not worse (%.6f <= %.6f)", model_meta(m)->val_mse,
           before);
    }

    /* without held-back examples the training set stands in */
    m2 = t_model(T_NSYM, 0, h, 1, 43);
    is_int(model_train(m2, x, y, n, NULL, NULL, 0, &opts, err, sizeof(err)),
           0, "train with nv = 0");
    ok(model_meta(m2)->val_auc > 0.95, "nv = 0: AUC on the training set");
    t_check_thresholds(m2, x, y, n, opts.target_fpr, "nv = 0");
    model_release(m2);

    /* noisier symbols and 8 % wrong labels: the thresholds move off 0.5
     * and the definitions are checked where they bite */
    {
        float *nx, *ny, *nvx, *nvy;
        struct model_train_opts o3 = {100, 8, 0.05, 0, 0.05, 3, NULL, NULL};
        struct feat_profile *pp = t_prof(T_NSYM, 0);

        t_dataset(pp, 600, 0.3, 0.08, 5, &nx, &ny);
        t_dataset(pp, 400, 0.3, 0.08, 6, &nvx, &nvy);
        feat_profile_free(pp);
        m2 = t_model(T_NSYM, 0, h, 1, 44);
        is_int(model_train(m2, nx, ny, 600, nvx, nvy, 400, &o3, err,
                           sizeof(err)),
               0, "train on the noisy problem");
        diag("noisy: %u epochs, val AUC %.4f tpr %.3f fpr %.3f ts %.4f "
             "th %.4f", model_meta(m2)->epochs, model_meta(m2)->val_auc,
             model_meta(m2)->val_tpr, model_meta(m2)->val_fpr,
             model_meta(m2)->spam_threshold, model_meta(m2)->ham_threshold);
        t_check_thresholds(m2, nvx, nvy, 400, o3.target_fpr, "noisy");
        model_release(m2);
        free(nx);
        free(ny);
        free(nvx);
        free(nvy);
    }

    /* refusals */
    bad = t_model(T_NSYM, 0, h, 1, 1);
    {
        struct model_train_opts o0 = {0, 10, 0.01, 0, 0.05, 1, NULL, NULL},
                                of = {10, 10, 1.5, 0, 0.05, 1, NULL, NULL},
                                or0 = {10, 10, 0.01, 0, 0, 1, NULL, NULL},
                                or2 = {10, 10, 0.01, 0, 2, 1, NULL, NULL};

        is_int(model_train(bad, x, y, n, vx, vy, nv, NULL, err, sizeof(err)),
               -1, "no options: -1");
        is_int(model_train(bad, x, y, n, vx, vy, nv, &o0, err, sizeof(err)),
               -1, "max_epochs 0: -1");
        is_int(model_train(bad, x, y, n, vx, vy, nv, &of, err, sizeof(err)),
               -1, "target_fpr 1.5: -1");
        is_int(model_train(bad, x, y, n, vx, vy, nv, &or0, err, sizeof(err)),
               -1, "learning_rate 0: -1");
        is_int(model_train(bad, x, y, n, vx, vy, nv, &or2, err, sizeof(err)),
               -1, "learning_rate 2: -1");
        is_int(model_train(bad, x, y, 0, vx, vy, nv, &opts, err,
                           sizeof(err)),
               -1, "no examples: -1");
        x[5] = NAN;
        is_int(model_train(bad, x, y, n, vx, vy, nv, &opts, err,
                           sizeof(err)),
               -1, "a NaN input: -1");
        ok(strstr(err, "finite") != NULL, "... says why (%s)", err);
    }
    model_release(bad);
    model_release(m);
    free(x);
    free(y);
    free(vx);
    free(vy);
    free(tx);
    free(ty);
}

/* -------------------------------------------------------------- sparse */

/* t_pairs - the non-zero entries of a dense vector in index order, then
 * shuffled by s unless s is NULL */
static size_t
t_pairs(const float *x, size_t nin, struct feat_pair *out, uint64_t *s)
{
    size_t n = 0;

    for (size_t i = 0; i < nin; i++)
        if (x[i] != 0) {
            out[n].idx = (uint32_t)i;
            out[n].val = x[i];
            n++;
        }
    for (size_t i = n; s != NULL && i > 1; i--) {
        size_t j = t_rand(s) % i;
        struct feat_pair t = out[i - 1];

        out[i - 1] = out[j];
        out[j] = t;
    }
    return n;
}

/* t_vec - a random input vector of one of the kinds the tests use:
 * 0 dense in [-1, 1], 1 sparse presence (about k ones) with their scores
 * and the meta-inputs, 2 sparse with large values (libfann's clamp),
 * 3 all zero */
static void
t_vec(float *x, size_t nin, int kind, uint64_t *s)
{
    size_t k = 1 + t_rand(s) % 40;

    memset(x, 0, nin * sizeof(*x));
    switch (kind) {
    case 0:
        for (size_t i = 0; i < nin; i++)
            x[i] = (float)(2 * t_unif(s) - 1);
        break;
    case 1:
        for (size_t j = 0; j < k; j++) {
            size_t i = t_rand(s) % nin;

            x[i] = 1.0f;
            if (i + nin / 2 < nin)
                x[i + nin / 2] = (float)(2 * t_unif(s) - 1);
        }
        x[nin - 1] = (float)t_unif(s);
        x[nin - 2] = (float)(2 * t_unif(s) - 1);
        break;
    case 2:
        for (size_t j = 0; j < k; j++)
            x[t_rand(s) % nin] = (float)(400 * t_unif(s) - 200);
        break;
    default:
        break;
    }
}

/* t_cmp_fann - model_score() and model_score_sparse() (pairs in index
 * order and shuffled) against libfann's fann_run() on nvec random vectors
 * of each kind; returns the largest absolute difference, or -1 on a
 * failure */
static double
t_cmp_fann(struct model *m, size_t nvec, uint64_t seed)
{
    size_t nin = model_ninputs(m);
    float *x = xreallocarray(NULL, nin, sizeof(*x));
    struct feat_pair *px = xreallocarray(NULL, nin, sizeof(*px));
    uint64_t s = seed;
    double worst = 0;

    for (size_t v = 0; v < nvec; v++) {
        double pf, pd, ps, pu;
        size_t n;

        t_vec(x, nin, (int)(v % 4), &s);
        n = t_pairs(x, nin, px, NULL);
        if (model_score_fann(m, x, nin, &pf) != 0 ||
            model_score(m, x, nin, &pd) != 0 ||
            model_score_sparse(m, px, n, &ps) != 0) {
            worst = -1;
            break;
        }
        n = t_pairs(x, nin, px, &s);
        if (model_score_sparse(m, px, n, &pu) != 0) {
            worst = -1;
            break;
        }
        if (fabs(pd - pf) > worst)
            worst = fabs(pd - pf);
        if (fabs(ps - pf) > worst)
            worst = fabs(ps - pf);
        if (fabs(pu - pf) > worst)
            worst = fabs(pu - pf);
    }
    free(x);
    free(px);
    return worst;
}

/* t_with_act - m's blob with every layer above the input set to
 * activation act and steepness steep, loaded again */
static struct model *
t_with_act(const struct model *m, uint32_t act, float steep)
{
    size_t len, rawlen;
    void *blob = t_blob(m, &len);
    unsigned char *raw = t_unzstd(blob, len, &rawlen);
    struct t_layout L;
    char err[ERRLEN];
    struct model *out = NULL;
    uint32_t sbits;

    memcpy(&sbits, &steep, sizeof(sbits));
    t_parse(raw, rawlen, &L);
    for (size_t l = 0; l + 1 < t_rd32(raw + L.nlayers); l++) {
        t_wr32(raw + L.act + 8 * l, act);
        t_wr32(raw + L.act + 8 * l + 4, sbits);
    }
    t_fix_sum(raw, rawlen);
    if (t_load_raw(raw, rawlen, err, &out) != 0)
        diag("activation %u: %s", act, err);
    free(raw);
    free(blob);
    return out;
}

/* t_sparse_extremes - at a small steepness libfann's clamp lets a unit's
 * sum reach +-150 / 0.01, where e^-2s is out of a double's range: the
 * sigmoids (FANN_SIGMOID 3, FANN_SIGMOID_SYMMETRIC 5) still give what
 * fann_run() gives */
static void
t_sparse_extremes(const struct model *m)
{
    static const float vals[] = {1e30f, -1e30f, FLT_MAX, -FLT_MAX, 1e3f,
                                 -1e3f, 1e5f, -1e5f, 3e5f, -3e5f, 1e6f,
                                 -1e6f};
    static const uint32_t acts[] = {3, 5};
    static const float steeps[] = {0.01f, 0.5f};
    unsigned bad = 0, n = 0;

    for (size_t a = 0; a < NELEM(acts); a++)
        for (size_t si = 0; si < NELEM(steeps); si++) {
            struct model *ma = t_with_act(m, acts[a], steeps[si]);

            for (size_t v = 0; ma != NULL && v < NELEM(vals); v++) {
                float dense[7] = {0};
                struct feat_pair x = {2, vals[v]};
                double p, pf;

                dense[2] = vals[v];
                n++;
                if (model_score_sparse(ma, &x, 1, &p) != 0 ||
                    model_score_fann(ma, dense, 7, &pf) != 0 ||
                    !(fabs(p - pf) <= 1e-6)) {
                    diag("activation %u steepness %g input %g: %g, "
                         "fann_run() %g", acts[a], (double)steeps[si],
                         (double)vals[v], p, pf);
                    bad++;
                }
            }
            if (ma == NULL)
                bad++;
            model_release(ma);
        }
    ok(bad == 0, "the sigmoids at huge sums equal fann_run() (%u cases)", n);
}

/* t_sparse - the sparse pass equals fann_run() within 1e-6 */
static void
t_sparse(void)
{
    static const struct {
        size_t nsym;
        int scores;
        unsigned h[2];
        size_t nh;
    } nets[] = {
        {10, 0, {16, 0}, 1},   {149, 1, {35, 0}, 1}, {50, 1, {20, 10}, 2},
        {200, 0, {128, 0}, 1}, {30, 1, {1, 0}, 1},   {40, 0, {7, 128}, 2},
    };
    static const float steeps[] = {0.5f, 1.0f, 3.7f};
    double worst = 0, w;
    unsigned nmodels = 0, bad = 0;

    for (size_t k = 0; k < NELEM(nets); k++) {
        struct model *m = t_model(nets[k].nsym, nets[k].scores, nets[k].h,
                                  nets[k].nh, (uint32_t)(40 + k));

        w = t_cmp_fann(m, 400, 1000 + k);
        if (w < 0 || w > 1e-6)
            bad++;
        if (w > worst)
            worst = w;
        nmodels++;
        /* every activation libfann 2.2 has, at three steepnesses */
        for (uint32_t act = 0; act <= T_ACT_LAST; act++)
            for (size_t si = 0; si < NELEM(steeps); si++) {
                struct model *a = t_with_act(m, act, steeps[si]);

                if (a == NULL) {
                    bad++;
                    continue;
                }
                w = t_cmp_fann(a, 40, 7 * act + si);
                if (w < 0 || w > 1e-6) {
                    diag("activation %u steepness %g: %g", act,
                         (double)steeps[si], w);
                    bad++;
                }
                if (w > worst)
                    worst = w;
                nmodels++;
                model_release(a);
            }
        model_release(m);
    }
    ok(bad == 0, "sparse and dense scores equal fann_run() within 1e-6 on "
       "%u nets (every activation), max |diff| %.3g", nmodels, worst);

    /* out of range, NaN, empty */
    {
        unsigned h[] = {4};
        struct model *m = t_model(5, 0, h, 1, 3);
        struct feat_pair x[2] = {{6, 1.0f}, {0, 1.0f}};
        double p, pf;
        float zero[7] = {0};

        is_int(model_score_sparse(m, x, 1, &p), 0, "index ninputs - 1");
        x[0].idx = 7;
        is_int(model_score_sparse(m, x, 1, &p), -1, "index ninputs: -1");
        x[0].idx = 0;
        x[0].val = NAN;
        is_int(model_score_sparse(m, x, 1, &p), -1, "a NaN value: -1");
        x[0].val = INFINITY;
        is_int(model_score_sparse(m, x, 1, &p), -1, "an infinity: -1");
        x[0].val = -FLT_MAX;
        is_int(model_score_sparse(m, x, 1, &p), 0, "-FLT_MAX is finite");
        x[0].val = 1.0f;
        x[1].idx = 7;
        is_int(model_score_sparse(m, x, 2, &p), -1,
               "out of range after an ordered one: -1");
        x[1].idx = 0;
        x[1].val = NAN;
        x[0].idx = 6;
        is_int(model_score_sparse(m, x, 2, &p), -1,
               "a NaN after a pair out of order: -1");
        x[0].idx = 0;
        ok(model_score_sparse(m, NULL, 0, &p) == 0 &&
               model_score_fann(m, zero, 7, &pf) == 0 && fabs(p - pf) < 1e-6,
           "no non-zero input: the bias alone, as fann_run() says");
        t_sparse_extremes(m);
        model_release(m);
    }
}

/* t_rows - n random sparse examples of the t_vec() presence kind over
 * nin inputs, input 3 never set; labels from a few inputs */
static void
t_rows(size_t n, size_t nin, uint64_t seed, struct model_rows *rows,
       struct feat_pair **pair, size_t **off, float **y)
{
    float *x = xreallocarray(NULL, nin, sizeof(*x));
    uint64_t s = seed;
    size_t k = 0;

    *pair = xreallocarray(NULL, n * nin + 1, sizeof(**pair));
    *off = xreallocarray(NULL, n + 1, sizeof(**off));
    *y = xreallocarray(NULL, n, sizeof(**y));
    for (size_t r = 0; r < n; r++) {
        t_vec(x, nin, 1, &s);
        x[3] = 0;
        (*off)[r] = k;
        k += t_pairs(x, nin, *pair + k, NULL);
        (*y)[r] = x[0] + x[1] + x[2] + x[5] > 0 || t_unif(&s) < 0.3 ? 1.0f
                                                                    : 0.0f;
    }
    (*off)[n] = k;
    *rows = (struct model_rows){ .n = n, .off = *off, .pair = *pair,
                                 .y = *y };
    free(x);
}

/* t_train_fann - one epoch of model_train_epoch() equals libfann's
 * fann_train() over the same examples in the same order within 1e-5 */
static void
t_train_fann(void)
{
    static const struct {
        size_t nsym;
        unsigned h[2];
        size_t nh;
        size_t n;
    } nets[] = {
        {149, {35, 0}, 1, 3000}, {50, {20, 10}, 2, 2000}, {10, {4, 0}, 1, 500},
    };

    for (size_t k = 0; k < NELEM(nets); k++) {
        struct model *a = t_model(nets[k].nsym, 1, nets[k].h, nets[k].nh,
                                  (uint32_t)(7 + k));
        struct model *b = model_copy(a);
        size_t nin = model_ninputs(a), nw = model_weight_count(a), nrow;
        float *wa = xreallocarray(NULL, nw, sizeof(*wa));
        float *wb = xreallocarray(NULL, nw, sizeof(*wb));
        float *w0 = xreallocarray(NULL, nw, sizeof(*w0));
        struct model_rows rows;
        struct feat_pair *pair;
        size_t *off;
        float *y;
        uint32_t *order;
        uint64_t s = 99 + k;
        double ma, mb, worst = 0;
        unsigned untouched = 1;

        t_rows(nets[k].n, nin, 500 + k, &rows, &pair, &off, &y);
        /* an order with repeats, as oversampling gives */
        nrow = rows.n + rows.n / 4;
        order = xreallocarray(NULL, nrow, sizeof(*order));
        for (size_t i = 0; i < nrow; i++)
            order[i] = (uint32_t)(t_rand(&s) % rows.n);
        rows.n = nrow;
        rows.ex = order;
        model_weights(a, w0);
        ok(model_train_epoch(a, &rows, NULL, 0.03, 0.05, &ma) == 0 &&
               model_train_epoch_fann(b, &rows, NULL, 0.03, 0.05, &mb) == 0,
           "net %zu: one epoch of %zu steps, sparse and libfann", k, nrow);
        /* the sparse step keeps its first layer apart: sync for the
         * comparison the way training ends */
        {
            struct model *c = model_copy(a);

            model_weights(c, wa);
            model_release(c);
        }
        model_weights(b, wb);
        for (size_t i = 0; i < nw; i++)
            if (fabs((double)wa[i] - wb[i]) > worst)
                worst = fabs((double)wa[i] - wb[i]);
        /* input 3 never fired: its weights must not have moved at all */
        for (size_t j = 0; j < nets[k].h[0]; j++)
            untouched &= wa[j * (nin + 1) + 3] == w0[j * (nin + 1) + 3] &&
                         wb[j * (nin + 1) + 3] == w0[j * (nin + 1) + 3];
        ok(worst <= 1e-5, "net %zu: every one of %zu weights within 1e-5 "
           "of fann_train()'s (max |diff| %.3g)", k, nw, worst);
        ok(fabs(ma - mb) <= 1e-5, "net %zu: epoch MSE %.6f, libfann %.6f", k,
           ma, mb);
        ok(untouched, "net %zu: the weights of an input that never fired "
           "did not move", k);
        free(order);
        free(pair);
        free(off);
        free(y);
        free(wa);
        free(wb);
        free(w0);
        model_release(a);
        model_release(b);
    }
}

/* --------------------------------------------------------- concurrency */

#define T_THREADS 8
#define T_VECS 64

struct t_job {
    struct model *m;
    const float *x;
    const double *want;
    size_t nin;
    unsigned iters;
    unsigned long mismatches;
    unsigned long failures;
};

/* t_worker - score the shared model, compare with the serial results */
static void *
t_worker(void *arg)
{
    struct t_job *j = arg;

    for (unsigned i = 0; i < j->iters; i++) {
        size_t v = i % T_VECS;
        double p;

        if (model_score(j->m, j->x + v * j->nin, j->nin, &p) != 0)
            j->failures++;
        else if (memcmp(&p, &j->want[v], sizeof(p)) != 0)
            j->mismatches++;
    }
    return NULL;
}

/* t_current_worker - take and drop the current model many times */
static void *
t_current_worker(void *arg)
{
    struct t_job *j = arg;

    for (unsigned i = 0; i < j->iters; i++) {
        struct model *m = model_current_get();
        double p;

        if (m != NULL) {
            if (model_score(m, j->x, model_ninputs(m), &p) != 0)
                j->failures++;
            model_release(m);
        }
    }
    return NULL;
}

/* t_ignore_cfg - a cfg whose [model] ignore_symbols is patterns */
static struct cfg *
t_ignore_cfg(const char *patterns)
{
    char path[] = "/tmp/t_model-ignore.XXXXXX", err[ERRLEN];
    int fd = mkstemp(path);
    struct cfg *c;
    FILE *f;

    if (fd < 0 || (f = fdopen(fd, "w")) == NULL)
        return NULL;
    fprintf(f, "[model]\nignore_symbols = %s\n", patterns);
    fclose(f);
    c = cfg_load(path, err, sizeof(err));
    unlink(path);
    return c;
}

/* t_ignored - model_ignored(): cfg_symbol_ignored() of every profile
 * name, computed once per distinct setting, MODEL_IGNORE_SLOTS of them */
static void
t_ignored(void)
{
    static const char *const pat[] = { "S000*", "*1 !S0011", "S0002 S0003",
                                       "*9", "*8" };
    unsigned hidden[] = { 4 };
    struct model *m = t_model(40, 1, hidden, 1, 3);
    const unsigned char *f[NELEM(pat)];
    struct cfg *c[NELEM(pat)];
    int same = 1;

    for (size_t k = 0; k < NELEM(pat); k++) {
        c[k] = t_ignore_cfg(pat[k]);
        f[k] = c[k] != NULL ? model_ignored(m, c[k]) : NULL;
    }
    for (size_t k = 0; k + 1 < NELEM(pat); k++)
        for (size_t i = 0; f[k] != NULL && i < 40; i++)
            same &= f[k][i] == cfg_symbol_ignored(c[k],
                                feat_profile_name(model_profile(m), i));
    ok(f[0] && f[1] && f[2] && f[3] && same,
       "four settings: the flags are cfg_symbol_ignored()'s");
    ok(f[0][1] && f[1][1] && !f[1][11] && f[1][21] && !f[0][10],
       "patterns, a suffix and an exception");
    ok(model_ignored(m, c[1]) == f[1] && model_ignored(m, c[0]) == f[0],
       "computed once per setting");
    ok(f[4] == NULL, "a fifth setting: NULL (every symbol matched)");
    for (size_t k = 0; k < NELEM(pat); k++)
        cfg_release(c[k]);
    model_release(m);
}

/* t_threads - 8 threads x 10k scores equal the serial results */
static void
t_threads(void)
{
    unsigned h[] = {16};
    struct model *m = t_model(100, 0, h, 1, 99);
    size_t nin = model_ninputs(m);
    float *x = t_inputs(T_VECS, nin, 1234);
    double want[T_VECS];
    pthread_t th[T_THREADS];
    struct t_job job[T_THREADS];
    unsigned long mism = 0, fail = 0;
    const char *env = getenv("T_MODEL_ITERS");
    unsigned iters = env != NULL ? (unsigned)atoi(env) : 10000;

    for (size_t v = 0; v < T_VECS; v++)
        if (model_score(m, x + v * nin, nin, &want[v]) != 0)
            exit(1);
    for (int i = 0; i < T_THREADS; i++) {
        job[i] = (struct t_job){m, x, want, nin, iters, 0, 0};
        if (pthread_create(&th[i], NULL, t_worker, &job[i]) != 0)
            exit(1);
    }
    for (int i = 0; i < T_THREADS; i++) {
        pthread_join(th[i], NULL);
        mism += job[i].mismatches;
        fail += job[i].failures;
    }
    is_int(fail, 0, "%d threads x %u scores: no failure", T_THREADS, iters);
    is_int(mism, 0, "%d threads x %u scores: all equal the serial results",
           T_THREADS, iters);

    /* the current model swapped under readers */
    model_current_set(model_acquire(m));
    for (int i = 0; i < T_THREADS; i++) {
        job[i] = (struct t_job){m, x, want, nin, iters / 10, 0, 0};
        if (pthread_create(&th[i], NULL, t_current_worker, &job[i]) != 0)
            exit(1);
    }
    for (unsigned k = 0; k < 50; k++) {
        model_current_set(k % 5 == 4 ? NULL : model_copy(m));
    }
    fail = 0;
    for (int i = 0; i < T_THREADS; i++) {
        pthread_join(th[i], NULL);
        fail += job[i].failures;
    }
    is_int(fail, 0, "current model replaced 50 times under %d readers",
           T_THREADS);
    model_current_set(model_acquire(m));
    {
        struct model *c = model_current_get();

        ok(c == m, "model_current_get returns what was set");
        model_release(c);
    }
    model_current_set(NULL);
    ok(model_current_get() == NULL, "cleared: NULL");
    free(x);
    model_release(m);
}

int
main(int argc, char **argv)
{
    /* "t_model rss" is t_biggest()'s fresh process */
    if (argc > 1 && strcmp(argv[1], "rss") == 0)
        return t_rss_main();
    /* "t_model threads" runs only the concurrency part (for helgrind) */
    if (argc > 1 && strcmp(argv[1], "threads") == 0) {
        t_threads();
        return exit_status();
    }
    t_new();
    t_roundtrip();
    t_rejects();
    t_limits();
    t_biggest();
    t_golden();
    t_golden2();
    t_map();
    t_adjust();
    t_train();
    t_sparse();
    t_train_fann();
    t_ignored();
    t_threads();
    return exit_status();
}
