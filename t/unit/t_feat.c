/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_feat - the symbol profile (sorting, dedupe, invalid names, limits, the
 * pinned digest), the input vector layout with and without scores, the
 * ignore filter and the known share the guard uses.
 * Links only the pure core (no fann, zstd, hiredis).
 */
#include "config.h"
#include "feat.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tap.h"
#include "xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* t_rand01 - uniform in [0, 1), an LCG: no rand() */
static double
t_rand01(uint64_t *s)
{
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

/* t_profile - a profile from a NULL-terminated list */
static struct feat_profile *
t_profile(const char *const *names, int with_scores)
{
    size_t n = 0;

    while (names[n] != NULL)
        n++;
    return feat_profile_new(names, n, with_scores);
}

/* t_sorting - sorted, deduplicated, invalid names dropped */
static void
t_sorting(void)
{
    char name128[HDR_MAX_NAME + 1], name129[HDR_MAX_NAME + 2];
    const char *names[] = {
        "R_SPF_ALLOW", "BAYES_SPAM", "R_SPF_ALLOW", "bad-name", "",
        "A_1",         "x y",        "MIME_GOOD",  name128,    name129,
        "ARC_NA\n",    "BAYES_SPAM", "na\xc3\xafve",
    };
    const char *want[] = {"A_1", "BAYES_SPAM", "MIME_GOOD", "R_SPF_ALLOW",
                          name128};
    struct feat_profile *p;

    memset(name128, 'a', HDR_MAX_NAME);
    name128[HDR_MAX_NAME] = '\0';
    memset(name129, 'b', HDR_MAX_NAME + 1);
    name129[HDR_MAX_NAME + 1] = '\0';

    p = feat_profile_new(names, NELEM(names), 0);
    ok(p != NULL, "profile from a mixed list");
    if (p == NULL)
        return;
    is_int(feat_profile_nsym(p), NELEM(want), "5 valid distinct names kept");
    for (size_t i = 0; i < NELEM(want); i++)
        is_str(feat_profile_name(p, i), want[i], "name %zu sorted", i);
    ok(feat_profile_name(p, NELEM(want)) == NULL, "name past the end NULL");
    is_int(feat_profile_scores(p), 0, "no score channel");
    is_int(feat_profile_index(p, "A_1"), 0, "index of the first");
    is_int(feat_profile_index(p, "R_SPF_ALLOW"), 3, "index in the middle");
    is_int(feat_profile_index(p, name128), 4, "index of the last");
    is_int(feat_profile_index(p, "BAYES_HAM"), -1, "absent name -1");
    is_int(feat_profile_index(p, "bad-name"), -1, "dropped name -1");
    is_int(feat_profile_index(p, ""), -1, "empty name -1");
    is_int(feat_profile_index(p, "ZZZ"), -1, "name after the last -1");
    is_int(feat_ninputs(p), 5 + FEAT_NMETA, "ninputs without scores");
    feat_profile_free(p);

    p = feat_profile_new(names, NELEM(names), 7);
    ok(p != NULL && feat_profile_scores(p) == 1, "nonzero flag means 1");
    if (p != NULL)
        is_int(feat_ninputs(p), 2 * 5 + FEAT_NMETA, "ninputs with scores");
    feat_profile_free(p);
}

/* t_long_names - names of over 16 bytes that share their first and last
 * eight bytes (the lookup compares their middles word by word): each
 * finds itself, a name of the same ends and length none; and a parsed
 * symbol's recorded len finds what its strlen() does */
static void
t_long_names(void)
{
    const char *names[] = {
        "AAAAAAAA_X_BBBBBBBB",       "AAAAAAAA_Y_BBBBBBBB",
        "AAAAAAAA_0123456789_BBBBBBBB", "AAAAAAAA_0123456788_BBBBBBBB",
        "AAAAAAAA_01234567890123456789012_BBBBBBBB",
        "AAAAAAAA_11234567890123456789012_BBBBBBBB",
        "AAAAAAAA_01234567890123456789013_BBBBBBBB",
    };
    struct feat_profile *p = feat_profile_new(names, NELEM(names), 0);
    struct hdr_symbol sym = {"AAAAAAAA_Y_BBBBBBBB", 1.0, 19};
    struct hdr_result res;
    float out[NELEM(names) + FEAT_NMETA];
    size_t found = 0, unk = 9;

    ok(p != NULL, "profile of long names");
    if (p == NULL)
        return;
    for (size_t i = 0; i < NELEM(names); i++)
        found += feat_profile_index(p, names[i]) >= 0 &&
                 strcmp(feat_profile_name(p, (size_t)feat_profile_index(
                            p, names[i])), names[i]) == 0;
    is_int(found, NELEM(names), "each long name finds itself");
    is_int(feat_profile_index(p, "AAAAAAAA_Z_BBBBBBBB"), -1,
           "same ends and length, another middle: absent");
    is_int(feat_profile_index(p, "AAAAAAAA_01234567890123456789014_BBBBBBBB"),
           -1, "a long one differing in a middle word: absent");
    memset(&res, 0, sizeof(res));
    res.nsym = 1;
    res.sym = &sym;
    ok(feat_vector(p, &res, out, NELEM(out), &unk) == 0 && unk == 0 &&
           out[feat_profile_index(p, sym.name)] == 1.0f,
       "a symbol with its len recorded is found");
    feat_profile_free(p);
}

/* t_empty - no valid name gives NULL */
static void
t_empty(void)
{
    const char *bad[] = {"", "a-b", "a.b", "a b", NULL};

    ok(feat_profile_new(bad, 4, 0) == NULL, "only invalid names: NULL");
    ok(feat_profile_new(bad, 5, 0) == NULL, "NULL entries are skipped");
    ok(feat_profile_new(bad, 0, 0) == NULL, "n == 0: NULL");
    ok(feat_profile_new(NULL, 3, 0) == NULL, "names NULL: NULL");
    feat_profile_free(NULL);
    ok(1, "feat_profile_free(NULL) is a no-op");
}

/* t_digest - pinned values, stability, sensitivity */
static void
t_digest(void)
{
    /* Pinned: a change of the digest function renames every published
     * model, so it must be deliberate. */
    static const struct {
        const char *label;
        const char *names[8];
        int with_scores;
        const char *want;
    } cases[] = {
        {"three symbols", {"BAYES_SPAM", "DKIM_VALID", "R_SPF_ALLOW"}, 0,
         "9349b021"},
        {"three symbols, scores", {"BAYES_SPAM", "DKIM_VALID",
                                   "R_SPF_ALLOW"}, 1, "67dd0460"},
        {"same list shuffled, duplicated",
         {"R_SPF_ALLOW", "BAYES_SPAM", "DKIM_VALID", "BAYES_SPAM"}, 0,
         "9349b021"},
        {"one symbol", {"A"}, 0, "a2218704"},
    };
    const char *digest[NELEM(cases)];
    struct feat_profile *p[NELEM(cases)];
    const char *l1[] = {"AB", "C", NULL}, *l2[] = {"A", "BC", NULL};
    struct feat_profile *q1, *q2;

    for (size_t i = 0; i < NELEM(cases); i++) {
        p[i] = t_profile(cases[i].names, cases[i].with_scores);
        digest[i] = p[i] != NULL ? feat_profile_digest(p[i]) : "(null)";
        is_str(digest[i], cases[i].want, "digest pinned: %s",
               cases[i].label);
        ok(strlen(digest[i]) == FEAT_DIGEST_LEN &&
               strspn(digest[i], "0123456789abcdef") == FEAT_DIGEST_LEN,
           "digest is %d lowercase hex: %s", FEAT_DIGEST_LEN,
           cases[i].label);
    }
    ok(strcmp(digest[0], digest[1]) != 0, "with_scores changes the digest");
    ok(strcmp(digest[0], digest[3]) != 0, "another list, another digest");

    /* the "\n" after each name keeps "AB","C" apart from "A","BC" */
    q1 = t_profile(l1, 0);
    q2 = t_profile(l2, 0);
    ok(q1 && q2 && strcmp(feat_profile_digest(q1),
                          feat_profile_digest(q2)) != 0,
       "name boundaries are part of the digest");
    feat_profile_free(q1);
    feat_profile_free(q2);
    for (size_t i = 0; i < NELEM(cases); i++)
        feat_profile_free(p[i]);
}

/* t_limit - FEAT_MAX_SYMBOLS distinct names at N and N + 1 */
static void
t_limit(void)
{
    size_t n = FEAT_MAX_SYMBOLS + 1;
    char **names = xreallocarray(NULL, n + 1, sizeof(*names));
    struct feat_profile *p;

    for (size_t i = 0; i < n; i++) {
        names[i] = xmalloc(32);
        snprintf(names[i], 32, "S%05zu", i);
    }
    p = feat_profile_new((const char *const *)names, FEAT_MAX_SYMBOLS, 0);
    ok(p != NULL && feat_profile_nsym(p) == FEAT_MAX_SYMBOLS,
       "FEAT_MAX_SYMBOLS names accepted");
    if (p != NULL) {
        char last[32];

        size_t found = 0, absent = 0;

        snprintf(last, sizeof(last), "S%05d", FEAT_MAX_SYMBOLS - 1);
        is_int(feat_profile_index(p, last), FEAT_MAX_SYMBOLS - 1,
               "last one found in the hash table");
        for (size_t i = 0; i < FEAT_MAX_SYMBOLS; i++) {
            found += feat_profile_index(p, names[i]) == (long)i;
            snprintf(last, sizeof(last), "T%05zu", i);
            absent += feat_profile_index(p, last) == -1;
        }
        is_int(found, FEAT_MAX_SYMBOLS, "every one of them found");
        is_int(absent, FEAT_MAX_SYMBOLS, "as many absent names not found");
    }
    feat_profile_free(p);
    p = feat_profile_new((const char *const *)names, n, 0);
    ok(p == NULL, "FEAT_MAX_SYMBOLS + 1 names rejected");
    feat_profile_free(p);

    /* N + 1 entries of which two are the same: N distinct names */
    names[n] = names[n - 1];
    names[n - 1] = names[0];
    p = feat_profile_new((const char *const *)names, n, 0);
    ok(p != NULL && feat_profile_nsym(p) == FEAT_MAX_SYMBOLS,
       "N + 1 entries with one duplicate accepted");
    feat_profile_free(p);
    names[n - 1] = names[n];
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* t_vector - layout, unknown counting, meta inputs, nout check */
static void
t_vector(void)
{
    static const char *prof_names[] = {"C_SYM", "A_SYM", "B_SYM", NULL};
    struct hdr_symbol sym[] = {
        {"A_SYM", 2.0, 0},
        {"X_UNKNOWN", 5.0, 0},
        {"C_SYM", -1.0, 0},
        {"Y_UNKNOWN", 0.0, 0},
    };
    struct hdr_result res;
    struct feat_profile *ps = t_profile(prof_names, 1);
    struct feat_profile *pn = t_profile(prof_names, 0);
    float out[2 * 3 + FEAT_NMETA + 1];
    size_t unk = 99;
    static const struct {
        const char *label;
        int with_scores;
        double score, required;
        double want[2 * 3 + FEAT_NMETA];
    } cases[] = {
        {"with scores", 1, 6.0, 15.0,
         {1, 0, 1, 2.0 / 3.0, 0, -0.5, 0.379948962255225, /* tanh(.4) */
          0.124353001771596 /* tanh(4/32) */}},
        {"without scores", 0, 6.0, 15.0,
         {1, 0, 1, 0.379948962255225, 0.124353001771596}},
        {"no required score", 0, 6.0, 0.0,
         {1, 0, 1, 0, 0.124353001771596}},
        {"negative required score", 0, 6.0, -5.0,
         {1, 0, 1, 0, 0.124353001771596}},
        {"score above required", 1, 30.0, 15.0,
         {1, 0, 1, 2.0 / 3.0, 0, -0.5, 0.964027580075817, /* tanh(2) */
          0.124353001771596}},
    };

    memset(&res, 0, sizeof(res));
    res.upstream = HDR_UPSTREAM_RSPAMD;
    res.has_scores = 1;
    res.nsym = NELEM(sym);
    res.sym = sym;
    ok(ps != NULL && pn != NULL, "vector profiles built");
    if (ps == NULL || pn == NULL)
        return;

    for (size_t c = 0; c < NELEM(cases); c++) {
        struct feat_profile *p = cases[c].with_scores ? ps : pn;
        size_t n = feat_ninputs(p);
        int bad = 0;

        res.score = cases[c].score;
        res.required = cases[c].required;
        for (size_t i = 0; i < NELEM(out); i++)
            out[i] = 42.0f; /* every slot must be written */
        unk = 99;
        is_int(feat_vector(p, &res, out, n, &unk), 0, "%s: ok",
               cases[c].label);
        is_int(unk, 2, "%s: two unknown symbols", cases[c].label);
        for (size_t i = 0; i < n; i++) {
            if (fabs(out[i] - cases[c].want[i]) > 1e-6) {
                diag("  [%zu] got %.7f want %.7f", i, out[i],
                     cases[c].want[i]);
                bad++;
            }
        }
        ok(bad == 0, "%s: vector layout", cases[c].label);
        ok(out[n] == 42.0f, "%s: nothing written past nout",
           cases[c].label);
    }

    /* a verdict without symbols: all zero but the meta inputs */
    res.nsym = 0;
    res.score = -3.0;
    res.required = 15.0;
    is_int(feat_vector(pn, &res, out, feat_ninputs(pn), NULL), 0,
           "no symbols, unknown NULL: ok");
    ok(out[0] == 0 && out[1] == 0 && out[2] == 0, "no presence bits");
    is_dbl(out[3], tanh(-0.2), 1e-6, "negative score meta");
    is_dbl(out[4], 0.0, 0.0, "zero symbols meta");

    /* nout must be exactly feat_ninputs() */
    res.nsym = NELEM(sym);
    is_int(feat_vector(ps, &res, out, feat_ninputs(ps) - 1, &unk), -1,
           "nout N-1 rejected");
    is_int(feat_vector(ps, &res, out, feat_ninputs(ps) + 1, &unk), -1,
           "nout N+1 rejected");
    is_int(feat_vector(pn, &res, out, feat_ninputs(ps), &unk), -1,
           "nout of the score profile on the plain one rejected");
    feat_profile_free(ps);
    feat_profile_free(pn);
}

/* t_ignore - feat_result_ignore() under the default [model]
 * ignore_symbols: the DNS-failure symbols of a real Rspamd header go,
 * the rest stays in order, the source is untouched */
static void
t_ignore(void)
{
    struct hdr_symbol sym[] = {
        {"FORGED_MUA_OUTLOOK", 3.0, 0}, {"RBL_SEM_FAIL", 0, 0},
        {"R_SPF_DNSFAIL", 0, 0},        {"R_SPF_FAIL", 1.0, 0},
        {"SPAMHAUS_FAIL", 0, 0},        {"MIME_GOOD", -0.1, 0},
        {"NEURAL_SPAM", 3.0, 0},        {"BAYES_SPAM", 5.1, 0},
    };
    static const char *const kept[] = {"FORGED_MUA_OUTLOOK", "R_SPF_FAIL",
                                       "MIME_GOOD", "BAYES_SPAM"};
    struct cfg *c = cfg_defaults();
    struct hdr_result res, dst;
    size_t n;
    int same = 1;

    memset(&res, 0, sizeof(res));
    res.upstream = HDR_UPSTREAM_RSPAMD;
    res.score = 12.0;
    res.required = 15.0;
    res.nsym = NELEM(sym);
    res.sym = sym;
    n = feat_result_ignore(&dst, &res, c);
    is_int(n, 4, "four symbols ignored");
    is_int(dst.nsym, NELEM(kept), "four kept");
    for (size_t i = 0; i < dst.nsym && i < NELEM(kept); i++)
        same &= strcmp(dst.sym[i].name, kept[i]) == 0;
    ok(same, "the kept ones in their order");
    ok(dst.score == 12.0 && dst.required == 15.0 &&
           dst.upstream == HDR_UPSTREAM_RSPAMD,
       "score, required score and upstream copied");
    is_int(res.nsym, NELEM(sym), "the source keeps every symbol");
    ok(dst.sym != res.sym, "the copy has its own symbols");
    free(dst.sym);

    res.nsym = 0;
    is_int(feat_result_ignore(&dst, &res, c), 0, "no symbols: none ignored");
    is_int(dst.nsym, 0, "... and none kept");
    free(dst.sym);
    cfg_release(c);
}

/* t_known - feat_known_share(): each symbol weighs 1 + |score| */
static void
t_known(void)
{
    static const char *prof_names[] = {"A_SYM", "B_SYM", NULL};
    struct hdr_symbol sym[] = {
        {"A_SYM", 2.0, 0},      /* 3 */
        {"X_UNKNOWN", -1.0, 0}, /* 2 */
        {"B_SYM", 0.0, 0},      /* 1 */
        {"Y_UNKNOWN", 0.0, 0},  /* 1 */
    };
    struct feat_profile *p = t_profile(prof_names, 1);
    struct hdr_result res;

    memset(&res, 0, sizeof(res));
    res.sym = sym;
    res.nsym = NELEM(sym);
    is_dbl(feat_known_share(p, &res), 4.0 / 7.0, 1e-12,
           "known weight 4 of 7");
    res.nsym = 1;
    is_dbl(feat_known_share(p, &res), 1.0, 0, "all known: 1");
    res.sym = sym + 1;
    is_dbl(feat_known_share(p, &res), 0.0, 0, "none known: 0");
    res.nsym = 0;
    is_dbl(feat_known_share(p, &res), 0.0, 0, "no symbols: 0");
    sym[1].score = NAN;
    res.nsym = 3;
    is_dbl(feat_known_share(p, &res), 1.0 / 3.0, 1e-12,
           "a score that is not a number weighs 1");
    feat_profile_free(p);
}

/* t_same_sparse - feat_sparse() of res is feat_vector()'s vector: the
 * pairs strictly ascending, non-zero, scattered equal to it bit for bit */
static int
t_same_sparse(const struct feat_profile *p, const struct hdr_result *res)
{
    size_t n = feat_ninputs(p), np, uv, us;
    float *dense = xcalloc(n, sizeof(*dense));
    float *scat = xcalloc(n, sizeof(*scat));
    struct feat_pair *x = xreallocarray(NULL, feat_pairs_max(res->nsym),
                                        sizeof(*x));
    int good = feat_vector(p, res, dense, n, &uv) == 0 &&
               feat_sparse(p, res, x, feat_pairs_max(res->nsym), &np,
                           &us) == 0 &&
               uv == us;

    for (size_t k = 0; good && k < np; k++) {
        good = x[k].idx < n && x[k].val != 0 &&
               (k == 0 || x[k].idx > x[k - 1].idx);
        if (good)
            scat[x[k].idx] = x[k].val;
    }
    good = good && memcmp(dense, scat, n * sizeof(*dense)) == 0;
    free(dense);
    free(scat);
    free(x);
    return good;
}

/* t_same_kept - feat_sparse_kept() of res (with the profile's flags and
 * with none) is feat_result_ignore(), then feat_sparse() and
 * feat_known_share() of the copy: the same pairs and counts, bit for bit */
static int
t_same_kept(const struct feat_profile *p, const struct hdr_result *res,
            const struct cfg *c, const unsigned char *ign)
{
    struct feat_pair x[2 * 64 + FEAT_NMETA], y[2 * 64 + FEAT_NMETA];
    struct hdr_result dst;
    struct feat_kept kept;
    size_t nx, ny, unk, ignored;
    double share;
    int good;

    ignored = feat_result_ignore(&dst, res, c);
    good = feat_sparse(p, &dst, x, NELEM(x), &nx, &unk) == 0;
    share = feat_known_share(p, &dst);
    for (int pass = 0; pass < 2; pass++) {
        good = good &&
               feat_sparse_kept(p, res, pass ? NULL : ign, c, y, NELEM(y),
                                &ny, &kept) == 0 &&
               nx == ny && memcmp(x, y, nx * sizeof(x[0])) == 0 &&
               kept.nsym == dst.nsym && kept.ignored == ignored &&
               kept.unknown == unk &&
               memcmp(&kept.known, &share, sizeof(share)) == 0;
    }
    free(dst.sym);
    return good;
}

/* t_sparse_kept - feat_sparse_kept() against the copy it saves, under
 * the default ignore_symbols, on profiles that hold ignored names (a
 * model trained before a reload) and that do not, on random verdicts */
static void
t_sparse_kept(void)
{
    static const char *const pool[] = {
        "R_SPF_FAIL", "RBL_SEM_FAIL", "R_SPF_DNSFAIL", "SPAMHAUS_FAIL",
        "NEURAL_SPAM", "NEURAL_HAM", "MIME_GOOD", "BAYES_SPAM", "R_DKIM_NA",
        "DMARC_POLICY_TEMPFAIL", "SPF_FAIL", "AUTH_NA_OR_FAIL", "ARC_NA",
        "FORGED_MUA_OUTLOOK", "URIBL_BLOCKED", "RCVD_COUNT_TWO", "X_FAILX",
        "MID_RHS_MATCH_FROM", "ONCE_RECEIVED", "DWL_DNSWL_BLOCKED",
    };
    struct cfg *c = cfg_defaults();
    struct feat_profile *pr[2];
    unsigned char ign[NELEM(pool)];
    struct hdr_result res;
    uint64_t s = 11;
    size_t good = 0, runs = 2000, nign = 0;

    /* every name of the pool, and the ones nothing ignores */
    pr[0] = feat_profile_new(pool, NELEM(pool), 1);
    for (size_t i = 0; i < NELEM(pool); i++)
        nign += cfg_symbol_ignored(c, pool[i]) != 0;
    {
        const char *keep[NELEM(pool)];
        size_t n = 0;

        for (size_t i = 0; i < NELEM(pool); i++)
            if (!cfg_symbol_ignored(c, pool[i]))
                keep[n++] = pool[i];
        pr[1] = feat_profile_new(keep, n, 0);
    }
    ok(nign > 4 && nign < NELEM(pool), "the pool has %zu ignored names", nign);
    memset(&res, 0, sizeof(res));
    res.upstream = HDR_UPSTREAM_RSPAMD;
    res.has_scores = 1;
    for (size_t r = 0; r < runs; r++) {
        const struct feat_profile *p = pr[r % 2];
        struct hdr_symbol rs[40];
        size_t k = (size_t)(t_rand01(&s) * 40);

        for (size_t i = 0; i < feat_profile_nsym(p); i++)
            ign[i] = (unsigned char)cfg_symbol_ignored(
                c, feat_profile_name(p, i));
        for (size_t j = 0; j < k; j++) {
            double u = t_rand01(&s);

            snprintf(rs[j].name, sizeof(rs[j].name), "%s",
                     pool[(size_t)(t_rand01(&s) * NELEM(pool))]);
            rs[j].score = u < 0.2 ? 0 : u < 0.22 ? NAN : 20 * u - 10;
            rs[j].len = 0; /* not recorded: measured */
        }
        res.nsym = k;
        res.sym = rs;
        res.score = 20 * t_rand01(&s) - 5;
        res.required = r % 3 ? 15.0 : 0;
        good += (size_t)t_same_kept(p, &res, c, ign);
    }
    is_int(good, runs, "%zu random verdicts: feat_sparse_kept is the copy's "
           "feat_sparse and feat_known_share", runs);
    res.nsym = 0;
    ok(t_same_kept(pr[0], &res, c, ign), "no symbols: the same");
    feat_profile_free(pr[0]);
    feat_profile_free(pr[1]);
    cfg_release(c);
}

/* t_sparse - feat_sparse() against feat_vector(): the cases above,
 * repeated symbols, scores of 0 and not finite, random verdicts, and
 * the capacity at N and N - 1 */
static void
t_sparse(void)
{
    static const char *prof_names[] = {"C_SYM", "A_SYM", "B_SYM", NULL};
    struct hdr_symbol sym[] = {
        {"A_SYM", 2.0, 0},   {"X_UNKNOWN", 5.0, 0}, {"C_SYM", -1.0, 0},
        {"B_SYM", 0.0, 0},   {"A_SYM", 3.0, 0},     {"C_SYM", NAN, 0},
        {"Y_UNKNOWN", 0, 0}, {"B_SYM", INFINITY, 0},
    };
    struct feat_profile *ps = t_profile(prof_names, 1);
    struct feat_profile *pn = t_profile(prof_names, 0);
    struct feat_pair x[2 * NELEM(sym) + FEAT_NMETA];
    struct hdr_result res;
    char *names[300];
    struct feat_profile *pr;
    uint64_t s = 7;
    size_t n, unk, good = 0, runs = 3000;

    memset(&res, 0, sizeof(res));
    res.upstream = HDR_UPSTREAM_RSPAMD;
    res.has_scores = 1;
    res.score = 6.0;
    res.required = 15.0;
    for (size_t k = 1; k <= NELEM(sym); k++) {
        res.nsym = k;
        res.sym = sym;
        ok(t_same_sparse(ps, &res) && t_same_sparse(pn, &res),
           "first %zu symbols (repeats, 0, NaN, inf): as feat_vector", k);
    }
    res.nsym = 0;
    ok(t_same_sparse(ps, &res), "no symbols: the meta-inputs only");
    res.required = 0;
    res.score = 0;
    is_int(feat_sparse(ps, &res, x, FEAT_NMETA, &n, &unk), 0,
           "no symbols, score 0: ok");
    is_int(n, 0, "... and no pair at all");
    res.nsym = NELEM(sym);
    is_int(feat_sparse(ps, &res, x, feat_pairs_max(NELEM(sym)), &n, &unk),
           0, "capacity feat_pairs_max(nsym) is enough");
    is_int(feat_sparse(ps, &res, x, feat_pairs_max(NELEM(sym)) - 1, &n,
                       &unk), -1, "capacity one less: -1");

    /* random verdicts over a 300-symbol profile */
    for (size_t i = 0; i < NELEM(names); i++) {
        names[i] = xmalloc(16);
        snprintf(names[i], 16, "R%03zu", i);
    }
    pr = feat_profile_new((const char *const *)names, 250, 1);
    for (size_t r = 0; r < runs; r++) {
        struct hdr_symbol rs[60];
        size_t k = (size_t)(t_rand01(&s) * 60);

        for (size_t j = 0; j < k; j++) {
            double u = t_rand01(&s);

            snprintf(rs[j].name, sizeof(rs[j].name), "%s",
                     names[(size_t)(t_rand01(&s) * 300)]);
            rs[j].score = u < 0.2 ? 0 : u < 0.22 ? NAN : 20 * u - 10;
            rs[j].len = (uint8_t)strlen(rs[j].name); /* recorded */
        }
        res.nsym = k;
        res.sym = rs;
        res.score = 20 * t_rand01(&s) - 5;
        res.required = r % 3 ? 15.0 : 0;
        good += (size_t)t_same_sparse(pr, &res);
    }
    is_int(good, runs, "%zu random verdicts: feat_sparse is feat_vector",
           runs);
    for (size_t i = 0; i < NELEM(names); i++)
        free(names[i]);
    feat_profile_free(pr);
    feat_profile_free(ps);
    feat_profile_free(pn);
}

int
main(void)
{
    t_ignore();
    t_known();
    t_sorting();
    t_long_names();
    t_empty();
    t_digest();
    t_limit();
    t_vector();
    t_sparse();
    t_sparse_kept();
    return exit_status();
}
