#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# sentinel.sh - Redis Sentinel for real: a primary, a replica and three
# sentinels (redis-server --sentinel) on loopback ports, the daemon and
# neural-milter-ctl told only the sentinels. Traffic is replayed through
# the milter (nm-replay) while the primary is killed: every message is
# answered with a header and scored, the daemon follows the failover
# (logged) within seconds, examples reach the new primary, and the lock
# and a training work there. The old primary, back, becomes a replica
# that the model reads go to. Skips (77) when a program is missing.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/e2e/lib_model.sh"

NM_REPLAY=$top_builddir/contrib/bench/nm-replay
NM_DAEMON=${NM_DAEMON:-$top_builddir/src/neural-milter}
REDIS_CLI=${REDIS_CLI:-redis-cli}
nm_need_cmd "${REDIS_SERVER:-redis-server}" "$REDIS_CLI"
nm_need_exe "$NM_REPLAY" "$NM_DAEMON" "$NM_CTL"

dir=$(nm_tmpdir sentinel)
ini=$dir/nm.ini
pa=$(nm_free_port 1) pb=$(nm_free_port 2)
s1=$(nm_free_port 3) s2=$(nm_free_port 4) s3=$(nm_free_port 5)

echo "1..19"
cli() { # cli PORT ARG...
    _p=$1
    shift
    "$REDIS_CLI" -h 127.0.0.1 -p "$_p" "$@"
}
# answered NAME - every message of the run answered, none failed
answered() {
    [ "$(nm_replay_stat "$1" errors)" = 0 ] &&
        [ "$(wc -l < "$dir/$1.out")" -eq "$(nm_replay_stat "$1" messages)" ]
}
# all_scored NAME ID - every added header scored by model ID
all_scored() {
    awk -F'\t' -v id="$2" '$3 !~ "; p=[01][.][0-9][0-9][0-9]; model=" id ";" {
        bad++ } END { exit NR == 0 || bad }' "$dir/$1.out"
}
# ms - monotonic-enough milliseconds for the follow time
ms() {
    date +%s%3N
}
# sentinels_ready - each sentinel sees the replica linked and the other two
sentinels_ready() {
    for p in $s1 $s2 $s3; do
        cli "$p" SENTINEL master nmtest | tr -d '\r' | paste - - |
            grep -q '^num-other-sentinels	2$' || return 1
        cli "$p" SENTINEL replicas nmtest | tr -d '\r' | paste - - |
            grep -q '^master-link-status	ok$' || return 1
    done
}
# primary_port - the port the first sentinel names
primary_port() {
    cli "$s1" SENTINEL get-master-addr-by-name nmtest | sed -n 2p
}

nm_redis_tcp "$dir/a" "$pa"
pid_a=$NM_LAST_PID
nm_redis_tcp "$dir/b" "$pb" --replicaof 127.0.0.1 "$pa"
nm_sentinel "$dir/s1" "$s1" nmtest "$pa"
nm_sentinel "$dir/s2" "$s2" nmtest "$pa"
nm_sentinel "$dir/s3" "$s3" nmtest "$pa"
nm_wait_for sentinels_ready 300
t_ok $? "primary :$pa, replica :$pb, sentinels :$s1 :$s2 :$s3 see each other"

nm_milter_ini "$dir" "" info
sed -i '/^servers = $/d' "$ini"
cat >> "$ini" <<INI
sentinels = 127.0.0.1:$s1, 127.0.0.1:$s2, 127.0.0.1:$s3
sentinel_master = nmtest
[upstream]
require_queue_id = no
[train]
check_interval = 300ms
min_class = 20
threshold = 100000
lock_ttl = 3s
queue_size = 200000
INI

# A first model, through the sentinels, by the admin tool.
nm_synth "$dir/msg" 40
nm_model_build "$ini" "$dir/msg"
rc=$?
digest=$(cli "$pa" GET nmtest:current)
[ $rc -eq 0 ] && [ ${#digest} -eq 8 ] &&
    [ "$(cli "$pa" HGET "nmtest:model:$digest" version)" = 1 ]
t_ok $? "neural-milter-ctl learns and trains through the sentinels: \
$digest.1 on the primary"

"$NM_DAEMON" -f -c "$ini" 2> "$dir/daemon.log" &
dpid=$!
nm_track $dpid
nm_wait_log "$dir/daemon.log" "watch: loaded model $digest.1" 100 &&
    grep -q "store: sentinel: primary of nmtest is 127.0.0.1:$pa" \
        "$dir/daemon.log" &&
    grep -q "store: sentinel: model reads of nmtest go to 127.0.0.1:$pb, \
127.0.0.1:$pa" "$dir/daemon.log"
t_ok $? "the daemon finds the primary and the replica, and serves $digest.1"

# Traffic in rounds of 80 messages (4 connections) until told to stop
# (at most 300 rounds), while the primary is killed.
(
    i=0
    while [ ! -f "$dir/stop" ] && [ $i -lt 300 ]; do
        nm_replay "round$i" -j 4 -u "r$i" "$dir/msg"
        i=$((i + 1))
    done
    echo $i > "$dir/rounds"
) &
loop=$!
nm_track $loop
nm_wait_for "test -f $dir/round2.err" 100
new_a=$(cli "$pb" GET nmtest:ex:new)
mark=$(nm_log_lines "$dir/daemon.log")
t0=$(ms)
kill -KILL "$pid_a"
wait "$pid_a" 2>/dev/null
nm_wait_log_after "$dir/daemon.log" "$mark" \
    "store: sentinel: primary of nmtest moved from 127.0.0.1:$pa to \
127.0.0.1:$pb" 300
rc=$?
t1=$(ms)
follow=$((t1 - t0))
# the daemon may have heard of the switch from another sentinel than s1,
# which then still names the old primary for a moment: wait for s1 too
[ $rc -eq 0 ] && nm_wait_for "[ \"\$(primary_port)\" = $pb ]" 100
t_ok $? "primary killed: the sentinels promote :$pb, the daemon logs the \
switch" || tail -n 20 "$dir/daemon.log" | sed 's/^/#   /'
echo "# the daemon followed the failover $follow ms after the kill"
[ $follow -lt 15000 ]
t_ok $? "followed within 15 s of the kill ($follow ms; Sentinel's own \
detection takes 1 s + the election)"

# Examples written after the switch reach the new primary (each round's
# messages have Message-IDs of their own: examples are keyed by them).
nm_wait_for "[ \$(cli $pb GET nmtest:ex:new) -gt $((${new_a:-0} + 200)) ]" 200
t_ok $? "examples reach the new primary after the switch \
(${new_a:-0} new before, $(cli "$pb" GET nmtest:ex:new) now)"
touch "$dir/stop"
wait $loop
rounds=$(cat "$dir/rounds")
bad=0 msgs=0 unscored=0
i=0
while [ $i -lt "$rounds" ]; do
    answered "round$i" || bad=$((bad + 1))
    all_scored "round$i" "$digest[.]1" || unscored=$((unscored + 1))
    msgs=$((msgs + $(nm_replay_stat "round$i" messages)))
    i=$((i + 1))
done
echo "# $rounds rounds, $msgs messages replayed across the failover"
[ "$rounds" -ge 4 ] && [ $bad -eq 0 ] && [ $msgs -eq $((rounds * 80)) ]
t_ok $? "every one of the $msgs messages answered, none failed ($bad bad \
rounds)"
[ $unscored -eq 0 ]
t_ok $? "every message carries a header scored by $digest.1 \
($unscored rounds with another)"

# The admin tool follows too, and lists the instance.
"$NM_CTL" -c "$ini" status > "$dir/status.out" 2>&1
grep -q "^redis: primary 127.0.0.1:$pb (Sentinel); reads: 127.0.0.1:$pb\$" \
    "$dir/status.out" &&
    grep -q "^  .*: serves $digest.1 " "$dir/status.out"
t_ok $? "neural-milter-ctl status: the new primary, the instance serving \
$digest.1" || sed 's/^/#   /' "$dir/status.out"

# A training on the new primary: due once the threshold drops (reload).
mark=$(nm_log_lines "$dir/daemon.log")
sed -i 's/^threshold = 100000$/threshold = 100/' "$ini"
kill -USR1 $dpid
nm_wait_log_after "$dir/daemon.log" "$mark" 'trainer: .*outcome=' 300
line=$(tail -n +"$((mark + 1))" "$dir/daemon.log" |
    grep 'trainer: .*outcome=' | head -n 1)
echo "# $line"
echo "$line" | grep -q 'outcome=published'
t_ok $? "the daemon's trainer takes the lock and publishes on :$pb"
last=$(cli "$pb" GET nmtest:train:last)
echo "$last" | grep -q "outcome=published" &&
    [ "$(cli "$pb" HGET "nmtest:model:$digest" version)" = 2 ] &&
    [ -z "$(cli "$pb" GET nmtest:train:lock)" ]
t_ok $? "the new primary holds $digest.2, the outcome line, and the lock \
is released"
nm_wait_log_after "$dir/daemon.log" "$mark" "watch: loaded model $digest.2" 100
t_ok $? "the daemon serves $digest.2"
nm_replay after -j 2 "$dir/msg"
answered after && all_scored after "$digest[.]2"
t_ok $? "80 more messages scored by $digest.2"

# The old primary comes back: Sentinel makes it a replica, and the model
# reads go to it.
mark=$(nm_log_lines "$dir/daemon.log")
nm_redis_tcp "$dir/a" "$pa"
# (Redis 7 starts a full sync 5 s after the replica asks: 30 s)
nm_wait_log_after "$dir/daemon.log" "$mark" \
    "store: sentinel: model reads of nmtest go to 127.0.0.1:$pa, \
127.0.0.1:$pb" 300
t_ok $? "the old primary back as a replica: model reads go to it"
nm_wait_for "[ \"\$(cli $pa HGET nmtest:model:$digest version)\" = 2 ]" 100
t_ok $? "it holds $digest.2 (reads go only to replicas that are in sync)"
cli "$pa" SET nmtest:probe x 2>&1 | grep -q READONLY
t_ok $? "it refuses writes (a replica now)"

kill -0 $dpid 2>/dev/null
t_ok $? "the daemon is still running"
kill -TERM $dpid
wait $dpid
rc=$?
[ $rc -eq 0 ] && ! grep -q 'Sanitizer\|runtime error:' "$dir/daemon.log"
t_ok $? "the daemon exits 0 on SIGTERM with no sanitizer report (rc $rc)"
sed -n 's/^.*\(queue: [0-9]* examples written, [0-9]* dropped\)$/\1/p' \
    "$dir/daemon.log" > "$dir/queue.out"
echo "# $(cat "$dir/queue.out")"
grep -q ' written, 0 dropped$' "$dir/queue.out"
t_ok $? "no example dropped across the failover (a queue of 200000)"
if [ $failed -ne 0 ]; then
    echo "# daemon log (the end):"
    tail -n 60 "$dir/daemon.log" | sed 's/^/#   /'
fi
