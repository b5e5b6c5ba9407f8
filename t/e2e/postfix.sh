#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# postfix.sh - end to end through a real, private Postfix: smtpd on a
# loopback port with smtpd_milters = neural-milter, relaying to smtp-sink.
# Messages are sent with swaks and read back from the sink's dump files.
# Nothing in /etc/postfix is touched. Needs root (Postfix's master);
# skips (77) when a program is missing or we are not root.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib_postfix.sh"
. "$top_srcdir/t/lib_corpus.sh"

nm_postfix_need

nm_postfix_init
nm_postfix_start "unix:$NM_PF_DIR/nm/nm.sock"
dir=$NM_PF_DIR
mkdir -p "$dir/nm"
chmod 755 "$dir/nm"
cat > "$dir/nm/nm.ini" <<INI
[milter]
socket = unix:$dir/nm/nm.sock
group = postfix
pidfile =
log_level = debug
[redis]
servers = $dir/no-redis.sock
INI
"$top_builddir/src/neural-milter" -f -c "$dir/nm/nm.ini" \
    2> "$dir/daemon.log" &
nm_track $!
nm_wait_for "test -S $dir/nm/nm.sock" 100 || echo "# milter socket missing"

# send NAME FILE: submit one message and wait for it at the sink
send() {
    "$SWAKS" --silent 2 --server "127.0.0.1:$NM_SMTPD_PORT" \
        --from sender@example.org --to "$1@example.net" \
        --helo mail.example.org --data "@$2" > "$dir/swaks-$1.log" 2>&1 ||
        echo "# swaks $1 failed: $(cat "$dir/swaks-$1.log")"
    nm_wait_for "grep -lr 'X-Rcpt-Args: <$1@example.net>' $dir/sink" 200 ||
        echo "# $1 did not arrive"
}
# header NAME: the X-Neural-Result lines of the message sent to NAME
header() {
    f=$(grep -lr "X-Rcpt-Args: <$1@example.net>" "$dir/sink" | head -n 1)
    [ -n "$f" ] && grep -i '^X-Neural-Result:' "$f"
}

msg() { # msg FILE HEADER-LINES...: a message with the given header lines
    out=$1
    shift
    {
        printf '%s\n' "$@"
        printf 'From: sender@example.org\nTo: user@example.net\n'
        printf 'Subject: e2e test\nMessage-ID: <%s@example.org>\n\n' "$out"
        printf 'Hello.\n'
    } > "$dir/$out.eml"
}
msg rspamd 'X-Spamd-Result: default: False [7.50 / 15.00];' \
    '	FORGED_MUA_OUTLOOK(3.00)[];' '	OLD_X_MAILER(2.00)[];' \
    '	FAKE_REPLY(1.00)[];' '	DATE_IN_PAST(1.00)[212691];' \
    '	MV_CASE(0.50)[];' '	RCVD_NO_TLS_LAST(0.10)[];' \
    '	MIME_GOOD(-0.10)[text/plain]' 'X-Rspamd-Action: add header'
msg sa 'X-Spam-Status: Yes, score=10.5 required=5.0 tests=EXCUSE_24,' \
    '	FAKE_REPLY_C,FORGED_MUA_OUTLOOK autolearn=disabled version=4.0.1'
msg none 'X-Mailer: test'
msg forged 'X-Neural-Result: -9.99; p=0.000; model=x.1; upstream=rspamd' \
    'X-Spam-Status: No, score=-1.2 required=5.0 tests=ALL_TRUSTED' \
    'X-Neural-Result: -9.99; forged twice'
msg twice 'X-Spamd-Result: default: False [1.00 / 15.00];' '	A(1.00)[]' \
    'X-Spamd-Result: default: False [2.00 / 15.00];' '	B(2.00)[]'

n=5
corpus=$(nm_corpus_unpack 2>/dev/null) || corpus=
if [ -n "$corpus" ]; then
    n=$((n + 2))
fi
echo "1..$n"

check() { # check NAME WANT-REGEX
    got=$(header "$1")
    count=$(printf '%s\n' "$got" | grep -c '^X-Neural-Result:')
    if [ "$count" = 1 ] && printf '%s\n' "$got" | grep -Eq "$2"; then
        echo "ok - $1: $got"
    else
        echo "not ok - $1: want one header matching /$2/, got: $got"
    fi
}
for m in rspamd sa none forged twice; do send "$m" "$dir/$m.eml"; done
check rspamd '^X-Neural-Result: \+0\.00; p=none; model=none; upstream=rspamd; score=7\.50; learn=none$'
check sa 'upstream=spamassassin; score=10\.50;'
check none 'upstream=none; score=none;'
check forged '^X-Neural-Result: \+0\.00; .*upstream=spamassassin; score=-1\.20;'
check twice 'upstream=ambiguous; score=none;'

if [ -n "$corpus" ]; then
    # Real scanner output: one Rspamd and one SpamAssassin message.
    r=$(ls "$corpus"/rspamd/test/spam/*.eml | head -n 1)
    s=$(ls "$corpus"/spamassassin/test/spam/*.eml | head -n 1)
    id=$(basename "$r" .eml)
    rs=$(awk -F'\t' -v id="$id" '$1 == id { print $5 }' "$top_srcdir/../shared/corpus/index.tsv")
    ss=$(awk -F'\t' -v id="$id" '$1 == id { printf "%.2f", $8 }' \
        "$top_srcdir/../shared/corpus/index.tsv")
    send corpusr "$r"
    send corpuss "$s"
    check corpusr "upstream=rspamd; score=$rs;"
    check corpuss "upstream=spamassassin; score=$ss;"
fi
echo "# daemon log:"
sed 's/^/#   /' "$dir/daemon.log"
