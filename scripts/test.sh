#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# scripts/test.sh [PASS...] - what `make test` runs.
#
# Checks the dependencies once, then runs every pass of the list below (or
# only the named ones), each with its output in build/test-logs/PASS.log.
# A pass runs even when an earlier one failed. While they run, one line per
# pass; for a failed pass, the output of what failed (the tests' output, or
# the build's). At the end one table, and the last line
#   make test: N passed, M failed
# where N and M count tests, and M also counts a pass that failed without a
# failing test (a build that broke); a skipped test (ctest's "Skipped", e.g.
# the package test when not root) counts as neither, and its pass says so.
# Exits nonzero when anything failed.
#
# A pass is a make target that runs ctest (or prints ctest's summary line,
# "N% tests passed, F tests failed out of T", as the fuzz target does);
# several summary lines in one pass are added up.
set -u

# name        make target     what it runs
PASSES='
ctest         test-fast       unit and integration tests
pg            test-pg         the suite again on a throwaway PostgreSQL
sanitize      test-sanitize   the suite again under ASan+UBSan
tsan          test-tsan       threaded unit tests under TSan, SQLite and PostgreSQL
fuzz          fuzz            a bounded libFuzzer session per parser
package       test-package    Debian packages: lintian, install, run, remove
'

cd "$(dirname "$0")/.." || exit 2
logs=${KABAR_TEST_LOGS:-build/test-logs}
mkdir -p "$logs" || exit 2
rm -f "$logs"/*.log "$logs"/summary

want=" $* "
total_start=$(date +%s)

fmt_time() {
    printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

# What a failed pass printed, without the lines of things that went well.
show_failure() {
    grep -v -E '^\[ *[0-9]+%\]|^ *Start +[0-9]+:|Test +#[0-9]+: .* Passed|^-- |^Consolidate compiler|^Scanning dependencies' "$1" |
        tail -n 300
    echo "(full log: $1)"
}

if ! ./scripts/deps.sh >"$logs/deps.log" 2>&1 || ! make -s node-deps KABAR_DEPS_CHECKED=1 \
        >>"$logs/deps.log" 2>&1; then
    echo "make test: the dependencies could not be installed:"
    show_failure "$logs/deps.log"
    echo "make test: 0 passed, 1 failed"
    exit 1
fi

echo "$PASSES" | while read -r name target what; do
    [ -n "$name" ] || continue
    case "$want" in
    "  ") ;;
    *" $name "*) ;;
    *) continue ;;
    esac
    log="$logs/$name.log"
    printf '%-10s %s ... ' "$name" "$what"
    start=$(date +%s)
    # stdin: not the list this loop reads.
    make -s "$target" KABAR_DEPS_CHECKED=1 >"$log" 2>&1 </dev/null
    rc=$?
    secs=$(($(date +%s) - start))
    # ctest: "95% tests passed, 2 tests failed out of 40" (one per run).
    counts=$(sed -n -E 's/^[0-9]+% tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2 \1/p' "$log" |
        awk '{ t += $1; f += $2 } END { printf "%d %d", t, f }')
    tests=${counts% *}
    failed=${counts#* }
    if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
        result=FAILED-BUILD   # failed before or outside its tests
    elif [ "$rc" -ne 0 ] || [ "$failed" -ne 0 ]; then
        result=FAILED
    else
        result=ok
    fi
    skipped=$(sed -n -E 's/^[[:space:]]*[0-9]+ - ([^ ]+) \(Skipped\)$/\1/p' "$log" | tr '\n' ' ')
    echo "$result ($(fmt_time "$secs"))"
    [ "$result" = ok ] || show_failure "$log"
    [ -z "$skipped" ] || echo "    skipped: $skipped(see $log)"
    nskipped=$(echo $skipped | wc -w)
    [ "$nskipped" -eq 0 ] || result="$result,$nskipped-skipped"
    echo "$name $tests $((tests - failed - nskipped)) $failed $secs $result" >>"$logs/summary"
done

echo
printf '%-10s %6s %7s %7s %9s  %s\n' pass tests passed failed time result
all_passed=0
all_failed=0
while read -r name tests passed failed secs result; do
    printf '%-10s %6d %7d %7d %9s  %s\n' "$name" "$tests" "$passed" "$failed" \
        "$(fmt_time "$secs")" "$result"
    all_passed=$((all_passed + passed))
    all_failed=$((all_failed + failed))
    case "$result" in FAILED-BUILD*) all_failed=$((all_failed + 1)) ;; esac
done <"$logs/summary"
printf '%-10s %6s %7d %7d %9s\n' total "" "$all_passed" "$all_failed" \
    "$(fmt_time $(($(date +%s) - total_start)))"
echo "make test: $all_passed passed, $all_failed failed"
[ "$all_failed" -eq 0 ] && grep -q . "$logs/summary"
