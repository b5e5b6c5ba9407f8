/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * bytes - the two halves of our binary formats (model blob, example
 * record): a growing output buffer and a bounds-checked input cursor,
 * both with little-endian integers of 1 to 8 bytes.
 */
#ifndef NM_BYTES_H
#define NM_BYTES_H

#include <stddef.h>
#include <stdint.h>

/* Output: zero it, append, then take p (malloc'd, the caller frees). */
struct bytes_w {
    unsigned char *p;
    size_t len, cap;
};

/* bytes_put - append n bytes of data (borrowed). Out of memory, or a
 * buffer that would pass SIZE_MAX, is a panic(): no error to check. */
void bytes_put(struct bytes_w *w, const void *data, size_t n);
/* bytes_put_le - v as width (1..8) little-endian bytes */
void bytes_put_le(struct bytes_w *w, uint64_t v, size_t width);

/* Input: p and len set, off from 0. */
struct bytes_r {
    const unsigned char *p;
    size_t len, off;
};

/* bytes_get - the next n bytes, or NULL (cursor unmoved) when fewer
 * remain */
const unsigned char *bytes_get(struct bytes_r *r, size_t n);
/* bytes_get_le - a width-byte little-endian unsigned; 0, or -1 past the
 * end */
int bytes_get_le(struct bytes_r *r, size_t width, uint64_t *v);

#endif /* NM_BYTES_H */
