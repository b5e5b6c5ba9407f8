#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# dovecot.sh - users' Junk moves become examples, through a real Dovecot
# (dovecot-imapd, dovecot-sieve) with contrib/dovecot's sieve scripts,
# settings and nm-report, a real Redis 7 with ACL users, and a Python
# imaplib client that moves messages as a mail program does:
#  - into Junk: a spam report; out of Junk: a ham report; to Trash: none
#  - the reporter's Redis user may append reports and nothing else
#  - `neural-milter-ctl train` (as the trainer thread does) checks them:
#    a report replaces the stored example of its message (ham -> spam,
#    spam -> ham), the per-reporter daily cap refuses the one too many,
#    a forged record is refused; all counted in `status`
#  - the next training uses them: its example counts are the corrected
#    ones
# Dovecot, its maildirs and IMAP port (loopback) are private to the test,
# started and stopped by it. Needs root (Dovecot changes to its users);
# skips (77) when a program is missing.
. "$top_srcdir/t/lib.sh"

DOVECOT=${DOVECOT:-$(command -v dovecot || echo /usr/sbin/dovecot)}
nm_need_cmd python3 redis-cli "${REDIS_SERVER:-redis-server}"
if [ ! -x "$DOVECOT" ] ||
    [ ! -f /usr/lib/dovecot/modules/lib95_imap_sieve_plugin.so ] ||
    [ ! -f /usr/lib/dovecot/modules/sieve/lib90_sieve_extprograms_plugin.so ]
then
    echo "1..0 # SKIP dovecot-imapd or dovecot-sieve missing"
    exit 77
fi
if [ "$(id -u)" != 0 ] || ! id dovecot > /dev/null 2>&1 ||
    ! id dovenull > /dev/null 2>&1; then
    echo "1..0 # SKIP needs root and the users dovecot, dovenull"
    exit 77
fi
. "$top_srcdir/t/lib_postfix.sh" # nm_free_port, nm_port_busy

ctl="$top_builddir/src/neural-milter-ctl"
imap="$top_srcdir/t/e2e/imap_move.py"
# Under /tmp, world-traversable: Dovecot's processes run as dovecot.
d=$(mktemp -d /tmp/nm-dovecot.XXXXXX) || exit 1
chmod 755 "$d"
nm_track_dir "$d"
echo "1..18"

# ---------------------------------------------------------------- Redis
rport=$(nm_free_port $(( 20000 + ($$ * 11 + 7000) % 30000 )))
cat > "$d/redis.conf" <<CF
port $rport
bind 127.0.0.1
dir $d
save ""
appendonly no
user default off
$(sed -n 's/^user nm-/user nm-/p' "$top_srcdir/contrib/dovecot/redis-acl.conf" |
    sed -e 's/>CHANGE-ME-report/>pw-report/' -e 's/>CHANGE-ME-milter/>pw-milter/')
CF
"${REDIS_SERVER:-redis-server}" "$d/redis.conf" > "$d/redis.log" 2>&1 &
nm_track $!
rcli() {
    REDISCLI_AUTH=pw-milter redis-cli --no-auth-warning -h 127.0.0.1 \
        -p "$rport" --user nm-milter "$@"
}
rcli_report() {
    REDISCLI_AUTH=pw-report redis-cli --no-auth-warning -h 127.0.0.1 \
        -p "$rport" --user nm-report "$@"
}
nm_wait_for "rcli ping | grep -q PONG" 100 ||
    echo "# redis did not start: $(cat "$d/redis.log")"

# ----------------------------------------------------------- neural-milter
cat > "$d/nm.ini" <<INI
[redis]
servers = 127.0.0.1:$rport
username = nm-milter
password = pw-milter
prefix = nm
[train]
min_class = 3
[learn]
max_reports_per_day = 3
INI

# msg NAME SPAM [VERDICT]: a message with SpamAssassin's header, with
# the symbols of spam or ham; VERDICT (default: right) "wrong" gives it
# the scanner's verdict of the other class (the mistakes users report)
msg() {
    if [ "$2" = 1 ]; then
        tests='SPAM_A,SPAM_B,SPAM_C,
	BOTH_X'
    else
        tests='HAM_A,HAM_B,BOTH_X'
    fi
    if [ "$2" = 1 ] && [ "${3:-}" != wrong ] ||
        [ "$2" = 0 ] && [ "${3:-}" = wrong ]; then
        st="Yes, score=20.0 required=5.0 tests=$tests autolearn=no version=4.0.1"
    else
        st="No, score=-2.0 required=5.0 tests=$tests autolearn=no version=4.0.1"
    fi
    {
        printf 'Return-Path: <sender@example.org>\n'
        printf 'X-Spam-Status: %s\n' "$st"
        printf 'From: Sender <sender@example.org>\nTo: alice@example.net\n'
        printf 'Subject: dovecot test %s\n' "$1"
        printf 'Date: Thu, 26 Nov 2026 10:00:00 +0000\n'
        printf 'Message-ID: <%s.%s@example.org>\n' "$1" "$$"
        printf 'MIME-Version: 1.0\nContent-Type: text/plain\n\n'
        printf 'Hello,\n\nthis is message %s.\n' "$1"
    } > "$d/$1.eml"
}
for i in 1 2 3 4 5 6; do
    msg "s$i" 1
    msg "h$i" 0
done
msg x 1 wrong  # spam the scanner missed: stored as ham, reported as spam
msg y 0 wrong  # ham the scanner flagged: stored as spam, reported as ham
msg z 1   # moved from Junk to Trash: no report
msg v 1   # reported as spam, not stored before
msg w 1   # one report too many for the day
"$ctl" -c "$d/nm.ini" learn spam "$d"/s?.eml "$d/y.eml" > "$d/learn.out" 2>&1
"$ctl" -c "$d/nm.ini" learn ham "$d"/h?.eml "$d/x.eml" >> "$d/learn.out" 2>&1
counts() {
    "$ctl" -c "$d/nm.ini" status 2>/dev/null |
        sed -n 's/^examples: \([0-9]*\) spam, \([0-9]*\) ham.*/\1 \2/p'
}
c=$(counts)
t_ok "$([ "$c" = "7 7" ]; echo $?)" "7 spam and 7 ham examples stored, x as ham, y as spam ($c)"

# -------------------------------------------------------------- Dovecot
iport=$(nm_free_port $((rport + 1)))
mkdir -p "$d/run" "$d/state" "$d/sieve" "$d/pipe" "$d/home/alice"
cp "$top_srcdir/contrib/dovecot/report-spam.sieve" \
    "$top_srcdir/contrib/dovecot/report-ham.sieve" "$d/sieve/"
cp "$top_srcdir/contrib/dovecot/nm-report" "$d/pipe/"
chmod 755 "$d/pipe/nm-report"
printf 'server = 127.0.0.1:%s\nuser = nm-report\npassword_file = %s\nprefix = nm\n' \
    "$rport" "$d/report.pass" > "$d/pipe/nm-report.conf"
printf 'pw-report' > "$d/report.pass"
printf 'alice:{PLAIN}secret\n' > "$d/passwd"
# contrib's settings with this test's paths
sed -e "s|/etc/dovecot/sieve/|$d/sieve/|" \
    -e "s|/usr/lib/dovecot/sieve-pipe|$d/pipe|" \
    "$top_srcdir/contrib/dovecot/90-neural-milter.conf" > "$d/90-nm.conf"
cat > "$d/dovecot.conf" <<CF
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $d/passwd
}
userdb {
  driver = static
  args = uid=dovecot gid=dovecot home=$d/home/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $iport
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
namespace inbox {
  inbox = yes
  mailbox Junk {
    auto = create
    special_use = \Junk
  }
  mailbox Trash {
    auto = create
    special_use = \Trash
  }
}
!include $d/90-nm.conf
CF
# "delivery": into the maildirs as an LDA writes them (no IMAP, no sieve)
md=$d/home/alice/Maildir
for box in "" .Junk .Trash; do
    mkdir -p "$md/$box/cur" "$md/$box/new" "$md/$box/tmp"
done
i=0
for m in x v w; do
    i=$((i + 1))
    cp "$d/$m.eml" "$md/new/100$i.$$.test"
done
for m in y z; do
    i=$((i + 1))
    cp "$d/$m.eml" "$md/.Junk/new/100$i.$$.test"
done
chown -R dovecot:dovecot "$d/home" "$d/sieve"
chmod 644 "$d/pipe/nm-report.conf" "$d/report.pass"
"$DOVECOT" -F -c "$d/dovecot.conf" > "$d/dovecot.out" 2>&1 &
dpid=$!
nm_track $dpid
nm_wait_for "nm_port_busy $iport" 100
t_ok $? "dovecot listens on 127.0.0.1:$iport"

# ----------------------------------------------------- the user's moves
msgid_of() { printf '<%s.%s@example.org>' "$1" "$$"; }
python3 "$imap" "$iport" alice secret \
    move "$(msgid_of x)" INBOX Junk move "$(msgid_of y)" Junk INBOX \
    move "$(msgid_of z)" Junk Trash move "$(msgid_of v)" INBOX Junk \
    move "$(msgid_of w)" INBOX Junk > "$d/imap.out" 2>&1
t_ok $? "imaplib: x to Junk, y from Junk to INBOX, z to Trash, v and w to Junk"
boxes=$(python3 "$imap" "$iport" alice secret count INBOX count Junk \
    count Trash 2>&1 | tr '\n' ' ')
t_ok "$([ "$boxes" = "1 3 1 " ]; echo $?)" "INBOX, Junk, Trash hold 1, 3, 1 ($boxes)"
nm_wait_for "[ \"\$(rcli llen nm:report:in)\" = 4 ]" 100
t_ok $? "four reports arrived in Redis, none for the move to Trash ($(rcli llen nm:report:in))"
first=$(rcli lindex nm:report:in 0 | head -n 3 | tr '\n' ' ')
t_ok "$(case $first in "NMREPORT 1 verdict: spam reporter: alice "*) echo 0 ;;
    *) echo 1 ;; esac)" "the first is alice's spam report: $first"
t_ok "$(rcli lrange nm:report:in 0 -1 | grep -c '^verdict: ham' |
    grep -qx 1; echo $?)" "one of them is a ham report (y)"

# --------------------------------------------------- least privilege
out=$(rcli_report lrange nm:report:in 0 -1 2>&1)
t_ok "$(echo "$out" | grep -q NOPERM; echo $?)" "the reporter cannot read the reports: $out"
out=$(rcli_report set nm:current 00000000 2>&1)
t_ok "$(echo "$out" | grep -q NOPERM; echo $?)" "nor write another key: $out"
out=$(rcli_report rpush nm:ex:spam forged 2>&1)
t_ok "$(echo "$out" | grep -q NOPERM; echo $?)" "nor push an example: $out"
out=$(rcli_report rpush nm:report:in 'NMREPORT 1
verdict: maybe' 2>&1)
t_ok "$([ "$out" = 5 ]; echo $?)" "it may append a report (a forged one here): $out"

# ------------------------------------- the trainer checks, then trains
"$ctl" -v -c "$d/nm.ini" train > "$d/train.out" 2>&1
grep -q '^result: published' "$d/train.out"
t_ok $? "a training ran and published: $(head -n 1 "$d/train.out")"
t_ok "$(grep -q '^reports: 3 accepted, 2 refused' "$d/train.out"; echo $?)" \
    "of 5 reports 3 accepted, 2 refused: $(grep '^reports:' "$d/train.out")"
c=$(counts)
t_ok "$([ "$c" = "8 7" ]; echo $?)" "x replaced by spam, y by ham, v added: 8 spam, 7 ham ($c)"
# the training saw exactly those: trained + held back per class
used=$(awk '/^trained on:|^held back:/ { s += $3; h += $6 }
    END { print s + 0, h + 0 }' "$d/train.out")
t_ok "$([ "$used" = "8 7" ]; echo $?)" "the training used 8 spam and 7 ham ($used)"
st=$("$ctl" -c "$d/nm.ini" status 2>&1 | grep '^reports:')
t_ok "$(echo "$st" | grep -q '0 waiting; 3 accepted,.* 1 refused:verdict,.* 1 refused:cap,'; echo $?)" \
    "status counts them: $st"
t_ok "$(grep -q 'report refused (refused:cap).*reporter alice' "$d/train.out"; echo $?)" \
    "the refusal over the cap is logged with the reporter"

kill "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
t_ok "$(! grep -q -i 'error\|fatal' "$d/dovecot.log"; echo $?)" "no error in Dovecot's log"

if [ "$failed" = 1 ]; then
    for f in dovecot.log dovecot.out imap.out train.out learn.out redis.log; do
        echo "# $f:"
        tail -n 15 "$d/$f" 2>/dev/null | sed 's/^/#   /'
    done
fi
exit 0
