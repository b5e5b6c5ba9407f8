#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# learn.sh - the learning loop on real mail (../shared/corpus), through
# real daemons, a real Redis and the milter protocol:
#  1. explicit verdicts: two daemons share one Redis; the Rspamd train
#     split is fed with `neural-milter-ctl learn`; exactly one daemon
#     trains, both load the same version, and both score the test split
#     with an AUC above 0.98 (labels from the corpus layout)
#  2. autolearn only: the SpamAssassin train split is replayed through a
#     daemon, which queues examples by SpamAssassin's own verdict; a model
#     appears with no manual step and its AUC on the test split beats the
#     upstream score's own AUC there
# Skips when the corpus is absent.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/lib_corpus.sh"

corpus=$(nm_corpus_unpack) || {
    echo "1..0 # SKIP corpus absent (../shared/corpus)"
    exit 0
}
index="$top_srcdir/../shared/corpus/index.tsv"
daemon="$top_builddir/src/neural-milter"
ctl="$top_builddir/src/neural-milter-ctl"
replay="$top_builddir/contrib/bench/nm-replay"
dir=$(nm_tmpdir learn)
nm_redis_start "$dir"
echo "1..11"

# ini NAME PREFIX EXTRA...: write $dir/NAME.ini
ini() {
    name=$1 prefix=$2
    shift 2
    {
        printf '[milter]\nsocket = unix:%s/%s.sock\npidfile =\n' "$dir" "$name"
        printf '[redis]\nservers = %s\nprefix = %s\nwatch_interval = 300ms\n' \
            "$NM_REDIS_SOCK" "$prefix"
        # max_epochs: the 75-epoch patience at this size would let an
        # ASan build's training run past the waits below
        printf '[train]\ncheck_interval = 1s\nmax_epochs = 60\n'
        for line in "$@"; do printf '%s\n' "$line"; done
    } > "$dir/$name.ini"
}

# start NAME: run the daemon on $dir/NAME.ini, log to $dir/NAME.log
start() {
    "$daemon" -f -c "$dir/$1.ini" 2>> "$dir/$1.log" &
    eval "pid_$1=$!"
    nm_track $!
    nm_wait_for "test -S $dir/$1.sock" 100 || echo "# $1 did not start"
}

# stop NAME: SIGTERM and wait (the example queue is flushed)
stop() {
    eval "kill -TERM \$pid_$1; wait \$pid_$1"
}

# scores NAME DIR...: "p label path" of each message replayed through NAME
scores() {
    name=$1
    shift
    "$replay" -s "unix:$dir/$name.sock" -j 4 "$@" 2> "$dir/$name.replay" |
        awk -F'\t' '{
            p = $3; sub(/.*; p=/, "", p); sub(/;.*/, "", p)
            print p, ($1 ~ /\/spam\//) ? 1 : 0, $1 }' | sort -k3
}

# auc FILE: AUC of "score label ..." lines
auc() {
    sort -g "$1" | awk -f "$top_srcdir/t/auc.awk"
}

# tpr1 FILE: % of spam scored above the ham score that lets 1% of the ham
# through, as ctl eval counts it (from the header's three decimals, so
# spam tied with that ham score count as missed)
tpr1() {
    sort -gr "$1" | awk '$2 == 0 { h[nh++] = $1 } $2 == 1 { s[ns++] = $1 }
        END { k = int(0.01 * nh); thr = h[k]
              for (i = 0; i < ns; i++) c += s[i] > thr
              printf "%.1f\n", 100 * c / ns }'
}

# --- 1. explicit verdicts, two daemons, one Redis -----------------------
# The verdicts go in first, so the first training sees all of them and
# the two daemons race for the lock at their first check.
ini a nmx
ini b nmx
"$ctl" -c "$dir/a.ini" learn spam "$corpus/rspamd/train/spam" > "$dir/learn.out"
"$ctl" -c "$dir/a.ini" learn ham "$corpus/rspamd/train/ham" >> "$dir/learn.out"
sed 's/^/# /' "$dir/learn.out"
start a
start b
nm_wait_for "grep -q 'watch: loaded model' $dir/a.log &&
    grep -q 'watch: loaded model' $dir/b.log" 1800 ||
    echo "# no model loaded within 180 s"
published=$(cat "$dir/a.log" "$dir/b.log" | grep -c 'trainer: published')
if [ "$published" = 1 ]; then
    echo "ok - exactly one of two daemons trained and published"
else
    echo "not ok - exactly one of two daemons trained (published: $published)"
fi
ida=$(sed -n 's/.*watch: loaded model \([0-9a-f]*\.[0-9]*\):.*/\1/p' "$dir/a.log" | tail -n 1)
idb=$(sed -n 's/.*watch: loaded model \([0-9a-f]*\.[0-9]*\):.*/\1/p' "$dir/b.log" | tail -n 1)
if [ -n "$ida" ] && [ "$ida" = "$idb" ]; then
    echo "ok - both daemons loaded the same model $ida"
else
    echo "not ok - both daemons loaded the same model ('$ida' vs '$idb')"
fi
grep 'trainer: published' "$dir/a.log" "$dir/b.log" | sed 's/^/# /'

scores a "$corpus/rspamd/test/spam" "$corpus/rspamd/test/ham" > "$dir/a.scores"
scores b "$corpus/rspamd/test/spam" "$corpus/rspamd/test/ham" > "$dir/b.scores"
n=$(wc -l < "$dir/a.scores")
if [ "$n" = 1791 ] &&
    awk '$1 == "none" { bad = 1 } END { exit bad }' "$dir/a.scores"; then
    echo "ok - all 1,791 test messages scored through daemon a"
else
    echo "not ok - all 1,791 test messages scored through daemon a ($n)"
fi
auca=$(auc "$dir/a.scores")
aucb=$(auc "$dir/b.scores")
if awk -v x="$auca" 'BEGIN { exit !(x > 0.98) }'; then
    echo "ok - daemon a: Rspamd test split AUC $auca > 0.98"
else
    echo "not ok - daemon a: Rspamd test split AUC $auca > 0.98"
fi
if awk -v x="$aucb" 'BEGIN { exit !(x > 0.98) }'; then
    echo "ok - daemon b: Rspamd test split AUC $aucb > 0.98"
else
    echo "not ok - daemon b: Rspamd test split AUC $aucb > 0.98"
fi
if cmp -s "$dir/a.scores" "$dir/b.scores"; then
    echo "ok - both daemons give every test message the same p"
else
    echo "not ok - both daemons give every test message the same p"
fi
# An admin's reset: the daemons stop scoring with the dropped model.
"$ctl" -y -c "$dir/a.ini" reset model > /dev/null
nm_wait_for "grep -q 'was reset in Redis' $dir/a.log" 100
after=$("$replay" -s "unix:$dir/a.sock" "$corpus/rspamd/test/spam" 2>/dev/null |
    head -n 1 | cut -f3)
case $after in
*"p=none; model=none"*) echo "ok - after reset model the daemon scores no more: $after" ;;
*) echo "not ok - after reset model the daemon scores no more: $after" ;;
esac
stop a
stop b

# The same figure from `neural-milter-ctl eval` (parser, trainer and model
# called directly) must agree with the milter path within noise.
"$ctl" -c "$dir/a.ini" eval -m explicit "$corpus/rspamd" > "$dir/eval.out" 2>&1
auce=$(awk '/^all:/ { t = 1; next } t && /^  network alone/ { print $3; exit }' \
    "$dir/eval.out")
if awk -v x="$auca" -v y="$auce" \
    'BEGIN { d = x - y; if (d < 0) d = -d; exit !(y > 0 && d <= 0.01) }'; then
    echo "ok - milter path AUC $auca agrees with ctl eval's $auce within 0.01"
else
    echo "not ok - milter path AUC $auca agrees with ctl eval's '$auce' within 0.01"
fi
tpra=$(tpr1 "$dir/a.scores")
tpre=$(awk '/^all:/ { t = 1; next } t && /^  network alone/ {
    sub(/%/, "", $4); print $4; exit }' "$dir/eval.out")
if awk -v x="$tpra" -v y="$tpre" \
    'BEGIN { d = x - y; if (d < 0) d = -d; exit !(y > 0 && d <= 1) }'; then
    echo "ok - milter path catches $tpra% of spam at 1% false positives, ctl eval $tpre% (within 1 point)"
else
    echo "not ok - milter path catches '$tpra'% of spam at 1% false positives, ctl eval '$tpre'% (within 1 point)"
fi

# --- 2. autolearn only, SpamAssassin -----------------------------------
# The first daemon only queues (enabled = no), so the training below sees
# the whole train split; the second trains at its first check by itself.
ini c nmauto '[upstream]' 'format = spamassassin'
sed -i 's/^check_interval = 1s$/check_interval = 1s\nenabled = no/' "$dir/c.ini"
start c
"$replay" -s "unix:$dir/c.sock" -j 4 -q "$corpus/spamassassin/train" \
    2> "$dir/c.replay"
stop c
sed 's/^/# /' "$dir/c.replay"
"$ctl" -c "$dir/c.ini" status | grep '^examples' | sed 's/^/# /'
queued=$(grep -c 'learn=spam\|learn=ham' "$dir/c.log")
if [ "$queued" -gt 500 ]; then
    echo "ok - autolearn queued $queued of the train split by the upstream's verdict"
else
    echo "not ok - autolearn queued $queued of the train split"
fi
ini d nmauto '[upstream]' 'format = spamassassin'
start d
nm_wait_for "grep -q 'watch: loaded model' $dir/d.log" 1800 ||
    echo "# no autolearned model within 180 s"
grep 'trainer:' "$dir/d.log" | sed 's/^/# /'
scores d "$corpus/spamassassin/test/spam" "$corpus/spamassassin/test/ham" \
    > "$dir/d.scores"
aucd=$(auc "$dir/d.scores")
echo "# autolearned network alone: AUC $aucd"
# What the site acts on: the upstream score plus the adjustment.
"$replay" -s "unix:$dir/d.sock" -j 4 "$corpus/spamassassin/test/spam" \
    "$corpus/spamassassin/test/ham" 2>/dev/null | awk -F'\t' '{
        a = $3; sub(/;.*/, "", a); s = $3; sub(/.*; score=/, "", s)
        sub(/;.*/, "", s); print s + a, ($1 ~ /\/spam\//) ? 1 : 0 }' \
    > "$dir/d.combined"
aucd=$(auc "$dir/d.combined")
# The upstream's own AUC on the same messages, from index.tsv.
awk -F'\t' '$4 == "test" { print $8, ($2 == "spam") ? 1 : 0 }' "$index" \
    > "$dir/upstream.scores"
aucu=$(auc "$dir/upstream.scores")
if grep -q 'watch: loaded model' "$dir/d.log" &&
    awk -v x="$aucd" -v u="$aucu" 'BEGIN { exit !(x > u) }'; then
    echo "ok - autolearned model: upstream + adjust AUC $aucd beats SpamAssassin's own $aucu"
else
    echo "not ok - autolearned model: upstream + adjust AUC $aucd beats SpamAssassin's own $aucu"
fi
stop d
