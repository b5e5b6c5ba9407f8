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
 * Key schema under PREFIX (default "nm"), see doc/redis-keys.md:
 *   PREFIX:current          string  digest of the live profile
 *   PREFIX:model:DIGEST     hash    blob (zstd model), version (integer),
 *                                   published (unix time); no expiry
 * Publishing is one Lua script: HSET blob + HINCRBY version + SET current.
 */
#ifndef NM_STORE_H
#define NM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "feat.h"

#define STORE_MAX_SERVERS 8
#define STORE_MAX_PREFIX 64
#define STORE_MAX_BLOB (5u << 20) /* blob bytes; keep = MODEL_MAX_BLOB */

struct store_opts {
    const char *servers;      /* "host:port", "[v6]:port" or "/path.sock",
                                 comma-separated; the first that answers */
    const char *read_servers; /* NULL or "" = use servers */
    const char *password;     /* NULL or "" = no AUTH */
    long db;
    const char *prefix;
    long timeout_ms;
    long connect_timeout_ms;
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

/*
 * store_model_head - the live profile's digest (FEAT_DIGEST_LEN + 1
 * bytes) and its model version, from a read server. Returns 1 when found,
 * 0 when no model was ever published, -1 on error.
 */
int store_model_head(struct store *st, char *digest, uint64_t *version)
    __attribute__((warn_unused_result));

/*
 * store_model_get - the blob and version of profile digest, read in one
 * command so they belong together. *blob is malloc'd (caller frees).
 * Returns 1, 0 when absent, -1 on error or a blob over STORE_MAX_BLOB.
 */
int store_model_get(struct store *st, const char *digest, void **blob,
                    size_t *len, uint64_t *version)
    __attribute__((warn_unused_result));

/*
 * store_model_publish - atomically store blob for digest, increment its
 * version and make digest the live profile. *version gets the new
 * version. Writes go to the primary. Returns 0 or -1.
 */
int store_model_publish(struct store *st, const char *digest,
                        const void *blob, size_t len, uint64_t *version)
    __attribute__((warn_unused_result));

/* store_model_delete - drop profile digest's model (and the live pointer
 * when it names digest). Returns 0 or -1. */
int store_model_delete(struct store *st, const char *digest)
    __attribute__((warn_unused_result));

/* store_new_cfg - store_new() with the [redis] options of c
 * (store_cfg.c). */
struct store *store_new_cfg(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* store_new_cfg_prefix - the same under another prefix (the evaluation
 * works under a prefix of its own). */
struct store *store_new_cfg_prefix(const struct cfg *c, const char *prefix,
                                   char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* store_model_version - digest's version counter, which a delete keeps
 * (so a deleted model can be told from a Redis that lost everything).
 * Returns 1 found, 0 absent, -1. */
int store_model_version(struct store *st, const char *digest,
                        uint64_t *version) __attribute__((warn_unused_result));

/* store_ping - 0 when a write server answers PING, else -1. */
int store_ping(struct store *st) __attribute__((warn_unused_result));

/*
 * Training (see doc/redis-keys.md). Write servers only, so a trainer never
 * reads a replica that lags behind. All return -1 on a Redis error.
 */

/* store_example_push - LPUSH an encoded example to its class list, trim
 * the list to max_examples (oldest dropped) and count it as new, in one
 * script. Returns 0 or -1. */
int store_example_push(struct store *st, int spam, const void *rec,
                       size_t len, long max_examples)
    __attribute__((warn_unused_result));

/* One encoded example for store_example_push_batch(). */
struct store_example {
    int spam;
    const void *rec;
    size_t len;
};

/* store_example_push_batch - store_example_push() for n (1 ..
 * STORE_BATCH_MAX) examples in one script, in order. 0 or -1 (none
 * stored, or, like any write whose reply was lost, perhaps all). */
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

/* store_examples_fetch - every record of one class, newest first; *out
 * is freed with store_blobs_free(). Returns 0 or -1. */
int store_examples_fetch(struct store *st, int spam, struct store_blob **out,
                         size_t *n) __attribute__((warn_unused_result));
void store_blobs_free(struct store_blob *b, size_t n);

/* store_new_consume - subtract n from the new-example counter (not
 * below 0). Returns 0 or -1. */
int store_new_consume(struct store *st, long n)
    __attribute__((warn_unused_result));

/* store_examples_delete - drop both lists and the counter. 0 or -1. */
int store_examples_delete(struct store *st)
    __attribute__((warn_unused_result));

/* store_lock_acquire - the training lock for token, expiring after
 * ttl_ms. Returns 1 when taken, 0 when someone holds it, -1. */
int store_lock_acquire(struct store *st, const char *token, long ttl_ms)
    __attribute__((warn_unused_result));
/* store_lock_renew - extend it if token still owns it: 1, 0 lost, -1. */
int store_lock_renew(struct store *st, const char *token, long ttl_ms)
    __attribute__((warn_unused_result));
/* store_lock_release - delete it if token owns it: 1, 0 not ours, -1. */
int store_lock_release(struct store *st, const char *token);
/* store_lock_owner - the holder's token into buf and the ms left:
 * 1 held, 0 free, -1. */
int store_lock_owner(struct store *st, char *buf, size_t len, long *ttl_ms);

/* store_train_outcome_set/get - one line about the last training;
 * get returns 1 found, 0 none, -1. */
int store_train_outcome_set(struct store *st, const char *line)
    __attribute__((warn_unused_result));
int store_train_outcome_get(struct store *st, char *buf, size_t len);

/* store_model_expire - expire profile digest's model after seconds (a
 * replaced profile's grace period; a new publish removes the expiry). */
int store_model_expire(struct store *st, const char *digest, long seconds)
    __attribute__((warn_unused_result));

#endif /* NM_STORE_H */
