#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kabar under a backlog: one webhook whose endpoint accepts connections and
# never answers (a customer's endpoint that hangs), SQLite, one kabard.
# Prints, from one run on this machine:
#   1. wrk's raw POST rate to an nginx sink (the loopback limit),
#   2. the publish rate with an empty queue (project A, whose only webhook
#      is the hung endpoint), and its ratio to (1),
#   3. the backlog grown to BACKLOG_TARGET deliveries (default 200000) behind
#      the hung endpoint, by an api-only kabard on the same data directory
#      (so that growing it takes seconds, whatever the engine does), then
#      the full kabard again: the publish rate in BACKLOG_WINDOWS windows of
#      BENCH_SECONDS each as the backlog keeps growing, each as a ratio to
#      (2), then a healthy webhook of another project (B): its publish ->
#      receive latency at 200 events/s (bench/latency.mjs) with that
#      backlog still queued,
#   4. with BACKLOG_1M=1: the same at 1,000,000 queued, kabard's RSS, and
#      the drain rate once the hung webhook is pointed at the nginx sink,
#      next to the drain rate of a small backlog (50,000) in the same way.
# Usage: bench/backlog.sh [BUILD_DIR]
# The machine's other load counts: run it on an idle machine, or read the
# ratios, which come from the same run.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
TARGET=${BACKLOG_TARGET:-200000}
WINDOWS=${BACKLOG_WINDOWS:-3}

for tool in nginx wrk curl node; do
    command -v $tool >/dev/null 2>&1 || { [ "$tool" = nginx ] && [ -x /usr/sbin/nginx ]; } || {
        echo "bench: installing nginx-light wrk curl"; apt-get install -y -qq nginx-light wrk curl >/dev/null; break; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
pids=""
kpid=""
cleanup() {
    [ -n "$kpid" ] && kill "$kpid" 2>/dev/null
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
metric() { curl -s --max-time 30 "http://127.0.0.1:$KPORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
now_ms() { date +%s%3N; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", (b > 0 ? a / b : 0)}'; }

SINK=$(free_port)
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$SINK|g" bench/sink.conf.in > "$work/sink.conf"
"$NGINX" -c "$work/sink.conf" -p "$work" -e "$work/error.log" & pids="$pids $!"
# The hung endpoint: accepts every connection, reads, never answers.
HUNG=$(free_port)
node -e "require('net').createServer((s) => { s.on('data', () => {}); s.on('error', () => {}); })
         .listen($HUNG, '127.0.0.1')" & pids="$pids $!"
sleep 0.5

KPORT=$(free_port)
KEYA=kbr_backlog_project_a_0123456789abcdef
KEYB=kbr_backlog_project_b_0123456789abcdef
export KABAR_API_KEYS="a:$KEYA,b:$KEYB"

start_kabard() {    # $1: role
    KABAR_API_KEYS="a:$KEYA,b:$KEYB" "$BIN/kabard" --listen "127.0.0.1:$KPORT" \
        --data-dir "$work/data" --allow-private-targets --log-level error --role "$1" \
        2>>"$work/kabard.log" &
    kpid=$!
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$KPORT/healthz" >/dev/null && return; sleep 0.1; done
    echo "kabard did not start"; cat "$work/kabard.log"; exit 1
}
stop_kabard() { kill "$kpid"; wait "$kpid" 2>/dev/null || true; kpid=""; }
publish() {         # $1: seconds; prints wrk's requests/s and p99
    KABAR_API_KEY=$KEYA wrk -t2 -c"$CONNS" -d"$1s" --latency -s bench/publish.lua \
        "http://127.0.0.1:$KPORT/v1/events" |
        awk '/Requests\/sec/ {r = $2} $1 == "99%" {p = $2} END {printf "%s %s\n", r, p}'
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$kpid/status"; }
pending() { metric kabar_deliveries_pending; }
grow() {            # $1: deliveries to have queued, published by an api-only kabard
    start_kabard api
    while [ "$(pending)" -lt "$1" ]; do publish 5 >/dev/null; done
    echo "backlog: $(pending) pending"
    stop_kabard
}
# The rate at which the engine alone drains the queue to the sink: a worker-
# only kabard, the hung webhook pointed at nginx.
drain() {
    start_kabard all
    curl -sf -XPATCH "http://127.0.0.1:$KPORT/v1/webhooks/$HOOK?update_mask=uri" \
        -H "x-goog-api-key: $KEYA" -d "{\"uri\":\"http://127.0.0.1:$SINK/hook\"}" >/dev/null
    stop_kabard
    start_kabard worker
    total=$(pending); t0=$(now_ms)
    while [ "$(pending)" -gt 0 ]; do sleep 0.2; done
    t1=$(now_ms)
    DRAIN=$(awk -v n="$total" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
    echo "drained=$total elapsed_ms=$((t1 - t0)) drain_per_s=$DRAIN rss_kib=$(rss_kib)"
    stop_kabard
}
hung_webhook() {
    HOOK=$(curl -sf -XPOST "http://127.0.0.1:$KPORT/v1/webhooks" -H "x-goog-api-key: $KEYA" \
        -d "{\"uri\":\"http://127.0.0.1:$HUNG/hook\",\"subscribed_events\":[\"batch.succeeded\"]}" |
        grep -o '"id":"wh_[0-9a-z]*"' | cut -d'"' -f4)
}

echo "== 1. loopback limit: wrk -c$CONNS -d${DUR}s POST -> nginx sink"
RAW=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/post.lua "http://127.0.0.1:$SINK/" | awk '/Requests\/sec/ {print $2}')
echo "raw_rps=$RAW"

echo "== 2. empty queue: wrk -c$CONNS -d${DUR}s POST /v1/events, one webhook that hangs"
start_kabard all
hung_webhook
set -- $(publish "$DUR")
EMPTY=$1
echo "publish_rps=$1 wrk_p99=$2 pending=$(pending) ratio_to_loopback_limit=$(ratio "$1" "$RAW")"
stop_kabard

windows() {         # $1: label
    label=$1
    start_kabard all
    i=1
    while [ "$i" -le "$WINDOWS" ]; do
        p0=$(pending)
        set -- $(publish "$DUR")
        echo "$label window $i: pending_before=$p0 publish_rps=$1 wrk_p99=$2 ratio_to_empty=$(ratio "$1" "$EMPTY") rss_kib=$(rss_kib)"
        i=$((i + 1))
    done
    # wrk publishes as fast as kabard answers, so while it runs every
    # request queues behind its 64 connections; the healthy webhook is
    # measured after, the backlog and the hung endpoint's full cap still
    # there.
    echo "$label healthy webhook of project B, 200 events/s, pending=$(pending):" \
        "$(node bench/latency.mjs --kabard "http://127.0.0.1:$KPORT" --key "$KEYB" --rate 200 \
           --seconds "$DUR")"
    stop_kabard
}

echo "== 3. backlog of $TARGET behind the hung endpoint"
grow "$TARGET"
windows "backlog_$TARGET"

if [ "${BACKLOG_1M:-0}" = 1 ]; then
    echo "== 4. backlog of 1000000"
    grow 1000000
    windows backlog_1M
    echo "-- drain of the 1M backlog to the nginx sink"
    drain
    BIG=$DRAIN
    echo "-- drain of a 50000 backlog the same way"
    rm -rf "$work/data"
    start_kabard all; hung_webhook; stop_kabard
    grow 50000
    drain
    echo "drain_ratio_1M_to_50k=$(ratio "$BIG" "$DRAIN")"
fi
