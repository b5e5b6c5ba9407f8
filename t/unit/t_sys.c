/* SPDX-License-Identifier: BSD-2-Clause */
/* t_sys - see t_sys.h */
#include "config.h"
#include "t_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t
t_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
t_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        continue;
}

int
t_unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sa->sun_path))
        return -1;
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

int
t_unix_connect(const char *path)
{
    struct sockaddr_un sa;
    int fd;

    if (t_unix_addr(path, &sa) != 0 ||
        (fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

int
t_write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
t_resp_send(int fd, int argc, const char **argv)
{
    char head[64];

    snprintf(head, sizeof(head), "*%d\r\n", argc);
    if (t_write_all(fd, head, strlen(head)) != 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        snprintf(head, sizeof(head), "$%zu\r\n", strlen(argv[i]));
        if (t_write_all(fd, head, strlen(head)) != 0 ||
            t_write_all(fd, argv[i], strlen(argv[i])) != 0 ||
            t_write_all(fd, "\r\n", 2) != 0)
            return -1;
    }
    return 0;
}

int
t_resp_send_len(int fd, int argc, const char **argv, const size_t *lens)
{
    char head[64];

    snprintf(head, sizeof(head), "*%d\r\n", argc);
    if (t_write_all(fd, head, strlen(head)) != 0)
        return -1;
    for (int i = 0; i < argc; i++) {
        snprintf(head, sizeof(head), "$%zu\r\n", lens[i]);
        if (t_write_all(fd, head, strlen(head)) != 0 ||
            t_write_all(fd, argv[i], lens[i]) != 0 ||
            t_write_all(fd, "\r\n", 2) != 0)
            return -1;
    }
    return 0;
}

size_t
t_read_line(int fd, char *buf, size_t len)
{
    size_t n = 0;
    char ch;

    while (n + 1 < len && read(fd, &ch, 1) == 1 && ch != '\n')
        if (ch != '\r')
            buf[n++] = ch;
    buf[n] = '\0';
    return n;
}

void
t_capture_begin(struct t_capture *cap, const char *name)
{
    const char *dir = getenv("NM_TMPDIR");
    int fd;

    snprintf(cap->path, sizeof(cap->path), "%s/%s.stderr",
             dir && *dir ? dir : "/tmp", name);
    fflush(stderr);
    cap->saved = dup(2);
    fd = open(cap->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(fd, 2);
    close(fd);
}

char *
t_capture_end(struct t_capture *cap)
{
    char *buf = calloc(1, 65536);
    FILE *f;

    if (buf == NULL)
        abort();
    fflush(stderr);
    dup2(cap->saved, 2);
    close(cap->saved);
    if ((f = fopen(cap->path, "r")) != NULL) {
        size_t n = fread(buf, 1, 65535, f);

        buf[n] = '\0';
        fclose(f);
    }
    fputs(buf, stderr);
    return buf;
}
