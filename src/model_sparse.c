/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * model_sparse - scoring on the non-zero inputs only. A message fires 20
 * to 40 of the profile's hundreds of symbols, so the first layer's work
 * is one row of weights per non-zero input: the first layer is kept
 * transposed (input-major) beside libfann's net, which stays the
 * representation (blob, training, copies). The pass computes what
 * fann_run() computes, with libfann's own activation macros, and writes
 * only the caller's stack: one published model serves every thread, with
 * no copy and no lock. Pure: no logging, no I/O. Part of the model module
 * (only it includes <fann.h>).
 */
#include "config.h"
#include "model_int.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* model_layout - the transposed first layer and the layer offsets */
void
model_layout(struct model *m)
{
    size_t nin = m->layers[0], h = m->layers[1], off = 0;
    const fann_type *w = m->ann->weights;

    for (size_t l = 1; l < m->nlayers; l++) {
        m->woff[l] = off;
        off += ((size_t)m->layers[l - 1] + 1) * m->layers[l];
    }
    m->hp = model_stride(h);
    if (m->w1t == NULL) {
        /* nin <= MODEL_MAX_INPUTS and h <= CFG_LAYER_MAX: no overflow;
         * the padding stays 0 */
        m->w1t = xcalloc(nin * m->hp + 1, sizeof(*m->w1t));
        m->b1 = xcalloc(m->hp, sizeof(*m->b1));
    }
    /* libfann: neuron j of layer 1 has nin + 1 weights in a row, the
     * bias's last */
    for (size_t j = 0; j < h; j++) {
        const fann_type *row = w + j * (nin + 1);

        for (size_t i = 0; i < nin; i++)
            m->w1t[i * m->hp + j] = row[i];
        m->b1[j] = row[nin];
    }
}

/* model_sync_ann - the first layer back into libfann's order */
void
model_sync_ann(struct model *m)
{
    size_t nin = m->layers[0], h = m->layers[1];
    fann_type *w = m->ann->weights;

    for (size_t j = 0; j < h; j++) {
        fann_type *row = w + j * (nin + 1);

        for (size_t i = 0; i < nin; i++)
            row[i] = m->w1t[i * m->hp + j];
        row[nin] = m->b1[j];
    }
}

/*
 * model_activate - what fann_run() does with a neuron's weighted sum:
 * times the steepness, clamped to +-150 / steepness (as libfann 2.2 does,
 * after the multiplication), then the activation function by libfann's
 * own macro. Both are float, as fann_type is.
 */
static inline __attribute__((always_inline)) void
model_activate(unsigned act, float steep, float acc, float *sum, float *val)
{
    float s = steep * acc, max = 150 / steep, v = 0;

    if (s > max)
        s = max;
    else if (s < -max)
        s = -max;
    *sum = s;
    fann_activation_switch(act, s, v);
    *val = v;
}

/*
 * The order of the additions. fann_run() sums a neuron's c = inputs + 1
 * products (the bias's last) in float: first the c % 4 leading ones from
 * the highest index down, then each group of four as ((a + b) + c) + d
 * added to the sum. An input of 0 adds an exact 0 there, so summing only
 * the non-zero products in the same grouping gives the same float, bit
 * for bit: that is what the pass does, and why it wants its inputs in
 * index order.
 */

/* Four doubles, and their bits (unsigned: a negative signed value
 * shifted left is undefined, and GCC 12 made wrong AVX2 code of it). */
typedef double model_v4d __attribute__((vector_size(4 * sizeof(double))));
typedef uint64_t model_v4q __attribute__((vector_size(4 * sizeof(uint64_t))));
typedef int32_t model_v4i __attribute__((vector_size(4 * sizeof(int32_t))));

/*
 * model_exp4 - *v = e^*v for four doubles |x| <= 700 (through a pointer:
 * a 32-byte vector by value has two ABIs), to within about 2 ulp of a
 * double: x = n ln2 + r with n whole and |r| <= ln2 / 2 (ln2 in two parts,
 * so n ln2's first part is exact), e^r by its Taylor series to r^12
 * (the rest is under 2e-16 of it), times 2^n put into the exponent's
 * bits. libm's exp() is a call a unit; this is a vector loop. Once the
 * sigmoid is rounded to float, a result of 2 ulp off a double's differs
 * from libfann's only where the double lies that close to a float's
 * rounding boundary (about once in 10^8).
 */
static inline __attribute__((always_inline)) void
model_exp4(model_v4d *v)
{
    const double ln2_hi = 6.93147180369123816490e-01,
                 ln2_lo = 1.90821492927058770002e-10,
                 log2e = 1.44269504088896338700e+00,
                 shift = 6755399441055744.0; /* 1.5 * 2^52 */
    const model_v4d vshift = { shift, shift, shift, shift };
    model_v4d x = *v, t, n, r, p;
    model_v4q bits;

    /* n = x log2e rounded to the nearest whole number: added to 1.5 *
     * 2^52, a double's last bits are that number */
    t = x * log2e + vshift;
    n = t - vshift;
    r = x - n * ln2_hi - n * ln2_lo;
    p = r * (1.0 / 479001600) + 1.0 / 39916800; /* 1/12!, 1/11! */
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    /* 2^n: n's bits, from t's mantissa, added to p's exponent */
    bits = ((model_v4q)t - (model_v4q)vshift) << 52;
    *v = (model_v4d)((model_v4q)p + bits);
}

/*
 * model_sigmoid_all - model_activate() of libfann's two sigmoids,
 * fann_sigmoid_real() and fann_sigmoid_symmetric_real(), over n units,
 * four at a time, with model_exp4() where libfann calls exp(): the rest
 * as libfann computes it (the sum times the steepness and clamped in
 * float, the sigmoid in double, then rounded to float). libm's exp() was
 * 50 instructions a unit, two thirds of the activations' cost. In AVX2
 * where the CPU has it (NM_CLONES_AVX2): four doubles a vector step.
 */
NM_CLONES_AVX2 static void
model_sigmoid_all(int symmetric, float steep, const float *acc, float *sum,
                  float *val, size_t n)
{
    const float max = 150 / steep;
    const model_v4 vmax = { max, max, max, max }, vmin = -vmax;
    const model_v4d lim = { 700, 700, 700, 700 }, one = { 1, 1, 1, 1 };

    for (size_t j = 0; j < n; j += 4) {
        size_t k = n - j < 4 ? n - j : 4;
        model_v4 a = { 0, 0, 0, 0 }, s, v;
        model_v4i hi, lo, num;
        model_v4d x, y;
        model_v4q xhi, xlo;

        /* whole vectors but for the last few units (the output) */
        if (k == 4)
            a = *(const model_v4 *)(acc + j);
        else
            memcpy(&a, acc + j, k * sizeof(float));
        /* libfann's clamp of the sum times the steepness, in float; a NaN
         * (inf - inf) passes and stays NaN below, as in libfann */
        s = a * steep;
        hi = s > vmax;
        lo = s < vmin;
        s = (model_v4)(((model_v4i)s & ~(hi | lo)) | ((model_v4i)vmax & hi) |
                       ((model_v4i)vmin & lo));
        if (k == 4)
            *(model_v4 *)(sum + j) = s;
        else
            memcpy(sum + j, &s, k * sizeof(float));
        /* beyond +-700 libfann's sigmoid is what it is at 700 (e^700 is
         * 1e304, rounded to float the same -1, 0 or 1), and model_exp4()
         * needs |x| <= 700 */
        x = __builtin_convertvector(-2.0f * s, model_v4d);
        xhi = x > lim;
        xlo = x < -lim;
        x = (model_v4d)(((model_v4q)x & ~(xhi | xlo)) | ((model_v4q)lim & xhi) |
                        ((model_v4q)-lim & xlo));
        model_exp4(&x);
        y = symmetric ? 2.0 / (one + x) - 1.0 : 1.0 / (one + x);
        v = __builtin_convertvector(y, model_v4);
        num = s == s;
        v = (model_v4)(((model_v4i)v & num) | ((model_v4i)s & ~num));
        if (k == 4)
            *(model_v4 *)(val + j) = v;
        else
            memcpy(val + j, &v, k * sizeof(float));
    }
}

/* model_activate_all - model_activate() over n units of one layer; the
 * two functions our nets use through model_sigmoid_all(), the others by
 * libfann's macro */
static void
model_activate_all(unsigned act, float steep, const float *acc, float *sum,
                   float *val, size_t n)
{
    switch (act) {
    case FANN_SIGMOID_SYMMETRIC:
        model_sigmoid_all(1, steep, acc, sum, val, n);
        break;
    case FANN_SIGMOID:
        model_sigmoid_all(0, steep, acc, sum, val, n);
        break;
    default:
        for (size_t j = 0; j < n; j++)
            model_activate(act, steep, acc[j], &sum[j], &val[j]);
        break;
    }
}

/* model_dot - fann_run()'s sum of c products of a dense row */
static float
model_dot(const fann_type *w, const float *v, size_t c)
{
    size_t i = c & 3;
    float sum = 0;

    switch (i) {
    case 3:
        sum += w[2] * v[2];
        /* fall through */
    case 2:
        sum += w[1] * v[1];
        /* fall through */
    case 1:
        sum += w[0] * v[0];
        break;
    default:
        break;
    }
    for (; i != c; i += 4)
        sum += w[i] * v[i] + w[i + 1] * v[i + 1] + w[i + 2] * v[i + 2] +
               w[i + 3] * v[i + 3];
    return sum;
}

/* model_l1_row - the first layer's weights of the q-th non-zero input,
 * the bias being input n (index nin, value 1), and its value */
static inline const float *
model_l1_row(const struct model *m, const struct feat_pair *x, size_t n,
             size_t q, float *v)
{
    if (q == n) {
        *v = 1;
        return m->b1;
    }
    *v = x[q].val;
    return m->w1t + (size_t)x[q].idx * m->hp;
}

/* model_l1_idx - the input index of the q-th non-zero input */
static inline size_t
model_l1_idx(const struct model *m, const struct feat_pair *x, size_t n,
             size_t q)
{
    return q == n ? m->layers[0] : x[q].idx;
}

/* model_layer1 - every hidden unit's sum over the non-zero inputs (in
 * index order), grouped as fann_run() groups them; each step is a
 * vector loop over the (padded) hidden units, in AVX2 where the CPU has
 * it (NM_CLONES_AVX2) */
NM_CLONES_AVX2 static void
model_layer1(const struct model *m, const struct feat_pair *x, size_t n,
             float *acc)
{
    size_t hp = m->hp, lead = (m->layers[0] + 1) & 3, q = 0;
    float t[MODEL_HMAX], v;
    const float *row;

    memset(acc, 0, hp * sizeof(*acc));
    while (q <= n && model_l1_idx(m, x, n, q) < lead)
        q++;
    for (size_t r = q; r-- > 0;) {
        row = model_l1_row(m, x, n, r, &v);
        model_axpy(acc, row, v, hp);
    }
    while (q <= n) {
        size_t g = (model_l1_idx(m, x, n, q) - lead) / 4;

        row = model_l1_row(m, x, n, q, &v);
        if (q == n || (model_l1_idx(m, x, n, q + 1) - lead) / 4 != g) {
            /* alone in its group (the common case): the group's sum is
             * its product, added as such */
            model_axpy(acc, row, v, hp);
            q++;
            continue;
        }
        model_scale(t, row, v, hp);
        for (q++; q <= n && (model_l1_idx(m, x, n, q) - lead) / 4 == g;
             q++) {
            row = model_l1_row(m, x, n, q, &v);
            model_axpy(t, row, v, hp);
        }
        model_add(acc, t, hp);
    }
}

/* model_forward - the sparse first layer, then the dense small ones */
float
model_forward(const struct model *m, const struct feat_pair *x, size_t n,
              struct model_pass *ps)
{
    size_t h = m->layers[1], nl = m->nlayers;
    const fann_type *w = m->ann->weights;
    float *acc = ps->sum[1];

    model_layer1(m, x, n, acc);
    /* in place: model_activate() reads a unit's sum before it writes it */
    model_activate_all((unsigned)m->act[1], m->steep[1], acc, ps->sum[1],
                       ps->val[1], h);
    ps->val[1][h] = 1;

    /* The later layers, dense, from libfann's own array. */
    for (size_t l = 2; l < nl; l++) {
        size_t np = m->layers[l - 1], nn = m->layers[l];
        float a[MODEL_HMAX];

        for (size_t j = 0; j < nn; j++)
            a[j] = model_dot(w + m->woff[l] + j * (np + 1), ps->val[l - 1],
                             np + 1);
        model_activate_all((unsigned)m->act[l], m->steep[l], a, ps->sum[l],
                           ps->val[l], nn);
        ps->val[l][nn] = 1;
    }
    return ps->val[nl - 1][0];
}

/* model_pair_cmp - pairs by index, for qsort */
static int
model_pair_cmp(const void *a, const void *b)
{
    uint32_t x = ((const struct feat_pair *)a)->idx;
    uint32_t y = ((const struct feat_pair *)b)->idx;

    return (x > y) - (x < y);
}

/* model_clamp01 - into [0, 1] */
static double
model_clamp01(double p)
{
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

/* model_score_sparse - the output for the non-zero inputs x */
int
model_score_sparse(const struct model *m, const struct feat_pair *x,
                   size_t n, double *p)
{
    struct model_pass ps;
    struct feat_pair *sorted = NULL;
    size_t nin;
    int ordered = 1;
    double v;

    if (m == NULL || (x == NULL && n > 0) || p == NULL)
        return -1;
    nin = m->layers[0];
    for (size_t k = 0; k < n; k++) {
        if (x[k].idx >= nin || !isfinite(x[k].val))
            return -1;
        if (k > 0 && x[k].idx <= x[k - 1].idx)
            ordered = 0;
    }
    if (!ordered) {
        /* not feat_sparse()'s order: sort a copy, and add up the values
         * of a repeated index */
        size_t w = 0;

        sorted = xreallocarray(NULL, n, sizeof(*sorted));
        memcpy(sorted, x, n * sizeof(*sorted));
        qsort(sorted, n, sizeof(*sorted), model_pair_cmp);
        for (size_t k = 0; k < n; k++) {
            if (w > 0 && sorted[w - 1].idx == sorted[k].idx)
                sorted[w - 1].val += sorted[k].val;
            else
                sorted[w++] = sorted[k];
        }
        x = sorted;
        n = w;
    }
    v = model_forward(m, x, n, &ps);
    free(sorted);
    if (!isfinite(v))
        return -1;
    *p = model_clamp01(v);
    return 0;
}

/* model_score - a dense vector through the sparse pass (not the mail's
 * path: verdict.c scores feat_sparse()'s pairs) */
int
model_score(struct model *m, const float *in, size_t n, double *p)
{
    struct feat_pair *x;
    size_t nx = 0;
    int rc;

    if (m == NULL || in == NULL || p == NULL || n != m->layers[0])
        return -1;
    x = xreallocarray(NULL, n, sizeof(*x));
    for (size_t i = 0; i < n; i++)
        if (in[i] != 0) {
            x[nx].idx = (uint32_t)i;
            x[nx].val = in[i];
            nx++;
        }
    rc = model_score_sparse(m, x, nx, p);
    free(x);
    return rc;
}

/* model_score_fann - libfann's fann_run() on a private copy */
int
model_score_fann(const struct model *m, const float *in, size_t n, double *p)
{
    struct model *src = (struct model *)m; /* the mutex only */
    struct fann *ann;
    fann_type *out;
    double v;

    if (m == NULL || in == NULL || p == NULL || n != m->layers[0])
        return -1;
    pthread_mutex_lock(&src->copy_mtx);
    ann = fann_copy(src->ann);
    pthread_mutex_unlock(&src->copy_mtx);
    if (ann == NULL)
        return -1;
    /* fann_run() only reads its input; the cast drops const for its API */
    out = fann_run(ann, (fann_type *)in);
    v = out != NULL ? out[0] : NAN; /* copy before the net goes */
    fann_destroy(ann);
    if (!isfinite(v))
        return -1;
    *p = model_clamp01(v);
    return 0;
}
