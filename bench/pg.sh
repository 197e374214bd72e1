#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# kabar scale-out benchmark: deliveries/s with 1, 2 and 3 worker processes on
# one PostgreSQL, next to the SQLite figure and wrk's raw rate, in one run.
#
#   1. wrk's raw POST rate to an nginx sink (the loopback limit);
#   2. SQLite: a backlog is published (kabard --role api), then one kabard
#      delivers it: drained deliveries/s;
#   3. PostgreSQL (a throwaway cluster, fsync on): for N = 1, 2, 3, a fresh
#      database, a backlog published through one --role api process, then N
#      --role worker processes started at once: drained deliveries/s, and
#      what the database did for it: statements per 1,000 deliveries
#      (pg_stat_statements, every statement of every connection to that
#      database during the drain, the workers' polls and listens included;
#      apart, those run inside them, such as each attempt's foreign-key check)
#      and database CPU time per 1,000 deliveries (user + system time of
#      the server's processes, from /proc, over the drain).
#
# Draining a backlog measures delivery alone (claim, sign, POST, record),
# not the publish rate; that is printed too (published_rps).
# Usage: bench/pg.sh [BUILD_DIR]   (BENCH_SECONDS=10: how long wrk publishes)
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
chmod 755 "$work"       # as root, the server runs as postgres and must reach $work/pg
pids=""
cleanup() {
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -d "$work/pg" ] && tests/pg/pg.sh stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1==m {print $2}'; }
now_ms() { date +%s%3N; }
KEY=kbr_benchmark_key_0123456789abcdef
MASTER=$(head -c 32 /dev/urandom | base64)

# kabard NAME PORT ROLE DATABASE: start one in the background, wait for it.
kabard() {
    KABAR_API_KEY=$KEY KABAR_MASTER_KEY=$MASTER "$BIN/kabard" --listen "127.0.0.1:$2" \
        --data-dir "$work/$1" --role "$3" --database "$4" --allow-private-targets \
        --log-level warn 2>"$work/$1.log" &
    last_pid=$!
    pids="$pids $last_pid"
    for i in $(seq 100); do curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return 0; sleep 0.05; done
    echo "bench: kabard $1 did not start"; cat "$work/$1.log"; exit 1
}

stop_pid() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# publish PORT: create the webhook, publish for DUR seconds; sets BACKLOG.
publish() {
    curl -sf -XPOST "http://127.0.0.1:$1/v1/webhooks" -H "x-goog-api-key: $KEY" \
        -d "{\"uri\":\"http://127.0.0.1:$SINK/hook\",\"subscribed_events\":[\"batch.succeeded\"]}" >/dev/null
    PUB=$(KABAR_API_KEY=$KEY wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/publish.lua \
          "http://127.0.0.1:$1/v1/events" | awk '/Requests\/sec/ {print $2}')
    BACKLOG=$(metric "$1" kabar_deliveries_created_total)
}

# drain PORT...: wait until the workers on these ports have delivered
# BACKLOG; prints the rate since T0.
drain() {
    while :; do
        done_n=0
        for p in "$@"; do
            got=$(metric "$p" 'kabar_delivery_attempts_total{outcome="succeeded"}')
            done_n=$((done_n + ${got:-0}))
        done
        [ "$done_n" -ge "$BACKLOG" ] && break
        sleep 0.02
    done
    t1=$(now_ms)
    RATE=$(awk -v n="$BACKLOG" -v ms="$((t1 - T0))" 'BEGIN {printf "%.0f", n * 1000 / ms}')
    SHARE=""
    for p in "$@"; do SHARE="$SHARE $(metric "$p" 'kabar_delivery_attempts_total{outcome="succeeded"}')"; done
}

SINK=$(free_port)
sed -e "s|@DIR@|$work|g" -e "s|@PORT@|$SINK|g" bench/sink.conf.in > "$work/sink.conf"
"$NGINX" -c "$work/sink.conf" -p "$work" -e "$work/error.log" & pids="$pids $!"
sleep 0.5

echo "== machine: $(nproc) cores; kabard, PostgreSQL, nginx and wrk share them"
echo "== 1. loopback limit: wrk -c$CONNS -d${DUR}s POST -> nginx sink"
RAW=$(wrk -t2 -c"$CONNS" -d"${DUR}s" -s bench/post.lua "http://127.0.0.1:$SINK/" | awk '/Requests\/sec/ {print $2}')
echo "raw_rps=$RAW"

echo "== 2. SQLite: publish a backlog for ${DUR}s (--role api), then one kabard drains it"
P=$(free_port)
kabard sqlite-api "$P" api "sqlite:$work/sqlite.db"
publish "$P"
stop_pid "$last_pid"
W=$(free_port)
T0=$(now_ms)
kabard sqlite-worker "$W" all "sqlite:$work/sqlite.db"
drain "$W"
stop_pid "$last_pid"
echo "published_rps=$PUB backlog=$BACKLOG sqlite_deliveries_per_s=$RATE"
SQLITE_RATE=$RATE

echo "== 3. PostgreSQL: one --role api process publishes a backlog for ${DUR}s, then N --role worker processes drain it"
URL=$(PG_OPTS="${PG_OPTS:-} -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \
      tests/pg/pg.sh start "$work/pg")
# CPU ticks (user + system) of the server: the postmaster, its children and
# the children it has reaped.
pg_ticks() {
    pm=$(head -1 "$work/pg/data/postmaster.pid")
    for p in $pm $(ps -o pid= --ppid "$pm"); do
        [ -r "/proc/$p/stat" ] && sed 's/^.*) //' "/proc/$p/stat" || true
    done | awk '{t += $12 + $13 + $14 + $15} END {print t}'
}
HZ=$(getconf CLK_TCK)
for n in 1 2 3; do
    db="kabar_bench_$n"
    psql "$URL" -qAtc "CREATE DATABASE $db" >/dev/null
    DBURL=$(echo "$URL" | sed "s|/kabar_test\$|/$db|")
    P=$(free_port)
    kabard "pg-api-$n" "$P" api "$DBURL"
    api_pid=$last_pid
    publish "$P"
    stop_pid "$api_pid"
    # Statistics as autovacuum has them a few seconds into a real backlog
    # (its naptime would otherwise fall inside this short run).
    psql "$DBURL" -qAtc "ANALYZE" >/dev/null
    psql "$DBURL" -qAtc "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    psql "$DBURL" -qAtc "SELECT pg_stat_statements_reset()" >/dev/null
    TICKS0=$(pg_ticks)
    ports=""
    wpids=""
    T0=$(now_ms)
    for i in $(seq "$n"); do
        W=$(free_port)
        kabard "pg-worker-$n-$i" "$W" worker "$DBURL"
        ports="$ports $W"
        wpids="$wpids $last_pid"
    done
    # shellcheck disable=SC2086
    drain $ports
    TICKS1=$(pg_ticks)
    set -- $(psql "$DBURL" -qAtF ' ' -c "SELECT sum(calls) FILTER (WHERE toplevel),
            sum(calls) FILTER (WHERE NOT toplevel) FROM pg_stat_statements s
            JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()")
    STMTS=$1 NESTED=${2:-0}
    echo "workers=$n published_rps=$PUB backlog=$BACKLOG pg_deliveries_per_s=$RATE per_worker:$SHARE"
    awk -v s="$STMTS" -v x="$NESTED" -v t="$((TICKS1 - TICKS0))" -v hz="$HZ" -v n="$BACKLOG" -v w="$n" 'BEGIN {
        printf "workers=%d statements_per_1000=%.0f nested_per_1000=%.0f db_cpu_ms_per_1000=%.1f" \
               " (pg_stat_statements: statements sent, and those run inside them such as\n" \
               "  foreign-key checks; CPU: /proc ticks of the server)\n",
               w, s * 1000 / n, x * 1000 / n, t * 1000 / hz * 1000 / n }'
    if [ "$n" = 1 ]; then
        echo "top statements (calls per 1,000 deliveries):"
        psql "$DBURL" -qAtF ' ' -c "SELECT round(calls * 1000.0 / $BACKLOG, 1),
              left(regexp_replace(query, '\s+', ' ', 'g'), 90) FROM pg_stat_statements s
              JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = current_database()
              ORDER BY calls DESC LIMIT 10" | sed 's/^/  /'
    fi
    eval "PG_RATE_$n=$RATE"
    for p in $wpids; do stop_pid "$p"; done
done

echo "== summary"
echo "raw_rps=$RAW sqlite=$SQLITE_RATE pg_1=$PG_RATE_1 pg_2=$PG_RATE_2 pg_3=$PG_RATE_3"
awk -v a="$PG_RATE_1" -v b="$PG_RATE_2" -v c="$PG_RATE_3" -v s="$SQLITE_RATE" -v r="$RAW" \
    'BEGIN {printf "scaling: 2 workers %.2fx, 3 workers %.2fx of 1; pg_1/sqlite %.2f; best/raw %.3f\n", b / a, c / a, a / s, (c > b ? c : b) / r}'
