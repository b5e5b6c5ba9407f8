/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * neural-milter-ctl - the admin tool: a table of subcommands, one
 * function each, over the same modules as the daemon (cfg, hdr, feat,
 * model, store, verdict), so what it prints is what the milter does. It
 * talks to Redis directly; there is no control socket into the daemon.
 * Single-threaded; logs to stderr.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "eval.h"
#include "example.h"
#include "hdr.h"
#include "learn.h"
#include "log.h"
#include "model.h"
#include "store.h"
#include "trainer.h"
#include "util.h"
#include "verdict.h"
#include "watch.h"
#include "xmalloc.h"

#define CTL_DEFAULT_CONFIG SYSCONFDIR "/neural-milter/neural-milter.ini"
#define CTL_MAX_FILE (64u << 20) /* bytes read from one message or blob */

struct ctl {
    struct cfg *cfg;
    struct store *st;     /* made on first use */
    int verbose;
    int yes;              /* -y: do not ask before reset */
};

/* Tallies of `learn`. */
struct ctl_learn {
    int spam;
    long queued, skipped, failed;
};

struct ctl_cmd {
    const char *name;
    const char *args;
    int min_args;
    int max_args;         /* -1: no limit */
    int (*fn)(struct ctl *ctl, int argc, char **argv);
    const char *help;
};

/* ctl_read - a whole file ("-" = stdin) up to CTL_MAX_FILE; NULL on
 * error, reported on stderr */
static char *
ctl_read(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 65536, n = 0, got;
    char *buf;

    if (f == NULL) {
        fprintf(stderr, "neural-milter-ctl: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = xmalloc(cap + 1);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= CTL_MAX_FILE) {
                fprintf(stderr, "neural-milter-ctl: %s: larger than %u "
                        "bytes\n", path, CTL_MAX_FILE);
                free(buf);
                buf = NULL;
                break;
            }
            cap *= 2;
            buf = xreallocarray(buf, cap + 1, 1);
        }
    }
    if (buf != NULL && ferror(f)) {
        fprintf(stderr, "neural-milter-ctl: %s: %s\n", path, strerror(errno));
        free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    if (buf != NULL) {
        buf[n] = '\0';
        *len = n;
    }
    return buf;
}

/* ctl_store - the store, connected lazily */
static struct store *
ctl_store(struct ctl *ctl)
{
    char err[256];

    if (ctl->st == NULL &&
        (ctl->st = store_new_cfg(ctl->cfg, err, sizeof(err))) == NULL)
        fprintf(stderr, "neural-milter-ctl: redis: %s\n", err);
    return ctl->st;
}

/* ctl_load_model - the live model from Redis, or NULL (said why) */
static struct model *
ctl_load_model(struct ctl *ctl, int quiet_none)
{
    struct store *st = ctl_store(ctl);
    struct model *m = NULL;

    if (st == NULL)
        return NULL;
    switch (watch_poll_once(st, STORE_VIA_READ, NULL, &m)) {
    case WATCH_LOADED:
        return m;
    case WATCH_NONE:
        if (!quiet_none)
            fprintf(stderr, "neural-milter-ctl: no model is published "
                    "under prefix %s\n", ctl->cfg->redis_prefix);
        return NULL;
    case WATCH_SAME:
    case WATCH_OLDER:
    case WATCH_REJECTED:
    case WATCH_ERR:
        break;
    }
    fprintf(stderr, "neural-milter-ctl: cannot load the model from Redis "
            "(see the lines above)\n");
    return NULL;
}

/* ctl_verdict_print - what the parser and model made of one message */
static void
ctl_verdict_print(const char *path, const struct verdict *v, int symbols)
{
    const struct hdr_result *r = &v->res;
    char hv[VERDICT_HEADER_MAX];

    printf("%s:\n", path);
    if (v->status != HDR_OK)
        printf("  error: %s\n", v->err);
    printf("  upstream: %s\n", hdr_upstream_name(r->upstream));
    if (hdr_upstream_usable(r->upstream)) {
        printf("  score: %.2f / %.2f\n", r->score, r->required);
        printf("  action: %s%s\n", hdr_action_name(r->action),
               r->is_spam ? " (spam)" : "");
        printf("  symbols: %zu%s%s%s\n", r->nsym,
               r->has_scores ? " with scores" : " without scores",
               r->truncated ? ", truncated" : "",
               r->inconsistent ? ", INCONSISTENT (scores do not add up)"
                               : "");
        printf("  label: %s\n", verdict_label_name(v->label));
    }
    if (v->model_id[0] != '\0')
        printf("  model: %s, unknown symbols: %zu, ignored: %zu, known "
               "share: %.2f\n", v->model_id, v->unknown, v->ignored,
               v->known);
    if (v->scored)
        printf("  p: %.4f, adjust: %+.2f\n", v->p, v->adjust);
    if (verdict_header(v, hv, sizeof(hv)) == 0)
        printf("  header: %s\n", hv);
    if (symbols)
        for (size_t i = 0; i < r->nsym; i++)
            printf("    %-40s %7.2f\n", r->sym[i].name, r->sym[i].score);
}

/* ctl_verdict_file_key - parse one message under c with model m; *key
 * (when not NULL) gets its message key: of its Message-ID, else of its
 * scanner verdict */
static int
ctl_verdict_file_key(const struct cfg *c, const char *path, struct model *m,
                     struct verdict *v, uint64_t *key)
{
    struct hdr_seen seen = { 0 };
    char msgid[LEARN_MAX_MSGID + 1];
    size_t len;
    char *msg = ctl_read(path, &len);

    if (msg == NULL)
        return -1;
    learn_message_scan(msg, len, &seen, msgid, sizeof(msgid));
    verdict_compute(v, &seen, c, m);
    if (key != NULL)
        *key = msgid[0] != '\0' ? learn_key_msgid(msgid)
                                : learn_key_content(&v->res);
    hdr_seen_free(&seen);
    free(msg);
    return 0;
}

/* ctl_verdict_file - parse one message under c with model m */
static int
ctl_verdict_file(const struct cfg *c, const char *path, struct model *m,
                 struct verdict *v)
{
    return ctl_verdict_file_key(c, path, m, v, NULL);
}

/* ctl_messages - run verdict_compute over each file with model m */
static int
ctl_messages(struct ctl *ctl, int argc, char **argv, struct model *m)
{
    int bad = 0;

    for (int i = 0; i < argc; i++) {
        struct verdict v;

        if (ctl_verdict_file(ctl->cfg, argv[i], m, &v) != 0) {
            bad = 1;
            continue;
        }
        ctl_verdict_print(argv[i], &v, ctl->verbose);
        if (v.status != HDR_OK)
            bad = 1;
        verdict_free(&v);
    }
    return bad ? 1 : 0;
}

/* ctl_parse - what the parser makes of each message's scanner header */
static int
ctl_parse(struct ctl *ctl, int argc, char **argv)
{
    return ctl_messages(ctl, argc, argv, NULL);
}

/* ctl_score - what the live model says of each message */
static int
ctl_score(struct ctl *ctl, int argc, char **argv)
{
    struct model *m = ctl_load_model(ctl, 0);
    int rc;

    if (m == NULL)
        return 1;
    rc = ctl_messages(ctl, argc, argv, m);
    model_release(m);
    return rc;
}

/* ctl_status_learn - reports waiting and what became of them, messages
 * kept for replies */
static void
ctl_status_learn(struct ctl *ctl)
{
    long waiting, kept, st[STORE_REPORT_NSTATS];

    if (store_reports_waiting(ctl->st, &waiting) == 0 &&
        store_report_stats_get(ctl->st, st) == 0) {
        printf("reports: %ld waiting; %ld accepted", waiting, st[0]);
        for (int i = 1; i < STORE_REPORT_NSTATS; i++)
            printf(", %ld %s", st[i], store_report_stat_names[i]);
        printf(" (at most %ld a day per reporter)\n",
               ctl->cfg->max_reports_per_day);
    } else {
        printf("reports: unknown (Redis unreachable)\n");
    }
    if (store_replies_count(ctl->st, &kept) == 0)
        printf("replies: %ld messages kept for a reply to name (at most "
               "%ld, for %ld s)\n", kept, ctl->cfg->replies_max,
               ctl->cfg->replies_window_ms / 1000);
    else
        printf("replies: unknown (Redis unreachable)\n");
}

/* ctl_status_training - examples, lock and the last training */
static void
ctl_status_training(struct ctl *ctl)
{
    long nspam, nham, nnew, ttl;
    char buf[1024];

    if (store_example_counts(ctl->st, &nspam, &nham, &nnew) == 0)
        printf("examples: %ld spam, %ld ham (cap %ld per class); %ld new "
               "since the last training (trains at %ld, with at least %ld "
               "of each class)\n", nspam, nham, ctl->cfg->max_examples, nnew,
               ctl->cfg->threshold, ctl->cfg->min_class);
    else
        printf("examples: unknown (Redis unreachable)\n");
    ctl_status_learn(ctl);
    switch (store_lock_owner(ctl->st, buf, sizeof(buf), &ttl)) {
    case STORE_OK:
        printf("lock: held by %s (expires in %.1f s)\n", buf, ttl / 1e3);
        break;
    case STORE_ABSENT:
        printf("lock: free\n");
        break;
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        printf("lock: unknown\n");
        break;
    }
    switch (store_train_outcome_get(ctl->st, buf, sizeof(buf))) {
    case STORE_OK:
        printf("last training: %s\n", buf);
        break;
    case STORE_ABSENT:
        printf("last training: none recorded\n");
        break;
    case STORE_NOT_OURS:
    case STORE_CONFLICT:
    case STORE_ERR:
        printf("last training: unknown\n");
        break;
    }
}

/*
 * ctl_status_instances - the daemons that wrote a heartbeat and what
 * each serves; returns how many serve a model (so status can say that
 * they do while Redis holds none)
 */
static size_t
ctl_status_instances(struct ctl *ctl, char *served, size_t len)
{
    struct store_instance in[STORE_MAX_INSTANCES];
    char id[MODEL_ID_LEN + 1];
    size_t n, serving = 0;
    int64_t now = (int64_t)time(NULL);

    if (store_instances(ctl->st, in, STORE_MAX_INSTANCES, &n) != 0) {
        printf("instances: unknown (Redis unreachable)\n");
        return 0;
    }
    printf("instances: %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        if (watch_beat_model(in[i].line, id, sizeof(id)) != 0)
            snprintf(id, sizeof(id), "?");
        printf("  %s: serves %s (seen %lld s ago; %s)\n", in[i].id, id,
               (long long)(now - in[i].seen), in[i].line);
        if (strcmp(id, "none") != 0 && strcmp(id, "?") != 0 &&
            serving++ == 0)
            snprintf(served, len, "%s", id);
    }
    return serving;
}

/* ctl_status - the live model's profile, version and training facts */
static int
ctl_status(struct ctl *ctl, int argc, char **argv)
{
    struct model *m;
    const struct model_meta *meta;
    unsigned sizes[MODEL_MAX_LAYERS];
    size_t nl;
    char when[64] = "never", served[MODEL_ID_LEN + 1] = "", where[1024];
    char map[512];
    size_t nserving;

    (void)argc;
    (void)argv;
    printf("prefix: %s\n", ctl->cfg->redis_prefix);
    if (ctl_store(ctl) == NULL)
        return 1;
    store_describe(ctl->st, where, sizeof(where));
    printf("redis: %s\n", where);
    ctl_status_training(ctl);
    nserving = ctl_status_instances(ctl, served, sizeof(served));
    if ((m = ctl_load_model(ctl, 1)) == NULL) {
        if (nserving > 0)
            printf("model: none in Redis, while %zu instance%s serve%s %s "
                   "(they publish it again at their next watch poll)\n",
                   nserving, nserving == 1 ? "" : "s",
                   nserving == 1 ? "s" : "", served);
        else
            printf("model: none\n");
        return 0;
    }
    meta = model_meta(m);
    nl = model_layers(m, sizes);
    if (meta->trained_at > 0) {
        time_t t = (time_t)meta->trained_at;
        struct tm tm;

        strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S %z",
                 localtime_r(&t, &tm));
    }
    printf("model: %s\n", model_id(m));
    printf("profile: %s, %zu symbols, %s\n",
           feat_profile_digest(model_profile(m)),
           feat_profile_nsym(model_profile(m)),
           feat_profile_scores(model_profile(m)) ? "presence and scores"
                                                 : "presence only");
    printf("inputs: %zu\nlayers:", model_ninputs(m));
    for (size_t i = 0; i < nl; i++)
        printf(" %u", sizes[i]);
    printf("\nthresholds: ham <= %.4f, spam >= %.4f\n", meta->ham_threshold,
           meta->spam_threshold);
    printf("adjustment: %s\n", model_map_describe(&meta->map, map,
                                                   sizeof(map)));
    printf("guard: the adjustment times the weighted share of the "
           "message's symbols the profile knows\n");
    printf("bounds: [score] ham_weight %.2f, spam_weight %.2f\n",
           ctl->cfg->ham_weight, ctl->cfg->spam_weight);
    printf("trained: %s (%u epochs, %u trainings on this network)\n", when,
           meta->epochs, meta->iterations);
    printf("trained on: %u spam + %u ham (%u explicit)\n", meta->n_spam,
           meta->n_ham, meta->n_explicit);
    printf("validated on: %u spam + %u ham held back: AUC %.4f, MSE %.4f, "
           "spam caught %.1f%% at %.2f%% false positives\n",
           meta->n_val_spam, meta->n_val_ham, meta->val_auc, meta->val_mse,
           100 * meta->val_tpr, 100 * meta->val_fpr);
    model_release(m);
    return 0;
}

/* ctl_export - write the live model's blob to a file */
static int
ctl_export(struct ctl *ctl, int argc, char **argv)
{
    struct store *st = ctl_store(ctl);
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;
    void *blob;
    size_t len;
    FILE *f;
    enum store_status s;

    (void)argc;
    if (st == NULL)
        return 1;
    if ((s = store_model_head(st, STORE_VIA_READ, digest, &version)) !=
            STORE_OK ||
        (s = store_model_get(st, STORE_VIA_READ, digest, MODEL_MAX_BLOB,
                             &blob, &len, &version)) != STORE_OK) {
        fprintf(stderr, "neural-milter-ctl: %s\n",
                s == STORE_ABSENT ? "no model is published"
                                  : "cannot read Redis");
        return 1;
    }
    f = strcmp(argv[0], "-") == 0 ? stdout : fopen(argv[0], "wb");
    if (f == NULL || fwrite(blob, 1, len, f) != len ||
        (f != stdout && fclose(f) != 0)) {
        fprintf(stderr, "neural-milter-ctl: %s: %s\n", argv[0],
                strerror(errno));
        free(blob);
        return 1;
    }
    fprintf(stderr, "exported model %s.%" PRIu64 " (%zu bytes)\n", digest,
            version, len);
    free(blob);
    return 0;
}

/* ctl_import - check a blob and publish it as the live model */
static int
ctl_import(struct ctl *ctl, int argc, char **argv)
{
    struct store *st;
    struct model *m;
    char err[256];
    uint64_t version;
    size_t len;
    char *blob;
    int rc = 1;

    (void)argc;
    if ((blob = ctl_read(argv[0], &len)) == NULL)
        return 1;
    if (model_from_blob(blob, len, &m, err, sizeof(err)) != 0) {
        fprintf(stderr, "neural-milter-ctl: %s: not a model: %s\n", argv[0],
                err);
        free(blob);
        return 1;
    }
    if ((st = ctl_store(ctl)) != NULL &&
        store_model_publish(st, feat_profile_digest(model_profile(m)), blob,
                            len, NULL, &version) == STORE_OK) {
        printf("published model %s.%" PRIu64 "\n",
               feat_profile_digest(model_profile(m)), version);
        rc = 0;
    } else {
        fprintf(stderr, "neural-milter-ctl: cannot publish to Redis\n");
    }
    model_release(m);
    free(blob);
    return rc;
}

/* A list of message files (learn, eval). */
struct ctl_files {
    char **path;
    size_t n, cap;
};

/* ctl_files_add - every regular file below path, sorted */
static void
ctl_files_add(struct ctl_files *f, const char *path)
{
    struct dirent **list;
    struct stat sb;
    int n;

    if (stat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        if (f->n == f->cap) {
            f->cap = f->cap ? 2 * f->cap : 1024;
            f->path = xreallocarray(f->path, f->cap, sizeof(*f->path));
        }
        f->path[f->n++] = xstrdup(path);
        return;
    }
    if ((n = scandir(path, &list, NULL, alphasort)) < 0)
        return;
    for (int i = 0; i < n; i++) {
        if (list[i]->d_name[0] != '.') {
            size_t len = strlen(path) + strlen(list[i]->d_name) + 2;
            char *sub = xmalloc(len);

            snprintf(sub, len, "%s/%s", path, list[i]->d_name);
            ctl_files_add(f, sub);
            free(sub);
        }
        free(list[i]);
    }
    free(list);
}

/* ctl_files_free - release a list */
static void
ctl_files_free(struct ctl_files *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->path[i]);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

/* ctl_learn_one - queue one message as an explicit verdict */
static void
ctl_learn_one(struct ctl *ctl, struct ctl_learn *lt, const char *path)
{
    struct verdict v;
    struct example ex;
    struct store_example se;
    char err[160];
    void *blob = NULL;
    size_t bloblen;
    uint64_t key;

    if (ctl_verdict_file_key(ctl->cfg, path, NULL, &v, &key) != 0) {
        lt->failed++;
        return;
    }
    if (!hdr_upstream_usable(v.res.upstream)) {
        fprintf(stderr, "neural-milter-ctl: %s: skipped: upstream=%s%s%s\n",
                path, hdr_upstream_name(v.res.upstream),
                v.status != HDR_OK ? ": " : "",
                v.status != HDR_OK ? v.err : "");
        lt->skipped++;
    } else if (v.res.inconsistent) {
        fprintf(stderr, "neural-milter-ctl: %s: skipped: the scanner header "
                "is inconsistent (edited or forged?)\n", path);
        lt->skipped++;
    } else if (example_from_result(&ex, &v.res, lt->spam, 1,
                                   (int64_t)time(NULL)) != 0) {
        fprintf(stderr, "neural-milter-ctl: %s: cannot encode\n", path);
        lt->failed++;
    } else if ((ex.key = key) == 0 ||
               example_encode(&ex, &blob, &bloblen, err, sizeof(err)) != 0) {
        fprintf(stderr, "neural-milter-ctl: %s: cannot encode\n", path);
        example_free(&ex);
        lt->failed++;
    } else {
        /* under its message key: a verdict given twice counts once, and
         * a later one replaces the earlier (or an autolearned one) */
        se = (struct store_example){ .spam = lt->spam, .rec = blob,
                                     .len = bloblen, .key = key,
                                     .explicit_ = 1 };
        if (store_example_push_batch(ctl->st, &se, 1,
                                     ctl->cfg->max_examples) == 0) {
            lt->queued++;
            if (ctl->verbose)
                printf("%s: queued as %s\n", path, lt->spam ? "spam" : "ham");
        } else {
            lt->failed++;
        }
        free(blob);
        example_free(&ex);
    }
    verdict_free(&v);
}

/* ctl_learn - queue explicit verdicts: learn spam|ham FILE... */
static int
ctl_learn(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_learn lt = { 0 };

    if (strcmp(argv[0], "spam") == 0)
        lt.spam = 1;
    else if (strcmp(argv[0], "ham") != 0) {
        fprintf(stderr, "neural-milter-ctl: learn spam|ham FILE...\n");
        return EX_USAGE;
    }
    if (ctl_store(ctl) == NULL)
        return 1;
    for (int i = 1; i < argc; i++) {
        struct ctl_files f = { 0 };

        if (strcmp(argv[i], "-") == 0) {
            ctl_learn_one(ctl, &lt, "-");
            continue;
        }
        ctl_files_add(&f, argv[i]);
        if (f.n == 0) /* missing or empty: let the reader say why */
            ctl_learn_one(ctl, &lt, argv[i]);
        for (size_t k = 0; k < f.n; k++)
            ctl_learn_one(ctl, &lt, f.path[k]);
        ctl_files_free(&f);
    }
    printf("queued %ld %s examples, skipped %ld, failed %ld\n", lt.queued,
           argv[0], lt.skipped, lt.failed);
    return lt.failed ? 1 : 0;
}

/* ctl_train - train now, wait, print the validation figures */
static int
ctl_train(struct ctl *ctl, int argc, char **argv)
{
    struct trainer_report rep;
    char token[256], map[512];
    const struct model_meta *mt = &rep.meta;

    long acc, ref;

    (void)argc;
    (void)argv;
    if (ctl_store(ctl) == NULL)
        return 1;
    /* the reports first, as the trainer thread takes them (trainer_run
     * would too): they are examples of this training */
    if (trainer_reports(ctl->st, ctl->cfg, &acc, &ref) != 0)
        fprintf(stderr, "neural-milter-ctl: train: cannot take the "
                "reports\n");
    else if (acc + ref > 0)
        printf("reports: %ld accepted, %ld refused\n", acc, ref);
    trainer_token(token, sizeof(token));
    if (trainer_run(ctl->st, ctl->cfg, 1, token, &rep) != 0) {
        fprintf(stderr, "neural-milter-ctl: train: %s\n", rep.reason);
        return 1;
    }
    printf("result: %s\n", rep.reason);
    printf("examples: %ld spam, %ld ham stored\n", rep.nspam, rep.nham);
    if (!rep.trained)
        return 1;
    printf("model: %s (%s%s)\n", rep.model_id[0] ? rep.model_id : "none",
           rep.fresh ? "fresh network" : "continued",
           rep.new_profile ? ", new profile" : "");
    printf("profile: %zu symbols\n", rep.nsym);
    printf("trained on: %u spam + %u ham, %u epochs\n", mt->n_spam,
           mt->n_ham, mt->epochs);
    printf("held back: %u spam + %u ham\n", mt->n_val_spam, mt->n_val_ham);
    printf("held-back AUC: %.4f\n", rep.auc_new);
    if (rep.auc_old >= 0)
        printf("live model %s on the same examples: AUC %.4f\n",
               rep.old_id, rep.auc_old);
    else
        printf("live model: none\n");
    printf("thresholds: ham <= %.4f, spam >= %.4f (spam caught %.1f%% at "
           "%.2f%% false positives)\n", mt->ham_threshold,
           mt->spam_threshold, 100 * mt->val_tpr, 100 * mt->val_fpr);
    printf("adjustment: %s\n", model_map_describe(&mt->map, map,
                                                   sizeof(map)));
    printf("seconds: %.1f\n", rep.seconds);
    return rep.published ? 0 : 1;
}

/* ctl_confirm - ask unless -y */
static int
ctl_confirm(struct ctl *ctl, const char *what)
{
    char line[16];

    if (ctl->yes)
        return 1;
    fprintf(stderr, "%s under prefix %s? Type yes: ", what,
            ctl->cfg->redis_prefix);
    return fgets(line, sizeof(line), stdin) != NULL &&
           strcmp(line, "yes\n") == 0;
}

/* ctl_reset - reset model [DIGEST] | examples | all */
static int
ctl_reset(struct ctl *ctl, int argc, char **argv)
{
    char digest[FEAT_DIGEST_LEN + 1];
    uint64_t version;
    int model = strcmp(argv[0], "model") == 0;
    int all = strcmp(argv[0], "all") == 0;
    int rc = 0;

    if ((!model && !all && strcmp(argv[0], "examples") != 0) ||
        (argc > 1 && !model)) {
        fprintf(stderr, "neural-milter-ctl: reset model [DIGEST] | "
                "examples | all\n");
        return EX_USAGE;
    }
    if (ctl_store(ctl) == NULL)
        return 1;
    if (model || all) {
        if (argc > 1)
            snprintf(digest, sizeof(digest), "%s", argv[1]);
        else if (store_model_head(ctl->st, STORE_VIA_WRITE, digest,
                                  &version) != STORE_OK) {
            printf("no model is published\n");
            digest[0] = '\0';
        }
        if (digest[0] != '\0') {
            char what[64];

            snprintf(what, sizeof(what), "Drop the model of profile %s",
                     digest);
            if (!ctl_confirm(ctl, what))
                return 1;
            if (store_model_delete(ctl->st, digest) != 0)
                rc = 1;
            else
                printf("dropped the model of profile %s\n", digest);
        }
    }
    if (!model) {
        if (!ctl_confirm(ctl, "Drop all stored training examples"))
            return 1;
        if (store_examples_delete(ctl->st) != 0)
            rc = 1;
        else
            printf("dropped all stored examples\n");
    }
    return rc;
}

/* ctl_eval_group - the corpus group of a file: its name up to the last
 * '_' ("hard-ham-1_00042.eml" → "hard-ham-1"), else "" */
static void
ctl_eval_group(const char *path, char *group, size_t len)
{
    const char *base = strrchr(path, '/'), *us;

    base = base ? base + 1 : path;
    us = strrchr(base, '_');
    if (us == NULL || (size_t)(us - base) >= len) {
        group[0] = '\0';
        return;
    }
    snprintf(group, len, "%.*s", (int)(us - base), base);
}

/* The options of eval, one row each of ctl_eval_optv[] (so other
 * options fit the table). */
struct ctl_eval_opts {
    const char *mode;     /* explicit | autolearn | both */
    const char *svg;      /* ROC plot, or with --curve the curve */
    double reports;       /* --reports: share of training messages */
    double replies;       /* --replies: share of the training ham */
    int sources;          /* --reports or --replies given */
    int curve;            /* --curve */
    double thr[EVAL_MAX_THRESHOLDS]; /* --thresholds */
    size_t nthr;          /* 0: the header's required score */
};

/* ctl_eval_thresholds - the thresholds to report: --thresholds, else the
 * test set's required score(s) and [score] thresholds */
static size_t
ctl_eval_thresholds(const struct ctl *ctl, const struct ctl_eval_opts *a,
                    const struct eval_item *it, size_t n,
                    double thr[EVAL_MAX_THRESHOLDS])
{
    double site[CFG_THRESHOLDS_MAX];
    size_t k = 0, ns;

    if (a->nthr > 0) {
        memcpy(thr, a->thr, a->nthr * sizeof(*thr));
        return a->nthr;
    }
    for (size_t i = 0; i < n && k < EVAL_MAX_THRESHOLDS; i++) {
        size_t j;

        if (!it[i].has_upstream || !(it[i].required > 0))
            continue;
        for (j = 0; j < k && thr[j] != it[i].required; j++)
            ;
        if (j == k)
            thr[k++] = it[i].required;
    }
    ns = cfg_thresholds(ctl->cfg, site);
    for (size_t i = 0; i < ns && k < EVAL_MAX_THRESHOLDS; i++) {
        size_t j;

        for (j = 0; j < k && thr[j] != site[i]; j++)
            ;
        if (j == k)
            thr[k++] = site[i];
    }
    return k;
}

/* ctl_eval_queue - queue the training files as examples under st
 * (explicit verdicts, or autolearn labels from the upstream's verdict);
 * nlabel counts them per class */
static void
ctl_eval_queue(struct ctl *ctl, struct store *st, int autolearn,
               struct ctl_files tr[2], size_t nlabel[2])
{
    char err[256];

    for (int spam = 0; spam <= 1; spam++)
        for (size_t i = 0; i < tr[spam].n; i++) {
            struct verdict v;
            struct example ex;
            struct store_example se;
            void *blob = NULL;
            size_t len;
            uint64_t key;
            int label = spam;

            if (ctl_verdict_file_key(ctl->cfg, tr[spam].path[i], NULL, &v,
                                     &key) != 0)
                continue;
            if (autolearn)
                label = v.label == VERDICT_LABEL_SPAM  ? 1
                        : v.label == VERDICT_LABEL_HAM ? 0
                                                       : -1;
            if (label >= 0 && !v.res.inconsistent &&
                example_from_result(&ex, &v.res, label, !autolearn,
                                    (int64_t)time(NULL)) == 0) {
                /* under its message key, as the daemon stores it */
                ex.key = key;
                if (example_encode(&ex, &blob, &len, err, sizeof(err)) ==
                    0) {
                    se = (struct store_example){ .spam = label, .rec = blob,
                                                 .len = len, .key = key,
                                                 .explicit_ = !autolearn };
                    if (store_example_push_batch(st, &se, 1,
                                                 ctl->cfg->max_examples) ==
                        0)
                        nlabel[label]++;
                }
                free(blob);
                example_free(&ex);
            }
            verdict_free(&v);
        }
}

/* ctl_eval_score - score the test files with m into a new array */
static struct eval_item *
ctl_eval_score(struct ctl *ctl, struct ctl_files te[2], struct model *m,
               size_t *n)
{
    struct eval_item *items = xcalloc(te[0].n + te[1].n + 1, sizeof(*items));

    *n = 0;
    for (int spam = 0; spam <= 1; spam++)
        for (size_t i = 0; i < te[spam].n; i++) {
            struct eval_item *it = &items[*n];
            struct verdict v;

            if (ctl_verdict_file(ctl->cfg, te[spam].path[i], m, &v) != 0)
                continue;
            it->spam = spam;
            ctl_eval_group(te[spam].path[i], it->group, sizeof(it->group));
            it->has_upstream = hdr_upstream_usable(v.res.upstream);
            it->upstream = v.res.score;
            it->required = v.res.required;
            it->has_p = v.scored;
            it->p = v.p;
            it->adjust = v.adjust;
            (*n)++;
            verdict_free(&v);
        }
    return items;
}

/* ctl_eval_cleanup - leave nothing behind under our prefix (the model
 * an eval trained, its examples) and free st; rc, or 1 when that fails */
static int
ctl_eval_cleanup(struct store *st, const struct trainer_report *rep, int rc)
{
    if (rep->model_id[0] != '\0') {
        char digest[FEAT_DIGEST_LEN + 1];

        memcpy(digest, rep->model_id, FEAT_DIGEST_LEN);
        digest[FEAT_DIGEST_LEN] = '\0';
        if (store_model_delete(st, digest) != 0)
            rc = 1;
    }
    if (store_examples_delete(st) != 0)
        rc = 1;
    store_free(st);
    return rc;
}

/*
 * ctl_eval_mode - one evaluation: queue the training files, train with
 * the trainer under a prefix of our own, then score the test files
 */
static int
ctl_eval_mode(struct ctl *ctl, int autolearn, struct ctl_files tr[2],
              struct ctl_files te[2], const struct ctl_eval_opts *a,
              const char *svg)
{
    char prefix[80], token[256], err[256], title[128], map[512];
    double thr[EVAL_MAX_THRESHOLDS];
    struct trainer_report rep;
    struct eval_item *items;
    struct model *m = NULL;
    struct store *st;
    size_t n, nlabel[2] = { 0, 0 };
    int rc = 1;

    snprintf(prefix, sizeof(prefix), "%.40s.eval.%ld", ctl->cfg->redis_prefix,
             (long)getpid());
    if ((st = store_new_cfg_prefix(ctl->cfg, prefix, err, sizeof(err))) ==
        NULL) {
        fprintf(stderr, "neural-milter-ctl: redis: %s\n", err);
        return 1;
    }
    ctl_eval_queue(ctl, st, autolearn, tr, nlabel);
    printf("== %s: %zu spam and %zu ham training examples%s\n",
           autolearn ? "autolearn" : "explicit verdicts", nlabel[1],
           nlabel[0], autolearn ? " (labelled by the upstream's verdict)"
                                : "");
    trainer_token(token, sizeof(token));
    if (trainer_run(st, ctl->cfg, 1, token, &rep) != 0 || !rep.published) {
        printf("training: %s\n", rep.reason);
        goto out;
    }
    printf("training: %s, %zu symbols, %u epochs, %.1f s, held-back AUC "
           "%.4f\n", rep.model_id, rep.nsym, rep.meta.epochs, rep.seconds,
           rep.auc_new);
    printf("adjustment: %s\n",
           model_map_describe(&rep.meta.map, map, sizeof(map)));
    if (watch_poll_once(st, STORE_VIA_WRITE, NULL, &m) != WATCH_LOADED) {
        printf("cannot load the trained model back\n");
        goto out;
    }
    items = ctl_eval_score(ctl, te, m, &n);
    snprintf(title, sizeof(title), "test split, %s",
             autolearn ? "autolearn" : "explicit verdicts");
    eval_report(stdout, title, items, n, model_meta(m)->spam_threshold);
    eval_report_thresholds(stdout, items, n, thr,
                           ctl_eval_thresholds(ctl, a, items, n, thr));
    rc = 0;
    if (svg != NULL && eval_roc_svg(svg, title, items, n) != 0) {
        fprintf(stderr, "neural-milter-ctl: %s: %s\n", svg, strerror(errno));
        rc = 1;
    }
    free(items);
out:
    model_release(m);
    return ctl_eval_cleanup(st, &rep, rc);
}

struct ctl_eval_opt {
    const char *name;
    int has_arg;
    int (*set)(struct ctl_eval_opts *o, const char *arg);
};

/* ctl_eval_share - "0.02", "2%": a share in [0, 1] */
static int
ctl_eval_share(const char *arg, double *out)
{
    size_t n = strlen(arg);
    char buf[32];
    double v;

    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, arg, n + 1);
    if (buf[n - 1] == '%') {
        buf[n - 1] = '\0';
        if (util_parse_double(buf, 0, 100, &v) != 0)
            return -1;
        *out = v / 100;
        return 0;
    }
    return util_parse_double(buf, 0, 1, out);
}

static int
ctl_eval_opt_mode(struct ctl_eval_opts *o, const char *arg)
{
    o->mode = arg;
    return strcmp(arg, "both") && strcmp(arg, "explicit") &&
                   strcmp(arg, "autolearn")
               ? -1
               : 0;
}

static int
ctl_eval_opt_svg(struct ctl_eval_opts *o, const char *arg)
{
    o->svg = arg;
    return 0;
}

static int
ctl_eval_opt_reports(struct ctl_eval_opts *o, const char *arg)
{
    o->sources = 1;
    return ctl_eval_share(arg, &o->reports);
}

static int
ctl_eval_opt_replies(struct ctl_eval_opts *o, const char *arg)
{
    o->sources = 1;
    return ctl_eval_share(arg, &o->replies);
}

static int
ctl_eval_opt_curve(struct ctl_eval_opts *o, const char *arg)
{
    (void)arg;
    o->curve = 1;
    return 0;
}

/* ctl_eval_opt_thresholds - --thresholds T[,T...] */
static int
ctl_eval_opt_thresholds(struct ctl_eval_opts *o, const char *arg)
{
    const char *s = arg;
    char buf[32];

    o->nthr = 0;
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t n = comma ? (size_t)(comma - s) : strlen(s);

        if (o->nthr == EVAL_MAX_THRESHOLDS || n >= sizeof(buf))
            return -1;
        memcpy(buf, s, n);
        buf[n] = '\0';
        if (util_parse_double(buf, -1000, 1000, &o->thr[o->nthr]) != 0)
            return -1;
        o->nthr++;
        if (comma == NULL)
            return 0;
        s = comma + 1;
    }
}

static const struct ctl_eval_opt ctl_eval_optv[] = {
    { "-m", 1, ctl_eval_opt_mode },
    { "-o", 1, ctl_eval_opt_svg },
    { "--thresholds", 1, ctl_eval_opt_thresholds },
    { "--reports", 1, ctl_eval_opt_reports },
    { "--replies", 1, ctl_eval_opt_replies },
    { "--curve", 0, ctl_eval_opt_curve },
};

#define CTL_EVAL_USAGE                                                       \
    "eval [-m explicit|autolearn|both] [-o SVG] [--thresholds T,...] "       \
    "[--reports R] [--replies Q] [--curve] DIR | TRAIN_DIR TEST_DIR | "      \
    "SPAMDIR HAMDIR"

/* ctl_eval_parse - the options (as "-o X", "--reports X" or
 * "--reports=X") up to the first other word or "--"; returns the index
 * of the first operand, or -1 (said why) */
static int
ctl_eval_parse(int argc, char **argv, struct ctl_eval_opts *o)
{
    int i;

    for (i = 0; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        const char *eq = strchr(argv[i], '=');
        size_t nl = eq ? (size_t)(eq - argv[i]) : strlen(argv[i]);
        const struct ctl_eval_opt *d = NULL;
        const char *arg = NULL;

        if (strcmp(argv[i], "--") == 0)
            return i + 1;
        for (size_t k = 0; k < sizeof(ctl_eval_optv) / sizeof(ctl_eval_optv[0]);
             k++)
            if (strlen(ctl_eval_optv[k].name) == nl &&
                strncmp(argv[i], ctl_eval_optv[k].name, nl) == 0)
                d = &ctl_eval_optv[k];
        if (d == NULL) {
            fprintf(stderr, "neural-milter-ctl: eval: unknown option %s\n",
                    argv[i]);
            return -1;
        }
        if (d->has_arg) {
            arg = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
            if (arg == NULL) {
                fprintf(stderr, "neural-milter-ctl: eval: %s needs a "
                        "value\n", d->name);
                return -1;
            }
        } else if (eq != NULL) {
            fprintf(stderr, "neural-milter-ctl: eval: %s takes no value\n",
                    d->name);
            return -1;
        }
        if (d->set(o, arg) != 0) {
            fprintf(stderr, "neural-milter-ctl: eval: bad value for %s: "
                    "%s\n", d->name, arg ? arg : "");
            return -1;
        }
    }
    return i;
}

/* ctl_eval_push - the simulated examples of the training files: each
 * file's verdict, key and autolearn label, the sources' draw, then one
 * keyed example per message in batches; counts per source into cnt[5]
 * (by enum example_source) */
static int
ctl_eval_push(struct ctl *ctl, struct store *st, struct ctl_files tr[2],
              const struct ctl_eval_opts *o, long cnt[5][2])
{
    size_t n = tr[0].n + tr[1].n, k = 0, nb = 0;
    struct eval_train_msg *m = xcalloc(n + 1, sizeof(*m));
    struct store_example *batch = xcalloc(STORE_BATCH_MAX, sizeof(*batch));
    void **blob = xcalloc(STORE_BATCH_MAX, sizeof(*blob));
    struct hdr_result *res = xcalloc(n + 1, sizeof(*res));
    uint64_t *key = xcalloc(n + 1, sizeof(*key));
    int *label = xcalloc(n + 1, sizeof(*label));
    int *src = xcalloc(n + 1, sizeof(*src));
    char err[200];
    int rc = 0;

    for (int spam = 0; spam <= 1; spam++)
        for (size_t i = 0; i < tr[spam].n; i++) {
            const char *path = tr[spam].path[i], *base = strrchr(path, '/');
            struct verdict v;

            base = base ? base + 1 : path;
            hdr_result_init(&res[k]);
            m[k] = (struct eval_train_msg){ .spam = spam, .auto_label = -1 };
            m[k].order = util_hash64(base, strlen(base), UTIL_HASH64_INIT);
            if (ctl_verdict_file_key(ctl->cfg, path, NULL, &v, &key[k]) ==
                0) {
                if (v.learnable) {
                    m[k].auto_label = v.label == VERDICT_LABEL_SPAM  ? 1
                                      : v.label == VERDICT_LABEL_HAM ? 0
                                                                     : -1;
                    m[k].mistake = (v.res.score >= v.res.required) != spam;
                    res[k] = v.res; /* taken */
                    memset(&v.res, 0, sizeof(v.res));
                } else {
                    m[k].mistake = -1; /* never an example */
                }
                verdict_free(&v);
            } else {
                m[k].mistake = -1;
            }
            k++;
        }
    eval_sources_pick(m, n, o->reports, o->replies, label, src);
    for (size_t i = 0; i <= n && rc == 0; i++) {
        struct example ex;
        size_t len;

        if (nb > 0 && (i == n || nb == STORE_BATCH_MAX)) {
            if (store_example_push_batch(st, batch, nb,
                                         ctl->cfg->max_examples) != 0)
                rc = -1;
            for (size_t j = 0; j < nb; j++)
                free(blob[j]);
            nb = 0;
        }
        if (i == n || label[i] < 0 || m[i].mistake < 0 ||
            example_from_result(&ex, &res[i], label[i], src[i] != 0,
                                (int64_t)time(NULL)) != 0)
            continue;
        ex.source = (enum example_source)src[i];
        ex.key = key[i];
        if (example_encode(&ex, &blob[nb], &len, err, sizeof(err)) == 0) {
            batch[nb] = (struct store_example){ .spam = label[i],
                                                .rec = blob[nb], .len = len,
                                                .key = key[i],
                                                .explicit_ = src[i] != 0 };
            nb++;
            cnt[src[i]][label[i]]++;
        }
        example_free(&ex);
    }
    for (size_t i = 0; i < n; i++)
        hdr_result_free(&res[i]);
    free(res);
    free(key);
    free(label);
    free(src);
    free(m);
    free(batch);
    free(blob);
    return rc;
}

/* ctl_eval_sources - one evaluation of the simulated label sources:
 * push, train under a prefix of our own, score the test split; the
 * figures into f (when not NULL), the report printed unless quiet */
static int
ctl_eval_sources(struct ctl *ctl, struct ctl_files tr[2],
                 struct ctl_files te[2], const struct ctl_eval_opts *o,
                 int quiet, struct eval_figures f[EVAL_NSCORERS])
{
    char prefix[80], token[256], err[256], title[160];
    long cnt[5][2] = { { 0 } };
    struct trainer_report rep;
    struct eval_item *items = NULL;
    struct model *m = NULL;
    struct store *st;
    size_t n = 0;
    int rc = 1;

    memset(&rep, 0, sizeof(rep));
    snprintf(prefix, sizeof(prefix), "%.40s.eval.%ld", ctl->cfg->redis_prefix,
             (long)getpid());
    if ((st = store_new_cfg_prefix(ctl->cfg, prefix, err, sizeof(err))) ==
        NULL) {
        fprintf(stderr, "neural-milter-ctl: redis: %s\n", err);
        return 1;
    }
    if (ctl_eval_push(ctl, st, tr, o, cnt) != 0) {
        fprintf(stderr, "neural-milter-ctl: eval: cannot store examples\n");
        goto out;
    }
    snprintf(title, sizeof(title), "test split, autolearn + %g%% reports + "
             "%g%% replies", 100 * o->reports, 100 * o->replies);
    printf("== %s: examples: autolearn %ld spam + %ld ham, reports %ld "
           "spam + %ld ham, replies %ld ham\n", title + 12, cnt[0][1],
           cnt[0][0], cnt[2][1], cnt[2][0], cnt[3][0]);
    trainer_token(token, sizeof(token));
    if (trainer_run(st, ctl->cfg, 1, token, &rep) != 0 || !rep.published) {
        printf("training: %s\n", rep.reason);
        goto out;
    }
    if (!quiet)
        printf("training: %s, %zu symbols, %u epochs, %.1f s, held-back AUC "
               "%.4f\n", rep.model_id, rep.nsym, rep.meta.epochs,
               rep.seconds, rep.auc_new);
    if (watch_poll_once(st, STORE_VIA_WRITE, NULL, &m) != WATCH_LOADED) {
        printf("cannot load the trained model back\n");
        goto out;
    }
    items = xcalloc(te[0].n + te[1].n + 1, sizeof(*items));
    for (int spam = 0; spam <= 1; spam++)
        for (size_t i = 0; i < te[spam].n; i++) {
            struct eval_item *it = &items[n];
            struct verdict v;

            if (ctl_verdict_file(ctl->cfg, te[spam].path[i], m, &v) != 0)
                continue;
            it->spam = spam;
            ctl_eval_group(te[spam].path[i], it->group, sizeof(it->group));
            it->has_upstream = hdr_upstream_usable(v.res.upstream);
            it->upstream = v.res.score;
            it->required = v.res.required;
            it->has_p = v.scored;
            it->p = v.p;
            it->adjust = v.adjust;
            n++;
            verdict_free(&v);
        }
    if (!quiet)
        eval_report(stdout, title, items, n, model_meta(m)->spam_threshold);
    for (int s = 0; f != NULL && s < EVAL_NSCORERS; s++)
        eval_figures(items, n, NULL, (enum eval_scorer)s,
                     model_meta(m)->spam_threshold, &f[s]);
    rc = 0;
    if (!quiet && o->svg != NULL &&
        eval_roc_svg(o->svg, title, items, n) != 0) {
        fprintf(stderr, "neural-milter-ctl: %s: %s\n", o->svg,
                strerror(errno));
        rc = 1;
    }
out:
    free(items);
    model_release(m);
    return ctl_eval_cleanup(st, &rep, rc);
}

/* ctl_eval_curve - the sources at R = 0, 0.5%, 1%, 2%, 5%, 10%, 100%
 * (replies as given): a table, and the plot when -o names one */
static int
ctl_eval_curve(struct ctl *ctl, struct ctl_files tr[2], struct ctl_files te[2],
               const struct ctl_eval_opts *o)
{
    static const double shares[] = { 0, 0.005, 0.01, 0.02, 0.05, 0.1, 1 };
    struct eval_curve_pt pt[sizeof(shares) / sizeof(shares[0])];
    struct ctl_eval_opts one = *o;
    char title[96];
    size_t n = 0;
    int rc = 0;

    for (size_t i = 0; i < sizeof(shares) / sizeof(shares[0]); i++) {
        one.reports = shares[i];
        memset(&pt[n], 0, sizeof(pt[n]));
        pt[n].reports = shares[i];
        /* a point whose network was not published (too few of a class:
         * the trainer's guard) is a row of its own, not an error */
        pt[n].trained = ctl_eval_sources(ctl, tr, te, &one, 1, pt[n].f) == 0;
        n++;
    }
    snprintf(title, sizeof(title), "autolearn + reports R + %g%% replies",
             100 * o->replies);
    eval_curve_report(stdout, title, pt, n);
    if (o->svg != NULL && eval_curve_svg(o->svg, title, pt, n) != 0) {
        fprintf(stderr, "neural-milter-ctl: %s: %s\n", o->svg,
                strerror(errno));
        rc = 1;
    }
    return rc;
}

/* ctl_eval_split - a file's side in a two-directory evaluation: 30% test,
 * by a hash of its name, so reruns agree */
static int
ctl_eval_is_test(const char *path)
{
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    return util_hash64(base, strlen(base), UTIL_HASH64_INIT) % 100 < 30;
}

/* ctl_eval_labelled - dir holds spam/ and ham/ (a TRAIN_DIR or TEST_DIR) */
static int
ctl_eval_labelled(const char *dir)
{
    static const char *const cls[2] = { "ham", "spam" };
    char path[4096];
    struct stat sb;

    for (int c = 0; c < 2; c++) {
        snprintf(path, sizeof(path), "%s/%s", dir, cls[c]);
        if (stat(path, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return 0;
    }
    return 1;
}

/* ctl_eval_sets - the training and test files from the operands:
 * DIR/{train,test}/{spam,ham}; TRAIN_DIR/{spam,ham} TEST_DIR/{spam,ham};
 * or SPAMDIR HAMDIR split 70/30 by file name */
static void
ctl_eval_sets(int argc, char **argv, struct ctl_files tr[2],
              struct ctl_files te[2])
{
    static const char *const cls[2] = { "ham", "spam" };
    char path[4096];

    if (argc == 1 || (ctl_eval_labelled(argv[0]) &&
                      ctl_eval_labelled(argv[1]))) {
        for (int c = 0; c < 2; c++) {
            if (argc == 1)
                snprintf(path, sizeof(path), "%s/train/%s", argv[0], cls[c]);
            else
                snprintf(path, sizeof(path), "%s/%s", argv[0], cls[c]);
            ctl_files_add(&tr[c], path);
            if (argc == 1)
                snprintf(path, sizeof(path), "%s/test/%s", argv[0], cls[c]);
            else
                snprintf(path, sizeof(path), "%s/%s", argv[1], cls[c]);
            ctl_files_add(&te[c], path);
        }
        return;
    }
    for (int c = 0; c < 2; c++) {
        struct ctl_files all = { 0 };

        ctl_files_add(&all, argv[c == 1 ? 0 : 1]);
        for (size_t i = 0; i < all.n; i++)
            ctl_files_add(ctl_eval_is_test(all.path[i]) ? &te[c] : &tr[c],
                          all.path[i]);
        ctl_files_free(&all);
    }
}

/* ctl_eval - eval [OPTIONS] DIR | TRAIN_DIR TEST_DIR | SPAMDIR HAMDIR
 * (CTL_EVAL_USAGE): train on one labelled set, report on another */
static int
ctl_eval(struct ctl *ctl, int argc, char **argv)
{
    struct ctl_files tr[2] = { { 0 } }, te[2] = { { 0 } };
    struct ctl_eval_opts o = { .mode = "both" };
    int first, rc = 0;

    if ((first = ctl_eval_parse(argc, argv, &o)) < 0)
        return EX_USAGE;
    argc -= first;
    argv += first;
    if (argc != 1 && argc != 2) {
        fprintf(stderr, "neural-milter-ctl: " CTL_EVAL_USAGE "\n");
        return EX_USAGE;
    }
    ctl_eval_sets(argc, argv, tr, te);
    printf("train: %zu spam, %zu ham; test: %zu spam, %zu ham\n", tr[1].n,
           tr[0].n, te[1].n, te[0].n);
    if (tr[0].n == 0 || tr[1].n == 0 || te[0].n == 0 || te[1].n == 0) {
        fprintf(stderr, "neural-milter-ctl: eval needs messages of both "
                "classes in both splits\n");
        rc = 1;
    }
    if (o.curve || o.sources) {
        /* the simulated sources replace the two modes */
        if (rc == 0)
            rc = o.curve ? ctl_eval_curve(ctl, tr, te, &o)
                         : ctl_eval_sources(ctl, tr, te, &o, 0, NULL);
    } else {
        if (rc == 0 && strcmp(o.mode, "autolearn") != 0)
            rc |= ctl_eval_mode(ctl, 0, tr, te, &o, o.svg);
        if (rc == 0 && strcmp(o.mode, "explicit") != 0)
            rc |= ctl_eval_mode(ctl, 1, tr, te, &o,
                                strcmp(o.mode, "both") == 0 ? NULL : o.svg);
    }
    for (int c = 0; c < 2; c++) {
        ctl_files_free(&tr[c]);
        ctl_files_free(&te[c]);
    }
    return rc;
}

static const struct ctl_cmd ctl_cmds[] = {
    { "parse", "FILE...", 1, -1, ctl_parse,
      "show what the parser makes of each message's scanner header" },
    { "score", "FILE...", 1, -1, ctl_score,
      "show what the live model says of each message" },
    { "status", "", 0, 0, ctl_status,
      "show the live model: profile, version, thresholds, training" },
    { "export", "FILE", 1, 1, ctl_export,
      "write the live model's blob to FILE (- for stdout)" },
    { "import", "FILE", 1, 1, ctl_import,
      "check a model blob and publish it as the live model" },
    { "learn", "spam|ham FILE...", 2, -1, ctl_learn,
      "queue explicit verdicts (files, directories, - for stdin)" },
    { "train", "", 0, 0, ctl_train,
      "train now, wait, and print the validation figures" },
    { "reset", "model [DIGEST]|examples|all", 1, 2, ctl_reset,
      "drop a profile's model or all stored examples (asks first)" },
    { "eval", CTL_EVAL_USAGE + 5, 1, -1, ctl_eval,
      "train on one labelled set under a prefix of its own and report the "
      "accuracy on another (FP and spam caught at --thresholds too)" },
};
#define CTL_NCMDS (sizeof(ctl_cmds) / sizeof(ctl_cmds[0]))

/* ctl_usage - the synopsis with the command table */
static void
ctl_usage(int code)
{
    FILE *out = code ? stderr : stdout;

    fprintf(out, "usage: neural-milter-ctl [-c FILE] [-v] [-y] COMMAND "
            "[ARG...]\n"
            "  -c FILE  configuration (default %s)\n"
            "  -v       more detail (parse, score: list the symbols)\n"
            "  -y       do not ask before reset\n"
            "commands:\n", CTL_DEFAULT_CONFIG);
    for (size_t i = 0; i < CTL_NCMDS; i++)
        fprintf(out, "  %s %s\n      %s\n", ctl_cmds[i].name,
                ctl_cmds[i].args, ctl_cmds[i].help);
    exit(code);
}

/* main - options, configuration, dispatch */
int
main(int argc, char **argv)
{
    struct ctl ctl = { 0 };
    const char *config = NULL;
    char err[8192];
    int ch, rc;

    while ((ch = getopt(argc, argv, "+c:hvVy")) != -1) {
        switch (ch) {
        case 'c':
            config = optarg;
            break;
        case 'v':
            ctl.verbose = 1;
            break;
        case 'y':
            ctl.yes = 1;
            break;
        case 'V':
            printf("neural-milter-ctl %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            ctl_usage(0);
            break;
        default:
            ctl_usage(EX_USAGE);
        }
    }
    argc -= optind;
    argv += optind;
    if (argc < 1)
        ctl_usage(EX_USAGE);
    if (log_init("neural-milter-ctl", 1, NULL) != 0)
        return EX_SOFTWARE;
    /* -v: the info lines too (what train did with each report, ...) */
    log_set_level(ctl.verbose ? LOG_LEVEL_INFO : LOG_LEVEL_WARN);

    /* Without -c a missing default file means defaults, so that parse
     * works before anything is installed; a named file must exist. */
    if (config == NULL && access(CTL_DEFAULT_CONFIG, F_OK) != 0)
        ctl.cfg = cfg_defaults();
    else if ((ctl.cfg = cfg_load(config ? config : CTL_DEFAULT_CONFIG, err,
                                 sizeof(err))) == NULL) {
        fputs(err, stderr);
        return EX_CONFIG;
    }
    for (size_t i = 0; i < CTL_NCMDS; i++) {
        if (strcmp(argv[0], ctl_cmds[i].name) != 0)
            continue;
        if (argc - 1 < ctl_cmds[i].min_args ||
            (ctl_cmds[i].max_args >= 0 && argc - 1 > ctl_cmds[i].max_args))
            ctl_usage(EX_USAGE);
        rc = ctl_cmds[i].fn(&ctl, argc - 1, argv + 1);
        store_free(ctl.st);
        cfg_release(ctl.cfg);
        return rc;
    }
    fprintf(stderr, "neural-milter-ctl: unknown command %s\n", argv[0]);
    ctl_usage(EX_USAGE);
}
