#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-2-Clause
"""imap_move.py - the IMAP client of t/e2e/dovecot.sh, as a user's mail
program acts: log in on 127.0.0.1:PORT, then run the steps given as
arguments, in order:

    append MAILBOX FILE      upload a message (as a delivery would put it)
    move MSGID FROM TO       find the message by its Message-ID in FROM
                             and move it to TO (UID MOVE, RFC 6851)
    count MAILBOX            print the number of messages in MAILBOX

Exits 1 at the first step that fails, saying which on stderr."""
import imaplib
import sys


def fail(what):
    sys.stderr.write("imap_move: %s\n" % what)
    sys.exit(1)


def main(argv):
    if len(argv) < 4:
        fail("usage: imap_move.py PORT USER PASSWORD STEP...")
    port, user, password, steps = int(argv[0]), argv[1], argv[2], argv[3:]
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    imap.login(user, password)
    i = 0
    while i < len(steps):
        op = steps[i]
        if op == "append":
            box, path = steps[i + 1], steps[i + 2]
            with open(path, "rb") as f:
                data = f.read().replace(b"\r\n", b"\n").replace(b"\n",
                                                                b"\r\n")
            typ, _ = imap.append(box, None, None, data)
            if typ != "OK":
                fail("append %s to %s: %s" % (path, box, typ))
            i += 3
        elif op == "move":
            msgid, src, dst = steps[i + 1], steps[i + 2], steps[i + 3]
            typ, _ = imap.select(src)
            if typ != "OK":
                fail("select %s: %s" % (src, typ))
            typ, data = imap.uid("SEARCH", None, "HEADER", "Message-ID",
                                 msgid)
            uids = data[0].split() if typ == "OK" and data[0] else []
            if len(uids) != 1:
                fail("%s in %s: %d found" % (msgid, src, len(uids)))
            typ, data = imap.uid("MOVE", uids[0].decode(), dst)
            if typ != "OK":
                fail("move %s from %s to %s: %s %s" % (msgid, src, dst, typ,
                                                       data))
            imap.close()
            i += 4
        elif op == "count":
            typ, data = imap.select(steps[i + 1], readonly=True)
            if typ != "OK":
                fail("select %s: %s" % (steps[i + 1], typ))
            print(int(data[0]))
            imap.close()
            i += 2
        else:
            fail("unknown step %s" % op)
    imap.logout()


if __name__ == "__main__":
    main(sys.argv[1:])
