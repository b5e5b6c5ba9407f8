#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# concurrency.sh - 50 concurrent milter connections (nm-replay -j 50 -n
# 2000, twice) against the daemon with a model loaded, while the model is
# republished under new versions so the daemon swaps it mid-run: no
# errors, one header per message, and the same p for the same message
# every time (scoring is deterministic and race-free).
# NM_TSAN_DAEMON=PATH runs that daemon (built with -fsanitize=thread)
# instead, with t/tsan.supp, and fails on any ThreadSanitizer warning.
# Skips (77) when a program is missing.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/e2e/lib_model.sh"

NM_REPLAY=$top_builddir/contrib/bench/nm-replay
NM_REPLAY_TIMEOUT=10000
NM_DAEMON=${NM_TSAN_DAEMON:-${NM_DAEMON:-$top_builddir/src/neural-milter}}
REDIS_CLI=${REDIS_CLI:-redis-cli}
CONNS=50
TOTAL=2000
nm_need_cmd "${REDIS_SERVER:-redis-server}" "$REDIS_CLI"
nm_need_exe "$NM_REPLAY" "$NM_DAEMON" "$NM_CTL"

dir=$(nm_tmpdir conc)
ini=$dir/nm.ini
nm_milter_ini "$dir" "$dir/redis.sock" info
printf '[train]\nenabled = no\nmin_class = 10\n' >> "$ini"
if [ -n "${NM_TSAN_DAEMON:-}" ]; then
    # Report every race (do not stop at the first), with both stacks.
    TSAN_OPTIONS="halt_on_error=0 second_deadlock_stack=1 ${TSAN_OPTIONS:-}"
    if [ -f "$top_srcdir/t/tsan.supp" ]; then
        TSAN_OPTIONS="suppressions=$top_srcdir/t/tsan.supp $TSAN_OPTIONS"
    fi
    export TSAN_OPTIONS
fi

echo "1..11"
# show FILE - the first lines of FILE as TAP comments
show() {
    head -n 20 "$1" | sed 's/^/#   /'
}

# Messages: 40 + 40 synthetic, and the samples (SpamAssassin, no scanner).
nm_synth "$dir/msg" 40
mkdir -p "$dir/msg/samples"
cp "$top_srcdir"/contrib/samples/*.eml "$dir/msg/samples/"
nfiles=$(find "$dir/msg" -name '*.eml' | wc -l)

nm_redis_start "$dir"
nm_model_build "$ini" "$dir/msg" || echo "# training failed"
"$NM_CTL" -c "$ini" export "$dir/model.blob" 2> "$dir/export.err"
id=$(sed -n 's/^exported model \([0-9a-f]*\.[0-9]*\) .*/\1/p' \
    "$dir/export.err")
digest=${id%.*}

"$NM_DAEMON" -f -c "$ini" 2> "$dir/daemon.log" &
dpid=$!
nm_track $dpid
nm_wait_for "test -S $dir/nm.sock" 300 || echo "# the milter did not start"
probe=$dir/msg/spam/spam-001.eml
[ -n "$digest" ] &&
    nm_wait_for \
        "nm_replay probe $probe && grep -q 'model=$id;' $dir/probe.out" \
        100
t_ok $? "the daemon scores with the trained model $id"

# Run 1, while the model is republished three times (versions 2..4):
# the daemon swaps it under load; the weights are the same, so p is too.
# The first import waits for run 1's first message in the daemon's log,
# each next one for the daemon to load the version before, so no version
# is skipped by a watch interval that saw two imports.
log=$dir/daemon.log
before=$(nm_log_lines "$log")
nm_replay run1 -j $CONNS -n $TOTAL "$dir/msg" &
rpid=$!
nm_wait_log_after "$log" "$before" ': milter: ' 100 ||
    echo "# run1's messages did not reach the daemon within 10 s"
for v in 2 3 4; do
    "$NM_CTL" -c "$ini" import "$dir/model.blob" > /dev/null
    nm_wait_log_after "$log" "$before" "watch: loaded model $digest[.]$v" 50 ||
        echo "# the daemon did not load $digest.$v within 5 s"
done
wait $rpid
rc_run1=$?
nm_replay run2 -j $CONNS -n $TOTAL "$dir/msg"
rc_run2=$?
echo "# run1: $(grep '^messages' "$dir/run1.err")"
echo "# run2: $(grep '^messages' "$dir/run2.err")"

for r in run1 run2; do
    [ "$(nm_replay_stat $r errors)" = 0 ] &&
        [ "$(nm_replay_stat $r messages)" = $TOTAL ] &&
        [ "$(wc -l < "$dir/$r.out")" -eq $TOTAL ] &&
        eval "[ \$rc_$r -eq 0 ]"
    t_ok $? "$r: $TOTAL messages over $CONNS connections, errors 0" ||
        show "$dir/$r.err"
done
cat "$dir/run1.out" "$dir/run2.out" > "$dir/all.out"
awk -F'\t' '$3 == "-" || $3 == "" { bad++ } END { exit bad > 0 }' \
    "$dir/all.out"
t_ok $? "no message lacks an X-Neural-Result ($(awk -F'\t' '$3 == "-"' \
    "$dir/all.out" | wc -l) without)"
# One end-of-message log line per message: qids R0..R1999 once each run.
tail -n +$((before + 1)) "$dir/daemon.log" |
    sed -n 's/^.*info: \(R[0-9]*\): milter: .*/\1/p' | sort | uniq -c |
    awk -v t=$TOTAL '$1 != 2 { bad++ } END { exit bad > 0 || NR != t }'
t_ok $? "the daemon handled each of the $((2 * TOTAL)) messages exactly once"
# Every file was sent about TOTAL/nfiles times per run, and each time the
# adjustment and p were the same.
awk -F'\t' '{ split($3, f, "; "); v = f[1] "; " f[2]
        if (!($1 in seen)) { seen[$1] = v; files++ }
        else if (seen[$1] != v) { bad++; print "# " $1 ": " seen[$1] " / " v }
        count[$1]++ }
    END { for (k in count) if (count[k] < 2 * int(t / nf)) few++
          exit bad > 0 || few > 0 || files != nf }' \
    t=$TOTAL nf="$nfiles" "$dir/all.out" > "$dir/diff.out"
t_ok $? "each of $nfiles files got the same adjustment and p every time" ||
    show "$dir/diff.out"
# The scored ones carried one of the model ids published.
awk -F'\t' -v d="$digest" '$3 ~ /p=none/ { next }
    { split($3, f, "; "); if (f[3] !~ "^model=" d "[.][1-4]$") bad++
      else ids[f[3]] = 1 }
    END { for (k in ids) printf "# seen %s\n", k; exit bad > 0 }' \
    "$dir/all.out"
t_ok $? "every scored message names model $digest.1 .. $digest.4"
grep -q "watch: loaded model $digest\\.4" "$dir/daemon.log"
t_ok $? "the daemon loaded each republished model, up to $digest.4"

kill -0 $dpid 2>/dev/null
t_ok $? "the daemon is still running"
kill -TERM $dpid
wait $dpid
rc=$?
[ $rc -eq 0 ]
t_ok $? "the daemon exits 0 on SIGTERM (rc $rc)"
races=$(grep -c 'WARNING: ThreadSanitizer' "$dir/daemon.log")
! grep -q 'Sanitizer\|runtime error:' "$dir/daemon.log"
t_ok $? "no sanitizer report in the daemon's stderr${NM_TSAN_DAEMON:+ \
(ThreadSanitizer: $races warnings)}"
if [ $failed -ne 0 ]; then
    echo "# daemon log (sanitizer reports and the end):"
    grep -v ': milter: upstream=' "$dir/daemon.log" | tail -n 200 |
        sed 's/^/#   /'
fi
