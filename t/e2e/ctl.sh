#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# ctl.sh - neural-milter-ctl against a real redis-server on a unix socket:
# status before and after training, learn (directory, stdin, skipped and
# missing files), train, export / reset / import round trip, import of
# garbage, score, parse, the reset confirmation and the exit codes.
# Skips (77) when a program is missing.
. "$top_srcdir/t/lib.sh"
. "$top_srcdir/t/e2e/lib_model.sh"

REDIS_CLI=${REDIS_CLI:-redis-cli}
nm_need_cmd "${REDIS_SERVER:-redis-server}" "$REDIS_CLI"
nm_need_exe "$NM_CTL"

dir=$(nm_tmpdir ctl)
ini=$dir/nm.ini
cat > "$ini" <<INI
[redis]
servers = $dir/redis.sock
prefix = nmtest
[train]
enabled = no
min_class = 10
INI
samples=$top_srcdir/contrib/samples

echo "1..41"
# ctl NAME ARGS... - run neural-milter-ctl -c INI ARGS; NAME.out, NAME.err
# and NAME.rc hold what it printed and its exit status (stdin passes on)
ctl() {
    _c=$1
    shift
    "$NM_CTL" -c "$ini" "$@" > "$dir/$_c.out" 2> "$dir/$_c.err"
    echo $? > "$dir/$_c.rc"
}
rc() { cat "$dir/$1.rc"; }
# has NAME ERE - NAME's stdout has a line matching ERE
has() { grep -Eq -- "$2" "$dir/$1.out"; }
# err NAME ERE - NAME's stderr has a line matching ERE
err() { grep -Eq -- "$2" "$dir/$1.err"; }
# show NAME - what NAME printed, as TAP comments (after a failure)
show() {
    cat "$dir/$1.out" "$dir/$1.err" | head -n 30 | sed 's/^/#   /'
    echo "#   exit status $(rc "$1")"
}

nm_synth "$dir/msg" 40
nm_redis_start "$dir"

# status before anything is stored
ctl status0 status
[ "$(rc status0)" = 0 ] && has status0 '^model: none$'
t_ok $? "status with no model: exit 0, \"model: none\"" || show status0
has status0 '^examples: 0 spam, 0 ham ' && has status0 '^lock: free$' &&
    has status0 '^last training: none recorded$'
t_ok $? "status with no model: no examples, lock free, no training" ||
    show status0

# parse
ctl parse -v parse "$samples"/*.eml
[ "$(rc parse)" = 0 ] && has parse '^  upstream: rspamd$' &&
    has parse '^  upstream: spamassassin$' && has parse '^  upstream: none$'
t_ok $? "parse -v of contrib/samples/*.eml: exit 0, each upstream found" ||
    show parse
has parse '^    FORGED_MUA_OUTLOOK +3\.00$' &&
    has parse '^    MIME_GOOD +-0\.10$' &&
    has parse '^    LOTS_OF_MONEY +0\.00$'
t_ok $? "parse -v lists the symbols with their scores" || show parse
ctl parse1 parse "$samples/rspamd-spam.eml"
[ "$(rc parse1)" = 0 ] && has parse1 '^  symbols: 12 with scores' &&
    ! has parse1 'FORGED_MUA_OUTLOOK'
t_ok $? "parse without -v counts the symbols but does not list them" ||
    show parse1
ctl parsemiss parse "$samples/rspamd-ham.eml" "$dir/missing.eml"
[ "$(rc parsemiss)" = 1 ] &&
    err parsemiss \
        "^neural-milter-ctl: $dir/missing.eml: No such file or directory\$" &&
    has parsemiss '^  upstream: rspamd$'
t_ok $? "parse of a missing file: exit 1 and says which file and why" ||
    show parsemiss

# learn: a directory, stdin, a message without a scanner header, a
# missing file
ctl learnspam learn spam "$dir/msg/spam"
[ "$(rc learnspam)" = 0 ] &&
    has learnspam '^queued 40 spam examples, skipped 0, failed 0$'
t_ok $? "learn spam DIR: 40 queued, exit 0" || show learnspam
mv "$dir/msg/ham/ham-040.eml" "$dir/ham-040.eml"
ctl learnham learn ham "$dir/msg/ham"
ctl learnstdin learn ham - < "$dir/ham-040.eml"
[ "$(rc learnham)" = 0 ] &&
    has learnham '^queued 39 ham examples, skipped 0, failed 0$' &&
    [ "$(rc learnstdin)" = 0 ] &&
    has learnstdin '^queued 1 ham examples, skipped 0, failed 0$'
t_ok $? "learn ham DIR (39) and learn ham - from stdin (1): exit 0" ||
    { show learnham; show learnstdin; }
ctl learnskip learn spam "$samples/no-scanner.eml"
[ "$(rc learnskip)" = 0 ] &&
    has learnskip '^queued 0 spam examples, skipped 1, failed 0$' &&
    err learnskip 'no-scanner.eml: skipped: upstream=none'
t_ok $? "learn of a message without a scanner header: skipped, exit 0" ||
    show learnskip
ctl learnmiss learn spam "$dir/missing.eml"
[ "$(rc learnmiss)" = 1 ] &&
    has learnmiss '^queued 0 spam examples, skipped 0, failed 1$' &&
    err learnmiss 'missing.eml: No such file or directory'
t_ok $? "learn of a missing file: failed 1, exit 1" || show learnmiss
ctl learnbad learn maybe "$samples/rspamd-ham.eml"
[ "$(rc learnbad)" = 64 ]
t_ok $? "learn maybe: exit 64" || show learnbad
ctl status1 status
has status1 '^examples: 40 spam, 40 ham \(cap 20000 per class\); 80 new '
t_ok $? "status counts 40 spam and 40 ham examples, 80 new" || show status1

# score before there is a model
ctl score0 score "$dir/msg/spam/spam-001.eml"
[ "$(rc score0)" = 1 ] && err score0 'no model is published'
t_ok $? "score with no model: exit 1, \"no model is published\"" ||
    show score0
ctl export0 export "$dir/none.blob"
[ "$(rc export0)" = 1 ] && err export0 'no model is published'
t_ok $? "export with no model: exit 1" || show export0

# train, then status
ctl train train
id=$(sed -n 's/^model: \([0-9a-f]\{8\}\.[0-9]*\) .*/\1/p' "$dir/train.out")
digest=${id%.*}
[ "$(rc train)" = 0 ] && [ "$id" = "$digest.1" ] &&
    has train '^result: published'
t_ok $? "train: exit 0, published model $id" || show train
ctl status2 status
[ "$(rc status2)" = 0 ] && has status2 "^model: $digest\\.1\$" &&
    has status2 "^profile: $digest, 16 symbols, presence and scores\$"
t_ok $? "status after train: model $digest.1, its profile of 16 symbols" ||
    show status2
has status2 '^inputs: [1-9][0-9]*$' &&
    has status2 '^thresholds: ham <= [01]\.[0-9]{4}, spam >= [01]\.[0-9]{4}$'
t_ok $? "status after train: inputs and thresholds" || show status2
# trained on + validated on = every stored example, by class
awk '/^trained on: / { ts = $3; th = $6 }
     /^validated on: / { vs = $3; vh = $6 }
     END { exit !(ts + vs == 40 && th + vh == 40 && vs + vh > 0) }' \
    "$dir/status2.out" && has status2 '^trained on: .* \(80 explicit\)$'
t_ok $? "status: trained on + validated on = 40 spam + 40 ham, 80 explicit" ||
    show status2
has status2 '^examples: 40 spam, 40 ham .*; 0 new since the last training' &&
    has status2 '^lock: free$' &&
    has status2 \
        "^last training: .* published for a new profile; model=$digest\\.1;"
t_ok $? "status after train: examples, 0 new, lock free, last training" ||
    show status2

# score
ctl score score "$dir/msg/spam/spam-001.eml" "$dir/msg/ham/ham-001.eml"
[ "$(rc score)" = 0 ] &&
    [ "$(grep -Ec '^  p: [01]\.[0-9]{4}, adjust: [-+][0-9]+\.[0-9]{2}$' \
        "$dir/score.out")" = 2 ] &&
    has score \
        "^  header: [-+][0-9.]+; p=[01]\\.[0-9]{3}; model=$digest\\.1;"
t_ok $? "score FILE FILE: exit 0, p and the header for each" || show score

# export, reset, import, export: the same bytes
ctl export1 export "$dir/a.blob"
size=$(wc -c < "$dir/a.blob" 2>/dev/null)
[ "$(rc export1)" = 0 ] &&
    err export1 "^exported model $digest\\.1 \\(${size:-x} bytes\\)\$"
t_ok $? "export: exit 0, $size bytes of model $digest.1" || show export1
ctl reset1 -y reset model
[ "$(rc reset1)" = 0 ] &&
    has reset1 "^dropped the model of profile $digest\$"
t_ok $? "-y reset model: exit 0, model dropped" || show reset1
ctl status3 status
[ "$(rc status3)" = 0 ] && has status3 '^model: none$'
t_ok $? "status after reset model: \"model: none\"" || show status3
ctl import1 import "$dir/a.blob"
v=$(sed -n "s/^published model $digest\\.\\([0-9]*\\)\$/\\1/p" \
    "$dir/import1.out")
[ "$(rc import1)" = 0 ] && [ -n "$v" ]
t_ok $? "import: exit 0, published as $digest.$v" || show import1
# The watcher reloads only when (digest, version) changes, so a version
# must never name two different blobs: reset keeps the version counter.
[ "$v" = 2 ]
t_ok $? "import after reset: version 2 (got $v)"
ctl import2 import "$dir/a.blob"
[ "$(rc import2)" = 0 ] &&
    has import2 "^published model $digest\\.$((v + 1))\$"
t_ok $? "import again: version $((v + 1))" || show import2
ctl export2 export "$dir/b.blob"
[ "$(rc export2)" = 0 ] && cmp -s "$dir/a.blob" "$dir/b.blob"
t_ok $? "export after import: byte-identical blob" || show export2
ctl status4 status
# the lines that describe the model itself, not its id or the examples
facts() {
    grep -v '^model: \|^examples: \|^last training: ' "$dir/$1.out"
}
has status4 "^model: $digest\\.$((v + 1))\$" &&
    [ "$(facts status2)" = "$(facts status4)" ]
t_ok $? "status of the imported model: same profile, thresholds and figures" ||
    show status4

# import of what is not a model
printf 'garbage\n' > "$dir/garbage.blob"
head -c $((size / 2)) "$dir/a.blob" > "$dir/half.blob"
: > "$dir/empty.blob"
for b in garbage half empty; do
    ctl imp$b import "$dir/$b.blob"
    [ "$(rc imp$b)" = 1 ] && err imp$b "$b\\.blob: not a model: "
    t_ok $? "import of $b.blob: exit 1, \"not a model\"" || show imp$b
done
ctl impmiss import "$dir/missing.blob"
[ "$(rc impmiss)" = 1 ] && err impmiss 'missing.blob: No such file'
t_ok $? "import of a missing file: exit 1" || show impmiss
ctl status5 status
has status5 "^model: $digest\\.$((v + 1))\$"
t_ok $? "the rejected imports left model $digest.$((v + 1)) live" ||
    show status5

# reset examples asks first
echo no | ctl resetno reset examples
ctl status6 status
[ "$(rc resetno)" = 1 ] && err resetno 'Type yes' &&
    has status6 '^examples: 40 spam, 40 ham '
t_ok $? "reset examples answered \"no\": exit 1, examples kept" ||
    { show resetno; show status6; }
ctl reseteof reset examples < /dev/null
ctl status7 status
[ "$(rc reseteof)" = 1 ] && has status7 '^examples: 40 spam, 40 ham '
t_ok $? "reset examples with no answer (EOF): exit 1, examples kept" ||
    show reseteof
echo yes | ctl resetyes reset examples
ctl status8 status
[ "$(rc resetyes)" = 0 ] && has resetyes '^dropped all stored examples$' &&
    has status8 '^examples: 0 spam, 0 ham ' &&
    has status8 "^model: $digest\\.$((v + 1))\$"
t_ok $? "reset examples answered \"yes\": examples gone, the model kept" ||
    { show resetyes; show status8; }

# exit codes
ctl unknown frobnicate
[ "$(rc unknown)" = 64 ] &&
    err unknown '^neural-milter-ctl: unknown command frobnicate$'
t_ok $? "unknown command: exit 64 and says so" || show unknown
ctl noargs export
[ "$(rc noargs)" = 64 ]
t_ok $? "export without a file: exit 64 (usage)" || show noargs
"$NM_CTL" -c "$dir/missing.ini" status > /dev/null 2> "$dir/noini.err"
[ $? = 78 ] && grep -q 'missing.ini' "$dir/noini.err"
t_ok $? "a missing -c file: exit 78 (EX_CONFIG)"

# Redis down: status says so, exits 0; score and learn fail
nm_redis_stop
ctl status9 status
has status9 '^examples: unknown \(Redis unreachable\)$' &&
    has status9 '^model: none$'
t_ok $? "status with Redis down: examples unknown" || show status9
ctl learndown learn spam "$dir/msg/spam/spam-001.eml"
[ "$(rc learndown)" = 1 ]
t_ok $? "learn with Redis down: exit 1" || show learndown
[ $n -eq 41 ] || echo "# ran $n tests, planned 41"
