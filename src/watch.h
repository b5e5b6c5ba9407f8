/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * watch - the model watcher thread: polls Redis for the live profile's
 * version every [redis] watch_interval and swaps a newly published model
 * into model_current_set(); a blob that does not load is logged and the
 * model in use stays. Owns its own store connection. Started by main
 * after the privilege drop; never touches libmilter.
 */
#ifndef NM_WATCH_H
#define NM_WATCH_H

#include "cfg.h"
#include "model.h"
#include "store.h"

struct watch;

/*
 * watch_start - check the store options of c and start the thread (it
 * tries a first load at once). Returns NULL with the reason in err.
 * watch_stop - stop it, join, free; NULL does nothing. Main thread.
 */
struct watch *watch_start(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void watch_stop(struct watch *w);

/*
 * watch_poll_once - one poll through st, without a thread, for the
 * admin tool and tests: loads the live model if it differs from
 * *current (borrowed; may be NULL). Returns 1 and a new reference in
 * *out when a new model loaded, 0 when nothing changed or nothing is
 * published, -1 on error (logged).
 */
int watch_poll_once(struct store *st, const struct model *current,
                    struct model **out) __attribute__((warn_unused_result));

#endif /* NM_WATCH_H */
