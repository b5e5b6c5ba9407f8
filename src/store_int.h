/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store_int - what the parts of the store share and nobody else sees:
 * the pool's structs and the one way to run a command (store_run() on a
 * checked-out context, store_cmd() inside it). store.c is the transport
 * (server lists, pool, connect, backoff), store_sentinel.c the servers
 * Redis Sentinel names, store_model.c the model keys, store_train.c the
 * examples, the lock and the training outcome, store_learn.c the
 * replies and the reports, store_instance.c the heartbeats.
 */
#ifndef NM_STORE_INT_H
#define NM_STORE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "store.h"

#define STORE_MAX_HOST 255      /* a DNS name or an address literal */
#define STORE_POOL_IDLE 32      /* idle contexts kept per role */
#define STORE_KEY_MAX (STORE_MAX_PREFIX + 32)
#define STORE_WHY_MAX 160
#define STORE_EVAL_MAX 6        /* keys, and arguments, of one script */

struct store_server {
    char host[STORE_MAX_HOST + 1]; /* host name, address or socket path */
    int port;                   /* 0 for a unix socket */
};

struct store_role {
    /* set in store_new, then read-only */
    const char *name;           /* "servers" or "read_servers", for logs */

    /* protected by store.lock; without Sentinel set in store_new and
     * never changed, with it rewritten by store_sentinel_refresh() */
    struct store_server srv[STORE_MAX_SERVERS];
    size_t nsrv;
    unsigned gen;               /* bumped when srv changes: a context of
                                   an older generation is not pooled */

    /* protected by store.lock */
    redisContext *idle[STORE_POOL_IDLE];
    size_t nidle;
    long backoff_ms;            /* 0 = no failure on record */
    int64_t down_since_ms;      /* monotonic; the first failure of it */
    int64_t retry_at_ms;        /* monotonic; no connect before it */
};

struct store_sentinel;

struct store {
    /* set in store_new, then read-only */
    char prefix[STORE_MAX_PREFIX + 1];
    char *username;             /* NULL = the default user */
    char *password;             /* NULL = no AUTH */
    long db;
    struct timeval timeout;
    struct timeval connect_timeout;
    struct store_role *rd;      /* &role[1], or &role[0] without replicas */
    struct store_sentinel *sen; /* NULL: the servers are fixed */

    pthread_mutex_t lock;
    struct store_role role[2];  /* [0] write, [1] read; see store_role */

    /* one rate limit per kind of failure; atomic inside */
    struct log_limit lim_connect;
    struct log_limit lim_command;
    struct log_limit lim_backoff;
};

/* One call on one checked-out context: on the caller's stack. */
struct store_call {
    struct store *st;
    redisContext *c;
    char what[STORE_KEY_MAX + 32]; /* the failed command and key, for logs */
    char why[STORE_WHY_MAX];       /* why it failed */
    int io_errno;                  /* errno right after an I/O failure */
    int timed_out;                 /* the failure was the timeout */
    int error_reply;               /* Redis answered with an error */
};

/* An operation run by store_run() on a checked-out context: returns its
 * result (>= 0) or -1 with call->what and call->why filled. */
typedef int store_op_fn(struct store_call *call, void *arg);


/*
 * store_run - run op on a context of role r (checked out for this call,
 * checked in or freed after). A context that had an I/O error or a failed
 * command is freed, never pooled. A pooled context found dead gets one
 * retry on a new connection when the op is idempotent. Returns op's
 * result (>= 0) or -1; logs a failure once, rate-limited.
 */
int store_run(struct store *st, struct store_role *r, store_op_fn *op,
              void *arg, int idempotent);

/*
 * Server lists (store.c), shared with store_sentinel.c.
 * store_parse_servers - a comma-separated list into srv (at most
 * STORE_MAX_SERVERS); 0, or -1 with the reason in err.
 * store_server_set - one server from a host (an address in brackets
 * for IPv6 not included) and a port in decimal: 0 or -1.
 * store_server_name - "host:port", "[v6]:port" or the path, for logs.
 * store_connect_one - a context on srv: timeouts set, AUTH with
 * password (NULL: none), SELECT db (< 0: none); NULL with why filled.
 */
int store_parse_servers(const char *list, const char *what,
                        struct store_server *srv, size_t *n, char *err,
                        size_t errlen);
int store_server_set(struct store_server *srv, const char *host,
                     size_t hostlen, const char *port);
void store_server_name(const struct store_server *srv, char *buf,
                       size_t len);
redisContext *store_connect_one(const struct store *st,
                                const struct store_server *srv,
                                const char *password, long db, char *why,
                                size_t whylen);

/*
 * Redis Sentinel (store_sentinel.c). store_sentinel_new - parse the
 * sentinel options of o into st->sen (left NULL when o names no
 * sentinel); 0, or -1 with the reason in err. store_sentinel_free - NULL
 * does nothing. store_sentinel_refresh - when due (first use, a failure,
 * or every STORE_SENTINEL_REFRESH_MS), ask the sentinels for the primary
 * and its replicas and rewrite the roles' server lists when they moved,
 * logging the switch; one thread asks at a time, the others go on with
 * the lists they have. store_sentinel_failed - a call on role r failed:
 * ask again soon. store_sentinel_verify - a fresh context c on role r:
 * with Sentinel, the write role's server must say it is a primary (a
 * sentinel may lag behind a failover): 0 when it does or nothing needs
 * checking, -1 with why filled. Any thread; no lock held by the
 * caller.
 */
#define STORE_SENTINEL_REFRESH_MS 2000
#define STORE_SENTINEL_RETRY_MS 250
#define STORE_SENTINEL_MAX_REPLICAS 16 /* listed at most */
#define STORE_MAX_MASTER 64
int store_sentinel_new(struct store *st, const struct store_opts *o,
                       char *err, size_t errlen);
void store_sentinel_free(struct store_sentinel *sen);
void store_sentinel_refresh(struct store *st);
void store_sentinel_failed(struct store *st, struct store_role *r);
int store_sentinel_verify(const struct store *st, const struct store_role *r,
                          redisContext *c, char *why, size_t whylen);

/* store_fail - fill call->why from fmt; returns -1 (an op's failure). */
int store_fail(struct store_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * store_cmd - run one command on call's context; label and key name it
 * in logs. Returns the reply (caller frees) or NULL on an I/O failure or
 * an error reply, with call->what and call->why filled.
 */
redisReply *store_cmd(struct store_call *call, const char *label,
                      const char *key, int argc, const char **argv,
                      const size_t *argvlen);

/* store_via_role - the role a read via goes to. */
static inline struct store_role *
store_via_role(struct store *st, enum store_via via)
{
    return via == STORE_VIA_WRITE ? &st->role[0] : st->rd;
}

/* store_key - "PREFIX:suffix" into buf. */
void store_key(const struct store *st, const char *suffix, char *buf,
               size_t len);

/* store_reply_long - an integer reply, or a numeric bulk string (nil is
 * 0); 0 or -1. */
int store_reply_long(const redisReply *r, long *out);

/* One script with an integer result, run by store_op_eval(). */
struct store_eval_arg {
    const char *label;
    const char *script;
    int nkeys;
    const char *keys[STORE_EVAL_MAX];
    int nargs;
    const char *args[STORE_EVAL_MAX];
    size_t arglen[STORE_EVAL_MAX]; /* 0: strlen() */
    long result;
};
store_op_fn store_op_eval;

/* One command whose reply the caller reads (and frees), through
 * store_op_simple(). */
struct store_simple_arg {
    const char *label;
    int argc;
    const char *argv[6];
    redisReply *reply;        /* kept for the caller, who frees it */
};
store_op_fn store_op_simple;

/* store_lua_push_fn - the Lua functions nm_push(spam, key, tier, rec)
 * and nm_trim(cap) over KEYS[1..4] = ex:spam, ex:ham, ex:new, ex:rec
 * (store_train.c); store_script() returns them followed by body,
 * malloc'd. */
extern const char store_lua_push_fn[];
char *store_script(const char *body);

#endif /* NM_STORE_INT_H */
