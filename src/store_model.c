/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_model - the model keys: the live profile pointer, one hash per
 * profile (blob, version, published); reading them bounded, publishing
 * (guarded by the training lock and the live model the trainer saw),
 * restoring a model Redis lost, delete, expire. Any thread, through
 * store_run(); see doc/redis-keys.md.
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
 * broken hash) come before the first write. With a guard (ARGV[4] not
 * empty) nothing is written unless the lock is still ARGV[4]'s (-1
 * otherwise) and the live model is still the one the trainer compared
 * with: KEYS[4]'s hash at version ARGV[5] with a blob, or no live pointer
 * when ARGV[5] is "" (-2 otherwise). KEYS: the model hash, the current
 * pointer, the lock, the live model's hash; ARGV: blob, unix time,
 * digest, token, live version, live digest.
 */
static const char store_lua_publish[] =
    "if ARGV[4] ~= '' then\n"
    "    if redis.call('GET', KEYS[3]) ~= ARGV[4] then return -1 end\n"
    "    local cur = redis.call('GET', KEYS[2])\n"
    "    if ARGV[5] == '' then\n"
    "        if cur then return -2 end\n"
    "    else\n"
    "        local h = redis.call('HMGET', KEYS[4], 'version', 'blob')\n"
    "        if cur ~= ARGV[6] or h[1] ~= ARGV[5] or not h[2] then\n"
    "            return -2\n"
    "        end\n"
    "    end\n"
    "end\n"
    "local v = redis.call('HINCRBY', KEYS[1], 'version', 1)\n"
    "redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'published', ARGV[2])\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "redis.call('SET', KEYS[2], ARGV[3])\n"
    "return v\n";

/*
 * Restoring the model an instance serves: only when no other profile is
 * live and Redis holds an older version of this one, or none (0 when it
 * holds what it must keep). A reset keeps the version counter with no
 * live pointer: a counter at or above ours then means an admin dropped
 * the model on purpose. KEYS: the model hash, the current pointer; ARGV:
 * blob, unix time, digest, version.
 */
static const char store_lua_restore[] =
    "local cur = redis.call('GET', KEYS[2])\n"
    "if cur and cur ~= ARGV[3] then return 0 end\n"
    "local h = redis.call('HMGET', KEYS[1], 'version', 'blob')\n"
    "local have = tonumber(h[1]) or 0\n"
    "local want = tonumber(ARGV[4])\n"
    "if have >= want and (h[2] or not cur) then return 0 end\n"
    "redis.call('HSET', KEYS[1], 'blob', ARGV[1], 'published', ARGV[2],\n"
    "           'version', ARGV[4])\n"
    "redis.call('PERSIST', KEYS[1])\n"
    "redis.call('SET', KEYS[2], ARGV[3])\n"
    "return 1\n";

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

    if (r->type != REDIS_REPLY_STRING || r->len == 0 ||
        r->len > STORE_MAX_VERSION_LEN || strlen(r->str) != r->len ||
        util_parse_long(r->str, 1, LONG_MAX, &v) != 0)
        return -1;
    *version = (uint64_t)v;
    return 0;
}

/*
 * store_field_len - HSTRLEN key field into *len (0 when the field or the
 * key is missing): how much a read of it would bring, asked before the
 * read. 0 or -1 (an op's failure).
 */
static int
store_field_len(struct store_call *call, const char *key, const char *field,
                size_t *len)
{
    const char *argv[] = { "HSTRLEN", key, field };
    redisReply *r;
    long n;

    if ((r = store_cmd(call, "HSTRLEN", key, 3, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    n = (long)r->integer;
    freeReplyObject(r);
    *len = (size_t)n;
    return 0;
}

/*
 * store_op_version_of - the version field of key, bounded: STORE_OK,
 * STORE_ABSENT, or -1 (an op's failure). Shared by head and version.
 */
static int
store_op_version_of(struct store_call *call, const char *key,
                    uint64_t *version)
{
    const char *argv[] = { "HGET", key, "version" };
    redisReply *r;
    size_t n;

    if (store_field_len(call, key, "version", &n) != 0)
        return -1;
    if (n == 0)
        return STORE_ABSENT;
    if (n > STORE_MAX_VERSION_LEN)
        return store_fail(call, "version of %zu bytes is not a number", n);
    if ((r = store_cmd(call, "HGET", key, 3, argv, NULL)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return STORE_ABSENT;
    }
    if (store_reply_version(r, version) != 0) {
        freeReplyObject(r);
        return store_fail(call, "version is not a positive integer");
    }
    freeReplyObject(r);
    return STORE_OK;
}

struct store_head_arg {
    char *digest;
    uint64_t *version;
};

/* store_op_head - GETRANGE current, then the version of its hash, when
 * that hash still holds a blob */
static int
store_op_head(struct store_call *call, void *arg)
{
    struct store_head_arg *a = arg;
    char cur[STORE_KEY_MAX], key[STORE_KEY_MAX], digest[FEAT_DIGEST_LEN + 1];
    const char *get[] = { "GETRANGE", cur, "0", "63" };
    const char *hexists[] = { "HEXISTS", key, "blob" };
    redisReply *r;
    int rc, has_blob;

    store_key_current(call->st, cur, sizeof(cur));
    if ((r = store_cmd(call, "GETRANGE", cur, 4, get, NULL)) == NULL)
        return -1;
    /* A missing key reads as "", like an empty one. */
    if (r->type == REDIS_REPLY_STRING && r->len == 0) {
        freeReplyObject(r);
        return STORE_ABSENT;
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
    if ((r = store_cmd(call, "HEXISTS", key, 3, hexists, NULL)) == NULL)
        return -1;
    has_blob = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    freeReplyObject(r);
    if (!has_blob)
        return STORE_ABSENT; /* a pointer left behind by a deleted model */
    if ((rc = store_op_version_of(call, key, a->version)) != STORE_OK)
        return rc == STORE_ABSENT
                   ? store_fail(call, "model hash without a version")
                   : rc;
    memcpy(a->digest, digest, FEAT_DIGEST_LEN + 1);
    return STORE_OK;
}

/* store_result - an op's result as a status: -1 is STORE_ERR */
static enum store_status
store_result(int rc)
{
    return rc < 0 ? STORE_ERR : (enum store_status)rc;
}

/* store_model_head - the live digest and its version */
enum store_status
store_model_head(struct store *st, enum store_via via, char *digest,
                 uint64_t *version)
{
    struct store_head_arg a = { digest, version };

    return store_result(store_run(st, store_via_role(st, via), store_op_head,
                                  &a, 1));
}

struct store_get_arg {
    const char *digest;
    size_t max;
    void **blob;
    size_t *len;
    uint64_t *version;
};

/* store_op_get - the blob's length first, then HMGET blob version in one
 * command so they belong together */
static int
store_op_get(struct store_call *call, void *arg)
{
    struct store_get_arg *a = arg;
    char key[STORE_KEY_MAX];
    const char *argv[] = { "HMGET", key, "blob", "version" };
    redisReply *r, *blob, *ver;
    size_t blen, vlen;
    uint64_t v;
    void *copy;

    store_key_model(call->st, a->digest, key, sizeof(key));
    /*
     * XXX: hiredis 0.14 reads a bulk string whole, whatever its length:
     * ask the lengths first. A blob replaced by a longer one between the
     * two commands would still be read; only a writer to this Redis can
     * do that, and the bound then is Redis's proto-max-bulk-len.
     */
    if (store_field_len(call, key, "blob", &blen) != 0 ||
        store_field_len(call, key, "version", &vlen) != 0)
        return -1;
    if (blen > a->max)
        return store_fail(call, "blob of %zu bytes is over the limit of %zu",
                          blen, a->max);
    if (vlen > STORE_MAX_VERSION_LEN)
        return store_fail(call, "version of %zu bytes is not a number", vlen);
    if ((r = store_cmd(call, "HMGET", key, 4, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    blob = r->element[0];
    ver = r->element[1];
    if (blob->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return STORE_ABSENT;
    }
    if (blob->type != REDIS_REPLY_STRING || blob->len > a->max) {
        freeReplyObject(r);
        return store_fail(call, "model hash without a blob in bounds");
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
    return STORE_OK;
}

/* store_model_get - the blob and version of digest */
enum store_status
store_model_get(struct store *st, enum store_via via, const char *digest,
                size_t max, void **blob, size_t *len, uint64_t *version)
{
    struct store_get_arg a = { digest, max, blob, len, version };

    *blob = NULL;
    *len = 0;
    if (digest == NULL || !store_digest_ok(digest, strlen(digest))) {
        log_limited(&st->lim_command, "store: HMGET: bad digest");
        return STORE_ERR;
    }
    return store_result(store_run(st, store_via_role(st, via), store_op_get,
                                  &a, 1));
}

struct store_version_arg {
    const char *digest;
    uint64_t *version;
};

/* store_op_version - the version field alone */
static int
store_op_version(struct store_call *call, void *arg)
{
    struct store_version_arg *a = arg;
    char key[STORE_KEY_MAX];

    store_key_model(call->st, a->digest, key, sizeof(key));
    return store_op_version_of(call, key, a->version);
}

/* store_model_version - the version counter of digest, blob or not */
enum store_status
store_model_version(struct store *st, enum store_via via, const char *digest,
                    uint64_t *version)
{
    struct store_version_arg a = { digest, version };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest)))
        return STORE_ERR;
    return store_result(store_run(st, store_via_role(st, via),
                                  store_op_version, &a, 1));
}

struct store_publish_arg {
    const char *script;       /* publish or restore */
    const char *label;
    const char *digest;
    const void *blob;
    size_t len;
    const char *token;        /* "" = no guard */
    const char *live_digest;  /* guard: the live model's digest, or NULL */
    char live_version[24];    /* guard: its version, "" = none live */
    char version_arg[24];     /* restore: the version to store */
    long long result;
};

/* store_op_script - the publish or the restore script */
static int
store_op_script(struct store_call *call, void *arg)
{
    struct store_publish_arg *a = arg;
    char key[STORE_KEY_MAX], cur[STORE_KEY_MAX], lock[STORE_KEY_MAX];
    char live[STORE_KEY_MAX], now[24];
    int publish = a->script == store_lua_publish;
    const char *argv[] = { "EVAL", a->script, "4", key, cur, lock, live,
                           a->blob, now, a->digest, a->token,
                           a->live_version,
                           a->live_digest ? a->live_digest : "" };
    const char *rargv[] = { "EVAL", a->script, "2", key, cur, a->blob, now,
                            a->digest, a->version_arg };
    const char **av = publish ? argv : rargv;
    size_t lens[13], ac = publish ? 13 : 9;
    redisReply *r;

    store_key_model(call->st, a->digest, key, sizeof(key));
    store_key_current(call->st, cur, sizeof(cur));
    store_key(call->st, "train:lock", lock, sizeof(lock));
    store_key_model(call->st, a->live_digest ? a->live_digest : a->digest,
                    live, sizeof(live));
    snprintf(now, sizeof(now), "%lld", (long long)time(NULL));
    for (size_t i = 0; i < ac; i++)
        lens[i] = av[i] == a->blob ? a->len : strlen(av[i]);
    if ((r = store_cmd(call, a->label, key, (int)ac, av, lens)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    a->result = r->integer;
    freeReplyObject(r);
    return 0;
}

/* store_model_publish - store blob and make digest live, atomically */
enum store_status
store_model_publish(struct store *st, const char *digest, const void *blob,
                    size_t len, const struct store_guard *guard,
                    uint64_t *version)
{
    struct store_publish_arg a = {
        .script = store_lua_publish, .label = "EVAL publish",
        .digest = digest, .blob = blob, .len = len, .token = "",
    };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest)) ||
        (guard != NULL && (guard->lock_token == NULL ||
                           guard->lock_token[0] == '\0' ||
                           (guard->live_digest != NULL &&
                            !store_digest_ok(guard->live_digest,
                                             strlen(guard->live_digest)))))) {
        log_limited(&st->lim_command, "store: EVAL publish: bad digest or "
                    "guard");
        return STORE_ERR;
    }
    if (guard != NULL) {
        a.token = guard->lock_token;
        a.live_digest = guard->live_digest;
        if (guard->live_digest != NULL)
            snprintf(a.live_version, sizeof(a.live_version), "%llu",
                     (unsigned long long)guard->live_version);
    }
    /* Not idempotent: a retry could count a version twice. */
    if (store_run(st, &st->role[0], store_op_script, &a, 0) < 0)
        return STORE_ERR;
    if (a.result == -1)
        return STORE_NOT_OURS;
    if (a.result == -2)
        return STORE_CONFLICT;
    if (a.result < 1) {
        log_limited(&st->lim_command, "store: EVAL publish: version %lld",
                    a.result);
        return STORE_ERR;
    }
    *version = (uint64_t)a.result;
    return STORE_OK;
}

/* store_model_restore - put back a model Redis lost */
enum store_status
store_model_restore(struct store *st, const char *digest, const void *blob,
                    size_t len, uint64_t version)
{
    struct store_publish_arg a = {
        .script = store_lua_restore, .label = "EVAL restore",
        .digest = digest, .blob = blob, .len = len, .token = "",
    };

    if (digest == NULL || !store_digest_ok(digest, strlen(digest)) ||
        version < 1 || version > LONG_MAX) {
        log_limited(&st->lim_command, "store: EVAL restore: bad digest or "
                    "version");
        return STORE_ERR;
    }
    snprintf(a.version_arg, sizeof(a.version_arg), "%llu",
             (unsigned long long)version);
    /* Idempotent: a second run finds the model in place and does nothing. */
    if (store_run(st, &st->role[0], store_op_script, &a, 1) < 0)
        return STORE_ERR;
    return a.result == 1 ? STORE_OK : STORE_CONFLICT;
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
    return store_run(st, &st->role[0], store_op_delete, &a, 1) < 0 ? -1 : 0;
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
