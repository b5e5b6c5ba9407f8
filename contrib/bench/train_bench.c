/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * train_bench - what one training costs: model_train_sparse() on a fresh
 * network for N synthetic examples of 300 inputs (149 Rspamd symbols with
 * scores, plus the meta-inputs), hidden layers as cfg_defaults() makes
 * them, with the trainer's settings (max_epochs 500, trainer_patience(),
 * target_fpr 0.005, 10% held back). The examples are built as the
 * trainer builds them: feat_sparse() pairs, never dense rows. Prints
 * epochs, wall-clock and CPU seconds per run, the median run, and the
 * process's peak RSS (getrusage: examples and training together; run one
 * size per process to see each size's peak). Single thread, no Redis;
 * links $(NM_LIBS).
 *
 *   train_bench [-r RUNS] [N...]      (default: -r 3 10000 40000)
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "feat.h"
#include "model.h"
#include "trainer.h"
#include "util.h"
#include "xmalloc.h"

#define BENCH_NSYM 149          /* symbols: 2 * 149 + 2 = 300 inputs */
#define BENCH_MAX_RUNS 15
#define BENCH_MAX_EXAMPLES 1000000
#define BENCH_MAX_SIZES 8
#define BENCH_HOLDOUT 10        /* one example in 10 is held back */
#define BENCH_MAX_EPOCHS 500    /* the trainer's settings */
#define BENCH_TARGET_FPR 0.005

/* The synthetic scanner: per symbol a score and how often it fires in
 * spam and in ham. The same scheme as the messages of contrib/bench/run. */
struct bench_world {
    double score[BENCH_NSYM];
    double p_spam[BENCH_NSYM];
    double p_ham[BENCH_NSYM];
};

/* One run's figures. */
struct bench_run {
    unsigned epochs;
    double seconds;     /* wall clock */
    double cpu;         /* this thread's CPU time: other jobs hardly
                           change it */
    double auc;
};

/* bench_rand - xorshift64*, uniform in [0, 1) */
static double
bench_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* bench_now - seconds on a clock: CLOCK_MONOTONIC or
 * CLOCK_THREAD_CPUTIME_ID */
static double
bench_now(clockid_t clock)
{
    struct timespec ts;

    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bench_world_init - symbols 0..49 lean spam, 50..99 lean ham (each
 * fires 2.5 times as often in its class), 100..148 fire alike in both;
 * every third carries a score of 0 (informational symbols) */
static void
bench_world_init(struct bench_world *w, uint64_t seed)
{
    for (size_t k = 0; k < BENCH_NSYM; k++) {
        double p = 0.05 + 0.25 * bench_rand(&seed);
        double mag = 0.1 + 4.9 * bench_rand(&seed);
        int lean = k < 50 ? 1 : k < 100 ? -1 : 0;

        w->p_spam[k] = lean < 0 ? p / 2.5 : p;
        w->p_ham[k] = lean > 0 ? p / 2.5 : p;
        if (k % 3 == 0)
            w->score[k] = 0;
        else
            w->score[k] = lean > 0 ? mag : lean < 0 ? -mag / 2 : mag / 4;
        /* two decimals, as Rspamd prints them */
        w->score[k] = (double)(long)(w->score[k] * 100) / 100;
    }
}

/* bench_profile - the 149 names with the score channel */
static struct feat_profile *
bench_profile(void)
{
    char *names[BENCH_NSYM];
    struct feat_profile *p;

    for (size_t k = 0; k < BENCH_NSYM; k++) {
        names[k] = xmalloc(16);
        snprintf(names[k], 16, "BENCH_S%03zu", k);
    }
    p = feat_profile_new((const char *const *)names, BENCH_NSYM, 1);
    for (size_t k = 0; k < BENCH_NSYM; k++)
        free(names[k]);
    return p;
}

/* Sparse examples: pairs, offsets and labels. */
struct bench_set {
    struct feat_pair *pair;
    size_t *off;
    float *y;
    size_t n, npair, cap;
};

/* bench_set_add - one example's pairs */
static void
bench_set_add(struct bench_set *b, const struct feat_profile *p,
              const struct hdr_result *res, int spam)
{
    size_t np;

    if (b->npair + feat_pairs_max(res->nsym) > b->cap) {
        b->cap = 2 * (b->npair + feat_pairs_max(res->nsym));
        b->pair = xreallocarray(b->pair, b->cap, sizeof(*b->pair));
    }
    if (feat_sparse(p, res, b->pair + b->npair, b->cap - b->npair, &np,
                    NULL) != 0) {
        fprintf(stderr, "train_bench: feat_sparse failed\n");
        exit(EX_SOFTWARE);
    }
    b->off[b->n] = b->npair;
    b->y[b->n] = (float)spam;
    b->npair += np;
    b->n++;
    b->off[b->n] = b->npair;
}

/* bench_examples - n examples, half spam; one pair (spam, ham) in
 * BENCH_HOLDOUT goes to the held-back set */
static void
bench_examples(const struct bench_world *w, const struct feat_profile *p,
               size_t n, uint64_t seed, struct bench_set *t,
               struct bench_set *v)
{
    struct hdr_symbol sym[BENCH_NSYM];
    struct hdr_result res;

    t->off = xreallocarray(NULL, n + 1, sizeof(*t->off));
    t->y = xreallocarray(NULL, n, sizeof(*t->y));
    v->off = xreallocarray(NULL, n + 1, sizeof(*v->off));
    v->y = xreallocarray(NULL, n, sizeof(*v->y));
    t->off[0] = v->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int spam = (int)(i & 1);
        /* pairs (one spam, one ham) go to the same side */
        int held = (i / 2) % BENCH_HOLDOUT == BENCH_HOLDOUT - 1;

        memset(&res, 0, sizeof(res));
        res.upstream = HDR_UPSTREAM_RSPAMD;
        res.required = 15.0;
        res.has_scores = 1;
        res.sym = sym;
        for (size_t k = 0; k < BENCH_NSYM; k++) {
            if (bench_rand(&seed) >= (spam ? w->p_spam[k] : w->p_ham[k]))
                continue;
            snprintf(sym[res.nsym].name, sizeof(sym[res.nsym].name),
                     "BENCH_S%03zu", k);
            sym[res.nsym].score = w->score[k];
            sym[res.nsym].len = 0; /* not recorded */
            res.score += w->score[k];
            res.nsym++;
        }
        bench_set_add(held ? v : t, p, &res, spam);
    }
    /* give back what the doubling overshot */
    t->pair = xreallocarray(t->pair, t->npair + 1, sizeof(*t->pair));
    v->pair = xreallocarray(v->pair, v->npair + 1, sizeof(*v->pair));
}

/* bench_set_free - release a set */
static void
bench_set_free(struct bench_set *b)
{
    free(b->pair);
    free(b->off);
    free(b->y);
    memset(b, 0, sizeof(*b));
}

/* bench_rows - a set as model_rows */
static struct model_rows
bench_rows(const struct bench_set *b)
{
    return (struct model_rows){ .n = b->n, .off = b->off, .pair = b->pair,
                                .y = b->y };
}

/* bench_one - train a fresh network once on the given examples */
static int
bench_one(const struct cfg *c, const struct bench_set *t,
          const struct bench_set *v, uint32_t seed, struct bench_run *out)
{
    struct model_train_opts opts = {
        .max_epochs = BENCH_MAX_EPOCHS,
        .patience = trainer_patience(t->n),
        .target_fpr = BENCH_TARGET_FPR,
        .smoothing = TRAINER_SMOOTHING,
        .learning_rate = TRAINER_RATE,
        .seed = seed,
    };
    struct feat_profile *p = bench_profile();
    unsigned hidden[2];
    size_t nhidden = cfg_hidden_layers(c, feat_ninputs(p), hidden);
    struct model *m = model_new(p, hidden, nhidden, seed);
    struct model_rows tr = bench_rows(t), va = bench_rows(v);
    char err[200];
    double t0, c0;

    if (m == NULL) {
        fprintf(stderr, "train_bench: cannot make a network\n");
        return -1;
    }
    t0 = bench_now(CLOCK_MONOTONIC);
    c0 = bench_now(CLOCK_THREAD_CPUTIME_ID);
    if (model_train_sparse(m, &tr, &va, &opts, err, sizeof(err)) != 0) {
        fprintf(stderr, "train_bench: %s\n", err);
        model_release(m);
        return -1;
    }
    out->cpu = bench_now(CLOCK_THREAD_CPUTIME_ID) - c0;
    out->seconds = bench_now(CLOCK_MONOTONIC) - t0;
    out->epochs = model_meta(m)->epochs;
    out->auc = model_meta(m)->val_auc;
    model_release(m);
    return 0;
}

/* bench_cmp - runs by wall-clock seconds */
static int
bench_cmp(const void *a, const void *b)
{
    double x = ((const struct bench_run *)a)->seconds;
    double y = ((const struct bench_run *)b)->seconds;

    return (x > y) - (x < y);
}

/* bench_usage - synopsis, EX_USAGE */
static void
bench_usage(void)
{
    fprintf(stderr, "usage: train_bench [-r RUNS] [EXAMPLES...]\n");
    exit(EX_USAGE);
}

/* main - per size: examples, RUNS trainings, the median */
int
main(int argc, char **argv)
{
    long runs = 3, sizes[BENCH_MAX_SIZES] = { 10000, 40000 };
    size_t nsizes = 2;
    struct bench_world w;
    struct cfg *c = cfg_defaults();
    struct feat_profile *p = bench_profile();
    size_t nin;
    unsigned hidden[2];
    int ch;

    while ((ch = getopt(argc, argv, "r:")) != -1) {
        if (ch != 'r' ||
            util_parse_long(optarg, 1, BENCH_MAX_RUNS, &runs) != 0)
            bench_usage();
    }
    if (argc - optind > BENCH_MAX_SIZES)
        bench_usage();
    if (optind < argc) {
        nsizes = 0;
        for (int i = optind; i < argc; i++)
            if (util_parse_long(argv[i], 2 * BENCH_HOLDOUT,
                                BENCH_MAX_EXAMPLES, &sizes[nsizes++]) != 0)
                bench_usage();
    }
    if (p == NULL || (nin = feat_ninputs(p)) != 300) {
        fprintf(stderr, "train_bench: the profile does not give 300 "
                "inputs\n");
        return EX_SOFTWARE;
    }
    bench_world_init(&w, 0x6e6d2d62656e6368ULL);
    printf("# model_train_sparse, fresh network: %zu inputs, hidden", nin);
    for (size_t i = 0, nh = cfg_hidden_layers(c, nin, hidden); i < nh; i++)
        printf(" %u", hidden[i]);
    printf("; max_epochs %d, patience %u to %u epochs (about %u steps), "
           "learning rate %g, targets %g/%g, target_fpr %g, 1 in %d held "
           "back; one thread\n", BENCH_MAX_EPOCHS, TRAINER_PATIENCE,
           TRAINER_PATIENCE_MAX, TRAINER_PATIENCE_STEPS, TRAINER_RATE,
           TRAINER_SMOOTHING, 1 - TRAINER_SMOOTHING, BENCH_TARGET_FPR,
           BENCH_HOLDOUT);
    printf("%9s %6s %6s %4s %7s %9s %9s %8s\n", "examples", "train",
           "held", "run", "epochs", "seconds", "cpu_s", "auc");
    fflush(stdout);
    for (size_t s = 0; s < nsizes; s++) {
        size_t n = (size_t)sizes[s];
        struct bench_set t = { 0 }, v = { 0 };
        struct bench_run r[BENCH_MAX_RUNS];
        struct rusage ru;

        bench_examples(&w, p, n, 0x5eed0000ULL + n, &t, &v);
        for (long i = 0; i < runs; i++) {
            if (bench_one(c, &t, &v, (uint32_t)(i + 1), &r[i]) != 0)
                return EX_SOFTWARE;
            printf("%9zu %6zu %6zu %4ld %7u %9.2f %9.2f %8.4f\n", n, t.n,
                   v.n, i + 1, r[i].epochs, r[i].seconds, r[i].cpu,
                   r[i].auc);
            fflush(stdout);
        }
        qsort(r, (size_t)runs, sizeof(r[0]), bench_cmp);
        getrusage(RUSAGE_SELF, &ru);
        printf("median %zu examples: %u epochs, %.2f s, CPU %.2f s (%.1f ms "
               "CPU per epoch); %zu non-zero inputs (%.1f per example, "
               "%.1f MiB of pairs); peak RSS so far %.1f MiB\n", n,
               r[runs / 2].epochs, r[runs / 2].seconds, r[runs / 2].cpu,
               1e3 * r[runs / 2].cpu /
                   (r[runs / 2].epochs ? r[runs / 2].epochs : 1),
               t.npair + v.npair, (double)(t.npair + v.npair) / (double)n,
               (double)(t.npair + v.npair) * sizeof(struct feat_pair) /
                   1048576.0,
               (double)ru.ru_maxrss / 1024.0);
        fflush(stdout);
        bench_set_free(&t);
        bench_set_free(&v);
    }
    feat_profile_free(p);
    cfg_release(c);
    return 0;
}
