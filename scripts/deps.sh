#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Install what kabar needs to build, run and test on Debian 12, only when
# something is missing. Needs root (or sudo) the first time.
set -eu

PKGS="build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev
libsqlite3-dev libssl-dev libcurl4-openssl-dev libpq-dev libjose-dev
libcmocka-dev clang libclang-rt-14-dev postgresql postgresql-client nodejs npm
scdoc lintian systemd fakeroot dpkg-dev file curl zsh fish chromium sqlite3"

missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
        # nodejs may come from elsewhere (NodeSource, nvm); accept a working node.
        case "$p" in
        nodejs|npm) command -v "$p" >/dev/null 2>&1 && continue ;;
        esac
        missing="$missing $p"
    fi
done

if [ -n "$missing" ]; then
    echo "kabar: installing:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing
fi
