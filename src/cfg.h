/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * cfg - the ini file: one table of keys (cfg.c cfg_defs[]) with types,
 * defaults, limits and whether a SIGUSR1 reload may change them. Loading
 * gives an immutable, refcounted snapshot; the daemon keeps the current
 * one behind a mutex and swaps it on reload. Parsing never logs: errors
 * come back as "FILE:LINE: ..." lines in a caller's buffer.
 */
#ifndef NM_CFG_H
#define NM_CFG_H

#include <stddef.h>
#include <stdio.h>

/* Neurons in one hidden layer: the most [model] hidden_layers accepts and
 * the most the model decoder accepts (model.h derives its size limits
 * from it). */
#define CFG_LAYER_MAX 128

enum cfg_on_error { CFG_ON_ERROR_ACCEPT, CFG_ON_ERROR_TEMPFAIL };

/* Patterns in [model] ignore_symbols, and the bytes of one (a symbol name
 * is at most 128 bytes, hdr.h; a pattern may add an '!'). */
#define CFG_IGNORE_MAX 64
#define CFG_IGNORE_LEN 129

struct cfg_glob;                 /* one compiled ignore pattern (cfg.c) */

/* Upstream scores in [score] thresholds. */
#define CFG_THRESHOLDS_MAX 3

/*
 * struct cfg - one loaded configuration. Once cfg_load() returned it, no
 * field changes (so it is read without a lock by whoever holds a
 * reference); the struct is public because every module reads a few of
 * its many fields and accessors would add nothing but lines.
 * Enum fields hold the index of the value in the key's list of names:
 * upstream_format is an enum hdr_format, upstream_trust an enum hdr_trust,
 * log_level an enum log_level.
 */
struct cfg {
    /* [milter] */
    char *socket;          /* libmilter spelling: unix:/path, inet:port@host */
    char *user;            /* "" = do not change user */
    char *group;           /* "" = user's primary group */
    long umask;
    char *pidfile;         /* "" = none */
    int on_error;          /* enum cfg_on_error */
    int log_level;
    char *syslog_facility;
    int skip_authenticated; /* SMTP AUTH mail passes unjudged */
    char *skip_networks;   /* clients whose mail passes unjudged */

    /* [upstream] */
    int upstream_format;
    int upstream_trust;
    int require_queue_id;  /* Rspamd: learn only when X-Rspamd-Queue-Id
                              is this transaction's queue id */

    /* [header] */
    char *header_name;
    char *adjusted_name;   /* "" = off */

    /* [redis] */
    char *redis_servers;   /* host:port or /path/to.sock, comma-separated */
    char *redis_read_servers; /* "" = read from redis_servers */
    char *redis_username;  /* "" = AUTH password (the default user) */
    char *redis_password;  /* "" = no AUTH */
    long redis_db;
    char *redis_prefix;
    long redis_timeout_ms;         /* per command */
    long redis_connect_timeout_ms;
    long watch_interval_ms;
    char *redis_sentinels; /* "" = no Sentinel; else host:port list */
    char *redis_sentinel_master;   /* the name the sentinels monitor */
    char *redis_sentinel_password; /* "" = no AUTH to the sentinels */

    /* [score] */
    int score_enabled;     /* no: header and learning only, no network */
    double spam_weight;
    double ham_weight;
    char *thresholds;      /* upstream scores the site acts on (checked) */

    /* [model] */
    char *hidden_layers;   /* "auto", "N" or "N,M" (checked by cfg_load) */
    char *ignore_symbols;  /* names and globs, "!" exceptions (checked) */

    /* [train] */
    int train_enabled;
    int autolearn;
    long threshold;
    long max_iterations;
    long max_examples;
    long min_class;
    double spam_score;
    double ham_score;
    char *spam_actions;    /* comma-separated Rspamd actions */
    long spam_min_positive; /* ... with at least this many positive
                               symbols (where the header has scores) */
    char *junk_actions;    /* learned as spam too, with ... */
    long junk_min_positive; /* ... at least this many positive symbols */
    char *ham_actions;     /* "" = any action */
    long ham_min_negative; /* ham also with this many negative symbols;
                              0 = only by ham_score */
    double holdout;
    double target_fpr;
    long max_epochs;
    long check_interval_ms;  /* how often the trainer looks for new data */
    long lock_ttl_ms;        /* training lock expiry, renewed while held */
    double profile_change;   /* share of recent mail that means new rules */
    long profile_grace_ms;   /* old profile's model kept this long */
    long train_memory_limit; /* bytes a training process may map */
    long queue_size;         /* examples waiting for Redis in memory */

    /* [learn] */
    long max_reports_per_day; /* per reporter; 0 = reports refused */
    int replies;             /* a reply makes the message it names ham */
    char *local_networks;    /* clients whose mail is outbound */
    long replies_window_ms;  /* how long a scored message is kept */
    long replies_max;        /* at most this many kept */
    char *spamtrap_recipients; /* user@domain and @domain */

    /* [metrics] */
    char *metrics_listen;    /* "" = off; HOST:PORT of /metrics */

    /* private: reference count, guarded by atomics */
    _Atomic int refs;
    char *path;            /* file it came from */
    struct cfg_glob *ignore;  /* ignore_symbols compiled, nignore of them:
                                 the nmatch patterns first, then the "!"
                                 exceptions */
    size_t nignore;
    size_t nmatch;
    /* spam_actions, junk_actions and ham_actions as sets (cfg_derive()):
     * bit i for the i-th of cfg_action_bit()'s actions */
    unsigned spam_action_set;
    unsigned junk_action_set;
    unsigned ham_action_set;
};

/*
 * cfg_load - read and check path. Returns a snapshot with one reference,
 * or NULL with every problem found appended to err as "PATH:LINE: what"
 * lines (LINE 0 when the file itself is the problem). Any thread; no
 * logging.
 */
struct cfg *cfg_load(const char *path, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* cfg_defaults - a snapshot with every key at its default; never NULL. */
struct cfg *cfg_defaults(void);

/* cfg_acquire - one more reference; returns c. cfg_release - drop one,
 * freeing at zero; NULL is fine. Any thread. */
struct cfg *cfg_acquire(struct cfg *c);
void cfg_release(struct cfg *c);

/* cfg_restart_keys - call fn for each key whose value differs between
 * old and new and that a reload cannot apply (the caller logs them). */
typedef void cfg_key_fn(const char *section, const char *key, void *arg);
void cfg_restart_keys(const struct cfg *old, const struct cfg *new,
                      cfg_key_fn *fn, void *arg);

/* cfg_dump - write every key with its effective value, as ini. */
void cfg_dump(const struct cfg *c, FILE *out);

/*
 * The daemon's current snapshot. cfg_current_set() takes the caller's
 * reference (NULL is not allowed) and drops the previous one;
 * cfg_current_get() returns a new reference the caller releases. Any
 * thread; guarded by a mutex inside cfg.c.
 */
void cfg_current_set(struct cfg *c);
struct cfg *cfg_current_get(void);

/* cfg_hidden_layers - parse hidden_layers for ninputs inputs into sizes
 * (at most 2); "auto" gives one layer of about 2*sqrt(ninputs), at least
 * 8. Returns the number of layers. */
size_t cfg_hidden_layers(const struct cfg *c, size_t ninputs,
                         unsigned sizes[2]);

/* cfg_is_spam_action - 1 when action name is listed in spam_actions. */
int cfg_is_spam_action(const struct cfg *c, const char *action);

/* cfg_action_listed - 1 when action name is listed in list (a value of
 * spam_actions, junk_actions or ham_actions; case and blanks ignored). */
int cfg_action_listed(const char *list, const char *action);

/*
 * cfg_action_bit - the bit of an action name in the action sets: 1 << i
 * for the i-th of "no action", "greylist", "add header", "rewrite
 * subject", "soft reject" and "reject" (hdr's enum hdr_action order, from
 * HDR_ACTION_NO_ACTION); 0 for any other name. Case and blanks ignored.
 */
unsigned cfg_action_bit(const char *action);

/* cfg_derive - recompute what cfg_load() derives from the strings (the
 * compiled ignore_symbols, the action sets): for a snapshot whose strings
 * were changed by hand before it was shared (the tests). */
void cfg_derive(struct cfg *c);

/* cfg_thresholds - the numbers of [score] thresholds into out; returns
 * how many (0 .. CFG_THRESHOLDS_MAX). */
size_t cfg_thresholds(const struct cfg *c, double out[CFG_THRESHOLDS_MAX]);

/*
 * cfg_symbol_ignored - 1 when the symbol name matches a pattern of
 * [model] ignore_symbols and none of its "!" exceptions, else 0. Patterns
 * are names with '*' (any run) and '?' (one character); the order does
 * not matter. Any thread; no allocation.
 */
int cfg_symbol_ignored(const struct cfg *c, const char *name);
/* cfg_symbol_ignored_len - the same where the caller knows strlen(name) */
int cfg_symbol_ignored_len(const struct cfg *c, const char *name,
                           size_t nlen);

#endif /* NM_CFG_H */
