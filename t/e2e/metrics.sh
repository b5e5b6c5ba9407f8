#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# metrics.sh - [metrics] listen: the daemon's /metrics scraped with curl
# after a replay of known messages (scored, without a scanner header,
# ambiguous, unparseable, through nm-replay): every message is counted
# once under the upstream and result its header says, p and the
# adjustment are observed for the scored ones, the examples queued and
# written match the learn= fields, the served model is the info metric,
# a training is counted by outcome with its duration; HEAD, 404, 405, an
# oversized request, and a silent client that delays no mail. Skips
# (77) when a program is missing.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/e2e/lib_model.sh"

NM_REPLAY=$top_builddir/contrib/bench/nm-replay
NM_DAEMON=${NM_DAEMON:-$top_builddir/src/neural-milter}
nm_need_cmd "${REDIS_SERVER:-redis-server}" "${REDIS_CLI:-redis-cli}" curl
nm_need_exe "$NM_REPLAY" "$NM_DAEMON" "$NM_CTL"

dir=$(nm_tmpdir metrics)
ini=$dir/nm.ini
port=$(nm_free_port 1)
url=http://127.0.0.1:$port/metrics
nm_milter_ini "$dir" "$dir/redis.sock" info
cat >> "$ini" <<INI
[upstream]
require_queue_id = no
[train]
check_interval = 300ms
min_class = 20
threshold = 100000
[metrics]
listen = 127.0.0.1:$port
INI

echo "1..26"
# scrape NAME - GET /metrics into NAME.prom
scrape() {
    curl -sf -o "$dir/$1.prom" "$url"
}
# val NAME SERIES - a sample's value in NAME.prom (-1 when absent)
val() {
    awk -v s="$2" 'index($0, s " ") == 1 { v = $NF } END {
        print v == "" ? -1 : v }' "$dir/$1.prom"
}
# hdr_count FILE ERE - added headers (3rd field) that match ERE
hdr_count() {
    awk -F'\t' -v re="$2" '$3 ~ re { n++ } END { print n + 0 }' "$1"
}
msg() { # msg UP RESULT - the series of neural_milter_messages_total
    echo "neural_milter_messages_total{upstream=\"$1\",result=\"$2\"}"
}

# Messages: 40 + 40 synthetic Rspamd ones, the shipped samples (one
# without a scanner header, one of SpamAssassin), one with two
# X-Spamd-Result copies, one whose X-Spamd-Result does not parse.
nm_synth "$dir/msg" 40
mkdir -p "$dir/odd"
cp "$top_srcdir"/contrib/samples/*.eml "$dir/odd/"
{
    sed -n '/^X-Spamd-Result/,/^X-Rspamd-Action/p' "$dir/msg/spam/spam-001.eml"
    cat "$dir/msg/spam/spam-002.eml"
} > "$dir/odd/two-copies.eml"
printf 'X-Spamd-Result: nothing like it\nSubject: odd\n\nHi.\n' \
    > "$dir/odd/unparseable.eml"
nm_redis_start "$dir"
nm_model_build "$ini" "$dir/msg"
id=$("$NM_CTL" -c "$ini" status | sed -n 's/^model: //p')
digest=${id%.*}
[ ${#digest} -eq 8 ]
t_ok $? "a model $id"

"$NM_DAEMON" -f -c "$ini" 2> "$dir/daemon.log" &
dpid=$!
nm_track $dpid
nm_wait_log "$dir/daemon.log" "watch: loaded model $id" 100 &&
    nm_wait_log "$dir/daemon.log" "metrics: serving $url" 100
t_ok $? "the daemon serves $id and $url"

scrape fresh
[ "$(val fresh "$(msg rspamd scored)")" = 0 ] &&
    [ "$(val fresh "neural_milter_model_info{id=\"$id\",profile=\"$digest\",\
version=\"1\"}")" = 1 ] &&
    [ "$(val fresh neural_milter_model_loads_total)" = 1 ]
t_ok $? "before any mail: no message counted, model_info $id, 1 load"

# 1200 messages over 4 connections, cycling through the 86 files.
nm_replay run -j 4 -n 1200 -u run "$dir/msg" "$dir/odd"
sent=$(nm_replay_stat run messages)
[ "$sent" = 1200 ] && [ "$(nm_replay_stat run errors)" = 0 ]
t_ok $? "1200 messages replayed, none failed"
out=$dir/run.out
n_scored=$(hdr_count "$out" '; p=[01][.][0-9]+;')
n_amb=$(hdr_count "$out" 'upstream=ambiguous;')
n_none=$(hdr_count "$out" 'p=none; .*upstream=(none|rspamd|spamassassin);')
n_bad=$(grep -c 'unparseable.eml' "$out")
n_spam=$(hdr_count "$out" 'learn=spam$')
n_ham=$(hdr_count "$out" 'learn=ham$')
echo "# from the headers: $n_scored scored, $n_amb ambiguous, $n_none p=none \
($n_bad unparseable), $n_spam learn=spam, $n_ham learn=ham"

# Written once the writer has had its 100 ms: wait for the count, and
# for the queue to drain (the messages kept for a reply go through it too,
# in batches of their own, and may still be queued when the examples are
# all written).
nm_wait_for "scrape run && [ \"\$(val run 'neural_milter_examples_written_total\
{class=\"ham\",source=\"autolearn\"}')\" = $n_ham ] &&
    [ \"\$(val run 'neural_milter_examples_written_total{class=\"spam\",\
source=\"autolearn\"}')\" = $n_spam ] &&
    [ \"\$(val run neural_milter_queue_depth)\" = 0 ]" 50
t_ok $? "examples written: $n_spam spam and $n_ham ham, as the learn= fields; \
the queue drained"
total=$(awk '/^neural_milter_messages_total\{/ { s += $NF } END { print s }' \
    "$dir/run.prom")
[ "$total" = "$sent" ]
t_ok $? "neural_milter_messages_total adds up to the $sent messages sent \
($total)"
sc=$(( $(val run "$(msg rspamd scored)") + $(val run "$(msg spamassassin scored)") ))
[ $sc -eq "$n_scored" ] && [ $n_scored -gt 0 ]
t_ok $? "result=scored: $sc, the headers with a p ($n_scored)"
[ "$(val run "$(msg ambiguous ambiguous)")" -eq "$n_amb" ] && [ $n_amb -gt 0 ]
t_ok $? "upstream=ambiguous: $n_amb"
[ "$(val run "$(msg none error)")" -eq "$n_bad" ] && [ $n_bad -gt 0 ]
t_ok $? "upstream=none,result=error: the $n_bad unparseable headers"
nn=$(( $(val run "$(msg none none)") + $(val run "$(msg rspamd none)") +
    $(val run "$(msg spamassassin none)") ))
[ $nn -eq $((n_none - n_bad)) ]
t_ok $? "result=none: $nn, the other headers with p=none"
errs=$(( $(val run "$(msg rspamd error)") + $(val run "$(msg spamassassin error)") ))
[ $errs -eq 0 ]
t_ok $? "no other errors ($errs)"
[ "$(val run neural_milter_p_count)" -eq "$n_scored" ] &&
    [ "$(val run neural_milter_adjustment_count)" -eq "$n_scored" ] &&
    [ "$(val run 'neural_milter_p_bucket{le="+Inf"}')" -eq "$n_scored" ]
t_ok $? "the p and adjustment histograms hold the $n_scored scored messages"
# synthetic spam scores p >= 0.9, ham p <= 0.1 (see the headers)
hi=$(hdr_count "$out" '; p=(0[.]9[0-9]*|1[.]0+);')
lo=$(hdr_count "$out" '; p=0[.](0[0-9]*|100);')
[ "$(( n_scored - $(val run 'neural_milter_p_bucket{le="0.9"}') ))" -eq "$hi" ] &&
    [ "$(val run 'neural_milter_p_bucket{le="0.1"}')" -eq "$lo" ]
t_ok $? "p buckets: $lo at or below 0.1, $hi above 0.9, as the headers say"
adj=$(awk -F'\t' '$3 ~ /; p=[01][.]/ { split($3, f, ";"); s += f[1] }
    END { printf "%.2f", s }' "$out")
awk -v a="$adj" -v b="$(val run neural_milter_adjustment_sum)" \
    -v n="$n_scored" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= n * 0.005) }'
t_ok $? "adjustment_sum $(val run neural_milter_adjustment_sum) = the \
headers' sum $adj (to their rounding)"
[ "$(val run 'neural_milter_examples_queued_total{class="spam",source="autolearn"}')" -eq "$n_spam" ] &&
    [ "$(val run 'neural_milter_examples_queued_total{class="ham",source="autolearn"}')" -eq "$n_ham" ] &&
    [ "$(val run 'neural_milter_examples_dropped_total{class="spam",source="autolearn"}')" = 0 ] &&
    [ "$(val run neural_milter_queue_depth)" = 0 ]
t_ok $? "examples queued $n_spam + $n_ham, none dropped, queue depth 0"

# A training: due once the threshold drops (reload), counted by outcome.
mark=$(nm_log_lines "$dir/daemon.log")
sed -i 's/^threshold = 100000$/threshold = 100/' "$ini"
kill -USR1 $dpid
nm_wait_log_after "$dir/daemon.log" "$mark" 'trainer: .*outcome=' 300
outcome=$(tail -n +"$((mark + 1))" "$dir/daemon.log" |
    sed -n 's/.*trainer: .*outcome=\([a-z-]*\)$/\1/p' | head -n 1)
nm_wait_for "scrape train && [ \"\$(val train \
'neural_milter_trainings_total{outcome=\"$outcome\"}')\" = 1 ]" 50
t_ok $? "a training ($outcome): trainings_total{outcome=\"$outcome\"} 1"
[ "$(val train neural_milter_training_seconds_count)" = 1 ] &&
    [ "$(val train 'neural_milter_training_seconds_bucket{le="+Inf"}')" = 1 ]
t_ok $? "and its duration ($(val train neural_milter_training_seconds_sum) s)"
if [ "$outcome" = published ]; then
    nm_wait_for "scrape model && [ \"\$(val model \
'neural_milter_model_info{id=\"$digest.2\",profile=\"$digest\",version=\"2\"}')\" = 1 ]" 50 &&
        [ "$(val model neural_milter_model_loads_total)" = 2 ]
else
    false
fi
t_ok $? "the new model $digest.2 is the info metric, 2 loads"

# HTTP: HEAD, another path, another method, an oversized head.
curl -sfI "$url" > "$dir/head.out" &&
    grep -q '^Content-Type: text/plain; version=0.0.4' "$dir/head.out" &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' -I "$url")" = 200 ]
t_ok $? "HEAD /metrics: 200, text format 0.0.4"
[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 404 ] &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url")" = 405 ]
t_ok $? "GET / is 404, POST /metrics 405"
pad=$(head -c 9000 /dev/zero | tr '\0' a)
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "X-Pad: $pad" "$url")" = 400 ]
t_ok $? "a request head over 8 KiB: 400"

# A client that connects and says nothing: mail goes on at full speed,
# and the next scrape waits at most the 2 s deadline.
(sleep 4 | curl -s "telnet://127.0.0.1:$port" > /dev/null 2>&1) &
silent=$!
nm_track $silent
nm_wait_for "grep -q ':$(printf '%04X' "$port") .* 01 ' /proc/net/tcp" 50
nm_replay silent -j 4 -n 400 "$dir/msg"
max=$(nm_replay_stat silent max_ms)
[ "$(nm_replay_stat silent messages)" = 400 ] &&
    awk -v m="$max" 'BEGIN { exit !(m >= 0 && m < 500) }'
t_ok $? "a silent client connected: 400 messages, slowest $max ms"
t0=$(date +%s%3N)
scrape late
t1=$(date +%s%3N)
[ -s "$dir/late.prom" ] && [ $((t1 - t0)) -lt 3500 ]
t_ok $? "the scrape behind it answered in $((t1 - t0)) ms (< 3.5 s)"
late=$(awk '/^neural_milter_messages_total\{/ { s += $NF } END { print s }' \
    "$dir/late.prom")
[ "$late" = $((sent + 400)) ]
t_ok $? "and counts those 400 too ($late in all)"

kill -TERM $dpid
wait $dpid
rc=$?
[ $rc -eq 0 ] && ! grep -q 'Sanitizer\|runtime error:' "$dir/daemon.log"
t_ok $? "the daemon exits 0 on SIGTERM with no sanitizer report (rc $rc)"
curl -s -o /dev/null "$url"
[ $? -ne 0 ]
t_ok $? "the metrics socket is closed after the stop"
if [ $failed -ne 0 ]; then
    echo "# daemon log (the end):"
    grep -v 'milter: upstream' "$dir/daemon.log" | tail -n 30 | sed 's/^/#   /'
fi
