#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# redis-failure.sh - the daemon when Redis fails: down at start (every
# message still answered, p=none, the model arrives once Redis is up),
# killed or hung while running (scoring goes on with the model in memory,
# well within Postfix's milter_command_timeout), and a corrupt or
# truncated blob published under a new version (rejected and logged, the
# old model keeps scoring). A real redis-server on a unix socket, the real
# daemon, nm-replay as the MTA. Skips (77) when a program is missing.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/e2e/lib_model.sh"

NM_REPLAY=$top_builddir/contrib/bench/nm-replay
NM_DAEMON=${NM_DAEMON:-$top_builddir/src/neural-milter}
REDIS_CLI=${REDIS_CLI:-redis-cli}
nm_need_cmd "${REDIS_SERVER:-redis-server}" "$REDIS_CLI"
nm_need_exe "$NM_REPLAY" "$NM_DAEMON" "$NM_CTL"

dir=$(nm_tmpdir rfail)
ini=$dir/nm.ini
nm_milter_ini "$dir" "$dir/redis.sock" info
printf '[train]\nenabled = no\nmin_class = 10\n' >> "$ini"
# the synthetic messages carry no X-Rspamd-Queue-Id: learn from them anyway
printf '[upstream]\nrequire_queue_id = no\n' >> "$ini"

echo "1..24"
# answered NAME N - N lines, N messages, no errors
answered() {
    [ "$(wc -l < "$dir/$1.out")" -eq "$2" ] &&
        [ "$(nm_replay_stat "$1" messages)" = "$2" ] &&
        [ "$(nm_replay_stat "$1" errors)" = 0 ]
}
# all_match NAME ERE - every added header (3rd field) matches ERE
all_match() {
    awk -F'\t' -v re="$2" '$3 !~ re { bad++ } END { exit NR == 0 || bad }' \
        "$dir/$1.out"
}
# show NAME - the replay's output as TAP comments (after a failure)
show() {
    sed 's/^/#   /' "$dir/$1.out" "$dir/$1.err" | head -n 20
}
# rejected - how many blobs the daemon rejected so far
rejected() {
    grep -c 'watch: model .* rejected' "$dir/daemon.log"
}
cli() {
    "$REDIS_CLI" -s "$NM_REDIS_SOCK" "$@"
}
# hgets - the HGET calls Redis has served: the watcher's head check does
# one each poll (GET current, HGET its version); no other client here
# sends HGET once the model is in place
hgets() {
    cli info commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_hget:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0
}
# redis_conns - the sockets bound to Redis's path (Linux /proc/net/unix):
# its listener, the connections it accepted and those queued for accept.
# While Redis is stopped the count grows by one for each connection the
# daemon opens, and it opens one only after a command failed (timed out)
redis_conns() {
    grep -c " $NM_REDIS_SOCK\$" /proc/net/unix
}

# A model: 40 + 40 synthetic messages, learnt and trained, exported.
nm_synth "$dir/msg" 40
nm_redis_start "$dir"
nm_model_build "$ini" "$dir/msg" &&
    "$NM_CTL" -c "$ini" export "$dir/model.blob" 2> "$dir/export.err"
rc=$?
id=$(sed -n 's/^exported model \([0-9a-f]*\.[0-9]*\) .*/\1/p' \
    "$dir/export.err")
digest=${id%.*}
[ $rc -eq 0 ] && [ -s "$dir/model.blob" ] && [ ${#digest} -eq 8 ]
t_ok $? "a model trained on synthetic messages and exported ($id)"
nm_redis_stop

# 1. Redis down at start.
"$NM_DAEMON" -f -c "$ini" 2> "$dir/daemon.log" &
dpid=$!
nm_track $dpid
nm_wait_for "test -S $dir/nm.sock" 100 || echo "# the milter did not start"
nm_replay down "$dir/msg"
answered down 80
t_ok $? "redis down at start: all 80 messages answered, no errors" ||
    show down
all_match down '; p=none; model=none; upstream=rspamd;'
t_ok $? "redis down at start: every header says p=none; model=none" ||
    show down

nm_redis_start "$dir"
"$NM_CTL" -c "$ini" import "$dir/model.blob" > "$dir/import1.out"
grep -q "^published model $digest\.1\$" "$dir/import1.out"
t_ok $? "redis up, model imported as $digest.1"
probe="$dir/msg/spam/spam-001.eml"
# The watcher backs off while Redis is down (100 ms doubling, 5 s at
# most), then polls every 200 ms: after a short outage, 8 s is plenty.
nm_wait_for "nm_replay probe $probe && all_match probe \
    '; p=[01][.][0-9][0-9][0-9]; model=$digest[.]1;'" 80
t_ok $? "within 8 s the daemon scores with model=$digest.1 and p=<number>" ||
    show probe

# 2. Redis killed while running: the model in memory keeps scoring.
kill -KILL "$NM_REDIS_PID"
wait "$NM_REDIS_PID" 2>/dev/null
NM_REDIS_PID=
nm_replay killed -j 5 -n 50 "$dir/msg"
answered killed 50
t_ok $? "redis killed: 50 messages answered, nm-replay errors 0" ||
    show killed
all_match killed \
    "; p=[01][.][0-9][0-9][0-9]; model=$digest[.]1; upstream=rspamd;"
t_ok $? "redis killed: every message still scored by $digest.1" ||
    show killed
max=$(nm_replay_stat killed max_ms)
awk -v m="$max" 'BEGIN { exit !(m >= 0 && m < 2000) }'
t_ok $? "redis killed: slowest message ${max} ms < 2000 ms"

# Redis back, but empty (it keeps nothing on disk here): unlike after an
# admin's reset (no version counter is left either), the daemon keeps
# scoring with the model in memory and publishes it again, under the
# version it serves, so that no trainer takes an empty Redis for a site
# without a model.
nm_redis_start "$dir"
nm_wait_for "grep -q 'watch: Redis held no model; published the served \
model $digest[.]1 again' $dir/daemon.log" 100
t_ok $? "redis back but empty: the daemon publishes $digest.1 again"
[ "$(cli GET nmtest:current)" = "$digest" ] &&
    [ "$(cli HGET "nmtest:model:$digest" version)" = 1 ]
t_ok $? "Redis holds $digest as version 1 again"
nm_replay probe $probe && all_match probe \
    "; p=[01][.][0-9][0-9][0-9]; model=$digest[.]1; upstream=rspamd;"
t_ok $? "redis back but empty: the model in memory still scores" ||
    show probe

# Redis hung (SIGSTOP): connections are accepted but never answered, so
# only the deadlines stand between a message and milter_command_timeout.
# First wait until the daemon's watcher and example writer are connected
# (3 clients with redis-cli), so the stop hits connections in use, then
# keep Redis stopped across several [redis] timeouts (500 ms): the
# watcher's GET every 200 ms must time out. (Its "timed out" line is not
# asserted: store failures are logged once a minute, and the outage above
# may have used that minute.) Between two rounds the test waits for the
# daemon's next connection to the stopped Redis: each one follows a
# timeout, so every round meets the daemon in a later failure.
nm_wait_for "[ \$(cli info clients | tr -d '\r' |
    sed -n 's/^connected_clients://p') -ge 3 ]" 150
t_ok $? "the daemon is connected to the new redis (watcher and writer)"
kill -STOP "$NM_REDIS_PID"
conns=$(redis_conns)
hung_max=0 rounds=0
for i in 1 2 3 4; do
    nm_replay hung$i -j 5 -n 50 "$dir/msg"
    answered hung$i 50 &&
        all_match hung$i "; p=[01][.][0-9][0-9][0-9]; model=$digest[.]1;" ||
        break
    rounds=$i
    hung_max=$(awk -v a="$hung_max" -v b="$(nm_replay_stat hung$i max_ms)" \
        'BEGIN { print (b > a ? b : a) }')
    [ $i -lt 4 ] || break
    nm_wait_for "[ \$(redis_conns) -ge $((conns + i)) ]" 100 ||
        echo "# no reconnect $i to the stopped redis within 10 s"
done
reconnects=$(($(redis_conns) - conns))
[ $rounds -eq 4 ] && [ $reconnects -ge 3 ] &&
    awk -v m="$hung_max" 'BEGIN { exit !(m >= 0 && m < 2000) }'
t_ok $? "redis hung ($reconnects timed-out reconnects): 4 x 50 answered and \
scored, slowest $hung_max ms" || show hung$i
kill -CONT "$NM_REDIS_PID"

# 3. A corrupt blob under a new version is rejected; the old model stays.
# Import once more: version 2. The watcher may be backing off after the
# hang (up to 5 s): wait 10 s.
"$NM_CTL" -c "$ini" import "$dir/model.blob" > "$dir/import2.out"
grep -q "^published model $digest\.2\$" "$dir/import2.out" &&
    nm_wait_for "nm_replay probe $probe && all_match probe \
        '; model=$digest[.]2;'" 100
t_ok $? "after the hang, model imported again: daemon scores with $digest.2"

key="nmtest:model:$digest"
cli HSET "$key" blob garbage > /dev/null &&
    [ "$(cli HINCRBY "$key" version 1)" = 3 ]
t_ok $? "blob overwritten with garbage as version 3"
nm_wait_for "[ \$(rejected) -ge 1 ]" 50 &&
    grep -q "model $digest[.]3 in Redis rejected, keeping $digest[.]2" \
        "$dir/daemon.log"
t_ok $? "the daemon logs that $digest.3 was rejected, keeping $digest.2"
nm_replay garbage "$dir/msg"
answered garbage 80 &&
    all_match garbage "; p=[01][.][0-9][0-9][0-9]; model=$digest[.]2;"
t_ok $? "after the garbage blob: 80 answered, all scored by $digest.2" ||
    show garbage

size=$(wc -c < "$dir/model.blob")
head -c $((size / 2)) "$dir/model.blob" | cli -x HSET "$key" blob >/dev/null &&
    [ "$(cli HINCRBY "$key" version 1)" = 4 ]
t_ok $? "blob replaced by its first $((size / 2)) of $size bytes as version 4"
nm_wait_for "[ \$(rejected) -ge 2 ]" 50 &&
    grep -q "model $digest[.]4 in Redis rejected, keeping $digest[.]2" \
        "$dir/daemon.log"
t_ok $? "the daemon logs that the truncated $digest.4 was rejected"
nm_replay truncated "$dir/msg"
answered truncated 80 &&
    all_match truncated "; p=[01][.][0-9][0-9][0-9]; model=$digest[.]2;"
t_ok $? "after the truncated blob: 80 answered, all scored by $digest.2" ||
    show truncated

# The bad version is fetched once, not every interval: five more polls
# of the watcher (Redis counts their HGETs) fetch nothing.
polls=$(hgets)
nm_wait_for "[ \$(hgets) -ge $((polls + 5)) ]" 50 ||
    echo "# the watcher did not poll 5 times within 5 s"
[ "$(rejected)" -eq 2 ]
t_ok $? "each bad version is rejected once ($(rejected) lines)"

# The good blob again (through redis-cli -x: binary-safe) loads.
cli -x HSET "$key" blob < "$dir/model.blob" > /dev/null &&
    [ "$(cli HINCRBY "$key" version 1)" = 5 ] &&
    nm_wait_for "nm_replay probe $probe && all_match probe \
        '; p=[01][.][0-9][0-9][0-9]; model=$digest[.]5;'" 100
t_ok $? "the good blob as version 5 is loaded again"

# Never crashed, exits cleanly (under ASan: no leak or error report).
kill -0 $dpid 2>/dev/null
t_ok $? "the daemon is still running"
kill -TERM $dpid
wait $dpid
rc=$?
[ $rc -eq 0 ] &&
    ! grep -q 'Sanitizer\|runtime error:' "$dir/daemon.log"
t_ok $? "the daemon exits 0 on SIGTERM with no sanitizer report (rc $rc)"
if [ $failed -ne 0 ]; then
    echo "# daemon log (the end):"
    tail -n 60 "$dir/daemon.log" | sed 's/^/#   /'
fi
