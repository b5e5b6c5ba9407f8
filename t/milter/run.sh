#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run.sh SCRIPT.lua - run one miltertest script against a real
# neural-milter: a per-test ini (the script's "-- ini: " lines are
# appended to it), a unix socket in the build dir, the daemon in the
# foreground. Skips (77) when miltertest is missing.
. "$top_srcdir/t/lib.sh"

script=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
name=$(basename "$script" .lua)
MILTERTEST=${MILTERTEST:-$(command -v miltertest)}
if [ -z "$MILTERTEST" ] || [ ! -x "$MILTERTEST" ]; then
    echo "1..0 # SKIP miltertest missing"
    exit 77
fi
dir=$(nm_tmpdir "milter-$name")
if grep -q '^-- redis: yes' "$script"; then
    nm_redis_start "$dir"
    redis=$NM_REDIS_SOCK
else
    redis="$dir/no-redis.sock" # nothing listens: Redis is down
fi
nm_milter_ini "$dir" "$redis" debug
sed -n 's/^-- ini: //p' "$script" | awk '
    /^\[/ { sec = $0; next }
    { print sec; print }' >> "$dir/nm.ini"
export NM_SOCKET="unix:$dir/nm.sock" NM_DIR="$dir"
export NM_REDIS_SOCK="$redis" NM_CTL="$top_builddir/src/neural-milter-ctl"
export NM_INI="$dir/nm.ini"
"$top_builddir/src/neural-milter" -f -c "$dir/nm.ini" 2> "$dir/daemon.log" &
pid=$!
nm_track $pid
nm_wait_for "test -S $dir/nm.sock" 100 || echo "# the milter did not start"
cd "$top_srcdir/t/milter" || exit 1
"$MILTERTEST" -s "$script"
rc=$?
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
echo "# daemon log:"
sed 's/^/#   /' "$dir/daemon.log"
exit $rc
