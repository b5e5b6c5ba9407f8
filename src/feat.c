/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * feat - the symbol profile (sorted, unique names plus the score flag, named
 * by a digest) and the one function that turns a parsed verdict into the
 * network's input vector. Owns nothing but its profiles, which are
 * immutable once built, so any thread may read them. Pure: no I/O, no
 * logging, no globals. Must not include libmilter, hiredis, fann or zstd.
 */
#include "config.h"
#include "feat.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xmalloc.h"

_Static_assert(FEAT_NMETA == 2, "feat_vector fills two meta inputs");

struct feat_profile {
    size_t nsym;
    char **name;       /* nsym pointers into buf, strictly ascending */
    char *buf;         /* the names, each NUL-terminated */
    int with_scores;
    char digest[FEAT_DIGEST_LEN + 1];
    /* the lookup table: open addressing over the names' hashes, at most
     * half full; a slot holds a name's index + 1, 0 is free */
    uint32_t *hash;    /* nsym: feat_hash() of each name */
    uint64_t *ends;    /* 2 * nsym: its first and last eight bytes, as
                          feat_ends() reads them */
    uint8_t *len;      /* nsym: each name's length (<= HDR_MAX_NAME) */
    uint32_t *slot;
    uint32_t mask;     /* slots - 1, a power of two minus one */
};

_Static_assert(HDR_MAX_NAME <= UINT8_MAX, "name lengths fit a byte");
_Static_assert(FEAT_MAX_SYMBOLS < UINT32_MAX / 4, "slots fit a u32");

/* feat_name_valid - [A-Za-z0-9_]+ of at most HDR_MAX_NAME bytes */
static int
feat_name_valid(const char *s)
{
    return s != NULL && hdr_name_valid(s, strnlen(s, HDR_MAX_NAME + 1));
}

/* feat_name_cmp - qsort order of name pointers */
static int
feat_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* feat_digest - fold util_hash64 over the canonical list into 8 hex */
static void
feat_digest(struct feat_profile *p)
{
    uint64_t h = UTIL_HASH64_INIT;
    const char *flag = p->with_scores ? "scores=1\n" : "scores=0\n";
    uint32_t folded;

    for (size_t i = 0; i < p->nsym; i++) {
        h = util_hash64(p->name[i], strlen(p->name[i]), h);
        h = util_hash64("\n", 1, h);
    }
    h = util_hash64(flag, strlen(flag), h);
    /* FNV-1a diffuses its last bytes poorly ("scores=0" and "=1" would
     * differ in a few bits only): the murmur3 finaliser spreads them */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    folded = (uint32_t)(h ^ (h >> 32));
    snprintf(p->digest, sizeof(p->digest), "%08" PRIx32, folded);
}

/* feat_ends - the first and last eight bytes of a name of n bytes (a
 * shorter one packed into e[0]): with the length they are the whole name
 * up to 16 bytes */
static inline void
feat_ends(const char *s, size_t n, uint64_t e[2])
{
    e[0] = e[1] = 0;
    if (n >= 8) {
        memcpy(&e[0], s, 8);
        memcpy(&e[1], s + n - 8, 8);
    } else {
        for (size_t i = 0; i < n; i++)
            e[0] = e[0] << 8 | (unsigned char)s[i];
    }
}

/* feat_hash - a hash of a name's length and ends (two loads instead of a
 * step per byte; names that share both ends only probe one slot more) */
static inline uint32_t
feat_hash(size_t n, const uint64_t e[2])
{
    uint64_t h = e[0] * 0x9e3779b97f4a7c15ULL ^ e[1] * 0xc2b2ae3d27d4eb4fULL ^
                 (uint64_t)n * 0x165667b19e3779f9ULL;

    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(h >> 32);
}

/* feat_slot0 - the first slot to probe for hash h */
static inline uint32_t
feat_slot0(const struct feat_profile *p, uint32_t h)
{
    return (h ^ (h >> 15)) & p->mask;
}

/* feat_table - the lookup table of a profile whose names are set */
static void
feat_table(struct feat_profile *p)
{
    size_t nslot = 8;

    while (nslot < 2 * p->nsym)
        nslot *= 2;
    p->mask = (uint32_t)(nslot - 1);
    p->slot = xcalloc(nslot, sizeof(*p->slot));
    p->hash = xreallocarray(NULL, p->nsym, sizeof(*p->hash));
    p->ends = xreallocarray(NULL, p->nsym, 2 * sizeof(*p->ends));
    p->len = xmalloc(p->nsym);
    for (size_t i = 0; i < p->nsym; i++) {
        size_t len = strlen(p->name[i]);
        uint32_t k;

        feat_ends(p->name[i], len, &p->ends[2 * i]);
        p->hash[i] = feat_hash(len, &p->ends[2 * i]);
        p->len[i] = (uint8_t)len;
        for (k = feat_slot0(p, p->hash[i]); p->slot[k] != 0;
             k = (k + 1) & p->mask)
            ;
        p->slot[k] = (uint32_t)i + 1;
    }
}

/* feat_profile_new - copy, validate, sort and dedupe names */
struct feat_profile *
feat_profile_new(const char *const *names, size_t n, int with_scores)
{
    const char **v;
    size_t nv = 0, nu = 0, bytes = 0;
    struct feat_profile *p;
    char *w;

    if (names == NULL || n == 0)
        return NULL;
    v = xreallocarray(NULL, n, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        if (feat_name_valid(names[i]))
            v[nv++] = names[i];
    qsort(v, nv, sizeof(*v), feat_name_cmp);
    for (size_t i = 0; i < nv; i++) {
        if (nu > 0 && strcmp(v[nu - 1], v[i]) == 0)
            continue;
        v[nu++] = v[i];
    }
    /* the limit applies to the distinct valid names: that is what the
     * network's width and the blob's size depend on */
    if (nu == 0 || nu > FEAT_MAX_SYMBOLS) {
        free(v);
        return NULL;
    }
    for (size_t i = 0; i < nu; i++)
        bytes += strlen(v[i]) + 1; /* <= FEAT_MAX_SYMBOLS * 129: no wrap */

    p = xcalloc(1, sizeof(*p));
    p->nsym = nu;
    p->with_scores = with_scores != 0;
    p->name = xreallocarray(NULL, nu, sizeof(*p->name));
    p->buf = xmalloc(bytes);
    w = p->buf;
    for (size_t i = 0; i < nu; i++) {
        size_t len = strlen(v[i]) + 1;

        memcpy(w, v[i], len);
        p->name[i] = w;
        w += len;
    }
    free(v);
    feat_digest(p);
    feat_table(p);
    return p;
}

/* feat_profile_free - release a profile; NULL is fine */
void
feat_profile_free(struct feat_profile *p)
{
    if (p == NULL)
        return;
    free(p->name);
    free(p->buf);
    free(p->hash);
    free(p->ends);
    free(p->len);
    free(p->slot);
    free(p);
}

/* feat_profile_nsym - number of symbols */
size_t
feat_profile_nsym(const struct feat_profile *p)
{
    return p->nsym;
}

/* feat_profile_name - the i-th name in sorted order, NULL when out of range */
const char *
feat_profile_name(const struct feat_profile *p, size_t i)
{
    return i < p->nsym ? p->name[i] : NULL;
}

/* feat_profile_scores - 1 when the profile has the score channel */
int
feat_profile_scores(const struct feat_profile *p)
{
    return p->with_scores;
}

/* feat_profile_digest - the 8 hex characters naming the profile */
const char *
feat_profile_digest(const struct feat_profile *p)
{
    return p->digest;
}

/* feat_mid_equal - bytes 8 .. len - 8 of two names of more than 16 bytes
 * whose first and last eight are equal: 8-byte words inline, each read
 * inside both names (a memcpy() call cost more than the compare) */
static inline int
feat_mid_equal(const char *a, const char *b, size_t len)
{
    uint64_t x, y;

    for (size_t i = 8; i < len - 8; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return 0;
    }
    return 1;
}

/* feat_index - look name (len bytes) up in the hash table (always
 * inline: the vectors look up every symbol of every message) */
static inline __attribute__((always_inline)) long
feat_index(const struct feat_profile *p, const char *name, size_t len)
{
    uint64_t ends[2];
    uint32_t h, k, e;

    feat_ends(name, len, ends);
    h = feat_hash(len, ends);
    /* a name of up to 16 bytes is its length and ends; a longer one is
     * compared in full */
    for (k = feat_slot0(p, h); (e = p->slot[k]) != 0; k = (k + 1) & p->mask)
        if (p->hash[e - 1] == h && p->len[e - 1] == len &&
            p->ends[2 * (e - 1)] == ends[0] &&
            p->ends[2 * (e - 1) + 1] == ends[1] &&
            (len <= 16 || feat_mid_equal(p->name[e - 1], name, len)))
            return (long)e - 1;
    return -1;
}

/* feat_profile_index - look name up in the hash table */
long
feat_profile_index(const struct feat_profile *p, const char *name)
{
    if (name == NULL)
        return -1;
    return feat_index(p, name, strlen(name));
}

/* feat_sym_index - look a parsed symbol up, with its recorded length */
static inline __attribute__((always_inline)) long
feat_sym_index(const struct feat_profile *p, const struct hdr_symbol *s)
{
    return feat_index(p, s->name, hdr_symbol_len(s));
}

/* feat_result_ignore - copy src into dst without the ignored symbols */
size_t
feat_result_ignore(struct hdr_result *dst, const struct hdr_result *src,
                   const struct cfg *c)
{
    size_t kept = 0;

    *dst = *src;
    dst->sym = xreallocarray(NULL, src->nsym + 1, sizeof(*dst->sym));
    dst->cap = 0; /* not src's */
    for (size_t i = 0; i < src->nsym; i++)
        if (!cfg_symbol_ignored(c, src->sym[i].name))
            dst->sym[kept++] = src->sym[i];
    dst->nsym = kept;
    return src->nsym - kept;
}

/* feat_known_share - known weight over the whole */
double
feat_known_share(const struct feat_profile *prof,
                 const struct hdr_result *res)
{
    double known = 0, all = 0;

    for (size_t i = 0; i < res->nsym; i++) {
        double s = res->sym[i].score;
        double w = 1.0 + (isfinite(s) ? fabs(s) : 0);

        all += w;
        if (feat_sym_index(prof, &res->sym[i]) >= 0)
            known += w;
    }
    return all > 0 ? known / all : 0;
}

/* feat_ninputs - presence, optional scores, then the meta inputs */
size_t
feat_ninputs(const struct feat_profile *p)
{
    return p->nsym * (p->with_scores ? 2 : 1) + FEAT_NMETA;
}

/* feat_meta - the two meta-inputs of a verdict of score, required and
 * nsym symbols */
static void
feat_meta(double score, double required, size_t nsym, float meta[FEAT_NMETA])
{
    meta[0] = required > 0 && isfinite(score) && isfinite(required)
                  ? (float)tanh(score / required)
                  : 0.0f;
    meta[1] = (float)tanh((double)nsym / 32.0);
}

/* feat_score_value - the score input of a symbol's score s */
static inline float
feat_score_value(double s)
{
    return (float)(s / (1.0 + fabs(s)));
}

/* feat_vector - fill the input vector of res */
int
feat_vector(const struct feat_profile *p, const struct hdr_result *res,
            float *out, size_t nout, size_t *unknown)
{
    size_t nunk = 0, base = p->nsym * (p->with_scores ? 2 : 1);

    if (nout != feat_ninputs(p) || out == NULL || res == NULL)
        return -1;
    memset(out, 0, nout * sizeof(*out));
    for (size_t i = 0; i < res->nsym; i++) {
        long k = feat_sym_index(p, &res->sym[i]);
        double s = res->sym[i].score;

        if (k < 0) {
            nunk++;
            continue;
        }
        out[k] = 1.0f;
        /* presence carries most of the signal; the squashed score rides
         * along only when the profile asks for it */
        if (p->with_scores && isfinite(s))
            out[p->nsym + (size_t)k] = feat_score_value(s);
    }
    feat_meta(res->score, res->required, res->nsym, out + base);
    if (unknown != NULL)
        *unknown = nunk;
    return 0;
}

/* The symbols of one verdict seen by feat_sparse_*(), one bit each:
 * walking the bits gives them in index order, and a repeated symbol (the
 * parsers never give one, a record from Redis might) sets its bit once,
 * as feat_vector() sets its input once. Its score input: only the
 * entries whose bit is set are ever read, so sc needs no clearing. */
struct feat_seen {
    uint64_t bit[(FEAT_MAX_SYMBOLS + 63) / 64];
    float sc[FEAT_MAX_SYMBOLS];
};

/* feat_seen_set - symbol k of score s fired */
static inline void
feat_seen_set(struct feat_seen *f, size_t k, double s)
{
    uint64_t bit = (uint64_t)1 << (k % 64);

    /* feat_vector(): a later finite score overwrites, a score that is not
     * finite leaves what was there */
    if (!(f->bit[k / 64] & bit))
        f->sc[k] = 0;
    f->bit[k / 64] |= bit;
    if (isfinite(s))
        f->sc[k] = feat_score_value(s);
}

/* feat_seen_pairs - the pairs of what f saw plus the meta-inputs, in
 * index order; returns how many (out holds enough: the callers check) */
static size_t
feat_seen_pairs(const struct feat_profile *p, const struct feat_seen *f,
                const float meta[FEAT_NMETA], struct feat_pair *out)
{
    size_t n = 0, nw = (p->nsym + 63) / 64;
    size_t base = p->nsym * (p->with_scores ? 2 : 1);

    for (size_t w = 0; w < nw; w++)
        for (uint64_t b = f->bit[w]; b != 0; b &= b - 1) {
            out[n].idx = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(b));
            out[n].val = 1.0f;
            n++;
        }
    if (p->with_scores) {
        size_t npres = n;

        for (size_t j = 0; j < npres; j++)
            if (f->sc[out[j].idx] != 0) {
                out[n].idx = (uint32_t)p->nsym + out[j].idx;
                out[n].val = f->sc[out[j].idx];
                n++;
            }
    }
    for (size_t j = 0; j < FEAT_NMETA; j++)
        if (meta[j] != 0) {
            out[n].idx = (uint32_t)(base + j);
            out[n].val = meta[j];
            n++;
        }
    return n;
}

/* feat_sparse - the non-zero entries of res's vector, in index order */
int
feat_sparse(const struct feat_profile *p, const struct hdr_result *res,
            struct feat_pair *out, size_t cap, size_t *nout, size_t *unknown)
{
    struct feat_seen f;
    size_t nunk = 0;
    float meta[FEAT_NMETA];

    if (res == NULL || out == NULL || cap < feat_pairs_max(res->nsym))
        return -1;
    memset(f.bit, 0, (p->nsym + 63) / 64 * sizeof(f.bit[0]));
    for (size_t i = 0; i < res->nsym; i++) {
        long k = feat_sym_index(p, &res->sym[i]);

        if (k < 0)
            nunk++;
        else
            feat_seen_set(&f, (size_t)k, res->sym[i].score);
    }
    feat_meta(res->score, res->required, res->nsym, meta);
    *nout = feat_seen_pairs(p, &f, meta, out);
    if (unknown != NULL)
        *unknown = nunk;
    return 0;
}

/* feat_sparse_kept - feat_sparse() of res without its ignored symbols,
 * with feat_known_share()'s sums in the same order, without a copy */
int
feat_sparse_kept(const struct feat_profile *p, const struct hdr_result *res,
                 const unsigned char *ign, const struct cfg *c,
                 struct feat_pair *out, size_t cap, size_t *nout,
                 struct feat_kept *kept)
{
    struct feat_seen f;
    double known = 0, all = 0;
    size_t nkept = 0, nunk = 0;
    float meta[FEAT_NMETA];

    if (res == NULL || out == NULL || cap < feat_pairs_max(res->nsym))
        return -1;
    memset(f.bit, 0, (p->nsym + 63) / 64 * sizeof(f.bit[0]));
    for (size_t i = 0; i < res->nsym; i++) {
        long k = feat_sym_index(p, &res->sym[i]);
        double s = res->sym[i].score;
        double w = 1.0 + (isfinite(s) ? fabs(s) : 0);

        /* the profile's symbols by their flag, the rest by pattern */
        if ((k >= 0 && ign != NULL) ? ign[k] != 0
                                  : cfg_symbol_ignored_len(
                                        c, res->sym[i].name,
                                        hdr_symbol_len(&res->sym[i])))
            continue;
        nkept++;
        all += w;
        if (k < 0) {
            nunk++;
            continue;
        }
        known += w;
        feat_seen_set(&f, (size_t)k, s);
    }
    feat_meta(res->score, res->required, nkept, meta);
    *nout = feat_seen_pairs(p, &f, meta, out);
    kept->nsym = nkept;
    kept->ignored = res->nsym - nkept;
    kept->unknown = nunk;
    kept->known = all > 0 ? known / all : 0;
    return 0;
}
