/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * example - one training example in a form that does not depend on the
 * profile: the label, whether it was an explicit verdict, and the
 * scanner's verdict (symbol names with their scores), so that a new
 * profile can be trained from the examples kept for the old one. Encoded
 * compactly and compressed with zstd for Redis. Pure: no I/O, no
 * logging; any thread.
 *
 * XXX: STYLE keeps <zstd.h> to model.c; examples are not models, and
 * routing them through model.c would make the trainer's storage depend
 * on the network code, so this module includes it too.
 */
#ifndef NM_EXAMPLE_H
#define NM_EXAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "hdr.h"

#define EXAMPLE_MAX_RAW (256u << 10)   /* decoded bytes of one record */
#define EXAMPLE_MAX_BLOB (256u << 10)  /* compressed bytes */

/* Where a label came from. Every source but autolearn is explicit: its
 * label was not derived from the upstream's score. */
enum example_source {
    EXAMPLE_SRC_AUTOLEARN,  /* the scanner's sure verdict */
    EXAMPLE_SRC_ADMIN,      /* neural-milter-ctl learn */
    EXAMPLE_SRC_REPORT,     /* a user's report (contrib/dovecot) */
    EXAMPLE_SRC_REPLY,      /* a local user replied to it: ham */
    EXAMPLE_SRC_SPAMTRAP,   /* addressed only to spam traps: spam */
};
#define EXAMPLE_NSOURCES 5

struct example {
    int spam;              /* 1 spam, 0 ham */
    int explicit_;         /* not autolearn (source != AUTOLEARN) */
    int64_t time;          /* unix time it was queued */
    uint64_t key;          /* the message key (learn.h); a later verdict
                              with the same key replaces this example */
    enum example_source source;
    struct hdr_result res; /* upstream, score, required, symbols */
};

/* example_source_name - "autolearn", "admin", "report", "reply",
 * "spamtrap"; never NULL. */
const char *example_source_name(enum example_source s);

/*
 * example_from_result - fill ex from res (copied), label and flag; the
 * key is the content key (learn_key_content()), the source ADMIN when
 * explicit_, else AUTOLEARN: set both afterwards when known.
 * Only Rspamd and SpamAssassin results can be examples: -1 otherwise.
 */
int example_from_result(struct example *ex, const struct hdr_result *res,
                        int spam, int explicit_, int64_t now)
    __attribute__((warn_unused_result));
void example_free(struct example *ex);

/* example_serialize_result - the record of res (borrowed, not copied)
 * as an example of label spam from source src under key: what the
 * milter threads queue, without example_from_result()'s copy and
 * content hash. *raw malloc'd; 0, or -1 with err. */
int example_serialize_result(const struct hdr_result *res, int spam,
                             enum example_source src, uint64_t key,
                             int64_t now, void **raw, size_t *len, char *err,
                             size_t errlen)
    __attribute__((warn_unused_result));

/* example_serialize_stored - what example_serialize_result() and then
 * example_store() give, byte for byte, in one buffer: the record written
 * behind its frame's head (no second allocation, no copy). For the milter
 * threads; *blob malloc'd; 0, or -1 with err. */
int example_serialize_stored(const struct hdr_result *res, int spam,
                             enum example_source src, uint64_t key,
                             int64_t now, void **blob, size_t *len,
                             char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* example_encode - *blob is malloc'd (caller frees); 0 or -1 + err.
 * The same as example_serialize() then example_compress(). */
int example_encode(const struct example *ex, void **blob, size_t *len,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

/* example_serialize - the record before compression (*raw malloc'd). */
int example_serialize(const struct example *ex, void **raw, size_t *len,
                      char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* example_compress - compress a serialized record into a blob as
 * example_decode() reads it. Keeps one compression context per calling
 * thread (freed when the thread ends): meant for long-lived threads. */
int example_compress(const void *raw, size_t rawlen, void **blob, size_t *len,
                     char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* example_store - the same record as a zstd frame of raw (stored)
 * blocks, as example_decode() reads it: a copy, where compressing a
 * record of a few hundred bytes costs about 34k instructions (entropy
 * tables); for records kept for a short time (replies), at 12 bytes
 * more than the record. */
int example_store(const void *raw, size_t rawlen, void **blob, size_t *len,
                  char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* example_decode - check and decode a blob (borrowed) into ex (caller
 * frees with example_free()); 0, or -1 with err and ex zeroed. */
int example_decode(const void *blob, size_t len, struct example *ex,
                   char *err, size_t errlen) __attribute__((warn_unused_result));

#endif /* NM_EXAMPLE_H */
