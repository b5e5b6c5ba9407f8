/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hdr - turn the scanner headers of one message into a verdict: total
 * score, required score, action and the symbols that fired. Pure: no I/O,
 * no logging, no globals; any thread. hdr_rspamd.c parses X-Spamd-Result
 * and X-Rspamd-Action, hdr_sa.c parses X-Spam-Status, hdr.c holds the
 * collection of a message's headers and the choice between them.
 * Must not include libmilter, hiredis, fann or zstd headers.
 */
#ifndef NM_HDR_H
#define NM_HDR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Limits on what a sender-controlled header may make us allocate. */
#define HDR_MAX_BYTES 65536  /* one header value, folded lines included */
#define HDR_MAX_SYMBOLS 512  /* symbols kept from one header */
#define HDR_MAX_NAME 128     /* bytes of one symbol name */

/* Which scanner's header to read ([upstream] format). */
enum hdr_format { HDR_FORMAT_AUTO, HDR_FORMAT_RSPAMD, HDR_FORMAT_SA };

/* How many copies of a scanner header we accept ([upstream] trust). */
enum hdr_trust { HDR_TRUST_SINGLE, HDR_TRUST_LAST };

/* What the header field upstream= says. */
enum hdr_upstream {
    HDR_UPSTREAM_NONE,      /* no usable scanner header */
    HDR_UPSTREAM_RSPAMD,
    HDR_UPSTREAM_SA,
    HDR_UPSTREAM_AMBIGUOUS, /* trust=single and more than one copy */
};

/* Rspamd's actions; SpamAssassin's Yes/No map to ADD_HEADER/NO_ACTION. */
enum hdr_action {
    HDR_ACTION_UNKNOWN,
    HDR_ACTION_NO_ACTION,
    HDR_ACTION_GREYLIST,
    HDR_ACTION_ADD_HEADER,
    HDR_ACTION_REWRITE_SUBJECT,
    HDR_ACTION_SOFT_REJECT,
    HDR_ACTION_REJECT,
};

enum hdr_status {
    HDR_OK,
    HDR_ERR_SYNTAX, /* not the scanner's format */
    HDR_ERR_LIMIT,  /* longer than HDR_MAX_BYTES */
};

struct hdr_symbol {
    char name[HDR_MAX_NAME + 1]; /* [A-Za-z0-9_]+ */
    double score;                /* 0 where the header carries no scores */
    /* strlen(name), which the parsers know from their scan and the
     * profile lookup needs; 0 (as left by "{ name, score }" initialisers
     * and xcalloc) means "not recorded": use hdr_symbol_len() */
    uint8_t len;
};

_Static_assert(HDR_MAX_NAME <= UINT8_MAX, "a name's length fits len");

/* hdr_symbol_len - strlen(s->name), from s->len when recorded */
static inline size_t
hdr_symbol_len(const struct hdr_symbol *s)
{
    return s->len != 0 ? s->len : strlen(s->name);
}

/* The parsed verdict. Plain data: the caller owns it, hdr_result_free()
 * releases sym. */
struct hdr_result {
    enum hdr_upstream upstream;
    double score;          /* upstream total */
    double required;       /* threshold the scanner compared it with; 0 if none */
    enum hdr_action action;
    int is_spam;           /* Rspamd True (= reject), SpamAssassin Yes */
    int has_scores;        /* symbols carry their own scores */
    int inconsistent;      /* Rspamd: symbol scores do not add up to score */
    int truncated;         /* the symbol list was cut ("..." or the limit) */
    size_t nsym;
    struct hdr_symbol *sym; /* nsym entries in header order, names unique */
    size_t cap;            /* entries allocated at sym, for the parsers;
                              0 = only nsym (whoever sets sym sets cap) */
};

/* hdr_result_init - zero a result; hdr_result_free - release its symbols
 * and zero it again (safe on a zeroed result); hdr_result_clear - zero
 * all but sym and cap: the parsers fill the same buffer again, and a
 * caller that parses one header after another allocates it once. */
void hdr_result_init(struct hdr_result *res);
void hdr_result_free(struct hdr_result *res);
void hdr_result_clear(struct hdr_result *res);

/*
 * hdr_rspamd_parse - parse an X-Spamd-Result value (as a milter gets it:
 * folded lines joined with "\n" and their whitespace) into res, which the
 * caller has initialised. Sets upstream, score, required, is_spam,
 * has_scores, inconsistent, truncated and the symbols; action is set from
 * the default (True = reject) and can be overridden by hdr_action_parse().
 * Returns HDR_OK or an error with a reason in err; res holds no symbols
 * after an error. The symbols go into res->sym's buffer when it has one
 * (res->cap entries, which hdr_result_clear() kept), else a new one.
 */
enum hdr_status hdr_rspamd_parse(const char *value, struct hdr_result *res,
                                 char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* hdr_rspamd_parse_len - the same where the caller knows strlen(value)
 * (len; value[len] is its NUL): a copy that measured it once already */
enum hdr_status hdr_rspamd_parse_len(const char *value, size_t len,
                                     struct hdr_result *res, char *err,
                                     size_t errlen)
    __attribute__((warn_unused_result));

/*
 * hdr_sa_parse - parse an X-Spam-Status value of SpamAssassin
 * ("Yes, score=10.5 required=5.0 tests=A,B autolearn=..") or amavis
 * ("tests=[A=1.2, B=-0.1]"). Same contract as hdr_rspamd_parse().
 */
enum hdr_status hdr_sa_parse(const char *value, struct hdr_result *res,
                             char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* hdr_action_parse - an X-Rspamd-Action value; HDR_ACTION_UNKNOWN when it
 * is none of Rspamd's actions. */
enum hdr_action hdr_action_parse(const char *value);

/* Names for logs and headers; never NULL. */
const char *hdr_action_name(enum hdr_action action);   /* "no action", ... */
const char *hdr_upstream_name(enum hdr_upstream up);   /* "rspamd", ... */

/*
 * struct hdr_seen - the scanner headers of one message, as they arrive.
 * Zero-initialise; hdr_seen_free() releases it. Only the last copy of
 * each header is kept (trust=single never uses a value when count > 1).
 */
struct hdr_seen {
    unsigned n_spamd_result;
    unsigned n_rspamd_action;
    unsigned n_spam_status;
    unsigned n_rspamd_queue_id;
    char *spamd_result;   /* last copy, or NULL */
    char *rspamd_action;
    char *spam_status;
    char *rspamd_queue_id; /* X-Rspamd-Queue-Id: not parsed, compared */
    size_t spamd_result_len; /* strlen(spamd_result), for its parser */
    int oversize;         /* a copy was longer than HDR_MAX_BYTES */
    /* the bytes allocated for each copy above: hdr_seen_clear() keeps
     * the buffers for the next message, which then costs no malloc */
    size_t spamd_result_cap;
    size_t rspamd_action_cap;
    size_t spam_status_cap;
    size_t rspamd_queue_id_cap;
};

/*
 * hdr_seen_add - offer one header; returns 1 when it is a scanner header
 * (X-Spamd-Result, X-Rspamd-Action, X-Rspamd-Queue-Id, X-Spam-Status;
 * name compared case-insensitively) and was recorded, else 0. The value
 * is copied (at most HDR_MAX_BYTES bytes; a longer one sets oversize and
 * is recorded as "" so it still counts as a copy).
 */
int hdr_seen_add(struct hdr_seen *seen, const char *name, const char *value);
/* HDR_SEEN_LENS - bit n set for each length n of a name hdr_seen_add()
 * records (13, 14, 15 and 17): a caller that sees every header may skip
 * the others without a call. */
#define HDR_SEEN_LENS                                                      \
    ((UINT64_C(1) << 13) | (UINT64_C(1) << 14) | (UINT64_C(1) << 15) |     \
     (UINT64_C(1) << 17))
/* HDR_SEEN_FIRST - the first byte (in either case) of every name
 * hdr_seen_add() records: they all start "X-". */
#define HDR_SEEN_FIRST 'X'
/* hdr_seen_add_len - the same for a name whose length the caller knows
 * (len == strlen(name)): the milter measures each header name once. */
int hdr_seen_add_len(struct hdr_seen *seen, const char *name, size_t len,
                     const char *value);
/* hdr_seen_free - release the copies and zero seen. hdr_seen_clear -
 * forget them (every count 0: no copy is read) but keep their buffers,
 * at most HDR_MAX_BYTES + 1 bytes each, for the next message of the same
 * caller; hdr_seen_free() still releases them. */
void hdr_seen_free(struct hdr_seen *seen);
void hdr_seen_clear(struct hdr_seen *seen);

/*
 * hdr_evaluate - decide which header to use and parse it into res (which
 * the caller initialised). format AUTO prefers X-Spamd-Result and falls
 * back to an X-Spam-Status in SpamAssassin's form (Rspamd's own short
 * "X-Spam-Status: No, score=0.90" is not one). With TRUST_SINGLE two or
 * more copies of a chosen header give HDR_UPSTREAM_AMBIGUOUS. Returns
 * HDR_OK (res->upstream may be NONE or AMBIGUOUS) or the parse error of
 * the chosen header, with the reason in err and res->upstream NONE.
 */
enum hdr_status hdr_evaluate(const struct hdr_seen *seen,
                             enum hdr_format format, enum hdr_trust trust,
                             struct hdr_result *res, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/*
 * hdr_header_fn - called by hdr_message_headers() for each header field:
 * name and value are borrowed for the call; return 0 to go on, else stop.
 */
typedef int hdr_header_fn(const char *name, const char *value, void *arg);

/*
 * hdr_message_headers - split the header block of a raw message (up to
 * the first empty line; "\r\n" or "\n" line ends) into fields and hand
 * each to fn the way a milter sees it: continuation lines joined with
 * "\n" plus their original whitespace, one leading space of the value
 * removed. For the admin tool, benchmarks and tests. Returns the number of
 * fields handed over; a value longer than HDR_MAX_BYTES is cut after
 * HDR_MAX_BYTES + 1 bytes, so that hdr_seen_add() still flags it oversize.
 * A line that is neither a field nor a continuation ends the header block.
 */
size_t hdr_message_headers(const char *msg, size_t len, hdr_header_fn *fn,
                           void *arg);

/* hdr_upstream_usable - a scanner verdict we can read: Rspamd's or
 * SpamAssassin's (not none, not ambiguous). */
static inline int
hdr_upstream_usable(enum hdr_upstream up)
{
    return up == HDR_UPSTREAM_RSPAMD || up == HDR_UPSTREAM_SA;
}

/* hdr_name_char - one byte of a symbol name: [A-Za-z0-9_], by value (not
 * isalnum(), which follows the locale). */
static inline int
hdr_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

/* hdr_name_valid - len bytes at s (not NUL-terminated) are a symbol name:
 * 1 .. HDR_MAX_NAME bytes of [A-Za-z0-9_]. The one check the parsers, the
 * profile, the example records and the model blob share. */
static inline int
hdr_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > HDR_MAX_NAME)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!hdr_name_char((unsigned char)s[i]))
            return 0;
    return 1;
}

/* hdr_name_copy - memcpy(dst, src, len) for the 1 .. HDR_MAX_NAME bytes of
 * a name, inline (the call cost as much as the copy): 16-byte blocks (8
 * below 16), the last one overlapping the one before, so no byte outside
 * either name is read or written. The parsers and the example records
 * copy names so. */
static inline void
hdr_name_copy(char *dst, const char *src, size_t len)
{
    if (len >= 16) {
        for (size_t i = 0; i + 16 < len; i += 16)
            memcpy(dst + i, src + i, 16);
        memcpy(dst + len - 16, src + len - 16, 16);
    } else if (len >= 8) {
        memcpy(dst, src, 8);
        memcpy(dst + len - 8, src + len - 8, 8);
    } else if (len >= 4) {
        memcpy(dst, src, 4);
        memcpy(dst + len - 4, src + len - 4, 4);
    } else if (len > 0) {
        dst[0] = src[0];
        dst[len / 2] = src[len / 2];
        dst[len - 1] = src[len - 1];
    }
}

#endif /* NM_HDR_H */
