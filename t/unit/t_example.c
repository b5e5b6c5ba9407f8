/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_example - the training example record: round trip of every field,
 * rejection of damaged records, the limits.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "example.h"
#include "learn.h"
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
    ok(back.key == ex.key && back.key != 0, "message key");
    is_int(back.source, ex.source, "source");
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

/* check_name_lengths - a record spells names of every length 1 ..
 * HDR_MAX_NAME byte for byte, each right after its length byte, and one
 * ends the record (nothing written past it) */
static void
check_name_lengths(void)
{
    struct hdr_result r;
    struct example ex;
    char err[128];
    unsigned char *raw;
    void *v;
    size_t len, at = 29, bad = 0;

    hdr_result_init(&r);
    r.upstream = HDR_UPSTREAM_SA;
    r.sym = xcalloc(HDR_MAX_NAME, sizeof(*r.sym));
    for (size_t i = 0; i < HDR_MAX_NAME; i++) {
        for (size_t j = 0; j <= i; j++)
            r.sym[i].name[j] = (char)('a' + (i + j) % 26);
        r.sym[i].len = (uint8_t)(i + 1);
    }
    r.nsym = HDR_MAX_NAME;
    ok(example_from_result(&ex, &r, 0, 0, 5) == 0 &&
           example_serialize(&ex, &v, &len, err, sizeof(err)) == 0,
       "names of 1 .. %d bytes serialize", HDR_MAX_NAME);
    raw = v;
    for (size_t i = 0; i < HDR_MAX_NAME && at < len; i++) {
        bad += raw[at] != i + 1 ||
               memcmp(raw + at + 1, r.sym[i].name, i + 1) != 0;
        at += 2 + i;
    }
    is_int((int)bad, 0, "each name byte for byte after its length");
    is_int((int)at, (int)len, "the last name ends the record");
    free(v);
    example_free(&ex);
    hdr_result_free(&r);
}

/* check_sources - key and source travel; a format 1 record reads with
 * its content key; a source that contradicts the explicit flag or a key
 * of 0 is refused */
static void
check_sources(void)
{
    static const enum example_source src[] = {
        EXAMPLE_SRC_AUTOLEARN, EXAMPLE_SRC_ADMIN, EXAMPLE_SRC_REPORT,
        EXAMPLE_SRC_REPLY, EXAMPLE_SRC_SPAMTRAP };
    struct hdr_result r;
    struct example ex, back;
    unsigned char v1[64];
    char err[128];
    size_t len, n;
    void *blob;

    make_result(&r, 2, 1);
    for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
        ok(example_from_result(&ex, &r, 0, 0, 7) == 0, "from_result");
        ex.source = src[i];
        ex.explicit_ = src[i] != EXAMPLE_SRC_AUTOLEARN;
        ex.key = 0x1234567890abcdefULL;
        ok(example_encode(&ex, &blob, &len, err, sizeof(err)) == 0 &&
               example_decode(blob, len, &back, err, sizeof(err)) == 0 &&
               back.source == src[i] && back.key == ex.key &&
               back.explicit_ == (src[i] != EXAMPLE_SRC_AUTOLEARN),
           "source %s and key survive", example_source_name(src[i]));
        example_free(&back);
        free(blob);
        example_free(&ex);
    }
    ok(example_from_result(&ex, &r, 0, 0, 7) == 0, "from_result");
    ex.key = 0;
    ok(example_encode(&ex, &blob, &len, err, sizeof(err)) != 0,
       "a key of 0 is not written: %s", err);
    example_free(&ex);
    hdr_result_free(&r);

    /* a format 1 record of release 0.1: Rspamd, ham, explicit, 1 symbol */
    memset(v1, 0, sizeof(v1));
    v1[0] = 1;
    v1[1] = 2u | 4u | 1u << 3;
    v1[18] = 1;
    v1[20] = 1;
    v1[21] = 'A';
    n = 26;
    blob = xmalloc(ZSTD_compressBound(n));
    len = ZSTD_compress(blob, ZSTD_compressBound(n), v1, n, 1);
    ok(example_decode(blob, len, &back, err, sizeof(err)) == 0,
       "a format 1 record decodes: %s", err);
    ok(back.key == learn_key_content(&back.res) &&
           back.source == EXAMPLE_SRC_ADMIN,
       "format 1: the content key, source admin (explicit)");
    example_free(&back);
    free(blob);
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
    ((unsigned char *)raw)[0] = 2;
    ((unsigned char *)raw)[30] = '!'; /* first symbol name, first byte */
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

/* t_pack - compress a payload as example_compress() does; exits on
 * failure. *len gets the frame's length; the buffer has 16 spare bytes */
static void *
t_pack(const void *raw, size_t rawlen, size_t *len)
{
    size_t bound = ZSTD_compressBound(rawlen) + 16;
    void *out = xmalloc(bound);

    *len = ZSTD_compress(out, bound, raw, rawlen, 1);
    if (ZSTD_isError(*len))
        exit(1);
    return out;
}

/* t_head - a record header into p: Rspamd, flags, nsym; returns 20 */
static size_t
t_head(unsigned char *p, unsigned flags, unsigned nsym)
{
    memset(p, 0, 20);
    p[0] = 1;                          /* format */
    p[1] = (unsigned char)(flags | 1u << 3); /* upstream rspamd */
    p[18] = (unsigned char)nsym;
    p[19] = (unsigned char)(nsym >> 8);
    return 20;
}

/* t_decode_raw - example_decode of a payload; -1 with err, or 0 */
static int
t_decode_raw(const unsigned char *raw, size_t rawlen, char *err,
             size_t errlen)
{
    struct example back;
    size_t len;
    void *b = t_pack(raw, rawlen, &len);
    int rc = example_decode(b, len, &back, err, errlen);

    if (rc == 0)
        example_free(&back);
    free(b);
    return rc;
}

/* T_REFUSED - rc -1 and err containing want */
#define T_REFUSED(rc, want, ...)                                             \
    do {                                                                     \
        int rc_ = (rc);                                                      \
        if (!ok(rc_ == -1 && strstr(err, (want)) != NULL, __VA_ARGS__))      \
            diag("  rc %d, err \"%s\", want \"%s\"", rc_, err, (want));    \
    } while (0)

/* check_bounds - what a record from Redis can make the decoder read or
 * allocate, at N and N + 1 */
static void
check_bounds(void)
{
    unsigned char *raw = xcalloc(EXAMPLE_MAX_RAW + 1, 1);
    struct example ex, back;
    struct hdr_result r;
    char err[160];
    void *b, *b2;
    size_t len, len2, n;

    /* the declared size: EXAMPLE_MAX_RAW is decompressed (and then
     * refused for its padding), one byte more is refused unread */
    t_head(raw, 0, 0);
    T_REFUSED(t_decode_raw(raw, EXAMPLE_MAX_RAW, err, sizeof(err)),
              "trailing bytes", "a frame of EXAMPLE_MAX_RAW bytes is "
              "decompressed");
    T_REFUSED(t_decode_raw(raw, EXAMPLE_MAX_RAW + 1, err, sizeof(err)),
              "over the limit of", "a frame of EXAMPLE_MAX_RAW + 1 bytes "
              "is refused from its header");
    free(raw);

    /* the blob length: EXAMPLE_MAX_BLOB is looked at, + 1 is not */
    {
        char *zero = xcalloc(EXAMPLE_MAX_BLOB, 1);

        ok(example_decode(zero, EXAMPLE_MAX_BLOB, &back, err,
                          sizeof(err)) != 0 &&
               strstr(err, "over the limit") == NULL,
           "a blob of EXAMPLE_MAX_BLOB zeros: refused as no frame (%s)",
           err);
        free(zero);
    }
    T_REFUSED(example_decode(NULL, 0, &back, err, sizeof(err)), "empty",
              "no blob");

    /* frames: no content size, an empty one, bytes or a frame after it */
    make_result(&r, 5, 1);
    if (example_from_result(&ex, &r, 1, 0, 1) != 0 ||
        example_encode(&ex, &b, &len, err, sizeof(err)) != 0)
        exit(1);
    {
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        void *rec, *z;
        size_t reclen, zlen;

        if (example_serialize(&ex, &rec, &reclen, err, sizeof(err)) != 0)
            exit(1);
        z = xmalloc(ZSTD_compressBound(reclen));
        ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
        zlen = ZSTD_compress2(cc, z, ZSTD_compressBound(reclen), rec, reclen);
        ok(!ZSTD_isError(zlen), "a frame without content size built");
        T_REFUSED(example_decode(z, zlen, &back, err, sizeof(err)),
                  "without a content size", "a frame without content size");
        ZSTD_freeCCtx(cc);
        free(z);
        z = t_pack("", 0, &zlen);
        T_REFUSED(example_decode(z, zlen, &back, err, sizeof(err)), "empty",
                  "a frame of 0 bytes");
        free(z);
        free(rec);
    }
    b2 = xmalloc(2 * len);
    memcpy(b2, b, len);
    ((char *)b2)[len] = 0;
    T_REFUSED(example_decode(b2, len + 1, &back, err, sizeof(err)),
              "after the zstd frame", "a byte after the frame");
    memcpy((char *)b2 + len, b, len);
    T_REFUSED(example_decode(b2, 2 * len, &back, err, sizeof(err)),
              "after the zstd frame", "a second frame after the first");
    free(b2);
    free(b);
    example_free(&ex);
    hdr_result_free(&r);

    /* symbol count against the bytes left: HDR_MAX_SYMBOLS names of one
     * byte fill 2 bytes each; one byte less is truncated */
    n = 20 + 2 * HDR_MAX_SYMBOLS;
    raw = xmalloc(n);
    t_head(raw, 0, HDR_MAX_SYMBOLS);
    for (size_t i = 0; i < HDR_MAX_SYMBOLS; i++) {
        raw[20 + 2 * i] = 1;
        raw[21 + 2 * i] = 'A';
    }
    is_int(t_decode_raw(raw, n, err, sizeof(err)), 0,
           "HDR_MAX_SYMBOLS one-byte names in 2 bytes each decode");
    T_REFUSED(t_decode_raw(raw, n - 1, err, sizeof(err)), "truncated",
              "... in one byte less: truncated");
    t_head(raw, 4, HDR_MAX_SYMBOLS); /* with scores: 6 bytes each */
    T_REFUSED(t_decode_raw(raw, n, err, sizeof(err)), "truncated",
              "... with scores, 6 bytes each: truncated");
    t_head(raw, 64, 0);
    T_REFUSED(t_decode_raw(raw, 20, err, sizeof(err)), "unknown flags",
              "flag bit 6 (unknown) refused");
    t_head(raw, 128, 0);
    T_REFUSED(t_decode_raw(raw, 20, err, sizeof(err)), "unknown flags",
              "flag bit 7 (unknown) refused");
    t_head(raw, 0, 0);
    is_int(t_decode_raw(raw, 20, err, sizeof(err)), 0,
           "no symbols, known flags: decodes");
    free(raw);

    /* names: HDR_MAX_NAME bytes round-trip, HDR_MAX_NAME + 1 do not */
    raw = xmalloc(20 + 2 + HDR_MAX_NAME);
    t_head(raw, 0, 1);
    raw[20] = HDR_MAX_NAME;
    memset(raw + 21, 'N', HDR_MAX_NAME);
    is_int(t_decode_raw(raw, 21 + HDR_MAX_NAME, err, sizeof(err)), 0,
           "a name of HDR_MAX_NAME bytes decodes");
    raw[20] = HDR_MAX_NAME + 1;
    raw[21 + HDR_MAX_NAME] = 'N';
    T_REFUSED(t_decode_raw(raw, 22 + HDR_MAX_NAME, err, sizeof(err)),
              "bad symbol name", "a name of HDR_MAX_NAME + 1 bytes");
    raw[20] = 0; /* and one byte after it, so the count fits */
    T_REFUSED(t_decode_raw(raw, 22, err, sizeof(err)), "bad symbol name",
              "a name of 0 bytes");

    /* a refusal after the fields before the symbols leaves ex empty */
    raw[1] |= 1 | 2;  /* spam, explicit */
    raw[2] = 0x7f;    /* time */
    raw[10] = 0x10;   /* score */
    b = t_pack(raw, 22, &len);
    memset(&back, 0xa5, sizeof(back));
    ok(example_decode(b, len, &back, err, sizeof(err)) == -1 &&
           back.spam == 0 && back.explicit_ == 0 && back.time == 0 &&
           back.res.score == 0 && back.res.sym == NULL &&
           back.res.nsym == 0,
       "a refused record leaves the example zeroed");
    free(b);
    free(raw);

    /* the extreme scores round-trip to the same record */
    make_result(&r, 2, 1);
    r.score = -21474836.48;   /* INT32_MIN hundredths */
    r.required = 21474836.47; /* INT32_MAX hundredths */
    r.sym[0].score = -1e300;  /* clamped */
    r.sym[1].score = 1e300;
    ok(example_from_result(&ex, &r, 0, 0, INT64_MIN) == 0 &&
           example_encode(&ex, &b, &len, err, sizeof(err)) == 0 &&
           example_decode(b, len, &back, err, sizeof(err)) == 0,
       "extreme scores and time decode");
    is_int(back.time, INT64_MIN, "time INT64_MIN");
    ok(back.res.score == -21474836.48 && back.res.required == 21474836.47 &&
           back.res.sym[0].score == -21474836.48 &&
           back.res.sym[1].score == 21474836.47,
       "scores at the ends of i32 hundredths");
    ok(example_encode(&back, &b2, &len2, err, sizeof(err)) == 0 &&
           len2 == len && memcmp(b, b2, len) == 0,
       "... re-encode to the same bytes");
    free(b2);
    free(b);
    example_free(&back);
    example_free(&ex);
    hdr_result_free(&r);
}

/* check_store - a record in raw blocks decodes as its compressed twin;
 * ZSTD_decompress() reads a frame of several blocks back byte for byte */
/* t_stored_same - example_serialize_stored() of r is example_store() of
 * example_serialize_result(), byte for byte, and decodes */
static void
t_stored_same(const struct hdr_result *r, int64_t now, int decodes)
{
    void *raw = NULL, *want = NULL, *got = NULL;
    size_t rawlen = 0, wlen = 0, glen = 0;
    struct example back;
    char err[128];

    ok(example_serialize_result(r, 1, EXAMPLE_SRC_REPLY, 0x1234, now, &raw,
                                &rawlen, err, sizeof(err)) == 0 &&
           example_store(raw, rawlen, &want, &wlen, err, sizeof(err)) ==
               0 &&
           example_serialize_stored(r, 1, EXAMPLE_SRC_REPLY, 0x1234, now,
                                    &got, &glen, err, sizeof(err)) == 0 &&
           glen == wlen && memcmp(got, want, wlen) == 0,
       "serialize_stored: store(serialize_result) byte for byte, %zu "
       "symbols", r->nsym);
    if (decodes) {
        ok(got != NULL &&
               example_decode(got, glen, &back, err, sizeof(err)) == 0 &&
               back.res.nsym == r->nsym && back.key == 0x1234,
           "serialize_stored: decodes");
        if (got != NULL)
            example_free(&back);
    }
    free(raw);
    free(want);
    free(got);
}

/* check_stored_big - a record of more than one 128 KiB block takes
 * example_store()'s way and is still the same bytes (more symbols than a
 * parser gives, so no decode) */
static void
check_stored_big(void)
{
    struct hdr_result r;

    hdr_result_init(&r);
    r.upstream = HDR_UPSTREAM_RSPAMD;
    r.has_scores = 1;
    r.nsym = 1500;
    r.sym = xcalloc(r.nsym, sizeof(*r.sym));
    for (size_t i = 0; i < r.nsym; i++) {
        snprintf(r.sym[i].name, sizeof(r.sym[i].name), "%0120zu", i);
        r.sym[i].score = (double)i / 100;
    }
    t_stored_same(&r, 7, 0);
    hdr_result_free(&r);
}

static void
check_store(void)
{
    struct hdr_result r;
    struct example ex, back;
    void *raw, *blob;
    size_t rawlen, len, big = 300000;
    unsigned char *data = xmalloc(big), *out = xmalloc(big);
    char err[128] = "";

    make_result(&r, 30, 1);
    ok(example_from_result(&ex, &r, 1, 1, 5) == 0 &&
           example_serialize(&ex, &raw, &rawlen, err, sizeof(err)) == 0 &&
           example_store(raw, rawlen, &blob, &len, err, sizeof(err)) == 0,
       "a record serialized and stored");
    is_int((long)len, (long)rawlen + 12, "a stored record is 12 bytes more");
    ok(example_decode(blob, len, &back, err, sizeof(err)) == 0 &&
           back.spam == 1 && back.key == ex.key && back.res.nsym == 30 &&
           strcmp(back.res.sym[29].name, r.sym[29].name) == 0,
       "a stored record decodes as it was");
    is_int(example_store(raw, 0, &blob, &len, err, sizeof(err)), -1,
           "store: an empty record is refused");
    {
        void *raw2 = NULL;
        size_t len2 = 0;

        ex.source = EXAMPLE_SRC_REPLY;
        ex.key = 0x1234;
        free(raw);
        ok(example_serialize(&ex, &raw, &rawlen, err, sizeof(err)) == 0 &&
               example_serialize_result(&r, 1, EXAMPLE_SRC_REPLY, 0x1234,
                                        ex.time, &raw2, &len2, err,
                                        sizeof(err)) == 0 &&
               len2 == rawlen && memcmp(raw, raw2, rawlen) == 0,
           "serialize_result: the same bytes as from_result + serialize");
        free(raw2);
        t_stored_same(&r, ex.time, 1);
        r.upstream = HDR_UPSTREAM_AMBIGUOUS;
        ok(example_serialize_result(&r, 1, EXAMPLE_SRC_REPLY, 1, 1, &raw2,
                                    &len2, err, sizeof(err)) == -1,
           "serialize_result: an ambiguous result is no example");
        ok(example_serialize_stored(&r, 1, EXAMPLE_SRC_REPLY, 1, 1, &raw2,
                                    &len2, err, sizeof(err)) == -1,
           "serialize_stored: an ambiguous result is no example");
        r.upstream = HDR_UPSTREAM_RSPAMD;
    }
    example_free(&back);
    example_free(&ex);
    free(raw);
    free(blob);
    hdr_result_free(&r);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 2654435761u >> 13);
    ok(example_store(data, EXAMPLE_MAX_RAW + 1, &blob, &len, err,
                     sizeof(err)) == -1,
       "store: over EXAMPLE_MAX_RAW is refused");
    ok(example_store(data, EXAMPLE_MAX_RAW, &blob, &len, err,
                     sizeof(err)) == 0 &&
           len == EXAMPLE_MAX_RAW + 9 + 3 * 2 &&
           ZSTD_getFrameContentSize(blob, len) == EXAMPLE_MAX_RAW &&
           ZSTD_decompress(out, big, blob, len) == EXAMPLE_MAX_RAW &&
           memcmp(out, data, EXAMPLE_MAX_RAW) == 0,
       "a record of two 128 KiB blocks reads back byte for byte");
    free(blob);
    free(data);
    free(out);
}

/* check_centi - the hundredths a record stores are round()'s, clamped to
 * int32: halves either side of zero, their neighbours, the limits */
static void
check_centi(void)
{
    static const double halves[] = { 0.005, 0.015, 0.125, 2.675, 1.005,
                                     21474836.465, 21474836.475, 1e300 };
    struct hdr_result r;
    struct example ex, back;
    char err[128] = "";
    void *blob;
    size_t len, n = 0, same = 0;

    make_result(&r, 8 * (sizeof(halves) / sizeof(halves[0])) + 2, 1);
    for (size_t i = 0; i < (sizeof(halves) / sizeof(halves[0])); i++)
        for (int sgn = -1; sgn <= 1; sgn += 2) {
            double h = sgn * halves[i];

            r.sym[n++].score = h;
            r.sym[n++].score = nextafter(h, INFINITY);
            r.sym[n++].score = nextafter(h, -INFINITY);
            r.sym[n++].score = h * 3;
        }
    r.sym[n++].score = NAN;
    r.sym[n++].score = -INFINITY;
    ok(example_from_result(&ex, &r, 0, 0, 1700000000) == 0 &&
           example_encode(&ex, &blob, &len, err, sizeof(err)) == 0 &&
           example_decode(blob, len, &back, err, sizeof(err)) == 0,
       "centi record: %s", err);
    for (size_t i = 0; i < n && i < back.res.nsym; i++) {
        double c = round(r.sym[i].score * 100.0);
        int32_t want = !isfinite(c) ? 0
                       : c > 2147483647.0 ? INT32_MAX
                       : c < -2147483648.0 ? INT32_MIN : (int32_t)c;

        same += back.res.sym[i].score == want / 100.0;
    }
    is_int(same, n, "each score is round(100 v), clamped");
    free(blob);
    example_free(&ex);
    example_free(&back);
    hdr_result_free(&r);
}

int
main(void)
{
    check_roundtrip();
    check_name_lengths();
    check_stored_big();
    check_centi();
    check_store();
    check_sources();
    check_damage();
    check_limits();
    check_bounds();
    return exit_status();
}
