# SPDX-License-Identifier: BSD-2-Clause
#
# t/lib.sh - helpers for the shell tests (POSIX sh), sourced by them:
#   . "$top_srcdir/t/lib.sh"
# Make sets top_srcdir, top_builddir and REDIS_SERVER; both dirs default
# to "." when a test is run by hand from the build directory.
#
#   nm_tmpdir NAME      make and print $top_builddir/t/tmp/NAME.$$
#   nm_redis_start DIR  start a private redis-server on DIR/redis.sock
#                       (no TCP); sets NM_REDIS_SOCK and NM_REDIS_PID;
#                       prints "1..0 # SKIP ..." and exits 0 when
#                       redis-server or redis-cli is missing
#   nm_redis_stop       stop it
#   nm_free_port I      print a loopback TCP port nothing uses now, drawn
#                       from the pid and I (so tests running at once, and
#                       the ports of one test, differ)
#   nm_redis_tcp DIR PORT [ARG...]
#                       a private redis-server on 127.0.0.1:PORT, its files
#                       in DIR (made), ARGs added (--replicaof 127.0.0.1 P);
#                       waits up to 5 s for PONG; its pid in NM_LAST_PID,
#                       tracked for nm_cleanup
#   nm_sentinel DIR PORT MASTER MPORT
#                       a redis-server --sentinel on 127.0.0.1:PORT, its
#                       config and log in DIR (made), monitoring
#                       127.0.0.1:MPORT as MASTER: quorum 2, down after 1 s;
#                       waits for PONG; its pid in NM_LAST_PID, tracked
#   nm_track PID        have nm_cleanup kill PID too
#   nm_track_dir DIR    have nm_cleanup remove DIR too (outside t/tmp)
#   nm_wait_for CMD N   run CMD every 0.1 s until it succeeds, at most N
#                       times; returns its last status
#   nm_log_lines FILE   how many lines FILE has now (0 when missing): the
#                       AFTER of the waits below, taken before the cause
#   nm_wait_log FILE PATTERN [TENTHS]
#                       wait until a line of FILE matches PATTERN (grep's
#                       basic regular expression), at most TENTHS x 0.1 s
#                       (100); 0 when it did, 1 when the time ran out
#   nm_wait_log_count FILE PATTERN N [TENTHS]
#                       the same until N lines match
#   nm_wait_log_after FILE AFTER PATTERN [TENTHS]
#                       the same for a matching line after the first AFTER
#                       lines: the next occurrence, not an old one
#   nm_wait_sig PID SIG THREAD [TENTHS]
#                       wait until process PID took the signal SIG (a name:
#                       USR1) sent to it and its thread THREAD (a comm, as
#                       pthread_setname_np set it) waits in sigwait again:
#                       the handling is over (Linux /proc; for a daemon
#                       whose log goes to syslog)
#   nm_cleanup          kill what was started, remove the tmp dirs (runs
#                       at exit; NM_KEEP_TMP=1 keeps the dirs)
#   nm_need_cmd CMD...  "1..0 # SKIP CMD missing" and exit 77 unless every
#                       CMD is on PATH (or an executable path)
#   nm_need_exe FILE... the same unless every FILE is built
#   t_ok STATUS DESC    one numbered TAP line ($n counts, $failed becomes 1
#                       on a failure); returns STATUS
#   nm_rstat FILE KEY   a figure of the stats line nm-replay wrote to FILE
#                       (-1 when absent)
#   nm_milter_ini DIR REDIS LEVEL
#                       write DIR/nm.ini: the daemon on DIR/nm.sock in the
#                       foreground, log_level LEVEL, Redis at REDIS (prefix
#                       nmtest, polled every 200 ms); append more sections
#   nm_replay NAME ARGS...
#                       nm-replay ($NM_REPLAY) into $dir/nm.sock of the
#                       calling test, timeout NM_REPLAY_TIMEOUT ms (5000);
#                       its output in $dir/NAME.out, its stats in NAME.err
#   nm_replay_stat NAME KEY
#                       a figure of that run's stats line

: "${top_srcdir:=.}"
: "${top_builddir:=.}"
NM_REDIS_PID=
NM_REDIS_SOCK=
NM_PIDS=
NM_DIRS=

# nm_tmpdir NAME - usually called as d=$(nm_tmpdir NAME), in a subshell;
# so the dirs are found again by name: $$ is the same in subshells.
nm_tmpdir() {
    _nm_d="$top_builddir/t/tmp/$1.$$"
    mkdir -p "$_nm_d" || exit 1
    echo "$_nm_d"
}

# nm_track PID - kill PID at exit
nm_track() {
    NM_PIDS="$NM_PIDS $1"
}

# nm_track_dir DIR - remove DIR at exit
nm_track_dir() {
    NM_DIRS="$NM_DIRS $1"
}

# nm_wait_for CMD N - poll CMD (a string for eval) up to N times
nm_wait_for() {
    _nm_w=0
    while ! eval "$1" >/dev/null 2>&1; do
        _nm_w=$((_nm_w + 1))
        [ "$_nm_w" -ge "$2" ] && return 1
        nm_sleep_tenth
    done
    return 0
}

# nm_log_lines FILE - the line count of FILE, 0 when it does not exist
nm_log_lines() {
    if [ -f "$1" ]; then
        wc -l < "$1" | tr -d ' '
    else
        echo 0
    fi
}

# nm_log_count FILE AFTER PATTERN - lines after the first AFTER that match
nm_log_count() {
    [ -f "$1" ] || { echo 0; return; }
    tail -n +"$(($2 + 1))" "$1" | grep -c -e "$3"
}

# nm_wait_log FILE PATTERN [TENTHS] - a line of FILE matches PATTERN
nm_wait_log() {
    nm_wait_log_count "$1" "$2" 1 "${3:-100}"
}

# nm_wait_log_count FILE PATTERN N [TENTHS] - N lines match
nm_wait_log_count() {
    _nm_w=0
    while [ "$(nm_log_count "$1" 0 "$2")" -lt "$3" ]; do
        _nm_w=$((_nm_w + 1))
        [ "$_nm_w" -ge "${4:-100}" ] && return 1
        nm_sleep_tenth
    done
    return 0
}

# nm_wait_log_after FILE AFTER PATTERN [TENTHS] - one more line matches
nm_wait_log_after() {
    _nm_w=0
    while [ "$(nm_log_count "$1" "$2" "$3")" -lt 1 ]; do
        _nm_w=$((_nm_w + 1))
        [ "$_nm_w" -ge "${4:-100}" ] && return 1
        nm_sleep_tenth
    done
    return 0
}

# nm_sig_pending PID NUM - tell whether signal NUM waits in PID's shared
# pending set (ShdPnd: a kill(2) to the process lands there until a
# thread takes it)
nm_sig_pending() {
    _nm_m=$(sed -n 's/^ShdPnd:[[:space:]]*//p' "/proc/$1/status" \
        2>/dev/null) || return 1
    [ -n "$_nm_m" ] || return 1
    # the mask is 16 hex digits; bit NUM-1 is signal NUM
    _nm_h=$(printf '%s' "$_nm_m" | cut -c$((16 - ($2 - 1) / 4)))
    [ $((0x$_nm_h >> (($2 - 1) % 4) & 1)) -eq 1 ]
}

# nm_in_sigwait PID THREAD - tell whether PID's thread THREAD sleeps in
# sigwait (its wchan is the kernel's do_sigtimedwait)
nm_in_sigwait() {
    for _nm_t in /proc/"$1"/task/*; do
        [ "$(cat "$_nm_t/comm" 2>/dev/null)" = "$2" ] || continue
        case $(cat "$_nm_t/wchan" 2>/dev/null) in
        *sigtimedwait*) return 0 ;;
        esac
    done
    return 1
}

# nm_wait_sig PID SIG THREAD [TENTHS] - PID handled the signal SIG: it is
# no longer pending and THREAD waits for the next one. Read in that order:
# taken before the first look, waiting again at the second, so handled.
nm_wait_sig() {
    _nm_n=1
    while [ $_nm_n -lt 65 ] && [ "$(kill -l $_nm_n 2>/dev/null)" != "$2" ]
    do
        _nm_n=$((_nm_n + 1))
    done
    [ $_nm_n -lt 65 ] || return 1
    nm_wait_for "kill -0 $1 && ! nm_sig_pending $1 $_nm_n &&
        nm_in_sigwait $1 '$3'" "${4:-100}"
}

# nm_sleep_tenth - sleep 0.1 s where sleep takes fractions, else 1 s
nm_sleep_tenth() {
    sleep 0.1 2>/dev/null || sleep 1
}

# nm_redis_start DIR - a private redis-server; waits up to 5 s for PONG
nm_redis_start() {
    _nm_srv=${REDIS_SERVER:-redis-server}
    _nm_cli=${REDIS_CLI:-redis-cli}
    if ! command -v "$_nm_srv" >/dev/null 2>&1; then
        echo "1..0 # SKIP redis-server missing"
        exit 0
    fi
    if ! command -v "$_nm_cli" >/dev/null 2>&1; then
        echo "1..0 # SKIP redis-cli missing"
        exit 0
    fi
    NM_REDIS_SOCK=$1/redis.sock
    if [ ${#NM_REDIS_SOCK} -gt 100 ]; then
        echo "Bail out! socket path too long for AF_UNIX: $NM_REDIS_SOCK"
        exit 1
    fi
    "$_nm_srv" --port 0 --unixsocket "$NM_REDIS_SOCK" --unixsocketperm 700 \
        --dir "$1" --save '' --appendonly no --daemonize no \
        >"$1/redis.log" 2>&1 &
    NM_REDIS_PID=$!
    _nm_i=0
    while [ "$("$_nm_cli" -s "$NM_REDIS_SOCK" ping 2>/dev/null)" != PONG ]
    do
        _nm_i=$((_nm_i + 1))
        if [ $_nm_i -ge 50 ] || ! kill -0 "$NM_REDIS_PID" 2>/dev/null; then
            echo "Bail out! redis-server did not start, see $1/redis.log"
            exit 1
        fi
        nm_sleep_tenth
    done
}

# nm_redis_stop - stop the redis-server of nm_redis_start
nm_redis_stop() {
    if [ -n "$NM_REDIS_PID" ]; then
        kill "$NM_REDIS_PID" 2>/dev/null
        wait "$NM_REDIS_PID" 2>/dev/null
        NM_REDIS_PID=
    fi
}

# nm_free_port I - a port no socket of /proc/net/tcp{,6} has now
nm_free_port() {
    _nm_k=0
    while :; do
        _nm_p=$(awk -v s="$$" -v i="$1" -v k="$_nm_k" 'BEGIN {
            srand(s * 1000 + i * 37 + k); print 20000 + int(rand() * 40000)
        }')
        _nm_h=$(printf '%04X' "$_nm_p")
        if ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
            awk '{ print $2; print $3 }' | grep -qi ":$_nm_h\$"; then
            echo "$_nm_p"
            return 0
        fi
        _nm_k=$((_nm_k + 1))
    done
}

# nm_wait_pong PORT PID LOG - PONG from 127.0.0.1:PORT within 5 s, while
# PID lives; else Bail out
nm_wait_pong() {
    _nm_i=0
    while [ "$("${REDIS_CLI:-redis-cli}" -h 127.0.0.1 -p "$1" ping \
        2>/dev/null)" != PONG ]; do
        _nm_i=$((_nm_i + 1))
        if [ $_nm_i -ge 50 ] || ! kill -0 "$2" 2>/dev/null; then
            echo "Bail out! redis-server on port $1 did not start, see $3"
            exit 1
        fi
        nm_sleep_tenth
    done
}

# nm_redis_tcp DIR PORT [ARG...] - a redis-server on a loopback port
nm_redis_tcp() {
    _nm_dir=$1 _nm_port=$2
    shift 2
    mkdir -p "$_nm_dir" || exit 1
    "${REDIS_SERVER:-redis-server}" --port "$_nm_port" --bind 127.0.0.1 \
        --dir "$_nm_dir" --save '' --appendonly no --daemonize no "$@" \
        >>"$_nm_dir/redis.log" 2>&1 &
    NM_LAST_PID=$!
    nm_track $NM_LAST_PID
    nm_wait_pong "$_nm_port" $NM_LAST_PID "$_nm_dir/redis.log"
}

# nm_sentinel DIR PORT MASTER MPORT - a sentinel on a loopback port
nm_sentinel() {
    mkdir -p "$1" || exit 1
    cat > "$1/sentinel.conf" <<CONF
port $2
bind 127.0.0.1
daemonize no
dir $1
sentinel monitor $3 127.0.0.1 $4 2
sentinel down-after-milliseconds $3 1000
sentinel failover-timeout $3 10000
sentinel parallel-syncs $3 1
CONF
    "${REDIS_SERVER:-redis-server}" "$1/sentinel.conf" --sentinel \
        >>"$1/sentinel.log" 2>&1 &
    NM_LAST_PID=$!
    nm_track $NM_LAST_PID
    nm_wait_pong "$2" $NM_LAST_PID "$1/sentinel.log"
}

# nm_cleanup - the exit trap
nm_cleanup() {
    command -v nm_postfix_stop >/dev/null 2>&1 && nm_postfix_stop
    nm_redis_stop
    for _nm_p in $NM_PIDS; do
        kill "$_nm_p" 2>/dev/null
        wait "$_nm_p" 2>/dev/null
    done
    NM_PIDS=
    if [ -z "$NM_KEEP_TMP" ]; then
        for _nm_d in "$top_builddir"/t/tmp/*."$$" $NM_DIRS; do
            [ -d "$_nm_d" ] && rm -rf "$_nm_d"
        done
    fi
}

trap nm_cleanup EXIT
trap 'exit 1' HUP INT TERM

nm_need_cmd() {
    for _nm_c in "$@"; do
        if ! command -v "$_nm_c" >/dev/null 2>&1; then
            echo "1..0 # SKIP $_nm_c missing"
            exit 77
        fi
    done
}

nm_need_exe() {
    for _nm_c in "$@"; do
        if [ ! -x "$_nm_c" ]; then
            echo "1..0 # SKIP $_nm_c not built"
            exit 77
        fi
    done
}

n=0
failed=0
t_ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then
        echo "ok $n - $2"
    else
        echo "not ok $n - $2"
        failed=1
    fi
    return "$1"
}

nm_rstat() {
    awk -v k="$2" '$1 == "messages" {
        for (i = 1; i < NF; i += 2) if ($i == k) v = $(i + 1) }
        END { print v == "" ? -1 : v }' "$1"
}

nm_milter_ini() {
    cat > "$1/nm.ini" <<INI
[milter]
socket = unix:$1/nm.sock
pidfile =
log_level = $3
[redis]
servers = $2
prefix = nmtest
watch_interval = 200ms
INI
}

nm_replay() {
    _nm_r=$1
    shift
    "$NM_REPLAY" -s "unix:$dir/nm.sock" -t "${NM_REPLAY_TIMEOUT:-5000}" \
        "$@" > "$dir/$_nm_r.out" 2> "$dir/$_nm_r.err"
}

nm_replay_stat() {
    nm_rstat "$dir/$1.err" "$2"
}
