/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_learn - the pure parts of the label sources: network lists and trap
 * lists (addr), Message-IDs, message keys, the ids a reply names and the
 * report records (learn), each at its limits.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "learn.h"
#include "tap.h"
#include "util.h"
#include "xmalloc.h"

/* t_sa - a sockaddr of a literal address */
static struct sockaddr_storage
t_sa(const char *ip)
{
    struct sockaddr_storage ss;

    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (void *)&ss;

        s6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, ip, &s6->sin6_addr) != 1)
            exit(1);
    } else {
        struct sockaddr_in *s4 = (void *)&ss;

        s4->sin_family = AF_INET;
        if (inet_pton(AF_INET, ip, &s4->sin_addr) != 1)
            exit(1);
    }
    return ss;
}

static const struct {
    const char *list, *ip;
    int want;
} net_cases[] = {
    { "127.0.0.0/8", "127.1.2.3", 1 },
    { "127.0.0.0/8", "128.0.0.1", 0 },
    { "192.0.2.1", "192.0.2.1", 1 },
    { "192.0.2.1", "192.0.2.2", 0 },
    { "10.0.0.0/9", "10.127.255.255", 1 },
    { "10.0.0.0/9", "10.128.0.0", 0 },
    { "0.0.0.0/0", "203.0.113.9", 1 },
    { "2001:db8::/32, 10.0.0.0/8", "2001:db8:ffff::1", 1 },
    { "2001:db8::/33", "2001:db8:8000::1", 0 },
    { "::1", "::1", 1 },
    { "192.0.2.0/24", "::ffff:192.0.2.77", 1 }, /* IPv4-mapped */
    { "", "192.0.2.1", 0 },
};

static const struct {
    const char *list;
    int ok;
} net_parse_cases[] = {
    { "", 1 }, { " , ", 1 }, { "192.0.2.0/24 2001:db8::/32", 1 },
    { "192.0.2.0/32", 1 }, { "192.0.2.0/33", 0 }, { "::/128", 1 },
    { "::/129", 0 }, { "192.0.2.0/", 0 }, { "192.0.2.0/-1", 0 },
    { "example.net", 0 }, { "192.0.2.256", 0 },
};

static const struct {
    const char *list, *rcpt;
    int want;
} trap_cases[] = {
    { "trap@example.net", "<trap@example.net>", 1 },
    { "trap@example.net", "TRAP@Example.NET", 1 },
    { "trap@example.net", "<trap2@example.net>", 0 },
    { "@traps.example.org", "<anyone@traps.example.org>", 1 },
    { "@traps.example.org", "<anyone@x.traps.example.org>", 0 },
    { "a@b, @c.d", "<z@c.d>", 1 },
    { "a@b", "<>", 0 },
};

static void
check_addr(void)
{
    struct addr_netlist nl;
    char err[128], list[2048];

    for (size_t i = 0; i < sizeof(net_cases) / sizeof(net_cases[0]); i++) {
        struct sockaddr_storage ss = t_sa(net_cases[i].ip);

        ok(addr_netlist_parse(net_cases[i].list, &nl, err, sizeof(err)) ==
                   0 &&
               addr_netlist_match(&nl, (struct sockaddr *)&ss) ==
                   net_cases[i].want,
           "%s in [%s]: %d", net_cases[i].ip, net_cases[i].list,
           net_cases[i].want);
    }
    for (size_t i = 0;
         i < sizeof(net_parse_cases) / sizeof(net_parse_cases[0]); i++)
        ok((addr_netlist_parse(net_parse_cases[i].list, &nl, err,
                               sizeof(err)) == 0) == net_parse_cases[i].ok,
           "netlist '%s' %s", net_parse_cases[i].list,
           net_parse_cases[i].ok ? "parses" : "refused");
    list[0] = '\0';
    for (int i = 0; i < ADDR_MAX_NETS; i++)
        strcat(list, "10.0.0.1,");
    ok(addr_netlist_parse(list, &nl, err, sizeof(err)) == 0 &&
           nl.n == ADDR_MAX_NETS,
       "N = %d networks parse", ADDR_MAX_NETS);
    strcat(list, "10.0.0.2");
    ok(addr_netlist_parse(list, &nl, err, sizeof(err)) != 0,
       "N + 1 networks refused: %s", err);
    ok(addr_netlist_match(NULL, NULL) == 0, "NULL matches nothing");
    for (size_t i = 0; i < sizeof(trap_cases) / sizeof(trap_cases[0]); i++)
        is_int(addr_trap_match(trap_cases[i].list, trap_cases[i].rcpt),
               trap_cases[i].want, "trap %s in [%s]", trap_cases[i].rcpt,
               trap_cases[i].list);
    ok(addr_traps_check("a@b.c, @d.e", err, sizeof(err)) == 0,
       "traps parse");
    ok(addr_traps_check("a@b@c", err, sizeof(err)) != 0 &&
           addr_traps_check("nobody", err, sizeof(err)) != 0 &&
           addr_traps_check("a@", err, sizeof(err)) != 0 &&
           addr_traps_check("<a@b>", err, sizeof(err)) != 0,
       "bad traps refused: %s", err);
}

/* check_key_hex - learn_key_hex() spells what "%016llx" does, cut as
 * snprintf() cuts */
static void
check_key_hex(void)
{
    static const uint64_t ks[] = { 0, 1, 0xabcULL, 0x0123456789abcdefULL,
                                   0xfedcba9876543210ULL, UINT64_MAX,
                                   0x8000000000000000ULL };
    char hex[LEARN_KEY_HEX + 1], want[LEARN_KEY_HEX + 1];
    uint64_t k = 0x9e3779b97f4a7c15ULL;
    int bad = 0;

    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        learn_key_hex(ks[i], hex, sizeof(hex));
        snprintf(want, sizeof(want), "%016llx", (unsigned long long)ks[i]);
        is_str(hex, want, "key %zu in hex", i);
    }
    for (int i = 0; i < 10000; i++) {
        k = util_mix64(k + (uint64_t)i);
        learn_key_hex(k, hex, sizeof(hex));
        snprintf(want, sizeof(want), "%016llx", (unsigned long long)k);
        bad += strcmp(hex, want) != 0;
    }
    is_int(bad, 0, "10,000 mixed keys as printf spells them");
    memset(hex, 'x', sizeof(hex));
    learn_key_hex(0xabcULL, hex, 5);
    is_str(hex, "0000", "cut to len - 1 digits");
    ok(hex[5] == 'x', "nothing written past len");
    hex[0] = 'y';
    learn_key_hex(1, hex, 0);
    ok(hex[0] == 'y', "len 0 writes nothing");
}

static void
check_keys(void)
{
    char id[LEARN_MAX_MSGID + 1], hex[LEARN_KEY_HEX + 1], *big;
    uint64_t keys[LEARN_MAX_REFS];
    struct hdr_result r;

    ok(learn_msgid(" <abc@example.org> (comment)", id, sizeof(id)) == 0 &&
           strcmp(id, "abc@example.org") == 0,
       "Message-ID in angle brackets: %s", id);
    ok(learn_msgid(" bare@example.org \r\n", id, sizeof(id)) == 0 &&
           strcmp(id, "bare@example.org") == 0,
       "Message-ID without brackets: %s", id);
    ok(learn_msgid("<>", id, sizeof(id)) != 0 &&
           learn_msgid("<a b@c>", id, sizeof(id)) != 0,
       "empty or blank ids refused");
    big = xmalloc(LEARN_MAX_MSGID + 4);
    big[0] = '<';
    memset(big + 1, 'a', LEARN_MAX_MSGID);
    strcpy(big + 1 + LEARN_MAX_MSGID, ">");
    ok(learn_msgid(big, id, sizeof(id)) == 0, "an id of N bytes");
    strcpy(big + LEARN_MAX_MSGID, "aa>");
    ok(learn_msgid(big, id, sizeof(id)) != 0, "an id of N + 1 refused");
    free(big);
    {
        /* every byte at every place of ids of 1-40 bytes: refused unless
         * '!' .. '~' (the 16-byte steps and the tail alike); '>' would
         * end the id there */
        size_t wrong = 0, tried = 0;
        char v[48];

        for (size_t n = 1; n <= 40; n++)
            for (size_t at = 0; at < n; at++)
                for (int b = 1; b < 256; b += 1 + (b + 1 == '>')) {
                    int want = b > 32 && b < 127;

                    v[0] = '<';
                    memset(v + 1, 'x', n);
                    v[1 + at] = (char)b;
                    strcpy(v + 1 + n, ">");
                    tried++;
                    wrong += (learn_msgid(v, id, sizeof(id)) == 0) != want;
                }
        ok(wrong == 0, "ids of 1-40 bytes, every byte at every place: "
           "only '!' .. '~' accepted (%zu cases, %zu wrong)", tried, wrong);
    }
    ok(learn_key_msgid("a@b") == learn_key_msgid("a@b") &&
           learn_key_msgid("a@b") != learn_key_msgid("a@c") &&
           learn_key_msgid("a@b") != 0,
       "message keys: stable, distinct, never 0");
    learn_key_hex(0xabcULL, hex, sizeof(hex));
    is_str(hex, "0000000000000abc", "key in hex");
    check_key_hex();
    hdr_result_init(&r);
    r.upstream = HDR_UPSTREAM_SA;
    r.score = 1.0;
    ok(learn_key_content(&r) != learn_key_msgid("x"),
       "content key differs");
    is_int(learn_refs("<p@x>", "<a@x> <b@x>\n\t<p@x>", keys), 3,
           "In-Reply-To plus References, without repeats");
    ok(keys[0] == learn_key_msgid("p@x") && keys[1] == learn_key_msgid("b@x")
           && keys[2] == learn_key_msgid("a@x"),
       "the newest References first");
    {
        char refs[2048] = "";

        for (int i = 0; i < 20; i++)
            snprintf(refs + strlen(refs), sizeof(refs) - strlen(refs),
                     "<r%d@x> ", i);
        is_int(learn_refs(NULL, refs, keys), LEARN_MAX_REFS,
               "at most LEARN_MAX_REFS ids");
        ok(keys[0] == learn_key_msgid("r19@x"), "... the newest");
    }
    is_int(learn_refs(NULL, "no ids here", keys), 0, "no ids");
}

static void
check_reports(void)
{
    static const struct {
        const char *rec;
        enum learn_report_status want;
        int spam;
    } cases[] = {
        { "NMREPORT 1\nverdict: spam\nreporter: alice@example.net\n\n"
          "X-Spam-Status: No\n", LEARN_REPORT_OK, 1 },
        { "NMREPORT 1\r\nverdict: ham\r\nreporter: bob\r\n\r\nX: y\r\n",
          LEARN_REPORT_FORMAT, 0 }, /* the magic has no CR */
        { "NMREPORT 1\nverdict: ham\nreporter: bob\r\n\r\nX: y\n",
          LEARN_REPORT_OK, 0 },
        { "NMREPORT 2\nverdict: spam\n", LEARN_REPORT_FORMAT, 0 },
        { "NMREPORT 1\nverdict: maybe\nreporter: a\n\n",
          LEARN_REPORT_VERDICT, 0 },
        { "NMREPORT 1\nverdict: spam\nreporter: \n\n",
          LEARN_REPORT_REPORTER, 0 },
        { "NMREPORT 1\nverdict: spam\nreporter: a b\n\n",
          LEARN_REPORT_REPORTER, 0 },
        { "NMREPORT 1\nverdict: spam\nreporter: a\nX: y\n",
          LEARN_REPORT_FORMAT, 0 },
    };
    struct learn_report r;
    char err[128], *rec;
    size_t n;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum learn_report_status s = learn_report_parse(
            cases[i].rec, strlen(cases[i].rec), &r, err, sizeof(err));

        ok(s == cases[i].want && (s != LEARN_REPORT_OK ||
                                  r.spam == cases[i].spam),
           "report %zu: %s (%s)", i, learn_report_status_name(s),
           s == LEARN_REPORT_OK ? r.reporter : err);
    }
    /* a reporter of N and N + 1 bytes; a record of N and N + 1 bytes */
    rec = xmalloc(LEARN_REPORT_MAX + 2);
    n = (size_t)snprintf(rec, 512, "NMREPORT 1\nverdict: ham\nreporter: ");
    memset(rec + n, 'r', LEARN_MAX_REPORTER);
    strcpy(rec + n + LEARN_MAX_REPORTER, "\n\n");
    ok(learn_report_parse(rec, strlen(rec), &r, err, sizeof(err)) ==
           LEARN_REPORT_OK && strlen(r.reporter) == LEARN_MAX_REPORTER,
       "a reporter of N bytes");
    memset(rec + n, 'r', LEARN_MAX_REPORTER + 1);
    strcpy(rec + n + LEARN_MAX_REPORTER + 1, "\n\n");
    is_int(learn_report_parse(rec, strlen(rec), &r, err, sizeof(err)),
           LEARN_REPORT_REPORTER, "a reporter of N + 1 bytes refused");
    n = strlen(rec);
    memset(rec + n, 'x', LEARN_REPORT_MAX + 1 - n);
    is_int(learn_report_parse(rec, LEARN_REPORT_MAX, &r, err, sizeof(err)),
           LEARN_REPORT_REPORTER, "a record of N bytes is read");
    is_int(learn_report_parse(rec, LEARN_REPORT_MAX + 1, &r, err,
                              sizeof(err)),
           LEARN_REPORT_FORMAT, "a record of N + 1 bytes refused");
    free(rec);
    {
        const char msg[] = "Message-ID: <m1@x>\nX-Spam-Status: Yes, "
                           "score=9.0 required=5.0 tests=A,\n\tB "
                           "autolearn=no\n\nbody\nMessage-ID: <no@x>\n";
        struct hdr_seen seen;
        char id[LEARN_MAX_MSGID + 1];

        memset(&seen, 0, sizeof(seen));
        learn_message_scan(msg, strlen(msg), &seen, id, sizeof(id));
        ok(strcmp(id, "m1@x") == 0 && seen.n_spam_status == 1,
           "scan: the header block's Message-ID and scanner header");
        hdr_seen_free(&seen);
    }
}

int
main(void)
{
    check_addr();
    check_keys();
    check_reports();
    return exit_status();
}
