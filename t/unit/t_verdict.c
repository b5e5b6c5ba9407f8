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
    size_t bad = 0, n = 20000;
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
        snprintf(b, sizeof(b),
                 "%s: milter: upstream=%s score=%.2f symbols=%zu "
                 "unknown=%zu p=%s adjust=%+.2f model=%s learn=%s%s%s",
                 qid, hdr_upstream_name(v.res.upstream), v.res.score,
                 v.res.nsym, v.unknown, p, v.adjust,
                 v.model_id[0] ? v.model_id : "none",
                 verdict_label_name(v.learned), i % 4 ? "" : " replaced=",
                 i % 4 ? "" : "yes");
        if (verdict_log_line(&v, qid, i % 4 == 0, a, sizeof(a)) != 0 ||
            strcmp(a, b) != 0) {
            if (bad++ == 0)
                snprintf(first, sizeof(first), "'%s' vs '%s'", a, b);
        }
    }
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

    check_labels(c);
    check_header(c);
    check_model(c);
    check_text();
    cfg_release(c);
    return exit_status();
}
