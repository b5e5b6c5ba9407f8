/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model_int - what the parts of the model module share and nobody else
 * sees: struct model and the helpers that build one. model.c holds the
 * net and its references; model_sparse.c the sparse form of the net and
 * scoring; model_blob.c the blob codec; model_train.c the training. Only
 * these files include <fann.h>.
 */
#ifndef NM_MODEL_INT_H
#define NM_MODEL_INT_H

#include <fann.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "model.h"

#define MODEL_STEEPNESS 0.5f       /* libfann's default */

/*
 * The first layer's loops run over the hidden units in vectors of
 * MODEL_LANES floats (GCC's vector extension: the compiler's -O2 does
 * not vectorise loops of unknown length): its rows are padded to
 * model_stride(layers[1]) floats, the padding 0 and kept 0. Element by
 * element the vectors compute what the scalar float code computes.
 * may_alias and aligned(4): a vector is read from and written to float
 * arrays at any float boundary.
 */
#define MODEL_LANES 4
#define MODEL_HMAX (CFG_LAYER_MAX + MODEL_LANES) /* a padded layer, and one
                                                    more unit: the bias */
typedef float model_v4
    __attribute__((vector_size(4 * sizeof(float)), may_alias, aligned(4)));
/* Eight floats: two SSE vectors on the baseline, one AVX vector in a
 * function compiled for AVX2 (NM_CLONES_AVX2), where a row of 36 units
 * takes 5 vector steps instead of 9. The same float operations element
 * by element either way (AVX2 brings no fused multiply-add). */
typedef float model_v8
    __attribute__((vector_size(8 * sizeof(float)), may_alias, aligned(4)));

/* model_stride - h rounded up to a multiple of MODEL_LANES */
static inline size_t
model_stride(size_t h)
{
    return (h + MODEL_LANES - 1) & ~(size_t)(MODEL_LANES - 1);
}

/* model_axpy - y[0 .. hp) += x[0 .. hp) * a, hp a multiple of the lanes:
 * eight floats a step, then the four left */
static inline void
model_axpy(float *restrict y, const float *restrict x, float a, size_t hp)
{
    const model_v8 va8 = { a, a, a, a, a, a, a, a };
    const model_v4 va = { a, a, a, a };
    size_t j = 0;

    for (; j + 8 <= hp; j += 8)
        *(model_v8 *)(y + j) += *(const model_v8 *)(x + j) * va8;
    if (j < hp)
        *(model_v4 *)(y + j) += *(const model_v4 *)(x + j) * va;
}

/* model_scale - y[0 .. hp) = x[0 .. hp) * a */
static inline void
model_scale(float *restrict y, const float *restrict x, float a, size_t hp)
{
    const model_v8 va8 = { a, a, a, a, a, a, a, a };
    const model_v4 va = { a, a, a, a };
    size_t j = 0;

    for (; j + 8 <= hp; j += 8)
        *(model_v8 *)(y + j) = *(const model_v8 *)(x + j) * va8;
    if (j < hp)
        *(model_v4 *)(y + j) = *(const model_v4 *)(x + j) * va;
}

/* model_add - y[0 .. hp) += x[0 .. hp) */
static inline void
model_add(float *restrict y, const float *restrict x, size_t hp)
{
    size_t j = 0;

    for (; j + 8 <= hp; j += 8)
        *(model_v8 *)(y + j) += *(const model_v8 *)(x + j);
    if (j < hp)
        *(model_v4 *)(y + j) += *(const model_v4 *)(x + j);
}

_Static_assert(sizeof(fann_type) == sizeof(float),
               "model is built against float libfann");

/* How many distinct [model] ignore_symbols settings one model keeps
 * flags for (a reload that changes them adds one). */
#define MODEL_IGNORE_SLOTS 4

/* The profile's ignore flags under one ignore_symbols (model_ignored). */
struct model_ignore {
    char *patterns;          /* the setting they were computed for */
    unsigned char flag[];    /* one per profile symbol */
};

struct model {
    /* fixed at creation or load; read by any thread once published */
    struct fann *ann;              /* the weights; never run */
    struct feat_profile *prof;
    size_t nlayers;
    unsigned layers[MODEL_MAX_LAYERS];
    enum fann_activationfunc_enum act[MODEL_MAX_LAYERS]; /* [0] unused */
    float steep[MODEL_MAX_LAYERS];
    /* the sparse form of ann's first layer, made by model_layout() from
     * ann's weights whenever they change (creation, load, training,
     * model_input_mute); read by any thread once published */
    size_t woff[MODEL_MAX_LAYERS]; /* layer l's first weight in ann */
    size_t hp;                     /* model_stride(layers[1]) */
    float *w1t;                    /* layers[0] rows of hp floats: the
                                      weight from input i to hidden unit
                                      j at [i * hp + j] */
    float *b1;                     /* hp: layer 1's bias weights */
    /* set before publication only (model_set_meta, model_set_version,
     * model_train); read freely afterwards */
    struct model_meta meta;
    uint64_t version;
    char id[MODEL_ID_LEN + 1];
    /* shared */
    _Atomic unsigned long refs;
    /* model_ignored()'s flags, one set per distinct ignore_symbols: a
     * slot is filled once (compare and swap) and then never changed, so
     * readers need no lock; freed with the model */
    _Atomic(struct model_ignore *) ign[MODEL_IGNORE_SLOTS];
    pthread_mutex_t copy_mtx;      /* serialises fann_copy() of ann, which
                                      writes into its source on failure */
};

/*
 * One forward pass: the sums (after steepness and libfann's clamp) and
 * values of every neuron above the input layer, as fann_run() keeps them
 * in its neurons; val[l][layers[l]] is layer l's bias neuron (1). Lives
 * on the caller's stack: the net itself is never written.
 */
struct model_pass {
    float sum[MODEL_MAX_LAYERS][MODEL_HMAX];
    float val[MODEL_MAX_LAYERS][MODEL_HMAX];
};

/* model_alloc - a model around ann and prof (both taken), one reference,
 * no layers recorded yet (the caller fills nlayers, layers, act, steep,
 * then calls model_layout()). */
struct model *model_alloc(struct fann *ann, struct feat_profile *prof);

/* model_layout - (re)build m's sparse form from ann's weights: after the
 * layers are recorded and whenever the weights changed, only while no
 * other thread holds m. */
void model_layout(struct model *m);

/* model_sync_ann - write the first layer's weights (w1t, b1) back into
 * ann, after training changed them there. */
void model_sync_ann(struct model *m);

/* model_forward - run the net on the n non-zero inputs x (indices below
 * layers[0] in strictly ascending order, checked by the caller) into ps;
 * returns the output. The same float operations as fann_run() on the
 * dense vector (its order of additions, its clamp, libfann's activation
 * macros), so the same result bit for bit. Reads m only: any number of
 * threads at once. */
float model_forward(const struct model *m, const struct feat_pair *x,
                    size_t n, struct model_pass *ps);

/* model_create_net - an empty fully connected libfann net of this shape
 * with our activations; NULL when libfann fails. */
struct fann *model_create_net(const unsigned *layers, size_t nlayers,
                              const enum fann_activationfunc_enum *act,
                              const float *steep);

/* model_nweights - connections of a fully connected net, bias included. */
uint64_t model_nweights(const unsigned *layers, size_t nlayers);

/* model_update_id - m->id from its profile and version. */
void model_update_id(struct model *m);

/* model_rng_next - xorshift64* on private state: repeatable, any thread. */
uint64_t model_rng_next(uint64_t *s);

#endif /* NM_MODEL_INT_H */
