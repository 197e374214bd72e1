#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# tmp_guard.sh DIR CMD [ARG...]
#
# Run one test with TMPDIR set to DIR, a directory of its own, and fail the
# test when it leaves anything there: a test removes what it creates. DIR is
# emptied before the run and removed after it either way, so a failed run
# leaves nothing behind for the next one either.
set -u

dir=$1
shift
rm -rf "$dir"
# 0755: the PostgreSQL tests hand subdirectories to the postgres user.
mkdir -p -m 0755 "$dir" || exit 1
TMPDIR=$dir
export TMPDIR
"$@"
rc=$?
left=$(ls -A "$dir")
if [ -n "$left" ]; then
    echo "tmp_guard: the test left these in its TMPDIR ($dir):"
    ls -lA "$dir"
    [ "$rc" -eq 0 ] && rc=1
fi
rm -rf "$dir"
exit "$rc"
