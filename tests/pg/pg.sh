#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# A throwaway PostgreSQL cluster for the tests and benchmarks: initdb and
# pg_ctl in a directory of its own, on a free loopback port, trust
# authentication, superuser "postgres", database "kabar_test".
#
#   tests/pg/pg.sh start DIR        create and start; prints the URL (also in DIR/url)
#   tests/pg/pg.sh stop DIR         stop and delete DIR
#   tests/pg/pg.sh down DIR         stop the server, keep the cluster (tests: "database away")
#   tests/pg/pg.sh up DIR           start it again on the same port
#   tests/pg/pg.sh restart DIR      pg_ctl restart -m fast
#   tests/pg/pg.sh run CMD [ARG..]  start a cluster in a temp dir, run CMD with
#                                   KABAR_TEST_DATABASE_URL and KABAR_TEST_PG_DIR set,
#                                   stop it (also on failure); exits with CMD's status
#
# The server refuses to run as root, so as root it runs as the "postgres"
# user (created when missing) and DIR is handed to that user. Extra server
# settings: PG_OPTS (e.g. "-c fsync=off" for tests; default fsync on).
set -eu

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}

need_server() {
    if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
        echo "pg.sh: installing postgresql" >&2
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO=sudo
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
            postgresql postgresql-client >/dev/null
        PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    fi
}

# Run a server binary as the cluster's owner.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    node -e 's=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

pg_start_server() {
    dir=$1
    port=$(cat "$dir/port")
    # -w: wait until it accepts connections.
    as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=600 ${PG_OPTS:-}" \
        start >/dev/null
}

cmd_start() {
    dir=$1
    need_server
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
        chown postgres "$dir"
        # The owner must reach DIR through its parents (mktemp dirs are 0700).
        chmod 0755 "$dir"
    fi
    as_owner "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    free_port >"$dir/port.tmp" && mv "$dir/port.tmp" "$dir/port"
    [ "$(id -u)" -eq 0 ] && chown postgres "$dir/port"
    pg_start_server "$dir" || { cat "$dir/log" >&2; exit 1; }
    port=$(cat "$dir/port")
    as_owner "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAtc \
        "CREATE DATABASE kabar_test" >/dev/null
    echo "postgres://postgres@127.0.0.1:$port/kabar_test" >"$dir/url"
    cat "$dir/url"
}

cmd_stop() {
    dir=$1
    [ -d "$dir/data" ] && as_owner "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop \
        >/dev/null 2>&1 || true
    rm -rf "$dir"
}

case "${1:-}" in
start) cmd_start "$2" ;;
stop) cmd_stop "$2" ;;
down) as_owner "$PG_BIN/pg_ctl" -D "$2/data" -m fast -w stop >/dev/null ;;
up) pg_start_server "$2" ;;
restart)
    port=$(cat "$2/port")
    as_owner "$PG_BIN/pg_ctl" -D "$2/data" -l "$2/log" -m fast -w -t 60 \
        -o "-p $port -k $2 -c listen_addresses=127.0.0.1 -c max_connections=600 ${PG_OPTS:-}" \
        restart >/dev/null
    ;;
run)
    shift
    dir=$(mktemp -d "${TMPDIR:-/tmp}/kabar-pg.XXXXXX")
    trap 'cmd_stop "$dir"' EXIT
    trap 'exit 130' INT TERM
    url=$(cmd_start "$dir")
    echo "pg.sh: PostgreSQL at $url" >&2
    set +e
    KABAR_TEST_DATABASE_URL=$url KABAR_TEST_PG_DIR=$dir "$@"
    rc=$?
    set -e
    exit $rc
    ;;
*)
    echo "usage: $0 start|stop|down|up|restart DIR, or $0 run CMD [ARG...]" >&2
    exit 2
    ;;
esac
