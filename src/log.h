/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log - syslog or stderr, levels, and rate limiting of repeated failures.
 * All functions may be called from any thread once log_init() returned.
 * log_warn() and fatal() append strerror(errno); the *x variants do not.
 */
#ifndef NM_LOG_H
#define NM_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <time.h>

enum log_level { LOG_LEVEL_ERR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/*
 * log_init - log to stderr (foreground) or to syslog with the facility
 * named (e.g. "mail"). ident is borrowed and must outlive the process.
 * Returns 0, or -1 for an unknown facility name (then logs to stderr).
 */
int log_init(const char *ident, int to_stderr, const char *facility)
    __attribute__((warn_unused_result));

/* log_set_level - messages above level are dropped; any thread. */
void log_set_level(enum log_level level);

/* log_level_parse - "err", "warn", "info" or "debug"; -1 when unknown. */
int log_level_parse(const char *name);

/* log_facility_valid - 1 when name is a syslog facility we accept. */
int log_facility_valid(const char *name);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_info_line - log_info("%s", line) without printf: for a line its
 * caller assembled (the milter's one line per message); line is
 * borrowed. One write(2) to stderr or one syslog() call. */
void log_info_line(const char *line);

/* log_enabled - whether a message of level would be written now. */
int log_enabled(enum log_level level);

/* fatal, fatalx - log and exit(EX_SOFTWARE); only before smfi_main(). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* panic - a broken invariant: log, then abort(). */
void panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * struct log_limit - rate limits for the repeated failures of one call
 * site (or one subsystem), one per distinct message: an admin sees every
 * kind of trouble once, and then its count. Messages are told apart by a
 * hash of their text with every run of digits taken as one digit, so
 * "next attempt in 100 ms" and "in 200 ms" are one message but "wrong
 * key type" and "not an integer" are two. For each: the first line goes
 * out at once, then at most one line per LOG_LIMIT_INTERVAL seconds,
 * which carries the count of those suppressed since the line before.
 * LOG_LIMIT_SLOTS messages are tracked; a new one then evicts the one
 * seen least recently, first logging the count it still had (a warning),
 * or noting the eviction at debug level when it had none.
 * Zero-initialise it (static, xcalloc or "= { 0 }"): a zeroed struct is
 * ready and nothing needs freeing. Any thread: a spinlock inside guards
 * the slots and is never held while logging.
 */
#define LOG_LIMIT_INTERVAL 60  /* seconds */
#define LOG_LIMIT_SLOTS 8
#define LOG_LIMIT_TEXT 160     /* bytes of a message kept for its count */

struct log_limit_slot {
    uint64_t key;              /* the message's hash; 0 = free */
    int64_t line_ms;           /* monotonic ms of its last line */
    uint64_t seen;             /* the limit's tick when it last occurred */
    uint64_t suppressed;       /* occurrences since its last line */
    char text[LOG_LIMIT_TEXT]; /* its last line's text (cut) */
};

struct log_limit {
    _Atomic int lock;          /* 0 free, 1 held */
    unsigned interval_ms;      /* 0 = LOG_LIMIT_INTERVAL s; for tests */
    uint64_t tick;             /* lock: counts the calls, orders slots */
    struct log_limit_slot slot[LOG_LIMIT_SLOTS]; /* lock */
};

/* log_limited - log_warnx() through lim; any thread. */
void log_limited(struct log_limit *lim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * log_limit_end - the failures lim limits are over (the dependency
 * answers again): logs the counts still unreported ("... (and N more
 * like it in the last S s)"), forgets every message so that the next
 * failure is logged at once, and returns the number of kinds of message
 * logged through lim since it was zeroed or last ended, so the caller can
 * log one line for the recovery only when there was trouble:
 *     if (log_limit_end(&st->lim_connect) > 0)
 *         log_info("store: %s: connected again", name);
 * Any thread.
 */
int log_limit_end(struct log_limit *lim);

#endif /* NM_LOG_H */
