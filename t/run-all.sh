#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# run-all.sh - the whole test suite, as CI runs it: a -Werror build with
# `make check` (unit, corpus, miltertest and Postfix end-to-end tests),
# the same under ASan+UBSan, t/e2e/concurrency.sh against a daemon built
# with ThreadSanitizer, a bounded libFuzzer run over the parsers,
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

# tally_tap FILE: add the TAP output in FILE to the totals; a plan not
# met, or no plan, counts as one failure ("1..0" and exit 77: skipped)
tally_tap() {
    if grep -q '^1\.\.0' "$1"; then
        skip=$((skip + 1))
        return 0
    fi
    set -- "$1" "$(sed -n 's/^1\.\.\([0-9]*\).*/\1/p' "$1" | head -n 1)"
    p=$(grep -c '^ok ' "$1")
    f=$(grep '^not ok ' "$1" | grep -vc '# TODO')
    x=$(grep '^not ok ' "$1" | grep -c '# TODO')
    if [ -z "$2" ] || [ $((p + f + x)) -ne "$2" ]; then
        f=$((f + 1))
    fi
    pass=$((pass + p)) fail=$((fail + f))
    [ "$f" -eq 0 ]
}

# tsan_concurrency: t/e2e/concurrency.sh against the ThreadSanitizer
# daemon of build/tsan (it fails on any TSan warning; t/tsan.supp lists
# the third-party ones); prints its TAP, counts it into the totals
tsan_concurrency() {
    (
        top_srcdir=$top top_builddir=$top/build/tsan \
            NM_TSAN_DAEMON=$top/build/tsan/src/neural-milter
        export top_srcdir top_builddir NM_TSAN_DAEMON
        sh "$top/t/e2e/concurrency.sh"
    ) > build/tsan/concurrency.log 2>&1
    cat build/tsan/concurrency.log
    tally_tap build/tsan/concurrency.log
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
mkdir -p build/werror build/asan build/tsan

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
( cd build/tsan && "$top/configure" -q CFLAGS="-fsanitize=thread -g -O1" \
    LDFLAGS="-fsanitize=thread" ) || exit 1
step "make (TSan)" make -C build/tsan -j2 src/neural-milter \
    src/neural-milter-ctl contrib/bench/nm-replay
step "concurrency under TSan" tsan_concurrency
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
