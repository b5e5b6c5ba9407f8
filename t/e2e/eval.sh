#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# eval.sh - `neural-milter-ctl eval` on the real corpus, both scanners,
# both modes, through the project's own parser, trainer and model and a
# real Redis. Asserts the figures stay at the level measured when the
# network was tuned (see the issue notes and BENCHMARKS.md), and that the
# ROC plot is written. Skips when the corpus is absent.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib_corpus.sh"

corpus=$(nm_corpus_unpack) || {
    echo "1..0 # SKIP corpus absent (../shared/corpus)"
    exit 0
}
ctl="$top_builddir/src/neural-milter-ctl"
dir=$(nm_tmpdir eval)
nm_redis_start "$dir"
printf '[redis]\nservers = %s\nprefix = nmeval\n' "$NM_REDIS_SOCK" \
    > "$dir/nm.ini"
echo "1..23"

# figure FILE MODE SCORER COLUMN: one number of the "all:" table of MODE
figure() {
    awk -v mode="$2" -v who="$3" -v col="$4" '
        /^== test split, / { m = ($0 ~ mode) }
        m && /^all:/ { t = 1; next }
        m && t && index($0, who) == 3 {
            rest = substr($0, length(who) + 3); sub(/^ +/, "", rest)
            split(rest, f, " +")
            gsub("%", "", f[col]); print f[col]; exit }' "$1"
}

# above X MIN: true when X >= MIN
above() {
    awk -v x="$1" -v m="$2" 'BEGIN { exit !(x + 0 >= m + 0) }'
}

# atfp FILE MODE: "T FP_UP FP_ADJ" for each threshold line of MODE's "all:"
atfp() {
    awk -v mode="$2" '
        /^== test split, / { m = ($0 ~ mode) }
        m && /^thresholds:/ { t = 1; next }
        m && t && /^all:/ { a = 1; next }
        m && a && /^  at / { sub(":", "", $2); print $2, $4, $6; next }
        a { exit }' "$1"
}

for scanner in rspamd spamassassin; do
    case $scanner in rspamd) thr=6,15 ;; *) thr=5 ;; esac
    "$ctl" -c "$dir/nm.ini" eval -o "$dir/$scanner.svg" --thresholds $thr \
        "$corpus/$scanner" > "$dir/$scanner.out" 2>&1
    rc=$?
    sed 's/^/# /' "$dir/$scanner.out" | grep -v '^#   *\(upstream\|network\) .* -  ' | head -40
    [ $rc = 0 ] && echo "ok - $scanner: eval ran" ||
        echo "not ok - $scanner: eval ran (exit $rc)"
    up=$(figure "$dir/$scanner.out" explicit "upstream alone" 1)
    net=$(figure "$dir/$scanner.out" explicit "network alone" 1)
    tpr=$(figure "$dir/$scanner.out" explicit "network alone" 2)
    auto=$(figure "$dir/$scanner.out" autolearn "upstream + adjust" 1)
    # The issue's targets. Training is reproducible (split, order and
    # initial weights follow the examples), so these figures do not
    # wander between runs; measured: Rspamd 0.9952 / 93.5% with the
    # default [model] ignore_symbols (0.9974 / 96.8% without, patience
    # 25: the DNS failures of the offline scan, not the mail),
    # SpamAssassin 0.9925 / 94.5%. (With early-stopping patience 25:
    # Rspamd 0.9953 / 88.5%; before the held-back split by copy rank:
    # 0.9962 / 90.6% and 0.9916 / 96.3%.)
    case $scanner in rspamd) want=93 ;; *) want=94 ;; esac
    if above "$net" 0.99; then
        echo "ok - $scanner explicit: network AUC $net >= 0.99"
    else
        echo "not ok - $scanner explicit: network AUC '$net' >= 0.99"
    fi
    if above "$tpr" $want; then
        echo "ok - $scanner explicit: $tpr% of spam caught at 1% false positives (>= $want%)"
    else
        echo "not ok - $scanner explicit: '$tpr'% of spam caught at 1% false positives (>= $want%)"
    fi
    # Autolearn's examples are all sure verdicts: its adjustment must not
    # push ham over the upstream's own threshold.
    upfp=$(figure "$dir/$scanner.out" autolearn "upstream alone" 4)
    autofp=$(figure "$dir/$scanner.out" autolearn "upstream + adjust" 4)
    if [ -n "$autofp" ] && [ "$autofp" -le "$upfp" ]; then
        echo "ok - $scanner autolearn: false positives at the upstream's threshold $autofp (upstream alone $upfp)"
    else
        echo "not ok - $scanner autolearn: false positives '$autofp' <= upstream alone '$upfp'"
    fi
    if [ -n "$auto" ] && above "$auto" "$up" && [ "$auto" != "$up" ]; then
        echo "ok - $scanner autolearn: upstream + adjust AUC $auto beats upstream $up"
    else
        echo "not ok - $scanner autolearn: upstream + adjust AUC '$auto' beats upstream '$up'"
    fi
    # At the thresholds sites act on (Rspamd 6 and 15, SpamAssassin 5):
    # never more false positives than the upstream alone, in either mode.
    for mode in explicit autolearn; do
        lines=$(atfp "$dir/$scanner.out" $mode)
        bad=$(echo "$lines" | awk 'NF == 3 && $3 > $2 { n++ }
            NF == 3 { seen++ } END { print (seen ? n + 0 : 1) }')
        said=$(echo "$lines" | awk '{ sep = NR > 1 ? ";" : ""
            printf "%s at %s: %s -> %s", sep, $1, $2, $3 }')
        if [ "$bad" = 0 ]; then
            echo "ok - $scanner $mode: false positives, upstream -> + adjust:$said"
        else
            echo "not ok - $scanner $mode: more false positives than the upstream:$said"
        fi
    done
    # What the mail flow acts on keeps the network's separation: measured
    # 0.9880 / 85.8% (Rspamd) and 0.9925 / 95.0% (SpamAssassin); the issue's
    # 95% holds for SpamAssassin (Rspamd's misses: README).
    adj=$(figure "$dir/$scanner.out" explicit "upstream + adjust" 1)
    adjtpr=$(figure "$dir/$scanner.out" explicit "upstream + adjust" 2)
    case $scanner in rspamd) want=0.985 ;; *) want=0.99 ;; esac
    if above "$adj" $want; then
        echo "ok - $scanner explicit: upstream + adjust AUC $adj >= $want"
    else
        echo "not ok - $scanner explicit: upstream + adjust AUC '$adj' >= $want"
    fi
done
# the issue's target on the fixed split: 95% at 1% FP (SpamAssassin), and
# within 1 point of the network alone
if above "$adjtpr" 95 && above "$adjtpr" "$(awk -v n="$tpr" 'BEGIN { print n - 1 }')"; then
    echo "ok - spamassassin explicit: upstream + adjust catches $adjtpr% at 1% false positives (>= 95%, network $tpr%)"
else
    echo "not ok - spamassassin explicit: upstream + adjust catches '$adjtpr'% at 1% false positives (>= 95%, network '$tpr'%)"
fi
# res STATUS DESC: a TAP line (the lines here are unnumbered)
res() {
    if [ "$1" = 0 ]; then echo "ok - $2"; else echo "not ok - $2"; fi
}
# The learning curve on SpamAssassin headers (seven trainings, ~20 s):
# a row per share of reports, the plot, reports that help, and 100%
# reports being the explicit verdicts measured above.
"$ctl" -c "$dir/nm.ini" eval --curve -o "$dir/curve.svg" \
    "$corpus/spamassassin" > "$dir/curve.out" 2>&1
rc=$?
sed -n '/^== learning curve/,$p' "$dir/curve.out" | sed 's/^/# /'
rows=$(grep -c '^ *[0-9.]*% |' "$dir/curve.out")
res "$([ $rc = 0 ] && [ "$rows" = 7 ]; echo $?)" "eval --curve: 7 rows (rc $rc)"
res "$(grep -c '<polyline' "$dir/curve.svg" 2>/dev/null | grep -qx 3; echo $?)" \
    "eval --curve: the plot has a line per scorer"
curve() { # share column: the figure of a row
    awk -v r="$1" -v col="$2" '$1 == r && $2 == "|" {
        gsub("%", "", $col); print $col; exit }' "$dir/curve.out"
}
res "$(above "$(curve 2.0% 4)" "$(curve 0.0% 4)"; echo $?)" \
    "2% reports catch more spam at 1% FP than autolearn alone ($(curve 2.0% 4)% vs $(curve 0.0% 4)%)"
# Reports hide the upstream-score input that an admin's labelled corpus
# shows (trainer_sees_score()): with every message reported the two stay
# within a point (measured: 95.9% and 95.0%).
exp100=$(figure "$dir/spamassassin.out" explicit "upstream + adjust" 2)
res "$(awk -v a="$(curve 100.0% 4)" -v b="$exp100" 'BEGIN { d = a - b
        exit !(a != "" && b != "" && d <= 1 && d >= -1) }'; echo $?)" \
    "100% reports are within a point of the explicit verdicts ($(curve 100.0% 4)% vs $exp100%)"
if grep -q '<polyline' "$dir/rspamd.svg" 2>/dev/null; then
    echo "ok - ROC plot written as SVG"
else
    echo "not ok - ROC plot written as SVG"
fi
# What may stay: the outcome line, and a model hash's version counter
# (kept on purpose, so versions never repeat).
left=$(redis-cli -s "$NM_REDIS_SOCK" --scan --pattern 'nmeval.eval.*' |
    grep -v ':train:last$' | while read -r k; do
        case $k in
        *:model:*) redis-cli -s "$NM_REDIS_SOCK" hexists "$k" blob |
            grep -qx 1 && echo "$k" ;;
        *) echo "$k" ;;
        esac
    done | wc -l)
if [ "$left" = 0 ]; then
    echo "ok - eval left no models or examples in Redis"
else
    echo "not ok - eval left $left keys in Redis"
fi
