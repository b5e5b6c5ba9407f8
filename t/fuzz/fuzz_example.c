/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_example - libFuzzer target over example_decode(), the reader of
 * training example records from Redis. Each input goes in twice: as a
 * blob, and as a record that the target compresses (the seeds hold
 * both). A refused input must leave an empty example and say why; an
 * accepted one must hold what hdr.h promises (usable upstream, at most
 * HDR_MAX_SYMBOLS valid names, finite scores) and survive the round
 * trip: serializing it gives the very payload of the input (the record
 * has one spelling per example; a format 1 record comes back as format
 * 2), and its encoding decodes to an example
 * that serializes alike. Everything is freed, so the leak checker runs
 * too. Built by `make fuzz` (clang, system libzstd).
 */
#include "config.h"
#include "example.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_check - the contract of a decoded example, or trap */
static void
fuzz_check(const struct example *ex)
{
    const struct hdr_result *r = &ex->res;

    if (!hdr_upstream_usable(r->upstream) || r->nsym > HDR_MAX_SYMBOLS ||
        (r->nsym > 0) != (r->sym != NULL) || !isfinite(r->score) ||
        !isfinite(r->required) || (ex->spam != 0 && ex->spam != 1) ||
        (ex->explicit_ != 0 && ex->explicit_ != 1))
        __builtin_trap();
    for (size_t i = 0; i < r->nsym; i++)
        if (!hdr_name_valid(r->sym[i].name, strlen(r->sym[i].name)) ||
            !isfinite(r->sym[i].score) ||
            (!r->has_scores && r->sym[i].score != 0))
            __builtin_trap();
}

/* fuzz_payload - the decompressed content of an accepted record */
static unsigned char *
fuzz_payload(const void *blob, size_t len, size_t *rawlen)
{
    unsigned long long n = ZSTD_getFrameContentSize(blob, len);
    unsigned char *raw;

    if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ||
        n == 0 || n > EXAMPLE_MAX_RAW)
        __builtin_trap();
    raw = malloc(n);
    if (raw == NULL)
        abort();
    *rawlen = ZSTD_decompress(raw, n, blob, len);
    if (ZSTD_isError(*rawlen) || *rawlen != n)
        __builtin_trap();
    return raw;
}

/* fuzz_blob - one blob through the reader and the round trip */
static void
fuzz_blob(const uint8_t *data, size_t size)
{
    static const struct example zero;
    struct example ex, ex2;
    unsigned char *raw;
    void *ser = NULL, *ser2 = NULL, *b = NULL;
    size_t rawlen, serlen, serlen2, len;
    char err[256] = "";

    if (example_decode(data, size, &ex, err, sizeof(err)) != 0) {
        if (memcmp(&ex, &zero, sizeof(ex)) != 0 || err[0] == '\0')
            __builtin_trap();
        return;
    }
    fuzz_check(&ex);

    /* the round trip: the same payload, then the same again */
    if (example_serialize(&ex, &ser, &serlen, err, sizeof(err)) != 0)
        __builtin_trap();
    raw = fuzz_payload(data, size, &rawlen);
    /* a format 1 record is rewritten as format 2 (key and source added) */
    if (raw[0] != 1 && (serlen != rawlen || memcmp(ser, raw, rawlen) != 0))
        __builtin_trap();
    if (example_encode(&ex, &b, &len, err, sizeof(err)) != 0 ||
        example_decode(b, len, &ex2, err, sizeof(err)) != 0)
        __builtin_trap();
    fuzz_check(&ex2);
    if (example_serialize(&ex2, &ser2, &serlen2, err, sizeof(err)) != 0 ||
        serlen2 != serlen || memcmp(ser, ser2, serlen) != 0)
        __builtin_trap();

    free(raw);
    free(ser);
    free(ser2);
    free(b);
    example_free(&ex2);
    example_free(&ex);
}

/* LLVMFuzzerTestOneInput - the input as a blob, then as a record */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t bound = ZSTD_compressBound(size), len;
    void *blob;

    fuzz_blob(data, size);
    if (size > EXAMPLE_MAX_RAW)
        return 0;
    if ((blob = malloc(bound)) == NULL)
        abort();
    len = ZSTD_compress(blob, bound, data, size, 1);
    if (ZSTD_isError(len))
        __builtin_trap();
    fuzz_blob(blob, len);
    free(blob);
    return 0;
}
