# SPDX-License-Identifier: BSD-2-Clause
#
# t/e2e/lib_model.sh - sourced by the e2e tests that need a trained model
# (after t/lib.sh): synthetic Rspamd messages and a small trained network.
#   nm_synth DIR N      write N spam (DIR/spam/) and N ham (DIR/ham/)
#                       messages; spam fires some of SPAMSYM_1..8, ham
#                       some of HAMSYM_1..8, in Rspamd 3.x's folded form
#   nm_model_build INI DIR
#                       learn DIR/spam and DIR/ham through neural-milter-ctl
#                       and train; prints nothing, returns ctl's status
# NM_CTL names neural-milter-ctl (default: the build's).

: "${NM_CTL:=$top_builddir/src/neural-milter-ctl}"

# nm_synth_one FILE CLASS I - one message; its symbols and scores depend
# on I, and the total is their exact sum (consistent, as Rspamd writes it)
nm_synth_one() {
    awk -v cls="$2" -v i="$3" 'BEGIN {
        pre = cls == "spam" ? "SPAMSYM_" : "HAMSYM_"
        n = 0
        for (k = 1; k <= 8; k++) {
            # symbol 1 always fires, the others in about 4 of 5 messages;
            # scores vary a little, so every message is a distinct example
            if (k > 1 && (i * 7 + k * k * 3) % 5 == 0)
                continue
            s = (k % 3 + 1) * 0.5 + ((i * k) % 7) * 0.1
            s = cls == "spam" ? 3 * s : -s
            name[++n] = pre k
            sc[n] = s
            tot += s
        }
        if (cls == "spam") {
            act = "reject"; flag = "True"
        } else {
            act = "no action"; flag = "False"
        }
        printf "X-Spamd-Result: default: %s [%.2f / 15.00];\n", flag, tot
        for (k = 1; k <= n; k++)
            printf "\t%s(%.2f)[]%s\n", name[k], sc[k], k < n ? ";" : ""
        printf "X-Rspamd-Action: %s\n", act
        printf "From: sender%d@example.org\nTo: user@example.net\n", i
        printf "Subject: synthetic %s %d\n", cls, i
        printf "Message-ID: <%s-%d@example.org>\n\nHello %d.\n", cls, i, i
    }' > "$1"
}

# nm_synth DIR N - N messages of each class
nm_synth() {
    mkdir -p "$1/spam" "$1/ham" || return 1
    _nm_i=1
    while [ "$_nm_i" -le "$2" ]; do
        _nm_n=$(printf '%03d' "$_nm_i")
        nm_synth_one "$1/spam/spam-$_nm_n.eml" spam "$_nm_i"
        nm_synth_one "$1/ham/ham-$_nm_n.eml" ham "$_nm_i"
        _nm_i=$((_nm_i + 1))
    done
}

# nm_model_build INI DIR - learn both classes and train
nm_model_build() {
    "$NM_CTL" -c "$1" learn spam "$2/spam" >/dev/null &&
        "$NM_CTL" -c "$1" learn ham "$2/ham" >/dev/null &&
        "$NM_CTL" -c "$1" train >/dev/null
}

# nm_synth_wide DIR N K SEED [POOL] - N spam and N ham messages
# (DIR/spam/, DIR/ham/) of K symbols each, drawn from pools of POOL
# (default 4K) per class plus K shared ones, in one awk run: many
# examples with many inputs, for trainings that take seconds and a few
# dozen MiB
nm_synth_wide() {
    mkdir -p "$1/spam" "$1/ham" || return 1
    awk -v dir="$1" -v n="$2" -v k="$3" -v seed="$4" -v pool="${5:-0}" \
        'BEGIN {
        if (pool < 1)
            pool = 4 * k
        srand(seed)
        for (c = 0; c < 2; c++) {
            cls = c ? "spam" : "ham"
            for (i = 1; i <= n; i++) {
                f = sprintf("%s/%s/%s-w%d-%05d.eml", dir, cls, cls, seed, i)
                tot = 0
                delete used
                m = 0
                while (m < k) {
                    if (rand() < 0.3)
                        name = sprintf("WIDE_%d", int(rand() * k))
                    else
                        name = sprintf("%s_%d", c ? "SPW" : "HMW",
                                       int(rand() * pool))
                    if (name in used)
                        continue
                    used[name] = 1
                    sc = int(rand() * 200) / 100
                    sc = c ? sc : -sc
                    nm[++m] = name
                    s[m] = sc
                    tot += sc
                }
                printf "X-Spamd-Result: default: %s [%.2f / 15.00];\n",
                    c ? "True" : "False", tot > f
                for (j = 1; j <= m; j++)
                    printf "\t%s(%.2f)[]%s\n", nm[j], s[j],
                        j < m ? ";" : "" > f
                printf "X-Rspamd-Action: %s\n", c ? "reject" : "no action" > f
                printf "Subject: wide %s %d\nMessage-ID: <w%d-%s-%d@ex>\n\n" \
                    "Hi.\n", cls, i, seed, cls, i > f
                close(f)
            }
        }
    }'
}
