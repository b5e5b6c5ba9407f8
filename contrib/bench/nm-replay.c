/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * nm-replay - replay messages (their header blocks, split the way
 * Postfix hands them to a milter) into any milter over N concurrent
 * connections. Prints the header the milter added for each message, or
 * with -q only the figures: messages per second and latency p50/p99/max.
 * Used by the tests, the evaluation and contrib/bench/run.
 *
 *   nm-replay -s SOCKET [-j CONNS] [-n TOTAL] [-H NAME] [-u TAG] [-q]
 *             FILE|DIR...
 *   (-u TAG: each send gets its own Message-ID, <TAG.N.original>)
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hdr.h"
#include "milter_client.h"
#include "xmalloc.h"

struct replay_msg {
    char *path;
    size_t nhdr;
    struct mc_header *hdr;
};

struct replay {
    const char *socket;
    const char *header;
    const char *unique;        /* -u TAG: each send its own Message-ID */
    int quiet;
    int timeout_ms;
    size_t nmsg, cap;
    struct replay_msg *msg;
    size_t total;              /* messages to send (repeats the files) */
    _Atomic size_t next;
    _Atomic size_t errors;
    double *lat_ms;            /* per message sent, by its sequence */
    pthread_mutex_t out_mu;    /* guards stdout lines */
};

/* replay_unique - m's fields for send i with a Message-ID of its own
 * ("<TAG.I.original>"), so that a milter keying examples by Message-ID
 * sees a new message each time; *idbuf is freed by the caller */
static struct mc_header *
replay_unique(const struct replay *r, const struct replay_msg *m, size_t i,
              char **idbuf)
{
    struct mc_header *h = xreallocarray(NULL, m->nhdr + 1, sizeof(*h));

    *idbuf = NULL;
    memcpy(h, m->hdr, m->nhdr * sizeof(*h));
    for (size_t k = 0; k < m->nhdr; k++) {
        const char *v = h[k].value;
        size_t n;

        if (strcasecmp(h[k].name, "Message-ID") != 0 || *idbuf != NULL)
            continue;
        v += v[0] == '<';
        n = strlen(r->unique) + strlen(v) + 32;
        *idbuf = xmalloc(n);
        snprintf(*idbuf, n, "<%s.%zu.%s%s", r->unique, i, v,
                 strchr(v, '>') ? "" : ">");
        h[k].value = *idbuf;
    }
    return h;
}

/* replay_header_add - hdr_header_fn collecting a message's fields */
static int
replay_header_add(const char *name, const char *value, void *arg)
{
    struct replay_msg *m = arg;

    m->hdr = xreallocarray(m->hdr, m->nhdr + 1, sizeof(*m->hdr));
    m->hdr[m->nhdr].name = xstrdup(name);
    m->hdr[m->nhdr].value = xstrdup(value);
    m->nhdr++;
    return 0;
}

/* replay_load_file - read one message's header block */
static void
replay_load_file(struct replay *r, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;
    struct replay_msg *m;

    if (f == NULL) {
        fprintf(stderr, "nm-replay: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    buf = xmalloc(1u << 20);
    n = fread(buf, 1, (1u << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    if (r->nmsg == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->msg = xreallocarray(r->msg, r->cap, sizeof(*r->msg));
    }
    m = &r->msg[r->nmsg++];
    memset(m, 0, sizeof(*m));
    m->path = xstrdup(path);
    hdr_message_headers(buf, n, replay_header_add, m);
    free(buf);
}

/* replay_cmp - sort names so a directory replays in a stable order */
static int
replay_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* replay_load - a file, or every regular file of a directory tree */
static void
replay_load(struct replay *r, const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;

    if (stat(path, &sb) != 0) {
        fprintf(stderr, "nm-replay: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    if (!S_ISDIR(sb.st_mode)) {
        replay_load_file(r, path);
        return;
    }
    if ((d = opendir(path)) == NULL) {
        fprintf(stderr, "nm-replay: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    while ((de = readdir(d)) != NULL) {
        size_t len;

        if (de->d_name[0] == '.')
            continue;
        len = strlen(path) + strlen(de->d_name) + 2;
        names = xreallocarray(names, n + 1, sizeof(*names));
        names[n] = xmalloc(len);
        snprintf(names[n], len, "%s/%s", path, de->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof(*names), replay_cmp);
    for (size_t i = 0; i < n; i++) {
        replay_load(r, names[i]);
        free(names[i]);
    }
    free(names);
}

/* replay_now_ms - monotonic milliseconds */
static double
replay_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* replay_worker - one connection sending messages until none are left */
static void *
replay_worker(void *arg)
{
    struct replay *r = arg;
    struct mc_conn *c = NULL;
    struct mc_header *hdr = NULL;
    char err[256], qid[32], *idbuf = NULL;
    size_t i;
    int rc;

    while ((i = atomic_fetch_add(&r->next, 1)) < r->total) {
        const struct replay_msg *m = &r->msg[i % r->nmsg];
        struct mc_result res;
        double t0 = replay_now_ms();
        const char *v;

        if (c == NULL &&
            (c = mc_connect(r->socket, r->timeout_ms, err, sizeof(err))) ==
                NULL) {
            fprintf(stderr, "nm-replay: %s\n", err);
            atomic_fetch_add(&r->errors, 1);
            r->lat_ms[i] = -1;
            continue;
        }
        snprintf(qid, sizeof(qid), "R%zu", i);
        if (r->unique != NULL)
            hdr = replay_unique(r, m, i, &idbuf);
        rc = mc_message(c, hdr ? hdr : m->hdr, m->nhdr, qid, &res, err,
                        sizeof(err));
        free(hdr);
        free(idbuf);
        hdr = NULL;
        idbuf = NULL;
        if (rc != 0) {
            fprintf(stderr, "nm-replay: %s: %s\n", m->path, err);
            atomic_fetch_add(&r->errors, 1);
            r->lat_ms[i] = -1;
            mc_close(c);
            c = NULL;
            continue;
        }
        r->lat_ms[i] = replay_now_ms() - t0;
        if (!r->quiet) {
            v = mc_added(&res, r->header);
            pthread_mutex_lock(&r->out_mu);
            printf("%s\t%c\t%s\n", m->path, res.reply, v ? v : "-");
            fflush(stdout); /* a line per message, even if we die later */
            pthread_mutex_unlock(&r->out_mu);
        }
        mc_result_free(&res);
    }
    mc_close(c);
    return NULL;
}

/* replay_dbl_cmp - for the latency percentiles */
static int
replay_dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* replay_usage - synopsis */
static void
replay_usage(void)
{
    fprintf(stderr, "usage: nm-replay -s SOCKET [-j CONNS] [-n TOTAL] "
            "[-H HEADER] [-t TIMEOUT_MS] [-u TAG] [-q] FILE|DIR...\n");
    exit(64);
}

/* main - load, replay, report */
int
main(int argc, char **argv)
{
    struct replay r = { .header = "X-Neural-Result", .timeout_ms = 10000 };
    long conns = 1, total = 0;
    pthread_t *th;
    double t0, elapsed, *ok;
    size_t nok = 0;
    int ch;

    pthread_mutex_init(&r.out_mu, NULL);
    while ((ch = getopt(argc, argv, "s:j:n:H:t:u:q")) != -1) {
        switch (ch) {
        case 's':
            r.socket = optarg;
            break;
        case 'j':
            conns = atol(optarg);
            break;
        case 'n':
            total = atol(optarg);
            break;
        case 'H':
            r.header = optarg;
            break;
        case 't':
            r.timeout_ms = atoi(optarg);
            break;
        case 'u':
            r.unique = optarg;
            break;
        case 'q':
            r.quiet = 1;
            break;
        default:
            replay_usage();
        }
    }
    if (r.socket == NULL || optind == argc || conns < 1 || conns > 1024 ||
        total < 0)
        replay_usage();
    for (int i = optind; i < argc; i++)
        replay_load(&r, argv[i]);
    if (r.nmsg == 0) {
        fprintf(stderr, "nm-replay: no messages\n");
        return 1;
    }
    r.total = total ? (size_t)total : r.nmsg;
    r.lat_ms = xcalloc(r.total, sizeof(*r.lat_ms));
    th = xcalloc((size_t)conns, sizeof(*th));
    t0 = replay_now_ms();
    for (long i = 0; i < conns; i++)
        pthread_create(&th[i], NULL, replay_worker, &r);
    for (long i = 0; i < conns; i++)
        pthread_join(th[i], NULL);
    elapsed = (replay_now_ms() - t0) / 1e3;

    ok = xcalloc(r.total, sizeof(*ok));
    for (size_t i = 0; i < r.total; i++)
        if (r.lat_ms[i] >= 0)
            ok[nok++] = r.lat_ms[i];
    qsort(ok, nok, sizeof(*ok), replay_dbl_cmp);
    fprintf(stderr,
            "messages %zu errors %zu connections %ld seconds %.3f "
            "msgs_per_s %.1f p50_ms %.3f p99_ms %.3f max_ms %.3f\n",
            nok, (size_t)atomic_load(&r.errors), conns, elapsed,
            elapsed > 0 ? (double)nok / elapsed : 0,
            nok ? ok[nok / 2] : 0, nok ? ok[(nok * 99) / 100] : 0,
            nok ? ok[nok - 1] : 0);
    for (size_t i = 0; i < r.nmsg; i++) {
        for (size_t k = 0; k < r.msg[i].nhdr; k++) {
            free((char *)r.msg[i].hdr[k].name);
            free((char *)r.msg[i].hdr[k].value);
        }
        free(r.msg[i].hdr);
        free(r.msg[i].path);
    }
    free(r.msg);
    free(r.lat_ms);
    free(ok);
    free(th);
    return atomic_load(&r.errors) ? 1 : 0;
}
