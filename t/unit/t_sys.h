/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_sys - system helpers the tests that run against a real Redis share:
 * time, unix sockets, raw writes, and capturing what the code under test
 * logs to stderr.
 */
#ifndef NM_T_SYS_H
#define NM_T_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/un.h>

/* t_now_ms - monotonic milliseconds */
int64_t t_now_ms(void);

/* t_sleep_ms - sleep ms, through signals */
void t_sleep_ms(long ms);

/* t_unix_addr - path as an address; -1 when too long */
int t_unix_addr(const char *path, struct sockaddr_un *sa);

/* t_unix_connect - a connected unix socket, or -1 */
int t_unix_connect(const char *path);

/* t_write_all - write len bytes; 0 or -1 */
int t_write_all(int fd, const char *p, size_t len);

/* t_resp_send - one command in Redis's RESP on fd; 0 or -1 */
int t_resp_send(int fd, int argc, const char **argv);
/* t_resp_send_len - the same with the arguments' lengths (binary) */
int t_resp_send_len(int fd, int argc, const char **argv, const size_t *lens);

/* t_read_line - one line from fd into buf, without its CR LF; the bytes
 * kept (0 on EOF or error) */
size_t t_read_line(int fd, char *buf, size_t len);

/* stderr sent to $NM_TMPDIR/NAME.stderr between begin and end */
struct t_capture {
    int saved;
    char path[512];
};

void t_capture_begin(struct t_capture *cap, const char *name);

/* t_capture_end - restore stderr; what was written (caller frees), also
 * copied to stderr so the test log still shows it */
char *t_capture_end(struct t_capture *cap);

#endif /* NM_T_SYS_H */
