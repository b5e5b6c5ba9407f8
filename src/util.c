/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * util - strict value parsing for config files, ctl arguments and Redis
 * replies. A value that is not entirely a number is an error, never 0.
 */
#include "config.h"
#include "util.h"

#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* util_skip_blank - first non-blank */
static const char *
util_skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* util_end_ok - only blanks remain */
static int
util_end_ok(const char *end)
{
    return *util_skip_blank(end) == '\0';
}

/* util_parse_base - strtol in a base, checked */
static int
util_parse_base(const char *s, int base, long min, long max, long *out)
{
    char *end;
    long v;

    s = util_skip_blank(s);
    if (*s == '\0')
        return -1;
    errno = 0;
    v = strtol(s, &end, base);
    if (errno != 0 || end == s || !util_end_ok(end) || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* util_parse_long - decimal integer */
int
util_parse_long(const char *s, long min, long max, long *out)
{
    return util_parse_base(s, 10, min, max, out);
}

/* util_parse_octal - octal integer */
int
util_parse_octal(const char *s, long min, long max, long *out)
{
    return util_parse_base(s, 8, min, max, out);
}

/* util_parse_double - finite decimal number */
int
util_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    s = util_skip_blank(s);
    if (*s == '\0')
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || !util_end_ok(end) || !isfinite(v) ||
        v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

/* util_parse_duration_ms - number with an optional unit */
int
util_parse_duration_ms(const char *s, long min, long max, long *out)
{
    static const struct {
        const char *unit;
        long ms;
    } units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
                  { "h", 3600000 }, { "d", 86400000 },
                  { "", 1000 } };
    char *end;
    long v;

    s = util_skip_blank(s);
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        size_t n = strlen(units[i].unit);

        if (strncmp(end, units[i].unit, n) != 0 || !util_end_ok(end + n))
            continue;
        if (v > max / units[i].ms || v * units[i].ms < min ||
            v * units[i].ms > max)
            return -1;
        *out = v * units[i].ms;
        return 0;
    }
    return -1;
}

/* util_parse_size - a number with an optional binary unit */
int
util_parse_size(const char *s, long min, long max, long *out)
{
    static const char *const units = "kmgt";
    const char *u;
    char *end;
    long v, mul = 1;

    s = util_skip_blank(s);
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || end == s)
        return -1;
    if (*end != '\0' && (u = strchr(units, tolower((unsigned char)*end))) !=
                             NULL) {
        for (const char *p = units; p <= u; p++)
            mul *= 1024;
        end++;
        if (strncasecmp(end, "iB", 2) == 0)
            end += 2;
        else if (*end == 'B' || *end == 'b')
            end++;
    }
    if (!util_end_ok(end) || v > max / mul || v * mul < min)
        return -1;
    *out = v * mul;
    return 0;
}

/* util_parse_bool - the usual spellings */
int
util_parse_bool(const char *s, int *out)
{
    static const char *const yes[] = { "yes", "true", "on", "1" };
    static const char *const no[] = { "no", "false", "off", "0" };

    s = util_skip_blank(s);
    for (int i = 0; i < 4; i++) {
        size_t ny = strlen(yes[i]), nn = strlen(no[i]);

        if (strncasecmp(s, yes[i], ny) == 0 && util_end_ok(s + ny)) {
            *out = 1;
            return 0;
        }
        if (strncasecmp(s, no[i], nn) == 0 && util_end_ok(s + nn)) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

/* util_trim - strip blanks at both ends, in place */
char *
util_trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' ||
                     e[-1] == '\n'))
        *--e = '\0';
    return s;
}

/* util_fmt_fixed - "%.*f" / "%+.*f" without printf where that is exact */
size_t
util_fmt_fixed(char *buf, double x, int prec, int plus)
{
    static const uint64_t p10[] = { 1, 10, 100, 1000, 10000, 100000,
                                    1000000 };
    char tmp[32];
    double y, fl, fr;
    uint64_t v, ip, fp;
    size_t n = 0, k = 0;
    int w;

    if (prec < 0 || prec > 6 || !(fabs(x) < 1e6))
        goto slow;
    /* One rounding in the product (the powers of ten are exact), of at
     * most y * 2^-53: the digits are printf's unless the exact value may
     * lie on the other side of a rounding tie than y does. */
    y = fabs(x) * (double)p10[prec];
    fl = floor(y);
    fr = y - fl;
    if (fabs(fr - 0.5) <= y * 0x1p-50 + 0x1p-60)
        goto slow;
    v = (uint64_t)fl + (fr > 0.5);
    ip = v / p10[prec];
    fp = v % p10[prec];
    if (signbit(x))
        buf[n++] = '-';
    else if (plus)
        buf[n++] = '+';
    do {
        tmp[k++] = (char)('0' + ip % 10);
        ip /= 10;
    } while (ip > 0);
    while (k > 0)
        buf[n++] = tmp[--k];
    if (prec > 0) {
        buf[n++] = '.';
        for (int i = prec - 1; i >= 0; i--) {
            buf[n + (size_t)i] = (char)('0' + fp % 10);
            fp /= 10;
        }
        n += (size_t)prec;
    }
    buf[n] = '\0';
    return n;
slow:
    w = snprintf(buf, UTIL_FIXED_MAX, plus ? "%+.*f" : "%.*f", prec, x);
    if (w < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)w < UTIL_FIXED_MAX ? (size_t)w : UTIL_FIXED_MAX - 1;
}

/* util_hash64 - FNV-1a, 64 bits */
uint64_t
util_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed;
    size_t i = 0;

    /* four bytes a turn: the same steps, a third fewer instructions (the
     * milter hashes a Message-ID a message) */
    for (; i + 4 <= len; i += 4) {
        h = (h ^ p[i]) * 0x100000001b3ULL;
        h = (h ^ p[i + 1]) * 0x100000001b3ULL;
        h = (h ^ p[i + 2]) * 0x100000001b3ULL;
        h = (h ^ p[i + 3]) * 0x100000001b3ULL;
    }
    for (; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ULL;
    return h;
}

/* util_mix64 - see util.h */
uint64_t
util_mix64(uint64_t h)
{
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    return h ^ (h >> 31);
}

/* util_auc_cmp - order indices by score; qsort_r keeps us free of state */
static int
util_auc_cmp(const void *a, const void *b, void *arg)
{
    const double *score = arg;
    double x = score[*(const size_t *)a], y = score[*(const size_t *)b];

    return (x > y) - (x < y);
}

/* util_auc - Mann-Whitney U over the ranks */
double
util_auc(const double *score, const unsigned char *label, size_t n)
{
    size_t *idx, npos = 0, nneg;
    double rank_sum = 0;

    for (size_t i = 0; i < n; i++)
        npos += label[i] != 0;
    nneg = n - npos;
    if (npos == 0 || nneg == 0)
        return 0.5;
    idx = xreallocarray(NULL, n, sizeof(*idx));
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), util_auc_cmp, (void *)score);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        double mid;

        while (j < n && score[idx[j]] == score[idx[i]])
            j++;
        mid = (double)(i + j + 1) / 2.0; /* mean 1-based rank of the tie */
        for (size_t k = i; k < j; k++)
            if (label[idx[k]])
                rank_sum += mid;
        i = j;
    }
    free(idx);
    return (rank_sum - (double)npos * (double)(npos + 1) / 2.0) /
           ((double)npos * (double)nneg);
}

/* util_errf - vsnprintf into err when there is room */
void
util_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* util_cond_init - a condvar timed on CLOCK_MONOTONIC */
int
util_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t at;
    int rc;

    if ((rc = pthread_condattr_init(&at)) != 0)
        return rc;
    if ((rc = pthread_condattr_setclock(&at, CLOCK_MONOTONIC)) == 0)
        rc = pthread_cond_init(cv, &at);
    pthread_condattr_destroy(&at);
    return rc;
}

/* util_deadline - ms from now on the monotonic clock */
void
util_deadline(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* util_past - the monotonic clock reached *ts */
int
util_past(const struct timespec *ts)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > ts->tv_sec ||
           (now.tv_sec == ts->tv_sec && now.tv_nsec >= ts->tv_nsec);
}

/* util_now_ms - monotonic milliseconds */
int64_t
util_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* util_glob_match - '*' and '?' over a name; one backtrack point, as a
 * later '*' can always absorb what an earlier one would have */
int
util_glob_match(const char *pat, size_t plen, const char *name)
{
    size_t pi = 0, si = 0, star = SIZE_MAX, mark = 0;

    while (name[si] != '\0') {
        if (pi < plen && (pat[pi] == '?' || pat[pi] == name[si])) {
            pi++;
            si++;
        } else if (pi < plen && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return 0;
        }
    }
    while (pi < plen && pat[pi] == '*')
        pi++;
    return pi == plen;
}
