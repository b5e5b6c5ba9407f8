/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * milter_client - the MTA side of the milter protocol (version 6), small
 * enough to replay messages into any milter the way Postfix does: one
 * connection, option negotiation, then per message MAIL, the header
 * fields, end of message, and the edits the milter asks for. Used by
 * nm-replay (tests, evaluation, benchmarks). One thread per connection.
 */
#ifndef NM_MILTER_CLIENT_H
#define NM_MILTER_CLIENT_H

#include <stddef.h>

#define MC_MAX_PACKET (1u << 20) /* largest reply we accept */
#define MC_MAX_EDITS 32          /* header edits recorded per message */

struct mc_header {
    const char *name;
    const char *value;
};

struct mc_edit {
    char op;           /* 'h' add, 'i' insert, 'm' change (empty = delete) */
    unsigned index;    /* for 'm' and 'i' */
    char *name;
    char *value;
};

struct mc_result {
    char reply;        /* 'c' continue, 'a' accept, 't' tempfail, 'r' reject,
                          'd' discard, 'y' reply code */
    size_t nedits;
    struct mc_edit edits[MC_MAX_EDITS];
};

struct mc_conn;

/*
 * mc_connect - connect to spec ("unix:/path", "/path" or
 * "inet:port@host") and negotiate. timeout_ms bounds every read and
 * write. Returns NULL with the reason in err.
 */
struct mc_conn *mc_connect(const char *spec, int timeout_ms, char *err,
                           size_t errlen);

/*
 * mc_message - send one message's headers (body skipped when the milter
 * said so; otherwise a one-line body) with queue id qid, and collect the
 * end-of-message edits into res (free with mc_result_free). Returns 0, or
 * -1 with the reason in err (the connection is then unusable).
 */
int mc_message(struct mc_conn *c, const struct mc_header *hdrs, size_t n,
               const char *qid, struct mc_result *res, char *err,
               size_t errlen);
void mc_result_free(struct mc_result *res);

/* mc_close - QUIT and close; NULL does nothing. */
void mc_close(struct mc_conn *c);

/* mc_added - the value of the first header called name the milter added
 * in res, or NULL. */
const char *mc_added(const struct mc_result *res, const char *name);

#endif /* NM_MILTER_CLIENT_H */
