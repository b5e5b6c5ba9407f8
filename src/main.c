/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * main - startup order only: arguments, configuration, logging, the
 * socket, privileges, daemon, signals, threads, libmilter's loop on a
 * thread of its own, and the signals on the main thread. Signals are
 * blocked before any thread exists; the main thread sigwait()s for them:
 * SIGUSR1 reloads, SIGTERM, SIGINT and SIGHUP stop. The kernel offers a
 * signal sent to the process to its main thread first, so libmilter's
 * own signal thread (which sigwait()s for the same three) does not race
 * us for them, and a stop wakes libmilter's listener at once. With
 * TRAINER_CHILD_ARG the binary is a training process (trainer_child.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "metrics.h"
#include "milter.h"
#include "model.h"
#include "queue.h"
#include "store.h"
#include "trainer.h"
#include "watch.h"

#define MAIN_DEFAULT_CONFIG SYSCONFDIR "/neural-milter/neural-milter.ini"
#define MAIN_DRAIN_MS 30000 /* wait for sessions in progress at stop */
#define MAIN_FLUSH_MS 1000  /* for queued examples at stop */
#define MAIN_SELF "/proc/self/exe" /* our binary, even once replaced */

struct main_opts {
    const char *config;
    int foreground;
    int check;
};

/* The milter thread: libmilter's loop and the drain after it. rc is
 * written by the thread before it ends, read after the join. */
struct main_milter {
    pthread_t thread;
    pthread_t main;          /* told with SIGUSR2 when the loop ends */
    int rc;
};

/* main_usage - print the synopsis and exit */
static void
main_usage(int code)
{
    fprintf(code ? stderr : stdout,
            "usage: neural-milter [-c FILE] [-f] [-t] [-V]\n"
            "  -c FILE  configuration (default %s)\n"
            "  -f       stay in the foreground, log to stderr\n"
            "  -t       check the configuration and exit 0 (good) or 1\n"
            "  -V       print the version and exit\n",
            MAIN_DEFAULT_CONFIG);
    exit(code);
}

/* main_args - parse the command line */
static void
main_args(int argc, char **argv, struct main_opts *o)
{
    int ch;

    o->config = MAIN_DEFAULT_CONFIG;
    while ((ch = getopt(argc, argv, "c:fhtV")) != -1) {
        switch (ch) {
        case 'c':
            o->config = optarg;
            break;
        case 'f':
            o->foreground = 1;
            break;
        case 't':
            o->check = 1;
            break;
        case 'V':
            printf("neural-milter %s\n", PACKAGE_VERSION);
            exit(0);
        case 'h':
            main_usage(0);
            break;
        default:
            main_usage(EX_USAGE);
        }
    }
    if (optind != argc)
        main_usage(EX_USAGE);
}

/* main_check_ids - the user and group named in c exist, and the [redis]
 * servers make a store (what store_new() refuses, -t must refuse too);
 * 0 or -1 */
static int
main_check_ids(const struct cfg *c, char *err, size_t errlen)
{
    char why[512];
    struct store *st = store_new_cfg(c, why, sizeof(why));

    if (st == NULL) {
        snprintf(err, errlen, "%s: [redis]: %s\n", c->path, why);
        return -1;
    }
    store_free(st);
    if (c->user[0] != '\0' && getpwnam(c->user) == NULL) {
        snprintf(err, errlen, "%s: [milter] user: no such user: %s\n",
                 c->path, c->user);
        return -1;
    }
    if (c->group[0] != '\0' && getgrnam(c->group) == NULL) {
        snprintf(err, errlen, "%s: [milter] group: no such group: %s\n",
                 c->path, c->group);
        return -1;
    }
    return 0;
}

/* main_drop_privileges - become [milter] user/group when root */
static void
main_drop_privileges(const struct cfg *c)
{
    struct passwd *pw;
    gid_t gid;

    if (geteuid() != 0)
        return;
    if (c->user[0] == '\0') {
        log_warnx("main: running as root; set [milter] user");
        return;
    }
    if ((pw = getpwnam(c->user)) == NULL)
        fatalx("main: no such user: %s", c->user);
    gid = pw->pw_gid;
    if (c->group[0] != '\0') {
        struct group *gr = getgrnam(c->group);

        if (gr == NULL)
            fatalx("main: no such group: %s", c->group);
        gid = gr->gr_gid;
    }
    if (initgroups(pw->pw_name, gid) != 0 || setgid(gid) != 0 ||
        setuid(pw->pw_uid) != 0)
        fatal("main: cannot become %s", c->user);
    if (setuid(0) == 0)
        fatalx("main: could regain root after dropping it");
}

/* main_daemonize - detach from the terminal */
static void
main_daemonize(void)
{
    pid_t pid;
    int fd;

    if ((pid = fork()) < 0)
        fatal("main: fork");
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        fatal("main: setsid");
    if ((pid = fork()) < 0)
        fatal("main: fork");
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        fatal("main: chdir /");
    if ((fd = open("/dev/null", O_RDWR)) < 0)
        fatal("main: /dev/null");
    dup2(fd, STDIN_FILENO);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    if (fd > STDERR_FILENO)
        close(fd);
}

/* main_pidfile - write our pid; owned by the user we become */
static void
main_pidfile(const struct cfg *c)
{
    FILE *f;

    if (c->pidfile[0] == '\0')
        return;
    if ((f = fopen(c->pidfile, "w")) == NULL)
        fatal("main: cannot write pid file %s", c->pidfile);
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0)
        fatal("main: cannot write pid file %s", c->pidfile);
    if (geteuid() == 0 && c->user[0] != '\0') {
        struct passwd *pw = getpwnam(c->user);
        struct group *gr = c->group[0] ? getgrnam(c->group) : NULL;

        /* So the unprivileged daemon can remove it at stop. */
        if (pw != NULL &&
            chown(c->pidfile, pw->pw_uid, gr ? gr->gr_gid : pw->pw_gid) != 0)
            log_warn("main: chown %s", c->pidfile);
    }
}

/* main_mkparent - make the directory that will hold path when it is
 * missing (as /run/neural-milter is after a reboot without systemd),
 * owned by the user we become so it can remove its files */
static void
main_mkparent(const char *path, const struct cfg *c)
{
    char dir[1024];
    char *slash;
    struct passwd *pw;

    if (path == NULL || path[0] != '/' ||
        (size_t)snprintf(dir, sizeof(dir), "%s", path) >= sizeof(dir))
        return;
    if ((slash = strrchr(dir, '/')) == dir)
        return;
    *slash = '\0';
    if (mkdir(dir, 0755) != 0) {
        if (errno != EEXIST)
            log_warn("main: mkdir %s", dir);
        return;
    }
    if (geteuid() == 0 && c->user[0] != '\0' &&
        (pw = getpwnam(c->user)) != NULL &&
        chown(dir, pw->pw_uid, pw->pw_gid) != 0)
        log_warn("main: chown %s", dir);
}

/* main_log_restart_key - name a changed key that needs a restart */
static void
main_log_restart_key(const char *section, const char *key, void *arg)
{
    (void)arg;
    log_warnx("main: reload: [%s] %s changed; it takes effect at the next "
              "restart", section, key);
}

/* main_reload - SIGUSR1: load the file again and swap it in */
static void
main_reload(const char *path)
{
    char err[4096];
    struct cfg *old, *c = cfg_load(path, err, sizeof(err));

    if (c == NULL) {
        log_warnx("main: reload of %s failed, keeping the running "
                  "configuration:\n%s", path, err);
        return;
    }
    old = cfg_current_get();
    cfg_restart_keys(old, c, main_log_restart_key, NULL);
    cfg_release(old);
    log_set_level((enum log_level)c->log_level);
    cfg_current_set(c);
    log_info("main: reloaded %s", path);
}

/* main_milter_thread - serve; tell the main thread when libmilter's
 * loop ended by itself (an error) */
static void *
main_milter_thread(void *arg)
{
    struct main_milter *m = arg;

    pthread_setname_np(pthread_self(), "nm-milter");
    m->rc = milter_run(MAIN_DRAIN_MS);
    pthread_kill(m->main, SIGUSR2);
    return NULL;
}

/* main_signals - the main thread's loop until a stop */
static void
main_signals(const char *config, const sigset_t *set)
{
    int sig;

    for (;;) {
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) {
            main_reload(config);
            continue;
        }
        if (sig == SIGUSR2) /* the milter thread: its loop ended */
            return;
        log_info("main: %s: stopping", strsignal(sig));
        milter_stop();
        return;
    }
}

/* main - start, serve, stop */
int
main(int argc, char **argv)
{
    struct main_opts o = { 0 };
    struct main_milter mm = { 0 };
    struct metrics_server *ms;
    struct watch *w;
    struct queue *q;
    struct trainer *tr;
    struct cfg *c;
    char err[8192];
    sigset_t all;

    if (argc >= 2 && strcmp(argv[1], TRAINER_CHILD_ARG) == 0)
        return trainer_child_main(argc, argv);
    main_args(argc, argv, &o);
    c = cfg_load(o.config, err, sizeof(err));
    if (c == NULL || main_check_ids(c, err, sizeof(err)) != 0) {
        fputs(err, stderr);
        cfg_release(c);
        return o.check ? 1 : EX_CONFIG;
    }
    if (o.check) {
        printf("%s: configuration OK\n", o.config);
        cfg_release(c);
        return 0;
    }
    if (log_init("neural-milter", o.foreground, c->syslog_facility) != 0)
        fatalx("main: unknown syslog facility %s", c->syslog_facility);
    log_set_level((enum log_level)c->log_level);

    /* Before any thread: libmilter's, ours, and the ones libraries start. */
    sigemptyset(&all);
    sigaddset(&all, SIGHUP);
    sigaddset(&all, SIGTERM);
    sigaddset(&all, SIGINT);
    sigaddset(&all, SIGUSR1);
    sigaddset(&all, SIGUSR2);
    if (pthread_sigmask(SIG_BLOCK, &all, NULL) != 0)
        fatalx("main: cannot block signals");
    signal(SIGPIPE, SIG_IGN);

    if (strncmp(c->socket, "unix:", 5) == 0 ||
        strncmp(c->socket, "local:", 6) == 0)
        main_mkparent(strchr(c->socket, ':') + 1, c);
    main_mkparent(c->pidfile, c);
    if (milter_setup(c, err, sizeof(err)) != 0 ||
        metrics_listen(c->metrics_listen, &ms, err, sizeof(err)) != 0)
        fatalx("main: %s", err);
    if (!o.foreground)
        main_daemonize();
    main_pidfile(c);
    main_drop_privileges(c);
    cfg_current_set(cfg_acquire(c));

    if ((w = watch_start(c, err, sizeof(err))) == NULL ||
        (q = queue_start(c, err, sizeof(err))) == NULL ||
        (tr = trainer_start(c, MAIN_SELF, o.foreground, err,
                            sizeof(err))) == NULL ||
        metrics_serve(ms, err, sizeof(err)) != 0)
        fatalx("main: %s", err);
    milter_set_queue(q);

    log_info("main: neural-milter %s listening on %s", PACKAGE_VERSION,
             c->socket);
    mm.main = pthread_self();
    if (pthread_create(&mm.thread, NULL, main_milter_thread, &mm) != 0)
        fatalx("main: cannot start the milter thread");
    main_signals(o.config, &all);
    pthread_join(mm.thread, NULL);

    metrics_stop(ms);
    trainer_stop(tr);
    queue_stop(q, MAIN_FLUSH_MS);
    watch_stop(w);
    if (c->pidfile[0] != '\0' && unlink(c->pidfile) != 0 && errno != ENOENT)
        log_warn("main: cannot remove %s", c->pidfile);
    model_current_set(NULL);
    cfg_current_set(cfg_defaults());
    cfg_release(c);
    log_info("main: stopped");
    return mm.rc == 0 ? 0 : EX_SOFTWARE;
}
