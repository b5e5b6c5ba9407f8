/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * hdr_int - the parsers' internals, shared by hdr.c, hdr_rspamd.c and
 * hdr_sa.c only (and their unit test); every other module uses hdr.h.
 * Pure, any thread, no logging.
 */
#ifndef NM_HDR_INT_H
#define NM_HDR_INT_H

#include <stdint.h>

#include "hdr.h"

/* What hdr_symbol_add() did with a symbol. */
enum hdr_sym_status {
    HDR_SYM_ADDED,
    HDR_SYM_DUPLICATE, /* name already present: the first copy is kept */
    HDR_SYM_SKIPPED,   /* name longer than HDR_MAX_NAME: left out */
    HDR_SYM_FULL,      /* HDR_MAX_SYMBOLS reached: left out */
};

/*
 * The names one parse has added so far, as a 256-bit filter: a name whose
 * bit is clear cannot be one of them, so hdr_symbol_add() compares names
 * only when its bit is set (the search for duplicates was a third of the
 * parser's cost, quadratic in the symbols). Zero it before the first
 * symbol of a result.
 */
struct hdr_symset {
    uint64_t bits[4];
};

/* hdr_symbol_add - append a symbol (name is borrowed, len bytes of
 * [A-Za-z0-9_]) to res->sym unless set says it may be there and it is,
 * growing res->sym with the x-allocators. */
enum hdr_sym_status hdr_symbol_add(struct hdr_result *res,
                                   struct hdr_symset *set, const char *name,
                                   size_t len, double score);

/* hdr_name_tab - 1 for the bytes of a symbol name ([A-Za-z0-9_]), as
 * hdr_name_char() says; hdr_name_span - how many of them start at p */
extern const unsigned char hdr_name_tab[256];
static inline size_t
hdr_name_span(const char *p)
{
    size_t n = 0;

    while (hdr_name_tab[(unsigned char)p[n]])
        n++;
    return n;
}

/*
 * hdr_number_scan - read a decimal number "[-+]?[0-9]+(.[0-9]+)?" at s
 * (no exponent, no hex, no inf/nan). Returns the bytes used and stores the
 * value in *out (-0 becomes 0) and, when printed_nonzero is not NULL,
 * whether the text was anything but an unsigned zero ("0.00"); returns 0
 * and leaves *out alone when s holds no such number or it is out of range.
 */
size_t hdr_number_scan(const char *s, double *out, int *printed_nonzero);

#endif /* NM_HDR_INT_H */
