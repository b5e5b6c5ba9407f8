/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_model - the model keys: the live profile pointer, one hash per
 * profile (blob, version, published), publish, delete, expire. Any
 * thread, through store_run(); see doc/redis-keys.md.
 */
#include "config.h"
#include "store_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "xmalloc.h"

/*
 * Publishing in one script, so a reader never sees the new blob with the
 * old version or a current pointer without its hash. Redis does not roll
 * a failed script back, so the commands that can fail (HINCRBY on a
 * broken hash) come before the first write. KEYS: the model hash, the
 * current pointer; ARGV: blob, unix time, digest.
 */
static const char store_lua_publish[] =
    "local v = redis.call('HINCRBY', KEYS[1], 'version', 1)\n"
    "redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'published', ARGV[2])\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "redis.call('SET', KEYS[2], ARGV[3])\n"
    "return v\n";

/* KEYS: the model hash, the current pointer; ARGV: digest. The GET
 * (which can fail) before the first write, as above. The version field
 * stays, so a model published again for this profile gets a higher
 * version and every instance notices it. */
static const char store_lua_delete[] =
    "local cur = redis.call('GET', KEYS[2])\n"
    "local n = redis.call('HDEL', KEYS[1], 'blob', 'published')\n"
    "if cur == ARGV[1] then\n"
    "    redis.call('DEL', KEYS[2])\n"
    "end\n"
    "return n\n";


/* store_digest_ok - FEAT_DIGEST_LEN lowercase hex characters */
static int
store_digest_ok(const char *s, size_t len)
{
    if (len != FEAT_DIGEST_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}


/* store_key_model - "PREFIX:model:DIGEST" */
static void
store_key_model(const struct store *st, const char *digest, char *buf,
                size_t len)
{
    snprintf(buf, len, "%s:model:%s", st->prefix, digest);
}

/* store_key_current - "PREFIX:current" */
static void
store_key_current(const struct store *st, char *buf, size_t len)
{
    snprintf(buf, len, "%s:current", st->prefix);
}

/* store_reply_version - a version from a bulk string, 1..LONG_MAX */
static int
store_reply_version(const redisReply *r, uint64_t *version)
{
    long v;

    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 20 ||
        strlen(r->str) != r->len || util_parse_long(r->str, 1, LONG_MAX,
                                                     &v) != 0)
        return -1;
    *version = (uint64_t)v;
    return 0;
}

struct store_head_arg {
    char *digest;
    uint64_t *version;
};

/* store_op_head - GET current, then HGET its hash's version */
static int
store_op_head(struct store_call *call, void *arg)
{
    struct store_head_arg *a = arg;
    char cur[STORE_KEY_MAX], key[STORE_KEY_MAX], digest[FEAT_DIGEST_LEN + 1];
    const char *get[] = { "GET", cur };
    const char *hget[] = { "HGET", key, "version" };
    redisReply *r;
    uint64_t v;

    store_key_current(call->st, cur, sizeof(cur));
    if ((r = store_cmd(call, "GET", cur, 2, get, NULL)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING || !store_digest_ok(r->str, r->len)) {
        freeReplyObject(r);
        return store_fail(call, "not a digest of %d lowercase hex digits",
                          FEAT_DIGEST_LEN);
    }
    memcpy(digest, r->str, FEAT_DIGEST_LEN);
    digest[FEAT_DIGEST_LEN] = '\0';
    freeReplyObject(r);

    store_key_model(call->st, digest, key, sizeof(key));
    if ((r = store_cmd(call, "HGET", key, 3, hget, NULL)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL) {
        /* A pointer left behind by a deleted model: no model. */
        freeReplyObject(r);
        return 0;
    }
    if (store_reply_version(r, &v) != 0) {
        freeReplyObject(r);
        return store_fail(call, "version is not a positive integer");
    }
    freeReplyObject(r);
    memcpy(a->digest, digest, FEAT_DIGEST_LEN + 1);
    *a->version = v;
    return 1;
}

/* store_model_head - the live digest and its version */
int
store_model_head(struct store *st, char *digest, uint64_t *version)
{
    struct store_head_arg a = { digest, version };

    return store_run(st, st->rd, store_op_head, &a, 1);
}

struct store_get_arg {
    const char *digest;
    void **blob;
    size_t *len;
    uint64_t *version;
};

/* store_op_get - HMGET blob version in one command */
static int
store_op_get(struct store_call *call, void *arg)
{
    struct store_get_arg *a = arg;
    char key[STORE_KEY_MAX];
    const char *argv[] = { "HMGET", key, "blob", "version" };
    redisReply *r, *blob, *ver;
    uint64_t v;
    void *copy;

    store_key_model(call->st, a->digest, key, sizeof(key));
    /*
     * XXX: hiredis 0.14 has no limit on bulk length, so an oversized
     * blob is read whole before we can reject it; Redis is trusted
     * and its proto-max-bulk-len bounds it.
     */
    if ((r = store_cmd(call, "HMGET", key, 4, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    blob = r->element[0];
    ver = r->element[1];
    /* No blob: never published, or deleted (the version stays). */
    if (blob->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (blob->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return store_fail(call, "model hash without a blob");
    }
    if (blob->len > STORE_MAX_BLOB) {
        size_t n = blob->len;

        freeReplyObject(r);
        return store_fail(call, "blob of %zu bytes is over the limit of %u",
                          n, STORE_MAX_BLOB);
    }
    if (store_reply_version(ver, &v) != 0) {
        freeReplyObject(r);
        return store_fail(call, "version is not a positive integer");
    }
    copy = xmalloc(blob->len > 0 ? blob->len : 1);
    memcpy(copy, blob->str, blob->len);
    *a->len = blob->len;
    *a->blob = copy;
    *a->version = v;
    freeReplyObject(r);
    return 1;
}

/* store_model_get - the blob and version of digest */
int
store_model_get(struct store *st, const char *digest, void **blob,
                size_t *len, uint64_t *version)
{
    struct store_get_arg a = { digest, blob, len, version };

    *blob = NULL;
    *len = 0;
    if (digest == NULL || !store_digest_ok(digest, strlen(digest))) {
        log_limited(&st->lim_command, "store: HMGET: bad digest");
        return -1;
    }
    return store_run(st, st->rd, store_op_get, &a, 1);
}

struct store_publish_arg {
    const char *digest;
    const void *blob;
    size_t len;
    uint64_t *version;
};

/* store_op_publish - the publish script */
static int
store_op_publish(struct store_call *call, void *arg)
{
    struct store_publish_arg *a = arg;
    char key[STORE_KEY_MAX], cur[STORE_KEY_MAX], now[24];
    const char *argv[] = { "EVAL", store_lua_publish, "2", key, cur,
                           a->blob, now, a->digest };
    size_t lens[8];
    redisReply *r;

    store_key_model(call->st, a->digest, key, sizeof(key));
    store_key_current(call->st, cur, sizeof(cur));
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    for (size_t i = 0; i < 8; i++)
        lens[i] = i == 5 ? a->len : strlen(argv[i]);
    if ((r = store_cmd(call, "EVAL publish", key, 8, argv, lens)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    *a->version = (uint64_t)r->integer;
    freeReplyObject(r);
    return 0;
}

/* store_model_publish - store blob and make digest live, atomically */
int
store_model_publish(struct store *st, const char *digest, const void *blob,
                    size_t len, uint64_t *version)
{
    struct store_publish_arg a = { digest, blob, len, version };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest))) {
        log_limited(&st->lim_command, "store: EVAL publish: bad digest");
        return -1;
    }
    if (len > STORE_MAX_BLOB) {
        log_limited(&st->lim_command, "store: EVAL publish: blob of %zu "
                    "bytes is over the limit of %u", len, STORE_MAX_BLOB);
        return -1;
    }
    /* Not idempotent: a retry could count a version twice. */
    return store_run(st, &st->role[0], store_op_publish, &a, 0);
}

struct store_delete_arg {
    const char *digest;
};

/* store_op_delete - the delete script */
static int
store_op_delete(struct store_call *call, void *arg)
{
    const struct store_delete_arg *a = arg;
    const char *digest = a->digest;
    char key[STORE_KEY_MAX], cur[STORE_KEY_MAX];
    const char *argv[] = { "EVAL", store_lua_delete, "2", key, cur, digest };
    redisReply *r;

    store_key_model(call->st, digest, key, sizeof(key));
    store_key_current(call->st, cur, sizeof(cur));
    if ((r = store_cmd(call, "EVAL delete", key, 6, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    freeReplyObject(r);
    return 0;
}

/* store_model_delete - drop digest's model and, if live, the pointer */
int
store_model_delete(struct store *st, const char *digest)
{
    struct store_delete_arg a = { digest };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest))) {
        log_limited(&st->lim_command, "store: EVAL delete: bad digest");
        return -1;
    }
    return store_run(st, &st->role[0], store_op_delete, &a, 1);
}


/* store_model_expire - let an old profile's model go after seconds */
int
store_model_expire(struct store *st, const char *digest, long seconds)
{
    char key[STORE_KEY_MAX], sec[24];
    struct store_simple_arg a = { "EXPIRE", 3, { "EXPIRE", key, sec }, NULL };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest)))
        return -1;
    store_key_model(st, digest, key, sizeof(key));
    snprintf(sec, sizeof(sec), "%ld", seconds > 0 ? seconds : 1);
    if (store_run(st, &st->role[0], store_op_simple, &a, 1) < 0)
        return -1;
    freeReplyObject(a.reply);
    return 0;
}

struct store_version_arg {
    const char *digest;
    uint64_t *version;
};

/* store_op_version - HGET the version field alone */
static int
store_op_version(struct store_call *call, void *arg)
{
    struct store_version_arg *a = arg;
    char key[STORE_KEY_MAX];
    const char *argv[] = { "HGET", key, "version" };
    redisReply *r;
    int found;

    store_key_model(call->st, a->digest, key, sizeof(key));
    if ((r = store_cmd(call, "HGET", key, 3, argv, NULL)) == NULL)
        return -1;
    found = r->type != REDIS_REPLY_NIL &&
            store_reply_version(r, a->version) == 0;
    freeReplyObject(r);
    return found;
}

/* store_model_version - the version counter of digest, blob or not */
int
store_model_version(struct store *st, const char *digest, uint64_t *version)
{
    struct store_version_arg a = { digest, version };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest)))
        return -1;
    return store_run(st, st->rd, store_op_version, &a, 1);
}
