/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * eval - accuracy figures for a labelled test set scored through the
 * project's own path: ROC AUC, the share of spam caught at 1% and 0.1%
 * false positives, and false positive / negative counts at a threshold,
 * for the upstream score alone, the network alone and upstream plus the
 * adjustment, overall and per corpus group; and a ROC plot as SVG.
 * Pure apart from writing the report to a FILE; single-threaded.
 */
#ifndef NM_EVAL_H
#define NM_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define EVAL_GROUP_MAX 48

/* One scored test message. */
struct eval_item {
    int spam;                    /* the true label */
    char group[EVAL_GROUP_MAX];  /* e.g. "hard-ham-1"; "" = none */
    int has_upstream;            /* the scanner's header was usable */
    double upstream;             /* its total (0 without) */
    double required;             /* its threshold */
    int has_p;                   /* the network scored it */
    double p;
    double adjust;
};

enum eval_scorer { EVAL_UPSTREAM, EVAL_NETWORK, EVAL_COMBINED };
#define EVAL_NSCORERS 3

/* Figures of one scorer over a set. */
struct eval_figures {
    size_t n, nspam, nham;
    double auc;          /* 0.5 when a class is empty */
    double tpr_1;        /* spam share caught at 1% false positives */
    double tpr_01;       /* ... at 0.1% */
    long fp, fn;         /* at the decision threshold */
};

/*
 * eval_figures - figures of scorer over the items whose group is group
 * (NULL = all). The decision threshold is the upstream's required score
 * for EVAL_UPSTREAM and EVAL_COMBINED, spam_threshold for the network.
 */
void eval_figures(const struct eval_item *it, size_t n, const char *group,
                  enum eval_scorer scorer, double spam_threshold,
                  struct eval_figures *out);

/* eval_report - the whole report as text (overall, then per group). */
void eval_report(FILE *out, const char *title, const struct eval_item *it,
                 size_t n, double spam_threshold);

/* What a site acting on one upstream threshold sees: the ham (false
 * positives) and the spam at or above it, upstream alone and upstream +
 * adjustment. */
#define EVAL_MAX_THRESHOLDS 8
struct eval_at {
    double at;
    size_t nham, nspam;
    long fp_up, fp_adj, tp_up, tp_adj;
};

/* eval_at - the counts at threshold t over the items of group (NULL =
 * all); an item without an upstream verdict is never at or above it. */
void eval_at(const struct eval_item *it, size_t n, const char *group,
             double t, struct eval_at *out);

/* eval_report_thresholds - at each of thr[0..nthr): false positives and
 * spam caught, upstream alone -> upstream + adjust, overall and per
 * group, as lines "  at T: FP a -> b of H ham; spam caught x% -> y% (c ->
 * d of S)". */
void eval_report_thresholds(FILE *out, const struct eval_item *it, size_t n,
                            const double *thr, size_t nthr);

/* eval_roc_svg - ROC curves of the three scorers; 0 or -1 (errno). */
int eval_roc_svg(const char *path, const char *title,
                 const struct eval_item *it, size_t n)
    __attribute__((warn_unused_result));

/*
 * The label sources, simulated on a labelled training set (`eval
 * --reports R --replies Q`). One training message: its true label, the
 * label autolearn gives it (-1 none), whether the scanner got it wrong
 * (spam under its threshold, ham at or over it), and an order (a hash
 * of its name) that makes the draws reproducible.
 */
struct eval_train_msg {
    int spam;
    int auto_label;       /* -1, 0 ham, 1 spam */
    int mistake;
    uint64_t order;
};

/* Where a simulated example's label came from (as enum example_source:
 * 0 autolearn, 2 report, 3 reply). */
#define EVAL_SRC_NONE (-1)

/*
 * eval_sources_pick - the examples the sources give: autolearn's label
 * for each message it labels; replies to a share replies of the ham
 * (ham, explicit); and reports of a share reports of all messages,
 * drawn first from the scanner's mistakes, then (a share beyond them)
 * from the others, each reported with its true label. A report replaces
 * a reply, a reply autolearn, as keyed examples do. label[i] gets -1
 * (no example), 0 or 1, src[i] the source (EVAL_SRC_NONE, 0, 2, 3).
 * Pure; allocates a scratch index.
 */
void eval_sources_pick(const struct eval_train_msg *m, size_t n,
                       double reports, double replies, int *label, int *src);

/* One point of the learning curve: a share of reports and the figures
 * of the three scorers on the test split. */
struct eval_curve_pt {
    double reports;
    int trained;         /* 0: no network was published for this point */
    struct eval_figures f[EVAL_NSCORERS];
};

/* eval_curve_report - the curve as a table. eval_curve_svg - spam
 * caught at 1% false positives against the share of reports, for the
 * three scorers; 0 or -1 (errno). */
void eval_curve_report(FILE *out, const char *title,
                       const struct eval_curve_pt *pt, size_t n);
int eval_curve_svg(const char *path, const char *title,
                   const struct eval_curve_pt *pt, size_t n)
    __attribute__((warn_unused_result));

#endif /* NM_EVAL_H */
