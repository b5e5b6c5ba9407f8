/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hdr - what the scanner headers of one message say: collects the copies
 * of X-Spamd-Result, X-Rspamd-Action and X-Spam-Status (hdr_seen), picks
 * the one to trust and parses it (hdr_evaluate), and splits a raw header
 * block the way a milter sees it. Also the helpers that hdr_rspamd.c and
 * hdr_sa.c share. Pure: no I/O, no logging, no globals; any thread.
 * Must not include libmilter, hiredis, fann or zstd headers.
 */
#include "config.h"
#include "hdr_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"
#include "xmalloc.h"

/* Largest score or threshold we accept; scanners print far smaller ones. */
#define HDR_MAX_SCORE 1e6
/* Longest number text hdr_number_scan() reads ("-123456.123456" fits). */
#define HDR_MAX_NUMBER 32
/* Longest field name hdr_message_headers() hands over (RFC 5322 line). */
#define HDR_MAX_FIELD_NAME 998

/* hdr_result_init - zero a result */
void
hdr_result_init(struct hdr_result *res)
{
    memset(res, 0, sizeof(*res));
}

/* hdr_result_free - release the symbols and zero the result */
void
hdr_result_free(struct hdr_result *res)
{
    free(res->sym);
    memset(res, 0, sizeof(*res));
}

/* hdr_result_clear - zero the result but keep its symbol buffer */
void
hdr_result_clear(struct hdr_result *res)
{
    struct hdr_symbol *sym = res->sym;
    size_t cap = res->cap;

    memset(res, 0, sizeof(*res));
    res->sym = sym;
    res->cap = cap;
}

/* The bytes of a symbol name, for hdr_name_span(). */
const unsigned char hdr_name_tab[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['_'] = 1,
};

/* hdr_digit - an ASCII digit */
static inline int
hdr_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* hdr_number_slow - a number text of more than 15 digits, by
 * util_parse_double(); out of the fast path (its buffer would cost every
 * call a stack guard) */
static __attribute__((noinline)) int
hdr_number_slow(const char *s, size_t n, double *v)
{
    char buf[HDR_MAX_NUMBER + 1];

    memcpy(buf, s, n);
    buf[n] = '\0';
    return util_parse_double(buf, -HDR_MAX_SCORE, HDR_MAX_SCORE, v);
}

/*
 * hdr_number_scan_any - a plain decimal number in one pass. With at most 15
 * digits the value comes without strtod(): the digits as an integer and
 * the power of ten are both exact in a double, so one division rounds
 * exactly as strtod() would (strtod() was the parser's largest cost, 13k
 * of 34k instructions per message). Longer texts go to
 * util_parse_double().
 */
size_t
hdr_number_scan_any(const char *s, double *out, int *printed_nonzero)
{
    static const double pow10[] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6,
                                     1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
                                     1e13, 1e14, 1e15 };
    const char *p = s, *int0, *frac0 = NULL, *end;
    uint64_t mant = 0;
    size_t n, digits;
    int nonzero = 0, neg = 0;
    double v;

    if (*p == '-' || *p == '+') {
        neg = nonzero = *p == '-'; /* "-0.00" is a small negative */
        p++;
    }
    /* Rspamd's shape, "d.dd" (most numbers of a header): the same value
     * as below, the digits 100 * d + 10 * d + d over 100, in a few steps */
    if (hdr_digit(p[0]) && p[1] == '.' && hdr_digit(p[2]) &&
        hdr_digit(p[3]) && !hdr_digit(p[4])) {
        mant = (uint64_t)(p[0] - '0') * 100 + (uint64_t)(p[2] - '0') * 10 +
               (uint64_t)(p[3] - '0');
        v = (double)mant / 100.0;
        *out = (neg ? -v : v) + 0.0;
        if (printed_nonzero != NULL)
            *printed_nonzero = nonzero || mant != 0;
        return (size_t)(p + 4 - s);
    }
    /* the integer digits, then a '.' and the fraction's, if a digit
     * follows the '.' */
    for (int0 = p; *p >= '0' && *p <= '9'; p++) {
        mant = mant * 10 + (uint64_t)(*p - '0');
        nonzero |= *p != '0';
    }
    if (p == int0)
        return 0;
    end = p;
    if (*p == '.' && p[1] >= '0' && p[1] <= '9') {
        for (frac0 = ++p; *p >= '0' && *p <= '9'; p++) {
            mant = mant * 10 + (uint64_t)(*p - '0');
            nonzero |= *p != '0';
        }
        end = p;
    }
    n = (size_t)(end - s);
    if (n > HDR_MAX_NUMBER)
        return 0;
    digits = (size_t)(end - int0) - (frac0 != NULL);
    if (digits <= 15) {
        /* mant wrapped only past 19 digits, and then this is not taken */
        v = (double)mant / pow10[frac0 != NULL ? end - frac0 : 0];
        if (neg)
            v = -v;
        if (v < -HDR_MAX_SCORE || v > HDR_MAX_SCORE)
            return 0;
    } else if (hdr_number_slow(s, n, &v) != 0) {
        return 0;
    }
    *out = v + 0.0; /* -0.0 + 0.0 is +0.0: no "-0" downstream */
    if (printed_nonzero != NULL)
        *printed_nonzero = nonzero;
    return n;
}

/* hdr_symbol_add_slow - append one symbol, unique by name, within the
 * limits (hdr_symbol_add() does the common case inline) */
enum hdr_sym_status
hdr_symbol_add_slow(struct hdr_result *res, struct hdr_symset *set,
                    const char *name, size_t len, double score)
{
    unsigned bit = hdr_symset_bit(name, len);
    uint64_t mask = (uint64_t)1 << (bit % 64);
    size_t cap;

    if (len > HDR_MAX_NAME)
        return HDR_SYM_SKIPPED;
    /* every entry came through here or hdr_symbol_add(), so its len is
     * recorded: the lengths are compared before the bytes */
    if (set->bits[bit / 64] & mask)
        for (size_t i = 0; i < res->nsym; i++)
            if (res->sym[i].len == len &&
                memcmp(res->sym[i].name, name, len) == 0)
                return HDR_SYM_DUPLICATE;
    if (res->nsym >= HDR_MAX_SYMBOLS)
        return HDR_SYM_FULL;
    /* grow to 64, then twice the size up to HDR_MAX_SYMBOLS; most
     * verdicts fit the first (a kept buffer: no allocation at all) */
    if (res->nsym >= res->cap) {
        cap = res->nsym < 32 ? 64 : res->nsym * 2;
        if (cap > HDR_MAX_SYMBOLS)
            cap = HDR_MAX_SYMBOLS;
        res->sym = xreallocarray(res->sym, cap, sizeof(*res->sym));
        res->cap = cap;
    }
    set->bits[bit / 64] |= mask;
    hdr_name_copy(res->sym[res->nsym].name, name, len);
    res->sym[res->nsym].name[len] = '\0';
    res->sym[res->nsym].score = score;
    res->sym[res->nsym].len = (uint8_t)len;
    res->nsym++;
    return HDR_SYM_ADDED;
}

/* hdr_action_parse - one of Rspamd's action names */
enum hdr_action
hdr_action_parse(const char *value)
{
    static const struct {
        const char *name;
        enum hdr_action action;
    } actions[] = {
        { "no action", HDR_ACTION_NO_ACTION },
        { "greylist", HDR_ACTION_GREYLIST },
        { "add header", HDR_ACTION_ADD_HEADER },
        { "rewrite subject", HDR_ACTION_REWRITE_SUBJECT },
        { "soft reject", HDR_ACTION_SOFT_REJECT },
        { "reject", HDR_ACTION_REJECT },
    };
    const char *end;

    if (value == NULL)
        return HDR_ACTION_UNKNOWN;
    while (*value == ' ' || *value == '\t' || *value == '\n' ||
           *value == '\r')
        value++;
    end = value + strlen(value);
    while (end > value && (end[-1] == ' ' || end[-1] == '\t' ||
                           end[-1] == '\n' || end[-1] == '\r'))
        end--;
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strlen(actions[i].name) == (size_t)(end - value) &&
            strncasecmp(actions[i].name, value, (size_t)(end - value)) == 0)
            return actions[i].action;
    return HDR_ACTION_UNKNOWN;
}

/* hdr_action_name - the name Rspamd uses for an action */
const char *
hdr_action_name(enum hdr_action action)
{
    switch (action) {
    case HDR_ACTION_NO_ACTION:
        return "no action";
    case HDR_ACTION_GREYLIST:
        return "greylist";
    case HDR_ACTION_ADD_HEADER:
        return "add header";
    case HDR_ACTION_REWRITE_SUBJECT:
        return "rewrite subject";
    case HDR_ACTION_SOFT_REJECT:
        return "soft reject";
    case HDR_ACTION_REJECT:
        return "reject";
    case HDR_ACTION_UNKNOWN:
        break;
    }
    return "unknown";
}

/* hdr_upstream_name - the name of an upstream for logs and our header */
const char *
hdr_upstream_name(enum hdr_upstream up)
{
    switch (up) {
    case HDR_UPSTREAM_RSPAMD:
        return "rspamd";
    case HDR_UPSTREAM_SA:
        return "spamassassin";
    case HDR_UPSTREAM_AMBIGUOUS:
        return "ambiguous";
    case HDR_UPSTREAM_NONE:
        break;
    }
    return "none";
}

/* hdr_seen_keep - count one copy and keep it as the last one, in the
 * slot's buffer when it is large enough; its length into *lenp unless
 * that is NULL */
static void
hdr_seen_keep(struct hdr_seen *seen, unsigned *count, char **slot,
              size_t *cap, size_t *lenp, const char *value)
{
    size_t len = strnlen(value, (size_t)HDR_MAX_BYTES + 1);

    if (*count < UINT_MAX) /* saturate: a wrap to 1 would look single */
        (*count)++;
    if (len > HDR_MAX_BYTES) {
        seen->oversize = 1;
        len = 0;
        value = "";
    }
    if (*slot == NULL || *cap < len + 1) {
        free(*slot);
        *slot = xmalloc(len + 1);
        *cap = len + 1;
    }
    /* the length is known: xstrndup() would measure it again */
    memcpy(*slot, value, len);
    (*slot)[len] = '\0';
    if (lenp != NULL)
        *lenp = len;
}

/* hdr_seen_add - record a scanner header, ignore any other */
int
hdr_seen_add(struct hdr_seen *seen, const char *name, const char *value)
{
    if (name == NULL || value == NULL)
        return 0;
    return hdr_seen_add_len(seen, name, strlen(name), value);
}

/* hdr_seen_add_len - the same with the name's length known */
int
hdr_seen_add_len(struct hdr_seen *seen, const char *name, size_t len,
                 const char *value)
{
    if (name == NULL || value == NULL)
        return 0;
    /* every header of every message comes here: the length first (and
     * HDR_SEEN_LENS must name every length below) */
    if (len == sizeof("X-Spamd-Result") - 1 &&
        strcasecmp(name, "X-Spamd-Result") == 0)
        hdr_seen_keep(seen, &seen->n_spamd_result, &seen->spamd_result,
                      &seen->spamd_result_cap, &seen->spamd_result_len,
                      value);
    else if (len == sizeof("X-Rspamd-Action") - 1 &&
             strcasecmp(name, "X-Rspamd-Action") == 0)
        hdr_seen_keep(seen, &seen->n_rspamd_action, &seen->rspamd_action,
                      &seen->rspamd_action_cap, NULL, value);
    else if (len == sizeof("X-Spam-Status") - 1 &&
             strcasecmp(name, "X-Spam-Status") == 0)
        hdr_seen_keep(seen, &seen->n_spam_status, &seen->spam_status,
                      &seen->spam_status_cap, NULL, value);
    else if (len == sizeof("X-Rspamd-Queue-Id") - 1 &&
             strcasecmp(name, "X-Rspamd-Queue-Id") == 0)
        hdr_seen_keep(seen, &seen->n_rspamd_queue_id, &seen->rspamd_queue_id,
                      &seen->rspamd_queue_id_cap, NULL, value);
    else
        return 0;
    return 1;
}

/* hdr_seen_clear - forget the copies, keep their buffers */
void
hdr_seen_clear(struct hdr_seen *seen)
{
    seen->n_spamd_result = 0;
    seen->n_rspamd_action = 0;
    seen->n_spam_status = 0;
    seen->n_rspamd_queue_id = 0;
    seen->spamd_result_len = 0;
    seen->oversize = 0;
}

/* hdr_seen_free - release the copies and zero the collection */
void
hdr_seen_free(struct hdr_seen *seen)
{
    free(seen->spamd_result);
    free(seen->rspamd_action);
    free(seen->spam_status);
    free(seen->rspamd_queue_id);
    memset(seen, 0, sizeof(*seen));
}

/* hdr_sa_form - whether an X-Spam-Status is SpamAssassin's (has tests=) */
static int
hdr_sa_form(const char *value)
{
    for (const char *p = value; *p != '\0'; p++)
        if (strncasecmp(p, "tests=", 6) == 0)
            return 1;
    return 0;
}

/* hdr_evaluate_rspamd - X-Spamd-Result plus X-Rspamd-Action */
static enum hdr_status
hdr_evaluate_rspamd(const struct hdr_seen *seen, enum hdr_trust trust,
                    struct hdr_result *res, char *err, size_t errlen)
{
    enum hdr_status st;
    enum hdr_action action;

    if (trust == HDR_TRUST_SINGLE &&
        (seen->n_spamd_result > 1 || seen->n_rspamd_action > 1)) {
        res->upstream = HDR_UPSTREAM_AMBIGUOUS;
        return HDR_OK;
    }
    if (seen->oversize && seen->spamd_result[0] == '\0') {
        util_errf(err, errlen, "X-Spamd-Result: longer than %d bytes",
                 HDR_MAX_BYTES);
        return HDR_ERR_LIMIT;
    }
    st = hdr_rspamd_parse_len(seen->spamd_result, seen->spamd_result_len,
                              res, err, errlen);
    if (st != HDR_OK)
        return st;
    if (seen->n_rspamd_action == 0 || seen->rspamd_action == NULL)
        return HDR_OK;
    action = hdr_action_parse(seen->rspamd_action);
    if (action == HDR_ACTION_UNKNOWN)
        return HDR_OK;
    /* "True" in X-Spamd-Result means reject: both headers must agree. */
    if ((action == HDR_ACTION_REJECT) != (res->is_spam != 0))
        res->inconsistent = 1;
    res->action = action;
    return HDR_OK;
}

/* hdr_evaluate_sa - X-Spam-Status */
static enum hdr_status
hdr_evaluate_sa(const struct hdr_seen *seen, enum hdr_format format,
                enum hdr_trust trust, struct hdr_result *res, char *err,
                size_t errlen)
{
    enum hdr_status st;

    if (trust == HDR_TRUST_SINGLE && seen->n_spam_status > 1) {
        res->upstream = HDR_UPSTREAM_AMBIGUOUS;
        return HDR_OK;
    }
    if (seen->oversize && seen->spam_status[0] == '\0') {
        util_errf(err, errlen, "X-Spam-Status: longer than %d bytes",
                 HDR_MAX_BYTES);
        return HDR_ERR_LIMIT;
    }
    st = hdr_sa_parse(seen->spam_status, res, err, errlen);
    /* Rspamd's own "No, score=0.90" is no SpamAssassin verdict at all. */
    if (st == HDR_ERR_SYNTAX && format == HDR_FORMAT_AUTO &&
        !hdr_sa_form(seen->spam_status)) {
        util_errf(err, errlen, "%s", "");
        return HDR_OK;
    }
    return st;
}

/* hdr_evaluate - choose the scanner header and parse it */
enum hdr_status
hdr_evaluate(const struct hdr_seen *seen, enum hdr_format format,
             enum hdr_trust trust, struct hdr_result *res, char *err,
             size_t errlen)
{
    enum hdr_status st = HDR_OK;

    hdr_result_clear(res);
    if (errlen > 0)
        err[0] = '\0';
    if (format != HDR_FORMAT_SA && seen->n_spamd_result > 0 &&
        seen->spamd_result != NULL)
        st = hdr_evaluate_rspamd(seen, trust, res, err, errlen);
    else if (format != HDR_FORMAT_RSPAMD && seen->n_spam_status > 0 &&
             seen->spam_status != NULL)
        st = hdr_evaluate_sa(seen, format, trust, res, err, errlen);
    if (st != HDR_OK)
        hdr_result_free(res); /* upstream NONE, no symbols */
    return st;
}

/* hdr_line - the line at msg[pos..len) without its "\n" or "\r\n" */
static size_t
hdr_line(const char *msg, size_t len, size_t pos, size_t *next)
{
    const char *eol = memchr(msg + pos, '\n', len - pos);
    size_t n = eol != NULL ? (size_t)(eol - (msg + pos)) : len - pos;

    *next = eol != NULL ? pos + n + 1 : len;
    if (n > 0 && msg[pos + n - 1] == '\r')
        n--;
    return n;
}

/* hdr_append - add n bytes to the value, cut at HDR_MAX_BYTES + 1 */
static void
hdr_append(char *buf, size_t *blen, const char *s, size_t n)
{
    size_t room = (size_t)HDR_MAX_BYTES + 1 - *blen;

    if (n > room)
        n = room;
    memcpy(buf + *blen, s, n);
    *blen += n;
}

/* hdr_message_headers - split a header block into fields, milter-style */
size_t
hdr_message_headers(const char *msg, size_t len, hdr_header_fn *fn,
                    void *arg)
{
    char name[HDR_MAX_FIELD_NAME + 1];
    char *val = xmalloc((size_t)HDR_MAX_BYTES + 2);
    size_t pos = 0, count = 0, next, n, nlen, vlen, i;
    const char *line;

    while (pos < len) {
        line = msg + pos;
        n = hdr_line(msg, len, pos, &next);
        if (n == 0 || line[0] == ' ' || line[0] == '\t')
            break; /* the empty line, or no field to continue */
        /* name: printable US-ASCII but ':'; blanks may precede ':' */
        for (nlen = 0; nlen < n && line[nlen] > ' ' && line[nlen] < 127 &&
                       line[nlen] != ':';
             nlen++)
            ;
        for (i = nlen; i < n && (line[i] == ' ' || line[i] == '\t'); i++)
            ;
        if (nlen == 0 || i >= n || line[i] != ':')
            break; /* not a header field: the body starts here */
        if (nlen > HDR_MAX_FIELD_NAME)
            nlen = HDR_MAX_FIELD_NAME;
        memcpy(name, line, nlen);
        name[nlen] = '\0';
        i++;
        if (i < n && line[i] == ' ') /* Postfix strips one space */
            i++;
        vlen = 0;
        hdr_append(val, &vlen, line + i, n - i);
        pos = next;
        while (pos < len && (msg[pos] == ' ' || msg[pos] == '\t')) {
            n = hdr_line(msg, len, pos, &next);
            hdr_append(val, &vlen, "\n", 1);
            hdr_append(val, &vlen, msg + pos, n);
            pos = next;
        }
        val[vlen] = '\0';
        count++;
        if (fn(name, val, arg) != 0)
            break;
    }
    free(val);
    return count;
}
