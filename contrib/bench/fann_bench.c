/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fann_bench - what scoring one message costs: feat_sparse() plus
 * model_score_sparse() on the shared net (the milter's path), against
 * libfann's dense fann_run() on a net of the same shape (what scoring
 * cost before: the pool's lock and copy aside) and against building the
 * dense vector alone (feat_vector), for nets of 100, 300 and 1,000
 * inputs with the "auto" hidden size max(8, round(2 * sqrt(n))) capped at
 * 64 and a 30-symbol verdict. Median ns per call over 7 repetitions; one
 * thread. Includes <fann.h> itself for the baseline (a benchmark, not a
 * module: the rule that only model.c does is for src/).
 *
 * Run: ./fann_bench [target ms per repetition]
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fann.h>

#include "feat.h"
#include "model.h"
#include "xmalloc.h"

#define BENCH_REPS 7
#define BENCH_NSYM_RESULT 30 /* symbols in the benchmarked verdict */
#define BENCH_NVEC 64        /* distinct vectors cycled through */

/* bench_now - monotonic nanoseconds */
static double
bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* bench_cmp - ascending doubles */
static int
bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* bench_hidden - the "auto" hidden layer size for n inputs */
static unsigned
bench_hidden(size_t n)
{
    double h = round(2.0 * sqrt((double)n));

    if (h < 8)
        h = 8;
    if (h > 64)
        h = 64;
    return (unsigned)h;
}

/* bench_profile - nsym names "SYM_00000".. */
static struct feat_profile *
bench_profile(size_t nsym)
{
    char **names = xreallocarray(NULL, nsym, sizeof(*names));
    struct feat_profile *p;

    for (size_t i = 0; i < nsym; i++) {
        names[i] = xmalloc(32);
        snprintf(names[i], 32, "SYM_%05zu", i);
    }
    p = feat_profile_new((const char *const *)names, nsym, 0);
    for (size_t i = 0; i < nsym; i++)
        free(names[i]);
    free(names);
    return p;
}

/* bench_result - a verdict of BENCH_NSYM_RESULT symbols, 25 known to the
 * profile and 5 unknown, in header (unsorted) order */
static void
bench_result(struct hdr_result *res, struct hdr_symbol *sym, size_t nsym,
             unsigned seed)
{
    memset(res, 0, sizeof(*res));
    for (size_t i = 0; i < BENCH_NSYM_RESULT; i++) {
        seed = seed * 1103515245u + 12345u;
        if (i % 6 == 5)
            snprintf(sym[i].name, sizeof(sym[i].name), "UNKNOWN_%zu", i);
        else
            snprintf(sym[i].name, sizeof(sym[i].name), "SYM_%05u",
                     (seed >> 8) % (unsigned)nsym);
        sym[i].score = (double)((seed >> 4) % 200) / 10.0 - 5.0;
        sym[i].len = 0; /* not recorded: the lookup measures it */
    }
    res->upstream = HDR_UPSTREAM_RSPAMD;
    res->score = 7.5;
    res->required = 15.0;
    res->has_scores = 1;
    res->nsym = BENCH_NSYM_RESULT;
    res->sym = sym;
}

/* What one timed call does. */
struct bench_job {
    struct model *m;
    struct fann *ann;              /* the dense baseline */
    const struct feat_profile *p;
    const struct hdr_result *res;  /* BENCH_NVEC verdicts */
    const float *x;                /* their dense vectors */
    float *out;
    struct feat_pair *pairs;
    size_t nin;
    double sink;
};

/* bench_sparse - feat_sparse() and model_score_sparse() of verdict i */
static void
bench_sparse(struct bench_job *j, unsigned long i)
{
    size_t n, unk;
    double p;

    if (feat_sparse(j->p, &j->res[i % BENCH_NVEC], j->pairs, FEAT_PAIRS_MAX,
                    &n, &unk) != 0 ||
        model_score_sparse(j->m, j->pairs, n, &p) != 0)
        exit(1);
    j->sink += p;
}

/* bench_fann - libfann's fann_run() on vector i */
static void
bench_fann(struct bench_job *j, unsigned long i)
{
    fann_type *o = fann_run(j->ann, (fann_type *)(j->x +
                                                  (i % BENCH_NVEC) * j->nin));

    j->sink += o[0];
}

/* bench_feat - feat_vector() of verdict i */
static void
bench_feat(struct bench_job *j, unsigned long i)
{
    size_t unk;

    if (feat_vector(j->p, &j->res[i % BENCH_NVEC], j->out, j->nin, &unk) != 0)
        exit(1);
    j->sink += j->out[i % j->nin];
}

/* bench_time - median ns per call of fn */
static double
bench_time(struct bench_job *j, void (*fn)(struct bench_job *, unsigned long),
           double target_ns)
{
    double t[BENCH_REPS], start;
    unsigned long calls = 1000;

    /* calibrate: enough calls for about target_ns per repetition */
    for (;;) {
        start = bench_now();
        for (unsigned long i = 0; i < calls; i++)
            fn(j, i);
        if (bench_now() - start >= target_ns / 4 || calls > 1UL << 30)
            break;
        calls *= 2;
    }
    calls *= 4;
    for (int r = 0; r < BENCH_REPS; r++) {
        start = bench_now();
        for (unsigned long i = 0; i < calls; i++)
            fn(j, i);
        t[r] = (bench_now() - start) / (double)calls;
    }
    qsort(t, BENCH_REPS, sizeof(t[0]), bench_cmp);
    return t[BENCH_REPS / 2];
}

int
main(int argc, char **argv)
{
    static const size_t inputs[] = {100, 300, 1000};
    double target_ns = (argc > 1 ? atof(argv[1]) : 200) * 1e6;
    volatile double vsink;
    double sink = 0;

    if (!(target_ns > 0)) {
        fprintf(stderr, "usage: fann_bench [ms per repetition]\n");
        return 2;
    }
    printf("# median of %d repetitions, one thread; a %d-symbol verdict "
           "(25 known to the profile)\n", BENCH_REPS, BENCH_NSYM_RESULT);
    printf("%7s %7s %8s %16s %14s %16s %9s\n", "inputs", "hidden",
           "weights", "sparse score ns", "fann_run ns", "feat_vector ns",
           "fann/sp");
    for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
        size_t n = inputs[k], nsym = n - FEAT_NMETA;
        unsigned hidden = bench_hidden(n);
        struct feat_profile *p = bench_profile(nsym);
        struct model *m = model_new(bench_profile(nsym), &hidden, 1, 1);
        struct hdr_symbol sym[BENCH_NVEC][BENCH_NSYM_RESULT];
        struct hdr_result res[BENCH_NVEC];
        struct bench_job j = { 0 };
        float *x;
        double ts, tf, tv;
        size_t unk;

        if (p == NULL || m == NULL || model_ninputs(m) != n) {
            fprintf(stderr, "fann_bench: cannot build a %zu-input net\n", n);
            return 1;
        }
        /* realistic vectors: each from its own 30-symbol verdict */
        x = xreallocarray(NULL, BENCH_NVEC * n, sizeof(*x));
        for (unsigned v = 0; v < BENCH_NVEC; v++) {
            bench_result(&res[v], sym[v], nsym, v + 1);
            if (feat_vector(p, &res[v], x + v * n, n, &unk) != 0)
                return 1;
        }
        j.m = m;
        j.p = p;
        j.res = res;
        j.x = x;
        j.nin = n;
        j.out = xreallocarray(NULL, n, sizeof(*j.out));
        j.pairs = xreallocarray(NULL, FEAT_PAIRS_MAX, sizeof(*j.pairs));
        j.ann = fann_create_standard(3, (unsigned)n, hidden, 1);
        if (j.ann == NULL)
            return 1;
        fann_set_activation_function_hidden(j.ann, FANN_SIGMOID_SYMMETRIC);
        fann_set_activation_function_output(j.ann, FANN_SIGMOID);
        ts = bench_time(&j, bench_sparse, target_ns);
        tf = bench_time(&j, bench_fann, target_ns);
        tv = bench_time(&j, bench_feat, target_ns);
        printf("%7zu %7u %8zu %16.0f %14.0f %16.0f %9.1f\n", n, hidden,
               (n + 1) * hidden + hidden + 1, ts, tf, tv, tf / ts);
        sink += j.sink;
        fann_destroy(j.ann);
        free(x);
        free(j.out);
        free(j.pairs);
        model_release(m);
        feat_profile_free(p);
    }
    vsink = sink; /* keep the work observable */
    (void)vsink;
    return 0;
}
