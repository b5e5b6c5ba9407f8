#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# all.sh [SCRIPT...] - the miltertest scripts t/milter/t-*.lua against real
# neural-milter daemons, as one TAP test. Scripts with the same effective
# ini (the base ini of nm_milter_ini, plus the script's "-- ini: " lines,
# plus a private Redis for "-- redis: yes") share one daemon, because a
# libmilter daemon takes about 5 s to stop; the stops overlap the next
# group's run. Each group gets its own dir, unix socket and Redis.
#
# The scripts' TAP becomes one stream: their ok lines renumbered, each
# description prefixed with the script's name, one plan at the end. A
# script fails when it says "not ok", when it runs more or fewer tests
# than its plan (lib.lua only comments on that), or when miltertest
# exits non-zero (a death outside lib.lua's pcall).
#
# Scripts that share a daemon share its state (and the group's Redis):
# each sends its own messages, with NM_QID (its name) as the queue id, and
# must not depend on what another script left behind.
#
# One script, or a few, for debugging: name them (t-forged, t-forged.lua
# or a path), as arguments or in NM_MILTER:
#   make check TESTS=t/milter/all.sh NM_MILTER=t-forged
#   cd build && top_srcdir=.. top_builddir=. sh ../t/milter/all.sh t-forged
# NM_KEEP_TMP=1 keeps the dirs (build/t/tmp/milter-g*.PID: nm.ini,
# daemon.log). Skips (77) when miltertest is missing.
. "$top_srcdir/t/lib.sh"

MILTERTEST=${MILTERTEST:-$(command -v miltertest)}
if [ -z "$MILTERTEST" ] || [ ! -x "$MILTERTEST" ]; then
    echo "1..0 # SKIP miltertest missing"
    exit 77
fi
# Absolute: miltertest runs in the source dir (lib.lua is found there).
mdir=$(cd "$top_srcdir/t/milter" && pwd) || exit 1
top_builddir=$(cd "$top_builddir" && pwd) || exit 1
if [ $# -eq 0 ] && [ -n "${NM_MILTER:-}" ]; then
    set -- $NM_MILTER
elif [ $# -eq 0 ]; then
    set -- "$mdir"/t-*.lua
fi

# The scripts as absolute paths, and the groups: keys.txt holds one line
# per script, "GROUP PATH", GROUP being the first script's index with
# the same ini lines and Redis flag.
work=$(nm_tmpdir milter-all)
: > "$work/keys.txt"
i=0
for s in "$@"; do
    case $s in
    */*) ;;
    *) s=$mdir/${s%.lua}.lua ;;
    esac
    if [ ! -f "$s" ]; then
        echo "Bail out! no miltertest script $s"
        exit 1
    fi
    s=$(cd "$(dirname "$s")" && pwd)/$(basename "$s")
    i=$((i + 1))
    sed -n 's/^-- ini: //p; s/^-- redis: yes.*/@redis/p' "$s" > "$work/$i.key"
    g=$i
    j=1
    while [ $j -lt $i ]; do
        if cmp -s "$work/$j.key" "$work/$i.key"; then
            g=$j
            break
        fi
        j=$((j + 1))
    done
    echo "$g $s" >> "$work/keys.txt"
done

# tap NAME PLANFILE - turn one script's output (stdin) into lines of the
# stream: ok lines renumbered and named, its plan into PLANFILE ("planned
# ran notok"), anything else as a comment
tap() {
    awk -v name="$1" -v first="$n" -v out="$2" '
        /^1\.\.[0-9]+/ { sub(/^1\.\./, ""); plan = $0 + 0; next }
        /^(not )?ok [0-9]+/ {
            no = /^not /
            sub(/^(not )?ok [0-9]+( - )?/, "")
            ran++
            bad += no
            printf "%sok %d - %s: %s\n", no ? "not " : "", first + ran, \
                name, $0
            next
        }
        /^#/ { print; next }
        { print "# " name ": " $0 }
        END { print plan + 0, ran + 0, bad + 0 > out }'
}

# run_script PATH - one script against the running daemon of its group
run_script() {
    _name=$(basename "$1" .lua)
    NM_QID=$_name
    export NM_QID
    (cd "$mdir" && "$MILTERTEST" -s "$1" 2>&1
        echo "@rc $?") > "$gdir/$_name.out"
    rc=$(sed -n 's/^@rc //p' "$gdir/$_name.out")
    sed '/^@rc /d' "$gdir/$_name.out" | tap "$_name" "$gdir/$_name.plan"
    read -r planned ran notok < "$gdir/$_name.plan"
    n=$((n + ran))
    if [ "$ran" -ne "$planned" ] || [ "$planned" -eq 0 ]; then
        t_ok 1 "$_name: planned $planned tests, ran $ran (rc $rc)"
    elif [ "$notok" -eq 0 ] && [ "$rc" -ne 0 ]; then
        t_ok 1 "$_name: miltertest exited $rc"
    elif [ "$notok" -gt 0 ]; then
        failed=1
    fi
}

: > "$work/stopping.txt"
k=0
for g in $(cut -d' ' -f1 "$work/keys.txt" | awk '!seen[$1]++'); do
    k=$((k + 1))
    gdir=$(nm_tmpdir "milter-g$k")
    if grep -q '^@redis$' "$work/$g.key"; then
        nm_redis_start "$gdir"
        redis=$NM_REDIS_SOCK
    else
        redis="$gdir/no-redis.sock" # nothing listens: Redis is down
        NM_REDIS_SOCK=$redis
    fi
    nm_milter_ini "$gdir" "$redis" debug
    grep -v '^@redis$' "$work/$g.key" | awk '
        /^\[/ { sec = $0; next }
        { print sec; print }' >> "$gdir/nm.ini"
    NM_SOCKET="unix:$gdir/nm.sock" NM_DIR=$gdir NM_INI=$gdir/nm.ini
    NM_CTL=$top_builddir/src/neural-milter-ctl
    export NM_SOCKET NM_DIR NM_REDIS_SOCK NM_CTL NM_INI
    scripts=$(awk -v g="$g" '$1 == g { print $2 }' "$work/keys.txt")
    echo "# daemon $k, $gdir/nm.ini:" $(for s in $scripts; do
        basename "$s" .lua; done)
    "$top_builddir/src/neural-milter" -f -c "$gdir/nm.ini" \
        2> "$gdir/daemon.log" &
    pid=$!
    nm_track $pid
    nm_wait_for "test -S $gdir/nm.sock" 100 ||
        echo "# daemon $k: the milter did not start"
    for s in $scripts; do
        run_script "$s"
    done
    # Stop it now and wait for it at the end, so the stops overlap; its
    # Redis goes after it. The next nm_redis_start sets NM_REDIS_PID anew.
    kill -TERM "$pid" 2>/dev/null
    echo "$pid ${NM_REDIS_PID:--} $gdir" >> "$work/stopping.txt"
    [ -n "$NM_REDIS_PID" ] && nm_track "$NM_REDIS_PID"
    NM_REDIS_PID=
done
k=0
while read -r pid rpid gdir; do
    k=$((k + 1))
    wait "$pid" 2>/dev/null
    rc=$?
    [ "$rpid" = - ] || { kill "$rpid" 2>/dev/null; wait "$rpid" 2>/dev/null; }
    echo "# daemon log of $gdir:"
    sed 's/^/#   /' "$gdir/daemon.log"
    [ $rc -eq 0 ]
    t_ok $? "daemon $k exits 0 on SIGTERM (rc $rc)"
done < "$work/stopping.txt"
echo "1..$n"
exit $failed
