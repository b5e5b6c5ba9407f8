/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * learn - message keys, reply references and report records. Everything here
 * reads text a sender or a reporter chose: every loop is bounded by a named
 * maximum, nothing allocates.
 */
#include "config.h"
#include "learn.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "util.h"


/* learn_mix - a key from an FNV-1a hash; never 0, which means "none" */
static uint64_t
learn_mix(uint64_t h)
{
    h = util_mix64(h);
    return h ? h : 1;
}

/* learn_id_printable - the n bytes at s are all '!' .. '~': 16 a step
 * with SSE2 (every message's id is checked; a byte loop cost 300
 * instructions a message), the rest one by one */
static int
learn_id_printable(const char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(' '), del = _mm_set1_epi8(127);

    for (; i + 16 <= n; i += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        /* signed bytes: 128 .. 255 are below ' ' too */
        __m128i ok = _mm_and_si128(_mm_cmpgt_epi8(c, space),
                                   _mm_cmplt_epi8(c, del));

        if (_mm_movemask_epi8(ok) != 0xffff)
            return 0;
    }
#endif
    for (; i < n; i++)
        if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127)
            return 0;
    return 1;
}

/* learn_msgid - the id of a Message-ID value */
int
learn_msgid(const char *value, char *buf, size_t len)
{
    const char *s = value, *lt = strchr(value, '<'), *gt;
    size_t n;

    if (lt != NULL && (gt = strchr(lt + 1, '>')) != NULL) {
        s = lt + 1;
        n = (size_t)(gt - s);
    } else {
        s += strspn(s, " \t\r\n");
        n = strlen(s);
        while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
                         s[n - 1] == '\r' || s[n - 1] == '\n'))
            n--;
    }
    if (n == 0 || n > LEARN_MAX_MSGID || n >= len)
        return -1;
    if (!learn_id_printable(s, n))
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return 0;
}

/* learn_key_msgid - the key of a message with this id */
uint64_t
learn_key_msgid(const char *id)
{
    return learn_mix(util_hash64(id, strlen(id),
                                 util_hash64("msgid:", 6, UTIL_HASH64_INIT)));
}

/* learn_key_content - the key of a message without a Message-ID */
uint64_t
learn_key_content(const struct hdr_result *res)
{
    uint64_t h = util_hash64("verdict:", 8, UTIL_HASH64_INIT);
    int32_t v[2] = { (int32_t)res->upstream, 0 };

    v[1] = (int32_t)(res->score * 100.0 + (res->score < 0 ? -0.5 : 0.5));
    h = util_hash64(v, sizeof(v), h);
    for (size_t i = 0; i < res->nsym; i++) {
        int32_t sc = (int32_t)(res->sym[i].score * 100.0 +
                               (res->sym[i].score < 0 ? -0.5 : 0.5));

        h = util_hash64(res->sym[i].name, hdr_symbol_len(&res->sym[i]) + 1, h);
        h = util_hash64(&sc, sizeof(sc), h);
    }
    return learn_mix(h);
}

/* learn_key_hex - 16 hex digits, what "%016llx" prints (cut to len - 1
 * bytes as snprintf() would): the writer spells two keys a message, and
 * snprintf() cost 900 instructions a key */
void
learn_key_hex(uint64_t k, char *buf, size_t len)
{
    static const char digit[16] = "0123456789abcdef";
    char t[LEARN_KEY_HEX + 1];
    size_t n;

    if (len == 0)
        return;
    for (int i = LEARN_KEY_HEX - 1; i >= 0; i--, k >>= 4)
        t[i] = digit[k & 15];
    t[LEARN_KEY_HEX] = '\0';
    n = len - 1 < LEARN_KEY_HEX ? len - 1 : LEARN_KEY_HEX;
    memcpy(buf, t, n);
    buf[n] = '\0';
}

/* learn_refs_add - one id's key, unless it is there already */
static size_t
learn_refs_add(const char *s, size_t n, uint64_t *keys, size_t have)
{
    char id[LEARN_MAX_MSGID + 1];
    uint64_t k;

    if (n == 0 || n > LEARN_MAX_MSGID || have == LEARN_MAX_REFS)
        return have;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 32 || (unsigned char)s[i] >= 127)
            return have;
    memcpy(id, s, n);
    id[n] = '\0';
    k = learn_key_msgid(id);
    for (size_t i = 0; i < have; i++)
        if (keys[i] == k)
            return have;
    keys[have] = k;
    return have + 1;
}

/* learn_refs - In-Reply-To's id, then References' from the newest */
size_t
learn_refs(const char *in_reply_to, const char *references,
           uint64_t keys[LEARN_MAX_REFS])
{
    char id[LEARN_MAX_MSGID + 1];
    size_t have = 0;

    if (in_reply_to != NULL && learn_msgid(in_reply_to, id, sizeof(id)) == 0)
        have = learn_refs_add(id, strlen(id), keys, have);
    if (references == NULL)
        return have;
    /* The newest ids come last: walk "<...>" pairs from the end. */
    /* indices, not pointers: a pointer before the array is undefined */
    for (size_t end = strlen(references); have < LEARN_MAX_REFS && end > 0;) {
        size_t gt = end, lt;

        while (gt > 0 && references[gt - 1] != '>')
            gt--;
        if (gt == 0)
            break;
        gt--; /* references[gt] == '>' */
        lt = gt;
        while (lt > 0 && references[lt - 1] != '<')
            lt--;
        if (lt == 0)
            break;
        lt--; /* references[lt] == '<' */
        have = learn_refs_add(references + lt + 1, gt - lt - 1, keys, have);
        end = lt;
    }
    return have;
}

/* learn_report_status_name - for logs and counters */
const char *
learn_report_status_name(enum learn_report_status s)
{
    switch (s) {
    case LEARN_REPORT_OK:
        return "ok";
    case LEARN_REPORT_FORMAT:
        return "format";
    case LEARN_REPORT_REPORTER:
        return "reporter";
    case LEARN_REPORT_VERDICT:
        break;
    }
    return "verdict";
}

/* learn_line - the next line of [*p, end) without its "\n" (and "\r");
 * -1 at the end */
static int
learn_line(const char **p, const char *end, const char **line, size_t *n)
{
    const char *nl;

    if (*p >= end)
        return -1;
    nl = memchr(*p, '\n', (size_t)(end - *p));
    if (nl == NULL)
        return -1;
    *line = *p;
    *n = (size_t)(nl - *p);
    if (*n > 0 && (*p)[*n - 1] == '\r')
        (*n)--;
    *p = nl + 1;
    return 0;
}

/* learn_reporter_char - a byte of a reporter's name */
static int
learn_reporter_char(int c)
{
    return hdr_name_char(c) || c == '.' || c == '@' || c == '+' ||
           c == '=' || c == '-';
}

/* learn_report_parse - magic, verdict, reporter, empty line, headers */
enum learn_report_status
learn_report_parse(const char *buf, size_t len, struct learn_report *r,
                   char *err, size_t errlen)
{
    const char *p = buf, *end = buf + len, *line;
    size_t n, magic = strlen(LEARN_REPORT_MAGIC);

    memset(r, 0, sizeof(*r));
    if (len > LEARN_REPORT_MAX || len < magic ||
        memcmp(buf, LEARN_REPORT_MAGIC, magic) != 0) {
        util_errf(err, errlen, "not a report record (%zu bytes)", len);
        return LEARN_REPORT_FORMAT;
    }
    p += magic;
    if (learn_line(&p, end, &line, &n) != 0 || n < 9 ||
        strncmp(line, "verdict: ", 9) != 0 ||
        !((n == 13 && memcmp(line + 9, "spam", 4) == 0) ||
          (n == 12 && memcmp(line + 9, "ham", 3) == 0))) {
        util_errf(err, errlen, "no 'verdict: spam|ham' line");
        return LEARN_REPORT_VERDICT;
    }
    r->spam = n == 13;
    if (learn_line(&p, end, &line, &n) != 0 || n < 11 ||
        strncmp(line, "reporter: ", 10) != 0 ||
        n - 10 > LEARN_MAX_REPORTER) {
        util_errf(err, errlen, "no 'reporter: NAME' line of at most %d "
                  "bytes", LEARN_MAX_REPORTER);
        return LEARN_REPORT_REPORTER;
    }
    for (size_t i = 10; i < n; i++)
        if (!learn_reporter_char((unsigned char)line[i])) {
            util_errf(err, errlen, "bad character in the reporter's name");
            return LEARN_REPORT_REPORTER;
        }
    memcpy(r->reporter, line + 10, n - 10);
    r->reporter[n - 10] = '\0';
    if (learn_line(&p, end, &line, &n) != 0 || n != 0) {
        util_errf(err, errlen, "no empty line before the message");
        return LEARN_REPORT_FORMAT;
    }
    r->headers = p;
    r->hlen = (size_t)(end - p);
    return LEARN_REPORT_OK;
}

struct learn_scan {
    struct hdr_seen *seen;
    char *msgid;
    size_t msgidlen;
    unsigned nmsgid;
};

/* learn_scan_one - hdr_header_fn: scanner headers and Message-ID */
static int
learn_scan_one(const char *name, const char *value, void *arg)
{
    struct learn_scan *s = arg;

    if (hdr_seen_add(s->seen, name, value))
        return 0;
    if (strcasecmp(name, "Message-ID") == 0 && s->nmsgid++ == 0 &&
        learn_msgid(value, s->msgid, s->msgidlen) != 0)
        s->msgid[0] = '\0';
    return 0;
}

/* learn_message_scan - a message's headers as a milter sees them */
void
learn_message_scan(const char *msg, size_t len, struct hdr_seen *seen,
                   char *msgid, size_t msgidlen)
{
    struct learn_scan s = { seen, msgid, msgidlen, 0 };

    msgid[0] = '\0';
    (void)hdr_message_headers(msg, len, learn_scan_one, &s);
    if (s.nmsgid != 1)
        msgid[0] = '\0';
}
