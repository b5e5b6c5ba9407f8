# SPDX-License-Identifier: BSD-2-Clause
# report-ham.sieve - imapsieve: a message moved (or copied) out of Junk
# into any mailbox but Trash is reported to neural-milter as ham
# (contrib/dovecot/README.md). Deleting spam is no verdict.
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
    set "mailbox" "${1}";
}
if string "${mailbox}" "Trash" {
    stop;
}
if environment :matches "imap.user" "*" {
    set "username" "${1}";
}
pipe :copy "nm-report" ["ham", "${username}"];
