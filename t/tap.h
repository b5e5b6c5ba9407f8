/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * tap.h - a minimal TAP producer for the unit tests: plan, ok, is_*,
 * diag, skip_all. Header-only so each t_*.c is one program.
 */
#ifndef NM_TAP_H
#define NM_TAP_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n;
static int tap_failed;
static int tap_planned = -1;

static inline void
plan(int n)
{
    tap_planned = n;
    printf("1..%d\n", n);
}

static inline void
done_testing(void)
{
    if (tap_planned < 0)
        printf("1..%d\n", tap_n);
}

static inline void
skip_all(const char *why)
{
    printf("1..0 # SKIP %s\n", why);
    exit(0);
}

static inline void
diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void
diag(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("# ", stdout);
    vprintf(fmt, ap);
    fputs("\n", stdout);
    va_end(ap);
}

static inline int
ok_(int cond, const char *fmt, va_list ap)
{
    tap_n++;
    if (!cond)
        tap_failed++;
    printf("%sok %d - ", cond ? "" : "not ", tap_n);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    return cond;
}

static inline int
ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int
ok(int cond, const char *fmt, ...)
{
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = ok_(cond, fmt, ap);
    va_end(ap);
    return r;
}

#define is_int(got, want, ...)                                               \
    do {                                                                     \
        long long g_ = (long long)(got), w_ = (long long)(want);             \
        if (!ok(g_ == w_, __VA_ARGS__))                                      \
            diag("  got %lld, want %lld", g_, w_);                          \
    } while (0)

#define is_str(got, want, ...)                                               \
    do {                                                                     \
        const char *g_ = (got), *w_ = (want);                                \
        if (!ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, __VA_ARGS__))     \
            diag("  got '%s', want '%s'", g_ ? g_ : "(null)",               \
                 w_ ? w_ : "(null)");                                        \
    } while (0)

#define is_dbl(got, want, eps, ...)                                          \
    do {                                                                     \
        double g_ = (got), w_ = (want);                                      \
        if (!ok(fabs(g_ - w_) <= (eps), __VA_ARGS__))                        \
            diag("  got %.6f, want %.6f", g_, w_);                          \
    } while (0)

static inline int
exit_status(void)
{
    done_testing();
    if (tap_planned >= 0 && tap_planned != tap_n)
        return 1;
    return tap_failed ? 1 : 0;
}

#endif /* NM_TAP_H */
