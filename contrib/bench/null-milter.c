/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * null-milter - the baseline of contrib/bench/run: a milter on the same
 * libmilter that negotiates the same protocol steps as neural-milter
 * (milter_negotiate in src/milter.c: no HELO, RCPT, body, unknown, DATA
 * or end-of-headers, no reply per header) and adds one fixed header at
 * end of message, nothing else: no parsing, no Redis, no logging. So
 * neural-milter's cost is what it measures above this one.
 *
 *   null-milter -s SOCKET
 *
 * Runs in the foreground; SIGTERM or SIGINT stop it (libmilter's own
 * signal thread). Links only libmilter.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include <libmilter/mfapi.h>

#define NULL_HEADER_NAME "X-Null-Milter"
#define NULL_HEADER_VALUE "passed"

/* The connection's private pointer marks "no reply per header agreed";
 * only its address is used, nothing is written through it. */
static const char null_nr_hdr;

/* null_negotiate - ask for exactly the steps neural-milter asks for */
static sfsistat
null_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1,
               unsigned long f2, unsigned long f3, unsigned long *pf0,
               unsigned long *pf1, unsigned long *pf2, unsigned long *pf3)
{
    unsigned long want = SMFIP_NOHELO | SMFIP_NORCPT | SMFIP_NOBODY |
                         SMFIP_NOUNKNOWN | SMFIP_NODATA | SMFIP_NOEOH |
                         SMFIP_NR_HDR;

    (void)f2;
    (void)f3;
    if ((f0 & (SMFIF_ADDHDRS | SMFIF_CHGHDRS)) !=
        (SMFIF_ADDHDRS | SMFIF_CHGHDRS))
        return SMFIS_REJECT;
    *pf0 = SMFIF_ADDHDRS | SMFIF_CHGHDRS;
    *pf1 = f1 & want;
    (void)smfi_setpriv(ctx, (*pf1 & SMFIP_NR_HDR) ? (void *)&null_nr_hdr
                                                  : NULL);
    *pf2 = 0;
    *pf3 = 0;
    /* neural-milter asks for the queue id at end of message; so do we,
     * so that the MTA sends the same macros to both. */
    (void)smfi_setsymlist(ctx, SMFIM_EOM, "i");
    return SMFIS_CONTINUE;
}

/* null_connect - nothing to do; present so the connect step is sent */
static sfsistat
null_connect(SMFICTX *ctx, char *host, _SOCK_ADDR *addr)
{
    (void)ctx;
    (void)host;
    (void)addr;
    return SMFIS_CONTINUE;
}

/* null_envfrom - nothing to do; present so MAIL FROM is sent */
static sfsistat
null_envfrom(SMFICTX *ctx, char **argv)
{
    (void)ctx;
    (void)argv;
    return SMFIS_CONTINUE;
}

/* null_header - read nothing; no reply when the MTA agreed to none */
static sfsistat
null_header(SMFICTX *ctx, char *name, char *value)
{
    (void)name;
    (void)value;
    return smfi_getpriv(ctx) == &null_nr_hdr ? SMFIS_NOREPLY
                                             : SMFIS_CONTINUE;
}

/* null_eom - add the fixed header */
static sfsistat
null_eom(SMFICTX *ctx)
{
    (void)smfi_addheader(ctx, NULL_HEADER_NAME, NULL_HEADER_VALUE);
    return SMFIS_CONTINUE;
}

/* null_abort - nothing was kept */
static sfsistat
null_abort(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

/* null_close - forget the marker; close may come without negotiate */
static sfsistat
null_close(SMFICTX *ctx)
{
    (void)smfi_setpriv(ctx, NULL);
    return SMFIS_CONTINUE;
}

static const struct smfiDesc null_desc = {
    .xxfi_name = "null-milter",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS,
    .xxfi_connect = null_connect,
    .xxfi_envfrom = null_envfrom,
    .xxfi_header = null_header,
    .xxfi_eom = null_eom,
    .xxfi_abort = null_abort,
    .xxfi_close = null_close,
    .xxfi_negotiate = null_negotiate,
};

/* null_usage - synopsis, EX_USAGE */
static void
null_usage(void)
{
    fprintf(stderr, "usage: null-milter -s SOCKET\n");
    exit(EX_USAGE);
}

/* main - register, open the socket, serve until SIGTERM */
int
main(int argc, char **argv)
{
    char *sock = NULL;
    int ch;

    while ((ch = getopt(argc, argv, "s:")) != -1) {
        if (ch != 's')
            null_usage();
        sock = optarg;
    }
    if (sock == NULL || optind != argc)
        null_usage();
    if (smfi_register(null_desc) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: smfi_register failed\n");
        return EX_SOFTWARE;
    }
    if (smfi_setconn(sock) != MI_SUCCESS ||
        smfi_opensocket(1) != MI_SUCCESS) {
        fprintf(stderr, "null-milter: cannot open socket %s\n", sock);
        return EX_OSERR;
    }
    return smfi_main() == MI_SUCCESS ? 0 : EX_SOFTWARE;
}
