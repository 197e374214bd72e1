#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kabar retention benchmark (SQLite). Prints, from one run on this machine:
#   1. wrk's raw POST rate to an nginx sink (the loopback limit);
#   2. a database filled with BENCH_EVENTS (500000) events three days old,
#      each with one succeeded delivery and its attempt (so 2 x BENCH_EVENTS
#      delivery and attempt rows), written straight into the schema kabard
#      made; its file size;
#   3. kabard with retention off (KABAR_RETENTION_DAYS=0) on that database:
#      wrk publishes for BENCH_SECONDS to one webhook on the sink; published
#      and delivered per second;
#   4. kabard with KABAR_RETENTION_DAYS=1 (the old rows all out of the
#      window; the new ones kept) and the default batch and pause: the same
#      publishing while the first pass prunes; published and delivered per
#      second, the rows pruned during the window, the prune rate (rows/s
#      until the last batch), how long the pass took with the incremental
#      vacuum, and the file size after;
#   5. step 3 again, after the pruning: the machine's other load drifts
#      (it is shared), so the rates without pruning are the mean of the
#      runs before and after the one with it.
# The ratios: prune/no-prune for published and delivered, each also against
# the raw rate.
# Usage: bench/retention.sh [BUILD_DIR]   (BENCH_SECONDS=10, BENCH_EVENTS=500000)
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build}
DUR=${BENCH_SECONDS:-10}
EVENTS=${BENCH_EVENTS:-500000}
CONNS=${BENCH_CONNECTIONS:-64}
# Every delivery goes to one endpoint (the sink): lift the per-endpoint cap
# to the overall one, as bench/run.sh does.
export KABAR_MAX_PER_ENDPOINT=${KABAR_MAX_PER_ENDPOINT:-512}

for tool in nginx wrk curl node sqlite3; do
    command -v $tool >/dev/null 2>&1 || { [ "$tool" = nginx ] && [ -x /usr/sbin/nginx ]; } || {
        echo "bench: installing nginx-light wrk curl sqlite3"
        apt-get install -y -qq nginx-light wrk curl sqlite3 >/dev/null; break; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
metric() { curl -s "http://127.0.0.1:$KPORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
now_ms() { date +%s%3N; }
size_mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN {printf "%.1f", b / 1048576}'; }
KEY=kbr_benchmark_key_0123456789abcdef
MASTER=$(head -c 32 /dev/urandom | base64)
DB=$work/kabar.db
SUCCEEDED='kabar_delivery_attempts_total{outcome="succeeded"}'
PRUNED='kabar_pruned_rows_total{table="messages"}'

# start_kabard DAYS: kabard on DB with that retention window, in the
# background; waits until it answers.
start_kabard() {
    KPORT=$(free_port)
    KABAR_API_KEY=$KEY KABAR_MASTER_KEY=$MASTER KABAR_RETENTION_DAYS=$1 "$BIN/kabard" \
        --listen "127.0.0.1:$KPORT" --data-dir "$work/data" --database "sqlite:$DB" \
        --allow-private-targets --log-level warn 2>>"$work/kabard.log" &
    kpid=$!
    pids="$pids $kpid"
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$KPORT/healthz" >/dev/null && return 0; sleep 0.05; done
    echo "bench: kabard did not start"; cat "$work/kabard.log"; exit 1
}
stop_kabard() { kill "$kpid" 2>/dev/null || true; wait "$kpid" 2>/dev/null || true; }

# publish: wrk publishes for DUR seconds; sets PUB (events/s) and DLV
# (deliveries succeeded per second over the same window).
publish() {
    d0=$(metric "$SUCCEEDED")
    t0=$(now_ms)
    PUB=$(KABAR_API_KEY=$KEY wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/publish.lua \
          "http://127.0.0.1:$KPORT/v1/events" | awk '/Requests\/sec/ {print $2}')
    t1=$(now_ms)
    d1=$(metric "$SUCCEEDED")
    DLV=$(awk -v n="$((d1 - d0))" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
}

SINK=$(free_port)
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$SINK|g" bench/sink.conf.in > "$work/sink.conf"
"$NGINX" -c "$work/sink.conf" -p "$work" -e "$work/error.log" & pids="$pids $!"
sleep 0.5

echo "== machine: $(nproc) cores; kabard, nginx and wrk share them"
echo "== 1. loopback limit: wrk -c$CONNS -d${DUR}s POST -> nginx sink"
RAW=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/post.lua "http://127.0.0.1:$SINK/" | awk '/Requests\/sec/ {print $2}')
echo "raw_rps=$RAW"

echo "== 2. fill: $EVENTS events three days old, each with a succeeded delivery and its attempt"
start_kabard 0
curl -sf -XPOST "http://127.0.0.1:$KPORT/v1/webhooks" -H "x-goog-api-key: $KEY" \
    -d "{\"uri\":\"http://127.0.0.1:$SINK/hook\",\"subscribed_events\":[\"batch.succeeded\"]}" >/dev/null
stop_kabard
# Ids as kabard makes them: the creation millisecond in the first ten
# characters (its 48 bits, five a character, in kabar's base32), then a
# sequence number where kabard has random bits - so they sort by creation
# like real ones, which the pruning relies on.
old_ms=$(( $(now_ms) - 3 * 86400000 ))
t0=$(now_ms)
sqlite3 "$DB" <<EOF
PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE gen AS
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $EVENTS - 1),
  t(i, ms) AS (SELECT i, $old_ms + i / 10 FROM n)
  SELECT i, ms * 1000 AS us,
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 45) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 40) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 35) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 30) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 25) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 20) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 15) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 10) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', ((ms >> 5) & 31) + 1, 1) ||
    substr('0123456789abcdefghjkmnpqrstvwxyz', (ms & 31) + 1, 1) ||
    printf('%016d', i) AS body
  FROM t;
INSERT INTO messages (id, project, type, payload, create_time)
  SELECT 'msg_' || body, w.project, 'batch.succeeded',
    CAST(printf('{"specversion":"1.0","id":"msg_%s","source":"//kabar","type":"batch.succeeded","time":"2026-01-01T00:00:00.000Z","datacontenttype":"application/json","data":{"id":"batch_%06d","output_file_uri":"files/batch_%06d.jsonl"}}', body, i, i) AS BLOB),
    us FROM gen, (SELECT project FROM webhooks LIMIT 1) w;
INSERT INTO deliveries (id, message_id, project, webhook_id, target_uri, state, attempts,
                        due_time, create_time, last_attempt_time)
  SELECT 'dlv_' || body, 'msg_' || body, w.project, w.id, w.uri, 1, 1, us, us, us + 2000
  FROM gen, (SELECT id, project, uri FROM webhooks LIMIT 1) w;
INSERT INTO attempts (id, delivery_id, time, latency_us, response_status, response_excerpt)
  SELECT 'att_' || body, 'dlv_' || body, us + 2000, 1500, 200, CAST('ok' AS BLOB) FROM gen;
COMMIT;
EOF
t1=$(now_ms)
SIZE0=$(size_mb "$DB")
echo "filled in $(( (t1 - t0) / 1000 )) s: messages=$EVENTS deliveries=$EVENTS attempts=$EVENTS db_mb=$SIZE0"

echo "== 3. no pruning (KABAR_RETENTION_DAYS=0): wrk -c$CONNS -d${DUR}s POST /v1/events, one webhook -> nginx sink"
start_kabard 0
publish
stop_kabard
BASE_PUB=$PUB
BASE_DLV=$DLV
SIZE1=$(size_mb "$DB")
echo "published_rps=$BASE_PUB delivered_per_s=$BASE_DLV db_mb=$SIZE1"

echo "== 4. pruning (KABAR_RETENTION_DAYS=1, default batch and pause): the same, while the first pass runs"
T0=$(now_ms)
start_kabard 1
publish
PRUNED_IN_WINDOW=$(metric "$PRUNED")
# The rest of the pass: until the last message is pruned, then until the
# pass has given every free page back (nothing else deletes meanwhile).
while [ "$(metric "$PRUNED")" -lt "$EVENTS" ]; do sleep 0.05; done
T_PRUNED=$(now_ms)
FREE=$(sqlite3 "file:$DB?mode=ro" 'PRAGMA freelist_count')
echo "pruned: ${FREE} free pages to give back"
while [ "$(sqlite3 "file:$DB?mode=ro" 'PRAGMA freelist_count')" -gt 0 ]; do sleep 0.2; done
T_DONE=$(now_ms)
PAGES=$(metric kabar_pruned_pages_total)
stop_kabard
SIZE2=$(size_mb "$DB")
ROWS=$((3 * EVENTS))
PRUNE_RATE=$(awk -v n="$ROWS" -v ms="$((T_PRUNED - T0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
echo "published_rps=$PUB delivered_per_s=$DLV pruned_messages_during_window=$PRUNED_IN_WINDOW of $EVENTS"
echo "pruned_rows=$ROWS prune_s=$(( (T_PRUNED - T0) / 1000 )) prune_rows_per_s=$PRUNE_RATE pass_with_vacuum_s=$(( (T_DONE - T0) / 1000 )) pages_freed=$PAGES"
echo "db_mb before=$SIZE1 after=$SIZE2"
PRUNE_PUB=$PUB
PRUNE_DLV=$DLV

echo "== 5. no pruning again, after it (KABAR_RETENTION_DAYS=0): the same publishing"
start_kabard 0
publish
stop_kabard
echo "published_rps=$PUB delivered_per_s=$DLV"
BASE_PUB=$(awk -v a="$BASE_PUB" -v b="$PUB" 'BEGIN {printf "%.0f", (a + b) / 2}')
BASE_DLV=$(awk -v a="$BASE_DLV" -v b="$DLV" 'BEGIN {printf "%.0f", (a + b) / 2}')
PUB=$PRUNE_PUB
DLV=$PRUNE_DLV

echo "== summary"
awk -v p="$PUB" -v bp="$BASE_PUB" -v d="$DLV" -v bd="$BASE_DLV" -v r="$RAW" \
    -v w="$PRUNED_IN_WINDOW" -v e="$EVENTS" \
    'BEGIN {printf "published while pruning %.0f/s, without (mean of 3 and 5) %.0f/s; delivered %.0f/s, without %.0f/s\n", p, bp, d, bd;
            printf "published while pruning / without: %.2f (%.3f vs %.3f of raw); delivered: %.2f (%.3f vs %.3f of raw)\n", p / bp, p / r, bp / r, d / bd, d / r, bd / r;
            if (w >= e) print "note: pruning ended inside the publishing window; raise BENCH_EVENTS"}'
echo "db_mb: filled $SIZE0, before pruning $SIZE1, after $SIZE2; $PRUNE_RATE rows/s pruned"
if grep -q 'level=\(warn\|error\)' "$work/kabard.log"; then
    echo "== kabard's warnings and errors"
    grep 'level=\(warn\|error\)' "$work/kabard.log" | sort | uniq -c | sort -rn | head -20
fi
