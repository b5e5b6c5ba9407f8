/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer - turns the examples kept in Redis into a published network.
 * trainer.c decides (enough new data, the lock, never a first network
 * while an instance still serves a model Redis lost) and, in the daemon,
 * runs each training in a child process of our own binary, at low
 * priority with a memory limit, renewing the lock while it works and
 * killing it at stop; the admin tool trains in its own process.
 * trainer_job.c is the training itself: the examples, the profile (a new
 * one when the scanner's rules changed), the live network continued or a
 * fresh one after max_iterations, early stopping on held-back examples,
 * and a publish only of a network not worse than the live one on those
 * same examples, only while the lock and the live model are what the
 * training started from. Never touches libmilter.
 */
#ifndef NM_TRAINER_H
#define NM_TRAINER_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "model.h"
#include "store.h"

/* How a network is trained (train_bench uses them too). */
/* Early-stopping patience, in epochs without validation gain: about
 * TRAINER_PATIENCE_STEPS training steps, within [TRAINER_PATIENCE,
 * TRAINER_PATIENCE_MAX] epochs. With few examples the held-back MSE
 * stalls for many epochs before it falls again: 25 stopped Rspamd
 * explicit (5,300 rows) at 88.5% of spam at 1% FP (93.5% with 75), and
 * autolearn + 2% reports + 10% replies (660 rows) at 57.2% (83.9%);
 * measured 25, 50, 75, 100, 150, and from 100 on the SpamAssassin
 * temporal split fell (network AUC 0.976 -> 0.956). With many, an epoch
 * is many steps: train_bench's 36,000 rows gain nothing from 75 (AUC
 * 0.9838 either way) and take 4.6 s, not 1.9 s. */
#define TRAINER_PATIENCE 25u
#define TRAINER_PATIENCE_MAX 75u
#define TRAINER_PATIENCE_STEPS 450000u

/* trainer_patience - the patience for a training of rows rows */
static inline unsigned
trainer_patience(size_t rows)
{
    size_t e = rows > 0 ? TRAINER_PATIENCE_STEPS / rows : TRAINER_PATIENCE_MAX;

    return e < TRAINER_PATIENCE ? TRAINER_PATIENCE
           : e > TRAINER_PATIENCE_MAX ? TRAINER_PATIENCE_MAX
                                      : (unsigned)e;
}
#define TRAINER_SMOOTHING 0.05   /* training targets 0.05 and 0.95: with 0
                                    and 1 autolearn's separable examples
                                    saturate the net (AUC 0.87, not 0.97) */
#define TRAINER_RATE 0.03        /* of the per-example steps; on the corpus
                                    0.02-0.1 all reach AUC 0.991-0.994 */

/* How a check or a training ended. */
enum trainer_outcome {
    TRAINER_DUE,          /* trainer_due() only: a training should run */
    TRAINER_NOT_DUE,      /* too few examples, or too few new ones */
    TRAINER_WAITING,      /* Redis lost the model an instance serves: that
                             instance publishes it again first */
    TRAINER_LOCKED,       /* another trainer holds the lock */
    TRAINER_NO_DATA,      /* nothing to train on (one class, no symbol) */
    TRAINER_PUBLISHED,
    TRAINER_NOT_BETTER,   /* worse than the live model on held-back data */
    TRAINER_DEGENERATE,   /* one class for every held-back example */
    TRAINER_LOCK_LOST,    /* the lock expired or was taken meanwhile */
    TRAINER_LIVE_CHANGED, /* the live model changed during the training */
    TRAINER_CANCELLED,    /* stopped (the daemon stops) */
    TRAINER_FAILED,       /* libfann failed, or the training process died */
    TRAINER_REDIS,        /* Redis unreachable, or the live model unread */
};

/* trainer_outcome_name - "published", "not-due", ... for logs, the
 * outcome line and metrics; never NULL. */
const char *trainer_outcome_name(enum trainer_outcome o);

/* The live model as the trainer read it from the write servers: what a
 * new network is compared with and what its publish is guarded by. */
struct trainer_live {
    int have;                          /* a model is live */
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;
};

/* What one check or training did, for logs, Redis and the admin tool.
 * Plain data: it also travels from the training process to the daemon. */
struct trainer_report {
    enum trainer_outcome outcome;
    int trained;             /* a network was trained */
    int published;           /* ... and published */
    int fresh;               /* it started from random weights */
    int new_profile;         /* for a new profile */
    char reason[256];        /* why not, or what happened */
    char model_id[MODEL_ID_LEN + 1]; /* published id */
    char old_id[MODEL_ID_LEN + 1];   /* the live model it was compared to */
    long nspam, nham, nnew;  /* examples stored, new since last training */
    size_t nsym;             /* profile size */
    size_t nbad;             /* stored records that did not decode */
    double auc_new, auc_old; /* on the held-back examples (old: -1 none) */
    double seconds;
    long peak_kib;           /* the training process's peak RSS, or 0 */
    struct model_meta meta;
};

/*
 * trainer_due - whether to train now: reads the counts and the live model
 * from the write servers into rep and live. TRAINER_NOT_DUE unless each
 * class holds min_class examples and either no model is live or
 * threshold new examples arrived (force: whenever both classes have
 * one); TRAINER_WAITING when Redis holds no model while this process or
 * a live heartbeat serves one it will publish again; TRAINER_REDIS when
 * Redis or the live model cannot be read; TRAINER_DUE when a training
 * should run. rep->reason says why. Any thread; does not log.
 */
enum trainer_outcome trainer_due(struct store *st, const struct cfg *c,
                                 int force, struct trainer_report *rep,
                                 struct trainer_live *live)
    __attribute__((warn_unused_result));

/*
 * trainer_job - the training itself, with the lock held by token: reads
 * the examples (bounded), trains, and publishes only a network not worse
 * than live on the held-back examples, guarded so that nothing is
 * published when the lock or the live model changed. cancelled(arg)
 * (NULL: never) is asked at least once an epoch; true stops the job.
 * Fills rep (its counts are the
 * caller's) and returns its outcome. Long-running; logs only a summary
 * of records that did not decode.
 */
enum trainer_outcome trainer_job(struct store *st, const struct cfg *c,
                                 const char *token,
                                 const struct trainer_live *live,
                                 int (*cancelled)(void *arg), void *arg,
                                 struct trainer_report *rep);

/*
 * trainer_run - one training in this process if due (or always with
 * force), for the admin tool and tests: due, lock, job (a helper thread
 * renews the lock), outcome recorded in Redis, lock released. Fills rep.
 * Returns 0 when it ran to a decision (rep->outcome says which), -1 on
 * TRAINER_REDIS and TRAINER_FAILED. Long-running; logs its outcome.
 */
int trainer_run(struct store *st, const struct cfg *c, int force,
                const char *token, struct trainer_report *rep)
    __attribute__((warn_unused_result));

/*
 * trainer_reports - take the reports waiting in Redis (bounded batches,
 * at most a few thousand per call), check each (the record, the scanner
 * header under c's format and trust, [learn] max_reports_per_day per
 * reporter and day) and store the good ones as explicit examples that
 * replace their message's example (trainer_report.c). *accepted and
 * *refused get the counts; refusals are logged and counted in Redis.
 * 0, or -1 when Redis failed. The trainer thread or the admin tool,
 * never a libmilter thread.
 */
int trainer_reports(struct store *st, const struct cfg *c, long *accepted,
                    long *refused);

/* trainer_token - an owner token for the lock: host:pid:random. */
void trainer_token(char *buf, size_t len);

/* trainer_record - the outcome line kept in Redis for `status`, and the
 * log line; both trainer_run() and the thread end a training with it. */
void trainer_record(struct store *st, const char *token,
                    const struct trainer_report *rep);

struct trainer;

/*
 * trainer_start - the thread: every [train] check_interval it checks,
 * and when due takes the lock and runs the training in a child process
 * (self_exe: our own binary, re-executed with TRAINER_CHILD_ARG). NULL +
 * err on failure. trainer_stop - stop: a training in progress is
 * cancelled (SIGTERM, then SIGKILL after TRAINER_KILL_MS), then join and
 * free. Main thread.
 */
#define TRAINER_CHILD_ARG "--train-child"
#define TRAINER_KILL_MS 1000
struct trainer *trainer_start(const struct cfg *c, const char *self_exe,
                              int foreground, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void trainer_stop(struct trainer *t);

/*
 * trainer_child_main - the training process: main() hands over when
 * argv[1] is TRAINER_CHILD_ARG. Lowers its priority, sets [train]
 * memory_limit, reads the configuration from the daemon, runs
 * trainer_job() and writes its report back. Returns the exit status.
 */
int trainer_child_main(int argc, char **argv);

#endif /* NM_TRAINER_H */
