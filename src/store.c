/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store - the transport under every Redis command of neural-milter:
 * server lists, a pool of hiredis contexts per role (write, read) under
 * one mutex, connect with backoff, one command on a checked-out context.
 * Any thread; a context belongs to one thread between check-out and
 * check-in, and the mutex is never held across network I/O. The store
 * is the only module that includes <hiredis/hiredis.h> (store_model.c,
 * store_train.c, store_learn.c and store_instance.c hold the keys,
 * store_sentinel.c asks Sentinel where the servers are); it must not
 * include fann or zstd.
 */
#include "config.h"
#include "store_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "xmalloc.h"

#define STORE_MAX_PATH (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 5000

/* store_status_name - for logs */
const char *
store_status_name(enum store_status s)
{
    switch (s) {
    case STORE_OK:
        return "ok";
    case STORE_ABSENT:
        return "absent";
    case STORE_NOT_OURS:
        return "not ours";
    case STORE_CONFLICT:
        return "changed meanwhile";
    case STORE_ERR:
        break;
    }
    return "error";
}

/* store_tv - milliseconds as a struct timeval */
static struct timeval
store_tv(long ms)
{
    struct timeval tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* store_is_blank - a separator blank in a server list */
static int
store_is_blank(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* store_parse_port - 1..65535, digits only */
static int
store_parse_port(const char *s, int *port)
{
    long v;

    if (*s == '\0' || strspn(s, "0123456789") != strlen(s) ||
        strlen(s) > 5 || util_parse_long(s, 1, 65535, &v) != 0)
        return -1;
    *port = (int)v;
    return 0;
}

/* store_parse_server - one trimmed item: "/path", "[v6]:port", "host:port" */
static int
store_parse_server(const char *item, struct store_server *srv, char *err,
                   size_t errlen)
{
    static const char host_chars[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";
    const char *colon, *port;
    char host[STORE_MAX_HOST + 1];
    unsigned char v6[16];
    size_t hlen;

    if (item[0] == '/') {
        if (strlen(item) > STORE_MAX_PATH) {
            snprintf(err, errlen, "redis server %.40s...: socket path "
                     "longer than %zu bytes", item, STORE_MAX_PATH);
            return -1;
        }
        memcpy(srv->host, item, strlen(item) + 1);
        srv->port = 0;
        return 0;
    }
    if (item[0] == '[') {
        const char *close = strchr(item, ']');

        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "redis server '%s': want [address]:port",
                     item);
            return -1;
        }
        hlen = (size_t)(close - item - 1);
        port = close + 2;
        if (hlen == 0 || hlen > STORE_MAX_HOST) {
            snprintf(err, errlen, "redis server '%s': bad IPv6 address",
                     item);
            return -1;
        }
        memcpy(host, item + 1, hlen);
        host[hlen] = '\0';
        if (inet_pton(AF_INET6, host, v6) != 1) {
            snprintf(err, errlen, "redis server '%s': bad IPv6 address",
                     item);
            return -1;
        }
    } else {
        colon = strrchr(item, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "redis server '%s': want host:port, "
                     "[address]:port or /path.sock", item);
            return -1;
        }
        hlen = (size_t)(colon - item);
        port = colon + 1;
        if (hlen == 0 || hlen > STORE_MAX_HOST ||
            strspn(item, host_chars) != hlen) {
            snprintf(err, errlen, "redis server '%s': bad host name "
                     "(IPv6 addresses go in brackets)", item);
            return -1;
        }
        memcpy(host, item, hlen);
        host[hlen] = '\0';
    }
    if (store_parse_port(port, &srv->port) != 0) {
        snprintf(err, errlen, "redis server '%s': bad port", item);
        return -1;
    }
    memcpy(srv->host, host, hlen + 1);
    return 0;
}

/* store_server_set - a server from a host and a decimal port, as a
 * sentinel names it: an IPv6 address (without brackets) or a host name */
int
store_server_set(struct store_server *srv, const char *host, size_t hostlen,
                 const char *port)
{
    char item[STORE_MAX_HOST + 16], err[STORE_WHY_MAX];

    if (hostlen == 0 || hostlen > STORE_MAX_HOST || host[0] == '/' ||
        host[0] == '[' || memchr(host, '\0', hostlen) != NULL ||
        strlen(port) > 5)
        return -1;
    snprintf(item, sizeof(item), memchr(host, ':', hostlen) ? "[%.*s]:%s"
                                                             : "%.*s:%s",
             (int)hostlen, host, port);
    return store_parse_server(item, srv, err, sizeof(err));
}

/* store_parse_servers - a comma-separated list into srv, *n of them */
int
store_parse_servers(const char *list, const char *what,
                    struct store_server *srv, size_t *n, char *err,
                    size_t errlen)
{
    char *copy = xstrdup(list), *p = copy, *item, *comma;
    int rc = 0;

    for (;;) {
        if ((comma = strchr(p, ',')) != NULL)
            *comma = '\0';
        while (store_is_blank(*p))
            p++;
        item = p;
        p += strlen(p);
        while (p > item && store_is_blank(p[-1]))
            *--p = '\0';
        if (*item == '\0') {
            snprintf(err, errlen, "redis %s '%s': empty entry", what, list);
            rc = -1;
            break;
        }
        if (*n == STORE_MAX_SERVERS) {
            snprintf(err, errlen, "redis %s: more than %d", what,
                     STORE_MAX_SERVERS);
            rc = -1;
            break;
        }
        if (store_parse_server(item, &srv[*n], err, errlen) != 0) {
            rc = -1;
            break;
        }
        (*n)++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    free(copy);
    return rc;
}

/* store_prefix_ok - [A-Za-z0-9_.:-]{1,STORE_MAX_PREFIX} */
static int
store_prefix_ok(const char *s)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-";
    size_t n = strlen(s);

    return n >= 1 && n <= STORE_MAX_PREFIX && strspn(s, ok) == n;
}

/* store_new - check and copy the options */
struct store *
store_new(const struct store_opts *opts, char *err, size_t errlen)
{
    struct store *st = xcalloc(1, sizeof(*st));

    st->role[0].name = "servers"; /* as the config keys say */
    st->role[1].name = "read_servers";
    st->rd = &st->role[0];
    if (pthread_mutex_init(&st->lock, NULL) != 0) {
        snprintf(err, errlen, "redis: cannot make a mutex");
        free(st);
        return NULL;
    }
    if (store_sentinel_new(st, opts, err, errlen) != 0)
        goto fail;
    if (st->sen != NULL) {
        /* the sentinels fill both roles (store_sentinel_refresh) */
        st->rd = &st->role[1];
    } else if (opts->servers == NULL || opts->servers[0] == '\0') {
        snprintf(err, errlen, "redis servers: none given");
        goto fail;
    } else if (store_parse_servers(opts->servers, "servers",
                                   st->role[0].srv, &st->role[0].nsrv, err,
                                   errlen) != 0) {
        goto fail;
    }
    if (opts->read_servers != NULL && opts->read_servers[0] != '\0') {
        if (store_parse_servers(opts->read_servers, "read_servers",
                                st->role[1].srv, &st->role[1].nsrv, err,
                                errlen) != 0)
            goto fail;
        st->rd = &st->role[1];
    }
    if (opts->prefix == NULL || !store_prefix_ok(opts->prefix)) {
        snprintf(err, errlen, "redis prefix '%s': want 1 to %d of "
                 "A-Z a-z 0-9 _ . : -", opts->prefix ? opts->prefix : "",
                 STORE_MAX_PREFIX);
        goto fail;
    }
    memcpy(st->prefix, opts->prefix, strlen(opts->prefix) + 1);
    if (opts->db < 0 || opts->db > INT_MAX) {
        snprintf(err, errlen, "redis db %ld: out of range", opts->db);
        goto fail;
    }
    st->db = opts->db;
    if (opts->timeout_ms <= 0 || opts->connect_timeout_ms <= 0) {
        snprintf(err, errlen, "redis timeouts must be positive");
        goto fail;
    }
    st->timeout = store_tv(opts->timeout_ms);
    st->connect_timeout = store_tv(opts->connect_timeout_ms);
    if (opts->password != NULL && opts->password[0] != '\0')
        st->password = xstrdup(opts->password);
    if (opts->username != NULL && opts->username[0] != '\0')
        st->username = xstrdup(opts->username);
    return st;

fail:
    store_free(st);
    return NULL;
}

/* store_role_clear - free a role's idle contexts */
static void
store_role_clear(struct store_role *r)
{
    for (size_t i = 0; i < r->nidle; i++)
        redisFree(r->idle[i]);
    r->nidle = 0;
    r->nsrv = 0;
}

/* store_free - close everything; no context may be checked out */
void
store_free(struct store *st)
{
    if (st == NULL)
        return;
    store_role_clear(&st->role[0]);
    store_role_clear(&st->role[1]);
    store_sentinel_free(st->sen);
    if (st->password != NULL) {
        explicit_bzero(st->password, strlen(st->password));
        free(st->password);
    }
    free(st->username);
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* store_server_name - "host:port", "[v6]:port" or the path, for logs */
void
store_server_name(const struct store_server *srv, char *buf, size_t len)
{
    if (srv->port == 0)
        snprintf(buf, len, "%s", srv->host);
    else if (strchr(srv->host, ':') != NULL)
        snprintf(buf, len, "[%s]:%d", srv->host, srv->port);
    else
        snprintf(buf, len, "%s:%d", srv->host, srv->port);
}

/* store_setup_cmd - one command while connecting; 0 when the reply is
 * the status want, else -1 with the reason in why */
static int
store_setup_cmd(redisContext *c, int argc, const char **argv, const char *want,
                char *why, size_t whylen)
{
    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    int rc = -1;

    if (r == NULL)
        snprintf(why, whylen, "%s: %s", argv[0], c->errstr);
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(why, whylen, "%s: %s", argv[0], r->str);
    else if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, want) != 0)
        snprintf(why, whylen, "%s: unexpected reply", argv[0]);
    else
        rc = 0;
    freeReplyObject(r);
    return rc;
}

/* store_connect_one - connect to srv, set the timeout, AUTH, SELECT */
redisContext *
store_connect_one(const struct store *st, const struct store_server *srv,
                  const char *password, long db_index, char *why,
                  size_t whylen)
{
    redisContext *c;
    char db[24];

    /* XXX: a host name is resolved by getaddrinfo() inside hiredis, which
     * the connect timeout does not bound; use addresses or a local
     * resolver when that matters. */
    if (srv->port == 0)
        c = redisConnectUnixWithTimeout(srv->host, st->connect_timeout);
    else
        c = redisConnectWithTimeout(srv->host, srv->port,
                                    st->connect_timeout);
    if (c == NULL) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    if (c->err != 0) {
        snprintf(why, whylen, "%s", c->errstr);
        goto fail;
    }
    if (redisSetTimeout(c, st->timeout) != REDIS_OK) {
        snprintf(why, whylen, "cannot set the timeout: %s", c->errstr);
        goto fail;
    }
    if (password != NULL) {
        /* an ACL user (Redis 6 and later) names itself; the default
         * user takes the one-argument form every version knows. The
         * sentinels (their own password) know no [redis] username. */
        const char *user = password == st->password ? st->username : NULL;
        const char *argv[] = { "AUTH", user ? user : password, password };

        if (store_setup_cmd(c, user ? 3 : 2, argv, "OK", why, whylen) != 0)
            goto fail;
    }
    if (db_index > 0) {
        const char *argv[] = { "SELECT", db };

        snprintf(db, sizeof(db), "%ld", db_index);
        if (store_setup_cmd(c, 2, argv, "OK", why, whylen) != 0)
            goto fail;
    }
    return c;

fail:
    redisFree(c);
    return NULL;
}

/* store_connect - the first server of role r that lets us in (and,
 * with Sentinel, is what the role wants), or NULL; no lock held: the
 * list is copied under it, since the sentinels may rewrite it */
static redisContext *
store_connect(struct store *st, struct store_role *r)
{
    char name[STORE_MAX_HOST + 16], why[STORE_WHY_MAX];
    struct store_server srv[STORE_MAX_SERVERS];
    redisContext *c;
    size_t n;

    pthread_mutex_lock(&st->lock);
    n = r->nsrv;
    memcpy(srv, r->srv, n * sizeof(srv[0]));
    pthread_mutex_unlock(&st->lock);
    if (n == 0)
        log_limited(&st->lim_connect, "store: %s: none known yet (no "
                    "sentinel answered)", r->name);
    for (size_t i = 0; i < n; i++) {
        c = store_connect_one(st, &srv[i], st->password, st->db, why,
                              sizeof(why));
        if (c != NULL &&
            store_sentinel_verify(st, r, c, why, sizeof(why)) == 0)
            return c;
        metrics_redis_error(c ? METRICS_REDIS_ROLE : METRICS_REDIS_CONNECT);
        redisFree(c);
        store_server_name(&srv[i], name, sizeof(name));
        log_limited(&st->lim_connect, "store: connect %s: %s", name, why);
    }
    return NULL;
}

/* How a context came out of store_checkout. */
enum store_origin {
    STORE_POOLED, /* idle in the pool */
    STORE_FRESH,  /* a new connection, no failure on record */
    STORE_PROBE   /* a new connection that ends a backoff period */
};

/* What a failure says about a role's servers. */
enum store_verdict {
    STORE_STALE,  /* an idle connection had died: drop the others */
    STORE_DOWN,   /* servers failing: drop the others and back off */
    STORE_PROBE_DOWN /* the probe failed too: back off longer */
};

/*
 * store_backoff - record that role r failed; lock held. The first
 * failure waits STORE_BACKOFF_MIN_MS, each failed probe doubles it up
 * to STORE_BACKOFF_MAX_MS. Other callers failing during the same
 * outage (they connected before it was noticed) change nothing, so a
 * burst of them does not jump straight to the maximum.
 */
static void
store_backoff(struct store_role *r, int64_t now, int probe)
{
    if (r->backoff_ms == 0) {
        r->backoff_ms = STORE_BACKOFF_MIN_MS;
        r->down_since_ms = now;
    }
    else if (!probe)
        return;
    else if (r->backoff_ms < STORE_BACKOFF_MAX_MS / 2)
        r->backoff_ms *= 2;
    else
        r->backoff_ms = STORE_BACKOFF_MAX_MS;
    r->retry_at_ms = now + r->backoff_ms;
}

/* store_role_failed - drop role r's idle contexts, which are likely dead
 * too, and back off unless v is STORE_STALE */
static void
store_role_failed(struct store *st, struct store_role *r,
                  enum store_verdict v)
{
    redisContext *dead[STORE_POOL_IDLE];
    size_t ndead;

    pthread_mutex_lock(&st->lock);
    if (v != STORE_STALE)
        store_backoff(r, util_now_ms(), v == STORE_PROBE_DOWN);
    ndead = r->nidle;
    memcpy(dead, r->idle, ndead * sizeof(dead[0]));
    r->nidle = 0;
    pthread_mutex_unlock(&st->lock);
    for (size_t i = 0; i < ndead; i++)
        redisFree(dead[i]);
}

/* store_role_ok - a probe got answers from c's server: end the backoff
 * of role r, and say so, since the failures were logged */
static void
store_role_ok(struct store *st, struct store_role *r, const redisContext *c)
{
    char name[STORE_MAX_HOST + 16];
    int64_t since;

    pthread_mutex_lock(&st->lock);
    since = r->backoff_ms > 0 ? r->down_since_ms : -1;
    r->backoff_ms = 0;
    r->retry_at_ms = 0;
    pthread_mutex_unlock(&st->lock);
    if (since < 0)
        return; /* another probe of the same outage said it already */
    if (c->connection_type == REDIS_CONN_UNIX)
        snprintf(name, sizeof(name), "%s", c->unix_sock.path);
    else if (strchr(c->tcp.host, ':') != NULL)
        snprintf(name, sizeof(name), "[%s]:%d", c->tcp.host, c->tcp.port);
    else
        snprintf(name, sizeof(name), "%s:%d", c->tcp.host, c->tcp.port);
    log_info("store: %s answers again after %.0f s", name,
             (double)(util_now_ms() - since) / 1000.0);
}

/* store_alive - an idle context whose server has not closed it: nothing
 * to read yet, no EOF, no error */
static int
store_alive(redisContext *c)
{
    char b;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * store_checkout - a context of role r for this thread: an idle one or
 * a new connection (*origin says which). NULL while backing off after a
 * failure (one caller per backoff period probes the servers, the others
 * fail at once) or when no server lets us in.
 */
static redisContext *
store_checkout(struct store *st, struct store_role *r,
               enum store_origin *origin, unsigned *gen)
{
    redisContext *c = NULL;
    int64_t now = util_now_ms();
    long wait_ms = 0;

    *origin = STORE_FRESH;
    pthread_mutex_lock(&st->lock);
    *gen = r->gen;
    if (r->nidle > 0) {
        c = r->idle[--r->nidle];
    } else if (r->backoff_ms > 0) {
        if (now < r->retry_at_ms) {
            wait_ms = (long)(r->retry_at_ms - now);
        } else {
            /* This caller probes; the others keep failing fast. */
            r->retry_at_ms = now + r->backoff_ms;
            *origin = STORE_PROBE;
        }
    }
    pthread_mutex_unlock(&st->lock);
    if (c != NULL && store_alive(c)) {
        *origin = STORE_POOLED;
        return c;
    }
    if (c != NULL) {
        /* Closed by the server (a restart?): so are the others. Checked
         * before sending, so no command is lost on a dead socket. */
        redisFree(c);
        store_role_failed(st, r, STORE_STALE);
        log_debug("store: dropped dead idle %s connections", r->name);
    }
    if (wait_ms > 0) {
        log_limited(&st->lim_backoff, "store: %s failed; next "
                    "attempt in %ld ms", r->name, wait_ms);
        return NULL;
    }
    if ((c = store_connect(st, r)) == NULL) {
        pthread_mutex_lock(&st->lock);
        store_backoff(r, util_now_ms(), *origin == STORE_PROBE);
        pthread_mutex_unlock(&st->lock);
    }
    return c;
}

/* store_checkin - give a healthy context back to role r's pool, unless
 * the role's servers changed since it was checked out (gen) */
static void
store_checkin(struct store *st, struct store_role *r, redisContext *c,
              unsigned gen)
{
    pthread_mutex_lock(&st->lock);
    if (r->nidle < STORE_POOL_IDLE && gen == r->gen) {
        r->idle[r->nidle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&st->lock);
    if (c != NULL)
        redisFree(c);
}

/*
 * store_sigpipe_block - hiredis writes with write(2), so a server that
 * went away would raise SIGPIPE and kill a process that does not ignore
 * it (the admin tool). Block it in this thread around the I/O; returns
 * whether one was already pending, for store_sigpipe_restore.
 */
static int
store_sigpipe_block(sigset_t *old)
{
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    (void)sigpending(&pending);
    pthread_sigmask(SIG_BLOCK, &set, old);
    return sigismember(&pending, SIGPIPE) == 1;
}

/* store_sigpipe_restore - swallow a SIGPIPE our I/O raised, then restore
 * the thread's mask */
static void
store_sigpipe_restore(const sigset_t *old, int was_pending)
{
    static const struct timespec zero = { 0, 0 };
    sigset_t set, pending;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigemptyset(&pending);
    if (!was_pending && sigpending(&pending) == 0 &&
        sigismember(&pending, SIGPIPE) == 1) {
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            continue;
    }
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* store_stale - the server closed the connection (a restart, an idle
 * timeout) before it could have run the command: worth one retry */
static int
store_stale(const struct store_call *call)
{
    return call->c->err == REDIS_ERR_EOF ||
           (call->c->err == REDIS_ERR_IO &&
            (call->io_errno == EPIPE || call->io_errno == ECONNRESET));
}

/* store_error_kind - what a failed call met, for the metrics */
static enum metrics_redis
store_error_kind(const struct store_call *call)
{
    if (call->c->err != 0)
        return call->timed_out ? METRICS_REDIS_TIMEOUT : METRICS_REDIS_IO;
    return call->error_reply ? METRICS_REDIS_REPLY : METRICS_REDIS_REFUSED;
}

/*
 * store_run - run op on a context of role r. A context that had an I/O
 * error or a failed command is freed, never pooled. A pooled context
 * found dead gets one retry on a new connection when the op is
 * idempotent. Logs the failure once, rate-limited.
 */
int
store_run(struct store *st, struct store_role *r, store_op_fn *op, void *arg,
          int idempotent)
{
    struct store_call call;
    enum store_origin origin;
    sigset_t oldmask;
    unsigned gen;
    int rc, pending, stale;

    pending = store_sigpipe_block(&oldmask);
    store_sentinel_refresh(st);
    for (int attempt = 0;; attempt++) {
        memset(&call, 0, sizeof(call));
        call.st = st;
        if ((call.c = store_checkout(st, r, &origin, &gen)) == NULL) {
            rc = -1;
            break;
        }
        rc = op(&call, arg);
        if (rc >= 0 || call.c->err == 0) {
            /* Answered, even if with an error: the server is up. */
            if (origin == STORE_PROBE)
                store_role_ok(st, r, call.c);
            if (rc >= 0) {
                store_checkin(st, r, call.c, gen);
                break;
            }
            metrics_redis_error(store_error_kind(&call));
            redisFree(call.c);
            log_limited(&st->lim_command, "store: %s: %s", call.what,
                        call.why);
            break;
        }
        /* store_stale() reads the context: ask before freeing it. */
        stale = origin == STORE_POOLED && store_stale(&call);
        metrics_redis_error(store_error_kind(&call));
        redisFree(call.c);
        if (stale) {
            store_role_failed(st, r, STORE_STALE);
            if (idempotent && attempt == 0) {
                log_debug("store: %s: %s; retrying on a new connection",
                          call.what, call.why);
                continue;
            }
        } else {
            /* A timeout, or a new connection that failed: back off. */
            store_role_failed(st, r, origin == STORE_PROBE
                                         ? STORE_PROBE_DOWN : STORE_DOWN);
        }
        log_limited(&st->lim_command, "store: %s: %s", call.what, call.why);
        break;
    }
    if (rc < 0)
        store_sentinel_failed(st, r); /* the primary may have moved */
    store_sigpipe_restore(&oldmask, pending);
    return rc;
}

/* store_fail - fill the reason of a failed op; returns -1 */
int
store_fail(struct store_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int
store_fail(struct store_call *call, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(call->why, sizeof(call->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* store_digits - the decimal digits of n */
static size_t
store_digits(size_t n)
{
    size_t d = 1;

    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* store_put_header - "<c><n>\r\n" at p; returns the end */
static char *
store_put_header(char *p, char c, size_t n)
{
    size_t d = store_digits(n);

    *p++ = c;
    for (size_t i = d; i-- > 0; n /= 10)
        p[i] = (char)('0' + n % 10);
    p += d;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

/* store_format - the command's RESP in one buffer: hiredis formats each
 * argument's header with sdscatfmt() and appends it to a growing sds,
 * 700 instructions per kept message's two arguments */
char *
store_format(int argc, const char **argv, const size_t *argvlen, size_t *len)
{
    size_t n, a;
    char *buf, *p;

    if (argc < 1)
        return NULL;
    n = 1 + store_digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++) {
        a = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        /* "$", the digits, "\r\n", the bytes, "\r\n" */
        if (a > SIZE_MAX - 64 || n > SIZE_MAX - 64 - a)
            return NULL;
        n += 1 + store_digits(a) + 2 + a + 2;
    }
    p = buf = xmalloc(n);
    p = store_put_header(p, '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        a = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
        p = store_put_header(p, '$', a);
        if (a > 0)
            memcpy(p, argv[i], a);
        p += a;
        *p++ = '\r';
        *p++ = '\n';
    }
    *len = n;
    return buf;
}

/*
 * store_send - len bytes of a command to c's socket, as hiredis's
 * redisBufferWrite() writes its output buffer on a blocking context (a
 * failure, a timeout's EAGAIN included, is REDIS_ERR_IO with errno kept).
 * The command is not copied into that buffer first: a batch of kept
 * messages is 10-20 KB, and the copy cost an instruction a byte. The
 * buffer is empty here: redisGetReply() writes all of it before it
 * reads, and a context that failed is never used again.
 */
static int
store_send(redisContext *c, const char *cmd, size_t len)
{
    int e;

    for (size_t off = 0; off < len;) {
        ssize_t w = write(c->fd, cmd + off, len - off);

        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        e = w < 0 ? errno : EPIPE;
        c->err = REDIS_ERR_IO;
        snprintf(c->errstr, sizeof(c->errstr), "%s", strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

/* store_command - redisCommandArgv() with our RESP, sent as it is, then
 * the reply read (hiredis's own steps for a blocking context) */
static redisReply *
store_command(redisContext *c, int argc, const char **argv,
              const size_t *argvlen)
{
    void *reply = NULL;
    size_t len;
    char *cmd = store_format(argc, argv, argvlen, &len);
    int rc;

    if (cmd == NULL) {
        errno = EINVAL;
        return NULL;
    }
    rc = store_send(c, cmd, len);
    free(cmd);
    if (rc != 0 || redisGetReply(c, &reply) != REDIS_OK)
        return NULL;
    return reply;
}

/*
 * store_cmd - run one command; label and key name it in logs. Returns
 * the reply (caller frees) or NULL on an I/O failure or an error reply,
 * with call->what and call->why filled.
 */
redisReply *
store_cmd(struct store_call *call, const char *label, const char *key,
          int argc, const char **argv, const size_t *argvlen)
{
    redisReply *r;

    snprintf(call->what, sizeof(call->what), "%s%s%s", label,
             key[0] != '\0' ? " " : "", key);
    errno = 0;
    r = store_command(call->c, argc, argv, argvlen);
    if (r == NULL) {
        call->io_errno = errno;
        if (call->c->err == REDIS_ERR_IO &&
            (errno == EAGAIN || errno == EWOULDBLOCK)) {
            call->timed_out = 1;
            store_fail(call, "timed out");
        }
        else
            store_fail(call, "%s",
                       call->c->err ? call->c->errstr : "no reply");
        if (call->c->err == 0) /* cannot happen, but never pool it */
            call->c->err = REDIS_ERR_OTHER;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        call->error_reply = 1;
        store_fail(call, "%s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}


/* store_key - "PREFIX:suffix" */
void
store_key(const struct store *st, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%s", st->prefix, suffix);
}

/* store_reply_long - an integer reply, or a numeric bulk string */
int
store_reply_long(const redisReply *r, long *out)
{
    if (r->type == REDIS_REPLY_INTEGER) {
        *out = (long)r->integer;
        return 0;
    }
    if (r->type == REDIS_REPLY_NIL) {
        *out = 0;
        return 0;
    }
    if (r->type == REDIS_REPLY_STRING && strlen(r->str) == r->len)
        return util_parse_long(r->str, LONG_MIN, LONG_MAX, out);
    return -1;
}

/* store_op_eval - one script with an integer result */
int
store_op_eval(struct store_call *call, void *arg)
{
    struct store_eval_arg *a = arg;
    const char *argv[3 + 2 * STORE_EVAL_MAX];
    size_t lens[3 + 2 * STORE_EVAL_MAX];
    char nkeys[8];
    int argc = 0;
    redisReply *r;

    snprintf(nkeys, sizeof(nkeys), "%d", a->nkeys);
    argv[argc] = "EVAL";
    lens[argc++] = 4;
    argv[argc] = a->script;
    lens[argc++] = strlen(a->script);
    argv[argc] = nkeys;
    lens[argc++] = strlen(nkeys);
    for (int i = 0; i < a->nkeys; i++) {
        argv[argc] = a->keys[i];
        lens[argc++] = strlen(a->keys[i]);
    }
    for (int i = 0; i < a->nargs; i++) {
        argv[argc] = a->args[i];
        lens[argc++] = a->arglen[i] ? a->arglen[i] : strlen(a->args[i]);
    }
    if ((r = store_cmd(call, a->label, a->keys[0], argc, argv, lens)) == NULL)
        return -1;
    if (store_reply_long(r, &a->result) != 0) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    freeReplyObject(r);
    return 0;
}


/* store_op_simple - one command, reply handed back */
int
store_op_simple(struct store_call *call, void *arg)
{
    struct store_simple_arg *a = arg;

    a->reply = store_cmd(call, a->label, a->argc > 1 ? a->argv[1] : "",
                         a->argc, a->argv, NULL);
    return a->reply == NULL ? -1 : 0;
}


/* store_op_ping - PING, want PONG */
static int
store_op_ping(struct store_call *call, void *arg)
{
    const char *argv[] = { "PING" };
    redisReply *r;
    int ok;

    (void)arg;
    if ((r = store_cmd(call, "PING", "", 1, argv, NULL)) == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    return ok ? 0 : store_fail(call, "unexpected reply");
}

/* store_ping - a write server answers */
int
store_ping(struct store *st)
{
    return store_run(st, &st->role[0], store_op_ping, NULL, 1);
}

/* store_describe - where commands go, for the admin tool */
void
store_describe(struct store *st, char *buf, size_t len)
{
    struct store_server srv[2][STORE_MAX_SERVERS];
    size_t n[2], used = 0;
    char name[STORE_MAX_HOST + 16];

    store_sentinel_refresh(st);
    pthread_mutex_lock(&st->lock);
    for (int i = 0; i < 2; i++) {
        n[i] = st->role[i].nsrv;
        memcpy(srv[i], st->role[i].srv, n[i] * sizeof(srv[i][0]));
    }
    pthread_mutex_unlock(&st->lock);
    buf[0] = '\0';
    for (int i = 0; i < 2; i++) {
        if (i == 1 && st->rd == &st->role[0])
            break;
        if (used >= len)
            break;
        used += (size_t)snprintf(buf + used, len - used,
                                 "%s%s", i ? "; reads: " :
                                 st->sen ? "primary " : "servers ",
                                 n[i] ? "" : "none known");
        for (size_t k = 0; k < n[i] && used < len; k++) {
            store_server_name(&srv[i][k], name, sizeof(name));
            used += (size_t)snprintf(buf + used, len - used, "%s%s",
                                     k ? ", " : "", name);
        }
        if (i == 0 && st->sen != NULL && used < len)
            used += (size_t)snprintf(buf + used, len - used, " (Sentinel)");
    }
}
