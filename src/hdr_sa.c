/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hdr_sa - parse an X-Spam-Status of SpamAssassin ("Yes, score=10.5
 * required=5.0 tests=A,B autolearn=no version=4.0.1", "hits=" in old
 * versions, lists folded after commas) or of amavisd-new ("tests=[A=1.2,
 * B=-0.1]") into a struct hdr_result. Pure: no I/O, no logging, no
 * globals; any thread. Must not include libmilter, hiredis, fann or zstd.
 */
#include "config.h"
#include "hdr_int.h"

#include <string.h>
#include <strings.h>

#include "util.h"

/* sa_space - whitespace, folds included */
static int
sa_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* sa_skip - past whitespace */
static const char *
sa_skip(const char *p)
{
    while (sa_space(*p))
        p++;
    return p;
}

/* sa_name_len - length of the test name [A-Za-z0-9_]+ at p */
static size_t
sa_name_len(const char *p)
{
    return hdr_name_span(p);
}

/* sa_key_is - the key of len bytes at p is word */
static int
sa_key_is(const char *p, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(p, word, len) == 0;
}

/* sa_add - record one test; past HDR_MAX_SYMBOLS the list is truncated */
static void
sa_add(struct hdr_result *res, struct hdr_symset *set, const char *name,
       size_t len, double score)
{
    if (hdr_symbol_add(res, set, name, len, score) == HDR_SYM_FULL)
        res->truncated = 1;
}

/* sa_tests_plain - "A,B,\n\tC" or "none"; returns the end or NULL */
static const char *
sa_tests_plain(const char *p, struct hdr_result *res)
{
    struct hdr_symset set = { { 0 } };
    size_t n;

    if (*p == '\0' || sa_space(*p))
        return p; /* "tests=" with nothing */
    if (strncasecmp(p, "none", 4) == 0 && (p[4] == '\0' || sa_space(p[4])))
        return p + 4;
    for (;;) {
        if ((n = sa_name_len(p)) == 0)
            return NULL;
        sa_add(res, &set, p, n, 0.0);
        p += n;
        if (*p != ',')
            break;
        p = sa_skip(p + 1); /* SpamAssassin folds after a comma */
    }
    return *p == '\0' || sa_space(*p) ? p : NULL;
}

/* sa_tests_amavis - "[A=1.2, B=-0.1]"; returns the end or NULL */
static const char *
sa_tests_amavis(const char *p, struct hdr_result *res)
{
    struct hdr_symset set = { { 0 } };
    double score;
    size_t n, m;

    p = sa_skip(p + 1);
    if (*p == ']')
        p++;
    else
        for (;;) {
            if ((n = sa_name_len(p)) == 0 || p[n] != '=')
                return NULL;
            if ((m = hdr_number_scan(p + n + 1, &score, NULL)) == 0)
                return NULL;
            sa_add(res, &set, p, n, score);
            p = sa_skip(p + n + 1 + m);
            if (*p == ']') {
                p++;
                break;
            }
            if (*p != ',')
                return NULL;
            p = sa_skip(p + 1);
        }
    res->has_scores = 1;
    return *p == '\0' || sa_space(*p) ? p : NULL;
}

/* sa_number - "key=number" value; returns the end or NULL */
static const char *
sa_number(const char *p, double *out, int *seen)
{
    size_t n;

    if (*seen)
        return NULL; /* twice */
    if ((n = hdr_number_scan(p, out, NULL)) == 0)
        return NULL;
    p += n;
    if (*p != '\0' && !sa_space(*p))
        return NULL;
    *seen = 1;
    return p;
}

/* hdr_sa_parse - an X-Spam-Status value into res */
enum hdr_status
hdr_sa_parse(const char *value, struct hdr_result *res, char *err,
             size_t errlen)
{
    const char *p, *key, *end;
    size_t klen;
    int have_score = 0, have_required = 0, have_tests = 0;

    hdr_result_clear(res); /* its buffer is filled again */
    if (strnlen(value, (size_t)HDR_MAX_BYTES + 1) > HDR_MAX_BYTES) {
        util_errf(err, errlen, "X-Spam-Status: longer than %d bytes",
                 HDR_MAX_BYTES);
        hdr_result_free(res);
        return HDR_ERR_LIMIT;
    }
    p = sa_skip(value);
    if (strncasecmp(p, "yes", 3) == 0) {
        res->is_spam = 1;
        p += 3;
    } else if (strncasecmp(p, "no", 2) == 0)
        p += 2;
    else {
        util_errf(err, errlen, "X-Spam-Status: does not start with Yes/No");
        goto fail;
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p++ != ',') {
        util_errf(err, errlen, "X-Spam-Status: no ',' after Yes/No");
        goto fail;
    }
    for (;;) {
        p = sa_skip(p);
        if (*p == '\0')
            break;
        key = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
               *p == '_')
            p++;
        klen = (size_t)(p - key);
        if (klen == 0 || *p++ != '=') {
            util_errf(err, errlen, "X-Spam-Status: expected key=value at "
                     "offset %zu", (size_t)(key - value));
            goto fail;
        }
        if (sa_key_is(key, klen, "score") || sa_key_is(key, klen, "hits"))
            end = sa_number(p, &res->score, &have_score);
        else if (sa_key_is(key, klen, "required"))
            end = sa_number(p, &res->required, &have_required);
        else if (sa_key_is(key, klen, "tests")) {
            end = NULL;
            if (!have_tests)
                end = *p == '[' ? sa_tests_amavis(p, res)
                                : sa_tests_plain(p, res);
            have_tests = 1;
        } else { /* autolearn=, version=, tagged_above=, ...: skip */
            for (end = p; *end != '\0' && !sa_space(*end); end++)
                ;
        }
        if (end == NULL) {
            util_errf(err, errlen, "X-Spam-Status: bad value of %.*s=",
                     (int)klen, key);
            goto fail;
        }
        p = end;
    }
    if (!have_score || !have_required || !have_tests) {
        util_errf(err, errlen, "X-Spam-Status: not SpamAssassin's (no %s)",
                 !have_score ? "score=" : !have_required ? "required="
                                                         : "tests=");
        goto fail;
    }
    res->upstream = HDR_UPSTREAM_SA;
    res->action = res->is_spam ? HDR_ACTION_ADD_HEADER : HDR_ACTION_NO_ACTION;
    return HDR_OK;

fail:
    hdr_result_free(res); /* no symbols, no buffer */
    return HDR_ERR_SYNTAX;
}
