/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * addr - network and trap lists. The lists come from the configuration;
 * the addresses matched against them come from the MTA (the client's
 * address, RCPT TO): every loop is bounded, nothing allocates.
 */
#include "config.h"
#include "addr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util.h"

#define ADDR_SEP " \t,"

/* addr_net_parse - one "ADDR[/N]" of n bytes */
static int
addr_net_parse(const char *s, size_t n, struct addr_net *net, char *err,
                size_t errlen)
{
    char buf[INET6_ADDRSTRLEN + 8];
    char *slash;
    long bits;

    if (n >= sizeof(buf)) {
        util_errf(err, errlen, "network '%.40s' is too long", s);
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash++ = '\0';
    memset(net, 0, sizeof(*net));
    if (inet_pton(AF_INET, buf, net->addr) == 1)
        net->family = AF_INET;
    else if (inet_pton(AF_INET6, buf, net->addr) == 1)
        net->family = AF_INET6;
    else {
        util_errf(err, errlen, "'%s' is not an IPv4 or IPv6 address", buf);
        return -1;
    }
    net->bits = net->family == AF_INET ? 32 : 128;
    if (slash != NULL) {
        if (util_parse_long(slash, 0, (long)net->bits, &bits) != 0 ||
            slash[0] < '0' || slash[0] > '9') {
            util_errf(err, errlen, "bad prefix length '/%s'", slash);
            return -1;
        }
        net->bits = (unsigned)bits;
    }
    return 0;
}

/* addr_netlist_parse - a list of networks */
int
addr_netlist_parse(const char *s, struct addr_netlist *out, char *err,
                    size_t errlen)
{
    memset(out, 0, sizeof(*out));
    for (;;) {
        size_t n;

        s += strspn(s, ADDR_SEP);
        if (*s == '\0')
            return 0;
        n = strcspn(s, ADDR_SEP);
        if (out->n == ADDR_MAX_NETS) {
            util_errf(err, errlen, "more than %d networks", ADDR_MAX_NETS);
            return -1;
        }
        if (addr_net_parse(s, n, &out->net[out->n], err, errlen) != 0)
            return -1;
        out->n++;
        s += n;
    }
}

/* addr_prefix_eq - the first bits bits of a and b agree */
static int
addr_prefix_eq(const unsigned char *a, const unsigned char *b,
                unsigned bits)
{
    unsigned whole = bits / 8, rest = bits % 8;
    unsigned char mask;

    if (memcmp(a, b, whole) != 0)
        return 0;
    if (rest == 0)
        return 1;
    mask = (unsigned char)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* addr_netlist_match - sa in one of the networks */
int
addr_netlist_match(const struct addr_netlist *nl, const struct sockaddr *sa)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                              0xff, 0xff };
    unsigned char a[16];
    int family;

    if (nl == NULL || sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET) {
        memcpy(a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
               4);
        family = AF_INET;
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;

        memcpy(a, &s6->sin6_addr, 16);
        family = AF_INET6;
        if (memcmp(a, mapped, 12) == 0) {
            memmove(a, a + 12, 4);
            family = AF_INET;
        }
    } else {
        return 0;
    }
    for (size_t i = 0; i < nl->n; i++)
        if (nl->net[i].family == family &&
            addr_prefix_eq(a, nl->net[i].addr, nl->net[i].bits))
            return 1;
    return 0;
}

/* addr_addr_char - a byte an address or domain of a trap may hold */
static int
addr_addr_char(int c)
{
    return c > 32 && c < 127 && c != '<' && c != '>' && c != ',' &&
           c != '"' && c != '(' && c != ')' && c != ';';
}

/* addr_traps_check - "" or a list of user@domain and @domain */
int
addr_traps_check(const char *s, char *err, size_t errlen)
{
    size_t count = 0;

    for (;;) {
        const char *at;
        size_t n;

        s += strspn(s, ADDR_SEP);
        if (*s == '\0')
            return 0;
        n = strcspn(s, ADDR_SEP);
        if (++count > ADDR_MAX_TRAPS) {
            util_errf(err, errlen, "more than %d traps", ADDR_MAX_TRAPS);
            return -1;
        }
        at = memchr(s, '@', n);
        if (n > ADDR_MAX_ADDR || at == NULL || at == s + n - 1 ||
            memchr(at + 1, '@', (size_t)(s + n - at - 1)) != NULL) {
            util_errf(err, errlen, "'%.*s' is neither user@domain nor "
                      "@domain", n > 60 ? 60 : (int)n, s);
            return -1;
        }
        for (size_t i = 0; i < n; i++)
            if (!addr_addr_char((unsigned char)s[i])) {
                util_errf(err, errlen, "bad character in '%.*s'",
                          n > 60 ? 60 : (int)n, s);
                return -1;
            }
        s += n;
    }
}

/* addr_trap_match - rcpt is a trap address or in a trap domain */
int
addr_trap_match(const char *list, const char *rcpt)
{
    const char *r = rcpt, *at;
    size_t rn;

    r += strspn(r, " \t");
    if (*r == '<')
        r++;
    rn = strcspn(r, ">");
    while (rn > 0 && (r[rn - 1] == ' ' || r[rn - 1] == '\t'))
        rn--;
    if (rn == 0 || rn > ADDR_MAX_ADDR)
        return 0;
    at = memchr(r, '@', rn);
    if (at == NULL)
        return 0;
    for (const char *s = list;;) {
        size_t n;

        s += strspn(s, ADDR_SEP);
        if (*s == '\0')
            return 0;
        n = strcspn(s, ADDR_SEP);
        if (s[0] == '@') {
            size_t dn = (size_t)(r + rn - at);

            if (n == dn && strncasecmp(s, at, n) == 0)
                return 1;
        } else if (n == rn && strncasecmp(s, r, n) == 0) {
            return 1;
        }
        s += n;
    }
}

