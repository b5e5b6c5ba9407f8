/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log - the one place that writes log lines: syslog when daemonised,
 * stderr in the foreground and in tools and tests. The settings are
 * process-wide and set once at start (the level may change on reload).
 */
#include "config.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <sysexits.h>

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

/* log_limited - first line at once, then one per interval with a count */
void
log_limited(struct log_limit *lim, const char *fmt, ...)
{
    int64_t now = (int64_t)time(NULL);
    int64_t next = atomic_load(&lim->next);
    char buf[1024];
    uint64_t n;
    va_list ap;

    if (now < next ||
        !atomic_compare_exchange_strong(&lim->next, &next,
                                        now + LOG_LIMIT_INTERVAL)) {
        atomic_fetch_add(&lim->suppressed, 1);
        return;
    }
    n = atomic_exchange(&lim->suppressed, 0);
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n > 0)
        log_warnx("%s (and %llu more like it in the last %d s)", buf,
                  (unsigned long long)n, LOG_LIMIT_INTERVAL);
    else
        log_warnx("%s", buf);
}
