/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * learn - the pure parts of the label sources beyond autolearn: the
 * message key that lets a later verdict replace an earlier example of
 * the same message, the message ids a reply names, and the report
 * records a reporter (contrib/dovecot) appends to Redis. (Network and
 * trap lists are addr.h, below cfg.)
 * Pure: no I/O, no logging, no globals; any thread. Must not include
 * libmilter, hiredis, fann or zstd headers.
 */
#ifndef NM_LEARN_H
#define NM_LEARN_H

#include <stddef.h>
#include <stdint.h>

#include "hdr.h"

#define LEARN_MAX_MSGID 250      /* bytes of one Message-ID, no <> */
#define LEARN_MAX_REFS 8         /* message ids one reply may name */
#define LEARN_KEY_HEX 16         /* a message key in hex */
#define LEARN_REPORT_MAX (256u << 10) /* bytes of one report record */
#define LEARN_MAX_REPORTER 128   /* bytes of a reporter's name */
#define LEARN_REPORT_MAGIC "NMREPORT 1\n"

/*
 * The message key: which stored example a later verdict on the same
 * message replaces. The hash (FNV-1a, then mixed) of the Message-ID
 * without its angle brackets; a message without a usable Message-ID
 * gets the hash of its scanner verdict (upstream, score, symbols and
 * their scores) instead. Never 0.
 * learn_msgid - the id of a Message-ID (or In-Reply-To) value into buf
 * (LEARN_MAX_MSGID + 1 bytes): the first "<...>", else the trimmed
 * value; 0, or -1 when there is none or it is too long or not printable.
 */
int learn_msgid(const char *value, char *buf, size_t len);
uint64_t learn_key_msgid(const char *id);
uint64_t learn_key_content(const struct hdr_result *res);
/* learn_key_hex - k as LEARN_KEY_HEX lowercase hex digits into buf. */
void learn_key_hex(uint64_t k, char *buf, size_t len);

/*
 * learn_refs - the keys of the messages a reply names: its In-Reply-To
 * and the newest ids of References (either may be NULL), at most
 * LEARN_MAX_REFS, without repeats. Returns how many.
 */
size_t learn_refs(const char *in_reply_to, const char *references,
                  uint64_t keys[LEARN_MAX_REFS]);

/* What a report record turned out to be. */
enum learn_report_status {
    LEARN_REPORT_OK,
    LEARN_REPORT_FORMAT,    /* not a report record */
    LEARN_REPORT_REPORTER,  /* no or a bad reporter name */
    LEARN_REPORT_VERDICT,   /* neither spam nor ham */
};

/*
 * A report as a reporter writes it (contrib/dovecot/nm-report):
 *   NMREPORT 1\n
 *   verdict: spam|ham\n
 *   reporter: NAME\n       (1..LEARN_MAX_REPORTER of [A-Za-z0-9_.@+=-])
 *   \n
 *   the message's header block (the body is not needed)
 * headers points into the caller's buffer.
 */
struct learn_report {
    int spam;
    char reporter[LEARN_MAX_REPORTER + 1];
    const char *headers;
    size_t hlen;
};

/* learn_report_parse - check and split one record of len bytes (at most
 * LEARN_REPORT_MAX, else LEARN_REPORT_FORMAT); err says what was wrong. */
enum learn_report_status learn_report_parse(const char *buf, size_t len,
                                            struct learn_report *r,
                                            char *err, size_t errlen);

/* learn_report_status_name - "ok", "format", ... for logs and counters. */
const char *learn_report_status_name(enum learn_report_status s);

/*
 * learn_message_scan - the header block of msg as a milter would see
 * it: the scanner headers into seen (zeroed by the caller, freed with
 * hdr_seen_free()) and the Message-ID's id into msgid (LEARN_MAX_MSGID
 * + 1 bytes; "" when there is none or more than one).
 */
void learn_message_scan(const char *msg, size_t len, struct hdr_seen *seen,
                        char *msgid, size_t msgidlen);

#endif /* NM_LEARN_H */
