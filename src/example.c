/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * example - the record, before compression, little-endian:
 *   u8  format (2; format 1 records, written up to release 0.1, are
 *       still read: they lack the key and source)
 *   u8  flags: bit 0 spam, bit 1 explicit, bit 2 has_scores,
 *       bits 3-4 upstream (1 rspamd, 2 spamassassin), bit 5 truncated
 *   i64 time
 *   u64 message key (format 2; never 0)
 *   u8  source, enum example_source (format 2; explicit iff not 0)
 *   i32 score * 100, i32 required * 100 (rounded)
 *   u16 symbol count, then per symbol: u8 name length, the name, and
 *       with has_scores an i32 score * 100
 * Scores are kept at the scanners' printed precision (two decimals), so
 * nothing is lost and a record is a few hundred bytes. The blob is one
 * zstd frame with its content size in the header. Decoding checks the
 * frame's declared size and that nothing follows the frame before it
 * allocates, and every count against the bytes left: a record comes
 * from Redis, which is peer data.
 */
#include "config.h"
#include "example.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zstd.h>

#include "bytes.h"
#include "learn.h"
#include "xmalloc.h"

#define EXAMPLE_FORMAT 2
#define EXAMPLE_FORMAT_V1 1
#define EXAMPLE_FLAGS_KNOWN 0x3fu /* bits 0-5; the others must be 0 */

/* example_centi_far - example_centi() of x = v * 100 out of int32's
 * range, or NaN */
static __attribute__((cold)) int32_t
example_centi_far(double x)
{
    double c = round(x);

    if (!isfinite(c))
        return 0;
    if (c > 2147483647.0)
        return INT32_MAX;
    if (c < -2147483648.0)
        return INT32_MIN;
    return (int32_t)c;
}

/* example_centi - a score in hundredths, clamped to int32 (inline: a
 * record has one per symbol) */
static inline int32_t
example_centi(double v)
{
    double x = v * 100.0, d;
    int64_t t;

    /* round() inline where the result is in range (NaN is not): the
     * integer part is exact, so is the fraction x - t, and a half goes
     * away from zero as round() does; a libm call for each of a record's
     * scores cost more than the rest of its writing */
    if (fabs(x) < 2147483647.0) {
        t = (int64_t)x;
        d = x - (double)t;
        return (int32_t)(t + (d >= 0.5) - (d <= -0.5));
    }
    return example_centi_far(x);
}

/* example_source_name - for logs */
const char *
example_source_name(enum example_source s)
{
    switch (s) {
    case EXAMPLE_SRC_ADMIN:
        return "admin";
    case EXAMPLE_SRC_REPORT:
        return "report";
    case EXAMPLE_SRC_REPLY:
        return "reply";
    case EXAMPLE_SRC_SPAMTRAP:
        return "spamtrap";
    case EXAMPLE_SRC_AUTOLEARN:
        break;
    }
    return "autolearn";
}

/* example_from_result - copy a verdict into an example */
int
example_from_result(struct example *ex, const struct hdr_result *res,
                    int spam, int explicit_, int64_t now)
{
    memset(ex, 0, sizeof(*ex));
    if (!hdr_upstream_usable(res->upstream))
        return -1;
    ex->spam = spam != 0;
    ex->explicit_ = explicit_ != 0;
    ex->time = now;
    ex->source = explicit_ ? EXAMPLE_SRC_ADMIN : EXAMPLE_SRC_AUTOLEARN;
    ex->key = learn_key_content(res);
    ex->res = *res;
    ex->res.sym = NULL;
    ex->res.cap = 0;
    if (res->nsym > 0) {
        ex->res.sym = xreallocarray(NULL, res->nsym, sizeof(*res->sym));
        memcpy(ex->res.sym, res->sym, res->nsym * sizeof(*res->sym));
    }
    return 0;
}

/* example_free - release the symbols */
void
example_free(struct example *ex)
{
    hdr_result_free(&ex->res);
}

/* One compression context per thread, kept: ZSTD_compress() sets up and
 * frees a context per call, which for a record of a few hundred bytes
 * cost more than the compression (21k of 24k instructions per message by
 * callgrind). The key's destructor frees a thread's context when it
 * ends. */
static pthread_key_t example_cctx_key;
static pthread_once_t example_cctx_once = PTHREAD_ONCE_INIT;
static int example_cctx_ok;

static void
example_cctx_free(void *cctx)
{
    ZSTD_freeCCtx(cctx);
}

static void
example_cctx_init(void)
{
    example_cctx_ok = pthread_key_create(&example_cctx_key,
                                         example_cctx_free) == 0;
}

/* example_cctx - this thread's context, or NULL (then a one-off call) */
static ZSTD_CCtx *
example_cctx(void)
{
    ZSTD_CCtx *c;

    pthread_once(&example_cctx_once, example_cctx_init);
    if (!example_cctx_ok)
        return NULL;
    if ((c = pthread_getspecific(example_cctx_key)) == NULL &&
        (c = ZSTD_createCCtx()) != NULL &&
        pthread_setspecific(example_cctx_key, c) != 0) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
}

/* example_put_le - width little-endian bytes of v at *p (inline: the
 * widths are constants, the calls were a record's dearest part) */
static inline __attribute__((always_inline)) void
example_put_le(unsigned char **p, uint64_t v, size_t width)
{
    for (size_t i = 0; i < width; i++)
        (*p)[i] = (unsigned char)(v >> (8 * i));
    *p += width;
}

/* example_record_len - the bytes of ex's record, checked against the
 * limits before anything is allocated; 0, or -1 with err */
static int
example_record_len(const struct example *ex, size_t *len, char *err,
                   size_t errlen)
{
    const struct hdr_result *r = &ex->res;
    size_t n = 29, per = r->has_scores ? 5 : 1;

    if (r->nsym > 0xffff) {
        snprintf(err, errlen, "too many symbols (%zu)", r->nsym);
        return -1;
    }
    if (ex->key == 0 || (unsigned)ex->source >= EXAMPLE_NSOURCES) {
        snprintf(err, errlen, "example without a key or source");
        return -1;
    }
    /* names are under HDR_MAX_NAME and nsym under 2^16: no overflow */
    for (size_t i = 0; i < r->nsym; i++)
        n += per + hdr_symbol_len(&r->sym[i]);
    if (n > EXAMPLE_MAX_RAW) {
        snprintf(err, errlen, "record of %zu bytes is over the limit", n);
        return -1;
    }
    *len = n;
    return 0;
}

/* example_record_put - ex's record at p, as example_record_len() sized
 * it */
static void
example_record_put(const struct example *ex, unsigned char *p)
{
    const struct hdr_result *r = &ex->res;
    const struct hdr_symbol *sym = r->sym;
    int explicit_ = ex->source != EXAMPLE_SRC_AUTOLEARN;
    unsigned flags = (ex->spam ? 1u : 0) | (explicit_ ? 2u : 0) |
                     (r->has_scores ? 4u : 0) |
                     ((r->upstream == HDR_UPSTREAM_RSPAMD ? 1u : 2u) << 3) |
                     (r->truncated ? 32u : 0);

    example_put_le(&p, EXAMPLE_FORMAT, 1);
    example_put_le(&p, flags, 1);
    example_put_le(&p, (uint64_t)ex->time, 8);
    example_put_le(&p, ex->key, 8);
    example_put_le(&p, (unsigned)ex->source, 1);
    example_put_le(&p, (uint32_t)example_centi(r->score), 4);
    example_put_le(&p, (uint32_t)example_centi(r->required), 4);
    example_put_le(&p, r->nsym, 2);
    /* the symbols from locals: a store through p may alias r's fields,
     * which the loop would read again after every byte */
    for (size_t i = 0, nsym = r->nsym, sc = r->has_scores; i < nsym; i++) {
        const struct hdr_symbol *s = &sym[i];
        size_t nl = hdr_symbol_len(s);

        example_put_le(&p, nl, 1);
        hdr_name_copy((char *)p, s->name, nl);
        p += nl;
        if (sc)
            example_put_le(&p, (uint32_t)example_centi(s->score), 4);
    }
}

/* example_serialize - the uncompressed record: sized first, so the
 * bound is checked before anything is allocated and the record is
 * written in one buffer */
int
example_serialize(const struct example *ex, void **raw, size_t *len,
                  char *err, size_t errlen)
{
    unsigned char *buf;
    size_t n;

    if (example_record_len(ex, &n, err, errlen) != 0)
        return -1;
    buf = xmalloc(n);
    example_record_put(ex, buf);
    *raw = buf;
    *len = n;
    return 0;
}

/* example_of_result - *ex borrowing res, for the serializers of a
 * parsed result; -1 with err when res is no scanner's verdict */
static int
example_of_result(struct example *ex, const struct hdr_result *res,
                  int spam, enum example_source src, uint64_t key,
                  int64_t now, char *err, size_t errlen)
{
    *ex = (struct example){ .res = *res, .spam = spam != 0,
                            .explicit_ = src != EXAMPLE_SRC_AUTOLEARN,
                            .time = now, .source = src, .key = key };
    if (!hdr_upstream_usable(res->upstream)) {
        snprintf(err, errlen, "no Rspamd or SpamAssassin result");
        return -1;
    }
    return 0;
}

/* example_serialize_result - see example.h */
int
example_serialize_result(const struct hdr_result *res, int spam,
                         enum example_source src, uint64_t key, int64_t now,
                         void **raw, size_t *len, char *err, size_t errlen)
{
    struct example ex;

    if (example_of_result(&ex, res, spam, src, key, now, err, errlen) != 0)
        return -1;
    return example_serialize(&ex, raw, len, err, errlen);
}

/* The zstd frame of stored blocks example_store() writes: the magic, a
 * single-segment descriptor with a 4-byte content size, then each block's
 * 3-byte header and its bytes. */
#define EXAMPLE_BLOCK_MAX (128u << 10)
#define EXAMPLE_STORE_HEAD 9

/* example_store_head - the frame's first EXAMPLE_STORE_HEAD bytes for a
 * record of rawlen bytes */
static void
example_store_head(unsigned char *out, size_t rawlen)
{
    static const unsigned char head[5] = { 0x28, 0xb5, 0x2f, 0xfd, 0xa0 };

    memcpy(out, head, sizeof(head));
    for (int i = 0; i < 4; i++)
        out[sizeof(head) + (size_t)i] = (unsigned char)(rawlen >> (8 * i));
}

/* example_block_head - a raw block's 3-byte header: bit 0 last block,
 * bits 1-2 type 0 (raw), bits 3-23 its size */
static void
example_block_head(unsigned char *out, size_t n, int last)
{
    uint32_t bh = (uint32_t)(n << 3) | (last ? 1u : 0);

    out[0] = (unsigned char)bh;
    out[1] = (unsigned char)(bh >> 8);
    out[2] = (unsigned char)(bh >> 16);
}

/* example_serialize_stored - see example.h: a record of one block is
 * written behind its frame's 12 bytes, no copy; a longer one is framed
 * by example_store() */
int
example_serialize_stored(const struct hdr_result *res, int spam,
                         enum example_source src, uint64_t key, int64_t now,
                         void **blob, size_t *len, char *err, size_t errlen)
{
    struct example ex;
    unsigned char *buf;
    void *raw;
    size_t n;
    int rc;

    if (example_of_result(&ex, res, spam, src, key, now, err, errlen) != 0)
        return -1;
    if (example_record_len(&ex, &n, err, errlen) != 0)
        return -1;
    if (n > EXAMPLE_BLOCK_MAX) {
        if (example_serialize(&ex, &raw, &n, err, errlen) != 0)
            return -1;
        rc = example_store(raw, n, blob, len, err, errlen);
        free(raw);
        return rc;
    }
    buf = xmalloc(EXAMPLE_STORE_HEAD + 3 + n);
    example_store_head(buf, n);
    example_block_head(buf + EXAMPLE_STORE_HEAD, n, 1);
    example_record_put(&ex, buf + EXAMPLE_STORE_HEAD + 3);
    *blob = buf;
    *len = EXAMPLE_STORE_HEAD + 3 + n;
    return 0;
}

/* example_compress - zstd level 1 with this thread's context */
int
example_compress(const void *raw, size_t rawlen, void **blob, size_t *len,
                 char *err, size_t errlen)
{
    size_t bound, n;
    ZSTD_CCtx *cctx;
    void *out;

    if (rawlen == 0 || rawlen > EXAMPLE_MAX_RAW) {
        snprintf(err, errlen, "record of %zu bytes is not a record", rawlen);
        return -1;
    }
    bound = ZSTD_compressBound(rawlen);
    out = xmalloc(bound);
    cctx = example_cctx();
    n = cctx ? ZSTD_compressCCtx(cctx, out, bound, raw, rawlen, 1)
             : ZSTD_compress(out, bound, raw, rawlen, 1);
    if (ZSTD_isError(n)) {
        snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(n));
        free(out);
        return -1;
    }
    *blob = out;
    *len = n;
    return 0;
}

/* example_store - RFC 8878: magic, a single-segment frame header with a
 * 4-byte content size, then raw blocks of at most 128 KiB (the last one
 * marked); no checksum, as example_compress() writes none */
int
example_store(const void *raw, size_t rawlen, void **blob, size_t *len,
              char *err, size_t errlen)
{
    const size_t bmax = EXAMPLE_BLOCK_MAX;
    size_t nblock, off = 0, at = EXAMPLE_STORE_HEAD;
    unsigned char *out;

    if (rawlen == 0 || rawlen > EXAMPLE_MAX_RAW) {
        snprintf(err, errlen, "record of %zu bytes is not a record", rawlen);
        return -1;
    }
    nblock = (rawlen + bmax - 1) / bmax;
    out = xmalloc(EXAMPLE_STORE_HEAD + 3 * nblock + rawlen);
    example_store_head(out, rawlen);
    while (off < rawlen) {
        size_t n = rawlen - off < bmax ? rawlen - off : bmax;

        example_block_head(out + at, n, off + n == rawlen);
        at += 3;
        memcpy(out + at, (const unsigned char *)raw + off, n);
        at += n;
        off += n;
    }
    *blob = out;
    *len = at;
    return 0;
}

/* example_encode - serialise and compress */
int
example_encode(const struct example *ex, void **blob, size_t *len, char *err,
               size_t errlen)
{
    void *raw;
    size_t rawlen;
    int rc;

    if (example_serialize(ex, &raw, &rawlen, err, errlen) != 0)
        return -1;
    rc = example_compress(raw, rawlen, blob, len, err, errlen);
    free(raw);
    return rc;
}

/* example_unzstd - check the frame, then decompress it into *raw
 * (malloc'd, the caller frees): its declared size and that nothing
 * follows it are checked before anything is allocated */
static int
example_unzstd(const void *blob, size_t len, unsigned char **raw,
               size_t *rawlen, char *err, size_t errlen)
{
    unsigned long long fcs;
    unsigned char *buf;
    size_t flen, n;

    if (blob == NULL || len == 0) {
        snprintf(err, errlen, "empty example record");
        return -1;
    }
    if (len > EXAMPLE_MAX_BLOB) {
        snprintf(err, errlen, "record of %zu bytes is over the limit", len);
        return -1;
    }
    fcs = ZSTD_getFrameContentSize(blob, len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR) {
        snprintf(err, errlen, "not a compressed example record");
        return -1;
    }
    if (fcs == ZSTD_CONTENTSIZE_UNKNOWN) {
        snprintf(err, errlen, "example record frame without a content size");
        return -1;
    }
    if (fcs == 0) {
        snprintf(err, errlen, "empty example record");
        return -1;
    }
    if (fcs > EXAMPLE_MAX_RAW) {
        snprintf(err, errlen, "example record of %llu bytes decompressed "
                 "is over the limit of %u", fcs, EXAMPLE_MAX_RAW);
        return -1;
    }
    flen = ZSTD_findFrameCompressedSize(blob, len);
    if (ZSTD_isError(flen) || flen != len) {
        snprintf(err, errlen, "example record: %s",
                 ZSTD_isError(flen) ? ZSTD_getErrorName(flen)
                                    : "bytes after the zstd frame");
        return -1;
    }
    buf = xmalloc((size_t)fcs);
    n = ZSTD_decompress(buf, (size_t)fcs, blob, len);
    if (ZSTD_isError(n) || n != fcs) {
        snprintf(err, errlen, "zstd: %s",
                 ZSTD_isError(n) ? ZSTD_getErrorName(n) : "short frame");
        free(buf);
        return -1;
    }
    *raw = buf;
    *rawlen = n;
    return 0;
}

/* example_get_centi - an i32 of hundredths */
static int
example_get_centi(struct bytes_r *rd, double *v)
{
    uint64_t u;

    if (bytes_get_le(rd, 4, &u) != 0)
        return -1;
    *v = (int32_t)(uint32_t)u / 100.0;
    return 0;
}

/* example_parse_symbols - nsym symbols (checked against the bytes left
 * first) into ex->res; 0, -1 with err */
static int
example_parse_symbols(struct bytes_r *rd, struct example *ex, char *err,
                      size_t errlen)
{
    size_t least = ex->res.has_scores ? 6 : 2; /* u8 length, 1 byte name */
    uint64_t nsym;

    if (bytes_get_le(rd, 2, &nsym) != 0)
        goto trunc;
    if (nsym > HDR_MAX_SYMBOLS) {
        snprintf(err, errlen, "%llu symbols is over the limit",
                 (unsigned long long)nsym);
        return -1;
    }
    if ((size_t)nsym > (rd->len - rd->off) / least)
        goto trunc;
    ex->res.sym = nsym ? xcalloc((size_t)nsym, sizeof(*ex->res.sym)) : NULL;
    for (size_t i = 0; i < nsym; i++) {
        struct hdr_symbol *s = &ex->res.sym[i];
        const unsigned char *q;
        uint64_t nl;

        if (bytes_get_le(rd, 1, &nl) != 0 ||
            (q = bytes_get(rd, (size_t)nl)) == NULL)
            goto trunc;
        if (!hdr_name_valid((const char *)q, (size_t)nl)) {
            snprintf(err, errlen, "bad symbol name in example");
            return -1;
        }
        memcpy(s->name, q, (size_t)nl);
        s->name[nl] = '\0';
        s->len = (uint8_t)nl;
        if (ex->res.has_scores && example_get_centi(rd, &s->score) != 0)
            goto trunc;
        ex->res.nsym++;
    }
    return 0;
trunc:
    snprintf(err, errlen, "truncated example record");
    return -1;
}

/* example_parse - the fields of a decompressed record into ex */
static int
example_parse(const unsigned char *raw, size_t rawlen, struct example *ex,
              char *err, size_t errlen)
{
    struct bytes_r rd = { raw, rawlen, 0 };
    uint64_t v, flags, format = 0, key = 0, src = 0;

    if (bytes_get_le(&rd, 1, &format) != 0 ||
        (format != EXAMPLE_FORMAT && format != EXAMPLE_FORMAT_V1) ||
        bytes_get_le(&rd, 1, &flags) != 0) {
        snprintf(err, errlen, "unknown example format");
        return -1;
    }
    if (((flags >> 3) & 3) != 1 && ((flags >> 3) & 3) != 2) {
        snprintf(err, errlen, "bad upstream in example");
        return -1;
    }
    if ((flags & ~(uint64_t)EXAMPLE_FLAGS_KNOWN) != 0) {
        snprintf(err, errlen, "unknown flags 0x%02llx in example",
                 (unsigned long long)flags);
        return -1;
    }
    ex->spam = (flags & 1) != 0;
    ex->explicit_ = (flags & 2) != 0;
    ex->res.has_scores = (flags & 4) != 0;
    ex->res.upstream = ((flags >> 3) & 3) == 1 ? HDR_UPSTREAM_RSPAMD
                                               : HDR_UPSTREAM_SA;
    ex->res.truncated = (flags & 32) != 0;
    if (bytes_get_le(&rd, 8, &v) != 0 ||
        (format == EXAMPLE_FORMAT &&
         (bytes_get_le(&rd, 8, &key) != 0 ||
          bytes_get_le(&rd, 1, &src) != 0)) ||
        example_get_centi(&rd, &ex->res.score) != 0 ||
        example_get_centi(&rd, &ex->res.required) != 0) {
        snprintf(err, errlen, "truncated example record");
        return -1;
    }
    ex->time = (int64_t)v;
    if (format == EXAMPLE_FORMAT &&
        (key == 0 || src >= EXAMPLE_NSOURCES ||
         (src != EXAMPLE_SRC_AUTOLEARN) != ex->explicit_)) {
        snprintf(err, errlen, "bad key or source in example");
        return -1;
    }
    if (example_parse_symbols(&rd, ex, err, errlen) != 0)
        return -1;
    if (format == EXAMPLE_FORMAT_V1) {
        /* no key: its content stands in, so two copies of one old
         * record still count once */
        src = ex->explicit_ ? EXAMPLE_SRC_ADMIN : EXAMPLE_SRC_AUTOLEARN;
        key = learn_key_content(&ex->res);
    }
    ex->key = key;
    ex->source = (enum example_source)src;
    if (rd.off != rd.len) {
        snprintf(err, errlen, "trailing bytes in example");
        return -1;
    }
    return 0;
}

/* example_decode - decompress and check every field */
int
example_decode(const void *blob, size_t len, struct example *ex, char *err,
               size_t errlen)
{
    unsigned char *raw;
    size_t rawlen;
    int rc;

    memset(ex, 0, sizeof(*ex));
    if (example_unzstd(blob, len, &raw, &rawlen, err, errlen) != 0)
        return -1;
    rc = example_parse(raw, rawlen, ex, err, errlen);
    free(raw);
    if (rc != 0) {
        example_free(ex);
        memset(ex, 0, sizeof(*ex));
    }
    return rc;
}
