#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kabar delivery benchmark. Prints, from one run on this machine:
#   1. wrk's raw POST rate to an nginx sink (the loopback limit),
#   2. kabard's end-to-end rate (publish -> signed POST to the same sink ->
#      2xx recorded) and its ratio to (1),
#   3. publish -> receive latency p50/p99 at a steady 1000 events/s,
#   4. dynamic (RS256 JWT) deliveries/s next to `openssl speed rsa2048`
#      signs/s on all cores, the signing limit,
#   5. the delivery engine alone: a backlog published by an api-only kabard,
#      then drained by a worker-only kabard (static and dynamic), so the
#      rates are not shared with the API and wrk; each rate also as a ratio
#      to (1).
# Usage: bench/run.sh [BUILD_DIR]     (BENCH_SECONDS=10 by default;
#        BENCH_STATIC_ONLY=1 leaves out the dynamic (RS256) parts)
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}
# Every delivery of the benchmark goes to one endpoint (the sink), so the
# per-endpoint cap (64 by default, there to protect real endpoints) would be
# the limit measured; the benchmark lifts it to the overall cap.
export KABAR_MAX_PER_ENDPOINT=${KABAR_MAX_PER_ENDPOINT:-512}

for tool in nginx wrk curl node; do
    command -v $tool >/dev/null 2>&1 || { [ "$tool" = nginx ] && [ -x /usr/sbin/nginx ]; } || {
        echo "bench: installing nginx-light wrk curl"; apt-get install -y -qq nginx-light wrk curl >/dev/null; break; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

work=$(mktemp -d)
pids=""
cleanup() { for p in $pids; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
metric() { curl -s "http://127.0.0.1:$KPORT/metrics" | awk -v m="$1" '$1==m {print $2}'; }
now_ms() { date +%s%3N; }

SINK=$(free_port)
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$SINK|g" bench/sink.conf.in > "$work/sink.conf"
"$NGINX" -c "$work/sink.conf" -p "$work" -e "$work/error.log" & pids="$pids $!"
sleep 0.5

echo "== 1. loopback limit: wrk -c$CONNS -d${DUR}s POST -> nginx sink"
RAW=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/post.lua "http://127.0.0.1:$SINK/" | awk '/Requests\/sec/ {print $2}')
echo "raw_rps=$RAW"

KPORT=$(free_port)
KEY=kbr_benchmark_key_0123456789abcdef
KABAR_API_KEY=$KEY "$BIN/kabard" --listen "127.0.0.1:$KPORT" --data-dir "$work/data" \
    --allow-private-targets --log-level warn 2>"$work/kabard.log" & pids="$pids $!"
for i in $(seq 50); do curl -sf "http://127.0.0.1:$KPORT/healthz" >/dev/null && break; sleep 0.1; done
curl -sf -XPOST "http://127.0.0.1:$KPORT/v1/webhooks" -H "x-goog-api-key: $KEY" \
    -d "{\"uri\":\"http://127.0.0.1:$SINK/hook\",\"subscribed_events\":[\"batch.succeeded\"]}" >/dev/null

echo "== 2. end to end: wrk -c$CONNS -d${DUR}s POST /v1/events, one webhook -> nginx sink"
t0=$(now_ms)
PUB=$(KABAR_API_KEY=$KEY wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/publish.lua \
      "http://127.0.0.1:$KPORT/v1/events" | awk '/Requests\/sec/ {print $2}')
created=$(metric kabar_deliveries_created_total)
while :; do
    done_n=$(metric 'kabar_delivery_attempts_total{outcome="succeeded"}')
    [ "$done_n" -ge "$created" ] && break
    sleep 0.05
done
t1=$(now_ms)
failed=$(metric 'kabar_delivery_attempts_total{outcome="retry"}')
E2E=$(awk -v n="$created" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
echo "published_rps=$PUB deliveries=$created failed_attempts=$failed elapsed_ms=$((t1 - t0))"
echo "e2e_deliveries_per_s=$E2E"
awk -v e="$E2E" -v r="$RAW" 'BEGIN {printf "ratio_to_loopback_limit=%.3f\n", e / r}'

echo "== 2b. end to end with fan-out: the same, each event to 10 webhooks"
for i in $(seq 9); do
    curl -sf -XPOST "http://127.0.0.1:$KPORT/v1/webhooks" -H "x-goog-api-key: $KEY" \
        -d "{\"uri\":\"http://127.0.0.1:$SINK/hook$i\",\"subscribed_events\":[\"batch.succeeded\"]}" >/dev/null
done
before=$(metric 'kabar_delivery_attempts_total{outcome="succeeded"}')
created0=$(metric kabar_deliveries_created_total)
t0=$(now_ms)
PUB=$(KABAR_API_KEY=$KEY wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/publish.lua \
      "http://127.0.0.1:$KPORT/v1/events" | awk '/Requests\/sec/ {print $2}')
created=$(( $(metric kabar_deliveries_created_total) - created0 ))
while :; do
    done_n=$(( $(metric 'kabar_delivery_attempts_total{outcome="succeeded"}') - before ))
    [ "$done_n" -ge "$created" ] && break
    sleep 0.05
done
t1=$(now_ms)
FAN=$(awk -v n="$created" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
echo "published_rps=$PUB deliveries=$created elapsed_ms=$((t1 - t0))"
echo "fanout10_deliveries_per_s=$FAN"
awk -v e="$FAN" -v r="$RAW" 'BEGIN {printf "ratio_to_loopback_limit=%.3f\n", e / r}'
# Back to one webhook for what follows.
for id in $(curl -sf "http://127.0.0.1:$KPORT/v1/webhooks?page_size=100" -H "x-goog-api-key: $KEY" |
            grep -o '"id":"wh_[0-9a-z]*"' | cut -d'"' -f4 | tail -n +2); do
    curl -sf -XDELETE "http://127.0.0.1:$KPORT/v1/webhooks/$id" -H "x-goog-api-key: $KEY" >/dev/null
done

echo "== 3. latency at a steady 1000 events/s for ${DUR}s"
node bench/latency.mjs --kabard "http://127.0.0.1:$KPORT" --key "$KEY" --rate 1000 --seconds "$DUR"

STATIC_ONLY=${BENCH_STATIC_ONLY:-0}
if [ "$STATIC_ONLY" != 1 ]; then
echo "== 4. dynamic webhooks: RS256 signing limit vs deliveries/s"
NCPU=$(nproc)
SIGN=$(openssl speed -seconds 3 -multi "$NCPU" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print $6}')
echo "openssl_rsa2048_sign_per_s=$SIGN (openssl speed -multi $NCPU)"
before=$(metric 'kabar_delivery_attempts_total{outcome="succeeded"}')
created0=$(metric kabar_deliveries_created_total)
t0=$(now_ms)
DPUB=$(SINK_URL="http://127.0.0.1:$SINK/dyn" KABAR_API_KEY=$KEY wrk -t1 -c"$CONNS" -d"${DUR}s" \
       -s bench/publish_dynamic.lua "http://127.0.0.1:$KPORT/v1/events" | awk '/Requests\/sec/ {print $2}')
created=$(( $(metric kabar_deliveries_created_total) - created0 ))
while :; do
    done_n=$(( $(metric 'kabar_delivery_attempts_total{outcome="succeeded"}') - before ))
    [ "$done_n" -ge "$created" ] && break
    sleep 0.05
done
t1=$(now_ms)
DYN=$(awk -v n="$created" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
echo "published_rps=$DPUB deliveries=$created elapsed_ms=$((t1 - t0))"
echo "dynamic_deliveries_per_s=$DYN"
awk -v e="$DYN" -v r="$SIGN" 'BEGIN {printf "ratio_to_signing_limit=%.3f\n", e / r}'
fi

echo "== 5. the delivery engine alone: drain a backlog (api-only publishes, worker-only delivers)"
kill $(pgrep -f "kabard --listen 127.0.0.1:$KPORT") 2>/dev/null || true
sleep 1
drain() {   # $1: lua script, $2: label
    rm -rf "$work/drain"
    KABAR_API_KEY=$KEY "$BIN/kabard" --listen "127.0.0.1:$KPORT" --data-dir "$work/drain" \
        --allow-private-targets --log-level warn --role api 2>>"$work/kabard.log" &
    p=$!
    for i in $(seq 50); do curl -sf "http://127.0.0.1:$KPORT/healthz" >/dev/null && break; sleep 0.1; done
    curl -sf -XPOST "http://127.0.0.1:$KPORT/v1/webhooks" -H "x-goog-api-key: $KEY" \
        -d "{\"uri\":\"http://127.0.0.1:$SINK/hook\",\"subscribed_events\":[\"batch.succeeded\"]}" >/dev/null
    SINK_URL="http://127.0.0.1:$SINK/dyn" KABAR_API_KEY=$KEY wrk -t2 -c"$CONNS" -d"${DUR}s" \
        -s "$1" "http://127.0.0.1:$KPORT/v1/events" >/dev/null
    kill "$p"; wait "$p" 2>/dev/null || true
    KABAR_API_KEY=$KEY "$BIN/kabard" --listen "127.0.0.1:$KPORT" --data-dir "$work/drain" \
        --allow-private-targets --log-level warn --role worker 2>>"$work/kabard.log" &
    p=$!
    t0=$(now_ms)
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$KPORT/healthz" >/dev/null && break; sleep 0.02; done
    total=$(metric kabar_deliveries_pending)
    while [ "$(metric kabar_deliveries_pending)" -gt 0 ]; do sleep 0.05; done
    t1=$(now_ms)
    n=$(metric 'kabar_delivery_attempts_total{outcome="succeeded"}')
    rate=$(awk -v n="$n" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
    echo "$2: drained=$n (backlog $total) elapsed_ms=$((t1 - t0)) rate_per_s=$rate"
    awk -v e="$rate" -v r="$RAW" -v l="$2" 'BEGIN {printf "%s_ratio_to_loopback_limit=%.3f\n", l, e / r}'
    kill "$p"; wait "$p" 2>/dev/null || true
}
drain bench/publish.lua static
[ "$STATIC_ONLY" = 1 ] || drain bench/publish_dynamic.lua dynamic
