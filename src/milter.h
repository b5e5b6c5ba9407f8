/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * milter - the libmilter glue: callbacks, per-connection and per-message
 * state, and the header edits. The only module that includes
 * <libmilter/mfapi.h>. Callbacks run on libmilter's worker threads; they
 * read the current cfg and model through cfg_current_get() and
 * model_current_get() and never wait on Redis or on training.
 */
#ifndef NM_MILTER_H
#define NM_MILTER_H

#include "cfg.h"

/*
 * milter_setup - register the filter with libmilter and open the socket
 * c->socket (removing a stale unix socket) under c->umask, then give a
 * unix socket to c->group when one is set. Main thread, before any
 * privilege drop. Returns 0, or -1 with the reason in err.
 */
int milter_setup(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * milter_run - serve until smfi_stop() (SIGTERM/SIGINT), then wait up to
 * drain_ms for connections in progress to finish. Returns 0 or -1 when
 * smfi_main() failed. Logs.
 */
int milter_run(long drain_ms) __attribute__((warn_unused_result));

/* milter_set_queue - examples are queued to q (borrowed; NULL = none).
 * Main thread, before milter_run(). */
struct queue;
void milter_set_queue(struct queue *q);

/* milter_stop - ask libmilter to stop accepting and return from
 * milter_run(); any thread. */
void milter_stop(void);

/* milter_connections - connections in progress (for logs). */
long milter_connections(void);

#endif /* NM_MILTER_H */
