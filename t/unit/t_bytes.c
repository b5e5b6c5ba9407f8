/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_bytes - the growing buffer and the input cursor: growth and contents,
 * little-endian widths, reads past the end, and the overflow panic (in a
 * forked child, with a fake buffer whose length is near SIZE_MAX, so
 * nothing large is allocated).
 */
#include "config.h"
#include "bytes.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../tap.h"
#include "xmalloc.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* t_growth - appends of several sizes keep every byte; cap doubles */
static void
t_growth(void)
{
    struct bytes_w w = { NULL, 0, 0 };
    unsigned char *big = xmalloc(10000);
    int same = 1;

    bytes_put(&w, "", 0);
    ok(w.len == 0 && w.p == NULL, "an empty append to a zeroed buffer "
       "allocates nothing");
    bytes_put(&w, "a", 1);
    is_int(w.cap, 256, "first append: 256 bytes");
    for (size_t i = 0; i < 10000; i++)
        big[i] = (unsigned char)(i * 7);
    bytes_put(&w, big, 300);
    is_int(w.cap, 512, "301 bytes: doubled to 512");
    bytes_put(&w, big, 10000);
    is_int(w.cap, 16384, "10301 bytes: doubled to 16384");
    is_int(w.len, 10301, "length");
    same = w.p[0] == 'a' && memcmp(w.p + 1, big, 300) == 0 &&
           memcmp(w.p + 301, big, 10000) == 0;
    ok(same, "every byte kept across the growth");
    free(w.p);
    free(big);
}

/* t_le - widths 1 .. 8 round-trip; the cursor stops at the end */
static void
t_le(void)
{
    struct bytes_w w = { NULL, 0, 0 };
    struct bytes_r r;
    uint64_t v = 0, want = 0x0102030405060708ULL;
    int all = 1;

    for (size_t width = 1; width <= 8; width++)
        bytes_put_le(&w, want, width);
    is_int(w.len, 36, "1 + 2 + ... + 8 bytes");
    ok(w.p[0] == 0x08 && w.p[1] == 0x08 && w.p[2] == 0x07,
       "little-endian, low bytes first");
    r = (struct bytes_r){ w.p, w.len, 0 };
    for (size_t width = 1; width <= 8; width++) {
        uint64_t mask = width == 8 ? UINT64_MAX : (1ULL << (8 * width)) - 1;

        all &= bytes_get_le(&r, width, &v) == 0 && v == (want & mask);
    }
    ok(all, "each width reads back");
    is_int(bytes_get_le(&r, 1, &v), -1, "a read past the end: -1");
    is_int(r.off, 36, "... cursor unmoved");
    r.off = 30;
    ok(bytes_get(&r, 7) == NULL && r.off == 30, "7 of 6 bytes: NULL, "
       "unmoved");
    ok(bytes_get(&r, 6) == w.p + 30 && r.off == 36, "6 of 6 bytes");
    ok(bytes_get(&r, SIZE_MAX) == NULL, "SIZE_MAX bytes: NULL");
    free(w.p);
}

/* t_panics - fork, run bytes_put on a fake buffer; 1 when the child
 * aborted with a line containing want on stderr */
static int
t_panics(size_t len, size_t cap, size_t n, const char *want, char *got,
         size_t gotlen)
{
    int fd[2], status;
    pid_t pid;
    size_t k = 0;
    ssize_t r;

    got[0] = '\0';
    if (pipe(fd) != 0 || (pid = fork()) < 0)
        return 0;
    if (pid == 0) {
        static unsigned char buf[8];
        struct bytes_w w = { buf, len, cap };
        struct rlimit no = { 0, 0 };

        setrlimit(RLIMIT_CORE, &no);
        dup2(fd[1], 2);
        close(fd[0]);
        bytes_put(&w, "12345678", n);
        _exit(0);
    }
    close(fd[1]);
    while (k + 1 < gotlen && (r = read(fd[0], got + k, gotlen - 1 - k)) > 0)
        k += (size_t)r;
    got[k] = '\0';
    close(fd[0]);
    if (waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT &&
           strstr(got, want) != NULL;
}

/* t_overflow - lengths that would pass SIZE_MAX panic before anything
 * is written or allocated */
static void
t_overflow(void)
{
    static const struct {
        const char *label;
        size_t len, cap, n;
    } cases[] = {
        { "len SIZE_MAX - 3, 4 more", SIZE_MAX - 3, SIZE_MAX - 3, 4 },
        { "len SIZE_MAX, 1 more", SIZE_MAX, SIZE_MAX, 1 },
        { "len 8, SIZE_MAX more", 8, 8, SIZE_MAX },
        { "len over cap (a broken buffer)", 9, 8, 1 },
    };
    char got[512];

    for (size_t i = 0; i < NELEM(cases); i++) {
        int died = t_panics(cases[i].len, cases[i].cap, cases[i].n,
                            "overflow", got, sizeof(got));

        ok(died, "%s: panic", cases[i].label);
        if (!died)
            diag("  stderr: %s", got);
    }
}

int
main(void)
{
    t_growth();
    t_le();
    t_overflow();
    return exit_status();
}
