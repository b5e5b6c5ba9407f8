/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_verdict - the per-message decision: the training label the
 * upstream's verdict implies, the header value, and scoring through a
 * real (small, fresh) libfann model.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "verdict.h"
#include "xmalloc.h"

struct label_case {
    const char *label;
    enum hdr_upstream up;
    enum hdr_action action;
    double score;
    int inconsistent;
    enum verdict_label want;
};

/* Release 0.1's rule: spam_min_positive = 0, junk_actions and ham_actions
 * empty, ham_min_negative = 0 (results without symbols). */
static const struct label_case legacy_cases[] = {
    { "rspamd reject is spam", HDR_UPSTREAM_RSPAMD, HDR_ACTION_REJECT, 16, 0,
      VERDICT_LABEL_SPAM },
    { "rspamd add header is not spam", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_ADD_HEADER, 7.5, 0, VERDICT_LABEL_NONE },
    { "rspamd negative score is ham", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_NO_ACTION, -0.5, 0, VERDICT_LABEL_HAM },
    { "rspamd score 0 is not ham (below 0 only)", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_NO_ACTION, 0, 0, VERDICT_LABEL_NONE },
    { "rspamd inconsistent reject is never learned", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_REJECT, 20, 1, VERDICT_LABEL_NONE },
    { "rspamd without action, score 15 is spam", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_UNKNOWN, 15, 0, VERDICT_LABEL_SPAM },
    { "rspamd soft reject not in spam_actions", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_SOFT_REJECT, 14, 0, VERDICT_LABEL_NONE },
    { "rspamd greylist with a negative score is ham (any action)",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_GREYLIST, -1, 0, VERDICT_LABEL_HAM },
    { "SpamAssassin 15.0 is spam", HDR_UPSTREAM_SA, HDR_ACTION_ADD_HEADER,
      15.0, 0, VERDICT_LABEL_SPAM },
    { "SpamAssassin 14.9 is neither", HDR_UPSTREAM_SA, HDR_ACTION_ADD_HEADER,
      14.9, 0, VERDICT_LABEL_NONE },
    { "SpamAssassin -0.1 is ham", HDR_UPSTREAM_SA, HDR_ACTION_NO_ACTION, -0.1,
      0, VERDICT_LABEL_HAM },
    { "none is never learned", HDR_UPSTREAM_NONE, HDR_ACTION_UNKNOWN, -5, 0,
      VERDICT_LABEL_NONE },
    { "ambiguous is never learned", HDR_UPSTREAM_AMBIGUOUS,
      HDR_ACTION_UNKNOWN, -5, 0, VERDICT_LABEL_NONE },
};

/* The default rule, with symbols: "pos,neg" symbols of a positive and of
 * a negative score (scores = -1: a header without per-symbol scores of
 * pos symbols). */
struct rule_case {
    const char *label;
    enum hdr_upstream up;
    enum hdr_action action;
    double score;
    int pos, neg, scores;
    enum verdict_label want;
};

static const struct rule_case rule_cases[] = {
    { "reject with 2 positive symbols is spam", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_REJECT, 16, 2, 0, 1, VERDICT_LABEL_SPAM },
    { "reject with 1 positive symbol is not (more than one needed)",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_REJECT, 16, 1, 3, 1,
      VERDICT_LABEL_NONE },
    { "add header with 3 positive symbols is junk: spam",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_ADD_HEADER, 7, 3, 0, 1,
      VERDICT_LABEL_SPAM },
    { "add header with 2 positive symbols is nothing", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_ADD_HEADER, 7, 2, 0, 1, VERDICT_LABEL_NONE },
    { "rewrite subject with 3 positive symbols is junk: spam",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_REWRITE_SUBJECT, 9, 3, 1, 1,
      VERDICT_LABEL_SPAM },
    { "greylist with 5 positive symbols is nothing", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_GREYLIST, 5, 5, 0, 1, VERDICT_LABEL_NONE },
    { "no action, negative score is ham", HDR_UPSTREAM_RSPAMD,
      HDR_ACTION_NO_ACTION, -0.1, 1, 1, 1, VERDICT_LABEL_HAM },
    { "no action, positive score, 4 negative symbols is ham",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_NO_ACTION, 2.5, 6, 4, 1,
      VERDICT_LABEL_HAM },
    { "no action, positive score, 3 negative symbols is nothing",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_NO_ACTION, 2.5, 6, 3, 1,
      VERDICT_LABEL_NONE },
    { "greylist with a negative score is not ham (no action only)",
      HDR_UPSTREAM_RSPAMD, HDR_ACTION_GREYLIST, -1, 0, 2, 1,
      VERDICT_LABEL_NONE },
    { "SpamAssassin 15.0 with 2 tests is spam", HDR_UPSTREAM_SA,
      HDR_ACTION_ADD_HEADER, 15.0, 2, 0, -1, VERDICT_LABEL_SPAM },
    { "SpamAssassin 15.0 with 1 test is not", HDR_UPSTREAM_SA,
      HDR_ACTION_ADD_HEADER, 15.0, 1, 0, -1, VERDICT_LABEL_NONE },
    { "SpamAssassin Yes at 9 with 5 tests: no junk without scores",
      HDR_UPSTREAM_SA, HDR_ACTION_ADD_HEADER, 9.0, 5, 0, -1,
      VERDICT_LABEL_NONE },
    { "SpamAssassin No at -0.1 is ham", HDR_UPSTREAM_SA,
      HDR_ACTION_NO_ACTION, -0.1, 3, 0, -1, VERDICT_LABEL_HAM },
    { "SpamAssassin No at 1.0 with many tests is nothing", HDR_UPSTREAM_SA,
      HDR_ACTION_NO_ACTION, 1.0, 8, 0, -1, VERDICT_LABEL_NONE },
    { "amavis Yes at 7 with 3 positive tests is junk: spam",
      HDR_UPSTREAM_SA, HDR_ACTION_ADD_HEADER, 7.0, 3, 0, 1,
      VERDICT_LABEL_SPAM },
};

/* check_labels - release 0.1's rule, expressed with the new keys */
static void
check_labels(void)
{
    struct cfg *c = cfg_defaults();

    c->spam_min_positive = 0;
    c->junk_actions[0] = '\0';
    c->ham_actions[0] = '\0';
    c->ham_min_negative = 0;
    cfg_derive(c);
    for (size_t i = 0; i < sizeof(legacy_cases) / sizeof(legacy_cases[0]);
         i++) {
        const struct label_case *k = &legacy_cases[i];
        struct hdr_result r;

        hdr_result_init(&r);
        r.upstream = k->up;
        r.action = k->action;
        r.score = k->score;
        r.inconsistent = k->inconsistent;
        is_int(verdict_label_of(&r, c), k->want, "0.1 rule: %s", k->label);
    }
    cfg_release(c);
}

/* check_rule - the default rule over symbol counts, with Rspamd's junk
 * actions (off by default) */
static void
check_rule(void)
{
    struct cfg *c = cfg_defaults();

    free(c->junk_actions);
    c->junk_actions = xstrdup("add header, rewrite subject");
    cfg_derive(c);
    for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
        const struct rule_case *k = &rule_cases[i];
        struct hdr_result r;
        size_t n = (size_t)(k->pos + k->neg);

        hdr_result_init(&r);
        r.upstream = k->up;
        r.action = k->action;
        r.score = k->score;
        r.has_scores = k->scores > 0;
        r.sym = xcalloc(n + 1, sizeof(*r.sym));
        for (size_t j = 0; j < n; j++) {
            snprintf(r.sym[j].name, sizeof(r.sym[j].name), "S%zu", j);
            r.sym[j].score = !r.has_scores ? 0 : (int)j < k->pos ? 1.5
                                                                 : -0.5;
        }
        r.nsym = n;
        is_int(verdict_label_of(&r, c), k->want, "rule: %s", k->label);
        hdr_result_free(&r);
    }
    {
        struct cfg *d = cfg_defaults();
        struct hdr_result r;

        hdr_result_init(&r);
        r.upstream = HDR_UPSTREAM_RSPAMD;
        r.action = HDR_ACTION_ADD_HEADER;
        r.score = 9;
        r.has_scores = 1;
        r.sym = xcalloc(4, sizeof(*r.sym));
        for (size_t j = 0; j < 4; j++) {
            snprintf(r.sym[j].name, sizeof(r.sym[j].name), "P%zu", j);
            r.sym[j].score = 2;
        }
        r.nsym = 4;
        is_int(verdict_label_of(&r, d), VERDICT_LABEL_NONE,
               "default rule: no junk (add header with 4 positive symbols)");
        hdr_result_free(&r);
        cfg_release(d);
    }
    cfg_release(c);
}

/* check_action_sets - cfg's action bits are hdr's actions in order, and
 * cfg_derive()'s sets say what cfg_action_listed() says of the lists */
static void
check_action_sets(void)
{
    static const char *const lists[] = { "", "reject", "no action",
        " Reject ,soft reject", "add header, rewrite subject",
        "greylist,no action, reject", "SOFT REJECT" };
    struct cfg *c = cfg_defaults();
    int bad = 0;

    for (int a = HDR_ACTION_NO_ACTION; a <= HDR_ACTION_REJECT; a++)
        is_int((int)cfg_action_bit(hdr_action_name((enum hdr_action)a)),
               1 << (a - HDR_ACTION_NO_ACTION), "action bit of %s",
               hdr_action_name((enum hdr_action)a));
    is_int((int)cfg_action_bit("unknown"), 0, "no bit for an unknown one");
    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        free(c->spam_actions);
        free(c->junk_actions);
        free(c->ham_actions);
        c->spam_actions = xstrdup(lists[i]);
        c->junk_actions = xstrdup(lists[(i + 1) % 7]);
        c->ham_actions = xstrdup(lists[(i + 2) % 7]);
        cfg_derive(c);
        for (int a = HDR_ACTION_NO_ACTION; a <= HDR_ACTION_REJECT; a++) {
            const char *n = hdr_action_name((enum hdr_action)a);
            unsigned bit = 1u << (a - HDR_ACTION_NO_ACTION);

            bad += ((c->spam_action_set & bit) != 0) !=
                       cfg_action_listed(c->spam_actions, n) ||
                   ((c->junk_action_set & bit) != 0) !=
                       cfg_action_listed(c->junk_actions, n) ||
                   ((c->ham_action_set & bit) != 0) !=
                       cfg_action_listed(c->ham_actions, n);
        }
    }
    is_int(bad, 0, "the action sets hold what the lists list");
    cfg_release(c);
}

/* check_queue_id - require_queue_id over X-Rspamd-Queue-Id copies */
static void
check_queue_id(const struct cfg *c)
{
    static const struct {
        const char *label;
        const char *h1, *h2, *qid;
        enum verdict_qid want;
    } cases[] = {
        { "equal", "4XyZ12", NULL, "4XyZ12", VERDICT_QID_OK },
        { "equal with blanks", " 4XyZ12 ", NULL, "4XyZ12", VERDICT_QID_OK },
        { "another id", "4XyZ13", NULL, "4XyZ12", VERDICT_QID_MISMATCH },
        { "a prefix of it", "4XyZ1", NULL, "4XyZ12", VERDICT_QID_MISMATCH },
        { "no macro i", "4XyZ12", NULL, NULL, VERDICT_QID_MISMATCH },
        { "two copies", "4XyZ12", "4XyZ12", "4XyZ12", VERDICT_QID_MISSING },
        { "none", NULL, NULL, "4XyZ12", VERDICT_QID_MISSING },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct hdr_seen seen;
        struct verdict v;

        memset(&seen, 0, sizeof(seen));
        (void)hdr_seen_add(&seen, "X-Spamd-Result",
                           "default: True [16.00 / 15.00];\n\tA(8.00)[];"
                           "\n\tB(8.00)[]");
        (void)hdr_seen_add(&seen, "X-Rspamd-Action", "reject");
        if (cases[i].h1)
            (void)hdr_seen_add(&seen, "X-Rspamd-Queue-Id", cases[i].h1);
        if (cases[i].h2)
            (void)hdr_seen_add(&seen, "x-rspamd-queue-id", cases[i].h2);
        verdict_compute(&v, &seen, c, NULL);
        verdict_queue_id(&v, &seen, cases[i].qid, c);
        is_int(v.qid, cases[i].want, "queue id %s: %s", cases[i].label,
               verdict_qid_name(v.qid));
        ok(v.learnable == (cases[i].want == VERDICT_QID_OK) &&
               (v.label == VERDICT_LABEL_SPAM) ==
                   (cases[i].want == VERDICT_QID_OK),
           "queue id %s: learnable %d, label %s", cases[i].label,
           v.learnable, verdict_label_name(v.label));
        verdict_free(&v);
        hdr_seen_free(&seen);
    }
}

/* seen_of - a hdr_seen from one header */
static void
seen_of(struct hdr_seen *seen, const char *name, const char *value)
{
    memset(seen, 0, sizeof(*seen));
    if (name != NULL)
        (void)hdr_seen_add(seen, name, value);
}

/* check_header - the header value without a model */
static void
check_header(const struct cfg *c)
{
    struct hdr_seen seen;
    struct verdict v;
    char buf[VERDICT_HEADER_MAX];

    seen_of(&seen, "X-Spamd-Result",
            "default: False [7.50 / 15.00];\n\tA(7.00)[];\n\tB(0.50)[x]");
    verdict_compute(&v, &seen, c, NULL);
    ok(verdict_header(&v, buf, sizeof(buf)) == 0, "header fits");
    is_str(buf, "+0.00; p=none; model=none; upstream=rspamd; score=7.50; "
                "learn=none", "rspamd header without a model");
    ok(verdict_adjusted_header(&v, buf, sizeof(buf)) == 0 &&
           strcmp(buf, "7.50") == 0,
       "adjusted header is the upstream score without a model");
    v.learned = VERDICT_LABEL_SPAM;
    ok(verdict_header(&v, buf, sizeof(buf)) == 0 &&
           strstr(buf, "; learn=spam") != NULL,
       "learn= says what was queued");
    ok(verdict_header(&v, buf, 20) != 0, "a short buffer is an error");
    verdict_free(&v);
    hdr_seen_free(&seen);

    seen_of(&seen, NULL, NULL);
    verdict_compute(&v, &seen, c, NULL);
    ok(verdict_header(&v, buf, sizeof(buf)) == 0, "no header: fits");
    is_str(buf, "+0.00; p=none; model=none; upstream=none; score=none; "
                "learn=none", "no scanner header");
    ok(verdict_adjusted_header(&v, buf, sizeof(buf)) != 0,
       "no adjusted header without an upstream score");
    verdict_free(&v);
}

/* check_model - a real network scores, bounded by the weights */
static void
check_model(const struct cfg *c)
{
    const char *names[] = { "A", "B", "C" };
    struct feat_profile *p = feat_profile_new(names, 3, 1);
    unsigned hidden[1] = { 4 };
    struct model *m = model_new(p, hidden, 1, 42);
    struct model_meta meta = { 0 };
    struct hdr_seen seen;
    struct verdict v;
    char buf[VERDICT_HEADER_MAX];

    ok(m != NULL, "a fresh model");
    meta.spam_threshold = 0.0001; /* everything adjusts towards spam */
    meta.ham_threshold = 0;
    model_set_meta(m, &meta);
    model_set_version(m, 7);
    seen_of(&seen, "X-Spamd-Result",
            "default: False [7.50 / 15.00];\n\tA(7.00)[];\n\tZ(0.50)[]");
    verdict_compute(&v, &seen, c, m);
    ok(v.scored && v.p > 0 && v.p < 1, "scored: p=%.4f", v.p);
    is_int(v.unknown, 1, "one symbol unknown to the profile");
    ok(v.adjust > 0 && v.adjust <= c->spam_weight, "adjust %.2f within "
       "(0, spam_weight]", v.adjust);
    ok(verdict_header(&v, buf, sizeof(buf)) == 0 &&
           strstr(buf, "; model=") != NULL &&
           strstr(buf, model_id(m)) != NULL,
       "the header names the model: %s", buf);
    verdict_free(&v);
    hdr_seen_free(&seen);
    model_release(m);
}

/* check_guard - ignored symbols are neither inputs nor unknown; the
 * adjustment shrinks by the known share, to +0.00 with nothing known;
 * a fitted map is applied with the upstream score */
static void
check_guard(const struct cfg *c)
{
    const char *names[] = { "A", "B", "C" };
    unsigned hidden[1] = { 4 };
    struct model *m = model_new(feat_profile_new(names, 3, 1), hidden, 1, 7);
    struct model_meta meta = { 0 };
    struct hdr_seen seen;
    struct verdict v, w;
    char buf[VERDICT_HEADER_MAX];
    double full;

    if (!ok(m != NULL, "guard: a fresh model"))
        return;
    meta.spam_threshold = 0.0001;
    model_set_meta(m, &meta);

    /* A known, two DNS failures ignored: nothing unknown, all known */
    seen_of(&seen, "X-Spamd-Result", "default: False [7.00 / 15.00];\n"
            "\tA(7.00)[];\n\tSPAMHAUS_FAIL(0.00)[];\n\tR_SPF_DNSFAIL(0.00)[]");
    verdict_compute(&v, &seen, c, m);
    hdr_seen_free(&seen);
    ok(v.scored, "guard: scored");
    is_int(v.ignored, 2, "two symbols ignored");
    is_int(v.unknown, 0, "ignored symbols are not unknown");
    is_dbl(v.known, 1.0, 0, "all the rest known");
    full = v.adjust;
    ok(full > 0, "adjusts: %+.2f", full);

    /* A known (weight 8), Z unknown (weight 8): half the adjustment */
    seen_of(&seen, "X-Spamd-Result", "default: False [14.00 / 15.00];\n"
            "\tA(7.00)[];\n\tZ(7.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    is_dbl(w.known, 0.5, 1e-12, "known share 8 / 16");
    is_dbl(w.adjust, 0.5 * model_adjust(m, w.p, c->spam_weight,
                                        c->ham_weight), 0.006,
           "half the ramp's adjustment: %+.2f", w.adjust);
    verdict_free(&w);

    /* nothing known: the meta inputs alone give some p, but +0.00 */
    seen_of(&seen, "X-Spamd-Result", "default: False [9.00 / 15.00];\n"
            "\tY(4.00)[];\n\tZ(5.00)[];\n\tASN_FAIL(0.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    ok(w.scored && w.p > 0, "no known symbol: still scored, p=%.3f", w.p);
    is_dbl(w.known, 0.0, 0, "no known symbol: share 0");
    ok(verdict_header(&w, buf, sizeof(buf)) == 0 &&
           strncmp(buf, "+0.00; p=", 9) == 0,
       "no known symbol: %s", buf);
    verdict_free(&w);

    /* a fitted map: level + slope * logit(p) - pull * u, clamped */
    meta.map.kind = MODEL_MAP_FIT;
    meta.map.sure = 0.0;
    meta.map.level = 9.0;
    meta.map.slope = 0.0;
    meta.map.pull = 1.0;
    model_set_meta(m, &meta);
    seen_of(&seen, "X-Spamd-Result", "default: False [7.00 / 15.00];\n"
            "\tA(7.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    is_dbl(w.adjust, 2.0, 1e-9, "fitted map: 9 - 7 = +2.00");
    verdict_free(&w);
    meta.map.level = 30.0;
    model_set_meta(m, &meta);
    seen_of(&seen, "X-Spamd-Result", "default: False [7.00 / 15.00];\n"
            "\tA(7.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    is_dbl(w.adjust, c->spam_weight, 1e-9, "fitted map: bounded by "
           "spam_weight");
    verdict_free(&w);
    meta.map.level = -30.0;
    meta.map.sure = 1.0; /* not sure of spam: it may lower the score */
    model_set_meta(m, &meta);
    seen_of(&seen, "X-Spamd-Result", "default: False [7.00 / 15.00];\n"
            "\tA(7.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    is_dbl(w.adjust, c->ham_weight, 1e-9, "fitted map: bounded by "
           "ham_weight");
    verdict_free(&w);
    meta.map.level = 9.0; /* +2, but not sure of spam: nothing */
    model_set_meta(m, &meta);
    seen_of(&seen, "X-Spamd-Result", "default: False [7.00 / 15.00];\n"
            "\tA(7.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    is_dbl(w.adjust, 0.0, 0, "fitted map: no upward move below sure");
    verdict_free(&w);
    meta.map.level = -30.0; /* -3, but sure of spam: nothing */
    meta.map.sure = 0.0;
    model_set_meta(m, &meta);
    seen_of(&seen, "X-Spamd-Result", "default: False [7.00 / 15.00];\n"
            "\tA(7.00)[]");
    verdict_compute(&w, &seen, c, m);
    hdr_seen_free(&seen);
    is_dbl(w.adjust, 0.0, 0, "fitted map: no downward move from sure on");
    verdict_free(&w);
    verdict_free(&v);
    model_release(m);
}

/* check_text - verdict_header() and verdict_log_line() against the
 * printf formats they replace, on random verdicts */
static void
check_text(void)
{
    static const enum hdr_upstream ups[] = {
        HDR_UPSTREAM_NONE, HDR_UPSTREAM_RSPAMD, HDR_UPSTREAM_SA,
        HDR_UPSTREAM_AMBIGUOUS,
    };
    static const enum verdict_label labs[] = {
        VERDICT_LABEL_NONE, VERDICT_LABEL_SPAM, VERDICT_LABEL_HAM,
    };
    uint64_t s = 11;
    size_t bad = 0, bad_nb = 0, n = 20000;
    struct verdict_numbers nb;
    char first[2 * VERDICT_LOG_MAX + 16] = "";

    for (size_t i = 0; i < n; i++) {
        struct verdict v;
        char a[VERDICT_LOG_MAX], b[VERDICT_LOG_MAX], p[16] = "none";
        char score[32] = "none";
        const char *qid = i % 3 ? "4XyZ1234" : "NOQUEUE";
        double u;

        memset(&v, 0, sizeof(v));
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        u = (double)(s >> 11) / 9007199254740992.0;
        v.res.upstream = ups[i % 4];
        v.res.score = (double)((long)(u * 6000) - 3000) / 100.0;
        v.res.nsym = (size_t)(u * 600);
        v.unknown = i % 7;
        v.scored = (i & 1) != 0;
        v.p = v.scored ? u : 0;
        v.adjust = v.scored ? 10 * u - 5 : 0;
        if (fabs(v.adjust) < 0.005)
            v.adjust = 0;
        if (i % 5)
            snprintf(v.model_id, sizeof(v.model_id), "2b8f1c0e.%zu", i);
        v.learned = labs[i % 3];
        if (v.scored)
            snprintf(p, sizeof(p), "%.3f", v.p);
        if (hdr_upstream_usable(v.res.upstream))
            snprintf(score, sizeof(score), "%.2f", v.res.score);
        snprintf(b, sizeof(b),
                 "%+.2f; p=%s; model=%s; upstream=%s; score=%s; learn=%s",
                 v.adjust, p, v.model_id[0] ? v.model_id : "none",
                 hdr_upstream_name(v.res.upstream), score,
                 verdict_label_name(v.learned));
        if (verdict_header(&v, a, sizeof(a)) != 0 || strcmp(a, b) != 0) {
            if (bad++ == 0)
                snprintf(first, sizeof(first), "'%s' vs '%s'", a, b);
        }
        verdict_numbers(&v, &nb);
        if (verdict_header_numbers(&v, &nb, a, sizeof(a)) != 0 ||
            strcmp(a, b) != 0)
            bad_nb++;
        v.ignored = i % 3;
        v.known = v.scored ? u : 0;
        v.qid = (enum verdict_qid)(i % 4);
        snprintf(b, sizeof(b),
                 "%s: milter: upstream=%s score=%.2f symbols=%zu ignored=%zu "
                 "unknown=%zu known=%.2f p=%s adjust=%+.2f model=%s "
                 "learn=%s%s%s%s%s%s",
                 qid, hdr_upstream_name(v.res.upstream), v.res.score,
                 v.res.nsym, v.ignored, v.unknown, v.known, p, v.adjust,
                 v.model_id[0] ? v.model_id : "none",
                 verdict_label_name(v.learned),
                 i % 4 ? "" : " replaced=yes",
                 v.qid != VERDICT_QID_UNCHECKED ? " queue_id=" : "",
                 v.qid != VERDICT_QID_UNCHECKED ? verdict_qid_name(v.qid)
                                                : "",
                 i % 5 == 1 ? " kept=reply" : "",
                 i % 7 == 2 ? " spamtrap=yes" : "");
        if (verdict_log_line(&v, qid,
                             (i % 4 ? 0u : VERDICT_LOG_REPLACED) |
                                 (i % 5 == 1 ? VERDICT_LOG_KEPT : 0u) |
                                 (i % 7 == 2 ? VERDICT_LOG_SPAMTRAP : 0u),
                             a, sizeof(a)) != 0 ||
            strcmp(a, b) != 0) {
            if (bad++ == 0)
                snprintf(first, sizeof(first), "'%s' vs '%s'", a, b);
        }
        /* v's numbers changed since: formatted again */
        verdict_numbers(&v, &nb);
        if (verdict_log_line_numbers(&v, &nb, qid,
                                     (i % 4 ? 0u : VERDICT_LOG_REPLACED) |
                                         (i % 5 == 1 ? VERDICT_LOG_KEPT
                                                     : 0u) |
                                         (i % 7 == 2 ? VERDICT_LOG_SPAMTRAP
                                                     : 0u),
                                     a, sizeof(a)) != 0 ||
            strcmp(a, b) != 0)
            bad_nb++;
    }
    is_int((int)bad_nb, 0, "the same through verdict_numbers()");
    ok(bad == 0, "header and log line of %zu random verdicts as printf "
       "wrote them (%zu differ%s%s)", n, bad, bad ? ": " : "", first);
    {
        struct verdict v;
        char small[8];

        memset(&v, 0, sizeof(v));
        is_int(verdict_log_line(&v, "Q", 0, small, sizeof(small)), -1,
               "a short buffer for the log line is an error");
        is_str(small, "", "... and leaves an empty string");
    }
}

int
main(void)
{
    struct cfg *c = cfg_defaults();

    check_labels();
    check_rule();
    check_action_sets();
    check_queue_id(c);
    check_header(c);
    check_model(c);
    check_guard(c);
    check_text();
    cfg_release(c);
    return exit_status();
}
