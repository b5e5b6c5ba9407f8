/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_model_corpus - the sparse pass against libfann on every message of
 * the shared corpus, both scanners: each message's verdict goes through
 * feat_sparse() and model_score_sparse() (the milter's path) and through
 * feat_vector() and model_score_fann() (libfann's fann_run() on the dense
 * vector); the two must agree within 1e-6, for a fresh network and one
 * trained for a few epochs on the train split, and feat_sparse() must be
 * feat_vector() bit for bit. Started by model_corpus.sh with the unpacked
 * corpus directory and index.tsv; a few TAP lines, the largest
 * difference in each.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "feat.h"
#include "hdr.h"
#include "model.h"
#include "xmalloc.h"
#include "../tap.h"

#define CORPUS_MESSAGES 6046   /* rows of index.tsv (README.md) */
#define CORPUS_MAX_FILE (16u << 20)
#define CORPUS_TOL 1e-6

/* One scanner's messages, parsed. */
struct corpus {
    const char *scanner;
    struct hdr_result *res;
    int *spam, *train;
    size_t n;
};

/* read_file - the whole file, NUL-terminated; NULL on error */
static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;

    if (f == NULL)
        return NULL;
    buf = xmalloc(CORPUS_MAX_FILE + 1);
    *len = fread(buf, 1, CORPUS_MAX_FILE, f);
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

/* on_header - hdr_header_fn into a hdr_seen */
static int
on_header(const char *name, const char *value, void *arg)
{
    hdr_seen_add(arg, name, value);
    return 0;
}

/* corpus_load - parse every message of one scanner listed in index */
static int
corpus_load(struct corpus *c, const char *dir, const char *index)
{
    char line[1024], path[4096], err[256], *f[9], *save;
    FILE *idx = fopen(index, "r");

    if (idx == NULL)
        return -1;
    c->res = xcalloc(CORPUS_MESSAGES, sizeof(*c->res));
    c->spam = xcalloc(CORPUS_MESSAGES, sizeof(*c->spam));
    c->train = xcalloc(CORPUS_MESSAGES, sizeof(*c->train));
    while (fgets(line, sizeof(line), idx) != NULL && c->n < CORPUS_MESSAGES) {
        struct hdr_seen seen = { 0 };
        size_t len;
        char *msg;
        int n = 0;

        line[strcspn(line, "\r\n")] = '\0';
        for (char *t = strtok_r(line, "\t", &save); t != NULL && n < 9;
             t = strtok_r(NULL, "\t", &save))
            f[n++] = t;
        if (n != 9 || strcmp(f[0], "id") == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s/%s/%s/%s.eml", dir, c->scanner,
                 f[3], f[1], f[0]);
        if ((msg = read_file(path, &len)) == NULL) {
            diag("cannot read %s", path);
            fclose(idx);
            return -1;
        }
        hdr_message_headers(msg, len, on_header, &seen);
        free(msg);
        hdr_result_init(&c->res[c->n]);
        if (hdr_evaluate(&seen, HDR_FORMAT_AUTO, HDR_TRUST_SINGLE,
                         &c->res[c->n], err, sizeof(err)) != HDR_OK ||
            !hdr_upstream_usable(c->res[c->n].upstream)) {
            diag("%s: %s", path, err);
            hdr_seen_free(&seen);
            fclose(idx);
            return -1;
        }
        hdr_seen_free(&seen);
        c->spam[c->n] = strcmp(f[1], "spam") == 0;
        c->train[c->n] = strcmp(f[3], "train") == 0;
        c->n++;
    }
    fclose(idx);
    return 0;
}

/* corpus_profile - every symbol of the corpus, with the score channel
 * when the scanner prints scores (as the trainer would decide) */
static struct feat_profile *
corpus_profile(const struct corpus *c)
{
    size_t n = 0, with_scores = 0;
    const char **names = NULL;
    struct feat_profile *p;

    for (size_t i = 0; i < c->n; i++) {
        names = xreallocarray(names, n + c->res[i].nsym + 1, sizeof(*names));
        for (size_t k = 0; k < c->res[i].nsym; k++)
            names[n++] = c->res[i].sym[k].name;
        with_scores += c->res[i].has_scores != 0;
    }
    p = feat_profile_new(names, n, with_scores * 2 > c->n);
    free(names);
    return p;
}

/* corpus_compare - the largest |sparse - fann_run| over every message,
 * and how many vectors differ between feat_sparse() and feat_vector();
 * -1 on a failure */
static double
corpus_compare(const struct corpus *c, struct model *m, size_t *vec_bad)
{
    const struct feat_profile *p = model_profile(m);
    size_t nin = feat_ninputs(p), unk;
    float *dense = xcalloc(nin, sizeof(*dense));
    float *scat = xcalloc(nin, sizeof(*scat));
    struct feat_pair *x = xreallocarray(NULL, feat_pairs_max(HDR_MAX_SYMBOLS),
                                        sizeof(*x));
    double worst = 0;

    *vec_bad = 0;
    for (size_t i = 0; i < c->n; i++) {
        double ps, pf;
        size_t n;

        if (feat_vector(p, &c->res[i], dense, nin, &unk) != 0 ||
            feat_sparse(p, &c->res[i], x, feat_pairs_max(HDR_MAX_SYMBOLS),
                        &n, &unk) != 0 ||
            model_score_sparse(m, x, n, &ps) != 0 ||
            model_score_fann(m, dense, nin, &pf) != 0) {
            worst = -1;
            break;
        }
        memset(scat, 0, nin * sizeof(*scat));
        for (size_t k = 0; k < n; k++)
            scat[x[k].idx] = x[k].val;
        *vec_bad += memcmp(scat, dense, nin * sizeof(*scat)) != 0;
        if (fabs(ps - pf) > worst)
            worst = fabs(ps - pf);
    }
    free(dense);
    free(scat);
    free(x);
    return worst;
}

/* corpus_train - a few epochs on the train split, for realistic weights */
static int
corpus_train(const struct corpus *c, struct model *m)
{
    const struct feat_profile *p = model_profile(m);
    struct model_train_opts opts = {
        .max_epochs = 5, .patience = 5, .target_fpr = 0.01,
        .smoothing = 0.05, .learning_rate = 0.03, .seed = 7,
    };
    struct feat_pair *pair = NULL;
    size_t *off = xreallocarray(NULL, c->n + 1, sizeof(*off));
    float *y = xreallocarray(NULL, c->n + 1, sizeof(*y));
    size_t k = 0, r = 0, np;
    struct model_rows rows;
    char err[200];
    int rc;

    for (size_t i = 0; i < c->n; i++) {
        if (!c->train[i])
            continue;
        pair = xreallocarray(pair, k + feat_pairs_max(c->res[i].nsym),
                             sizeof(*pair));
        if (feat_sparse(p, &c->res[i], pair + k,
                        feat_pairs_max(c->res[i].nsym), &np, NULL) != 0)
            return -1;
        off[r] = k;
        y[r] = (float)c->spam[i];
        k += np;
        r++;
    }
    off[r] = k;
    rows = (struct model_rows){ .n = r, .off = off, .pair = pair, .y = y };
    rc = model_train_sparse(m, &rows, NULL, &opts, err, sizeof(err));
    if (rc != 0)
        diag("training: %s", err);
    free(pair);
    free(off);
    free(y);
    return rc;
}

int
main(int argc, char **argv)
{
    const char *scanners[] = { "rspamd", "spamassassin" };
    struct cfg *cfg = cfg_defaults();

    if (argc != 3)
        skip_all("usage: t_model_corpus CORPUS_DIR INDEX_TSV "
                 "(run t/unit/model_corpus.sh)");
    plan(10);
    for (size_t s = 0; s < 2; s++) {
        struct corpus c = { .scanner = scanners[s] };
        struct feat_profile *p;
        struct model *m;
        unsigned hidden[2];
        size_t nh, bad;
        double worst;

        int loaded = corpus_load(&c, argv[1], argv[2]) == 0;

        ok(loaded && c.n == CORPUS_MESSAGES, "%s: %zu messages parsed",
           c.scanner, c.n);
        p = corpus_profile(&c);
        nh = cfg_hidden_layers(cfg, feat_ninputs(p), hidden);
        m = model_new(p, hidden, nh, 11);
        if (m == NULL) {
            ok(0, "%s: a network", c.scanner);
            continue;
        }
        worst = corpus_compare(&c, m, &bad);
        is_int(bad, 0, "%s: feat_sparse() is feat_vector() on every message",
               c.scanner);
        ok(worst >= 0 && worst <= CORPUS_TOL, "%s: fresh %zu-input network: "
           "sparse score equals fann_run() on all %zu messages (max |diff| "
           "%.3g)", c.scanner, model_ninputs(m), c.n, worst);
        ok(corpus_train(&c, m) == 0, "%s: trained 5 epochs", c.scanner);
        worst = corpus_compare(&c, m, &bad);
        ok(worst >= 0 && worst <= CORPUS_TOL, "%s: trained network: sparse "
           "score equals fann_run() on all %zu messages (max |diff| %.3g)",
           c.scanner, c.n, worst);
        model_release(m);
        for (size_t i = 0; i < c.n; i++)
            hdr_result_free(&c.res[i]);
        free(c.res);
        free(c.spam);
        free(c.train);
    }
    cfg_release(cfg);
    return exit_status();
}
