/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * verdict - what neural-milter makes of one message: the scanner's
 * verdict (hdr), the network's probability and the bounded adjustment
 * (feat, model), the training label, and the header value that says so.
 * One code path for the milter, the admin tool and the evaluation, so
 * they cannot disagree. Pure: no I/O, no logging; any thread.
 */
#ifndef NM_VERDICT_H
#define NM_VERDICT_H

#include <stddef.h>

#include "cfg.h"
#include "hdr.h"
#include "model.h"
#include "util.h"

enum verdict_label { VERDICT_LABEL_NONE, VERDICT_LABEL_SPAM, VERDICT_LABEL_HAM };

#define VERDICT_HEADER_MAX 256 /* our header value; well under 998 */

/* Whether the scanner's verdict was made for this transaction
 * ([upstream] require_queue_id). */
enum verdict_qid {
    VERDICT_QID_UNCHECKED, /* not Rspamd, or require_queue_id = no */
    VERDICT_QID_OK,        /* one X-Rspamd-Queue-Id, equal to macro i */
    VERDICT_QID_MISSING,   /* none, or more than one */
    VERDICT_QID_MISMATCH,  /* not this transaction's queue id */
};

struct verdict {
    struct hdr_result res;   /* the scanner's verdict (owned) */
    enum hdr_status status;  /* HDR_OK or why the header was unusable */
    char err[160];           /* reason when status != HDR_OK */
    int scored;              /* p and adjust come from a model */
    double p;
    double adjust;           /* 0 unless scored */
    char model_id[MODEL_ID_LEN + 1]; /* "" = no model */
    size_t unknown;          /* symbols the model's profile lacks */
    size_t ignored;          /* symbols [model] ignore_symbols left out */
    double known;            /* weighted share of the rest the profile
                                knows (feat_known_share); 0 unless scored */
    enum verdict_label label;    /* what the upstream's verdict implies */
    enum verdict_label learned;  /* what was queued (set by the caller) */
    int learnable;           /* a usable, consistent verdict that may be
                                learned from (any label source) */
    enum verdict_qid qid;    /* set by verdict_queue_id() */
};

/*
 * verdict_compute - evaluate seen under c (format, trust, weights,
 * training rules) and score it with m (borrowed; NULL = no model).
 * v is overwritten; release it with verdict_free(). Never fails: an
 * unusable header gives upstream=none with status/err set, a failure
 * of the model gives scored=0.
 */
void verdict_compute(struct verdict *v, const struct hdr_seen *seen,
                     const struct cfg *c, struct model *m);
void verdict_free(struct verdict *v);
/*
 * verdict_recompute - verdict_compute() into the symbol buffer v->res.sym
 * of v->res.cap entries (NULL and 0: none yet) that v brings, which may
 * grow: v is overwritten except for those two, which the caller keeps
 * for its next verdict or releases with verdict_free(). The milter keeps
 * one buffer a connection.
 */
void verdict_recompute(struct verdict *v, const struct hdr_seen *seen,
                       const struct cfg *c, struct model *m);

/*
 * verdict_label_of - the autolearn label the upstream's verdict implies
 * under c, after Rspamd's neural module (positive and negative count the
 * symbols of a positive and a negative score; without per-symbol scores
 * every symbol counts as positive):
 *   spam: the Rspamd action is one of spam_actions (SpamAssassin, or no
 *         action known: the score is at least spam_score), with at least
 *         spam_min_positive positive symbols;
 *   spam: the action is one of junk_actions, the header has per-symbol
 *         scores and at least junk_min_positive are positive;
 *   ham:  the action is one of ham_actions (empty: any), and the score
 *         is below ham_score or (with per-symbol scores, and
 *         ham_min_negative > 0) at least ham_min_negative are negative;
 * none for no, ambiguous or inconsistent results and everything else.
 */
enum verdict_label verdict_label_of(const struct hdr_result *res,
                                    const struct cfg *c);

const char *verdict_label_name(enum verdict_label l); /* spam|ham|none */

/*
 * verdict_queue_id - with [upstream] require_queue_id and a Rspamd
 * verdict: compare seen's X-Rspamd-Queue-Id with qid (the MTA's queue
 * id, NULL when it sent none) and, unless it is the one copy and equal,
 * make v neither learnable nor labelled. Sets v->qid.
 */
void verdict_queue_id(struct verdict *v, const struct hdr_seen *seen,
                      const char *qid, const struct cfg *c);

/* verdict_qid_name - "unchecked", "ok", "missing", "mismatch". */
const char *verdict_qid_name(enum verdict_qid q);

/*
 * verdict_header - the X-Neural-Result value:
 * "+3.75; p=0.981; model=2b8f1c0e.7; upstream=rspamd; score=7.50; learn=none"
 * Returns 0, or -1 when buf is too small.
 */
int verdict_header(const struct verdict *v, char *buf, size_t len)
    __attribute__((warn_unused_result));

/*
 * verdict_log_line - the line the milter logs for each message:
 * "QID: milter: upstream=rspamd score=7.50 symbols=35 ignored=2 unknown=0
 * known=1.00 p=0.981 adjust=+3.75 model=2b8f1c0e.7 learn=none", then
 * " replaced=yes" (flags VERDICT_LOG_REPLACED), " queue_id=ok|missing|
 * mismatch" (when checked), " kept=reply" (VERDICT_LOG_KEPT) and
 * " spamtrap=yes" (VERDICT_LOG_SPAMTRAP). qid is borrowed; at most
 * VERDICT_QID_MAX bytes of it are
 * used. Written without printf (the numbers by util_fmt_fixed(), the
 * same text). Returns 0, or -1 when buf is too small
 * (VERDICT_LOG_MAX is always enough).
 */
#define VERDICT_QID_MAX 128
#define VERDICT_LOG_MAX (VERDICT_QID_MAX + 3 * UTIL_FIXED_MAX + \
                         MODEL_ID_LEN + 256)
#define VERDICT_LOG_REPLACED 0x1u
#define VERDICT_LOG_KEPT 0x2u
#define VERDICT_LOG_SPAMTRAP 0x4u
int verdict_log_line(const struct verdict *v, const char *qid, unsigned flags,
                     char *buf, size_t len) __attribute__((warn_unused_result));

/*
 * struct verdict_numbers - the numbers verdict_header() and
 * verdict_log_line() both print, formatted once by verdict_numbers() for
 * the _numbers() forms of the two (the milter writes both a message):
 * the adjustment "%+.2f", p "%.3f" ("none" unless scored) and the
 * upstream score "%.2f".
 */
struct verdict_numbers {
    char adjust[UTIL_FIXED_MAX], p[UTIL_FIXED_MAX], score[UTIL_FIXED_MAX];
    size_t adjust_len, p_len, score_len;
};
void verdict_numbers(const struct verdict *v, struct verdict_numbers *nb);
/* verdict_header_numbers, verdict_log_line_numbers - verdict_header()
 * and verdict_log_line() with v's numbers from nb (verdict_numbers() of
 * the same v, unchanged since). */
int verdict_header_numbers(const struct verdict *v,
                           const struct verdict_numbers *nb, char *buf,
                           size_t len) __attribute__((warn_unused_result));
int verdict_log_line_numbers(const struct verdict *v,
                             const struct verdict_numbers *nb,
                             const char *qid, unsigned flags, char *buf,
                             size_t len) __attribute__((warn_unused_result));

/* verdict_adjusted_header - the optional second header: upstream score
 * plus adjustment, "%.2f"; -1 when there is no upstream score. */
int verdict_adjusted_header(const struct verdict *v, char *buf, size_t len)
    __attribute__((warn_unused_result));

#endif /* NM_VERDICT_H */
