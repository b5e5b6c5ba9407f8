/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model_blob - the model's blob: encode and compress, check and decode.
 * Pure: no logging, no I/O; any thread. Every size read from a blob is
 * checked against the limits before anything is allocated for it.
 *
 * Blob format 2 (doc/model-format.md says the same at more length; it
 * is format 1 with the mapping added, and format 1 still loads).
 * A zstd frame (ZSTD_compress, level 3, content size in the header) of a
 * payload of little-endian fixed-width fields, without padding:
 *
 *   char[8]  magic "NMMODEL\0"
 *   u32      format version, 2 (1: the same without the map)
 *   -- profile
 *   char[8]  profile digest, lowercase hex
 *   u32      with_scores, 0 or 1
 *   u32      nsym, 1 .. FEAT_MAX_SYMBOLS
 *   nsym *   { u16 len 1 .. HDR_MAX_NAME; len bytes [A-Za-z0-9_] },
 *            strictly ascending in strcmp() order
 *   -- network
 *   u32      nlayers, 3 .. MODEL_MAX_LAYERS
 *   nlayers * u32 neurons (without bias): input == feat_ninputs(profile),
 *            hidden 1 .. CFG_LAYER_MAX, output 1
 *   (nlayers - 1) * { u32 fann activation id; f32 steepness }, layer 1 on
 *   u32      nweights == sum over l >= 1 of (neurons[l-1] + 1) * neurons[l]
 *   nweights * f32, libfann's order: layer by layer, for each neuron the
 *            weights from every neuron of the layer before, its bias last
 *   -- meta (struct model_meta, in its order)
 *   i64      trained_at
 *   7 * u32  n_spam n_ham n_val_spam n_val_ham n_explicit iterations epochs
 *   6 * f64  val_auc val_mse val_tpr val_fpr spam_threshold ham_threshold
 *   -- map (struct model_map; format 2 only)
 *   u32      kind
 *   6 * f64  sure level slope pull spam_weight ham_weight
 *   2 * u32  n_spam n_ham
 *   2 * f64  auc_up auc_adj
 *   u32      nthr, 0 .. MODEL_MAP_MAX_THR
 *   MODEL_MAP_MAX_THR * { f64 at; 4 * u32 fp_up fp_adj tp_up tp_adj },
 *            the slots from nthr on zero
 *   -- trailer
 *   u64      util_hash64(every byte before it, UTIL_HASH64_INIT)
 *
 * Floats travel as their IEEE-754 bit patterns, so values round-trip
 * exactly. The Redis version is not part of the blob: a loaded model has
 * version 0 until model_set_version().
 */
#include "config.h"
#include "model_int.h"

#include <zstd.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "util.h"
#include "xmalloc.h"

#define MODEL_MAGIC "NMMODEL"      /* 7 characters and the NUL: 8 bytes */
#define MODEL_MAGIC_LEN 8
#define MODEL_FORMAT 2u            /* written; 1 and 2 are read */
#define MODEL_FORMAT_MIN 1u
#define MODEL_ZSTD_LEVEL 3
#define MODEL_CHECKSUM_LEN 8

_Static_assert(sizeof(float) == 4 && sizeof(double) == 8,
               "the blob stores IEEE-754 binary32 and binary64");
/* model.h spells out MODEL_MAX_RAW from these sizes and two hidden
 * layers; the counts fit their u16 and u32 fields */
_Static_assert(MODEL_MAGIC_LEN == 8 && FEAT_DIGEST_LEN == 8 &&
                   MODEL_CHECKSUM_LEN == 8 && MODEL_MAX_LAYERS == 4,
               "MODEL_MAX_RAW follows the format");
_Static_assert(HDR_MAX_NAME <= 0xffff && MODEL_MAX_WEIGHTS <= UINT32_MAX,
               "name lengths and the weight count fit their fields");
_Static_assert(MODEL_MAX_BLOB >= ZSTD_COMPRESSBOUND(MODEL_MAX_RAW),
               "the largest payload compresses within MODEL_MAX_BLOB");

/* model_put_f32 - a float's bit pattern */
static void
model_put_f32(struct bytes_w *b, float f)
{
    uint32_t u;

    memcpy(&u, &f, sizeof(u));
    bytes_put_le(b, u, 4);
}

/* model_put_f64 - a double's bit pattern */
static void
model_put_f64(struct bytes_w *b, double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    bytes_put_le(b, u, 8);
}

/* model_put_map - the map fields of format 2 */
static void
model_put_map(struct bytes_w *b, const struct model_map *mp)
{
    bytes_put_le(b, mp->kind, 4);
    model_put_f64(b, mp->sure);
    model_put_f64(b, mp->level);
    model_put_f64(b, mp->slope);
    model_put_f64(b, mp->pull);
    model_put_f64(b, mp->spam_weight);
    model_put_f64(b, mp->ham_weight);
    bytes_put_le(b, mp->n_spam, 4);
    bytes_put_le(b, mp->n_ham, 4);
    model_put_f64(b, mp->auc_up);
    model_put_f64(b, mp->auc_adj);
    bytes_put_le(b, mp->nthr, 4);
    for (size_t k = 0; k < MODEL_MAP_MAX_THR; k++) {
        const struct model_map_thr *t = &mp->thr[k];
        int used = k < mp->nthr;

        model_put_f64(b, used ? t->at : 0);
        bytes_put_le(b, used ? t->fp_up : 0, 4);
        bytes_put_le(b, used ? t->fp_adj : 0, 4);
        bytes_put_le(b, used ? t->tp_up : 0, 4);
        bytes_put_le(b, used ? t->tp_adj : 0, 4);
    }
}

/* model_to_blob - encode and compress */
int
model_to_blob(const struct model *m, void **blob, size_t *len, char *err,
              size_t errlen)
{
    struct bytes_w b = {NULL, 0, 0};
    const struct model_meta *mt = &m->meta;
    size_t nsym = feat_profile_nsym(m->prof), bound, clen;
    unsigned nw = fann_get_total_connections(m->ann);
    void *out;

    if (nw != model_nweights(m->layers, m->nlayers)) {
        util_errf(err, errlen, "net has %u weights, its layers %" PRIu64,
                  nw, model_nweights(m->layers, m->nlayers));
        return -1;
    }
    bytes_put(&b, MODEL_MAGIC, MODEL_MAGIC_LEN);
    bytes_put_le(&b, MODEL_FORMAT, 4);
    bytes_put(&b, feat_profile_digest(m->prof), FEAT_DIGEST_LEN);
    bytes_put_le(&b, (uint64_t)feat_profile_scores(m->prof), 4);
    bytes_put_le(&b, nsym, 4);
    for (size_t i = 0; i < nsym; i++) {
        const char *name = feat_profile_name(m->prof, i);
        size_t nl = strlen(name);

        bytes_put_le(&b, nl, 2);
        bytes_put(&b, name, nl);
    }
    bytes_put_le(&b, m->nlayers, 4);
    for (size_t l = 0; l < m->nlayers; l++)
        bytes_put_le(&b, m->layers[l], 4);
    for (size_t l = 1; l < m->nlayers; l++) {
        bytes_put_le(&b, (uint64_t)m->act[l], 4);
        model_put_f32(&b, m->steep[l]);
    }
    bytes_put_le(&b, nw, 4);
    for (unsigned i = 0; i < nw; i++)
        model_put_f32(&b, m->ann->weights[i]);
    bytes_put_le(&b, (uint64_t)mt->trained_at, 8);
    bytes_put_le(&b, mt->n_spam, 4);
    bytes_put_le(&b, mt->n_ham, 4);
    bytes_put_le(&b, mt->n_val_spam, 4);
    bytes_put_le(&b, mt->n_val_ham, 4);
    bytes_put_le(&b, mt->n_explicit, 4);
    bytes_put_le(&b, mt->iterations, 4);
    bytes_put_le(&b, mt->epochs, 4);
    model_put_f64(&b, mt->val_auc);
    model_put_f64(&b, mt->val_mse);
    model_put_f64(&b, mt->val_tpr);
    model_put_f64(&b, mt->val_fpr);
    model_put_f64(&b, mt->spam_threshold);
    model_put_f64(&b, mt->ham_threshold);
    model_put_map(&b, &mt->map);
    bytes_put_le(&b, util_hash64(b.p, b.len, UTIL_HASH64_INIT), 8);

    /* never write what model_from_blob() would refuse */
    if (b.len > MODEL_MAX_RAW) {
        util_errf(err, errlen, "payload of %zu bytes exceeds %u", b.len,
                  MODEL_MAX_RAW);
        free(b.p);
        return -1;
    }
    bound = ZSTD_compressBound(b.len);
    out = xmalloc(bound);
    clen = ZSTD_compress(out, bound, b.p, b.len, MODEL_ZSTD_LEVEL);
    free(b.p);
    if (ZSTD_isError(clen)) {
        util_errf(err, errlen, "zstd: %s", ZSTD_getErrorName(clen));
        free(out);
        return -1;
    }
    if (clen > MODEL_MAX_BLOB) {
        util_errf(err, errlen, "blob of %zu bytes exceeds %u", clen,
                  MODEL_MAX_BLOB);
        free(out);
        return -1;
    }
    *blob = out;
    *len = clen;
    return 0;
}

/* model_get_u32 - little-endian u32 */
static int
model_get_u32(struct bytes_r *r, uint32_t *v)
{
    uint64_t u;

    if (bytes_get_le(r, 4, &u) < 0)
        return -1;
    *v = (uint32_t)u;
    return 0;
}

/* model_get_f32 - a float from its bit pattern */
static int
model_get_f32(struct bytes_r *r, float *f)
{
    uint32_t u;

    if (model_get_u32(r, &u) < 0)
        return -1;
    memcpy(f, &u, sizeof(*f));
    return 0;
}

/* model_get_f64 - a double from its bit pattern */
static int
model_get_f64(struct bytes_r *r, double *d)
{
    uint64_t u;

    if (bytes_get_le(r, 8, &u) < 0)
        return -1;
    memcpy(d, &u, sizeof(*d));
    return 0;
}

/* model_act_ok - an activation libfann 2.2 can run */
static int
model_act_ok(uint32_t act)
{
    return act <= (uint32_t)FANN_COS;
}

/* model_trunc - the error for a field that runs past the payload */
static int
model_trunc(char *err, size_t errlen, const char *what)
{
    util_errf(err, errlen, "payload truncated in %s", what);
    return -1;
}

/* What model_decode() gathers, step by step, before it builds the model;
 * model_parts_free() releases what a failed step leaves. */
struct model_parts {
    struct feat_profile *prof;
    uint32_t nlayers;
    unsigned layers[MODEL_MAX_LAYERS];
    enum fann_activationfunc_enum act[MODEL_MAX_LAYERS];
    float steep[MODEL_MAX_LAYERS];
    uint32_t nw;
    float *w;
    struct model_meta meta;
};

/* model_parts_free - the profile and the weights, if any */
static void
model_parts_free(struct model_parts *pt)
{
    feat_profile_free(pt->prof);
    free(pt->w);
    pt->prof = NULL;
    pt->w = NULL;
}

/* model_decode_head - magic, format version and checksum; leaves r over
 * the fields between the version and the checksum */
static int
model_decode_head(const unsigned char *raw, size_t rawlen,
                  struct bytes_r *r, uint32_t *version, char *err,
                  size_t errlen)
{
    uint64_t sum = 0;

    if (rawlen < MODEL_MAGIC_LEN + 4 + MODEL_CHECKSUM_LEN) {
        util_errf(err, errlen, "payload of %zu bytes is too short", rawlen);
        return -1;
    }
    if (memcmp(raw, MODEL_MAGIC, MODEL_MAGIC_LEN) != 0) {
        util_errf(err, errlen, "bad magic: not a neural-milter model");
        return -1;
    }
    *r = (struct bytes_r){ raw, rawlen, MODEL_MAGIC_LEN };
    (void)model_get_u32(r, version); /* length checked above */
    if (*version < MODEL_FORMAT_MIN || *version > MODEL_FORMAT) {
        util_errf(err, errlen, "format version %" PRIu32 ", want %u .. %u",
                  *version, MODEL_FORMAT_MIN, MODEL_FORMAT);
        return -1;
    }
    /* the checksum ends the payload; everything else lies before it */
    r->len = rawlen - MODEL_CHECKSUM_LEN;
    for (size_t i = 0; i < MODEL_CHECKSUM_LEN; i++)
        sum |= (uint64_t)raw[r->len + i] << (8 * i);
    if (sum != util_hash64(raw, r->len, UTIL_HASH64_INIT)) {
        util_errf(err, errlen, "checksum mismatch");
        return -1;
    }
    return 0;
}

/* model_decode_names - nsym names, valid and strictly ascending, into
 * names[] (xstrndup'd; the caller frees them, also on failure) */
static int
model_decode_names(struct bytes_r *r, char **names, uint32_t nsym,
                   char *err, size_t errlen)
{
    for (uint32_t i = 0; i < nsym; i++) {
        const unsigned char *q;
        uint64_t nl;

        if (bytes_get_le(r, 2, &nl) < 0 || (q = bytes_get(r, nl)) == NULL)
            return model_trunc(err, errlen, "symbol names");
        if (!hdr_name_valid((const char *)q, nl)) {
            util_errf(err, errlen, "symbol %" PRIu32 " is not a valid name "
                      "of 1 .. %d bytes", i, HDR_MAX_NAME);
            return -1;
        }
        names[i] = xstrndup((const char *)q, nl);
        if (i > 0 && strcmp(names[i - 1], names[i]) >= 0) {
            util_errf(err, errlen, "symbol %" PRIu32 " \"%s\" out of order "
                      "or repeated", i, names[i]);
            return -1;
        }
    }
    return 0;
}

/* model_decode_profile - digest, score flag and names into pt->prof */
static int
model_decode_profile(struct bytes_r *r, struct model_parts *pt, char *err,
                     size_t errlen)
{
    char digest[FEAT_DIGEST_LEN + 1];
    const unsigned char *q;
    uint32_t flag, nsym;
    char **names;
    int rc;

    if ((q = bytes_get(r, FEAT_DIGEST_LEN)) == NULL)
        return model_trunc(err, errlen, "profile digest");
    memcpy(digest, q, FEAT_DIGEST_LEN);
    digest[FEAT_DIGEST_LEN] = '\0';
    if (strspn(digest, "0123456789abcdef") != FEAT_DIGEST_LEN) {
        util_errf(err, errlen, "profile digest is not lowercase hex");
        return -1;
    }
    if (model_get_u32(r, &flag) < 0 || model_get_u32(r, &nsym) < 0)
        return model_trunc(err, errlen, "profile header");
    if (flag > 1) {
        util_errf(err, errlen, "with_scores %" PRIu32 " is not 0 or 1",
                  flag);
        return -1;
    }
    if (nsym < 1 || nsym > FEAT_MAX_SYMBOLS) {
        util_errf(err, errlen, "%" PRIu32 " symbols, limit 1 .. %u", nsym,
                  FEAT_MAX_SYMBOLS);
        return -1;
    }
    if ((size_t)nsym * 3 > r->len - r->off) /* u16 + 1 byte each at least */
        return model_trunc(err, errlen, "symbol names");
    names = xcalloc(nsym, sizeof(*names));
    rc = model_decode_names(r, names, nsym, err, errlen);
    if (rc == 0) {
        pt->prof = feat_profile_new((const char *const *)names, nsym,
                                    (int)flag);
        if (pt->prof == NULL || feat_profile_nsym(pt->prof) != nsym) {
            util_errf(err, errlen, "symbol list does not make a profile");
            rc = -1;
        } else if (strcmp(feat_profile_digest(pt->prof), digest) != 0) {
            util_errf(err, errlen, "profile digest mismatch: blob says %s, "
                      "its symbols give %s", digest,
                      feat_profile_digest(pt->prof));
            rc = -1;
        }
    }
    for (uint32_t i = 0; i < nsym; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* model_decode_layers - layer count, sizes and activations */
static int
model_decode_layers(struct bytes_r *r, struct model_parts *pt, char *err,
                    size_t errlen)
{
    uint32_t nl;

    if (model_get_u32(r, &nl) < 0)
        return model_trunc(err, errlen, "layer count");
    if (nl < 3 || nl > MODEL_MAX_LAYERS) {
        util_errf(err, errlen, "%" PRIu32 " layers, limit 3 .. %d", nl,
                  MODEL_MAX_LAYERS);
        return -1;
    }
    pt->nlayers = nl;
    for (uint32_t l = 0; l < nl; l++) {
        uint32_t v;

        if (model_get_u32(r, &v) < 0)
            return model_trunc(err, errlen, "layer sizes");
        pt->layers[l] = v;
    }
    if (pt->layers[0] != feat_ninputs(pt->prof)) {
        util_errf(err, errlen, "input layer of %u neurons, the profile "
                  "gives %zu inputs", pt->layers[0], feat_ninputs(pt->prof));
        return -1;
    }
    for (uint32_t l = 1; l + 1 < nl; l++) {
        if (pt->layers[l] < 1 || pt->layers[l] > CFG_LAYER_MAX) {
            util_errf(err, errlen, "hidden layer %" PRIu32 " of %u neurons, "
                      "limit 1 .. %d", l, pt->layers[l], CFG_LAYER_MAX);
            return -1;
        }
    }
    if (pt->layers[nl - 1] != 1) {
        util_errf(err, errlen, "output layer of %u neurons, want 1",
                  pt->layers[nl - 1]);
        return -1;
    }
    pt->act[0] = FANN_LINEAR;
    pt->steep[0] = 0;
    for (uint32_t l = 1; l < nl; l++) {
        uint32_t a;
        float s;

        if (model_get_u32(r, &a) < 0 || model_get_f32(r, &s) < 0)
            return model_trunc(err, errlen, "activations");
        if (!model_act_ok(a) || !isfinite(s) || s <= 0 || s > 100) {
            util_errf(err, errlen, "layer %" PRIu32 ": activation %" PRIu32
                      " steepness %g not usable", l, a, (double)s);
            return -1;
        }
        pt->act[l] = (enum fann_activationfunc_enum)a;
        pt->steep[l] = s;
    }
    return 0;
}

/* model_decode_weights - the weight count the layers need, then as many
 * finite weights into pt->w */
static int
model_decode_weights(struct bytes_r *r, struct model_parts *pt, char *err,
                     size_t errlen)
{
    uint64_t need = model_nweights(pt->layers, pt->nlayers);
    uint32_t nw;

    if (model_get_u32(r, &nw) < 0)
        return model_trunc(err, errlen, "weight count");
    if (nw != need) {
        util_errf(err, errlen, "%" PRIu32 " weights, the layers need %"
                  PRIu64, nw, need);
        return -1;
    }
    if ((uint64_t)nw * 4 > r->len - r->off)
        return model_trunc(err, errlen, "weights");
    pt->nw = nw;
    pt->w = xreallocarray(NULL, nw ? nw : 1, sizeof(*pt->w));
    for (uint32_t i = 0; i < nw; i++) {
        (void)model_get_f32(r, &pt->w[i]); /* length checked above */
        if (!isfinite(pt->w[i])) {
            util_errf(err, errlen, "weight %" PRIu32 " is not finite", i);
            return -1;
        }
    }
    return 0;
}

/* model_decode_meta - struct model_meta, the last fields */
static int
model_decode_meta(struct bytes_r *r, struct model_meta *mt, char *err,
                  size_t errlen)
{
    uint32_t u[7];
    uint64_t i64;
    double d[6];

    if (bytes_get_le(r, 8, &i64) < 0)
        return model_trunc(err, errlen, "meta");
    for (size_t i = 0; i < 7; i++)
        if (model_get_u32(r, &u[i]) < 0)
            return model_trunc(err, errlen, "meta");
    for (size_t i = 0; i < 6; i++) {
        if (model_get_f64(r, &d[i]) < 0)
            return model_trunc(err, errlen, "meta");
        if (!isfinite(d[i])) {
            util_errf(err, errlen, "meta value %zu (%s) is not finite", i,
                      i >= 4 ? "a threshold" : "a validation figure");
            return -1;
        }
    }
    memset(mt, 0, sizeof(*mt));
    mt->trained_at = (int64_t)i64;
    mt->n_spam = u[0];
    mt->n_ham = u[1];
    mt->n_val_spam = u[2];
    mt->n_val_ham = u[3];
    mt->n_explicit = u[4];
    mt->iterations = u[5];
    mt->epochs = u[6];
    mt->val_auc = d[0];
    mt->val_mse = d[1];
    mt->val_tpr = d[2];
    mt->val_fpr = d[3];
    mt->spam_threshold = d[4];
    mt->ham_threshold = d[5];
    return 0;
}

/* model_map_ok - a map a scorer can use: every value finite and within
 * what model_map_fit() can make */
static int
model_map_ok(const struct model_map *mp, char *err, size_t errlen)
{
    const double d[] = { mp->sure, mp->level, mp->slope, mp->pull,
                         mp->spam_weight, mp->ham_weight, mp->auc_up,
                         mp->auc_adj };

    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (!isfinite(d[i])) {
            util_errf(err, errlen, "map value %zu is not finite", i);
            return -1;
        }
    for (size_t k = 0; k < MODEL_MAP_MAX_THR; k++)
        if (!isfinite(mp->thr[k].at)) {
            util_errf(err, errlen, "map threshold %zu is not finite", k);
            return -1;
        }
    if (mp->kind >= MODEL_MAP_KINDS || mp->nthr > MODEL_MAP_MAX_THR ||
        mp->sure < 0 || mp->sure > 1 || mp->pull < 0 || mp->pull > 1 ||
        mp->slope < 0 || mp->slope > 1000 || fabs(mp->level) > 1e6 ||
        mp->auc_up < 0 || mp->auc_up > 1 || mp->auc_adj < 0 ||
        mp->auc_adj > 1) {
        util_errf(err, errlen, "map out of range: kind %" PRIu32 ", sure %g, "
                  "pull %g, slope %g, level %g, %" PRIu32 " thresholds",
                  mp->kind, mp->sure, mp->pull, mp->slope, mp->level,
                  mp->nthr);
        return -1;
    }
    return 0;
}

/* model_decode_map - the map fields of format 2 */
static int
model_decode_map(struct bytes_r *r, struct model_map *mp, char *err,
                 size_t errlen)
{
    double *d[] = { &mp->sure, &mp->level, &mp->slope, &mp->pull,
                    &mp->spam_weight, &mp->ham_weight };

    memset(mp, 0, sizeof(*mp));
    if (model_get_u32(r, &mp->kind) < 0)
        return model_trunc(err, errlen, "map");
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (model_get_f64(r, d[i]) < 0)
            return model_trunc(err, errlen, "map");
    if (model_get_u32(r, &mp->n_spam) < 0 ||
        model_get_u32(r, &mp->n_ham) < 0 ||
        model_get_f64(r, &mp->auc_up) < 0 ||
        model_get_f64(r, &mp->auc_adj) < 0 || model_get_u32(r, &mp->nthr) < 0)
        return model_trunc(err, errlen, "map");
    for (size_t k = 0; k < MODEL_MAP_MAX_THR; k++) {
        struct model_map_thr *t = &mp->thr[k];

        if (model_get_f64(r, &t->at) < 0 || model_get_u32(r, &t->fp_up) < 0 ||
            model_get_u32(r, &t->fp_adj) < 0 ||
            model_get_u32(r, &t->tp_up) < 0 ||
            model_get_u32(r, &t->tp_adj) < 0)
            return model_trunc(err, errlen, "map thresholds");
        /* model_put_map() writes unused slots as zeros: one blob per
         * model, so what decodes encodes to the same bytes (the fuzzer's
         * round trip found slots read but never written back) */
        if (k >= mp->nthr && (memcmp(&t->at, &(double){ 0 }, sizeof(t->at)) ||
                              t->fp_up || t->fp_adj || t->tp_up ||
                              t->tp_adj)) {
            util_errf(err, errlen, "map threshold slot %zu is unused but "
                      "not zero", k);
            return -1;
        }
    }
    return model_map_ok(mp, err, errlen);
}

/* model_decode - parse a decompressed payload into a model, field group
 * by field group in the order of the format */
static struct model *
model_decode(const unsigned char *raw, size_t rawlen, char *err,
             size_t errlen)
{
    struct model_parts pt = { 0 };
    struct bytes_r r;
    struct fann *ann;
    struct model *m;
    uint32_t version = 0;

    if (model_decode_head(raw, rawlen, &r, &version, err, errlen) < 0)
        return NULL;
    if (model_decode_profile(&r, &pt, err, errlen) < 0 ||
        model_decode_layers(&r, &pt, err, errlen) < 0 ||
        model_decode_weights(&r, &pt, err, errlen) < 0 ||
        model_decode_meta(&r, &pt.meta, err, errlen) < 0)
        goto fail;
    /* format 1 has no map: the threshold ramps it was made for */
    if (version >= 2 && model_decode_map(&r, &pt.meta.map, err, errlen) < 0)
        goto fail;
    if (r.off != r.len) {
        util_errf(err, errlen, "%zu unexpected bytes after the %s",
                  r.len - r.off, version >= 2 ? "map" : "meta");
        goto fail;
    }
    ann = model_create_net(pt.layers, pt.nlayers, pt.act, pt.steep);
    if (ann == NULL) {
        util_errf(err, errlen, "libfann cannot create the net");
        goto fail;
    }
    if (fann_get_total_connections(ann) != pt.nw) {
        util_errf(err, errlen, "libfann made %u connections, want %" PRIu32,
                  fann_get_total_connections(ann), pt.nw);
        fann_destroy(ann);
        goto fail;
    }
    /* straight into libfann's array: fann_set_weight_array() searches
     * the whole net for each weight, quadratic in 2.2 */
    memcpy(ann->weights, pt.w, (size_t)pt.nw * sizeof(*pt.w));
    free(pt.w);

    m = model_alloc(ann, pt.prof);
    m->nlayers = pt.nlayers;
    memcpy(m->layers, pt.layers, sizeof(pt.layers));
    memcpy(m->act, pt.act, sizeof(pt.act));
    memcpy(m->steep, pt.steep, sizeof(pt.steep));
    m->meta = pt.meta;
    model_layout(m);
    return m;

fail:
    model_parts_free(&pt);
    return NULL;
}

/* model_from_blob - check, decompress and decode a blob */
int
model_from_blob(const void *blob, size_t len, struct model **out, char *err,
                size_t errlen)
{
    unsigned long long fcs;
    size_t flen, dlen;
    void *raw;
    struct model *m;

    *out = NULL;
    if (blob == NULL || len == 0) {
        util_errf(err, errlen, "empty blob");
        return -1;
    }
    if (len > MODEL_MAX_BLOB) {
        util_errf(err, errlen, "blob of %zu bytes exceeds the limit of %u",
                  len, MODEL_MAX_BLOB);
        return -1;
    }
    fcs = ZSTD_getFrameContentSize(blob, len);
    if (fcs == ZSTD_CONTENTSIZE_ERROR) {
        util_errf(err, errlen, "not a zstd frame");
        return -1;
    }
    if (fcs == ZSTD_CONTENTSIZE_UNKNOWN) {
        util_errf(err, errlen, "zstd frame without a content size");
        return -1;
    }
    if (fcs > MODEL_MAX_RAW) {
        util_errf(err, errlen, "decompressed size %llu exceeds the limit "
                  "of %u", fcs, MODEL_MAX_RAW);
        return -1;
    }
    flen = ZSTD_findFrameCompressedSize(blob, len);
    if (ZSTD_isError(flen)) {
        util_errf(err, errlen, "zstd frame: %s", ZSTD_getErrorName(flen));
        return -1;
    }
    if (flen != len) {
        util_errf(err, errlen, "%zu bytes after the zstd frame", len - flen);
        return -1;
    }
    raw = xmalloc((size_t)fcs);
    dlen = ZSTD_decompress(raw, (size_t)fcs, blob, len);
    if (ZSTD_isError(dlen)) {
        util_errf(err, errlen, "zstd: %s", ZSTD_getErrorName(dlen));
        free(raw);
        return -1;
    }
    if (dlen != fcs) {
        util_errf(err, errlen, "zstd gave %zu bytes, the frame says %llu",
                  dlen, fcs);
        free(raw);
        return -1;
    }
    m = model_decode(raw, dlen, err, errlen);
    free(raw);
    if (m == NULL)
        return -1;
    *out = m;
    return 0;
}

