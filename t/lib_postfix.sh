# SPDX-License-Identifier: BSD-2-Clause
# lib_postfix.sh - sourced after t/lib.sh: a private Postfix instance for
# end-to-end tests. No chroot, smtpd on a free loopback port, relay to an
# smtp-sink on another free port, logs to a file, and nothing in
# /etc/postfix changed. Postfix's own processes run as user postfix, so
# its files live in a world-traversable directory under /tmp.

# nm_postfix_need: set POSTFIX, SMTP_SINK and SWAKS (the environment's, or
# found on PATH); "1..0 # SKIP ..." and exit 77 when one is missing or we
# are not root (Postfix's master needs it)
nm_postfix_need() {
    POSTFIX=${POSTFIX:-$(command -v postfix || echo /usr/sbin/postfix)}
    SMTP_SINK=${SMTP_SINK:-$(command -v smtp-sink || echo /usr/sbin/smtp-sink)}
    SWAKS=${SWAKS:-$(command -v swaks)}
    for p in "$POSTFIX" "$SMTP_SINK" "$SWAKS"; do
        if [ -z "$p" ] || [ ! -x "$p" ]; then
            echo "1..0 # SKIP postfix, smtp-sink or swaks missing"
            exit 77
        fi
    done
    if [ "$(id -u)" != 0 ]; then
        echo "1..0 # SKIP needs root to start a private Postfix"
        exit 77
    fi
}

# nm_port_busy PORT: true when something listens on TCP PORT
nm_port_busy() {
    hex=$(printf '%04X' "$1")
    cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
        awk -v h=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == h { f = 1 }
            END { exit !f }'
}

# nm_free_port [FROM]: echo a TCP port nobody listens on, FROM or above
# (default: one derived from our pid, so parallel tests differ)
nm_free_port() {
    p=${1:-$(( 20000 + ($$ * 7) % 30000 ))}
    while nm_port_busy "$p"; do p=$((p + 1)); done
    echo "$p"
}

# nm_postfix_init: make the instance directory NM_PF_DIR (dumps of
# delivered mail will land in $NM_PF_DIR/sink)
nm_postfix_init() {
    NM_PF_DIR=$(mktemp -d /tmp/nm-postfix.XXXXXX)
    chmod 755 "$NM_PF_DIR"
    nm_track_dir "$NM_PF_DIR"
}

# nm_postfix_start MILTERS: start smtp-sink and Postfix with
# smtpd_milters = MILTERS. Sets NM_SMTPD_PORT and NM_SINK_PORT.
nm_postfix_start() {
    d=$NM_PF_DIR
    mkdir -p "$d/etc" "$d/queue" "$d/data" "$d/sink"
    chown postfix "$d/data" "$d/sink"
    NM_SMTPD_PORT=$(nm_free_port)
    NM_SINK_PORT=$(nm_free_port $((NM_SMTPD_PORT + 1)))
    cat > "$d/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.example.test
mydomain = example.test
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:$NM_SINK_PORT
smtp_dns_support_level = disabled
smtp_host_lookup = native
alias_maps =
alias_database =
local_recipient_maps =
biff = no
smtputf8_enable = no
maillog_file = $d/maillog
maillog_file_prefixes = $d
smtpd_milters = $1
milter_default_action = accept
milter_protocol = 6
milter_command_timeout = 10s
CF
    cat > "$d/etc/master.cf" <<CF
127.0.0.1:$NM_SMTPD_PORT inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
CF
    (cd "$d/sink" && "$SMTP_SINK" -u postfix -d "$d/sink/%M." \
        "127.0.0.1:$NM_SINK_PORT" 100 > "$d/sink.log" 2>&1) &
    nm_track $!
    # The port was free when drawn, but a test running beside this one
    # may bind it before master does: then draw another (a few times).
    _nm_try=1
    until "$POSTFIX" -c "$d/etc" start > "$d/start.log" 2>&1; do
        if [ $_nm_try -lt 5 ] && grep -q 'Address already in use' \
            "$d/start.log" "$d/maillog" 2>/dev/null; then
            NM_SMTPD_PORT=$(nm_free_port $((1000 + _nm_try)))
            sed -i "1s/^127\.0\.0\.1:[0-9]*/127.0.0.1:$NM_SMTPD_PORT/" \
                "$d/etc/master.cf"
            : > "$d/maillog"
            _nm_try=$((_nm_try + 1))
            continue
        fi
        echo "# postfix start failed: $(cat "$d/start.log" "$d/maillog" 2>/dev/null)"
        break
    done
    NM_PF_STARTED=$d
    nm_wait_for "nm_port_busy $NM_SMTPD_PORT" 200 ||
        echo "# postfix smtpd not listening: $(cat "$d/maillog" 2>/dev/null)"
    nm_wait_for "nm_port_busy $NM_SINK_PORT" 100 ||
        echo "# smtp-sink not listening: $(cat "$d/sink.log")"
}

# nm_postfix_stop: stop the instance (nm_cleanup calls it too)
nm_postfix_stop() {
    if [ -n "${NM_PF_STARTED:-}" ]; then
        "$POSTFIX" -c "$NM_PF_STARTED/etc" stop > /dev/null 2>&1
        NM_PF_STARTED=
    fi
}
