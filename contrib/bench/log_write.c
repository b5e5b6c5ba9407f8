/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * log_write - what appending the per-message log line costs the kernel:
 * THREADS threads append LINES lines of 150 bytes (and a newline) to FILE,
 * one write(2) per BATCH lines (1: as log_info_line() does now), and the
 * process's CPU time (user and system, getrusage) per line is printed.
 * CPU time, unlike a rate, barely moves with other load on the machine.
 * Usage: log_write THREADS LINES BATCH FILE (FILE is truncated).
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define LW_LINE 151      /* 150 bytes and the newline */
#define LW_BATCH_MAX 64
#define LW_THREADS_MAX 64

struct lw_job {
    int fd;
    long lines; /* this thread's share */
    int batch;
};

/* lw_run - one thread's appends */
static void *
lw_run(void *arg)
{
    const struct lw_job *j = arg;
    char buf[LW_LINE * LW_BATCH_MAX];

    memset(buf, 'x', sizeof(buf));
    for (int k = 0; k < j->batch; k++)
        buf[k * LW_LINE + LW_LINE - 1] = '\n';
    for (long i = 0; i < j->lines; i += j->batch)
        if (write(j->fd, buf, (size_t)LW_LINE * (size_t)j->batch) < 0) {
            perror("log_write: write");
            exit(1);
        }
    return NULL;
}

/* lw_us - microseconds of a timeval */
static double
lw_us(const struct timeval *tv)
{
    return (double)tv->tv_sec * 1e6 + (double)tv->tv_usec;
}

int
main(int argc, char **argv)
{
    pthread_t th[LW_THREADS_MAX];
    struct lw_job job;
    struct rusage ru;
    long n;
    int t;

    if (argc != 5 || (t = atoi(argv[1])) < 1 || t > LW_THREADS_MAX ||
        (n = atol(argv[2])) < 1 || (job.batch = atoi(argv[3])) < 1 ||
        job.batch > LW_BATCH_MAX) {
        fprintf(stderr, "usage: log_write THREADS(1-%d) LINES BATCH(1-%d) "
                "FILE\n", LW_THREADS_MAX, LW_BATCH_MAX);
        return 2;
    }
    job.fd = open(argv[4], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    if (job.fd < 0) {
        perror("log_write: open");
        return 1;
    }
    job.lines = n / t;
    for (int i = 0; i < t; i++)
        if (pthread_create(&th[i], NULL, lw_run, &job) != 0)
            return 1;
    for (int i = 0; i < t; i++)
        pthread_join(th[i], NULL);
    getrusage(RUSAGE_SELF, &ru);
    printf("threads %d, lines %ld, %d a write: CPU %.2f us a line (user "
           "%.2f, system %.2f)\n", t, job.lines * t, job.batch,
           (lw_us(&ru.ru_utime) + lw_us(&ru.ru_stime)) / (double)n,
           lw_us(&ru.ru_utime) / (double)n, lw_us(&ru.ru_stime) / (double)n);
    close(job.fd);
    return 0;
}
