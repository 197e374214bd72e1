#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# man_test.sh KABAR SOURCE_DIR
#
# The manual pages stay true to the tools: kabar(1) names every command
# group of kabar's command table (read from the fish completion, which is
# generated from it), and kabard(8) every option of kabard --help; each page
# renders with man(1) without a warning.
set -u

kabar=$1
src=$2
fails=0

for g in $("$kabar" completion fish | sed -n 's/^complete -c kabar -n __fish_use_subcommand -a \([^ ]*\) .*/\1/p'); do
    grep -q "^\*$g[* ]" "$src/docs/man/kabar.1.scd" ||
        { echo "FAIL: kabar(1) does not describe the command group '$g'"; fails=$((fails + 1)); }
done
kabard=$(dirname "$kabar")/kabard
for o in $("$kabard" --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p'); do
    grep -q -- "\*$o\*" "$src/docs/man/kabard.8.scd" ||
        { echo "FAIL: kabard(8) does not describe $o"; fails=$((fails + 1)); }
done
for page in kabard.8 kabar.1 libkabar.3; do
    out=$(scdoc <"$src/docs/man/$page.scd" | MANWIDTH=80 man -l -Tutf8 -Z - 2>&1 >/dev/null)
    [ -z "$out" ] || { echo "FAIL: $page: $out"; fails=$((fails + 1)); }
done
[ "$fails" -eq 0 ] || exit 1
echo "man pages: ok"
