/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * metrics_http - /metrics over HTTP: a listening socket opened before
 * the privilege drop, and one thread ("nm-metrics") that accepts one
 * client at a time, reads the request head (at most METRICS_MAX_REQUEST
 * bytes, within METRICS_IO_MS), answers GET or HEAD /metrics with
 * metrics_render() and closes. No library: the one request needed is a
 * few lines, and libmicrohttpd would bring its own unnamed threads and
 * GnuTLS into the mail process. A slow or silent client delays only the
 * next scrape, by METRICS_IO_MS at most; mail never waits on this
 * thread, which reads only atomics and, for a moment, the current
 * model's mutex. Must not include libmilter or hiredis.
 */
#include "config.h"
#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"
#include "xmalloc.h"

#define METRICS_BACKLOG 16
#define METRICS_MAX_SPEC 300

struct metrics_server {
    int lfd;                 /* listening socket */
    int stop[2];             /* a pipe: closing [1] stops the thread */
    pthread_t thread;
    int running;             /* the thread was started (main thread) */
    char spec[METRICS_MAX_SPEC]; /* for logs */
    struct log_limit lim;    /* the thread's */
};

/* metrics_split - "host:port" or "[v6]:port" into host and port; 0 or
 * -1 (cfg checked the form; this is for store-like callers and tests) */
static int
metrics_split(const char *spec, char *host, size_t hlen, char *port,
              size_t plen)
{
    const char *colon;
    size_t n;

    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');

        if (close == NULL || close[1] != ':')
            return -1;
        n = (size_t)(close - spec - 1);
        spec++;
        colon = close + 1;
    } else {
        if ((colon = strrchr(spec, ':')) == NULL)
            return -1;
        n = (size_t)(colon - spec);
    }
    if (n == 0 || n >= hlen || strlen(colon + 1) == 0 ||
        strlen(colon + 1) >= plen)
        return -1;
    memcpy(host, spec, n);
    host[n] = '\0';
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    return 0;
}

/* metrics_bind - a listening socket on the first address of host:port
 * that takes one; the fd or -1 with err */
static int
metrics_bind(const char *host, const char *port, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    struct addrinfo *ai, *a;
    int fd = -1, one = 1, rc;

    if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
        snprintf(err, errlen, "metrics: listen %s:%s: %s", host, port,
                 gai_strerror(rc));
        return -1;
    }
    snprintf(err, errlen, "metrics: listen %s:%s: no address", host, port);
    for (a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC |
                    SOCK_NONBLOCK, a->ai_protocol);
        if (fd < 0)
            continue;
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (a->ai_family == AF_INET6)
            (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
                             sizeof(one));
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
            listen(fd, METRICS_BACKLOG) == 0)
            break;
        snprintf(err, errlen, "metrics: listen %s:%s: %s", host, port,
                 strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

/* metrics_listen - bind now, serve later */
int
metrics_listen(const char *spec, struct metrics_server **out, char *err,
               size_t errlen)
{
    char host[256], port[16];
    struct metrics_server *ms;
    int fd;

    *out = NULL;
    if (spec == NULL || spec[0] == '\0')
        return 0;
    if (strlen(spec) >= METRICS_MAX_SPEC ||
        metrics_split(spec, host, sizeof(host), port, sizeof(port)) != 0) {
        snprintf(err, errlen, "metrics: listen '%.60s': want HOST:PORT or "
                 "[ADDRESS]:PORT", spec);
        return -1;
    }
    if ((fd = metrics_bind(host, port, err, errlen)) < 0)
        return -1;
    ms = xcalloc(1, sizeof(*ms));
    ms->lfd = fd;
    ms->stop[0] = ms->stop[1] = -1;
    snprintf(ms->spec, sizeof(ms->spec), "%s", spec);
    *out = ms;
    return 0;
}

/* metrics_wait - poll fd for events until deadline (monotonic ms), also
 * watching the stop pipe: 1 ready, 0 timed out or stopping, -1 error */
static int
metrics_wait(const struct metrics_server *ms, int fd, short events,
             int64_t deadline)
{
    struct pollfd p[2] = { { .fd = fd, .events = events },
                           { .fd = ms->stop[0], .events = POLLIN } };
    int64_t left;
    int n;

    for (;;) {
        if ((left = deadline - util_now_ms()) <= 0)
            return 0;
        n = poll(p, 2, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (p[1].revents != 0)
            return 0;
        if (p[0].revents != 0)
            return 1;
    }
}

/* metrics_read_head - the request head into buf (NUL-ended); its length,
 * or -1 when it did not end in time or within the bound */
static long
metrics_read_head(const struct metrics_server *ms, int fd, char *buf,
                  size_t len, int64_t deadline)
{
    size_t n = 0;
    ssize_t got;

    while (n + 1 < len) {
        if (metrics_wait(ms, fd, POLLIN, deadline) != 1)
            return -1;
        got = recv(fd, buf + n, len - 1 - n, 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (got <= 0)
            return -1;
        n += (size_t)got;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n") != NULL || strstr(buf, "\n\n") != NULL)
            return (long)n;
    }
    return -1;
}

/* metrics_write_all - len bytes before deadline; 0 or -1 */
static int
metrics_write_all(const struct metrics_server *ms, int fd, const char *p,
                  size_t len, int64_t deadline)
{
    ssize_t n;

    while (len > 0) {
        if (metrics_wait(ms, fd, POLLOUT, deadline) != 1)
            return -1;
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* metrics_reply - status line, headers and (unless head) body */
static int
metrics_reply(const struct metrics_server *ms, int fd, const char *status,
              const char *type, const char *body, size_t len, int head,
              int64_t deadline)
{
    char hdr[256];
    int n;

    n = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                 status, type, len,
                 strncmp(status, "405", 3) == 0 ? "Allow: GET, HEAD\r\n"
                                                 : "");
    if (n < 0 || (size_t)n >= sizeof(hdr) ||
        metrics_write_all(ms, fd, hdr, (size_t)n, deadline) != 0)
        return -1;
    return head ? 0 : metrics_write_all(ms, fd, body, len, deadline);
}

/* metrics_one - one client: read, route, answer */
static void
metrics_one(struct metrics_server *ms, int fd)
{
    static const char text[] = "text/plain; charset=utf-8";
    int64_t deadline = util_now_ms() + METRICS_IO_MS;
    char *req = xmalloc(METRICS_MAX_REQUEST + 1), *body;
    const char *path, *sp;
    size_t blen;
    int head, rc;

    if (metrics_read_head(ms, fd, req, METRICS_MAX_REQUEST + 1,
                          deadline) < 0) {
        (void)metrics_reply(ms, fd, "400 Bad Request", text, "", 0, 0,
                            deadline);
        free(req);
        return;
    }
    head = strncmp(req, "HEAD ", 5) == 0;
    if (!head && strncmp(req, "GET ", 4) != 0) {
        rc = metrics_reply(ms, fd, "405 Method Not Allowed", text,
                           "GET or HEAD /metrics\n", 21, 0, deadline);
    } else {
        path = req + (head ? 5 : 4);
        sp = path + strcspn(path, " ?\r\n");
        if ((size_t)(sp - path) == 8 && strncmp(path, "/metrics", 8) == 0) {
            body = metrics_render(&blen);
            rc = metrics_reply(ms, fd, "200 OK",
                               "text/plain; version=0.0.4; charset=utf-8",
                               body, blen, head, deadline);
            free(body);
        } else {
            rc = metrics_reply(ms, fd, "404 Not Found", text,
                               "see /metrics\n", 13, head, deadline);
        }
    }
    if (rc != 0)
        log_limited(&ms->lim, "metrics: a client on %s went away or was "
                    "too slow", ms->spec);
    free(req);
}

/* metrics_main - accept until stopped */
static void *
metrics_main(void *arg)
{
    struct metrics_server *ms = arg;
    struct pollfd p[2] = { { .fd = ms->lfd, .events = POLLIN },
                           { .fd = ms->stop[0], .events = POLLIN } };
    int fd;

    pthread_setname_np(pthread_self(), "nm-metrics");
    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_warn("metrics: poll");
            break;
        }
        if (p[1].revents != 0)
            break;
        if ((p[0].revents & POLLIN) == 0)
            continue;
        fd = accept4(ms->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EINTR &&
                errno != ECONNABORTED)
                log_limited(&ms->lim, "metrics: accept on %s: %s",
                            ms->spec, strerror(errno));
            continue;
        }
        metrics_one(ms, fd);
        close(fd);
    }
    return NULL;
}

/* metrics_serve - the thread */
int
metrics_serve(struct metrics_server *ms, char *err, size_t errlen)
{
    int rc;

    if (ms == NULL)
        return 0;
    if (pipe2(ms->stop, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "metrics: pipe: %s", strerror(errno));
        return -1;
    }
    if ((rc = pthread_create(&ms->thread, NULL, metrics_main, ms)) != 0) {
        snprintf(err, errlen, "metrics: cannot start the thread: %s",
                 strerror(rc));
        return -1;
    }
    ms->running = 1;
    log_info("metrics: serving http://%s/metrics", ms->spec);
    return 0;
}

/* metrics_stop - stop, join, close */
void
metrics_stop(struct metrics_server *ms)
{
    if (ms == NULL)
        return;
    if (ms->stop[1] >= 0) {
        close(ms->stop[1]); /* POLLHUP on [0] wakes the thread */
        ms->stop[1] = -1;
    }
    if (ms->running)
        pthread_join(ms->thread, NULL);
    if (ms->stop[0] >= 0)
        close(ms->stop[0]);
    close(ms->lfd);
    free(ms);
}
