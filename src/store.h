/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store - everything neural-milter keeps in Redis, and the only module
 * that includes <hiredis/hiredis.h>. A struct store is a small pool of
 * connections (checked out under a mutex, one thread per context at a
 * time) to the write servers and, when configured, to read replicas.
 * Connecting is lazy, with backoff after a failure, so a store can be
 * made while Redis is down. Every call has the configured connect and
 * command timeouts. Any thread; logs failures through log_limited().
 *
 * Everything read from Redis is bounded before it is read (hiredis 0.14
 * has no reply limit of its own): fixed-size strings with GETRANGE,
 * blobs after HSTRLEN, lists a page at a time. Key schema under PREFIX
 * (default "nm"): doc/redis-keys.md. Publishing is one Lua script.
 */
#ifndef NM_STORE_H
#define NM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "feat.h"

#define STORE_MAX_SERVERS 8
#define STORE_MAX_PREFIX 64
#define STORE_MAX_VERSION_LEN 20  /* decimal digits of a model version */
#define STORE_PAGE 256            /* example records per read */
#define STORE_MAX_INSTANCES 64    /* heartbeats read by store_instances() */
#define STORE_MAX_INSTANCE_ID 80  /* bytes of an instance id */
#define STORE_MAX_BEAT 255        /* bytes of one heartbeat line */
#define STORE_MAX_LINE 1023       /* bytes of the outcome and lock lines */

/*
 * What a call found. Every caller switches over all of them; the ones a
 * function cannot return are named in its comment.
 */
enum store_status {
    STORE_OK,       /* found; taken; renewed; released; written */
    STORE_ABSENT,   /* nothing there: no model, no lock, no outcome */
    STORE_NOT_OURS, /* the lock is held by another owner, or no longer
                       ours: nothing written */
    STORE_CONFLICT, /* a guarded write found Redis changed under it:
                       nothing written */
    STORE_ERR,      /* unreachable, timed out, an error reply, or a value
                       refused (over its bound, malformed); logged */
};

/* store_status_name - "ok", "absent", ... for logs; never NULL. */
const char *store_status_name(enum store_status s);

/* Which servers a read goes to: the read replicas (when configured) or
 * the write servers (the primary), where training and publishing read so
 * that they never act on a replica that lags behind. */
enum store_via { STORE_VIA_READ, STORE_VIA_WRITE };

struct store_opts {
    const char *servers;      /* "host:port", "[v6]:port" or "/path.sock",
                                 comma-separated; the first that answers */
    const char *read_servers; /* NULL or "" = use servers */
    const char *username;     /* NULL or "" = AUTH password (default user);
                                 else AUTH username password (an ACL user) */
    const char *password;     /* NULL or "" = no AUTH */
    long db;
    const char *prefix;
    long timeout_ms;
    long connect_timeout_ms;
    /* Redis Sentinel: NULL or "" = none; else "host:port" or
     * "/path.sock", comma-separated, and then servers is not used: the
     * write servers are the primary the sentinels name, the read servers
     * (unless read_servers is set) its replicas, then the primary */
    const char *sentinels;
    const char *sentinel_master;   /* the monitored name */
    const char *sentinel_password; /* NULL or "" = no AUTH to them */
};

struct store;

/*
 * store_new - check and copy opts (nothing is borrowed past the call).
 * Does not connect. Returns NULL with the reason in err when a server
 * address or the prefix is malformed, a timeout is not positive or db is
 * negative. store_free(NULL) does nothing; no other thread may be using
 * st when it is freed.
 */
struct store *store_new(const struct store_opts *opts, char *err,
                        size_t errlen) __attribute__((warn_unused_result));
void store_free(struct store *st);

/* store_new_cfg - store_new() with the [redis] options of c
 * (store_cfg.c). */
struct store *store_new_cfg(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* store_new_cfg_prefix - the same under another prefix (the evaluation
 * works under a prefix of its own). */
struct store *store_new_cfg_prefix(const struct cfg *c, const char *prefix,
                                   char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* store_ping - 0 when a write server answers PING, else -1. */
int store_ping(struct store *st) __attribute__((warn_unused_result));

/*
 * store_describe - where the store's commands go, for the admin tool:
 * "servers 127.0.0.1:6379", or with Sentinel "primary 10.0.0.6:6379 of
 * NAME (Sentinel); reads: 10.0.0.5:6379, 10.0.0.6:6379" (asking the
 * sentinels first when due). Any thread; logs like any command.
 */
void store_describe(struct store *st, char *buf, size_t len);

/*
 * Models (store_model.c). Every value read is bounded before it is
 * read: the live pointer to FEAT_DIGEST_LEN characters, a version to
 * STORE_MAX_VERSION_LEN digits, a blob to the caller's maximum.
 */

/*
 * store_model_head - the live profile's digest (FEAT_DIGEST_LEN + 1
 * bytes) and its model version. STORE_OK, STORE_ABSENT (no live pointer,
 * or it names a model without a blob) or STORE_ERR.
 */
enum store_status store_model_head(struct store *st, enum store_via via,
                                   char *digest, uint64_t *version)
    __attribute__((warn_unused_result));

/*
 * store_model_get - the blob and version of profile digest; the blob is
 * refused (STORE_ERR, logged) when longer than max, before it is read.
 * *blob is malloc'd (caller frees). STORE_OK, STORE_ABSENT or STORE_ERR.
 */
enum store_status store_model_get(struct store *st, enum store_via via,
                                  const char *digest, size_t max,
                                  void **blob, size_t *len,
                                  uint64_t *version)
    __attribute__((warn_unused_result));

/* store_model_version - digest's version counter, which a delete keeps
 * (so a deleted model can be told from a Redis that lost everything).
 * STORE_OK, STORE_ABSENT or STORE_ERR. */
enum store_status store_model_version(struct store *st, enum store_via via,
                                      const char *digest,
                                      uint64_t *version)
    __attribute__((warn_unused_result));

/*
 * A publish that must not overwrite what it did not see: the training
 * lock must still belong to lock_token, and the live model must still be
 * live_digest.live_version (live_digest NULL: no model is live).
 */
struct store_guard {
    const char *lock_token;
    const char *live_digest;
    uint64_t live_version;
};

/*
 * store_model_publish - atomically store blob for digest, increment its
 * version and make digest the live profile; *version gets the new
 * version. With guard (not NULL) only while the guard holds:
 * STORE_NOT_OURS when the lock is lost, STORE_CONFLICT when the live
 * model changed; guard NULL (an admin's import) publishes regardless.
 * STORE_OK or STORE_ERR otherwise. Writes go to the primary.
 */
enum store_status store_model_publish(struct store *st, const char *digest,
                                      const void *blob, size_t len,
                                      const struct store_guard *guard,
                                      uint64_t *version)
    __attribute__((warn_unused_result));

/*
 * store_model_restore - put back the model an instance serves when Redis
 * lost it (restarted empty, failed over to a replica that lagged): blob
 * under digest at version, live, but only when no other profile is live
 * and Redis holds an older version of this one or none at all (an
 * admin's reset keeps the counter, so a reset model is not restored).
 * STORE_OK restored, STORE_CONFLICT when Redis holds a model it must
 * keep, STORE_ERR.
 */
enum store_status store_model_restore(struct store *st, const char *digest,
                                      const void *blob, size_t len,
                                      uint64_t version)
    __attribute__((warn_unused_result));

/* store_model_delete - drop profile digest's model (and the live pointer
 * when it names digest). Returns 0 or -1. */
int store_model_delete(struct store *st, const char *digest)
    __attribute__((warn_unused_result));

/* store_model_expire - expire profile digest's model after seconds (a
 * replaced profile's grace period; a new publish removes the expiry).
 * 0 or -1. */
int store_model_expire(struct store *st, const char *digest, long seconds)
    __attribute__((warn_unused_result));

/*
 * Training (store_train.c, see doc/redis-keys.md). Write servers only,
 * so a trainer never reads a replica that lags behind.
 */

/* store_example_push - store an encoded example in its class (an
 * explicit one, keyed by a hash of rec), trim both classes to
 * max_examples (oldest dropped) and count it as new, in one script.
 * Returns 0 or -1. */
int store_example_push(struct store *st, int spam, const void *rec,
                       size_t len, long max_examples)
    __attribute__((warn_unused_result));

/* One encoded example for store_example_push_batch(). */
struct store_example {
    int spam;
    const void *rec;
    size_t len;
    uint64_t key;        /* the message key; 0: a hash of rec */
    int explicit_;       /* not autolearn: an autolearned example never
                            replaces an explicit one of the same key */
};

/* store_example_push_batch - n (1 .. STORE_BATCH_MAX) examples in one
 * script, in order: each replaces the stored example of its key (which
 * leaves its class), unless it is autolearned and that one is explicit;
 * then both classes are trimmed to max_examples. 0 or -1 (none stored,
 * or, like any write whose reply was lost, perhaps all). */
#define STORE_BATCH_MAX 256
int store_example_push_batch(struct store *st, const struct store_example *ex,
                             size_t n, long max_examples)
    __attribute__((warn_unused_result));

/* store_example_counts - examples per class and new since the last
 * training. Returns 0 or -1. */
int store_example_counts(struct store *st, long *nspam, long *nham,
                         long *nnew) __attribute__((warn_unused_result));

struct store_blob {
    void *data;
    size_t len;
};

/*
 * store_examples_fetch - up to max records of one class, oldest first,
 * read STORE_PAGE at a time; a record longer than max_len is skipped
 * (counted in *refused; it never leaves Redis). *out is freed with
 * store_blobs_free(). Returns 0 or -1.
 */
int store_examples_fetch(struct store *st, int spam, size_t max,
                         size_t max_len, struct store_blob **out, size_t *n,
                         size_t *refused) __attribute__((warn_unused_result));
void store_blobs_free(struct store_blob *b, size_t n);

/* store_new_consume - subtract n from the new-example counter (not
 * below 0). Returns 0 or -1. */
int store_new_consume(struct store *st, long n)
    __attribute__((warn_unused_result));

/* store_examples_delete - drop both lists and the counter. 0 or -1. */
int store_examples_delete(struct store *st)
    __attribute__((warn_unused_result));

/* store_lock_acquire - the training lock for token, expiring after
 * ttl_ms: STORE_OK taken, STORE_NOT_OURS held by someone (us included:
 * it is not reentrant), STORE_ERR. */
enum store_status store_lock_acquire(struct store *st, const char *token,
                                     long ttl_ms)
    __attribute__((warn_unused_result));
/* store_lock_renew - extend it if token still owns it: STORE_OK,
 * STORE_NOT_OURS (lost), STORE_ERR. */
enum store_status store_lock_renew(struct store *st, const char *token,
                                   long ttl_ms)
    __attribute__((warn_unused_result));
/* store_lock_release - delete it if token owns it: STORE_OK,
 * STORE_NOT_OURS, STORE_ERR. */
enum store_status store_lock_release(struct store *st, const char *token);
/* store_lock_owner - the holder's token (at most STORE_MAX_LINE bytes)
 * into buf and the ms left: STORE_OK held, STORE_ABSENT free, STORE_ERR. */
enum store_status store_lock_owner(struct store *st, char *buf, size_t len,
                                   long *ttl_ms);

/* store_train_outcome_set/get - one line (at most STORE_MAX_LINE bytes)
 * about the last training; get: STORE_OK, STORE_ABSENT, STORE_ERR. */
int store_train_outcome_set(struct store *st, const char *line)
    __attribute__((warn_unused_result));
enum store_status store_train_outcome_get(struct store *st, char *buf,
                                          size_t len);

/*
 * Label sources (store_learn.c, doc/redis-keys.md): messages kept for
 * replies, and the reports users' verdicts arrive as. Write servers.
 */

/* One message kept for a reply to name: its key and its record (a ham
 * example of source reply, compressed). */
struct store_reply {
    uint64_t key;
    const void *rec;
    size_t len;
};

/*
 * store_replies_keep - keep n (1 .. STORE_BATCH_MAX) messages for
 * window_s seconds, at most max in all (the oldest make room); expired
 * ones are dropped on the way. 0 or -1.
 */
int store_replies_keep(struct store *st, const struct store_reply *r,
                       size_t n, long window_s, long max)
    __attribute__((warn_unused_result));

/*
 * store_replies_hit - a reply named these n keys (at most
 * STORE_BATCH_MAX): each one kept and not expired becomes a ham example
 * (replacing the stored example of its key, as a push does) and is no
 * longer kept; *learned gets how many. 0 or -1.
 */
int store_replies_hit(struct store *st, const uint64_t *keys, size_t n,
                      long max_examples, long *learned)
    __attribute__((warn_unused_result));

/* store_replies_count - messages kept now (expired ones included until
 * a keep drops them). 0 or -1. */
int store_replies_count(struct store *st, long *n)
    __attribute__((warn_unused_result));

/*
 * store_reports_take - remove up to max reports from the head of the
 * reports list and return them; one longer than max_len is removed but
 * not returned (counted in *refused). *out is freed with
 * store_blobs_free(). 0 or -1.
 */
int store_reports_take(struct store *st, size_t max, size_t max_len,
                       struct store_blob **out, size_t *n, size_t *refused)
    __attribute__((warn_unused_result));

/* store_reports_waiting - reports in the list now. 0 or -1. */
int store_reports_waiting(struct store *st, long *n)
    __attribute__((warn_unused_result));

/*
 * store_report_charge - count one report of reporter (at most
 * LEARN_MAX_REPORTER bytes) against its cap for day (YYYYMMDD, UTC):
 * STORE_OK counted, STORE_CONFLICT when the day's cap was reached
 * already (nothing counted), STORE_ERR.
 */
enum store_status store_report_charge(struct store *st, const char *reporter,
                                      const char *day, long cap)
    __attribute__((warn_unused_result));

/* The counters of what the trainer made of reports. */
#define STORE_REPORT_NSTATS 8
extern const char *const store_report_stat_names[STORE_REPORT_NSTATS];

/* store_report_stats_add - add counts[i] to counter i (a zero is not
 * sent). store_report_stats_get - read them all. 0 or -1. */
int store_report_stats_add(struct store *st,
                           const long counts[STORE_REPORT_NSTATS])
    __attribute__((warn_unused_result));
int store_report_stats_get(struct store *st, long counts[STORE_REPORT_NSTATS])
    __attribute__((warn_unused_result));

/*
 * Instances (store_instance.c): each daemon writes a heartbeat, a line
 * of at most STORE_MAX_BEAT bytes under its id, expiring after ttl_ms,
 * so that the trainers and the admin tool know which models are served.
 * Write servers.
 */
struct store_instance {
    char id[STORE_MAX_INSTANCE_ID + 1];
    char line[STORE_MAX_BEAT + 1];
    int64_t seen;             /* unix time of the last heartbeat */
};

/* store_instance_beat - write id's heartbeat (id: 1 ..
 * STORE_MAX_INSTANCE_ID bytes of [A-Za-z0-9_.:-]). 0 or -1. */
int store_instance_beat(struct store *st, const char *id, const char *line,
                        long ttl_ms) __attribute__((warn_unused_result));
/* store_instance_gone - drop id's heartbeat (at an orderly stop). */
int store_instance_gone(struct store *st, const char *id);
/* store_instances - up to max (<= STORE_MAX_INSTANCES) live heartbeats,
 * most recent first, into out; *n gets the count. 0 or -1. */
int store_instances(struct store *st, struct store_instance *out, size_t max,
                    size_t *n) __attribute__((warn_unused_result));

/*
 * store_format - the RESP of a command of argc arguments (argv[i] of
 * argvlen[i] bytes; argvlen NULL: strlen of each), byte for byte what
 * hiredis's redisFormatCommandArgv() writes, into one malloc'd buffer
 * (caller frees) of *len bytes; NULL when argc < 1 or the size would not
 * fit a size_t. Pure, any thread; store_cmd() sends every command so
 * (exposed for its unit test).
 */
char *store_format(int argc, const char **argv, const size_t *argvlen,
                   size_t *len) __attribute__((warn_unused_result));

#endif /* NM_STORE_H */
