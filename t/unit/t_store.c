/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_store - the store against real redis-servers: the one t/unit/store.sh
 * starts (NM_REDIS_SOCK) and more that this test starts itself in
 * NM_TMPDIR (password, restart, hung server, TCP). Setup commands go over
 * a raw socket in RESP, so the test needs no hiredis. Skips without
 * NM_REDIS_SOCK.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "model.h"
#include "store.h"
#include "t_sys.h"
#include "../tap.h"


#define T_BOUND 5000u /* a blob bound small enough to cross it quickly */
#define D1 "0123abcd"
#define D2 "fedc9876"
#define T_READERS 16
#define T_ROUNDS 1000
#define T_PUBLISHES 300
#define T_BURST 8
#define T_SIGPIPE_ROUNDS 300

static const char *t_sock;   /* the main server, from store.sh */
static const char *t_tmp;    /* NM_TMPDIR */
static const char *t_server; /* REDIS_SERVER */

/* t_opts - options for a store on servers with prefix */
static struct store_opts
t_opts(const char *servers, const char *prefix)
{
    struct store_opts o = {
        .servers = servers,
        .prefix = prefix,
        .timeout_ms = 2000,
        .connect_timeout_ms = 1000,
    };

    return o;
}

/* t_store - a store that must be valid */
static struct store *
t_store(const struct store_opts *o)
{
    char err[256] = "";
    struct store *st = store_new(o, err, sizeof(err));

    if (st == NULL) {
        diag("store_new: %s", err);
        exit(1);
    }
    return st;
}

/* t_raw - send one command in RESP to the server on path; returns the
 * first byte of the reply ('+', '-', ':', '$', '*') or -1 */
static int
t_raw(const char *path, int argc, const char **argv)
{
    char c = 0;
    int fd = t_unix_connect(path), rc = -1;

    if (fd < 0)
        return -1;
    if (t_resp_send(fd, argc, argv) == 0 && read(fd, &c, 1) == 1)
        rc = (unsigned char)c;
    close(fd);
    return rc;
}

/* t_redis_start - start redis-server on NM_TMPDIR/NAME.sock with extra
 * arguments (at most 6); waits until it answers; returns its pid */
static pid_t
t_redis_start(const char *name, const char *const *extra, char *sock,
              size_t socklen)
{
    char logpath[512];
    const char *argv[32] = {
        t_server, "--unixsocket", sock, "--unixsocketperm", "700",
        "--dir", t_tmp, "--save", "", "--appendonly", "no",
        "--daemonize", "no",
    };
    size_t n = 13;
    int have_port = 0;
    pid_t pid;

    snprintf(sock, socklen, "%s/%s.sock", t_tmp, name);
    snprintf(logpath, sizeof(logpath), "%s/%s.log", t_tmp, name);
    for (; extra != NULL && *extra != NULL && n < 30; extra++) {
        have_port |= strcmp(*extra, "--port") == 0;
        argv[n++] = *extra;
    }
    if (!have_port) {
        argv[n++] = "--port";
        argv[n++] = "0";
    }
    argv[n] = NULL;
    fflush(stdout);
    if ((pid = fork()) < 0) {
        diag("fork: %s", strerror(errno));
        exit(1);
    }
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0600);

        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execvp(t_server, (char *const *)argv);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        const char *ping[] = { "PING" };
        int status;

        if (t_raw(sock, 1, ping) > 0)
            return pid;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            diag("redis-server %s exited, see %s", name, logpath);
            return -1;
        }
        t_sleep_ms(10);
    }
    diag("redis-server %s did not answer in 5 s, see %s", name, logpath);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

/* t_redis_stop - stop a server of t_redis_start and wait for it */
static void
t_redis_stop(pid_t pid)
{
    if (pid <= 0)
        return;
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

/*
 * store_new option checks: no server is contacted
 */
struct t_parse_case {
    const char *label;
    const char *servers;
    const char *read_servers;
    const char *prefix;
    int want_ok;
};

/* t_parse - the table of server lists and prefixes */
static void
t_parse(void)
{
    static char eight[256], nine[256], path107[128], path108[128];
    static char pfx64[80], pfx65[80];
    static const struct t_parse_case cases[] = {
        { "unix socket", "/run/redis/redis.sock", NULL, "nm", 1 },
        { "host:port", "127.0.0.1:6379", NULL, "nm", 1 },
        { "name:port", "redis.example.org:6379", NULL, "nm", 1 },
        { "[v6]:port", "[::1]:6379", NULL, "nm", 1 },
        { "[v6 full]:port", "[2001:db8::12:1]:1", NULL, "nm", 1 },
        { "list with blanks", " a:1 ,\tb:2 , /x.sock ", NULL, "nm", 1 },
        { "max port", "h:65535", NULL, "nm", 1 },
        { "read servers", "a:1", "/r.sock,b:2", "nm", 1 },
        { "read servers empty", "a:1", "", "nm", 1 },
        { "servers N=8", eight, NULL, "nm", 1 },
        { "servers N+1=9", nine, NULL, "nm", 0 },
        { "socket path N=107", path107, NULL, "nm", 1 },
        { "socket path N+1=108", path108, NULL, "nm", 0 },
        { "empty", "", NULL, "nm", 0 },
        { "blank", "  ", NULL, "nm", 0 },
        { "NULL servers", NULL, NULL, "nm", 0 },
        { "empty entry", "a:1,,b:2", NULL, "nm", 0 },
        { "trailing comma", "a:1,", NULL, "nm", 0 },
        { "no port", "localhost", NULL, "nm", 0 },
        { "empty port", "localhost:", NULL, "nm", 0 },
        { "port 0", "localhost:0", NULL, "nm", 0 },
        { "port 65536", "localhost:65536", NULL, "nm", 0 },
        { "port -1", "localhost:-1", NULL, "nm", 0 },
        { "port +80", "localhost:+80", NULL, "nm", 0 },
        { "port 80x", "localhost:80x", NULL, "nm", 0 },
        { "port with blank", "localhost: 80", NULL, "nm", 0 },
        { "port 0080", "localhost:0080", NULL, "nm", 1 },
        { "port too long", "localhost:000080", NULL, "nm", 0 },
        { "empty host", ":6379", NULL, "nm", 0 },
        { "bare v6", "::1:6379", NULL, "nm", 0 },
        { "v6 without port", "[::1]", NULL, "nm", 0 },
        { "v6 empty port", "[::1]:", NULL, "nm", 0 },
        { "v6 unclosed", "[::1:6379", NULL, "nm", 0 },
        { "v6 not an address", "[zz::1]:6379", NULL, "nm", 0 },
        { "v6 empty", "[]:6379", NULL, "nm", 0 },
        { "host with slash", "a/b:1", NULL, "nm", 0 },
        { "relative path", "redis.sock", NULL, "nm", 0 },
        { "bad read servers", "a:1", "b", "nm", 0 },
        { "prefix chars", "a:1", NULL, "x:y.z-_A9", 1 },
        { "prefix N=64", "a:1", NULL, pfx64, 1 },
        { "prefix N+1=65", "a:1", NULL, pfx65, 0 },
        { "prefix empty", "a:1", NULL, "", 0 },
        { "prefix NULL", "a:1", NULL, NULL, 0 },
        { "prefix blank", "a:1", NULL, "a b", 0 },
        { "prefix slash", "a:1", NULL, "a/b", 0 },
        { "prefix brace", "a:1", NULL, "{nm}", 0 },
    };
    size_t i;

    eight[0] = nine[0] = '\0';
    for (i = 0; i < 9; i++) {
        char one[16];

        snprintf(one, sizeof(one), "%sh%zu:%zu", i ? "," : "", i, 6000 + i);
        if (i < 8)
            strcat(eight, one);
        strcat(nine, one);
    }
    path107[0] = '/';
    memset(path107 + 1, 'p', 106);
    path107[107] = '\0';
    snprintf(path108, sizeof(path108), "%sq", path107);
    memset(pfx64, 'a', 64);
    pfx64[64] = '\0';
    memset(pfx65, 'b', 65);
    pfx65[65] = '\0';

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct t_parse_case *c = &cases[i];
        struct store_opts o = t_opts(c->servers, c->prefix);
        char err[256] = "";
        struct store *st;

        o.read_servers = c->read_servers;
        st = store_new(&o, err, sizeof(err));
        if (c->want_ok) {
            if (!ok(st != NULL, "parse: %s", c->label))
                diag("  err: %s", err);
        } else {
            ok(st == NULL && err[0] != '\0', "parse: %s rejected (%s)",
               c->label, err);
        }
        store_free(st);
    }

    {
        struct store_opts o = t_opts("a:1", "nm");
        char err[256] = "";
        struct store *st;

        o.timeout_ms = 0;
        st = store_new(&o, err, sizeof(err));
        ok(st == NULL && err[0], "parse: timeout 0 rejected");
        store_free(st);
        o = t_opts("a:1", "nm");
        o.connect_timeout_ms = -1;
        st = store_new(&o, err, sizeof(err));
        ok(st == NULL, "parse: connect timeout -1 rejected");
        store_free(st);
        o = t_opts("a:1", "nm");
        o.db = -1;
        st = store_new(&o, err, sizeof(err));
        ok(st == NULL, "parse: db -1 rejected");
        store_free(st);
    }
    store_free(NULL);
    ok(1, "store_free(NULL) does nothing");
}

/* t_basic - publish, head, get, versions, prefixes, digests, delete */
static void
t_basic(void)
{
    struct store_opts o = t_opts(t_sock, "t1");
    struct store *st = t_store(&o), *st2;
    char digest[FEAT_DIGEST_LEN + 1] = "";
    uint64_t v = 0, gv = 0;
    void *blob = NULL;
    size_t len = 0;

    is_int(store_ping(st), 0, "ping");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ABSENT, "head on empty db: 0");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ABSENT,
           "get of an absent digest: 0");
    ok(blob == NULL, "get absent leaves no blob");

    is_int(store_model_publish(st, D1, "hello", 5, NULL, &v), STORE_OK, "publish");
    is_int(v, 1, "first publish: version 1");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "head finds it");
    is_str(digest, D1, "head digest");
    is_int(v, 1, "head version 1");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_OK, "get");
    ok(len == 5 && memcmp(blob, "hello", 5) == 0, "get: same bytes");
    is_int(gv, 1, "get: version 1");
    free(blob);

    is_int(store_model_publish(st, D1, "world!", 6, NULL, &v), STORE_OK, "publish again");
    is_int(v, 2, "second publish: version 2");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "head after 2nd publish");
    is_int(v, 2, "head version 2");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_OK, "get v2");
    ok(len == 6 && memcmp(blob, "world!", 6) == 0 && gv == 2,
       "get v2: new bytes, version 2");
    free(blob);

    /* a second prefix is independent */
    o = t_opts(t_sock, "t2");
    st2 = t_store(&o);
    is_int(store_model_head(st2, STORE_VIA_READ, digest, &v), STORE_ABSENT, "prefix t2: empty");
    is_int(store_model_publish(st2, D1, "other", 5, NULL, &v), STORE_OK, "t2: publish");
    is_int(v, 1, "t2: version 1 (t1 at 2)");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "t1 still there");
    is_int(v, 2, "t1 still version 2");

    /* two digests: current follows the last publish */
    is_int(store_model_publish(st, D2, "d2", 2, NULL, &v), STORE_OK, "publish D2");
    is_int(v, 1, "D2 version 1");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "head after D2");
    ok(strcmp(digest, D2) == 0 && v == 1, "current is D2 v1");
    is_int(store_model_publish(st, D1, "d1", 2, NULL, &v), STORE_OK, "publish D1 again");
    is_int(v, 3, "D1 version 3");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "head after D1");
    ok(strcmp(digest, D1) == 0 && v == 3, "current is D1 v3");

    /* delete */
    is_int(store_model_delete(st, D2), 0, "delete D2 (not current)");
    is_int(store_model_get(st, STORE_VIA_READ, D2, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ABSENT, "D2 gone");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "current D1 kept");
    is_str(digest, D1, "still D1");
    is_int(store_model_delete(st, D1), 0, "delete D1 (current)");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ABSENT, "no model after delete");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ABSENT, "D1 gone");
    is_int(store_model_delete(st, D1), 0, "delete of absent digest: 0");
    is_int(store_model_publish(st, D1, "x", 1, NULL, &v), STORE_OK, "publish after del");
    /* A version never names two blobs: watchers compare versions. */
    is_int(v, 4, "the version goes on after a delete");
    is_int(store_model_head(st2, STORE_VIA_READ, digest, &v), STORE_OK, "t2 untouched");
    ok(strcmp(digest, D1) == 0 && v == 1, "t2 still D1 v1");

    /* bad digests */
    is_int(store_model_publish(st, "0123ABCD", "x", 1, NULL, &v), STORE_ERR,
           "publish: uppercase digest rejected");
    is_int(store_model_publish(st, "0123abc", "x", 1, NULL, &v), STORE_ERR,
           "publish: 7-char digest rejected");
    is_int(store_model_publish(st, "0123abcde", "x", 1, NULL, &v), STORE_ERR,
           "publish: 9-char digest rejected");
    is_int(store_model_get(st, STORE_VIA_READ, "xyz", MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ERR,
           "get: bad digest rejected");
    is_int(store_model_delete(st, "../etc"), -1,
           "delete: bad digest rejected");
    store_free(st2);
    store_free(st);
}

/* t_bad_data - what the store must not believe */
static void
t_bad_data(void)
{
    struct store_opts o = t_opts(t_sock, "t3");
    struct store *st = t_store(&o);
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t v, gv;
    void *blob;
    size_t len;
    const char *set_bad[] = { "SET", "t3:current", "NOTHEX!!" };
    const char *set_short[] = { "SET", "t3:current", "abc" };
    const char *set_orphan[] = { "SET", "t3:current", "99999999" };
    const char *hset_ver[] = { "HSET", ("t3:model:" D1), "blob", "x",
                               "version", "abc" };
    const char *hset_zero[] = { "HSET", ("t3:model:" D1), "version", "0" };
    const char *hset_noblob[] = { "HSET", ("t3:model:" D2), "version", "4" };
    const char *set_cur[] = { "SET", "t3:current", D1 };
    const char *wrongtype[] = { "SET", ("t3:model:" D2), "x" };

    is_int(t_raw(t_sock, 3, set_bad), '+', "setup: current = NOTHEX!!");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "head: non-hex current");
    is_int(t_raw(t_sock, 3, set_short), '+', "setup: current = abc");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "head: short current");
    is_int(t_raw(t_sock, 3, set_orphan), '+', "setup: current w/o hash");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ABSENT,
           "head: current whose hash is missing is no model");
    is_int(t_raw(t_sock, 6, hset_ver), ':', "setup: version abc");
    is_int(t_raw(t_sock, 3, set_cur), '+', "setup: current D1");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "head: version abc");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ERR, "get: version abc");
    is_int(t_raw(t_sock, 4, hset_zero), ':', "setup: version 0");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ERR, "get: version 0");
    is_int(t_raw(t_sock, 4, hset_noblob), ':', "setup: hash w/o blob");
    is_int(store_model_get(st, STORE_VIA_READ, D2, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ABSENT,
           "get: a hash without a blob (deleted) is no model");
    is_int(t_raw(t_sock, 3, wrongtype), '+', "setup: model key a string");
    is_int(store_model_get(st, STORE_VIA_READ, D2, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ERR,
           "get: WRONGTYPE is an error");
    is_int(store_ping(st), 0, "store still usable after errors");
    store_free(st);
}

/* t_blobs - binary blobs, the size limit at N and N+1 */
static void
t_blobs(void)
{
    struct store_opts o = t_opts(t_sock, "tb");
    struct store *st;
    unsigned char bin[1000];
    unsigned char *big;
    void *blob = NULL;
    size_t len = 0;
    uint64_t v, vn = 0, gv;
    char n1[32];
    const char *script =
        "redis.call('HSET', KEYS[1], 'blob', string.rep('z', ARGV[1]), "
        "'version', '7') return 1";
    const char *eval[] = { "EVAL", script, "1", ("tb:model:" D2), n1 };

    o.timeout_ms = 30000; /* 64 MiB through a loaded 2-CPU machine */
    st = t_store(&o);
    for (size_t i = 0; i < sizeof(bin); i++)
        bin[i] = (unsigned char)(i % 3 == 0 ? 0 : i * 7);
    bin[sizeof(bin) - 1] = 0;
    is_int(store_model_publish(st, D1, bin, sizeof(bin), NULL, &v), STORE_OK,
           "publish a blob with NUL bytes");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_OK, "get it");
    ok(len == sizeof(bin) && memcmp(blob, bin, len) == 0,
       "binary blob round-trips (%zu bytes)", len);
    free(blob);
    is_int(store_model_publish(st, D1, "", 0, NULL, &v), STORE_OK, "publish empty blob");
    is_int(store_model_get(st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_OK, "get empty blob");
    is_int(len, 0, "empty blob: length 0");
    free(blob);

    /* The caller's bound, at N and N + 1: refused before it is read. */
    big = malloc(T_BOUND);
    for (size_t i = 0; i < T_BOUND; i++)
        big[i] = (unsigned char)(i * 2654435761u >> 24);
    is_int(store_model_publish(st, D1, big, T_BOUND, NULL, &vn), STORE_OK,
           "publish N bytes");
    is_int(store_model_get(st, STORE_VIA_READ, D1, T_BOUND, &blob, &len,
                           &gv), STORE_OK, "get N bytes with a bound of N");
    ok(len == T_BOUND && blob && memcmp(blob, big, len) == 0,
       "N bytes round-trip");
    is_int(gv, vn, "the version of the publish");
    free(blob);
    blob = (void *)1;
    is_int(store_model_get(st, STORE_VIA_READ, D1, T_BOUND - 1, &blob, &len,
                           &gv), STORE_ERR, "get N bytes with a bound of "
           "N - 1: refused");
    ok(blob == NULL, "no blob returned on refusal");
    free(big);

    /* N+1 bytes put there behind the store's back */
    snprintf(n1, sizeof(n1), "%u", MODEL_MAX_BLOB + 1u);
    is_int(t_raw(t_sock, 5, eval), ':', "setup: N+1 bytes set directly");
    blob = (void *)1;
    is_int(store_model_get(st, STORE_VIA_READ, D2, MODEL_MAX_BLOB, &blob, &len, &gv), STORE_ERR,
           "get of N+1 bytes rejected");
    ok(blob == NULL, "no blob returned on rejection");
    is_int(store_ping(st), 0, "store usable after the rejection");
    store_free(st);
}

/* t_db - SELECT */
static void
t_db(void)
{
    struct store_opts o = t_opts(t_sock, "tdb");
    struct store *s0, *s3, *s99;
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t v;

    o.db = 3;
    s3 = t_store(&o);
    o.db = 0;
    s0 = t_store(&o);
    o.db = 99; /* redis has 16 databases by default */
    s99 = t_store(&o);
    is_int(store_model_publish(s3, D1, "db3", 3, NULL, &v), STORE_OK, "db 3: publish");
    is_int(store_model_head(s0, STORE_VIA_READ, digest, &v), STORE_ABSENT, "db 0: nothing");
    is_int(store_model_head(s3, STORE_VIA_READ, digest, &v), STORE_OK, "db 3: found");
    is_int(store_ping(s99), -1, "db 99: SELECT fails");
    store_free(s0);
    store_free(s3);
    store_free(s99);
}

/* t_auth - AUTH with a good, a wrong and no password */
static void
t_auth(void)
{
    const char *extra[] = { "--requirepass", "s3cret pass", NULL };
    char sock[512], digest[FEAT_DIGEST_LEN + 1];
    struct t_capture cap;
    struct store_opts o;
    struct store *st;
    uint64_t v;
    pid_t pid;
    char *out;

    pid = t_redis_start("auth", extra, sock, sizeof(sock));
    if (!ok(pid > 0, "auth: server with requirepass started"))
        return;
    o = t_opts(sock, "ta");
    o.password = "s3cret pass";
    st = t_store(&o);
    is_int(store_model_publish(st, D1, "a", 1, NULL, &v), STORE_OK, "auth: good password");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "auth: head");
    store_free(st);

    o.password = "wrong";
    st = t_store(&o);
    t_capture_begin(&cap, "auth-wrong");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "auth: wrong password");
    out = t_capture_end(&cap);
    ok(strstr(out, "store: connect ") && strstr(out, sock) &&
       strstr(out, "AUTH"), "auth: failure logged with server and AUTH");
    free(out);
    store_free(st);

    o.password = "";
    st = t_store(&o);
    t_capture_begin(&cap, "auth-none");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "auth: no password");
    out = t_capture_end(&cap);
    ok(strstr(out, "store: GETRANGE ta:current") && strstr(out, "NOAUTH"),
       "auth: NOAUTH logged with the command");
    free(out);
    store_free(st);
    t_redis_stop(pid);
}

/* calls of t_ping_thread that took 250 ms or more */
static _Atomic int t_slow;

/* t_ping_thread - one ping, for a burst */
static void *
t_ping_thread(void *arg)
{
    int64_t t0 = t_now_ms();

    if (store_ping(arg) != -1)
        diag("hung: a ping of the burst succeeded");
    if (t_now_ms() - t0 >= 250)
        atomic_fetch_add(&t_slow, 1);
    return NULL;
}

/* t_down - Redis absent or hung: fail fast after the first failure */
static void
t_down(void)
{
    char path[512], digest[FEAT_DIGEST_LEN + 1];
    struct sockaddr_un sa;
    struct t_capture cap;
    struct store_opts o;
    struct store *st;
    int64_t t0, t1;
    int fails = 0, fd;
    uint64_t v;
    char *out;

    snprintf(path, sizeof(path), "%s/nonexistent.sock", t_tmp);
    o = t_opts(path, "td");
    st = t_store(&o);
    t_capture_begin(&cap, "down");
    t0 = t_now_ms();
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "down: head fails");
    for (int i = 0; i < 100; i++)
        fails += store_model_head(st, STORE_VIA_READ, digest, &v) == STORE_ERR;
    t1 = t_now_ms();
    out = t_capture_end(&cap);
    is_int(fails, 100, "down: 100 more calls fail");
    ok(t1 - t0 < 1000, "down: 101 calls in %lld ms (< 1000)",
       (long long)(t1 - t0));
    ok(strstr(out, "store: connect ") && strstr(out, "nonexistent.sock"),
       "down: connect failure logged");
    free(out);
    is_int(store_ping(st), -1, "down: ping fails");
    store_free(st);

    /* A server that accepts connections but never answers. */
    snprintf(path, sizeof(path), "%s/hung.sock", t_tmp);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (!ok(fd >= 0 && t_unix_addr(path, &sa) == 0 &&
                bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                listen(fd, 128) == 0,
            "hung: listening socket"))
        return;
    o = t_opts(path, "th");
    o.timeout_ms = 300;
    st = t_store(&o);
    t0 = t_now_ms();
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "hung: head times out");
    t1 = t_now_ms();
    ok(t1 - t0 >= 250 && t1 - t0 < 2000, "hung: took the timeout (%lld ms)",
       (long long)(t1 - t0));
    fails = 0;
    t0 = t_now_ms();
    for (int i = 0; i < 100; i++)
        fails += store_model_head(st, STORE_VIA_READ, digest, &v) == STORE_ERR;
    t1 = t_now_ms();
    is_int(fails, 100, "hung: 100 more calls fail");
    ok(t1 - t0 < 50, "hung: backoff: 100 calls in %lld ms (< 50)",
       (long long)(t1 - t0));
    t_sleep_ms(150); /* past the first backoff of 100 ms */
    t0 = t_now_ms();
    is_int(store_ping(st), -1, "hung: after the backoff it tries again");
    t1 = t_now_ms();
    ok(t1 - t0 >= 250, "hung: and waits the timeout again (%lld ms)",
       (long long)(t1 - t0));
    t_sleep_ms(150); /* backoff is now 200 ms: still in it */
    t0 = t_now_ms();
    is_int(store_ping(st), -1, "hung: backoff doubled");
    t1 = t_now_ms();
    ok(t1 - t0 < 50, "hung: so this call failed fast (%lld ms)",
       (long long)(t1 - t0));
    store_free(st);

    /* Callers that connected before the outage was noticed all fail;
     * that is one failure, not a doubling per caller. */
    st = t_store(&o);
    {
        pthread_t th[T_BURST];

        for (int i = 0; i < T_BURST; i++)
            pthread_create(&th[i], NULL, t_ping_thread, st);
        for (int i = 0; i < T_BURST; i++)
            pthread_join(th[i], NULL);
    }
    t_sleep_ms(150);
    t0 = t_now_ms();
    is_int(store_ping(st), -1, "hung: burst of %d failures", T_BURST);
    t1 = t_now_ms();
    ok(t1 - t0 >= 250, "hung: burst backed off 100 ms only, then probed "
       "(%lld ms)", (long long)(t1 - t0));

    /* When the backoff (now 200 ms) ends, one caller probes, the
     * others keep failing fast. */
    t_sleep_ms(250);
    atomic_store(&t_slow, 0);
    {
        pthread_t th[T_BURST];

        for (int i = 0; i < T_BURST; i++)
            pthread_create(&th[i], NULL, t_ping_thread, st);
        for (int i = 0; i < T_BURST; i++)
            pthread_join(th[i], NULL);
    }
    is_int(atomic_load(&t_slow), 1, "hung: of %d callers one probed",
           T_BURST);
    store_free(st);
    close(fd);
    unlink(path);
}

/* t_closer - a "server" that accepts and at once closes connections */
static void *
t_closer(void *arg)
{
    int lfd = *(int *)arg, fd;

    while ((fd = accept(lfd, NULL, NULL)) >= 0)
        close(fd);
    return NULL;
}

/* t_sigpipe - writing to a closed connection must not kill us: this
 * process does not ignore SIGPIPE, the store must guard its writes */
static void
t_sigpipe(void)
{
    char path[512];
    struct sockaddr_un sa;
    struct store_opts o;
    pthread_t th;
    int lfd, fails = 0;

    snprintf(path, sizeof(path), "%s/closer.sock", t_tmp);
    unlink(path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (!ok(lfd >= 0 && t_unix_addr(path, &sa) == 0 &&
                bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
                listen(lfd, 128) == 0,
            "sigpipe: closing server"))
        return;
    pthread_create(&th, NULL, t_closer, &lfd);
    o = t_opts(path, "tp");
    o.password = "pw"; /* AUTH right after connect: races the close */
    for (int i = 0; i < T_SIGPIPE_ROUNDS; i++) {
        struct store *st = t_store(&o);

        fails += store_ping(st) == -1;
        store_free(st);
    }
    is_int(fails, T_SIGPIPE_ROUNDS, "sigpipe: %d connections closed by "
           "the server fail, and we are alive", T_SIGPIPE_ROUNDS);
    shutdown(lfd, SHUT_RDWR);
    pthread_join(th, NULL);
    close(lfd);
    unlink(path);
}

/* t_reconnect - a restarted server is found again */
static void
t_reconnect(void)
{
    char sock[512], digest[FEAT_DIGEST_LEN + 1];
    struct store_opts o;
    struct store *st;
    int64_t t0;
    uint64_t v;
    pid_t pid;
    int rc = -1;

    pid = t_redis_start("restart", NULL, sock, sizeof(sock));
    if (!ok(pid > 0, "restart: server started"))
        return;
    o = t_opts(sock, "tr");
    st = t_store(&o);
    is_int(store_model_publish(st, D1, "r", 1, NULL, &v), STORE_OK, "restart: publish");

    /* Quick restart while a context is idle: nothing is lost. */
    t_redis_stop(pid);
    pid = t_redis_start("restart", NULL, sock, sizeof(sock));
    if (!ok(pid > 0, "restart: server restarted"))
        goto out;
    is_int(store_model_publish(st, D1, "r", 1, NULL, &v), STORE_OK,
           "restart: publish on a dead idle context reconnects");
    is_int(v, 1, "restart: fresh server, version 1");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "restart: head");

    /* Down for a while: calls fail, then it comes back. */
    t_redis_stop(pid);
    pid = -1;
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_ERR, "restart: down: head");
    is_int(store_model_publish(st, D1, "r", 1, NULL, &v), STORE_ERR,
           "restart: down: publish");
    for (int i = 0; i < 5; i++) {
        t_sleep_ms(120);
        rc = store_ping(st);
    }
    is_int(rc, -1, "restart: still down after backoffs");
    pid = t_redis_start("restart", NULL, sock, sizeof(sock));
    if (!ok(pid > 0, "restart: server back"))
        goto out;
    t0 = t_now_ms();
    while ((rc = store_ping(st)) != 0 && t_now_ms() - t0 < 6000)
        t_sleep_ms(20);
    is_int(rc, 0, "restart: store works again after %lld ms",
           (long long)(t_now_ms() - t0));
    ok(t_now_ms() - t0 <= 5200, "restart: within the 5 s backoff cap");
    is_int(store_model_publish(st, D2, "r2", 2, NULL, &v), STORE_OK,
           "restart: publish after the outage");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "restart: head");
    is_str(digest, D2, "restart: head sees it");
out:
    store_free(st);
    t_redis_stop(pid);
}

/* t_tcp - TCP, IPv6 in brackets, server order and read servers */
static void
t_tcp(void)
{
    char sock[512], list[1024], port[16], digest[FEAT_DIGEST_LEN + 1];
    const char *extra[] = { "--port", port, "--bind", "127.0.0.1", "-::1",
                            NULL };
    struct store_opts o;
    struct store *st;
    uint64_t v;
    pid_t pid = -1;
    int p = 0;

    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    for (int i = 0; i < 5 && pid < 0; i++) {
        p = 20000 + rand() % 40000;
        snprintf(port, sizeof(port), "%d", p);
        pid = t_redis_start("tcp", extra, sock, sizeof(sock));
    }
    if (!ok(pid > 0, "tcp: server on 127.0.0.1:%d", p))
        return;
    snprintf(list, sizeof(list), "127.0.0.1:%d", p);
    o = t_opts(list, "tt");
    st = t_store(&o);
    is_int(store_ping(st), 0, "tcp: ping over 127.0.0.1");
    is_int(store_model_publish(st, D1, "tcp", 3, NULL, &v), STORE_OK, "tcp: publish");
    store_free(st);

    snprintf(list, sizeof(list), "[::1]:%d", p);
    o = t_opts(list, "tt");
    st = t_store(&o);
    {
        int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
        int rc = store_ping(st);

        if (fd6 < 0 || rc != 0)
            ok(1, "tcp: [::1] # SKIP no IPv6 loopback here");
        else
            is_int(rc, 0, "tcp: ping over [::1]");
        if (fd6 >= 0)
            close(fd6);
    }
    store_free(st);

    /* the first server is down: the second answers */
    snprintf(list, sizeof(list), "%s/none.sock, 127.0.0.1:%d", t_tmp, p);
    o = t_opts(list, "tt");
    st = t_store(&o);
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "order: falls to the 2nd");
    is_int(v, 1, "order: version from the 2nd");
    store_free(st);

    /* reads and writes go to their own servers */
    snprintf(list, sizeof(list), "%s/none.sock", t_tmp);
    o = t_opts(list, "tt");
    snprintf(sock, sizeof(sock), "127.0.0.1:%d", p);
    o.read_servers = sock;
    st = t_store(&o);
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK, "roles: head reads");
    is_int(store_model_publish(st, D1, "w", 1, NULL, &v), STORE_ERR,
           "roles: publish needs the write server");
    is_int(store_model_head(st, STORE_VIA_READ, digest, &v), STORE_OK,
           "roles: write backoff does not stop reads");
    store_free(st);
    t_redis_stop(pid);
}

/* store_int.h's STORE_SENTINEL_MAX_REPLICAS and _REFRESH_MS */
#define T_MAX_REPLICAS 16
#define T_REFRESH_MS 2000

/*
 * Sentinel: a fake sentinel on a unix socket (its replies are set by the
 * test, malformed ones too) in front of real redis-servers on TCP
 */
struct t_fake {
    char path[512];
    int lfd;
    pthread_t th;
    pthread_mutex_t mu;
    /* guarded by mu: the raw RESP replies, and what was asked */
    char primary[4096];      /* to get-master-addr-by-name */
    char master[1024];       /* to SENTINEL master */
    char replicas[4096];     /* to SENTINEL replicas */
    int asked_replicas;
    char auth[64];           /* the password of the last AUTH */
    int nconn;               /* connection threads alive */
    int fds[16];             /* their sockets, -1 = free */
};

/* t_bulk - append a bulk string to buf */
static void
t_bulk(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);

    snprintf(buf + n, len - n, "$%zu\r\n%s\r\n", strlen(s), s);
}

/* t_fake_primary - the fake names host:port (host NULL: nil) */
static void
t_fake_primary(struct t_fake *f, const char *host, int port)
{
    char p[16];

    snprintf(p, sizeof(p), "%d", port);
    pthread_mutex_lock(&f->mu);
    if (host == NULL) {
        snprintf(f->primary, sizeof(f->primary), "*-1\r\n");
    } else {
        snprintf(f->primary, sizeof(f->primary), "*2\r\n");
        t_bulk(f->primary, sizeof(f->primary), host);
        t_bulk(f->primary, sizeof(f->primary), p);
    }
    pthread_mutex_unlock(&f->mu);
}

/* t_fake_raw - the reply to get-master-addr-by-name, verbatim */
static void
t_fake_raw(struct t_fake *f, const char *resp)
{
    pthread_mutex_lock(&f->mu);
    snprintf(f->primary, sizeof(f->primary), "%s", resp);
    pthread_mutex_unlock(&f->mu);
}

/* t_fake_replicas - n replicas at ports port[i] (0 ends early), the
 * first bad ones down; SENTINEL master says count (-1: n) */
static void
t_fake_replicas(struct t_fake *f, const int *port, int n, int bad,
                long count)
{
    char num[24], p[16];

    pthread_mutex_lock(&f->mu);
    snprintf(num, sizeof(num), "%ld", count < 0 ? (long)n : count);
    snprintf(f->master, sizeof(f->master), "*6\r\n");
    t_bulk(f->master, sizeof(f->master), "name");
    t_bulk(f->master, sizeof(f->master), "tm");
    t_bulk(f->master, sizeof(f->master), "flags");
    t_bulk(f->master, sizeof(f->master), "master");
    t_bulk(f->master, sizeof(f->master), "num-slaves");
    t_bulk(f->master, sizeof(f->master), num);
    snprintf(f->replicas, sizeof(f->replicas), "*%d\r\n", n);
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof(p), "%d", port[i]);
        snprintf(f->replicas + strlen(f->replicas),
                 sizeof(f->replicas) - strlen(f->replicas), "*8\r\n");
        t_bulk(f->replicas, sizeof(f->replicas), "ip");
        t_bulk(f->replicas, sizeof(f->replicas), "127.0.0.1");
        t_bulk(f->replicas, sizeof(f->replicas), "port");
        t_bulk(f->replicas, sizeof(f->replicas), p);
        t_bulk(f->replicas, sizeof(f->replicas), "flags");
        t_bulk(f->replicas, sizeof(f->replicas),
               i < bad ? "s_down,slave,disconnected" : "slave");
        t_bulk(f->replicas, sizeof(f->replicas), "master-link-status");
        t_bulk(f->replicas, sizeof(f->replicas), i < bad ? "err" : "ok");
    }
    f->asked_replicas = 0;
    pthread_mutex_unlock(&f->mu);
}

/* t_fake_reply - the reply to one command of argc args */
static void
t_fake_reply(struct t_fake *f, int fd, int argc, char args[][300])
{
    char out[4096];

    pthread_mutex_lock(&f->mu);
    if (argc == 2 && strcasecmp(args[0], "AUTH") == 0) {
        snprintf(f->auth, sizeof(f->auth), "%s", args[1]);
        snprintf(out, sizeof(out), "+OK\r\n");
    } else if (argc == 3 && strcasecmp(args[0], "SENTINEL") == 0 &&
               strcmp(args[1], "get-master-addr-by-name") == 0) {
        snprintf(out, sizeof(out), "%s", f->primary);
    } else if (argc == 3 && strcasecmp(args[0], "SENTINEL") == 0 &&
               strcmp(args[1], "master") == 0) {
        snprintf(out, sizeof(out), "%s", f->master);
    } else if (argc == 3 && strcasecmp(args[0], "SENTINEL") == 0 &&
               strcmp(args[1], "replicas") == 0) {
        f->asked_replicas++;
        snprintf(out, sizeof(out), "%s", f->replicas);
    } else {
        snprintf(out, sizeof(out), "-ERR unknown command\r\n");
    }
    pthread_mutex_unlock(&f->mu);
    (void)t_write_all(fd, out, strlen(out));
}

struct t_fake_conn {
    struct t_fake *f;
    int slot;
};

/* t_fake_conn_main - serve one connection until EOF */
static void *
t_fake_conn_main(void *arg)
{
    struct t_fake_conn *fc = arg;
    struct t_fake *f = fc->f;
    int fd = f->fds[fc->slot];
    char line[400], args[8][300];
    int argc;

    while (t_read_line(fd, line, sizeof(line)) > 0 && line[0] == '*') {
        argc = atoi(line + 1);
        if (argc < 1 || argc > 8)
            break;
        for (int i = 0; i < argc; i++) {
            if (t_read_line(fd, line, sizeof(line)) == 0 ||
                t_read_line(fd, args[i], sizeof(args[i])) == 0)
                argc = 0;
        }
        if (argc == 0)
            break;
        t_fake_reply(f, fd, argc, args);
    }
    pthread_mutex_lock(&f->mu);
    close(fd);
    f->fds[fc->slot] = -1;
    f->nconn--;
    pthread_mutex_unlock(&f->mu);
    free(fc);
    return NULL;
}

/* t_fake_main - accept until the listening socket is shut */
static void *
t_fake_main(void *arg)
{
    struct t_fake *f = arg;
    int fd;

    while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
        struct t_fake_conn *fc = calloc(1, sizeof(*fc));
        pthread_t t;
        int slot = -1;

        pthread_mutex_lock(&f->mu);
        for (int i = 0; i < 16 && slot < 0; i++)
            if (f->fds[i] < 0)
                slot = i;
        if (slot >= 0) {
            f->fds[slot] = fd;
            f->nconn++;
        }
        pthread_mutex_unlock(&f->mu);
        fc->f = f;
        fc->slot = slot;
        if (slot < 0 || pthread_create(&t, NULL, t_fake_conn_main, fc) != 0) {
            if (slot >= 0) {
                pthread_mutex_lock(&f->mu);
                f->fds[slot] = -1;
                f->nconn--;
                pthread_mutex_unlock(&f->mu);
            }
            close(fd);
            free(fc);
            continue;
        }
        pthread_detach(t);
    }
    return NULL;
}

/* t_fake_start - a fake sentinel on NM_TMPDIR/NAME.sock; 0 or -1 */
static int
t_fake_start(struct t_fake *f, const char *name)
{
    struct sockaddr_un sa;

    memset(f, 0, sizeof(*f));
    for (int i = 0; i < 16; i++)
        f->fds[i] = -1;
    pthread_mutex_init(&f->mu, NULL);
    snprintf(f->path, sizeof(f->path), "%s/%s.sock", t_tmp, name);
    unlink(f->path);
    t_fake_primary(f, NULL, 0);
    t_fake_replicas(f, NULL, 0, 0, -1);
    if (t_unix_addr(f->path, &sa) != 0 ||
        (f->lfd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
        bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(f->lfd, 16) != 0 ||
        pthread_create(&f->th, NULL, t_fake_main, f) != 0) {
        diag("fake sentinel %s: %s", f->path, strerror(errno));
        return -1;
    }
    return 0;
}

/* t_fake_stop - close everything, wait for the connection threads */
static void
t_fake_stop(struct t_fake *f)
{
    int left;

    shutdown(f->lfd, SHUT_RDWR);
    close(f->lfd);
    pthread_join(f->th, NULL);
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < 16; i++)
        if (f->fds[i] >= 0)
            shutdown(f->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&f->mu);
    do {
        pthread_mutex_lock(&f->mu);
        left = f->nconn;
        pthread_mutex_unlock(&f->mu);
        if (left > 0)
            t_sleep_ms(5);
    } while (left > 0);
    unlink(f->path);
    pthread_mutex_destroy(&f->mu);
}

/* t_fake_asked - how often the replica list was asked for */
static int
t_fake_asked(struct t_fake *f)
{
    int n;

    pthread_mutex_lock(&f->mu);
    n = f->asked_replicas;
    pthread_mutex_unlock(&f->mu);
    return n;
}

/* t_tcp_redis - a redis-server on NAME.sock and a random loopback port,
 * a replica of replica_of when it is not 0; its pid, the port in *port */
static pid_t
t_tcp_redis(const char *name, int replica_of, int *port, char *sock,
            size_t socklen)
{
    char p[16], of[16];
    const char *extra[] = { "--port", p, "--bind", "127.0.0.1",
                            replica_of ? "--replicaof" : NULL, "127.0.0.1",
                            of, NULL };
    pid_t pid = -1;

    snprintf(of, sizeof(of), "%d", replica_of);

    for (int i = 0; i < 8 && pid < 0; i++) {
        *port = 20000 + rand() % 40000;
        snprintf(p, sizeof(p), "%d", *port);
        pid = t_redis_start(name, extra, sock, socklen);
    }
    return pid;
}

/* t_snt_opts - options for a store through the sentinel list */
static struct store_opts
t_snt_opts(const char *sentinels)
{
    struct store_opts o = t_opts("", "ts");

    o.servers = NULL; /* not needed with sentinels */
    o.sentinels = sentinels;
    o.sentinel_master = "tm";
    o.timeout_ms = 1000;
    o.connect_timeout_ms = 500;
    return o;
}

/* t_until_ok - publish D1 through st until it works or 3 s passed;
 * STORE_OK or the last status */
static enum store_status
t_until_ok(struct store *st, const char *what)
{
    enum store_status s = STORE_ERR;
    int64_t end = t_now_ms() + 3000;
    uint64_t v;

    while (t_now_ms() < end &&
           (s = store_model_publish(st, D1, what, strlen(what), NULL, &v)) !=
               STORE_OK)
        t_sleep_ms(20);
    return s;
}

/* t_head_of - the current digest on the server at sock ("" none) */
static void
t_head_of(const char *sock, char *digest)
{
    struct store_opts o = t_opts(sock, "ts");
    struct store *st = t_store(&o);
    uint64_t v;

    if (store_model_head(st, STORE_VIA_WRITE, digest, &v) != STORE_OK)
        digest[0] = '\0';
    store_free(st);
}

/* t_sentinel_parse - options refused before anything is contacted */
static void
t_sentinel_parse(void)
{
    struct store_opts o = t_snt_opts("/x.sock");
    char err[256];
    struct store *st;

    o.sentinel_master = "my master";
    st = store_new(&o, err, sizeof(err));
    ok(st == NULL && strstr(err, "sentinel_master 'my master'"),
       "sentinel: a master name with a blank is refused (%s)", err);
    o = t_snt_opts("127.0.0.1");
    st = store_new(&o, err, sizeof(err));
    ok(st == NULL && strstr(err, "want host:port"),
       "sentinel: an entry without a port is refused (%s)", err);
    o = t_snt_opts("a:1,b:2,c:3,d:4,e:5,f:6,g:7,h:8,i:9");
    st = store_new(&o, err, sizeof(err));
    ok(st == NULL && strstr(err, "redis sentinels: more than 8"),
       "sentinel: 9 sentinels are refused (%s)", err);
    o = t_snt_opts("127.0.0.1:26379");
    o.servers = NULL;
    st = store_new(&o, err, sizeof(err));
    ok(st != NULL, "sentinel: no servers needed with sentinels");
    store_free(st);
}

/* t_log_has - the captured text holds s; diag of it otherwise */
static int
t_log_has(const char *out, const char *s)
{
    if (strstr(out, s) != NULL)
        return 1;
    diag("log lacks '%s'; it holds:\n%s", s, out);
    return 0;
}

/* t_sentinel - primary, replicas, bounds, lagging and odd sentinels,
 * a switch by refresh and one after a failure */
static void
t_sentinel(void)
{
    struct t_fake f1, f2;
    char psock[512], rsock[512], xsock[512], list[1200], d[FEAT_DIGEST_LEN + 1];
    char desc[512], want[600], host[301];
    int pp = 0, rp = 0, xp = 0, ports[2];
    pid_t p, r, x;
    struct store_opts o;
    struct store *st;
    struct t_capture cap;
    char *out;
    uint64_t v;
    int64_t t0;

    t_sentinel_parse();
    p = t_tcp_redis("snt-p", 0, &pp, psock, sizeof(psock));
    r = p > 0 ? t_tcp_redis("snt-r", pp, &rp, rsock, sizeof(rsock)) : -1;
    x = t_tcp_redis("snt-x", 0, &xp, xsock, sizeof(xsock));
    if (!ok(p > 0 && r > 0 && x > 0 && t_fake_start(&f1, "snt1") == 0 &&
                t_fake_start(&f2, "snt2") == 0,
            "sentinel: primary :%d, replica :%d, other :%d, two fakes", pp,
            rp, xp)) {
        t_redis_stop(p);
        t_redis_stop(r);
        t_redis_stop(x);
        return;
    }

    /* 1. the primary the sentinel names gets the writes and the reads */
    t_fake_primary(&f1, "127.0.0.1", pp);
    o = t_snt_opts(f1.path);
    o.sentinel_password = "sekrit";
    st = t_store(&o);
    t_capture_begin(&cap, "snt-primary");
    is_int(store_model_publish(st, D1, "p1", 2, NULL, &v), STORE_OK,
           "sentinel: publish through the primary it names");
    out = t_capture_end(&cap);
    snprintf(want, sizeof(want), "store: sentinel: primary of tm is "
             "127.0.0.1:%d (sentinel %s", pp, f1.path);
    ok(t_log_has(out, want), "sentinel: the primary found is logged");
    free(out);
    t_head_of(psock, d);
    is_str(d, D1, "sentinel: the model is on the primary");
    pthread_mutex_lock(&f1.mu);
    is_str(f1.auth, "sekrit", "sentinel: AUTH with sentinel_password");
    pthread_mutex_unlock(&f1.mu);
    store_describe(st, desc, sizeof(desc));
    snprintf(want, sizeof(want), "primary 127.0.0.1:%d (Sentinel); reads: "
             "127.0.0.1:%d", pp, pp);
    is_str(desc, want, "sentinel: no replica: reads from the primary");
    store_free(st);

    /* 2. reads go to the healthy replicas, then the primary */
    o = t_opts(xsock, "ts");
    st = t_store(&o);
    is_int(store_model_publish(st, D2, "x", 1, NULL, &v), STORE_OK,
           "sentinel: a model D2 on the other server");
    store_free(st);
    ports[0] = rp;
    ports[1] = xp;
    t_fake_replicas(&f1, ports, 2, 1, -1);
    o = t_snt_opts(f1.path);
    st = t_store(&o);
    is_int(store_model_head(st, STORE_VIA_READ, d, &v), STORE_OK,
           "sentinel: a read");
    is_str(d, D2, "sentinel: it went to the healthy replica listed");
    is_int(store_model_head(st, STORE_VIA_WRITE, d, &v), STORE_OK,
           "sentinel: a read via the write servers");
    is_str(d, D1, "sentinel: it went to the primary");
    store_describe(st, desc, sizeof(desc));
    snprintf(want, sizeof(want), "primary 127.0.0.1:%d (Sentinel); reads: "
             "127.0.0.1:%d, 127.0.0.1:%d", pp, xp, pp);
    is_str(desc, want, "sentinel: the replica that is down is left out");
    store_free(st);

    /* 3. more replicas than listed: the list is never asked for */
    t_fake_replicas(&f1, ports, 2, 1, T_MAX_REPLICAS + 1);
    o = t_snt_opts(f1.path);
    st = t_store(&o);
    t_capture_begin(&cap, "snt-many");
    is_int(store_model_head(st, STORE_VIA_READ, d, &v), STORE_OK,
           "sentinel: %d replicas: a read", T_MAX_REPLICAS + 1);
    out = t_capture_end(&cap);
    is_str(d, D1, "sentinel: %d replicas: read from the primary",
           T_MAX_REPLICAS + 1);
    is_int(t_fake_asked(&f1), 0, "sentinel: the list was not asked for");
    ok(t_log_has(out, "tm has 17 replicas, more than the 16 listed; model "
                      "reads go to the primary"),
       "sentinel: logged");
    free(out);
    store_free(st);
    t_fake_replicas(&f1, NULL, 0, 0, -1);

    /* 4. a sentinel that lags names the replica: the next one is asked */
    t_fake_primary(&f1, "127.0.0.1", rp);
    t_fake_primary(&f2, "127.0.0.1", pp);
    snprintf(list, sizeof(list), "%s, %s", f1.path, f2.path);
    o = t_snt_opts(list);
    st = t_store(&o);
    t_capture_begin(&cap, "snt-lag");
    is_int(t_until_ok(st, "p2"), STORE_OK,
           "sentinel: one names a replica: publish within 3 s");
    out = t_capture_end(&cap);
    ok(t_log_has(out, "not a primary (it says role slave)"),
       "sentinel: the replica named was checked and refused");
    snprintf(want, sizeof(want), "moved from 127.0.0.1:%d to 127.0.0.1:%d "
             "(sentinel %s", rp, pp, f2.path);
    ok(t_log_has(out, want), "sentinel: and the next sentinel's primary "
                             "taken");
    free(out);
    store_free(st);

    /* 5. replies refused: each time the next sentinel answers */
    memset(host, 'h', 300);
    host[300] = '\0';
    {
        char resp[4][1024];
        const char *what[] = { "nil", "3 elements", "port 0",
                               "a 300-byte host" };

        snprintf(resp[0], sizeof(resp[0]), "*-1\r\n");
        snprintf(resp[1], sizeof(resp[1]), "*3\r\n$9\r\n127.0.0.1\r\n"
                 "$4\r\n6379\r\n$1\r\nx\r\n");
        snprintf(resp[2], sizeof(resp[2]), "*2\r\n$9\r\n127.0.0.1\r\n"
                 "$1\r\n0\r\n");
        snprintf(resp[3], sizeof(resp[3]), "*2\r\n$300\r\n%s\r\n"
                 "$4\r\n6379\r\n", host);
        for (int i = 0; i < 4; i++) {
            t_fake_raw(&f1, resp[i]);
            st = t_store(&o);
            t_capture_begin(&cap, "snt-odd");
            is_int(store_model_publish(st, D1, "p3", 2, NULL, &v), STORE_OK,
                   "sentinel: %s from the first: the second's primary",
                   what[i]);
            out = t_capture_end(&cap);
            ok(t_log_has(out, i == 0 ? "it monitors no master named tm"
                                     : "get-master-addr-by-name tm: "
                                       "unexpected reply"),
               "sentinel: %s: logged", what[i]);
            free(out);
            store_free(st);
        }
    }

    /* 6. no sentinel answers */
    snprintf(list, sizeof(list), "%s/no-sentinel.sock", t_tmp);
    o = t_snt_opts(list);
    st = t_store(&o);
    t_capture_begin(&cap, "snt-none");
    is_int(store_model_publish(st, D1, "p4", 2, NULL, &v), STORE_ERR,
           "sentinel: none answers: the publish fails");
    out = t_capture_end(&cap);
    ok(t_log_has(out, "store: sentinel ") &&
           t_log_has(out, "servers: none known yet"),
       "sentinel: none answers: logged");
    free(out);
    store_free(st);

    /* 7. a switch seen by the periodic ask, then one after a failure */
    t_fake_primary(&f1, "127.0.0.1", pp);
    o = t_snt_opts(f1.path);
    st = t_store(&o);
    is_int(store_model_publish(st, D1, "p5", 2, NULL, &v), STORE_OK,
           "switch: publish to the primary");
    t_fake_primary(&f1, "127.0.0.1", xp);
    t0 = t_now_ms();
    t_capture_begin(&cap, "snt-switch");
    do {
        t_sleep_ms(50);
        t_head_of(xsock, d);
    } while (store_model_publish(st, D1, "p6", 2, NULL, &v) == STORE_OK &&
             strcmp(d, D1) != 0 && t_now_ms() - t0 < 5000);
    out = t_capture_end(&cap);
    ok(strcmp(d, D1) == 0 && t_now_ms() - t0 <= T_REFRESH_MS +
                                                     1000,
       "switch: the sentinel names another: writes follow within %d ms "
       "(%lld)", T_REFRESH_MS + 1000,
       (long long)(t_now_ms() - t0));
    snprintf(want, sizeof(want), "primary of tm moved from 127.0.0.1:%d to "
             "127.0.0.1:%d", pp, xp);
    ok(t_log_has(out, want), "switch: logged");
    free(out);
    /* the primary dies and the sentinel names the old one again */
    kill(x, SIGKILL);
    waitpid(x, NULL, 0);
    x = -1;
    t_fake_primary(&f1, "127.0.0.1", pp);
    t0 = t_now_ms();
    is_int(t_until_ok(st, "p7"), STORE_OK,
           "failure: the primary died: a publish works again");
    ok(t_now_ms() - t0 < 1000, "failure: within 1 s (%lld ms)",
       (long long)(t_now_ms() - t0));
    store_free(st);

    t_fake_stop(&f1);
    t_fake_stop(&f2);
    t_redis_stop(p);
    t_redis_stop(r);
    t_redis_stop(x);
}

/*
 * concurrency: readers and one publisher on one store
 */
struct t_conc {
    struct store *st;
    _Atomic int errors;
    _Atomic int done;
};

/* t_reader - head and get in a loop; versions never go back */
static void *
t_reader(void *arg)
{
    struct t_conc *c = arg;
    char digest[FEAT_DIGEST_LEN + 1], want[32];
    uint64_t last = 0, v, gv;
    void *blob;
    size_t len;

    for (int i = 0; i < T_ROUNDS; i++) {
        if (store_model_head(c->st, STORE_VIA_READ, digest, &v) != STORE_OK || v < last ||
            strcmp(digest, D1) != 0) {
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        last = v;
        if (store_model_get(c->st, STORE_VIA_READ, D1, MODEL_MAX_BLOB, &blob, &len, &gv) != STORE_OK || gv < v) {
            atomic_fetch_add(&c->errors, 1);
            continue;
        }
        /* the blob names its version: publish is atomic */
        snprintf(want, sizeof(want), "v=%llu", (unsigned long long)gv);
        if (len != strlen(want) || memcmp(blob, want, len) != 0)
            atomic_fetch_add(&c->errors, 1);
        last = gv;
        free(blob);
    }
    return NULL;
}

/* t_publisher - publish T_PUBLISHES versions */
static void *
t_publisher(void *arg)
{
    struct t_conc *c = arg;
    char blob[32];
    uint64_t v;

    for (int i = 2; i <= T_PUBLISHES; i++) {
        snprintf(blob, sizeof(blob), "v=%d", i);
        if (store_model_publish(c->st, D1, blob, strlen(blob), NULL, &v) != STORE_OK ||
            v != (uint64_t)i)
            atomic_fetch_add(&c->errors, 1);
    }
    atomic_store(&c->done, 1);
    return NULL;
}

/* t_concurrency - 16 readers, 1 publisher */
static void
t_concurrency(void)
{
    struct store_opts o = t_opts(t_sock, "tc");
    struct t_conc c = { .st = t_store(&o) };
    pthread_t readers[T_READERS], pub;
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t v;

    is_int(store_model_publish(c.st, D1, "v=1", 3, NULL, &v), STORE_OK, "conc: v1");
    pthread_create(&pub, NULL, t_publisher, &c);
    for (int i = 0; i < T_READERS; i++)
        pthread_create(&readers[i], NULL, t_reader, &c);
    for (int i = 0; i < T_READERS; i++)
        pthread_join(readers[i], NULL);
    pthread_join(pub, NULL);
    is_int(atomic_load(&c.errors), 0,
           "conc: %d threads x %d head+get, %d publishes: no error",
           T_READERS, T_ROUNDS, T_PUBLISHES);
    is_int(store_model_head(c.st, STORE_VIA_READ, digest, &v), STORE_OK, "conc: head");
    is_int(v, T_PUBLISHES, "conc: final version");
    store_free(c.st);
}

/* main - run the cases */
/* t_guard - the guarded publish: the lock and the live model it names */
static void
t_guard(void)
{
    struct store_opts o = t_opts(t_sock, "tg");
    struct store *st = t_store(&o);
    struct store_guard g = { "owner-A", NULL, 0 };
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t v = 0, v1 = 0;

    is_int(store_model_publish(st, D1, "b1", 2, &g, &v), STORE_NOT_OURS,
           "guard: no lock: nothing published");
    is_int(store_model_head(st, STORE_VIA_WRITE, digest, &v),
           STORE_ABSENT, "guard: still no model");
    is_int(store_lock_acquire(st, "owner-A", 5000), STORE_OK,
           "guard: A takes the lock");
    is_int(store_model_publish(st, D1, "b1", 2, &g, &v1), STORE_OK,
           "guard: lock held, no model live as seen: published");
    is_int(store_model_publish(st, D1, "b2", 2, &g, &v), STORE_CONFLICT,
           "guard: seen 'none' but a model is live: conflict");
    g.live_digest = D1;
    g.live_version = v1 + 1;
    is_int(store_model_publish(st, D1, "b2", 2, &g, &v), STORE_CONFLICT,
           "guard: seen a version that is not live: conflict");
    g.live_digest = D2;
    g.live_version = v1;
    is_int(store_model_publish(st, D1, "b2", 2, &g, &v), STORE_CONFLICT,
           "guard: seen another profile: conflict");
    g.live_digest = D1;
    g.live_version = v1;
    is_int(store_model_publish(st, D2, "b3", 2, &g, &v), STORE_OK,
           "guard: the live model as seen: a new profile published");
    is_int(store_model_head(st, STORE_VIA_WRITE, digest, &v), STORE_OK,
           "guard: head");
    ok(strcmp(digest, D2) == 0 && v == 1, "guard: %s.%llu is live", digest,
       (unsigned long long)v);
    is_int(store_lock_release(st, "owner-A"), STORE_OK, "guard: released");
    g.live_digest = D2;
    g.live_version = 1;
    is_int(store_model_publish(st, D2, "b4", 2, &g, &v), STORE_NOT_OURS,
           "guard: the lock released: nothing published");
    is_int(store_model_publish(st, D2, "b4", 2, NULL, &v), STORE_OK,
           "guard: without a guard (an import) it publishes");
    is_int((int)v, 2, "guard: as version 2");
    store_free(st);
}

/* t_restore - a served model put back where Redis lost it, and only
 * there */
static void
t_restore(void)
{
    struct store_opts o = t_opts(t_sock, "tr");
    struct store *st = t_store(&o);
    char digest[FEAT_DIGEST_LEN + 1];
    const char *del_cur[] = { "DEL", "tr:current" };
    void *blob;
    size_t len;
    uint64_t v = 0;

    is_int(store_model_restore(st, D1, "served", 6, 7), STORE_OK,
           "restore: an empty Redis takes the served model");
    is_int(store_model_head(st, STORE_VIA_WRITE, digest, &v), STORE_OK,
           "restore: head");
    ok(strcmp(digest, D1) == 0 && v == 7, "restore: %s.%llu, the served "
       "version", digest, (unsigned long long)v);
    is_int(store_model_get(st, STORE_VIA_WRITE, D1, 100, &blob, &len, &v),
           STORE_OK, "restore: get");
    ok(len == 6 && memcmp(blob, "served", 6) == 0, "restore: its blob");
    free(blob);
    is_int(store_model_restore(st, D1, "other", 5, 7), STORE_CONFLICT,
           "restore: the same version live: kept");
    is_int(store_model_restore(st, D1, "older", 5, 6), STORE_CONFLICT,
           "restore: an older served one: kept");
    is_int(store_model_restore(st, D1, "newer", 5, 9), STORE_OK,
           "restore: Redis holds an older version (a lagging replica "
           "promoted): the served one replaces it");
    is_int(store_model_restore(st, D2, "x", 1, 50), STORE_CONFLICT,
           "restore: another profile live: kept");
    is_int(store_model_delete(st, D1), 0, "restore: an admin resets it");
    is_int(store_model_restore(st, D1, "served", 6, 9), STORE_CONFLICT,
           "restore: the reset left the counter at 9: not restored");
    is_int(store_model_head(st, STORE_VIA_WRITE, digest, &v), STORE_ABSENT,
           "restore: no model after the reset");
    is_int(t_raw(t_sock, 2, del_cur), ':', "setup: no live pointer");
    is_int(store_model_restore(st, D1, "served", 6, 10), STORE_OK,
           "restore: a counter below the served version (lost data): "
           "restored");
    is_int(store_model_version(st, STORE_VIA_WRITE, D1, &v), STORE_OK,
           "restore: version");
    is_int((int)v, 10, "restore: at the served version");
    store_free(st);
}

/* t_instances - heartbeats: written, listed newest first, bounded,
 * dropped */
static void
t_instances(void)
{
    struct store_opts o = t_opts(t_sock, "ti");
    struct store *st = t_store(&o);
    struct store_instance in[STORE_MAX_INSTANCES];
    char id[64], line[STORE_MAX_BEAT + 2];
    const char *big[] = { "EVAL", "return redis.call('SET', KEYS[1], "
                          "string.rep('b', 1000000)) and 1", "1",
                          "ti:instance:big" };
    const char *zadd[] = { "ZADD", "ti:instances", "9999999999", "big" };
    size_t n = 0;

    is_int(store_instance_beat(st, "host-a:1", "model=none pid=1", 5000), 0,
           "beat: a");
    is_int(store_instance_beat(st, "host-b:2", "model=0123abcd.3 pid=2",
                               5000), 0, "beat: b");
    is_int(store_instances(st, in, STORE_MAX_INSTANCES, &n), 0, "list");
    ok(n == 2 && strcmp(in[0].id, "host-b:2") == 0 &&
           strstr(in[0].line, "model=0123abcd.3") != NULL,
       "list: two, b (the newest) first");
    is_int(store_instance_beat(st, "bad id!", "x", 5000), -1,
           "beat: an id outside [A-Za-z0-9_.:-] is refused");
    memset(line, 'l', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\0';
    is_int(store_instance_beat(st, "host-c:3", line, 5000), -1,
           "beat: a line of STORE_MAX_BEAT + 1 bytes is refused");
    line[STORE_MAX_BEAT] = '\0';
    is_int(store_instance_beat(st, "host-c:3", line, 5000), 0,
           "beat: a line of STORE_MAX_BEAT bytes is taken");
    /* A hostile heartbeat of 1 MB is cut by the script before it is
     * read. */
    is_int(t_raw(t_sock, 4, big), ':', "setup: a 1 MB heartbeat");
    is_int(t_raw(t_sock, 4, zadd), ':', "setup: named in the set");
    is_int(store_instances(st, in, STORE_MAX_INSTANCES, &n), 0,
           "list with the 1 MB heartbeat");
    ok(n == 4 && strcmp(in[0].id, "big") == 0 &&
           strlen(in[0].line) == STORE_MAX_BEAT,
       "list: the 1 MB line read as its first %d bytes", STORE_MAX_BEAT);
    for (int i = 0; i < 70; i++) {
        snprintf(id, sizeof(id), "many:%d", i);
        if (store_instance_beat(st, id, "model=none", 5000) != 0)
            break;
    }
    is_int(store_instances(st, in, STORE_MAX_INSTANCES, &n), 0,
           "list with 74 heartbeats");
    is_int((int)n, STORE_MAX_INSTANCES, "list: at most STORE_MAX_INSTANCES");
    is_int(store_instance_gone(st, "host-a:1"), 0, "gone: a");
    is_int(store_instances(st, in, 2, &n), 0, "list 2");
    ok(n == 2 && strcmp(in[0].id, "host-a:1") != 0 &&
           strcmp(in[1].id, "host-a:1") != 0, "gone: a is not listed");
    store_free(st);
}

/* t_format - store_format() spells RESP as hiredis does: the counts in
 * decimal, binary bytes as they are, empty arguments, strlen() without
 * lengths */
static void
t_format(void)
{
    static const char bin[] = { 'a', '\0', '\r', '\n', 'b' };
    const char *argv[3] = { "SET", "k", bin };
    size_t lens[3] = { 3, 1, sizeof(bin) }, len = 0, big = 123456;
    const char *one[1] = { "PING" };
    char *want, *got, *p;

    got = store_format(3, argv, lens, &len);
    ok(got != NULL && len == 31 &&
           memcmp(got, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n"
                       "a\0\r\nb\r\n", 29) == 0,
       "format: counts, binary bytes");
    free(got);
    lens[1] = 0;
    got = store_format(2, argv, lens, &len);
    ok(got != NULL && len == 19 &&
           memcmp(got, "*2\r\n$3\r\nSET\r\n$0\r\n\r\n", 19) == 0,
       "format: an empty argument");
    free(got);
    got = store_format(1, one, NULL, &len);
    ok(got != NULL && len == 14 &&
           memcmp(got, "*1\r\n$4\r\nPING\r\n", 14) == 0,
       "format: lengths by strlen");
    free(got);
    p = want = malloc(big + 1);
    memset(want, 'x', big);
    want[big] = '\0';
    argv[0] = want;
    lens[0] = big;
    got = store_format(1, argv, lens, &len);
    ok(got != NULL && len == 4 + 9 + big + 2 &&
           memcmp(got, "*1\r\n$123456\r\nxx", 15) == 0 &&
           memcmp(got + len - 3, "x\r\n", 3) == 0,
       "format: a six-digit length");
    free(got);
    free(p);
    ok(store_format(0, argv, lens, &len) == NULL, "format: no arguments");
}

int
main(void)
{
    t_sock = getenv("NM_REDIS_SOCK");
    t_tmp = getenv("NM_TMPDIR");
    t_server = getenv("REDIS_SERVER");
    if (t_sock == NULL || t_sock[0] == '\0')
        skip_all("NM_REDIS_SOCK not set (run t/unit/store.sh)");
    if (t_tmp == NULL || t_tmp[0] == '\0')
        skip_all("NM_TMPDIR not set (run t/unit/store.sh)");
    if (t_server == NULL || t_server[0] == '\0')
        t_server = "redis-server";
    if (log_init("t_store", 1, NULL) != 0)
        return 1;
    /* whole TAP lines: the log lines copied to stderr must not land in
     * the middle of one (make check merges the two) */
    setvbuf(stdout, NULL, _IOLBF, 0);

    t_parse();
    t_format();
    t_basic();
    t_bad_data();
    t_blobs();
    t_db();
    t_auth();
    t_down();
    t_sigpipe();
    t_reconnect();
    t_tcp();
    t_sentinel();
    t_concurrency();
    t_guard();
    t_restore();
    t_instances();
    return exit_status();
}
