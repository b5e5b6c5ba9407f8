/* SPDX-License-Identifier: BSD-2-Clause */
/* bytes - see bytes.h */
#include "config.h"
#include "bytes.h"

#include <string.h>

#include "xmalloc.h"

void
bytes_put(struct bytes_w *w, const void *data, size_t n)
{
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 256;

        while (cap - w->len < n)
            cap *= 2;
        w->p = xreallocarray(w->p, cap, 1);
        w->cap = cap;
    }
    memcpy(w->p + w->len, data, n);
    w->len += n;
}

void
bytes_put_le(struct bytes_w *w, uint64_t v, size_t width)
{
    unsigned char x[8];

    for (size_t i = 0; i < width; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    bytes_put(w, x, width);
}

const unsigned char *
bytes_get(struct bytes_r *r, size_t n)
{
    const unsigned char *q;

    if (n > r->len - r->off)
        return NULL;
    q = r->p + r->off;
    r->off += n;
    return q;
}

int
bytes_get_le(struct bytes_r *r, size_t width, uint64_t *v)
{
    const unsigned char *q = bytes_get(r, width);

    if (q == NULL)
        return -1;
    *v = 0;
    for (size_t i = 0; i < width; i++)
        *v |= (uint64_t)q[i] << (8 * i);
    return 0;
}
