/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * xmalloc - out of memory is not a condition this daemon can serve mail
 * through, so it is a panic with a log line rather than NULL everywhere.
 */
#include "config.h"
#include "xmalloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* xmalloc - malloc or panic */
void *
xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        panic("xmalloc: out of memory allocating %zu bytes", size);
    return p;
}

/* xcalloc - calloc or panic */
void *
xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        panic("xcalloc: out of memory allocating %zu * %zu bytes", nmemb,
              size);
    return p;
}

/* xreallocarray - checked realloc */
void *
xreallocarray(void *ptr, size_t nmemb, size_t size)
{
    void *p;

    if (size && nmemb > SIZE_MAX / size)
        panic("xreallocarray: %zu * %zu overflows", nmemb, size);
    p = realloc(ptr, (nmemb * size) != 0 ? nmemb * size : 1);
    if (p == NULL)
        panic("xreallocarray: out of memory allocating %zu * %zu bytes",
              nmemb, size);
    return p;
}

/* xstrdup - strdup or panic */
char *
xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

/* xstrndup - copy at most n bytes and terminate */
char *
xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}
