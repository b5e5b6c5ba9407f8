/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log - the one place that writes log lines: syslog when daemonised,
 * stderr in the foreground and in tools and tests. The settings are
 * process-wide and set once at start (the level may change on reload).
 * The rate limits (struct log_limit) live in their callers' structs,
 * each guarded by its own spinlock, so that a zeroed one works.
 */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/* Process-wide settings: written in log_init() before any thread starts;
 * the level is atomic because SIGUSR1 reload changes it. */
static int log_stderr = 1;
static const char *log_ident = "neural-milter";
static _Atomic int log_max = LOG_LEVEL_INFO;

static const struct {
    const char *name;
    int facility;
} log_facilities[] = {
    { "mail", LOG_MAIL },     { "daemon", LOG_DAEMON }, { "user", LOG_USER },
    { "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 }, { "local2", LOG_LOCAL2 },
    { "local3", LOG_LOCAL3 }, { "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
    { "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
};

/* log_facility_find - syslog facility for name, or -1 */
static int
log_facility_find(const char *name)
{
    for (size_t i = 0; i < sizeof(log_facilities) / sizeof(log_facilities[0]);
         i++)
        if (strcasecmp(name, log_facilities[i].name) == 0)
            return log_facilities[i].facility;
    return -1;
}

/* log_facility_valid - tell whether a facility name is known */
int
log_facility_valid(const char *name)
{
    return log_facility_find(name) >= 0;
}

/* log_init - choose the destination */
int
log_init(const char *ident, int to_stderr, const char *facility)
{
    int fac = facility ? log_facility_find(facility) : LOG_MAIL;

    log_ident = ident;
    log_stderr = to_stderr;
    if (fac < 0) {
        log_stderr = 1;
        return -1;
    }
    if (!to_stderr)
        openlog(ident, LOG_PID | LOG_NDELAY, fac);
    return 0;
}

/* log_set_level - change the threshold */
void
log_set_level(enum log_level level)
{
    atomic_store(&log_max, (int)level);
}

/* log_level_parse - level name to enum */
int
log_level_parse(const char *name)
{
    static const char *const names[] = { "err", "warn", "info", "debug" };

    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0)
            return i;
    return -1;
}

/* log_vemit - format and write one line */
static void
log_vemit(enum log_level level, int with_errno, const char *fmt, va_list ap)
{
    static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
    static const char *const tag[] = { "error", "warning", "info", "debug" };
    char buf[2048];
    int saved = errno;
    int n;

    if ((int)level > atomic_load(&log_max))
        return;
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n < 0)
        return;
    if (with_errno && (size_t)n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", strerror(saved));
    if (log_stderr)
        fprintf(stderr, "%s: %s: %s\n", log_ident, tag[level], buf);
    else
        syslog(prio[level], "%s", buf);
    errno = saved;
}

/* log_enabled - the level check of log_vemit() */
int
log_enabled(enum log_level level)
{
    return (int)level <= atomic_load(&log_max);
}

/* log_info_line - one line as it is, at info level */
void
log_info_line(const char *line)
{
    char buf[2048 + 128];
    size_t a, b, c, n = 0;
    int saved = errno;

    if (!log_enabled(LOG_LEVEL_INFO))
        return;
    if (!log_stderr) {
        syslog(LOG_INFO, "%s", line);
        errno = saved;
        return;
    }
    /* "ident: info: line\n" in one write, as fprintf() makes it */
    a = strlen(log_ident);
    b = strlen(line);
    if (b > 2047)
        b = 2047; /* log_vemit()'s buffer cuts there too */
    c = sizeof(": info: ") - 1;
    memcpy(buf, log_ident, a < 96 ? a : 96);
    n = a < 96 ? a : 96;
    memcpy(buf + n, ": info: ", c);
    n += c;
    memcpy(buf + n, line, b);
    n += b;
    buf[n++] = '\n';
    /* write(), not fwrite(): stderr is unbuffered, so this is the one
     * write(2) fwrite() makes, without stdio's 300 instructions a line */
    for (size_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, buf + off, n - off);

        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno == EINTR)
            continue;
        else
            break;
    }
    errno = saved;
}

#define LOG_FN(name, level, with_errno)                                     \
    void name(const char *fmt, ...)                                          \
    {                                                                        \
        va_list ap;                                                          \
        va_start(ap, fmt);                                                   \
        log_vemit(level, with_errno, fmt, ap);                               \
        va_end(ap);                                                          \
    }

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, 1)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_err, LOG_LEVEL_ERR, 0)

/* fatal - log with errno and exit */
void
fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_LEVEL_ERR, 1, fmt, ap);
    va_end(ap);
    exit(EX_SOFTWARE);
}

/* fatalx - log and exit */
void
fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_LEVEL_ERR, 0, fmt, ap);
    va_end(ap);
    exit(EX_SOFTWARE);
}

/* panic - log and abort */
void
panic(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit(LOG_LEVEL_ERR, 0, fmt, ap);
    va_end(ap);
    abort();
}

/* ------------------------------------------------------- rate limits */

/* log_limit_key - FNV-1a 64 of msg, each run of digits hashed as one
 * '0'; never 0 (a free slot) */
static uint64_t
log_limit_key(const char *msg)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (const char *p = msg; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c >= '0' && c <= '9') {
            while (p[1] >= '0' && p[1] <= '9')
                p++;
            c = '0';
        }
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return h != 0 ? h : 1;
}

/* log_limit_lock, log_limit_unlock - the spinlock of a zeroed struct:
 * held for a search over LOG_LIMIT_SLOTS slots and a copy, never while
 * logging */
static void
log_limit_lock(struct log_limit *lim)
{
    int free_ = 0;

    while (!atomic_compare_exchange_weak_explicit(&lim->lock, &free_, 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed)) {
        free_ = 0;
        sched_yield();
    }
}

static void
log_limit_unlock(struct log_limit *lim)
{
    atomic_store_explicit(&lim->lock, 0, memory_order_release);
}

/* log_limit_copy - at most LOG_LIMIT_TEXT - 1 bytes of src, cut */
static void
log_limit_copy(char *dst, const char *src)
{
    size_t n = strnlen(src, LOG_LIMIT_TEXT - 1);

    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A line decided under the lock and written after it. */
enum log_limit_say {
    LOG_LIMIT_SAY_NONE,
    LOG_LIMIT_SAY_COUNT,       /* text (and count more like it ...) */
    LOG_LIMIT_SAY_FORGOTTEN,   /* debug: text evicted without a count */
};

struct log_limit_line {
    enum log_limit_say say;
    char text[LOG_LIMIT_TEXT];
    uint64_t count;            /* suppressed ones it reports */
    long long secs;            /* over how long */
    const char *tail;          /* after the count */
};

/* log_limit_flush - the line that reports s's count, if it has one */
static void
log_limit_flush(const struct log_limit_slot *s, int64_t now,
                struct log_limit_line *out, const char *tail)
{
    long long secs = (now - s->line_ms) / 1000;

    out->say = LOG_LIMIT_SAY_NONE;
    if (s->suppressed == 0)
        return;
    out->say = LOG_LIMIT_SAY_COUNT;
    log_limit_copy(out->text, s->text);
    out->count = s->suppressed;
    out->secs = secs > 0 ? secs : 1;
    out->tail = tail;
}

/* log_limit_emit - write a decided line */
static void
log_limit_emit(const struct log_limit_line *l)
{
    if (l->say == LOG_LIMIT_SAY_COUNT)
        log_warnx("%s (and %llu more like it in the last %lld s%s)",
                  l->text, (unsigned long long)l->count, l->secs, l->tail);
    else if (l->say == LOG_LIMIT_SAY_FORGOTTEN)
        log_debug("log: more than %d kinds of message at one limit; "
                  "forgetting \"%s\"", LOG_LIMIT_SLOTS, l->text);
}

/* log_limit_take - the slot for key: its own, a free one, or the one
 * seen least recently, whose count goes into *evicted; returns it and
 * whether it is new */
static struct log_limit_slot *
log_limit_take(struct log_limit *lim, uint64_t key, int64_t now,
               struct log_limit_line *evicted, int *fresh)
{
    struct log_limit_slot *s, *lru = &lim->slot[0];

    *fresh = 1;
    evicted->say = LOG_LIMIT_SAY_NONE;
    for (size_t i = 0; i < LOG_LIMIT_SLOTS; i++) {
        s = &lim->slot[i];
        if (s->key == key) {
            *fresh = 0;
            return s;
        }
        if (lru->key != 0 && (s->key == 0 || s->seen < lru->seen))
            lru = s;
    }
    if (lru->key != 0) {
        log_limit_flush(lru, now, evicted, "; no longer counted");
        if (evicted->say == LOG_LIMIT_SAY_NONE) {
            evicted->say = LOG_LIMIT_SAY_FORGOTTEN;
            log_limit_copy(evicted->text, lru->text);
        }
    }
    return lru;
}

/* log_limited - per message: the first line at once, then one per
 * interval with the count of those suppressed */
void
log_limited(struct log_limit *lim, const char *fmt, ...)
{
    struct log_limit_line evicted;
    struct log_limit_slot *s;
    int64_t now = util_now_ms(), interval;
    long long secs = 1;
    uint64_t key, count;
    char buf[1024];
    va_list ap;
    int fresh;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    key = log_limit_key(buf);
    log_limit_lock(lim);
    interval = lim->interval_ms ? (int64_t)lim->interval_ms
                                : (int64_t)LOG_LIMIT_INTERVAL * 1000;
    s = log_limit_take(lim, key, now, &evicted, &fresh);
    if (fresh) {
        memset(s, 0, sizeof(*s));
        s->key = key;
    } else if (now - s->line_ms < interval) {
        s->suppressed++;
        s->seen = ++lim->tick;
        log_limit_unlock(lim);
        return;
    } else if ((now - s->line_ms) / 1000 > 1) {
        secs = (now - s->line_ms) / 1000;
    }
    /* a line for it now, with the count since its last one */
    count = s->suppressed;
    s->suppressed = 0;
    s->line_ms = now;
    s->seen = ++lim->tick;
    log_limit_copy(s->text, buf);
    log_limit_unlock(lim);

    log_limit_emit(&evicted);
    if (count > 0)
        log_warnx("%s (and %llu more like it in the last %lld s)", buf,
                  (unsigned long long)count, secs);
    else
        log_warnx("%s", buf);
}

/* log_limit_end - report what is left, forget everything */
int
log_limit_end(struct log_limit *lim)
{
    struct log_limit_line out[LOG_LIMIT_SLOTS];
    int64_t now = util_now_ms();
    int kinds = 0;

    log_limit_lock(lim);
    for (size_t i = 0; i < LOG_LIMIT_SLOTS; i++) {
        struct log_limit_slot *s = &lim->slot[i];

        out[i].say = LOG_LIMIT_SAY_NONE;
        if (s->key == 0)
            continue;
        kinds++;
        log_limit_flush(s, now, &out[i], "");
        memset(s, 0, sizeof(*s));
    }
    log_limit_unlock(lim);
    for (size_t i = 0; i < LOG_LIMIT_SLOTS; i++)
        log_limit_emit(&out[i]);
    return kinds;
}
