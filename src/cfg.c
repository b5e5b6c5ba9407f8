/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cfg - the ini file. cfg_defs[] is the one list of keys: type, target
 * field, default, limits and whether a reload may change the key. Files
 * are read with inih through our own line reader (line length, real line
 * numbers, syntax errors); every problem is collected, none is logged.
 * Owns the current snapshot (behind cfg_current_lock). Any thread may
 * load; must not include hdr.h or any library header but inih's.
 */
#include "config.h"
#include "cfg.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>

#include "addr.h"
#include "log.h"
#include "util.h"
#include "xmalloc.h"

/* A line of CFG_MAX_LINE bytes or more (not counting "\n" or "\r\n") is
 * an error: inih's buffer holds CFG_MAX_LINE - 1 bytes plus the NUL. */
#define CFG_MAX_LINE 200
/* Longest value quoted back in an error message. */
#define CFG_QUOTE_MAX 60
/* The "auto" bounds of hidden_layers (CFG_LAYER_MAX, in cfg.h, bounds
 * the sizes given). */
#define CFG_AUTO_MIN 8
#define CFG_AUTO_MAX 64
/* CFG_STR - a numeric macro as a string literal, for the forms below */
#define CFG_STR_(x) #x
#define CFG_STR(x) CFG_STR_(x)

_Static_assert(CFG_AUTO_MIN <= CFG_AUTO_MAX && CFG_AUTO_MAX <= CFG_LAYER_MAX,
               "hidden_layers = auto stays within the layer limit");

enum cfg_type {
    CFG_STRING,
    CFG_LONG,
    CFG_DOUBLE,
    CFG_BOOL,
    CFG_DURATION_MS,
    CFG_OCTAL,
    CFG_ENUM,
    CFG_SIZE,       /* bytes, "512M" */
};

/* flags of a cfg_def */
#define CFG_RELOAD 0x0u   /* a SIGUSR1 reload applies it */
#define CFG_RESTART 0x1u  /* only a restart applies it */
#define CFG_MIN_OPEN 0x2u /* the range excludes min: (min, max] */

/* cfg_check_fn - extra rule for a STRING value: 0 when fine, else -1 and
 * possibly a detail in why (left "" when form says it all). */
typedef int cfg_check_fn(const char *value, char *why, size_t whylen);

struct cfg_def {
    const char *section;
    const char *key;
    enum cfg_type type;
    size_t offset;             /* of the field in struct cfg */
    const char *def;           /* default, parsed like a file value */
    double min, max;           /* LONG, DOUBLE, DURATION_MS, OCTAL, SIZE */
    unsigned flags;            /* CFG_RELOAD or CFG_RESTART, CFG_MIN_OPEN */
    const char *const *names;  /* ENUM: value names, NULL-terminated */
    int (*lookup)(const char *name); /* ENUM: name to index or -1 */
    cfg_check_fn *check;       /* STRING: NULL = anything goes */
    const char *form;          /* STRING with check: what is expected */
};

static cfg_check_fn cfg_check_socket, cfg_check_facility, cfg_check_header,
    cfg_check_header_opt, cfg_check_servers, cfg_check_prefix,
    cfg_check_layers, cfg_check_actions, cfg_check_networks,
    cfg_check_traps, cfg_check_username, cfg_check_master, cfg_check_listen,
    cfg_check_ignore, cfg_check_thresholds;

/* How a compiled ignore pattern is matched: most are a name, a suffix
 * ("*_FAIL") or a prefix ("NEURAL_*"), which need no backtracking. */
enum cfg_glob_kind { CFG_GLOB_EXACT, CFG_GLOB_SUFFIX, CFG_GLOB_PREFIX,
                     CFG_GLOB_ANY };

struct cfg_glob {
    enum cfg_glob_kind kind;
    int except;             /* "!PATTERN": never ignore what it matches */
    size_t len;             /* of text */
    char text[CFG_IGNORE_LEN]; /* without the '!'; for SUFFIX without the
                                  '*', for PREFIX without the '*' */
    /* SUFFIX: its last 8 bytes (fewer: the rest masked off) as a name's
     * last 8 are read into a word, so most names need one compare */
    uint64_t tail, tail_mask;
};

static const char *const cfg_on_error_names[] = { "accept", "tempfail",
                                                  NULL };
/* order of enum log_level (log.h) */
static const char *const cfg_log_level_names[] = { "err", "warn", "info",
                                                   "debug", NULL };
/* order of enum hdr_format and enum hdr_trust (hdr.h) */
static const char *const cfg_format_names[] = { "auto", "rspamd",
                                                "spamassassin", NULL };
static const char *const cfg_trust_names[] = { "single", "last", NULL };
/* Rspamd's actions, as X-Rspamd-Action spells them */
static const char *const cfg_actions[] = { "no action", "greylist",
    "add header", "rewrite subject", "soft reject", "reject", NULL };

#define CFG_OFF(field) offsetof(struct cfg, field)

/* cfg_defs - every key; the order is the order of cfg_dump() */
static const struct cfg_def cfg_defs[] = {
    { .section = "milter", .key = "socket", .type = CFG_STRING,
      .offset = CFG_OFF(socket),
      .def = "unix:/run/neural-milter/neural-milter.sock",
      .flags = CFG_RESTART, .check = cfg_check_socket,
      .form = "unix:/path, local:/path, inet:PORT@HOST or "
              "inet6:PORT@HOST with PORT in 1..65535" },
    { .section = "milter", .key = "user", .type = CFG_STRING,
      .offset = CFG_OFF(user), .def = "", .flags = CFG_RESTART },
    { .section = "milter", .key = "group", .type = CFG_STRING,
      .offset = CFG_OFF(group), .def = "", .flags = CFG_RESTART },
    { .section = "milter", .key = "umask", .type = CFG_OCTAL,
      .offset = CFG_OFF(umask), .def = "007", .min = 0, .max = 0777,
      .flags = CFG_RESTART },
    { .section = "milter", .key = "pidfile", .type = CFG_STRING,
      .offset = CFG_OFF(pidfile),
      .def = "/run/neural-milter/neural-milter.pid", .flags = CFG_RESTART },
    { .section = "milter", .key = "on_error", .type = CFG_ENUM,
      .offset = CFG_OFF(on_error), .def = "accept", .flags = CFG_RELOAD,
      .names = cfg_on_error_names },
    { .section = "milter", .key = "log_level", .type = CFG_ENUM,
      .offset = CFG_OFF(log_level), .def = "info", .flags = CFG_RELOAD,
      .names = cfg_log_level_names, .lookup = log_level_parse },
    { .section = "milter", .key = "syslog_facility", .type = CFG_STRING,
      .offset = CFG_OFF(syslog_facility), .def = "mail",
      .flags = CFG_RESTART, .check = cfg_check_facility,
      .form = "a syslog facility: mail, daemon, user or local0..local7" },
    { .section = "milter", .key = "skip_authenticated", .type = CFG_BOOL,
      .offset = CFG_OFF(skip_authenticated), .def = "yes",
      .flags = CFG_RELOAD },
    { .section = "milter", .key = "skip_networks", .type = CFG_STRING,
      .offset = CFG_OFF(skip_networks), .def = "", .flags = CFG_RELOAD,
      .check = cfg_check_networks,
      .form = "IPv4 or IPv6 networks (ADDR or ADDR/N), comma-separated" },

    { .section = "upstream", .key = "format", .type = CFG_ENUM,
      .offset = CFG_OFF(upstream_format), .def = "auto",
      .flags = CFG_RELOAD, .names = cfg_format_names },
    { .section = "upstream", .key = "trust", .type = CFG_ENUM,
      .offset = CFG_OFF(upstream_trust), .def = "single",
      .flags = CFG_RELOAD, .names = cfg_trust_names },
    { .section = "upstream", .key = "require_queue_id", .type = CFG_BOOL,
      .offset = CFG_OFF(require_queue_id), .def = "yes",
      .flags = CFG_RELOAD },

    { .section = "header", .key = "name", .type = CFG_STRING,
      .offset = CFG_OFF(header_name), .def = "X-Neural-Result",
      .flags = CFG_RELOAD, .check = cfg_check_header,
      .form = "a header field name: 1..64 printable ASCII characters "
              "other than ':' and space" },
    { .section = "header", .key = "adjusted_name", .type = CFG_STRING,
      .offset = CFG_OFF(adjusted_name), .def = "", .flags = CFG_RELOAD,
      .check = cfg_check_header_opt,
      .form = "empty or a header field name: 1..64 printable ASCII "
              "characters other than ':' and space" },

    { .section = "redis", .key = "servers", .type = CFG_STRING,
      .offset = CFG_OFF(redis_servers), .def = "127.0.0.1:6379",
      .flags = CFG_RESTART, .check = cfg_check_servers,
      .form = "host:port or /path/to.sock, comma-separated" },
    { .section = "redis", .key = "read_servers", .type = CFG_STRING,
      .offset = CFG_OFF(redis_read_servers), .def = "",
      .flags = CFG_RESTART },
    { .section = "redis", .key = "username", .type = CFG_STRING,
      .offset = CFG_OFF(redis_username), .def = "", .flags = CFG_RESTART,
      .check = cfg_check_username,
      .form = "empty or a Redis ACL user name without blanks" },
    { .section = "redis", .key = "password", .type = CFG_STRING,
      .offset = CFG_OFF(redis_password), .def = "", .flags = CFG_RESTART },
    { .section = "redis", .key = "db", .type = CFG_LONG,
      .offset = CFG_OFF(redis_db), .def = "0", .min = 0, .max = 1024,
      .flags = CFG_RESTART },
    { .section = "redis", .key = "prefix", .type = CFG_STRING,
      .offset = CFG_OFF(redis_prefix), .def = "nm", .flags = CFG_RESTART,
      .check = cfg_check_prefix,
      .form = "1..64 characters of A-Z a-z 0-9 _ . : -" },
    { .section = "redis", .key = "timeout", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(redis_timeout_ms), .def = "500ms", .min = 10,
      .max = 60000, .flags = CFG_RESTART },
    { .section = "redis", .key = "connect_timeout", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(redis_connect_timeout_ms), .def = "500ms",
      .min = 10, .max = 60000, .flags = CFG_RESTART },
    { .section = "redis", .key = "watch_interval", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(watch_interval_ms), .def = "10s", .min = 100,
      .max = 3600000, .flags = CFG_RESTART },
    { .section = "redis", .key = "sentinels", .type = CFG_STRING,
      .offset = CFG_OFF(redis_sentinels), .def = "", .flags = CFG_RESTART },
    { .section = "redis", .key = "sentinel_master", .type = CFG_STRING,
      .offset = CFG_OFF(redis_sentinel_master), .def = "mymaster",
      .flags = CFG_RESTART, .check = cfg_check_master,
      .form = "a Sentinel master name: 1..64 of A-Z a-z 0-9 _ . -" },
    { .section = "redis", .key = "sentinel_password", .type = CFG_STRING,
      .offset = CFG_OFF(redis_sentinel_password), .def = "",
      .flags = CFG_RESTART },

    { .section = "score", .key = "enabled", .type = CFG_BOOL,
      .offset = CFG_OFF(score_enabled), .def = "yes", .flags = CFG_RELOAD },
    { .section = "score", .key = "spam_weight", .type = CFG_DOUBLE,
      .offset = CFG_OFF(spam_weight), .def = "5.0", .min = 0, .max = 100,
      .flags = CFG_RELOAD },
    { .section = "score", .key = "ham_weight", .type = CFG_DOUBLE,
      .offset = CFG_OFF(ham_weight), .def = "-3.0", .min = -100, .max = 0,
      .flags = CFG_RELOAD },
    { .section = "score", .key = "thresholds", .type = CFG_STRING,
      .offset = CFG_OFF(thresholds), .def = "", .flags = CFG_RELOAD,
      .check = cfg_check_thresholds,
      .form = "empty or up to " CFG_STR(CFG_THRESHOLDS_MAX) " numbers in "
              "-1000..1000, comma-separated" },

    { .section = "model", .key = "hidden_layers", .type = CFG_STRING,
      .offset = CFG_OFF(hidden_layers), .def = "auto", .flags = CFG_RELOAD,
      .check = cfg_check_layers,
      .form = "auto, N or N,M with sizes in 1.." CFG_STR(CFG_LAYER_MAX) },
    /* The lookup and temporary failures of Rspamd and SpamAssassin, and
     * Rspamd's own network; etc/neural-milter.ini says which and why. */
    { .section = "model", .key = "ignore_symbols", .type = CFG_STRING,
      .offset = CFG_OFF(ignore_symbols),
      .def = "*_FAIL *_DNSFAIL *_TEMPFAIL *_TEMPERROR *_BLOCKED "
             "*_BLOCKED_OPENRESOLVER NEURAL_* !R_SPF_FAIL !SPF_FAIL "
             "!SPF_HELO_FAIL !AUTH_NA_OR_FAIL",
      .flags = CFG_RELOAD, .check = cfg_check_ignore,
      .form = "symbol names and patterns with * and ?, each optionally "
              "after ! (an exception), separated by blanks or commas, "
              "at most " CFG_STR(CFG_IGNORE_MAX) },

    { .section = "train", .key = "enabled", .type = CFG_BOOL,
      .offset = CFG_OFF(train_enabled), .def = "yes", .flags = CFG_RELOAD },
    { .section = "train", .key = "autolearn", .type = CFG_BOOL,
      .offset = CFG_OFF(autolearn), .def = "yes", .flags = CFG_RELOAD },
    { .section = "train", .key = "threshold", .type = CFG_LONG,
      .offset = CFG_OFF(threshold), .def = "1000", .min = 1,
      .max = 10000000, .flags = CFG_RELOAD },
    { .section = "train", .key = "max_iterations", .type = CFG_LONG,
      .offset = CFG_OFF(max_iterations), .def = "10", .min = 1,
      .max = 1000, .flags = CFG_RELOAD },
    { .section = "train", .key = "max_examples", .type = CFG_LONG,
      .offset = CFG_OFF(max_examples), .def = "20000", .min = 100,
      .max = 10000000, .flags = CFG_RELOAD },
    { .section = "train", .key = "min_class", .type = CFG_LONG,
      .offset = CFG_OFF(min_class), .def = "50", .min = 1, .max = 1000000,
      .flags = CFG_RELOAD },
    { .section = "train", .key = "spam_score", .type = CFG_DOUBLE,
      .offset = CFG_OFF(spam_score), .def = "15", .min = -1000,
      .max = 1000, .flags = CFG_RELOAD },
    { .section = "train", .key = "ham_score", .type = CFG_DOUBLE,
      .offset = CFG_OFF(ham_score), .def = "0", .min = -1000, .max = 1000,
      .flags = CFG_RELOAD },
    { .section = "train", .key = "spam_actions", .type = CFG_STRING,
      .offset = CFG_OFF(spam_actions), .def = "reject", .flags = CFG_RELOAD,
      .check = cfg_check_actions,
      .form = "a comma-separated list of Rspamd actions: no action, "
              "greylist, add header, rewrite subject, soft reject, reject" },
    { .section = "train", .key = "spam_min_positive", .type = CFG_LONG,
      .offset = CFG_OFF(spam_min_positive), .def = "2", .min = 0,
      .max = 512 /* HDR_MAX_SYMBOLS */, .flags = CFG_RELOAD },
    { .section = "train", .key = "junk_actions", .type = CFG_STRING,
      .offset = CFG_OFF(junk_actions), .def = "",
      .flags = CFG_RELOAD, .check = cfg_check_actions,
      .form = "a comma-separated list of Rspamd actions: no action, "
              "greylist, add header, rewrite subject, soft reject, reject" },
    { .section = "train", .key = "junk_min_positive", .type = CFG_LONG,
      .offset = CFG_OFF(junk_min_positive), .def = "3", .min = 0,
      .max = 512 /* HDR_MAX_SYMBOLS */, .flags = CFG_RELOAD },
    { .section = "train", .key = "ham_actions", .type = CFG_STRING,
      .offset = CFG_OFF(ham_actions), .def = "no action",
      .flags = CFG_RELOAD, .check = cfg_check_actions,
      .form = "a comma-separated list of Rspamd actions: no action, "
              "greylist, add header, rewrite subject, soft reject, reject" },
    { .section = "train", .key = "ham_min_negative", .type = CFG_LONG,
      .offset = CFG_OFF(ham_min_negative), .def = "4", .min = 0,
      .max = 512 /* HDR_MAX_SYMBOLS */, .flags = CFG_RELOAD },
    { .section = "train", .key = "holdout", .type = CFG_DOUBLE,
      .offset = CFG_OFF(holdout), .def = "0.1", .min = 0, .max = 0.5,
      .flags = CFG_RELOAD | CFG_MIN_OPEN },
    { .section = "train", .key = "target_fpr", .type = CFG_DOUBLE,
      .offset = CFG_OFF(target_fpr), .def = "0.005", .min = 0, .max = 0.2,
      .flags = CFG_RELOAD | CFG_MIN_OPEN },
    { .section = "train", .key = "max_epochs", .type = CFG_LONG,
      .offset = CFG_OFF(max_epochs), .def = "500", .min = 1, .max = 100000,
      .flags = CFG_RELOAD },
    { .section = "train", .key = "check_interval", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(check_interval_ms), .def = "30s", .min = 100,
      .max = 86400000, .flags = CFG_RELOAD },
    { .section = "train", .key = "lock_ttl", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(lock_ttl_ms), .def = "60s", .min = 1000,
      .max = 3600000, .flags = CFG_RELOAD },
    { .section = "train", .key = "profile_change", .type = CFG_DOUBLE,
      .offset = CFG_OFF(profile_change), .def = "0.1", .min = 0, .max = 1,
      .flags = CFG_RELOAD | CFG_MIN_OPEN },
    { .section = "train", .key = "profile_grace", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(profile_grace_ms), .def = "24h", .min = 1000,
      .max = 86400000000.0, .flags = CFG_RELOAD },
    { .section = "train", .key = "memory_limit", .type = CFG_SIZE,
      .offset = CFG_OFF(train_memory_limit), .def = "512M",
      .min = 32.0 * 1024 * 1024, .max = 1024.0 * 1024 * 1024 * 1024,
      .flags = CFG_RELOAD },
    { .section = "train", .key = "queue_size", .type = CFG_LONG,
      .offset = CFG_OFF(queue_size), .def = "10000", .min = 1,
      .max = 1000000, .flags = CFG_RESTART },

    { .section = "learn", .key = "max_reports_per_day", .type = CFG_LONG,
      .offset = CFG_OFF(max_reports_per_day), .def = "200", .min = 0,
      .max = 1000000, .flags = CFG_RELOAD },
    { .section = "learn", .key = "replies", .type = CFG_BOOL,
      .offset = CFG_OFF(replies), .def = "yes", .flags = CFG_RELOAD },
    { .section = "learn", .key = "local_networks", .type = CFG_STRING,
      .offset = CFG_OFF(local_networks), .def = "", .flags = CFG_RELOAD,
      .check = cfg_check_networks,
      .form = "IPv4 or IPv6 networks (ADDR or ADDR/N), comma-separated" },
    { .section = "learn", .key = "replies_window", .type = CFG_DURATION_MS,
      .offset = CFG_OFF(replies_window_ms), .def = "14d", .min = 60000,
      .max = 90.0 * 86400000, .flags = CFG_RELOAD },
    { .section = "learn", .key = "replies_max", .type = CFG_LONG,
      .offset = CFG_OFF(replies_max), .def = "200000", .min = 1,
      .max = 100000000, .flags = CFG_RELOAD },
    { .section = "learn", .key = "spamtrap_recipients", .type = CFG_STRING,
      .offset = CFG_OFF(spamtrap_recipients), .def = "",
      .flags = CFG_RELOAD, .check = cfg_check_traps,
      .form = "addresses (user@domain) and domains (@domain), "
              "comma-separated" },

    { .section = "metrics", .key = "listen", .type = CFG_STRING,
      .offset = CFG_OFF(metrics_listen), .def = "", .flags = CFG_RESTART,
      .check = cfg_check_listen,
      .form = "empty, HOST:PORT or [ADDRESS]:PORT with PORT in 1..65535" },
};

#define CFG_NDEFS (sizeof(cfg_defs) / sizeof(cfg_defs[0]))

/* The daemon's current snapshot; the pointer and the reference it holds
 * are guarded by cfg_current_lock. */
static pthread_mutex_t cfg_current_lock = PTHREAD_MUTEX_INITIALIZER;
static struct cfg *cfg_current_ptr;

/* Guards the one-time write of inih's option globals (the only other
 * writable global here): cfg_load() may run in any thread. */
static pthread_once_t cfg_inih_once = PTHREAD_ONCE_INIT;

/* struct cfg_parse - the state of one cfg_load(), shared by the reader
 * and the handler (both run in the loading thread only) */
struct cfg_parse {
    struct cfg *c;
    const char *path;
    FILE *fp;
    int lineno;              /* line last handed to inih */
    int skip;                /* keys belong to a bad section header */
    int line_of[CFG_NDEFS];  /* line that set each key, 0 = default */
    char *err;
    size_t errlen;
    size_t errused;
    int errfull;             /* err was truncated: append nothing more */
    unsigned nerr;
};

/* cfg_err_add - count a problem and append "PATH:LINE: msg\n" to err */
static void cfg_err_add(struct cfg_parse *p, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
cfg_err_add(struct cfg_parse *p, int line, const char *fmt, ...)
{
    char msg[1024];
    size_t room;
    va_list ap;
    int n;

    p->nerr++;
    if (p->errfull || p->errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    room = p->errlen - p->errused;
    n = snprintf(p->err + p->errused, room, "%s:%d: %s\n", p->path, line,
                 msg);
    if (n >= 0 && (size_t)n < room) {
        p->errused += (size_t)n;
        return;
    }
    /* Cut: end the text with a marker line end so it stays line-wise. */
    p->errfull = 1;
    if (p->errlen >= 5)
        memcpy(p->err + p->errlen - 5, "...\n", 5);
    p->errused = strlen(p->err);
}

/* cfg_quote - value cut to CFG_QUOTE_MAX bytes for an error message */
static const char *
cfg_quote(const char *value, char *buf, size_t len)
{
    size_t n = strlen(value);

    if (n <= CFG_QUOTE_MAX)
        return value;
    snprintf(buf, len, "%.*s...", CFG_QUOTE_MAX, value);
    return buf;
}

/* cfg_span_trim - trim blanks off the span [*s, *s + *n) */
static void
cfg_span_trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

/* cfg_span_parse_long - util_parse_long over a span (copied) */
static int
cfg_span_parse_long(const char *s, size_t n, long min, long max, long *out)
{
    char buf[32];

    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return util_parse_long(buf, min, max, out);
}

/* cfg_check_socket - libmilter socket spelling */
static int
cfg_check_socket(const char *value, char *why, size_t whylen)
{
    static const char *const path_kinds[] = { "unix:", "local:" };
    static const char *const inet_kinds[] = { "inet:", "inet6:" };
    const char *port, *at;
    size_t n;
    long v;

    for (size_t i = 0; i < 2; i++) {
        n = strlen(path_kinds[i]);
        if (strncmp(value, path_kinds[i], n) != 0)
            continue;
        if (value[n] != '\0')
            return 0;
        snprintf(why, whylen, "no path after %s", path_kinds[i]);
        return -1;
    }
    for (size_t i = 0; i < 2; i++) {
        n = strlen(inet_kinds[i]);
        if (strncmp(value, inet_kinds[i], n) != 0)
            continue;
        port = value + n;
        at = strchr(port, '@');
        n = at ? (size_t)(at - port) : strlen(port);
        for (size_t k = 0; k < n; k++)
            if (port[k] < '0' || port[k] > '9')
                n = 0;
        if (n == 0 || cfg_span_parse_long(port, n, 1, 65535, &v) != 0) {
            snprintf(why, whylen, "bad port");
            return -1;
        }
        if (at && at[1] == '\0') {
            snprintf(why, whylen, "no host after '@'");
            return -1;
        }
        return 0;
    }
    snprintf(why, whylen, "unknown socket kind");
    return -1;
}

/* cfg_check_facility - a facility log_init() accepts */
static int
cfg_check_facility(const char *value, char *why, size_t whylen)
{
    (void)why;
    (void)whylen;
    return log_facility_valid(value) ? 0 : -1;
}

/* cfg_check_header - RFC 5322 field name, at most 64 characters */
static int
cfg_check_header(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value);

    (void)why;
    (void)whylen;
    if (n == 0 || n > 64)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (value[i] < 33 || value[i] > 126 || value[i] == ':')
            return -1;
    return 0;
}

/* cfg_check_header_opt - empty (off) or a header field name */
static int
cfg_check_header_opt(const char *value, char *why, size_t whylen)
{
    return value[0] == '\0' ? 0 : cfg_check_header(value, why, whylen);
}

/* cfg_check_servers - at least one server */
static int
cfg_check_servers(const char *value, char *why, size_t whylen)
{
    if (value[0] != '\0')
        return 0;
    snprintf(why, whylen, "empty");
    return -1;
}

/* cfg_check_prefix - [A-Za-z0-9_.:-]{1,64}: part of every Redis key */
static int
cfg_check_prefix(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value);

    (void)why;
    (void)whylen;
    if (n == 0 || n > 64)
        return -1;
    if (strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789_.:-") != n)
        return -1;
    return 0;
}

/* cfg_check_master - a Sentinel master name, [A-Za-z0-9_.-]{1,64} (it
 * goes into SENTINEL commands and log lines) */
static int
cfg_check_master(const char *value, char *why, size_t whylen)
{
    static const char ok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "abcdefghijklmnopqrstuvwxyz0123456789_.-";
    size_t n = strlen(value);

    (void)why;
    (void)whylen;
    if (n == 0 || n > 64 || strspn(value, ok) != n)
        return -1;
    return 0;
}

/* cfg_check_listen - "" (off), "HOST:PORT" or "[ADDRESS]:PORT"; the
 * address itself is resolved when the daemon binds */
static int
cfg_check_listen(const char *value, char *why, size_t whylen)
{
    const char *colon;
    size_t hlen;
    long v;

    if (value[0] == '\0')
        return 0;
    if (value[0] == '[') {
        const char *close = strchr(value, ']');

        if (close == NULL || close == value + 1 || close[1] != ':') {
            snprintf(why, whylen, "want [ADDRESS]:PORT");
            return -1;
        }
        colon = close + 1;
    } else {
        colon = strrchr(value, ':');
        hlen = colon ? (size_t)(colon - value) : 0;
        if (colon == NULL || hlen == 0 || memchr(value, ':', hlen) != NULL) {
            snprintf(why, whylen, "want HOST:PORT (an IPv6 address goes "
                     "in brackets)");
            return -1;
        }
        if (strspn(value, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                          "0123456789.-_") != hlen) {
            snprintf(why, whylen, "bad host");
            return -1;
        }
    }
    if (colon[1] == '\0' || strspn(colon + 1, "0123456789") !=
                                strlen(colon + 1) ||
        cfg_span_parse_long(colon + 1, strlen(colon + 1), 1, 65535, &v) != 0) {
        snprintf(why, whylen, "bad port");
        return -1;
    }
    return 0;
}

/* cfg_layers_parse - "auto" gives 0, "N" 1, "N,M" 2; -1 when bad */
static int
cfg_layers_parse(const char *s, unsigned sizes[2])
{
    const char *comma;
    long v;
    int n = 0;

    if (strcasecmp(s, "auto") == 0)
        return 0;
    for (;;) {
        comma = strchr(s, ',');
        if (n == 2)
            return -1;
        if (cfg_span_parse_long(s, comma ? (size_t)(comma - s) : strlen(s),
                                1, CFG_LAYER_MAX, &v) != 0)
            return -1;
        sizes[n++] = (unsigned)v;
        if (comma == NULL)
            return n;
        s = comma + 1;
    }
}

/* cfg_check_layers - hidden_layers spelling */
static int
cfg_check_layers(const char *value, char *why, size_t whylen)
{
    unsigned sizes[2];

    (void)why;
    (void)whylen;
    return cfg_layers_parse(value, sizes) < 0 ? -1 : 0;
}

/* cfg_action_known - the span names one of Rspamd's actions */
static int
cfg_action_known(const char *s, size_t n)
{
    for (size_t i = 0; cfg_actions[i]; i++)
        if (strlen(cfg_actions[i]) == n &&
            strncasecmp(s, cfg_actions[i], n) == 0)
            return 1;
    return 0;
}

/* cfg_check_actions - "" or a list of Rspamd actions */
static int
cfg_check_actions(const char *value, char *why, size_t whylen)
{
    const char *s = value, *comma;
    size_t n;

    if (value[strspn(value, " \t")] == '\0')
        return 0;
    for (;;) {
        comma = strchr(s, ',');
        n = comma ? (size_t)(comma - s) : strlen(s);
        cfg_span_trim(&s, &n);
        if (n == 0) {
            snprintf(why, whylen, "empty action in the list");
            return -1;
        }
        if (!cfg_action_known(s, n)) {
            snprintf(why, whylen, "unknown action '%.*s'",
                     n > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : (int)n, s);
            return -1;
        }
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

/* cfg_check_networks - a list addr_netlist_parse() takes */
static int
cfg_check_networks(const char *value, char *why, size_t whylen)
{
    struct addr_netlist nl;

    return addr_netlist_parse(value, &nl, why, whylen);
}

/* cfg_check_traps - a list addr_traps_check() takes */
static int
cfg_check_traps(const char *value, char *why, size_t whylen)
{
    return addr_traps_check(value, why, whylen);
}

/* cfg_check_username - "" or one word of printable ASCII */
static int
cfg_check_username(const char *value, char *why, size_t whylen)
{
    size_t n = strlen(value);

    (void)why;
    (void)whylen;
    if (n > 128)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (value[i] <= 32 || value[i] >= 127)
            return -1;
    return 0;
}

/* cfg_thresholds_parse - "" or up to CFG_THRESHOLDS_MAX numbers; the
 * count, or -1 when bad */
static int
cfg_thresholds_parse(const char *value, double out[CFG_THRESHOLDS_MAX])
{
    const char *s = value, *comma;
    char buf[32];
    size_t n;
    int k = 0;

    if (value[strspn(value, " \t")] == '\0')
        return 0;
    for (;;) {
        comma = strchr(s, ',');
        n = comma ? (size_t)(comma - s) : strlen(s);
        if (k == CFG_THRESHOLDS_MAX || n >= sizeof(buf))
            return -1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (util_parse_double(buf, -1000, 1000, &out[k]) != 0)
            return -1;
        k++;
        if (comma == NULL)
            return k;
        s = comma + 1;
    }
}

/* cfg_check_thresholds - the spelling of [score] thresholds */
static int
cfg_check_thresholds(const char *value, char *why, size_t whylen)
{
    double v[CFG_THRESHOLDS_MAX];

    (void)why;
    (void)whylen;
    return cfg_thresholds_parse(value, v) < 0 ? -1 : 0;
}

/* cfg_thresholds - the numbers of [score] thresholds */
size_t
cfg_thresholds(const struct cfg *c, double out[CFG_THRESHOLDS_MAX])
{
    int n = cfg_thresholds_parse(c->thresholds, out);

    return n > 0 ? (size_t)n : 0; /* a bad value cannot get past cfg_load */
}

/* cfg_ignore_next - the next item of an ignore list at *s: its span in
 * *item / *n, *s moved past it; 0 at the end of the list */
static int
cfg_ignore_next(const char **s, const char **item, size_t *n)
{
    *s += strspn(*s, " \t,");
    if (**s == '\0')
        return 0;
    *item = *s;
    *n = strcspn(*s, " \t,");
    *s += *n;
    return 1;
}

/* cfg_ignore_item_ok - [!]PATTERN, the pattern 1 .. CFG_IGNORE_LEN - 1
 * characters of [A-Za-z0-9_*?] */
static int
cfg_ignore_item_ok(const char *s, size_t n)
{
    if (n > 0 && s[0] == '!') {
        s++;
        n--;
    }
    if (n == 0 || n >= CFG_IGNORE_LEN)
        return 0;
    return strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789_*?") >= n;
}

/* cfg_check_ignore - the spelling of ignore_symbols */
static int
cfg_check_ignore(const char *value, char *why, size_t whylen)
{
    const char *s = value, *item;
    size_t n, count = 0;

    while (cfg_ignore_next(&s, &item, &n)) {
        if (!cfg_ignore_item_ok(item, n)) {
            snprintf(why, whylen, "bad pattern '%.*s'",
                     n > CFG_QUOTE_MAX ? CFG_QUOTE_MAX : (int)n, item);
            return -1;
        }
        if (++count > CFG_IGNORE_MAX) {
            snprintf(why, whylen, "more than %d patterns", CFG_IGNORE_MAX);
            return -1;
        }
    }
    return 0;
}

/* cfg_ignore_compile - c->ignore from c->ignore_symbols, which
 * cfg_check_ignore() accepted */
static void
cfg_ignore_compile(struct cfg *c)
{
    const char *s = c->ignore_symbols, *item;
    size_t n;

    free(c->ignore);
    c->ignore = xcalloc(CFG_IGNORE_MAX, sizeof(*c->ignore));
    c->nignore = 0;
    while (cfg_ignore_next(&s, &item, &n) && c->nignore < CFG_IGNORE_MAX) {
        struct cfg_glob *g = &c->ignore[c->nignore++];
        size_t stars;

        g->except = item[0] == '!';
        item += g->except;
        n -= (size_t)g->except;
        stars = 0;
        for (size_t i = 0; i < n; i++)
            stars += item[i] == '*' || item[i] == '?';
        g->kind = CFG_GLOB_ANY;
        if (stars == 0)
            g->kind = CFG_GLOB_EXACT;
        else if (stars == 1 && item[0] == '*')
            g->kind = CFG_GLOB_SUFFIX;
        else if (stars == 1 && item[n - 1] == '*')
            g->kind = CFG_GLOB_PREFIX;
        if (g->kind == CFG_GLOB_SUFFIX)
            item++;
        if (g->kind == CFG_GLOB_SUFFIX || g->kind == CFG_GLOB_PREFIX)
            n--;
        memcpy(g->text, item, n);
        g->text[n] = '\0';
        g->len = n;
        if (g->kind == CFG_GLOB_SUFFIX) {
            unsigned char t[8] = { 0 }, m[8] = { 0 };
            size_t k = n < 8 ? n : 8;

            memcpy(t + 8 - k, item + n - k, k);
            memset(m + 8 - k, 0xff, k);
            memcpy(&g->tail, t, 8);
            memcpy(&g->tail_mask, m, 8);
        }
    }
    /* the patterns first, the exceptions after them (the order does not
     * matter to the answer): cfg_symbol_ignored() tries the exceptions
     * only on a name a pattern matched */
    c->nmatch = 0;
    for (size_t i = 0; i < c->nignore; i++)
        if (!c->ignore[i].except) {
            struct cfg_glob t = c->ignore[i];

            memmove(&c->ignore[c->nmatch + 1], &c->ignore[c->nmatch],
                    (i - c->nmatch) * sizeof(*c->ignore));
            c->ignore[c->nmatch++] = t;
        }
}

/* cfg_action_bit - an action's bit: its place in cfg_actions[] */
unsigned
cfg_action_bit(const char *action)
{
    for (unsigned i = 0; cfg_actions[i]; i++)
        if (cfg_action_listed(cfg_actions[i], action))
            return 1u << i;
    return 0;
}

/* cfg_action_set - the set of a list cfg_check_actions() accepted */
static unsigned
cfg_action_set(const char *list)
{
    unsigned set = 0;

    for (unsigned i = 0; cfg_actions[i]; i++)
        if (cfg_action_listed(list, cfg_actions[i]))
            set |= 1u << i;
    return set;
}

/* cfg_derive - the compiled forms of the strings: verdict_label_of()
 * tests the action lists of every message, and parsing each list cost
 * 140 instructions a test */
void
cfg_derive(struct cfg *c)
{
    cfg_ignore_compile(c);
    c->spam_action_set = cfg_action_set(c->spam_actions);
    c->junk_action_set = cfg_action_set(c->junk_actions);
    c->ham_action_set = cfg_action_set(c->ham_actions);
}

/* cfg_glob_match - one compiled pattern on a name of nlen bytes; a
 * suffix by its last word first, a prefix by its first byte: most names
 * fail there */
static inline int
cfg_glob_match(const struct cfg_glob *g, const char *name, size_t nlen)
{
    switch (g->kind) {
    case CFG_GLOB_EXACT:
        return nlen == g->len &&
               (nlen == 0 || (name[0] == g->text[0] &&
                              memcmp(name, g->text, nlen) == 0));
    case CFG_GLOB_SUFFIX:
        if (nlen < g->len)
            return 0;
        if (nlen >= 8) {
            uint64_t w;

            memcpy(&w, name + nlen - 8, 8);
            return (w & g->tail_mask) == g->tail &&
                   (g->len <= 8 ||
                    memcmp(name + nlen - g->len, g->text, g->len - 8) == 0);
        }
        return memcmp(name + nlen - g->len, g->text, g->len) == 0;
    case CFG_GLOB_PREFIX:
        return nlen >= g->len &&
               (g->len == 0 || (name[0] == g->text[0] &&
                                memcmp(name, g->text, g->len) == 0));
    case CFG_GLOB_ANY:
        break;
    }
    return util_glob_match(g->text, g->len, name);
}

/* cfg_symbol_ignored - a pattern matches and no exception does: the
 * exceptions are only tried on a name a pattern matched */
int
cfg_symbol_ignored(const struct cfg *c, const char *name)
{
    return c->nmatch != 0 && cfg_symbol_ignored_len(c, name, strlen(name));
}

/* cfg_symbol_ignored_len - the same, strlen(name) known */
int
cfg_symbol_ignored_len(const struct cfg *c, const char *name, size_t nlen)
{
    size_t i;

    if (c->nmatch == 0)
        return 0;
    for (i = 0; i < c->nmatch; i++)
        if (cfg_glob_match(&c->ignore[i], name, nlen))
            break;
    if (i == c->nmatch)
        return 0;
    for (i = c->nmatch; i < c->nignore; i++)
        if (cfg_glob_match(&c->ignore[i], name, nlen))
            return 0;
    return 1;
}

/* cfg_fmt_duration - ms in the largest unit that divides it */
static void
cfg_fmt_duration(long ms, char *buf, size_t len)
{
    if (ms != 0 && ms % 86400000 == 0)
        snprintf(buf, len, "%ldd", ms / 86400000);
    else if (ms != 0 && ms % 3600000 == 0)
        snprintf(buf, len, "%ldh", ms / 3600000);
    else if (ms != 0 && ms % 60000 == 0)
        snprintf(buf, len, "%ldm", ms / 60000);
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, len, "%lds", ms / 1000);
    else
        snprintf(buf, len, "%ldms", ms);
}

/* cfg_fmt_size - bytes in the largest binary unit that divides them */
static void
cfg_fmt_size(long n, char *buf, size_t len)
{
    static const char units[] = "KMGT";
    int u = -1;

    while (n != 0 && n % 1024 == 0 && u < 3) {
        n /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, len, "%ld", n);
    else
        snprintf(buf, len, "%ld%c", n, units[u]);
}

/* cfg_fmt_double - shortest "%g" form that reads back as the same value */
static void
cfg_fmt_double(double v, char *buf, size_t len)
{
    for (int prec = 6; prec <= 17; prec++) {
        snprintf(buf, len, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* cfg_expect - "what is expected" for the def, into buf */
static void
cfg_expect(const struct cfg_def *d, char *buf, size_t len)
{
    char lo[32], hi[32];
    size_t used;

    switch (d->type) {
    case CFG_STRING:
        snprintf(buf, len, "%s", d->form ? d->form : "a string");
        break;
    case CFG_LONG:
        snprintf(buf, len, "an integer in %ld..%ld", (long)d->min,
                 (long)d->max);
        break;
    case CFG_DOUBLE:
        cfg_fmt_double(d->min, lo, sizeof(lo));
        cfg_fmt_double(d->max, hi, sizeof(hi));
        if (d->flags & CFG_MIN_OPEN)
            snprintf(buf, len, "a number in (%s, %s]", lo, hi);
        else
            snprintf(buf, len, "a number in %s..%s", lo, hi);
        break;
    case CFG_BOOL:
        snprintf(buf, len, "yes/no, true/false, on/off or 1/0");
        break;
    case CFG_DURATION_MS:
        cfg_fmt_duration((long)d->min, lo, sizeof(lo));
        cfg_fmt_duration((long)d->max, hi, sizeof(hi));
        snprintf(buf, len,
                 "a duration such as 500ms, 30s, 5m or 1h in %s..%s", lo, hi);
        break;
    case CFG_OCTAL:
        snprintf(buf, len, "an octal number in %03lo..%03lo", (long)d->min,
                 (long)d->max);
        break;
    case CFG_SIZE:
        cfg_fmt_size((long)d->min, lo, sizeof(lo));
        cfg_fmt_size((long)d->max, hi, sizeof(hi));
        snprintf(buf, len, "a size such as 512M or 2G in %s..%s", lo, hi);
        break;
    case CFG_ENUM:
        used = (size_t)snprintf(buf, len, "one of");
        for (size_t i = 0; d->names[i] && used < len; i++)
            used += (size_t)snprintf(buf + used, len - used, "%s %s",
                                     i == 0 ? "" : ",", d->names[i]);
        break;
    }
}

/* cfg_enum_lookup - index of value in the def's names, or -1 */
static int
cfg_enum_lookup(const struct cfg_def *d, const char *value)
{
    if (d->lookup)
        return d->lookup(value);
    for (int i = 0; d->names[i]; i++)
        if (strcasecmp(value, d->names[i]) == 0)
            return i;
    return -1;
}

/*
 * cfg_value_set - parse value for d into c. Returns 0, or -1 with
 * *range set when the value has the right form but lies outside the
 * limits, and why holding a detail (possibly "").
 */
static int
cfg_value_set(struct cfg *c, const struct cfg_def *d, const char *value,
              int *range, char *why, size_t whylen)
{
    char *field = (char *)c + d->offset;
    double dv;
    long lv;
    int iv;

    *range = 0;
    why[0] = '\0';
    switch (d->type) {
    case CFG_STRING:
        if (d->check && d->check(value, why, whylen) != 0)
            return -1;
        free(*(char **)field);
        *(char **)field = xstrdup(value);
        return 0;
    case CFG_LONG:
    case CFG_OCTAL:
        if ((d->type == CFG_LONG ? util_parse_long : util_parse_octal)(
                value, LONG_MIN, LONG_MAX, &lv) != 0)
            return -1;
        if (lv < (long)d->min || lv > (long)d->max) {
            *range = 1;
            return -1;
        }
        *(long *)field = lv;
        return 0;
    case CFG_SIZE:
        if (util_parse_size(value, 0, LONG_MAX, &lv) != 0)
            return -1;
        if (lv < (long)d->min || lv > (long)d->max) {
            *range = 1;
            return -1;
        }
        *(long *)field = lv;
        return 0;
    case CFG_DURATION_MS:
        if (util_parse_duration_ms(value, 0, LONG_MAX, &lv) != 0)
            return -1;
        if (lv < (long)d->min || lv > (long)d->max) {
            *range = 1;
            return -1;
        }
        *(long *)field = lv;
        return 0;
    case CFG_DOUBLE:
        if (util_parse_double(value, -DBL_MAX, DBL_MAX, &dv) != 0)
            return -1;
        if (dv < d->min || dv > d->max ||
            ((d->flags & CFG_MIN_OPEN) && dv == d->min)) {
            *range = 1;
            return -1;
        }
        *(double *)field = dv;
        return 0;
    case CFG_BOOL:
        if (util_parse_bool(value, &iv) != 0)
            return -1;
        *(int *)field = iv;
        return 0;
    case CFG_ENUM:
        iv = cfg_enum_lookup(d, value);
        if (iv < 0)
            return -1;
        *(int *)field = iv;
        return 0;
    }
    return -1;
}

/* cfg_def_find - index of section/key in cfg_defs, or -1 */
static int
cfg_def_find(const char *section, const char *key)
{
    for (size_t i = 0; i < CFG_NDEFS; i++)
        if (strcmp(cfg_defs[i].section, section) == 0 &&
            strcmp(cfg_defs[i].key, key) == 0)
            return (int)i;
    return -1;
}

/* cfg_section_known - some key lives in section */
static int
cfg_section_known(const char *section)
{
    for (size_t i = 0; i < CFG_NDEFS; i++)
        if (strcmp(cfg_defs[i].section, section) == 0)
            return 1;
    return 0;
}

/* cfg_free - release a snapshot's memory */
static void
cfg_free(struct cfg *c)
{
    for (size_t i = 0; i < CFG_NDEFS; i++)
        if (cfg_defs[i].type == CFG_STRING)
            free(*(char **)((char *)c + cfg_defs[i].offset));
    free(c->path);
    free(c->ignore);
    free(c);
}

/* cfg_defaults - every key from its default string */
struct cfg *
cfg_defaults(void)
{
    struct cfg *c = xcalloc(1, sizeof(*c));
    char why[256];
    int range;

    for (size_t i = 0; i < CFG_NDEFS; i++)
        if (cfg_value_set(c, &cfg_defs[i], cfg_defs[i].def, &range, why,
                          sizeof(why)) != 0)
            panic("cfg: default of [%s] %s is invalid: %s",
                  cfg_defs[i].section, cfg_defs[i].key, cfg_defs[i].def);
    c->path = xstrdup("(defaults)");
    cfg_derive(c);
    atomic_init(&c->refs, 1);
    return c;
}

/* cfg_inih_setup - inih's run-time options, once per process */
static void
cfg_inih_setup(void)
{
    /*
     * XXX: these are globals of Debian's libinih, shared with anything
     * else in the process that uses inih; nothing else here does. With
     * multi-line values on, an indented line is silently glued to the
     * previous key's value; inline comments would cut a value (a
     * password) at " ;". Our syntax: comments only at line start.
     */
    ini_allow_multiline = 0;
    ini_allow_inline_comments = 0;
}

/*
 * cfg_line_check - the syntax check inih would do on one line, so that
 * every bad line is reported (inih returns only the first). Returns 0
 * when inih may see the line, -1 when it was reported and must be
 * replaced by an empty line. Tracks section headers for cfg_handler().
 */
static int
cfg_line_check(struct cfg_parse *p, const char *line)
{
    const char *s = line, *end;
    char name[CFG_MAX_LINE];
    size_t n;

    if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0)
        s += 3;  /* UTF-8 BOM, which inih skips too */
    s += strspn(s, " \t\f\v");
    if (*s == '\0' || *s == '#' || *s == ';')
        return 0;
    if (*s == '[') {
        end = strchr(s + 1, ']');
        if (end == NULL) {
            cfg_err_add(p, p->lineno, "syntax error: no ']' after '['");
            p->skip = 1;
            return -1;
        }
        if (end[1 + strspn(end + 1, " \t\f\v")] != '\0') {
            cfg_err_add(p, p->lineno, "syntax error: text after ']'");
            p->skip = 1;
            return -1;
        }
        n = (size_t)(end - s - 1);
        memcpy(name, s + 1, n);
        name[n] = '\0';
        p->skip = !cfg_section_known(name);
        if (p->skip)
            cfg_err_add(p, p->lineno, "unknown section [%s]", name);
        return 0;
    }
    if (strpbrk(s, "=:") == NULL) {
        cfg_err_add(p, p->lineno,
                    "syntax error: expected 'key = value', '[section]' "
                    "or a comment");
        return -1;
    }
    return 0;
}

/*
 * cfg_reader - inih's fgets(): one whole line per call, so inih's line
 * count is ours. A line too long or with a NUL byte is reported and
 * given to inih as an empty line. Returns NULL at the end or on a read
 * error (reported).
 */
static char *
cfg_reader(char *str, int num, void *stream)
{
    struct cfg_parse *p = stream;
    size_t len = 0;
    int ch, last = EOF, nul = 0;

    while ((ch = getc(p->fp)) != EOF && ch != '\n') {
        if (len < CFG_MAX_LINE && (int)len < num - 1)
            str[len] = (char)ch;
        nul |= ch == '\0';
        last = ch;
        if (len < SIZE_MAX)
            len++;
    }
    if (ch == EOF && ferror(p->fp)) {
        cfg_err_add(p, p->lineno, "cannot read: %s", strerror(errno));
        return NULL;
    }
    if (ch == EOF && len == 0)
        return NULL;
    p->lineno++;
    if (last == '\r')
        len--;  /* "\r\n" ends the line, it is no part of it */
    if (len >= CFG_MAX_LINE || len >= (size_t)num) {
        cfg_err_add(p, p->lineno, "line too long (%zu bytes, at most %d)",
                    len, CFG_MAX_LINE - 1);
        str[0] = '\0';
        return str;
    }
    str[len] = '\0';
    if (nul) {
        cfg_err_add(p, p->lineno, "line contains a NUL byte");
        str[0] = '\0';
        return str;
    }
    if (cfg_line_check(p, str) != 0)
        str[0] = '\0';
    return str;
}

/* cfg_handler - one key = value from inih; 0 on error */
static int
cfg_handler(void *user, const char *section, const char *name,
            const char *value)
{
    struct cfg_parse *p = user;
    const struct cfg_def *d;
    char why[256], expect[256], quote[CFG_QUOTE_MAX + 4];
    int i, range;

    if (p->skip)
        return 1;  /* reported at the section header */
    if (section[0] == '\0') {
        cfg_err_add(p, p->lineno, "key '%s' outside any section", name);
        return 0;
    }
    i = cfg_def_find(section, name);
    if (i < 0) {
        cfg_err_add(p, p->lineno, "unknown key '%s' in section [%s]", name,
                    section);
        return 0;
    }
    d = &cfg_defs[i];
    if (p->line_of[i] != 0) {
        cfg_err_add(p, p->lineno,
                    "duplicate key '%s' in section [%s] (first on line %d)",
                    name, section, p->line_of[i]);
        return 0;
    }
    p->line_of[i] = p->lineno;
    if (cfg_value_set(p->c, d, value, &range, why, sizeof(why)) == 0)
        return 1;
    cfg_expect(d, expect, sizeof(expect));
    cfg_err_add(p, p->lineno, "[%s] %s: %s '%s'%s%s (expected %s)",
                section, name, range ? "value" : "bad value",
                cfg_quote(value, quote, sizeof(quote)),
                range ? " is out of range" : why[0] ? ": " : "", why,
                expect);
    return 0;
}

/* cfg_line_max - the later of two keys' lines (0 = both defaults) */
static int
cfg_line_max(const struct cfg_parse *p, const char *section, const char *k1,
             const char *k2)
{
    int a = p->line_of[cfg_def_find(section, k1)];
    int b = p->line_of[cfg_def_find(section, k2)];

    return a > b ? a : b;
}

/* cfg_cross_check - rules that involve more than one key */
static void
cfg_cross_check(struct cfg_parse *p)
{
    const struct cfg *c = p->c;
    char a[32], b[32];

    /* spam_weight >= 0 and ham_weight <= 0 are their ranges in cfg_defs */
    if (!(c->ham_score < c->spam_score)) {
        cfg_fmt_double(c->ham_score, a, sizeof(a));
        cfg_fmt_double(c->spam_score, b, sizeof(b));
        cfg_err_add(p, cfg_line_max(p, "train", "ham_score", "spam_score"),
                    "[train] ham_score (%s) must be below spam_score (%s)",
                    a, b);
    }
}

/* cfg_load - defaults, then the file over them, then the checks */
struct cfg *
cfg_load(const char *path, char *err, size_t errlen)
{
    struct cfg_parse p;
    int r;

    memset(&p, 0, sizeof(p));
    p.path = path;
    p.err = err;
    p.errlen = errlen;
    if (errlen > 0)
        err[0] = '\0';
    pthread_once(&cfg_inih_once, cfg_inih_setup);
    p.fp = fopen(path, "r");
    if (p.fp == NULL) {
        cfg_err_add(&p, 0, "cannot open: %s", strerror(errno));
        return NULL;
    }
    p.c = cfg_defaults();
    free(p.c->path);
    p.c->path = xstrdup(path);
    r = ini_parse_stream(cfg_reader, &p, cfg_handler, &p);
    fclose(p.fp);
    if (r != 0 && p.nerr == 0)  /* inih saw what our reader did not */
        cfg_err_add(&p, r > 0 ? r : 0, "syntax error");
    cfg_cross_check(&p);
    if (p.nerr > 0) {
        cfg_free(p.c);
        return NULL;
    }
    cfg_derive(p.c);
    return p.c;
}

/* cfg_acquire - one more reference */
struct cfg *
cfg_acquire(struct cfg *c)
{
    if (c)
        atomic_fetch_add(&c->refs, 1);
    return c;
}

/* cfg_release - drop a reference, freeing at zero */
void
cfg_release(struct cfg *c)
{
    if (c && atomic_fetch_sub(&c->refs, 1) == 1)
        cfg_free(c);
}

/* cfg_value_equal - the def's field is the same in a and b */
static int
cfg_value_equal(const struct cfg_def *d, const struct cfg *a,
                const struct cfg *b)
{
    const char *fa = (const char *)a + d->offset;
    const char *fb = (const char *)b + d->offset;

    switch (d->type) {
    case CFG_STRING:
        return strcmp(*(char *const *)fa, *(char *const *)fb) == 0;
    case CFG_LONG:
    case CFG_DURATION_MS:
    case CFG_OCTAL:
    case CFG_SIZE:
        return *(const long *)fa == *(const long *)fb;
    case CFG_DOUBLE:
        return *(const double *)fa == *(const double *)fb;
    case CFG_BOOL:
    case CFG_ENUM:
        return *(const int *)fa == *(const int *)fb;
    }
    return 0;
}

/* cfg_restart_keys - report changed keys that need a restart */
void
cfg_restart_keys(const struct cfg *old, const struct cfg *new,
                 cfg_key_fn *fn, void *arg)
{
    for (size_t i = 0; i < CFG_NDEFS; i++)
        if ((cfg_defs[i].flags & CFG_RESTART) &&
            !cfg_value_equal(&cfg_defs[i], old, new))
            fn(cfg_defs[i].section, cfg_defs[i].key, arg);
}

/* cfg_dump - every key as ini; the password too, since the output must
 * read back as the same configuration */
void
cfg_dump(const struct cfg *c, FILE *out)
{
    const char *section = "";
    char buf[64];

    fprintf(out, "# neural-milter: effective configuration from %s\n",
            c->path ? c->path : "(none)");
    for (size_t i = 0; i < CFG_NDEFS; i++) {
        const struct cfg_def *d = &cfg_defs[i];
        const char *f = (const char *)c + d->offset;

        if (strcmp(section, d->section) != 0) {
            section = d->section;
            fprintf(out, "\n[%s]\n", section);
        }
        /* "key=value" where the spaces would make the line longer than a
         * file may hold: the dump must always read back */
        if (d->type == CFG_STRING &&
            strlen(d->key) + 3 + strlen(*(char *const *)f) >= CFG_MAX_LINE)
            fprintf(out, "%s=", d->key);
        else
            fprintf(out, "%s = ", d->key);
        switch (d->type) {
        case CFG_STRING:
            fprintf(out, "%s\n", *(char *const *)f);
            break;
        case CFG_SIZE:
            cfg_fmt_size(*(const long *)f, buf, sizeof(buf));
            fprintf(out, "%s\n", buf);
            break;
        case CFG_LONG:
            fprintf(out, "%ld\n", *(const long *)f);
            break;
        case CFG_OCTAL:
            fprintf(out, "%03lo\n", *(const long *)f);
            break;
        case CFG_DURATION_MS:
            cfg_fmt_duration(*(const long *)f, buf, sizeof(buf));
            fprintf(out, "%s\n", buf);
            break;
        case CFG_DOUBLE:
            cfg_fmt_double(*(const double *)f, buf, sizeof(buf));
            fprintf(out, "%s\n", buf);
            break;
        case CFG_BOOL:
            fprintf(out, "%s\n", *(const int *)f ? "yes" : "no");
            break;
        case CFG_ENUM:
            fprintf(out, "%s\n", d->names[*(const int *)f]);
            break;
        }
    }
}

/* cfg_current_set - publish c, dropping the previous snapshot */
void
cfg_current_set(struct cfg *c)
{
    struct cfg *old;

    if (c == NULL)
        panic("cfg_current_set: NULL snapshot");
    pthread_mutex_lock(&cfg_current_lock);
    old = cfg_current_ptr;
    cfg_current_ptr = c;
    pthread_mutex_unlock(&cfg_current_lock);
    cfg_release(old);
}

/* cfg_current_get - a new reference to the current snapshot */
struct cfg *
cfg_current_get(void)
{
    struct cfg *c;

    pthread_mutex_lock(&cfg_current_lock);
    c = cfg_acquire(cfg_current_ptr);
    pthread_mutex_unlock(&cfg_current_lock);
    return c;
}

/* cfg_hidden_layers - layer sizes for ninputs inputs */
size_t
cfg_hidden_layers(const struct cfg *c, size_t ninputs, unsigned sizes[2])
{
    int n = cfg_layers_parse(c->hidden_layers, sizes);
    long v;

    if (n > 0)
        return (size_t)n;
    /* "auto" (a bad value cannot get past cfg_load) */
    v = lround(2.0 * sqrt((double)ninputs));
    if (v < CFG_AUTO_MIN)
        v = CFG_AUTO_MIN;
    if (v > CFG_AUTO_MAX)
        v = CFG_AUTO_MAX;
    sizes[0] = (unsigned)v;
    return 1;
}

/* cfg_is_spam_action - action is in spam_actions */
int
cfg_is_spam_action(const struct cfg *c, const char *action)
{
    return cfg_action_listed(c->spam_actions, action);
}

/* cfg_action_listed - action is in list (case and blanks ignored) */
int
cfg_action_listed(const char *list, const char *action)
{
    const char *s = list, *comma;
    size_t an = strlen(action), n;

    cfg_span_trim(&action, &an);
    if (an == 0)
        return 0;
    for (;;) {
        comma = strchr(s, ',');
        n = comma ? (size_t)(comma - s) : strlen(s);
        cfg_span_trim(&s, &n);
        if (n == an && strncasecmp(s, action, n) == 0)
            return 1;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}
