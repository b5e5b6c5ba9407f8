#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# rspamd.sh - the real chain: a private Rspamd (its proxy worker as a
# milter, scanning by itself) in front of neural-milter in a private
# Postfix, smtpd_milters = rspamd, neural-milter; relay to smtp-sink.
# Rspamd's config is the stock /etc/rspamd/rspamd.conf plus our own
# LOCAL_CONFDIR holding contrib/rspamd/local.d (so those snippets are
# tested too) and a few lines that keep it off the network and quick.
# Messages are corpus messages with their scanner headers stripped, plus
# synthetic ones (one with a forged X-Spamd-Result). When spamd, spamc
# and spamass-milter are installed, the same checks run through
# SpamAssassin on a second smtpd port. Needs root; skips (77) when a
# program is missing. Takes ~35 s on an idle 2-core machine (Rspamd and
# spamd start in 5-10 s; neural-milter spends 5 s at stop on the examples
# it cannot write to the absent Redis), up to ~90 s on a busy one.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib_postfix.sh"
. "$top_srcdir/t/lib_corpus.sh"

nm_postfix_need
RSPAMD=${RSPAMD:-$(command -v rspamd || echo /usr/bin/rspamd)}
RSPAMD_CONF=${RSPAMD_CONF:-/etc/rspamd/rspamd.conf}
if [ ! -x "$RSPAMD" ]; then
    echo "1..0 # SKIP rspamd missing"
    exit 77
fi
if [ ! -f "$RSPAMD_CONF" ]; then
    echo "1..0 # SKIP $RSPAMD_CONF missing"
    exit 77
fi
# SpamAssassin through spamass-milter: optional part
SPAMD=${SPAMD:-$(command -v spamd || echo /usr/sbin/spamd)}
SPAMC=${SPAMC:-$(command -v spamc || echo /usr/bin/spamc)}
SPAMASS_MILTER=${SPAMASS_MILTER:-$(command -v spamass-milter ||
    echo /usr/sbin/spamass-milter)}
sa=yes
for p in "$SPAMD" "$SPAMC" "$SPAMASS_MILTER"; do
    [ -x "$p" ] || sa=
done

nm_postfix_init
dir=$NM_PF_DIR
nmdir=$dir/nm
mkdir -p "$nmdir"
chmod 755 "$nmdir"

# ---------------------------------------------------------------- rspamd
# Ports: away from the ones nm_postfix_start derives from our pid.
rs_port=$(nm_free_port $(( 20000 + ($$ * 7 + 15000) % 30000 )))
rs=$dir/rspamd
mkdir -p "$rs/conf/local.d" "$rs/conf/override.d" "$rs/db" "$rs/run" \
    "$rs/log"
cp "$top_srcdir/contrib/rspamd/local.d/milter_headers.conf" \
    "$top_srcdir/contrib/rspamd/local.d/worker-proxy.inc" "$rs/conf/local.d/"
# contrib's worker-proxy.inc binds localhost:11332; only the port changes
echo "bind_socket = \"127.0.0.1:$rs_port\";" \
    > "$rs/conf/override.d/worker-proxy.inc"
# the proxy scans by itself (self_scan): no normal worker, no controller
echo 'enabled = false;' > "$rs/conf/local.d/worker-normal.inc"
echo 'enabled = false;' > "$rs/conf/local.d/worker-controller.inc"
# Modules that need Redis, state or the network. fuzzy_check resolves its
# servers with the system resolver while loading the config.
for m in greylist ratelimit fuzzy_check neural replies; do
    echo 'enabled = false;' > "$rs/conf/local.d/$m.conf"
done
# Reject nothing: a rejected message never reaches neural-milter (nor the
# sink), and which corpus messages cross 15 depends on the run.
echo 'reject = 1000;' > "$rs/conf/local.d/actions.conf"
# DNS only to loopback, where nothing answers: no query leaves the
# machine, lookups fail (*_FAIL symbols), after a short timeout so that a
# scan takes about a second instead of five. Only the top-level suffixes
# of the public suffix list: compiling all 9,600 for Hyperscan takes a
# minute or more.
grep -v -e '^//' -e '^$' -e '\.' /usr/share/rspamd/effective_tld_names.dat \
    > "$rs/conf/tld.dat" 2>/dev/null
cat > "$rs/conf/local.d/options.inc" <<CF
dns {
    nameserver = ["127.0.0.1:53"];
    timeout = 200ms;
    retransmits = 1;
}
disable_hyperscan = true;
CF
if [ -s "$rs/conf/tld.dat" ]; then
    echo "url_tld = \"$rs/conf/tld.dat\";" >> "$rs/conf/local.d/options.inc"
fi
if id _rspamd > /dev/null 2>&1; then
    chown -R _rspamd:_rspamd "$rs/db" "$rs/run" "$rs/log"
    rs_user="-u _rspamd -g _rspamd"
else
    rs_user=--insecure
fi
# shellcheck disable=SC2086 # rs_user is two options or one
"$RSPAMD" -f $rs_user -c "$RSPAMD_CONF" --var="LOCAL_CONFDIR=$rs/conf" \
    --var="DBDIR=$rs/db" --var="RUNDIR=$rs/run" --var="LOGDIR=$rs/log" \
    > "$rs/stdout.log" 2>&1 &
rs_pid=$!
nm_track $rs_pid

# --------------------------------------------------------- neural-milter
cat > "$nmdir/nm.ini" <<INI
[milter]
socket = unix:$nmdir/nm.sock
group = postfix
pidfile =
log_level = info
[redis]
servers = $dir/no-redis.sock
[train]
# every scanned message would be learned (learn= in our header says what
# was queued; Redis is absent): only the queue id check tells a verdict
# made for the message from a forged one
spam_score = 1000
ham_score = 100
ham_min_negative = 0
INI
"$top_builddir/src/neural-milter" -f -c "$nmdir/nm.ini" \
    2> "$dir/daemon.log" &
nm_pid=$!
nm_track $nm_pid

# ----------------------------------------------------------- spamassassin
if [ -n "$sa" ]; then
    sa_port=$(nm_free_port $((rs_port + 1)))
    sam_port=$(nm_free_port $((sa_port + 1)))
    sad=$dir/sa
    mkdir -p "$sad/site" "$sad/home"
    # the .pre files load the plugins; local.cf keeps it off the network
    cp /etc/spamassassin/*.pre "$sad/site/" 2>/dev/null
    cat > "$sad/site/local.cf" <<CF
dns_available no
skip_rbl_checks 1
use_bayes 0
bayes_auto_learn 0
# what SpamAssassin knows of the MTA's queue id: spamass-milter's
# synthetic Received header ("... id QUEUEID") as parsed relays
add_header all Relays-Trusted _RELAYSTRUSTED_
add_header all Relays-Untrusted _RELAYSUNTRUSTED_
CF
    chmod -R a+rX "$sad"
    "$SPAMD" --siteconfigpath="$sad/site" -L -x -u nobody -H "$sad/home" \
        -i "127.0.0.1:$sa_port" -A 127.0.0.1 -m 2 --min-children=1 \
        -s "$sad/spamd.log" > "$sad/spamd.out" 2>&1 &
    nm_track $!
fi

# Wait for Rspamd's proxy (and spamd): ~20 s, longer on a busy machine
t0=$(date +%s)
nm_wait_for "nm_port_busy $rs_port || ! kill -0 $rs_pid" 1800
if ! nm_port_busy "$rs_port"; then
    echo "Bail out! rspamd did not start: $(tail -n 20 "$rs/log/rspamd.log" \
        "$rs/stdout.log" 2>/dev/null)"
    exit 1
fi
echo "# rspamd listening after $(( $(date +%s) - t0 )) s"
nm_wait_for "test -S $nmdir/nm.sock" 100 || echo "# milter socket missing"

nm_postfix_start "inet:127.0.0.1:$rs_port, unix:$nmdir/nm.sock"
# a third smtpd whose only milter is neural-milter: Rspamd down, set to
# pass mail, so whatever scanner header a sender wrote is the only one
nr_port=$(nm_free_port $((NM_SMTPD_PORT + 2)))
printf '127.0.0.1:%s inet n - n - - smtpd -o smtpd_milters=%s\n' \
    "$nr_port" "unix:$nmdir/nm.sock" >> "$dir/etc/master.cf"
"$POSTFIX" -c "$dir/etc" reload > /dev/null 2>&1
nm_wait_for "nm_port_busy $nr_port" 100 ||
    echo "# third smtpd not listening: $(tail -n 5 "$dir/maillog")"
if [ -n "$sa" ]; then
    # a second smtpd whose milters are spamass-milter, neural-milter
    sm_port=$(nm_free_port $((sam_port + 1)))
    # spamc is run by spamass-milter for each message
    "$SPAMASS_MILTER" -p "inet:$sam_port@127.0.0.1" -m -- \
        -d 127.0.0.1 -p "$sa_port" > "$sad/milter.log" 2>&1 &
    nm_track $!
    printf '127.0.0.1:%s inet n - n - - smtpd -o %s\n' "$sm_port" \
        "smtpd_milters=inet:127.0.0.1:$sam_port,unix:$nmdir/nm.sock" \
        >> "$dir/etc/master.cf"
    "$POSTFIX" -c "$dir/etc" reload > /dev/null 2>&1
    nm_wait_for "nm_port_busy $sm_port" 100 ||
        echo "# second smtpd not listening: $(tail -n 5 "$dir/maillog")"
    nm_wait_for "nm_port_busy $sam_port" 100 ||
        echo "# spamass-milter not listening: $(cat "$sad/milter.log")"
    # spamd loads its rules in ~10 s, mostly while Rspamd was starting
    nm_wait_for "nm_port_busy $sa_port" 900 ||
        echo "# spamd not listening: $(tail -n 5 "$sad/spamd.log")"
fi

# send PORT NAME FILE: submit one message for NAME@example.net
send() {
    "$SWAKS" --silent 2 --server "127.0.0.1:$1" \
        --from sender@example.org --to "$2@example.net" \
        --helo mail.example.org --data "@$3" > "$dir/swaks-$2.log" 2>&1 ||
        echo "# swaks $2 failed: $(cat "$dir/swaks-$2.log")"
}
# send_all PORT NAME...: send $dir/NAME.eml for each NAME, 8 at a time
# (a scan waits mostly for DNS timeouts; Rspamd runs them concurrently)
send_all() {
    _port=$1
    shift
    _pids=
    for _n in "$@"; do
        send "$_port" "$_n" "$dir/$_n.eml" &
        _pids="$_pids $!"
        if [ "$(echo $_pids | wc -w)" -ge 8 ]; then
            for _p in $_pids; do wait "$_p"; done
            _pids=
        fi
    done
    for _p in $_pids; do wait "$_p"; done
}
# sunk NAME: the sink's dump file of the message sent to NAME
sunk() {
    grep -lr "X-Rcpt-Args: <$1@example.net>" "$dir/sink" 2>/dev/null |
        head -n 1
}
# headers FILE NAME: the header fields NAME of FILE (header block only,
# continuation lines joined with a space), one per line
headers() {
    awk -v want="$(echo "$2" | tr '[:upper:]' '[:lower:]')" '
        /^\r?$/ { exit }
        /^[ \t]/ { if (on) { sub(/^[ \t]+/, " "); cur = cur $0 }; next }
        { if (on) print cur; on = 0 }
        { i = index($0, ":"); n = tolower(substr($0, 1, i - 1)) }
        n == want { on = 1; cur = $0 }
        END { if (on) print cur }' "$1"
}
# strip FILE OUT: FILE without the scanner headers (X-Spamd-Result with
# its continuation lines, X-Rspamd-*, X-Spam, X-Spam-*, X-Neural-Result)
strip() {
    awk 'BEGIN { h = 1 }
        h && /^\r?$/ { h = 0 }
        h && /^[ \t]/ { if (!skip) print; next }
        h { n = tolower($0)
            skip = n ~ /^x-(spamd-result|rspamd-[a-z0-9-]+)[ \t]*:/ ||
                n ~ /^x-(spam|spam-[a-z0-9-]+|neural-result)[ \t]*:/ }
        h && skip { next }
        { print }' "$1" > "$2"
}
# msg FILE HEADER-LINES...: a synthetic message with these header lines
msg() {
    out=$1
    shift
    {
        printf '%s\n' "$@"
        printf 'From: Sender <sender@example.org>\nTo: user@example.net\n'
        printf 'Subject: e2e test %s\n' "$out"
        printf 'Date: Thu, 26 Nov 2026 10:00:00 +0000\n'
        printf 'Message-ID: <%s.%s@example.org>\n' "$out" "$$"
        printf 'MIME-Version: 1.0\nContent-Type: text/plain\n\n'
        printf 'Hello,\n\nthe meeting is moved to Friday at ten.\n\nBob\n'
    } > "$dir/$out.eml"
}

# pick DIR N: N files spread over the sorted *.eml of DIR
pick() {
    ls "$1"/*.eml 2>/dev/null | awk -v n="$2" '{ f[NR] = $0 }
        END { if (NR == 0) exit; s = NR / n; if (s < 1) s = 1
              for (i = 0; i < n && int(1 + i * s) <= NR; i++)
                  print f[int(1 + i * s)] }'
}

rs_names=
sa_names=
corpus=$(nm_corpus_unpack 2>/dev/null) || corpus=
if [ -n "$corpus" ]; then
    for f in $(pick "$corpus/rspamd/test/spam" 10) \
        $(pick "$corpus/rspamd/test/ham" 10); do
        n=r-$(basename "$f" .eml)
        strip "$f" "$dir/$n.eml"
        rs_names="$rs_names $n"
    done
    if [ -n "$sa" ]; then
        for f in $(pick "$corpus/spamassassin/test/spam" 4) \
            $(pick "$corpus/spamassassin/test/ham" 4); do
            n=s-$(basename "$f" .eml)
            strip "$f" "$dir/$n.eml"
            sa_names="$sa_names $n"
        done
    fi
fi
msg r-plain 'X-Mailer: test'
msg r-forged 'X-Spamd-Result: default: False [-50.00 / 15.00];' \
    '	WHITELIST(-50.00)[]' 'X-Rspamd-Action: no action'
# a forged, self-consistent X-Spamd-Result with a made-up queue id, for
# the smtpd without Rspamd
msg r-qforged 'X-Spamd-Result: default: False [-50.00 / 15.00];' \
    '	WHITELIST(-50.00)[]' 'X-Rspamd-Action: no action' \
    'X-Rspamd-Queue-Id: 4Xforged0000'
rs_names="$rs_names r-plain"
if [ -n "$sa" ]; then
    msg s-plain 'X-Mailer: test'
    msg s-forged \
        'X-Spam-Status: No, score=-50.0 required=5.0 tests=ALL_TRUSTED'
    sa_names="$sa_names s-plain"
fi

nrs=$(echo $rs_names | wc -w)
nsa=$(echo $sa_names | wc -w)
plan=$((2 * nrs + 7))
if [ -n "$sa" ]; then
    plan=$((plan + 2 * nsa + 3))
else
    plan=$((plan + 1))
fi
echo "1..$plan"

t0=$(date +%s)
if [ -n "$sa" ]; then
    send_all "$sm_port" $sa_names s-forged &
    sa_send=$!
fi
send_all "$NM_SMTPD_PORT" $rs_names r-forged
send "$nr_port" r-qforged "$dir/r-qforged.eml"
[ -n "$sa" ] && wait "$sa_send"
for n in $rs_names r-forged r-qforged $sa_names; do
    nm_wait_for "test -n \"\$(sunk $n)\"" 300 || echo "# $n did not arrive"
done
[ -n "$sa" ] && { nm_wait_for "test -n \"\$(sunk s-forged)\"" 300 ||
    echo "# s-forged did not arrive"; }
echo "# sent and received in $(( $(date +%s) - t0 )) s"

failed=0
# result OK TEXT...: print a TAP line
result() {
    _ok=$1
    shift
    if [ "$_ok" = 1 ]; then
        echo "ok - $*"
    else
        echo "not ok - $*"
        failed=1
    fi
}
# nm_score FILE: the score= of the one X-Neural-Result of FILE
nm_score() {
    headers "$1" X-Neural-Result | sed -n 's/.*; score=\([^;]*\);.*/\1/p'
}
# same_number A B: A and B are the same number (7.50 and 7.5 are)
same_number() {
    awk -v a="$1" -v b="$2" 'BEGIN { num = "^[-+]?[0-9]+(\\.[0-9]+)?$"
        exit !(a ~ num && b ~ num && a + 0 == b + 0) }'
}

# check_neural NAME FILE UPSTREAM SCORE: FILE carries exactly one
# X-Neural-Result, which names UPSTREAM and read its score as SCORE
check_neural() {
    nr=$(headers "$2" X-Neural-Result)
    nnr=$(printf '%s' "$nr" | grep -c .)
    ok=0
    if [ "$nnr" = 1 ] &&
        printf '%s\n' "$nr" | grep -q "; upstream=$3;" &&
        same_number "$(nm_score "$2")" "$4"; then
        ok=1
    fi
    result $ok "$1: one X-Neural-Result, upstream=$3, score = $4: $nr"
}
# check_rspamd NAME: Rspamd's headers are there once each, and
# neural-milter read Rspamd's total
check_rspamd() {
    f=$(sunk "$1")
    if [ -z "$f" ]; then
        result 0 "$1: Rspamd's headers: message not at the sink"
        result 0 "$1: X-Neural-Result: message not at the sink"
        return
    fi
    sr=$(headers "$f" X-Spamd-Result)
    nsr=$(printf '%s' "$sr" | grep -c .)
    act=$(headers "$f" X-Rspamd-Action)
    nact=$(printf '%s' "$act" | grep -c .)
    total=$(printf '%s\n' "$sr" | head -n 1 | sed -n \
        's/^X-Spamd-Result: default: [A-Za-z]* \[\([-0-9.]*\) \/ .*/\1/p')
    ok=0
    if [ "$nsr" = 1 ] && [ -n "$total" ] && [ "$nact" = 1 ]; then ok=1; fi
    result $ok "$1: one X-Spamd-Result ($nsr, total $total)," \
        "one X-Rspamd-Action ($nact: $act)"
    [ $ok = 1 ] || printf '%s\n' "$sr" | cut -c 1-200 | sed 's/^/#   /'
    check_neural "$1" "$f" rspamd "$total"
}
# check_sa NAME: SpamAssassin's X-Spam-Status is there once, and
# neural-milter read its score
check_sa() {
    f=$(sunk "$1")
    if [ -z "$f" ]; then
        result 0 "$1: X-Spam-Status: message not at the sink"
        result 0 "$1: X-Neural-Result: message not at the sink"
        return
    fi
    ss=$(headers "$f" X-Spam-Status)
    nss=$(printf '%s' "$ss" | grep -c .)
    score=$(printf '%s\n' "$ss" | head -n 1 |
        sed -n 's/^X-Spam-Status: [A-Za-z]*, score=\([-0-9.]*\) .*/\1/p')
    ok=0
    if [ "$nss" = 1 ] && [ -n "$score" ]; then ok=1; fi
    result $ok "$1: one X-Spam-Status ($nss, score $score)"
    [ $ok = 1 ] || printf '%s\n' "$ss" | cut -c 1-200 | sed 's/^/#   /'
    check_neural "$1" "$f" spamassassin "$score"
}

for n in $rs_names; do check_rspamd "$n"; done

# The forged X-Spamd-Result (and X-Rspamd-Action) came in from a loopback
# client. Rspamd 3.4 removes it: milter_headers' x-spamd-result routine
# deletes every copy already in the message (remove = 0) before adding its
# own, and with contrib's skip_local = false it runs for loopback and
# private senders too. So at the sink there is exactly one X-Spamd-Result,
# Rspamd's, and X-Neural-Result has upstream=rspamd with its real total
# (with skip_local = true the forged copy would be the only one left).
check_rspamd r-forged
f=$(sunk r-forged)
ok=0
if [ -n "$f" ] && ! headers "$f" X-Spamd-Result | grep -q -e '-50\.00' \
    -e 'WHITELIST' && ! headers "$f" X-Neural-Result | grep -q 'score=-50'
then
    ok=1
fi
result $ok "r-forged: the forged X-Spamd-Result is gone, not read"

# Learn only from a verdict made for this message: Rspamd's real verdict
# names the queue id Postfix gave the message, and is learned; the forged
# one (a queue id nobody could know in advance) is scored but not learned.
f=$(sunk r-plain)
qh=$(headers "$f" X-Rspamd-Queue-Id | sed 's/^[^:]*: *//')
qlog=$(grep -c "^.*: $qh: milter: .*learn=ham .*queue_id=ok" "$dir/daemon.log")
result "$([ -n "$qh" ] && [ "$qlog" = 1 ] && echo 1)" \
    "r-plain: Rspamd's X-Rspamd-Queue-Id ($qh) is the transaction's: learned (queue_id=ok)"
f=$(sunk r-qforged)
nr=$(headers "$f" X-Neural-Result)
result "$(printf '%s' "$nr" | grep -q 'upstream=rspamd; score=-50.00; learn=none$' &&
    echo 1)" "r-qforged: the forged verdict is scored, not learned: $nr"
result "$(grep -q 'milter: upstream=rspamd score=-50.00 .*learn=none queue_id=mismatch' \
    "$dir/daemon.log" && echo 1)" "r-qforged: logged as queue_id=mismatch"

if [ -n "$sa" ]; then
    for n in $sa_names; do check_sa "$n"; done
    # spamass-milter hands spamd a Received header with "id QUEUEID", so
    # SpamAssassin could say the queue id (_RELAYSTRUSTED_ above); but
    # spamass-milter copies only its own X-Spam-* headers into the
    # message, so none that a later milter could compare reaches us.
    f=$(sunk s-plain)
    rel=$(headers "$f" X-Spam-Relays-Trusted; headers "$f" X-Spam-Relays-Untrusted)
    echo "# s-plain: X-Spam-Relays-*: ${rel:-none}"
    # spamass-milter changes the first X-Spam-Status in place (the forged
    # one here) instead of adding one: again exactly one, SpamAssassin's.
    # A second forged copy would survive (upstream=ambiguous), see
    # contrib/spamassassin/spamass-milter.default.
    check_sa s-forged
    f=$(sunk s-forged)
    ok=0
    if [ -n "$f" ] && ! headers "$f" X-Spam-Status | grep -q -e '-50\.0' &&
        ! headers "$f" X-Neural-Result | grep -q 'score=-50'; then
        ok=1
    fi
    result $ok "s-forged: the forged X-Spam-Status is replaced, not read"
else
    echo "ok - # SKIP spamd, spamc or spamass-milter missing"
fi

# neural-milter stops cleanly; in a sanitizer build nothing was reported
kill "$nm_pid" 2>/dev/null
wait "$nm_pid"
st=$?
ok=0
if [ $st = 0 ] && ! grep -q -e 'Sanitizer' -e 'runtime error' "$dir/daemon.log"
then
    ok=1
fi
result $ok "neural-milter exits with 0 on SIGTERM ($st), no sanitizer report"

if [ $failed = 1 ]; then
    echo "# neural-milter log:"
    tail -n 20 "$dir/daemon.log" | sed 's/^/#   /'
    echo "# rspamd log:"
    grep -v -e 'no symbols' "$rs/log/rspamd.log" | tail -n 20 |
        cut -c 1-300 | sed 's/^/#   /'
    echo "# postfix log:"
    tail -n 20 "$dir/maillog" | sed 's/^/#   /'
    if [ -n "$sa" ]; then
        echo "# spamd log:"
        tail -n 10 "$sad/spamd.log" "$sad/milter.log" | sed 's/^/#   /'
    fi
fi
exit 0
