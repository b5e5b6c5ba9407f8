/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_instance - the heartbeats: every daemon says, every watch
 * interval, which model it serves, so that a trainer never trains a
 * first network while an instance still serves a model Redis lost, and
 * the admin tool can list the instances. Keys (doc/redis-keys.md):
 *   PREFIX:instances      sorted set: id, scored by the last heartbeat
 *   PREFIX:instance:ID    string: the heartbeat line, expiring
 * Write servers; any thread, through store_run().
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

#define STORE_INSTANCES_KEPT 1000 /* ids kept in the sorted set */

/* KEYS: the set, the instance's key; ARGV: unix time, id, line, ttl ms,
 * the oldest score to keep, how many ids to keep. */
static const char store_lua_beat[] =
    "redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])\n"
    "redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])\n"
    "redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[6]) - 1)\n"
    "return 1\n";

/* KEYS: the set; ARGV: the oldest score, how many, the instance key
 * prefix, the longest id and line returned. Newest first, bounded. */
static const char store_lua_list[] =
    "local ids = redis.call('ZREVRANGEBYSCORE', KEYS[1], '+inf', ARGV[1],\n"
    "                       'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))\n"
    "local out = {}\n"
    "for i = 1, #ids, 2 do\n"
    "    local v = redis.call('GET', ARGV[3] .. ids[i])\n"
    "    if type(v) == 'string' then\n"
    "        out[#out + 1] = string.sub(ids[i], 1, tonumber(ARGV[4]))\n"
    "        out[#out + 1] = string.sub(v, 1, tonumber(ARGV[5]))\n"
    "        out[#out + 1] = string.sub(ids[i + 1], 1, 20)\n"
    "    end\n"
    "end\n"
    "return out\n";

/* store_id_ok - 1 .. STORE_MAX_INSTANCE_ID of [A-Za-z0-9_.:-] */
static int
store_id_ok(const char *id)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";
    size_t n = strlen(id);

    return n >= 1 && n <= STORE_MAX_INSTANCE_ID && strspn(id, ok) == n;
}

/* store_instance_beat - SET the line with an expiry, ZADD the id */
int
store_instance_beat(struct store *st, const char *id, const char *line,
                    long ttl_ms)
{
    char set[STORE_KEY_MAX], key[STORE_KEY_MAX + STORE_MAX_INSTANCE_ID];
    char now[24], ttl[24], oldest[24], kept[24];
    int64_t t = (int64_t)time(NULL);
    struct store_eval_arg a = {
        .label = "EVAL beat", .script = store_lua_beat, .nkeys = 2,
        .keys = { set, key }, .nargs = 6,
        .args = { now, id, line, ttl, oldest, kept },
    };

    if (!store_id_ok(id) || strlen(line) > STORE_MAX_BEAT || ttl_ms < 1000)
        return -1;
    store_key(st, "instances", set, sizeof(set));
    snprintf(key, sizeof(key), "%s:instance:%s", st->prefix, id);
    snprintf(now, sizeof(now), "%lld", (long long)t);
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    snprintf(oldest, sizeof(oldest), "%lld",
             (long long)(t - ttl_ms / 1000 - 1));
    snprintf(kept, sizeof(kept), "%d", STORE_INSTANCES_KEPT);
    return store_run(st, &st->role[0], store_op_eval, &a, 1) < 0 ? -1 : 0;
}

/* store_instance_gone - DEL the line, ZREM the id */
int
store_instance_gone(struct store *st, const char *id)
{
    char set[STORE_KEY_MAX], key[STORE_KEY_MAX + STORE_MAX_INSTANCE_ID];
    struct store_simple_arg del = { "DEL", 2, { "DEL", key }, NULL };
    struct store_simple_arg rem = { "ZREM", 3, { "ZREM", set, id }, NULL };

    if (!store_id_ok(id))
        return -1;
    store_key(st, "instances", set, sizeof(set));
    snprintf(key, sizeof(key), "%s:instance:%s", st->prefix, id);
    if (store_run(st, &st->role[0], store_op_simple, &del, 1) < 0)
        return -1;
    freeReplyObject(del.reply);
    if (store_run(st, &st->role[0], store_op_simple, &rem, 1) < 0)
        return -1;
    freeReplyObject(rem.reply);
    return 0;
}

struct store_list_arg {
    struct store_instance *out;
    size_t max, n;
};

/* store_op_list - the list script; the heartbeats' own expiry decides
 * which are alive, the set only names candidates */
static int
store_op_list(struct store_call *call, void *arg)
{
    struct store_list_arg *a = arg;
    char set[STORE_KEY_MAX], pfx[STORE_KEY_MAX], oldest[24], max[24];
    char idmax[24], linemax[24];
    const char *argv[] = { "EVAL", store_lua_list, "1", set, oldest, max,
                           pfx, idmax, linemax };
    redisReply *r;

    store_key(call->st, "instances", set, sizeof(set));
    store_key(call->st, "instance:", pfx, sizeof(pfx));
    /* a day back at most: the set is trimmed by every heartbeat anyway */
    snprintf(oldest, sizeof(oldest), "%lld",
             (long long)time(NULL) - 86400);
    snprintf(max, sizeof(max), "%zu", a->max);
    snprintf(idmax, sizeof(idmax), "%d", STORE_MAX_INSTANCE_ID);
    snprintf(linemax, sizeof(linemax), "%d", STORE_MAX_BEAT);
    if ((r = store_cmd(call, "EVAL instances", set, 9, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0 ||
        r->elements / 3 > a->max) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    a->n = 0;
    for (size_t i = 0; i < r->elements; i += 3) {
        struct store_instance *in = &a->out[a->n];
        const redisReply *id = r->element[i], *line = r->element[i + 1];
        const redisReply *seen = r->element[i + 2];
        long t;

        if (id->type != REDIS_REPLY_STRING ||
            line->type != REDIS_REPLY_STRING ||
            seen->type != REDIS_REPLY_STRING ||
            id->len > STORE_MAX_INSTANCE_ID || line->len > STORE_MAX_BEAT ||
            strlen(seen->str) != seen->len ||
            util_parse_long(seen->str, 0, LONG_MAX, &t) != 0)
            continue; /* not a heartbeat of ours */
        memcpy(in->id, id->str, id->len);
        in->id[id->len] = '\0';
        memcpy(in->line, line->str, line->len);
        in->line[line->len] = '\0';
        in->seen = t;
        a->n++;
    }
    freeReplyObject(r);
    return 0;
}

/* store_instances - the live heartbeats, newest first */
int
store_instances(struct store *st, struct store_instance *out, size_t max,
                size_t *n)
{
    struct store_list_arg a = { out, max, 0 };

    *n = 0;
    if (max == 0 || max > STORE_MAX_INSTANCES)
        return -1;
    if (store_run(st, &st->role[0], store_op_list, &a, 1) < 0)
        return -1;
    *n = a.n;
    return 0;
}
