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

/* verdict_counts - symbols of a positive and of a negative score; with
 * no per-symbol scores every symbol counts as positive */
static void
verdict_counts(const struct hdr_result *res, long *pos, long *neg)
{
    *pos = *neg = 0;
    if (!res->has_scores) {
        *pos = (long)res->nsym;
        return;
    }
    for (size_t i = 0; i < res->nsym; i++) {
        if (res->sym[i].score > 0)
            (*pos)++;
        else if (res->sym[i].score < 0)
            (*neg)++;
    }
}

/* verdict_list_empty - a list of actions with none in it */
static int
verdict_list_empty(const char *list)
{
    return list[strspn(list, " \t,")] == '\0';
}

/* verdict_label_of - the autolearn rule */
enum verdict_label
verdict_label_of(const struct hdr_result *res, const struct cfg *c)
{
    const char *action = hdr_action_name(res->action);
    int known = res->action != HDR_ACTION_UNKNOWN;
    long pos, neg;
    int spam;

    if (!hdr_upstream_usable(res->upstream))
        return VERDICT_LABEL_NONE;
    /* A result whose parts disagree may be forged or edited: never
     * teach the network from it. */
    if (res->inconsistent)
        return VERDICT_LABEL_NONE;
    verdict_counts(res, &pos, &neg);
    if (res->upstream == HDR_UPSTREAM_RSPAMD && known)
        spam = cfg_action_listed(c->spam_actions, action);
    else
        spam = res->score >= c->spam_score;
    if (spam && pos >= c->spam_min_positive)
        return VERDICT_LABEL_SPAM;
    if (known && res->has_scores &&
        cfg_action_listed(c->junk_actions, action) &&
        pos >= c->junk_min_positive)
        return VERDICT_LABEL_SPAM;
    if (spam)
        return VERDICT_LABEL_NONE; /* too few positive symbols to be sure */
    if (!verdict_list_empty(c->ham_actions) &&
        !(known && cfg_action_listed(c->ham_actions, action)))
        return VERDICT_LABEL_NONE;
    if (res->score < c->ham_score ||
        (res->has_scores && c->ham_min_negative > 0 &&
         neg >= c->ham_min_negative))
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

/* verdict_score - run the model on the result, if it can be */
static void
verdict_score(struct verdict *v, const struct cfg *c, struct model *m)
{
    const struct feat_profile *prof = model_profile(m);
    size_t n = feat_ninputs(prof);
    float *in;
    double p;

    struct hdr_result kept;

    snprintf(v->model_id, sizeof(v->model_id), "%s", model_id(m));
    /* The network sees the verdict without the ignored symbols; the
     * caller keeps all of them (the example records, the log line). */
    v->ignored = feat_result_ignore(&kept, &v->res, c);
    in = xcalloc(n, sizeof(*in));
    if (feat_vector(prof, &kept, in, n, &v->unknown) == 0 &&
        model_score(m, in, n, &p) == 0 && isfinite(p)) {
        v->scored = 1;
        v->p = p;
        /* the second pass over the symbols only when one is unknown */
        v->known = v->unknown == 0 ? (kept.nsym > 0 ? 1.0 : 0.0)
                                   : feat_known_share(prof, &kept);
        v->adjust = model_map_adjust(m, p, v->res.score, v->known,
                                     c->spam_weight, c->ham_weight);
        /* Print "+0.00", never "-0.00". */
        if (fabs(v->adjust) < 0.005)
            v->adjust = 0;
    }
    free(in);
    free(kept.sym);
}

/* verdict_compute - the whole per-message decision */
void
verdict_compute(struct verdict *v, const struct hdr_seen *seen,
                const struct cfg *c, struct model *m)
{
    memset(v, 0, sizeof(*v));
    hdr_result_init(&v->res);
    v->status = hdr_evaluate(seen, (enum hdr_format)c->upstream_format,
                             (enum hdr_trust)c->upstream_trust, &v->res,
                             v->err, sizeof(v->err));
    if (v->status != HDR_OK) {
        hdr_result_free(&v->res);
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

/* verdict_header - format our header's value */
int
verdict_header(const struct verdict *v, char *buf, size_t len)
{
    char p[16] = "none", score[32] = "none";
    int n;

    if (v->scored)
        snprintf(p, sizeof(p), "%.3f", v->p);
    if (verdict_has_score(v))
        snprintf(score, sizeof(score), "%.2f", v->res.score);
    n = snprintf(buf, len,
                 "%+.2f; p=%s; model=%s; upstream=%s; score=%s; learn=%s",
                 v->adjust, p, v->model_id[0] ? v->model_id : "none",
                 hdr_upstream_name(v->res.upstream), score,
                 verdict_label_name(v->learned));
    return n < 0 || (size_t)n >= len ? -1 : 0;
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
