#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# package_test.sh BUILD_DIR SOURCE_DIR
#
# The Debian packages as an administrator meets them:
#   1. cpack builds kabar, libkabar0 and libkabar-dev;
#   2. lintian reports no error on them;
#   3. they install (dpkg -i), and systemd-analyze verify accepts the
#      installed kabard.service;
#   4. kabard runs as the unit runs it and answers /healthz, and the
#      installed kabar and libkabar-dev work. systemd is not always PID 1
#      (containers, CI), so kabard is started directly with the unit's
#      ExecStart and environment (Environment=, then EnvironmentFile=), as
#      an unprivileged user with no new privileges and umask 0077 in a 0700
#      state directory of its own, as DynamicUser= and StateDirectory= would
#      have it; only the port is changed, to a free one;
#   5. removing them (dpkg -r) leaves only the conffile, purging (dpkg -P)
#      leaves no file of theirs.
# Needs root: exits 77 (ctest: skipped) otherwise, or when kabar is already
# installed on this machine (the test will not replace someone's install).
set -eu

build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
pkgs="kabar libkabar0 libkabar-dev"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: the package test installs packages and needs root"
    exit 77
fi
for p in $pkgs; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed"; then
        echo "SKIP: $p is already installed on this machine; not touching it"
        exit 77
    fi
done

# One package test at a time on this machine (several build trees may run it).
exec 9>/run/lock/kabar-package-test.lock
flock 9

work=$(mktemp -d "${TMPDIR:-/tmp}/kabar-package-XXXXXX")
kabard_pid=""
installed=no
cleanup() {
    [ -z "$kabard_pid" ] || kill "$kabard_pid" 2>/dev/null || true
    if [ "$installed" = yes ]; then
        dpkg_wait -P $pkgs >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# dpkg, waiting while another dpkg or apt holds the lock (other builds on
# the machine may be installing); bounded.
dpkg_wait() {
    n=0
    while ! dpkg "$@" >"$work/dpkg.out" 2>&1; do
        if grep -q "lock" "$work/dpkg.out" && [ "$n" -lt 600 ]; then
            n=$((n + 1))
            sleep 1
            continue
        fi
        cat "$work/dpkg.out"
        return 1
    done
    cat "$work/dpkg.out"
}

# The paths read from stdin that exist.
existing() {
    while read -r f; do
        if [ -e "$f" ] || [ -L "$f" ]; then echo "$f"; fi
    done
}

fail() {
    echo "FAIL: $*"
    exit 1
}

# --- 1. build ------------------------------------------------------------------
rm -rf "$build/packages"
(cd "$build" && cpack -G DEB >"$work/cpack.log" 2>&1) || { cat "$work/cpack.log"; fail "cpack"; }
debs=""
for p in $pkgs; do
    f=$(ls "$build/packages/${p}_"*.deb 2>/dev/null | head -n 1)
    [ -n "$f" ] || fail "cpack made no $p package"
    debs="$debs $f"
done
echo "ok: built$debs"

# --- 2. lintian ----------------------------------------------------------------
# shellcheck disable=SC2086
# (lintian leaves scratch files in TMPDIR: give it one that goes away.)
mkdir "$work/lintian-tmp"
TMPDIR=$work/lintian-tmp lintian --fail-on error $debs >"$work/lintian.log" 2>&1 || {
    cat "$work/lintian.log"; fail "lintian reports errors"; }
echo "ok: lintian: no errors ($(grep -c '^W:' "$work/lintian.log" || true) warnings)"

# --- 3. install, verify the unit -----------------------------------------------
installed=yes
# shellcheck disable=SC2086
dpkg_wait -i $debs >"$work/install.log" 2>&1 || {
    cat "$work/install.log"; fail "the packages do not install"; }
for p in $pkgs; do
    dpkg-query -W -f='${Status}\n' "$p" | grep -q "install ok installed" || fail "$p not installed"
done
unit=$(dpkg -L kabar | grep '/systemd/system/kabard.service$') || fail "no kabard.service in kabar"
envfile=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$unit")
[ -f "$envfile" ] || fail "the unit's environment file $envfile is not installed"
systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || {
    cat "$work/verify.log"; fail "systemd-analyze verify rejects $unit"; }
[ ! -s "$work/verify.log" ] || { cat "$work/verify.log"; fail "systemd-analyze verify warns"; }
for key in DynamicUser=yes StateDirectory=kabar ProtectSystem=strict NoNewPrivileges=yes; do
    grep -qx "$key" "$unit" || fail "$unit lacks $key"
done
echo "ok: installed; systemd-analyze verify accepts $unit"
if systemd-analyze security --help 2>/dev/null | grep -q -- --offline; then
    systemd-analyze security --offline=true "$unit" 2>/dev/null | tail -n 1 | sed 's/^/    /' || true
fi
for page in kabard.8 kabar.1 libkabar.3; do
    man -w "${page%.*}" >/dev/null 2>&1 || ls /usr/share/man/man*/"$page".gz >/dev/null ||
        fail "manual page $page not installed"
done
for f in /usr/share/bash-completion/completions/kabar /usr/share/zsh/vendor-completions/_kabar \
         /usr/share/fish/vendor_completions.d/kabar.fish; do
    [ -s "$f" ] || fail "completion $f not installed"
done

# --- 4. run kabard as the unit would -------------------------------------------
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
state="$work/state"
mkdir -m 0700 "$state"
chown nobody:nogroup "$state"
chmod 0755 "$work"
port=$(node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# The unit's environment: Environment= lines, then the file's NAME=value lines.
{
    sed -n 's/^Environment=//p' "$unit"
    grep -E '^[A-Z_][A-Z0-9_]*=' "$envfile" || true
    echo "KABAR_DATA_DIR=$state"       # StateDirectory= (here, not /var/lib)
    echo "KABAR_LISTEN=127.0.0.1:$port"
} >"$work/env"
# shellcheck disable=SC2046
(umask 0077 && exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $(cat "$work/env") \
    setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs \
    $exec_start) >"$work/kabard.log" 2>&1 &
kabard_pid=$!
# Wait for the condition (an answer), bounded; a dead kabard ends it at once.
i=0
until curl -fsS -o "$work/healthz" "http://127.0.0.1:$port/healthz" 2>/dev/null; do
    kill -0 "$kabard_pid" 2>/dev/null || { cat "$work/kabard.log"; fail "kabard exited"; }
    i=$((i + 1))
    [ "$i" -lt 200 ] || { cat "$work/kabard.log"; fail "kabard did not answer /healthz"; }
    sleep 0.05
done
grep -q '"ok"' "$work/healthz" || fail "/healthz said: $(cat "$work/healthz")"
[ "$(stat -c %a "$state/api-key")" = 600 ] || fail "api-key is not 0600"
[ "$(stat -c %U "$state/api-key")" = nobody ] || fail "api-key is not the service user's"
KABAR_DATA_DIR=$state /usr/bin/kabar --server "http://127.0.0.1:$port" webhooks list \
    >"$work/cli.log" 2>&1 || { cat "$work/cli.log"; fail "the installed kabar cannot list webhooks"; }
echo "ok: kabard (as nobody, the unit's environment) answers /healthz; kabar talks to it"
# The web UI is inside the installed kabard: the page, with its policy, and
# the script it names.
curl -fsS -D "$work/ui.headers" -o "$work/ui.html" "http://127.0.0.1:$port/" ||
    fail "the installed kabard serves no web UI at /"
grep -qi "^content-security-policy: default-src 'none'" "$work/ui.headers" ||
    fail "the web UI is served without its Content-Security-Policy"
asset=$(sed -n 's|.*src="\(/assets/[0-9a-f]*/app\.js\)".*|\1|p' "$work/ui.html")
[ -n "$asset" ] || fail "the web UI's page names no /assets/HASH/app.js"
curl -fsS -o /dev/null "http://127.0.0.1:$port$asset" || fail "the installed kabard does not serve $asset"
echo "ok: the installed kabard serves the web UI and its assets"
# libkabar-dev as a receiver's build uses it: pkg-config, header, shared library.
[ "$(pkg-config --variable=prefix kabar)" = /usr ] ||
    fail "kabar.pc names the prefix $(pkg-config --variable=prefix kabar), not /usr"
# shellcheck disable=SC2046
cc -Wall -Werror -o "$work/receiver" "$src/tests/examples/receiver_example.c" \
    $(pkg-config --cflags --libs kabar) || fail "cannot build against libkabar-dev"
ldd "$work/receiver" >"$work/ldd.log"
libso=$(sed -n 's/.*libkabar\.so\.0 => \([^ ]*\).*/\1/p' "$work/ldd.log")
[ "$(readlink -f "$libso")" = "$(readlink -f "$(dpkg -L libkabar0 | grep 'libkabar\.so\.0$')")" ] ||
    { cat "$work/ldd.log"; fail "the receiver does not use libkabar0's library"; }
echo "ok: a receiver builds with pkg-config kabar and links libkabar.so.0"
kill -TERM "$kabard_pid"
rc=0
wait "$kabard_pid" || rc=$?
kabard_pid=""
[ "$rc" -eq 0 ] || { cat "$work/kabard.log"; fail "kabard exited $rc on SIGTERM"; }

# --- 5. remove, purge ------------------------------------------------------------
for p in $pkgs; do
    dpkg -L "$p" | while read -r f; do
        # Files, links, and directories of kabar's own (not /usr, /usr/bin...).
        if [ ! -d "$f" ] || [ -L "$f" ] || case "$f" in *kabar*) true ;; *) false ;; esac; then
            echo "$f"
        fi
    done
done | sort -u >"$work/owned"
conffiles=$(dpkg-query -W -f='${Conffiles}\n' kabar | awk 'NF { print $1 }')
# shellcheck disable=SC2086
dpkg_wait -r $pkgs >"$work/remove.log" 2>&1 || { cat "$work/remove.log"; fail "dpkg -r"; }
left=$(existing <"$work/owned")
expected=$(printf '%s\n' $conffiles "$(dirname "$envfile")" | sort -u)
[ "$(printf '%s\n' $left | sort -u)" = "$expected" ] ||
    fail "after removal, expected only the conffiles; left: $left"
# shellcheck disable=SC2086
dpkg_wait -P $pkgs >"$work/purge.log" 2>&1 || { cat "$work/purge.log"; fail "dpkg -P"; }
installed=no
left=$(existing <"$work/owned")
[ -z "$left" ] || fail "after purge, left: $left"
for p in $pkgs; do
    ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "installed" || fail "$p still known"
done
echo "ok: removal keeps only $conffiles; purge leaves nothing"
