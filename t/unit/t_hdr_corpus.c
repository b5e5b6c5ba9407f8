/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_hdr_corpus - every message of the shared corpus, both scanners, through
 * hdr_message_headers(), hdr_seen and hdr_evaluate(AUTO, SINGLE): the
 * verdict must match index.tsv, no genuine Rspamd header may look
 * inconsistent, and edited copies of each (a symbol added or removed, the
 * total moved) must. Started by hdr_corpus.sh with the unpacked corpus
 * directory and index.tsv; a few TAP lines, with the first failures as diag.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hdr.h"
#include "util.h"
#include "xmalloc.h"
#include "../tap.h"

#define CORPUS_MESSAGES 6046   /* rows of index.tsv (README.md) */
#define CORPUS_MAX_FILE (16u << 20)
#define CORPUS_SHOW 5          /* failures shown per check */

/* One check counted over all messages. */
struct check {
    const char *what;
    unsigned fail;
    unsigned n;
};

/* check_count - count one outcome, show the first failures */
static void
check_count(struct check *c, int good, const char *id, const char *fmt,
            ...) __attribute__((format(printf, 4, 5)));
static void
check_count(struct check *c, int good, const char *id, const char *fmt, ...)
{
    char buf[512];
    va_list ap;

    c->n++;
    if (good)
        return;
    if (c->fail++ < CORPUS_SHOW) {
        va_start(ap, fmt);
        vsnprintf(buf, sizeof(buf), fmt, ap);
        va_end(ap);
        diag("%s: %s: %s", c->what, id, buf);
    }
}

/* check_report - one TAP line for a check */
static void
check_report(const struct check *c)
{
    ok(c->fail == 0 && c->n > 0, "%s (%u of %u failed)", c->what, c->fail,
       c->n);
}

/* read_file - the whole file, NUL-terminated; NULL on error */
static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 ||
        (unsigned long)n > CORPUS_MAX_FILE || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return NULL;
    }
    buf = xmalloc((size_t)n + 1);
    *len = fread(buf, 1, (size_t)n, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* on_header - hdr_message_headers() callback into a struct hdr_seen */
static int
on_header(const char *name, const char *value, void *arg)
{
    hdr_seen_add(arg, name, value);
    return 0;
}

/* same_printed - value equals text at text's precision ("-0.0" is 0) */
static int
same_printed(double value, const char *text)
{
    const char *dot = strchr(text, '.');
    size_t decimals = dot != NULL ? strlen(dot + 1) : 0;
    double want, scale = 1.0;

    if (util_parse_double(text, -1e6, 1e6, &want) != 0 || decimals > 6)
        return 0;
    while (decimals-- > 0)
        scale *= 10.0;
    return llround(value * scale) == llround(want * scale);
}

/* evaluate - parse one message file into res; returns the status */
static int
evaluate(const char *path, struct hdr_seen *seen, struct hdr_result *res,
         char *err, size_t errlen)
{
    size_t len;
    char *msg = read_file(path, &len);
    int st;

    if (msg == NULL) {
        snprintf(err, errlen, "cannot read %s", path);
        return -1;
    }
    hdr_message_headers(msg, len, on_header, seen);
    free(msg);
    st = hdr_evaluate(seen, HDR_FORMAT_AUTO, HDR_TRUST_SINGLE, res, err,
                      errlen);
    return st;
}

/* forged_inconsistent - parse an edited X-Spamd-Result value */
static int
forged_inconsistent(const char *value, int *truncated)
{
    struct hdr_result res;
    char err[256];
    int r;

    hdr_result_init(&res);
    if (hdr_rspamd_parse(value, &res, err, sizeof(err)) != HDR_OK) {
        hdr_result_free(&res);
        return 0;
    }
    r = res.inconsistent;
    *truncated = res.truncated;
    hdr_result_free(&res);
    return r;
}

/* Forged copies of one genuine X-Spamd-Result value. */
struct forgery {
    struct check add, total, remove;
    unsigned no_nonzero;     /* messages without a symbol to remove */
    unsigned smallest_found; /* the smallest scoring symbol removed */
    unsigned smallest_n;
};

/*
 * drop_symbol - copy value without the line of its first (last = 0) or
 * last (last = 1) symbol not printed as 0.00; NULL when there is none.
 */
static char *
drop_symbol(const char *value, int last)
{
    const char *p, *line, *name_end, *hit = NULL, *hit_line = NULL, *end;
    size_t len = strlen(value);
    char *buf;

    for (p = strchr(value, '\n'); p != NULL; p = strchr(p + 1, '\n')) {
        line = p + strspn(p, "\n\t ");
        name_end = line + strspn(line, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                 "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (name_end > line && *name_end == '(' &&
            strncmp(name_end, "(0.00)", 6) != 0) {
            hit = p;
            hit_line = line;
            if (!last)
                break;
        }
    }
    if (hit == NULL)
        return NULL;
    end = strchr(hit_line, '\n');
    buf = xmalloc(len + 1);
    snprintf(buf, len + 1, "%.*s%s", (int)(hit - value), value,
             end != NULL ? end : "");
    return buf;
}

/* forge - edit one genuine value three ways, each must be flagged */
static void
forge(struct forgery *fg, const char *id, const char *value,
      const struct hdr_result *res)
{
    size_t len = strlen(value);
    char *buf = xmalloc(len + 128), *cut;
    const char *open, *slash;
    int trunc = 0;

    /* a symbol of 0.10 appended in Rspamd's layout */
    snprintf(buf, len + 128, "%s;\n\tFORGED_EXTRA(0.10)[]", value);
    check_count(&fg->add, forged_inconsistent(buf, &trunc) && !trunc, id,
                "FORGED_EXTRA(0.10) not flagged");

    /* the total moved by 0.10 */
    open = strchr(value, '[');
    slash = open != NULL ? strchr(open, '/') : NULL;
    if (open != NULL && slash != NULL) {
        snprintf(buf, len + 128, "%.*s%.2f %s", (int)(open + 1 - value),
                 value, res->score + 0.10, slash);
        check_count(&fg->total, forged_inconsistent(buf, &trunc), id,
                    "total %.2f not flagged", res->score + 0.10);
    } else
        check_count(&fg->total, 0, id, "no verdict to edit");
    free(buf);

    /* the biggest scoring symbol left out (a whole line) */
    if ((cut = drop_symbol(value, 0)) == NULL) {
        fg->no_nonzero++;
        return;
    }
    check_count(&fg->remove, forged_inconsistent(cut, &trunc), id,
                "removing the first scoring symbol not flagged");
    free(cut);

    /* the smallest one (often -0.01): only counted, for the report */
    if ((cut = drop_symbol(value, 1)) != NULL) {
        fg->smallest_n++;
        fg->smallest_found += forged_inconsistent(cut, &trunc) != 0;
        free(cut);
    }
}

int
main(int argc, char **argv)
{
    struct check r_parse = { "rspamd: X-Spamd-Result parsed", 0, 0 };
    struct check r_score = { "rspamd: score as in index.tsv", 0, 0 };
    struct check r_req = { "rspamd: required as in index.tsv", 0, 0 };
    struct check r_action = { "rspamd: action as in index.tsv", 0, 0 };
    struct check r_consist = { "rspamd: genuine headers consistent", 0, 0 };
    struct check s_parse = { "spamassassin: X-Spam-Status parsed", 0, 0 };
    struct check s_score = { "spamassassin: score as in index.tsv", 0, 0 };
    struct check s_req = { "spamassassin: required as in index.tsv", 0, 0 };
    struct check s_yes = { "spamassassin: Yes exactly when score >= "
                           "required", 0, 0 };
    struct forgery fg = {
        { "rspamd: a symbol added is flagged", 0, 0 },
        { "rspamd: the total moved by 0.10 is flagged", 0, 0 },
        { "rspamd: the biggest scoring symbol removed is flagged", 0, 0 },
        0, 0, 0,
    };
    unsigned rows = 0, inconsistent = 0, truncated = 0, symbols = 0;
    char line[1024], path[4096], err[256];
    char *f[9], *save;
    FILE *idx;

    if (argc != 3)
        skip_all("usage: t_hdr_corpus CORPUS_DIR INDEX_TSV "
                 "(run t/unit/hdr_corpus.sh)");
    if ((idx = fopen(argv[2], "r")) == NULL) {
        printf("Bail out! cannot open %s\n", argv[2]);
        return 1;
    }
    plan(13);
    while (fgets(line, sizeof(line), idx) != NULL) {
        struct hdr_seen seen = { 0 };
        struct hdr_result res;
        int n = 0, st;

        line[strcspn(line, "\r\n")] = '\0';
        for (char *t = strtok_r(line, "\t", &save); t != NULL && n < 9;
             t = strtok_r(NULL, "\t", &save))
            f[n++] = t;
        if (n != 9 || strcmp(f[0], "id") == 0)
            continue;
        rows++;
        hdr_result_init(&res);

        /* id label group split rspamd_score rspamd_required
         * rspamd_action sa_score sa_required */
        snprintf(path, sizeof(path), "%s/rspamd/%s/%s/%s.eml", argv[1],
                 f[3], f[1], f[0]);
        st = evaluate(path, &seen, &res, err, sizeof(err));
        check_count(&r_parse, st == HDR_OK &&
                    res.upstream == HDR_UPSTREAM_RSPAMD, f[0],
                    "status %d upstream %s: %s", st,
                    hdr_upstream_name(res.upstream), err);
        if (st == HDR_OK && res.upstream == HDR_UPSTREAM_RSPAMD) {
            check_count(&r_score, same_printed(res.score, f[4]), f[0],
                        "score %.2f, index %s", res.score, f[4]);
            check_count(&r_req, same_printed(res.required, f[5]), f[0],
                        "required %.2f, index %s", res.required, f[5]);
            check_count(&r_action,
                        strcmp(hdr_action_name(res.action), f[6]) == 0,
                        f[0], "action %s, index %s",
                        hdr_action_name(res.action), f[6]);
            check_count(&r_consist, !res.inconsistent, f[0],
                        "inconsistent (%zu symbols, total %.2f)", res.nsym,
                        res.score);
            inconsistent += res.inconsistent != 0;
            truncated += res.truncated != 0;
            symbols += (unsigned)res.nsym;
            forge(&fg, f[0], seen.spamd_result, &res);
        }
        hdr_result_free(&res);
        hdr_seen_free(&seen);

        snprintf(path, sizeof(path), "%s/spamassassin/%s/%s/%s.eml",
                 argv[1], f[3], f[1], f[0]);
        st = evaluate(path, &seen, &res, err, sizeof(err));
        check_count(&s_parse, st == HDR_OK &&
                    res.upstream == HDR_UPSTREAM_SA, f[0],
                    "status %d upstream %s: %s", st,
                    hdr_upstream_name(res.upstream), err);
        if (st == HDR_OK && res.upstream == HDR_UPSTREAM_SA) {
            check_count(&s_score, same_printed(res.score, f[7]), f[0],
                        "score %.1f, index %s", res.score, f[7]);
            check_count(&s_req, same_printed(res.required, f[8]), f[0],
                        "required %.1f, index %s", res.required, f[8]);
            check_count(&s_yes, res.is_spam == (res.score >= res.required),
                        f[0], "is_spam %d, score %.1f, required %.1f",
                        res.is_spam, res.score, res.required);
        }
        hdr_result_free(&res);
        hdr_seen_free(&seen);
    }
    fclose(idx);

    is_int(rows, CORPUS_MESSAGES, "index.tsv lists %d messages",
           CORPUS_MESSAGES);
    check_report(&r_parse);
    check_report(&r_score);
    check_report(&r_req);
    check_report(&r_action);
    check_report(&r_consist);
    diag("rspamd: %u inconsistent, %u truncated, %u symbols", inconsistent,
         truncated, symbols);
    check_report(&fg.add);
    check_report(&fg.total);
    diag("rspamd: %u headers have no symbol printed other than 0.00",
         fg.no_nonzero);
    check_report(&fg.remove);
    diag("rspamd: the smallest scoring symbol removed is flagged in %u "
         "of %u", fg.smallest_found, fg.smallest_n);
    check_report(&s_parse);
    check_report(&s_score);
    check_report(&s_req);
    check_report(&s_yes);
    return exit_status();
}
