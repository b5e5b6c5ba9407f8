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
};

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

/* feat_profile_index - binary search for name */
long
feat_profile_index(const struct feat_profile *p, const char *name)
{
    size_t lo = 0, hi = p->nsym;

    if (name == NULL)
        return -1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, p->name[mid]);

        if (c == 0)
            return (long)mid;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

/* feat_result_ignore - copy src into dst without the ignored symbols */
size_t
feat_result_ignore(struct hdr_result *dst, const struct hdr_result *src,
                   const struct cfg *c)
{
    size_t kept = 0;

    *dst = *src;
    dst->sym = xreallocarray(NULL, src->nsym + 1, sizeof(*dst->sym));
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
        if (feat_profile_index(prof, res->sym[i].name) >= 0)
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
        long k = feat_profile_index(p, res->sym[i].name);
        double s = res->sym[i].score;

        if (k < 0) {
            nunk++;
            continue;
        }
        out[k] = 1.0f;
        /* presence carries most of the signal; the squashed score rides
         * along only when the profile asks for it */
        if (p->with_scores && isfinite(s))
            out[p->nsym + (size_t)k] = (float)(s / (1.0 + fabs(s)));
    }
    out[base] = res->required > 0 && isfinite(res->score) &&
                        isfinite(res->required)
                    ? (float)tanh(res->score / res->required)
                    : 0.0f;
    out[base + 1] = (float)tanh((double)res->nsym / 32.0);
    if (unknown != NULL)
        *unknown = nunk;
    return 0;
}
