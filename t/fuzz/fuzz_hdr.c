/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_hdr - libFuzzer target over the header parsers: the input is taken as an
 * X-Spamd-Result value, an X-Spam-Status value and a raw message (split with
 * hdr_message_headers), and every combination of format and trust goes through
 * hdr_evaluate; then as a user's report record (the reporter's untrusted input:
 * learn_report_parse, learn_message_scan) and as a reply's In-Reply-To and
 * References. Besides the sanitizers, it traps on any result that breaks the
 * hdr.h or learn.h contract. Built by `make fuzz` (clang).
 */
#include "config.h"
#include "hdr.h"
#include "learn.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_check - the contract of a parsed result, or trap */
static void
fuzz_check(const struct hdr_result *res, enum hdr_status st,
           const char *err)
{
    if (st != HDR_OK && (res->nsym != 0 || res->sym != NULL ||
                         res->upstream != HDR_UPSTREAM_NONE ||
                         err[0] == '\0'))
        __builtin_trap();
    if (res->upstream != HDR_UPSTREAM_RSPAMD &&
        res->upstream != HDR_UPSTREAM_SA && res->nsym != 0)
        __builtin_trap();
    if (res->nsym > HDR_MAX_SYMBOLS || (res->nsym > 0) != (res->sym != NULL))
        __builtin_trap();
    if (!isfinite(res->score) || !isfinite(res->required))
        __builtin_trap();
    for (size_t i = 0; i < res->nsym; i++) {
        const char *n = res->sym[i].name;
        size_t len = strlen(n);

        if (len == 0 || len > HDR_MAX_NAME ||
            strspn(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                      "0123456789_") != len ||
            !isfinite(res->sym[i].score) || res->sym[i].len != len)
            __builtin_trap(); /* the parsers record every name's len */
        for (size_t j = 0; j < i; j++)
            if (strcmp(res->sym[j].name, n) == 0)
                __builtin_trap();
    }
    (void)hdr_action_name(res->action);
    (void)hdr_upstream_name(res->upstream);
}

/* fuzz_on_header - hdr_message_headers() callback */
static int
fuzz_on_header(const char *name, const char *value, void *arg)
{
    if (strlen(value) > (size_t)HDR_MAX_BYTES + 1)
        __builtin_trap();
    hdr_seen_add(arg, name, value);
    return 0;
}

/* fuzz_evaluate - every format and trust over one collection */
static void
fuzz_evaluate(const struct hdr_seen *seen)
{
    struct hdr_result res;
    enum hdr_status st;
    char err[256];

    for (int f = HDR_FORMAT_AUTO; f <= HDR_FORMAT_SA; f++)
        for (int t = HDR_TRUST_SINGLE; t <= HDR_TRUST_LAST; t++) {
            hdr_result_init(&res);
            err[0] = '\0';
            st = hdr_evaluate(seen, (enum hdr_format)f, (enum hdr_trust)t,
                              &res, err, sizeof(err));
            fuzz_check(&res, st, err);
            hdr_result_free(&res);
        }
}

/* fuzz_report - the report reader, the message scan and the reply
 * references over the input (untrusted reporter input) */
static void
fuzz_report(const uint8_t *data, size_t size, const char *s)
{
    struct learn_report r;
    struct hdr_seen seen = { 0 };
    char err[256] = "", id[LEARN_MAX_MSGID + 1];
    uint64_t keys[LEARN_MAX_REFS];
    size_t n;

    if (learn_report_parse((const char *)data, size, &r, err, sizeof(err)) ==
        LEARN_REPORT_OK) {
        size_t rn = strlen(r.reporter);

        if (rn == 0 || rn > LEARN_MAX_REPORTER ||
            r.headers < (const char *)data ||
            r.headers + r.hlen != (const char *)data + size)
            __builtin_trap();
        learn_message_scan(r.headers, r.hlen, &seen, id, sizeof(id));
        if (strlen(id) > LEARN_MAX_MSGID)
            __builtin_trap();
        fuzz_evaluate(&seen);
        hdr_seen_free(&seen);
    } else if (err[0] == '\0') {
        __builtin_trap();
    }
    if (learn_msgid(s, id, sizeof(id)) == 0 &&
        (strlen(id) == 0 || strlen(id) > LEARN_MAX_MSGID))
        __builtin_trap();
    n = learn_refs(s, s, keys);
    if (n > LEARN_MAX_REFS)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if (keys[i] == 0)
            __builtin_trap();
}

/* LLVMFuzzerTestOneInput - one input through everything */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1), err[256];
    struct hdr_seen seen = { 0 };
    struct hdr_result res;
    enum hdr_status st;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';

    hdr_result_init(&res);
    err[0] = '\0';
    st = hdr_rspamd_parse(s, &res, err, sizeof(err));
    fuzz_check(&res, st, err);
    err[0] = '\0';
    st = hdr_sa_parse(s, &res, err, sizeof(err));
    fuzz_check(&res, st, err);
    hdr_result_free(&res);
    (void)hdr_action_parse(s);

    /* the input as a message */
    hdr_message_headers((const char *)data, size, fuzz_on_header, &seen);
    fuzz_evaluate(&seen);
    hdr_seen_free(&seen);

    /* the input as the value of each scanner header */
    hdr_seen_add(&seen, "X-Spamd-Result", s);
    hdr_seen_add(&seen, "X-Rspamd-Action", s);
    hdr_seen_add(&seen, "X-Spam-Status", s);
    fuzz_evaluate(&seen);
    hdr_seen_free(&seen);

    /* the input as a user's report, its message, the ids a reply names */
    fuzz_report(data, size, s);

    free(s);
    return 0;
}
