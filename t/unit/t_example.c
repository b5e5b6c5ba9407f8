/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_example - the training example record: round trip of every field,
 * rejection of damaged records, the limits.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "example.h"
#include "tap.h"
#include "xmalloc.h"

/* make_result - a verdict with n symbols */
static void
make_result(struct hdr_result *r, size_t n, int scores)
{
    hdr_result_init(r);
    r->upstream = HDR_UPSTREAM_RSPAMD;
    r->score = 7.5;
    r->required = 15;
    r->has_scores = scores;
    r->nsym = n;
    r->sym = n ? xcalloc(n, sizeof(*r->sym)) : NULL;
    for (size_t i = 0; i < n; i++) {
        snprintf(r->sym[i].name, sizeof(r->sym[i].name), "SYM_%zu", i);
        r->sym[i].score = scores ? (double)i / 100.0 - 0.5 : 0;
    }
}

/* check_roundtrip - every field survives */
static void
check_roundtrip(void)
{
    struct hdr_result r;
    struct example ex, back;
    char err[128];
    void *blob;
    size_t len;

    make_result(&r, 40, 1);
    r.sym[3].score = -0.0;
    r.truncated = 1;
    ok(example_from_result(&ex, &r, 1, 1, 1700000000) == 0, "from result");
    ok(example_encode(&ex, &blob, &len, err, sizeof(err)) == 0, "encode: %s",
       err);
    ok(len < 400, "40 symbols compress to %zu bytes", len);
    ok(example_decode(blob, len, &back, err, sizeof(err)) == 0, "decode");
    is_int(back.spam, 1, "spam");
    is_int(back.explicit_, 1, "explicit");
    is_int(back.time, 1700000000, "time");
    is_int(back.res.upstream, HDR_UPSTREAM_RSPAMD, "upstream");
    is_dbl(back.res.score, 7.5, 1e-9, "score");
    is_dbl(back.res.required, 15, 1e-9, "required");
    is_int(back.res.has_scores, 1, "has_scores");
    is_int(back.res.truncated, 1, "truncated");
    is_int(back.res.nsym, 40, "symbol count");
    {
        int same = 1;

        for (size_t i = 0; i < 40; i++)
            same &= strcmp(back.res.sym[i].name, r.sym[i].name) == 0 &&
                    fabs(back.res.sym[i].score - r.sym[i].score) < 1e-9;
        ok(same, "names and scores");
    }
    /* the queue's split: serialized in a milter thread, compressed in
     * the writer; the same bytes as example_encode(), context kept or not */
    {
        void *raw, *z1 = NULL, *z2 = NULL;
        size_t rawlen, l1 = 0, l2 = 0;

        ok(example_serialize(&ex, &raw, &rawlen, err, sizeof(err)) == 0 &&
               rawlen > len,
           "serialize: %zu bytes before compression", rawlen);
        ok(example_compress(raw, rawlen, &z1, &l1, err, sizeof(err)) == 0 &&
               example_compress(raw, rawlen, &z2, &l2, err, sizeof(err)) ==
                   0 &&
               l1 == len && l2 == len && memcmp(z1, blob, len) == 0 &&
               memcmp(z2, blob, len) == 0,
           "compress(serialize) is encode, twice on one context");
        is_int(example_compress(raw, 0, &z2, &l2, err, sizeof(err)), -1,
               "compress: an empty record is refused");
        free(raw);
        free(z1);
        free(z2);
    }
    example_free(&back);
    free(blob);
    example_free(&ex);
    hdr_result_free(&r);

    make_result(&r, 3, 0);
    r.upstream = HDR_UPSTREAM_SA;
    r.score = -1.2;
    ok(example_from_result(&ex, &r, 0, 0, 5) == 0 &&
           example_encode(&ex, &blob, &len, err, sizeof(err)) == 0 &&
           example_decode(blob, len, &back, err, sizeof(err)) == 0,
       "SpamAssassin ham round trip");
    ok(back.spam == 0 && back.explicit_ == 0 &&
           back.res.upstream == HDR_UPSTREAM_SA && back.res.has_scores == 0 &&
           back.res.score == -1.2 && back.res.nsym == 3,
       "SpamAssassin ham fields");
    example_free(&back);
    free(blob);
    example_free(&ex);
    r.upstream = HDR_UPSTREAM_AMBIGUOUS;
    ok(example_from_result(&ex, &r, 0, 0, 5) != 0,
       "an ambiguous result is no example");
    hdr_result_free(&r);
}

/* check_damage - every damaged record is refused, none crashes */
static void
check_damage(void)
{
    struct hdr_result r;
    struct example ex, back;
    char err[128];
    void *blob, *raw, *re;
    size_t len, rawlen, relen;
    int all = 1;

    make_result(&r, 10, 1);
    if (example_from_result(&ex, &r, 1, 0, 1) != 0 ||
        example_encode(&ex, &blob, &len, err, sizeof(err)) != 0)
        exit(1);
    for (size_t cut = 0; cut < len; cut++)
        all &= example_decode(blob, cut, &back, err, sizeof(err)) != 0;
    ok(all, "every truncation of the compressed record is refused");
    ok(example_decode("garbage", 7, &back, err, sizeof(err)) != 0,
       "garbage refused: %s", err);

    /* Damage inside the payload, recompressed so zstd accepts it. */
    rawlen = (size_t)ZSTD_getFrameContentSize(blob, len);
    raw = xmalloc(rawlen);
    ZSTD_decompress(raw, rawlen, blob, len);
    re = xmalloc(ZSTD_compressBound(rawlen + 8));
    all = 1;
    for (size_t cut = 1; cut < rawlen; cut++) {
        relen = ZSTD_compress(re, ZSTD_compressBound(rawlen + 8), raw, cut, 1);
        all &= example_decode(re, relen, &back, err, sizeof(err)) != 0;
    }
    ok(all, "every truncation of the payload is refused");
    ((unsigned char *)raw)[0] = 9;
    relen = ZSTD_compress(re, ZSTD_compressBound(rawlen), raw, rawlen, 1);
    ok(example_decode(re, relen, &back, err, sizeof(err)) != 0,
       "unknown format refused: %s", err);
    ((unsigned char *)raw)[0] = 1;
    ((unsigned char *)raw)[23] = '!'; /* first symbol name, first byte */
    relen = ZSTD_compress(re, ZSTD_compressBound(rawlen), raw, rawlen, 1);
    ok(example_decode(re, relen, &back, err, sizeof(err)) != 0,
       "bad symbol name refused: %s", err);
    free(raw);
    free(re);
    free(blob);
    example_free(&ex);
    hdr_result_free(&r);
}

/* check_limits - HDR_MAX_SYMBOLS symbols at N and N+1 */
static void
check_limits(void)
{
    struct hdr_result r;
    struct example ex, back;
    char err[128];
    void *blob;
    size_t len;

    make_result(&r, HDR_MAX_SYMBOLS, 1);
    ok(example_from_result(&ex, &r, 1, 0, 1) == 0 &&
           example_encode(&ex, &blob, &len, err, sizeof(err)) == 0,
       "N = HDR_MAX_SYMBOLS symbols encode");
    ok(example_decode(blob, len, &back, err, sizeof(err)) == 0 &&
           back.res.nsym == HDR_MAX_SYMBOLS,
       "N symbols decode");
    example_free(&back);
    free(blob);
    example_free(&ex);
    hdr_result_free(&r);

    make_result(&r, HDR_MAX_SYMBOLS + 1, 1);
    ok(example_from_result(&ex, &r, 1, 0, 1) == 0 &&
           example_encode(&ex, &blob, &len, err, sizeof(err)) == 0,
       "N+1 symbols encode (a record written by a build with a larger "
       "limit)");
    ok(example_decode(blob, len, &back, err, sizeof(err)) != 0,
       "N+1 symbols refused on decode: %s", err);
    free(blob);
    example_free(&ex);
    hdr_result_free(&r);

    {
        char *big = xcalloc(EXAMPLE_MAX_BLOB + 1, 1);

        ok(example_decode(big, EXAMPLE_MAX_BLOB + 1, &back, err,
                          sizeof(err)) != 0,
           "a blob of EXAMPLE_MAX_BLOB+1 bytes is refused unread");
        free(big);
    }
}

int
main(void)
{
    check_roundtrip();
    check_damage();
    check_limits();
    return exit_status();
}
