/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * t_cfg - the config loader over the files in t/data/cfg/: good files
 * load with the values they say, each bad file gives exactly the
 * "PATH:LINE: ..." lines expected, cfg_dump() reads back as the same
 * values, and the snapshot helpers (refcount, current, restart keys,
 * hidden layers, spam actions) do what cfg.h says. Data is found through
 * $top_srcdir ("." when unset).
 */
#include "config.h"
#include "cfg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hdr.h"
#include "log.h"
#include "util.h"
#include "../tap.h"
#include "xmalloc.h"

#define ERRLEN 8192
#define NKEYS 63   /* keys in cfg_defs[] */
#define NSECTIONS 9 /* sections they are in */

/* 59 times 'a': values of 60 bytes are quoted whole, longer ones cut */
#define Q59                                                                  \
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static char srcdir[1024];

struct want {
    int line;
    const char *word;
};

/* One bad file: the exact lines of err, in order (n < 0: one line per
 * "key = value" line of the file, each with w[0].word). */
struct bad_case {
    const char *file;
    int n;
    struct want w[10];
};

static const struct bad_case bad_cases[] = {
    { "unknown_section.ini", 1, { { 3, "unknown section [bogus]" } } },
    { "unknown_key.ini", 1,
      { { 3, "unknown key 'sokcet' in section [milter]" } } },
    { "bad_number.ini", 3,
      { { 2, "[redis] db: bad value 'seven' (expected an integer in "
             "0..1024)" },
        { 4, "[train] threshold: bad value '10x'" },
        { 5, "[train] max_epochs: bad value ''" } } },
    { "bad_double.ini", 2,
      { { 2, "[score] spam_weight: bad value 'five' (expected a number "
             "in 0..100)" },
        { 3, "[score] ham_weight: bad value" } } },
    { "bad_enum.ini", 2,
      { { 2, "[milter] on_error: bad value 'reject' (expected one of "
             "accept, tempfail)" },
        { 4, "expected one of auto, rspamd, spamassassin" } } },
    { "bad_duration.ini", 3,
      { { 2, "[redis] timeout: bad value '500 us' (expected a duration" },
        { 3, "[redis] connect_timeout: bad value 'fast'" },
        { 4, "[redis] watch_interval: bad value '-5s'" } } },
    { "learn_bad.ini", 3,
      { { 2, "[milter] skip_networks: bad value '10.0.0.0/33': bad prefix "
             "length '/33'" },
        { 4, "[learn] local_networks: bad value '10.0.0.1, example.net': "
             "'example.net' is not an IPv4 or IPv6 address" },
        { 5, "[learn] spamtrap_recipients: bad value 'trap': 'trap' is "
             "neither user@domain nor @domain" } } },
    { "bad_bool.ini", 2,
      { { 2, "[train] enabled: bad value 'maybe' (expected yes/no" },
        { 3, "[train] autolearn: bad value '2'" } } },
    { "bad_octal.ini", 1,
      { { 2, "[milter] umask: bad value '008' (expected an octal number "
             "in 000..777)" } } },
    { "duplicate.ini", 1,
      { { 6, "duplicate key 'db' in section [redis] (first on line 2)" } } },
    { "outside.ini", 1, { { 1, "key 'db' outside any section" } } },
    { "syntax.ini", 4,
      { { 3, "syntax error: expected 'key = value'" },
        { 5, "syntax error: expected 'key = value'" },
        { 6, "syntax error: no ']'" },
        { 8, "syntax error: text after ']'" } } },
    { "nul.ini", 1, { { 2, "line contains a NUL byte" } } },
    { "line200.ini", 2,
      { { 2, "line too long (200 bytes, at most 199)" },
        { 3, "[redis] db: value '5000' is out of range" } } },
    { "line200_noeol.ini", 1, { { 3, "line too long (200 bytes" } } },
    { "over_max.ini", -1, { { 0, "is out of range (expected" } } },
    { "under_min.ini", -1, { { 0, "is out of range (expected" } } },
    { "overflow.ini", 2,
      { { 2, "[redis] db: bad value '99999999999999999999999'" },
        { 4, "[train] spam_score: bad value '1e999'" } } },
    { "ham_ge_spam.ini", 1,
      { { 4, "[train] ham_score (5) must be below spam_score (5)" } } },
    { "ham_gt_default_spam.ini", 1,
      { { 2, "ham_score (20) must be below spam_score (15)" } } },
    { "layers_bad.ini", 1,
      { { 2, "[model] hidden_layers: bad value '129' (expected auto, N "
             "or N,M with sizes in 1..128)" } } },
    { "layers_three.ini", 1, { { 2, "hidden_layers: bad value '8,4,2'" } } },
    { "ignore_65.ini", 1,
      { { 2, "[model] ignore_symbols: bad value 'a b c" } } },
    { "ignore_long.ini", 1,
      { { 2, "[model] ignore_symbols: bad value 'X AAAA" } } },
    { "ignore_bad.ini", 1,
      { { 2, "[model] ignore_symbols: bad value '*_FAIL, BAD-NAME': bad "
             "pattern 'BAD-NAME' (expected symbol names and patterns" } } },
    { "ignore_bang.ini", 1, { { 2, "bad pattern '!'" } } },
    { "thresholds_many.ini", 1,
      { { 2, "[score] thresholds: bad value '1,2,3,4' (expected empty or "
             "up to 3 numbers" } } },
    { "thresholds_bad.ini", 1,
      { { 2, "[score] thresholds: bad value '6,,15'" } } },
    { "layers_zero.ini", 1, { { 2, "hidden_layers: bad value '0,8'" } } },
    { "layers_junk.ini", 1,
      { { 2, "hidden_layers: bad value 'automatic'" } } },
    { "prefix_long.ini", 1,
      { { 2, "[redis] prefix: bad value 'aaaa" } } },
    { "quote60.ini", 1,
      { { 2, "bad value '" Q59 "/' (expected" } } },
    { "quote61.ini", 1,
      { { 2, "bad value '" Q59 "a...' (expected" } } },
    { "prefix_char.ini", 1,
      { { 2, "[redis] prefix: bad value 'nm/x' (expected 1..64 "
             "characters" } } },
    { "prefix_empty.ini", 1, { { 2, "[redis] prefix: bad value ''" } } },
    { "socket_port0.ini", 1,
      { { 2, "[milter] socket: bad value 'inet:0@127.0.0.1': bad port" } } },
    { "socket_port65536.ini", 1, { { 2, "bad port (expected unix:/path" } } },
    { "socket_kind.ini", 1,
      { { 2, "bad value '/run/nm.sock': unknown socket kind" } } },
    { "socket_nopath.ini", 1, { { 2, "no path after unix:" } } },
    { "socket_nohost.ini", 1, { { 2, "no host after '@'" } } },
    { "holdout_zero.ini", 1,
      { { 2, "[train] holdout: value '0' is out of range (expected a "
             "number in (0, 0.5])" } } },
    { "target_fpr_high.ini", 1,
      { { 2, "[train] target_fpr: value '0.3' is out of range "
             "(expected a number in (0, 0.2])" } } },
    { "actions_bad.ini", 1,
      { { 2, "[train] spam_actions: bad value 'reject, discard': unknown "
             "action 'discard' (expected a comma-separated list of Rspamd "
             "actions" } } },
    { "actions_hole.ini", 1, { { 2, "empty action in the list" } } },
    { "facility_bad.ini", 1,
      { { 2, "[milter] syslog_facility: bad value 'local8' (expected a "
             "syslog facility" } } },
    { "log_level_bad.ini", 1,
      { { 2, "[milter] log_level: bad value 'notice' (expected one of "
             "err, warn, info, debug)" } } },
    { "header_colon.ini", 1,
      { { 2, "[header] name: bad value 'X-Bad:Name' (expected a header "
             "field name" } } },
    { "header_space.ini", 1,
      { { 2, "[header] adjusted_name: bad value 'X Bad'" } } },
    { "header_long.ini", 1, { { 2, "[header] name: bad value 'X---" } } },
    { "listen_noport.ini", 1,
      { { 2, "[metrics] listen: bad value '9357': want HOST:PORT (an IPv6 "
             "address goes in brackets) (expected empty, HOST:PORT or "
             "[ADDRESS]:PORT with PORT in 1..65535)" } } },
    { "listen_v6.ini", 1,
      { { 2, "[metrics] listen: bad value '::1:9357': want HOST:PORT" } } },
    { "listen_port0.ini", 1,
      { { 2, "[metrics] listen: bad value 'localhost:0': bad port" } } },
    { "listen_bracket.ini", 1,
      { { 2, "[metrics] listen: bad value '[::1]9357': want "
             "[ADDRESS]:PORT" } } },
    { "listen_host.ini", 1,
      { { 2, "[metrics] listen: bad value 'local host:80': bad host" } } },
    { "master_bad.ini", 1,
      { { 2, "[redis] sentinel_master: bad value 'my master' (expected a "
             "Sentinel master name" } } },
    { "servers_empty.ini", 1,
      { { 2, "[redis] servers: bad value '': empty" } } },
    { "multi.ini", 9,
      { { 1, "key 'key' outside any section" },
        { 3, "[milter] on_error: bad value 'maybe'" },
        { 4, "[milter] socket: bad value 'tcp:25': unknown socket kind" },
        { 5, "unknown section [nosuch]" },
        { 8, "[redis] db: value '2000' is out of range" },
        { 9, "unknown key 'dbb' in section [redis]" },
        { 10, "duplicate key 'db' in section [redis] (first on line 8)" },
        { 12, "[train] holdout: value '0.9' is out of range" },
        { 13, "ham_score (100) must be below spam_score (15)" } } },
};

/* Files that load, each checked further below or by dump round trip. */
static const char *const good_files[] = {
    "good.ini", "defaults.ini", "empty.ini", "crlf.ini", "line199.ini",
    "line199_crlf.ini", "edges_max.ini", "edges_min.ini", "layers_ok.ini",
    "prefix_ok.ini", "socket_ok.ini", "socket_local_ok.ini",
    "actions_ok.ini", "actions_empty.ini", "header_64.ini",
    "enum_case.ini", "listen_ok.ini", "ignore_ok.ini", "ignore_64.ini",
    "thresholds_ok.ini",
};

/* data_path - t/data/cfg/name under the source tree */
static void
data_path(const char *name, char *buf, size_t len)
{
    snprintf(buf, len, "%s/t/data/cfg/%s", srcdir, name);
}

/* load - cfg_load() a data file; err gets the messages */
static struct cfg *
load(const char *name, char *err, size_t errlen)
{
    char path[1200];

    data_path(name, path, sizeof(path));
    return cfg_load(path, err, errlen);
}

/* count_lines - lines of text */
static int
count_lines(const char *s)
{
    int n = 0;

    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* nth_line - copy line i (0-based) of s into buf, "" when missing */
static void
nth_line(const char *s, int i, char *buf, size_t len)
{
    const char *e;

    for (; i > 0 && s; i--) {
        s = strchr(s, '\n');
        if (s)
            s++;
    }
    if (s == NULL) {
        buf[0] = '\0';
        return;
    }
    e = strchr(s, '\n');
    snprintf(buf, len, "%.*s", e ? (int)(e - s) : (int)strlen(s), s);
}

/* key_lines - numbers of the "key = value" lines of a file */
static int
key_lines(const char *path, int *lines, int max)
{
    char buf[512];
    FILE *fp;
    int n = 0, no = 0;
    size_t skip;

    fp = fopen(path, "r");
    if (fp == NULL)
        return -1;
    while (fgets(buf, sizeof(buf), fp)) {
        no++;
        skip = strspn(buf, " \t");
        if (buf[skip] != '#' && buf[skip] != ';' && strchr(buf, '=') &&
            n < max)
            lines[n++] = no;
    }
    fclose(fp);
    return n;
}

/* check_bad - one bad file: NULL and exactly the wanted err lines */
static void
check_bad(const struct bad_case *bc)
{
    char err[ERRLEN], path[1200], prefix[1300], line[2048];
    struct want w[32];
    int lines[32], n = bc->n;
    struct cfg *c;

    data_path(bc->file, path, sizeof(path));
    c = cfg_load(path, err, sizeof(err));
    ok(c == NULL, "%s: rejected", bc->file);
    cfg_release(c);
    if (n < 0) {
        n = key_lines(path, lines, 32);
        for (int i = 0; i < n; i++) {
            w[i].line = lines[i];
            w[i].word = bc->w[0].word;
        }
    } else {
        memcpy(w, bc->w, sizeof(bc->w));
    }
    if (!ok(count_lines(err) == n, "%s: %d problem(s) reported", bc->file,
            n))
        diag("err:\n%s", err);
    for (int i = 0; i < n; i++) {
        nth_line(err, i, line, sizeof(line));
        snprintf(prefix, sizeof(prefix), "%s:%d: ", path, w[i].line);
        if (!ok(strncmp(line, prefix, strlen(prefix)) == 0 &&
                    strstr(line, w[i].word) != NULL,
                "%s: line %d: %s", bc->file, w[i].line, w[i].word))
            diag("got: %s", line);
    }
}

/* dump_text - cfg_dump() output without its first (comment) line */
static char *
dump_text(const struct cfg *c)
{
    char *buf = NULL, *nl, *s;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    cfg_dump(c, fp);
    fclose(fp);
    nl = strchr(buf, '\n');
    s = xstrdup(nl ? nl + 1 : "");
    free(buf);
    return s;
}

/* check_roundtrip - dump, load the dump, dump again: same text */
static void
check_roundtrip(const char *name, const char *tmpdir)
{
    char err[ERRLEN], path[1200];
    struct cfg *a, *b;
    char *ta, *tb;
    FILE *fp;

    a = load(name, err, sizeof(err));
    if (!ok(a != NULL, "%s: loads", name)) {
        diag("err:\n%s", err);
        return;
    }
    snprintf(path, sizeof(path), "%s/dump.ini", tmpdir);
    fp = fopen(path, "w");
    cfg_dump(a, fp);
    fclose(fp);
    b = cfg_load(path, err, sizeof(err));
    if (!ok(b != NULL, "%s: its dump loads", name))
        diag("err:\n%s", err);
    if (b) {
        ta = dump_text(a);
        tb = dump_text(b);
        is_str(tb, ta, "%s: dump reads back as the same values", name);
        is_int(count_lines(ta) - NSECTIONS * 2, NKEYS, "%s: dump has every key",
               name);
        is_dbl(b->spam_weight, a->spam_weight, 0, "%s: spam_weight exact",
               name);
        is_dbl(b->holdout, a->holdout, 0, "%s: holdout exact", name);
        free(ta);
        free(tb);
    }
    unlink(path);
    cfg_release(a);
    cfg_release(b);
}

/* check_good - the values of good.ini, every key off its default */
static void
check_good(void)
{
    char err[ERRLEN];
    struct cfg *c = load("good.ini", err, sizeof(err));
    unsigned sizes[2];

    if (!ok(c != NULL, "good.ini loads")) {
        diag("err:\n%s", err);
        return;
    }
    is_str(err, "", "good.ini: err is empty");
    is_str(c->socket, "inet:8891@127.0.0.1", "socket");
    is_str(c->user, "nmilter", "user");
    is_str(c->group, "postfix", "group");
    is_int(c->umask, 027, "umask is octal");
    is_str(c->pidfile, "/tmp/nm.pid", "pidfile");
    is_int(c->on_error, CFG_ON_ERROR_TEMPFAIL, "on_error");
    is_int(c->log_level, LOG_LEVEL_DEBUG, "log_level");
    is_str(c->syslog_facility, "local3", "syslog_facility");
    is_int(c->upstream_format, HDR_FORMAT_SA, "format = enum hdr_format");
    is_int(c->upstream_trust, HDR_TRUST_LAST, "trust = enum hdr_trust");
    is_str(c->header_name, "X-NM-Test", "header name");
    is_str(c->adjusted_name, "X-NM-Adjusted", "adjusted_name");
    is_str(c->redis_servers, "/run/redis/redis.sock,127.0.0.1:6380",
           "servers");
    is_str(c->redis_read_servers, "127.0.0.1:6381", "read_servers");
    is_str(c->redis_password, "s3cr ;et #x",
           "password keeps ';' and '#' (no inline comments)");
    is_int(c->redis_db, 7, "indented key is a key, not a continuation");
    is_str(c->redis_prefix, "nm.test:1", "prefix");
    is_int(c->redis_timeout_ms, 250, "timeout 250ms");
    is_int(c->redis_connect_timeout_ms, 2000, "connect_timeout 2s");
    is_int(c->watch_interval_ms, 300000, "watch_interval 5m");
    is_str(c->redis_sentinels, "127.0.0.1:26379, [::1]:26380, "
           "/run/sentinel.sock", "sentinels");
    is_str(c->redis_sentinel_master, "nm-primary.1", "sentinel_master");
    is_str(c->redis_sentinel_password, "s3nt ;inel", "sentinel_password");
    is_str(c->metrics_listen, "127.0.0.1:9357", "[metrics] listen");
    is_dbl(c->spam_weight, 7.5, 0, "spam_weight");
    is_dbl(c->ham_weight, -2.25, 0, "ham_weight");
    is_str(c->hidden_layers, "16,8", "hidden_layers");
    is_int(c->train_enabled, 0, "enabled = no");
    is_int(c->autolearn, 0, "autolearn = off");
    is_int(c->threshold, 500, "threshold");
    is_int(c->max_iterations, 20, "max_iterations");
    is_int(c->max_examples, 5000, "max_examples");
    is_int(c->min_class, 10, "min_class");
    is_dbl(c->spam_score, 10, 0, "spam_score");
    is_dbl(c->ham_score, -1.5, 0, "ham_score");
    is_str(c->spam_actions, "reject, soft reject", "spam_actions");
    is_dbl(c->holdout, 0.2, 0, "holdout");
    is_dbl(c->target_fpr, 0.01, 0, "target_fpr");
    is_int(c->max_epochs, 300, "max_epochs");
    is_int(c->score_enabled, 0, "[score] enabled");
    is_int(c->check_interval_ms, 300000, "check_interval");
    is_int(c->lock_ttl_ms, 120000, "lock_ttl");
    is_dbl(c->profile_change, 0.2, 1e-12, "profile_change");
    is_int(c->profile_grace_ms, 172800000, "profile_grace");
    is_int(c->train_memory_limit, 256L << 20, "memory_limit 256MiB");
    is_int(c->queue_size, 500, "queue_size");
    is_int(c->skip_authenticated, 0, "skip_authenticated");
    is_str(c->skip_networks, "192.0.2.0/24, 2001:db8::/32", "skip_networks");
    is_int(c->require_queue_id, 0, "require_queue_id");
    is_str(c->redis_username, "nm-milter", "username");
    is_int(c->spam_min_positive, 0, "spam_min_positive");
    is_str(c->junk_actions, "add header, rewrite subject", "junk_actions");
    is_int(c->junk_min_positive, 5, "junk_min_positive");
    is_str(c->ham_actions, "", "ham_actions empty");
    is_int(c->ham_min_negative, 0, "ham_min_negative");
    is_int(c->max_reports_per_day, 0, "max_reports_per_day");
    is_int(c->replies, 0, "replies");
    is_str(c->local_networks, "10.0.0.0/8 ::1", "local_networks");
    is_int(c->replies_window_ms, 7L * 86400000, "replies_window 7d");
    is_int(c->replies_max, 1000, "replies_max");
    is_str(c->spamtrap_recipients, "trap@example.net, @traps.example.org",
           "spamtrap_recipients");
    ok(strstr(c->path, "good.ini") != NULL, "path remembered");
    is_int(cfg_hidden_layers(c, 100, sizes), 2, "16,8: two layers");
    ok(sizes[0] == 16 && sizes[1] == 8, "16,8: sizes");
    is_int(atomic_load(&c->refs), 1, "a loaded snapshot has one reference");
    cfg_release(c);
}

/* check_defaults - cfg_defaults() values, and files that change nothing */
static void
check_defaults(void)
{
    static const char *const same[] = { "defaults.ini", "empty.ini" };
    char err[ERRLEN], path[1200];
    int lines[64];
    struct cfg *d = cfg_defaults(), *c;
    char *td = dump_text(d), *tc;

    is_str(d->socket, "unix:/run/neural-milter/neural-milter.sock",
           "default socket");
    is_str(d->user, "", "default user");
    is_int(d->umask, 07, "default umask 007");
    is_str(d->pidfile, "/run/neural-milter/neural-milter.pid",
           "default pidfile");
    is_int(d->on_error, CFG_ON_ERROR_ACCEPT, "default on_error");
    is_int(d->log_level, LOG_LEVEL_INFO, "default log_level");
    is_str(d->syslog_facility, "mail", "default syslog_facility");
    is_int(d->upstream_format, HDR_FORMAT_AUTO, "default format");
    is_int(d->upstream_trust, HDR_TRUST_SINGLE, "default trust");
    is_str(d->header_name, "X-Neural-Result", "default header name");
    is_str(d->adjusted_name, "", "default adjusted_name");
    is_str(d->redis_servers, "127.0.0.1:6379", "default servers");
    is_int(d->redis_db, 0, "default db");
    is_str(d->redis_prefix, "nm", "default prefix");
    is_int(d->redis_timeout_ms, 500, "default timeout");
    is_int(d->redis_connect_timeout_ms, 500, "default connect_timeout");
    is_int(d->watch_interval_ms, 10000, "default watch_interval");
    is_dbl(d->spam_weight, 5, 0, "default spam_weight");
    is_dbl(d->ham_weight, -3, 0, "default ham_weight");
    is_str(d->hidden_layers, "auto", "default hidden_layers");
    ok(d->train_enabled == 1 && d->autolearn == 1, "default train bools");
    ok(d->threshold == 1000 && d->max_iterations == 10 &&
           d->max_examples == 20000 && d->min_class == 50 &&
           d->max_epochs == 500,
       "default train integers");
    ok(d->spam_score == 15 && d->ham_score == 0 && d->holdout == 0.1 &&
           d->target_fpr == 0.005,
       "default train numbers");
    is_str(d->spam_actions, "reject", "default spam_actions");
    ok(d->skip_authenticated == 1 && d->require_queue_id == 1 &&
           d->replies == 1,
       "default skip_authenticated, require_queue_id, replies");
    ok(d->spam_min_positive == 2 && d->junk_min_positive == 3 &&
           d->ham_min_negative == 4,
       "default autolearn counts");
    is_str(d->junk_actions, "", "default junk_actions: none");
    is_str(d->ham_actions, "no action", "default ham_actions");
    ok(d->max_reports_per_day == 200 && d->replies_max == 200000 &&
           d->replies_window_ms == 14L * 86400000,
       "default report cap, replies_max, replies_window");
    ok(d->skip_networks[0] == '\0' && d->local_networks[0] == '\0' &&
           d->spamtrap_recipients[0] == '\0' && d->redis_username[0] == '\0',
       "default lists empty");

    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        c = load(same[i], err, sizeof(err));
        if (!ok(c != NULL, "%s loads", same[i]))
            continue;
        tc = dump_text(c);
        is_str(tc, td, "%s: every key at its default", same[i]);
        free(tc);
        cfg_release(c);
    }

    /* the shipped sample must be the defaults, spelled out */
    snprintf(path, sizeof(path), "%s/etc/neural-milter.ini", srcdir);
    c = cfg_load(path, err, sizeof(err));
    if (!ok(c != NULL, "etc/neural-milter.ini loads"))
        diag("err:\n%s", err);
    is_int(key_lines(path, lines, 64), NKEYS,
           "etc/neural-milter.ini: names every key");
    if (c) {
        tc = dump_text(c);
        is_str(tc, td, "etc/neural-milter.ini: every key at its default");
        free(tc);
        cfg_release(c);
    }
    free(td);
    cfg_release(d);
}

/* check_edges - limits at N load with the values N */
static void
check_edges(void)
{
    char err[ERRLEN];
    struct cfg *c;

    c = load("edges_max.ini", err, sizeof(err));
    if (ok(c != NULL, "edges_max.ini: every maximum accepted")) {
        ok(c->umask == 0777 && c->redis_db == 1024 &&
               c->redis_timeout_ms == 60000 &&
               c->redis_connect_timeout_ms == 60000 &&
               c->watch_interval_ms == 3600000,
           "edges_max: milter and redis values");
        ok(c->spam_weight == 100 && c->ham_weight == 0 &&
               c->threshold == 10000000 && c->max_iterations == 1000 &&
               c->max_examples == 10000000 && c->min_class == 1000000 &&
               c->spam_score == 1000 && c->holdout == 0.5 &&
               c->target_fpr == 0.2 && c->max_epochs == 100000,
           "edges_max: score and train values");
        ok(c->check_interval_ms == 86400000 && c->lock_ttl_ms == 3600000 &&
               c->profile_change == 1 &&
               c->profile_grace_ms == 86400000000L &&
               c->train_memory_limit == 1L << 40 &&
               c->queue_size == 1000000,
           "edges_max: trainer values");
    } else {
        diag("err:\n%s", err);
    }
    cfg_release(c);
    c = load("edges_min.ini", err, sizeof(err));
    if (ok(c != NULL, "edges_min.ini: every minimum accepted")) {
        ok(c->umask == 0 && c->redis_db == 0 && c->redis_timeout_ms == 10 &&
               c->redis_connect_timeout_ms == 10 &&
               c->watch_interval_ms == 100,
           "edges_min: milter and redis values");
        ok(c->spam_weight == 0 && c->ham_weight == -100 &&
               c->threshold == 1 && c->max_iterations == 1 &&
               c->max_examples == 100 && c->min_class == 1 &&
               c->ham_score == -1000 && c->max_epochs == 1,
           "edges_min: score and train values");
        ok(c->check_interval_ms == 100 && c->lock_ttl_ms == 1000 &&
               c->profile_grace_ms == 1000 &&
               c->train_memory_limit == 32L << 20 && c->queue_size == 1,
           "edges_min: trainer values");
    } else {
        diag("err:\n%s", err);
    }
    cfg_release(c);
}

/* check_misc_good - the other files that must load */
static void
check_misc_good(void)
{
    char err[ERRLEN];
    struct cfg *c;

    for (size_t i = 0; i < sizeof(good_files) / sizeof(good_files[0]);
         i++) {
        c = load(good_files[i], err, sizeof(err));
        if (!ok(c != NULL, "%s loads", good_files[i]))
            diag("err:\n%s", err);
        cfg_release(c);
    }
    c = load("crlf.ini", err, sizeof(err));
    if (c) {
        is_int(c->redis_db, 3, "crlf.ini: value without the \\r");
        is_str(c->spam_actions, "reject", "crlf.ini: string without \\r");
    }
    cfg_release(c);
    c = load("line199.ini", err, sizeof(err));
    if (c)
        is_int(strlen(c->redis_password), 199 - 11,
               "line199.ini: the whole value arrives");
    cfg_release(c);
    c = load("enum_case.ini", err, sizeof(err));
    if (c) {
        is_int(c->upstream_format, HDR_FORMAT_RSPAMD,
               "enum names ignore case (RSPAMD)");
        is_int(c->log_level, LOG_LEVEL_WARN, "log_level WARN");
        is_int(c->on_error, CFG_ON_ERROR_ACCEPT, "on_error Accept");
    }
    cfg_release(c);
    c = load("header_64.ini", err, sizeof(err));
    if (c)
        is_int(strlen(c->header_name), 64, "header name of 64 accepted");
    cfg_release(c);
    c = load("prefix_ok.ini", err, sizeof(err));
    if (c)
        is_int(strlen(c->redis_prefix), 64, "prefix of 64 accepted");
    cfg_release(c);
}

/* check_files - missing file, a directory, a small err buffer */
static void
check_files(void)
{
    char err[ERRLEN], path[1200], want[1300], small[48];
    struct cfg *c;

    data_path("no-such-file.ini", path, sizeof(path));
    c = cfg_load(path, err, sizeof(err));
    ok(c == NULL, "missing file: NULL");
    snprintf(want, sizeof(want), "%s:0: cannot open: "
             "No such file or directory\n", path);
    is_str(err, want, "missing file: PATH:0: cannot open: strerror");

    snprintf(path, sizeof(path), "%s/t/data/cfg", srcdir);
    c = cfg_load(path, err, sizeof(err));
    ok(c == NULL, "a directory: NULL");
    snprintf(want, sizeof(want), "%s:0: cannot read: Is a directory\n",
             path);
    is_str(err, want, "a directory: PATH:0: cannot read");

    memset(small, 'x', sizeof(small));
    c = load("multi.ini", small, sizeof(small));
    ok(c == NULL, "small err buffer: still NULL");
    ok(memchr(small, '\0', sizeof(small)) != NULL, "small err: terminated");
    is_int(strlen(small), sizeof(small) - 1, "small err: filled");
    ok(strcmp(small + sizeof(small) - 5, "...\n") == 0,
       "small err: ends with ...");
    c = load("multi.ini", NULL, 0);
    ok(c == NULL, "no err buffer at all: still NULL");
}

/* restart_fn - collect "section.key" for check_restart */
static void
restart_fn(const char *section, const char *key, void *arg)
{
    char *buf = arg;
    size_t n = strlen(buf);

    snprintf(buf + n, 1024 - n, "%s.%s ", section, key);
}

/* check_restart - exactly the RESTART keys that differ */
static void
check_restart(void)
{
    char err[ERRLEN], got[1024];
    struct cfg *d = cfg_defaults(), *g = load("good.ini", err, sizeof(err));
    struct cfg *l = load("edges_max.ini", err, sizeof(err));

    got[0] = '\0';
    cfg_restart_keys(d, d, restart_fn, got);
    is_str(got, "", "restart keys: none between equal snapshots");
    got[0] = '\0';
    cfg_restart_keys(d, g, restart_fn, got);
    is_str(got,
           "milter.socket milter.user milter.group milter.umask "
           "milter.pidfile milter.syslog_facility redis.servers "
           "redis.read_servers redis.username redis.password redis.db "
           "redis.prefix redis.timeout redis.connect_timeout "
           "redis.watch_interval "
           "redis.sentinels redis.sentinel_master redis.sentinel_password "
           "train.queue_size metrics.listen ",
           "restart keys: all restart keys, no reload keys");
    got[0] = '\0';
    cfg_restart_keys(d, l, restart_fn, got);
    is_str(got,
           "milter.umask redis.db redis.timeout redis.connect_timeout "
           "redis.watch_interval train.queue_size ",
           "restart keys: only those changed (reload keys ignored)");
    cfg_release(d);
    cfg_release(g);
    cfg_release(l);
}

/* check_man - doc/neural-milter.ini.5 has an entry for every key, and
 * says "restart" exactly for the keys a reload cannot apply */
static void
check_man(void)
{
    char err[ERRLEN], path[1200], restart[1024], pat[128], sk[128];
    char section[32] = "", *man, *text, *line, *save = NULL, *hit, *eol;
    struct cfg *d = cfg_defaults(), *g = load("good.ini", err, sizeof(err));
    size_t n;
    FILE *fp;

    snprintf(path, sizeof(path), "%s/doc/neural-milter.ini.5", srcdir);
    fp = fopen(path, "r");
    if (!ok(fp != NULL && g != NULL, "man page and good.ini found")) {
        if (fp)
            fclose(fp);
        cfg_release(d);
        cfg_release(g);
        return;
    }
    man = xcalloc(1, 65536);
    n = fread(man, 1, 65535, fp);
    fclose(fp);
    ok(n > 0 && n < 65535, "man page read whole");
    restart[0] = '\0';
    cfg_restart_keys(d, g, restart_fn, restart);  /* good.ini: all differ */
    text = dump_text(d);
    for (line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        if (sscanf(line, "[%31[^]]]", section) == 1 || !strstr(line, " = "))
            continue;
        *strstr(line, " = ") = '\0';
        snprintf(pat, sizeof(pat), "\n.BR %s \" (", line);
        snprintf(sk, sizeof(sk), "%s.%s ", section, line);
        hit = strstr(man, pat);
        if (!ok(hit != NULL, "man page: entry for [%s] %s", section, line))
            continue;
        eol = strchr(hit + 1, '\n');
        if (eol)
            *eol = '\0';
        ok((strstr(hit, "restart") != NULL) == (strstr(restart, sk) != NULL),
           "man page: [%s] %s %s", section, line,
           strstr(restart, sk) ? "needs a restart" : "reloads");
        if (eol)
            *eol = '\n';
    }
    free(text);
    free(man);
    cfg_release(d);
    cfg_release(g);
}

/* refs_thread - acquire and release many times */
static void *
refs_thread(void *arg)
{
    for (int i = 0; i < 20000; i++)
        cfg_release(cfg_acquire(arg));
    return NULL;
}

/* check_refs - refcount, current snapshot */
static void
check_refs(void)
{
    struct cfg *a = cfg_defaults(), *b = cfg_defaults(), *g;
    pthread_t th[4];

    ok(cfg_acquire(a) == a, "acquire returns its argument");
    is_int(atomic_load(&a->refs), 2, "acquire: two references");
    cfg_release(a);
    is_int(atomic_load(&a->refs), 1, "release: one reference");
    ok(cfg_acquire(NULL) == NULL, "acquire(NULL) is NULL");
    cfg_release(NULL);
    ok(1, "release(NULL) does nothing");
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, refs_thread, a);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    is_int(atomic_load(&a->refs), 1, "4 threads x 20000: count intact");

    ok(cfg_current_get() == NULL, "no current snapshot at first");
    cfg_current_set(a);  /* takes our reference */
    g = cfg_current_get();
    ok(g == a, "current is what was set");
    is_int(atomic_load(&a->refs), 2, "current_get adds a reference");
    cfg_acquire(a);  /* watch a outlive the swap */
    cfg_current_set(b);
    is_int(atomic_load(&a->refs), 2, "set drops the old current's ref");
    cfg_release(g);
    is_int(atomic_load(&a->refs), 1, "our extra reference remains");
    cfg_release(a);  /* freed here (ASan checks) */
    g = cfg_current_get();
    ok(g == b, "current swapped");
    cfg_release(g);
}

/* set_str - replace a string field of a test snapshot */
static void
set_str(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/* check_layers - cfg_hidden_layers() */
static void
check_layers(void)
{
    static const struct {
        const char *value;
        size_t ninputs;
        size_t n;
        unsigned s0, s1;
    } cases[] = {
        { "auto", 0, 1, 8, 0 },       /* at least 8 */
        { "auto", 16, 1, 8, 0 },      /* 2*4 */
        { "auto", 17, 1, 8, 0 },      /* 8.25 rounds down */
        { "auto", 30, 1, 11, 0 },     /* 10.95 rounds up */
        { "auto", 100, 1, 20, 0 },
        { "auto", 1024, 1, 64, 0 },   /* 64 exactly */
        { "auto", 1089, 1, 64, 0 },   /* 66: capped */
        { "auto", 100000, 1, 64, 0 },
        { "AUTO", 100, 1, 20, 0 },
        { "12", 100, 1, 12, 0 },
        { "128, 1", 5, 2, 128, 1 },   /* CFG_LAYER_MAX */
        { "16,8", 5, 2, 16, 8 },
    };
    struct cfg *c = cfg_defaults();
    unsigned sizes[2];
    size_t n;

    /* layers_ok.ini (N) and layers_bad.ini (N + 1) spell the limit out */
    is_int(CFG_LAYER_MAX, 128, "CFG_LAYER_MAX is the 128 of layers_ok.ini "
           "and the 129 of layers_bad.ini");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_str(&c->hidden_layers, cases[i].value);
        sizes[0] = sizes[1] = 0;
        n = cfg_hidden_layers(c, cases[i].ninputs, sizes);
        ok(n == cases[i].n && sizes[0] == cases[i].s0 &&
               (n < 2 || sizes[1] == cases[i].s1),
           "hidden_layers '%s' for %zu inputs: %zu layer(s) %u %u",
           cases[i].value, cases[i].ninputs, cases[i].n, cases[i].s0,
           cases[i].s1);
    }
    cfg_release(c);
}

/* check_actions - cfg_is_spam_action() */
static void
check_actions(void)
{
    static const struct {
        const char *list;
        const char *action;
        int want;
    } cases[] = {
        { "reject", "reject", 1 },
        { "reject", "REJECT", 1 },
        { "reject", "  reject\t", 1 },
        { "reject", "soft reject", 0 },
        { "reject", "no action", 0 },
        { "reject", "", 0 },
        { "reject", "rejectx", 0 },
        { "reject, Soft Reject", "soft reject", 1 },
        { "reject, Soft Reject", "soft", 0 },
        { "reject, Soft Reject", "add header", 0 },
        { " add header ,rewrite subject", "rewrite subject", 1 },
        { " add header ,rewrite subject", "add header", 1 },
        { "", "reject", 0 },
        { "", "", 0 },
    };
    struct cfg *c = cfg_defaults();

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        set_str(&c->spam_actions, cases[i].list);
        is_int(cfg_is_spam_action(c, cases[i].action), cases[i].want,
               "spam_actions '%s': '%s' is %s", cases[i].list,
               cases[i].action, cases[i].want ? "spam" : "not spam");
    }
    cfg_release(c);
}

/* check_ignore - cfg_symbol_ignored() under the shipped default and
 * under ignore_ok.ini; the pattern limits at N (64 patterns, 128 bytes:
 * ignore_64.ini, ignore_ok.ini) load, N + 1 fail (bad_cases) */
static void
check_ignore(void)
{
    static const struct {
        int deflt;             /* 1: the default list, 0: ignore_ok.ini */
        const char *name;
        int want;
    } cases[] = {
        { 1, "SPAMHAUS_FAIL", 1 },
        { 1, "RBL_SENDERSCORE_FAIL", 1 },
        { 1, "SEM_URIBL_UNKNOWN_FAIL", 1 },
        { 1, "ASN_FAIL", 1 },
        { 1, "R_SPF_DNSFAIL", 1 },
        { 1, "DMARC_DNSFAIL", 1 },
        { 1, "R_DKIM_TEMPFAIL", 1 },
        { 1, "T_SPF_TEMPERROR", 1 },
        { 1, "URIBL_BLOCKED", 1 },
        { 1, "RCVD_IN_ZEN_BLOCKED_OPENRESOLVER", 1 },
        { 1, "NEURAL_SPAM", 1 },
        { 1, "NEURAL_HAM_SHORT", 1 },
        { 1, "R_SPF_FAIL", 0 },            /* exceptions: verdicts on the */
        { 1, "SPF_FAIL", 0 },              /* sender's records */
        { 1, "SPF_HELO_FAIL", 0 },
        { 1, "AUTH_NA_OR_FAIL", 0 },
        { 1, "R_SPF_SOFTFAIL", 0 },        /* no "_FAIL" at the end */
        { 1, "R_SPF_PERMFAIL", 0 },
        { 1, "BAYES_SPAM", 0 },            /* the learners stay */
        { 1, "FUZZY_DENIED", 0 },
        { 1, "RDNS_NONE", 0 },
        { 1, "R_DKIM_NA", 0 },
        { 1, "FAIL", 0 },
        { 0, "SPAMHAUS_FAIL", 1 },
        { 0, "SPAMHAUS_FAILS", 0 },
        { 0, "A_X", 1 },
        { 0, "KEEP_X", 0 },                /* the exception wins */
        { 0, "NEURAL_HAM", 1 },
        { 0, "RBL", 1 },
        { 0, "RBBL", 0 },
        { 0, "R_SPF_DNSFAIL", 0 },         /* not in this list */
    };
    char err[ERRLEN];
    struct cfg *d = cfg_defaults(), *o = load("ignore_ok.ini", err,
                                               sizeof(err));
    char name[130];

    if (!ok(o != NULL, "ignore_ok.ini loads"))
        diag("%s", err);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]) && o; i++)
        is_int(cfg_symbol_ignored(cases[i].deflt ? d : o, cases[i].name),
               cases[i].want, "%s list: %s", cases[i].deflt ? "default"
                                                            : "ignore_ok.ini",
               cases[i].name);
    memset(name, 'A', 127);
    strcpy(name + 127, "B");
    if (o)
        is_int(cfg_symbol_ignored(o, name), 1, "a 128-byte pattern matches");
    cfg_release(o);
    o = load("ignore_64.ini", err, sizeof(err));
    ok(o != NULL && cfg_symbol_ignored(o, "a") && cfg_symbol_ignored(o, "?") &&
           cfg_symbol_ignored(o, "Q") && !cfg_symbol_ignored(o, "ab"),
       "64 patterns load and match");
    cfg_release(o);
    cfg_release(d);
}

/* check_ignore_random - the compiled patterns answer as util_glob_match()
 * does on their text, for random suffix, prefix, exact and other
 * patterns of 0-12 bytes and names of 0-20 (below, at and past the 8
 * bytes a suffix is compared by) */
static void
check_ignore_random(void)
{
    static const char abc[] = "AB_F";
    uint64_t rng = 0x853c49e6748fea9bULL;
    struct cfg *c = cfg_defaults();
    size_t bad = 0, tried = 0, hits = 0;
    char first[96] = "";

    for (int i = 0; i < 4000 && c != NULL; i++) {
        char pat[16], name[24];
        size_t pl, nl;
        int kind, want, got;

        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        kind = (int)(rng % 4); /* *X, X*, X, X*Y */
        pl = (rng >> 4) % 11;
        for (size_t j = 0; j < pl; j++)
            pat[j] = abc[(rng >> (8 + 2 * j)) % 4];
        if (kind == 0 || kind == 1) {
            memmove(pat + (kind == 0), pat, pl);
            pat[kind == 0 ? 0 : pl] = '*';
            pl++;
        } else if (kind == 3 && pl >= 2)
            pat[pl / 2] = '*';
        if (pl == 0)
            pat[pl++] = 'A';
        pat[pl] = '\0';
        free(c->ignore_symbols);
        c->ignore_symbols = xstrdup(pat);
        cfg_derive(c);
        for (int t = 0; t < 64; t++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            nl = rng % 21;
            for (size_t j = 0; j < nl; j++)
                name[j] = abc[(rng >> (5 + 2 * (j % 28))) % 4];
            /* half the time, end (or start) the name with the pattern */
            if ((rng & 16) && pl > 1 && nl >= pl - 1) {
                if (kind == 0)
                    memcpy(name + nl - (pl - 1), pat + 1, pl - 1);
                else if (kind == 1)
                    memcpy(name, pat, pl - 1);
            }
            name[nl] = '\0';
            want = util_glob_match(pat, pl, name);
            got = cfg_symbol_ignored(c, name);
            tried++;
            hits += want;
            if (got != want && bad++ == 0)
                snprintf(first, sizeof(first), "'%s' on '%s': %d", pat, name,
                         got);
        }
    }
    ok(bad == 0 && hits > 10000, "compiled patterns are util_glob_match(): "
       "%zu names, %zu matched (%zu differ%s%s)", tried, hits, bad,
       bad ? ", first " : "", first);
    cfg_release(c);
}

/* check_thresholds - cfg_thresholds() */
static void
check_thresholds(void)
{
    char err[ERRLEN];
    struct cfg *d = cfg_defaults(), *o = load("thresholds_ok.ini", err,
                                               sizeof(err));
    double v[CFG_THRESHOLDS_MAX];

    is_int(cfg_thresholds(d, v), 0, "no thresholds by default");
    if (!ok(o != NULL, "thresholds_ok.ini loads")) {
        diag("%s", err);
    } else {
        ok(cfg_thresholds(o, v) == 3 && v[0] == 6 && v[1] == 15 &&
               v[2] == -2.5, "thresholds 6, 15, -2.5");
    }
    cfg_release(o);
    cfg_release(d);
}

int
main(void)
{
    const char *top = getenv("top_srcdir");
    char tmpdir[] = "/tmp/t_cfg.XXXXXX";

    snprintf(srcdir, sizeof(srcdir), "%s", top && *top ? top : ".");
    if (access(srcdir, R_OK) != 0)
        skip_all("no source tree");
    check_good();
    check_defaults();
    check_edges();
    check_misc_good();
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
        check_bad(&bad_cases[i]);
    check_files();
    if (mkdtemp(tmpdir) == NULL) {
        ok(0, "mkdtemp");
    } else {
        check_roundtrip("good.ini", tmpdir);
        check_roundtrip("defaults.ini", tmpdir);
        check_roundtrip("edges_max.ini", tmpdir);
        check_roundtrip("edges_min.ini", tmpdir);
        rmdir(tmpdir);
    }
    check_restart();
    check_man();
    check_refs();
    check_layers();
    check_actions();
    check_ignore();
    check_ignore_random();
    check_thresholds();
    return exit_status();
}
