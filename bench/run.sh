#!/bin/sh
# kabar delivery benchmark. Prints, from one run on this machine:
#   1. wrk's raw POST rate to an nginx sink (the loopback limit),
#   2. kabard's end-to-end rate (publish -> signed POST to the same sink ->
#      2xx recorded) and its ratio to (1),
#   3. publish -> receive latency p50/p99 at a steady 1000 events/s,
#   4. dynamic (RS256 JWT) deliveries/s next to `openssl speed rsa2048`
#      signs/s on all cores, the signing limit.
# Usage: bench/run.sh [BUILD_DIR]     (BENCH_SECONDS=10 by default)
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build}
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-64}

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

echo "== 3. latency at a steady 1000 events/s for ${DUR}s"
node bench/latency.mjs --kabard "http://127.0.0.1:$KPORT" --key "$KEY" --rate 1000 --seconds "$DUR"

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
