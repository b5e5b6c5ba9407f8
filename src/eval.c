/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eval - ranking and threshold figures. A message the scorer cannot
 * score (no upstream header, no network output) gets the lowest score:
 * it is never caught, and counts as a miss, not as a skip, so the figures
 * of the three scorers cover the same messages.
 */
#include "config.h"
#include "eval.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "xmalloc.h"

#define EVAL_FLOOR (-1e9)

/* eval_score - what scorer says of one item */
static double
eval_score(const struct eval_item *it, enum eval_scorer scorer)
{
    switch (scorer) {
    case EVAL_UPSTREAM:
        return it->has_upstream ? it->upstream : EVAL_FLOOR;
    case EVAL_NETWORK:
        return it->has_p ? it->p : EVAL_FLOOR;
    default:
        return it->has_upstream ? it->upstream + it->adjust : EVAL_FLOOR;
    }
}

/* eval_dbl_desc - sort scores high to low */
static int
eval_dbl_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x < y) - (x > y);
}

/* eval_tpr_at - spam share scored above the ham score that lets at most
 * rate * nham false positives through (strictly above: ties are lost) */
static double
eval_tpr_at(const double *spam, size_t ns, const double *ham_desc, size_t nh,
            double rate)
{
    size_t k = (size_t)floor(rate * (double)nh), caught = 0;
    double thr;

    if (ns == 0 || nh == 0)
        return 0;
    thr = k < nh ? ham_desc[k] : EVAL_FLOOR;
    for (size_t i = 0; i < ns; i++)
        caught += spam[i] > thr;
    return (double)caught / (double)ns;
}

/* eval_figures - one scorer over one group */
void
eval_figures(const struct eval_item *it, size_t n, const char *group,
             enum eval_scorer scorer, double spam_threshold,
             struct eval_figures *out)
{
    double *score = xreallocarray(NULL, n + 1, sizeof(*score));
    unsigned char *label = xreallocarray(NULL, n + 1, 1);
    double *spam = xreallocarray(NULL, n + 1, sizeof(*spam));
    double *ham = xreallocarray(NULL, n + 1, sizeof(*ham));
    size_t m = 0;

    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        double s, thr;
        int flagged;

        if (group != NULL && strcmp(it[i].group, group) != 0)
            continue;
        s = eval_score(&it[i], scorer);
        thr = scorer == EVAL_NETWORK ? spam_threshold : it[i].required;
        flagged = s > EVAL_FLOOR && s >= thr;
        score[m] = s;
        label[m++] = (unsigned char)it[i].spam;
        if (it[i].spam) {
            spam[out->nspam++] = s;
            out->fn += !flagged;
        } else {
            ham[out->nham++] = s;
            out->fp += flagged;
        }
    }
    out->n = m;
    out->auc = util_auc(score, label, m);
    qsort(ham, out->nham, sizeof(*ham), eval_dbl_desc);
    out->tpr_1 = eval_tpr_at(spam, out->nspam, ham, out->nham, 0.01);
    out->tpr_01 = eval_tpr_at(spam, out->nspam, ham, out->nham, 0.001);
    free(score);
    free(label);
    free(spam);
    free(ham);
}

static const char *const eval_names[EVAL_NSCORERS] = {
    "upstream alone", "network alone", "upstream + adjust"
};

/* eval_report_set - the table of one set (all, or one group) */
static void
eval_report_set(FILE *out, const struct eval_item *it, size_t n,
                const char *group, double spam_threshold)
{
    struct eval_figures f[EVAL_NSCORERS];

    for (int s = 0; s < EVAL_NSCORERS; s++)
        eval_figures(it, n, group, (enum eval_scorer)s, spam_threshold,
                     &f[s]);
    fprintf(out, "%s: %zu messages (%zu spam, %zu ham)\n",
            group ? group : "all", f[0].n, f[0].nspam, f[0].nham);
    fprintf(out, "  %-18s %7s %9s %10s %6s %6s\n", "", "AUC",
            "TPR@1%FP", "TPR@0.1%FP", "FP", "FN");
    for (int s = 0; s < EVAL_NSCORERS; s++) {
        if (f[s].nspam > 0 && f[s].nham > 0)
            fprintf(out, "  %-18s %7.4f %8.1f%% %9.1f%% %6ld %6ld\n",
                    eval_names[s], f[s].auc, 100 * f[s].tpr_1,
                    100 * f[s].tpr_01, f[s].fp, f[s].fn);
        else
            fprintf(out, "  %-18s %7s %9s %10s %6ld %6ld\n", eval_names[s],
                    "-", "-", "-", f[s].fp, f[s].fn);
    }
}

/* eval_report - overall, then each group in order of appearance */
void
eval_report(FILE *out, const char *title, const struct eval_item *it,
            size_t n, double spam_threshold)
{
    const char **groups = xreallocarray(NULL, n + 1, sizeof(*groups));
    size_t ng = 0, nscored = 0, nup = 0;

    for (size_t i = 0; i < n; i++) {
        size_t g;

        nscored += it[i].has_p != 0;
        nup += it[i].has_upstream != 0;
        if (it[i].group[0] == '\0')
            continue;
        for (g = 0; g < ng && strcmp(groups[g], it[i].group) != 0; g++)
            ;
        if (g == ng)
            groups[ng++] = it[i].group;
    }
    fprintf(out, "== %s\n", title);
    fprintf(out, "scored by the network: %zu of %zu; with an upstream "
            "verdict: %zu\n", nscored, n, nup);
    fprintf(out, "FP/FN: upstream and upstream + adjust at the upstream's "
            "required score; network alone at its spam threshold %.4f\n",
            spam_threshold);
    eval_report_set(out, it, n, NULL, spam_threshold);
    for (size_t g = 0; g < ng; g++)
        eval_report_set(out, it, n, groups[g], spam_threshold);
    free(groups);
}

/* eval_at - one threshold, one group */
void
eval_at(const struct eval_item *it, size_t n, const char *group, double t,
        struct eval_at *out)
{
    memset(out, 0, sizeof(*out));
    out->at = t;
    for (size_t i = 0; i < n; i++) {
        int up, adj;

        if (group != NULL && strcmp(it[i].group, group) != 0)
            continue;
        up = it[i].has_upstream && it[i].upstream >= t;
        adj = it[i].has_upstream && it[i].upstream + it[i].adjust >= t;
        if (it[i].spam) {
            out->nspam++;
            out->tp_up += up;
            out->tp_adj += adj;
        } else {
            out->nham++;
            out->fp_up += up;
            out->fp_adj += adj;
        }
    }
}

/* eval_pct - a share in percent, 0 of nothing */
static double
eval_pct(long k, size_t n)
{
    return n ? 100.0 * (double)k / (double)n : 0;
}

/* eval_at_line - one threshold's line */
static void
eval_at_line(FILE *out, const struct eval_at *a)
{
    fprintf(out, "  at %.2f: FP %ld -> %ld of %zu ham; spam caught %.1f%% "
            "-> %.1f%% (%ld -> %ld of %zu)\n", a->at, a->fp_up, a->fp_adj,
            a->nham, eval_pct(a->tp_up, a->nspam),
            eval_pct(a->tp_adj, a->nspam), a->tp_up, a->tp_adj, a->nspam);
}

/* eval_report_thresholds - every threshold, overall then per group */
void
eval_report_thresholds(FILE *out, const struct eval_item *it, size_t n,
                       const double *thr, size_t nthr)
{
    const char **groups = xreallocarray(NULL, n + 1, sizeof(*groups));
    size_t ng = 0;
    struct eval_at a;

    for (size_t i = 0; i < n; i++) {
        size_t g;

        if (it[i].group[0] == '\0')
            continue;
        for (g = 0; g < ng && strcmp(groups[g], it[i].group) != 0; g++)
            ;
        if (g == ng)
            groups[ng++] = it[i].group;
    }
    fprintf(out, "thresholds: upstream alone -> upstream + adjust\n");
    fprintf(out, "all:\n");
    for (size_t k = 0; k < nthr; k++) {
        eval_at(it, n, NULL, thr[k], &a);
        eval_at_line(out, &a);
    }
    for (size_t g = 0; g < ng; g++) {
        fprintf(out, "%s:\n", groups[g]);
        for (size_t k = 0; k < nthr; k++) {
            eval_at(it, n, groups[g], thr[k], &a);
            eval_at_line(out, &a);
        }
    }
    free(groups);
}

struct eval_pt {
    double s;
    int spam;
};

/* eval_pt_desc - by score, high to low */
static int
eval_pt_desc(const void *a, const void *b)
{
    double x = ((const struct eval_pt *)a)->s, y = ((const struct eval_pt *)b)->s;

    return (x < y) - (x > y);
}

/* eval_roc_svg - three polylines on a unit square */
int
eval_roc_svg(const char *path, const char *title, const struct eval_item *it,
             size_t n)
{
    static const char *const colour[EVAL_NSCORERS] = { "#888888", "#1f77b4",
                                                       "#d62728" };
    struct eval_pt *pt = xreallocarray(NULL, n + 1, sizeof(*pt));
    FILE *f = fopen(path, "w");
    size_t ns = 0, nh = 0;

    if (f == NULL) {
        free(pt);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        ns += it[i].spam != 0;
        nh += it[i].spam == 0;
    }
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"520\" "
            "height=\"560\" font-family=\"sans-serif\" font-size=\"13\">\n"
            "<rect width=\"520\" height=\"560\" fill=\"white\"/>\n"
            "<text x=\"260\" y=\"24\" text-anchor=\"middle\">%s</text>\n"
            "<rect x=\"60\" y=\"40\" width=\"420\" height=\"420\" "
            "fill=\"none\" stroke=\"black\"/>\n"
            "<text x=\"270\" y=\"485\" text-anchor=\"middle\">false positive "
            "rate</text>\n<text x=\"20\" y=\"250\" transform=\"rotate(-90 20 "
            "250)\" text-anchor=\"middle\">spam caught</text>\n", title);
    for (int s = 0; s < EVAL_NSCORERS && ns > 0 && nh > 0; s++) {
        struct eval_figures fig;
        double tp = 0, fp = 0;

        for (size_t i = 0; i < n; i++) {
            pt[i].s = eval_score(&it[i], (enum eval_scorer)s);
            pt[i].spam = it[i].spam;
        }
        qsort(pt, n, sizeof(*pt), eval_pt_desc);
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
                "points=\"60,460", colour[s]);
        for (size_t i = 0; i < n; i++) {
            if (pt[i].spam)
                tp++;
            else
                fp++;
            if (i + 1 < n && pt[i + 1].s == pt[i].s)
                continue; /* one point per distinct score */
            fprintf(f, " %.1f,%.1f", 60 + 420 * fp / (double)nh,
                    460 - 420 * tp / (double)ns);
        }
        fprintf(f, "\"/>\n");
        eval_figures(it, n, NULL, (enum eval_scorer)s, 0.5, &fig);
        fprintf(f, "<text x=\"300\" y=\"%d\" fill=\"%s\">%s: AUC %.4f"
                "</text>\n", 500 + 18 * s, colour[s], eval_names[s],
                fig.auc);
    }
    fprintf(f, "</svg>\n");
    free(pt);
    return fclose(f) == 0 ? 0 : -1;
}

/* eval_order_cmp - by order, then index, for a stable draw */
static int
eval_order_cmp(const void *a, const void *b, void *arg)
{
    const struct eval_train_msg *m = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    if (m[x].order != m[y].order)
        return m[x].order < m[y].order ? -1 : 1;
    return (x > y) - (x < y);
}

/* eval_sources_pick - autolearn, then replies, then reports */
void
eval_sources_pick(const struct eval_train_msg *m, size_t n, double reports,
                  double replies, int *label, int *src)
{
    size_t *idx = xreallocarray(NULL, n + 1, sizeof(*idx));
    size_t nham = 0, want, done;

    for (size_t i = 0; i < n; i++) {
        label[i] = m[i].auto_label;
        src[i] = m[i].auto_label >= 0 ? 0 : EVAL_SRC_NONE;
        nham += !m[i].spam;
        idx[i] = i;
    }
    qsort_r(idx, n, sizeof(*idx), eval_order_cmp, (void *)m);
    /* replies: the first share of the ham in draw order */
    want = (size_t)llround(replies * (double)nham);
    for (size_t k = 0, done2 = 0; k < n && done2 < want; k++) {
        size_t i = idx[k];

        if (m[i].spam)
            continue;
        label[i] = 0;
        src[i] = 3;
        done2++;
    }
    /* reports: the mistakes first, then the others, drawn from the other
     * end of the order than replies, so the two are not the same ham by
     * construction */
    want = (size_t)llround(reports * (double)n);
    done = 0;
    for (int pass = 0; pass < 2 && done < want; pass++)
        for (size_t k = 0; k < n && done < want; k++) {
            size_t i = idx[n - 1 - k];

            if (m[i].mistake != (pass == 0) || src[i] == 2)
                continue;
            label[i] = m[i].spam;
            src[i] = 2;
            done++;
        }
    free(idx);
}

/* eval_curve_report - one row per share of reports */
void
eval_curve_report(FILE *out, const char *title, const struct eval_curve_pt *pt,
                  size_t n)
{
    fprintf(out, "== learning curve: %s\n", title);
    fprintf(out, "%8s | %-23s | %-23s | %s\n", "reports",
            "upstream + adjust", "network alone", "FP / FN at the "
            "upstream's threshold");
    fprintf(out, "%8s | %7s %15s | %7s %15s | %s\n", "", "AUC",
            "TPR@1%FP", "AUC", "TPR@1%FP", "upstream+adjust (upstream)");
    for (size_t i = 0; i < n; i++) {
        const struct eval_figures *f = pt[i].f;

        if (!pt[i].trained) {
            fprintf(out, "%7.1f%% | no network published (see above)\n",
                    100 * pt[i].reports);
            continue;
        }
        fprintf(out, "%7.1f%% | %7.4f %14.1f%% | %7.4f %14.1f%% | "
                "%ld / %ld (%ld / %ld)\n", 100 * pt[i].reports,
                f[EVAL_COMBINED].auc, 100 * f[EVAL_COMBINED].tpr_1,
                f[EVAL_NETWORK].auc, 100 * f[EVAL_NETWORK].tpr_1,
                f[EVAL_COMBINED].fp, f[EVAL_COMBINED].fn,
                f[EVAL_UPSTREAM].fp, f[EVAL_UPSTREAM].fn);
    }
    for (size_t i = 0; i < n; i++)
        if (pt[i].trained) {
            fprintf(out, "upstream alone: AUC %.4f, TPR@1%%FP %.1f%%\n",
                    pt[i].f[EVAL_UPSTREAM].auc,
                    100 * pt[i].f[EVAL_UPSTREAM].tpr_1);
            break;
        }
}

/* eval_curve_svg - TPR at 1% FP per point, the points evenly spaced */
int
eval_curve_svg(const char *path, const char *title,
               const struct eval_curve_pt *pt, size_t n)
{
    static const char *const colour[EVAL_NSCORERS] = { "#888888", "#1f77b4",
                                                       "#d62728" };
    FILE *f = fopen(path, "w");

    if (f == NULL)
        return -1;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\" "
            "height=\"520\" font-family=\"sans-serif\" font-size=\"13\">\n"
            "<rect width=\"560\" height=\"520\" fill=\"white\"/>\n"
            "<text x=\"280\" y=\"24\" text-anchor=\"middle\">%s</text>\n"
            "<rect x=\"60\" y=\"40\" width=\"460\" height=\"380\" "
            "fill=\"none\" stroke=\"black\"/>\n"
            "<text x=\"290\" y=\"455\" text-anchor=\"middle\">share of "
            "training messages reported</text>\n"
            "<text x=\"20\" y=\"230\" transform=\"rotate(-90 20 230)\" "
            "text-anchor=\"middle\">spam caught at 1%% false positives"
            "</text>\n", title);
    for (int y = 0; y <= 100; y += 20)
        fprintf(f, "<text x=\"55\" y=\"%.1f\" text-anchor=\"end\">%d%%"
                "</text>\n", 420 - 3.8 * y + 4, y);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "<text x=\"%.1f\" y=\"437\" text-anchor=\"middle\">"
                "%g%%</text>\n", 60 + 460 * ((double)i + 0.5) / (double)n,
                100 * pt[i].reports);
    for (int s = 0; s < EVAL_NSCORERS; s++) {
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" "
                "stroke-width=\"2\" points=\"", colour[s]);
        for (size_t i = 0, k = 0; i < n; i++)
            if (pt[i].trained)
                fprintf(f, "%s%.1f,%.1f", k++ ? " " : "",
                        60 + 460 * ((double)i + 0.5) / (double)n,
                        420 - 380 * pt[i].f[s].tpr_1);
        fprintf(f, "\"/>\n<text x=\"330\" y=\"%d\" fill=\"%s\">%s"
                "</text>\n", 470 + 16 * s, colour[s], eval_names[s]);
    }
    fprintf(f, "</svg>\n");
    return fclose(f) == 0 ? 0 : -1;
}
