/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_learn - the keys of the label sources beyond autolearn (see
 * doc/redis-keys.md):
 *   PREFIX:replies:exp     sorted set: message key -> when it expires
 *   PREFIX:replies:rec     hash: message key -> ham record (source reply)
 *   PREFIX:report:in       list: report records, appended by reporters
 *   PREFIX:report:day:DAY  hash: reporter -> reports taken that day
 *   PREFIX:report:stats    hash: what the trainer made of reports
 * Write servers only. Every script declares the keys it touches; what
 * comes back is bounded inside the script (records) or fixed in size.
 */
#include "config.h"
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "learn.h"
#include "xmalloc.h"

#define STORE_EXPIRE_STEP 1000 /* expired entries dropped per script */

const char *const store_report_stat_names[STORE_REPORT_NSTATS] = {
    "accepted",        "refused:format", "refused:reporter",
    "refused:verdict", "refused:header", "refused:cap",
    "refused:oversize", "refused:off",
};

/* KEYS: the expiry set, the records; ARGV: now, window s, max, then a
 * key and a record per message. Drops what expired (a bounded step),
 * keeps the new ones, then the oldest beyond max. */
static const char store_lua_keep[] =
    "local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local max = tonumber(ARGV[3])\n"
    "local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, "
    "'LIMIT', 0, 1000)\n"
    "for _, m in ipairs(gone) do redis.call('HDEL', KEYS[2], m) end\n"
    "if #gone > 0 then redis.call('ZREM', KEYS[1], unpack(gone)) end\n"
    "for i = 4, #ARGV, 2 do\n"
    "    redis.call('ZADD', KEYS[1], now + ttl, ARGV[i])\n"
    "    redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "local over = redis.call('ZCARD', KEYS[1]) - max\n"
    "if over > 0 then\n"
    "    local old = redis.call('ZPOPMIN', KEYS[1], over)\n"
    "    for j = 1, #old, 2 do redis.call('HDEL', KEYS[2], old[j]) end\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[1], ttl)\n"
    "redis.call('EXPIRE', KEYS[2], ttl)\n"
    "return 0\n";

_Static_assert(STORE_EXPIRE_STEP == 1000, "store_lua_keep's LIMIT");

/* KEYS[1..4] as store_lua_push_fn, then the expiry set and the records;
 * ARGV: now, cap, then the keys a reply named. Each key kept and not
 * expired becomes a ham example; every named key stops being kept. */
static const char store_lua_hit[] =
    "local now, cap = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local n = 0\n"
    "for i = 3, #ARGV do\n"
    "    local k = ARGV[i]\n"
    "    local exp = redis.call('ZSCORE', KEYS[5], k)\n"
    "    if exp then\n"
    "        local rec = redis.call('HGET', KEYS[6], k)\n"
    "        if rec and tonumber(exp) > now then\n"
    "            n = n + nm_push(false, k, 'e', rec)\n"
    "        end\n"
    "        redis.call('ZREM', KEYS[5], k)\n"
    "        redis.call('HDEL', KEYS[6], k)\n"
    "    end\n"
    "end\n"
    "if n > 0 then\n"
    "    nm_trim(cap)\n"
    "    redis.call('INCRBY', KEYS[3], n)\n"
    "end\n"
    "return n\n";

/* KEYS: the reports list; ARGV: how many, the longest to return. The
 * taken ones leave the list in the same script. */
static const char store_lua_take[] =
    "local n, max = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local v = redis.call('LRANGE', KEYS[1], 0, n - 1)\n"
    "redis.call('LTRIM', KEYS[1], #v, -1)\n"
    "for i = 1, #v do\n"
    "    if #v[i] > max then v[i] = '' end\n"
    "end\n"
    "return v\n";

/* KEYS: the day's hash; ARGV: reporter, cap, expiry s. 1 counted, 0
 * when the cap was reached. */
static const char store_lua_charge[] =
    "local n = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')\n"
    "if n >= tonumber(ARGV[2]) then return 0 end\n"
    "redis.call('HINCRBY', KEYS[1], ARGV[1], 1)\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "return 1\n";

/* store_now_s - unix time */
static long
store_now_s(void)
{
    return (long)time(NULL);
}

struct store_keep_arg {
    const struct store_reply *r;
    size_t n;
    long window_s, max;
};

/* store_op_keep - EVAL store_lua_keep */
static int
store_op_keep(struct store_call *call, void *arg)
{
    struct store_keep_arg *a = arg;
    size_t argc = 0, max = 9 + 2 * a->n;
    const char **argv = xreallocarray(NULL, max, sizeof(*argv));
    size_t *lens = xreallocarray(NULL, max, sizeof(*lens));
    char (*kx)[LEARN_KEY_HEX + 1] = xreallocarray(NULL, a->n + 1,
                                                  sizeof(*kx));
    char exp[STORE_KEY_MAX], rec[STORE_KEY_MAX], num[3][24];
    redisReply *r;
    int rc = 0;

    store_key(call->st, "replies:exp", exp, sizeof(exp));
    store_key(call->st, "replies:rec", rec, sizeof(rec));
    snprintf(num[0], sizeof(num[0]), "%ld", store_now_s());
    snprintf(num[1], sizeof(num[1]), "%ld", a->window_s);
    snprintf(num[2], sizeof(num[2]), "%ld", a->max);
    argv[argc++] = "EVAL";
    argv[argc++] = store_lua_keep;
    argv[argc++] = "2";
    argv[argc++] = exp;
    argv[argc++] = rec;
    for (int i = 0; i < 3; i++)
        argv[argc++] = num[i];
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    for (size_t i = 0; i < a->n; i++) {
        learn_key_hex(a->r[i].key, kx[i], sizeof(kx[i]));
        argv[argc] = kx[i];
        lens[argc++] = LEARN_KEY_HEX;
        argv[argc] = a->r[i].rec;
        lens[argc++] = a->r[i].len;
    }
    if ((r = store_cmd(call, "EVAL keep", exp, (int)argc, argv, lens)) ==
        NULL)
        rc = -1;
    else
        freeReplyObject(r);
    free(argv);
    free(lens);
    free(kx);
    return rc;
}

/* store_replies_keep - messages kept for replies */
int
store_replies_keep(struct store *st, const struct store_reply *r, size_t n,
                   long window_s, long max)
{
    struct store_keep_arg a = { r, n, window_s, max };

    if (n == 0 || n > STORE_BATCH_MAX || window_s < 1 || max < 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (r[i].key == 0 || r[i].rec == NULL || r[i].len == 0)
            return -1;
    /* idempotent: the same keys kept twice are kept once */
    return store_run(st, &st->role[0], store_op_keep, &a, 1) < 0 ? -1 : 0;
}

struct store_hit_arg {
    const uint64_t *keys;
    size_t n;
    long max_examples;
    long learned;
};

/* store_op_hit - EVAL the push functions plus store_lua_hit */
static int
store_op_hit(struct store_call *call, void *arg)
{
    struct store_hit_arg *a = arg;
    static const char *const suffix[6] = { "ex:spam", "ex:ham", "ex:new",
                                           "ex:rec", "replies:exp",
                                           "replies:rec" };
    size_t argc = 0, max = 12 + a->n;
    const char **argv = xreallocarray(NULL, max, sizeof(*argv));
    char (*kx)[LEARN_KEY_HEX + 1] = xreallocarray(NULL, a->n + 1,
                                                  sizeof(*kx));
    char keys[6][STORE_KEY_MAX], now[24], cap[24];
    char *script = store_script(store_lua_hit);
    redisReply *r;
    int rc = 0;

    argv[argc++] = "EVAL";
    argv[argc++] = script;
    argv[argc++] = "6";
    for (int i = 0; i < 6; i++) {
        store_key(call->st, suffix[i], keys[i], sizeof(keys[i]));
        argv[argc++] = keys[i];
    }
    snprintf(now, sizeof(now), "%ld", store_now_s());
    snprintf(cap, sizeof(cap), "%ld", a->max_examples);
    argv[argc++] = now;
    argv[argc++] = cap;
    for (size_t i = 0; i < a->n; i++) {
        learn_key_hex(a->keys[i], kx[i], sizeof(kx[i]));
        argv[argc++] = kx[i];
    }
    r = store_cmd(call, "EVAL hit", keys[4], (int)argc, argv, NULL);
    if (r == NULL)
        rc = -1;
    else if (store_reply_long(r, &a->learned) != 0)
        rc = store_fail(call, "unexpected reply");
    if (r != NULL)
        freeReplyObject(r);
    free(argv);
    free(kx);
    free(script);
    return rc;
}

/* store_replies_hit - the messages a reply names become ham */
int
store_replies_hit(struct store *st, const uint64_t *keys, size_t n,
                  long max_examples, long *learned)
{
    struct store_hit_arg a = { keys, n, max_examples, 0 };

    *learned = 0;
    if (n == 0)
        return 0;
    if (n > STORE_BATCH_MAX || max_examples < 1)
        return -1;
    /* not idempotent: a retry after a lost reply would count the new
     * examples twice */
    if (store_run(st, &st->role[0], store_op_hit, &a, 0) < 0)
        return -1;
    *learned = a.learned;
    return 0;
}

struct store_card_arg {
    const char *cmd, *key;
    long n;
};

/* store_op_card - ZCARD or LLEN */
static int
store_op_card(struct store_call *call, void *arg)
{
    struct store_card_arg *a = arg;
    const char *argv[] = { a->cmd, a->key };
    redisReply *r;

    if ((r = store_cmd(call, a->cmd, a->key, 2, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    a->n = (long)r->integer;
    freeReplyObject(r);
    return 0;
}

/* store_card - one count */
static int
store_card(struct store *st, const char *cmd, const char *suffix, long *n)
{
    char key[STORE_KEY_MAX];
    struct store_card_arg a = { cmd, key, 0 };

    store_key(st, suffix, key, sizeof(key));
    if (store_run(st, &st->role[0], store_op_card, &a, 1) < 0)
        return -1;
    *n = a.n;
    return 0;
}

/* store_replies_count - ZCARD of the expiry set */
int
store_replies_count(struct store *st, long *n)
{
    return store_card(st, "ZCARD", "replies:exp", n);
}

/* store_reports_waiting - LLEN of the reports list */
int
store_reports_waiting(struct store *st, long *n)
{
    return store_card(st, "LLEN", "report:in", n);
}

struct store_take_arg {
    const char *key;
    size_t max, max_len;
    struct store_blob *out;
    size_t n, refused;
};

/* store_op_take - EVAL store_lua_take */
static int
store_op_take(struct store_call *call, void *arg)
{
    struct store_take_arg *a = arg;
    char num[24], len[24];
    const char *argv[] = { "EVAL", store_lua_take, "1", a->key, num, len };
    redisReply *r;

    snprintf(num, sizeof(num), "%zu", a->max);
    snprintf(len, sizeof(len), "%zu", a->max_len);
    a->n = a->refused = 0;
    if ((r = store_cmd(call, "EVAL take", a->key, 6, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements > a->max) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len == 0 ||
            e->len > a->max_len) {
            a->refused++;
            continue;
        }
        a->out[a->n].data = xmalloc(e->len + 1);
        memcpy(a->out[a->n].data, e->str, e->len);
        ((char *)a->out[a->n].data)[e->len] = '\0';
        a->out[a->n].len = e->len;
        a->n++;
    }
    freeReplyObject(r);
    return 0;
}

/* store_reports_take - a bounded batch of reports, removed */
int
store_reports_take(struct store *st, size_t max, size_t max_len,
                   struct store_blob **out, size_t *n, size_t *refused)
{
    char key[STORE_KEY_MAX];
    struct store_take_arg a = { .key = key, .max = max, .max_len = max_len };

    *out = NULL;
    *n = *refused = 0;
    if (max == 0 || max > STORE_PAGE)
        return -1;
    store_key(st, "report:in", key, sizeof(key));
    a.out = xcalloc(max, sizeof(*a.out));
    /* not idempotent: a retry would take the next batch */
    if (store_run(st, &st->role[0], store_op_take, &a, 0) < 0) {
        store_blobs_free(a.out, a.n);
        return -1;
    }
    *out = a.out;
    *n = a.n;
    *refused = a.refused;
    return 0;
}

/* store_report_charge - one more report of reporter on day */
enum store_status
store_report_charge(struct store *st, const char *reporter, const char *day,
                    long cap)
{
    char key[STORE_KEY_MAX], suffix[40], num[24];
    struct store_eval_arg a = {
        .label = "EVAL charge", .script = store_lua_charge, .nkeys = 1,
        .keys = { key }, .nargs = 3, .args = { reporter, num, "172800" },
    };

    if (strlen(reporter) == 0 || strlen(reporter) > LEARN_MAX_REPORTER ||
        strlen(day) != 8)
        return STORE_ERR;
    snprintf(suffix, sizeof(suffix), "report:day:%s", day);
    store_key(st, suffix, key, sizeof(key));
    snprintf(num, sizeof(num), "%ld", cap);
    if (store_run(st, &st->role[0], store_op_eval, &a, 0) < 0)
        return STORE_ERR;
    return a.result == 1 ? STORE_OK : STORE_CONFLICT;
}

struct store_stats_arg {
    const long *add;
    long *get;
};

/* store_op_stats - HINCRBY each nonzero count, or HMGET them all */
static int
store_op_stats(struct store_call *call, void *arg)
{
    struct store_stats_arg *a = arg;
    const char *argv[2 + STORE_REPORT_NSTATS];
    char key[STORE_KEY_MAX], num[24];
    redisReply *r;

    store_key(call->st, "report:stats", key, sizeof(key));
    if (a->add != NULL) {
        for (int i = 0; i < STORE_REPORT_NSTATS; i++) {
            const char *inc[] = { "HINCRBY", key, store_report_stat_names[i],
                                  num };

            if (a->add[i] == 0)
                continue;
            snprintf(num, sizeof(num), "%ld", a->add[i]);
            if ((r = store_cmd(call, "HINCRBY", key, 4, inc, NULL)) == NULL)
                return -1;
            freeReplyObject(r);
        }
        return 0;
    }
    argv[0] = "HMGET";
    argv[1] = key;
    for (int i = 0; i < STORE_REPORT_NSTATS; i++)
        argv[2 + i] = store_report_stat_names[i];
    if ((r = store_cmd(call, "HMGET", key, 2 + STORE_REPORT_NSTATS, argv,
                       NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != STORE_REPORT_NSTATS) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    for (int i = 0; i < STORE_REPORT_NSTATS; i++)
        if (r->element[i]->len > 20 ||
            store_reply_long(r->element[i], &a->get[i]) != 0) {
            freeReplyObject(r);
            return store_fail(call, "not a count");
        }
    freeReplyObject(r);
    return 0;
}

/* store_report_stats_add - add to the counters */
int
store_report_stats_add(struct store *st,
                       const long counts[STORE_REPORT_NSTATS])
{
    struct store_stats_arg a = { counts, NULL };

    return store_run(st, &st->role[0], store_op_stats, &a, 0) < 0 ? -1 : 0;
}

/* store_report_stats_get - read the counters */
int
store_report_stats_get(struct store *st, long counts[STORE_REPORT_NSTATS])
{
    struct store_stats_arg a = { NULL, counts };

    memset(counts, 0, STORE_REPORT_NSTATS * sizeof(*counts));
    return store_run(st, &st->role[0], store_op_stats, &a, 1) < 0 ? -1 : 0;
}
