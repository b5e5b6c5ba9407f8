#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# daemon.sh - the daemon's conventions: -t and -V, detaching with a pid
# file, a stale socket removed at start, the privilege drop when started
# as root, SIGUSR1 reload (and the keys it cannot apply logged), SIGTERM
# stopping it and removing the pid file.
. "$top_srcdir/t/lib.sh"

daemon="$top_builddir/src/neural-milter"
replay="$top_builddir/contrib/bench/nm-replay"
sample="$top_srcdir/contrib/samples/rspamd-spam.eml"
# The daemon drops to nobody and reads its ini again on SIGUSR1: its dir
# must be reachable by nobody wherever the checkout is (a clone in /root
# or in a mktemp -d dir is mode 700), so it lives in /tmp.
dir=$(mktemp -d /tmp/nm-daemon.XXXXXX) || exit 1
nm_track_dir "$dir"
chmod 755 "$dir"

echo "1..15"
"$daemon" -V | grep -q '^neural-milter [0-9]'
t_ok $? "-V prints the version"

printf '[milter]\nsocket = unix:%s/nm.sock\npidfile =\n' "$dir" > "$dir/good.ini"
"$daemon" -t -c "$dir/good.ini" > "$dir/t.out" 2>&1
t_ok $? "-t on a good file exits 0"
printf '[milter]\nsokcet = x\n[nosuch]\n' > "$dir/bad.ini"
"$daemon" -t -c "$dir/bad.ini" > "$dir/t.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "bad.ini:2: .*sokcet" "$dir/t.out" &&
    grep -q "bad.ini:3: .*nosuch" "$dir/t.out"
t_ok $? "-t on a bad file exits 1 and names file and line of each problem"
sed 's/^/# /' "$dir/t.out"
"$daemon" -t -c "$dir/missing.ini" > "$dir/t.out" 2>&1
[ $? = 1 ] && grep -q "missing.ini:0: " "$dir/t.out"
t_ok $? "-t on a missing file exits 1 and says so"
printf '[redis]\nservers = ./redis.sock\n' > "$dir/relative.ini"
"$daemon" -t -c "$dir/relative.ini" > "$dir/t.out" 2>&1
[ $? = 1 ] && grep -q "relative.ini: \[redis\]: .*./redis.sock" "$dir/t.out"
t_ok $? "-t refuses a relative Redis socket path as the daemon would"

# A stale socket, as a crash leaves it, is removed at start.
"$daemon" -f -c "$dir/good.ini" 2> /dev/null &
crashed=$!
nm_wait_for "test -S $dir/nm.sock" 100
kill -KILL "$crashed"
wait "$crashed" 2> /dev/null
user=
[ "$(id -u)" = 0 ] && id nobody > /dev/null 2>&1 && user=nobody
cat > "$dir/nm.ini" <<INI
[milter]
socket = unix:$dir/nm.sock
pidfile = $dir/run/nm.pid
user = $user
log_level = debug
[redis]
servers = $dir/no-redis.sock
INI
"$daemon" -c "$dir/nm.ini"
t_ok $? "starts and detaches (exit 0)"
nm_wait_for "test -s $dir/run/nm.pid && test -S $dir/nm.sock" 100
pid=$(cat "$dir/run/nm.pid" 2>/dev/null)
[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
t_ok $? "writes a pid file naming a live process ($pid)"
[ -n "$pid" ] && nm_track "$pid"
[ -S "$dir/nm.sock" ]
t_ok $? "the stale socket file was replaced by a live socket"
if [ -n "$user" ]; then
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    [ "$uid" = "$(id -u nobody)" ]
    t_ok $? "started as root, runs as $user (uid $uid)"
else
    echo "ok $((n = n + 1)) # SKIP not root or no user nobody"
fi
"$replay" -s "unix:$dir/nm.sock" "$sample" 2> /dev/null |
    grep -q 'upstream=rspamd; score=9.00;'
t_ok $? "answers: header with upstream=rspamd score=9.00"

# Training runs in a process of its own (t/e2e/train-child.sh checks it
# at nice 19 as SCHED_IDLE): every thread of the daemon, the trainer
# thread included, stays at the nice it was started with (this shell's:
# 0, or 10 under `nice sh t/run-all.sh`) under SCHED_OTHER (field 19 of
# stat is nice, 41 the policy).
own=$(sed 's/.*) //' /proc/$$/stat | awk '{ print $17 }')
sched=
for t in /proc/"$pid"/task/*; do
    [ "$(cat "$t/comm" 2>/dev/null)" = nm-trainer ] || continue
    sched=$(sed 's/.*) //' "$t/stat" | awk '{ print $17 "/" $39 }')
done
main=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $17 "/" $39 }')
[ "$sched" = "$own/0" ] && [ "$main" = "$own/0" ]
t_ok $? "the trainer thread ($sched) and the main thread ($main) run at \
$own/SCHED_OTHER"

# SIGUSR1: the header name reloads; a socket change is logged.
sed -i "s|^log_level = debug|log_level = debug\n[header]\nname = X-Reloaded|" \
    "$dir/nm.ini"
sed -i "s|^socket = .*|socket = unix:$dir/other.sock|" "$dir/nm.ini"
kill -USR1 "$pid"
nm_wait_for "\"$replay\" -s unix:$dir/nm.sock -H X-Reloaded $sample 2>/dev/null |
    grep -q 'upstream=rspamd'" 50
t_ok $? "SIGUSR1: the new header name is used"
kill -0 "$pid" 2> /dev/null && [ -S "$dir/nm.sock" ] && [ ! -e "$dir/other.sock" ]
t_ok $? "SIGUSR1: still serving on the old socket (a socket change needs a restart)"
printf '[milter]\nsokcet = x\n' > "$dir/broken.ini"
cp "$dir/nm.ini" "$dir/nm.ini.good"
cp "$dir/broken.ini" "$dir/nm.ini"
kill -USR1 "$pid"
# Detached, the daemon logs to syslog only, so its "reload of ... failed"
# line is out of reach: wait until its signal thread took the signal and
# sits in sigwait again, i.e. the reload attempt is over.
nm_wait_sig "$pid" USR1 nm-signal 50 ||
    echo "# the daemon did not finish handling SIGUSR1"
"$replay" -s "unix:$dir/nm.sock" -H X-Reloaded "$sample" 2> /dev/null |
    grep -q 'upstream=rspamd'
t_ok $? "SIGUSR1 with a broken file keeps the running configuration"

kill -TERM "$pid"
nm_wait_for "! kill -0 $pid" 100
! kill -0 "$pid" 2> /dev/null && [ ! -e "$dir/run/nm.pid" ]
t_ok $? "SIGTERM stops it and the pid file is removed"
