/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_sentinel - the servers Redis Sentinel names: hiredis 0.14 has no
 * Sentinel support, so the few commands are ours. The first sentinel
 * that answers (the one that answered last is asked first) names the
 * primary (SENTINEL get-master-addr-by-name) and, when the model reads
 * follow the replicas, the healthy replicas (SENTINEL master gives their
 * count, which bounds SENTINEL replicas before it is asked). The store's
 * roles get the new lists under store.lock; contexts to the old servers
 * are dropped. A primary is checked (its INFO role, through a script
 * that returns one word) before a connection to it is used. One thread
 * of a store asks at a time, without the lock; the others go on.
 */
#include "config.h"
#include "store_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

#define STORE_SENTINEL_MAX_FIELDS 256 /* elements of one SENTINEL master
                                         or replica entry (about 80) */
#define STORE_SENTINEL_MAX_VALUE 255  /* bytes of one field we read */

/* The one word INFO's "role:" line says, whatever else INFO holds. */
static const char store_lua_role[] =
    "return string.match(redis.call('INFO', 'replication'),\n"
    "                    'role:(%a+)') or ''\n";

struct store_sentinel {
    /* set in store_sentinel_new, then read-only */
    char master[STORE_MAX_MASTER + 1];
    char *password;              /* NULL = no AUTH to the sentinels */
    struct store_server sen[STORE_MAX_SERVERS];
    size_t nsen;
    int reads;                   /* role[1] follows the replicas */

    /* protected by store.lock */
    int busy;                    /* a thread is asking */
    int64_t ask_at_ms;           /* monotonic; 0 = at the next call */
    size_t first;                /* the sentinel to ask first */

    /* the asking thread's (busy) */
    redisContext *c;             /* kept open to sen[cur] */
    size_t cur;
    struct log_limit lim;
};

/* What one round of asking found. */
struct store_sentinel_view {
    struct store_server primary;
    struct store_server rep[STORE_MAX_SERVERS - 1];
    size_t nrep;
    int have_replicas;           /* the replicas were asked for */
    size_t from;                 /* the sentinel that answered */
};

/* store_sentinel_new - parse and check the sentinel options */
int
store_sentinel_new(struct store *st, const struct store_opts *o, char *err,
                   size_t errlen)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-";
    struct store_sentinel *sen;
    size_t n;

    if (o->sentinels == NULL || o->sentinels[0] == '\0')
        return 0;
    sen = xcalloc(1, sizeof(*sen));
    if (store_parse_servers(o->sentinels, "sentinels", sen->sen, &sen->nsen,
                            err, errlen) != 0) {
        free(sen);
        return -1;
    }
    n = o->sentinel_master ? strlen(o->sentinel_master) : 0;
    if (n == 0 || n > STORE_MAX_MASTER ||
        strspn(o->sentinel_master, ok) != n) {
        snprintf(err, errlen, "redis sentinel_master '%s': want 1 to %d of "
                 "A-Z a-z 0-9 _ . -",
                 o->sentinel_master ? o->sentinel_master : "",
                 STORE_MAX_MASTER);
        free(sen);
        return -1;
    }
    memcpy(sen->master, o->sentinel_master, n + 1);
    if (o->sentinel_password != NULL && o->sentinel_password[0] != '\0')
        sen->password = xstrdup(o->sentinel_password);
    sen->reads = o->read_servers == NULL || o->read_servers[0] == '\0';
    st->sen = sen;
    return 0;
}

/* store_sentinel_free - close and free */
void
store_sentinel_free(struct store_sentinel *sen)
{
    if (sen == NULL)
        return;
    redisFree(sen->c);
    if (sen->password != NULL) {
        explicit_bzero(sen->password, strlen(sen->password));
        free(sen->password);
    }
    free(sen);
}

/* store_sentinel_cmd - one command on the kept context; the reply, or
 * NULL with why filled (and the context dropped on an I/O failure) */
static redisReply *
store_sentinel_cmd(struct store_sentinel *sen, int argc, const char **argv,
                   char *why, size_t whylen)
{
    redisReply *r = redisCommandArgv(sen->c, argc, argv, NULL);

    if (r == NULL) {
        snprintf(why, whylen, "%s %s: %s", argv[0], argv[1],
                 sen->c->err ? sen->c->errstr : "no reply");
        redisFree(sen->c);
        sen->c = NULL;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "%s %s: %.100s", argv[0], argv[1], r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* store_sentinel_str - a bulk string of at most STORE_SENTINEL_MAX_VALUE
 * bytes without NULs, or NULL */
static const char *
store_sentinel_str(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len > STORE_SENTINEL_MAX_VALUE ||
        strlen(r->str) != r->len)
        return NULL;
    return r->str;
}

/* store_sentinel_field - the value of name in a flat field/value array
 * (what SENTINEL master and each SENTINEL replicas entry are), or NULL */
static const char *
store_sentinel_field(const redisReply *r, const char *name)
{
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const char *k = store_sentinel_str(r->element[i]);

        if (k != NULL && strcmp(k, name) == 0)
            return store_sentinel_str(r->element[i + 1]);
    }
    return NULL;
}

/* store_sentinel_entry_ok - a flat array of a bounded, even size */
static int
store_sentinel_entry_ok(const redisReply *r)
{
    return r->type == REDIS_REPLY_ARRAY &&
           r->elements <= STORE_SENTINEL_MAX_FIELDS && r->elements % 2 == 0;
}

/* store_sentinel_primary - SENTINEL get-master-addr-by-name: two short
 * strings, or nil for a name the sentinel does not monitor; 0 or -1 */
static int
store_sentinel_primary(struct store_sentinel *sen,
                       struct store_sentinel_view *v, char *why,
                       size_t whylen)
{
    const char *argv[] = { "SENTINEL", "get-master-addr-by-name",
                           sen->master };
    const char *host, *port;
    redisReply *r;
    int rc = -1;

    if ((r = store_sentinel_cmd(sen, 3, argv, why, whylen)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_NIL)
        snprintf(why, whylen, "it monitors no master named %s",
                 sen->master);
    else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
             (host = store_sentinel_str(r->element[0])) == NULL ||
             (port = store_sentinel_str(r->element[1])) == NULL ||
             store_server_set(&v->primary, host, strlen(host), port) != 0)
        snprintf(why, whylen, "get-master-addr-by-name %s: unexpected "
                 "reply", sen->master);
    else
        rc = 0;
    freeReplyObject(r);
    return rc;
}

/* store_sentinel_nreplicas - num-slaves of SENTINEL master (a reply of
 * a fixed set of fields); -1 when the reply is not one */
static long
store_sentinel_nreplicas(struct store_sentinel *sen, char *why,
                         size_t whylen)
{
    const char *argv[] = { "SENTINEL", "master", sen->master };
    const char *num;
    redisReply *r;
    long n = -1;

    if ((r = store_sentinel_cmd(sen, 3, argv, why, whylen)) == NULL)
        return -1;
    if (!store_sentinel_entry_ok(r) ||
        (num = store_sentinel_field(r, "num-slaves")) == NULL ||
        util_parse_long(num, 0, LONG_MAX, &n) != 0) {
        snprintf(why, whylen, "SENTINEL master %s: unexpected reply",
                 sen->master);
        n = -1;
    }
    freeReplyObject(r);
    return n;
}

/*
 * store_sentinel_replica - one SENTINEL replicas entry into v when it is
 * of use: flags exactly "slave" (no s_down, o_down, disconnected or
 * promoted) and its link to the primary up, so that a replica still
 * loading its first copy serves no empty reads. While the primary is
 * down no link is, and the reads wait for the failover with the writes
 * (the model in memory scores on).
 */
static void
store_sentinel_replica(const redisReply *e, struct store_sentinel_view *v)
{
    const char *flags, *link, *ip, *port;

    if (v->nrep == STORE_MAX_SERVERS - 1 || !store_sentinel_entry_ok(e) ||
        (flags = store_sentinel_field(e, "flags")) == NULL ||
        (link = store_sentinel_field(e, "master-link-status")) == NULL ||
        (ip = store_sentinel_field(e, "ip")) == NULL ||
        (port = store_sentinel_field(e, "port")) == NULL)
        return;
    if (strcmp(flags, "slave") != 0 || strcmp(link, "ok") != 0)
        return;
    if (store_server_set(&v->rep[v->nrep], ip, strlen(ip), port) == 0)
        v->nrep++;
}

/*
 * store_sentinel_replicas - the healthy replicas into v. The count
 * comes first, so that the list, whose size grows with it, is asked for
 * only when it is small; more than STORE_SENTINEL_MAX_REPLICAS and the
 * reads stay on the primary (logged). 0 or -1.
 */
static int
store_sentinel_replicas(struct store_sentinel *sen,
                        struct store_sentinel_view *v, char *why,
                        size_t whylen)
{
    const char *argv[] = { "SENTINEL", "replicas", sen->master };
    long n = store_sentinel_nreplicas(sen, why, whylen);
    redisReply *r;

    if (n < 0)
        return -1;
    v->have_replicas = 1;
    if (n == 0)
        return 0;
    if (n > STORE_SENTINEL_MAX_REPLICAS) {
        log_limited(&sen->lim, "store: sentinel: %s has %ld replicas, more "
                    "than the %d listed; model reads go to the primary",
                    sen->master, n, STORE_SENTINEL_MAX_REPLICAS);
        return 0;
    }
    if ((r = store_sentinel_cmd(sen, 3, argv, why, whylen)) == NULL) {
        if (sen->c == NULL)
            return -1;
        argv[1] = "slaves"; /* the name before Redis 5 */
        if ((r = store_sentinel_cmd(sen, 3, argv, why, whylen)) == NULL)
            return -1;
    }
    /* a replica or two may have come since the count */
    if (r->type != REDIS_REPLY_ARRAY ||
        r->elements > STORE_SENTINEL_MAX_REPLICAS + 2) {
        snprintf(why, whylen, "SENTINEL replicas %s: unexpected reply",
                 sen->master);
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < r->elements; i++)
        store_sentinel_replica(r->element[i], v);
    freeReplyObject(r);
    return 0;
}

/* store_sentinel_ask - one round: the sentinels in turn until one names
 * the primary (and the replicas); 0, or -1 after logging why */
static int
store_sentinel_ask(struct store *st, struct store_sentinel *sen,
                   size_t first, struct store_sentinel_view *v)
{
    char why[STORE_WHY_MAX], name[STORE_MAX_HOST + 16];

    for (size_t k = 0; k < sen->nsen; k++) {
        size_t i = (first + k) % sen->nsen;

        if (sen->c != NULL && sen->cur != i) {
            redisFree(sen->c);
            sen->c = NULL;
        }
        if (sen->c == NULL) {
            sen->c = store_connect_one(st, &sen->sen[i], sen->password, -1,
                                       why, sizeof(why));
            sen->cur = i;
        }
        memset(v, 0, sizeof(*v));
        store_server_name(&sen->sen[i], name, sizeof(name));
        if (sen->c == NULL ||
            store_sentinel_primary(sen, v, why, sizeof(why)) != 0) {
            metrics_redis_error(METRICS_REDIS_SENTINEL);
            log_limited(&sen->lim, "store: sentinel %s: %s", name, why);
            continue;
        }
        v->from = i;
        /* without the replicas the reads stay where they are */
        if (sen->reads &&
            store_sentinel_replicas(sen, v, why, sizeof(why)) != 0) {
            log_limited(&sen->lim, "store: sentinel %s: %s", name, why);
            v->have_replicas = 0;
            v->nrep = 0;
        }
        return 0;
    }
    return -1;
}

/* store_sentinel_same - two server lists are the same */
static int
store_sentinel_same(const struct store_server *a, size_t na,
                    const struct store_server *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].port != b[i].port || strcmp(a[i].host, b[i].host) != 0)
            return 0;
    return 1;
}

/*
 * store_sentinel_set - role r's servers become srv (lock held); when
 * they changed, the generation moves on, the idle contexts go to *dead
 * (freed by the caller, without the lock) and the backoff ends: the
 * failures were the old servers'. Returns whether they changed.
 */
static int
store_sentinel_set(struct store_role *r, const struct store_server *srv,
                   size_t n, redisContext **dead, size_t *ndead)
{
    if (store_sentinel_same(r->srv, r->nsrv, srv, n))
        return 0;
    memcpy(r->srv, srv, n * sizeof(srv[0]));
    r->nsrv = n;
    r->gen++;
    memcpy(dead + *ndead, r->idle, r->nidle * sizeof(dead[0]));
    *ndead += r->nidle;
    r->nidle = 0;
    r->backoff_ms = 0;
    r->retry_at_ms = 0;
    return 1;
}

/* store_sentinel_list - servers as "a:1, b:2" for a log line */
static void
store_sentinel_list(const struct store_server *srv, size_t n, char *buf,
                    size_t len)
{
    char name[STORE_MAX_HOST + 16];
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        store_server_name(&srv[i], name, sizeof(name));
        used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                 i ? ", " : "", name);
    }
}

/* store_sentinel_say - log what moved; who is the calling thread's name
 * (each thread of the daemon has a store of its own) */
static void
store_sentinel_say(struct store *st, const struct store_sentinel_view *v,
                   const struct store_server *old, size_t nold, int moved_w,
                   const struct store_server *reads, size_t nreads,
                   int moved_r)
{
    struct store_sentinel *sen = st->sen;
    char who[32] = "", from[STORE_MAX_HOST + 16], now[STORE_MAX_HOST + 16];
    char was[STORE_MAX_HOST + 16], list[STORE_MAX_SERVERS * 64];

    (void)pthread_getname_np(pthread_self(), who, sizeof(who));
    store_server_name(&sen->sen[v->from], from, sizeof(from));
    store_server_name(&v->primary, now, sizeof(now));
    if (moved_w && nold == 0)
        log_info("store: sentinel: primary of %s is %s (sentinel %s; %s)",
                 sen->master, now, from, who);
    else if (moved_w) {
        store_server_name(&old[0], was, sizeof(was));
        log_info("store: sentinel: primary of %s moved from %s to %s "
                 "(sentinel %s; %s)", sen->master, was, now, from, who);
    }
    if (moved_r) {
        store_sentinel_list(reads, nreads, list, sizeof(list));
        log_info("store: sentinel: model reads of %s go to %s (%s)",
                 sen->master, list, who);
    }
}

/* store_sentinel_refresh - ask when due, and apply what they said */
void
store_sentinel_refresh(struct store *st)
{
    struct store_sentinel *sen = st->sen;
    struct store_sentinel_view v;
    struct store_server old[STORE_MAX_SERVERS], reads[STORE_MAX_SERVERS];
    redisContext *dead[2 * STORE_POOL_IDLE];
    size_t first, nold = 0, nreads = 0, ndead = 0;
    int64_t now = util_now_ms();
    int rc, moved_w = 0, moved_r = 0;

    if (sen == NULL)
        return;
    pthread_mutex_lock(&st->lock);
    if (sen->busy || now < sen->ask_at_ms) {
        pthread_mutex_unlock(&st->lock);
        return;
    }
    sen->busy = 1;
    first = sen->first;
    pthread_mutex_unlock(&st->lock);

    rc = store_sentinel_ask(st, sen, first, &v);
    if (rc == 0) {
        /* reads: the healthy replicas, then the primary as a last
         * resort (store_connect takes the first that answers) */
        memcpy(reads, v.rep, v.nrep * sizeof(reads[0]));
        nreads = v.nrep;
        reads[nreads++] = v.primary;
        if (log_limit_end(&sen->lim) > 0)
            log_info("store: sentinel: the sentinels answer again");
    }

    pthread_mutex_lock(&st->lock);
    sen->busy = 0;
    now = util_now_ms();
    if (rc == 0) {
        sen->first = v.from;
        sen->ask_at_ms = now + STORE_SENTINEL_REFRESH_MS;
        nold = st->role[0].nsrv;
        memcpy(old, st->role[0].srv, nold * sizeof(old[0]));
        moved_w = store_sentinel_set(&st->role[0], &v.primary, 1, dead,
                                     &ndead);
        /* no replicas known, not even once: read from the primary */
        if (sen->reads && (v.have_replicas || st->role[1].nsrv == 0))
            moved_r = store_sentinel_set(&st->role[1], reads, nreads, dead,
                                         &ndead);
    } else {
        sen->ask_at_ms = now + STORE_SENTINEL_RETRY_MS;
    }
    pthread_mutex_unlock(&st->lock);

    for (size_t i = 0; i < ndead; i++)
        redisFree(dead[i]);
    if (moved_w && nold > 0)
        metrics_sentinel_switch();
    if (moved_w || moved_r)
        store_sentinel_say(st, &v, old, nold, moved_w, reads, nreads,
                           moved_r);
}

/* store_sentinel_failed - ask again soon after a failure on role r */
void
store_sentinel_failed(struct store *st, struct store_role *r)
{
    struct store_sentinel *sen = st->sen;
    int64_t soon;

    if (sen == NULL)
        return;
    soon = util_now_ms() + STORE_SENTINEL_RETRY_MS;
    pthread_mutex_lock(&st->lock);
    if (sen->ask_at_ms > soon)
        sen->ask_at_ms = soon;
    /* the next round starts at another sentinel: the one that named the
     * primary that fails may be one that lags behind a failover */
    if (r == &st->role[0])
        sen->first = (sen->first + 1) % sen->nsen;
    pthread_mutex_unlock(&st->lock);
}

/* store_sentinel_verify - a write context must reach a primary */
int
store_sentinel_verify(const struct store *st, const struct store_role *r,
                      redisContext *c, char *why, size_t whylen)
{
    const char *argv[] = { "EVAL", store_lua_role, "0" };
    redisReply *rep;
    int rc = -1;

    if (st->sen == NULL || r != &st->role[0])
        return 0;
    if ((rep = redisCommandArgv(c, 3, argv, NULL)) == NULL) {
        snprintf(why, whylen, "role check: %s",
                 c->err ? c->errstr : "no reply");
        return -1;
    }
    if (rep->type == REDIS_REPLY_ERROR)
        snprintf(why, whylen, "role check: %.100s", rep->str);
    else if (store_sentinel_str(rep) == NULL)
        snprintf(why, whylen, "role check: unexpected reply");
    else if (strcmp(rep->str, "master") != 0)
        snprintf(why, whylen, "not a primary (it says role %s); the "
                 "sentinels may not have seen a failover yet", rep->str);
    else
        rc = 0;
    freeReplyObject(rep);
    return rc;
}
