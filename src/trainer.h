/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer - turns the examples kept in Redis into a published network:
 * decides when enough new data arrived, takes the site-wide training
 * lock, builds the profile (a new one when the scanner's rules changed),
 * continues the live network or starts a fresh one after max_iterations,
 * trains with early stopping on held-back examples, and publishes only a
 * network that is not worse than the live one on those same examples.
 * The thread runs at low priority with its own store connection; the
 * admin tool calls trainer_run() directly. Never touches libmilter.
 */
#ifndef NM_TRAINER_H
#define NM_TRAINER_H

#include <stddef.h>

#include "cfg.h"
#include "model.h"
#include "store.h"

/* How a network is trained (train_bench uses them too). */
#define TRAINER_PATIENCE 25      /* epochs without validation gain */
#define TRAINER_SMOOTHING 0.05   /* training targets 0.05 and 0.95: with 0
                                    and 1 autolearn's separable examples
                                    saturate the net (AUC 0.87, not 0.97) */
#define TRAINER_RATE 0.03        /* of the per-example steps; on the corpus
                                    0.02-0.1 all reach AUC 0.991-0.994 */

/* What one trainer_run() did, for logs, Redis and the admin tool. */
struct trainer_report {
    int trained;             /* a network was trained */
    int published;           /* ... and published */
    int fresh;               /* it started from random weights */
    int new_profile;         /* for a new profile */
    char reason[256];        /* why not, or what happened */
    char model_id[MODEL_ID_LEN + 1]; /* published id */
    char old_id[MODEL_ID_LEN + 1];   /* the live model it was compared to */
    long nspam, nham, nnew;  /* examples stored, new since last training */
    size_t nsym;             /* profile size */
    double auc_new, auc_old; /* on the held-back examples (old: -1 none) */
    double seconds;
    struct model_meta meta;
};

/*
 * trainer_due - 1 when training should run: each class holds at least
 * min_class examples and either no model is published yet or threshold
 * new examples arrived since the last training; 0 when not; -1 on a
 * Redis error. The counts are returned through the pointers.
 */
int trainer_due(struct store *st, const struct cfg *c, long *nspam,
                long *nham, long *nnew) __attribute__((warn_unused_result));

/*
 * trainer_run - one training if due (or always with force), under the
 * lock (token names this process). Fills rep. Returns 0 when it ran to a
 * decision (trained or not, rep says), -1 on an error (rep->reason).
 * Long-running; logs its outcome; records it in Redis.
 */
int trainer_run(struct store *st, const struct cfg *c, int force,
                const char *token, struct trainer_report *rep)
    __attribute__((warn_unused_result));

/* trainer_token - an owner token for the lock: host:pid:random. */
void trainer_token(char *buf, size_t len);

struct trainer;

/* trainer_start - the thread: every [train] check_interval it calls
 * trainer_run() with the current cfg. NULL + err on failure.
 * trainer_stop - stop (waits for a training in progress), free. */
struct trainer *trainer_start(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void trainer_stop(struct trainer *t);

#endif /* NM_TRAINER_H */
