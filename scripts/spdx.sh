#!/bin/sh
# scripts/spdx.sh [--check] [SOURCE_DIR]
#
# Every source file of kabar starts with its licence as an SPDX line,
#   SPDX-License-Identifier: Apache-2.0
# in the file's own comment syntax, first (after a #! line, if any). Without
# --check, add the line to each source file that lacks it (running it again
# changes nothing). With --check, change nothing, list the files that lack
# it and exit 1 if there are any (a test of make test does this).
#
# Source files: C (.c .h), JavaScript (.mjs .js), Lua (.lua), shell (.sh,
# .ci/run, the Debian maintainer scripts), CMake (CMakeLists.txt, .cmake)
# and the Makefile, outside node_modules, build trees and fuzz corpora.
set -eu

check=no
if [ "${1:-}" = --check ]; then
    check=yes
    shift
fi
cd "${1:-$(dirname "$0")/..}"

ID="SPDX-License-Identifier: Apache-2.0"

sources() {
    find . \( -type d \( -name node_modules -o -name .git -o -name 'build*' \) \
        -o -path ./fuzz/corpus \) -prune -o \
        -type f \( -name '*.[ch]' -o -name '*.mjs' -o -name '*.js' -o -name '*.lua' \
        -o -name '*.sh' -o -name '*.cmake' -o -name CMakeLists.txt -o -path ./Makefile \
        -o -path ./.ci/run -o -path ./packaging/debian/postinst -o -path ./packaging/debian/prerm \
        -o -path ./packaging/debian/postrm \) -print | sed 's|^\./||' | sort
}

comment_for() {
    case "$1" in
    *.c | *.h) echo "/* $ID */" ;;
    *.mjs | *.js) echo "// $ID" ;;
    *.lua) echo "-- $ID" ;;
    *) echo "# $ID" ;;
    esac
}

# The source files whose first 5 lines lack the SPDX line (one awk pass).
lacking() {
    sources | tr '\n' '\0' | xargs -0 awk '
        FNR == 1 { if (NR > 1 && !found) print prev; found = 0; prev = FILENAME }
        FNR <= 5 && /SPDX-License-Identifier:/ { found = 1 }
        END { if (NR > 0 && !found) print prev }'
}

if [ "$check" = yes ]; then
    missing=$(lacking)
    if [ -n "$missing" ]; then
        echo "$missing" | sed 's/^/no SPDX line: /'
        echo "$(echo "$missing" | wc -l) file(s) lack '$ID'; run scripts/spdx.sh"
        exit 1
    fi
    echo "spdx: every source file carries '$ID'"
    exit 0
fi

for f in $(lacking); do
    line=$(comment_for "$f")
    tmp=$(mktemp)
    awk -v line="$line" 'NR == 1 && /^#!/ { print; print line; next }
                         NR == 1 { print line } { print }' "$f" >"$tmp"
    # cat, not mv: the file keeps its mode (and stays the same inode).
    cat "$tmp" >"$f"
    rm -f "$tmp"
    echo "added: $f"
done
