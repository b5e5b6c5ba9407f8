/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model - a libfann net with its profile, thresholds and training facts:
 * creation, references, the daemon's current model. Owns the net, its
 * sparse form and the profile. Any thread may score or read a published
 * model; model_set_* only on a model no other thread holds. Pure: no
 * logging, no I/O of its own (libfann reads /dev/urandom when it creates
 * a net). model_sparse.c holds scoring, model_blob.c the blob format,
 * model_train.c the training; the module is the only one that includes
 * <fann.h> and <zstd.h>, and must not include libmilter or hiredis.
 */
#include "config.h"
#include "model_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* The daemon's current model: one reference, model_current_mtx. The
 * generation counts the changes (written under the mutex, read without
 * it by model_current_refresh()). */
static pthread_mutex_t model_current_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct model *model_current;       /* model_current_mtx */
static _Atomic uint64_t model_current_gen = 1;


/* XXX: libfann prints its errors to stderr through a process-wide
 * default. We silence it once (and per net below) so that a pure module
 * never writes to stderr; the once-control is the only way to do it. */
static pthread_once_t model_fann_once = PTHREAD_ONCE_INIT;

/* model_fann_quiet - make libfann's default error log "none" */
static void
model_fann_quiet(void)
{
    fann_set_error_log(NULL, NULL);
}

/* ------------------------------------------------------------ creation */

/* model_rng_next - xorshift64*, private state: thread-safe, repeatable */
uint64_t
model_rng_next(uint64_t *s)
{
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dULL;
}

/* model_update_id - "DIGEST.VERSION" */
void
model_update_id(struct model *m)
{
    snprintf(m->id, sizeof(m->id), "%s.%" PRIu64,
             feat_profile_digest(m->prof), m->version);
}

/* model_alloc - a model around ann and prof (both taken) */
struct model *
model_alloc(struct fann *ann, struct feat_profile *prof)
{
    struct model *m = xcalloc(1, sizeof(*m));

    m->ann = ann;
    m->prof = prof;
    atomic_init(&m->refs, 1);
    for (size_t i = 0; i < MODEL_IGNORE_SLOTS; i++)
        atomic_init(&m->ign[i], NULL);
    if (pthread_mutex_init(&m->copy_mtx, NULL) != 0)
        abort(); /* only fails for lack of memory, like xmalloc */
    m->meta.spam_threshold = 1.0;
    m->meta.ham_threshold = 0.0;
    fann_set_error_log((struct fann_error *)ann, NULL);
    model_update_id(m);
    return m;
}

/* model_create_net - an empty fully connected net of the given shape */
struct fann *
model_create_net(const unsigned *layers, size_t nlayers,
                 const enum fann_activationfunc_enum *act,
                 const float *steep)
{
    struct fann *ann;

    pthread_once(&model_fann_once, model_fann_quiet);
    /* XXX: libfann seeds rand() from /dev/urandom here and fills the
     * weights with rand(), which is process-global; we overwrite every
     * weight afterwards from our own generator or the blob, so nothing
     * depends on that state. */
    ann = fann_create_standard_array((unsigned)nlayers, layers);
    if (ann == NULL)
        return NULL;
    fann_set_error_log((struct fann_error *)ann, NULL);
    for (size_t l = 1; l < nlayers; l++) {
        fann_set_activation_function_layer(ann, act[l], (int)l);
        fann_set_activation_steepness_layer(ann, steep[l], (int)l);
    }
    fann_set_training_algorithm(ann, FANN_TRAIN_RPROP);
    return ann;
}

/* model_nweights - connections of a fully connected net, bias included */
uint64_t
model_nweights(const unsigned *layers, size_t nlayers)
{
    uint64_t n = 0;

    for (size_t l = 1; l < nlayers; l++)
        n += ((uint64_t)layers[l - 1] + 1) * layers[l];
    return n;
}

/* model_new - fresh net with Glorot-uniform weights from seed */
struct model *
model_new(struct feat_profile *prof, const unsigned *hidden, size_t nhidden,
          uint32_t seed)
{
    unsigned layers[MODEL_MAX_LAYERS];
    enum fann_activationfunc_enum act[MODEL_MAX_LAYERS];
    float steep[MODEL_MAX_LAYERS];
    size_t nlayers = nhidden + 2;
    struct fann *ann;
    struct model *m;
    uint64_t s, w = 0;

    if (prof == NULL)
        return NULL;
    if (hidden == NULL || nhidden < 1 || nlayers > MODEL_MAX_LAYERS) {
        feat_profile_free(prof);
        return NULL;
    }
    layers[0] = (unsigned)feat_ninputs(prof);
    for (size_t i = 0; i < nhidden; i++) {
        if (hidden[i] < 1 || hidden[i] > CFG_LAYER_MAX) {
            feat_profile_free(prof);
            return NULL;
        }
        layers[i + 1] = hidden[i];
        act[i + 1] = FANN_SIGMOID_SYMMETRIC;
        steep[i + 1] = MODEL_STEEPNESS;
    }
    layers[nlayers - 1] = 1;
    act[nlayers - 1] = FANN_SIGMOID;
    steep[nlayers - 1] = MODEL_STEEPNESS;
    act[0] = FANN_LINEAR;
    steep[0] = 0;

    ann = model_create_net(layers, nlayers, act, steep);
    if (ann == NULL ||
        fann_get_total_connections(ann) != model_nweights(layers, nlayers)) {
        if (ann != NULL)
            fann_destroy(ann);
        feat_profile_free(prof);
        return NULL;
    }

    /* Glorot-uniform per layer: +-sqrt(6 / (fan_in + fan_out)). The state
     * is a splitmix64 step of the seed, so seed 0 is fine too. */
    s = (uint64_t)seed + 0x9e3779b97f4a7c15ULL;
    s = (s ^ (s >> 30)) * 0xbf58476d1ce4e5b9ULL;
    s = (s ^ (s >> 27)) * 0x94d049bb133111ebULL;
    s ^= s >> 31;
    if (s == 0)
        s = 0x2545f4914f6cdd1dULL;
    for (size_t l = 1; l < nlayers; l++) {
        uint64_t nl = ((uint64_t)layers[l - 1] + 1) * layers[l];
        double r = sqrt(6.0 / ((double)layers[l - 1] + 1 + layers[l]));

        for (uint64_t k = 0; k < nl; k++, w++) {
            double u = (double)(model_rng_next(&s) >> 11) * 0x1.0p-53;

            ann->weights[w] = (fann_type)((2.0 * u - 1.0) * r);
        }
    }

    m = model_alloc(ann, prof);
    m->nlayers = nlayers;
    memcpy(m->layers, layers, sizeof(layers));
    memcpy(m->act, act, sizeof(act));
    memcpy(m->steep, steep, sizeof(steep));
    model_layout(m);
    return m;
}

/* model_copy - deep copy */
struct model *
model_copy(const struct model *m)
{
    /* the copy mutex is the one mutable part of a const model */
    struct model *src = (struct model *)m;
    size_t nsym = feat_profile_nsym(m->prof);
    const char **names;
    struct feat_profile *prof;
    struct fann *ann;
    struct model *c;

    names = xreallocarray(NULL, nsym, sizeof(*names));
    for (size_t i = 0; i < nsym; i++)
        names[i] = feat_profile_name(m->prof, i);
    prof = feat_profile_new(names, nsym, feat_profile_scores(m->prof));
    free(names);
    if (prof == NULL)
        return NULL;
    /* fann_copy() writes errno_f into its source when it runs out of
     * memory: serialise it with other copies */
    pthread_mutex_lock(&src->copy_mtx);
    ann = fann_copy(src->ann);
    pthread_mutex_unlock(&src->copy_mtx);
    if (ann == NULL) {
        feat_profile_free(prof);
        return NULL;
    }
    c = model_alloc(ann, prof);
    c->nlayers = m->nlayers;
    memcpy(c->layers, m->layers, sizeof(c->layers));
    memcpy(c->act, m->act, sizeof(c->act));
    memcpy(c->steep, m->steep, sizeof(c->steep));
    c->meta = m->meta;
    c->version = m->version;
    model_update_id(c);
    model_layout(c);
    return c;
}

/* model_acquire - one more reference */
struct model *
model_acquire(struct model *m)
{
    if (m != NULL)
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

/* model_ignore_free - release one set of ignore flags; NULL is fine */
static void
model_ignore_free(struct model_ignore *ig)
{
    if (ig == NULL)
        return;
    free(ig->patterns);
    free(ig);
}

/* model_release - drop a reference; the last one frees everything */
void
model_release(struct model *m)
{
    if (m == NULL)
        return;
    if (atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < MODEL_IGNORE_SLOTS; i++)
        model_ignore_free(atomic_load_explicit(&m->ign[i],
                                               memory_order_acquire));
    free(m->w1t);
    free(m->b1);
    pthread_mutex_destroy(&m->copy_mtx);
    fann_destroy(m->ann);
    feat_profile_free(m->prof);
    free(m);
}

/* ------------------------------------------------------------ accessors */

/* model_profile - the profile, owned by the model */
const struct feat_profile *
model_profile(const struct model *m)
{
    return m->prof;
}

/* model_ignore_new - the profile's flags under c's ignore_symbols */
static struct model_ignore *
model_ignore_new(const struct feat_profile *prof, const struct cfg *c)
{
    size_t n = feat_profile_nsym(prof);
    struct model_ignore *ig = xmalloc(sizeof(*ig) + n);

    ig->patterns = xstrdup(c->ignore_symbols);
    for (size_t i = 0; i < n; i++)
        ig->flag[i] =
            (unsigned char)cfg_symbol_ignored(c, feat_profile_name(prof, i));
    return ig;
}

/* model_ignored - the flags for c's ignore_symbols: found in a slot, or
 * computed and published in a free one */
const unsigned char *
model_ignored(struct model *m, const struct cfg *c)
{
    struct model_ignore *ig, *fresh;
    size_t i;

    for (i = 0; i < MODEL_IGNORE_SLOTS; i++) {
        ig = atomic_load_explicit(&m->ign[i], memory_order_acquire);
        if (ig == NULL)
            break;
        if (strcmp(ig->patterns, c->ignore_symbols) == 0)
            return ig->flag;
    }
    /* XXX: the slots hold other settings (ignore_symbols changed more
     * than MODEL_IGNORE_SLOTS times under one model): the caller matches
     * every symbol, as before, until the next model. */
    if (i == MODEL_IGNORE_SLOTS)
        return NULL;
    /* Not there: compute the flags once and offer them to the first free
     * slot. Another thread may fill it first, with these patterns or
     * others: then look on. */
    fresh = model_ignore_new(m->prof, c);
    for (; i < MODEL_IGNORE_SLOTS; i++) {
        ig = NULL;
        if (atomic_compare_exchange_strong_explicit(
                &m->ign[i], &ig, fresh, memory_order_acq_rel,
                memory_order_acquire))
            return fresh->flag;
        if (strcmp(ig->patterns, c->ignore_symbols) == 0) {
            model_ignore_free(fresh);
            return ig->flag;
        }
    }
    model_ignore_free(fresh);
    return NULL;
}

/* model_meta - the training facts, owned by the model */
const struct model_meta *
model_meta(const struct model *m)
{
    return &m->meta;
}

/* model_set_meta - replace the training facts */
void
model_set_meta(struct model *m, const struct model_meta *meta)
{
    m->meta = *meta;
}

/* model_ninputs - input layer width */
size_t
model_ninputs(const struct model *m)
{
    return m->layers[0];
}

/* model_layers - layer sizes, input first */
size_t
model_layers(const struct model *m, unsigned sizes[MODEL_MAX_LAYERS])
{
    memcpy(sizes, m->layers, m->nlayers * sizeof(*sizes));
    return m->nlayers;
}

/* model_set_version - the Redis version; only before publication */
void
model_set_version(struct model *m, uint64_t version)
{
    m->version = version;
    model_update_id(m);
}

/* model_version - the Redis version, 0 = never stored */
uint64_t
model_version(const struct model *m)
{
    return m->version;
}

/* model_id - "DIGEST.VERSION" */
const char *
model_id(const struct model *m)
{
    return m->id;
}

/* ------------------------------------------------------------- scoring */

/* model_clamp01 - into [0, 1] */
static double
model_clamp01(double p)
{
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* model_adjust - bounded score adjustment from p and the thresholds */
double
model_adjust(const struct model *m, double p, double spam_weight,
             double ham_weight)
{
    double ts = m->meta.spam_threshold, th = m->meta.ham_threshold;

    if (isnan(p))
        return 0;
    p = model_clamp01(p);
    /* ts >= 1 and th <= 0 switch a side off (and keep 1 - ts and th away
     * from zero) */
    if (ts < 1 && p >= ts)
        return spam_weight * (p - ts) / (1 - ts);
    if (th > 0 && p <= th)
        return ham_weight * (th - p) / th;
    return 0;
}

/* ------------------------------------------------------- current model */

/* model_current_set - publish m (its reference taken), drop the old one */
void
model_current_set(struct model *m)
{
    struct model *old;

    pthread_mutex_lock(&model_current_mtx);
    old = model_current;
    model_current = m;
    atomic_fetch_add_explicit(&model_current_gen, 1, memory_order_release);
    pthread_mutex_unlock(&model_current_mtx);
    model_release(old); /* outside the lock: freeing a net takes a while */
}

/* model_current_get - a new reference to the current model, or NULL */
struct model *
model_current_get(void)
{
    struct model *m;

    pthread_mutex_lock(&model_current_mtx);
    m = model_acquire(model_current);
    pthread_mutex_unlock(&model_current_mtx);
    return m;
}


/* model_current_refresh - the caller's cached reference, renewed only
 * when the current model changed since *gen */
struct model *
model_current_refresh(struct model **slot, uint64_t *gen)
{
    uint64_t g = atomic_load_explicit(&model_current_gen,
                                      memory_order_acquire);
    struct model *m;

    if (g == *gen)
        return *slot;
    /* the generation read under the mutex belongs to the model read
     * there */
    pthread_mutex_lock(&model_current_mtx);
    m = model_acquire(model_current);
    g = atomic_load_explicit(&model_current_gen, memory_order_relaxed);
    pthread_mutex_unlock(&model_current_mtx);
    model_release(*slot);
    *slot = m;
    *gen = g;
    return m;
}
