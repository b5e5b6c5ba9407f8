#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# quickstart.sh - on a fresh Debian 12 machine, as root: install the
# packages, build out of tree (build/quickstart), start a private Redis
# and neural-milter in the foreground on the shipped etc/neural-milter.ini
# (its socket, pid file, Redis and watch interval pointed into a temp
# dir, metrics on), show the header it adds to contrib/samples without a
# model, train a first network from synthetic examples that
# contrib/synth/nm-synth writes (no real mail), show the same samples
# scored, `neural-milter-ctl status` and a few metrics. Stops everything
# it started; can run again, before or after t/run-all.sh.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends $(cat contrib/debian-packages.txt)

# A source tree configured in place (./configure in it, or an older
# quickstart) makes every build directory's configure refuse to run.
if [ -f config.status ]; then
    echo "== the source tree was configured in place: make distclean, so that"
    echo "   out-of-tree builds (this one, t/run-all.sh) work"
    make distclean > /dev/null
fi
autoreconf -fi
b=$top/build/quickstart
mkdir -p "$b"
if [ ! -f "$b/Makefile" ]; then
    (cd "$b" && "$top/configure" -q --sysconfdir=/etc)
fi
make -C "$b" -j"$(nproc)"
milter=$b/src/neural-milter ctl=$b/src/neural-milter-ctl

run=$(mktemp -d /tmp/nm-quickstart.XXXXXX)
pid= redis=
cleanup() {
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$redis" ] && kill "$redis" 2>/dev/null && wait "$redis" 2>/dev/null
    rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# wait_for CMD TENTHS - run CMD until it succeeds, at most TENTHS x 0.1 s
wait_for() {
    i=0
    while ! eval "$1" > /dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt "$2" ] || return 1
        sleep 0.1
    done
}

# A private Redis on a unix socket: nothing else on the machine is
# touched, and every run starts empty.
redis-server --port 0 --unixsocket "$run/redis.sock" --unixsocketperm 700 \
    --dir "$run" --save '' --appendonly no --daemonize no \
    > "$run/redis.log" 2>&1 &
redis=$!
wait_for "redis-cli -s $run/redis.sock ping" 50

# The shipped configuration, with its paths pointed into $run.
port=19357
while curl -s -o /dev/null "http://127.0.0.1:$port/"; do port=$((port + 1)); done
ini=$run/neural-milter.ini
sed -e "s|^socket = .*|socket = unix:$run/nm.sock|" \
    -e "s|^pidfile = .*|pidfile =|" \
    -e "s|^servers = .*|servers = $run/redis.sock|" \
    -e "s|^watch_interval = .*|watch_interval = 1s|" \
    -e "s|^listen =\$|listen = 127.0.0.1:$port|" \
    etc/neural-milter.ini > "$ini"

echo "== neural-milter -t on the shipped config, and on the copy used here"
"$milter" -t -c etc/neural-milter.ini
"$milter" -t -c "$ini"
echo "   (the copy differs in: $(diff etc/neural-milter.ini "$ini" |
    sed -n 's/^> \([a-z_]*\) =.*/\1/p' | tr '\n' ' '))"
echo "== what the parser makes of the samples (neural-milter-ctl parse)"
"$ctl" -c "$ini" parse contrib/samples/*.eml

echo "== starting neural-milter -f"
"$milter" -f -c "$ini" 2> "$run/milter.log" &
pid=$!
wait_for "test -S $run/nm.sock" 100
samples=$(ls contrib/samples/*.eml | tr '\n' ' ')

echo "== the header it adds to each sample, without a model (miltertest)"
NM_SOCKET=unix:$run/nm.sock NM_FILES=$samples \
    miltertest -s contrib/samples/show.lua

echo "== a first network, from synthetic examples (contrib/synth/nm-synth)"
sh contrib/synth/nm-synth "$run/synth" 300
"$ctl" -c "$ini" learn spam "$run/synth/spam"
"$ctl" -c "$ini" learn ham "$run/synth/ham"
"$ctl" -c "$ini" train
wait_for "grep -q 'watch: loaded model' $run/milter.log" 100 ||
    echo "(the milter did not load the model within 10 s)"

echo "== the same samples, scored (p, adjustment)"
NM_SOCKET=unix:$run/nm.sock NM_FILES=$samples \
    miltertest -s contrib/samples/show.lua

echo "== neural-milter-ctl status"
"$ctl" -c "$ini" status

echo "== some of http://127.0.0.1:$port/metrics"
curl -s "http://127.0.0.1:$port/metrics" |
    grep -E '^neural_milter_(messages_total|model_info|trainings_total|p_count)' |
    grep -v ' 0$' || true

kill -TERM "$pid"
wait "$pid" || true
pid=
echo "== the milter's log"
cat "$run/milter.log"
echo "Done. Everything above ran in $run (removed now) with the binaries of"
echo "build/quickstart. On a real host: install the package (README), or"
echo "  $milter -f -c etc/neural-milter.ini"
echo "with a Redis on 127.0.0.1:6379 and /run/neural-milter writable."
