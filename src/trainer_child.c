/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer_child - each training of the daemon in a process of its own,
 * so that the memory and the CPU a training takes, and any crash of it,
 * stay out of the process that carries mail (as Rspamd's controller
 * trains in a child, and OpenSMTPD forks its filters). The trainer
 * thread posix_spawn()s our own binary (fork in a process full of
 * libmilter threads would copy their locks mid-use) with:
 *   fd 3  the effective configuration, as cfg_dump() writes it
 *   fd 4  where the child writes its struct trainer_report
 *   argv  TRAINER_CHILD_ARG, the lock token, the live model it must find
 *         ("none" or DIGEST.VERSION), where to log, the daemon's pid
 * and nothing else open. The child lowers its priority, sets [train]
 * memory_limit, dies with the daemon (PR_SET_PDEATHSIG), and stops at
 * the next epoch on SIGTERM (kept blocked and asked for each epoch). The thread renews the lock meanwhile; it is
 * ours, not the child's, so a child that dies leaves nothing to clean up.
 */
#include "config.h"
#include "trainer.h"
#include "trainer_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define TRAINER_CFG_FD 3
#define TRAINER_REPORT_FD 4
#define TRAINER_POLL_MS 100      /* how often the thread looks up */

extern char **environ;

/* The running child, as the thread sees it. */
struct trainer_proc {
    pid_t pid;
    int fd;                      /* the report's read end */
    struct trainer_report rep;   /* what arrived so far */
    size_t got;
    int64_t term_at;             /* monotonic; 0 = not asked to stop */
    const char *why_stop;        /* for the log: "stopping", "lock lost" */
};

/* trainer_spawn_init - the child's signals and descriptors. The daemon
 * blocks its signals in every thread and ignores SIGPIPE: the child
 * starts with neither. Only the two pipes stay open. Each step can fail
 * (ENOMEM), and a child without its pipes is no child: 0, or the error
 * with nothing left to destroy. */
static int
trainer_spawn_init(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at,
                   int cfgfd, int repfd)
{
    sigset_t none, dfl;
    int e;

    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGHUP);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGUSR1);
    sigaddset(&dfl, SIGUSR2);
    if ((e = posix_spawn_file_actions_init(fa)) != 0)
        return e;
    if ((e = posix_spawnattr_init(at)) != 0) {
        posix_spawn_file_actions_destroy(fa);
        return e;
    }
    if ((e = posix_spawnattr_setsigmask(at, &none)) != 0 ||
        (e = posix_spawnattr_setsigdefault(at, &dfl)) != 0 ||
        (e = posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(fa, cfgfd, TRAINER_CFG_FD)) != 0 ||
        (e = posix_spawn_file_actions_adddup2(fa, repfd,
                                              TRAINER_REPORT_FD)) != 0 ||
        (e = posix_spawn_file_actions_addclosefrom_np(
             fa, TRAINER_REPORT_FD + 1)) != 0) {
        posix_spawn_file_actions_destroy(fa);
        posix_spawnattr_destroy(at);
    }
    return e;
}

/* trainer_spawn - start the child; 0 or -1 (logged) */
static int
trainer_spawn(struct trainer_proc *p, const struct cfg *c, const char *exe,
              int foreground, const char *token,
              const struct trainer_live *live)
{
    char lv[FEAT_DIGEST_LEN + 24], ppid[24];
    char *argv[] = { (char *)exe, TRAINER_CHILD_ARG, (char *)token, lv,
                     foreground ? "stderr" : c->syslog_facility, ppid,
                     NULL };
    int cfgp[2] = { -1, -1 }, repp[2] = { -1, -1 }, rc = -1;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    FILE *f;

    if (live->have)
        snprintf(lv, sizeof(lv), "%s.%" PRIu64, live->digest, live->version);
    else
        snprintf(lv, sizeof(lv), "none");
    snprintf(ppid, sizeof(ppid), "%ld", (long)getpid());
    if (pipe2(cfgp, O_CLOEXEC) != 0 || pipe2(repp, O_CLOEXEC) != 0) {
        log_warn("trainer: pipe");
        goto out;
    }
    if ((errno = trainer_spawn_init(&fa, &at, cfgp[0], repp[1])) != 0) {
        log_warn("trainer: cannot set the training process up");
        goto out;
    }
    errno = posix_spawn(&p->pid, exe, &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    if (errno != 0) {
        log_warn("trainer: cannot start the training process %s", exe);
        goto out;
    }
    close(cfgp[0]);
    close(repp[1]);
    cfgp[0] = repp[1] = -1;
    p->fd = repp[0];
    repp[0] = -1;
    /* A dump is a few KiB, under a pipe's buffer: this cannot block on a
     * child that does not read. */
    if ((f = fdopen(cfgp[1], "w")) == NULL) {
        log_warn("trainer: fdopen");
        goto out_child;
    }
    cfgp[1] = -1;
    cfg_dump(c, f);
    if (fclose(f) != 0) {
        log_warn("trainer: cannot hand the configuration over");
        goto out_child;
    }
    rc = 0;
    goto out;
out_child:
    /* reap it here: trainer_child_run() returns at once on failure */
    kill(p->pid, SIGKILL);
    close(p->fd);
    p->fd = -1;
    while (waitpid(p->pid, NULL, 0) < 0 && errno == EINTR)
        continue;
out:
    for (int i = 0; i < 2; i++) {
        if (cfgp[i] >= 0)
            close(cfgp[i]);
        if (repp[i] >= 0)
            close(repp[i]);
    }
    return rc;
}

/* trainer_read_report - what the child wrote; 1 at the end of it */
static int
trainer_read_report(struct trainer_proc *p)
{
    char junk[64];
    ssize_t n;

    if (p->got < sizeof(p->rep))
        n = read(p->fd, (char *)&p->rep + p->got, sizeof(p->rep) - p->got);
    else
        n = read(p->fd, junk, sizeof(junk));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : 1;
    if (n == 0)
        return 1;
    if (p->got < sizeof(p->rep))
        p->got += (size_t)n;
    else
        p->got = sizeof(p->rep) + 1; /* more than a report: not ours */
    return 0;
}

/* trainer_cancel - SIGTERM once, SIGKILL when it did not stop in time */
static void
trainer_cancel(struct trainer_proc *p, const char *why)
{
    int64_t now = util_now_ms();

    if (p->term_at == 0) {
        log_info("trainer: %s: cancelling the training (process %ld)", why,
                 (long)p->pid);
        p->why_stop = why;
        p->term_at = now;
        kill(p->pid, SIGTERM);
    } else if (now - p->term_at >= TRAINER_KILL_MS) {
        kill(p->pid, SIGKILL);
    }
}

/* trainer_supervise - until the child closes its report: renew the
 * lock, watch for the stop */
static void
trainer_supervise(struct trainer_proc *p, struct store *st,
                  const struct cfg *c, const char *token,
                  int (*stopping)(void *), void *arg)
{
    int64_t renew_at = util_now_ms() + c->lock_ttl_ms / 3;

    for (;;) {
        struct pollfd pf = { .fd = p->fd, .events = POLLIN };

        if (poll(&pf, 1, TRAINER_POLL_MS) > 0 && trainer_read_report(p))
            break;
        if (p->term_at != 0 || stopping(arg))
            trainer_cancel(p, p->why_stop ? p->why_stop : "stopping");
        if (util_now_ms() >= renew_at) {
            renew_at = util_now_ms() + c->lock_ttl_ms / 3;
            /* an unreachable Redis is no reason to stop: the lock may
             * live on, and the publish checks it anyway */
            if (store_lock_renew(st, token, c->lock_ttl_ms) ==
                STORE_NOT_OURS && p->term_at == 0)
                trainer_cancel(p, "the training lock was lost");
        }
    }
}

/* trainer_report_ok - a whole report whose strings end inside it */
static int
trainer_report_ok(const struct trainer_proc *p)
{
    const struct trainer_report *r = &p->rep;

    return p->got == sizeof(*r) && r->outcome >= TRAINER_DUE &&
           r->outcome <= TRAINER_REDIS &&
           memchr(r->reason, '\0', sizeof(r->reason)) != NULL &&
           memchr(r->model_id, '\0', sizeof(r->model_id)) != NULL &&
           memchr(r->old_id, '\0', sizeof(r->old_id)) != NULL;
}

/* trainer_child_run - spawn, supervise, collect */
void
trainer_child_run(struct store *st, const struct cfg *c, const char *exe,
                  int foreground, const char *token,
                  const struct trainer_live *live, int (*stopping)(void *),
                  void *arg, struct trainer_report *rep)
{
    struct trainer_proc p = { .pid = -1, .fd = -1 };
    long nspam = rep->nspam, nham = rep->nham, nnew = rep->nnew;
    int status = 0;

    if (trainer_spawn(&p, c, exe, foreground, token, live) != 0) {
        trainer_set_reason(rep, TRAINER_FAILED, "cannot start the training "
                           "process");
        return;
    }
    log_debug("trainer: training in process %ld", (long)p.pid);
    trainer_supervise(&p, st, c, token, stopping, arg);
    close(p.fd);
    while (waitpid(p.pid, &status, 0) < 0 && errno == EINTR)
        continue;
    if (trainer_report_ok(&p) && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0) {
        *rep = p.rep;
        if (rep->outcome == TRAINER_FAILED) /* the likely bound, said */
            snprintf(rep->reason + strlen(rep->reason),
                     sizeof(rep->reason) - strlen(rep->reason),
                     " ([train] memory_limit %ld MiB)",
                     c->train_memory_limit >> 20);
    } else if (p.term_at != 0) {
        trainer_set_reason(rep, TRAINER_CANCELLED, "cancelled: %s",
                           p.why_stop);
    } else if (WIFSIGNALED(status)) {
        trainer_set_reason(rep, TRAINER_FAILED, "the training process died "
                           "of signal %d (%s)%s", WTERMSIG(status),
                           strsignal(WTERMSIG(status)),
                           WTERMSIG(status) == SIGABRT
                               ? "; out of memory within [train] "
                                 "memory_limit? see its line above"
                               : WTERMSIG(status) == SIGKILL
                                     ? "; killed by an admin or the "
                                       "kernel's OOM killer?"
                                     : "");
    } else {
        trainer_set_reason(rep, TRAINER_FAILED, "the training process "
                           "exited with status %d without a report",
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    rep->nspam = nspam;
    rep->nham = nham;
    rep->nnew = nnew;
}

/* ------------------------------------------------------- the child side */

/* trainer_child_cancelled - a SIGTERM is pending: the child keeps it
 * blocked and asks each epoch, so it needs no handler */
static int
trainer_child_cancelled(void *arg)
{
    sigset_t set;

    (void)arg;
    sigemptyset(&set);
    return sigpending(&set) == 0 && sigismember(&set, SIGTERM) == 1;
}

/* trainer_child_live - "none" or DIGEST.VERSION; 0 or -1 */
static int
trainer_child_live(const char *s, struct trainer_live *live)
{
    if (strcmp(s, "none") == 0) {
        memset(live, 0, sizeof(*live));
        return 0;
    }
    return trainer_live_parse(s, live);
}

/* trainer_child_limits - priority and memory; the process, not a thread:
 * everything the training does is low priority and bounded */
static void
trainer_child_limits(const struct cfg *c)
{
    struct sched_param sp = { .sched_priority = 0 };
    struct rlimit rl;

    if (setpriority(PRIO_PROCESS, 0, 19) != 0)
        log_warn("trainer: cannot lower the priority");
    /* SCHED_IDLE on top: the kernel preempts it for any woken milter
     * thread. On 2 CPUs it does not remove all of a busy trainer's cost
     * to a single connection's tail (BENCHMARKS.md). */
    if (sched_setscheduler(0, SCHED_IDLE, &sp) != 0)
        log_warn("trainer: cannot switch to SCHED_IDLE");
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    /* XXX: the sanitizers reserve terabytes of address space for their
     * shadow memory, which any RLIMIT_AS would refuse: no limit in their
     * builds (the tests of the limit run on the plain build). */
    (void)rl;
    (void)c;
    log_info("trainer: sanitizer build: [train] memory_limit not applied");
#else
    rl.rlim_cur = rl.rlim_max = (rlim_t)c->train_memory_limit;
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        log_warn("trainer: cannot set the memory limit");
#endif
}

/* trainer_child_main - the training process */
int
trainer_child_main(int argc, char **argv)
{
    struct trainer_report rep;
    struct trainer_live live;
    struct store *st;
    struct cfg *c;
    char err[8192], path[32];
    struct rusage ru;
    sigset_t term;
    long ppid;

    if (argc != 6 || trainer_child_live(argv[3], &live) != 0 ||
        util_parse_long(argv[5], 1, LONG_MAX, &ppid) != 0)
        return EX_USAGE;
    /* Die with the daemon; and if it died before this line, now. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != (pid_t)ppid)
        return EX_SOFTWARE;
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    sigemptyset(&term);
    sigaddset(&term, SIGTERM);
    sigprocmask(SIG_BLOCK, &term, NULL);
    if (log_init("neural-milter", strcmp(argv[4], "stderr") == 0,
                 strcmp(argv[4], "stderr") == 0 ? NULL : argv[4]) != 0)
        return EX_SOFTWARE;
    snprintf(path, sizeof(path), "/dev/fd/%d", TRAINER_CFG_FD);
    if ((c = cfg_load(path, err, sizeof(err))) == NULL) {
        log_warnx("trainer: the configuration handed over does not load:\n"
                  "%s", err);
        return EX_SOFTWARE;
    }
    close(TRAINER_CFG_FD);
    log_set_level((enum log_level)c->log_level);
    trainer_child_limits(c);
    if ((st = store_new_cfg(c, err, sizeof(err))) == NULL) {
        log_warnx("trainer: %s", err);
        cfg_release(c);
        return EX_SOFTWARE;
    }
    memset(&rep, 0, sizeof(rep));
    rep.auc_old = -1;
    (void)trainer_job(st, c, argv[2], &live, trainer_child_cancelled, NULL,
                      &rep);
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        rep.peak_kib = ru.ru_maxrss; /* KiB on Linux */
    store_free(st);
    cfg_release(c);
    if (write(TRAINER_REPORT_FD, &rep, sizeof(rep)) != (ssize_t)sizeof(rep))
        return EX_IOERR;
    return 0;
}
