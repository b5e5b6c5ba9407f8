/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hdr_int - the parsers' internals, shared by hdr.c, hdr_rspamd.c and
 * hdr_sa.c only (and their unit test); every other module uses hdr.h.
 * Pure, any thread, no logging.
 */
#ifndef NM_HDR_INT_H
#define NM_HDR_INT_H

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "hdr.h"

/* What hdr_symbol_add() did with a symbol. */
enum hdr_sym_status {
    HDR_SYM_ADDED,
    HDR_SYM_DUPLICATE, /* name already present: the first copy is kept */
    HDR_SYM_SKIPPED,   /* name longer than HDR_MAX_NAME: left out */
    HDR_SYM_FULL,      /* HDR_MAX_SYMBOLS reached: left out */
};

/*
 * The names one parse has added so far, as a 1024-bit filter: a name whose
 * bit is clear cannot be one of them, so hdr_symbol_add() compares names
 * only when its bit is set (the search for duplicates was a third of the
 * parser's cost, quadratic in the symbols; with 256 bits two of a
 * message's 28 names still met one another's bit). Zero it before the
 * first symbol of a result.
 */
#define HDR_SYMSET_LOG2 10
struct hdr_symset {
    uint64_t bits[(1u << HDR_SYMSET_LOG2) / 64];
};

/* hdr_symbol_add_slow - hdr_symbol_add() in full: the duplicate search
 * and the growth of res->sym */
enum hdr_sym_status hdr_symbol_add_slow(struct hdr_result *res,
                                        struct hdr_symset *set,
                                        const char *name, size_t len,
                                        double score);

/* hdr_symset_bit - a name's bit in struct hdr_symset: from its length and
 * three of its bytes, cheap and spread enough for a few dozen names (the
 * sum spread over the bits by a multiplication, Fibonacci hashing) */
static inline unsigned
hdr_symset_bit(const char *name, size_t len)
{
    uint32_t h = (uint32_t)len * 31u;

    if (len > 0)
        h += (unsigned char)name[0] * 7u +
             (unsigned char)name[len - 1] * 13u +
             (unsigned char)name[len / 2] * 3u;
    return (unsigned)((h * 2654435761u) >> (32 - HDR_SYMSET_LOG2));
}

/* hdr_symbol_add - append a symbol (name is borrowed, len bytes of
 * [A-Za-z0-9_]) to res->sym unless set says it may be there and it is,
 * growing res->sym with the x-allocators. Inline for the common case (a
 * name whose bit is clear, room in res->sym), the rest in
 * hdr_symbol_add_slow(): the parsers call it once a symbol. */
static inline enum hdr_sym_status
hdr_symbol_add(struct hdr_result *res, struct hdr_symset *set,
               const char *name, size_t len, double score)
{
    unsigned bit = hdr_symset_bit(name, len);
    uint64_t mask = (uint64_t)1 << (bit % 64);
    struct hdr_symbol *s;

    /* nsym < cap <= HDR_MAX_SYMBOLS: the slow path sets cap */
    if (len > HDR_MAX_NAME || (set->bits[bit / 64] & mask) ||
        res->nsym >= res->cap)
        return hdr_symbol_add_slow(res, set, name, len, score);
    set->bits[bit / 64] |= mask;
    s = &res->sym[res->nsym++];
    hdr_name_copy(s->name, name, len);
    s->name[len] = '\0';
    s->score = score;
    s->len = (uint8_t)len;
    return HDR_SYM_ADDED;
}

/* hdr_name_tab - 1 for the bytes of a symbol name ([A-Za-z0-9_]), as
 * hdr_name_char() says; hdr_name_span - how many of them start at p */
extern const unsigned char hdr_name_tab[256];
static inline size_t
hdr_name_span(const char *p)
{
    size_t n = 0;

    /* four bytes a turn: a name is 10-30 of them, and a byte is only read
     * after the one before it was a name byte (so never past the NUL) */
    for (;; n += 4) {
        if (!hdr_name_tab[(unsigned char)p[n]])
            return n;
        if (!hdr_name_tab[(unsigned char)p[n + 1]])
            return n + 1;
        if (!hdr_name_tab[(unsigned char)p[n + 2]])
            return n + 2;
        if (!hdr_name_tab[(unsigned char)p[n + 3]])
            return n + 3;
    }
}

/*
 * hdr_name_span_to - hdr_name_span() where every byte up to end (the
 * value's NUL, p <= end) may be read: 16 bytes a step with SSE2 while 16
 * remain, a name byte being one whose lower case is a-z, a digit or '_'
 * (the same bytes as hdr_name_tab; a name of 20 bytes took 60
 * instructions a byte at a time), the rest by hdr_name_span().
 */
static inline size_t
hdr_name_span_to(const char *p, const char *end)
{
    size_t n = 0;
#ifdef __SSE2__
    const __m128i lower = _mm_set1_epi8(0x20), a = _mm_set1_epi8('a'),
                  z = _mm_set1_epi8('z' - 'a'), zero = _mm_set1_epi8('0'),
                  nine = _mm_set1_epi8(9), under = _mm_set1_epi8('_');

    for (; end - (p + n) >= 16; n += 16) {
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + n));
        /* x - lo <= hi - lo, unsigned: min_epu8() is SSE2's compare */
        __m128i l = _mm_sub_epi8(_mm_or_si128(c, lower), a);
        __m128i d = _mm_sub_epi8(c, zero);
        __m128i ok = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(l, z), l),
                         _mm_cmpeq_epi8(_mm_min_epu8(d, nine), d)),
            _mm_cmpeq_epi8(c, under));
        unsigned bad = (unsigned)_mm_movemask_epi8(ok) ^ 0xffffu;

        if (bad != 0)
            return n + (size_t)__builtin_ctz(bad);
    }
#else
    (void)end;
#endif
    return n + hdr_name_span(p + n);
}

/*
 * hdr_number_scan - read a decimal number "[-+]?[0-9]+(.[0-9]+)?" at s
 * (no exponent, no hex, no inf/nan). Returns the bytes used and stores the
 * value in *out (-0 becomes 0) and, when printed_nonzero is not NULL,
 * whether the text was anything but an unsigned zero ("0.00"); returns 0
 * and leaves *out alone when s holds no such number or it is out of range.
 * hdr_number_scan_any() reads every shape; hdr_number_scan() is it with
 * the common one inline.
 */
size_t hdr_number_scan_any(const char *s, double *out, int *printed_nonzero);
/* hdr_is_digit - an ASCII digit */
static inline int
hdr_is_digit(char c)
{
    return c >= '0' && c <= '9';
}
/* hdr_number_scan - the "d.dd" shape here, any other in _any() */
static inline size_t
hdr_number_scan(const char *s, double *out, int *printed_nonzero)
{
    const char *p = s + (*s == '-' || *s == '+');
    uint64_t mant;
    double v;

    /* Rspamd's shape, "d.dd" (most numbers of a header), inline: the
     * same value as hdr_number_scan_any() gives, 100 * d + 10 * d + d over
     * 100 (and "-0.00" is a small negative: printed non-zero) */
    if (!(hdr_is_digit(p[0]) && p[1] == '.' && hdr_is_digit(p[2]) &&
          hdr_is_digit(p[3]) && !hdr_is_digit(p[4])))
        return hdr_number_scan_any(s, out, printed_nonzero);
    mant = (uint64_t)(p[0] - '0') * 100 + (uint64_t)(p[2] - '0') * 10 +
           (uint64_t)(p[3] - '0');
    v = (double)mant / 100.0;
    *out = (*s == '-' ? -v : v) + 0.0;
    if (printed_nonzero != NULL)
        *printed_nonzero = *s == '-' || mant != 0;
    return (size_t)(p + 4 - s);
}

#endif /* NM_HDR_INT_H */
