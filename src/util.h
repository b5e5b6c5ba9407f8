/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * util - strict parsing of numbers, durations, sizes and booleans, and
 * the printing of fixed-point numbers. Pure: no logging, no allocation;
 * any thread. Each returns 0 and stores the
 * value, or -1 and leaves *out alone (the whole string must be consumed,
 * surrounding blanks excepted, and the value must lie in [min, max]).
 */
#ifndef NM_UTIL_H
#define NM_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

int util_parse_long(const char *s, long min, long max, long *out)
    __attribute__((warn_unused_result));
int util_parse_double(const char *s, double min, double max, double *out)
    __attribute__((warn_unused_result));
/* util_parse_octal - e.g. a umask "007" */
int util_parse_octal(const char *s, long min, long max, long *out)
    __attribute__((warn_unused_result));
/* util_parse_duration_ms - "250ms", "30s", "5m", "1h", "14d"; a bare
 * number is seconds. */
int util_parse_duration_ms(const char *s, long min, long max, long *out)
    __attribute__((warn_unused_result));
/* util_parse_size - bytes: "512M", "512MiB", "1G", "64k", a bare
 * number is bytes; units are powers of 1024. */
int util_parse_size(const char *s, long min, long max, long *out)
    __attribute__((warn_unused_result));
/* util_parse_bool - yes/no, true/false, on/off, 1/0 */
int util_parse_bool(const char *s, int *out)
    __attribute__((warn_unused_result));

/* util_trim - strip leading/trailing blanks in place; returns s+skip */
char *util_trim(char *s);

/* util_errf - format a reason into err for the caller's log line; err
 * may be NULL or errlen 0 (then nothing is written) */
void util_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*
 * util_fmt_fixed - x with prec (0 .. 6) decimals into buf, exactly what
 * snprintf(buf, UTIL_FIXED_MAX, plus ? "%+.*f" : "%.*f", prec, x) writes
 * (the per-message header and log line print three to six numbers, and
 * printf's were a sixth of the milter's instructions). Plain digits for
 * |x| < 1e6 away from a rounding tie; snprintf() itself for the rest
 * (ties, large values, NaN and infinities). buf holds UTIL_FIXED_MAX
 * bytes; returns the length written (NUL excluded). Any thread.
 */
#define UTIL_FIXED_MAX 64
size_t util_fmt_fixed(char *buf, double x, int prec, int plus);

/* util_hash64 - FNV-1a over len bytes, chained through seed */
uint64_t util_hash64(const void *data, size_t len, uint64_t seed);

/* util_mix64 - splitmix64's finaliser: FNV-1a's low bits alone split
 * similar inputs unevenly */
uint64_t util_mix64(uint64_t h);
#define UTIL_HASH64_INIT 0xcbf29ce484222325ULL

/*
 * Deadlines for timed waits, on CLOCK_MONOTONIC so that a step of the
 * wall clock neither stretches nor cuts a wait. util_cond_init - a
 * condition variable whose timed waits read that clock (0 or an errno).
 * util_deadline - *ts = now + ms on it. util_past - now is at or after
 * *ts. util_now_ms - that clock in milliseconds, for intervals and
 * backoffs. Any thread.
 */
int util_cond_init(pthread_cond_t *cv) __attribute__((warn_unused_result));
void util_deadline(struct timespec *ts, long ms);
int util_past(const struct timespec *ts);
int64_t util_now_ms(void);

/*
 * util_auc - ROC AUC of score against label (nonzero = positive), with
 * ties counted half; 0.5 when either class is empty. Allocates a scratch
 * index (x-allocators); any thread.
 */
double util_auc(const double *score, const unsigned char *label, size_t n);

/*
 * util_glob_match - name (NUL-terminated) matches the plen bytes of pat,
 * where '*' stands for any run of characters (none too) and '?' for one;
 * every other byte stands for itself, case-sensitively. Linear in
 * plen * strlen(name) at worst; no allocation; any thread.
 */
int util_glob_match(const char *pat, size_t plen, const char *name);

#endif /* NM_UTIL_H */
