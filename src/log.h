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

/* fatal, fatalx - log and exit(EX_SOFTWARE); only before smfi_main(). */
void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));
/* panic - a broken invariant: log, then abort(). */
void panic(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/*
 * struct log_limit - rate limit for one kind of repeated failure: the
 * first occurrence is logged, then one line per interval with a count.
 * Zero-initialise it; it is safe to share between threads.
 */
struct log_limit {
    _Atomic int64_t next;       /* unix time the next line may go out */
    _Atomic uint64_t suppressed; /* occurrences since the last line */
};
#define LOG_LIMIT_INTERVAL 60

/* log_limited - log_warnx() through lim; any thread. */
void log_limited(struct log_limit *lim, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif /* NM_LOG_H */
