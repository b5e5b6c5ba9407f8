/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * verdict - header → vector → score → header for one message. The model
 * is borrowed from the caller, who holds a reference for the call.
 */
#include "config.h"
#include "verdict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* verdict_free - release the parsed result */
void
verdict_free(struct verdict *v)
{
    hdr_result_free(&v->res);
}

/* verdict_label_name - for headers and logs */
const char *
verdict_label_name(enum verdict_label l)
{
    switch (l) {
    case VERDICT_LABEL_SPAM:
        return "spam";
    case VERDICT_LABEL_HAM:
        return "ham";
    default:
        return "none";
    }
}

/* Symbols of a positive and of a negative score, counted when first
 * asked for (most verdicts are labelled by their score alone); with no
 * per-symbol scores every symbol counts as positive. */
struct verdict_tally {
    int done;
    long pos, neg;
};

/* verdict_tally - the counts of res, made on first use */
static const struct verdict_tally *
verdict_tally(const struct hdr_result *res, struct verdict_tally *t)
{
    if (t->done)
        return t;
    t->done = 1;
    t->pos = t->neg = 0;
    if (!res->has_scores) {
        t->pos = (long)res->nsym;
        return t;
    }
    for (size_t i = 0; i < res->nsym; i++) {
        if (res->sym[i].score > 0)
            t->pos++;
        else if (res->sym[i].score < 0)
            t->neg++;
    }
    return t;
}

/* verdict_list_empty - a list of actions with none in it */
static int
verdict_list_empty(const char *list)
{
    return list[strspn(list, " \t,")] == '\0';
}

/* verdict_action_bit - res's action in cfg's action sets (0: unknown);
 * t_verdict checks the orders agree (cfg_action_bit()) */
static unsigned
verdict_action_bit(enum hdr_action a)
{
    return a >= HDR_ACTION_NO_ACTION && a <= HDR_ACTION_REJECT
               ? 1u << (a - HDR_ACTION_NO_ACTION)
               : 0;
}

/* verdict_label_of - the autolearn rule */
enum verdict_label
verdict_label_of(const struct hdr_result *res, const struct cfg *c)
{
    unsigned bit = verdict_action_bit(res->action);
    int known = res->action != HDR_ACTION_UNKNOWN;
    struct verdict_tally t = { 0, 0, 0 };
    int spam;

    if (!hdr_upstream_usable(res->upstream))
        return VERDICT_LABEL_NONE;
    /* A result whose parts disagree may be forged or edited: never
     * teach the network from it. */
    if (res->inconsistent)
        return VERDICT_LABEL_NONE;
    if (res->upstream == HDR_UPSTREAM_RSPAMD && known)
        spam = (c->spam_action_set & bit) != 0;
    else
        spam = res->score >= c->spam_score;
    if (spam && verdict_tally(res, &t)->pos >= c->spam_min_positive)
        return VERDICT_LABEL_SPAM;
    if (known && res->has_scores && (c->junk_action_set & bit) &&
        verdict_tally(res, &t)->pos >= c->junk_min_positive)
        return VERDICT_LABEL_SPAM;
    if (spam)
        return VERDICT_LABEL_NONE; /* too few positive symbols to be sure */
    if (!verdict_list_empty(c->ham_actions) &&
        !(known && (c->ham_action_set & bit)))
        return VERDICT_LABEL_NONE;
    if (res->score < c->ham_score ||
        (res->has_scores && c->ham_min_negative > 0 &&
         verdict_tally(res, &t)->neg >= c->ham_min_negative))
        return VERDICT_LABEL_HAM;
    return VERDICT_LABEL_NONE;
}

/* verdict_qid_name - for logs */
const char *
verdict_qid_name(enum verdict_qid q)
{
    switch (q) {
    case VERDICT_QID_OK:
        return "ok";
    case VERDICT_QID_MISSING:
        return "missing";
    case VERDICT_QID_MISMATCH:
        return "mismatch";
    case VERDICT_QID_UNCHECKED:
        break;
    }
    return "unchecked";
}

/* verdict_queue_id - the verdict is learnable only when it names this
 * transaction's queue id */
void
verdict_queue_id(struct verdict *v, const struct hdr_seen *seen,
                 const char *qid, const struct cfg *c)
{
    const char *h = seen->rspamd_queue_id;
    size_t n;

    v->qid = VERDICT_QID_UNCHECKED;
    if (!c->require_queue_id || v->res.upstream != HDR_UPSTREAM_RSPAMD)
        return;
    if (seen->n_rspamd_queue_id != 1 || h == NULL) {
        v->qid = VERDICT_QID_MISSING;
    } else {
        /* compare without the blanks around it */
        h += strspn(h, " \t");
        n = strcspn(h, " \t\r\n");
        v->qid = qid != NULL && qid[0] != '\0' && strlen(qid) == n &&
                         strncmp(h, qid, n) == 0 &&
                         h[n + strspn(h + n, " \t\r\n")] == '\0'
                     ? VERDICT_QID_OK
                     : VERDICT_QID_MISMATCH;
    }
    if (v->qid != VERDICT_QID_OK) {
        v->learnable = 0;
        v->label = VERDICT_LABEL_NONE;
    }
}

/* verdict_score - run the model on the result, if it can be: the
 * non-zero inputs only, on the shared net (no copy, no lock), and without
 * the ignored symbols (no copy either: the model keeps the profile's
 * ignore flags) */
static void
verdict_score(struct verdict *v, const struct cfg *c, struct model *m)
{
    const struct feat_profile *prof = model_profile(m);
    struct feat_pair x[FEAT_PAIRS_MAX];
    struct feat_kept kept;
    size_t n;
    double p;

    /* model ids are at most MODEL_ID_LEN bytes */
    memcpy(v->model_id, model_id(m), strlen(model_id(m)) + 1);
    /* The network sees the verdict without the ignored symbols; the
     * caller keeps all of them (the example records, the log line). The
     * parsers keep at most HDR_MAX_SYMBOLS: x is large enough. */
    if (feat_sparse_kept(prof, &v->res, model_ignored(m, c), c, x,
                         sizeof(x) / sizeof(x[0]), &n, &kept) != 0)
        return;
    v->ignored = kept.ignored;
    v->unknown = kept.unknown;
    if (model_score_sparse(m, x, n, &p) == 0 && isfinite(p)) {
        v->scored = 1;
        v->p = p;
        v->known = v->unknown == 0 ? (kept.nsym > 0 ? 1.0 : 0.0)
                                   : kept.known;
        v->adjust = model_map_adjust(m, p, v->res.score, v->known,
                                     c->spam_weight, c->ham_weight);
        /* Print "+0.00", never "-0.00". */
        if (fabs(v->adjust) < 0.005)
            v->adjust = 0;
    }
}

/* verdict_compute - the whole per-message decision */
void
verdict_compute(struct verdict *v, const struct hdr_seen *seen,
                const struct cfg *c, struct model *m)
{
    memset(v, 0, sizeof(*v));
    verdict_recompute(v, seen, c, m);
}

/* verdict_recompute - the same, into v's symbol buffer */
void
verdict_recompute(struct verdict *v, const struct hdr_seen *seen,
                  const struct cfg *c, struct model *m)
{
    struct hdr_result res = v->res;

    /* the result as it was: hdr_evaluate() clears it, keeping only what
     * hdr_result_clear() keeps (the symbol buffer) */
    memset(v, 0, sizeof(*v));
    v->res = res;
    v->status = hdr_evaluate(seen, (enum hdr_format)c->upstream_format,
                             (enum hdr_trust)c->upstream_trust, &v->res,
                             v->err, sizeof(v->err));
    if (v->status != HDR_OK) {
        hdr_result_clear(&v->res);
        v->res.upstream = HDR_UPSTREAM_NONE;
        return;
    }
    v->label = verdict_label_of(&v->res, c);
    v->learnable = hdr_upstream_usable(v->res.upstream) &&
                   !v->res.inconsistent;
    if (m != NULL && c->score_enabled && hdr_upstream_usable(v->res.upstream))
        verdict_score(v, c, m);
}

/* verdict_has_score - an upstream total we can print */
static int
verdict_has_score(const struct verdict *v)
{
    return hdr_upstream_usable(v->res.upstream);
}

/* A bounded string under construction: an overflow is remembered. */
struct verdict_buf {
    char *p;
    size_t len, n;
    int over;
};

/* verdict_put - append n bytes of s (inline, as verdict_puts(): with a
 * literal the length and the copy are constants) */
static inline void
verdict_put(struct verdict_buf *b, const char *s, size_t n)
{
    if (b->over || n >= b->len - b->n) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* verdict_puts - append a string */
static inline void
verdict_puts(struct verdict_buf *b, const char *s)
{
    verdict_put(b, s, strlen(s));
}

/* verdict_put_fixed - append "%.*f" (or "%+.*f") of x: in place when
 * the longest such text and the NUL fit (no copy), else as verdict_put()
 * would */
static void
verdict_put_fixed(struct verdict_buf *b, double x, int prec, int plus)
{
    char t[UTIL_FIXED_MAX];

    if (!b->over && b->len - b->n > UTIL_FIXED_MAX) {
        b->n += util_fmt_fixed(b->p + b->n, x, prec, plus);
        return;
    }
    verdict_put(b, t, util_fmt_fixed(t, x, prec, plus));
}

/* verdict_put_size - append "%zu" of n */
static void
verdict_put_size(struct verdict_buf *b, size_t n)
{
    char t[24];
    size_t k = sizeof(t);

    do {
        t[--k] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    verdict_put(b, t + k, sizeof(t) - k);
}

/* verdict_end - NUL-terminate; 0, or -1 when it did not fit */
static int
verdict_end(struct verdict_buf *b)
{
    if (b->len == 0)
        return -1;
    if (b->over) {
        b->p[0] = '\0';
        return -1;
    }
    b->p[b->n] = '\0';
    return 0;
}

/* verdict_numbers - the shared numbers, each formatted once */
void
verdict_numbers(const struct verdict *v, struct verdict_numbers *nb)
{
    nb->adjust_len = util_fmt_fixed(nb->adjust, v->adjust, 2, 1);
    if (v->scored) {
        nb->p_len = util_fmt_fixed(nb->p, v->p, 3, 0);
    } else {
        memcpy(nb->p, "none", 5);
        nb->p_len = 4;
    }
    nb->score_len = util_fmt_fixed(nb->score, v->res.score, 2, 0);
}

/* verdict_header - format our header's value */
int
verdict_header(const struct verdict *v, char *buf, size_t len)
{
    struct verdict_numbers nb;

    verdict_numbers(v, &nb);
    return verdict_header_numbers(v, &nb, buf, len);
}

/* verdict_header_numbers - what "%+.2f; p=%s; model=%s; upstream=%s;
 * score=%s; learn=%s" gives, without printf */
int
verdict_header_numbers(const struct verdict *v,
                       const struct verdict_numbers *nb, char *buf,
                       size_t len)
{
    struct verdict_buf b = { buf, len, 0, 0 };

    verdict_put(&b, nb->adjust, nb->adjust_len);
    verdict_puts(&b, "; p=");
    verdict_put(&b, nb->p, nb->p_len);
    verdict_puts(&b, "; model=");
    verdict_puts(&b, v->model_id[0] ? v->model_id : "none");
    verdict_puts(&b, "; upstream=");
    verdict_puts(&b, hdr_upstream_name(v->res.upstream));
    verdict_puts(&b, "; score=");
    if (verdict_has_score(v))
        verdict_put(&b, nb->score, nb->score_len);
    else
        verdict_puts(&b, "none");
    verdict_puts(&b, "; learn=");
    verdict_puts(&b, verdict_label_name(v->learned));
    return verdict_end(&b);
}

/* verdict_log_line - the milter's line for one message */
int
verdict_log_line(const struct verdict *v, const char *qid, unsigned flags,
                 char *buf, size_t len)
{
    struct verdict_numbers nb;

    verdict_numbers(v, &nb);
    return verdict_log_line_numbers(v, &nb, qid, flags, buf, len);
}

/* verdict_log_line_numbers - the line with the shared numbers given */
int
verdict_log_line_numbers(const struct verdict *v,
                         const struct verdict_numbers *nb, const char *qid,
                         unsigned flags, char *buf, size_t len)
{
    struct verdict_buf b = { buf, len, 0, 0 };

    verdict_put(&b, qid, strnlen(qid, VERDICT_QID_MAX));
    verdict_puts(&b, ": milter: upstream=");
    verdict_puts(&b, hdr_upstream_name(v->res.upstream));
    verdict_puts(&b, " score=");
    verdict_put(&b, nb->score, nb->score_len);
    verdict_puts(&b, " symbols=");
    verdict_put_size(&b, v->res.nsym);
    verdict_puts(&b, " ignored=");
    verdict_put_size(&b, v->ignored);
    verdict_puts(&b, " unknown=");
    verdict_put_size(&b, v->unknown);
    verdict_puts(&b, " known=");
    verdict_put_fixed(&b, v->known, 2, 0);
    verdict_puts(&b, " p=");
    verdict_put(&b, nb->p, nb->p_len);
    verdict_puts(&b, " adjust=");
    verdict_put(&b, nb->adjust, nb->adjust_len);
    verdict_puts(&b, " model=");
    verdict_puts(&b, v->model_id[0] ? v->model_id : "none");
    verdict_puts(&b, " learn=");
    verdict_puts(&b, verdict_label_name(v->learned));
    if (flags & VERDICT_LOG_REPLACED)
        verdict_puts(&b, " replaced=yes");
    if (v->qid != VERDICT_QID_UNCHECKED) {
        verdict_puts(&b, " queue_id=");
        verdict_puts(&b, verdict_qid_name(v->qid));
    }
    if (flags & VERDICT_LOG_KEPT)
        verdict_puts(&b, " kept=reply");
    if (flags & VERDICT_LOG_SPAMTRAP)
        verdict_puts(&b, " spamtrap=yes");
    return verdict_end(&b);
}

/* verdict_adjusted_header - upstream score plus our adjustment */
int
verdict_adjusted_header(const struct verdict *v, char *buf, size_t len)
{
    int n;

    if (!verdict_has_score(v))
        return -1;
    n = snprintf(buf, len, "%.2f", v->res.score + v->adjust);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}
