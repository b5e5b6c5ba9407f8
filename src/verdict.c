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

/* verdict_label_of - the autolearn rule */
enum verdict_label
verdict_label_of(const struct hdr_result *res, const struct cfg *c)
{
    if (!hdr_upstream_usable(res->upstream))
        return VERDICT_LABEL_NONE;
    /* A result whose parts disagree may be forged or edited: never
     * teach the network from it. */
    if (res->inconsistent)
        return VERDICT_LABEL_NONE;
    if (res->upstream == HDR_UPSTREAM_RSPAMD &&
        res->action != HDR_ACTION_UNKNOWN) {
        if (cfg_is_spam_action(c, hdr_action_name(res->action)))
            return VERDICT_LABEL_SPAM;
    } else if (res->score >= c->spam_score) {
        return VERDICT_LABEL_SPAM;
    }
    if (res->score < c->ham_score)
        return VERDICT_LABEL_HAM;
    return VERDICT_LABEL_NONE;
}

/* verdict_score - run the model on the result, if it can be: the
 * non-zero inputs only, on the shared net (no copy, no lock, no
 * allocation) */
static void
verdict_score(struct verdict *v, const struct cfg *c, struct model *m)
{
    struct feat_pair x[FEAT_PAIRS_MAX];
    size_t n;
    double p;

    snprintf(v->model_id, sizeof(v->model_id), "%s", model_id(m));
    /* the parsers keep at most HDR_MAX_SYMBOLS: x is large enough */
    if (feat_sparse(model_profile(m), &v->res, x, sizeof(x) / sizeof(x[0]),
                    &n, &v->unknown) == 0 &&
        model_score_sparse(m, x, n, &p) == 0 && isfinite(p)) {
        v->scored = 1;
        v->p = p;
        v->adjust = model_adjust(m, p, c->spam_weight, c->ham_weight);
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
