/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * watch - the model watcher thread: polls Redis for the live profile's
 * version every [redis] watch_interval and swaps a newly published model
 * into model_current_set(); a blob that does not load is logged and the
 * model in use stays. When Redis lost the model (restarted empty, failed
 * over to a replica that lagged) it publishes the one it serves again,
 * and each poll writes this instance's heartbeat. Owns its own store
 * connection. Started by main after the privilege drop; never touches
 * libmilter.
 */
#ifndef NM_WATCH_H
#define NM_WATCH_H

#include <stddef.h>

#include "cfg.h"
#include "model.h"
#include "store.h"

/* What one poll found. */
enum watch_result {
    WATCH_LOADED,   /* a model other than current loaded into *out */
    WATCH_SAME,     /* Redis holds the model current is */
    WATCH_NONE,     /* Redis holds no model */
    WATCH_OLDER,    /* Redis holds an older version of current's profile:
                       it lost what it had */
    WATCH_REJECTED, /* the live blob does not load (logged) */
    WATCH_ERR,      /* Redis unreachable or a value refused (logged) */
};

/* watch_result_name - "loaded", "same", ... for logs; never NULL. */
const char *watch_result_name(enum watch_result r);

struct watch;

/*
 * watch_start - check the store options of c and start the thread (it
 * tries a first load at once). Returns NULL with the reason in err.
 * watch_stop - stop it, join, drop this instance's heartbeat, free; NULL
 * does nothing. Main thread.
 */
struct watch *watch_start(const struct cfg *c, char *err, size_t errlen)
    __attribute__((warn_unused_result));
void watch_stop(struct watch *w);

/*
 * watch_poll_once - one poll through st (via the read or the write
 * servers), without a thread, for the trainer, the admin tool and tests:
 * loads the live model if it differs from *current (borrowed; may be
 * NULL). On WATCH_LOADED *out holds a new reference; otherwise NULL.
 * Blobs over MODEL_MAX_BLOB are refused before they are read. Logs a
 * rejected blob.
 */
enum watch_result watch_poll_once(struct store *st, enum store_via via,
                                  const struct model *current,
                                  struct model **out)
    __attribute__((warn_unused_result));

/*
 * watch_beat_model - the model id a heartbeat line names into buf
 * ("none" when it serves none); 0, or -1 when the line names none of
 * ours.
 */
int watch_beat_model(const char *line, char *buf, size_t len);

/* The heartbeats' expiry for a watch interval: three intervals, at
 * least WATCH_BEAT_MIN_MS. */
#define WATCH_BEAT_MIN_MS 5000L
long watch_beat_ttl_ms(long interval_ms);

#endif /* NM_WATCH_H */
