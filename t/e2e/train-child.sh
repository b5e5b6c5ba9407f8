#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# train-child.sh - each training in a child process, and a served model
# no Redis fault takes away. Real redis-server, two real daemons,
# neural-milter-ctl, nm-replay as the MTA:
#   1. the training process: our binary, nice 19, SCHED_IDLE, the daemon's
#      uid, RLIMIT_AS = [train] memory_limit; SIGKILLed mid-training:
#      every message answered, the lock released, the next training
#      publishes
#   2. memory_limit too small: the training fails, is logged and retried
#      with a backoff; mail goes on
#   3. SIGTERM to the daemon mid-training: gone within 2 s, nothing
#      published
#   4. the live blob unreadable, and Redis hung during a training:
#      nothing published
#   5. Redis restarted empty under two daemons and 120 autolearned
#      messages: both keep serving the model, which Redis holds again
#   6. oversized values in Redis (a 64 MiB blob, a 6 KB frame of 200 MB,
#      a 512 MiB live pointer, a list of 10M records): refused with a log
#      line, the daemon's peak RSS under 64 MiB
# Skips (77) when a program is missing.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/e2e/lib_model.sh"

NM_REPLAY=$top_builddir/contrib/bench/nm-replay
NM_DAEMON=${NM_DAEMON:-$top_builddir/src/neural-milter}
REDIS_CLI=${REDIS_CLI:-redis-cli}
nm_need_cmd "${REDIS_SERVER:-redis-server}" "$REDIS_CLI" zstd
nm_need_exe "$NM_REPLAY" "$NM_DAEMON" "$NM_CTL"

dir=$(nm_tmpdir tchild)
ini=$dir/nm.ini
nm_milter_ini "$dir" "$dir/redis.sock" debug
cat >> "$ini" <<INI
[train]
check_interval = 300ms
min_class = 20
threshold = 2500
max_examples = 1500
lock_ttl = 3s
memory_limit = 512M
# long enough to be caught mid-training, bounded: these examples are
# separable, so early stopping (75 epochs of patience at this size)
# would not end a training before max_epochs (100 took over 60 s under
# ASan)
max_epochs = 40
[upstream]
require_queue_id = no
INI
# sanitizer builds: no address-space limit, and ASan's own memory
if ldd "$NM_DAEMON" 2>/dev/null | grep -q 'lib[at]san'; then
    sanitized=1
else
    sanitized=0
fi

echo "1..48"
cli() {
    "$REDIS_CLI" -s "$NM_REDIS_SOCK" "$@"
}
# answered NAME N - N lines, N messages, no errors
answered() {
    [ "$(wc -l < "$dir/$1.out")" -eq "$2" ] &&
        [ "$(nm_replay_stat "$1" messages)" = "$2" ] &&
        [ "$(nm_replay_stat "$1" errors)" = 0 ]
}
# all_scored NAME ID - every added header scored by model ID
all_scored() {
    awk -F'\t' -v id="$2" '$3 !~ "; p=[01][.][0-9][0-9][0-9]; model=" id ";" {
        bad++ } END { exit NR == 0 || bad }' "$dir/$1.out"
}
# start LOG [INI] - a daemon in the foreground; its pid in $dpid
start() {
    "$NM_DAEMON" -f -c "${2:-$ini}" 2> "$1" &
    dpid=$!
    nm_track $dpid
}
# live_id - the live model as DIGEST.VERSION
live_id() {
    d=$(cli GET nmtest:current)
    echo "$d.$(cli HGET "nmtest:model:$d" version)"
}
# child_of PID - the training process of daemon PID, if one runs
child_of() {
    for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do
        tr '\0' ' ' < "/proc/$c/cmdline" 2>/dev/null |
            grep -q -- '--train-child' && echo "$c"
    done
}
# gone PID - the process ended
gone() {
    ! kill -0 "$1" 2>/dev/null
}
# hwm PID - peak RSS in KiB
hwm() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"
}
# learn SEED - 1500 + 1500 new wide examples: a training becomes due.
# Sparse training takes a step per symbol that fired: 600 symbols each
# (of 1,800) make a training of a few seconds, long enough to act during
# it, and of more than 32 MiB even when it starts with 2,500 of the 3,000
# examples stored, while the live model (3,602 inputs) still decodes
# within 32 MiB.
learn() {
    nm_synth_wide "$dir/wide$1" 1500 600 "$1" 600 &&
        "$NM_CTL" -c "$ini" learn spam "$dir/wide$1/spam" > /dev/null &&
        "$NM_CTL" -c "$ini" learn ham "$dir/wide$1/ham" > /dev/null
}

nm_synth "$dir/msg" 40
nm_redis_start "$dir"
nm_model_build "$ini" "$dir/msg"
first=$(live_id)
start "$dir/a.log"
nm_wait_log "$dir/a.log" "watch: loaded model $first" 100
t_ok $? "daemon A serves the first model $first"

# 1. The training process, then SIGKILL mid-training.
mark=$(nm_log_lines "$dir/a.log")
learn 1
nm_wait_log_after "$dir/a.log" "$mark" 'trainer: training .* network of' 300
t_ok $? "3000 new examples: a training starts"
child=$(child_of $dpid)
[ -n "$child" ] && [ "$child" != "$dpid" ]
t_ok $? "it runs in a process of its own ($child), a child of the daemon"
stat=$(sed 's/.*) //' "/proc/$child/stat" | awk '{ print $17 "/" $39 }')
[ "$stat" = 19/5 ]
t_ok $? "the training process runs at nice 19 as SCHED_IDLE ($stat)"
[ "$(awk '/^Uid:/ { print $2 }' "/proc/$child/status")" = \
  "$(awk '/^Uid:/ { print $2 }' "/proc/$dpid/status")" ] &&
    grep -q '^NoNewPrivs:[[:space:]]*1' "/proc/$child/status"
t_ok $? "as the daemon's user, without new privileges"
as=$(awk '/^Max address space/ { print $4 }' "/proc/$child/limits")
if [ $sanitized = 1 ]; then
    echo "ok $((n = n + 1)) # SKIP sanitizer build: no address-space limit"
else
    [ "$as" = 536870912 ]
    t_ok $? "its address space is limited to memory_limit 512M ($as)"
fi
nm_replay during -j 4 -n 80 "$dir/msg" &
rp=$!
kill -KILL "$child"
wait $rp
answered during 80 && all_scored during "$first"
t_ok $? "SIGKILL mid-training: 80 messages answered, all scored by $first"
nm_wait_log_after "$dir/a.log" "$mark" \
    'the training process died of signal 9' 100 &&
    nm_wait_log_after "$dir/a.log" "$mark" \
        'training failed 1 time in a row; next attempt in' 10
t_ok $? "the daemon logs the death and a backoff"
nm_wait_log_after "$dir/a.log" "$mark" 'outcome=published' 600
t_ok $? "the next training publishes"
[ -z "$(cli GET nmtest:train:lock)" ]
t_ok $? "the lock is released"
second=$(live_id)
nm_wait_log "$dir/a.log" "watch: loaded model $second" 50
t_ok $? "the daemon serves the new model $second"

# 2. memory_limit too small: the training fails, mail goes on.
sed 's/^memory_limit = 512M$/memory_limit = 32M/' "$ini" > "$ini.new" &&
    mv "$ini.new" "$ini"
mark=$(nm_log_lines "$dir/a.log")
kill -USR1 $dpid
nm_wait_log_after "$dir/a.log" "$mark" 'main: reloaded' 50
learn 2
if [ $sanitized = 1 ]; then
    echo "ok $((n = n + 1)) # SKIP sanitizer build: no address-space limit"
    echo "ok $((n = n + 1)) # SKIP sanitizer build: no address-space limit"
    nm_wait_log_after "$dir/a.log" "$mark" 'outcome=' 600
else
    nm_wait_log_after "$dir/a.log" "$mark" \
        'training failed 1 time in a row; next attempt in' 600
    t_ok $? "memory_limit 32M: the training fails, logged with a backoff"
    grep 'outcome=failed' "$dir/a.log" | tail -n 1 |
        grep -q 'memory_limit 32 MiB\|within \[train\] memory_limit'
    t_ok $? "the log names the memory limit"
fi
# (in a sanitizer build the training succeeded: any model then)
want=$second
[ $sanitized = 1 ] && want='[0-9a-f]*[.][0-9]*'
nm_replay mem -n 80 "$dir/msg"
answered mem 80 && all_scored mem "$want"
t_ok $? "meanwhile 80 messages answered and scored by $want"
if [ $sanitized = 1 ]; then
    echo "ok $((n = n + 1)) # SKIP sanitizer build: the training ran unbounded"
    echo "ok $((n = n + 1)) # SKIP sanitizer build: the training ran unbounded"
    sed 's/^memory_limit = 32M$/memory_limit = 512M/' "$ini" > "$ini.new" &&
        mv "$ini.new" "$ini"
    kill -USR1 $dpid
else
    [ "$(live_id)" = "$second" ]
    t_ok $? "nothing published ($(live_id))"
    sed 's/^memory_limit = 32M$/memory_limit = 512M/' "$ini" > "$ini.new" &&
        mv "$ini.new" "$ini"
    mark=$(nm_log_lines "$dir/a.log")
    kill -USR1 $dpid
    nm_wait_log_after "$dir/a.log" "$mark" 'outcome=published' 600
    t_ok $? "memory_limit back to 512M: the retry publishes"
fi
third=$(live_id)
nm_wait_log "$dir/a.log" "watch: loaded model $third" 50

# 3. SIGTERM mid-training: the daemon is gone within 2 s.
mark=$(nm_log_lines "$dir/a.log")
learn 3
nm_wait_log_after "$dir/a.log" "$mark" 'trainer: training .* network of' 300
t_ok $? "another training starts"
child=$(child_of $dpid)
t0=$(date +%s%N)
kill -TERM $dpid
nm_wait_for "gone $dpid" 50
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
gone $dpid && [ $ms -lt 2000 ]
t_ok $? "SIGTERM mid-training: the daemon is gone in $ms ms (< 2000)"
wait $dpid
rc=$?
[ $rc -eq 0 ] && { [ -z "$child" ] || gone "$child"; }
t_ok $? "it exits 0 ($rc), the training process ($child) with it"
grep -q 'cancelling the training' "$dir/a.log" &&
    [ "$(live_id)" = "$third" ]
t_ok $? "the training was cancelled, nothing published ($(live_id))"

# 4. The live model unreadable: nothing is published. (The cancelled
# examples would be trained on at once: not now.)
cli SET nmtest:ex:new 0 > /dev/null
"$NM_CTL" -c "$ini" export "$dir/live.blob" 2> /dev/null
start "$dir/a2.log"
nm_wait_log "$dir/a2.log" "watch: loaded model $third" 100
t_ok $? "daemon A again, serving $third"
dg=${third%.*}
cli HSET "nmtest:model:$dg" blob garbage > /dev/null
bad=$dg.$(cli HINCRBY "nmtest:model:$dg" version 1)
nm_wait_log "$dir/a2.log" "model $bad in Redis rejected, keeping $third" 50
t_ok $? "a garbage blob as $bad is rejected, $third serves on"
learn 4
nm_wait_log "$dir/a2.log" 'the live model cannot be read.*outcome=redis' 300
t_ok $? "due, but the live model does not load: not trained"
[ "$(live_id)" = "$bad" ] && [ "$(cli HGET "nmtest:model:$dg" blob)" = garbage ]
t_ok $? "nothing published over the unreadable model"
cli -x HSET "nmtest:model:$dg" blob < "$dir/live.blob" > /dev/null
good=$dg.$(cli HINCRBY "nmtest:model:$dg" version 1)
mark=$(nm_log_lines "$dir/a2.log")
nm_wait_log "$dir/a2.log" "watch: loaded model $good" 100 &&
    nm_wait_log_after "$dir/a2.log" "$mark" 'trainer: training .* network of' 300
t_ok $? "the good blob back as $good: loaded, and a training starts"
hung_lock=$(cli GET nmtest:train:lock)
kill -STOP "$NM_REDIS_PID"
nm_replay hung -n 40 "$dir/msg"
nm_wait_log_after "$dir/a2.log" "$mark" 'outcome=' 600
rc=$?
kill -CONT "$NM_REDIS_PID"
[ $rc -eq 0 ] && answered hung 40 && all_scored hung "$good"
t_ok $? "Redis hung during the training: mail answered by $good, the training ended"
sed -n "$((mark + 1)),\$p" "$dir/a2.log" | grep 'outcome=' | head -n 1 |
    grep -vq 'outcome=published' && [ "$(live_id)" = "$good" ]
t_ok $? "nothing published ($(live_id))"
# The next training may take the lock at once (the examples are still
# new): what must be gone is the hung training's token.
[ -n "$hung_lock" ] &&
    nm_wait_for '[ "$(cli GET nmtest:train:lock)" != "$hung_lock" ]' 50
t_ok $? "the hung training's lock is gone again (released or expired)"
# The examples are still new: the next training publishes; then the
# trainers have nothing left to do.
nm_wait_log_after "$dir/a2.log" "$mark" 'outcome=published' 600
good=$(live_id)
nm_wait_log "$dir/a2.log" "watch: loaded model $good" 100
t_ok $? "then a training publishes $good, which A serves"

# 5. Redis restarted empty under two daemons and autolearn traffic.
mkdir -p "$dir/b"
sed "s|$dir/nm.sock|$dir/b/nm.sock|" "$ini" > "$dir/b/nm.ini"
apid=$dpid
start "$dir/b.log" "$dir/b/nm.ini"
bpid=$dpid
nm_wait_log "$dir/b.log" "watch: loaded model $good" 100
t_ok $? "daemon B serves $good too"
kill -KILL "$NM_REDIS_PID"
wait "$NM_REDIS_PID" 2>/dev/null
ma=$(nm_log_lines "$dir/a2.log")
mb=$(nm_log_lines "$dir/b.log")
nm_redis_start "$dir"
dpid=$apid nm_replay autoa -j 2 -n 60 "$dir/msg"
sock=$dir/b/nm.sock
"$NM_REPLAY" -s "unix:$sock" -j 2 -n 60 "$dir/msg" \
    > "$dir/autob.out" 2> "$dir/autob.err"
answered autoa 60 && answered autob 60 &&
    all_scored autoa "$good" && all_scored autob "$good"
t_ok $? "120 messages, 60 through each: answered and scored by $good"
nm_wait_for "[ \"\$(live_id)\" = $good ]" 200
t_ok $? "Redis holds $good again ($(live_id))"
grep -q "published the served model $good again" "$dir/a2.log" ||
    grep -q "published the served model $good again" "$dir/b.log"
t_ok $? "a daemon logs that it published the served model again"
# 120 stored; the messages repeat (60 of the 80 through each daemon), and
# a message is one example under its key, so the lists hold fewer
nm_wait_for "[ \"\$(cli GET nmtest:ex:new)\" = 120 ] &&
    [ \$(( \$(cli LLEN nmtest:ex:spam) + \$(cli LLEN nmtest:ex:ham) )) -le 80 ]" 100
t_ok $? "the 120 autolearned examples reached Redis, one per message ($(cli GET nmtest:ex:new) stored, $(( $(cli LLEN nmtest:ex:spam) + $(cli LLEN nmtest:ex:ham) )) kept)"
# each trainer checks again with the model back: not due (120 < 2500)
nm_wait_log_after "$dir/a2.log" "$ma" 'trainer: not due: .* 120 new' \
    100 && nm_wait_log_after "$dir/b.log" "$mb" \
    'trainer: not due: .* 120 new' 100
t_ok $? "both trainers find the model back and wait for new examples"
! sed -n "$((ma + 1)),\$p" "$dir/a2.log" | grep -q 'outcome=published' &&
    ! sed -n "$((mb + 1)),\$p" "$dir/b.log" | grep -q 'outcome=published'
t_ok $? "no trainer published a network trained on the autolearned examples"
dpid=$apid nm_replay probea -n 10 "$dir/msg"
"$NM_REPLAY" -s "unix:$sock" -n 10 "$dir/msg" > "$dir/probeb.out" \
    2> "$dir/probeb.err"
all_scored probea "$good" && all_scored probeb "$good"
t_ok $? "both daemons still serve $good"
"$NM_CTL" -c "$ini" status > "$dir/status.out" 2>&1
grep -q '^instances: 2$' "$dir/status.out" &&
    [ "$(grep -c "serves $good " "$dir/status.out")" -eq 2 ]
t_ok $? "ctl status lists both instances serving $good"
kill -TERM $bpid
wait $bpid
nm_wait_for "$NM_CTL -c $ini status 2>&1 | grep -q '^instances: 1\$'" 50
t_ok $? "B's orderly stop drops its heartbeat"
dpid=$apid

# 6. Oversized values: refused before they are read.
dg=${good%.*}
key=nmtest:model:$dg
"$NM_CTL" -c "$ini" export "$dir/live.blob" 2> /dev/null
mark=$(nm_log_lines "$dir/a2.log")
head -c 67108864 /dev/zero | cli -x HSET "$key" blob > /dev/null &&
    cli HINCRBY "$key" version 1 > /dev/null
nm_wait_log_after "$dir/a2.log" "$mark" \
    'blob of 67108864 bytes is over the limit' 100
t_ok $? "a 64 MiB blob is refused before it is read"
head -c 200000000 /dev/zero |
    zstd -q -19 --stream-size=200000000 -c > "$dir/bomb.zst"
cli -x HSET "$key" blob < "$dir/bomb.zst" > /dev/null
bomb=$dg.$(cli HINCRBY "$key" version 1)
nm_wait_log_after "$dir/a2.log" "$mark" \
    "model $bomb in Redis rejected, keeping $good: decompressed size 200000000 exceeds" 100
t_ok $? "a $(wc -c < "$dir/bomb.zst")-byte frame of 200 MB is refused"
# SETRANGE makes the 512 MiB string at once (string.rep in Redis's Lua
# would block it for many seconds)
cli SETRANGE nmtest:current 536870911 c > /dev/null
nm_wait_log_after "$dir/a2.log" "$mark" 'not a digest' 100
t_ok $? "a 512 MiB live pointer is refused (GETRANGE reads 64 bytes)"
cli SET nmtest:current "$dg" > /dev/null
cli -x HSET "$key" blob < "$dir/live.blob" > /dev/null
good=$dg.$(cli HINCRBY "$key" version 1)
nm_wait_log "$dir/a2.log" "watch: loaded model $good" 100
t_ok $? "the good blob as $good loads again"
mark=$(nm_log_lines "$dir/a2.log")
cli DEL nmtest:ex:spam > /dev/null
cli EVAL "local t = {} for i = 1, 1000 do t[i] = 'x' end
    for i = 1, 10000 do redis.call('RPUSH', KEYS[1], unpack(t)) end
    redis.call('LPUSH', KEYS[1], string.rep('y', 262145))
    return redis.call('LLEN', KEYS[1])" 1 nmtest:ex:spam > "$dir/llen.out"
cli SET nmtest:ex:new 5000 > /dev/null
nm_wait_log_after "$dir/a2.log" "$mark" 'outcome=' 600
line=$(sed -n "$((mark + 1)),\$p" "$dir/a2.log" | grep 'outcome=' | head -n 1)
echo "# $line"
peak=$(echo "$line" | sed -n 's/.*peak \([0-9]*\) MiB.*/\1/p')
[ "$(cat "$dir/llen.out")" = 10000001 ] &&
    echo "$line" | grep -q 'outcome=no-data' && [ -n "$peak" ] &&
    [ "$peak" -lt 512 ]
t_ok $? "a spam list of 10M records: read 1500 at most, refused, peak $peak MiB < 512"
grep -q 'stored spam records over 262144 bytes skipped' "$dir/a2.log" &&
    grep -q 'stored examples did not decode' "$dir/a2.log"
t_ok $? "the refused and the undecodable records are logged"
nm_replay after -n 80 "$dir/msg"
answered after 80 && all_scored after "$good"
t_ok $? "after all that: 80 messages answered and scored by $good"
h=$(hwm $dpid)
if [ $sanitized = 1 ]; then
    echo "ok $((n = n + 1)) # SKIP sanitizer build: peak RSS ${h} KiB is ASan's"
else
    [ "$h" -lt 65536 ]
    t_ok $? "the daemon's peak RSS is $h KiB < 64 MiB"
fi
kill -TERM $dpid
wait $dpid
t_ok $? "daemon A exits 0"
exit $failed
