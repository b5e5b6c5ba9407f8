/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * feat - the one way a verdict becomes a network input, used alike by the
 * milter, the trainer and the admin tool. A profile is the sorted list of
 * symbol names the network takes; its digest names it. Pure: no I/O, no
 * logging; a profile is immutable once built and may be read by any
 * thread. Must not include libmilter, hiredis, fann or zstd headers.
 *
 * Inputs, in order:
 *   [0, nsym)            presence: 1.0 when the symbol fired, else 0
 *   [nsym, 2*nsym)       only when the profile has scores: the symbol's
 *                        score squashed into (-1, 1) by s / (1 + |s|)
 *   then FEAT_NMETA meta-inputs: tanh(score / required) (0 without a
 *   required score) and tanh(symbol count / 32).
 */
#ifndef NM_FEAT_H
#define NM_FEAT_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "hdr.h"

/* Symbols in one profile. Profiles are built from the symbols that fired
 * in at least two examples; Rspamd and SpamAssassin have a few hundred to
 * about 2000 rules. The model's size limits derive from it (model.h). */
#define FEAT_MAX_SYMBOLS 4096
#define FEAT_NMETA 2
#define FEAT_DIGEST_LEN 8     /* hex characters */

struct feat_profile;

/*
 * feat_profile_new - build a profile from names (borrowed; copied,
 * sorted, duplicates and names that are not [A-Za-z0-9_]+ dropped).
 * with_scores adds the score channel. Returns NULL when no valid name
 * remains or there are more than FEAT_MAX_SYMBOLS. Caller frees with
 * feat_profile_free().
 */
struct feat_profile *feat_profile_new(const char *const *names, size_t n,
                                      int with_scores);
void feat_profile_free(struct feat_profile *p);

size_t feat_profile_nsym(const struct feat_profile *p);
const char *feat_profile_name(const struct feat_profile *p, size_t i);
int feat_profile_scores(const struct feat_profile *p);
/* feat_profile_digest - FEAT_DIGEST_LEN lowercase hex characters naming
 * the symbol list and the score flag; stable across runs and hosts. */
const char *feat_profile_digest(const struct feat_profile *p);
/* feat_profile_index - position of name in the profile, or -1: a lookup
 * in a hash table built with the profile, no allocation. */
long feat_profile_index(const struct feat_profile *p, const char *name);

/*
 * feat_result_ignore - dst becomes a copy of src without the symbols
 * [model] ignore_symbols of c leaves out (cfg_symbol_ignored()): what the
 * profile, the vectors and the profile-change test see of a verdict.
 * dst is overwritten (not freed first; the caller releases it with
 * hdr_result_free()); src is borrowed. Returns the number left out.
 */
size_t feat_result_ignore(struct hdr_result *dst,
                          const struct hdr_result *src, const struct cfg *c);

/*
 * feat_known_share - the weighted share of res's symbols that prof
 * knows: each symbol weighs 1 + |score| (a scoreless header weighs them
 * alike, a rule the scanner scores high counts for more), and the share
 * is the known weight over the whole; 0 without symbols. The guard of
 * the adjustment (model_map_adjust()).
 */
double feat_known_share(const struct feat_profile *prof,
                        const struct hdr_result *res);

/* feat_ninputs - the length of the vectors of this profile. */
size_t feat_ninputs(const struct feat_profile *p);

/*
 * feat_vector - fill out[0 .. feat_ninputs(p)) from res. Symbols not in
 * the profile are ignored and counted into *unknown (may be NULL).
 * Returns 0, or -1 when nout is not feat_ninputs(p).
 */
int feat_vector(const struct feat_profile *p, const struct hdr_result *res,
                float *out, size_t nout, size_t *unknown)
    __attribute__((warn_unused_result));

/* One non-zero input: its position in feat_vector()'s vector, its value. */
struct feat_pair {
    uint32_t idx;
    float val;
};

/* feat_pairs_max - the most pairs feat_sparse() writes for a result of
 * nsym symbols (a presence and a score each, and the meta-inputs);
 * FEAT_PAIRS_MAX the same for any result a parser makes (at most
 * HDR_MAX_SYMBOLS symbols), for a buffer on the stack. */
#define FEAT_PAIRS_MAX (2 * HDR_MAX_SYMBOLS + FEAT_NMETA)
static inline size_t
feat_pairs_max(size_t nsym)
{
    return 2 * nsym + FEAT_NMETA;
}

/*
 * feat_sparse - the same vector as feat_vector() as its non-zero entries:
 * out[0 .. *nout) are (index, value) pairs in strictly ascending index
 * order, and feat_vector() would write exactly these values with 0
 * everywhere else (presence, then the scores that are not 0, then the
 * meta-inputs that are not 0). Symbols not
 * in the profile are counted into *unknown (may be NULL). Needs cap >=
 * feat_pairs_max(res->nsym); returns 0, or -1 when cap is smaller. Any
 * thread; costs no allocation.
 */
int feat_sparse(const struct feat_profile *p, const struct hdr_result *res,
                struct feat_pair *out, size_t cap, size_t *nout,
                size_t *unknown) __attribute__((warn_unused_result));

/* What feat_sparse_kept() made of a verdict's symbols. */
struct feat_kept {
    size_t nsym;    /* the symbols the network sees */
    size_t ignored; /* left out by [model] ignore_symbols */
    size_t unknown; /* of those seen, the ones the profile lacks */
    double known;   /* feat_known_share() of those seen */
};

/*
 * feat_sparse_kept - what feat_result_ignore(), then feat_sparse() and
 * feat_known_share() on the copy give (the same pairs, counts and share,
 * bit for bit), without the copy: for the milter's hot path. ign
 * (borrowed, NULL: none) holds one byte per profile symbol, non-zero when
 * c ignores it (model_ignored()), so that the profile's symbols cost no
 * pattern match; the others, and all when ign is NULL, are matched with
 * cfg_symbol_ignored() of c (borrowed). Needs cap >=
 * feat_pairs_max(res->nsym); returns 0, or -1 when cap is smaller. Any
 * thread; costs no allocation.
 */
int feat_sparse_kept(const struct feat_profile *p,
                     const struct hdr_result *res, const unsigned char *ign,
                     const struct cfg *c, struct feat_pair *out, size_t cap,
                     size_t *nout, struct feat_kept *kept)
    __attribute__((warn_unused_result));

#endif /* NM_FEAT_H */
