/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hdr_rspamd - parse Rspamd's X-Spamd-Result ("default: False [7.50 /
 * 15.00]; NAME(1.00)[options]; ...") into a struct hdr_result. The options
 * are free text partly chosen by the sender, so a symbol only starts where
 * Rspamd's own layout can put one and after a closing bracket that
 * balances the options before it. Pure: no I/O, no logging, no globals;
 * any thread. Must not include libmilter, hiredis, fann or zstd headers.
 */
#include "config.h"
#include "hdr_int.h"

#include <math.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util.h"

/*
 * The layouts Rspamd has written, told apart by what follows the verdict:
 * FOLDED  "...];" then a newline: Rspamd 3.x joins symbols with "; " and
 *         folds after every ';', so a symbol starts only at the start of a
 *         continuation line (an option with "; X(1)[" is folded there too,
 *         which is why bracket balance is checked as well).
 * INLINE  "...]; X(1.00)[..]": unfolded, or folded by width (Rspamd 2.x),
 *         so a symbol may follow "; " anywhere.
 * LEGACY  "...]" then whitespace and no ';' (rmilter, Rspamd 1.x): symbols
 *         one per line, "NAME(score)[opts]", "NAME (score) [opts]" or
 *         "NAME(score)" without options.
 */
enum rsp_layout { RSP_FOLDED, RSP_INLINE, RSP_LEGACY };

/* What every step of one parse reads: the layout, and the value's NUL
 * (at its known length), up to which the 16-byte scans may read. */
struct rsp_parse {
    enum rsp_layout layout;
    const char *end;
};

/* One parsed symbol head "NAME(score)[". */
struct rsp_head {
    const char *name;
    size_t namelen;
    double score;
    int nonzero;      /* printed as anything but an unsigned zero */
    const char *opts; /* first byte of the options, or NULL: none */
    const char *end;  /* first byte after the head */
};

/* How the text after a symbol's closing ']' (or ')') goes on. */
enum rsp_sep { RSP_SEP_NONE, RSP_SEP_NEXT, RSP_SEP_END };

/* rsp_blank - space or tab */
static int
rsp_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* rsp_space - any whitespace a folded value holds */
static int
rsp_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* rsp_head_parse - "NAME(score)[" (or a legacy form) at p; inline: once a
 * symbol */
static inline __attribute__((always_inline)) int
rsp_head_parse(const char *p, const struct rsp_parse *ps, struct rsp_head *h)
{
    enum rsp_layout layout = ps->layout;
    size_t n;

    h->name = p;
    h->namelen = hdr_name_span_to(p, ps->end);
    p += h->namelen;
    if (h->namelen == 0)
        return -1;
    if (layout == RSP_LEGACY)
        while (rsp_blank(*p))
            p++;
    if (*p++ != '(')
        return -1;
    n = hdr_number_scan(p, &h->score, &h->nonzero);
    if (n == 0 || p[n] != ')')
        return -1;
    p += n + 1;
    h->opts = NULL;
    h->end = p;
    if (layout == RSP_LEGACY) {
        while (rsp_blank(*p))
            p++;
        if (*p != '[')
            return 0; /* old form without options */
    } else if (*p != '[')
        return -1;
    h->opts = p + 1;
    h->end = p + 1;
    return 0;
}

/*
 * rsp_sep - what follows the end of a symbol at p: the next symbol's head
 * (stored in *next), the end of the value, or neither. with_opts tells a
 * legacy symbol with options (one per line) from one without. Inline: once
 * a symbol, from two places.
 */
static inline __attribute__((always_inline)) enum rsp_sep
rsp_sep(const char *p, const struct rsp_parse *ps, int with_opts,
        struct rsp_head *next)
{
    enum rsp_layout layout = ps->layout;
    const char *ws;
    int semicolon = 0, newline = 0;

    /* Rspamd 3.x's "];\n\tNAME(": nearly every symbol of a folded value,
     * where the loops below come to the same head (a name byte is neither
     * whitespace nor the end); anything else takes them */
    if (layout == RSP_FOLDED && p[0] == ';' && p[1] == '\n' &&
        rsp_blank(p[2])) {
        for (ws = p + 3; rsp_blank(*ws); ws++)
            ;
        if (hdr_name_tab[(unsigned char)*ws])
            return rsp_head_parse(ws, ps, next) != 0 ? RSP_SEP_NONE
                                                     : RSP_SEP_NEXT;
    }
    if (layout != RSP_LEGACY) {
        while (rsp_blank(*p))
            p++;
        if (*p == ';') {
            semicolon = 1;
            p++;
        }
    }
    for (ws = p; rsp_space(*p); p++)
        newline |= *p == '\n';
    if (*p == '\0')
        return RSP_SEP_END;
    if (layout != RSP_LEGACY && !semicolon)
        return RSP_SEP_NONE;
    if (p == ws)
        return RSP_SEP_NONE; /* "];X(" was never written by Rspamd */
    if ((layout == RSP_FOLDED || (layout == RSP_LEGACY && with_opts)) &&
        (!newline || !rsp_blank(p[-1])))
        return RSP_SEP_NONE; /* only at the start of a continuation line */
    if (rsp_head_parse(p, ps, next) != 0)
        return RSP_SEP_NONE;
    return RSP_SEP_NEXT;
}

/* rsp_bracket - the first '[', ']' or NUL at or after q: the empty
 * options "[]" of many symbols need no scan; the text between brackets is
 * read 16 bytes a step while 16 remain before end (SSE2, inline: glibc's
 * strcspn(q, "[]") cost 50 instructions a call, and a byte loop more),
 * the rest by strcspn() */
static inline const char *
rsp_bracket(const char *q, const char *end)
{
    if (*q == ']' || *q == '[' || *q == '\0')
        return q;
    q++;
#ifdef __SSE2__
    const __m128i open = _mm_set1_epi8('['), close = _mm_set1_epi8(']');

    for (; end - q >= 16; q += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)q);
        unsigned m = (unsigned)_mm_movemask_epi8(
            _mm_or_si128(_mm_cmpeq_epi8(c, open), _mm_cmpeq_epi8(c, close)));

        if (m != 0)
            return q + __builtin_ctz(m);
    }
#else
    (void)end;
#endif
    return q + strcspn(q, "[]");
}

/*
 * rsp_close - find where the options starting at opts end: the first ']'
 * followed by a separator such that the options before it hold as many
 * '[' as ']' and never more ']' than '[' (so "[[a]; FAKE(9)[x]]" stays one
 * option). When no ']' balances, or with first_only, take the first one
 * followed by a separator and set *ambiguous. Returns the ']' or NULL when
 * none fits. Linear in what it reads; only an ambiguous answer reads on to
 * the end of the value, hence first_only once one was.
 */
static const char *
rsp_close(const char *opts, const struct rsp_parse *ps, int first_only,
          struct rsp_head *next, enum rsp_sep *sep, int *ambiguous)
{
    const char *first = NULL;
    struct rsp_head first_h;
    enum rsp_sep s, first_s = RSP_SEP_NONE;
    long depth = 0;
    int negative = 0;

    for (const char *q = rsp_bracket(opts, ps->end); *q != '\0';
         q = rsp_bracket(q + 1, ps->end)) {
        if (*q == '[') {
            depth++;
            continue;
        }
        /* the head goes straight to *next, where the common answer wants
         * it; an ambiguous first one is kept aside */
        s = rsp_sep(q + 1, ps, 1, next);
        if (s != RSP_SEP_NONE) {
            if (depth == 0 && !negative) {
                *sep = s;
                return q;
            }
            if (first == NULL) {
                first = q;
                first_h = *next;
                first_s = s;
                if (first_only)
                    break;
            }
        }
        if (--depth < 0)
            negative = 1;
    }
    if (first == NULL)
        return NULL;
    *ambiguous = 1;
    *next = first_h;
    *sep = first_s;
    return first;
}

/* rsp_ends_with_dots - the value, blanks aside, ends with "..." */
static int
rsp_ends_with_dots(const char *value)
{
    size_t n = strlen(value);

    while (n > 0 && rsp_space(value[n - 1]))
        n--;
    return n >= 3 && memcmp(value + n - 3, "...", 3) == 0;
}

/* rsp_verdict - "default: True|False [score / required]"; returns the end */
static const char *
rsp_verdict(const char *p, struct hdr_result *res, char *err, size_t errlen)
{
    size_t n;

    while (rsp_space(*p))
        p++;
    if (strncasecmp(p, "default", 7) != 0) {
        util_errf(err, errlen, "X-Spamd-Result: no \"default:\" verdict");
        return NULL;
    }
    p += 7;
    while (rsp_blank(*p))
        p++;
    if (*p++ != ':') {
        util_errf(err, errlen, "X-Spamd-Result: no ':' after \"default\"");
        return NULL;
    }
    while (rsp_blank(*p))
        p++;
    if (strncasecmp(p, "true", 4) == 0) {
        res->is_spam = 1;
        p += 4;
    } else if (strncasecmp(p, "false", 5) == 0)
        p += 5;
    else {
        util_errf(err, errlen, "X-Spamd-Result: verdict is not True/False");
        return NULL;
    }
    while (rsp_blank(*p))
        p++;
    if (*p++ != '[')
        goto bad_scores;
    while (rsp_blank(*p))
        p++;
    if ((n = hdr_number_scan(p, &res->score, NULL)) == 0)
        goto bad_scores;
    p += n;
    while (rsp_blank(*p))
        p++;
    if (*p++ != '/')
        goto bad_scores;
    while (rsp_blank(*p))
        p++;
    if ((n = hdr_number_scan(p, &res->required, NULL)) == 0)
        goto bad_scores;
    p += n;
    while (rsp_blank(*p))
        p++;
    if (*p++ != ']')
        goto bad_scores;
    return p;

bad_scores:
    util_errf(err, errlen, "X-Spamd-Result: verdict is not \"[score / "
             "required]\"");
    return NULL;
}

/* rsp_first - where the symbols start, and in which layout */
static int
rsp_first(const char *p, enum rsp_layout *layout, const char **first)
{
    const char *q, *verdict_end = p;

    while (rsp_blank(*p))
        p++;
    if (*p == ';') {
        for (q = p + 1; rsp_blank(*q); q++)
            ;
        if (*q == '\r')
            q++;
        if (*q == '\n' && rsp_blank(q[1])) {
            *layout = RSP_FOLDED;
            for (q++; rsp_blank(*q); q++)
                ;
        } else {
            *layout = RSP_INLINE;
            while (rsp_space(*q))
                q++;
        }
        *first = q;
        return 0;
    }
    *layout = RSP_LEGACY;
    for (q = verdict_end; rsp_space(*q); q++)
        ;
    if (*q != '\0' && q == verdict_end)
        return -1; /* text glued to the verdict */
    *first = q;
    return 0;
}

/* rsp_finish - the verdict's fields once the symbols are in; doubtful:
 * an ambiguous end or a duplicate name was met */
static void
rsp_finish(struct hdr_result *res, double sum, size_t nonzero, int doubtful)
{
    res->upstream = HDR_UPSTREAM_RSPAMD;
    res->has_scores = 1;
    res->action = res->is_spam ? HDR_ACTION_REJECT : HDR_ACTION_UNKNOWN;
    /*
     * Scores are printed rounded to 2 decimals, so each one that is not
     * 0.00 may be off by 0.005, and the total too. XXX: a symbol printed
     * "0.00" counts as exact; on the corpus (6,046 messages) this flags
     * none, while a symbol of 0.10 added or the total moved by 0.10 is
     * always caught (counting every symbol would miss 98% of those).
     */
    if (doubtful ||
        (!res->truncated &&
         fabs(sum - res->score) > 0.005 * (double)nonzero + 0.01 + 1e-9))
        res->inconsistent = 1;
}

/* hdr_rspamd_parse - an X-Spamd-Result value into res */
enum hdr_status
hdr_rspamd_parse(const char *value, struct hdr_result *res, char *err,
                 size_t errlen)
{
    size_t len = strnlen(value, (size_t)HDR_MAX_BYTES + 1);

    return hdr_rspamd_parse_len(value, len, res, err, errlen);
}

/* hdr_rspamd_parse_len - the same, strlen(value) known */
enum hdr_status
hdr_rspamd_parse_len(const char *value, size_t len, struct hdr_result *res,
                     char *err, size_t errlen)
{
    struct rsp_parse ps;
    enum rsp_sep sep;
    /* this symbol's head and the next one's, swapped each turn */
    struct rsp_head heads[2], *h = &heads[0], *next = &heads[1], *t;
    struct hdr_symset set = { { 0 } };
    const char *p, *close;
    double sum = 0.0;
    size_t nonzero = 0;
    int ambiguous = 0, duplicate = 0, more = 1;

    hdr_result_clear(res); /* its buffer is filled again */
    if (len > HDR_MAX_BYTES) {
        util_errf(err, errlen, "X-Spamd-Result: longer than %d bytes",
                 HDR_MAX_BYTES);
        hdr_result_free(res);
        return HDR_ERR_LIMIT;
    }
    if ((p = rsp_verdict(value, res, err, errlen)) == NULL)
        goto fail;
    ps.end = value + len;
    if (rsp_first(p, &ps.layout, &p) != 0) {
        util_errf(err, errlen, "X-Spamd-Result: text after the verdict");
        goto fail;
    }
    if (*p == '\0')
        more = 0; /* no symbols */
    else if (rsp_head_parse(p, &ps, h) != 0) {
        if (!rsp_ends_with_dots(p)) {
            util_errf(err, errlen, "X-Spamd-Result: no symbol after the "
                     "verdict");
            goto fail;
        }
        res->truncated = 1; /* "default: ...; ..." */
        more = 0;
    }
    while (more) {
        if (h->opts == NULL) { /* legacy "NAME(score)" */
            sep = rsp_sep(h->end, &ps, 0, next);
            close = h->end;
        } else
            close = rsp_close(h->opts, &ps, ambiguous, next, &sep,
                              &ambiguous);
        if (close == NULL || sep == RSP_SEP_NONE) {
            /* cut inside this symbol's options, or garbage */
            if (!rsp_ends_with_dots(h->end)) {
                util_errf(err, errlen, "X-Spamd-Result: no end to symbol "
                         "%.*s", h->namelen > 64 ? 64 : (int)h->namelen,
                         h->name);
                goto fail;
            }
            res->truncated = 1;
            sep = RSP_SEP_END;
        }
        sum += h->score;
        nonzero += h->nonzero != 0;
        switch (hdr_symbol_add(res, &set, h->name, h->namelen, h->score)) {
        case HDR_SYM_FULL:
            res->truncated = 1;
            more = 0;
            break;
        case HDR_SYM_DUPLICATE:
            duplicate = 1;
            break;
        case HDR_SYM_ADDED:
        case HDR_SYM_SKIPPED:
            break;
        }
        if (sep != RSP_SEP_NEXT) {
            more = 0;
        } else {
            t = h;
            h = next;
            next = t;
        }
    }
    rsp_finish(res, sum, nonzero, ambiguous || duplicate);
    return HDR_OK;

fail:
    hdr_result_free(res); /* no symbols, no buffer */
    return HDR_ERR_SYNTAX;
}
