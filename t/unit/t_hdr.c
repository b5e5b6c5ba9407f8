/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_hdr - the upstream header parsers: every Rspamd and SpamAssassin form
 * from the samples in t/data/hdr/ (through hdr_message_headers, hdr_seen
 * and hdr_evaluate), sender-controlled option text that must never yield
 * a symbol, garbage, each named limit at N and N+1, and the header
 * splitter. The data directory is $top_srcdir/t/data/hdr, else found next
 * to this source file.
 */
#include "config.h"
#include "hdr_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"
#include "../tap.h"

#define A HDR_FORMAT_AUTO
#define R HDR_FORMAT_RSPAMD
#define S HDR_FORMAT_SA
#define SINGLE HDR_TRUST_SINGLE
#define LAST HDR_TRUST_LAST

/* ------------------------------------------------------------ helpers */

/* data_dir - where the samples are */
static void
data_dir(char *buf, size_t len)
{
    const char *top = getenv("top_srcdir");
    const char *slash;

    if (top != NULL && *top != '\0') {
        snprintf(buf, len, "%s/t/data/hdr", top);
        return;
    }
    /* __FILE__ is .../t/unit/t_hdr.c in a VPATH build as in the tree */
    slash = strrchr(__FILE__, '/');
    if (slash == NULL)
        snprintf(buf, len, "../data/hdr");
    else
        snprintf(buf, len, "%.*s/../data/hdr", (int)(slash - __FILE__),
                 __FILE__);
}

/* load - a sample file, NUL-terminated; bails out when missing */
static char *
load(const char *dir, const char *file, size_t *len)
{
    char path[8192];
    FILE *f;
    char *buf;
    long n;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) != 0 ||
        (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        printf("Bail out! cannot read %s\n", path);
        exit(1);
    }
    buf = xmalloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* shown - s with newlines and tabs escaped, for a TAP line */
static const char *
shown(const char *s, char *buf, size_t len)
{
    size_t o = 0;

    for (; *s != '\0' && o + 3 < len; s++) {
        if (*s == '\n' || *s == '\t') {
            buf[o++] = '\\';
            buf[o++] = *s == '\n' ? 'n' : 't';
        } else
            buf[o++] = *s;
    }
    buf[o] = '\0';
    return buf;
}

/* names_of - the symbol names joined with ',' into buf */
static const char *
names_of(const struct hdr_result *res, char *buf, size_t len)
{
    size_t o = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < res->nsym && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? "," : "",
                              res->sym[i].name);
    return buf;
}

/* score_of - the score of a symbol, NAN when absent */
static double
score_of(const struct hdr_result *res, const char *name)
{
    for (size_t i = 0; i < res->nsym; i++)
        if (strcmp(res->sym[i].name, name) == 0)
            return res->sym[i].score;
    return NAN;
}

/* check_scores - "NAME=score,..." all as given */
static void
check_scores(const struct hdr_result *res, const char *spec,
             const char *label)
{
    char *copy, *save, *tok, *eq;

    if (spec == NULL)
        return;
    copy = xstrdup(spec);
    for (tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        eq = strchr(tok, '=');
        *eq = '\0';
        is_dbl(score_of(res, tok), strtod(eq + 1, NULL), 1e-9,
               "%s: %s score", label, tok);
    }
    free(copy);
}

/* check_empty - a result without verdict: no symbols, nothing set */
static void
check_empty(const struct hdr_result *res, enum hdr_upstream up,
            const char *label)
{
    ok(res->upstream == up && res->nsym == 0 && res->sym == NULL &&
       res->inconsistent == 0 && res->truncated == 0,
       "%s: upstream %s, no symbols", label, hdr_upstream_name(up));
}

/* on_seen - hdr_message_headers() callback into a struct hdr_seen */
static int
on_seen(const char *name, const char *value, void *arg)
{
    hdr_seen_add(arg, name, value);
    return 0;
}

/* fold3x - fold a one-line value as Rspamd 3.x does: after every ';' */
static char *
fold3x(const char *in)
{
    char *out = xmalloc(strlen(in) * 3 + 1), *o = out;

    for (const char *p = in; *p != '\0'; p++) {
        *o++ = *p;
        if (*p != ';')
            continue;
        *o++ = '\n';
        *o++ = '\t';
        if (p[1] == ' ')
            p++;
    }
    *o = '\0';
    return out;
}

/* ------------------------------------------------------- sample files */

struct file_case {
    const char *label;
    const char *file;
    enum hdr_format format;
    enum hdr_trust trust;
    enum hdr_status status;
    enum hdr_upstream up;
    double score, required;
    enum hdr_action action;
    int is_spam, has_scores, inconsistent, truncated;
    const char *names;  /* every symbol, in order */
    const char *scores; /* some of them: "NAME=score,..." */
};

static const struct file_case file_cases[] = {
    { "rspamd 3.x folded", "rspamd-3x.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_RSPAMD, 6.40, 15.00, HDR_ACTION_ADD_HEADER, 0, 1, 0, 0,
      "FORGED_MUA_OUTLOOK,R_SPF_SOFTFAIL,DATE_IN_PAST,MID_RHS_NOT_FQDN,"
      "MIME_HTML_ONLY,ONCE_RECEIVED,MIME_GOOD,HAS_LIST_UNSUB,FROM_HAS_DN,"
      "RCVD_COUNT_ONE,ARC_NA",
      "FORGED_MUA_OUTLOOK=3,R_SPF_SOFTFAIL=1.7,MIME_GOOD=-0.1,"
      "HAS_LIST_UNSUB=0,ARC_NA=0" },
    { "rspamd 3.x, format rspamd", "rspamd-3x.txt", R, LAST, HDR_OK,
      HDR_UPSTREAM_RSPAMD, 6.40, 15.00, HDR_ACTION_ADD_HEADER, 0, 1, 0, 0,
      NULL, NULL },
    { "rspamd 3.x, format sa", "rspamd-3x.txt", S, SINGLE, HDR_OK,
      HDR_UPSTREAM_NONE, 0, 0, 0, 0, 0, 0, 0, NULL, NULL },
    { "rspamd True = reject, ';' folded inside options", "rspamd-3x-reject.txt",
      A, SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, 16.20, 15.00,
      HDR_ACTION_REJECT, 1, 1, 0, 0,
      "PHISHING,ABUSE_SURBL,HTML_SHORT_LINK_IMG_1,URI_COUNT_ODD,"
      "SUSPICIOUS_URL,FORGED_SENDER,R_SPF_NA,FORGED_RECIPIENTS,MIME_TRACE",
      "PHISHING=7,SUSPICIOUS_URL=0.5,FORGED_RECIPIENTS=0" },
    { "rspamd continuation lines with tab and space",
      "rspamd-3x-tabspace.txt", A, SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD,
      3.13, 50.00, HDR_ACTION_NO_ACTION, 0, 1, 0, 0,
      "ARC_NA,RCVD_VIA_SMTP_AUTH,R_MISSING_CHARSET,MIME_GOOD,"
      "BROKEN_CONTENT_TYPE,NEURAL_HAM_LONG,DKIM_SIGNED,NEURAL_HAM_SHORT,"
      "BAYES_SPAM", "BAYES_SPAM=0.43,NEURAL_HAM_LONG=-1" },
    { "rspamd 2.x folded by width, negative total", "rspamd-2x-inline.txt",
      A, SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, -4.51, 50.00,
      HDR_ACTION_UNKNOWN, 0, 1, 0, 0,
      "BAYES_HAM,NEURAL_HAM_LONG,R_DKIM_ALLOW,NEURAL_HAM_SHORT,MIME_GOOD,"
      "MX_GOOD,TO_MATCH_ENVRCPT_ALL,FROM_HAS_DN,ARC_NA,FUZZY_BLOCKED,"
      "RCVD_TLS_ALL", "BAYES_HAM=-3,MX_GOOD=-0.01" },
    { "rspamd unfolded single line", "rspamd-unfolded.txt", A, SINGLE,
      HDR_OK, HDR_UPSTREAM_RSPAMD, 1.90, 15.00, HDR_ACTION_NO_ACTION, 0, 1,
      0, 0,
      "MISSING_DATE,MISSING_MID,R_SPF_ALLOW,MIME_GOOD,DMARC_POLICY_ALLOW,"
      "ARC_NA,MAILLIST,HAS_LIST_UNSUB,SUBJECT_HAS_QUESTION,RCPT_COUNT_ONE,"
      "TO_DN_NONE,FROM_EQ_ENVFROM,RCVD_COUNT_TWO,ASN,PREVIOUSLY_DELIVERED,"
      "RCVD_TLS_LAST,MID_RHS_MATCH_FROM,TO_MATCH_ENVRCPT_ALL,FROM_HAS_DN,"
      "R_DKIM_NA,NEURAL_HAM,MIME_TRACE,DWL_DNSWL_NONE,BAYES_HAM",
      "BAYES_HAM=-0.59,NEURAL_HAM=0" },
    { "rspamd 1.x / rmilter: no ';', options", "rspamd-1x-options.txt", A,
      SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, 5.80, 15.00, HDR_ACTION_UNKNOWN,
      0, 1, 0, 0,
      "FORGED_OUTLOOK_HTML,R_SPF_ALLOW,MIME_HTML_ONLY,"
      "HFILTER_HOSTNAME_UNKNOWN,FROM_EXCESS_BASE64,MIME_GOOD,BAYES_HAM,"
      "RCVD_NO_TLS_LAST", "BAYES_HAM=-3.1" },
    { "rspamd legacy: no ';', no options", "rspamd-legacy.txt", A, SINGLE,
      HDR_OK, HDR_UPSTREAM_RSPAMD, 3.40, 15.00, HDR_ACTION_UNKNOWN, 0, 1, 0,
      0,
      "DATE_IN_PAST,HFILTER_HELO_NOT_FQDN,FORGED_SENDER,ONCE_RECEIVED,"
      "MIME_GOOD,R_SPF_ALLOW,R_DKIM_NA,RCVD_COUNT_ONE,FUZZY_DENIED",
      "R_SPF_ALLOW=-0.2,FUZZY_DENIED=0.2" },
    { "rspamd old lua: NAME (score) [opts]", "rspamd-lua-spaces.txt", A,
      SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, 2.5, 15, HDR_ACTION_UNKNOWN, 0,
      1, 0, 0, "R_SPF_ALLOW,FAKE_REPLY_C,HFILTER_URL_ONLY,FROM_HAS_DN",
      "R_SPF_ALLOW=-0.2,FAKE_REPLY_C=1.2,FROM_HAS_DN=0" },
    { "rspamd symbol list cut with ...", "rspamd-truncated-list.txt", A,
      SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, 9.00, 15.00,
      HDR_ACTION_ADD_HEADER, 0, 1, 0, 1,
      "R_UNDISC_RCPT,FORGED_MUA_OUTLOOK,DATE_IN_FUTURE", NULL },
    { "rspamd cut inside the last options", "rspamd-truncated-opts.txt", A,
      SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, 4.00, 15.00,
      HDR_ACTION_GREYLIST, 0, 1, 0, 1,
      "R_UNDISC_RCPT,DATE_IN_PAST,RBL_SEM_FAIL,RCVD_IN_DNSWL_FAIL", NULL },
    { "rspamd without symbols", "rspamd-no-symbols.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_RSPAMD, 0.00, 15.00, HDR_ACTION_NO_ACTION, 0, 1, 0, 0,
      "", NULL },
    { "rspamd's short X-Spam-Status alone: auto", "rspamd-short-status.txt",
      A, SINGLE, HDR_OK, HDR_UPSTREAM_NONE, 0, 0, 0, 0, 0, 0, 0, NULL,
      NULL },
    { "rspamd's short X-Spam-Status alone: format sa",
      "rspamd-short-status.txt", S, SINGLE, HDR_ERR_SYNTAX,
      HDR_UPSTREAM_NONE, 0, 0, 0, 0, 0, 0, 0, NULL, NULL },
    { "X-Spamd-Result preferred to rspamd's X-Spam-Status",
      "rspamd-with-short-status.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_RSPAMD, 7.20, 15.00, HDR_ACTION_REWRITE_SUBJECT, 0, 1, 0,
      0, "FAKE_REPLY,MISSING_MIMEOLE,BAYES_SPAM", NULL },
    { "two X-Spamd-Result, trust single", "rspamd-two-copies.txt", A,
      SINGLE, HDR_OK, HDR_UPSTREAM_AMBIGUOUS, 0, 0, 0, 0, 0, 0, 0, NULL,
      NULL },
    { "two X-Spamd-Result, trust last", "rspamd-two-copies.txt", A, LAST,
      HDR_OK, HDR_UPSTREAM_RSPAMD, 8.10, 15.00, HDR_ACTION_ADD_HEADER, 0, 1,
      0, 0, "FORGED_SENDER,PHISH_SENDER", NULL },
    { "two X-Rspamd-Action, trust single", "rspamd-two-actions.txt", R,
      SINGLE, HDR_OK, HDR_UPSTREAM_AMBIGUOUS, 0, 0, 0, 0, 0, 0, 0, NULL,
      NULL },
    { "two X-Rspamd-Action, trust last", "rspamd-two-actions.txt", A, LAST,
      HDR_OK, HDR_UPSTREAM_RSPAMD, 4.00, 15.00, HDR_ACTION_GREYLIST, 0, 1,
      0, 0, "SUBJ_ALL_CAPS,ONCE_RECEIVED", NULL },
    { "X-Rspamd-Action reject with False", "rspamd-action-mismatch.txt", A,
      SINGLE, HDR_OK, HDR_UPSTREAM_RSPAMD, 4.00, 15.00, HDR_ACTION_REJECT,
      0, 1, 1, 0, "SUBJ_ALL_CAPS,ONCE_RECEIVED", NULL },
    { "total does not add up", "rspamd-sum-mismatch.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_RSPAMD, 1.00, 15.00, HDR_ACTION_UNKNOWN, 0, 1, 1, 0,
      "SUBJ_ALL_CAPS,ONCE_RECEIVED", NULL },
    { "duplicate symbol: first kept", "rspamd-duplicate.txt", A, SINGLE,
      HDR_OK, HDR_UPSTREAM_RSPAMD, 4.00, 15.00, HDR_ACTION_UNKNOWN, 0, 1, 1,
      0, "SUBJ_ALL_CAPS,ONCE_RECEIVED", "SUBJ_ALL_CAPS=3" },
    { "spamassassin Yes, folded tests", "sa-yes.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_SA, 10.5, 5.0, HDR_ACTION_ADD_HEADER, 1, 0, 0, 0,
      "EXCUSE_24,FAKE_REPLY_C,FORGED_MUA_OUTLOOK,FREEMAIL_FROM,"
      "IP_LINK_PLUS,LOTS_OF_MONEY,MONEY_NOHTML,RDNS_NONE",
      "EXCUSE_24=0,RDNS_NONE=0" },
    { "spamassassin, format rspamd", "sa-yes.txt", R, SINGLE, HDR_OK,
      HDR_UPSTREAM_NONE, 0, 0, 0, 0, 0, 0, 0, NULL, NULL },
    { "spamassassin tests=none", "sa-none.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_SA, 0.0, 5.0, HDR_ACTION_NO_ACTION, 0, 0, 0, 0, "",
      NULL },
    { "spamassassin 2.x hits=", "sa-hits.txt", S, SINGLE, HDR_OK,
      HDR_UPSTREAM_SA, -2.5, 5.0, HDR_ACTION_NO_ACTION, 0, 0, 0, 0,
      "KNOWN_MAILING_LIST,NO_REAL_NAME,SIGNATURE_SHORT_DENSE,"
      "SPAM_PHRASE_00_01", NULL },
    { "spamassassin negative score", "sa-negative.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_SA, -5.3, 5.0, HDR_ACTION_NO_ACTION, 0, 0, 0, 0,
      "ALL_TRUSTED,BAYES_00,DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,"
      "SPF_HELO_NONE,SPF_PASS", NULL },
    { "amavisd-new tests=[NAME=score]", "sa-amavis.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_SA, -0.1, 5.0, HDR_ACTION_NO_ACTION, 0, 1, 0, 0,
      "BAYES_00,DKIM_SIGNED,DKIM_VALID,HTML_MESSAGE,SPF_PASS,URIBL_BLOCKED",
      "BAYES_00=-1.9,DKIM_SIGNED=0.1,SPF_PASS=-0.001,HTML_MESSAGE=0.001" },
    { "two X-Spam-Status, trust single", "sa-two-copies.txt", A, SINGLE,
      HDR_OK, HDR_UPSTREAM_AMBIGUOUS, 0, 0, 0, 0, 0, 0, 0, NULL, NULL },
    { "two X-Spam-Status, trust last", "sa-two-copies.txt", S, LAST, HDR_OK,
      HDR_UPSTREAM_SA, 12.1, 5.0, HDR_ACTION_ADD_HEADER, 1, 0, 0, 0,
      "HK_NAME_MR_MRS,LOTS_OF_MONEY,NA_DOLLARS", NULL },
    { "both scanners: auto prefers rspamd", "both-scanners.txt", A, SINGLE,
      HDR_OK, HDR_UPSTREAM_RSPAMD, 2.00, 15.00, HDR_ACTION_NO_ACTION, 0, 1,
      0, 0, "BAYES_SPAM", NULL },
    { "both scanners: format sa", "both-scanners.txt", S, SINGLE, HDR_OK,
      HDR_UPSTREAM_SA, 6.3, 5.0, HDR_ACTION_ADD_HEADER, 1, 0, 0, 0,
      "BAYES_99,RDNS_NONE", NULL },
    { "no scanner header: auto", "no-scanner.txt", A, SINGLE, HDR_OK,
      HDR_UPSTREAM_NONE, 0, 0, 0, 0, 0, 0, 0, NULL, NULL },
    { "no scanner header: rspamd", "no-scanner.txt", R, LAST, HDR_OK,
      HDR_UPSTREAM_NONE, 0, 0, 0, 0, 0, 0, 0, NULL, NULL },
};

/* test_files - each sample through the whole pipeline */
static void
test_files(const char *dir)
{
    char names[8192], err[256];

    for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]);
         i++) {
        const struct file_case *c = &file_cases[i];
        struct hdr_seen seen = { 0 };
        struct hdr_result res;
        enum hdr_status st;
        size_t len;
        char *msg = load(dir, c->file, &len);

        hdr_message_headers(msg, len, on_seen, &seen);
        hdr_result_init(&res);
        strcpy(err, "untouched");
        st = hdr_evaluate(&seen, c->format, c->trust, &res, err,
                          sizeof(err));
        is_int(st, c->status, "%s: status", c->label);
        if (st != HDR_OK) {
            ok(err[0] != '\0' && strcmp(err, "untouched") != 0,
               "%s: reason given (%s)", c->label, err);
            check_empty(&res, HDR_UPSTREAM_NONE, c->label);
        } else if (c->up == HDR_UPSTREAM_NONE ||
                   c->up == HDR_UPSTREAM_AMBIGUOUS) {
            check_empty(&res, c->up, c->label);
        } else {
            is_str(hdr_upstream_name(res.upstream),
                   hdr_upstream_name(c->up), "%s: upstream", c->label);
            is_dbl(res.score, c->score, 1e-9, "%s: score", c->label);
            is_dbl(res.required, c->required, 1e-9, "%s: required",
                   c->label);
            is_str(hdr_action_name(res.action), hdr_action_name(c->action),
                   "%s: action", c->label);
            is_int(res.is_spam, c->is_spam, "%s: is_spam", c->label);
            is_int(res.has_scores, c->has_scores, "%s: has_scores",
                   c->label);
            is_int(res.inconsistent, c->inconsistent, "%s: inconsistent",
                   c->label);
            is_int(res.truncated, c->truncated, "%s: truncated", c->label);
            if (c->names != NULL)
                is_str(names_of(&res, names, sizeof(names)), c->names,
                       "%s: symbols", c->label);
            check_scores(&res, c->scores, c->label);
        }
        hdr_result_free(&res);
        hdr_seen_free(&seen);
        free(msg);
    }
}

/* ------------------------------------------- sender-controlled options */

/*
 * The option text of SYM is what a sender controls (a URL, an address, a
 * Subject); Rspamd prints it verbatim inside [...]. No such text may add a
 * symbol. Where the text could only have come from brackets that do not
 * balance, the result is flagged inconsistent (never trained on).
 */
struct adv_case {
    const char *label;
    const char *opt;
    int inconsistent;
    const char *names; /* NULL: BIG,SYM,LAST */
};

static const struct adv_case adv_cases[] = {
    { "bracketed fake symbol", "[a]; FAKE(9.99)[x]", 0, NULL },
    { "bracketed fake, no blank", "[a];FAKE(9.99)[x]", 0, NULL },
    { "fake inside brackets", "[x;y(1.0)]", 0, NULL },
    { "fake at the start", "; FAKE(9.99)[x]", 0, NULL },
    { "fake zero-score symbol, bracketed", "[q]; FAKE(0.00)[]", 0, NULL },
    { "quoted ']'", "[\"q]\"]", 1, NULL },
    { "quoted ']' then a fake", "\"q]\"; FAKE(9.99)[x", 1, NULL },
    { "URL with ';' and '('",
      "http://example.com/a;b(2.00)[c]?d=(1);FAKE(9.99)[x]", 0, NULL },
    { "URL with an unbalanced '['", "http://example.com/?q=[;FAKE(1.00)[x",
      1, NULL },
    { "unbalanced '[' then a fake", "a[b; FAKE(9.99)[x", 1, NULL },
    { "unbalanced ']'", "a]b", 1, NULL },
    { "lone '['", "[", 1, NULL },
    { "run of ']'", "]]]]", 1, NULL },
    { "newline then a fake", "x\n\tFAKE(9.99)[y", 1, NULL },
    { "legacy-looking fake", "x)\n\tFAKE(9.99)", 0, NULL },
    { "fake verdict", "default: True [99.00 / 15.00]", 0, NULL },
    { "UTF-8 and punctuation",
      "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 (m), \"t\" [ok]; "
      "\xe2\x9c\x93,",
      0, NULL },
    { "option list cut with ...", "a,b,c,...", 0, NULL },
    /* Known limit: "x]; FAKE(9.99)[y" prints exactly what a genuine FAKE
     * symbol would. It can only be caught by the sum. */
    { "']; NAME(' in the text: caught by the sum", "x]; FAKE(9.99)[y", 1,
      "BIG,SYM,FAKE,LAST" },
};

/* test_adversarial - each payload folded as Rspamd 3.x does and unfolded */
static void
test_adversarial(void)
{
    char value[1024], names[1024], label[256];

    for (size_t i = 0; i < sizeof(adv_cases) / sizeof(adv_cases[0]); i++) {
        const struct adv_case *c = &adv_cases[i];

        snprintf(value, sizeof(value), "default: False [3.50 / 15.00]; "
                 "BIG(2.00)[]; SYM(1.00)[%s]; LAST(0.50)[]", c->opt);
        for (int folded = 0; folded < 2; folded++) {
            char *v = folded ? fold3x(value) : xstrdup(value);
            struct hdr_result res;
            char err[256] = "";
            enum hdr_status st;

            snprintf(label, sizeof(label), "%s option: %s",
                     folded ? "folded" : "unfolded", c->label);
            hdr_result_init(&res);
            st = hdr_rspamd_parse(v, &res, err, sizeof(err));
            is_int(st, HDR_OK, "%s: parsed %s", label, err);
            is_str(names_of(&res, names, sizeof(names)),
                   c->names != NULL ? c->names : "BIG,SYM,LAST",
                   "%s: symbols", label);
            is_dbl(score_of(&res, "SYM"), 1.00, 1e-9, "%s: SYM score",
                   label);
            is_int(res.inconsistent, c->inconsistent, "%s: inconsistent",
                   label);
            is_int(res.truncated, 0, "%s: not truncated", label);
            hdr_result_free(&res);
            free(v);
        }
    }
}

/* --------------------------------------------------- inline edge cases */

struct value_case {
    const char *label;
    int sa; /* 0: hdr_rspamd_parse, 1: hdr_sa_parse */
    const char *value;
    enum hdr_status status;
    double score;
    int inconsistent, truncated, has_scores;
    const char *names; /* NULL: not checked */
};

static const struct value_case value_cases[] = {
    { "rspamd -0.00 total", 0, "default: False [-0.00 / 15.00]", HDR_OK,
      0.0, 0, 0, 1, "" },
    { "rspamd lower-case true", 0, "default: true [15.00 / 15.00]; "
      "A(15.00)[]", HDR_OK, 15.0, 0, 0, 1, "A" },
    { "rspamd trailing ';' and newline", 0,
      "  default: False [1.00 / 15.00];\n\tA(1.00)[];\n", HDR_OK, 1.0, 0, 0,
      1, "A" },
    { "rspamd negative symbols", 0, "default: False [-3.20 / 15.00];\n\t"
      "A(-1.00)[];\n\tB(-2.20)[x]", HDR_OK, -3.2, 0, 0, 1, "A,B" },
    { "rspamd -0.00 symbols", 0, "default: False [0.00 / 15.00];\n\t"
      "A(-0.00)[];\n\tB(0.00)[]", HDR_OK, 0.0, 0, 0, 1, "A,B" },
    { "rspamd off by 0.01 with 2 scoring symbols: ok", 0,
      "default: False [1.01 / 15.00]; A(0.50)[]; B(0.50)[]", HDR_OK, 1.01, 0,
      0, 1, "A,B" },
    { "rspamd off by 0.02 with 2 scoring symbols: ok", 0,
      "default: False [1.02 / 15.00]; A(0.50)[]; B(0.50)[]", HDR_OK, 1.02, 0,
      0, 1, "A,B" },
    { "rspamd off by 0.03 with 2 scoring symbols: flagged", 0,
      "default: False [1.03 / 15.00]; A(0.50)[]; B(0.50)[]", HDR_OK, 1.03, 1,
      0, 1, "A,B" },
    { "rspamd off by 0.01, only 0.00 symbols: ok", 0,
      "default: False [0.01 / 15.00]; A(0.00)[]; B(0.00)[]", HDR_OK, 0.01, 0,
      0, 1, "A,B" },
    { "rspamd off by 0.02, only 0.00 symbols: flagged", 0,
      "default: False [0.02 / 15.00]; A(0.00)[]; B(0.00)[]", HDR_OK, 0.02, 1,
      0, 1, "A,B" },
    { "rspamd off, but truncated: not flagged", 0,
      "default: False [7.00 / 15.00]; A(1.00)[]; ...", HDR_OK, 7.0, 0, 1, 1,
      "A" },
    { "rspamd only ... after the verdict", 0,
      "default: False [1.00 / 15.00];\n\t...", HDR_OK, 1.0, 0, 1, 1, "" },
    { "rspamd 3.x layout: symbol in mid-line is option text", 0,
      "default: False [3.00 / 15.00];\n\tA(1.00)[x]; B(2.00)[y]", HDR_OK,
      3.0, 1, 0, 1, "A" },
    { "rspamd unfolded: symbol in mid-line", 0,
      "default: False [3.00 / 15.00]; A(1.00)[x]; B(2.00)[y]", HDR_OK, 3.0,
      0, 0, 1, "A,B" },
    { "rspamd no blank after the verdict's ';'", 0,
      "default: False [1.00 / 15.00];A(1.00)[]", HDR_OK, 1.0, 0, 0, 1, "A" },
    { "rspamd legacy on one line", 0,
      "default: False [3.00 / 15.00] A(1.00) B(2.00)", HDR_OK, 3.0, 0, 0, 1,
      "A,B" },
    { "rspamd extra ']' after options", 0,
      "default: False [1.00 / 15.00]; A(1.00)[]]", HDR_OK, 1.0, 1, 0, 1,
      "A" },
    { "sa empty amavis list", 1,
      "Yes, score=5.0 required=5.0 tests=[] autolearn=no", HDR_OK, 5.0, 0, 0,
      1, "" },
    { "sa -0.0", 1, "No, score=-0.0 required=5.0 tests=none", HDR_OK, 0.0,
      0, 0, 0, "" },
    { "sa keys in capitals", 1, "yes, SCORE=1.0 REQUIRED=5.0 TESTS=a",
      HDR_OK, 1.0, 0, 0, 0, "a" },
    { "sa empty tests=", 1, "No, score=1.0 required=5.0 tests= "
      "autolearn=no", HDR_OK, 1.0, 0, 0, 0, "" },
    { "sa duplicate test", 1, "No, score=1.0 required=5.0 tests=A,B,A",
      HDR_OK, 1.0, 0, 0, 0, "A,B" },
    { "sa keys in another order", 1,
      "No, tests=A,B autolearn=no required=5.0 score=1.0", HDR_OK, 1.0, 0, 0,
      0, "A,B" },
};

/* Values that are no scanner header: HDR_ERR_SYNTAX with a reason. */
static const struct {
    int sa;
    const char *value;
} garbage[] = {
    { 0, "" },
    { 0, "   " },
    { 0, "garbage" },
    { 0, "default False [1.00 / 15.00]" },
    { 0, "default: Maybe [1.00 / 15.00]" },
    { 0, "default: False [1.00 15.00]" },
    { 0, "default: False [abc / 15.00]" },
    { 0, "default: False [1.00 / 15.00" },
    { 0, "default: False 1.00 / 15.00" },
    { 0, "default: False [1e3 / 15.00]" },
    { 0, "default: False [nan / 15.00]" },
    { 0, "default: False [inf / 15.00]" },
    { 0, "default: False [0x10 / 15.00]" },
    { 0, "default: False [99999999.00 / 15.00]" },
    { 0, "default: False [1.00 / 15.00]X" },
    { 0, "default: False [1.00 / 15.00]; (1.00)[]" },
    { 0, "default: False [1.00 / 15.00]; A(x)[]" },
    { 0, "default: False [1.00 / 15.00]; A(-)[]" },
    { 0, "default: False [1.00 / 15.00]; A(1.00.0)[]" },
    { 0, "default: False [1.00 / 15.00]; A(1.00)[unterminated" },
    { 0, "default: False [1.00 / 15.00]; A(1.00)" },
    { 0, "default: False [1.00 / 15.00]; A(1.00)[]; junk" },
    { 0, "default: False [1.00 / 15.00]; A(1.00)[]; B(2.00)[x" },
    { 0, "default: False [1.00 / 15.00]\n\tA(1.00) junk" },
    { 0, "Yes, score=1.0 required=5.0 tests=A" },
    { 1, "" },
    { 1, "Maybe, score=1.0 required=5.0 tests=A" },
    { 1, "Yes score=1.0 required=5.0 tests=A" },
    { 1, "Yes, score=abc required=5.0 tests=A" },
    { 1, "Yes, score=1.0x required=5.0 tests=A" },
    { 1, "Yes, score=1.0 required=5.0" },
    { 1, "No, score=0.90" },
    { 1, "Yes, required=5.0 tests=A" },
    { 1, "Yes, score=1.0 tests=A" },
    { 1, "Yes, score=1.0 score=2.0 required=5.0 tests=A" },
    { 1, "Yes, score=1.0 required=5.0 tests=A tests=B" },
    { 1, "Yes, score=1.0 required=5.0 tests=A,,B" },
    { 1, "Yes, score=1.0 required=5.0 tests=A,B, autolearn=no" },
    { 1, "Yes, score=1.0 required=5.0 tests=A-B" },
    { 1, "Yes, score=1.0 required=5.0 tests=A bogus" },
    { 1, "Yes, score=1.0 required=5.0 tests=[A=1, B]" },
    { 1, "Yes, score=1.0 required=5.0 tests=[A=1" },
    { 1, "Yes, score=1.0 required=5.0 tests=[A=1]x" },
    { 1, "default: False [1.00 / 15.00]" },
};

/* parse - the parser a case names */
static enum hdr_status
parse(int sa, const char *value, struct hdr_result *res, char *err,
      size_t errlen)
{
    return sa ? hdr_sa_parse(value, res, err, errlen)
              : hdr_rspamd_parse(value, res, err, errlen);
}

/* test_values - edge cases and garbage, straight into the parsers */
static void
test_values(void)
{
    char names[1024], err[256], show[256];

    for (size_t i = 0; i < sizeof(value_cases) / sizeof(value_cases[0]);
         i++) {
        const struct value_case *c = &value_cases[i];
        struct hdr_result res;
        enum hdr_status st;

        hdr_result_init(&res);
        err[0] = '\0';
        st = parse(c->sa, c->value, &res, err, sizeof(err));
        is_int(st, c->status, "%s: status %s", c->label, err);
        is_dbl(res.score, c->score, 1e-9, "%s: score", c->label);
        ok(res.score != 0 || !signbit(res.score), "%s: score is not -0",
           c->label);
        is_int(res.inconsistent, c->inconsistent, "%s: inconsistent",
               c->label);
        is_int(res.truncated, c->truncated, "%s: truncated", c->label);
        is_int(res.has_scores, c->has_scores, "%s: has_scores", c->label);
        if (c->names != NULL)
            is_str(names_of(&res, names, sizeof(names)), c->names,
                   "%s: symbols", c->label);
        for (size_t j = 0; j < res.nsym; j++)
            if (res.sym[j].score == 0)
                ok(!signbit(res.sym[j].score), "%s: %s is not -0",
                   c->label, res.sym[j].name);
        hdr_result_free(&res);
    }
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        struct hdr_result res;
        enum hdr_status st;

        hdr_result_init(&res);
        err[0] = '\0';
        st = parse(garbage[i].sa, garbage[i].value, &res, err, sizeof(err));
        ok(st == HDR_ERR_SYNTAX && err[0] != '\0' && res.nsym == 0 &&
           res.sym == NULL && res.upstream == HDR_UPSTREAM_NONE,
           "%s garbage '%s': syntax error (%s)",
           garbage[i].sa ? "sa" : "rspamd",
           shown(garbage[i].value, show, sizeof(show)), err);
        hdr_result_free(&res);
    }
    /* no err buffer at all */
    {
        struct hdr_result res;

        hdr_result_init(&res);
        is_int(hdr_rspamd_parse("garbage", &res, NULL, 0), HDR_ERR_SYNTAX,
               "rspamd: syntax error without an err buffer");
        is_int(hdr_sa_parse("garbage", &res, NULL, 0), HDR_ERR_SYNTAX,
               "sa: syntax error without an err buffer");
    }
}

/* ------------------------------------------------------------- limits */

/* rspamd_of_size - a valid X-Spamd-Result of exactly len bytes */
static char *
rspamd_of_size(size_t len)
{
    const char *head = "default: False [1.00 / 15.00];\n\tA(1.00)[";
    char *v = xmalloc(len + 1);
    size_t h = strlen(head);

    memcpy(v, head, h);
    memset(v + h, 'x', len - h - 1);
    v[len - 1] = ']';
    v[len] = '\0';
    return v;
}

/* sa_of_size - a valid X-Spam-Status of exactly len bytes */
static char *
sa_of_size(size_t len)
{
    const char *head = "No, score=1.0 required=5.0 tests=A version=";
    char *v = xmalloc(len + 1);
    size_t h = strlen(head);

    memcpy(v, head, h);
    memset(v + h, '4', len - h);
    v[len] = '\0';
    return v;
}

/* symbols_value - n distinct symbols of 0.01 (Rspamd) or tests (SA) */
static char *
symbols_value(int sa, size_t n)
{
    size_t cap = 64 + n * 24, o;
    char *v = xmalloc(cap);

    if (sa)
        o = (size_t)snprintf(v, cap, "Yes, score=9.0 required=5.0 tests=");
    else
        o = (size_t)snprintf(v, cap, "default: False [%.2f / 15.00]",
                             (double)n * 0.01);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(v + o, cap - o, sa ? "%sT%04zu" : "%sS%04zu"
                              "(0.01)[]", sa ? (i ? "," : "")
                                             : ";\n\t", i);
    if (sa)
        snprintf(v + o, cap - o, " autolearn=no");
    return v;
}

/* name_value - one symbol (test) with a name of len bytes, then B */
static char *
name_value(int sa, size_t len)
{
    char *name = xmalloc(len + 1), *v = xmalloc(len + 128);

    memset(name, 'N', len);
    name[len] = '\0';
    if (sa)
        snprintf(v, len + 128, "No, score=1.0 required=5.0 tests=%s,B",
                 name);
    else
        snprintf(v, len + 128, "default: False [3.00 / 15.00];\n\t"
                 "%s(2.00)[];\n\tB(1.00)[]", name);
    free(name);
    return v;
}

/* test_limits - HDR_MAX_BYTES, HDR_MAX_SYMBOLS, HDR_MAX_NAME at N, N+1 */
static void
test_limits(void)
{
    struct hdr_result res;
    char err[256], *v;
    const char *who;

    hdr_result_init(&res);
    for (int sa = 0; sa < 2; sa++) {
        who = sa ? "sa" : "rspamd";

        v = sa ? sa_of_size(HDR_MAX_BYTES) : rspamd_of_size(HDR_MAX_BYTES);
        is_int(parse(sa, v, &res, err, sizeof(err)), HDR_OK,
               "%s: value of HDR_MAX_BYTES parses", who);
        is_int(res.nsym, 1, "%s: value of HDR_MAX_BYTES: one symbol", who);
        free(v);
        v = sa ? sa_of_size(HDR_MAX_BYTES + 1)
               : rspamd_of_size(HDR_MAX_BYTES + 1);
        err[0] = '\0';
        is_int(parse(sa, v, &res, err, sizeof(err)), HDR_ERR_LIMIT,
               "%s: value of HDR_MAX_BYTES + 1 is over the limit", who);
        ok(err[0] != '\0' && res.nsym == 0 && res.sym == NULL,
           "%s: over the limit: reason, no symbols (%s)", who, err);
        free(v);

        v = symbols_value(sa, HDR_MAX_SYMBOLS);
        is_int(parse(sa, v, &res, err, sizeof(err)), HDR_OK,
               "%s: HDR_MAX_SYMBOLS symbols parse", who);
        is_int(res.nsym, HDR_MAX_SYMBOLS, "%s: HDR_MAX_SYMBOLS kept", who);
        is_int(res.truncated, 0, "%s: HDR_MAX_SYMBOLS: not truncated", who);
        is_int(res.inconsistent, 0, "%s: HDR_MAX_SYMBOLS: consistent", who);
        free(v);
        v = symbols_value(sa, HDR_MAX_SYMBOLS + 1);
        is_int(parse(sa, v, &res, err, sizeof(err)), HDR_OK,
               "%s: HDR_MAX_SYMBOLS + 1 symbols parse", who);
        is_int(res.nsym, HDR_MAX_SYMBOLS, "%s: HDR_MAX_SYMBOLS + 1: first "
               "HDR_MAX_SYMBOLS kept", who);
        is_str(res.nsym ? res.sym[res.nsym - 1].name : "",
               sa ? "T0511" : "S0511", "%s: ... up to the 512th", who);
        is_int(res.truncated, 1, "%s: HDR_MAX_SYMBOLS + 1: truncated", who);
        is_int(res.inconsistent, 0, "%s: truncated: sum not checked", who);
        free(v);

        v = name_value(sa, HDR_MAX_NAME);
        is_int(parse(sa, v, &res, err, sizeof(err)), HDR_OK,
               "%s: name of HDR_MAX_NAME parses", who);
        ok(res.nsym == 2 && strlen(res.sym[0].name) == HDR_MAX_NAME,
           "%s: name of HDR_MAX_NAME kept", who);
        free(v);
        v = name_value(sa, HDR_MAX_NAME + 1);
        is_int(parse(sa, v, &res, err, sizeof(err)), HDR_OK,
               "%s: name of HDR_MAX_NAME + 1 parses", who);
        ok(res.nsym == 1 && strcmp(res.sym[0].name, "B") == 0,
           "%s: name of HDR_MAX_NAME + 1 skipped, the rest kept", who);
        is_int(res.inconsistent, 0, "%s: skipped name still summed", who);
        free(v);
    }
    hdr_result_free(&res);
}

/* on_len - record the length of the X-Spamd-Result value */
static int
on_len(const char *name, const char *value, void *arg)
{
    if (strcmp(name, "X-Spamd-Result") == 0)
        *(size_t *)arg = strlen(value);
    return 0;
}

/* test_seen_limit - hdr_seen_add and hdr_message_headers at N and N+1 */
static void
test_seen_limit(void)
{
    size_t sizes[] = { HDR_MAX_BYTES, HDR_MAX_BYTES + 1,
                       HDR_MAX_BYTES + 100 };

    for (size_t i = 0; i < 3; i++) {
        size_t n = sizes[i], got = 0;
        char *v = rspamd_of_size(n);
        char *msg = xmalloc(n + 64), err[256] = "";
        struct hdr_seen seen = { 0 };
        struct hdr_result res;
        int len, over = n > HDR_MAX_BYTES;

        len = snprintf(msg, n + 64, "X-Spamd-Result: %s\n\nbody\n", v);
        hdr_message_headers(msg, (size_t)len, on_len, &got);
        is_int(got, over ? HDR_MAX_BYTES + 1 : n,
               "message of a %zu-byte value: handed %s", n,
               over ? "cut at HDR_MAX_BYTES + 1" : "whole");
        hdr_message_headers(msg, (size_t)len, on_seen, &seen);
        is_int(seen.n_spamd_result, 1, "%zu bytes: counted", n);
        is_int(seen.oversize, over, "%zu bytes: oversize", n);
        is_int(strlen(seen.spamd_result), over ? 0 : n,
               "%zu bytes: copy kept", n);
        hdr_result_init(&res);
        is_int(hdr_evaluate(&seen, A, SINGLE, &res, err, sizeof(err)),
               over ? HDR_ERR_LIMIT : HDR_OK, "%zu bytes: evaluate", n);
        is_str(hdr_upstream_name(res.upstream), over ? "none" : "rspamd",
               "%zu bytes: upstream", n);
        hdr_result_free(&res);
        hdr_seen_free(&seen);
        free(msg);
        free(v);
    }
}

/* on_name_len - record the length of the first field name */
static int
on_name_len(const char *name, const char *value, void *arg)
{
    (void)value;
    *(size_t *)arg = strlen(name);
    return 1;
}

/*
 * test_inner_limits - hdr.c's own limits at N and N+1: numbers of at most
 * 32 characters (HDR_MAX_NUMBER), scores within +-1e6 (HDR_MAX_SCORE),
 * field names cut at 998 bytes (HDR_MAX_FIELD_NAME).
 */
static void
test_inner_limits(void)
{
    struct hdr_result res;
    char v[2048], zeros[64], err[256];
    size_t got;

    memset(zeros, '0', sizeof(zeros));
    hdr_result_init(&res);
    snprintf(v, sizeof(v), "default: False [1.00 / 15.00]; A(1.%.*s)[]",
             30, zeros);
    is_int(hdr_rspamd_parse(v, &res, err, sizeof(err)), HDR_OK,
           "number of 32 characters");
    is_dbl(res.nsym ? res.sym[0].score : 0, 1.0, 1e-12,
           "number of 32 characters: value");
    snprintf(v, sizeof(v), "default: False [1.00 / 15.00]; A(1.%.*s)[]",
             31, zeros);
    is_int(hdr_rspamd_parse(v, &res, err, sizeof(err)), HDR_ERR_SYNTAX,
           "number of 33 characters: rejected");
    is_int(hdr_rspamd_parse("default: False [1000000.00 / 15.00]", &res,
                            err, sizeof(err)), HDR_OK, "score of 1e6");
    is_int(hdr_rspamd_parse("default: False [1000000.01 / 15.00]", &res,
                            err, sizeof(err)), HDR_ERR_SYNTAX,
           "score above 1e6: rejected");
    is_int(hdr_sa_parse("Yes, score=-1000000.0 required=5 tests=A", &res,
                        err, sizeof(err)), HDR_OK, "score of -1e6");
    is_int(hdr_sa_parse("Yes, score=-1000000.1 required=5 tests=A", &res,
                        err, sizeof(err)), HDR_ERR_SYNTAX,
           "score below -1e6: rejected");
    hdr_result_free(&res);

    for (size_t n = 998; n <= 999; n++) {
        memset(v, 'N', n);
        snprintf(v + n, sizeof(v) - n, ": x\n");
        got = 0;
        hdr_message_headers(v, strlen(v), on_name_len, &got);
        is_int(got, 998, "field name of %zu bytes: %s", n,
               n == 998 ? "whole" : "cut at 998");
    }
}

/* test_pathological - unbalanced options everywhere stay linear */
static void
test_pathological(void)
{
    const char *head = "default: False [0.00 / 15.00]";
    const char *sym = ";\n\tA(0.00)[[]";
    size_t n = (HDR_MAX_BYTES - strlen(head)) / strlen(sym), o;
    char *v = xmalloc(HDR_MAX_BYTES + 1), err[256];
    struct hdr_result res;

    o = (size_t)snprintf(v, HDR_MAX_BYTES + 1, "%s", head);
    for (size_t i = 0; i < n; i++)
        o += (size_t)snprintf(v + o, HDR_MAX_BYTES + 1 - o, "%s", sym);
    hdr_result_init(&res);
    is_int(hdr_rspamd_parse(v, &res, err, sizeof(err)), HDR_OK,
           "%zu unbalanced symbols parse", n);
    ok(res.nsym == 1 && res.inconsistent,
       "%zu unbalanced symbols: duplicates, flagged", n);
    hdr_result_free(&res);
    free(v);
}

/* ------------------------------------------------ hdr_message_headers */

#define REC_MAX 16

struct rec {
    size_t n;
    size_t stop_at; /* return nonzero on this field (1-based); 0: never */
    char *name[REC_MAX];
    char *value[REC_MAX];
};

/* on_rec - record each field */
static int
on_rec(const char *name, const char *value, void *arg)
{
    struct rec *r = arg;

    if (r->n < REC_MAX) {
        r->name[r->n] = xstrdup(name);
        r->value[r->n] = xstrdup(value);
    }
    r->n++;
    return r->stop_at != 0 && r->n == r->stop_at;
}

/* rec_free - release the recorded fields */
static void
rec_free(struct rec *r)
{
    for (size_t i = 0; i < r->n && i < REC_MAX; i++) {
        free(r->name[i]);
        free(r->value[i]);
    }
    memset(r, 0, sizeof(*r));
}

/* crlf - the same text with "\r\n" line ends */
static char *
crlf(const char *s)
{
    char *out = xmalloc(strlen(s) * 2 + 1), *o = out;

    for (; *s != '\0'; s++) {
        if (*s == '\n')
            *o++ = '\r';
        *o++ = *s;
    }
    *o = '\0';
    return out;
}

struct split_case {
    const char *label;
    const char *msg;
    size_t stop_at;
    size_t count;
    const char *fields; /* "name=value|name=value", "\n" kept */
};

static const struct split_case split_cases[] = {
    { "folding, blanks, body",
      "Received: from a\n\tby b\n  with c\nSubject:no space\nX-Empty:\n"
      "X-Two:  two\nName : spaced\nX-Spamd-Result: default: False "
      "[0.00 / 15.00]\n\nBody: not a header\n",
      0, 6,
      "Received=from a\n\tby b\n  with c|Subject=no space|X-Empty=|"
      "X-Two= two|Name=spaced|X-Spamd-Result=default: False "
      "[0.00 / 15.00]" },
    { "no blank line, no final newline", "A: 1\nB: 2", 0, 2, "A=1|B=2" },
    { "no body", "A: 1\nB: 2\n", 0, 2, "A=1|B=2" },
    { "blank line, empty body", "A: 1\n\n", 0, 1, "A=1" },
    { "empty message", "", 0, 0, "" },
    { "starts with the blank line", "\nA: 1\n", 0, 0, "" },
    { "starts with a continuation", " cont\nA: 1\n", 0, 0, "" },
    { "starts with no field", "From sender Mon Jan  1\nA: 1\n", 0, 0, "" },
    { "a line without ':' ends the block", "A: 1\nnot a header\nB: 2\n", 0,
      1, "A=1" },
    { "whitespace-only continuation", "A: 1\n \nB: 2\n", 0, 2,
      "A=1\n |B=2" },
    { "callback stops", "A: 1\nB: 2\nC: 3\n", 2, 2, "A=1|B=2" },
};

/* test_split - hdr_message_headers on LF and CRLF messages */
static void
test_split(void)
{
    char got[4096], label[256];

    for (size_t i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]);
         i++) {
        const struct split_case *c = &split_cases[i];

        for (int cr = 0; cr < 2; cr++) {
            char *msg = cr ? crlf(c->msg) : xstrdup(c->msg);
            struct rec r = { 0 };
            size_t n, o = 0;

            r.stop_at = c->stop_at;
            snprintf(label, sizeof(label), "split %s: %s",
                     cr ? "CRLF" : "LF", c->label);
            n = hdr_message_headers(msg, strlen(msg), on_rec, &r);
            is_int(n, c->count, "%s: count", label);
            got[0] = '\0';
            for (size_t j = 0; j < r.n && j < REC_MAX; j++)
                o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s=%s",
                                      j ? "|" : "", r.name[j], r.value[j]);
            is_str(got, c->fields, "%s: fields", label);
            ok(strchr(got, '\r') == NULL, "%s: no CR in values", label);
            rec_free(&r);
            free(msg);
        }
    }
}

/* ------------------------------------------------ names, seen, result */

/* test_names - action and upstream names, action parsing */
static void
test_names(void)
{
    static const char *const actions[] = { "unknown", "no action",
                                           "greylist", "add header",
                                           "rewrite subject", "soft reject",
                                           "reject" };

    for (int a = HDR_ACTION_UNKNOWN; a <= HDR_ACTION_REJECT; a++) {
        is_str(hdr_action_name((enum hdr_action)a), actions[a],
               "action name %d", a);
        if (a != HDR_ACTION_UNKNOWN)
            is_int(hdr_action_parse(actions[a]), a, "parse '%s'",
                   actions[a]);
    }
    is_str(hdr_action_name((enum hdr_action)99), "unknown",
           "action name out of range");
    is_int(hdr_action_parse(" Add Header\n"), HDR_ACTION_ADD_HEADER,
           "parse with blanks and capitals");
    is_int(hdr_action_parse("add  header"), HDR_ACTION_UNKNOWN,
           "parse two blanks: unknown");
    is_int(hdr_action_parse("unknown"), HDR_ACTION_UNKNOWN,
           "parse 'unknown': unknown");
    is_int(hdr_action_parse("reject please"), HDR_ACTION_UNKNOWN,
           "parse trailing text: unknown");
    is_int(hdr_action_parse(""), HDR_ACTION_UNKNOWN, "parse '': unknown");
    is_int(hdr_action_parse(NULL), HDR_ACTION_UNKNOWN, "parse NULL");
    is_str(hdr_upstream_name(HDR_UPSTREAM_NONE), "none", "upstream none");
    is_str(hdr_upstream_name(HDR_UPSTREAM_RSPAMD), "rspamd",
           "upstream rspamd");
    is_str(hdr_upstream_name(HDR_UPSTREAM_SA), "spamassassin",
           "upstream spamassassin");
    is_str(hdr_upstream_name(HDR_UPSTREAM_AMBIGUOUS), "ambiguous",
           "upstream ambiguous");
    is_str(hdr_upstream_name((enum hdr_upstream)42), "none",
           "upstream out of range");
}

/* test_seen - hdr_seen_add bookkeeping and hdr_result_free */
static void
test_seen(void)
{
    struct hdr_seen seen = { 0 };
    struct hdr_result res;

    is_int(hdr_seen_add(&seen, "Subject", "x"), 0, "other header ignored");
    is_int(hdr_seen_add(&seen, "x-spamd-result", "first"), 1,
           "lower-case name recorded");
    is_int(hdr_seen_add(&seen, "X-SPAMD-RESULT", "second"), 1,
           "upper-case name recorded");
    is_int(hdr_seen_add(&seen, "X-Rspamd-Action", "reject"), 1,
           "X-Rspamd-Action recorded");
    is_int(hdr_seen_add(&seen, "X-Spam-Status", "No"), 1,
           "X-Spam-Status recorded");
    is_int(hdr_seen_add(&seen, "X-Spam-Statu", "No"), 0,
           "prefix of a name ignored");
    is_int(hdr_seen_add(&seen, NULL, "x"), 0, "NULL name ignored");
    is_int(hdr_seen_add(&seen, "X-Spam-Status", NULL), 0,
           "NULL value ignored");
    ok(seen.n_spamd_result == 2 && seen.n_rspamd_action == 1 &&
       seen.n_spam_status == 1, "copies counted");
    is_str(seen.spamd_result, "second", "last copy kept");
    is_int(seen.oversize, 0, "nothing oversize");
    {
        const char *buf = seen.spamd_result;
        char big[64];

        hdr_seen_clear(&seen);
        ok(seen.n_spamd_result == 0 && seen.n_rspamd_action == 0 &&
               seen.n_spam_status == 0 && seen.n_rspamd_queue_id == 0 &&
               seen.oversize == 0,
           "hdr_seen_clear: no copy counted");
        is_int(hdr_seen_add(&seen, "X-Spamd-Result", "third"), 1,
               "recorded after clear");
        ok(seen.n_spamd_result == 1 && seen.spamd_result == buf,
           "a copy that fits reuses the buffer");
        is_str(seen.spamd_result, "third", "... and holds the new copy");
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        hdr_seen_clear(&seen);
        is_int(hdr_seen_add(&seen, "X-Spamd-Result", big), 1,
               "a longer copy after clear");
        is_str(seen.spamd_result, big, "... is kept whole");
    }
    hdr_seen_free(&seen);
    ok(seen.spamd_result == NULL && seen.n_spamd_result == 0,
       "hdr_seen_free zeroes");
    hdr_seen_free(&seen);
    ok(1, "hdr_seen_free twice is safe");

    hdr_result_init(&res);
    ok(res.sym == NULL && res.nsym == 0 && res.upstream == HDR_UPSTREAM_NONE,
       "hdr_result_init zeroes");
    hdr_result_free(&res);
    ok(1, "hdr_result_free on a zeroed result is safe");
    is_int(hdr_rspamd_parse("default: False [1.00 / 15.00]; A(1.00)[]",
                            &res, NULL, 0), HDR_OK, "parse into a result");
    is_int(hdr_rspamd_parse("default: False [2.00 / 15.00]; B(2.00)[]",
                            &res, NULL, 0), HDR_OK, "parse into it again");
    ok(res.nsym == 1 && strcmp(res.sym[0].name, "B") == 0,
       "a second parse replaces the symbols");
    {
        const struct hdr_symbol *buf = res.sym;
        char many[2048];
        size_t n;

        hdr_result_clear(&res);
        ok(res.sym == buf && res.cap >= 1 && res.nsym == 0 &&
               res.upstream == HDR_UPSTREAM_NONE,
           "hdr_result_clear keeps the buffer only");
        is_int(hdr_rspamd_parse("default: False [3.00 / 15.00]; C(3.00)[]",
                                &res, NULL, 0), HDR_OK, "parse after clear");
        ok(res.sym == buf && res.nsym == 1 &&
               strcmp(res.sym[0].name, "C") == 0 && res.sym[0].score == 3,
           "... into the same buffer");
        /* 100 symbols: past the first 64 entries, the buffer grows */
        n = (size_t)snprintf(many, sizeof(many),
                             "default: False [0.00 / 15.00]");
        for (int i = 0; i < 100; i++)
            n += (size_t)snprintf(many + n, sizeof(many) - n,
                                  "; S%d(0.00)[]", i);
        hdr_result_clear(&res);
        is_int(hdr_rspamd_parse(many, &res, NULL, 0), HDR_OK,
               "100 symbols after clear");
        ok(res.nsym == 100 && res.cap >= 100 &&
               strcmp(res.sym[99].name, "S99") == 0,
           "... grow the buffer");
        is_int(hdr_rspamd_parse("default: False [1.00 / 15.00]; A(1.00)[]; "
                                "B(2.00)[x",
                                &res, NULL, 0), HDR_ERR_SYNTAX,
               "a failed parse after them");
        ok(res.sym == NULL && res.nsym == 0 && res.cap == 0,
           "... leaves no symbols and no buffer");
    }
    hdr_result_free(&res);
    ok(res.sym == NULL && res.nsym == 0, "hdr_result_free zeroes");
}

/* test_numbers - hdr_number_scan() gives exactly strtod()'s double, on
 * its own fast path (up to 15 digits) and beyond it */
static void
test_numbers(void)
{
    uint64_t rng = 0x9e3779b97f4a7c15ULL;
    size_t bad = 0, tried = 0;
    char text[40], first[40] = "";

    for (int i = 0; i < 200000; i++) {
        int ndig, dotpos, neg;
        size_t n = 0, got;
        double v = -1, want;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        ndig = 1 + (int)(rng % 18);         /* 1..18: past the fast path */
        dotpos = (int)((rng >> 8) % (uint64_t)(ndig + 1)); /* ndig: none */
        neg = (int)((rng >> 16) & 1);
        if (neg)
            text[n++] = '-';
        for (int d = 0; d < ndig; d++) {
            if (d == dotpos && d > 0)
                text[n++] = '.';
            text[n++] = (char)('0' + (rng >> (20 + 2 * (d % 20))) % 10);
        }
        text[n] = '\0';
        want = strtod(text, NULL) + 0.0;
        if (want < -1e6 || want > 1e6)
            continue;
        tried++;
        got = hdr_number_scan(text, &v, NULL);
        if (got != n || memcmp(&v, &want, sizeof(v)) != 0) {
            if (bad++ == 0)
                snprintf(first, sizeof(first), "%s", text);
        }
    }
    ok(bad == 0 && tried > 100000,
       "numbers: %zu random texts of 1-18 digits read as strtod() does "
       "(%zu differ, first '%s')", tried, bad, first);
}

/* test_symset - the name table agrees with hdr_name_char(); the filter
 * of hdr_symbol_add() never lets a duplicate through nor stops a new
 * name, over many names that share its 1024 bits; each records its len */
static void
test_symset(void)
{
    struct hdr_symset set = { { 0 } };
    struct hdr_result res;
    char name[32];
    unsigned bad = 0, added = 0, dups = 0;

    for (int c = 0; c < 256; c++)
        bad += hdr_name_tab[c] != hdr_name_char(c);
    ok(bad == 0, "hdr_name_tab is hdr_name_char for all 256 bytes");
    hdr_result_init(&res);
    for (unsigned i = 0; i < HDR_MAX_SYMBOLS; i++) {
        snprintf(name, sizeof(name), "SYM_%u", i * 7919u % 1000u);
        added += hdr_symbol_add(&res, &set, name, strlen(name), 1.0) ==
                 HDR_SYM_ADDED;
    }
    for (unsigned i = 0; i < HDR_MAX_SYMBOLS; i++) {
        snprintf(name, sizeof(name), "SYM_%u", i * 7919u % 1000u);
        dups += hdr_symbol_add(&res, &set, name, strlen(name), 2.0) ==
                HDR_SYM_DUPLICATE;
    }
    is_int(added, HDR_MAX_SYMBOLS, "%d distinct names added",
           HDR_MAX_SYMBOLS);
    is_int(dups, HDR_MAX_SYMBOLS, "each again: a duplicate");
    is_int(hdr_symbol_add(&res, &set, "SYM_NEW", 7, 1.0), HDR_SYM_FULL,
           "one more new name: full");
    for (unsigned i = 0; i < res.nsym; i++)
        bad += res.sym[i].score != 1.0 ||
               res.sym[i].len != strlen(res.sym[i].name);
    ok(bad == 0, "the first copy of each is kept, its len recorded");
    hdr_result_free(&res);
    /* hdr_name_copy() writes exactly len bytes for every length */
    bad = 0;
    for (size_t len = 1; len <= HDR_MAX_NAME; len++) {
        char src[HDR_MAX_NAME + 2], dst[HDR_MAX_NAME + 2];

        for (size_t i = 0; i < sizeof(src); i++)
            src[i] = (char)('A' + i % 26);
        memset(dst, '#', sizeof(dst));
        hdr_name_copy(dst + 1, src + 1, len);
        bad += dst[0] != '#' || memcmp(dst + 1, src + 1, len) != 0 ||
               (len + 1 < sizeof(dst) && dst[len + 1] != '#');
    }
    ok(bad == 0, "hdr_name_copy: 1 .. %d bytes, none outside", HDR_MAX_NAME);
}

/* test_spans - the 16-byte scans: hdr_name_span_to() is hdr_name_span()
 * for every byte at every place and every distance to the end (in a
 * buffer of exactly that size, so a read past it shows under ASan and
 * valgrind); random folded headers whose names and options end at every
 * place of a 16-byte step parse back to their symbols */
static void
test_spans(void)
{
    uint64_t rng = 0x2545f4914f6cdd1dULL;
    size_t bad = 0, tried = 0, parsed = 0;
    char first[80] = "";

    for (int c = 1; c < 256; c++)
        for (size_t at = 0; at < 40; at++)
            for (size_t len = at + 1; len < 48; len += 1 + (len > 24) * 5) {
                char *buf = xmalloc(len + 1);
                size_t want, got;

                memset(buf, 'A' + (int)(at % 26), len);
                buf[at] = (char)c;
                buf[len] = '\0';
                want = hdr_name_span(buf);
                got = hdr_name_span_to(buf, buf + len);
                tried++;
                if (got != want && bad++ == 0)
                    snprintf(first, sizeof(first), "byte %d at %zu of %zu: "
                             "%zu, not %zu", c, at, len, got, want);
                free(buf);
            }
    ok(bad == 0 && tried > 100000, "hdr_name_span_to is hdr_name_span: "
       "%zu cases (%zu differ%s%s)", tried, bad, bad ? ", first " : "",
       first);
    bad = 0;
    for (int i = 0; i < 3000; i++) {
        char text[4096], names[40][48];
        size_t n, nsym;
        struct hdr_result res;
        char err[256];
        char *copy;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        nsym = 1 + rng % 40;
        n = (size_t)snprintf(text, sizeof(text),
                             "default: False [%zu.00 / 15.00]", nsym);
        for (size_t k = 0; k < nsym; k++) {
            size_t nl = 1 + (rng >> (k % 50)) % 40, ol;

            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            for (size_t j = 0; j < nl; j++)
                names[k][j] = "ABCXYZ_019az"[(rng >> (j % 60)) % 12];
            names[k][0] = 'A' + (char)(k % 26); /* distinct: k in front */
            names[k][1] = 'A' + (char)(k / 26);
            nl = nl < 2 ? 2 : nl;
            names[k][nl] = '\0';
            ol = (rng >> 20) % 50;
            n += (size_t)snprintf(text + n, sizeof(text) - n,
                                  ";\n\t%s(1.00)[", names[k]);
            for (size_t j = 0; j < ol; j++)
                text[n++] = "abc ,.:=-"[(rng >> (j % 61)) % 9];
            if (ol > 6 && (rng & 8)) { /* a balanced pair inside */
                text[n - 4] = '[';
                text[n - 2] = ']';
            }
            text[n++] = ']';
        }
        text[n] = '\0';
        copy = xmalloc(n + 1);
        memcpy(copy, text, n + 1);
        hdr_result_init(&res);
        if (hdr_rspamd_parse(copy, &res, err, sizeof(err)) != HDR_OK ||
            res.nsym != nsym || res.inconsistent || res.truncated)
            bad++;
        else
            for (size_t k = 0; k < nsym; k++)
                bad += strcmp(res.sym[k].name, names[k]) != 0 ||
                       res.sym[k].score != 1.0;
        parsed += res.nsym;
        hdr_result_free(&res);
        free(copy);
    }
    ok(bad == 0 && parsed > 30000, "3000 random folded headers, %zu symbols "
       "of 2-40 bytes with options of 0-49: each parsed back (%zu wrong)",
       parsed, bad);
}

int
main(void)
{
    char dir[4096];

    data_dir(dir, sizeof(dir));
    test_files(dir);
    test_adversarial();
    test_values();
    test_limits();
    test_seen_limit();
    test_inner_limits();
    test_pathological();
    test_split();
    test_names();
    test_seen();
    test_numbers();
    test_symset();
    test_spans();
    return exit_status();
}
