/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer_int - what trainer.c, trainer_job.c and trainer_child.c share
 * and nobody else sees.
 */
#ifndef NM_TRAINER_INT_H
#define NM_TRAINER_INT_H

#include <stdint.h>

#include "trainer.h"

/* trainer_set_reason - rep->reason from fmt, rep->outcome = o; returns o. */
enum trainer_outcome trainer_set_reason(struct trainer_report *rep,
                                        enum trainer_outcome o,
                                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* trainer_live_parse - a model id "DIGEST.VERSION" into *live (have set);
 * 0, or -1 when id is not of that form. */
int trainer_live_parse(const char *id, struct trainer_live *live);

/*
 * trainer_child_run - one training in a child process of exe (our own
 * binary), with the lock held by token: writes c to it, renews the lock
 * while it works, cancels it when stopping(arg) turns true (SIGTERM,
 * then SIGKILL after TRAINER_KILL_MS) or the lock is lost, and fills rep
 * from its report (rep's counts are the caller's and stay).
 * TRAINER_FAILED when the process died without a report. The trainer
 * thread only; logs what went wrong.
 */
void trainer_child_run(struct store *st, const struct cfg *c, const char *exe,
                       int foreground, const char *token,
                       const struct trainer_live *live,
                       int (*stopping)(void *), void *arg,
                       struct trainer_report *rep);

#endif /* NM_TRAINER_INT_H */
