/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_log - the rate limits of log_limited(), read back from stderr: one
 * limit per distinct message (digit runs alike), the count after the
 * interval, eviction when the slots are full, log_limit_end(), a zeroed
 * struct from xcalloc, and eight threads on one limit.
 */
#include "config.h"
#include "log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../tap.h"
#include "t_sys.h"
#include "xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* t_count - occurrences of needle in hay */
static int
t_count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* t_begin - capture stderr under a name of this process */
static void
t_begin(struct t_capture *cap, const char *what)
{
    char name[128];

    snprintf(name, sizeof(name), "t_log-%ld-%s", (long)getpid(), what);
    t_capture_begin(cap, name);
}

/* t_distinct - which messages count as one: table-driven */
static void
t_distinct(void)
{
    static const struct {
        const char *label, *a, *b;
        int lines; /* lines for a, a, b, b within the interval */
    } cases[] = {
        { "two kinds of error at one site", "store: HGET: version is not an "
          "integer", "store: HGET: wrong key type", 2 },
        { "the same message twice", "store: connect: refused",
          "store: connect: refused", 1 },
        { "digit runs alike", "store: next attempt in 100 ms",
          "store: next attempt in 2500 ms", 1 },
        { "digits vs none", "store: next attempt in 100 ms",
          "store: next attempt in ms", 2 },
        { "a letter apart", "hdr: unusable: a", "hdr: unusable: b", 2 },
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct log_limit lim = { 0 };
        struct t_capture cap;
        char *out;
        int n;

        t_begin(&cap, "distinct");
        log_limited(&lim, "%s", cases[i].a);
        log_limited(&lim, "%s", cases[i].a);
        log_limited(&lim, "%s", cases[i].b);
        log_limited(&lim, "%s", cases[i].b);
        out = t_capture_end(&cap);
        n = t_count(out, "t_log: warning: ");
        is_int(n, cases[i].lines, "%s: %d line(s)", cases[i].label,
               cases[i].lines);
        ok(strstr(out, cases[i].a) != NULL &&
               (cases[i].lines == 1 || strstr(out, cases[i].b) != NULL),
           "%s: the text as given", cases[i].label);
        free(out);
    }
}

/* t_wait_ms - until ms have passed on the monotonic clock */
static void
t_wait_ms(int64_t since, long ms)
{
    while (t_now_ms() - since <= ms)
        t_sleep_ms(5);
}

/* t_interval - after the interval the next one goes out with the count
 * of those in between */
static void
t_interval(void)
{
    struct log_limit lim = { 0 };
    struct t_capture cap;
    int64_t t0;
    char *out;

    lim.interval_ms = 300;
    t_begin(&cap, "interval");
    t0 = t_now_ms();
    log_limited(&lim, "store: %s", "timeout");
    log_limited(&lim, "store: %s", "timeout");
    log_limited(&lim, "store: %s", "timeout");
    log_limited(&lim, "watch: other");
    t_wait_ms(t0, 300);
    log_limited(&lim, "store: %s", "timeout");
    log_limited(&lim, "store: %s", "timeout");
    out = t_capture_end(&cap);
    is_int(t_count(out, "store: timeout"), 2, "5 timeouts over the interval: "
           "2 lines");
    ok(strstr(out, "store: timeout (and 2 more like it in the last 1 s)") !=
           NULL, "the second carries the count of the 2 between");
    is_int(t_count(out, "watch: other"), 1, "the other message once");
    free(out);

    /* log_limit_end: the one unreported, then all forgotten */
    t_begin(&cap, "end");
    is_int(log_limit_end(&lim), 2, "log_limit_end: 2 kinds were logged");
    is_int(log_limit_end(&lim), 0, "... and none since");
    log_limited(&lim, "store: timeout");
    out = t_capture_end(&cap);
    ok(strstr(out, "store: timeout (and 1 more like it in the last 1 s)") !=
           NULL, "log_limit_end reports the count left");
    ok(strstr(out, "watch: other (") == NULL, "... and nothing for a kind "
       "without one");
    is_int(t_count(out, "t_log: warning: store: timeout\n"), 1,
           "after the end, the next failure is logged at once");
    free(out);
}

/* t_evict - a ninth kind evicts the one seen least recently */
static void
t_evict(void)
{
    struct log_limit *lim = xcalloc(1, sizeof(*lim));
    struct t_capture cap;
    char *out;

    log_set_level(LOG_LEVEL_DEBUG);
    t_begin(&cap, "evict");
    log_limited(lim, "kind a");
    log_limited(lim, "kind a"); /* suppressed: a has a count */
    for (char k = 'b'; k <= 'h'; k++)
        log_limited(lim, "kind %c", k);
    log_limited(lim, "kind i");     /* evicts a, which reports */
    log_limited(lim, "kind a");     /* new again: at once; evicts b */
    log_limited(lim, "kind c");     /* still tracked: suppressed */
    out = t_capture_end(&cap);
    ok(strstr(out, "kind a (and 1 more like it in the last 1 s; no longer "
                   "counted)") != NULL, "the evicted kind reports its count");
    ok(strstr(out, "forgetting \"kind b\"") != NULL,
       "an eviction without a count is noted at debug level");
    is_int(t_count(out, "warning: kind a\n"), 2, "kind a: first line, and "
           "again once evicted");
    is_int(t_count(out, "warning: kind c\n"), 1, "kind c: once");
    is_int(t_count(out, "warning: kind i\n"), 1, "kind i: once");
    free(out);
    log_set_level(LOG_LEVEL_INFO);
    is_int(log_limit_end(lim), 8, "8 kinds tracked at the end");
    free(lim);
}

#define T_THREADS 8
#define T_CALLS 1000

/* t_worker - T_CALLS of two messages through one limit */
static void *
t_worker(void *arg)
{
    struct log_limit *lim = arg;

    for (int i = 0; i < T_CALLS; i++) {
        log_limited(lim, "redis: command %d failed", i);
        log_limited(lim, "redis: reply of wrong type");
    }
    return NULL;
}

/* t_threads - eight threads: each kind once, every occurrence counted */
static void
t_threads(void)
{
    struct log_limit lim = { 0 };
    pthread_t th[T_THREADS];
    struct t_capture cap;
    char want[128];
    char *out;

    t_begin(&cap, "threads");
    for (int i = 0; i < T_THREADS; i++)
        if (pthread_create(&th[i], NULL, t_worker, &lim) != 0)
            exit(1);
    for (int i = 0; i < T_THREADS; i++)
        pthread_join(th[i], NULL);
    is_int(log_limit_end(&lim), 2, "%d threads: 2 kinds", T_THREADS);
    out = t_capture_end(&cap);
    is_int(t_count(out, "warning: "), 4, "2 first lines and 2 counts");
    snprintf(want, sizeof(want), "(and %d more like it",
             T_THREADS * T_CALLS - 1);
    is_int(t_count(out, want), 2, "each count is %d: none lost",
           T_THREADS * T_CALLS - 1);
    free(out);
}

/* t_info_line - log_info_line() writes "ident: info: line\n" as
 * log_info() does, cut at 2047 bytes */
static void
t_info_line(void)
{
    struct t_capture cap;
    char *out, *big = xmalloc(3000);

    memset(big, 'y', 2999);
    big[2999] = '\0';
    t_begin(&cap, "info");
    log_info_line("milter: one line");
    log_info("%s", "milter: one line");
    log_info_line(big);
    out = t_capture_end(&cap);
    ok(strncmp(out, "t_log: info: milter: one line\n"
                    "t_log: info: milter: one line\nt_log: info: yyy",
               76) == 0,
       "info line: as log_info() writes it");
    is_int((int)strlen(out), 2 * 30 + 13 + 2047 + 1,
           "info line: a long one cut at 2047 bytes");
    free(out);
    free(big);
}

int
main(void)
{
    if (log_init("t_log", 1, NULL) != 0)
        return 1;
    t_info_line();
    t_distinct();
    t_interval();
    t_evict();
    t_threads();
    return exit_status();
}
