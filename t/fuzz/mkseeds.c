/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mkseeds - write the seed corpora of fuzz_model and fuzz_example with
 * our own encoders: a few model blobs (one and two hidden layers, with
 * and without scores, fresh and with training figures) into
 * DIR/seeds-model and a few example records into DIR/seeds-example,
 * each as the blob and as its uncompressed payload ("NAME.raw"), which
 * the targets compress themselves.
 * `make fuzz-seeds` runs it over t/fuzz; the output is committed, so it
 * only needs running again when a format changes.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "example.h"
#include "model.h"

/* mk_write - dir/name holds len bytes of p, or exit */
static void
mk_write(const char *dir, const char *sub, const char *name, const void *p,
         size_t len)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, name);
    if ((f = fopen(path, "wb")) == NULL || fwrite(p, 1, len, f) != len ||
        fclose(f) != 0) {
        fprintf(stderr, "mkseeds: cannot write %s\n", path);
        exit(1);
    }
}

/* mk_both - name as the blob, name.raw as its decompressed payload */
static void
mk_both(const char *dir, const char *sub, const char *name, const void *b,
        size_t len)
{
    unsigned long long n = ZSTD_getFrameContentSize(b, len);
    char rawname[256];
    void *raw;

    if (n == ZSTD_CONTENTSIZE_UNKNOWN || n == ZSTD_CONTENTSIZE_ERROR ||
        (raw = malloc(n)) == NULL || ZSTD_decompress(raw, n, b, len) != n) {
        fprintf(stderr, "mkseeds: %s: cannot decompress\n", name);
        exit(1);
    }
    mk_write(dir, sub, name, b, len);
    snprintf(rawname, sizeof(rawname), "%s.raw", name);
    mk_write(dir, sub, rawname, raw, n);
    free(raw);
}

/* mk_model - one model seed */
static void
mk_model(const char *dir, const char *name, const char *const *names,
         size_t nsym, int scores, const unsigned *hidden, size_t nh,
         const struct model_meta *mt)
{
    struct model *m = model_new(feat_profile_new(names, nsym, scores), hidden,
                                nh, 7);
    char err[256];
    void *b;
    size_t len;

    if (m == NULL) {
        fprintf(stderr, "mkseeds: model_new %s failed\n", name);
        exit(1);
    }
    if (mt != NULL)
        model_set_meta(m, mt);
    if (model_to_blob(m, &b, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "mkseeds: %s: %s\n", name, err);
        exit(1);
    }
    mk_both(dir, "seeds-model", name, b, len);
    free(b);
    model_release(m);
}

/* mk_example - one example seed of n symbols from names */
static void
mk_example(const char *dir, const char *name, enum hdr_upstream up,
           int scores, const char *const *names, size_t n, int spam,
           int explicit_, int truncated)
{
    struct hdr_symbol sym[8];
    struct hdr_result r;
    struct example ex;
    char err[256];
    void *b;
    size_t len;

    hdr_result_init(&r);
    r.upstream = up;
    r.has_scores = scores;
    r.truncated = truncated;
    r.score = spam ? 12.34 : -1.5;
    r.required = up == HDR_UPSTREAM_SA ? 5 : 15;
    for (size_t i = 0; i < n; i++) {
        snprintf(sym[i].name, sizeof(sym[i].name), "%s", names[i]);
        sym[i].score = scores ? (double)i - 1.25 : 0;
        sym[i].len = 0; /* not recorded */
    }
    r.nsym = n;
    r.sym = n ? sym : NULL;
    if (example_from_result(&ex, &r, spam, explicit_, 1732665600) != 0 ||
        example_encode(&ex, &b, &len, err, sizeof(err)) != 0) {
        fprintf(stderr, "mkseeds: example %s failed\n", name);
        exit(1);
    }
    mk_both(dir, "seeds-example", name, b, len);
    free(b);
    example_free(&ex);
}

int
main(int argc, char **argv)
{
    static const char *const rs[] = {"BAYES_SPAM", "DKIM_VALID",
                                     "MIME_GOOD", "R_SPF_ALLOW",
                                     "RCVD_COUNT_3", "URIBL_BLACK"};
    static const char *const sa[] = {"BAYES_99", "HTML_MESSAGE",
                                     "RDNS_NONE", "SPF_PASS"};
    const unsigned h1[] = {4}, h2[] = {5, 3}, h3[] = {2};
    const struct model_meta mt = {
        .trained_at = 1732665600, .n_spam = 1200, .n_ham = 1300,
        .n_val_spam = 300, .n_val_ham = 310, .n_explicit = 42,
        .iterations = 2, .epochs = 37, .val_auc = 0.9921875,
        .val_mse = 0.03125, .val_tpr = 0.875, .val_fpr = 0.0078125,
        .spam_threshold = 0.8125, .ham_threshold = 0.1875,
    };

    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 2;
    }
    mk_model(argv[1], "rspamd-scores-1hidden", rs, 6, 1, h1, 1, &mt);
    mk_model(argv[1], "sa-2hidden", sa, 4, 0, h2, 2, &mt);
    mk_model(argv[1], "fresh-1symbol", rs, 1, 0, h3, 1, NULL);

    mk_example(argv[1], "rspamd-spam-scores", HDR_UPSTREAM_RSPAMD, 1, rs, 6,
               1, 0, 0);
    mk_example(argv[1], "rspamd-ham-explicit-truncated",
               HDR_UPSTREAM_RSPAMD, 1, rs, 3, 0, 1, 1);
    mk_example(argv[1], "sa-spam", HDR_UPSTREAM_SA, 0, sa, 4, 1, 0, 0);
    mk_example(argv[1], "sa-ham-nosymbols", HDR_UPSTREAM_SA, 0, sa, 0, 0, 1,
               0);
    return 0;
}
