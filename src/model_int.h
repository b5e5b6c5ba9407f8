/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model_int - what the parts of the model module share and nobody else
 * sees: struct model and the helpers that build one. model.c holds the
 * net, its references and scoring; model_blob.c the blob codec;
 * model_train.c the training. Only these files include <fann.h>.
 */
#ifndef NM_MODEL_INT_H
#define NM_MODEL_INT_H

#include <fann.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "model.h"

#define MODEL_POOL_MAX 64          /* idle fann copies kept per model */
#define MODEL_STEEPNESS 0.5f       /* libfann's default */

_Static_assert(sizeof(fann_type) == sizeof(float),
               "model is built against float libfann");

struct model {
    /* fixed at creation or load; read by any thread once published */
    struct fann *ann;              /* never run: only copied */
    struct feat_profile *prof;
    size_t nlayers;
    unsigned layers[MODEL_MAX_LAYERS];
    enum fann_activationfunc_enum act[MODEL_MAX_LAYERS]; /* [0] unused */
    float steep[MODEL_MAX_LAYERS];
    /* set before publication only (model_set_meta, model_set_version,
     * model_train); read freely afterwards */
    struct model_meta meta;
    uint64_t version;
    char id[MODEL_ID_LEN + 1];
    /* shared */
    _Atomic unsigned long refs;
    pthread_mutex_t pool_mtx;
    struct fann **pool;            /* idle copies of ann; pool_mtx */
    size_t npool;                  /* pool_mtx */
};


/* model_alloc - a model around ann and prof (both taken), one reference,
 * no layers recorded yet (the caller fills nlayers, layers, act, steep). */
struct model *model_alloc(struct fann *ann, struct feat_profile *prof);

/* model_create_net - an empty fully connected libfann net of this shape
 * with our activations; NULL when libfann fails. */
struct fann *model_create_net(const unsigned *layers, size_t nlayers,
                              const enum fann_activationfunc_enum *act,
                              const float *steep);

/* model_nweights - connections of a fully connected net, bias included. */
uint64_t model_nweights(const unsigned *layers, size_t nlayers);

/* model_update_id - m->id from its profile and version. */
void model_update_id(struct model *m);

/* model_pool_flush - destroy m's idle scoring copies (after its weights
 * changed); only on a model no other thread scores with. */
void model_pool_flush(struct model *m);

/* model_rng_next - xorshift64* on private state: repeatable, any thread. */
uint64_t model_rng_next(uint64_t *s);

#endif /* NM_MODEL_INT_H */
