#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# quickstart.sh - on a fresh Debian 12 machine, as root: install the
# packages, build, start a private Redis and neural-milter on the shipped
# etc/neural-milter.ini in the foreground, and show the header it adds to
# the sample messages in contrib/samples. Stops both when done.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $(cat contrib/debian-packages.txt)

autoreconf -fi
./configure -q --sysconfdir=/etc
make -j"$(nproc)"

run=$(mktemp -d /tmp/nm-quickstart.XXXXXX)
# A private Redis on the address the shipped config names (127.0.0.1:6379),
# unless one already answers there.
if ! redis-cli -h 127.0.0.1 -p 6379 ping > /dev/null 2>&1; then
    redis-server --bind 127.0.0.1 --port 6379 --dir "$run" --save '' \
        --appendonly no --daemonize yes --pidfile "$run/redis.pid" \
        --logfile "$run/redis.log"
    sleep 0.5
fi

echo "== neural-milter -t on the shipped config"
src/neural-milter -t -c etc/neural-milter.ini
echo "== what the parser makes of the samples (neural-milter-ctl parse)"
src/neural-milter-ctl -c etc/neural-milter.ini parse contrib/samples/*.eml

echo "== starting neural-milter -f on the shipped config"
src/neural-milter -f -c etc/neural-milter.ini 2> "$run/milter.log" &
pid=$!
sock=$(sed -n 's/^socket *= *//p' etc/neural-milter.ini | head -n 1)
i=0
while [ ! -S "${sock#unix:}" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done

echo "== the header it adds to each sample (sent with miltertest)"
NM_SOCKET=$sock NM_FILES="$(ls contrib/samples/*.eml | tr '\n' ' ')" \
    miltertest -s contrib/samples/show.lua

kill -TERM $pid
wait $pid || true
echo "== the milter's log"
cat "$run/milter.log"
[ -f "$run/redis.pid" ] && kill "$(cat "$run/redis.pid")"
echo "Done. Run it yourself: src/neural-milter -f -c etc/neural-milter.ini"
