/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model_map - from the network's p (and the upstream's score) to the
 * score adjustment: the fitted mapping (model.h, struct model_map), its
 * fit on held-back examples at training, and the guard that shrinks the
 * adjustment for messages the network has seen little of. Pure: no
 * logging, no I/O; any thread. Part of the model module; needs no fann.
 */
#include "config.h"
#include "model_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xmalloc.h"

#define MODEL_MAP_PMIN 1e-4      /* logit(p) stays within +-9.2 */
#define MODEL_MAP_NLEVEL 64      /* levels tried per pull and slope */
/* The fit's objective weighs the ROC's area up to this false positive
 * rate as much as the whole area: sites act on the top of the ham, and
 * on the whole area alone the fit spent the network's separation where
 * no threshold is set (Rspamd, fixed split: 83.0% of spam at 1% false
 * positives, 85.0% so; temporal split AUC 0.9727 -> 0.9735). */
#define MODEL_MAP_PAUC_FPR 0.1
/* Held-back ham below which their quantiles cannot place the sure point
 * (the 0.995 one needs 200) and the caller's sure_min bounds it. */
#define MODEL_MAP_SURE_HAM 200

/* The candidates, in the order ties are settled: the first of equals
 * wins. sure: quantiles of the held-back ham outputs, so that at most
 * 0.5% .. 5% of the held-back ham may be pushed up; pull and slope from
 * the least change up. */
static const double model_map_sure_q[] = { 0.995, 0.99, 0.98, 0.95 };
static const double model_map_pulls[] = { 0, 0.25, 0.5, 0.75, 1 };
static const double model_map_slopes[] = { 0.5, 0.75, 1, 1.5, 2, 3, 5 };

#define MODEL_MAP_N(a) (sizeof(a) / sizeof((a)[0]))

/* model_map_logit - log-odds of p, p kept off 0 and 1 */
static double
model_map_logit(double p)
{
    if (p < MODEL_MAP_PMIN)
        p = MODEL_MAP_PMIN;
    if (p > 1 - MODEL_MAP_PMIN)
        p = 1 - MODEL_MAP_PMIN;
    return log(p / (1 - p));
}

/* model_map_clamp - into [lo, hi] */
static double
model_map_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* model_map_apply - the formula of struct model_map */
double
model_map_apply(const struct model_map *mp, double p, double upstream,
                double spam_weight, double ham_weight)
{
    double a;

    if (isnan(p) || !isfinite(upstream))
        return 0;
    a = mp->level + mp->slope * model_map_logit(p) - mp->pull * upstream;
    /* sure of spam: the network may only raise the score; not sure: only
     * lower it (so a spam the upstream rejects is never pulled below) */
    if (p >= mp->sure ? a < 0 : a > 0)
        a = 0;
    return model_map_clamp(a, ham_weight, spam_weight);
}

/* model_map_adjust - the mapping, then the guard */
double
model_map_adjust(const struct model *m, double p, double upstream,
                 double known, double spam_weight, double ham_weight)
{
    const struct model_map *mp = &m->meta.map;
    double a;

    /* no known symbol (or NaN): the network has seen nothing of it */
    if (isnan(p) || !(known > 0))
        return 0;
    if (known > 1)
        known = 1;
    if (mp->kind == MODEL_MAP_FIT)
        a = model_map_apply(mp, p, upstream, spam_weight, ham_weight);
    else
        a = model_adjust(m, p, spam_weight, ham_weight);
    return a * known;
}

/* model_map_dbl_cmp - ascending doubles for qsort */
static int
model_map_dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* model_map_quantile - the q-quantile of sorted v[0..n), nearest rank */
static double
model_map_quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)floor(q * (double)(n - 1) + 0.5);

    return v[i < n ? i : n - 1];
}

/* The rows of one fit, and its thresholds with their upstream counts. */
struct model_map_rows {
    size_t n;
    double *p, *u, *c;         /* outputs, upstream, upstream + adjust */
    size_t *idx;               /* n, for sorting c */
    unsigned char *lab;
    size_t nthr;
    struct model_map_thr thr[MODEL_MAP_MAX_THR];
};

/* model_map_count - ham and spam of score s at or above t */
static void
model_map_count(const struct model_map_rows *r, const double *s, double t,
                uint32_t *fp, uint32_t *tp)
{
    *fp = *tp = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!(s[i] >= t))
            continue;
        if (r->lab[i])
            (*tp)++;
        else
            (*fp)++;
    }
}

/* model_map_desc_cmp - indices by score, highest first */
static int
model_map_desc_cmp(const void *a, const void *b, void *arg)
{
    const double *s = arg;
    double x = s[*(const size_t *)a], y = s[*(const size_t *)b];

    return (x < y) - (x > y);
}

/* model_map_pauc - the share of spam scored over each of the top
 * max_fpr of the ham (ties count half), averaged over those ham: the
 * ROC's area up to that false positive rate, scaled to [0, 1] */
static double
model_map_pauc(const struct model_map_rows *r, const double *s,
               double max_fpr)
{
    size_t *idx = r->idx;
    size_t ns = 0, nh, want, seen = 0, above = 0;
    double sum = 0;

    for (size_t i = 0; i < r->n; i++) {
        idx[i] = i;
        ns += r->lab[i];
    }
    nh = r->n - ns;
    if (ns == 0 || nh == 0)
        return 0.5;
    want = (size_t)ceil(max_fpr * (double)nh);
    qsort_r(idx, r->n, sizeof(*idx), model_map_desc_cmp, (void *)s);
    for (size_t i = 0; i < r->n && seen < want;) {
        size_t j = i, ts = 0, th = 0;

        for (; j < r->n && s[idx[j]] == s[idx[i]]; j++)
            *(r->lab[idx[j]] ? &ts : &th) += 1;
        for (size_t k = 0; k < th && seen < want; k++, seen++)
            sum += (double)above + (double)ts / 2;
        above += ts;
        i = j;
    }
    return sum / ((double)want * (double)ns);
}

/* model_map_try - score candidate mp on the rows: -1 when it puts more
 * ham at or above a threshold than the upstream, else the mean of its
 * AUC and its area up to MODEL_MAP_PAUC_FPR, in units of 1e-4, and the
 * spam it gets to the thresholds in *tp */
static long
model_map_try(struct model_map_rows *r, const struct model_map *mp,
              double spam_weight, double ham_weight, uint32_t *tp)
{
    double auc, pauc;

    *tp = 0;
    for (size_t i = 0; i < r->n; i++)
        r->c[i] = r->u[i] + model_map_apply(mp, r->p[i], r->u[i],
                                            spam_weight, ham_weight);
    for (size_t k = 0; k < r->nthr; k++) {
        uint32_t fp, t;

        model_map_count(r, r->c, r->thr[k].at, &fp, &t);
        if (fp > r->thr[k].fp_up)
            return -1;
        *tp += t;
    }
    auc = util_auc(r->c, r->lab, r->n);
    pauc = model_map_pauc(r, r->c, MODEL_MAP_PAUC_FPR);
    return lround((auc + pauc) / 2 * 1e4);
}

/* model_map_rows_new - at most MODEL_MAP_MAX_ROWS finite rows, every
 * stride-th (the caller's order is deterministic), and the thresholds */
static void
model_map_rows_new(struct model_map_rows *r, const double *p, const double *u,
                   const unsigned char *spam, size_t n,
                   const double *thresholds, size_t nthr)
{
    size_t stride = n > MODEL_MAP_MAX_ROWS
                        ? (n + MODEL_MAP_MAX_ROWS - 1) / MODEL_MAP_MAX_ROWS
                        : 1;

    memset(r, 0, sizeof(*r));
    r->p = xreallocarray(NULL, n + 1, sizeof(*r->p));
    r->u = xreallocarray(NULL, n + 1, sizeof(*r->u));
    r->c = xreallocarray(NULL, n + 1, sizeof(*r->c));
    r->lab = xreallocarray(NULL, n + 1, 1);
    r->idx = xreallocarray(NULL, n + 1, sizeof(*r->idx));
    for (size_t i = 0; i < n; i += stride) {
        if (!isfinite(p[i]) || !isfinite(u[i]))
            continue;
        r->p[r->n] = p[i];
        r->u[r->n] = u[i];
        r->lab[r->n++] = spam[i] != 0;
    }
    for (size_t k = 0; k < nthr && r->nthr < MODEL_MAP_MAX_THR; k++) {
        int dup = !isfinite(thresholds[k]);

        for (size_t j = 0; j < r->nthr && !dup; j++)
            dup = r->thr[j].at == thresholds[k];
        if (dup)
            continue;
        r->thr[r->nthr].at = thresholds[k];
        model_map_count(r, r->u, thresholds[k], &r->thr[r->nthr].fp_up,
                        &r->thr[r->nthr].tp_up);
        r->nthr++;
    }
}

/* model_map_rows_free - release the rows */
static void
model_map_rows_free(struct model_map_rows *r)
{
    free(r->p);
    free(r->u);
    free(r->c);
    free(r->lab);
    free(r->idx);
}

/* model_map_search - the grid; returns 0 with the best in *best */
static int
model_map_search(struct model_map_rows *r, double spam_weight,
                 double ham_weight, double sure_min, struct model_map *best)
{
    double *v = xreallocarray(NULL, r->n + 1, sizeof(*v));
    double lo, hi, last_sure = -1, floor_sure = 0.5;
    size_t nh = 0;
    long best_auc = -1;
    uint32_t best_tp = 0;

    for (size_t i = 0; i < r->n; i++)
        v[i] = r->u[i];
    qsort(v, r->n, sizeof(*v), model_map_dbl_cmp);
    /* levels over the upstream's range and the weights around it */
    lo = fmin(ham_weight, model_map_quantile(v, r->n, 0.05)) - 2;
    hi = fmax(spam_weight, model_map_quantile(v, r->n, 0.95)) + 2;
    for (size_t i = 0; i < r->n; i++)
        if (!r->lab[i])
            v[nh++] = r->p[i];
    qsort(v, nh, sizeof(*v), model_map_dbl_cmp);
    if (nh < MODEL_MAP_SURE_HAM && sure_min > floor_sure)
        floor_sure = fmin(sure_min, 1);

    for (size_t qi = 0; qi < MODEL_MAP_N(model_map_sure_q); qi++) {
        struct model_map mp = { .kind = MODEL_MAP_FIT };

        mp.sure = fmax(floor_sure,
                       model_map_quantile(v, nh, model_map_sure_q[qi]));
        if (mp.sure == last_sure)
            continue; /* the same candidates again */
        last_sure = mp.sure;
        for (size_t pi = 0; pi < MODEL_MAP_N(model_map_pulls); pi++) {
            mp.pull = model_map_pulls[pi];
            for (size_t si = 0; si < MODEL_MAP_N(model_map_slopes); si++) {
                mp.slope = model_map_slopes[si];
                for (int li = 0; li < MODEL_MAP_NLEVEL; li++) {
                    uint32_t tp;
                    long auc;

                    mp.level = lo + (hi - lo) * li / (MODEL_MAP_NLEVEL - 1);
                    auc = model_map_try(r, &mp, spam_weight, ham_weight, &tp);
                    if (auc > best_auc || (auc == best_auc && auc >= 0 &&
                                           tp > best_tp)) {
                        best_auc = auc;
                        best_tp = tp;
                        *best = mp;
                    }
                }
            }
        }
    }
    free(v);
    return best_auc >= 0 ? 0 : -1;
}

/* model_map_fit - the grid search of model.h */
int
model_map_fit(const double *p, const double *u, const unsigned char *spam,
              size_t n, const double *thresholds, size_t nthr,
              double sure_min, double spam_weight, double ham_weight,
              struct model_map *out)
{
    struct model_map_rows r;
    struct model_map best;
    size_t ns = 0;
    uint32_t tp;
    int rc = -1;

    memset(out, 0, sizeof(*out));
    out->kind = MODEL_MAP_RAMP;
    if (n == 0 || p == NULL || u == NULL || spam == NULL)
        return -1;
    model_map_rows_new(&r, p, u, spam, n, thresholds, nthr);
    for (size_t i = 0; i < r.n; i++)
        ns += r.lab[i];
    out->n_spam = (uint32_t)ns;
    out->n_ham = (uint32_t)(r.n - ns);
    if (ns < MODEL_MAP_MIN_CLASS || r.n - ns < MODEL_MAP_MIN_CLASS ||
        model_map_search(&r, spam_weight, ham_weight, sure_min, &best) != 0)
        goto out;
    best.spam_weight = spam_weight;
    best.ham_weight = ham_weight;
    best.n_spam = out->n_spam;
    best.n_ham = out->n_ham;
    best.auc_up = util_auc(r.u, r.lab, r.n);
    (void)model_map_try(&r, &best, spam_weight, ham_weight, &tp); /* r.c */
    best.auc_adj = util_auc(r.c, r.lab, r.n);
    best.nthr = (uint32_t)r.nthr;
    for (size_t k = 0; k < r.nthr; k++) {
        best.thr[k] = r.thr[k];
        model_map_count(&r, r.c, r.thr[k].at, &best.thr[k].fp_adj,
                        &best.thr[k].tp_adj);
    }
    *out = best;
    rc = 0;
out:
    model_map_rows_free(&r);
    return rc;
}

/* model_map_describe - the mapping in one line */
const char *
model_map_describe(const struct model_map *mp, char *buf, size_t len)
{
    size_t used;

    if (mp->kind != MODEL_MAP_FIT) {
        snprintf(buf, len, "threshold ramps (no fitted mapping: %u spam + "
                 "%u ham explicit verdicts held back)", mp->n_spam,
                 mp->n_ham);
        return buf;
    }
    used = (size_t)snprintf(buf, len, "%.2f + %.2f * logit(p) - %.2f * "
                            "upstream, upward only at p >= %.4f; fitted on "
                            "%u spam + %u ham held back: AUC %.4f (upstream "
                            "alone) -> %.4f", mp->level, mp->slope, mp->pull,
                            mp->sure, mp->n_spam, mp->n_ham, mp->auc_up,
                            mp->auc_adj);
    for (uint32_t k = 0; k < mp->nthr && used < len; k++)
        used += (size_t)snprintf(buf + used, len - used, "; at %.2f: ham "
                                 "%u -> %u, spam %u -> %u", mp->thr[k].at,
                                 mp->thr[k].fp_up, mp->thr[k].fp_adj,
                                 mp->thr[k].tp_up, mp->thr[k].tp_adj);
    return buf;
}
