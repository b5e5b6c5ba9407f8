/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_verdict - the per-message decision: the training label the
 * upstream's verdict implies, the header value, and scoring through a
 * real (small, fresh) libfann model.
 */
#include "config.h"

#include <math.h>
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

static const struct label_case label_cases[] = {
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

/* check_labels - the autolearn rule */
static void
check_labels(const struct cfg *c)
{
    for (size_t i = 0; i < sizeof(label_cases) / sizeof(label_cases[0]);
         i++) {
        const struct label_case *k = &label_cases[i];
        struct hdr_result r;

        hdr_result_init(&r);
        r.upstream = k->up;
        r.action = k->action;
        r.score = k->score;
        r.inconsistent = k->inconsistent;
        is_int(verdict_label_of(&r, c), k->want, "%s", k->label);
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

int
main(void)
{
    struct cfg *c = cfg_defaults();

    check_labels(c);
    check_header(c);
    check_model(c);
    check_guard(c);
    cfg_release(c);
    return exit_status();
}
