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

#include <ctype.h>
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

#include "addr.h"
#include "example.h"
#include "learn.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "queue.h"
#include "verdict.h"
#include "xmalloc.h"

/* Connections between connect and close; atomic, read at shutdown. */
static _Atomic long milter_nconn;

/* The example queue: set by milter_set_queue() before milter_run(), then
 * only read. NULL = learning off in this process. */
static struct queue *milter_queue;

/* Set (release) by the first close callback: libmilter's loop is up, so
 * smfi_stop() finds its mutexes initialised (milter_stop() acquires). */
static _Atomic int milter_serving;

#define MILTER_START_WAIT_MS 5000

/* Our socket spec, copied by milter_setup() before any thread exists,
 * then only read (milter_stop() connects to it). */
static char *milter_socket;

/* Rate limits for failures that could repeat on every message. */
static struct log_limit milter_lim_edit;
static struct log_limit milter_lim_parse;

/* Bytes kept of the headers a reply names its messages in; of a longer
 * References the newest ids (its end) are kept. */
#define MILTER_IRT_MAX 1024
#define MILTER_REFS_MAX 4096

/* Per message: reset in envfrom, freed in eom and abort (but seen's
 * buffers, which serve the connection's next message: freed in close). */
struct milter_msg {
    struct hdr_seen seen;
    unsigned n_ours;      /* copies of [header] name seen */
    unsigned n_adjusted;  /* copies of [header] adjusted_name seen */
    int auth;             /* {auth_authen} was set at MAIL FROM */
    unsigned nrcpt;       /* RCPT TO seen (only with spam traps) */
    unsigned ntrap;       /* ... of them traps */
    unsigned n_msgid;     /* Message-ID copies */
    char msgid[LEARN_MAX_MSGID + 1]; /* its id; "" = none or unusable */
    char *in_reply_to;    /* at most MILTER_IRT_MAX bytes, or NULL */
    char *references;     /* its last MILTER_REFS_MAX bytes, or NULL */
};

/* Per connection: made in negotiate or connect, freed in close. */
struct milter_conn {
    struct cfg *cfg;      /* reference held until close */
    size_t name_len;      /* strlen of cfg's header_name */
    size_t adjusted_len;  /* ... and of its adjusted_name (0: none) */
    uint64_t name_lens;   /* bit n: a header name of n bytes may matter
                             (milter_name_lens) */
    uint64_t name_first[4]; /* bit b: a header name whose first byte is b
                               may matter (milter_name_first) */
    int nr_hdr;           /* MTA agreed to no replies per header */
    int skip_net;         /* the client is in [milter] skip_networks */
    int local_net;        /* ... in [learn] local_networks */
    /* the current model as of this connection's last message: a
     * reference, renewed by model_current_refresh() when it changed, so
     * that a message costs no lock; released in close */
    struct model *model;
    uint64_t model_gen;
    /* the symbol buffer of the last verdict, for the next message's
     * (verdict_recompute()); freed in close */
    struct hdr_symbol *sym;
    size_t sym_cap;
    struct milter_msg msg;
};

/* milter_msg_reset - drop what one message collected; the scanner
 * headers' buffers stay for the next message (a copy each cost a malloc
 * and a free) */
static void
milter_msg_reset(struct milter_msg *msg)
{
    struct hdr_seen seen = msg->seen;

    hdr_seen_clear(&seen);
    free(msg->in_reply_to);
    free(msg->references);
    memset(msg, 0, sizeof(*msg));
    msg->seen = seen;
}

/* milter_len_bit - bit len of a name length mask; 0 from 64 bytes on */
static inline uint64_t
milter_len_bit(size_t len)
{
    return len < 64 ? (uint64_t)1 << len : 0;
}

/* milter_name_lens - the lengths of the header names milter_header()
 * looks at: the scanner's, ours, Message-ID, In-Reply-To and References;
 * most header fields have none of them and cost no comparison */
static uint64_t
milter_name_lens(const struct milter_conn *conn)
{
    return HDR_SEEN_LENS | milter_len_bit(conn->name_len) |
           milter_len_bit(conn->adjusted_len) |
           milter_len_bit(sizeof("Message-ID") - 1) |
           milter_len_bit(sizeof("In-Reply-To") - 1) |
           milter_len_bit(sizeof("References") - 1);
}

/* milter_first_set - mark byte b, in both cases, in a name_first set */
static void
milter_first_set(uint64_t set[4], unsigned char b)
{
    /* the C locale's case mapping: the daemon never sets another */
    unsigned char lo = (unsigned char)tolower(b);
    unsigned char up = (unsigned char)toupper(b);

    set[lo / 64] |= (uint64_t)1 << (lo % 64);
    set[up / 64] |= (uint64_t)1 << (up % 64);
}

/* milter_name_first - the first bytes of the same names (and NUL: an
 * empty name goes the long way), tested before a name is measured */
static void
milter_name_first(struct milter_conn *conn)
{
    const struct cfg *c = conn->cfg;

    memset(conn->name_first, 0, sizeof(conn->name_first));
    milter_first_set(conn->name_first, '\0');
    milter_first_set(conn->name_first, HDR_SEEN_FIRST);
    milter_first_set(conn->name_first, 'M'); /* Message-ID */
    milter_first_set(conn->name_first, 'I'); /* In-Reply-To */
    milter_first_set(conn->name_first, 'R'); /* References */
    milter_first_set(conn->name_first, (unsigned char)c->header_name[0]);
    milter_first_set(conn->name_first, (unsigned char)c->adjusted_name[0]);
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
        conn->name_lens = milter_name_lens(conn);
        milter_name_first(conn);
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
    /* Recipients matter only to spam traps. */
    if (conn->cfg->spamtrap_recipients[strspn(
            conn->cfg->spamtrap_recipients, " \t,")] != '\0')
        want &= ~(unsigned long)SMFIP_NORCPT;
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

/* milter_in_list - addr lies in the networks of list (checked by
 * cfg_load, so a parse cannot fail here) */
static int
milter_in_list(const char *list, const struct sockaddr *addr)
{
    struct addr_netlist nl;
    char err[128];

    if (addr == NULL || list[strspn(list, " \t,")] == '\0' ||
        addr_netlist_parse(list, &nl, err, sizeof(err)) != 0)
        return 0;
    return addr_netlist_match(&nl, addr);
}

/* milter_connect - take the configuration for this session, and what
 * the client's address says of its mail */
static sfsistat
milter_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    struct milter_conn *conn = milter_conn_get(ctx);

    (void)host;
    if (conn == NULL)
        return milter_fail(NULL);
    conn->skip_net = milter_in_list(conn->cfg->skip_networks, addr);
    conn->local_net = milter_in_list(conn->cfg->local_networks, addr);
    return SMFIS_CONTINUE;
}

/* milter_envfrom - a new message on this connection */
static sfsistat
milter_envfrom(SMFICTX *ctx, char **argv)
{
    struct milter_conn *conn = milter_conn_get(ctx);

    const char *auth;

    (void)argv;
    if (conn == NULL)
        return milter_fail(NULL);
    milter_msg_reset(&conn->msg);
    /* Postfix and Sendmail send {auth_authen} at MAIL FROM by default */
    auth = smfi_getsymval(ctx, "{auth_authen}");
    conn->msg.auth = auth != NULL && auth[0] != '\0';
    return SMFIS_CONTINUE;
}

/* milter_envrcpt - count recipients and the spam traps among them (only
 * asked for when traps are set) */
static sfsistat
milter_envrcpt(SMFICTX *ctx, char **argv)
{
    struct milter_conn *conn = smfi_getpriv(ctx);

    if (conn == NULL || argv == NULL || argv[0] == NULL)
        return SMFIS_CONTINUE;
    if (conn->msg.nrcpt < UINT32_MAX) {
        conn->msg.nrcpt++;
        conn->msg.ntrap += addr_trap_match(conn->cfg->spamtrap_recipients,
                                           argv[0]) != 0;
    }
    return SMFIS_CONTINUE;
}

/* milter_keep - a bounded copy of value into *slot, the first max bytes
 * or (tail) the last */
static void
milter_keep(char **slot, const char *value, size_t max, int tail)
{
    size_t n = strlen(value);

    if (*slot != NULL)
        return; /* the first copy counts */
    if (n > max) {
        if (tail)
            value += n - max;
        n = max;
    }
    *slot = xmalloc(n + 1);
    memcpy(*slot, value, n);
    (*slot)[n] = '\0';
}

/* milter_header_ids - the headers that name this message and those it
 * replies to (a name of len bytes: every header comes here, so the
 * lengths are compared first) */
static void
milter_header_ids(struct milter_msg *msg, const char *name, size_t len,
                  const char *value)
{
    if (len == sizeof("Message-ID") - 1 &&
        strcasecmp(name, "Message-ID") == 0) {
        if (msg->n_msgid++ == 0 &&
            learn_msgid(value, msg->msgid, sizeof(msg->msgid)) != 0)
            msg->msgid[0] = '\0';
        if (msg->n_msgid > 1)
            msg->msgid[0] = '\0'; /* which one would a reply name? */
    } else if (len == sizeof("In-Reply-To") - 1 &&
               strcasecmp(name, "In-Reply-To") == 0) {
        milter_keep(&msg->in_reply_to, value, MILTER_IRT_MAX, 0);
    } else if (len == sizeof("References") - 1 &&
               strcasecmp(name, "References") == 0) {
        milter_keep(&msg->references, value, MILTER_REFS_MAX, 1);
    }
}

/* milter_header_named - milter_header() of a name of len bytes that may
 * matter (apart, so that the common case saves no registers) */
static __attribute__((noinline)) void
milter_header_named(struct milter_conn *conn, const char *name, size_t len,
                    const char *value)
{
    const struct cfg *c = conn->cfg;

    if (!hdr_seen_add_len(&conn->msg.seen, name, len, value)) {
        if (len == conn->name_len && strcasecmp(name, c->header_name) == 0)
            conn->msg.n_ours++;
        else if (len == conn->adjusted_len && len > 0 &&
                 strcasecmp(name, c->adjusted_name) == 0)
            conn->msg.n_adjusted++;
        else
            milter_header_ids(&conn->msg, name, len, value);
    }
}

/* milter_header - collect scanner headers and count our own */
static sfsistat
milter_header(SMFICTX *ctx, char *name, char *value)
{
    struct milter_conn *conn = smfi_getpriv(ctx);
    unsigned char b;
    size_t len;

    if (conn == NULL || name == NULL)
        return SMFIS_CONTINUE;
    /* every header comes here: its first byte, then its length (measured
     * once) are compared before any name */
    b = (unsigned char)name[0];
    if (conn->name_first[b / 64] >> (b % 64) & 1) {
        len = strlen(name);
        /* a name of 64 bytes or more may be ours or the adjusted one */
        if (len >= 64 || conn->name_lens >> len & 1)
            milter_header_named(conn, name, len, value);
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

/* milter_example - v's result as an example of label spam from source
 * src under key, in the frame it is stored in; NULL (and nothing to
 * free) on failure */
static void *
milter_example(const struct verdict *v, int spam, enum example_source src,
               uint64_t key, size_t *len)
{
    char err[128];
    void *raw;

    if (example_serialize_stored(&v->res, spam, src, key, (int64_t)time(NULL),
                                 &raw, len, err, sizeof(err)) != 0)
        return NULL;
    return raw;
}

/* milter_learn - queue the message as an example: a spam trap's, else
 * what the upstream's verdict says; one not learned is kept for a reply
 * to name. Sets v->learned when an example was queued and *kept when
 * the message was kept. */
static void
milter_learn(struct verdict *v, const struct milter_msg *msg,
             const struct cfg *c, int *kept)
{
    enum example_source src = EXAMPLE_SRC_AUTOLEARN;
    enum verdict_label label = c->autolearn ? v->label : VERDICT_LABEL_NONE;
    uint64_t key;
    void *raw;
    size_t len;

    *kept = 0;
    /* [train] enabled only says whether this instance trains; every
     * instance queues, so a site can train on one host. */
    if (milter_queue == NULL || !v->learnable)
        return;
    key = msg->msgid[0] != '\0' ? learn_key_msgid(msg->msgid)
                                : learn_key_content(&v->res);
    if (msg->nrcpt > 0 && msg->ntrap == msg->nrcpt) {
        label = VERDICT_LABEL_SPAM;
        src = EXAMPLE_SRC_SPAMTRAP;
    }
    /* framed as it is stored (zstd stored blocks: no compression on
     * the mail's path); the writer thread only sends it */
    if (label != VERDICT_LABEL_NONE &&
        (raw = milter_example(v, label == VERDICT_LABEL_SPAM, src, key,
                              &len)) != NULL &&
        queue_put_example(milter_queue, label == VERDICT_LABEL_SPAM, key,
                          src != EXAMPLE_SRC_AUTOLEARN, raw, len) == 0) {
        v->learned = label;
        return;
    }
    /* Only a message a reply can name (by its Message-ID) and that was
     * not learned is worth keeping. */
    if (!c->replies || msg->msgid[0] == '\0')
        return;
    if ((raw = milter_example(v, 0, EXAMPLE_SRC_REPLY, key, &len)) != NULL &&
        queue_put_reply_keep(milter_queue, key, raw, len) == 0)
        *kept = 1;
}

/* milter_reply - outbound mail: the messages it replies to are ham;
 * returns how many ids it named */
static size_t
milter_reply(const struct milter_msg *msg)
{
    uint64_t keys[LEARN_MAX_REFS];
    size_t n = learn_refs(msg->in_reply_to, msg->references, keys);

    if (n == 0 || milter_queue == NULL ||
        queue_put_reply_hit(milter_queue, keys, n) != 0)
        return 0;
    return n;
}

/* milter_unjudged - mail that is not ours to judge (authenticated, from
 * skip_networks, outbound): no score, no header, no example; only the
 * copies of our headers a sender may have put in go. NULL: judge it;
 * else why not, for the log. */
static const char *
milter_unjudged(const struct milter_conn *conn, int outbound)
{
    const struct cfg *c = conn->cfg;

    if (outbound)
        return "outbound";
    if (c->skip_authenticated && conn->msg.auth)
        return "authenticated";
    if (conn->skip_net)
        return "network";
    return NULL;
}

/* milter_pass - end of an unjudged message */
static sfsistat
milter_pass(SMFICTX *ctx, struct milter_conn *conn, const char *qid,
            const char *why, size_t refs)
{
    const struct cfg *c = conn->cfg;
    sfsistat rc = SMFIS_CONTINUE;

    if (milter_replace(ctx, c->header_name, conn->msg.n_ours, NULL) != 0 ||
        (c->adjusted_name[0] != '\0' &&
         milter_replace(ctx, c->adjusted_name, conn->msg.n_adjusted,
                        NULL) != 0)) {
        log_limited(&milter_lim_edit, "%s: milter: cannot edit headers; %s",
                    qid, c->on_error == CFG_ON_ERROR_TEMPFAIL
                             ? "tempfailing as on_error says"
                             : "passing the message unchanged");
        rc = milter_fail(conn);
    }
    log_info("%s: milter: skipped=%s replies_to=%zu", qid, why, refs);
    milter_msg_reset(&conn->msg);
    return rc;
}

/* milter_eom - decide, edit the header, log one line */
static sfsistat
milter_eom(SMFICTX *ctx)
{
    struct milter_conn *conn = smfi_getpriv(ctx);
    const char *qid = smfi_getsymval(ctx, "i");
    char value[VERDICT_HEADER_MAX], adjusted[64], line[VERDICT_LOG_MAX];
    const char *adj_value = NULL, *why, *mqid = qid;
    struct model *m;
    struct verdict v;
    struct verdict_numbers nb;
    const struct cfg *c;
    sfsistat rc = SMFIS_CONTINUE;
    int outbound, kept;
    unsigned flags;
    size_t refs = 0;

    if (conn == NULL)
        return milter_fail(NULL);
    c = conn->cfg;
    if (qid == NULL)
        qid = "NOQUEUE";

    /* A reply counts whether or not its mail is ours to judge. */
    outbound = c->replies && (conn->msg.auth || conn->local_net);
    if (outbound)
        refs = milter_reply(&conn->msg);
    if ((why = milter_unjudged(conn, outbound)) != NULL)
        return milter_pass(ctx, conn, qid, why, refs);

    m = model_current_refresh(&conn->model, &conn->model_gen);
    v.res.sym = conn->sym;
    v.res.cap = conn->sym_cap;
    verdict_recompute(&v, &conn->msg.seen, c, m);
    verdict_queue_id(&v, &conn->msg.seen, mqid, c);
    milter_learn(&v, &conn->msg, c, &kept);
    if (v.status != HDR_OK)
        log_limited(&milter_lim_parse, "%s: hdr: scanner header unusable: %s",
                    qid, v.err);
    verdict_numbers(&v, &nb);
    if (verdict_header_numbers(&v, &nb, value, sizeof(value)) != 0)
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
    flags = (conn->msg.n_ours ? VERDICT_LOG_REPLACED : 0u) |
            (kept ? VERDICT_LOG_KEPT : 0u) |
            (conn->msg.nrcpt > 0 && conn->msg.ntrap == conn->msg.nrcpt
                 ? VERDICT_LOG_SPAMTRAP
                 : 0u);
    if (log_enabled(LOG_LEVEL_INFO) &&
        verdict_log_line_numbers(&v, &nb, qid, flags, line, sizeof(line)) ==
            0)
        log_info_line(line);
    metrics_message(&v, rc != SMFIS_CONTINUE);
    conn->sym = v.res.sym; /* the buffer, for the next message */
    conn->sym_cap = v.res.cap;
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

    if (!atomic_load_explicit(&milter_serving, memory_order_relaxed))
        atomic_store_explicit(&milter_serving, 1, memory_order_release);
    if (conn == NULL)
        return SMFIS_CONTINUE;
    milter_msg_reset(&conn->msg);
    hdr_seen_free(&conn->msg.seen);
    free(conn->sym);
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
    .xxfi_envrcpt = milter_envrcpt,
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
 * smfi_stop() before smfi_main() initialised libmilter's mutexes would use
 * them uninitialised: first knock until a session closed (a knock's own,
 * at the latest), at most MILTER_START_WAIT_MS.
 */
void
milter_stop(void)
{
    struct timespec tick = { 0, 20 * 1000 * 1000 };
    _Atomic int done = 0;
    pthread_t t;

    for (int i = 0; milter_socket != NULL && i < MILTER_START_WAIT_MS / 20 &&
                    !atomic_load_explicit(&milter_serving,
                                          memory_order_acquire);
         i++) {
        milter_wake();
        nanosleep(&tick, NULL);
    }
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
