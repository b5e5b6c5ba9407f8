/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * milter_client - a blocking milter protocol client. Packets are a
 * 4-byte big-endian length (command byte included), the command byte,
 * then NUL-terminated strings or integers (libmilter's mfdef.h).
 */
#include "config.h"
#include "milter_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "xmalloc.h"

/* Protocol constants from libmilter's mfdef.h (kept here so this tool
 * does not need the libmilter headers). */
#define MC_VERSION 6
#define MC_ACTIONS 0x1ff          /* every action we can apply */
#define MC_P_NOCONNECT 0x01
#define MC_P_NOHELO 0x02
#define MC_P_NOMAIL 0x04
#define MC_P_NORCPT 0x08
#define MC_P_NOBODY 0x10
#define MC_P_NOHDRS 0x20
#define MC_P_NOEOH 0x40
#define MC_P_NR_HDR 0x80
#define MC_P_NODATA 0x200
#define MC_P_NR_CONN 0x1000
#define MC_P_NR_HELO 0x2000
#define MC_P_NR_MAIL 0x4000
#define MC_P_NR_RCPT 0x8000
#define MC_P_NR_DATA 0x10000
#define MC_P_NR_EOH 0x40000
#define MC_P_NR_BODY 0x80000
#define MC_P_ALL 0x1fffff

struct mc_conn {
    int fd;
    int timeout_ms;
    unsigned long proto;   /* steps and no-reply flags the milter chose */
    int connected;         /* the connect step was sent */
    char *buf;             /* one reply packet */
    size_t cap;
};

/* mc_io - read or write exactly n bytes within the timeout */
static int
mc_io(struct mc_conn *c, void *p, size_t n, int writing)
{
    char *b = p;

    while (n > 0) {
        struct pollfd pfd = { c->fd, writing ? POLLOUT : POLLIN, 0 };
        ssize_t r;

        if (poll(&pfd, 1, c->timeout_ms) <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        r = writing ? write(c->fd, b, n) : read(c->fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = ECONNRESET;
            return -1;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* mc_send - one packet: cmd and data */
static int
mc_send(struct mc_conn *c, char cmd, const void *data, size_t len)
{
    uint32_t n = htonl((uint32_t)(len + 1));
    char hdr[5];

    memcpy(hdr, &n, 4);
    hdr[4] = cmd;
    if (mc_io(c, hdr, 5, 1) != 0)
        return -1;
    return len ? mc_io(c, (void *)data, len, 1) : 0;
}

/* mc_recv - one packet into c->buf; returns the command, -1 on error */
static int
mc_recv(struct mc_conn *c, size_t *len)
{
    uint32_t n;
    char cmd;

    if (mc_io(c, &n, 4, 0) != 0)
        return -1;
    n = ntohl(n);
    if (n < 1 || n > MC_MAX_PACKET) {
        errno = EPROTO;
        return -1;
    }
    if (mc_io(c, &cmd, 1, 0) != 0)
        return -1;
    if (n > c->cap) {
        c->cap = n;
        c->buf = xreallocarray(c->buf, c->cap + 1, 1);
    }
    if (mc_io(c, c->buf, n - 1, 0) != 0)
        return -1;
    c->buf[n - 1] = '\0';
    *len = n - 1;
    return (unsigned char)cmd;
}

/* mc_strings - pack NUL-terminated strings */
static char *
mc_strings(size_t *len, const char *const *s, size_t n)
{
    size_t total = 0, off = 0;
    char *b;

    for (size_t i = 0; i < n; i++)
        total += strlen(s[i]) + 1;
    b = xmalloc(total ? total : 1);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(s[i]) + 1;

        memcpy(b + off, s[i], l);
        off += l;
    }
    *len = total;
    return b;
}

/* mc_macro - define one macro for the next command */
static int
mc_macro(struct mc_conn *c, char for_cmd, const char *name, const char *val)
{
    size_t nlen = strlen(name) + 1, vlen = strlen(val) + 1;
    char *b = xmalloc(1 + nlen + vlen);
    int rc;

    b[0] = for_cmd;
    memcpy(b + 1, name, nlen);
    memcpy(b + 1 + nlen, val, vlen);
    rc = mc_send(c, 'D', b, 1 + nlen + vlen);
    free(b);
    return rc;
}

/* mc_open - the socket */
static int
mc_open(const char *spec, char *err, size_t errlen)
{
    int fd;

    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0 ||
        spec[0] == '/') {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };
        const char *path = spec[0] == '/' ? spec : strchr(spec, ':') + 1;

        if (strlen(path) >= sizeof(sun.sun_path)) {
            snprintf(err, errlen, "socket path too long");
            return -1;
        }
        strcpy(sun.sun_path, path);
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
            connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
            snprintf(err, errlen, "connect %s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        return fd;
    }
    if (strncmp(spec, "inet:", 5) == 0) {
        struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
        char port[16], host[256];
        const char *at = strchr(spec, '@');
        int rc;

        if (at == NULL || (size_t)(at - spec - 5) >= sizeof(port)) {
            snprintf(err, errlen, "bad socket %s", spec);
            return -1;
        }
        snprintf(port, sizeof(port), "%.*s", (int)(at - spec - 5), spec + 5);
        snprintf(host, sizeof(host), "%s", at + 1);
        if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
            snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
            return -1;
        }
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            snprintf(err, errlen, "connect %s: %s", spec, strerror(errno));
            if (fd >= 0)
                close(fd);
            freeaddrinfo(ai);
            return -1;
        }
        freeaddrinfo(ai);
        return fd;
    }
    snprintf(err, errlen, "bad socket %s", spec);
    return -1;
}

/* mc_connect - connect and negotiate */
struct mc_conn *
mc_connect(const char *spec, int timeout_ms, char *err, size_t errlen)
{
    struct mc_conn *c;
    uint32_t opt[3] = { htonl(MC_VERSION), htonl(MC_ACTIONS),
                        htonl(MC_P_ALL) };
    size_t len;
    int fd;

    if ((fd = mc_open(spec, err, errlen)) < 0)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    if (mc_send(c, 'O', opt, sizeof(opt)) != 0 || mc_recv(c, &len) != 'O' ||
        len < 12) {
        snprintf(err, errlen, "option negotiation failed: %s",
                 strerror(errno));
        mc_close(c);
        return NULL;
    }
    memcpy(opt, c->buf, sizeof(opt));
    c->proto = ntohl(opt[2]);
    return c;
}

/* mc_step - send a command and, unless the milter declined replies to
 * it, read the reply; returns the reply command or 'c' */
static int
mc_step(struct mc_conn *c, char cmd, const void *data, size_t len,
        unsigned long skip, unsigned long noreply)
{
    size_t rlen;
    int r;

    if (c->proto & skip)
        return 'c';
    if (mc_send(c, cmd, data, len) != 0)
        return -1;
    if (c->proto & noreply)
        return 'c';
    while ((r = mc_recv(c, &rlen)) == 'p')
        ; /* progress */
    return r;
}

/* mc_edit_add - record one edit from end of message */
static void
mc_edit_add(struct mc_result *res, char op, const char *p, size_t len)
{
    struct mc_edit *e;
    uint32_t idx = 0;
    size_t nl;

    if (res->nedits == MC_MAX_EDITS)
        return;
    if (op != 'h') {
        if (len < 4)
            return;
        memcpy(&idx, p, 4);
        idx = ntohl(idx);
        p += 4;
        len -= 4;
    }
    nl = strnlen(p, len);
    if (nl >= len)
        return;
    e = &res->edits[res->nedits++];
    e->op = op;
    e->index = idx;
    e->name = xstrndup(p, nl);
    e->value = xstrndup(p + nl + 1, len - nl - 1);
}

/* mc_message - one message */
int
mc_message(struct mc_conn *c, const struct mc_header *hdrs, size_t n,
           const char *qid, struct mc_result *res, char *err, size_t errlen)
{
    static const char conn_data[] = "client.example.org\0" "4\0\0" "192.0.2.10";
    const char *mail[] = { "<sender@example.org>" };
    const char *rcpt[] = { "<user@example.net>" };
    char *b;
    size_t len;
    int r;

    memset(res, 0, sizeof(*res));
    /* The connect step happens once per connection, as in a real MTA:
     * send it with the first message. */
    if (!c->connected) {
        char cd[64];

        memcpy(cd, conn_data, sizeof(conn_data));
        r = mc_step(c, 'C', cd, sizeof(conn_data), MC_P_NOCONNECT,
                    MC_P_NR_CONN);
        if (r != 'c') {
            snprintf(err, errlen, "connect step: %s",
                     r < 0 ? strerror(errno) : "refused");
            return -1;
        }
        c->connected = 1;
    }
    if (mc_macro(c, 'M', "i", qid) != 0)
        goto io;
    b = mc_strings(&len, mail, 1);
    r = mc_step(c, 'M', b, len, MC_P_NOMAIL, MC_P_NR_MAIL);
    free(b);
    if (r < 0)
        goto io;
    b = mc_strings(&len, rcpt, 1);
    r = mc_step(c, 'R', b, len, MC_P_NORCPT, MC_P_NR_RCPT);
    free(b);
    if (r < 0 || mc_step(c, 'T', NULL, 0, MC_P_NODATA, MC_P_NR_DATA) < 0)
        goto io;
    for (size_t i = 0; i < n; i++) {
        const char *s[2] = { hdrs[i].name, hdrs[i].value };

        b = mc_strings(&len, s, 2);
        r = mc_step(c, 'L', b, len, MC_P_NOHDRS, MC_P_NR_HDR);
        free(b);
        if (r < 0)
            goto io;
    }
    if (mc_step(c, 'N', NULL, 0, MC_P_NOEOH, MC_P_NR_EOH) < 0 ||
        mc_step(c, 'B', "body\r\n", 6, MC_P_NOBODY, MC_P_NR_BODY) < 0)
        goto io;
    if (mc_macro(c, 'E', "i", qid) != 0 || mc_send(c, 'E', NULL, 0) != 0)
        goto io;
    for (;;) {
        r = mc_recv(c, &len);
        if (r < 0)
            goto io;
        if (r == 'h' || r == 'm' || r == 'i')
            mc_edit_add(res, (char)r, c->buf, len);
        else if (r != 'p' && r != '+' && r != '-' && r != 'b' && r != 'e' &&
                 r != 'f' && r != 'q' && r != '2' && r != 'n')
            break;
    }
    res->reply = (char)r;
    return 0;
io:
    snprintf(err, errlen, "milter I/O: %s", strerror(errno));
    return -1;
}

/* mc_result_free - free the recorded edits */
void
mc_result_free(struct mc_result *res)
{
    for (size_t i = 0; i < res->nedits; i++) {
        free(res->edits[i].name);
        free(res->edits[i].value);
    }
    res->nedits = 0;
}

/* mc_added - the first added header of that name */
const char *
mc_added(const struct mc_result *res, const char *name)
{
    for (size_t i = 0; i < res->nedits; i++)
        if ((res->edits[i].op == 'h' || res->edits[i].op == 'i') &&
            strcasecmp(res->edits[i].name, name) == 0)
            return res->edits[i].value;
    return NULL;
}

/* mc_close - say goodbye */
void
mc_close(struct mc_conn *c)
{
    if (c == NULL)
        return;
    (void)mc_send(c, 'Q', NULL, 0);
    close(c->fd);
    free(c->buf);
    free(c);
}
