/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_model - libFuzzer target over model_from_blob(), the one reader of
 * model blobs from Redis. Each input goes in twice: as a blob, and as a
 * payload that the target gives a correct checksum and compresses (a
 * mutation of a compressed, checksummed blob almost never reaches the
 * fields, so the seeds hold payloads too). A refused input must leave no
 * model and say why; an accepted one must score into [0, 1] (or refuse
 * to score) and survive the round trip: its re-encoding holds the very
 * payload of the input (the format has one spelling per model) and
 * decodes to a model that re-encodes to the same blob. Everything is
 * freed, so the leak checker runs too. Built by `make fuzz` (clang,
 * system libfann and libzstd).
 */
#include "config.h"
#include "model.h"
#include "util.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_payload - the decompressed content of a blob model_from_blob()
 * accepted (so one frame of a known, bounded size); malloc'd */
static unsigned char *
fuzz_payload(const void *blob, size_t len, size_t *rawlen)
{
    unsigned long long n = ZSTD_getFrameContentSize(blob, len);
    unsigned char *raw;

    if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ||
        n > MODEL_MAX_RAW)
        __builtin_trap();
    raw = malloc(n ? n : 1);
    if (raw == NULL)
        abort();
    *rawlen = ZSTD_decompress(raw, n, blob, len);
    if (ZSTD_isError(*rawlen) || *rawlen != n)
        __builtin_trap();
    return raw;
}

/* fuzz_score - a zero vector scores into [0, 1], or fails cleanly */
static void
fuzz_score(struct model *m)
{
    size_t nin = model_ninputs(m);
    float *x = calloc(nin ? nin : 1, sizeof(*x));
    double p = -1;

    if (x == NULL)
        abort();
    if (model_score(m, x, nin, &p) == 0 && !(p >= 0 && p <= 1))
        __builtin_trap();
    free(x);
}

/* fuzz_meta_eq - every field equal, doubles to the bit */
static int
fuzz_meta_eq(const struct model_meta *a, const struct model_meta *b)
{
    const double da[] = {a->val_auc, a->val_mse, a->val_tpr, a->val_fpr,
                         a->spam_threshold, a->ham_threshold};
    const double db[] = {b->val_auc, b->val_mse, b->val_tpr, b->val_fpr,
                         b->spam_threshold, b->ham_threshold};

    return a->trained_at == b->trained_at && a->n_spam == b->n_spam &&
           a->n_ham == b->n_ham && a->n_val_spam == b->n_val_spam &&
           a->n_val_ham == b->n_val_ham && a->n_explicit == b->n_explicit &&
           a->iterations == b->iterations && a->epochs == b->epochs &&
           memcmp(da, db, sizeof(da)) == 0;
}

/* fuzz_blob - one blob through the reader and the round trip */
static void
fuzz_blob(const uint8_t *data, size_t size)
{
    struct model *m = NULL, *m2 = NULL;
    unsigned char *raw, *raw2;
    void *b = NULL, *b2 = NULL;
    size_t len, len2, rawlen, rawlen2;
    char err[256] = "";

    if (model_from_blob(data, size, &m, err, sizeof(err)) != 0) {
        if (m != NULL || err[0] == '\0')
            __builtin_trap();
        return;
    }
    if (m == NULL || model_version(m) != 0)
        __builtin_trap();
    fuzz_score(m);

    /* the round trip: same payload, and a fixed point after one step */
    if (model_to_blob(m, &b, &len, err, sizeof(err)) != 0 ||
        len > MODEL_MAX_BLOB)
        __builtin_trap();
    raw = fuzz_payload(data, size, &rawlen);
    raw2 = fuzz_payload(b, len, &rawlen2);
    /* an older format is written as the current one: then only the fixed
     * point below holds (bytes 8..11 are the format version) */
    if (rawlen >= 12 && rawlen2 >= 12 && memcmp(raw + 8, raw2 + 8, 4) == 0 &&
        (rawlen != rawlen2 || memcmp(raw, raw2, rawlen) != 0))
        __builtin_trap();
    if (model_from_blob(b, len, &m2, err, sizeof(err)) != 0 ||
        model_to_blob(m2, &b2, &len2, err, sizeof(err)) != 0 ||
        len2 != len || memcmp(b, b2, len) != 0)
        __builtin_trap();
    if (strcmp(model_id(m), model_id(m2)) != 0 ||
        !fuzz_meta_eq(model_meta(m), model_meta(m2)))
        __builtin_trap();

    free(raw);
    free(raw2);
    free(b);
    free(b2);
    model_release(m2);
    model_release(m);
}

/* LLVMFuzzerTestOneInput - the input as a blob, then as a payload */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *raw;
    void *blob;
    size_t bound, len;
    uint64_t h;

    fuzz_blob(data, size);
    if (size < 8 || size > MODEL_MAX_RAW)
        return 0;
    raw = malloc(size);
    bound = ZSTD_compressBound(size);
    blob = malloc(bound);
    if (raw == NULL || blob == NULL)
        abort();
    memcpy(raw, data, size);
    h = util_hash64(raw, size - 8, UTIL_HASH64_INIT);
    for (int i = 0; i < 8; i++)
        raw[size - 8 + i] = (unsigned char)(h >> (8 * i));
    len = ZSTD_compress(blob, bound, raw, size, 1);
    if (ZSTD_isError(len))
        __builtin_trap();
    fuzz_blob(blob, len);
    free(blob);
    free(raw);
    return 0;
}
