/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fann_bench - what scoring one message costs: model_score() (pool take,
 * fann_run on a private copy, pool put) for nets of 100, 300 and 1,000
 * inputs with the "auto" hidden size max(8, round(2 * sqrt(n))) capped at
 * 64, against the baseline of building the input vector (feat_vector) of
 * a 30-symbol verdict. Median ns per call over 7 repetitions; one thread.
 *
 * Build from the top of a configured build dir (config.h lives there):
 *   cc -std=gnu11 -O2 -I. -I$SRC/src $SRC/contrib/bench/fann_bench.c \
 *     $SRC/src/model.c $SRC/src/feat.c $SRC/src/util.c \
 *     $SRC/src/xmalloc.c $SRC/src/log.c -lfann -lzstd -lm -pthread \
 *     -o fann_bench
 * (SRC = the source tree). Run: ./fann_bench [target ms per repetition]
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
    }
    res->upstream = HDR_UPSTREAM_RSPAMD;
    res->score = 7.5;
    res->required = 15.0;
    res->has_scores = 1;
    res->nsym = BENCH_NSYM_RESULT;
    res->sym = sym;
}

/* bench_score - median ns per model_score() call */
static double
bench_score(struct model *m, const float *x, size_t nin, double target_ns,
            double *sink)
{
    double t[BENCH_REPS], start;
    unsigned long calls = 1000;
    double p;

    /* calibrate: enough calls for about target_ns per repetition */
    for (;;) {
        start = bench_now();
        for (unsigned long i = 0; i < calls; i++) {
            if (model_score(m, x + (i % BENCH_NVEC) * nin, nin, &p) != 0)
                exit(1);
            *sink += p;
        }
        if (bench_now() - start >= target_ns / 4 || calls > 1UL << 30)
            break;
        calls *= 2;
    }
    calls *= 4;
    for (int r = 0; r < BENCH_REPS; r++) {
        start = bench_now();
        for (unsigned long i = 0; i < calls; i++) {
            if (model_score(m, x + (i % BENCH_NVEC) * nin, nin, &p) != 0)
                exit(1);
            *sink += p;
        }
        t[r] = (bench_now() - start) / (double)calls;
    }
    qsort(t, BENCH_REPS, sizeof(t[0]), bench_cmp);
    return t[BENCH_REPS / 2];
}

/* bench_feat - median ns per feat_vector() of the 30-symbol verdict */
static double
bench_feat(const struct feat_profile *p, const struct hdr_result *res,
           float *out, double target_ns, double *sink)
{
    double t[BENCH_REPS], start;
    size_t nin = feat_ninputs(p), unk;
    unsigned long calls = 1000;

    for (;;) {
        start = bench_now();
        for (unsigned long i = 0; i < calls; i++) {
            if (feat_vector(p, res, out, nin, &unk) != 0)
                exit(1);
            *sink += out[i % nin];
        }
        if (bench_now() - start >= target_ns / 4 || calls > 1UL << 30)
            break;
        calls *= 2;
    }
    calls *= 4;
    for (int r = 0; r < BENCH_REPS; r++) {
        start = bench_now();
        for (unsigned long i = 0; i < calls; i++) {
            if (feat_vector(p, res, out, nin, &unk) != 0)
                exit(1);
            *sink += out[i % nin];
        }
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
    printf("# median of %d repetitions, one thread; feat_vector: a "
           "%d-symbol verdict\n", BENCH_REPS, BENCH_NSYM_RESULT);
    printf("%7s %7s %8s %14s %16s %7s\n", "inputs", "hidden", "weights",
           "model_score ns", "feat_vector ns", "ratio");
    for (size_t k = 0; k < sizeof(inputs) / sizeof(inputs[0]); k++) {
        size_t n = inputs[k], nsym = n - FEAT_NMETA;
        unsigned hidden = bench_hidden(n);
        struct feat_profile *p = bench_profile(nsym);
        struct model *m = model_new(bench_profile(nsym), &hidden, 1, 1);
        struct hdr_symbol sym[BENCH_NSYM_RESULT];
        struct hdr_result res;
        float *x, *out;
        double ts, tf;
        size_t unk;

        if (p == NULL || m == NULL || model_ninputs(m) != n) {
            fprintf(stderr, "fann_bench: cannot build a %zu-input net\n", n);
            return 1;
        }
        /* realistic vectors: each from its own 30-symbol verdict */
        x = xreallocarray(NULL, BENCH_NVEC * n, sizeof(*x));
        for (unsigned v = 0; v < BENCH_NVEC; v++) {
            bench_result(&res, sym, nsym, v + 1);
            if (feat_vector(p, &res, x + v * n, n, &unk) != 0)
                return 1;
        }
        out = xreallocarray(NULL, n, sizeof(*out));
        bench_result(&res, sym, nsym, 1);
        ts = bench_score(m, x, n, target_ns, &sink);
        tf = bench_feat(p, &res, out, target_ns, &sink);
        printf("%7zu %7u %8zu %14.0f %16.0f %7.1f\n", n, hidden,
               (n + 1) * hidden + hidden + 1, ts, tf, ts / tf);
        free(x);
        free(out);
        model_release(m);
        feat_profile_free(p);
    }
    vsink = sink; /* keep the work observable */
    (void)vsink;
    return 0;
}
