# SPDX-License-Identifier: BSD-2-Clause
# report-spam.sieve - imapsieve: a message moved (or copied, or appended)
# into Junk is reported to neural-milter as spam (contrib/dovecot/README.md).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.user" "*" {
    set "username" "${1}";
}
pipe :copy "nm-report" ["spam", "${username}"];
