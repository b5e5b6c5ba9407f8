/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * store - the Redis side of neural-milter: server lists, a pool of
 * hiredis contexts per role (write, read) under one mutex, connect with
 * backoff, the key schema and the model commands. Any thread; a context
 * belongs to one thread between check-out and check-in, and the mutex is
 * never held across network I/O. The only module that includes
 * <hiredis/hiredis.h>; it must not include fann or zstd headers.
 */
#include "config.h"
#include "store.h"

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

#include <hiredis/hiredis.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define STORE_MAX_HOST 255      /* a DNS name or an address literal */
#define STORE_MAX_PATH (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define STORE_POOL_IDLE 32      /* idle contexts kept per role */
#define STORE_BACKOFF_MIN_MS 100
#define STORE_BACKOFF_MAX_MS 5000
#define STORE_KEY_MAX (STORE_MAX_PREFIX + 32)
#define STORE_WHY_MAX 160

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

struct store_server {
    char *host;                 /* host name, address or socket path */
    int port;                   /* 0 for a unix socket */
};

struct store_role {
    /* set in store_new, then read-only */
    const char *name;           /* "servers" or "read_servers", for logs */
    struct store_server srv[STORE_MAX_SERVERS];
    size_t nsrv;

    /* protected by store.lock */
    redisContext *idle[STORE_POOL_IDLE];
    size_t nidle;
    long backoff_ms;            /* 0 = no failure on record */
    int64_t retry_at_ms;        /* monotonic; no connect before it */
};

struct store {
    /* set in store_new, then read-only */
    char prefix[STORE_MAX_PREFIX + 1];
    char *password;             /* NULL = no AUTH */
    long db;
    struct timeval timeout;
    struct timeval connect_timeout;
    struct store_role *rd;      /* &role[1], or &role[0] without replicas */

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
};

/* An operation run by store_run() on a checked-out context: returns its
 * result (>= 0) or -1 with call->what and call->why filled. */
typedef int store_op_fn(struct store_call *call, void *arg);

/* store_now_ms - monotonic milliseconds */
static int64_t
store_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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
        srv->host = xstrdup(item);
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
    srv->host = xstrdup(host);
    return 0;
}

/* store_parse_servers - a comma-separated list into role r */
static int
store_parse_servers(const char *list, struct store_role *r, char *err,
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
            snprintf(err, errlen, "redis servers '%s': empty entry", list);
            rc = -1;
            break;
        }
        if (r->nsrv == STORE_MAX_SERVERS) {
            snprintf(err, errlen, "redis servers: more than %d",
                     STORE_MAX_SERVERS);
            rc = -1;
            break;
        }
        if (store_parse_server(item, &r->srv[r->nsrv], err, errlen) != 0) {
            rc = -1;
            break;
        }
        r->nsrv++;
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
    if (opts->servers == NULL || opts->servers[0] == '\0') {
        snprintf(err, errlen, "redis servers: none given");
        goto fail;
    }
    if (store_parse_servers(opts->servers, &st->role[0], err, errlen) != 0)
        goto fail;
    if (opts->read_servers != NULL && opts->read_servers[0] != '\0') {
        if (store_parse_servers(opts->read_servers, &st->role[1], err,
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
    return st;

fail:
    store_free(st);
    return NULL;
}

/* store_role_clear - free a role's servers and idle contexts */
static void
store_role_clear(struct store_role *r)
{
    for (size_t i = 0; i < r->nidle; i++)
        redisFree(r->idle[i]);
    r->nidle = 0;
    for (size_t i = 0; i < r->nsrv; i++)
        free(r->srv[i].host);
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
    if (st->password != NULL) {
        explicit_bzero(st->password, strlen(st->password));
        free(st->password);
    }
    pthread_mutex_destroy(&st->lock);
    free(st);
}

/* store_server_name - "host:port", "[v6]:port" or the path, for logs */
static void
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
static redisContext *
store_connect_one(struct store *st, const struct store_server *srv,
                  char *why, size_t whylen)
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
    if (st->password != NULL) {
        const char *argv[] = { "AUTH", st->password };

        if (store_setup_cmd(c, 2, argv, "OK", why, whylen) != 0)
            goto fail;
    }
    if (st->db != 0) {
        const char *argv[] = { "SELECT", db };

        snprintf(db, sizeof(db), "%ld", st->db);
        if (store_setup_cmd(c, 2, argv, "OK", why, whylen) != 0)
            goto fail;
    }
    return c;

fail:
    redisFree(c);
    return NULL;
}

/* store_connect - the first server of role r that lets us in, or NULL;
 * no lock held */
static redisContext *
store_connect(struct store *st, struct store_role *r)
{
    char name[STORE_MAX_HOST + 16], why[STORE_WHY_MAX];
    redisContext *c;

    for (size_t i = 0; i < r->nsrv; i++) {
        if ((c = store_connect_one(st, &r->srv[i], why, sizeof(why))) != NULL)
            return c;
        store_server_name(&r->srv[i], name, sizeof(name));
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
    if (r->backoff_ms == 0)
        r->backoff_ms = STORE_BACKOFF_MIN_MS;
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
        store_backoff(r, store_now_ms(), v == STORE_PROBE_DOWN);
    ndead = r->nidle;
    memcpy(dead, r->idle, ndead * sizeof(dead[0]));
    r->nidle = 0;
    pthread_mutex_unlock(&st->lock);
    for (size_t i = 0; i < ndead; i++)
        redisFree(dead[i]);
}

/* store_role_ok - a probe got answers: end the backoff of role r */
static void
store_role_ok(struct store *st, struct store_role *r)
{
    pthread_mutex_lock(&st->lock);
    r->backoff_ms = 0;
    r->retry_at_ms = 0;
    pthread_mutex_unlock(&st->lock);
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
               enum store_origin *origin)
{
    redisContext *c = NULL;
    int64_t now = store_now_ms();
    long wait_ms = 0;

    *origin = STORE_FRESH;
    pthread_mutex_lock(&st->lock);
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
        store_backoff(r, store_now_ms(), *origin == STORE_PROBE);
        pthread_mutex_unlock(&st->lock);
    }
    return c;
}

/* store_checkin - give a healthy context back to role r's pool */
static void
store_checkin(struct store *st, struct store_role *r, redisContext *c)
{
    pthread_mutex_lock(&st->lock);
    if (r->nidle < STORE_POOL_IDLE) {
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

/*
 * store_run - run op on a context of role r. A context that had an I/O
 * error or a failed command is freed, never pooled. A pooled context
 * found dead gets one retry on a new connection when the op is
 * idempotent. Logs the failure once, rate-limited.
 */
static int
store_run(struct store *st, struct store_role *r, store_op_fn *op, void *arg,
          int idempotent)
{
    struct store_call call;
    enum store_origin origin;
    sigset_t oldmask;
    int rc, pending, stale;

    pending = store_sigpipe_block(&oldmask);
    for (int attempt = 0;; attempt++) {
        memset(&call, 0, sizeof(call));
        call.st = st;
        if ((call.c = store_checkout(st, r, &origin)) == NULL) {
            rc = -1;
            break;
        }
        rc = op(&call, arg);
        if (rc >= 0 || call.c->err == 0) {
            /* Answered, even if with an error: the server is up. */
            if (origin == STORE_PROBE)
                store_role_ok(st, r);
            if (rc >= 0) {
                store_checkin(st, r, call.c);
                break;
            }
            redisFree(call.c);
            log_limited(&st->lim_command, "store: %s: %s", call.what,
                        call.why);
            break;
        }
        /* store_stale() reads the context: ask before freeing it. */
        stale = origin == STORE_POOLED && store_stale(&call);
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
    store_sigpipe_restore(&oldmask, pending);
    return rc;
}

/* store_fail - fill the reason of a failed op; returns -1 */
static int
store_fail(struct store_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
store_fail(struct store_call *call, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(call->why, sizeof(call->why), fmt, ap);
    va_end(ap);
    return -1;
}

/*
 * store_cmd - run one command; label and key name it in logs. Returns
 * the reply (caller frees) or NULL on an I/O failure or an error reply,
 * with call->what and call->why filled.
 */
static redisReply *
store_cmd(struct store_call *call, const char *label, const char *key,
          int argc, const char **argv, const size_t *argvlen)
{
    redisReply *r;

    snprintf(call->what, sizeof(call->what), "%s%s%s", label,
             key[0] != '\0' ? " " : "", key);
    errno = 0;
    r = redisCommandArgv(call->c, argc, argv, argvlen);
    if (r == NULL) {
        call->io_errno = errno;
        if (call->c->err == REDIS_ERR_IO &&
            (errno == EAGAIN || errno == EWOULDBLOCK))
            store_fail(call, "timed out");
        else
            store_fail(call, "%s",
                       call->c->err ? call->c->errstr : "no reply");
        if (call->c->err == 0) /* cannot happen, but never pool it */
            call->c->err = REDIS_ERR_OTHER;
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        store_fail(call, "%s", r->str);
        freeReplyObject(r);
        return NULL;
    }
    return r;
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

/*
 * Training: examples, the new-example counter, the lock, the last
 * outcome. Keys (doc/redis-keys.md):
 *   PREFIX:ex:spam, PREFIX:ex:ham  lists of example records, newest first
 *   PREFIX:ex:new                  examples added since the last training
 *   PREFIX:train:lock              owner token, SET NX PX, renewed
 *   PREFIX:train:last              one line: the last training's outcome
 */

/* KEYS: the spam list, the ham list, the counter; ARGV: cap, then a
 * class ("1" spam) and a record per example. One script per batch: the
 * writer's Redis cost per example falls with the batch (measured in
 * BENCHMARKS.md). */
static const char store_lua_push_batch[] =
    "local cap = tonumber(ARGV[1])\n"
    "for i = 2, #ARGV, 2 do\n"
    "    redis.call('LPUSH', ARGV[i] == '1' and KEYS[1] or KEYS[2], "
    "ARGV[i + 1])\n"
    "end\n"
    "redis.call('LTRIM', KEYS[1], 0, cap - 1)\n"
    "redis.call('LTRIM', KEYS[2], 0, cap - 1)\n"
    "return redis.call('INCRBY', KEYS[3], (#ARGV - 1) / 2)\n";

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

/* store_key - "PREFIX:suffix" */
static void
store_key(const struct store *st, const char *suffix, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%s", st->prefix, suffix);
}

/* store_reply_long - an integer reply, or a numeric bulk string */
static int
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

struct store_eval_arg {
    const char *label;
    const char *script;
    int nkeys;
    const char *keys[3];
    int nargs;
    const char *args[3];
    size_t arglen[3];
    long result;
};

/* store_op_eval - one script with an integer result */
static int
store_op_eval(struct store_call *call, void *arg)
{
    struct store_eval_arg *a = arg;
    const char *argv[9];
    size_t lens[9];
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

struct store_batch_arg {
    const struct store_example *ex;
    size_t n;
    long max_examples;
};

/* store_op_push_batch - EVAL store_lua_push_batch over a batch */
static int
store_op_push_batch(struct store_call *call, void *arg)
{
    struct store_batch_arg *a = arg;
    size_t argc = 0, max = 7 + 2 * a->n;
    const char **argv = xreallocarray(NULL, max, sizeof(*argv));
    size_t *lens = xreallocarray(NULL, max, sizeof(*lens));
    char keys[3][STORE_KEY_MAX], cap[24];
    const char *suffix[3] = { "ex:spam", "ex:ham", "ex:new" };
    redisReply *r;
    long v;
    int rc = 0;

    snprintf(cap, sizeof(cap), "%ld", a->max_examples);
    argv[argc] = "EVAL";
    lens[argc++] = 4;
    argv[argc] = store_lua_push_batch;
    lens[argc++] = sizeof(store_lua_push_batch) - 1;
    argv[argc] = "3";
    lens[argc++] = 1;
    for (int i = 0; i < 3; i++) {
        store_key(call->st, suffix[i], keys[i], sizeof(keys[i]));
        argv[argc] = keys[i];
        lens[argc++] = strlen(keys[i]);
    }
    argv[argc] = cap;
    lens[argc++] = strlen(cap);
    for (size_t i = 0; i < a->n; i++) {
        argv[argc] = a->ex[i].spam ? "1" : "0";
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
    /* Not idempotent: a retry could store the examples twice. */
    return store_run(st, &st->role[0], store_op_push_batch, &a, 0) < 0 ? -1
                                                                        : 0;
}

/* store_example_push - a batch of one */
int
store_example_push(struct store *st, int spam, const void *rec, size_t len,
                   long max_examples)
{
    struct store_example ex = { spam, rec, len };

    return store_example_push_batch(st, &ex, 1, max_examples);
}

struct store_counts_arg {
    long *nspam, *nham, *nnew;
};

/* store_op_counts - LLEN, LLEN, GET */
static int
store_op_counts(struct store_call *call, void *arg)
{
    struct store_counts_arg *a = arg;
    char key[3][STORE_KEY_MAX];
    const char *suffix[3] = { "ex:spam", "ex:ham", "ex:new" };
    long *out[3] = { a->nspam, a->nham, a->nnew };

    for (int i = 0; i < 3; i++) {
        const char *argv[2] = { i < 2 ? "LLEN" : "GET", key[i] };
        redisReply *r;

        store_key(call->st, suffix[i], key[i], sizeof(key[i]));
        if ((r = store_cmd(call, argv[0], key[i], 2, argv, NULL)) == NULL)
            return -1;
        if (store_reply_long(r, out[i]) != 0) {
            freeReplyObject(r);
            return store_fail(call, "not a number");
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
    struct store_blob **out;
    size_t *n;
};

/* store_op_fetch - LRANGE 0 -1 */
static int
store_op_fetch(struct store_call *call, void *arg)
{
    struct store_fetch_arg *a = arg;
    const char *argv[] = { "LRANGE", a->key, "0", "-1" };
    struct store_blob *b;
    redisReply *r;
    size_t k = 0;

    if ((r = store_cmd(call, "LRANGE", a->key, 4, argv, NULL)) == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(r);
        return store_fail(call, "unexpected reply");
    }
    b = xcalloc(r->elements + 1, sizeof(*b));
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len == 0)
            continue; /* not ours: the decoder would refuse it anyway */
        b[k].data = xmalloc(e->len);
        memcpy(b[k].data, e->str, e->len);
        b[k].len = e->len;
        k++;
    }
    freeReplyObject(r);
    *a->out = b;
    *a->n = k;
    return 0;
}

/* store_examples_fetch - every record of one class, newest first */
int
store_examples_fetch(struct store *st, int spam, struct store_blob **out,
                     size_t *n)
{
    char key[STORE_KEY_MAX];
    struct store_fetch_arg a = { key, out, n };

    *out = NULL;
    *n = 0;
    store_key(st, spam ? "ex:spam" : "ex:ham", key, sizeof(key));
    return store_run(st, &st->role[0], store_op_fetch, &a, 1) < 0 ? -1 : 0;
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

struct store_simple_arg {
    const char *label;
    int argc;
    const char *argv[6];
    redisReply *reply;        /* kept for the caller, who frees it */
};

/* store_op_simple - one command, reply handed back */
static int
store_op_simple(struct store_call *call, void *arg)
{
    struct store_simple_arg *a = arg;

    a->reply = store_cmd(call, a->label, a->argc > 1 ? a->argv[1] : "",
                         a->argc, a->argv, NULL);
    return a->reply == NULL ? -1 : 0;
}

/* store_examples_delete - drop every example and the counter */
int
store_examples_delete(struct store *st)
{
    char k1[STORE_KEY_MAX], k2[STORE_KEY_MAX], k3[STORE_KEY_MAX];
    struct store_simple_arg a = { "DEL", 4, { "DEL", k1, k2, k3 }, NULL };

    store_key(st, "ex:spam", k1, sizeof(k1));
    store_key(st, "ex:ham", k2, sizeof(k2));
    store_key(st, "ex:new", k3, sizeof(k3));
    if (store_run(st, &st->role[0], store_op_simple, &a, 1) < 0)
        return -1;
    freeReplyObject(a.reply);
    return 0;
}

/* store_lock_acquire - SET NX PX with our token */
int
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
        return -1;
    got = a.reply->type == REDIS_REPLY_STATUS;
    freeReplyObject(a.reply);
    return got;
}

/* store_lock_script - renew or release, owner only */
static int
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
        return -1;
    return a.result > 0;
}

/* store_lock_renew - extend our lock */
int
store_lock_renew(struct store *st, const char *token, long ttl_ms)
{
    return store_lock_script(st, "EVAL renew", store_lua_renew, token,
                             ttl_ms);
}

/* store_lock_release - drop our lock */
int
store_lock_release(struct store *st, const char *token)
{
    return store_lock_script(st, "EVAL release", store_lua_release, token,
                             0);
}

struct store_owner_arg {
    char *buf;
    size_t len;
    long *ttl_ms;
};

/* store_op_owner - GET and PTTL of the lock */
static int
store_op_owner(struct store_call *call, void *arg)
{
    struct store_owner_arg *a = arg;
    char key[STORE_KEY_MAX];
    const char *get[] = { "GET", key }, *pttl[] = { "PTTL", key };
    redisReply *r;
    int held;

    store_key(call->st, "train:lock", key, sizeof(key));
    if ((r = store_cmd(call, "GET", key, 2, get, NULL)) == NULL)
        return -1;
    held = r->type == REDIS_REPLY_STRING;
    if (held)
        snprintf(a->buf, a->len, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
    if (!held)
        return 0;
    if ((r = store_cmd(call, "PTTL", key, 2, pttl, NULL)) == NULL)
        return -1;
    if (store_reply_long(r, a->ttl_ms) != 0)
        *a->ttl_ms = -1;
    freeReplyObject(r);
    return 1;
}

/* store_lock_owner - who holds the lock, for how long */
int
store_lock_owner(struct store *st, char *buf, size_t len, long *ttl_ms)
{
    struct store_owner_arg a = { buf, len, ttl_ms };

    *ttl_ms = 0;
    return store_run(st, &st->role[0], store_op_owner, &a, 1);
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

/* store_train_outcome_get - read it back */
int
store_train_outcome_get(struct store *st, char *buf, size_t len)
{
    char key[STORE_KEY_MAX];
    struct store_simple_arg a = { "GET", 2, { "GET", key }, NULL };
    int found;

    store_key(st, "train:last", key, sizeof(key));
    if (store_run(st, st->rd, store_op_simple, &a, 1) < 0)
        return -1;
    found = a.reply->type == REDIS_REPLY_STRING;
    if (found)
        snprintf(buf, len, "%.*s", (int)a.reply->len, a.reply->str);
    freeReplyObject(a.reply);
    return found;
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
