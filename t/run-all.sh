#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run-all.sh - the whole test suite, as CI runs it: a -Werror build with
# `make check` (unit, corpus, miltertest and Postfix end-to-end tests),
# the same under ASan+UBSan, a bounded libFuzzer run over the parsers,
# and `make distcheck`. Needs the packages of contrib/debian-packages.txt
# (contrib/quickstart.sh or .ci/run installs them). Ends with one line
# "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
status=0
pass=0 fail=0 skip=0

# tally DIR: add the counts of DIR's test-suite.log to the totals
tally() {
    [ -f "$1/test-suite.log" ] || return 0
    p=$(sed -n 's/^# PASS: *//p' "$1/test-suite.log")
    f=$(sed -n 's/^# FAIL: *//p;s/^# ERROR: *//p;s/^# XPASS: *//p' \
        "$1/test-suite.log" | awk '{ s += $1 } END { print s + 0 }')
    s=$(sed -n 's/^# SKIP: *//p' "$1/test-suite.log")
    pass=$((pass + ${p:-0})) fail=$((fail + ${f:-0})) skip=$((skip + ${s:-0}))
}

step() { # step NAME COMMAND...: run, remember a failure
    name=$1
    shift
    echo "=== $name"
    if ! "$@"; then
        echo "=== $name FAILED"
        status=1
    fi
}

autoreconf -fi || exit 1
rm -rf build
mkdir -p build/werror build/asan

( cd build/werror && "$top/configure" -q --enable-werror ) || exit 1
step "make (-Werror)" make -C build/werror -j2
step "make check" make -C build/werror -j2 check
tally build/werror
( cd build/asan && "$top/configure" -q --enable-werror --enable-sanitizers ) ||
    exit 1
step "make (ASan+UBSan)" make -C build/asan -j2
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    step "make check (ASan+UBSan)" make -C build/asan -j2 check
tally build/asan
step "fuzz ${FUZZ_SECONDS}s" make -C build/werror fuzz FUZZ_SECONDS="$FUZZ_SECONDS"
step "make distcheck" make -C build/werror distcheck

for d in build/werror build/asan; do
    if [ -f "$d/test-suite.log" ] && grep -q '^# FAIL: *[1-9]\|^# ERROR: *[1-9]' "$d/test-suite.log"; then
        cat "$d/test-suite.log"
    fi
done
[ "$fail" -eq 0 ] || status=1
echo "$pass passed, $fail failed, $skip skipped"
exit $status
