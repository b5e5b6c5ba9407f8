/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * trainer_report - users' reports become examples. A reporter (the
 * Dovecot host of contrib/dovecot, whose Redis user may only append to
 * PREFIX:report:in) writes what it was told; nothing it writes is
 * trusted. The trainer thread (and `neural-milter-ctl train`) takes the
 * waiting reports in bounded batches and checks each before it becomes
 * an example:
 *   1. the record (learn_report_parse: magic, verdict, reporter)
 *   2. reports are on ([learn] max_reports_per_day > 0)
 *   3. the scanner header of the reported message, as the milter would
 *      read it ([upstream] format and trust): usable and consistent
 *   4. the reporter's cap for the day (UTC), counted in Redis
 * then pushes it as an explicit example (source report) under its
 * message key, so it replaces the example the message had (autolearned,
 * or reported before). What is refused is logged (the first of each
 * kind per batch, then a summary) and counted in PREFIX:report:stats.
 * Never runs in a libmilter thread.
 */
#include "config.h"
#include "trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.h"
#include "learn.h"
#include "log.h"
#include "xmalloc.h"

#define TRAINER_REPORT_BATCH STORE_PAGE   /* reports per Redis script */
#define TRAINER_REPORT_ROUNDS 8           /* batches per call */

/* The counters of store_report_stat_names, by index. */
enum trainer_report_stat {
    TRS_ACCEPTED, TRS_FORMAT, TRS_REPORTER, TRS_VERDICT, TRS_HEADER,
    TRS_CAP, TRS_OVERSIZE, TRS_OFF,
};
_Static_assert(TRS_OFF + 1 == STORE_REPORT_NSTATS, "one counter each");

/* trainer_report_day - today (UTC) as YYYYMMDD */
static void
trainer_report_day(char *buf, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;

    strftime(buf, len, "%Y%m%d", gmtime_r(&now, &tm));
}

/* trainer_report_refuse - count and, the first time in this call, log */
static void
trainer_report_refuse(long *count, enum trainer_report_stat s,
                      const char *who, const char *why)
{
    if (count[s]++ == 0)
        log_info("trainer: report refused (%s): %s%s%s",
                 store_report_stat_names[s], why, who[0] ? "; reporter " : "",
                 who);
}

/* trainer_report_check - steps 1 to 3 for one record: an encoded example
 * in *blob (malloc'd) and its spam flag and key, or a refusal counted */
static int
trainer_report_check(const struct cfg *c, const struct store_blob *b,
                     long *count, struct learn_report *r, void **blob,
                     size_t *len, uint64_t *key)
{
    char err[200], msgid[LEARN_MAX_MSGID + 1];
    struct hdr_seen seen;
    struct hdr_result res;
    struct example ex;
    enum learn_report_status ls;
    int rc = -1;

    ls = learn_report_parse(b->data, b->len, r, err, sizeof(err));
    if (ls != LEARN_REPORT_OK) {
        trainer_report_refuse(count, ls == LEARN_REPORT_REPORTER
                                         ? TRS_REPORTER
                                         : ls == LEARN_REPORT_VERDICT
                                               ? TRS_VERDICT : TRS_FORMAT,
                              "", err);
        return -1;
    }
    if (c->max_reports_per_day == 0) {
        trainer_report_refuse(count, TRS_OFF, r->reporter,
                              "[learn] max_reports_per_day is 0");
        return -1;
    }
    memset(&seen, 0, sizeof(seen));
    learn_message_scan(r->headers, r->hlen, &seen, msgid, sizeof(msgid));
    hdr_result_init(&res);
    if (hdr_evaluate(&seen, (enum hdr_format)c->upstream_format,
                     (enum hdr_trust)c->upstream_trust, &res, err,
                     sizeof(err)) != HDR_OK)
        trainer_report_refuse(count, TRS_HEADER, r->reporter, err);
    else if (!hdr_upstream_usable(res.upstream))
        trainer_report_refuse(count, TRS_HEADER, r->reporter,
                              res.upstream == HDR_UPSTREAM_AMBIGUOUS
                                  ? "more than one scanner header"
                                  : "no scanner header");
    else if (res.inconsistent)
        trainer_report_refuse(count, TRS_HEADER, r->reporter,
                              "the scanner header is inconsistent");
    else if (example_from_result(&ex, &res, r->spam, 1,
                                 (int64_t)time(NULL)) == 0) {
        ex.source = EXAMPLE_SRC_REPORT;
        if (msgid[0] != '\0')
            ex.key = learn_key_msgid(msgid);
        *key = ex.key;
        if (example_encode(&ex, blob, len, err, sizeof(err)) == 0)
            rc = 0;
        else
            trainer_report_refuse(count, TRS_HEADER, r->reporter, err);
        example_free(&ex);
    }
    hdr_result_free(&res);
    hdr_seen_free(&seen);
    return rc;
}

/* trainer_report_batch - one batch taken, checked, pushed; returns how
 * many were taken, or -1 when Redis failed */
static long
trainer_report_batch(struct store *st, const struct cfg *c, long *count)
{
    struct store_example ex[TRAINER_REPORT_BATCH];
    void *blob[TRAINER_REPORT_BATCH];
    struct store_blob *b;
    struct learn_report r;
    char day[16];
    size_t n, refused, k = 0;
    long rc;

    if (store_reports_take(st, TRAINER_REPORT_BATCH, LEARN_REPORT_MAX, &b,
                           &n, &refused) != 0)
        return -1;
    if (refused > 0) {
        count[TRS_OVERSIZE] += (long)refused;
        log_info("trainer: %zu reports over %u bytes refused unread",
                 refused, LEARN_REPORT_MAX);
    }
    trainer_report_day(day, sizeof(day));
    for (size_t i = 0; i < n; i++) {
        size_t len;
        uint64_t key;

        if (trainer_report_check(c, &b[i], count, &r, &blob[k], &len,
                                 &key) != 0)
            continue;
        switch (store_report_charge(st, r.reporter, day,
                                    c->max_reports_per_day)) {
        case STORE_OK:
            break;
        case STORE_CONFLICT:
            trainer_report_refuse(count, TRS_CAP, r.reporter,
                                  "over [learn] max_reports_per_day");
            free(blob[k]);
            continue;
        case STORE_ABSENT:
        case STORE_NOT_OURS:
        case STORE_ERR:
            free(blob[k]);
            log_warnx("trainer: cannot count a report; %zu taken reports "
                      "are lost", n - i);
            for (size_t j = 0; j < k; j++)
                free(blob[j]);
            store_blobs_free(b, n);
            return -1;
        }
        ex[k] = (struct store_example){ .spam = r.spam, .rec = blob[k],
                                        .len = len, .key = key,
                                        .explicit_ = 1 };
        k++;
    }
    rc = (long)(n + refused);
    if (k > 0 && store_example_push_batch(st, ex, k, c->max_examples) != 0) {
        log_warnx("trainer: cannot store %zu checked reports", k);
        rc = -1;
    } else {
        count[TRS_ACCEPTED] += (long)k;
    }
    for (size_t j = 0; j < k; j++)
        free(blob[j]);
    store_blobs_free(b, n);
    return rc;
}

/* trainer_reports - the waiting reports into examples */
int
trainer_reports(struct store *st, const struct cfg *c, long *accepted,
                long *refused)
{
    long count[STORE_REPORT_NSTATS] = { 0 }, got = 0, n;
    int rc = 0;

    for (int round = 0; round < TRAINER_REPORT_ROUNDS; round++) {
        if ((n = trainer_report_batch(st, c, count)) < 0) {
            rc = -1;
            break;
        }
        got += n;
        if (n < TRAINER_REPORT_BATCH)
            break;
    }
    *accepted = count[TRS_ACCEPTED];
    *refused = 0;
    for (int i = 1; i < STORE_REPORT_NSTATS; i++)
        *refused += count[i];
    if (got > 0) {
        if (store_report_stats_add(st, count) != 0)
            log_warnx("trainer: cannot count the reports in Redis");
        log_info("trainer: reports: %ld taken, %ld accepted, %ld refused",
                 got, *accepted, *refused);
    }
    return rc;
}
