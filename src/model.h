/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model - the network: a libfann net plus its profile, the thresholds and
 * the training metadata; conversion to and from our own compressed blob
 * format; scoring; training steps. The only module that includes <fann.h>
 * and <zstd.h>. A published model is read-only: scoring reads the shared
 * net (libfann's weights plus a transposed first layer made from them)
 * and writes only the caller's stack, so any number of threads may score
 * one model at once, with no copy and no lock. Pure: no logging, no I/O.
 */
#ifndef NM_MODEL_H
#define NM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "feat.h"
#include "hdr.h"

#define MODEL_MAX_LAYERS 4          /* input + 2 hidden + output */

/*
 * The size limits, derived from the limits of what a model holds, so
 * that a blob is refused for its size exactly when no valid model could
 * be that large:
 * - MODEL_MAX_INPUTS: the widest profile, FEAT_MAX_SYMBOLS symbols with
 *   scores (a presence and a score input each) and the meta-inputs;
 * - MODEL_MAX_WEIGHTS: the largest net over it, two hidden layers of
 *   CFG_LAYER_MAX (wider than one) and one output, bias weights included;
 * - MODEL_MAX_RAW: the largest payload of format 2 (model_blob.c,
 *   doc/model-format.md), field by field: magic and version; digest,
 *   with_scores and nsym; FEAT_MAX_SYMBOLS names of HDR_MAX_NAME bytes
 *   with their u16 lengths; nlayers and the layer sizes; an activation and
 *   a steepness per layer after the input; nweights and the weights; the
 *   meta (i64, 7 u32, 6 f64); the map (u32, 6 f64, 2 u32, 2 f64, u32,
 *   MODEL_MAP_MAX_THR of f64 and 4 u32: MODEL_MAP_BYTES); the checksum.
 *   4795228 bytes.
 * - MODEL_MAX_BLOB: a round number at least ZSTD_COMPRESSBOUND() of it
 *   (model_blob.c asserts that), the compressed bytes accepted.
 * Decoding the largest model raises the peak RSS by about 23 MB (the
 * payload, the weights, and libfann's net, which keeps a pointer beside
 * every weight; the transposed first layer, 4 MB, is made after the
 * payload is freed); scoring adds nothing. t_model measures it.
 */
#define MODEL_MAX_INPUTS (2u * FEAT_MAX_SYMBOLS + FEAT_NMETA)
#define MODEL_MAX_WEIGHTS                                                    \
    ((MODEL_MAX_INPUTS + 1) * CFG_LAYER_MAX +                                \
     (CFG_LAYER_MAX + 1u) * CFG_LAYER_MAX + (CFG_LAYER_MAX + 1u))
#define MODEL_MAP_MAX_THR 4      /* thresholds the fit reports on */
#define MODEL_MAP_BYTES (4u + 6 * 8 + 2 * 4 + 2 * 8 + 4 +                  \
                         MODEL_MAP_MAX_THR * (8u + 4 * 4))
#define MODEL_MAX_RAW                                                        \
    (8u + 4 + 8 + 4 + 4 + FEAT_MAX_SYMBOLS * (2u + HDR_MAX_NAME) + 4 +       \
     4u * MODEL_MAX_LAYERS + 8u * (MODEL_MAX_LAYERS - 1) + 4 +              \
     4u * MODEL_MAX_WEIGHTS + 8 + 7 * 4 + 6 * 8 + MODEL_MAP_BYTES + 8)
#define MODEL_MAX_BLOB (5u << 20)
#define MODEL_ID_LEN (FEAT_DIGEST_LEN + 1 + 20)

/*
 * The mapping from the network's p (and the upstream's score u) to the
 * score adjustment, fitted at training on the held-back explicit
 * verdicts (model_map_fit()) and shipped in the blob (format 2):
 *
 *   a = level + slope * logit(p) - pull * u, at least 0 from p = sure
 *       on and at most 0 below, then clamped to [ham_weight, spam_weight]
 *
 * pull 0 adds the network's evidence to the upstream score; pull 1 puts
 * the message at the network's verdict on the upstream's scale, T(p) =
 * level + slope * logit(p), as far as the weights allow; between, part
 * of the way. From sure on (a p that at most a few held-back ham reach)
 * the adjustment may only raise the score, below it only lower it, so a
 * spam the upstream rejects is never pulled below. A model of format 1
 * keeps the
 * threshold ramps of model_adjust() (MODEL_MAP_RAMP). Plain data.
 */
enum model_map_kind {
    MODEL_MAP_RAMP,  /* model_adjust() on spam_/ham_threshold */
    MODEL_MAP_FIT,   /* the fitted formula above */
};
#define MODEL_MAP_KINDS 2

/* One upstream threshold the fit kept: held-back ham and spam at or
 * above it, upstream alone and upstream + adjustment. */
struct model_map_thr {
    double at;
    uint32_t fp_up, fp_adj, tp_up, tp_adj;
};

struct model_map {
    uint32_t kind;             /* enum model_map_kind */
    double sure;               /* p from which a may be positive */
    double level, slope, pull; /* see above; pull in [0, 1] */
    double spam_weight;        /* the bounds it was fitted under (the */
    double ham_weight;         /* scoring bounds are [score]'s) */
    uint32_t n_spam, n_ham;    /* held-back explicit verdicts used */
    double auc_up, auc_adj;    /* their AUC: upstream alone, + adjust */
    uint32_t nthr;             /* thresholds in thr[] */
    struct model_map_thr thr[MODEL_MAP_MAX_THR];
};

/* Training facts stored with the network. */
struct model_meta {
    int64_t trained_at;    /* unix time; 0 = never */
    uint32_t n_spam;       /* examples trained on */
    uint32_t n_ham;
    uint32_t n_val_spam;   /* examples held back for validation */
    uint32_t n_val_ham;
    uint32_t n_explicit;   /* of all those, explicit verdicts */
    uint32_t iterations;   /* trainings continued on this net since fresh */
    uint32_t epochs;       /* epochs of the last training */
    double val_auc;        /* on the held-back examples */
    double val_mse;
    double val_tpr;        /* spam share above spam_threshold */
    double val_fpr;        /* ham share above spam_threshold */
    double spam_threshold; /* p at or above it adjusts towards spam */
    double ham_threshold;  /* p at or below it adjusts towards ham */
    struct model_map map;  /* p -> adjustment (format 2; RAMP before) */
};

struct model;

/*
 * model_new - a fresh network with random weights (seeded by seed) for
 * profile prof (taken: the model frees it, also when model_new() fails),
 * with nhidden (1 or 2) hidden layers of the given sizes, sigmoid-symmetric
 * hidden units and a sigmoid output. Thresholds start at 1.0 / 0.0 (no
 * adjustment). Returns NULL when libfann fails. One reference;
 * model_release() frees.
 */
struct model *model_new(struct feat_profile *prof, const unsigned *hidden,
                        size_t nhidden, uint32_t seed);

/*
 * model_from_blob - decode a blob made by model_to_blob(): checks magic,
 * format version, sizes against the limits, the profile digest against
 * its symbol list, and the checksum. Returns 0 with *out holding one
 * reference, or -1 with the reason in err.
 */
int model_from_blob(const void *blob, size_t len, struct model **out,
                    char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* model_to_blob - encode and compress m; *blob is malloc'd, caller frees.
 * Returns 0 or -1 with the reason in err. */
int model_to_blob(const struct model *m, void **blob, size_t *len, char *err,
                  size_t errlen) __attribute__((warn_unused_result));

/* model_copy - a deep copy (net, profile, meta) with one reference, for
 * training on without touching the published model. NULL on failure. */
struct model *model_copy(const struct model *m);

struct model *model_acquire(struct model *m);
void model_release(struct model *m);

const struct feat_profile *model_profile(const struct model *m);
const struct model_meta *model_meta(const struct model *m);
/*
 * model_ignored - one byte per profile symbol, non-zero when [model]
 * ignore_symbols of c (borrowed) leaves it out: for feat_sparse_kept().
 * Computed on the first call for each distinct ignore_symbols and kept
 * with the model (at most MODEL_IGNORE_SLOTS of them), so that a message
 * costs no pattern match for the symbols the profile knows. Borrowed:
 * valid while the caller holds m. NULL when the slots hold other
 * settings (then match each symbol). Any thread, no lock; does not log.
 */
const unsigned char *model_ignored(struct model *m, const struct cfg *c);
/* model_set_meta - only on a model nobody else holds yet. */
void model_set_meta(struct model *m, const struct model_meta *meta);
size_t model_ninputs(const struct model *m);
/* model_layers - layer sizes, input first; returns the count. */
size_t model_layers(const struct model *m, unsigned sizes[MODEL_MAX_LAYERS]);

/* The Redis version the model was published or loaded as (0 = never) and
 * its id "DIGEST.VERSION" for headers and logs. */
void model_set_version(struct model *m, uint64_t version);
uint64_t model_version(const struct model *m);
const char *model_id(const struct model *m);

/*
 * model_score_sparse - run the network on the n non-zero inputs x into
 * *p in [0,1]. Computes what libfann's fann_run() computes on the dense
 * vector, the same float operations in the same order (libfann's
 * activation macros and clamp; zeros left out of its sums, which they do
 * not change), so the same output bit for bit; on the first layer only
 * the rows of the non-zero inputs are read. Wants the pairs in
 * feat_sparse()'s strictly ascending order; others are sorted into a
 * copy (a repeated index adds up). Reads the shared net only: any
 * thread, no lock, no allocation for ordered pairs. Returns 0, or -1
 * when an index is not below model_ninputs(), a value or the output is
 * not finite.
 */
int model_score_sparse(const struct model *m, const struct feat_pair *x,
                       size_t n, double *p) __attribute__((warn_unused_result));

/*
 * model_score - the same for a dense vector in (ninputs floats): its
 * non-zero entries go through model_score_sparse(). Any thread. Returns
 * 0, or -1 when n does not match or the output is not finite.
 */
int model_score(struct model *m, const float *in, size_t n, double *p)
    __attribute__((warn_unused_result));

/*
 * model_score_fann - libfann's own fann_run() on a private fann_copy() of
 * the net: the reference the sparse pass is checked against (tests,
 * benchmarks); slow (a copy per call). Any thread. 0 or -1.
 */
int model_score_fann(const struct model *m, const float *in, size_t n,
                     double *p) __attribute__((warn_unused_result));

/*
 * model_adjust - the score adjustment for p under m's thresholds:
 *   p >= spam_threshold: spam_weight * (p - ts) / (1 - ts)
 *   p <= ham_threshold:  ham_weight  * (th - p) / th
 *   otherwise 0.
 * spam_weight >= 0 and ham_weight <= 0 bound it.
 */
double model_adjust(const struct model *m, double p, double spam_weight,
                    double ham_weight);

/*
 * model_map_adjust - the adjustment for a message the network gave p,
 * whose upstream total is upstream: m's mapping (MODEL_MAP_FIT, or the
 * ramps of model_adjust()), clamped to [ham_weight, spam_weight], then
 * shrunk by the guard: multiplied by known, the weighted share of the
 * message's symbols the profile knows (feat_known_share(); clamped to
 * [0, 1]), so a message the network has seen nothing of gets 0. Any
 * thread.
 */
double model_map_adjust(const struct model *m, double p, double upstream,
                        double known, double spam_weight, double ham_weight);

/* model_map_describe - one line for status, train and eval: the formula
 * with its values and what the fit measured, or the ramps it falls back
 * to. Returns buf. */
const char *model_map_describe(const struct model_map *mp, char *buf,
                               size_t len);

/* model_map_apply - the fitted formula alone, before the guard. */
double model_map_apply(const struct model_map *mp, double p, double upstream,
                       double spam_weight, double ham_weight);

/*
 * model_map_fit - fit a MODEL_MAP_FIT mapping on n held-back examples
 * (p: network outputs, u: upstream totals, spam: labels; all borrowed):
 * over a grid of sure, pull, slope and level it keeps the candidates that
 * put no more held-back ham at or above any of the nthr thresholds than
 * the upstream alone does, and takes the one whose upstream + adjustment
 * ranks the held-back examples best (the mean of the AUC and the ROC's
 * area up to 10% false positives, to 1e-4; then the most spam at
 * the thresholds; then the higher sure, the smaller pull and slope).
 * sure starts at 0.5, or at sure_min (the network's own spam threshold)
 * when fewer than 200 ham are held back: too few to place a 0.5% quantile,
 * and a few dozen ham reported over the scanner's threshold made a fit
 * that pushed 47 test ham over it where the scanner put 25.
 * Fills *out and returns 0; -1 (out set to MODEL_MAP_RAMP) when a class
 * has fewer than MODEL_MAP_MIN_CLASS examples or no candidate keeps the
 * thresholds. Pure, single call; a few hundred ms for MODEL_MAP_MAX_ROWS.
 */
#define MODEL_MAP_MIN_CLASS 20
#define MODEL_MAP_MAX_ROWS 2000   /* held-back rows fitted on, at most */
int model_map_fit(const double *p, const double *u,
                  const unsigned char *spam, size_t n,
                  const double *thresholds, size_t nthr, double sure_min,
                  double spam_weight, double ham_weight,
                  struct model_map *out);

/* Training, for the trainer thread only, on a model no one else holds. */
struct model_train_opts {
    unsigned max_epochs;
    unsigned patience;      /* epochs without validation gain before stop */
    double target_fpr;      /* spam threshold chosen at this ham rate */
    double smoothing;       /* targets: smoothing for ham, 1 - it for spam */
    double learning_rate;   /* of the per-example (incremental) updates */
    uint64_t seed;          /* of the order the examples are shown in */
    /* checked before each epoch (NULL: never): nonzero stops the
     * training, which then fails with "cancelled" */
    int (*cancelled)(void *arg);
    void *cancel_arg;
};

/*
 * model_input_mute - set the weights from input i to zero: an input the
 * training examples never set then adds nothing when scoring, instead of
 * whatever its random initial weights would add.
 */
void model_input_mute(struct model *m, size_t i);

/*
 * Examples in sparse form, for training and evaluation. Row r is the
 * example e = ex[r] (or r when ex is NULL), whose non-zero inputs are
 * pair[off[e] .. off[e + 1]) (as feat_sparse() makes them: indices below
 * the net's inputs, strictly ascending) and whose label is y[e] (1 spam,
 * 0 ham). Rows may repeat an example: oversampling costs no copy. All
 * arrays are borrowed.
 */
struct model_rows {
    size_t n;                     /* rows */
    const uint32_t *ex;           /* n examples, or NULL */
    const size_t *off;            /* one more than the examples */
    const struct feat_pair *pair;
    const float *y;               /* per example */
};

/*
 * model_train_sparse - train m on the rows of train (balanced by the
 * caller) by per-example steps in an order shuffled each epoch, with
 * early stopping on the held-back rows of val (NULL or empty: train
 * stands in), keeping the weights of the best validation epoch. A step
 * is libfann's incremental fann_train() step (tanh error function, no
 * momentum) computed on the non-zero inputs only: the first layer's
 * weights of an input that is 0 do not move in libfann either, so only
 * the inputs that fired are touched (plus the bias and the later
 * layers). Then chooses the thresholds on the held-back rows and fills
 * the validation fields of the meta (trained_at, counts and iterations
 * are the caller's). Memory: the order of the rows and the outputs on
 * val, beside the caller's pairs. Returns 0 or -1 with the reason in
 * err. Long-running; no locks held.
 */
int model_train_sparse(struct model *m, const struct model_rows *train,
                       const struct model_rows *val,
                       const struct model_train_opts *opts, char *err,
                       size_t errlen) __attribute__((warn_unused_result));

/*
 * model_train_epoch - one epoch of those steps over rows in the given
 * order (order[i] is a row; NULL: 0 .. n-1) towards the targets smoothing
 * (ham) and 1 - smoothing (spam); *mse (may be NULL) is the epoch's mean
 * squared error as fann_train_epoch() reports it. model_train_epoch_fann
 * makes the same epoch through libfann's own fann_train() on dense
 * vectors: the reference the first is checked against (tests). Both
 * return 0, or -1 when the error is no longer finite.
 */
int model_train_epoch(struct model *m, const struct model_rows *rows,
                      const uint32_t *order, double learning_rate,
                      double smoothing, double *mse);
int model_train_epoch_fann(struct model *m, const struct model_rows *rows,
                           const uint32_t *order, double learning_rate,
                           double smoothing, double *mse);

/* model_weight_count - the net's weights, bias weights included;
 * model_weights - copy them into w (model_weight_count() floats), in
 * libfann's order (neuron by neuron, the bias last). */
size_t model_weight_count(const struct model *m);
void model_weights(const struct model *m, float *w);

/*
 * model_train - the same for dense rows: x (n * ninputs floats
 * row-major), y (n labels 1 = spam, 0 = ham), held back vx, vy (nv);
 * their non-zero entries go to model_train_sparse() (for tests and
 * tools; the trainer builds sparse rows). Returns 0 or -1 with err.
 */
int model_train(struct model *m, const float *x, const float *y, size_t n,
                const float *vx, const float *vy, size_t nv,
                const struct model_train_opts *opts, char *err,
                size_t errlen) __attribute__((warn_unused_result));

/*
 * model_evaluate - AUC and mean squared error of m on n examples;
 * model_evaluate_sparse the same over rows. Return 0 or -1 (n == 0 or a
 * single class gives auc 0.5).
 */
int model_evaluate_sparse(struct model *m, const struct model_rows *rows,
                          double *auc, double *mse)
    __attribute__((warn_unused_result));
int model_evaluate(struct model *m, const float *x, const float *y, size_t n,
                   double *auc, double *mse)
    __attribute__((warn_unused_result));

/*
 * The daemon's current model: model_current_set() takes the caller's
 * reference (NULL clears) and drops the previous one; model_current_get()
 * returns a new reference or NULL. Any thread; a mutex inside model.c.
 */
void model_current_set(struct model *m);
struct model *model_current_get(void);

/*
 * model_current_refresh - a caller's cache of the current model: *slot
 * holds a reference (or NULL) that was current at generation *gen (start
 * with NULL and 0). When the current model is still that one, returns
 * *slot at the cost of one atomic load; otherwise takes the mutex once,
 * replaces *slot (releasing the old reference) and *gen. Returns *slot,
 * borrowed: the caller releases *slot with model_release() when done
 * with the cache. Any thread, one cache per thread or connection.
 */
struct model *model_current_refresh(struct model **slot, uint64_t *gen);

#endif /* NM_MODEL_H */
