/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bytes - see bytes.h. Growth is overflow-checked: a buffer that would
 * pass SIZE_MAX is a broken invariant (our encoders check their limits,
 * all far below that), so it panics like an allocation that fails.
 */
#include "config.h"
#include "bytes.h"

#include <stdint.h>
#include <string.h>

#include "log.h"
#include "xmalloc.h"

#define BYTES_MIN_CAP 256

/* bytes_put - append n bytes, growing the buffer by doubling */
void
bytes_put(struct bytes_w *w, const void *data, size_t n)
{
    if (w->len > w->cap || n > SIZE_MAX - w->len)
        panic("bytes: %zu bytes appended to %zu of %zu overflow", n, w->len,
              w->cap);
    if (n > w->cap - w->len) {
        size_t need = w->len + n, cap = w->cap ? w->cap : BYTES_MIN_CAP;

        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? need : cap * 2;
        w->p = xreallocarray(w->p, cap, 1);
        w->cap = cap;
    }
    if (n > 0)
        memcpy(w->p + w->len, data, n);
    w->len += n;
}

/* bytes_put_le - width little-endian bytes of v */
void
bytes_put_le(struct bytes_w *w, uint64_t v, size_t width)
{
    unsigned char x[8];

    for (size_t i = 0; i < width; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    bytes_put(w, x, width);
}

/* bytes_get - the next n bytes, bounds-checked */
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

/* bytes_get_le - a little-endian unsigned of width bytes */
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
