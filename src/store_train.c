/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_train - the training keys: the example lists and the new-example
 * counter, the training lock, the last outcome. Write servers only, so a
 * trainer never reads a replica that lags behind. Any thread, through
 * store_run(); see doc/redis-keys.md.
 */
#include "config.h"
#include "store_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "learn.h"
#include "util.h"
#include "xmalloc.h"

/*
 * Training: examples, the new-example counter, the lock, the last
 * outcome. Keys (doc/redis-keys.md):
 *   PREFIX:ex:spam, PREFIX:ex:ham  lists of example records, newest first
 *   PREFIX:ex:new                  examples added since the last training
 *   PREFIX:train:lock              owner token, SET NX PX, renewed
 *   PREFIX:train:last              one line: the last training's outcome
 */

/*
 * The examples (format of release 0.2): the class lists hold message keys (16
 * hex digits), newest first; PREFIX:ex:rec maps each key to its tier byte ('a'
 * autolearn, 'e' explicit) and record. Lists of release 0.1 hold records
 * themselves; those are read as they are and trimmed away in time. A trim drops
 * at most 1,000 of the oldest per list and script, so a list far over the cap
 * (max_examples lowered, or a hostile one) costs each push a bounded step,
 * never the whole list. store_lua_push_fn pushes one example: a key already
 * stored is replaced (its old entry leaves whichever list held it), except that
 * autolearn never replaces an explicit verdict. It is the head of every script
 * that adds examples. KEYS[1..4]: the spam list, the ham list, the counter, the
 * records.
 */
const char store_lua_push_fn[] =
    "local function nm_is_key(e)\n"
    "    return #e == 16 and string.match(e, '^%x+$') ~= nil\n"
    "end\n"
    "local function nm_push(spam, k, tier, rec)\n"
    "    local old = redis.call('HGET', KEYS[4], k)\n"
    "    if old and tier == 'a' and string.sub(old, 1, 1) == 'e' then\n"
    "        return 0\n"
    "    end\n"
    "    if old then\n"
    "        redis.call('LREM', KEYS[1], 0, k)\n"
    "        redis.call('LREM', KEYS[2], 0, k)\n"
    "    end\n"
    "    redis.call('HSET', KEYS[4], k, tier .. rec)\n"
    "    redis.call('LPUSH', spam and KEYS[1] or KEYS[2], k)\n"
    "    return 1\n"
    "end\n"
    "local function nm_trim(cap)\n"
    "    for j = 1, 2 do\n"
    "        local over = redis.call('LLEN', KEYS[j]) - cap\n"
    "        if over > 1000 then over = 1000 end\n"
    "        for i = 1, over do\n"
    "            local d = redis.call('RPOP', KEYS[j])\n"
    "            if nm_is_key(d) then redis.call('HDEL', KEYS[4], d) end\n"
    "        end\n"
    "    end\n"
    "end\n";

/* ARGV: cap, then per example its class ("1" spam), key, tier and
 * record. One script per batch: the writer's Redis cost per example
 * falls with the batch (measured in BENCHMARKS.md). Returns the
 * counter. */
static const char store_lua_push_batch[] =
    "local cap = tonumber(ARGV[1])\n"
    "local n = 0\n"
    "for i = 2, #ARGV, 4 do\n"
    "    n = n + nm_push(ARGV[i] == '1', ARGV[i + 1], ARGV[i + 2], "
    "ARGV[i + 3])\n"
    "end\n"
    "nm_trim(cap)\n"
    "return redis.call('INCRBY', KEYS[3], n)\n";

/* KEYS: the counter; ARGV: how many were used. Never below zero. */
static const char store_lua_consume[] =
    "local v = tonumber(redis.call('GET', KEYS[1]) or '0') - tonumber(ARGV[1])\n"
    "if v < 0 then v = 0 end\n"
    "redis.call('SET', KEYS[1], v)\n"
    "return v\n";

/* KEYS: the lock; ARGV: token, ttl ms. Only the owner renews. */
static const char store_lua_renew[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "    return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n";

/* KEYS: the lock; ARGV: token. Only the owner releases. */
static const char store_lua_release[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "    return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

/* KEYS: a class list, the records; ARGV: first and last index
 * (negative: from the oldest end), the longest record to return. A key
 * is looked up (its tier byte dropped), a record of release 0.1 comes
 * as it is; one longer than the limit, or a key without its record,
 * comes back as "" and never leaves Redis whole. */
static const char store_lua_page[] =
    "local v = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])\n"
    "local max = tonumber(ARGV[3])\n"
    "for i = 1, #v do\n"
    "    local e = v[i]\n"
    "    if #e == 16 and string.match(e, '^%x+$') then\n"
    "        local n = redis.call('HSTRLEN', KEYS[2], e)\n"
    "        if n < 2 or n > max + 1 then\n"
    "            e = ''\n"
    "        else\n"
    "            e = string.sub(redis.call('HGET', KEYS[2], e), 2)\n"
    "        end\n"
    "    elseif #e > max then\n"
    "        e = ''\n"
    "    end\n"
    "    v[i] = e\n"
    "end\n"
    "return v\n";

struct store_batch_arg {
    const struct store_example *ex;
    size_t n;
    long max_examples;
};

/* store_example_key - the key of ex as the scripts spell it: its own,
 * or (0) a hash of the record, so that the same record counts once */
static void
store_example_key(const struct store_example *ex, char *buf, size_t len)
{
    uint64_t k = ex->key;

    if (k == 0)
        k = util_hash64(ex->rec, ex->len, UTIL_HASH64_INIT) | 1;
    learn_key_hex(k, buf, len);
}

/* store_script - store_lua_push_fn followed by body, malloc'd */
char *
store_script(const char *body)
{
    size_t a = strlen(store_lua_push_fn), b = strlen(body);
    char *s = xmalloc(a + b + 1);

    memcpy(s, store_lua_push_fn, a);
    memcpy(s + a, body, b + 1);
    return s;
}

/* store_op_push_batch - EVAL store_lua_push_batch over a batch */
static int
store_op_push_batch(struct store_call *call, void *arg)
{
    struct store_batch_arg *a = arg;
    size_t argc = 0, max = 8 + 4 * a->n;
    const char **argv = xreallocarray(NULL, max, sizeof(*argv));
    size_t *lens = xreallocarray(NULL, max, sizeof(*lens));
    char (*kx)[LEARN_KEY_HEX + 1] = xreallocarray(NULL, a->n + 1,
                                                  sizeof(*kx));
    char keys[4][STORE_KEY_MAX], cap[24];
    const char *suffix[4] = { "ex:spam", "ex:ham", "ex:new", "ex:rec" };
    char *script = store_script(store_lua_push_batch);
    redisReply *r;
    long v;
    int rc = 0;

    snprintf(cap, sizeof(cap), "%ld", a->max_examples);
    argv[argc] = "EVAL";
    lens[argc++] = 4;
    argv[argc] = script;
    lens[argc++] = strlen(script);
    argv[argc] = "4";
    lens[argc++] = 1;
    for (int i = 0; i < 4; i++) {
        store_key(call->st, suffix[i], keys[i], sizeof(keys[i]));
        argv[argc] = keys[i];
        lens[argc++] = strlen(keys[i]);
    }
    argv[argc] = cap;
    lens[argc++] = strlen(cap);
    for (size_t i = 0; i < a->n; i++) {
        store_example_key(&a->ex[i], kx[i], sizeof(kx[i]));
        argv[argc] = a->ex[i].spam ? "1" : "0";
        lens[argc++] = 1;
        argv[argc] = kx[i];
        lens[argc++] = LEARN_KEY_HEX;
        argv[argc] = a->ex[i].explicit_ ? "e" : "a";
        lens[argc++] = 1;
        argv[argc] = a->ex[i].rec;
        lens[argc++] = a->ex[i].len;
    }
    r = store_cmd(call, "EVAL push", keys[0], (int)argc, argv, lens);
    if (r == NULL)
        rc = -1;
    else if (store_reply_long(r, &v) != 0)
        rc = store_fail(call, "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    free(argv);
    free(lens);
    free(kx);
    free(script);
    return rc;
}

/* store_example_push_batch - n records to their classes, capped */
int
store_example_push_batch(struct store *st, const struct store_example *ex,
                         size_t n, long max_examples)
{
    struct store_batch_arg a = { ex, n, max_examples };

    if (n == 0 || n > STORE_BATCH_MAX || max_examples < 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (ex[i].len == 0 || ex[i].rec == NULL)
            return -1;
    /* Not idempotent: a retry could count the examples twice. */
    return store_run(st, &st->role[0], store_op_push_batch, &a, 0) < 0 ? -1
                                                                        : 0;
}

/* store_example_push - a batch of one, keyed by its record (explicit) */
int
store_example_push(struct store *st, int spam, const void *rec, size_t len,
                   long max_examples)
{
    struct store_example ex = { .spam = spam, .rec = rec, .len = len,
                                .explicit_ = 1 };

    return store_example_push_batch(st, &ex, 1, max_examples);
}

struct store_counts_arg {
    long *nspam, *nham, *nnew;
};

/* store_op_counts - LLEN, LLEN, the counter (at most 20 digits read) */
static int
store_op_counts(struct store_call *call, void *arg)
{
    struct store_counts_arg *a = arg;
    char key[3][STORE_KEY_MAX];
    const char *suffix[3] = { "ex:spam", "ex:ham", "ex:new" };
    long *out[3] = { a->nspam, a->nham, a->nnew };

    for (int i = 0; i < 3; i++) {
        const char *argv[4] = { i < 2 ? "LLEN" : "GETRANGE", key[i], "0",
                                "19" };
        redisReply *r;

        store_key(call->st, suffix[i], key[i], sizeof(key[i]));
        if ((r = store_cmd(call, argv[0], key[i], i < 2 ? 2 : 4, argv,
                           NULL)) == NULL)
            return -1;
        if (r->type == REDIS_REPLY_STRING && r->len == 0) {
            *out[i] = 0; /* no counter yet */
        } else if (store_reply_long(r, out[i]) != 0 || *out[i] < 0) {
            freeReplyObject(r);
            return store_fail(call, "not a count");
        }
        freeReplyObject(r);
    }
    return 0;
}

/* store_example_counts - examples per class and new since training */
int
store_example_counts(struct store *st, long *nspam, long *nham, long *nnew)
{
    struct store_counts_arg a = { nspam, nham, nnew };

    return store_run(st, &st->role[0], store_op_counts, &a, 1) < 0 ? -1 : 0;
}

struct store_fetch_arg {
    const char *key;
    const char *rec;          /* the records hash */
    long first, last;         /* LRANGE indexes of this page */
    size_t max_len;
    struct store_blob *out;   /* room for the page */
    size_t n, refused;        /* filled by the op */
};

/* store_op_page - one page through store_lua_page */
static int
store_op_page(struct store_call *call, void *arg)
{
    struct store_fetch_arg *a = arg;
    char first[24], last[24], max[24];
    const char *argv[] = { "EVAL", store_lua_page, "2", a->key, a->rec,
                           first, last, max };
    redisReply *r;

    snprintf(first, sizeof(first), "%ld", a->first);
    snprintf(last, sizeof(last), "%ld", a->last);
    snprintf(max, sizeof(max), "%zu", a->max_len);
    a->n = a->refused = 0;
    if ((r = store_cmd(call, "EVAL page", a->key, 8, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY ||
        r->elements > (size_t)(a->last - a->first + 1)) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len == 0 ||
            e->len > a->max_len) {
            a->refused++; /* not ours, or too long to be ours */
            continue;
        }
        a->out[a->n].data = xmalloc(e->len);
        memcpy(a->out[a->n].data, e->str, e->len);
        a->out[a->n].len = e->len;
        a->n++;
    }
    /* a short page is the end of the list */
    a->last = r->elements < (size_t)(a->last - a->first + 1) ? 0 : 1;
    freeReplyObject(r);
    return 0;
}

struct store_len_arg {
    const char *key;
    long len;
};

/* store_op_len - LLEN */
static int
store_op_len(struct store_call *call, void *arg)
{
    struct store_len_arg *a = arg;
    const char *argv[] = { "LLEN", a->key };
    redisReply *r;

    if ((r = store_cmd(call, "LLEN", a->key, 2, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    a->len = (long)r->integer;
    freeReplyObject(r);
    return 0;
}

/*
 * store_examples_fetch - the newest max records of one class, a page at
 * a time from the oldest end: new records arrive at the other end, so a
 * concurrent push never shows one record twice (a trim by a push may
 * skip a few that were being dropped anyway). A list longer than max
 * (max_examples lowered) is read from its max-th newest record on.
 */
int
store_examples_fetch(struct store *st, int spam, size_t max, size_t max_len,
                     struct store_blob **out, size_t *n, size_t *refused)
{
    char key[STORE_KEY_MAX], rec[STORE_KEY_MAX];
    struct store_len_arg la = { key, 0 };
    struct store_blob *b = NULL;
    size_t have = 0, seen = 0, got = 0;

    *out = NULL;
    *n = 0;
    *refused = 0;
    store_key(st, spam ? "ex:spam" : "ex:ham", key, sizeof(key));
    store_key(st, "ex:rec", rec, sizeof(rec));
    if (store_run(st, &st->role[0], store_op_len, &la, 1) < 0)
        return -1;
    if ((size_t)la.len > max)
        seen = (size_t)la.len - max;
    while (got < max) {
        size_t want = max - got < STORE_PAGE ? max - got : STORE_PAGE;
        struct store_fetch_arg a = {
            .key = key, .rec = rec, .first = -(long)(seen + want),
            .last = -(long)seen - 1,
            .max_len = max_len,
        };

        b = xreallocarray(b, have + want + 1, sizeof(*b));
        a.out = b + have;
        if (store_run(st, &st->role[0], store_op_page, &a, 1) < 0) {
            store_blobs_free(b, have);
            return -1;
        }
        /* A page comes newest first: turn it, so the set is oldest
         * first as a whole. */
        for (size_t i = 0; i < a.n / 2; i++) {
            struct store_blob t = a.out[i];

            a.out[i] = a.out[a.n - 1 - i];
            a.out[a.n - 1 - i] = t;
        }
        have += a.n;
        *refused += a.refused;
        seen += a.n + a.refused;
        got += a.n + a.refused;
        if (a.last == 0)
            break;
    }
    *out = b;
    *n = have;
    return 0;
}

/* store_blobs_free - free what store_examples_fetch returned */
void
store_blobs_free(struct store_blob *b, size_t n)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(b[i].data);
    free(b);
}

/* store_new_consume - subtract what a training used from the counter */
int
store_new_consume(struct store *st, long n)
{
    char cnt[STORE_KEY_MAX], num[24];
    struct store_eval_arg a = {
        .label = "EVAL consume", .script = store_lua_consume, .nkeys = 1,
        .keys = { cnt }, .nargs = 1, .args = { num },
    };

    store_key(st, "ex:new", cnt, sizeof(cnt));
    snprintf(num, sizeof(num), "%ld", n);
    return store_run(st, &st->role[0], store_op_eval, &a, 0) < 0 ? -1 : 0;
}

/* store_examples_delete - drop every example and the counter */
int
store_examples_delete(struct store *st)
{
    char k1[STORE_KEY_MAX], k2[STORE_KEY_MAX], k3[STORE_KEY_MAX],
        k4[STORE_KEY_MAX];
    struct store_simple_arg a = { "DEL", 5, { "DEL", k1, k2, k3, k4 },
                                  NULL };

    store_key(st, "ex:spam", k1, sizeof(k1));
    store_key(st, "ex:ham", k2, sizeof(k2));
    store_key(st, "ex:new", k3, sizeof(k3));
    store_key(st, "ex:rec", k4, sizeof(k4));
    if (store_run(st, &st->role[0], store_op_simple, &a, 1) < 0)
        return -1;
    freeReplyObject(a.reply);
    return 0;
}

/* store_lock_acquire - SET NX PX with our token */
enum store_status
store_lock_acquire(struct store *st, const char *token, long ttl_ms)
{
    char key[STORE_KEY_MAX], ttl[24];
    struct store_simple_arg a = {
        "SET NX", 6, { "SET", key, token, "NX", "PX", ttl }, NULL };
    int got;

    store_key(st, "train:lock", key, sizeof(key));
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    /* Not retried: a lost reply could leave us holding a lock we think
     * we did not get; it expires after ttl_ms then. */
    if (store_run(st, &st->role[0], store_op_simple, &a, 0) < 0)
        return STORE_ERR;
    got = a.reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(a.reply);
    return got ? STORE_OK : STORE_NOT_OURS;
}

/* store_lock_script - renew or release, owner only */
static enum store_status
store_lock_script(struct store *st, const char *label, const char *script,
                  const char *token, long ttl_ms)
{
    char key[STORE_KEY_MAX], ttl[24];
    struct store_eval_arg a = {
        .label = label, .script = script, .nkeys = 1, .keys = { key },
        .nargs = ttl_ms > 0 ? 2 : 1, .args = { token, ttl },
    };

    store_key(st, "train:lock", key, sizeof(key));
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    if (store_run(st, &st->role[0], store_op_eval, &a, 1) < 0)
        return STORE_ERR;
    return a.result > 0 ? STORE_OK : STORE_NOT_OURS;
}

/* store_lock_renew - extend our lock */
enum store_status
store_lock_renew(struct store *st, const char *token, long ttl_ms)
{
    return store_lock_script(st, "EVAL renew", store_lua_renew, token,
                             ttl_ms);
}

/* store_lock_release - drop our lock */
enum store_status
store_lock_release(struct store *st, const char *token)
{
    return store_lock_script(st, "EVAL release", store_lua_release, token,
                             0);
}

/* store_get_line - GETRANGE key into buf (at most STORE_MAX_LINE bytes
 * read): STORE_OK, STORE_ABSENT (missing or empty), or -1 (an op's
 * failure) */
static int
store_get_line(struct store_call *call, const char *key, char *buf,
               size_t len)
{
    char last[24];
    const char *argv[] = { "GETRANGE", key, "0", last };
    redisReply *r;
    int found;

    snprintf(last, sizeof(last), "%d", STORE_MAX_LINE - 1);
    if ((r = store_cmd(call, "GETRANGE", key, 4, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    found = r->len > 0;
    if (found)
        snprintf(buf, len, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
    return found ? STORE_OK : STORE_ABSENT;
}

struct store_owner_arg {
    char *buf;
    size_t len;
    long *ttl_ms;
};

/* store_op_owner - the lock's token and PTTL */
static int
store_op_owner(struct store_call *call, void *arg)
{
    struct store_owner_arg *a = arg;
    char key[STORE_KEY_MAX];
    const char *pttl[] = { "PTTL", key };
    redisReply *r;
    int rc;

    store_key(call->st, "train:lock", key, sizeof(key));
    if ((rc = store_get_line(call, key, a->buf, a->len)) != STORE_OK)
        return rc;
    if ((r = store_cmd(call, "PTTL", key, 2, pttl, NULL)) == NULL)
        return -1;
    if (store_reply_long(r, a->ttl_ms) != 0)
        *a->ttl_ms = -1;
    freeReplyObject(r);
    return STORE_OK;
}

/* store_lock_owner - who holds the lock, for how long */
enum store_status
store_lock_owner(struct store *st, char *buf, size_t len, long *ttl_ms)
{
    struct store_owner_arg a = { buf, len, ttl_ms };
    int rc;

    *ttl_ms = 0;
    rc = store_run(st, &st->role[0], store_op_owner, &a, 1);
    return rc < 0 ? STORE_ERR : (enum store_status)rc;
}

/* store_train_outcome_set - the last training's line */
int
store_train_outcome_set(struct store *st, const char *line)
{
    char key[STORE_KEY_MAX];
    struct store_simple_arg a = { "SET", 3, { "SET", key, line }, NULL };

    store_key(st, "train:last", key, sizeof(key));
    if (store_run(st, &st->role[0], store_op_simple, &a, 1) < 0)
        return -1;
    freeReplyObject(a.reply);
    return 0;
}

struct store_line_arg {
    const char *key;
    char *buf;
    size_t len;
};

/* store_op_line - store_get_line() as an op */
static int
store_op_line(struct store_call *call, void *arg)
{
    struct store_line_arg *a = arg;

    return store_get_line(call, a->key, a->buf, a->len);
}

/* store_train_outcome_get - read it back */
enum store_status
store_train_outcome_get(struct store *st, char *buf, size_t len)
{
    char key[STORE_KEY_MAX];
    struct store_line_arg a = { key, buf, len };
    int rc;

    store_key(st, "train:last", key, sizeof(key));
    rc = store_run(st, st->rd, store_op_line, &a, 1);
    return rc < 0 ? STORE_ERR : (enum store_status)rc;
}
