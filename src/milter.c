/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * milter - libmilter callbacks. Per connection we hold a cfg reference
 * (connect to close) so one SMTP session sees one configuration; per
 * message we collect the scanner headers and count copies of our own
 * headers, then at end of message delete those copies (a sender may have
 * forged them) and add one fresh header. Our own trouble never rejects or
 * delays mail unless [milter] on_error = tempfail.
 */
#include "config.h"
#include "milter.h"

#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#include "example.h"
#include "log.h"
#include "model.h"
#include "queue.h"
#include "verdict.h"
#include "xmalloc.h"

/* Connections between connect and close; atomic, read at shutdown. */
static _Atomic long milter_nconn;

/* The example queue: set by milter_set_queue() before milter_run(), then
 * only read. NULL = learning off in this process. */
static struct queue *milter_queue;

/* Our socket spec, copied by milter_setup() before any thread exists,
 * then only read (milter_stop() connects to it). */
static char *milter_socket;

/* Rate limits for failures that could repeat on every message. */
static struct log_limit milter_lim_edit;
static struct log_limit milter_lim_parse;

/* Per message: reset in envfrom, freed in eom and abort. */
struct milter_msg {
    struct hdr_seen seen;
    unsigned n_ours;      /* copies of [header] name seen */
    unsigned n_adjusted;  /* copies of [header] adjusted_name seen */
};

/* Per connection: made in negotiate or connect, freed in close. */
struct milter_conn {
    struct cfg *cfg;      /* reference held until close */
    size_t name_len;      /* strlen of cfg's header_name */
    size_t adjusted_len;  /* ... and of its adjusted_name (0: none) */
    int nr_hdr;           /* MTA agreed to no replies per header */
    /* the current model as of this connection's last message: a
     * reference, renewed by model_current_refresh() when it changed, so
     * that a message costs no lock; released in close */
    struct model *model;
    uint64_t model_gen;
    struct milter_msg msg;
};

/* milter_msg_reset - drop what one message collected */
static void
milter_msg_reset(struct milter_msg *msg)
{
    hdr_seen_free(&msg->seen);
    memset(msg, 0, sizeof(*msg));
}

/* milter_conn_get - the connection state, made on first use */
static struct milter_conn *
milter_conn_get(SMFICTX *ctx)
{
    struct milter_conn *conn = smfi_getpriv(ctx);

    if (conn == NULL) {
        conn = xcalloc(1, sizeof(*conn));
        conn->cfg = cfg_current_get();
        conn->name_len = strlen(conn->cfg->header_name);
        conn->adjusted_len = strlen(conn->cfg->adjusted_name);
        if (smfi_setpriv(ctx, conn) != MI_SUCCESS) {
            cfg_release(conn->cfg);
            free(conn);
            return NULL;
        }
        atomic_fetch_add(&milter_nconn, 1);
    }
    return conn;
}

/* milter_fail - our own failure: pass the mail unless told otherwise */
static sfsistat
milter_fail(const struct milter_conn *conn)
{
    if (conn != NULL && conn->cfg->on_error == CFG_ON_ERROR_TEMPFAIL)
        return SMFIS_TEMPFAIL;
    return SMFIS_ACCEPT;
}

/* milter_negotiate - skip every step we do not need */
static sfsistat
milter_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
                 unsigned long f2, unsigned long f3, unsigned long *pf0,
                 unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    unsigned long want = SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY |
                         SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOEOH |
                         SMFIP_NR_HDR;
    struct milter_conn *conn = milter_conn_get(ctx);

    (void)f2;
    (void)f3;
    if (conn == NULL)
        return SMFIS_REJECT; /* libmilter: "continue without this filter" */
    if ((f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS)) !=
        (SMFIF_ADDHDRS | SMFIF_CHGHDRS)) {
        log_warnx("NOQUEUE: milter: the MTA does not allow adding and "
                  "changing headers; passing mail unfiltered");
        return SMFIS_REJECT;
    }
    *pf0 = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
    *pf1 = f1 & want;
    conn->nr_hdr = (*pf1 & SMFIP_NR_HDR) != 0;
    *pf2 = 0;
    *pf3 = 0;
    /* The queue id at end of message; Postfix sends it there by default. */
    (void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
    return SMFIS_CONTINUE;
}

/* milter_connect - take the configuration for this session */
static sfsistat
milter_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)host;
    (void)addr;
    return milter_conn_get(ctx) ? SMFIS_CONTINUE : milter_fail(NULL);
}

/* milter_envfrom - a new message on this connection */
static sfsistat
milter_envfrom(SMFICTX *ctx, char **argv)
{
    struct milter_conn *conn = milter_conn_get(ctx);

    (void)argv;
    if (conn == NULL)
        return milter_fail(NULL);
    milter_msg_reset(&conn->msg);
    return SMFIS_CONTINUE;
}

/* milter_header - collect scanner headers and count our own */
static sfsistat
milter_header(SMFICTX *ctx, char *name, char *value)
{
    struct milter_conn *conn = smfi_getpriv(ctx);
    const struct cfg *c;
    size_t len;

    if (conn == NULL || name == NULL)
        return SMFIS_CONTINUE;
    c = conn->cfg;
    /* every header comes here: measure the name once, compare lengths
     * first */
    len = strlen(name);
    if (!hdr_seen_add_len(&conn->msg.seen, name, len, value)) {
        if (len == conn->name_len && strcasecmp(name, c->header_name) == 0)
            conn->msg.n_ours++;
        else if (len == conn->adjusted_len && len > 0 &&
                 strcasecmp(name, c->adjusted_name) == 0)
            conn->msg.n_adjusted++;
    }
    return conn->nr_hdr ? SMFIS_NOREPLY : SMFIS_CONTINUE;
}

/* milter_replace - delete n copies of name (highest index first, as
 * clamav-milter does, so indexes stay valid), then add value */
static int
milter_replace(SMFICTX *ctx, const char *name, unsigned n, const char *value)
{
    for (unsigned i = n; i > 0; i--)
        if (smfi_chgheader(ctx, (char *)name, (int)i, NULL) != MI_SUCCESS)
            return -1;
    if (value != NULL &&
        smfi_addheader(ctx, (char *)name, (char *)value) != MI_SUCCESS)
        return -1;
    return 0;
}

/* milter_learn - queue the message as an example of what the upstream's
 * verdict says; sets v->learned when it was queued */
static void
milter_learn(struct verdict *v, const struct cfg *c)
{
    struct example ex;
    char err[128];
    void *blob;
    size_t len;
    int spam = v->label == VERDICT_LABEL_SPAM;

    /* [train] enabled only says whether this instance trains; every
     * instance queues, so a site can train on one host. */
    if (milter_queue == NULL || !c->autolearn ||
        v->label == VERDICT_LABEL_NONE)
        return;
    if (example_from_result(&ex, &v->res, spam, 0, (int64_t)time(NULL)) != 0)
        return;
    /* serialised only: the writer thread compresses, off the mail's
     * path */
    if (example_serialize(&ex, &blob, &len, err, sizeof(err)) == 0 &&
        queue_put(milter_queue, spam, blob, len) == 0)
        v->learned = v->label;
    example_free(&ex);
}

/* milter_eom - decide, edit the header, log one line */
static sfsistat
milter_eom(SMFICTX *ctx)
{
    struct milter_conn *conn = smfi_getpriv(ctx);
    const char *qid = smfi_getsymval(ctx, "i");
    char value[VERDICT_HEADER_MAX], adjusted[64], line[VERDICT_LOG_MAX];
    const char *adj_value = NULL;
    struct model *m;
    struct verdict v;
    const struct cfg *c;
    sfsistat rc = SMFIS_CONTINUE;

    if (conn == NULL)
        return milter_fail(NULL);
    c = conn->cfg;
    if (qid == NULL)
        qid = "NOQUEUE";

    m = model_current_refresh(&conn->model, &conn->model_gen);
    verdict_compute(&v, &conn->msg.seen, c, m);
    milter_learn(&v, c);
    if (v.status != HDR_OK)
        log_limited(&milter_lim_parse, "%s: hdr: scanner header unusable: %s",
                    qid, v.err);
    if (verdict_header(&v, value, sizeof(value)) != 0)
        panic("%s: milter: header value does not fit", qid);
    if (c->adjusted_name[0] != '\0' &&
        verdict_adjusted_header(&v, adjusted, sizeof(adjusted)) == 0)
        adj_value = adjusted;

    if (milter_replace(ctx, c->header_name, conn->msg.n_ours, value) != 0 ||
        (c->adjusted_name[0] != '\0' &&
         milter_replace(ctx, c->adjusted_name, conn->msg.n_adjusted,
                        adj_value) != 0)) {
        log_limited(&milter_lim_edit, "%s: milter: cannot edit headers; %s",
                    qid, c->on_error == CFG_ON_ERROR_TEMPFAIL
                             ? "tempfailing as on_error says"
                             : "passing the message unchanged");
        rc = milter_fail(conn);
    }
    /* the line is assembled without printf (verdict_log_line), and not
     * at all when info is off */
    if (log_enabled(LOG_LEVEL_INFO) &&
        verdict_log_line(&v, qid, conn->msg.n_ours > 0, line,
                         sizeof(line)) == 0)
        log_info_line(line);
    verdict_free(&v);
    milter_msg_reset(&conn->msg);
    return rc;
}

/* milter_abort - the message was abandoned */
static sfsistat
milter_abort(SMFICTX *ctx)
{
    struct milter_conn *conn = smfi_getpriv(ctx);

    if (conn != NULL)
        milter_msg_reset(&conn->msg);
    return SMFIS_CONTINUE;
}

/* milter_close - end of session; may come without connect */
static sfsistat
milter_close(SMFICTX *ctx)
{
    struct milter_conn *conn = smfi_getpriv(ctx);

    if (conn == NULL)
        return SMFIS_CONTINUE;
    milter_msg_reset(&conn->msg);
    model_release(conn->model);
    cfg_release(conn->cfg);
    free(conn);
    (void)smfi_setpriv(ctx, NULL);
    atomic_fetch_sub(&milter_nconn, 1);
    return SMFIS_CONTINUE;
}

static struct smfiDesc milter_desc = {
    .xxfi_name = "neural-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS,
    .xxfi_connect = milter_connect,
    .xxfi_envfrom = milter_envfrom,
    .xxfi_header = milter_header,
    .xxfi_eom = milter_eom,
    .xxfi_abort = milter_abort,
    .xxfi_close = milter_close,
    .xxfi_negotiate = milter_negotiate,
};

/* milter_unix_path - the file of a unix socket spec, or NULL */
static const char *
milter_unix_path(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
        return spec + 6;
    if (spec[0] == '/')
        return spec;
    return NULL;
}

/* milter_setup - register and open the socket */
int
milter_setup(const struct cfg *c, char *err, size_t errlen)
{
    const char *path = milter_unix_path(c->socket);
    mode_t old;
    int rc;

    if (smfi_register(milter_desc) != MI_SUCCESS) {
        snprintf(err, errlen, "smfi_register failed");
        return -1;
    }
    free(milter_socket);
    milter_socket = xstrdup(c->socket);
    if (smfi_setconn(c->socket) != MI_SUCCESS) {
        snprintf(err, errlen, "smfi_setconn %s failed", c->socket);
        return -1;
    }
    /* The umask decides the socket's mode; restore ours afterwards. */
    old = umask((mode_t)c->umask);
    rc = smfi_opensocket(1); /* 1: remove a stale unix socket first */
    umask(old);
    if (rc != MI_SUCCESS) {
        snprintf(err, errlen, "cannot open socket %s (is the directory "
                 "there and writable, or another milter running?)",
                 c->socket);
        return -1;
    }
    if (path != NULL && c->group[0] != '\0') {
        struct group *gr = getgrnam(c->group);

        if (gr == NULL) {
            snprintf(err, errlen, "unknown group %s", c->group);
            return -1;
        }
        if (chown(path, (uid_t)-1, gr->gr_gid) != 0) {
            snprintf(err, errlen, "chown %s to group %s: %s", path,
                     c->group, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* milter_set_queue - where examples go */
void
milter_set_queue(struct queue *q)
{
    milter_queue = q;
}

/* milter_run - serve, then let sessions in progress finish */
int
milter_run(long drain_ms)
{
    struct timespec tick = { 0, 50 * 1000 * 1000 };
    long waited = 0;
    int rc = smfi_main();

    while (atomic_load(&milter_nconn) > 0 && waited < drain_ms) {
        nanosleep(&tick, NULL);
        waited += 50;
    }
    if (atomic_load(&milter_nconn) > 0)
        log_warnx("milter: stopping with %ld sessions still open",
                  atomic_load(&milter_nconn));
    return rc == MI_SUCCESS ? 0 : -1;
}

/*
 * milter_wake - connect to our own socket and hang up: libmilter's
 * listener checks for a stop only between connections or every 5 s
 * (MI_CHK_TIME in its listener.c), and a stop must not take that long.
 * The session it accepts reads an EOF at once.
 */
static void
milter_wake(void)
{
    const char *spec = milter_socket, *path = milter_unix_path(spec);
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
    char port[8], host[256];
    const char *at;
    int fd = -1;

    if (path != NULL) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        if (strlen(path) >= sizeof(sun.sun_path) ||
            (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
            return;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        (void)connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        close(fd);
        return;
    }
    /* inet:PORT@HOST or inet6:PORT@HOST; no host means any address, of
     * which loopback is one */
    hints.ai_family = strncmp(spec, "inet6:", 6) == 0 ? AF_INET6 : AF_INET;
    spec = strchr(spec, ':') + 1;
    at = strchr(spec, '@');
    snprintf(port, sizeof(port), "%.*s",
             (int)(at ? (size_t)(at - spec) : strlen(spec)), spec);
    snprintf(host, sizeof(host), "%s",
             at && at[1] ? at + 1
                         : hints.ai_family == AF_INET6 ? "::1" : "127.0.0.1");
    if (getaddrinfo(host, port, &hints, &ai) != 0 || ai == NULL)
        return;
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
        (void)connect(fd, ai->ai_addr, ai->ai_addrlen);
        close(fd);
    }
    freeaddrinfo(ai);
}

/* milter_stopper - smfi_stop() on a thread of its own, since it waits
 * for the listener's lock; *arg turns 1 when it returned */
static void *
milter_stopper(void *arg)
{
    _Atomic int *done = arg;

    pthread_setname_np(pthread_self(), "nm-stop");
    (void)smfi_stop();
    atomic_store(done, 1);
    return NULL;
}

/*
 * milter_stop - from the signal thread. libmilter's listener holds its
 * lock across a select() of up to 5 s, and smfi_stop() needs that lock
 * to close the socket: so it runs on a thread of its own while we knock
 * on the socket until it got the lock (each knock ends one select()).
 */
void
milter_stop(void)
{
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    _Atomic int done = 0;
    pthread_t t;

    if (milter_socket == NULL ||
        pthread_create(&t, NULL, milter_stopper, &done) != 0) {
        (void)smfi_stop();
        return;
    }
    while (!atomic_load(&done)) {
        milter_wake();
        nanosleep(&tick, NULL);
    }
    pthread_join(t, NULL);
}

/* milter_connections - sessions in progress */
long
milter_connections(void)
{
    return atomic_load(&milter_nconn);
}
