/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * xmalloc - allocators that log and abort on exhaustion, so callers never
 * check for NULL. Any thread. Results are freed with free().
 */
#ifndef NM_XMALLOC_H
#define NM_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
/* xreallocarray - realloc for nmemb * size, aborting on overflow */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif /* NM_XMALLOC_H */
