#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
# deb.sh - the Debian package of debian/: dpkg-buildpackage builds it from
# the checkout's files, lintian finds no error, dpkg -i puts every file
# where it belongs and creates the system user, the ini is a conffile and
# passes -t, the installed daemon listens on the package's socket as the
# package's user and reaches a private Redis, dpkg -r keeps the conffile,
# dpkg -P leaves nothing (files, /etc/neural-milter with an admin's file
# in it, /run/neural-milter, the unit's enablement, the user and group).
#
# Needs root, dpkg-buildpackage, debhelper, lintian, adduser and the build
# dependencies (skips without them). Skips in make distcheck's tree
# (no git checkout to take the files from) and in a sanitizer build (the
# package is built with Debian's flags from the same files, so the
# ordinary build's run covers it). Runs are serialised machine-wide (the
# package is installed system-wide); a machine that already has the
# package, its user or its directories is left alone (Bail out). An exit
# trap purges whatever the run installed, even after a failure.
. "$top_srcdir/t/lib.sh"

pkg=neural-milter
ini=/etc/neural-milter/neural-milter.ini
rundir=/run/neural-milter
sock=$rundir/neural-milter.sock
chroot_dir=/var/spool/postfix/neural-milter
wants=/etc/systemd/system/multi-user.target.wants/neural-milter.service
dsh_state=/var/lib/systemd/deb-systemd-helper-enabled
replay=$top_builddir/contrib/bench/nm-replay
sample=$top_srcdir/contrib/samples/rspamd-spam.eml

# deb_skip REASON - skip the whole test. automake's TAP driver counts a
# "1..0 # SKIP" plan as skipped only when the script exits 0 (77, as
# nm_need_cmd exits, is an ERROR there), and this test skips in every
# make distcheck.
deb_skip() {
    echo "1..0 # SKIP $*"
    exit 0
}

[ "$(id -u)" = 0 ] || deb_skip "not root (dpkg -i)"
for c in git dpkg dpkg-query dpkg-buildpackage dpkg-checkbuilddeps dh \
    lintian adduser deluser flock tar; do
    command -v "$c" > /dev/null 2>&1 || deb_skip "$c missing"
done
top=$(cd "$top_srcdir" && pwd -P)
if [ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" != "$top" ]
then
    deb_skip "$top is not a git checkout (make distcheck's tree):" \
        "the package is built from a checkout's files"
fi
if grep -q '^SAN_CFLAGS = .*-fsanitize' "$top_builddir/Makefile" 2>/dev/null
then
    deb_skip "sanitizer build: the package does not depend on the" \
        "build's flavour, the ordinary build tests it"
fi

ver=$(sed -n 's/^AC_INIT(\[neural-milter\], \[\([^]]*\)\].*/\1/p' \
    "$top/configure.ac")
arch=$(dpkg --print-architecture)
dir=$(nm_tmpdir deb)
src=$dir/src/$pkg-$ver
deb=$dir/src/${pkg}_${ver}_$arch.deb
mkdir -p "$src" || exit 1

# The tracked files plus new ones not ignored (what the next commit would
# hold), so the build dirs and their artefacts stay out; a tracked file
# deleted in the work tree is only warned about.
git -C "$top" ls-files -z -c -o --exclude-standard |
    (cd "$top" && tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
    tar -xf - -C "$src" || { echo "Bail out! cannot copy $top"; exit 1; }
if ! (cd "$src" && dpkg-checkbuilddeps) > "$dir/builddeps.out" 2>&1; then
    deb_skip "build dependencies missing:" \
        "$(sed -n 's/.*Unmet build dependencies: //p' "$dir/builddeps.out")"
fi

# deb_dpkg ARGS... - dpkg ARGS, output appended to dpkg.log; retried for
# up to 2 min while another dpkg or apt (another user's) holds its lock
deb_dpkg() {
    _d=0
    while :; do
        echo "== dpkg $*" >> "$dir/dpkg.log"
        DEBIAN_FRONTEND=noninteractive dpkg "$@" > "$dir/dpkg.out" 2>&1
        _rc=$?
        cat "$dir/dpkg.out" >> "$dir/dpkg.log"
        [ $_rc = 0 ] && return 0
        grep -q '^dpkg: error: .*lock' "$dir/dpkg.out" || return $_rc
        _d=$((_d + 1))
        [ $_d -ge 1200 ] && return $_rc
        nm_sleep_tenth
    done
}

# deb_status - dpkg's status of the package ("installed", "config-files",
# "not-installed", ...)
deb_status() {
    _s=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)
    echo "${_s:-not-installed}"
}

# deb_left - print what of the package is still on the machine (nothing
# after a purge): the files dpkg -L listed, the directories, the unit's
# enablement, the user and the group
deb_left() {
    if [ -f "$dir/files" ]; then
        while read -r _f; do
            [ -e "$_f" ] || [ -L "$_f" ] && echo "$_f"
        done < "$dir/files"
    fi
    for _f in /etc/neural-milter "$rundir" "$chroot_dir" "$wants" \
        /usr/share/doc/$pkg "$dsh_state/$pkg.service" \
        "$dsh_state/multi-user.target.wants/$pkg.service"; do
        [ -e "$_f" ] || [ -L "$_f" ] && echo "$_f"
    done
    getent passwd $pkg > /dev/null && echo "user $pkg"
    getent group $pkg > /dev/null && echo "group $pkg"
}

# deb_uid_is PID UID - PID runs with real uid UID
deb_uid_is() {
    [ "$(awk '/^Uid:/ { print $2 }' "/proc/$1/status" 2>/dev/null)" = "$2" ]
}

# deb_redis_clients_ge N - the private Redis has at least N clients (the
# asking redis-cli is one)
deb_redis_clients_ge() {
    _c=$(redis-cli -s "$NM_REDIS_SOCK" info clients |
        sed -n 's/^connected_clients:\([0-9]*\).*/\1/p')
    [ "${_c:-0}" -ge "$1" ]
}

# deb_rundir_live - a daemon uses /run/neural-milter: a socket below it is
# listening, or its pid file names a live process
deb_rundir_live() {
    grep -q " $rundir/" /proc/net/unix && return 0
    _p=$(cat "$rundir/neural-milter.pid" 2>/dev/null)
    [ -n "$_p" ] && kill -0 "$_p" 2>/dev/null
}

# deb_cleanup - the exit trap: stop the daemon, purge whatever this run
# installed (by hand where the package's own purge did not), put back a
# stale /run/neural-milter moved aside at the start
installed=
saved=
deb_cleanup() {
    for _p in $NM_PIDS; do
        kill "$_p" 2>/dev/null
        wait "$_p" 2>/dev/null
    done
    NM_PIDS=
    if [ -n "$installed" ]; then
        [ "$(deb_status)" != not-installed ] && deb_dpkg -P "$pkg"
        rm -rf /etc/neural-milter "$rundir" "$wants" \
            "$dsh_state/$pkg.service" \
            "$dsh_state/multi-user.target.wants/$pkg.service"
        rmdir "$chroot_dir" 2>/dev/null
        getent passwd $pkg > /dev/null && userdel $pkg
        getent group $pkg > /dev/null && groupdel $pkg
    fi
    if [ -n "$saved" ] && [ -d "$saved" ]; then
        rm -rf "$rundir"
        mv "$saved" "$rundir"
    fi
    nm_cleanup
}
trap deb_cleanup EXIT

echo "1..25"

# 1-2: build, lint. make check's MAKEFLAGS (jobserver, TESTS=...) must
# not reach debian/rules.
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
    DEB_BUILD_OPTIONS="nocheck parallel=2" \
    sh -c 'cd "$1" && dpkg-buildpackage -us -uc -b' sh "$src" \
    > "$dir/build.log" 2>&1
[ $? = 0 ] && [ -f "$deb" ]
if ! t_ok $? "dpkg-buildpackage builds $(basename "$deb")"; then
    tail -n 20 "$dir/build.log" | sed 's/^/#   /'
    echo "Bail out! no package to test"
    exit 1
fi
lintian "$deb" > "$dir/lintian.out" 2>&1
[ $? = 0 ] && ! grep -q '^E: ' "$dir/lintian.out"
t_ok $? "lintian: no error"
grep '^[EWIP]: ' "$dir/lintian.out" | sed 's/^/#   /'

# From here on the machine's state: one run at a time, and nothing of the
# package there before (or the purge would take an admin's files along).
# The lock is on a directory that always exists (no lock file is left);
# dpkg itself locks files in it with fcntl, which does not interfere.
# The servers started below do not inherit the lock (9<&-).
exec 9< /var/lib/dpkg
if ! flock -w 300 9; then
    echo "Bail out! another deb.sh has held the lock for 5 minutes"
    exit 1
fi
# A /run/neural-milter that a daemon run by hand left (the default ini's
# pid file) goes aside for the run and comes back at the end; one in use
# stays where it is.
if [ -d "$rundir" ] && [ ! -L "$rundir" ]; then
    if deb_rundir_live; then
        echo "Bail out! a neural-milter runs on $rundir, not touching it"
        exit 1
    fi
    saved=$rundir.deb-test.$$
    if ! mv "$rundir" "$saved"; then
        saved=
        echo "Bail out! cannot move $rundir aside"
        exit 1
    fi
    echo "# $rundir (stale, from a daemon run by hand) moved aside to" \
        "$saved until the end"
fi
before=$(deb_left)
if [ "$(deb_status)" != not-installed ] || [ -n "$before" ]; then
    echo "Bail out! $pkg is already on this machine, not touching it:" \
        "$(deb_status)" $before
    exit 1
fi

# 3-12: install; where things are
installed=1
deb_dpkg -i "$deb"
t_ok $? "dpkg -i (systemd is not PID 1 here: the postinst must not fail)" ||
    sed 's/^/#   /' "$dir/dpkg.out"
dpkg -L "$pkg" > "$dir/list"
while read -r f; do
    [ -d "$f" ] || echo "$f"
done < "$dir/list" > "$dir/files"
# has PATH - dpkg -L lists PATH (or PATH.gz) and it is there
has() {
    for _h in "$1" "$1.gz"; do
        grep -qx "$_h" "$dir/files" && [ -f "$_h" ] && return 0
    done
    echo "#   missing: $1"
    return 1
}
has /usr/sbin/neural-milter && has /usr/bin/neural-milter-ctl &&
    [ -x /usr/sbin/neural-milter ] && [ -x /usr/bin/neural-milter-ctl ]
t_ok $? "the daemon in /usr/sbin, the admin tool in /usr/bin"
has /usr/share/man/man8/neural-milter.8 &&
    has /usr/share/man/man8/neural-milter-ctl.8 &&
    has /usr/share/man/man5/neural-milter.ini.5
t_ok $? "man pages neural-milter(8), neural-milter-ctl(8), neural-milter.ini(5)"
ok=0
has /usr/share/doc/$pkg/README.md || ok=1
has /usr/share/doc/$pkg/copyright || ok=1
for d in postfix sendmail rspamd spamassassin systemd dovecot README.md; do
    [ -e "$src/contrib/$d" ] || continue
    for f in $(cd "$src/contrib" && find "$d" -type f); do
        has "/usr/share/doc/$pkg/examples/$f" || ok=1
    done
done
t_ok $ok "README.md, copyright and the contrib snippets under /usr/share/doc/$pkg/examples"
has /lib/systemd/system/neural-milter.service &&
    cmp -s /lib/systemd/system/neural-milter.service \
        "$src/contrib/systemd/neural-milter.service" &&
    has /usr/lib/tmpfiles.d/neural-milter.conf &&
    cmp -s /usr/lib/tmpfiles.d/neural-milter.conf \
        "$src/contrib/systemd/neural-milter.tmpfiles"
t_ok $? "the systemd unit and the tmpfiles entry, as in contrib/systemd"
[ -L "$wants" ]
t_ok $? "the unit is enabled (multi-user.target.wants)"
if command -v systemd-analyze > /dev/null 2>&1; then
    systemd-analyze verify --man=no /lib/systemd/system/neural-milter.service \
        > "$dir/verify.out" 2>&1
    t_ok $? "systemd-analyze verify on the installed unit" ||
        sed 's/^/#   /' "$dir/verify.out"
else
    echo "ok $((n = n + 1)) # SKIP systemd-analyze missing"
fi
pw=$(getent passwd $pkg)
uid=$(echo "$pw" | cut -d: -f3)
[ -n "$pw" ] && [ "$uid" -lt 1000 ] &&
    [ "$(echo "$pw" | cut -d: -f6)" = /nonexistent ] &&
    [ ! -e /nonexistent ] && getent group $pkg > /dev/null &&
    [ "$(id -gn $pkg)" = $pkg ]
t_ok $? "system user and group $pkg (home /nonexistent): $pw"
dpkg-query -W -f='${Conffiles}\n' "$pkg" | grep -q "^ $ini [0-9a-f]\{32\}$"
t_ok $? "$ini is a conffile"
# The upstream ini but for [milter] user and group (and their comments).
grep -v '^# Debian: ' "$ini" |
    sed 's/^user = neural-milter$/user =/; s/^group = neural-milter$/group =/' |
    cmp -s - "$src/etc/neural-milter.ini" &&
    grep -qx 'user = neural-milter' "$ini" &&
    grep -qx 'group = neural-milter' "$ini" &&
    grep -qx "socket = unix:$sock" "$ini"
t_ok $? "the packaged ini is upstream's with user and group $pkg"

# 13-14: the installed programs
/usr/sbin/neural-milter -t -c "$ini" > "$dir/t.out" 2>&1
t_ok $? "neural-milter -t -c $ini exits 0" || sed 's/^/#   /' "$dir/t.out"
/usr/sbin/neural-milter -V | grep -qx "neural-milter $ver"
t_ok $? "neural-milter -V says $ver"

# 15-20: the installed daemon on the packaged ini, Redis pointed at a
# private one. Without systemd nothing made /run/neural-milter: the daemon
# makes it for its user (under systemd RuntimeDirectory= does, root's).
if command -v "${REDIS_SERVER:-redis-server}" > /dev/null 2>&1 &&
    command -v redis-cli > /dev/null 2>&1; then
    # In /tmp: the daemon, once it is neural-milter, must reach the socket.
    rdir=$(mktemp -d /tmp/nm-deb.XXXXXX)
    nm_track_dir "$rdir"
    chmod 755 "$rdir"
    nm_redis_start "$rdir" 9<&-
    chmod 666 "$NM_REDIS_SOCK"
    sed -e "s|^servers = .*|servers = $NM_REDIS_SOCK|" \
        -e 's|^watch_interval = .*|watch_interval = 200ms|' "$ini" \
        > "$rdir/nm.ini"
    /usr/sbin/neural-milter -f -c "$rdir/nm.ini" 2> "$dir/daemon.log" 9<&- &
    pid=$!
    nm_track "$pid"
    nm_wait_for "test -S $sock" 100
    t_ok $? "the daemon listens on $sock"
    nm_wait_for "deb_uid_is $pid $uid" 50 &&
        [ "$(stat -c %U:%G "$rundir")" = "$pkg:$pkg" ] &&
        [ "$(stat -c %G:%a "$sock")" = "$pkg:770" ]
    t_ok $? "runs as $pkg; $rundir is $pkg's, the socket group $pkg mode 0770" ||
        ls -ld "$rundir" "$sock" | sed 's/^/#   /'
    nm_wait_for "deb_redis_clients_ge 2" 100
    t_ok $? "reaches the private Redis as $pkg"
    if [ -x "$replay" ]; then
        "$replay" -s "unix:$sock" "$sample" 2> /dev/null |
            grep -q 'upstream=rspamd; score=9.00;'
        t_ok $? "answers on the socket: upstream=rspamd score=9.00"
    else
        echo "ok $((n = n + 1)) # SKIP $replay not built"
    fi
    kill -TERM "$pid"
    nm_wait_for "! kill -0 $pid" 100
    wait "$pid"
    t_ok $? "SIGTERM stops it, exit 0"
    [ ! -e "$sock" ] && [ ! -e "$rundir/neural-milter.pid" ] &&
        ! grep -q 'cannot remove' "$dir/daemon.log"
    t_ok $? "it removed its socket and pid file" ||
        sed 's/^/#   /' "$dir/daemon.log"
    nm_redis_stop
else
    for t in "listens" "runs as" "Redis" "answers" "stops" "removes"; do
        echo "ok $((n = n + 1)) # SKIP redis-server or redis-cli missing"
    done
fi

# 21-22: remove keeps the configuration
echo "# the admin's" > /etc/neural-milter/local.ini
deb_dpkg -r "$pkg"
[ $? = 0 ] && [ "$(deb_status)" = config-files ] && [ ! -e /usr/sbin/neural-milter ]
t_ok $? "dpkg -r removes the programs" || sed 's/^/#   /' "$dir/dpkg.out"
[ -f "$ini" ] && getent passwd $pkg > /dev/null
t_ok $? "dpkg -r keeps the conffile and the user"

# 23-25: purge leaves nothing
deb_dpkg -P "$pkg"
[ $? = 0 ] && [ "$(deb_status)" = not-installed ]
t_ok $? "dpkg -P" || sed 's/^/#   /' "$dir/dpkg.out"
left=$(deb_left | grep -v '^user \|^group ')
[ -z "$left" ]
t_ok $? "nothing is left: no file of dpkg -L, no /etc/neural-milter, $rundir or unit enablement" ||
    echo "$left" | sed 's/^/#   left: /'
! getent passwd $pkg > /dev/null && ! getent group $pkg > /dev/null
t_ok $? "the user and group $pkg are gone"
exit 0
