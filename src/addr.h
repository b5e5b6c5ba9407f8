/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * addr - network lists ([milter] skip_networks, [learn] local_networks)
 * and spam-trap recipient lists ([learn] spamtrap_recipients): parsed
 * for the configuration's checks, matched for each connection and
 * recipient. Pure: no I/O, no logging, no allocation; any thread.
 */
#ifndef NM_ADDR_H
#define NM_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_MAX_NETS 64         /* entries of one network list */
#define ADDR_MAX_TRAPS 256       /* entries of spamtrap_recipients */
#define ADDR_MAX_ADDR 254        /* bytes of one recipient address */

/* One network: family AF_INET or AF_INET6, the address, its prefix. */
struct addr_net {
    int family;
    unsigned char addr[16];
    unsigned bits;
};

struct addr_netlist {
    size_t n;
    struct addr_net net[ADDR_MAX_NETS];
};

/*
 * addr_netlist_parse - "127.0.0.0/8, ::1, 192.0.2.1" (commas or blanks
 * between entries, a missing /N is the whole address; "" is an empty
 * list) into out. 0, or -1 with the reason in err.
 */
int addr_netlist_parse(const char *s, struct addr_netlist *out, char *err,
                        size_t errlen) __attribute__((warn_unused_result));

/* addr_netlist_match - 1 when sa (AF_INET or AF_INET6; an IPv4-mapped
 * IPv6 address counts as IPv4) lies in one of nl's networks, else 0
 * (also for NULL or another family). */
int addr_netlist_match(const struct addr_netlist *nl,
                        const struct sockaddr *sa);

/* addr_traps_check - s is "" or a list of addresses (user@domain) and
 * domains (@domain), commas or blanks between: 0, or -1 with err. */
int addr_traps_check(const char *s, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* addr_trap_match - rcpt ("<user@domain>" or "user@domain", as RCPT TO
 * gives it) is one of the traps of list (checked by addr_traps_check),
 * compared without case: 1 or 0. */
int addr_trap_match(const char *list, const char *rcpt);

#endif /* NM_ADDR_H */
